import Checkpoints
import Datasets
import Foundation
import MPI
import NeuralNet

/// What the trainer reports while it runs (on rank 0 only).
public enum TrainingEvent: Sendable {
    /// Set-up is done: the model, data and plan.
    case started(TrainingPlan)
    /// One optimizer step finished.
    case step(StepProgress)
    /// An epoch finished and was evaluated.
    case epoch(EpochMetrics)
    /// A checkpoint was written.
    case checkpoint(path: String, step: Int)
    /// Training ended.
    case finished(TrainingSummary)
}

/// The shape of a run, reported once at the start.
public struct TrainingPlan: Sendable {
    /// The model, one layer per line, as `Sequential.describe()` prints it.
    public var modelDescription: String
    /// Trainable parameters.
    public var parameterCount: Int
    /// Ranks in the job.
    public var worldSize: Int
    /// Training samples.
    public var trainSamples: Int
    /// Test samples (0 without a test set).
    public var testSamples: Int
    /// Samples per optimizer step over all ranks (batch x ranks x accumulate).
    public var globalBatch: Int
    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int
    /// Optimizer steps the run will take.
    public var totalSteps: Int
    /// The step training starts from (non-zero after `--resume`).
    public var startStep: Int
    /// The epoch training starts in (0-based).
    public var startEpoch: Int
    /// Gradient all-reduce buckets.
    public var buckets: Int
    /// The checkpoint the run resumed from.
    public var resumedFrom: String?
    /// How gradients are summed in this run (`auto` resolved: `shared`, `overlap` or
    /// `blocking`; `overlap` for one rank, which sums nothing).
    public var allreduce: AllreduceMode = .overlap
    /// With `shared`: the nodes, each with its own shared copy (more than 1: the slices are
    /// all-reduced across nodes).
    public var nodes = 1
}

/// Progress within an epoch.
public struct StepProgress: Sendable {
    /// The epoch in progress, 1-based.
    public var epoch: Int
    /// Epochs the run trains for (`--epochs`).
    public var epochs: Int
    /// Steps taken in the current epoch.
    public var stepInEpoch: Int
    /// Optimizer steps in a whole epoch, as in the plan.
    public var stepsPerEpoch: Int
    /// Optimizer steps taken in the run so far (a resumed run counts its earlier steps).
    public var step: Int
    /// The step the run stops at, as in the plan.
    public var totalSteps: Int
    /// Mean training loss of the epoch so far (rank 0).
    public var loss: Double
    /// Training samples per second in this epoch so far (rank 0's count times the ranks).
    public var samplesPerSecond: Double
    /// Learning rate of the latest step (after warm-up, schedule and `--scale-lr`).
    public var learningRate: Float
}

