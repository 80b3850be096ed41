import Testing
@testable import NeuralNet

/// The whole loop (forward, loss, backward, optimizer) learns.
@Suite struct ConvergenceTests {
    @Test func sigmoidNetLearnsXOR() throws {
        let model = try ModelZoo.make("sigmoid-net:2,4,1", seed: 3)
        let x = Tensor(shape: [4, 2], values: [0, 0, 0, 1, 1, 0, 1, 1])
        let y = Tensor(shape: [4, 1], values: [0, 1, 1, 0])
        let mse = MSELoss()
        let sgd = try SGD(parameterCount: model.parameterCount, momentum: 0.9)
        var loss: Float = 1
        for _ in 0..<2000 {
            model.zeroGradients()
            loss = mse.forward(model.forward(x), target: y)
            model.backward(mse.backward())
            sgd.step(model.arena, learningRate: 0.5)
        }
        let out = model.forward(x).values
        #expect(loss < 0.02, "final XOR loss \(loss)")
        #expect(out[0] < 0.3 && out[1] > 0.7 && out[2] > 0.7 && out[3] < 0.3, "outputs \(out)")
    }

    @Test func seedMLPHalvesItsLossWithinOneEpoch() throws {
        // 10 Gaussian clusters in 784 dimensions, 2048 samples, batch 64.
        var rng = SeededRNG(seed: 11)
        let classes = 10, features = 784, count = 2048, batch = 64
        let centres = (0..<classes * features).map { _ in rng.nextNormal() }
        let labels = (0..<count).map { _ in Int32(rng.next(below: classes)) }
        let data = Tensor(shape: [count, features])
        for i in 0..<count {
            for f in 0..<features { data.data[i * features + f] = centres[Int(labels[i]) * features + f] + rng.nextNormal() }
        }
        let model = try ModelZoo.make("seed-mlp", seed: 1)
        let ce = CrossEntropyLoss()
        let sgd = try SGD(parameterCount: model.parameterCount, momentum: 0.9)
        let x = Tensor(shape: [batch, features])
        var losses: [Float] = []
        for b in 0..<(count / batch) {
            x.data.update(from: data.data + b * batch * features, count: batch * features)
            model.zeroGradients()
            let loss = labels[(b * batch)..<((b + 1) * batch)].withUnsafeBufferPointer { ce.forward(model.forward(x), labels: $0).loss }
            losses.append(loss)
            model.backward(ce.backward())
            sgd.step(model.arena, learningRate: 0.1)
        }
        let start = losses.prefix(2).reduce(0, +) / 2
        let end = losses.suffix(4).reduce(0, +) / 4
        #expect(end < start / 2, "loss went from \(start) to \(end)")
    }
}
