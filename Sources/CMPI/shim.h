// OpenMPI's predefined handles are macros that expand to addresses of globals
// (`&ompi_mpi_comm_world`), which Swift cannot import. Each is re-exported here as a
// `static inline` function; `swift_name("getter:NAME()")` lets Swift spell it with the
// standard name, as a read-only global: `MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`.
#ifndef LOCKSTEP_CMPI_SHIM_H
#define LOCKSTEP_CMPI_SHIM_H

#include <mpi.h>

#define LOCKSTEP_HANDLE(TYPE, NAME, SWIFTNAME) \
    static inline TYPE lockstep_##NAME(void) __attribute__((swift_name("getter:" #SWIFTNAME "()"))); \
    static inline TYPE lockstep_##NAME(void) { return SWIFTNAME; }

// Communicators.
LOCKSTEP_HANDLE(MPI_Comm, comm_world, MPI_COMM_WORLD)
LOCKSTEP_HANDLE(MPI_Comm, comm_self, MPI_COMM_SELF)
LOCKSTEP_HANDLE(MPI_Comm, comm_null, MPI_COMM_NULL)

// Datatypes.
LOCKSTEP_HANDLE(MPI_Datatype, float, MPI_FLOAT)
LOCKSTEP_HANDLE(MPI_Datatype, double, MPI_DOUBLE)
LOCKSTEP_HANDLE(MPI_Datatype, int32, MPI_INT32_T)
LOCKSTEP_HANDLE(MPI_Datatype, int64, MPI_INT64_T)
LOCKSTEP_HANDLE(MPI_Datatype, uint8, MPI_UINT8_T)
LOCKSTEP_HANDLE(MPI_Datatype, uint64, MPI_UINT64_T)
LOCKSTEP_HANDLE(MPI_Datatype, byte, MPI_BYTE)
LOCKSTEP_HANDLE(MPI_Datatype, datatype_null, MPI_DATATYPE_NULL)

// Reduction operations.
LOCKSTEP_HANDLE(MPI_Op, sum, MPI_SUM)
LOCKSTEP_HANDLE(MPI_Op, max, MPI_MAX)
LOCKSTEP_HANDLE(MPI_Op, min, MPI_MIN)
LOCKSTEP_HANDLE(MPI_Op, prod, MPI_PROD)
LOCKSTEP_HANDLE(MPI_Op, band, MPI_BAND)
LOCKSTEP_HANDLE(MPI_Op, bor, MPI_BOR)
LOCKSTEP_HANDLE(MPI_Op, op_null, MPI_OP_NULL)

// Error handlers, requests, statuses, buffers.
LOCKSTEP_HANDLE(MPI_Errhandler, errors_return, MPI_ERRORS_RETURN)
LOCKSTEP_HANDLE(MPI_Errhandler, errors_are_fatal, MPI_ERRORS_ARE_FATAL)
LOCKSTEP_HANDLE(MPI_Request, request_null, MPI_REQUEST_NULL)
LOCKSTEP_HANDLE(MPI_Status *, status_ignore, MPI_STATUS_IGNORE)
LOCKSTEP_HANDLE(MPI_Status *, statuses_ignore, MPI_STATUSES_IGNORE)
LOCKSTEP_HANDLE(void *, in_place, MPI_IN_PLACE)
LOCKSTEP_HANDLE(MPI_Info, info_null, MPI_INFO_NULL)

#undef LOCKSTEP_HANDLE

#endif
