// CPU shim for qcheck_emulated: claims every feature, so recur_q_linear_isa runs the AVX-VNNI,
// AVX-512 and AMX kernels compiled against vnni_emulation.h / amx_emulation.h (which only need AVX2).
#include "recur_kernels.h"

uint32_t recur_cpu_features(void) {
    return RECUR_CPU_AVX2 | RECUR_CPU_FMA | RECUR_CPU_F16C | RECUR_CPU_AVX512F | RECUR_CPU_AVX512BW |
           RECUR_CPU_AVX512VL | RECUR_CPU_AVX512VNNI | RECUR_CPU_AVXVNNI | RECUR_CPU_AMX_INT8;
}

recur_isa recur_isa_active(void) { return RECUR_ISA_SCALAR; }

const char *recur_isa_name(recur_isa isa) {
    switch (isa) {
    case RECUR_ISA_SCALAR: return "scalar";
    case RECUR_ISA_AVX2: return "avx2";
    case RECUR_ISA_AVXVNNI: return "avxvnni(emulated)";
    case RECUR_ISA_AVX512: return "avx512(emulated)";
    case RECUR_ISA_AMX: return "amx(emulated)";
    }
    return "unknown";
}

static int shim_threads = 1;
void recur_set_num_threads(int n) { shim_threads = n < 1 ? 1 : n; }
int recur_get_num_threads(void) { return shim_threads; }
