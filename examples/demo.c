/* libntk demo in C: kernel ridge regression with a linear-plus-quadratic feature kernel.
 *
 * Build (see README):
 *   gcc -std=c99 -O2 -Iinclude examples/demo.c -L.build/release -lntk \
 *       -Wl,-rpath,$PWD/.build/release -lm -o demo
 *
 * Features phi(x) = (x, x_i x_j / sqrt(2)) give the kernel K = Phi Phi^T; the demo builds K with
 * ntk_gram, factors K + zI once with ntk_cholesky_factor_create, fits a target that the
 * features can represent, and predicts held-out points. Every call's status is checked. */
#include "ntk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                        \
    do {                                                                                   \
        int status_ = (call);                                                              \
        if (status_ != NTK_OK) {                                                           \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, ntk_status_string(status_),     \
                    ntk_last_error());                                                     \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

enum { N = 600, M = 200, D = 5, P = D + D * (D + 1) / 2 };

static unsigned long long state = 42;
static double uniform(void) { /* in [-1, 1) */
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double target(const double *x) { return x[0] - 2.0 * x[1] * x[2] + 0.5 * x[3] * x[3]; }

static void features(const double *x, double *phi) {
    int c = 0;
    for (int i = 0; i < D; i++) phi[c++] = x[i];
    for (int i = 0; i < D; i++)
        for (int j = i; j < D; j++) phi[c++] = x[i] * x[j] / sqrt(2.0);
}

int main(void) {
    if (ntk_version_number() / 10000 != NTK_VERSION_MAJOR) {
        fprintf(stderr, "header %d and library %d disagree\n", NTK_VERSION_NUMBER, ntk_version_number());
        return 1;
    }
    const char *core;
    int threads;
    CHECK(ntk_blas_info(&core, NULL, &threads, NULL));
    printf("libntk %s | OpenBLAS core %s, %d threads\n", ntk_version_string(), core, threads);

    static double x[N + M][D], phi[N + M][P], y[N], k_train[N * N], k_test[M * N], alpha[N];
    for (int i = 0; i < N + M; i++) {
        for (int j = 0; j < D; j++) x[i][j] = uniform();
        features(x[i], phi[i]);
    }
    for (int i = 0; i < N; i++) y[i] = target(x[i]) + 0.01 * uniform();

    CHECK(ntk_gram(N, N, P, 1.0, &phi[0][0], P, NULL, 0, k_train, N, NULL, NULL));
    CHECK(ntk_gram(M, N, P, 1.0, &phi[N][0], P, &phi[0][0], P, k_test, N, NULL, NULL));

    double w[N];
    CHECK(ntk_eigh(N, k_train, N, w, NULL, 0, NULL, NULL));
    int rank = 0;
    for (int i = 0; i < N; i++) rank += w[i] > 1e-10 * w[N - 1];
    printf("K_train: %d x %d, largest eigenvalue %.4g, numerical rank %d (feature dimension %d)\n", N, N,
           w[N - 1], rank, P);

    printf("%10s %12s\n", "ridge z", "test MSE");
    for (double z = 1e-6; z <= 1.0; z *= 100) {
        ntk_cholesky_factor *factor = NULL;
        CHECK(ntk_cholesky_factor_create(N, k_train, N, z, NULL, NULL, &factor));
        CHECK(ntk_cholesky_factor_solve(factor, 1, y, 1, alpha, 1));
        ntk_cholesky_factor_free(factor);
        double mse = 0;
        for (int i = 0; i < M; i++) {
            double pred = 0;
            for (int j = 0; j < N; j++) pred += k_test[i * N + j] * alpha[j];
            double e = pred - target(x[N + i]);
            mse += e * e / M;
        }
        printf("%10.0e %12.3e\n", z, mse);
    }

    /* Errors are values, not crashes: K is rank-deficient without a ridge. */
    int status = ntk_cholesky_solve(N, 1, k_train, N, 0.0, y, 1, alpha, 1, NULL, NULL);
    printf("without a ridge: %s — %s\n", ntk_status_string(status), status ? ntk_last_error() : "solved");
    return 0;
}
