// GELU's forward (the output and dy/dx) eight lanes at a time with AVX2 and FMA: the same
// formulas as NeuralNet's Swift path (GELU.exact and GELU.tanhForm), which Swift's SIMD
// compiles to SSE without FMA. See docs/DESIGN-NOTES.md, note 13.
#include "CConvKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define VEC static inline __attribute__((always_inline, target("avx2,fma")))

// e^x: Cephes' expf (x = n·ln 2 + r, degree-6 polynomial, 2^n into the exponent bits).
VEC __m256 exp8(__m256 v) {
    const __m256 lo = _mm256_set1_ps(-88.3762626647949f), hi = _mm256_set1_ps(88.3762626647949f);
    const __m256 magic = _mm256_set1_ps(12582912.0f);   // 1.5·2^23: adding it rounds to an integer
    __m256 x0 = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    __m256 t = _mm256_fmadd_ps(x0, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x0);
    x = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), x);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(x, x), x), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000)), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// Exact: y = x·Φ(x), dy/dx = Φ(x) + x·φ(x); Φ from Numerical Recipes' erfcc.
VEC void gelu_exact8(__m256 x, __m256 *y, __m256 *d) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), one));
    __m256 p = _mm256_set1_ps(0.17087277f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
    __m256 half = _mm256_mul_ps(_mm256_mul_ps(t, exp8(_mm256_fnmadd_ps(z, z, p))), _mm256_set1_ps(0.5f));   // Φ(-|x|)
    __m256 cdf = _mm256_blendv_ps(half, _mm256_sub_ps(one, half), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
    __m256 pdf = _mm256_mul_ps(exp8(_mm256_mul_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(-0.5f))),
                               _mm256_set1_ps(0.39894228040143268f));
    *y = _mm256_mul_ps(x, cdf);
    *d = _mm256_fmadd_ps(x, pdf, cdf);
}

// tanh form: with e = exp(2u), (1 + tanh u)/2 = e/(e + 1) and 1 - tanh² u = 4e/(e + 1)².
VEC void gelu_tanh8(__m256 x, __m256 *y, __m256 *d) {
    const __m256 one = _mm256_set1_ps(1.0f), c = _mm256_set1_ps(0.79788456080286536f), k = _mm256_set1_ps(0.044715f);
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 u = _mm256_mul_ps(_mm256_mul_ps(x, c), _mm256_fmadd_ps(x2, k, one));
    __m256 e = exp8(_mm256_add_ps(u, u));
    __m256 r = _mm256_div_ps(one, _mm256_add_ps(e, one));
    __m256 halfOnePlus = _mm256_mul_ps(e, r);
    __m256 slope = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(halfOnePlus, r), _mm256_fmadd_ps(x2, _mm256_set1_ps(3 * 0.044715f), one)),
                                 _mm256_set1_ps(2 * 0.79788456080286536f));
    *y = _mm256_mul_ps(x, halfOnePlus);
    *d = _mm256_fmadd_ps(x, slope, halfOnePlus);
}

__attribute__((target("avx2,fma")))
void lockstep_gelu_forward(const float *x, long n, int tanh_form, float *y, float *dydx) {
    long i = 0;
    __m256 a, b;
    for (; i + 8 <= n; i += 8) {
        if (tanh_form) gelu_tanh8(_mm256_loadu_ps(x + i), &a, &b);
        else gelu_exact8(_mm256_loadu_ps(x + i), &a, &b);
        _mm256_storeu_ps(y + i, a);
        _mm256_storeu_ps(dydx + i, b);
    }
    if (i < n) {
        float in[8] = {0}, out[8], der[8];
        for (long j = 0; j < n - i; j++) in[j] = x[i + j];
        if (tanh_form) gelu_tanh8(_mm256_loadu_ps(in), &a, &b);
        else gelu_exact8(_mm256_loadu_ps(in), &a, &b);
        _mm256_storeu_ps(out, a);
        _mm256_storeu_ps(der, b);
        for (long j = 0; j < n - i; j++) { y[i + j] = out[j]; dydx[i + j] = der[j]; }
    }
}

#endif   // not x86-64: GELU never calls these (its Swift path instead).
