/* The closed-form nonlinearity updates of the infinite-width recursion (relu family, erf, gelu),
 * one tile row at a time, four doubles (or eight floats: the single-precision rows at the end)
 * at a time with AVX2 + FMA.
 *
 * All three need an inverse sine or cosine, computed here without libm so the vector loops run
 * at the speed of their FMAs, square roots and divisions. asin y for |y| <= 1/2 is
 * y + y w P(w), w = y^2, with P the degree-12 polynomial interpolating
 * (asin sqrt w - sqrt w) / w^(3/2) at 13 Chebyshev nodes of [0, 1/4], computed in 60-digit
 * arithmetic by scripts/dev/asin_polynomial.py: under one ulp of asin on [-1/2, 1/2]. Above
 * 1/2 the classic reduction: asin |x| = pi/2 - 2 asin sqrt((1 - |x|)/2) and
 * acos |x| = 2 asin sqrt((1 - |x|)/2) (1 - |x| is exact by Sterbenz's lemma); for |x| <= 1/2,
 * acos x = pi/2 - asin x; odd and reflected signs. The scalar tails use the same polynomial, so
 * a row gives the same numbers whatever its length. */
#include "ckernels.h"

#include <math.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define CKERNELS_X86 1
#endif

#define C0 0.16666666666666669
#define C1 0.07499999999998433
#define C2 0.04464285714635543
#define C3 0.030381944138531247
#define C4 0.02237217294214989
#define C5 0.017352392720869973
#define C6 0.013971212973552933
#define C7 0.011479177415184906
#define C8 0.01032281435018578
#define C9 0.005457506718640358
#define C10 0.01740087944269402
#define C11 -0.014851887071247204
#define C12 0.028757851367421566

static const double pi = 3.14159265358979323846, half_pi = 1.57079632679489661923, inv_two_pi = 0.15915494309189533577;
/* The smallest positive normal double: 1 - s^2 and the gelu determinant are kept above it. */
static const double tiny = 2.2250738585072014e-308;

/* asin y for |y| <= 1/2. */
static double asin_small(double y) {
    double w = y * y, p = C12;
    p = p * w + C11; p = p * w + C10; p = p * w + C9; p = p * w + C8; p = p * w + C7; p = p * w + C6;
    p = p * w + C5; p = p * w + C4; p = p * w + C3; p = p * w + C2; p = p * w + C1; p = p * w + C0;
    return y + y * w * p;
}

static double acos_scalar(double x) {
    double a = fabs(x);
    double acos_a = a > 0.5 ? 2 * asin_small(sqrt((1 - a) * 0.5)) : half_pi - asin_small(a);
    return x < 0 ? pi - acos_a : acos_a;
}

static double asin_scalar(double x) {
    double a = fabs(x);
    double asin_a = a > 0.5 ? half_pi - 2 * asin_small(sqrt((1 - a) * 0.5)) : asin_small(a);
    return x < 0 ? -asin_a : asin_a;
}

static double clip(double x) { return x < -1 ? -1 : (x > 1 ? 1 : x); }

/* One entry of each update (the scalar tails; the formulas are in ckernels.h). */
static void relu_entry(double r1, double q2, double *sigma, double *tangent, double linear, double quadratic) {
    double root = r1 * sqrt(q2), c = *sigma;
    double rho = clip(c / root);
    double rest = pi - acos_scalar(rho);
    double value = root * (sqrt((1 - rho) * (1 + rho)) + rest * rho) * inv_two_pi;
    *sigma = linear * c + quadratic * value;
    *tangent *= linear + quadratic * rest * inv_two_pi;
}

static void erf_entry(double r1, double q2, double *sigma, double *tangent) {
    double product = r1 * sqrt(1 + 2 * q2);
    double s = clip(2 * *sigma / product);
    double rest = sqrt(fmax((1 - s) * (1 + s), tiny));
    *sigma = 2 / pi * asin_scalar(s);
    *tangent *= 4 / pi / (product * rest);
}

