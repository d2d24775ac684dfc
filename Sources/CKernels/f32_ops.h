// The FP32 dispatch table: one set of function pointers per SIMD tier. f32.c owns the public
// entry points, the threading and the scalar reference; each arch file fills in one table.
// Every function here runs on one thread over the range it is given.
#ifndef RECUR_F32_OPS_H
#define RECUR_F32_OPS_H

#include "recur_internal.h"

// Attention work items are (batch, head, block of this many queries). The SIMD tiers keep the whole
// score block [QUERY_BLOCK, seq] plus a fixed panel (packed queries, output accumulators and one
// packed K^T or V tile) in the per-thread scratch.
#define RECUR_ATTENTION_QUERY_BLOCK 16
#define RECUR_ATTENTION_PANEL 16384

typedef struct {
    const float *qkv;
    float *out;
    int64_t seq, heads, kv_heads, head_dim;
    float scale;
} recur_attention_args;

typedef struct {
    void (*add)(const float *a, const float *b, float *y, int64_t n);
    void (*add_row)(const float *a, const float *b, float *y, int64_t rows, int64_t dim);
    void (*scale)(float *x, float s, int64_t n);
    // y[i] = x[i] * s (the embedding row copy).
    void (*scale_copy)(const float *x, float s, float *y, int64_t n);
    void (*rms_norm)(float *x, int64_t rows, int64_t dim, float eps);
    void (*add_rms_norm)(float *x, const float *residual, int64_t rows, int64_t dim, float eps);
    void (*swiglu)(const float *gate_up, float *out, int64_t rows, int64_t inter);
    void (*softmax)(float *x, int64_t rows, int64_t n);
    void (*exp)(const float *x, float *y, int64_t n);
    // Rotates rows [row0, row1) of x; row r sits at x + r * row_stride, at position r % seq.
    void (*rope)(float *x, int64_t row0, int64_t row1, int64_t seq, int64_t heads,
                 int64_t head_dim, int64_t row_stride, const float *cos, const float *sin);
    // Queries [q0, q1) of (batch b, head h), q1 - q0 <= RECUR_ATTENTION_QUERY_BLOCK; scratch holds
    // recur_f32_attention_scratch(seq) floats.
    void (*attention)(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0, int64_t q1,
                      float *scratch);
    void (*argmax)(const float *x, int64_t rows, int64_t n, int32_t *out);
    // Rows [r0, r1) of one [rows, cols] matrix x into columns [r0, r1) of y ([cols, rows]).
    void (*transpose)(const float *x, float *y, int64_t rows, int64_t cols, int64_t r0,
                      int64_t r1);
    void (*f16_to_f32)(const uint16_t *x, float *y, int64_t n);
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
    void (*bf16_to_f32)(const uint16_t *x, float *y, int64_t n);
} recur_f32_ops;

extern const recur_f32_ops recur_f32_ops_scalar;
#if RECUR_X86
extern const recur_f32_ops recur_f32_ops_avx2;
extern const recur_f32_ops recur_f32_ops_avx512;
void recur_f32_attention_avx2(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                              int64_t q1, float *scratch);
void recur_f32_attention_avx512(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                                int64_t q1, float *scratch);
// Shared with the AVX-512 table where a wider register buys nothing (memory-bound transposes).
void recur_f32_transpose_avx2(const float *x, float *y, int64_t rows, int64_t cols, int64_t r0,
                              int64_t r1);
#endif

#endif // RECUR_F32_OPS_H
