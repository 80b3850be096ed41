/// What the trainer does with a step whose loss or summed gradients are not finite (NaN or
/// infinite): `--on-nonfinite`.
///
/// The check is taken every step on a value every rank holds identically (the all-reduced
/// gradients, or in shared memory every rank's published verdict), before any parameter or
/// optimizer state changes, so every rank takes the same branch (see DESIGN-NOTES,
/// "Non-finite guard").
public enum NonFinitePolicy: String, Sendable, CaseIterable {
    /// End the job with exit status 3 (``NonFiniteGuard/exitCode``), naming the step and
    /// the learning rate; no checkpoint is written from that state.
    case stop
    /// Drop the step: no optimizer update, optimizer state and BatchNorm statistics left as
    /// they were; the batch is consumed and the step counter and schedule advance. After
    /// `maxSkippedSteps` skips in a row, stop as with `stop`.
    case skip
}

/// The pieces of the non-finite guard that do not belong to the step loop itself.
public enum NonFiniteGuard {
    /// The exit status of a run stopped by a non-finite loss, gradient or parameter.
    public static let exitCode: Int32 = 3

    /// The error every rank raises alike when a step is not finite under `stop`.
    static func stopped(step: Int, epoch: Int, learningRate: Float) -> CollectiveError {
        CollectiveError(
            "non-finite loss or gradients at step \(step) (epoch \(epoch), learning rate \(learningRate)); stopped before "
                + "applying it, and no checkpoint was written from it. Lower --lr or add --warmup-steps, "
                + "or pass --on-nonfinite skip to drop such steps", exitCode: exitCode)
    }

    /// The error raised after `count` consecutive skipped steps.
    static func tooManySkipped(count: Int, lastStep: Int, learningRate: Float) -> CollectiveError {
        CollectiveError(
            "\(count) consecutive steps had a non-finite loss or gradients (steps \(lastStep - count + 1) to \(lastStep), "
                + "learning rate \(learningRate)); the run is diverging. Lower --lr, or raise --max-skipped-steps",
            exitCode: exitCode)
    }

    /// The error raised when the parameters themselves became non-finite (a finite but huge
    /// step overflowed them) before a checkpoint or the end of the run.
    static func parametersNotFinite(step: Int, learningRate: Float) -> CollectiveError {
        CollectiveError(
            "the parameters are not finite after step \(step) (learning rate \(learningRate)); no checkpoint was "
                + "written from them. Lower --lr or add --warmup-steps", exitCode: exitCode)
    }
}

/// Whether all `count` floats at `values` are finite. One pass of 16-wide vector
/// subtractions: `x - x` is 0 for a finite `x` and NaN for an infinite or NaN one, and a NaN
/// survives the sum (no overflow is possible, unlike summing the values themselves).
func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
    let raw = UnsafeRawPointer(values)
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= count {
        let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
        acc += v - v
        i &+= 16
    }
    var tail: Float = 0
    while i < count {
        tail += values[i] - values[i]
        i &+= 1
    }
    return acc.sum() + tail == 0
}

/// Whether every float in `buffer` is finite (true for an empty buffer).
func allFinite(_ buffer: UnsafeMutableBufferPointer<Float>) -> Bool {
    guard let base = buffer.baseAddress else { return true }
    return allFinite(base, count: buffer.count)
}

/// Σ x² over `count` floats: Float partial sums in 16 lanes over chunks of 4,096 values,
/// combined in Double. Non-finite when any value is.
func sumOfSquares(_ values: UnsafePointer<Float>, count: Int) -> Double {
    let raw = UnsafeRawPointer(values)
    var total = 0.0
    var start = 0
    while start < count {
        let end = min(start &+ 4096, count)
        var acc = SIMD16<Float>()
        var i = start
        while i &+ 16 <= end {
            let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            acc.addProduct(v, v)
            i &+= 16
        }
        var tail: Float = 0
        while i < end {
            tail += values[i] * values[i]
            i &+= 1
        }
        total += Double(acc.sum() + tail)
        start = end
    }
    return total
}

/// The factor gradient clipping multiplies the gradients by (PyTorch's
/// `clip_grad_norm_`): `maxNorm / (norm + 1e-6)` when the global norm exceeds `maxNorm`,
/// else 1 (no change).
func clipCoefficient(sumOfSquares: Double, maxNorm: Float) -> Float {
    let coefficient = Double(maxNorm) / (sumOfSquares.squareRoot() + 1e-6)
    return coefficient < 1 ? Float(coefficient) : 1
}

/// `values[i] *= factor` for `count` floats.
func scale(_ values: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    for i in 0..<count { values[i] *= factor }
}
