import Testing
@testable import NeuralNet

/// Presets and specs: names, shapes and parameter counts equal PyTorch's nn.Sequential.
@Suite struct ModelZooTests {
    func layout(_ model: Sequential) -> [String] { model.arena.views.map { "\($0.name) \($0.shape)" } }

    @Test func seedMLP() throws {
        let m = try ModelZoo.make("seed-mlp", seed: 1)
        #expect(m.inputShape == [784] && m.outputCount == 10)
        #expect(layout(m) == [
            "0.weight [512, 784]", "0.bias [512]", "2.weight [256, 512]", "2.bias [256]",
            "4.weight [256, 256]", "4.bias [256]", "6.weight [128, 256]", "6.bias [128]",
            "8.weight [10, 128]", "8.bias [10]",
        ])
        #expect(m.parameterCount == 401_920 + 131_328 + 65_792 + 32_896 + 1_290)
        #expect(m.layers.count == 9)
    }

    @Test func seedCNN() throws {
        let m = try ModelZoo.make("seed-cnn", seed: 1)
        #expect(m.inputShape == [1, 28, 28] && m.outputCount == 10)
        #expect(layout(m) == [
            "0.weight [16, 1, 3, 3]", "0.bias [16]", "2.weight [32, 16, 3, 3]", "2.bias [32]",
            "5.weight [128, 3872]", "5.bias [128]", "7.weight [10, 128]", "7.bias [10]",
        ])
        #expect(m.layers.map(\.parameterCount) == [160, 0, 4640, 0, 0, 495_744, 0, 1290])
        #expect(m.parameterCount == 160 + 4640 + 495_744 + 1290)
        let x = randomTensor([3, 1, 28, 28], seed: 1)
        #expect(m.forward(x).shape == [3, 10])
    }

    @Test func bnCNN() throws {
        let m = try ModelZoo.make("bn-cnn", seed: 1)
        #expect(layout(m) == [
            "0.weight [32, 1, 3, 3]", "0.bias [32]", "1.weight [32]", "1.bias [32]",
            "4.weight [64, 32, 3, 3]", "4.bias [64]", "5.weight [64]", "5.bias [64]",
            "9.weight [128, 3136]", "9.bias [128]", "11.weight [10, 128]", "11.bias [10]",
        ])
        #expect(m.arena.bufferViews.map(\.name) == [
            "1.running_mean", "1.running_var", "1.num_batches_tracked",
            "5.running_mean", "5.running_var", "5.num_batches_tracked",
        ])
        #expect(m.forward(randomTensor([2, 1, 28, 28], seed: 2)).shape == [2, 10])
    }

    @Test func sigmoidNetAndMLPSpec() throws {
        let s = try ModelZoo.make("sigmoid-net:2,4,1", seed: 1)
        #expect(s.layers.map(\.description) == [
            "Linear(in_features=2, out_features=4, bias=True)", "Sigmoid()",
            "Linear(in_features=4, out_features=1, bias=True)", "Sigmoid()",
        ])
        let m = try ModelZoo.make("mlp:784,256,128,10", seed: 1)
        #expect(m.layers.count == 5 && m.parameterCount == 200_960 + 32_896 + 1290)
        #expect(m.describe().contains("(4): Linear(in_features=128, out_features=10, bias=True)  params=1290"))
        #expect(ModelZoo.presetNames.sorted() == ["bn-cnn", "seed-cnn", "seed-mlp", "sigmoid-net"])
        for name in ModelZoo.presetNames { _ = try ModelZoo.make(name, seed: 0) }
    }

    @Test func trainingFLOPsCountFromLayerShapes() throws {
        // the first layer skips its input gradient: 2 GEMMs instead of 3
        let mlp = try ModelZoo.make("seed-mlp", seed: 1)
        #expect(mlp.trainingFLOPsPerSample == 2 * 784 * 512 * 2 + 2 * (512 * 256 + 256 * 256 + 256 * 128 + 128 * 10) * 3)
        let cnn = try ModelZoo.make("seed-cnn", seed: 1)
        #expect(cnn.trainingFLOPsPerSample == 2 * 16 * 9 * 169 * 2 + 2 * 32 * 144 * 121 * 3 + 2 * (3872 * 128 + 128 * 10) * 3)
        #expect(cnn.describe().hasPrefix("(0): Conv2d(1, 16, kernel_size=(3, 3), stride=(2, 2))  params=160\n(1): ReLU()"))
    }

    @Test func arenaIsContiguousInForwardOrder() throws {
        let m = try ModelZoo.make("seed-cnn", seed: 1)
        var offset = 0
        for v in m.arena.views {
            #expect(v.offset == offset)
            offset += v.count
        }
        #expect(offset == m.parameterCount && m.arena.gradients.count == offset)
    }

    @Test func gradientCallbacksCoverTheArenaOnceInBackwardOrder() throws {
        let m = try ModelZoo.make("seed-cnn", seed: 1)
        let ce = CrossEntropyLoss()
        let labels: [Int32] = [1, 2]
        let logits = m.forward(randomTensor([2, 1, 28, 28], seed: 3))
        _ = labels.withUnsafeBufferPointer { ce.forward(logits, labels: $0) }
        m.zeroGradients()
        var ranges: [Range<Int>] = []
        m.backward(ce.backward()) { ranges.append($0) }
        #expect(ranges.count == 4)
        #expect(ranges.map(\.upperBound) == ranges.map(\.upperBound).sorted(by: >))
        #expect(ranges.first?.upperBound == m.parameterCount && ranges.last?.lowerBound == 0)
        for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(b.upperBound == a.lowerBound) }
    }

    @Test func modelBackwardMatchesFiniteDifferences() throws {
        let m = try ModelZoo.make("mlp:6,5,4", seed: 2)
        let x = randomTensor([3, 6], seed: 4)
        let labels: [Int32] = [0, 3, 1]
        let ce = CrossEntropyLoss()
        func loss() -> Float { labels.withUnsafeBufferPointer { ce.forward(m.forward(x), labels: $0).loss } }
        _ = loss()
        m.zeroGradients()
        m.backward(ce.backward())
        let analytic = Array(m.arena.gradients)
        let p = m.arena.parameters
        for i in stride(from: 0, to: p.count, by: 3) {
            let saved = p[i]
            p[i] = saved + 1e-2; let plus = loss()
            p[i] = saved - 1e-2; let minus = loss()
            p[i] = saved
            assertClose(analytic[i], (plus - minus) / 2e-2, rtol: 2e-2, atol: 2e-3, "parameter \(i)")
        }
    }

    /// Three SGD steps (momentum 0.9, lr 0.1) of cross-entropy training on one batch.
    func trainThreeSteps(_ model: Sequential, _ x: Tensor, _ labels: [Int32]) throws {
        let ce = CrossEntropyLoss()
        let sgd = try SGD(parameterCount: model.parameterCount, momentum: 0.9)
        for _ in 0..<3 {
            model.zeroGradients()
            _ = labels.withUnsafeBufferPointer { ce.forward(model.forward(x), labels: $0) }
            model.backward(ce.backward())
            sgd.step(model.arena, learningRate: 0.1)
        }
    }

    @Test func convReLUFusionIsBitIdenticalToSeparateLayers() throws {
        func make() throws -> Sequential {
            try Sequential(inputShape: [2, 9, 9], [
                Conv2d(2, 8, kernelSize: 3, stride: 2, padding: 1), ReLU(),
                Conv2d(8, 4, kernelSize: 3, padding: 1), ReLU(), Flatten(), Linear(4 * 5 * 5, 3),
            ], seed: 3)
        }
        let fused = try make(), separate = try make()
        separate.setLayerFusion(false)
        #expect((fused.layers[0] as? Conv2d)?.fusesReLU == true && (fused.layers[3] as? ReLU)?.fusedIntoPrevious == true)
        #expect((separate.layers[0] as? Conv2d)?.fusesReLU == false)
        let x = randomTensor([5, 2, 9, 9], seed: 8)
        let labels: [Int32] = [0, 2, 1, 1, 0]
        for model in [fused, separate] { try trainThreeSteps(model, x, labels) }
        #expect(Array(fused.arena.parameters) == Array(separate.arena.parameters))
        #expect(Array(fused.arena.gradients) == Array(separate.arena.gradients))
        #expect(fused.forward(x).values == separate.forward(x).values)
    }

    @Test func batchNormReLUFusionIsBitIdenticalToSeparateLayers() throws {
        func make() throws -> Sequential {
            try Sequential(inputShape: [2, 9, 9], [
                Conv2d(2, 6, kernelSize: 3, padding: 1), BatchNorm2d(6), ReLU(), MaxPool2d(kernelSize: 2),
                Flatten(), Linear(6 * 4 * 4, 5), BatchNorm1d(5), ReLU(), Linear(5, 3),
            ], seed: 4)
        }
        let fused = try make(), separate = try make()
        separate.setLayerFusion(false)
        #expect((fused.layers[1] as? BatchNorm)?.fusesReLU == true && (fused.layers[2] as? ReLU)?.fusedIntoPrevious == true)
        #expect((fused.layers[6] as? BatchNorm)?.fusesReLU == true && (fused.layers[7] as? ReLU)?.fusedIntoPrevious == true)
        #expect((separate.layers[1] as? BatchNorm)?.fusesReLU == false && (separate.layers[6] as? BatchNorm)?.fusesReLU == false)
        let x = randomTensor([6, 2, 9, 9], seed: 9)
        let labels: [Int32] = [0, 2, 1, 1, 0, 2]
        for model in [fused, separate] { try trainThreeSteps(model, x, labels) }
        #expect(Array(fused.arena.parameters) == Array(separate.arena.parameters))
        #expect(Array(fused.arena.gradients) == Array(separate.arena.gradients))
        #expect(Array(fused.arena.buffers) == Array(separate.arena.buffers))
        #expect(fused.arena.gradients.contains { $0 != 0 })
        fused.setTraining(false); separate.setTraining(false)
        #expect(fused.forward(x).values == separate.forward(x).values)
    }

    @Test func evaluationModeDisablesDropout() throws {
        let m = try Sequential(inputShape: [8], [Linear(8, 8), Dropout(p: 0.5)], seed: 1)
        let x = randomTensor([4, 8], seed: 5)
        m.setTraining(false)
        let a = m.forward(x).values
        let b = m.layers[0].forward(x).values
        #expect(a == b)
        m.setTraining(true)
        m.setRandomSeed(1)
        let c = m.forward(x).values
        m.setRandomSeed(1)
        #expect(m.forward(x).values == c)
        #expect(c.filter { $0 == 0 }.count > 4)
    }
}

