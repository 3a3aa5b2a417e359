/* A structured random driver for libntk_mpi's C API ("fuzzer"), run on one rank:
 *
 *   mpirun -np 1 fuzz_mpi SECONDS [SEED]
 *
 * Calls every ntk_mpi_* entry point in random order with random sizes (small, zero, negative,
 * beyond ScaLAPACK's 32-bit sizes), leading dimensions (valid and not), NULL pointers, NaN and
 * infinite values, random enum values and points layouts, options structs of random sizes
 * (0, too small, larger than the library's) and contents, and handles that are live, freed, of
 * another type or foreign pointers (grids freed while their matrices live included). Buffers
 * are as large as any size the library may accept. A crash (under ASan/UBSan: any memory error),
 * a status outside the documented set, a failure without a message, a success that leaves an
 * out-pointer NULL, or a success with non-finite output from finite input is a finding: the
 * driver prints it and exits non-zero. Prints "fuzz_mpi: N calls, F failures, 0 findings". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ntk_mpi.h"

#include "../fuzz/fuzz_random.h"
static double value(int allow_nan) {
    if (allow_nan && chance(3)) return chance(50) ? NAN : INFINITY;
    return (double)(next_u64() >> 11) / 9007199254740992.0 * 2 - 1;
}

static long calls = 0, failures = 0, findings = 0;

static void finding(const char *what, int status) {
    findings++;
    fprintf(stderr, "FINDING after %ld calls: %s (status %d, message '%s')\n", calls, what, status,
            ntk_mpi_last_error());
}

/* A documented status; a failure carries a message. */
static int checked(int status, const char *call) {
    calls++;
    if (status == NTK_OK) return status;
    failures++;
    if (status < -11 || status > 0) finding(call, status);
    if (ntk_mpi_last_error()[0] == '\0') finding("failure without a message", status);
    return status;
}

/* Buffers large enough for every size below 100 (and for 64-column rows): the library cannot
 * check a caller's extent, so sizes within them are the caller's to get right. */
enum { MAXN = 40, MAXD = 6, MAXK = 3, BIG = 4 * MAXN * MAXN + 64 };
static double data_x[BIG], data_y[BIG], data_out[BIG], data_out2[BIG], data_c[BIG];
static int64_t index_buffer[BIG];

static void fill(double *buffer, int64_t count, int allow_nan) {
    for (int64_t i = 0; i < count && i < BIG; i++) buffer[i] = value(allow_nan && chance(20));
}
/* A leading dimension for cols columns: valid mostly, sometimes too small. A huge cols gets 1:
 * the library may accept one row of 2^31 columns where this machine's memory holds it, and
 * would then read the caller's row, which no buffer here has. */
static int64_t lead(int64_t cols) {
    if (huge(cols)) return 1;
    if (chance(4)) return cols - 1;
    return (cols > 0 ? cols : 1) + (chance(30) ? pick(0, 2) : 0);
}

/* Handle pools: live handles, freed ones, foreign pointers. */
enum { POOL = 4 };
static ntk_mpi_grid *grids[POOL];
static ntk_mpi_matrix *matrices[POOL];
static ntk_mpi_kernel_ridge *ridges[POOL];
static ntk_mpi_spectral *spectra[POOL];
static void *freed[32];
static int nfreed = 0;
static double foreign[16];
static ntk_mlp *mlp_live;

static void remember_freed(void *h) {
    if (h) freed[nfreed < 32 ? nfreed++ : (int)pick(0, 31)] = h;
}
/* A handle as a caller might pass it: live (mostly), NULL, freed, foreign, of another type. */
static void *any(void *const *pool) {
    int r = (int)pick(0, 11);
    if (r == 0) return NULL;
    if (r == 1) return foreign;
    if (r == 2 && nfreed > 0) return freed[pick(0, nfreed - 1)];
    if (r == 3) {
        void *const *pools[4] = {(void *const *)grids, (void *const *)matrices, (void *const *)ridges,
                                 (void *const *)spectra};
        return pools[pick(0, 3)][pick(0, POOL - 1)];
    }
    return pool[pick(0, POOL - 1)];
}
#define ANY(pool) any((void *const *)(pool))

