/* The relu-family update of the infinite-width recursion, four entries at a time with AVX2.
 *
 * acos follows the classic reduction: for |x| <= 1/2, acos x = pi/2 - asin x; above,
 * acos |x| = 2 asin sqrt((1 - |x|)/2) (1 - |x| is exact by Sterbenz's lemma), and
 * acos x = pi - acos |x| for x < 0. asin y for |y| <= 1/2 is y + y w P(w), w = y^2, with P the
 * degree-12 polynomial interpolating (asin sqrt w - sqrt w) / w^(3/2) at 13 Chebyshev nodes of
 * [0, 1/4], computed in 60-digit arithmetic by scripts/dev/asin_polynomial.py: under one ulp of
 * asin on [-1/2, 1/2]. No libm call in the vector loop, so it runs at the speed of its FMAs,
 * two square roots and one division per entry. */
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

static double acos_scalar(double x) {
    double a = fabs(x);
    int large = a > 0.5;
    double y = large ? sqrt((1 - a) * 0.5) : a, w = y * y;
    double p = C12;
    p = p * w + C11; p = p * w + C10; p = p * w + C9; p = p * w + C8; p = p * w + C7; p = p * w + C6;
    p = p * w + C5; p = p * w + C4; p = p * w + C3; p = p * w + C2; p = p * w + C1; p = p * w + C0;
    double r = y + y * w * p;
    double acos_a = large ? 2 * r : half_pi - r;
    return x < 0 ? pi - acos_a : acos_a;
}

static void relu_scalar(double r1, const double *q2, double *sigma, double *tangent, long from, long n,
                        double linear, double quadratic) {
    for (long j = from; j < n; j++) {
        double root = r1 * sqrt(q2[j]), c = sigma[j];
        double rho = c / root;
        rho = rho < -1 ? -1 : (rho > 1 ? 1 : rho);
        double rest = pi - acos_scalar(rho);
        double value = root * (sqrt((1 - rho) * (1 + rho)) + rest * rho) * inv_two_pi;
        sigma[j] = linear * c + quadratic * value;
        tangent[j] *= linear + quadratic * rest * inv_two_pi;
    }
}

#ifdef CKERNELS_X86
__attribute__((target("avx2,fma"))) static long relu_avx2(double r1, const double *q2, double *sigma, double *tangent,
                                                          long n, double linear, double quadratic) {
    const __m256d one = _mm256_set1_pd(1), minus_one = _mm256_set1_pd(-1), half = _mm256_set1_pd(0.5);
    const __m256d zero = _mm256_setzero_pd(), sign = _mm256_set1_pd(-0.0), two = _mm256_set1_pd(2);
    const __m256d vpi = _mm256_set1_pd(pi), vhalf_pi = _mm256_set1_pd(half_pi), vinv = _mm256_set1_pd(inv_two_pi);
    const __m256d vr1 = _mm256_set1_pd(r1), vlin = _mm256_set1_pd(linear), vquad = _mm256_set1_pd(quadratic);
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d c = _mm256_loadu_pd(sigma + j), t = _mm256_loadu_pd(tangent + j);
        __m256d root = _mm256_mul_pd(vr1, _mm256_sqrt_pd(_mm256_loadu_pd(q2 + j)));
        __m256d rho = _mm256_min_pd(_mm256_max_pd(_mm256_div_pd(c, root), minus_one), one);
        /* acos(rho) */
        __m256d a = _mm256_andnot_pd(sign, rho);
        __m256d large = _mm256_cmp_pd(a, half, _CMP_GT_OQ);
        __m256d s = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_sub_pd(one, a), half));
        __m256d y = _mm256_blendv_pd(a, s, large), w = _mm256_mul_pd(y, y);
        __m256d p = _mm256_set1_pd(C12);
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
        __m256d r = _mm256_fmadd_pd(_mm256_mul_pd(y, w), p, y);
        __m256d acos_a = _mm256_blendv_pd(_mm256_sub_pd(vhalf_pi, r), _mm256_mul_pd(two, r), large);
        __m256d angle = _mm256_blendv_pd(acos_a, _mm256_sub_pd(vpi, acos_a), _mm256_cmp_pd(rho, zero, _CMP_LT_OQ));
        /* T and T' */
        __m256d rest = _mm256_sub_pd(vpi, angle);
        __m256d sine = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_sub_pd(one, rho), _mm256_add_pd(one, rho)));
        __m256d value = _mm256_mul_pd(_mm256_mul_pd(root, _mm256_fmadd_pd(rest, rho, sine)), vinv);
        __m256d derivative = _mm256_mul_pd(rest, vinv);
        _mm256_storeu_pd(sigma + j, _mm256_fmadd_pd(vquad, value, _mm256_mul_pd(vlin, c)));
        _mm256_storeu_pd(tangent + j, _mm256_mul_pd(t, _mm256_fmadd_pd(vquad, derivative, vlin)));
    }
    return j;
}

static int has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

void ckernels_relu_row(double q1, const double *column_variance, double *sigma, double *tangent, long n,
                       double linear, double quadratic) {
    double r1 = sqrt(q1);
    long done = 0;
#ifdef CKERNELS_X86
    if (has_avx2()) done = relu_avx2(r1, column_variance, sigma, tangent, n, linear, quadratic);
#endif
    relu_scalar(r1, column_variance, sigma, tangent, done, n, linear, quadratic);
}
