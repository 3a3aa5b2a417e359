/* libntk's two network kinds behind one interface (mpi_net, internal.h): every distributed
 * kernel and data-parallel solver is written once and takes either an ntk_mlp or an
 * ntk_network; these functions forward to the library call of the kind at hand. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

int network_fingerprint(mpi_net net, int with_parameters, double out[6], int64_t *d_out, int64_t *k_out) {
    int64_t d = 0, k = 0, depth = -1, p = 0;
    int status = net.mlp ? ntk_mlp_info(net.mlp, &d, &k, &depth, &p) : ntk_network_info(net.network, &d, &k, &p);
    if (status != NTK_OK) return status;
    out[0] = (double)d;
    out[1] = (double)k;
    out[2] = (double)depth;
    out[3] = (double)p;
    out[4] = 0;
    out[5] = 0;
    *d_out = d;
    *k_out = k;
    /* Two fixed probe points. */
    int64_t width = d > 0 ? d : 1;
    double *probe = malloc(sizeof(double) * (size_t)(2 * width + 2 * (k > 0 ? k : 1)));
    if (probe == NULL) return NTK_ERR_OUT_OF_MEMORY;
    for (int64_t j = 0; j < 2 * d; j++) probe[j] = sin(1.0 + (double)j);
    double diag[2] = {0, 0};
    status = net_infinite_width_diagonal(net, 2, probe, width, NULL, diag);
    if (status == NTK_OK) out[4] = diag[0] + 2 * diag[1];
    /* A layered network without an infinite-width limit is still a network: no probe of it. */
    if (status == NTK_ERR_INVALID_ARGUMENT && net.network != NULL) status = NTK_OK;
    if (status == NTK_OK && with_parameters) {
        double *f = probe + 2 * width;
        status = net.mlp ? ntk_mlp_forward(net.mlp, 2, probe, width, f, k > 0 ? k : 1)
                         : ntk_network_forward(net.network, 2, probe, width, f, k > 0 ? k : 1);
        if (status == NTK_OK) {
            double fp[2];
            fingerprint(f, 2, k, k > 0 ? k : 1, fp);
            out[5] = fp[0] + fp[1];
        }
    }
    free(probe);
    return status;
}

int net_infinite_width_kernels(mpi_net net, int64_t n1, const double *X1, int64_t ld1, int64_t n2,
                               const double *X2, int64_t ld2, const ntk_infinite_width_options *options,
                               double *K_nngp, int64_t ld_nngp, double *K_ntk, int64_t ld_ntk) {
    return net.mlp ? ntk_infinite_width_kernels(net.mlp, n1, X1, ld1, n2, X2, ld2, options, K_nngp, ld_nngp, K_ntk,
                                                ld_ntk)
                   : ntk_network_infinite_width_kernels(net.network, n1, X1, ld1, n2, X2, ld2, options, K_nngp,
                                                        ld_nngp, K_ntk, ld_ntk);
}

int net_infinite_width_diagonal(mpi_net net, int64_t n, const double *X, int64_t ldx, double *nngp, double *ntk) {
    return net.mlp ? ntk_infinite_width_diagonal(net.mlp, n, X, ldx, nngp, ntk)
                   : ntk_network_infinite_width_diagonal(net.network, n, X, ldx, nngp, ntk);
}

int net_empirical_ntk(mpi_net net, int64_t n1, const double *X1, int64_t ld1, int64_t n2, const double *X2,
                      int64_t ld2, const ntk_empirical_ntk_options *options, double *K, int64_t ldk) {
    return net.mlp ? ntk_empirical_ntk(net.mlp, n1, X1, ld1, n2, X2, ld2, NTK_OUTPUT_MEAN, options, K, ldk)
                   : ntk_network_empirical_ntk(net.network, n1, X1, ld1, n2, X2, ld2, NTK_OUTPUT_MEAN, options, K,
                                               ldk);
}

int net_empirical_ntk_diagonal(mpi_net net, int64_t n, const double *X, int64_t ldx, double *diag) {
    return net.mlp ? ntk_empirical_ntk_diagonal(net.mlp, n, X, ldx, NTK_OUTPUT_MEAN, diag, 1)
                   : ntk_network_empirical_ntk_diagonal(net.network, n, X, ldx, NTK_OUTPUT_MEAN, diag, 1);
}

int net_nystrom_fit_centers(mpi_net net, int64_t n, const double *X, int64_t ldx, const ntk_targets *targets,
                            double ridge, int64_t c, const double *C, int64_t ldc, const ntk_nystrom_options *options,
                            ntk_nystrom **out) {
    return net.mlp ? ntk_nystrom_fit_centers(net.mlp, n, X, ldx, targets, ridge, c, C, ldc, options, out)
                   : ntk_network_nystrom_fit_centers(net.network, n, X, ldx, targets, ridge, c, C, ldc, options, out);
}

int net_empirical_ridge_fit(mpi_net net, int64_t n, const double *X, int64_t ldx, const ntk_targets *targets,
                            double ridge, const ntk_empirical_solver_options *options, ntk_empirical_ridge **out) {
    return net.mlp ? ntk_empirical_ridge_fit(net.mlp, n, X, ldx, targets, ridge, options, out)
                   : ntk_network_ridge_fit(net.network, n, X, ldx, targets, ridge, options, out);
}

int net_empirical_gradient_flow(mpi_net net, int64_t n, const double *X, int64_t ldx, const ntk_targets *targets,
                                int64_t count, const double *times, const ntk_points *test,
                                const ntk_empirical_solver_options *options, double *pred_train, double *pred_test,
                                double *error_estimate) {
    return net.mlp ? ntk_empirical_gradient_flow(net.mlp, n, X, ldx, targets, count, times, test, options, pred_train,
                                                 pred_test, error_estimate)
                   : ntk_network_gradient_flow(net.network, n, X, ldx, targets, count, times, test, options,
                                               pred_train, pred_test, error_estimate);
}
