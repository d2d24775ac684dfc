// Private to the quantized kernels: the packed weight layout and the micro-kernel contract.
//
// Packed layout. Rows are grouped in panels of 16 (the last one padded with zero rows). A panel is
// nb = k/32 "packed blocks" in k order, each holding block b of its 16 rows:
//   Q8_0 (576 bytes): quants [g = 0..7][r = 0..15][j = 0..3] = qs_r[4g + j]   (512 bytes)
//                     then float d[16]
//   Q4_0 (320 bytes): quants [c = 0..3][r = 0..15][j = 0..3] = byte qs_r[4c + j] of the file, so the
//                     low nibble is element 4c + j and the high nibble element 4c + j + 16   (256 bytes)
//                     then float d[16]
//   Q4_1 (384 bytes): as Q4_0, then float d[16], then float m[16]
// Why: one 32-byte load gives 4 consecutive k of 8 rows (a 64-byte load: of 16 rows), which is what
// vpdpbusd and the maddubs + madd pair consume against 4 broadcast activation bytes; the per-row
// integer sums then land one row per 32-bit lane and never need a horizontal reduction. Scales are
// converted to float32 once here, in the same 64-byte line group as their quants.
#ifndef RECUR_QUANT_INTERNAL_H
#define RECUR_QUANT_INTERNAL_H

#include "recur_quant.h"

#define RQ_PANEL 16                          // rows per panel
#define RQ_Q8_0_PBLOCK 576                   // bytes per packed block
#define RQ_Q4_0_PBLOCK 320
#define RQ_Q4_1_PBLOCK 384
#define RQ_QUANT_BYTES_Q8 512                // offset of d[16] in a Q8_0 packed block
#define RQ_QUANT_BYTES_Q4 256                // offset of d[16] in a Q4 packed block

// Computes out[r * ldo + c] for rows i0 .. i0 + nr - 1 of the activations (nr <= the tier's mr) and
// the 16 rows of one panel, over all k. Must follow the accumulation order in recur_quant.h exactly.
typedef void (*rq_kernel_fn)(const uint8_t *panel, const recur_qact *a, int64_t i0, int nr, float *out,
                             int64_t ldo);

// A wider micro-kernel: up to mr activation rows x np consecutive panels (panel p at
// panel + p * pstride), the same sums in the same order as the tier's one-panel kernels.
typedef void (*rq_wide_fn)(const uint8_t *panel, size_t pstride, const recur_qact *a, int64_t i0, int nr,
                           float *out, int64_t ldo);

typedef struct {
    const char *name;   // "rows x panels", e.g. "4x2"
    int mr, np;         // mr <= the tier's own mr
    rq_wide_fn q8_0, q4_0, q4_1;
} rq_shape;

typedef struct {
    int mr;             // activation rows per micro-kernel call
    rq_kernel_fn q8_0;
    rq_kernel_fn q4_0;
    rq_kernel_fn q4_1;
    const char *name;   // the one-panel shape's name ("8x1"); NULL reads as "<mr>x1"
    int nshapes;        // wider shapes the tier can choose instead, by timing them (quant_tune.c)
    const rq_shape *shapes;
} rq_kernels;

// The shape recur_q_linear uses for type t in tier isa: -1 for the tier's one-panel kernels, else
// an index into its shapes. Timed once per tier and type, the first time it is asked
// (RECUR_QKERNEL=<name> forces a shape where the tier has it).
int rq_shape_for(recur_isa isa, recur_qtype t);
const rq_kernels *rq_kernels_for(recur_isa isa);

size_t rq_pblock_bytes(recur_qtype t);       // 0 for an unknown type

extern const rq_kernels rq_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
#define RQ_HAVE_X86 1
extern const rq_kernels rq_kernels_avx2;
extern const rq_kernels rq_kernels_avxvnni;
extern const rq_kernels rq_kernels_avx512;
extern const rq_kernels rq_kernels_amx;
void rq_quantize_act_rows_avx2(const float *x, int64_t ldx, const recur_qact *a, int64_t i0, int64_t i1);
void rq_quantize_act_rows_avx512(const float *x, int64_t ldx, const recur_qact *a, int64_t i0, int64_t i1);
#endif

// Activation quantization of rows [i0, i1), row i of x at x + i * ldx (callers may already be inside
// a parallel region).
typedef void (*rq_act_fn)(const float *x, int64_t ldx, const recur_qact *a, int64_t i0, int64_t i1);
void rq_quantize_act_rows(const float *x, int64_t ldx, const recur_qact *a, int64_t i0, int64_t i1);
// The quantizer a tier uses; every variant writes identical bytes.
rq_act_fn rq_act_for(recur_isa isa);

// The tier recur_q_linear runs: recur_isa_active(), lowered to one this CPU can run.
recur_isa rq_effective_isa(void);

// Forms input row i (k floats) in place before it is quantized (see rq_linear_prepared); ctx holds
// what it needs, the writable rows included.
typedef void (*rq_prepare_fn)(const void *ctx, int64_t i, int64_t k);
// recur_q_linear_isa over input rows ldx floats apart; with `prepare`, each row is first formed by
// it, on the thread that quantizes the row and just before.
int rq_linear_prepared(recur_isa isa, recur_qtype t, const void *packed, const float *x, int64_t ldx,
                       rq_prepare_fn prepare, const void *ctx, float *y, int64_t m, int64_t n, int64_t k,
                       void *act_scratch);

// IEEE half -> float (exact); used when repacking so kernels only see float32 scales.
float rq_half_to_float(uint16_t h);

#endif // RECUR_QUANT_INTERNAL_H