/* An options struct: NULL, its own size, too small, or larger with zero / non-zero extra bytes. */
static union {
    unsigned char bytes[1024];
    double d;
    void *p;
} option_storage;
static const void *options(const void *init, size_t init_size) {
    if (chance(20)) return NULL;
    memset(option_storage.bytes, chance(50) ? 0 : 0xA5, sizeof option_storage.bytes);
    memcpy(option_storage.bytes, init, init_size);
    size_t given = init_size;
    int r = (int)pick(0, 19);
    if (r == 0) given = (size_t)pick(0, (int64_t)sizeof(size_t) - 1);
    if (r == 1) given = init_size + (size_t)pick(1, 64);
    memcpy(option_storage.bytes, &given, sizeof given);
    return option_storage.bytes;
}

static void make_grid(void) {
    ntk_mpi_grid *g = NULL;
    int nprow = chance(70) ? 0 : (int)pick(-1, 2), npcol = chance(70) ? 0 : (int)pick(-1, 2);
    int64_t block = chance(10) ? size(8) : pick(0, 8);
    MPI_Comm comm = chance(5) ? MPI_COMM_NULL : MPI_COMM_WORLD;
    int status = checked(ntk_mpi_grid_create(comm, nprow, npcol, block, chance(3) ? NULL : &g), "grid_create");
    if (status == NTK_OK && g == NULL) finding("grid_create succeeded without a grid", status);
    int slot = (int)pick(0, POOL - 1);
    if (grids[slot]) { ntk_mpi_grid_free(grids[slot]); remember_freed(grids[slot]); } /* matrices may live on */
    grids[slot] = g;
}

static void put_matrix(ntk_mpi_matrix *A) {
    int slot = (int)pick(0, POOL - 1);
    if (matrices[slot]) { ntk_mpi_matrix_free(matrices[slot]); remember_freed(matrices[slot]); }
    matrices[slot] = A;
}

static void make_matrix(void) {
    ntk_mpi_matrix *A = NULL;
    int64_t rows = size(MAXN / 2), cols = size(MAXN / 2);
    if (checked(ntk_mpi_matrix_create(ANY(grids), rows, cols, &A), "matrix_create") == NTK_OK) {
        double *local = NULL;
        int64_t lr = 0, lc = 0, lld = 0;
        ntk_mpi_matrix_local(A, &local, &lr, &lc, &lld);
        for (int64_t j = 0; j < lc; j++)
            for (int64_t i = 0; i < lr; i++) local[i + j * lld] = (i == j ? 2.0 : 0.0) + 0.1 * value(chance(5));
        put_matrix(A);
    }
}

static ntk_mpi_points points(int64_t d, int allow_nan) {
    ntk_mpi_points p;
    p.n = size(MAXN / 2);
    p.ldx = lead(d);
    p.layout = chance(90) ? (ntk_mpi_layout)pick(0, 1) : (ntk_mpi_layout)pick(-3, 7);
    fill(data_x, BIG, allow_nan);
    p.X = chance(4) ? NULL : data_x;
    return p;
}

static void kernels(void) {
    ntk_mpi_matrix *A = NULL;
    int64_t d = 0;
    ntk_mlp_info(mlp_live, &d, NULL, NULL, NULL);
    ntk_mpi_points p1 = points(d, 1), p2 = points(d, 1);
    if (huge(p1.n) && p1.X) p1.X = chance(50) ? NULL : data_x;
    const ntk_mlp *net = chance(8) ? (const ntk_mlp *)foreign : mlp_live;
    int status;
    if (chance(50)) {
        ntk_infinite_width_options o;
        ntk_infinite_width_options_init(&o);
        ntk_kernel_kind kind = chance(90) ? (ntk_kernel_kind)pick(0, 1) : (ntk_kernel_kind)pick(-2, 5);
        status = checked(ntk_mpi_infinite_width_kernel(ANY(grids), net, kind, &p1, chance(50) ? NULL : &p2,
                                                       options(&o, sizeof o), chance(3) ? NULL : &A),
                         "infinite_width_kernel");
    } else {
        ntk_empirical_ntk_options o;
        ntk_empirical_ntk_options_init(&o);
        status = checked(ntk_mpi_empirical_ntk(ANY(grids), net, &p1, chance(50) ? NULL : &p2, options(&o, sizeof o),
                                               chance(3) ? NULL : &A),
                         "empirical_ntk");
    }
    if (status == NTK_OK) put_matrix(A);
}

