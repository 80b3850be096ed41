// Errors of checkpoint storage: bad files, bad checkpoints, bad arguments, failed I/O.

import Foundation

/// One tensor whose presence or shape differs between a checkpoint and the model that
/// loads it; see ``CheckpointStore/verifyShapes(_:expected:file:)``.
public struct TensorShapeMismatch: Sendable, Equatable {
    /// The state_dict name the model and the checkpoint disagree on, e.g. `"0.weight"`.
    public let name: String
    /// The shape the model expects, or nil when the model has no such tensor.
    public let expected: [Int]?
    /// The shape found in the checkpoint, or nil when the checkpoint lacks the tensor.
    public let found: [Int]?

    /// Creates a mismatch record.
    public init(name: String, expected: [Int]?, found: [Int]?) {
        self.name = name
        self.expected = expected
        self.found = found
    }
}

/// Everything that can go wrong reading or writing safetensors files and checkpoints.
///
/// Each message names the file (or value), the problem, and what to do about it.
public enum CheckpointError: Error, LocalizedError, Sendable, Equatable {
    /// The file is shorter than the 8-byte header length of the safetensors format.
    case fileTooShort(path: String, size: Int)
    /// The 8-byte header length points past the end of the file.
    case headerLengthOutOfRange(path: String, headerLength: UInt64, fileSize: Int)
    /// The JSON header is not valid JSON or not shaped like a safetensors header.
    case invalidHeader(path: String, reason: String)
    /// A tensor has a dtype this reader (or writer) does not support.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor's shape and dtype need a different number of bytes than its offsets span.
    case shapeOffsetMismatch(path: String, tensor: String, shape: [Int], dtype: String, byteCount: Int)
    /// A tensor's `data_offsets` are malformed or reach past the data section.
    case offsetsOutOfRange(path: String, tensor: String, offsets: [Int], dataSize: Int)
    /// Two tensors claim overlapping bytes of the data section.
    case overlappingTensors(path: String, first: String, second: String)
    /// Bytes of the data section before a tensor belong to no tensor.
    case gapInData(path: String, tensor: String, begin: Int, expectedBegin: Int)
    /// The file has bytes after the last tensor's data.
    case trailingBytes(path: String, count: Int)
    /// A tensor handed to the writer is inconsistent (bad name, values vs shape, non-integer value for an integer dtype).
    case invalidTensor(path: String, tensor: String, reason: String)
    /// A system call failed.
    case io(path: String, operation: String, reason: String)
    /// `keep` of a checkpoint store was below 1.
    case invalidKeep(Int)
    /// A checkpoint step was negative.
    case invalidStep(Int)
    /// `save(step:...)` was given a state whose `step` differs.
    case stepMismatch(step: Int, stateStep: Int)
    /// A checkpoint directory lacks one of its files.
    case incompleteCheckpoint(path: String, missing: String)
    /// A path is neither a checkpoint directory nor a store directory holding one.
    case noCheckpoint(path: String)
    /// `state.json` could not be read or decoded.
    case stateUnreadable(path: String, reason: String)
    /// `state.json` has a format version this build does not understand.
    case unsupportedFormatVersion(path: String, found: Int, supported: Int)
    /// `state.json` records no hash for a tensor file.
    case missingHash(path: String, file: String)
    /// A tensor file's SHA-256 differs from the one recorded in `state.json`.
    case hashMismatch(path: String, file: String, expected: String, actual: String)
    /// A field of `state.json` is out of range or inconsistent with another field or with
    /// the tensor files.
    case invalidState(path: String, field: String, reason: String)
    /// A tensor's dtype is not the one the model stores there (e.g. I32 where it keeps F32).
    case dtypeMismatch(file: String, tensor: String, expected: SafeTensorsDType, found: SafeTensorsDType)
    /// A tensor holds NaN or an infinity.
    case nonFiniteValue(file: String, tensor: String, index: Int, count: Int, value: Float)
    /// The checkpoint's tensors do not match the model's names and shapes.
    case modelMismatch(file: String, missing: [TensorShapeMismatch], unexpected: [TensorShapeMismatch], wrongShape: [TensorShapeMismatch])
    /// Two checkpoints compared tensor by tensor hold different tensors.
    case notComparable(reason: String)

