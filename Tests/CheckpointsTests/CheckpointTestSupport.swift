import Foundation
@testable import Checkpoints

/// A fresh directory under the system temporary directory, removed when released.
final class CheckpointTestDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/lockstep-ckpt-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A named tensor owning its values, to hand to the writer as a `TensorSource`.
struct CheckpointTestTensor {
    var name: String
    var shape: [Int]
    var dtype: SafeTensorsDType = .f32
    var values: [Float]
}

/// Calls `body` with `TensorSource`s viewing `tensors`' values.
func withTensorSources<R>(_ tensors: [CheckpointTestTensor], _ body: ([TensorSource]) throws -> R) rethrows -> R {
    var sources: [TensorSource] = []
    func next(_ index: Int) throws -> R {
        if index == tensors.count { return try body(sources) }
        return try tensors[index].values.withUnsafeBufferPointer { buffer in
            sources.append(TensorSource(name: tensors[index].name, shape: tensors[index].shape, dtype: tensors[index].dtype, values: buffer))
            return try next(index + 1)
        }
    }
    return try next(0)
}

/// Builders and readers of test files.
enum CheckpointTestFiles {
    /// A safetensors file assembled by hand: the 8-byte length, `header` padded with spaces
    /// to a multiple of 8 (unless `pad` is false), then `data`.
    static func safeTensors(header: String, data: [UInt8], pad: Bool = true) -> [UInt8] {
        var headerBytes = Array(header.utf8)
        while pad && headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(headerBytes.count) >> UInt64(8 * $0)) }
        bytes += headerBytes
        bytes += data
        return bytes
    }

    /// Little-endian bytes of `values`.
    static func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { value in (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    /// Little-endian bytes of Float values.
    static func littleEndian(_ values: [Float]) -> [UInt8] {
        CheckpointTestFiles.littleEndian(values.map(\.bitPattern))
    }

    /// Reads a whole file.
    static func read(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes a whole file.
    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
