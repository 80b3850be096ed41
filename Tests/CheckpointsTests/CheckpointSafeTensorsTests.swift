import Foundation
import Testing
@testable import Checkpoints

@Suite struct CheckpointSafeTensorsTests {
    /// The tensors of the Python fixture below.
    static let fixtureTensors = [
        CheckpointTestTensor(name: "conv.weight", shape: [2, 3], values: [0, 0.5, 1, 1.5, 2, 2.5]),
        CheckpointTestTensor(name: "bn.num_batches_tracked", shape: [], dtype: .i64, values: [7]),
        CheckpointTestTensor(name: "conv.bias", shape: [2], values: [1.5, -2]),
        CheckpointTestTensor(name: "z.empty", shape: [0, 3], values: []),
    ]

    /// The exact file Python's `safetensors` 0.8.0 writes for `fixtureTensors`:
    /// ```python
    /// from safetensors.numpy import save
    /// t = {"conv.weight": np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5,
    ///      "bn.num_batches_tracked": np.array(7, dtype=np.int64),
    ///      "conv.bias": np.array([1.5, -2.0], dtype=np.float32),
    ///      "z.empty": np.zeros((0, 3), dtype=np.float32)}
    /// b = save(t, metadata={"format": "pt"})   # header length 304, then:
    /// ```
    static let pythonHeader = #"{"__metadata__":{"format":"pt"},"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"conv.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"conv.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[16,40]},"z.empty":{"dtype":"F32","shape":[0,3],"data_offsets":[40,40]}}       "#
    static let pythonData = "07000000000000000000c03f000000c0000000000000003f0000803f0000c03f0000004000002040"

    static func hexBytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    static var pythonFile: [UInt8] {
        CheckpointTestFiles.littleEndian([UInt64(304)]) + Array(pythonHeader.utf8) + hexBytes(pythonData)
    }

