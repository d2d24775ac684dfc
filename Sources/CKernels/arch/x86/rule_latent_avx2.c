// Attention under the prefix-LM mask for AVX2 + FMA, head_dim a multiple of 8 (rule_latent.c has
// the layout and the plain C version, which takes the other sizes). Per (sequence, head) the keys
// (values, for the backward pass) are packed transposed once, [head_dim, n rounded up to 8], with
// 8 x 8 register transposes; a query's scores are then head_dim broadcast multiply-adds over
// that panel, and the weighted sums of rows keep 32 columns in registers. The backward pass keeps
// every query's d scores and probabilities in scratch and sums dK and dV key by key in registers.
// Sums run in another order than the plain C version's, with FMA: the tests hold the two to a
// tolerance. Masked stores are slow on some cores (AMD microcodes them): whole vectors only.
#pragma STDC FP_CONTRACT OFF // FMA only where an intrinsic asks for it

#include "../../rule_latent.h"

#if RECUR_X86
#include "simd_x86.h"

#include <string.h>

#define T RECUR_TARGET_AVX2
#define INLINE static inline __attribute__((always_inline)) T

static int64_t round8(int64_t n) { return (n + 7) & ~(int64_t)7; }

// One head's q, k or v columns of a sequence's rows: the row of position j.
typedef struct {
    const float *in, *out;
    int64_t stride, out_stride, prefix;
} head_rows;

INLINE head_rows rows_of(const float *base, int64_t stride, int64_t offset, const recur_prefix_batch *b,
                         int64_t s) {
    return (head_rows){.in = base + b->input_row[s] * stride + offset,
                       .out = base + b->output_row[s] * stride + offset,
                       .stride = stride, .out_stride = b->output_step * stride, .prefix = b->prefix};
}

INLINE const float *row_at(const head_rows *r, int64_t j) {
    return j < r->prefix ? r->in + j * r->stride : r->out + (j - r->prefix) * r->out_stride;
}

// The same row of an output buffer (ctx, dqkv).
INLINE float *row_out(const head_rows *r, int64_t j) { return (float *)row_at(r, j); }

