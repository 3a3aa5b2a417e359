/* C smoke test of libntk: real results against naive C computations, and real error paths.
 * Build (see scripts/test.sh):
 *   gcc -std=c99 -Wall -Wextra -Werror -Iinclude Tests/c/smoke.c -L.build/release -lntk \
 *       -Wl,-rpath,$PWD/.build/release -lm
 * Prints one line per check and a closing "N passed, N failed" line; exits non-zero on failure. */
#include "ntk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0;

static void check(int ok, const char *what) {
    if (ok) {
        passed++;
        printf("ok   %s\n", what);
    } else {
        failed++;
        printf("FAIL %s (last error: %s)\n", what, ntk_last_error());
    }
}

/* A reproducible uniform generator in [-1, 1) (64-bit LCG, high bits). */
static unsigned long long rng_state = 12345;
static double uniform(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double max_abs_diff(const double *a, const double *b, size_t count) {
    double m = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs(a[i] - b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

static int cancel_at_first_report(void *user, double fraction) {
    (void)fraction;
    ++*(int *)user;
    return 1;
}

static int count_reports(void *user, double fraction) {
    (void)fraction;
    ++*(int *)user;
    return 0;
}

static void test_version(void) {
    check(ntk_version_number() == NTK_VERSION_NUMBER, "header and library versions agree");
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", NTK_VERSION_MAJOR, NTK_VERSION_MINOR, NTK_VERSION_PATCH);
    check(strcmp(ntk_version_string(), expected) == 0, "version string matches the macros");
    check(strcmp(ntk_status_string(NTK_OK), "success") == 0, "status string of NTK_OK");
    check(strcmp(ntk_status_string(NTK_ERR_NOT_POSITIVE_DEFINITE), "matrix not positive definite") == 0,
          "status string of NOT_POSITIVE_DEFINITE");
    check(strcmp(ntk_status_string(12345), "unknown status code") == 0, "status string of an unknown code");
}

static void test_blas_info(void) {
    const char *core = NULL, *config = NULL;
    int threads = 0, procs = 0;
    check(ntk_blas_info(&core, &config, &threads, &procs) == NTK_OK && core && config && threads >= 1 &&
              procs >= 1,
          "ntk_blas_info reports a core, a config and thread counts");
    printf("     BLAS core %s, %d threads, %d processors; %s\n", core, threads, procs, config);
    check(ntk_blas_info(NULL, NULL, NULL, NULL) == NTK_OK, "ntk_blas_info accepts NULL out-pointers");
    const char *blas_path = NULL, *lapacke_path = NULL;
    check(ntk_blas_library(&blas_path, &lapacke_path) == NTK_OK && blas_path && strstr(blas_path, "openblas") &&
              lapacke_path && strstr(lapacke_path, "lapacke"),
          "ntk_blas_library names the OpenBLAS and LAPACKE files");
    printf("     OpenBLAS from %s, LAPACKE from %s\n", blas_path, lapacke_path);
    check(ntk_blas_library(NULL, NULL) == NTK_OK, "ntk_blas_library accepts NULL out-pointers");
    check(ntk_blas_set_num_threads(1) == NTK_OK, "set BLAS threads to 1");
    ntk_blas_info(NULL, NULL, &threads, NULL);
    check(threads == 1, "BLAS thread count reads back 1");
    check(ntk_blas_set_num_threads(0) == NTK_ERR_INVALID_ARGUMENT, "0 BLAS threads is rejected");
    check(strstr(ntk_last_error(), "ntk_blas_set_num_threads") != NULL, "error message names the function");
    ntk_blas_set_num_threads(procs);
}

static void test_gram(void) {
    enum { N1 = 37, N2 = 23, D = 11, LDA = 13 };
    double a[N1 * LDA], b[N2 * D], g[N1 * N2], want[N1 * N2], s[N1 * N1], ws[N1 * N1];
    for (int i = 0; i < N1 * LDA; i++) a[i] = uniform();
    for (int i = 0; i < N2 * D; i++) b[i] = uniform();
    const double alpha = 0.5;
    for (int i = 0; i < N1; i++)
        for (int j = 0; j < N2; j++) {
            double acc = 0;
            for (int l = 0; l < D; l++) acc += a[i * LDA + l] * b[j * D + l];
            want[i * N2 + j] = alpha * acc;
        }
    check(ntk_gram(N1, N2, D, alpha, a, LDA, b, D, g, N2, NULL, NULL) == NTK_OK &&
              max_abs_diff(g, want, N1 * N2) < 1e-13,
          "gram A B^T (A with padded rows) matches a naive loop to 1e-13");

    for (int i = 0; i < N1; i++)
        for (int j = 0; j < N1; j++) {
            double acc = 0;
            for (int l = 0; l < D; l++) acc += a[i * LDA + l] * a[j * LDA + l];
            ws[i * N1 + j] = acc;
        }
    int ok = ntk_gram(N1, N1, D, 1.0, a, LDA, NULL, 0, s, N1, NULL, NULL) == NTK_OK;
    int symmetric = 1;
    for (int i = 0; i < N1; i++)
        for (int j = 0; j < N1; j++) symmetric &= s[i * N1 + j] == s[j * N1 + i];
    check(ok && symmetric && max_abs_diff(s, ws, N1 * N1) < 1e-13, "symmetric gram A A^T is exact-symmetric and correct");

    /* Error paths. */
    check(ntk_gram(N1, N2, D, 1, NULL, LDA, b, D, g, N2, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "gram rejects A = NULL");
    check(strstr(ntk_last_error(), "A is NULL") != NULL, "message says A is NULL");
    check(ntk_gram(N1, N2, D, 1, a, LDA, b, D, NULL, N2, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "gram rejects G = NULL");
    check(ntk_gram(-1, N2, D, 1, a, LDA, b, D, g, N2, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "gram rejects a negative size");
    check(ntk_gram(N1, N2, D, 1, a, D - 1, b, D, g, N2, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "gram rejects lda < d");
    check(ntk_gram(N1, N2, D, 1, a, LDA, NULL, D, g, N2, NULL, NULL) == NTK_ERR_DIMENSION_MISMATCH,
          "gram with B = NULL needs n2 = n1");
    check(ntk_gram(INT64_MAX / 2, 4, 4, 1, a, 4, b, 4, g, 4, NULL, NULL) == NTK_ERR_TOO_LARGE,
          "gram rejects overflowing sizes before touching memory");
    check(ntk_gram((int64_t)1 << 32, 1, 1, 1, a, 1, b, 1, g, 1, NULL, NULL) == NTK_ERR_TOO_LARGE,
          "gram rejects sizes beyond 32-bit BLAS");
    double saved = a[5 * LDA + 3];
    a[5 * LDA + 3] = NAN;
    check(ntk_gram(N1, N2, D, 1, a, LDA, b, D, g, N2, NULL, NULL) == NTK_ERR_NON_FINITE &&
              strstr(ntk_last_error(), "row 5, column 3") != NULL,
          "gram rejects NaN in A and says where");
    a[5 * LDA + 3] = saved;
    check(ntk_gram(N1, N2, D, INFINITY, a, LDA, b, D, g, N2, NULL, NULL) == NTK_ERR_NON_FINITE,
          "gram rejects alpha = Inf");
    check(ntk_gram(N1, N1, D, 1, a, LDA, NULL, 0, a, N1, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "gram rejects an output that overlaps A");
    int reports = 0;
    check(ntk_gram(N1, N2, D, 1, a, LDA, b, D, g, N2, cancel_at_first_report, &reports) == NTK_ERR_CANCELLED &&
              reports == 1,
          "gram stops when the progress callback cancels");
    reports = 0;
    check(ntk_gram(N1, N2, D, 1, a, LDA, b, D, g, N2, count_reports, &reports) == NTK_OK && reports >= 2,
          "gram reports progress at start and end");
}

/* K = F F^T / p + 0.1 I, symmetric positive definite. */
static void make_spd(double *k, int n, int p) {
    double *f = malloc(sizeof(double) * (size_t)(n * p));
    for (int i = 0; i < n * p; i++) f[i] = uniform();
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int l = 0; l < p; l++) acc += f[i * p + l] * f[j * p + l];
            k[i * n + j] = acc / p + (i == j ? 0.1 : 0);
        }
    free(f);
}

static void test_cholesky(void) {
    enum { N = 40, M = 3 };
    double k[N * N], y[N * M], x[N * M], r[N * M];
    make_spd(k, N, 7);
    for (int i = 0; i < N * M; i++) y[i] = uniform();
    const double ridge = 0.25;
    check(ntk_cholesky_solve(N, M, k, N, ridge, y, M, x, M, NULL, NULL) == NTK_OK, "cholesky solve succeeds");
    /* Residual (K + ridge I) X - Y. */
    for (int i = 0; i < N; i++)
        for (int c = 0; c < M; c++) {
            double acc = ridge * x[i * M + c];
            for (int j = 0; j < N; j++) acc += k[i * N + j] * x[j * M + c];
            r[i * M + c] = acc - y[i * M + c];
        }
    double zero[N * M] = {0};
    check(max_abs_diff(r, zero, N * M) < 1e-12, "cholesky solution has residual below 1e-12");

    ntk_cholesky_factor *f = NULL;
    check(ntk_cholesky_factor_create(N, k, N, ridge, NULL, NULL, &f) == NTK_OK && f != NULL, "factor handle created");
    check(ntk_live_handle_count() == 1, "one live handle");
    double x2[N * M];
    check(ntk_cholesky_factor_solve(f, M, y, M, x2, M) == NTK_OK && max_abs_diff(x, x2, N * M) < 1e-14,
          "handle solve equals the one-shot solve");
    memcpy(x2, y, sizeof y);
    check(ntk_cholesky_factor_solve(f, M, x2, M, x2, M) == NTK_OK && max_abs_diff(x, x2, N * M) < 1e-14,
          "in-place solve (X = Y) works");
    int64_t order = 0;
    check(ntk_cholesky_factor_order(f, &order) == NTK_OK && order == N, "factor order");
    double logdet = 0;
    check(ntk_cholesky_factor_log_determinant(f, &logdet) == NTK_OK && isfinite(logdet), "log determinant is finite");
    check(ntk_cholesky_factor_solve(f, M, y, M, y + 1, M) == NTK_ERR_INVALID_ARGUMENT,
          "partly overlapping X and Y are rejected");
    ntk_cholesky_factor_free(f);
    check(ntk_live_handle_count() == 0, "handle freed");
    check(ntk_cholesky_factor_solve(f, M, y, M, x2, M) == NTK_ERR_INVALID_HANDLE, "a freed handle is rejected");
    ntk_cholesky_factor_free(f); /* double free is harmless */
    ntk_cholesky_factor_free(NULL);
    check(ntk_cholesky_factor_solve((const ntk_cholesky_factor *)k, M, y, M, x2, M) == NTK_ERR_INVALID_HANDLE,
          "a foreign pointer is rejected as a handle");
    check(ntk_cholesky_factor_solve(NULL, M, y, M, x2, M) == NTK_ERR_INVALID_HANDLE, "a NULL handle is rejected");

    /* Not positive definite: -I. */
    double neg[4] = {-1, 0, 0, -1};
    f = (ntk_cholesky_factor *)k;
    check(ntk_cholesky_factor_create(2, neg, 2, 0, NULL, NULL, &f) == NTK_ERR_NOT_POSITIVE_DEFINITE && f == NULL,
          "an indefinite matrix gives NOT_POSITIVE_DEFINITE and a NULL handle");
    check(strstr(ntk_last_error(), "not positive definite") != NULL, "message says not positive definite");
    double nonsym[4] = {2, 1, 0, 2};
    check(ntk_cholesky_solve(2, 1, nonsym, 2, 0, y, 1, x, 1, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "a non-symmetric matrix is rejected");
    check(ntk_cholesky_solve(N, M, k, N, -1, y, M, x, M, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "a negative ridge is rejected");
    check(ntk_cholesky_solve(N, M, k, N, NAN, y, M, x, M, NULL, NULL) == NTK_ERR_NON_FINITE, "a NaN ridge is rejected");
    y[7] = INFINITY;
    check(ntk_cholesky_solve(N, M, k, N, 0, y, M, x, M, NULL, NULL) == NTK_ERR_NON_FINITE, "Inf in Y is rejected");
    check(ntk_cholesky_factor_create(N, k, N, 0, NULL, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "factor create rejects out = NULL");
}

static void test_eigh(void) {
    enum { N = 30 };
    double k[N * N], w[N], v[N * N], w2[N];
    make_spd(k, N, 50);
    check(ntk_eigh(N, k, N, w, v, N, NULL, NULL) == NTK_OK, "eigh succeeds");
    int ascending = 1;
    for (int i = 1; i < N; i++) ascending &= w[i - 1] <= w[i];
    check(ascending, "eigenvalues ascending");
    /* K v_j = w_j v_j for every column j; V^T V = I. */
    double worst = 0, orth = 0;
    for (int j = 0; j < N; j++) {
        for (int i = 0; i < N; i++) {
            double acc = 0;
            for (int l = 0; l < N; l++) acc += k[i * N + l] * v[l * N + j];
            worst = fmax(worst, fabs(acc - w[j] * v[i * N + j]));
        }
        for (int c = 0; c < N; c++) {
            double dot = 0;
            for (int l = 0; l < N; l++) dot += v[l * N + j] * v[l * N + c];
            orth = fmax(orth, fabs(dot - (j == c)));
        }
    }
    check(worst < 1e-12, "K V = V diag(w) to 1e-12");
    check(orth < 1e-12, "eigenvectors orthonormal to 1e-12");
    check(ntk_eigh(N, k, N, w2, NULL, 0, NULL, NULL) == NTK_OK && max_abs_diff(w, w2, N) < 1e-12,
          "values-only eigh agrees");
    check(ntk_eigh(N, k, N, NULL, v, N, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT, "eigh rejects w = NULL");
    check(ntk_eigh(N, k, N, w, v, N - 1, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT, "eigh rejects ldv < n");
    check(ntk_eigh(40000, k, 40000, w, NULL, 0, NULL, NULL) == NTK_ERR_TOO_LARGE,
          "eigh rejects n beyond LAPACK's 32-bit workspace");
    k[3] = NAN;
    check(ntk_eigh(N, k, N, w, v, N, NULL, NULL) == NTK_ERR_NON_FINITE, "eigh rejects NaN");
    check(ntk_eigh(0, NULL, 1, NULL, NULL, 1, NULL, NULL) == NTK_OK, "eigh of an empty matrix is a no-op");
}

static void test_regression(void) {
    enum { N = 25, M = 6, K = 2 };
    double kfull[(N + M) * (N + M)], k[N * N], kt[M * N], y[N * K], f0[N * K], alpha[N * K];
    make_spd(kfull, N + M, 40);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) k[i * N + j] = kfull[i * (N + M) + j];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) kt[i * N + j] = kfull[(N + i) * (N + M) + j];
    for (int i = 0; i < N * K; i++) {
        y[i] = uniform();
        f0[i] = 0.1 * uniform();
    }
    const double z = 0.2;

    const ntk_targets targets = {K, y, K, f0, K}, plain = {K, y, K, NULL, 0};
    ntk_kernel_ridge *model = NULL;
    check(ntk_kernel_ridge_fit(N, k, N, &targets, z, NULL, &model) == NTK_OK && model, "kernel ridge fit");
    check(ntk_kernel_ridge_dual_coefficients(model, alpha, K) == NTK_OK, "dual coefficients");
    /* (K + zI) alpha = Y - f0 */
    double worst = 0;
    for (int i = 0; i < N; i++)
        for (int c = 0; c < K; c++) {
            double acc = z * alpha[i * K + c];
            for (int j = 0; j < N; j++) acc += k[i * N + j] * alpha[j * K + c];
            worst = fmax(worst, fabs(acc - (y[i * K + c] - f0[i * K + c])));
        }
    check(worst < 1e-12, "kernel ridge alpha solves (K + zI) alpha = Y - f0");
    double pred[M * K], want[M * K];
    for (int i = 0; i < M; i++)
        for (int c = 0; c < K; c++) {
            double acc = 0;
            for (int j = 0; j < N; j++) acc += kt[i * N + j] * alpha[j * K + c];
            want[i * K + c] = acc;
        }
    const ntk_test_kernel test = {M, kt, N, NULL, 0};
    check(ntk_kernel_ridge_predict(model, &test, pred, K) == NTK_OK && max_abs_diff(pred, want, M * K) < 1e-13,
          "kernel ridge test predictions are K_test alpha");
    check(ntk_kernel_ridge_predict(model, NULL, pred, K) == NTK_ERR_INVALID_ARGUMENT, "a NULL test descriptor is rejected");
    double ridge_used = -1, jitter = -1;
    int64_t n_out = 0, k_out = 0;
    check(ntk_kernel_ridge_info(model, &n_out, &k_out, &ridge_used, &jitter) == NTK_OK && n_out == N && k_out == K &&
              ridge_used == z && jitter == 0,
          "kernel ridge info");
    {
        /* The relative ridge: z = ridge * trace(K) / n. */
        ntk_kernel_ridge_options relative;
        check(ntk_kernel_ridge_options_init(&relative) == NTK_OK && relative.size == sizeof relative &&
                  relative.ridge_scale == NTK_RIDGE_ABSOLUTE && relative.max_jitter == 0 && relative.progress == NULL,
              "kernel ridge options: _init sets the size and the defaults");
        relative.ridge_scale = NTK_RIDGE_RELATIVE;
        double trace = 0;
        for (int i = 0; i < N; i++) trace += k[i * N + i];
        ntk_kernel_ridge *scaled = NULL;
        check(ntk_kernel_ridge_fit(N, k, N, &targets, 0.5, &relative, &scaled) == NTK_OK &&
                  ntk_kernel_ridge_info(scaled, NULL, NULL, &ridge_used, NULL) == NTK_OK &&
                  fabs(ridge_used - 0.5 * trace / N) < 1e-13 * ridge_used,
              "a relative ridge is scaled by the mean diagonal");
        ntk_kernel_ridge_free(scaled);
        relative.ridge_scale = (ntk_ridge_scale)5;
        check(ntk_kernel_ridge_fit(N, k, N, &targets, 0.5, &relative, &scaled) == NTK_ERR_INVALID_ARGUMENT && !scaled,
              "an unknown ridge scale is rejected");
    }

    ntk_spectral *solver = NULL;
    check(ntk_spectral_create(N, k, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &solver) == NTK_OK, "spectral solver created");
    check(ntk_kernel_ridge_predict((const ntk_kernel_ridge *)solver, &test, pred, K) == NTK_ERR_INVALID_HANDLE &&
              strstr(ntk_last_error(), "ntk_spectral") != NULL,
          "a spectral handle is rejected where a kernel ridge handle is expected, named by its C type");
    double times[2] = {0.0, INFINITY}, ridges[2] = {z, z};
    const ntk_grid two = {2, times, ridges, 1.0};
    double flow_train[2 * N * K], flow_test[2 * M * K];
    check(ntk_spectral_predict(solver, &targets, &two, &test, flow_train, flow_test) == NTK_OK,
          "spectral predictions");
    check(max_abs_diff(flow_train, f0, N * K) < 1e-14, "at t = 0 the train predictions are f0");
    check(max_abs_diff(flow_test + M * K, want, M * K) < 1e-11, "at t = inf the test predictions are kernel ridge's");
    check(ntk_spectral_predict(solver, &targets, &two, NULL, flow_train, flow_test) == NTK_ERR_INVALID_ARGUMENT,
          "pred_test without a test kernel is rejected");
    check(ntk_spectral_predict(solver, &targets, NULL, NULL, flow_train, NULL) == NTK_ERR_INVALID_ARGUMENT &&
              strstr(ntk_last_error(), "grid is NULL") != NULL,
          "a NULL grid is rejected");
    {
        /* The learning rate scales time: (t, eta) and (2t, eta/2) give the same predictions. */
        double t1 = 3.0, t2 = 6.0, a1[N * K], a2[N * K];
        const ntk_grid fast = {1, &t1, NULL, 1.0}, slow = {1, &t2, NULL, 0.5}, stopped = {1, &t1, NULL, 0.0};
        check(ntk_spectral_predict(solver, &plain, &fast, NULL, a1, NULL) == NTK_OK &&
                  ntk_spectral_predict(solver, &plain, &slow, NULL, a2, NULL) == NTK_OK &&
                  max_abs_diff(a1, a2, N * K) < 1e-13 && max_abs_diff(a1, y, N * K) > 1e-3,
              "the grid's learning rate scales time");
        check(ntk_spectral_predict(solver, &plain, &stopped, NULL, a1, NULL) == NTK_ERR_INVALID_ARGUMENT &&
                  strstr(ntk_last_error(), "learning rate must be > 0") != NULL,
              "a learning rate of 0 is rejected");
    }
    double lam[N], eta = 0, lmax = 0;
    ntk_eigh(N, k, N, lam, NULL, 0, NULL, NULL);
    check(ntk_spectral_max_learning_rate(solver, N * K, &eta, &lmax) == NTK_OK && fabs(lmax - lam[N - 1]) < 1e-12 * lmax &&
              fabs(eta - 2.0 * N * K / lmax) < 1e-12 * eta,
          "critical learning rate 2N / lambda_max");
    double grid[3] = {1e-3, 1e-1, 10}, scores[3];
    int64_t best = -1;
    check(ntk_spectral_select_ridge(solver, &targets, 3, grid, NTK_CRITERION_LOO, scores, &best) == NTK_OK &&
              best >= 0 && best < 3 && scores[best] <= scores[0] && scores[best] <= scores[2],
          "ridge selection returns the minimising index");
    check(ntk_spectral_select_ridge(solver, &targets, 3, grid, (ntk_ridge_criterion)7, scores, &best) ==
              NTK_ERR_INVALID_ARGUMENT,
          "an unknown criterion is rejected");
    double coef[2 * N * K];
    check(ntk_spectral_dual_coefficients(solver, &targets, &two, coef) == NTK_OK &&
              max_abs_diff(coef + N * K, alpha, N * K) < 1e-11,
          "spectral dual coefficients at t = inf are kernel ridge's alpha");
    double zeros[N * K], one_time = 0.0, minus = -1.0;
    memset(zeros, 0, sizeof zeros);
    const ntk_grid at_zero = {1, &one_time, NULL, 1.0}, negative = {1, &minus, NULL, 1.0};
    check(ntk_spectral_dual_coefficients(solver, &plain, &at_zero, coef) == NTK_OK &&
              max_abs_diff(coef, zeros, N * K) == 0,
          "spectral dual coefficients at t = 0 are zero");
    check(ntk_spectral_dual_coefficients(solver, &plain, &at_zero, NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_spectral_dual_coefficients(solver, &plain, &negative, coef) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_spectral_dual_coefficients(solver, NULL, &at_zero, coef) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_spectral_dual_coefficients(NULL, &plain, &at_zero, coef) == NTK_ERR_INVALID_HANDLE,
          "spectral dual coefficients reject a NULL output, negative time, NULL targets, NULL solver");
    times[0] = -1;
    check(ntk_spectral_predict(solver, &plain, &two, NULL, flow_train, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "a negative time is rejected");
    ntk_spectral_free(solver);
    ntk_kernel_ridge_free(model);
    check(ntk_live_handle_count() == 0, "no handles left");

    /* Features ridge: primal and dual agree. */
    enum { P = 7 };
    double s[N * P], w1[P * K], w2[P * K];
    for (int i = 0; i < N * P; i++) s[i] = uniform();
    ntk_features_ridge_options primal = NTK_FEATURES_RIDGE_OPTIONS_INIT, dual = NTK_FEATURES_RIDGE_OPTIONS_INIT;
    primal.form = NTK_FORM_PRIMAL;
    dual.form = NTK_FORM_DUAL;
    check(ntk_features_ridge(N, P, K, s, P, y, K, 0.1, &primal, w1, K) == NTK_OK &&
              ntk_features_ridge(N, P, K, s, P, y, K, 0.1, &dual, w2, K) == NTK_OK && max_abs_diff(w1, w2, P * K) < 1e-12,
          "features ridge: primal and dual weights agree");
    dual.form = (ntk_features_form)9;
    check(ntk_features_ridge(N, P, K, s, P, y, K, 0.1, &dual, w1, K) == NTK_ERR_INVALID_ARGUMENT,
          "features ridge rejects an unknown form");
}

static int stop_after_two(void *user, int64_t epoch, double loss) {
    (void)user;
    (void)loss;
    return epoch >= 2;
}

/* Keeps the snapshot kernels: user points at a struct snapshots. */
struct snapshots {
    int count;
    int64_t epochs[4];
    double lambda[4];
    double kernels[4][20 * 20];
};

static int keep_snapshot(void *user, int64_t epoch, const double *kernel, int64_t m, double lambda_max) {
    struct snapshots *s = user;
    if (s->count >= 4 || m != 20) return 1;
    s->epochs[s->count] = epoch;
    s->lambda[s->count] = lambda_max;
    memcpy(s->kernels[s->count], kernel, sizeof s->kernels[0]);
    s->count++;
    return 0;
}

static int stop_at_first_snapshot(void *user, int64_t epoch, const double *kernel, int64_t m, double lambda_max) {
    (void)kernel;
    (void)m;
    (void)lambda_max;
    *(int64_t *)user = epoch;
    return 1;
}

/* ntk_train_options as a program built against an older header would have it: everything up
 * to and including the seed, nothing of the callbacks or snapshots. */
typedef struct {
    size_t size;
    ntk_loss loss;
    double learning_rate;
    int64_t batch_size;
    double momentum;
    uint64_t seed;
} train_options_v0;

static void test_training(void) {
    enum { N = 20, D = 2, EPOCHS = 40 };
    int64_t width = 16;
    ntk_mlp_options arch = NTK_MLP_OPTIONS_INIT;
    arch.b_std = 0.1;
    arch.seed = 3;
    ntk_mlp *mlp = NULL;
    check(ntk_mlp_create(D, 1, &width, 1, NTK_ACTIVATION_TANH, &arch, &mlp) == NTK_OK, "network for training");
    double x[N * D], y[N], losses[EPOCHS + 1], value = 0;
    for (int i = 0; i < N; i++) {
        x[2 * i] = uniform();
        x[2 * i + 1] = uniform();
        y[i] = sin(3 * x[2 * i]);
    }
    check(ntk_mlp_loss_gradient(mlp, N, x, D, y, 1, NTK_LOSS_MSE, &value, NULL) == NTK_OK && value > 0, "loss");
    double theta0[128];
    int64_t p = 0;
    ntk_mlp_info(mlp, NULL, NULL, NULL, &p);
    ntk_mlp_get_parameters(mlp, theta0, p);
    int64_t snaps[2] = {0, EPOCHS}, run = -1;
    int diverged = -1;
    double before[N * N], after[N * N];
    ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, before, N);
    static struct snapshots kept;
    ntk_train_options train;
    check(ntk_train_options_init(&train) == NTK_OK && train.size == sizeof train && train.loss == NTK_LOSS_MSE &&
              train.learning_rate == 1.0 && train.batch_size == 0 && train.num_snapshots == 0 &&
              train.snapshot_callback == NULL,
          "training options: _init sets the size and the defaults");
    train.learning_rate = 0.5;
    train.num_snapshots = 2;
    train.snapshot_epochs = snaps;
    train.m = N;
    train.X_probe = x;
    train.ldprobe = D;
    train.snapshot_callback = keep_snapshot;
    train.snapshot_user = &kept;
    check(ntk_mlp_train(mlp, N, x, D, y, 1, EPOCHS, &train, losses, &run, &diverged) == NTK_OK && run == EPOCHS &&
              diverged == 0,
          "full-batch training runs every epoch");
    ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, after, N);
    check(kept.count == 2 && kept.epochs[0] == 0 && kept.epochs[1] == EPOCHS &&
              max_abs_diff(kept.kernels[0], before, N * N) < 1e-13 && max_abs_diff(kept.kernels[1], after, N * N) < 1e-13 &&
              kept.lambda[1] > 0,
          "the snapshot callback receives the empirical NTKs at epochs 0 and the last");
    {
        /* The same training from an older, smaller options struct: the fields it has are read,
         * the rest (callbacks, snapshots) take their defaults even though garbage follows. */
        double trained[128], again[128], losses_v0[EPOCHS + 1];
        ntk_mlp_get_parameters(mlp, trained, p);
        ntk_mlp_set_parameters(mlp, theta0, p);
        struct {
            train_options_v0 v0;
            unsigned char garbage[sizeof(ntk_train_options)];
        } old;
        memset(&old, 0xAB, sizeof old);
        old.v0.size = sizeof old.v0;
        old.v0.loss = NTK_LOSS_MSE;
        old.v0.learning_rate = 0.5;
        old.v0.batch_size = 0;
        old.v0.momentum = 0.0;
        old.v0.seed = 0;
        check(ntk_mlp_train(mlp, N, x, D, y, 1, EPOCHS, (const ntk_train_options *)(const void *)&old, losses_v0, &run,
                            NULL) == NTK_OK &&
                  run == EPOCHS && ntk_mlp_get_parameters(mlp, again, p) == NTK_OK && max_abs_diff(again, trained, p) == 0 &&
                  max_abs_diff(losses_v0, losses, EPOCHS + 1) == 0,
              "an older, smaller options struct gets the defaults for the fields it lacks");
        /* A struct from a newer header: unknown bytes that are zero are fine, others are not. */
        struct {
            ntk_train_options current;
            uint64_t future;
        } newer;
        memset(&newer, 0, sizeof newer);
        ntk_train_options_init(&newer.current);
        newer.current.size = sizeof newer;
        newer.current.learning_rate = 0.5;
        ntk_mlp_set_parameters(mlp, theta0, p);
        check(ntk_mlp_train(mlp, N, x, D, y, 1, 1, &newer.current, NULL, &run, NULL) == NTK_OK && run == 1,
              "a newer, larger options struct whose unknown fields are zero is accepted");
        newer.future = 1;
        check(ntk_mlp_train(mlp, N, x, D, y, 1, 1, &newer.current, NULL, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT &&
                  strstr(ntk_last_error(), "newer") != NULL,
              "a newer options struct that sets unknown options is rejected");
        newer.current.size = 0;
        check(ntk_mlp_train(mlp, N, x, D, y, 1, 1, &newer.current, NULL, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
              "an options struct with size 0 (never initialised) is rejected");
        ntk_mlp_set_parameters(mlp, trained, p);
    }
    {
        /* A probe set whose m x m kernel (72 TB) cannot be allocated: a status, not an abort. */
        const int64_t huge = 3000000;
        double *probe = calloc((size_t)huge * D, sizeof(double));
        ntk_train_options big = NTK_TRAIN_OPTIONS_INIT;
        big.learning_rate = 0.5;
        big.num_snapshots = 1;
        big.snapshot_epochs = snaps;
        big.m = huge;
        big.X_probe = probe;
        big.ldprobe = D;
        check(probe && ntk_mlp_train(mlp, N, x, D, y, 1, 1, &big, losses, NULL, NULL) == NTK_ERR_OUT_OF_MEMORY,
              "a probe kernel too large for memory fails with OUT_OF_MEMORY");
        free(probe);
        int64_t many[3] = {0, 1, 2};
        big.num_snapshots = 3;
        big.snapshot_epochs = many;
        big.m = N;
        big.X_probe = x;
        check(ntk_mlp_train(mlp, N, x, D, y, 1, 1, &big, losses, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
              "more snapshots than epochs + 1 are rejected");
        int64_t stopped_at = -1, later[1] = {3};
        big.num_snapshots = 1;
        big.snapshot_epochs = later;
        big.snapshot_callback = stop_at_first_snapshot;
        big.snapshot_user = &stopped_at;
        check(ntk_mlp_train(mlp, N, x, D, y, 1, 10, &big, NULL, &run, NULL) == NTK_OK && run == 3 && stopped_at == 3,
              "a snapshot callback that returns non-zero stops training");
    }
    check(losses[0] == value && losses[EPOCHS] < 0.5 * losses[0], "the loss falls");
    double distance = -1;
    check(ntk_kernel_distance(N * N, kept.kernels[0], kept.kernels[1], &distance) == NTK_OK && distance > 0 && distance < 0.5,
          "the kernel moved a little");
    ntk_train_options stop = NTK_TRAIN_OPTIONS_INIT;
    stop.learning_rate = 0.5;
    stop.epoch_callback = stop_after_two;
    check(ntk_mlp_train(mlp, N, x, D, y, 1, EPOCHS, &stop, losses, &run, NULL) == NTK_OK && run == 2 && isnan(losses[3]),
          "the epoch callback stops training");
    ntk_train_options entropy = NTK_TRAIN_OPTIONS_INIT;
    entropy.loss = NTK_LOSS_CROSS_ENTROPY;
    check(ntk_mlp_train(mlp, N, x, D, y, 1, 1, &entropy, losses, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "cross-entropy rejects targets outside [0, 1]");
    double alignment = 0, y2[N * 2];
    for (int i = 0; i < N; i++) y2[2 * i] = y[i], y2[2 * i + 1] = -999; /* only column 0 is read (ldy = 2) */
    double direct = 0;
    check(ntk_kernel_alignment(N, 1, after, N, y, 1, &direct) == NTK_OK &&
              ntk_kernel_alignment(N, 1, after, N, y2, 2, &alignment) == NTK_OK && alignment == direct && direct > 0,
          "kernel alignment honours the leading dimension of Y");
    /* ODE with MSE against the spectral closed form. */
    double k[N * N], ode[N], exact[N], t = 5.0;
    ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, k, N);
    ntk_spectral *solver = NULL;
    ntk_spectral_create(N, k, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &solver);
    const ntk_targets targets = {1, y, 1, NULL, 0};
    check(ntk_gradient_flow_ode(N, k, N, &targets, NULL, 1, &t, NTK_LOSS_MSE, NULL, ode, NULL) == NTK_OK &&
              ntk_spectral_predict(solver, &targets, &(const ntk_grid){1, &t, NULL, 1.0}, NULL, exact, NULL) == NTK_OK &&
              max_abs_diff(ode, exact, N) < 1e-7,
          "the ODE with MSE follows the closed form");
    ntk_spectral_free(solver);
    ntk_mlp_free(mlp);
}

static void test_network(void) {
    enum { N = 5, D = 3, K = 2 };
    int64_t widths[2] = {4, 3};
    ntk_mlp_options options;
    check(ntk_mlp_options_init(&options) == NTK_OK && options.size == sizeof options && options.w_std == 1.0 &&
              options.b_std == 0.0 && options.bias == 1 && options.parameterization == NTK_PARAMETERIZATION_NTK &&
              options.activation_parameter == 0.01 && options.seed == 0,
          "MLP options: _init sets the size and the defaults");
    options.b_std = 0.5;
    options.seed = 7;
    ntk_mlp *mlp = NULL;
    check(ntk_mlp_create(D, 2, widths, K, NTK_ACTIVATION_TANH, &options, &mlp) == NTK_OK, "MLP created");
    int64_t p = 0, d = 0, k = 0, hidden = 0;
    check(ntk_mlp_info(mlp, &d, &k, &hidden, &p) == NTK_OK && d == D && k == K && hidden == 2 &&
              p == D * 4 + 4 + 4 * 3 + 3 + 3 * K + K,
          "MLP info");
    double x[N * D], f[N * K], jac[N * K * 64], kernel[N * N], diag[N];
    for (int i = 0; i < N * D; i++) x[i] = uniform();
    check(ntk_mlp_forward(mlp, N, x, D, f, K) == NTK_OK, "forward pass");
    check(ntk_mlp_jacobian(mlp, N, x, D, jac) == NTK_OK, "Jacobian");
    check(ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, kernel, N) == NTK_OK, "empirical NTK");
    /* K = (1/k) sum_c J_c J_c^T from the Jacobian, by hand. */
    double worst = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int c = 0; c < K; c++)
                for (int q = 0; q < p; q++) acc += jac[(i * K + c) * p + q] * jac[(j * K + c) * p + q];
            worst = fmax(worst, fabs(kernel[i * N + j] - acc / K));
        }
    check(worst < 1e-12, "structured NTK equals the Jacobian contraction");
    {
        /* Single precision: the kernel of the same (rounded) inputs to float accuracy, and its checks. */
        float xs[N * D], ks[N * N];
        for (int i = 0; i < N * D; i++) xs[i] = (float)x[i];
        check(ntk_empirical_ntk_f32(mlp, N, xs, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, ks, N) == NTK_OK,
              "single-precision empirical NTK");
        float js[N * K * 64];
        check(ntk_mlp_jacobian_f32(mlp, N, xs, D, js) == NTK_OK, "single-precision Jacobian");
        double jgap = 0, jscale = 0;
        for (int i = 0; i < N * K * p; i++) jgap = fmax(jgap, fabs(js[i] - jac[i])), jscale = fmax(jscale, fabs(jac[i]));
        check(jgap < 1e-5 * jscale, "the single-precision Jacobian agrees with the double one to 1e-5");
        double gap = 0, scale = 0;
        for (int i = 0; i < N * N; i++) gap = fmax(gap, fabs(ks[i] - kernel[i])), scale = fmax(scale, fabs(kernel[i]));
        check(gap < 1e-5 * scale && gap > 0, "the single-precision kernel agrees with the double one to 1e-5, not exactly");
        xs[3] = NAN;
        check(ntk_empirical_ntk_f32(mlp, N, xs, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, ks, N) == NTK_ERR_NON_FINITE &&
                  strstr(ntk_last_error(), "X1") != NULL,
              "a NaN single-precision input is rejected, named");
        check(ntk_empirical_ntk_f32(mlp, N, xs, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, NULL, N) ==
                  NTK_ERR_INVALID_ARGUMENT,
              "a NULL single-precision output is rejected");
    }
    {
        /* A padded output (ldk > n2 * e): the kernel lands in the sub-matrix, the padding is kept. */
        enum { LD = N * K + 3 };
        double full[N * N * K], padded[N * LD];
        for (int i = 0; i < N * LD; i++) padded[i] = -7.0;
        ntk_empirical_ntk_options jacobian = NTK_EMPIRICAL_NTK_OPTIONS_INIT;
        jacobian.method = NTK_METHOD_JACOBIAN;
        check(ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_PER_OUTPUT, &jacobian, padded, LD) == NTK_OK &&
                  ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_PER_OUTPUT, NULL, full, N * K) == NTK_OK,
              "per-output NTK into a padded buffer");
        double gap = 0;
        int padding_kept = 1;
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N * K; j++) gap = fmax(gap, fabs(padded[i * LD + j] - full[i * N * K + j]));
            for (int j = N * K; j < LD; j++) padding_kept &= padded[i * LD + j] == -7.0;
        }
        check(gap < 1e-12 && padding_kept, "the padded kernel equals the contiguous one and the padding is untouched");
        check(ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_PER_OUTPUT, NULL, padded, N * K - 1) ==
                  NTK_ERR_INVALID_ARGUMENT,
              "ldk < n2 * e is rejected");
        double diag2[N * 3];
        check(ntk_empirical_ntk_diagonal(mlp, N, x, D, NTK_OUTPUT_PER_OUTPUT, diag2, 3) == NTK_OK &&
                  fabs(diag2[3 * 2 + 1] - full[2 * N * K + 2 * K + 1]) < 1e-12,
              "per-output diagonal with a leading dimension");
    }
    check(ntk_empirical_ntk_diagonal(mlp, N, x, D, NTK_OUTPUT_MEAN, diag, 1) == NTK_OK &&
              fabs(diag[2] - kernel[2 * N + 2]) < 1e-12,
          "diagonal alone");
    double theta[64];
    check(ntk_mlp_get_parameters(mlp, theta, p) == NTK_OK, "get parameters");
    theta[0] = NAN;
    check(ntk_mlp_set_parameters(mlp, theta, p) == NTK_ERR_NON_FINITE, "NaN parameters are rejected");
    check(ntk_mlp_set_parameters(mlp, theta, p - 1) == NTK_ERR_DIMENSION_MISMATCH, "a wrong parameter count is rejected");
    check(ntk_empirical_ntk(mlp, N, x, D, N, NULL, 0, (ntk_output_form)5, NULL, kernel, N) == NTK_ERR_INVALID_ARGUMENT,
          "an unknown output form is rejected");
    check(ntk_mlp_forward(mlp, N, x, D - 1, f, K) == NTK_ERR_INVALID_ARGUMENT, "ldx < d is rejected");
    /* Infinite width, one hidden relu layer, W_std = 1, b_std = 0, by hand for two points. */
    ntk_mlp *arch = NULL;
    int64_t one = 1;
    check(ntk_mlp_create(2, 1, &one, 1, NTK_ACTIVATION_RELU, NULL, &arch) == NTK_OK,
          "architecture for the infinite-width kernel (NULL options: defaults)");
    double pts[4] = {1.0, 0.5, -0.3, 2.0}, nngp[4], ntk_inf[6] = {9, 9, 9, 9, 9, 9};
    check(ntk_infinite_width_kernels(arch, 2, pts, 2, 2, NULL, 0, NULL, nngp, 2, ntk_inf, 3) == NTK_OK,
          "infinite-width kernels (the NTK into a padded buffer)");
    {
        const double pi = 3.14159265358979323846;
        double q1 = (1.0 + 0.25) / 2, q2 = (0.09 + 4.0) / 2, c = (-0.3 + 1.0) / 2;
        double angle = acos(c / sqrt(q1 * q2));
        double sigma = sqrt(q1 * q2) * (sin(angle) + (pi - angle) * cos(angle)) / (2 * pi);
        double ntk01 = sigma + c * (pi - angle) / (2 * pi);
        check(fabs(nngp[1] - sigma) < 1e-14 && fabs(ntk_inf[1] - ntk01) < 1e-14 && ntk_inf[1] == ntk_inf[3] &&
                  ntk_inf[2] == 9 && ntk_inf[5] == 9,
              "infinite-width NNGP and NTK match the arc-cosine formulas");
    }
    check(ntk_infinite_width_kernels(arch, 2, pts, 2, 2, NULL, 0, NULL, NULL, 0, NULL, 0) == NTK_ERR_INVALID_ARGUMENT,
          "asking for neither kernel is an error");
    {
        /* Single precision: the same kernels of the same (float-representable) points to float
         * accuracy, the diagonal the double one rounded; NaN and neither kernel are errors. */
        float fpts[4] = {1.0f, 0.5f, -0.3f, 2.0f}, fnngp[4], fntk[4];
        int close = ntk_infinite_width_kernels_f32(arch, 2, fpts, 2, 2, NULL, 0, NULL, fnngp, 2, fntk, 2) == NTK_OK;
        double dpts[4] = {1.0, 0.5, (double)-0.3f, 2.0}, dnngp[4], dntk[4];
        close = close && ntk_infinite_width_kernels(arch, 2, dpts, 2, 2, NULL, 0, NULL, dnngp, 2, dntk, 2) == NTK_OK;
        for (int i = 0; i < 4; i++) close = close && fabs(fnngp[i] - dnngp[i]) < 1e-6 && fabs(fntk[i] - dntk[i]) < 1e-6;
        check(close && fnngp[0] == (float)dnngp[0] && fntk[3] == (float)dntk[3] && fntk[1] == fntk[2],
              "single-precision infinite-width kernels agree with double");
        fpts[2] = NAN;
        check(ntk_infinite_width_kernels_f32(arch, 2, fpts, 2, 2, NULL, 0, NULL, fnngp, 2, NULL, 0) ==
                  NTK_ERR_NON_FINITE && ntk_infinite_width_kernels_f32(arch, 2, fpts, 2, 2, NULL, 0, NULL, NULL, 0,
                                                                        NULL, 0) == NTK_ERR_INVALID_ARGUMENT,
              "single-precision infinite-width kernels reject NaN and a request for neither kernel");
    }
    ntk_infinite_width_options points = NTK_INFINITE_WIDTH_OPTIONS_INIT;
    points.quadrature_points = 65;
    check(ntk_infinite_width_kernels(arch, 2, pts, 2, 2, NULL, 0, &points, nngp, 2, NULL, 0) == NTK_ERR_INVALID_ARGUMENT,
          "more than 64 mixture points are rejected");
    ntk_mlp_free(arch);

    ntk_mlp *bad = NULL;
    check(ntk_mlp_create(D, 2, NULL, K, NTK_ACTIVATION_RELU, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT,
          "NULL widths are rejected");
    check(ntk_mlp_create(D, 0, NULL, K, (ntk_activation)42, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT && bad == NULL,
          "an unknown activation is rejected");
    options.bias = 2;
    check(ntk_mlp_create(D, 0, NULL, K, NTK_ACTIVATION_RELU, &options, &bad) == NTK_ERR_INVALID_ARGUMENT && bad == NULL,
          "bias other than 0 or 1 is rejected");
    ntk_mlp_free(mlp);
    check(ntk_live_handle_count() == 0, "MLP freed");
}

/* Networks from layers: a VALID convolution whose window covers a length-2 sequence of one
 * channel is a dense layer on the flattened input, so Conv -> relu -> Flatten -> Dense has the
 * MLP's infinite-width kernels; the description's errors. */
/* The network (the twin of mlp, same parameters) trains and solves as the MLP does. */
static void test_layered_network_solvers(ntk_network *net, ntk_mlp *mlp, const double *x) {
    double y[3] = {0.5, -1.0, 0.25}, g_net[13], g_mlp[13], v_net = 0, v_mlp = 0;
    check(ntk_network_loss_gradient(net, 3, x, 2, y, 1, NTK_LOSS_MSE, &v_net, g_net) == NTK_OK &&
              ntk_mlp_loss_gradient(mlp, 3, x, 2, y, 1, NTK_LOSS_MSE, &v_mlp, g_mlp) == NTK_OK &&
              fabs(v_net - v_mlp) < 1e-15 && max_abs_diff(g_net, g_mlp, 13) < 1e-14,
          "the network's loss gradient is the MLP's");
    ntk_targets targets = {1, y, 1, NULL, 0};
    ntk_empirical_ridge *r_net = NULL, *r_mlp = NULL;
    ntk_empirical_solver_options solver;
    ntk_empirical_solver_options_init(&solver);
    solver.tol = 1e-13;
    solver.preconditioner_rank = 2;
    double test_x[4] = {0.2, -0.4, 1.5, 0.1}, p_net[2], p_mlp[2];
    ntk_points test = {2, test_x, 2, NULL, 0};
    check(ntk_network_ridge_fit(net, 3, x, 2, &targets, 0.1, &solver, &r_net) == NTK_OK &&
              ntk_empirical_ridge_fit(mlp, 3, x, 2, &targets, 0.1, &solver, &r_mlp) == NTK_OK &&
              ntk_empirical_ridge_predict(r_net, &test, p_net, 1, NULL, NULL) == NTK_OK &&
              ntk_empirical_ridge_predict(r_mlp, &test, p_mlp, 1, NULL, NULL) == NTK_OK &&
              max_abs_diff(p_net, p_mlp, 2) < 1e-10,
          "the network's matrix-free ridge predicts as the MLP's");
    int64_t test_rows[1] = {0};
    ntk_rows by_rows = {1, test_rows, NULL, 0};
    check(ntk_empirical_ridge_predict_rows(r_net, &by_rows, p_net, 1, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "a network's ridge does not predict at row indices");
    ntk_empirical_ridge_free(r_net);
    ntk_empirical_ridge_free(r_mlp);
    double times[2] = {0.5, 4.0}, f_net[4], f_mlp[4];
    check(ntk_network_gradient_flow(net, 3, x, 2, &targets, 2, times, &test, &solver, NULL, f_net, NULL) == NTK_OK &&
              ntk_empirical_gradient_flow(mlp, 3, x, 2, &targets, 2, times, &test, &solver, NULL, f_mlp, NULL) ==
                  NTK_OK &&
              max_abs_diff(f_net, f_mlp, 4) < 1e-10,
          "the network's Lanczos flow is the MLP's");
    double d_net[3], d_mlp[3];
    check(ntk_network_empirical_ntk_diagonal(net, 3, x, 2, NTK_OUTPUT_MEAN, d_net, 1) == NTK_OK &&
              ntk_empirical_ntk_diagonal(mlp, 3, x, 2, NTK_OUTPUT_MEAN, d_mlp, 1) == NTK_OK &&
              max_abs_diff(d_net, d_mlp, 3) < 1e-14 &&
              ntk_network_empirical_ntk_diagonal(net, 3, x, 2, NTK_OUTPUT_FULL, d_net, 1) == NTK_ERR_INVALID_ARGUMENT,
          "the network's empirical diagonal is the MLP's");
    ntk_nystrom *n_net = NULL, *n_mlp = NULL;
    ntk_nystrom_test at = {2, test_x, 2, NULL, 1, NULL, 1};
    check(ntk_network_nystrom_fit(net, 3, x, 2, &targets, 0.05, 2, NULL, &n_net) == NTK_OK &&
              ntk_nystrom_fit(mlp, 3, x, 2, &targets, 0.05, 2, NULL, &n_mlp) == NTK_OK &&
              ntk_nystrom_predict(n_net, &at, p_net, 1, NULL, NULL) == NTK_OK &&
              ntk_nystrom_predict(n_mlp, &at, p_mlp, 1, NULL, NULL) == NTK_OK && max_abs_diff(p_net, p_mlp, 2) < 1e-12,
          "Nystrom on the network's infinite-width kernel is the MLP's");
    ntk_nystrom_free(n_net);
    ntk_nystrom_free(n_mlp);
    check(ntk_network_nystrom_fit_centers(net, 3, x, 2, &targets, 0.05, 2, test_x, 2, NULL, &n_net) == NTK_OK &&
              ntk_nystrom_fit_centers(mlp, 3, x, 2, &targets, 0.05, 2, test_x, 2, NULL, &n_mlp) == NTK_OK &&
              ntk_nystrom_predict(n_net, &at, p_net, 1, NULL, NULL) == NTK_OK &&
              ntk_nystrom_predict(n_mlp, &at, p_mlp, 1, NULL, NULL) == NTK_OK && max_abs_diff(p_net, p_mlp, 2) < 1e-12,
          "and on given centres");
    ntk_nystrom_free(n_net);
    ntk_nystrom_free(n_mlp);
    int64_t labels[3] = {0, 1, 1};
    ntk_labels classes = {labels, 2, NULL, 0};
    ntk_points centres = {2, test_x, 2, NULL, 0};
    ntk_kernel_logistic *l_net = NULL, *l_mlp = NULL;
    double logits_net[6], logits_mlp[6];
    check(ntk_network_kernel_logistic_fit_centers(net, NTK_KERNEL_NNGP, 3, x, 2, &centres, &classes, 0.5, NULL,
                                                  &l_net) == NTK_OK &&
              ntk_kernel_logistic_fit_centers(mlp, NTK_KERNEL_NNGP, 3, x, 2, &centres, &classes, 0.5, NULL, &l_mlp) ==
                  NTK_OK &&
              ntk_kernel_logistic_train_logits(l_net, logits_net, 2) == NTK_OK &&
              ntk_kernel_logistic_train_logits(l_mlp, logits_mlp, 2) == NTK_OK &&
              max_abs_diff(logits_net, logits_mlp, 6) < 1e-12,
          "kernel logistic regression on the network's kernel is the MLP's");
    ntk_kernel_logistic_free(l_net);
    ntk_kernel_logistic_free(l_mlp);
    /* Training both copies (net first restored afterwards: the caller's checks use its parameters). */
    double saved[13], losses_net[4], losses_mlp[4];
    ntk_network_get_parameters(net, saved, 13);
    ntk_train_options train;
    ntk_train_options_init(&train);
    train.learning_rate = 0.3;
    train.momentum = 0.5;
    int64_t run = 0;
    int diverged = 1;
    check(ntk_network_train(net, 3, x, 2, y, 1, 3, &train, losses_net, &run, &diverged) == NTK_OK && run == 3 &&
              diverged == 0 && ntk_mlp_train(mlp, 3, x, 2, y, 1, 3, &train, losses_mlp, NULL, NULL) == NTK_OK &&
              max_abs_diff(losses_net, losses_mlp, 4) < 1e-14 && losses_net[3] < losses_net[0],
          "the network trains as the MLP");
    check(ntk_network_get_parameters(net, g_net, 13) == NTK_OK && ntk_mlp_get_parameters(mlp, g_mlp, 13) == NTK_OK &&
              max_abs_diff(g_net, g_mlp, 13) < 1e-14,
          "to the same parameters");
    check(ntk_network_train(net, 3, x, 2, y, 1, 3, NULL, NULL, NULL, NULL) == NTK_OK &&
              ntk_network_train(net, 3, x, 1, y, 1, 3, NULL, NULL, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_network_loss_gradient(net, 3, x, 2, y, 1, (ntk_loss)5, &v_net, NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_network_ridge_fit(net, 3, x, 2, &targets, -1.0, NULL, &r_net) == NTK_ERR_INVALID_ARGUMENT &&
              r_net == NULL,
          "bad training and solver arguments are rejected");
    ntk_network_set_parameters(net, saved, 13);
    ntk_mlp_set_parameters(mlp, saved, 13);
}

static void test_layered_network(void) {
    ntk_layer layers[6];
    check(ntk_layer_init(&layers[0], NTK_LAYER_CONV) == NTK_OK && layers[0].size == sizeof(ntk_layer) &&
              layers[0].padding == NTK_PADDING_SAME && isnan(layers[0].w_std) && layers[0].strides[0] == 1,
          "ntk_layer_init: size and defaults");
    layers[0].width = 3;
    layers[0].rank = 1;
    layers[0].window[0] = 2;
    layers[0].padding = NTK_PADDING_VALID;
    ntk_layer_init(&layers[1], NTK_LAYER_ACTIVATION);
    ntk_layer_init(&layers[2], NTK_LAYER_FLATTEN);
    ntk_layer_init(&layers[3], NTK_LAYER_DENSE);
    ntk_network_options options;
    check(ntk_network_options_init(&options) == NTK_OK && options.w_std == 1.0 && options.bias == 1,
          "network options: defaults");
    options.w_std = 1.5;
    options.b_std = 0.25;
    int64_t shape[2] = {2, 1}, d = 0, k = 0, p = 0;
    ntk_network *net = NULL;
    check(ntk_network_create(2, shape, 4, layers, &options, &net) == NTK_OK && net != NULL, "network created");
    check(ntk_network_info(net, &d, &k, &p) == NTK_OK && d == 2 && k == 1 && p == 2 * 3 + 3 + 3 + 1, "network info");
    ntk_mlp_options mlp_options = NTK_MLP_OPTIONS_INIT;
    mlp_options.w_std = 1.5;
    mlp_options.b_std = 0.25;
    int64_t width = 3;
    ntk_mlp *mlp = NULL;
    ntk_mlp_create(2, 1, &width, 1, NTK_ACTIVATION_RELU, &mlp_options, &mlp);
    double x[6] = {1.0, 0.5, -0.3, 2.0, 0.7, -1.1}, ours[9], theirs[9], diag[3];
    check(ntk_network_infinite_width_kernels(net, 3, x, 2, 3, NULL, 0, NULL, NULL, 0, ours, 3) == NTK_OK &&
              ntk_infinite_width_kernels(mlp, 3, x, 2, 3, NULL, 0, NULL, NULL, 0, theirs, 3) == NTK_OK &&
              max_abs_diff(ours, theirs, 9) < 1e-14,
          "a full-window VALID convolution then Flatten is the MLP's infinite-width NTK");
    check(ntk_network_infinite_width_diagonal(net, 3, x, 2, NULL, diag) == NTK_OK && diag[2] == ours[8],
          "the diagonal alone equals the kernel's diagonal");
    {
        float xf[6], single[9];
        for (int i = 0; i < 6; i++) xf[i] = (float)x[i];
        double rounded[6], again[9];
        for (int i = 0; i < 6; i++) rounded[i] = xf[i];
        int close = ntk_network_infinite_width_kernels_f32(net, 3, xf, 2, 3, NULL, 0, NULL, NULL, 0, single, 3) ==
                        NTK_OK &&
                    ntk_network_infinite_width_kernels(net, 3, rounded, 2, 3, NULL, 0, NULL, NULL, 0, again, 3) == NTK_OK;
        for (int i = 0; i < 9; i++) close = close && fabs(single[i] - again[i]) < 2e-6 * fabs(again[i]) + 1e-30;
        check(close && single[1] == single[3], "the network's single-precision kernel agrees with its double one");
    }
    check(ntk_network_infinite_width_kernels(net, 3, x, 1, 3, NULL, 0, NULL, NULL, 0, ours, 3) ==
              NTK_ERR_INVALID_ARGUMENT,
          "ld < d is rejected");
    /* The finite network: the same parameter layout as the MLP (W 2 x 3, b, W 3 x 1, b). */
    double theta[13], f_net[3], f_mlp[3], j_net[3 * 13], j_mlp[3 * 13];
    check(p == 13 && ntk_network_get_parameters(net, theta, p) == NTK_OK &&
              ntk_mlp_set_parameters(mlp, theta, p) == NTK_OK,
          "the network's parameters load into the MLP");
    check(ntk_network_forward(net, 3, x, 2, f_net, 1) == NTK_OK && ntk_mlp_forward(mlp, 3, x, 2, f_mlp, 1) == NTK_OK &&
              max_abs_diff(f_net, f_mlp, 3) < 1e-14,
          "the finite network's forward pass is the MLP's");
    check(ntk_network_jacobian(net, 3, x, 2, j_net) == NTK_OK && ntk_mlp_jacobian(mlp, 3, x, 2, j_mlp) == NTK_OK &&
              max_abs_diff(j_net, j_mlp, 3 * 13) < 1e-14,
          "and its Jacobian");
    check(ntk_network_empirical_ntk(net, 3, x, 2, 2, x + 2, 2, NTK_OUTPUT_MEAN, NULL, ours, 2) == NTK_OK &&
              ntk_empirical_ntk(mlp, 3, x, 2, 2, x + 2, 2, NTK_OUTPUT_MEAN, NULL, theirs, 2) == NTK_OK &&
              max_abs_diff(ours, theirs, 6) < 1e-13,
          "and its empirical NTK");
    test_layered_network_solvers(net, mlp, x);
    theta[0] = NAN;
    check(ntk_network_set_parameters(net, theta, p) == NTK_ERR_NON_FINITE &&
              ntk_network_get_parameters(net, theta, p - 1) == NTK_ERR_DIMENSION_MISMATCH &&
              ntk_network_forward(net, 3, x, 2, NULL, 1) == NTK_ERR_INVALID_ARGUMENT,
          "bad parameters and outputs are rejected");
    ntk_network_free(net);
    ntk_mlp_free(mlp);

    ntk_network *bad = NULL;
    layers[0].rank = 2;
    check(ntk_network_create(2, shape, 4, layers, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT && bad == NULL &&
              strstr(ntk_last_error(), "layer 0 (Conv)") != NULL,
          "a window rank unlike the input's spatial rank names the layer");
    layers[0].rank = 1;
    layers[0].window[0] = 3;
    check(ntk_network_create(2, shape, 4, layers, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT &&
              strstr(ntk_last_error(), "does not fit") != NULL,
          "a VALID window larger than its input is rejected");
    layers[0].window[0] = 2;
    layers[0].size = sizeof(ntk_layer) - 8;
    check(ntk_network_create(2, shape, 4, layers, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT,
          "a layer struct of another size is rejected");
    layers[0].size = sizeof(ntk_layer);
    layers[0].padding = (ntk_padding)7;
    check(ntk_network_create(2, shape, 4, layers, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT,
          "an unknown padding is rejected");
    layers[0].padding = NTK_PADDING_SAME;
    ntk_layer unbalanced[4] = {layers[0], layers[1], layers[2], layers[3]};
    ntk_layer_init(&unbalanced[1], NTK_LAYER_RESIDUAL_BEGIN);
    check(ntk_network_create(2, shape, 4, unbalanced, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT &&
              strstr(ntk_last_error(), "RESIDUAL_END") != NULL,
          "a residual block without its end is rejected");
    ntk_layer_init(&unbalanced[1], NTK_LAYER_RESIDUAL_END);
    check(ntk_network_create(2, shape, 4, unbalanced, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT,
          "a residual end without its beginning is rejected");
    /* relu straight on the input: a valid network, but no Gaussian limit of this kind. */
    ntk_layer relu_first[3] = {layers[1], layers[2], layers[3]};
    check(ntk_network_create(2, shape, 3, relu_first, NULL, &net) == NTK_OK &&
              ntk_network_infinite_width_kernels(net, 3, x, 2, 3, NULL, 0, NULL, ours, 3, NULL, 0) ==
                  NTK_ERR_INVALID_ARGUMENT &&
              strstr(ntk_last_error(), "Gaussian") != NULL,
          "an activation on non-Gaussian inputs is rejected for infinite width");
    ntk_network_free(net);
    check(ntk_network_create(5, shape, 3, relu_first, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_network_create(2, NULL, 3, relu_first, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_network_create(2, shape, 3, NULL, NULL, &bad) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_network_create(2, shape, 3, relu_first, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_layer_init(NULL, NTK_LAYER_DENSE) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_layer_init(&layers[5], (ntk_layer_kind)99) == NTK_ERR_INVALID_ARGUMENT,
          "bad ranks, NULL pointers and unknown kinds are rejected");
    ntk_network_free(NULL);
    check(ntk_live_handle_count() == 0, "networks freed");
}

/* Collects log messages: counts per level and whether one contained `want`. */
typedef struct log_record {
    int info, warning, other;
    const char *want;
    int found;
} log_record;

static void record_log(void *user, ntk_log_level level, const char *message) {
    log_record *r = user;
    if (level == NTK_LOG_INFO) r->info++;
    else if (level == NTK_LOG_WARNING) r->warning++;
    else r->other++;
    if (r->want && strstr(message, r->want)) r->found = 1;
}

static void test_log(void) {
    log_record r = {0, 0, 0, "BLAS: OpenBLAS core", 0};
    check(ntk_set_log_handler(record_log, &r, NTK_LOG_INFO) == NTK_OK && r.found && r.info >= 1,
          "setting a log handler logs the BLAS in use at INFO");

    /* An indefinite matrix: the spectral solver clamps its negative eigenvalue (WARNING). */
    enum { N = 3 };
    double k[N * N] = {2, 0, 0, 0, 1, 0, 0, 0, -1};
    ntk_spectral *solver = NULL;
    r = (log_record){0, 0, 0, "negative eigenvalue(s) clamped", 0};
    check(ntk_spectral_create(N, k, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &solver) == NTK_OK && r.found &&
              r.warning == 1 && r.info == 1,
          "the spectral solver logs its decomposition (INFO) and the clamping (WARNING)");
    ntk_spectral_free(solver);

    /* min_level WARNING filters INFO out. */
    check(ntk_set_log_handler(record_log, &r, NTK_LOG_WARNING) == NTK_OK, "log level WARNING");
    r = (log_record){0, 0, 0, NULL, 0};
    check(ntk_spectral_create(N, k, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &solver) == NTK_OK && r.info == 0 &&
              r.warning == 1,
          "min_level WARNING passes warnings and drops INFO messages");
    ntk_spectral_free(solver);

    /* Empirical NTK: the log names the method and the memory limit. */
    check(ntk_set_log_handler(record_log, &r, NTK_LOG_DEBUG) == NTK_OK, "log level DEBUG");
    int64_t width = 8;
    ntk_mlp *mlp = NULL;
    double x[4] = {0.5, -1, 1, 0.25}, kernel[4];
    check(ntk_mlp_create(2, 1, &width, 1, NTK_ACTIVATION_TANH, NULL, &mlp) == NTK_OK, "network for the log test");
    r = (log_record){0, 0, 0, "memory limit of 3.0 MiB", 0};
    ntk_empirical_ntk_options limited;
    ntk_empirical_ntk_options_init(&limited);
    limited.memory_limit = 3 << 20;
    check(ntk_empirical_ntk(mlp, 2, x, 2, 2, NULL, 2, NTK_OUTPUT_MEAN, &limited, kernel, 2) == NTK_OK && r.found,
          "the empirical NTK logs its memory limit");
    ntk_mlp_free(mlp);

    /* Bad level, then NULL: no more messages. */
    check(ntk_set_log_handler(record_log, &r, (ntk_log_level)25) == NTK_ERR_INVALID_ARGUMENT &&
              strstr(ntk_last_error(), "min_level") != NULL,
          "an unknown log level is rejected");
    check(ntk_set_log_handler(NULL, NULL, NTK_LOG_INFO) == NTK_OK, "log handler removed");
    r = (log_record){0, 0, 0, NULL, 0};
    check(ntk_spectral_create(N, k, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &solver) == NTK_OK &&
              r.info + r.warning + r.other == 0,
          "no handler: nothing is logged");
    ntk_spectral_free(solver);
}

/* One training point, one test point: Theta = a, K = b, Theta(x, X) = th, K(x, X) = c,
 * K(x, x) = d. With N = 1: A_t = th (1 - exp(-eta t a)) / a, mean = A y, var = d + A^2 b - 2 A c. */
static void test_ensemble(void) {
    const double a = 2, b = 1.5, th = 1.2, c = 0.9, d = 1.1, y = 0.7;
    const double times[3] = {0, 1, INFINITY};
    double mean[3], cov[3];
    ntk_targets targets = {1, &y, 1, NULL, 1};
    ntk_ensemble_test test = {1, &c, 1, &th, 1, &d, 1};
    ntk_ensemble_options options;
    check(ntk_ensemble_options_init(&options) == NTK_OK && options.regime == NTK_REGIME_NTK &&
              options.learning_rate == 1 && options.ridge == 0,
          "ensemble options default to the NTK regime, rate 1, no ridge");
    options.learning_rate = 0.5;
    check(ntk_ensemble_gradient_flow(1, &b, 1, &a, 1, &targets, &test, 3, times, &options, mean, cov) == NTK_OK,
          "ensemble gradient flow on one point");
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        double A = th * (isinf(times[i]) ? 1 : -expm1(-0.5 * times[i] * a)) / a;
        ok &= fabs(mean[i] - A * y) < 1e-15 && fabs(cov[i] - (d + A * A * b - 2 * A * c)) < 1e-14;
    }
    check(ok, "ensemble mean and variance equal the scalar closed form at t = 0, 1, inf");
    double variances[3];
    options.covariance = NTK_COVARIANCE_DIAGONAL;
    check(ntk_ensemble_gradient_flow(1, &b, 1, &a, 1, &targets, &test, 3, times, &options, NULL, variances) == NTK_OK &&
              fabs(variances[0] - cov[0]) < 1e-15 && fabs(variances[1] - cov[1]) < 1e-15 &&
              fabs(variances[2] - cov[2]) < 1e-15,
          "the variances alone equal the covariance of one point");
    options.covariance = (ntk_covariance_form)7;
    check(ntk_ensemble_gradient_flow(1, &b, 1, &a, 1, &targets, &test, 3, times, &options, NULL, variances) ==
              NTK_ERR_INVALID_ARGUMENT && strstr(ntk_last_error(), "options->covariance") != NULL,
          "an unknown covariance form is rejected");
    options.covariance = NTK_COVARIANCE_FULL;

    double f0 = 0.1;
    ntk_targets with_offsets = {1, &y, 1, &f0, 1};
    check(ntk_ensemble_gradient_flow(1, &b, 1, &a, 1, &with_offsets, &test, 3, times, NULL, mean, cov) ==
                  NTK_ERR_INVALID_ARGUMENT && strstr(ntk_last_error(), "targets->f0 must be NULL") != NULL,
          "the ensemble rejects offsets");
    check(ntk_ensemble_gradient_flow(1, &b, 1, NULL, 1, &targets, &test, 3, times, NULL, mean, cov) ==
              NTK_ERR_INVALID_ARGUMENT,
          "the NTK regime needs ntk_train");
    double negative = -1;
    check(ntk_ensemble_gradient_flow(1, &b, 1, &a, 1, &targets, &test, 1, &negative, NULL, mean, cov) ==
              NTK_ERR_INVALID_ARGUMENT,
          "negative times are rejected");

    /* GP posterior with noise z: mean = c y / (b + z), var = d - c^2 / (b + z),
     * log p(y) = -y^2 / (2 (b + z)) - log(b + z) / 2 - log(2 pi) / 2. */
    ntk_gp_options gp;
    check(ntk_gp_options_init(&gp) == NTK_OK && gp.ridge == 0, "GP options default to no noise");
    gp.ridge = 0.25;
    ntk_test_kernel kt = {1, &c, 1, NULL, 1};
    double m = 0, v = 0, lml = 0, z = 0.25;
    check(ntk_gp_posterior(1, &b, 1, &targets, &kt, &d, 1, &gp, &m, &v, &lml) == NTK_OK &&
              fabs(m - c * y / (b + z)) < 1e-15 && fabs(v - (d - c * c / (b + z))) < 1e-15 &&
              fabs(lml - (-y * y / (2 * (b + z)) - 0.5 * log(b + z) - 0.5 * log(2 * 3.14159265358979323846))) < 1e-14,
          "GP posterior mean, variance and log marginal likelihood on one point");
    double singular[4] = {1, 1, 1, 1}, yy[2] = {1, 1}, k2[2] = {1, 1};
    ntk_targets t2 = {1, yy, 1, NULL, 1};
    ntk_test_kernel kt2 = {1, k2, 2, NULL, 1};
    check(ntk_gp_posterior(2, singular, 2, &t2, &kt2, &d, 1, NULL, &m, &v, &lml) == NTK_ERR_NOT_POSITIVE_DEFINITE,
          "a singular kernel without noise is not positive definite");
}

/* Nystrom with one centre has a closed form: K_nm = a (n x 1), K_mm = c, beta = a^T y / (a^T a + z c). */
static void test_nystrom(void) {
    double a[4] = {1.0, 0.5, -0.25, 2.0}, c = 1.5, y[8] = {1, 2, 0, -1, 3, 0.5, -2, 1}, z = 0.3;
    ntk_targets targets = {2, y, 2, NULL, 2};
    double ata = 0, aty[2] = {0, 0};
    for (int i = 0; i < 4; i++) {
        ata += a[i] * a[i];
        aty[0] += a[i] * y[2 * i];
        aty[1] += a[i] * y[2 * i + 1];
    }
    double beta[2] = {aty[0] / (ata + z * c), aty[1] / (ata + z * c)};
    ntk_nystrom_options options;
    check(ntk_nystrom_options_init(&options) == NTK_OK && options.solver == NTK_NYSTROM_DIRECT &&
              options.centers == NTK_CENTERS_UNIFORM && options.tol == 1e-8 && options.max_iter == 100 &&
              options.preconditioned == 1,
          "nystrom options default to the direct solver, uniform centres, tol 1e-8, 100 iterations");
    int64_t before = ntk_live_handle_count();
    for (int solver = 0; solver < 2; solver++) {
        options.solver = solver == 0 ? NTK_NYSTROM_DIRECT : NTK_NYSTROM_CG;
        ntk_nystrom *model = NULL;
        int status = ntk_nystrom_fit_kernel(4, 1, a, 1, &c, 1, &targets, z, &options, &model);
        double b = 0.7, pred[2] = {0, 0}, coef[2] = {0, 0};
        ntk_nystrom_test test = {1, NULL, 1, &b, 1, NULL, 1};
        check(status == NTK_OK && ntk_nystrom_predict(model, &test, pred, 2, NULL, NULL) == NTK_OK &&
                  ntk_nystrom_coefficients(model, coef, 2) == NTK_OK && fabs(coef[0] - beta[0]) < 1e-13 &&
                  fabs(coef[1] - beta[1]) < 1e-13 && fabs(pred[0] - b * beta[0]) < 1e-13 && fabs(pred[1] - b * beta[1]) < 1e-13,
              solver == 0 ? "direct Nystrom with one centre equals the closed form" : "Falkon CG with one centre equals the closed form");
        int64_t n = 0, m = 0, k = 0, iterations = -1;
        int converged = 0;
        check(ntk_nystrom_info(model, &n, &m, &k, &iterations, NULL, &converged, NULL) == NTK_OK && n == 4 && m == 1 &&
                  k == 2 && converged == 1 && (solver == 0 ? iterations == 0 : iterations >= 1),
              "nystrom info reports sizes, iterations and convergence");
        if (solver == 0) {
            /* Path at t = inf with ridge 0.3 and 1.2; GCV of one ridge; eigenvalue a^T a / c. */
            double times[2] = {INFINITY, INFINITY}, ridges[2] = {0.3, 1.2}, path[4], w = 0, score = 0;
            int64_t best = -1;
            const ntk_grid path_grid = {2, times, ridges, 1.0};
            check(ntk_nystrom_path(model, &test, &path_grid, path, NULL, NULL) == NTK_OK &&
                      fabs(path[2] - b * aty[0] / (ata + 1.2 * c)) < 1e-13 && fabs(path[0] - pred[0]) < 1e-13 &&
                      ntk_nystrom_eigenvalues(model, &w) == NTK_OK && fabs(w - ata / c) < 1e-13 &&
                      ntk_nystrom_select_ridge(model, 1, ridges, &score, &best) == NTK_OK && best == 0 && score > 0,
                  "nystrom path, eigenvalue and GCV on one centre");
            ntk_nystrom_test with_points = {1, &b, 1, NULL, 1, NULL, 1};
            check(ntk_nystrom_predict(model, &with_points, pred, 2, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT &&
                      strstr(ntk_last_error(), "K_test_centers") != NULL,
                  "a kernel-fitted model refuses test points");
            check(ntk_nystrom_centers(model, &n) == NTK_ERR_INVALID_ARGUMENT, "a kernel-fitted model has no centre indices");
        } else {
            check(ntk_nystrom_path(model, &test, &(const ntk_grid){1, NULL, NULL, 1.0}, pred, NULL, NULL) ==
                      NTK_ERR_INVALID_ARGUMENT,
                  "a CG model has no ridge path");
        }
        ntk_nystrom_free(model);
        ntk_nystrom_free(model); /* already freed: ignored */
    }
    /* On points: all of them as centres is dense kernel ridge with the same kernel. (To ~1e-9:
     * K(X, C) is evaluated as a cross-kernel, whose entries at coincident points carry the
     * arccos rounding near correlation 1, while K_mm and the dense kernel use the exact diagonal.) */
    int64_t widths[1] = {16};
    ntk_mlp *mlp = NULL;
    ntk_mlp_create(2, 1, widths, 1, NTK_ACTIVATION_RELU, NULL, &mlp);
    double x[8] = {0.1, 0.9, -0.4, 0.3, 0.8, -0.7, -0.2, -0.5}, k4[16], ky[4] = {1, -1, 0.5, 2};
    ntk_infinite_width_kernels(mlp, 4, x, 2, 4, NULL, 2, NULL, NULL, 1, k4, 4);
    ntk_targets t1 = {1, ky, 1, NULL, 1};
    ntk_kernel_ridge *dense = NULL;
    double dense_pred[4], nys_pred[4];
    ntk_test_kernel on_train = {4, k4, 4, NULL, 1};
    ntk_kernel_ridge_fit(4, k4, 4, &t1, 0.05, NULL, &dense);
    ntk_kernel_ridge_predict(dense, &on_train, dense_pred, 1);
    ntk_kernel_ridge_free(dense);
    ntk_nystrom *model = NULL;
    ntk_nystrom_test points = {4, x, 2, NULL, 1, NULL, 1};
    int64_t centers[4] = {-1, -1, -1, -1};
    check(ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 4, NULL, &model) == NTK_OK &&
              ntk_nystrom_predict(model, &points, nys_pred, 1, NULL, NULL) == NTK_OK &&
              max_abs_diff(nys_pred, dense_pred, 4) < 1e-7 && ntk_nystrom_centers(model, centers) == NTK_OK &&
              centers[0] + centers[1] + centers[2] + centers[3] == 6,
          "Nystrom on points with all of them as centres equals dense kernel ridge");
    ntk_nystrom_test both = {4, x, 2, k4, 4, NULL, 1};
    check(ntk_nystrom_predict(model, &both, nys_pred, 1, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "a test set with both X and K_test_centers is refused");
    ntk_nystrom_free(model);
    /* Bad input and cancellation. */
    model = (ntk_nystrom *)&c;
    check(ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 0, NULL, &model) == NTK_ERR_INVALID_ARGUMENT && model == NULL &&
              ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 5, NULL, &model) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_nystrom_fit(mlp, 4, x, 2, &t1, -1.0, 2, NULL, &model) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "n_centers outside 1..n, a negative ridge and a NULL out-pointer are invalid arguments");
    ntk_nystrom_options bad;
    ntk_nystrom_options_init(&bad);
    bad.tol = 0;
    int s1 = ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, &bad, &model);
    ntk_nystrom_options_init(&bad);
    bad.solver = (ntk_nystrom_solver)7;
    int s2 = ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, &bad, &model);
    ntk_nystrom_options_init(&bad);
    bad.memory_limit = 100;
    int s3 = ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, &bad, &model);
    ntk_nystrom_options_init(&bad);
    int reports = 0;
    bad.progress = cancel_at_first_report;
    bad.progress_user = &reports;
    int s4 = ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, &bad, &model);
    ntk_nystrom_options_init(&bad);
    bad.solver = NTK_NYSTROM_CG;
    bad.preconditioner_rows = -2;
    int s5 = ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, &bad, &model);
    check(s1 == NTK_ERR_INVALID_ARGUMENT && s2 == NTK_ERR_INVALID_ARGUMENT && s3 == NTK_ERR_OUT_OF_MEMORY &&
              s4 == NTK_ERR_CANCELLED && reports == 1 && s5 == NTK_ERR_INVALID_ARGUMENT && model == NULL,
          "tol <= 0, an unknown solver, a too small memory limit, cancellation and preconditioner_rows < -1 fail "
          "cleanly");
    /* Falkon's preconditioner from the centres (-1), from 3 rows and from all of them (0: min(n, 16 c)):
     * the same solution as the direct solver. */
    double direct_pred[4], cg_pred[4];
    ntk_nystrom_options cg;
    ntk_nystrom_options_init(&cg);
    ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, &cg, &model);
    ntk_nystrom_predict(model, &points, direct_pred, 1, NULL, NULL);
    ntk_nystrom_free(model);
    cg.solver = NTK_NYSTROM_CG;
    cg.tol = 1e-13;
    for (int64_t rows = -1; rows <= 3; rows += 2) {
        cg.preconditioner_rows = rows == 1 ? 0 : rows;
        model = NULL;
        check(ntk_nystrom_fit(mlp, 4, x, 2, &t1, 0.05, 2, &cg, &model) == NTK_OK &&
                  ntk_nystrom_predict(model, &points, cg_pred, 1, NULL, NULL) == NTK_OK &&
                  max_abs_diff(cg_pred, direct_pred, 4) < 1e-9,
              "Falkon CG with each preconditioner equals the direct solution");
        ntk_nystrom_free(model);
    }
    model = NULL;
    check(ntk_live_handle_count() == before + 1, "no Nystrom handle leaked (only the MLP is alive)");
    ntk_mlp_free(mlp);
    int64_t budget = 0, physical = 0;
    check(ntk_memory_budget(&budget, &physical) == NTK_OK && budget > 0 && (physical == 0 || budget == physical / 4) &&
              ntk_set_memory_budget(1 << 20) == NTK_OK && ntk_memory_budget(&budget, NULL) == NTK_OK && budget == (1 << 20) &&
              ntk_set_memory_budget(-1) == NTK_ERR_INVALID_ARGUMENT && ntk_set_memory_budget(0) == NTK_OK &&
              ntk_memory_budget(&budget, NULL) == NTK_OK && (physical == 0 || budget == physical / 4),
          "the memory budget defaults to a quarter of physical memory and can be set and reset");
}

/* The matrix-free empirical NTK against the dense one: kernel ridge and gradient flow. */
static void test_matrix_free(void) {
    int64_t widths[2] = {6, 5};
    ntk_mlp *mlp = NULL;
    ntk_mlp_create(2, 2, widths, 1, NTK_ACTIVATION_TANH, NULL, &mlp);
    enum { N = 12 };
    double x[2 * N], y[N], k[N * N], a[N * N + N], alpha[N], z = 0.05;
    for (int i = 0; i < 2 * N; i++) x[i] = uniform();
    for (int i = 0; i < N; i++) y[i] = sin(3 * x[2 * i]) + x[2 * i + 1];
    ntk_empirical_ntk(mlp, N, x, 2, N, NULL, 2, NTK_OUTPUT_MEAN, NULL, k, N);
    /* Dense reference: Gaussian elimination on (K + zI) alpha = y. */
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) a[i * (N + 1) + j] = k[i * N + j] + (i == j ? z : 0);
        a[i * (N + 1) + N] = y[i];
    }
    for (int c = 0; c < N; c++)
        for (int r = c + 1; r < N; r++) {
            double f = a[r * (N + 1) + c] / a[c * (N + 1) + c];
            for (int j = c; j <= N; j++) a[r * (N + 1) + j] -= f * a[c * (N + 1) + j];
        }
    for (int r = N - 1; r >= 0; r--) {
        double s = a[r * (N + 1) + N];
        for (int j = r + 1; j < N; j++) s -= a[r * (N + 1) + j] * alpha[j];
        alpha[r] = s / a[r * (N + 1) + r];
    }
    ntk_targets targets = {1, y, 1, NULL, 1};
    ntk_empirical_solver_options options;
    check(ntk_empirical_solver_options_init(&options) == NTK_OK && options.tol == 1e-8 && options.max_iter == 500 &&
              options.preconditioner_rank == 256 && options.learning_rate == 1.0,
          "matrix-free options default to tol 1e-8, 500 iterations, rank 256, rate 1");
    options.tol = 1e-13;
    options.preconditioner_rank = 4;
    ntk_empirical_ridge *model = NULL;
    double got[N], pred[N], expected[N];
    int64_t iterations = 0;
    int converged = 0;
    for (int i = 0; i < N; i++) {
        expected[i] = 0;
        for (int j = 0; j < N; j++) expected[i] += k[i * N + j] * alpha[j];
    }
    ntk_points train = {N, x, 2, NULL, 1};
    check(ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &options, &model) == NTK_OK &&
              ntk_empirical_ridge_dual_coefficients(model, got, 1) == NTK_OK && max_abs_diff(got, alpha, N) < 1e-9 &&
              ntk_empirical_ridge_predict(model, &train, pred, 1, NULL, NULL) == NTK_OK &&
              max_abs_diff(pred, expected, N) < 1e-9 &&
              ntk_empirical_ridge_info(model, NULL, NULL, &iterations, NULL, &converged) == NTK_OK && converged == 1 &&
              iterations >= 1,
          "matrix-free CG kernel ridge equals Gaussian elimination on the dense empirical NTK");
    ntk_empirical_ridge_free(model);
    /* The preconditioner's centres given as points (here rows 1..4 of x, leading dimension 3). */
    double centers[4 * 3];
    for (int i = 0; i < 4; i++) {
        centers[3 * i] = x[2 * (i + 1)];
        centers[3 * i + 1] = x[2 * (i + 1) + 1];
        centers[3 * i + 2] = NAN; /* padding: never read */
    }
    options.preconditioner_centers = centers;
    options.preconditioner_ldc = 3;
    model = NULL;
    check(ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &options, &model) == NTK_OK &&
              ntk_empirical_ridge_dual_coefficients(model, got, 1) == NTK_OK && max_abs_diff(got, alpha, N) < 1e-9,
          "CG with the preconditioner's centres given as points: the same solution");
    ntk_empirical_ridge_free(model);
    model = NULL;
    options.preconditioner_ldc = 1;
    check(ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &options, &model) == NTK_ERR_INVALID_ARGUMENT && !model,
          "preconditioner_ldc below d is rejected");
    options.preconditioner_centers = NULL;
    /* Single-precision products refined by double ones: the same solution to the tolerance. */
    check(options.precision == NTK_PRECISION_DOUBLE, "products default to double precision");
    options.precision = NTK_PRECISION_SINGLE;
    model = NULL;
    check(ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &options, &model) == NTK_OK &&
              ntk_empirical_ridge_dual_coefficients(model, got, 1) == NTK_OK && max_abs_diff(got, alpha, N) < 1e-9 &&
              ntk_empirical_ridge_info(model, NULL, NULL, NULL, NULL, &converged) == NTK_OK && converged == 1,
          "CG on single-precision products with double reliable updates equals Gaussian elimination");
    ntk_empirical_ridge_free(model);
    double flow_single[N];
    check(ntk_empirical_gradient_flow(mlp, N, x, 2, &targets, 1, &z, NULL, &options, flow_single, NULL, NULL) ==
                  NTK_ERR_INVALID_ARGUMENT,
          "the gradient flow refuses single-precision products");
    options.precision = 7;
    model = NULL;
    check(ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &options, &model) == NTK_ERR_INVALID_ARGUMENT && !model,
          "a precision that is not an ntk_precision is rejected");
    options.precision = NTK_PRECISION_DOUBLE;
    /* Gradient flow at t = 0 is f0 (here 0) and at a long time approaches kernel regression. */
    double times[2] = {0.0, 1e13}, flow[2 * N], estimate = -1;
    options.tol = 1e-12;
    check(ntk_empirical_gradient_flow(mlp, N, x, 2, &targets, 2, times, NULL, &options, flow, NULL, &estimate) == NTK_OK &&
              fabs(flow[0]) < 1e-12 && max_abs_diff(flow + N, y, N) < 1e-6 && estimate >= 0,
          "Lanczos gradient flow starts at f0 and ends at the targets (K is invertible)");
    double bad_time = INFINITY;
    check(ntk_empirical_gradient_flow(mlp, N, x, 2, &targets, 1, &bad_time, NULL, NULL, flow, NULL, NULL) ==
                  NTK_ERR_INVALID_ARGUMENT &&
              ntk_empirical_gradient_flow(mlp, N, x, 2, &targets, 1, times, NULL, NULL, flow, flow, NULL) ==
                  NTK_ERR_INVALID_ARGUMENT,
          "gradient flow refuses t = inf and pred_test without test points");
    ntk_empirical_solver_options bad;
    ntk_empirical_solver_options_init(&bad);
    bad.tol = -1;
    int s1 = ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &bad, &model);
    ntk_empirical_solver_options_init(&bad);
    bad.preconditioner_rank = -3;
    int s2 = ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &bad, &model);
    ntk_empirical_solver_options_init(&bad);
    int reports = 0;
    bad.progress = cancel_at_first_report;
    bad.progress_user = &reports;
    int s3 = ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, z, &bad, &model);
    check(s1 == NTK_ERR_INVALID_ARGUMENT && s2 == NTK_ERR_INVALID_ARGUMENT && s3 == NTK_ERR_CANCELLED && model == NULL &&
              ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, -1.0, NULL, &model) == NTK_ERR_INVALID_ARGUMENT,
          "bad tolerance, rank and ridge, and cancellation, fail cleanly");
    ntk_mlp_free(mlp);
}

