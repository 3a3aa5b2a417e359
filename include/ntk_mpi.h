/*
 * ntk_mpi.h — libntk beyond one machine: MPI + ScaLAPACK (libntk_mpi.so).
 *
 * A separate library, so that libntk.so never needs MPI. It is a client of ntk.h: the handles
 * it takes (ntk_mlp, ntk_network) and returns for the data-parallel solvers (ntk_nystrom,
 * ntk_empirical_ridge) are ordinary libntk handles, used and freed with ntk.h's functions.
 *
 * Build and link (scripts/build_mpi.sh builds it next to libntk.so):
 *   mpicc prog.c -I<repo>/include -L<dir> -lntk_mpi -lntk -Wl,-rpath,<dir>
 *   mpirun -np 4 ./prog
 * Debian: openmpi-bin, libopenmpi-dev, libscalapack-openmpi-dev. Run one BLAS thread per rank
 * (OPENBLAS_NUM_THREADS=1) unless ranks have cores to spare. The header compiles as C99 and as
 * C++ (with Open MPI, define OMPI_SKIP_MPICXX: its deprecated C++ bindings warn under -Wextra).
 *
 * Two ways to spread the work
 * ---------------------------
 * Dense, block-cyclic   A ntk_mpi_grid arranges the ranks of a communicator as an nprow x
 *                       npcol process grid (BLACS). An ntk_mpi_matrix is an r x c matrix split
 *                       into nb x nb blocks dealt cyclically over the grid, as ScaLAPACK stores
 *                       it: each rank holds its blocks in a column-major local array (element
 *                       (i, j) of the local array at data[i + j * lld]) described by the usual
 *                       9-integer descriptor. Kernels are computed tile by tile where they are
 *                       stored (each rank computes only its own entries); kernel ridge
 *                       (PDPOTRF/PDPOTRS) and the spectral solver (PDSYEVD) run on them.
 *                       Memory per rank: about (r c / P) doubles per matrix.
 * Data-parallel rows    Each rank passes its own rows of X and Y; the Nystrom and matrix-free
 *                       empirical-NTK solvers of libntk (CG ridge, Lanczos gradient flow) run
 *                       on them with one MPI_Allreduce per operator product (ntk.h, "Data
 *                       parallelism"). Memory per rank: its rows plus the m x m (Nystrom) or
 *                       parameter-sized (empirical NTK) state; the flow's Lanczos basis is split
 *                       by rows too.
 *
 * Conventions (besides ntk.h's)
 * -----------------------------
 * Collective  Every function that takes a grid, a distributed matrix or a communicator is
 *             collective: every rank of the communicator calls it, in the same order, with
 *             the same global sizes and settings. Arguments documented as "replicated" must be
 *             equal on every rank; libntk_mpi checks a fingerprint of them (sizes, settings,
 *             the network's parameters, replicated inputs) and fails with
 *             NTK_ERR_DIMENSION_MISMATCH (sizes) or NTK_ERR_INVALID_ARGUMENT (values) when
 *             they differ.
 * Errors      Errors are agreed: every rank returns the same status, and ntk_mpi_last_error()
 *             the same message, prefixed with the rank that failed first ("rank 1: X (row 3,
 *             column 0) is nan, must be finite"). A failure on one rank (a NaN in its block,
 *             an allocation that fails there) never leaves another rank waiting in a
 *             collective. Out-handles are NULL on every rank after a failure.
 * Handles     ntk_mpi_grid, ntk_mpi_matrix, ntk_mpi_kernel_ridge and ntk_mpi_spectral are
 *             checked against a table of live handles: a NULL, freed or mistyped one gives
 *             NTK_ERR_INVALID_HANDLE, never a crash. Such a handle names no communicator, so
 *             that error is the calling rank's alone (ranks that passed valid handles wait for
 *             it in their collective): pass valid handles on every rank. *_free functions are
 *             local (not collective) except ntk_mpi_grid_free, and accept NULL and freed handles.
 * Order       Matrices in ntk.h's row-major convention everywhere except the local arrays of
 *             an ntk_mpi_matrix, which are ScaLAPACK's column-major blocks.
 * Threads     Calls on one communicator must come from one thread at a time per rank (MPI's
 *             collectives on a communicator are ordered).
 */
