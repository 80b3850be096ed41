/// Multi-head self-attention, PyTorch's `nn.MultiheadAttention(dim, heads, batch_first=True)`
/// called as `attn(x, x, x, attn_mask=mask, need_weights=False)` (no dropout), with
/// PyTorch's packed layout:
///
/// - `in_proj_weight` `[3·dim, dim]`: rows `0..<dim` project the queries, then keys, then
///   values; xavier-uniform initialised. `in_proj_bias` `[3·dim]`, zeros.
/// - `out_proj.weight` `[dim, dim]`, uniform `±1/sqrt(dim)` like `nn.Linear`;
///   `out_proj.bias` `[dim]`, zeros.
///
/// Head `h` uses features `h·dim/heads ..< (h+1)·dim/heads` of each projection; scores are
/// `QKᵀ/sqrt(dim/heads)`. With `causal`, position `i` attends to positions `0...i` (PyTorch's
/// `attn_mask=torch.triu(torch.ones(T, T, dtype=torch.bool), 1)`).
///
/// The projections are one GEMM over all `N·T` rows; scores, softmax and the value product run
/// per (sample, head) as GEMMs over blocks of query rows (a causal block stops at its last
/// row's key, so the masked half is mostly not computed); the softmax is ``rowSoftmax``, which
/// subtracts each row's max.
///
/// ```swift
/// let attn = MultiheadAttention(128, heads: 4, causal: true)   // [N, T, 128] -> [N, T, 128]
/// ```
public final class MultiheadAttention: Layer, FLOPCounting {
    /// Model width (`embed_dim`).
    public let dimension: Int
    /// Number of heads.
    public let heads: Int
    /// Features per head (`dimension / heads`).
    public let headDimension: Int
    /// Whether position `i` sees only positions `0...i`.
    public let causal: Bool
    /// Query rows (and, in backward, key columns) per score GEMM, at least 1: smaller skips
    /// more of the causal mask's zero half, larger makes fewer and bigger GEMMs. Results do
    /// not depend on it beyond rounding.
    public var blockRows = 32 {
        didSet { precondition(blockRows >= 1, "MultiheadAttention.blockRows \(blockRows) must be at least 1") }
    }

    private var inWeight: UnsafeMutablePointer<Float>!, inBias: UnsafeMutablePointer<Float>!
    private var outWeight: UnsafeMutablePointer<Float>!, outBias: UnsafeMutablePointer<Float>!
    private var inWeightGrad: UnsafeMutablePointer<Float>!, inBiasGrad: UnsafeMutablePointer<Float>!
    private var outWeightGrad: UnsafeMutablePointer<Float>!, outBiasGrad: UnsafeMutablePointer<Float>!
    private let qkv = Tensor(shape: [0])            // [N, T, 3·dim]: q | k | v per row
    private let probabilities = Tensor(shape: [0])  // [N, heads, T, T], zeros where masked
    private let attended = Tensor(shape: [0])       // [N, T, dim]: heads side by side
    private let output = Tensor(shape: [0])         // [N, T, dim]
    private let gradAttended = Tensor(shape: [0])   // [N, T, dim]
    private let gradQKV = Tensor(shape: [0])        // [N, T, 3·dim]
    private let gradScores = Tensor(shape: [0])     // [T, T], one (sample, head) at a time; forward's scores too
    private let gradInput = Tensor(shape: [0])      // [N, T, dim]
    private var input: Tensor?
    private var cachedShape: [Int] = []

    /// Self-attention over `dimension` features split into `heads` heads.
    public init(_ dimension: Int, heads: Int, causal: Bool = false) {
        precondition(dimension > 0 && heads > 0, "MultiheadAttention: dimension \(dimension) and heads \(heads) must be positive")
        precondition(dimension % heads == 0, "MultiheadAttention: dimension \(dimension) is not divisible by heads \(heads)")
        self.dimension = dimension
        self.heads = heads
        self.headDimension = dimension / heads
        self.causal = causal
    }

