import Data
import Foundation
import NeuralNet
import Testing

/// The whole single-process loop on real data: seed-mlp on the first 2,000 Fashion-MNIST
/// training images, batch 64, SGD with momentum, one epoch. The training loss of the
/// epoch's last batches must fall below half of the first batches'.
@Test func seedMLPHalvesItsLossOnAFashionMNISTSliceInOneEpoch() throws {
    guard FileIO.isDirectory(FashionMNIST.defaultDirectory) else {
        print("skipped: \(FashionMNIST.defaultDirectory) is absent (apt-get install dataset-fashion-mnist)")
        return
    }
    var train = try FashionMNIST.load().train.slice(0..<2000)
    train.normalize(Normalization.fit(train))
    let model = try ModelZoo.make("seed-mlp", seed: 7)
    let optimizer = try SGD(parameterCount: model.parameterCount, momentum: 0.9)
    let loss = CrossEntropyLoss()
    let batch = 64
    let input = Tensor(shape: [batch] + model.inputShape)
    var labels = [Int32](repeating: 0, count: batch)
    var losses: [Float] = []
    for step in 0..<(train.count / batch) {
        labels.withUnsafeMutableBufferPointer { l in
            train.copyRange((step * batch)..<((step + 1) * batch), features: input.data, labels: l.baseAddress!)
        }
        model.zeroGradients()
        let logits = model.forward(input)
        let value = labels.withUnsafeBufferPointer { loss.forward(logits, labels: $0).loss }
        model.backward(loss.backward())
        optimizer.step(model.arena, learningRate: 0.05)
        losses.append(value)
    }
    let start = losses.prefix(3).reduce(0, +) / 3
    let end = losses.suffix(5).reduce(0, +) / 5
    print("seed-mlp on 2,000 Fashion-MNIST images: loss \(start) -> \(end) in one epoch")
    #expect(start > 2.0, "an untrained 10-class model starts near ln(10) = 2.3, got \(start)")
    #expect(end < start / 2, "loss went from \(start) to \(end) in one epoch; expected below half")
}
