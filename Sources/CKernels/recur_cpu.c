// CPU feature detection, the SIMD tier choice and the thread count shared by OpenMP and OpenBLAS.
#include "recur_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if RECUR_X86
#include <cpuid.h>
#endif
#if RECUR_X86 && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#ifdef RECUR_HAVE_OPENMP
#include <omp.h>
#endif

// Declared here rather than taken from <cblas.h> so this file does not depend on which BLAS header
// is installed; weak on ELF so a build against another BLAS still links (the call is then skipped).
// OpenBLAS always runs single-threaded inside our own OpenMP split (recur_blas_single_threaded).
#if defined(__ELF__)
void openblas_set_num_threads(int num_threads) __attribute__((weak));
#else
void openblas_set_num_threads(int num_threads);
#endif

// ---------------------------------------------------------------------------------------------
// Features

#if RECUR_X86
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    // Raw opcode-free asm: xgetbv needs no target attribute this way.
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

// Linux hands out AMX tile data state per process on request (arch_prctl); without it the first
// tile instruction raises SIGILL. Asked once, at detection; elsewhere AMX is not used.
static int os_grants_amx(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    enum { get_perm = 0x1022, req_perm = 0x1023, xtiledata = 18 };
    unsigned long granted = 0;
    if (syscall(SYS_arch_prctl, req_perm, xtiledata) != 0) return 0;
    if (syscall(SYS_arch_prctl, get_perm, &granted) != 0) return 0;
    return (granted >> xtiledata) & 1;
#else
    return 0;
#endif
}

static uint32_t detect_features(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const unsigned max_leaf = a;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    // Without OS-saved YMM state no VEX instruction (FMA and F16C included) may run.
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return 0; // XMM and YMM state
    const int zmm_state = (xcr0 & 0xE0) == 0xE0; // opmask, ZMM0-15 upper halves, ZMM16-31
    const int tile_state = (xcr0 & (3u << 17)) == (3u << 17);

    uint32_t f = 0;
    if ((c >> 12) & 1) f |= RECUR_CPU_FMA;
    if ((c >> 29) & 1) f |= RECUR_CPU_F16C;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        const unsigned max_subleaf = a;
        if ((b >> 5) & 1) f |= RECUR_CPU_AVX2;
        if (zmm_state) {
            if ((b >> 16) & 1) f |= RECUR_CPU_AVX512F;
            if ((b >> 30) & 1) f |= RECUR_CPU_AVX512BW;
            if ((b >> 31) & 1) f |= RECUR_CPU_AVX512VL;
            if ((c >> 11) & 1) f |= RECUR_CPU_AVX512VNNI;
            if ((c >> 14) & 1) f |= RECUR_CPU_AVX512VPOPCNTDQ;
        }
        // AMX-TILE and AMX-INT8, tile state enabled in XCR0, and the OS's per-process grant.
        if (tile_state && ((d >> 24) & 1) && ((d >> 25) & 1) && os_grants_amx()) f |= RECUR_CPU_AMX_INT8;
        if (max_subleaf >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            if ((a >> 4) & 1) f |= RECUR_CPU_AVXVNNI;
            if (zmm_state && ((a >> 5) & 1)) f |= RECUR_CPU_AVX512BF16;
        }
    }
    return f;
}
#else
static uint32_t detect_features(void) { return 0; }
#endif

static const uint32_t avx2_needs = RECUR_CPU_AVX2 | RECUR_CPU_FMA | RECUR_CPU_F16C;
static const uint32_t avxvnni_needs = RECUR_CPU_AVX2 | RECUR_CPU_FMA | RECUR_CPU_F16C | RECUR_CPU_AVXVNNI;
static const uint32_t avx512_needs = RECUR_CPU_AVX2 | RECUR_CPU_FMA | RECUR_CPU_F16C |
                                     RECUR_CPU_AVX512F | RECUR_CPU_AVX512BW |
                                     RECUR_CPU_AVX512VL | RECUR_CPU_AVX512VNNI;
static const uint32_t amx_needs = avx512_needs | RECUR_CPU_AMX_INT8;

// ---------------------------------------------------------------------------------------------
// Tier choice: made once, thread-safe; recur_isa_set may later replace it (tests).

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static uint32_t g_features;
static recur_isa g_best;
static int g_env_rejected;
static _Atomic int g_active = -1;

static int parse_isa(const char *s, recur_isa *out) {
    char buf[16];
    size_t n = 0;
    for (; s[n] && n + 1 < sizeof buf; n++) buf[n] = (char)tolower((unsigned char)s[n]);
    if (s[n]) return 0; // longer than any tier name
    buf[n] = 0;
    if (!strcmp(buf, "scalar")) *out = RECUR_ISA_SCALAR;
    else if (!strcmp(buf, "avx2")) *out = RECUR_ISA_AVX2;
    else if (!strcmp(buf, "avxvnni")) *out = RECUR_ISA_AVXVNNI;
    else if (!strcmp(buf, "avx512")) *out = RECUR_ISA_AVX512;
    else if (!strcmp(buf, "amx")) *out = RECUR_ISA_AMX;
    else return 0;
    return 1;
}

