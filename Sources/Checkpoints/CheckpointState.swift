// state.json of a checkpoint: where training stands, how it was configured, and the
// SHA-256 of each tensor file.

import Datasets
import Foundation

/// Constants of the checkpoint format.
public enum CheckpointFormat {
    /// The `formatVersion` this build writes: 2, where the trainer's position and input
    /// statistics are typed fields of ``CheckpointState``. Version 1 kept them as text in
    /// an `extra` map; this build reads both and refuses newer ones.
    public static let version = 2
    /// The oldest `formatVersion` this build reads.
    public static let oldestReadableVersion = 1
    /// The tensor file holding the model's parameters and running statistics.
    public static let modelFile = "model.safetensors"
    /// The tensor file holding the optimizer's momentum buffers, named like the parameters.
    public static let optimizerFile = "optimizer.safetensors"
    /// The JSON file holding ``CheckpointState``.
    public static let stateFile = "state.json"
}

/// Where a metric monitor (early stopping, the best checkpoint) stood, so that a resumed
/// run stops where an uninterrupted one would.
public struct MonitorState: Codable, Sendable, Equatable {
    /// The best value so far (nil before the first finite one).
    public var best: Double?
    /// The 1-based epoch of the best value (0 before it).
    public var bestEpoch: Int
    /// Epochs in a row, since the best, that brought no improvement.
    public var epochsWithoutImprovement: Int

    public init(best: Double?, bestEpoch: Int, epochsWithoutImprovement: Int) {
        self.best = best
        self.bestEpoch = bestEpoch
        self.epochsWithoutImprovement = epochsWithoutImprovement
    }
}