#ifndef NTK_MPI_H
#define NTK_MPI_H

#include <mpi.h>
#include <stdint.h>

#include "ntk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's message for its last failed ntk_mpi_* call ("" if none). */
const char *ntk_mpi_last_error(void);

/* ---------------------------------------------------------------------------------------
 * Process grids
 * ------------------------------------------------------------------------------------- */

typedef struct ntk_mpi_grid ntk_mpi_grid;

/* A BLACS process grid over comm (duplicated: the grid's traffic never mixes with the
 * caller's). nprow = npcol = 0 chooses the most square grid with nprow * npcol = size;
 * otherwise nprow * npcol must equal the communicator's size. block_size 0 means 64.
 * Errors: INVALID_ARGUMENT (comm MPI_COMM_NULL, grid shape, block_size < 0, out NULL). */
int ntk_mpi_grid_create(MPI_Comm comm, int nprow, int npcol, int64_t block_size, ntk_mpi_grid **out);

/* This rank's place: rank and size in the communicator, the grid's shape, this rank's grid
 * row and column and the block size. Out-pointers may be NULL. Not collective. */
int ntk_mpi_grid_info(const ntk_mpi_grid *grid, int *rank, int *size, int *nprow, int *npcol,
                      int *myrow, int *mycol, int64_t *block_size);

/* Frees the grid (collective: it frees the grid's communicator). NULL and freed grids are
 * ignored. Matrices and solvers made on it stay usable: the grid's communicator and BLACS
 * context are released with the last of them (free them at the same point on every rank). */
void ntk_mpi_grid_free(ntk_mpi_grid *grid);

/* ---------------------------------------------------------------------------------------
 * Distributed matrices
 * ------------------------------------------------------------------------------------- */

typedef struct ntk_mpi_matrix ntk_mpi_matrix;

/* A rows x cols matrix of zeros, block-cyclic on the grid. Collective.
 * Errors: INVALID_ARGUMENT, OUT_OF_MEMORY (on any rank), TOO_LARGE. */
int ntk_mpi_matrix_create(const ntk_mpi_grid *grid, int64_t rows, int64_t cols, ntk_mpi_matrix **out);

/* The global size. Out-pointers may be NULL. Not collective. */
int ntk_mpi_matrix_size(const ntk_mpi_matrix *A, int64_t *rows, int64_t *cols);

/* This rank's local array: *data (column-major, local_rows x local_cols, leading dimension
 * *lld), writable (fill it to bring your own kernel). Out-pointers may be NULL. Not collective. */
int ntk_mpi_matrix_local(const ntk_mpi_matrix *A, double **data, int64_t *local_rows,
                         int64_t *local_cols, int64_t *lld);

/* The global index of each local row (local_rows int64s) and column (local_cols); either
 * may be NULL. Local (i, j) is global (row_index[i], col_index[j]). Not collective. */
int ntk_mpi_matrix_indices(const ntk_mpi_matrix *A, int64_t *row_index, int64_t *col_index);

/* ScaLAPACK's descriptor of the matrix into desc (9 ints: DTYPE = 1, CTXT, M, N, MB, NB,
 * RSRC = 0, CSRC = 0, LLD), for calling ScaLAPACK on it directly. Not collective. */
int ntk_mpi_matrix_descriptor(const ntk_mpi_matrix *A, int *desc);

/* The whole matrix on every rank (rows x cols, row-major, leading dimension ld >= cols),
 * for small matrices and tests. Collective. Errors: INVALID_ARGUMENT, TOO_LARGE. */
int ntk_mpi_matrix_gather(const ntk_mpi_matrix *A, double *out, int64_t ld);

/* Frees the matrix (not collective). NULL is ignored. */
void ntk_mpi_matrix_free(ntk_mpi_matrix *A);

/* ---------------------------------------------------------------------------------------
 * Kernels computed where they are stored
 * ------------------------------------------------------------------------------------- */

/* How a set of input points is spread over the ranks. */
typedef enum ntk_mpi_layout {
    NTK_MPI_REPLICATED = 0, /* every rank passes all n rows (checked equal) */
    NTK_MPI_BY_ROWS = 1     /* each rank passes its own rows, in rank order: the global set is
                               rank 0's rows, then rank 1's, ...; n is this rank's count */
} ntk_mpi_layout;

