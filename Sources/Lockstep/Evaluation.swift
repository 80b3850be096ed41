import Datasets
import MPI
import NeuralNet

/// Test-set evaluation split across ranks.
public enum Evaluation {
    /// The result over the whole test set (every rank gets the same numbers).
    public struct Result: Sendable {
        public var loss: Double
        public var accuracy: Double
        public var count: Int
    }

    /// The loss (cross-entropy unless `loss` says otherwise) and accuracy of `model` on
    /// `test`, in evaluation mode. Each rank
    /// takes a contiguous share (``evaluationRange(count:rank:worldSize:)``), so every
    /// sample counts exactly once whatever the world size; the sums are all-reduced.
    /// Collective. The model is left in training mode. `beforeReduce` runs when this rank's
    /// share is done, just before the all-reduce (the trainer tells its stall watchdog).
    public static func run(
        model: Sequential, on test: Dataset, world: Communicator, batchSize: Int,
        loss: ClassificationLoss = ClassificationLoss(), beforeReduce: () -> Void = {}
    ) throws -> Result {
        var sums = [0.0, 0.0, 0.0]   // loss sum, correct, count
        forEachBatch(model: model, of: test, world: world, batchSize: batchSize) { logits, _, labels in
            let (value, correct) = loss.forward(logits, labels: labels)
            sums[0] += Double(value) * Double(labels.count)
            sums[1] += Double(correct)
            sums[2] += Double(labels.count)
        }
        beforeReduce()
        try world.allreduce(&sums, op: .sum)
        let count = Int(sums[2])
        return Result(loss: sums[0] / Double(max(count, 1)), accuracy: sums[1] / Double(max(count, 1)), count: count)
    }
}

/// Runs `model` in evaluation mode over this rank's contiguous share of `data`
/// (``evaluationRange(count:rank:worldSize:)``) in batches of at most `batchSize`, calling
/// `body` with each batch's outputs, its sample range and its labels. One input tensor and
/// label buffer serve every batch. The model is left in training mode.
func forEachBatch(
    model: Sequential, of data: Dataset, world: Communicator, batchSize: Int,
    _ body: (_ outputs: Tensor, _ samples: Range<Int>, _ labels: UnsafeBufferPointer<Int32>) -> Void
) {
    model.setTraining(false)
    defer { model.setTraining(true) }
    let mine = evaluationRange(count: data.count, rank: world.rank, worldSize: world.size)
    let batch = max(1, batchSize)
    let input = Tensor(shape: [min(batch, max(mine.count, 1))] + model.inputShape)
    let labels = UnsafeMutableBufferPointer<Int32>.allocate(capacity: batch)
    defer { labels.deallocate() }
    var start = mine.lowerBound
    while start < mine.upperBound {
        let n = min(batch, mine.upperBound - start)
        if input.shape[0] != n { input.resize(to: [n] + model.inputShape) }
        data.copyRange(start..<(start + n), features: input.data, labels: labels.baseAddress!)
        body(model.forward(input), start..<(start + n), UnsafeBufferPointer(rebasing: labels[0..<n]))
        start += n
    }
}
