import CConvKernels

/// A 2-D convolution, PyTorch's `nn.Conv2d`, computed as im2col + one GEMM per group over
/// the whole batch, or (one group, on CPUs with AVX2 and FMA) by direct kernels
/// that skip the column matrix; see ``algorithm``.
///
/// Weight `[out, in/groups, k, k]`, bias `[out]`, both uniform in `±1/sqrt(in/groups·k·k)`.
/// Output size per spatial dim: `floor((in + 2·padding - dilation·(k-1) - 1) / stride) + 1`.
/// `groups == in == out` is a depthwise convolution.
///
/// ```swift
/// let conv = Conv2d(1, 16, kernelSize: 3, stride: 2)   // [N, 1, 28, 28] -> [N, 16, 13, 13]
/// ```
public final class Conv2d: Layer, FLOPCounting {
    /// Input channels.
    public let inChannels: Int
    /// Output channels.
    public let outChannels: Int
    /// Square kernel side.
    public let kernelSize: Int
    /// Stride in both directions.
    public let stride: Int
    /// Zero padding on every side.
    public let padding: Int
    /// Spacing between kernel taps.
    public let dilation: Int
    /// Channel groups (1: dense; `inChannels`: depthwise).
    public let groups: Int
    /// Whether the layer adds a bias `[out]`, one per output channel.
    public let hasBias: Bool
    /// How ``resetParameters(rng:)`` fills the weight (PyTorch's default unless chosen).
    public let weightInit: InitializerKind
    /// How ``resetParameters(rng:)`` fills the bias (PyTorch's default unless chosen).
    public let biasInit: InitializerKind

    private var weight: UnsafeMutablePointer<Float>!
    private var weightGrad: UnsafeMutablePointer<Float>!
    private var bias: UnsafeMutablePointer<Float>!
    private var biasGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let columns = Tensor(shape: [0])        // [C·k·k, N·P]
    private let columnGrad = Tensor(shape: [0])     // [C·k·k, N·P], zero between steps
    // GEMM outputs are kept all-zero between uses (their consumer clears each row after reading
    // it, while it is still in cache), so the GEMMs run with beta = 1 and OpenBLAS skips its
    // separate zeroing pass over C.
    private let outputT = Tensor(shape: [0])        // [O, N·P], zero between steps
    private let gradOutputT = Tensor(shape: [0])    // [O, N·P]
    private var input: Tensor?
    private var cachedShape: [Int] = []
    private var n = 0, h = 0, w = 0, oh = 0, ow = 0
    private var backwardReady = false
    private var gemmForwardReady = false, gemmBackwardReady = false
    /// Whether this input shape runs the direct kernels (see ``algorithm``).
    private var direct = false
    private let packedForward = Tensor(shape: [0])  // [C, k, k, O]
    private let packedInput = Tensor(shape: [0])    // [k, k, O, C]
    private let packedWeightGrad = Tensor(shape: [0])   // [C, k, k, O]
    private let paddedSample = Tensor(shape: [0])   // [C, H+2p, W+2p], zero border
    private let directScratch = Tensor(shape: [0])  // max(H'·W'·O, (H+2p)·(W+2p)·C)
    private let gradientT = Tensor(shape: [0])      // [H'·W', O], one sample
    private let zeroBias = Tensor(shape: [0])       // [O] zeros when the layer has no bias
    /// How this layer computes: `.automatic` (the default) takes the direct kernels when
    /// they apply (x86-64 with AVX2 and FMA; dilation 1, one group, output channels a
    /// multiple of 16 — and for the input gradient stride 1 and input channels a multiple of
    /// 16), else im2col + GEMM. `.im2colGEMM` always takes im2col + GEMM. Both agree to float
    /// rounding.
    public var algorithm: ConvolutionAlgorithm = .automatic {
        didSet { cachedShape = [] }   // re-plan on the next forward
    }
    /// Set by ``Sequential`` when a ``ReLU`` follows: forward rectifies in its output pass and
    /// backward applies the rectifier's mask in its gradient pass (the ReLU then passes
    /// tensors through). Results are bit-identical to the separate layers.
    var fusesReLU = false
    /// Bound on the columns matrix (floats): a batch whose im2col would be larger is processed
    /// in blocks of samples, so a big evaluation batch does not allocate hundreds of MB. At
    /// 4 Mi floats, training batches of the presets (batch 64) are one block; measured with
    /// `perf stat`, L2-sized blocks were no faster than one whole-batch GEMM here.
    var blockFloats = 1 << 22
    private var block = 1
    private var columnsStart = -1   // first sample of the block now in `columns`, -1 if none

