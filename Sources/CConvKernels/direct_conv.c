// Direct convolution (dilation 1, one group; the input gradient for stride 1) for Conv2d.
// See include/CConvKernels.h for the layouts and docs/DESIGN-NOTES.md for the measurements.
//
// Every kernel keeps a register tile of 12 eight-lane accumulators, fed per step by two
// vector loads and up to six broadcasts: FMA-bound on AVX2 cores (2 loads and 2 FMAs per
// cycle). The functions carry target("avx2,fma") so the rest of the binary stays portable;
// Swift calls them only when lockstep_conv_direct_available() says the CPU has both.
#include "CConvKernels.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define KERNEL __attribute__((target("avx2,fma")))
#define TILE static inline __attribute__((always_inline, target("avx2,fma")))

int lockstep_conv_direct_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// src: 8 rows x 8 columns (row stride lds) -> dst: 8 x 8 transposed (row stride ldd),
// plus bias[column] when bias is not NULL, rectified (v > 0 ? v : 0) when relu.
TILE void transpose8(const float *src, long lds, float *dst, long ldd, const float *bias, int relu) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    __m256 c[8];
    c[0] = _mm256_permute2f128_ps(s0, s4, 0x20); c[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    c[2] = _mm256_permute2f128_ps(s2, s6, 0x20); c[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    c[4] = _mm256_permute2f128_ps(s0, s4, 0x31); c[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    c[6] = _mm256_permute2f128_ps(s2, s6, 0x31); c[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
    const __m256 zero = _mm256_setzero_ps();
    for (int k = 0; k < 8; k++) {
        __m256 v = c[k];
        if (bias) v = _mm256_add_ps(v, _mm256_broadcast_ss(bias + k));
        if (relu) v = _mm256_max_ps(v, zero);   // max(v, +0) is +0 for v <= 0 and for NaN
        _mm256_storeu_ps(dst + k * ldd, v);
    }
}

// dst[c·ldd + r] = f(src[r·lds + c] + bias[c]) for r < rows, c < cols.
KERNEL static void transpose(const float *src, int rows, int cols, long lds, float *dst, long ldd,
                             const float *bias, int relu) {
    int r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8)
            transpose8(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd, bias ? bias + c0 : NULL, relu);
        for (; c0 < cols; c0++)
            for (int r = r0; r < r0 + 8; r++) {
                float v = src[r * lds + c0] + (bias ? bias[c0] : 0);
                dst[c0 * ldd + r] = relu ? (v > 0 ? v : 0) : v;
            }
    }
    for (; r0 < rows; r0++)
        for (int c = 0; c < cols; c++) {
            float v = src[r0 * lds + c] + (bias ? bias[c] : 0);
            dst[c * ldd + r0] = relu ? (v > 0 ? v : 0) : v;
        }
}

// ---- forward: 16 output channels x NPX pixels of one output row --------------------------

TILE void forward_tile(const float *x, int C, int Hp, int Wp, int K, const int S, const float *wf, int O,
                       int o0, int y, int x0, const int NPX, float *dst) {
    __m256 a0[6], a1[6];
    for (int p = 0; p < NPX; p++) a0[p] = a1[p] = _mm256_setzero_ps();
    for (int c = 0; c < C; c++)
        for (int i = 0; i < K; i++) {
            const float *xr = x + ((long)c * Hp + (long)y * S + i) * Wp + (long)x0 * S;
            const float *wv = wf + (long)(c * K + i) * K * O + o0;
            for (int j = 0; j < K; j++) {
                __m256 w0 = _mm256_loadu_ps(wv + j * O), w1 = _mm256_loadu_ps(wv + j * O + 8);
                for (int p = 0; p < NPX; p++) {
                    __m256 b = _mm256_broadcast_ss(xr + p * S + j);
                    a0[p] = _mm256_fmadd_ps(w0, b, a0[p]);
                    a1[p] = _mm256_fmadd_ps(w1, b, a1[p]);
                }
            }
        }
    for (int p = 0; p < NPX; p++) {
        _mm256_storeu_ps(dst + p * O, a0[p]);
        _mm256_storeu_ps(dst + p * O + 8, a1[p]);
    }
}

// All output rows with stride S (a constant after inlining for S = 1 and 2).
TILE void forward_rows(const float *x, int C, int Hp, int Wp, int K, const int S, const float *wf, int O,
                       float *scratch) {
    const int OH = (Hp - K) / S + 1, OW = (Wp - K) / S + 1;
    for (int o0 = 0; o0 < O; o0 += 16)
        for (int r = 0; r < OH; r++)
            for (int x0 = 0; x0 < OW; x0 += 6) {
                float *dst = scratch + (long)(r * OW + x0) * O + o0;
                switch (OW - x0 < 6 ? OW - x0 : 6) {
                case 6: forward_tile(x, C, Hp, Wp, K, S, wf, O, o0, r, x0, 6, dst); break;
                case 5: forward_tile(x, C, Hp, Wp, K, S, wf, O, o0, r, x0, 5, dst); break;
                case 4: forward_tile(x, C, Hp, Wp, K, S, wf, O, o0, r, x0, 4, dst); break;
                case 3: forward_tile(x, C, Hp, Wp, K, S, wf, O, o0, r, x0, 3, dst); break;
                case 2: forward_tile(x, C, Hp, Wp, K, S, wf, O, o0, r, x0, 2, dst); break;
                default: forward_tile(x, C, Hp, Wp, K, S, wf, O, o0, r, x0, 1, dst); break;
                }
            }
}

KERNEL void lockstep_conv_forward(const float *x, int C, int Hp, int Wp, int K, int stride, const float *wf,
                                  int O, const float *bias, int relu, float *y, float *scratch) {
    if (stride == 1) forward_rows(x, C, Hp, Wp, K, 1, wf, O, scratch);
    else if (stride == 2) forward_rows(x, C, Hp, Wp, K, 2, wf, O, scratch);
    else forward_rows(x, C, Hp, Wp, K, stride, wf, O, scratch);
    const int P = ((Hp - K) / stride + 1) * ((Wp - K) / stride + 1);
    transpose(scratch, P, O, O, y, P, bias, relu);   // [P][O] -> [O][P]
}

// ---- output gradient: mask, transpose, bias sums -------------------------------------------

KERNEL void lockstep_conv_gradient_transpose(const float *dy, const float *out, int O, int P, float *gT,
                                             float *biasGrad) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1);
    int o0 = 0;
    for (; o0 + 8 <= O; o0 += 8) {
        int p0 = 0;
        for (; p0 + 8 <= P; p0 += 8) {
            float m[64] __attribute__((aligned(32)));
            for (int k = 0; k < 8; k++) {
                __m256 g = _mm256_loadu_ps(dy + (long)(o0 + k) * P + p0);
                if (out) {   // g · (out > 0 ? 1 : 0), as ReLU.backward computes it
                    __m256 mask = _mm256_cmp_ps(_mm256_loadu_ps(out + (long)(o0 + k) * P + p0), zero, _CMP_GT_OQ);
                    g = _mm256_mul_ps(g, _mm256_blendv_ps(zero, one, mask));
                }
                _mm256_store_ps(m + 8 * k, g);
            }
            transpose8(m, 8, gT + (long)p0 * O + o0, O, NULL, 0);
        }
        for (; p0 < P; p0++)
            for (int k = o0; k < o0 + 8; k++) {
                float g = dy[(long)k * P + p0];
                gT[(long)p0 * O + k] = out ? g * (out[(long)k * P + p0] > 0 ? 1.0f : 0.0f) : g;
            }
    }
    for (; o0 < O; o0++)
        for (int p = 0; p < P; p++) {
            float g = dy[(long)o0 * P + p];
            gT[(long)p * O + o0] = out ? g * (out[(long)o0 * P + p] > 0 ? 1.0f : 0.0f) : g;
        }
    if (!biasGrad) return;
    int o = 0;
    for (; o + 8 <= O; o += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int p = 0; p < P; p++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(gT + (long)p * O + o));
        _mm256_storeu_ps(biasGrad + o, _mm256_add_ps(_mm256_loadu_ps(biasGrad + o), acc));
    }
    for (; o < O; o++) {
        float s = 0;
        for (int p = 0; p < P; p++) s += gT[(long)p * O + o];
        biasGrad[o] += s;
    }
}