static ntk_targets targets(int64_t n, int64_t *k_out) {
    ntk_targets t;
    t.k = chance(5) ? size(MAXK) : pick(1, MAXK);
    t.ldy = lead(t.k);
    t.ldf0 = lead(t.k);
    fill(data_y, BIG, 1);
    fill(data_c, BIG, 0);
    t.Y = chance(4) ? NULL : data_y;
    t.f0 = chance(50) ? NULL : data_c;
    (void)n;
    *k_out = t.k;
    return t;
}

static void ridge_calls(void) {
    int64_t k = 0;
    ntk_targets t = targets(MAXN, &k);
    ntk_kernel_ridge_options o;
    ntk_kernel_ridge_options_init(&o);
    ntk_mpi_kernel_ridge *model = NULL;
    double ridge = chance(5) ? -1 : (chance(3) ? NAN : value(0) + 1);
    if (checked(ntk_mpi_kernel_ridge_fit(ANY(matrices), chance(3) ? NULL : &t, ridge, options(&o, sizeof o),
                                         chance(3) ? NULL : &model),
                "kernel_ridge_fit") == NTK_OK) {
        int slot = (int)pick(0, POOL - 1);
        if (ridges[slot]) { ntk_mpi_kernel_ridge_free(ridges[slot]); remember_freed(ridges[slot]); }
        ridges[slot] = model;
    }
    ntk_mpi_kernel_ridge *m = ANY(ridges);
    int64_t n = 0, kk = 0;
    double z = 0;
    checked(ntk_mpi_kernel_ridge_info(m, &n, &kk, &z), "kernel_ridge_info");
    checked(ntk_mpi_kernel_ridge_results(m, chance(50) ? NULL : data_out, lead(kk), chance(50) ? NULL : data_out2,
                                         lead(kk)),
            "kernel_ridge_results");
    checked(ntk_mpi_kernel_ridge_predict(m, ANY(matrices), chance(50) ? NULL : data_c, lead(kk),
                                         chance(4) ? NULL : data_out, lead(kk)),
            "kernel_ridge_predict");
}

static void spectral_calls(void) {
    ntk_mpi_spectral *s = NULL;
    ntk_negative_eigenvalues policy = chance(90) ? (ntk_negative_eigenvalues)pick(0, 2)
                                                 : (ntk_negative_eigenvalues)pick(-3, 9);
    if (checked(ntk_mpi_spectral_create(ANY(matrices), policy, chance(3) ? NULL : &s), "spectral_create") == NTK_OK) {
        int slot = (int)pick(0, POOL - 1);
        if (spectra[slot]) { ntk_mpi_spectral_free(spectra[slot]); remember_freed(spectra[slot]); }
        spectra[slot] = s;
    }
    ntk_mpi_spectral *solver = ANY(spectra);
    checked(ntk_mpi_spectral_eigenvalues(solver, chance(4) ? NULL : data_out), "spectral_eigenvalues");
    int64_t k = 0;
    ntk_targets t = targets(MAXN, &k);
    double times[4] = {0, 1, INFINITY, chance(5) ? -1 : 10}, zs[4] = {0, 1e-3, chance(5) ? NAN : 0.1, 1};
    ntk_grid grid = {chance(5) ? size(4) : pick(0, 4), times, chance(50) ? NULL : zs, chance(5) ? -1 : 1.0};
    if (huge(grid.count)) grid.count = chance(50) ? -1 : 5;
    if (grid.count > 4) grid.count = 4;
    checked(ntk_mpi_spectral_predict(solver, chance(3) ? NULL : &t, chance(3) ? NULL : &grid,
                                     chance(50) ? NULL : ANY(matrices), chance(50) ? NULL : data_c, lead(k),
                                     chance(3) ? NULL : data_out, chance(3) ? NULL : data_out2),
            "spectral_predict");
    int64_t count = chance(5) ? size(4) : pick(1, 4), best = -1;
    if (count > 4) count = 4;
    ntk_ridge_criterion criterion = chance(90) ? (ntk_ridge_criterion)pick(0, 1) : (ntk_ridge_criterion)pick(-2, 6);
    checked(ntk_mpi_spectral_select_ridge(solver, chance(3) ? NULL : &t, count, chance(4) ? NULL : zs, criterion,
                                          chance(4) ? NULL : data_out, chance(4) ? NULL : &best),
            "spectral_select_ridge");
}