    @Test func writesByteForByteLikePython() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/model.safetensors"
        let sha = try withTensorSources(Self.fixtureTensors) { try SafeTensors.write($0, metadata: ["format": "pt"], to: path) }
        #expect(Self.pythonHeader.utf8.count == 304)
        let written = try CheckpointTestFiles.read(path)
        #expect(written == Self.pythonFile)
        #expect(sha == CheckpointTestFiles.sha256(Self.pythonFile))
        #expect(sha == (try SHA256.hex(ofFile: path)))
    }

    @Test func readsPythonFile() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/python.safetensors"
        try CheckpointTestFiles.write(Self.pythonFile, to: path)
        let (tensors, metadata) = try SafeTensors.read(path: path)
        #expect(metadata == ["format": "pt"])
        #expect(tensors.count == 4)
        #expect(tensors["conv.weight"] == TensorRecord(name: "conv.weight", shape: [2, 3], dtype: .f32, values: [0, 0.5, 1, 1.5, 2, 2.5]))
        #expect(tensors["bn.num_batches_tracked"] == TensorRecord(name: "bn.num_batches_tracked", shape: [], dtype: .i64, values: [7]))
        #expect(tensors["conv.bias"]?.values == [1.5, -2])
        #expect(tensors["z.empty"] == TensorRecord(name: "z.empty", shape: [0, 3], dtype: .f32, values: []))
    }

    @Test func roundTripsShapesDTypesAndMetadata() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/round.safetensors"
        let big = (0..<20_000).map { Float($0) * 0.25 - 7 }
        let tensors = [
            CheckpointTestTensor(name: "0.weight", shape: [4, 1, 3, 3], values: (0..<36).map { Float($0) / 7 }),
            CheckpointTestTensor(name: "0.bias", shape: [4], values: [-1, .pi, 1e-30, 3e38]),
            CheckpointTestTensor(name: "1.running_mean", shape: [4], values: [0.5, -0.5, 0, 1]),
            CheckpointTestTensor(name: "1.num_batches_tracked", shape: [], dtype: .i64, values: [123_456]),
            CheckpointTestTensor(name: "counts", shape: [2, 2], dtype: .i64, values: [-3, 0, 16_777_216, 42]),
            CheckpointTestTensor(name: "scalar", shape: [], values: [2.5]),
            CheckpointTestTensor(name: "big", shape: [100, 200], values: big),
            CheckpointTestTensor(name: "wide", shape: [3], dtype: .f64, values: [1.25, -2, 1e-3]),
            CheckpointTestTensor(name: "ints", shape: [2], dtype: .i32, values: [-7, 9]),
        ]
        let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t bell \u{07} é ∑", "": "empty key"]
        let sha = try withTensorSources(tensors) { try SafeTensors.write($0, metadata: metadata, to: path) }
        #expect(sha == (try SHA256.hex(ofFile: path)))
        let (read, readMetadata) = try SafeTensors.read(path: path)
        #expect(readMetadata == metadata)
        #expect(read.count == tensors.count)
        for tensor in tensors {
            let record = try #require(read[tensor.name])
            #expect(record.shape == tensor.shape, "\(tensor.name)")
            #expect(record.dtype == tensor.dtype, "\(tensor.name)")
            #expect(record.values == tensor.values, "\(tensor.name)")
        }
        // Header length is a multiple of 8 and tensors are laid out sorted by name.
        let bytes = try CheckpointTestFiles.read(path)
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
        let header = String(decoding: bytes[8..<8 + headerLength], as: UTF8.self)
        let positions = tensors.map(\.name).sorted().map { header.range(of: "\"\($0)\":{")!.lowerBound }
        #expect(positions == positions.sorted())
        #expect(header.hasPrefix("{\"__metadata__\":"))
    }

    @Test func writesEmptyMetadataAndNoTensors() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/empty.safetensors"
        _ = try SafeTensors.write([], metadata: [:], to: path)
        #expect(try CheckpointTestFiles.read(path) == CheckpointTestFiles.safeTensors(header: "{}", data: []))
        let (tensors, metadata) = try SafeTensors.read(path: path)
        #expect(tensors.isEmpty && metadata.isEmpty)
    }

    @Test func readsF64AndI32() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/mixed.safetensors"
        let header = #"{"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"i":{"dtype":"I32","shape":[3],"data_offsets":[16,28]}}"#
        let data = CheckpointTestFiles.littleEndian([(0.5 as Double).bitPattern, (-3.25 as Double).bitPattern]) + CheckpointTestFiles.littleEndian([Int32(-1), 0, 100_000])
        try CheckpointTestFiles.write(CheckpointTestFiles.safeTensors(header: header, data: data), to: path)
        let (tensors, _) = try SafeTensors.read(path: path)
        #expect(tensors["d"] == TensorRecord(name: "d", shape: [2], dtype: .f64, values: [0.5, -3.25]))
        #expect(tensors["i"] == TensorRecord(name: "i", shape: [3], dtype: .i32, values: [-1, 0, 100_000]))
    }

    // MARK: Reader rejections

    /// Writes `bytes` to a file and returns the error reading it throws (or nil).
    func readError(_ bytes: [UInt8], in directory: CheckpointTestDirectory) -> (path: String, error: CheckpointError?) {
        let path = directory.path + "/bad.safetensors"
        try! CheckpointTestFiles.write(bytes, to: path)
        do {
            _ = try SafeTensors.read(path: path)
            return (path, nil)
        } catch let error as CheckpointError {
            return (path, error)
        } catch {
            Issue.record("unexpected error type: \(error)")
            return (path, nil)
        }
    }

    static let goodHeader = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    static let goodData = CheckpointTestFiles.littleEndian([Float(1), 2])

    @Test func acceptsTheGoodBaseCase() throws {
        let directory = try CheckpointTestDirectory()
        #expect(readError(CheckpointTestFiles.safeTensors(header: Self.goodHeader, data: Self.goodData), in: directory).error == nil)
    }

    @Test func rejectsShortFile() throws {
        let directory = try CheckpointTestDirectory()
        let (path, error) = readError([1, 0, 0, 0, 0], in: directory)
        #expect(error == .fileTooShort(path: path, size: 5))
        #expect(error?.errorDescription?.contains(path) == true)
    }

    @Test func rejectsEmptyHeader() throws {
        let directory = try CheckpointTestDirectory()
        let (path, error) = readError([0, 0, 0, 0, 0, 0, 0, 0], in: directory)
        #expect(error == .invalidHeader(path: path, reason: "the header is empty"))
    }

    @Test func rejectsHeaderLengthBeyondFile() throws {
        let directory = try CheckpointTestDirectory()
        var bytes = CheckpointTestFiles.safeTensors(header: Self.goodHeader, data: Self.goodData)
        bytes.replaceSubrange(0..<8, with: CheckpointTestFiles.littleEndian([UInt64(10_000)]))
        let (path, error) = readError(bytes, in: directory)
        #expect(error == .headerLengthOutOfRange(path: path, headerLength: 10_000, fileSize: bytes.count))
        bytes.replaceSubrange(0..<8, with: CheckpointTestFiles.littleEndian([UInt64.max]))
        #expect(readError(bytes, in: directory).error == .headerLengthOutOfRange(path: path, headerLength: .max, fileSize: bytes.count))
    }

    @Test(arguments: [
        #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#,  // unterminated
        #"not json at all"#,
        #"[1, 2, 3]"#,
        #"{"a":{"dtype":"F32","shape":[2]}}"#,  // no data_offsets
        #"{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}"#,
        #"{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
    ])
    func rejectsInvalidHeader(header: String) throws {
        let directory = try CheckpointTestDirectory()
        let (path, error) = readError(CheckpointTestFiles.safeTensors(header: header, data: Self.goodData), in: directory)
        guard case let .invalidHeader(errorPath, reason)? = error else {
            Issue.record("expected invalidHeader, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(!reason.isEmpty)
    }

    @Test func rejectsUnknownDType() throws {
        let directory = try CheckpointTestDirectory()
        let header = #"{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}"#
        let (path, error) = readError(CheckpointTestFiles.safeTensors(header: header, data: Self.goodData), in: directory)
        #expect(error == .unsupportedDType(path: path, tensor: "a", dtype: "BF16"))
        #expect(error?.errorDescription?.contains("F32") == true)
    }

    @Test func rejectsShapeOffsetMismatch() throws {
        let directory = try CheckpointTestDirectory()
        let header = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        let (path, error) = readError(CheckpointTestFiles.safeTensors(header: header, data: Self.goodData), in: directory)
        #expect(error == .shapeOffsetMismatch(path: path, tensor: "a", shape: [3], dtype: "F32", byteCount: 8))
    }

    @Test(arguments: [[0, 12], [8, 4], [-4, 4], [0], [0, 4, 8]])
    func rejectsOutOfRangeOffsets(offsets: [Int]) throws {
        let directory = try CheckpointTestDirectory()
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":\#(offsets)}}"#
        let (path, error) = readError(CheckpointTestFiles.safeTensors(header: header, data: Self.goodData), in: directory)
        #expect(error == .offsetsOutOfRange(path: path, tensor: "a", offsets: offsets, dataSize: 8))
    }

    @Test func rejectsOverlappingTensors() throws {
        let directory = try CheckpointTestDirectory()
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let (path, error) = readError(CheckpointTestFiles.safeTensors(header: header, data: CheckpointTestFiles.littleEndian([Float(1), 2, 3])), in: directory)
        #expect(error == .overlappingTensors(path: path, first: "a", second: "b"))
    }

    @Test func rejectsGapBetweenTensors() throws {
        let directory = try CheckpointTestDirectory()
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let (path, error) = readError(CheckpointTestFiles.safeTensors(header: header, data: CheckpointTestFiles.littleEndian([Float(1), 2, 3])), in: directory)
        #expect(error == .gapInData(path: path, tensor: "b", begin: 8, expectedBegin: 4))
    }

    @Test func rejectsTrailingGarbage() throws {
        let directory = try CheckpointTestDirectory()
        let (path, error) = readError(CheckpointTestFiles.safeTensors(header: Self.goodHeader, data: Self.goodData + [9, 9, 9]), in: directory)
        #expect(error == .trailingBytes(path: path, count: 3))
    }

    @Test func rejectsMissingFile() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/nope.safetensors"
        #expect(throws: CheckpointError.self) { try SafeTensors.read(path: path) }
    }

    // MARK: Writer rejections

    @Test(arguments: [
        ([CheckpointTestTensor(name: "a", shape: [2, 2], values: [1, 2, 3])], "a"),
        ([CheckpointTestTensor(name: "n", shape: [], dtype: .i64, values: [1.5])], "n"),
        ([CheckpointTestTensor(name: "n", shape: [1], dtype: .i64, values: [.nan])], "n"),
        ([CheckpointTestTensor(name: "n", shape: [1], dtype: .i32, values: [3e9])], "n"),
        ([CheckpointTestTensor(name: "a", shape: [1], values: [1]), CheckpointTestTensor(name: "a", shape: [1], values: [2])], "a"),
        ([CheckpointTestTensor(name: "__metadata__", shape: [1], values: [1])], "__metadata__"),
        ([CheckpointTestTensor(name: "", shape: [1], values: [1])], ""),
        ([CheckpointTestTensor(name: "neg", shape: [-1], values: [])], "neg"),
    ])
    func writerRejectsInconsistentTensors(tensors: [CheckpointTestTensor], offender: String) throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/out.safetensors"
        do {
            _ = try withTensorSources(tensors) { try SafeTensors.write($0, metadata: [:], to: path) }
            Issue.record("writing \(tensors.map(\.name)) did not throw")
        } catch let CheckpointError.invalidTensor(errorPath, tensor, reason) {
            #expect(errorPath == path)
            #expect(tensor == offender)
            #expect(!reason.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: path), "nothing may be written")
    }

    @Test func writerReportsUnwritablePath() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/no/such/dir/out.safetensors"
        #expect {
            try SafeTensors.write([], metadata: [:], to: path)
        } throws: { error in
            guard case let CheckpointError.io(errorPath, _, _) = error else { return false }
            return errorPath == path
        }
    }
}
