// Attention for AVX2 + FMA: the blocked path of attention_x86.h with 4x16 register tiles, and an
// unblocked path for very wide heads.
#pragma STDC FP_CONTRACT OFF

#include "../../f32_ops.h"

#if RECUR_X86
#include "attention_x86.h"

#define T RECUR_TARGET_AVX2
#define INLINE static inline __attribute__((always_inline)) T

// o[0, nd) = (sum_j p_j * v_j[d0 + ...]) * inv for one chunk of at most 64 output dims held in
// registers over the whole key loop.
static T void attention_values_chunk(const float *scores, const float *vb, int64_t S,
                                     int64_t stride, int64_t nd, float inv, float *o) {
    __m256 acc[8];
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    if (nd == 64) {
        for (int64_t j = 0; j < S; j++) {
            const __m256 p = _mm256_broadcast_ss(scores + j);
            const float *v = vb + j * stride;
            for (int t = 0; t < 8; t++) acc[t] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8 * t), acc[t]);
        }
    } else {
        __m256i m[8];
        for (int t = 0; t < 8; t++) m[t] = recur_mask8(nd - 8 * t);
        for (int64_t j = 0; j < S; j++) {
            const __m256 p = _mm256_broadcast_ss(scores + j);
            const float *v = vb + j * stride;
            for (int t = 0; t < 8 && 8 * t < nd; t++)
                acc[t] = _mm256_fmadd_ps(p, _mm256_maskload_ps(v + 8 * t, m[t]), acc[t]);
        }
    }
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int t = 0; t < 8 && 8 * t < nd; t++)
        _mm256_maskstore_ps(o + 8 * t, recur_mask8(nd - 8 * t), _mm256_mul_ps(acc[t], vinv));
}

// Unblocked path for heads too wide for the panel: one query at a time, straight from qkv.
static T void attention_rows(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                             int64_t q1, float *scores) {
    const int64_t S = a->seq, H = a->heads, KV = a->kv_heads, D = a->head_dim;
    const int64_t stride = (H + 2 * KV) * D;
    const int64_t kvh = h / (H / KV);
    const float *base = a->qkv + b * S * stride;
    const float *kb = base + (H + kvh) * D, *vb = base + (H + KV + kvh) * D;
    const int64_t dfull = D & ~(int64_t)7;
    const __m256i dmask = recur_mask8(D - dfull);
    const __m256 vscale = _mm256_set1_ps(a->scale);
    for (int64_t i = q0; i < q1; i++) {
        const float *q = base + i * stride + h * D;
        // Scores, eight keys at a time: one accumulator per key, reduced together at the end.
        __m256 vmax = _mm256_set1_ps(-INFINITY);
        int64_t j = 0;
        for (; j + 8 <= S; j += 8) {
            const float *k = kb + j * stride;
            __m256 acc[8];
            for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
            for (int64_t d = 0; d < dfull; d += 8) {
                const __m256 qv = _mm256_loadu_ps(q + d);
                for (int t = 0; t < 8; t++)
                    acc[t] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + t * stride + d), acc[t]);
            }
            if (dfull < D) {
                const __m256 qv = _mm256_maskload_ps(q + dfull, dmask);
                for (int t = 0; t < 8; t++)
                    acc[t] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k + t * stride + dfull, dmask), acc[t]);
            }
            const __m256 s = _mm256_mul_ps(
                recur_reduce8x8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]), vscale);
            _mm256_storeu_ps(scores + j, s);
            vmax = _mm256_max_ps(s, vmax);
        }
        float m = recur_hmax8(vmax);
        for (; j < S; j++) {
            const float *k = kb + j * stride;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t d = 0; d < dfull; d += 8)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), acc);
            if (dfull < D)
                acc = _mm256_fmadd_ps(_mm256_maskload_ps(q + dfull, dmask),
                                      _mm256_maskload_ps(k + dfull, dmask), acc);
            scores[j] = recur_hsum8(acc) * a->scale;
            if (scores[j] > m) m = scores[j];
        }
        const float inv = 1.0f / recur_exp_shift_sum8(scores, S, m);
        float *o = a->out + (b * S + i) * H * D + h * D;
        for (int64_t d0 = 0; d0 < D; d0 += 64)
            attention_values_chunk(scores, vb + d0, S, stride, D - d0 < 64 ? D - d0 : 64, inv, o + d0);
    }
}


