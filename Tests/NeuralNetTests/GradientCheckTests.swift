import Testing
@testable import NeuralNet

/// Finite-difference checks of every layer's input and parameter gradients.
@Suite struct LayerGradientTests {
    @Test func linear() throws {
        try checkLayerGradients(Linear(5, 4), input: randomTensor([3, 5], seed: 1))
    }

    @Test func linearWithoutBias() throws {
        try checkLayerGradients(Linear(5, 4, bias: false), input: randomTensor([3, 5], seed: 2))
    }

    @Test(arguments: [
        (3, 4, 3, 1, 0, 1, 1),   // plain
        (2, 3, 3, 2, 1, 1, 1),   // strided, padded
        (2, 3, 3, 1, 2, 2, 1),   // dilated
        (4, 6, 3, 1, 1, 1, 2),   // grouped
        (3, 3, 3, 2, 1, 1, 3),   // depthwise, strided
        (2, 4, 2, 3, 1, 2, 2),   // everything at once, even kernel
    ])
    func conv2d(c: Int, o: Int, k: Int, s: Int, p: Int, d: Int, g: Int) throws {
        let layer = Conv2d(c, o, kernelSize: k, stride: s, padding: p, dilation: d, groups: g)
        try checkLayerGradients(layer, input: randomTensor([2, c, 7, 6], seed: 3))
    }

    @Test(arguments: [1, 720])
    func conv2dProcessedInBlocksOfSamples(blockFloats: Int) throws {
        // blocks of 1 and of 2 samples (of 3): forward, backward and the columns reuse
        let layer = Conv2d(2, 4, kernelSize: 3, stride: 1, padding: 1, dilation: 1, groups: 2)
        layer.blockFloats = blockFloats
        try checkLayerGradients(layer, input: randomTensor([3, 2, 4, 5], seed: 31))
        let whole = Conv2d(2, 4, kernelSize: 3, padding: 1, groups: 2)
        let a = try hosted(layer, inputShape: [2, 4, 5], seed: 9), b = try hosted(whole, inputShape: [2, 4, 5], seed: 9)
        let x = randomTensor([3, 2, 4, 5], seed: 32), dy = randomTensor([3, 4, 4, 5], seed: 33)
        assertClose(layer.forward(x).values, whole.forward(x).values, rtol: 1e-6, atol: 1e-6, "blocked forward")
        a.zeroGradients(); b.zeroGradients()
        assertClose(layer.backward(dy, computeInputGradient: true)!.values, whole.backward(dy, computeInputGradient: true)!.values,
                    rtol: 1e-5, atol: 1e-6, "blocked dx")
        assertClose(Array(a.arena.gradients), Array(b.arena.gradients), rtol: 1e-5, atol: 1e-6, "blocked dW")
    }

    // Configurations the direct kernels take (on CPUs with AVX2 and FMA): C -> O, kernel,
    // stride, padding, image side. With C = 1 or 3, or stride 2, the input gradient falls back
    // to im2col + GEMM.
    @Test(arguments: [(16, 16, 3, 1, 1, 5), (16, 32, 3, 1, 0, 6), (1, 16, 3, 1, 1, 6), (3, 16, 5, 1, 2, 4),
                      (16, 16, 1, 1, 0, 3), (1, 16, 3, 2, 0, 9), (16, 16, 3, 2, 1, 6)])
    func conv2dDirectKernels(c: Int, o: Int, k: Int, s: Int, p: Int, side: Int) throws {
        let layer = Conv2d(c, o, kernelSize: k, stride: s, padding: p)
        #expect(layer.usesDirectKernels == Conv2d.directKernelsAvailable)
        try checkLayerGradients(layer, input: randomTensor([2, c, side, side + 1], seed: 41))
    }

    @Test(arguments: [(16, 32, 3, 1, 0, false), (32, 16, 3, 1, 1, true), (16, 16, 4, 1, 2, true), (2, 16, 3, 1, 1, false),
                      (1, 16, 3, 2, 0, true), (16, 32, 3, 2, 1, true)])
    func conv2dDirectKernelsMatchIm2colGEMM(c: Int, o: Int, k: Int, s: Int, p: Int, bias: Bool) throws {
        // Conv2d + ReLU (fused) on both paths, same weights: outputs and every gradient agree.
        // First in the model (no input gradient: the direct weight gradient at any stride) and
        // behind a 1×1 convolution (input gradient too, direct where it applies).
        for first in [true, false] {
            func make(_ algorithm: ConvolutionAlgorithm) throws -> Sequential {
                let conv = Conv2d(c, o, kernelSize: k, stride: s, padding: p, bias: bias)
                conv.algorithm = algorithm
                return try Sequential(inputShape: [c, 9, 8], (first ? [] : [Conv2d(c, c, kernelSize: 1)]) + [conv, ReLU()], seed: 12)
            }
            let direct = try make(.automatic), gemm = try make(.im2colGEMM)
            let x = randomTensor([3, c, 9, 8], seed: 13)
            let y = direct.forward(x).values
            assertClose(y, gemm.forward(x).values, rtol: 1e-5, atol: 1e-5, "forward")
            #expect(y.contains(0) && y.contains { $0 > 0 })   // the rectifier's mask matters below
            let dy = randomTensor([3] + direct.outputShape, seed: 14)
            direct.zeroGradients(); gemm.zeroGradients()
            direct.backward(dy); gemm.backward(dy)
            assertClose(Array(direct.arena.gradients), Array(gemm.arena.gradients), rtol: 1e-4, atol: 1e-5,
                        "gradients (first: \(first))")
            let i = first ? 0 : 1
            let dx = try #require(direct.layers[i].backward(dy, computeInputGradient: true)).values
            assertClose(dx, try #require(gemm.layers[i].backward(dy, computeInputGradient: true)).values,
                        rtol: 1e-4, atol: 1e-5, "input gradient (first: \(first))")
        }
    }

