// Quantized linear layer driver: tier choice, threads and cache blocking around the micro-kernels.
//
// Each output element is computed by exactly one micro-kernel call over all of k, so the thread
// count, the blocking and which thread takes which chunk never change a result.
#include <stdatomic.h>
#include <string.h>
#ifdef RECUR_HAVE_OPENMP
#include <omp.h>
#endif

#include "quant_internal.h"

// Below this many multiply-adds a parallel region costs more than it saves.
#define RQ_SERIAL_WORK (1 << 17)
// Activation bytes per cache block of rows (kept in L2 while a thread's weight panels stream by).
#define RQ_ACT_BLOCK_BYTES (64 * 1024)

int recur_q_isa_supported(recur_isa isa) {
    if (isa == RECUR_ISA_SCALAR) return 1;
#ifdef RQ_HAVE_X86
    const uint32_t f = recur_cpu_features();
    const uint32_t avx2 = RECUR_CPU_AVX2 | RECUR_CPU_FMA;
    const uint32_t avx512 = avx2 | RECUR_CPU_AVX512F | RECUR_CPU_AVX512BW | RECUR_CPU_AVX512VL | RECUR_CPU_AVX512VNNI;
    switch (isa) {
    case RECUR_ISA_AVX2: return (f & avx2) == avx2;
    case RECUR_ISA_AVXVNNI: return (f & (avx2 | RECUR_CPU_AVXVNNI)) == (avx2 | RECUR_CPU_AVXVNNI);
    case RECUR_ISA_AVX512: return (f & avx512) == avx512;
    case RECUR_ISA_AMX: return (f & (avx512 | RECUR_CPU_AMX_INT8)) == (avx512 | RECUR_CPU_AMX_INT8);
    default: return 0;
    }
#else
    return 0;
#endif
}

static const rq_kernels *kernels_for(recur_isa isa) {
    switch (isa) {
    case RECUR_ISA_SCALAR: return &rq_kernels_scalar;
#ifdef RQ_HAVE_X86
    case RECUR_ISA_AVX2: return &rq_kernels_avx2;
    case RECUR_ISA_AVXVNNI: return &rq_kernels_avxvnni;
    case RECUR_ISA_AVX512: return &rq_kernels_avx512;
    case RECUR_ISA_AMX: return &rq_kernels_amx;
#endif
    default: return NULL;
    }
}

// The active tier, lowered to one this CPU can run (a tier forced for the FP32 kernels may mean
// nothing here, e.g. avx512 on a CPU without VNNI).
static recur_isa effective_isa(void) {
    static const recur_isa order[] = {RECUR_ISA_AMX, RECUR_ISA_AVX512, RECUR_ISA_AVXVNNI, RECUR_ISA_AVX2, RECUR_ISA_SCALAR};
    const recur_isa want = recur_isa_active();
    int start = 0;
    while (order[start] != want && start < 4) start++;
    for (int i = start; i < 5; i++)
        if (recur_q_isa_supported(order[i])) return order[i];
    return RECUR_ISA_SCALAR;
}

static rq_kernel_fn kernel_of(const rq_kernels *ks, recur_qtype t) {
    switch (t) {
    case RECUR_Q8_0: return ks->q8_0;
    case RECUR_Q4_0: return ks->q4_0;
    case RECUR_Q4_1: return ks->q4_1;
    }
    return NULL;
}

typedef struct {
    rq_kernel_fn kern;
    int mr;
    const uint8_t *packed;
    size_t panel_bytes;
    const recur_qact *a;
    float *y;
    int64_t m, n;
} rq_job;

// Asks for a panel to be brought into L2 (prefetcht1, one request per 64-byte line). A layer's
// weights come from beyond L2 on every call, and the hardware prefetchers need not follow every
// load kind: with AMX tile loads on a Xeon VM (AMX-INT8), a 97 x 3072 x 512 Q8_0 product whose
// 1.8 MB of panels were not L2-resident ran 2.5x slower per weight than a 97 x 1536 x 512 one
// whose panels were (about 1.2 GB/s of weights per core). Neutral on Zen 4 (qgemm_bench).
static inline void prefetch_panel(const uint8_t *panel, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(panel + o, 0, 2);
}

// Rows [i0, i1) x panels [p0, p1): blocks of rows sized for L2, each swept over the panels (a panel
// of 16 rows x k is at most a few tens of KB and stays in L1 across the row tiles); the next panel
// is prefetched while the row tiles of the current one run.
static void run_tiles(const rq_job *job, int64_t i0, int64_t i1, int64_t p0, int64_t p1) {
    float tile[16 * RQ_PANEL];
    const int mr = job->mr;
    int64_t mc = RQ_ACT_BLOCK_BYTES / (job->a->k > 0 ? job->a->k : 1);
    mc = mc < mr ? mr : mc - mc % mr;
    for (int64_t ib = i0; ib < i1; ib += mc) {
        const int64_t ie = ib + mc < i1 ? ib + mc : i1;
        if (p0 < p1) prefetch_panel(job->packed + (size_t)p0 * job->panel_bytes, job->panel_bytes);
        for (int64_t p = p0; p < p1; p++) {
            const uint8_t *panel = job->packed + (size_t)p * job->panel_bytes;
            if (p + 1 < p1) prefetch_panel(panel + job->panel_bytes, job->panel_bytes);
            const int64_t c0 = p * RQ_PANEL;
            const int ncols = (int)(job->n - c0 < RQ_PANEL ? job->n - c0 : RQ_PANEL);
            for (int64_t i = ib; i < ie; i += mr) {
                const int nr = (int)(ie - i < mr ? ie - i : mr);
                job->kern(panel, job->a, i, nr, tile);
                for (int r = 0; r < nr; r++)
                    memcpy(job->y + (i + r) * job->n + c0, tile + r * RQ_PANEL, (size_t)ncols * sizeof(float));
            }
        }
    }
}

