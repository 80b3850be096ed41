import ArgumentParser
import Foundation
import Lockstep
import MPI

/// Runs `body` between MPI initialisation and finalisation. If `body` throws, the error
/// becomes one line on stderr and a non-zero exit: an error every rank raised alike
/// (bad flags, a missing dataset) is printed by rank 0 only and the job ends cleanly; any
/// other error is printed by the failing rank, which then aborts the whole job with
/// MPI_Abort so that no rank waits for it forever.
func withMPI(_ body: (MPIEnvironment) throws -> Void) throws {
    let mpi: MPIEnvironment
    do {
        mpi = try MPIEnvironment.initialize(threadLevel: .funneled)
    } catch {
        FileHandle.standardError.write(Data("lockstep: error: cannot start MPI: \(error)\n".utf8))
        throw ExitCode(3)
    }
    let world = mpi.world
    do {
        try body(mpi)
    } catch let error as CollectiveError {
        if world.rank == 0 { FileHandle.standardError.write(Data("lockstep: error: \(error.message)\n".utf8)) }
        try? mpi.finalize()
        throw ExitCode(error.exitCode)
    } catch {
        let who = world.size > 1 ? " (rank \(world.rank) of \(world.size))" : ""
        let text = (error as? LocalizedError)?.errorDescription ?? "\(error)"
        FileHandle.standardError.write(Data("lockstep: error\(who): \(text)\n".utf8))
        if world.size > 1 { world.abort(code: 1) }
        try? mpi.finalize()
        throw ExitCode(1)
    }
    try mpi.finalize()
}
