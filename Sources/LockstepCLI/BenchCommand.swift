import ArgumentParser
import Foundation
import Lockstep
import LockstepBenchmarks
import MPI
import NeuralNet

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Micro-benchmarks that print figures.",
        subcommands: [AllreduceBench.self, StepBench.self, RecurrentBench.self, BlockBench.self]
    )
}

struct AllreduceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "All-reduce latency and bus bandwidth: the Swift wrapper against a plain C MPI_Allreduce.",
        discussion: "Run under mpirun, e.g. scripts/mpirun.sh -np 2 lockstep bench allreduce"
    )

    @Option(parsing: .unconditional, help: "Smallest message in bytes.") var minBytes = 4 << 10
    @Option(parsing: .unconditional, help: "Largest message in bytes.") var maxBytes = 64 << 20
    @Option(parsing: .unconditional, help: "Alternating C/Swift rounds per size (the median is reported).") var rounds = 7
    @Option(help: "Write the measurements as JSON to this file (rank 0).") var json: String?

    func validate() throws {
        guard minBytes >= 4, minBytes % 4 == 0 else { throw ValidationError("--min-bytes \(minBytes) must be a positive multiple of 4") }
        guard maxBytes >= minBytes else { throw ValidationError("--max-bytes \(maxBytes) must be at least --min-bytes \(minBytes)") }
        guard maxBytes <= 1 << 30 else { throw ValidationError("--max-bytes \(maxBytes) is above 1 GiB; the benchmark holds one buffer of that size per rank") }
        guard (1...10_000).contains(rounds) else { throw ValidationError("--rounds \(rounds): rounds must be >= 1 and <= 10000") }
    }

    func run() throws {
        try withMPI(command: "bench allreduce") { mpi in
            let rows = try AllreduceBenchmark.run(world: mpi.world, minBytes: minBytes, maxBytes: maxBytes, rounds: rounds)
            let overhead = try AllreduceBenchmark.perCallOverhead(selfCommunicator: mpi.selfCommunicator)
            guard mpi.world.rank == 0 else { return }
            print(AllreduceBenchmark.report(rows))
            print(String(format: "per-call cost on MPI_COMM_SELF (1 float): wrapper %.1f ns, C %.1f ns, overhead %+.1f ns",
                         overhead.swift * 1e9, overhead.c * 1e9, (overhead.swift - overhead.c) * 1e9))
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try encoder.encode(rows).write(to: URL(fileURLWithPath: json))
            }
        }
    }
}

struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Single-process training throughput (forward + backward + SGD step) and the fraction of this machine's sgemm peak it reaches.",
        discussion: "lockstep bench step --model seed-cnn --batch-size 64"
    )

    @Option(help: "Model preset or spec.") var model = "seed-mlp"
    @Option(parsing: .unconditional, help: "Mini-batch size.") var batchSize = 64
    @Option(parsing: .unconditional, help: "Seconds of timed steps.") var seconds = 5.0
    @Flag(help: "Also print the median forward and backward time of each layer.") var layers = false

    func validate() throws {
        guard (1...TrainingConfiguration.Limits.batchSize).contains(batchSize) else {
            throw ValidationError("--batch-size \(batchSize): batch-size must be >= 1 and <= \(TrainingConfiguration.Limits.batchSize)")
        }
        guard seconds > 0, seconds <= 86_400 else { throw ValidationError("--seconds \(seconds): seconds must be positive and at most 86400") }
    }

    func run() throws {
        do {
            let result = try StepBenchmark.run(model: model, batchSize: batchSize, measuredSeconds: seconds)
            print(result.report)
            if layers {
                print("")
                print(StepBenchmark.profileReport(try StepBenchmark.layerProfile(model: model, batchSize: batchSize)))
            }
        } catch {
            throw inputError(error)
        }
    }
}

