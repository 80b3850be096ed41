import NeuralNet

/// Figures of one ``RecurrentBenchmark`` run.
///
/// ```swift
/// let r = try RecurrentBenchmark.run(kind: .lstm, inputSize: 64, hiddenSize: 256, steps: 128, batchSize: 32)
/// print(r.report)
/// ```
public struct RecurrentBenchmarkResult: Sendable {
    /// `LSTM(64, 256, batch_first=True)`-style repr of the measured layer.
    public let layer: String
    /// Sequences per batch.
    public let batchSize: Int
    /// Time steps per sequence.
    public let steps: Int
    /// Median forward time, in milliseconds.
    public let forwardMilliseconds: Double
    /// Median backward time (with the input gradient), in milliseconds.
    public let backwardMilliseconds: Double
    /// Forward + backward FLOPs of one batch (multiply-add = 2), from the layer's shapes.
    public let flopsPerBatch: Int
    /// Single-thread sgemm rate (512×512×512) measured in the same run, in GFLOP/s.
    public let peakGFLOPs: Double

    /// Median forward + backward time, in milliseconds.
    public var stepMilliseconds: Double { forwardMilliseconds + backwardMilliseconds }
    /// Tokens (sequence steps) trained per second.
    public var tokensPerSecond: Double { Double(batchSize * steps) / (stepMilliseconds / 1000) }
    /// FLOPs per second of forward + backward, in GFLOP/s.
    public var achievedGFLOPs: Double { Double(flopsPerBatch) / (stepMilliseconds / 1000) / 1e9 }
    /// `achievedGFLOPs / peakGFLOPs`.
    public var fractionOfPeak: Double { peakGFLOPs > 0 ? achievedGFLOPs / peakGFLOPs : 0 }

    /// A few aligned lines for a terminal.
    public var report: String {
        [
            "layer            \(layer)  (batch \(batchSize), \(steps) steps, 1 BLAS thread)",
            "forward          \(fixed(forwardMilliseconds, 2)) ms   backward \(fixed(backwardMilliseconds, 2)) ms  (medians)",
            "throughput       \(fixed(tokensPerSecond, 0)) tokens/s",
            "FLOPs            \(fixed(Double(flopsPerBatch) / 1e9, 3)) GFLOP per batch, forward + backward",
            "achieved         \(fixed(achievedGFLOPs, 1)) GFLOP/s",
            "sgemm peak       \(fixed(peakGFLOPs, 1)) GFLOP/s  (512x512x512, 1 thread)",
            "fraction of peak \(fixed(100 * fractionOfPeak, 1)) %",
        ].joined(separator: "\n")
    }
}

/// Times forward and backward (input gradient included, as behind an embedding) of one
/// recurrent layer on random sequences with one BLAS thread.
///
/// ```swift
/// print(try RecurrentBenchmark.run(kind: .gru, inputSize: 64, hiddenSize: 256, steps: 128, batchSize: 32).report)
/// ```
public enum RecurrentBenchmark {
    /// Which recurrent layer to time.
    public enum Kind: String, Sendable, CaseIterable {
        /// ``LSTM``.
        case lstm
        /// ``GRU``.
        case gru
    }

    /// `warmup` untimed passes, then `repetitions` timed ones; throws for sizes below 1.
    public static func run(kind: Kind, inputSize: Int, hiddenSize: Int, layers: Int = 1, steps: Int, batchSize: Int,
                           warmup: Int = 3, repetitions: Int = 15) throws -> RecurrentBenchmarkResult {
        for (name, value) in [("input size", inputSize), ("hidden size", hiddenSize), ("layers", layers),
                              ("sequence length", steps), ("batch size", batchSize), ("repetitions", repetitions)] where value < 1 {
            throw NeuralNetError.invalidHyperparameter(name: name, value: "\(value)", expected: ">= 1")
        }
        setBLASThreads(1)
        let layer: any Layer & FLOPCounting = kind == .lstm
            ? LSTM(inputSize, hiddenSize, layers: layers) : GRU(inputSize, hiddenSize, layers: layers)
        let model = try Sequential(inputShape: [steps, inputSize], [layer], seed: 1)
        var rng = SeededRNG(seed: 2)
        let x = Tensor(shape: [batchSize, steps, inputSize]), dy = Tensor(shape: [batchSize, steps, hiddenSize])
        for i in 0..<x.count { x.data[i] = rng.nextNormal() }
        for i in 0..<dy.count { dy.data[i] = 0.01 * rng.nextNormal() }
        let clock = ContinuousClock()
        var forward: [Double] = [], backward: [Double] = []
        for r in 0..<(warmup + repetitions) {
            model.zeroGradients()
            let t0 = clock.now
            _ = layer.forward(x)
            let t1 = clock.now
            _ = layer.backward(dy, computeInputGradient: true)
            let t2 = clock.now
            if r >= warmup {
                forward.append(milliseconds(t1 - t0))
                backward.append(milliseconds(t2 - t1))
            }
        }
        return RecurrentBenchmarkResult(
            layer: layer.description, batchSize: batchSize, steps: steps,
            forwardMilliseconds: forward.sorted()[forward.count / 2], backwardMilliseconds: backward.sorted()[backward.count / 2],
            flopsPerBatch: batchSize * layer.trainingFLOPs(inputShape: [steps, inputSize], computeInputGradient: true),
            peakGFLOPs: StepBenchmark.sgemmPeak(seconds: 1))
    }

    private static func milliseconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) * 1e3 + Double(c.attoseconds) * 1e-15
    }
}
