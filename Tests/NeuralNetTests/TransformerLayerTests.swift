import Foundation
import Testing
@testable import NeuralNet

/// Finite-difference checks of the transformer family's layers.
@Suite struct TransformerGradientTests {
    @Test(arguments: [GELU.Approximation.none, .tanh], [true, false])
    func gelu(approximation: GELU.Approximation, vectorKernel: Bool) throws {
        let gelu = GELU(approximation: approximation)
        gelu.usesVectorKernel = vectorKernel && GELU.vectorKernelAvailable
        try checkLayerGradients(gelu, input: randomTensor([3, 4, 5], seed: 50, scale: 2))
    }

    @Test func layerNorm2D() throws {
        try checkLayerGradients(LayerNorm(6), input: randomTensor([4, 6], seed: 51, scale: 2),
                                step: 1e-2, rtol: 3e-2, atol: 3e-3)
    }

    @Test func layerNorm3D() throws {
        try checkLayerGradients(LayerNorm(5), input: randomTensor([2, 3, 5], seed: 52, scale: 2),
                                step: 1e-2, rtol: 3e-2, atol: 3e-3)
    }

    @Test func positionalEmbedding() throws {
        try checkLayerGradients(PositionalEmbedding(6, 4), input: randomTensor([2, 5, 4], seed: 53))
    }

    @Test func embeddingWeightGradientAndZeroInputGradient() throws {
        // ids have no derivative: perturbing the weight is the whole check
        let layer = Embedding(7, 3)
        let model = try hosted(layer, inputShape: [5])
        let ids = Tensor(shape: [2, 5], values: [0, 3, 3, 6, 1, 6, 2, 3, 0, 0])
        let r = randomTensor([2, 5, 3], seed: 54)
        func objective() -> Double {
            let y = layer.forward(ids)
            return (0..<y.count).reduce(0.0) { $0 + Double(y.data[$1]) * Double(r.data[$1]) }
        }
        model.zeroGradients()
        _ = layer.forward(ids)
        let dx = try #require(layer.backward(r, computeInputGradient: true))
        #expect(dx.shape == [2, 5] && dx.values.allSatisfy { $0 == 0 })
        let grads = Array(model.arena.gradients)
        let p = model.arena.parameters, h: Float = 1e-2
        var numeric = [Float](repeating: 0, count: p.count)
        for i in 0..<p.count {
            let saved = p[i]
            p[i] = saved + h; let plus = objective()
            p[i] = saved - h; let minus = objective()
            p[i] = saved
            numeric[i] = Float((plus - minus) / Double(2 * h))
        }
        assertClose(grads, numeric, rtol: 2e-2, atol: 2e-3, "embedding weight gradient")
        #expect(Array(grads[12..<18]) == [Float](repeating: 0, count: 6), "ids 4 and 5 never appear")
        #expect(grads[3..<6].allSatisfy { $0 != 0 }, "id 1 appears once")
        _ = layer.backward(r, computeInputGradient: false)
        assertClose(Array(model.arena.gradients), grads.map { 2 * $0 }, rtol: 1e-6, atol: 1e-7, "accumulation")
    }

    @Test(arguments: [(true, 32), (false, 32), (true, 2), (false, 2), (true, 3)])
    func multiheadAttention(causal: Bool, blockRows: Int) throws {
        let attn = MultiheadAttention(8, heads: 2, causal: causal)
        attn.blockRows = blockRows   // 2 and 3 of T = 5: partial blocks in both directions
        try checkLayerGradients(attn, input: randomTensor([2, 5, 8], seed: 55))
    }

    @Test(arguments: [1, 33])
    func multiheadAttentionAtEdgeLengths(length: Int) throws {
        // one token (a single key), and one full block of 32 rows plus a 1-row block
        try checkLayerGradients(MultiheadAttention(8, heads: 2, causal: true), input: randomTensor([2, length, 8], seed: 57))
    }

    @Test func transformerBlock() throws {
        try checkLayerGradients(TransformerBlock(8, heads: 2, mlpRatio: 2), input: randomTensor([2, 4, 8], seed: 56),
                                step: 1e-2, rtol: 3e-2, atol: 3e-3)
    }
}

