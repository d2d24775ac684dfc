// AVX-512 VNNI micro-kernels (Ice Lake, Sapphire Rapids, Zen 4).
//
// One zmm load is 4 consecutive k of all 16 panel rows, so a tile is up to 8 activation rows x the
// whole panel, with one 32-bit lane per panel row. The integer scheme is the AVX-VNNI one:
//   Q8_0: vpdpbusd(w ^ 0x80 unsigned, x signed) = isum + 128 * sum(x), corrected once per block;
//   Q4:   vpdpbusd(nibble unsigned, x signed); Q4_0 subtracts 8 * sum(x) per block.
// Float accumulation as the scalar reference: acc = fma((float)isum, dx * dw, acc).
#include <immintrin.h>
#include <string.h>

#include "../../quant_internal.h"

#if defined(__x86_64__) || defined(_M_X64)

#ifndef RQ_512_TARGET // overridden only by the emulation check in benchmarks/kernels
#define RQ_512_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#endif
#define RQ_512 RQ_512_TARGET
#define RQ_INLINE static inline __attribute__((always_inline))
#define RQ_MR512 8 // most activation rows of any shape
#define RQ_NP512 2 // most panels of any shape

RQ_INLINE RQ_512 __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// NR activation rows x NP panels (NP * 16 output columns); panel p at panel + p * pstride. Each
// output element gets the same integer sums and the same float order whatever NR and NP are, so
// every shape gives the same bits.
RQ_INLINE RQ_512 void q8_0_tile(const uint8_t *panel, size_t pstride, const recur_qact *a, int64_t i0, float *out,
                                int64_t ldo, const int NR, const int NP) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const int8_t *xr[RQ_MR512];
    const float *dr[RQ_MR512];
    const int32_t *sr[RQ_MR512];
    __m512 facc[RQ_MR512][RQ_NP512];
    for (int r = 0; r < NR; r++) {
        xr[r] = a->q + (i0 + r) * a->k;
        dr[r] = a->d + (i0 + r) * a->nb;
        sr[r] = a->sum + (i0 + r) * a->nb;
        for (int p = 0; p < NP; p++) facc[r][p] = _mm512_setzero_ps();
    }
    const uint8_t *blk = panel;
    for (int64_t b = 0; b < a->nb; b++, blk += RQ_Q8_0_PBLOCK) {
        __m512i iacc[RQ_MR512][RQ_NP512];
        for (int r = 0; r < NR; r++)
            for (int p = 0; p < NP; p++) iacc[r][p] = _mm512_setzero_si512();
        for (int g = 0; g < 8; g++) {
            __m512i wu[RQ_NP512];
            for (int p = 0; p < NP; p++)
                wu[p] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(blk + p * pstride + g * 64)), bias);
            for (int r = 0; r < NR; r++) {
                const __m512i xb = bcast4(xr[r] + b * 32 + 4 * g);
                for (int p = 0; p < NP; p++) iacc[r][p] = _mm512_dpbusd_epi32(iacc[r][p], wu[p], xb);
            }
        }
        for (int r = 0; r < NR; r++) {
            const __m512i corr = _mm512_set1_epi32(128 * sr[r][b]);
            const __m512 dx = _mm512_set1_ps(dr[r][b]);
            for (int p = 0; p < NP; p++) {
                const __m512 dw = _mm512_loadu_ps((const void *)(blk + p * pstride + RQ_QUANT_BYTES_Q8));
                const __m512i isum = _mm512_sub_epi32(iacc[r][p], corr);
                facc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dx, dw), facc[r][p]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int p = 0; p < NP; p++) _mm512_storeu_ps(out + r * ldo + p * RQ_PANEL, facc[r][p]);
}

