import Testing
@testable import NeuralNet

/// SGD and AdamW against hand-computed PyTorch-semantics values on a 2-parameter arena.
@Suite struct OptimizerTests {
    /// An arena of two parameters with fixed values and gradients.
    func arena(_ p: [Float], _ g: [Float]) -> ParameterArena {
        let a = ParameterArena(views: [ParameterView(name: "0.weight", shape: [p.count], offset: 0)], bufferViews: [])
        for i in p.indices { a.parameters[i] = p[i]; a.gradients[i] = g[i] }
        return a
    }

    @Test func plainSGD() throws {
        let a = arena([1, -2], [0.5, 0.25])
        let sgd = try SGD(parameterCount: 2)
        sgd.step(a, learningRate: 0.1)
        assertClose(Array(a.parameters), [0.95, -2.025])
        #expect(sgd.stateBuffers.isEmpty)
    }

    @Test func momentumFirstStepCopiesTheGradientThenAccumulates() throws {
        let a = arena([1, -2], [0.5, 0.25])
        let sgd = try SGD(parameterCount: 2, momentum: 0.9, dampening: 0.5)
        sgd.step(a, learningRate: 0.1)
        // step 1: buf = g (no dampening on the first step, like PyTorch) -> p = 1 - 0.05
        assertClose(Array(a.parameters), [0.95, -2.025])
        assertClose(Array(sgd.stateBuffers[0].buffer), [0.5, 0.25])
        #expect(sgd.stateBuffers[0].name == "momentum_buffer")
        a.gradients[0] = 1; a.gradients[1] = -1
        sgd.step(a, learningRate: 0.1)
        // step 2: buf = 0.9·buf + 0.5·g = [0.95, -0.275]
        assertClose(Array(sgd.stateBuffers[0].buffer), [0.95, -0.275])
        assertClose(Array(a.parameters), [0.95 - 0.095, -2.025 + 0.0275])
        #expect(sgd.stepCount == 2)
    }

    @Test func nesterovWithWeightDecay() throws {
        let a = arena([1, -2], [0.5, 0.25])
        let sgd = try SGD(parameterCount: 2, momentum: 0.9, nesterov: true, weightDecay: 0.1)
        sgd.step(a, learningRate: 0.1)
        // d = g + 0.1·p = [0.6, 0.05]; buf = d; update = d + 0.9·buf = [1.14, 0.095]
        assertClose(Array(a.parameters), [1 - 0.114, -2 - 0.0095])
        a.gradients[0] = 0; a.gradients[1] = 0
        sgd.step(a, learningRate: 0.1)
        // d = 0.1·p = [0.0886, -0.20095]; buf = 0.9·[0.6, 0.05] + d = [0.6286, -0.15595]
        // update = d + 0.9·buf = [0.65434, -0.341305]
        assertClose(Array(sgd.stateBuffers[0].buffer), [0.6286, -0.15595], rtol: 1e-5, atol: 1e-6)
        assertClose(Array(a.parameters), [0.886 - 0.065434, -2.0095 + 0.0341305], rtol: 1e-5, atol: 1e-6)
    }

    @Test func adamW() throws {
        let a = arena([1, -2], [0.5, -0.25])
        let adam = try AdamW(parameterCount: 2, weightDecay: 0.1)
        adam.step(a, learningRate: 0.01)
        // step 1: p·(1 - 0.001); m̂ = g, v̂ = g² -> p -= 0.01·g/(|g| + 1e-8)
        assertClose(Array(a.parameters), [0.999 - 0.01, -1.998 + 0.01], rtol: 1e-6, atol: 1e-6)
        a.gradients[0] = -0.5
        a.gradients[1] = -0.25
        adam.step(a, learningRate: 0.01)
        // step 2, element 0: m = 0.1·0.5 + ... computed in Double below
        func expected(_ p0: Double, _ g1: Double, _ g2: Double) -> Double {
            var p = p0 * (1 - 0.001)
            var m = 0.1 * g1, v = 0.001 * g1 * g1
            p -= 0.01 / 0.1 * m / ((v / 0.001).squareRoot() + 1e-8)
            p *= 1 - 0.001
            m = 0.9 * m + 0.1 * g2
            v = 0.999 * v + 0.001 * g2 * g2
            let bc1 = 1 - 0.81, bc2 = 1 - 0.999 * 0.999
            return p - 0.01 / bc1 * m / ((v.squareRoot() / bc2.squareRoot()) + 1e-8)
        }
        assertClose(Array(a.parameters), [Float(expected(1, 0.5, -0.5)), Float(expected(-2, -0.25, -0.25))], rtol: 1e-5, atol: 1e-6)
        #expect(adam.stateBuffers.map(\.name) == ["exp_avg", "exp_avg_sq"])
        #expect(adam.stepCount == 2)
    }

