import Checkpoints
import Foundation
import Lockstep
import MPI
import NeuralNet

/// Data-parallel correctness, for any world size W that divides 48:
/// W ranks x (48/W) per rank trains exactly like 1 rank x 48; replicas stay bit-identical;
/// an interrupted and resumed run ends bit-identical to a straight one; a checkpoint
/// resumes with a different world size; ranks with different settings refuse to start.
func runTrainingTests(_ t: Checks, mpi: MPIEnvironment) {
    let world = mpi.world
    let local = mpi.selfCommunicator
    let w = world.size
    let globalBatch = 48
    guard globalBatch % w == 0 else {
        if world.rank == 0 { print("training tests need a world size that divides \(globalBatch); skipped for \(w)") }
        return
    }

    func config(_ model: String = "mlp:784,64,32,10", batch: Int, steps: Int? = 20, epochs: Int = 1) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.model = model
        c.dataset = .synthetic
        c.syntheticCount = 960
        c.epochs = epochs
        c.batchSize = batch
        c.learningRate = 0.05
        c.momentum = 0.9
        c.weightDecay = 1e-4
        c.schedule = .cosine(totalSteps: nil, minLR: 0)
        c.warmupSteps = 3
        c.maxSteps = steps
        c.bucketMB = 0.02   // several buckets even for a small model
        return c
    }

    // A shared scratch directory: rank 0 makes it, everyone learns its name.
    let scratch: String
    do {
        var name = world.rank == 0 ? FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-mpi-\(UUID().uuidString)").path : ""
        if world.rank == 0 { try FileManager.default.createDirectory(atPath: name, withIntermediateDirectories: true) }
        name = try Collective.broadcast(string: name, from: 0, world)
        scratch = name
    } catch {
        t.test("scratch directory") { throw error }
        return
    }
    defer { if world.rank == 0 { try? FileManager.default.removeItem(atPath: scratch) } }

    func params(_ trainer: Trainer) -> [Float] { Array(trainer.model.arena.parameters) }

    func compare(_ a: [Float], _ b: [Float], rtol: Float, _ what: String) {
        t.expectEqual(a.count, b.count, "\(what): parameter count")
        var worst: Float = 0
        var worstIndex = 0
        for i in 0..<min(a.count, b.count) {
            let err = abs(a[i] - b[i]) / max(abs(b[i]), 1e-3)
            if err > worst { worst = err; worstIndex = i }
        }
        t.expect(worst <= rtol, "\(what): largest relative difference \(worst) at parameter \(worstIndex) (\(a[worstIndex]) vs \(b[worstIndex])) exceeds \(rtol)")
    }

    for model in ["mlp:784,64,32,10", "seed-cnn"] {
      for mode in [AllreduceMode.shared, .overlap, .blocking] {
        t.test("\(w) ranks x \(globalBatch / w) equals 1 rank x \(globalBatch) after 20 steps (\(model), --allreduce \(mode))") {
            var options = RunOptions()
            options.allreduceMode = mode
            options.checkReplicasEvery = 1   // throws if any step leaves the replicas different
            let c = config(model, batch: globalBatch / w)
            let distributed = try Trainer(configuration: c, options: options, world: world, data: try TrainingData.load(c))
            try distributed.run()
            t.expectEqual(distributed.step, 20, "steps taken")
            let single = config(model, batch: globalBatch)
            let reference = try Trainer(configuration: single, options: RunOptions(), world: local, data: try TrainingData.load(single))
            try reference.run()
            compare(params(distributed), params(reference), rtol: 1e-5, "parameters")
            // And bit-identical across ranks at the end.
            try distributed.verifyReplicas()
            // The model's gradients are its own again after run (the window is freed).
            distributed.model.zeroGradients()
        }
      }
    }

    t.test("AdamW and Nesterov SGD: \(w) ranks sharing one set of parameters equal 1 rank x \(globalBatch)") {
        for optimizer in ["adamw", "nesterov"] {
            func variant(_ batch: Int) -> TrainingConfiguration {
                var c = config(batch: batch)
                if optimizer == "adamw" { c.optimizer = .adamw; c.learningRate = 0.003; c.weightDecay = 0.01 } else { c.nesterov = true }
                return c
            }
            var options = RunOptions()
            options.allreduceMode = .shared
            let distributed = try Trainer(configuration: variant(globalBatch / w), options: options, world: world,
                                          data: try TrainingData.load(variant(globalBatch / w)))
            try distributed.run()
            let reference = try Trainer(configuration: variant(globalBatch), options: RunOptions(), world: local,
                                        data: try TrainingData.load(variant(globalBatch)))
            try reference.run()
            compare(params(distributed), params(reference), rtol: 1e-5, "\(optimizer): parameters")
            for (a, b) in zip(distributed.optimizer.stateBuffers, reference.optimizer.stateBuffers) {
                compare(Array(a.buffer), Array(b.buffer), rtol: 1e-4, "\(optimizer): \(a.name)")
            }
            try distributed.verifyReplicas()   // each rank's own copy, taken back from the shared one
        }
    }

    if w >= 4 && w % 2 == 0 {
        t.test("--allreduce shared across \(w / 2) simulated nodes of 2 ranks (hierarchical) equals 1 rank x \(globalBatch)") {
            for model in ["mlp:784,64,32,10", "seed-cnn"] {
                var options = RunOptions()
                options.allreduceMode = .shared
                options.ranksPerNode = 2
                options.checkReplicasEvery = 1   // each node has its own copy: they must agree bit for bit
                let c = config(model, batch: globalBatch / w)
                let distributed = try Trainer(configuration: c, options: options, world: world, data: try TrainingData.load(c))
                var plan: TrainingPlan?
                distributed.onEvent = { if case .started(let p) = $0 { plan = p } }
                try distributed.run()
                if world.rank == 0 {
                    t.expectEqual(plan?.allreduce, .shared, "\(model): the plan")
                    t.expectEqual(plan?.nodes, w / 2, "\(model): nodes in the plan")
                }
                let single = config(model, batch: globalBatch)
                let reference = try Trainer(configuration: single, options: RunOptions(), world: local, data: try TrainingData.load(single))
                try reference.run()
                compare(params(distributed), params(reference), rtol: 1e-5, "\(model): parameters")
                try distributed.verifyReplicas()
            }
        }
    }

    if w > 1 {
        t.test("--allreduce shared refuses nodes of one rank or of unequal sizes; auto falls back to overlap") {
            let c = config(batch: globalBatch / w, steps: 2)
            let data = try TrainingData.load(c)
            // w = 2 or 4: nodes of 1 rank; w = 3: nodes of 2 and 1 ranks.
            let perNode = w == 3 ? 2 : 1
            var shared = RunOptions()
            shared.allreduceMode = .shared
            shared.ranksPerNode = perNode
            do {
                try Trainer(configuration: c, options: shared, world: world, data: data).run()
                t.expect(false, "--allreduce shared with nodes of \(perNode) was not refused")
            } catch let error as CollectiveError {
                let expected = w == 3 ? "the same number of ranks on every node" : "every node runs one rank"
                t.expect(error.message.contains(expected), "message: \(error.message)")
            }
            var auto = RunOptions()
            auto.ranksPerNode = perNode
            let trainer = try Trainer(configuration: c, options: auto, world: world, data: data)
            var plan: TrainingPlan?
            trainer.onEvent = { if case .started(let p) = $0 { plan = p } }
            try trainer.run()
            if world.rank == 0 { t.expectEqual(plan?.allreduce, .overlap, "auto's choice") }
        }
    }

    t.test("--allreduce auto reduces through shared memory on one node, and ranks must agree on the mode") {
        let c = config(batch: globalBatch / w, steps: 3)
        let data = try TrainingData.load(c)
        var shared = RunOptions()
        shared.allreduceMode = .shared
        let a = try Trainer(configuration: c, options: shared, world: world, data: data)
        try a.run()
        let b = try Trainer(configuration: c, options: RunOptions(), world: world, data: data)   // auto
        try b.run()
        t.expect(params(a) == params(b), "auto on one node is the shared-memory path, bit for bit")
        guard w > 1 else { return }
        var mixed = RunOptions()
        mixed.allreduceMode = world.rank == 0 ? .overlap : .blocking
        do {
            try Trainer(configuration: c, options: mixed, world: world, data: data).run()
            t.expect(false, "ranks with different --allreduce modes were not refused")
        } catch let error as CollectiveError {
            t.expect(error.message.contains("different --allreduce modes"), "message: \(error.message)")
        }
    }

    t.test("accumulating 2 batches of \(globalBatch / w / 2) on \(w) ranks equals 1 rank x \(globalBatch)") {
        guard (globalBatch / w) % 2 == 0 else { return }
        var c = config(batch: globalBatch / w / 2)
        c.accumulate = 2
        let accumulated = try Trainer(configuration: c, options: RunOptions(), world: world, data: try TrainingData.load(c))
        try accumulated.run()
        let single = config(batch: globalBatch)
        let reference = try Trainer(configuration: single, options: RunOptions(), world: local, data: try TrainingData.load(single))
        try reference.run()
        compare(params(accumulated), params(reference), rtol: 1e-5, "parameters with accumulation")
    }

    for mode in [AllreduceMode.shared, .overlap, .blocking] {
        // Three steps: rounding differences in the summation order grow about 2x per step
        // through BatchNorm's normalisation (1e-6 after 3 steps, 2e-5 after 6 at 2 ranks).
        t.test("SyncBatchNorm: bn-cnn on \(w) ranks x \(globalBatch / w) equals 1 rank x \(globalBatch) (--allreduce \(mode))") {
            var options = RunOptions()
            options.allreduceMode = mode
            options.checkReplicasEvery = 1
            var c = config("bn-cnn", batch: globalBatch / w, steps: 3)
            c.syncBatchNorm = true
            let distributed = try Trainer(configuration: c, options: options, world: world, data: try TrainingData.load(c))
            try distributed.run()
            var single = config("bn-cnn", batch: globalBatch, steps: 3)
            single.syncBatchNorm = true   // one rank: nothing to synchronise, plain BatchNorm
            let reference = try Trainer(configuration: single, options: RunOptions(), world: local, data: try TrainingData.load(single))
            try reference.run()
            compare(params(distributed), params(reference), rtol: 1e-5, "parameters")
            compare(Array(distributed.model.arena.buffers), Array(reference.model.arena.buffers), rtol: 1e-5, "running statistics")
            distributed.model.zeroGradients()
        }
    }

    if w > 1 {
        t.test("without SyncBatchNorm, bn-cnn on \(w) ranks differs from 1 rank x \(globalBatch) (the test above can fail)") {
            let c = config("bn-cnn", batch: globalBatch / w, steps: 3)
            let distributed = try Trainer(configuration: c, options: RunOptions(), world: world, data: try TrainingData.load(c))
            try distributed.run()
            let single = config("bn-cnn", batch: globalBatch, steps: 3)
            let reference = try Trainer(configuration: single, options: RunOptions(), world: local, data: try TrainingData.load(single))
            try reference.run()
            let a = params(distributed), b = params(reference)
            let worst = zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-3) }.max() ?? 0
            if world.rank == 0 { print("without SyncBatchNorm: largest relative difference \(worst) after 3 steps") }
            t.expect(worst > 1e-4, "local batch statistics should give different parameters; largest difference \(worst)")
        }
    }

    // Every reduction mode, and on 4+ ranks simulated nodes of 2 (hierarchical shared).
    var clipVariants: [(name: String, mode: AllreduceMode, ranksPerNode: Int?)] =
        [AllreduceMode.shared, .overlap, .blocking].map { ("--allreduce \($0)", $0, nil) }
    if w % 2 == 0 && w >= 4 { clipVariants.append(("\(w / 2) simulated nodes, hierarchical shared", .shared, 2)) }
    for variant in clipVariants {
        t.test("--clip-grad-norm on \(w) ranks x \(globalBatch / w) equals 1 rank x \(globalBatch) (\(variant.name))") {
            var options = RunOptions()
            options.allreduceMode = variant.mode
            options.ranksPerNode = variant.ranksPerNode
            options.checkReplicasEvery = 1
            var c = config(batch: globalBatch / w, steps: 10)
            c.clipGradNorm = 0.05
            let distributed = try Trainer(configuration: c, options: options, world: world, data: try TrainingData.load(c))
            try distributed.run()
            var single = config(batch: globalBatch, steps: 10)
            single.clipGradNorm = 0.05
            let reference = try Trainer(configuration: single, options: RunOptions(), world: local, data: try TrainingData.load(single))
            try reference.run()
            compare(params(distributed), params(reference), rtol: 1e-5, "parameters")
            distributed.model.zeroGradients()
        }
    }

    t.test("--clip-grad-norm is active at 0.05: unclipped training ends elsewhere") {
        var clipped = config(batch: globalBatch, steps: 10)
        clipped.clipGradNorm = 0.05
        let a = try Trainer(configuration: clipped, options: RunOptions(), world: local, data: try TrainingData.load(clipped))
        try a.run()
        let plain = config(batch: globalBatch, steps: 10)
        let b = try Trainer(configuration: plain, options: RunOptions(), world: local, data: try TrainingData.load(plain))
        try b.run()
        let worst = zip(params(a), params(b)).map { abs($0 - $1) / max(abs($1), 1e-3) }.max() ?? 0
        t.expect(worst > 1e-3, "clipping to 0.05 should change the parameters; largest difference \(worst)")
    }

    t.test("BatchNorm replicas stay bit-identical (running statistics averaged)") {
        var options = RunOptions()
        options.checkReplicasEvery = 1
        let c = config("bn-cnn", batch: globalBatch / w, steps: 4)
        let trainer = try Trainer(configuration: c, options: options, world: world, data: try TrainingData.load(c))
        try trainer.run()
        t.expect(trainer.model.arena.buffers.count > 0, "bn-cnn has running statistics")
    }

    t.test("interrupted at an epoch end and resumed: bit-identical to a straight run") {
        let c = config(batch: globalBatch / w, steps: nil, epochs: 3)
        let data = try TrainingData.load(c)
        var straightOptions = RunOptions()
        straightOptions.checkpointDirectory = scratch + "/straight"
        let straight = try Trainer(configuration: c, options: straightOptions, world: world, data: data)
        try straight.run()

        var first = c
        first.maxSteps = straight.stepsPerEpoch   // stop after one epoch
        var options = RunOptions()
        options.checkpointDirectory = scratch + "/interrupted"
        try Trainer(configuration: first, options: options, world: world, data: data).run()
        options.resumeFrom = scratch + "/interrupted"
        let resumed = try Trainer(configuration: c, options: options, world: world, data: data)
        t.expectEqual(resumed.step, straight.stepsPerEpoch, "resumed at the saved step")
        try resumed.run()
        t.expectEqual(resumed.step, straight.step, "same number of steps")
        t.expect(params(resumed) == params(straight), "resumed parameters are bit-identical to the straight run's")
    }

    t.test("resumed mid-epoch: bit-identical to a straight run") {
        let c = config(batch: globalBatch / w, steps: nil, epochs: 2)
        let data = try TrainingData.load(c)
        let straight = try Trainer(configuration: c, options: RunOptions(), world: world, data: data)
        try straight.run()
        var options = RunOptions()
        options.checkpointDirectory = scratch + "/midepoch"
        options.checkpointEverySteps = 7
        var first = c
        first.maxSteps = 7
        try Trainer(configuration: first, options: options, world: world, data: data).run()
        options.resumeFrom = scratch + "/midepoch"
        let resumed = try Trainer(configuration: c, options: options, world: world, data: data)
        t.expectEqual(resumed.stepInEpoch, 7, "resumed inside the first epoch")
        try resumed.run()
        t.expect(params(resumed) == params(straight), "parameters after a mid-epoch resume are bit-identical")
    }

    t.test("a checkpoint from \(w) ranks resumes on 1 rank with the same global batch") {
        guard world.rank == 0 else { return }
        let c = config(batch: globalBatch, steps: nil, epochs: 3)
        var options = RunOptions()
        options.resumeFrom = scratch + "/interrupted"
        options.checkpointDirectory = scratch + "/resized"
        let resumed = try Trainer(configuration: c, options: options, world: local, data: try TrainingData.load(c))
        try resumed.run()
        let straight = try CheckpointStore.load(path: scratch + "/straight", as: TrainingConfiguration.self)
        t.expectEqual(resumed.step, straight.state.step, "same final step")
        var reference = [Float](repeating: 0, count: resumed.model.parameterCount)
        for view in resumed.model.arena.views {
            let values = straight.model[view.name]!.values
            for i in 0..<view.count { reference[view.offset + i] = values[i] }
        }
        compare(params(resumed), reference, rtol: 1e-4, "parameters after resuming on a different world size")
    }

    if w > 1 {
        t.test("ranks started with different settings refuse to start, naming the setting") {
            var c = config(batch: globalBatch / w)
            c.learningRate = world.rank == w - 1 ? 0.5 : 0.05
            do {
                _ = try Trainer(configuration: c, options: RunOptions(), world: world, data: try TrainingData.load(c))
                t.expect(false, "a configuration mismatch was not detected")
            } catch let error as CollectiveError {
                t.expect(error.message.contains("learningRate") && error.message.contains("rank \(w - 1)"), "message names the setting and rank: \(error.message)")
            }
        }
    }

    // examples/models/small-cnn.yaml without what depends on the world size: dropout's masks
    // (drawn per rank) at p = 0, and BatchNorm (statistics over the local batch) removed.
    let exampleFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/models/small-cnn.yaml").path
    t.test("model files: \(w) ranks x \(globalBatch / w) equals 1 rank x \(globalBatch) (small-cnn.yaml with dropout p=0 and no batchnorm; a residual MLP with cross-entropy and with MSE)") {
        var example = try ModelDescription.load(file: exampleFile)
        example.layers = example.layers.compactMap { layer in
            switch layer {
            case .batchNorm2d: return nil
            case .dropout: return .dropout(p: 0)
            default: return layer
            }
        }
        let residual = try ModelDescription(yaml: """
            input: [1, 28, 28]
            layers:
              - flatten
              - linear: {out: 32, init: kaiming-uniform}
              - residual: [{linear: {out: 32}}, tanh, {linear: {out: 32, bias-init: zeros}}]
              - relu
              - linear: {out: 10}
            """)
        for (name, description, loss) in [("small-cnn variant", example, LossKind.crossEntropy), ("residual MLP", residual, .crossEntropy),
                                          ("residual MLP, MSE on one-hot targets", residual, .mse)] {
            func variant(_ batch: Int) -> TrainingConfiguration {
                var c = config(name, batch: batch, steps: 6)
                c.modelDescription = description
                c.loss = loss
                return c
            }
            var options = RunOptions()
            options.checkReplicasEvery = 1
            let distributed = try Trainer(configuration: variant(globalBatch / w), options: options, world: world,
                                          data: try TrainingData.load(variant(globalBatch / w)))
            try distributed.run()
            t.expectEqual(distributed.configuration.modelDescription, description, "\(name): the trainer keeps the description")
            let reference = try Trainer(configuration: variant(globalBatch), options: RunOptions(), world: local,
                                        data: try TrainingData.load(variant(globalBatch)))
            try reference.run()
            compare(params(distributed), params(reference), rtol: 1e-5, "\(name): parameters")
            try distributed.verifyReplicas()
        }
    }

    if w > 1 {
        t.test("ranks whose model files describe different networks refuse to start, naming the model description") {
            var c = config(batch: globalBatch / w, steps: 2)
            c.model = "net.yaml"
            c.modelDescription = try ModelZoo.description(world.rank == w - 1 ? "mlp:784,16,10" : "mlp:784,32,10")
            do {
                _ = try Trainer(configuration: c, options: RunOptions(), world: world, data: try TrainingData.load(c))
                t.expect(false, "different model descriptions were not detected")
            } catch let error as CollectiveError {
                t.expect(error.message.contains("modelDescription") && error.message.contains("rank \(w - 1)"), "message names the setting and rank: \(error.message)")
            }
        }
    }

    t.test("a dataset smaller than one global batch is refused on every rank") {
        var c = config(batch: 64)
        c.trainLimit = 64 * w - 1
        do {
            _ = try Trainer(configuration: c, options: RunOptions(), world: world, data: try TrainingData.load(c))
            t.expect(false, "a too-small dataset was accepted")
        } catch let error as CollectiveError {
            t.expect(error.message.contains("\(64 * w - 1)"), "message names the dataset size: \(error.message)")
        }
    }
}
