import CMPI

/// A non-blocking operation in flight (one or more `MPI_Request`s when the buffer was
/// split into chunks). Complete it with ``wait()`` or poll it with ``test()``; a
/// completed request can be handed to ``Communicator/iallreduce(_:op:into:)`` again.
public final class Request: @unchecked Sendable {  // used from the thread that started it (MPI_THREAD_FUNNELED)
    var handles: [MPI_Request?] = []

    /// An empty, complete request, ready to be started by ``Communicator/iallreduce(_:op:into:)``.
    public init() { handles.reserveCapacity(1) }

    /// Whether nothing is in flight (never started, or waited for).
    public var isComplete: Bool { handles.isEmpty }

    /// Blocks until the operation has finished (`MPI_Waitall`). Waiting twice is harmless.
    public func wait() throws(MPIError) {
        guard !handles.isEmpty else { return }
        try ensureActive("wait")
        let rc = handles.withUnsafeMutableBufferPointer { MPI_Waitall(Int32($0.count), $0.baseAddress, MPI_STATUSES_IGNORE) }
        handles.removeAll(keepingCapacity: true)
        try check(rc, "MPI_Waitall")
    }

    /// Whether the operation has finished, without blocking (`MPI_Testall`); once it
    /// returns true the request is complete.
    public func test() throws(MPIError) -> Bool {
        guard !handles.isEmpty else { return true }
        try ensureActive("test")
        var flag: Int32 = 0
        let rc = handles.withUnsafeMutableBufferPointer { MPI_Testall(Int32($0.count), $0.baseAddress, &flag, MPI_STATUSES_IGNORE) }
        try check(rc, "MPI_Testall")
        if flag != 0 { handles.removeAll(keepingCapacity: true) }
        return flag != 0
    }

    deinit {
        // A request dropped while in flight is released; MPI finishes it in the background.
        if !handles.isEmpty && MPIEnvironment.isInitialized && !MPIEnvironment.isFinalized {
            for i in handles.indices { MPI_Request_free(&handles[i]) }
        }
    }
}

/// Waits for every request (`MPI_Waitall` per request, in order).
public func waitAll(_ requests: [Request]) throws(MPIError) {
    for request in requests { try request.wait() }
}
