import MPI
import Testing

// MPI can be initialised once per process, so the single-process life cycle is one
// ordered test: before init, a world of one, re-init, finalize, after finalize.
// Multi-process behaviour is tested for real by `MPITestRunner` under mpirun.

@Test func lifeCycleInOneProcess() throws {
    // Before initialisation: a clear error, not a crash.
    #expect(!MPIEnvironment.isInitialized)
    #expect(throws: MPIError.notInitialized(operation: "world")) { _ = try Communicator.world() }

    let mpi = try MPIEnvironment.initialize(threadLevel: .funneled)
    #expect(MPIEnvironment.isInitialized)
    #expect(mpi.threadLevel >= .single)
    let world = mpi.world
    #expect(world.size >= 1)
    #expect(world.rank >= 0 && world.rank < world.size)
    #expect(!MPIEnvironment.libraryVersion.isEmpty)

    // A second initialisation is refused.
    #expect(throws: MPIError.alreadyInitialized) { _ = try MPIEnvironment.initialize() }

    if world.size == 1 {
        // Collectives on a world of one are identities.
        var xs: [Float] = [1, 2, 3]
        try world.allreduce(&xs, op: .sum)
        #expect(xs == [1, 2, 3])
        var ys: [Int64] = [5, -7]
        try world.allreduce(&ys, op: .max)
        #expect(ys == [5, -7])
        #expect(try world.allgather([Int32(4), 5]) == [4, 5])
        #expect(try world.gather([UInt8(9)], to: 0) == [9])
        var zs: [Double] = [0.5]
        try world.broadcast(&zs, from: 0)
        #expect(zs == [0.5])

        // An invalid root is caught before MPI sees it.
        #expect(throws: MPIError.self) { try world.broadcast(&zs, from: 1) }
        do {
            try world.broadcast(&zs, from: 3)
            Issue.record("broadcast from root 3 in a world of 1 did not throw")
        } catch let error {
            #expect("\(error)".contains("root 3"))
        }

        // MPI's own error checking comes back as a thrown error with MPI's text.
        var raw: [Float] = [1]
        do {
            try raw.withUnsafeMutableBytes { try world.allreduce(raw: $0.baseAddress!, count: 1, datatype: .null) }
            Issue.record("allreduce with MPI_DATATYPE_NULL did not throw")
        } catch let error as MPIError {
            guard case .call(let function, _, _, let message) = error else {
                Issue.record("expected an MPI call error, got \(error)"); return
            }
            #expect(function == "MPI_Allreduce")
            #expect(message.hasPrefix("MPI_ERR"), "MPI's own error string: \(message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }

        // Non-blocking on a world of one.
        try xs.withUnsafeMutableBufferPointer { buffer in
            let request = try world.iallreduce(buffer, op: .sum)
            try request.wait()
            #expect(request.isComplete)
            #expect(try request.test())
        }
    }

    try world.barrier()
    try mpi.finalize()
    #expect(MPIEnvironment.isFinalized)

    // After finalisation: a clear error, never a call into a finalised MPI.
    var after: [Float] = [1]
    #expect(throws: MPIError.finalized(operation: "allreduce")) { try world.allreduce(&after) }
    #expect(throws: MPIError.finalized(operation: "finalize")) { try mpi.finalize() }
    #expect(throws: MPIError.finalized(operation: "initialize")) { _ = try MPIEnvironment.initialize() }
}

@Test func errorMessagesSayWhatToDo() {
    #expect(MPIError.notInitialized(operation: "allreduce").description.contains("MPIEnvironment.initialize()"))
    #expect(MPIError.countMismatch(operation: "allreduce", local: 3, minimum: 3, maximum: 4).description.contains("smallest 3, largest 4"))
    #expect(MPIError.invalidArgument(operation: "gather", reason: "root 9").description == "MPI gather: root 9")
}
