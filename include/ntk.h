/*
 * ntk.h — the C interface of libntk, a library for Neural Tangent Kernels.
 *
 * This header is the contract: the library follows it, never the reverse. It compiles as
 * C99 and as C++ (-Wall -Wextra -pedantic -Werror).
 *
 * Link: cc prog.c -I<repo>/include -L<dir of libntk.so> -lntk -Wl,-rpath,<dir of libntk.so>
 *
 * Conventions that hold for every function below
 * ------------------------------------------------
 * Status      Every fallible function returns an int: NTK_OK (0) or a negative NTK_ERR_* code.
 *             ntk_status_string(code) names the code; ntk_last_error() returns the calling
 *             thread's message for its last failed call, naming the function and the argument,
 *             e.g. "ntk_gram: A (row 3, column 0) is nan, must be finite".
 *             No input makes the library abort, exit or print: bad arguments are reported.
 * Arrays      Matrices are row-major double arrays: element (i, j) of an r x c matrix M with
 *             leading dimension ldm is M[i * ldm + j], and ldm >= max(c, 1). A leading
 *             dimension larger than c lets you pass a sub-matrix of a larger array.
 *             Outputs are buffers you allocate and own; the library never returns memory you
 *             must free, except handles (freed with their *_free function). An output must
 *             not overlap an input unless the function says it may. A pointer may be NULL
 *             only where the documentation says so, or when its matrix has no elements.
 * Sizes       int64_t, >= 0. Sizes beyond what 32-bit BLAS takes (2^31 - 1 per dimension)
 *             fail with NTK_ERR_TOO_LARGE, before any work.
 * Input       NaN and Inf in any input array or scalar fail with NTK_ERR_NON_FINITE. Matrices
 *             documented as symmetric must be symmetric to 1e-6 relative,
 *             |K_ij - K_ji| <= 1e-6 (|K_ij| + |K_ji| + sqrt|K_ii K_jj|), and are used as
 *             (K + K^T) / 2; otherwise NTK_ERR_INVALID_ARGUMENT.
 * Progress    Long operations take an ntk_progress_fn and a user pointer (both may be NULL).
 *             The callback receives the fraction done, non-decreasing in [0, 1]; returning
 *             non-zero cancels the operation, which then returns NTK_ERR_CANCELLED with its
 *             outputs unspecified. It is called on the thread that called the library.
 * Errors      Each function lists the codes it returns. Any function that takes a handle may
 *             also return NTK_ERR_INVALID_HANDLE (NULL, freed, foreign or mistyped handle), and
 *             any function may return NTK_ERR_INTERNAL (a bug in libntk: please report it).
 * Threads     Every function may be called from several threads at once, except
 *             ntk_blas_set_num_threads (process-wide setting: call it before starting work).
 *             A function that takes a `const` handle only reads it: threads may share the
 *             handle. The two that take a non-const handle change it: ntk_mlp_set_parameters
 *             (an atomic swap; calls already running keep the old parameters) and
 *             ntk_mlp_train (readers meanwhile see the parameters of its last snapshot).
 *             Freeing a handle while another thread uses it is safe for the process (the
 *             object lives until that call returns) but is a bug in the caller.
 * Ownership   Handles are created by *_create / *_fit into an out-pointer (set to NULL on
 *             failure) and freed by their *_free, which accepts NULL and freed handles. A
 *             handle keeps its own copies of what it needs: input arrays may be freed or
 *             changed after the call that took them returns.
 * BLAS speed  libntk runs on the system OpenBLAS. Debian's OpenBLAS 0.3.21 does not know
 *             recent CPUs (e.g. Sapphire Rapids) and falls back to generic kernels about 6x
 *             slower; set OPENBLAS_CORETYPE=SkylakeX (any AVX-512 CPU) or Haswell (AVX2) in
 *             the environment *before the process starts*. ntk_blas_info() shows the kernels
 *             in use. The Python package does this for you.
 */
#ifndef NTK_H
#define NTK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------- */

#define NTK_VERSION_MAJOR 0
#define NTK_VERSION_MINOR 1
#define NTK_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH; compare with ntk_version_number() at run time. */
#define NTK_VERSION_NUMBER (NTK_VERSION_MAJOR * 10000 + NTK_VERSION_MINOR * 100 + NTK_VERSION_PATCH)

/* The version of the loaded library, as NTK_VERSION_NUMBER.
 * Never fails. */
int ntk_version_number(void);

/* The version of the loaded library as "MAJOR.MINOR.PATCH" (static storage).
 * Never fails. */
const char *ntk_version_string(void);

/* ---------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------- */

#define NTK_OK 0
#define NTK_ERR_INVALID_ARGUMENT (-1)       /* NULL pointer, negative size, bad flag or scalar */
#define NTK_ERR_DIMENSION_MISMATCH (-2)     /* sizes that do not fit together */
#define NTK_ERR_NON_FINITE (-3)             /* NaN or Inf in the input */
#define NTK_ERR_NOT_POSITIVE_DEFINITE (-4)  /* Cholesky of a matrix that is not SPD */
#define NTK_ERR_OUT_OF_MEMORY (-5)          /* a workspace could not be allocated */
#define NTK_ERR_CANCELLED (-6)              /* the progress callback returned non-zero */
#define NTK_ERR_NUMERICAL (-7)              /* a numerical routine failed (no convergence) */
#define NTK_ERR_TOO_LARGE (-8)              /* a size beyond what the library can address */
#define NTK_ERR_INVALID_HANDLE (-9)         /* NULL, freed, foreign or mistyped handle */
#define NTK_ERR_INTERNAL (-10)              /* a bug in libntk: please report it */