RQ_INLINE RQ_512 void q4_tile(const uint8_t *panel, size_t pstride, const recur_qact *a, int64_t i0, float *out,
                              int64_t ldo, const int NR, const int NP, const int Q41) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const size_t pb = Q41 ? RQ_Q4_1_PBLOCK : RQ_Q4_0_PBLOCK;
    const int8_t *xr[RQ_MR512];
    const float *dr[RQ_MR512];
    const int32_t *sr[RQ_MR512];
    const float *fr[RQ_MR512];
    __m512 facc[RQ_MR512][RQ_NP512];
    for (int r = 0; r < NR; r++) {
        xr[r] = a->q + (i0 + r) * a->k;
        dr[r] = a->d + (i0 + r) * a->nb;
        sr[r] = a->sum + (i0 + r) * a->nb;
        fr[r] = a->s + (i0 + r) * a->nb;
        for (int p = 0; p < NP; p++) facc[r][p] = _mm512_setzero_ps();
    }
    const uint8_t *blk = panel;
    for (int64_t b = 0; b < a->nb; b++, blk += pb) {
        __m512i iacc[RQ_MR512][RQ_NP512];
        for (int r = 0; r < NR; r++)
            for (int p = 0; p < NP; p++) iacc[r][p] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i lo[RQ_NP512], hi[RQ_NP512];
            for (int p = 0; p < NP; p++) {
                const __m512i v = _mm512_loadu_si512((const void *)(blk + p * pstride + c * 64));
                lo[p] = _mm512_and_si512(v, low4);
                hi[p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
            }
            for (int r = 0; r < NR; r++) {
                const __m512i xl = bcast4(xr[r] + b * 32 + 4 * c), xh = bcast4(xr[r] + b * 32 + 16 + 4 * c);
                for (int p = 0; p < NP; p++) {
                    iacc[r][p] = _mm512_dpbusd_epi32(iacc[r][p], lo[p], xl);
                    iacc[r][p] = _mm512_dpbusd_epi32(iacc[r][p], hi[p], xh);
                }
            }
        }
        for (int r = 0; r < NR; r++) {
            const __m512i corr = _mm512_set1_epi32(8 * sr[r][b]);
            const __m512 dx = _mm512_set1_ps(dr[r][b]);
            for (int p = 0; p < NP; p++) {
                const __m512 dw = _mm512_loadu_ps((const void *)(blk + p * pstride + RQ_QUANT_BYTES_Q4));
                __m512i isum = iacc[r][p];
                if (!Q41) isum = _mm512_sub_epi32(isum, corr);
                facc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dx, dw), facc[r][p]);
            }
        }
        if (Q41) {
            for (int r = 0; r < NR; r++) {
                const __m512 sx = _mm512_set1_ps(fr[r][b]);
                for (int p = 0; p < NP; p++) {
                    const __m512 mw = _mm512_loadu_ps((const void *)(blk + p * pstride + RQ_QUANT_BYTES_Q4 + 64));
                    facc[r][p] = _mm512_fmadd_ps(mw, sx, facc[r][p]);
                }
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int p = 0; p < NP; p++) _mm512_storeu_ps(out + r * ldo + p * RQ_PANEL, facc[r][p]);
}

// A switch on the row count instantiates one tile per count (NR is a constant in each).
#define RQ_ROWS_UP_TO_6(body)                                                                          \
    case 6: body(6); break;                                                                            \
    case 5: body(5); break;                                                                            \
    case 4: body(4); break;                                                                            \
    case 3: body(3); break;                                                                            \
    case 2: body(2); break;                                                                            \
    default: body(1); break;

#define RQ_DEFINE_KERNEL(name, body)                                                                   \
    static RQ_512 void name(const uint8_t *panel, const recur_qact *a, int64_t i0, int nr,             \
                            float *out, int64_t ldo) {                                                 \
        switch (nr) {                                                                                  \
        case 8: body(8); break;                                                                        \
        case 7: body(7); break;                                                                        \
        RQ_ROWS_UP_TO_6(body)                                                                          \
        }                                                                                              \
    }

#define Q8_0_BODY(NR) q8_0_tile(panel, 0, a, i0, out, ldo, NR, 1)
#define Q4_0_BODY(NR) q4_tile(panel, 0, a, i0, out, ldo, NR, 1, 0)
#define Q4_1_BODY(NR) q4_tile(panel, 0, a, i0, out, ldo, NR, 1, 1)

RQ_DEFINE_KERNEL(q8_0_avx512, Q8_0_BODY)
RQ_DEFINE_KERNEL(q4_0_avx512, Q4_0_BODY)
RQ_DEFINE_KERNEL(q4_1_avx512, Q4_1_BODY)

// Two panels per call: each activation broadcast feeds two vpdpbusd and the per-block scale of a
// row serves both panels, which pays where a core issues more than one vpdpbusd per cycle or the
// broadcasts and the float work compete with them. 4 or 6 rows keep the accumulators (2 x rows
// integer, 2 x rows float) within the 32 zmm registers.
#define RQ_DEFINE_WIDE(name, body)                                                                     \
    static RQ_512 void name(const uint8_t *panel, size_t pstride, const recur_qact *a, int64_t i0,     \
                            int nr, float *out, int64_t ldo) {                                         \
        switch (nr) { RQ_ROWS_UP_TO_6(body) }                                                          \
    }

#define W_Q8_0(NR) q8_0_tile(panel, pstride, a, i0, out, ldo, NR, 2)
#define W_Q4_0(NR) q4_tile(panel, pstride, a, i0, out, ldo, NR, 2, 0)
#define W_Q4_1(NR) q4_tile(panel, pstride, a, i0, out, ldo, NR, 2, 1)

RQ_DEFINE_WIDE(q8_0_avx512_wide, W_Q8_0)
RQ_DEFINE_WIDE(q4_0_avx512_wide, W_Q4_0)
RQ_DEFINE_WIDE(q4_1_avx512_wide, W_Q4_1)

// The same functions serve both shapes: the driver hands them at most `mr` rows.
static const rq_shape rq_shapes_avx512[] = {
    {"4x2", 4, 2, q8_0_avx512_wide, q4_0_avx512_wide, q4_1_avx512_wide},
    {"6x2", 6, 2, q8_0_avx512_wide, q4_0_avx512_wide, q4_1_avx512_wide},
};

const rq_kernels rq_kernels_avx512 = {RQ_MR512, q8_0_avx512, q4_0_avx512, q4_1_avx512, "8x1", 2, rq_shapes_avx512};

#endif
