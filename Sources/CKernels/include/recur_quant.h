// Recur quantized linear layers: y = x * W^T with W in a ggml block format and x quantized on the fly.
//
// File formats are exactly ggml's (GGUF type ids); a weight row of k elements is k/32 consecutive
// blocks with fp16 scales:
//   Q8_0: { uint16 d; int8 qs[32] }            34 bytes, value = d * qs[j]
//   Q4_0: { uint16 d; uint8 qs[16] }           18 bytes, element j < 16 is the low nibble of qs[j],
//                                                       element j + 16 the high nibble; value = d * (q - 8)
//   Q4_1: { uint16 d; uint16 m; uint8 qs[16] } 20 bytes, nibbles as Q4_0; value = d * q + m
//
// Weights are repacked once at load time into panels of 16 rows so one SIMD load covers 4 consecutive
// k values of 8 or 16 rows (see quant_internal.h for the byte layout). The packed layout is the same for
// every ISA tier, so a model repacked once can run on any tier.
//
// Activations are quantized per call, per 32 elements: d = amax / 127 (float32), q = rint(x * (1/d))
// (round half to even, clamped to |q| <= 127), plus the integer block sum of q. A block whose 1/d
// overflows float (amax below about 2^-121) is stored as zeros with d = 0. Every tier computes the exact
// integer dot product of each (activation block, weight block) pair and accumulates, for each output,
//   acc = fmaf((float)isum, dx * dw, acc)               block by block in k order
//   acc = fmaf(mw, dx * (float)sum(qx), acc)           Q4_1 only, after the line above
// starting from acc = +0, so every tier returns bit-identical results (tests compare with memcmp).
#ifndef RECUR_QUANT_H
#define RECUR_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "recur_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { RECUR_Q8_0 = 8, RECUR_Q4_0 = 2, RECUR_Q4_1 = 3 } recur_qtype; // ggml type ids

#define RECUR_QK 32 // elements per block, all three formats

// Bytes of one block in the file's standard layout (34, 18, 20), or 0 for an unknown type.
size_t recur_q_block_bytes(recur_qtype t);
// Bytes of one row of k elements in the standard layout, or 0 if t is unknown or k % 32 != 0.
size_t recur_q_row_bytes(recur_qtype t, int64_t k);

// Packed (kernel) layout. n is padded up to a multiple of 16 rows with zero blocks.
// 0 if t is unknown, n < 0, or k is not a positive multiple of 32. Any alignment works; 64 bytes is
// fastest (packed blocks are multiples of 64 bytes).
size_t recur_q_packed_size(recur_qtype t, int64_t n, int64_t k);
// w: n rows x k in the standard layout. Returns 0, or -1 for an unknown type or k % 32 != 0.
// Q8_0 weights of -128 are kept as they are: every tier multiplies them exactly.
int recur_q_repack(recur_qtype t, const void *w, void *packed, int64_t n, int64_t k);

// Standard layout row -> float32 (k elements), the plain definition above. -1 on bad t or k.
int recur_q_dequantize_row(recur_qtype t, const void *row, float *out, int64_t k);

// Scratch bytes for the quantized activations of x[m, k] (includes room to align to 64 bytes).
size_t recur_q_act_size(int64_t m, int64_t k);

// View of quantized activations inside a scratch buffer: row i, block b has
// q[i * k + 32 b + j], d[i * nb + b], sum[i * nb + b] (= sum_j q), s[i * nb + b] (= d * (float)sum).
typedef struct {
    int8_t *q;
    float *d;
    int32_t *sum;
    float *s;
    int64_t m, k, nb;
} recur_qact;

// Lay the activation view out in scratch (no work besides pointer arithmetic).
recur_qact recur_q_act_view(void *scratch, int64_t m, int64_t k);
// Quantize x[m, k] into the view (the definition in the comment at the top; threaded over rows).
// Per element: q = rint(clamp(x * (1 / d), -127, 127)); NaN becomes -127. Every tier writes the same bytes.
void recur_q_quantize_act(const float *x, recur_qact *a);
// Same with the quantizer a given tier uses (scalar: plain C; AVX2 and AVX-VNNI: AVX2; AVX-512 and
// AMX: AVX-512). -1 if unsupported.
int recur_q_quantize_act_isa(recur_isa isa, const float *x, recur_qact *a);

// y[m, n] = x[m, k] * W[n, k]^T, W packed by recur_q_repack, act_scratch >= recur_q_act_size(m, k)
// bytes. Uses the tier recur_isa_active() names (capped to what the CPU has) and OpenMP with the
// caller's thread count. Does nothing for an unknown type or k % 32 != 0.
void recur_q_linear(recur_qtype t, const void *packed, const float *x, float *y, int64_t m, int64_t n,
                    int64_t k, void *act_scratch);
// Same with an explicit tier (tests, benchmarks). Returns -1 (and leaves y alone) if this build or CPU
// cannot run the tier, or on an unknown type / bad k.
int recur_q_linear_isa(recur_isa isa, recur_qtype t, const void *packed, const float *x, float *y,
                       int64_t m, int64_t n, int64_t k, void *act_scratch);
// y[m, n] = swiglu(gate_up)[m, k] * W[n, k]^T, gate_up [m, 2k] as recur_f32_swiglu takes it (gate,
// then up, per row). Each row's activation is formed in the gate half of its row, which it
// overwrites, and quantized while in cache: the same bits as recur_f32_swiglu into a buffer and then
// recur_q_linear, without that buffer. swiglu runs in the FP32 tier recur_isa_active() names.
void recur_q_linear_swiglu(recur_qtype t, const void *packed, float *gate_up, float *y, int64_t m, int64_t n,
                           int64_t k, void *act_scratch);
// Same with an explicit tier for the quantized part; -1 as recur_q_linear_isa.
int recur_q_linear_swiglu_isa(recur_isa isa, recur_qtype t, const void *packed, float *gate_up, float *y,
                              int64_t m, int64_t n, int64_t k, void *act_scratch);
// 1 if recur_q_linear_isa can run this tier here (from recur_cpu_features()).
int recur_q_isa_supported(recur_isa isa);

// Micro-kernel shapes. A tier may have several register blockings of its micro-kernel, named
// "rows x panels" ("8x1": 8 activation rows against one 16-row weight panel, "4x2": 4 rows against
// two panels); all give the same bits. Which one runs depends on the core (how many vpdpbusd it
// issues per cycle, how the broadcasts and the per-block float work compete with them), so it is
// chosen per tier and type by timing every shape through the whole linear, on the caller's threads,
// the first time a linear of that type runs (about 20 ms), unless RECUR_QKERNEL=<name> names a
// shape of the tier.
typedef struct {
    char name[8];
    double gops; // the timed rate (0 if not timed: the tier's only shape, or one forced)
    int threads; // threads the timing ran on
} recur_q_shape_rate;
// Tunes if not done yet; fills up to cap entries, returns the tier's shape count (or -1 for a tier
// this CPU cannot run) and sets *chosen to the index of the shape in use.
int recur_q_shapes(recur_isa isa, recur_qtype t, recur_q_shape_rate *rates, int cap, int *chosen);
// Uses the named shape for (isa, t) from now on (tests run every shape against scalar); NULL goes
// back to tuning. -1 (nothing changed) if the tier has no such shape.
int recur_q_shape_set(recur_isa isa, recur_qtype t, const char *name);

#ifdef __cplusplus
}
#endif

#endif // RECUR_QUANT_H