/* A short constant name for a status code ("invalid argument", ...); never NULL. */
const char *ntk_status_string(int status);

/* The calling thread's message for its last failed call ("" if none). Thread-local; the
 * pointer stays valid until the same thread's next failed call. Successful calls leave it. */
const char *ntk_last_error(void);

/* ---------------------------------------------------------------------------------------
 * Progress and cancellation
 * ------------------------------------------------------------------------------------- */

/* Called with `user` and the fraction of the work done; return 0 to go on, non-zero to
 * cancel. It must not call back into the library with the same handle it is reporting on. */
typedef int (*ntk_progress_fn)(void *user, double fraction);

/* ---------------------------------------------------------------------------------------
 * BLAS
 * ------------------------------------------------------------------------------------- */

/* Which BLAS kernels run. Each out-pointer may be NULL.
 *   core_name   OpenBLAS's kernel family, e.g. "SkylakeX", "Haswell"; "Prescott" or
 *               "Core2" mean generic kernels (see "BLAS speed" above). Static storage.
 *   config      OpenBLAS's build string (version, threading). Static storage.
 *   num_threads threads OpenBLAS uses per call.
 *   num_procs   processors OpenBLAS sees. */
int ntk_blas_info(const char **core_name, const char **config, int *num_threads, int *num_procs);

/* Sets the number of threads OpenBLAS uses per call, 1 <= n <= 1024 (process-wide).
 * One thread is often best when the caller runs its own threads, or when another process
 * keeps a core busy (threaded LAPACK slows down badly on a loaded core).
 * Not thread-safe: do not call while another thread is inside the library. */
int ntk_blas_set_num_threads(int n);

/* ---------------------------------------------------------------------------------------
 * Gram matrices
 * ------------------------------------------------------------------------------------- */

/* G = alpha * A * B^T, the Gram matrix of the rows of A (n1 x d) and B (n2 x d):
 * G_ij = alpha * <a_i, b_j>, G is n1 x n2 with leading dimension ldg.
 * With B == NULL: G = alpha * A * A^T (n2 must equal n1), computed once per pair of rows
 * (DGEMM + DSYRK, half the flops) and returned with both triangles filled, exactly symmetric.
 * d = 0 gives G = 0. G must not overlap A or B.
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE (A, B, alpha), TOO_LARGE,
 * CANCELLED. Progress is reported between blocks of rows. */
int ntk_gram(int64_t n1, int64_t n2, int64_t d, double alpha,
             const double *a, int64_t lda,
             const double *b, int64_t ldb,
             double *g, int64_t ldg,
             ntk_progress_fn progress, void *user);

/* ---------------------------------------------------------------------------------------
 * Cholesky solves of (K + ridge * I) X = Y
 * ------------------------------------------------------------------------------------- */

/* Solves (K + ridge * I) X = Y for X, K symmetric n x n, Y and X n x m, ridge >= 0
 * (absolute). X may be the same buffer as Y (same pointer and leading dimension) to solve
 * in place, but must not partly overlap it.
 * Errors: INVALID_ARGUMENT (NULL, negative ridge, K not symmetric), DIMENSION_MISMATCH,
 * NON_FINITE, NOT_POSITIVE_DEFINITE (message gives the order of the failing leading minor;
 * add a ridge), OUT_OF_MEMORY (an n x n workspace is needed), TOO_LARGE, CANCELLED. */
int ntk_cholesky_solve(int64_t n, int64_t m,
                       const double *k, int64_t ldk, double ridge,
                       const double *y, int64_t ldy,
                       double *x, int64_t ldx,
                       ntk_progress_fn progress, void *user);

/* A Cholesky factor L L^T = K + ridge * I kept for many solves (opaque, immutable). */
typedef struct ntk_cholesky_factor ntk_cholesky_factor;

/* Factors K + ridge * I (as ntk_cholesky_solve; same errors) into a new handle stored in
 * *out. On failure *out is set to NULL (when out is not NULL). Free with
 * ntk_cholesky_factor_free. Memory: n * n doubles. */
int ntk_cholesky_factor_create(int64_t n, const double *k, int64_t ldk, double ridge,
                               ntk_progress_fn progress, void *user,
                               ntk_cholesky_factor **out);

/* Solves (K + ridge * I) X = Y with the factor; Y and X are n x m. Read-only on the handle:
 * several threads may solve with one factor at once. In-place as ntk_cholesky_solve.
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE (Y), TOO_LARGE. */
int ntk_cholesky_factor_solve(const ntk_cholesky_factor *factor, int64_t m,
                              const double *y, int64_t ldy,
                              double *x, int64_t ldx);