// Work is cut into chunks of (a block of rows) x (a group of panels), handed out dynamically: a
// thread that shares its core with another process simply takes fewer chunks instead of holding
// the others up at the end. About 4 chunks per thread when the work allows (fewer, larger ones for
// small calls, so the scheduling stays cheap); row blocks never exceed the L2-sized block.
typedef struct {
    int64_t rows_per_block, row_blocks, panels_per_group, groups;
} rq_chunks;

static rq_chunks plan_chunks(const rq_job *job, int nt) {
    const int64_t panels = (job->n + RQ_PANEL - 1) / RQ_PANEL;
    const int64_t row_tiles = (job->m + job->mr - 1) / job->mr;
    const double work = (double)job->m * (double)job->n * (double)job->a->k;
    const int64_t target = work / (4.0 * nt) >= (double)(1 << 18) ? 4 * (int64_t)nt : (int64_t)nt;
    int64_t mc = RQ_ACT_BLOCK_BYTES / (job->a->k > 0 ? job->a->k : 1);
    mc = mc < job->mr ? job->mr : mc - mc % job->mr;
    int64_t row_blocks = (job->m + mc - 1) / mc;
    if (row_blocks * panels < target) { // few panels: cut the rows finer
        int64_t want = (target + panels - 1) / panels;
        if (want > row_tiles) want = row_tiles;
        if (want > row_blocks) {
            mc = (row_tiles + want - 1) / want * job->mr;
            row_blocks = (job->m + mc - 1) / mc;
        }
    }
    int64_t groups = (target + row_blocks - 1) / row_blocks;
    if (groups > panels) groups = panels;
    if (groups < 1) groups = 1;
    const int64_t per_group = (panels + groups - 1) / groups;
    rq_chunks c = {mc, row_blocks, per_group, (panels + per_group - 1) / per_group};
    return c;
}

static void run_chunk(const rq_job *job, const rq_chunks *c, int64_t index) {
    const int64_t panels = (job->n + RQ_PANEL - 1) / RQ_PANEL;
    const int64_t rb = index / c->groups, pg = index % c->groups;
    const int64_t r0 = rb * c->rows_per_block, r1 = r0 + c->rows_per_block < job->m ? r0 + c->rows_per_block : job->m;
    const int64_t p0 = pg * c->panels_per_group;
    const int64_t p1 = p0 + c->panels_per_group < panels ? p0 + c->panels_per_group : panels;
    if (r0 < r1 && p0 < p1) run_tiles(job, r0, r1, p0, p1);
}

static void linear_with(recur_isa isa, const rq_kernels *ks, recur_qtype t, const void *packed, const float *x, float *y,
                        int64_t m, int64_t n, int64_t k, void *act_scratch) {
    recur_qact a = recur_q_act_view(act_scratch, m, k);
    const rq_act_fn quantize = rq_act_for(isa);
    rq_job job = {kernel_of(ks, t), ks->mr, (const uint8_t *)packed, (size_t)(k / RECUR_QK) * rq_pblock_bytes(t),
                  &a, y, m, n};
    if (m <= 0 || n <= 0) return;
    const double work = (double)m * (double)n * (double)k;
#ifdef RECUR_HAVE_OPENMP
    const int threads = recur_get_num_threads();
    if (work >= RQ_SERIAL_WORK && threads > 1 && !omp_in_parallel()) {
        _Atomic int64_t next_chunk = 0;
#pragma omp parallel num_threads(threads)
        {
            const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
            quantize(x, &a, m * tid / nt, m * (tid + 1) / nt);
            const rq_chunks c = plan_chunks(&job, nt);
#pragma omp barrier
            // A plain atomic counter rather than schedule(dynamic): newer clang emits runtime calls
            // for that which older libomp releases (the system's) lack.
            for (int64_t i = atomic_fetch_add(&next_chunk, 1); i < c.row_blocks * c.groups;
                 i = atomic_fetch_add(&next_chunk, 1))
                run_chunk(&job, &c, i);
        }
        return;
    }
#else
    (void)work;
#endif
    quantize(x, &a, 0, m);
    run_tiles(&job, 0, m, 0, (n + RQ_PANEL - 1) / RQ_PANEL);
}

int recur_q_linear_isa(recur_isa isa, recur_qtype t, const void *packed, const float *x, float *y, int64_t m,
                       int64_t n, int64_t k, void *act_scratch) {
    if (rq_pblock_bytes(t) == 0 || k <= 0 || k % RECUR_QK != 0 || !recur_q_isa_supported(isa)) return -1;
    const rq_kernels *ks = kernels_for(isa);
    if (ks == NULL) return -1;
    linear_with(isa, ks, t, packed, x, y, m, n, k, act_scratch);
    return 0;
}

void recur_q_linear(recur_qtype t, const void *packed, const float *x, float *y, int64_t m, int64_t n, int64_t k,
                    void *act_scratch) {
    if (rq_pblock_bytes(t) == 0 || k <= 0 || k % RECUR_QK != 0) return;
    const recur_isa isa = effective_isa();
    linear_with(isa, kernels_for(isa), t, packed, x, y, m, n, k, act_scratch);
}
