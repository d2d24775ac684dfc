// AVX-VNNI micro-kernels (256-bit vpdpbusd without AVX-512, e.g. Alder Lake and later laptops).
//
// Same tile and layout as the AVX2 kernels: up to 4 activation rows x 8 panel rows per pass, one
// 32-bit lane per panel row. vpdpbusd multiplies unsigned bytes (first operand) with signed bytes
// (second) and adds each group of 4 products to a 32-bit lane without intermediate saturation, so:
//   Q8_0: (w ^ 0x80) = w + 128 is the unsigned side, x the signed side:
//         sum (w + 128) x = isum + 128 * sum(x), and the block sum of x is subtracted once per block.
//   Q4:   the raw nibble (0..15) is the unsigned side; Q4_0 subtracts 8 * sum(x) per block.
// All integer sums are exact; float accumulation as the scalar reference.
#include <immintrin.h>
#include <string.h>

#include "../../quant_internal.h"

#if defined(__x86_64__) || defined(_M_X64)

#ifndef RQ_VNNI_TARGET // overridden only by the emulation check in benchmarks/kernels
#define RQ_VNNI_TARGET __attribute__((target("avx2,fma,avxvnni")))
#endif
#define RQ_VNNI RQ_VNNI_TARGET
#define RQ_INLINE static inline __attribute__((always_inline))

RQ_INLINE RQ_VNNI __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

RQ_INLINE RQ_VNNI void q8_0_half(const uint8_t *panel, const recur_qact *a, int64_t i0, float *out, int64_t ldo, const int NR,
                                 const int h) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    const int8_t *xr[4];
    const float *dr[4];
    const int32_t *sr[4];
    __m256 facc[4];
    for (int r = 0; r < NR; r++) {
        xr[r] = a->q + (i0 + r) * a->k;
        dr[r] = a->d + (i0 + r) * a->nb;
        sr[r] = a->sum + (i0 + r) * a->nb;
        facc[r] = _mm256_setzero_ps();
    }
    const uint8_t *blk = panel + h * 32;
    for (int64_t b = 0; b < a->nb; b++, blk += RQ_Q8_0_PBLOCK) {
        __m256i iacc[4];
        for (int r = 0; r < NR; r++) iacc[r] = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
            const __m256i wu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + g * 64)), bias);
            for (int r = 0; r < NR; r++)
                iacc[r] = _mm256_dpbusd_avx_epi32(iacc[r], wu, bcast4(xr[r] + b * 32 + 4 * g));
        }
        const __m256 dw = _mm256_loadu_ps((const float *)(blk + RQ_QUANT_BYTES_Q8));
        for (int r = 0; r < NR; r++) {
            const __m256i isum = _mm256_sub_epi32(iacc[r], _mm256_set1_epi32(128 * sr[r][b]));
            const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(dr[r][b]), dw);
            facc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, facc[r]);
        }
    }
    for (int r = 0; r < NR; r++) _mm256_storeu_ps(out + r * ldo + 8 * h, facc[r]);
}

RQ_INLINE RQ_VNNI void q4_half(const uint8_t *panel, const recur_qact *a, int64_t i0, float *out, int64_t ldo, const int NR,
                               const int h, const int Q41) {
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
        __m256i iacc[4];
        for (int r = 0; r < NR; r++) iacc[r] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + c * 64));
            const __m256i lo = _mm256_and_si256(v, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
            for (int r = 0; r < NR; r++) {
                iacc[r] = _mm256_dpbusd_avx_epi32(iacc[r], lo, bcast4(xr[r] + b * 32 + 4 * c));
                iacc[r] = _mm256_dpbusd_avx_epi32(iacc[r], hi, bcast4(xr[r] + b * 32 + 16 + 4 * c));
            }
        }
        const __m256 dw = _mm256_loadu_ps((const float *)(blk + RQ_QUANT_BYTES_Q4));
        for (int r = 0; r < NR; r++) {
            __m256i isum = iacc[r];
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
    static RQ_VNNI void name(const uint8_t *panel, const recur_qact *a, int64_t i0, int nr,             \
                            float *out, int64_t ldo) {                                                  \
        switch (nr) {                                                                                   \
        case 4: body(4); break;                                                                         \
        case 3: body(3); break;                                                                         \
        case 2: body(2); break;                                                                         \
        default: body(1); break;                                                                        \
        }                                                                                               \
    }

#define Q8_0_BODY(NR) (q8_0_half(panel, a, i0, out, ldo, NR, 0), q8_0_half(panel, a, i0, out, ldo, NR, 1))
#define Q4_0_BODY(NR) (q4_half(panel, a, i0, out, ldo, NR, 0, 0), q4_half(panel, a, i0, out, ldo, NR, 1, 0))
#define Q4_1_BODY(NR) (q4_half(panel, a, i0, out, ldo, NR, 0, 1), q4_half(panel, a, i0, out, ldo, NR, 1, 1))

RQ_DEFINE_KERNEL(q8_0_avxvnni, Q8_0_BODY)
RQ_DEFINE_KERNEL(q4_0_avxvnni, Q4_0_BODY)
RQ_DEFINE_KERNEL(q4_1_avxvnni, Q4_1_BODY)

const rq_kernels rq_kernels_avxvnni = {4, q8_0_avxvnni, q4_0_avxvnni, q4_1_avxvnni};

#endif
