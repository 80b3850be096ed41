import ArgumentParser
import Lockstep

/// `lockstep`: data-parallel neural-network training over MPI.
@main
struct LockstepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep",
        abstract: "Data-parallel neural-network training in Swift over MPI.",
        discussion: """
            Run one process directly, or many with mpirun:
              lockstep train --epochs 1
              mpirun -np 4 lockstep train --model seed-mlp
            """,
        version: LockstepVersion.string,
        subcommands: [TrainCommand.self, EvaluateCommand.self, PredictCommand.self, InspectCommand.self, BenchCommand.self]
    )

    // `main()` is in ErrorOutput.swift: it rewrites `--resume auto`, maps usage errors to
    // one line and exit 2, and runs the command.
}

/// `arguments` with each `--resume auto` pair replaced by `--resume-auto`.
func resumeAutoRewritten(_ arguments: [String]) -> [String] {
    var out: [String] = []
    var i = 0
    while i < arguments.count {
        if arguments[i] == "--" {
            out += arguments[i...]
            break
        }
        if arguments[i] == "--resume", i + 1 < arguments.count, arguments[i + 1] == "auto" {
            out.append("--resume-auto")
            i += 2
        } else {
            out.append(arguments[i])
            i += 1
        }
    }
    return out
}