static int supported_by(uint32_t features, recur_isa isa) {
    switch (isa) {
    case RECUR_ISA_SCALAR: return 1;
    case RECUR_ISA_AVX2: return (features & avx2_needs) == avx2_needs;
    case RECUR_ISA_AVXVNNI: return (features & avxvnni_needs) == avxvnni_needs;
    case RECUR_ISA_AVX512: return (features & avx512_needs) == avx512_needs;
    case RECUR_ISA_AMX: return (features & amx_needs) == amx_needs;
    }
    return 0;
}

static void init_isa(void) {
    g_features = detect_features();
    g_best = supported_by(g_features, RECUR_ISA_AMX)       ? RECUR_ISA_AMX
             : supported_by(g_features, RECUR_ISA_AVX512)  ? RECUR_ISA_AVX512
             : supported_by(g_features, RECUR_ISA_AVXVNNI) ? RECUR_ISA_AVXVNNI
             : supported_by(g_features, RECUR_ISA_AVX2)    ? RECUR_ISA_AVX2
                                                           : RECUR_ISA_SCALAR;
    recur_isa choice = g_best;
    const char *env = getenv("RECUR_ISA");
    if (env && *env) {
        recur_isa wanted;
        if (parse_isa(env, &wanted) && supported_by(g_features, wanted)) choice = wanted;
        else g_env_rejected = 1;
    }
    atomic_store_explicit(&g_active, (int)choice, memory_order_release);
}

static void ensure_init(void) { pthread_once(&g_once, init_isa); }

uint32_t recur_cpu_features(void) {
    ensure_init();
    return g_features;
}

recur_isa recur_isa_best(void) {
    ensure_init();
    return g_best;
}

recur_isa recur_isa_active(void) {
    int v = atomic_load_explicit(&g_active, memory_order_acquire);
    if (v < 0) {
        ensure_init();
        v = atomic_load_explicit(&g_active, memory_order_acquire);
    }
    return (recur_isa)v;
}

int recur_isa_supported(recur_isa isa) {
    ensure_init();
    return supported_by(g_features, isa);
}

int recur_isa_set(recur_isa isa) {
    ensure_init();
    if (!supported_by(g_features, isa)) return -1;
    atomic_store_explicit(&g_active, (int)isa, memory_order_release);
    return 0;
}

const char *recur_isa_name(recur_isa isa) {
    switch (isa) {
    case RECUR_ISA_SCALAR: return "scalar";
    case RECUR_ISA_AVX2: return "avx2";
    case RECUR_ISA_AVXVNNI: return "avxvnni";
    case RECUR_ISA_AVX512: return "avx512";
    case RECUR_ISA_AMX: return "amx";
    }
    return "unknown";
}

int recur_isa_env_rejected(void) {
    ensure_init();
    return g_env_rejected;
}

// ---------------------------------------------------------------------------------------------
// Threads

// The thread count belongs to the calling thread, so two models served from two threads of one
// process each keep their own (`recur serve` runs every model on its own thread). A thread that
// never chose one gets the process default, taken lazily so OMP_NUM_THREADS set before the first
// call counts.
static _Atomic int g_default_threads = 0;
static _Thread_local int t_threads = 0;

void recur_set_num_threads(int n) {
    if (n < 1) n = 1;
    t_threads = n;
#ifdef RECUR_HAVE_OPENMP
    // Only the calling thread's default; our own parallel regions pass num_threads explicitly so
    // the count holds whichever thread calls a kernel.
    omp_set_num_threads(n);
#endif
}

static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;

static void blas_single(void) {
    if (openblas_set_num_threads) openblas_set_num_threads(1);
}

void recur_blas_single_threaded(void) { pthread_once(&g_blas_once, blas_single); }

int recur_openmp_enabled(void) {
#ifdef RECUR_HAVE_OPENMP
    return 1;
#else
    return 0;
#endif
}

int recur_get_num_threads(void) {
    if (t_threads > 0) return t_threads;
    int n = atomic_load_explicit(&g_default_threads, memory_order_relaxed);
    if (n > 0) return n;
#ifdef RECUR_HAVE_OPENMP
    int fresh = omp_get_max_threads();
#else
    int fresh = 1;
#endif
    if (fresh < 1) fresh = 1;
    int expected = 0;
    // First caller wins, so every later caller (and every scratch size) sees the same default.
    if (!atomic_compare_exchange_strong(&g_default_threads, &expected, fresh)) return expected;
    return fresh;
}

void recur_parallel_for(int64_t count, int64_t cost_per_item, recur_range_fn fn, void *ctx) {
    if (count <= 0) return;
#ifdef RECUR_HAVE_OPENMP
    int64_t nt = recur_get_num_threads();
    if (nt > count) nt = count;
    const double work = (double)count * (double)(cost_per_item > 0 ? cost_per_item : 1);
    if (nt > 1 && work >= (double)RECUR_PARALLEL_MIN_WORK && !omp_in_parallel()) {
#pragma omp parallel num_threads((int)nt)
        {
            const int64_t t = omp_get_thread_num(), teams = omp_get_num_threads();
            const int64_t q = count / teams, r = count % teams;
            const int64_t begin = t * q + (t < r ? t : r);
            const int64_t end = begin + q + (t < r ? 1 : 0);
            if (begin < end) fn(ctx, begin, end, (int)t);
        }
        return;
    }
#else
    (void)cost_per_item;
#endif
    fn(ctx, 0, count, 0);
}
