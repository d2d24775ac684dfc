// File layout <-> packed layout for the ggml block formats (see quant_internal.h).
#include <math.h>
#include <string.h>

#include "quant_internal.h"

float rq_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); // inf / nan (payload kept)
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // Subnormal half: value = mant * 2^-24, exact in float.
        float f = (float)mant * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

size_t recur_q_block_bytes(recur_qtype t) {
    switch (t) {
    case RECUR_Q8_0: return 34;
    case RECUR_Q4_0: return 18;
    case RECUR_Q4_1: return 20;
    }
    return 0;
}

size_t recur_q_row_bytes(recur_qtype t, int64_t k) {
    if (k <= 0 || k % RECUR_QK != 0) return 0;
    return recur_q_block_bytes(t) * (size_t)(k / RECUR_QK);
}

size_t rq_pblock_bytes(recur_qtype t) {
    switch (t) {
    case RECUR_Q8_0: return RQ_Q8_0_PBLOCK;
    case RECUR_Q4_0: return RQ_Q4_0_PBLOCK;
    case RECUR_Q4_1: return RQ_Q4_1_PBLOCK;
    }
    return 0;
}

size_t recur_q_packed_size(recur_qtype t, int64_t n, int64_t k) {
    size_t pb = rq_pblock_bytes(t);
    if (pb == 0 || n < 0 || k <= 0 || k % RECUR_QK != 0) return 0;
    size_t panels = (size_t)((n + RQ_PANEL - 1) / RQ_PANEL);
    return panels * (size_t)(k / RECUR_QK) * pb;
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static void store_f32(uint8_t *p, float v) { memcpy(p, &v, 4); }

int recur_q_repack(recur_qtype t, const void *w, void *packed, int64_t n, int64_t k) {
    size_t pb = rq_pblock_bytes(t);
    size_t bb = recur_q_block_bytes(t);
    if (pb == 0 || n < 0 || k <= 0 || k % RECUR_QK != 0) return -1;
    const uint8_t *src = (const uint8_t *)w;
    uint8_t *dst = (uint8_t *)packed;
    const int64_t nb = k / RECUR_QK;
    const int64_t panels = (n + RQ_PANEL - 1) / RQ_PANEL;
    const size_t row_bytes = bb * (size_t)nb;
    memset(dst, 0, recur_q_packed_size(t, n, k));
    for (int64_t p = 0; p < panels; p++) {
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *blk = dst + ((size_t)p * (size_t)nb + (size_t)b) * pb;
            for (int r = 0; r < RQ_PANEL; r++) {
                int64_t row = p * RQ_PANEL + r;
                if (row >= n) break; // padding rows stay zero: zero quants and zero scales
                const uint8_t *sb = src + (size_t)row * row_bytes + (size_t)b * bb;
                if (t == RECUR_Q8_0) {
                    store_f32(blk + RQ_QUANT_BYTES_Q8 + 4 * r, rq_half_to_float(load_u16(sb)));
                    for (int g = 0; g < 8; g++) memcpy(blk + g * 64 + r * 4, sb + 2 + 4 * g, 4);
                } else {
                    store_f32(blk + RQ_QUANT_BYTES_Q4 + 4 * r, rq_half_to_float(load_u16(sb)));
                    const uint8_t *qs = sb + 2;
                    if (t == RECUR_Q4_1) {
                        store_f32(blk + RQ_QUANT_BYTES_Q4 + 4 * (RQ_PANEL + r), rq_half_to_float(load_u16(sb + 2)));
                        qs = sb + 4;
                    }
                    for (int c = 0; c < 4; c++) memcpy(blk + c * 64 + r * 4, qs + 4 * c, 4);
                }
            }
        }
    }
    return 0;
}

int recur_q_dequantize_row(recur_qtype t, const void *row, float *out, int64_t k) {
    if (recur_q_row_bytes(t, k) == 0) return -1;
    const uint8_t *p = (const uint8_t *)row;
    const size_t bb = recur_q_block_bytes(t);
    for (int64_t b = 0; b < k / RECUR_QK; b++, p += bb) {
        float *o = out + b * RECUR_QK;
        const float d = rq_half_to_float(load_u16(p));
        if (t == RECUR_Q8_0) {
            for (int j = 0; j < 32; j++) o[j] = d * (float)(int8_t)p[2 + j];
        } else if (t == RECUR_Q4_0) {
            for (int j = 0; j < 16; j++) {
                o[j] = d * (float)((p[2 + j] & 0x0f) - 8);
                o[j + 16] = d * (float)((p[2 + j] >> 4) - 8);
            }
        } else {
            const float m = rq_half_to_float(load_u16(p + 2));
            for (int j = 0; j < 16; j++) {
                o[j] = d * (float)(p[4 + j] & 0x0f) + m;
                o[j + 16] = d * (float)(p[4 + j] >> 4) + m;
            }
        }
    }
    return 0;
}