// The 8 x 8 transpose of v[0..7] in place (as recur_transpose8x8, on registers).
INLINE void transpose8(__m256 v[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    v[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    v[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    v[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    v[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    v[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    v[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    v[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// t[d][j] = row j's column d for j < n, zeros up to np (n rounded up to 8); `zero` holds D zeros.
INLINE void pack_transposed(float *t, const head_rows *r, int64_t n, int64_t np, int64_t D,
                            const float *zero) {
    for (int64_t j0 = 0; j0 < np; j0 += 8) {
        const float *src[8];
        for (int k = 0; k < 8; k++) src[k] = j0 + k < n ? row_at(r, j0 + k) : zero;
        for (int64_t d0 = 0; d0 < D; d0 += 8) {
            __m256 v[8];
            for (int k = 0; k < 8; k++) v[k] = _mm256_loadu_ps(src[k] + d0);
            transpose8(v);
            for (int k = 0; k < 8; k++) _mm256_storeu_ps(t + (d0 + k) * np + j0, v[k]);
        }
    }
}

// out[8 * (b0 + c)] = scale * (x . panel columns) for `count` (<= 4, a constant once inlined) blocks
// of 8 columns from block b0, even and odd d summed apart.
INLINE void panel_products(float *out, const float *x, const float *panel, int64_t np, int64_t b0,
                           int count, int64_t D, __m256 scale) {
    __m256 e[4], o[4];
    for (int c = 0; c < count; c++) e[c] = o[c] = _mm256_setzero_ps();
    const float *col = panel + b0 * 8;
    for (int64_t d = 0; d < D; d += 2) {
        const __m256 x0 = _mm256_broadcast_ss(x + d), x1 = _mm256_broadcast_ss(x + d + 1);
        for (int c = 0; c < count; c++) {
            e[c] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(col + d * np + 8 * c), e[c]);
            o[c] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(col + (d + 1) * np + 8 * c), o[c]);
        }
    }
    for (int c = 0; c < count; c++) _mm256_storeu_ps(out + (b0 + c) * 8, _mm256_mul_ps(_mm256_add_ps(e[c], o[c]), scale));
}

// out[j] = scale * (x . panel column j) for j < round8(seen).
INLINE void products(float *out, const float *x, const float *panel, int64_t np, int64_t seen,
                     int64_t D, __m256 scale) {
    const int64_t blocks = round8(seen) / 8;
    int64_t b0 = 0;
    for (; b0 + 4 <= blocks; b0 += 4) panel_products(out, x, panel, np, b0, 4, D, scale);
    switch (blocks - b0) {
    case 3: panel_products(out, x, panel, np, b0, 3, D, scale); break;
    case 2: panel_products(out, x, panel, np, b0, 2, D, scale); break;
    case 1: panel_products(out, x, panel, np, b0, 1, D, scale); break;
    default: break;
    }
}

// out[0..32) = sum_j w[j] * row_j[0..32) over j < count, even and odd j summed apart.
INLINE void weighted_rows32(float *out, const float *w, int64_t count, const head_rows *r,
                            int64_t d0) {
    __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
    int64_t j = 0;
    for (; j + 2 <= count; j += 2) {
        const float *a = row_at(r, j) + d0, *b = row_at(r, j + 1) + d0;
        const __m256 wa = _mm256_broadcast_ss(w + j), wb = _mm256_broadcast_ss(w + j + 1);
        e0 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a), e0);
        e1 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a + 8), e1);
        e2 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a + 16), e2);
        e3 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a + 24), e3);
        o0 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(b), o0);
        o1 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(b + 8), o1);
        o2 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(b + 16), o2);
        o3 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(b + 24), o3);
    }
    if (j < count) {
        const float *a = row_at(r, j) + d0;
        const __m256 wa = _mm256_broadcast_ss(w + j);
        e0 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a), e0);
        e1 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a + 8), e1);
        e2 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a + 16), e2);
        e3 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(a + 24), e3);
    }
    _mm256_storeu_ps(out, _mm256_add_ps(e0, o0));
    _mm256_storeu_ps(out + 8, _mm256_add_ps(e1, o1));
    _mm256_storeu_ps(out + 16, _mm256_add_ps(e2, o2));
    _mm256_storeu_ps(out + 24, _mm256_add_ps(e3, o3));
}

// out[0..D) = sum_j w[j] * row_j over j < count: 32 columns at a time, then 8.
INLINE void weighted_rows(float *out, const float *w, int64_t count, const head_rows *r, int64_t D) {
    int64_t d0 = 0;
    for (; d0 + 32 <= D; d0 += 32) weighted_rows32(out + d0, w, count, r, d0);
    for (; d0 < D; d0 += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t j = 0; j < count; j++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w + j), _mm256_loadu_ps(row_at(r, j) + d0), acc);
        _mm256_storeu_ps(out + d0, acc);
    }
}

// Softmax of row[0..seen) in place; the row holds whole vectors (seen rounded up to 8), whose
// lanes past seen end as zeros.
INLINE void softmax_row(float *row, int64_t seen) {
    __m256 top = _mm256_set1_ps(-INFINITY);
    for (int64_t j0 = 0; j0 < seen; j0 += 8) {
        const __m256 inside = _mm256_castsi256_ps(recur_mask8(seen - j0));
        const __m256 v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_loadu_ps(row + j0), inside);
        _mm256_storeu_ps(row + j0, v);
        top = _mm256_max_ps(v, top);
    }
    const __m256 m = _mm256_set1_ps(recur_hmax8(top));
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j0 = 0; j0 < seen; j0 += 8) {
        const __m256 e = recur_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j0), m));
        _mm256_storeu_ps(row + j0, e);
        sum = _mm256_add_ps(sum, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / recur_hsum8(sum));
    for (int64_t j0 = 0; j0 < seen; j0 += 8) _mm256_storeu_ps(row + j0, _mm256_mul_ps(_mm256_loadu_ps(row + j0), inv));
}

