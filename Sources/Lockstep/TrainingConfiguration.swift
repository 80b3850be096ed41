import Foundation
import NeuralNet

/// Everything that decides what a training run computes. Every rank must hold the same
/// configuration (checked at start-up), and every checkpoint records it.
///
/// Run-local choices that do not change the numbers (where metrics and checkpoints go,
/// progress display, BLAS threads) live in ``RunOptions`` instead.
public struct TrainingConfiguration: Codable, Sendable, Equatable, Hashable {
    /// A preset (`seed-cnn`, `seed-mlp`, `bn-cnn`, `sigmoid-net`), a spec
    /// (`mlp:784,256,10`, `mlp:784,128,10:tanh`) or a model file (`.yaml`, `.yml`, `.json`).
    /// With ``modelDescription`` set it is only the model's name.
    public var model = "seed-cnn"
    /// The network as data. When nil, ``model`` names it; the trainer fills it in (see
    /// ``resolvingModel()``), so every rank compares it and every checkpoint stores it, and
    /// a checkpoint rebuilds its model without the file it came from. Absent from
    /// checkpoints written before model files existed, which name a preset or spec.
    public var modelDescription: ModelDescription? = nil
    /// The loss (a ``LossKind`` name: `cross-entropy`, `nll`, `mse`, `bce-with-logits`,
    /// `l1`). When nil, the model description's `loss`, else cross-entropy; the trainer
    /// fills it in, so checkpoints record it.
    public var loss: LossKind? = nil
    /// What the run learns (``TrainingTask``). Absent from checkpoints written before
    /// tasks existed, which classify.
    @DefaultWhenAbsent public var task: TrainingTask = .classify
    /// Where the samples come from (``DatasetKind``): `fashion-mnist` (any directory of
    /// MNIST-style IDX files), `csv`, `npy` or `synthetic`.
    public var dataset = DatasetKind.fashionMNIST
    /// Where the data lives: a directory for fashion-mnist and npy, a training file for csv.
    public var data: String? = nil
    /// Passes over the training set.
    public var epochs = 5
    /// Mini-batch size on each rank; the global batch is `batchSize x worldSize x accumulate`.
    public var batchSize = 64
    /// Base learning rate (before `scaleLR` and the schedule).
    public var learningRate: Float = 0.05
    /// The optimizer (``OptimizerKind``): `sgd` or `adamw`.
    public var optimizer = OptimizerKind.sgd
    /// SGD momentum (PyTorch semantics).
    public var momentum: Float = 0.9
    /// Nesterov momentum for SGD.
    public var nesterov = false
    /// L2 weight decay (SGD) or decoupled weight decay (AdamW).
    public var weightDecay: Float = 5e-4
    /// Learning-rate schedule (``ScheduleSetting``): `constant`, `step:N:G`, `multistep:A,B:G`,
    /// `exp:G`, `cosine` (over the whole run) or `cosine:N`.
    public var schedule = ScheduleSetting.cosine(totalSteps: nil, minLR: 0)
    /// Linear warm-up steps in front of the schedule.
    public var warmupSteps = 0
    /// Linear scaling rule (Goyal et al. 2017): multiply the learning rate by the world size.
    public var scaleLR = false
    /// Local mini-batches whose gradients are summed before one all-reduce and step.
    public var accumulate = 1
    /// Seed for initial weights, shuffling and dropout.
    public var seed: UInt64 = 42
    /// Normalise inputs with the training set's per-channel mean and standard deviation.
    public var normalize = true
    /// Use only the first N training samples (for quick runs and tests).
    public var trainLimit: Int? = nil
    /// Use only the first N test samples.
    public var testLimit: Int? = nil
    /// Stop after this many optimizer steps in total.
    public var maxSteps: Int? = nil
    /// Gradient all-reduce bucket size in MiB.
    public var bucketMB: Double = 1
    /// Samples per forward pass during evaluation.
    public var evalBatchSize = 500
    /// Number of samples for the synthetic dataset (training; test is a fifth of it).
    public var syntheticCount = 4096
    /// Hold out this fraction of the training set (seeded) as a validation set.
    public var validationSplit: Double? = nil
    /// A separate validation set, in the format of `dataset` (a CSV file; for npy a
    /// directory holding `val_x.npy` and `val_y.npy`).
    public var validationData: String? = nil
    /// Stop when the monitored metric has not improved for this many epochs.
    public var earlyStopping: Int? = nil
    /// The metric that early stopping and the best checkpoint follow (default `val-loss`).
    public var earlyStoppingMetric: MonitoredMetric? = nil
    /// The smallest change of the monitored metric that counts as an improvement (default 0).
    public var minDelta: Double? = nil
    /// Synchronised BatchNorm: batch statistics over the global batch (every rank's), so
    /// that W ranks x b train like 1 rank x W·b also with BatchNorm.
    public var syncBatchNorm: Bool? = nil
    /// Clip the gradients to this global L2 norm (PyTorch's `clip_grad_norm_`), computed on
    /// the summed gradients, the same on every rank.
    public var clipGradNorm: Float? = nil