    /// A convolution; throws nothing, but traps on non-positive sizes or channels not divisible by `groups`.
    /// Weight and bias are initialised like PyTorch unless `weightInit`/`biasInit` say
    /// otherwise (fans: `in/groups·k·k` and `out·k·k`, as `nn.init` computes them).
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                weightInit: InitializerKind = .pytorchDefault, biasInit: InitializerKind = .pytorchDefault) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0 && dilation > 0 && groups > 0,
                     "Conv2d: invalid sizes in=\(inChannels) out=\(outChannels) k=\(kernelSize) s=\(stride) p=\(padding) d=\(dilation) g=\(groups)")
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: channels \(inChannels)->\(outChannels) not divisible by groups \(groups)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.hasBias = bias
        self.weightInit = weightInit
        self.biasInit = biasInit
    }

    private var kernelArea: Int { kernelSize * kernelSize }
    private var groupK: Int { inChannels / groups * kernelArea }   // columns rows per group
    private var groupOut: Int { outChannels / groups }

    /// `"Conv2d(1, 16, kernel_size=(3, 3), stride=(2, 2))"`, as PyTorch prints it; padding,
    /// dilation, groups and bias appear when they are not the default.
    public var description: String {
        var s = "Conv2d(\(inChannels), \(outChannels), kernel_size=(\(kernelSize), \(kernelSize)), stride=(\(stride), \(stride))"
        if padding != 0 { s += ", padding=(\(padding), \(padding))" }
        if dilation != 1 { s += ", dilation=(\(dilation), \(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if !hasBias { s += ", bias=False" }
        return s + ")"
    }
    /// `weight` `[out, in/groups, k, k]`, then `bias` `[out]` when the layer has one.
    public var parameterSpecs: [TensorSpec] {
        [TensorSpec("weight", [outChannels, inChannels / groups, kernelSize, kernelSize])]
            + (hasBias ? [TensorSpec("bias", [outChannels])] : [])
    }
    /// The weight at the start of the window, the bias right after its `out·(in/groups)·k·k` floats.
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        let wc = outChannels * groupK
        weight = parameters
        weightGrad = gradients
        bias = parameters + wc
        biasGrad = gradients + wc
    }
    /// Weight and bias uniform in `±1/sqrt(in/groups·k·k)`, as PyTorch's `nn.Conv2d`.
    public func resetParameters(rng: inout SeededRNG) {
        let fanOut = outChannels * kernelArea
        weightInit.initializer(fanIn: groupK, fanOut: fanOut)
            .fill(UnsafeMutableBufferPointer(start: weight, count: outChannels * groupK), rng: &rng)
        if hasBias {
            biasInit.initializer(fanIn: groupK, fanOut: fanOut)
                .fill(UnsafeMutableBufferPointer(start: bias, count: outChannels), rng: &rng)
        }
    }

    /// Output side for an input side.
    public func outputSize(_ side: Int) -> Int {
        (side + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1
    }
    /// `[in, H, W] -> [out, H', W']`; another channel count, or a side smaller than the
    /// dilated kernel with its padding, throws ``NeuralNetError/inputShapeMismatch(expected:got:)``.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 3, shape[0] == inChannels, outputSize(shape[1]) >= 1, outputSize(shape[2]) >= 1 else {
            throw NeuralNetError.inputShapeMismatch(expected: [inChannels, kernelSize, kernelSize], got: shape)
        }
        return [outChannels, outputSize(shape[1]), outputSize(shape[2])]
    }
    /// `2·out·(in/groups)·k·k·H'·W'` for each of the forward, weight-gradient and (when computed)
    /// input-gradient products.
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        let p = outputSize(inputShape[1]) * outputSize(inputShape[2])
        return 2 * outChannels * groupK * p * (computeInputGradient ? 3 : 2)
    }

    private func configure(_ x: Tensor) {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels,
                     "Conv2d.forward: input \(x.shape), expected [N, \(inChannels), H, W]")
        n = x.shape[0]; h = x.shape[2]; w = x.shape[3]
        oh = outputSize(h); ow = outputSize(w)
        precondition(oh >= 1 && ow >= 1, "Conv2d.forward: input \(x.shape) too small for \(description)")
        output.resize(to: [n, outChannels, oh, ow])
        backwardReady = false
        gemmForwardReady = false
        gemmBackwardReady = false
        columnsStart = -1
        direct = usesDirectKernels
        if direct { configureDirect() }
    }

    /// im2col + GEMM buffers for the forward pass.
    private func configureGEMMForward() {
        block = max(1, min(n, blockFloats / (inChannels * kernelArea * oh * ow)))
        columns.resize(to: [inChannels * kernelArea, block * oh * ow])
        outputT.resize(to: [outChannels, block * oh * ow])
        outputT.fill(0)
        gemmForwardReady = true
    }

    /// im2col + GEMM buffers for the backward pass, allocated on the first backward of a
    /// batch shape (so an evaluation-only batch size never pays for them).
    private func configureGEMMBackward() {
        if !gemmForwardReady { configureGEMMForward() }
        gradOutputT.resize(to: [outChannels, block * oh * ow])
        columnGrad.resize(to: [inChannels * kernelArea, block * oh * ow])
        columnGrad.fill(0)
        gemmBackwardReady = true
    }

    /// Valid output columns `lo..<hi` for kernel offset `offset` along a side of length `side`.
    @inline(__always)
    private func validRange(offset: Int, side: Int, outSide: Int) -> (Int, Int) {
        // index = o*stride - padding + offset must lie in 0..<side
        var lo = 0
        let start = padding - offset
        if start > 0 { lo = (start + stride - 1) / stride }
        let top = side - 1 + padding - offset
        let hi = top < 0 ? 0 : min(outSide, top / stride + 1)
        return (min(lo, hi), hi)
    }

    /// Where row `(c·k + i)·k + j` of the columns matrix (channel c, kernel tap (i, j))
    /// reads: the output window whose input lies inside the image, and the input it reads first.
    private struct Tap {
        /// Input channel c.
        var channel: Int
        /// Output rows `ohLo..<ohHi` and columns `owLo..<owHi` read inside the image.
        var ohLo: Int, ohHi: Int, owLo: Int, owHi: Int
        /// Offset inside an input plane of the input under output (ohLo, owLo).
        var offset: Int
        /// Output columns per row inside the image.
        var width: Int { owHi - owLo }
    }

    @inline(__always)
    private func tap(row: Int) -> Tap {
        let k = kernelSize, c = row / kernelArea, i = row / k % k, j = row % k
        let (ohLo, ohHi) = validRange(offset: i * dilation, side: h, outSide: oh)
        let (owLo, owHi) = validRange(offset: j * dilation, side: w, outSide: ow)
        return Tap(channel: c, ohLo: ohLo, ohHi: ohHi, owLo: owLo, owHi: owHi,
                   offset: (ohLo * stride - padding + i * dilation) * w + owLo * stride - padding + j * dilation)
    }

    // The hot loops below step pointers with wrapping arithmetic (`&+`): every offset is
    // inside the tensors by construction (validRange), and Swift's overflow checks on each
    // short row cost more than the copy itself.

    // x: [N, C, H, W], samples first..<first+count -> columns [C·k·k, count·H'·W']
    private func im2col(_ x0: UnsafePointer<Float>, first: Int, count: Int) {
        let p = oh * ow, np = count * p, plane = h * w
        let col = columns.data, x = x0 + first * inChannels * plane
        let rowStep = stride * w
        columnsStart = first
        for r in 0..<(inChannels * kernelArea) {
            let t = tap(row: r), c = t.channel
            let (ohLo, ohHi, owLo, owHi, inner) = (t.ohLo, t.ohHi, t.owLo, t.owHi, t.width)
            let row = col + r * np
            for s in 0..<count {
                let dst = row + s &* p
                if ohLo > 0 { dst.update(repeating: 0, count: ohLo * ow) }
                if ohHi < oh { (dst + ohHi * ow).update(repeating: 0, count: (oh - ohHi) * ow) }
                guard inner > 0 else {
                    (dst + ohLo * ow).update(repeating: 0, count: (ohHi - ohLo) * ow)
                    continue
                }
                var d = dst + ohLo &* ow
                var src = x + ((s &* inChannels &+ c) &* plane &+ t.offset)
                for _ in ohLo..<ohHi {
                    var xo = 0
                    while xo < owLo { d[xo] = 0; xo &+= 1 }
                    if stride == 1 {
                        copyShortRow(d + owLo, src, inner)
                    } else {
                        var q = 0
                        while q < inner { d[owLo &+ q] = src[q &* stride]; q &+= 1 }
                    }
                    xo = owHi
                    while xo < ow { d[xo] = 0; xo &+= 1 }
                    d += ow
                    src += rowStep
                }
            }
        }
    }

    // columnGrad [C·k·k, count·H'·W'] -> dx [N, C, H, W] for samples first..<first+count
    // (accumulating overlapping taps; dx must be zeroed beforehand)
    private func col2im(_ dx0: UnsafeMutablePointer<Float>, first: Int, count: Int) {
        let p = oh * ow, np = count * p, plane = h * w
        let col = columnGrad.data, dx = dx0 + first * inChannels * plane
        let rowStep = stride * w
        for r in 0..<(inChannels * kernelArea) {
            let t = tap(row: r), c = t.channel
            let (ohLo, ohHi, owLo, inner) = (t.ohLo, t.ohHi, t.owLo, t.width)
            let row = col + r * np
            if inner > 0 {
                for s in 0..<count {
                    var sr = row + (s &* p &+ ohLo &* ow &+ owLo)
                    var d = dx + ((s &* inChannels &+ c) &* plane &+ t.offset)
                    for _ in ohLo..<ohHi {
                        if stride == 1 {
                            addShortRow(d, sr, inner)
                        } else {
                            var q = 0
                            while q < inner { d[q &* stride] += sr[q]; q &+= 1 }
                        }
                        sr += ow
                        d += rowStep
                    }
                }
            }
            row.update(repeating: 0, count: np)   // ready for the next beta = 1 GEMM
        }
    }

    /// x: [N, C, H, W] -> [N, O, H', W']
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) { configure(x) }
        input = x
        if direct {
            forwardDirect(x)
            return output
        }
        if !gemmForwardReady { configureGEMMForward() }
        let p = oh * ow, gk = groupK, go = groupOut
        var first = 0
        while first < n {
            let count = min(block, n - first), np = count * p
            im2col(x.data, first: first, count: count)
            for g in 0..<groups {
                gemm(transA: false, transB: false, m: go, n: np, k: gk, a: weight + g * go * gk, lda: gk,
                     b: columns.data + g * gk * np, ldb: np, beta: 1, c: outputT.data + g * go * np, ldc: np)
            }
            // [O, count·P] -> [N, O, P] plus bias (and the fused rectifier)
            let t = outputT.data, y = output.data + first * outChannels * p
            for o in 0..<outChannels {
                let b: Float = hasBias ? bias[o] : 0
                for s in 0..<count {
                    let src = t + o * np + s * p, dst = y + (s * outChannels + o) * p
                    if fusesReLU {
                        for q in 0..<p { let v = src[q] + b; dst[q] = v > 0 ? v : 0 }
                    } else {
                        for q in 0..<p { dst[q] = src[q] + b }
                    }
                }
                (t + o * np).update(repeating: 0, count: np)   // ready for the next beta = 1 GEMM
            }
            first += count
        }
        return output
    }

    /// dy: [N, O, H', W'] -> dx: [N, C, H, W]; dW += dyᵀ-columns, db += Σ dy
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard input != nil else { preconditionFailure("Conv2d.backward before forward") }
        precondition(dy.shape == output.shape, "Conv2d.backward: gradient \(dy.shape), output \(output.shape)")
        if !backwardReady {
            gradInput.resize(to: cachedShape)
            backwardReady = true
        }
        if direct && (!computeInputGradient || (inChannels % 16 == 0 && stride == 1)) {
            backwardDirect(dy, computeInputGradient: computeInputGradient)
            return computeInputGradient ? gradInput : nil
        }
        if !gemmBackwardReady { configureGEMMBackward() }
        let p = oh * ow, gk = groupK, go = groupOut
        if computeInputGradient { gradInput.fill(0) }
        // Blocks in reverse order: the last block's columns are still there from forward.
        var first = ((n - 1) / block) * block
        while first >= 0 {
            let count = min(block, n - first), np = count * p
            if columnsStart != first { im2col(input!.data, first: first, count: count) }
            // dy [N, O, P] -> [O, count·P] (times the fused rectifier's mask), bias gradient
            let t = gradOutputT.data, g0 = dy.data + first * outChannels * p
            let y0 = output.data + first * outChannels * p
            for o in 0..<outChannels {
                var sum: Float = 0
                for s in 0..<count {
                    let src = g0 + (s * outChannels + o) * p, dst = t + o * np + s * p
                    if fusesReLU {
                        let y = y0 + (s * outChannels + o) * p
                        for q in 0..<p { dst[q] = src[q] * (y[q] > 0 ? 1 : 0) }   // as ReLU.backward
                    } else {
                        copyShortRow(dst, src, p)
                    }
                    if hasBias { sum += vectorSum(dst, p) }
                }
                if hasBias { biasGrad[o] += sum }
            }
            for g in 0..<groups {
                gemm(transA: false, transB: true, m: go, n: gk, k: np, a: t + g * go * np, lda: np,
                     b: columns.data + g * gk * np, ldb: np, beta: 1, c: weightGrad + g * go * gk, ldc: gk)
            }
            if computeInputGradient {
                for g in 0..<groups {
                    gemm(transA: true, transB: false, m: gk, n: np, k: go, a: weight + g * go * gk, lda: gk,
                         b: t + g * go * np, ldb: np, beta: 1, c: columnGrad.data + g * gk * np, ldc: np)
                }
                col2im(gradInput.data, first: first, count: count)
            }
            first -= block
        }
        return computeInputGradient ? gradInput : nil
    }
}

