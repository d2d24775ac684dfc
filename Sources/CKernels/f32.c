// FP32 kernels: the public entry points (tier dispatch and thread split) and the scalar reference.
//
// The scalar reference is the plain C definition of each kernel; every SIMD tier is tested
// against it. Element-wise kernels, RoPE, the embedding copy, argmax, transposes and conversions
// use the same operations in the same order in every tier and must agree bit for bit. Kernels that
// sum (RMS norm, softmax, attention) reorder the sum across SIMD lanes and softmax/SiLU use a
// polynomial exp in SIMD, so those agree within a tolerance the tests state.
#pragma STDC FP_CONTRACT OFF // a*b+c stays two roundings, as PyTorch's separate ops do

#include "f32_ops.h"
#include "recur_half.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Scalar reference

static void add_scalar(const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void add_row_scalar(const float *a, const float *b, float *y, int64_t rows, int64_t dim) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < dim; i++) y[r * dim + i] = a[r * dim + i] + b[i];
}

static void scale_scalar(float *x, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

static void scale_copy_scalar(const float *x, float s, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
}

static void axpby_scalar(float *y, const float *x, int64_t n, float a, float b) {
    for (int64_t i = 0; i < n; i++) {
        const float ay = a * y[i], bx = b * x[i];
        y[i] = ay + bx;
    }
}

// 1/sqrt(mean + eps) as torch.rsqrt computes it in float32: a rounded sqrt, then a rounded divide.
static float rms_inverse(float mean, float eps) { return 1.0f / sqrtf(mean + eps); }

// The sum of squares is accumulated in double here so the reference is the exact mean to within
// float rounding; the SIMD tiers sum in float lanes and are held to a tolerance.
static void rms_norm_scalar(float *x, int64_t rows, int64_t dim, float eps) {
    if (dim <= 0) return;
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) ss += (double)v[i] * (double)v[i];
        const float inv = rms_inverse((float)(ss / (double)dim), eps);
        for (int64_t i = 0; i < dim; i++) v[i] *= inv;
    }
}

static void add_rms_norm_scalar(float *x, const float *residual, int64_t rows, int64_t dim,
                                float eps) {
    if (dim <= 0) return;
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        const float *res = residual + r * dim;
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) {
            v[i] = v[i] + res[i];
            ss += (double)v[i] * (double)v[i];
        }
        const float inv = rms_inverse((float)(ss / (double)dim), eps);
        for (int64_t i = 0; i < dim; i++) v[i] *= inv;
    }
}

// silu(g) * u with silu(g) = g / (1 + exp(-g)), the formula of PyTorch's CPU kernel.
static void swiglu_scalar(const float *gate_up, float *out, int64_t rows, int64_t inter) {
    for (int64_t r = 0; r < rows; r++) {
        const float *g = gate_up + r * 2 * inter, *u = g + inter;
        float *o = out + r * inter;
        for (int64_t i = 0; i < inter; i++) o[i] = (g[i] / (1.0f + expf(-g[i]))) * u[i];
    }
}

// Max-subtracted softmax of one row, normalized by multiplying with 1/sum like PyTorch's CPU
// kernel. NaN inputs make the whole row NaN (the max skips them, the sum does not). The sum is
// accumulated in double so the reference does not drift with the row length.
static void softmax_row_scalar(float *v, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (v[i] > m) m = v[i];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = expf(v[i] - m);
        sum += v[i];
    }
    const float inv = 1.0f / (float)sum;
    for (int64_t i = 0; i < n; i++) v[i] *= inv;
}

static void softmax_scalar(float *x, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) softmax_row_scalar(x + r * n, n);
}

static void exp_scalar(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

// PyTorch's GELU formulas: (x * 0.5) * (1 + erf(x / sqrt 2)), and for the backward pass
// cdf + x * pdf with cdf = 0.5 * (1 + erf(x / sqrt 2)), pdf = (1 / sqrt(2 pi)) * exp((x * x) * -0.5).
static void gelu_scalar(const float *x, float *y, float *slope, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i]; // y may be x
        const float c = 1.0f + erff(v * RECUR_GELU_SQRT1_2);
        y[i] = (v * 0.5f) * c;
        if (slope) slope[i] = 0.5f * c + v * (RECUR_GELU_PDF * expf((v * v) * -0.5f));
    }
}