/// The data-parallel coordinator: one per rank, each holding a model.
///
/// Every step, each rank runs forward and backward on its own shard of the global batch;
/// the loss gradient is pre-scaled by `1/(worldSize x accumulate)` so the sum is the
/// global mean. Across nodes each rank holds a full replica: gradient buckets are
/// all-reduced (summed) with non-blocking calls that overlap the rest of backward, then
/// every rank applies the same optimizer step with the same learning rate, so replicas
/// stay bit-identical. With `--allreduce shared` (and `auto` on one node) the ranks of a
/// node use one copy of the parameters in shared memory, and each rank sums and updates
/// its slice (``SharedMemoryTraining``). Rank 0 alone reports, writes metrics and writes checkpoints.
///
/// ```swift
/// let data = try TrainingData.load(config)
/// let trainer = try Trainer(configuration: config, options: options, world: mpi.world, data: data)
/// let summary = try trainer.run()
/// ```
public final class Trainer {
    /// What is trained (identical on every rank).
    public let configuration: TrainingConfiguration
    /// Where results go and how progress is shown.
    public let options: RunOptions
    /// The ranks that train together.
    public let world: Communicator
    /// This rank's replica.
    public let model: Sequential
    /// The optimizer (SGD or AdamW) over the flat arena.
    public let optimizer: any Optimizer
    /// The learning-rate schedule, a function of the step.
    public let schedule: LearningRateSchedule
    let data: TrainingData
    let sampler: DistributedSampler
    /// The loss of the outputs against the labels (``TrainingConfiguration/resolvedLoss()``).
    let loss: ClassificationLoss
    /// How gradients are summed while `run` trains (``makeGradientReducer``); nil outside it.
    private var reducer: (any GradientReducer)?
    /// The stall watchdog while `run` trains (`RunOptions.stallTimeout` > 0, several ranks).
    var watchdog: StallWatchdog?
    let input: Tensor
    let labels: UnsafeMutableBufferPointer<Int32>
    let metrics: MetricsLog?
    let store: CheckpointStore?
    /// Optimizer steps per epoch (sampler steps / accumulate).
    public let stepsPerEpoch: Int
    /// Optimizer steps of the whole run (epochs x stepsPerEpoch), which the schedule spans.
    public let totalSteps: Int
    let lrScale: Float
    let gradientScale: Float
    let timeline: Timeline?
    /// The timeline while the current step is within its recorded range.
    private var recordingTimeline: Timeline? { timeline.flatMap { step - timelineFirstStep < $0.maxSteps ? $0 : nil } }
    private var timelineFirstStep = 0

    /// Optimizer steps taken so far.
    public internal(set) var step = 0
    /// The epoch in progress (0-based).
    public internal(set) var epoch = 0
    /// Optimizer steps taken in the current epoch.
    public internal(set) var stepInEpoch = 0
    var resumedFrom: String?
    var lastCheckpointStep = -1
    var lastCheckpointPath: String?
    /// Follows the monitored metric (validation loss by default) when there is a
    /// validation set or early stopping; nil otherwise.
    var monitor: MetricMonitor?
    /// The metric improved after the last epoch: the next checkpoint becomes `DIR/best`.
    var bestPending = false
    /// Why the run ended (see ``TrainingSummary/stopReason``).
    var stopReason = "completed"
    public var onEvent: ((TrainingEvent) -> Void)?

    // Running totals of the epoch in progress.
    private var epochLossSum = 0.0
    private var epochCorrect = 0
    private var epochSeen = 0
    private var epochCompute = 0.0
    private var epochWait = 0.0
    private var epochStart = 0.0
    private var lastLearningRate: Float = 0
    // Steps dropped by `--on-nonfinite skip`: in the epoch in progress, in this run, in a row.
    private var epochSkipped = 0
    private var runSkipped = 0
    private var consecutiveSkips = 0
    /// BatchNorm statistics before the step's forward passes, restored when `skip` drops
    /// the step (empty unless the policy is `skip` and the model has buffers).
    private let bufferSnapshot: UnsafeMutableBufferPointer<Float>

