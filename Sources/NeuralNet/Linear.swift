/// A fully connected layer `y = x Wᵀ + b`, PyTorch's `nn.Linear`.
///
/// Weight `[out, in]`, bias `[out]`, both initialised uniform in `±1/sqrt(in)` like PyTorch.
/// Like PyTorch's, it maps the LAST dimension and keeps any others: on a sequence
/// `[N, T, in]` it is one GEMM over the `N·T` rows, giving token-wise outputs `[N, T, out]`
/// (language-model logits, which ``CrossEntropyLoss`` takes with `N·T` labels).
///
/// ```swift
/// let fc = Linear(784, 10)     // x: [N, 784] -> [N, 10]
/// let head = Linear(256, 96)   // x: [N, T, 256] -> [N, T, 96]
/// ```
public final class Linear: Layer, FLOPCounting {
    /// Input features.
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int
    /// Whether the layer adds a bias `[out]` (PyTorch's `bias=True`).
    public let hasBias: Bool
    /// How ``resetParameters(rng:)`` fills the weight (PyTorch's default unless chosen).
    public let weightInit: InitializerKind
    /// How ``resetParameters(rng:)`` fills the bias (PyTorch's default unless chosen).
    public let biasInit: InitializerKind
    private var weight: UnsafeMutablePointer<Float>!
    private var bias: UnsafeMutablePointer<Float>!
    private var weightGrad: UnsafeMutablePointer<Float>!
    private var biasGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var input: Tensor?
    private var cachedShape: [Int] = []

    /// A layer mapping `inFeatures` to `outFeatures`; weight and bias initialised like
    /// PyTorch unless `weightInit`/`biasInit` say otherwise (fans: `in`, `out`).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
                weightInit: InitializerKind = .pytorchDefault, biasInit: InitializerKind = .pytorchDefault) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: features \(inFeatures), \(outFeatures) must be positive")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.hasBias = bias
        self.weightInit = weightInit
        self.biasInit = biasInit
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
        weightInit.initializer(fanIn: inFeatures, fanOut: outFeatures)
            .fill(UnsafeMutableBufferPointer(start: weight, count: outFeatures * inFeatures), rng: &rng)
        if hasBias {
            biasInit.initializer(fanIn: inFeatures, fanOut: outFeatures)
                .fill(UnsafeMutableBufferPointer(start: bias, count: outFeatures), rng: &rng)
        }
    }
    /// Per-sample output shape (`[in]` -> `[out]`, `[T, in]` -> `[T, out]`), or an error
    /// naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.last == inFeatures, shape.count <= 2 else {
            throw NeuralNetError.inputShapeMismatch(expected: [inFeatures], got: shape)
        }
        return shape.dropLast() + [outFeatures]
    }
    /// Forward + backward FLOPs per sample (multiply-add = 2), for every row of a sample.
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        inputShape.dropLast().reduce(1, *) * 2 * inFeatures * outFeatures * (computeInputGradient ? 3 : 2)
    }

    /// x: [N, in] -> [N, out], or x: [N, T, in] -> [N, T, out] (one GEMM over N·T rows)
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count >= 2 && x.shape.last == inFeatures,
                         "Linear.forward: input \(x.shape), expected [N, \(inFeatures)] or [N, T, \(inFeatures)]")
            output.resize(to: x.shape.dropLast() + [outFeatures])
            gradInput.resize(to: x.shape)
        }
        input = x
        let n = x.count / inFeatures, y = output.data
        if hasBias {
            for r in 0..<n { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        gemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures,
             a: x.data, lda: inFeatures, b: weight, ldb: inFeatures, beta: hasBias ? 1 : 0, c: y, ldc: outFeatures)
        return output
    }

    /// dy: [N(, T), out] -> dx: [N(, T), in]; dW += dyᵀ x, db += Σ_rows dy
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        precondition(dy.shape == output.shape, "Linear.backward: gradient \(dy.shape), output \(output.shape)")
        let n = x.count / inFeatures
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
