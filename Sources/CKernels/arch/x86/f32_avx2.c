// FP32 kernels for AVX2 + FMA + F16C (8 float lanes). Ragged ends use masked loads and stores, so
// every element goes through the same vector operations as its neighbours.
#pragma STDC FP_CONTRACT OFF // FMA only where an intrinsic asks for it

#include "../../f32_ops.h"

#if RECUR_X86
#include "simd_x86.h"

#include <math.h>
#include <string.h>

#define T RECUR_TARGET_AVX2

static T void add_avx2(const float *a, const float *b, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
        const __m256i m = recur_mask8(n - i);
        _mm256_maskstore_ps(y + i, m,
                            _mm256_add_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
}

static T void add_row_avx2(const float *a, const float *b, float *y, int64_t rows, int64_t dim) {
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * dim;
        float *yr = y + r * dim;
        int64_t i = 0;
        for (; i + 8 <= dim; i += 8)
            _mm256_storeu_ps(yr + i, _mm256_add_ps(_mm256_loadu_ps(ar + i), _mm256_loadu_ps(b + i)));
        if (i < dim) {
            const __m256i m = recur_mask8(dim - i);
            _mm256_maskstore_ps(
                yr + i, m, _mm256_add_ps(_mm256_maskload_ps(ar + i, m), _mm256_maskload_ps(b + i, m)));
        }
    }
}

static T void scale_copy_avx2(const float *x, float s, float *y, int64_t n) {
    const __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    if (i < n) {
        const __m256i m = recur_mask8(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), vs));
    }
}

static T void scale_avx2(float *x, float s, int64_t n) { scale_copy_avx2(x, s, x, n); }

static T void axpby_avx2(float *y, const float *x, int64_t n, float a, float b) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_mul_ps(va, _mm256_loadu_ps(y + i)),
                                              _mm256_mul_ps(vb, _mm256_loadu_ps(x + i))));
    if (i < n) {
        const __m256i m = recur_mask8(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_add_ps(_mm256_mul_ps(va, _mm256_maskload_ps(y + i, m)),
                                                    _mm256_mul_ps(vb, _mm256_maskload_ps(x + i, m))));
    }
}

static T float sum_squares(const float *v, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256 x0 = _mm256_loadu_ps(v + i), x1 = _mm256_loadu_ps(v + i + 8);
        const __m256 x2 = _mm256_loadu_ps(v + i + 16), x3 = _mm256_loadu_ps(v + i + 24);
        a0 = _mm256_fmadd_ps(x0, x0, a0);
        a1 = _mm256_fmadd_ps(x1, x1, a1);
        a2 = _mm256_fmadd_ps(x2, x2, a2);
        a3 = _mm256_fmadd_ps(x3, x3, a3);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(v + i);
        a0 = _mm256_fmadd_ps(x, x, a0);
    }
    if (i < n) {
        const __m256 x = _mm256_maskload_ps(v + i, recur_mask8(n - i));
        a1 = _mm256_fmadd_ps(x, x, a1);
    }
    return recur_hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

static T void rms_norm_avx2(float *x, int64_t rows, int64_t dim, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        const float mean = sum_squares(v, dim) / (float)dim;
        scale_copy_avx2(v, 1.0f / sqrtf(mean + eps), v, dim);
    }
}