// (v * cos) + (rotate_half(v) * sin), rotate_half(v) = cat(-v2, v1): products rounded separately.
static void rope_scalar(float *x, int64_t row0, int64_t row1, int64_t seq, int64_t heads,
                        int64_t head_dim, int64_t row_stride, const float *cos, const float *sin) {
    const int64_t half = head_dim / 2;
    for (int64_t r = row0; r < row1; r++) {
        const int64_t p = r % seq;
        const float *c = cos + p * head_dim, *s = sin + p * head_dim;
        for (int64_t h = 0; h < heads; h++) {
            float *v = x + r * row_stride + h * head_dim;
            for (int64_t i = 0; i < half; i++) {
                const float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i + half] + a * s[i + half];
            }
        }
    }
}

static void attention_scalar(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                             int64_t q1, float *scores) {
    const int64_t S = a->seq, H = a->heads, KV = a->kv_heads, D = a->head_dim;
    const int64_t stride = (H + 2 * KV) * D;
    const int64_t kvh = h / (H / KV);
    const float *base = a->qkv + b * S * stride;
    const float *kb = base + (H + kvh) * D, *vb = base + (H + KV + kvh) * D;
    for (int64_t i = q0; i < q1; i++) {
        const float *q = base + i * stride + h * D;
        float m = -INFINITY;
        for (int64_t j = 0; j < S; j++) {
            const float *k = kb + j * stride;
            float dot = 0;
            for (int64_t d = 0; d < D; d++) dot += q[d] * k[d];
            scores[j] = dot * a->scale;
            if (scores[j] > m) m = scores[j];
        }
        float sum = 0;
        for (int64_t j = 0; j < S; j++) {
            scores[j] = expf(scores[j] - m);
            sum += scores[j];
        }
        float *o = a->out + (b * S + i) * H * D + h * D;
        for (int64_t d = 0; d < D; d++) o[d] = 0;
        for (int64_t j = 0; j < S; j++) {
            const float p = scores[j], *v = vb + j * stride;
            for (int64_t d = 0; d < D; d++) o[d] += p * v[d];
        }
        const float inv = 1.0f / sum;
        for (int64_t d = 0; d < D; d++) o[d] *= inv;
    }
}

// First maximum; a NaN counts as larger than everything (torch.argmax returns the first NaN).
static void argmax_scalar(const float *x, int64_t rows, int64_t n, int32_t *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *v = x + r * n;
        int64_t best = n > 0 ? 0 : -1;
        for (int64_t i = 0; i < n; i++) {
            if (isnan(v[i])) {
                best = i;
                break;
            }
            if (v[i] > v[best]) best = i;
        }
        out[r] = (int32_t)best;
    }
}

static void transpose_scalar(const float *x, float *y, int64_t rows, int64_t cols, int64_t r0,
                             int64_t r1) {
    enum { tile = 16 };
    for (int64_t c0 = 0; c0 < cols; c0 += tile) {
        const int64_t c1 = c0 + tile < cols ? c0 + tile : cols;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++) y[c * rows + r] = x[r * cols + c];
    }
}

static void f16_to_f32_scalar(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = recur_f16_to_f32_one(x[i]);
}

static void f32_to_f16_scalar(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = recur_f32_to_f16_one(x[i]);
}

static void bf16_to_f32_scalar(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = recur_bf16_to_f32_one(x[i]);
}

const recur_f32_ops recur_f32_ops_scalar = {
    .add = add_scalar,
    .add_row = add_row_scalar,
    .scale = scale_scalar,
    .scale_copy = scale_copy_scalar,
    .axpby = axpby_scalar,
    .rms_norm = rms_norm_scalar,
    .add_rms_norm = add_rms_norm_scalar,
    .swiglu = swiglu_scalar,
    .softmax = softmax_scalar,
    .exp = exp_scalar,
    .gelu = gelu_scalar,
    .rope = rope_scalar,
    .attention = attention_scalar,
    .argmax = argmax_scalar,
    .transpose = transpose_scalar,
    .f16_to_f32 = f16_to_f32_scalar,
    .f32_to_f16 = f32_to_f16_scalar,
    .bf16_to_f32 = bf16_to_f32_scalar,
};

// ---------------------------------------------------------------------------------------------
// Dispatch

static const recur_f32_ops *ops(void) {
#if RECUR_X86
    switch (recur_isa_active()) {
    case RECUR_ISA_AMX: // AMX tiles serve the quantized linears only: FP32 runs the AVX-512 kernels.
    case RECUR_ISA_AVX512: return &recur_f32_ops_avx512;
    case RECUR_ISA_AVXVNNI: // AVX-VNNI adds integer dot products only: FP32 runs the AVX2 kernels.
    case RECUR_ISA_AVX2: return &recur_f32_ops_avx2;
    case RECUR_ISA_SCALAR: break;
    }
#endif
    return &recur_f32_ops_scalar;
}

