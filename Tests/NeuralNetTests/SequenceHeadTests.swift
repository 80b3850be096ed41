import Testing
@testable import NeuralNet

/// What turns a recurrent layer's `[N, T, H]` into predictions: ``LastTimeStep`` for one
/// prediction per sequence, a ``Linear`` over every step with a token-wise
/// ``CrossEntropyLoss`` for language modelling, and a whole loop that learns with them.
@Suite struct SequenceHeadTests {
    @Test func lastTimeStep() throws {
        try checkLayerGradients(LastTimeStep(), input: randomTensor([3, 4, 5], seed: 61))
        let x = Tensor(shape: [2, 3, 2], values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        let last = LastTimeStep()
        #expect(last.forward(x).values == [5, 6, 11, 12])
        #expect(last.backward(Tensor(shape: [2, 2], values: [1, 2, 3, 4]), computeInputGradient: true)!.values
                == [0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 3, 4])
        #expect(throws: NeuralNetError.self) { _ = try last.outputShape(forInput: [8]) }
        #expect(throws: NeuralNetError.self) { _ = try last.outputShape(forInput: [0, 8]) }
    }

    @Test func linearOverEveryStep() throws {
        try checkLayerGradients(Linear(5, 3), input: randomTensor([2, 4, 5], seed: 62))
        // the same as the rows [N·T, in] through the same weights
        let seq = Linear(5, 3), rows = Linear(5, 3)
        let a = try hosted(seq, inputShape: [4, 5], seed: 2), b = try hosted(rows, inputShape: [5], seed: 2)
        let x = randomTensor([2, 4, 5], seed: 63), xr = Tensor(shape: [8, 5], values: x.values)
        let y = seq.forward(x)
        #expect(y.shape == [2, 4, 3])
        #expect(y.values == rows.forward(xr).values)
        let dy = randomTensor([2, 4, 3], seed: 64)
        a.zeroGradients(); b.zeroGradients()
        #expect(seq.backward(dy, computeInputGradient: true)!.values
                == rows.backward(Tensor(shape: [8, 3], values: dy.values), computeInputGradient: true)!.values)
        #expect(Array(a.arena.gradients) == Array(b.arena.gradients))
        #expect((try? Linear(5, 3).outputShape(forInput: [7, 5])) == [7, 3])
        #expect(throws: NeuralNetError.self) { _ = try Linear(5, 3).outputShape(forInput: [1, 7, 5]) }
        #expect(throws: NeuralNetError.self) { _ = try Linear(5, 3).outputShape(forInput: [7, 4]) }
        #expect(try Sequential(inputShape: [6, 5], [Linear(5, 3)], seed: 1).trainingFLOPsPerSample == 6 * 2 * 5 * 3 * 2)
    }

    @Test func crossEntropyOverTokens() {
        let logits = randomTensor([2, 3, 5], seed: 65, scale: 2)
        let flat = Tensor(shape: [6, 5], values: logits.values)
        let labels: [Int32] = [4, 0, 1, 1, 3, 2]
        let tokenwise = CrossEntropyLoss(), rowwise = CrossEntropyLoss()
        let a = labels.withUnsafeBufferPointer { tokenwise.forward(logits, labels: $0) }
        let b = labels.withUnsafeBufferPointer { rowwise.forward(flat, labels: $0) }
        #expect(a.loss == b.loss && a.correct == b.correct)
        let g = tokenwise.backward()
        #expect(g.shape == [2, 3, 5])
        #expect(g.values == rowwise.backward().values)
    }

    /// One-hot sequences over 4 symbols; at every step from the third on, the model must
    /// name the symbol seen two steps earlier (a memory of two steps), trained token-wise.
    @Test(arguments: ["lstm", "gru"])
    func recurrentLanguageModelLearnsADelayedCopy(kind: String) throws {
        let vocabulary = 4, steps = 8, batch = 16, hidden = 16
        let recurrent: any Layer = kind == "lstm" ? LSTM(vocabulary, hidden) : GRU(vocabulary, hidden)
        let model = try Sequential(inputShape: [steps, vocabulary], [recurrent, Linear(hidden, vocabulary)], seed: 5)
        let ce = CrossEntropyLoss()
        let adam = try AdamW(parameterCount: model.parameterCount, weightDecay: 0)
        var rng = SeededRNG(seed: 6)
        let x = Tensor(shape: [batch, steps, vocabulary])
        var labels = [Int32](repeating: 0, count: batch * steps)
        func sample() {
            x.fill(0)
            var symbols = [Int](repeating: 0, count: steps)
            for b in 0..<batch {
                for t in 0..<steps {
                    symbols[t] = rng.next(below: vocabulary)
                    x.data[(b * steps + t) * vocabulary + symbols[t]] = 1
                    labels[b * steps + t] = Int32(t >= 2 ? symbols[t - 2] : 0)
                }
            }
        }
        var first: Float = 0, loss: Float = 0
        for step in 0..<300 {
            sample()
            model.zeroGradients()
            loss = labels.withUnsafeBufferPointer { ce.forward(model.forward(x), labels: $0).loss }
            if step == 0 { first = loss }
            model.backward(ce.backward())
            adam.step(model.arena, learningRate: 0.02)
        }
        sample()
        let logits = model.forward(x)
        var correct = 0
        for b in 0..<batch {
            for t in 2..<steps {
                let row = Array(UnsafeBufferPointer(start: logits.data + (b * steps + t) * vocabulary, count: vocabulary))
                if row.firstIndex(of: row.max()!) == Int(labels[b * steps + t]) { correct += 1 }
            }
        }
        #expect(correct == batch * (steps - 2), "\(kind): \(correct) of \(batch * (steps - 2)) recalled; loss \(first) -> \(loss)")
    }
}
