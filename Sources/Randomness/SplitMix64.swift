/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter advanced by the golden-ratio
/// increment and passed through a bijective finaliser. Lockstep uses it to expand one seed
/// into the four words of ``SeededRNG`` and to derive independent seeds from a seed and
/// stream numbers, such as (seed, rank, step) for dropout masks.
public enum SplitMix64 {
    /// The golden-ratio increment, 2^64 / phi.
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The finaliser: a bijection on 64-bit words that spreads every input bit over the
    /// whole output.
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Advances `state` by one increment and returns the mixed value.
    @inlinable
    public static func next(_ state: inout UInt64) -> UInt64 {
        state &+= increment
        return mix(state)
    }

    /// A seed derived from `seed` and two stream numbers; distinct streams give
    /// independent-looking seeds.
    @inlinable
    public static func derive(_ seed: UInt64, _ a: UInt64, _ b: UInt64) -> UInt64 {
        mix(seed &+ increment &* (a &+ 1) &+ 0xBF58_476D_1CE4_E5B9 &* (b &+ 1))
    }
}
