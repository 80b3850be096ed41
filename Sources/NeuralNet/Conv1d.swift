/// A 1-D convolution over sequences `[N, C, L]`, PyTorch's `nn.Conv1d` (one group),
/// computed as im2col + ONE GEMM over the whole batch.
///
/// Weight `[out, in, k]`, bias `[out]`, both uniform in `±1/sqrt(in·k)` like PyTorch.
/// Output length: `floor((L + 2·padding - dilation·(k-1) - 1) / stride) + 1`.
///
/// ```swift
/// let conv = Conv1d(16, 32, kernelSize: 3, padding: 1)   // [N, 16, 100] -> [N, 32, 100]
/// ```
public final class Conv1d: Layer, FLOPCounting {
    /// Input channels.
    public let inChannels: Int
    /// Output channels.
    public let outChannels: Int
    /// Kernel length.
    public let kernelSize: Int
    /// Step between windows.
    public let stride: Int
    /// Zeros added at both ends.
    public let padding: Int
    /// Spacing between kernel taps.
    public let dilation: Int
    /// Whether the layer has a bias.
    public let hasBias: Bool

    private var weight: UnsafeMutablePointer<Float>!
    private var weightGrad: UnsafeMutablePointer<Float>!
    private var bias: UnsafeMutablePointer<Float>!
    private var biasGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let columns = Tensor(shape: [0])      // [C·k, N·L']
    private let columnGrad = Tensor(shape: [0])   // [C·k, N·L']
    private let outputT = Tensor(shape: [0])      // [O, N·L'] (also dy transposed in backward)
    private var input: Tensor?
    private var cachedShape: [Int] = []
    private var geometry: PatchGeometry?

    /// A 1-D convolution; traps on non-positive sizes or negative padding.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0 && dilation > 0,
                     "Conv1d: invalid sizes in=\(inChannels) out=\(outChannels) k=\(kernelSize) s=\(stride) p=\(padding) d=\(dilation)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.hasBias = bias
    }

    public var description: String {
        var s = "Conv1d(\(inChannels), \(outChannels), kernel_size=(\(kernelSize),), stride=(\(stride),)"
        if padding != 0 { s += ", padding=(\(padding),)" }
        if dilation != 1 { s += ", dilation=(\(dilation),)" }
        if !hasBias { s += ", bias=False" }
        return s + ")"
    }
    public var parameterSpecs: [TensorSpec] {
        [TensorSpec("weight", [outChannels, inChannels, kernelSize])] + (hasBias ? [TensorSpec("bias", [outChannels])] : [])
    }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        let wc = outChannels * inChannels * kernelSize
        weight = parameters; weightGrad = gradients
        bias = parameters + wc; biasGrad = gradients + wc
    }
    /// Fills parameters with PyTorch's default initialisation.
    public func resetParameters(rng: inout SeededRNG) {
        let i = Initializer.pytorchDefault(fanIn: inChannels * kernelSize)
        i.fill(UnsafeMutableBufferPointer(start: weight, count: outChannels * inChannels * kernelSize), rng: &rng)
        if hasBias { i.fill(UnsafeMutableBufferPointer(start: bias, count: outChannels), rng: &rng) }
    }
    /// Output length for an input length.
    public func outputLength(_ length: Int) -> Int {
        (length + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1
    }
    /// Per-sample `[C, L]` -> `[O, L']`, or an error naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[0] == inChannels, shape[1] + 2 * padding - dilation * (kernelSize - 1) - 1 >= 0 else {
            throw NeuralNetError.inputShapeMismatch(expected: [inChannels, dilation * (kernelSize - 1) + 1 - 2 * padding], got: shape)
        }
        return [outChannels, outputLength(shape[1])]
    }
    /// Forward + backward FLOPs per sample (multiply-add = 2).
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        2 * outChannels * inChannels * kernelSize * outputLength(inputShape[1]) * (computeInputGradient ? 3 : 2)
    }

    /// x: [N, C, L] -> [N, O, L']
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 3 && x.shape[1] == inChannels, "Conv1d.forward: input \(x.shape), expected [N, \(inChannels), L]")
            let l = x.shape[2], ol = outputLength(l)
            precondition(ol >= 1, "Conv1d.forward: input \(x.shape) too short for \(description)")
            let g = PatchGeometry(channels: inChannels, height: 1, width: l, kernelHeight: 1, kernelWidth: kernelSize,
                                  strideHeight: 1, strideWidth: stride, padHeight: 0, padWidth: padding,
                                  dilationHeight: 1, dilationWidth: dilation, outHeight: 1, outWidth: ol)
            geometry = g
            let n = x.shape[0]
            output.resize(to: [n, outChannels, ol])
            gradInput.resize(to: x.shape)
            columns.resize(to: [g.rows, n * ol])
            columnGrad.resize(to: [g.rows, n * ol])
            outputT.resize(to: [outChannels, n * ol])
        }
        input = x
        let g = geometry!, n = x.shape[0], l = x.shape[2], ol = g.outWidth, np = n * ol, k = g.rows
        for s in 0..<n { g.im2col(x.data + s * inChannels * l, columns.data + s * ol, ld: np) }
        gemm(transA: false, transB: false, m: outChannels, n: np, k: k, a: weight, lda: k, b: columns.data, ldb: np,
             beta: 0, c: outputT.data, ldc: np)
        // [O, N·L'] -> [N, O, L'] plus bias
        for o in 0..<outChannels {
            let b: Float = hasBias ? bias[o] : 0
            for s in 0..<n {
                let src = outputT.data + o * np + s * ol, dst = output.data + (s * outChannels + o) * ol
                for q in 0..<ol { dst[q] = src[q] + b }
            }
        }
        return output
    }

    /// dy: [N, O, L'] -> dx: [N, C, L]; dW += dy·columnsᵀ, db += Σ dy
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard let x = input, let g = geometry else { preconditionFailure("Conv1d.backward before forward") }
        precondition(dy.shape == output.shape, "Conv1d.backward: gradient \(dy.shape), output \(output.shape)")
        let n = x.shape[0], l = x.shape[2], ol = g.outWidth, np = n * ol, k = g.rows
        let t = outputT.data   // dy as [O, N·L']
        for o in 0..<outChannels {
            var sum: Float = 0
            for s in 0..<n {
                let src = dy.data + (s * outChannels + o) * ol, dst = t + o * np + s * ol
                dst.update(from: src, count: ol)
                if hasBias { sum += vectorSum(dst, ol) }
            }
            if hasBias { biasGrad[o] += sum }
        }
        gemm(transA: false, transB: true, m: outChannels, n: k, k: np, a: t, lda: np, b: columns.data, ldb: np,
             beta: 1, c: weightGrad, ldc: k)
        guard computeInputGradient else { return nil }
        gemm(transA: true, transB: false, m: k, n: np, k: outChannels, a: weight, lda: k, b: t, ldb: np,
             beta: 0, c: columnGrad.data, ldc: np)
        gradInput.fill(0)
        for s in 0..<n { g.col2im(columnGrad.data + s * ol, gradInput.data + s * inChannels * l, ld: np) }
        return gradInput
    }
}