const recur_f32_ops *recur_f32_active_ops(void) { return ops(); }

// Element-wise kernels split flat ranges in chunks of this many elements (a multiple of every
// vector width, so the split never changes which elements take a SIMD tail path).
#define CHUNK ((int64_t)4096)

static int64_t chunks(int64_t n) { return (n + CHUNK - 1) / CHUNK; }
static int64_t chunk_len(int64_t c, int64_t n) { return c * CHUNK + CHUNK <= n ? CHUNK : n - c * CHUNK; }

// ---- element-wise

typedef struct {
    const recur_f32_ops *ops;
    const float *a, *b;
    float *y;
    float s;
    int64_t n, dim;
} flat_ctx;

static void add_body(void *p, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const flat_ctx *c = p;
    for (int64_t i = c0; i < c1; i++)
        c->ops->add(c->a + i * CHUNK, c->b + i * CHUNK, c->y + i * CHUNK, chunk_len(i, c->n));
}

void recur_f32_add(const float *a, const float *b, float *y, int64_t n) {
    flat_ctx c = {.ops = ops(), .a = a, .b = b, .y = y, .n = n};
    recur_parallel_for(chunks(n), CHUNK, add_body, &c);
}

static void add_row_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const flat_ctx *c = p;
    c->ops->add_row(c->a + r0 * c->dim, c->b, c->y + r0 * c->dim, r1 - r0, c->dim);
}

void recur_f32_add_row(const float *a, const float *b, float *y, int64_t rows, int64_t dim) {
    if (dim <= 0) return;
    flat_ctx c = {.ops = ops(), .a = a, .b = b, .y = y, .dim = dim};
    recur_parallel_for(rows, dim, add_row_body, &c);
}

static void scale_body(void *p, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const flat_ctx *c = p;
    for (int64_t i = c0; i < c1; i++) c->ops->scale(c->y + i * CHUNK, c->s, chunk_len(i, c->n));
}

void recur_f32_scale(float *x, float s, int64_t n) {
    flat_ctx c = {.ops = ops(), .y = x, .s = s, .n = n};
    recur_parallel_for(chunks(n), CHUNK, scale_body, &c);
}

static void exp_body(void *p, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const flat_ctx *c = p;
    for (int64_t i = c0; i < c1; i++) c->ops->exp(c->a + i * CHUNK, c->y + i * CHUNK, chunk_len(i, c->n));
}

void recur_f32_exp(const float *x, float *y, int64_t n) {
    flat_ctx c = {.ops = ops(), .a = x, .y = y, .n = n};
    recur_parallel_for(chunks(n), 16 * CHUNK, exp_body, &c);
}

typedef struct {
    const recur_f32_ops *ops;
    const float *x;
    float *y, *slope;
    int64_t n;
} gelu_ctx;

static void gelu_body(void *p, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const gelu_ctx *c = p;
    for (int64_t i = c0; i < c1; i++)
        c->ops->gelu(c->x + i * CHUNK, c->y + i * CHUNK, c->slope ? c->slope + i * CHUNK : NULL,
                     chunk_len(i, c->n));
}

void recur_f32_gelu(const float *x, float *y, float *slope, int64_t n) {
    gelu_ctx c = {.ops = ops(), .x = x, .y = y, .slope = slope, .n = n};
    recur_parallel_for(chunks(n), 24 * CHUNK, gelu_body, &c);
}

// ---- row-wise

typedef struct {
    const recur_f32_ops *ops;
    float *x;
    const float *other;
    float *out;
    int64_t dim;
    float eps;
} rows_ctx;

static void rms_norm_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const rows_ctx *c = p;
    c->ops->rms_norm(c->x + r0 * c->dim, r1 - r0, c->dim, c->eps);
}

void recur_f32_rms_norm(float *x, int64_t rows, int64_t dim, float eps) {
    if (dim <= 0) return;
    rows_ctx c = {.ops = ops(), .x = x, .dim = dim, .eps = eps};
    recur_parallel_for(rows, 3 * dim, rms_norm_body, &c);
}

static void add_rms_norm_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const rows_ctx *c = p;
    c->ops->add_rms_norm(c->x + r0 * c->dim, c->other + r0 * c->dim, r1 - r0, c->dim, c->eps);
}