    /// Builds the replica on this rank. Collective: every rank of `world` must call it.
    ///
    /// - Throws: ``CollectiveError`` (the same on every rank) for a configuration that
    ///   differs between ranks, a bad model name, data the model cannot take, a dataset
    ///   smaller than one global batch, or a checkpoint that does not fit.
    public init(configuration: TrainingConfiguration, options: RunOptions, world: Communicator, data: TrainingData) throws {
        try configuration.validate()
        // The model as data (a model file is read here, on every rank), so that the ranks
        // compare the network itself and checkpoints carry it.
        let configuration = try Collective.everywhere(world) { try configuration.resolvingModel() }
        try ConfigurationCheck.verify(configuration, data: data.fingerprint, world: world)
        self.configuration = configuration
        self.options = options
        self.world = world
        self.data = data
        let c = configuration

        let model = try Collective.everywhere(world) { () throws -> Sequential in
            let m = try c.resolvedModelDescription().makeModel(seed: c.seed)
            let perSample = m.inputShape.reduce(1, *)
            guard perSample == data.train.sampleSize else {
                throw CollectiveError("model \(c.model) takes samples of shape \(m.inputShape) (\(perSample) values) but the dataset's samples have shape \(data.train.sampleShape) (\(data.train.sampleSize) values); choose a model that fits the data")
            }
            guard data.train.classCount <= m.outputCount else {
                throw CollectiveError("model \(c.model) has \(m.outputCount) outputs but the dataset has \(data.train.classCount) classes; use a model with at least as many outputs")
            }
            let kind = try c.resolvedLoss()
            guard m.outputShape.count == 1 else {
                throw CollectiveError("model \(c.model) gives outputs of shape \(m.outputShape) per sample, but the \(kind.rawValue) loss takes one score per class, [classes]; end the model with a flatten and a linear layer")
            }
            if kind == .nll, !(m.layers.last is LogSoftmax) {
                throw CollectiveError("the nll loss takes log-probabilities, but model \(c.model) ends with \(m.layers.last!.description) (shape \(m.outputShape)); end the model with log-softmax, or use --loss cross-entropy on its raw outputs")
            }
            return m
        }
        self.model = model
        if c.syncBatchNorm == true && world.size > 1 { Self.synchroniseBatchNorm(in: model, over: world) }
        self.loss = ClassificationLoss(try c.resolvedLoss())
        self.sampler = try Collective.everywhere(world) {
            do {
                return try DistributedSampler(count: data.train.count, batchPerRank: c.batchSize, worldSize: world.size, rank: world.rank, seed: c.seed)
            } catch {
                throw CollectiveError(error)
            }
        }
        let microSteps = sampler.stepsPerEpoch
        guard microSteps / c.accumulate >= 1 else {
            throw CollectiveError("one optimizer step needs \(c.batchSize) x \(world.size) ranks x \(c.accumulate) accumulated = \(c.batchSize * world.size * c.accumulate) samples, but the training set holds \(data.train.count); lower --batch-size, --accumulate or the number of ranks")
        }
        let stepsPerEpoch = microSteps / c.accumulate
        self.stepsPerEpoch = stepsPerEpoch
        self.totalSteps = stepsPerEpoch * c.epochs
        self.lrScale = c.scaleLR ? Float(world.size) : 1
        self.gradientScale = 1 / Float(world.size * c.accumulate)
        self.schedule = try Collective.everywhere(world) {
            do { return try LearningRateSchedule(baseLR: c.learningRate, kind: c.schedule.kind(runSteps: stepsPerEpoch * c.epochs), warmupSteps: c.warmupSteps) }
            catch { throw CollectiveError("--schedule: \(error.userMessage)") }
        }
        self.optimizer = try Collective.everywhere(world) { () throws -> any Optimizer in
            do {
                switch c.optimizer {
                case .adamw: return try AdamW(parameterCount: model.parameterCount, weightDecay: c.weightDecay)
                case .sgd: return try SGD(parameterCount: model.parameterCount, momentum: c.momentum, nesterov: c.nesterov, weightDecay: c.weightDecay)
                }
            } catch { throw CollectiveError(error) }
        }
        let bucketCount = GradientBuckets.ranges(for: model.arena, bucketBytes: Int(c.bucketMB * 1_048_576)).count
        self.timeline = options.timelinePath == nil ? nil : Timeline(maxSteps: options.timelineSteps, bucketCount: bucketCount)
        self.input = Tensor(shape: [c.batchSize] + model.inputShape)
        self.labels = .allocate(capacity: c.batchSize)
        self.labels.initialize(repeating: 0)
        self.bufferSnapshot = .allocate(capacity: options.onNonFinite == .skip ? model.arena.buffers.count : 0)
        self.bufferSnapshot.initialize(repeating: 0)
        self.metrics = try Collective.onRoot(world) { try options.metricsPath.map { try MetricsLog(path: $0) } } ?? nil
        self.store = try Collective.everywhere(world) {
            do { return try options.checkpointDirectory.map { try CheckpointStore(directory: $0, keep: options.keepCheckpoints) } }
            catch { throw CollectiveError("--checkpoint-dir: \(error.userMessage)") }
        }

        if data.validation != nil || c.earlyStopping != nil {
            monitor = MetricMonitor(metric: c.monitoredMetric, minDelta: c.minDelta ?? 0, patience: c.earlyStopping)
        }
        // Rank 0's initial state is everyone's (the seed makes them equal already; the
        // broadcast makes it a guarantee, whatever the ranks' floating-point libraries).
        try world.broadcast(model.arena.parameters, from: 0)
        try world.broadcast(model.arena.buffers, from: 0)
        if let resume = options.resumeFrom {
            try self.resume(from: resume)
        } else if let store {
            // A fresh run never overwrites or prunes another run's checkpoints.
            _ = try Collective.onRoot(world) {
                if let existing = try store.latest() {
                    throw CollectiveError("--checkpoint-dir \(store.directory) already holds checkpoints (newest: \(existing)); pass --resume to continue from them, or choose another --checkpoint-dir")
                }
            }
        }
    }

