// AVX2 micro-kernels for the packed ggml formats (maddubs + madd, no VNNI).
//
// Tile: up to 4 activation rows x the 16 panel rows (Q8_0) or x 8 panel rows per pass (Q4), one
// 32-bit lane per panel row, so each block's integer sums need no horizontal reduction.
// Q8_0 uses ggml's sign trick: maddubs(|w|, sign(x, w)) = x * w pairwise; with |x| <= 127 and
// |w| <= 128 a pair is at most 2 * 127 * 128 = 32512, so the int16 step never saturates, -128
// weights included. Q4 multiplies the raw nibble (0..15) with x: a pair is at most 3810, so the
// 16-bit sums of a whole block (8 pairs per lane) stay below 32767 and widen once per block.
// Float accumulation per lane: acc = fma((float)isum, dx * dw, acc), as the scalar reference.
#include <immintrin.h>
#include <string.h>

#include "../../quant_internal.h"

#if defined(__x86_64__) || defined(_M_X64)

#define RQ_AVX2 __attribute__((target("avx2,fma")))
#define RQ_INLINE static inline __attribute__((always_inline))

RQ_INLINE RQ_AVX2 __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Rows i0 .. i0 + NR - 1 against all 16 panel rows (two 8-lane halves). The 8 float accumulators
// do not all fit in registers next to the 8 integer ones; they are touched once per block, so the
// spills cost less than re-reading the activations for a second pass over the other half.
RQ_INLINE RQ_AVX2 void q8_0_tile(const uint8_t *panel, const recur_qact *a, int64_t i0, float *out, int64_t ldo, const int NR) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *xr[4];
    const float *dr[4];
    __m256 facc[4][2];
    for (int r = 0; r < NR; r++) {
        xr[r] = a->q + (i0 + r) * a->k;
        dr[r] = a->d + (i0 + r) * a->nb;
        facc[r][0] = facc[r][1] = _mm256_setzero_ps();
    }
    const uint8_t *blk = panel;
    for (int64_t b = 0; b < a->nb; b++, blk += RQ_Q8_0_PBLOCK) {
        __m256i iacc[4][2];
        for (int r = 0; r < NR; r++) iacc[r][0] = iacc[r][1] = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(blk + g * 64));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(blk + g * 64 + 32));
            const __m256i aw0 = _mm256_abs_epi8(w0), aw1 = _mm256_abs_epi8(w1);
            for (int r = 0; r < NR; r++) {
                const __m256i xb = bcast4(xr[r] + b * 32 + 4 * g);
                const __m256i p0 = _mm256_maddubs_epi16(aw0, _mm256_sign_epi8(xb, w0));
                const __m256i p1 = _mm256_maddubs_epi16(aw1, _mm256_sign_epi8(xb, w1));
                iacc[r][0] = _mm256_add_epi32(iacc[r][0], _mm256_madd_epi16(p0, ones));
                iacc[r][1] = _mm256_add_epi32(iacc[r][1], _mm256_madd_epi16(p1, ones));
            }
        }
        const __m256 dw0 = _mm256_loadu_ps((const float *)(blk + RQ_QUANT_BYTES_Q8));
        const __m256 dw1 = _mm256_loadu_ps((const float *)(blk + RQ_QUANT_BYTES_Q8 + 32));
        for (int r = 0; r < NR; r++) {
            const __m256 dx = _mm256_set1_ps(dr[r][b]);
            facc[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[r][0]), _mm256_mul_ps(dx, dw0), facc[r][0]);
            facc[r][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[r][1]), _mm256_mul_ps(dx, dw1), facc[r][1]);
        }
    }
    for (int r = 0; r < NR; r++) {
        _mm256_storeu_ps(out + r * ldo, facc[r][0]);
        _mm256_storeu_ps(out + r * ldo + 8, facc[r][1]);
    }
}