    public init() {}

    /// The largest values ``validate()`` accepts. Each is far beyond any real run and
    /// small enough that the products the trainer forms from them (total steps, the global
    /// batch, byte counts) cannot overflow an `Int`.
    public enum Limits {
        /// `epochs` at most 10^6.
        public static let epochs = 1_000_000
        /// `batchSize` and `evalBatchSize` at most 2^24 samples per rank.
        public static let batchSize = 1 << 24
        /// `accumulate` at most 2^20 local batches per step.
        public static let accumulate = 1 << 20
        /// `warmupSteps` and `maxSteps` at most 2^40.
        public static let steps = 1 << 40
        /// `bucketMB` at most 2^20 MiB (1 TiB).
        public static let bucketMB = Double(1 << 20)
        /// `syntheticCount` at most Int32.max - 1 samples (labels and indices are 32-bit).
        public static let samples = Int(Int32.max) - 1
    }

    /// Checks every value that can be checked without data; throws a ``ConfigurationError``
    /// naming the setting (by its name here, e.g. `batchSize`; the CLI renders its flag).
    /// `source` names where the values came from when that is not the user (e.g. a
    /// checkpoint's `state.json`), and the error is then a ``CollectiveError`` that says the
    /// file is corrupt.
    public func validate(source: String? = nil) throws {
        do { try validateSettings() } catch let error as ConfigurationError {
            guard let source else { throw error }
            let what = error.value.map { "is \($0.text) but \($0.rule)" } ?? "is wrong: \(error.message(option: { "'\($0)'" }, name: { "'\($0)'" }))"
            throw CollectiveError("\(source): configuration '\(error.setting)' \(what); the file is corrupt or was edited")
        }
    }