/* The order n of the factored matrix.
 * Errors: INVALID_ARGUMENT (n NULL). */
int ntk_cholesky_factor_order(const ntk_cholesky_factor *factor, int64_t *n);

/* log det(K + ridge * I) = 2 * sum_i log L_ii.
 * Errors: INVALID_ARGUMENT (value NULL). Read-only (thread-safe). */
int ntk_cholesky_factor_log_determinant(const ntk_cholesky_factor *factor, double *value);

/* Frees the handle. NULL and already-freed handles are ignored. */
void ntk_cholesky_factor_free(ntk_cholesky_factor *factor);

/* ---------------------------------------------------------------------------------------
 * Symmetric eigendecomposition
 * ------------------------------------------------------------------------------------- */

/* K = V diag(w) V^T for symmetric K (n x n): eigenvalues w (n doubles) in ascending order,
 * and, if V is not NULL, the orthonormal eigenvectors as the *columns* of V (n x n, leading
 * dimension ldv; column j belongs to w[j], as numpy.linalg.eigh). With V == NULL only the
 * eigenvalues are computed (several times cheaper). LAPACK DSYEVD (divide and conquer).
 * n is limited to about 32 000 by LAPACK's 32-bit workspace size (TOO_LARGE beyond).
 * Progress is reported at the start and the end only.
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, OUT_OF_MEMORY, NUMERICAL (no
 * convergence), TOO_LARGE, CANCELLED. */
int ntk_eigh(int64_t n, const double *k, int64_t ldk,
             double *w, double *v, int64_t ldv,
             ntk_progress_fn progress, void *user);

/* ---------------------------------------------------------------------------------------
 * Kernel ridge regression with offsets (eq. 5, 21, 24 of the notes)
 *
 *   pred(x) = f0(x) + K(x, X) (K(X, X) + z I)^-1 (Y - f0(X))
 *
 * K_train is n x n (symmetric), Y and f0_train n x k, K_test_train m x n, f0_test m x k.
 * f0 (the network's outputs at initialisation, or after training for boosting) may be NULL,
 * meaning 0. A fitted model keeps the Cholesky factor and alpha = (K + zI)^-1 (Y - f0), so
 * many test kernels can be predicted from one factorization.
 * ------------------------------------------------------------------------------------- */

/* Flag for ntk_kernel_ridge_fit: the ridge is relative to the mean diagonal of K_train,
 * z = ridge * trace(K)/n (scale-free). Without it the ridge is absolute. */
#define NTK_RIDGE_RELATIVE 1

typedef struct ntk_kernel_ridge ntk_kernel_ridge;

/* Fits the model into a new handle *out (NULL on failure). ridge >= 0; flags 0 or
 * NTK_RIDGE_RELATIVE. max_jitter >= 0: 0 fails with NOT_POSITIVE_DEFINITE when K + zI is not
 * positive definite; > 0 retries with jitter 1e-10, 1e-9, ... times the mean diagonal, up to
 * max_jitter times the mean diagonal, and ntk_kernel_ridge_info reports the jitter used.
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE,
 * OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Memory: 2 n^2 doubles during the fit, n^2 + 2nk kept. */
int ntk_kernel_ridge_fit(int64_t n, int64_t k,
                         const double *k_train, int64_t ldk,
                         const double *y, int64_t ldy,
                         const double *f0_train, int64_t ldf0,
                         double ridge, int flags, double max_jitter,
                         ntk_progress_fn progress, void *user,
                         ntk_kernel_ridge **out);

/* Test predictions pred = f0_test + K_test_train alpha (m x k). f0_test may be NULL.
 * Read-only on the model (thread-safe).
 * Errors: INVALID_ARGUMENT (NULL, ld), DIMENSION_MISMATCH, NON_FINITE, NUMERICAL
 * (overflow), TOO_LARGE. */
int ntk_kernel_ridge_predict(const ntk_kernel_ridge *model, int64_t m,
                             const double *k_test_train, int64_t ldkt,
                             const double *f0_test, int64_t ldf0,
                             double *pred, int64_t ldp);

/* Train predictions f0 + K alpha (n x k), computed as Y - (z + jitter) alpha.
 * pred: n x k, leading dimension ldp >= k. Errors: INVALID_ARGUMENT (NULL, ld).
 * Read-only (thread-safe). */
int ntk_kernel_ridge_train_predictions(const ntk_kernel_ridge *model, double *pred, int64_t ldp);

/* The dual coefficients alpha = (K + (z + jitter) I)^-1 (Y - f0), n x k.
 * alpha: leading dimension lda >= k. Errors: INVALID_ARGUMENT (NULL, ld). Read-only
 * (thread-safe). */
int ntk_kernel_ridge_dual_coefficients(const ntk_kernel_ridge *model, double *alpha, int64_t lda);

/* Sizes, the absolute ridge z used and the jitter added. Each out-pointer may be NULL.
 * Never fails on a valid handle. */
int ntk_kernel_ridge_info(const ntk_kernel_ridge *model, int64_t *n, int64_t *k,
                          double *ridge, double *jitter);

