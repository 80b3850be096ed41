import ArgumentParser
import Lockstep

/// What `evaluate` and `predict` both take: a checkpoint, the data to run it on, and how.
struct CheckpointInputOptions: ParsableArguments {
    @Argument(help: "A checkpoint directory, or a checkpoint store directory (its newest checkpoint).")
    var checkpoint: String
    @Option(help: "Data location (default: the dataset the checkpoint was trained on).") var data: String?
    @Option(parsing: .unconditional, help: "Samples per forward pass.") var batchSize = 500
    @Option(parsing: .unconditional, help: "Use only the first N samples.") var limit: Int?
    @Option(parsing: .unconditional, help: "BLAS threads per rank.") var threads = 1
    @Flag(help: "Load a checkpoint even when its weights hold NaN or infinities (refused by default).")
    var allowNonfiniteCheckpoint = false

    func validate() throws {
        guard (1...TrainingConfiguration.Limits.batchSize).contains(batchSize) else {
            throw ValidationError("--batch-size \(batchSize): batch-size must be >= 1 and <= \(TrainingConfiguration.Limits.batchSize)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit \(limit): limit must be >= 1") }
        guard (1...maximumThreads).contains(threads) else { throw ValidationError("--threads \(threads): threads must be >= 1 and <= \(maximumThreads)") }
    }
}
