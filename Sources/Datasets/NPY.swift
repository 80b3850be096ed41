/// The element types of `.npy` arrays this reader accepts (little-endian, as NumPy writes
/// them on every common machine).
public enum NPYDType: String, Sendable, CaseIterable {
    /// `<f4`: 32-bit float.
    case float32 = "<f4"
    /// `<f8`: 64-bit float.
    case float64 = "<f8"
    /// `|u1`: unsigned byte.
    case uint8 = "|u1"
    /// `|i1`: signed byte.
    case int8 = "|i1"
    /// `<i2`: 16-bit signed integer.
    case int16 = "<i2"
    /// `<u2`: 16-bit unsigned integer.
    case uint16 = "<u2"
    /// `<i4`: 32-bit signed integer.
    case int32 = "<i4"
    /// `<u4`: 32-bit unsigned integer.
    case uint32 = "<u4"
    /// `<i8`: 64-bit signed integer.
    case int64 = "<i8"
    /// `<u8`: 64-bit unsigned integer.
    case uint64 = "<u8"

    /// Bytes per element, the digit of the descriptor (`<f4`: 4).
    public var size: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16, .uint16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// Whether the type holds integers (the only kinds allowed for labels).
    public var isInteger: Bool { self != .float32 && self != .float64 }

    /// Parses a `descr` string; `<u1`/`|b1`-style aliases of bytes are accepted.
    init?(descr: String) {
        switch descr {
        case "<u1", "=u1", "u1", "B": self = .uint8
        case "<i1", "=i1", "i1", "b": self = .int8
        default: self.init(rawValue: descr)
        }
    }
}

/// An array read from a `.npy` file: its shape, element type and raw little-endian payload.
///
/// ```swift
/// let a = try NPY.read(path: "x.npy")
/// a.shape            // [100, 3, 32, 32]
/// let x = a.floats() // as Float, row-major
/// ```
public struct NPYArray: Sendable {
    /// The array's shape (`[]` for a scalar).
    public let shape: [Int]
    /// The element type.
    public let dtype: NPYDType
    /// The raw payload, `count * dtype.size` bytes in C (row-major) order.
    public let payload: [UInt8]

    /// The number of elements: the product of `shape`.
    public var count: Int { shape.reduce(1, *) }

