// Attention for AVX-512: the blocked path of attention_x86.h with 8x32 register tiles (8x16 at a
// ragged end), and an unblocked path for very wide heads.
#pragma STDC FP_CONTRACT OFF

#include "../../f32_ops.h"

#if RECUR_X86
#include "attention_x86.h"

#define T RECUR_TARGET_AVX512
#define INLINE static inline __attribute__((always_inline)) T

// Sum of the 16 lanes folded to 8 (for the 8-key reduction).
static T __m256 fold16(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// o[0, nd) for a chunk of at most 64 output dims; even and odd keys accumulate separately so
// eight FMA chains are in flight.
static T void attention_values_chunk(const float *scores, const float *vb, int64_t S,
                                     int64_t stride, int64_t nd, float inv, float *o) {
    __mmask16 m[4];
    __m512 ae[4], ao[4];
    for (int t = 0; t < 4; t++) {
        m[t] = recur_mask16(nd - 16 * t > 0 ? nd - 16 * t : 0);
        ae[t] = _mm512_setzero_ps();
        ao[t] = _mm512_setzero_ps();
    }
    int64_t j = 0;
    for (; j + 2 <= S; j += 2) {
        const __m512 pe = _mm512_set1_ps(scores[j]), po = _mm512_set1_ps(scores[j + 1]);
        const float *ve = vb + j * stride, *vo = ve + stride;
        for (int t = 0; t < 4; t++) {
            ae[t] = _mm512_fmadd_ps(pe, _mm512_maskz_loadu_ps(m[t], ve + 16 * t), ae[t]);
            ao[t] = _mm512_fmadd_ps(po, _mm512_maskz_loadu_ps(m[t], vo + 16 * t), ao[t]);
        }
    }
    if (j < S) {
        const __m512 pe = _mm512_set1_ps(scores[j]);
        const float *ve = vb + j * stride;
        for (int t = 0; t < 4; t++)
            ae[t] = _mm512_fmadd_ps(pe, _mm512_maskz_loadu_ps(m[t], ve + 16 * t), ae[t]);
    }
    const __m512 vinv = _mm512_set1_ps(inv);
    for (int t = 0; t < 4; t++)
        _mm512_mask_storeu_ps(o + 16 * t, m[t], _mm512_mul_ps(_mm512_add_ps(ae[t], ao[t]), vinv));
}

// Unblocked path for heads too wide for the panel: one query at a time, straight from qkv.
static T void attention_rows(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
                               int64_t q1, float *scores) {
    const int64_t S = a->seq, H = a->heads, KV = a->kv_heads, D = a->head_dim;
    const int64_t stride = (H + 2 * KV) * D;
    const int64_t kvh = h / (H / KV);
    const float *base = a->qkv + b * S * stride;
    const float *kb = base + (H + kvh) * D, *vb = base + (H + KV + kvh) * D;
    const __m256 vscale = _mm256_set1_ps(a->scale);
    for (int64_t i = q0; i < q1; i++) {
        const float *q = base + i * stride + h * D;
        __m256 vmax = _mm256_set1_ps(-INFINITY);
        int64_t j = 0;
        for (; j + 8 <= S; j += 8) {
            const float *k = kb + j * stride;
            __m512 acc[8];
            for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
            for (int64_t d = 0; d < D; d += 16) {
                const __mmask16 m = recur_mask16(D - d);
                const __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
                for (int t = 0; t < 8; t++)
                    acc[t] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k + t * stride + d), acc[t]);
            }
            const __m256 s = _mm256_mul_ps(
                recur_reduce8x8(fold16(acc[0]), fold16(acc[1]), fold16(acc[2]), fold16(acc[3]),
                                fold16(acc[4]), fold16(acc[5]), fold16(acc[6]), fold16(acc[7])),
                vscale);
            _mm256_storeu_ps(scores + j, s);
            vmax = _mm256_max_ps(s, vmax);
        }
        float mx = recur_hmax8(vmax);
        for (; j < S; j++) {
            const float *k = kb + j * stride;
            __m512 acc = _mm512_setzero_ps();
            for (int64_t d = 0; d < D; d += 16) {
                const __mmask16 m = recur_mask16(D - d);
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), _mm512_maskz_loadu_ps(m, k + d), acc);
            }
            scores[j] = _mm512_reduce_add_ps(acc) * a->scale;
            if (scores[j] > mx) mx = scores[j];
        }
        const float inv = 1.0f / recur_exp_shift_sum16(scores, S, mx);
        float *o = a->out + (b * S + i) * H * D + h * D;
        for (int64_t d0 = 0; d0 < D; d0 += 64)
            attention_values_chunk(scores, vb + d0, S, stride, D - d0 < 64 ? D - d0 : 64, inv, o + d0);
    }
}