/// The training state saved as `state.json` (pretty-printed, sorted keys) next to a
/// checkpoint's tensor files.
///
/// `Configuration` is the caller's full training configuration.
///
/// ```swift
/// let state = CheckpointState(step: 938, epoch: 1, stepInEpoch: 0, worldSize: 2,
///                             rngState: rng.state, configuration: config,
///                             lockstepVersion: "0.1.0")
/// ```
///
/// Version 1 files carried the optional fields as text in an `extra` map
/// (`optimizer_steps`, `global_batch`, `samples_in_epoch`, `parameter_count`,
/// `normalization` as JSON, `monitor_best`, `monitor_best_epoch`, `monitor_bad_epochs`);
/// decoding one fills the typed fields from it.
public struct CheckpointState<Configuration: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// Version of this layout; ``CheckpointFormat/version`` when written by this build.
    public var formatVersion: Int
    /// Optimizer steps completed when the checkpoint was taken.
    public var step: Int
    /// The epoch the next step belongs to (0-based).
    public var epoch: Int
    /// Steps already taken within `epoch`.
    public var stepInEpoch: Int
    /// The number of MPI ranks at save time.
    public var worldSize: Int
    /// The random generator's state words, to resume the same stream.
    public var rngState: [UInt64]
    /// The full training configuration.
    public var configuration: Configuration
    /// Tensor file name -> SHA-256 hex of its bytes; filled by ``CheckpointStore/save(step:model:optimizer:state:metadata:)``.
    public var files: [String: String]
    /// When the state was made, ISO 8601 in UTC (e.g. `2026-11-22T03:10:00Z`).
    public var createdAt: String
    /// The Lockstep version that wrote the checkpoint.
    public var lockstepVersion: String
    /// The optimizer's own step count (bias correction, e.g. AdamW's); nil: `step`.
    public var optimizerSteps: Int?
    /// Samples per optimizer step over all ranks: batch size x world size x accumulation.
    public var globalBatch: Int?
    /// Samples of the current epoch already consumed (`stepInEpoch x globalBatch`), so a
    /// run resumed with another global batch starts at the same sample.
    public var samplesInEpoch: Int?
    /// Parameters of the model (checked against the model rebuilt from the configuration).
    public var parameterCount: Int?
    /// The input normalisation the model was trained with, if any.
    public var normalization: Normalization?
    /// Where early stopping and the best checkpoint stood, if the run follows a metric.
    public var monitor: MonitorState?

    /// Creates a state; `createdAt` defaults to now and `files` is filled when saving.
    public init(
        step: Int, epoch: Int, stepInEpoch: Int, worldSize: Int, rngState: [UInt64],
        configuration: Configuration,
        optimizerSteps: Int? = nil, globalBatch: Int? = nil, samplesInEpoch: Int? = nil, parameterCount: Int? = nil,
        normalization: Normalization? = nil, monitor: MonitorState? = nil,
        createdAt: String = Date().ISO8601Format(),
        lockstepVersion: String,
        files: [String: String] = [:], formatVersion: Int = CheckpointFormat.version
    ) {
        self.formatVersion = formatVersion
        self.step = step
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.worldSize = worldSize
        self.rngState = rngState
        self.configuration = configuration
        self.files = files
        self.createdAt = createdAt
        self.lockstepVersion = lockstepVersion
        self.optimizerSteps = optimizerSteps
        self.globalBatch = globalBatch
        self.samplesInEpoch = samplesInEpoch
        self.parameterCount = parameterCount
        self.normalization = normalization
        self.monitor = monitor
    }

    private enum CodingKeys: String, CodingKey {
        case formatVersion, step, epoch, stepInEpoch, worldSize, rngState, configuration, files, createdAt, lockstepVersion
        case optimizerSteps, globalBatch, samplesInEpoch, parameterCount, normalization, monitor
        case extra   // version 1
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        step = try c.decode(Int.self, forKey: .step)
        epoch = try c.decode(Int.self, forKey: .epoch)
        stepInEpoch = try c.decode(Int.self, forKey: .stepInEpoch)
        worldSize = try c.decode(Int.self, forKey: .worldSize)
        rngState = try c.decode([UInt64].self, forKey: .rngState)
        configuration = try c.decode(Configuration.self, forKey: .configuration)
        files = try c.decode([String: String].self, forKey: .files)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        lockstepVersion = try c.decode(String.self, forKey: .lockstepVersion)
        if formatVersion == 1 {
            try decodeVersion1Extra(c)
            return
        }
        optimizerSteps = try c.decodeIfPresent(Int.self, forKey: .optimizerSteps)
        globalBatch = try c.decodeIfPresent(Int.self, forKey: .globalBatch)
        samplesInEpoch = try c.decodeIfPresent(Int.self, forKey: .samplesInEpoch)
        parameterCount = try c.decodeIfPresent(Int.self, forKey: .parameterCount)
        normalization = try c.decodeIfPresent(Normalization.self, forKey: .normalization)
        monitor = try c.decodeIfPresent(MonitorState.self, forKey: .monitor)
    }

    /// Version 1: the same fields as text in `extra`; unknown keys there are ignored.
    private mutating func decodeVersion1Extra(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        let extra = try c.decodeIfPresent([String: String].self, forKey: .extra) ?? [:]
        func value<T>(_ key: String, _ parse: (String) -> T?) throws -> T? {
            guard let text = extra[key] else { return nil }
            guard let value = parse(text) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: [CodingKeys.extra, ExtraKey(key)], debugDescription: "'\(text.prefix(80))' is not a valid \(key)"))
            }
            return value
        }
        let int = { (text: String) in Int(text) }
        optimizerSteps = try value("optimizer_steps", int)
        globalBatch = try value("global_batch", int)
        samplesInEpoch = try value("samples_in_epoch", int)
        parameterCount = try value("parameter_count", int)
        normalization = try value("normalization") { try? JSONDecoder().decode(Normalization.self, from: Data($0.utf8)) }
        let bestEpoch = try value("monitor_best_epoch", int), badEpochs = try value("monitor_bad_epochs", int)
        let best = try value("monitor_best") { Double($0) }
        if bestEpoch != nil || badEpochs != nil || best != nil {
            monitor = MonitorState(best: best, bestEpoch: bestEpoch ?? 0, epochsWithoutImprovement: badEpochs ?? 0)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(step, forKey: .step)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(stepInEpoch, forKey: .stepInEpoch)
        try c.encode(worldSize, forKey: .worldSize)
        try c.encode(rngState, forKey: .rngState)
        try c.encode(configuration, forKey: .configuration)
        try c.encode(files, forKey: .files)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(lockstepVersion, forKey: .lockstepVersion)
        try c.encodeIfPresent(optimizerSteps, forKey: .optimizerSteps)
        try c.encodeIfPresent(globalBatch, forKey: .globalBatch)
        try c.encodeIfPresent(samplesInEpoch, forKey: .samplesInEpoch)
        try c.encodeIfPresent(parameterCount, forKey: .parameterCount)
        try c.encodeIfPresent(normalization, forKey: .normalization)
        try c.encodeIfPresent(monitor, forKey: .monitor)
    }
}

