// Per-tier XNOR-popcount kernels behind recur_bnn_xnor_gemm (not part of the public module).
#ifndef RECUR_BNN_INTERNAL_H
#define RECUR_BNN_INTERNAL_H

#include "recur_internal.h"
#include "recur_bnn.h"

// popcount(x XOR w) over `words` words.
typedef int64_t (*recur_bnn_xor_popcount_fn)(const uint64_t *x, const uint64_t *w, int64_t words);

int64_t recur_bnn_xor_popcount_scalar(const uint64_t *x, const uint64_t *w, int64_t words);
#if RECUR_X86
int64_t recur_bnn_xor_popcount_avx2(const uint64_t *x, const uint64_t *w, int64_t words);
int64_t recur_bnn_xor_popcount_avx512(const uint64_t *x, const uint64_t *w, int64_t words);
void recur_bnn_pack_row_avx2(const float *x, const float *center, uint64_t *bits, int64_t k);
#endif

#endif
