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
}
