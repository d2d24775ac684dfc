// Small x86 SIMD helpers shared by the AVX2 and AVX-512 kernel files: tail masks, horizontal
// reductions and a polynomial exp. All static inline with their own target attribute, so they
// inline into any function of the same or a wider target.
#ifndef RECUR_SIMD_X86_H
#define RECUR_SIMD_X86_H

#include "../../f32_ops.h" // recur_internal.h, and the GELU constants

#include <immintrin.h>
#include <math.h>

// Lanes [0, n) set, for n in 0...8.
static inline RECUR_TARGET_AVX2 __m256i recur_mask8(int64_t n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
}

// Lanes [0, n) set (n <= 0 gives none, n >= 16 all).
static inline RECUR_TARGET_AVX512 __mmask16 recur_mask16(int64_t n) {
    if (n <= 0) return 0;
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

static inline RECUR_TARGET_AVX2 float recur_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Lane maximum; NaN lanes never win (the vector max keeps its second operand on NaN).
static inline RECUR_TARGET_AVX2 float recur_hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    m = _mm_max_ps(_mm_movehl_ps(m, m), m);
    m = _mm_max_ss(_mm_movehdup_ps(m), m);
    return _mm_cvtss_f32(m);
}

// The 8 lane sums of a0...a7, in that order, as one vector.
static inline RECUR_TARGET_AVX2 __m256 recur_reduce8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3,
                                                      __m256 a4, __m256 a5, __m256 a6,
                                                      __m256 a7) {
    __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
    __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
    t0 = _mm256_hadd_ps(t0, t1); // a0..a3 partial sums: low half lanes 0-3, high half lanes 4-7
    t2 = _mm256_hadd_ps(t2, t3); // a4..a7
    return _mm256_add_ps(_mm256_permute2f128_ps(t0, t2, 0x20), _mm256_permute2f128_ps(t0, t2, 0x31));
}

// exp(x) = 2^n * e^r with n = round(x / ln2) and |r| <= ln2/2 (Cody-Waite split of ln2), e^r by
// its degree-7 Taylor polynomial (truncation below 1e-8 relative) in Horner form with FMA.
// Measured against double exp in the tests: at most 2 ulp over the float range, exact for
// infinities, NaN in gives NaN out, underflow into subnormals rounds once.
#define RECUR_EXP_LO (-104.0f) // below: the result rounds to +0
#define RECUR_EXP_HI 88.8f     // above: the result overflows to +inf
#define RECUR_EXP_LOG2E 1.44269502f
#define RECUR_EXP_LN2_HI 0.693359375f // 9 significant bits: n * LN2_HI is exact
#define RECUR_EXP_LN2_LO (-2.12194442e-4f)
#define RECUR_EXP_C3 0.166666672f   // 1/3!
#define RECUR_EXP_C4 0.0416666679f  // 1/4!
#define RECUR_EXP_C5 0.00833333377f // 1/5!
#define RECUR_EXP_C6 0.00138888892f // 1/6!
#define RECUR_EXP_C7 0.000198412701f // 1/7!