/* Frees the model. NULL and already-freed handles are ignored. */
void ntk_kernel_ridge_free(ntk_kernel_ridge *model);

/* ---------------------------------------------------------------------------------------
 * Ridge regression on explicit features (eq. 3): random features, Jacobian features
 *
 *   beta = (zI + S^T S)^-1 S^T Y  =  S^T (zI + S S^T)^-1 Y
 * ------------------------------------------------------------------------------------- */

#define NTK_FORM_AUTO 0   /* the smaller system: primal (p x p) when p < n, else dual (n x n) */
#define NTK_FORM_PRIMAL 1 /* solve in p x p */
#define NTK_FORM_DUAL 2   /* solve in n x n, the kernel form with K = S S^T */

/* Fits ridge regression of Y (n x k) on features S (n x p) with ridge z >= 0 and writes the
 * weights beta (p x k), the train predictions S beta (n x k) and the test predictions
 * S_test beta (m x k); each output may be NULL (pred_test needs S_test). Both forms give the
 * same results to rounding. With z = 0 the solved system must be positive definite.
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE,
 * OUT_OF_MEMORY, TOO_LARGE, CANCELLED. */
int ntk_features_ridge(int64_t n, int64_t p, int64_t k,
                       const double *s, int64_t lds,
                       const double *y, int64_t ldy,
                       double ridge, int form,
                       int64_t m, const double *s_test, int64_t ldst,
                       double *weights, int64_t ldw,
                       double *pred_train, int64_t ldpt,
                       double *pred_test, int64_t ldpe,
                       ntk_progress_fn progress, void *user);

/* ---------------------------------------------------------------------------------------
 * Spectral solver: gradient flow at any time, ridge paths, filters, ridge selection
 *
 * One eigendecomposition K_train = V diag(lambda) V^T, then for any grid of (t, z) points:
 *
 *   pred_train(t, z) = f0 + K V diag(g) V^T (Y - f0)      (eq. 18)
 *   pred_test(t, z)  = f0* + K_* V diag(g) V^T (Y - f0)   (eq. 20)
 *   g(lambda) = (1 - exp(-eta t (lambda + z) / N)) / (lambda + z)
 *
 * the gradient flow of the MSE loss (1/N) sum 1/2 (f - y)^2 (+ ridge z/(2N) |theta - theta0|^2)
 * of the linearised model, N = n * k target entries, learning rate eta. t = +INFINITY gives
 * kernel ridge regression with ridge z (z = 0: kernel regression). g -> eta t / N as
 * lambda + z -> 0 (evaluated with expm1: no 0/0).
 * Eigenvalue policy (fixed at creation): negative eigenvalues are clamped to 0
 * (NTK_NEGATIVE_CLAMP, reported by ntk_spectral_info) or rejected (NTK_NEGATIVE_ERROR: any
 * eigenvalue below -cutoff fails with NOT_POSITIVE_DEFINITE). Eigenvalues <= cutoff =
 * n * DBL_EPSILON * lambda_max are the null space: predictions leave those directions out
 * (for a PSD kernel the test kernel is orthogonal to them), so t = inf with z = 0 is the
 * minimum-norm interpolant K_* K^+ (Y - f0), finite for singular kernels.
 * ------------------------------------------------------------------------------------- */

#define NTK_NEGATIVE_CLAMP 0
#define NTK_NEGATIVE_ERROR 1

typedef struct ntk_spectral ntk_spectral;

/* Decomposes K (n x n, symmetric) into a new handle *out (NULL on failure).
 * Errors: as ntk_eigh; NOT_POSITIVE_DEFINITE under NTK_NEGATIVE_ERROR. Memory: n^2 doubles. */
int ntk_spectral_create(int64_t n, const double *k, int64_t ldk, int negative_policy,
                        ntk_progress_fn progress, void *user, ntk_spectral **out);

/* The order n, the smallest eigenvalue before clamping, how many were clamped, how many are
 * treated as zero (the null space, clamped ones included) and the cutoff. Out-pointers may be
 * NULL.
 * Never fails on a valid handle. */
int ntk_spectral_info(const ntk_spectral *solver, int64_t *n, double *min_raw_eigenvalue,
                      int64_t *clamped, int64_t *null_count, double *cutoff);

/* The eigenvalues after the policy (ascending, all >= 0): n doubles.
 * Errors: INVALID_ARGUMENT (w NULL with n > 0). Read-only (thread-safe). */
int ntk_spectral_eigenvalues(const ntk_spectral *solver, double *w);

/* Predictions at `count` grid points (times[i], ridges[i]); times NULL means all +INFINITY
 * (kernel ridge), ridges NULL means all 0. times >= 0 (+INFINITY allowed), ridges >= 0,
 * learning_rate > 0. Y, f0_train: n x k (f0 may be NULL). K_test_train: m x n, or NULL with
 * m = 0 for no test predictions; f0_test: m x k or NULL.
 * Outputs (each may be NULL) are contiguous: pred_train count x n x k, pred_test count x m x k
 * (element [i][a][c] at (i * rows + a) * k + c); they must not overlap the inputs.
 * Cost: O(n^2 k + m n^2) once and O((n + m) n k) per point, in GEMMs. Read-only (thread-safe).
 * Errors: INVALID_ARGUMENT (NULL, ld, time < 0, ridge < 0, learning_rate <= 0),
 * DIMENSION_MISMATCH, NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE. */
