// Quantized GEMM/GEMV benchmark: recur_q_linear against OpenBLAS cblas_sgemm on the same shapes in
// the same run (warm-up, then the median of several repetitions).
// GOP/s counts a multiply-add as 2 ops: 2 m n k / t. ratio = sgemm time / our time (> 1: faster).
// Usage: qgemm_bench [reps] [isa] [passes]
//   isa: scalar|avx2|avxvnni|avx512|amx (default: the active tier)
//   passes: run the whole table this many times and keep, for each row and each side, the lowest
//   median (on a shared machine the least disturbed pass; both sides come from the same run).
// Environment:
//   QBENCH_THREADS  the largest thread count (every count from 1 up), or a list such as 1,4 (default 2)
//   QBENCH_TYPES    a list of types to run, such as q8_0,q4_0 (default all three)
//   QBENCH_SGEMM=0  skip the OpenBLAS side (where it is no yardstick, e.g. a CPU it does not know)
//   QBENCH_COPIES=N cycle each call through N copies of the packed weights, so that, as in a model
//                   step where every layer evicts the previous one, they are not in L2 (default 1)
// The "peak" column is our rate as a share of the tier's INT8 multiply-add peak at that thread count
// (recur_probe_int8_gops, measured once per thread count before the table); the header names the
// micro-kernel shape each type ran (timed at first use; RECUR_QKERNEL=<shape> forces one).
// Last, one line times each tier's activation quantizer alone (ns per 32-value block).
#include <cblas.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "qcommon.h"

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Repeat each measurement until it took at least min_s, so tiny shapes get several calls per sample.
typedef struct {
    int kind; // 0 = ours, 1 = sgemm
    recur_isa isa;
    recur_qtype t;
    const uint8_t *packed; // `copies` consecutive copies of packed_bytes each
    size_t packed_bytes;
    int copies;
    const float *x, *wf;
    float *y;
    int64_t m, n, k;
    void *scratch;
} job;

static void run_once(const job *j) {
    static unsigned call;
    if (j->kind == 0)
        recur_q_linear_isa(j->isa, j->t, j->packed + (size_t)(call++ % (unsigned)j->copies) * j->packed_bytes, j->x,
                           j->y, j->m, j->n, j->k, j->scratch);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->m, (int)j->n, (int)j->k, 1.0f, j->x, (int)j->k,
                    j->wf, (int)j->k, 0.0f, j->y, (int)j->n);
}

static double time_job(const job *j, int reps) {
    int inner = 1;
    for (;;) { // warm-up and calibration
        double t0 = now();
        for (int i = 0; i < inner; i++) run_once(j);
        double dt = now() - t0;
        if (dt > 0.02 || inner > (1 << 20)) break;
        inner *= 2;
    }
    double samples[64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) run_once(j);
        samples[r] = (now() - t0) / inner;
    }
    return median(samples, reps);
}

static const char *type_name(recur_qtype t) {
    return t == RECUR_Q8_0 ? "Q8_0" : t == RECUR_Q4_0 ? "Q4_0" : "Q4_1";
}

// Whether `word` is one of the comma-separated items of `list` (case-insensitive).
static int in_list(const char *list, const char *word) {
    const size_t len = strlen(word);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        const size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncasecmp(p, word, len) == 0) return 1;
        p += n + (end != NULL);
    }
    return 0;
}

typedef struct {
    recur_qtype t;
    int64_t m, n, k;
    int threads;
    double ours, blas;
} row;