// s[r, 0..16) = scale * q[r] . kt[:, 0..16) for 4 query rows; kt is a K^T tile with row stride nkp.
INLINE void scores_4x16(const float *q, int64_t dp, const float *kt, int64_t nkp, int64_t D,
                        float *s, int64_t sp, __m256 scale) {
    __m256 c[4][2];
    for (int r = 0; r < 4; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d++) {
        const __m256 k0 = _mm256_loadu_ps(kt + d * nkp), k1 = _mm256_loadu_ps(kt + d * nkp + 8);
        for (int r = 0; r < 4; r++) {
            const __m256 qv = _mm256_broadcast_ss(q + r * dp + d);
            c[r][0] = _mm256_fmadd_ps(qv, k0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(qv, k1, c[r][1]);
        }
    }
    for (int r = 0; r < 4; r++) {
        _mm256_storeu_ps(s + r * sp, _mm256_mul_ps(c[r][0], scale));
        _mm256_storeu_ps(s + r * sp + 8, _mm256_mul_ps(c[r][1], scale));
    }
}

// acc[r, 0..16) += sum_t p[r, t] * v[t, 0..16) for 4 rows over nk keys (v rows dp apart).
INLINE void pv_4x16(const float *p, int64_t sp, const float *v, int64_t dp, int64_t nk,
                    float *acc) {
    __m256 c[4][2];
    for (int r = 0; r < 4; r++) {
        c[r][0] = _mm256_loadu_ps(acc + r * dp);
        c[r][1] = _mm256_loadu_ps(acc + r * dp + 8);
    }
    for (int64_t t = 0; t < nk; t++) {
        const __m256 v0 = _mm256_loadu_ps(v + t * dp), v1 = _mm256_loadu_ps(v + t * dp + 8);
        for (int r = 0; r < 4; r++) {
            const __m256 pr = _mm256_broadcast_ss(p + r * sp + t);
            c[r][0] = _mm256_fmadd_ps(pr, v0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(pr, v1, c[r][1]);
        }
    }
    for (int r = 0; r < 4; r++) {
        _mm256_storeu_ps(acc + r * dp, c[r][0]);
        _mm256_storeu_ps(acc + r * dp + 8, c[r][1]);
    }
}

T void recur_f32_attention_avx2(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                                int64_t q1, float *scratch) {
    recur_attention_layout l;
    if (!recur_attention_layout_make(a, q1 - q0, scratch, &l)) {
        attention_rows(a, b, h, q0, q1, scratch);
        return;
    }
    const int64_t S = a->seq, H = a->heads, KV = a->kv_heads, D = a->head_dim;
    const int64_t stride = (H + 2 * KV) * D;
    const int64_t kvh = h / (H / KV);
    const float *base = a->qkv + b * S * stride;
    const float *kb = base + (H + kvh) * D, *vb = base + (H + KV + kvh) * D;
    const int64_t nq = q1 - q0, rows = (nq + 3) & ~(int64_t)3;
    recur_attention_pack_q(&l, base + q0 * stride + h * D, stride, nq, D);

    const __m256 scale = _mm256_set1_ps(a->scale);
    for (int64_t j0 = 0; j0 < S; j0 += l.tile) {
        const int64_t nk = S - j0 < l.tile ? S - j0 : l.tile, nkp = (nk + 15) & ~(int64_t)15;
        recur_attention_pack_kt(&l, kb + j0 * stride, stride, nk, nkp, D);
        for (int64_t r = 0; r < rows; r += 4)
            for (int64_t t = 0; t < nkp; t += 16)
                scores_4x16(l.q + r * l.dp, l.dp, l.panel + t, nkp, D, l.scores + r * l.sp + j0 + t, l.sp, scale);
    }

    float inv[RECUR_ATTENTION_MAX_ROWS];
    for (int64_t r = 0; r < rows; r++) {
        float *row = l.scores + r * l.sp;
        for (int64_t j = S; j < l.sp; j++) row[j] = 0; // padding keys take no weight
        if (r < nq) inv[r] = 1.0f / recur_exp_shift_sum8(row, S, recur_row_max8(row, S));
    }

    for (int64_t j0 = 0; j0 < S; j0 += l.tile) {
        const int64_t nk = S - j0 < l.tile ? S - j0 : l.tile;
        recur_attention_pack_v(&l, vb + j0 * stride, stride, nk, D);
        for (int64_t r = 0; r < rows; r += 4)
            for (int64_t d = 0; d < l.dp; d += 16)
                pv_4x16(l.scores + r * l.sp + j0, l.sp, l.panel + d, l.dp, nk, l.acc + r * l.dp + d);
    }

    for (int64_t r = 0; r < nq; r++) {
        float *o = a->out + (b * S + q0 + r) * H * D + h * D;
        const float *acc = l.acc + r * l.dp;
        const __m256 vinv = _mm256_set1_ps(inv[r]);
        for (int64_t d = 0; d < D; d += 8) {
            const __m256i m = recur_mask8(D - d);
            _mm256_maskstore_ps(o + d, m, _mm256_mul_ps(_mm256_loadu_ps(acc + d), vinv));
        }
    }
}

#endif // RECUR_X86
