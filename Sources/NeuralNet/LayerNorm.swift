/// Layer normalisation over the last dimension, PyTorch's `nn.LayerNorm(C)` (eps 1e-5,
/// elementwise affine): each row of `C` features is normalised by its own mean and
/// (biased) variance, then scaled by `weight` (ones) and shifted by `bias` (zeros).
/// Works on `[N, C]`, `[N, T, C]` or any shape ending in `C`; the same in training and
/// evaluation.
///
/// ```swift
/// LayerNorm(128)   // [N, T, 128] -> [N, T, 128]
/// ```
public final class LayerNorm: Layer {
    /// The normalised (last) dimension.
    public let features: Int
    /// Added to the variance.
    public let epsilon: Float
    private var gamma: UnsafeMutablePointer<Float>!, beta: UnsafeMutablePointer<Float>!
    private var gammaGrad: UnsafeMutablePointer<Float>!, betaGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let normalized = Tensor(shape: [0])   // x̂, the input's shape
    private var invStd: [Float] = []              // one per row
    private var scratch: [Float]                  // one row of dy·γ
    private var cachedShape: [Int] = []

    /// A LayerNorm over `features` with PyTorch's default eps 1e-5.
    public init(_ features: Int, epsilon: Float = 1e-5) {
        precondition(features > 0, "LayerNorm: features \(features) must be positive")
        precondition(epsilon > 0, "LayerNorm: epsilon \(epsilon) must be positive")
        self.features = features
        self.epsilon = epsilon
        scratch = [Float](repeating: 0, count: features)
    }

    public var description: String { "LayerNorm((\(features),), eps=\(epsilon), elementwise_affine=True)" }
    public var parameterSpecs: [TensorSpec] { [TensorSpec("weight", [features]), TensorSpec("bias", [features])] }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        gamma = parameters; beta = parameters + features
        gammaGrad = gradients; betaGrad = gradients + features
    }
    /// Fills parameters with PyTorch's default initialisation (weight ones, bias zeros).
    public func resetParameters(rng: inout SeededRNG) {
        gamma.update(repeating: 1, count: features)
        beta.update(repeating: 0, count: features)
    }
    /// Per-sample output shape, or an error naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.last == features else { throw NeuralNetError.inputShapeMismatch(expected: [features], got: shape) }
        return shape
    }

    /// x: [N, ..., C] -> same shape; each row of C: y = γ·(x - mean)/√(var + eps) + β
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count >= 2 && x.shape.last == features,
                         "\(description): input \(x.shape), expected [N, ..., \(features)]")
            output.resize(to: x.shape); gradInput.resize(to: x.shape); normalized.resize(to: x.shape)
            invStd = [Float](repeating: 0, count: x.count / features)
        }
        let c = features, rows = x.count / c, gm = gamma!, bt = beta!
        invStd.withUnsafeMutableBufferPointer { inv in
            for r in 0..<rows {
                let p = x.data + r * c, xh = normalized.data + r * c, y = output.data + r * c
                let mean = vectorSum(p, c) / Float(c)
                let variance = vectorSquaredDeviations(p, c, mean: mean) / Float(c)
                let istd = 1 / (variance + epsilon).squareRoot()
                inv[r] = istd
                for j in 0..<c {
                    xh[j] = (p[j] - mean) * istd
                    y[j] = gm[j] * xh[j] + bt[j]
                }
            }
        }
        return output
    }

    /// dy -> dx = (1/σ)·(g - mean(g) - x̂·mean(g·x̂)) with g = dy·γ; dγ += Σ_rows dy·x̂, dβ += Σ_rows dy
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "\(description).backward: gradient \(dy.shape), output \(output.shape)")
        let c = features, rows = dy.count / c, gm = gamma!, gg = gammaGrad!, bg = betaGrad!
        invStd.withUnsafeBufferPointer { inv in
            scratch.withUnsafeMutableBufferPointer { buffer in
                let g = buffer.baseAddress!
                for r in 0..<rows {
                    let d = dy.data + r * c, xh = normalized.data + r * c
                    for j in 0..<c {
                        gg[j] += d[j] * xh[j]
                        bg[j] += d[j]
                    }
                    guard computeInputGradient else { continue }
                    for j in 0..<c { g[j] = d[j] * gm[j] }
                    let meanG = vectorSum(g, c) / Float(c), meanGx = vectorDot(g, xh, c) / Float(c)
                    let istd = inv[r], dx = gradInput.data + r * c
                    for j in 0..<c { dx[j] = istd * (g[j] - meanG - xh[j] * meanGx) }
                }
            }
        }
        return computeInputGradient ? gradInput : nil
    }
}