/// How a ``Conv2d`` computes its products.
public enum ConvolutionAlgorithm: Sendable {
    /// Direct kernels where they apply, else im2col + GEMM.
    case automatic
    /// im2col + one GEMM per group (through OpenBLAS), always.
    case im2colGEMM
}

// MARK: - Direct kernels (CConvKernels)

extension Conv2d {
    /// True when this CPU runs the direct kernels (x86-64 with AVX2 and FMA).
    public static let directKernelsAvailable: Bool = {
        #if arch(x86_64)
        return lockstep_conv_direct_available() != 0
        #else
        return false
        #endif
    }()

    /// Whether forward (and the weight gradient) take the direct kernels for this layer.
    public var usesDirectKernels: Bool {
        algorithm == .automatic && Conv2d.directKernelsAvailable && groups == 1 && dilation == 1
            && outChannels % 16 == 0
    }
}

extension Conv2d {
    private var paddedHeight: Int { h + 2 * padding }
    private var paddedWidth: Int { w + 2 * padding }

    fileprivate func configureDirect() {
        let k = kernelSize, hp = paddedHeight, wp = paddedWidth
        packedForward.resize(to: [inChannels, k, k, outChannels])
        packedInput.resize(to: [k, k, outChannels, inChannels])
        packedWeightGrad.resize(to: [inChannels, k, k, outChannels])
        paddedSample.resize(to: padding > 0 ? [inChannels, hp, wp] : [0])
        paddedSample.fill(0)
        directScratch.resize(to: [max(oh * ow * outChannels, hp * wp * inChannels)])
        gradientT.resize(to: [oh * ow, outChannels])
        zeroBias.resize(to: hasBias ? [0] : [outChannels])
        zeroBias.fill(0)
    }

