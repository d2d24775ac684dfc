// SwiGLU fused into the activation quantization of the quantized linear that follows it (the FFN
// down projection): each row's silu(gate) * up is formed by the FP32 tier's own swiglu kernel in the
// gate half of its gate/up row and quantized right after, while it is in cache. The bits are those
// of recur_f32_swiglu into a separate buffer followed by recur_q_linear; what goes is that buffer's
// write and read-back (at batch 16 of the Sudoku TRM, 9.5 MB each way per layer) and one parallel
// region.
#include "f32_ops.h"
#include "quant_internal.h"

typedef struct {
    const recur_f32_ops *ops;
    float *gate_up;
} swiglu_input;

// Row i of [gate | up] -> silu(gate) * up in its gate half (elementwise, so in place is safe).
static void swiglu_row(const void *ctx, int64_t i, int64_t k) {
    const swiglu_input *in = ctx;
    float *row = in->gate_up + i * 2 * k;
    in->ops->swiglu(row, row, 1, k);
}

int recur_q_linear_swiglu_isa(recur_isa isa, recur_qtype t, const void *packed, float *gate_up, float *y,
                              int64_t m, int64_t n, int64_t k, void *act_scratch) {
    const swiglu_input in = {recur_f32_active_ops(), gate_up};
    return rq_linear_prepared(isa, t, packed, gate_up, 2 * k, swiglu_row, &in, y, m, n, k, act_scratch);
}

void recur_q_linear_swiglu(recur_qtype t, const void *packed, float *gate_up, float *y, int64_t m, int64_t n,
                           int64_t k, void *act_scratch) {
    (void)recur_q_linear_swiglu_isa(rq_effective_isa(), t, packed, gate_up, y, m, n, k, act_scratch);
}
