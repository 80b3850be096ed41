import Testing
@testable import NeuralNet

/// Forward outputs and gradients against NumPy references (scripts/make_nn_fixtures.py).
@Suite struct ReferenceFixtureTests {
    let fixtures: Fixtures
    init() throws { fixtures = try Fixtures() }

    @Test func linear() throws {
        let f = try #require(fixtures.root["linear"] as? [String: Any])
        let x = try fixtureTensor(f, "x"), w = try fixtureTensor(f, "weight")
        let layer = Linear(w.shape[1], w.shape[0])
        let model = try hosted(layer, inputShape: [w.shape[1]])
        try setParameter(model, "0.weight", w.values)
        try setParameter(model, "0.bias", try fixtureTensor(f, "bias").values)
        assertClose(layer.forward(x).values, try fixtureTensor(f, "y").values, rtol: 1e-5, atol: 1e-5, "y")
        model.zeroGradients()
        let dx = layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)!
        assertClose(dx.values, try fixtureTensor(f, "dx").values, rtol: 1e-5, atol: 1e-5, "dx")
        assertClose(try gradient(model, "0.weight"), try fixtureTensor(f, "dweight").values, rtol: 1e-5, atol: 1e-5, "dW")
        assertClose(try gradient(model, "0.bias"), try fixtureTensor(f, "dbias").values, rtol: 1e-5, atol: 1e-5, "db")
    }

    @Test(arguments: 0..<4)
    func conv2d(index: Int) throws {
        let cases = try #require(fixtures.root["conv"] as? [[String: Any]])
        let f = cases[index]
        let int = { (k: String) throws -> Int in try #require(f[k] as? Int) }
        let layer = Conv2d(try int("in"), try int("out"), kernelSize: try int("kernel"), stride: try int("stride"),
                           padding: try int("padding"), dilation: try int("dilation"), groups: try int("groups"))
        let x = try fixtureTensor(f, "x")
        let model = try hosted(layer, inputShape: Array(x.shape.dropFirst()))
        #expect(model.arena.views[0].shape == (try fixtureTensor(f, "weight")).shape)
        try setParameter(model, "0.weight", try fixtureTensor(f, "weight").values)
        try setParameter(model, "0.bias", try fixtureTensor(f, "bias").values)
        let y = layer.forward(x)
        let expected = try fixtureTensor(f, "y")
        #expect(y.shape == expected.shape)
        assertClose(y.values, expected.values, rtol: 1e-4, atol: 1e-4, "y \(layer.description)")
        model.zeroGradients()
        let dx = layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)!
        assertClose(dx.values, try fixtureTensor(f, "dx").values, rtol: 1e-4, atol: 1e-4, "dx \(layer.description)")
        assertClose(try gradient(model, "0.weight"), try fixtureTensor(f, "dweight").values, rtol: 1e-4, atol: 1e-4, "dW")
        assertClose(try gradient(model, "0.bias"), try fixtureTensor(f, "dbias").values, rtol: 1e-4, atol: 1e-4, "db")
    }

    @Test func batchNorm2d() throws {
        let f = try #require(fixtures.root["batchnorm2d"] as? [String: Any])
        let x = try fixtureTensor(f, "x")
        let bn = BatchNorm2d(x.shape[1])
        let model = try hosted(bn, inputShape: Array(x.shape.dropFirst()))
        try setParameter(model, "0.weight", try fixtureTensor(f, "weight").values)
        try setParameter(model, "0.bias", try fixtureTensor(f, "bias").values)
        assertClose(bn.forward(x).values, try fixtureTensor(f, "y").values, rtol: 1e-4, atol: 1e-4, "y")
        model.zeroGradients()
        let dx = bn.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)!
        assertClose(dx.values, try fixtureTensor(f, "dx").values, rtol: 1e-3, atol: 1e-4, "dx")
        assertClose(try gradient(model, "0.weight"), try fixtureTensor(f, "dweight").values, rtol: 1e-4, atol: 1e-4, "dgamma")
        assertClose(try gradient(model, "0.bias"), try fixtureTensor(f, "dbias").values, rtol: 1e-4, atol: 1e-4, "dbeta")
        let mean = try #require(model.arena.view(named: "0.running_mean"))
        let variance = try #require(model.arena.view(named: "0.running_var"))
        let tracked = try #require(model.arena.view(named: "0.num_batches_tracked"))
        assertClose(Array(model.arena.buffers[mean.range]), try fixtureTensor(f, "running_mean").values, rtol: 1e-5, atol: 1e-6, "running_mean")
        assertClose(Array(model.arena.buffers[variance.range]), try fixtureTensor(f, "running_var").values, rtol: 1e-5, atol: 1e-6, "running_var")
        #expect(tracked.isInteger && tracked.shape == [] && model.arena.buffers[tracked.offset] == 1)
        model.setTraining(false)
        assertClose(bn.forward(x).values, try fixtureTensor(f, "y_eval").values, rtol: 1e-4, atol: 1e-4, "eval y")
        #expect(model.arena.buffers[tracked.offset] == 1, "evaluation must not count batches")
    }

    @Test func crossEntropy() throws {
        let f = try #require(fixtures.root["cross_entropy"] as? [String: Any])
        let logits = try fixtureTensor(f, "logits")
        let labels = try #require(f["labels"] as? [Int]).map { Int32($0) }
        let ce = CrossEntropyLoss()
        let (loss, correct) = labels.withUnsafeBufferPointer { ce.forward(logits, labels: $0) }
        assertClose(loss, Float(try #require(f["loss"] as? Double)), rtol: 1e-5, atol: 1e-6, "loss")
        #expect(correct == (try #require(f["correct"] as? Int)))
        assertClose(ce.backward().values, try fixtureTensor(f, "dlogits").values, rtol: 1e-5, atol: 1e-6, "dlogits")
    }
}
