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
