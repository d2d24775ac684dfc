// Kernels of the rule-latent model's fit (docs/rule-latent.md): LayerNorm keeping its statistics
// and its backward pass, FiLM and its backward pass, the weighted cross-entropy with its gradient,
// and multi-head attention under the prefix-LM mask with its backward pass.
//
// Plain C whose inner loops run along contiguous rows and sums over 8 explicit lanes, so the
// compiler vectorizes them without reordering anything: each row-range worker is built for the
// baseline and, on x86, for AVX2 (picked by recur_isa_active()), and both give the same bits.
// Attention has its own AVX2 version (arch/x86/rule_latent_avx2.c: FMA, sums in another order),
// and the softmaxes use the FP32 tier's exp (f32.c): there the tiers differ within a tolerance.
#pragma STDC FP_CONTRACT OFF // a*b+c stays two roundings, as PyTorch's separate ops do

#include "rule_latent.h"

#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

// Builds `worker(ctx, i0, i1, thread)` (inlined, so vectorized for each target) as a
// recur_range_fn for the baseline and one for AVX2, and `name()`, which returns the one for the
// tier in use.
#if RECUR_X86
#define RULE_TIERS(name, worker)                                                                  \
    static void name##_base(void *c, int64_t i0, int64_t i1, int t) { worker(c, i0, i1, t); }     \
    static RECUR_TARGET_AVX2 void name##_avx2(void *c, int64_t i0, int64_t i1, int t) {           \
        worker(c, i0, i1, t);                                                                     \
    }                                                                                             \
    static recur_range_fn name(void) {                                                            \
        return recur_isa_active() == RECUR_ISA_SCALAR ? name##_base : name##_avx2;                \
    }
