/* The collective error protocol, fingerprints of replicated arguments, and the small
 * collective helpers every entry point shares. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"

static _Thread_local char last_error[1200];

/* The table of live handles (a small array: programs hold a handful). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { const void *handle; enum handle_kind kind; } *registry;
static size_t registry_count, registry_capacity;

int handle_register(const void *handle, enum handle_kind kind) {
    pthread_mutex_lock(&registry_lock);
    int status = 0;
    if (registry_count == registry_capacity) {
        size_t capacity = registry_capacity ? 2 * registry_capacity : 64;
        void *grown = realloc(registry, capacity * sizeof *registry);
        if (grown == NULL) {
            status = -1;
        } else {
            registry = grown;
            registry_capacity = capacity;
        }
    }
    if (status == 0) {
        registry[registry_count].handle = handle;
        registry[registry_count].kind = kind;
        registry_count++;
    }
    pthread_mutex_unlock(&registry_lock);
    return status;
}

/* The index of a live handle of that kind, or -1 (call with the lock held). */
static long registry_find(const void *handle, enum handle_kind kind) {
    if (handle == NULL) return -1;
    for (size_t i = 0; i < registry_count; i++) {
        if (registry[i].handle == handle && registry[i].kind == kind) return (long)i;
    }
    return -1;
}

int handle_release(const void *handle, enum handle_kind kind) {
    pthread_mutex_lock(&registry_lock);
    long i = registry_find(handle, kind);
    if (i >= 0) registry[i] = registry[--registry_count];
    pthread_mutex_unlock(&registry_lock);
    return i >= 0;
}

int handle_live(const void *handle, enum handle_kind kind) {
    pthread_mutex_lock(&registry_lock);
    long i = registry_find(handle, kind);
    pthread_mutex_unlock(&registry_lock);
    return i >= 0;
}

int check_handle(const void *handle, enum handle_kind kind, const char *function, const char *name) {
    static const char *const type_names[] = {"", "ntk_mpi_grid", "ntk_mpi_matrix", "ntk_mpi_kernel_ridge",
                                             "ntk_mpi_spectral"};
    if (handle_live(handle, kind)) return NTK_OK;
    ntk_mpi_call call;
    call_begin(&call, function, MPI_COMM_NULL);
    call_fail(&call, NTK_ERR_INVALID_HANDLE, "%s is NULL or not a live %s (freed?)", name, type_names[kind]);
    return call_finish(&call);
}

int call_begin_handle(ntk_mpi_call *call, const char *function, const void *handle, enum handle_kind kind,
                      const char *name) {
    if (check_handle(handle, kind, function, name) != NTK_OK) {
        call_begin(call, function, MPI_COMM_NULL);
        call->status = NTK_ERR_INVALID_HANDLE;
        return call->status;
    }
    MPI_Comm comm = MPI_COMM_NULL;
    switch (kind) {
    case HANDLE_GRID: comm = ((const ntk_mpi_grid *)handle)->comm; break;
    case HANDLE_MATRIX: comm = ((const ntk_mpi_matrix *)handle)->grid->comm; break;
    case HANDLE_SPECTRAL: comm = ((const ntk_mpi_spectral *)handle)->grid->comm; break;
    case HANDLE_KERNEL_RIDGE: break; /* a model has no communicator: its calls begin on a matrix's */
    }
    call_begin(call, function, comm);
    return NTK_OK;
}

const char *ntk_mpi_last_error(void) { return last_error; }

void call_begin(ntk_mpi_call *call, const char *function, MPI_Comm comm) {
    call->function = function;
    call->comm = comm;
    call->rank = 0;
    call->size = 1;
    call->status = NTK_OK;
    call->agreed = 0;
    call->root = 0;
    call->message[0] = '\0';
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_rank(comm, &call->rank);
        MPI_Comm_size(comm, &call->size);
    }
}

int call_fail(ntk_mpi_call *call, int status, const char *format, ...) {
    if (call->status != NTK_OK) return status;
    call->status = status;
    call->root = call->rank;
    va_list args;
    va_start(args, format);
    vsnprintf(call->message, sizeof call->message, format, args);
    va_end(args);
    return status;
}

int call_fail_ntk(ntk_mpi_call *call, int status) {
    if (status == NTK_OK) return NTK_OK;
    return call_fail(call, status, "%s", ntk_last_error());
}

