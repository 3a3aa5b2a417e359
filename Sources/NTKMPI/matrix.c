/* Process grids (BLACS) and block-cyclic distributed matrices, and the kernels computed in
 * place: each rank evaluates only the entries of its own local array. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scalapack.h"

/* Frees a grid's BLACS context, its communicator and itself. */
static void grid_release(ntk_mpi_grid *grid) {
    Cblacs_gridexit(grid->context);
    Cfree_blacs_system_handle(grid->blacs_handle);
    MPI_Comm_free(&grid->comm);
    free(grid);
}

void grid_retain(const ntk_mpi_grid *grid) {
    __atomic_add_fetch(&((ntk_mpi_grid *)grid)->references, 1, __ATOMIC_ACQ_REL);
}

void grid_drop(const ntk_mpi_grid *grid) {
    if (__atomic_sub_fetch(&((ntk_mpi_grid *)grid)->references, 1, __ATOMIC_ACQ_REL) == 0) {
        grid_release((ntk_mpi_grid *)grid);
    }
}

int ntk_mpi_grid_create(MPI_Comm comm, int nprow, int npcol, int64_t block_size, ntk_mpi_grid **out) {
    ntk_mpi_call call;
    if (out) *out = NULL;
    if (comm == MPI_COMM_NULL) {
        call_begin(&call, "ntk_mpi_grid_create", MPI_COMM_NULL);
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "comm is MPI_COMM_NULL");
        return call_finish(&call);
    }
    call_begin(&call, "ntk_mpi_grid_create", comm);
    if (out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    if (block_size < 0 || block_size > 1 << 20) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "block_size must be in 0...2^20 (0: 64), got %lld",
                  (long long)block_size);
    }
    if (nprow == 0 && npcol == 0) {
        nprow = (int)sqrt((double)call.size);
        while (nprow > 1 && call.size % nprow != 0) nprow--;
        if (nprow < 1) nprow = 1;
        npcol = call.size / nprow;
    } else if (nprow < 1 || npcol < 1 || (int64_t)nprow * npcol != call.size) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT,
                  "the grid %d x %d does not match the communicator's %d ranks (nprow = npcol = 0 chooses one)", nprow,
                  npcol, call.size);
    }
    double shape[3] = {(double)nprow, (double)npcol, (double)block_size};
    static const char *const names[] = {"nprow", "npcol", "block_size"};
    if (call_same(&call, shape, 3, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    ntk_mpi_grid *grid = call_alloc(&call, 1, sizeof *grid, "the grid");
    if (call_agree(&call) != NTK_OK) { free(grid); return call_finish(&call); }
    MPI_Comm_dup(comm, &grid->comm);
    grid->rank = call.rank;
    grid->size = call.size;
    grid->nb = block_size == 0 ? 64 : (int)block_size;
    grid->references = 1;
    grid->blacs_handle = Csys2blacs_handle(grid->comm);
    grid->context = grid->blacs_handle;
    Cblacs_gridinit(&grid->context, "Row", nprow, npcol);
    Cblacs_gridinfo(grid->context, &grid->nprow, &grid->npcol, &grid->myrow, &grid->mycol);
    if (grid->myrow < 0 || grid->mycol < 0) call_fail(&call, NTK_ERR_INTERNAL,
                                                      "BLACS did not place this rank on the grid");
    if (call.status == NTK_OK && handle_register(grid, HANDLE_GRID) != 0) {
        call_fail(&call, NTK_ERR_OUT_OF_MEMORY, "out of memory for the handle table");
    }
    if (call_agree(&call) != NTK_OK) {
        handle_release(grid, HANDLE_GRID);
        grid_release(grid);
        return call_finish(&call);
    }
    *out = grid;
    return NTK_OK;
}

int ntk_mpi_grid_info(const ntk_mpi_grid *grid, int *rank, int *size, int *nprow, int *npcol,
                      int *myrow, int *mycol, int64_t *block_size) {
    int live = check_handle(grid, HANDLE_GRID, "ntk_mpi_grid_info", "grid");
    if (live != NTK_OK) return live;
    if (rank) *rank = grid->rank;
    if (size) *size = grid->size;
    if (nprow) *nprow = grid->nprow;
    if (npcol) *npcol = grid->npcol;
    if (myrow) *myrow = grid->myrow;
    if (mycol) *mycol = grid->mycol;
    if (block_size) *block_size = grid->nb;
    return NTK_OK;
}

void ntk_mpi_grid_free(ntk_mpi_grid *grid) {
    if (handle_release(grid, HANDLE_GRID)) grid_drop(grid);
}

/* The matrix's local shape, descriptor and index maps; failures recorded in call. */
ntk_mpi_matrix *matrix_new_for(ntk_mpi_call *call, const ntk_mpi_grid *grid, int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "the matrix size %lld x %lld is negative", (long long)rows,
                  (long long)cols);
        return NULL;
    }
    if (rows > INT32_MAX || cols > INT32_MAX) {
        call_fail(call, NTK_ERR_TOO_LARGE, "%lld x %lld exceeds ScaLAPACK's 32-bit sizes", (long long)rows,
                  (long long)cols);
        return NULL;
    }
    ntk_mpi_matrix *A = call_alloc(call, 1, sizeof *A, "a distributed matrix");
    if (A == NULL) return NULL;
    int m = (int)rows, n = (int)cols, zero = 0, info = 0;
    A->grid = grid;
    grid_retain(grid);
    A->rows = rows;
    A->cols = cols;
    A->local_rows = numroc_(&m, &grid->nb, &grid->myrow, &zero, &grid->nprow);
    A->local_cols = numroc_(&n, &grid->nb, &grid->mycol, &zero, &grid->npcol);
    A->lld = A->local_rows > 1 ? A->local_rows : 1;
    descinit_(A->desc, &m, &n, &grid->nb, &grid->nb, &zero, &zero, &grid->context, &A->lld, &info);
    if (info != 0) {
        /* An empty matrix has a valid descriptor all the same. */
        A->desc[0] = 1; A->desc[1] = grid->context; A->desc[2] = m; A->desc[3] = n;
        A->desc[4] = grid->nb; A->desc[5] = grid->nb; A->desc[6] = 0; A->desc[7] = 0; A->desc[8] = A->lld;
    }
    A->data = call_alloc(call, (int64_t)A->lld * A->local_cols, sizeof(double),
                         "a local block of a distributed matrix");
    A->row_index = call_alloc(call, A->local_rows, sizeof(int64_t), "row indices");
    A->col_index = call_alloc(call, A->local_cols, sizeof(int64_t), "column indices");
    if (A->data == NULL || A->row_index == NULL || A->col_index == NULL) { matrix_release(A); return NULL; }
    for (int i = 0; i < A->local_rows; i++) {
        A->row_index[i] = ((int64_t)(i / grid->nb) * grid->nprow + grid->myrow) * grid->nb + i % grid->nb;
    }
    for (int j = 0; j < A->local_cols; j++) {
        A->col_index[j] = ((int64_t)(j / grid->nb) * grid->npcol + grid->mycol) * grid->nb + j % grid->nb;
    }
    return A;
}

