// FP32 kernels for AVX-512 (16 float lanes). Ragged ends use mask registers. The transpose is the
// AVX2 one: it is bound by memory, not by register width.
#pragma STDC FP_CONTRACT OFF // FMA only where an intrinsic asks for it

#include "../../f32_ops.h"

#if RECUR_X86
#include "simd_x86.h"

#include <math.h>
#include <string.h>

#define T RECUR_TARGET_AVX512

static T void add_avx512(const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i),
                                                      _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static T void add_row_avx512(const float *a, const float *b, float *y, int64_t rows, int64_t dim) {
    for (int64_t r = 0; r < rows; r++) add_avx512(a + r * dim, b, y + r * dim, dim);
}

static T void scale_copy_avx512(const float *x, float s, float *y, int64_t n) {
    const __m512 vs = _mm512_set1_ps(s);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs));
    }
}

static T void scale_avx512(float *x, float s, int64_t n) { scale_copy_avx512(x, s, x, n); }

static T void axpby_avx512(float *y, const float *x, int64_t n, float a, float b) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, y + i)),
                                                      _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, x + i))));
    }
}

static T float sum_squares(const float *v, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512 x0 = _mm512_loadu_ps(v + i), x1 = _mm512_loadu_ps(v + i + 16);
        const __m512 x2 = _mm512_loadu_ps(v + i + 32), x3 = _mm512_loadu_ps(v + i + 48);
        a0 = _mm512_fmadd_ps(x0, x0, a0);
        a1 = _mm512_fmadd_ps(x1, x1, a1);
        a2 = _mm512_fmadd_ps(x2, x2, a2);
        a3 = _mm512_fmadd_ps(x3, x3, a3);
    }
    for (; i < n; i += 16) {
        const __m512 x = _mm512_maskz_loadu_ps(recur_mask16(n - i), v + i);
        a0 = _mm512_fmadd_ps(x, x, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static T void rms_norm_avx512(float *x, int64_t rows, int64_t dim, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        const float mean = sum_squares(v, dim) / (float)dim;
        scale_copy_avx512(v, 1.0f / sqrtf(mean + eps), v, dim);
    }
}

static T void add_rms_norm_avx512(float *x, const float *residual, int64_t rows, int64_t dim,
                                  float eps) {
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        const float *res = residual + r * dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int64_t i = 0;
        for (; i + 32 <= dim; i += 32) {
            const __m512 h0 = _mm512_add_ps(_mm512_loadu_ps(v + i), _mm512_loadu_ps(res + i));
            const __m512 h1 = _mm512_add_ps(_mm512_loadu_ps(v + i + 16), _mm512_loadu_ps(res + i + 16));
            _mm512_storeu_ps(v + i, h0);
            _mm512_storeu_ps(v + i + 16, h1);
            a0 = _mm512_fmadd_ps(h0, h0, a0);
            a1 = _mm512_fmadd_ps(h1, h1, a1);
        }
        for (; i < dim; i += 16) {
            const __mmask16 m = recur_mask16(dim - i);
            const __m512 h = _mm512_add_ps(_mm512_maskz_loadu_ps(m, v + i), _mm512_maskz_loadu_ps(m, res + i));
            _mm512_mask_storeu_ps(v + i, m, h);
            a0 = _mm512_fmadd_ps(h, h, a0);
        }
        const float mean = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) / (float)dim;
        scale_copy_avx512(v, 1.0f / sqrtf(mean + eps), v, dim);
    }
}

static T void swiglu_avx512(const float *gate_up, float *out, int64_t rows, int64_t inter) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int64_t r = 0; r < rows; r++) {
        const float *g = gate_up + r * 2 * inter, *u = g + inter;
        float *o = out + r * inter;
        for (int64_t i = 0; i < inter; i += 16) {
            const __mmask16 m = recur_mask16(inter - i);
            const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
            const __m512 e = recur_exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(gv), sign)));
            const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, e));
            _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
        }
    }
}

static T void exp_avx512(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m, recur_exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static T void gelu_avx512(const float *x, float *y, float *slope, int64_t n) {
    __m512 d;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m, recur_gelu16(_mm512_maskz_loadu_ps(m, x + i), slope ? &d : NULL));
        if (slope) _mm512_mask_storeu_ps(slope + i, m, d);
    }
}

static T void softmax_avx512(float *x, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * n;
        const float sum = recur_exp_shift_sum16(v, n, recur_row_max16(v, n));
        scale_copy_avx512(v, 1.0f / sum, v, n);
    }
}

static T void rope_avx512(float *x, int64_t row0, int64_t row1, int64_t seq, int64_t heads,
                          int64_t head_dim, int64_t row_stride, const float *cos, const float *sin) {
    for (int64_t r = row0; r < row1; r++) {
        const int64_t p = r % seq;
        for (int64_t h = 0; h < heads; h++) {
            float *v = x + r * row_stride + h * head_dim;
            recur_rope_head16(v, cos + p * head_dim, sin + p * head_dim, head_dim, v);
        }
    }
}

// ---- argmax

static T void argmax_avx512(const float *x, int64_t rows, int64_t n, int32_t *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *v = x + r * n;
        if (n <= 0) {
            out[r] = -1;
            continue;
        }
        __m512 vm = _mm512_set1_ps(-INFINITY);
        __mmask16 nan = 0;
        for (int64_t i = 0; i < n; i += 16) {
            const __mmask16 m = recur_mask16(n - i);
            const __m512 e = _mm512_mask_loadu_ps(vm, m, v + i);
            vm = _mm512_max_ps(e, vm);
            nan |= _mm512_cmp_ps_mask(e, e, _CMP_UNORD_Q);
        }
        int64_t best = -1;
        if (nan) {
            for (int64_t i = 0; i < n && best < 0; i++)
                if (isnan(v[i])) best = i;
        } else {
            const __m512 target = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
            for (int64_t i = 0; i < n && best < 0; i += 16) {
                const __mmask16 m = recur_mask16(n - i);
                const unsigned bits = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, v + i), target, _CMP_EQ_OQ);
                if (bits) best = i + __builtin_ctz(bits);
            }
        }
        out[r] = (int32_t)best;
    }
}

// ---- conversions

static T void f16_to_f32_avx512(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

static T void f32_to_f16_avx512(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(y + i, m, h);
    }
}

static T void bf16_to_f32_avx512(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = recur_mask16(n - i);
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, x + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
}

const recur_f32_ops recur_f32_ops_avx512 = {
    .add = add_avx512,
    .add_row = add_row_avx512,
    .scale = scale_avx512,
    .scale_copy = scale_copy_avx512,
    .axpby = axpby_avx512,
    .rms_norm = rms_norm_avx512,
    .add_rms_norm = add_rms_norm_avx512,
    .swiglu = swiglu_avx512,
    .softmax = softmax_avx512,
    .exp = exp_avx512,
    .gelu = gelu_avx512,
    .rope = rope_avx512,
    .attention = recur_f32_attention_avx512,
    .argmax = argmax_avx512,
    .transpose = recur_f32_transpose_avx2,
    .f16_to_f32 = f16_to_f32_avx512,
    .f32_to_f16 = f32_to_f16_avx512,
    .bf16_to_f32 = bf16_to_f32_avx512,
};

#endif // RECUR_X86
