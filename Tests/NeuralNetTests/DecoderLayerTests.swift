import Testing
@testable import NeuralNet

/// Conv1d, ConvTranspose2d and Upsample: finite differences, NumPy references (recurrent.json),
/// PyTorch's layouts, bad shapes.
@Suite struct DecoderLayerTests {
    @Test(arguments: [(3, 4, 3, 1, 0, 1), (2, 3, 3, 2, 1, 1), (2, 3, 3, 1, 2, 2), (3, 2, 1, 3, 0, 1)])
    func conv1dGradients(c: Int, o: Int, k: Int, s: Int, p: Int, d: Int) throws {
        try checkLayerGradients(Conv1d(c, o, kernelSize: k, stride: s, padding: p, dilation: d),
                                input: randomTensor([2, c, 9], seed: 71))
        try checkLayerGradients(Conv1d(c, o, kernelSize: k, stride: s, padding: p, dilation: d, bias: false),
                                input: randomTensor([3, c, 8], seed: 72))
    }

    @Test(arguments: [(3, 2, 3, 2, 1, 1), (2, 3, 4, 2, 1, 0), (2, 2, 3, 1, 0, 0), (1, 2, 2, 3, 0, 2)])
    func convTranspose2dGradients(c: Int, o: Int, k: Int, s: Int, p: Int, op: Int) throws {
        try checkLayerGradients(ConvTranspose2d(c, o, kernelSize: k, stride: s, padding: p, outputPadding: op),
                                input: randomTensor([2, c, 3, 4], seed: 73))
        try checkLayerGradients(ConvTranspose2d(c, o, kernelSize: k, stride: s, padding: p, outputPadding: op, bias: false),
                                input: randomTensor([1, c, 2, 3], seed: 74))
    }

    @Test(arguments: [1, 2, 3])
    func upsampleGradients(scale: Int) throws {
        try checkLayerGradients(Upsample(scale: scale), input: randomTensor([2, 3, 3, 2], seed: 75))
    }

