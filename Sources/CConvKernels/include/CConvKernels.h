// Direct convolution kernels for Conv2d with dilation 1 and one group: the
// fast path of NeuralNet's Conv2d on x86-64 CPUs with AVX2 and FMA. They compute what
// im2col + GEMM computes, one sample at a time, without the [C·k·k, N·H'·W'] column
// matrix, its transposes or col2im (see docs/DESIGN-NOTES.md, "Direct convolution").
//
// Layouts (one sample; every pointer is to Float):
//   x        [C][Hp][Wp]  input, already zero-padded (Hp = H + 2·pad)
//   wf       [C][K][K][O] weights packed for forward and weight gradient
//   wd       [K][K][O][C] weights packed for the input gradient
//   y        [O][OH][OW]  output (OH = (Hp - K) / stride + 1)
//   gT       [OH·OW][O]   output gradient, pixel-major
// O must be a multiple of 16; the input gradient also needs C a multiple of 16 and stride 1.
#ifndef LOCKSTEP_CCONVKERNELS_H
#define LOCKSTEP_CCONVKERNELS_H

/// 1 when this CPU runs the kernels (AVX2 and FMA), else 0: then callers use im2col + GEMM.
int lockstep_conv_direct_available(void);

/// w [O][C][K][K] -> wf [C][K][K][O] and wd [K][K][O][C].
void lockstep_conv_pack_weights(const float *w, int O, int C, int K, float *wf, float *wd);

/// y = conv(x, w) + bias, rectified when relu != 0. scratch: OH·OW·O floats.
void lockstep_conv_forward(const float *x, int C, int Hp, int Wp, int K, int stride, const float *wf, int O,
                           const float *bias, int relu, float *y, float *scratch);

/// gT [P][O] = dy [O][P] times (out > 0) when out is not NULL (the fused ReLU's mask);
/// biasGrad[o] += Σ_p gT[p][o] when biasGrad is not NULL.
void lockstep_conv_gradient_transpose(const float *dy, const float *out, int O, int P, float *gT,
                                      float *biasGrad);

/// dWp [C][K][K][O] += Σ_p gT[p][o] · x[c][y·stride+i][x·stride+j] over the OH×OW outputs.
void lockstep_conv_weight_gradient(const float *x, int C, int Hp, int Wp, int K, int stride, const float *gT,
                                   int O, float *dWp);

/// dx [C][H][W] = the input gradient of a stride-1 convolution (the padding cropped away,
/// pad = (Hp - H) / 2).
/// scratch: Hp·Wp·C floats.
void lockstep_conv_input_gradient(const float *gT, int O, const float *wd, int C, int K, int Hp, int Wp,
                                  int pad, float *dx, float *scratch);

// Element-wise kernels (gelu.c), for the same CPUs (lockstep_conv_direct_available()).

/// y[i] = GELU(x[i]) and dydx[i] = its derivative for i < n: exact (through erfc) when
/// tanh_form is 0, else PyTorch's tanh approximation. x must not overlap y or dydx.
void lockstep_gelu_forward(const float *x, long n, int tanh_form, float *y, float *dydx);

#endif