    deinit {
        labels.deallocate()
        bufferSnapshot.deallocate()
    }

    // MARK: - The loop

    /// Trains to the end (all epochs, or `maxSteps`), evaluating after every epoch and
    /// writing checkpoints as configured. Collective. A ``CollectiveError`` is raised on
    /// every rank alike; after any other error, which may be one rank's alone, the caller
    /// must end the job with `MPI_Abort` (as `lockstep` does), because the other ranks may
    /// be waiting for this one.
    @discardableResult
    public func run() throws -> TrainingSummary {
        try verifyRunOptionsAgree()
        reducer = try makeGradientReducer(
            options.allreduceMode, model: model, optimizer: optimizer, world: world,
            bucketBytes: Int(configuration.bucketMB * 1_048_576), ranksPerNode: options.ranksPerNode, timeline: timeline)
        let summary: TrainingSummary
        do {
            if options.stallTimeout > 0 && world.size > 1 {
                watchdog = try StallWatchdog(world: world, timeout: options.stallTimeout)
            }
            summary = try trainToTheEnd()
        } catch let error as CollectiveError {
            // Raised on every rank alike: every rank is here to free together.
            stopWatchdog()
            stopReducer()
            throw error
        } catch {
            // Any other error may be this rank's alone (a checkpoint it could not write, say):
            // freeing the windows is collective and would wait for ranks that are still
            // training, so the windows are left to MPI_Abort, which the caller must call.
            watchdog?.stopThread()
            throw error
        }
        stopWatchdog()
        stopReducer()
        return summary
    }

    /// Makes every BatchNorm of `model` normalise with the statistics of the global batch:
    /// its per-channel sums are all-reduced over `world` in forward and backward. A failed
    /// all-reduce inside a layer cannot be thrown through `forward`; it ends the job.
    static func synchroniseBatchNorm(in model: Sequential, over world: Communicator) {
        for case let bn as BatchNorm in model.allLayers {   // residual bodies included
            bn.statisticsReduction = { sums in
                do { try world.allreduce(sums, op: .sum) } catch {
                    printError("SyncBatchNorm: \(error.userMessage)", rank: world.rank, of: world.size)
                    world.abort(code: 1)
                }
            }
        }
    }

    /// Records this epoch's monitored metric; returns whether it improved and whether
    /// early stopping ends the run now. Rank 0 decides and broadcasts, so every rank stops
    /// at the same step even if the ranks' reduced sums differed in the last bit.
    private func followMonitor(trainLoss: Double, validation: (loss: Double, accuracy: Double)?) throws -> (improved: Bool, stop: Bool) {
        guard var m = monitor else { return (false, false) }
        let value: Double
        switch m.metric {
        case .validationLoss: value = validation?.loss ?? .nan
        case .validationAccuracy: value = validation?.accuracy ?? .nan
        case .trainLoss: value = trainLoss
        }
        var decision = [m.record(value, epoch: epoch + 1) ? 1 : 0, m.shouldStop ? 1 : 0]
        try world.broadcast(&decision, from: 0)
        monitor = m
        return (decision[0] == 1, decision[1] == 1)
    }

