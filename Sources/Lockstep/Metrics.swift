import Foundation

/// The figures of one epoch: the `{"event":"epoch",...}` metrics line.
public struct EpochMetrics: Sendable {
    /// The epoch just finished, 1-based.
    public var epoch: Int
    /// Optimizer steps taken by the end of the epoch (a resumed run counts its earlier steps).
    public var step: Int
    /// Ranks that trained the epoch.
    public var worldSize: Int
    /// Mini-batch size on each rank.
    public var batchPerRank: Int
    /// Learning rate of the epoch's last step (after warm-up, schedule and `--scale-lr`).
    public var learningRate: Float
    /// Mean training loss over the epoch, over all ranks.
    public var trainLoss: Double
    /// Training accuracy over the epoch, over all ranks.
    public var trainAccuracy: Double
    /// Test loss after the epoch (nil without a test set).
    public var testLoss: Double?
    /// Test accuracy after the epoch (nil without a test set).
    public var testAccuracy: Double?
    /// Training samples per second over the epoch's steps, all ranks together.
    public var samplesPerSecond: Double
    /// Wall-clock seconds of the epoch's training steps (evaluation excluded, see `evalSeconds`).
    public var epochSeconds: Double
    /// Training time outside gradient communication.
    public var computeSeconds: Double
    /// Gradient communication: bucket launches and progress during backward, and the wait after it.
    public var allreduceSeconds: Double
    /// Seconds spent evaluating after the epoch.
    public var evalSeconds: Double
    /// Validation loss after the epoch (nil without a validation set).
    public var validationLoss: Double? = nil
    /// Validation accuracy after the epoch (nil without a validation set).
    public var validationAccuracy: Double? = nil
    /// Whether the monitored metric improved in this epoch (the best checkpoint moved).
    public var improved: Bool? = nil
    /// Steps of the epoch dropped by `--on-nonfinite skip` (their samples count in no total).
    public var skippedSteps = 0
}

/// Totals of a finished run: the `{"event":"end",...}` metrics line.
public struct TrainingSummary: Sendable {
    /// Optimizer steps taken in all.
    public var steps: Int
    /// Epochs completed.
    public var epochs: Int
    /// Training samples processed by all ranks in this run.
    public var samples: Int
    /// Ranks that trained the run.
    public var worldSize: Int
    /// Wall-clock seconds of the whole run on rank 0.
    public var wallSeconds: Double
    /// Seconds spent in training steps (evaluation and checkpoints excluded).
    public var trainSeconds: Double
    /// This rank's training seconds outside gradient communication, summed over the run's epochs.
    public var computeSeconds: Double
    /// This rank's training seconds in gradient communication, summed over the run's epochs.
    public var allreduceSeconds: Double
    /// Training samples per second over the run's training seconds, all ranks together.
    public var samplesPerSecond: Double
    /// Test loss after the last completed epoch.
    public var finalTestLoss: Double?
    /// Test accuracy after the last completed epoch.
    public var finalTestAccuracy: Double?
    /// Training loss of the last (possibly partial) epoch.
    public var finalTrainLoss: Double?
    /// Path of the last checkpoint written, if any.
    public var checkpoint: String?
    /// Trainable parameters of the model (the all-reduce carries 4 bytes each per step).
    public var parameterCount = 0
    /// The rank with the most compute time (the straggler).
    public var slowestRank = 0
    /// How much more compute time the slowest rank took than the fastest (0.05 = 5%).
    public var slowestRankExcess = 0.0
    /// Why training ended: `completed` (every epoch), `max-steps` or `early-stopping`.
    public var stopReason = "completed"
    /// The best value of the monitored metric, its name and the epoch (1-based) it was
    /// reached in, when a validation set or early stopping was in use.
    public var best: (metric: String, value: Double, epoch: Int)? = nil
    /// The checkpoint `DIR/best` names, if any.
    public var bestCheckpoint: String? = nil
    /// Steps of this run dropped by `--on-nonfinite skip`.
    public var skippedSteps = 0
}

/// Appends JSON lines to the metrics file (rank 0 only). Keys keep the documented order.
public final class MetricsLog {
    private let handle: FileHandle
    /// The metrics file.
    public let path: String

    public init(path: String) throws {
        self.path = path
        let fm = FileManager.default
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !fm.fileExists(atPath: dir) {
            throw CollectiveError("--metrics \(path): the directory \(dir) does not exist; create it first")
        }
        if !fm.fileExists(atPath: path) && !fm.createFile(atPath: path, contents: nil) {
            throw CollectiveError("--metrics \(path): cannot create the file (check permissions)")
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw CollectiveError("--metrics \(path): cannot open the file for writing (check permissions)")
        }
        h.seekToEndOfFile()
        handle = h
    }

    deinit { try? handle.close() }

    func write(_ fields: [(String, Any?)]) {
        var parts: [String] = []
        for (key, value) in fields {
            guard let value else { continue }
            parts.append("\"\(key)\":\(MetricsLog.encode(value))")
        }
        handle.write(Data(("{" + parts.joined(separator: ",") + "}\n").utf8))
    }

    static func encode(_ value: Any) -> String {
        switch value {
        case let s as String:
            let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
            return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
        case let i as Int: return "\(i)"
        case let f as Float: return encode(Double(f))
        case let d as Double:
            guard d.isFinite else { return "null" }
            return String(format: "%.6g", d)
        case let b as Bool: return b ? "true" : "false"
        default: return "\"\(value)\""
        }
    }

    public func record(_ m: EpochMetrics) {
        write([
            ("event", "epoch"), ("epoch", m.epoch), ("step", m.step), ("world_size", m.worldSize),
            ("batch_per_rank", m.batchPerRank), ("lr", m.learningRate), ("train_loss", m.trainLoss),
            ("train_acc", m.trainAccuracy), ("test_loss", m.testLoss), ("test_acc", m.testAccuracy),
            ("samples_per_s", m.samplesPerSecond), ("epoch_s", m.epochSeconds), ("compute_s", m.computeSeconds),
            ("allreduce_s", m.allreduceSeconds), ("eval_s", m.evalSeconds),
            ("val_loss", m.validationLoss), ("val_acc", m.validationAccuracy), ("improved", m.improved),
            ("skipped_steps", m.skippedSteps),
        ])
    }

    public func record(_ s: TrainingSummary) {
        write([
            ("event", "end"), ("parameters", s.parameterCount), ("steps", s.steps), ("epochs", s.epochs), ("samples", s.samples),
            ("world_size", s.worldSize), ("wall_s", s.wallSeconds), ("train_s", s.trainSeconds),
            ("compute_s", s.computeSeconds), ("allreduce_s", s.allreduceSeconds),
            ("samples_per_s", s.samplesPerSecond), ("train_loss", s.finalTrainLoss), ("test_loss", s.finalTestLoss),
            ("test_acc", s.finalTestAccuracy), ("slowest_rank", s.slowestRank),
            ("slowest_rank_excess", s.slowestRankExcess), ("skipped_steps", s.skippedSteps), ("checkpoint", s.checkpoint),
            ("stop_reason", s.stopReason), ("best_metric", s.best?.metric), ("best_value", s.best?.value),
            ("best_epoch", s.best?.epoch), ("best_checkpoint", s.bestCheckpoint),
        ])
    }
}
