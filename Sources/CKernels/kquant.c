// Row dequantizers for ggml's K-quants (Q4_K, Q5_K, Q6_K) and 5-bit blocks (Q5_0, Q5_1).
//
// Each block function is ggml's dequantize_row_* for one block, written so that every float
// operation happens in the same order with the same operands: the package compiles C with
// -ffp-contract=off, so `d1 * q - m1` rounds twice as ggml's (and NumPy's) code does. (For finite
// scales most products are exact anyway: an fp16 scale times a 6-bit scale times a 5-bit quant
// fits in float's 24 bits, so tests cannot catch a reordering; keeping ggml's order is the
// guarantee.) The inner loops are plain element-wise float arithmetic on bytes, which -O3
// vectorizes without changing a bit: about 4 G elements/s per core at the baseline ISA.
#include <string.h>

#include "recur_half.h"
#include "recur_kquant.h"
#include "recur_quant.h"

#define KQ_QK_K 256
#define KQ_SCALE_BYTES 12 // 8 six-bit scales + 8 six-bit mins of Q4_K / Q5_K

static float kq_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h); // blocks are packed: the fp16 fields need not be 2-byte aligned
    return recur_f16_to_f32_one(h);
}

// ggml's get_scale_min_k4: sub-block j (0..7) of the 12 packed scale bytes. Scales and mins 0..3
// are the low 6 bits of bytes 0..3 and 4..7; 4..7 take their low 4 bits from a nibble of bytes
// 8..11 and their top 2 bits from the spare top bits of bytes 0..3 (scales) or 4..7 (mins).
static void kq_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q4_K: { d, dmin, scales[12], qs[128] }. Each 64 elements share 32 bytes of qs: the low nibbles
// are sub-block 2i, the high nibbles sub-block 2i + 1.
static void kq_block_q4_K(const uint8_t *restrict x, float *restrict y) {
    const float d = kq_half(x);
    const float dmin = kq_half(x + 2);
    const uint8_t *scales = x + 4;
    const uint8_t *q = x + 4 + KQ_SCALE_BYTES;
    for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
        uint8_t sc, m;
        kq_scale_min(is, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        kq_scale_min(is + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[l] = d1 * (float)(q[l] & 0x0F) - m1;
        for (int l = 0; l < 32; l++) y[32 + l] = d2 * (float)(q[l] >> 4) - m2;
    }
}

// Q5_K: { d, dmin, scales[12], qh[32], qs[128] }. As Q4_K, plus a fifth bit per element: bit 2i of
// qh[l] for sub-block 2i, bit 2i + 1 for sub-block 2i + 1.
static void kq_block_q5_K(const uint8_t *restrict x, float *restrict y) {
    const float d = kq_half(x);
    const float dmin = kq_half(x + 2);
    const uint8_t *scales = x + 4;
    const uint8_t *qh = x + 4 + KQ_SCALE_BYTES;
    const uint8_t *ql = qh + KQ_QK_K / 8;
    for (int is = 0; is < 8; is += 2, ql += 32, y += 64) {
        uint8_t sc, m;
        kq_scale_min(is, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        kq_scale_min(is + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        const int lo = is, hi = is + 1;
        for (int l = 0; l < 32; l++) y[l] = d1 * (float)((ql[l] & 0x0F) | (((qh[l] >> lo) & 1) << 4)) - m1;
        for (int l = 0; l < 32; l++) y[32 + l] = d2 * (float)((ql[l] >> 4) | (((qh[l] >> hi) & 1) << 4)) - m2;
    }
}

// Q6_K: { ql[128], qh[64], scales[16] (int8), d }. Each 128 elements use 64 bytes of ql and 32 of
// qh; element l + 32 s (s = 0..3) takes its low 4 bits from ql[l] / ql[l + 32] (low then high
// nibble) and its top 2 bits from bits 2s, 2s + 1 of qh[l]. Scales cover 16 elements each.
static void kq_block_q6_K(const uint8_t *restrict x, float *restrict y) {
    const uint8_t *ql = x;
    const uint8_t *qh = x + KQ_QK_K / 2;
    const int8_t *sc = (const int8_t *)(x + KQ_QK_K / 2 + KQ_QK_K / 4);
    const float d = kq_half(x + KQ_QK_K / 2 + KQ_QK_K / 4 + KQ_QK_K / 16);
    for (int n = 0; n < KQ_QK_K; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
        for (int h = 0; h < 2; h++) { // the two 16-element halves of each 32-element run
            const float s0 = d * (float)sc[h + 0], s1 = d * (float)sc[h + 2];
            const float s2 = d * (float)sc[h + 4], s3 = d * (float)sc[h + 6];
            for (int l = 16 * h; l < 16 * h + 16; l++) {
                const int q0 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = s0 * (float)q0;
                y[l + 32] = s1 * (float)q1;
                y[l + 64] = s2 * (float)q2;
                y[l + 96] = s3 * (float)q3;
            }
        }
    }
}

// Q5_0 / Q5_1: { d, [m,] qh[4], qs[16] }. qh is one little-endian u32: bit j is the fifth bit of
// element j (j < 16 from the low nibble of qs[j], j >= 16 from the high nibble of qs[j - 16]).
static void kq_block_q5_0(const uint8_t *restrict x, float *restrict y) {
    const float d = kq_half(x);
    const uint32_t qh = (uint32_t)x[2] | (uint32_t)x[3] << 8 | (uint32_t)x[4] << 16 | (uint32_t)x[5] << 24;
    const uint8_t *qs = x + 6;
    for (int j = 0; j < 16; j++) {
        const int x0 = (int)((qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
        const int x1 = (int)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
        y[j] = (float)x0 * d;
        y[j + 16] = (float)x1 * d;
    }
}

static void kq_block_q5_1(const uint8_t *restrict x, float *restrict y) {
    const float d = kq_half(x);
    const float m = kq_half(x + 2);
    const uint32_t qh = (uint32_t)x[4] | (uint32_t)x[5] << 8 | (uint32_t)x[6] << 16 | (uint32_t)x[7] << 24;
    const uint8_t *qs = x + 8;
    for (int j = 0; j < 16; j++) {
        const int x0 = (int)((qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
        const int x1 = (int)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
        y[j] = (float)x0 * d + m;
        y[j + 16] = (float)x1 * d + m;
    }
}

size_t recur_kq_block_bytes(int ggml_type) {
    switch (ggml_type) {
    case RECUR_KQ_Q4_0: return 18;
    case RECUR_KQ_Q4_1: return 20;
    case RECUR_KQ_Q5_0: return 22;
    case RECUR_KQ_Q5_1: return 24;
    case RECUR_KQ_Q8_0: return 34;
    case RECUR_KQ_Q4_K: return 2 + 2 + KQ_SCALE_BYTES + KQ_QK_K / 2;
    case RECUR_KQ_Q5_K: return 2 + 2 + KQ_SCALE_BYTES + KQ_QK_K / 8 + KQ_QK_K / 2;
    case RECUR_KQ_Q6_K: return KQ_QK_K / 2 + KQ_QK_K / 4 + KQ_QK_K / 16 + 2;
    default: return 0;
    }
}

int64_t recur_kq_block_elements(int ggml_type) {
    switch (ggml_type) {
    case RECUR_KQ_Q4_0:
    case RECUR_KQ_Q4_1:
    case RECUR_KQ_Q5_0:
    case RECUR_KQ_Q5_1:
    case RECUR_KQ_Q8_0: return 32;
    case RECUR_KQ_Q4_K:
    case RECUR_KQ_Q5_K:
    case RECUR_KQ_Q6_K: return KQ_QK_K;
    default: return 0;
    }
}

int recur_kq_dequantize_row(int ggml_type, const void *row, float *out, int64_t k) {
    const int64_t qk = recur_kq_block_elements(ggml_type);
    if (qk == 0 || k < 0 || k % qk != 0) return -1;
    if (k == 0) return 0;
    void (*block)(const uint8_t *restrict, float *restrict);
    switch (ggml_type) {
    case RECUR_KQ_Q4_0:
    case RECUR_KQ_Q4_1:
    case RECUR_KQ_Q8_0: return recur_q_dequantize_row((recur_qtype)ggml_type, row, out, k);
    case RECUR_KQ_Q5_0: block = kq_block_q5_0; break;
    case RECUR_KQ_Q5_1: block = kq_block_q5_1; break;
    case RECUR_KQ_Q4_K: block = kq_block_q4_K; break;
    case RECUR_KQ_Q5_K: block = kq_block_q5_K; break;
    default: block = kq_block_q6_K; break;
    }
    const uint8_t *x = (const uint8_t *)row;
    const size_t bytes = recur_kq_block_bytes(ggml_type);
    for (int64_t b = 0; b < k / qk; b++) block(x + (size_t)b * bytes, out + b * qk);
    return 0;
}