/// Bad input from outside: errors whose messages name the value.
@Suite struct BadInputTests {
    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return error.localizedDescription }
    }

    @Test func unknownModelAndMalformedSpecs() {
        #expect(message { _ = try ModelZoo.make("resnet50", seed: 1) }.contains("\"resnet50\""))
        #expect(message { _ = try ModelZoo.make("mlp:784,,10", seed: 1) }.contains("mlp:784,,10"))
        #expect(message { _ = try ModelZoo.make("mlp:abc", seed: 1) }.contains("\"abc\""))
        #expect(message { _ = try ModelZoo.make("mlp:784", seed: 1) }.contains("at least two"))
        #expect(message { _ = try ModelZoo.make("mlp:784,-3", seed: 1) }.contains("-3"))
    }

    @Test func badHyperparameters() {
        #expect(message { _ = try SGD(parameterCount: 1, momentum: 1.5) }.contains("momentum 1.5"))
        #expect(message { _ = try SGD(parameterCount: 1, momentum: 1) }.contains("momentum 1.0"))
        #expect(message { _ = try SGD(parameterCount: 1, nesterov: true) }.contains("nesterov"))
        #expect(message { _ = try SGD(parameterCount: 1, weightDecay: -1) }.contains("-1.0"))
        #expect(message { _ = try AdamW(parameterCount: 1, beta2: 1) }.contains("beta2 1.0"))
        #expect(message { _ = try LearningRateSchedule(baseLR: -0.1, kind: .constant) }.contains("learning rate -0.1"))
        #expect(message { _ = try LearningRateSchedule.parse("constant", baseLR: -0.5, warmupSteps: 0) }.contains("-0.5"))
    }

    @Test(arguments: ["step:abc:0.1", "step:100", "multistep:500,,800:0.1", "exp", "exp:x", "cosine:0",
                      "linear:5", "", "constant:3", "multistep:800,500:0.1", "step:100:-1"])
    func badSchedules(text: String) {
        let m = message { _ = try LearningRateSchedule.parse(text, baseLR: 0.1, warmupSteps: 0) }
        #expect(m.contains("\"\(text)\""), "message \(m)")
    }

    @Test func inputShapeMismatchIsCatchable() throws {
        let m = try ModelZoo.make("seed-mlp", seed: 1)
        try m.validateInput(shape: [64, 784])
        let text = message { try m.validateInput(shape: [64, 1, 28, 28]) }
        #expect(text.contains("[64, 1, 28, 28]") && text.contains("[784]"))
    }
}
