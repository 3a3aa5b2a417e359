/* A structured random driver for the libntk C API ("fuzzer").
 *
 *   fuzz_api SECONDS [SEED]
 *
 * Calls the API in random order with random sizes (small, zero, negative, and beyond what
 * 32/64-bit arithmetic or BLAS can take), random leading dimensions (valid and invalid), NULL
 * pointers, NaN/Inf values, random enum values, options structs with random contents and
 * sizes (0, older/smaller, newer/larger with zero or non-zero unknown bytes), and handles that
 * are live, freed, of another type, or foreign pointers. Buffers are always as large as the sizes the library
 * may accept (a library cannot check the extent of a caller's buffer), so any crash, any status
 * outside the documented set, a failure without a message, or a success with non-finite output
 * from finite input is a bug. Prints "fuzz: N calls ..." and exits non-zero on a finding. */
#include "ntk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_random.h"
static double value(void) {
    if (chance(3)) return chance(50) ? NAN : (chance(50) ? INFINITY : -INFINITY);
    double u = (double)(next_u64() >> 11) / 9007199254740992.0 * 2 - 1;
    if (chance(5)) return u * 1e150;
    if (chance(5)) return u * 1e-150;
    return u;
}

static long calls = 0, failures = 0, findings = 0;

static void finding(const char *what, int status) {
    findings++;
    fprintf(stderr, "FINDING after %ld calls: %s (status %d, message '%s')\n", calls, what, status, ntk_last_error());
}

static void checked(int status, const char *call) {
    calls++;
    if (status == 0) return;
    failures++;
    if (status < -11 || status > 0) finding(call, status); /* -11: a callback failed (the fuzzed models fail on purpose) */
    if (ntk_last_error()[0] == '\0') finding("failure without a message", status);
}

/* Stand-in buffer for sizes the library must reject before reading anything. */
static double tiny[16];

/* A buffer for rows x cols with leading dimension ld; NULL sometimes. Sized for ld (>= cols). */
static double *matrix(int64_t rows, int64_t cols, int64_t *ld, int allow_nan) {
    if (huge(rows) || huge(cols)) {
        *ld = huge(cols) ? 1 : cols;
        return chance(20) ? NULL : tiny;  /* must be rejected before it is read */
    }
    *ld = cols + (chance(30) ? pick(0, 3) : 0);
    if (cols > 0 && chance(4)) *ld = cols - 1;  /* invalid */
    if (cols == 0 && chance(50)) *ld = 0;       /* invalid: ld >= 1 */
    if (chance(3)) return NULL;
    int64_t stride = *ld > cols ? *ld : cols;
    size_t count = (size_t)((rows > 0 ? rows : 1) * (stride > 0 ? stride : 1)) + 1;
    double *m = malloc(sizeof(double) * count);
    for (size_t i = 0; i < count; i++) m[i] = allow_nan ? value() : (double)(next_u64() >> 11) / 9007199254740992.0 - 0.5;
    return m;
}
static void release(double *m) {
    if (m != tiny) free(m);
}
/* A float copy of a matrix from `matrix` with the same shape and ld (NaN and Inf stay; NULL stays
 * NULL; the stand-in for huge sizes becomes a float one). */
static float tiny_f[16];
static float *as_floats(const double *m, int64_t rows, int64_t cols, int64_t ld) {
    if (m == NULL || m == tiny) return m ? tiny_f : NULL;
    int64_t stride = ld > cols ? ld : cols;
    size_t count = (size_t)((rows > 0 ? rows : 1) * (stride > 0 ? stride : 1)) + 1;
    float *f = malloc(sizeof(float) * count);
    for (size_t i = 0; i < count; i++) f[i] = (float)m[i];
    return f;
}
static void release_floats(float *f) {
    if (f != tiny_f) free(f);
}

/* Symmetric positive definite-ish n x n (contiguous), or garbage sometimes. */
static double *kernel(int64_t n) {
    if (huge(n) || n <= 0) return NULL;
    double *k = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            double v = i == j ? 1 + fabs(value()) : 0.3 * value();
            if (!isfinite(v)) v = chance(50) ? v : 0.1;
            k[i * n + j] = k[j * n + i] = v;
        }
    if (chance(5)) k[0] = -5;                  /* indefinite */
    if (chance(3) && n > 1) k[1] += 1;         /* not symmetric */
    return k;
}

enum { POOL = 8 };
static void *live[4][POOL];
static void *freed[32];
static int nfreed = 0;
static double foreign[4];

static void *any_handle(int type) {
    int r = (int)pick(0, 9);
    if (r == 0) return NULL;
    if (r == 1) return foreign;
    if (r == 2 && nfreed > 0) return freed[pick(0, nfreed - 1)];
    if (r == 3) return live[pick(0, 3)][pick(0, POOL - 1)]; /* maybe another type */
    return live[type][pick(0, POOL - 1)];
}
static void remember_freed(void *h) {
    if (h) freed[nfreed < 32 ? nfreed++ : (int)pick(0, 31)] = h;
}
/* A data partition of one part (the sum over parts is the part itself), failing sometimes. */
static int reduce_one_part(double *values, int64_t count, void *user) {
    (void)values, (void)count, (void)user;
    return chance(3);
}

static int cancel_sometimes(void *user, double fraction) {
    (void)user;
    (void)fraction;
    return chance(10);
}

/* An options struct as a caller might pass it: `init` (size bytes, a filled struct) copied into
 * a buffer with room to spare, then NULL (10%), its own size (70%), size 0 or too small (5%),
 * an older prefix (5%), or a newer, larger size whose unknown bytes are zero or not (10%). */
static union {
    unsigned char bytes[1024];
    double aligned_d;
    int64_t aligned_i;
    void *aligned_p;
} option_storage;
static unsigned char *const option_buffer = option_storage.bytes;
static const void *options(const void *init, size_t size) {
    if (chance(10)) return NULL;
    memset(option_buffer, chance(50) ? 0 : 0xA5, sizeof option_storage.bytes);
    memcpy(option_buffer, init, size);
    size_t given = size;
    int r = (int)pick(0, 29);
    if (r == 0) given = (size_t)pick(0, (int64_t)sizeof(size_t) - 1);
    if (r == 1) given = sizeof(size_t) + 8 * (size_t)pick(0, (int64_t)(size / 8));
    if (r == 2 || r == 3) {
        given = size + (size_t)pick(1, 64);
        if (chance(50)) memset(option_buffer + size, 0, given - size);
    }
    if (given > sizeof option_storage.bytes) given = sizeof option_storage.bytes;
    memcpy(option_buffer, &given, sizeof given);
    return option_buffer;
}


/* A fuzzed model: f(x) = W x on the rows of fuzz_x (fuzz_rows x fuzz_d), W (k x d) random; its
 * callbacks check every index, fail sometimes and write NaN sometimes. */
