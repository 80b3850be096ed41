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

    @OptionGroup var input: CheckpointInputOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        setBLASThreads(input.threads)
        try withMPI(command: "evaluate", logLevel: logging.logLevel) { mpi in
            let world = mpi.world
            let (restored, test) = try Collective.everywhere(world) { () throws -> (CheckpointedModel, Dataset) in
                let restored = try CheckpointedModel.load(input.checkpoint, allowNonFinite: input.allowNonfiniteCheckpoint)
                return (restored, try restored.dataset(.test, data: input.data, limit: input.limit))
            }
            let loss = try Collective.everywhere(world) { ClassificationLoss(try restored.state.configuration.resolvedLoss()) }
            let result = try Evaluation.run(model: restored.model, on: test, world: world, batchSize: input.batchSize, loss: loss)
            if world.rank == 0 {
                print("\(restored.path): \(restored.state.configuration.model), step \(restored.state.step), epoch \(restored.state.epoch)")
                print(String(format: "test loss %.4f  accuracy %.4f  (%d samples, %d rank%@)", result.loss, result.accuracy, result.count, world.size, world.size == 1 ? "" : "s"))
            }
        }
    }
}