/* Registers a new matrix and agrees; on failure (anywhere) frees it. Returns the agreed status. */
static int publish_matrix(ntk_mpi_call *call, ntk_mpi_matrix *A, ntk_mpi_matrix **out) {
    if (call->status == NTK_OK && handle_register(A, HANDLE_MATRIX) != 0) {
        call_fail(call, NTK_ERR_OUT_OF_MEMORY, "out of memory for the handle table");
    }
    if (call_agree(call) != NTK_OK) {
        handle_release(A, HANDLE_MATRIX);
        matrix_release(A);
        return call_finish(call);
    }
    *out = A;
    return NTK_OK;
}

int ntk_mpi_matrix_create(const ntk_mpi_grid *grid, int64_t rows, int64_t cols, ntk_mpi_matrix **out) {
    ntk_mpi_call call;
    if (out) *out = NULL;
    if (call_begin_handle(&call, "ntk_mpi_matrix_create", grid, HANDLE_GRID, "grid") != NTK_OK) return call.status;
    if (out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    double shape[2] = {(double)rows, (double)cols};
    static const char *const names[] = {"rows", "cols"};
    if (call_same(&call, shape, 2, names, NTK_ERR_DIMENSION_MISMATCH) != NTK_OK) return call_finish(&call);
    ntk_mpi_matrix *A = matrix_new_for(&call, grid, rows, cols);
    return publish_matrix(&call, A, out);
}

int ntk_mpi_matrix_size(const ntk_mpi_matrix *A, int64_t *rows, int64_t *cols) {
    int live = check_handle(A, HANDLE_MATRIX, "ntk_mpi_matrix_size", "A");
    if (live != NTK_OK) return live;
    if (rows) *rows = A->rows;
    if (cols) *cols = A->cols;
    return NTK_OK;
}

int ntk_mpi_matrix_local(const ntk_mpi_matrix *A, double **data, int64_t *local_rows, int64_t *local_cols,
                         int64_t *lld) {
    int live = check_handle(A, HANDLE_MATRIX, "ntk_mpi_matrix_local", "A");
    if (live != NTK_OK) return live;
    if (data) *data = A->data;
    if (local_rows) *local_rows = A->local_rows;
    if (local_cols) *local_cols = A->local_cols;
    if (lld) *lld = A->lld;
    return NTK_OK;
}

int ntk_mpi_matrix_indices(const ntk_mpi_matrix *A, int64_t *row_index, int64_t *col_index) {
    int live = check_handle(A, HANDLE_MATRIX, "ntk_mpi_matrix_indices", "A");
    if (live != NTK_OK) return live;
    if (row_index) memcpy(row_index, A->row_index, sizeof(int64_t) * (size_t)A->local_rows);
    if (col_index) memcpy(col_index, A->col_index, sizeof(int64_t) * (size_t)A->local_cols);
    return NTK_OK;
}

int ntk_mpi_matrix_descriptor(const ntk_mpi_matrix *A, int *desc) {
    int live = check_handle(A, HANDLE_MATRIX, "ntk_mpi_matrix_descriptor", "A");
    if (live != NTK_OK) return live;
    if (desc == NULL) return NTK_ERR_INVALID_ARGUMENT;
    memcpy(desc, A->desc, sizeof A->desc);
    return NTK_OK;
}

int ntk_mpi_matrix_gather(const ntk_mpi_matrix *A, double *out, int64_t ld) {
    ntk_mpi_call call;
    if (call_begin_handle(&call, "ntk_mpi_matrix_gather", A, HANDLE_MATRIX, "A") != NTK_OK) return call.status;
    if (A->rows * A->cols > 0 && out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    else if (A->rows * A->cols > 0 && ld < A->cols) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "ld is %lld, must be >= cols = %lld", (long long)ld,
                  (long long)A->cols);
    }
    double *all = call_alloc(&call, A->rows * A->cols, sizeof(double), "the gathered matrix");
    if (call_agree(&call) != NTK_OK) { free(all); return call_finish(&call); }
    for (int j = 0; j < A->local_cols; j++) {
        for (int i = 0; i < A->local_rows; i++) {
            all[A->row_index[i] * A->cols + A->col_index[j]] = A->data[i + (int64_t)j * A->lld];
        }
    }
    if (sum_doubles(A->grid->comm, all, A->rows * A->cols) != 0) call_fail(&call, NTK_ERR_INTERNAL,
                                                                           "MPI_Allreduce failed");
    for (int64_t i = 0; i < A->rows && A->cols > 0 && call.status == NTK_OK; i++) {
        memcpy(out + i * ld, all + i * A->cols, sizeof(double) * (size_t)A->cols);
    }
    free(all);
    return call_finish(&call);
}

