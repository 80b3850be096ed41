import ArgumentParser
import Datasets
import Foundation
import Lockstep
import MPI
import NeuralNet

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Write a checkpoint's outputs and predicted class for every sample (split across ranks under mpirun; rank 0 writes one file).",
        discussion: """
            lockstep predict runs/ckpt --output preds.csv                  # index,label,predicted,output_0,...
            lockstep predict runs/ckpt --output preds.npy --probabilities  # preds.npy [N, K] and preds.classes.npy [N]
            """
    )

    @OptionGroup var input: CheckpointInputOptions
    @Option(help: "Output file: .csv (a header, then index, label, predicted class and the outputs per sample), or .npy (the outputs as float32 [N, K]; the classes go to NAME.classes.npy as int64 [N]).")
    var output: String
    @Option(help: "Which part of the data: test or train.") var split: CheckpointedModel.Split = .test
    @Flag(help: "Write softmax probabilities instead of the model's raw outputs (logits).") var probabilities = false
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard output.hasSuffix(".csv") || output.hasSuffix(".npy") else {
            throw ValidationError("--output \(output): give a file name ending in .csv or .npy")
        }
    }

    func run() throws {
        setBLASThreads(input.threads)
        try withMPI(command: "predict", logLevel: logging.logLevel) { mpi in
            let world = mpi.world
            let (restored, samples) = try Collective.everywhere(world) { () throws -> (CheckpointedModel, Dataset) in
                let restored = try CheckpointedModel.load(input.checkpoint, allowNonFinite: input.allowNonfiniteCheckpoint)
                return (restored, try restored.dataset(split, data: input.data, limit: input.limit))
            }
            let result = try Prediction.run(model: restored.model, on: samples, world: world, batchSize: input.batchSize, probabilities: probabilities)
            // Rank 0 writes; a failure there is reported to every rank so that all exit alike.
            try Collective.onRoot(world) {
                guard let result else { return }
                do { try write(result, labels: samples.labels) } catch {
                    throw CollectiveError("--output \(output): \(error.userMessage)")
                }
                let correct = zip(result.classes, samples.labels).filter { $0 == $1 }.count
                print("\(restored.path): \(result.count) \(split.rawValue) samples -> \(output)\(output.hasSuffix(".npy") ? " and \(classesPath)" : "")")
                print(String(format: "accuracy %.4f against the labels (%d of %d)", Double(correct) / Double(max(result.count, 1)), correct, result.count))
            }
        }
    }

    private var classesPath: String { String(output.dropLast(4)) + ".classes.npy" }

    private func write(_ result: Prediction.Result, labels: [Int32]) throws {
        if output.hasSuffix(".npy") {
            try NPY.write(result.outputs, shape: [result.count, result.outputCount], to: output)
            try NPY.write(result.classes.map(Int64.init), shape: [result.count], to: classesPath)
            return
        }
        let name = probabilities ? "probability" : "output"
        var text = "index,label,predicted," + (0..<result.outputCount).map { "\(name)_\($0)" }.joined(separator: ",") + "\n"
        text.reserveCapacity(result.count * (result.outputCount * 12 + 16))
        for i in 0..<result.count {
            text += "\(i),\(labels[i]),\(result.classes[i])"
            for j in 0..<result.outputCount { text += ",\(result.outputs[i * result.outputCount + j])" }
            text += "\n"
        }
        guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
            throw CollectiveError("cannot create the file (check the directory exists and is writable)")
        }
    }
}

extension CheckpointedModel.Split: ExpressibleByArgument {}