struct RecurrentBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recurrent",
        abstract: "Forward + backward of one LSTM or GRU on random sequences: tokens/s and the fraction of this machine's sgemm peak.",
        discussion: "lockstep bench recurrent --kind lstm --input-size 64 --hidden-size 256 --seq-len 128 --batch-size 32"
    )

    @Option(help: "lstm or gru.") var kind = "lstm"
    @Option(parsing: .unconditional, help: "Features per time step of the input.") var inputSize = 64
    @Option(parsing: .unconditional, help: "Hidden features.") var hiddenSize = 256
    @Option(parsing: .unconditional, help: "Stacked layers.") var layers = 1
    @Option(parsing: .unconditional, help: "Time steps per sequence.") var seqLen = 128
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batchSize = 32

    func validate() throws {
        guard RecurrentBenchmark.Kind(rawValue: kind) != nil else { throw ValidationError("--kind \(kind) is not lstm or gru") }
        for (flag, value) in [("--input-size", inputSize), ("--hidden-size", hiddenSize), ("--layers", layers),
                              ("--seq-len", seqLen), ("--batch-size", batchSize)] where value < 1 {
            throw ValidationError("\(flag) \(value) must be at least 1")
        }
        // Each size below 2^16 keeps every product below; the activations kept for
        // backward (about 6 gate values per hidden unit, time step, sequence and layer,
        // Float) must fit in memory.
        for (flag, value) in [("--input-size", inputSize), ("--hidden-size", hiddenSize), ("--layers", layers),
                              ("--seq-len", seqLen), ("--batch-size", batchSize)] where value > 1 << 16 {
            throw ValidationError("\(flag) \(value) must be at most \(1 << 16)")
        }
        do {
            var values = 1
            for n in [batchSize, seqLen, max(inputSize, hiddenSize), layers, 6] {
                values = try MemoryBudget.bytes(count: values, of: n, for: "the benchmark's activations")
            }
            try MemoryBudget.require(MemoryBudget.bytes(count: values, of: 4, for: "the benchmark's activations"),
                                     for: "the benchmark's activations (\(values) floats)")
        } catch { throw ValidationError(error.userMessage) }
    }

    func run() throws {
        do {
            print(try RecurrentBenchmark.run(kind: RecurrentBenchmark.Kind(rawValue: kind)!, inputSize: inputSize, hiddenSize: hiddenSize,
                                             layers: layers, steps: seqLen, batchSize: batchSize).report)
        } catch {
            throw inputError(error)
        }
    }
}

struct BlockBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Forward + backward of one causal pre-norm TransformerBlock on [batch, seq-len, dim], its parts, and the fraction of this machine's sgemm peak it reaches.",
        discussion: "lockstep bench block --dim 128 --heads 4 --seq-len 128 --batch-size 32"
    )

    @Option(help: "Model width.") var dim = 128
    @Option(help: "Attention heads (a divisor of --dim).") var heads = 4
    @Option(help: "Tokens per sequence.") var seqLen = 128
    @Option(help: "Sequences per step.") var batchSize = 32
    @Option(help: "MLP width over the model width.") var mlpRatio = 4
    @Option(help: "Query rows per attention score GEMM.") var attentionBlockRows = 32
    @Option(help: "Seconds of timed steps.") var seconds = 5.0

    func validate() throws {
        for (flag, value) in [("--dim", dim), ("--heads", heads), ("--seq-len", seqLen), ("--batch-size", batchSize),
                              ("--mlp-ratio", mlpRatio), ("--attention-block-rows", attentionBlockRows)] where value < 1 {
            throw ValidationError("\(flag) \(value) must be at least 1")
        }
        guard dim % heads == 0 else { throw ValidationError("--heads \(heads) must divide --dim \(dim)") }
        guard seconds > 0 else { throw ValidationError("--seconds \(seconds) must be positive") }
    }

    func run() throws {
        do {
            print(try BlockBenchmark.run(dimension: dim, heads: heads, sequenceLength: seqLen, batchSize: batchSize,
                                         mlpRatio: mlpRatio, attentionBlockRows: attentionBlockRows,
                                         measuredSeconds: seconds).report)
        } catch {
            throw inputError(error)
        }
    }
}
