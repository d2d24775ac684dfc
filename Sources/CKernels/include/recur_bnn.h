// Kernels of small halting heads: binary (XNOR-popcount), spiking (event-driven), small float layers.
//
// Binary vectors are rows of 64-bit words, bit j of word j/64 (LSB first) standing for +1 when set
// and -1 when clear; a row of k values takes recur_bnn_words(k) words and its padding bits are 0 in
// weights and inputs alike, so padding never changes a dot product.
#ifndef RECUR_BNN_H
#define RECUR_BNN_H

#include <stdint.h>

#include "recur_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline int64_t recur_bnn_words(int64_t k) { return (k + 63) / 64; }

// bits[r] = sign(x[r, j] - center[j]) for j < k, with sign(0) = +1; center may be NULL (zero).
void recur_bnn_pack_signs(const float *x, const float *center, uint64_t *bits, int64_t rows, int64_t k);

// dot[r, o] = sum_j x_rj * w_oj over the k valid +-1 values = k - 2 * popcount(x_r XOR w_o),
// for r < rows, o < n. x: [rows, words], w: [n, words]. Integer exact, so every tier agrees bit for bit.
void recur_bnn_xnor_gemm(const uint64_t *x, const uint64_t *w, int32_t *dot, int64_t rows, int64_t n, int64_t k);

// The same through one tier: RECUR_ISA_SCALAR, RECUR_ISA_AVX2 (nibble-table popcount) or
// RECUR_ISA_AVX512 (needs AVX-512 VPOPCNTDQ). Returns -1 without writing when the CPU lacks it.
int recur_bnn_xnor_gemm_isa(recur_isa isa, const uint64_t *x, const uint64_t *w, int32_t *dot,
                            int64_t rows, int64_t n, int64_t k);
// 1 when recur_bnn_xnor_gemm_isa can run that tier here.
int recur_bnn_isa_supported(recur_isa isa);

// Event-driven synaptic input: v[o] += wt[i, o] for every spiking input i listed in idx[0..count)
// (wt is [inputs, n_out], a column of W per row), so silent inputs cost nothing.
void recur_snn_add_columns(const float *wt, int64_t n_out, const int32_t *idx, int64_t count, float *v);
// The same, subtracting (the negative channel of a signed input).
void recur_snn_sub_columns(const float *wt, int64_t n_out, const int32_t *idx, int64_t count, float *v);

// y[r] = bias + W x[r] for r < m with W given transposed (wt: [k, n]); bias may be NULL.
// Head-sized float layers (head_f32.c).
void recur_head_linear_t(const float *x, const float *wt, const float *bias, float *y, int64_t m, int64_t n, int64_t k);
// The same with W in its [n, k] layout, one dot product per output: better when n is tiny (2 logits).
void recur_head_linear_dot(const float *x, const float *w, const float *bias, float *y, int64_t m, int64_t n, int64_t k);

#ifdef __cplusplus
}
#endif

#endif
