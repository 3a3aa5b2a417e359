/* Distributed kernel ridge regression (PDPOTRF/PDPOTRS) and the distributed spectral solver
 * (PDSYEVD): gradient flow at any time, ridge paths, GCV and leave-one-out. The spectral
 * formulas (eigenvalue policy, filters, GCV, leave-one-out) are libntk's own, reached through
 * its spectral calculus (ntk.h, "Experimental: ntk_x_spectrum_*"); here only the n x n
 * products with the eigenvectors run on the block-cyclic matrices. Everything of size n x k is
 * replicated. */
#include <float.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scalapack.h"

struct ntk_mpi_kernel_ridge {
    int64_t n, k;
    double ridge;
    double *alpha;      /* n x k, replicated */
    double *train;      /* Y - z alpha, n x k */
};

/* Begins a call on the matrix's grid (see call_begin_handle). */
static int begin_on(ntk_mpi_call *call, const char *function, const ntk_mpi_matrix *A, const char *name) {
    return call_begin_handle(call, function, A, HANDLE_MATRIX, name);
}

/* Records a non-finite entry of the local array. */
static void check_local_finite(ntk_mpi_call *call, const ntk_mpi_matrix *A, const char *name) {
    for (int j = 0; j < A->local_cols; j++) {
        for (int i = 0; i < A->local_rows; i++) {
            double v = A->data[i + (int64_t)j * A->lld];
            if (!isfinite(v)) {
                call_fail(call, NTK_ERR_NON_FINITE, "%s (row %lld, column %lld) is %g, must be finite", name,
                          (long long)A->row_index[i], (long long)A->col_index[j], v);
                return;
            }
        }
    }
}

/* A copy of A's local array in a new matrix with the same layout. */
static ntk_mpi_matrix *copy_of(ntk_mpi_call *call, const ntk_mpi_matrix *A) {
    ntk_mpi_matrix *B = call_alloc(call, 1, sizeof *B, "a distributed matrix");
    if (B == NULL) return NULL;
    *B = *A;
    grid_retain(B->grid);  /* the copy holds the grid as every matrix does */
    B->data = call_alloc(call, (int64_t)A->lld * A->local_cols, sizeof(double), "a copy of a distributed matrix");
    B->row_index = call_alloc(call, A->local_rows, sizeof(int64_t), "row indices");
    B->col_index = call_alloc(call, A->local_cols, sizeof(int64_t), "column indices");
    if (B->data == NULL || B->row_index == NULL || B->col_index == NULL) { matrix_release(B); return NULL; }
    memcpy(B->data, A->data, sizeof(double) * (size_t)((int64_t)A->lld * A->local_cols));
    memcpy(B->row_index, A->row_index, sizeof(int64_t) * (size_t)A->local_rows);
    memcpy(B->col_index, A->col_index, sizeof(int64_t) * (size_t)A->local_cols);
    return B;
}

/* Checks replicated n x k targets and returns their residual (NULL on failure), after
 * agreeing that they are the same everywhere. */
static double *replicated_residual(ntk_mpi_call *call, const ntk_targets *targets, int64_t n) {
    double *r = residual_of(call, targets, n, "targets");
    double fp[3] = {targets ? (double)targets->k : -1, 0, 0};
    if (r != NULL) fingerprint(r, n, targets->k, targets->k > 0 ? targets->k : 1, fp + 1);
    static const char *const names[] = {"targets->k", "the targets Y - f0 (a checksum)",
                                        "the targets Y - f0 (a weighted checksum)"};
    if (call_same(call, fp, 3, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) { free(r); return NULL; }
    return r;
}

/* The ridge scale of (possibly NULL, possibly older) options; records a bad value. */
static ntk_ridge_scale ridge_scale_of(ntk_mpi_call *call, const ntk_kernel_ridge_options *options) {
    ntk_ridge_scale scale = NTK_RIDGE_ABSOLUTE;
    if (options == NULL) return scale;
    if (options->size < sizeof(size_t)) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "options->size is %zu, too small", options->size);
    } else if (options->size >= offsetof(ntk_kernel_ridge_options, ridge_scale) + sizeof(ntk_ridge_scale)) {
        scale = options->ridge_scale;
    }
    if (scale != NTK_RIDGE_ABSOLUTE && scale != NTK_RIDGE_RELATIVE) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT,
                  "options->ridge_scale is %d, must be NTK_RIDGE_ABSOLUTE or NTK_RIDGE_RELATIVE", (int)scale);
    }
    return scale;
}

