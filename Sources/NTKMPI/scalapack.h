/* BLACS, ScaLAPACK and the BLAS/LAPACK pieces libntk_mpi calls. Debian's
 * libscalapack-openmpi ships no C header: the prototypes are declared here, Fortran style
 * (every argument by pointer, and one hidden size_t length after the arguments for each
 * CHARACTER argument, as gfortran passes them). */
#ifndef NTK_MPI_SCALAPACK_H
#define NTK_MPI_SCALAPACK_H

#include <mpi.h>
#include <stddef.h>

/* BLACS (C interface). */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *context, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int context, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int context);

/* ScaLAPACK tools. */
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb, const int *irsrc,
               const int *icsrc, const int *ictxt, const int *lld, int *info);

/* Cholesky factorisation and solve of a distributed SPD matrix. */
void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca,
              int *info, size_t uplo_len);
void pdpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *ia, const int *ja,
              const int *desca, double *b, const int *ib, const int *jb, const int *descb, int *info,
              size_t uplo_len);

/* PBLAS: triangular solve with several right-hand sides, and the symmetric rank-k update. */
void pdtrsm_(const char *side, const char *uplo, const char *transa, const char *diag, const int *m, const int *n,
             const double *alpha, const double *a, const int *ia, const int *ja, const int *desca, double *b,
             const int *ib, const int *jb, const int *descb, size_t side_len, size_t uplo_len, size_t transa_len,
             size_t diag_len);
void pdsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha, const double *a,
             const int *ia, const int *ja, const int *desca, const double *beta, double *c, const int *ic,
             const int *jc, const int *descc, size_t uplo_len, size_t trans_len);

/* Symmetric eigendecomposition (divide and conquer). */
void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, double *w, double *z, const int *iz, const int *jz, const int *descz,
              double *work, const int *lwork, int *iwork, const int *liwork, int *info,
              size_t jobz_len, size_t uplo_len);

#endif