    private func stopWatchdog() {
        watchdog?.stop()
        watchdog = nil
    }

    private func trainToTheEnd() throws -> TrainingSummary {
        let c = configuration
        let runStart = MPIEnvironment.wallTime()
        var trainSeconds = 0.0, computeTotal = 0.0, waitTotal = 0.0, samplesTotal = 0
        var lastTest: (loss: Double, accuracy: Double)?
        var lastTrainLoss: Double?
        let stopStep = min(totalSteps, c.maxSteps ?? Int.max)
        emit(.started(plan()))
        timelineFirstStep = step
        try timeline?.start(world: world)

        while epoch < c.epochs && step < stopStep {
            let order = sampler.order(epoch: epoch)
            model.setTraining(true)
            beginEpochTotals()
            while stepInEpoch < stepsPerEpoch && step < stopStep {
                try trainStep(order: order)
                step += 1
                stepInEpoch += 1
                if options.checkReplicasEvery > 0 && step % options.checkReplicasEvery == 0 { try verifyReplicas() }
                if options.checkpointEverySteps > 0 && step % options.checkpointEverySteps == 0 && stepInEpoch < stepsPerEpoch {
                    try saveCheckpoint()
                }
                if onEvent != nil && world.rank == 0 { emit(.step(progress())) }
            }
            let elapsed = MPIEnvironment.wallTime() - epochStart
            let totals = try reduceEpochTotals()
            trainSeconds += elapsed; computeTotal += epochCompute; waitTotal += epochWait; samplesTotal += totals.seen
            lastTrainLoss = totals.loss
            guard stepInEpoch == stepsPerEpoch else { break }   // stopped by maxSteps mid-epoch

            let evalStart = MPIEnvironment.wallTime()
            let test = try evaluate()
            lastTest = test
            let validation = try data.validation.map {
                try Evaluation.run(model: model, on: $0, world: world, batchSize: c.evalBatchSize, loss: loss)
            }
            let (improved, stopEarly) = try followMonitor(
                trainLoss: totals.loss, validation: validation.map { ($0.loss, $0.accuracy) })
            var m = EpochMetrics(
                epoch: epoch + 1, step: step, worldSize: world.size, batchPerRank: c.batchSize,
                learningRate: lastLearningRate, trainLoss: totals.loss, trainAccuracy: totals.accuracy,
                testLoss: test?.loss, testAccuracy: test?.accuracy,
                samplesPerSecond: Double(totals.seen) / max(elapsed, 1e-9), epochSeconds: elapsed,
                computeSeconds: epochCompute, allreduceSeconds: epochWait,
                evalSeconds: MPIEnvironment.wallTime() - evalStart)
            m.validationLoss = validation?.loss
            m.validationAccuracy = validation?.accuracy
            m.improved = monitor == nil ? nil : improved
            m.skippedSteps = epochSkipped
            if world.rank == 0 { metrics?.record(m); emit(.epoch(m)) }
            epoch += 1
            stepInEpoch = 0
            bestPending = improved
            let every = options.checkpointEveryEpochs
            let due = every > 0 && epoch % every == 0 && epoch < c.epochs
            // A new best is checkpointed at once, so `DIR/best` always holds that state.
            if (due || improved) && epoch < c.epochs && !stopEarly { try saveCheckpoint() }
            if stopEarly { stopReason = "early-stopping"; break }
        }
        if stopReason == "completed" && step >= stopStep && step < totalSteps { stopReason = "max-steps" }
        try verifyFiniteState()   // a finite but huge last step may have overflowed the parameters
        if store != nil && lastCheckpointStep != step { try saveCheckpoint() }
        else if bestPending { try markBestCheckpoint() }
        watchdog?.waiting(.endOfRun, step: step)
        if let timeline, let path = options.timelinePath { try timeline.write(to: path, world: world) }
        // Stragglers: every rank's compute time, so the summary can name the slowest.
        let computeTimes = try world.allgather([computeTotal])
        watchdog?.computing(step: step)
        let slowest = computeTimes.indices.max(by: { computeTimes[$0] < computeTimes[$1] }) ?? 0
        let fastest = computeTimes.min() ?? 0
        var summary = TrainingSummary(
            steps: step, epochs: epoch, samples: samplesTotal, worldSize: world.size,
            wallSeconds: MPIEnvironment.wallTime() - runStart, trainSeconds: trainSeconds,
            computeSeconds: computeTotal, allreduceSeconds: waitTotal,
            samplesPerSecond: Double(samplesTotal) / max(trainSeconds, 1e-9),
            finalTestLoss: lastTest?.loss, finalTestAccuracy: lastTest?.accuracy,
            finalTrainLoss: lastTrainLoss, checkpoint: lastCheckpointPath)
        summary.parameterCount = model.parameterCount
        summary.slowestRank = slowest
        summary.slowestRankExcess = fastest > 0 ? computeTimes[slowest] / fastest - 1 : 0
        summary.stopReason = stopReason
        if let monitor, let best = monitor.best {
            summary.best = (monitor.metric.metricsKey, best, monitor.bestEpoch)
        }
        summary.bestCheckpoint = world.rank == 0 ? store?.best() : nil
        summary.skippedSteps = runSkipped
        if world.rank == 0 { metrics?.record(summary); emit(.finished(summary)) }
        return summary
    }