// s[r, 0..16*NV) = scale * q[r] . kt[:, 0..16*NV) for 8 query rows (kt row stride nkp).
INLINE void scores_8xn(const float *q, int64_t dp, const float *kt, int64_t nkp, int64_t D,
                       float *s, int64_t sp, __m512 scale, const int NV) {
    __m512 c[8][2];
    for (int r = 0; r < 8; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d++) {
        __m512 k[2];
        for (int v = 0; v < NV; v++) k[v] = _mm512_loadu_ps(kt + d * nkp + 16 * v);
        for (int r = 0; r < 8; r++) {
            const __m512 qv = _mm512_set1_ps(q[r * dp + d]);
            for (int v = 0; v < NV; v++) c[r][v] = _mm512_fmadd_ps(qv, k[v], c[r][v]);
        }
    }
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(s + r * sp + 16 * v, _mm512_mul_ps(c[r][v], scale));
}

// acc[r, 0..16*NV) += sum_t p[r, t] * v[t, 0..16*NV) for 8 rows over nk keys.
INLINE void pv_8xn(const float *p, int64_t sp, const float *vt, int64_t dp, int64_t nk,
                   float *acc, const int NV) {
    __m512 c[8][2];
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < NV; v++) c[r][v] = _mm512_loadu_ps(acc + r * dp + 16 * v);
    for (int64_t t = 0; t < nk; t++) {
        __m512 x[2];
        for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_ps(vt + t * dp + 16 * v);
        for (int r = 0; r < 8; r++) {
            const __m512 pr = _mm512_set1_ps(p[r * sp + t]);
            for (int v = 0; v < NV; v++) c[r][v] = _mm512_fmadd_ps(pr, x[v], c[r][v]);
        }
    }
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(acc + r * dp + 16 * v, c[r][v]);
}

T void recur_f32_attention_avx512(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0,
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
    const int64_t nq = q1 - q0, rows = l.rows;
    recur_attention_pack_q(&l, base + q0 * stride + h * D, stride, nq, D);

    const __m512 scale = _mm512_set1_ps(a->scale);
    for (int64_t j0 = 0; j0 < S; j0 += l.tile) {
        const int64_t nk = S - j0 < l.tile ? S - j0 : l.tile, nkp = (nk + 15) & ~(int64_t)15;
        recur_attention_pack_kt(&l, kb + j0 * stride, stride, nk, nkp, D);
        for (int64_t r = 0; r < rows; r += 8) {
            int64_t t = 0;
            for (; t + 32 <= nkp; t += 32)
                scores_8xn(l.q + r * l.dp, l.dp, l.panel + t, nkp, D, l.scores + r * l.sp + j0 + t, l.sp, scale, 2);
            if (t < nkp)
                scores_8xn(l.q + r * l.dp, l.dp, l.panel + t, nkp, D, l.scores + r * l.sp + j0 + t, l.sp, scale, 1);
        }
    }

    float inv[RECUR_ATTENTION_MAX_ROWS];
    for (int64_t r = 0; r < rows; r++) {
        float *row = l.scores + r * l.sp;
        for (int64_t j = S; j < l.sp; j++) row[j] = 0; // padding keys take no weight
        if (r < nq) inv[r] = 1.0f / recur_exp_shift_sum16(row, S, recur_row_max16(row, S));
    }

    for (int64_t j0 = 0; j0 < S; j0 += l.tile) {
        const int64_t nk = S - j0 < l.tile ? S - j0 : l.tile;
        recur_attention_pack_v(&l, vb + j0 * stride, stride, nk, D);
        for (int64_t r = 0; r < rows; r += 8) {
            int64_t d = 0;
            for (; d + 32 <= l.dp; d += 32)
                pv_8xn(l.scores + r * l.sp + j0, l.sp, l.panel + d, l.dp, nk, l.acc + r * l.dp + d, 2);
            if (d < l.dp)
                pv_8xn(l.scores + r * l.sp + j0, l.sp, l.panel + d, l.dp, nk, l.acc + r * l.dp + d, 1);
        }
    }

    for (int64_t r = 0; r < nq; r++) {
        float *o = a->out + (b * S + q0 + r) * H * D + h * D;
        const float *acc = l.acc + r * l.dp;
        const __m512 vinv = _mm512_set1_ps(inv[r]);
        for (int64_t d = 0; d < D; d += 16) {
            const __mmask16 m = recur_mask16(D - d);
            _mm512_mask_storeu_ps(o + d, m, _mm512_mul_ps(_mm512_loadu_ps(acc + d), vinv));
        }
    }
}

#endif // RECUR_X86
