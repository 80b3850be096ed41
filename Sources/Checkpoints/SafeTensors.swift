// The safetensors file format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON header padded with spaces to a multiple
// of 8, then the tensors' raw little-endian bytes. Offsets are relative to the data section.

import Foundation

/// Element types of safetensors tensors that Lockstep reads and writes.
public enum SafeTensorsDType: String, Sendable, CaseIterable, Codable {
    /// IEEE 754 single precision (4 bytes).
    case f32 = "F32"
    /// IEEE 754 double precision (8 bytes); read and written as Float by Lockstep.
    case f64 = "F64"
    /// 64-bit signed integer (8 bytes), e.g. BatchNorm's `num_batches_tracked`.
    case i64 = "I64"
    /// 32-bit signed integer (4 bytes).
    case i32 = "I32"

    /// Bytes per element: 4 for F32 and I32, 8 for F64 and I64.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f64, .i64: return 8
        }
    }
}

/// A tensor read from a safetensors file, converted to `Float`.
///
/// `values` is row-major with `shape.reduce(1, *)` elements (one for the scalar shape `[]`).
public struct TensorRecord: Sendable, Equatable {
    /// The tensor's key in the file's header, e.g. `"0.weight"`.
    public let name: String
    /// The tensor's shape; `[]` for a scalar.
    public let shape: [Int]
    /// The dtype stored in the file (values are converted to Float regardless).
    public let dtype: SafeTensorsDType
    /// The elements in row-major order.
    public let values: [Float]

    /// Creates a record.
    public init(name: String, shape: [Int], dtype: SafeTensorsDType, values: [Float]) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.values = values
    }
}

/// A tensor to write: a name, a shape and a view of `Float` values that the writer
/// copies straight to the file (converted to `dtype` on the way).
///
/// ```swift
/// try weights.withUnsafeBufferPointer { w in
///     try SafeTensors.write([TensorSource(name: "0.weight", shape: [16, 1, 3, 3], values: w)],
///                           metadata: ["format": "pt"], to: "model.safetensors")
/// }
/// ```
public struct TensorSource {
    /// The tensor's name, e.g. `"0.weight"`; non-empty, unique, not `"__metadata__"`.
    public let name: String
    /// The tensor's shape; `[]` for a scalar. Its element count must equal `values.count`.
    public let shape: [Int]
    /// The dtype to store. Integer dtypes require every value to be a whole number in range.
    public let dtype: SafeTensorsDType
    /// The elements in row-major order; must stay valid for the duration of the write.
    public let values: UnsafeBufferPointer<Float>

    /// Creates a tensor to write.
    public init(name: String, shape: [Int], dtype: SafeTensorsDType = .f32, values: UnsafeBufferPointer<Float>) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.values = values
    }
}

/// Reading and writing safetensors files.
///
/// ```swift
/// let sha = try SafeTensors.write(tensors, metadata: ["format": "pt"], to: "model.safetensors")
/// let (tensors, metadata) = try SafeTensors.read(path: "model.safetensors")
/// ```
public enum SafeTensors {
    /// Writes `tensors` and `metadata` to a new file at `path` and returns the file's
    /// SHA-256 (lower-case hex), computed while writing.
    ///
    /// Tensors are laid out sorted by name; the header is compact JSON with
    /// `__metadata__` first (omitted when empty), padded with spaces to a multiple of 8.
    /// The header is written first, then each tensor's bytes straight from its buffer
    /// (F32 on a little-endian host without any copy; other dtypes through a small
    /// conversion buffer). The file is fsynced before returning. Every tensor is checked
    /// before the file is created; a failure while writing removes the partial file.
    public static func write(_ tensors: [TensorSource], metadata: [String: String], to path: String) throws -> String {
        let layout = try Layout(tensors, metadata: metadata, path: path)
        return try write(layout, to: path)
    }

    /// Reads the safetensors file at `path`, validating its whole structure, and returns
    /// its tensors by name (values converted to Float) and its `__metadata__`.
    public static func read(path: String) throws -> (tensors: [String: TensorRecord], metadata: [String: String]) {
        try parse(readWholeFile(path), path: path)
    }

    // MARK: Writing

    /// A validated list of tensors in file order with the encoded header.
    struct Layout {
        let path: String
        let tensors: [TensorSource]
        let header: [UInt8]

