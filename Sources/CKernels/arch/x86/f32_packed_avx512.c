// Products with a packed right-hand matrix for AVX-512 F (f32_packed.c has the layout): tiles of
// up to 8 rows by two 16-column panels, 16 accumulators in registers, each broadcast of A feeding
// two multiply-adds. Every element sums its products in the AVX2 tier's order with the same FMA
// roundings (from the bias or zero, along k; then the factor; then the add to C), so the two
// tiers give the same bits.
#pragma STDC FP_CONTRACT OFF // FMA only where an intrinsic asks for it

#include "../../f32_packed.h"

#if RECUR_X86
#include "simd_x86.h"

#define T RECUR_TARGET_AVX512

// Rows [i0, i0 + R) of panels p .. p + P - 1 (R <= 8, P <= 2, constants once inlined).
static inline __attribute__((always_inline)) T void tile(const recur_packed_args *c, int64_t p,
                                                         int64_t i0, int R, int P) {
    const float *b[2] = {c->packed + p * c->k * RECUR_PANEL, c->packed + (p + 1) * c->k * RECUR_PANEL};
    int64_t cols[2];
    __m512 start[2];
    for (int q = 0; q < P; q++) {
        const int64_t j0 = (p + q) * RECUR_PANEL, left = c->n - j0;
        cols[q] = left < RECUR_PANEL ? left : RECUR_PANEL;
        start[q] = c->bias ? _mm512_maskz_loadu_ps(recur_mask16(cols[q]), c->bias + j0) : _mm512_setzero_ps();
    }
    __m512 acc[8][2];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < P; q++) acc[r][q] = start[q];
    const float *a = c->a + i0 * c->a_stride;
    for (int64_t kk = 0; kk < c->k; kk++) {
        __m512 bv[2];
        for (int q = 0; q < P; q++) bv[q] = _mm512_loadu_ps(b[q] + kk * RECUR_PANEL);
        for (int r = 0; r < R; r++) {
            const __m512 x = _mm512_set1_ps(a[r * c->a_stride + kk]);
            for (int q = 0; q < P; q++) acc[r][q] = _mm512_fmadd_ps(x, bv[q], acc[r][q]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < P; q++) {
            const int64_t j0 = (p + q) * RECUR_PANEL;
            const __mmask16 m = recur_mask16(cols[q]);
            float *out = c->c + (i0 + r) * c->c_stride + j0;
            __m512 v = acc[r][q];
            if (c->mul) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, c->mul + (i0 + r) * c->mul_stride + j0));
            if (c->accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, out), v);
            _mm512_mask_storeu_ps(out, m, v);
        }
}

#define ROWS(P)                                                                                    \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= c->m; i += 8) tile(c, p, i, 8, P);                                        \
        switch (c->m - i) {                                                                        \
        case 7: tile(c, p, i, 7, P); break;                                                        \
        case 6: tile(c, p, i, 6, P); break;                                                        \
        case 5: tile(c, p, i, 5, P); break;                                                        \
        case 4: tile(c, p, i, 4, P); break;                                                        \
        case 3: tile(c, p, i, 3, P); break;                                                        \
        case 2: tile(c, p, i, 2, P); break;                                                        \
        case 1: tile(c, p, i, 1, P); break;                                                        \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)

T void recur_f32_packed_panels_avx512(void *args, int64_t p0, int64_t p1, int thread) {
    (void)thread;
    const recur_packed_args *c = args;
    int64_t p = p0;
    for (; p + 2 <= p1; p += 2) ROWS(2);
    if (p < p1) ROWS(1);
}

#endif // RECUR_X86