    @Test func conv2dWithoutBias() throws {
        try checkLayerGradients(Conv2d(2, 3, kernelSize: 3, padding: 1, bias: false), input: randomTensor([2, 2, 5, 5], seed: 4))
    }

    @Test func maxPool() throws {
        try checkLayerGradients(MaxPool2d(kernelSize: 2), input: separatedTensor([2, 2, 6, 5], seed: 5), step: 1e-2)
        try checkLayerGradients(MaxPool2d(kernelSize: 3, stride: 2), input: separatedTensor([2, 2, 7, 7], seed: 6), step: 1e-2)
    }

    @Test func avgPool() throws {
        try checkLayerGradients(AvgPool2d(kernelSize: 2), input: randomTensor([2, 2, 6, 5], seed: 7))
        try checkLayerGradients(AvgPool2d(kernelSize: 3, stride: 2), input: randomTensor([2, 2, 7, 7], seed: 8))
    }

    @Test func batchNorm2dTraining() throws {
        try checkLayerGradients(BatchNorm2d(3), input: randomTensor([4, 3, 3, 2], seed: 9), step: 1e-2, rtol: 3e-2, atol: 3e-3)
    }

    @Test func batchNorm1dTraining() throws {
        try checkLayerGradients(BatchNorm1d(4), input: randomTensor([6, 4], seed: 10), step: 1e-2, rtol: 3e-2, atol: 3e-3)
    }

    @Test func batchNormEvaluation() throws {
        let bn = BatchNorm2d(3)
        bn.setTraining(false)
        try checkLayerGradients(bn, input: randomTensor([2, 3, 3, 3], seed: 11))
    }

    @Test func elementwiseActivations() throws {
        let layers: [any Layer] = [ReLU(), LeakyReLU(negativeSlope: 0.2), Sigmoid(), Tanh(), Softplus(), ELU()]
        for layer in layers {
            try checkLayerGradients(layer, input: separatedTensor([3, 7], seed: 12, gap: 0.1), step: 1e-2)
        }
    }

    @Test func softmaxAndLogSoftmax() throws {
        try checkLayerGradients(Softmax(), input: randomTensor([3, 5], seed: 13))
        try checkLayerGradients(LogSoftmax(), input: randomTensor([3, 5], seed: 14))
    }

    @Test func flatten() throws {
        try checkLayerGradients(Flatten(), input: randomTensor([2, 3, 2, 2], seed: 15))
    }

    @Test func dropoutTrainingUsesOneMaskPerSeed() throws {
        let dropout = Dropout(p: 0.3)
        try checkLayerGradients(dropout, input: randomTensor([4, 8], seed: 16), prepare: { dropout.setRandomSeed(5) })
    }
}

/// Finite-difference checks of every loss's gradient, both reductions.
@Suite struct LossGradientTests {
    static func numericGradient(_ x: Tensor, h: Float = 1e-2, _ loss: () -> Float) -> [Float] {
        (0..<x.count).map { i in
            let saved = x.data[i]
            x.data[i] = saved + h; let plus = Double(loss())
            x.data[i] = saved - h; let minus = Double(loss())
            x.data[i] = saved
            return Float((plus - minus) / Double(2 * h))
        }
    }

    @Test(arguments: [Reduction.mean, .sum])
    func crossEntropy(reduction: Reduction) {
        let logits = randomTensor([4, 6], seed: 20, scale: 2)
        let labels: [Int32] = [5, 0, 2, 2]
        let ce = CrossEntropyLoss(reduction: reduction)
        let f = { labels.withUnsafeBufferPointer { ce.forward(logits, labels: $0).loss } }
        let numeric = Self.numericGradient(logits, f)
        _ = f()
        assertClose(ce.backward(scale: 1).values, numeric, rtol: 1e-2, atol: 1e-3, "CE \(reduction)")
        assertClose(ce.backward(scale: 0.5).values, numeric.map { $0 * 0.5 }, rtol: 1e-2, atol: 1e-3, "CE scaled")
    }