/* Collective: the absolute ridge (a relative one scales by K's mean diagonal). */
static double absolute_ridge(ntk_mpi_call *call, const ntk_mpi_matrix *K, double ridge, ntk_ridge_scale scale) {
    double trace = 0;
    for (int j = 0; j < K->local_cols; j++) {
        for (int i = 0; i < K->local_rows; i++) {
            if (K->row_index[i] == K->col_index[j]) trace += K->data[i + (int64_t)j * K->lld];
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, &trace, 1, MPI_DOUBLE, MPI_SUM, call->comm);
    return scale == NTK_RIDGE_RELATIVE ? ridge * (K->rows > 0 ? trace / (double)K->rows : 0) : ridge;
}

/* The progress protocol of a long collective step: every rank reports `fraction` to its own
 * callback (if any); a non-zero answer on any rank makes every rank fail with CANCELLED at this
 * same step (one agreement), naming the lowest rank that cancelled. Returns the agreed status. */
static int collective_progress(ntk_mpi_call *call, ntk_progress_fn progress, void *user, double fraction) {
    if (progress != NULL && progress(user, fraction) != 0) {
        call_fail(call, NTK_ERR_CANCELLED, "cancelled (the progress callback asked to stop at %.0f%%)",
                  100 * fraction);
    }
    return call_agree(call);
}

/* Collective: F <- chol(F) (lower), blocked right-looking in panels (a multiple of the grid's
 * block size, narrower as n grows so that each takes well under a second): PDPOTRF of the
 * diagonal block, PDTRSM of the panel below it, PDSYRK of the trailing matrix; progress (by
 * flops) and an agreed cancellation between panels, so a cancel on any rank stops every rank
 * within one panel's time. As fast as one PDPOTRF call (which runs the same panels inside). */
static int blocked_cholesky(ntk_mpi_call *call, ntk_mpi_matrix *F, double z, ntk_progress_fn progress, void *user) {
    int n = (int)F->rows, nb = F->grid->nb, info = 0;
    /* Panels of ~1e9 flops of trailing update (n^2 w), at most 512 columns, at least one block. */
    double blocks = fmin(512.0 / nb, floor(1e9 / ((double)n * n * nb)));
    int panel = nb * (blocks > 1 ? (int)blocks : 1);
    double total = (double)n * n * n / 3, done = 0, minus = -1, plus = 1;
    if (collective_progress(call, progress, user, 0) != NTK_OK) return call->status;
    for (int j = 1; j <= n; j += panel) {
        int width = n - j + 1 < panel ? n - j + 1 : panel, below = n - j - width + 1, jb = j + width;
        pdpotrf_("L", &width, F->data, &j, &j, F->desc, &info, 1);
        if (info > 0) {
            call_fail(call, NTK_ERR_NOT_POSITIVE_DEFINITE, "K_train + z I (z = %g) is not positive definite "
                      "(PDPOTRF: the leading minor of order %d is not positive); use a ridge > 0", z, j - 1 + info);
        } else if (info < 0) {
            call_fail(call, NTK_ERR_INTERNAL, "PDPOTRF rejected argument %d", -info);
        }
        if (call_agree(call) != NTK_OK) return call->status;
        if (below > 0) {
            pdtrsm_("R", "L", "T", "N", &below, &width, &plus, F->data, &j, &j, F->desc, F->data, &jb, &j, F->desc,
                    1, 1, 1, 1);
            pdsyrk_("L", "N", &below, &width, &minus, F->data, &jb, &j, F->desc, &plus, F->data, &jb, &jb, F->desc,
                    1, 1);
        }
        double remaining = (double)(n - jb + 1);
        done = total - remaining * remaining * remaining / 3;
        if (collective_progress(call, progress, user, done / total) != NTK_OK) return call->status;
    }
    return NTK_OK;
}

/* Collective: F <- chol(F + z I) (blocked_cholesky), then alpha (n x k, replicated) = F^-1 r
 * through B, the residual r laid out on the grid (PDPOTRS). Records failures; returns the agreed
 * status. */
static int cholesky_solve(ntk_mpi_call *call, ntk_mpi_matrix *F, ntk_mpi_matrix *B, const double *r, int64_t k,
                          double z, double *alpha, ntk_progress_fn progress, void *user) {
    int64_t n = F->rows;
    for (int j = 0; j < F->local_cols; j++) {
        for (int i = 0; i < F->local_rows; i++) {
            if (F->row_index[i] == F->col_index[j]) F->data[i + (int64_t)j * F->lld] += z;
        }
    }
    if (n == 0) return NTK_OK;
    int nn = (int)n, one = 1, info = 0;
    if (blocked_cholesky(call, F, z, progress, user) != NTK_OK) return call->status;
    if (call_agree(call) != NTK_OK || k == 0) return call->status;
    for (int j = 0; j < B->local_cols; j++) {
        for (int i = 0; i < B->local_rows; i++) {
            B->data[i + (int64_t)j * B->lld] = r[B->row_index[i] * k + B->col_index[j]];
        }
    }
    int kk = (int)k;
    pdpotrs_("L", &nn, &kk, F->data, &one, &one, F->desc, B->data, &one, &one, B->desc, &info, 1);
    if (info != 0) call_fail(call, NTK_ERR_INTERNAL, "PDPOTRS failed (info %d)", info);
    for (int j = 0; j < B->local_cols; j++) {
        for (int i = 0; i < B->local_rows; i++) {
            alpha[B->row_index[i] * k + B->col_index[j]] = B->data[i + (int64_t)j * B->lld];
        }
    }
    if (sum_doubles(call->comm, alpha, n * k) != 0) call_fail(call, NTK_ERR_INTERNAL, "MPI_Allreduce failed");
    return call_agree(call);
}

int ntk_mpi_kernel_ridge_fit(const ntk_mpi_matrix *K, const ntk_targets *targets, double ridge,
                             const ntk_kernel_ridge_options *options, ntk_mpi_kernel_ridge **out) {
    ntk_mpi_call call;
    if (out) *out = NULL;
    if (begin_on(&call, "ntk_mpi_kernel_ridge_fit", K, "K_train") != NTK_OK) return call.status;
    if (out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    if (K->rows != K->cols) {
        call_fail(&call, NTK_ERR_DIMENSION_MISMATCH, "K_train is %lld x %lld, must be square", (long long)K->rows,
                  (long long)K->cols);
    }
    if (!isfinite(ridge) || ridge < 0) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "ridge must be >= 0 and finite, got %g", ridge);
    }
    ntk_ridge_scale scale = ridge_scale_of(&call, options);
    check_local_finite(&call, K, "K_train");
    double settings[2] = {ridge, (double)scale};
    static const char *const names[] = {"ridge", "options->ridge_scale"};
    if (call_same(&call, settings, 2, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    int64_t n = K->rows, k = targets ? targets->k : 0;
    double *r = replicated_residual(&call, targets, n);
    if (r == NULL) return call_finish(&call);
    double z = absolute_ridge(&call, K, ridge, scale);
    ntk_mpi_matrix *F = copy_of(&call, K);
    ntk_mpi_kernel_ridge *model = call_alloc(&call, 1, sizeof *model, "the model");
    double *alpha = call_alloc(&call, n * k, sizeof(double), "alpha");
    double *train = call_alloc(&call, n * k, sizeof(double), "the train predictions");
    /* B: the residual as a distributed n x k matrix on the same grid. */
    ntk_mpi_matrix *B = matrix_new_for(&call, K->grid, n, k);
    ntk_progress_fn progress = options != NULL && options->size >= offsetof(ntk_kernel_ridge_options, progress_user)
                                   + sizeof(void *) ? options->progress : NULL;
    void *user = progress != NULL ? options->progress_user : NULL;
    if (call_agree(&call) != NTK_OK || cholesky_solve(&call, F, B, r, k, z, alpha, progress, user) != NTK_OK) {
        goto failed;
    }
    for (int64_t i = 0; i < n * k; i++) {
        train[i] = (targets->Y[(i / k) * targets->ldy + i % k]) - z * alpha[i];
        if (!isfinite(alpha[i])) { call_fail(&call, NTK_ERR_NUMERICAL, "alpha is not finite (overflow)"); break; }
    }
    if (call_agree(&call) != NTK_OK) goto failed;
    model->n = n;
    model->k = k;
    model->ridge = z;
    model->alpha = alpha;
    model->train = train;
    if (handle_register(model, HANDLE_KERNEL_RIDGE) != 0) {
        call_fail(&call, NTK_ERR_OUT_OF_MEMORY, "out of memory for the handle table");
    }
    if (call_agree(&call) != NTK_OK) {
        handle_release(model, HANDLE_KERNEL_RIDGE);
        goto failed;
    }
    matrix_release(F);
    matrix_release(B);
    free(r);
    *out = model;
    return NTK_OK;
failed:
    matrix_release(F);
    matrix_release(B);
    free(model);
    free(alpha);
    free(train);
    free(r);
    return call_finish(&call);
}

/* Adds replicated offsets f0 (rows x k) to out; checks them first. */
static void check_offsets(ntk_mpi_call *call, const double *f0, int64_t ldf0, int64_t rows, int64_t k,
                          const char *name) {
    if (f0 == NULL || rows <= 0 || k <= 0) return;  /* a negative k is the targets' check to report */
    if (!fits_in_memory(rows, k)) {
        call_fail(call, NTK_ERR_TOO_LARGE, "%s: %lld x %lld offsets exceed this machine's memory", name,
                  (long long)rows, (long long)k);
        return;
    }
    if (ldf0 < k) { call_fail(call, NTK_ERR_INVALID_ARGUMENT, "%s: ld is %lld, must be >= k = %lld", name,
                              (long long)ldf0, (long long)k); return; }
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t c = 0; c < k; c++) {
            if (!isfinite(f0[i * ldf0 + c])) {
                call_fail(call, NTK_ERR_NON_FINITE, "%s (row %lld, column %lld) is %g, must be finite", name,
                          (long long)i,
                          (long long)c, f0[i * ldf0 + c]);
                return;
            }
        }
    }
}

