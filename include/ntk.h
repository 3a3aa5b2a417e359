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
 * Threads     Every function may be called from several threads at once, except
 *             ntk_blas_set_num_threads (process-wide setting: call it before starting work).
 *             A handle is immutable after creation and may be shared by threads for reading;
 *             freeing it while another thread uses it is safe for the process (the object
 *             lives until that call returns) but is a bug in the caller.
 *             Freed, foreign, NULL or mistyped handles fail with NTK_ERR_INVALID_HANDLE.
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

/* The version of the loaded library, as NTK_VERSION_NUMBER. */
int ntk_version_number(void);

/* The version of the loaded library as "MAJOR.MINOR.PATCH" (static storage). */
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
 * several threads may solve with one factor at once. In-place as ntk_cholesky_solve. */
int ntk_cholesky_factor_solve(const ntk_cholesky_factor *factor, int64_t m,
                              const double *y, int64_t ldy,
                              double *x, int64_t ldx);

/* The order n of the factored matrix. */
int ntk_cholesky_factor_order(const ntk_cholesky_factor *factor, int64_t *n);

/* log det(K + ridge * I) = 2 * sum_i log L_ii. */
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
 * Diagnostics
 * ------------------------------------------------------------------------------------- */

/* The number of live handles of every type in the process (for leak checks in tests). */
int64_t ntk_live_handle_count(void);

#ifdef __cplusplus
}
#endif

#endif /* NTK_H */
