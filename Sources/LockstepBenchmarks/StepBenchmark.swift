import CBLAS
import NeuralNet

/// Figures of one ``StepBenchmark`` run.
///
/// ```swift
/// let r = try StepBenchmark.run(model: "seed-mlp", batchSize: 64)
/// print(r.report)
/// ```
public struct StepBenchmarkResult: Sendable {
    /// Model name or spec.
    public let model: String
    /// Samples per step.
    public let batchSize: Int
    /// Median training throughput over the timed windows.
    public let samplesPerSecond: Double
    /// Throughput of each timed window.
    public let windowSamplesPerSecond: [Double]
    /// Median time of one training step, in milliseconds.
    public let stepMilliseconds: Double
    /// Forward + backward FLOPs per sample of the GEMM-bearing layers (from layer shapes).
    public let trainingFLOPsPerSample: Int
    /// `trainingFLOPsPerSample · samplesPerSecond`, in GFLOP/s.
    public let achievedGFLOPs: Double
    /// Single-thread sgemm rate (512×512×512) measured in the same run, in GFLOP/s.
    public let peakGFLOPs: Double

    /// `achievedGFLOPs / peakGFLOPs`.
    public var fractionOfPeak: Double { peakGFLOPs > 0 ? achievedGFLOPs / peakGFLOPs : 0 }

    /// The fastest timed window (closest to an otherwise idle machine).
    public var bestSamplesPerSecond: Double { windowSamplesPerSecond.max() ?? 0 }

    /// A few aligned lines for a terminal.
    public var report: String {
        [
            "model            \(model)  (batch \(batchSize), 1 BLAS thread)",
            "throughput       \(fixed(samplesPerSecond, 0)) samples/s  (median of \(windowSamplesPerSecond.count) windows; step \(fixed(stepMilliseconds, 3)) ms)",
            "best window      \(fixed(bestSamplesPerSecond, 0)) samples/s",
            "training FLOPs   \(fixed(Double(trainingFLOPsPerSample) / 1e6, 2)) MFLOP/sample",
            "achieved         \(fixed(achievedGFLOPs, 1)) GFLOP/s",
            "sgemm peak       \(fixed(peakGFLOPs, 1)) GFLOP/s  (512x512x512, 1 thread)",
            "fraction of peak \(fixed(100 * fractionOfPeak, 1)) %",
        ].joined(separator: "\n")
    }
}

/// Times full single-process training steps (forward, cross-entropy, backward, SGD with
/// momentum) of a model on random data with one BLAS thread.
///
/// ```swift
/// let r = try StepBenchmark.run(model: "seed-cnn", batchSize: 64, measuredSeconds: 3)
/// print(r.samplesPerSecond)
/// ```
public enum StepBenchmark {
    /// Runs `warmupSteps` untimed steps, then timed windows filling `measuredSeconds`, and
    /// measures the sgemm peak. Throws for an unknown model or bad batch size.
    public static func run(model name: String, batchSize: Int, warmupSteps: Int = 20,
                           measuredSeconds: Double = 5) throws -> StepBenchmarkResult {
        let (model, input, labels, loss, sgd) = try workload(model: name, batchSize: batchSize)

        func step() {
            model.zeroGradients()
            let logits = model.forward(input)
            _ = labels.withUnsafeBufferPointer { loss.forward(logits, labels: $0) }
            model.backward(loss.backward())
            sgd.step(model.arena, learningRate: 0.001)
        }
        for _ in 0..<warmupSteps { step() }

        let clock = ContinuousClock()
        let windows = 7
        let windowSeconds = measuredSeconds / Double(windows)
        var rates: [Double] = []
        for _ in 0..<windows {
            var steps = 0
            let start = clock.now
            var elapsed = 0.0
            repeat {
                step()
                steps += 1
                elapsed = seconds(clock.now - start)
            } while elapsed < windowSeconds
            rates.append(Double(steps * batchSize) / elapsed)
        }
        let median = rates.sorted()[windows / 2]
        let flops = model.trainingFLOPsPerSample
        return StepBenchmarkResult(
            model: name, batchSize: batchSize, samplesPerSecond: median, windowSamplesPerSecond: rates,
            stepMilliseconds: 1000 * Double(batchSize) / median, trainingFLOPsPerSample: flops,
            achievedGFLOPs: Double(flops) * median / 1e9, peakGFLOPs: sgemmPeak(seconds: min(1, measuredSeconds / 4)))
    }