int ntk_spectral_predict(const ntk_spectral *solver, int64_t k,
                         const double *y, int64_t ldy,
                         const double *f0_train, int64_t ldf0,
                         int64_t count, const double *times, const double *ridges,
                         double learning_rate,
                         int64_t m, const double *k_test_train, int64_t ldkt,
                         const double *f0_test, int64_t ldf0t,
                         double *pred_train, double *pred_test);

/* The dual coefficients of one grid point (time, ridge, learning_rate as in
 * ntk_spectral_predict): coef = V diag(g(lambda)) V^T (Y - f0_train), n x k (leading dimension
 * ldc >= k), so that predictions at any points are f0(x) + K(x, X) coef — a fitted model to keep
 * after the solver is freed (what ntk_spectral_predict computes for one test kernel, with no
 * test points needed in advance). Y, f0_train (NULL: 0): n x k; coef may be the same memory as
 * Y or f0_train (they are read first). Null-space directions are left out (time = +INFINITY,
 * ridge = 0: the minimum-norm interpolant's K^+ (Y - f0)).
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (NULL, ld, time < 0, ridge < 0, learning_rate <= 0),
 * NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY. Cost: O(n^2 k). Read-only (thread-safe). */
int ntk_spectral_dual_coefficients(const ntk_spectral *solver, int64_t k,
                                   const double *y, int64_t ldy,
                                   const double *f0_train, int64_t ldf0,
                                   double time, double ridge, double learning_rate,
                                   double *coef, int64_t ldc);

/* The filters of `count` grid points (as ntk_spectral_predict, with N = n_targets >= 1):
 * values[i * n + j] = g_i(lambda_j), shrinkage[i * n + j] = lambda_j g_i(lambda_j) in [0, 1]
 * (eq. 22: lambda/(lambda + z) for ridge, 1 - exp(-eta t lambda/N) for early stopping), and
 * the effective degrees of freedom dof[i] = sum_j lambda_j g_i(lambda_j). Null-space
 * directions have g = 0. Each output may be NULL.
 * Errors: INVALID_ARGUMENT (grid values, n_targets < 1), TOO_LARGE. Read-only (thread-safe). */
int ntk_spectral_filters(const ntk_spectral *solver, int64_t count,
                         const double *times, const double *ridges,
                         double learning_rate, int64_t n_targets,
                         double *values, double *shrinkage, double *dof);

#define NTK_CRITERION_GCV 0 /* generalized cross-validation */
#define NTK_CRITERION_LOO 1 /* exact leave-one-out error */

/* Scores every ridge of ridges[count] (each >= 0) for predicting Y (n x k) with offsets
 * f0_train (NULL: 0), by closed forms on the eigendecomposition (no refits), and writes
 * scores[count] (mean squared error over the n k entries; +INFINITY where undefined: GCV of an
 * interpolating fit, LOO with K + zI singular) and *best, the index of the first minimum.
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, NUMERICAL (no finite score).
 * Read-only (thread-safe). */
int ntk_spectral_select_ridge(const ntk_spectral *solver, int64_t k,
                              const double *y, int64_t ldy,
                              const double *f0_train, int64_t ldf0,
                              int64_t count, const double *ridges, int criterion,
                              double *scores, int64_t *best);

/* The critical learning rate of gradient descent on the linearised model with MSE,
 * eta = 2 N / lambda_max (+INFINITY for a zero kernel), N = n_targets >= 1, and lambda_max.
 * Out-pointers may be NULL.
 * Errors: INVALID_ARGUMENT (n_targets < 1). Read-only (thread-safe). */
int ntk_spectral_max_learning_rate(const ntk_spectral *solver, int64_t n_targets,
                                   double *eta, double *lambda_max);

/* Frees the solver. NULL and already-freed handles are ignored. */
void ntk_spectral_free(ntk_spectral *solver);

/* The same critical learning rate straight from K (n x n, symmetric), computing only the
 * eigenvalues. Errors: as ntk_eigh. */
int ntk_max_learning_rate(int64_t n, const double *k, int64_t ldk, int64_t n_targets,
                          double *eta, double *lambda_max,
                          ntk_progress_fn progress, void *user);

/* ---------------------------------------------------------------------------------------
 * Dense networks (MLP) and their empirical neural tangent kernel (eq. 1-5, 11)
 *
 * f(x) = z_L, z_l = a_l h_l W_l + c_l b_l, h_0 = x, h_{l+1} = phi(z_l), with W_l fan_in x fan_out.
 *   NTK parameterization:      a_l = W_std / sqrt(fan_in), c_l = b_std, W, b ~ N(0, 1);
 *   standard parameterization: a_l = c_l = 1, W ~ N(0, W_std^2 / fan_in), b ~ N(0, b_std^2).
 * Parameters theta: [W_0 (row-major fan_in x fan_out), b_0, W_1, b_1, ...], biases absent
 * without bias. Initial values: SplitMix64(seed) words u give uniforms (u >> 11) * 2^-53; pairs
 * (u1, u2) give normals sqrt(-2 ln(1 - u1)) cos(2 pi u2), then ... sin(2 pi u2); theta is
 * filled in layout order, each draw times the entry's standard deviation.
 * The empirical NTK is K_cc'(x, x') = sum over all parameters p of df_c(x)/dtheta_p *
 * df_c'(x')/dtheta_p (no division by width or n), as neural-tangents.
 * An MLP handle may be shared by threads; ntk_mlp_set_parameters swaps the parameters
 * atomically (a computation already running keeps the old ones).
 * ------------------------------------------------------------------------------------- */