T void recur_prefix_attention_avx2(void *args, int64_t i0, int64_t i1, int thread) {
    const recur_prefix_attention_args *c = args;
    const recur_prefix_batch *b = c->batch;
    const int64_t D = c->head_dim, H = c->heads, width = H * D, P = b->positions, np = round8(P);
    float *kt = c->scratch + (int64_t)thread * c->scratch_per_thread, *row = kt + D * np, *zero = row + np;
    memset(zero, 0, (size_t)D * sizeof(float));
    const __m256 scale = _mm256_set1_ps(c->scale);
    for (int64_t item = i0; item < i1; item++) {
        const int64_t s = item / H, h = item % H, n = b->prefix + b->output_count[s];
        if (c->query_from >= n) continue;
        const head_rows q = rows_of(c->qkv, c->qkv_stride, h * D, b, s);
        const head_rows k = rows_of(c->qkv, c->qkv_stride, width + h * D, b, s);
        const head_rows v = rows_of(c->qkv, c->qkv_stride, 2 * width + h * D, b, s);
        const head_rows ctx = rows_of(c->ctx, c->ctx_stride, h * D, b, s);
        pack_transposed(kt, &k, n, round8(n), D, zero);
        for (int64_t i = c->query_from; i < n; i++) {
            const int64_t seen = recur_prefix_visible(b, i);
            products(row, row_at(&q, i), kt, round8(n), seen, D, scale);
            softmax_row(row, seen);
            if (c->probs) memcpy(c->probs + ((s * H + h) * P + i) * P, row, (size_t)seen * sizeof(float));
            weighted_rows(row_out(&ctx, i), row, seen, &v, D);
        }
    }
}

// dK and dV rows of keys j and j + 1 (pair != 0) or j alone: sums over the queries i in
// [first, last) of ds[i][j] q_i and p[i][j] dc_i (ds and p: rows of np, zero where i does not see
// j), 32 columns at a time in registers.
INLINE void key_gradients(const float *ds, const float *p, int64_t np, int64_t first, int64_t last,
                          int64_t j, int pair, const head_rows *q, const head_rows *dc,
                          float *dk0, float *dk1, int64_t width, int64_t D) {
    for (int64_t d0 = 0; d0 < D; d0 += 32) {
        const int64_t vectors = D - d0 < 32 ? (D - d0) / 8 : 4;
        for (int which = 0; which < 2; which++) { // 0: dk from ds and q; 1: dv from p and dc
            const float *w = which ? p : ds;
            const head_rows *x = which ? dc : q;
            __m256 a[4], b2[4];
            for (int u = 0; u < 4; u++) a[u] = b2[u] = _mm256_setzero_ps();
            for (int64_t i = first; i < last; i++) {
                const float *xi = row_at(x, i) + d0;
                const __m256 wa = _mm256_broadcast_ss(w + (i - first) * np + j);
                const __m256 wb = _mm256_broadcast_ss(w + (i - first) * np + j + pair);
                for (int u = 0; u < 4; u++) {
                    if (u >= vectors) break;
                    const __m256 xv = _mm256_loadu_ps(xi + 8 * u);
                    a[u] = _mm256_fmadd_ps(wa, xv, a[u]);
                    b2[u] = _mm256_fmadd_ps(wb, xv, b2[u]);
                }
            }
            float *o0 = dk0 + which * width + d0, *o1 = dk1 + which * width + d0;
            for (int u = 0; u < vectors; u++) {
                _mm256_storeu_ps(o0 + 8 * u, a[u]);
                if (pair) _mm256_storeu_ps(o1 + 8 * u, b2[u]);
            }
        }
    }
}

