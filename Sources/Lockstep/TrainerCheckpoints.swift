import Checkpoints
import Datasets
import Foundation
import MPI
import NeuralNet

/// How a model's flat arena maps onto checkpoint tensors, in PyTorch state_dict names.
public enum ModelTensors {
    /// The model's parameters and buffers (BatchNorm statistics), named like the
    /// equivalent `nn.Sequential` state_dict; `num_batches_tracked` is stored as int64.
    public static func sources(_ arena: ParameterArena) -> [TensorSource] {
        let params = UnsafeBufferPointer(arena.parameters)
        let buffers = UnsafeBufferPointer(arena.buffers)
        return arena.views.map { TensorSource(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer(rebasing: params[$0.range])) }
            + arena.bufferViews.map {
                TensorSource(name: $0.name, shape: $0.shape, dtype: $0.isInteger ? .i64 : .f32, values: UnsafeBufferPointer(rebasing: buffers[$0.range]))
            }
    }

    /// The names, shapes and dtypes a checkpoint of this model must hold (F32, and I64 for
    /// integer buffers such as `num_batches_tracked`).
    public static func layout(_ arena: ParameterArena) -> [(name: String, shape: [Int], dtype: SafeTensorsDType)] {
        arena.views.map { ($0.name, $0.shape, SafeTensorsDType.f32) }
            + arena.bufferViews.map { ($0.name, $0.shape, $0.isInteger ? SafeTensorsDType.i64 : .f32) }
    }

    /// Optimizer state under the parameters' names (one state buffer, e.g. SGD's
    /// momentum), or `STATE.NAME` when the optimizer keeps several (AdamW's
    /// `exp_avg.0.weight`, `exp_avg_sq.0.weight`).
    public static func optimizerSources(_ optimizer: any Optimizer, _ arena: ParameterArena) -> [TensorSource] {
        let states = optimizer.stateBuffers
        return states.flatMap { state in
            arena.views.map { view in
                TensorSource(name: states.count == 1 ? view.name : "\(state.name).\(view.name)", shape: view.shape,
                             values: UnsafeBufferPointer(rebasing: UnsafeBufferPointer(state.buffer)[view.range]))
            }
        }
    }

    /// Copies checkpoint tensors into the arena after checking names, shapes and dtypes,
    /// and (unless `allowNonFinite`) that every value is finite.
    public static func restore(_ records: [String: TensorRecord], into arena: ParameterArena, file: String, allowNonFinite: Bool = false) throws {
        try CheckpointStore.verifyTensors(records, expected: layout(arena), file: file)
        if !allowNonFinite { try CheckpointStore.verifyFinite(records, file: file) }
        for view in arena.views { copy(records[view.name]!.values, into: arena.parameters, at: view.offset) }
        for view in arena.bufferViews { copy(records[view.name]!.values, into: arena.buffers, at: view.offset) }
    }

    static func copy(_ values: [Float], into buffer: UnsafeMutableBufferPointer<Float>, at offset: Int) {
        values.withUnsafeBufferPointer { src in
            (buffer.baseAddress! + offset).update(from: src.baseAddress!, count: src.count)
        }
    }
}

extension Trainer {
    /// The checkpoint state of the current position.
    func checkpointState() -> CheckpointState<TrainingConfiguration> {
        let globalBatch = configuration.batchSize * world.size * configuration.accumulate
        let rng = SeededRNG(seed: configuration.seed).state
        return CheckpointState(
            step: step, epoch: epoch, stepInEpoch: stepInEpoch, worldSize: world.size,
            rngState: [rng.0, rng.1, rng.2, rng.3], configuration: configuration,
            optimizerSteps: optimizer.stepCount, globalBatch: globalBatch, samplesInEpoch: stepInEpoch * globalBatch,
            parameterCount: model.parameterCount, normalization: data.normalization, monitor: monitor?.savedState,
            lockstepVersion: LockstepVersion.string)
    }

    /// Rank 0 writes a checkpoint of the current step; the other ranks go on at once (they
    /// meet rank 0 again at the next all-reduce). A failure to write ends the job.
    /// Every rank first checks that the state is finite (exit 3 otherwise), so no checkpoint
    /// holds NaN and `latest` never moves to one.
    func saveCheckpoint() throws {
        try verifyFiniteState()
        lastCheckpointStep = step
        guard let store, world.rank == 0 else { return }
        watchdog?.busy(.checkpoint, step: step)   // the ranks that wait for this one wait on
        defer { watchdog?.computing(step: step) }
        let started = MPIEnvironment.wallTime()
        let path = try store.save(
            step: step, model: ModelTensors.sources(model.arena),
            optimizer: ModelTensors.optimizerSources(optimizer, model.arena), state: checkpointState(),
            metadata: ["lockstep_model": configuration.model], markBest: bestPending)
        bestPending = false
        lastCheckpointPath = path
        Diagnostics.logger.info("checkpoint written", metadata: [
            "step": "\(step)", "path": "\(path)",
            "seconds": "\(String(format: "%.3f", MPIEnvironment.wallTime() - started))"])
        onEvent?(.checkpoint(path: path, step: step))
    }