#define NTK_ACTIVATION_IDENTITY 0
#define NTK_ACTIVATION_RELU 1
#define NTK_ACTIVATION_LEAKY_RELU 2 /* slope in activation_parameter */
#define NTK_ACTIVATION_ABS 3
#define NTK_ACTIVATION_TANH 4
#define NTK_ACTIVATION_ERF 5
#define NTK_ACTIVATION_SIGMOID 6
#define NTK_ACTIVATION_GELU 7 /* exact x * Phi(x) */
#define NTK_ACTIVATION_SOFTPLUS 8
#define NTK_ACTIVATION_SIN 9

#define NTK_PARAMETERIZATION_NTK 0
#define NTK_PARAMETERIZATION_STANDARD 1

typedef struct ntk_mlp ntk_mlp;

/* Creates an MLP with input_dim >= 1 inputs, num_hidden >= 0 hidden layers of widths[i] >= 1
 * units (widths may be NULL when num_hidden = 0), output_dim >= 1 outputs, an NTK_ACTIVATION_*
 * (activation_parameter: the leaky_relu slope, else ignored), w_std, b_std >= 0, bias 0 or 1,
 * an NTK_PARAMETERIZATION_*, and parameters drawn from `seed`. *out is NULL on failure.
 * Errors: INVALID_ARGUMENT (sizes, enums, NULL widths or out), NON_FINITE (w_std, b_std,
 * activation_parameter), TOO_LARGE (P overflows, or a width beyond 2^31 - 1), OUT_OF_MEMORY.
 * Memory: P doubles. */
int ntk_mlp_create(int64_t input_dim, int64_t num_hidden, const int64_t *widths, int64_t output_dim,
                   int activation, double activation_parameter, double w_std, double b_std,
                   int bias, int parameterization, uint64_t seed, ntk_mlp **out);

/* Sizes: input dimension d, output dimension k, number of hidden layers, parameter count P.
 * Out-pointers may be NULL.
 * Never fails on a valid handle. */
int ntk_mlp_info(const ntk_mlp *mlp, int64_t *input_dim, int64_t *output_dim, int64_t *num_hidden,
                 int64_t *num_parameters);

/* The hidden widths (num_hidden int64_t).
 * Errors: INVALID_ARGUMENT (widths NULL with num_hidden > 0). */
int ntk_mlp_widths(const ntk_mlp *mlp, int64_t *widths);

/* Copies theta (count must be P) out of / into the network. set rejects NaN/Inf.
 * Errors: INVALID_ARGUMENT (NULL), DIMENSION_MISMATCH (count != P), NON_FINITE (set).
 * get is read-only; set changes the handle (see Threads above). */
int ntk_mlp_get_parameters(const ntk_mlp *mlp, double *theta, int64_t count);
int ntk_mlp_set_parameters(ntk_mlp *mlp, const double *theta, int64_t count);

/* f(X): X is n x d (leading dimension ldx), out n x k (leading dimension ldo).
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY,
 * TOO_LARGE. Read-only (thread-safe). */
int ntk_mlp_forward(const ntk_mlp *mlp, int64_t n, const double *x, int64_t ldx, double *out, int64_t ldo);

/* The Jacobian df/dtheta, n x k x P contiguous: jac[(s * k + c) * P + p] = df_c(x_s)/dtheta_p.
 * Memory: the output alone, n k P doubles (TOO_LARGE if that overflows).
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY,
 * TOO_LARGE. Read-only (thread-safe). */
int ntk_mlp_jacobian(const ntk_mlp *mlp, int64_t n, const double *x, int64_t ldx, double *jac);

#define NTK_OUTPUT_MEAN 0       /* mean over outputs of K_cc: n1 x n2 */
#define NTK_OUTPUT_FULL 1       /* every K_cc': n1 x n2 x k x k */
#define NTK_OUTPUT_PER_OUTPUT 2 /* K_cc for each c: n1 x n2 x k */

#define NTK_METHOD_STRUCTURED 0 /* per layer: activation Gram (.) signal Gram; no Jacobian */
#define NTK_METHOD_JACOBIAN 1   /* explicit Jacobian chunks contracted (reference path) */

