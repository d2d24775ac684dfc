// AMX micro-kernels (Sapphire Rapids and later): tile dot products on the packed panels.
//
// One tile step is 16 activation rows x the 16 rows of one panel x one 32-element block:
//   A (tmm1/tmm4): 16 activation rows x 32 signed bytes, read in place (stride k);
//   B (tmm2/tmm5): the block's weights as 8 rows of 4 consecutive k x 16 panel rows, which is the
//                  packed Q8_0 layout itself (loaded in place) and what a Q4 block unpacks to;
//   C (tmm0/tmm3): 16 x 16 int32, the exact integer dot of every (activation row, panel row) pair.
// Q8_0 and Q4_0 (nibble - 8) use tdpbssd (signed x signed), Q4_1 tdpbsud (signed x unsigned
// nibble). C goes through a small buffer into the float accumulation every tier uses,
// acc = fma((float)isum, dx * dw, acc) block by block, so results are bit-identical to scalar.
// Two blocks are in flight (separate A, B and C tiles) so one block's float work overlaps the
// next block's tile work. Fewer than 16 rows go to the AVX-512 VNNI tiles.
#include <immintrin.h>
#include <string.h>

#include "../../quant_internal.h"

#if defined(__x86_64__) || defined(_M_X64)

#ifndef RQ_AMX_TARGET // overridden only by the emulation check in benchmarks/kernels
#define RQ_AMX_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8")))
#endif
#define RQ_AMX RQ_AMX_TARGET
#define RQ_INLINE static inline __attribute__((always_inline))
#define RQ_MRAMX 16

// LDTILECFG operand: palette 1, then bytes per row and rows of each tile register.
typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) rq_tile_config;

// Tile configuration is per thread; every kernel call checks this flag so each OpenMP thread
// configures its tiles once.
static __thread int rq_tiles_configured;

RQ_INLINE RQ_AMX void configure_tiles(void) {
    if (rq_tiles_configured) return;
    rq_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int c = 0; c <= 3; c += 3) {
        cfg.rows[c] = 16, cfg.colsb[c] = 64;         // C: 16 x 16 int32
        cfg.rows[c + 1] = 16, cfg.colsb[c + 1] = 32; // A: 16 rows x 32 bytes
        cfg.rows[c + 2] = 8, cfg.colsb[c + 2] = 64;  // B: 8 rows x (16 x 4 bytes)
    }
    _tile_loadconfig(&cfg);
    rq_tiles_configured = 1;
}

// Q4 block -> B tile bytes: row c < 4 holds the low nibbles of the packed group c (elements
// 4c .. 4c+3), row 4 + c the high ones (elements 16 + 4c ..); Q4_0 also subtracts 8.
RQ_INLINE RQ_AMX void unpack_q4(const uint8_t *blk, uint8_t *tile, const int Q41) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i eight = _mm512_set1_epi8(8);
    for (int c = 0; c < 4; c++) {
        const __m512i v = _mm512_loadu_si512((const void *)(blk + c * 64));
        __m512i lo = _mm512_and_si512(v, low4);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        if (!Q41) {
            lo = _mm512_sub_epi8(lo, eight);
            hi = _mm512_sub_epi8(hi, eight);
        }
        _mm512_storeu_si512((void *)(tile + c * 64), lo);
        _mm512_storeu_si512((void *)(tile + (4 + c) * 64), hi);
    }
}

// acc[r] = fma((float)c[r], d[r] * dw, acc[r]) (then + mw * s[r] for Q4_1) for the 16 rows.
RQ_INLINE RQ_AMX void accumulate(__m512 *acc, const int32_t *c, const uint8_t *blk, size_t dofs, const recur_qact *a,
                                 int64_t i0, int64_t b, const int Q41) {
    const __m512 dw = _mm512_loadu_ps((const void *)(blk + dofs));
    const float *d = a->d + i0 * a->nb + b;
    for (int r = 0; r < RQ_MRAMX; r++) {
        const __m512 isum = _mm512_cvtepi32_ps(_mm512_loadu_si512((const void *)(c + 16 * r)));
        acc[r] = _mm512_fmadd_ps(isum, _mm512_mul_ps(_mm512_set1_ps(d[r * a->nb]), dw), acc[r]);
    }
    if (Q41) {
        const __m512 mw = _mm512_loadu_ps((const void *)(blk + dofs + 64));
        const float *s = a->s + i0 * a->nb + b;
        for (int r = 0; r < RQ_MRAMX; r++) acc[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(s[r * a->nb]), acc[r]);
    }
}

