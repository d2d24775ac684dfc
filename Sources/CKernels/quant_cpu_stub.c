// TEMPORARY stand-in for recur_cpu.c (being written on another branch) so the quantized kernels
// build and test on their own; delete this file when that branch is merged.
#include <stdlib.h>
#include <string.h>
#ifdef RECUR_HAVE_OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "recur_kernels.h"

static int stub_forced = -1;
static int stub_env_rejected = 0;

uint32_t recur_cpu_features(void) {
    uint32_t f = 0;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return 0;
    const int zmm = (lo & 0xe0) == 0xe0;
    if ((c >> 12) & 1) f |= RECUR_CPU_FMA;
    if ((c >> 29) & 1) f |= RECUR_CPU_F16C;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if ((b >> 5) & 1) f |= RECUR_CPU_AVX2;
        if (zmm) {
            if ((b >> 16) & 1) f |= RECUR_CPU_AVX512F;
            if ((b >> 30) & 1) f |= RECUR_CPU_AVX512BW;
            if ((b >> 31) & 1) f |= RECUR_CPU_AVX512VL;
            if ((c >> 11) & 1) f |= RECUR_CPU_AVX512VNNI;
            if ((c >> 14) & 1) f |= RECUR_CPU_AVX512VPOPCNTDQ;
        }
        if ((d >> 25) & 1) f |= RECUR_CPU_AMX_INT8;
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1)) f |= RECUR_CPU_AVXVNNI;
    }
#endif
    return f;
}

int recur_isa_supported(recur_isa isa) {
    const uint32_t f = recur_cpu_features();
    const uint32_t avx2 = RECUR_CPU_AVX2 | RECUR_CPU_FMA | RECUR_CPU_F16C;
    const uint32_t avx512 = avx2 | RECUR_CPU_AVX512F | RECUR_CPU_AVX512BW | RECUR_CPU_AVX512VL | RECUR_CPU_AVX512VNNI;
    switch (isa) {
    case RECUR_ISA_SCALAR: return 1;
    case RECUR_ISA_AVX2: return (f & avx2) == avx2;
    case RECUR_ISA_AVXVNNI: return (f & (avx2 | RECUR_CPU_AVXVNNI)) == (avx2 | RECUR_CPU_AVXVNNI);
    case RECUR_ISA_AVX512: return (f & avx512) == avx512;
    }
    return 0;
}

recur_isa recur_isa_best(void) {
    if (recur_isa_supported(RECUR_ISA_AVX512)) return RECUR_ISA_AVX512;
    if (recur_isa_supported(RECUR_ISA_AVXVNNI)) return RECUR_ISA_AVXVNNI;
    if (recur_isa_supported(RECUR_ISA_AVX2)) return RECUR_ISA_AVX2;
    return RECUR_ISA_SCALAR;
}

const char *recur_isa_name(recur_isa isa) {
    switch (isa) {
    case RECUR_ISA_SCALAR: return "scalar";
    case RECUR_ISA_AVX2: return "avx2";
    case RECUR_ISA_AVXVNNI: return "avxvnni";
    case RECUR_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

recur_isa recur_isa_active(void) {
    if (stub_forced >= 0) return (recur_isa)stub_forced;
    const char *env = getenv("RECUR_ISA");
    if (env != NULL) {
        for (int i = 0; i < 4; i++) {
            if (strcmp(env, recur_isa_name((recur_isa)i)) == 0) {
                if (recur_isa_supported((recur_isa)i)) return (recur_isa)i;
                stub_env_rejected = 1;
            }
        }
    }
    return recur_isa_best();
}

int recur_isa_set(recur_isa isa) {
    if (!recur_isa_supported(isa)) return -1;
    stub_forced = (int)isa;
    return 0;
}

int recur_isa_env_rejected(void) {
    (void)recur_isa_active();
    return stub_env_rejected;
}

void recur_set_num_threads(int n) {
#ifdef RECUR_HAVE_OPENMP
    omp_set_num_threads(n < 1 ? 1 : n);
#else
    (void)n;
#endif
}

int recur_get_num_threads(void) {
#ifdef RECUR_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