    public var description: String {
        "MultiheadAttention(embed_dim=\(dimension), num_heads=\(heads), batch_first=True, causal=\(causal ? "True" : "False"))"
    }
    /// Trainable tensors, in arena order (PyTorch's state_dict order).
    public var parameterSpecs: [TensorSpec] {
        [TensorSpec("in_proj_weight", [3 * dimension, dimension]), TensorSpec("in_proj_bias", [3 * dimension]),
         TensorSpec("out_proj.weight", [dimension, dimension]), TensorSpec("out_proj.bias", [dimension])]
    }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        let d = dimension
        inWeight = parameters; inWeightGrad = gradients
        inBias = parameters + 3 * d * d; inBiasGrad = gradients + 3 * d * d
        outWeight = inBias + 3 * d; outWeightGrad = inBiasGrad + 3 * d
        outBias = outWeight + d * d; outBiasGrad = outWeightGrad + d * d
    }
    /// PyTorch's initialisation: xavier-uniform `in_proj_weight`, Linear-default
    /// `out_proj.weight`, zero biases.
    public func resetParameters(rng: inout SeededRNG) {
        let d = dimension
        Initializer.xavierUniform(fanIn: d, fanOut: 3 * d).fill(UnsafeMutableBufferPointer(start: inWeight, count: 3 * d * d), rng: &rng)
        inBias.update(repeating: 0, count: 3 * d)
        Initializer.pytorchDefault(fanIn: d).fill(UnsafeMutableBufferPointer(start: outWeight, count: d * d), rng: &rng)
        outBias.update(repeating: 0, count: d)
    }
    /// Per-sample output shape (`[T, dim]`), or an error naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[0] > 0, shape[1] == dimension else {
            throw NeuralNetError.inputShapeMismatch(expected: [0, dimension], got: shape)
        }
        return shape
    }
    /// Forward + backward FLOPs per sample: the four projections plus the score and value
    /// products (only the unmasked (query, key) pairs when causal).
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        let t = inputShape[0], d = dimension
        let pairs = causal ? t * (t + 1) / 2 : t * t
        let projections = 2 * t * 4 * d * d * 3 - (computeInputGradient ? 0 : 2 * t * 3 * d * d)
        return projections + 12 * d * pairs   // QKᵀ, PV; dP, dV, dQ, dK
    }

    /// Columns of query row block `r0..<r1` that any row in it attends to.
    @inline(__always)
    private func keyLimit(_ r1: Int, _ t: Int) -> Int { causal ? r1 : t }

    /// x: [N, T, dim] -> [N, T, dim]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 3 && x.shape[2] == dimension, "\(description): input \(x.shape), expected [N, T, \(dimension)]")
            let n = x.shape[0], t = x.shape[1]
            qkv.resize(to: [n, t, 3 * dimension]); gradQKV.resize(to: [n, t, 3 * dimension])
            probabilities.resize(to: [n, heads, t, t]); gradScores.resize(to: [t, t])
            attended.resize(to: x.shape); gradAttended.resize(to: x.shape)
            output.resize(to: x.shape); gradInput.resize(to: x.shape)
        }
        input = x
        let n = x.shape[0], t = x.shape[1], d = dimension, d3 = 3 * d, hd = headDimension, rows = n * t
        // qkv = x W_inᵀ + b_in: [N·T, 3d]
        for r in 0..<rows { (qkv.data + r * d3).update(from: inBias, count: d3) }
        gemm(transA: false, transB: true, m: rows, n: d3, k: d, a: x.data, lda: d, b: inWeight, ldb: d,
             beta: 1, c: qkv.data, ldc: d3)
        let scale = 1 / Float(hd).squareRoot(), scores = gradScores.data   // backward's scratch, free here
        for b in 0..<n {
            let base = qkv.data + b * t * d3
            for h in 0..<heads {
                let q = base + h * hd, k = base + d + h * hd, v = base + 2 * d + h * hd
                let p = probabilities.data + (b * heads + h) * t * t
                let o = attended.data + b * t * d + h * hd
                var r0 = 0
                while r0 < t {
                    let r1 = min(r0 + blockRows, t), cols = keyLimit(r1, t)
                    // S = scale · Q Kᵀ (rows r0..<r1, keys 0..<cols), then P = softmax of each row's
                    // unmasked keys, exact zeros after them
                    gemm(transA: false, transB: true, m: r1 - r0, n: cols, k: hd, alpha: scale,
                         a: q + r0 * d3, lda: d3, b: k, ldb: d3, beta: 0, c: scores + r0 * t, ldc: t)
                    for i in r0..<r1 {
                        let valid = causal ? i + 1 : t
                        _ = rowSoftmax(scores + i * t, into: p + i * t, count: valid, writing: .probabilities)
                        if valid < t { (p + i * t + valid).update(repeating: 0, count: t - valid) }
                    }
                    // O = P V
                    gemm(transA: false, transB: false, m: r1 - r0, n: hd, k: cols,
                         a: p + r0 * t, lda: t, b: v, ldb: d3, beta: 0, c: o + r0 * d, ldc: d)
                    r0 = r1
                }
            }
        }
        // y = O W_outᵀ + b_out
        for r in 0..<rows { (output.data + r * d).update(from: outBias, count: d) }
        gemm(transA: false, transB: true, m: rows, n: d, k: d, a: attended.data, lda: d, b: outWeight, ldb: d,
             beta: 1, c: output.data, ldc: d)
        return output
    }

    /// dy: [N, T, dim] -> dx: [N, T, dim]; accumulates all four parameter gradients
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("MultiheadAttention.backward before forward") }
        precondition(dy.shape == output.shape, "\(description).backward: gradient \(dy.shape), output \(output.shape)")
        let n = x.shape[0], t = x.shape[1], d = dimension, d3 = 3 * d, hd = headDimension, rows = n * t
        // out_proj: dW_out += dyᵀ O, db_out += Σ dy, dO = dy W_out
        gemm(transA: true, transB: false, m: d, n: d, k: rows, a: dy.data, lda: d, b: attended.data, ldb: d,
             beta: 1, c: outWeightGrad, ldc: d)
        for r in 0..<rows { addShortRow(outBiasGrad, dy.data + r * d, d) }
        gemm(transA: false, transB: false, m: rows, n: d, k: d, a: dy.data, lda: d, b: outWeight, ldb: d,
             beta: 0, c: gradAttended.data, ldc: d)
        let scale = 1 / Float(hd).squareRoot(), ds = gradScores.data
        for b in 0..<n {
            let base = qkv.data + b * t * d3, gbase = gradQKV.data + b * t * d3
            for h in 0..<heads {
                let q = base + h * hd, k = base + d + h * hd, v = base + 2 * d + h * hd
                let dq = gbase + h * hd, dk = gbase + d + h * hd, dv = gbase + 2 * d + h * hd
                let p = probabilities.data + (b * heads + h) * t * t
                let dO = gradAttended.data + b * t * d + h * hd
                // by query rows: dP = dO Vᵀ; dS = P ⊙ (dP - Σ_j P·dP); dQ = scale · dS K
                var r0 = 0
                while r0 < t {
                    let r1 = min(r0 + blockRows, t), cols = keyLimit(r1, t)
                    gemm(transA: false, transB: true, m: r1 - r0, n: cols, k: hd, a: dO + r0 * d, lda: d, b: v, ldb: d3,
                         beta: 0, c: ds + r0 * t, ldc: t)
                    for i in r0..<r1 { softmaxBackwardRow(p + i * t, ds + i * t, valid: causal ? i + 1 : t, width: t) }
                    gemm(transA: false, transB: false, m: r1 - r0, n: hd, k: cols, alpha: scale, a: ds + r0 * t, lda: t,
                         b: k, ldb: d3, beta: 0, c: dq + r0 * d3, ldc: d3)
                    r0 = r1
                }
                // by key columns c0..<c1 (rows from c0 on when causal): dK = scale · dSᵀ Q, dV = Pᵀ dO
                var c0 = 0
                while c0 < t {
                    let c1 = min(c0 + blockRows, t), first = causal ? c0 : 0
                    gemm(transA: true, transB: false, m: c1 - c0, n: hd, k: t - first, alpha: scale,
                         a: ds + first * t + c0, lda: t, b: q + first * d3, ldb: d3, beta: 0, c: dk + c0 * d3, ldc: d3)
                    gemm(transA: true, transB: false, m: c1 - c0, n: hd, k: t - first,
                         a: p + first * t + c0, lda: t, b: dO + first * d, ldb: d, beta: 0, c: dv + c0 * d3, ldc: d3)
                    c0 = c1
                }
            }
        }
        // in_proj: dW_in += dQKVᵀ x, db_in += Σ dQKV, dx = dQKV W_in
        gemm(transA: true, transB: false, m: d3, n: d, k: rows, a: gradQKV.data, lda: d3, b: x.data, ldb: d,
             beta: 1, c: inWeightGrad, ldc: d)
        for r in 0..<rows { addShortRow(inBiasGrad, gradQKV.data + r * d3, d3) }
        guard computeInputGradient else { return nil }
        gemm(transA: false, transB: false, m: rows, n: d, k: d3, a: gradQKV.data, lda: d3, b: inWeight, ldb: d,
             beta: 0, c: gradInput.data, ldc: d)
        return gradInput
    }
}

/// Softmax backward in place: `g[j] = p[j]·(g[j] - Σ_k p[k]·g[k])` over `0..<valid`, zeros after.
@inline(__always)
func softmaxBackwardRow(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, valid: Int, width: Int) {
    let dot = vectorDot(p, g, valid)
    let d8 = SIMD8<Float>(repeating: dot)
    var j = 0
    while j + 8 <= valid { storeVector(g + j, loadVector(p + j) * (loadVector(g + j) - d8)); j += 8 }
    while j < valid { g[j] = p[j] * (g[j] - dot); j += 1 }
    if valid < width { (g + valid).update(repeating: 0, count: width - valid) }
}
