// Activation quantization: float rows -> 8-bit blocks of 32 with a float32 scale and the block sum.
//
// This is the definition; the SIMD tiers use arch/x86/quant_act_avx2.c (AVX2, AVX-VNNI) and
// quant_act_avx512.c (AVX-512, AMX), which write the same bytes (QuantActivationTests). The
// arithmetic is element-wise (|x|, max, x * id, rint), so the compiler's auto-vectorization cannot
// change a result.
#include <float.h>
#include <math.h>

#include "quant_internal.h"

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

size_t recur_q_act_size(int64_t m, int64_t k) {
    if (m <= 0 || k <= 0) return 64;
    const size_t nb = (size_t)((k + RECUR_QK - 1) / RECUR_QK);
    const size_t rows = (size_t)m;
    return 64 + align64(rows * nb * RECUR_QK) + 3 * align64(rows * nb * 4);
}

recur_qact recur_q_act_view(void *scratch, int64_t m, int64_t k) {
    recur_qact a;
    const size_t nb = (size_t)((k + RECUR_QK - 1) / RECUR_QK);
    const size_t rows = m > 0 ? (size_t)m : 0;
    uint8_t *p = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    a.q = (int8_t *)p;
    p += align64(rows * nb * RECUR_QK);
    a.d = (float *)p;
    p += align64(rows * nb * 4);
    a.sum = (int32_t *)p;
    p += align64(rows * nb * 4);
    a.s = (float *)p;
    a.m = m;
    a.k = k;
    a.nb = (int64_t)nb;
    return a;
}

// One block: the definition every kernel relies on (|q| <= 127 is what keeps AVX2's maddubs exact).
static void quantize_block(const float *x, int8_t *q, float *d_out, int32_t *sum_out, float *s_out) {
    float amax = 0.0f;
    for (int j = 0; j < RECUR_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (id > FLT_MAX) d = id = 0.0f; // amax below ~2^-121: 1/d overflows; such a block counts as zero
    int32_t sum = 0;
    for (int j = 0; j < RECUR_QK; j++) {
        // Clamp first so rounding never sees a value out of int range; NaN (inf or nan input) -> -127.
        const float v = fminf(fmaxf(x[j] * id, -127.0f), 127.0f);
        q[j] = (int8_t)rintf(v); // round half to even, like cvtps2dq
        sum += (int32_t)q[j];
    }
    *d_out = d;
    *sum_out = sum;
    *s_out = d * (float)sum;
}

static void quantize_row(const float *x, int64_t ldx, const recur_qact *a, int64_t i) {
    for (int64_t b = 0; b < a->nb; b++) {
        const int64_t o = i * a->nb + b;
        quantize_block(x + i * ldx + b * RECUR_QK, a->q + i * a->k + b * RECUR_QK, a->d + o, a->sum + o,
                       a->s + o);
    }
}

void rq_quantize_act_rows(const float *x, int64_t ldx, const recur_qact *a, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) quantize_row(x, ldx, a, i);
}

int recur_q_quantize_act_isa(recur_isa isa, const float *x, recur_qact *a) {
    if (a->k <= 0 || a->k % RECUR_QK != 0 || !recur_q_isa_supported(isa)) return -1;
    const rq_act_fn rows = rq_act_for(isa);
#ifdef RECUR_HAVE_OPENMP
    const int threads = recur_get_num_threads();
#pragma omp parallel for schedule(static) num_threads(threads) if (a->m * a->k >= (1 << 16) && threads > 1)
#endif
    for (int64_t i = 0; i < a->m; i++) rows(x, a->k, a, i, i + 1);
    return 0;
}

void recur_q_quantize_act(const float *x, recur_qact *a) {
    (void)recur_q_quantize_act_isa(recur_q_isa_supported(RECUR_ISA_AVX2) ? RECUR_ISA_AVX2 : RECUR_ISA_SCALAR, x, a);
}

rq_act_fn rq_act_for(recur_isa isa) {
#ifdef RQ_HAVE_X86
#ifndef RQ_ACT_AVX2_ONLY // set by the emulated kernel check, whose CPU may have no AVX-512 at all
    if (isa == RECUR_ISA_AVX512 || isa == RECUR_ISA_AMX) return rq_quantize_act_rows_avx512;
#endif
    if (isa != RECUR_ISA_SCALAR) return rq_quantize_act_rows_avx2; // every SIMD tier has AVX2
#endif
    (void)isa;
    return rq_quantize_act_rows;
}
