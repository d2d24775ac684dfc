// Internal helpers shared by the kernel files (not part of the public module: it lives outside
// include/). Quantized and FP32 kernels both use the thread splitter and the target macros.
#ifndef RECUR_INTERNAL_H
#define RECUR_INTERNAL_H

#include "recur_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define RECUR_X86 1
#else
#define RECUR_X86 0
#endif

// Each SIMD function carries its own target so the package builds with plain -O3: the code for a
// tier the CPU lacks is compiled but never called (the dispatch asks recur_isa_active() first).
#define RECUR_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define RECUR_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

// Work below this many element operations runs on the calling thread: an OpenMP fork/join costs a
// few microseconds, more than such work takes on one core.
#define RECUR_PARALLEL_MIN_WORK ((int64_t)1 << 16)

// Body of a parallel loop: handles items [begin, end). `thread` is below recur_get_num_threads()
// and names the caller's per-thread scratch slot.
typedef void (*recur_range_fn)(void *ctx, int64_t begin, int64_t end, int thread);

// Splits [0, count) into one contiguous range per thread (static, so results never depend on
// scheduling) when count * cost_per_item reaches RECUR_PARALLEL_MIN_WORK, else runs fn once on the
// calling thread with thread index 0 (also inside an enclosing OpenMP parallel region).
void recur_parallel_for(int64_t count, int64_t cost_per_item, recur_range_fn fn, void *ctx);

// Puts OpenBLAS in single-threaded mode (once per process): BLAS calls are made from inside our
// own OpenMP split, on fixed tiles, so results never depend on the thread count.
void recur_blas_single_threaded(void);

#endif // RECUR_INTERNAL_H
