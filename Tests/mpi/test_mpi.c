/* libntk_mpi under mpirun (np = 1, 2, 4): every distributed result against the single-process
 * library computed on each rank, and the collective failure behaviour.
 * Tolerances: kernels 1e-12, kernel ridge / spectral / GCV 1e-10, data-parallel fits 1e-8
 * (all relative to the largest entry). Rank 0 prints "N passed, N failed" for all ranks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntk_mpi.h"

static int rank_ = 0, size_ = 1, passed = 0, failed = 0;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) { passed++; } else {                                          \
            failed++;                                                           \
            fprintf(stderr, "rank %d: FAILED %s:%d: ", rank_, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
        }                                                                       \
    } while (0)

/* max |a - b| / max(max |b|, tiny). */
static double relative_error(const double *a, const double *b, int64_t count) {
    double diff = 0, scale = 1e-300;
    for (int64_t i = 0; i < count; i++) {
        diff = fmax(diff, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return diff / scale;
}

static void fill(double *x, int64_t count, double seed) {
    for (int64_t i = 0; i < count; i++) x[i] = sin(seed + 0.7 * (double)i) + 0.3 * cos(1.3 * (double)i * seed);
}

static ntk_mlp *make_mlp(int64_t d, int64_t k, ntk_activation activation, uint64_t seed) {
    int64_t widths[2] = {32, 16};
    ntk_mlp_options o;
    ntk_mlp_options_init(&o);
    o.b_std = 0.1;
    o.seed = seed;
    ntk_mlp *mlp = NULL;
    ntk_mlp_create(d, 2, widths, k, activation, &o, &mlp);
    return mlp;
}

/* Every rank returned status with the same message: agreed and equal everywhere. */
static int agreed(int status, int expected) {
    int low = 0, high = 0;
    MPI_Allreduce(&status, &low, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&status, &high, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    char message[1200] = {0}, root[1200] = {0};
    strncpy(message, ntk_mpi_last_error(), sizeof message - 1);
    memcpy(root, message, sizeof root);
    MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    int same = strcmp(root, message) == 0, all_same = 0;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank_ == 0 && status != NTK_OK) printf("  agreed error: %s\n", message);
    return low == expected && high == expected && all_same;
}

enum { N = 150, M = 40, D = 5, K = 2 };

static void test_kernels_and_solvers(ntk_mpi_grid *grid) {
    double *X = malloc(sizeof(double) * N * D), *Xt = malloc(sizeof(double) * M * D), *Y = malloc(sizeof(double) * N * K),
           *f0 = malloc(sizeof(double) * N * K), *f0t = malloc(sizeof(double) * M * K);
    fill(X, N * D, 0.3); fill(Xt, M * D, 1.1); fill(Y, N * K, 2.0); fill(f0, N * K, 3.0); fill(f0t, M * K, 4.0);
    for (int i = 0; i < N * K; i++) f0[i] *= 0.1;
    for (int i = 0; i < M * K; i++) f0t[i] *= 0.1;
    ntk_mlp *mlp = make_mlp(D, K, NTK_ACTIVATION_RELU, 7);
    double *Kd = malloc(sizeof(double) * N * N), *Ks = malloc(sizeof(double) * N * N);
    double *Ktd = malloc(sizeof(double) * M * N), *Kts = malloc(sizeof(double) * M * N);

    /* Kernels: replicated inputs for the train kernel, rows spread for the test kernel. */
    ntk_mpi_points train = {N, X, D, NTK_MPI_REPLICATED};
    int64_t first = (int64_t)M * rank_ / size_, last = (int64_t)M * (rank_ + 1) / size_;
    ntk_mpi_points test = {last - first, Xt + first * D, D, NTK_MPI_BY_ROWS};
    const ntk_activation acts[3] = {NTK_ACTIVATION_RELU, NTK_ACTIVATION_ERF, NTK_ACTIVATION_GELU};
    for (int a = 0; a < 3; a++) {
        ntk_mlp *net = make_mlp(D, K, acts[a], 3);
        for (int kind = 0; kind < 2; kind++) {
            ntk_mpi_matrix *Kt = NULL, *Kx = NULL;
            int s1 = ntk_mpi_infinite_width_kernel(grid, net, (ntk_kernel_kind)kind, &train, NULL, NULL, &Kt);
            int s2 = ntk_mpi_infinite_width_kernel(grid, net, (ntk_kernel_kind)kind, &test, &train, NULL, &Kx);
            CHECK(s1 == NTK_OK && s2 == NTK_OK, "infinite-width kernels: %s", ntk_mpi_last_error());
            if (s1 || s2) continue;
            ntk_mpi_matrix_gather(Kt, Kd, N);
            ntk_mpi_matrix_gather(Kx, Ktd, N);
            ntk_infinite_width_kernels(net, N, X, D, N, NULL, D, NULL, kind == 1 ? Ks : NULL, N, kind == 0 ? Ks : NULL, N);
            ntk_infinite_width_kernels(net, M, Xt, D, N, X, D, NULL, kind == 1 ? Kts : NULL, N, kind == 0 ? Kts : NULL, N);
            double e1 = relative_error(Kd, Ks, N * N), e2 = relative_error(Ktd, Kts, M * N);
            CHECK(e1 <= 1e-12 && e2 <= 1e-12, "activation %d kind %d: train %.3g test %.3g", (int)acts[a], kind, e1, e2);
            ntk_mpi_matrix_free(Kt);
            ntk_mpi_matrix_free(Kx);
        }
        ntk_mlp_free(net);
    }
    /* Empirical NTK (replicated network parameters). */
    {
        ntk_mpi_matrix *E = NULL;
        int s = ntk_mpi_empirical_ntk(grid, mlp, &test, &train, NULL, &E);
        CHECK(s == NTK_OK, "empirical NTK: %s", ntk_mpi_last_error());
        if (s == NTK_OK) {
            ntk_mpi_matrix_gather(E, Ktd, N);
            ntk_empirical_ntk(mlp, M, Xt, D, N, X, D, NTK_OUTPUT_MEAN, NULL, Kts, N);
            double e = relative_error(Ktd, Kts, M * N);
            CHECK(e <= 1e-12, "empirical NTK test-train: %.3g", e);
        }
        ntk_mpi_matrix_free(E);
        s = ntk_mpi_empirical_ntk(grid, mlp, &train, NULL, NULL, &E);
        if (s == NTK_OK) {
            ntk_mpi_matrix_gather(E, Kd, N);
            ntk_empirical_ntk(mlp, N, X, D, N, NULL, D, NTK_OUTPUT_MEAN, NULL, Ks, N);
            double e = relative_error(Kd, Ks, N * N);
            CHECK(e <= 1e-12, "empirical NTK train: %.3g", e);
        }
        CHECK(s == NTK_OK, "empirical NTK symmetric: %s", ntk_mpi_last_error());
        ntk_mpi_matrix_free(E);
    }

    /* The NTK of a relu network as the kernel of the solvers. */
    ntk_mpi_matrix *Kt = NULL, *Kx = NULL;
    ntk_mpi_infinite_width_kernel(grid, mlp, NTK_KERNEL_NTK, &train, NULL, NULL, &Kt);
    ntk_mpi_infinite_width_kernel(grid, mlp, NTK_KERNEL_NTK, &test, &train, NULL, &Kx);
    ntk_infinite_width_kernels(mlp, N, X, D, N, NULL, D, NULL, NULL, N, Ks, N);
    ntk_infinite_width_kernels(mlp, M, Xt, D, N, X, D, NULL, NULL, N, Kts, N);
    ntk_targets targets = {K, Y, K, f0, K};
    ntk_test_kernel tk = {M, Kts, N, f0t, K};

    /* Kernel ridge, absolute and relative ridges. */
    for (int relative = 0; relative < 2; relative++) {
        ntk_kernel_ridge_options o;
        ntk_kernel_ridge_options_init(&o);
        o.ridge_scale = relative ? NTK_RIDGE_RELATIVE : NTK_RIDGE_ABSOLUTE;
        double ridge = relative ? 1e-3 : 1e-2;
        ntk_mpi_kernel_ridge *dm = NULL;
        ntk_kernel_ridge *sm = NULL;
        int s = ntk_mpi_kernel_ridge_fit(Kt, &targets, ridge, &o, &dm);
        CHECK(s == NTK_OK, "kernel ridge fit: %s", ntk_mpi_last_error());
        ntk_kernel_ridge_fit(N, Ks, N, &targets, ridge, &o, &sm);
        if (s != NTK_OK || sm == NULL) continue;
        double pd[M * K], ps[M * K], td[N * K], ts[N * K], ad[N * K], as[N * K];
        s = ntk_mpi_kernel_ridge_predict(dm, Kx, f0t, K, pd, K);
        CHECK(s == NTK_OK, "kernel ridge predict: %s", ntk_mpi_last_error());
        ntk_kernel_ridge_predict(sm, &tk, ps, K);
        ntk_mpi_kernel_ridge_results(dm, td, K, ad, K);
        ntk_kernel_ridge_train_predictions(sm, ts, K);
        ntk_kernel_ridge_dual_coefficients(sm, as, K);
        double zd = 0, zs = 0;
        ntk_mpi_kernel_ridge_info(dm, NULL, NULL, &zd);
        ntk_kernel_ridge_info(sm, NULL, NULL, &zs, NULL);
        double e1 = relative_error(pd, ps, M * K), e2 = relative_error(td, ts, N * K), e3 = relative_error(ad, as, N * K);
        CHECK(e1 <= 1e-10 && e2 <= 1e-10 && e3 <= 1e-10 && fabs(zd - zs) <= 1e-12 * zs,
              "kernel ridge (relative %d): test %.3g train %.3g alpha %.3g ridge %g vs %g", relative, e1, e2, e3, zd, zs);
        ntk_mpi_kernel_ridge_free(dm);
        ntk_kernel_ridge_free(sm);
    }

    /* Spectral: gradient flow at t = 0, 1, 10, inf (with and without ridge), GCV and LOO. */
    {
        ntk_mpi_spectral *ds = NULL;
        ntk_spectral *ss = NULL;
        int s = ntk_mpi_spectral_create(Kt, NTK_NEGATIVE_CLAMP, &ds);
        CHECK(s == NTK_OK, "spectral create: %s", ntk_mpi_last_error());
        ntk_spectral_create(N, Ks, N, NTK_NEGATIVE_CLAMP, NULL, NULL, &ss);
        if (s == NTK_OK && ss != NULL) {
            double wd[N], ws[N];
            ntk_mpi_spectral_eigenvalues(ds, wd);
            ntk_spectral_eigenvalues(ss, ws);
            CHECK(relative_error(wd, ws, N) <= 1e-10, "eigenvalues: %.3g", relative_error(wd, ws, N));
            enum { C = 6 };
            double times[C] = {0, 1, 10, INFINITY, 5, INFINITY}, ridges[C] = {0, 0, 0, 0, 1e-2, 1e-2};
            const ntk_grid grid = {C, times, ridges, 50};
            static double trd[C * N * K], trs[C * N * K], ted[C * M * K], tes[C * M * K];
            s = ntk_mpi_spectral_predict(ds, &targets, &grid, Kx, f0t, K, trd, ted);
            CHECK(s == NTK_OK, "spectral predict: %s", ntk_mpi_last_error());
            ntk_spectral_predict(ss, &targets, &grid, &tk, trs, tes);
            double e1 = relative_error(trd, trs, C * N * K), e2 = relative_error(ted, tes, C * M * K);
            CHECK(e1 <= 1e-10 && e2 <= 1e-10, "spectral predictions: train %.3g test %.3g", e1, e2);
            double grid_r[5] = {1e-4, 1e-3, 1e-2, 1e-1, 1};
            for (int criterion = 0; criterion < 2; criterion++) {
                double sd[5], sc[5];
                int64_t bd = -1, bs = -2;
                s = ntk_mpi_spectral_select_ridge(ds, &targets, 5, grid_r, (ntk_ridge_criterion)criterion, sd, &bd);
                CHECK(s == NTK_OK, "select ridge: %s", ntk_mpi_last_error());
                ntk_spectral_select_ridge(ss, &targets, 5, grid_r, (ntk_ridge_criterion)criterion, sc, &bs);
                CHECK(relative_error(sd, sc, 5) <= 1e-10 && bd == bs, "criterion %d: scores %.3g, best %lld vs %lld",
                      criterion, relative_error(sd, sc, 5), (long long)bd, (long long)bs);
            }
        }
        ntk_mpi_spectral_free(ds);
        ntk_spectral_free(ss);
    }

    /* Collective failures: a NaN in one rank's block of K_test only. */
    {
        double *data = NULL;
        int64_t lr = 0, lc = 0, lld = 0;
        ntk_mpi_matrix_local(Kx, &data, &lr, &lc, &lld);
        double saved = 0;
        int poisoned = rank_ == size_ - 1 && lr > 0 && lc > 0;
        if (poisoned) { saved = data[0]; data[0] = NAN; }
        ntk_mpi_spectral *ds = NULL;
        ntk_mpi_spectral_create(Kt, NTK_NEGATIVE_CLAMP, &ds);
        double pred[M * K];
        const ntk_grid one = {1, NULL, NULL, 1.0};
        int s = ntk_mpi_spectral_predict(ds, &targets, &one, Kx, NULL, 0, NULL, pred);
        CHECK(agreed(s, NTK_ERR_NON_FINITE), "NaN on one rank: status %d (%s)", s, ntk_mpi_last_error());
        if (poisoned) data[0] = saved;
        /* A bad grid (a negative time on the last rank only, a zero learning rate, none): every rank
         * learns it from libntk's grid check. */
        double bad_times[2] = {1.0, rank_ == size_ - 1 ? -1.0 : 2.0};
        const ntk_grid bad = {2, bad_times, NULL, 1.0}, no_rate = {1, NULL, NULL, 0.0};
        double pred2[2 * M * K];
        s = ntk_mpi_spectral_predict(ds, &targets, &bad, Kx, NULL, 0, NULL, pred2);
        CHECK(agreed(s, NTK_ERR_INVALID_ARGUMENT), "a negative time on one rank: %d (%s)", s, ntk_mpi_last_error());
        s = ntk_mpi_spectral_predict(ds, &targets, &no_rate, Kx, NULL, 0, NULL, pred);
        CHECK(agreed(s, NTK_ERR_INVALID_ARGUMENT), "learning rate 0: %d (%s)", s, ntk_mpi_last_error());
        s = ntk_mpi_spectral_predict(ds, &targets, NULL, Kx, NULL, 0, NULL, pred);
        CHECK(agreed(s, NTK_ERR_INVALID_ARGUMENT) && strstr(ntk_mpi_last_error(), "grid") != NULL,
              "no grid: %d (%s)", s, ntk_mpi_last_error());
        ntk_mpi_spectral_free(ds);
        /* Targets that differ on one rank. */
        double *Y2 = malloc(sizeof(double) * N * K);
        memcpy(Y2, Y, sizeof(double) * N * K);
        if (rank_ == size_ - 1) Y2[5] += 1;
        ntk_targets t2 = {K, Y2, K, f0, K};
        ntk_mpi_kernel_ridge *dm = NULL;
        s = ntk_mpi_kernel_ridge_fit(Kt, &t2, 1e-2, NULL, &dm);
        CHECK(size_ == 1 ? s == NTK_OK : agreed(s, NTK_ERR_INVALID_ARGUMENT), "targets differing across ranks: %d", s);
        CHECK(size_ == 1 || dm == NULL, "no model after a failure");
        ntk_mpi_kernel_ridge_free(dm);
        free(Y2);
        /* A non-positive-definite system: every rank learns it. */
        s = ntk_mpi_kernel_ridge_fit(Kt, &targets, 0.0, NULL, &dm);
        ntk_mpi_kernel_ridge_free(dm);
        /* (relu NTK with 150 distinct points is positive definite: expect success.) */
        CHECK(agreed(s, NTK_OK), "ridge 0: %d %s", s, ntk_mpi_last_error());
        double bad_ridge = rank_ == 0 ? -1.0 : 1.0;
        s = ntk_mpi_kernel_ridge_fit(Kt, &targets, bad_ridge, NULL, &dm);
        CHECK(agreed(s, NTK_ERR_INVALID_ARGUMENT), "a negative ridge on rank 0 only: %d", s);
    }
    ntk_mpi_matrix_free(Kt);
    ntk_mpi_matrix_free(Kx);
    ntk_mlp_free(mlp);
    free(X); free(Xt); free(Y); free(f0); free(f0t); free(Kd); free(Ks); free(Ktd); free(Kts);
}

static void test_data_parallel(void) {
    enum { NT = 400, T = 30, MC = 60 };
    double *X = malloc(sizeof(double) * NT * D), *Y = malloc(sizeof(double) * NT * K), *Xt = malloc(sizeof(double) * T * D);
    fill(X, NT * D, 0.9); fill(Y, NT * K, 0.2); fill(Xt, T * D, 5.0);
    int64_t first = (int64_t)NT * rank_ / size_, last = (int64_t)NT * (rank_ + 1) / size_, n = last - first;
    ntk_mlp *mlp = make_mlp(D, K, NTK_ACTIVATION_RELU, 11);
    ntk_targets all = {K, Y, K, NULL, 0}, mine = {K, Y + first * K, K, NULL, 0};
    /* Centres: every 7th point. */
    double C[MC * D];
    for (int c = 0; c < MC; c++) memcpy(C + c * D, X + (c * 7 % NT) * D, sizeof(double) * D);
    ntk_nystrom_test test = {T, Xt, D, NULL, 0, NULL, 0};
    for (int solver = 0; solver < 2; solver++) {
        ntk_nystrom_options o;
        ntk_nystrom_options_init(&o);
        o.solver = solver ? NTK_NYSTROM_CG : NTK_NYSTROM_DIRECT;
        o.tol = 1e-12;
        o.max_iter = 500;
        ntk_nystrom *dm = NULL, *sm = NULL;
        int s = ntk_mpi_nystrom_fit(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 1e-3, MC, C, D, &o, &dm);
        CHECK(s == NTK_OK, "data-parallel Nystrom (%s): %s", solver ? "CG" : "direct", ntk_mpi_last_error());
        ntk_nystrom_fit_centers(mlp, NT, X, D, &all, 1e-3, MC, C, D, &o, &sm);
        if (s != NTK_OK || sm == NULL) continue;
        double pd[T * K], ps[T * K];
        ntk_nystrom_predict(dm, &test, pd, K, NULL, NULL);
        ntk_nystrom_predict(sm, &test, ps, K, NULL, NULL);
        int64_t nd = 0;
        ntk_nystrom_info(dm, &nd, NULL, NULL, NULL, NULL, NULL, NULL);
        double e = relative_error(pd, ps, T * K);
        CHECK(e <= 1e-8 && nd == NT, "Nystrom %s: %.3g, n = %lld", solver ? "CG" : "direct", e, (long long)nd);
        if (solver == 0) {
            /* GCV on the data-parallel model (n, ||R||^2 summed). */
            double grid_r[3] = {1e-4, 1e-2, 1}, sd[3], ss[3];
            ntk_nystrom_select_ridge(dm, 3, grid_r, sd, NULL);
            ntk_nystrom_select_ridge(sm, 3, grid_r, ss, NULL);
            CHECK(relative_error(sd, ss, 3) <= 1e-8, "Nystrom GCV: %.3g", relative_error(sd, ss, 3));
        }
        ntk_nystrom_free(dm);
        ntk_nystrom_free(sm);
    }
    /* Centres drawn by the library: the same model on every rank. */
    {
        ntk_nystrom *dm = NULL;
        int s = ntk_mpi_nystrom_fit(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 1e-3, MC, NULL, 0, NULL, &dm);
        CHECK(s == NTK_OK, "Nystrom with sampled centres: %s", ntk_mpi_last_error());
        if (s == NTK_OK) {
            double coef[MC * K], low[MC * K], high[MC * K];
            ntk_nystrom_coefficients(dm, coef, K);
            MPI_Allreduce(coef, low, MC * K, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
            MPI_Allreduce(coef, high, MC * K, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            CHECK(relative_error(low, high, MC * K) == 0, "the same coefficients on every rank");
        }
        ntk_nystrom_free(dm);
    }
    /* Matrix-free empirical NTK CG. */
    {
        ntk_empirical_solver_options o;
        ntk_empirical_solver_options_init(&o);
        o.preconditioner_rank = 0;
        o.tol = 1e-12;
        o.max_iter = 2000;
        ntk_empirical_ridge *dm = NULL, *sm = NULL;
        int s = ntk_mpi_empirical_ridge_fit(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 0.1, &o, &dm);
        CHECK(s == NTK_OK, "data-parallel empirical ridge: %s", ntk_mpi_last_error());
        ntk_empirical_ridge_fit(mlp, NT, X, D, &all, 0.1, &o, &sm);
        if (s == NTK_OK && sm != NULL) {
            ntk_points pts = {T, Xt, D, NULL, 0};
            double pd[T * K], ps[T * K];
            ntk_empirical_ridge_predict(dm, &pts, pd, K, NULL, NULL);
            ntk_empirical_ridge_predict(sm, &pts, ps, K, NULL, NULL);
            double e = relative_error(pd, ps, T * K);
            /* This rank's alpha is its rows of the full alpha. */
            double *ad = malloc(sizeof(double) * (n > 0 ? n : 1) * K), *as = malloc(sizeof(double) * NT * K);
            ntk_empirical_ridge_dual_coefficients(dm, ad, K);
            ntk_empirical_ridge_dual_coefficients(sm, as, K);
            double ea = n > 0 ? relative_error(ad, as + first * K, n * K) : 0;
            CHECK(e <= 1e-8 && ea <= 1e-8, "empirical ridge: predictions %.3g, alpha %.3g", e, ea);
            free(ad);
            free(as);
        }
        /* Preconditioned: centres drawn among all the rows (the same on every rank) make the
         * Nystrom preconditioner of all the rows; the same answer in at most half the iterations. */
        int64_t plain_iterations = 0, iterations = 0;
        ntk_empirical_ridge_info(dm, NULL, NULL, &plain_iterations, NULL, NULL);
        ntk_empirical_ridge *pm = NULL;
        o.preconditioner_rank = 32;
        s = ntk_mpi_empirical_ridge_fit(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 0.1, &o, &pm);
        CHECK(s == NTK_OK, "preconditioned data-parallel empirical ridge: %s", ntk_mpi_last_error());
        if (s == NTK_OK && sm != NULL) {
            ntk_points pts = {T, Xt, D, NULL, 0};
            double pp[T * K], ps[T * K];
            ntk_empirical_ridge_predict(pm, &pts, pp, K, NULL, NULL);
            ntk_empirical_ridge_predict(sm, &pts, ps, K, NULL, NULL);
            ntk_empirical_ridge_info(pm, NULL, NULL, &iterations, NULL, NULL);
            CHECK(relative_error(pp, ps, T * K) <= 1e-8 && 2 * iterations <= plain_iterations,
                  "preconditioned: predictions %.3g, %lld iterations (plain CG: %lld)", relative_error(pp, ps, T * K),
                  (long long)iterations, (long long)plain_iterations);
            if (rank_ == 0) printf("  data-parallel CG: %lld iterations plain, %lld with a rank-32 preconditioner\n",
                                   (long long)plain_iterations, (long long)iterations);
        }
        ntk_empirical_ridge_free(pm);
        o.preconditioner_rank = 0;
        ntk_empirical_ridge_free(dm);
        ntk_empirical_ridge_free(sm);
    }
    /* Failures inside the solver on one rank: a NaN in its rows, a memory budget too small. */
    {
        double *Xbad = malloc(sizeof(double) * (n > 0 ? n : 1) * D);
        memcpy(Xbad, X + first * D, sizeof(double) * n * D);
        if (rank_ == size_ - 1 && n > 0) Xbad[0] = NAN;
        ntk_nystrom *dm = NULL;
        int s = ntk_mpi_nystrom_fit(MPI_COMM_WORLD, mlp, n, Xbad, D, &mine, 1e-3, MC, C, D, NULL, &dm);
        CHECK(agreed(s, NTK_ERR_NON_FINITE) && dm == NULL, "NaN in one rank's rows: %d", s);
        free(Xbad);
        if (rank_ == 0) ntk_set_memory_budget(1024);
        ntk_empirical_solver_options o;
        ntk_empirical_solver_options_init(&o);
        o.preconditioner_rank = 0;
        ntk_empirical_ridge *em = NULL;
        s = ntk_mpi_empirical_ridge_fit(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 0.1, &o, &em);
        CHECK(agreed(s, NTK_ERR_OUT_OF_MEMORY) && em == NULL, "out of memory on rank 0 only: %d", s);
        if (rank_ == 0) ntk_set_memory_budget(0);
        /* A network whose parameters differ on one rank. */
        ntk_mlp *other = make_mlp(D, K, NTK_ACTIVATION_RELU, rank_ == size_ - 1 ? 12 : 11);
        s = ntk_mpi_empirical_ridge_fit(MPI_COMM_WORLD, other, n, X + first * D, D, &mine, 0.1, &o, &em);
        CHECK(size_ == 1 ? s == NTK_OK : agreed(s, NTK_ERR_INVALID_ARGUMENT), "different networks: %d", s);
        ntk_empirical_ridge_free(em);
        ntk_mlp_free(other);
    }
    ntk_mlp_free(mlp);
    free(X); free(Y); free(Xt);
}

/* Progress and cancellation of the distributed kernel ridge (blocked Cholesky, n = 1200 on
 * 16-blocks: three panels): fractions rise to 1 on every rank and the fit equals a dense
 * single-process one (1e-10); a cancel requested by rank 1 (size > 1, else rank 0) at its second
 * report makes every rank return CANCELLED within 1 s of the request, with the same message;
 * the kernel is then fitted again as if nothing happened. */
typedef struct cancel_state { int calls, cancel_at; double last, requested; } cancel_state;
static int report(void *user, double fraction) {
    cancel_state *s = user;
    s->calls++;
    if (fraction < s->last) s->last = 2; /* not monotone: flagged below */
    else s->last = fraction;
    if (s->calls == s->cancel_at) { s->requested = MPI_Wtime(); return 1; }
    return 0;
}

static void test_cancellation(void) {
    const int64_t n = 1200;
    ntk_mpi_grid *grid = NULL;
    ntk_mpi_matrix *K = NULL;
    ntk_mpi_grid_create(MPI_COMM_WORLD, 0, 0, 16, &grid);
    ntk_mpi_matrix_create(grid, n, n, &K);
    double *dense = malloc(sizeof(double) * (size_t)(n * n)), *y = malloc(sizeof(double) * (size_t)n);
    double *expected = malloc(sizeof(double) * (size_t)n), *got = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        y[i] = cos(0.01 * (double)i);
        for (int64_t j = 0; j < n; j++) dense[i * n + j] = exp(-fabs((double)(i - j)) / 40.0);
    }
    double *local = NULL;
    int64_t lr = 0, lc = 0, lld = 0, *rows = malloc(sizeof(int64_t) * (size_t)n), *cols = malloc(sizeof(int64_t) * (size_t)n);
    ntk_mpi_matrix_local(K, &local, &lr, &lc, &lld);
    ntk_mpi_matrix_indices(K, rows, cols);
    for (int64_t j = 0; j < lc; j++)
        for (int64_t i = 0; i < lr; i++) local[i + j * lld] = dense[rows[i] * n + cols[j]];
    ntk_targets targets = {1, y, 1, NULL, 0};
    ntk_kernel_ridge_options o;
    ntk_kernel_ridge_options_init(&o);
    cancel_state state = {0, -1, 0, 0};
    o.progress = report;
    o.progress_user = &state;
    ntk_mpi_kernel_ridge *model = NULL;
    int s = ntk_mpi_kernel_ridge_fit(K, &targets, 1e-3, &o, &model);
    CHECK(s == NTK_OK && state.calls >= 4 && state.last == 1.0, "progress: status %d, %d reports, last %g", s,
          state.calls, state.last);
    ntk_kernel_ridge *reference = NULL;
    ntk_kernel_ridge_fit(n, dense, n, &targets, 1e-3, NULL, &reference);
    ntk_kernel_ridge_train_predictions(reference, expected, 1);
    ntk_kernel_ridge_free(reference);
    ntk_mpi_kernel_ridge_results(model, got, 1, NULL, 0);
    CHECK(relative_error(got, expected, n) < 1e-10, "blocked Cholesky vs dense: %.2e", relative_error(got, expected, n));
    ntk_mpi_kernel_ridge_free(model);
    model = NULL;

    int canceller = size_ > 1 ? 1 : 0;
    cancel_state cancel = {0, rank_ == canceller ? 2 : -1, 0, 0};
    o.progress_user = &cancel;
    s = ntk_mpi_kernel_ridge_fit(K, &targets, 1e-3, &o, &model);
    double returned = MPI_Wtime(), requested = cancel.requested;
    MPI_Bcast(&requested, 1, MPI_DOUBLE, canceller, MPI_COMM_WORLD);
    char expected_rank[32];
    snprintf(expected_rank, sizeof expected_rank, "rank %d:", canceller);
    CHECK(agreed(s, NTK_ERR_CANCELLED) && model == NULL && strstr(ntk_mpi_last_error(), expected_rank),
          "cancel on rank %d: status %d, '%s'", canceller, s, ntk_mpi_last_error());
    CHECK(returned - requested < 1.0, "returned %.3f s after the cancel request", returned - requested);
    s = ntk_mpi_kernel_ridge_fit(K, &targets, 1e-3, NULL, &model);
    got[0] = NAN;
    if (s == NTK_OK) ntk_mpi_kernel_ridge_results(model, got, 1, NULL, 0);
    CHECK(s == NTK_OK && relative_error(got, expected, n) < 1e-10, "refit after a cancel: %d", s);
    ntk_mpi_kernel_ridge_free(model);
    ntk_mpi_matrix_free(K);
    ntk_mpi_grid_free(grid);
    free(dense); free(y); free(expected); free(got); free(rows); free(cols);
}

/* The Lanczos gradient flow over the ranks' rows: this rank's rows of the single-process flow on
 * all the rows, and its predictions at this rank's own test points (1e-9); then the agreed
 * errors: times that differ on one rank, test predictions asked on one rank only, and a cancel
 * from rank 1's progress callback (every rank CANCELLED, then the flow runs again). */
static void test_data_parallel_flow(void) {
    enum { NT = 300, T = 12, NTIMES = 3 };
    double *X = malloc(sizeof(double) * NT * D), *Y = malloc(sizeof(double) * NT * K);
    double *Xt = malloc(sizeof(double) * T * D);
    fill(X, NT * D, 1.7); fill(Y, NT * K, 0.4); fill(Xt, T * D, 3.0 + rank_);
    int64_t first = (int64_t)NT * rank_ / size_, last = (int64_t)NT * (rank_ + 1) / size_, n = last - first;
    ntk_mlp *mlp = make_mlp(D, K, NTK_ACTIVATION_RELU, 21);
    ntk_targets all = {K, Y, K, NULL, 0}, mine = {K, Y + first * K, K, NULL, 0};
    ntk_points pts = {T, Xt, D, NULL, 0};
    double times[NTIMES] = {0.5, 5, 60};
    double *train_all = malloc(sizeof(double) * NTIMES * NT * K), *train = malloc(sizeof(double) * NTIMES * NT * K);
    double test_all[NTIMES * T * K], test[NTIMES * T * K], estimate = -1;
    ntk_empirical_solver_options o;
    ntk_empirical_solver_options_init(&o);
    o.tol = 1e-12;
    ntk_empirical_gradient_flow(mlp, NT, X, D, &all, NTIMES, times, &pts, &o, train_all, test_all, NULL);
    int s = ntk_mpi_empirical_gradient_flow(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, NTIMES, times, &pts, &o,
                                            train, test, &estimate);
    CHECK(s == NTK_OK && estimate >= 0 && estimate <= 1e-12, "data-parallel flow: %s (estimate %g)",
          ntk_mpi_last_error(), estimate);
    double et = relative_error(test, test_all, NTIMES * T * K), er = 0;
    for (int f = 0; f < NTIMES; f++) {
        er = fmax(er, n > 0 ? relative_error(train + f * n * K, train_all + (f * NT + first) * K, n * K) : 0);
    }
    CHECK(s == NTK_OK && et <= 1e-9 && er <= 1e-9, "flow: test %.3g, this rank's train rows %.3g", et, er);
    /* Times that differ on the last rank; test predictions asked on rank 0 only. */
    double other[NTIMES] = {0.5, 5, rank_ == size_ - 1 ? 61 : 60};
    s = ntk_mpi_empirical_gradient_flow(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, NTIMES, other, NULL, &o,
                                        train, NULL, NULL);
    CHECK(size_ == 1 ? s == NTK_OK : agreed(s, NTK_ERR_INVALID_ARGUMENT), "different times: %d", s);
    s = ntk_mpi_empirical_gradient_flow(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, NTIMES, times,
                                        rank_ == 0 ? &pts : NULL, &o, train, rank_ == 0 ? test : NULL, NULL);
    CHECK(size_ == 1 ? s == NTK_OK : agreed(s, NTK_ERR_INVALID_ARGUMENT), "test on rank 0 only: %d", s);
    int canceller = size_ > 1 ? 1 : 0;
    cancel_state cancel = {0, rank_ == canceller ? 3 : -1, 0, 0};
    o.progress = report;
    o.progress_user = &cancel;
    o.max_iter = 100;
    o.tol = 1e-300; /* runs all its steps unless cancelled */
    s = ntk_mpi_empirical_gradient_flow(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, NTIMES, times, &pts, &o,
                                        train, test, NULL);
    CHECK(agreed(s, NTK_ERR_CANCELLED), "flow cancelled on rank %d: %d, '%s'", canceller, s, ntk_mpi_last_error());
    o.progress = NULL;
    o.tol = 1e-12;
    o.max_iter = 500;
    s = ntk_mpi_empirical_gradient_flow(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, NTIMES, times, &pts, &o,
                                        train, test, NULL);
    CHECK(s == NTK_OK && relative_error(test, test_all, NTIMES * T * K) <= 1e-9, "flow after a cancel: %d", s);
    ntk_mlp_free(mlp);
    free(X); free(Y); free(Xt); free(train_all); free(train);
}

/* Small blocks and sizes that are not multiples of them: ScaLAPACK's PDSYEVD workspace query
 * undercounts there (its back transformation PDORMTR then returns without applying itself, and
 * the eigenvectors are wrong); the spectral solver's ridge predictions must equal a dense
 * single-process solve, on every rank. Also: a grid freed while its matrices live (they hold it). */
static void test_small_blocks(void) {
    const int64_t sizes[] = {1, 7, 16, 18}, blocks[] = {1, 2, 3, 5, 64};
    double worst = 0;
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
        for (size_t q = 0; q < sizeof sizes / sizeof *sizes; q++) {
            int64_t n = sizes[q];
            ntk_mpi_grid *grid = NULL;
            ntk_mpi_matrix *K = NULL;
            ntk_mpi_spectral *solver = NULL;
            ntk_mpi_grid_create(MPI_COMM_WORLD, 0, 0, blocks[b], &grid);
            ntk_mpi_matrix_create(grid, n, n, &K);
            ntk_mpi_grid_free(grid); /* the matrix holds it */
            double dense[18 * 18], y[18], expected[18], got[18], *local = NULL;
            int64_t lr = 0, lc = 0, lld = 0, rows[18], cols[18];
            for (int64_t i = 0; i < n; i++) {
                y[i] = sin(1.0 + (double)i);
                for (int64_t j = 0; j < n; j++) dense[i * n + j] = (i == j ? 2.0 + (double)i : 0) + 1.0 / (1.0 + (double)(i + j));
            }
            ntk_mpi_matrix_local(K, &local, &lr, &lc, &lld);
            ntk_mpi_matrix_indices(K, rows, cols);
            for (int64_t j = 0; j < lc; j++)
                for (int64_t i = 0; i < lr; i++) local[i + j * lld] = dense[rows[i] * n + cols[j]];
            int s = ntk_mpi_spectral_create(K, NTK_NEGATIVE_CLAMP, &solver);
            double t = INFINITY, z = 0.1;
            ntk_grid g = {1, &t, &z, 1.0};
            ntk_targets targets = {1, y, 1, NULL, 0};
            if (s == NTK_OK) s = ntk_mpi_spectral_predict(solver, &targets, &g, NULL, NULL, 0, got, NULL);
            CHECK(s == NTK_OK, "spectral at n = %lld, block %lld: %s", (long long)n, (long long)blocks[b],
                  ntk_mpi_last_error());
            /* The dense answer: K (K + zI)^-1 y. */
            ntk_kernel_ridge *model = NULL;
            ntk_targets dense_targets = {1, y, 1, NULL, 0};
            ntk_kernel_ridge_fit(n, dense, n, &dense_targets, z, NULL, &model);
            ntk_kernel_ridge_train_predictions(model, expected, 1);
            ntk_kernel_ridge_free(model);
            if (s == NTK_OK) worst = fmax(worst, relative_error(got, expected, n));
            ntk_mpi_spectral_free(solver);
            ntk_mpi_matrix_free(K); /* releases the grid */
        }
    }
    CHECK(worst < 1e-10, "small blocks: spectral ridge predictions differ from a dense solve by %.2e", worst);
}

/* The entry points for networks built from layers: a convolution over the whole sequence of D
 * positions (VALID), relu, Flatten, Dense(K) is the MLP [16] of the same parameters, so each
 * distributed result equals the MLP's on every rank. */
static void test_networks(ntk_mpi_grid *grid) {
    enum { NT = 120, T = 9, W = 16 };
    double *X = malloc(sizeof(double) * NT * D), *Y = malloc(sizeof(double) * NT * K), *Xt = malloc(sizeof(double) * T * D);
    fill(X, NT * D, 1.1); fill(Y, NT * K, 0.4); fill(Xt, T * D, 3.0);
    ntk_layer layers[4];
    ntk_layer_init(&layers[0], NTK_LAYER_CONV);
    layers[0].width = W;
    layers[0].rank = 1;
    layers[0].window[0] = D;
    layers[0].padding = NTK_PADDING_VALID;
    ntk_layer_init(&layers[1], NTK_LAYER_ACTIVATION);
    ntk_layer_init(&layers[2], NTK_LAYER_FLATTEN);
    ntk_layer_init(&layers[3], NTK_LAYER_DENSE);
    layers[3].width = K;
    const int64_t shape[2] = {D, 1}, widths[1] = {W};
    ntk_network_options no;
    ntk_network_options_init(&no);
    no.b_std = 0.1;
    ntk_mlp_options mo;
    ntk_mlp_options_init(&mo);
    mo.b_std = 0.1;
    ntk_network *net = NULL;
    ntk_mlp *mlp = NULL;
    ntk_network_create(2, shape, 4, layers, &no, &net);
    ntk_mlp_create(D, 1, widths, K, NTK_ACTIVATION_RELU, &mo, &mlp);
    int64_t p = 0;
    ntk_network_info(net, NULL, NULL, &p);
    double *theta = malloc(sizeof(double) * (size_t)p);
    ntk_network_get_parameters(net, theta, p);
    CHECK(ntk_mlp_set_parameters(mlp, theta, p) == NTK_OK, "the network's parameters load into the MLP");
    free(theta);
    ntk_mpi_points all = {NT, X, D, NTK_MPI_REPLICATED};
    ntk_mpi_matrix *a = NULL, *b = NULL;
    double *ka = malloc(sizeof(double) * NT * NT), *kb = malloc(sizeof(double) * NT * NT);
    for (int family = 0; family < 2; family++) {
        int s1 = family ? ntk_mpi_network_empirical_ntk(grid, net, &all, NULL, NULL, &a)
                        : ntk_mpi_network_infinite_width_kernel(grid, net, NTK_KERNEL_NTK, &all, NULL, NULL, &a);
        int s2 = family ? ntk_mpi_empirical_ntk(grid, mlp, &all, NULL, NULL, &b)
                        : ntk_mpi_infinite_width_kernel(grid, mlp, NTK_KERNEL_NTK, &all, NULL, NULL, &b);
        CHECK(s1 == NTK_OK && s2 == NTK_OK, "network kernels: %s", ntk_mpi_last_error());
        if (s1 == NTK_OK && s2 == NTK_OK) {
            ntk_mpi_matrix_gather(a, ka, NT);
            ntk_mpi_matrix_gather(b, kb, NT);
            double e = relative_error(ka, kb, NT * NT);
            CHECK(e <= 1e-12, "the network's distributed %s kernel is the MLP's: %.3g", family ? "empirical" : "infinite",
                  e);
        }
        ntk_mpi_matrix_free(a);
        ntk_mpi_matrix_free(b);
    }
    free(ka);
    free(kb);
    int64_t first = (int64_t)NT * rank_ / size_, n = (int64_t)NT * (rank_ + 1) / size_ - first;
    ntk_targets mine = {K, Y + first * K, K, NULL, 0};
    ntk_points pts = {T, Xt, D, NULL, 0};
    ntk_nystrom_test test = {T, Xt, D, NULL, 0, NULL, 0};
    double pa[T * K], pb[T * K];
    ntk_nystrom *na = NULL, *nb = NULL;
    /* Centres apart from every row: a point against itself as a cross pair (rho = 1 up to
     * rounding) is where two relu implementations may differ by 1e-8 (the arccosine's slope). */
    double C[20 * D];
    fill(C, 20 * D, 7.0);
    int s = ntk_mpi_network_nystrom_fit(MPI_COMM_WORLD, net, n, X + first * D, D, &mine, 1e-3, 20, C, D, NULL, &na);
    s = s ? s : ntk_mpi_nystrom_fit(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 1e-3, 20, C, D, NULL, &nb);
    s = s ? s : ntk_nystrom_predict(na, &test, pa, K, NULL, NULL);
    s = s ? s : ntk_nystrom_predict(nb, &test, pb, K, NULL, NULL);
    CHECK(s == NTK_OK && relative_error(pa, pb, T * K) <= 1e-8, "the network's data-parallel Nystrom is the MLP's: %d, "
          "%.3g", s, relative_error(pa, pb, T * K));
    ntk_nystrom_free(na);
    ntk_nystrom_free(nb);
    ntk_empirical_solver_options o;
    ntk_empirical_solver_options_init(&o);
    o.tol = 1e-12;
    o.preconditioner_rank = 10;
    ntk_empirical_ridge *ra = NULL, *rb = NULL;
    s = ntk_mpi_network_empirical_ridge_fit(MPI_COMM_WORLD, net, n, X + first * D, D, &mine, 0.1, &o, &ra);
    s = s ? s : ntk_mpi_empirical_ridge_fit(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 0.1, &o, &rb);
    s = s ? s : ntk_empirical_ridge_predict(ra, &pts, pa, K, NULL, NULL);
    s = s ? s : ntk_empirical_ridge_predict(rb, &pts, pb, K, NULL, NULL);
    CHECK(s == NTK_OK && relative_error(pa, pb, T * K) <= 1e-8, "the network's data-parallel ridge is the MLP's: %s",
          ntk_mpi_last_error());
    ntk_empirical_ridge_free(ra);
    ntk_empirical_ridge_free(rb);
    double times[2] = {0.5, 6.0}, fa[2 * T * K], fb[2 * T * K];
    s = ntk_mpi_network_empirical_gradient_flow(MPI_COMM_WORLD, net, n, X + first * D, D, &mine, 2, times, &pts, &o,
                                                NULL, fa, NULL);
    s = s ? s : ntk_mpi_empirical_gradient_flow(MPI_COMM_WORLD, mlp, n, X + first * D, D, &mine, 2, times, &pts, &o,
                                                NULL, fb, NULL);
    CHECK(s == NTK_OK && relative_error(fa, fb, 2 * T * K) <= 1e-9, "the network's data-parallel flow is the MLP's");
    s = ntk_mpi_network_empirical_ridge_fit(MPI_COMM_WORLD, NULL, n, X + first * D, D, &mine, 0.1, &o, &ra);
    CHECK(agreed(s, NTK_ERR_INVALID_HANDLE) && ra == NULL, "a NULL network is everyone's error: %d", s);
    ntk_network_free(net);
    ntk_mlp_free(mlp);
    free(X);
    free(Y);
    free(Xt);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    ntk_mpi_grid *grid = NULL;
    int s = ntk_mpi_grid_create(MPI_COMM_WORLD, 0, 0, 16, &grid);
    CHECK(s == NTK_OK, "grid: %s", ntk_mpi_last_error());
    int nprow = 0, npcol = 0;
    ntk_mpi_grid_info(grid, NULL, NULL, &nprow, &npcol, NULL, NULL, NULL);
    CHECK(nprow * npcol == size_, "grid shape %d x %d", nprow, npcol);
    /* Freed and foreign handles are reported, not dereferenced. */
    {
        ntk_mpi_matrix *A = NULL;
        ntk_mpi_matrix_create(grid, 10, 10, &A);
        ntk_mpi_matrix_free(A);
        int64_t rows = -1;
        CHECK(ntk_mpi_matrix_size(A, &rows, NULL) == NTK_ERR_INVALID_HANDLE && rows == -1, "a freed matrix");
        ntk_mpi_matrix_free(A); /* twice: ignored */
        double fake[16] = {0};
        ntk_mpi_kernel_ridge *model = NULL;
        ntk_targets t = {1, fake, 1, NULL, 0};
        CHECK(ntk_mpi_kernel_ridge_fit((const ntk_mpi_matrix *)fake, &t, 1.0, NULL, &model) == NTK_ERR_INVALID_HANDLE &&
              model == NULL, "a foreign pointer as a matrix: %s", ntk_mpi_last_error());
        CHECK(ntk_mpi_grid_info((const ntk_mpi_grid *)A, NULL, NULL, NULL, NULL, NULL, NULL, NULL) == NTK_ERR_INVALID_HANDLE,
              "a matrix as a grid");
        CHECK(ntk_mpi_spectral_eigenvalues(NULL, fake) == NTK_ERR_INVALID_HANDLE, "a NULL solver");
    }
    ntk_mpi_grid *bad = NULL;
    s = ntk_mpi_grid_create(MPI_COMM_WORLD, size_ + 1, 1, 0, &bad);
    CHECK(agreed(s, NTK_ERR_INVALID_ARGUMENT) && bad == NULL, "a grid that does not match: %d", s);
    /* An empty kernel's solver with more targets x grid points than int64 holds: too large, not an
     * overflow (the fuzz driver's finding under UBSan). */
    {
        ntk_mpi_matrix *E = NULL;
        ntk_mpi_spectral *solver = NULL;
        s = ntk_mpi_matrix_create(grid, 0, 0, &E);
        if (s == NTK_OK) s = ntk_mpi_spectral_create(E, NTK_NEGATIVE_CLAMP, &solver);
        CHECK(s == NTK_OK, "an empty kernel's solver: %s", ntk_mpi_last_error());
        double times[4] = {0, 1, 2, 3}, ridges[4] = {1, 2, 3, 4}, scores[4], none[1];
        const ntk_grid four = {4, times, NULL, 1.0};
        ntk_targets wide = {INT64_MAX / 3, none, INT64_MAX / 3, NULL, 0};
        s = ntk_mpi_spectral_predict(solver, &wide, &four, NULL, NULL, 0, none, NULL);
        CHECK(agreed(s, NTK_ERR_TOO_LARGE), "4 times x 2^61 targets: %d (%s)", s, ntk_mpi_last_error());
        int64_t best = -1;
        s = ntk_mpi_spectral_select_ridge(solver, &wide, 4, ridges, NTK_CRITERION_LOO, scores, &best);
        CHECK(agreed(s, NTK_ERR_INVALID_ARGUMENT) && best == -1, "ridge selection without entries: %d (%s)", s,
              ntk_mpi_last_error());
        ntk_mpi_spectral_free(solver);
        ntk_mpi_matrix_free(E);
    }
    test_kernels_and_solvers(grid);
    test_data_parallel();
    test_small_blocks();
    test_cancellation();
    test_data_parallel_flow();
    test_networks(grid);
    ntk_mpi_grid_free(grid);
    int totals[2] = {passed, failed}, sums[2] = {0, 0};
    MPI_Reduce(totals, sums, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank_ == 0) printf("%d passed, %d failed\n", sums[0], sums[1]);
    MPI_Finalize();
    return failed == 0 ? 0 : 1;
}