int ntk_mpi_kernel_ridge_predict(const ntk_mpi_kernel_ridge *model, const ntk_mpi_matrix *K_test,
                                 const double *f0_test, int64_t ldf0, double *pred, int64_t ldp) {
    ntk_mpi_call call;
    if (begin_on(&call, "ntk_mpi_kernel_ridge_predict", K_test, "K_test") != NTK_OK) return call.status;
    if (!handle_live(model, HANDLE_KERNEL_RIDGE)) {
        call_fail(&call, NTK_ERR_INVALID_HANDLE, "model is NULL or not a live ntk_mpi_kernel_ridge (freed?)");
        model = NULL;
    }
    int64_t m = K_test->rows, k = model ? model->k : 0;
    if (model && K_test->cols != model->n) {
        call_fail(&call, NTK_ERR_DIMENSION_MISMATCH, "K_test has %lld columns but the model has n = %lld",
                  (long long)K_test->cols,
                  (long long)model->n);
    }
    if (m * k > 0 && pred == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "pred is NULL");
    if (m * k > 0 && ldp < k) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "ldp is %lld, must be >= k = %lld",
                                        (long long)ldp, (long long)k);
    check_offsets(&call, f0_test, ldf0, m, k, "f0_test");
    check_local_finite(&call, K_test, "K_test");
    double *result = call_alloc(&call, m * k, sizeof(double), "the predictions");
    if (call_agree(&call) != NTK_OK) { free(result); return call_finish(&call); }
    if (distributed_times(&call, K_test, model->alpha, k,
                          result) != NTK_OK) { free(result); return call_finish(&call); }
    for (int64_t i = 0; i < m; i++) {
        for (int64_t c = 0; c < k; c++) pred[i * ldp + c] = (f0_test ? f0_test[i * ldf0 + c] : 0) + result[i * k + c];
    }
    free(result);
    return NTK_OK;
}

