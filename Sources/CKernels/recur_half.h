// Scalar IEEE half and bfloat16 conversions for one value. Inline because quantized kernels
// convert one block scale per 32 weights. Bit-for-bit the same as the x86 F16C instructions
// (VCVTPH2PS / VCVTPS2PH with round-to-nearest-even), NaNs included, so every tier agrees.
#ifndef RECUR_HALF_H
#define RECUR_HALF_H

#include <stdint.h>
#include <string.h>

static inline float recur_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t recur_f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float recur_f16_to_f32_one(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    if (exp == 0x1F) // Inf, or NaN made quiet with its payload kept (as F16C does)
        return recur_bits_to_f32(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
    if (exp != 0) return recur_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0) return recur_bits_to_f32(sign);
    // Subnormal half: man * 2^-24, renormalized into a float exponent.
    uint32_t e = 113;
    while (!(man & 0x400u)) {
        man <<= 1;
        e--;
    }
    return recur_bits_to_f32(sign | (e << 23) | ((man & 0x3FFu) << 13));
}

static inline uint16_t recur_f32_to_f16_one(float f) {
    const uint32_t x = recur_f32_to_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) // NaN: quiet, top payload bits kept
        return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); // >= 65520 rounds to Inf
    if (ax >= 0x38800000u) { // normal half: rebias, round the 13 dropped bits to nearest even
        uint32_t r = ax - (112u << 23);
        r += 0xFFFu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) return sign; // <= 2^-25: rounds to zero (the tie goes to even 0)
    // Subnormal half: round(value * 2^24) with ties to even.
    const uint32_t man = (ax & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - (ax >> 23); // 14..24
    uint32_t q = man >> shift;
    const uint32_t rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

static inline float recur_bf16_to_f32_one(uint16_t h) { return recur_bits_to_f32((uint32_t)h << 16); }

#endif // RECUR_HALF_H
