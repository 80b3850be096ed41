// Durable file-system primitives for checkpoints: a hashing writer that fsyncs on
// finish, directory fsync, atomic rename/exchange.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one new file with plain `write(2)` calls, hashing every byte written; `finish()`
/// fsyncs and closes it and returns the SHA-256 of the content.
final class DurableFileWriter {
    let path: String
    private var fd: Int32
    private var hasher = SHA256()

    /// Creates (or truncates) the file at `path` with mode 0644.
    init(creating path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.io(path: path, operation: "create", reason: DurableIO.errnoDescription()) }
    }

    deinit {
        if fd >= 0 { _ = close(fd) }
    }

    /// Appends `bytes` to the file, retrying short writes and EINTR.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(fd >= 0, "DurableFileWriter.write after finish")
        hasher.update(bytes)
        var offset = 0
        while offset < bytes.count {
            #if canImport(Darwin)
            let n = Darwin.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            #elseif canImport(Glibc)
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            #else
            let n = Musl.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            #endif
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.io(path: path, operation: "write", reason: DurableIO.errnoDescription())
            }
            offset += n
        }
    }

    /// Appends `bytes` to the file.
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Flushes the file to stable storage, closes it, and returns the SHA-256 hex of
    /// everything written.
    func finish() throws -> String {
        precondition(fd >= 0, "DurableFileWriter.finish called twice")
        let descriptor = fd
        fd = -1
        if fsync(descriptor) != 0 {
            let reason = DurableIO.errnoDescription()
            _ = close(descriptor)
            throw CheckpointError.io(path: path, operation: "fsync", reason: reason)
        }
        if close(descriptor) != 0 {
            throw CheckpointError.io(path: path, operation: "close", reason: DurableIO.errnoDescription())
        }
        return SHA256.hexString(hasher.finalize())
    }
}

#if canImport(Glibc)
/// `renameat2(2)`, looked up at run time: Glibc's Swift module does not declare it.
private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
private let renameat2Function: RenameAt2? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
    return unsafeBitCast(symbol, to: RenameAt2.self)
}()
#endif

/// File-system steps that checkpoints rely on for durability and atomicity.
enum DurableIO {
    /// Writes `bytes` to a new file at `path`, fsyncs it, and returns its SHA-256 hex.
    @discardableResult
    static func writeDurably(_ bytes: [UInt8], to path: String) throws -> String {
        let writer = try DurableFileWriter(creating: path)
        try writer.write(bytes)
        return try writer.finish()
    }

    /// Fsyncs the directory at `path`, making renames and creations inside it durable.
    static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(path: path, operation: "open directory", reason: errnoDescription()) }
        defer { _ = close(fd) }
        if fsync(fd) != 0 {
            throw CheckpointError.io(path: path, operation: "fsync directory", reason: errnoDescription())
        }
    }

    /// Renames `source` to `destination` atomically (replacing a file, or an empty directory).
    static func renameAtomically(_ source: String, to destination: String) throws {
        if rename(source, destination) != 0 {
            throw CheckpointError.io(path: source, operation: "rename to \(destination)", reason: errnoDescription())
        }
    }

    /// Atomically swaps the two existing paths `a` and `b` (both stay present throughout).
    ///
    /// Returns false when the platform or file system cannot exchange atomically; the caller
    /// then falls back to two renames.
    static func exchangeAtomically(_ a: String, _ b: String) throws -> Bool {
        #if canImport(Glibc)
        guard let renameat2 = renameat2Function else { return false }
        let renameExchange: UInt32 = 1 << 1  // RENAME_EXCHANGE from <linux/fs.h>
        if renameat2(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0 { return true }
        if errno == EINVAL || errno == ENOSYS || errno == ENOTSUP { return false }
        throw CheckpointError.io(path: a, operation: "exchange with \(b)", reason: errnoDescription())
        #elseif canImport(Darwin)
        if renamex_np(a, b, UInt32(RENAME_SWAP)) == 0 { return true }
        if errno == ENOTSUP || errno == EINVAL { return false }
        throw CheckpointError.io(path: a, operation: "exchange with \(b)", reason: errnoDescription())
        #else
        return false
        #endif
    }

    /// The text of the current `errno`.
    static func errnoDescription() -> String {
        let code = errno
        return String(cString: strerror(code)) + " (errno \(code))"
    }
}
