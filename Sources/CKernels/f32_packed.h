// Internal to the packed-matrix products (f32_packed.c and its SIMD tiers).
#ifndef RECUR_F32_PACKED_H
#define RECUR_F32_PACKED_H

#include "recur_internal.h"

// Columns per packed panel.
#define RECUR_PANEL 16

// The arguments of recur_f32_packed_gemm; a tier's body (a recur_range_fn) computes panels
// [p0, p1) of every row.
typedef struct {
    const float *a, *packed, *bias, *mul;
    float *c;
    int64_t a_stride, mul_stride, c_stride, m, n, k;
    int accumulate;
} recur_packed_args;

#if RECUR_X86
void recur_f32_packed_panels_avx2(void *args, int64_t p0, int64_t p1, int thread);
void recur_f32_packed_panels_avx512(void *args, int64_t p0, int64_t p1, int thread);
#endif

#endif // RECUR_F32_PACKED_H
