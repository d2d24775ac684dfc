// Attention with BF16 dot products, for CPUs with AVX-512 BF16 (Zen 4 and later, Sapphire Rapids).
//
// vdpbf16ps multiplies 16 pairs of bfloat16 and adds both products to 16 float32 sums: twice the
// multiply-adds of an FP32 FMA per instruction. Q K^T takes its pairs along the head dimension
// (q[2i], q[2i+1]) against (k[2i], k[2i+1]); P V along the keys, (p[2j], p[2j+1]) against
// (v[2j][d], v[2j+1][d]). Q, K, V and the softmax numerators are rounded to bfloat16 (nearest
// even), every sum and the softmax itself stay float32. The same item split and scratch as the FP32
// kernel; an item whose panels do not fit the scratch, or an odd head dimension, runs the FP32
// kernel instead. RoPE, when the arguments carry its tables, is applied to Q and K as they are
// packed (recur_attention_bf16 refuses shapes that would fall back, so the FP32 kernel never sees
// unrotated Q and K).
#pragma STDC FP_CONTRACT OFF

#include "../../f32_ops.h"

#if RECUR_X86
#include "attention_x86.h"

#define TB __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TB

// 16 floats (the first n of them; the rest read as 0) to 16 bfloat16 in 256 bits.
INLINE __m256i bf16x16(const float *x, int64_t n) {
    const __m512 v = _mm512_maskz_loadu_ps(recur_mask16(n), x);
    return (__m256i)_mm512_cvtneps_pbh(v);
}

// A row of D floats to D/2 pairs (D even).
INLINE void pack_pairs(const float *x, int64_t D, uint32_t *out) {
    for (int64_t d = 0; d < D; d += 16) {
        const int64_t n = D - d < 16 ? D - d : 16;
        _mm256_mask_storeu_epi16((uint16_t *)out + d, (__mmask16)((1u << n) - 1), bf16x16(x + d, n));
    }
}

// Row x at sequence position p to pairs, rotated first when there are tables (tmp: D floats).
INLINE void pack_row(const recur_attention_args *a, const float *x, int64_t p, int64_t D, float *tmp, uint32_t *out) {
    if (a->rope_cos) {
        recur_rope_head16(x, a->rope_cos + p * D, a->rope_sin + p * D, D, tmp);
        x = tmp;
    }
    pack_pairs(x, D, out);
}