/* An MLP wrapped as a model given by callbacks: its Jacobian at the requested rows (gathered
 * from the data), then J v and J^T u by plain loops. `fail_at` > 0 makes that call fail. */
typedef struct wrapped_mlp {
    const ntk_mlp *mlp;
    const double *X;
    int64_t d, k, p;
    int calls, fail_at;
} wrapped_mlp;

/* The Jacobian of `count` rows into a fresh buffer (count x k x p); NULL on failure. */
static double *wrapped_jacobian(wrapped_mlp *w, int64_t count, const int64_t *rows) {
    if (w->fail_at > 0 && ++w->calls == w->fail_at) return NULL;
    double *x = malloc((size_t)(count * w->d) * sizeof(double));
    double *J = malloc((size_t)(count * w->k * w->p) * sizeof(double));
    for (int64_t i = 0; i < count; i++) memcpy(x + i * w->d, w->X + rows[i] * w->d, (size_t)w->d * sizeof(double));
    int status = ntk_mlp_jacobian(w->mlp, count, x, w->d, J);
    free(x);
    if (status != NTK_OK) {
        free(J);
        return NULL;
    }
    return J;
}

static int wrapped_jvp(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *v, double *out) {
    wrapped_mlp *w = user;
    double *J = wrapped_jacobian(w, count, rows);
    if (J == NULL) return 7;
    for (int64_t j = 0; j < nvec; j++)
        for (int64_t r = 0; r < count * w->k; r++) {
            double s = 0;
            for (int64_t q = 0; q < w->p; q++) s += J[r * w->p + q] * v[j * w->p + q];
            out[j * count * w->k + r] = s;
        }
    free(J);
    return 0;
}

