/* Concurrency test of libntk from C: 8 threads on shared read-only handles (kernel ridge, kernel
 * logistic, ...) and on handles of their own give the serial results, and each thread's error
 * message is its own.
 * Prints "N passed, N failed". Build as Tests/c/smoke.c, with -pthread. */
#define _POSIX_C_SOURCE 200809L
#include "ntk.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 8, ROUNDS = 30, N = 48, M = 12, K = 2, D = 3 };

static double x[N * D], xt[M * D], kmat[N * N], kt[M * N], y[N * K];
static double want_solve[N * K], want_predict[M * K], want_flow[2 * N * K], want_ntk[N * N];
static ntk_cholesky_factor *shared_factor;
static ntk_kernel_ridge *shared_ridge;
static ntk_spectral *shared_spectral;
static ntk_mlp *shared_mlp;
static ntk_kernel_logistic *shared_logistic;
static ntk_model *shared_model;
static double want_logits[M * K], want_cov[M * K * K];
/* The architecture of every network here, and the data descriptors of the shared problem. */
static ntk_mlp_options arch = NTK_MLP_OPTIONS_INIT;
static const ntk_targets targets = {K, y, K, NULL, 0};
static const ntk_test_kernel test = {M, kt, N, NULL, 0};

static double worst(const double *a, const double *b, int count) {
    double w = 0, scale = 0;
    for (int i = 0; i < count; i++) {
        w = fmax(w, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return w / (scale > 0 ? scale : 1);
}

/* The shared MLP as a thread-safe model by callbacks (one output): vjp from its Jacobian at the
 * rows (ntk_mlp_jacobian is read-only); jvp likewise. libntk calls vjp on several threads at
 * once to build Jacobian rows (thread_safe = 1). */
static int mlp_product(int transpose, int64_t count, const int64_t *rows, int64_t nvec, const double *in, double *out) {
    int64_t p = 0;
    ntk_mlp_info(shared_mlp, NULL, NULL, NULL, &p);
    double *xs = malloc(sizeof(double) * (size_t)(count * D)), *J = malloc(sizeof(double) * (size_t)(count * p));
    for (int64_t i = 0; i < count; i++) memcpy(xs + i * D, x + rows[i] * D, sizeof(double) * D);
    int status = ntk_mlp_jacobian(shared_mlp, count, xs, D, J);
    for (int64_t j = 0; j < nvec && status == NTK_OK; j++) {
        if (transpose) {
            for (int64_t q = 0; q < p; q++) {
                double sum = 0;
                for (int64_t i = 0; i < count; i++) sum += J[i * p + q] * in[j * count + i];
                out[j * p + q] = sum;
            }
        } else {
            for (int64_t i = 0; i < count; i++) {
                double sum = 0;
                for (int64_t q = 0; q < p; q++) sum += J[i * p + q] * in[j * p + q];
                out[j * count + i] = sum;
            }
        }
    }
    free(xs), free(J);
    return status;
}
static int mlp_jvp(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *v, double *out) {
    (void)user;
    return mlp_product(0, count, rows, nvec, v, out);
}
static int mlp_vjp(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *u, double *out) {
    (void)user;
    return mlp_product(1, count, rows, nvec, u, out);
}

static void *work(void *arg) {
    long id = (long)arg;
    long failed = 0;
    double out[N * N], flow[2 * N * K];
    double times[2] = {1.0, INFINITY};
    const ntk_grid grid = {2, times, NULL, 1.0};
    ntk_mlp *own = NULL;
    int64_t width = 20;
    if (ntk_mlp_create(D, 1, &width, 1, NTK_ACTIVATION_ERF, &arch, &own) != NTK_OK) failed++;
    for (int r = 0; r < ROUNDS; r++) {
        if (ntk_cholesky_factor_solve(shared_factor, K, y, K, out, K) != NTK_OK || worst(out, want_solve, N * K) > 1e-12) failed++;
        if (ntk_kernel_ridge_predict(shared_ridge, &test, out, K) != NTK_OK || worst(out, want_predict, M * K) > 1e-12)
            failed++;
        if (ntk_spectral_predict(shared_spectral, &targets, &grid, NULL, flow, NULL) != NTK_OK ||
            worst(flow, want_flow, 2 * N * K) > 1e-12)
            failed++;
        if (ntk_empirical_ntk(shared_mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, out, N) != NTK_OK ||
            worst(out, want_ntk, N * N) > 1e-12)
            failed++;
        if (ntk_kernel_logistic_predict(shared_logistic, &test, out, K) != NTK_OK ||
            worst(out, want_logits, M * K) > 1e-12 ||
            ntk_kernel_logistic_latent_covariance(shared_logistic, M, kt, N, NULL, flow) != NTK_OK ||
            worst(flow, want_cov, M * K * K) > 1e-12)
            failed++;
        if (ntk_model_empirical_ntk(shared_model, N, NULL, N, NULL, NTK_OUTPUT_MEAN, NULL, out, N) != NTK_OK ||
            worst(out, want_ntk, N * N) > 1e-12)
            failed++;
        /* A handle of this thread's own, same architecture and seed as the shared one. */
        if (ntk_empirical_ntk(own, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, out, N) != NTK_OK ||
            worst(out, want_ntk, N * N) > 1e-12)
            failed++;
        /* The thread-local message: each thread provokes its own error and reads it back. */
        char expected[64];
        snprintf(expected, sizeof expected, "n1 must be >= 0, got %ld", -1 - id);
        ntk_gram(-1 - id, 1, 1, 1.0, x, 1, NULL, 1, out, 1, NULL, NULL);
        if (strstr(ntk_last_error(), expected) == NULL) failed++;
    }
    ntk_mlp_free(own);
    return (void *)failed;
}

int main(void) {
    arch.b_std = 0.2;
    arch.seed = 42;
    unsigned long long s = 7;
    for (int i = 0; i < N * D; i++) x[i] = (double)((s = s * 6364136223846793005ULL + 1) >> 11) / 9007199254740992.0 - 0.5;
    for (int i = 0; i < M * D; i++) xt[i] = (double)((s = s * 6364136223846793005ULL + 1) >> 11) / 9007199254740992.0 - 0.5;
    for (int i = 0; i < N * K; i++) y[i] = (double)((s = s * 6364136223846793005ULL + 1) >> 11) / 9007199254740992.0 - 0.5;
    int64_t width = 20;
    int ok = ntk_mlp_create(D, 1, &width, 1, NTK_ACTIVATION_ERF, &arch, &shared_mlp) == NTK_OK;
    ok &= ntk_empirical_ntk(shared_mlp, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, kmat, N) == NTK_OK;
    ok &= ntk_empirical_ntk(shared_mlp, M, xt, D, N, x, D, NTK_OUTPUT_MEAN, NULL, kt, N) == NTK_OK;
    memcpy(want_ntk, kmat, sizeof kmat);
    ok &= ntk_cholesky_factor_create(N, kmat, N, 0.1, NULL, NULL, &shared_factor) == NTK_OK;
    ok &= ntk_cholesky_factor_solve(shared_factor, K, y, K, want_solve, K) == NTK_OK;
    ok &= ntk_kernel_ridge_fit(N, kmat, N, &targets, 0.1, NULL, &shared_ridge) == NTK_OK;
    ok &= ntk_kernel_ridge_predict(shared_ridge, &test, want_predict, K) == NTK_OK;
    ok &= ntk_spectral_create(N, kmat, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &shared_spectral) == NTK_OK;
    double times[2] = {1.0, INFINITY};
    const ntk_grid grid = {2, times, NULL, 1.0};
    ok &= ntk_spectral_predict(shared_spectral, &targets, &grid, NULL, want_flow, NULL) == NTK_OK;
    int64_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = y[i * K] > y[i * K + 1];
    const ntk_labels classes = {labels, K, NULL, 0};
    ok &= ntk_kernel_logistic_fit(N, kmat, N, &classes, 0.1, NULL, &shared_logistic) == NTK_OK;
    ok &= ntk_kernel_logistic_predict(shared_logistic, &test, want_logits, K) == NTK_OK;
    ok &= ntk_kernel_logistic_latent_covariance(shared_logistic, M, kt, N, NULL, want_cov) == NTK_OK;
    ntk_model_callbacks callbacks;
    ok &= ntk_model_callbacks_init(&callbacks) == NTK_OK;
    callbacks.n_params = 0;
    ntk_mlp_info(shared_mlp, NULL, NULL, NULL, &callbacks.n_params);
    callbacks.jvp = mlp_jvp;
    callbacks.vjp = mlp_vjp;
    callbacks.block_rows = 16;
    callbacks.thread_safe = 1;
    ok &= ntk_model_create(&callbacks, &shared_model) == NTK_OK;
    int passed = 0, failed = 0;
    if (!ok) {
        printf("setup failed: %s\n", ntk_last_error());
        return 1;
    }
    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, work, (void *)t);
    for (int t = 0; t < THREADS; t++) {
        void *result;
        pthread_join(threads[t], &result);
        long f = (long)result;
        printf("%s thread %d: %d rounds of 8 checks, %ld failed\n", f ? "FAIL" : "ok  ", t, ROUNDS, f);
        f ? failed++ : passed++;
    }
    ntk_cholesky_factor_free(shared_factor);
    ntk_kernel_ridge_free(shared_ridge);
    ntk_spectral_free(shared_spectral);
    ntk_mlp_free(shared_mlp);
    ntk_kernel_logistic_free(shared_logistic);
    ntk_model_free(shared_model);
    ntk_live_handle_count() == 0 ? passed++ : failed++;
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
