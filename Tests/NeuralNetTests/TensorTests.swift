import Testing
@testable import NeuralNet

/// Tensor storage and shape handling.
@Suite struct TensorTests {
    @Test func reshapeKeepsDataAndRejectsNothingValid() {
        let t = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let before = t.data
        t.reshape([3, 2])
        #expect(t.shape == [3, 2] && t.values == [1, 2, 3, 4, 5, 6] && t.data == before)
        t.reshape([6])
        #expect(t.count == 6)
    }

    @Test func resizeReusesStorageWhenItFits() {
        let t = Tensor(shape: [4, 4])
        let before = t.data
        t.resize(to: [2, 8])
        #expect(t.data == before)
        t.resize(to: [3, 3])
        #expect(t.data == before && t.count == 9)
    }

    @Test func flattenIsAViewAndLayersReuseOutputs() throws {
        let m = try ModelZoo.make("seed-cnn", seed: 1)
        let x = randomTensor([2, 1, 28, 28], seed: 1)
        let first = m.forward(x)
        let second = m.forward(x)
        #expect(first === second, "the model's output tensor is reused")
        let flat = Flatten()
        let y = flat.forward(x)
        #expect(y.data == x.data && y.shape == [2, 784])
    }
}