        /// Validates `tensors` (names, shapes vs value counts, integer values) and builds the header.
        init(_ tensors: [TensorSource], metadata: [String: String], path: String) throws {
            var seen = Set<String>()
            for tensor in tensors {
                func fail(_ reason: String) -> CheckpointError {
                    .invalidTensor(path: path, tensor: tensor.name, reason: reason)
                }
                if tensor.name.isEmpty { throw fail("the name is empty") }
                if tensor.name == "__metadata__" { throw fail("the name '__metadata__' is reserved for metadata") }
                if !seen.insert(tensor.name).inserted { throw fail("the name occurs twice") }
                guard let count = SafeTensors.elementCount(tensor.shape) else { throw fail("shape \(tensor.shape) has a negative or too large dimension") }
                if count != tensor.values.count {
                    throw fail("shape \(tensor.shape) holds \(count) elements but \(tensor.values.count) values were given")
                }
                switch tensor.dtype {
                case .f32, .f64: break
                case .i64:
                    if let bad = tensor.values.firstIndex(where: { Int64(exactly: $0) == nil }) {
                        throw fail("value \(tensor.values[bad]) at index \(bad) is not a whole number representable as I64")
                    }
                case .i32:
                    if let bad = tensor.values.firstIndex(where: { Int32(exactly: $0) == nil }) {
                        throw fail("value \(tensor.values[bad]) at index \(bad) is not a whole number representable as I32")
                    }
                }
            }
            self.path = path
            self.tensors = tensors.sorted { $0.name < $1.name }

            var json = "{"
            var first = true
            if !metadata.isEmpty {
                json += "\"__metadata__\":{"
                json += metadata.sorted { $0.key < $1.key }
                    .map { "\(jsonString($0.key)):\(jsonString($0.value))" }
                    .joined(separator: ",")
                json += "}"
                first = false
            }
            var offset = 0
            for tensor in self.tensors {
                let size = tensor.values.count * tensor.dtype.byteSize
                if !first { json += "," }
                first = false
                json += "\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\","
                json += "\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                json += "\"data_offsets\":[\(offset),\(offset + size)]}"
                offset += size
            }
            json += "}"
            var bytes = Array(json.utf8)
            while bytes.count % 8 != 0 { bytes.append(0x20) }
            var header: [UInt8] = []
            header.reserveCapacity(8 + bytes.count)
            for i in 0..<8 { header.append(UInt8(truncatingIfNeeded: UInt64(bytes.count) >> UInt64(8 * i))) }
            header.append(contentsOf: bytes)
            self.header = header
        }
    }

    /// Writes a validated layout to `path`; see ``write(_:metadata:to:)``.
    static func write(_ layout: Layout, to path: String) throws -> String {
        let writer = try DurableFileWriter(creating: path)
        do {
            try writer.write(layout.header)
            for tensor in layout.tensors {
                try writeValues(tensor, to: writer)
            }
            return try writer.finish()
        } catch {
            unlink(path)
            throw error
        }
    }