/* The empirical NTK between the rows of X1 (n1 x d) and X2 (n2 x d; NULL with n2 = n1 for the
 * symmetric kernel of X1, computed once per pair and exactly symmetric) into `out`, contiguous
 * with the shape of the NTK_OUTPUT_* form. memory_limit: bytes for per-sample activations and
 * signals (0: 64 MiB); within it all forward/backward passes run once, beyond it blocks of
 * samples are recomputed (slower, bounded memory; the n x P Jacobian is never formed).
 * Progress is reported per 256 x 256 tile.
 * Errors: INVALID_ARGUMENT (NULL, ld, enums, memory_limit < 0), DIMENSION_MISMATCH,
 * NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Read-only (thread-safe). */
int ntk_empirical_ntk(const ntk_mlp *mlp, int64_t n1, const double *x1, int64_t ld1,
                      int64_t n2, const double *x2, int64_t ld2,
                      int output, int method, int64_t memory_limit, double *out,
                      ntk_progress_fn progress, void *user);

/* The diagonal K(x_s, x_s) alone (O(n P) work): n doubles for NTK_OUTPUT_MEAN, n x k for
 * NTK_OUTPUT_PER_OUTPUT (NTK_OUTPUT_FULL is rejected).
 * Errors: INVALID_ARGUMENT (NULL, ld, output), NON_FINITE, NUMERICAL (overflow),
 * OUT_OF_MEMORY, TOO_LARGE. Read-only (thread-safe). */
int ntk_empirical_ntk_diagonal(const ntk_mlp *mlp, int64_t n, const double *x, int64_t ldx,
                               int output, double *out);

/* The tangent kernel of any model from its Jacobians (eq. 4): J1 is n1 x k x P, J2 n2 x k x P
 * contiguous, or NULL with n2 = n1 for J1's own kernel. Output forms as ntk_empirical_ntk;
 * NTK_OUTPUT_MEAN is (1/k) J1 J2^T over the flattened (k P) rows, one Gram matrix.
 * Errors: INVALID_ARGUMENT (NULL, output), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY,
 * TOO_LARGE, CANCELLED. */
int ntk_jacobian_ntk(int64_t n1, int64_t n2, int64_t k, int64_t p,
                     const double *j1, const double *j2, int output, double *out,
                     ntk_progress_fn progress, void *user);

/* Frees the network. NULL and already-freed handles are ignored. */
void ntk_mlp_free(ntk_mlp *mlp);

/* ---------------------------------------------------------------------------------------
 * Infinite-width kernels of the same architectures: NNGP Sigma and NTK Theta
 *
 *   input:          Sigma = x.x'/d, Theta = 0
 *   dense (ntk):    Sigma <- W_std^2 Sigma + b_std^2,  Theta <- Sigma + W_std^2 Theta
 *   dense (std):    Theta <- fan_in Sigma + 1 + W_std^2 Theta,  Sigma <- W_std^2 Sigma + b_std^2
 *   nonlinearity:   Sigma <- E[phi(u) phi(v)],  Theta <- Theta E[phi'(u) phi'(v)]
 * (b_std^2 and +1 only with biases), as neural-tangents. Only the MLP's architecture is used;
 * in the NTK parameterization widths do not matter (a network with widths of 1 is a cheap
 * description); in the standard one the NTK grows with width and the actual widths are used.
 * relu, leaky_relu, abs, erf, sin and identity have closed forms; tanh, sigmoid, gelu and
 * softplus use 2-D Gauss-Hermite quadrature with quadrature_points^2 evaluations per pair
 * (0: 64 points). Its accuracy falls with the pre-activation variance q: measured against the
 * closed forms of erf and sin, ~1e-13 relative for q <= 1 and |rho| <= 0.9, ~6e-4 at q = 4,
 * |rho| = 0.99; raise quadrature_points (<= 512) for large variances.
 * ------------------------------------------------------------------------------------- */

/* Sigma(X1, X2) into nngp and Theta(X1, X2) into ntk (each n1 x n2 contiguous; either may be
 * NULL, not both). X2 NULL with n2 = n1: X1's own kernels, exactly symmetric, with the exact
 * diagonal. Progress per 256 x 256 tile.
 * Errors: INVALID_ARGUMENT (NULL, ld, quadrature_points outside 0..512),
 * NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Read-only (thread-safe). */
int ntk_infinite_width_kernels(const ntk_mlp *mlp, int64_t n1, const double *x1, int64_t ld1,
                               int64_t n2, const double *x2, int64_t ld2, int quadrature_points,
                               double *nngp, double *ntk, ntk_progress_fn progress, void *user);

/* Sigma(x, x) and Theta(x, x) for each row of X (n doubles each; either may be NULL).
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE, NUMERICAL (overflow),
 * OUT_OF_MEMORY, TOO_LARGE. Read-only (thread-safe). */
int ntk_infinite_width_diagonal(const ntk_mlp *mlp, int64_t n, const double *x, int64_t ldx,
                                double *nngp, double *ntk);

/* ---------------------------------------------------------------------------------------
 * Training the network (eq. 6-7), the moving kernel, and function-space dynamics (eq. 13)
 * ------------------------------------------------------------------------------------- */

#define NTK_LOSS_MSE 0           /* (1/N) sum 1/2 (f - y)^2 over all N = n k entries */
#define NTK_LOSS_CROSS_ENTROPY 1 /* softmax over k > 1 outputs (targets: probability rows), or
                                    the logistic loss for k = 1 (targets in [0, 1]); mean over rows */

