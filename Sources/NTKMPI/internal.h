/* libntk_mpi's internals: the objects behind the handles of ntk_mpi.h and the collective
 * error protocol every entry point follows. */
#ifndef NTK_MPI_INTERNAL_H
#define NTK_MPI_INTERNAL_H

#include <stdint.h>

#include "ntk_mpi.h"

struct ntk_mpi_grid {
    MPI_Comm comm;         /* a duplicate of the caller's communicator */
    int rank, size;
    int blacs_handle, context;
    int nprow, npcol, myrow, mycol;
    int nb;                /* block size (rows = columns) */
    int references;        /* the live handle (1 until ntk_mpi_grid_free) + each matrix made on it:
                              the grid is released when the last goes, so a matrix never outlives it */
};

/* A matrix made on the grid holds it; the last holder gone, the grid is released. */
void grid_retain(const ntk_mpi_grid *grid);
void grid_drop(const ntk_mpi_grid *grid);

struct ntk_mpi_matrix {
    const ntk_mpi_grid *grid;
    int64_t rows, cols;
    int local_rows, local_cols, lld;
    double *data;          /* column-major local blocks */
    int desc[9];
    int64_t *row_index;    /* global index of each local row / column */
    int64_t *col_index;
};

/* One call of an entry point on this rank: its first failure and, once agreed, the status
 * and message every rank returns. */
typedef struct ntk_mpi_call {
    const char *function;
    MPI_Comm comm;
    int rank, size;
    int status;            /* this rank's first failure (0: none); the agreed one once agreed */
    int agreed;            /* 1 once a failure has been agreed (on every rank at once) */
    int root;              /* the rank whose failure was agreed */
    char message[1024];
} ntk_mpi_call;

