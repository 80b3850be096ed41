import Foundation
import Testing
@testable import NeuralNet

/// The recurrent-layer fixtures made by scripts/nn_fixtures_recurrent.py (through
/// scripts/make_nn_fixtures.py).
struct RecurrentFixtures {
    let root: [String: Any]
    init() throws {
        let url = try #require(Bundle.module.url(forResource: "recurrent", withExtension: "json", subdirectory: "Fixtures"))
        root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// Case `index` of the list under `key`.
    func recurrentCase(_ key: String, _ index: Int) throws -> [String: Any] {
        let cases = try #require(root[key] as? [[String: Any]], "fixture key \(key)")
        return cases[index]
    }
}

/// LSTM and GRU: finite differences, NumPy references, PyTorch's names, bad shapes.
@Suite struct RecurrentLayerTests {
    @Test(arguments: [1, 2])
    func lstmGradients(layers: Int) throws {
        try checkLayerGradients(LSTM(3, 4, layers: layers), input: randomTensor([2, 5, 3], seed: 51))
    }

    @Test(arguments: [1, 2])
    func gruGradients(layers: Int) throws {
        try checkLayerGradients(GRU(3, 4, layers: layers), input: randomTensor([2, 5, 3], seed: 52))
    }

    @Test func singleStepSequences() throws {
        // T = 1: no hidden product at all, only the zero initial state
        try checkLayerGradients(LSTM(2, 3), input: randomTensor([3, 1, 2], seed: 53))
        try checkLayerGradients(GRU(2, 3), input: randomTensor([3, 1, 2], seed: 54))
    }

    @Test(arguments: ["lstm", "gru"], 0..<2)
    func matchesNumPyReference(kind: String, index: Int) throws {
        let f = try RecurrentFixtures().recurrentCase(kind, index)
        let int = { (k: String) throws -> Int in try #require(f[k] as? Int) }
        let c = try int("input_size"), h = try int("hidden_size"), layers = try int("layers")
        let layer: any Layer = kind == "lstm" ? LSTM(c, h, layers: layers) : GRU(c, h, layers: layers)
        let x = try fixtureTensor(f, "x")
        let model = try hosted(layer, inputShape: Array(x.shape.dropFirst()))
        let parameters = try #require(f["parameters"] as? [String: Any])
        let gradients = try #require(f["gradients"] as? [String: Any])
        #expect(Set(parameters.keys) == Set(model.arena.views.map { String($0.name.dropFirst(2)) }))
        for view in model.arena.views {
            let reference = try fixtureTensor(parameters, String(view.name.dropFirst(2)))
            #expect(view.shape == reference.shape, "\(view.name)")
            try setParameter(model, view.name, reference.values)
        }
        let y = layer.forward(x)
        let expected = try fixtureTensor(f, "y")
        #expect(y.shape == expected.shape)
        assertClose(y.values, expected.values, rtol: 1e-5, atol: 1e-6, "\(kind) y")
        model.zeroGradients()
        let dx = try #require(layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true))
        assertClose(dx.values, try fixtureTensor(f, "dx").values, rtol: 1e-5, atol: 1e-6, "\(kind) dx")
        for view in model.arena.views {
            let name = String(view.name.dropFirst(2))
            assertClose(try gradient(model, view.name), try fixtureTensor(gradients, name).values,
                        rtol: 1e-5, atol: 1e-6, "\(kind) d\(name)")
        }
    }

    @Test func pytorchNamesShapesAndInitialisation() throws {
        let model = try Sequential(inputShape: [7, 5], [LSTM(5, 8, layers: 2)], seed: 3)
        #expect(model.arena.views.map(\.name) == [
            "0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0", "0.bias_hh_l0",
            "0.weight_ih_l1", "0.weight_hh_l1", "0.bias_ih_l1", "0.bias_hh_l1",
        ])
        #expect(model.arena.views.map(\.shape) == [[32, 5], [32, 8], [32], [32], [32, 8], [32, 8], [32], [32]])
        #expect(model.outputShape == [7, 8])
        let bound = 1 / Float(8).squareRoot()
        let p = Array(model.arena.parameters)
        #expect(p.allSatisfy { abs($0) <= bound } && p.contains { abs($0) > 0.9 * bound })
        let gru = try Sequential(inputShape: [4, 3], [GRU(3, 6)], seed: 3)
        #expect(gru.arena.views.map(\.shape) == [[18, 3], [18, 6], [18], [18]])
        #expect(LSTM(5, 8, layers: 2).description == "LSTM(5, 8, num_layers=2, batch_first=True)")
        #expect(GRU(3, 6).description == "GRU(3, 6, batch_first=True)")
    }