static T void add_rms_norm_avx2(float *x, const float *residual, int64_t rows, int64_t dim,
                                float eps) {
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        const float *res = residual + r * dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int64_t i = 0;
        for (; i + 16 <= dim; i += 16) {
            const __m256 h0 = _mm256_add_ps(_mm256_loadu_ps(v + i), _mm256_loadu_ps(res + i));
            const __m256 h1 = _mm256_add_ps(_mm256_loadu_ps(v + i + 8), _mm256_loadu_ps(res + i + 8));
            _mm256_storeu_ps(v + i, h0);
            _mm256_storeu_ps(v + i + 8, h1);
            a0 = _mm256_fmadd_ps(h0, h0, a0);
            a1 = _mm256_fmadd_ps(h1, h1, a1);
        }
        for (; i < dim; i += 8) {
            const __m256i m = recur_mask8(dim - i);
            const __m256 h = _mm256_add_ps(_mm256_maskload_ps(v + i, m), _mm256_maskload_ps(res + i, m));
            _mm256_maskstore_ps(v + i, m, h);
            a0 = _mm256_fmadd_ps(h, h, a0);
        }
        const float mean = recur_hsum8(_mm256_add_ps(a0, a1)) / (float)dim;
        scale_copy_avx2(v, 1.0f / sqrtf(mean + eps), v, dim);
    }
}

static T __m256 silu_times(__m256 g, __m256 u) {
    const __m256 e = recur_exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

static T void swiglu_avx2(const float *gate_up, float *out, int64_t rows, int64_t inter) {
    for (int64_t r = 0; r < rows; r++) {
        const float *g = gate_up + r * 2 * inter, *u = g + inter;
        float *o = out + r * inter;
        int64_t i = 0;
        for (; i + 8 <= inter; i += 8)
            _mm256_storeu_ps(o + i, silu_times(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
        if (i < inter) {
            const __m256i m = recur_mask8(inter - i);
            _mm256_maskstore_ps(o + i, m,
                                silu_times(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m)));
        }
    }
}

static T void exp_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, recur_exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = recur_mask8(n - i);
        _mm256_maskstore_ps(y + i, m, recur_exp8(_mm256_maskload_ps(x + i, m)));
    }
}

static T void gelu_avx2(const float *x, float *y, float *slope, int64_t n) {
    int64_t i = 0;
    __m256 d;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i, recur_gelu8(_mm256_loadu_ps(x + i), slope ? &d : NULL));
        if (slope) _mm256_storeu_ps(slope + i, d);
    }
    if (i < n) {
        const __m256i m = recur_mask8(n - i);
        _mm256_maskstore_ps(y + i, m, recur_gelu8(_mm256_maskload_ps(x + i, m), slope ? &d : NULL));
        if (slope) _mm256_maskstore_ps(slope + i, m, d);
    }
}

static T void softmax_avx2(float *x, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * n;
        const float sum = recur_exp_shift_sum8(v, n, recur_row_max8(v, n));
        scale_copy_avx2(v, 1.0f / sum, v, n);
    }
}

static T void rope_avx2(float *x, int64_t row0, int64_t row1, int64_t seq, int64_t heads,
                        int64_t head_dim, int64_t row_stride, const float *cos, const float *sin) {
    const int64_t half = head_dim / 2;
    for (int64_t r = row0; r < row1; r++) {
        const int64_t p = r % seq;
        const float *c = cos + p * head_dim, *s = sin + p * head_dim;
        for (int64_t h = 0; h < heads; h++) {
            float *v = x + r * row_stride + h * head_dim;
            for (int64_t i = 0; i < half; i += 8) {
                const __m256i m = recur_mask8(half - i);
                const __m256 a = _mm256_maskload_ps(v + i, m), b = _mm256_maskload_ps(v + i + half, m);
                const __m256 lo = _mm256_sub_ps(_mm256_mul_ps(a, _mm256_maskload_ps(c + i, m)),
                                                _mm256_mul_ps(b, _mm256_maskload_ps(s + i, m)));
                const __m256 hi =
                    _mm256_add_ps(_mm256_mul_ps(b, _mm256_maskload_ps(c + i + half, m)),
                                  _mm256_mul_ps(a, _mm256_maskload_ps(s + i + half, m)));
                _mm256_maskstore_ps(v + i, m, lo);
                _mm256_maskstore_ps(v + i + half, m, hi);
            }
        }
    }
}

// ---- argmax