static inline RECUR_TARGET_AVX2 __m256 recur_exp8(__m256 x) {
    // max/min return their second operand on NaN, so a NaN x survives the clamp.
    x = _mm256_min_ps(_mm256_set1_ps(RECUR_EXP_HI), _mm256_max_ps(_mm256_set1_ps(RECUR_EXP_LO), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(RECUR_EXP_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(RECUR_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(RECUR_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(RECUR_EXP_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(RECUR_EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(RECUR_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(RECUR_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(RECUR_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    // 2^n as two normal factors 2^n1 * 2^n2 (n in -150...129): p * 2^n1 is exact, the second
    // product rounds once, also into the subnormal range or to infinity.
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

// The same steps as recur_exp8 (so the same value for every input), 16 lanes; scalef does the
// 2^n scaling with a single rounding.
static inline RECUR_TARGET_AVX512 __m512 recur_exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(RECUR_EXP_HI), _mm512_max_ps(_mm512_set1_ps(RECUR_EXP_LO), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(RECUR_EXP_LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(RECUR_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(RECUR_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(RECUR_EXP_C7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(RECUR_EXP_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(RECUR_EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(RECUR_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(RECUR_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

// GELU (the erf form) of 8 lanes, and its slope when `slope` is not NULL. With a = x / sqrt 2,
// 1 + erf(a) comes from erf(a) = a P(a^2) for -0.5 < a < 1, from erfc(|a|) = exp(-a^2) Q(t),
// t = 1 / (1 + |a| / 2), elsewhere (2 - erfc for a >= 1, erfc itself for a <= -0.5, so there is no
// cancellation for negative x). P (degree 6 in a^2) and Q (degree 9 in t, fitted over
// 0.5 <= |a| <= 9.5; erfc(9.5) is below the smallest normal float) are within 1e-9 relative of
// erf(a) / a and erfc(a) exp(a^2); exp(-a^2) takes the rounding error of a^2 into account
// (a^2 = hi + lo exactly, exp(-hi) (1 - lo)), and is 0 from |a| = RECUR_GELU_A_MAX on. The
// slope's pdf, exp(-x^2 / 2) / sqrt(2 pi), reuses exp(-a^2). Infinities and NaN give what the
// scalar formulas give: GELU(inf) = inf, GELU(-inf) = NaN (-inf * 0), NaN slopes at both.
#define RECUR_GELU_A_MAX 10.5f // -10.5^2 is below RECUR_EXP_LO: exp gives 0
#define RECUR_GELU_P0 1.12837911f
#define RECUR_GELU_P1 (-0.37612626f)
#define RECUR_GELU_P2 0.112835854f
#define RECUR_GELU_P3 (-0.0268538296f)
#define RECUR_GELU_P4 0.00518835802f
#define RECUR_GELU_P5 (-0.000801043527f)
#define RECUR_GELU_P6 7.85459997e-05f
#define RECUR_GELU_Q0 4.21363711e-06f
#define RECUR_GELU_Q1 0.281967789f
#define RECUR_GELU_Q2 0.283771962f
#define RECUR_GELU_Q3 0.234068915f
#define RECUR_GELU_Q4 0.23815304f
#define RECUR_GELU_Q5 (-0.114517413f)
#define RECUR_GELU_Q6 0.416103035f
#define RECUR_GELU_Q7 (-0.620230317f)
#define RECUR_GELU_Q8 0.356261015f
#define RECUR_GELU_Q9 (-0.0755916387f)

static inline RECUR_TARGET_AVX2 __m256 recur_gelu8(__m256 x, __m256 *slope) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_mul_ps(x, _mm256_set1_ps(RECUR_GELU_SQRT1_2));
    const __m256 abs_a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
    // a^2 of |a| clamped where exp(-a^2) is 0 anyway (so an infinite x gives no NaN there).
    const __m256 clamped = _mm256_min_ps(abs_a, _mm256_set1_ps(RECUR_GELU_A_MAX));
    const __m256 s = _mm256_mul_ps(clamped, clamped), lo = _mm256_fmsub_ps(clamped, clamped, s);
    __m256 p = _mm256_set1_ps(RECUR_GELU_P6);
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(RECUR_GELU_P5));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(RECUR_GELU_P4));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(RECUR_GELU_P3));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(RECUR_GELU_P2));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(RECUR_GELU_P1));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(RECUR_GELU_P0));
    const __m256 near = _mm256_fmadd_ps(a, p, one);
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(abs_a, _mm256_set1_ps(0.5f), one));
    __m256 q = _mm256_set1_ps(RECUR_GELU_Q9);
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q8));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q7));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q6));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q5));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q4));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q3));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q2));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q1));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(RECUR_GELU_Q0));
    __m256 e = recur_exp8(_mm256_sub_ps(_mm256_setzero_ps(), s));
    e = _mm256_fnmadd_ps(e, lo, e);
    const __m256 erfc = _mm256_mul_ps(e, q);
    const __m256 positive = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
    const __m256 far = _mm256_blendv_ps(erfc, _mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), positive);
    const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(a, one, _CMP_LT_OQ),
                                        _mm256_cmp_ps(a, _mm256_set1_ps(-0.5f), _CMP_GT_OQ));
    const __m256 c = _mm256_blendv_ps(far, near, inside);
    if (slope)
        *slope = _mm256_fmadd_ps(x, _mm256_mul_ps(e, _mm256_set1_ps(RECUR_GELU_PDF)),
                                 _mm256_mul_ps(_mm256_set1_ps(0.5f), c));
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), c);
}

// recur_gelu8's steps on 16 lanes (the same value for every input).
static inline RECUR_TARGET_AVX512 __m512 recur_gelu16(__m512 x, __m512 *slope) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 a = _mm512_mul_ps(x, _mm512_set1_ps(RECUR_GELU_SQRT1_2));
    const __m512 abs_a = _mm512_abs_ps(a);
    const __m512 clamped = _mm512_min_ps(abs_a, _mm512_set1_ps(RECUR_GELU_A_MAX));
    const __m512 s = _mm512_mul_ps(clamped, clamped), lo = _mm512_fmsub_ps(clamped, clamped, s);
    __m512 p = _mm512_set1_ps(RECUR_GELU_P6);
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(RECUR_GELU_P5));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(RECUR_GELU_P4));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(RECUR_GELU_P3));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(RECUR_GELU_P2));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(RECUR_GELU_P1));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(RECUR_GELU_P0));
    const __m512 near = _mm512_fmadd_ps(a, p, one);
    const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(abs_a, _mm512_set1_ps(0.5f), one));
    __m512 q = _mm512_set1_ps(RECUR_GELU_Q9);
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q8));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q7));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q6));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q5));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q4));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q3));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q2));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q1));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(RECUR_GELU_Q0));
    __m512 e = recur_exp16(_mm512_sub_ps(_mm512_setzero_ps(), s));
    e = _mm512_fnmadd_ps(e, lo, e);
    const __m512 erfc = _mm512_mul_ps(e, q);
    const __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 far = _mm512_mask_blend_ps(positive, erfc, _mm512_sub_ps(_mm512_set1_ps(2.0f), erfc));
    const __mmask16 inside = _mm512_cmp_ps_mask(a, one, _CMP_LT_OQ) &
                             _mm512_cmp_ps_mask(a, _mm512_set1_ps(-0.5f), _CMP_GT_OQ);
    const __m512 c = _mm512_mask_blend_ps(inside, far, near);
    if (slope)
        *slope = _mm512_fmadd_ps(x, _mm512_mul_ps(e, _mm512_set1_ps(RECUR_GELU_PDF)),
                                 _mm512_mul_ps(_mm512_set1_ps(0.5f), c));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), c);
}