    @Test func rejectsInputThatIsNotASequenceOfTheRightWidth() {
        for layer: any Layer in [LSTM(4, 8), GRU(4, 8)] {
            #expect(throws: NeuralNetError.self) { _ = try Sequential(inputShape: [1, 28, 28], [layer], seed: 1) }
            #expect(throws: NeuralNetError.self) { _ = try layer.outputShape(forInput: [10, 3]) }
            #expect(throws: NeuralNetError.self) { _ = try layer.outputShape(forInput: [0, 4]) }
            #expect((try? layer.outputShape(forInput: [10, 4])) == [10, 8])
        }
    }

    @Test(arguments: ["lstm", "gru"])
    func reusesBuffersAndFollowsChangesOfSequenceLength(kind: String) throws {
        func make() -> any Layer { kind == "lstm" ? LSTM(3, 4, layers: 2) : GRU(3, 4, layers: 2) }
        let layer = make(), fresh = make()
        let a = try hosted(layer, inputShape: [5, 3], seed: 4), b = try hosted(fresh, inputShape: [3, 3], seed: 4)
        #expect(Array(a.arena.parameters) == Array(b.arena.parameters))
        let long = randomTensor([2, 5, 3], seed: 55), short = randomTensor([4, 3, 3], seed: 56)
        let first = layer.forward(long).data
        #expect(layer.forward(long).data == first, "a second forward of the same shape reuses its output")
        // after a longer batch, a shorter one gives what a layer that only saw it gives
        let y = layer.forward(short).values
        assertClose(y, fresh.forward(short).values, rtol: 0, atol: 0, "\(kind) after a shape change")
        let dy = randomTensor([4, 3, 4], seed: 57)
        a.zeroGradients(); b.zeroGradients()
        assertClose(try #require(layer.backward(dy, computeInputGradient: true)).values,
                    try #require(fresh.backward(dy, computeInputGradient: true)).values, rtol: 0, atol: 0, "dx")
        assertClose(Array(a.arena.gradients), Array(b.arena.gradients), rtol: 0, atol: 0, "parameter gradients")
    }

    @Test func firstLayerSkipsTheInputGradientButNotTheWeightGradients() throws {
        let layer = LSTM(3, 4, layers: 2)
        let model = try hosted(layer, inputShape: [4, 3])
        let x = randomTensor([2, 4, 3], seed: 58), dy = randomTensor([2, 4, 4], seed: 59)
        _ = layer.forward(x)
        model.zeroGradients()
        _ = layer.backward(dy, computeInputGradient: true)
        let withInput = Array(model.arena.gradients)
        model.zeroGradients()
        #expect(layer.backward(dy, computeInputGradient: false) == nil)
        #expect(Array(model.arena.gradients) == withInput)
    }
}

/// The eight-lane exp, sigmoid and tanh behind the gates, against libm in double precision.
@Suite struct VectorTranscendentalTests {
    @Test func withinAFewUlpsOfLibm() {
        var worst = (exp: 0.0, sigmoid: 0.0, tanh: 0.0)
        var x: Float = -30
        while x < 30 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.000_61 })
            let e = vectorExp(v), s = vectorSigmoid(v), t = vectorTanh(v)
            for i in 0..<8 {
                let a = Double(v[i])
                worst.exp = max(worst.exp, abs(Double(e[i]) - Foundation.exp(a)) / Foundation.exp(a))
                let sig = 1 / (1 + Foundation.exp(-a))
                worst.sigmoid = max(worst.sigmoid, abs(Double(s[i]) - sig) / sig)
                if a != 0 { worst.tanh = max(worst.tanh, abs(Double(t[i]) - Foundation.tanh(a)) / abs(Foundation.tanh(a))) }
            }
            x += 0.004_9
        }
        #expect(worst.exp < 4e-7 && worst.sigmoid < 4e-7 && worst.tanh < 4e-7, "relative errors \(worst)")
        // the ends: no overflow, no NaN, exact saturation
        let ends = SIMD8<Float>(-1000, -100, -88, 0, 1e-8, 88, 100, 1000)
        #expect(vectorSigmoid(ends)[0] == 0 || vectorSigmoid(ends)[0] < 1e-37)
        #expect(vectorSigmoid(ends)[7] == 1 && vectorTanh(ends)[7] == 1 && vectorTanh(ends)[0] == -1)
        #expect(vectorTanh(ends)[4] == 1e-8 && vectorTanh(ends)[3] == 0)
        #expect(!(0..<8).contains { vectorExp(ends)[$0].isNaN || vectorExp(ends)[$0].isInfinite })
    }
}
