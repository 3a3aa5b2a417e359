/*
 * ntk.h — the C interface of libntk, a library for Neural Tangent Kernels.
 *
 * This header is the contract: the library follows it, never the reverse. It compiles as
 * C99 and as C++ (-Wall -Wextra -pedantic -Werror).
 *
 * Link: cc prog.c -I<repo>/include -L<dir of libntk.so> -lntk -Wl,-rpath,<dir of libntk.so>
 *
 * Names (one name means one thing everywhere below)
 * -------------------------------------------------
 *   n        training points (rows of X, Y, K_train)       m     test points (rows of K_test_train)
 *   k        outputs of a network / columns of Y           d     input dimension (columns of X)
 *   c        centres C of a Nystrom model (c x d)          t     training time (times[] of a grid)
 *   p        parameters (Jacobian columns) or features     nrhs  right-hand sides of a solve
 *   n1, n2   rows of the two input sets X1, X2 of a kernel K(X1, X2)
 *   count    entries of a grid (times, ridges) or of a flat array
 *   K_*      kernel matrices (K_train n x n, K_test_train m x n); X* inputs; Y targets;
 *            f0* offsets (the network's outputs at initialisation); ld* leading dimensions.
 *
 * Conventions that hold for every function below
 * ------------------------------------------------
 * Status      Every fallible function returns an int: NTK_OK (0) or a negative ntk_status code.
 *             ntk_status_string(code) names the code; ntk_last_error() returns the calling
 *             thread's message for its last failed call, naming the function and the argument,
 *             e.g. "ntk_gram: A (row 3, column 0) is nan, must be finite". Messages are UTF-8
 *             (they may contain symbols such as "≥" or "×"). No input makes the library abort,
 *             exit or print: bad arguments are reported.
 * Arrays      Matrices are row-major double arrays: element (i, j) of an r x c matrix M with
 *             leading dimension ldm is M[i * ldm + j]. Every 2-D array, input or output, has a
 *             leading dimension, and ldm >= max(c, 1) whenever the pointer is not NULL (a
 *             larger ldm passes a sub-matrix of a larger array). When a pointer is NULL (where
 *             allowed, or because its matrix has no elements) its leading dimension is ignored.
 *             Arrays of three or more dimensions (Jacobians, grids of predictions) are
 *             contiguous, with the layout stated at the function.
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
 * Enums       Every flag is a typed enum (ntk_activation, ntk_output_form, ...): passing one
 *             kind of flag where another is expected is a compiler warning (-Wenum-conversion,
 *             part of -Wextra in C; an error in C++). A value outside the enum fails with
 *             NTK_ERR_INVALID_ARGUMENT.
 * Options     Calls with many settings take a `const ntk_*_options *`. Each options struct
 *             begins with `size_t size`, the struct's size as the caller compiled it. Fill one
 *             with its ntk_*_options_init(&options) (or the NTK_*_OPTIONS_INIT initialiser),
 *             which sets `size` and every default, then change the fields you need. A NULL
 *             options pointer means all defaults. A struct from an older header (smaller
 *             `size`) gets the defaults for the fields it does not have; a larger struct from
 *             a newer header is accepted if the bytes this library does not know are zero,
 *             else NTK_ERR_INVALID_ARGUMENT. `size` below sizeof(size_t) is invalid.
 * Data        ntk_targets and ntk_test_kernel describe the data of a regression (targets with
 *             offsets; a test kernel with offsets). They are plain descriptors whose layout is
 *             fixed for 1.x; settings never go into them.
 * Progress    Long operations report progress to an ntk_progress_fn with a user pointer: as
 *             their last two arguments (before an out-handle), or, in calls that take an
 *             options struct, in its `progress` and `progress_user` fields (NULL: none). The
 *             callback receives the fraction done, non-decreasing in [0, 1]; returning
 *             non-zero cancels the operation, which then returns NTK_ERR_CANCELLED with its
 *             outputs unspecified (handles passed in stay valid). It is called on the thread
 *             that called the library. The training callbacks (ntk_epoch_fn, ntk_snapshot_fn)
 *             follow the same rule: non-zero stops training (not an error: NTK_OK).
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
 *
 * Stability
 * ---------
 * From 1.0 on, within a major version: no function, enum constant, struct field or macro in
 * this header is removed or changes meaning or type; enum values keep their numbers; options
 * structs only grow at the end (their `size` tells the library which fields you have), so a
 * program built against 1.x runs with any later 1.y library. ntk_targets, ntk_test_kernel and
 * the callback types never change. New functions, enum constants and options fields may be
 * added in minor versions. Anything experimental is declared in a section headed
 * "Experimental" and its names carry the prefix ntk_x_ / NTK_X_; it may change in any minor
 * version (today: the spectral calculus, ntk_x_spectrum_*). Version 0.x makes no such promise;
 * CHANGELOG.md lists every change of signature.
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
#define NTK_VERSION_MINOR 2
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

/* The status codes every fallible function returns (as int). */
typedef enum ntk_status {
    NTK_OK = 0,
    NTK_ERR_INVALID_ARGUMENT = -1,      /* NULL pointer, negative size, bad flag or scalar */
    NTK_ERR_DIMENSION_MISMATCH = -2,    /* sizes that do not fit together */
    NTK_ERR_NON_FINITE = -3,            /* NaN or Inf in the input */
    NTK_ERR_NOT_POSITIVE_DEFINITE = -4, /* Cholesky of a matrix that is not SPD */
    NTK_ERR_OUT_OF_MEMORY = -5,         /* a workspace could not be allocated */
    NTK_ERR_CANCELLED = -6,             /* the progress callback returned non-zero */
    NTK_ERR_NUMERICAL = -7,             /* a numerical routine failed (no convergence) */
    NTK_ERR_TOO_LARGE = -8,             /* a size beyond what the library can address */
    NTK_ERR_INVALID_HANDLE = -9,        /* NULL, freed, foreign or mistyped handle */
    NTK_ERR_INTERNAL = -10,             /* a bug in libntk: please report it */
    NTK_ERR_CALLBACK = -11              /* a caller's callback (a model's product) returned non-zero */
} ntk_status;

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
 * Data parallelism: one part of a data set split by rows over several processes
 *
 * The large-scale solvers (ntk_nystrom_fit_centers, ntk_nystrom_fit_kernel,
 * ntk_empirical_ridge_fit, ntk_empirical_gradient_flow) can fit on rows spread over P
 * processes: each process passes its own rows and an ntk_reduce_fn in the options. At fixed
 * points of the algorithm (the same points, in the same order and with the same count on every
 * process) the solver fills a buffer with its partial sums and calls reduce(values, count,
 * user), which must replace the count doubles by their elementwise sum over all processes
 * (MPI_Allreduce with MPI_SUM does this; libntk_mpi, include/ntk_mpi.h, supplies it). Every
 * process then holds the model fitted on all the rows, with n the total. What is summed: for
 * Nystrom, n, K_nm^T K_nm and K_nm^T (Y - f0) (one reduction, direct solver) or one c x k
 * product per CG iteration; for the matrix-free empirical NTK, J^T v (P parameters x k) and the
 * CG dot products per iteration; for the Lanczos flow, n, J^T q and four inner products per
 * step, and J^T Phi once for the test predictions (every process passes test points, its own,
 * or none does). The centres must be the same points on every process. A non-zero return stops
 * the call with NTK_ERR_CANCELLED ("the data partition's reduction failed"). NULL: no
 * partition.
 * ------------------------------------------------------------------------------------- */
typedef int (*ntk_reduce_fn)(double *values, int64_t count, void *user);

/* How often a long operation reports: at 0 and 1 and at least every ~0.1 s of work in
 * between (kernel tiles, Cholesky row chunks, ODE steps, training epochs), so a callback that
 * asks to cancel takes effect within a fraction of a second. The exception is the symmetric
 * eigensolver (ntk_eigh, ntk_spectral_create, ntk_max_learning_rate and the other spectral
 * solvers): one LAPACK DSYEVD call that cannot be interrupted, measured 0.8 s at
 * n = 2000 and 7 s at n = 4000 on two cores (cubic: about a minute at n = 8000);
 * cancellation takes effect when it ends. */

/* ---------------------------------------------------------------------------------------
 * Log
 * ------------------------------------------------------------------------------------- */

/* Levels of the library's log messages; the values are Python's logging levels. */
typedef enum ntk_log_level {
    NTK_LOG_DEBUG = 10,   /* details for debugging the library */
    NTK_LOG_INFO = 20,    /* decisions: method, blocks and memory, BLAS kernels, quadrature */
    NTK_LOG_WARNING = 30  /* may cost accuracy or time: generic BLAS kernels, jitter added,
                             negative eigenvalues clamped, divergent training */
} ntk_log_level;

/* Receives one log message, a single line without newline (valid during the call only). */
typedef void (*ntk_log_fn)(void *user, ntk_log_level level, const char *message);

/* Sets the process-wide log handler: every later message at or above min_level goes to
 * handler(user, level, message); NULL (the default) logs nothing. Setting a handler first
 * logs the BLAS in use (INFO, and WARNING for generic kernels). The handler runs on the
 * thread doing the work, possibly several at once, outside any lock: it may set another
 * handler but must be thread-safe if the library is used from several threads.
 * Errors: INVALID_ARGUMENT (min_level not a level). */
int ntk_set_log_handler(ntk_log_fn handler, void *user, ntk_log_level min_level);

/* ---------------------------------------------------------------------------------------
 * Memory budget
 *
 * Blocked computations (the empirical NTK's per-sample activations, the Nystrom solvers'
 * kernel blocks and cache) size their working memory to a budget: the call's own limit when
 * it has one (an options field; 0 = none), else the process-wide budget set here, else a
 * quarter of the machine's physical memory (1 GiB if that cannot be read). A call whose
 * smallest working set exceeds its budget fails with NTK_ERR_OUT_OF_MEMORY before any work.
 * The budget bounds working memory, not the caller's inputs and outputs.
 * ------------------------------------------------------------------------------------- */

/* Sets the process-wide memory budget in bytes (0: automatic, a quarter of physical memory).
 * Thread-safe; calls already running keep the budget they started with.
 * Errors: INVALID_ARGUMENT (bytes < 0). */
int ntk_set_memory_budget(int64_t bytes);

/* The process-wide budget in effect and the physical memory (0 if unknown), in bytes.
 * Either pointer may be NULL. Never fails. */
int ntk_memory_budget(int64_t *bytes, int64_t *physical);

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

/* Where the BLAS in use comes from: the files the dynamic loader opened for OpenBLAS and for
 * LAPACKE (the shared objects defining openblas_get_corename and LAPACKE_dpotrf), e.g. the
 * system's /usr/lib/x86_64-linux-gnu/libopenblas.so.0 or the copy bundled in a Python wheel
 * (.../libntk.libs/libopenblasp-...so). Loader-owned strings, valid while libntk is loaded;
 * NULL where the loader does not say. Each out-pointer may be NULL. Never fails. */
int ntk_blas_library(const char **blas_path, const char **lapacke_path);

/* Sets the number of threads OpenBLAS uses per call, 1 <= num_threads <= 1024 (process-wide).
 * One thread is often best when the caller runs its own threads, or when another process
 * keeps a core busy (threaded LAPACK slows down badly on a loaded core).
 * Not thread-safe: do not call while another thread is inside the library. */
int ntk_blas_set_num_threads(int num_threads);

/* ---------------------------------------------------------------------------------------
 * Data descriptors shared by the regression solvers
 * ------------------------------------------------------------------------------------- */

/* Training targets: Y (n x k, leading dimension ldy) and the offsets f0 (n x k, leading
 * dimension ldf0; NULL means 0). n comes from the kernel or solver they go with. The offsets
 * are the model's outputs at initialisation (linearised network), after training (boosting),
 * or absent (kernel regression). */
typedef struct ntk_targets {
    int64_t k;
    const double *Y;
    int64_t ldy;
    const double *f0;
    int64_t ldf0;
} ntk_targets;

/* A test set seen through its kernel: K_test_train (m x n, leading dimension ldk), the
 * kernel between m test points and the n training points, and the test offsets f0
 * (m x k, leading dimension ldf0; NULL means 0). */
typedef struct ntk_test_kernel {
    int64_t m;
    const double *K_test_train;
    int64_t ldk;
    const double *f0;
    int64_t ldf0;
} ntk_test_kernel;

/* A grid of `count` points (times[i], ridges[i]) of kernel gradient flow with MSE at learning
 * rate eta (see "Spectral solver"): times >= 0, +INFINITY for the limit t = inf (kernel ridge);
 * ridges >= 0, absolute. times NULL means all +INFINITY, ridges NULL all 0; learning_rate > 0
 * (1 is the usual choice; it only scales time). Every solver that answers for a grid of
 * (time, ridge) points takes one; calls that take times alone (the ODE, the ensemble, the
 * Lanczos flow) have the learning rate in their options. A plain descriptor, fixed for 1.x. */
typedef struct ntk_grid {
    int64_t count;
    const double *times;
    const double *ridges;
    double learning_rate;
} ntk_grid;

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
             const double *A, int64_t lda,
             const double *B, int64_t ldb,
             double *G, int64_t ldg,
             ntk_progress_fn progress, void *progress_user);

/* ---------------------------------------------------------------------------------------
 * Cholesky solves of (K + ridge * I) sol = rhs
 * ------------------------------------------------------------------------------------- */

/* Solves (K + ridge * I) sol = rhs for sol, K symmetric n x n, rhs and sol n x nrhs,
 * ridge >= 0 (absolute). sol may be the same buffer as rhs (same pointer and leading
 * dimension) to solve in place, but must not partly overlap it.
 * Errors: INVALID_ARGUMENT (NULL, negative ridge, K not symmetric), DIMENSION_MISMATCH,
 * NON_FINITE, NOT_POSITIVE_DEFINITE (message gives the order of the failing leading minor;
 * add a ridge), OUT_OF_MEMORY (an n x n workspace is needed), TOO_LARGE, CANCELLED. */
int ntk_cholesky_solve(int64_t n, int64_t nrhs,
                       const double *K, int64_t ldk, double ridge,
                       const double *rhs, int64_t ldrhs,
                       double *sol, int64_t ldsol,
                       ntk_progress_fn progress, void *progress_user);

/* A Cholesky factor L L^T = K + ridge * I kept for many solves (opaque, immutable). */
typedef struct ntk_cholesky_factor ntk_cholesky_factor;

/* Factors K + ridge * I (as ntk_cholesky_solve; same errors) into a new handle stored in
 * *out. On failure *out is set to NULL (when out is not NULL). Free with
 * ntk_cholesky_factor_free. Memory: n * n doubles. */
int ntk_cholesky_factor_create(int64_t n, const double *K, int64_t ldk, double ridge,
                               ntk_progress_fn progress, void *progress_user,
                               ntk_cholesky_factor **out);

