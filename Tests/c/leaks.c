/* Create/use/free cycles of every handle type, for leak checks under valgrind or LSan:
 *   leaks [CYCLES=10000]
 * Prints "N passed, N failed": every call succeeds and no handle is left alive. The memory
 * verdict is valgrind's ("definitely lost: 0 bytes"), see scripts/leaks.sh. */
#include "ntk.h"

#include <stdio.h>
#include <stdlib.h>

enum { N = 8, K = 2 };
static double x[N * 2];

/* A linear model f(x) = x . theta (P = 2, one output) by callbacks; `fail` makes jvp fail. */
static int linear_jvp(void *fail, int64_t count, const int64_t *rows, int64_t nvec, const double *v, double *out) {
    for (int64_t j = 0; j < nvec; j++)
        for (int64_t i = 0; i < count; i++) out[j * count + i] = x[rows[i] * 2] * v[2 * j] + x[rows[i] * 2 + 1] * v[2 * j + 1];
    return *(int *)fail;
}
static int linear_vjp(void *fail, int64_t count, const int64_t *rows, int64_t nvec, const double *u, double *out) {
    (void)fail;
    for (int64_t j = 0; j < nvec; j++) {
        out[2 * j] = out[2 * j + 1] = 0;
        for (int64_t i = 0; i < count; i++) {
            out[2 * j] += x[rows[i] * 2] * u[j * count + i];
            out[2 * j + 1] += x[rows[i] * 2 + 1] * u[j * count + i];
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    long cycles = argc > 1 ? atol(argv[1]) : 10000, failed = 0;
    double y[N * K], k[N * N], out[N * N * K * K], times[2] = {1.0, 2.0};
    const ntk_grid grid = {2, times, NULL, 1.0};
    for (int i = 0; i < N * 2; i++) x[i] = (i % 5) * 0.3 - 0.6 + 0.01 * i;
    for (int i = 0; i < N * K; i++) y[i] = (i % 3) - 1.0;
    ntk_blas_set_num_threads(1);
    const ntk_targets targets = {K, y, K, NULL, 0};
    const ntk_test_kernel test = {N, k, N, NULL, 0};
    ntk_empirical_ntk_options jacobian = NTK_EMPIRICAL_NTK_OPTIONS_INIT;
    jacobian.method = NTK_METHOD_JACOBIAN;
    ntk_infinite_width_options points = NTK_INFINITE_WIDTH_OPTIONS_INIT;
    points.quadrature_points = 8;
    ntk_train_options train = NTK_TRAIN_OPTIONS_INIT;
    train.learning_rate = 0.1;
    train.batch_size = 4;
    train.momentum = 0.5;
    train.seed = 1;
    ntk_ode_options ode = NTK_ODE_OPTIONS_INIT;
    ode.rtol = 1e-8;
    ode.atol = 1e-10;
    ntk_nystrom_options nystrom_options = NTK_NYSTROM_OPTIONS_INIT;
    nystrom_options.centers = NTK_CENTERS_PIVOTED_CHOLESKY;
    ntk_empirical_solver_options matrix_free = NTK_EMPIRICAL_SOLVER_OPTIONS_INIT;
    matrix_free.preconditioner_rank = 3;
    ntk_mlp_options arch = NTK_MLP_OPTIONS_INIT;
    arch.b_std = 0.1;
    int64_t classes[N];
    for (int i = 0; i < N; i++) classes[i] = i % K;
    const ntk_labels labels = {classes, K, NULL, 0};
    const double grid_ridges[2] = {1.0, 0.1};
    ntk_kernel_logistic_options logistic_options = NTK_KERNEL_LOGISTIC_OPTIONS_INIT;
    logistic_options.n_ridges = 2;
    logistic_options.ridges = grid_ridges;
    int fail = 0;
    ntk_model_callbacks callbacks;
    ntk_model_callbacks_init(&callbacks);
    callbacks.n_params = 2;
    callbacks.jvp = linear_jvp;
    callbacks.vjp = linear_vjp;
    callbacks.user = &fail;
    callbacks.block_rows = 3;
    int64_t test_rows[2] = {1, 5};
    const ntk_rows rows_test = {2, test_rows, NULL, 0};
    /* A network from layers on sequences of 2 positions x 1 channel: Conv, relu, a residual
     * convolution, AvgPool (SAME), GlobalAvgPool, Dense: every layer kind's buffers each cycle. */
    ntk_layer layers[9];
    const ntk_layer_kind kinds[9] = {NTK_LAYER_CONV, NTK_LAYER_RESIDUAL_BEGIN, NTK_LAYER_ACTIVATION, NTK_LAYER_CONV,
                                     NTK_LAYER_LAYER_NORM, NTK_LAYER_RESIDUAL_END, NTK_LAYER_AVG_POOL,
                                     NTK_LAYER_GLOBAL_AVG_POOL, NTK_LAYER_DENSE};
    for (int l = 0; l < 9; l++) {
        ntk_layer_init(&layers[l], kinds[l]);
        layers[l].rank = 1;
        layers[l].window[0] = 2;
        layers[l].width = kinds[l] == NTK_LAYER_DENSE ? K : 3;
        layers[l].padding = NTK_PADDING_SAME;
    }
    const int64_t sequence[2] = {2, 1};
    static double jacobian_rows[N * K * 64];
    for (long c = 0; c < cycles; c++) {
        ntk_network *network = NULL;
        failed += ntk_network_create(2, sequence, 9, layers, NULL, &network) != NTK_OK;
        failed += ntk_network_infinite_width_kernels(network, N, x, 2, N, NULL, 0, NULL, out, N, out + N * N, N) !=
                  NTK_OK;
        failed += ntk_network_empirical_ntk(network, N, x, 2, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, out, N) != NTK_OK;
        failed += ntk_network_forward(network, N, x, 2, out, K) != NTK_OK;
        failed += ntk_network_jacobian(network, N, x, 2, jacobian_rows) != NTK_OK;
        failed += ntk_network_empirical_ntk_diagonal(network, N, x, 2, NTK_OUTPUT_PER_OUTPUT, out, K) != NTK_OK;
        failed += ntk_network_loss_gradient(network, N, x, 2, y, K, NTK_LOSS_MSE, out, jacobian_rows) != NTK_OK;
        failed += ntk_network_train(network, N, x, 2, y, K, 2, &train, out, NULL, NULL) != NTK_OK;
        ntk_empirical_ridge *network_ridge = NULL;
        const ntk_points network_test = {2, x, 2, NULL, 0};
        failed += ntk_network_ridge_fit(network, N, x, 2, &targets, 0.1, &matrix_free, &network_ridge) != NTK_OK;
        failed += ntk_empirical_ridge_predict(network_ridge, &network_test, out, K, NULL, NULL) != NTK_OK;
        ntk_empirical_ridge_free(network_ridge);
        failed += ntk_network_gradient_flow(network, N, x, 2, &targets, 2, times, &network_test, &matrix_free, out,
                                            out + 2 * N * K, NULL) != NTK_OK;
        ntk_nystrom *network_nystrom = NULL;
        failed += ntk_network_nystrom_fit(network, N, x, 2, &targets, 0.1, 3, NULL, &network_nystrom) != NTK_OK;
        ntk_nystrom_free(network_nystrom);
        ntk_kernel_logistic *network_logistic = NULL;
        failed += ntk_network_kernel_logistic_fit_centers(network, NTK_KERNEL_NTK, N, x, 2, &network_test, &labels,
                                                          0.5, NULL, &network_logistic) != NTK_OK;
        ntk_kernel_logistic_free(network_logistic);
        ntk_network_free(network);
        int64_t width = 6;
        arch.seed = (uint64_t)c;
        ntk_mlp *mlp = NULL;
        ntk_cholesky_factor *factor = NULL;
        ntk_kernel_ridge *ridge = NULL;
        ntk_spectral *spectral = NULL;
        ntk_nystrom *nystrom = NULL;
        ntk_empirical_ridge *free_ridge = NULL;
        ntk_kernel_logistic *logistic = NULL;
        ntk_model *model = NULL;
        ntk_empirical_ridge *model_ridge = NULL;
        failed += ntk_mlp_create(2, 1, &width, K, NTK_ACTIVATION_TANH, &arch, &mlp) != NTK_OK;
        failed += ntk_empirical_ntk(mlp, N, x, 2, N, NULL, 0, NTK_OUTPUT_MEAN, NULL, k, N) != NTK_OK;
        failed += ntk_empirical_ntk(mlp, N, x, 2, N, NULL, 0, NTK_OUTPUT_FULL, &jacobian, out, N * K * K) != NTK_OK;
        failed += ntk_infinite_width_kernels(mlp, N, x, 2, N, NULL, 0, &points, out, N, out + N * N, N) != NTK_OK;
        failed += ntk_mlp_train(mlp, N, x, 2, y, K, 2, &train, out, NULL, NULL) != NTK_OK;
        for (int i = 0; i < N; i++) k[i * N + i] += 0.1;
        failed += ntk_cholesky_factor_create(N, k, N, 0.1, NULL, NULL, &factor) != NTK_OK;
        failed += ntk_cholesky_factor_solve(factor, K, y, K, out, K) != NTK_OK;
        failed += ntk_kernel_ridge_fit(N, k, N, &targets, 0.1, NULL, &ridge) != NTK_OK;
        failed += ntk_kernel_ridge_predict(ridge, &test, out, K) != NTK_OK;
        failed += ntk_spectral_create(N, k, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &spectral) != NTK_OK;
        failed += ntk_spectral_predict(spectral, &targets, &grid, NULL, out, NULL) != NTK_OK;
        failed += ntk_gradient_flow_ode(N, k, N, &targets, NULL, 2, times, NTK_LOSS_MSE, &ode, out, NULL) != NTK_OK;
        const ntk_nystrom_test on_train = {N, x, 2, NULL, 1, NULL, 0};
        failed += ntk_nystrom_fit(mlp, N, x, 2, &targets, 0.1, 4, &nystrom_options, &nystrom) != NTK_OK;
        failed += ntk_nystrom_predict(nystrom, &on_train, out, K, NULL, NULL) != NTK_OK;
        failed += ntk_nystrom_path(nystrom, &on_train, &grid, out, NULL, NULL) != NTK_OK;
        const ntk_points points_x = {N, x, 2, NULL, 0};
        failed += ntk_empirical_ridge_fit(mlp, N, x, 2, &targets, 0.1, &matrix_free, &free_ridge) != NTK_OK;
        failed += ntk_empirical_ridge_predict(free_ridge, &points_x, out, K, NULL, NULL) != NTK_OK;
        failed += ntk_empirical_gradient_flow(mlp, N, x, 2, &targets, 2, times, &points_x, &matrix_free, out,
                                              out + 2 * N * K, NULL) != NTK_OK;
        failed += ntk_kernel_logistic_fit(N, k, N, &labels, 0.5, &logistic_options, &logistic) != NTK_OK;
        failed += ntk_kernel_logistic_predict(logistic, &test, out, K) != NTK_OK;
        failed += ntk_kernel_logistic_loo(logistic, out, K, NULL) != NTK_OK;
        failed += ntk_kernel_logistic_latent_covariance(logistic, N, k, N, NULL, out) != NTK_OK;
        failed += ntk_model_create(&callbacks, &model) != NTK_OK;
        failed += ntk_model_empirical_ntk(model, N, NULL, N, NULL, NTK_OUTPUT_MEAN, NULL, out, N) != NTK_OK;
        failed += ntk_model_ridge_fit(model, N, NULL, &targets, 0.1, &matrix_free, &model_ridge) != NTK_OK;
        failed += ntk_empirical_ridge_predict_rows(model_ridge, &rows_test, out, K, NULL, NULL) != NTK_OK;
        failed += ntk_model_gradient_flow(model, N, NULL, &targets, 2, times, &rows_test, &matrix_free, out,
                                          out + 2 * N * K, NULL) != NTK_OK;
        fail = 1; /* a failing callback each cycle: the call stops, nothing may leak */
        ntk_empirical_ridge *not_fitted = NULL;
        failed += ntk_model_ridge_fit(model, N, NULL, &targets, 0.1, &matrix_free, &not_fitted) != NTK_ERR_CALLBACK ||
                  not_fitted != NULL;
        fail = 0;
        ntk_gram(-1, 1, 1, 1, x, 1, NULL, 1, out, 1, NULL, NULL); /* an error message each cycle */
        ntk_mlp_free(mlp);
        ntk_cholesky_factor_free(factor);
        ntk_kernel_ridge_free(ridge);
        ntk_spectral_free(spectral);
        ntk_nystrom_free(nystrom);
        ntk_empirical_ridge_free(free_ridge);
        ntk_kernel_logistic_free(logistic);
        ntk_model_free(model);
        ntk_empirical_ridge_free(model_ridge);
    }
    long alive = (long)ntk_live_handle_count();
    printf("%s %ld cycles of 9 handle types: %ld failed calls\n", failed ? "FAIL" : "ok  ", cycles, failed);
    printf("%s live handles after the cycles: %ld\n", alive ? "FAIL" : "ok  ", alive);
    printf("%d passed, %d failed\n", (failed == 0) + (alive == 0), (failed != 0) + (alive != 0));
    return failed != 0 || alive != 0;
}
