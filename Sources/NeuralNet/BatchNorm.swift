/// Batch normalisation over the channel dimension: the shared implementation of
/// ``BatchNorm1d`` (`[N, C]`) and ``BatchNorm2d`` (`[N, C, H, W]`).
///
/// Parameters `weight` (ones) and `bias` (zeros); buffers `running_mean` (zeros),
/// `running_var` (ones) and `num_batches_tracked` like PyTorch. Training normalises with
/// the batch statistics and updates the running ones with momentum 0.1, using the
/// unbiased variance for `running_var`; evaluation normalises with the running ones.
public class BatchNorm: Layer {
    /// Channels (features).
    public let features: Int
    /// Added to the variance.
    public let epsilon: Float
    /// Weight of the new batch statistic in the running average.
    public let momentum: Float
    let spatial: Bool
    private var training = true
    private var gamma: UnsafeMutablePointer<Float>!, beta: UnsafeMutablePointer<Float>!
    private var gammaGrad: UnsafeMutablePointer<Float>!, betaGrad: UnsafeMutablePointer<Float>!
    private var runningMean: UnsafeMutablePointer<Float>!, runningVar: UnsafeMutablePointer<Float>!
    private var batchesTracked: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let normalized = Tensor(shape: [0])     // x̂, the input's shape
    private var invStd: [Float]
    private var cachedShape: [Int] = []
    private var usedBatchStats = true
    /// Set by ``Sequential`` when a ``ReLU`` follows: the output pass rectifies, and backward
    /// masks the incoming gradient itself; results are bit-identical to the separate layers.
    var fusesReLU = false
    /// Synchronised batch statistics (PyTorch's `SyncBatchNorm`): when set, training sums
    /// the per-channel statistics over every replica's batch through this reduction (an
    /// in-place sum over the ranks), so that each replica normalises with the statistics
    /// of the global batch. Forward reduces twice (the sums for the mean, then the squared
    /// deviations from it, the same two passes as one process), backward once (the sums
    /// of dy and dy·x̂). Nil: each replica uses its own batch, as plain BatchNorm.
    public var statisticsReduction: ((UnsafeMutableBufferPointer<Double>) -> Void)?
    /// Scratch for the reduced sums: `features` values and a count.
    private var reduced: [Double] = []

    init(features: Int, epsilon: Float, momentum: Float, spatial: Bool) {
        precondition(features > 0, "BatchNorm: features \(features) must be positive")
        self.features = features
        self.epsilon = epsilon
        self.momentum = momentum
        self.spatial = spatial
        invStd = [Float](repeating: 0, count: features)
    }