    /// The elements converted to `Float` (integers exactly up to 2^24; no scaling).
    public func floats() -> [Float] {
        let n = count
        return payload.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: n) { out, done in
                switch dtype {
                case .float32: for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
                case .float64: for i in 0..<n { out[i] = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian)) }
                default:
                    for i in 0..<n { out[i] = Float(integer(raw, i)) }
                }
                done = n
            }
        }
    }

    /// The elements as integers; `nil` when the element type is a float type.
    /// (`<u8` values above `Int64.max` wrap; labels never reach them.)
    public func integers() -> [Int64]? {
        guard dtype.isInteger else { return nil }
        let n = count
        return payload.withUnsafeBytes { raw in (0..<n).map { integer(raw, $0) } }
    }

    @inline(__always)
    private func integer(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Int64 {
        switch dtype {
        case .uint8: return Int64(raw[i])
        case .int8: return Int64(Int8(bitPattern: raw[i]))
        case .int16: return Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
        case .uint16: return Int64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        case .int32: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
        case .uint32: return Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        case .int64: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        case .uint64: return Int64(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
        case .float32, .float64: return 0
        }
    }
}

/// Reader and writer for NumPy's `.npy` format (versions 1.0, 2.0 and 3.0 of the header),
/// plain or gzip-compressed.
///
/// Accepted element types: `<f4 <f8 |u1 |i1 <i2 <u2 <i4 <u4 <i8 <u8`. Only C (row-major)
/// order is read: a Fortran-order array is refused with the NumPy call that fixes it.
/// The payload must be exactly the size the shape implies.
///
/// ```swift
/// try NPY.write([1, 2, 3, 4, 5, 6], shape: [2, 3], to: "x.npy")
/// let a = try NPY.read(path: "x.npy")    // a.shape == [2, 3], a.dtype == .float32
/// ```
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads and validates the `.npy` file at `path`; throws ``DataError/npy(path:reason:)``.
    public static func read(path: String) throws -> NPYArray {
        try parse(FileIO.readAll(path: path), path: path)
    }

    /// Writes `values` as a `.npy` file of dtype `<f4` and the given shape
    /// (`values.count` must equal the product of `shape`; `[]` is a scalar).
    /// `numpy.load(path)` reads it back. A path ending in `.gz` is written gzip-compressed.
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try values.withUnsafeBytes { try write(bytes: $0, count: values.count, descr: "<f4", shape: shape, to: path) }
    }

    /// Writes `values` as a `.npy` file of dtype `<i8` (int64) and the given shape.
    public static func write(_ values: [Int64], shape: [Int], to path: String) throws {
        try values.withUnsafeBytes { try write(bytes: $0, count: values.count, descr: "<i8", shape: shape, to: path) }
    }

    /// The header (version 1.0, or 2.0 when it does not fit) and the little-endian payload.
    private static func write(bytes: UnsafeRawBufferPointer, count: Int, descr: String, shape: [Int], to path: String) throws {
        precondition(shape.allSatisfy { $0 >= 0 }, "NPY.write: negative dimension in \(shape)")
        precondition(count == shape.reduce(1, *), "NPY.write: \(count) values for shape \(shape)")
        let dims = shape.map(String.init)
        let shapeText = shape.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad with spaces so that magic + version + length + header (+ '\n') is a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        let useV2 = unpadded > 65535
        let prefix = useV2 ? 12 : 10
        let total = (prefix + header.utf8.count + 1 + 63) / 64 * 64
        header += String(repeating: " ", count: total - prefix - header.utf8.count - 1) + "\n"
        var out = magic + [useV2 ? 2 : 1, 0]
        let len = header.utf8.count
        if useV2 {
            out += [UInt8(len & 0xFF), UInt8((len >> 8) & 0xFF), UInt8((len >> 16) & 0xFF), UInt8(len >> 24)]
        } else {
            out += [UInt8(len & 0xFF), UInt8(len >> 8)]
        }
        out += Array(header.utf8)
        out.reserveCapacity(out.count + bytes.count)
        #if _endian(little)
        out.append(contentsOf: bytes)
        #else
        let width = bytes.count / max(count, 1)
        for i in 0..<count { out.append(contentsOf: bytes[(i * width)..<((i + 1) * width)].reversed()) }
        #endif
        try FileIO.write(out, to: path, gzip: path.hasSuffix(".gz"))
    }

    /// Parses the bytes of a `.npy` file (see ``read(path:)``).
    static func parse(_ data: [UInt8], path: String) throws -> NPYArray {
        func fail(_ reason: String) -> DataError { .npy(path: path, reason: reason) }
        guard data.count >= 10, Array(data[0..<6]) == magic else {
            throw fail("not a NumPy .npy file (the magic string \\x93NUMPY is missing); "
                + "write it with numpy.save")
        }
        let major = data[6], minor = data[7]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw fail("file truncated inside the header") }
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        default:
            throw fail("format version \(major).\(minor) is not supported (expected 1.0, 2.0 or 3.0)")
        }
        guard data.count >= headerStart + headerLength else {
            throw fail("header declares \(headerLength) bytes but the file ends after "
                + "\(data.count - headerStart) (truncated)")
        }
        guard let header = String(validating: data[headerStart ..< headerStart + headerLength], as: UTF8.self)
        else { throw fail("header is not valid text") }
        let fields = try parseHeader(header, fail: fail)
        guard let dtype = NPYDType(descr: fields.descr) else {
            let hint = fields.descr.hasPrefix(">")
                ? "big-endian arrays are not supported; convert with a.astype(a.dtype.newbyteorder('<'))"
                : "supported: " + NPYDType.allCases.map(\.rawValue).joined(separator: " ")
                    + "; convert with a.astype('<f4')"
            throw fail("dtype '\(fields.descr)' is not supported (\(hint))")
        }
        if fields.fortranOrder {
            throw fail("array is stored in Fortran (column-major) order; only C order is supported. "
                + "Save it with numpy.save(path, numpy.ascontiguousarray(a))")
        }
        // Every size is overflow-checked: a header may claim any shape.
        guard let count = checkedProduct(fields.shape),
              case let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.size), !overflow
        else {
            throw fail("shape \(fields.shape) of \(dtype.rawValue) needs more than \(Int.max) bytes, "
                + "more than any machine can hold; the header is corrupt")
        }
        let payloadStart = headerStart + headerLength
        let found = data.count - payloadStart
        guard expected == found else {
            throw fail("shape \(fields.shape) of \(dtype.rawValue) needs \(expected) payload bytes, "
                + "found \(found) (\(found < expected ? "truncated" : "trailing bytes")); "
                + "write the file again with numpy.save")
        }
        return NPYArray(shape: fields.shape, dtype: dtype, payload: Array(data[payloadStart...]))
    }

    /// Extracts `descr`, `fortran_order` and `shape` from the Python dict literal header.
    static func parseHeader(_ fullHeader: String, fail: (String) -> DataError) throws
        -> (descr: String, fortranOrder: Bool, shape: [Int])
    {
        // Messages quote the header; a corrupt one may be 4 GB of anything, so quote its start.
        let header = fullHeader.count > 200 ? String(fullHeader.prefix(200)) + "..." : fullHeader
        func valueIn(_ header: String, after key: String) -> Substring? {
            for quote in ["'", "\""] {
                if let r = header.range(of: quote + key + quote) {
                    var rest = header[r.upperBound...].drop(while: { $0 == " " })
                    guard rest.first == ":" else { return nil }
                    rest = rest.dropFirst().drop(while: { $0 == " " })
                    return rest
                }
            }
            return nil
        }
        func value(after key: String) -> Substring? { valueIn(fullHeader, after: key) }
        guard let d = value(after: "descr"), let q = d.first, q == "'" || q == "\"",
            let close = d.dropFirst().firstIndex(of: q)
        else { throw fail("header has no readable 'descr' entry: \(header)") }
        let descr = String(d[d.index(after: d.startIndex) ..< close])
        guard let f = value(after: "fortran_order") else {
            throw fail("header has no 'fortran_order' entry: \(header)")
        }
        let fortran: Bool
        if f.hasPrefix("True") { fortran = true }
        else if f.hasPrefix("False") { fortran = false }
        else { throw fail("header's 'fortran_order' is neither True nor False: \(header)") }
        guard let s = valueIn(fullHeader, after: "shape"), s.first == "(", let end = s.firstIndex(of: ")") else {
            throw fail("header has no readable 'shape' tuple: \(header)")
        }
        var shape = [Int]()
        for part in s[s.index(after: s.startIndex) ..< end].split(separator: ",") {
            let t = part.trimmingCharacters(in: " ")
            if t.isEmpty { continue }
            guard let v = Int(t.hasSuffix("L") ? String(t.dropLast()) : t), v >= 0 else {
                let quoted = t.count > 40 ? String(t.prefix(40)) + "..." : t
                throw fail("shape entry '\(quoted)' is not a non-negative integer below 2^63: \(header)")
            }
            shape.append(v)
        }
        return (descr, fortran, shape)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}