static double fuzz_x[64 * 8], fuzz_w[4 * 8];
static int64_t fuzz_rows = 0, fuzz_d = 1, fuzz_k = 1;
static int fuzz_row_ok(int64_t count, const int64_t *rows) {
    for (int64_t i = 0; i < count; i++)
        if (rows[i] < 0 || rows[i] >= fuzz_rows) return 0;
    return 1;
}
/* J(x) for output c and parameter (c', q): delta_cc' x_q; P = k d. */
static int fuzz_jvp(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *v, double *out) {
    (void)user;
    if (!fuzz_row_ok(count, rows) || chance(2)) return 5;
    for (int64_t j = 0; j < nvec; j++)
        for (int64_t i = 0; i < count; i++)
            for (int64_t c = 0; c < fuzz_k; c++) {
                double s = 0;
                for (int64_t q = 0; q < fuzz_d; q++) s += fuzz_x[rows[i] * fuzz_d + q] * v[j * fuzz_k * fuzz_d + c * fuzz_d + q];
                out[(j * count + i) * fuzz_k + c] = chance(1) ? NAN : s;
            }
    return 0;
}
static int fuzz_vjp(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *u, double *out) {
    (void)user;
    if (!fuzz_row_ok(count, rows) || chance(2)) return 6;
    for (int64_t j = 0; j < nvec; j++)
        for (int64_t c = 0; c < fuzz_k; c++)
            for (int64_t q = 0; q < fuzz_d; q++) {
                double s = 0;
                for (int64_t i = 0; i < count; i++) s += fuzz_x[rows[i] * fuzz_d + q] * u[(j * count + i) * fuzz_k + c];
                out[j * fuzz_k * fuzz_d + c * fuzz_d + q] = s;
            }
    return 0;
}
static int fuzz_forward(void *user, int64_t count, const int64_t *rows, double *out) {
    (void)user;
    if (!fuzz_row_ok(count, rows)) return 7;
    for (int64_t i = 0; i < count; i++)
        for (int64_t c = 0; c < fuzz_k; c++) {
            double s = 0;
            for (int64_t q = 0; q < fuzz_d; q++) s += fuzz_w[c * fuzz_d + q] * fuzz_x[rows[i] * fuzz_d + q];
            out[i * fuzz_k + c] = s;
        }
    return 0;
}
static int fuzz_jacobian(void *user, int64_t count, const int64_t *rows, double *out) {
    (void)user;
    if (!fuzz_row_ok(count, rows) || chance(2)) return 8;
    int64_t p = fuzz_k * fuzz_d;
    for (int64_t i = 0; i < count; i++)
        for (int64_t c = 0; c < fuzz_k; c++)
            for (int64_t r = 0; r < p; r++)
                out[(i * fuzz_k + c) * p + r] = r / fuzz_d == c ? fuzz_x[rows[i] * fuzz_d + r % fuzz_d] : 0;
    return 0;
}
/* n row indices, mostly valid, sometimes negative or beyond the data. */
static int64_t *fuzz_indices(int64_t n) {
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) rows[i] = chance(97) ? pick(0, fuzz_rows > 0 ? fuzz_rows - 1 : 0) : pick(-3, 100);
    return rows;
}

/* Random layer descriptions: any kind (also unknown ones), sizes and windows mostly small and
 * sometimes zero, negative or huge, residual markers anywhere. */
/* A network's training and solvers on its rows x (n x d, leading dimension ldx) with random
 * targets and options; `big` holds at least n k P doubles, `out` at least 2 n doubles. */
static void fuzz_network_solvers(ntk_network *net, int64_t n, const double *x, int64_t ldx, int64_t k, int64_t p,
                                 double *big, double *out) {
    int64_t ly = 1;
    double *y = matrix(n, k, &ly, 1), losses[4], value_out = 0;
    checked(ntk_network_loss_gradient(net, n, x, ldx, y, ly, (ntk_loss)pick(0, 2), &value_out, chance(80) ? big : NULL),
            "ntk_network_loss_gradient");
    ntk_train_options o = NTK_TRAIN_OPTIONS_INIT;
    o.loss = (ntk_loss)pick(0, 2);
    o.learning_rate = value();
    o.batch_size = pick(-1, 4);
    o.momentum = fabs(value()) * 0.5;
    int64_t snaps[2] = {0, pick(-1, 4)}, run = 0;
    if (chance(30)) {
        o.num_snapshots = pick(0, 2);
        o.snapshot_epochs = snaps;
        o.m = n;
        o.X_probe = x;
        o.ldprobe = ldx;
    }
    checked(ntk_network_train(net, n, x, ldx, y, ly, pick(0, 3), options(&o, sizeof o), chance(90) ? losses : NULL,
                              &run, NULL),
            "ntk_network_train");
    checked(ntk_network_empirical_ntk_diagonal(net, n, x, ldx, (ntk_output_form)pick(0, 3), out, chance(95) ? k : 0),
            "ntk_network_empirical_ntk_diagonal");
    const ntk_targets targets = {k, y, ly, NULL, 0};
    if (k == 1 && p > 0) {
        ntk_empirical_solver_options so = NTK_EMPIRICAL_SOLVER_OPTIONS_INIT;
        so.max_iter = chance(90) ? 5 : pick(-2, 3);
        so.preconditioner_rank = chance(90) ? pick(0, 4) : pick(-3, 100000);
        ntk_empirical_ridge *ridge = NULL;
        checked(ntk_network_ridge_fit(net, n, x, ldx, &targets, chance(80) ? fabs(value()) : value(),
                                      options(&so, sizeof so), &ridge),
                "ntk_network_ridge_fit");
        ntk_empirical_ridge_free(ridge);
        double times[2] = {0.5, value()};
        checked(ntk_network_gradient_flow(net, n, x, ldx, &targets, pick(0, 2), times, NULL, options(&so, sizeof so),
                                          out, NULL, NULL),
                "ntk_network_gradient_flow");
    }
    ntk_nystrom *nystrom = NULL;
    checked(ntk_network_nystrom_fit(net, n, x, ldx, &targets, fabs(value()), pick(-1, n + 1), NULL, &nystrom),
            "ntk_network_nystrom_fit");
    ntk_nystrom_free(nystrom);
    release(y);
}

