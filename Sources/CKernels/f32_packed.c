// Products with a packed right-hand matrix (recur_kernels.h): packing, the scalar tier and the
// dispatch. The scalar tier sums each element's products in the same order as the AVX2 tier
// (arch/x86/f32_packed_avx2.c), which rounds each multiply-add once (FMA).
#pragma STDC FP_CONTRACT OFF

#include "f32_packed.h"

#include <string.h>

static int64_t panels(int64_t n) { return (n + RECUR_PANEL - 1) / RECUR_PANEL; }

int64_t recur_f32_packed_size(int64_t k, int64_t n) { return panels(n) * RECUR_PANEL * k; }

void recur_f32_pack_transposed(const float *w, int64_t n, int64_t k, float *packed) {
    for (int64_t p = 0; p < panels(n); p++)
        for (int64_t kk = 0; kk < k; kk++)
            for (int64_t col = 0; col < RECUR_PANEL; col++) {
                const int64_t j = p * RECUR_PANEL + col;
                packed[(p * k + kk) * RECUR_PANEL + col] = j < n ? w[j * k + kk] : 0;
            }
}

void recur_f32_unpack_transposed(const float *packed, int64_t n, int64_t k, float *w) {
    for (int64_t j = 0; j < n; j++)
        for (int64_t kk = 0; kk < k; kk++)
            w[j * k + kk] = packed[((j / RECUR_PANEL) * k + kk) * RECUR_PANEL + j % RECUR_PANEL];
}

void recur_f32_pack(const float *w, int64_t k, int64_t n, float *packed) {
    for (int64_t p = 0; p < panels(n); p++)
        for (int64_t kk = 0; kk < k; kk++)
            for (int64_t col = 0; col < RECUR_PANEL; col++) {
                const int64_t j = p * RECUR_PANEL + col;
                packed[(p * k + kk) * RECUR_PANEL + col] = j < n ? w[kk * n + j] : 0;
            }
}

static void packed_panels_scalar(void *args, int64_t p0, int64_t p1, int thread) {
    (void)thread;
    const recur_packed_args *c = args;
    for (int64_t p = p0; p < p1; p++) {
        const float *b = c->packed + p * c->k * RECUR_PANEL;
        const int64_t j0 = p * RECUR_PANEL;
        const int64_t cols = c->n - j0 < RECUR_PANEL ? c->n - j0 : RECUR_PANEL;
        for (int64_t i = 0; i < c->m; i++) {
            float acc[RECUR_PANEL];
            for (int64_t col = 0; col < RECUR_PANEL; col++) acc[col] = c->bias && col < cols ? c->bias[j0 + col] : 0;
            const float *a = c->a + i * c->a_stride;
            for (int64_t kk = 0; kk < c->k; kk++)
                for (int64_t col = 0; col < RECUR_PANEL; col++) acc[col] += a[kk] * b[kk * RECUR_PANEL + col];
            float *out = c->c + i * c->c_stride + j0;
            const float *mul = c->mul ? c->mul + i * c->mul_stride + j0 : NULL;
            for (int64_t col = 0; col < cols; col++) {
                const float r = mul ? acc[col] * mul[col] : acc[col];
                out[col] = c->accumulate ? out[col] + r : r;
            }
        }
    }
}

void recur_f32_packed_gemm(const float *a, int64_t a_stride, const float *packed, int64_t k,
                           int64_t n, const float *bias, const float *mul, int64_t mul_stride,
                           float *c, int64_t c_stride, int64_t m, int accumulate) {
    if (m <= 0 || n <= 0) return;
    recur_packed_args args = {.a = a, .packed = packed, .bias = bias, .mul = mul, .c = c,
                              .a_stride = a_stride, .mul_stride = mul_stride, .c_stride = c_stride,
                              .m = m, .n = n, .k = k, .accumulate = accumulate};
    recur_range_fn body = packed_panels_scalar;
#if RECUR_X86
    const recur_isa isa = recur_isa_active();
    if (isa == RECUR_ISA_AVX512 || isa == RECUR_ISA_AMX) body = recur_f32_packed_panels_avx512;
    else if (isa != RECUR_ISA_SCALAR) body = recur_f32_packed_panels_avx2;
#endif
    recur_parallel_for(panels(n), 2 * m * RECUR_PANEL * (k > 0 ? k : 1), body, &args);
}
