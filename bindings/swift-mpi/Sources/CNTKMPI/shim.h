/* The C side of NTKDistributed: libntk's and libntk_mpi's headers, and what Swift cannot
 * import from mpi.h by itself (MPI_COMM_WORLD is a macro over a global's address). */
#include <mpi.h>

#include "../../../../include/ntk_mpi.h"

static inline MPI_Comm ntk_swift_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm ntk_swift_comm_null(void) { return MPI_COMM_NULL; }

/* MPI_SUM and the datatypes are macros too: sums over a communicator, in place. */
static inline int ntk_swift_sum_int64(int64_t *values, int count, MPI_Comm comm) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_INT64_T, MPI_SUM, comm);
}
static inline int ntk_swift_sum_double(double *values, int count, MPI_Comm comm) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, comm);
}