static int wrapped_vjp(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *u, double *out) {
    wrapped_mlp *w = user;
    double *J = wrapped_jacobian(w, count, rows);
    if (J == NULL) return 7;
    for (int64_t j = 0; j < nvec; j++)
        for (int64_t q = 0; q < w->p; q++) {
            double s = 0;
            for (int64_t r = 0; r < count * w->k; r++) s += J[r * w->p + q] * u[j * count * w->k + r];
            out[j * w->p + q] = s;
        }
    free(J);
    return 0;
}

static int wrapped_full_jacobian(void *user, int64_t count, const int64_t *rows, double *out) {
    wrapped_mlp *w = user;
    double *J = wrapped_jacobian(w, count, rows);
    if (J == NULL) return 7;
    memcpy(out, J, (size_t)(count * w->k * w->p) * sizeof(double));
    free(J);
    return 0;
}

static int wrapped_forward(void *user, int64_t count, const int64_t *rows, double *out) {
    wrapped_mlp *w = user;
    for (int64_t i = 0; i < count; i++)
        if (ntk_mlp_forward(w->mlp, 1, w->X + rows[i] * w->d, w->d, out + i * w->k, w->k) != NTK_OK) return 3;
    return 0;
}

static int nan_jvp(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *v, double *out) {
    int status = wrapped_jvp(user, count, rows, nvec, v, out);
    out[0] = NAN;
    return status;
}

