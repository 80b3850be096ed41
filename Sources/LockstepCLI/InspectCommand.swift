import ArgumentParser
import Checkpoints
import Foundation
import Lockstep
import NeuralNet

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's layers, shapes, parameters and FLOPs (without training), or what a checkpoint holds (verifying its hashes), or compare two checkpoints.",
        discussion: """
            lockstep inspect --model examples/models/small-cnn.yaml   # a model file, preset or spec
            lockstep inspect runs/ckpt                                # the newest checkpoint in a directory
            lockstep inspect runs/ckpt --description > model.yaml     # the checkpoint's model as a model file
            lockstep inspect runs/a/step-000000020 --compare runs/b/step-000000020 --rtol 1e-5
            """
    )

    @Argument(help: "A checkpoint directory, or a checkpoint store directory (its newest checkpoint).")
    var checkpoint: String?
    @Option(help: "Instead of a checkpoint: a model file (.yaml, .yml, .json), preset (seed-cnn, seed-mlp, bn-cnn, sigmoid-net) or spec (mlp:784,128,10:tanh) to summarise.")
    var model: String?
    @Flag(name: .customLong("description"), help: "Print only the model's description, as a model file (YAML).") var printDescription = false
    @Option(help: "Another checkpoint to compare parameters with.") var compare: String?
    @Option(parsing: .unconditional, help: "With --compare: exit with status 1 if any parameter differs by more than this relative amount (|a-b| / max(|b|, 1e-3)).")
    var rtol: Double?
    @Flag(help: "Show even a checkpoint whose tensors hold NaN or infinities (refused by default), counting them.")
    var allowNonfiniteCheckpoint = false

    /// Loads, verifies and validates a checkpoint; non-finite values are refused unless allowed.
    private func load(_ path: String) throws -> LoadedCheckpoint<TrainingConfiguration> {
        do {
            let loaded = try CheckpointStore.load(path: path, as: TrainingConfiguration.self)
            try loaded.validateTraining()
            if !allowNonfiniteCheckpoint {
                try CheckpointStore.verifyFinite(loaded.model, file: loaded.path + "/" + CheckpointFormat.modelFile)
                try CheckpointStore.verifyFinite(loaded.optimizer, file: loaded.path + "/" + CheckpointFormat.optimizerFile)
            }
            return loaded
        } catch { throw inputError(error) }
    }

    func validate() throws {
        guard (checkpoint == nil) != (model == nil) else {
            throw ValidationError("give either a checkpoint directory or --model (a model file, preset or spec), not \(checkpoint == nil ? "neither" : "both")")
        }
        if model != nil && compare != nil { throw ValidationError("--compare compares two checkpoints; it does not go with --model") }
    }

    func run() throws {
        if let model {
            let described: ModelDescription
            let built: Sequential
            do {
                described = try ModelZoo.description(model)
                built = try described.makeModel(seed: 0)
            } catch { throw inputError(error) }
            if printDescription { print(described.yaml, terminator: ""); return }
            print("model \(model): input \(described.input)\(described.loss.map { ", loss \($0)" } ?? "")")
            print(built.summary())
            return
        }
        let checkpoint = checkpoint!
        let loaded = try load(checkpoint)
        let s = loaded.state
        let c = s.configuration
        if printDescription {
            do { print(try c.resolvedModelDescription().yaml, terminator: "") } catch { throw inputError(error) }
            return
        }
        print("checkpoint \(loaded.path)  (hashes verified)")
        print("  step \(s.step), epoch \(s.epoch), step in epoch \(s.stepInEpoch), saved by \(s.worldSize) rank\(s.worldSize == 1 ? "" : "s"), lockstep \(s.lockstepVersion), \(s.createdAt)")
        print("  model \(c.model) on \(c.dataset)\(c.data.map { " (\($0))" } ?? ""); batch \(c.batchSize)/rank, \(c.optimizer) lr \(c.learningRate) momentum \(c.momentum) weight decay \(c.weightDecay), schedule \(c.schedule), seed \(c.seed)")
        var total = 0
        print("  model.safetensors:")
        for name in loaded.model.keys.sorted(by: stateDictOrder) {
            let t = loaded.model[name]!
            total += t.values.count
            print("    \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(t.dtype.rawValue)  \(t.shape)")
        }
        print("  \(total) values in \(loaded.model.count) tensors; optimizer.safetensors holds \(loaded.optimizer.count) tensors")
        if allowNonfiniteCheckpoint {
            let nonFinite = (Array(loaded.model.values) + Array(loaded.optimizer.values)).reduce(0) { n, t in n + t.values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
            print("  \(nonFinite) non-finite values")
        }
        do {
            let rebuilt = try c.resolvedModelDescription().makeModel(seed: c.seed)
            print("  the model, rebuilt from \(c.modelDescription == nil ? "the preset or spec it names" : "the description in state.json"):")
            print(rebuilt.summary().split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        } catch {
            print("  the model cannot be rebuilt: \(error.userMessage)")
        }

        guard let compare else { return }
        let other = try load(compare)
        let comparison: TensorComparison
        do { comparison = try TensorComparison(loaded.model, other.model) } catch { throw inputError(error) }
        print(String(format: "compared with %@: largest relative difference %.3g (in %@), largest absolute %.3g", other.path, comparison.largestRelative, comparison.largestRelativeIn ?? "-", comparison.largestAbsolute))
        if let rtol, comparison.largestRelative > rtol {
            print("differs beyond --rtol \(rtol)")
            throw ExitCode(1)
        }
    }
}