    private func validateSettings() throws {
        typealias L = Limits
        typealias E = ConfigurationError
        guard (1...L.epochs).contains(epochs) else { throw E.invalid(setting: "epochs", value: "\(epochs)", rule: "must be >= 1 and <= \(L.epochs)") }
        guard (1...L.batchSize).contains(batchSize) else { throw E.invalid(setting: "batchSize", value: "\(batchSize)", rule: "must be >= 1 and <= \(L.batchSize)") }
        guard learningRate.isFinite, learningRate > 0 else { throw E.invalid(setting: "learningRate", value: "\(learningRate)", rule: "must be a positive number") }
        guard momentum >= 0, momentum < 1 else { throw E.invalid(setting: "momentum", value: "\(momentum)", rule: "must be in [0, 1)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw E.invalid(setting: "weightDecay", value: "\(weightDecay)", rule: "must be >= 0") }
        guard (0...L.steps).contains(warmupSteps) else { throw E.invalid(setting: "warmupSteps", value: "\(warmupSteps)", rule: "must be >= 0 and <= \(L.steps)") }
        guard (1...L.accumulate).contains(accumulate) else { throw E.invalid(setting: "accumulate", value: "\(accumulate)", rule: "must be >= 1 and <= \(L.accumulate)") }
        if let trainLimit, trainLimit < 1 { throw E.invalid(setting: "trainLimit", value: "\(trainLimit)", rule: "must be >= 1") }
        if let testLimit, testLimit < 0 { throw E.invalid(setting: "testLimit", value: "\(testLimit)", rule: "must be >= 0") }
        if let maxSteps, !(1...L.steps).contains(maxSteps) { throw E.invalid(setting: "maxSteps", value: "\(maxSteps)", rule: "must be >= 1 and <= \(L.steps)") }
        guard bucketMB.isFinite, bucketMB > 0, bucketMB <= L.bucketMB else {
            throw E.invalid(setting: "bucketMB", value: "\(bucketMB)", rule: "must be positive and <= \(Int(L.bucketMB)) (1 TiB)")
        }
        guard (1...L.batchSize).contains(evalBatchSize) else { throw E.invalid(setting: "evalBatchSize", value: "\(evalBatchSize)", rule: "must be >= 1 and <= \(L.batchSize)") }
        guard (1...L.samples).contains(syntheticCount) else { throw E.invalid(setting: "syntheticCount", value: "\(syntheticCount)", rule: "must be >= 1 and <= \(L.samples)") }
        if let validationSplit {
            guard validationSplit > 0, validationSplit < 1 else { throw E.invalid(setting: "validationSplit", value: "\(validationSplit)", rule: "must be between 0 and 1 (exclusive)") }
            guard validationData == nil else {
                throw E(setting: "validationSplit", parts: [.text("give either "), .option("validationSplit"), .text(" or "), .option("validationData"), .text(", not both")])
            }
        }
        if validationData != nil, !dataset.acceptsValidationData {
            throw E(setting: "validationData", parts: [.option("validationData"), .text(" given: "), .name("validationData"), .text(" works with "),
                                                       .option("dataset"), .text(" csv or npy; for \(dataset.rawValue) use "), .option("validationSplit")])
        }
        if let clipGradNorm, !(clipGradNorm > 0 && clipGradNorm.isFinite) {
            throw E.invalid(setting: "clipGradNorm", value: "\(clipGradNorm)", rule: "must be a positive number")
        }
        if let earlyStopping, !(1...L.epochs).contains(earlyStopping) {
            throw E.invalid(setting: "earlyStopping", value: "\(earlyStopping)", rule: "must be >= 1 and <= \(L.epochs) (epochs without improvement)")
        }
        if let minDelta, !(minDelta >= 0 && minDelta.isFinite) { throw E.invalid(setting: "minDelta", value: "\(minDelta)", rule: "must be >= 0") }
        if monitoredMetric.needsValidationSet, validationSplit == nil, validationData == nil,
           earlyStopping != nil || earlyStoppingMetric != nil {
            throw E(setting: "earlyStopping", parts: [
                .option("earlyStopping"), .text(" follows \(monitoredMetric.rawValue), which needs a validation set: add "), .option("validationSplit"),
                .text(" F or "), .option("validationData"), .text(" PATH, or choose "), .option("earlyStoppingMetric"), .text(" train-loss")])
        }
        if dataset.needsDataPath, data == nil {
            throw E(setting: "data", parts: [.option("dataset"), .text(" \(dataset.rawValue) needs "), .option("data"),
                                             .text(" (a file for csv, a directory with train_x.npy, train_y.npy for npy)")])
        }
    }

    /// The metric early stopping and the best checkpoint follow.
    public var monitoredMetric: MonitoredMetric { earlyStoppingMetric ?? .validationLoss }

    /// The settings as sorted key/value text pairs, for naming the setting that differs.
    /// Nested values (the model description) are sorted-key JSON, so the text is the same
    /// in every process.
    func flattened() -> [(key: String, value: String)] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        return object.keys.sorted().map { key in
            let value = object[key]!
            if value is [Any] || value is [String: Any],
               let json = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
                return (key, String(decoding: json, as: UTF8.self))
            }
            return (key, "\(value)")
        }
    }

    /// The network this configuration trains: ``modelDescription``, or the preset, spec or
    /// model file that ``model`` names. Throws a message naming what is wrong.
    public func resolvedModelDescription() throws -> ModelDescription {
        if let modelDescription { return modelDescription }
        return try ModelZoo.description(model)
    }

    /// The loss this configuration trains with: ``loss``, else the model description's,
    /// else cross-entropy.
    public func resolvedLoss() throws -> LossKind {
        if let loss { return loss }
        return try resolvedModelDescription().loss.map { try LossKind(named: $0) } ?? .crossEntropy
    }

    /// This configuration with ``modelDescription`` filled in from ``model`` (reading the
    /// model file, if it names one) and ``loss`` from the description.
    public func resolvingModel() throws -> TrainingConfiguration {
        var c = self
        c.modelDescription = try resolvedModelDescription()
        c.loss = try resolvedLoss()
        return c
    }
}

/// A stored setting added after checkpoints existed: decoded as its type's
/// ``DefaultWhenAbsentValue/valueWhenAbsent`` when the key is missing (older state.json),
/// encoded as the plain value.
@propertyWrapper
public struct DefaultWhenAbsent<Value: DefaultWhenAbsentValue>: Codable, Sendable, Hashable {
    public var wrappedValue: Value

    public init(wrappedValue: Value) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws { wrappedValue = try Value(from: decoder) }

    public func encode(to encoder: any Encoder) throws { try wrappedValue.encode(to: encoder) }
}

/// A value with a meaning for files written before it existed.
public protocol DefaultWhenAbsentValue: Codable, Sendable, Hashable {
    /// The value a file without the key meant.
    static var valueWhenAbsent: Self { get }
}

