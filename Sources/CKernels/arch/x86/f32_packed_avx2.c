// Products with a packed right-hand matrix for AVX2 + FMA (f32_packed.c has the layout and the
// scalar tier): tiles of up to 6 rows by one 16-column panel, 12 accumulators in registers, A's
// values broadcast from its rows and B's panel read in order.
#pragma STDC FP_CONTRACT OFF // FMA only where an intrinsic asks for it

#include "../../f32_packed.h"

#if RECUR_X86
#include "simd_x86.h"

#define T RECUR_TARGET_AVX2

// Rows [i0, i0 + R) of panel p (R <= 6, a constant once inlined).
static inline __attribute__((always_inline)) T void tile(const recur_packed_args *c, int64_t p,
                                                         int64_t i0, int R) {
    const float *b = c->packed + p * c->k * RECUR_PANEL;
    const int64_t j0 = p * RECUR_PANEL, cols = c->n - j0 < RECUR_PANEL ? c->n - j0 : RECUR_PANEL;
    __m256 lo0, hi0;
    if (c->bias && cols == RECUR_PANEL) {
        lo0 = _mm256_loadu_ps(c->bias + j0);
        hi0 = _mm256_loadu_ps(c->bias + j0 + 8);
    } else if (c->bias) {
        lo0 = _mm256_maskload_ps(c->bias + j0, recur_mask8(cols));
        hi0 = _mm256_maskload_ps(c->bias + j0 + 8, recur_mask8(cols - 8));
    } else {
        lo0 = hi0 = _mm256_setzero_ps();
    }
    __m256 lo[6], hi[6];
    for (int r = 0; r < R; r++) lo[r] = lo0, hi[r] = hi0;
    const float *a = c->a + i0 * c->a_stride;
    for (int64_t kk = 0; kk < c->k; kk++) {
        const __m256 b0 = _mm256_loadu_ps(b + kk * RECUR_PANEL), b1 = _mm256_loadu_ps(b + kk * RECUR_PANEL + 8);
        for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r * c->a_stride + kk);
            lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
            hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *out = c->c + (i0 + r) * c->c_stride + j0;
        const float *mul = c->mul ? c->mul + (i0 + r) * c->mul_stride + j0 : NULL;
        if (cols == RECUR_PANEL) {
            if (mul) {
                lo[r] = _mm256_mul_ps(lo[r], _mm256_loadu_ps(mul));
                hi[r] = _mm256_mul_ps(hi[r], _mm256_loadu_ps(mul + 8));
            }
            if (c->accumulate) {
                lo[r] = _mm256_add_ps(_mm256_loadu_ps(out), lo[r]);
                hi[r] = _mm256_add_ps(_mm256_loadu_ps(out + 8), hi[r]);
            }
            _mm256_storeu_ps(out, lo[r]);
            _mm256_storeu_ps(out + 8, hi[r]);
        } else {
            float v[RECUR_PANEL];
            _mm256_storeu_ps(v, lo[r]);
            _mm256_storeu_ps(v + 8, hi[r]);
            for (int64_t col = 0; col < cols; col++) {
                const float x = mul ? v[col] * mul[col] : v[col];
                out[col] = c->accumulate ? out[col] + x : x;
            }
        }
    }
}

T void recur_f32_packed_panels_avx2(void *args, int64_t p0, int64_t p1, int thread) {
    (void)thread;
    const recur_packed_args *c = args;
    for (int64_t p = p0; p < p1; p++) {
        int64_t i = 0;
        for (; i + 6 <= c->m; i += 6) tile(c, p, i, 6);
        switch (c->m - i) {
        case 5: tile(c, p, i, 5); break;
        case 4: tile(c, p, i, 4); break;
        case 3: tile(c, p, i, 3); break;
        case 2: tile(c, p, i, 2); break;
        case 1: tile(c, p, i, 1); break;
        default: break;
        }
    }
}

#endif // RECUR_X86
