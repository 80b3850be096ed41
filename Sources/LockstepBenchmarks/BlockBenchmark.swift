#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CBLAS
import NeuralNet

/// Figures of one ``BlockBenchmark`` run: a ``TransformerBlock``'s forward + backward.
///
/// ```swift
/// let r = try BlockBenchmark.run(dimension: 128, heads: 4, sequenceLength: 128, batchSize: 32)
/// print(r.report)
/// ```
public struct BlockBenchmarkResult: Sendable {
    /// The block's repr.
    public let block: String
    /// Query rows per attention score GEMM.
    public let attentionBlockRows: Int
    /// Sequences per step.
    public let batchSize: Int
    /// Tokens per sequence.
    public let sequenceLength: Int
    /// Median time of one forward + backward, in milliseconds.
    public let stepMilliseconds: Double
    /// Median on-CPU time of the thread in one forward + backward, in milliseconds: on a
    /// machine shared with other work this excludes the time the thread waited for a core.
    public let stepCPUMilliseconds: Double
    /// Forward + backward FLOPs of the block's GEMMs per step (causal attention: only the
    /// unmasked (query, key) pairs are counted).
    public let trainingFLOPsPerStep: Int
    /// `trainingFLOPsPerStep / step time`, in GFLOP/s.
    public let achievedGFLOPs: Double
    /// Single-thread sgemm rate (512×512×512) measured in the same run, in GFLOP/s.
    public let peakGFLOPs: Double
    /// The same sgemm rate in on-CPU time, in GFLOP/s.
    public let peakCPUGFLOPs: Double
    /// Median forward and backward time of each part of the block.
    public let parts: [LayerTiming]

    /// `achievedGFLOPs / peakGFLOPs`.
    public var fractionOfPeak: Double { peakGFLOPs > 0 ? achievedGFLOPs / peakGFLOPs : 0 }
    /// The step's rate over the sgemm rate, both in on-CPU time.
    public var cpuFractionOfPeak: Double {
        peakCPUGFLOPs > 0 ? Double(trainingFLOPsPerStep) / (stepCPUMilliseconds / 1000) / 1e9 / peakCPUGFLOPs : 0
    }

    /// A few aligned lines for a terminal, then the parts.
    public var report: String {
        let tokens = Double(batchSize * sequenceLength) / (stepMilliseconds / 1000)
        var lines = [
            "block            \(block)  (attention blocks of \(attentionBlockRows) rows)",
            "input            [\(batchSize), \(sequenceLength), dim]  (1 BLAS thread)",
            "forward+backward \(fixed(stepMilliseconds, 2)) ms  (median)  \(fixed(tokens, 0)) tokens/s",
            "training FLOPs   \(fixed(Double(trainingFLOPsPerStep) / 1e9, 3)) GFLOP/step",
            "achieved         \(fixed(achievedGFLOPs, 1)) GFLOP/s",
            "sgemm peak       \(fixed(peakGFLOPs, 1)) GFLOP/s  (512x512x512, 1 thread)",
            "fraction of peak \(fixed(100 * fractionOfPeak, 1)) %",
            "on-CPU time      step \(fixed(stepCPUMilliseconds, 2)) ms, sgemm \(fixed(peakCPUGFLOPs, 1)) GFLOP/s, fraction of peak \(fixed(100 * cpuFractionOfPeak, 1)) %",
            "",
            "part                      forward ms  backward ms",
        ]
        for p in parts {
            lines.append(p.layer + String(repeating: " ", count: max(0, 24 - p.layer.count))
                         + fixed(p.forwardMilliseconds, 3).leftAligned(12) + fixed(p.backwardMilliseconds, 3).leftAligned(13))
        }
        return lines.joined(separator: "\n")
    }
}