extension TrainingTask: DefaultWhenAbsentValue {
    public static var valueWhenAbsent: TrainingTask { .classify }
}

extension KeyedDecodingContainer {
    /// A missing key decodes as the value it meant before the setting existed.
    public func decode<Value>(_ type: DefaultWhenAbsent<Value>.Type, forKey key: Key) throws -> DefaultWhenAbsent<Value> {
        try decodeIfPresent(type, forKey: key) ?? DefaultWhenAbsent(wrappedValue: Value.valueWhenAbsent)
    }
}

/// Run-local choices: where things are written and how progress is shown. They may
/// differ between ranks and between a run and its resumption without changing results.
public struct RunOptions: Sendable {
    /// Directory for checkpoints; none are written when nil.
    public var checkpointDirectory: String? = nil
    /// Write a checkpoint every N optimizer steps (0: only at epoch ends and the end).
    public var checkpointEverySteps = 0
    /// Write a checkpoint every N epochs (0: only at the end).
    public var checkpointEveryEpochs = 1
    /// Keep the newest K checkpoints.
    public var keepCheckpoints = 3
    /// Resume from this checkpoint (a checkpoint directory or a store directory).
    public var resumeFrom: String? = nil
    /// Load a checkpoint whose weights or optimizer state hold NaN or infinities (refused
    /// by default: they come from a run that diverged).
    public var allowNonFiniteCheckpoint = false
    /// JSON-lines metrics file written by rank 0.
    public var metricsPath: String? = nil
    /// Compare a checksum of every rank's parameters after every N steps (0: off).
    public var checkReplicasEvery = 0
    /// Print a plain progress line every N steps when not on a terminal (0: epochs only).
    public var logEverySteps = 0
    /// Write a Chrome-trace timeline of every rank to this file (rank 0 writes it).
    public var timelinePath: String? = nil
    /// How many steps the timeline records (from the first step of this run).
    public var timelineSteps = 50
    /// How gradients are all-reduced (see ``AllreduceMode``).
    public var allreduceMode = AllreduceMode.auto
    /// Groups of this many consecutive ranks act as the shared-memory nodes, instead of the
    /// nodes `MPI_Comm_split_type` finds: for testing the multi-node `shared` path on one
    /// machine. Nil (the default) uses the real nodes.
    public var ranksPerNode: Int? = nil
    /// What a step with a non-finite loss or gradients does (``NonFinitePolicy``); every rank
    /// must be given the same.
    public var onNonFinite = NonFinitePolicy.stop
    /// Under `.skip`: stop (exit 3) after this many skipped steps in a row.
    public var maxSkippedSteps = 10
    /// Seconds a rank may wait in one collective before the stall watchdog ends the job
    /// (exit 4), naming the ranks that never arrived (``StallWatchdog``); 0 turns it off.
    /// Every rank must be given the same.
    public var stallTimeout = 300.0
    /// Test-only fault injection: one rank sleeps in the middle of some steps (a slow but
    /// live rank, for the stall watchdog's tests). Nil in real runs.
    public var injectedSleep: InjectedSleep? = nil

    public init() {}
}

/// A per-epoch figure that early stopping and the best checkpoint can follow.
public enum MonitoredMetric: String, Codable, Sendable, CaseIterable, Hashable {
    case validationLoss = "val-loss"
    case validationAccuracy = "val-acc"
    case trainLoss = "train-loss"

    /// Whether larger values are better.
    public var higherIsBetter: Bool { self == .validationAccuracy }
    /// Whether the metric comes from the validation set.
    public var needsValidationSet: Bool { self != .trainLoss }
    /// The name in metrics lines.
    public var metricsKey: String { ["val-loss": "val_loss", "val-acc": "val_acc", "train-loss": "train_loss"][rawValue]! }
}

/// A slow rank on purpose (hidden flag `--inject-sleep RANK:SECONDS:EVERY`): rank `rank`
/// sleeps `seconds` after the forward and backward passes of every `every`-th step, before
/// the gradient reduction, so the other ranks wait for it there.
public struct InjectedSleep: Sendable {
    public var rank: Int
    public var seconds: Double
    public var every: Int

    /// Parses `RANK:SECONDS:EVERY`, e.g. `1:5:100`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let rank = Int(parts[0]), let seconds = Double(parts[1]), let every = Int(parts[2]),
              rank >= 0, seconds >= 0, seconds.isFinite, every >= 1 else {
            throw CollectiveError("--inject-sleep '\(text)' must be RANK:SECONDS:EVERY, e.g. 1:5:100")
        }
        self.rank = rank
        self.seconds = seconds
        self.every = every
    }
}