/* Input points X (n x d, leading dimension ldx) and how they are spread. */
typedef struct ntk_mpi_points {
    int64_t n;
    const double *X;
    int64_t ldx;
    ntk_mpi_layout layout;
} ntk_mpi_points;

/* The infinite-width kernel (kind NTK_KERNEL_NTK: Theta, NTK_KERNEL_NNGP: Sigma) of mlp's
 * architecture between X1 and X2 (X2 NULL: X1's own kernel, with the exact diagonal, as
 * ntk_infinite_width_kernels) into a new n1 x n2 distributed matrix *out. Each rank computes
 * only its local entries. mlp must describe the same architecture on every rank.
 * options may be NULL. Errors: as ntk_infinite_width_kernels, agreed over the ranks. */
int ntk_mpi_infinite_width_kernel(const ntk_mpi_grid *grid, const ntk_mlp *mlp, ntk_kernel_kind kind,
                                  const ntk_mpi_points *X1, const ntk_mpi_points *X2,
                                  const ntk_infinite_width_options *options, ntk_mpi_matrix **out);

/* The empirical NTK of mlp (NTK_OUTPUT_MEAN: the mean over outputs) between X1 and X2 (X2
 * NULL: X1's own kernel) into a new distributed matrix. mlp must have the same parameters on
 * every rank (checked). options may be NULL. Errors: as ntk_empirical_ntk, agreed. */
int ntk_mpi_empirical_ntk(const ntk_mpi_grid *grid, const ntk_mlp *mlp,
                          const ntk_mpi_points *X1, const ntk_mpi_points *X2,
                          const ntk_empirical_ntk_options *options, ntk_mpi_matrix **out);

/* The same two kernels of a network built from layers (ntk_network: its infinite-width NNGP/NTK
 * and its empirical NTK), with the same layouts, checks (the same architecture, and for the
 * empirical kernel the same parameters, on every rank) and errors. */
int ntk_mpi_network_infinite_width_kernel(const ntk_mpi_grid *grid, const ntk_network *network, ntk_kernel_kind kind,
                                          const ntk_mpi_points *X1, const ntk_mpi_points *X2,
                                          const ntk_infinite_width_options *options, ntk_mpi_matrix **out);
int ntk_mpi_network_empirical_ntk(const ntk_mpi_grid *grid, const ntk_network *network, const ntk_mpi_points *X1,
                                  const ntk_mpi_points *X2, const ntk_empirical_ntk_options *options,
                                  ntk_mpi_matrix **out);

/* ---------------------------------------------------------------------------------------
 * Distributed kernel ridge regression (PDPOTRF + PDPOTRS)
 *
 *   pred(x) = f0(x) + K(x, X) (K + zI)^-1 (Y - f0(X))     as ntk_kernel_ridge_fit
 * ------------------------------------------------------------------------------------- */

typedef struct ntk_mpi_kernel_ridge ntk_mpi_kernel_ridge;

/* Fits on K_train (n x n, symmetric, distributed; not changed) and targets (Y, f0: n x k,
 * replicated) with ridge >= 0, measured as options->ridge_scale says (options may be NULL;
 * max_jitter is not used). The model keeps alpha (replicated).
 * Progress and cancellation (the protocol of the collective calls): the Cholesky factorisation
 * runs in panels of columns (each well under a second); between panels every rank reports the
 * fraction done (by flops) to its own options->progress, if any, and one agreement follows: a
 * non-zero answer on any rank makes every rank return CANCELLED at that same panel, with the
 * message of the lowest rank that cancelled. Nothing is kept; K_train stays usable.
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE,
 * OUT_OF_MEMORY, NUMERICAL, CANCELLED; agreed. */
int ntk_mpi_kernel_ridge_fit(const ntk_mpi_matrix *K_train, const ntk_targets *targets, double ridge,
                             const ntk_kernel_ridge_options *options, ntk_mpi_kernel_ridge **out);

/* Test predictions f0_test + K_test alpha (m x k) on every rank, with K_test the distributed
 * m x n test-train kernel on the same grid and f0_test (m x k, replicated; NULL: 0).
 * Collective. Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE. */