    /// Sample `s` of `x` as the kernels read it: the sample itself, or its copy inside the
    /// zero border of `paddedSample`.
    private func kernelInput(_ x: UnsafePointer<Float>, sample s: Int) -> UnsafePointer<Float> {
        let plane = h * w, src = x + s * inChannels * plane
        guard padding > 0 else { return src }
        let wp = paddedWidth, pad = paddedSample.data
        for c in 0..<inChannels {
            let dst = pad + (c * paddedHeight + padding) * wp + padding
            for r in 0..<h { (dst + r * wp).update(from: src + c * plane + r * w, count: w) }
        }
        return UnsafePointer(pad)
    }

    #if arch(x86_64)
    // x: [N, C, H, W] -> [N, O, H', W'], one sample at a time
    fileprivate func forwardDirect(_ x: Tensor) {
        let c32 = Int32(inChannels), o32 = Int32(outChannels), k32 = Int32(kernelSize)
        let hp = Int32(paddedHeight), wp = Int32(paddedWidth), p = oh * ow
        lockstep_conv_pack_weights(weight, o32, c32, k32, packedForward.data, packedInput.data)
        let b = hasBias ? UnsafePointer(bias!) : UnsafePointer(zeroBias.data)
        for s in 0..<n {
            lockstep_conv_forward(kernelInput(x.data, sample: s), c32, hp, wp, k32, Int32(stride), packedForward.data, o32, b,
                                  fusesReLU ? 1 : 0, output.data + s * outChannels * p, directScratch.data)
        }
    }

