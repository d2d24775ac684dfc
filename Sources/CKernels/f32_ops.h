// The FP32 dispatch table: one set of function pointers per SIMD tier. f32.c owns the public
// entry points, the threading and the scalar reference; each arch file fills in one table.
// Every function here runs on one thread over the range it is given.
#ifndef RECUR_F32_OPS_H
#define RECUR_F32_OPS_H

#include "recur_internal.h"

// Attention work items are (batch, head, block of queries). A SIMD tier packs the K^T and V of its
// head once per item, so an item takes as many queries as it can: every query of the head when
// that gives each thread a few items, at most RECUR_ATTENTION_MAX_ROWS, and no more than fit the
// panel. The per-thread scratch holds the item's score rows [rows, seq rounded up to 16] and a
// fixed panel: packed queries and output accumulators [rows, head_dim rounded up to 16] each, then
// one packed K^T or V tile of at least 16 keys.
#define RECUR_ATTENTION_MAX_ROWS 128
#define RECUR_ATTENTION_PANEL 32768

// Score rows the scratch holds: seq rounded up to 8, at most RECUR_ATTENTION_MAX_ROWS.
static inline int64_t recur_attention_score_rows(int64_t seq) {
    const int64_t rows = (seq + 7) & ~(int64_t)7;
    return rows < RECUR_ATTENTION_MAX_ROWS ? rows : RECUR_ATTENTION_MAX_ROWS;
}

// Most query rows one item may take: the score rows, less what does not fit the panel, but at
// least 8 (for heads too wide for the panel even then, the tiers take their one-query-at-a-time
// path, which needs one score row).
static inline int64_t recur_attention_max_rows(int64_t seq, int64_t head_dim) {
    const int64_t dp = (head_dim + 15) & ~(int64_t)15;
    int64_t rows = recur_attention_score_rows(seq);
    while (rows > 8 && 2 * rows * dp + 16 * dp > RECUR_ATTENTION_PANEL) rows -= 8;
    return rows;
}

// GELU's constants as PyTorch rounds them to float: 1 / sqrt(2) (M_SQRT1_2) and 1 / sqrt(2 pi)
// (M_2_SQRTPI * M_SQRT1_2 * 0.5).
#define RECUR_GELU_SQRT1_2 0.707106781186547524f
#define RECUR_GELU_PDF 0.398942280401432678f

typedef struct {
    const float *qkv;
    float *out;
    int64_t seq, heads, kv_heads, head_dim;
    float scale;
    // RoPE tables [seq, head_dim] the BF16 kernel applies to Q and K while it packs them (NULL:
    // none; the FP32 kernels take Q and K already rotated).
    const float *rope_cos, *rope_sin;
} recur_attention_args;

typedef struct {
    void (*add)(const float *a, const float *b, float *y, int64_t n);
    void (*add_row)(const float *a, const float *b, float *y, int64_t rows, int64_t dim);
    void (*scale)(float *x, float s, int64_t n);
    // y[i] = x[i] * s (the embedding row copy).
    void (*scale_copy)(const float *x, float s, float *y, int64_t n);
    // y[i] = a * y[i] + b * x[i], two products then one sum (no FMA), so every tier rounds alike.
    void (*axpby)(float *y, const float *x, int64_t n, float a, float b);
    void (*rms_norm)(float *x, int64_t rows, int64_t dim, float eps);
    void (*add_rms_norm)(float *x, const float *residual, int64_t rows, int64_t dim, float eps);
    void (*swiglu)(const float *gate_up, float *out, int64_t rows, int64_t inter);
    void (*softmax)(float *x, int64_t rows, int64_t n);
    void (*exp)(const float *x, float *y, int64_t n);
    // y = GELU(x) (the erf form) and, when slope is not NULL, slope = dy/dx.
    void (*gelu)(const float *x, float *y, float *slope, int64_t n);
    // Rotates rows [row0, row1) of x; row r sits at x + r * row_stride, at position r % seq.
    void (*rope)(float *x, int64_t row0, int64_t row1, int64_t seq, int64_t heads,
                 int64_t head_dim, int64_t row_stride, const float *cos, const float *sin);
    // Queries [q0, q1) of (batch b, head h), q1 - q0 <= recur_attention_max_rows(); scratch holds
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

// The table of the tier in use (recur_isa_active()), for kernels outside f32.c that call one
// operation on their own thread's rows.
const recur_f32_ops *recur_f32_active_ops(void);

extern const recur_f32_ops recur_f32_ops_scalar;
#if RECUR_X86
extern const recur_f32_ops recur_f32_ops_avx2;
extern const recur_f32_ops recur_f32_ops_avx512;
void recur_f32_attention_avx2(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                              int64_t q1, float *scratch);
void recur_f32_attention_avx512(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                                int64_t q1, float *scratch);
// Whether every item of a (seq, head_dim) attention fits the BF16 kernel's panels.
int recur_attention_bf16_fits(int64_t seq, int64_t head_dim);
// The BF16 item kernel (attention_bf16_avx512.c); needs RECUR_CPU_AVX512BF16.
void recur_attention_bf16_avx512(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0, int64_t q1,
                                 float *scratch);
// Shared with the AVX-512 table where a wider register buys nothing (memory-bound transposes).
void recur_f32_transpose_avx2(const float *x, float *y, int64_t rows, int64_t cols, int64_t r0,
                              int64_t r1);
#endif

#endif // RECUR_F32_OPS_H