    /// Updating disjoint ranges, then `finishStep`, is bit-identical to `step`: what ranks
    /// that share the parameters (`--allreduce shared`) rely on.
    @Test func rangeUpdatesEqualOneStep() throws {
        let n = 1000
        let makers: [(String, () throws -> any Optimizer)] = [
            ("plain SGD", { try SGD(parameterCount: n, weightDecay: 0.01) }),
            ("momentum", { try SGD(parameterCount: n, momentum: 0.9, dampening: 0.1, weightDecay: 0.01) }),
            ("nesterov", { try SGD(parameterCount: n, momentum: 0.9, nesterov: true, weightDecay: 0.01) }),
            ("AdamW", { try AdamW(parameterCount: n, weightDecay: 0.1) }),
        ]
        var rng = SeededRNG(seed: 7)
        let p0 = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let grads = (0..<3).map { _ in (0..<n).map { _ in Float.random(in: -1...1, using: &rng) } }
        for (name, make) in makers {
            let whole = arena(p0, grads[0]), pieces = arena(p0, grads[0])
            let a = try make(), b = try make()
            for (k, g) in grads.enumerated() {
                for i in 0..<n { whole.gradients[i] = g[i]; pieces.gradients[i] = g[i] }
                a.step(whole, learningRate: 0.05)
                for range in [600..<1000, 0..<17, 17..<600, 300..<300] { b.update(pieces, range: range, learningRate: 0.05) }
                b.finishStep()
                #expect(Array(whole.parameters) == Array(pieces.parameters), "\(name), step \(k + 1): parameters")
                #expect(a.stateBuffers.map { Array($0.buffer) } == b.stateBuffers.map { Array($0.buffer) }, "\(name), step \(k + 1): state")
                #expect(a.stepCount == b.stepCount)
            }
        }
    }

    /// Parameters, gradients and optimizer state move into storage of the caller's and back,
    /// with their values or (when another process wrote them) without.
    @Test func placingParametersGradientsAndState() throws {
        let model = try ModelZoo.make("mlp:4,3,2", seed: 1)
        let n = model.parameterCount
        let before = Array(model.arena.parameters)
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4 * n)
        defer { storage.deallocate() }
        storage.initialize(repeating: 9)
        func part(_ k: Int) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(rebasing: storage[(k * n)..<((k + 1) * n)]) }
        let sgd = try SGD(parameterCount: n, momentum: 0.9)
        model.placeParameters(in: part(0))
        model.placeGradients(in: part(1))
        sgd.placeState(in: [part(2)])
        #expect(model.arena.parameters.baseAddress == part(0).baseAddress)
        #expect(Array(part(0)) == before, "the values went along")
        #expect(Array(part(2)) == Array(repeating: 0, count: n), "a fresh momentum buffer is zeros")
        let x = Tensor(shape: [1, 4])
        for i in 0..<4 { x.data[i] = Float(i) }
        let out = model.forward(x)
        let g = Tensor(shape: out.shape)
        for i in 0..<g.count { g.data[i] = 1 }
        model.backward(g)   // the gradients land in part(1)
        #expect(part(1).contains { $0 != 0 && $0 != 9 })
        sgd.step(model.arena, learningRate: 0.1)
        let trained = Array(part(0)), momentum = Array(part(2))
        model.placeParameters(in: nil)
        model.placeGradients(in: nil)
        sgd.placeState(in: nil)
        #expect(model.arena.parameters.baseAddress != part(0).baseAddress)
        #expect(Array(model.arena.parameters) == trained && Array(sgd.stateBuffers[0].buffer) == momentum, "back home with the latest values")
        // Storage that already holds the values is taken as it is.
        for i in 0..<n { part(3)[i] = Float(i) }
        model.placeParameters(in: part(3), keepingValues: false)
        #expect(Array(model.arena.parameters) == (0..<n).map { Float($0) })
        model.placeParameters(in: nil)
        #expect(Array(model.arena.parameters) == (0..<n).map { Float($0) })
    }
}

/// Every schedule at a few steps, with and without warm-up.
@Suite struct ScheduleTests {
    func lr(_ text: String, base: Float = 0.1, warmup: Int = 0, _ step: Int) throws -> Float {
        try LearningRateSchedule.parse(text, baseLR: base, warmupSteps: warmup).learningRate(at: step)
    }

