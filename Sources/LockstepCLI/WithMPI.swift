import ArgumentParser
import Foundation
import Lockstep
import Logging
import MPI

/// Runs `body` between MPI initialisation and finalisation. If `body` throws, the error
/// becomes one line on stderr and a non-zero exit: an error every rank raised alike
/// (bad flags, a missing dataset) is printed by rank 0 only and the job ends cleanly; any
/// other error is printed by the failing rank, which then aborts the whole job with
/// MPI_Abort so that no rank waits for it forever.
///
/// `command` names the subcommand; ranks that run different ones are refused together
/// (``LaunchCheck``) before `body` starts.
func withMPI(command: String, logLevel: Logger.Level = .notice, _ body: (MPIEnvironment) throws -> Void) throws {
    let mpi: MPIEnvironment
    do {
        mpi = try MPIEnvironment.initialize(threadLevel: .funneled)
    } catch {
        printError("cannot start MPI: \(error.userMessage)")
        throw ExitCode(3)
    }
    let world = mpi.world
    Diagnostics.bootstrap(level: logLevel, rank: world.rank, size: world.size)
    do {
        try LaunchCheck.verify(command: command, world: world)
        try body(mpi)
    } catch let error as CollectiveError {
        if world.rank == 0 { printError(error.message) }
        try? mpi.finalize()
        throw ExitCode(error.exitCode)
    } catch {
        printError(error.userMessage, rank: world.rank, of: world.size)
        if world.size > 1 { world.abort(code: 1) }
        try? mpi.finalize()
        throw ExitCode(1)
    }
    try mpi.finalize()
}

/// `--log-level`, shared by the subcommands that start MPI.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Diagnostics on stderr, each line tagged with its rank: trace, debug, info, notice, warning, error or critical. (default: notice)")
    var logLevel: Logger.Level = .notice
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