int ntk_mpi_kernel_ridge_predict(const ntk_mpi_kernel_ridge *model, const ntk_mpi_matrix *K_test,
                                 const double *f0_test, int64_t ldf0, double *pred, int64_t ldp);

/* Train predictions Y - z alpha (n x k) and alpha (n x k), each may be NULL. Not collective. */
int ntk_mpi_kernel_ridge_results(const ntk_mpi_kernel_ridge *model, double *pred_train, int64_t ldp,
                                 double *alpha, int64_t lda);

/* n, k and the absolute ridge z. Out-pointers may be NULL. Not collective. */
int ntk_mpi_kernel_ridge_info(const ntk_mpi_kernel_ridge *model, int64_t *n, int64_t *k, double *ridge);

/* Frees the model (not collective). NULL is ignored. */
void ntk_mpi_kernel_ridge_free(ntk_mpi_kernel_ridge *model);

/* ---------------------------------------------------------------------------------------
 * Distributed spectral solver (PDSYEVD): gradient flow at any time, ridge paths, selection
 *
 * K = V diag(lambda) V^T once, then as ntk_spectral_predict: for grid points (t, z)
 *   pred_train = f0 + V diag(lambda g) V^T (Y - f0),  pred_test = f0* + K_* V diag(g) V^T (Y - f0)
 *   g(lambda) = (1 - exp(-eta t (lambda + z) / N)) / (lambda + z),   N = n k,
 * t = +INFINITY giving kernel ridge; the same eigenvalue policy, cutoff and null space.
 * ------------------------------------------------------------------------------------- */

typedef struct ntk_mpi_spectral ntk_mpi_spectral;

/* Decomposes K (n x n, symmetric, distributed; not changed). The solver keeps the
 * distributed eigenvectors (n^2 / P doubles per rank). Errors: as ntk_spectral_create,
 * agreed; NUMERICAL if PDSYEVD fails. */
int ntk_mpi_spectral_create(const ntk_mpi_matrix *K, ntk_negative_eigenvalues policy, ntk_mpi_spectral **out);

/* The n eigenvalues after the policy (ascending), replicated. Not collective. */
int ntk_mpi_spectral_eigenvalues(const ntk_mpi_spectral *solver, double *w);

/* Predictions at every point of the grid (ntk_grid, replicated) as ntk_spectral_predict,
 * replicated on every rank: pred_train count x n x k, pred_test count x m x k with K_test
 * (m x n, distributed on the same process grid; NULL for none) and f0_test (m x k replicated,
 * NULL: 0). targets replicated. Collective. Errors: as ntk_spectral_predict, agreed. */
int ntk_mpi_spectral_predict(const ntk_mpi_spectral *solver, const ntk_targets *targets, const ntk_grid *grid,
                             const ntk_mpi_matrix *K_test, const double *f0_test, int64_t ldf0,
                             double *pred_train, double *pred_test);

/* Scores ridges as ntk_spectral_select_ridge (GCV or exact leave-one-out), replicated.
 * Collective. Errors: as ntk_spectral_select_ridge, agreed. */
int ntk_mpi_spectral_select_ridge(const ntk_mpi_spectral *solver, const ntk_targets *targets,
                                  int64_t count, const double *ridges, ntk_ridge_criterion criterion,
                                  double *scores, int64_t *best);

/* Frees the solver (not collective). NULL is ignored. */
void ntk_mpi_spectral_free(ntk_mpi_spectral *solver);

/* ---------------------------------------------------------------------------------------
 * Data-parallel large n: each rank passes its own rows
 *
 * A fit's result is an ordinary libntk handle, the same model on every rank (fitted on all the
 * rows, n the total): predict with ntk_nystrom_predict / ntk_empirical_ridge_predict on any
 * points, free with ntk_nystrom_free / ntk_empirical_ridge_free. The gradient flow returns
 * predictions: this rank's training rows, and the full flow's at this rank's test points.
 * ------------------------------------------------------------------------------------- */