void ntk_mpi_matrix_free(ntk_mpi_matrix *A) {
    if (handle_release(A, HANDLE_MATRIX)) matrix_release(A);
}

void matrix_release(ntk_mpi_matrix *A) {
    if (A == NULL) return;
    free(A->data);
    free(A->row_index);
    free(A->col_index);
    const ntk_mpi_grid *grid = A->grid;
    free(A);
    grid_drop(grid);
}

/* Kernels. */

typedef enum { KERNEL_INFINITE, KERNEL_EMPIRICAL } kernel_family;

/* Rows `index` (count of them) of X, packed. */
static double *pick_rows(ntk_mpi_call *call, const double *X, int64_t ldx, int64_t d, const int64_t *index, int count) {
    double *out = call_alloc(call, (int64_t)count * (d > 0 ? d : 1), sizeof(double), "the local points");
    if (out == NULL) return NULL;
    for (int i = 0; i < count; i++) memcpy(out + i * d, X + index[i] * ldx, sizeof(double) * (size_t)d);
    return out;
}

static int distributed_kernel(const char *function, const ntk_mpi_grid *grid, mpi_net net, kernel_family family,
                              ntk_kernel_kind kind, const ntk_mpi_points *X1, const ntk_mpi_points *X2,
                              const ntk_infinite_width_options *iw_options,
                              const ntk_empirical_ntk_options *emp_options,
                              ntk_mpi_matrix **out) {
    ntk_mpi_call call;
    if (out) *out = NULL;
    if (call_begin_handle(&call, function, grid, HANDLE_GRID, "grid") != NTK_OK) return call.status;
    if (out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    if (family == KERNEL_INFINITE && kind != NTK_KERNEL_NTK && kind != NTK_KERNEL_NNGP) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "kind is %d, must be NTK_KERNEL_NTK or NTK_KERNEL_NNGP", (int)kind);
    }
    double identity[7] = {0};
    int64_t d = 0, k = 0;
    int status = network_fingerprint(net, family == KERNEL_EMPIRICAL, identity, &d, &k);
    if (status != NTK_OK) call_fail_ntk(&call, status);
    identity[6] = family == KERNEL_INFINITE ? (double)kind : -1;
    static const char *const names[] = {"the network's input dimension", "the network's outputs",
                                        "the network's kind and depth",
                                        "the network's parameter count",
                                        "the network's architecture (a probe of its kernel)",
                                        "the network's parameters (a probe of its outputs)", "kind"};
    if (call_same(&call, identity, 7, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    const double *x1 = NULL, *x2 = NULL;
    double *own1 = NULL, *own2 = NULL;
    int64_t ld1 = 1, ld2 = 1, n1 = 0, n2 = 0;
    if (gather_points(&call, X1, d, "X1", &x1, &ld1, &n1, &own1) != NTK_OK) return call_finish(&call);
    int symmetric = X2 == NULL;
    if (symmetric) {
        x2 = x1; ld2 = ld1; n2 = n1;
    } else if (gather_points(&call, X2, d, "X2", &x2, &ld2, &n2, &own2) != NTK_OK) {
        free(own1);
        return call_finish(&call);
    }
    ntk_mpi_matrix *A = matrix_new_for(&call, grid, n1, n2);
    double *rows = NULL, *cols = NULL;
    if (A != NULL) {
        rows = pick_rows(&call, x1, ld1, d, A->row_index, A->local_rows);
        cols = pick_rows(&call, x2, ld2, d, A->col_index, A->local_cols);
    }
    if (call.status == NTK_OK && A->local_rows > 0 && A->local_cols > 0) {
        /* The local array is column-major: entry (i, j) at data[i + j lld] = K(x2_j, x1_i) in
         * the library's row-major output of K(cols, rows) with leading dimension lld. */
        int64_t dd = d > 0 ? d : 1;
        if (family == KERNEL_INFINITE) {
            status = net_infinite_width_kernels(net, A->local_cols, cols, dd, A->local_rows, rows, dd, iw_options,
                                                kind == NTK_KERNEL_NNGP ? A->data : NULL, A->lld,
                                                kind == NTK_KERNEL_NTK ? A->data : NULL, A->lld);
        } else {
            status = net_empirical_ntk(net, A->local_cols, cols, dd, A->local_rows, rows, dd, emp_options, A->data,
                                       A->lld);
        }
        if (status != NTK_OK) call_fail_ntk(&call, status);
        /* The diagonal of a symmetric kernel exactly as the single-process library has it. */
        if (status == NTK_OK && symmetric) {
            for (int j = 0; j < A->local_cols && call.status == NTK_OK; j++) {
                for (int i = 0; i < A->local_rows; i++) {
                    if (A->row_index[i] != A->col_index[j]) continue;
                    double value = 0;
                    const double *x = x1 + A->row_index[i] * ld1;
                    if (family == KERNEL_INFINITE) {
                        status = net_infinite_width_diagonal(net, 1, x, dd, kind == NTK_KERNEL_NNGP ? &value : NULL,
                                                             kind == NTK_KERNEL_NTK ? &value : NULL);
                    } else {
                        status = net_empirical_ntk_diagonal(net, 1, x, dd, &value);
                    }
                    if (status != NTK_OK) { call_fail_ntk(&call, status); break; }
                    A->data[i + (int64_t)j * A->lld] = value;
                }
            }
        }
    }
    free(rows);
    free(cols);
    free(own1);
    free(own2);
    return publish_matrix(&call, A, out);
}

int ntk_mpi_infinite_width_kernel(const ntk_mpi_grid *grid, const ntk_mlp *mlp, ntk_kernel_kind kind,
                                  const ntk_mpi_points *X1, const ntk_mpi_points *X2,
                                  const ntk_infinite_width_options *options, ntk_mpi_matrix **out) {
    return distributed_kernel("ntk_mpi_infinite_width_kernel", grid, (mpi_net){mlp, NULL}, KERNEL_INFINITE, kind, X1,
                              X2, options, NULL, out);
}

int ntk_mpi_network_infinite_width_kernel(const ntk_mpi_grid *grid, const ntk_network *network, ntk_kernel_kind kind,
                                          const ntk_mpi_points *X1, const ntk_mpi_points *X2,
                                          const ntk_infinite_width_options *options, ntk_mpi_matrix **out) {
    return distributed_kernel("ntk_mpi_network_infinite_width_kernel", grid, (mpi_net){NULL, network},
                              KERNEL_INFINITE, kind, X1, X2, options, NULL, out);
}

int ntk_mpi_empirical_ntk(const ntk_mpi_grid *grid, const ntk_mlp *mlp, const ntk_mpi_points *X1,
                          const ntk_mpi_points *X2, const ntk_empirical_ntk_options *options, ntk_mpi_matrix **out) {
    return distributed_kernel("ntk_mpi_empirical_ntk", grid, (mpi_net){mlp, NULL}, KERNEL_EMPIRICAL, NTK_KERNEL_NTK,
                              X1, X2, NULL, options, out);
}

int ntk_mpi_network_empirical_ntk(const ntk_mpi_grid *grid, const ntk_network *network, const ntk_mpi_points *X1,
                                  const ntk_mpi_points *X2, const ntk_empirical_ntk_options *options,
                                  ntk_mpi_matrix **out) {
    return distributed_kernel("ntk_mpi_network_empirical_ntk", grid, (mpi_net){NULL, network}, KERNEL_EMPIRICAL,
                              NTK_KERNEL_NTK, X1, X2, NULL, options, out);
}
