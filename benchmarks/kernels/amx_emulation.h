// Plain-C stand-ins for the AMX tile instructions (and the few AVX-512 ones vnni_emulation.h does
// not cover) that arch/x86/quant_amx.c uses, so its logic (tile shapes, the in-place B layout, Q4
// unpacking, signedness, ragged fallback) is checked on a CPU without AMX. Force-included when
// compiling quant_amx.c for qcheck_emulated only; each stand-in follows the instruction's
// documented semantics: a per-thread file of 8 tiles shaped by the last tile configuration.
// Never part of the library build.
#ifndef RQ_AMX_EMULATION_H
#define RQ_AMX_EMULATION_H

#include "vnni_emulation.h"

#define RQ_AMX_TARGET __attribute__((target("avx2,fma")))

static inline rq_emu512i rq_emu_sub_epi8(rq_emu512i a, rq_emu512i b) {
    int8_t x[64], y[64];
    memcpy(x, a.v, 64);
    memcpy(y, b.v, 64);
    for (int i = 0; i < 64; i++) x[i] = (int8_t)(x[i] - y[i]);
    memcpy(a.v, x, 64);
    return a;
}
static inline void rq_emu_storeu_si512(void *p, rq_emu512i a) { memcpy(p, a.v, 64); }
#define _mm512_sub_epi8 rq_emu_sub_epi8
#define _mm512_storeu_si512 rq_emu_storeu_si512

typedef struct {
    uint8_t data[16][64];
    int rows, colsb;
} rq_emu_tile;
static __thread rq_emu_tile rq_emu_tiles[8];

static inline void rq_emu_tile_loadconfig(const void *cfg) {
    const uint8_t *c = (const uint8_t *)cfg;
    for (int t = 0; t < 8; t++) {
        uint16_t colsb;
        memcpy(&colsb, c + 16 + 2 * t, 2);
        rq_emu_tiles[t].colsb = colsb;
        rq_emu_tiles[t].rows = c[48 + t];
    }
}
static inline void rq_emu_tile_zero(int t) { memset(rq_emu_tiles[t].data, 0, sizeof rq_emu_tiles[t].data); }
static inline void rq_emu_tile_loadd(int t, const void *base, size_t stride) {
    rq_emu_tile *d = &rq_emu_tiles[t];
    memset(d->data, 0, sizeof d->data);
    for (int r = 0; r < d->rows; r++) memcpy(d->data[r], (const uint8_t *)base + r * stride, (size_t)d->colsb);
}
static inline void rq_emu_tile_stored(int t, void *base, size_t stride) {
    const rq_emu_tile *s = &rq_emu_tiles[t];
    for (int r = 0; r < s->rows; r++) memcpy((uint8_t *)base + r * stride, s->data[r], (size_t)s->colsb);
}
// C[m][n] += sum over k < A.colsb / 4, j < 4 of A[m][4k + j] * B[k][4n + j], 32-bit lanes;
// a_signed / b_signed pick how each side's bytes are read.
static inline void rq_emu_tile_dp(int c, int a, int b, int a_signed, int b_signed) {
    rq_emu_tile *C = &rq_emu_tiles[c];
    const rq_emu_tile *A = &rq_emu_tiles[a], *B = &rq_emu_tiles[b];
    for (int m = 0; m < C->rows; m++) {
        for (int n = 0; n < C->colsb / 4; n++) {
            int32_t acc;
            memcpy(&acc, C->data[m] + 4 * n, 4);
            for (int k = 0; k < A->colsb / 4; k++)
                for (int j = 0; j < 4; j++) {
                    const uint8_t xa = A->data[m][4 * k + j], xb = B->data[k][4 * n + j];
                    const int32_t va = a_signed ? (int32_t)(int8_t)xa : (int32_t)xa;
                    const int32_t vb = b_signed ? (int32_t)(int8_t)xb : (int32_t)xb;
                    acc += va * vb;
                }
            memcpy(C->data[m] + 4 * n, &acc, 4);
        }
    }
}

#undef _tile_zero
#undef _tile_loadd
#undef _tile_stored
#undef _tile_dpbssd
#undef _tile_dpbsud
#define _tile_loadconfig rq_emu_tile_loadconfig
#define _tile_zero(t) rq_emu_tile_zero(t)
#define _tile_loadd(t, base, stride) rq_emu_tile_loadd((t), (base), (size_t)(stride))
#define _tile_stored(t, base, stride) rq_emu_tile_stored((t), (base), (size_t)(stride))
#define _tile_dpbssd(c, a, b) rq_emu_tile_dp((c), (a), (b), 1, 1)
#define _tile_dpbsud(c, a, b) rq_emu_tile_dp((c), (a), (b), 1, 0)

#endif