/* Called after every epoch with the training loss; return non-zero to stop. */
typedef int (*ntk_epoch_fn)(void *user, int64_t epoch, double loss);

/* The loss over the n rows of X (targets Y, n x k) and its gradient d loss / d theta
 * (P doubles, may be NULL), by backpropagation.
 * Errors: INVALID_ARGUMENT (NULL, ld, loss, cross-entropy targets that are not
 * probabilities), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE. Read-only (thread-safe). */
int ntk_mlp_loss_gradient(const ntk_mlp *mlp, int64_t n, const double *x, int64_t ldx,
                          const double *y, int64_t ldy, int loss, double *value, double *gradient);

/* Trains the network in place for `epochs` epochs: each step v <- momentum v + grad,
 * theta <- theta - learning_rate v on a minibatch of batch_size rows (0: all rows, full-batch
 * gradient descent), batches reshuffled every epoch from `seed`.
 * losses (epochs + 1 doubles): the loss on all rows after each epoch, losses[0] at the start;
 * NaN after the last epoch run. Training stops when the loss becomes NaN/Inf (*diverged = 1;
 * the network keeps its last finite parameters) or when `callback` (may be NULL) returns
 * non-zero; *epochs_run tells how far it got.
 * Kernel snapshots: after each of the num_snapshots strictly increasing snapshot_epochs (in
 * 0..epochs), the empirical NTK (mean over outputs) of the m probe rows X_probe is written to
 * kernels (num_snapshots x m x m, may be NULL) and its largest eigenvalue to lambda_max (may
 * be NULL); NaN for snapshots not reached. The network's parameters change: do not use it
 * from other threads meanwhile (readers see the parameters of the last snapshot).
 * Errors: INVALID_ARGUMENT (NULL, ld, loss, learning_rate <= 0, momentum outside [0, 1),
 * snapshot epochs not increasing or beyond epochs, targets), NON_FINITE, OUT_OF_MEMORY,
 * TOO_LARGE. Divergence is not an error (*diverged = 1, NTK_OK). */
int ntk_mlp_train(ntk_mlp *mlp, int64_t n, const double *x, int64_t ldx, const double *y, int64_t ldy,
                  int loss, double learning_rate, int64_t epochs, int64_t batch_size, double momentum,
                  uint64_t seed, int64_t num_snapshots, const int64_t *snapshot_epochs,
                  int64_t m, const double *x_probe, int64_t ldp,
                  double *losses, double *kernels, double *lambda_max, int64_t *epochs_run,
                  int *diverged, ntk_epoch_fn callback, void *user);

/* Kernel distance 1 - <A, B>_F / (|A|_F |B|_F) of two arrays of `count` doubles: 0 for
 * identical kernels, invariant to scaling. INVALID_ARGUMENT for a zero kernel.
 * Read-only inputs; thread-safe. */
int ntk_kernel_distance(int64_t count, const double *a, const double *b, double *distance);

/* Kernel-target alignment <K, Y Y^T>_F / (|K|_F |Y Y^T|_F), K n x n, Y n x k (contiguous).
 * Errors: INVALID_ARGUMENT (NULL; zero kernel or zero targets: undefined),
 * NON_FINITE. Thread-safe. */
int ntk_kernel_alignment(int64_t n, int64_t k, const double *kernel, const double *y, double *alignment);

/* Function-space gradient flow for any loss with a fixed kernel (eq. 13):
 *   d f_train/dt = -eta K_train grad_f L(f_train),  d f_test/dt = -eta K_test_train grad_f L(f_train)
 * from f0 (NULL: 0), by adaptive Dormand-Prince 5(4) with tolerances rtol, atol > 0, to every
 * time in times[count] (finite, >= 0, any order). Outputs contiguous: pred_train
 * count x n x k, pred_test count x m x k (K_test_train NULL with m = 0 for none). For MSE this
 * is the closed form of ntk_spectral_predict; long MSE runs are stiff and slow here.
 * NUMERICAL after 1e6 steps.
 * Errors: INVALID_ARGUMENT (NULL, ld, loss, times, learning_rate, tolerances, targets),
 * DIMENSION_MISMATCH, NON_FINITE, NUMERICAL, OUT_OF_MEMORY, TOO_LARGE, CANCELLED. */
int ntk_gradient_flow_ode(int64_t n, int64_t k, const double *k_train, int64_t ldk,
                          const double *y, int64_t ldy, const double *f0_train, int64_t ldf0,
                          int64_t count, const double *times, int loss, double learning_rate,
                          int64_t m, const double *k_test_train, int64_t ldkt,
                          const double *f0_test, int64_t ldf0t, double rtol, double atol,
                          double *pred_train, double *pred_test, ntk_progress_fn progress, void *user);

/* ---------------------------------------------------------------------------------------
 * Diagnostics
 * ------------------------------------------------------------------------------------- */

/* The number of live handles of every type in the process (for leak checks in tests).
 * Never fails. */
int64_t ntk_live_handle_count(void);

#ifdef __cplusplus
}
#endif

#endif /* NTK_H */
