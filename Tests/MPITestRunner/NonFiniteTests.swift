import Datasets
import Foundation
import Lockstep
import MPI
import NeuralNet

/// The non-finite guard (`--on-nonfinite`) in every reduction mode, for any world size W
/// that divides 48: one training sample is made NaN so that a known step has non-finite
/// gradients on one rank only. `skip` leaves the parameters and the optimizer state bit-identical
/// to a run stopped just before that step, and counts it; `stop` throws exit 3 on every
/// rank, naming the step, before anything changed.
func runNonFiniteTests(_ t: Checks, mpi: MPIEnvironment) {
    let world = mpi.world
    let w = world.size
    let globalBatch = 48
    guard globalBatch % w == 0 else { return }
    let badStep = 5   // 0-based: steps 0..4 are clean

    func config(_ model: String, steps: Int) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.model = model
        c.dataset = .synthetic
        c.syntheticCount = 960
        c.epochs = 1
        c.batchSize = globalBatch / w
        c.learningRate = 0.05
        c.momentum = 0.9
        c.weightDecay = 1e-4
        c.warmupSteps = 2
        c.maxSteps = steps
        c.bucketMB = 0.02
        return c
    }

    /// The data with NaN features in the samples that the last rank trains on at `steps`
    /// (the first sample of its share), every rank computing the same indices.
    func poisoned(_ c: TrainingConfiguration, steps: [Int]) throws -> TrainingData {
        var data = try TrainingData.load(c)
        let train = data.train
        let sampler = try DistributedSampler(count: train.count, batchPerRank: c.batchSize, worldSize: w, rank: w - 1, seed: c.seed)
        let order = sampler.order(epoch: 0)
        var features = train.features
        for s in steps {
            let k = Int(order[sampler.rankRange(step: s).lowerBound])
            for i in (k * train.sampleSize)..<((k + 1) * train.sampleSize) { features[i] = .nan }
        }
        data.train = try Dataset(name: train.name, sampleShape: train.sampleShape, classCount: train.classCount, features: features, labels: train.labels)
        return data
    }

    struct State: Equatable {
        var parameters: [Float]
        var buffers: [Float]
        var optimizer: [[Float]]
        var optimizerSteps: Int
    }
    func state(_ trainer: Trainer) -> State {
        State(parameters: Array(trainer.model.arena.parameters), buffers: Array(trainer.model.arena.buffers),
              optimizer: trainer.optimizer.stateBuffers.map { Array($0.buffer) }, optimizerSteps: trainer.optimizer.stepCount)
    }

    // mlp:784,10 has no activation: the NaN sample makes the loss NaN. With a ReLU
    // (mlp:784,32,10) the NaN is zeroed on the way forward, the loss stays finite, and only
    // the first layer's gradient is NaN. bn-cnn: the forward pass writes NaN statistics.
    for model in ["mlp:784,10", "mlp:784,32,10", "bn-cnn"] {
        for mode in [AllreduceMode.shared, .overlap, .blocking] {
            t.test("--on-nonfinite skip and stop at \(w) ranks (\(model), --allreduce \(mode))") {
                var options = RunOptions()
                options.allreduceMode = mode
                let data = try poisoned(config(model, steps: badStep + 1), steps: [badStep])

                let before = try Trainer(configuration: config(model, steps: badStep), options: options, world: world, data: data)
                try before.run()
                let reference = state(before)
                t.expect(reference.parameters.allSatisfy { $0.isFinite }, "the steps before the NaN sample are finite")

                var skip = options
                skip.onNonFinite = .skip
                let skipping = try Trainer(configuration: config(model, steps: badStep + 1), options: skip, world: world, data: data)
                let summary = try skipping.run()
                t.expectEqual(summary.skippedSteps, 1, "skipped steps")
                t.expectEqual(skipping.step, badStep + 1, "the skipped step still counts as taken")
                t.expect(state(skipping) == reference, "after the skipped step, parameters, statistics and optimizer state are bit-identical to before it")

                let stopping = try Trainer(configuration: config(model, steps: badStep + 1), options: options, world: world, data: data)
                do {
                    try stopping.run()
                    t.expect(false, "a non-finite step did not stop the run")
                } catch let error as CollectiveError {
                    t.expectEqual(error.exitCode, 3, "exit status")
                    t.expect(error.message.contains("step \(badStep + 1) ") && error.message.contains("learning rate"),
                             "the message names the step and the learning rate: \(error.message)")
                }
                t.expect(Array(stopping.model.arena.parameters) == reference.parameters, "stop leaves the parameters of the last good step")
            }
        }
    }

    t.test("--on-nonfinite skip at \(w) ranks: training goes on after a skip, and stops after --max-skipped-steps in a row") {
        var options = RunOptions()
        options.onNonFinite = .skip
        options.maxSkippedSteps = 2
        let c = config("mlp:784,32,10", steps: 12)
        let once = try Trainer(configuration: c, options: options, world: world, data: try poisoned(c, steps: [3, 7]))
        let summary = try once.run()
        t.expectEqual(summary.skippedSteps, 2, "two separate skips")
        t.expectEqual(once.optimizer.stepCount, 10, "updates applied")
        t.expect(summary.finalTrainLoss?.isFinite == true, "the epoch loss leaves the skipped steps out")
        let twice = try Trainer(configuration: c, options: options, world: world, data: try poisoned(c, steps: [3, 4]))
        do {
            try twice.run()
            t.expect(false, "two skips in a row did not stop the run")
        } catch let error as CollectiveError {
            t.expectEqual(error.exitCode, 3, "exit status")
            t.expect(error.message.contains("2 consecutive steps") && error.message.contains("steps 4 to 5"), "message: \(error.message)")
        }
    }

    if w >= 4 && w % 2 == 0 {
        t.test("--on-nonfinite skip and stop across \(w / 2) simulated nodes of 2 ranks (hierarchical shared)") {
            var options = RunOptions()
            options.allreduceMode = .shared
            options.ranksPerNode = 2   // the NaN is on the last node only: the node verdicts must travel
            let model = "mlp:784,32,10"
            let data = try poisoned(config(model, steps: badStep + 1), steps: [badStep])
            let before = try Trainer(configuration: config(model, steps: badStep), options: options, world: world, data: data)
            try before.run()
            var skip = options
            skip.onNonFinite = .skip
            let skipping = try Trainer(configuration: config(model, steps: badStep + 1), options: skip, world: world, data: data)
            t.expectEqual(try skipping.run().skippedSteps, 1, "skipped steps")
            t.expect(state(skipping) == state(before), "every node's copy is left as before the skipped step")
            let stopping = try Trainer(configuration: config(model, steps: badStep + 1), options: options, world: world, data: data)
            do {
                try stopping.run()
                t.expect(false, "a non-finite step on one node did not stop the run")
            } catch let error as CollectiveError {
                t.expectEqual(error.exitCode, 3, "exit status")
            }
        }
    }

    if w > 1 {
        t.test("ranks with different --on-nonfinite policies refuse to start") {
            var options = RunOptions()
            options.onNonFinite = world.rank == 0 ? .stop : .skip
            let c = config("mlp:784,10", steps: 2)
            do {
                try Trainer(configuration: c, options: options, world: world, data: try TrainingData.load(c)).run()
                t.expect(false, "different policies were not refused")
            } catch let error as CollectiveError {
                t.expect(error.message.contains("different --on-nonfinite policies"), "message: \(error.message)")
            }
        }
    }
}