/// Properties of the transformer layers that the gradient checks do not see.
@Suite struct TransformerLayerTests {
    @Test func attentionBlockingDoesNotChangeResults() throws {
        let x = randomTensor([2, 7, 8], seed: 60), dy = randomTensor([2, 7, 8], seed: 61)
        for causal in [true, false] {
            let whole = MultiheadAttention(8, heads: 2, causal: causal), blocked = MultiheadAttention(8, heads: 2, causal: causal)
            blocked.blockRows = 3
            let a = try hosted(whole, inputShape: [7, 8], seed: 3), b = try hosted(blocked, inputShape: [7, 8], seed: 3)
            assertClose(blocked.forward(x).values, whole.forward(x).values, rtol: 1e-5, atol: 1e-6, "forward")
            a.zeroGradients(); b.zeroGradients()
            let dxb = try #require(blocked.backward(dy, computeInputGradient: true)).values
            assertClose(dxb, try #require(whole.backward(dy, computeInputGradient: true)).values, rtol: 1e-5, atol: 1e-6, "dx")
            assertClose(Array(b.arena.gradients), Array(a.arena.gradients), rtol: 1e-5, atol: 1e-6, "gradients")
        }
    }

    @Test func geluKernelAndSwiftPathAgree() throws {
        try #require(GELU.vectorKernelAvailable, "this CPU has no AVX2/FMA: only the Swift path runs")
        let x = randomTensor([7, 131], seed: 66, scale: 4)   // 917 elements: a 5-lane tail
        for approximation in [GELU.Approximation.none, .tanh] {
            let kernel = GELU(approximation: approximation), swift = GELU(approximation: approximation)
            swift.usesVectorKernel = false
            assertClose(kernel.forward(x).values, swift.forward(x).values, rtol: 1e-5, atol: 1e-30, "\(kernel) y")   // FMA rounding, amplified in the tail by exp
            let dy = randomTensor(x.shape, seed: 67)
            assertClose(try #require(kernel.backward(dy, computeInputGradient: true)).values,
                        try #require(swift.backward(dy, computeInputGradient: true)).values, rtol: 1e-5, atol: 1e-7, "\(kernel) dx")
        }
    }

    @Test(arguments: [GELU.Approximation.none, .tanh], [true, false])
    func geluMatchesDoublePrecisionAcrossItsRange(approximation: GELU.Approximation, vectorKernel: Bool) throws {
        // includes the far negative tail, where y is tiny and only a relative error shows;
        // both paths (the AVX2/FMA kernel where the CPU has it, and Swift SIMD)
        let xs = stride(from: -12.0, through: 12.0, by: 0.0137).map { Float($0) }
        let gelu = GELU(approximation: approximation)
        gelu.usesVectorKernel = vectorKernel && GELU.vectorKernelAvailable
        let x = Tensor(shape: [1, xs.count], values: xs)
        let y = gelu.forward(x).values
        let dx = try #require(gelu.backward(Tensor(shape: x.shape, values: [Float](repeating: 1, count: xs.count)),
                                            computeInputGradient: true)).values
        let (yRef, dRef): ([Float], [Float]) = {
            let v = xs.map(Double.init)
            switch approximation {
            case .none:
                return (v.map { Float($0 * 0.5 * erfc(-$0 / 2.0.squareRoot())) },
                        v.map { Float(0.5 * erfc(-$0 / 2.0.squareRoot()) + $0 * Foundation.exp(-$0 * $0 / 2) / (2 * Double.pi).squareRoot()) })
            case .tanh:
                // (1 + tanh u)/2 written as the logistic of 2u, which keeps the tail exact in Double
                let c = (2 / Double.pi).squareRoot()
                func s(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-2 * c * (x + 0.044715 * x * x * x))) }
                return (v.map { Float($0 * s($0)) },
                        v.map { x in Float(s(x) + x * 2 * s(x) * (1 - s(x)) * c * (1 + 3 * 0.044715 * x * x)) })
            }
        }()
        // y: relative 1e-5 down to 1e-30. dy/dx = Φ + xφ cancels to 0 near x = -0.75 and in
        // the tail (terms of ~0.2 there), so it gets an absolute floor of float rounding
        assertClose(y, yRef, rtol: 1e-5, atol: 1e-30, "\(gelu) y")
        assertClose(dx, dRef, rtol: 1e-5, atol: 1e-7, "\(gelu) dy/dx")
    }

    @Test func causalAttentionIgnoresLaterPositions() throws {
        let attn = MultiheadAttention(8, heads: 4, causal: true)
        let model = try hosted(attn, inputShape: [6, 8])
        let x = randomTensor([1, 6, 8], seed: 62)
        let (before, after) = withExtendedLifetime(model) {
            let before = attn.forward(x).values
            for i in 4 * 8..<6 * 8 { x.data[i] += 3 }   // change positions 4 and 5
            return (before, attn.forward(x).values)
        }
        #expect(Array(after[0..<32]) == Array(before[0..<32]), "positions 0...3 must not see 4 and 5")
        #expect(Array(after[32...]) != Array(before[32...]))
    }

    @Test func namesAndShapesFollowPyTorch() throws {
        let model = try Sequential(inputShape: [16], [Embedding(50, 8), PositionalEmbedding(16, 8), TransformerBlock(8, heads: 2),
                                                      LayerNorm(8), Linear(8, 50)], seed: 1)
        #expect(model.outputShape == [16, 50])
        let expected: [(String, [Int])] = [
            ("0.weight", [50, 8]), ("1.weight", [16, 8]),
            ("2.ln1.weight", [8]), ("2.ln1.bias", [8]),
            ("2.attn.in_proj_weight", [24, 8]), ("2.attn.in_proj_bias", [24]),
            ("2.attn.out_proj.weight", [8, 8]), ("2.attn.out_proj.bias", [8]),
            ("2.ln2.weight", [8]), ("2.ln2.bias", [8]),
            ("2.mlp.0.weight", [32, 8]), ("2.mlp.0.bias", [32]), ("2.mlp.2.weight", [8, 32]), ("2.mlp.2.bias", [8]),
            ("3.weight", [8]), ("3.bias", [8]), ("4.weight", [50, 8]), ("4.bias", [50]),
        ]
        #expect(model.arena.views.map(\.name) == expected.map(\.0))
        #expect(model.arena.views.map(\.shape) == expected.map(\.1))
        // PyTorch's initialisation: LayerNorm ones/zeros, attention biases zero, in_proj xavier-bounded
        func values(_ name: String) throws -> [Float] {
            let v = try #require(model.arena.view(named: name))
            return Array(model.arena.parameters[v.range])
        }
        #expect(try values("2.ln1.weight").allSatisfy { $0 == 1 } && values("2.ln1.bias").allSatisfy { $0 == 0 })
        #expect(try values("2.attn.in_proj_bias").allSatisfy { $0 == 0 } && values("2.attn.out_proj.bias").allSatisfy { $0 == 0 })
        let bound = (6 / Float(8 + 24)).squareRoot()
        let w = try values("2.attn.in_proj_weight")
        #expect(w.allSatisfy { abs($0) <= bound } && w.contains { abs($0) > bound / 2 })
        // a whole step runs and every parameter gets a gradient
        let ids = Tensor(shape: [3, 16], values: (0..<48).map { Float($0 % 50) })
        let y = model.forward(ids)
        #expect(y.shape == [3, 16, 50])
        model.zeroGradients()
        model.backward(randomTensor(y.shape, seed: 63))
        for view in model.arena.views {
            #expect(model.arena.gradients[view.range].contains { $0 != 0 }, "\(view.name) got no gradient")
        }
        #expect(model.trainingFLOPsPerSample > 0)
    }

    @Test func tokenValidationNamesTheBadId() throws {
        let embed = Embedding(10, 4)
        #expect(throws: NeuralNetError.tokenOutOfRange(value: 10, position: 3, count: 10)) {
            try embed.validate(tokens: Tensor(shape: [1, 5], values: [0, 1, 9, 10, 2]))
        }
        #expect(throws: NeuralNetError.tokenOutOfRange(value: 1.5, position: 0, count: 10)) {
            try embed.validate(tokens: Tensor(shape: [1, 1], values: [1.5]))
        }
        #expect(throws: NeuralNetError.tokenOutOfRange(value: -1, position: 1, count: 10)) {
            try embed.validate(tokens: Tensor(shape: [2], values: [3, -1]))
        }
        try embed.validate(tokens: Tensor(shape: [1, 3], values: [0, 9, 5]))
        let message = NeuralNetError.tokenOutOfRange(value: 10, position: 3, count: 10).localizedDescription
        #expect(message.contains("10") && message.contains("0..<10"))
    }

    @Test func shapeErrorsAreThrownAtModelBuild() {
        #expect(throws: NeuralNetError.self) { try Sequential(inputShape: [20, 8], [PositionalEmbedding(16, 8)], seed: 1) }
        #expect(throws: NeuralNetError.self) { try Sequential(inputShape: [4, 6], [TransformerBlock(8, heads: 2)], seed: 1) }
        #expect(throws: NeuralNetError.self) { try Sequential(inputShape: [4, 6], [LayerNorm(8)], seed: 1) }
        #expect(throws: NeuralNetError.self) { try Sequential(inputShape: [4, 6], [MultiheadAttention(8, heads: 2)], seed: 1) }
    }

    @Test func linearOverSequencesEqualsLinearOverRows() throws {
        let a = Linear(5, 3), b = Linear(5, 3)
        let ma = try hosted(a, inputShape: [4, 5], seed: 4), mb = try hosted(b, inputShape: [5], seed: 4)
        let x = randomTensor([2, 4, 5], seed: 64), rows = Tensor(shape: [8, 5], values: x.values)
        let y = a.forward(x)
        #expect(y.shape == [2, 4, 3])
        #expect(y.values == b.forward(rows).values)
        let dy = randomTensor([2, 4, 3], seed: 65)
        ma.zeroGradients(); mb.zeroGradients()
        let dx = try #require(a.backward(dy, computeInputGradient: true))
        #expect(dx.shape == [2, 4, 5])
        #expect(dx.values == (try #require(b.backward(Tensor(shape: [8, 3], values: dy.values), computeInputGradient: true))).values)
        #expect(Array(ma.arena.gradients) == Array(mb.arena.gradients))
    }
}