    /// `"BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"`,
    /// as PyTorch prints it.
    public var description: String {
        "BatchNorm\(spatial ? "2d" : "1d")(\(features), eps=\(epsilon), momentum=\(momentum), affine=True, track_running_stats=True)"
    }
    /// `weight` (γ) and `bias` (β), `[C]` each.
    public var parameterSpecs: [TensorSpec] { [TensorSpec("weight", [features]), TensorSpec("bias", [features])] }
    /// `running_mean` and `running_var` `[C]`, then the scalar `num_batches_tracked` (Int64 in checkpoints).
    public var bufferSpecs: [TensorSpec] {
        [TensorSpec("running_mean", [features]), TensorSpec("running_var", [features]),
         TensorSpec("num_batches_tracked", [], isInteger: true)]
    }
    /// γ then β in the parameters; running mean, running variance and batch count in the buffers.
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        gamma = parameters; beta = parameters + features
        gammaGrad = gradients; betaGrad = gradients + features
        runningMean = buffers; runningVar = buffers + features; batchesTracked = buffers + 2 * features
    }
    /// γ = 1, β = 0, running mean 0, running variance 1, no batches tracked (PyTorch's defaults).
    public func resetParameters(rng: inout SeededRNG) {
        gamma.update(repeating: 1, count: features)
        beta.update(repeating: 0, count: features)
        runningMean.update(repeating: 0, count: features)
        runningVar.update(repeating: 1, count: features)
        batchesTracked.pointee = 0
    }
    /// Training normalises with batch statistics and updates the running ones; evaluation uses the running ones.
    public func setTraining(_ training: Bool) { self.training = training }
    /// `[C]` (``BatchNorm1d``) or `[C, H, W]` (``BatchNorm2d``), unchanged; any other shape throws.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == (spatial ? 3 : 1), shape[0] == features else {
            throw NeuralNetError.inputShapeMismatch(expected: spatial ? [features, 0, 0] : [features], got: shape)
        }
        return shape
    }

    /// x: [N, C] or [N, C, H, W] -> same shape
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == (spatial ? 4 : 2) && x.shape[1] == features,
                         "\(description): input \(x.shape) has the wrong shape")
            output.resize(to: x.shape); gradInput.resize(to: x.shape); normalized.resize(to: x.shape)
        }
        let n = x.shape[0], plane = spatial ? x.shape[2] * x.shape[3] : 1, m = n * plane
        usedBatchStats = training
        if training, let reduce = statisticsReduction {
            synchronisedStatistics(x, n: n, plane: plane, reduce: reduce)
            return normalize(x, n: n, plane: plane)
        }
        invStd.withUnsafeMutableBufferPointer { inv in
            for c in 0..<features {
                var mean: Float, variance: Float
                if training {
                    var s = 0.0, s2 = 0.0   // per-plane Float partials, combined in Double
                    for b in 0..<n { s += Double(vectorSum(x.data + (b * features + c) * plane, plane)) }
                    let mu = s / Double(m)
                    for b in 0..<n {
                        s2 += Double(vectorSquaredDeviations(x.data + (b * features + c) * plane, plane, mean: Float(mu)))
                    }
                    mean = Float(mu)
                    variance = Float(s2 / Double(m))
                    let unbiased = m > 1 ? Float(s2 / Double(m - 1)) : variance
                    runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean
                    runningVar[c] = (1 - momentum) * runningVar[c] + momentum * unbiased
                } else {
                    mean = runningMean[c]
                    variance = runningVar[c]
                }
                let istd = 1 / (variance + epsilon).squareRoot()
                inv[c] = istd
                let g = gamma[c], bt = beta[c]
                for b in 0..<n {
                    let off = (b * features + c) * plane
                    let p = x.data + off, xh = normalized.data + off, y = output.data + off
                    if fusesReLU {
                        for q in 0..<plane {
                            xh[q] = (p[q] - mean) * istd
                            let v = g * xh[q] + bt
                            y[q] = v > 0 ? v : 0
                        }
                    } else {
                        for q in 0..<plane {
                            xh[q] = (p[q] - mean) * istd
                            y[q] = g * xh[q] + bt
                        }
                    }
                }
            }
        }
        if training { batchesTracked.pointee += 1 }
        return output
    }

    /// The batch statistics over every replica's batch: the sums for the mean, reduced;
    /// then the squared deviations from that mean, reduced. Sets `invStd`, `reduced`
    /// (the means) and the running statistics.
    private func synchronisedStatistics(_ x: Tensor, n: Int, plane: Int, reduce: (UnsafeMutableBufferPointer<Double>) -> Void) {
        if reduced.count != 2 * features + 1 { reduced = [Double](repeating: 0, count: 2 * features + 1) }
        for c in 0..<features {
            var s = 0.0
            for b in 0..<n { s += Double(vectorSum(x.data + (b * features + c) * plane, plane)) }
            reduced[c] = s
        }
        reduced[features] = Double(n * plane)
        reduced.withUnsafeMutableBufferPointer { reduce(UnsafeMutableBufferPointer(rebasing: $0[0...features])) }
        let total = reduced[features]
        for c in 0..<features { reduced[c] /= total }
        for c in 0..<features {
            var s2 = 0.0
            let mu = Float(reduced[c])
            for b in 0..<n { s2 += Double(vectorSquaredDeviations(x.data + (b * features + c) * plane, plane, mean: mu)) }
            reduced[features + 1 + c] = s2
        }
        reduced.withUnsafeMutableBufferPointer { reduce(UnsafeMutableBufferPointer(rebasing: $0[(features + 1)...(2 * features)])) }
        for c in 0..<features {
            let mean = Float(reduced[c])
            let variance = Float(reduced[features + 1 + c] / total)
            let unbiased = total > 1 ? Float(reduced[features + 1 + c] / (total - 1)) : variance
            runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean
            runningVar[c] = (1 - momentum) * runningVar[c] + momentum * unbiased
            invStd[c] = 1 / (variance + epsilon).squareRoot()
        }
        batchesTracked.pointee += 1
    }

    /// y = γ·x̂ + β with x̂ = (x - mean)·invStd per channel, the means in `reduced`
    /// (ReLU applied when fused).
    private func normalize(_ x: Tensor, n: Int, plane: Int) -> Tensor {
        for c in 0..<features {
            let mu = Float(reduced[c]), istd = invStd[c], g = gamma[c], bt = beta[c]
            for b in 0..<n {
                let off = (b * features + c) * plane
                let p = x.data + off, xh = normalized.data + off, y = output.data + off
                for q in 0..<plane {
                    xh[q] = (p[q] - mu) * istd
                    let v = g * xh[q] + bt
                    y[q] = fusesReLU ? (v > 0 ? v : 0) : v
                }
            }
        }
        return output
    }

    /// dy -> dx; dγ += Σ dy·x̂, dβ += Σ dy (dy masked by the output first when a ReLU is fused)
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "\(description).backward: gradient \(dy.shape), output \(output.shape)")
        let n = dy.shape[0], plane = spatial ? dy.shape[2] * dy.shape[3] : 1
        // With the ReLU fused, the masked gradient goes into gradInput, which the input
        // gradient then overwrites element by element.
        let source = fusesReLU ? gradInput.data : dy.data
        if reduced.count != 2 * features + 1 { reduced = [Double](repeating: 0, count: 2 * features + 1) }
        // This replica's sums: its share of dγ and dβ (the gradient all-reduce adds the
        // others'), and, reduced when synchronised, the means the input gradient needs.
        for c in 0..<features {
            var sdy = 0.0, sdyx = 0.0   // per-plane Float partials, combined in Double
            for b in 0..<n {
                let off = (b * features + c) * plane
                if fusesReLU {
                    let g = dy.data + off, y = output.data + off, masked = gradInput.data + off
                    for q in 0..<plane { masked[q] = g[q] * (y[q] > 0 ? 1 : 0) }   // as ReLU.backward
                }
                sdy += Double(vectorSum(source + off, plane))
                sdyx += Double(vectorDot(source + off, normalized.data + off, plane))
            }
            gammaGrad[c] += Float(sdyx)
            betaGrad[c] += Float(sdy)
            reduced[c] = sdy
            reduced[features + c] = sdyx
        }
        reduced[2 * features] = Double(n * plane)
        if usedBatchStats, let reduce = statisticsReduction { reduced.withUnsafeMutableBufferPointer { reduce($0) } }
        guard computeInputGradient else { return nil }
        let total = reduced[2 * features]
        for c in 0..<features {
            let k = gamma[c] * invStd[c]
            let meanDy = Float(reduced[c] / total), meanDyx = Float(reduced[features + c] / total)
            for b in 0..<n {
                let off = (b * features + c) * plane
                let g = source + off, xh = normalized.data + off, dx = gradInput.data + off
                if usedBatchStats {
                    for q in 0..<plane { dx[q] = k * (g[q] - meanDy - xh[q] * meanDyx) }
                } else {
                    for q in 0..<plane { dx[q] = k * g[q] }
                }
            }
        }
        return gradInput
    }
}

/// Batch normalisation of `[N, C]` features, PyTorch's `nn.BatchNorm1d(C)`.
///
/// ```swift
/// BatchNorm1d(128)   // [N, 128] -> [N, 128]
/// ```
public final class BatchNorm1d: BatchNorm {
    /// A BatchNorm1d with PyTorch's defaults (eps 1e-5, momentum 0.1).
    public init(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        super.init(features: features, epsilon: epsilon, momentum: momentum, spatial: false)
    }
}

/// Batch normalisation of `[N, C, H, W]` per channel, PyTorch's `nn.BatchNorm2d(C)`.
///
/// ```swift
/// BatchNorm2d(32)   // [N, 32, 28, 28] -> [N, 32, 28, 28]
/// ```
public final class BatchNorm2d: BatchNorm {
    /// A BatchNorm2d with PyTorch's defaults (eps 1e-5, momentum 0.1).
    public init(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        super.init(features: features, epsilon: epsilon, momentum: momentum, spatial: true)
    }
}
