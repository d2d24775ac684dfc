// The INT8 multiply-add peak of each x86 tier: the instruction sequence the tier's quantized
// micro-kernels use, in independent accumulator chains (for vpdpbusd, whose accumulator is the
// dependency, RECUR_PROBE_CHAINS: more than latency x issue width on any current core, so every
// pipe that can run it stays busy), on registers only.
// The empty asm statements tell the compiler an operand may have changed, so it neither hoists
// the products out of the loop nor folds them, and emit no instruction.
#include <immintrin.h>
#include <stdint.h>

#include "../../recur_internal.h"

#if defined(__x86_64__) || defined(_M_X64)

#define RECUR_PROBE_CHAINS 12
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

// AVX2: vpmaddubsw (32 u8 x s8 products, pairs summed to i16), vpmaddwd by ones (to i32),
// vpaddd: 32 multiply-adds per triple. Each chain multiplies its own opaque operand (the same
// product in every chain would be computed once), so 6 chains fit the 16 registers; only the
// 1-cycle vpaddd carries a dependency from one iteration to the next.
__attribute__((target("avx2,fma"))) int64_t recur_probe_avx2(int64_t iterations) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a = _mm256_set1_epi8(3);
    __m256i b0 = _mm256_set1_epi8(-2), b1 = _mm256_set1_epi8(-1), b2 = _mm256_set1_epi8(1), b3 = _mm256_set1_epi8(2),
            b4 = _mm256_set1_epi8(4), b5 = _mm256_set1_epi8(5);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0;
    for (int64_t it = 0; it < iterations; it++) {
        __asm__ volatile("" : "+x"(a), "+x"(b0), "+x"(b1), "+x"(b2), "+x"(b3), "+x"(b4), "+x"(b5));
#define STEP(i) acc##i = _mm256_add_epi32(acc##i, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b##i), ones));
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5)
#undef STEP
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(acc0, acc1), _mm256_add_epi32(acc2, acc3)),
                                 _mm256_add_epi32(acc4, acc5));
    return (int64_t)_mm256_extract_epi32(s, 0);
}

// vpdpbusd probes: RECUR_PROBE_CHAINS accumulators, each its own dependency chain; VNNI_OP and
// VNNI_ADD name the width's instructions where the macro is used.
#define VNNI_PROBE(name, tgt, vec, constraint, set1, zero, first_lane)                      \
    __attribute__((target(tgt))) int64_t name(int64_t iterations) {                       \
        vec a = set1(3), b = set1(-2);                                                      \
        CHAINS(VNNI_DECL)                                                                   \
        for (int64_t it = 0; it < iterations; it++) {                                       \
            __asm__ volatile("" : constraint(a), constraint(b));                            \
            CHAINS(VNNI_STEP)                                                               \
        }                                                                                   \
        vec s = zero();                                                                     \
        CHAINS(VNNI_SUM)                                                                    \
        return (int64_t)first_lane;                                                         \
    }
#define VNNI_DECL(i) __typeof__(a) acc##i = (__typeof__(a)){0};
#define VNNI_STEP(i) acc##i = VNNI_OP(acc##i, a, b);
#define VNNI_SUM(i) s = VNNI_ADD(s, acc##i);

// AVX-VNNI: 256-bit vpdpbusd, 32 multiply-adds.
#define VNNI_OP _mm256_dpbusd_avx_epi32
#define VNNI_ADD _mm256_add_epi32
VNNI_PROBE(recur_probe_avxvnni, "avx2,fma,avxvnni", __m256i, "+x", _mm256_set1_epi8, _mm256_setzero_si256, _mm256_extract_epi32(s, 0))
#undef VNNI_OP
#undef VNNI_ADD

// AVX-512 VNNI: 512-bit vpdpbusd, 64 multiply-adds.
#define VNNI_OP _mm512_dpbusd_epi32
#define VNNI_ADD _mm512_add_epi32
VNNI_PROBE(recur_probe_avx512, "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni", __m512i, "+v", _mm512_set1_epi8, _mm512_setzero_si512,
           _mm512_reduce_add_epi32(s))
#undef VNNI_OP
#undef VNNI_ADD

// Streaming read: the sum of every 64-bit word, four 256-bit accumulators (loads, not the adds,
// bound it). n: a multiple of 16 words.
__attribute__((target("avx2,fma"))) uint64_t recur_probe_read_avx2(const uint64_t *x, int64_t n) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < n; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256((const __m256i *)(x + i)));
        s1 = _mm256_add_epi64(s1, _mm256_load_si256((const __m256i *)(x + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_load_si256((const __m256i *)(x + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_load_si256((const __m256i *)(x + i + 12)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    return (uint64_t)_mm256_extract_epi64(s, 0) + (uint64_t)_mm256_extract_epi64(s, 1) + (uint64_t)_mm256_extract_epi64(s, 2) +
           (uint64_t)_mm256_extract_epi64(s, 3);
}

#endif
