// Kernels of causal decoders (Llama-family language models and recursive causal LMs): weighted
// norms, RoPE at absolute positions, and causal attention over a KV cache.
//
// The products run through OpenBLAS (single-threaded, on fixed work items spread over our own
// threads) and the row softmax through the FP32 tier in use, so every
// result is the same whatever the thread count, and each tier differs from the scalar one only by
// its softmax (held to a tolerance in the tests).
#pragma STDC FP_CONTRACT OFF

#include "f32_ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Norms

// llama.cpp's rms_norm followed by its mul: the sum of squares in double, scale = 1/sqrtf(mean +
// eps) in float, y = (x * scale) * w with two roundings.
static void rms_norm_weighted_rows(const float *x, const float *w, float *y, int64_t r0, int64_t r1,
                                   int64_t dim, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float *v = x + r * dim;
        float *o = y + r * dim;
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) ss += (double)(v[i] * v[i]);
        const float scale = 1.0f / sqrtf((float)(ss / (double)dim) + eps);
        if (w) {
            for (int64_t i = 0; i < dim; i++) o[i] = (v[i] * scale) * w[i];
        } else {
            for (int64_t i = 0; i < dim; i++) o[i] = v[i] * scale;
        }
    }
}

// (x - mean) / sqrt(var + eps) * w + b, mean and variance in double (ggml's norm does the same).
static void layer_norm_rows(const float *x, const float *w, const float *b, float *y, int64_t r0,
                            int64_t r1, int64_t dim, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float *v = x + r * dim;
        float *o = y + r * dim;
        double sum = 0;
        for (int64_t i = 0; i < dim; i++) sum += (double)v[i];
        const float mean = (float)(sum / (double)dim);
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) {
            const float d = v[i] - mean;
            ss += (double)(d * d);
        }
        const float scale = 1.0f / sqrtf((float)(ss / (double)dim) + eps);
        for (int64_t i = 0; i < dim; i++) {
            float t = (v[i] - mean) * scale;
            if (w) t = t * w[i];
            if (b) t = t + b[i];
            o[i] = t;
        }
    }
}

typedef struct {
    const float *x, *w, *b;
    float *y;
    int64_t dim;
    float eps;
    int layer_norm;
} norm_ctx;

static void norm_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const norm_ctx *c = p;
    if (c->layer_norm)
        layer_norm_rows(c->x, c->w, c->b, c->y, r0, r1, c->dim, c->eps);
    else
        rms_norm_weighted_rows(c->x, c->w, c->y, r0, r1, c->dim, c->eps);
}

void recur_f32_rms_norm_weighted(const float *x, const float *w, float *y, int64_t rows, int64_t dim,
                                 float eps) {
    if (rows <= 0 || dim <= 0) return;
    norm_ctx c = {.x = x, .w = w, .y = y, .dim = dim, .eps = eps};
    recur_parallel_for(rows, 4 * dim, norm_body, &c);
}

void recur_f32_layer_norm(const float *x, const float *w, const float *b, float *y, int64_t rows,
                          int64_t dim, float eps) {
    if (rows <= 0 || dim <= 0) return;
    norm_ctx c = {.x = x, .w = w, .b = b, .y = y, .dim = dim, .eps = eps, .layer_norm = 1};
    recur_parallel_for(rows, 6 * dim, norm_body, &c);
}

// ---------------------------------------------------------------------------------------------
// RoPE at absolute positions

// ggml's rope cache: theta starts at the position and is multiplied by base^(-2/n_dims) (float)
// once per pair, cos and sin are cosf and sinf of it.
static void rope_angles(float pos, int64_t pairs, float theta_scale, float *cos_out, float *sin_out) {
    float theta = pos;
    for (int64_t i = 0; i < pairs; i++) {
        cos_out[i] = cosf(theta);
        sin_out[i] = sinf(theta);
        theta *= theta_scale;
    }
}

typedef struct {
    float *x;
    int64_t heads, head_dim, n_dims, row_stride;
    const int32_t *positions;
    float theta_scale;
    int neox;
} rope_pos_ctx;