static void gelu_entry(double q1, double q2, double *sigma, double *tangent) {
    double c = *sigma, p = (1 + q1) * (1 + q2), inv_root_p = 1 / sqrt(p);
    double inv_root_d = 1 / sqrt(fmax(p - c * c, tiny));
    double kappa = (1 - q1 * q2) * inv_root_p * inv_root_p;
    double numerator = q1 * q2 + kappa * c * c, angle = asin_scalar(clip(c * inv_root_p));
    *sigma = c * 0.25 + c * angle * inv_two_pi + numerator * inv_two_pi * inv_root_d;
    *tangent *= 0.25 + angle * inv_two_pi + (c * (1 + 2 * kappa) + numerator * c * inv_root_d * inv_root_d) *
                                                inv_two_pi * inv_root_d;
}

#ifdef CKERNELS_X86
#define AVX2 __attribute__((target("avx2,fma")))

/* asin y for |y| <= 1/2, four at a time. */
AVX2 static inline __m256d asin_small_avx2(__m256d y) {
    __m256d w = _mm256_mul_pd(y, y), p = _mm256_set1_pd(C12);
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C11));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C10));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C9));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C8));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C7));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C6));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C5));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C4));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C3));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C2));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C1));
    p = _mm256_fmadd_pd(p, w, _mm256_set1_pd(C0));
    return _mm256_fmadd_pd(_mm256_mul_pd(y, w), p, y);
}

/* The reduced argument of |x| in [0, 1]: r = asin_small of |x| or of sqrt((1 - |x|)/2), and the
 * mask of the entries above 1/2. */
AVX2 static inline __m256d reduced_avx2(__m256d a, __m256d *large) {
    const __m256d half = _mm256_set1_pd(0.5), one = _mm256_set1_pd(1);
    *large = _mm256_cmp_pd(a, half, _CMP_GT_OQ);
    __m256d s = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_sub_pd(one, a), half));
    return asin_small_avx2(_mm256_blendv_pd(a, s, *large));
}

AVX2 static inline __m256d acos_avx2(__m256d x) {
    const __m256d sign = _mm256_set1_pd(-0.0);
    __m256d large, r = reduced_avx2(_mm256_andnot_pd(sign, x), &large);
    __m256d acos_a = _mm256_blendv_pd(_mm256_sub_pd(_mm256_set1_pd(half_pi), r), _mm256_add_pd(r, r), large);
    return _mm256_blendv_pd(acos_a, _mm256_sub_pd(_mm256_set1_pd(pi), acos_a),
                            _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_LT_OQ));
}

AVX2 static inline __m256d asin_avx2(__m256d x) {
    const __m256d sign = _mm256_set1_pd(-0.0);
    __m256d large, r = reduced_avx2(_mm256_andnot_pd(sign, x), &large);
    __m256d asin_a = _mm256_blendv_pd(r, _mm256_sub_pd(_mm256_set1_pd(half_pi), _mm256_add_pd(r, r)), large);
    return _mm256_or_pd(asin_a, _mm256_and_pd(sign, x)); /* asin is odd */
}

AVX2 static inline __m256d clip_avx2(__m256d x) {
    return _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(-1)), _mm256_set1_pd(1));
}