    @Test func constant() throws {
        #expect(try lr("constant", 0) == 0.1)
        #expect(try lr("constant", 100_000) == 0.1)
    }

    @Test func stepDecay() throws {
        assertClose(try lr("step:1000:0.1", 999), 0.1)
        assertClose(try lr("step:1000:0.1", 1000), 0.01)
        assertClose(try lr("step:1000:0.1", 2500), 0.001)
    }

    @Test func multiStep() throws {
        assertClose(try lr("multistep:500,800:0.1", 499), 0.1)
        assertClose(try lr("multistep:500,800:0.1", 500), 0.01)
        assertClose(try lr("multistep:500,800:0.1", 900), 0.001)
    }

    @Test func exponential() throws {
        assertClose(try lr("exp:0.999", 0), 0.1)
        assertClose(try lr("exp:0.999", 1000), 0.1 * 0.36769542, rtol: 1e-5)
    }

    @Test func cosine() throws {
        assertClose(try lr("cosine:5000", 0), 0.1)
        assertClose(try lr("cosine:5000", 2500), 0.05)
        assertClose(try lr("cosine:5000", 5000), 0, atol: 1e-7)
        assertClose(try lr("cosine:5000", 9000), 0, atol: 1e-7)
        assertClose(try lr("cosine:100:0.01", 50), 0.055)
        assertClose(try lr("cosine:100:0.01", 100), 0.01)
    }

    @Test func warmupRampsThenHandsOver() throws {
        assertClose(try lr("step:10:0.5", warmup: 4, 0), 0.025)
        assertClose(try lr("step:10:0.5", warmup: 4, 3), 0.1)
        assertClose(try lr("step:10:0.5", warmup: 4, 13), 0.1)   // t = 9
        assertClose(try lr("step:10:0.5", warmup: 4, 14), 0.05)  // t = 10
        assertClose(try lr("cosine:100", warmup: 10, 60), 0.05)
    }
}

/// PyTorch-default initialisation.
@Suite struct InitializerTests {
    @Test func linearAndConvBoundsAreOneOverSqrtFanIn() throws {
        let model = try Sequential(inputShape: [1, 12, 12], [
            Conv2d(1, 64, kernelSize: 3), Flatten(), Linear(6400, 50),
        ], seed: 3)
        for view in model.arena.views {
            let fanIn = view.name.hasPrefix("0.") ? 9 : 6400
            let bound = 1 / Float(fanIn).squareRoot()
            let values = model.arena.parameters[view.range]
            #expect(values.allSatisfy { abs($0) <= bound }, "\(view.name) exceeds ±\(bound)")
            // uniform: the extreme values get close to the bound, the mean close to 0
            #expect(values.map(abs).max()! > 0.9 * bound, "\(view.name) does not fill ±\(bound)")
        }
    }

    @Test func sameSeedSameWeightsDifferentSeedDifferent() throws {
        let a = try ModelZoo.make("mlp:20,10,3", seed: 5), b = try ModelZoo.make("mlp:20,10,3", seed: 5)
        let c = try ModelZoo.make("mlp:20,10,3", seed: 6)
        #expect(Array(a.arena.parameters) == Array(b.arena.parameters))
        #expect(Array(a.arena.parameters) != Array(c.arena.parameters))
    }

    @Test func otherInitialisersHaveTheirMoments() {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 20_000)
        defer { buffer.deallocate() }
        var rng = SeededRNG(seed: 1)
        func stats() -> (mean: Float, std: Float, maxAbs: Float) {
            let mean = buffer.reduce(0, +) / Float(buffer.count)
            let variance = buffer.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(buffer.count)
            return (mean, variance.squareRoot(), buffer.map(abs).max()!)
        }
        Initializer.kaimingNormal(fanIn: 200).fill(buffer, rng: &rng)
        assertClose(stats().std, 0.1, rtol: 0.03)
        Initializer.xavierUniform(fanIn: 100, fanOut: 50).fill(buffer, rng: &rng)
        #expect(stats().maxAbs <= 0.2)
        assertClose(stats().std, 0.2 / Float(3).squareRoot(), rtol: 0.03)
        Initializer.normal(mean: 2, std: 0.5).fill(buffer, rng: &rng)
        assertClose(stats().mean, 2, rtol: 0.01)
        Initializer.zeros.fill(buffer, rng: &rng)
        #expect(buffer.allSatisfy { $0 == 0 })
    }
}