/* Solves (K + ridge * I) sol = rhs with the factor; rhs and sol are n x nrhs. Read-only on
 * the handle: several threads may solve with one factor at once. In-place as
 * ntk_cholesky_solve.
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE (rhs), TOO_LARGE. */
int ntk_cholesky_factor_solve(const ntk_cholesky_factor *factor, int64_t nrhs,
                              const double *rhs, int64_t ldrhs,
                              double *sol, int64_t ldsol);

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
int ntk_eigh(int64_t n, const double *K, int64_t ldk,
             double *w, double *V, int64_t ldv,
             ntk_progress_fn progress, void *progress_user);

/* ---------------------------------------------------------------------------------------
 * Kernel ridge regression with offsets
 *
 *   pred(x) = f0(x) + K(x, X) (K(X, X) + z I)^-1 (Y - f0(X))
 *
 * the prediction of the linearised network trained to convergence with a ridge z (z = 0:
 * kernel regression; f0 the network's initial outputs, or after-training outputs for
 * boosting). A fitted model keeps the Cholesky factor and alpha = (K + zI)^-1 (Y - f0), so
 * many test kernels can be predicted from one factorization.
 * ------------------------------------------------------------------------------------- */

/* How a ridge is measured. */
typedef enum ntk_ridge_scale {
    NTK_RIDGE_ABSOLUTE = 0, /* z = ridge */
    NTK_RIDGE_RELATIVE = 1  /* z = ridge * trace(K)/n, relative to the mean diagonal (scale-free) */
} ntk_ridge_scale;

typedef struct ntk_kernel_ridge_options {
    size_t size;                 /* sizeof(ntk_kernel_ridge_options), set by _init */
    ntk_ridge_scale ridge_scale; /* default NTK_RIDGE_ABSOLUTE */
    /* >= 0. 0 (default): fail with NOT_POSITIVE_DEFINITE when K + zI is not positive
     * definite. > 0: retry with jitter 1e-10, 1e-9, ... times the mean diagonal, up to
     * max_jitter times the mean diagonal; ntk_kernel_ridge_info reports the jitter used. */
    double max_jitter;
    ntk_progress_fn progress;    /* default NULL */
    void *progress_user;
} ntk_kernel_ridge_options;