AVX2 static long relu_avx2(double r1, const double *q1, long step, const double *q2, double *sigma, double *tangent,
                           long n, double linear, double quadratic) {
    const __m256d one = _mm256_set1_pd(1), vpi = _mm256_set1_pd(pi), vinv = _mm256_set1_pd(inv_two_pi);
    const __m256d vr1 = _mm256_set1_pd(r1), vlin = _mm256_set1_pd(linear), vquad = _mm256_set1_pd(quadratic);
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d c = _mm256_loadu_pd(sigma + j), t = _mm256_loadu_pd(tangent + j);
        __m256d r = step ? _mm256_sqrt_pd(_mm256_loadu_pd(q1 + j)) : vr1;
        __m256d root = _mm256_mul_pd(r, _mm256_sqrt_pd(_mm256_loadu_pd(q2 + j)));
        __m256d rho = clip_avx2(_mm256_div_pd(c, root));
        __m256d rest = _mm256_sub_pd(vpi, acos_avx2(rho));
        __m256d sine = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_sub_pd(one, rho), _mm256_add_pd(one, rho)));
        __m256d value = _mm256_mul_pd(_mm256_mul_pd(root, _mm256_fmadd_pd(rest, rho, sine)), vinv);
        __m256d derivative = _mm256_mul_pd(rest, vinv);
        _mm256_storeu_pd(sigma + j, _mm256_fmadd_pd(vquad, value, _mm256_mul_pd(vlin, c)));
        _mm256_storeu_pd(tangent + j, _mm256_mul_pd(t, _mm256_fmadd_pd(vquad, derivative, vlin)));
    }
    return j;
}

AVX2 static long erf_avx2(double r1, const double *q1, long step, const double *q2, double *sigma, double *tangent,
                          long n) {
    const __m256d one = _mm256_set1_pd(1), two = _mm256_set1_pd(2), vr1 = _mm256_set1_pd(r1);
    const __m256d two_over_pi = _mm256_set1_pd(2 / pi), four_over_pi = _mm256_set1_pd(4 / pi);
    const __m256d vtiny = _mm256_set1_pd(tiny);
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d c = _mm256_loadu_pd(sigma + j), t = _mm256_loadu_pd(tangent + j);
        __m256d r = step ? _mm256_sqrt_pd(_mm256_fmadd_pd(two, _mm256_loadu_pd(q1 + j), one)) : vr1;
        __m256d product = _mm256_mul_pd(r, _mm256_sqrt_pd(_mm256_fmadd_pd(two, _mm256_loadu_pd(q2 + j), one)));
        __m256d s = clip_avx2(_mm256_div_pd(_mm256_mul_pd(two, c), product));
        __m256d gap = _mm256_mul_pd(_mm256_sub_pd(one, s), _mm256_add_pd(one, s));
        __m256d rest = _mm256_sqrt_pd(_mm256_max_pd(gap, vtiny));
        _mm256_storeu_pd(sigma + j, _mm256_mul_pd(two_over_pi, asin_avx2(s)));
        _mm256_storeu_pd(tangent + j, _mm256_mul_pd(t, _mm256_div_pd(four_over_pi, _mm256_mul_pd(product, rest))));
    }
    return j;
}

AVX2 static long gelu_avx2(const double *q1, long step, const double *q2, double *sigma, double *tangent, long n) {
    const __m256d one = _mm256_set1_pd(1), two = _mm256_set1_pd(2), quarter = _mm256_set1_pd(0.25);
    const __m256d first = _mm256_set1_pd(q1[0]), vinv = _mm256_set1_pd(inv_two_pi);
    const __m256d vtiny = _mm256_set1_pd(tiny);
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d c = _mm256_loadu_pd(sigma + j), t = _mm256_loadu_pd(tangent + j), v = _mm256_loadu_pd(q2 + j);
        __m256d vq1 = step ? _mm256_loadu_pd(q1 + j) : first;
        __m256d p = _mm256_mul_pd(_mm256_add_pd(one, vq1), _mm256_add_pd(one, v));
        __m256d inv_root_p = _mm256_div_pd(one, _mm256_sqrt_pd(p));
        __m256d inv_root_d = _mm256_div_pd(one, _mm256_sqrt_pd(_mm256_max_pd(_mm256_fnmadd_pd(c, c, p), vtiny)));
        __m256d qq = _mm256_mul_pd(vq1, v);
        __m256d kappa = _mm256_mul_pd(_mm256_sub_pd(one, qq), _mm256_mul_pd(inv_root_p, inv_root_p));
        __m256d numerator = _mm256_fmadd_pd(kappa, _mm256_mul_pd(c, c), qq);
        __m256d angle = asin_avx2(clip_avx2(_mm256_mul_pd(c, inv_root_p)));
        __m256d scaled = _mm256_mul_pd(angle, vinv), share = _mm256_mul_pd(vinv, inv_root_d);
        __m256d value = _mm256_fmadd_pd(numerator, share, _mm256_fmadd_pd(c, scaled, _mm256_mul_pd(c, quarter)));
        __m256d slope = _mm256_fmadd_pd(_mm256_mul_pd(numerator, c), _mm256_mul_pd(inv_root_d, inv_root_d),
                                        _mm256_mul_pd(c, _mm256_fmadd_pd(two, kappa, one)));
        _mm256_storeu_pd(sigma + j, value);
        _mm256_storeu_pd(tangent + j, _mm256_mul_pd(t, _mm256_fmadd_pd(slope, share, _mm256_add_pd(quarter, scaled))));
    }
    return j;
}