/// A key of version 1's `extra` map, for error paths.
private struct ExtraKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ key: String) { stringValue = key }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension CheckpointState {
    /// Checks the fields every checkpoint must satisfy, whatever its configuration:
    /// `step`, `epoch` and `stepInEpoch` are non-negative, every finished epoch took at
    /// least one step (`epoch + stepInEpoch <= step`), `worldSize` is at least 1, and the
    /// recorded file hashes are 64 hex digits. Throws ``CheckpointError/invalidState(path:field:reason:)``.
    /// (The configuration's own ranges are the caller's to check.)
    public func validate(path: String) throws {
        func fail(_ field: String, _ reason: String) -> CheckpointError { .invalidState(path: path, field: field, reason: reason) }
        guard step >= 0 else { throw fail("step", "is \(step) but must be >= 0") }
        guard epoch >= 0 else { throw fail("epoch", "is \(epoch) but must be >= 0") }
        guard stepInEpoch >= 0 else { throw fail("stepInEpoch", "is \(stepInEpoch) but must be >= 0") }
        let (finished, overflow) = epoch.addingReportingOverflow(stepInEpoch)
        guard !overflow, finished <= step else {
            throw fail("epoch", "is \(epoch) with stepInEpoch \(stepInEpoch), more than the \(step) steps taken (every epoch takes at least one)")
        }
        guard worldSize >= 1 else { throw fail("worldSize", "is \(worldSize) but must be >= 1") }
        if let optimizerSteps, !(0...step).contains(optimizerSteps) {
            throw fail("optimizerSteps", "is \(optimizerSteps) but must be a count from 0 to step \(step)")
        }
        if let globalBatch, globalBatch < 1 { throw fail("globalBatch", "is \(globalBatch) but must be >= 1") }
        if let samplesInEpoch, samplesInEpoch < 0 { throw fail("samplesInEpoch", "is \(samplesInEpoch) but must be >= 0") }
        if let parameterCount, parameterCount < 1 { throw fail("parameterCount", "is \(parameterCount) but must be >= 1") }
        if let normalization {
            do { _ = try Normalization(mean: normalization.mean, std: normalization.std) }
            catch { throw fail("normalization", "is unusable: \(error.localizedDescription)") }
        }
        if let monitor {
            guard monitor.bestEpoch >= 0, monitor.epochsWithoutImprovement >= 0, monitor.best?.isFinite ?? true else {
                throw fail("monitor", "holds best \(monitor.best.map { "\($0)" } ?? "none") at epoch \(monitor.bestEpoch) and \(monitor.epochsWithoutImprovement) epochs without improvement; the value must be finite and the counts >= 0")
            }
        }
        for (file, hash) in files.sorted(by: { $0.key < $1.key }) {
            guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0 | 0x20) }) else {
                throw fail("files", "records '\(hash.prefix(80))' for \(file), which is not a SHA-256 (64 hex digits)")
            }
        }
    }
}