int ntk_mpi_kernel_ridge_results(const ntk_mpi_kernel_ridge *model, double *pred_train, int64_t ldp,
                                 double *alpha, int64_t lda) {
    int live = check_handle(model, HANDLE_KERNEL_RIDGE, "ntk_mpi_kernel_ridge_results", "model");
    if (live != NTK_OK) return live;
    int64_t k = model->k;
    if ((pred_train && ldp < k) || (alpha && lda < k)) return NTK_ERR_INVALID_ARGUMENT;
    for (int64_t i = 0; i < model->n; i++) {
        if (pred_train) memcpy(pred_train + i * ldp, model->train + i * k, sizeof(double) * (size_t)k);
        if (alpha) memcpy(alpha + i * lda, model->alpha + i * k, sizeof(double) * (size_t)k);
    }
    return NTK_OK;
}

int ntk_mpi_kernel_ridge_info(const ntk_mpi_kernel_ridge *model, int64_t *n, int64_t *k, double *ridge) {
    int live = check_handle(model, HANDLE_KERNEL_RIDGE, "ntk_mpi_kernel_ridge_info", "model");
    if (live != NTK_OK) return live;
    if (n) *n = model->n;
    if (k) *k = model->k;
    if (ridge) *ridge = model->ridge;
    return NTK_OK;
}