    /// Names the checkpoint of the current step, already written, in `DIR/best`.
    func markBestCheckpoint() throws {
        bestPending = false
        guard let store, world.rank == 0, let path = lastCheckpointPath, lastCheckpointStep == step else { return }
        try store.markBest(path)
    }

    /// Loads a checkpoint on rank 0, checks it fits this model, and broadcasts parameters,
    /// buffers, optimizer state and position to every rank. Collective.
    func resume(from path: String) throws {
        let c = configuration
        let loadedFrom: (position: [Int], path: String, monitor: MonitorState?)? = try Collective.onRoot(world) {
            let loaded: LoadedCheckpoint<TrainingConfiguration>
            do {
                loaded = try CheckpointStore.load(path: path, as: TrainingConfiguration.self)
                try loaded.validateTraining()
            } catch { throw CollectiveError("cannot resume from \(path): \(error.userMessage)") }
            let saved = loaded.state.configuration
            let savedModel: ModelDescription
            do { savedModel = try saved.resolvedModelDescription() }
            catch { throw CollectiveError("cannot resume from \(loaded.path): its model '\(saved.model)' cannot be rebuilt: \(error.userMessage)") }
            if savedModel != c.modelDescription {
                throw CollectiveError(saved.model == c.model
                    ? "cannot resume from \(loaded.path): model '\(c.model)' now describes a different network than the one trained (the file changed); restore the file, pass no --model to use the checkpoint's own, or start a fresh run"
                    : "cannot resume from \(loaded.path): it was trained with model '\(saved.model)' but this run uses '\(c.model)', a different network; pass no --model to use the checkpoint's own, or start a fresh run")
            }
            // Checkpoints from before the loss was a setting were trained with cross-entropy.
            let savedLoss = saved.loss ?? .crossEntropy, loss = c.loss ?? .crossEntropy
            for (name, a, b) in [(OptimizerKind.setting, saved.optimizer.rawValue, c.optimizer.rawValue), (DatasetKind.setting, saved.dataset.rawValue, c.dataset.rawValue),
                                 (LossKind.setting, savedLoss.rawValue, loss.rawValue), (TrainingTask.setting, saved.task.rawValue, c.task.rawValue)] where a != b {
                throw CollectiveError("cannot resume from \(loaded.path): it was trained with \(name) '\(a)' but this run uses '\(b)'; pass the same --\(name) or start a fresh run")
            }
            do { try loaded.verifyParameterCount(model.parameterCount) }
            catch { throw CollectiveError("cannot resume from \(loaded.path): \(error.userMessage)") }
            try ModelTensors.restore(loaded.model, into: model.arena, file: loaded.path + "/model.safetensors", allowNonFinite: options.allowNonFiniteCheckpoint)
            let sources = ModelTensors.optimizerSources(optimizer, model.arena)
            let optimizerFile = loaded.path + "/optimizer.safetensors"
            try CheckpointStore.verifyTensors(loaded.optimizer, expected: sources.map { ($0.name, $0.shape, $0.dtype) }, file: optimizerFile)
            if !options.allowNonFiniteCheckpoint { try CheckpointStore.verifyFinite(loaded.optimizer, file: optimizerFile) }
            for source in sources {
                let dst = UnsafeMutableBufferPointer(mutating: source.values)
                ModelTensors.copy(loaded.optimizer[source.name]!.values, into: dst, at: 0)
            }
            // Position: samples consumed in the epoch carry over even if the global batch changed.
            let samplesInEpoch = loaded.state.samplesInEpoch ?? 0
            guard samplesInEpoch <= data.train.count else {
                throw CollectiveError("cannot resume from \(loaded.path): it stopped \(samplesInEpoch) samples into an epoch but this run's training set holds \(data.train.count); resume with the data it was trained on")
            }
            let globalBatch = c.batchSize * world.size * c.accumulate
            let optimizerSteps = loaded.state.optimizerSteps ?? loaded.state.step
            return ([loaded.state.step, loaded.state.epoch, samplesInEpoch / globalBatch, optimizerSteps], loaded.path, loaded.state.monitor)
        }
        var position = loadedFrom?.position ?? [0, 0, 0, 0]
        try world.broadcast(&position, from: 0)
        try world.broadcast(model.arena.parameters, from: 0)
        try world.broadcast(model.arena.buffers, from: 0)
        for state in optimizer.stateBuffers { try world.broadcast(state.buffer, from: 0) }
        step = position[0]
        epoch = position[1]
        stepInEpoch = min(position[2], stepsPerEpoch)
        optimizer.stepCount = position[3]
        lastCheckpointStep = step
        resumedFrom = try Collective.broadcast(string: loadedFrom?.path ?? "", from: 0, world)
        if monitor != nil {
            // Rank 0 read it; every rank must follow the same monitor.
            let json = try loadedFrom?.monitor.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) } ?? ""
            let received = try Collective.broadcast(string: json, from: 0, world)
            let saved = try Collective.everywhere(world) {
                try received.isEmpty ? nil : JSONDecoder().decode(MonitorState.self, from: Data(received.utf8))
            }
            monitor?.restore(saved)
        }
        Diagnostics.logger.info("resumed", metadata: [
            "from": "\(resumedFrom ?? "")", "step": "\(step)", "epoch": "\(epoch)", "stepInEpoch": "\(stepInEpoch)"])
    }
}