    /// The run options that steer collectives (the reduction, the non-finite policy, the
    /// watchdog) must be the same on every rank: `minMax` of each finds any difference, and
    /// every rank throws alike.
    private func verifyRunOptionsAgree() throws {
        let modes = AllreduceMode.allCases, policies = NonFinitePolicy.allCases
        let mode = try world.minMax(modes.firstIndex(of: options.allreduceMode)!)
        if mode.min != mode.max {
            throw CollectiveError("ranks were started with different --allreduce modes (\(modes[mode.min].rawValue) and \(modes[mode.max].rawValue)); give every rank the same")
        }
        let policy = try world.minMax(policies.firstIndex(of: options.onNonFinite)!)
        if policy.min != policy.max {
            throw CollectiveError("ranks were started with different --on-nonfinite policies (\(policies[policy.min].rawValue) and \(policies[policy.max].rawValue)); give every rank the same")
        }
        let skips = try world.minMax(options.maxSkippedSteps)
        if skips.min != skips.max {
            throw CollectiveError("ranks were started with different --max-skipped-steps (\(skips.min) and \(skips.max)); give every rank the same")
        }
        let stall = try world.minMax(Int((options.stallTimeout * 1000).rounded()))
        if stall.min != stall.max {
            throw CollectiveError("ranks were started with different --stall-timeout (\(Double(stall.min) / 1000) and \(Double(stall.max) / 1000) s); give every rank the same")
        }
    }

    /// Ends the reduction: the parameters, gradients and optimizer state are this rank's
    /// own again (collective: every rank leaves `run` through here, or aborts).
    private func stopReducer() {
        reducer?.stop()
        reducer = nil
    }