/// Loads a classification dataset from two `.npy` files: features of shape `[N, ...]`
/// (any accepted dtype, converted to `Float` without scaling) and integer labels of shape
/// `[N]` (or `[N, 1]`).
///
/// `sampleShape` defaults to the features' trailing dimensions (`[1]` for a 1-D array); a
/// given shape must have the same number of elements. `classCount` defaults to the largest
/// label + 1.
///
/// ```swift
/// let d = try NPYDataset.load(featuresPath: "x.npy", labelsPath: "y.npy",
///                             sampleShape: [1, 28, 28], classCount: 10)
/// ```
public enum NPYDataset {
    /// Reads and validates the pair; see the type's documentation.
    public static func load(featuresPath: String, labelsPath: String, sampleShape: [Int]? = nil,
                            classCount: Int? = nil) throws -> Dataset
    {
        try make(features: NPY.read(path: featuresPath), labels: NPY.read(path: labelsPath),
                 featuresPath: featuresPath, labelsPath: labelsPath, sampleShape: sampleShape, classCount: classCount)
    }

    /// As ``load(featuresPath:labelsPath:sampleShape:classCount:)``, from arrays already
    /// read; the paths only name the files in errors.
    static func make(features x: NPYArray, labels y: NPYArray, featuresPath: String, labelsPath: String,
                     sampleShape: [Int]?, classCount: Int?) throws -> Dataset
    {
        guard let n = x.shape.first else {
            throw DataError.npy(path: featuresPath, reason: "features are a scalar; expected shape [N, ...]")
        }
        guard let rawLabels = y.integers() else {
            throw DataError.npy(
                path: labelsPath,
                reason: "labels have dtype \(y.dtype.rawValue); expected an integer dtype "
                    + "(convert with y.astype('<i8'))")
        }
        guard y.shape.count == 1 || (y.shape.count == 2 && y.shape[1] == 1) else {
            throw DataError.npy(path: labelsPath, reason: "labels have shape \(y.shape); expected [N] or [N, 1]")
        }
        guard y.shape[0] == n else {
            throw DataError.countMismatch(
                featuresPath: featuresPath, featureCount: n, labelsPath: labelsPath, labelCount: y.shape[0])
        }
        let trailing = x.shape.count == 1 ? [1] : Array(x.shape.dropFirst())
        let shape = sampleShape ?? trailing
        // With no samples the file's own count check passes for any trailing shape, so the
        // sample size is checked here: (0, 2^40, 2^40) must not overflow below.
        guard let sampleSize = checkedProduct(trailing) else {
            throw DataError.npy(
                path: featuresPath,
                reason: "samples of shape \(trailing) would hold more than \(Int.max) values each; the header is corrupt")
        }
        guard checkedProduct(shape) == sampleSize, shape.allSatisfy({ $0 > 0 }) else {
            throw DataError.npy(
                path: featuresPath,
                reason: "samples have shape \(trailing) (\(sampleSize) values) but the "
                    + "requested sample shape \(shape) has \(checkedProduct(shape).map(String.init) ?? "too many"); pass a matching shape")
        }
        // Labels become Int32; the largest class count is Int32.max, so the largest label one less.
        let largestLabel = Int64(Int32.max) - 1
        if let i = rawLabels.firstIndex(where: { $0 < 0 || $0 > largestLabel }) {
            throw DataError.npy(
                path: labelsPath,
                reason: "label \(rawLabels[i]) of sample \(i) is outside 0...\(largestLabel); labels are class indices")
        }
        let classes: Int
        if let k = classCount {
            guard k > 0 else { throw DataError.invalidDataset(reason: "class count \(k) must be positive") }
            classes = k
        } else {
            classes = Int(rawLabels.max() ?? 0) + 1
        }
        var labels = [Int32](repeating: 0, count: rawLabels.count)
        for (i, l) in rawLabels.enumerated() {
            guard l < Int64(classes) else {
                throw DataError.labelOutOfRange(path: labelsPath, index: i, label: Int(l), classCount: classes)
            }
            labels[i] = Int32(l)
        }
        let features = x.floats()
        // A NaN or infinity in the input would make every replica's loss NaN at its first step.
        if let i = features.firstIndex(where: { !$0.isFinite }) {
            let what = features[i].isNaN ? "NaN" : "an infinity"
            let original = x.dtype == .float64 ? " (a float64 value beyond Float's range becomes one)" : ""
            throw DataError.npy(
                path: featuresPath,
                reason: "value \(i % max(1, sampleSize)) of sample \(i / max(1, sampleSize)) (element \(i)) is \(what)\(original); "
                    + "features must be finite numbers: clean them with numpy.nan_to_num or drop the sample")
        }
        return try Dataset(
            name: lastPathComponent(featuresPath), sampleShape: shape, classCount: classes,
            features: features, labels: labels)
    }
}

/// The product of `dimensions`, or nil when it overflows `Int` (or a dimension is negative).
/// Every size read from a file header goes through this before any arithmetic.
func checkedProduct(_ dimensions: [Int]) -> Int? {
    var product = 1
    for d in dimensions {
        guard d >= 0 else { return nil }
        let (p, overflow) = product.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        product = p
    }
    return product
}
