/* C helpers of the Swift core: vectorised inner loops, and what Swift cannot call directly
 * (internal: not part of the C API, not exported). */
#ifndef CKERNELS_H
#define CKERNELS_H

/* The closed-form nonlinearity updates below work on n entries j of a row of an infinite-width
 * kernel tile: q1 = row_variance[j * step] (step 0: one variance for the whole row, as a tile
 * row has; step 1: one per entry, as the diagonal positions of a pair of inputs have) and
 * q2 = column_variance[j]. Each formula is evaluated the same way for both steps and in the
 * vector and scalar paths (the vector path's fused multiply-adds move only the last bits).
 *
 * The relu-family nonlinearity update. For j < n,
 * with q2 > 0, c = sigma[j], rho = clip(c / sqrt(q1 q2), -1, 1),
 * theta = acos(rho):
 *   T  = sqrt(q1 q2) (sin theta + (pi - theta) rho) / (2 pi),   T' = (pi - theta) / (2 pi)
 *   sigma[j] <- linear c + quadratic T,   tangent[j] <- tangent[j] (linear + quadratic T')
 * (relu: linear 0, quadratic 1; leaky relu with slope a: linear a^2 + a(1 - a), quadratic
 * (1 - a)^2). Requires q1 > 0. AVX2 + FMA when the CPU has them (checked once), else scalar;
 * both use the same polynomial acos (see closed_form_rows.c), within 2 ulp of pi. */
void ckernels_relu_row(const double *row_variance, long step, const double *column_variance, double *sigma,
                       double *tangent, long n, double linear, double quadratic);

/* The erf update of one row: with q2 = column_variance[j] > 0, c = sigma[j], r = sqrt((1 + 2 q1)
 * (1 + 2 q2)), s = clip(2c / r, -1, 1):
 *   sigma[j] <- (2/pi) asin s,   tangent[j] <- tangent[j] (4/pi) / (r sqrt(max((1 - s)(1 + s), tiny)))
 * Requires q1 > 0. As ckernels_relu_row: AVX2 + FMA or scalar, the same polynomial asin. */
void ckernels_erf_row(const double *row_variance, long step, const double *column_variance, double *sigma,
                      double *tangent, long n);

/* The gelu (x Phi(x)) update of one row: with q2 = column_variance[j] > 0, c = sigma[j],
 * P = (1 + q1)(1 + q2), D = max(P - c^2, tiny), kappa = (1 - q1 q2)/P, N = q1 q2 + kappa c^2,
 * a = asin(clip(c / sqrt P, -1, 1)):
 *   sigma[j]   <- c/4 + c a/(2 pi) + N/(2 pi sqrt D)
 *   tangent[j] <- tangent[j] (1/4 + a/(2 pi) + c (1 + 2 kappa)/(2 pi sqrt D) + N c/(2 pi D^(3/2)))
 * Requires q1 > 0. As ckernels_relu_row: AVX2 + FMA or scalar, the same polynomial asin. */
void ckernels_gelu_row(const double *row_variance, long step, const double *column_variance, double *sigma,
                       double *tangent, long n);

/* The three updates in single precision: the same formulas on floats, eight entries at a time
 * with AVX2 + FMA (a degree-4 polynomial asin within 0.6 ulp of float on [-1/2, 1/2]), else
 * scalar; tiny is then the smallest normal float. */
void ckernels_relu_row_f32(const float *row_variance, long step, const float *column_variance, float *sigma,
                           float *tangent, long n, float linear, float quadratic);
void ckernels_erf_row_f32(const float *row_variance, long step, const float *column_variance, float *sigma,
                          float *tangent, long n);
void ckernels_gelu_row_f32(const float *row_variance, long step, const float *column_variance, float *sigma,
                           float *tangent, long n);

/* The file name of the shared object that defines `address`, as the dynamic loader opened it
 * (dladdr's dli_fname: loader-owned, valid while that object stays loaded), or NULL. */
const char *ckernels_shared_object_path(const void *address);

#endif
