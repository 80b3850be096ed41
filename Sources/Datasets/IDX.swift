/// Reader and writer for IDX files, the format of MNIST and Fashion-MNIST, plain or gzip.
///
/// An IDX file is: two zero bytes, one element-type byte (`0x08` = unsigned byte, the only
/// type supported here), one dimension-count byte, then each dimension as a big-endian
/// `UInt32`, then the elements in row-major order. Images files carry the magic number
/// `0x00000803` (`[count, rows, cols]`), labels files `0x00000801` (`[count]`).
///
/// ```swift
/// let (dims, bytes) = try IDX.read(path: "train-labels-idx1-ubyte.gz")   // dims == [60000]
/// ```
public enum IDX {
    /// The magic number of an MNIST images file: unsigned bytes, three dimensions.
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// The magic number of an MNIST labels file: unsigned bytes, one dimension.
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Reads an unsigned-byte IDX file (plain or gzip) of any dimension count, validating the
    /// header and that the payload is exactly the product of the dimensions.
    public static func read(path: String) throws -> (dimensions: [Int], bytes: [UInt8]) {
        let data = try FileIO.readAll(path: path)
        let (dims, offset) = try parseHeader(data, path: path, expectedMagic: nil)
        return (dims, Array(data[offset...]))
    }

    /// Reads an MNIST images file: magic `0x00000803`, dimensions `[count, rows, cols]`.
    public static func readImages(path: String) throws -> (dimensions: [Int], bytes: [UInt8]) {
        let data = try FileIO.readAll(path: path)
        let (dims, offset) = try parseHeader(data, path: path, expectedMagic: imagesMagic)
        return (dims, Array(data[offset...]))
    }

    /// Reads an MNIST labels file: magic `0x00000801`, dimensions `[count]`.
    public static func readLabels(path: String) throws -> [UInt8] {
        let data = try FileIO.readAll(path: path)
        let (_, offset) = try parseHeader(data, path: path, expectedMagic: labelsMagic)
        return Array(data[offset...])
    }

    /// Writes unsigned bytes as an IDX file (gzip-compressed when `gzip`), e.g. to export a
    /// subset or to build test fixtures. `bytes.count` must equal the product of `dimensions`.
    public static func write(dimensions: [Int], bytes: [UInt8], to path: String, gzip: Bool = false) throws {
        precondition(!dimensions.isEmpty && dimensions.count <= 255,
                     "IDX.write: \(dimensions.count) dimensions, need 1...255")
        precondition(dimensions.allSatisfy { $0 >= 0 && $0 <= Int(UInt32.max) },
                     "IDX.write: dimensions \(dimensions) must fit UInt32")
        precondition(bytes.count == dimensions.reduce(1, *),
                     "IDX.write: \(bytes.count) bytes for dimensions \(dimensions)")
        var out: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        out.reserveCapacity(4 + 4 * dimensions.count + bytes.count)
        for d in dimensions { appendBigEndian(UInt32(d), to: &out) }
        out.append(contentsOf: bytes)
        try FileIO.write(out, to: path, gzip: gzip)
    }

    /// Validates the decompressed contents of an IDX file and returns its dimensions and the
    /// payload's offset. `expectedMagic` (if given) must match.
    static func parseHeader(_ data: [UInt8], path: String, expectedMagic: UInt32?) throws
        -> (dimensions: [Int], payloadOffset: Int)
    {
        guard data.count >= 4 else {
            throw DataError.unsupportedFormat(
                path: path,
                reason: "file is \(data.count) bytes, too short for an IDX header (at least 4). "
                    + "Download or reinstall the file")
        }
        let magic = readBigEndian(data, at: 0)
        if let expected = expectedMagic, magic != expected {
            throw DataError.badMagic(path: path, expected: expected, found: magic)
        }
        guard data[0] == 0, data[1] == 0 else {
            throw DataError.badMagic(path: path, expected: expectedMagic ?? 0x0000_0800, found: magic)
        }
        guard data[2] == 0x08 else {
            throw DataError.unsupportedFormat(
                path: path,
                reason: "IDX element type expected 0x08 (unsigned byte), found 0x"
                    + String(data[2], radix: 16) + "; only unsigned-byte IDX files are supported")
        }
        let ndims = Int(data[3])
        guard ndims > 0 else {
            throw DataError.unsupportedFormat(
                path: path, reason: "IDX dimension count expected at least 1, found 0")
        }
        let headerSize = 4 + 4 * ndims
        guard data.count >= headerSize else {
            throw DataError.unsupportedFormat(
                path: path,
                reason: "header declares \(ndims) dimensions (\(headerSize) header bytes) but the "
                    + "file has only \(data.count) bytes (truncated). Download or reinstall the file")
        }
        var dims = [Int]()
        var expectedBytes = 1
        var overflow = false
        for k in 0..<ndims {
            let d = Int(readBigEndian(data, at: 4 + 4 * k))
            dims.append(d)
            let (p, o) = expectedBytes.multipliedReportingOverflow(by: d)
            expectedBytes = p
            overflow = overflow || o
        }
        let found = data.count - headerSize
        guard !overflow, expectedBytes == found else {
            throw DataError.sizeMismatch(
                path: path, dimensions: dims, expectedBytes: overflow ? Int.max : expectedBytes,
                foundBytes: found)
        }
        return (dims, headerSize)
    }

