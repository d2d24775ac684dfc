// Shared by the benchmark and the checker: random standard-layout weights and activations.
#ifndef QCOMMON_H
#define QCOMMON_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recur_quant.h"

static uint64_t qc_state = 0x9e3779b97f4a7c15ull;
static uint32_t qc_rand(void) {
    qc_state ^= qc_state << 13;
    qc_state ^= qc_state >> 7;
    qc_state ^= qc_state << 17;
    return (uint32_t)(qc_state >> 11);
}
static float qc_uniform(void) { return (float)(qc_rand() & 0xffffff) / 16777216.0f * 2.0f - 1.0f; }

// Random fp16 scale in about [2^-10, 2^-6) with a random sign for Q4_1 mins.
static uint16_t qc_half(int allow_negative) {
    uint16_t h = (uint16_t)((5 + qc_rand() % 4) << 10 | (qc_rand() & 0x3ff));
    if (allow_negative && (qc_rand() & 1)) h |= 0x8000;
    return h;
}

// n x k standard-layout weights with random quants (Q8_0 quants over the full int8 range, -128 too).
static void *qc_weights(recur_qtype t, int64_t n, int64_t k) {
    size_t rb = recur_q_row_bytes(t, k), bb = recur_q_block_bytes(t);
    uint8_t *w = (uint8_t *)malloc(rb * (size_t)n);
    for (size_t i = 0; i < rb * (size_t)n; i++) w[i] = (uint8_t)qc_rand();
    for (size_t o = 0; o < rb * (size_t)n; o += bb) {
        uint16_t d = qc_half(0);
        memcpy(w + o, &d, 2);
        if (t == RECUR_Q4_1) {
            uint16_t m = qc_half(1);
            memcpy(w + o + 2, &m, 2);
        }
    }
    return w;
}

static float *qc_floats(int64_t count) {
    float *x = (float *)malloc(sizeof(float) * (size_t)count);
    for (int64_t i = 0; i < count; i++) x[i] = qc_uniform();
    return x;
}

static void *qc_aligned(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    return p;
}
#endif
