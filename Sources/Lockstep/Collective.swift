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
            message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
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
                message = (error as? LocalizedError)?.errorDescription ?? "\(error)"; failed = true
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

/// Start-up check that every rank runs the same configuration: one small all-reduce of
/// a hash; on a mismatch, the first differing setting is named with both values.
enum ConfigurationCheck {
    static func verify(_ configuration: TrainingConfiguration, world: Communicator) throws {
        guard world.size > 1 else { return }
        let pairs = configuration.flattened()
        let text = pairs.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        let hash = Int64(bitPattern: fnv1a(Array(text.utf8)))
        var bounds = [hash, -hash]   // max of both gives max and -min
        try world.allreduce(&bounds, op: .max)
        if bounds[0] == -bounds[1] { return }

        // Some rank differs: find the first differing key and the lowest rank that has it.
        let rootText = try Collective.broadcast(string: text, from: 0, world)
        let rootPairs = rootText.split(separator: "\n").map { line -> (String, String) in
            let parts = line.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        var firstDiff = Int.max
        for (i, pair) in rootPairs.enumerated() where i >= pairs.count || pairs[i].key != pair.0 || pairs[i].value != pair.1 {
            firstDiff = i
            break
        }
        if firstDiff == Int.max && pairs.count != rootPairs.count { firstDiff = rootPairs.count }
        var where_ = [firstDiff, firstDiff == Int.max ? world.size : world.rank]
        try world.allreduce(&where_, op: .min)
        let key = where_[0] < rootPairs.count ? rootPairs[where_[0]].0 : "?"
        let otherRank = where_[1] < world.size ? where_[1] : 1
        // Rank `otherRank` sends its value of that key.
        let mine = pairs.first(where: { $0.key == key })?.value ?? "(unset)"
        let otherValue = try Collective.broadcast(string: mine, from: otherRank, world)
        let rootValue = rootPairs.first(where: { $0.0 == key })?.1 ?? "(unset)"
        throw CollectiveError(
            "the ranks were started with different configurations: setting '\(key)' is \(rootValue) on rank 0 "
                + "but \(otherValue) on rank \(otherRank); start every rank with the same flags and config file")
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
