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