// ---- weight gradient: 16 output channels x CT input channels x JT taps of one kernel row --

TILE void weight_tile(const float *x, int Hp, int Wp, int K, const int S, const float *gT, int O, int OH, int OW,
                      int c, const int CT, int i, int j0, const int JT, int o0, float *dWp) {
    __m256 a[2][3][2];
    for (int ct = 0; ct < CT; ct++)
        for (int jt = 0; jt < JT; jt++) a[ct][jt][0] = a[ct][jt][1] = _mm256_setzero_ps();
    const long plane = (long)Hp * Wp;
    for (int r = 0; r < OH; r++) {
        const float *g = gT + (long)r * OW * O + o0;
        const float *xr = x + (long)c * plane + ((long)r * S + i) * Wp + j0;
        for (int q = 0; q < OW; q++) {
            __m256 g0 = _mm256_loadu_ps(g + (long)q * O), g1 = _mm256_loadu_ps(g + (long)q * O + 8);
            for (int ct = 0; ct < CT; ct++)
                for (int jt = 0; jt < JT; jt++) {
                    __m256 b = _mm256_broadcast_ss(xr + ct * plane + (long)q * S + jt);
                    a[ct][jt][0] = _mm256_fmadd_ps(g0, b, a[ct][jt][0]);
                    a[ct][jt][1] = _mm256_fmadd_ps(g1, b, a[ct][jt][1]);
                }
        }
    }
    for (int ct = 0; ct < CT; ct++)
        for (int jt = 0; jt < JT; jt++) {
            float *d = dWp + ((long)((c + ct) * K + i) * K + j0 + jt) * O + o0;
            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), a[ct][jt][0]));
            _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), a[ct][jt][1]));
        }
}

