import CMPI

/// An MPI datatype handle (`MPI_Datatype`).
///
/// Swift types adopt ``MPIDatatype`` to name theirs; the raw handle is public for the
/// rare call that needs one directly (and for testing MPI's own type checking).
public struct Datatype: @unchecked Sendable {  // MPI_Datatype points at an immutable, library-owned object
    /// The underlying `MPI_Datatype`.
    public let handle: MPI_Datatype
    public init(_ handle: MPI_Datatype) { self.handle = handle }

    /// `MPI_DATATYPE_NULL`: not a datatype; any collective given it throws.
    public static var null: Datatype { Datatype(MPI_DATATYPE_NULL) }
}

/// A Swift type with a matching predefined MPI datatype, so buffers of it can be
/// sent, reduced and gathered: `Float`, `Double`, `Int32`, `Int64`, `Int`, `UInt8`, `UInt64`.
///
/// ```swift
/// var grads: [Float] = ...
/// try world.allreduce(&grads, op: .sum)
/// ```
public protocol MPIDatatype: BitwiseCopyable {
    /// The MPI datatype describing one element.
    static var mpiDatatype: Datatype { get }
}

extension Float: MPIDatatype { public static var mpiDatatype: Datatype { Datatype(MPI_FLOAT) } }
extension Double: MPIDatatype { public static var mpiDatatype: Datatype { Datatype(MPI_DOUBLE) } }
extension Int32: MPIDatatype { public static var mpiDatatype: Datatype { Datatype(MPI_INT32_T) } }
extension Int64: MPIDatatype { public static var mpiDatatype: Datatype { Datatype(MPI_INT64_T) } }
extension UInt8: MPIDatatype { public static var mpiDatatype: Datatype { Datatype(MPI_UINT8_T) } }
extension UInt64: MPIDatatype { public static var mpiDatatype: Datatype { Datatype(MPI_UINT64_T) } }
extension Int: MPIDatatype {
    /// `Int` is 64 bits on every platform Lockstep supports, so it travels as `MPI_INT64_T`.
    public static var mpiDatatype: Datatype {
        precondition(MemoryLayout<Int>.size == 8, "Int must be 64-bit to map to MPI_INT64_T")
        return Datatype(MPI_INT64_T)
    }
}

/// A reduction operation for ``Communicator/allreduce(_:op:)`` and friends.
public enum ReductionOp: Sendable, CaseIterable {
    case sum, product, max, min

    /// The matching `MPI_Op`.
    public var handle: MPI_Op {
        switch self {
        case .sum: return MPI_SUM
        case .product: return MPI_PROD
        case .max: return MPI_MAX
        case .min: return MPI_MIN
        }
    }
}
