// AVX2 XOR-popcount: per-byte popcount through a 16-entry nibble table (vpshufb), summed into
// 64-bit lanes by vpsadbw; four words per iteration, the tail in scalar code.
#include <immintrin.h>

#include "../../bnn_internal.h"

#if RECUR_X86

RECUR_TARGET_AVX2 int64_t recur_bnn_xor_popcount_avx2(const uint64_t *x, const uint64_t *w, int64_t words) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i acc = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 4 <= words; i += 4) {
        const __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i)),
                                           _mm256_loadu_si256((const __m256i *)(w + i)));
        const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
        const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256()));
    }
    int64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, acc);
    int64_t n = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < words; i++) n += __builtin_popcountll(x[i] ^ w[i]);
    return n;
}

#endif

#if RECUR_X86
// Eight signs per compare: (x - c >= 0) ordered, so NaN gives -1 exactly like the scalar code.
RECUR_TARGET_AVX2 void recur_bnn_pack_row_avx2(const float *x, const float *center, uint64_t *bits, int64_t k) {
    const int64_t words = recur_bnn_words(k);
    for (int64_t w = 0; w < words; w++) bits[w] = 0;
    int64_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        if (center) v = _mm256_sub_ps(v, _mm256_loadu_ps(center + j));
        const uint64_t mask = (uint64_t)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
        bits[j >> 6] |= mask << (j & 63);
    }
    for (; j < k; j++) {
        const float v = center ? x[j] - center[j] : x[j];
        if (v >= 0.0f) bits[j >> 6] |= (uint64_t)1 << (j & 63);
    }
}
#endif
