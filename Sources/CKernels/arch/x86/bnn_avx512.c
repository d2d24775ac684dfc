// AVX-512 VPOPCNTDQ XOR-popcount (Ice Lake and later): eight words per vpopcntq, the tail masked.
#include <immintrin.h>

#include "../../bnn_internal.h"

#if RECUR_X86

__attribute__((target("avx512f,avx512vpopcntdq")))
int64_t recur_bnn_xor_popcount_avx512(const uint64_t *x, const uint64_t *w, int64_t words) {
    __m512i acc = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 8 <= words; i += 8) {
        const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(x + i), _mm512_loadu_si512(w + i));
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
    }
    if (i < words) {
        const __mmask8 m = (__mmask8)((1u << (words - i)) - 1);
        const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi64(m, x + i), _mm512_maskz_loadu_epi64(m, w + i));
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
    }
    return _mm512_reduce_add_epi64(acc);
}

#endif
