// Reductions written with eight-lane accumulators: Swift keeps strict floating-point
// order, so a plain `s += p[i]` loop never vectorises.

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Σ p[i] for i in 0..<n.
@inline(__always)
func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n { acc += load8(p + i); i += 8 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Σ (p[i] - mean)² for i in 0..<n.
@inline(__always)
func vectorSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 8 <= n { let d = load8(p + i) - m; acc += d * d; i += 8 }
    var s = acc.sum()
    while i < n { let d = p[i] - mean; s += d * d; i += 1 }
    return s
}

/// Σ a[i]·b[i] for i in 0..<n.
@inline(__always)
func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n { acc += load8(a + i) * load8(b + i); i += 8 }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

@inline(__always)
private func store8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Copies `n` floats inline (im2col rows are ~10 floats: a memmove call per row costs more
/// than the copy). `dst` and `src` must not overlap.
@inline(__always)
func copyShortRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    if n >= 8 {
        var i = 0
        while i + 8 <= n { store8(dst + i, load8(src + i)); i += 8 }
        if i < n { store8(dst + n - 8, load8(src + n - 8)) }   // overlapping tail, same values
    } else {
        var i = 0
        while i < n { dst[i] = src[i] + 0; i += 1 }   // `+ 0` keeps LLVM from emitting a memcpy call
    }
}

/// `dst[i] += src[i]` for `n` floats, inline.
@inline(__always)
func addShortRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n { store8(dst + i, load8(dst + i) + load8(src + i)); i += 8 }
    while i < n { dst[i] += src[i]; i += 1 }
}

/// e^x in eight lanes: Cephes' `expf` (x = n·ln 2 + r, a degree-6 polynomial in r, 2^n put
/// into the exponent bits); relative error below 1.2e-7 for |x| < 88.37, and 0 below
/// -88.37 (where e^x is under the smallest normal float). Swift has no vector `exp`; a
/// scalar `expf` per element costs about six times more (GELU's Swift path). Written with
/// builtin-backed operations only: the generic `rounded(_:)`, `clamped` and `pointwiseMax`
/// and float-to-int conversions run lane by lane and made it 50 times slower.
@inline(__always)
func vectorExp(_ v: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -88.3762626647949), hi = SIMD8<Float>(repeating: 88.3762626647949)
    var x0 = v.replacing(with: lo, where: v .< lo)
    x0 = x0.replacing(with: hi, where: x0 .> hi)
    let magic = SIMD8<Float>(repeating: 12582912)   // 1.5·2^23: adding it rounds to an integer
    let t = x0 * 1.44269504088896341 + magic          // n in the low mantissa bits
    let n = t - magic
    let x = x0 - n * 0.693359375 + n * 2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * x + 1.3981999507e-3
    p = p * x + 8.3334519073e-3
    p = p * x + 4.1665795894e-2
    p = p * x + 1.6666665459e-1
    p = p * x + 5.0000001201e-1
    p = p * (x * x) + x + 1
    let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23   // 2^n
    return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// Loads eight floats from `p` (unaligned).
@inline(__always)
func vectorLoad(_ p: UnsafePointer<Float>) -> SIMD8<Float> { load8(p) }

/// Stores eight floats at `p` (unaligned).
@inline(__always)
func vectorStore(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) { store8(p, v) }