/* Whether the CPU has AVX2 and FMA, detected once. The cache is read and written atomically:
 * threads of a parallel tile may ask at the same time (each computes the same answer). */
static int has_avx2(void) {
    static int cached = -1;
    int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        __atomic_store_n(&cached, known, __ATOMIC_RELAXED);
    }
    return known;
}
#endif

void ckernels_relu_row(const double *row_variance, long step, const double *column_variance, double *sigma,
                       double *tangent, long n, double linear, double quadratic) {
    double r1 = sqrt(row_variance[0]);
    long j = 0;
#ifdef CKERNELS_X86
    if (has_avx2()) j = relu_avx2(r1, row_variance, step, column_variance, sigma, tangent, n, linear, quadratic);
#endif
    for (; j < n; j++) {
        double r = step ? sqrt(row_variance[j]) : r1;
        relu_entry(r, column_variance[j], sigma + j, tangent + j, linear, quadratic);
    }
}

void ckernels_erf_row(const double *row_variance, long step, const double *column_variance, double *sigma,
                      double *tangent, long n) {
    double r1 = sqrt(1 + 2 * row_variance[0]);
    long j = 0;
#ifdef CKERNELS_X86
    if (has_avx2()) j = erf_avx2(r1, row_variance, step, column_variance, sigma, tangent, n);
#endif
    for (; j < n; j++) erf_entry(step ? sqrt(1 + 2 * row_variance[j]) : r1, column_variance[j], sigma + j, tangent + j);
}

void ckernels_gelu_row(const double *row_variance, long step, const double *column_variance, double *sigma,
                       double *tangent, long n) {
    long j = 0;
#ifdef CKERNELS_X86
    if (has_avx2()) j = gelu_avx2(row_variance, step, column_variance, sigma, tangent, n);
#endif
    for (; j < n; j++) gelu_entry(row_variance[j * step], column_variance[j], sigma + j, tangent + j);
}

/* ---------------------------------------------------------------------------------------------
 * Single precision: the same updates on floats, eight entries at a time with AVX2 + FMA. asin y
 * for |y| <= 1/2 is y + y w Q(w) with Q of degree 4 (scripts/dev/asin_polynomial.py 4 single:
 * 0.56 ulp of float on [-1/2, 1/2]), the same reductions above 1/2. */

#define F0 0.16666672414795305f
#define F1 0.07498855072600821f
#define F2 0.04500138006991017f
#define F3 0.026554542206161328f
#define F4 0.038085023561092654f

static const float pi_f = 3.14159265358979323846f, half_pi_f = 1.57079632679489661923f;
static const float inv_two_pi_f = 0.15915494309189533577f;
/* The smallest positive normal float. */
static const float tiny_f = 1.17549435e-38f;

static float asin_small_f(float y) {
    float w = y * y, p = F4;
    p = p * w + F3; p = p * w + F2; p = p * w + F1; p = p * w + F0;
    return y + y * w * p;
}