/// The layers train together: a tiny causal transformer learns a task only attention solves.
@Suite struct TransformerConvergenceTests {
    @Test func tinyTransformerLearnsToCopyFromFourTokensBack() throws {
        // Each sequence repeats a random 4-token pattern over a vocabulary of 8, so from
        // position 4 on the next token is the one 4 positions back: a model must attend to
        // the right earlier position (chance: loss ln 8 ≈ 2.08).
        let vocabulary = 8, period = 4, length = 12, batch = 16, width = 16
        let model = try Sequential(inputShape: [length], [
            Embedding(vocabulary, width), PositionalEmbedding(length, width),
            TransformerBlock(width, heads: 2, mlpRatio: 2), LayerNorm(width), Linear(width, vocabulary),
        ], seed: 5)
        let adam = try AdamW(parameterCount: model.parameterCount, weightDecay: 0)
        let ce = CrossEntropyLoss()
        var rng = SeededRNG(seed: 6)
        let ids = Tensor(shape: [batch, length])
        var labels = [Int32](repeating: 0, count: batch * length)
        var late: [Float] = []
        for step in 0..<400 {
            for b in 0..<batch {
                let pattern = (0..<period).map { _ in rng.next(below: vocabulary) }
                for t in 0..<length { ids.data[b * length + t] = Float(pattern[t % period]) }
                for t in 0..<length { labels[b * length + t] = Int32(pattern[(t + 1) % period]) }
            }
            model.zeroGradients()
            let logits = model.forward(ids)   // [N, T, vocabulary], one label per token
            _ = labels.withUnsafeBufferPointer { ce.forward(logits, labels: $0) }
            model.backward(ce.backward())
            adam.step(model.arena, learningRate: 0.01)
            if step >= 380 {
                // loss on the positions that need attention (t >= 3: the label is 4 back)
                var total: Float = 0, n = 0
                for b in 0..<batch {
                    for t in (period - 1)..<length {
                        let r = b * length + t, row = logits.data + r * vocabulary
                        var m = row[0]
                        for j in 1..<vocabulary { m = max(m, row[j]) }
                        var s: Float = 0
                        for j in 0..<vocabulary { s += expf(row[j] - m) }
                        total += m + logf(s) - row[Int(labels[r])]
                        n += 1
                    }
                }
                late.append(total / Float(n))
            }
        }
        let final = late.reduce(0, +) / Float(late.count)
        #expect(final < 0.1, "loss on the copied positions \(final); chance is 2.08")
    }
}