void ntk_mpi_kernel_ridge_free(ntk_mpi_kernel_ridge *model) {
    if (!handle_release(model, HANDLE_KERNEL_RIDGE)) return;
    free(model->alpha);
    free(model->train);
    free(model);
}

/* The spectral solver. */

/* PDSYEVD's real workspace for an nn x nn matrix on the grid, given its query. The query
 * undercounts for small blocks and for nn below the block size: the back transformation
 * (PDORMTR) then finds too little workspace, says so on stdout and returns without applying
 * itself, leaving wrong eigenvectors. So: PDSYEVD's documented minimum,
 * max(1 + 6N + 2 NP NQ, TRILWMIN) + 2N with TRILWMIN = 3N + max(NB (NP + 1), 3 NB), NP x NQ this
 * rank's share of the matrix, plus PDORMTR's own, NB (NB - 1) / 2 + (NP + NQ) NB + NB^2. */
static int pdsyevd_workspace(ntk_mpi_call *call, const ntk_mpi_grid *grid, int nn, double query) {
    int zero = 0, nb = grid->nb;
    int np = numroc_(&nn, &nb, &grid->myrow, &zero, &grid->nprow);
    int nq = numroc_(&nn, &nb, &grid->mycol, &zero, &grid->npcol);
    double trilwmin = 3.0 * nn + fmax((double)nb * (np + 1), 3.0 * nb);
    double minimum = fmax(1.0 + 6.0 * nn + 2.0 * np * nq, trilwmin) + 2.0 * nn;
    double ormtr = nb * (nb - 1.0) / 2 + (double)(np + nq) * nb + (double)nb * nb;
    double wanted = fmax(query, minimum) + ormtr + 1;
    if (wanted > INT32_MAX) {
        call_fail(call, NTK_ERR_TOO_LARGE, "PDSYEVD's workspace exceeds 32-bit sizes");
        return 1;
    }
    return (int)wanted;
}

