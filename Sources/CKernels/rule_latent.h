// Internal to the rule-latent kernels (rule_latent.c and its SIMD tiers): the prefix-LM layout's
// row arithmetic and the attention workers' arguments.
#ifndef RECUR_RULE_LATENT_H
#define RECUR_RULE_LATENT_H

#include "f32_ops.h"

// Row of sequence s's position `pos` (recur_prefix_batch in recur_kernels.h).
static inline int64_t recur_prefix_row(const recur_prefix_batch *b, int64_t s, int64_t pos) {
    return pos < b->prefix ? b->input_row[s] + pos
                           : b->output_row[s] + (pos - b->prefix) * b->output_step;
}

// Keys position i sees: j < recur_prefix_visible(b, i).
static inline int64_t recur_prefix_visible(const recur_prefix_batch *b, int64_t i) {
    return i < b->prefix ? b->prefix : i + 1;
}

// What the forward and backward attention workers read and write (the public functions'
// arguments). The workers are recur_range_fn bodies over these arguments: items (sequence, head)
// [i0, i1), with the scratch slot of `thread`.
typedef struct {
    const float *qkv, *probs_in, *dctx;
    float *ctx, *probs, *dqkv, *scratch;
    int64_t qkv_stride, ctx_stride, dctx_stride, dqkv_stride, scratch_per_thread;
    const recur_prefix_batch *batch;
    int64_t query_from, heads, head_dim;
    float scale;
    const recur_f32_ops *ops;
} recur_prefix_attention_args;

#if RECUR_X86
void recur_prefix_attention_avx2(void *args, int64_t i0, int64_t i1, int thread);
void recur_prefix_attention_backward_avx2(void *args, int64_t i0, int64_t i1, int thread);
#endif

#endif // RECUR_RULE_LATENT_H
