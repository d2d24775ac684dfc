// Plain-C stand-ins for the AVX-VNNI and AVX-512 intrinsics the quantized kernels use, so their
// logic (layout, bias and block-sum corrections, float order) can be checked on a CPU without those
// instructions. Force-included (-include) when compiling arch/x86/quant_avxvnni.c and quant_avx512.c
// for qcheck_emulated only; each stand-in follows the instruction's documented semantics lane by lane.
// Never part of the library build.
#ifndef RQ_VNNI_EMULATION_H
#define RQ_VNNI_EMULATION_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

// Kernels compiled against this header must not ask for the real instruction sets.
#define RQ_VNNI_TARGET __attribute__((target("avx2,fma")))
#define RQ_512_TARGET __attribute__((target("avx2,fma")))

// vpdpbusd ymm (AVX-VNNI): per 32-bit lane, src + sum of 4 (unsigned byte of a) * (signed byte of b),
// no saturation.
static inline __attribute__((target("avx2"))) __m256i rq_emu_dpbusd256(__m256i src, __m256i a, __m256i b) {
    uint8_t ua[32];
    int8_t sb[32];
    int32_t acc[8];
    memcpy(ua, &a, 32);
    memcpy(sb, &b, 32);
    memcpy(acc, &src, 32);
    for (int l = 0; l < 8; l++)
        for (int j = 0; j < 4; j++) acc[l] += (int32_t)ua[4 * l + j] * (int32_t)sb[4 * l + j];
    __m256i out;
    memcpy(&out, acc, 32);
    return out;
}
#define _mm256_dpbusd_avx_epi32 rq_emu_dpbusd256

// 512-bit registers as plain arrays.
typedef struct { int32_t v[16]; } rq_emu512i;
typedef struct { float v[16]; } rq_emu512;
#define __m512i rq_emu512i
#define __m512 rq_emu512

static inline rq_emu512i rq_emu_set1_epi8(char c) {
    rq_emu512i r;
    memset(r.v, (unsigned char)c, 64);
    return r;
}
static inline rq_emu512i rq_emu_set1_epi32(int32_t x) {
    rq_emu512i r;
    for (int l = 0; l < 16; l++) r.v[l] = x;
    return r;
}
static inline rq_emu512i rq_emu_setzero_si512(void) { return rq_emu_set1_epi32(0); }
static inline rq_emu512 rq_emu_set1_ps(float x) {
    rq_emu512 r;
    for (int l = 0; l < 16; l++) r.v[l] = x;
    return r;
}
static inline rq_emu512 rq_emu_setzero_ps(void) { return rq_emu_set1_ps(0.0f); }
static inline rq_emu512i rq_emu_loadu_si512(const void *p) {
    rq_emu512i r;
    memcpy(r.v, p, 64);
    return r;
}
static inline rq_emu512 rq_emu_loadu_ps(const void *p) {
    rq_emu512 r;
    memcpy(r.v, p, 64);
    return r;
}
static inline void rq_emu_storeu_ps(void *p, rq_emu512 a) { memcpy(p, a.v, 64); }
static inline rq_emu512i rq_emu_xor_si512(rq_emu512i a, rq_emu512i b) {
    for (int l = 0; l < 16; l++) a.v[l] ^= b.v[l];
    return a;
}
static inline rq_emu512i rq_emu_and_si512(rq_emu512i a, rq_emu512i b) {
    for (int l = 0; l < 16; l++) a.v[l] &= b.v[l];
    return a;
}
// vpsrlw: logical right shift of each 16-bit element.
static inline rq_emu512i rq_emu_srli_epi16(rq_emu512i a, unsigned int n) {
    uint16_t h[32];
    memcpy(h, a.v, 64);
    for (int l = 0; l < 32; l++) h[l] = n > 15 ? 0 : (uint16_t)(h[l] >> n);
    memcpy(a.v, h, 64);
    return a;
}
static inline rq_emu512i rq_emu_sub_epi32(rq_emu512i a, rq_emu512i b) {
    for (int l = 0; l < 16; l++) a.v[l] = (int32_t)((uint32_t)a.v[l] - (uint32_t)b.v[l]);
    return a;
}
// vpdpbusd zmm (AVX-512 VNNI): as the 256-bit form, 16 lanes.
static inline rq_emu512i rq_emu_dpbusd512(rq_emu512i src, rq_emu512i a, rq_emu512i b) {
    uint8_t ua[64];
    int8_t sb[64];
    memcpy(ua, a.v, 64);
    memcpy(sb, b.v, 64);
    for (int l = 0; l < 16; l++)
        for (int j = 0; j < 4; j++) src.v[l] += (int32_t)ua[4 * l + j] * (int32_t)sb[4 * l + j];
    return src;
}
static inline rq_emu512 rq_emu_cvtepi32_ps(rq_emu512i a) {
    rq_emu512 r;
    for (int l = 0; l < 16; l++) r.v[l] = (float)a.v[l];
    return r;
}
static inline rq_emu512 rq_emu_mul_ps(rq_emu512 a, rq_emu512 b) {
    for (int l = 0; l < 16; l++) a.v[l] = a.v[l] * b.v[l];
    return a;
}
static inline rq_emu512 rq_emu_fmadd_ps(rq_emu512 a, rq_emu512 b, rq_emu512 c) {
    for (int l = 0; l < 16; l++) a.v[l] = fmaf(a.v[l], b.v[l], c.v[l]);
    return a;
}

#define _mm512_set1_epi8 rq_emu_set1_epi8
#define _mm512_set1_epi32 rq_emu_set1_epi32
#define _mm512_setzero_si512 rq_emu_setzero_si512
#define _mm512_set1_ps rq_emu_set1_ps
#define _mm512_setzero_ps rq_emu_setzero_ps
#define _mm512_loadu_si512 rq_emu_loadu_si512
#define _mm512_loadu_ps rq_emu_loadu_ps
#define _mm512_storeu_ps rq_emu_storeu_ps
#define _mm512_xor_si512 rq_emu_xor_si512
#define _mm512_and_si512 rq_emu_and_si512
#define _mm512_srli_epi16 rq_emu_srli_epi16
#define _mm512_sub_epi32 rq_emu_sub_epi32
#define _mm512_dpbusd_epi32 rq_emu_dpbusd512
#define _mm512_cvtepi32_ps rq_emu_cvtepi32_ps
#define _mm512_mul_ps rq_emu_mul_ps
#define _mm512_fmadd_ps rq_emu_fmadd_ps

#endif
