// Picks each tier's micro-kernel shape by timing: the register blocking that keeps one core's
// VNNI pipes busiest depends on the core's issue width and on how its broadcasts and per-block
// float work compete with the multiply-adds, which a fixed choice gets right for one generation
// only. Every shape gives the same bits, so the choice changes speed alone.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant_internal.h"

#define RQ_TIERS 5
#define RQ_TYPES 3
#define RQ_MAX_SHAPES 8
// The timed problem: a TRM attention projection for two 97-token sequences (194 x 1536 x 512;
// Q8_0 weights of 884 KB), through the whole linear (activation quantization, L2-sized panel
// groups, the caller's threads), about a millisecond per shape and round. Smaller problems rank the
// shapes differently: on Zen 4, 48 x 256 x 512 on one thread rated 4x2 level with 8x1, while on the
// TRM shapes 8x1 ran 4-7% faster (qgemm_bench).
#define TUNE_M 194
#define TUNE_N 1536
#define TUNE_K 512
#define TUNE_ROUNDS 5
// A wider shape must beat the one-panel kernels by this factor to be chosen, so timing noise does
// not flip the choice between two shapes that run alike.
#define TUNE_MARGIN 1.05

// Per tier and type: 0 not chosen yet, else the shape index + 2 (1: the one-panel kernels).
static _Atomic int chosen_shape[RQ_TIERS][RQ_TYPES];
static double tuned_gops[RQ_TIERS][RQ_TYPES][RQ_MAX_SHAPES + 1];
static int tuned_threads[RQ_TIERS][RQ_TYPES];
// While the tuner times a shape on this thread: that shape (else -2).
static _Thread_local int timing_shape = -2;

static int type_index(recur_qtype t) { return t == RECUR_Q8_0 ? 0 : t == RECUR_Q4_0 ? 1 : 2; }

static void shape_name(const rq_kernels *ks, int shape, char out[8]) {
    const char *name = shape >= 0 ? ks->shapes[shape].name : ks->name;
    if (name) {
        strncpy(out, name, 7);
        out[7] = 0;
    } else {
        snprintf(out, 8, "%dx1", ks->mr);
    }
}