static void fuzz_layers(ntk_layer *layers, int count, int64_t spatial) {
    for (int i = 0; i < count; i++) {
        ntk_layer *l = &layers[i];
        int kind = chance(2) ? (int)pick(-1, 12) : (chance(90) ? (int)pick(0, 6) : (int)pick(7, 8));
        if (ntk_layer_init(l, (ntk_layer_kind)kind) != 0) ntk_layer_init(l, NTK_LAYER_DENSE), l->kind = (ntk_layer_kind)kind;
        l->width = chance(95) ? pick(1, 4) : size(4);
        l->rank = chance(90) ? spatial : pick(-2, 5);
        for (int a = 0; a < 3; a++) {
            l->window[a] = chance(90) ? pick(1, 3) : size(9);
            l->strides[a] = chance(80) ? 1 : size(3);
        }
        l->padding = (ntk_padding)(chance(95) ? pick(0, 2) : pick(-1, 9));
        l->activation = (ntk_activation)(chance(95) ? pick(0, 9) : pick(-1, 20));
        if (chance(20)) l->w_std = value();
        if (chance(20)) l->b_std = value();
        if (chance(10)) l->epsilon = value();
        if (chance(2)) l->size = (size_t)pick(0, 200);
    }
    if (count >= 2 && chance(60)) { /* mostly networks that end flat, so that many compose */
        ntk_layer_init(&layers[count - 2], chance(50) ? NTK_LAYER_FLATTEN : NTK_LAYER_GLOBAL_AVG_POOL);
        ntk_layer_init(&layers[count - 1], NTK_LAYER_DENSE);
    }
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    state = argc > 2 ? strtoull(argv[2], NULL, 10) : (unsigned long long)time(NULL);
    printf("fuzz: %.0f s, seed %llu\n", seconds, state);
    ntk_blas_set_num_threads(1);
    clock_t start = clock();
    time_t wall = time(NULL);
    while (difftime(time(NULL), wall) < seconds) {
        int op = (int)pick(0, 20);
        int64_t n = size(9), m = size(7), d = size(6), k = size(3);
        int64_t l1, l2, l3;
        switch (op) {
        case 0: { /* gram */
            double *a = matrix(n, d, &l1, 1), *b = chance(50) ? NULL : matrix(m, d, &l2, 1);
            int64_t rows = b ? m : n;
            double *g = matrix(n, rows, &l3, 0);
            checked(ntk_gram(n, b ? m : (chance(90) ? n : m), d, value(), a, l1, b, l2, g, l3,
                             chance(20) ? cancel_sometimes : NULL, NULL), "ntk_gram");
            release(a), release(b), release(g);
            break;
        }
        case 1: { /* cholesky solve */
            double *kk = kernel(n), *y = matrix(n, k, &l1, 1), *x = matrix(n, k, &l2, 0);
            checked(ntk_cholesky_solve(n, k, kk, n, chance(50) ? 0 : value(), y, l1, x, l2, NULL, NULL), "ntk_cholesky_solve");
            free(kk), release(y), release(x);
            break;
        }
        case 2: { /* handles: create */
            int type = (int)pick(0, 3), slot = (int)pick(0, POOL - 1);
            double *kk = kernel(n);
            void *h = NULL;
            int status = 0;
            if (type == 0) status = ntk_cholesky_factor_create(n, kk, n, fabs(value()), NULL, NULL, (ntk_cholesky_factor **)&h);
            if (type == 1) {
                double *y = matrix(n, k, &l1, 1);
                ntk_kernel_ridge_options o = NTK_KERNEL_RIDGE_OPTIONS_INIT;
                o.ridge_scale = (ntk_ridge_scale)pick(0, 2);
                o.max_jitter = chance(50) ? 1e-6 : (chance(90) ? 0 : value());
                const ntk_targets t = {k, y, l1, NULL, 0};
                status = ntk_kernel_ridge_fit(n, kk, n, chance(97) ? &t : NULL, fabs(value()), options(&o, sizeof o),
                                              (ntk_kernel_ridge **)&h);
                release(y);
            }
            if (type == 2)
                status = ntk_spectral_create(n, kk, n, (ntk_negative_eigenvalues)pick(0, 2), NULL, NULL, (ntk_spectral **)&h);
            if (type == 3) {
                int64_t widths[3] = {size(8), size(8), size(8)};
                ntk_mlp_options o = NTK_MLP_OPTIONS_INIT;
                o.activation_parameter = value();
                o.w_std = value();
                o.b_std = value();
                o.bias = (int)pick(0, 2);
                o.parameterization = (ntk_parameterization)pick(0, 2);
                o.seed = next_u64();
                status = ntk_mlp_create(size(5), pick(0, 3), chance(95) ? widths : NULL, size(3), (ntk_activation)pick(0, 10),
                                        options(&o, sizeof o), (ntk_mlp **)&h);
            }
            checked(status, "create");
            if (status == 0 && h == NULL) finding("success without a handle", 0);
            if (status != 0 && h != NULL) finding("failure with a handle", status);
            if (status == 0) {
                void *old = live[type][slot];
                if (type == 0) ntk_cholesky_factor_free(old);
                if (type == 1) ntk_kernel_ridge_free(old);
                if (type == 2) ntk_spectral_free(old);
                if (type == 3) ntk_mlp_free(old);
                remember_freed(old);
                live[type][slot] = h;
            }
            free(kk);
            break;
        }
        case 3: { /* cholesky factor solve */
            double *y = matrix(n, k, &l1, 1), *x = matrix(n, k, &l2, 0);
            int64_t order = -1;
            void *h = any_handle(0);
            if (ntk_cholesky_factor_order(h, &order) == 0 && order != n) { /* keep sizes consistent */
                release(y), release(x);
                n = order;
                y = matrix(n, k, &l1, 1), x = matrix(n, k, &l2, 0);
            }
            checked(ntk_cholesky_factor_solve(h, k, y, l1, x, l2), "ntk_cholesky_factor_solve");
            release(y), release(x);
            break;
        }
        case 4: { /* eigh */
            double *kk = kernel(n), *w = huge(n) || n <= 0 ? NULL : malloc(sizeof(double) * (size_t)n);
            double *v = chance(50) ? NULL : matrix(n, n, &l1, 0);
            checked(ntk_eigh(n, kk, n, w, v, v ? l1 : 0, NULL, NULL), "ntk_eigh");
            free(kk), free(w), release(v);
            break;
        }
        case 5: { /* kernel ridge predict */
            void *h = any_handle(1);
            int64_t hn = 0, hk = 0;
            if (ntk_kernel_ridge_info(h, &hn, &hk, NULL, NULL) == 0) n = hn, k = hk;
            double *kt = matrix(m, n, &l1, 1), *p = matrix(m, k, &l2, 0);
            const ntk_test_kernel test = {m, kt, l1, NULL, 0};
            checked(ntk_kernel_ridge_predict(h, chance(97) ? &test : NULL, p, l2), "ntk_kernel_ridge_predict");
            release(kt), release(p);
            break;
        }
        case 6: { /* spectral predict / filters / select */
            void *h = any_handle(2);
            int64_t hn = 0;
            if (ntk_spectral_info(h, &hn, NULL, NULL, NULL, NULL) == 0) n = hn;
            int64_t count = size(4);
            if (huge(count) || huge(n) || huge(k) || huge(m)) {
                const ntk_targets t = {k, NULL, 1, NULL, 0};
                const ntk_test_kernel test = {m, NULL, 1, NULL, 0};
                const ntk_grid g = {count, NULL, NULL, 1.0};
                checked(ntk_spectral_predict(h, &t, &g, chance(50) ? &test : NULL, NULL, NULL), "predict");
                break;
            }
            double *y = matrix(n, k, &l1, 1), *kt = chance(50) ? NULL : matrix(m, n, &l2, 1);
            double times[8], ridges[8];
            for (int i = 0; i < 8; i++) times[i] = chance(20) ? INFINITY : fabs(value()) * (chance(5) ? -1 : 1), ridges[i] = fabs(value());
            double *train = malloc(sizeof(double) * (size_t)((count > 0 ? count : 1) * (n > 0 ? n : 1) * (k > 0 ? k : 1)));
            double *test = malloc(sizeof(double) * (size_t)((count > 0 ? count : 1) * (m > 0 ? m : 1) * (k > 0 ? k : 1)));
            if (count > 8) count = 8;
            const ntk_targets t = {k, y, l1, NULL, 0};
            const ntk_test_kernel tk = {m, kt, l2, NULL, 0};
            const ntk_grid g = {count, chance(80) ? times : NULL, chance(50) ? ridges : NULL,
                                chance(90) ? fabs(value()) : -1};
            checked(ntk_spectral_predict(h, &t, chance(97) ? &g : NULL, kt ? &tk : NULL, train, kt ? test : NULL),
                    "ntk_spectral_predict");
            double *coef = malloc(sizeof(double) * (size_t)((n > 0 ? n : 1) * (k > 0 ? k : 1)));
            double point_t = chance(20) ? INFINITY : value(), point_z = fabs(value());
            const ntk_grid one = {chance(95) ? 1 : 0, &point_t, &point_z, g.learning_rate};
            checked(ntk_spectral_dual_coefficients(h, chance(97) ? &t : NULL, &one, chance(95) ? coef : NULL),
                    "ntk_spectral_dual_coefficients");
            free(coef);
            double scores[8];
            int64_t best;
            checked(ntk_spectral_select_ridge(h, &t, count, ridges, (ntk_ridge_criterion)pick(0, 2), scores, &best), "select");
            release(y), release(kt), free(train), free(test);
            break;
        }
        case 7: { /* mlp forward / jacobian / kernels */
            void *h = any_handle(3);
            int64_t din = 0, dout = 0, p = 0;
            if (ntk_mlp_info(h, &din, &dout, NULL, &p) == 0) d = din, k = dout;
            if (huge(n) || huge(d) || huge(k) || n * k * (p > 0 ? p : 1) > 2000000) {
                checked(ntk_mlp_forward(h, n, NULL, 1, NULL, 1), "ntk_mlp_forward");
                break;
            }
            double *x = matrix(n, d, &l1, 1), *f = matrix(n, k, &l2, 0);
            checked(ntk_mlp_forward(h, n, x, l1, f, l2), "ntk_mlp_forward");
            /* Room for the largest output: the full kernel (n n k k), the Jacobian (n k P), or both
             * infinite-width kernels (2 n n). */
            double *out = malloc(sizeof(double) * (size_t)((n > 0 ? n : 1) * (n > 0 ? n : 1) * (k * k > 2 ? k * k : 2) + n * k * (p > 0 ? p : 1)));
            ntk_output_form form = (ntk_output_form)pick(0, 3);
            int64_t e = form == NTK_OUTPUT_MEAN ? 1 : (form == NTK_OUTPUT_PER_OUTPUT ? k : k * k);
            int64_t ldk = n * e > 0 ? n * e : 1; /* the buffer holds n rows of n * k * k */
            ntk_empirical_ntk_options o = NTK_EMPIRICAL_NTK_OPTIONS_INIT;
            o.method = (ntk_kernel_method)pick(0, 2);
            o.memory_limit = chance(20) ? pick(-1, 100000) : 0;
            o.progress = chance(10) ? cancel_sometimes : NULL;
            checked(ntk_empirical_ntk(h, n, x, l1, n, NULL, 0, form, options(&o, sizeof o), out, chance(95) ? ldk : ldk - 1),
                    "ntk_empirical_ntk");
            /* The same in single precision: x rounded to floats (NaN and Inf stay), out as floats. */
            float *xf = as_floats(x, n, d, l1);
            checked(ntk_empirical_ntk_f32(h, n, xf, l1, n, NULL, 0, form, options(&o, sizeof o), (float *)out,
                                          chance(95) ? ldk : ldk - 1),
                    "ntk_empirical_ntk_f32");
            checked(ntk_mlp_jacobian_f32(h, n, xf, l1, (float *)out), "ntk_mlp_jacobian_f32");
            checked(ntk_empirical_ntk_diagonal(h, n, x, l1, form, out, chance(95) ? (e > 0 ? e : 1) : 0), "diagonal");
            checked(ntk_mlp_jacobian(h, n, x, l1, out), "ntk_mlp_jacobian");
            ntk_infinite_width_options q = NTK_INFINITE_WIDTH_OPTIONS_INIT;
            q.quadrature_points = (int)pick(-1, 40);
            checked(ntk_infinite_width_kernels(h, n, x, l1, n, NULL, 0, options(&q, sizeof q), out, n > 0 ? n : 1,
                                               chance(50) ? out + n * n : NULL, n > 0 ? n : 1),
                    "infinite width");
            checked(ntk_infinite_width_kernels_f32(h, n, xf, l1, n, NULL, 0, options(&q, sizeof q), (float *)out,
                                                   n > 0 ? n : 1, chance(50) ? (float *)out + n * n : NULL,
                                                   n > 0 ? n : 1),
                    "infinite width in single precision");
            release_floats(xf);
            release(x), release(f), free(out);
            break;
        }
        case 8: { /* training */
            void *h = any_handle(3);
            int64_t din = 0, dout = 0;
            if (ntk_mlp_info(h, &din, &dout, NULL, NULL) == 0) d = din, k = dout;
            if (huge(n) || huge(d) || huge(k)) break;
            double *x = matrix(n, d, &l1, 1), *y = matrix(n, k, &l2, 1), losses[6];
            int64_t epochs = pick(0, 5), run = 0;
            ntk_train_options o = NTK_TRAIN_OPTIONS_INIT;
            o.loss = (ntk_loss)pick(0, 2);
            o.learning_rate = value();
            o.batch_size = pick(-1, 4);
            o.momentum = fabs(value()) * 0.5;
            o.seed = next_u64();
            int64_t snaps[3] = {0, pick(-1, 6), 5};
            if (chance(30)) {
                o.num_snapshots = pick(0, 3);
                o.snapshot_epochs = chance(95) ? snaps : NULL;
                o.m = n;
                o.X_probe = x;
                o.ldprobe = l1;
            }
            checked(ntk_mlp_train(h, n, x, l1, y, l2, epochs, options(&o, sizeof o), chance(90) ? losses : NULL, &run, NULL),
                    "ntk_mlp_train");
            release(x), release(y);
            break;
        }
        case 9: { /* free random handles, including freed and foreign ones */
            int type = (int)pick(0, 3);
            void *h = any_handle(type);
            int owned = 0;
            for (int t = 0; t < 4; t++)
                for (int s = 0; s < POOL; s++)
                    if (live[t][s] == h && h) live[t][s] = NULL, owned = 1;
            if (type == 0) ntk_cholesky_factor_free(h);
            if (type == 1) ntk_kernel_ridge_free(h);
            if (type == 2) ntk_spectral_free(h);
            if (type == 3) ntk_mlp_free(h);
            if (owned) remember_freed(h);
            calls++;
            break;
        }
        case 10: { /* features ridge */
            double *s = matrix(n, d, &l1, 1), *y = matrix(n, k, &l2, 1);
            double *w = huge(d) || huge(k) ? NULL : malloc(sizeof(double) * (size_t)((d > 0 ? d : 1) * (k > 0 ? k : 1)));
            ntk_features_ridge_options o = NTK_FEATURES_RIDGE_OPTIONS_INIT;
            o.form = (ntk_features_form)pick(0, 3);
            checked(ntk_features_ridge(n, d, k, s, l1, y, l2, fabs(value()), options(&o, sizeof o), w, k > 0 ? k : 1),
                    "ntk_features_ridge");
            release(s), release(y), free(w);
            break;
        }
        case 11: { /* ode */
            if (huge(n) || huge(k) || n <= 0 || k <= 0) {
                const ntk_targets t = {k, NULL, 1, NULL, 0};
                checked(ntk_gradient_flow_ode(n, NULL, 1, &t, NULL, 1, NULL, NTK_LOSS_MSE, NULL, NULL, NULL), "ode");
                break;
            }
            double *kk = kernel(n), *y = matrix(n, k, &l1, 1), t[2] = {fabs(value()), chance(10) ? INFINITY : 0.5};
            double *out = malloc(sizeof(double) * (size_t)(2 * n * k));
            const ntk_targets targets = {k, y, l1, NULL, 0};
            ntk_ode_options o = NTK_ODE_OPTIONS_INIT;
            o.learning_rate = 0.5;
            o.rtol = chance(95) ? 1e-8 : value();
            o.atol = 1e-10;
            checked(ntk_gradient_flow_ode(n, kk, n, &targets, NULL, 2, t, (ntk_loss)pick(0, 2), options(&o, sizeof o), out, NULL),
                    "ode");
            free(kk), release(y), free(out);
            break;
        }
        case 12: { /* small utilities */
            double a[9], b[9], out;
            for (int i = 0; i < 9; i++) a[i] = value(), b[i] = value();
            checked(ntk_kernel_distance(pick(-1, 9), chance(5) ? NULL : a, b, &out), "distance");
            checked(ntk_kernel_alignment(pick(-1, 3), pick(-1, 3), a, 3, b, 3, &out), "alignment");
            checked(ntk_max_learning_rate(pick(-1, 3), a, 3, pick(-1, 5), &out, NULL, NULL, NULL), "max lr");
            calls++;
            (void)ntk_status_string((int)pick(-20, 5));
            break;
        }
        case 13: { /* ensemble over initialisations, GP posterior */
            if (huge(n) || huge(m) || huge(k) || n <= 0 || k <= 0 || m < 0) {
                const ntk_targets t = {k, NULL, 1, NULL, 0};
                checked(ntk_ensemble_gradient_flow(n, NULL, 1, NULL, 1, &t, NULL, 1, NULL, NULL, NULL, NULL), "ensemble");
                checked(ntk_gp_posterior(n, NULL, 1, &t, NULL, NULL, 1, NULL, NULL, NULL, NULL), "gp");
                break;
            }
            double *nngp = kernel(n), *ntk = kernel(n), *y = matrix(n, k, &l1, 1);
            double *kt = matrix(m, n, &l2, 1), *tt = kernel(m), *tt2 = matrix(m, n, &l3, 1);
            double t[3] = {fabs(value()), chance(20) ? INFINITY : 0.5, chance(5) ? -1 : 2};
            double *mean = malloc(sizeof(double) * (size_t)(3 * (n > m ? n : m) * k));
            double *cov = malloc(sizeof(double) * (size_t)(3 * (n > m ? n * n : (m > 0 ? m * m : 1))));
            const ntk_targets targets = {k, y, l1, NULL, 0};
            const ntk_ensemble_test test = {m, kt, l2, tt2, l3, tt, m > 0 ? m : 1};
            ntk_ensemble_options o = NTK_ENSEMBLE_OPTIONS_INIT;
            o.regime = (ntk_ensemble_regime)pick(0, 3);
            o.ridge = chance(80) ? fabs(value()) : value();
            o.learning_rate = chance(90) ? 0.7 : value();
            o.covariance = (ntk_covariance_form)pick(0, 2); /* 2: invalid; DIAGONAL reads tt as m x 1 */
            checked(ntk_ensemble_gradient_flow(n, nngp, n, chance(90) ? ntk : NULL, n, &targets, chance(50) && m > 0 ? &test : NULL,
                                               3, t, options(&o, sizeof o), chance(90) ? mean : NULL, cov),
                    "ntk_ensemble_gradient_flow");
            if (m > 0) {
                ntk_gp_options g = NTK_GP_OPTIONS_INIT;
                g.ridge = chance(80) ? fabs(value()) : value();
                const ntk_test_kernel tk = {m, kt, l2, NULL, 0};
                double lml;
                checked(ntk_gp_posterior(n, nngp, n, &targets, &tk, tt, m, options(&g, sizeof g), mean, cov, &lml),
                        "ntk_gp_posterior");
            }
            free(nngp), free(ntk), release(y), release(kt), free(tt), release(tt2), free(mean), free(cov);
            break;
        }
        case 14: { /* Nystrom: on a caller's kernel and on points, then every query */
            void *h = any_handle(3);
            int64_t din = 0, dout = 0;
            if (ntk_mlp_info(h, &din, &dout, NULL, NULL) == 0) d = din;
            int64_t c = chance(80) ? pick(0, n > 0 && !huge(n) ? n : 3) : m;
            if (huge(n) || huge(d) || huge(k) || huge(c) || huge(m) || n * (d + c + k) > 100000) {
                checked(ntk_nystrom_fit_kernel(n, c, NULL, 1, NULL, 1, NULL, 0.1, NULL, NULL), "nystrom kernel");
                break;
            }
            double *knm = matrix(n, c, &l1, 1), *kmm = kernel(c), *y = matrix(n, k, &l2, 1), *x = matrix(n, d, &l3, 1);
            const ntk_targets targets = {k, y, l2, NULL, 0};
            ntk_nystrom_options o = NTK_NYSTROM_OPTIONS_INIT;
            o.solver = (ntk_nystrom_solver)pick(0, 2);
            o.centers = (ntk_center_selection)pick(0, 2);
            o.kernel = (ntk_kernel_kind)pick(0, 2);
            o.tol = chance(90) ? 1e-8 : value();
            o.max_iter = chance(90) ? 20 : pick(-2, 3);
            o.memory_limit = chance(20) ? pick(-1, 100000) : 0;
            o.preconditioned = (int)pick(0, 2);
            o.preconditioner_rows = chance(80) ? pick(-1, n + 2) : pick(-3, 100000);
            o.progress = chance(10) ? cancel_sometimes : NULL;
            o.reduce = chance(20) ? reduce_one_part : NULL;
            double ridge = chance(80) ? fabs(value()) : value();
            ntk_nystrom *model = NULL;
            if (chance(40)) {
                checked(ntk_nystrom_fit_kernel(n, c, knm, l1, kmm, c > 0 ? c : 1, &targets, ridge, options(&o, sizeof o), &model),
                        "ntk_nystrom_fit_kernel");
            } else if (chance(50)) {
                checked(ntk_nystrom_fit(h, n, x, l3, &targets, ridge, c, options(&o, sizeof o), &model), "ntk_nystrom_fit");
            } else {
                int64_t lc = 1;
                double *centers = matrix(c, d, &lc, 1);
                checked(ntk_nystrom_fit_centers(h, n, x, l3, &targets, ridge, c, centers, lc, options(&o, sizeof o), &model),
                        "ntk_nystrom_fit_centers");
                release(centers);
            }
            int64_t *indices = malloc(sizeof(int64_t) * (size_t)(c > 0 ? c : 1));
            checked(ntk_nystrom_centers(model, indices), "ntk_nystrom_centers");
            free(indices);
            int64_t mm = 0, kk = 0;
            if (ntk_nystrom_info(model, NULL, &mm, &kk, NULL, NULL, NULL, NULL) == 0 && mm <= 100 && kk <= 10) {
                double *tx = matrix(m, d, &l1, 1), *tk = matrix(m, mm, &l2, 1);
                /* Room for every output below: paths (3 x m x k), coefficients (3 x mm x k), eigenvalues (mm). */
                int64_t k1 = kk > 0 ? kk : 1;
                double *out = malloc(sizeof(double) * (size_t)(3 * (m > 0 ? m : 1) * k1 + 3 * mm * k1 + mm + 3));
                const ntk_nystrom_test test = {m, chance(50) ? tx : NULL, l1, chance(50) ? tk : NULL, l2, NULL, 0};
                double times[3] = {INFINITY, fabs(value()), chance(5) ? -1 : 3}, ridges[3] = {0.1, value(), 0};
                checked(ntk_nystrom_predict(model, &test, out, kk > 0 ? kk : 1, chance(10) ? cancel_sometimes : NULL, NULL),
                        "ntk_nystrom_predict");
                const ntk_grid g = {3, times, chance(50) ? ridges : NULL, chance(90) ? 1.0 : value()};
                checked(ntk_nystrom_path(model, &test, &g, out, NULL, NULL), "ntk_nystrom_path");
                const ntk_grid g2 = {3, times, ridges, 1.0};
                checked(ntk_nystrom_path_coefficients(model, &g2, out), "ntk_nystrom_path_coefficients");
                int64_t best = 0;
                checked(ntk_nystrom_select_ridge(model, chance(90) ? 3 : 0, ridges, out, &best), "ntk_nystrom_select_ridge");
                checked(ntk_nystrom_eigenvalues(model, out), "ntk_nystrom_eigenvalues");
                checked(ntk_nystrom_coefficients(model, out, kk > 0 ? kk : 1), "ntk_nystrom_coefficients");
                release(tx), release(tk), free(out);
            }
            ntk_nystrom_free(model);
            release(knm), free(kmm), release(y), release(x);
            break;
        }
        case 15: { /* matrix-free empirical NTK: CG ridge and Lanczos flow */
            void *h = any_handle(3);
            int64_t din = 0, dout = 0;
            if (ntk_mlp_info(h, &din, &dout, NULL, NULL) == 0) d = din, k = chance(80) ? dout : k;
            if (huge(n) || huge(d) || huge(k) || huge(m) || n * (d + k) > 20000 || m * d > 20000) {
                checked(ntk_empirical_ridge_fit(h, n, NULL, 1, NULL, 0.1, NULL, NULL), "empirical ridge");
                break;
            }
            double *x = matrix(n, d, &l1, 1), *y = matrix(n, k, &l2, 1), *tx = matrix(m, d, &l3, 1);
            const ntk_targets targets = {k, y, l2, NULL, 0};
            ntk_empirical_solver_options o = NTK_EMPIRICAL_SOLVER_OPTIONS_INIT;
            o.tol = chance(90) ? 1e-6 : value();
            o.max_iter = chance(90) ? 10 : pick(-2, 3);
            o.preconditioner_rank = chance(90) ? pick(0, 8) : pick(-3, 100000);
            o.learning_rate = chance(90) ? 0.5 : value();
            o.memory_limit = chance(20) ? pick(-1, 100000) : 0;
            o.progress = chance(10) ? cancel_sometimes : NULL;
            o.reduce = chance(15) ? reduce_one_part : NULL;
            /* Centres as points: rank rows of at least d values (sized for what may be accepted). */
            double *centers = NULL;
            if (chance(20) && o.preconditioner_rank >= 0 && o.preconditioner_rank <= 8) {
                int64_t rows = o.preconditioner_rank > 0 ? o.preconditioner_rank : 1;
                centers = matrix(rows, d, &o.preconditioner_ldc, 1);
                o.preconditioner_centers = centers;
            }
            const ntk_points test = {m, tx, l3, NULL, 0};
            /* Predictions (m x k) or train flows (2 x n x k). */
            double *out = malloc(sizeof(double) * (size_t)(2 * ((n > m ? n : m) + 1) * (k > 0 ? k : 1) + 16));
            ntk_empirical_ridge *model = NULL;
            checked(ntk_empirical_ridge_fit(h, n, x, l1, &targets, chance(80) ? fabs(value()) : value(), options(&o, sizeof o), &model),
                    "ntk_empirical_ridge_fit");
            if (model) {
                checked(ntk_empirical_ridge_predict(model, &test, out, k > 0 ? k : 1, NULL, NULL), "ntk_empirical_ridge_predict");
                int64_t iterations = 0;
                checked(ntk_empirical_ridge_info(model, NULL, NULL, &iterations, NULL, NULL), "ntk_empirical_ridge_info");
                double *history = malloc(sizeof(double) * (size_t)(iterations + 1)); /* the options may keep max_iter's default */
                checked(ntk_empirical_ridge_residuals(model, history), "ntk_empirical_ridge_residuals");
                free(history);
                ntk_empirical_ridge_free(model);
            }
            double times[2] = {fabs(value()), chance(5) ? -1 : 2};
            checked(ntk_empirical_gradient_flow(h, n, x, l1, &targets, 2, times, chance(50) ? &test : NULL, options(&o, sizeof o),
                                                chance(90) ? out : NULL, NULL, NULL), "ntk_empirical_gradient_flow");
            release(x), release(y), release(tx), free(out);
            if (centers) release(centers);
            break;
        }
        case 18: { /* a model by callbacks: kernels, CG ridge, predictions at rows, Lanczos flow */
            fuzz_rows = pick(0, 64), fuzz_d = pick(1, 8), fuzz_k = pick(1, 4);
            for (int64_t i = 0; i < fuzz_rows * fuzz_d; i++) fuzz_x[i] = chance(99) ? value() : NAN;
            for (int64_t i = 0; i < fuzz_k * fuzz_d; i++) fuzz_w[i] = value();
            ntk_model_callbacks cb;
            ntk_model_callbacks_init(&cb);
            /* The callbacks write P = k d and k outputs: other valid sizes would be the caller's bug. */
            cb.n_params = chance(90) ? fuzz_k * fuzz_d : pick(-2, 0);
            cb.k = chance(90) ? fuzz_k : pick(-1, 0);
            cb.jvp = chance(97) ? fuzz_jvp : NULL;
            cb.vjp = chance(97) ? fuzz_vjp : NULL;
            cb.forward = chance(50) ? fuzz_forward : NULL;
            cb.jacobian = chance(50) ? fuzz_jacobian : NULL;
            cb.block_rows = chance(90) ? pick(1, 9) : pick(-2, 0);
            ntk_model *model = NULL;
            checked(ntk_model_create(options(&cb, sizeof cb), &model), "ntk_model_create");
            if (!model) break;
            int64_t kk = cb.k, n1 = chance(90) ? pick(0, 12) : pick(-2, 12), n2 = pick(0, 12);
            int64_t *r1 = fuzz_indices(n1 > 0 ? n1 : 0), *r2 = fuzz_indices(n2);
            double *out = malloc(sizeof(double) * (size_t)(13 * 13 * 16 + 16));
            ntk_empirical_ntk_options ko = NTK_EMPIRICAL_NTK_OPTIONS_INIT;
            ko.method = (ntk_kernel_method)pick(0, 3);
            ko.memory_limit = chance(20) ? pick(-1, 4000) : 0;
            ko.progress = chance(10) ? cancel_sometimes : NULL;
            ntk_output_form form = (ntk_output_form)pick(0, 3);
            int64_t e = form == NTK_OUTPUT_MEAN ? 1 : (form == NTK_OUTPUT_PER_OUTPUT ? kk : kk * kk);
            int64_t cols = chance(50) ? n1 : n2;
            checked(ntk_model_empirical_ntk(model, n1, chance(90) ? r1 : NULL, cols, chance(50) ? r2 : NULL, form,
                                            options(&ko, sizeof ko), out, cols * e > 0 ? cols * e : 1),
                    "ntk_model_empirical_ntk");
            checked(ntk_model_empirical_ntk_diagonal(model, n2, r2, form, out, e > 0 ? e : 1), "ntk_model_empirical_ntk_diagonal");
            checked(ntk_model_forward(model, n2, r2, out, kk > 0 ? kk : 1), "ntk_model_forward");
            double y[12 * 4];
            for (int i = 0; i < 12 * 4; i++) y[i] = chance(99) ? value() : NAN;
            const ntk_targets targets = {kk > 0 ? kk : 1, y, kk > 0 ? kk : 1, NULL, 0};
            ntk_empirical_solver_options o = NTK_EMPIRICAL_SOLVER_OPTIONS_INIT;
            o.tol = chance(90) ? 1e-6 : value();
            o.max_iter = chance(90) ? 8 : pick(-2, 3);
            o.preconditioner_rank = chance(90) ? pick(0, 6) : pick(-3, 1000);
            o.memory_limit = chance(20) ? pick(-1, 100000) : 0;
            o.progress = chance(10) ? cancel_sometimes : NULL;
            ntk_empirical_ridge *ridge = NULL;
            checked(ntk_model_ridge_fit(model, n1, r1, &targets, chance(80) ? fabs(value()) : value(), options(&o, sizeof o), &ridge),
                    "ntk_model_ridge_fit");
            const ntk_rows test = {chance(95) ? n2 : -1, chance(95) ? r2 : NULL, NULL, 0};
            if (ridge) checked(ntk_empirical_ridge_predict_rows(ridge, &test, out, kk > 0 ? kk : 1, NULL, NULL),
                               "ntk_empirical_ridge_predict_rows");
            ntk_empirical_ridge_free(ridge);
            double times[2] = {fabs(value()), chance(5) ? -1 : 2};
            checked(ntk_model_gradient_flow(model, n1, r1, &targets, 2, times, chance(50) ? &test : NULL, options(&o, sizeof o),
                                            chance(90) ? out : NULL, NULL, NULL), "ntk_model_gradient_flow");
            ntk_model_free(model);
            free(r1), free(r2), free(out);
            break;
        }
        case 16: { /* kernel tuning: gradients, contraction, objectives */
            void *h = any_handle(3);
            int64_t din = 0;
            if (ntk_mlp_info(h, &din, NULL, NULL, NULL) == 0) d = din;
            if (huge(n) || huge(d) || huge(k) || n * n * (d + 2) > 200000 || n * k > 20000) {
                checked(ntk_infinite_width_gradient(h, NTK_KERNEL_NTK, n, NULL, 1, NULL, NULL, NULL, 1, NULL),
                        "ntk_infinite_width_gradient");
                break;
            }
            double *x = matrix(n, d, &l1, 1), *y = matrix(n, k, &l2, 1), *g = kernel(n);
            double *scales = malloc(sizeof(double) * (size_t)(d > 0 ? d : 1));
            for (int64_t j = 0; j < d; j++) scales[j] = chance(95) ? fabs(value()) : value();
            ntk_kernel_hyperparameters hyper;
            ntk_kernel_hyperparameters_init(&hyper);
            hyper.w_std = chance(90) ? fabs(value()) : value();
            hyper.b_std = chance(90) ? fabs(value()) : value();
            hyper.input_scales = chance(70) ? scales : NULL;
            hyper.ridge = chance(90) ? fabs(value()) : value();
            hyper.amplitude = chance(90) ? fabs(value()) + 0.1 : value();
            ntk_infinite_width_options q = NTK_INFINITE_WIDTH_OPTIONS_INIT;
            q.quadrature_points = chance(80) ? 4 : (int)pick(-1, 70);
            q.progress = chance(10) ? cancel_sometimes : NULL;
            ntk_kernel_kind kind = (ntk_kernel_kind)pick(0, 2);
            double *out = malloc(sizeof(double) * (size_t)((n > 0 ? n * n : 1) * (d + 3)));
            double gradient[80], objective = 0;
            const void *hp = options(&hyper, sizeof hyper);
            checked(ntk_infinite_width_gradient(h, kind, n, x, l1, hp, options(&q, sizeof q),
                                                chance(50) ? out : NULL, n > 0 ? n : 1, out + (n > 0 ? n * n : 1)),
                    "ntk_infinite_width_gradient");
            hp = options(&hyper, sizeof hyper);
            checked(ntk_infinite_width_gradient_contract(h, kind, n, x, l1, hp, g, n > 0 ? n : 1, options(&q, sizeof q),
                                                         d + 2 <= 80 ? gradient : NULL),
                    "ntk_infinite_width_gradient_contract");
            const ntk_targets t = {k, y, l2, NULL, 0};
            hp = options(&hyper, sizeof hyper);
            checked(ntk_kernel_objective(h, kind, n, x, l1, chance(95) ? &t : NULL, hp, (ntk_tuning_criterion)pick(0, 3),
                                         options(&q, sizeof q), chance(95) ? &objective : NULL,
                                         d + 4 <= 80 && chance(80) ? gradient : NULL),
                    "ntk_kernel_objective");
            int64_t c = chance(90) ? pick(0, n > 0 ? n : 1) : pick(-2, 3);
            int64_t lc = 1;
            double *centers_x = huge(c) ? NULL : matrix(c, d, &lc, 1);
            const ntk_points centers = {c, centers_x, lc, chance(95) ? NULL : y, l2};
            hp = options(&hyper, sizeof hyper);
            checked(ntk_kernel_objective_nystrom(h, kind, n, x, l1, chance(95) ? &centers : NULL, &t, hp,
                                                 options(&q, sizeof q), &objective,
                                                 d + 4 <= 80 && chance(80) ? gradient : NULL),
                    "ntk_kernel_objective_nystrom");
            release(centers_x);
            void *s = any_handle(2);
            double time_out, score;
            int64_t solver_n = -1;
            /* Targets with as many rows as the solver's points (the library cannot see a buffer's
             * length): a live solver of another size gets no targets. */
            ntk_spectral_info(s, &solver_n, NULL, NULL, NULL, NULL);
            checked(ntk_spectral_select_time(s, solver_n < 0 || solver_n == n ? &t : NULL,
                                             chance(90) ? fabs(value()) : value(), chance(90) ? 1.0 : value(),
                                             &time_out, chance(50) ? &score : NULL), "ntk_spectral_select_time");
            release(x), release(y), release(g), free(scales), free(out);
            break;
        }
        case 17: { /* kernel logistic regression: dense and Nystrom fits, then every query */
            int64_t c = chance(80) ? pick(0, n > 0 && !huge(n) ? n : 3) : m;
            if (huge(n) || huge(k) || huge(c) || huge(m) || n * (n + c + k) > 40000 || m * (n + 9) > 40000) {
                checked(ntk_kernel_logistic_fit(n, NULL, 1, NULL, 1.0, NULL, NULL), "ntk_kernel_logistic_fit");
                break;
            }
            double *kn = kernel(n), *knm = matrix(n, c, &l1, 1), *kmm = kernel(c), *f0 = matrix(n, k, &l2, 1);
            int64_t *labels = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
            for (int64_t i = 0; i < n; i++) labels[i] = chance(98) ? pick(0, k > 1 ? k - 1 : 1) : pick(-2, k + 2);
            ntk_labels data = {chance(97) ? labels : NULL, chance(95) ? k : pick(-1, 2), chance(30) ? f0 : NULL, l2};
            double grid[3] = {1.0, chance(90) ? 0.1 : value(), 10.0};
            ntk_kernel_logistic_options o = NTK_KERNEL_LOGISTIC_OPTIONS_INIT;
            o.n_ridges = chance(30) ? pick(chance(90) ? 1 : -1, 3) : 0;
            o.ridges = chance(95) ? grid : NULL;
            o.tol = chance(90) ? 1e-8 : value();
            o.max_iter = chance(90) ? 30 : pick(-2, 3);
            o.memory_limit = chance(10) ? pick(-1, 100000) : 0;
            o.progress = chance(10) ? cancel_sometimes : NULL;
            double ridge = chance(80) ? fabs(value()) + 1e-3 : value();
            ntk_kernel_logistic *model = NULL;
            void *net = any_handle(3);
            int64_t din = 0;
            if (chance(40)) {
                checked(ntk_kernel_logistic_fit(n, kn, n > 0 ? n : 1, chance(97) ? &data : NULL, ridge,
                                                options(&o, sizeof o), &model), "ntk_kernel_logistic_fit");
            } else if (chance(40) && ntk_mlp_info(net, &din, NULL, NULL, NULL) == 0 && din <= 16) {
                int64_t lx = 1, lc = 1;
                double *px = matrix(n, din, &lx, 1), *pc = matrix(c, din, &lc, 1);
                const ntk_points centers = {chance(95) ? c : pick(-2, 2), pc, lc, chance(95) ? NULL : pc, lc};
                checked(ntk_kernel_logistic_fit_centers(net, (ntk_kernel_kind)pick(0, 2), n, px, lx,
                                                        chance(95) ? &centers : NULL, &data, ridge,
                                                        options(&o, sizeof o), &model),
                        "ntk_kernel_logistic_fit_centers");
                release(px), release(pc);
            } else {
                checked(ntk_kernel_logistic_fit_nystrom(n, c, knm, l1, kmm, c > 0 ? c : 1, &data, ridge,
                                                        options(&o, sizeof o), &model),
                        "ntk_kernel_logistic_fit_nystrom");
            }
            void *h = chance(90) ? (void *)model : any_handle((int)pick(0, 3));
            int64_t cc = 0, kk = 0, nn = 0;
            if (ntk_kernel_logistic_info(h, &nn, &kk, &cc, NULL, NULL, NULL) == 0 && cc <= 100 && kk <= 10) {
                int64_t k1 = kk > 0 ? kk : 1;
                double *tk = matrix(m, cc, &l3, 1), *diag = matrix(m, 1, &l1, 1);
                double *out = malloc(sizeof(double) * (size_t)((m + nn + 1) * k1 * k1 + cc * k1 + 3));
                const ntk_test_kernel test = {m, tk, l3, NULL, 0};
                checked(ntk_kernel_logistic_predict(h, chance(95) ? &test : NULL, out, chance(95) ? k1 : 0),
                        "ntk_kernel_logistic_predict");
                checked(ntk_kernel_logistic_coefficients(h, out, k1), "ntk_kernel_logistic_coefficients");
                checked(ntk_kernel_logistic_train_logits(h, out, k1), "ntk_kernel_logistic_train_logits");
                double loss;
                checked(ntk_kernel_logistic_loo(h, chance(50) ? out : NULL, k1, chance(90) ? &loss : NULL),
                        "ntk_kernel_logistic_loo");
                checked(ntk_kernel_logistic_log_marginal_likelihood(h, chance(95) ? &loss : NULL),
                        "ntk_kernel_logistic_log_marginal_likelihood");
                checked(ntk_kernel_logistic_latent_covariance(h, m, tk, l3, chance(50) ? diag : NULL, out),
                        "ntk_kernel_logistic_latent_covariance");
                checked(ntk_kernel_logistic_ridge_scores(h, out), "ntk_kernel_logistic_ridge_scores");
                release(tk), release(diag), free(out);
            }
            ntk_kernel_logistic_free(model);
            free(kn), release(knm), free(kmm), release(f0), free(labels);
            break;
        }
        case 19: { /* networks from layers: random descriptions, then infinite-width kernels */
            ntk_layer layers[8];
            int count = (int)pick(0, 8);
            int64_t rank = chance(95) ? pick(1, 4) : pick(-1, 6), shape[6];
            fuzz_layers(layers, count, rank - 1);
            for (int a = 0; a < 6; a++) shape[a] = chance(95) ? pick(1, 5) : size(6);
            ntk_network_options o = NTK_NETWORK_OPTIONS_INIT;
            if (chance(10)) o.w_std = value();
            if (chance(10)) o.bias = (int)pick(-1, 2);
            o.parameterization = (ntk_parameterization)(chance(95) ? pick(0, 1) : pick(-1, 4));
            ntk_network *net = NULL;
            checked(ntk_network_create(rank, chance(2) ? NULL : shape, count, chance(2) ? NULL : layers,
                                       chance(5) ? NULL : options(&o, sizeof o), &net), "ntk_network_create");
            int64_t din = 0;
            if (!net || ntk_network_info(net, &din, NULL, NULL) != 0 || huge(n) || huge(m) || din > 200) {
                ntk_network_free(net);
                break;
            }
            double *x = matrix(n, din, &l1, 1), *x2 = chance(50) ? NULL : matrix(m, din, &l2, 1);
            int64_t n2 = x2 ? m : n;
            double *out = malloc(sizeof(double) * (size_t)(2 * (n > 0 ? n : 1) * (n2 > 0 ? n2 : 1)));
            ntk_infinite_width_options q = NTK_INFINITE_WIDTH_OPTIONS_INIT;
            q.quadrature_points = (int)pick(-1, 40);
            q.progress = chance(10) ? cancel_sometimes : NULL;
            checked(ntk_network_infinite_width_kernels(net, n, x, l1, n2, x2, l2, options(&q, sizeof q), out,
                                                       n2 > 0 ? n2 : 1, chance(50) ? out + n * n2 : NULL,
                                                       n2 > 0 ? n2 : 1),
                    "ntk_network_infinite_width_kernels");
            float *xf = as_floats(x, n, din, l1), *x2f = as_floats(x2, m, din, l2);
            checked(ntk_network_infinite_width_kernels_f32(net, n, xf, l1, n2, x2f, l2, options(&q, sizeof q),
                                                           (float *)out, n2 > 0 ? n2 : 1,
                                                           chance(50) ? (float *)out + n * n2 : NULL, n2 > 0 ? n2 : 1),
                    "ntk_network_infinite_width_kernels_f32");
            release_floats(xf), release_floats(x2f);
            checked(ntk_network_infinite_width_diagonal(net, n, x, l1, out, chance(50) ? out + n : NULL),
                    "ntk_network_infinite_width_diagonal");
            int64_t kk = 0, p = 0;
            ntk_network_info(net, NULL, &kk, &p);
            if (n * kk * (p > 0 ? p : 1) <= 200000 && kk * kk <= 2 * n2) { /* room in out for f, J and kernels */
                double *big = malloc(sizeof(double) * (size_t)((n > 0 ? n : 1) * kk * (p > 0 ? p : 1) + 1));
                checked(ntk_network_forward(net, n, x, l1, big, chance(95) ? kk : 0), "ntk_network_forward");
                checked(ntk_network_jacobian(net, n, x, l1, big), "ntk_network_jacobian");
                ntk_empirical_ntk_options eo = NTK_EMPIRICAL_NTK_OPTIONS_INIT;
                eo.method = (ntk_kernel_method)pick(0, 3);
                eo.memory_limit = chance(20) ? pick(-1, 100000) : 0;
                eo.progress = chance(10) ? cancel_sometimes : NULL;
                checked(ntk_network_empirical_ntk(net, n, x, l1, n2, x2, l2, NTK_OUTPUT_MEAN, options(&eo, sizeof eo), out,
                                                  n2 > 0 ? n2 : 1),
                        "ntk_network_empirical_ntk");
                if (p > 0 && chance(20)) {
                    for (int64_t q = 0; q < p; q++) big[q] = value();
                    checked(ntk_network_set_parameters(net, big, chance(95) ? p : p + 1), "ntk_network_set_parameters");
                }
                fuzz_network_solvers(net, n, x, l1, kk, p, big, out);
                free(big);
            }
            release(x), release(x2), free(out);
            ntk_network_free(net);
            break;
        }
        default: { /* jacobian kernel */
            int64_t p = size(5);
            if (huge(n) || huge(m) || huge(k) || huge(p) || n * k * p > 100000) {
                checked(ntk_jacobian_ntk(n, m, k, p, NULL, NULL, NTK_OUTPUT_MEAN, NULL, 1, NULL, NULL), "ntk_jacobian_ntk");
                break;
            }
            double *j1 = matrix(n, k * p, &l1, 1), *j2 = chance(50) ? NULL : matrix(m, k * p, &l2, 1);
            double *out = malloc(sizeof(double) * (size_t)((n > 0 ? n : 1) * (m > n ? m : (n > 0 ? n : 1)) * (k * k > 0 ? k * k : 1)));
            ntk_output_form form = (ntk_output_form)pick(0, 3);
            int64_t n2 = j2 ? m : n, e = form == NTK_OUTPUT_MEAN ? 1 : (form == NTK_OUTPUT_PER_OUTPUT ? k : k * k);
            if (l1 == k * p && (!j2 || l2 == k * p))
                checked(ntk_jacobian_ntk(n, n2, k, p, j1, j2, form, out, n2 * e > 0 ? n2 * e : 1, NULL, NULL), "ntk_jacobian_ntk");
            release(j1), release(j2), free(out);
            break;
        }
        }
    }
    for (int t = 0; t < 4; t++)
        for (int s = 0; s < POOL; s++) {
            if (t == 0) ntk_cholesky_factor_free(live[t][s]);
            if (t == 1) ntk_kernel_ridge_free(live[t][s]);
            if (t == 2) ntk_spectral_free(live[t][s]);
            if (t == 3) ntk_mlp_free(live[t][s]);
        }
    if (ntk_live_handle_count() != 0) finding("handles left alive after freeing every one", 0);
    printf("fuzz: %ld calls, %ld returned an error status, %ld findings, %.1f s CPU\n", calls, failures, findings,
           (double)(clock() - start) / CLOCKS_PER_SEC);
    return findings == 0 ? 0 : 1;
}
