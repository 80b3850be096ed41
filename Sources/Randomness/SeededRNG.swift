/// A seeded, portable pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// The same seed gives the same stream on every machine and every rank, which is what
/// makes initial weights, shuffles and dropout masks reproducible across a cluster.
/// It is a value type: copying it forks the stream, and its four words are its whole
/// state, so a checkpoint can save and restore it exactly.
///
/// ```swift
/// var rng = SeededRNG(seed: 42)
/// let u = rng.nextFloat()        // uniform in [0, 1)
/// let k = rng.next(below: 10)    // uniform in 0..<10
/// ```
public struct SeededRNG: RandomNumberGenerator, Sendable, Equatable, Codable {
    /// The generator's complete state.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose stream is a pure function of `seed`.
    public init(seed: UInt64) {
        var s = seed
        state = (SplitMix64.next(&s), SplitMix64.next(&s), SplitMix64.next(&s), SplitMix64.next(&s))
    }

    /// A generator for one stream of a family, e.g. `(seed, epoch)` for shuffles.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: seed ^ (stream &* 0xD6E8_FEB8_6659_FD93) &+ 0x632B_E59B_D9B4_E019)
    }

    /// Restores a generator from a saved state (see ``state``).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "SeededRNG: the all-zero state is invalid")
        self.state = state
    }

    @inlinable
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = SeededRNG.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = SeededRNG.rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1), from the top 24 bits (every Float in the range is equally spaced).
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform in `0..<bound` without modulo bias (Lemire's method). `bound` must be > 0.
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "SeededRNG.next(below:): bound \(bound) must be positive")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// A standard normal sample (Box-Muller on two uniforms; portable, no cached spare).
    public mutating func nextNormal() -> Float {
        let u1 = max(nextDouble(), 1e-300)
        let u2 = nextDouble()
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// A uniformly random permutation of `0..<count` (Fisher-Yates).
    public mutating func permutation(_ count: Int) -> [Int32] {
        var p = [Int32](unsafeUninitializedCapacity: count) { buf, n in
            for i in 0..<count { buf[i] = Int32(truncatingIfNeeded: i) }
            n = count
        }
        p.withUnsafeMutableBufferPointer { buf in
            var i = count - 1
            while i > 0 {
                let j = next(below: i + 1)
                buf.swapAt(i, j)
                i -= 1
            }
        }
        return p
    }

    public static func == (a: SeededRNG, b: SeededRNG) -> Bool { a.state == b.state }

    enum CodingKeys: CodingKey { case state }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let words = try c.decode([UInt64].self, forKey: .state)
        guard words.count == 4, words != [0, 0, 0, 0] else {
            throw DecodingError.dataCorruptedError(
                forKey: .state, in: c, debugDescription: "RNG state must be four words, not all zero")
        }
        state = (words[0], words[1], words[2], words[3])
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([state.0, state.1, state.2, state.3], forKey: .state)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@inline(__always) private func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
