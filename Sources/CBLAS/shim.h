/* The system BLAS/LAPACK seen by the Swift core: OpenBLAS's cblas.h (which also
 * declares openblas_get_corename and friends) and the reference LAPACKE.
 * Debian: libopenblas-dev, liblapacke-dev. */
#ifndef NTK_CBLAS_SHIM_H
#define NTK_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
