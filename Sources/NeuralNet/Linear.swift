/// A fully connected layer `y = x Wᵀ + b`, PyTorch's `nn.Linear`.
///
/// Weight `[out, in]`, bias `[out]`, both initialised uniform in `±1/sqrt(in)` like PyTorch.
///
/// ```swift
/// let fc = Linear(784, 10)     // x: [N, 784] -> [N, 10]
/// ```
public final class Linear: Layer, FLOPCounting {
    /// Input features.
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int
    /// Whether the layer adds a bias `[out]` (PyTorch's `bias=True`).
    public let hasBias: Bool
    private var weight: UnsafeMutablePointer<Float>!
    private var bias: UnsafeMutablePointer<Float>!
    private var weightGrad: UnsafeMutablePointer<Float>!
    private var biasGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var input: Tensor?
    private var cachedShape: [Int] = []

    /// A layer mapping `inFeatures` to `outFeatures`.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: features \(inFeatures), \(outFeatures) must be positive")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.hasBias = bias
    }

    /// `"Linear(in_features=784, out_features=10, bias=True)"`, as PyTorch prints it.
    public var description: String {
        "Linear(in_features=\(inFeatures), out_features=\(outFeatures), bias=\(hasBias ? "True" : "False"))"
    }
    /// `weight` `[out, in]`, then `bias` `[out]` when the layer has one.
    public var parameterSpecs: [TensorSpec] {
        [TensorSpec("weight", [outFeatures, inFeatures])] + (hasBias ? [TensorSpec("bias", [outFeatures])] : [])
    }
    /// The weight at the start of the window, the bias right after its `out·in` floats.
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        weight = parameters
        weightGrad = gradients
        bias = parameters + outFeatures * inFeatures
        biasGrad = gradients + outFeatures * inFeatures
    }
    /// Weight and bias uniform in `±1/sqrt(in)`, as PyTorch's `nn.Linear`.
    public func resetParameters(rng: inout SeededRNG) {
        let w = Initializer.pytorchDefault(fanIn: inFeatures)
        w.fill(UnsafeMutableBufferPointer(start: weight, count: outFeatures * inFeatures), rng: &rng)
        if hasBias { w.fill(UnsafeMutableBufferPointer(start: bias, count: outFeatures), rng: &rng) }
    }
    /// `[in] -> [out]`; any other shape throws ``NeuralNetError/inputShapeMismatch(expected:got:)``.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape == [inFeatures] else { throw NeuralNetError.inputShapeMismatch(expected: [inFeatures], got: shape) }
        return [outFeatures]
    }
    /// `2·in·out` for each of the forward, weight-gradient and (when computed) input-gradient GEMMs.
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        2 * inFeatures * outFeatures * (computeInputGradient ? 3 : 2)
    }

    /// x: [N, in] -> [N, out]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 2 && x.shape[1] == inFeatures, "Linear.forward: input \(x.shape), expected [N, \(inFeatures)]")
            output.resize(to: [x.shape[0], outFeatures])
            gradInput.resize(to: x.shape)
        }
        input = x
        let n = x.shape[0], y = output.data
        if hasBias {
            for r in 0..<n { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        gemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures,
             a: x.data, lda: inFeatures, b: weight, ldb: inFeatures, beta: hasBias ? 1 : 0, c: y, ldc: outFeatures)
        return output
    }

    /// dy: [N, out] -> dx: [N, in]; dW += dyᵀ x, db += Σ_n dy
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        precondition(dy.shape == output.shape, "Linear.backward: gradient \(dy.shape), output \(output.shape)")
        let n = x.shape[0]
        gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n,
             a: dy.data, lda: outFeatures, b: x.data, ldb: inFeatures, beta: 1, c: weightGrad, ldc: inFeatures)
        if hasBias {
            let g = dy.data, bg = biasGrad!
            for r in 0..<n {
                let row = g + r * outFeatures
                for j in 0..<outFeatures { bg[j] += row[j] }
            }
        }
        guard computeInputGradient else { return nil }
        gemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures,
             a: dy.data, lda: outFeatures, b: weight, ldb: inFeatures, beta: 0, c: gradInput.data, ldc: inFeatures)
        return gradInput
    }
}
