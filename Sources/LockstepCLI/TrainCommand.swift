import ArgumentParser
import Checkpoints
import Foundation
import Logging
import Lockstep
import MPI
import NeuralNet
import Yams

/// Flags shared by `train` and the scaling tools: what to train and how.
struct TrainingFlags: ParsableArguments {
    @Option(help: "YAML file whose keys are these flags' names (e.g. 'batch-size: 64'); flags given on the command line win.")
    var config: String?
    @Option(help: "Model: a model file (.yaml, .yml or .json; see examples/models), a preset (seed-cnn, seed-mlp, bn-cnn, sigmoid-net), or a spec like mlp:784,256,10 or mlp:784,128,10:tanh. When resuming, the checkpoint's own model unless given. (default: seed-cnn)")
    var model: String?
    @Option(help: "Loss: \(LossKind.names) (nll: the model ends with log-softmax; mse, bce-with-logits and l1 compare with one-hot targets). (default: the model file's 'loss:', else cross-entropy; sigmoid-net declares mse)")
    var loss: String?
    @Option(help: "Dataset: \(DatasetKind.names). (default: \(TrainingConfiguration().dataset))")
    var dataset: String?
    @Option(help: "Data location: a directory of MNIST-style IDX files (default /usr/share/datasets/fashion-mnist), a CSV file or directory, or a directory of train_x.npy/train_y.npy.")
    var data: String?
    @Option(parsing: .unconditional, help: "Epochs. (default: 5)") var epochs: Int?
    @Option(parsing: .unconditional, help: "Mini-batch size per rank. (default: 64)") var batchSize: Int?
    @Option(name: [.customLong("lr"), .customLong("learning-rate")], parsing: .unconditional, help: "Base learning rate. (default: 0.05)") var lr: Float?
    @Option(help: "Optimizer: \(OptimizerKind.names). (default: \(TrainingConfiguration().optimizer))") var optimizer: String?
    @Option(parsing: .unconditional, help: "SGD momentum. (default: 0.9)") var momentum: Float?
    @Flag(help: "Nesterov momentum.") var nesterov = false
    @Option(parsing: .unconditional, help: "Weight decay. (default: 0.0005)") var weightDecay: Float?
    @Option(help: "LR schedule: \(ScheduleSetting.forms). (default: cosine over the run)")
    var schedule: String?
    @Option(parsing: .unconditional, help: "Linear warm-up steps. (default: 0)") var warmupSteps: Int?
    @Flag(help: "Linear scaling rule: multiply the learning rate by the number of ranks.") var scaleLr = false
    @Option(parsing: .unconditional, help: "Accumulate gradients over N local batches per step. (default: 1)") var accumulate: Int?
    @Option(parsing: .unconditional, help: "Random seed. (default: 42)") var seed: UInt64?
    @Flag(help: "Do not normalise inputs.") var noNormalize = false
    @Option(parsing: .unconditional, help: "Hold out this fraction of the training set (seeded, the same on every rank) as a validation set, evaluated every epoch.")
    var validationSplit: Double?
    @Option(help: "A separate validation set: a CSV file for --dataset csv; for npy a directory holding val_x.npy and val_y.npy.")
    var validationData: String?
    @Option(parsing: .unconditional, help: "Stop when the monitored metric has not improved for N epochs in a row.") var earlyStopping: Int?
    @Option(help: "What early stopping and DIR/best follow: val-loss, val-acc or train-loss. (default: val-loss)")
    var earlyStoppingMetric: MonitoredMetric?
    @Option(parsing: .unconditional, help: "The smallest change of the monitored metric that counts as an improvement. (default: 0)") var minDelta: Double?
    @Option(parsing: .unconditional, help: "Use only the first N training samples.") var trainLimit: Int?
    @Option(parsing: .unconditional, help: "Use only the first N test samples.") var testLimit: Int?
    @Option(parsing: .unconditional, help: "Stop after N optimizer steps in total (the schedule still spans all epochs).") var maxSteps: Int?
    @Option(parsing: .unconditional, help: "All-reduce bucket size in MiB. (default: 1)") var bucketMb: Double?
    @Option(parsing: .unconditional, help: "Samples for --dataset synthetic. (default: 4096)") var syntheticCount: Int?
    @Option(parsing: .unconditional, help: "Clip the gradients to this global L2 norm, computed on the summed gradients (PyTorch's clip_grad_norm_).")
    var clipGradNorm: Float?
    @Flag(help: "Synchronised BatchNorm: normalise with the statistics of the global batch (all ranks'), all-reduced in forward and backward.")
    var syncBn = false

