// state.json of a checkpoint: where training stands, how it was configured, and the
// SHA-256 of each tensor file.

import Foundation

/// Constants of the checkpoint format.
public enum CheckpointFormat {
    /// The `formatVersion` this build writes and reads.
    public static let version = 1
    /// The tensor file holding the model's parameters and running statistics.
    public static let modelFile = "model.safetensors"
    /// The tensor file holding the optimizer's momentum buffers, named like the parameters.
    public static let optimizerFile = "optimizer.safetensors"
    /// The JSON file holding ``CheckpointState``.
    public static let stateFile = "state.json"
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
    /// Free-form additions (e.g. the best test accuracy so far).
    public var extra: [String: String]

    /// Creates a state; `createdAt` defaults to now and `files` is filled when saving.
    public init(
        step: Int, epoch: Int, stepInEpoch: Int, worldSize: Int, rngState: [UInt64],
        configuration: Configuration, extra: [String: String] = [:],
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
        self.extra = extra
    }
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
        for (file, hash) in files.sorted(by: { $0.key < $1.key }) {
            guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0 | 0x20) }) else {
                throw fail("files", "records '\(hash.prefix(80))' for \(file), which is not a SHA-256 (64 hex digits)")
            }
        }
    }
}