/// A model rebuilt from a checkpoint, ready to evaluate.
public struct CheckpointedModel {
    public let path: String
    public let model: Sequential
    public let state: CheckpointState<TrainingConfiguration>
    /// The input normalisation the model was trained with, if any.
    public let normalization: Normalization?
    public let loaded: LoadedCheckpoint<TrainingConfiguration>

    /// Loads and verifies a checkpoint (a checkpoint directory, or a store directory for
    /// its newest), rebuilds its model from the description it stores (or, for a checkpoint
    /// written before model files, the preset or spec it names) and fills in its
    /// parameters and buffers. Non-finite weights are refused unless `allowNonFinite`.
    public static func load(_ path: String, allowNonFinite: Bool = false) throws -> CheckpointedModel {
        let loaded = try CheckpointStore.load(path: path, as: TrainingConfiguration.self)
        try loaded.validateTraining()
        var state = loaded.state
        // Checkpoints from before the loss was a setting were trained with cross-entropy.
        if state.configuration.loss == nil { state.configuration.loss = .crossEntropy }
        let c = state.configuration
        let model: Sequential
        do { model = try c.resolvedModelDescription().makeModel(seed: c.seed) }
        catch { throw CollectiveError("\(loaded.path)/state.json: its model '\(c.model)' cannot be rebuilt: \(error.userMessage)") }
        try loaded.verifyParameterCount(model.parameterCount)
        try ModelTensors.restore(loaded.model, into: model.arena, file: loaded.path + "/model.safetensors", allowNonFinite: allowNonFinite)
        return CheckpointedModel(path: loaded.path, model: model, state: state, normalization: state.normalization, loaded: loaded)
    }
}

extension CheckpointedModel {
    /// Which part of a dataset to evaluate or predict on.
    public enum Split: String, Sendable, CaseIterable {
        case test, train
    }

    /// The samples to evaluate this model on: the test (or training) part of the dataset
    /// it was trained on (or of the one at `data`), its first `limit` samples if given,
    /// normalised with the checkpoint's own statistics and checked against the model's
    /// input shape. Errors say what to do.
    public func dataset(_ split: Split = .test, data: String? = nil, limit: Int? = nil) throws -> Dataset {
        var c = state.configuration
        if let data { c.data = data }
        c.normalize = false   // the checkpoint's statistics are applied below, not refitted
        c.trainLimit = nil
        c.validationSplit = nil
        c.validationData = nil
        let loaded = try TrainingData.load(c)
        guard var samples = split == .train ? loaded.train : loaded.test else {
            throw CollectiveError("the \(c.dataset) data at \(c.data ?? "the default location") has no test set; give --data with one, or use --split train")
        }
        if let limit, limit < samples.count { samples = samples.slice(0..<limit) }
        if let normalization {
            try normalization.check(sampleShape: samples.sampleShape)
            samples.normalize(normalization)
        }
        guard samples.sampleSize == model.inputShape.reduce(1, *) else {
            throw CollectiveError("the samples have shape \(samples.sampleShape) but the checkpoint's model \(c.model) takes \(model.inputShape)")
        }
        return samples
    }
}
