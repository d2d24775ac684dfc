// Row dequantizers for ggml block formats beyond the three the quantized kernels compute in:
// the K-quants Q4_K, Q5_K, Q6_K (256-element super-blocks) and the 5-bit Q5_0, Q5_1 (32-element
// blocks). Q8_0, Q4_0 and Q4_1 are accepted too (delegated to recur_q_dequantize_row) so that a
// loader reading a mixed-type model needs one entry point.
//
// The arithmetic is ggml's dequantize_row_* step for step in float32 (fp16 scales widened exactly,
// products and sums rounded separately, same operation order), so the floats are bit-identical to
// ggml's and to the `gguf` Python package's `gguf.quants.dequantize`. Layouts (little-endian, packed):
//   Q5_0: { f16 d; u8 qh[4]; u8 qs[16] }                          22 bytes / 32
//         q = nibble | (bit j of qh) << 4, element j < 16 the low nibble of qs[j], j + 16 the high;
//         value = (q - 16) * d
//   Q5_1: { f16 d; f16 m; u8 qh[4]; u8 qs[16] }                   24 bytes / 32, value = q * d + m
//   Q4_K: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }         144 bytes / 256
//         8 sub-blocks of 32 with 6-bit scale sc and min m; value = (d * sc) * q - (dmin * m)
//   Q5_K: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] } 176 bytes / 256, q gains a 5th bit
//   Q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }        210 bytes / 256
//         16 sub-blocks of 16; value = (d * scale) * (q - 32)
#ifndef RECUR_KQUANT_H
#define RECUR_KQUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ggml type ids this file handles.
enum {
    RECUR_KQ_Q4_0 = 2,
    RECUR_KQ_Q4_1 = 3,
    RECUR_KQ_Q5_0 = 6,
    RECUR_KQ_Q5_1 = 7,
    RECUR_KQ_Q8_0 = 8,
    RECUR_KQ_Q4_K = 12,
    RECUR_KQ_Q5_K = 13,
    RECUR_KQ_Q6_K = 14,
};

// Bytes of one block of ggml_type, or 0 for a type these functions do not handle.
size_t recur_kq_block_bytes(int ggml_type);
// Elements of one block (32, or 256 for the K-quants), or 0 for a type not handled.
int64_t recur_kq_block_elements(int ggml_type);

// k elements of ggml_type stored at row (k / block elements consecutive blocks, any alignment)
// -> out[0..k). Returns 0, or -1 for an unknown type, k < 0, or k not a multiple of the block size.
// Pure function of the bytes: any bit pattern is safe to decode (NaN or Inf scales give NaN or Inf).
int recur_kq_dequantize_row(int ggml_type, const void *row, float *out, int64_t k);

#ifdef __cplusplus
}
#endif

#endif // RECUR_KQUANT_H
