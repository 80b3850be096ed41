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
    @Option(help: "Loss: cross-entropy, nll (the model ends with log-softmax), or mse, bce-with-logits or l1 against one-hot targets. (default: the model file's 'loss:', else cross-entropy; sigmoid-net declares mse)")
    var loss: String?
    @Option(help: "Dataset: fashion-mnist, csv, npy or synthetic. (default: fashion-mnist)")
    var dataset: String?
    @Option(help: "Data location: a directory of MNIST-style IDX files (default /usr/share/datasets/fashion-mnist), a CSV file or directory, or a directory of train_x.npy/train_y.npy.")
    var data: String?
    @Option(parsing: .unconditional, help: "Epochs. (default: 5)") var epochs: Int?
    @Option(parsing: .unconditional, help: "Mini-batch size per rank. (default: 64)") var batchSize: Int?
    @Option(name: [.customLong("lr"), .customLong("learning-rate")], parsing: .unconditional, help: "Base learning rate. (default: 0.05)") var lr: Float?
    @Option(help: "Optimizer: sgd or adamw. (default: sgd)") var optimizer: String?
    @Option(parsing: .unconditional, help: "SGD momentum. (default: 0.9)") var momentum: Float?
    @Flag(help: "Nesterov momentum.") var nesterov = false
    @Option(parsing: .unconditional, help: "Weight decay. (default: 0.0005)") var weightDecay: Float?
    @Option(help: "LR schedule: constant, cosine, cosine:N, step:N:G, multistep:A,B:G, exp:G. (default: cosine over the run)")
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
    func configuration(savedModel: (name: String, description: ModelDescription)? = nil) throws -> TrainingConfiguration {
        var c = TrainingConfiguration()
        var yaml: [String: Any] = [:]
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw CollectiveError("--config \(config): cannot read the file")
            }
            do {
                guard let loaded = try Yams.load(yaml: text) else { throw CollectiveError("--config \(config): the file is empty") }
                guard let map = loaded as? [String: Any] else { throw CollectiveError("--config \(config): expected a mapping of flag names to values") }
                yaml = map
            } catch let error as CollectiveError { throw error } catch {
                throw CollectiveError("--config \(config): not valid YAML: \(error)")
            }
            let known: Set<String> = ["model", "loss", "dataset", "data", "epochs", "batch-size", "lr", "learning-rate", "optimizer", "momentum", "nesterov",
                                      "weight-decay", "schedule", "warmup-steps", "scale-lr", "accumulate", "seed", "normalize",
                                      "train-limit", "test-limit", "max-steps", "bucket-mb", "synthetic-count",
                                      "validation-split", "validation-data", "early-stopping", "early-stopping-metric", "min-delta", "sync-bn", "clip-grad-norm"]
            if let unknown = yaml.keys.sorted().first(where: { !known.contains($0) }) {
                throw CollectiveError("--config \(config): unknown key '\(unknown)'; keys are flag names: \(known.sorted().joined(separator: ", "))")
            }
        }
        func value<T>(_ key: String, _ type: T.Type) throws -> T? {
            guard let raw = yaml[key] else { return nil }
            if let v = raw as? T { return v }
            if T.self == Float.self, let d = raw as? Double { return Float(d) as? T }
            if T.self == Float.self, let i = raw as? Int { return Float(i) as? T }
            if T.self == Double.self, let i = raw as? Int { return Double(i) as? T }
            if T.self == UInt64.self, let i = raw as? Int, i >= 0 { return UInt64(i) as? T }
            if T.self == String.self { return "\(raw)" as? T }
            throw CollectiveError("--config \(config!): '\(key)' should be a \(T.self), not '\(raw)'")
        }
        if let named = try model ?? value("model", String.self) {
            c.model = named
        } else if let savedModel {
            c.model = savedModel.name
            c.modelDescription = savedModel.description
        }
        c.loss = try loss ?? (value("loss", String.self)) ?? c.loss
        c.dataset = try dataset ?? (value("dataset", String.self)) ?? c.dataset
        c.data = try data ?? (value("data", String.self)) ?? c.data
        c.epochs = try epochs ?? (value("epochs", Int.self)) ?? c.epochs
        c.batchSize = try batchSize ?? (value("batch-size", Int.self)) ?? c.batchSize
        c.learningRate = try lr ?? (value("lr", Float.self)) ?? (value("learning-rate", Float.self)) ?? c.learningRate
        c.optimizer = try optimizer ?? (value("optimizer", String.self)) ?? c.optimizer
        c.momentum = try momentum ?? (value("momentum", Float.self)) ?? c.momentum
        c.nesterov = try nesterov || ((value("nesterov", Bool.self)) ?? c.nesterov)
        c.weightDecay = try weightDecay ?? (value("weight-decay", Float.self)) ?? c.weightDecay
        c.schedule = try schedule ?? (value("schedule", String.self)) ?? c.schedule
        c.warmupSteps = try warmupSteps ?? (value("warmup-steps", Int.self)) ?? c.warmupSteps
        c.scaleLR = try scaleLr || ((value("scale-lr", Bool.self)) ?? c.scaleLR)
        c.accumulate = try accumulate ?? (value("accumulate", Int.self)) ?? c.accumulate
        c.seed = try seed ?? (value("seed", UInt64.self)) ?? c.seed
        c.normalize = try noNormalize ? false : ((value("normalize", Bool.self)) ?? c.normalize)
        c.trainLimit = try trainLimit ?? (value("train-limit", Int.self)) ?? c.trainLimit
        c.testLimit = try testLimit ?? (value("test-limit", Int.self)) ?? c.testLimit
        c.maxSteps = try maxSteps ?? (value("max-steps", Int.self)) ?? c.maxSteps
        c.bucketMB = try bucketMb ?? (value("bucket-mb", Double.self)) ?? c.bucketMB
        c.syntheticCount = try syntheticCount ?? (value("synthetic-count", Int.self)) ?? c.syntheticCount
        c.validationSplit = try validationSplit ?? (value("validation-split", Double.self)) ?? c.validationSplit
        c.validationData = try validationData ?? (value("validation-data", String.self)) ?? c.validationData
        c.earlyStopping = try earlyStopping ?? (value("early-stopping", Int.self)) ?? c.earlyStopping
        if let name = try value("early-stopping-metric", String.self), earlyStoppingMetric == nil {
            guard let metric = MonitoredMetric(rawValue: name) else {
                throw CollectiveError("--config \(config!): 'early-stopping-metric' is '\(name)'; use \(MonitoredMetric.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            c.earlyStoppingMetric = metric
        }
        c.earlyStoppingMetric = earlyStoppingMetric ?? c.earlyStoppingMetric
        c.minDelta = try minDelta ?? (value("min-delta", Double.self)) ?? c.minDelta
        if try syncBn || (value("sync-bn", Bool.self) ?? false) { c.syncBatchNorm = true }
        c.clipGradNorm = try clipGradNorm ?? (value("clip-grad-norm", Float.self)) ?? c.clipGradNorm
        try c.validate()
        return c
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
