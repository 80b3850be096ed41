import CMPI

/// Memory that every rank of one node can read and write directly: an MPI-3 shared-memory
/// window (`MPI_Win_allocate_shared`) in which each rank allocates a segment of `count`
/// floats (the counts may differ, and some may be zero), with every rank's segment at hand
/// (`MPI_Win_shared_query`).
///
/// The window stays in a passive-target epoch (`MPI_Win_lock_all`) for its whole life;
/// ``synchronize()`` is the memory fence plus barrier (`MPI_Win_sync`, `MPI_Barrier`,
/// `MPI_Win_sync`) that makes every rank's writes before it visible to every rank after it.
/// Release it with ``free()`` (collective) before MPI is finalised.
///
/// ```swift
/// let node = try world.splitByNode()
/// let window = try SharedWindow(communicator: node, count: 1024)
/// window.local[0] = Float(node.rank)
/// try window.synchronize()
/// let fromRank1 = window.segments[1][0]
/// let onRank0 = try SharedWindow(communicator: node, count: node.rank == 0 ? 1024 : 0)
/// let sharedByAll = onRank0.segments[0]
/// try window.free()
/// ```
public final class SharedWindow: @unchecked Sendable {  // MPI_Win points at a library-owned object; MPI guards its use
    /// The node communicator the window spans (every rank must be able to share memory).
    public let communicator: Communicator
    /// Floats in this rank's segment.
    public let count: Int
    /// This rank's segment (empty when `count` is 0).
    public let local: UnsafeMutableBufferPointer<Float>
    /// Every rank's segment, indexed by rank in ``communicator`` (empty ones have no base address).
    public let segments: [UnsafeMutableBufferPointer<Float>]
    private var window: MPI_Win?
    private var freed = false

    /// Allocates `count` floats on this rank, collectively over `communicator`; each rank
    /// passes its own count. Every segment is zero-filled before any rank returns.
    ///
    /// - Throws: ``MPIError`` when MPI cannot make the window (for example when the ranks
    ///   do not share a node), or when `count` is negative.
    public init(communicator: Communicator, count: Int) throws(MPIError) {
        try ensureActive("SharedWindow")
        guard count >= 0 else {
            throw .invalidArgument(operation: "SharedWindow", reason: "count \(count) must not be negative")
        }
        self.communicator = communicator
        self.count = count
        var base: UnsafeMutableRawPointer? = nil
        var win: MPI_Win? = nil
        let bytes = MPI_Aint(count * MemoryLayout<Float>.stride)
        try check(MPI_Win_allocate_shared(bytes, Int32(MemoryLayout<Float>.stride), MPI_INFO_NULL, communicator.handle,
                                          &base, &win), "MPI_Win_allocate_shared")
        guard let win, base != nil || count == 0 else {
            throw .invalidArgument(operation: "SharedWindow", reason: "MPI_Win_allocate_shared returned no memory")
        }
        window = win
        try check(MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler")
        var pointers: [UnsafeMutableBufferPointer<Float>] = []
        for q in 0..<communicator.size {
            var size: MPI_Aint = 0
            var unit: Int32 = 0
            var peer: UnsafeMutableRawPointer? = nil
            try check(MPI_Win_shared_query(win, Int32(q), &size, &unit, &peer), "MPI_Win_shared_query")
            let floats = Int(size) / MemoryLayout<Float>.stride
            guard floats == 0 || peer != nil else {
                throw .invalidArgument(operation: "SharedWindow", reason: "rank \(q)'s segment of \(floats) floats has no address")
            }
            pointers.append(UnsafeMutableBufferPointer(start: floats == 0 ? nil : peer?.assumingMemoryBound(to: Float.self), count: floats))
        }
        guard pointers[communicator.rank].count == count else {
            throw .invalidArgument(operation: "SharedWindow", reason: "this rank's segment holds \(pointers[communicator.rank].count) floats, not \(count)")
        }
        segments = pointers
        local = pointers[communicator.rank]
        local.initialize(repeating: 0)
        try check(MPI_Win_lock_all(Int32(MPI_MODE_NOCHECK), win), "MPI_Win_lock_all")
        // Every segment is zeroed before any rank may write into another's.
        try synchronize()
    }

    /// Makes every rank's writes so far visible to every rank: fence, barrier, fence.
    /// Collective over ``communicator``.
    public func synchronize() throws(MPIError) {
        guard let window, !freed else {
            throw .invalidArgument(operation: "SharedWindow.synchronize", reason: "the window was freed")
        }
        try check(MPI_Win_sync(window), "MPI_Win_sync")
        try check(MPI_Barrier(communicator.handle), "MPI_Barrier")
        try check(MPI_Win_sync(window), "MPI_Win_sync")
    }

    /// Makes this process's writes to the window so far visible to the other processes, and
    /// theirs to it, as far as they are ordered by other synchronisation (`MPI_Win_sync`).
    public func memoryFence() throws(MPIError) {
        guard let window, !freed else {
            throw .invalidArgument(operation: "SharedWindow.memoryFence", reason: "the window was freed")
        }
        try check(MPI_Win_sync(window), "MPI_Win_sync")
    }

    /// Releases the memory (`MPI_Win_unlock_all`, `MPI_Win_free`). Collective; the
    /// segments must not be used afterwards. A second call does nothing.
    public func free() throws(MPIError) {
        guard !freed, let win = window else { return }
        freed = true
        window = nil
        try ensureActive("SharedWindow.free")
        try check(MPI_Win_unlock_all(win), "MPI_Win_unlock_all")
        var handle: MPI_Win? = win
        try check(MPI_Win_free(&handle), "MPI_Win_free")
    }
}