static float acos_f(float x) {
    float a = fabsf(x);
    float acos_a = a > 0.5f ? 2 * asin_small_f(sqrtf((1 - a) * 0.5f)) : half_pi_f - asin_small_f(a);
    return x < 0 ? pi_f - acos_a : acos_a;
}

static float asin_f(float x) {
    float a = fabsf(x);
    float asin_a = a > 0.5f ? half_pi_f - 2 * asin_small_f(sqrtf((1 - a) * 0.5f)) : asin_small_f(a);
    return x < 0 ? -asin_a : asin_a;
}

static float clip_f(float x) { return x < -1 ? -1 : (x > 1 ? 1 : x); }

static void relu_entry_f(float r1, float q2, float *sigma, float *tangent, float linear, float quadratic) {
    float root = r1 * sqrtf(q2), c = *sigma;
    float rho = clip_f(c / root);
    float rest = pi_f - acos_f(rho);
    float value = root * (sqrtf((1 - rho) * (1 + rho)) + rest * rho) * inv_two_pi_f;
    *sigma = linear * c + quadratic * value;
    *tangent *= linear + quadratic * rest * inv_two_pi_f;
}

static void erf_entry_f(float r1, float q2, float *sigma, float *tangent) {
    float product = r1 * sqrtf(1 + 2 * q2);
    float s = clip_f(2 * *sigma / product);
    float rest = sqrtf(fmaxf((1 - s) * (1 + s), tiny_f));
    *sigma = 2 / pi_f * asin_f(s);
    *tangent *= 4 / pi_f / (product * rest);
}

static void gelu_entry_f(float q1, float q2, float *sigma, float *tangent) {
    float c = *sigma, p = (1 + q1) * (1 + q2), inv_root_p = 1 / sqrtf(p);
    float inv_root_d = 1 / sqrtf(fmaxf(p - c * c, tiny_f));
    float kappa = (1 - q1 * q2) * inv_root_p * inv_root_p;
    float numerator = q1 * q2 + kappa * c * c, angle = asin_f(clip_f(c * inv_root_p));
    *sigma = c * 0.25f + c * angle * inv_two_pi_f + numerator * inv_two_pi_f * inv_root_d;
    *tangent *= 0.25f + angle * inv_two_pi_f + (c * (1 + 2 * kappa) + numerator * c * inv_root_d * inv_root_d) *
                                                   inv_two_pi_f * inv_root_d;
}

#ifdef CKERNELS_X86
/* asin y for |y| <= 1/2, eight at a time. */
AVX2 static inline __m256 asin_small_avx2_f(__m256 y) {
    __m256 w = _mm256_mul_ps(y, y), p = _mm256_set1_ps(F4);
    p = _mm256_fmadd_ps(p, w, _mm256_set1_ps(F3));
    p = _mm256_fmadd_ps(p, w, _mm256_set1_ps(F2));
    p = _mm256_fmadd_ps(p, w, _mm256_set1_ps(F1));
    p = _mm256_fmadd_ps(p, w, _mm256_set1_ps(F0));
    return _mm256_fmadd_ps(_mm256_mul_ps(y, w), p, y);
}

AVX2 static inline __m256 reduced_avx2_f(__m256 a, __m256 *large) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1);
    *large = _mm256_cmp_ps(a, half, _CMP_GT_OQ);
    __m256 s = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_sub_ps(one, a), half));
    return asin_small_avx2_f(_mm256_blendv_ps(a, s, *large));
}

