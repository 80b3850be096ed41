import CZlib
import Foundation

/// Whole-file reading and writing for the data readers: plain files and gzip streams
/// (through zlib), with every failure a thrown ``DataError``.
///
/// Reading goes through zlib's `gzread`, which decompresses gzip files and passes plain
/// files through unchanged, so every reader accepts `x` and `x.gz` alike. A truncated or
/// corrupt gzip stream throws ``DataError/corruptGzip(path:reason:)``.
///
/// ```swift
/// let bytes = try FileIO.readAll(path: "train-images-idx3-ubyte.gz")
/// try FileIO.write(bytes, to: "copy.gz", gzip: true)
/// ```
public enum FileIO {
    /// Whether `path` names an existing regular file (not a directory).
    public static func isFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }

    /// Whether `path` names an existing directory.
    public static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// The complete (decompressed, when gzip) contents of the file at `path`.
    public static func readAll(path: String) throws -> [UInt8] {
        guard isFile(path) else {
            throw DataError.fileNotFound(path: path, tried: [], hint: "Check the path.")
        }
        guard let file = gzopen(path, "rb") else {
            throw DataError.readFailed(path: path, reason: String(cString: strerror(errno)))
        }
        defer { gzclose_r(file) }
        _ = gzbuffer(file, 1 << 18)
        // Read straight into the result, sized by the on-disk size (plain) or the gzip
        // trailer's size (modulo 2^32); a wrong hint only means more reads below.
        let hint = max(1, sizeHint(path: path))
        var failure: DataError? = nil
        var atEnd = false
        var out = [UInt8](unsafeUninitializedCapacity: hint) { buf, filled in
            filled = 0
            while filled < hint {
                let want = UInt32(min(hint - filled, 1 << 30))
                let n = gzread(file, buf.baseAddress! + filled, want)
                if n < 0 { failure = gzipError(file, path: path); return }
                if n == 0 { atEnd = true; return }
                filled += Int(n)
            }
        }
        if let failure { throw failure }
        if !atEnd {
            let chunk = 1 << 20
            var scratch = [UInt8](repeating: 0, count: chunk)
            while true {
                let n = scratch.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(chunk)) }
                if n < 0 { throw gzipError(file, path: path) }
                if n == 0 { break }
                out.append(contentsOf: scratch[0..<Int(n)])
            }
        }
        var errnum: Int32 = 0
        let message = gzerror(file, &errnum)
        if errnum != Z_OK {
            let text = message.map { String(cString: $0) } ?? "zlib error \(errnum)"
            throw DataError.corruptGzip(path: path, reason: text)
        }
        return out
    }

    /// Writes `bytes` to `path`, gzip-compressed when `gzip` is true, replacing any file there.
    public static func write(_ bytes: [UInt8], to path: String, gzip: Bool = false) throws {
        if gzip {
            guard let file = gzopen(path, "wb") else {
                throw DataError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            var offset = 0
            while offset < bytes.count {
                let n = min(1 << 20, bytes.count - offset)
                let written = bytes.withUnsafeBytes {
                    gzwrite(file, $0.baseAddress! + offset, UInt32(n))
                }
                if written != Int32(n) {
                    var errnum: Int32 = 0
                    let msg = gzerror(file, &errnum).map { String(cString: $0) } ?? "gzwrite failed"
                    gzclose_w(file)
                    throw DataError.writeFailed(path: path, reason: msg)
                }
                offset += n
            }
            if gzclose_w(file) != Z_OK {
                throw DataError.writeFailed(path: path, reason: "gzclose failed")
            }
        } else {
            guard let f = fopen(path, "wb") else {
                throw DataError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
            let closed = fclose(f)
            if written != bytes.count || closed != 0 {
                throw DataError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
        }
    }

    private static func gzipError(_ file: gzFile, path: String) -> DataError {
        var errnum: Int32 = 0
        let text = gzerror(file, &errnum).map { String(cString: $0) } ?? "zlib error \(errnum)"
        if errnum == Z_ERRNO {
            return .readFailed(path: path, reason: String(cString: strerror(errno)))
        }
        return .corruptGzip(path: path, reason: text)
    }

    private static func sizeHint(path: String) -> Int {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attrs[.size] as? NSNumber)?.intValue
        else { return 0 }
        guard path.hasSuffix(".gz"), size >= 18, let f = fopen(path, "rb") else { return size }
        defer { fclose(f) }
        var trailer = [UInt8](repeating: 0, count: 4)
        guard fseek(f, -4, SEEK_END) == 0,
            trailer.withUnsafeMutableBytes({ fread($0.baseAddress, 1, 4, f) }) == 4
        else { return size }
        let isize = Int(trailer[0]) | Int(trailer[1]) << 8 | Int(trailer[2]) << 16 | Int(trailer[3]) << 24
        // ISIZE is the size modulo 2^32 and garbage in a truncated file: bound the hint (a
        // larger file is still read completely, by appending).
        return min(isize, 16 * size + (1 << 16))
    }
}