    /// Writes one tensor's elements as little-endian `tensor.dtype`.
    private static func writeValues(_ tensor: TensorSource, to writer: DurableFileWriter) throws {
        let values = tensor.values
        #if _endian(little)
        if tensor.dtype == .f32 {
            try writer.write(UnsafeRawBufferPointer(values))
            return
        }
        #endif
        let chunk = 8192
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk * 8, alignment: 8)
        defer { scratch.deallocate() }
        var start = 0
        while start < values.count {
            let end = min(start + chunk, values.count)
            var offset = 0
            for value in values[start..<end] {
                switch tensor.dtype {
                case .f32: scratch.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
                case .f64: scratch.storeBytes(of: Double(value).bitPattern.littleEndian, toByteOffset: offset, as: UInt64.self)
                case .i64: scratch.storeBytes(of: Int64(value).littleEndian, toByteOffset: offset, as: Int64.self)
                case .i32: scratch.storeBytes(of: Int32(value).littleEndian, toByteOffset: offset, as: Int32.self)
                }
                offset += tensor.dtype.byteSize
            }
            try writer.write(UnsafeRawBufferPointer(rebasing: scratch[0..<offset]))
            start = end
        }
    }

    /// `text` as a JSON string literal, escaped like serde_json (the Python package's writer).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: Reading

    /// The whole file at `path`.
    static func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(path: path, operation: "open for reading", reason: DurableIO.errnoDescription()) }
        defer { _ = close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw CheckpointError.io(path: path, operation: "stat", reason: DurableIO.errnoDescription()) }
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while offset < size {
                let n = pread(fd, buffer.baseAddress! + offset, size - offset, off_t(offset))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError.io(path: path, operation: "read", reason: DurableIO.errnoDescription())
                }
                if n == 0 { break }
                offset += n
            }
        }
        if offset < size { bytes.removeLast(size - offset) }
        return bytes
    }

    /// One tensor entry of the JSON header.
    private struct HeaderEntry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    /// The JSON header: tensor entries plus the optional `__metadata__` object.
    private struct Header: Decodable {
        var entries: [String: HeaderEntry] = [:]
        var metadata: [String: String] = [:]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    entries[key.stringValue] = try container.decode(HeaderEntry.self, forKey: key)
                }
            }
        }
    }

    /// Parses and validates a whole safetensors file held in `bytes`; `path` is for messages.
    static func parse(_ bytes: [UInt8], path: String) throws -> (tensors: [String: TensorRecord], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw CheckpointError.fileTooShort(path: path, size: bytes.count) }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << UInt64(8 * i) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw CheckpointError.headerLengthOutOfRange(path: path, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        guard headerLength > 0 else {
            throw CheckpointError.invalidHeader(path: path, reason: "the header is empty")
        }
        guard bytes[8] == UInt8(ascii: "{") else {
            throw CheckpointError.invalidHeader(path: path, reason: "the header does not start with '{'")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[8..<dataStart]))
        } catch let error as DecodingError {
            throw CheckpointError.invalidHeader(path: path, reason: SafeTensors.describe(error))
        } catch {
            throw CheckpointError.invalidHeader(path: path, reason: "\(error)")
        }

        struct Placed { let name: String; let dtype: SafeTensorsDType; let shape: [Int]; let begin: Int; let end: Int }
        var placed: [Placed] = []
        for (name, entry) in header.entries {
            guard let dtype = SafeTensorsDType(rawValue: entry.dtype) else {
                throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: entry.dtype)
            }
            guard let count = SafeTensors.elementCount(entry.shape) else {
                throw CheckpointError.invalidHeader(path: path, reason: "tensor '\(name)' has shape \(entry.shape) with a negative or too large dimension")
            }
            let offsets = entry.data_offsets
            guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize else {
                throw CheckpointError.offsetsOutOfRange(path: path, tensor: name, offsets: offsets, dataSize: dataSize)
            }
            let (bytesNeeded, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, bytesNeeded == offsets[1] - offsets[0] else {
                throw CheckpointError.shapeOffsetMismatch(path: path, tensor: name, shape: entry.shape, dtype: dtype.rawValue, byteCount: offsets[1] - offsets[0])
            }
            placed.append(Placed(name: name, dtype: dtype, shape: entry.shape, begin: offsets[0], end: offsets[1]))
        }
        // The data section must be tiled exactly: no overlaps, no gaps, nothing after the end.
        placed.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        var previous: String?
        for tensor in placed {
            if tensor.begin < covered, let previous {
                throw CheckpointError.overlappingTensors(path: path, first: previous, second: tensor.name)
            }
            if tensor.begin > covered {
                throw CheckpointError.gapInData(path: path, tensor: tensor.name, begin: tensor.begin, expectedBegin: covered)
            }
            covered = tensor.end
            previous = tensor.name
        }
        if covered < dataSize {
            throw CheckpointError.trailingBytes(path: path, count: dataSize - covered)
        }

        var records: [String: TensorRecord] = [:]
        bytes.withUnsafeBytes { raw in
            for tensor in placed {
                let base = dataStart + tensor.begin
                let count = (tensor.end - tensor.begin) / tensor.dtype.byteSize
                let values = [Float](unsafeUninitializedCapacity: count) { out, initialized in
                    for i in 0..<count {
                        let at = base + i * tensor.dtype.byteSize
                        switch tensor.dtype {
                        case .f32: out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                        case .f64: out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))))
                        case .i64: out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int64.self)))
                        case .i32: out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self)))
                        }
                    }
                    initialized = count
                }
                records[tensor.name] = TensorRecord(name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, values: values)
            }
        }
        return (records, header.metadata)
    }

    // MARK: Helpers

    /// The number of elements of `shape` (1 for a scalar), or nil for a negative dimension or overflow.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// A short description of a decoding error: what was wrong and where.
    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let .dataCorrupted(context):
            let underlying = context.underlyingError.map { " (\($0.localizedDescription))" } ?? ""
            return "not valid JSON at \(at(context.codingPath)): \(context.debugDescription)\(underlying)"
        case let .keyNotFound(key, context):
            return "missing key '\(key.stringValue)' at \(at(context.codingPath))"
        case let .typeMismatch(type, context):
            return "expected \(type) at \(at(context.codingPath)): \(context.debugDescription)"
        case let .valueNotFound(type, context):
            return "missing \(type) value at \(at(context.codingPath))"
        @unknown default:
            return "\(error)"
        }
    }
}