    /// A one-paragraph message: what is wrong, where, and what to do.
    public var errorDescription: String? {
        switch self {
        case let .fileTooShort(path, size):
            return "\(path): \(size) bytes is too short for a safetensors file (at least 8 bytes of header length are needed); the file is truncated or not safetensors — re-create it or restore it from a good copy."
        case let .headerLengthOutOfRange(path, headerLength, fileSize):
            return "\(path): header length \(headerLength) reaches past the end of the \(fileSize)-byte file; the file is truncated or not safetensors — re-create it or restore it from a good copy."
        case let .invalidHeader(path, reason):
            return "\(path): invalid safetensors header: \(reason); the file is corrupt or not safetensors — re-create it or restore it from a good copy."
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has dtype '\(dtype)', which Lockstep does not support (supported: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", "))); convert the tensor to F32 before loading."
        case let .shapeOffsetMismatch(path, tensor, shape, dtype, byteCount):
            return "\(path): tensor '\(tensor)' of shape \(shape) and dtype \(dtype) spans \(byteCount) bytes, which does not match its shape; the file is corrupt — re-create it or restore it from a good copy."
        case let .offsetsOutOfRange(path, tensor, offsets, dataSize):
            return "\(path): tensor '\(tensor)' has data_offsets \(offsets), outside the \(dataSize)-byte data section; the file is truncated or corrupt — re-create it or restore it from a good copy."
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors '\(first)' and '\(second)' overlap in the data section; the file is corrupt — re-create it or restore it from a good copy."
        case let .gapInData(path, tensor, begin, expectedBegin):
            return "\(path): tensor '\(tensor)' starts at byte \(begin) of the data section, leaving bytes \(expectedBegin)..<\(begin) unused; the file is corrupt — re-create it or restore it from a good copy."
        case let .trailingBytes(path, count):
            return "\(path): \(count) trailing bytes after the last tensor; the file is corrupt or was appended to — re-create it or restore it from a good copy."
        case let .invalidTensor(path, tensor, reason):
            return "\(path): cannot write tensor '\(tensor)': \(reason); nothing was written — fix the tensor list passed to the writer."
        case let .io(path, operation, reason):
            return "\(path): \(operation) failed: \(reason); check that the path exists, is writable and the disk is not full."
        case let .invalidKeep(keep):
            return "checkpoint keep count \(keep) is invalid; keep at least 1 checkpoint."
        case let .invalidStep(step):
            return "checkpoint step \(step) is invalid; steps start at 0."
        case let .stepMismatch(step, stateStep):
            return "checkpoint for step \(step) was given a state for step \(stateStep); save the state of the step being checkpointed."
        case let .incompleteCheckpoint(path, missing):
            return "\(path): checkpoint is incomplete, '\(missing)' is missing; load another checkpoint (the previous one in the same directory, or the directory itself to use its latest)."
        case let .noCheckpoint(path):
            return "\(path): no complete checkpoint found (expected a checkpoint directory with model.safetensors, optimizer.safetensors and state.json, or a checkpoint store holding one); check the path or start without resuming."
        case let .stateUnreadable(path, reason):
            return "\(path): cannot read checkpoint state: \(reason); the checkpoint is corrupt — load an earlier checkpoint."
        case let .unsupportedFormatVersion(path, found, supported):
            let reads = "this build reads versions \(CheckpointFormat.oldestReadableVersion) to \(supported)"
            if found > supported {
                return "\(path): checkpoint format version \(found) is newer than this build understands (\(reads)); load it with the Lockstep version that wrote it, or a newer one."
            }
            return "\(path): checkpoint format version \(found) was never written by Lockstep (\(reads)); the checkpoint is corrupt — load an earlier checkpoint."
        case let .missingHash(path, file):
            return "\(path): state.json records no SHA-256 for '\(file)'; the checkpoint is corrupt — load an earlier checkpoint."
        case let .hashMismatch(path, file, expected, actual):
            return "\(path): '\(file)' has SHA-256 \(actual) but state.json records \(expected); the checkpoint is corrupt — load an earlier checkpoint."
        case let .notComparable(reason):
            return reason
        case let .invalidState(path, field, reason):
            return "\(path): '\(field)' \(reason); the checkpoint is corrupt or was edited — load an earlier checkpoint."
        case let .dtypeMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)' has dtype \(found.rawValue) but the model stores \(expected.rawValue) there; the checkpoint is corrupt or from another program — load an earlier checkpoint."
        case let .nonFiniteValue(file, tensor, index, count, value):
            return "\(file): tensor '\(tensor)' holds \(value) at index \(index)\(count > 1 ? " (\(count) non-finite values in all)" : ""); the run that wrote it had diverged — load an earlier checkpoint, or pass --allow-nonfinite-checkpoint to load it anyway."
        case let .modelMismatch(file, missing, unexpected, wrongShape):
            var parts: [String] = []
            if !missing.isEmpty {
                parts.append("\(missing.count) tensor(s) missing from the checkpoint: " + Self.listed(missing) { "\($0.name) \($0.expected ?? [])" })
            }
            if !unexpected.isEmpty {
                parts.append("\(unexpected.count) tensor(s) the model does not have: " + Self.listed(unexpected) { "\($0.name) \($0.found ?? [])" })
            }
            if !wrongShape.isEmpty {
                parts.append("\(wrongShape.count) tensor(s) with a different shape: " + Self.listed(wrongShape) { "\($0.name) expected \($0.expected ?? []), found \($0.found ?? [])" })
            }
            return "\(file): checkpoint is from a different model: " + parts.joined(separator: "; ") + ". Build the model with the configuration recorded in the checkpoint's state.json, or start a fresh run."
        }
    }

    /// Up to four entries of `items`, then how many more.
    private static func listed(_ items: [TensorShapeMismatch], _ describe: (TensorShapeMismatch) -> String) -> String {
        let shown = items.prefix(4).map(describe).joined(separator: ", ")
        return items.count > 4 ? shown + ", and \(items.count - 4) more" : shown
    }
}