    @Test(arguments: 0..<2)
    func conv1dMatchesNumPy(index: Int) throws {
        let f = try RecurrentFixtures().recurrentCase("conv1d", index)
        let int = { (k: String) throws -> Int in try #require(f[k] as? Int) }
        let layer = Conv1d(try int("in"), try int("out"), kernelSize: try int("kernel"), stride: try int("stride"),
                           padding: try int("padding"), dilation: try int("dilation"))
        try checkAgainstFixture(layer, f)
    }

    @Test(arguments: 0..<3)
    func convTranspose2dMatchesNumPy(index: Int) throws {
        let f = try RecurrentFixtures().recurrentCase("conv_transpose2d", index)
        let int = { (k: String) throws -> Int in try #require(f[k] as? Int) }
        let layer = ConvTranspose2d(try int("in"), try int("out"), kernelSize: try int("kernel"), stride: try int("stride"),
                                    padding: try int("padding"), outputPadding: try int("output_padding"))
        try checkAgainstFixture(layer, f)
    }

    @Test(arguments: 0..<2)
    func upsampleMatchesNumPy(index: Int) throws {
        let f = try RecurrentFixtures().recurrentCase("upsample", index)
        let layer = Upsample(scale: try #require(f["scale"] as? Int))
        let x = try fixtureTensor(f, "x")
        _ = try hosted(layer, inputShape: Array(x.shape.dropFirst()))
        let y = layer.forward(x)
        #expect(y.shape == (try fixtureTensor(f, "y")).shape)
        #expect(y.values == (try fixtureTensor(f, "y")).values)
        assertClose(try #require(layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)).values,
                    try fixtureTensor(f, "dx").values, rtol: 1e-5, atol: 1e-6, "Upsample dx")
    }

    @Test func pytorchLayoutsShapesAndInitialisation() throws {
        let conv = try Sequential(inputShape: [4, 20], [Conv1d(4, 6, kernelSize: 5, stride: 2, padding: 2)], seed: 1)
        #expect(conv.arena.views.map(\.name) == ["0.weight", "0.bias"])
        #expect(conv.arena.views.map(\.shape) == [[6, 4, 5], [6]])
        #expect(conv.outputShape == [6, 10])
        #expect(Array(conv.arena.parameters).allSatisfy { abs($0) <= 1 / Float(20).squareRoot() })
        // a DCGAN-style generator: 1×1 -> 4×4 -> 7×7 -> 14×14 -> 28×28
        let generator = try Sequential(inputShape: [16, 1, 1], [
            ConvTranspose2d(16, 8, kernelSize: 4), ReLU(),
            ConvTranspose2d(8, 4, kernelSize: 3, stride: 2, padding: 1), ReLU(),
            ConvTranspose2d(4, 2, kernelSize: 4, stride: 2, padding: 1), ReLU(),
            Upsample(scale: 2), Conv2d(2, 1, kernelSize: 3, padding: 1),
        ], seed: 2)
        #expect(generator.arena.views.map(\.shape).prefix(2) == [[16, 8, 4, 4], [8]])
        #expect(generator.outputShape == [1, 28, 28])
        #expect(Array(generator.arena.parameters[generator.arena.views[0].range]).allSatisfy { abs($0) <= 1 / Float(8 * 16).squareRoot() })
        #expect(generator.forward(randomTensor([3, 16, 1, 1], seed: 3)).shape == [3, 1, 28, 28])
        #expect(ConvTranspose2d(3, 2, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1).description
                == "ConvTranspose2d(3, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))")
        #expect(Conv1d(4, 6, kernelSize: 5).description == "Conv1d(4, 6, kernel_size=(5,), stride=(1,))")
        #expect(Upsample(scale: 2).description == "Upsample(scale_factor=2.0, mode='nearest')")
    }

    @Test func rejectsInputOfTheWrongShape() {
        #expect(throws: NeuralNetError.self) { _ = try Conv1d(4, 6, kernelSize: 3).outputShape(forInput: [4, 2]) }
        #expect(throws: NeuralNetError.self) { _ = try Conv1d(4, 6, kernelSize: 3).outputShape(forInput: [3, 10]) }
        #expect(throws: NeuralNetError.self) { _ = try Conv1d(4, 6, kernelSize: 3).outputShape(forInput: [4, 10, 10]) }
        #expect(throws: NeuralNetError.self) { _ = try ConvTranspose2d(4, 6, kernelSize: 3).outputShape(forInput: [3, 5, 5]) }
        #expect(throws: NeuralNetError.self) { _ = try ConvTranspose2d(4, 6, kernelSize: 3).outputShape(forInput: [4, 5]) }
        #expect(throws: NeuralNetError.self) {
            _ = try ConvTranspose2d(4, 6, kernelSize: 1, padding: 1).outputShape(forInput: [4, 1, 1])
        }
        #expect(throws: NeuralNetError.self) { _ = try Upsample(scale: 2).outputShape(forInput: [4, 5]) }
    }

    /// Loads weight, bias, x and dy of fixture `f` into `layer`, then checks y, dx, dW and db.
    private func checkAgainstFixture(_ layer: any Layer, _ f: [String: Any],
                                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let x = try fixtureTensor(f, "x")
        let model = try hosted(layer, inputShape: Array(x.shape.dropFirst()))
        #expect(model.arena.views[0].shape == (try fixtureTensor(f, "weight")).shape, sourceLocation: sourceLocation)
        try setParameter(model, "0.weight", try fixtureTensor(f, "weight").values)
        try setParameter(model, "0.bias", try fixtureTensor(f, "bias").values)
        let y = layer.forward(x), expected = try fixtureTensor(f, "y")
        #expect(y.shape == expected.shape, sourceLocation: sourceLocation)
        assertClose(y.values, expected.values, rtol: 1e-5, atol: 1e-5, "y \(layer.description)", sourceLocation: sourceLocation)
        model.zeroGradients()
        let dx = try #require(layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true))
        assertClose(dx.values, try fixtureTensor(f, "dx").values, rtol: 1e-5, atol: 1e-5, "dx \(layer.description)",
                    sourceLocation: sourceLocation)
        assertClose(try gradient(model, "0.weight"), try fixtureTensor(f, "dweight").values, rtol: 1e-5, atol: 1e-5,
                    "dW \(layer.description)", sourceLocation: sourceLocation)
        assertClose(try gradient(model, "0.bias"), try fixtureTensor(f, "dbias").values, rtol: 1e-5, atol: 1e-5,
                    "db \(layer.description)", sourceLocation: sourceLocation)
    }
}

/// The FLOP counts behind `lockstep bench` (multiply-add = 2), against the products by hand.
@Suite struct SequenceAndDecoderFLOPTests {
    @Test func countsMatchTheGEMMs() throws {
        // LSTM: input products over T steps (forward, dW, dx), hidden ones over T - 1 steps (forward, dW, dh)
        let t = 6, c = 5, h = 7
        #expect(LSTM(c, h).trainingFLOPs(inputShape: [t, c], computeInputGradient: true)
                == 3 * 2 * t * 4 * h * c + 3 * 2 * (t - 1) * 4 * h * h)
        #expect(LSTM(c, h).trainingFLOPs(inputShape: [t, c], computeInputGradient: false)
                == 2 * 2 * t * 4 * h * c + 3 * 2 * (t - 1) * 4 * h * h)
        #expect(GRU(c, h, layers: 2).trainingFLOPs(inputShape: [t, c], computeInputGradient: false)
                == 2 * 2 * t * 3 * h * c + 3 * 2 * t * 3 * h * h + 2 * 3 * 2 * (t - 1) * 3 * h * h)
        #expect(Conv1d(3, 4, kernelSize: 3, stride: 2, padding: 1).trainingFLOPs(inputShape: [3, 9], computeInputGradient: true)
                == 3 * 2 * 4 * 3 * 3 * 5)
        #expect(ConvTranspose2d(3, 4, kernelSize: 3, stride: 2).trainingFLOPs(inputShape: [3, 5, 6], computeInputGradient: true)
                == 3 * 2 * 3 * 4 * 3 * 3 * 30)
    }
}