// Tile register numbers must be constants, hence one macro per slot (0: tmm0-2, 1: tmm3-5).
#define RQ_TILE_STEP(C, A, B, xp, bp, cbuf, SIGNED_B)      \
    do {                                                   \
        _tile_zero(C);                                     \
        _tile_loadd(A, (xp), a->k);                        \
        _tile_loadd(B, (bp), 64);                          \
        if (SIGNED_B) _tile_dpbssd(C, A, B);               \
        else _tile_dpbsud(C, A, B);                        \
        _tile_stored(C, (cbuf), 64);                       \
    } while (0)

// 16 rows x one panel over all k. TYPE: 0 = Q8_0, 1 = Q4_0, 2 = Q4_1.
RQ_INLINE RQ_AMX void amx_tile(const uint8_t *panel, const recur_qact *a, int64_t i0, float *out, int64_t ldo, const int TYPE) {
    const size_t pb = TYPE == 0 ? RQ_Q8_0_PBLOCK : TYPE == 1 ? RQ_Q4_0_PBLOCK : RQ_Q4_1_PBLOCK;
    const size_t dofs = TYPE == 0 ? RQ_QUANT_BYTES_Q8 : RQ_QUANT_BYTES_Q4;
    const int signed_b = TYPE != 2;
    int32_t c0[256] __attribute__((aligned(64))), c1[256] __attribute__((aligned(64)));
    uint8_t w0[512] __attribute__((aligned(64))), w1[512] __attribute__((aligned(64)));
    __m512 acc[RQ_MRAMX];
    for (int r = 0; r < RQ_MRAMX; r++) acc[r] = _mm512_setzero_ps();
    configure_tiles();
    const int8_t *x = a->q + i0 * a->k;
    int64_t b = 0;
    for (; b + 1 < a->nb; b += 2) {
        const uint8_t *blk0 = panel + (size_t)b * pb, *blk1 = blk0 + pb;
        const uint8_t *bt0 = blk0, *bt1 = blk1;
        if (TYPE != 0) {
            unpack_q4(blk0, w0, TYPE == 2);
            unpack_q4(blk1, w1, TYPE == 2);
            bt0 = w0, bt1 = w1;
        }
        RQ_TILE_STEP(0, 1, 2, x + b * 32, bt0, c0, signed_b);
        RQ_TILE_STEP(3, 4, 5, x + b * 32 + 32, bt1, c1, signed_b);
        accumulate(acc, c0, blk0, dofs, a, i0, b, TYPE == 2);
        accumulate(acc, c1, blk1, dofs, a, i0, b + 1, TYPE == 2);
    }
    if (b < a->nb) {
        const uint8_t *blk0 = panel + (size_t)b * pb, *bt0 = blk0;
        if (TYPE != 0) {
            unpack_q4(blk0, w0, TYPE == 2);
            bt0 = w0;
        }
        RQ_TILE_STEP(0, 1, 2, x + b * 32, bt0, c0, signed_b);
        accumulate(acc, c0, blk0, dofs, a, i0, b, TYPE == 2);
    }
    for (int r = 0; r < RQ_MRAMX; r++) _mm512_storeu_ps(out + r * ldo, acc[r]);
}

// Full 16-row tiles on AMX; a ragged remainder in AVX-512 VNNI tiles of up to 8 rows (the same
// integer sums and float order, so the split changes no bit).
#define RQ_DEFINE_AMX_KERNEL(name, TYPE, fallback)                                                     \
    static RQ_AMX void name(const uint8_t *panel, const recur_qact *a, int64_t i0, int nr,             \
                            float *out, int64_t ldo) {                                                 \
        if (nr == RQ_MRAMX) {                                                                          \
            amx_tile(panel, a, i0, out, ldo, TYPE);                                                    \
            return;                                                                                    \
        }                                                                                              \
        for (int r = 0; r < nr; r += rq_kernels_avx512.mr) {                                           \
            const int rows = nr - r < rq_kernels_avx512.mr ? nr - r : rq_kernels_avx512.mr;            \
            rq_kernels_avx512.fallback(panel, a, i0 + r, rows, out + r * ldo, ldo);                    \
        }                                                                                              \
    }

RQ_DEFINE_AMX_KERNEL(q8_0_amx, 0, q8_0)
RQ_DEFINE_AMX_KERNEL(q4_0_amx, 1, q4_0)
RQ_DEFINE_AMX_KERNEL(q4_1_amx, 2, q4_1)

const rq_kernels rq_kernels_amx = {RQ_MRAMX, q8_0_amx, q4_0_amx, q4_1_amx};

#endif