AVX2 static inline __m256 acos_avx2_f(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 large, r = reduced_avx2_f(_mm256_andnot_ps(sign, x), &large);
    __m256 acos_a = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(half_pi_f), r), _mm256_add_ps(r, r), large);
    return _mm256_blendv_ps(acos_a, _mm256_sub_ps(_mm256_set1_ps(pi_f), acos_a),
                            _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

AVX2 static inline __m256 asin_avx2_f(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 large, r = reduced_avx2_f(_mm256_andnot_ps(sign, x), &large);
    __m256 asin_a = _mm256_blendv_ps(r, _mm256_sub_ps(_mm256_set1_ps(half_pi_f), _mm256_add_ps(r, r)), large);
    return _mm256_or_ps(asin_a, _mm256_and_ps(sign, x));
}

AVX2 static inline __m256 clip_avx2_f(__m256 x) {
    return _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-1)), _mm256_set1_ps(1));
}

AVX2 static long relu_avx2_f(float r1, const float *q1, long step, const float *q2, float *sigma, float *tangent,
                             long n, float linear, float quadratic) {
    const __m256 one = _mm256_set1_ps(1), vpi = _mm256_set1_ps(pi_f), vinv = _mm256_set1_ps(inv_two_pi_f);
    const __m256 vr1 = _mm256_set1_ps(r1), vlin = _mm256_set1_ps(linear), vquad = _mm256_set1_ps(quadratic);
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 c = _mm256_loadu_ps(sigma + j), t = _mm256_loadu_ps(tangent + j);
        __m256 r = step ? _mm256_sqrt_ps(_mm256_loadu_ps(q1 + j)) : vr1;
        __m256 root = _mm256_mul_ps(r, _mm256_sqrt_ps(_mm256_loadu_ps(q2 + j)));
        __m256 rho = clip_avx2_f(_mm256_div_ps(c, root));
        __m256 rest = _mm256_sub_ps(vpi, acos_avx2_f(rho));
        __m256 sine = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_sub_ps(one, rho), _mm256_add_ps(one, rho)));
        __m256 value = _mm256_mul_ps(_mm256_mul_ps(root, _mm256_fmadd_ps(rest, rho, sine)), vinv);
        __m256 derivative = _mm256_mul_ps(rest, vinv);
        _mm256_storeu_ps(sigma + j, _mm256_fmadd_ps(vquad, value, _mm256_mul_ps(vlin, c)));
        _mm256_storeu_ps(tangent + j, _mm256_mul_ps(t, _mm256_fmadd_ps(vquad, derivative, vlin)));
    }
    return j;
}

AVX2 static long erf_avx2_f(float r1, const float *q1, long step, const float *q2, float *sigma, float *tangent,
                            long n) {
    const __m256 one = _mm256_set1_ps(1), two = _mm256_set1_ps(2), vr1 = _mm256_set1_ps(r1);
    const __m256 two_over_pi = _mm256_set1_ps(2 / pi_f), four_over_pi = _mm256_set1_ps(4 / pi_f);
    const __m256 vtiny = _mm256_set1_ps(tiny_f);
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 c = _mm256_loadu_ps(sigma + j), t = _mm256_loadu_ps(tangent + j);
        __m256 r = step ? _mm256_sqrt_ps(_mm256_fmadd_ps(two, _mm256_loadu_ps(q1 + j), one)) : vr1;
        __m256 product = _mm256_mul_ps(r, _mm256_sqrt_ps(_mm256_fmadd_ps(two, _mm256_loadu_ps(q2 + j), one)));
        __m256 s = clip_avx2_f(_mm256_div_ps(_mm256_mul_ps(two, c), product));
        __m256 gap = _mm256_mul_ps(_mm256_sub_ps(one, s), _mm256_add_ps(one, s));
        __m256 rest = _mm256_sqrt_ps(_mm256_max_ps(gap, vtiny));
        _mm256_storeu_ps(sigma + j, _mm256_mul_ps(two_over_pi, asin_avx2_f(s)));
        _mm256_storeu_ps(tangent + j, _mm256_mul_ps(t, _mm256_div_ps(four_over_pi, _mm256_mul_ps(product, rest))));
    }
    return j;
}