T void recur_prefix_attention_backward_avx2(void *args, int64_t i0, int64_t i1, int thread) {
    const recur_prefix_attention_args *c = args;
    const recur_prefix_batch *b = c->batch;
    const int64_t D = c->head_dim, H = c->heads, width = H * D, P = b->positions, np = round8(P);
    float *vt = c->scratch + (int64_t)thread * c->scratch_per_thread, *ds = vt + D * np;
    float *p = ds + P * np, *zero = p + P * np;
    memset(zero, 0, (size_t)D * sizeof(float));
    const __m256 scale = _mm256_set1_ps(c->scale), unit = _mm256_set1_ps(1.0f);
    for (int64_t item = i0; item < i1; item++) {
        const int64_t s = item / H, h = item % H, n = b->prefix + b->output_count[s];
        const int64_t qf = c->query_from < n ? c->query_from : n, stride = round8(n);
        const head_rows q = rows_of(c->qkv, c->qkv_stride, h * D, b, s);
        const head_rows k = rows_of(c->qkv, c->qkv_stride, width + h * D, b, s);
        const head_rows v = rows_of(c->qkv, c->qkv_stride, 2 * width + h * D, b, s);
        const head_rows dc = rows_of(c->dctx, c->dctx_stride, h * D, b, s);
        const head_rows g = rows_of(c->dqkv, c->dqkv_stride, h * D, b, s);
        for (int64_t i = 0; i < qf; i++) memset(row_out(&g, i), 0, (size_t)D * sizeof(float));
        pack_transposed(vt, &v, n, stride, D, zero);
        // Per query: dP = dC V^T, dS = P * (dP - rowsum(P * dP)) * scale, dq = dS K; the query's
        // dS and P rows kept (zero past the keys it sees) for the keys' sums below.
        for (int64_t i = qf; i < n; i++) {
            const int64_t seen = recur_prefix_visible(b, i);
            const float *pr = c->probs_in + ((s * H + h) * P + i) * P;
            float *dsi = ds + (i - qf) * stride, *pi = p + (i - qf) * stride;
            products(dsi, row_at(&dc, i), vt, stride, seen, D, unit);
            __m256 dot = _mm256_setzero_ps();
            for (int64_t j0 = 0; j0 < stride; j0 += 8) {
                const __m256 pv = _mm256_maskload_ps(pr + j0, recur_mask8(seen - j0));
                _mm256_storeu_ps(pi + j0, pv);
                if (j0 < seen) dot = _mm256_fmadd_ps(pv, _mm256_loadu_ps(dsi + j0), dot);
            }
            const __m256 total = _mm256_set1_ps(recur_hsum8(dot));
            for (int64_t j0 = 0; j0 < stride; j0 += 8) {
                const __m256 dp = j0 < seen ? _mm256_loadu_ps(dsi + j0) : _mm256_setzero_ps();
                _mm256_storeu_ps(dsi + j0, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(pi + j0), _mm256_sub_ps(dp, total)), scale));
            }
            weighted_rows(row_out(&g, i), dsi, seen, &k, D);
        }
        // Per key: dk_j = sum_i dS[i][j] q_i, dv_j = sum_i P[i][j] dc_i over the queries that see
        // j (input keys: every query; output key j: the queries from position j on).
        for (int64_t j = 0; j < n; j += 2) {
            const int pair = j + 1 < n;
            const int64_t first = j < b->prefix ? qf : (j > qf ? j : qf);
            float *dk0 = row_out(&g, j) + width, *dk1 = pair ? row_out(&g, j + 1) + width : dk0;
            key_gradients(ds + (first - qf) * stride, p + (first - qf) * stride, stride, first, n, j, pair, &q, &dc, dk0, dk1, width, D);
        }
    }
}

#endif // RECUR_X86
