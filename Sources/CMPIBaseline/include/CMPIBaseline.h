// The plain-C baseline that `lockstep bench allreduce` times the Swift wrapper against.
#ifndef LOCKSTEP_CMPI_BASELINE_H
#define LOCKSTEP_CMPI_BASELINE_H

/// Runs `iterations` in-place `MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT,
/// MPI_SUM, MPI_COMM_WORLD)` calls back to back. Returns the wall-clock seconds the loop
/// took (MPI_Wtime), or a negative MPI error code if a call failed.
double lockstep_c_allreduce_loop(float *buffer, int count, int iterations);

#include <mpi.h>

/// The same loop on a given communicator (for the per-call overhead on MPI_COMM_SELF).
double lockstep_c_allreduce_loop_on(float *buffer, int count, int iterations, MPI_Comm comm);

#endif