AVX2 static long gelu_avx2_f(const float *q1, long step, const float *q2, float *sigma, float *tangent, long n) {
    const __m256 one = _mm256_set1_ps(1), two = _mm256_set1_ps(2), quarter = _mm256_set1_ps(0.25f);
    const __m256 first = _mm256_set1_ps(q1[0]), vinv = _mm256_set1_ps(inv_two_pi_f);
    const __m256 vtiny = _mm256_set1_ps(tiny_f);
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 c = _mm256_loadu_ps(sigma + j), t = _mm256_loadu_ps(tangent + j), v = _mm256_loadu_ps(q2 + j);
        __m256 vq1 = step ? _mm256_loadu_ps(q1 + j) : first;
        __m256 p = _mm256_mul_ps(_mm256_add_ps(one, vq1), _mm256_add_ps(one, v));
        __m256 inv_root_p = _mm256_div_ps(one, _mm256_sqrt_ps(p));
        __m256 inv_root_d = _mm256_div_ps(one, _mm256_sqrt_ps(_mm256_max_ps(_mm256_fnmadd_ps(c, c, p), vtiny)));
        __m256 qq = _mm256_mul_ps(vq1, v);
        __m256 kappa = _mm256_mul_ps(_mm256_sub_ps(one, qq), _mm256_mul_ps(inv_root_p, inv_root_p));
        __m256 numerator = _mm256_fmadd_ps(kappa, _mm256_mul_ps(c, c), qq);
        __m256 angle = asin_avx2_f(clip_avx2_f(_mm256_mul_ps(c, inv_root_p)));
        __m256 scaled = _mm256_mul_ps(angle, vinv), share = _mm256_mul_ps(vinv, inv_root_d);
        __m256 value = _mm256_fmadd_ps(numerator, share, _mm256_fmadd_ps(c, scaled, _mm256_mul_ps(c, quarter)));
        __m256 slope = _mm256_fmadd_ps(_mm256_mul_ps(numerator, c), _mm256_mul_ps(inv_root_d, inv_root_d),
                                       _mm256_mul_ps(c, _mm256_fmadd_ps(two, kappa, one)));
        _mm256_storeu_ps(sigma + j, value);
        _mm256_storeu_ps(tangent + j, _mm256_mul_ps(t, _mm256_fmadd_ps(slope, share, _mm256_add_ps(quarter, scaled))));
    }
    return j;
}
#endif

void ckernels_relu_row_f32(const float *row_variance, long step, const float *column_variance, float *sigma,
                           float *tangent, long n, float linear, float quadratic) {
    float r1 = sqrtf(row_variance[0]);
    long j = 0;
#ifdef CKERNELS_X86
    if (has_avx2()) j = relu_avx2_f(r1, row_variance, step, column_variance, sigma, tangent, n, linear, quadratic);
#endif
    for (; j < n; j++) {
        float r = step ? sqrtf(row_variance[j]) : r1;
        relu_entry_f(r, column_variance[j], sigma + j, tangent + j, linear, quadratic);
    }
}

void ckernels_erf_row_f32(const float *row_variance, long step, const float *column_variance, float *sigma,
                          float *tangent, long n) {
    float r1 = sqrtf(1 + 2 * row_variance[0]);
    long j = 0;
#ifdef CKERNELS_X86
    if (has_avx2()) j = erf_avx2_f(r1, row_variance, step, column_variance, sigma, tangent, n);
#endif
    for (; j < n; j++) {
        erf_entry_f(step ? sqrtf(1 + 2 * row_variance[j]) : r1, column_variance[j], sigma + j, tangent + j);
    }
}

void ckernels_gelu_row_f32(const float *row_variance, long step, const float *column_variance, float *sigma,
                           float *tangent, long n) {
    long j = 0;
#ifdef CKERNELS_X86
    if (has_avx2()) j = gelu_avx2_f(row_variance, step, column_variance, sigma, tangent, n);
#endif
    for (; j < n; j++) gelu_entry_f(row_variance[j * step], column_variance[j], sigma + j, tangent + j);
}
