import Foundation
import MPI

/// Helpers that turn a failure on some ranks into the same ``CollectiveError`` on every
/// rank, so that all of them stop together with one clear message and none hangs in a
/// later collective waiting for a rank that gave up.
public enum Collective {
    /// Runs `body` on every rank. If it throws anywhere, the lowest failing rank's message
    /// is sent to every rank and all throw it (prefixed with the rank when it is not 0).
    public static func everywhere<T>(_ world: Communicator, _ body: () throws -> T) throws -> T {
        var result: T?
        var message = ""
        var code: Int32 = 2
        do { result = try body() } catch let error as CollectiveError {
            message = error.message; code = error.exitCode
        } catch {
            message = error.userMessage
        }
        try raiseIfAnyFailed(world, failed: result == nil, message: message, code: code)
        return result!
    }

    /// Runs `body` on `root` only; a failure there is thrown on every rank.
    public static func onRoot<T>(_ world: Communicator, root: Int = 0, _ body: () throws -> T) throws -> T? {
        var result: T?
        var message = ""
        var code: Int32 = 2
        var failed = false
        if world.rank == root {
            do { result = try body() } catch let error as CollectiveError {
                message = error.message; code = error.exitCode; failed = true
            } catch {
                message = error.userMessage; failed = true
            }
        }
        try raiseIfAnyFailed(world, failed: failed, message: message, code: code)
        return result
    }

    private static func raiseIfAnyFailed(_ world: Communicator, failed: Bool, message: String, code: Int32) throws {
        var firstFailing = [failed ? world.rank : world.size]
        try world.allreduce(&firstFailing, op: .min)
        let r = firstFailing[0]
        guard r < world.size else { return }
        let text = try broadcast(string: message, from: r, world)
        var exitCode = [code]
        try world.broadcast(&exitCode, from: r)
        throw CollectiveError(r == 0 || world.size == 1 ? text : "rank \(r): \(text)", exitCode: exitCode[0])
    }

    /// Sends `string` from `root` to every rank.
    public static func broadcast(string: String, from root: Int, _ world: Communicator) throws -> String {
        var bytes = Array(string.utf8)
        var length = [bytes.count]
        try world.broadcast(&length, from: root)
        if world.rank != root { bytes = [UInt8](repeating: 0, count: length[0]) }
        try world.broadcast(&bytes, from: root)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// 64-bit FNV-1a, for cheap equality checks across ranks.
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}

/// A 64-bit checksum of a Float buffer's bit patterns (order-sensitive), for comparing
/// replicas bit for bit.
func checksum(_ values: UnsafeMutableBufferPointer<Float>) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    guard let base = values.baseAddress else { return h }
    let words = UnsafeRawPointer(base).assumingMemoryBound(to: UInt32.self)
    for i in 0..<values.count { h = (h ^ UInt64(words[i])) &* 0x0000_0100_0000_01B3 }
    return h
}