    /// Median forward and backward time of each layer over `steps` training steps (after
    /// `warmupSteps`), one BLAS thread: where a model's step goes. Throws like ``run``.
    ///
    /// ```swift
    /// for row in try StepBenchmark.layerProfile(model: "seed-cnn", batchSize: 64) { print(row.layer) }
    /// ```
    public static func layerProfile(model name: String, batchSize: Int, warmupSteps: Int = 20,
                                    steps: Int = 50) throws -> [LayerTiming] {
        let (model, input, labels, loss, sgd) = try workload(model: name, batchSize: batchSize)
        let layers = model.layers
        var forward = [[Double]](repeating: [], count: layers.count)
        var backward = [[Double]](repeating: [], count: layers.count)
        var optimizer: [Double] = []
        let clock = ContinuousClock()
        for s in 0..<(warmupSteps + steps) {
            let timed = s >= warmupSteps
            model.zeroGradients()
            var x = input
            for (i, layer) in layers.enumerated() {
                let t0 = clock.now
                x = layer.forward(x)
                if timed { forward[i].append(seconds(clock.now - t0)) }
            }
            _ = labels.withUnsafeBufferPointer { loss.forward(x, labels: $0) }
            var g = loss.backward()
            for i in stride(from: layers.count - 1, through: 0, by: -1) {
                let t0 = clock.now
                let dx = layers[i].backward(g, computeInputGradient: i > 0)
                if timed { backward[i].append(seconds(clock.now - t0)) }
                if let dx { g = dx }
            }
            let t0 = clock.now
            sgd.step(model.arena, learningRate: 0.001)
            if timed { optimizer.append(seconds(clock.now - t0)) }
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] * 1000 }
        return layers.indices.map { LayerTiming(layer: "(\($0)): \(layers[$0].description)",
                                                forwardMilliseconds: median(forward[$0]),
                                                backwardMilliseconds: median(backward[$0])) }
            + [LayerTiming(layer: "SGD step", forwardMilliseconds: 0, backwardMilliseconds: median(optimizer))]
    }

    /// The table of ``layerProfile(model:batchSize:warmupSteps:steps:)``.
    public static func profileReport(_ rows: [LayerTiming]) -> String {
        let total = rows.reduce(0) { $0 + $1.forwardMilliseconds + $1.backwardMilliseconds }
        let width = rows.map(\.layer.count).max() ?? 0
        var lines = ["layer".padding(width) + "  forward ms  backward ms  share"]
        for r in rows {
            let t = r.forwardMilliseconds + r.backwardMilliseconds
            lines.append(r.layer.padding(width) + "  " + fixed(r.forwardMilliseconds, 3).leftPadding(10)
                         + "  " + fixed(r.backwardMilliseconds, 3).leftPadding(11)
                         + "  " + (fixed(100 * t / max(total, 1e-12), 1) + "%").leftPadding(5))
        }
        lines.append("total".padding(width) + "  " + fixed(total, 3).leftPadding(23) + " ms per step")
        return lines.joined(separator: "\n")
    }

    /// The model in training mode, one batch of random inputs and labels, the loss and SGD with
    /// momentum that every benchmark step uses; sets one BLAS thread.
    private static func workload(model name: String, batchSize: Int) throws
        -> (Sequential, Tensor, [Int32], CrossEntropyLoss, SGD) {
        guard batchSize > 0 else {
            throw NeuralNetError.invalidHyperparameter(name: "batch size", value: "\(batchSize)", expected: "> 0")
        }
        setBLASThreads(1)
        let model = try ModelZoo.make(name, seed: 1)
        model.setTraining(true)
        var rng = SeededRNG(seed: 2)
        let input = Tensor(shape: [batchSize] + model.inputShape)
        for i in 0..<input.count { input.data[i] = rng.nextNormal() }
        let labels = (0..<batchSize).map { _ in Int32(rng.next(below: model.outputCount)) }
        return (model, input, labels, CrossEntropyLoss(), try SGD(parameterCount: model.parameterCount, momentum: 0.9))
    }

    /// Best single-thread 512³ sgemm rate over a few repetitions, in GFLOP/s.
    static func sgemmPeak(seconds budget: Double) -> Double {
        let n = 512
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let clock = ContinuousClock()
        var best = 0.0
        let start = clock.now
        repeat {
            let t0 = clock.now
            for _ in 0..<4 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                            a, Int32(n), b, Int32(n), 0, &c, Int32(n))
            }
            let dt = seconds(clock.now - t0)
            best = max(best, 4 * 2 * Double(n * n * n) / dt / 1e9)
        } while seconds(clock.now - start) < budget
        return best
    }

    private static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

/// Median time of one layer in a training step (``StepBenchmark/layerProfile(model:batchSize:warmupSteps:steps:)``).
public struct LayerTiming: Sendable {
    /// `(index): repr` of the layer, or `SGD step`.
    public let layer: String
    /// Median forward time, in milliseconds.
    public let forwardMilliseconds: Double
    /// Median backward time (the optimizer step for `SGD step`), in milliseconds.
    public let backwardMilliseconds: Double
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
    fileprivate func leftPadding(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// `value` with `digits` decimals, without Foundation.
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(value) * scale).rounded()
    let whole = Int(r / scale), frac = Int(r - Double(whole) * scale)
    var s = (value < 0 ? "-" : "") + "\(whole)"
    if digits > 0 {
        let f = "\(frac)"
        s += "." + String(repeating: "0", count: digits - f.count) + f
    }
    return s
}