/// Forward outputs and gradients against NumPy references (scripts/nn_fixtures_transformer.py).
@Suite struct TransformerFixtureTests {
    let root: [String: Any]
    init() throws {
        let url = try #require(Bundle.module.url(forResource: "transformer", withExtension: "json", subdirectory: "Fixtures"))
        root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    private func cases(_ key: String) throws -> [[String: Any]] { try #require(root[key] as? [[String: Any]]) }
    private func single(_ key: String) throws -> [String: Any] { try #require(root[key] as? [String: Any]) }

    /// Fixture tolerance: 1e-5 relative, with an absolute floor of 1e-5 for values near zero.
    private func expectMatch(_ actual: [Float], _ f: [String: Any], _ key: String, _ what: String,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        assertClose(actual, try fixtureTensor(f, key).values, rtol: 1e-5, atol: 1e-5, what, sourceLocation: sourceLocation)
    }

    @Test(arguments: 0..<2, [true, false])
    func gelu(index: Int, vectorKernel: Bool) throws {
        let f = try cases("gelu")[index]
        let name = try #require(f["approximate"] as? String)
        let layer = GELU(approximation: try #require(GELU.Approximation(rawValue: name)))
        layer.usesVectorKernel = vectorKernel && GELU.vectorKernelAvailable
        let x = try fixtureTensor(f, "x")
        try expectMatch(layer.forward(x).values, f, "y", "\(layer) y")
        try expectMatch(try #require(layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)).values, f, "dx", "\(layer) dx")
    }

    @Test(arguments: 0..<2)
    func layerNorm(index: Int) throws {
        let f = try cases("layernorm")[index]
        let x = try fixtureTensor(f, "x")
        let layer = LayerNorm(x.shape.last!)
        let model = try hosted(layer, inputShape: Array(x.shape.dropFirst()))
        try setParameter(model, "0.weight", try fixtureTensor(f, "weight").values)
        try setParameter(model, "0.bias", try fixtureTensor(f, "bias").values)
        try expectMatch(layer.forward(x).values, f, "y", "y \(x.shape)")
        model.zeroGradients()
        try expectMatch(try #require(layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)).values, f, "dx", "dx")
        try expectMatch(try gradient(model, "0.weight"), f, "dweight", "dweight")
        try expectMatch(try gradient(model, "0.bias"), f, "dbias", "dbias")
    }

    @Test func embedding() throws {
        let f = try single("embedding")
        let w = try fixtureTensor(f, "weight"), ids = try fixtureTensor(f, "ids")
        let layer = Embedding(w.shape[0], w.shape[1])
        let model = try hosted(layer, inputShape: Array(ids.shape.dropFirst()))
        try setParameter(model, "0.weight", w.values)
        try expectMatch(layer.forward(ids).values, f, "y", "y")
        model.zeroGradients()
        _ = layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: false)
        try expectMatch(try gradient(model, "0.weight"), f, "dweight", "dweight")
    }

    @Test func positionalEmbedding() throws {
        let f = try single("positional_embedding")
        let w = try fixtureTensor(f, "weight"), x = try fixtureTensor(f, "x")
        let layer = PositionalEmbedding(w.shape[0], w.shape[1])
        let model = try hosted(layer, inputShape: Array(x.shape.dropFirst()))
        try setParameter(model, "0.weight", w.values)
        try expectMatch(layer.forward(x).values, f, "y", "y")
        model.zeroGradients()
        try expectMatch(try #require(layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)).values, f, "dx", "dx")
        try expectMatch(try gradient(model, "0.weight"), f, "dweight", "dweight")
    }

    /// Loads the named parameters, runs forward and backward, compares everything.
    private func checkNamed(_ layer: any Layer, _ f: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let x = try fixtureTensor(f, "x")
        let model = try hosted(layer, inputShape: Array(x.shape.dropFirst()))
        let names = try #require(f["names"] as? [String])
        let parameters = try #require(f["parameters"] as? [String: Any]), gradients = try #require(f["gradients"] as? [String: Any])
        #expect(model.arena.views.map(\.name) == names.map { "0." + $0 }, "PyTorch's state_dict order", sourceLocation: sourceLocation)
        for name in names {
            let p = try fixtureTensor(parameters, name)
            #expect(model.arena.view(named: "0." + name)?.shape == p.shape, "\(name) shape", sourceLocation: sourceLocation)
            try setParameter(model, "0." + name, p.values)
        }
        try expectMatch(layer.forward(x).values, f, "y", "\(layer) y", sourceLocation: sourceLocation)
        model.zeroGradients()
        try expectMatch(try #require(layer.backward(try fixtureTensor(f, "dy"), computeInputGradient: true)).values, f, "dx",
                        "\(layer) dx", sourceLocation: sourceLocation)
        for name in names {
            try expectMatch(try gradient(model, "0." + name), gradients, name, "\(layer) d\(name)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: 0..<2)
    func multiheadAttention(index: Int) throws {
        let f = try cases("attention")[index]
        let layer = MultiheadAttention(try #require(f["dim"] as? Int), heads: try #require(f["heads"] as? Int),
                                       causal: try #require(f["causal"] as? Bool))
        layer.blockRows = 2
        try checkNamed(layer, f)
    }

    @Test func transformerBlock() throws {
        let f = try single("block")
        let layer = TransformerBlock(try #require(f["dim"] as? Int), heads: try #require(f["heads"] as? Int),
                                     mlpRatio: try #require(f["mlp_ratio"] as? Int), causal: try #require(f["causal"] as? Bool))
        try checkNamed(layer, f)
    }
}
