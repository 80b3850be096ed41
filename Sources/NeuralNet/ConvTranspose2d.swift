/// A 2-D transposed convolution, PyTorch's `nn.ConvTranspose2d(in, out, kernel_size,
/// stride, padding, output_padding)` (one group, no dilation): the adjoint of a
/// ``Conv2d`` with the same geometry, which upsamples in decoders and GAN generators.
///
/// Weight `[in, out, k, k]` (PyTorch's layout, input channels first), bias `[out]`, both
/// uniform in `±1/sqrt(out·k·k)` like PyTorch (whose fan-in for this weight is
/// `weight.size(1)·k·k`). Output side: `(side - 1)·stride - 2·padding + k + outputPadding`;
/// `outputPadding < stride` adds rows and columns at the bottom and right that only the
/// bias reaches, as in PyTorch.
///
/// Per sample, forward is one GEMM `Wᵀ x` `[out·k·k, in] × [in, H·W]` whose columns are
/// scattered into the output (col2im); backward gathers the output gradient (im2col) and
/// runs two GEMMs.
///
/// ```swift
/// let up = ConvTranspose2d(64, 32, kernelSize: 4, stride: 2, padding: 1)   // [N, 64, 7, 7] -> [N, 32, 14, 14]
/// ```
public final class ConvTranspose2d: Layer, FLOPCounting {
    /// Input channels.
    public let inChannels: Int
    /// Output channels.
    public let outChannels: Int
    /// Square kernel side.
    public let kernelSize: Int
    /// Upsampling step in both directions.
    public let stride: Int
    /// Rows and columns removed at every border of the full output.
    public let padding: Int
    /// Extra rows and columns at the bottom and right (below `stride`).
    public let outputPadding: Int
    /// Whether the layer has a bias.
    public let hasBias: Bool

    private var weight: UnsafeMutablePointer<Float>!
    private var weightGrad: UnsafeMutablePointer<Float>!
    private var bias: UnsafeMutablePointer<Float>!
    private var biasGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let columns = Tensor(shape: [0])   // [out·k·k, H·W], one sample
    private var input: Tensor?
    private var cachedShape: [Int] = []
    private var geometry: PatchGeometry?

