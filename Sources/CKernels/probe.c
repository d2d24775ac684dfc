// What this machine can do at most: the INT8 multiply-add rate of each kernel tier and the read
// bandwidth of a cache level or of memory, so a profile can say how close a kernel runs to them.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recur_internal.h"

#ifdef RECUR_HAVE_OPENMP
#include <omp.h>
#endif

#if RECUR_X86
int64_t recur_probe_avx2(int64_t iterations);
int64_t recur_probe_avxvnni(int64_t iterations);
int64_t recur_probe_avx512(int64_t iterations);
uint64_t recur_probe_read_avx2(const uint64_t *x, int64_t n);
#endif

#define SCALAR_CHAINS 8

// Scalar tier: int32 multiply-adds of 8-bit values in independent chains, as the scalar kernels
// accumulate (the empty asm keeps the compiler from vectorizing or folding the chains away).
static int64_t probe_scalar(int64_t iterations) {
    int32_t acc[SCALAR_CHAINS] = {0};
    int32_t a = 3, b = -2;
    for (int64_t it = 0; it < iterations; it++) {
        __asm__ volatile("" : "+r"(a), "+r"(b));
        for (int c = 0; c < SCALAR_CHAINS; c++) acc[c] += a * b;
        __asm__ volatile("" : "+m"(acc));
    }
    int64_t s = 0;
    for (int c = 0; c < SCALAR_CHAINS; c++) s += acc[c];
    return s;
}

typedef int64_t (*probe_fn)(int64_t iterations);

// The probe of a tier and the multiply-adds one of its iterations does.
static probe_fn probe_for(recur_isa isa, double *macs) {
    switch (isa) {
    case RECUR_ISA_SCALAR: *macs = SCALAR_CHAINS; return probe_scalar;
#if RECUR_X86
    case RECUR_ISA_AVX2: *macs = 6.0 * 32; return recur_probe_avx2;
    case RECUR_ISA_AVXVNNI: *macs = 12.0 * 32; return recur_probe_avxvnni;
    case RECUR_ISA_AVX512: *macs = 12.0 * 64; return recur_probe_avx512;
#endif
    default: return NULL;
    }
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile int64_t probe_sink;

// Wall seconds for every one of `threads` threads to run fn(iterations) at once.
static double run_threads(probe_fn fn, int64_t iterations, int threads) {
    const double t0 = now_seconds();
#ifdef RECUR_HAVE_OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        { probe_sink += fn(iterations); }
        return now_seconds() - t0;
    }
#endif
    probe_sink += fn(iterations);
    return now_seconds() - t0;
}

static int threads_or_all(int threads) {
    if (threads <= 0) threads = recur_get_num_threads();
#ifndef RECUR_HAVE_OPENMP
    threads = 1;
#endif
    return threads < 1 ? 1 : threads;
}

double recur_probe_int8_gops(recur_isa isa, int threads, double seconds) {
    double macs = 0;
    const probe_fn fn = probe_for(isa, &macs);
    if (!fn || !recur_isa_supported(isa)) return -1;
    threads = threads_or_all(threads);
    if (seconds <= 0) seconds = 0.2;
    // Calibrate on one thread: double the count until a run takes a tenth of the budget.
    int64_t iterations = 1 << 12;
    double t = 0;
    while ((t = run_threads(fn, iterations, 1)) < 0.1 * seconds && iterations < ((int64_t)1 << 40)) iterations *= 2;
    iterations = (int64_t)((double)iterations * seconds / (t > 0 ? t : 1e-9)) + 1;
    // Best of three: a shared machine only ever makes a run slower.
    double best = 0;
    for (int r = 0; r < 3; r++) {
        const double wall = run_threads(fn, iterations, threads);
        const double gops = 2.0 * macs * (double)iterations * (double)threads / wall / 1e9;
        if (gops > best) best = gops;
    }
    return best;
}

static uint64_t read_words(const uint64_t *x, int64_t n) {
#if RECUR_X86
    if (recur_isa_supported(RECUR_ISA_AVX2)) return recur_probe_read_avx2(x, n);
#endif
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t i = 0; i < n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

// Wall seconds for each thread to allocate and fill its own buffer (first touch, so the pages
// are local to it) and read it `passes` times.
static double read_passes(int64_t words, int64_t passes, int threads, int *failed) {
    const double t0 = now_seconds();
    int bad = 0;
#ifdef RECUR_HAVE_OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : bad)
#endif
    {
        uint64_t *x = aligned_alloc(64, (size_t)words * sizeof(uint64_t));
        if (!x) {
            bad = 1;
        } else {
            for (int64_t i = 0; i < words; i++) x[i] = (uint64_t)i;
            uint64_t s = 0;
            for (int64_t p = 0; p < passes; p++) s += read_words(x, words);
            probe_sink += (int64_t)s;
            free(x);
        }
    }
    *failed = bad;
    return now_seconds() - t0;
}

double recur_probe_read_gbs(int64_t bytes_per_thread, int threads, double seconds) {
    threads = threads_or_all(threads);
    if (seconds <= 0) seconds = 0.2;
    int64_t words = (bytes_per_thread / 128) * 16; // whole 128-byte groups
    if (words < 16) words = 16;
    int failed = 0;
    // Calibrate passes on one thread (allocation and first touch included, so it overestimates
    // the time per pass and the run stays within the budget).
    int64_t passes = 1;
    double t = 0;
    while ((t = read_passes(words, passes, 1, &failed)) < 0.1 * seconds && passes < ((int64_t)1 << 30) && !failed) passes *= 2;
    if (failed) return -1;
    passes = (int64_t)((double)passes * seconds / (t > 0 ? t : 1e-9)) + 1;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        // Time the reads alone: one run with the passes, one without, the difference.
        const double with = read_passes(words, passes, threads, &failed);
        const double without = read_passes(words, 0, threads, &failed);
        if (failed) return -1;
        const double wall = with - without > 1e-6 ? with - without : 1e-6;
        const double gbs = (double)passes * (double)words * 8.0 * (double)threads / wall / 1e9;
        if (gbs > best) best = gbs;
    }
    return best;
}