int call_agree(ntk_mpi_call *call) {
    /* Once agreed, every rank holds the same failure: nothing more to say. */
    if (call->comm == MPI_COMM_NULL || call->agreed) return call->status;
    int worst = 0;
    MPI_Allreduce(&call->status, &worst, 1, MPI_INT, MPI_MIN, call->comm);
    if (worst == NTK_OK) return NTK_OK;
    int candidate = call->status == worst ? call->rank : call->size, root = 0;
    MPI_Allreduce(&candidate, &root, 1, MPI_INT, MPI_MIN, call->comm);
    MPI_Bcast(call->message, (int)sizeof call->message, MPI_CHAR, root, call->comm);
    call->message[sizeof call->message - 1] = '\0';
    call->status = worst;
    call->root = root;
    call->agreed = 1;
    return worst;
}

int call_finish(ntk_mpi_call *call) {
    int status = call_agree(call);
    if (status != NTK_OK) {
        if (call->comm == MPI_COMM_NULL) {
            snprintf(last_error, sizeof last_error, "%s: %s", call->function, call->message);
        } else {
            snprintf(last_error, sizeof last_error, "%s: rank %d: %s", call->function, call->root, call->message);
        }
    }
    return status;
}

int call_same(ntk_mpi_call *call, const double *values, int count, const char *const *names, int status) {
    if (call_agree(call) != NTK_OK) return call->status;
    double *low = malloc(sizeof(double) * (size_t)(2 * count + 1));
    int ok = low != NULL;
    int all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, call->comm);
    if (!all_ok) {
        if (!ok) call_fail(call, NTK_ERR_OUT_OF_MEMORY, "out of memory for a consistency check");
        free(low);
        return call_agree(call);
    }
    double *high = low + count;
    MPI_Allreduce(values, low, count, MPI_DOUBLE, MPI_MIN, call->comm);
    MPI_Allreduce(values, high, count, MPI_DOUBLE, MPI_MAX, call->comm);
    for (int i = 0; i < count; i++) {
        if (!(low[i] == high[i])) {
            call_fail(call, status,
                      "%s differs across the ranks (from %.17g to %.17g): arguments documented as replicated must be "
                          "the same on every rank", names[i], low[i], high[i]);
            break;
        }
    }
    free(low);
    return call_agree(call);
}

int sum_doubles(MPI_Comm comm, double *values, int64_t count) {
    const int64_t chunk = (int64_t)1 << 28;
    for (int64_t start = 0; start < count; start += chunk) {
        int part = (int)(count - start < chunk ? count - start : chunk);
        if (MPI_Allreduce(MPI_IN_PLACE, values + start, part, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS) return -1;
    }
    return 0;
}

void fingerprint(const double *X, int64_t rows, int64_t cols, int64_t ld, double out[2]) {
    double plain = 0, weighted = 0;
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < cols; j++) {
            double x = X[i * ld + j];
            plain += x;
            weighted += x * (double)(((i * 131 + j) % 1009) + 1);
        }
    }
    out[0] = plain;
    out[1] = weighted;
}

int fits_in_memory(int64_t rows, int64_t cols) {
    int64_t physical = 0;
    ntk_memory_budget(NULL, &physical);
    if (physical <= 0) physical = INT64_MAX;
    return rows <= 0 || cols <= 0 || cols <= physical / 8 / rows;
}

void *call_alloc(ntk_mpi_call *call, int64_t count, int64_t size, const char *what) {
    if (count < 0 || size <= 0 || (count > 0 && count > INT64_MAX / size)) {
        call_fail(call, NTK_ERR_TOO_LARGE, "%s: %lld elements are too many", what, (long long)count);
        return NULL;
    }
    void *p = calloc((size_t)(count > 0 ? count : 1), (size_t)size);
    if (p == NULL) {
        call_fail(call, NTK_ERR_OUT_OF_MEMORY, "out of memory for %s (%lld bytes)", what, (long long)(count * size));
    }
    return p;
}