// Lane-wise max of a row, NaNs skipped (as the scalar `if (v > m)`).
static inline RECUR_TARGET_AVX2 float recur_row_max8(const float *v, int64_t n) {
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(_mm256_loadu_ps(v + i), vm);
    if (i < n) {
        const __m256i m = recur_mask8(n - i);
        const __m256 x = _mm256_blendv_ps(vm, _mm256_maskload_ps(v + i, m), _mm256_castsi256_ps(m));
        vm = _mm256_max_ps(x, vm);
    }
    return recur_hmax8(vm);
}

// v[i] = exp(v[i] - m) for i < n, returning the sum of the new values.
static inline RECUR_TARGET_AVX2 float recur_exp_shift_sum8(float *v, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 e0 = recur_exp8(_mm256_sub_ps(_mm256_loadu_ps(v + i), vm));
        const __m256 e1 = recur_exp8(_mm256_sub_ps(_mm256_loadu_ps(v + i + 8), vm));
        _mm256_storeu_ps(v + i, e0);
        _mm256_storeu_ps(v + i + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; i < n; i += 8) {
        const __m256i m8 = recur_mask8(n - i);
        __m256 e = recur_exp8(_mm256_sub_ps(_mm256_maskload_ps(v + i, m8), vm));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m8)); // lanes past the end add nothing
        _mm256_maskstore_ps(v + i, m8, e);
        s0 = _mm256_add_ps(s0, e);
    }
    return recur_hsum8(_mm256_add_ps(s0, s1));
}

// NaNs skipped: the vector max keeps its second operand (the running max) on NaN.
static inline RECUR_TARGET_AVX512 float recur_row_max16(const float *v, int64_t n) {
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16)
        vm = _mm512_max_ps(_mm512_mask_loadu_ps(vm, recur_mask16(n - i), v + i), vm);
    return _mm512_reduce_max_ps(vm);
}

static inline RECUR_TARGET_AVX512 float recur_exp_shift_sum16(float *v, int64_t n, float m) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 e0 = recur_exp16(_mm512_sub_ps(_mm512_loadu_ps(v + i), vm));
        const __m512 e1 = recur_exp16(_mm512_sub_ps(_mm512_loadu_ps(v + i + 16), vm));
        _mm512_storeu_ps(v + i, e0);
        _mm512_storeu_ps(v + i + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = recur_mask16(n - i);
        const __m512 e = _mm512_maskz_mov_ps(k, recur_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, v + i), vm)));
        _mm512_mask_storeu_ps(v + i, k, e);
        s0 = _mm512_add_ps(s0, e);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

// One head of one row rotated by RoPE (out may be x): out[i] = x[i] c[i] - x[i + half] s[i],
// out[i + half] = x[i + half] c[i + half] + x[i] s[i + half], two products then one sum as the
// scalar kernel rounds them.
static inline RECUR_TARGET_AVX512 void recur_rope_head16(const float *x, const float *c, const float *s, int64_t head_dim,
                                                         float *out) {
    const int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; i += 16) {
        const __mmask16 m = recur_mask16(half - i);
        const __m512 a = _mm512_maskz_loadu_ps(m, x + i), b = _mm512_maskz_loadu_ps(m, x + i + half);
        const __m512 lo = _mm512_sub_ps(_mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, c + i)),
                                        _mm512_mul_ps(b, _mm512_maskz_loadu_ps(m, s + i)));
        const __m512 hi = _mm512_add_ps(_mm512_mul_ps(b, _mm512_maskz_loadu_ps(m, c + i + half)),
                                        _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, s + i + half)));
        _mm512_mask_storeu_ps(out + i, m, lo);
        _mm512_mask_storeu_ps(out + i + half, m, hi);
    }
}

// dst[c * ds + r] = src[r * ss + c] for an 8x8 block.
static inline RECUR_TARGET_AVX2 void recur_transpose8x8(const float *src, int64_t ss, float *dst, int64_t ds) {
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ss);
    const __m256 r2 = _mm256_loadu_ps(src + 2 * ss), r3 = _mm256_loadu_ps(src + 3 * ss);
    const __m256 r4 = _mm256_loadu_ps(src + 4 * ss), r5 = _mm256_loadu_ps(src + 5 * ss);
    const __m256 r6 = _mm256_loadu_ps(src + 6 * ss), r7 = _mm256_loadu_ps(src + 7 * ss);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    // u0: column 0 | column 4 of rows 0-3; u1: 1 | 5; u2: 2 | 6; u3: 3 | 7; u4-u7 for rows 4-7.
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}

#endif // RECUR_SIMD_X86_H
