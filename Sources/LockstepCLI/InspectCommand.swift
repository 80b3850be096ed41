import ArgumentParser
import Checkpoints
import Foundation
import Lockstep

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a checkpoint holds (verifying its hashes), or compare two checkpoints.",
        discussion: "lockstep inspect runs/ckpt\nlockstep inspect runs/a/step-000000020 --compare runs/b/step-000000020 --rtol 1e-5"
    )

    @Argument(help: "A checkpoint directory, or a checkpoint store directory (its newest checkpoint).")
    var checkpoint: String
    @Option(help: "Another checkpoint to compare parameters with.") var compare: String?
    @Option(help: "With --compare: exit with status 1 if any parameter differs by more than this relative amount (|a-b| / max(|b|, 1e-3)).")
    var rtol: Double?

    func run() throws {
        let loaded: LoadedCheckpoint<TrainingConfiguration>
        do { loaded = try CheckpointStore.load(path: checkpoint, as: TrainingConfiguration.self) } catch {
            throw inputError(error)
        }
        let s = loaded.state
        print("checkpoint \(loaded.path)  (hashes verified)")
        print("  step \(s.step), epoch \(s.epoch), step in epoch \(s.stepInEpoch), saved by \(s.worldSize) rank\(s.worldSize == 1 ? "" : "s"), lockstep \(s.lockstepVersion), \(s.createdAt)")
        let c = s.configuration
        print("  model \(c.model) on \(c.dataset)\(c.data.map { " (\($0))" } ?? ""); batch \(c.batchSize)/rank, \(c.optimizer) lr \(c.learningRate) momentum \(c.momentum) weight decay \(c.weightDecay), schedule \(c.schedule), seed \(c.seed)")
        var total = 0
        print("  model.safetensors:")
        for name in loaded.model.keys.sorted(by: stateDictOrder) {
            let t = loaded.model[name]!
            total += t.values.count
            print("    \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(t.dtype.rawValue)  \(t.shape)")
        }
        print("  \(total) values in \(loaded.model.count) tensors; optimizer.safetensors holds \(loaded.optimizer.count) tensors")

        guard let compare else { return }
        let other: LoadedCheckpoint<TrainingConfiguration>
        let comparison: TensorComparison
        do {
            other = try CheckpointStore.load(path: compare, as: TrainingConfiguration.self)
            comparison = try TensorComparison(loaded.model, other.model)
        } catch { throw inputError(error) }
        print(String(format: "compared with %@: largest relative difference %.3g (in %@), largest absolute %.3g", other.path, comparison.largestRelative, comparison.largestRelativeIn ?? "-", comparison.largestAbsolute))
        if let rtol, comparison.largestRelative > rtol {
            print("differs beyond --rtol \(rtol)")
            throw ExitCode(1)
        }
    }
}
