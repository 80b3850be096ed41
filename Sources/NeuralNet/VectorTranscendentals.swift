// exp, sigmoid and tanh on eight floats at a time, for the recurrent layers' gates: a call
// of libm's expf or tanhf per element costs more than the gate GEMMs around it. Each is
// within a few float ulps of the exact value (Cephes' single-precision polynomials).

/// e^x, eight lanes; arguments are clamped to [-87.3, 88.3] (no overflow, no denormals).
@inline(__always)
func vectorExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // clamped by masks: `clamped(lowerBound:upperBound:)` stays a generic call
    let low = SIMD8<Float>(repeating: -87.3), high = SIMD8<Float>(repeating: 88.3)
    let x = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
    // n = round(x / ln 2) through the 1.5·2^23 trick: t's low mantissa bits hold n
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4   // x - n·ln 2 in two parts
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    let e = p * (r * r) + r + 1
    let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
    return e * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// 1 / (1 + e^-x), eight lanes.
@inline(__always)
func vectorSigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    1 / (1 + vectorExp(-x))
}

/// tanh(x), eight lanes: an odd polynomial below |x| = 0.625 (no cancellation near 0),
/// `1 - 2 / (e^{2|x|} + 1)` with x's sign above.
@inline(__always)
func vectorTanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let negative = x .< 0
    let a = x.replacing(with: -x, where: negative)
    let z = a * a
    var p = SIMD8<Float>(repeating: -5.704_988_72e-3)
    p = p * z + 2.063_908_88e-2
    p = p * z - 5.373_971_55e-2
    p = p * z + 1.333_144_22e-1
    p = p * z - 3.333_328_19e-1
    let small = p * z * a + a
    var large = 1 - 2 / (vectorExp(a + a) + 1)
    large.replace(with: small, where: a .< 0.625)
    return large.replacing(with: -large, where: negative)
}

@inline(__always)
func loadVector(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func storeVector(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
