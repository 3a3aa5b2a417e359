/* Data-parallel large n: each rank passes its own rows, and libntk's Nystrom and matrix-free
 * empirical-NTK solvers run on them with an ntk_reduce_fn that sums over the communicator.
 *
 * The reduction protocol keeps every rank out of a dead collective. Each reduction is two
 * MPI_Allreduce calls: first a state (1: "I am in a reduction"), then, only if every rank is
 * in one, the data. A rank whose libntk call has returned (success or failure) answers the
 * state round with 0 until no rank is in a reduction any more; a rank that sees a 0 stops its
 * own solver (the callback fails). Then the ranks agree on the status: a rank stopped that
 * way reports no error of its own, so every rank returns the first failure's status and
 * message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct reducer {
    MPI_Comm comm;
    int stopped;    /* another rank left the algorithm: this rank's solver was stopped */
} reducer;

static int reduce_sum(double *values, int64_t count, void *user) {
    reducer *r = user;
    int state[2] = {1, -1}, seen[2] = {0, 0};
    MPI_Allreduce(state, seen, 2, MPI_INT, MPI_MAX, r->comm);
    if (seen[1] != -1) {  /* some rank answered 0: it has left */
        r->stopped = 1;
        return 1;
    }
    return sum_doubles(r->comm, values, count) == 0 ? 0 : 1;
}

/* After this rank's libntk call returned: answer state rounds until no rank is in one. */
static void reduce_leave(reducer *r) {
    int state[2] = {0, 0}, seen[2] = {1, 0};
    do {
        MPI_Allreduce(state, seen, 2, MPI_INT, MPI_MAX, r->comm);
    } while (seen[0] == 1);
}

/* Agrees after a data-parallel libntk call that returned status here. */
static int settle(ntk_mpi_call *call, reducer *r, int status) {
    reduce_leave(r);
    if (status != NTK_OK && !r->stopped) call_fail_ntk(call, status);
    int stopped = r->stopped, any_stopped = 0;
    MPI_Allreduce(&stopped, &any_stopped, 1, MPI_INT, MPI_MAX, call->comm);
    int agreed = call_agree(call);
    if (agreed == NTK_OK && any_stopped) {
        /* Stopped with no failure anywhere: the ranks ran different algorithms. */
        call_fail(call, NTK_ERR_INTERNAL, "the ranks left the solver at different points");
        agreed = call_agree(call);
    }
    return agreed;
}

/* The caller's options struct (NULL: the defaults already in *dst) over the defaults: the
 * fields its `size` covers; a struct larger than this library's is rejected. */
static void copy_options(ntk_mpi_call *call, void *dst, size_t dst_size, const void *src) {
    if (src == NULL) return;
    size_t size = *(const size_t *)src;
    if (size < sizeof(size_t) || size > dst_size) {
        call_fail(call, NTK_ERR_INVALID_ARGUMENT, "options->size is %zu, must be in %zu...%zu", size, sizeof(size_t),
                  dst_size);
        return;
    }
    memcpy(dst, src, size);
    *(size_t *)dst = dst_size;
}

/* The checks every data-parallel fit shares: the communicator, the network (the same kind and
 * architecture everywhere, and the same parameters when with_parameters), this rank's rows and
 * targets, and the total row count. */
