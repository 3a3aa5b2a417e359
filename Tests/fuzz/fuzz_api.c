/* A structured random driver for the libntk C API ("fuzzer").
 *
 *   fuzz_api SECONDS [SEED]
 *
 * Calls the API in random order with random sizes (small, zero, negative, and beyond what
 * 32/64-bit arithmetic or BLAS can take), random leading dimensions (valid and invalid), NULL
 * pointers, NaN/Inf values, random enum values and flags, and handles that are live, freed,
 * of another type, or foreign pointers. Buffers are always as large as the sizes the library
 * may accept (a library cannot check the extent of a caller's buffer), so any crash, any status
 * outside the documented set, a failure without a message, or a success with non-finite output
 * from finite input is a bug. Prints "fuzz: N calls ..." and exits non-zero on a finding. */
#include "ntk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long state;
static unsigned long long next_u64(void) {
    unsigned long long z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static int chance(int percent) { return (int)(next_u64() % 100) < percent; }
static int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(next_u64() % (unsigned long long)(hi - lo + 1)); }
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
    if (status < -10 || status > 0) finding(call, status);
    if (ntk_last_error()[0] == '\0') finding("failure without a message", status);
}

/* A size: usually small, sometimes zero, negative or huge. */
static int64_t size(int64_t typical) {
    int r = (int)pick(0, 99);
    if (r < 3) return -pick(1, 5);
    if (r < 6) return chance(50) ? ((int64_t)1 << 31) + pick(0, 10) : INT64_MAX / pick(1, 4);
    if (r < 12) return 0;
    return pick(1, typical);
}
static int huge(int64_t n) { return n < 0 || n > 100000; }

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
static int cancel_sometimes(void *user, double fraction) {
    (void)user;
    (void)fraction;
    return chance(10);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    state = argc > 2 ? strtoull(argv[2], NULL, 10) : (unsigned long long)time(NULL);
    printf("fuzz: %.0f s, seed %llu\n", seconds, state);
    ntk_blas_set_num_threads(1);
    clock_t start = clock();
    time_t wall = time(NULL);
    while (difftime(time(NULL), wall) < seconds) {
        int op = (int)pick(0, 16);
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
                status = ntk_kernel_ridge_fit(n, k, kk, n, y, l1, NULL, 0, fabs(value()), (int)pick(0, 2), chance(50) ? 1e-6 : 0,
                                              NULL, NULL, (ntk_kernel_ridge **)&h);
                release(y);
            }
            if (type == 2) status = ntk_spectral_create(n, kk, n, (int)pick(0, 2), NULL, NULL, (ntk_spectral **)&h);
            if (type == 3) {
                int64_t widths[3] = {size(8), size(8), size(8)};
                status = ntk_mlp_create(size(5), pick(0, 3), chance(95) ? widths : NULL, size(3), (int)pick(0, 10), value(),
                                        value(), value(), (int)pick(0, 2), (int)pick(0, 2), next_u64(), (ntk_mlp **)&h);
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
            checked(ntk_kernel_ridge_predict(h, m, kt, l1, NULL, 0, p, l2), "ntk_kernel_ridge_predict");
            release(kt), release(p);
            break;
        }
        case 6: { /* spectral predict / filters / select */
            void *h = any_handle(2);
            int64_t hn = 0;
            if (ntk_spectral_info(h, &hn, NULL, NULL, NULL, NULL) == 0) n = hn;
            int64_t count = size(4);
            if (huge(count) || huge(n) || huge(k) || huge(m)) {
                checked(ntk_spectral_predict(h, k, NULL, 1, NULL, 0, count, NULL, NULL, 1, m, NULL, 1, NULL, 0, NULL, NULL), "predict");
                break;
            }
            double *y = matrix(n, k, &l1, 1), *kt = chance(50) ? NULL : matrix(m, n, &l2, 1);
            double times[8], ridges[8];
            for (int i = 0; i < 8; i++) times[i] = chance(20) ? INFINITY : fabs(value()) * (chance(5) ? -1 : 1), ridges[i] = fabs(value());
            double *train = malloc(sizeof(double) * (size_t)((count > 0 ? count : 1) * (n > 0 ? n : 1) * (k > 0 ? k : 1)));
            double *test = malloc(sizeof(double) * (size_t)((count > 0 ? count : 1) * (m > 0 ? m : 1) * (k > 0 ? k : 1)));
            if (count > 8) count = 8;
            checked(ntk_spectral_predict(h, k, y, l1, NULL, 0, count, chance(80) ? times : NULL, chance(50) ? ridges : NULL,
                                         chance(90) ? fabs(value()) : -1, kt ? m : 0, kt, l2, NULL, 0, train, kt ? test : NULL),
                    "ntk_spectral_predict");
            double *coef = malloc(sizeof(double) * (size_t)((n > 0 ? n : 1) * (k > 0 ? k : 1)));
            checked(ntk_spectral_dual_coefficients(h, k, y, l1, NULL, 0, chance(20) ? INFINITY : value(), fabs(value()),
                                                   chance(90) ? fabs(value()) : -1, chance(95) ? coef : NULL,
                                                   chance(90) ? (k > 0 ? k : 1) : k - 1),
                    "ntk_spectral_dual_coefficients");
            free(coef);
            double scores[8];
            int64_t best;
            checked(ntk_spectral_select_ridge(h, k, y, l1, NULL, 0, count, ridges, (int)pick(0, 2), scores, &best), "select");
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
            int form = (int)pick(0, 3), method = (int)pick(0, 2);
            checked(ntk_empirical_ntk(h, n, x, l1, n, NULL, 0, form, method, chance(20) ? pick(1, 100000) : 0, out,
                                      chance(10) ? cancel_sometimes : NULL, NULL), "ntk_empirical_ntk");
            checked(ntk_empirical_ntk_diagonal(h, n, x, l1, form, out), "diagonal");
            checked(ntk_mlp_jacobian(h, n, x, l1, out), "ntk_mlp_jacobian");
            checked(ntk_infinite_width_kernels(h, n, x, l1, n, NULL, 0, (int)pick(0, 40), out, chance(50) ? out + n * n : NULL,
                                               NULL, NULL), "infinite width");
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
            checked(ntk_mlp_train(h, n, x, l1, y, l2, (int)pick(0, 2), value(), epochs, pick(0, 4), fabs(value()) * 0.5,
                                  next_u64(), 0, NULL, 0, NULL, 0, losses, NULL, NULL, &run, NULL, NULL, NULL), "ntk_mlp_train");
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
            checked(ntk_features_ridge(n, d, k, s, l1, y, l2, fabs(value()), (int)pick(0, 3), 0, NULL, 0, w, k > 0 ? k : 1, NULL, 0,
                                       NULL, 0, NULL, NULL), "ntk_features_ridge");
            release(s), release(y), free(w);
            break;
        }
        case 11: { /* ode */
            if (huge(n) || huge(k) || n <= 0 || k <= 0) {
                checked(ntk_gradient_flow_ode(n, k, NULL, 1, NULL, 1, NULL, 0, 1, NULL, 0, 1, 0, NULL, 0, NULL, 0, 1e-8, 1e-10, NULL,
                                              NULL, NULL, NULL), "ode");
                break;
            }
            double *kk = kernel(n), *y = matrix(n, k, &l1, 1), t[2] = {fabs(value()), chance(10) ? INFINITY : 0.5};
            double *out = malloc(sizeof(double) * (size_t)(2 * n * k));
            checked(ntk_gradient_flow_ode(n, k, kk, n, y, l1, NULL, 0, 2, t, (int)pick(0, 2), 0.5, 0, NULL, 0, NULL, 0, 1e-8, 1e-10,
                                          out, NULL, NULL, NULL), "ode");
            free(kk), release(y), free(out);
            break;
        }
        case 12: { /* small utilities */
            double a[9], b[9], out;
            for (int i = 0; i < 9; i++) a[i] = value(), b[i] = value();
            checked(ntk_kernel_distance(pick(-1, 9), chance(5) ? NULL : a, b, &out), "distance");
            checked(ntk_kernel_alignment(pick(-1, 3), pick(-1, 3), a, b, &out), "alignment");
            checked(ntk_max_learning_rate(pick(-1, 3), a, 3, pick(-1, 5), &out, NULL, NULL, NULL), "max lr");
            calls++;
            (void)ntk_status_string((int)pick(-20, 5));
            break;
        }
        default: { /* jacobian kernel */
            int64_t p = size(5);
            if (huge(n) || huge(m) || huge(k) || huge(p) || n * k * p > 100000) {
                checked(ntk_jacobian_ntk(n, m, k, p, NULL, NULL, 0, NULL, NULL, NULL), "ntk_jacobian_ntk");
                break;
            }
            double *j1 = matrix(n, k * p, &l1, 1), *j2 = chance(50) ? NULL : matrix(m, k * p, &l2, 1);
            double *out = malloc(sizeof(double) * (size_t)((n > 0 ? n : 1) * (m > n ? m : (n > 0 ? n : 1)) * (k * k > 0 ? k * k : 1)));
            if (l1 == k * p && (!j2 || l2 == k * p))
                checked(ntk_jacobian_ntk(n, j2 ? m : n, k, p, j1, j2, (int)pick(0, 3), out, NULL, NULL), "ntk_jacobian_ntk");
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