    /// Defaults, then the YAML file, then explicit flags. `savedModel` (a checkpoint's
    /// model, when resuming) stands in for the default model when neither names one.
    /// Errors name the flags (``TrainingFlagNames``).
    func configuration(savedModel: (name: String, description: ModelDescription)? = nil) throws -> TrainingConfiguration {
        do {
            return try mergedConfiguration(savedModel: savedModel)
        } catch let error as ConfigurationError {
            throw CollectiveError(TrainingFlagNames.message(error))
        }
    }

    private func mergedConfiguration(savedModel: (name: String, description: ModelDescription)?) throws -> TrainingConfiguration {
        var c = TrainingConfiguration()
        let file = try config.map(ConfigFile.load) ?? ConfigFile()
        /// A named setting from a flag, else the file (its errors name the file), else nil.
        func named<T>(_ flag: String?, _ inFile: String?, _ parse: (String) throws -> T) throws -> T? {
            if let flag { return try parse(flag) }
            guard let inFile else { return nil }
            do { return try parse(inFile) } catch let error as ConfigurationError {
                throw CollectiveError("--config \(config!): \(TrainingFlagNames.message(error))")
            }
        }
        if let named = model ?? file.model {
            c.model = named
        } else if let savedModel {
            c.model = savedModel.name
            c.modelDescription = savedModel.description
        }
        c.loss = try named(loss, file.loss, LossKind.init(named:)) ?? c.loss
        c.dataset = try named(dataset, file.dataset, DatasetKind.init(named:)) ?? c.dataset
        c.data = data ?? file.data ?? c.data
        c.epochs = epochs ?? file.epochs ?? c.epochs
        c.batchSize = batchSize ?? file.batchSize ?? c.batchSize
        c.learningRate = lr ?? file.lr ?? file.learningRate ?? c.learningRate
        c.optimizer = try named(optimizer, file.optimizer, OptimizerKind.init(named:)) ?? c.optimizer
        c.momentum = momentum ?? file.momentum ?? c.momentum
        c.nesterov = nesterov || (file.nesterov ?? c.nesterov)
        c.weightDecay = weightDecay ?? file.weightDecay ?? c.weightDecay
        c.schedule = try named(schedule, file.schedule, ScheduleSetting.init(parsing:)) ?? c.schedule
        c.warmupSteps = warmupSteps ?? file.warmupSteps ?? c.warmupSteps
        c.scaleLR = scaleLr || (file.scaleLR ?? c.scaleLR)
        c.accumulate = accumulate ?? file.accumulate ?? c.accumulate
        c.seed = seed ?? file.seed ?? c.seed
        c.normalize = noNormalize ? false : (file.normalize ?? c.normalize)
        c.trainLimit = trainLimit ?? file.trainLimit ?? c.trainLimit
        c.testLimit = testLimit ?? file.testLimit ?? c.testLimit
        c.maxSteps = maxSteps ?? file.maxSteps ?? c.maxSteps
        c.bucketMB = bucketMb ?? file.bucketMB ?? c.bucketMB
        c.syntheticCount = syntheticCount ?? file.syntheticCount ?? c.syntheticCount
        c.validationSplit = validationSplit ?? file.validationSplit ?? c.validationSplit
        c.validationData = validationData ?? file.validationData ?? c.validationData
        c.earlyStopping = earlyStopping ?? file.earlyStopping ?? c.earlyStopping
        c.earlyStoppingMetric = try earlyStoppingMetric ?? named(nil, file.earlyStoppingMetric) { name in
            guard let metric = MonitoredMetric(rawValue: name) else {
                throw ConfigurationError.unknown(setting: "earlyStoppingMetric", value: name, known: MonitoredMetric.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return metric
        } ?? c.earlyStoppingMetric
        c.minDelta = minDelta ?? file.minDelta ?? c.minDelta
        if syncBn || (file.syncBN ?? false) { c.syncBatchNorm = true }
        c.clipGradNorm = clipGradNorm ?? file.clipGradNorm ?? c.clipGradNorm
        try c.validate()
        return c
    }
}

/// The one table from the configuration's setting names (``TrainingConfiguration``'s
/// properties, which library errors use) to the `train` flags that set them.
enum TrainingFlagNames {
    static let flags: [String: String] = [
        "model": "model", "loss": "loss", "dataset": "dataset", "data": "data", "epochs": "epochs",
        "batchSize": "batch-size", "learningRate": "lr", "optimizer": "optimizer", "momentum": "momentum",
        "nesterov": "nesterov", "weightDecay": "weight-decay", "schedule": "schedule", "warmupSteps": "warmup-steps",
        "scaleLR": "scale-lr", "accumulate": "accumulate", "seed": "seed", "normalize": "no-normalize",
        "trainLimit": "train-limit", "testLimit": "test-limit", "maxSteps": "max-steps", "bucketMB": "bucket-mb",
        "syntheticCount": "synthetic-count", "validationSplit": "validation-split", "validationData": "validation-data",
        "earlyStopping": "early-stopping", "earlyStoppingMetric": "early-stopping-metric", "minDelta": "min-delta",
        "syncBatchNorm": "sync-bn", "clipGradNorm": "clip-grad-norm",
    ]

    /// The flag of a setting, without dashes (the setting's own name when no flag sets it).
    static func flag(_ setting: String) -> String { flags[setting] ?? setting }

    /// A configuration error in the words of the command line: `--batch-size 0: batch-size must be ...`.
    static func message(_ error: ConfigurationError) -> String {
        error.message(option: { "--" + flag($0) }, name: flag)
    }
}

/// A `--config` YAML file: the `train` flags' names as keys (`batch-size: 64`), decoded by
/// Yams' `YAMLDecoder`. Named settings stay text here and are parsed with the flags' own
/// parser, so that a bad one reads the same from either place.
struct ConfigFile: Decodable {
    var model: String?, loss: String?, dataset: String?, data: String?
    var epochs: Int?, batchSize: Int?, lr: Float?, learningRate: Float?, optimizer: String?
    var momentum: Float?, nesterov: Bool?, weightDecay: Float?, schedule: String?, warmupSteps: Int?
    var scaleLR: Bool?, accumulate: Int?, seed: UInt64?, normalize: Bool?
    var trainLimit: Int?, testLimit: Int?, maxSteps: Int?, bucketMB: Double?, syntheticCount: Int?
    var validationSplit: Double?, validationData: String?, earlyStopping: Int?, earlyStoppingMetric: String?
    var minDelta: Double?, syncBN: Bool?, clipGradNorm: Float?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, loss, dataset, data, epochs
        case batchSize = "batch-size", lr, learningRate = "learning-rate", optimizer, momentum, nesterov
        case weightDecay = "weight-decay", schedule, warmupSteps = "warmup-steps", scaleLR = "scale-lr"
        case accumulate, seed, normalize, trainLimit = "train-limit", testLimit = "test-limit", maxSteps = "max-steps"
        case bucketMB = "bucket-mb", syntheticCount = "synthetic-count", validationSplit = "validation-split"
        case validationData = "validation-data", earlyStopping = "early-stopping", earlyStoppingMetric = "early-stopping-metric"
        case minDelta = "min-delta", syncBN = "sync-bn", clipGradNorm = "clip-grad-norm"
    }

    /// Reads and decodes `path`; refuses an unreadable, empty or non-mapping file, a key
    /// that is not a known flag, and a value of the wrong type, naming the file and the key.
    static func load(_ path: String) throws -> ConfigFile {
        func fail(_ what: String) -> CollectiveError { CollectiveError("--config \(path): \(what)") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw fail("cannot read the file") }
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else { throw fail("the file is empty") }
            node = composed
        } catch let error as CollectiveError { throw error } catch {
            throw fail("not valid YAML: \(error)")
        }
        guard let mapping = node.mapping else { throw fail("expected a mapping of flag names to values") }
        let known = CodingKeys.allCases.map(\.rawValue)
        for key in mapping.keys {
            let name = key.string ?? "\(key)"
            guard known.contains(name) else { throw fail("unknown key '\(name)'; keys are flag names: \(known.sorted().joined(separator: ", "))") }
        }
        do {
            return try YAMLDecoder().decode(ConfigFile.self, from: node)
        } catch let error as DecodingError {
            throw fail(describe(error))
        } catch {
            throw fail("\(error)")
        }
    }