#else
#define RULE_TIERS(name, worker)                                                                  \
    static void name##_base(void *c, int64_t i0, int64_t i1, int t) { worker(c, i0, i1, t); }     \
    static recur_range_fn name(void) { return name##_base; }
#endif

// Sum of v[0..n) over 8 lanes (lane i % 8), the lanes added pairwise at the end.
INLINE float sum8(const float *v, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += v[i + l];
    for (; i < n; i++) acc[i & 7] += v[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Sum of a[i] * b[i] over 8 lanes, as sum8.
INLINE float dot8(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
    for (; i < n; i++) acc[i & 7] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// y[i] += a * x[i]; y and x do not overlap (restrict: the loop vectorizes without a check).
INLINE void axpy(float *restrict y, float a, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

typedef struct {
    const float *x, *w, *b, *dy, *xhat, *rstd;
    float *y, *xhat_out, *rstd_out, *dx;
    int64_t dim;
    float eps;
    int accumulate;
} layer_norm_ctx;

// One row; restrict: the outputs overlap no input, so the loops vectorize without checks.
INLINE void layer_norm_row(const float *restrict v, const float *restrict w, const float *restrict b,
                           float *restrict y, float *restrict xh, float *restrict rstd, int64_t dim,
                           float eps) {
    const float mean = sum8(v, dim) / (float)dim;
    for (int64_t i = 0; i < dim; i++) xh[i] = v[i] - mean;
    const float inv = 1.0f / sqrtf(dot8(xh, xh, dim) / (float)dim + eps);
    *rstd = inv;
    for (int64_t i = 0; i < dim; i++) {
        xh[i] = xh[i] * inv;
        y[i] = xh[i] * w[i] + b[i];
    }
}

INLINE void layer_norm_worker(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const layer_norm_ctx *c = p;
    const int64_t dim = c->dim;
    for (int64_t r = r0; r < r1; r++)
        layer_norm_row(c->x + r * dim, c->w, c->b, c->y + r * dim, c->xhat_out + r * dim, c->rstd_out + r, dim, c->eps);
}
RULE_TIERS(layer_norm_body, layer_norm_worker)

void recur_f32_layer_norm_keep(const float *x, const float *w, const float *b, float *y,
                               float *xhat, float *rstd, int64_t rows, int64_t dim, float eps) {
    if (rows <= 0 || dim <= 0) return;
    layer_norm_ctx c = {.x = x, .w = w, .b = b, .y = y, .xhat_out = xhat, .rstd_out = rstd,
                        .dim = dim, .eps = eps};
    recur_parallel_for(rows, 6 * dim, layer_norm_body(), &c);
}

// One row (dx overlaps no input).
INLINE void layer_norm_backward_row(const float *restrict g, const float *restrict w,
                                    const float *restrict xh, float inv, float *restrict dx,
                                    int64_t dim, int accumulate) {
    float acc_g[8] = {0, 0, 0, 0, 0, 0, 0, 0}, acc_gx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int l = 0; l < 8; l++) {
            const float gw = g[i + l] * w[i + l];
            acc_g[l] += gw;
            acc_gx[l] += gw * xh[i + l];
        }
    for (; i < dim; i++) {
        const float gw = g[i] * w[i];
        acc_g[i & 7] += gw;
        acc_gx[i & 7] += gw * xh[i];
    }
    const float mean_g = sum8(acc_g, 8) / (float)dim, mean_gx = sum8(acc_gx, 8) / (float)dim;
    if (accumulate) {
        for (i = 0; i < dim; i++) dx[i] += inv * ((g[i] * w[i] - mean_g) - xh[i] * mean_gx);
    } else {
        for (i = 0; i < dim; i++) dx[i] = inv * ((g[i] * w[i] - mean_g) - xh[i] * mean_gx);
    }
}

INLINE void layer_norm_backward_worker(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const layer_norm_ctx *c = p;
    const int64_t dim = c->dim;
    for (int64_t r = r0; r < r1; r++)
        layer_norm_backward_row(c->dy + r * dim, c->w, c->xhat + r * dim, c->rstd[r], c->dx + r * dim, dim, c->accumulate);
}
RULE_TIERS(layer_norm_backward_body, layer_norm_backward_worker)

void recur_f32_layer_norm_backward(const float *dy, const float *w, const float *xhat,
                                   const float *rstd, float *dx, int64_t rows, int64_t dim,
                                   int accumulate) {
    if (rows <= 0 || dim <= 0) return;
    layer_norm_ctx c = {.dy = dy, .w = w, .xhat = xhat, .rstd = rstd, .dx = dx, .dim = dim,
                        .accumulate = accumulate};
    recur_parallel_for(rows, 8 * dim, layer_norm_backward_body(), &c);
}

// ---------------------------------------------------------------------------------------------
// FiLM

typedef struct {
    const float *x, *add, *gamma, *beta;
    float *before, *y;
    int64_t dim;
} film_ctx;

INLINE void film_worker(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const film_ctx *c = p;
    const int64_t dim = c->dim;
    const float *restrict gamma = c->gamma, *restrict beta = c->beta;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = c->x + r * dim, *a = c->add ? c->add + r * dim : NULL;
        float *before = c->before + r * dim, *y = c->y + r * dim; // may be x
        if (a) {
            for (int64_t i = 0; i < dim; i++) {
                const float v = x[i] + a[i];
                before[i] = v;
                y[i] = v * (1.0f + gamma[i]) + beta[i];
            }
        } else {
            for (int64_t i = 0; i < dim; i++) {
                const float v = x[i];
                before[i] = v;
                y[i] = v * (1.0f + gamma[i]) + beta[i];
            }
        }
    }
}
RULE_TIERS(film_body, film_worker)

void recur_f32_film(const float *x, const float *add, float *before, float *y, const float *gamma,
                    const float *beta, int64_t rows, int64_t dim) {
    if (rows <= 0 || dim <= 0) return;
    film_ctx c = {.x = x, .add = add, .gamma = gamma, .beta = beta, .before = before, .y = y,
                  .dim = dim};
    recur_parallel_for(rows, 4 * dim, film_body(), &c);
}

typedef struct {
    float *dx, *dgamma, *dbeta;
    const float *before, *gamma;
    int64_t dim;
} film_backward_ctx;

INLINE void film_backward_worker(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const film_backward_ctx *c = p;
    const int64_t dim = c->dim;
    float *restrict dgamma = c->dgamma, *restrict dbeta = c->dbeta;
    const float *restrict gamma = c->gamma;
    for (int64_t r = r0; r < r1; r++) {
        float *restrict g = c->dx + r * dim;
        const float *restrict before = c->before + r * dim;
        for (int64_t i = 0; i < dim; i++) {
            dgamma[i] += g[i] * before[i];
            dbeta[i] += g[i];
            g[i] = g[i] * (1.0f + gamma[i]);
        }
    }
}
RULE_TIERS(film_backward_body, film_backward_worker)

void recur_f32_film_backward(float *dx, const float *before, const float *gamma, float *dgamma,
                             float *dbeta, int64_t rows, int64_t dim) {
    if (rows <= 0 || dim <= 0) return;
    film_backward_ctx c = {.dx = dx, .dgamma = dgamma, .dbeta = dbeta, .before = before,
                           .gamma = gamma, .dim = dim};
    film_backward_body()(&c, 0, rows, 0); // one thread: the sums over rows run in row order
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy

float recur_f32_cross_entropy(float *logits, const int32_t *targets, const float *weight,
                              int64_t rows, int64_t vocab, int gradient) {
    const recur_f32_ops *ops = recur_f32_active_ops();
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        float *row = logits + r * vocab;
        const int32_t target = targets[r];
        if (target < 0 || target >= vocab) {
            if (gradient) memset(row, 0, (size_t)vocab * sizeof(float));
            continue;
        }
        float top = -INFINITY;
        for (int64_t i = 0; i < vocab; i++) top = row[i] > top ? row[i] : top;
        for (int64_t i = 0; i < vocab; i++) row[i] = row[i] - top;
        const float shifted = row[target];
        ops->exp(row, row, vocab);
        const float sum = sum8(row, vocab);
        total += (double)weight[r] * (double)(logf(sum) - shifted);
        if (gradient) {
            const float scale = weight[r] / sum;
            for (int64_t i = 0; i < vocab; i++) row[i] = row[i] * scale;
            row[target] -= weight[r];
        }
    }
    return (float)total;
}

// ---------------------------------------------------------------------------------------------
// Attention under the prefix-LM mask

// The plain C workers use positions * (head_dim + 2) floats; the AVX2 ones a [head_dim, np]
// panel, two [positions, np] matrices and head_dim zeros (np: positions rounded up to 8).
int64_t recur_prefix_attention_scratch(int64_t positions, int64_t head_dim) {
    const int64_t np = (positions + 7) & ~(int64_t)7;
    return head_dim * np + 2 * positions * np + head_dim + 16;
}

// The plain C workers: one (sequence, head) per item, the keys' (values') rows packed transposed,
// [head_dim, n], so that every loop runs along a row.
static void prefix_attention_base(void *p, int64_t i0, int64_t i1, int thread) {
    const recur_prefix_attention_args *c = p;
    const recur_prefix_batch *b = c->batch;
    const int64_t D = c->head_dim, H = c->heads, width = H * D, P = b->positions;
    float *kt = c->scratch + (int64_t)thread * c->scratch_per_thread, *row = kt + D * P;
    for (int64_t item = i0; item < i1; item++) {
        const int64_t s = item / H, h = item % H, n = b->prefix + b->output_count[s];
        if (c->query_from >= n) continue;
        for (int64_t j = 0; j < n; j++) {
            const float *k = c->qkv + recur_prefix_row(b, s, j) * c->qkv_stride + width + h * D;
            for (int64_t d = 0; d < D; d++) kt[d * n + j] = k[d];
        }
        for (int64_t i = c->query_from; i < n; i++) {
            const int64_t seen = recur_prefix_visible(b, i), r = recur_prefix_row(b, s, i);
            const float *q = c->qkv + r * c->qkv_stride + h * D;
            float *pr = c->probs ? c->probs + ((s * H + h) * P + i) * P : row;
            for (int64_t j = 0; j < seen; j++) pr[j] = 0;
            for (int64_t d = 0; d < D; d++) axpy(pr, q[d], kt + d * n, seen);
            float top = -INFINITY;
            for (int64_t j = 0; j < seen; j++) {
                pr[j] = pr[j] * c->scale;
                top = pr[j] > top ? pr[j] : top;
            }
            for (int64_t j = 0; j < seen; j++) pr[j] = pr[j] - top;
            c->ops->exp(pr, pr, seen);
            const float inv = 1.0f / sum8(pr, seen);
            for (int64_t j = 0; j < seen; j++) pr[j] = pr[j] * inv;
            float *o = c->ctx + r * c->ctx_stride + h * D;
            for (int64_t d = 0; d < D; d++) o[d] = 0;
            for (int64_t j = 0; j < seen; j++)
                axpy(o, pr[j], c->qkv + recur_prefix_row(b, s, j) * c->qkv_stride + 2 * width + h * D, D);
        }
    }
}

static recur_range_fn prefix_attention_body(int64_t head_dim) {
#if RECUR_X86
    if (recur_isa_active() != RECUR_ISA_SCALAR && head_dim % 8 == 0) return recur_prefix_attention_avx2;
#endif
    return prefix_attention_base;
}

void recur_f32_prefix_attention(const float *qkv, int64_t qkv_stride, float *ctx,
                                int64_t ctx_stride, float *probs, const recur_prefix_batch *batch,
                                int64_t query_from, int64_t heads, int64_t head_dim, float scale,
                                float *scratch) {
    if (batch->sequences <= 0 || heads <= 0 || head_dim <= 0) return;
    recur_prefix_attention_args c = {
        .qkv = qkv, .qkv_stride = qkv_stride, .ctx = ctx, .ctx_stride = ctx_stride, .probs = probs,
        .batch = batch, .query_from = query_from, .heads = heads, .head_dim = head_dim,
        .scale = scale, .scratch = scratch, .ops = recur_f32_active_ops(),
        .scratch_per_thread = recur_prefix_attention_scratch(batch->positions, head_dim)};
    const int64_t P = batch->positions;
    recur_parallel_for(batch->sequences * heads, 2 * P * P * head_dim, prefix_attention_body(head_dim), &c);
}

// One (sequence, head) per item: V^T packed [head_dim, n]. With P the kept probabilities and dC
// the context's gradient: dV = P^T dC, dP = dC V^T, dS = P * (dP - rowsum(P * dP)) * scale, dQ =
// dS K, dK = dS^T Q, each query row in position order.
static void prefix_attention_backward_base(void *p, int64_t i0, int64_t i1, int thread) {
    const recur_prefix_attention_args *c = p;
    const recur_prefix_batch *b = c->batch;
    const int64_t D = c->head_dim, H = c->heads, width = H * D, P = b->positions;
    float *vt = c->scratch + (int64_t)thread * c->scratch_per_thread, *ds = vt + D * P;
    for (int64_t item = i0; item < i1; item++) {
        const int64_t s = item / H, h = item % H, n = b->prefix + b->output_count[s];
        for (int64_t j = 0; j < n; j++) {
            const int64_t r = recur_prefix_row(b, s, j);
            const float *v = c->qkv + r * c->qkv_stride + 2 * width + h * D;
            for (int64_t d = 0; d < D; d++) vt[d * n + j] = v[d];
            float *g = c->dqkv + r * c->dqkv_stride + h * D;
            memset(g, 0, (size_t)D * sizeof(float));             // dq (written below for queries)
            memset(g + width, 0, (size_t)D * sizeof(float));     // dk
            memset(g + 2 * width, 0, (size_t)D * sizeof(float)); // dv
        }
        for (int64_t i = c->query_from; i < n; i++) {
            const int64_t seen = recur_prefix_visible(b, i), r = recur_prefix_row(b, s, i);
            const float *pr = c->probs_in + ((s * H + h) * P + i) * P;
            const float *dc = c->dctx + r * c->dctx_stride + h * D;
            for (int64_t j = 0; j < seen; j++) ds[j] = 0;
            for (int64_t d = 0; d < D; d++) axpy(ds, dc[d], vt + d * n, seen);
            const float dot = dot8(pr, ds, seen);
            for (int64_t j = 0; j < seen; j++) ds[j] = (pr[j] * (ds[j] - dot)) * c->scale;
            const float *q = c->qkv + r * c->qkv_stride + h * D;
            float *dq = c->dqkv + r * c->dqkv_stride + h * D;
            for (int64_t j = 0; j < seen; j++) {
                const int64_t rj = recur_prefix_row(b, s, j);
                const float *k = c->qkv + rj * c->qkv_stride + width + h * D;
                float *dk = c->dqkv + rj * c->dqkv_stride + width + h * D, *dv = dk + width;
                axpy(dq, ds[j], k, D);
                axpy(dk, ds[j], q, D);
                axpy(dv, pr[j], dc, D);
            }
        }
    }
}

static recur_range_fn prefix_attention_backward_body(int64_t head_dim) {
#if RECUR_X86
    if (recur_isa_active() != RECUR_ISA_SCALAR && head_dim % 8 == 0) return recur_prefix_attention_backward_avx2;
#endif
    return prefix_attention_backward_base;
}

void recur_f32_prefix_attention_backward(const float *qkv, int64_t qkv_stride, const float *probs,
                                         const float *dctx, int64_t dctx_stride, float *dqkv,
                                         int64_t dqkv_stride, const recur_prefix_batch *batch,
                                         int64_t query_from, int64_t heads, int64_t head_dim,
                                         float scale, float *scratch) {
    if (batch->sequences <= 0 || heads <= 0 || head_dim <= 0) return;
    recur_prefix_attention_args c = {
        .qkv = qkv, .qkv_stride = qkv_stride, .probs_in = probs, .dctx = dctx,
        .dctx_stride = dctx_stride, .dqkv = dqkv, .dqkv_stride = dqkv_stride, .batch = batch,
        .query_from = query_from, .heads = heads, .head_dim = head_dim, .scale = scale,
        .scratch = scratch,
        .scratch_per_thread = recur_prefix_attention_scratch(batch->positions, head_dim)};
    const int64_t P = batch->positions;
    recur_parallel_for(batch->sequences * heads, 4 * P * P * head_dim, prefix_attention_backward_body(head_dim), &c);
}
