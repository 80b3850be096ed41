import Checkpoints

/// Follows one per-epoch metric for early stopping and the best checkpoint: the best
/// value so far, the epoch it was reached in, and the epochs since.
///
/// A value improves on the best when it is better by more than `minDelta` (lower for a
/// loss, higher for an accuracy); the first finite value always does, and a non-finite
/// value never does. With a `patience`, training should stop once that many epochs in a
/// row brought no improvement, as Keras' and Lightning's `EarlyStopping` do.
///
/// ```swift
/// var monitor = MetricMonitor(metric: .validationLoss, minDelta: 0.001, patience: 2)
/// monitor.record(0.50, epoch: 1)   // true: the first value
/// monitor.record(0.4995, epoch: 2) // false: not better by more than 0.001
/// monitor.record(0.51, epoch: 3)   // false; shouldStop is now true
/// ```
public struct MetricMonitor: Sendable, Equatable {
    public let metric: MonitoredMetric
    public let minDelta: Double
    /// Epochs without improvement after which to stop; nil never stops.
    public let patience: Int?
    /// The best value so far (nil before the first finite one).
    public private(set) var best: Double?
    /// The 1-based epoch of the best value (0 before it).
    public private(set) var bestEpoch = 0
    /// Epochs in a row, since the best, that brought no improvement.
    public private(set) var epochsWithoutImprovement = 0

    public init(metric: MonitoredMetric, minDelta: Double = 0, patience: Int? = nil) {
        self.metric = metric
        self.minDelta = minDelta
        self.patience = patience
    }

    /// Records the value of an epoch; returns whether it is the new best.
    @discardableResult
    public mutating func record(_ value: Double, epoch: Int) -> Bool {
        let better: Bool
        if !value.isFinite {
            better = false
        } else if let best {
            better = metric.higherIsBetter ? value > best + minDelta : value < best - minDelta
        } else {
            better = true
        }
        if better {
            best = value
            bestEpoch = epoch
            epochsWithoutImprovement = 0
        } else {
            epochsWithoutImprovement += 1
        }
        return better
    }

    /// Whether `patience` epochs in a row brought no improvement.
    public var shouldStop: Bool { patience.map { epochsWithoutImprovement >= $0 } ?? false }

    /// The state to keep in a checkpoint, so that a resumed run stops where an
    /// uninterrupted one would.
    public var savedState: MonitorState {
        MonitorState(best: best, bestEpoch: bestEpoch, epochsWithoutImprovement: epochsWithoutImprovement)
    }

    /// Restores ``savedState`` (nil, as in checkpoints of runs without a monitor, leaves a
    /// fresh monitor).
    public mutating func restore(_ saved: MonitorState?) {
        best = saved?.best
        bestEpoch = saved?.bestEpoch ?? 0
        epochsWithoutImprovement = saved?.epochsWithoutImprovement ?? 0
    }
}