/* Nystrom / Falkon (options->solver) on the rows X (n x d, this rank's) with targets
 * (n x k, this rank's) and c centres C (c x d, leading dimension ldc, replicated); C NULL:
 * c centres drawn uniformly from all the rows with options->seed (the same on every rank).
 * options->centers (selection) and options->reduce are not used. options may be NULL.
 * Errors: as ntk_nystrom_fit_centers, agreed; INVALID_ARGUMENT when c exceeds the total rows. */
int ntk_mpi_nystrom_fit(MPI_Comm comm, const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                        const ntk_targets *targets, double ridge, int64_t c, const double *C, int64_t ldc,
                        const ntk_nystrom_options *options, ntk_nystrom **out);

/* Matrix-free empirical NTK kernel ridge (CG, options->reduce is not used) on this rank's rows
 * X (n x d) and targets; mlp's parameters must be the same on every rank (checked). The
 * Nystrom preconditioner (options->preconditioner_rank centres; 0: plain CG) is the one of all
 * the rows: its centres are options->preconditioner_centers (replicated, checked equal) or else
 * drawn uniformly among all the ranks' rows with options->seed and broadcast; its m x m
 * matrices and products are summed over the ranks, as the kernel's are. options->precision =
 * NTK_PRECISION_SINGLE (the same on every rank, checked): single-precision products with reliable
 * updates, as ntk_empirical_ridge_fit. options NULL: the
 * defaults of ntk_empirical_solver_options_init (rank 256). The model keeps this rank's alpha
 * (ntk_empirical_ridge_dual_coefficients) and J(X)^T alpha summed over all ranks, so
 * predictions on any points are the full model's. Errors: as ntk_empirical_ridge_fit, agreed. */
int ntk_mpi_empirical_ridge_fit(MPI_Comm comm, const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                                const ntk_targets *targets, double ridge,
                                const ntk_empirical_solver_options *options, ntk_empirical_ridge **out);

/* ntk_empirical_gradient_flow (MSE gradient flow at finite times, matrix-free Lanczos) on this
 * rank's rows X (n x d) and targets; mlp's parameters, the times and options->tol, max_iter and
 * learning_rate must be the same on every rank (checked); N counts all the ranks' rows. The
 * Lanczos vectors are split by rows like the data: each step sums J^T q (parameter-sized) and
 * four inner products over the ranks, so every rank runs the same steps. pred_train
 * (count x n x k) gets this rank's rows; pred_test (count x m x k) the full flow's predictions at
 * this rank's test points (each rank its own, or the same), which every rank must ask for
 * (test and pred_test non-NULL) or none (checked). options->reduce is not used; a rank whose
 * options->progress cancels makes every rank return CANCELLED at the next step. Errors: as
 * ntk_empirical_gradient_flow, agreed. */
int ntk_mpi_empirical_gradient_flow(MPI_Comm comm, const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                                    const ntk_targets *targets, int64_t count, const double *times,
                                    const ntk_points *test, const ntk_empirical_solver_options *options,
                                    double *pred_train, double *pred_test, double *error_estimate);

/* The three data-parallel solvers for a network built from layers (ntk_network): Nystrom on its
 * infinite-width kernel, and the matrix-free ridge and flow on its empirical NTK (ntk.h's
 * ntk_network_nystrom_fit_centers, ntk_network_ridge_fit, ntk_network_gradient_flow on each
 * rank's rows, reduced as above), with the same arguments, checks and errors. */
int ntk_mpi_network_nystrom_fit(MPI_Comm comm, const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                                const ntk_targets *targets, double ridge, int64_t c, const double *C, int64_t ldc,
                                const ntk_nystrom_options *options, ntk_nystrom **out);
int ntk_mpi_network_empirical_ridge_fit(MPI_Comm comm, const ntk_network *network, int64_t n, const double *X,
                                        int64_t ldx, const ntk_targets *targets, double ridge,
                                        const ntk_empirical_solver_options *options, ntk_empirical_ridge **out);
int ntk_mpi_network_empirical_gradient_flow(MPI_Comm comm, const ntk_network *network, int64_t n, const double *X,
                                            int64_t ldx, const ntk_targets *targets, int64_t count,
                                            const double *times, const ntk_points *test,
                                            const ntk_empirical_solver_options *options, double *pred_train,
                                            double *pred_test, double *error_estimate);

#ifdef __cplusplus
}
#endif

#endif /* NTK_MPI_H */
