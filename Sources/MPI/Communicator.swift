import CMPI

/// A group of processes that talk to each other (`MPI_Comm`): the world, this process
/// alone, or a sub-group made by ``split(color:key:)``.
///
/// A small value type: `rank` and `size` are read once when it is made. Communicators
/// from ``split(color:key:)`` own their handle and should be released with ``free()``.
public struct Communicator: @unchecked Sendable {  // MPI_Comm points at a library-owned object; MPI guards its use
    /// The underlying `MPI_Comm`.
    public let handle: MPI_Comm
    /// This process's rank in the communicator, `0..<size`.
    public let rank: Int
    /// How many processes the communicator holds.
    public let size: Int
    /// Whether this value made the handle (and so may free it).
    public let isOwned: Bool

    /// When true, every collective first checks with one small extra all-reduce that all
    /// ranks passed the same element count, and throws ``MPIError/countMismatch(operation:local:minimum:maximum:)``
    /// instead of letting MPI hang or truncate. Off by default: it doubles small-message latency.
    public var checksCounts = false

    /// The most elements one MPI call is given; longer buffers are split into several
    /// calls. MPI counts are `Int32`, so the default is `Int32.max`. Lower it only to test.
    public var maxCountPerCall = Int(Int32.max)

    init(adopting handle: MPI_Comm, owned: Bool) throws(MPIError) {
        var r: Int32 = 0
        var s: Int32 = 0
        try check(MPI_Comm_rank(handle, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(handle, &s), "MPI_Comm_size")
        self.handle = handle
        self.rank = Int(r)
        self.size = Int(s)
        self.isOwned = owned
    }

    /// `MPI_COMM_WORLD`, for code that does not hold the ``MPIEnvironment``.
    ///
    /// - Throws: ``MPIError/notInitialized(operation:)`` before MPI is initialised.
    public static func world() throws(MPIError) -> Communicator {
        try ensureActive("world")
        return try Communicator(adopting: MPI_COMM_WORLD, owned: false)
    }

    /// Whether this rank is rank 0, the one that prints and writes files in Lockstep.
    public var isRoot: Bool { rank == 0 }

    /// Blocks until every rank of the communicator has called it (`MPI_Barrier`).
    public func barrier() throws(MPIError) {
        try ensureActive("barrier")
        try check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Splits into disjoint sub-communicators, one per `color`; ranks are ordered by
    /// `key`, then by rank here (`MPI_Comm_split`). A `nil` color leaves this rank out and
    /// returns `nil`. The result owns its handle: call ``free()`` when done.
    ///
    /// ```swift
    /// let pairs = try world.split(color: world.rank / 2)   // {0,1}, {2,3}, ...
    /// ```
    public func split(color: Int?, key: Int = 0) throws(MPIError) -> Communicator? {
        try ensureActive("split")
        if let color, color < 0 || color > Int(Int32.max) {
            throw .invalidArgument(operation: "split", reason: "color \(color) must be in 0...\(Int32.max), or nil to opt out")
        }
        guard let key32 = Int32(exactly: key) else {
            throw .invalidArgument(operation: "split", reason: "key \(key) does not fit in Int32")
        }
        var newComm: MPI_Comm? = nil
        try check(MPI_Comm_split(handle, color.map { Int32($0) } ?? Int32(MPI_UNDEFINED), key32, &newComm), "MPI_Comm_split")
        guard let newComm, newComm != MPI_COMM_NULL else { return nil }
        try check(MPI_Comm_set_errhandler(newComm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler")
        var result = try Communicator(adopting: newComm, owned: true)
        result.checksCounts = checksCounts
        result.maxCountPerCall = maxCountPerCall
        return result
    }

    /// Splits into one sub-communicator per shared-memory node (`MPI_Comm_split_type` with
    /// `MPI_COMM_TYPE_SHARED`): the ranks that can share memory with this one, ordered by
    /// rank here. The result owns its handle: call ``free()`` when done.
    ///
    /// ```swift
    /// let node = try world.splitByNode()
    /// let oneNode = node.size == world.size
    /// ```
    public func splitByNode() throws(MPIError) -> Communicator {
        try ensureActive("splitByNode")
        var newComm: MPI_Comm? = nil
        try check(MPI_Comm_split_type(handle, Int32(MPI_COMM_TYPE_SHARED), Int32(rank), MPI_INFO_NULL, &newComm),
                  "MPI_Comm_split_type")
        guard let newComm, newComm != MPI_COMM_NULL else {
            throw .invalidArgument(operation: "splitByNode", reason: "MPI_Comm_split_type returned no communicator")
        }
        try check(MPI_Comm_set_errhandler(newComm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler")
        var result = try Communicator(adopting: newComm, owned: true)
        result.checksCounts = checksCounts
        result.maxCountPerCall = maxCountPerCall
        return result
    }

    /// Releases a communicator made by ``split(color:key:)`` (`MPI_Comm_free`). Collective.
    public func free() throws(MPIError) {
        guard isOwned else {
            throw .invalidArgument(operation: "free", reason: "only communicators made by split or splitByNode can be freed, not the world or self")
        }
        try ensureActive("free")
        var h: MPI_Comm? = handle
        try check(MPI_Comm_free(&h), "MPI_Comm_free")
    }

    /// Ends every process of the job with `code` (`MPI_Abort`). Use it when one rank
    /// fails so that the others do not wait for it forever.
    public func abort(code: Int32 = 1) -> Never {
        if MPIEnvironment.isInitialized && !MPIEnvironment.isFinalized {
            MPI_Abort(handle, code)
        }
        exit(code)
    }

    // MARK: - Argument checks shared by the collectives

    @inline(__always)
    func checkRoot(_ root: Int, _ operation: StaticString) throws(MPIError) {
        guard root >= 0 && root < size else {
            throw .invalidArgument(operation: "\(operation)", reason: "root \(root) is not a rank of this communicator (size \(size), valid roots 0...\(size - 1))")
        }
    }

    /// With ``checksCounts`` on, one all-reduce tells every rank the smallest and largest
    /// count (`minMax`); they throw together if these differ.
    @inline(__always)
    func agreeOnCount(_ count: Int, _ operation: StaticString) throws(MPIError) {
        guard checksCounts else { return }
        let (minimum, maximum) = try minMax(count)
        if minimum != maximum {
            throw .countMismatch(operation: "\(operation)", local: count, minimum: minimum, maximum: maximum)
        }
    }
}

extension Communicator {
    /// The smallest and largest of every rank's `value`, from one all-reduce of two words.
    ///
    /// The maximum of `(v, ~v)` over the ranks is `(max v, ~min v)`: bitwise NOT reverses
    /// the order of signed integers and, unlike negation, never overflows. Ranks use it to
    /// agree (minimum == maximum) or to learn the range, for example of node sizes.
    public func minMax(_ value: Int64) throws(MPIError) -> (min: Int64, max: Int64) {
        var bounds: (Int64, Int64) = (value, ~value)
        try withUnsafeMutableBytes(of: &bounds) { raw throws(MPIError) in
            try check(MPI_Allreduce(MPI_IN_PLACE, raw.baseAddress, 2, MPI_INT64_T, MPI_MAX, handle), "MPI_Allreduce")
        }
        return (~bounds.1, bounds.0)
    }

    /// `minMax` for `Int`.
    public func minMax(_ value: Int) throws(MPIError) -> (min: Int, max: Int) {
        let (lo, hi) = try minMax(Int64(value))
        return (Int(lo), Int(hi))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
