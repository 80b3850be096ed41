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