    /// One optimizer step: `accumulate` local forward/backward passes, the bucketed
    /// all-reduce overlapping the last backward, the non-finite check, then the optimizer
    /// (or, under `--on-nonfinite skip`, no update at all).
    func trainStep(order: [Int32]) throws {
        let c = configuration
        let t0 = MPIEnvironment.wallTime()
        watchdog?.computing(step: step)
        model.zeroGradients()
        model.setRandomSeed(SplitMix64.derive(c.seed, UInt64(world.rank), UInt64(step)))
        if bufferSnapshot.count > 0 { _ = bufferSnapshot.update(fromContentsOf: model.arena.buffers) }
        var stepLoss = 0.0, stepCorrect = 0, lossFinite = true
        for j in 0..<c.accumulate {
            let range = sampler.rankRange(step: stepInEpoch * c.accumulate + j)
            order.withUnsafeBufferPointer { o in
                data.train.copyBatch(indices: UnsafeBufferPointer(rebasing: o[range]), features: input.data, labels: labels.baseAddress!)
            }
            let forwardStart = MPIEnvironment.wallTime()
            let logits = model.forward(input)
            let (value, correct) = loss.forward(logits, labels: UnsafeBufferPointer(labels))
            let backwardStart = MPIEnvironment.wallTime()
            stepLoss += Double(value) * Double(c.batchSize)
            stepCorrect += correct
            lossFinite = lossFinite && value.isFinite
            let g = loss.backward(scale: gradientScale)
            if j == c.accumulate - 1 {
                // A non-finite local loss marks the gradients (backward accumulates into the
                // NaN), so the summed gradients carry it to every rank.
                if !lossFinite { model.arena.gradients[0] = .nan }
                reducer!.begin()
                model.backward(g, onGradientsReady: reducer!.gradientsReady)
            } else {
                model.backward(g)
            }
            if let timeline = recordingTimeline {
                timeline.record(.forward, forwardStart, backwardStart)
                timeline.record(.backward, backwardStart, MPIEnvironment.wallTime())
            }
        }
        if let slow = options.injectedSleep, slow.rank == world.rank, (step + 1) % slow.every == 0 {
            usleep(UInt32(slow.seconds * 1e6))
        }
        let waitStart = MPIEnvironment.wallTime()
        lastLearningRate = schedule.learningRate(at: step) * lrScale
        watchdog?.waiting(reducer is SharedMemoryReducer ? .sharedMemorySum : .gradientAllreduce, step: step)
        let reduced = try reducer!.finish(learningRate: lastLearningRate, clipNorm: c.clipGradNorm, timeline: recordingTimeline)
        let finite = reduced.finite
        if !finite {
            // Every rank is here alike. The forward passes may have written NaN statistics.
            if bufferSnapshot.count > 0 { _ = model.arena.buffers.update(fromContentsOf: bufferSnapshot) }
        } else if model.arena.buffers.count > 0 && world.size > 1 {
            // BatchNorm running statistics: the mean over replicas keeps them identical.
            watchdog?.waiting(.statisticsAllreduce, step: step)
            try world.allreduce(model.arena.buffers, op: .sum)
            let inv = 1 / Float(world.size)
            for i in 0..<model.arena.buffers.count { model.arena.buffers[i] *= inv }
        }
        watchdog?.computing(step: step)
        let waitEnd = MPIEnvironment.wallTime()
        if finite && !reduced.updated { optimizer.step(model.arena, learningRate: lastLearningRate) }
        let t1 = MPIEnvironment.wallTime()
        if let timeline = recordingTimeline {
            timeline.record(.wait, waitStart, waitEnd)
            timeline.record(.optimizer, waitEnd, t1)
        }
        // Communication: the wait after backward (less any optimizer work done in it) plus
        // the bucket work done inside backward.
        let communication = (waitEnd - waitStart) - reduced.updateSeconds + reducer!.takeProgressSeconds()
        epochWait += communication
        epochCompute += (t1 - t0) - communication
        if finite {
            epochLossSum += stepLoss
            epochCorrect += stepCorrect
            epochSeen += c.batchSize * c.accumulate
            consecutiveSkips = 0
            return
        }
        // The step number counts from 1 in messages (the step that failed, not those taken).
        guard options.onNonFinite == .skip else {
            throw NonFiniteGuard.stopped(step: step + 1, epoch: epoch + 1, learningRate: lastLearningRate)
        }
        epochSkipped += 1
        runSkipped += 1
        consecutiveSkips += 1
        if consecutiveSkips >= options.maxSkippedSteps {
            throw NonFiniteGuard.tooManySkipped(count: consecutiveSkips, lastStep: step + 1, learningRate: lastLearningRate)
        }
    }

