// Blocked attention for the SIMD tiers: the scratch layout and the packing steps they share.
//
// K and V rows of one head sit (heads + 2 * kv_heads) * head_dim floats apart in the fused qkv
// buffer, usually one page per row, so reading them straight from there is bound by memory
// latency. A work item (one head, usually all of its queries) therefore copies what it reads into
// small dense panels first: the queries once, then K^T for a tile of keys (scores = Q K^T as a
// register-blocked micro-kernel with no horizontal sums), then after the softmax the V rows of each
// tile (out += P V). The copies cost one pass over K and V per item.
#ifndef RECUR_ATTENTION_X86_H
#define RECUR_ATTENTION_X86_H

#include "../../f32_ops.h"
#include "simd_x86.h"

#include <string.h>

#define RECUR_ATT_MAX_TILE_KEYS 128 // the whole K^T of a 97-token, 64-dim head: 28 KiB, in L1

typedef struct {
    int64_t dp;       // head_dim rounded up to 16 (packed Q, V and accumulator rows)
    int64_t sp;       // seq rounded up to 16 (score row stride)
    int64_t rows;     // the item's queries rounded up to 8
    int64_t tile;     // keys per tile, a multiple of 16
    float *scores;    // [rows, sp]
    float *q;         // [rows, dp], rows past the item and columns past head_dim are zero
    float *acc;       // [rows, dp] running P V
    float *panel;     // K^T tile [head_dim, tile] or V tile [tile, dp]
} recur_attention_layout;

// Layout for nq queries; 0 when the head is too wide for the panel, and the caller then takes its
// unblocked path.
static inline int recur_attention_layout_make(const recur_attention_args *a, int64_t nq,
                                              float *scratch, recur_attention_layout *l) {
    l->dp = (a->head_dim + 15) & ~(int64_t)15;
    l->sp = (a->seq + 15) & ~(int64_t)15;
    l->rows = (nq + 7) & ~(int64_t)7;
    const int64_t left = RECUR_ATTENTION_PANEL - 2 * l->rows * l->dp;
    int64_t tile = left > 0 ? (left / l->dp) & ~(int64_t)15 : 0;
    if (tile < 16) return 0;
    if (tile > RECUR_ATT_MAX_TILE_KEYS) tile = RECUR_ATT_MAX_TILE_KEYS;
    if (tile > l->sp) tile = l->sp;
    l->tile = tile;
    l->scores = scratch;
    l->q = scratch + l->rows * l->sp;
    l->acc = l->q + l->rows * l->dp;
    l->panel = l->acc + l->rows * l->dp;
    return 1;
}

// Rows of K, V and Q sit a page or more apart: copy loops ask for the row RECUR_ATT_AHEAD rows
// ahead while they copy this one, which keeps several rows' cache misses in flight.
#define RECUR_ATT_AHEAD 8

static inline void recur_attention_prefetch_row(const float *row, int64_t head_dim) {
    for (int64_t d = 0; d < head_dim; d += 16) __builtin_prefetch(row + d);
}

// Queries [q0, q1) of one head into l->q (zero padded), accumulators cleared.
static inline void recur_attention_pack_q(const recur_attention_layout *l, const float *q,
                                          int64_t stride, int64_t nq, int64_t head_dim) {
    memset(l->q, 0, sizeof(float) * l->rows * l->dp);
    memset(l->acc, 0, sizeof(float) * l->rows * l->dp);
    for (int64_t r = 0; r < nq; r++) {
        if (r + RECUR_ATT_AHEAD < nq) recur_attention_prefetch_row(q + (r + RECUR_ATT_AHEAD) * stride, head_dim);
        memcpy(l->q + r * l->dp, q + r * stride, sizeof(float) * head_dim);
    }
}

// nk V rows (from `v`, `stride` apart) into the panel as [nk, dp], columns past head_dim zero.
static inline void recur_attention_pack_v(const recur_attention_layout *l, const float *v,
                                          int64_t stride, int64_t nk, int64_t head_dim) {
    for (int64_t t = 0; t < nk; t++) {
        float *row = l->panel + t * l->dp;
        if (t + RECUR_ATT_AHEAD < nk) recur_attention_prefetch_row(v + (t + RECUR_ATT_AHEAD) * stride, head_dim);
        memcpy(row, v + t * stride, sizeof(float) * head_dim);
        for (int64_t d = head_dim; d < l->dp; d++) row[d] = 0;
    }
}

// nk K rows into the panel transposed, [head_dim, nkp] with keys nk..nkp-1 zero (nkp: nk rounded
// up to 16). Whole 8x8 blocks go through the register transpose.
static inline RECUR_TARGET_AVX2 void recur_attention_pack_kt(const recur_attention_layout *l,
                                                             const float *k, int64_t stride,
                                                             int64_t nk, int64_t nkp,
                                                             int64_t head_dim) {
    float *kt = l->panel;
    const int64_t nk8 = nk & ~(int64_t)7, d8 = head_dim & ~(int64_t)7;
    for (int64_t t = 0; t < nk8; t += 8) {
        for (int64_t r = t + 8; r < t + 16 && r < nk; r++) recur_attention_prefetch_row(k + r * stride, head_dim);
        for (int64_t d = 0; d < d8; d += 8) recur_transpose8x8(k + t * stride + d, stride, kt + d * nkp + t, nkp);
        for (int64_t d = d8; d < head_dim; d++)
            for (int64_t r = 0; r < 8; r++) kt[d * nkp + t + r] = k[(t + r) * stride + d];
    }
    for (int64_t d = 0; d < head_dim; d++) {
        for (int64_t t = nk8; t < nk; t++) kt[d * nkp + t] = k[t * stride + d];
        for (int64_t t = nk; t < nkp; t++) kt[d * nkp + t] = 0;
    }
}

#endif // RECUR_ATTENTION_X86_H