static void rope_positions_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const rope_pos_ctx *c = p;
    const int64_t pairs = c->n_dims / 2;
    float cs[512], sn[512]; // n_dims <= 1024 is checked by the caller
    for (int64_t r = r0; r < r1; r++) {
        rope_angles((float)c->positions[r], pairs, c->theta_scale, cs, sn);
        float *row = c->x + r * c->row_stride;
        for (int64_t h = 0; h < c->heads; h++) {
            float *v = row + h * c->head_dim;
            for (int64_t i = 0; i < pairs; i++) {
                // NeoX (rotate-half) pairs element i with i + n_dims/2; the original Llama layout
                // pairs neighbours 2i and 2i + 1.
                const int64_t a = c->neox ? i : 2 * i, b = c->neox ? i + pairs : 2 * i + 1;
                const float x0 = v[a], x1 = v[b];
                v[a] = x0 * cs[i] - x1 * sn[i];
                v[b] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

int recur_f32_rope_positions(float *x, int64_t rows, int64_t heads, int64_t head_dim, int64_t n_dims,
                             int64_t row_stride, const int32_t *positions, float base, int neox) {
    if (n_dims < 2 || n_dims > head_dim || n_dims > 1024 || (n_dims & 1)) return -1;
    if (rows <= 0 || heads <= 0) return 0;
    rope_pos_ctx c = {.x = x, .heads = heads, .head_dim = head_dim, .n_dims = n_dims,
                      .row_stride = row_stride, .positions = positions,
                      .theta_scale = powf(base, -2.0f / (float)n_dims), .neox = neox};
    recur_parallel_for(rows, 8 * heads * n_dims, rope_positions_body, &c);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Causal attention over a KV cache

// Queries per work item: one score panel of RECUR_CAUSAL_BLOCK x keys per thread.
#define RECUR_CAUSAL_BLOCK 64

int64_t recur_f32_causal_attention_scratch(int64_t n, int64_t keys) {
    const int64_t rows = n < RECUR_CAUSAL_BLOCK ? (n < 1 ? 1 : n) : RECUR_CAUSAL_BLOCK;
    return rows * (keys < 1 ? 1 : keys);
}

typedef struct {
    const recur_f32_ops *ops;
    const float *q, *k, *v;
    float *out;
    int64_t q_stride, kv_stride, out_stride;
    int64_t n, pos0, heads, group, head_dim;
    int64_t blocks; // query blocks per head
    float scale;
    float *scratch;
    int64_t scratch_per_thread;
    // Steering (NULL: plain attention): per query row and head, the controller's K + 1 slot
    // probabilities (slots + (row * heads + h) * (window + 1)) and its weight alpha.
    const float *slots, *alpha;
    int64_t window;
} causal_ctx;

// Mixes a controller's distribution into one softmaxed row p of `seen` positions (the query sits
// at t = seen - 1): slot i < window is position t - i, slot `window` the positions before the
// window, which keep their plain proportions (docs/attention-controller.md).
static void steer_row(const recur_f32_ops *ops, float *p, int64_t seen, const float *q, int64_t window, float alpha) {
    const int64_t t = seen - 1, first = seen > window ? seen - window : 0;
    float reversed[RECUR_STEER_MAX_WINDOW];
    for (int64_t j = first; j <= t; j++) reversed[j - first] = q[t - j];
    float before = 0.0f;
    for (int64_t j = 0; j < first; j++) before += p[j];
    ops->axpby(p + first, reversed, seen - first, 1.0f - alpha, alpha);
    if (first > 0) {
        const float keep = 1.0f - alpha;
        ops->scale(p, before > 0.0f ? keep + alpha * q[window] / before : keep, first);
    }
}

static void causal_body(void *p, int64_t i0, int64_t i1, int thread) {
    const causal_ctx *c = p;
    float *s = c->scratch + (int64_t)thread * c->scratch_per_thread;
    for (int64_t item = i0; item < i1; item++) {
        const int64_t h = item / c->blocks, qb = item % c->blocks;
        const int64_t q0 = qb * RECUR_CAUSAL_BLOCK;
        const int64_t rows = (c->n - q0) < RECUR_CAUSAL_BLOCK ? (c->n - q0) : RECUR_CAUSAL_BLOCK;
        const int64_t keys = c->pos0 + q0 + rows; // the last query of the block sees this many
        const int64_t g = h / c->group;
        const float *q = c->q + q0 * c->q_stride + h * c->head_dim;
        const float *k = c->k + g * c->head_dim, *v = c->v + g * c->head_dim;
        // S = scale * Q K^T over every key the block's last query sees; earlier queries then mask
        // the keys after their own position.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)keys, (int)c->head_dim,
                    c->scale, q, (int)c->q_stride, k, (int)c->kv_stride, 0.0f, s, (int)keys);
        for (int64_t i = 0; i < rows; i++) {
            float *row = s + i * keys;
            const int64_t seen = c->pos0 + q0 + i + 1;
            c->ops->softmax(row, 1, seen);
            if (seen < keys) memset(row + seen, 0, (size_t)(keys - seen) * sizeof(float));
            if (c->slots) {
                const int64_t at = (q0 + i) * c->heads + h;
                // alpha 0 leaves the plain row untouched: the same bits as unsteered attention.
                if (c->alpha[at] != 0.0f) steer_row(c->ops, row, seen, c->slots + at * (c->window + 1), c->window, c->alpha[at]);
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)c->head_dim, (int)keys,
                    1.0f, s, (int)keys, v, (int)c->kv_stride, 0.0f,
                    c->out + q0 * c->out_stride + h * c->head_dim, (int)c->out_stride);
    }
}

// ---------------------------------------------------------------------------------------------
// Attention over a fixed bank (a recursive LM's memory): no mask, keys and values head-major

// Slots of an F16 panel widened to F32 at a time (one block of keys or values per BLAS call).
#define RECUR_BANK_BLOCK 512

typedef struct {
    const recur_f32_ops *ops;
    const float *q;
    const void *k, *v;
    int f16;
    float *out;
    int64_t q_stride, out_stride, m, slots, head_dim;
    float scale;
    float *scratch;
    int64_t scratch_per_thread;
} bank_ctx;

// S = scale * Q K^T (m x bl scores at column b0 of the m x slots panel s) or O (+)= S V over one
// block of bl slots whose F32 keys or values are `panel` (bl x d).
static void bank_scores(const bank_ctx *c, const float *q, const float *panel, int64_t bl, float *s) {
    const int d = (int)c->head_dim;
    if (c->m == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)bl, d, c->scale, panel, d, q, 1, 0.0f, s, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->m, (int)bl, d, c->scale, q,
                    (int)c->q_stride, panel, d, 0.0f, s, (int)c->slots);
}

static void bank_values(const bank_ctx *c, const float *s, const float *panel, int64_t bl, float beta, float *out) {
    const int d = (int)c->head_dim;
    if (c->m == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)bl, d, 1.0f, panel, d, s, 1, beta, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->m, d, (int)bl, 1.0f, s,
                    (int)c->slots, panel, d, beta, out, (int)c->out_stride);
}

static void bank_body(void *p, int64_t h0, int64_t h1, int thread) {
    const bank_ctx *c = p;
    float *s = c->scratch + (int64_t)thread * c->scratch_per_thread;
    float *wide = s + c->m * c->slots; // F16 only: one block of the panel in F32
    const int64_t d = c->head_dim, panel = c->slots * d;
    for (int64_t h = h0; h < h1; h++) {
        // Head h's keys and values are one contiguous slots x head_dim panel each: one query
        // streams each once (GEMV), at memory speed.
        const float *q = c->q + h * d;
        float *out = c->out + h * d;
        if (!c->f16) {
            bank_scores(c, q, (const float *)c->k + h * panel, c->slots, s);
            c->ops->softmax(s, c->m, c->slots);
            bank_values(c, s, (const float *)c->v + h * panel, c->slots, 0.0f, out);
            continue;
        }
        const uint16_t *k = (const uint16_t *)c->k + h * panel, *v = (const uint16_t *)c->v + h * panel;
        for (int64_t b0 = 0; b0 < c->slots; b0 += RECUR_BANK_BLOCK) {
            const int64_t bl = c->slots - b0 < RECUR_BANK_BLOCK ? c->slots - b0 : RECUR_BANK_BLOCK;
            c->ops->f16_to_f32(k + b0 * d, wide, bl * d);
            bank_scores(c, q, wide, bl, s + b0);
        }
        c->ops->softmax(s, c->m, c->slots);
        for (int64_t b0 = 0; b0 < c->slots; b0 += RECUR_BANK_BLOCK) {
            const int64_t bl = c->slots - b0 < RECUR_BANK_BLOCK ? c->slots - b0 : RECUR_BANK_BLOCK;
            c->ops->f16_to_f32(v + b0 * d, wide, bl * d);
            bank_values(c, s + b0, wide, bl, b0 == 0 ? 0.0f : 1.0f, out);
        }
    }
}

static int bank_attention(const float *q, int64_t q_stride, const void *k, const void *v, int f16,
                          int64_t slots, float *out, int64_t out_stride, int64_t m, int64_t heads,
                          int64_t head_dim, float scale, float *scratch) {
    if (m <= 0) return 0;
    if (heads <= 0 || head_dim <= 0 || slots <= 0 || slots > INT32_MAX || m > INT32_MAX) return -1;
    if (q_stride < heads * head_dim || out_stride < heads * head_dim) return -1;
    recur_blas_single_threaded();
    bank_ctx c = {.ops = recur_f32_active_ops(), .q = q, .k = k, .v = v, .f16 = f16, .out = out,
                  .q_stride = q_stride, .out_stride = out_stride, .m = m, .slots = slots,
                  .head_dim = head_dim, .scale = scale, .scratch = scratch,
                  .scratch_per_thread = recur_bank_attention_scratch(m, slots, head_dim, f16)};
    recur_parallel_for(heads, 4 * head_dim * slots * m, bank_body, &c);
    return 0;
}

int64_t recur_bank_attention_scratch(int64_t m, int64_t slots, int64_t head_dim, int f16) {
    return m * slots + (f16 ? RECUR_BANK_BLOCK * head_dim : 0);
}

int recur_f32_bank_attention(const float *q, int64_t q_stride, const float *k, const float *v,
                             int64_t slots, float *out, int64_t out_stride, int64_t m, int64_t heads,
                             int64_t head_dim, float scale, float *scratch) {
    return bank_attention(q, q_stride, k, v, 0, slots, out, out_stride, m, heads, head_dim, scale, scratch);
}

int recur_f16_bank_attention(const float *q, int64_t q_stride, const uint16_t *k, const uint16_t *v,
                             int64_t slots, float *out, int64_t out_stride, int64_t m, int64_t heads,
                             int64_t head_dim, float scale, float *scratch) {
    return bank_attention(q, q_stride, k, v, 1, slots, out, out_stride, m, heads, head_dim, scale, scratch);
}

int recur_f32_causal_attention(const float *q, int64_t q_stride, const float *k, const float *v,
                               int64_t kv_stride, float *out, int64_t out_stride, int64_t n,
                               int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim,
                               float scale, float *scratch) {
    return recur_f32_steered_attention(q, q_stride, k, v, kv_stride, out, out_stride, n, pos0, heads,
                                       kv_heads, head_dim, scale, scratch, NULL, NULL, 0);
}

int recur_f32_steered_attention(const float *q, int64_t q_stride, const float *k, const float *v,
                                int64_t kv_stride, float *out, int64_t out_stride, int64_t n,
                                int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim,
                                float scale, float *scratch, const float *slots, const float *alpha,
                                int64_t window) {
    if (n <= 0) return 0;
    if (slots && (!alpha || window < 1 || window > RECUR_STEER_MAX_WINDOW)) return -1;
    if (heads <= 0 || kv_heads <= 0 || heads % kv_heads || head_dim <= 0 || pos0 < 0) return -1;
    // Every row must hold its heads (OpenBLAS would refuse a smaller leading dimension and leave
    // the output unwritten).
    if (q_stride < heads * head_dim || out_stride < heads * head_dim || kv_stride < kv_heads * head_dim) return -1;
    recur_blas_single_threaded();
    const int64_t blocks = (n + RECUR_CAUSAL_BLOCK - 1) / RECUR_CAUSAL_BLOCK;
    causal_ctx c = {.ops = recur_f32_active_ops(), .q = q, .k = k, .v = v, .out = out,
                    .q_stride = q_stride, .kv_stride = kv_stride, .out_stride = out_stride,
                    .n = n, .pos0 = pos0, .heads = heads, .group = heads / kv_heads,
                    .head_dim = head_dim, .blocks = blocks, .scale = scale, .scratch = scratch,
                    .scratch_per_thread = recur_f32_causal_attention_scratch(n, pos0 + n),
                    .slots = slots, .alpha = alpha, .window = window};
    const int64_t keys = pos0 + n;
    recur_parallel_for(heads * blocks, 4 * head_dim * keys * (n < RECUR_CAUSAL_BLOCK ? n : RECUR_CAUSAL_BLOCK),
                       causal_body, &c);
    return 0;
}