    // dy: [N, O, H', W'] -> dx: [N, C, H, W]; dW += Σ dy ⋆ x, db += Σ dy (weights packed by forward)
    fileprivate func backwardDirect(_ dy: Tensor, computeInputGradient: Bool) {
        let c32 = Int32(inChannels), o32 = Int32(outChannels), k32 = Int32(kernelSize)
        let hp = Int32(paddedHeight), wp = Int32(paddedWidth), p = oh * ow
        let gT = gradientT.data, dW = packedWeightGrad.data
        packedWeightGrad.fill(0)
        for s in 0..<n {
            let offset = s * outChannels * p
            lockstep_conv_gradient_transpose(dy.data + offset, fusesReLU ? UnsafePointer(output.data + offset) : nil,
                                             o32, Int32(p), gT, hasBias ? biasGrad : nil)
            lockstep_conv_weight_gradient(kernelInput(input!.data, sample: s), c32, hp, wp, k32, Int32(stride), gT, o32, dW)
            if computeInputGradient {
                lockstep_conv_input_gradient(gT, o32, packedInput.data, c32, k32, hp, wp, Int32(padding),
                                             gradInput.data + s * inChannels * h * w, directScratch.data)
            }
        }
        // [C, k, k, O] -> weightGrad [O, C, k, k]
        let taps = inChannels * kernelArea
        for o in 0..<outChannels {
            let row = weightGrad + o * taps
            for t in 0..<taps { row[t] += dW[t * outChannels + o] }
        }
    }
    #else
    fileprivate func forwardDirect(_ x: Tensor) { preconditionFailure("Conv2d: direct kernels need x86-64") }
    fileprivate func backwardDirect(_ dy: Tensor, computeInputGradient: Bool) {
        preconditionFailure("Conv2d: direct kernels need x86-64")
    }
    #endif
}
