/* Create/use/free cycles of every handle type, for leak checks under valgrind or LSan:
 *   leaks [CYCLES=10000]
 * Prints "N passed, N failed": every call succeeds and no handle is left alive. The memory
 * verdict is valgrind's ("definitely lost: 0 bytes"), see scripts/leaks.sh. */
#include "ntk.h"

#include <stdio.h>
#include <stdlib.h>

enum { N = 8, K = 2 };

int main(int argc, char **argv) {
    long cycles = argc > 1 ? atol(argv[1]) : 10000, failed = 0;
    double x[N * 2], y[N * K], k[N * N], out[N * N * K * K], times[2] = {1.0, 2.0};
    for (int i = 0; i < N * 2; i++) x[i] = (i % 5) * 0.3 - 0.6 + 0.01 * i;
    for (int i = 0; i < N * K; i++) y[i] = (i % 3) - 1.0;
    ntk_blas_set_num_threads(1);
    for (long c = 0; c < cycles; c++) {
        int64_t width = 6;
        ntk_mlp *mlp = NULL;
        ntk_cholesky_factor *factor = NULL;
        ntk_kernel_ridge *ridge = NULL;
        ntk_spectral *spectral = NULL;
        failed += ntk_mlp_create(2, 1, &width, K, NTK_ACTIVATION_TANH, 0, 1, 0.1, 1, 0, (uint64_t)c, &mlp) != NTK_OK;
        failed += ntk_empirical_ntk(mlp, N, x, 2, N, NULL, 0, NTK_OUTPUT_MEAN, NTK_METHOD_STRUCTURED, 0, k, NULL, NULL) != NTK_OK;
        failed += ntk_empirical_ntk(mlp, N, x, 2, N, NULL, 0, NTK_OUTPUT_FULL, NTK_METHOD_JACOBIAN, 0, out, NULL, NULL) != NTK_OK;
        failed += ntk_infinite_width_kernels(mlp, N, x, 2, N, NULL, 0, 8, out, out + N * N, NULL, NULL) != NTK_OK;
        failed += ntk_mlp_train(mlp, N, x, 2, y, K, NTK_LOSS_MSE, 0.1, 2, 4, 0.5, 1, 0, NULL, 0, NULL, 0, out, NULL, NULL, NULL,
                                NULL, NULL, NULL) != NTK_OK;
        for (int i = 0; i < N; i++) k[i * N + i] += 0.1;
        failed += ntk_cholesky_factor_create(N, k, N, 0.1, NULL, NULL, &factor) != NTK_OK;
        failed += ntk_cholesky_factor_solve(factor, K, y, K, out, K) != NTK_OK;
        failed += ntk_kernel_ridge_fit(N, K, k, N, y, K, NULL, 0, 0.1, 0, 0, NULL, NULL, &ridge) != NTK_OK;
        failed += ntk_kernel_ridge_predict(ridge, N, k, N, NULL, 0, out, K) != NTK_OK;
        failed += ntk_spectral_create(N, k, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &spectral) != NTK_OK;
        failed += ntk_spectral_predict(spectral, K, y, K, NULL, 0, 2, times, NULL, 1, 0, NULL, 0, NULL, 0, out, NULL) != NTK_OK;
        failed += ntk_gradient_flow_ode(N, K, k, N, y, K, NULL, 0, 2, times, NTK_LOSS_MSE, 1, 0, NULL, 0, NULL, 0, 1e-8, 1e-10,
                                        out, NULL, NULL, NULL) != NTK_OK;
        ntk_gram(-1, 1, 1, 1, x, 1, NULL, 1, out, 1, NULL, NULL); /* an error message each cycle */
        ntk_mlp_free(mlp);
        ntk_cholesky_factor_free(factor);
        ntk_kernel_ridge_free(ridge);
        ntk_spectral_free(spectral);
    }
    long alive = (long)ntk_live_handle_count();
    printf("%s %ld cycles of 4 handle types: %ld failed calls\n", failed ? "FAIL" : "ok  ", cycles, failed);
    printf("%s live handles after the cycles: %ld\n", alive ? "FAIL" : "ok  ", alive);
    printf("%d passed, %d failed\n", (failed == 0) + (alive == 0), (failed != 0) + (alive != 0));
    return failed != 0 || alive != 0;
}