/* Checks a points descriptor on this rank (records the failure); returns its layout, or -1. */
static int check_points(ntk_mpi_call *call, const ntk_mpi_points *points, int64_t d, const char *name) {
    if (points == NULL) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s is NULL", name);
    } else if (points->layout != NTK_MPI_REPLICATED && points->layout != NTK_MPI_BY_ROWS) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->layout is %d, must be NTK_MPI_REPLICATED or NTK_MPI_BY_ROWS",
                  name, (int)points->layout);
    } else if (points->n < 0) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->n must be >= 0, got %lld", name, (long long)points->n);
    } else if (points->n > INT32_MAX) {
        call_fail(call, NTK_ERR_TOO_LARGE, "%s->n = %lld exceeds ScaLAPACK's 32-bit sizes", name,
                  (long long)points->n);
    } else if (points->n > 0 && points->X == NULL) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->X is NULL", name);
    } else if (points->n > 0 && points->ldx < (d > 0 ? d : 1)) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->ldx is %lld, must be >= d = %lld", name,
                  (long long)points->ldx, (long long)d);
    } else {
        for (int64_t i = 0; i < points->n; i++) {
            for (int64_t j = 0; j < d; j++) {
                if (!isfinite(points->X[i * points->ldx + j])) {
                    call_fail(call, NTK_ERR_NON_FINITE, "%s->X (row %lld, column %lld) is %g, must be finite", name,
                              (long long)i, (long long)j, points->X[i * points->ldx + j]);
                    return -1;
                }
            }
        }
        return (int)points->layout;
    }
    return -1;
}

int gather_points(ntk_mpi_call *call, const ntk_mpi_points *points, int64_t d, const char *name,
                  const double **X, int64_t *ldx, int64_t *n, double **owned) {
    *X = NULL;
    *owned = NULL;
    *n = 0;
    *ldx = d > 0 ? d : 1;
    int layout = check_points(call, points, d, name);
    double shape[1] = {(double)layout};
    static const char *const layout_name[] = {"the points' layout"};
    if (call_same(call, shape, 1, layout_name, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call->status;
    if (layout == NTK_MPI_REPLICATED) {
        double fp[3] = {(double)points->n, 0, 0};
        fingerprint(points->X, points->n, d, points->ldx, fp + 1);
        static const char *const names[] = {"n (replicated points)", "the replicated points (a checksum)",
                                            "the replicated points (a weighted checksum)"};
        if (call_same(call, fp, 3, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call->status;
        *X = points->X;
        *ldx = points->ldx;
        *n = points->n;
        return NTK_OK;
    }
    /* By rows: every rank's count, then the rows in rank order. */
    int64_t *counts = call_alloc(call, call->size, sizeof(int64_t), "row counts");
    if (call_agree(call) != NTK_OK) { free(counts); return call->status; }
    int64_t mine = points->n;
    MPI_Allgather(&mine, 1, MPI_INT64_T, counts, 1, MPI_INT64_T, call->comm);
    int64_t total = 0;
    for (int r = 0; r < call->size; r++) total += counts[r];
    int64_t width = d > 0 ? d : 1;
    double *all = call_alloc(call, total * width, sizeof(double), "the gathered points");
    double *packed = call_alloc(call, mine * width, sizeof(double), "the packed points");
    if (call_agree(call) != NTK_OK) { free(counts); free(all); free(packed); return call->status; }
    for (int64_t i = 0; i < mine; i++) {
        memcpy(packed + i * width, points->X + i * points->ldx, sizeof(double) * (size_t)d);
    }
    /* Allgatherv takes int counts: send in row chunks small enough for them. */
    int *recv = malloc(sizeof(int) * (size_t)call->size), *displs = malloc(sizeof(int) * (size_t)call->size);
    int fits = recv != NULL && displs != NULL && total * width < INT32_MAX;
    int all_fit = 0;
    MPI_Allreduce(&fits, &all_fit, 1, MPI_INT, MPI_MIN, call->comm);
    if (!all_fit) {
        call_fail(call, NTK_ERR_TOO_LARGE, "%s: %lld x %lld gathered points exceed MPI's int counts", name,
                  (long long)total, (long long)d);
    } else {
        int64_t offset = 0;
        for (int r = 0; r < call->size; r++) {
            recv[r] = (int)(counts[r] * width);
            displs[r] = (int)offset;
            offset += counts[r] * width;
        }
        MPI_Allgatherv(packed, (int)(mine * width), MPI_DOUBLE, all, recv, displs, MPI_DOUBLE, call->comm);
    }
    free(recv);
    free(displs);
    free(counts);
    free(packed);
    if (call_agree(call) != NTK_OK) { free(all); return call->status; }
    *X = all;
    *owned = all;
    *ldx = width;
    *n = total;
    return NTK_OK;
}

double *residual_of(ntk_mpi_call *call, const ntk_targets *targets, int64_t n, const char *name) {
    if (targets == NULL) { call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s is NULL", name); return NULL; }
    int64_t k = targets->k;
    if (k < 0) { call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->k must be >= 0, got %lld", name,
                           (long long)k); return NULL; }
    if (!fits_in_memory(n, k)) {
        call_fail(call, NTK_ERR_TOO_LARGE, "%s: %lld x %lld targets exceed this machine's memory", name, (long long)n,
                  (long long)k);
        return NULL;
    }
    if (n * k > 0 && targets->Y == NULL) { call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->Y is NULL",
                                                     name); return NULL; }
    if (n * k > 0 && targets->ldy < k) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->ldy is %lld, must be >= k = %lld", name, (long long)targets->ldy,
                  (long long)k);
        return NULL;
    }
    if (n * k > 0 && targets->f0 != NULL && targets->ldf0 < k) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s->ldf0 is %lld, must be >= k = %lld", name,
                  (long long)targets->ldf0, (long long)k);
        return NULL;
    }
    double *r = call_alloc(call, n * k, sizeof(double), "the residual Y - f0");
    if (r == NULL) return NULL;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t c = 0; c < k; c++) {
            double y = targets->Y[i * targets->ldy + c], f = targets->f0 ? targets->f0[i * targets->ldf0 + c] : 0;
            if (!isfinite(y) || !isfinite(f)) {
                call_fail(call, NTK_ERR_NON_FINITE, "%s->%s (row %lld, column %lld) is %g, must be finite", name,
                          isfinite(y) ? "f0" : "Y", (long long)i, (long long)c, isfinite(y) ? f : y);
                free(r);
                return NULL;
            }
            r[i * k + c] = y - f;
        }
    }
    return r;
}

