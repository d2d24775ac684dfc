// AVX2 activation quantization: the same definition as quant_act.c, 32 elements per step.
//
// Bit-identical to the scalar code by construction: max is exact in any order (NaN ignored the same
// way: max_ps(v, m) keeps m when v is NaN), the scale is computed by the same scalar expressions,
// the clamp comes before rounding in both, and cvtps2dq rounds half to even like rintf.
#include <float.h>
#include <immintrin.h>

#include "../../quant_internal.h"

#if defined(__x86_64__) || defined(_M_X64)

#define RQ_AVX2 __attribute__((target("avx2,fma")))

static RQ_AVX2 void quantize_block(const float *x, int8_t *q, float *d_out, int32_t *sum_out, float *s_out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_setzero_ps();
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), m);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v1), m);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v2), m);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v3), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (id > FLT_MAX) d = id = 0.0f; // as quant_act.c: a block too small to scale counts as zero
    const __m256 vid = _mm256_set1_ps(id);
    // Clamp in float before rounding, as the scalar code: max_ps(v, -127) returns -127 for NaN
    // like fmaxf does.
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
#define RQ_Q(v) _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, vid), lo), hi))
    const __m256i i0 = RQ_Q(v0), i1 = RQ_Q(v1), i2 = RQ_Q(v2), i3 = RQ_Q(v3);
#undef RQ_Q
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    const int32_t sum = _mm_cvtsi128_si32(s4);
    // packs work per 128-bit lane: [i0 lo, i1 lo, i0 hi, i1 hi] -> bytes need one dword permute.
    const __m256i w01 = _mm256_packs_epi32(i0, i1), w23 = _mm256_packs_epi32(i2, i3);
    const __m256i b = _mm256_packs_epi16(w01, w23);
    const __m256i ordered = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, ordered);
    *d_out = d;
    *sum_out = sum;
    *s_out = d * (float)sum;
}

void rq_quantize_act_rows_avx2(const float *x, int64_t ldx, const recur_qact *a, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++)
        for (int64_t b = 0; b < a->nb; b++) {
            const int64_t o = i * a->nb + b;
            quantize_block(x + i * ldx + b * RECUR_QK, a->q + i * a->k + b * RECUR_QK, a->d + o, a->sum + o,
                           a->s + o);
        }
}

#endif