// Q4_0 (Q41 = 0: subtract 8 * sum(x) from the raw-nibble dot) and Q4_1 (Q41 = 1: add m * s).
RQ_INLINE RQ_AVX2 void q4_half(const uint8_t *panel, const recur_qact *a, int64_t i0, float *out, int64_t ldo, const int NR,
                               const int h, const int Q41) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const size_t pb = Q41 ? RQ_Q4_1_PBLOCK : RQ_Q4_0_PBLOCK;
    const int8_t *xr[4];
    const float *dr[4];
    const int32_t *sr[4];
    const float *fr[4];
    __m256 facc[4];
    for (int r = 0; r < NR; r++) {
        xr[r] = a->q + (i0 + r) * a->k;
        dr[r] = a->d + (i0 + r) * a->nb;
        sr[r] = a->sum + (i0 + r) * a->nb;
        fr[r] = a->s + (i0 + r) * a->nb;
        facc[r] = _mm256_setzero_ps();
    }
    const uint8_t *blk = panel + h * 32;
    for (int64_t b = 0; b < a->nb; b++, blk += pb) {
        __m256i acc16[4];
        for (int r = 0; r < NR; r++) acc16[r] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + c * 64));
            const __m256i lo = _mm256_and_si256(v, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
            for (int r = 0; r < NR; r++) {
                const __m256i pl = _mm256_maddubs_epi16(lo, bcast4(xr[r] + b * 32 + 4 * c));
                const __m256i ph = _mm256_maddubs_epi16(hi, bcast4(xr[r] + b * 32 + 16 + 4 * c));
                acc16[r] = _mm256_add_epi16(acc16[r], _mm256_add_epi16(pl, ph));
            }
        }
        const __m256 dw = _mm256_loadu_ps((const float *)(blk + RQ_QUANT_BYTES_Q4));
        for (int r = 0; r < NR; r++) {
            __m256i isum = _mm256_madd_epi16(acc16[r], ones);
            if (!Q41) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(8 * sr[r][b]));
            const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(dr[r][b]), dw);
            facc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, facc[r]);
        }
        if (Q41) {
            const __m256 mw = _mm256_loadu_ps((const float *)(blk + RQ_QUANT_BYTES_Q4 + 64));
            for (int r = 0; r < NR; r++) facc[r] = _mm256_fmadd_ps(mw, _mm256_set1_ps(fr[r][b]), facc[r]);
        }
    }
    for (int r = 0; r < NR; r++) _mm256_storeu_ps(out + r * ldo + 8 * h, facc[r]);
}

#define RQ_DEFINE_KERNEL(name, body)                                                                    \
    static RQ_AVX2 void name(const uint8_t *panel, const recur_qact *a, int64_t i0, int nr,             \
                            float *out, int64_t ldo) {                                                  \
        switch (nr) {                                                                                   \
        case 4: body(4); break;                                                                         \
        case 3: body(3); break;                                                                         \
        case 2: body(2); break;                                                                         \
        default: body(1); break;                                                                        \
        }                                                                                               \
    }

#define Q8_0_BODY(NR) q8_0_tile(panel, a, i0, out, ldo, NR)
#define Q4_0_BODY(NR) (q4_half(panel, a, i0, out, ldo, NR, 0, 0), q4_half(panel, a, i0, out, ldo, NR, 1, 0))
#define Q4_1_BODY(NR) (q4_half(panel, a, i0, out, ldo, NR, 0, 1), q4_half(panel, a, i0, out, ldo, NR, 1, 1))

RQ_DEFINE_KERNEL(q8_0_avx2, Q8_0_BODY)
RQ_DEFINE_KERNEL(q4_0_avx2, Q4_0_BODY)
RQ_DEFINE_KERNEL(q4_1_avx2, Q4_1_BODY)

const rq_kernels rq_kernels_avx2 = {4, q8_0_avx2, q4_0_avx2, q4_1_avx2};

#endif
