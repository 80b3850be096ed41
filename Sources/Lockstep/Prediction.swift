import Datasets
import MPI
import NeuralNet

/// A model's outputs for every sample of a dataset, split across ranks and gathered on
/// rank 0 in input order.
public enum Prediction {
    /// Outputs of every sample (row-major `[count, outputCount]`) and the predicted class
    /// (the largest output) of each.
    public struct Result: Sendable {
        public var outputs: [Float]
        public var classes: [Int32]
        public var outputCount: Int
        public var count: Int { classes.count }
    }

    /// Runs `model` in evaluation mode on `data`. Each rank takes the same contiguous share
    /// as ``Evaluation`` does (``evaluationRange(count:rank:worldSize:)``); rank 0 gathers
    /// the shares and returns the whole result in input order, the other ranks nil. With
    /// `probabilities`, each row is the softmax of the model's outputs. Collective. The
    /// model is left in training mode.
    public static func run(
        model: Sequential, on data: Dataset, world: Communicator, batchSize: Int, probabilities: Bool = false
    ) throws -> Result? {
        let k = model.outputCount
        let mine = evaluationRange(count: data.count, rank: world.rank, worldSize: world.size)
        // Shares differ by at most one sample; pad to the largest so one gather serves all.
        let most = evaluationRange(count: data.count, rank: 0, worldSize: world.size).count
        var local = [Float](repeating: 0, count: most * k)
        forEachBatch(model: model, of: data, world: world, batchSize: batchSize) { outputs, samples, _ in
            let row0 = (samples.lowerBound - mine.lowerBound) * k
            for i in 0..<(samples.count * k) { local[row0 + i] = outputs.data[i] }
        }
        guard let all = try world.gather(local, to: 0) else { return nil }
        var outputs = [Float]()
        outputs.reserveCapacity(data.count * k)
        for r in 0..<world.size {
            let share = evaluationRange(count: data.count, rank: r, worldSize: world.size).count
            outputs.append(contentsOf: all[(r * most * k)..<(r * most * k + share * k)])
        }
        var classes = [Int32](repeating: 0, count: data.count)
        var written = [Float](repeating: 0, count: outputs.count)
        outputs.withUnsafeBufferPointer { o in
            written.withUnsafeMutableBufferPointer { w in
                for s in 0..<data.count {
                    // The first maximum, as the loss counts a prediction; the same pass
                    // writes the probabilities when asked.
                    let stats = rowSoftmax(o.baseAddress! + s * k, into: w.baseAddress! + s * k, count: k, writing: .probabilities)
                    classes[s] = Int32(stats.argmax)
                }
            }
        }
        if probabilities { outputs = written }
        return Result(outputs: outputs, classes: classes, outputCount: k)
    }
}