    /// Throws the non-finite stop (exit 3) on every rank alike when the parameters or the
    /// BatchNorm statistics are not finite: every rank holds the same values (replicas, or
    /// one shared copy per node), so every rank reaches the same verdict without a message.
    func verifyFiniteState() throws {
        guard allFinite(model.arena.parameters) && allFinite(model.arena.buffers) else {
            throw NonFiniteGuard.parametersNotFinite(step: step, learningRate: lastLearningRate)
        }
    }

    // MARK: - Evaluation

    /// Loss and accuracy on the test set, each rank taking a contiguous share so that
    /// every sample counts exactly once. Nil when there is no test set. Collective.
    public func evaluate() throws -> (loss: Double, accuracy: Double)? {
        guard let test = data.test, test.count > 0 else { return nil }
        watchdog?.busy(.evaluation, step: step)
        let result = try Evaluation.run(model: model, on: test, world: world, batchSize: configuration.evalBatchSize, loss: loss) {
            self.watchdog?.waiting(.evaluationReduction, step: self.step)
        }
        watchdog?.computing(step: step)
        return (result.loss, result.accuracy)
    }

    // MARK: - Book-keeping

    private func beginEpochTotals() {
        epochLossSum = 0; epochCorrect = 0; epochSeen = 0; epochCompute = 0; epochWait = 0; epochSkipped = 0
        epochStart = MPIEnvironment.wallTime()
    }

    private func reduceEpochTotals() throws -> (loss: Double, accuracy: Double, seen: Int) {
        var sums = [epochLossSum, Double(epochCorrect), Double(epochSeen)]
        watchdog?.waiting(.epochTotals, step: step)
        try world.allreduce(&sums, op: .sum)
        watchdog?.computing(step: step)
        return (sums[0] / max(sums[2], 1), sums[1] / max(sums[2], 1), Int(sums[2]))
    }

    private func progress() -> StepProgress {
        let elapsed = MPIEnvironment.wallTime() - epochStart
        return StepProgress(
            epoch: epoch + 1, epochs: configuration.epochs, stepInEpoch: stepInEpoch, stepsPerEpoch: stepsPerEpoch,
            step: step, totalSteps: min(totalSteps, configuration.maxSteps ?? Int.max),
            loss: epochLossSum / Double(max(epochSeen, 1)),
            samplesPerSecond: Double(epochSeen * world.size) / max(elapsed, 1e-9), learningRate: lastLearningRate)
    }

    private func plan() -> TrainingPlan {
        TrainingPlan(
            modelDescription: model.describe(), parameterCount: model.parameterCount, worldSize: world.size,
            trainSamples: data.train.count, testSamples: data.test?.count ?? 0,
            globalBatch: configuration.batchSize * world.size * configuration.accumulate,
            stepsPerEpoch: stepsPerEpoch, totalSteps: min(totalSteps, configuration.maxSteps ?? Int.max),
            startStep: step, startEpoch: epoch, buckets: reducer?.bucketCount ?? 0, resumedFrom: resumedFrom,
            allreduce: reducer?.mode ?? .overlap, nodes: reducer?.nodes ?? 1)
    }

    private func emit(_ event: TrainingEvent) {
        if world.rank == 0 { onEvent?(event) }
    }

    /// Compares a checksum of every rank's parameters and buffers; throws on any difference.
    public func verifyReplicas() throws {
        let mine = Int64(bitPattern: checksum(model.arena.parameters) ^ (checksum(model.arena.buffers) &* 31))
        watchdog?.waiting(.replicaCheck, step: step)
        let all = try world.allgather([mine])
        watchdog?.computing(step: step)
        if let bad = all.firstIndex(where: { $0 != all[0] }) {
            throw CollectiveError("replicas diverged at step \(step): rank \(bad)'s parameters differ from rank 0's (checksums \(String(UInt64(bitPattern: all[bad]), radix: 16)) vs \(String(UInt64(bitPattern: all[0]), radix: 16)))", exitCode: 1)
        }
    }
}