    static func readBigEndian(_ d: [UInt8], at i: Int) -> UInt32 {
        UInt32(d[i]) << 24 | UInt32(d[i + 1]) << 16 | UInt32(d[i + 2]) << 8 | UInt32(d[i + 3])
    }

    static func appendBigEndian(_ v: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8((v >> 16) & 0xFF))
        out.append(UInt8((v >> 8) & 0xFF)); out.append(UInt8(v & 0xFF))
    }
}

/// Loads any pair of MNIST-style IDX files (images + labels) into a ``Dataset``.
///
/// Pixels (unsigned bytes) become `Float` in `[0, 1]` (divided by 255); the sample shape
/// is `[1, rows, cols]`. Image and label counts must agree and every label must be below
/// `classCount`.
///
/// ```swift
/// let train = try MNISTStyle.load(imagesPath: "train-images-idx3-ubyte.gz",
///                                 labelsPath: "train-labels-idx1-ubyte.gz",
///                                 classCount: 10, name: "mnist/train")
/// ```
public enum MNISTStyle {
    /// Reads and validates an images/labels pair; see the type's documentation.
    public static func load(imagesPath: String, labelsPath: String, classCount: Int = 10, name: String)
        throws -> Dataset
    {
        try parse(images: FileIO.readAll(path: imagesPath), imagesPath: imagesPath,
                  labels: FileIO.readAll(path: labelsPath), labelsPath: labelsPath, classCount: classCount, name: name)
    }

    /// As ``load(imagesPath:labelsPath:classCount:name:)``, from the files' bytes (plain,
    /// not gzip); the paths only name the files in errors.
    static func parse(images data: [UInt8], imagesPath: String, labels labelData: [UInt8], labelsPath: String,
                      classCount: Int, name: String) throws -> Dataset
    {
        let (dims, offset) = try IDX.parseHeader(data, path: imagesPath, expectedMagic: IDX.imagesMagic)
        guard dims.count == 3 else {
            throw DataError.unsupportedFormat(
                path: imagesPath,
                reason: "images file expected 3 dimensions [count, rows, cols], found \(dims.count) \(dims)")
        }
        let labelOffset = try IDX.parseHeader(labelData, path: labelsPath, expectedMagic: IDX.labelsMagic).payloadOffset
        let labelBytes = labelData[labelOffset...]
        guard dims[0] == labelBytes.count else {
            throw DataError.countMismatch(
                featuresPath: imagesPath, featureCount: dims[0], labelsPath: labelsPath,
                labelCount: labelBytes.count)
        }
        guard dims[1] > 0, dims[2] > 0 else {
            throw DataError.unsupportedFormat(
                path: imagesPath, reason: "image size \(dims[1])x\(dims[2]) must be positive")
        }
        var labels = [Int32](repeating: 0, count: labelBytes.count)
        for (i, b) in labelBytes.enumerated() {  // i counts from 0 whatever the slice's indices
            guard Int(b) < classCount else {
                throw DataError.labelOutOfRange(path: labelsPath, index: i, label: Int(b), classCount: classCount)
            }
            labels[i] = Int32(b)
        }
        let total = data.count - offset
        let features = [Float](unsafeUninitializedCapacity: total) { buf, n in
            data.withUnsafeBufferPointer { src in
                let pixels = src.baseAddress! + offset
                let scale: Float = 1.0 / 255.0
                for i in 0..<total { buf[i] = Float(pixels[i]) * scale }
            }
            n = total
        }
        return Dataset(
            unchecked: name, sampleShape: [1, dims[1], dims[2]], classCount: classCount,
            features: features, labels: labels)
    }
}