/* The callback model of an MLP against the MLP's own kernels and solvers. */
static void test_models(void) {
    enum { N = 10, D = 3, K = 2, M = 4 };
    int64_t widths[2] = {5, 4}, p = 0;
    ntk_mlp *mlp = NULL;
    ntk_mlp_create(D, 2, widths, K, NTK_ACTIVATION_TANH, NULL, &mlp);
    ntk_mlp_info(mlp, NULL, NULL, NULL, &p);
    double X[(N + M) * D];
    for (int i = 0; i < (N + M) * D; i++) X[i] = uniform();
    wrapped_mlp w = {mlp, X, D, K, p, 0, 0};
    ntk_model_callbacks cb;
    check(ntk_model_callbacks_init(&cb) == NTK_OK && cb.k == 1 && cb.block_rows == 256 && cb.jvp == NULL,
          "model callbacks default to k = 1, blocks of 256 rows");
    cb.n_params = p;
    cb.k = K;
    cb.jvp = wrapped_jvp;
    cb.vjp = wrapped_vjp;
    cb.forward = wrapped_forward;
    cb.user = &w;
    cb.block_rows = 3;
    ntk_model *model = NULL, *with_jacobian = NULL;
    check(ntk_model_create(&cb, &model) == NTK_OK, "model from callbacks");
    cb.jacobian = wrapped_full_jacobian;
    ntk_model_create(&cb, &with_jacobian);
    int64_t got_p = 0, got_k = 0;
    check(ntk_model_info(model, &got_p, &got_k) == NTK_OK && got_p == p && got_k == K, "model info");

    /* Every form, both methods, with and without the jacobian callback, against the MLP. */
    const ntk_output_form forms[3] = {NTK_OUTPUT_MEAN, NTK_OUTPUT_PER_OUTPUT, NTK_OUTPUT_FULL};
    const int entries[3] = {1, K, K * K};
    static double expected[N * M * K * K], got[N * M * K * K], sym_expected[N * N * K * K], sym[N * N * K * K];
    int64_t test_rows[M];
    for (int i = 0; i < M; i++) test_rows[i] = N + i;
    int all_equal = 1;
    for (int f = 0; f < 3; f++) {
        int e = entries[f];
        ntk_empirical_ntk(mlp, N, X, D, M, X + N * D, D, forms[f], NULL, expected, M * e);
        ntk_empirical_ntk(mlp, N, X, D, N, NULL, D, forms[f], NULL, sym_expected, N * e);
        for (int variant = 0; variant < 3; variant++) {
            ntk_empirical_ntk_options o;
            ntk_empirical_ntk_options_init(&o);
            o.method = variant == 2 ? NTK_METHOD_VECTOR_PRODUCTS : NTK_METHOD_STRUCTURED;
            const ntk_model *which = variant == 1 ? with_jacobian : model;
            if (ntk_model_empirical_ntk(which, N, NULL, M, test_rows, forms[f], &o, got, M * e) != NTK_OK ||
                max_abs_diff(got, expected, (size_t)(N * M * e)) > 1e-12 ||
                ntk_model_empirical_ntk(which, N, NULL, N, NULL, forms[f], &o, sym, N * e) != NTK_OK ||
                max_abs_diff(sym, sym_expected, (size_t)(N * N * e)) > 1e-12)
                all_equal = 0;
        }
    }
    check(all_equal, "model kernel (3 forms; contraction by vjp rows or jacobian; vector products) = ntk_empirical_ntk "
                     "to 1e-12");
    ntk_empirical_ntk_options small;
    ntk_empirical_ntk_options_init(&small);
    small.memory_limit = (int64_t)(6 * K * p * 8);  /* blocks of one row: recomputed per pair */
    check(ntk_model_empirical_ntk(model, N, NULL, N, NULL, NTK_OUTPUT_MEAN, &small, sym, N) == NTK_OK &&
              (ntk_empirical_ntk(mlp, N, X, D, N, NULL, D, NTK_OUTPUT_MEAN, NULL, sym_expected, N),
               max_abs_diff(sym, sym_expected, N * N) < 1e-12),
          "model kernel in one-row Jacobian blocks under a small memory limit is the same");
    double diag[N * K], diag_expected[N * K];
    ntk_empirical_ntk_diagonal(mlp, N, X, D, NTK_OUTPUT_PER_OUTPUT, diag_expected, K);
    check(ntk_model_empirical_ntk_diagonal(model, N, NULL, NTK_OUTPUT_PER_OUTPUT, diag, K) == NTK_OK &&
              max_abs_diff(diag, diag_expected, N * K) < 1e-12,
          "model kernel diagonal per output = ntk_empirical_ntk_diagonal");
    double f[N * K], f_expected[N * K];
    ntk_mlp_forward(mlp, N, X, D, f_expected, K);
    check(ntk_model_forward(model, N, NULL, f, K) == NTK_OK && max_abs_diff(f, f_expected, N * K) < 1e-14,
          "model forward in blocks = ntk_mlp_forward");

    /* CG ridge and Lanczos flow: the model's against the MLP's. */
    double Y[N * K], alpha[N * K], alpha_expected[N * K], pred[M * K], pred_expected[M * K];
    for (int i = 0; i < N * K; i++) Y[i] = sin(2.0 * i);
    ntk_targets targets = {K, Y, K, NULL, K};
    ntk_empirical_solver_options so;
    ntk_empirical_solver_options_init(&so);
    so.preconditioner_centers = X; /* points: a network's notion, not a model's */
    so.preconditioner_ldc = D;
    ntk_empirical_ridge *refused = NULL;
    check(ntk_model_ridge_fit(model, N, NULL, &targets, 0.01, &so, &refused) == NTK_ERR_INVALID_ARGUMENT && !refused,
          "a model's fit refuses preconditioner centres given as points");
    so.preconditioner_centers = NULL;
    so.tol = 1e-13;
    so.preconditioner_rank = 3;
    ntk_empirical_ridge *ridge = NULL, *ridge_expected = NULL;
    ntk_points test_points = {M, X + N * D, D, NULL, K};
    ntk_rows test = {M, test_rows, NULL, K};
    ntk_empirical_ridge_fit(mlp, N, X, D, &targets, 0.01, &so, &ridge_expected);
    ntk_empirical_ridge_dual_coefficients(ridge_expected, alpha_expected, K);
    ntk_empirical_ridge_predict(ridge_expected, &test_points, pred_expected, K, NULL, NULL);
    check(ntk_model_ridge_fit(model, N, NULL, &targets, 0.01, &so, &ridge) == NTK_OK &&
              ntk_empirical_ridge_dual_coefficients(ridge, alpha, K) == NTK_OK &&
              max_abs_diff(alpha, alpha_expected, N * K) < 1e-9 &&
              ntk_empirical_ridge_predict_rows(ridge, &test, pred, K, NULL, NULL) == NTK_OK &&
              max_abs_diff(pred, pred_expected, M * K) < 1e-9,
          "model CG ridge and its predictions at test rows = the MLP's to 1e-9");
    ntk_empirical_ridge *kept = NULL;
    check(ntk_model_ridge_fit(with_jacobian, N, NULL, &targets, 0.01, &so, &kept) == NTK_OK &&
              ntk_empirical_ridge_dual_coefficients(kept, alpha, K) == NTK_OK &&
              max_abs_diff(alpha, alpha_expected, N * K) < 1e-9 &&
              ntk_empirical_ridge_predict_rows(kept, &test, pred, K, NULL, NULL) == NTK_OK &&
              max_abs_diff(pred, pred_expected, M * K) < 1e-9,
          "model CG ridge with the jacobian callback (Jacobian kept, products by GEMM) = the MLP's to 1e-9");
    ntk_empirical_ridge_free(kept);
    check(ntk_empirical_ridge_predict(ridge, &test_points, pred, K, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_empirical_ridge_predict_rows(ridge_expected, &test, pred, K, NULL, NULL) == NTK_ERR_INVALID_ARGUMENT,
          "a model's ridge predicts at rows, an MLP's at inputs, and says so");
    ntk_empirical_ridge_free(ridge_expected);
    double times[2] = {0.5, 3.0}, flow[2 * N * K], flow_expected[2 * N * K], ftest[2 * M * K], ftest_expected[2 * M * K];
    so.tol = 1e-12;
    ntk_empirical_gradient_flow(mlp, N, X, D, &targets, 2, times, &test_points, &so, flow_expected, ftest_expected,
                                NULL);
    check(ntk_model_gradient_flow(model, N, NULL, &targets, 2, times, &test, &so, flow, ftest, NULL) == NTK_OK &&
              max_abs_diff(flow, flow_expected, 2 * N * K) < 1e-9 &&
              max_abs_diff(ftest, ftest_expected, 2 * M * K) < 1e-9,
          "model Lanczos gradient flow (train and test rows) = the MLP's to 1e-9");

    /* Failures: a callback that fails at its 3rd call, NaN, bad descriptors. */
    long alive = (long)ntk_live_handle_count();
    w.calls = 0;
    w.fail_at = 3;
    ntk_empirical_ridge *failed_fit = NULL;
    int s1 = ntk_model_ridge_fit(model, N, NULL, &targets, 0.01, &so, &failed_fit);
    char message[512];
    snprintf(message, sizeof message, "%s", ntk_last_error());
    w.calls = 0;
    int s2 = ntk_model_empirical_ntk(model, N, NULL, N, NULL, NTK_OUTPUT_MEAN, NULL, sym, N);
    w.fail_at = 0;
    check(s1 == NTK_ERR_CALLBACK && s2 == NTK_ERR_CALLBACK && failed_fit == NULL && strstr(message, "returned 7") &&
              (long)ntk_live_handle_count() == alive &&
              ntk_model_empirical_ntk(model, N, NULL, N, NULL, NTK_OUTPUT_MEAN, NULL, sym, N) == NTK_OK &&
              ntk_empirical_ridge_predict_rows(ridge, &test, pred, K, NULL, NULL) == NTK_OK &&
              strcmp(ntk_status_string(NTK_ERR_CALLBACK), "a callback failed") == 0,
          "a failing callback stops fit and kernel with NTK_ERR_CALLBACK, no handle leaked, handles still usable");
    cb.jacobian = NULL;
    cb.jvp = nan_jvp;
    ntk_model *nan_model = NULL;
    ntk_model_create(&cb, &nan_model);
    ntk_empirical_ntk_options vp;
    ntk_empirical_ntk_options_init(&vp);
    vp.method = NTK_METHOD_VECTOR_PRODUCTS;
    check(ntk_model_empirical_ntk(nan_model, N, NULL, N, NULL, NTK_OUTPUT_MEAN, &vp, sym, N) == NTK_ERR_NON_FINITE,
          "NaN from a callback is NTK_ERR_NON_FINITE");
    ntk_model_free(nan_model);
    ntk_model_callbacks bad = cb;
    bad.vjp = NULL;
    ntk_model *none = NULL;
    int b1 = ntk_model_create(&bad, &none);
    bad = cb;
    bad.n_params = 0;
    int b2 = ntk_model_create(&bad, &none);
    bad = cb;
    bad.block_rows = 0;
    int b3 = ntk_model_create(&bad, &none);
    int64_t negative[2] = {0, -4};
    int b4 = ntk_model_empirical_ntk(model, 2, negative, 2, NULL, NTK_OUTPUT_MEAN, NULL, sym, 2);
    int b5 = ntk_model_empirical_ntk(model, N, NULL, 3, NULL, NTK_OUTPUT_MEAN, NULL, sym, N);
    int b6 = ntk_model_empirical_ntk((const ntk_model *)mlp, N, NULL, N, NULL, NTK_OUTPUT_MEAN, NULL, sym, N);
    ntk_empirical_ntk_options vp_mlp;
    ntk_empirical_ntk_options_init(&vp_mlp);
    vp_mlp.method = NTK_METHOD_VECTOR_PRODUCTS;
    int b7 = ntk_empirical_ntk(mlp, N, X, D, N, NULL, D, NTK_OUTPUT_MEAN, &vp_mlp, sym, N);
    check(b1 == NTK_ERR_INVALID_ARGUMENT && b2 == NTK_ERR_INVALID_ARGUMENT && b3 == NTK_ERR_INVALID_ARGUMENT &&
              none == NULL && b4 == NTK_ERR_INVALID_ARGUMENT && b5 == NTK_ERR_DIMENSION_MISMATCH &&
              b6 == NTK_ERR_INVALID_HANDLE && b7 == NTK_ERR_INVALID_ARGUMENT,
          "missing vjp, P = 0, block_rows = 0, negative rows, n2 != n1 without rows2, an MLP handle as model and "
          "vector products on an MLP are rejected");
    ntk_empirical_ridge_free(ridge);
    ntk_model_free(model);
    ntk_model_free(with_jacobian);
    ntk_mlp_free(mlp);
}

/* hyper with the objective's ridge and amplitude set (for one call). */
static const ntk_kernel_hyperparameters *objective_hyper(ntk_kernel_hyperparameters *hyper, double ridge,
                                                          double amplitude) {
    hyper->ridge = ridge;
    hyper->amplitude = amplitude;
    return hyper;
}

/* Kernel tuning: a linear model (identity, no hidden layer) has K = W^2 (X s)(X s)^T / d + b^2,
 * whose derivatives are closed forms; the LML objective against ntk_gp_posterior, its ridge
 * derivative against central differences; bad arguments. */
static void test_tuning(void) {
    enum { n = 5, d = 2 };
    double x[n * d], y[n], g[n * n];
    for (int i = 0; i < n * d; i++) x[i] = uniform();
    for (int i = 0; i < n; i++) y[i] = uniform();
    for (int i = 0; i < n * n; i++) g[i] = uniform();
    ntk_mlp_options mo;
    ntk_mlp_options_init(&mo);
    ntk_mlp *mlp = NULL;
    check(ntk_mlp_create(d, 0, NULL, 1, NTK_ACTIVATION_IDENTITY, &mo, &mlp) == NTK_OK, "tuning: linear model created");
    double scales[d] = {0.7, 1.6};
    ntk_kernel_hyperparameters hyper;
    check(ntk_kernel_hyperparameters_init(&hyper) == NTK_OK && hyper.w_std == 1.0 && hyper.b_std == 0.0 &&
              hyper.input_scales == NULL && hyper.ridge == 0.01 && hyper.amplitude == 1.0,
          "kernel hyperparameters default to W_std 1, b_std 0, scales 1, ridge 0.01, amplitude 1");
    hyper.w_std = 1.3;
    hyper.b_std = 0.4;
    hyper.input_scales = scales;
    double k[n * n], dk[(d + 2) * n * n], expect[(d + 2) * n * n], kk[n * n], grad[d + 2];
    int status = ntk_infinite_width_gradient(mlp, NTK_KERNEL_NNGP, n, x, d, &hyper, NULL, k, n, dk);
    double worst = 0, contracted_worst = 0;
    for (int a = 0; a < n; a++) {
        for (int b = 0; b < n; b++) {
            double c0 = 0;
            for (int j = 0; j < d; j++) c0 += scales[j] * scales[j] * x[a * d + j] * x[b * d + j] / d;
            kk[a * n + b] = 1.69 * c0 + 0.16;
            expect[a * n + b] = 2 * 1.3 * c0;
            expect[n * n + a * n + b] = 2 * 0.4;
            for (int j = 0; j < d; j++) expect[(2 + j) * n * n + a * n + b] = 1.69 * 2 * scales[j] * x[a * d + j] * x[b * d + j] / d;
        }
    }
    worst = fmax(max_abs_diff(k, kk, n * n), max_abs_diff(dk, expect, (d + 2) * n * n));
    check(status == NTK_OK && worst < 1e-14, "kernel derivatives of a linear model equal the closed forms");
    status = ntk_infinite_width_gradient_contract(mlp, NTK_KERNEL_NTK, n, x, d, &hyper, g, n, NULL, grad);
    for (int q = 0; q < d + 2; q++) {
        double s = 0;
        for (int i = 0; i < n * n; i++) s += g[i] * expect[q * n * n + i];
        contracted_worst = fmax(contracted_worst, fabs(s - grad[q]));
    }
    check(status == NTK_OK && contracted_worst < 1e-13, "the contraction equals sum(G * dK/dtheta)");
    ntk_targets targets = {1, y, 1, NULL, 1};
    double value = 0, gradient[d + 4], lml = 0, up = 0, down = 0;
    ntk_gp_options gp;
    ntk_gp_options_init(&gp);
    gp.ridge = 0.2;
    for (int i = 0; i < n * n; i++) kk[i] *= 1.5;
    status = ntk_kernel_objective(mlp, NTK_KERNEL_NTK, n, x, d, &targets,
                                  objective_hyper(&hyper, 0.2, 1.5), NTK_TUNING_LML, NULL, &value,
                                  gradient);
    ntk_test_kernel none = {0, NULL, n, NULL, 1};
    int gp_status = ntk_gp_posterior(n, kk, n, &targets, &none, NULL, 1, &gp, NULL, NULL, &lml);
    ntk_kernel_objective(mlp, NTK_KERNEL_NTK, n, x, d, &targets,
                         objective_hyper(&hyper, 0.2 + 1e-6, 1.5), NTK_TUNING_LML, NULL, &up, NULL);
    ntk_kernel_objective(mlp, NTK_KERNEL_NTK, n, x, d, &targets,
                         objective_hyper(&hyper, 0.2 - 1e-6, 1.5), NTK_TUNING_LML, NULL, &down, NULL);
    check(status == NTK_OK && gp_status == NTK_OK && fabs(value - lml) < 1e-12 * fabs(lml) &&
              fabs(gradient[d + 2] - (up - down) / 2e-6) < 1e-6 * fmax(1, fabs(gradient[d + 2])),
          "the LML objective equals ntk_gp_posterior's and its ridge derivative the central difference");
    check(ntk_kernel_objective(mlp, NTK_KERNEL_NTK, n, x, d, &targets,
                               objective_hyper(&hyper, 0.0, 1.0), NTK_TUNING_GCV, NULL, &value,
                               NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_kernel_objective(mlp, NTK_KERNEL_NTK, n, x, d, &targets,
                                   objective_hyper(&hyper, 0.1, 1.0), (ntk_tuning_criterion)7,
                                   NULL, &value, NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_kernel_objective(mlp, NTK_KERNEL_NTK, n, x, d, &targets,
                                   objective_hyper(&hyper, 0.1, 1.0), NTK_TUNING_LOO, NULL, NULL,
                                   NULL) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_infinite_width_gradient(mlp, (ntk_kernel_kind)9, n, x, d, &hyper, NULL, k, n, dk) ==
                  NTK_ERR_INVALID_ARGUMENT,
          "tuning rejects ridge 0, unknown criteria and kinds, a NULL value");
    {
        /* Nystrom GCV with every point a centre is the dense GCV (a relu network: K full rank). */
        ntk_mlp *relu = NULL;
        const int64_t one[1] = {4};
        double dense = 0, nystrom = 0, g_dense[d + 4], g_nystrom[d + 4];
        ntk_points centers = {n, x, d, NULL, 1}, bad = {n, x, d, x, d};
        int ok = ntk_mlp_create(d, 1, one, 1, NTK_ACTIVATION_RELU, &mo, &relu) == NTK_OK &&
                 ntk_kernel_objective(relu, NTK_KERNEL_NTK, n, x, d, &targets, objective_hyper(&hyper, 0.1, 1.0),
                                      NTK_TUNING_GCV, NULL, &dense, g_dense) == NTK_OK &&
                 ntk_kernel_objective_nystrom(relu, NTK_KERNEL_NTK, n, x, d, &centers, &targets, &hyper, NULL,
                                              &nystrom, g_nystrom) == NTK_OK;
        check(ok && fabs(nystrom - dense) < 1e-7 * dense && fabs(g_nystrom[0] - g_dense[0]) < 1e-5 * fabs(g_dense[0]),
              "Nystrom GCV with every point a centre equals the dense GCV, gradient included");
        check(ntk_kernel_objective_nystrom(relu, NTK_KERNEL_NTK, n, x, d, &bad, &targets, &hyper, NULL, &nystrom,
                                           NULL) == NTK_ERR_INVALID_ARGUMENT,
              "Nystrom GCV rejects centres with offsets");
        ntk_mlp_free(relu);
    }
    scales[1] = NAN;
    check(ntk_infinite_width_gradient_contract(mlp, NTK_KERNEL_NTK, n, x, d, &hyper, g, n, NULL, grad) ==
              NTK_ERR_INVALID_ARGUMENT && strstr(ntk_last_error(), "input scale 1") != NULL,
          "a NaN input scale is rejected by name");
    scales[1] = 1.6;
    hyper.w_std = -1;
    check(ntk_infinite_width_gradient_contract(mlp, NTK_KERNEL_NTK, n, x, d, &hyper, g, n, NULL, grad) ==
              NTK_ERR_INVALID_ARGUMENT && strstr(ntk_last_error(), "hyper->w_std") != NULL,
          "a negative W_std is rejected");
    ntk_mlp_free(mlp);
}

/* select_time on a diagonal kernel, whose flow GCV is a closed form, against a fine grid. */
static void test_select_time(void) {
    enum { n = 6 };
    double k[n * n] = {0}, y[n] = {1.0, -0.5, 0.3, 0.8, -1.2, 0.1}, lam[n] = {5.0, 2.0, 1.0, 0.5, 0.1, 0.01};
    for (int i = 0; i < n; i++) k[i * n + i] = lam[i];
    ntk_spectral *solver = NULL;
    ntk_targets targets = {1, y, 1, NULL, 1};
    double time = 0, score = 0, best = INFINITY;
    int status = ntk_spectral_create(n, k, n, NTK_NEGATIVE_CLAMP, NULL, NULL, &solver);
    status = status ? status : ntk_spectral_select_time(solver, &targets, 0.0, 1.0, &time, &score);
    for (int g = 0; g <= 20000; g++) {
        double t = pow(10.0, -3 + 7.0 * g / 20000), residual = 0, trace = 0;
        for (int i = 0; i < n; i++) {
            double keep = exp(-t * lam[i] / n);
            residual += keep * keep * y[i] * y[i];
            trace += 1 - keep;
        }
        double gcv = residual / n / ((1 - trace / n) * (1 - trace / n));
        if (gcv < best) best = gcv;
    }
    check(status == NTK_OK && isfinite(time) && score <= best * (1 + 1e-8) && score >= best * (1 - 1e-4),
          "select_time finds the GCV minimum of gradient flow (closed form on a diagonal kernel)");
    check(ntk_spectral_select_time(solver, &targets, -1.0, 1.0, &time, &score) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_spectral_select_time(solver, &targets, 0.0, 1.0, NULL, &score) == NTK_ERR_INVALID_ARGUMENT,
          "select_time rejects a negative ridge and a NULL time");
    ntk_spectral_free(solver);
}

/* Kernel logistic regression on a diagonal kernel: the points decouple, so the solution has a
 * closed-form check (f_ic = K_ii (y_ic - p_ic) / ridge at the minimum), leaving a point out leaves
 * it logits 0 (the approximate LOO is exact here: log loss log k), the Laplace marginal
 * likelihood is a sum over points, and a test point unrelated to the training points has the
 * prior covariance. */
static void test_kernel_logistic(void) {
    enum { n = 5, k = 3 };
    double kernel[n * n] = {0}, logits[n * k], coef[n * k], f0[n * k] = {0};
    int64_t labels[n] = {0, 1, 2, 1, 0};
    for (int i = 0; i < n; i++) kernel[i * n + i] = 0.5 + i;
    const double ridge = 0.3;
    ntk_labels data = {labels, k, NULL, k};
    ntk_kernel_logistic *model = NULL;
    ntk_kernel_logistic_options tight = NTK_KERNEL_LOGISTIC_OPTIONS_INIT;
    tight.tol = 1e-14; /* Newton converges quadratically: to rounding in a step or two more */
    int status = ntk_kernel_logistic_fit(n, kernel, n, &data, ridge, &tight, &model);
    status = status ? status : ntk_kernel_logistic_train_logits(model, logits, k);
    status = status ? status : ntk_kernel_logistic_coefficients(model, coef, k);
    double worst = 0, lml_want = 0;
    for (int i = 0; i < n; i++) {
        double top = fmax(logits[i * k], fmax(logits[i * k + 1], logits[i * k + 2])), sum = 0, p[k];
        for (int c = 0; c < k; c++) sum += exp(logits[i * k + c] - top);
        for (int c = 0; c < k; c++) p[c] = exp(logits[i * k + c] - top) / sum;
        double loss = top + log(sum) - logits[i * k + labels[i]], penalty = 0;
        for (int c = 0; c < k; c++) {
            double y = labels[i] == c ? 1.0 : 0.0, want = kernel[i * n + i] * (y - p[c]) / ridge;
            worst = fmax(worst, fabs(logits[i * k + c] - want) + fabs(coef[i * k + c] - (y - p[c]) / ridge));
            penalty += logits[i * k + c] * logits[i * k + c];
        }
        /* det(I + a W) for W = diag p - p p^T: 1 + a sum p_c + a^2 (sum_{c<d} p_c p_d (p_c + p_d) ... ) is
         * awkward in general; with a = K_ii / ridge compute it as the 3 x 3 determinant. */
        double a = kernel[i * n + i] / ridge, m[k][k];
        for (int c = 0; c < k; c++)
            for (int d = 0; d < k; d++) m[c][d] = (c == d) + a * ((c == d) * p[c] - p[c] * p[d]);
        double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        lml_want += -loss - ridge / 2 * penalty / kernel[i * n + i] - 0.5 * log(det);
    }
    check(status == NTK_OK && worst < 1e-12,
          "kernel logistic: a diagonal kernel's minimiser satisfies f = K (Y - P) / ridge, beta = (Y - P) / ridge");
    double loo[n * k], loss = -1, lml = 0;
    status = ntk_kernel_logistic_loo(model, loo, k, &loss);
    double largest = 0;
    for (int i = 0; i < n * k; i++) largest = fmax(largest, fabs(loo[i]));
    check(status == NTK_OK && largest < 1e-12 && fabs(loss - log(3.0)) < 1e-12,
          "kernel logistic: leaving a decoupled point out gives it logits 0 (LOO log loss log 3)");
    check(ntk_kernel_logistic_log_marginal_likelihood(model, &lml) == NTK_OK && fabs(lml - lml_want) < 1e-10,
          "kernel logistic: the Laplace marginal likelihood of a diagonal kernel is the sum over its points");
    double k_test[2 * n] = {0}, diag[2] = {2.0, 0.7}, cov[2 * k * k], pred[2 * k];
    ntk_test_kernel test = {2, k_test, n, NULL, k};
    status = ntk_kernel_logistic_latent_covariance(model, 2, k_test, n, diag, cov);
    status = status ? status : ntk_kernel_logistic_predict(model, &test, pred, k);
    worst = 0;
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < k; c++) {
            worst = fmax(worst, fabs(pred[t * k + c]));
            for (int d = 0; d < k; d++) worst = fmax(worst, fabs(cov[(t * k + c) * k + d] - (c == d) * diag[t] / ridge));
        }
    check(status == NTK_OK && worst < 1e-14,
          "kernel logistic: a point unrelated to the training points keeps logits 0 and the prior covariance");
    ntk_kernel_logistic *nys = NULL;
    double nys_logits[n * k];
    status = ntk_kernel_logistic_fit_nystrom(n, n, kernel, n, kernel, n, &data, ridge, &tight, &nys);
    status = status ? status : ntk_kernel_logistic_train_logits(nys, nys_logits, k);
    check(status == NTK_OK && max_abs_diff(nys_logits, logits, n * k) < 1e-12,
          "kernel logistic: Nystrom with every point as a centre is the dense model");
    ntk_kernel_logistic_free(nys);
    double scores[3];
    check(ntk_kernel_logistic_ridge_scores(model, scores) == NTK_ERR_INVALID_ARGUMENT,
          "kernel logistic: a model fitted at one ridge has no grid scores");
    ntk_kernel_logistic_free(model);

    /* A ridge grid: the chosen ridge has the smallest score; offsets shift the logits. */
    double grid[3] = {10.0, 0.1, 1.0};
    for (int i = 0; i < n * k; i++) f0[i] = 0.1 * (i % 4);
    data.f0 = f0;
    ntk_kernel_logistic_options options;
    ntk_kernel_logistic_options_init(&options);
    options.n_ridges = 3;
    options.ridges = grid;
    double chosen = 0;
    int64_t iterations = 0;
    int converged = 0;
    status = ntk_kernel_logistic_fit(n, kernel, n, &data, -1.0, &options, &model);
    status = status ? status : ntk_kernel_logistic_ridge_scores(model, scores);
    status = status ? status : ntk_kernel_logistic_info(model, NULL, NULL, NULL, &chosen, &iterations, &converged);
    int best = 0;
    for (int g = 1; g < 3; g++) if (scores[g] < scores[best]) best = g;
    check(status == NTK_OK && chosen == grid[best] && converged == 1 && iterations >= 1,
          "kernel logistic: a ridge grid keeps the smallest approximate LOO log loss");
    ntk_kernel_logistic_free(model);

    /* Centres given as points: the library's K(X, C) into the features equals the caller's K_nm
     * (K(C, C) by the symmetric path, as the library computes it: the relu kernel of a point with
     * itself differs by ~1e-8 between the symmetric and the cross computation). */
    {
        enum { d = 2, c = 3 };
        double px[n * d], kx[n * c], kc[c * c], from_points[n * k], from_kernel[n * k];
        for (int i = 0; i < n * d; i++) px[i] = sin(1.0 + i);
        const int64_t widths[2] = {1, 1};
        ntk_mlp *net = NULL;
        ntk_kernel_logistic *a = NULL, *b = NULL;
        const ntk_points centers = {c, px + d, d, NULL, 0}; /* rows 1..3 of X */
        data.f0 = NULL;
        status = ntk_mlp_create(d, 2, widths, 1, NTK_ACTIVATION_RELU, NULL, &net);
        status = status ? status : ntk_infinite_width_kernels(net, n, px, d, c, px + d, d, NULL, NULL, 0, kx, c);
        status = status ? status : ntk_infinite_width_kernels(net, c, px + d, d, c, NULL, d, NULL, NULL, 0, kc, c);
        status = status ? status : ntk_kernel_logistic_fit_centers(net, NTK_KERNEL_NTK, n, px, d, &centers, &data,
                                                                   0.5, &tight, &a);
        status = status ? status : ntk_kernel_logistic_fit_nystrom(n, c, kx, c, kc, c, &data, 0.5, &tight, &b);
        status = status ? status : ntk_kernel_logistic_train_logits(a, from_points, k);
        status = status ? status : ntk_kernel_logistic_train_logits(b, from_kernel, k);
        check(status == NTK_OK && max_abs_diff(from_points, from_kernel, n * k) < 1e-11,
              "kernel logistic: centres as points give the model of their cross-kernel");
        const ntk_points bad_centers = {0, px, d, NULL, 0};
        ntk_kernel_logistic *none_made = NULL;
        check(ntk_kernel_logistic_fit_centers(net, NTK_KERNEL_NTK, n, px, d, &bad_centers, &data, 0.5, NULL,
                                              &none_made) == NTK_ERR_INVALID_ARGUMENT && !none_made &&
                  ntk_kernel_logistic_fit_centers(net, (ntk_kernel_kind)7, n, px, d, &centers, &data, 0.5, NULL,
                                                  &none_made) == NTK_ERR_INVALID_ARGUMENT &&
                  ntk_kernel_logistic_fit_centers(NULL, NTK_KERNEL_NTK, n, px, d, &centers, &data, 0.5, NULL,
                                                  &none_made) != NTK_OK,
              "kernel logistic: no centres, a bad kernel kind and a NULL network are rejected");
        ntk_kernel_logistic_free(a);
        ntk_kernel_logistic_free(b);
        ntk_mlp_free(net);
        data.f0 = f0;
    }

    /* Bad input: nothing is created, the caller is told why. */
    int64_t bad_labels[n] = {0, 1, 3, 1, 0};
    ntk_labels one = {labels, 1, NULL, 1}, outside = {bad_labels, k, NULL, k}, none = {NULL, k, NULL, k};
    model = (ntk_kernel_logistic *)&data;
    check(ntk_kernel_logistic_fit(n, kernel, n, &data, 0.0, NULL, &model) == NTK_ERR_INVALID_ARGUMENT && !model &&
              ntk_kernel_logistic_fit(n, kernel, n, &one, 1.0, NULL, &model) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_kernel_logistic_fit(n, kernel, n, &outside, 1.0, NULL, &model) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_kernel_logistic_fit(n, kernel, n, &none, 1.0, NULL, &model) == NTK_ERR_INVALID_ARGUMENT &&
              ntk_kernel_logistic_fit(n, kernel, n, NULL, 1.0, NULL, &model) == NTK_ERR_INVALID_ARGUMENT,
          "kernel logistic: ridge 0, one class, a label out of range and missing labels are rejected");
    kernel[0] = NAN;
    check(ntk_kernel_logistic_fit(n, kernel, n, &data, 1.0, NULL, &model) == NTK_ERR_NON_FINITE && !model,
          "kernel logistic: a NaN in the kernel is rejected");
    kernel[0] = 0.5;
    int reports = 0;
    options.progress = cancel_at_first_report;
    options.progress_user = &reports;
    check(ntk_kernel_logistic_fit(n, kernel, n, &data, 1.0, &options, &model) == NTK_ERR_CANCELLED && !model &&
              reports == 1,
          "kernel logistic: a progress callback cancels the fit");
}

int main(void) {
    test_version();
    test_ensemble();
    test_nystrom();
    test_matrix_free();
    test_models();
    test_log();
    test_blas_info();
    test_gram();
    test_cholesky();
    test_eigh();
    test_regression();
    test_network();
    test_layered_network();
    test_training();
    test_tuning();
    test_select_time();
    test_kernel_logistic();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