void recur_f32_add_rms_norm(float *x, const float *residual, int64_t rows, int64_t dim,
                            float eps) {
    if (dim <= 0) return;
    rows_ctx c = {.ops = ops(), .x = x, .other = residual, .dim = dim, .eps = eps};
    recur_parallel_for(rows, 4 * dim, add_rms_norm_body, &c);
}

static void swiglu_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const rows_ctx *c = p;
    c->ops->swiglu(c->other + r0 * 2 * c->dim, c->out + r0 * c->dim, r1 - r0, c->dim);
}

void recur_f32_swiglu(const float *gate_up, float *out, int64_t rows, int64_t inter) {
    if (inter <= 0) return;
    rows_ctx c = {.ops = ops(), .other = gate_up, .out = out, .dim = inter};
    recur_parallel_for(rows, 16 * inter, swiglu_body, &c);
}

static void softmax_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const rows_ctx *c = p;
    c->ops->softmax(c->x + r0 * c->dim, r1 - r0, c->dim);
}

void recur_f32_softmax(float *x, int64_t rows, int64_t n) {
    if (n <= 0) return;
    rows_ctx c = {.ops = ops(), .x = x, .dim = n};
    recur_parallel_for(rows, 16 * n, softmax_body, &c);
}

// ---- RoPE

typedef struct {
    const recur_f32_ops *ops;
    float *x;
    int64_t seq, heads, head_dim, row_stride;
    const float *cos, *sin;
} rope_ctx;

static void rope_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const rope_ctx *c = p;
    c->ops->rope(c->x, r0, r1, c->seq, c->heads, c->head_dim, c->row_stride, c->cos, c->sin);
}

void recur_f32_rope(float *x, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                    int64_t row_stride, const float *cos, const float *sin) {
    if (batch <= 0 || seq <= 0 || heads <= 0 || head_dim < 2) return;
    rope_ctx c = {.ops = ops(), .x = x, .seq = seq, .heads = heads, .head_dim = head_dim,
                  .row_stride = row_stride, .cos = cos, .sin = sin};
    recur_parallel_for(batch * seq, 3 * heads * head_dim, rope_body, &c);
}

// Matches torch.float32 RotaryEmbedding: the exponent 2j/dim is a float32 division, theta^e is
// evaluated in double and rounded once (PyTorch's float pow is accurate to about one ulp, so it
// lands on the correctly rounded value nearly always), 1/x and p*inv_freq are float32 operations,
// and cos/sin are rounded once from double.
void recur_f32_rope_tables(float *cos_out, float *sin_out, int64_t seq, int64_t head_dim,
                           float theta) {
    const int64_t half = head_dim / 2;
    if (seq <= 0 || half <= 0) return;
    for (int64_t j = 0; j < half; j++) {
        const float e = (float)(2 * j) / (float)head_dim;
        const float pw = (float)pow((double)theta, (double)e);
        const float inv = 1.0f / pw;
        for (int64_t p = 0; p < seq; p++) {
            const float f = (float)p * inv;
            const float cf = (float)cos((double)f), sf = (float)sin((double)f);
            cos_out[p * head_dim + j] = cf;
            cos_out[p * head_dim + j + half] = cf;
            sin_out[p * head_dim + j] = sf;
            sin_out[p * head_dim + j + half] = sf;
        }
    }
}

// ---- attention

// Per-thread scratch: the score rows of the largest item (each rounded up to 16 floats) and the
// SIMD panel.
int64_t recur_f32_attention_scratch(int64_t seq) {
    if (seq < 1) seq = 1;
    return recur_attention_score_rows(seq) * ((seq + 15) / 16) * 16 + RECUR_ATTENTION_PANEL;
}

typedef void (*attention_item_fn)(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0, int64_t q1,
                                  float *scratch);

typedef struct {
    attention_item_fn item;
    recur_attention_args args;
    int64_t rows;     // queries per item (the last item of a head may have fewer)
    int64_t q_blocks; // items per head
    float *scratch;
    int64_t scratch_per_thread;
} attention_ctx;

static void attention_body(void *p, int64_t i0, int64_t i1, int thread) {
    const attention_ctx *c = p;
    float *scratch = c->scratch + (int64_t)thread * c->scratch_per_thread;
    for (int64_t item = i0; item < i1; item++) {
        const int64_t qb = item % c->q_blocks, bh = item / c->q_blocks;
        const int64_t h = bh % c->args.heads, b = bh / c->args.heads;
        const int64_t q0 = qb * c->rows;
        const int64_t q1 = q0 + c->rows < c->args.seq ? q0 + c->rows : c->args.seq;
        c->item(&c->args, b, h, q0, q1, scratch);
    }
}