// -2: no shape of this tier named; -1: the one-panel kernels; else a shape index.
static int shape_named(const rq_kernels *ks, const char *want) {
    if (!want || !*want) return -2;
    char name[8];
    for (int s = -1; s < ks->nshapes && s < RQ_MAX_SHAPES; s++) {
        shape_name(ks, s, name);
        if (strcmp(name, want) == 0) return s;
    }
    return -2;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Standard-layout weights with valid half scales (1/128, and -1/128 as Q4_1's minimum) and
// pseudo-random quants.
static void fill_weights(recur_qtype t, uint8_t *w, int64_t n, int64_t k) {
    const size_t bb = recur_q_block_bytes(t);
    uint32_t state = 0x9e3779b9u;
    for (int64_t blk = 0; blk < n * (k / RECUR_QK); blk++) {
        uint8_t *b = w + (size_t)blk * bb;
        for (size_t j = 0; j < bb; j++) {
            state = state * 1664525u + 1013904223u;
            b[j] = (uint8_t)(state >> 24);
        }
        b[0] = 0x00, b[1] = 0x20; // d = 2^-7
        if (t == RECUR_Q4_1) b[2] = 0x00, b[3] = 0xa0;
    }
}

// Times every shape of the tier for type t; returns the fastest (-1: the one-panel kernels).
static int tune(recur_isa isa, const rq_kernels *ks, recur_qtype t, double *gops) {
    const int shapes = ks->nshapes < RQ_MAX_SHAPES ? ks->nshapes : RQ_MAX_SHAPES;
    uint8_t *w = malloc(recur_q_row_bytes(t, TUNE_K) * TUNE_N);
    void *packed = aligned_alloc(64, (recur_q_packed_size(t, TUNE_N, TUNE_K) + 63) / 64 * 64);
    void *scratch = aligned_alloc(64, (recur_q_act_size(TUNE_M, TUNE_K) + 63) / 64 * 64);
    float *x = malloc(sizeof(float) * TUNE_M * TUNE_K), *y = malloc(sizeof(float) * TUNE_M * TUNE_N);
    int best = -1;
    if (w && packed && scratch && x && y) {
        fill_weights(t, w, TUNE_N, TUNE_K);
        recur_q_repack(t, w, packed, TUNE_N, TUNE_K);
        for (int i = 0; i < TUNE_M * TUNE_K; i++) x[i] = (float)((i * 37) % 255 - 127) / 127.0f;
        double seconds[RQ_MAX_SHAPES + 1];
        for (int s = -1; s < shapes; s++) {
            timing_shape = s; // warm-up
            recur_q_linear_isa(isa, t, packed, x, y, TUNE_M, TUNE_N, TUNE_K, scratch);
            seconds[s + 1] = 1e30;
        }
        // Rounds over all shapes, so a burst of other work on the machine hits them alike.
        for (int round = 0; round < TUNE_ROUNDS; round++)
            for (int s = -1; s < shapes; s++) {
                timing_shape = s;
                const double t0 = now_seconds();
                recur_q_linear_isa(isa, t, packed, x, y, TUNE_M, TUNE_N, TUNE_K, scratch);
                const double dt = now_seconds() - t0;
                if (dt < seconds[s + 1]) seconds[s + 1] = dt;
            }
        timing_shape = -2;
        for (int s = -1; s < shapes; s++) {
            gops[s + 1] = 2.0 * TUNE_M * TUNE_N * TUNE_K / (seconds[s + 1] > 0 ? seconds[s + 1] : 1e-12) / 1e9;
            if (gops[s + 1] > gops[best + 1] * (best < 0 ? TUNE_MARGIN : 1.0)) best = s;
        }
    }
    free(w), free(packed), free(scratch), free(x), free(y);
    return best;
}

int rq_shape_for(recur_isa isa, recur_qtype t) {
    const rq_kernels *ks = rq_kernels_for(isa);
    if (!ks || ks->nshapes == 0 || (int)isa < 0 || (int)isa >= RQ_TIERS) return -1;
    if (timing_shape != -2) return timing_shape;
    const int ti = type_index(t);
    const int known = atomic_load(&chosen_shape[isa][ti]);
    if (known) return known - 2;
    // Two threads may both tune here; either answer is a valid shape.
    int shape = shape_named(ks, getenv("RECUR_QKERNEL"));
    if (shape == -2) {
        tuned_threads[isa][ti] = recur_get_num_threads();
        shape = tune(isa, ks, t, tuned_gops[isa][ti]);
    }
    atomic_store(&chosen_shape[isa][ti], shape + 2);
    return shape;
}

int recur_q_shapes(recur_isa isa, recur_qtype t, recur_q_shape_rate *rates, int cap, int *chosen) {
    if (!recur_q_isa_supported(isa)) return -1;
    const rq_kernels *ks = rq_kernels_for(isa);
    if (!ks) return -1;
    const int shape = rq_shape_for(isa, t);
    if (chosen) *chosen = shape + 1;
    const int count = 1 + (ks->nshapes < RQ_MAX_SHAPES ? ks->nshapes : RQ_MAX_SHAPES);
    for (int s = -1; s < count - 1 && s + 1 < cap; s++) {
        shape_name(ks, s, rates[s + 1].name);
        rates[s + 1].gops = ks->nshapes ? tuned_gops[isa][type_index(t)][s + 1] : 0;
        rates[s + 1].threads = tuned_threads[isa][type_index(t)];
    }
    return count;
}

int recur_q_shape_set(recur_isa isa, recur_qtype t, const char *name) {
    const rq_kernels *ks = rq_kernels_for(isa);
    if (!ks || (int)isa < 0 || (int)isa >= RQ_TIERS) return -1;
    if (!name) {
        atomic_store(&chosen_shape[isa][type_index(t)], 0);
        return 0;
    }
    const int shape = shape_named(ks, name);
    if (shape == -2) return -1;
    atomic_store(&chosen_shape[isa][type_index(t)], shape + 2);
    return 0;
}