    /// What was wrong with a value, naming its key.
    private static func describe(_ error: DecodingError) -> String {
        func key(_ path: [CodingKey]) -> String { path.first.map { "'\($0.stringValue)'" } ?? "the file" }
        switch error {
        case let .typeMismatch(type, context), let .valueNotFound(type, context):
            return "\(key(context.codingPath)) should be a \(type)"
        case let .dataCorrupted(context):
            return "\(key(context.codingPath)): \(context.debugDescription)"
        case let .keyNotFound(missing, _):
            return "missing '\(missing.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model data-parallel (one process, or many under mpirun).",
        discussion: """
            Every rank holds a replica and a disjoint shard of each epoch's batches; gradients are all-reduced. Examples:
              lockstep train                                  # seed-cnn on Fashion-MNIST, 5 epochs
              scripts/mpirun.sh -np 2 lockstep train --model seed-mlp --metrics runs/m.jsonl
              scripts/mpirun.sh -np 4 lockstep train --checkpoint-dir runs/ckpt --resume
              lockstep train --model examples/models/small-cnn.yaml --checkpoint-dir runs/cnn --resume auto
            """
    )

    @OptionGroup var flags: TrainingFlags
    @OptionGroup var logging: LoggingOptions
    @Option(parsing: .unconditional, help: "BLAS threads per rank.") var threads = 1
    @Option(help: "Directory for checkpoints (written by rank 0).") var checkpointDir: String?
    @Option(parsing: .unconditional, help: "Checkpoint every N steps (0: at epoch ends only).") var checkpointEvery = 0
    @Option(parsing: .unconditional, help: "Checkpoint every N epochs (0: at the end only).") var checkpointEveryEpochs = 1
    @Option(parsing: .unconditional, help: "Keep the newest K checkpoints.") var keep = 3
    @Flag(help: "Continue from the newest complete checkpoint in --checkpoint-dir. '--resume auto': the same when there is one, else start fresh and say so (one command for the first start and every requeue).")
    var resume = false
    /// `--resume auto`, which ``LockstepCommand/main()`` rewrites to this flag (a flag
    /// cannot take an optional value in ArgumentParser).
    @Flag(name: .customLong("resume-auto"), help: .hidden) var resumeAuto = false
    @Option(help: "Continue from this checkpoint directory (or store directory).") var resumeFrom: String?
    @Flag(help: "Resume even from a checkpoint whose weights or optimizer state hold NaN or infinities (refused by default).")
    var allowNonfiniteCheckpoint = false
    @Option(help: "Append JSON-lines metrics to this file (rank 0).") var metrics: String?
    @Option(parsing: .unconditional, help: "Compare a checksum of every rank's parameters every N steps (0: off; with --allreduce shared the ranks share one copy).") var checkReplicas = 0
    @Option(help: "Write a Chrome-trace timeline (chrome://tracing, Perfetto) of every rank's forward, backward, bucket all-reduces and optimizer step.") var timeline: String?
    @Option(parsing: .unconditional, help: "Steps the timeline records.") var timelineSteps = 50
    @Option(help: "Gradient all-reduce: auto (shared on one node, else overlap), overlap (non-blocking buckets during backward), blocking (one call after backward), shared (gradients summed and one copy of the parameters per node updated in shared memory, each rank its slice; across nodes, hierarchical: needs the same number of ranks on each node).")
    var allreduce: AllreduceMode = .auto
    @Option(help: "A step whose loss or summed gradients are NaN or infinite: stop (end the job with exit status 3, naming the step and the learning rate, writing no checkpoint from that state) or skip (drop the step: no update, optimizer state untouched; the batch counts as consumed; skips are counted in the metrics).")
    var onNonfinite: NonFinitePolicy = .stop
    @Option(parsing: .unconditional, help: "With --on-nonfinite skip: stop (exit 3) after this many skipped steps in a row.") var maxSkippedSteps = 10
    @Option(parsing: .unconditional, help: "Seconds a rank may wait for the others in one collective (gradient all-reduce, shared-memory barrier, evaluation) before the job is ended with exit status 4 and a line naming the step, the collective and the ranks that never arrived; a rank writing a checkpoint or evaluating counts as progress. 0: off.")
    var stallTimeout = 300.0
    @Option(help: .hidden) var injectSleep: String?
    @Option(parsing: .unconditional, help: "When not on a terminal, print a progress line every N steps (0: per epoch).") var logEvery = 0
    @Option(help: "Progress display: auto (a live bar on a terminal, lines under mpirun or in a log), bar, lines.") var progress: ProgressMode = .auto
    @Flag(help: "Print only errors and the final line.") var quiet = false

    func validate() throws {
        guard (1...maximumThreads).contains(threads) else { throw ValidationError("--threads \(threads): threads must be >= 1 and <= \(maximumThreads)") }
        guard keep >= 1 else { throw ValidationError("--keep \(keep): keep must be >= 1") }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every \(checkpointEvery): checkpoint-every must be >= 0") }
        guard checkpointEveryEpochs >= 0 else { throw ValidationError("--checkpoint-every-epochs \(checkpointEveryEpochs): checkpoint-every-epochs must be >= 0") }
        // The timeline holds a few events per bucket for each recorded step.
        guard (1...1_000_000).contains(timelineSteps) else { throw ValidationError("--timeline-steps \(timelineSteps): timeline-steps must be >= 1 and <= 1000000") }
        guard checkReplicas >= 0 else { throw ValidationError("--check-replicas \(checkReplicas): check-replicas must be >= 0") }
        guard logEvery >= 0 else { throw ValidationError("--log-every \(logEvery): log-every must be >= 0") }
        // A year is beyond any collective; the bound keeps the deadline arithmetic finite.
        guard stallTimeout >= 0, stallTimeout <= 31_536_000 else {
            throw ValidationError("--stall-timeout \(stallTimeout): stall-timeout must be a number of seconds >= 0 and <= 31536000 (0: off)")
        }
        guard maxSkippedSteps >= 1 else { throw ValidationError("--max-skipped-steps \(maxSkippedSteps): max-skipped-steps must be >= 1") }
        if resume && checkpointDir == nil { throw ValidationError("--resume needs --checkpoint-dir (or use --resume-from PATH)") }
        if resumeAuto && checkpointDir == nil { throw ValidationError("--resume auto needs --checkpoint-dir, the directory to continue from or start in") }
        if resumeAuto && (resume || resumeFrom != nil) { throw ValidationError("--resume auto goes alone: not with --resume or --resume-from") }
    }

    func run() throws {
        setBLASThreads(threads)
        try withMPI(command: "train", logLevel: logging.logLevel) { mpi in
            let world = mpi.world
            var resumeFrom = resumeFrom ?? (resume ? checkpointDir : nil)
            if resumeAuto, let directory = checkpointDir {
                // Rank 0 writes the checkpoints, so rank 0 looks for them.
                let found = try Collective.onRoot(world) { try checkpointExists(in: directory) } ?? false
                var flag = [found ? 1 : 0]
                try world.broadcast(&flag, from: 0)
                if flag[0] == 1 {
                    resumeFrom = directory
                } else if world.rank == 0 && !quiet {
                    FileHandle.standardOutput.write(Data("no checkpoint in \(directory) yet: starting fresh (--resume auto)\n".utf8))
                }
            }
            let saved = try resumeFrom.flatMap { try savedModel(at: $0, world: world) }
            // The model file is read here, so that a broken one is reported before the data loads.
            let configuration = try Collective.everywhere(world) { try flags.configuration(savedModel: saved).resolvingModel() }
            var options = RunOptions()
            options.checkpointDirectory = checkpointDir
            options.checkpointEverySteps = checkpointEvery
            options.checkpointEveryEpochs = checkpointEveryEpochs
            options.keepCheckpoints = keep
            options.resumeFrom = resumeFrom
            options.allowNonFiniteCheckpoint = allowNonfiniteCheckpoint
            options.metricsPath = metrics
            options.checkReplicasEvery = checkReplicas
            options.logEverySteps = logEvery
            options.timelinePath = timeline
            options.timelineSteps = timelineSteps
            options.allreduceMode = allreduce
            options.onNonFinite = onNonfinite
            options.maxSkippedSteps = maxSkippedSteps
            options.stallTimeout = stallTimeout
            options.injectedSleep = try Collective.everywhere(world) { try injectSleep.map(InjectedSleep.init(parsing:)) }
            let loadStart = MPIEnvironment.wallTime()
            let data = try Collective.everywhere(world) { try TrainingData.load(configuration) }
            Logger(label: "lockstep").info("data loaded", metadata: [
                "train": "\(data.train.count)", "test": "\(data.test?.count ?? 0)",
                "seconds": "\(String(format: "%.2f", MPIEnvironment.wallTime() - loadStart))"])
            let trainer = try Trainer(configuration: configuration, options: options, world: world, data: data)
            if world.rank == 0 && !quiet {
                let progress = ProgressPrinter(configuration: configuration, logEvery: logEvery, mode: progress)
                trainer.onEvent = progress.handle
            }
            let summary = try trainer.run()
            if world.rank == 0 && quiet {
                print(ProgressPrinter.finalLine(summary))
            }
        }
    }
}

/// Whether `directory` holds a complete checkpoint (false when it does not exist yet).
func checkpointExists(in directory: String) throws -> Bool {
    guard FileManager.default.fileExists(atPath: directory) else { return false }
    do { return try CheckpointStore(directory: directory, keep: 1).latest() != nil }
    catch { throw CollectiveError("--checkpoint-dir \(directory): \(error.userMessage)") }
}

/// The model of the checkpoint at `path` (read on rank 0, sent to all), or nil when there
/// is none to read; the trainer reports a checkpoint it cannot resume from.
func savedModel(at path: String, world: Communicator) throws -> (name: String, description: ModelDescription)? {
    let text = try Collective.onRoot(world) { () -> String in
        guard let loaded = try? CheckpointStore.load(path: path, as: TrainingConfiguration.self),
              let description = try? loaded.state.configuration.resolvedModelDescription(),
              let json = try? JSONEncoder().encode(SavedModel(name: loaded.state.configuration.model, description: description))
        else { return "" }
        return String(decoding: json, as: UTF8.self)
    } ?? ""
    let received = try Collective.broadcast(string: text, from: 0, world)
    guard !received.isEmpty else { return nil }
    let saved = try Collective.everywhere(world) { try JSONDecoder().decode(SavedModel.self, from: Data(received.utf8)) }
    return (saved.name, saved.description)
}

private struct SavedModel: Codable {
    var name: String
    var description: ModelDescription
}

extension AllreduceMode: ExpressibleByArgument {}

extension MonitoredMetric: ExpressibleByArgument {}
extension NonFinitePolicy: ExpressibleByArgument {}

/// The most BLAS threads a rank may ask for (OpenBLAS counts them in 32 bits; no machine
/// has more cores than this).
let maximumThreads = 4096