static void attention_with(attention_item_fn item, const float *qkv, float *out, int64_t batch, int64_t seq,
                           int64_t heads, int64_t kv_heads, int64_t head_dim, float scale, const float *rope_cos,
                           const float *rope_sin, float *scratch) {
    if (batch <= 0 || seq <= 0 || heads <= 0 || head_dim <= 0) return;
    if (kv_heads <= 0 || heads % kv_heads != 0) return; // the caller validates the model config
    // As few items per head as fit, but at least 4 items per thread when the heads alone are fewer;
    // then the queries spread evenly over the items, in multiples of 8. How the queries are split
    // changes no result: each output row is computed the same way in any item.
    const int64_t max_rows = recur_attention_max_rows(seq, head_dim);
    int64_t blocks = (seq + max_rows - 1) / max_rows;
    const int64_t want = (4 * (int64_t)recur_get_num_threads() + batch * heads - 1) / (batch * heads);
    if (blocks < want) blocks = want < (seq + 7) / 8 ? want : (seq + 7) / 8;
    const int64_t rows = ((seq + blocks - 1) / blocks + 7) & ~(int64_t)7;
    attention_ctx c = {
        .item = item,
        .args = {.qkv = qkv, .out = out, .seq = seq, .heads = heads, .kv_heads = kv_heads,
                 .head_dim = head_dim, .scale = scale, .rope_cos = rope_cos, .rope_sin = rope_sin},
        .rows = rows,
        .q_blocks = (seq + rows - 1) / rows,
        .scratch = scratch,
        .scratch_per_thread = recur_f32_attention_scratch(seq),
    };
    const int64_t items = batch * heads * c.q_blocks;
    recur_parallel_for(items, 4 * rows * seq * head_dim, attention_body, &c);
}

void recur_f32_attention(const float *qkv, float *out, int64_t batch, int64_t seq, int64_t heads,
                         int64_t kv_heads, int64_t head_dim, float scale, float *scratch) {
    attention_with(ops()->attention, qkv, out, batch, seq, heads, kv_heads, head_dim, scale, NULL, NULL, scratch);
}

int recur_attention_bf16_supported(void) {
#if RECUR_X86
    const recur_isa isa = recur_isa_active();
    return (isa == RECUR_ISA_AVX512 || isa == RECUR_ISA_AMX) && (recur_cpu_features() & RECUR_CPU_AVX512BF16) != 0;
#else
    return 0;
#endif
}

int recur_attention_bf16(const float *qkv, float *out, int64_t batch, int64_t seq, int64_t heads,
                         int64_t kv_heads, int64_t head_dim, float scale, const float *rope_cos,
                         const float *rope_sin, float *scratch) {
#if RECUR_X86
    if (!recur_attention_bf16_supported() || (rope_cos == NULL) != (rope_sin == NULL)) return -1;
    if (!recur_attention_bf16_fits(seq, head_dim)) return -1;
    attention_with(recur_attention_bf16_avx512, qkv, out, batch, seq, heads, kv_heads, head_dim, scale, rope_cos,
                   rope_sin, scratch);
    return 0;
#else
    (void)qkv, (void)out, (void)batch, (void)seq, (void)heads, (void)kv_heads, (void)head_dim, (void)scale;
    (void)rope_cos, (void)rope_sin, (void)scratch;
    return -1;
#endif
}

// ---- embedding, argmax, transpose

typedef struct {
    const recur_f32_ops *ops;
    const float *table;
    const int32_t *ids;
    float *out;
    int64_t dim;
    float scale;
} embedding_ctx;

static void embedding_body(void *p, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const embedding_ctx *c = p;
    for (int64_t i = i0; i < i1; i++)
        c->ops->scale_copy(c->table + (int64_t)c->ids[i] * c->dim, c->scale, c->out + i * c->dim,
                           c->dim);
}

void recur_f32_embedding(const float *table, const int32_t *ids, float *out, int64_t n,
                         int64_t dim, float scale) {
    if (dim <= 0) return;
    embedding_ctx c = {.ops = ops(), .table = table, .ids = ids, .out = out, .dim = dim,
                       .scale = scale};
    recur_parallel_for(n, dim, embedding_body, &c);
}

