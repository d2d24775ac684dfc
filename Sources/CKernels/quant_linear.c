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
// Packed weight bytes per group of panels, which stays in L2 while a chunk's rows run over it: half
// of the smallest L2 among the x86 cores Recur targets (Zen 3, 512 KB), so the group, the
// activations and the output rows fit together.
#ifndef RQ_GROUP_BYTES // a compile-time tunable (CFLAGS=-DRQ_GROUP_BYTES=... benchmarks/kernels/build.sh)
#define RQ_GROUP_BYTES (256 * 1024)
#endif

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

const rq_kernels *rq_kernels_for(recur_isa isa) {
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
recur_isa rq_effective_isa(void) {
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

static rq_wide_fn wide_of(const rq_shape *sh, recur_qtype t) {
    switch (t) {
    case RECUR_Q8_0: return sh->q8_0;
    case RECUR_Q4_0: return sh->q4_0;
    case RECUR_Q4_1: return sh->q4_1;
    }
    return NULL;
}

typedef struct {
    rq_kernel_fn kern;  // one panel, up to the tier's mr rows
    rq_wide_fn wide;    // np panels at once, or NULL
    int mr, np;         // rows per tile, panels per wide call (1 without one)
    const uint8_t *packed;
    size_t panel_bytes;
    const recur_qact *a;
    float *y;
    int64_t m, n;
} rq_job;

// Rows [i0, i1) x panels [p0, p1), one row tile at a time across all the panels: the row tile's
// activations (mr x k bytes) stay in L1 while the panels stream from L2, where the chunk's panel
// group (at most RQ_GROUP_BYTES, see plan_chunks) stays from one row tile to the next. The other
// order (a panel in L1 against a 64 KB block of rows in L2) ran within a few percent of this on
// Zen 4, but on a Xeon with AMX up to 3.6x slower on one thread (Q8_0, 1552 x 1536 x 512 and
// 1552 x 3072 x 512, qgemm_bench with the weights out of L2) and up to 2x on four.
// Whole panels write straight into y; a ragged last panel goes through a tile buffer.
static void run_tiles(const rq_job *job, int64_t i0, int64_t i1, int64_t p0, int64_t p1) {
    float tile[16 * RQ_PANEL];
    const int mr = job->mr, np = job->np;
    const int64_t whole = job->n / RQ_PANEL; // panels with all 16 columns in y
    for (int64_t i = i0; i < i1; i += mr) {
        const int nr = (int)(i1 - i < mr ? i1 - i : mr);
        for (int64_t p = p0; p < p1;) {
            const int64_t c0 = p * RQ_PANEL;
            const uint8_t *panel = job->packed + (size_t)p * job->panel_bytes;
            float *y = job->y + i * job->n + c0;
            if (job->wide && p + np <= p1 && p + np <= whole) {
                job->wide(panel, job->panel_bytes, job->a, i, nr, y, job->n);
                p += np;
                continue;
            }
            if (p < whole) job->kern(panel, job->a, i, nr, y, job->n);
            else {
                job->kern(panel, job->a, i, nr, tile, RQ_PANEL);
                for (int r = 0; r < nr; r++) memcpy(y + r * job->n, tile + r * RQ_PANEL, (size_t)(job->n - c0) * sizeof(float));
            }
            p++;
        }
    }
}

// Work is cut into chunks of (a block of rows) x (a group of panels), handed out dynamically: a
// thread that shares its core with another process simply takes fewer chunks instead of holding
// the others up at the end.
//
// Weights dominate what a chunk has to fetch from beyond L2: every linear of a step evicts the
// previous one's panels, and a layer's weights (0.3-1.8 MB in Q8_0 for the TRM) are larger than a
// core's L2 share. So a panel group is sized to stay in L2 (RQ_GROUP_BYTES) and a chunk runs it
// over as many rows as the chunk count allows: each weight byte then comes from L3 or memory once
// per row block (a few times per call) rather than once per L2-sized block of rows (13 times for
// the 1,552 rows of a batch of 16 Sudoku grids). About 4 chunks per thread when the work allows
// (fewer, larger ones for small calls, so the scheduling stays cheap).
typedef struct {
    int64_t rows_per_block, row_blocks, panels_per_group, groups;
} rq_chunks;

static rq_chunks plan_chunks(const rq_job *job, int nt) {
    const int64_t panels = (job->n + RQ_PANEL - 1) / RQ_PANEL;
    const int64_t row_tiles = (job->m + job->mr - 1) / job->mr;
    const double work = (double)job->m * (double)job->n * (double)job->a->k;
    const int64_t target = work / (4.0 * nt) >= (double)(1 << 18) ? 4 * (int64_t)nt : (int64_t)nt;
    int64_t per_group = (int64_t)(RQ_GROUP_BYTES / (job->panel_bytes > 0 ? job->panel_bytes : 1));
    if (per_group < 1) per_group = 1;
    int64_t groups = (panels + per_group - 1) / per_group;
    if (groups * row_tiles < target) { // too few row tiles to make up the count: split the panels further
        groups = (target + row_tiles - 1) / row_tiles;
        if (groups > panels) groups = panels;
    }
    per_group = (panels + groups - 1) / groups;
    per_group = (per_group + job->np - 1) / job->np * job->np; // whole wide calls
    groups = (panels + per_group - 1) / per_group;
    int64_t row_blocks = (target + groups - 1) / groups;
    if (row_blocks > row_tiles) row_blocks = row_tiles;
    if (row_blocks < 1) row_blocks = 1;
    // A chunk count that is a multiple of the thread count, so that no thread runs a last chunk
    // alone while the others wait (9 chunks on 2 threads left one idle for a ninth of the call).
    while ((row_blocks * groups) % nt != 0 && row_blocks < row_tiles) row_blocks++;
    const int64_t mc = (row_tiles + row_blocks - 1) / row_blocks * job->mr;
    rq_chunks c = {mc, (job->m + mc - 1) / mc, per_group, groups};
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

// The input rows of one call: row i at x + i * ldx; with `prepare`, each row is formed in place first
// (on the thread that quantizes it, just before, while it is in cache).
typedef struct {
    const float *x;
    int64_t ldx;
    rq_prepare_fn prepare;
    const void *ctx;
} rq_input;

static void quantize_rows(const rq_input *in, rq_act_fn quantize, const recur_qact *a, int64_t i0, int64_t i1) {
    if (in->prepare == NULL) {
        quantize(in->x, in->ldx, a, i0, i1);
        return;
    }
    for (int64_t i = i0; i < i1; i++) {
        in->prepare(in->ctx, i, a->k);
        quantize(in->x, in->ldx, a, i, i + 1);
    }
}

static void linear_with(recur_isa isa, const rq_kernels *ks, recur_qtype t, const void *packed, const rq_input *in,
                        float *y, int64_t m, int64_t n, int64_t k, void *act_scratch) {
    recur_qact a = recur_q_act_view(act_scratch, m, k);
    const rq_act_fn quantize = rq_act_for(isa);
    const int shape = rq_shape_for(isa, t);
    const rq_shape *sh = shape >= 0 ? &ks->shapes[shape] : NULL;
    rq_job job = {kernel_of(ks, t), sh ? wide_of(sh, t) : NULL, sh ? sh->mr : ks->mr, sh ? sh->np : 1,
                  (const uint8_t *)packed, (size_t)(k / RECUR_QK) * rq_pblock_bytes(t), &a, y, m, n};
    if (m <= 0 || n <= 0) return;
    const double work = (double)m * (double)n * (double)k;
#ifdef RECUR_HAVE_OPENMP
    const int threads = recur_get_num_threads();
    if (work >= RQ_SERIAL_WORK && threads > 1 && !omp_in_parallel()) {
        _Atomic int64_t next_chunk = 0;
#pragma omp parallel num_threads(threads)
        {
            const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
            quantize_rows(in, quantize, &a, m * tid / nt, m * (tid + 1) / nt);
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
    quantize_rows(in, quantize, &a, 0, m);
    run_tiles(&job, 0, m, 0, (n + RQ_PANEL - 1) / RQ_PANEL);
}

int rq_linear_prepared(recur_isa isa, recur_qtype t, const void *packed, const float *x, int64_t ldx,
                       rq_prepare_fn prepare, const void *ctx, float *y, int64_t m, int64_t n, int64_t k,
                       void *act_scratch) {
    if (rq_pblock_bytes(t) == 0 || k <= 0 || k % RECUR_QK != 0 || !recur_q_isa_supported(isa)) return -1;
    const rq_kernels *ks = rq_kernels_for(isa);
    if (ks == NULL) return -1;
    const rq_input in = {x, ldx, prepare, ctx};
    linear_with(isa, ks, t, packed, &in, y, m, n, k, act_scratch);
    return 0;
}

int recur_q_linear_isa(recur_isa isa, recur_qtype t, const void *packed, const float *x, float *y, int64_t m,
                       int64_t n, int64_t k, void *act_scratch) {
    return rq_linear_prepared(isa, t, packed, x, k, NULL, NULL, y, m, n, k, act_scratch);
}

void recur_q_linear(recur_qtype t, const void *packed, const float *x, float *y, int64_t m, int64_t n, int64_t k,
                    void *act_scratch) {
    (void)recur_q_linear_isa(rq_effective_isa(), t, packed, x, y, m, n, k, act_scratch);
}
