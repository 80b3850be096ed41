#include "CMPIBaseline.h"
#include <mpi.h>

double lockstep_c_allreduce_loop(float *buffer, int count, int iterations) {
    double start = MPI_Wtime();
    for (int i = 0; i < iterations; i++) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return -(double)rc;
    }
    return MPI_Wtime() - start;
}

double lockstep_c_allreduce_loop_on(float *buffer, int count, int iterations, MPI_Comm comm) {
    double start = MPI_Wtime();
    for (int i = 0; i < iterations; i++) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, comm);
        if (rc != MPI_SUCCESS) return -(double)rc;
    }
    return MPI_Wtime() - start;
}
