import ArgumentParser
import Datasets
import Foundation
import Lockstep
import MPI
import NeuralNet

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a checkpoint on a test set (one process, or split across ranks under mpirun).",
        discussion: "lockstep evaluate runs/ckpt            # the newest checkpoint in a directory\nlockstep evaluate runs/ckpt/step-000004685 --data /path/to/mnist"
    )

    @Argument(help: "A checkpoint directory, or a checkpoint store directory (its newest checkpoint).")
    var checkpoint: String
    @Option(help: "Test data location (default: the dataset the checkpoint was trained on).") var data: String?
    @Option(parsing: .unconditional, help: "Samples per forward pass.") var batchSize = 500
    @Option(parsing: .unconditional, help: "Evaluate only the first N test samples.") var limit: Int?
    @Option(parsing: .unconditional, help: "BLAS threads per rank.") var threads = 1
    @OptionGroup var logging: LoggingOptions
    @Flag(help: "Evaluate even a checkpoint whose weights hold NaN or infinities (refused by default).")
    var allowNonfiniteCheckpoint = false

    func validate() throws {
        guard (1...TrainingConfiguration.Limits.batchSize).contains(batchSize) else {
            throw ValidationError("--batch-size \(batchSize): batch-size must be >= 1 and <= \(TrainingConfiguration.Limits.batchSize)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit \(limit): limit must be >= 1") }
        guard (1...maximumThreads).contains(threads) else { throw ValidationError("--threads \(threads): threads must be >= 1 and <= \(maximumThreads)") }
    }

    func run() throws {
        setBLASThreads(threads)
        try withMPI(command: "evaluate", logLevel: logging.logLevel) { mpi in
            let world = mpi.world
            let (restored, test) = try Collective.everywhere(world) { () throws -> (CheckpointedModel, Dataset) in
                let restored = try CheckpointedModel.load(checkpoint, allowNonFinite: allowNonfiniteCheckpoint)
                return (restored, try restored.dataset(.test, data: data, limit: limit))
            }
            let loss = try Collective.everywhere(world) { ClassificationLoss(try restored.state.configuration.resolvedLoss()) }
            let result = try Evaluation.run(model: restored.model, on: test, world: world, batchSize: batchSize, loss: loss)
            if world.rank == 0 {
                print("\(restored.path): \(restored.state.configuration.model), step \(restored.state.step), epoch \(restored.state.epoch)")
                print(String(format: "test loss %.4f  accuracy %.4f  (%d samples, %d rank%@)", result.loss, result.accuracy, result.count, world.size, world.size == 1 ? "" : "s"))
            }
        }
    }
}
