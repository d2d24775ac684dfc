// AVX-512 activation quantization: the definition of quant_act.c, sixteen blocks at a time.
//
// The AVX2 quantizer spends most of a block on two dependent scalar divisions and two horizontal
// reductions. Here a row goes in groups of 16 blocks: one vector holds the 16 block maxima, so
// d = amax / 127 and 1 / d are two vector divisions for the group, and the maxima and the block
// sums come out of 16-way transposing reductions instead of one horizontal sum per block.
//
// Bit-identical to the scalar code: a maximum is exact in any order once NaN is out of the way
// (each |x| first goes through max_ps(|x|, m), which keeps m for NaN, as fmaxf does), vector
// division rounds like scalar division, the clamp comes before rounding, cvtps2dq rounds half to
// even like rintf, and integer sums are exact in any order.
#include <float.h>
#include <immintrin.h>

#include "../../quant_internal.h"

#if defined(__x86_64__) || defined(_M_X64)

#define RQ_512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl")))
#define RQ_INLINE static inline __attribute__((always_inline)) RQ_512

// Lane j of the result = max of the 16 lanes of v[j], for 16 NaN-free vectors.
RQ_INLINE __m512 reduce16_max(const __m512 *v) {
    __m512 a[8], b[4], c[2];
    for (int i = 0; i < 8; i++)
        a[i] = _mm512_max_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) {
        const __m512d x = _mm512_castps_pd(a[2 * i]), y = _mm512_castps_pd(a[2 * i + 1]);
        b[i] = _mm512_max_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    // b[i] now holds, in each 128-bit lane, the partial maxima of v[4i .. 4i+3] in that order.
    for (int i = 0; i < 2; i++)
        c[i] = _mm512_max_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xdd));
    return _mm512_max_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xdd));
}

// Lane j of the result = sum of the 16 lanes of v[j] (the same transposing tree, in integers).
RQ_INLINE __m512i reduce16_add(const __m512i *v) {
    __m512i a[8], b[4], c[2];
    for (int i = 0; i < 8; i++)
        a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++)
        b[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_epi64(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        c[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2 * i], b[2 * i + 1], 0x88),
                                _mm512_shuffle_i32x4(b[2 * i], b[2 * i + 1], 0xdd));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(c[0], c[1], 0x88), _mm512_shuffle_i32x4(c[0], c[1], 0xdd));
}

// The 32 quants of one block as two vectors of int32: clamp first (max_ps(v, lo) returns lo for
// NaN, like fmaxf in the scalar clamp), then round half to even.
RQ_INLINE void quantize_block(const float *x, float id, __m512i *q0, __m512i *q1) {
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f), vid = _mm512_set1_ps(id);
    *q0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x), vid), lo), hi));
    *q1 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x + 16), vid), lo), hi));
}

// Blocks [b0, b0 + g) of row i, g <= 16.
RQ_INLINE void quantize_group(const float *x, int64_t ldx, const recur_qact *a, int64_t i, int64_t b0, int g) {
    const float *xb = x + i * ldx + b0 * RECUR_QK;
    __m512 m[16];
    for (int j = 0; j < 16; j++) {
        m[j] = _mm512_setzero_ps();
        if (j >= g) continue;
        m[j] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + 32 * j)), m[j]);
        m[j] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + 32 * j + 16)), m[j]);
    }
    // As quant_act.c: d = amax / 127, id = 1 / d (0 for d = 0), and a block whose 1 / d overflows
    // counts as zero.
    __m512 d = _mm512_div_ps(reduce16_max(m), _mm512_set1_ps(127.0f));
    __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ), _mm512_set1_ps(1.0f), d);
    const __mmask16 huge = _mm512_cmp_ps_mask(id, _mm512_set1_ps(FLT_MAX), _CMP_GT_OQ);
    d = _mm512_mask_mov_ps(d, huge, _mm512_setzero_ps());
    id = _mm512_mask_mov_ps(id, huge, _mm512_setzero_ps());

    float ids[16] __attribute__((aligned(64)));
    _mm512_store_ps(ids, id);
    int8_t *q = a->q + i * a->k + b0 * RECUR_QK;
    __m512i s[16];
    for (int j = 0; j < 16; j++) s[j] = _mm512_setzero_si512();
    int j = 0;
    for (; j + 2 <= g; j += 2) {
        __m512i w[2];
        for (int h = 0; h < 2; h++) {
            __m512i q0, q1;
            quantize_block(xb + 32 * (j + h), ids[j + h], &q0, &q1);
            s[j + h] = _mm512_add_epi32(q0, q1);
            w[h] = _mm512_packs_epi32(q0, q1);
        }
        // Each 128-bit lane L now holds 4-byte groups (block j: q0[4L..], q1[4L..], block j + 1:
        // the same); one dword permute puts both blocks in element order.
        const __m512i bytes = _mm512_packs_epi16(w[0], w[1]);
        _mm512_storeu_si512((void *)(q + 32 * j), _mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), bytes));
    }
    if (j < g) {
        __m512i q0, q1;
        quantize_block(xb + 32 * j, ids[j], &q0, &q1);
        s[j] = _mm512_add_epi32(q0, q1);
        const __m512i w = _mm512_packs_epi32(q0, q1);
        const __m512i bytes = _mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0), _mm512_packs_epi16(w, w));
        _mm256_storeu_si256((__m256i *)(q + 32 * j), _mm512_castsi512_si256(bytes));
    }
    const __m512i sum = reduce16_add(s);
    const __mmask16 live = (__mmask16)((1u << g) - 1);
    const int64_t o = i * a->nb + b0;
    _mm512_mask_storeu_ps(a->d + o, live, d);
    _mm512_mask_storeu_epi32(a->sum + o, live, sum);
    _mm512_mask_storeu_ps(a->s + o, live, _mm512_mul_ps(d, _mm512_cvtepi32_ps(sum)));
}

RQ_512 void rq_quantize_act_rows_avx512(const float *x, int64_t ldx, const recur_qact *a, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
        int64_t b = 0;
        for (; b + 16 <= a->nb; b += 16) quantize_group(x, ldx, a, i, b, 16);
        if (b < a->nb) quantize_group(x, ldx, a, i, b, (int)(a->nb - b));
    }
}

#endif