/* out = op(A) B summed over the ranks, op(A) = A or A^T: each rank multiplies its local array
 * by the rows of B its columns (rows, transposed) select, scatters the result into the rows of
 * out its rows (columns) own, and one allreduce adds the ranks' parts. */
static int distributed_product(ntk_mpi_call *call, const ntk_mpi_matrix *A, int transpose, const double *B,
                               int64_t width, double *out) {
    int in_count = transpose ? A->local_rows : A->local_cols, out_count = transpose ? A->local_cols : A->local_rows;
    const int64_t *in_index = transpose ? A->row_index : A->col_index,
    *out_index = transpose ? A->col_index : A->row_index;
    int64_t out_rows = transpose ? A->cols : A->rows;
    if (out_rows * width > 0) memset(out, 0, sizeof(double) * (size_t)(out_rows * width));
    double *packed = call_alloc(call, (int64_t)in_count * width, sizeof(double), "a block of a product");
    double *block = call_alloc(call, (int64_t)out_count * width, sizeof(double), "a block of a product");
    if (call_agree(call) != NTK_OK) { free(packed); free(block); return call->status; }
    if (in_count > 0 && out_count > 0 && width > 0) {
        for (int i = 0; i < in_count; i++) memcpy(packed + (int64_t)i * width, B + in_index[i] * width,
                                                  sizeof(double) * (size_t)width);
        /* block (out_count x width, column-major) = op(A_loc) * packed (in_count x width, row-major). */
        cblas_dgemm(CblasColMajor, transpose ? CblasTrans : CblasNoTrans, CblasTrans, out_count, (int)width, in_count,
                    1.0,
                    A->data, A->lld, packed, (int)width, 0.0, block, out_count);
        for (int i = 0; i < out_count; i++) {
            double *row = out + out_index[i] * width;
            for (int64_t c = 0; c < width; c++) row[c] += block[i + c * out_count];
        }
    }
    free(packed);
    free(block);
    if (sum_doubles(call->comm, out, out_rows * width) != 0) call_fail(call, NTK_ERR_INTERNAL, "MPI_Allreduce failed");
    return call_agree(call);
}

int distributed_times(ntk_mpi_call *call, const ntk_mpi_matrix *A, const double *B, int64_t width, double *out) {
    return distributed_product(call, A, 0, B, width, out);
}

int distributed_transpose_times(ntk_mpi_call *call, const ntk_mpi_matrix *A, const double *B, int64_t width,
                                double *out) {
    return distributed_product(call, A, 1, B, width, out);
}