static void data_parallel_calls(void) {
    int64_t d = 0, k = 0;
    ntk_mlp_info(mlp_live, &d, NULL, NULL, NULL);
    int64_t n = chance(10) ? size(MAXN) : pick(1, MAXN);
    int64_t ldx = lead(d);
    fill(data_x, BIG, 1);
    const double *X = huge(n) ? (chance(50) ? NULL : data_x) : (chance(4) ? NULL : data_x);
    ntk_targets t = targets(n, &k);
    MPI_Comm comm = chance(5) ? MPI_COMM_NULL : MPI_COMM_WORLD;
    const ntk_mlp *net = chance(8) ? (const ntk_mlp *)foreign : mlp_live;
    double ridge = chance(5) ? -1 : (chance(3) ? NAN : 1e-2 + fabs(value(0)));
    if (chance(50)) {
        ntk_nystrom_options o;
        ntk_nystrom_options_init(&o);
        ntk_nystrom *model = NULL;
        int64_t c = chance(10) ? size(MAXN) : pick(1, 8), ldc = lead(d);
        fill(data_c, BIG, 1);
        int status = checked(ntk_mpi_nystrom_fit(comm, net, n, X, ldx, chance(3) ? NULL : &t, ridge, c,
                                                 chance(50) ? NULL : data_c, ldc, options(&o, sizeof o),
                                                 chance(3) ? NULL : &model),
                             "nystrom_fit");
        if (status == NTK_OK && model == NULL) finding("nystrom_fit succeeded without a model", status);
        ntk_nystrom_free(model);
    } else if (chance(50)) {
        ntk_empirical_solver_options o;
        ntk_empirical_solver_options_init(&o);
        o.max_iter = pick(1, 30);
        o.learning_rate = chance(10) ? value(1) : 1;
        double times[4] = {0, 0.5, chance(5) ? INFINITY : 3, chance(5) ? -1 : 20};
        int64_t count = chance(10) ? size(4) : pick(0, 4);
        if (count > 4) count = 4;
        fill(data_c, BIG, 1);
        ntk_points test = {chance(10) ? size(MAXN) : pick(0, MAXN), chance(10) ? NULL : data_c, lead(d), NULL, 0};
        if (huge(test.m) && chance(50)) test.m = MAXN;
        double estimate = -1;
        int status = checked(ntk_mpi_empirical_gradient_flow(comm, net, n, X, ldx, chance(3) ? NULL : &t, count,
                                                             chance(10) ? NULL : times, chance(3) ? NULL : &test,
                                                             options(&o, sizeof o), chance(4) ? NULL : data_out,
                                                             chance(3) ? NULL : data_out2,
                                                             chance(3) ? NULL : &estimate),
                             "empirical_gradient_flow");
        if (status == NTK_OK && !(estimate == -1 || estimate >= 0)) finding("empirical_gradient_flow's estimate",
                                                                            status);
    } else {
        ntk_empirical_solver_options o;
        ntk_empirical_solver_options_init(&o);
        o.max_iter = pick(1, 30);
        o.preconditioner_rank = chance(50) ? 0 : (chance(10) ? size(8) : pick(1, 8));
        ntk_empirical_ridge *model = NULL;
        int status = checked(ntk_mpi_empirical_ridge_fit(comm, net, n, X, ldx, chance(3) ? NULL : &t, ridge,
                                                         options(&o, sizeof o), chance(3) ? NULL : &model),
                             "empirical_ridge_fit");
        if (status == NTK_OK && model == NULL) finding("empirical_ridge_fit succeeded without a model", status);
        ntk_empirical_ridge_free(model);
    }
}

