import Datasets
import Foundation
import NeuralNet
import Testing

/// The whole single-process loop on real data: seed-mlp on the first 2,000 Fashion-MNIST
/// training images, SGD with momentum, one epoch. The training loss over the whole slice
/// after the epoch must be below half of the loss before it.
@Test(.enabled(if: FileIO.isDirectory(FashionMNIST.defaultDirectory),
               "needs Fashion-MNIST in \(FashionMNIST.defaultDirectory) (apt-get install dataset-fashion-mnist)"))
func seedMLPHalvesItsLossOnAFashionMNISTSliceInOneEpoch() throws {
    var train = try FashionMNIST.load().train.slice(0..<2000)
    train.normalize(Normalization.fit(train))
    let model = try ModelZoo.make("seed-mlp", seed: 7)
    let optimizer = try SGD(parameterCount: model.parameterCount, momentum: 0.9)
    let loss = CrossEntropyLoss()
    let batch = 32
    let input = Tensor(shape: [batch] + model.inputShape)
    var labels = [Int32](repeating: 0, count: batch)

    func load(_ step: Int) {
        labels.withUnsafeMutableBufferPointer { l in
            train.copyRange((step * batch)..<((step + 1) * batch), features: input.data, labels: l.baseAddress!)
        }
    }
    func sliceLoss() -> Float {
        var total: Float = 0
        for step in 0..<(train.count / batch) {
            load(step)
            let logits = model.forward(input)
            total += labels.withUnsafeBufferPointer { loss.forward(logits, labels: $0).loss }
        }
        return total / Float(train.count / batch)
    }

    let before = sliceLoss()
    for step in 0..<(train.count / batch) {
        load(step)
        model.zeroGradients()
        let logits = model.forward(input)
        _ = labels.withUnsafeBufferPointer { loss.forward(logits, labels: $0) }
        model.backward(loss.backward())
        optimizer.step(model.arena, learningRate: 0.05)
    }
    let after = sliceLoss()
    print("seed-mlp on 2,000 Fashion-MNIST images: training loss \(before) -> \(after) after one epoch")
    #expect(before > 2.0, "an untrained 10-class model starts near ln(10) = 2.3, got \(before)")
    #expect(after < before / 2, "training loss went from \(before) to \(after) in one epoch; expected below half")
}