/// Times a ``TransformerBlock``'s forward + backward (input gradient included, as for a block
/// inside a stack) on random data with one BLAS thread, and each of its parts.
public enum BlockBenchmark {
    /// Runs `warmupSteps` untimed steps, then timed steps filling `measuredSeconds`; throws for
    /// sizes that make no block.
    public static func run(dimension: Int, heads: Int, sequenceLength: Int, batchSize: Int, mlpRatio: Int = 4,
                           attentionBlockRows: Int = 32,
                           warmupSteps: Int = 3, measuredSeconds: Double = 5) throws -> BlockBenchmarkResult {
        for (name, value) in [("dimension", dimension), ("heads", heads), ("sequence length", sequenceLength),
                              ("batch size", batchSize), ("mlp ratio", mlpRatio), ("attention block rows", attentionBlockRows)] where value < 1 {
            throw NeuralNetError.invalidHyperparameter(name: name, value: "\(value)", expected: ">= 1")
        }
        guard dimension % heads == 0 else {
            throw NeuralNetError.invalidHyperparameter(name: "heads", value: "\(heads)", expected: "a divisor of the dimension \(dimension)")
        }
        setBLASThreads(1)
        let block = TransformerBlock(dimension, heads: heads, mlpRatio: mlpRatio)
        block.attention.blockRows = attentionBlockRows
        let model = try Sequential(inputShape: [sequenceLength, dimension], [block], seed: 1)
        var rng = SeededRNG(seed: 2)
        let x = Tensor(shape: [batchSize, sequenceLength, dimension]), dy = Tensor(shape: x.shape)
        for i in 0..<x.count { x.data[i] = rng.nextNormal(); dy.data[i] = rng.nextNormal() }
        let clock = ContinuousClock()
        var times: [Double] = [], cpuTimes: [Double] = []
        for s in 0..<warmupSteps + 1_000_000 {
            let t0 = clock.now, c0 = threadCPUSeconds()
            model.zeroGradients()
            _ = block.forward(x)
            _ = block.backward(dy, computeInputGradient: true)
            if s >= warmupSteps { times.append(seconds(clock.now - t0)); cpuTimes.append(threadCPUSeconds() - c0) }
            if times.reduce(0, +) >= measuredSeconds && times.count >= 3 { break }
        }
        let median = times.sorted()[times.count / 2], cpuMedian = cpuTimes.sorted()[cpuTimes.count / 2]
        let flops = batchSize * block.trainingFLOPs(inputShape: [sequenceLength, dimension], computeInputGradient: true)
        return BlockBenchmarkResult(
            block: block.description, attentionBlockRows: attentionBlockRows, batchSize: batchSize, sequenceLength: sequenceLength, stepMilliseconds: median * 1000,
            stepCPUMilliseconds: cpuMedian * 1000, trainingFLOPsPerStep: flops, achievedGFLOPs: Double(flops) / median / 1e9,
            peakGFLOPs: StepBenchmark.sgemmPeak(seconds: min(1, measuredSeconds / 4)),
            peakCPUGFLOPs: sgemmCPUPeak(seconds: min(1, measuredSeconds / 4)),
            parts: withExtendedLifetime(model) { profile(block, x, dy, steps: max(3, min(20, times.count))) })
    }

    /// Median times of the block's children run one after another the way the block runs them.
    private static func profile(_ block: TransformerBlock, _ x: Tensor, _ dy: Tensor, steps: Int) -> [LayerTiming] {
        let parts: [(String, any Layer)] = [("ln1", block.ln1), ("attn", block.attention), ("ln2", block.ln2),
                                            ("mlp.0 (Linear)", block.expand), ("mlp.1 (GELU)", block.activation),
                                            ("mlp.2 (Linear)", block.project)]
        var forward = [[Double]](repeating: [], count: parts.count), backward = forward
        let clock = ContinuousClock()
        for _ in 0..<steps {
            var h = x
            for (i, part) in parts.enumerated() {
                if i == 2 { h = x }   // ln2 reads the residual stream, which has x's shape
                let t0 = clock.now
                h = part.1.forward(h)
                forward[i].append(seconds(clock.now - t0))
            }
            var g = dy
            for i in stride(from: parts.count - 1, through: 0, by: -1) {
                let t0 = clock.now
                g = parts[i].1.backward(g, computeInputGradient: true)!
                backward[i].append(seconds(clock.now - t0))
                if i == 2 { g = dy }   // the attention half starts again from the residual's gradient
            }
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] * 1000 }
        return parts.indices.map { LayerTiming(layer: parts[$0].0, forwardMilliseconds: median(forward[$0]),
                                               backwardMilliseconds: median(backward[$0])) }
    }

    /// Best single-thread 512³ sgemm rate in on-CPU time over a few repetitions, in GFLOP/s.
    static func sgemmCPUPeak(seconds budget: Double) -> Double {
        let n = 512
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = 0.0
        let start = threadCPUSeconds()
        repeat {
            let t0 = threadCPUSeconds()
            for _ in 0..<4 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                            a, Int32(n), b, Int32(n), 0, &c, Int32(n))
            }
            best = max(best, 4 * 2 * Double(n * n * n) / (threadCPUSeconds() - t0) / 1e9)
        } while threadCPUSeconds() - start < budget
        return best
    }

    /// This thread's on-CPU time, in seconds.
    private static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    private static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

extension String {
    fileprivate func leftAligned(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