int ntk_mpi_spectral_create(const ntk_mpi_matrix *K, ntk_negative_eigenvalues policy, ntk_mpi_spectral **out) {
    ntk_mpi_call call;
    if (out) *out = NULL;
    if (begin_on(&call, "ntk_mpi_spectral_create", K, "K") != NTK_OK) return call.status;
    if (out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    if (K->rows != K->cols) {
        call_fail(&call, NTK_ERR_DIMENSION_MISMATCH, "K is %lld x %lld, must be square", (long long)K->rows,
                  (long long)K->cols);
    }
    if (policy != NTK_NEGATIVE_CLAMP && policy != NTK_NEGATIVE_ERROR) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "policy is %d, must be NTK_NEGATIVE_CLAMP or NTK_NEGATIVE_ERROR",
                  (int)policy);
    }
    check_local_finite(&call, K, "K");
    double settings[1] = {(double)policy};
    static const char *const names[] = {"policy"};
    if (call_same(&call, settings, 1, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    int64_t n = K->rows;
    ntk_mpi_matrix *A = copy_of(&call, K), *Z = copy_of(&call, K);
    double *w = call_alloc(&call, n, sizeof(double), "the eigenvalues");
    ntk_mpi_spectral *solver = call_alloc(&call, 1, sizeof *solver, "the solver");
    double *work = NULL;
    int *iwork = NULL;
    if (call_agree(&call) != NTK_OK) goto failed;
    if (n > 0) {
        int nn = (int)n, one = 1, info = 0, lwork = -1, liwork = 1;
        double query = 0;
        int iquery = 0;
        pdsyevd_("V", "L", &nn, A->data, &one, &one, A->desc, w, Z->data, &one, &one, Z->desc, &query, &lwork, &iquery,
                 &liwork, &info, 1, 1);
        lwork = pdsyevd_workspace(&call, K->grid, nn, query);
        liwork = iquery > 7 * nn + 8 * K->grid->npcol + 2 ? iquery : 7 * nn + 8 * K->grid->npcol + 2;
        work = call_alloc(&call, lwork, sizeof(double), "PDSYEVD's workspace");
        iwork = call_alloc(&call, liwork, sizeof(int), "PDSYEVD's integer workspace");
        if (call_agree(&call) != NTK_OK) goto failed;
        pdsyevd_("V", "L", &nn, A->data, &one, &one, A->desc, w, Z->data, &one, &one, Z->desc, work, &lwork, iwork,
                 &liwork, &info, 1, 1);
        if (info != 0) call_fail(&call, NTK_ERR_NUMERICAL, "PDSYEVD failed (info %d)", info);
        if (call_agree(&call) != NTK_OK) goto failed;
    }
    /* libntk's eigenvalue policy (the same on every rank: the eigenvalues are replicated). */
    if (n > 0) call_fail_ntk(&call, ntk_x_spectrum_regularize(n, w, policy, NULL, NULL));
    if (call_agree(&call) != NTK_OK) goto failed;
    free(work);
    free(iwork);
    matrix_release(A);
    solver->grid = K->grid;
    solver->vectors = Z;
    solver->eigenvalues = w;
    solver->n = n;
    if (handle_register(solver, HANDLE_SPECTRAL) != 0) call_fail(&call, NTK_ERR_OUT_OF_MEMORY,
                                                                 "out of memory for the handle table");
    if (call_agree(&call) != NTK_OK) {
        handle_release(solver, HANDLE_SPECTRAL);
        matrix_release(Z);
        free(w);
        free(solver);
        return call_finish(&call);
    }
    *out = solver;
    return NTK_OK;
failed:
    free(work);
    free(iwork);
    matrix_release(A);
    matrix_release(Z);
    free(w);
    free(solver);
    return call_finish(&call);
}

int ntk_mpi_spectral_eigenvalues(const ntk_mpi_spectral *solver, double *w) {
    int live = check_handle(solver, HANDLE_SPECTRAL, "ntk_mpi_spectral_eigenvalues", "solver");
    if (live != NTK_OK) return live;
    if (w == NULL && solver->n > 0) return NTK_ERR_INVALID_ARGUMENT;
    if (solver->n > 0) memcpy(w, solver->eigenvalues, sizeof(double) * (size_t)solver->n);
    return NTK_OK;
}

/* Checks a replicated grid on this rank (records the first bad value); returns its count, or 0.
 * libntk validates it (times, ridges, learning rate): filtering an empty spectrum writes nothing. */
static int64_t check_grid(ntk_mpi_call *call, const ntk_grid *grid) {
    const ntk_x_spectrum empty = {0, 0, 0, NULL, NULL, 1, 0};
    call_fail_ntk(call, ntk_x_spectrum_filter(&empty, grid, NTK_X_FILTER_VALUE, NULL, 1));
    return call->status == NTK_OK ? grid->count : 0;
}

/* out[t][i][c] = f0[i][c] + result[i][t k + c] for count grid points of rows x k predictions. */
static void write_predictions(ntk_mpi_call *call, int64_t count, int64_t rows, int64_t k, const double *result,
                              const double *f0, int64_t ldf0, double *out) {
    for (int64_t t = 0; t < count; t++) {
        for (int64_t i = 0; i < rows; i++) {
            for (int64_t col = 0; col < k; col++) {
                double v = (f0 ? f0[i * ldf0 + col] : 0) + result[i * count * k + t * k + col];
                if (!isfinite(v)) call_fail(call, NTK_ERR_NUMERICAL, "a prediction overflowed");
                out[(t * rows + i) * k + col] = v;
            }
        }
    }
}

int ntk_mpi_spectral_predict(const ntk_mpi_spectral *solver, const ntk_targets *targets, const ntk_grid *grid,
                             const ntk_mpi_matrix *K_test, const double *f0_test, int64_t ldf0,
                             double *pred_train, double *pred_test) {
    ntk_mpi_call call;
    if (call_begin_handle(&call, "ntk_mpi_spectral_predict", solver, HANDLE_SPECTRAL, "solver") != NTK_OK) {
        return call.status;
    }
    if (K_test != NULL && !handle_live(K_test, HANDLE_MATRIX)) {
        call_fail(&call, NTK_ERR_INVALID_HANDLE, "K_test is not a live ntk_mpi_matrix (freed?)");
        K_test = NULL;
    }
    int64_t n = solver->n, k = targets ? targets->k : 0, m = K_test ? K_test->rows : 0;
    int64_t count = check_grid(&call, grid);
    double eta = grid ? grid->learning_rate : 0;
    if (K_test && K_test->grid != solver->grid) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "K_test is on another grid than the solver");
    }
    if (K_test && K_test->cols != n) {
        call_fail(&call, NTK_ERR_DIMENSION_MISMATCH, "K_test has %lld columns but K has n = %lld",
                  (long long)K_test->cols, (long long)n);
    }
    if (pred_test && K_test == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "pred_test needs K_test");
    if (K_test) { check_offsets(&call, f0_test, ldf0, m, k, "f0_test"); check_local_finite(&call, K_test, "K_test"); }
    double settings[3] = {(double)count, eta, (double)(K_test != NULL)};
    static const char *const names[] = {"grid->count", "grid->learning_rate", "whether K_test is given"};
    if (call_same(&call, settings, 3, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    if (count > 0 && k > 0 && (!fits_in_memory(count, k) || !fits_in_memory(n > m ? n : m, count * k))) {
        call_fail(&call, NTK_ERR_TOO_LARGE, "%lld grid points x %lld targets x %lld rows exceed this machine's memory",
                  (long long)count, (long long)k, (long long)(n > m ? n : m));
    }
    double *r = replicated_residual(&call, targets, n);
    if (r == NULL) return call_finish(&call);
    int64_t width = count * k;
    double *p = call_alloc(&call, n * k, sizeof(double), "the projected targets");
    double *c = call_alloc(&call, n * width, sizeof(double), "the filtered coefficients");
    double *result = call_alloc(&call, (n > m ? n : m) * width, sizeof(double), "the predictions");
    double *beta = call_alloc(&call, n * width, sizeof(double), "the dual coefficients");
    if (call_agree(&call) != NTK_OK || width == 0 || n == 0) goto done;
    /* P = V^T (Y - f0). */
    if (distributed_transpose_times(&call, solver->vectors, r, k, p) != NTK_OK) goto done;
    ntk_x_spectrum spectrum = {n, n, k, solver->eigenvalues, p, k, 0};
    for (int pass = 0; pass < 2; pass++) {
        double *out = pass == 0 ? pred_train : pred_test;
        if (out == NULL) continue;
        /* c = lambda g(lambda) P (train) or g(lambda) P (test). */
        ntk_x_filter_form form = pass == 0 ? NTK_X_FILTER_SHRINKAGE : NTK_X_FILTER_VALUE;
        call_fail_ntk(&call, ntk_x_spectrum_filter(&spectrum, grid, form, c, width));
        if (call_agree(&call) != NTK_OK) goto done;
        /* V c: train predictions (shrinkage), or the dual coefficients for K_test. */
        if (distributed_times(&call, solver->vectors, c, width, pass == 0 ? result : beta) != NTK_OK) goto done;
        if (pass == 0) {
            write_predictions(&call, count, n, k, result, targets->f0, targets->ldf0, out);
        } else {
            if (distributed_times(&call, K_test, beta, width, result) != NTK_OK) goto done;
            write_predictions(&call, count, m, k, result, f0_test, ldf0, out);
        }
    }
done:
    free(r);
    free(p);
    free(c);
    free(result);
    free(beta);
    return call_finish(&call);
}

int ntk_mpi_spectral_select_ridge(const ntk_mpi_spectral *solver, const ntk_targets *targets, int64_t count,
                                  const double *ridges, ntk_ridge_criterion criterion, double *scores, int64_t *best) {
    ntk_mpi_call call;
    if (call_begin_handle(&call, "ntk_mpi_spectral_select_ridge", solver, HANDLE_SPECTRAL, "solver") != NTK_OK) {
        return call.status;
    }
    int64_t n = solver->n, k = targets ? targets->k : 0;
    if (count < 1) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "the ridge grid is empty");
    else if (ridges == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "ridges is NULL");
    else if (scores == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "scores is NULL");
    for (int64_t j = 0; j < count && ridges && call.status == NTK_OK; j++) {
        if (!isfinite(ridges[j]) || ridges[j] < 0) call_fail(&call, NTK_ERR_INVALID_ARGUMENT,
                                                             "ridges must be >= 0, got %g", ridges[j]);
    }
    if (criterion != NTK_CRITERION_GCV && criterion != NTK_CRITERION_LOO) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "criterion is %d, must be NTK_CRITERION_GCV or NTK_CRITERION_LOO",
                  (int)criterion);
    }
    if (n == 0 || k == 0) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "ridge selection needs at least one target entry");
    else if (count > 0 && k > 0 && (!fits_in_memory(count, k) || !fits_in_memory(n, count * k))) {
        call_fail(&call, NTK_ERR_TOO_LARGE, "%lld ridges x %lld targets x %lld rows exceed this machine's memory",
                  (long long)count, (long long)k, (long long)n);
    }
    double settings[2] = {(double)count, (double)criterion};
    static const char *const names[] = {"count", "criterion"};
    if (call_same(&call, settings, 2, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    double *r = replicated_residual(&call, targets, n);
    if (r == NULL) return call_finish(&call);
    double *p = call_alloc(&call, n * k, sizeof(double), "the projected targets");
    double *h = NULL, *diagonal = NULL, *scaled = NULL, *solved = NULL;
    ntk_mpi_matrix *squares = NULL;
    if (call_agree(&call) != NTK_OK) goto done;
    if (distributed_transpose_times(&call, solver->vectors, r, k, p) != NTK_OK) goto done;
    ntk_x_spectrum spectrum = {n, n, k, solver->eigenvalues, p, k, 0};
    if (criterion == NTK_CRITERION_GCV) {
        call_fail_ntk(&call, ntk_x_spectrum_gcv(&spectrum, count, ridges, scores, best));
    } else {
        /* diag((K + zI)^-1) = (V o V) h and (K + zI)^-1 r = V (h o P), for every ridge at once. */
        int64_t g = count, width = g * k;
        h = call_alloc(&call, n * g, sizeof(double), "the inverse spectrum");
        diagonal = call_alloc(&call, n * g, sizeof(double), "the inverse diagonals");
        scaled = call_alloc(&call, n * width, sizeof(double), "the scaled projections");
        solved = call_alloc(&call, n * width, sizeof(double), "the solutions");
        squares = copy_of(&call, solver->vectors);
        if (call_agree(&call) != NTK_OK) goto done;
        call_fail_ntk(&call, ntk_x_spectrum_loo_terms(&spectrum, g, ridges, h, g, scaled, width));
        if (call_agree(&call) != NTK_OK) goto done;
        for (int64_t e = 0; e < (int64_t)squares->lld * squares->local_cols; e++) squares->data[e] *= squares->data[e];
        if (distributed_times(&call, squares, h, g, diagonal) != NTK_OK ||
            distributed_times(&call, solver->vectors, scaled, width, solved) != NTK_OK) goto done;
        call_fail_ntk(&call, ntk_x_spectrum_loo(&spectrum, g, ridges, diagonal, g, solved, width, scores, best));
    }
done:
    free(r);
    free(p);
    free(h);
    free(diagonal);
    free(scaled);
    free(solved);
    matrix_release(squares);
    return call_finish(&call);
}

void ntk_mpi_spectral_free(ntk_mpi_spectral *solver) {
    if (!handle_release(solver, HANDLE_SPECTRAL)) return;
    matrix_release(solver->vectors);
    free(solver->eigenvalues);
    free(solver);
}
