import CMPI

/// The thread support MPI is asked for and grants (`MPI_THREAD_*`).
public enum ThreadLevel: Int32, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// One thread only.
    case single = 0
    /// Many threads, but only the main thread calls MPI (Lockstep's default).
    case funneled = 1
    /// Any thread calls MPI, one at a time.
    case serialized = 2
    /// Any thread calls MPI at any time.
    case multiple = 3

    init(raw: Int32) {
        switch raw {
        case Int32(MPI_THREAD_SINGLE): self = .single
        case Int32(MPI_THREAD_FUNNELED): self = .funneled
        case Int32(MPI_THREAD_SERIALIZED): self = .serialized
        default: self = .multiple
        }
    }

    var mpiValue: Int32 {
        switch self {
        case .single: return Int32(MPI_THREAD_SINGLE)
        case .funneled: return Int32(MPI_THREAD_FUNNELED)
        case .serialized: return Int32(MPI_THREAD_SERIALIZED)
        case .multiple: return Int32(MPI_THREAD_MULTIPLE)
        }
    }

    public static func < (a: ThreadLevel, b: ThreadLevel) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .single: return "single"
        case .funneled: return "funneled"
        case .serialized: return "serialized"
        case .multiple: return "multiple"
        }
    }
}

/// The process's MPI library: initialised once, finalised once.
///
/// ```swift
/// let mpi = try MPIEnvironment.initialize()
/// let world = mpi.world
/// var x: [Float] = [Float(world.rank)]
/// try world.allreduce(&x, op: .sum)
/// try mpi.finalize()
/// ```
///
/// A second `initialize` throws ``MPIError/alreadyInitialized``; a collective after
/// ``finalize()`` throws ``MPIError/finalized(operation:)``. Every communicator handed out
/// returns errors (`MPI_ERRORS_RETURN`) instead of aborting the job.
public final class MPIEnvironment: @unchecked Sendable {  // its only state is set in init and by finalize on the main thread
    /// The thread level MPI granted (may be lower than the one requested).
    public let threadLevel: ThreadLevel
    /// `MPI_COMM_WORLD`: every process of the job.
    public let world: Communicator
    /// `MPI_COMM_SELF`: this process alone.
    public let selfCommunicator: Communicator

    /// Initialises MPI (`MPI_Init_thread`) with the requested thread level.
    ///
    /// - Throws: ``MPIError/alreadyInitialized`` if MPI is already initialised,
    ///   ``MPIError/finalized(operation:)`` if it was finalised, or MPI's own error.
    public static func initialize(threadLevel requested: ThreadLevel = .funneled) throws(MPIError) -> MPIEnvironment {
        if isFinalized { throw .finalized(operation: "initialize") }
        if isInitialized { throw .alreadyInitialized }
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, requested.mpiValue, &provided), "MPI_Init_thread")
        try check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler")
        try check(MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler")
        return try MPIEnvironment(threadLevel: ThreadLevel(raw: provided))
    }

    private init(threadLevel: ThreadLevel) throws(MPIError) {
        self.threadLevel = threadLevel
        self.world = try Communicator(adopting: MPI_COMM_WORLD, owned: false)
        self.selfCommunicator = try Communicator(adopting: MPI_COMM_SELF, owned: false)
    }

    /// Finalises MPI (`MPI_Finalize`). Every rank must call it; afterwards no MPI call works.
    public func finalize() throws(MPIError) {
        if MPIEnvironment.isFinalized { throw .finalized(operation: "finalize") }
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    /// Whether `MPI_Init` has run in this process.
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// Whether `MPI_Finalize` has run in this process.
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// Seconds on MPI's wall clock (`MPI_Wtime`), for timing.
    public static func wallTime() -> Double { MPI_Wtime() }

    /// The name of the host this rank runs on (`MPI_Get_processor_name`).
    public var processorName: String {
        var chars = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var length: Int32 = 0
        guard MPI_Get_processor_name(&chars, &length) == MPI_SUCCESS else { return "unknown" }
        return String(decoding: chars.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The MPI library's version line (`MPI_Get_library_version`).
    public static var libraryVersion: String {
        var chars = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&chars, &length) == MPI_SUCCESS else { return "unknown" }
        let text = String(decoding: chars.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: ",").first.map(String.init) ?? text
    }
}

/// Throws unless MPI is initialised and not yet finalised.
@inline(__always)
func ensureActive(_ operation: StaticString) throws(MPIError) {
    var initialized: Int32 = 0
    var finalized: Int32 = 0
    MPI_Initialized(&initialized)
    MPI_Finalized(&finalized)
    if _fastPath(initialized != 0 && finalized == 0) { return }
    if finalized != 0 { throw .finalized(operation: "\(operation)") }
    throw .notInitialized(operation: "\(operation)")
}