static T void argmax_avx2(const float *x, int64_t rows, int64_t n, int32_t *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *v = x + r * n;
        if (n <= 0) {
            out[r] = -1;
            continue;
        }
        // Pass 1: the maximum, and whether any NaN is present (then the first NaN wins).
        __m256 vm = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m256 e = _mm256_loadu_ps(v + i);
            vm = _mm256_max_ps(e, vm);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(e, e, _CMP_UNORD_Q));
        }
        if (i < n) {
            const __m256i m = recur_mask8(n - i);
            const __m256 e = _mm256_blendv_ps(vm, _mm256_maskload_ps(v + i, m), _mm256_castsi256_ps(m));
            vm = _mm256_max_ps(e, vm);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(e, e, _CMP_UNORD_Q));
        }
        int64_t best = -1;
        if (_mm256_movemask_ps(nan)) {
            for (i = 0; i < n && best < 0; i++)
                if (isnan(v[i])) best = i;
        } else {
            // Pass 2: the first element equal to the maximum (max is exact, so one exists).
            const float mx = recur_hmax8(vm);
            const __m256 target = _mm256_set1_ps(mx);
            for (i = 0; i + 8 <= n && best < 0; i += 8) {
                const int bits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + i), target, _CMP_EQ_OQ));
                if (bits) best = i + __builtin_ctz((unsigned)bits);
            }
            for (; i < n && best < 0; i++)
                if (v[i] == mx) best = i;
        }
        out[r] = (int32_t)best;
    }
}

// ---- transpose

T void recur_f32_transpose_avx2(const float *x, float *y, int64_t rows, int64_t cols, int64_t r0,
                                int64_t r1) {
    int64_t r = r0;
    const int64_t cfull = cols & ~(int64_t)7;
    for (; r + 8 <= r1; r += 8) {
        for (int64_t c = 0; c < cfull; c += 8) recur_transpose8x8(x + r * cols + c, cols, y + c * rows + r, rows);
        for (int64_t c = cfull; c < cols; c++)
            for (int64_t k = 0; k < 8; k++) y[c * rows + r + k] = x[(r + k) * cols + c];
    }
    for (; r < r1; r++)
        for (int64_t c = 0; c < cols; c++) y[c * rows + r] = x[r * cols + c];
}

// ---- conversions (F16C); ragged tails go through a small buffer

static T void f16_to_f32_avx2(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    if (i < n) {
        uint16_t in[8] = {0};
        float res[8];
        for (int64_t k = 0; k < n - i; k++) in[k] = x[i + k];
        _mm256_storeu_ps(res, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)in)));
        for (int64_t k = 0; k < n - i; k++) y[i + k] = res[k];
    }
}

static T void f32_to_f16_avx2(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        const __m256i m = recur_mask8(n - i);
        uint16_t res[8];
        _mm_storeu_si128((__m128i *)res, _mm256_cvtps_ph(_mm256_maskload_ps(x + i, m), _MM_FROUND_TO_NEAREST_INT));
        for (int64_t k = 0; k < n - i; k++) y[i + k] = res[k];
    }
}

static T void bf16_to_f32_avx2(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) {
        const uint32_t u = (uint32_t)x[i] << 16;
        memcpy(y + i, &u, sizeof u);
    }
}

const recur_f32_ops recur_f32_ops_avx2 = {
    .add = add_avx2,
    .add_row = add_row_avx2,
    .scale = scale_avx2,
    .scale_copy = scale_copy_avx2,
    .axpby = axpby_avx2,
    .rms_norm = rms_norm_avx2,
    .add_rms_norm = add_rms_norm_avx2,
    .swiglu = swiglu_avx2,
    .softmax = softmax_avx2,
    .exp = exp_avx2,
    .gelu = gelu_avx2,
    .rope = rope_avx2,
    .attention = recur_f32_attention_avx2,
    .argmax = argmax_avx2,
    .transpose = recur_f32_transpose_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
    .f32_to_f16 = f32_to_f16_avx2,
    .bf16_to_f32 = bf16_to_f32_avx2,
};

#endif // RECUR_X86