#define NTK_KERNEL_RIDGE_OPTIONS_INIT \
    { sizeof(ntk_kernel_ridge_options), NTK_RIDGE_ABSOLUTE, 0.0, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_kernel_ridge_options_init(ntk_kernel_ridge_options *options);

typedef struct ntk_kernel_ridge ntk_kernel_ridge;

/* Fits the model to K_train (n x n, symmetric) and targets (Y, f0: n x k) with ridge >= 0
 * into a new handle *out (NULL on failure). options may be NULL (defaults).
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE,
 * OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Memory: 2 n^2 doubles during the fit, n^2 + 2nk kept. */
int ntk_kernel_ridge_fit(int64_t n, const double *K_train, int64_t ldk,
                         const ntk_targets *targets, double ridge,
                         const ntk_kernel_ridge_options *options,
                         ntk_kernel_ridge **out);

/* Test predictions pred = f0_test + K_test_train alpha (m x k, leading dimension ldp), with
 * test->K_test_train m x n and test->f0 m x k (may be NULL). Read-only on the model
 * (thread-safe).
 * Errors: INVALID_ARGUMENT (NULL, ld), DIMENSION_MISMATCH, NON_FINITE, NUMERICAL
 * (overflow), TOO_LARGE. */
int ntk_kernel_ridge_predict(const ntk_kernel_ridge *model, const ntk_test_kernel *test,
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
 * Ridge regression on explicit features: random features, Jacobian features
 *
 *   W = (zI + S^T S)^-1 S^T Y  =  S^T (zI + S S^T)^-1 Y
 *
 * Predictions are S W on the training rows and S_test W on any others.
 * ------------------------------------------------------------------------------------- */

/* Which system is solved; both give the same weights to rounding. */
typedef enum ntk_features_form {
    NTK_FORM_AUTO = 0,   /* the smaller system: primal (p x p) when p < n, else dual (n x n) */
    NTK_FORM_PRIMAL = 1, /* solve in p x p */
    NTK_FORM_DUAL = 2    /* solve in n x n, the kernel form with K = S S^T */
} ntk_features_form;

typedef struct ntk_features_ridge_options {
    size_t size;              /* sizeof(ntk_features_ridge_options), set by _init */
    ntk_features_form form;   /* default NTK_FORM_AUTO */
    ntk_progress_fn progress; /* default NULL */
    void *progress_user;
} ntk_features_ridge_options;

#define NTK_FEATURES_RIDGE_OPTIONS_INIT { sizeof(ntk_features_ridge_options), NTK_FORM_AUTO, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_features_ridge_options_init(ntk_features_ridge_options *options);

/* Fits ridge regression of Y (n x k) on features S (n x p) with ridge z >= 0 and writes the
 * weights W (p x k, leading dimension ldw). With z = 0 the solved system must be positive
 * definite. options may be NULL.
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE,
 * OUT_OF_MEMORY, TOO_LARGE, CANCELLED. */
int ntk_features_ridge(int64_t n, int64_t p, int64_t k,
                       const double *S, int64_t lds,
                       const double *Y, int64_t ldy,
                       double ridge, const ntk_features_ridge_options *options,
                       double *W, int64_t ldw);

/* ---------------------------------------------------------------------------------------
 * Spectral solver: gradient flow at any time, ridge paths, filters, ridge selection
 *
 * One eigendecomposition K_train = V diag(lambda) V^T, then for any grid of (t, z) points:
 *
 *   pred_train(t, z) = f0 + K V diag(g) V^T (Y - f0)
 *   pred_test(t, z)  = f0* + K_* V diag(g) V^T (Y - f0)
 *   g(lambda) = (1 - exp(-eta t (lambda + z) / N)) / (lambda + z)
 *
 * the gradient flow of the MSE loss (1/N) sum 1/2 (f - y)^2 (+ ridge z/(2N) |theta - theta0|^2)
 * of the linearised model, N = n * k target entries, learning rate eta, at training time t
 * (t counts in units of the learning rate: t steps of gradient descent at rate eta). t =
 * +INFINITY gives kernel ridge regression with ridge z (z = 0: kernel regression).
 * g -> eta t / N as lambda + z -> 0 (evaluated with expm1: no 0/0).
 * Eigenvalue policy (fixed at creation): negative eigenvalues are clamped to 0
 * (NTK_NEGATIVE_CLAMP, reported by ntk_spectral_info) or rejected (NTK_NEGATIVE_ERROR: any
 * eigenvalue below -cutoff fails with NOT_POSITIVE_DEFINITE). Eigenvalues <= cutoff =
 * n * DBL_EPSILON * lambda_max are the null space: predictions leave those directions out
 * (for a PSD kernel the test kernel is orthogonal to them), so t = inf with z = 0 is the
 * minimum-norm interpolant K_* K^+ (Y - f0), finite for singular kernels.
 * ------------------------------------------------------------------------------------- */

/* What the spectral solver does with negative eigenvalues of K. */
typedef enum ntk_negative_eigenvalues {
    NTK_NEGATIVE_CLAMP = 0, /* set them to 0 (rounding errors of a PSD kernel) */
    NTK_NEGATIVE_ERROR = 1  /* fail with NOT_POSITIVE_DEFINITE below -cutoff */
} ntk_negative_eigenvalues;

typedef struct ntk_spectral ntk_spectral;

/* Decomposes K (n x n, symmetric) into a new handle *out (NULL on failure).
 * Errors: as ntk_eigh; NOT_POSITIVE_DEFINITE under NTK_NEGATIVE_ERROR. Memory: n^2 doubles. */
int ntk_spectral_create(int64_t n, const double *K, int64_t ldk, ntk_negative_eigenvalues policy,
                        ntk_progress_fn progress, void *progress_user, ntk_spectral **out);

/* The order n, the smallest eigenvalue before clamping, how many were clamped, how many are
 * treated as zero (the null space, clamped ones included) and the cutoff. Out-pointers may be
 * NULL.
 * Never fails on a valid handle. */
int ntk_spectral_info(const ntk_spectral *solver, int64_t *n, double *min_raw_eigenvalue,
                      int64_t *clamped, int64_t *null_count, double *cutoff);

/* The eigenvalues after the policy (ascending, all >= 0): n doubles.
 * Errors: INVALID_ARGUMENT (w NULL with n > 0). Read-only (thread-safe). */
int ntk_spectral_eigenvalues(const ntk_spectral *solver, double *w);

/* Predictions at every point of the grid (see ntk_grid). targets: Y and f0 (n x k). test: a
 * test kernel (m x n) with its offsets, or NULL for none. Outputs (each may be NULL;
 * pred_test needs test) are contiguous 3-D arrays: pred_train count x n x k, pred_test
 * count x m x k (element [i][a][c] at (i * rows + a) * k + c); they must not overlap the inputs.
 * Cost: O((n + m) n k) per point, in GEMMs (O(m n^2) once instead when the grid has more
 * points x outputs than the kernel has non-null eigenvalues). Read-only (thread-safe).
 * Errors: INVALID_ARGUMENT (NULL, ld, time < 0, ridge < 0, learning_rate <= 0),
 * DIMENSION_MISMATCH, NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE. */
int ntk_spectral_predict(const ntk_spectral *solver, const ntk_targets *targets, const ntk_grid *grid,
                         const ntk_test_kernel *test, double *pred_train, double *pred_test);

/* The dual coefficients of every grid point: coef_i = V diag(g_i(lambda)) V^T (Y - f0),
 * n x k each, contiguous count x n x k, so that predictions at any points are
 * f0(x) + K(x, X) coef_i — a fitted model to keep after the solver is freed. coef may be the
 * same memory as targets->Y or targets->f0 (they are read first). Null-space directions are
 * left out (t = +INFINITY, z = 0: the minimum-norm interpolant's K^+ (Y - f0)).
 * Errors: INVALID_ARGUMENT (NULL, time < 0, ridge < 0, learning_rate <= 0), NON_FINITE,
 * NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE. Cost: O(n^2 k) per point. Read-only
 * (thread-safe). */
int ntk_spectral_dual_coefficients(const ntk_spectral *solver, const ntk_targets *targets, const ntk_grid *grid,
                                   double *coef);

/* The filters of every grid point, with N = n_targets >= 1 target entries:
 * values[i * n + j] = g_i(lambda_j), shrinkage[i * n + j] = lambda_j g_i(lambda_j) in [0, 1]
 * (lambda/(lambda + z) for ridge, 1 - exp(-eta t lambda/N) for early stopping), and the
 * effective degrees of freedom dof[i] = sum_j lambda_j g_i(lambda_j). Null-space directions
 * have g = 0. Each output may be NULL (values and shrinkage are count x n, contiguous).
 * Errors: INVALID_ARGUMENT (grid values, learning_rate <= 0, n_targets < 1), TOO_LARGE.
 * Read-only (thread-safe). */
int ntk_spectral_filters(const ntk_spectral *solver, const ntk_grid *grid, int64_t n_targets,
                         double *values, double *shrinkage, double *dof);

/* How ntk_spectral_select_ridge scores a ridge. */
typedef enum ntk_ridge_criterion {
    NTK_CRITERION_GCV = 0, /* generalized cross-validation */
    NTK_CRITERION_LOO = 1  /* exact leave-one-out error */
} ntk_ridge_criterion;

/* Scores every ridge of ridges[count] (each >= 0) for predicting targets (Y, f0: n x k), by
 * closed forms on the eigendecomposition (no refits), and writes scores[count] (mean squared
 * error over the n k entries; +INFINITY where undefined: GCV of an interpolating fit, LOO
 * with K + zI singular) and *best, the index of the first minimum (best may be NULL).
 * Errors: INVALID_ARGUMENT, DIMENSION_MISMATCH, NON_FINITE, NUMERICAL (no finite score).
 * Read-only (thread-safe). */
int ntk_spectral_select_ridge(const ntk_spectral *solver, const ntk_targets *targets,
                              int64_t count, const double *ridges, ntk_ridge_criterion criterion,
                              double *scores, int64_t *best);

/* The training time of gradient flow (with ridge >= 0 and learning_rate > 0) chosen like the
 * ridge: the time minimising GCV of the flow's smoother H_t = V diag(lambda g_t(lambda)) V^T
 * (g as ntk_spectral_filters, N = n k) into *time (0 when learning nothing scores lowest,
 * INFINITY when the limit, kernel ridge with that ridge, does) and that score into *score (may
 * be NULL). A grid of 256 log-spaced
 * times from "nothing learned" to "converged", then golden-section refinement; O(n k) per time.
 * Errors: INVALID_ARGUMENT (NULL, ridge < 0, learning_rate <= 0, a zero kernel),
 * DIMENSION_MISMATCH, NON_FINITE, NUMERICAL. Read-only (thread-safe). */
int ntk_spectral_select_time(const ntk_spectral *solver, const ntk_targets *targets, double ridge,
                             double learning_rate, double *time, double *score);

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
int ntk_max_learning_rate(int64_t n, const double *K, int64_t ldk, int64_t n_targets,
                          double *eta, double *lambda_max,
                          ntk_progress_fn progress, void *progress_user);

/* ---------------------------------------------------------------------------------------
 * The family of interpolators: the Gaussian over initialisations, GP posteriors
 *
 * Infinitely wide networks trained by gradient flow with MSE from random initialisations give
 * Gaussian outputs (Lee et al. 2019, eq. 16). With Theta the trained kernel plus the ridge z
 * (the NTK when all layers train, the NNGP kernel K when only the readout does), N = n * k:
 *   A_t  = Theta(x, X) (Theta + zI)^-1 (I - exp(-eta t (Theta + zI) / N))
 *   mean = A_t Y,   cov = K(x, x') + A_t K_XX A_t^T - A_t K(X, x') - K(x, X) A_t^T
 * with K_XX the training NNGP kernel (plus z in the NNGP regime). The covariance is the same
 * for every output column. One eigendecomposition serves every time; t = inf is the limit.
 * ------------------------------------------------------------------------------------- */

/* Which layers are trained. */
typedef enum ntk_ensemble_regime {
    NTK_REGIME_NTK = 0, /* every layer: the NTK drives the flow, the NNGP kernel is f0's prior */
    NTK_REGIME_NNGP = 1 /* the readout only: the NNGP kernel is both */
} ntk_ensemble_regime;

/* What of the covariance is computed. */
typedef enum ntk_covariance_form {
    NTK_COVARIANCE_FULL = 0,    /* cov is count x m x m */
    NTK_COVARIANCE_DIAGONAL = 1 /* cov is count x m, the variances (what a standard deviation needs):
                                   no m x m product, O(m) memory per time; test->nngp_test is then
                                   the m x 1 diagonal K(x_i, x_i) (ld_nngp_test >= 1 between entries) */
} ntk_covariance_form;

typedef struct ntk_ensemble_options {
    size_t size;                 /* sizeof(ntk_ensemble_options), set by _init */
    ntk_ensemble_regime regime;  /* default NTK_REGIME_NTK */
    double learning_rate;        /* eta > 0; default 1 */
    double ridge;                /* z >= 0 added to the trained kernel, absolute; default 0 */
    ntk_progress_fn progress;    /* default NULL; reported per time */
    void *progress_user;
    ntk_covariance_form covariance; /* default NTK_COVARIANCE_FULL (appended in 0.3) */
} ntk_ensemble_options;

#define NTK_ENSEMBLE_OPTIONS_INIT \
    { sizeof(ntk_ensemble_options), NTK_REGIME_NTK, 1.0, 0.0, NULL, NULL, NTK_COVARIANCE_FULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_ensemble_options_init(ntk_ensemble_options *options);

/* The kernels of m test points: NNGP and NTK against the n training points (m x n; the NTK
 * only in the NTK regime, else NULL) and the NNGP kernel among them (m x m, symmetric; its
 * diagonal alone, m x 1, with NTK_COVARIANCE_DIAGONAL). A plain descriptor, fixed for 1.x. */
typedef struct ntk_ensemble_test {
    int64_t m;
    const double *nngp_test_train;
    int64_t ld_nngp_test_train;
    const double *ntk_test_train;
    int64_t ld_ntk_test_train;
    const double *nngp_test;
    int64_t ld_nngp_test;
} ntk_ensemble_test;

/* Mean and covariance over initialisations at each of times[count] (>= 0, INFINITY allowed,
 * any order). nngp_train and ntk_train are the n x n training kernels (ntk_train may be NULL
 * in the NNGP regime); targets holds Y (n x k; its f0 must be NULL: the ensemble starts from
 * random networks). test NULL: on the training points themselves (Theta(x, X) = Theta and
 * K(x, .) = K_XX, without the ridge). Outputs, contiguous, either may be NULL:
 * mean count x m x k, cov count x m x m (count x m with NTK_COVARIANCE_DIAGONAL; m = n without
 * test). options may be NULL.
 * Cost: one n x n eigendecomposition (plus 2 n^3 for K_XX in the NTK's basis), then per time
 * O(m n^2 + m^2 n) in the NTK regime, O(m^2 n) in the NNGP one (the variances alone: O(m n^2)
 * and O(m n)).
 * Errors: INVALID_ARGUMENT (NULL, ld, regime, times, learning_rate, ridge, f0 given, missing
 * NTK kernels, not symmetric), DIMENSION_MISMATCH, NON_FINITE, NUMERICAL, OUT_OF_MEMORY,
 * TOO_LARGE, CANCELLED. Thread-safe. */
int ntk_ensemble_gradient_flow(int64_t n, const double *nngp_train, int64_t ld_nngp,
                               const double *ntk_train, int64_t ld_ntk,
                               const ntk_targets *targets, const ntk_ensemble_test *test,
                               int64_t count, const double *times,
                               const ntk_ensemble_options *options, double *mean, double *cov);

typedef struct ntk_gp_options {
    size_t size;              /* sizeof(ntk_gp_options), set by _init */
    double ridge;             /* z >= 0, the noise variance; default 0 */
    ntk_progress_fn progress; /* default NULL; reported during the factorisation */
    void *progress_user;
} ntk_gp_options;

#define NTK_GP_OPTIONS_INIT { sizeof(ntk_gp_options), 0.0, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_gp_options_init(ntk_gp_options *options);

/* Gaussian-process posterior with the kernel K as prior covariance and Gaussian noise of
 * variance z = options->ridge: the NNGP posterior (exact Bayesian inference for the infinitely
 * wide network) with the NNGP kernel, the NTK-GP with the NTK. With prior mean f0
 * (targets->f0 on the training points, test->f0 on the test points; NULL: 0):
 *   mean = f0(x) + K(x, X) (K + zI)^-1 (Y - f0),  cov = K(x, x') - K(x, X) (K + zI)^-1 K(X, x')
 *   log_marginal_likelihood = sum over the k columns of log N(Y - f0; 0, K + zI).
 * K_train n x n and K_test m x m symmetric; test->K_test_train m x n. Outputs contiguous, each
 * may be NULL: mean m x k, cov m x m; log_marginal_likelihood a double. options may be NULL.
 * Errors: INVALID_ARGUMENT (NULL, ld, ridge, not symmetric), DIMENSION_MISMATCH, NON_FINITE,
 * NOT_POSITIVE_DEFINITE (K + zI: add noise), NUMERICAL, OUT_OF_MEMORY, TOO_LARGE, CANCELLED.
 * Thread-safe. */
int ntk_gp_posterior(int64_t n, const double *K_train, int64_t ldk, const ntk_targets *targets,
                     const ntk_test_kernel *test, const double *K_test, int64_t ld_test,
                     const ntk_gp_options *options,
                     double *mean, double *cov, double *log_marginal_likelihood);

/* ---------------------------------------------------------------------------------------
 * Dense networks (MLP) and their empirical neural tangent kernel
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

/* The nonlinearity phi (as neural-tangents' stax). */
typedef enum ntk_activation {
    NTK_ACTIVATION_IDENTITY = 0,
    NTK_ACTIVATION_RELU = 1,
    NTK_ACTIVATION_LEAKY_RELU = 2, /* slope in ntk_mlp_options.activation_parameter */
    NTK_ACTIVATION_ABS = 3,
    NTK_ACTIVATION_TANH = 4,
    NTK_ACTIVATION_ERF = 5,
    NTK_ACTIVATION_SIGMOID = 6,
    NTK_ACTIVATION_GELU = 7, /* exact x * Phi(x) */
    NTK_ACTIVATION_SOFTPLUS = 8,
    NTK_ACTIVATION_SIN = 9
} ntk_activation;

typedef enum ntk_parameterization {
    NTK_PARAMETERIZATION_NTK = 0,
    NTK_PARAMETERIZATION_STANDARD = 1
} ntk_parameterization;

typedef struct ntk_mlp_options {
    size_t size;                           /* sizeof(ntk_mlp_options), set by _init */
    double activation_parameter;           /* the leaky_relu slope; default 0.01 */
    double w_std;                          /* W_std >= 0; default 1 */
    double b_std;                          /* b_std >= 0; default 0 */
    int bias;                              /* 1 (default): layers have biases; 0: none */
    ntk_parameterization parameterization; /* default NTK_PARAMETERIZATION_NTK */
    uint64_t seed;                         /* initial parameters; default 0 */
} ntk_mlp_options;

#define NTK_MLP_OPTIONS_INIT { sizeof(ntk_mlp_options), 0.01, 1.0, 0.0, 1, NTK_PARAMETERIZATION_NTK, 0 }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_mlp_options_init(ntk_mlp_options *options);

typedef struct ntk_mlp ntk_mlp;

/* Creates an MLP with d >= 1 inputs, num_hidden >= 0 hidden layers of widths[i] >= 1 units
 * (widths may be NULL when num_hidden = 0), k >= 1 outputs and the activation; options
 * (NULL: defaults) set W_std, b_std, biases, parameterization and seed. *out is NULL on
 * failure.
 * Errors: INVALID_ARGUMENT (sizes, enums, bias not 0/1, NULL widths or out), NON_FINITE
 * (w_std, b_std, activation_parameter), TOO_LARGE (P overflows, a width beyond 2^31 - 1,
 * more than 4096 layers), OUT_OF_MEMORY. Memory: P doubles. */
int ntk_mlp_create(int64_t d, int64_t num_hidden, const int64_t *widths, int64_t k,
                   ntk_activation activation, const ntk_mlp_options *options, ntk_mlp **out);

/* Sizes: input dimension d, output dimension k, number of hidden layers, parameter count p.
 * Out-pointers may be NULL.
 * Never fails on a valid handle. */
int ntk_mlp_info(const ntk_mlp *mlp, int64_t *d, int64_t *k, int64_t *num_hidden, int64_t *p);

/* The hidden widths (num_hidden int64_t).
 * Errors: INVALID_ARGUMENT (widths NULL with num_hidden > 0). */
int ntk_mlp_widths(const ntk_mlp *mlp, int64_t *widths);

/* Copies theta (count must be p) out of / into the network. set rejects NaN/Inf.
 * Errors: INVALID_ARGUMENT (NULL), DIMENSION_MISMATCH (count != p), NON_FINITE (set).
 * get is read-only; set changes the handle (see Threads above). */
int ntk_mlp_get_parameters(const ntk_mlp *mlp, double *theta, int64_t count);
int ntk_mlp_set_parameters(ntk_mlp *mlp, const double *theta, int64_t count);

/* f(X): X is n x d (leading dimension ldx), F n x k (leading dimension ldf).
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY,
 * TOO_LARGE. Read-only (thread-safe). */
int ntk_mlp_forward(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx, double *F, int64_t ldf);

/* The Jacobian df/dtheta, n x k x p contiguous: J[(s * k + c) * p + q] = df_c(x_s)/dtheta_q.
 * Memory: the output alone, n k p doubles (TOO_LARGE if that overflows).
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY,
 * TOO_LARGE. Read-only (thread-safe). */
int ntk_mlp_jacobian(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx, double *J);

/* ntk_mlp_jacobian in single precision (X and J floats; theta rounded once, every step in single
 * precision): about 1e-7 relative error per entry. Same errors. Read-only (thread-safe). */
int ntk_mlp_jacobian_f32(const ntk_mlp *mlp, int64_t n, const float *X, int64_t ldx, float *J);

/* The shape of an empirical kernel with k outputs: each pair (x, x') has e entries. */
typedef enum ntk_output_form {
    NTK_OUTPUT_MEAN = 0,      /* e = 1: the mean over outputs of K_cc */
    NTK_OUTPUT_FULL = 1,      /* e = k * k: every K_cc' (c' fastest) */
    NTK_OUTPUT_PER_OUTPUT = 2 /* e = k: K_cc for each c */
} ntk_output_form;

/* How the empirical NTK of an MLP is computed; both give the same kernel to rounding. */
typedef enum ntk_kernel_method {
    NTK_METHOD_STRUCTURED = 0, /* per layer: activation Gram (.) signal Gram; no Jacobian */
    NTK_METHOD_JACOBIAN = 1,   /* explicit Jacobian chunks contracted (reference path) */
    NTK_METHOD_VECTOR_PRODUCTS = 2 /* a model (ntk_model_empirical_ntk) only: J(B) rows pushed
                                      through jvp over A; no Jacobian of A */
} ntk_kernel_method;

typedef struct ntk_empirical_ntk_options {
    size_t size;              /* sizeof(ntk_empirical_ntk_options), set by _init */
    ntk_kernel_method method; /* default NTK_METHOD_STRUCTURED */
    /* Bytes for per-sample activations and signals (0, the default: the memory budget,
     * see ntk_set_memory_budget). Within it all
     * forward/backward passes run once; beyond it blocks of samples are recomputed (slower,
     * bounded memory; the n x p Jacobian is never formed). */
    int64_t memory_limit;
    ntk_progress_fn progress; /* default NULL; reported per 256 x 256 tile */
    void *progress_user;
} ntk_empirical_ntk_options;

#define NTK_EMPIRICAL_NTK_OPTIONS_INIT \
    { sizeof(ntk_empirical_ntk_options), NTK_METHOD_STRUCTURED, 0, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_empirical_ntk_options_init(ntk_empirical_ntk_options *options);

/* The empirical NTK between the rows of X1 (n1 x d) and X2 (n2 x d; NULL with n2 = n1 for the
 * symmetric kernel of X1, computed once per pair and exactly symmetric) into K, an
 * n1 x (n2 * e) matrix with leading dimension ldk >= n2 * e (e entries per pair, as the
 * ntk_output_form says): the entries of pair (i, j) start at K[i * ldk + j * e].
 * options may be NULL.
 * Errors: INVALID_ARGUMENT (NULL, ld, enums, memory_limit < 0), DIMENSION_MISMATCH,
 * NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Read-only (thread-safe). */
int ntk_empirical_ntk(const ntk_mlp *mlp, int64_t n1, const double *X1, int64_t ld1,
                      int64_t n2, const double *X2, int64_t ld2,
                      ntk_output_form output, const ntk_empirical_ntk_options *options,
                      double *K, int64_t ldk);

/* ntk_empirical_ntk in single precision: X1, X2 and K are floats, and everything between them
 * runs in single precision (theta rounded once, the passes, the Grams by SGEMM/SSYRK, the sums),
 * with half the memory and about twice the speed. The kernel then agrees with the double one to
 * about 1e-6 relative to its largest entry (measured: docs/conventions.md); use it where float32
 * suffices, not as the input of a Cholesky factorisation or an eigendecomposition of an
 * ill-conditioned kernel. Same options, memory (in floats) and errors as ntk_empirical_ntk. */
int ntk_empirical_ntk_f32(const ntk_mlp *mlp, int64_t n1, const float *X1, int64_t ld1,
                          int64_t n2, const float *X2, int64_t ld2, ntk_output_form output,
                          const ntk_empirical_ntk_options *options, float *K, int64_t ldk);

/* The diagonal K(x_s, x_s) alone (O(n p) work) into diag, an n x e matrix with leading
 * dimension ldd >= e: e = 1 for NTK_OUTPUT_MEAN, k for NTK_OUTPUT_PER_OUTPUT
 * (NTK_OUTPUT_FULL is rejected).
 * Errors: INVALID_ARGUMENT (NULL, ld, output), NON_FINITE, NUMERICAL (overflow),
 * OUT_OF_MEMORY, TOO_LARGE. Read-only (thread-safe). */
int ntk_empirical_ntk_diagonal(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                               ntk_output_form output, double *diag, int64_t ldd);

/* The tangent kernel of any model from its Jacobians: J1 is n1 x k x p, J2 n2 x k x p, both
 * contiguous, or J2 NULL with n2 = n1 for J1's own kernel. Output K as ntk_empirical_ntk
 * (n1 x (n2 * e), leading dimension ldk); NTK_OUTPUT_MEAN is (1/k) J1 J2^T over the
 * flattened (k p) rows, one Gram matrix.
 * Errors: INVALID_ARGUMENT (NULL, output, ld), NON_FINITE, NUMERICAL (overflow),
 * OUT_OF_MEMORY, TOO_LARGE, CANCELLED. */
int ntk_jacobian_ntk(int64_t n1, int64_t n2, int64_t k, int64_t p,
                     const double *J1, const double *J2, ntk_output_form output,
                     double *K, int64_t ldk,
                     ntk_progress_fn progress, void *progress_user);

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
 * relu, leaky_relu, abs, erf, gelu (exact), sin and identity have closed forms, exact to
 * rounding. tanh, sigmoid and softplus use the normal scale mixture of the logistic,
 * tanh(x) = E_K[erf(x / (K sqrt 2))] with K Kolmogorov-distributed, so their expectations are
 * expectations over K of erf's closed forms, taken with a Gaussian rule of quadrature_points
 * nodes per variable: ~1e-12 relative at every input scale with the automatic choice (16 to 24
 * nodes from each pre-activation variance). Pairs of moderate correlation cost a power series
 * of ~3n terms (n <= 200); strongly correlated ones M1 * M2 arcsines.
 * ------------------------------------------------------------------------------------- */

typedef struct ntk_infinite_width_options {
    size_t size;              /* sizeof(ntk_infinite_width_options), set by _init */
    int quadrature_points;    /* tanh, sigmoid, softplus: 1..64 mixture nodes per variable (fewer:
                                 faster, less accurate); 0 (default): automatic, ~1e-12 */
    ntk_progress_fn progress; /* default NULL; reported per 256 x 256 tile */
    void *progress_user;
} ntk_infinite_width_options;

#define NTK_INFINITE_WIDTH_OPTIONS_INIT { sizeof(ntk_infinite_width_options), 0, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_infinite_width_options_init(ntk_infinite_width_options *options);

/* Sigma(X1, X2) into K_nngp and Theta(X1, X2) into K_ntk (each n1 x n2 with leading
 * dimensions ld_nngp, ld_ntk; either may be NULL, not both). X2 NULL with n2 = n1: X1's own
 * kernels, exactly symmetric, with the exact diagonal. options may be NULL.
 * Errors: INVALID_ARGUMENT (NULL, ld, quadrature_points outside 0..64),
 * NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Read-only (thread-safe). */
int ntk_infinite_width_kernels(const ntk_mlp *mlp, int64_t n1, const double *X1, int64_t ld1,
                               int64_t n2, const double *X2, int64_t ld2,
                               const ntk_infinite_width_options *options,
                               double *K_nngp, int64_t ld_nngp, double *K_ntk, int64_t ld_ntk);

/* ntk_infinite_width_kernels in single precision: X1, X2 and both kernels are float. The input
 * Gram (SSYRK/SGEMM), the dense updates and the relu-family, erf and gelu closed forms run in
 * float, eight entries at a time (1.6-2.2x faster than double); quadrature activations evaluate
 * each entry in double and round it; the diagonal (X2 NULL) is the double recursion, rounded.
 * Accuracy: about 1e-6 of the largest entry, except pairs of nearly parallel inputs, where the
 * arccosine's infinite slope at correlation 1 amplifies float's rounding of the correlation in
 * the relu family's NTK (up to ~3e-4 relative; measured: docs/conventions.md). Same options and
 * errors as ntk_infinite_width_kernels; NUMERICAL names single precision when a value overflows
 * float. */
int ntk_infinite_width_kernels_f32(const ntk_mlp *mlp, int64_t n1, const float *X1, int64_t ld1,
                                   int64_t n2, const float *X2, int64_t ld2,
                                   const ntk_infinite_width_options *options,
                                   float *K_nngp, int64_t ld_nngp, float *K_ntk, int64_t ld_ntk);

/* Sigma(x, x) and Theta(x, x) for each row of X (n doubles each; either may be NULL).
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE, NUMERICAL (overflow),
 * OUT_OF_MEMORY, TOO_LARGE. Read-only (thread-safe). */
int ntk_infinite_width_diagonal(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                                double *nngp, double *ntk);

/* ---------------------------------------------------------------------------------------
 * Networks built from layers: convolutions, pooling, layer norm, residual blocks
 *
 * A network is one serial list of layers (ntk_layer) on inputs of shape (d), (L, C),
 * (H, W, C) or (D, H, W, C): spatial sizes, then channels, as neural-tangents' NHWC. Each input
 * is one row of X with its entries in that order (channels fastest): d = positions x channels
 * columns. Conventions are neural-tangents' stax, so the same description gives the same
 * numbers:
 *   DENSE (width)            affine on the channel axis (at every position of a spatial
 *                            input); fan-in = channels
 *   CONV (width = channels,  a convolution over every spatial axis (rank = the input's spatial
 *     window, strides,       rank); fan-in = channels x window size; SAME zero-pads with the
 *     padding)               smaller half first, CIRCULAR wraps around, VALID needs the window
 *                            to fit
 *   AVG_POOL (window,        the mean over each window, divided by the window size also at SAME
 *     strides, padding)      borders; strides default to 1 (neural-tangents', not PyTorch's)
 *   GLOBAL_AVG_POOL          the mean over positions: spatial -> flat
 *   FLATTEN                  positions x channels as one flat vector
 *   LAYER_NORM (epsilon)     (h - mean) / sqrt(var + epsilon) over the channels at each position
 *   ACTIVATION (activation)  elementwise, any ntk_activation
 *   RESIDUAL_BEGIN ... END   the enclosed layers' output plus their input (same shape); nests
 * The network must end flat (FLATTEN or GLOBAL_AVG_POOL before its readout). W_std/b_std of
 * DENSE and CONV default to the network's (options), per layer when the layer's are not NaN.
 *
 * Infinite width: Sigma and Theta over pairs of positions, layer by layer (a convolution
 * averages Sigma(p + o, p' + o) over its window; pooling averages over pairs of windows;
 * FLATTEN reads the diagonal positions; GLOBAL_AVG_POOL averages all pairs), then the dense
 * recursion of ntk_infinite_width_kernels. Without pooling only the diagonal positions are
 * kept: cost per pair of inputs ~ positions x layers; with pooling ~ positions^2 x layers.
 * As neural-tangents, activations, LAYER_NORM and residual sums need Gaussian inputs (the
 * output of DENSE or CONV, possibly pooled or normalised): other networks are
 * INVALID_ARGUMENT for the infinite-width functions (they are fine networks otherwise).
 * ------------------------------------------------------------------------------------- */

typedef enum ntk_layer_kind {
    NTK_LAYER_DENSE = 0,
    NTK_LAYER_CONV = 1,
    NTK_LAYER_AVG_POOL = 2,
    NTK_LAYER_GLOBAL_AVG_POOL = 3,
    NTK_LAYER_FLATTEN = 4,
    NTK_LAYER_LAYER_NORM = 5,
    NTK_LAYER_ACTIVATION = 6,
    NTK_LAYER_RESIDUAL_BEGIN = 7,
    NTK_LAYER_RESIDUAL_END = 8
} ntk_layer_kind;

typedef enum ntk_padding {
    NTK_PADDING_VALID = 0,
    NTK_PADDING_SAME = 1,
    NTK_PADDING_CIRCULAR = 2
} ntk_padding;

typedef struct ntk_layer {
    size_t size;                 /* sizeof(ntk_layer), set by _init */
    ntk_layer_kind kind;
    int64_t width;               /* DENSE: units; CONV: output channels (>= 1) */
    int64_t rank;                /* CONV, AVG_POOL: entries used in window and strides (= the
                                    input's spatial axes, 1..3) */
    int64_t window[3];           /* CONV: kernel size; AVG_POOL: window (>= 1), one per spatial axis */
    int64_t strides[3];          /* >= 1; default 1 */
    ntk_padding padding;         /* default SAME for CONV, VALID for AVG_POOL */
    ntk_activation activation;   /* ACTIVATION; default NTK_ACTIVATION_RELU */
    double activation_parameter; /* the leaky_relu slope; default 0.01 */
    double w_std;                /* DENSE, CONV: >= 0, or NaN (default): the network's */
    double b_std;                /* DENSE, CONV: >= 0, or NaN (default): the network's */
    double epsilon;              /* LAYER_NORM: >= 0; default 1e-12 (neural-tangents') */
} ntk_layer;

/* Sets layer->size, layer->kind and every default for that kind.
 * Errors: INVALID_ARGUMENT (NULL, unknown kind). */
int ntk_layer_init(ntk_layer *layer, ntk_layer_kind kind);

typedef struct ntk_network_options {
    size_t size;                           /* sizeof(ntk_network_options), set by _init */
    double w_std;                          /* default W_std >= 0; default 1 */
    double b_std;                          /* default b_std >= 0; default 0 */
    int bias;                              /* 1 (default): DENSE and CONV have biases; 0: none */
    ntk_parameterization parameterization; /* default NTK_PARAMETERIZATION_NTK */
    uint64_t seed;                         /* initial parameters; default 0 */
} ntk_network_options;

#define NTK_NETWORK_OPTIONS_INIT { sizeof(ntk_network_options), 1.0, 0.0, 1, NTK_PARAMETERIZATION_NTK, 0 }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_network_options_init(ntk_network_options *options);

typedef struct ntk_network ntk_network;

/* Creates a network on inputs of shape input_shape[0 .. input_rank - 1] (input_rank 1..4,
 * channels last) from num_layers >= 1 layers (each set up by ntk_layer_init); options may be
 * NULL. *out is NULL on failure.
 * Errors: INVALID_ARGUMENT naming the layer (shapes that do not compose: a rank unlike the
 * input's spatial rank, a VALID window larger than its input, zero sizes or strides, pooling or
 * FLATTEN-only layers on a flat input, a residual block that changes the shape or is empty or
 * unbalanced, a network that does not end flat; unknown enums; a layer->size other than
 * sizeof(ntk_layer)), NON_FINITE (standard deviations, epsilon, slope), TOO_LARGE (sizes
 * overflow or exceed 2^31 - 1), OUT_OF_MEMORY. */
int ntk_network_create(int64_t input_rank, const int64_t *input_shape, int64_t num_layers,
                       const ntk_layer *layers, const ntk_network_options *options, ntk_network **out);

/* d (input columns), k (outputs) and P (parameters); any may be NULL. */
int ntk_network_info(const ntk_network *network, int64_t *d, int64_t *k, int64_t *num_parameters);

/* The parameters theta (count = P doubles), layer by layer in order (residual blocks inline),
 * each DENSE/CONV as W then b: a DENSE W is fan_in x width, a CONV W is window (row-major over
 * the spatial axes) x input channels x output channels (neural-tangents' HWIO, flattened), b one
 * entry per output channel. Initial parameters: N(0, 1) draws in this order from the generator
 * of ntk_mlp_create seeded by options->seed (NTK parameterization; standard: scaled by
 * W_std / sqrt(fan_in) and b_std). set_parameters mutates the network (a computation running
 * keeps the parameters it started with).
 * Errors: DIMENSION_MISMATCH (count != P), NON_FINITE, INVALID_ARGUMENT (NULL). */
int ntk_network_get_parameters(const ntk_network *network, double *theta, int64_t count);
int ntk_network_set_parameters(ntk_network *network, const double *theta, int64_t count);

/* f(X) (n x k, leading dimension ldo) of the finite network.
 * Errors: INVALID_ARGUMENT (NULL, ld), NON_FINITE, OUT_OF_MEMORY, TOO_LARGE. Read-only. */
int ntk_network_forward(const ntk_network *network, int64_t n, const double *X, int64_t ldx, double *out,
                        int64_t ldo);

/* The Jacobian d f(x_i) / d theta of each row, row i * k + c for output c ((n k) x P, contiguous),
 * by backpropagation (k backward passes per block of rows).
 * Errors: as ntk_network_forward. Read-only. */
int ntk_network_jacobian(const ntk_network *network, int64_t n, const double *X, int64_t ldx, double *J);

/* The empirical NTK of the finite network between the rows of X1 and X2 (X2 NULL, n2 = n1: X1's
 * own kernel, exactly symmetric), in the forms and layout of ntk_empirical_ntk, by Jacobian
 * contraction in blocks bounded by options->memory_limit (NTK_METHOD_VECTOR_PRODUCTS: X2's
 * Jacobian rows pushed through Jacobian-vector products). options may be NULL.
 * Errors: as ntk_empirical_ntk. Read-only (thread-safe). */
int ntk_network_empirical_ntk(const ntk_network *network, int64_t n1, const double *X1, int64_t ld1, int64_t n2,
                              const double *X2, int64_t ld2, ntk_output_form output,
                              const ntk_empirical_ntk_options *options, double *K, int64_t ldk);

/* The diagonal K(x, x) at the n rows of X alone (squared norms of Jacobian rows) into diag
 * (n x e, leading dimension ldd; e = 1 for NTK_OUTPUT_MEAN, k for NTK_OUTPUT_PER_OUTPUT).
 * Errors: as ntk_network_empirical_ntk; NTK_OUTPUT_FULL is INVALID_ARGUMENT. Read-only. */
int ntk_network_empirical_ntk_diagonal(const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                                       ntk_output_form output, double *diag, int64_t ldd);

/* Frees the network; NULL is a no-op. */
void ntk_network_free(ntk_network *network);

/* Sigma(X1, X2) into K_nngp and Theta(X1, X2) into K_ntk (n1 x n2 each, either may be NULL,
 * not both), the infinite-width kernels of the network's architecture; X2 NULL with n2 = n1:
 * X1's own kernels, exactly symmetric, the diagonal from each input's own recursion (rho = 1
 * exactly at equal positions). options (NULL: defaults) as ntk_infinite_width_kernels.
 * Progress per row of pairs. Memory: per thread (3 + 2 x residual depth) x positions^2 doubles
 * (positions without pooling), plus (n1 + n2) x positions doubles per activation/LAYER_NORM,
 * within the memory budget (ntk_set_memory_budget): fewer threads when all do not fit.
 * Errors: INVALID_ARGUMENT (NULL, ld, no Gaussian input where one is needed: see above),
 * DIMENSION_MISMATCH (ld), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY (one thread's
 * buffers beyond the budget), TOO_LARGE, CANCELLED. Read-only (thread-safe). */
int ntk_network_infinite_width_kernels(const ntk_network *network, int64_t n1, const double *X1, int64_t ld1,
                                       int64_t n2, const double *X2, int64_t ld2,
                                       const ntk_infinite_width_options *options,
                                       double *K_nngp, int64_t ld_nngp, double *K_ntk, int64_t ld_ntk);

/* ntk_network_infinite_width_kernels in single precision: X1, X2 and both kernels are float. The
 * position-pair tensors, the convolution and pooling sums and the relu-family, erf and gelu
 * closed forms run in float (half the memory per thread and of its traffic); the readouts'
 * means (FLATTEN, GLOBAL_AVG_POOL), LAYER_NORM's scales and the other activations in double.
 * Accuracy as ntk_infinite_width_kernels_f32 (measured: docs/architectures.md). Same options,
 * memory (in floats) and errors as the double version. */
int ntk_network_infinite_width_kernels_f32(const ntk_network *network, int64_t n1, const float *X1, int64_t ld1,
                                           int64_t n2, const float *X2, int64_t ld2,
                                           const ntk_infinite_width_options *options,
                                           float *K_nngp, int64_t ld_nngp, float *K_ntk, int64_t ld_ntk);

/* Sigma(x, x) and Theta(x, x) for each row of X (n doubles each; either may be NULL, not both).
 * Errors: as ntk_network_infinite_width_kernels. Read-only (thread-safe). */
int ntk_network_infinite_width_diagonal(const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                                        double *nngp, double *ntk);

/* ---------------------------------------------------------------------------------------
 * Large scale: Nystrom kernel ridge regression and Falkon
 *
 * Kernel ridge regression restricted to c centres C (c x d) among the n training points,
 * never forming an n x n matrix. With K_nm = K(X, C) (n x c; the literature's names are kept
 * for the kernels), K_mm = K(C, C) = L L^T (c x c), R = Y - f0 and the
 * absolute ridge z, the model is f(x) = f0(x) + K(x, C) beta with
 *     (K_nm^T K_nm + z K_mm) beta = K_nm^T R,
 * kernel ridge with the Nystrom kernel K~ = K_nm K_mm^-1 K_nm^T (all n points as centres:
 * exactly dense kernel ridge). Memory O(n d + c^2); time n c kernel entries plus:
 *   NTK_NYSTROM_DIRECT  one pass forming K_nm^T K_nm (n c^2 flops, DSYRK) and one c x c
 *                       eigendecomposition of L^-1 K_nm^T K_nm L^-T: then every ridge, GCV
 *                       score and gradient-flow time (eq. 22 with K~) costs O(c^2 k) more,
 *                       with no further pass over the data (ntk_nystrom_path, _select_ridge).
 *   NTK_NYSTROM_CG      Falkon: conjugate gradients preconditioned with the c x c Cholesky
 *                       factors of K_mm and (n/c) L^T L + z I; each iteration applies K_nm
 *                       and its transpose (4 n c k flops), from a cache of K_nm when it fits
 *                       the memory budget, else recomputing its blocks. One ridge per fit.
 * The kernel is the infinite-width NTK or NNGP of an MLP architecture (computed block by
 * block), or one the caller computed (ntk_nystrom_fit_kernel: K_nm and K_mm given).
 * ------------------------------------------------------------------------------------- */

/* How the c centres are chosen among the n training points. */
typedef enum ntk_center_selection {
    NTK_CENTERS_UNIFORM = 0,          /* c distinct points uniformly at random (seeded) */
    NTK_CENTERS_PIVOTED_CHOLESKY = 1  /* greedy pivoted Cholesky of the kernel on a pool of
                                         max(4c, 8192) uniform points (all when n is smaller):
                                         spread-out centres, never near-duplicates; costs
                                         pool x c kernel entries and O(pool c^2) flops; may stop
                                         with fewer than c centres if the kernel's rank is lower */
} ntk_center_selection;

/* How the Nystrom system is solved (see above). */
typedef enum ntk_nystrom_solver {
    NTK_NYSTROM_DIRECT = 0,
    NTK_NYSTROM_CG = 1
} ntk_nystrom_solver;

/* Which infinite-width kernel of the architecture. */
typedef enum ntk_kernel_kind {
    NTK_KERNEL_NTK = 0,
    NTK_KERNEL_NNGP = 1
} ntk_kernel_kind;

typedef struct ntk_nystrom_options {
    size_t size;                   /* sizeof(ntk_nystrom_options), set by _init */
    ntk_nystrom_solver solver;     /* default NTK_NYSTROM_DIRECT */
    ntk_center_selection centers;  /* default NTK_CENTERS_UNIFORM (ignored by _fit_kernel) */
    ntk_kernel_kind kernel;        /* default NTK_KERNEL_NTK (ignored by _fit_kernel) */
    int preconditioned;            /* CG: 1 (default) Falkon's preconditioner, 0 plain CG */
    uint64_t seed;                 /* centre sampling; default 0 */
    double tol;                    /* CG: stop at this relative residual (> 0); default 1e-8 */
    int64_t max_iter;              /* CG: iteration cap (>= 1); default 100 */
    int quadrature_points;         /* as ntk_infinite_width_options; default 0 (automatic) */
    int64_t memory_limit;          /* bytes of working memory; 0 (default): the memory budget */
    ntk_progress_fn progress;      /* default NULL; reported per block of kernel rows */
    void *progress_user;
    ntk_reduce_fn reduce;          /* default NULL; rows split over processes (see "Data parallelism") */
    void *reduce_user;
    int64_t preconditioner_rows;   /* CG: the rows of K(X, C) that build Falkon's preconditioner, a sketch
                                      (n/s) K_sm^T K_sm + z K_mm of the normal matrix from s evenly spaced
                                      rows: 0 (default): min(n, 16 c); s >= 1; -1: the centres themselves
                                      (Falkon's original (n/c) K_mm^2, no extra kernel rows) */
} ntk_nystrom_options;

#define NTK_NYSTROM_OPTIONS_INIT \
    { sizeof(ntk_nystrom_options), NTK_NYSTROM_DIRECT, NTK_CENTERS_UNIFORM, NTK_KERNEL_NTK, 1, 0, 1e-8, 100, 0, 0, \
      NULL, NULL, NULL, NULL, 0 }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_nystrom_options_init(ntk_nystrom_options *options);

/* A fitted Nystrom model (opaque). Read-only after fitting: thread-safe. */
typedef struct ntk_nystrom ntk_nystrom;

/* Fits on the n training points X (n x d) with the infinite-width kernel of mlp's
 * architecture, n_centers centres (1 <= n_centers <= n), targets Y (n x k) with offsets f0
 * (may be NULL) and ridge z >= 0 (absolute). options may be NULL (defaults). CG that does not
 * reach options->tol within max_iter is not an error: the model holds the last iterate,
 * ntk_nystrom_info reports converged = 0 and the residual, and a WARNING is logged.
 * Errors: INVALID_ARGUMENT (NULL, ld, enums, n_centers, ridge, tol <= 0, max_iter < 1,
 * memory_limit < 0), DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE (K(C, C) singular
 * even with jitter), NUMERICAL, OUT_OF_MEMORY (before any work when the budget is too small
 * for the c x c matrices), TOO_LARGE, CANCELLED. */
int ntk_nystrom_fit(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                    const ntk_targets *targets, double ridge, int64_t n_centers,
                    const ntk_nystrom_options *options, ntk_nystrom **out);

/* Fits as ntk_nystrom_fit on the caller's c centre points C (c x d, leading dimension ldc;
 * any points, not necessarily rows of X), e.g. the same centres on every process of a data
 * partition. ntk_nystrom_centers then fails (the centres have no indices).
 * Errors: as ntk_nystrom_fit (INVALID_ARGUMENT for c < 1). */
int ntk_nystrom_fit_centers(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                            const ntk_targets *targets, double ridge, int64_t c,
                            const double *C, int64_t ldc,
                            const ntk_nystrom_options *options, ntk_nystrom **out);

/* ntk_nystrom_fit and ntk_nystrom_fit_centers with the infinite-width kernel (options->kernel) of
 * a network built from layers (ntk_network_infinite_width_kernels), on its input rows X (n x d):
 * the same options, model and errors; INVALID_ARGUMENT up front for an architecture without an
 * infinite-width limit. Predict at points with ntk_nystrom_predict (test->X: d columns). Each
 * block of K(X, C) costs what ntk_network_infinite_width_kernels costs for it (with pooling,
 * positions^2 per pair). */
int ntk_network_nystrom_fit(const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                            const ntk_targets *targets, double ridge, int64_t n_centers,
                            const ntk_nystrom_options *options, ntk_nystrom **out);
int ntk_network_nystrom_fit_centers(const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                                    const ntk_targets *targets, double ridge, int64_t c, const double *C,
                                    int64_t ldc, const ntk_nystrom_options *options, ntk_nystrom **out);

/* Fits on a kernel the caller computed: K_nm = K(X, C) (n x c) and K_mm = K(C, C) (c x c,
 * symmetric). Predictions then take K(X_test, C) (test->K_test_centers). Errors: as
 * ntk_nystrom_fit. */
int ntk_nystrom_fit_kernel(int64_t n, int64_t c, const double *K_nm, int64_t ld_nm,
                           const double *K_mm, int64_t ld_mm, const ntk_targets *targets, double ridge,
                           const ntk_nystrom_options *options, ntk_nystrom **out);

/* m test points: their rows X (m x d) for a model fitted on points, or their kernel against
 * the centres K_test_centers (m x c) for one fitted on a kernel (the other NULL), and the
 * offsets f0 (m x k; NULL means 0). A plain descriptor, fixed for 1.x. */
typedef struct ntk_nystrom_test {
    int64_t m;
    const double *X;
    int64_t ldx;
    const double *K_test_centers;
    int64_t ldk;
    const double *f0;
    int64_t ldf0;
} ntk_nystrom_test;

/* Predictions f0 + K(x, C) beta of the fitted ridge, m x k into pred (leading dimension ldp).
 * Training-set predictions: pass the training points as the test set (another pass over
 * them). progress may be NULL. Errors: INVALID_ARGUMENT (NULL, ld, X for a kernel-fitted model
 * or the reverse), DIMENSION_MISMATCH, NON_FINITE, NUMERICAL, OUT_OF_MEMORY, TOO_LARGE,
 * CANCELLED. Thread-safe. */
int ntk_nystrom_predict(const ntk_nystrom *model, const ntk_nystrom_test *test,
                        double *pred, int64_t ldp, ntk_progress_fn progress, void *progress_user);

/* Predictions for every point of the grid (see ntk_grid): gradient flow with the Nystrom kernel
 * up to time t (t = INFINITY: kernel ridge with that ridge), N = n k, as ntk_spectral_predict
 * with K~ in place of K. Output contiguous count x m x k. One pass over the test points for the
 * whole grid. NTK_NYSTROM_DIRECT models only.
 * Errors: as ntk_nystrom_predict; INVALID_ARGUMENT (a CG model, times < 0, ridges < 0, eta). */
int ntk_nystrom_path(const ntk_nystrom *model, const ntk_nystrom_test *test, const ntk_grid *grid,
                     double *pred, ntk_progress_fn progress, void *progress_user);

/* The coefficients beta of every grid point of ntk_nystrom_path, contiguous count x c x k:
 * predictions are f0(x) + K(x, C) beta_i. NTK_NYSTROM_DIRECT models only.
 * Errors: INVALID_ARGUMENT (NULL, a CG model, times < 0, ridges < 0, eta), TOO_LARGE. */
int ntk_nystrom_path_coefficients(const ntk_nystrom *model, const ntk_grid *grid, double *coef);

/* GCV scores (as ntk_spectral_select_ridge with NTK_CRITERION_GCV, for K~) of each of
 * ridges[count] (>= 0) into scores, and the index of the smallest into *best (may be NULL).
 * O(c k) per ridge, no pass over the data. NTK_NYSTROM_DIRECT models only.
 * Errors: INVALID_ARGUMENT (NULL, a CG model, empty grid, ridges < 0), NON_FINITE,
 * NUMERICAL (no finite score). */
int ntk_nystrom_select_ridge(const ntk_nystrom *model, int64_t count, const double *ridges,
                             double *scores, int64_t *best);

/* Sizes and diagnostics; every out-pointer may be NULL. iterations: CG iterations run (0 for
 * DIRECT); residual: the last relative residual (0 for DIRECT); converged: 1 or 0; jitter: the
 * diagonal added to K_mm (0 if none); c may be < n_centers with pivoted Cholesky. */
int ntk_nystrom_info(const ntk_nystrom *model, int64_t *n, int64_t *c, int64_t *k,
                     int64_t *iterations, double *residual, int *converged, double *jitter);

/* The CG residual after each iteration (iterations doubles; see _info). */
int ntk_nystrom_residuals(const ntk_nystrom *model, double *history);

/* The indices of the centres among the training points (c int64s, in the order chosen).
 * INVALID_ARGUMENT for a model fitted on a kernel (its centres are the caller's). */
int ntk_nystrom_centers(const ntk_nystrom *model, int64_t *indices);

/* beta (c x k) into coef (leading dimension ldc). */
int ntk_nystrom_coefficients(const ntk_nystrom *model, double *coef, int64_t ldc);

/* The c eigenvalues of L^-1 K_nm^T K_nm L^-T (the non-zero spectrum of K~), ascending.
 * NTK_NYSTROM_DIRECT models only. */
int ntk_nystrom_eigenvalues(const ntk_nystrom *model, double *w);

/* Frees the model. NULL and already-freed handles are ignored. */
void ntk_nystrom_free(ntk_nystrom *model);

/* ---------------------------------------------------------------------------------------
 * Large scale: matrix-free empirical NTK (conjugate gradients, Lanczos)
 *
 * The empirical NTK (mean over outputs) of an MLP at any n, never formed: a product K v costs
 * one sweep of J^T v (per layer a GEMM of the samples' backpropagated signals and activations)
 * and one of J g (a GEMM and a row-wise dot product), about 4 n P flops, with the activations
 * and signals of all samples kept when they fit half the memory budget (else recomputed per
 * product). Two solvers on it:
 *   ntk_empirical_ridge_fit      (K + z I) alpha = Y - f0 by conjugate gradients, preconditioned
 *                                with a rank-m Nystrom approximation of K (m uniform centres,
 *                                Woodbury); predictions f0(x) + K(x, X) alpha.
 *   ntk_empirical_gradient_flow  MSE gradient flow at finite times: train f0 + R - e^{-sK} R and
 *                                test f0(x) + K(x, X) phi_s(K) R, s = eta t / N, phi_s(l) =
 *                                (1 - e^{-s l}) / l, by Lanczos with full reorthogonalisation (one
 *                                Krylov basis per target column serves every time).
 * ------------------------------------------------------------------------------------- */

typedef struct ntk_empirical_solver_options {
    size_t size;                  /* sizeof(ntk_empirical_solver_options), set by _init */
    double tol;                   /* > 0; CG: relative residual; Lanczos: relative change of the
                                     approximation between checks (every 5 steps); default 1e-8 */
    int64_t max_iter;             /* >= 1; CG iterations / Lanczos steps per column; default 500 */
    int64_t preconditioner_rank;  /* CG: Nystrom centres of the preconditioner (0: none); default 256 */
    uint64_t seed;                /* the preconditioner's centres; default 0 */
    double learning_rate;         /* gradient flow: eta > 0; default 1 */
    int64_t memory_limit;         /* bytes of working memory; 0 (default): the memory budget */
    ntk_progress_fn progress;     /* default NULL; reported per iteration */
    void *progress_user;
    ntk_reduce_fn reduce;         /* default NULL; rows split over processes (see "Data
                                     parallelism"); the ridge's preconditioner then needs
                                     preconditioner_centers (the same on every process) */
    void *reduce_user;
    /* default NULL: preconditioner_rank rows of X drawn with seed. Else the preconditioner's
     * centres as points: preconditioner_rank rows of d inputs (leading dimension
     * preconditioner_ldc >= d), for ntk_empirical_ridge_fit (not for a model's fit). */
    const double *preconditioner_centers;
    int64_t preconditioner_ldc;
    /* The ridge fit of an MLP (ntk_empirical_ridge_fit): NTK_PRECISION_SINGLE runs the CG's
     * NTK-vector products in float (activations and signals kept as floats: half the memory,
     * about half the time of a product); CG replaces its residual by the double one (one double
     * product) whenever it has fallen 100-fold and before it stops, and restarts from it, so
     * alpha is the double fit's to tol. Ill-conditioned systems take more iterations; when the
     * float products stop making progress, double CG finishes (a WARNING). Default
     * NTK_PRECISION_DOUBLE. Other fits and the gradient flows take only NTK_PRECISION_DOUBLE
     * (else INVALID_ARGUMENT). */
    int64_t precision;
} ntk_empirical_solver_options;

/* The precision of a solver's products (ntk_empirical_solver_options.precision). */
typedef enum ntk_precision {
    NTK_PRECISION_DOUBLE = 0,
    NTK_PRECISION_SINGLE = 1
} ntk_precision;

#define NTK_EMPIRICAL_SOLVER_OPTIONS_INIT \
    { sizeof(ntk_empirical_solver_options), 1e-8, 500, 256, 0, 1.0, 0, NULL, NULL, NULL, NULL, NULL, 0, \
      NTK_PRECISION_DOUBLE }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_empirical_solver_options_init(ntk_empirical_solver_options *options);

/* m points: their rows X (m x d) and the offsets f0 (m x k; NULL means 0). A plain descriptor,
 * fixed for 1.x. */
typedef struct ntk_points {
    int64_t m;
    const double *X;
    int64_t ldx;
    const double *f0;
    int64_t ldf0;
} ntk_points;

/* A fitted matrix-free empirical NTK ridge model (opaque). It keeps a copy of the network's
 * parameters at the fit and J(X)^T alpha, not X. Read-only after fitting: thread-safe. */
typedef struct ntk_empirical_ridge ntk_empirical_ridge;

/* Fits (K + z I) alpha = Y - f0 for the empirical NTK of mlp on X (n x d), targets Y (n x k)
 * with offsets f0 (may be NULL), ridge z >= 0. CG that does not reach options->tol within
 * max_iter is not an error: the model holds the last iterate, ntk_empirical_ridge_info reports
 * converged = 0 and the residual, and a WARNING is logged. options may be NULL.
 * Errors: INVALID_ARGUMENT (NULL, ld, ridge, tol <= 0, max_iter < 1, preconditioner_rank < 0,
 * memory_limit < 0), DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE (the
 * preconditioner's centre kernel singular beyond jitter), OUT_OF_MEMORY (before any work),
 * TOO_LARGE, CANCELLED. */
int ntk_empirical_ridge_fit(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                            const ntk_targets *targets, double ridge,
                            const ntk_empirical_solver_options *options, ntk_empirical_ridge **out);

/* Predictions f0 + K(x, X) alpha at test->X (m x d) into pred (m x k, leading dimension ldp).
 * progress may be NULL. Errors: INVALID_ARGUMENT (NULL, ld), DIMENSION_MISMATCH, NON_FINITE,
 * NUMERICAL, OUT_OF_MEMORY, CANCELLED. Thread-safe. */
int ntk_empirical_ridge_predict(const ntk_empirical_ridge *model, const ntk_points *test,
                                double *pred, int64_t ldp, ntk_progress_fn progress, void *progress_user);

/* Sizes and diagnostics; every out-pointer may be NULL. */
int ntk_empirical_ridge_info(const ntk_empirical_ridge *model, int64_t *n, int64_t *k,
                             int64_t *iterations, double *residual, int *converged);

/* The relative residual after each iteration (iterations doubles). */
int ntk_empirical_ridge_residuals(const ntk_empirical_ridge *model, double *history);

/* alpha (n x k) into alpha (leading dimension lda). */
int ntk_empirical_ridge_dual_coefficients(const ntk_empirical_ridge *model, double *alpha, int64_t lda);

/* Frees the model. NULL and already-freed handles are ignored. */
void ntk_empirical_ridge_free(ntk_empirical_ridge *model);

/* Gradient flow with MSE under the empirical NTK of mlp on X (n x d) at times[count] (finite,
 * >= 0, any order; t = INFINITY is ntk_empirical_ridge_fit), targets Y (n x k) with offsets f0,
 * learning rate options->learning_rate, N = n k. Outputs contiguous, either may be NULL:
 * pred_train count x n x k, pred_test count x m x k (needs test, may be NULL).
 * *error_estimate (may be NULL): the largest relative change of the Lanczos approximation at its
 * last check (0 if the Krylov space became invariant: exact); above options->tol after max_iter
 * steps a WARNING is logged (not an error). With options->reduce, X and Y are this process's
 * rows, N counts every process's, and pred_train gets this process's rows.
 * Errors: INVALID_ARGUMENT (NULL, ld, times, learning_rate, tol, max_iter), DIMENSION_MISMATCH,
 * NON_FINITE, NUMERICAL, OUT_OF_MEMORY, TOO_LARGE, CANCELLED. */
int ntk_empirical_gradient_flow(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                                const ntk_targets *targets, int64_t count, const double *times,
                                const ntk_points *test, const ntk_empirical_solver_options *options,
                                double *pred_train, double *pred_test, double *error_estimate);

/* ntk_empirical_ridge_fit and ntk_empirical_gradient_flow for a network built from layers, on
 * its input rows X (n x d): the same options, outputs and errors; the ridge predicts with
 * ntk_empirical_ridge_predict at inputs. The products go through the network's Jacobian
 * (kept, n k P doubles, when that fits half of the memory limit; else recomputed per block of
 * rows), the preconditioner's columns through ntk_network_empirical_ntk. The ridge keeps a copy
 * of the parameters at the fit and the network's architecture (not X). */
int ntk_network_ridge_fit(const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                          const ntk_targets *targets, double ridge,
                          const ntk_empirical_solver_options *options, ntk_empirical_ridge **out);
int ntk_network_gradient_flow(const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                              const ntk_targets *targets, int64_t count, const double *times,
                              const ntk_points *test, const ntk_empirical_solver_options *options,
                              double *pred_train, double *pred_test, double *error_estimate);

/* ---------------------------------------------------------------------------------------
 * The tangent kernel of any model: Jacobian-vector products by callbacks
 *
 * A model f(x; theta) with P parameters and k outputs that libntk knows only through products
 * with its Jacobian J(x) = df(x)/dtheta (k x P) at the caller's fixed parameters, on rows of
 * the caller's data referenced by index: libntk never sees the inputs, and the row indices
 * mean whatever the caller says (train and test rows in one index space, for example).
 * Every function that takes an MLP's rows has a model form here: the kernel (dense, three
 * output forms, diagonal), kernel ridge by preconditioned CG, and the gradient flow by
 * Lanczos, all with the same conventions (sum over all P parameters, mean over outputs).
 *
 * The callbacks get `count` (1 .. block_rows) row indices and contiguous row-major buffers:
 *   jvp      in: nvec tangents (nvec x P); out: J(x_rows[i]) v_j as nvec x count x k
 *   vjp      in: nvec cotangents (nvec x count x k); out: sum_i J(x_rows[i])^T u_j[i], nvec x P
 *   forward  out: f(x_rows[i]), count x k                          (optional)
 *   jacobian out: J(x_rows[i]), count x k x P                      (optional: the dense kernel
 *            otherwise calls vjp once per row with the k unit cotangents)
 * and return 0, or non-zero to stop the library call with NTK_ERR_CALLBACK (the message names
 * the callback and the value it returned; nothing leaks and the handles stay usable). A
 * callback must not call back into libntk with the handles in use. Callbacks run on the
 * calling thread, or on several threads at once when thread_safe is non-zero (today: the
 * per-row vjp calls that build Jacobian rows). NaN or Inf in what a callback writes fails
 * with NTK_ERR_NON_FINITE.
 *
 * Cost: a kernel-vector product K V (V n x r) is one vjp sweep over the n rows and one jvp
 * sweep, each with r k vectors; nothing of order n^2 or n P is stored.
 * ------------------------------------------------------------------------------------- */

/* A product with the Jacobian on `count` rows: jvp (nvec tangents) or vjp (nvec cotangents). */
typedef int (*ntk_model_product_fn)(void *user, int64_t count, const int64_t *rows, int64_t nvec,
                                    const double *in, double *out);
/* A function of `count` rows: the forward pass (count x k) or the Jacobian (count x k x P). */
typedef int (*ntk_model_rows_fn)(void *user, int64_t count, const int64_t *rows, double *out);

typedef struct ntk_model_callbacks {
    size_t size;                /* sizeof(ntk_model_callbacks), set by _init */
    int64_t n_params;           /* P >= 1 (no default: 0 is rejected) */
    int64_t k;                  /* outputs >= 1; default 1 */
    ntk_model_product_fn jvp;   /* required */
    ntk_model_product_fn vjp;   /* required */
    ntk_model_rows_fn forward;  /* optional (NULL): ntk_model_forward */
    ntk_model_rows_fn jacobian; /* optional (NULL): faster dense kernels when the caller has it */
    void *user;                 /* passed to every callback */
    int64_t block_rows;         /* most rows per call, >= 1; default 256 */
    int thread_safe;            /* non-zero: callbacks may run on several threads; default 0 */
} ntk_model_callbacks;

/* Sets callbacks->size and every default (call it first, then set n_params, k, jvp, vjp, ...).
 * Errors: INVALID_ARGUMENT (NULL). */
int ntk_model_callbacks_init(ntk_model_callbacks *callbacks);

/* A model described by callbacks (opaque). Read-only: thread-safe as far as its callbacks are.
 * Objects made from it (ntk_empirical_ridge) keep the callbacks and their user pointer: both
 * must stay valid while those objects are used, even after ntk_model_free. */
typedef struct ntk_model ntk_model;

/* Copies the callbacks into a new model. Errors: INVALID_ARGUMENT (NULL, size, n_params < 1,
 * k < 1, block_rows < 1, jvp or vjp NULL), TOO_LARGE (P beyond 32-bit BLAS). */
int ntk_model_create(const ntk_model_callbacks *callbacks, ntk_model **out);

/* P and k; either out-pointer may be NULL. */
int ntk_model_info(const ntk_model *model, int64_t *n_params, int64_t *k);

/* f(x) at n rows (rows: n indices; NULL means 0 .. n-1) into out (n x k, leading dimension
 * ldo), in calls of block_rows. Errors: INVALID_ARGUMENT (no forward callback, NULL, negative
 * index, ld), NON_FINITE, CALLBACK. */
int ntk_model_forward(const ntk_model *model, int64_t n, const int64_t *rows, double *out, int64_t ldo);

/* Frees the model. NULL and already-freed handles are ignored. */
void ntk_model_free(ntk_model *model);

/* The tangent kernel K_cc'(a, b) = J_c(a) . J_c'(b) between rows1 (n1 indices; NULL: 0 .. n1-1)
 * and rows2 (n2 indices; NULL with n2 = n1: the symmetric kernel of rows1, exactly symmetric)
 * into K, as ntk_empirical_ntk writes it (n1 x (n2 e), e entries per pair, leading dimension
 * ldk). options may be NULL; options->method: NTK_METHOD_STRUCTURED (default) or
 * NTK_METHOD_JACOBIAN = Jacobian contraction (Jacobian rows in blocks, one GEMM per block
 * pair), NTK_METHOD_VECTOR_PRODUCTS = J(rows2) pushed through jvp over rows1. memory_limit
 * bounds the Jacobian blocks (two of them take at most half of it); progress per block pair.
 * Errors: INVALID_ARGUMENT (NULL, ld, enums, negative index), DIMENSION_MISMATCH, NON_FINITE,
 * OUT_OF_MEMORY (not even two Jacobian rows fit), TOO_LARGE, CANCELLED, CALLBACK. */
int ntk_model_empirical_ntk(const ntk_model *model, int64_t n1, const int64_t *rows1, int64_t n2,
                            const int64_t *rows2, ntk_output_form output,
                            const ntk_empirical_ntk_options *options, double *K, int64_t ldk);

/* The diagonal K(x, x) at n rows alone (squared norms of Jacobian rows) into diag (n x e,
 * leading dimension ldd; e = 1 for NTK_OUTPUT_MEAN, k for NTK_OUTPUT_PER_OUTPUT).
 * Errors: as ntk_model_empirical_ntk; NTK_OUTPUT_FULL is INVALID_ARGUMENT. */
int ntk_model_empirical_ntk_diagonal(const ntk_model *model, int64_t n, const int64_t *rows,
                                     ntk_output_form output, double *diag, int64_t ldd);

/* m rows of the caller's data (indices the model understands) and their offsets f0 (m x k;
 * NULL means 0): the test points of a model. A plain descriptor, fixed for 1.x. */
typedef struct ntk_rows {
    int64_t m;
    const int64_t *rows;
    const double *f0;
    int64_t ldf0;
} ntk_rows;

/* ntk_empirical_ridge_fit for a model: (K + z I) alpha = Y - f0 on n rows (NULL: 0 .. n-1),
 * CG with the rank-m Nystrom preconditioner (its centres' kernel columns by Jacobian
 * contraction: m Jacobian rows kept, n rows' Jacobians in blocks). The model is kept for
 * predictions (ntk_empirical_ridge_predict_rows). options->reduce is accepted as for the MLP
 * (with preconditioner_rank = 0). Errors: as ntk_empirical_ridge_fit, and CALLBACK. */
int ntk_model_ridge_fit(const ntk_model *model, int64_t n, const int64_t *rows, const ntk_targets *targets,
                        double ridge, const ntk_empirical_solver_options *options, ntk_empirical_ridge **out);

/* Predictions f0 + K(x, X) alpha at test->rows into pred (test->m x k, leading dimension ldp)
 * for a ridge fitted by ntk_model_ridge_fit (one jvp sweep). INVALID_ARGUMENT for a ridge
 * fitted on an MLP (use ntk_empirical_ridge_predict), and the reverse.
 * Errors: as ntk_empirical_ridge_predict, and CALLBACK. Thread-safe if the callbacks are. */
int ntk_empirical_ridge_predict_rows(const ntk_empirical_ridge *model, const ntk_rows *test, double *pred,
                                     int64_t ldp, ntk_progress_fn progress, void *progress_user);

/* ntk_empirical_gradient_flow for a model on n rows (NULL: 0 .. n-1), test predictions at
 * test->rows (test may be NULL). Errors: as ntk_empirical_gradient_flow, and CALLBACK. */
int ntk_model_gradient_flow(const ntk_model *model, int64_t n, const int64_t *rows, const ntk_targets *targets,
                            int64_t count, const double *times, const ntk_rows *test,
                            const ntk_empirical_solver_options *options, double *pred_train,
                            double *pred_test, double *error_estimate);

/* ---------------------------------------------------------------------------------------
 * Training the network, the moving kernel, and function-space dynamics
 * ------------------------------------------------------------------------------------- */

typedef enum ntk_loss {
    NTK_LOSS_MSE = 0,          /* (1/N) sum 1/2 (f - y)^2 over all N = n k entries */
    NTK_LOSS_CROSS_ENTROPY = 1 /* softmax over k > 1 outputs (targets: probability rows), or
                                  the logistic loss for k = 1 (targets in [0, 1]); mean over rows */
} ntk_loss;

/* Called after every epoch with the training loss; return non-zero to stop. */
typedef int (*ntk_epoch_fn)(void *user, int64_t epoch, double loss);

/* Called after each snapshot epoch with the empirical NTK (mean over outputs) of the m probe
 * rows, K_probe (m x m, contiguous, valid only during the call: copy what you keep), and its
 * largest eigenvalue; return non-zero to stop. */
typedef int (*ntk_snapshot_fn)(void *user, int64_t epoch, const double *K_probe, int64_t m,
                               double lambda_max);

/* The loss over the n rows of X (targets Y, n x k) and its gradient d loss / d theta
 * (p doubles, may be NULL), by backpropagation.
 * Errors: INVALID_ARGUMENT (NULL, ld, loss, cross-entropy targets that are not
 * probabilities), NON_FINITE, NUMERICAL (overflow), OUT_OF_MEMORY, TOO_LARGE. Read-only (thread-safe). */
int ntk_mlp_loss_gradient(const ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx,
                          const double *Y, int64_t ldy, ntk_loss loss, double *value, double *gradient);

typedef struct ntk_train_options {
    size_t size;            /* sizeof(ntk_train_options), set by _init */
    ntk_loss loss;          /* default NTK_LOSS_MSE */
    double learning_rate;   /* eta > 0; default 1 */
    int64_t batch_size;     /* rows per step; 0 (default): all rows, full-batch gradient descent */
    double momentum;        /* mu in [0, 1); default 0 */
    uint64_t seed;          /* minibatch shuffles; default 0 */
    ntk_epoch_fn epoch_callback; /* default NULL */
    void *epoch_user;
    /* Kernel snapshots: after each of the num_snapshots strictly increasing snapshot_epochs
     * (in 0..epochs), the probe kernel of the m rows of X_probe (leading dimension ldprobe)
     * goes to snapshot_callback. Default: none. */
    int64_t num_snapshots;
    const int64_t *snapshot_epochs;
    int64_t m;
    const double *X_probe;
    int64_t ldprobe;
    ntk_snapshot_fn snapshot_callback;
    void *snapshot_user;
} ntk_train_options;

#define NTK_TRAIN_OPTIONS_INIT \
    { sizeof(ntk_train_options), NTK_LOSS_MSE, 1.0, 0, 0.0, 0, NULL, NULL, 0, NULL, 0, NULL, 0, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_train_options_init(ntk_train_options *options);

/* Trains the network in place for `epochs` epochs: each step v <- momentum v + grad,
 * theta <- theta - learning_rate v on a minibatch of batch_size rows, batches reshuffled
 * every epoch from `seed`. X is n x d, Y n x k.
 * losses (epochs + 1 doubles, may be NULL): the loss on all rows after each epoch, losses[0]
 * at the start; NaN after the last epoch run. Training stops when the loss becomes NaN/Inf
 * (*diverged = 1; the network keeps its last finite parameters) or when a callback returns
 * non-zero; *epochs_run tells how far it got (epochs_run and diverged may be NULL).
 * The network's parameters change: do not use it from other threads meanwhile (readers see
 * the parameters of the last snapshot). options may be NULL (defaults).
 * Errors: INVALID_ARGUMENT (NULL, ld, loss, learning_rate <= 0, momentum outside [0, 1),
 * snapshot epochs not increasing or beyond epochs, targets), NON_FINITE, OUT_OF_MEMORY,
 * TOO_LARGE. Divergence and stopping are not errors (NTK_OK). */
int ntk_mlp_train(ntk_mlp *mlp, int64_t n, const double *X, int64_t ldx, const double *Y, int64_t ldy,
                  int64_t epochs, const ntk_train_options *options,
                  double *losses, int64_t *epochs_run, int *diverged);

/* ntk_mlp_loss_gradient and ntk_mlp_train for a network built from layers (X: n x d rows in the
 * network's input layout; the gradient in the layout of ntk_network_get_parameters), with the
 * same options, conventions and errors. Each backward pass sums the parameter gradients of a
 * block of rows by one GEMM per DENSE/CONV layer; the probe kernels are ntk_network_empirical_ntk. */
int ntk_network_loss_gradient(const ntk_network *network, int64_t n, const double *X, int64_t ldx,
                              const double *Y, int64_t ldy, ntk_loss loss, double *value, double *gradient);
int ntk_network_train(ntk_network *network, int64_t n, const double *X, int64_t ldx, const double *Y, int64_t ldy,
                      int64_t epochs, const ntk_train_options *options,
                      double *losses, int64_t *epochs_run, int *diverged);

/* Kernel distance 1 - <A, B>_F / (|A|_F |B|_F) of two arrays of `count` doubles: 0 for
 * identical kernels, invariant to scaling. INVALID_ARGUMENT for a zero kernel.
 * Read-only inputs; thread-safe. */
int ntk_kernel_distance(int64_t count, const double *A, const double *B, double *distance);

/* Kernel-target alignment <K, Y Y^T>_F / (|K|_F |Y Y^T|_F), K n x n, Y n x k.
 * Errors: INVALID_ARGUMENT (NULL, ld; zero kernel or zero targets: undefined),
 * NON_FINITE. Thread-safe. */
int ntk_kernel_alignment(int64_t n, int64_t k, const double *K, int64_t ldk,
                         const double *Y, int64_t ldy, double *alignment);

typedef struct ntk_ode_options {
    size_t size;              /* sizeof(ntk_ode_options), set by _init */
    double learning_rate;     /* eta > 0; default 1 */
    double rtol;              /* relative tolerance > 0; default 1e-10 */
    double atol;              /* absolute tolerance > 0; default 1e-12 */
    ntk_progress_fn progress; /* default NULL */
    void *progress_user;
} ntk_ode_options;

#define NTK_ODE_OPTIONS_INIT { sizeof(ntk_ode_options), 1.0, 1e-10, 1e-12, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_ode_options_init(ntk_ode_options *options);

/* Function-space gradient flow for any loss with a fixed kernel:
 *   d f_train/dt = -eta K_train grad_f L(f_train),  d f_test/dt = -eta K_test_train grad_f L(f_train)
 * from the offsets f0 (NULL: 0), by adaptive Dormand-Prince 5(4), to every time in
 * times[count] (finite, >= 0, any order). K_train is n x n; targets Y, f0 n x k; test (may be
 * NULL) a test kernel m x n with its offsets. Outputs contiguous: pred_train count x n x k,
 * pred_test count x m x k (each may be NULL; pred_test needs test). For MSE this is the closed
 * form of ntk_spectral_predict; long MSE runs are stiff and slow here. NUMERICAL after 1e6
 * steps. options may be NULL.
 * Errors: INVALID_ARGUMENT (NULL, ld, loss, times, learning_rate, tolerances, targets),
 * DIMENSION_MISMATCH, NON_FINITE, NUMERICAL, OUT_OF_MEMORY, TOO_LARGE, CANCELLED. */
int ntk_gradient_flow_ode(int64_t n, const double *K_train, int64_t ldk,
                          const ntk_targets *targets, const ntk_test_kernel *test,
                          int64_t count, const double *times, ntk_loss loss,
                          const ntk_ode_options *options,
                          double *pred_train, double *pred_test);

/* ---------------------------------------------------------------------------------------
 * Kernels fitted to the data: hyperparameter gradients and tuning objectives
 *
 * The infinite-width NNGP or NTK of an architecture depends on W_std, b_std (every layer's) and
 * on per-feature input scales s: the kernel of X is the kernel of the scaled rows s * x
 * (automatic relevance determination; equal scales are one shared length scale). The functions
 * below give exact derivatives with respect to theta = [W_std, b_std, s_1 ... s_d] (p = d + 2),
 * by forward-mode differentiation of the layer recursion with the closed forms' derivatives
 * (every activation; tanh, sigmoid and softplus cost about M^2 arcsines per pair, M ~ 16..24),
 * and the tuning objectives with their gradients (docs/tuning.md). Depth, activation,
 * parameterisation and bias come from the mlp handle; its own W_std and b_std are replaced by
 * the hyperparameters'. Derivatives are with respect to the values, not their logarithms.
 * ------------------------------------------------------------------------------------- */

typedef struct ntk_kernel_hyperparameters {
    size_t size;                /* sizeof(ntk_kernel_hyperparameters), set by _init */
    double w_std;               /* W_std >= 0; default 1 */
    double b_std;               /* b_std >= 0; default 0 */
    const double *input_scales; /* d scales >= 0 (x -> s * x); default NULL: all 1 */
    double ridge;               /* z > 0, absolute: ridge or noise variance (objectives only); default 0.01 */
    double amplitude;           /* a > 0: the kernel is a K (objectives only); default 1 */
} ntk_kernel_hyperparameters;

/* Sets hyper->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_kernel_hyperparameters_init(ntk_kernel_hyperparameters *hyper);

/* The kernel K = K(X s, X s) of the n rows of X (n x d, leading dimension ldx) into K (n x n,
 * leading dimension ldk; may be NULL) and its p = d + 2 derivatives dK/dtheta_j into dK
 * (p x n x n contiguous, [W_std, b_std, s_1 ... s_d]). hyper NULL: the mlp's W_std, b_std and
 * scales 1; options may be NULL (quadrature_points, progress). p n^2 doubles: for small n.
 * Errors: INVALID_ARGUMENT (NULL, ld, kind, hyperparameters), DIMENSION_MISMATCH, NON_FINITE,
 * NUMERICAL (a non-finite derivative), OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Thread-safe. */
int ntk_infinite_width_gradient(const ntk_mlp *mlp, ntk_kernel_kind kind, int64_t n, const double *X,
                                int64_t ldx, const ntk_kernel_hyperparameters *hyper,
                                const ntk_infinite_width_options *options,
                                double *K, int64_t ldk, double *dK);

/* gradient[j] = sum over a, b of G[a, b] dK[a, b]/dtheta_j (p = d + 2 doubles) for the n x n
 * weights G (leading dimension ldg; only G + G^T matters): the gradient of any function of K
 * whose derivative in K is G, in O(n^2 (d + depth)) time without storing the p derivatives.
 * Errors: as ntk_infinite_width_gradient. Thread-safe. */
int ntk_infinite_width_gradient_contract(const ntk_mlp *mlp, ntk_kernel_kind kind, int64_t n, const double *X,
                                         int64_t ldx, const ntk_kernel_hyperparameters *hyper,
                                         const double *G, int64_t ldg,
                                         const ntk_infinite_width_options *options, double *gradient);

/* The tuning criteria. With Kz = a K + z I (amplitude a, ridge or noise variance z), residuals
 * R = Y - f0 (n x k) and N = n k:
 *   LML: log N(R; 0, Kz) summed over the k columns, as ntk_gp_posterior's (maximise);
 *   GCV: |(I - H) R|^2 / N / (1 - tr(H) / n)^2, H = a K Kz^-1, as ntk_spectral_select_ridge's (minimise);
 *   LOO: the exact leave-one-out mean squared error of that kernel ridge (minimise). */
typedef enum ntk_tuning_criterion {
    NTK_TUNING_LML = 0,
    NTK_TUNING_GCV = 1,
    NTK_TUNING_LOO = 2
} ntk_tuning_criterion;

/* The criterion at hyper (with its ridge z > 0 and amplitude a > 0; NULL: the mlp's W_std and
 * b_std, scales 1, z = 0.01, a = 1) into *value and its gradient with respect to
 * [W_std, b_std, s_1 ... s_d, z, a] (d + 4 doubles; may be NULL) on the n training
 * rows X and targets. Dense: one kernel, one Cholesky and its inverse, one n^3 product for GCV
 * and LOO, one gradient pass (about 5 n^3 / 3 flops in all). Any optimiser can drive it
 * (the Python package uses L-BFGS-B in log-parameters).
 * Errors: INVALID_ARGUMENT (NULL, ld, kind, criterion, hyperparameters, z <= 0, a <= 0),
 * DIMENSION_MISMATCH, NON_FINITE, NOT_POSITIVE_DEFINITE (a K + z I at these hyperparameters),
 * NUMERICAL, OUT_OF_MEMORY, TOO_LARGE, CANCELLED. Thread-safe. */
int ntk_kernel_objective(const ntk_mlp *mlp, ntk_kernel_kind kind, int64_t n, const double *X, int64_t ldx,
                         const ntk_targets *targets, const ntk_kernel_hyperparameters *hyper,
                         ntk_tuning_criterion criterion, const ntk_infinite_width_options *options,
                         double *value, double *gradient);

/* GCV of Nystrom kernel ridge (the model of ntk_nystrom_fit_centers: kernel ridge with
 * K~ = B S^-1 B^T, B = a K(X, C), S = a K(C, C)) with the centres C = centers->X (c x d;
 * centers->f0 must be NULL) and its gradient with respect to [W_std, b_std, s_1 ... s_d, z, a]
 * (d + 4 doubles; may be NULL), from hyper (with its ridge z and amplitude a): beyond the dense
 * ceiling, in O(n c) memory and O(n c (c + d + depth)) work per evaluation (never n x n). The
 * value equals ntk_nystrom_select_ridge's GCV score for the same centres and ridge z / a.
 * Errors: as ntk_kernel_objective; NUMERICAL also for an interpolating fit (tr H = n). */
int ntk_kernel_objective_nystrom(const ntk_mlp *mlp, ntk_kernel_kind kind, int64_t n, const double *X,
                                 int64_t ldx, const ntk_points *centers, const ntk_targets *targets,
                                 const ntk_kernel_hyperparameters *hyper, const ntk_infinite_width_options *options,
                                 double *value, double *gradient);

/* ---------------------------------------------------------------------------------------
 * Kernel logistic regression: classification with cross-entropy
 *
 *   logits(x) = f0(x) + K(x, Z) beta,  beta = B w,  w minimising
 *   J(w) = sum_i [log sum_c exp(f_ic) - f_i,y_i] + (ridge/2) |w|^2,  f = f0 + Phi w
 *
 * for k >= 2 classes, the t -> infinity limit of training with cross-entropy under the kernel
 * (eq. 13) with a ridge. Phi are features of the kernel: for a dense kernel (Z = the n
 * training points) its eigendecomposition, so the penalty is (ridge/2) sum_c f_c^T K^-1 f_c;
 * for Nystrom (Z = c centres) Phi = K_nm L^-T with K_mm = L L^T, memory O(n c). Newton's
 * method with conjugate-gradient inner solves and a line search; exact to options->tol.
 * The same minimiser is the mode of Gaussian-process classification with prior covariance
 * K / ridge on each class's logits: the Laplace approximation gives the latent covariance at
 * test points and the log marginal likelihood. The approximate leave-one-out log loss (one
 * Newton step of each refit, closed form) selects the ridge from a grid without refits.
 * ------------------------------------------------------------------------------------- */

/* Training labels: n labels in 0..n_classes-1 (n from the kernel), n_classes >= 2, and the
 * offsets f0 (n x n_classes logits, leading dimension ldf0; NULL means 0), e.g. a trained
 * network's logits to boost. A plain descriptor, fixed for 1.x. */
typedef struct ntk_labels {
    const int64_t *labels;
    int64_t n_classes;
    const double *f0;
    int64_t ldf0;
} ntk_labels;

typedef struct ntk_kernel_logistic_options {
    size_t size;              /* sizeof(ntk_kernel_logistic_options), set by _init */
    /* > 0: fit every ridge of ridges[0 .. n_ridges-1] (each > 0) and keep the one with the
     * smallest approximate leave-one-out log loss (the ridge argument is then ignored); each
     * grid point costs a warm-started Newton solve and one exact Hessian. 0 (default): fit
     * the ridge argument. */
    int64_t n_ridges;
    const double *ridges;
    double tol;               /* Newton stops at |gradient| <= tol |gradient at 0|; default 1e-10 */
    int64_t max_iter;         /* Newton steps at most (>= 1); default 100 */
    int64_t memory_limit;     /* bytes of working memory; 0 (default): the memory budget */
    ntk_progress_fn progress; /* default NULL */
    void *progress_user;
} ntk_kernel_logistic_options;

#define NTK_KERNEL_LOGISTIC_OPTIONS_INIT \
    { sizeof(ntk_kernel_logistic_options), 0, NULL, 1e-10, 100, 0, NULL, NULL }

/* Sets options->size and every default. Errors: INVALID_ARGUMENT (NULL). */
int ntk_kernel_logistic_options_init(ntk_kernel_logistic_options *options);

typedef struct ntk_kernel_logistic ntk_kernel_logistic;

/* Fits on a dense kernel K_train (n x n, symmetric positive semi-definite) with ridge > 0
 * into a new handle *out (NULL on failure). options may be NULL (defaults). Newton that does
 * not reach options->tol within max_iter is not an error: ntk_kernel_logistic_info reports
 * converged = 0 and a WARNING is logged.
 * Errors: INVALID_ARGUMENT (NULL, ld, ridge <= 0, a label outside 0..n_classes-1,
 * n_classes < 2, tol, max_iter, memory_limit, empty grid), DIMENSION_MISMATCH, NON_FINITE,
 * NOT_POSITIVE_DEFINITE (K has no positive eigenvalue), NUMERICAL, OUT_OF_MEMORY,
 * TOO_LARGE, CANCELLED. Memory: about 5 n^2 doubles during the fit (the eigendecomposition),
 * 2 n^2 kept. */
int ntk_kernel_logistic_fit(int64_t n, const double *K_train, int64_t ldk, const ntk_labels *labels,
                            double ridge, const ntk_kernel_logistic_options *options,
                            ntk_kernel_logistic **out);

/* Fits on c Nystrom centres: K_nm = K(X, C) (n x c) and K_mm = K(C, C) (c x c, symmetric;
 * a tiny jitter is added if it is numerically singular). Predictions then take the test
 * points' kernel against the centres (m x c). Memory: n c + 3 c^2 doubles, never n x n.
 * Errors: as ntk_kernel_logistic_fit; NOT_POSITIVE_DEFINITE (K_mm singular beyond jitter). */
int ntk_kernel_logistic_fit_nystrom(int64_t n, int64_t c, const double *K_nm, int64_t ld_nm,
                                    const double *K_mm, int64_t ld_mm, const ntk_labels *labels,
                                    double ridge, const ntk_kernel_logistic_options *options,
                                    ntk_kernel_logistic **out);

/* Fits on c Nystrom centre points (centers->X, c x d, any points; centers->f0 must be NULL)
 * with the infinite-width kernel `kind` of mlp's architecture: K(X, C) is computed block by block
 * straight into the features, so the memory is n c + 3 c^2 doubles, never a stored n x c
 * kernel. Predictions take the test points' kernel against the centres (m x c).
 * Errors: as ntk_kernel_logistic_fit_nystrom; INVALID_ARGUMENT (kind, no centres, centers->f0),
 * DIMENSION_MISMATCH (X or C without the architecture's input dimension). */
int ntk_kernel_logistic_fit_centers(const ntk_mlp *mlp, ntk_kernel_kind kind, int64_t n, const double *X,
                                    int64_t ldx, const ntk_points *centers, const ntk_labels *labels,
                                    double ridge, const ntk_kernel_logistic_options *options,
                                    ntk_kernel_logistic **out);

/* ntk_kernel_logistic_fit_centers with the infinite-width kernel of a network built from layers.
 * Errors: as ntk_kernel_logistic_fit_centers; INVALID_ARGUMENT for an architecture without an
 * infinite-width limit. */
int ntk_network_kernel_logistic_fit_centers(const ntk_network *network, ntk_kernel_kind kind, int64_t n,
                                            const double *X, int64_t ldx, const ntk_points *centers,
                                            const ntk_labels *labels, double ridge,
                                            const ntk_kernel_logistic_options *options, ntk_kernel_logistic **out);

/* Sizes, the ridge fitted (selected or given), Newton steps and whether they converged.
 * c is the number of points the model is expressed on (n dense, the centres Nystrom). Each
 * out-pointer may be NULL. Never fails on a valid handle. */
int ntk_kernel_logistic_info(const ntk_kernel_logistic *model, int64_t *n, int64_t *k, int64_t *c,
                             double *ridge, int64_t *iterations, int *converged);

/* With a ridge grid: each grid ridge's approximate LOO log loss, in the grid's order, into
 * scores (options->n_ridges entries). Errors: INVALID_ARGUMENT (NULL; a model fitted at one
 * ridge). Read-only (thread-safe). */
int ntk_kernel_logistic_ridge_scores(const ntk_kernel_logistic *model, double *scores);

/* The coefficients beta (c x k, leading dimension ld): logits = f0 + K(x, Z) beta. For a
 * full-rank dense kernel beta = (Y - P) / ridge (Y one-hot, P the train probabilities).
 * Errors: INVALID_ARGUMENT (NULL, ld). Read-only (thread-safe). */
int ntk_kernel_logistic_coefficients(const ntk_kernel_logistic *model, double *coef, int64_t ld);

/* The train logits f0 + Phi w (n x k, leading dimension ld). Errors: INVALID_ARGUMENT (NULL,
 * ld). Read-only (thread-safe). */
int ntk_kernel_logistic_train_logits(const ntk_kernel_logistic *model, double *logits, int64_t ld);

/* Test logits f0_test + K_test beta (m x k, leading dimension ld): test->K_test_train is the
 * test points' kernel against Z (m x c). Softmax gives the probabilities. Read-only
 * (thread-safe). Errors: INVALID_ARGUMENT (NULL, ld), DIMENSION_MISMATCH, NON_FINITE,
 * NUMERICAL. */
int ntk_kernel_logistic_predict(const ntk_kernel_logistic *model, const ntk_test_kernel *test,
                                double *logits, int64_t ld);

/* Approximate leave-one-out logits (n x k, leading dimension ld; logits may be NULL) and
 * their mean log loss (*log_loss, may be NULL): f_i + S_i (I - W_i S_i)^-1 (p_i - e_y_i), one
 * Newton step of the refit without point i, from the exact Hessian (O(k n^3) dense,
 * O(k^2 n c^2 + (k c)^3) Nystrom, whichever is cheaper). Read-only (thread-safe).
 * Errors: INVALID_ARGUMENT (ld), NUMERICAL, OUT_OF_MEMORY, TOO_LARGE. */
int ntk_kernel_logistic_loo(const ntk_kernel_logistic *model, double *logits, int64_t ld, double *log_loss);

/* The Laplace approximation of the log marginal likelihood of GP classification with prior
 * covariance K / ridge on each class's logits: -J(w) - log det(H / ridge) / 2.
 * Errors: INVALID_ARGUMENT (NULL), NUMERICAL, OUT_OF_MEMORY. Read-only (thread-safe). */
int ntk_kernel_logistic_log_marginal_likelihood(const ntk_kernel_logistic *model, double *value);

/* The Laplace posterior covariance of the latent logits at m test points, cov (m x k x k,
 * contiguous): K_test (m x c, leading dimension ldk) is their kernel against Z; k_test_diag
 * (m values k(x, x), may be NULL) adds the prior variance outside the kernel features' span
 * ((k(x, x) - |phi(x)|^2) / ridge on the diagonal: the exact GP posterior for a dense fit).
 * The mean is ntk_kernel_logistic_predict's logits. Read-only (thread-safe).
 * Errors: INVALID_ARGUMENT (NULL, ld), DIMENSION_MISMATCH, NON_FINITE, OUT_OF_MEMORY. */
int ntk_kernel_logistic_latent_covariance(const ntk_kernel_logistic *model, int64_t m, const double *K_test,
                                          int64_t ldk, const double *k_test_diag, double *cov);

/* Frees the model. NULL and already-freed handles are ignored. */
void ntk_kernel_logistic_free(ntk_kernel_logistic *model);

/* ---------------------------------------------------------------------------------------
 * Experimental: the spectral calculus on an eigendecomposition computed elsewhere
 *
 * The formulas of the spectral solver, for a caller that decomposed the kernel itself (libntk_mpi
 * does, with ScaLAPACK): K = V diag(lambda) V^T on n training points, and the targets in that
 * eigenbasis, P = V^T (Y - f0). The same code serves ntk_spectral_* and the direct
 * ntk_nystrom_* solver: the eigenvalue policy, the filter g (see "Spectral solver"), GCV and
 * leave-one-out. It may change in any minor version.
 * ------------------------------------------------------------------------------------- */

/* A spectrum: `count` eigenvalues (ascending, >= 0 after ntk_x_spectrum_regularize; exactly 0
 * marks the null space) of a kernel on n training points (count <= n), the targets in its
 * orthonormal eigenbasis P (count x k, leading dimension ldp >= k; may be NULL when k = 0),
 * and outside = |(I - V V^T)(Y - f0)|^2 summed over the outputs (0 for a full spectrum,
 * count = n). A plain description: the library keeps none of its pointers. */
typedef struct ntk_x_spectrum {
    int64_t count;
    int64_t n;
    int64_t k;
    const double *eigenvalues;
    const double *projected;
    int64_t ldp;
    double outside;
} ntk_x_spectrum;

/* Which weight ntk_x_spectrum_filter applies. */
typedef enum ntk_x_filter_form {
    NTK_X_FILTER_VALUE = 0,    /* g(lambda): dual coefficients and test predictions */
    NTK_X_FILTER_SHRINKAGE = 1 /* lambda g(lambda): train predictions */
} ntk_x_filter_form;

/* The eigenvalue policy of ntk_spectral_create, in place on w[count] (ascending): values <=
 * cutoff = count * DBL_EPSILON * max|w| become 0 (the null space; negative ones are clamped),
 * or under NTK_NEGATIVE_ERROR a value below -cutoff fails. *null_count (the zeros after the
 * policy) and *cutoff may be NULL.
 * Errors: INVALID_ARGUMENT (NULL, policy), NON_FINITE, NOT_POSITIVE_DEFINITE. */
int ntk_x_spectrum_regularize(int64_t count, double *w, ntk_negative_eigenvalues policy,
                              int64_t *null_count, double *cutoff);

/* Filtered targets of every point j of the grid (N = n k): out[i * ldo + j * k + c] =
 * w_j(lambda_i) P[i][c], with w = g or lambda g by `form` and g = 0 on the null space; out is
 * count x (grid->count k). V times it gives the dual coefficients (NTK_X_FILTER_VALUE) or the
 * train predictions minus f0 (SHRINKAGE).
 * Errors: INVALID_ARGUMENT (NULL, ld, grid values, learning_rate <= 0, form), NON_FINITE. */
int ntk_x_spectrum_filter(const ntk_x_spectrum *spectrum, const ntk_grid *grid, ntk_x_filter_form form,
                          double *out, int64_t ldo);

/* GCV scores (as ntk_spectral_select_ridge) of ridges[ridge_count] into scores[ridge_count] and
 * *best (may be NULL). Errors: INVALID_ARGUMENT (NULL, empty grid, ridges < 0, no targets),
 * NUMERICAL (no finite score). */
int ntk_x_spectrum_gcv(const ntk_x_spectrum *spectrum, int64_t ridge_count, const double *ridges,
                       double *scores, int64_t *best);

/* Leave-one-out scores in two steps around the caller's products with V (full spectrum only:
 * count = n, outside = 0). ntk_x_spectrum_loo_terms writes inverse (count x ridge_count,
 * inverse[i][j] = 1/(lambda_i + z_j), 0 where lambda_i + z_j = 0) and scaled (count x
 * ridge_count k, scaled[i][j k + c] = inverse[i][j] P[i][c]). The caller forms diagonals =
 * (V o V) inverse (n x ridge_count, o: the elementwise product) and solutions = V scaled (n x
 * ridge_count k); ntk_x_spectrum_loo turns them into scores[ridge_count] (+INFINITY for a
 * singular K + zI) and *best (may be NULL).
 * Errors: INVALID_ARGUMENT (NULL, ld, empty grid, ridges < 0, partial spectrum), NON_FINITE,
 * NUMERICAL (no finite score). */
int ntk_x_spectrum_loo_terms(const ntk_x_spectrum *spectrum, int64_t ridge_count, const double *ridges,
                             double *inverse, int64_t ldi, double *scaled, int64_t lds);
int ntk_x_spectrum_loo(const ntk_x_spectrum *spectrum, int64_t ridge_count, const double *ridges,
                       const double *diagonals, int64_t ldd, const double *solutions, int64_t ldsol,
                       double *scores, int64_t *best);

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