    @Test(arguments: [Reduction.mean, .sum])
    func nll(reduction: Reduction) {
        let logp = randomTensor([4, 6], seed: 21)
        let labels: [Int32] = [1, 3, 5, 0]
        let nll = NLLLoss(reduction: reduction)
        let f = { labels.withUnsafeBufferPointer { nll.forward(logp, labels: $0) } }
        let numeric = Self.numericGradient(logp, f)
        _ = f()
        assertClose(nll.backward().values, numeric, rtol: 1e-2, atol: 1e-3, "NLL \(reduction)")
    }

    @Test(arguments: [Reduction.mean, .sum])
    func l1(reduction: Reduction) {
        // differences at least 0.05 from zero, so the finite difference never crosses the kink
        let p = separatedTensor([3, 4], seed: 24), t = Tensor(shape: [3, 4])
        let l1 = L1Loss(reduction: reduction)
        let numeric = Self.numericGradient(p, h: 1e-2) { l1.forward(p, target: t) }
        let value = l1.forward(p, target: t)
        let expected = p.values.map { Double(abs($0)) }.reduce(0, +) / (reduction == .mean ? 12 : 1)
        assertClose(value, Float(expected), rtol: 1e-5, "L1 value")
        assertClose(l1.backward().values, numeric, rtol: 1e-2, atol: 1e-3, "L1 \(reduction)")
    }

    /// Every ``LossKind`` on class labels: the value equals the underlying loss (on one-hot
    /// targets where it takes them), the gradient matches finite differences, and the
    /// argmax hits are counted.
    @Test(arguments: LossKind.allCases)
    func classificationLoss(kind: LossKind) {
        let output = separatedTensor([4, 5], seed: 25)
        if kind == .nll { for i in 0..<output.count { output.data[i] -= 3 } }   // log-probabilities are negative
        let labels: [Int32] = [4, 0, 2, 2]
        let loss = ClassificationLoss(kind)
        let f = { labels.withUnsafeBufferPointer { loss.forward(output, labels: $0).loss } }
        let numeric = Self.numericGradient(output, h: 1e-2, f)
        let (value, correct) = labels.withUnsafeBufferPointer { loss.forward(output, labels: $0) }
        let oneHot = Tensor(shape: [4, 5])
        for (r, l) in labels.enumerated() { oneHot.data[r * 5 + Int(l)] = 1 }
        let reference: Float
        switch kind {
        case .crossEntropy: reference = labels.withUnsafeBufferPointer { CrossEntropyLoss().forward(output, labels: $0).loss }
        case .nll: reference = labels.withUnsafeBufferPointer { NLLLoss().forward(output, labels: $0) }
        case .mse: reference = MSELoss().forward(output, target: oneHot)
        case .bceWithLogits: reference = BCEWithLogitsLoss().forward(output, target: oneHot)
        case .l1: reference = L1Loss().forward(output, target: oneHot)
        }
        assertClose(value, reference, rtol: 1e-6, "\(kind) value")
        var hits = 0
        for (r, l) in labels.enumerated() {
            let row = (0..<5).map { output.data[r * 5 + $0] }
            if row.firstIndex(of: row.max()!) == Int(l) { hits += 1 }
        }
        #expect(correct == hits)
        assertClose(loss.backward(scale: 0.5).values, numeric.map { $0 * 0.5 }, rtol: 1e-2, atol: 1e-3, "\(kind) gradient")
    }

    @Test(arguments: [Reduction.mean, .sum])
    func mse(reduction: Reduction) {
        let p = randomTensor([3, 4], seed: 22), t = randomTensor([3, 4], seed: 23)
        let mse = MSELoss(reduction: reduction)
        let numeric = Self.numericGradient(p) { mse.forward(p, target: t) }
        _ = mse.forward(p, target: t)
        assertClose(mse.backward().values, numeric, rtol: 1e-2, atol: 1e-3, "MSE \(reduction)")
    }

    @Test(arguments: [Reduction.mean, .sum])
    func bceWithLogits(reduction: Reduction) {
        let x = randomTensor([3, 4], seed: 24, scale: 3)
        var rng = SeededRNG(seed: 25)
        let t = Tensor(shape: [3, 4], values: (0..<12).map { _ in rng.nextFloat() })
        let bce = BCEWithLogitsLoss(reduction: reduction)
        let numeric = Self.numericGradient(x) { bce.forward(x, target: t) }
        _ = bce.forward(x, target: t)
        assertClose(bce.backward().values, numeric, rtol: 1e-2, atol: 1e-3, "BCE \(reduction)")
    }

    @Test func crossEntropyIsStableForHugeLogits() {
        let logits = Tensor(shape: [2, 3], values: [1000, 0, -1000, -500, 500, 0])
        let labels: [Int32] = [0, 2]
        let ce = CrossEntropyLoss()
        let (loss, correct) = labels.withUnsafeBufferPointer { ce.forward(logits, labels: $0) }
        #expect(loss.isFinite)
        assertClose(loss, 250, rtol: 1e-5, atol: 1e-3)   // (0 + 500) / 2
        #expect(correct == 1)
    }
}