// The activation quantizer of each tier this CPU runs, alone on one thread: ns per 32-value block
// of a 1552 x 1536 input (the FFN down projection's at batch 16), median of `reps` calls.
static void report_act_quantizers(int reps) {
    const int64_t m = 1552, k = 1536;
    float *x = qc_floats(m * k);
    void *scratch = qc_aligned(recur_q_act_size(m, k));
    recur_qact a = recur_q_act_view(scratch, m, k);
    double samples[64];
    if (reps > 64) reps = 64;
    recur_set_num_threads(1);
    printf("activation quantization, one thread, %lld x %lld:", (long long)m, (long long)k);
    for (int i = 0; i <= RECUR_ISA_AMX; i++) {
        const recur_isa isa = (recur_isa)i;
        if (!recur_q_isa_supported(isa)) continue;
        (void)recur_q_quantize_act_isa(isa, x, &a); // warm-up
        for (int r = 0; r < reps; r++) {
            const double t0 = now();
            (void)recur_q_quantize_act_isa(isa, x, &a);
            samples[r] = now() - t0;
        }
        printf(" %s %.2f ns/block;", recur_isa_name(isa), median(samples, reps) * 1e9 / (double)(m * k / 32));
    }
    printf("\n");
    free(x), free(scratch);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 9;
    recur_isa isa = recur_isa_active();
    if (argc > 2)
        for (int i = 0; i <= RECUR_ISA_AMX; i++)
            if (strcmp(argv[2], recur_isa_name((recur_isa)i)) == 0) isa = (recur_isa)i;
    const int passes = argc > 3 && atoi(argv[3]) > 0 ? atoi(argv[3]) : 1;
    if (!recur_q_isa_supported(isa)) {
        fprintf(stderr, "tier %s not supported here\n", recur_isa_name(isa));
        return 1;
    }
    static const int64_t ms[] = {97, 1552};
    static const int64_t nks[][2] = {{1536, 512}, {512, 512}, {3072, 512}, {512, 1536}};
    static const recur_qtype types[] = {RECUR_Q8_0, RECUR_Q4_0, RECUR_Q4_1};
    int thread_list[64], nthreads = 0;
    const char *env = getenv("QBENCH_THREADS");
    if (env && strchr(env, ',')) {
        for (const char *p = env; *p && nthreads < 64; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p))
            if (atoi(p) > 0) thread_list[nthreads++] = atoi(p);
    } else {
        const int max_threads = env && atoi(env) > 0 ? (atoi(env) < 64 ? atoi(env) : 64) : 2;
        for (int th = 1; th <= max_threads; th++) thread_list[nthreads++] = th;
    }
    const char *types_env = getenv("QBENCH_TYPES");
    const int with_sgemm = !(getenv("QBENCH_SGEMM") && strcmp(getenv("QBENCH_SGEMM"), "0") == 0);
    const int copies = getenv("QBENCH_COPIES") && atoi(getenv("QBENCH_COPIES")) > 0 ? atoi(getenv("QBENCH_COPIES")) : 1;
    row *rows = (row *)calloc((size_t)(3 * 2 * 4 * nthreads), sizeof(row));
    int nrows = 0;
    for (int pass = 0; pass < passes; pass++) {
        int r = 0;
        for (size_t ti = 0; ti < 3; ti++)
            for (size_t mi = 0; mi < 2; mi++)
                for (size_t si = 0; si < 4; si++) {
                    const recur_qtype t = types[ti];
                    if (types_env && !in_list(types_env, type_name(t))) continue;
                    const int64_t m = ms[mi], n = nks[si][0], k = nks[si][1];
                    void *w = qc_weights(t, n, k);
                    const size_t packed_bytes = recur_q_packed_size(t, n, k);
                    uint8_t *packed = (uint8_t *)qc_aligned(packed_bytes * (size_t)copies);
                    for (int c = 0; c < copies; c++) recur_q_repack(t, w, packed + (size_t)c * packed_bytes, n, k);
                    float *wf = (float *)qc_aligned(sizeof(float) * (size_t)(n * k));
                    for (int64_t i = 0; i < n; i++)
                        recur_q_dequantize_row(t, (const uint8_t *)w + (size_t)i * recur_q_row_bytes(t, k),
                                               wf + i * k, k);
                    float *x = qc_floats(m * k);
                    float *y = (float *)qc_aligned(sizeof(float) * (size_t)(m * n));
                    void *scratch = qc_aligned(recur_q_act_size(m, k));
                    for (int ti2 = 0; ti2 < nthreads; ti2++, r++) {
                        const int th = thread_list[ti2];
                        recur_set_num_threads(th);
                        openblas_set_num_threads(th);
                        job ours = {0, isa, t, packed, packed_bytes, copies, x, wf, y, m, n, k, scratch};
                        job blas = ours;
                        blas.kind = 1;
                        const double t_ours = time_job(&ours, reps);
                        const double t_blas = with_sgemm ? time_job(&blas, reps) : 0.0;
                        if (with_sgemm) usleep(200000); // let OpenBLAS's spinning threads go to sleep
                        if (pass == 0) {
                            rows[r] = (row){t, m, n, k, th, t_ours, t_blas};
                        } else {
                            if (t_ours < rows[r].ours) rows[r].ours = t_ours;
                            if (t_blas < rows[r].blas) rows[r].blas = t_blas;
                        }
                        fprintf(stderr, "pass %d/%d: %s m %lld n %lld k %lld threads %d done\n", pass + 1, passes,
                                type_name(t), (long long)m, (long long)n, (long long)k, th);
                    }
                    free(w), free(packed), free(wf), free(x), free(y), free(scratch);
                }
        nrows = r;
    }
    printf("tier %s, median of %d, best of %d pass%s, %d cop%s of the weights\n", recur_isa_name(isa), reps, passes,
           passes > 1 ? "es" : "", copies, copies > 1 ? "ies" : "y");
    double peak[64] = {0};
    printf("INT8 peak:");
    for (int i = 0; i < nthreads; i++) {
        peak[i] = recur_probe_int8_gops(isa, thread_list[i], 0.3);
        printf(" %.1f GOP/s at %d thread%s%s", peak[i], thread_list[i], thread_list[i] == 1 ? "" : "s", i + 1 < nthreads ? "," : "\n");
    }
    printf("micro-kernel shapes:");
    for (size_t ti = 0; ti < 3; ti++) {
        recur_q_shape_rate shapes[8];
        int chosen = 0;
        if (recur_q_shapes(isa, types[ti], shapes, 8, &chosen) > 0) printf(" %s %s", type_name(types[ti]), shapes[chosen].name);
    }
    printf("\n");
    printf("%-5s %5s %5s %5s %3s | %9s %8s %5s | %9s %8s | %6s\n", "type", "m", "n", "k", "thr", "ours ms", "GOP/s", "peak",
           "sgemm ms", "GFLOP/s", "ratio");
    for (int r = 0; r < nrows; r++) {
        const row *q = &rows[r];
        const double ops = 2.0 * (double)q->m * (double)q->n * (double)q->k;
        double share = 0;
        for (int i = 0; i < nthreads; i++)
            if (thread_list[i] == q->threads && peak[i] > 0) share = 100.0 * ops / q->ours * 1e-9 / peak[i];
        printf("%-5s %5lld %5lld %5lld %3d | %9.3f %8.1f ", type_name(q->t), (long long)q->m, (long long)q->n,
               (long long)q->k, q->threads, q->ours * 1e3, ops / q->ours * 1e-9);
        if (share > 0) printf("%4.0f%% | ", share);
        else printf("%5s | ", "-");
        if (q->blas > 0.0)
            printf("%9.3f %8.1f | %6.2f\n", q->blas * 1e3, ops / q->blas * 1e-9, q->blas / q->ours);
        else
            printf("%9s %8s | %6s\n", "-", "-", "-");
    }
    free(rows);
    report_act_quantizers(reps);
    return 0;
}
