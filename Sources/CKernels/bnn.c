// Binary head kernels: sign packing, XNOR-popcount GEMM (dispatch + scalar reference).
#include "bnn_internal.h"

void recur_bnn_pack_signs(const float *x, const float *center, uint64_t *bits, int64_t rows, int64_t k) {
    const int64_t words = recur_bnn_words(k);
#if RECUR_X86
    if (recur_isa_active() != RECUR_ISA_SCALAR) {
        for (int64_t r = 0; r < rows; r++) recur_bnn_pack_row_avx2(x + r * k, center, bits + r * words, k);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * k;
        uint64_t *br = bits + r * words;
        for (int64_t wd = 0; wd < words; wd++) br[wd] = 0;
        for (int64_t j = 0; j < k; j++) {
            const float v = center ? xr[j] - center[j] : xr[j];
            // NaN counts as -1: !(v >= 0).
            if (v >= 0.0f) br[j >> 6] |= (uint64_t)1 << (j & 63);
        }
    }
}

int64_t recur_bnn_xor_popcount_scalar(const uint64_t *x, const uint64_t *w, int64_t words) {
    int64_t n = 0;
    for (int64_t i = 0; i < words; i++) n += __builtin_popcountll(x[i] ^ w[i]);
    return n;
}

int recur_bnn_isa_supported(recur_isa isa) {
    switch (isa) {
    case RECUR_ISA_SCALAR: return 1;
#if RECUR_X86
    case RECUR_ISA_AVX2: return recur_isa_supported(RECUR_ISA_AVX2);
    case RECUR_ISA_AVX512:
        return (recur_cpu_features() & (RECUR_CPU_AVX512F | RECUR_CPU_AVX512VPOPCNTDQ)) ==
               (RECUR_CPU_AVX512F | RECUR_CPU_AVX512VPOPCNTDQ);
#endif
    default: return 0;
    }
}

static recur_bnn_xor_popcount_fn kernel_for(recur_isa isa) {
#if RECUR_X86
    if (isa == RECUR_ISA_AVX512) return recur_bnn_xor_popcount_avx512;
    if (isa == RECUR_ISA_AVX2) return recur_bnn_xor_popcount_avx2;
#endif
    (void)isa;
    return recur_bnn_xor_popcount_scalar;
}

static void gemm_with(recur_bnn_xor_popcount_fn popcount, const uint64_t *x, const uint64_t *w, int32_t *dot,
                      int64_t rows, int64_t n, int64_t k) {
    const int64_t words = recur_bnn_words(k);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < n; o++)
            dot[r * n + o] = (int32_t)(k - 2 * popcount(x + r * words, w + o * words, words));
}

int recur_bnn_xnor_gemm_isa(recur_isa isa, const uint64_t *x, const uint64_t *w, int32_t *dot,
                            int64_t rows, int64_t n, int64_t k) {
    if (!recur_bnn_isa_supported(isa)) return -1;
    gemm_with(kernel_for(isa), x, w, dot, rows, n, k);
    return 0;
}

void recur_bnn_xnor_gemm(const uint64_t *x, const uint64_t *w, int32_t *dot, int64_t rows, int64_t n, int64_t k) {
    // The active tier (RECUR_ISA or CPUID), falling back to the best binary kernel below it:
    // AVX-512 without VPOPCNTDQ uses the AVX2 one; AVX-VNNI is AVX2 and AMX is AVX-512 for this purpose.
    recur_isa want = recur_isa_active();
    if (want == RECUR_ISA_AVXVNNI) want = RECUR_ISA_AVX2;
    if (want == RECUR_ISA_AMX) want = RECUR_ISA_AVX512;
    if (want == RECUR_ISA_AVX512 && !recur_bnn_isa_supported(RECUR_ISA_AVX512)) want = RECUR_ISA_AVX2;
    if (!recur_bnn_isa_supported(want)) want = RECUR_ISA_SCALAR;
    gemm_with(kernel_for(want), x, w, dot, rows, n, k);
}