static int common_checks(ntk_mpi_call *call, mpi_net network, int with_parameters, int64_t n, const double *X,
                         int64_t ldx, const ntk_targets *targets, double ridge, int64_t *d, int64_t *k,
                         int64_t *total) {
    double identity[8] = {0};
    int status = network_fingerprint(network, with_parameters, identity, d, k);
    if (status != NTK_OK) call_fail_ntk(call, status);
    if (n < 0) call_fail(call, NTK_ERR_INVALID_ARGUMENT, "n must be >= 0, got %lld", (long long)n);
    if (n > 0 && X == NULL) call_fail(call, NTK_ERR_INVALID_ARGUMENT, "X is NULL");
    /* No caller holds rows beyond the machine's memory: reject such n before reading X. */
    if (!fits_in_memory(n, *d > 0 ? *d : 1)) {
        call_fail(call, NTK_ERR_TOO_LARGE, "n = %lld rows of %lld doubles exceed this machine's memory", (long long)n,
                  (long long)*d);
    }
    if (n > 0 && ldx < *d) call_fail(call, NTK_ERR_INVALID_ARGUMENT, "ldx is %lld, must be >= d = %lld", (long long)ldx,
                                     (long long)*d);
    if (targets == NULL) call_fail(call, NTK_ERR_INVALID_ARGUMENT, "targets is NULL");
    if (!isfinite(ridge) || ridge < 0) call_fail(call, NTK_ERR_INVALID_ARGUMENT,
                                                 "ridge must be >= 0 and finite, got %g", ridge);
    identity[6] = targets ? (double)targets->k : -1;
    identity[7] = ridge;
    static const char *const names[] = {"the network's input dimension", "the network's outputs",
                                        "the network's kind and depth",
                                        "the network's parameter count",
                                        "the network's architecture (a probe of its kernel)",
                                        "the network's parameters (a probe of its outputs)", "targets->k", "ridge"};
    if (call_same(call, identity, 8, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call->status;
    int64_t mine = n > 0 ? n : 0;
    MPI_Allreduce(&mine, total, 1, MPI_INT64_T, MPI_SUM, call->comm);
    return NTK_OK;
}

/* m distinct indices of 0..total-1, uniformly (selection sampling, Knuth's algorithm S),
 * from a seeded splitmix64 stream: the same on every rank. */
static void sample_indices(int64_t total, int64_t m, uint64_t seed, int64_t *out) {
    uint64_t state = seed ^ 0x6a09e667f3bcc909ULL;
    int64_t chosen = 0;
    for (int64_t i = 0; i < total && chosen < m; i++) {
        state += 0x9e3779b97f4a7c15ULL;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        double u = (double)(z >> 11) * 0x1.0p-53;
        if ((double)(total - i) * u < (double)(m - chosen)) out[chosen++] = i;
    }
}

/* c centres drawn uniformly (seeded) among all the ranks' rows, replicated (c x max(d, 1)): each
 * rank contributes the chosen rows it holds, one allreduce sums them. NULL (agreed) on failure. */
static double *uniform_centers(ntk_mpi_call *call, const double *X, int64_t ldx, int64_t n, int64_t d, int64_t total,
                               int64_t c, uint64_t seed) {
    int64_t width = d > 0 ? d : 1, first = 0, mine = n;
    int64_t *index = call_alloc(call, c, sizeof(int64_t), "the centre indices");
    double *centers = call_alloc(call, c * width, sizeof(double), "the centres");
    if (call_agree(call) != NTK_OK) { free(index); free(centers); return NULL; }
    MPI_Exscan(&mine, &first, 1, MPI_INT64_T, MPI_SUM, call->comm);
    if (call->rank == 0) first = 0;
    sample_indices(total, c, seed, index);
    for (int64_t j = 0; j < c; j++) {
        if (index[j] >= first && index[j] < first + n) memcpy(centers + j * width, X + (index[j] - first) * ldx,
                                                              sizeof(double) * (size_t)d);
    }
    free(index);
    if (sum_doubles(call->comm, centers, c * width) != 0) call_fail(call, NTK_ERR_INTERNAL, "MPI_Allreduce failed");
    if (call_agree(call) != NTK_OK) { free(centers); return NULL; }
    return centers;
}

static int nystrom_fit(const char *function, MPI_Comm comm, mpi_net net, int64_t n, const double *X, int64_t ldx,
                       const ntk_targets *targets, double ridge, int64_t c, const double *C, int64_t ldc,
                       const ntk_nystrom_options *options, ntk_nystrom **out) {
    ntk_mpi_call call;
    if (out) *out = NULL;
    call_begin(&call, function, comm);
    if (comm == MPI_COMM_NULL) { call_fail(&call, NTK_ERR_INVALID_ARGUMENT,
                                           "comm is MPI_COMM_NULL"); return call_finish(&call); }
    if (out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    ntk_nystrom_options o;
    ntk_nystrom_options_init(&o);
    copy_options(&call, &o, sizeof o, options);
    int64_t d = 0, k = 0, total = 0;
    if (common_checks(&call, net, 0, n, X, ldx, targets, ridge, &d, &k, &total) != NTK_OK) return call_finish(&call);
    if (c < 1 || c > total) call_fail(&call, NTK_ERR_INVALID_ARGUMENT,
                                      "c (the number of centres) must be in 1...%lld (all the rows), got %lld",
                                      (long long)total, (long long)c);
    if (C != NULL && ldc < d) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "ldc is %lld, must be >= d = %lld",
                                        (long long)ldc, (long long)d);
    double settings[11] = {(double)c, (double)o.solver, (double)o.kernel, (double)o.preconditioned, (double)o.seed,
                           o.tol, (double)o.max_iter, (double)o.quadrature_points, (double)(C != NULL), 0,
                           (double)o.preconditioner_rows};
    double fp[2] = {0, 0};
    if (C != NULL && call.status == NTK_OK && c > 0) { fingerprint(C, c, d, ldc, fp); settings[9] = fp[0] + fp[1]; }
    static const char *const names[] = {"c", "options->solver", "options->kernel", "options->preconditioned",
                                        "options->seed",
                                        "options->tol", "options->max_iter", "options->quadrature_points",
                                        "whether C is given", "the centres C (a checksum)",
                                        "options->preconditioner_rows"};
    if (call_same(&call, settings, 11, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    double *centers = NULL;
    int64_t ldcenters = ldc;
    if (C == NULL) {
        centers = uniform_centers(&call, X, ldx, n, d, total, c, o.seed);
        if (centers == NULL) return call_finish(&call);
        ldcenters = d > 0 ? d : 1;
    }
    reducer r = {comm, 0};
    o.reduce = reduce_sum;
    o.reduce_user = &r;
    ntk_nystrom *model = NULL;
    int status = net_nystrom_fit_centers(net, n, X, ldx, targets, ridge, c, C ? C : centers, ldcenters, &o, &model);
    free(centers);
    if (settle(&call, &r, status) != NTK_OK) { ntk_nystrom_free(model); return call_finish(&call); }
    *out = model;
    return NTK_OK;
}

static int empirical_ridge_fit(const char *function, MPI_Comm comm, mpi_net net, int64_t n, const double *X,
                              int64_t ldx, const ntk_targets *targets, double ridge,
                              const ntk_empirical_solver_options *options, ntk_empirical_ridge **out) {
    ntk_mpi_call call;
    if (out) *out = NULL;
    call_begin(&call, function, comm);
    if (comm == MPI_COMM_NULL) { call_fail(&call, NTK_ERR_INVALID_ARGUMENT,
                                           "comm is MPI_COMM_NULL"); return call_finish(&call); }
    if (out == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "out is NULL");
    ntk_empirical_solver_options o;
    ntk_empirical_solver_options_init(&o);
    copy_options(&call, &o, sizeof o, options);
    if (o.preconditioner_rank < 0) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "options->preconditioner_rank must be >= 0 (0: none), got %lld",
                  (long long)o.preconditioner_rank);
    }
    int64_t d = 0, k = 0, total = 0;
    if (common_checks(&call, net, 1, n, X, ldx, targets, ridge, &d, &k, &total) != NTK_OK) return call_finish(&call);
    /* The preconditioner's centres: the caller's (checked equal), else drawn among all the rows. */
    int64_t m = o.preconditioner_centers != NULL ? o.preconditioner_rank
                                                 : (o.preconditioner_rank < total ? o.preconditioner_rank : total);
    if (o.preconditioner_centers != NULL && (o.preconditioner_ldc < d || !fits_in_memory(m, d))) {
        call_fail(&call, NTK_ERR_INVALID_ARGUMENT, "options->preconditioner_ldc is %lld, must be >= d = %lld",
                  (long long)o.preconditioner_ldc, (long long)d);
    }
    /* The precision too: single-precision products make reliable updates, with reductions of their own. */
    double settings[6] = {o.tol, (double)o.max_iter, (double)m, (double)o.seed, (double)o.precision, 0};
    if (o.preconditioner_centers != NULL && call.status == NTK_OK && m > 0) {
        double fp[2];
        fingerprint(o.preconditioner_centers, m, d, o.preconditioner_ldc, fp);
        settings[5] = fp[0] + fp[1];
    }
    static const char *const names[] = {"options->tol", "options->max_iter", "options->preconditioner_rank",
                                        "options->seed", "options->precision",
                                        "options->preconditioner_centers (a checksum)"};
    if (call_same(&call, settings, 6, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    double *centers = NULL;
    if (o.preconditioner_centers == NULL && m > 0) {
        centers = uniform_centers(&call, X, ldx, n, d, total, m, o.seed);
        if (centers == NULL) return call_finish(&call);
        o.preconditioner_centers = centers;
        o.preconditioner_ldc = d > 0 ? d : 1;
    }
    o.preconditioner_rank = m;
    reducer r = {comm, 0};
    o.reduce = reduce_sum;
    o.reduce_user = &r;
    ntk_empirical_ridge *model = NULL;
    int status = net_empirical_ridge_fit(net, n, X, ldx, targets, ridge, &o, &model);
    free(centers);
    if (settle(&call, &r, status) != NTK_OK) { ntk_empirical_ridge_free(model); return call_finish(&call); }
    *out = model;
    return NTK_OK;
}

/* The times of a flow: count >= 0, finite, then checked equal on every rank (count and a checksum). */
static int same_times(ntk_mpi_call *call, int64_t count, const double *times) {
    if (count < 0) call_fail(call, NTK_ERR_INVALID_ARGUMENT, "count must be >= 0, got %lld", (long long)count);
    if (count > 0 && times == NULL) call_fail(call, NTK_ERR_INVALID_ARGUMENT, "times is NULL");
    if (!fits_in_memory(count, 1)) call_fail(call, NTK_ERR_TOO_LARGE, "count = %lld times exceed this machine's memory",
                                             (long long)count);
    double fp[3] = {(double)count, 0, 0};
    if (call->status == NTK_OK && count > 0) {
        for (int64_t i = 0; i < count; i++) {
            if (!isfinite(times[i])) {
                call_fail(call, NTK_ERR_INVALID_ARGUMENT, "times[%lld] is %g: times must be finite and >= 0",
                          (long long)i, times[i]);
                break;
            }
        }
        if (call->status == NTK_OK) fingerprint(times, 1, count, count, fp + 1);
    }
    static const char *const names[] = {"count (the number of times)", "times (a checksum)",
                                        "times (a weighted checksum)"};
    return call_same(call, fp, 3, names, NTK_ERR_INVALID_ARGUMENT);
}

static int empirical_gradient_flow(const char *function, MPI_Comm comm, mpi_net net, int64_t n, const double *X,
                                   int64_t ldx, const ntk_targets *targets, int64_t count, const double *times,
                                   const ntk_points *test, const ntk_empirical_solver_options *options,
                                   double *pred_train, double *pred_test, double *error_estimate) {
    ntk_mpi_call call;
    call_begin(&call, function, comm);
    if (comm == MPI_COMM_NULL) { call_fail(&call, NTK_ERR_INVALID_ARGUMENT,
                                           "comm is MPI_COMM_NULL"); return call_finish(&call); }
    ntk_empirical_solver_options o;
    ntk_empirical_solver_options_init(&o);
    copy_options(&call, &o, sizeof o, options);
    if (pred_test != NULL && test == NULL) call_fail(&call, NTK_ERR_INVALID_ARGUMENT,
                                                     "pred_test needs test (the test points)");
    int64_t d = 0, k = 0, total = 0;
    if (common_checks(&call, net, 1, n, X, ldx, targets, 0, &d, &k, &total) != NTK_OK) return call_finish(&call);
    if (same_times(&call, count, times) != NTK_OK) return call_finish(&call);
    /* J^T Phi of the test side is a reduction: every rank asks for test predictions or none does. */
    /* (The flow refuses single precision on every rank that asks: all of them, once checked equal.) */
    double settings[5] = {o.tol, (double)o.max_iter, o.learning_rate, (double)(test != NULL && pred_test != NULL),
                          (double)o.precision};
    static const char *const names[] = {"options->tol", "options->max_iter", "options->learning_rate",
                                        "whether test predictions are asked (test and pred_test)",
                                        "options->precision"};
    if (call_same(&call, settings, 5, names, NTK_ERR_INVALID_ARGUMENT) != NTK_OK) return call_finish(&call);
    reducer r = {comm, 0};
    o.reduce = reduce_sum;
    o.reduce_user = &r;
    double estimate = 0;
    int status = net_empirical_gradient_flow(net, n, X, ldx, targets, count, times, pred_test ? test : NULL, &o,
                                             pred_train, pred_test, &estimate);
    if (settle(&call, &r, status) != NTK_OK) return call_finish(&call);
    if (error_estimate) *error_estimate = estimate;
    return NTK_OK;
}

/* The public entry points: the MLP's and the layered network's, one body each (above). */

int ntk_mpi_nystrom_fit(MPI_Comm comm, const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                        const ntk_targets *targets, double ridge, int64_t c, const double *C, int64_t ldc,
                        const ntk_nystrom_options *options, ntk_nystrom **out) {
    return nystrom_fit("ntk_mpi_nystrom_fit", comm, (mpi_net){mlp, NULL}, n, X, ldx, targets, ridge, c, C, ldc,
                       options, out);
}

int ntk_mpi_network_nystrom_fit(MPI_Comm comm, const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                                const ntk_targets *targets, double ridge, int64_t c, const double *C, int64_t ldc,
                                const ntk_nystrom_options *options, ntk_nystrom **out) {
    return nystrom_fit("ntk_mpi_network_nystrom_fit", comm, (mpi_net){NULL, network}, n, X, ldx, targets, ridge, c,
                       C, ldc, options, out);
}

int ntk_mpi_empirical_ridge_fit(MPI_Comm comm, const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                                const ntk_targets *targets, double ridge, const ntk_empirical_solver_options *options,
                                ntk_empirical_ridge **out) {
    return empirical_ridge_fit("ntk_mpi_empirical_ridge_fit", comm, (mpi_net){mlp, NULL}, n, X, ldx, targets, ridge,
                               options, out);
}

int ntk_mpi_network_empirical_ridge_fit(MPI_Comm comm, const ntk_network *network, int64_t n, const double *X,
                                        int64_t ldx, const ntk_targets *targets, double ridge,
                                        const ntk_empirical_solver_options *options, ntk_empirical_ridge **out) {
    return empirical_ridge_fit("ntk_mpi_network_empirical_ridge_fit", comm, (mpi_net){NULL, network}, n, X, ldx,
                               targets, ridge, options, out);
}

int ntk_mpi_empirical_gradient_flow(MPI_Comm comm, const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                                    const ntk_targets *targets, int64_t count, const double *times,
                                    const ntk_points *test, const ntk_empirical_solver_options *options,
                                    double *pred_train, double *pred_test, double *error_estimate) {
    return empirical_gradient_flow("ntk_mpi_empirical_gradient_flow", comm, (mpi_net){mlp, NULL}, n, X, ldx, targets,
                                   count, times, test, options, pred_train, pred_test, error_estimate);
}

int ntk_mpi_network_empirical_gradient_flow(MPI_Comm comm, const ntk_network *network, int64_t n, const double *X,
                                            int64_t ldx, const ntk_targets *targets, int64_t count,
                                            const double *times, const ntk_points *test,
                                            const ntk_empirical_solver_options *options, double *pred_train,
                                            double *pred_test, double *error_estimate) {
    return empirical_gradient_flow("ntk_mpi_network_empirical_gradient_flow", comm, (mpi_net){NULL, network}, n, X,
                                   ldx, targets, count, times, test, options, pred_train, pred_test, error_estimate);
}