// s[r, 0..16*NV) = scale * q2[r] . kt[:, 0..16*NV) for 8 query rows, pairs along the head dim.
INLINE void scores_8xn(const uint32_t *q2, int64_t d2, const uint32_t *kt, int64_t nkp, float *s, int64_t sp,
                       __m512 scale, const int NV) {
    __m512 c[8][2];
    for (int r = 0; r < 8; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (int64_t i = 0; i < d2; i++) {
        __m512bh k[2];
        for (int v = 0; v < NV; v++) k[v] = (__m512bh)_mm512_loadu_si512((const void *)(kt + i * nkp + 16 * v));
        for (int r = 0; r < 8; r++) {
            const __m512bh qv = (__m512bh)_mm512_set1_epi32((int)q2[r * d2 + i]);
            for (int v = 0; v < NV; v++) c[r][v] = _mm512_dpbf16_ps(c[r][v], qv, k[v]);
        }
    }
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(s + r * sp + 16 * v, _mm512_mul_ps(c[r][v], scale));
}

// acc[r, 0..16*NV) = sum_j p2[r, j] . vp[j, 0..16*NV) for 8 rows, pairs along the keys.
INLINE void pv_8xn(const uint32_t *p2, int64_t pp, const uint32_t *vp, int64_t dp, int64_t pairs, float *acc,
                   const int NV) {
    __m512 c[8][2];
    for (int r = 0; r < 8; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (int64_t j = 0; j < pairs; j++) {
        __m512bh x[2];
        for (int v = 0; v < NV; v++) x[v] = (__m512bh)_mm512_loadu_si512((const void *)(vp + j * dp + 16 * v));
        for (int r = 0; r < 8; r++) {
            const __m512bh pr = (__m512bh)_mm512_set1_epi32((int)p2[r * pp + j]);
            for (int v = 0; v < NV; v++) c[r][v] = _mm512_dpbf16_ps(c[r][v], pr, x[v]);
        }
    }
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(acc + r * dp + 16 * v, c[r][v]);
}

// K rows [0, S) into kt[D/2][nkp] (pair i of key t at kt[i * nkp + t]), keys S..nkp-1 zero. Eight
// keys at a time are converted into `rows8` and transposed as 32-bit words.
INLINE void pack_kt(const recur_attention_args *a, const float *k, int64_t stride, int64_t S, int64_t nkp, int64_t D,
                    uint32_t *kt, uint32_t *rows8, float *tmp) {
    const int64_t d2 = D / 2, full = S & ~(int64_t)7, d8 = d2 & ~(int64_t)7;
    for (int64_t t = 0; t < full; t += 8) {
        for (int r = 0; r < 8; r++) {
            if (t + r + RECUR_ATT_AHEAD < S) recur_attention_prefetch_row(k + (t + r + RECUR_ATT_AHEAD) * stride, D);
            pack_row(a, k + (t + r) * stride, t + r, D, tmp, rows8 + r * d2);
        }
        for (int64_t i = 0; i < d8; i += 8)
            recur_transpose8x8((const float *)(rows8 + i), d2, (float *)(kt + i * nkp + t), nkp);
        for (int64_t i = d8; i < d2; i++)
            for (int r = 0; r < 8; r++) kt[i * nkp + t + r] = rows8[r * d2 + i];
    }
    for (int64_t t = full; t < S; t++) {
        pack_row(a, k + t * stride, t, D, tmp, rows8);
        for (int64_t i = 0; i < d2; i++) kt[i * nkp + t] = rows8[i];
    }
    for (int64_t i = 0; i < d2; i++)
        for (int64_t t = S; t < nkp; t++) kt[i * nkp + t] = 0;
}

// V rows into vp[pairs][dp]: word d of pair j holds (v[2j][d], v[2j+1][d]); a missing last key and
// the columns past D are zero.
INLINE void pack_v(const float *v, int64_t stride, int64_t S, int64_t D, int64_t dp, uint32_t *vp) {
    const int64_t pairs = (S + 1) / 2;
    for (int64_t j = 0; j < pairs; j++) {
        const float *even = v + 2 * j * stride, *odd = even + stride;
        const int has_odd = 2 * j + 1 < S;
        if (2 * j + 2 + RECUR_ATT_AHEAD < S) recur_attention_prefetch_row(v + (2 * j + 2 + RECUR_ATT_AHEAD) * stride, D);
        for (int64_t d = 0; d < dp; d += 16) {
            const int64_t n = D - d < 16 ? (D - d > 0 ? D - d : 0) : 16;
            const __m256i a = bf16x16(even + d, n), b = has_odd ? bf16x16(odd + d, n) : _mm256_setzero_si256();
            // unpack interleaves within 128-bit lanes: lo = columns 0-3 and 8-11, hi = 4-7 and 12-15.
            const __m256i lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
            _mm256_storeu_si256((__m256i *)(vp + j * dp + d), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_storeu_si256((__m256i *)(vp + j * dp + d + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
        }
    }
}

// Floats the panels of an item of `rows` queries take after its score rows.
static int64_t panel_floats(int64_t S, int64_t D, int64_t rows) {
    const int64_t sp = (S + 15) & ~(int64_t)15, dp = (D + 15) & ~(int64_t)15, d2 = D / 2;
    return rows * d2 + rows * (sp / 2) + rows * dp + d2 * sp + (S + 1) / 2 * dp + 8 * d2 + dp;
}

int recur_attention_bf16_fits(int64_t seq, int64_t head_dim) {
    const int64_t rows = (recur_attention_max_rows(seq, head_dim) + 7) & ~(int64_t)7;
    return head_dim % 2 == 0 && rows <= recur_attention_score_rows(seq) &&
           panel_floats(seq, head_dim, rows) <= RECUR_ATTENTION_PANEL;
}

TB void recur_attention_bf16_avx512(const recur_attention_args *a, int64_t b, int64_t h, int64_t q0, int64_t q1,
                                    float *scratch) {
    const int64_t S = a->seq, H = a->heads, KV = a->kv_heads, D = a->head_dim;
    const int64_t stride = (H + 2 * KV) * D, kvh = h / (H / KV);
    const int64_t nq = q1 - q0, rows = (nq + 7) & ~(int64_t)7;
    const int64_t sp = (S + 15) & ~(int64_t)15, nkp = sp, dp = (D + 15) & ~(int64_t)15;
    const int64_t d2 = D / 2, pairs = (S + 1) / 2, pp = sp / 2;
    // scores [rows, sp] | q2 [rows, d2] | p2 [rows, pp] | acc [rows, dp] | kt [d2, nkp] | vp [pairs, dp]
    // | rows8 [8, d2] | tmp [dp]
    if (D % 2 != 0 || rows > recur_attention_score_rows(S) || panel_floats(S, D, rows) > RECUR_ATTENTION_PANEL) {
        recur_f32_attention_avx512(a, b, h, q0, q1, scratch);
        return;
    }
    float *scores = scratch;
    uint32_t *q2 = (uint32_t *)(scores + rows * sp);
    uint32_t *p2 = q2 + rows * d2;
    float *acc = (float *)(p2 + rows * pp);
    uint32_t *kt = (uint32_t *)(acc + rows * dp);
    uint32_t *vp = kt + d2 * nkp;
    uint32_t *rows8 = vp + pairs * dp;
    float *tmp = (float *)(rows8 + 8 * d2);

    const float *base = a->qkv + b * S * stride;
    const float *kb = base + (H + kvh) * D, *vb = base + (H + KV + kvh) * D;
    for (int64_t r = 0; r < nq; r++) pack_row(a, base + (q0 + r) * stride + h * D, q0 + r, D, tmp, q2 + r * d2);
    memset(q2 + nq * d2, 0, sizeof(uint32_t) * (size_t)((rows - nq) * d2));
    pack_kt(a, kb, stride, S, nkp, D, kt, rows8, tmp);

    const __m512 scale = _mm512_set1_ps(a->scale);
    for (int64_t r = 0; r < rows; r += 8) {
        int64_t t = 0;
        for (; t + 32 <= nkp; t += 32) scores_8xn(q2 + r * d2, d2, kt + t, nkp, scores + r * sp + t, sp, scale, 2);
        if (t < nkp) scores_8xn(q2 + r * d2, d2, kt + t, nkp, scores + r * sp + t, sp, scale, 1);
    }

    // Softmax numerators in float32, rounded to bfloat16 pairs; padding keys and rows take no weight.
    float inv[RECUR_ATTENTION_MAX_ROWS];
    for (int64_t r = 0; r < rows; r++) {
        float *row = scores + r * sp;
        if (r < nq) {
            inv[r] = 1.0f / recur_exp_shift_sum16(row, S, recur_row_max16(row, S));
            for (int64_t j = S; j < sp; j++) row[j] = 0;
        } else {
            memset(row, 0, sizeof(float) * (size_t)sp);
        }
        pack_pairs(row, sp, p2 + r * pp);
    }

    pack_v(vb, stride, S, D, dp, vp);
    for (int64_t r = 0; r < rows; r += 8) {
        int64_t d = 0;
        for (; d + 32 <= dp; d += 32) pv_8xn(p2 + r * pp, pp, vp + d, dp, pairs, acc + r * dp + d, 2);
        if (d < dp) pv_8xn(p2 + r * pp, pp, vp + d, dp, pairs, acc + r * dp + d, 1);
    }

    for (int64_t r = 0; r < nq; r++) {
        float *o = a->out + (b * S + q0 + r) * H * D + h * D;
        const __m512 vinv = _mm512_set1_ps(inv[r]);
        for (int64_t d = 0; d < D; d += 16) {
            const __mmask16 m = recur_mask16(D - d);
            _mm512_mask_storeu_ps(o + d, m, _mm512_mul_ps(_mm512_loadu_ps(acc + r * dp + d), vinv));
        }
    }
}

#endif // RECUR_X86