static void matrix_calls(void) {
    ntk_mpi_matrix *A = ANY(matrices);
    int64_t rows = 0, cols = 0, lr = 0, lc = 0, lld = 0;
    double *local = NULL;
    int desc[9];
    checked(ntk_mpi_matrix_size(A, chance(20) ? NULL : &rows, chance(20) ? NULL : &cols), "matrix_size");
    checked(ntk_mpi_matrix_local(A, chance(20) ? NULL : &local, &lr, &lc, &lld), "matrix_local");
    checked(ntk_mpi_matrix_indices(A, chance(20) ? NULL : index_buffer, chance(20) ? NULL : index_buffer + BIG / 2),
            "matrix_indices");
    checked(ntk_mpi_matrix_descriptor(A, chance(10) ? NULL : desc), "matrix_descriptor");
    int64_t ld = chance(5) ? cols - 1 : (cols > 0 ? cols : 1);
    if (rows * (ld > 0 ? ld : 1) < BIG) {
        checked(ntk_mpi_matrix_gather(A, chance(5) ? NULL : data_out, ld), "matrix_gather");
    }
    int rank = 0, sz = 0, pr = 0, pc = 0, mr = 0, mc = 0;
    int64_t nb = 0;
    checked(ntk_mpi_grid_info(ANY(grids), &rank, &sz, &pr, &pc, &mr, &mc, &nb), "grid_info");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int size_world = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size_world);
    if (argc < 2 || size_world != 1) {
        fprintf(stderr, "usage: mpirun -np 1 fuzz_mpi SECONDS [SEED]\n");
        MPI_Finalize();
        return 2;
    }
    double seconds = atof(argv[1]);
    state = argc > 2 ? strtoull(argv[2], NULL, 10) : (unsigned long long)time(NULL);
    printf("fuzz_mpi: seed %llu, %.0f s\n", state, seconds);
    fflush(stdout);
    const int64_t widths[2] = {8, 8};
    if (ntk_mlp_create(3, 2, widths, 2, NTK_ACTIVATION_RELU, NULL, &mlp_live) != NTK_OK) {
        fprintf(stderr, "ntk_mlp_create: %s\n", ntk_last_error());
        return 1;
    }
    for (int i = 0; i < POOL; i++) make_grid();
    double start = MPI_Wtime();
    while (MPI_Wtime() - start < seconds && findings == 0) {
        switch (pick(0, 7)) {
        case 0: make_grid(); break;
        case 1: make_matrix(); break;
        case 2: kernels(); break;
        case 3: ridge_calls(); break;
        case 4: spectral_calls(); break;
        case 5: data_parallel_calls(); break;
        default: matrix_calls(); break;
        }
    }
    for (int i = 0; i < POOL; i++) {
        ntk_mpi_spectral_free(spectra[i]);
        ntk_mpi_kernel_ridge_free(ridges[i]);
        ntk_mpi_matrix_free(matrices[i]);
        ntk_mpi_grid_free(grids[i]);
    }
    ntk_mlp_free(mlp_live);
    if (ntk_live_handle_count() != 0) finding("libntk handles left live", (int)ntk_live_handle_count());
    printf("fuzz_mpi: %ld calls, %ld failures, %ld findings\n", calls, failures, findings);
    MPI_Finalize();
    return findings == 0 ? 0 : 1;
}
