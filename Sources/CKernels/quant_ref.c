// Scalar reference micro-kernels: the definition the SIMD tiers must match bit for bit.
//
// For each output: acc = +0; per block b in k order, isum = exact integer dot product of the
// activation block and the weight block, acc = fmaf((float)isum, dx * dw, acc); for Q4_1 then
// acc = fmaf(mw, s, acc) with s = dx * (float)sum(qx). |isum| < 2^24, so (float)isum is exact.
#include <math.h>
#include <string.h>

#include "quant_internal.h"

// Weight element (panel row r, element j of block) from a packed block.
static int q8_0_at(const uint8_t *blk, int r, int j) { return (int8_t)blk[(j / 4) * 64 + r * 4 + j % 4]; }

static int q4_at(const uint8_t *blk, int r, int j) {
    uint8_t byte = blk[((j % 16) / 4) * 64 + r * 4 + j % 4];
    return j < 16 ? (byte & 0x0f) : (byte >> 4);
}

static void kernel_scalar(recur_qtype t, const uint8_t *panel, const recur_qact *a, int64_t i0, int nr,
                          float *out, int64_t ldo) {
    const size_t pb = rq_pblock_bytes(t);
    const size_t dofs = t == RECUR_Q8_0 ? RQ_QUANT_BYTES_Q8 : RQ_QUANT_BYTES_Q4;
    for (int ri = 0; ri < nr; ri++) {
        const int64_t i = i0 + ri;
        for (int r = 0; r < RQ_PANEL; r++) {
            float acc = 0.0f;
            for (int64_t b = 0; b < a->nb; b++) {
                const uint8_t *blk = panel + (size_t)b * pb;
                float dw, mw = 0.0f; // memcpy: the packed buffer need not be float-aligned
                memcpy(&dw, blk + dofs + 4 * (size_t)r, 4);
                if (t == RECUR_Q4_1) memcpy(&mw, blk + dofs + 4 * (size_t)(RQ_PANEL + r), 4);
                const int8_t *xq = a->q + i * a->k + b * RECUR_QK;
                const float dx = a->d[i * a->nb + b];
                int32_t isum = 0;
                for (int j = 0; j < RECUR_QK; j++) {
                    int w;
                    if (t == RECUR_Q8_0) w = q8_0_at(blk, r, j);
                    else if (t == RECUR_Q4_0) w = q4_at(blk, r, j) - 8;
                    else w = q4_at(blk, r, j);
                    isum += (int32_t)xq[j] * w;
                }
                acc = fmaf((float)isum, dx * dw, acc);
                if (t == RECUR_Q4_1) acc = fmaf(mw, a->s[i * a->nb + b], acc);
            }
            out[ri * ldo + r] = acc;
        }
    }
}

static void q8_0_scalar(const uint8_t *p, const recur_qact *a, int64_t i0, int nr, float *out, int64_t ldo) {
    kernel_scalar(RECUR_Q8_0, p, a, i0, nr, out, ldo);
}
static void q4_0_scalar(const uint8_t *p, const recur_qact *a, int64_t i0, int nr, float *out, int64_t ldo) {
    kernel_scalar(RECUR_Q4_0, p, a, i0, nr, out, ldo);
}
static void q4_1_scalar(const uint8_t *p, const recur_qact *a, int64_t i0, int nr, float *out, int64_t ldo) {
    kernel_scalar(RECUR_Q4_1, p, a, i0, nr, out, ldo);
}

const rq_kernels rq_kernels_scalar = {4, q8_0_scalar, q4_0_scalar, q4_1_scalar};
