import CMPI

/// Everything that can go wrong in the MPI wrapper, as a thrown error.
///
/// MPI's own failures (`MPI_ERRORS_RETURN` is installed on every communicator) carry
/// MPI's error class and `MPI_Error_string`; misuse the wrapper can see before calling
/// MPI (a root outside the communicator, buffers of the wrong size, a call before
/// `MPI_Init`) is reported without reaching MPI at all, so it can never hang.
public enum MPIError: Error, Equatable, Sendable {
    /// An MPI call was made before ``MPIEnvironment/initialize(threadLevel:)``.
    case notInitialized(operation: String)
    /// ``MPIEnvironment/initialize(threadLevel:)`` was called a second time.
    case alreadyInitialized
    /// An MPI call was made after ``MPIEnvironment/finalize()``.
    case finalized(operation: String)
    /// An argument the wrapper checks locally was wrong (root, buffer sizes, colour).
    case invalidArgument(operation: String, reason: String)
    /// With count checking on, the ranks passed different element counts.
    case countMismatch(operation: String, local: Int, minimum: Int, maximum: Int)
    /// MPI itself returned an error code.
    case call(function: String, code: Int32, errorClass: Int32, message: String)
}

extension MPIError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .notInitialized(let op):
            return "MPI \(op) was called before MPI was initialised: call MPIEnvironment.initialize() first"
        case .alreadyInitialized:
            return "MPI is already initialised in this process: initialise it once and share the MPIEnvironment"
        case .finalized(let op):
            return "MPI \(op) was called after MPI_Finalize: MPI cannot be used again in this process"
        case .invalidArgument(let op, let reason):
            return "MPI \(op): \(reason)"
        case .countMismatch(let op, let local, let lo, let hi):
            return "MPI \(op): ranks passed different element counts (this rank \(local), "
                + "smallest \(lo), largest \(hi)); every rank must pass the same count"
        case .call(let function, let code, let errorClass, let message):
            return "\(function) failed: \(message) (error code \(code), class \(errorClass))"
        }
    }
}

#if canImport(Foundation)
import Foundation
extension MPIError: LocalizedError {
    public var errorDescription: String? { description }
}
#endif

/// MPI's text for an error code (`MPI_Error_string`).
func mpiErrorString(_ code: Int32) -> String {
    var length: Int32 = 0
    var chars = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
    guard MPI_Error_string(code, &chars, &length) == MPI_SUCCESS else { return "unknown MPI error \(code)" }
    let bytes = chars.prefix(Int(length)).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Turns a non-success MPI return code into a thrown ``MPIError/call(function:code:errorClass:message:)``.
@inline(__always)
func check(_ code: Int32, _ function: StaticString) throws(MPIError) {
    if _fastPath(code == MPI_SUCCESS) { return }
    throw makeCallError(code, function)
}

@inline(never)
func makeCallError(_ code: Int32, _ function: StaticString) -> MPIError {
    var errorClass: Int32 = 0
    if MPI_Error_class(code, &errorClass) != MPI_SUCCESS { errorClass = code }
    return .call(function: "\(function)", code: code, errorClass: errorClass, message: mpiErrorString(code))
}
