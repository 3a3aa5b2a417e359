/* libntk from C: the empirical NTK of a network and the kernel ridge prediction it makes.
 *
 * Build and run (the compile line of docs/c-api.md, from the repository root after scripts/build.sh):
 *   gcc -std=c99 -Iinclude examples/ntk_ridge.c -L.build/release -lntk \
 *       -Wl,-rpath,$PWD/.build/release -lm -o ntk_ridge
 *   OPENBLAS_CORETYPE=SkylakeX ./ntk_ridge
 *
 * A two-hidden-layer relu network f(x; theta) in the NTK parameterization is created from a
 * seed; its empirical NTK K(x, x') = grad f(x) . grad f(x') (eq. 4, 11 in docs/equations.md) is computed
 * on N training and M test points of y = sin(3 x0) + x1 x2, and kernel ridge regression
 * (eq. 5, 21) predicts the test targets:
 *     pred = f0_test + K_test (K + z I)^-1 (y - f0_train),   z = 1e-3 * mean diag(K)
 * with f0 the network's outputs at initialisation (the linearised network trained to t = inf).
 * Every status is checked; a failure prints the library's message and exits. */
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

enum { N = 400, M = 200, D = 3 };

static unsigned long long state = 42;
static double uniform(void) { /* in [-1, 1), a 64-bit LCG: enough for a demo */
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(state >> 11) / 4503599627370496.0 - 1.0;
}

static double target(const double *x) { return sin(3.0 * x[0]) + x[1] * x[2]; }

int main(void) {
    static double x[N * D], xt[M * D], y[N], yt[M];
    static double k[N * N], kt[M * N], f0[N], f0t[M], pred[M];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) x[i * D + j] = uniform();
        y[i] = target(x + i * D);
    }
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < D; j++) xt[i * D + j] = uniform();
        yt[i] = target(xt + i * D);
    }

    /* f: R^3 -> R, hidden widths 512, 512, relu, W_std = sqrt(2), b_std = 0.1, seed 0. */
    const int64_t widths[2] = {512, 512};
    ntk_mlp_options arch = NTK_MLP_OPTIONS_INIT; /* defaults, then what differs from them */
    arch.w_std = sqrt(2.0);
    arch.b_std = 0.1;
    ntk_mlp *net = NULL;
    CHECK(ntk_mlp_create(D, 2, widths, 1, NTK_ACTIVATION_RELU, &arch, &net));
    int64_t p = 0;
    CHECK(ntk_mlp_info(net, NULL, NULL, NULL, &p));

    /* K (N x N, symmetric: X2 = NULL) and K_test (M x N); NULL options: the defaults. */
    CHECK(ntk_empirical_ntk(net, N, x, D, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, k, N));
    CHECK(ntk_empirical_ntk(net, M, xt, D, N, x, D, NTK_OUTPUT_MEAN, NULL, kt, N));
    CHECK(ntk_mlp_forward(net, N, x, D, f0, 1));
    CHECK(ntk_mlp_forward(net, M, xt, D, f0t, 1));

    /* Kernel ridge with offsets, ridge relative to the mean diagonal of K. */
    ntk_kernel_ridge_options fit = NTK_KERNEL_RIDGE_OPTIONS_INIT;
    fit.ridge_scale = NTK_RIDGE_RELATIVE;
    const ntk_targets targets = {1, y, 1, f0, 1};          /* k, Y, ldy, f0, ldf0 */
    const ntk_test_kernel test = {M, kt, N, f0t, 1};       /* m, K_test_train, ldk, f0, ldf0 */
    ntk_kernel_ridge *model = NULL;
    CHECK(ntk_kernel_ridge_fit(N, k, N, &targets, 1e-3, &fit, &model));
    CHECK(ntk_kernel_ridge_predict(model, &test, pred, 1));
    double ridge = 0, mse = 0, var = 0, mean = 0;
    CHECK(ntk_kernel_ridge_info(model, NULL, NULL, &ridge, NULL));
    for (int i = 0; i < M; i++) mean += yt[i] / M;
    for (int i = 0; i < M; i++) {
        mse += (pred[i] - yt[i]) * (pred[i] - yt[i]) / M;
        var += (yt[i] - mean) * (yt[i] - mean) / M;
    }

    const char *core = "?";
    int threads = 0;
    CHECK(ntk_blas_info(&core, NULL, &threads, NULL));
    printf("libntk %s, OpenBLAS core %s, %d threads\n", ntk_version_string(), core, threads);
    printf("network 3 -> [512, 512] -> 1 (relu, NTK parameterization): %lld parameters\n", (long long)p);
    printf("empirical NTK: K is %d x %d (K[0][0] = %.4f), K_test is %d x %d\n", N, N, k[0], M, N);
    printf("kernel ridge, z = %.3g: test MSE %.5f, R^2 %.4f\n", ridge, mse, 1.0 - mse / var);

    ntk_kernel_ridge_free(model);
    ntk_mlp_free(net);
    return mse < 0.1 * var ? 0 : 2; /* the fit must explain most of the variance */
}