void call_begin(ntk_mpi_call *call, const char *function, MPI_Comm comm);
/* Records a failure on this rank (the first one wins); returns status. */
int call_fail(ntk_mpi_call *call, int status, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* Records a failed libntk call with libntk's own message (nothing for NTK_OK); returns status. */
int call_fail_ntk(ntk_mpi_call *call, int status);
/* Collective: every rank learns the worst status and the message of the lowest rank that
 * has it; returns that status (0 when every rank is fine). */
int call_agree(ntk_mpi_call *call);
/* call_agree, then sets ntk_mpi_last_error() on failure; returns the agreed status. */
int call_finish(ntk_mpi_call *call);
/* Collective: fails (then agrees) unless values[i] is the same on every rank; names[i]
 * names each value. Returns the agreed status. */
int call_same(ntk_mpi_call *call, const double *values, int count, const char *const *names, int status);

/* Sums count doubles over the communicator in place (chunked for MPI's int counts). */
int sum_doubles(MPI_Comm comm, double *values, int64_t count);

/* Fingerprints for the "replicated" checks. */
void fingerprint(const double *X, int64_t rows, int64_t cols, int64_t ld, double out[2]);
/* One of libntk's two network kinds, the dense ntk_mlp or the layered ntk_network, as the MPI
 * layer uses them: exactly one is non-NULL (networks.c forwards each use to its functions). */
typedef struct mpi_net {
    const ntk_mlp *mlp;
    const ntk_network *network;
} mpi_net;

/* d, k, the kind and depth (hidden layers of an MLP; -1 for a layered network), p and two
 * probes of the network: its outputs (parameters) and its infinite-width NTK diagonal
 * (architecture, activation, parameterization) at fixed points (0 for a layered network
 * without an infinite-width limit). with_parameters 0 leaves the parameter probe out
 * (infinite-width kernels use only the architecture). Returns an ntk status. */
int network_fingerprint(mpi_net net, int with_parameters, double out[6], int64_t *d, int64_t *k);

/* The libntk calls the MPI layer makes on a network, for either kind. */
int net_infinite_width_kernels(mpi_net net, int64_t n1, const double *X1, int64_t ld1, int64_t n2,
                               const double *X2, int64_t ld2, const ntk_infinite_width_options *options,
                               double *K_nngp, int64_t ld_nngp, double *K_ntk, int64_t ld_ntk);
int net_infinite_width_diagonal(mpi_net net, int64_t n, const double *X, int64_t ldx, double *nngp, double *ntk);
int net_empirical_ntk(mpi_net net, int64_t n1, const double *X1, int64_t ld1, int64_t n2, const double *X2,
                      int64_t ld2, const ntk_empirical_ntk_options *options, double *K, int64_t ldk);
int net_empirical_ntk_diagonal(mpi_net net, int64_t n, const double *X, int64_t ldx, double *diag);
int net_nystrom_fit_centers(mpi_net net, int64_t n, const double *X, int64_t ldx, const ntk_targets *targets,
                            double ridge, int64_t c, const double *C, int64_t ldc, const ntk_nystrom_options *options,
                            ntk_nystrom **out);
int net_empirical_ridge_fit(mpi_net net, int64_t n, const double *X, int64_t ldx, const ntk_targets *targets,
                            double ridge, const ntk_empirical_solver_options *options, ntk_empirical_ridge **out);
int net_empirical_gradient_flow(mpi_net net, int64_t n, const double *X, int64_t ldx, const ntk_targets *targets,
                                int64_t count, const double *times, const ntk_points *test,
                                const ntk_empirical_solver_options *options, double *pred_train, double *pred_test,
                                double *error_estimate);

/* Every rank's rows of a points set as one replicated n x d array: *X points into the
 * caller's array (replicated) or to *owned (by rows, gathered; free it). Collective.
 * Local failures are recorded in call; returns the agreed status. */
int gather_points(ntk_mpi_call *call, const ntk_mpi_points *points, int64_t d, const char *name,
                  const double **X, int64_t *ldx, int64_t *n, double **owned);

/* The residual Y - f0 (n x k, contiguous) of replicated targets, checked finite; NULL and a
 * recorded failure on error. */
double *residual_of(ntk_mpi_call *call, const ntk_targets *targets, int64_t n, const char *name);

/* Local GEMM helpers on a distributed matrix A (local array, column-major):
 * out (rows x width, row-major, zeroed first) += A * B where B is cols x width replicated
 * row-major and rows are A's global rows; then summed over the ranks. Collective. */
int distributed_times(ntk_mpi_call *call, const ntk_mpi_matrix *A, const double *B, int64_t width, double *out);
/* out (cols x width) = A^T B with B rows x width replicated; summed over the ranks. */
int distributed_transpose_times(ntk_mpi_call *call, const ntk_mpi_matrix *A, const double *B, int64_t width,
                                double *out);

/* A rows x cols matrix of zeros on the grid (NULL and a recorded failure on error); internal
 * until registered. */
ntk_mpi_matrix *matrix_new_for(ntk_mpi_call *call, const ntk_mpi_grid *grid, int64_t rows, int64_t cols);
/* The spectral solver: the distributed eigenvectors and the eigenvalues after the policy. */
struct ntk_mpi_spectral {
    const ntk_mpi_grid *grid;
    ntk_mpi_matrix *vectors; /* V, distributed */
    double *eigenvalues;     /* ascending */
    int64_t n;
};

/* Frees a matrix, registered or not (internal copies). NULL is ignored. */
void matrix_release(ntk_mpi_matrix *A);

/* Live handles, by kind: a handle is valid exactly while registered, so a NULL, freed or
 * mistyped handle is reported (INVALID_HANDLE) instead of being dereferenced. */
enum handle_kind { HANDLE_GRID = 1, HANDLE_MATRIX, HANDLE_KERNEL_RIDGE, HANDLE_SPECTRAL };
/* Registers a new handle: 0, or -1 when the table cannot grow (out of memory). */
int handle_register(const void *handle, enum handle_kind kind);
/* Forgets a handle: 1 if it was live with that kind (the caller then frees it), else 0. */
int handle_release(const void *handle, enum handle_kind kind);
/* Whether the handle is live with that kind. */
int handle_live(const void *handle, enum handle_kind kind);
/* NTK_OK for a live handle of `kind`; else INVALID_HANDLE with its message set (ntk_mpi_last_error),
 * naming `function` and the argument `name`. Local: not collective. */
int check_handle(const void *handle, enum handle_kind kind, const char *function, const char *name);
/* Begins a call on the communicator of a grid, a matrix or a spectral solver: NTK_OK, or
 * INVALID_HANDLE (with the message set) when the handle is not live — reported on this rank
 * alone, since an invalid handle names no communicator to agree on. */
int call_begin_handle(ntk_mpi_call *call, const char *function, const void *handle, enum handle_kind kind,
                      const char *name);

/* Whether rows x cols doubles (rows, cols >= 0) fit in this machine's physical memory (or, where
 * it is unknown, in int64 bytes): a caller cannot hold a larger array, so a size beyond it is
 * rejected (TOO_LARGE) before the array is read, and rows * cols cannot overflow after it. */
int fits_in_memory(int64_t rows, int64_t cols);

/* Allocation that records OUT_OF_MEMORY. */
void *call_alloc(ntk_mpi_call *call, int64_t count, int64_t size, const char *what);

#endif