    /// A transposed convolution; traps on non-positive sizes or `outputPadding >= stride`.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0 && outputPadding >= 0,
                     "ConvTranspose2d: invalid sizes in=\(inChannels) out=\(outChannels) k=\(kernelSize) s=\(stride) p=\(padding) op=\(outputPadding)")
        precondition(outputPadding < stride, "ConvTranspose2d: output padding \(outputPadding) must be smaller than stride \(stride)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.hasBias = bias
    }

    private var taps: Int { outChannels * kernelSize * kernelSize }

    public var description: String {
        var s = "ConvTranspose2d(\(inChannels), \(outChannels), kernel_size=(\(kernelSize), \(kernelSize)), stride=(\(stride), \(stride))"
        if padding != 0 { s += ", padding=(\(padding), \(padding))" }
        if outputPadding != 0 { s += ", output_padding=(\(outputPadding), \(outputPadding))" }
        if !hasBias { s += ", bias=False" }
        return s + ")"
    }
    public var parameterSpecs: [TensorSpec] {
        [TensorSpec("weight", [inChannels, outChannels, kernelSize, kernelSize])] + (hasBias ? [TensorSpec("bias", [outChannels])] : [])
    }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        let wc = inChannels * taps
        weight = parameters; weightGrad = gradients
        bias = parameters + wc; biasGrad = gradients + wc
    }
    /// Fills parameters with PyTorch's default initialisation (fan-in `out·k·k`).
    public func resetParameters(rng: inout SeededRNG) {
        let i = Initializer.pytorchDefault(fanIn: taps)
        i.fill(UnsafeMutableBufferPointer(start: weight, count: inChannels * taps), rng: &rng)
        if hasBias { i.fill(UnsafeMutableBufferPointer(start: bias, count: outChannels), rng: &rng) }
    }
    /// Output side for an input side.
    public func outputSize(_ side: Int) -> Int {
        (side - 1) * stride - 2 * padding + kernelSize + outputPadding
    }
    /// Per-sample `[in, H, W]` -> `[out, H', W']`, or an error naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 3, shape[0] == inChannels, shape[1] >= 1, shape[2] >= 1,
              outputSize(shape[1]) >= 1, outputSize(shape[2]) >= 1 else {
            throw NeuralNetError.inputShapeMismatch(expected: [inChannels, max(shape.count == 3 ? shape[1] : 1, 1),
                                                               max(shape.count == 3 ? shape[2] : 1, 1)], got: shape)
        }
        return [outChannels, outputSize(shape[1]), outputSize(shape[2])]
    }
    /// Forward + backward FLOPs per sample (multiply-add = 2).
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        2 * inChannels * taps * inputShape[1] * inputShape[2] * (computeInputGradient ? 3 : 2)
    }

    /// x: [N, in, H, W] -> [N, out, H', W']
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 4 && x.shape[1] == inChannels,
                         "ConvTranspose2d.forward: input \(x.shape), expected [N, \(inChannels), H, W]")
            let h = x.shape[2], w = x.shape[3], oh = outputSize(h), ow = outputSize(w)
            precondition(oh >= 1 && ow >= 1, "ConvTranspose2d.forward: input \(x.shape) too small for \(description)")
            // patches over the OUTPUT, one per input pixel: the geometry of the matching Conv2d
            geometry = PatchGeometry(channels: outChannels, height: oh, width: ow, kernelHeight: kernelSize, kernelWidth: kernelSize,
                                     strideHeight: stride, strideWidth: stride, padHeight: padding, padWidth: padding,
                                     dilationHeight: 1, dilationWidth: 1, outHeight: h, outWidth: w)
            output.resize(to: [x.shape[0], outChannels, oh, ow])
            gradInput.resize(to: x.shape)
            columns.resize(to: [taps, h * w])
        }
        input = x
        let g = geometry!, n = x.shape[0], p = g.positions, plane = g.height * g.width
        for s in 0..<n {
            gemm(transA: true, transB: false, m: taps, n: p, k: inChannels, a: weight, lda: taps,
                 b: x.data + s * inChannels * p, ldb: p, beta: 0, c: columns.data, ldc: p)
            let y = output.data + s * outChannels * plane
            for o in 0..<outChannels { (y + o * plane).update(repeating: hasBias ? bias[o] : 0, count: plane) }
            g.col2im(columns.data, y, ld: p)
        }
        return output
    }

    /// dy: [N, out, H', W'] -> dx: [N, in, H, W]; dW += x·im2col(dy)ᵀ, db += Σ dy
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard let x = input, let g = geometry else { preconditionFailure("ConvTranspose2d.backward before forward") }
        precondition(dy.shape == output.shape, "ConvTranspose2d.backward: gradient \(dy.shape), output \(output.shape)")
        let n = x.shape[0], p = g.positions, plane = g.height * g.width
        for s in 0..<n {
            let gy = dy.data + s * outChannels * plane
            if hasBias { for o in 0..<outChannels { biasGrad[o] += vectorSum(gy + o * plane, plane) } }
            g.im2col(gy, columns.data, ld: p)
            gemm(transA: false, transB: true, m: inChannels, n: taps, k: p, a: x.data + s * inChannels * p, lda: p,
                 b: columns.data, ldb: p, beta: 1, c: weightGrad, ldc: taps)
            if computeInputGradient {
                gemm(transA: false, transB: false, m: inChannels, n: p, k: taps, a: weight, lda: taps,
                     b: columns.data, ldb: p, beta: 0, c: gradInput.data + s * inChannels * p, ldc: p)
            }
        }
        return computeInputGradient ? gradInput : nil
    }
}