typedef struct {
    const recur_f32_ops *ops;
    const float *x;
    int64_t n;
    int32_t *out;
} argmax_ctx;

static void argmax_body(void *p, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const argmax_ctx *c = p;
    c->ops->argmax(c->x + r0 * c->n, r1 - r0, c->n, c->out + r0);
}

void recur_f32_argmax(const float *x, int64_t rows, int64_t n, int32_t *out) {
    argmax_ctx c = {.ops = ops(), .x = x, .n = n, .out = out};
    recur_parallel_for(rows, n > 0 ? n : 1, argmax_body, &c);
}

// Source rows per transpose work item (a multiple of every SIMD tile height).
#define TRANSPOSE_ROWS ((int64_t)32)

typedef struct {
    const recur_f32_ops *ops;
    const float *x;
    float *y;
    int64_t rows, cols, row_blocks;
} transpose_ctx;

static void transpose_body(void *p, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const transpose_ctx *c = p;
    for (int64_t item = i0; item < i1; item++) {
        const int64_t b = item / c->row_blocks, r0 = (item % c->row_blocks) * TRANSPOSE_ROWS;
        const int64_t r1 = r0 + TRANSPOSE_ROWS < c->rows ? r0 + TRANSPOSE_ROWS : c->rows;
        const int64_t size = c->rows * c->cols;
        c->ops->transpose(c->x + b * size, c->y + b * size, c->rows, c->cols, r0, r1);
    }
}

void recur_f32_transpose(const float *x, float *y, int64_t batch, int64_t rows, int64_t cols) {
    if (batch <= 0 || rows <= 0 || cols <= 0) return;
    transpose_ctx c = {.ops = ops(), .x = x, .y = y, .rows = rows, .cols = cols,
                       .row_blocks = (rows + TRANSPOSE_ROWS - 1) / TRANSPOSE_ROWS};
    recur_parallel_for(batch * c.row_blocks, TRANSPOSE_ROWS * cols, transpose_body, &c);
}

// ---- conversions

typedef struct {
    const recur_f32_ops *ops;
    const void *x;
    void *y;
    int64_t n;
} convert_ctx;

static void f16_to_f32_body(void *p, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const convert_ctx *c = p;
    for (int64_t i = c0; i < c1; i++)
        c->ops->f16_to_f32((const uint16_t *)c->x + i * CHUNK, (float *)c->y + i * CHUNK,
                           chunk_len(i, c->n));
}

void recur_f16_to_f32(const uint16_t *x, float *y, int64_t n) {
    convert_ctx c = {.ops = ops(), .x = x, .y = y, .n = n};
    recur_parallel_for(chunks(n), CHUNK, f16_to_f32_body, &c);
}

static void f32_to_f16_body(void *p, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const convert_ctx *c = p;
    for (int64_t i = c0; i < c1; i++)
        c->ops->f32_to_f16((const float *)c->x + i * CHUNK, (uint16_t *)c->y + i * CHUNK,
                           chunk_len(i, c->n));
}

void recur_f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    convert_ctx c = {.ops = ops(), .x = x, .y = y, .n = n};
    recur_parallel_for(chunks(n), CHUNK, f32_to_f16_body, &c);
}

static void bf16_to_f32_body(void *p, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const convert_ctx *c = p;
    for (int64_t i = c0; i < c1; i++)
        c->ops->bf16_to_f32((const uint16_t *)c->x + i * CHUNK, (float *)c->y + i * CHUNK,
                            chunk_len(i, c->n));
}

void recur_bf16_to_f32(const uint16_t *x, float *y, int64_t n) {
    convert_ctx c = {.ops = ops(), .x = x, .y = y, .n = n};
    recur_parallel_for(chunks(n), CHUNK, bf16_to_f32_body, &c);
}

int64_t recur_f32_first_non_finite(const float *x, int64_t n) {
    // Exponent bits all ones: NaN or infinity. Blocks of 64 reduce without a branch per value
    // (the compiler vectorizes them); the index is looked for only in a block that has one.
    const uint32_t *bits = (const uint32_t *)x;
    for (int64_t start = 0; start < n; start += 64) {
        const int64_t end = start + 64 < n ? start + 64 : n;
        uint32_t any = 0;
        for (int64_t i = start; i < end; i++) any |= (uint32_t)((bits[i] & 0x7f800000u) == 0x7f800000u);
        if (any) {
            for (int64_t i = start; i < end; i++) {
                if ((bits[i] & 0x7f800000u) == 0x7f800000u) return i;
            }
        }
    }
    return -1;
}
