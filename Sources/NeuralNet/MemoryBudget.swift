#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Size checks for allocations whose size comes from outside (a model spec, a flag, a
/// file header, a checkpoint): the size is computed with overflow-checked arithmetic and
/// refused, with a message that gives it, when this machine's memory could not hold it.
/// A trap in `allocate` or an overflow in `count * size` is never the answer to a typo.
///
/// ```swift
/// let bytes = try MemoryBudget.bytes(count: parameters, of: 4 * 4, for: "model mlp:784,99999999999,10")
/// try MemoryBudget.require(bytes, for: "model mlp:784,99999999999,10")
/// ```
public enum MemoryBudget {
    /// This machine's physical memory in bytes (`sysconf(_SC_PHYS_PAGES) * page size`);
    /// `Int.max` when the system does not say.
    public static let physicalBytes: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return Int.max }
        let (bytes, overflow) = Int(pages).multipliedReportingOverflow(by: Int(pageSize))
        return overflow ? Int.max : bytes
    }()

    /// `count * bytesEach`, overflow-checked; throws ``NeuralNetError/tooLarge(what:bytes:available:)``
    /// (with the size written as "more than 8 EiB") when it overflows.
    public static func bytes(count: Int, of bytesEach: Int, for what: String) throws -> Int {
        let (product, overflow) = count.multipliedReportingOverflow(by: bytesEach)
        guard !overflow, count >= 0, bytesEach >= 0 else {
            throw NeuralNetError.tooLarge(what: what, bytes: nil, available: physicalBytes)
        }
        return product
    }

    /// Throws ``NeuralNetError/tooLarge(what:bytes:available:)`` when `bytes` exceeds this
    /// machine's physical memory.
    public static func require(_ bytes: Int, for what: String) throws {
        if bytes > physicalBytes { throw NeuralNetError.tooLarge(what: what, bytes: bytes, available: physicalBytes) }
    }

    /// `bytes` in binary units with three significant digits: `1.5 KiB`, `313 TiB`.
    public static func describe(_ bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(bytes) bytes" }
        let digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
        let scale = [1.0, 10.0, 100.0][digits]
        let rounded = (value * scale).rounded() / scale
        let text = digits == 0 ? String(Int(rounded)) : String(rounded)
        return text + " " + units[unit]
    }
}