TILE void weight_rows(const float *x, int C, int Hp, int Wp, int K, const int S, const float *gT, int O,
                      float *dWp) {
    const int OH = (Hp - K) / S + 1, OW = (Wp - K) / S + 1;
    for (int o0 = 0; o0 < O; o0 += 16)
        for (int c = 0; c < C; c += 2)
            for (int i = 0; i < K; i++)
                for (int j0 = 0; j0 < K; j0 += 3) {
                    const int two = C - c >= 2, jt = K - j0 < 3 ? K - j0 : 3;
#define WT(CT, JT) weight_tile(x, Hp, Wp, K, S, gT, O, OH, OW, c, CT, i, j0, JT, o0, dWp)
                    if (two) {
                        if (jt == 3) WT(2, 3); else if (jt == 2) WT(2, 2); else WT(2, 1);
                    } else {
                        if (jt == 3) WT(1, 3); else if (jt == 2) WT(1, 2); else WT(1, 1);
                    }
#undef WT
                }
}

KERNEL void lockstep_conv_weight_gradient(const float *x, int C, int Hp, int Wp, int K, int stride, const float *gT,
                                          int O, float *dWp) {
    if (stride == 1) weight_rows(x, C, Hp, Wp, K, 1, gT, O, dWp);
    else if (stride == 2) weight_rows(x, C, Hp, Wp, K, 2, gT, O, dWp);
    else weight_rows(x, C, Hp, Wp, K, stride, gT, O, dWp);
}

// ---- input gradient: 16 input channels x NPX output-gradient pixels, one kernel tap ---------

TILE void input_tile(const float *gT, int O, const float *wtap, int C, const int NPX, float *dst) {
    __m256 a0[6], a1[6];
    for (int p = 0; p < NPX; p++) a0[p] = a1[p] = _mm256_setzero_ps();
    for (int o = 0; o < O; o++) {
        __m256 w0 = _mm256_loadu_ps(wtap + (long)o * C), w1 = _mm256_loadu_ps(wtap + (long)o * C + 8);
        for (int p = 0; p < NPX; p++) {
            __m256 b = _mm256_broadcast_ss(gT + (long)p * O + o);
            a0[p] = _mm256_fmadd_ps(w0, b, a0[p]);
            a1[p] = _mm256_fmadd_ps(w1, b, a1[p]);
        }
    }
    for (int p = 0; p < NPX; p++) {
        float *d = dst + (long)p * C;
        _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), a0[p]));
        _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), a1[p]));
    }
}

KERNEL void lockstep_conv_input_gradient(const float *gT, int O, const float *wd, int C, int K, int Hp, int Wp,
                                         int pad, float *dx, float *scratch) {
    const int OH = Hp - K + 1, OW = Wp - K + 1, H = Hp - 2 * pad, W = Wp - 2 * pad;
    memset(scratch, 0, sizeof(float) * (size_t)Hp * Wp * C);   // [Hp][Wp][C]
    for (int r = 0; r < OH; r++)
        for (int x0 = 0; x0 < OW; x0 += 6) {
            const int npx = OW - x0 < 6 ? OW - x0 : 6;
            const float *g = gT + (long)(r * OW + x0) * O;
            for (int c0 = 0; c0 < C; c0 += 16)
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < K; j++) {
                        const float *wtap = wd + (long)(i * K + j) * O * C + c0;
                        float *dst = scratch + ((long)(r + i) * Wp + x0 + j) * C + c0;
                        switch (npx) {
                        case 6: input_tile(g, O, wtap, C, 6, dst); break;
                        case 5: input_tile(g, O, wtap, C, 5, dst); break;
                        case 4: input_tile(g, O, wtap, C, 4, dst); break;
                        case 3: input_tile(g, O, wtap, C, 3, dst); break;
                        case 2: input_tile(g, O, wtap, C, 2, dst); break;
                        default: input_tile(g, O, wtap, C, 1, dst); break;
                        }
                    }
        }
    // [Hp][Wp][C] -> [C][H][W], the padding cropped away
    if (pad == 0) {
        transpose(scratch, H * W, C, C, dx, (long)H * W, NULL, 0);
    } else {
        for (int r = 0; r < H; r++)
            transpose(scratch + ((long)(r + pad) * Wp + pad) * C, W, C, C, dx + (long)r * W, (long)H * W, NULL, 0);
    }
}

#else   // not x86-64: Conv2d never takes the direct path here (im2col + GEMM instead).

int lockstep_conv_direct_available(void) { return 0; }

#endif

void lockstep_conv_pack_weights(const float *w, int O, int C, int K, float *wf, float *wd) {
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) {
                    float v = w[(((long)o * C + c) * K + i) * K + j];
                    wf[(((long)c * K + i) * K + j) * O + o] = v;
                    wd[(((long)i * K + j) * O + o) * C + c] = v;
                }
}
