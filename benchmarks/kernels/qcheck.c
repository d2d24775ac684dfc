// Checks every ISA tier this CPU runs against the scalar reference, bit for bit (memcmp), on random
// and edge shapes. The Swift tests cover the same ground; this one runs anywhere a C compiler does
// (e.g. on a machine with AVX-512 or AVX-VNNI but no Swift toolchain).
// Usage: qcheck [random-cases]
#include <math.h>
#include <stdio.h>

#include "qcommon.h"

static const recur_isa tiers[] = {RECUR_ISA_AVX2, RECUR_ISA_AVXVNNI, RECUR_ISA_AVX512, RECUR_ISA_AMX};
static const recur_qtype types[] = {RECUR_Q8_0, RECUR_Q4_0, RECUR_Q4_1};

static int failures = 0, checks = 0;

float rq_half_to_float(uint16_t h); // CKernels internal (quant_pack.c)

// The scalar result against double-precision math on the dequantized operands (the quantized
// activations are read back from the scratch the scalar call filled).
static void check_scalar_against_double(recur_qtype t, const void *w, const float *ref, void *scratch, int64_t m,
                                        int64_t n, int64_t k) {
    recur_qact a = recur_q_act_view(scratch, m, k);
    float *wrow = (float *)malloc(sizeof(float) * (size_t)k);
    for (int64_t r = 0; r < n; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * recur_q_row_bytes(t, k);
        recur_q_dequantize_row(t, row, wrow, k);
        for (int64_t i = 0; i < m; i++) {
            double exact = 0, magnitude = 0;
            for (int64_t j = 0; j < k; j++) {
                const double xv = (double)a.q[i * k + j] * (double)a.d[i * a.nb + j / 32];
                exact += xv * (double)wrow[j];
                // Rounding scales with the parts before they cancel: |d q| + |m| for Q4_1.
                const double mw = t == RECUR_Q4_1 ? (double)rq_half_to_float((uint16_t)(row[(j / 32) * 20 + 2] |
                                                                                        row[(j / 32) * 20 + 3] << 8))
                                                  : 0.0;
                magnitude += fabs(xv) * (fabs((double)wrow[j] - mw) + fabs(mw));
            }
            const double tol = magnitude * (double)(k / 32 + 2) * 0x1p-23 + 1e-30;
            checks++;
            if (fabs((double)ref[i * n + r] - exact) > tol) {
                failures++;
                printf("SCALAR OFF type %d m %lld n %lld k %lld at [%lld, %lld]: %.9g vs %.9g\n", (int)t, (long long)m,
                       (long long)n, (long long)k, (long long)i, (long long)r, ref[i * n + r], exact);
                free(wrow);
                return;
            }
        }
    }
    free(wrow);
}

static void check(recur_qtype t, int64_t m, int64_t n, int64_t k, int special) {
    void *w = qc_weights(t, n, k);
    float *x = qc_floats(m * k);
    if (special) {
        // A zero activation block, a block with one huge value, and (Q8_0) weights of -128.
        for (int64_t j = 0; j < 32 && j < k; j++) x[j] = 0.0f;
        if (m > 1 && k >= 64) x[k + 40] = 1e4f;
        if (t == RECUR_Q8_0) {
            uint8_t *wb = (uint8_t *)w;
            size_t rb = recur_q_row_bytes(t, k);
            for (int64_t i = 0; i < n; i += 2)
                for (int j = 2; j < 34; j++) wb[(size_t)i * rb + (size_t)j] = 0x80;
        }
    }
    void *packed = qc_aligned(recur_q_packed_size(t, n, k));
    recur_q_repack(t, w, packed, n, k);
    void *scratch = qc_aligned(recur_q_act_size(m, k));
    float *ref = (float *)malloc(sizeof(float) * (size_t)(m * n));
    float *got = (float *)malloc(sizeof(float) * (size_t)(m * n));
    recur_q_linear_isa(RECUR_ISA_SCALAR, t, packed, x, ref, m, n, k, scratch);
    if (m * n * k <= (1 << 22)) check_scalar_against_double(t, w, ref, scratch, m, n, k);
    for (size_t ti = 0; ti < sizeof tiers / sizeof tiers[0]; ti++) {
        if (!recur_q_isa_supported(tiers[ti])) continue;
        // Every micro-kernel shape of the tier, each forced in turn.
        recur_q_shape_rate shapes[8];
        int chosen = 0;
        const int nshapes = recur_q_shapes(tiers[ti], t, shapes, 8, &chosen);
        static const int thread_counts[] = {1, 2, 3, 8, 16};
        for (int sh = 0; sh < nshapes && sh < 8; sh++)
        for (size_t tc = 0; tc < sizeof thread_counts / sizeof thread_counts[0]; tc++) {
            recur_q_shape_set(tiers[ti], t, shapes[sh].name);
            const int threads = thread_counts[tc];
            recur_set_num_threads(threads);
            memset(got, 0xff, sizeof(float) * (size_t)(m * n));
            recur_q_linear_isa(tiers[ti], t, packed, x, got, m, n, k, scratch);
            checks++;
            if (memcmp(ref, got, sizeof(float) * (size_t)(m * n)) != 0) {
                failures++;
                int64_t bad = 0;
                while (bad < m * n && memcmp(ref + bad, got + bad, 4) == 0) bad++;
                printf("MISMATCH %s shape %s type %d m %lld n %lld k %lld threads %d: first at %lld: %.9g vs %.9g\n",
                       recur_isa_name(tiers[ti]), shapes[sh].name, (int)t, (long long)m, (long long)n, (long long)k, threads,
                       (long long)bad, ref[bad], got[bad]);
            }
        }
        recur_q_shape_set(tiers[ti], t, NULL);
    }
    free(w), free(x), free(packed), free(scratch), free(ref), free(got);
}

int main(int argc, char **argv) {
    int cases = argc > 1 ? atoi(argv[1]) : 200;
    printf("tiers here:");
    for (size_t ti = 0; ti < sizeof tiers / sizeof tiers[0]; ti++)
        printf(" %s=%s", recur_isa_name(tiers[ti]), recur_q_isa_supported(tiers[ti]) ? "yes" : "no");
    printf("\n");
    static const int64_t ns[] = {1, 3, 7, 16, 17, 33, 100};
    static const int64_t ms[] = {1, 2, 5, 9, 97, 194};
    static const int64_t ks[] = {32, 64, 96, 512, 1536};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof ms / sizeof ms[0]; b++)
                check(types[ti], ms[b], ns[a], ks[(a + b) % 5], (int)((a + b) & 1));
    for (int c = 0; c < cases; c++) {
        recur_qtype t = types[qc_rand() % 3];
        check(t, 1 + qc_rand() % 40, 1 + qc_rand() % 70, 32 * (1 + qc_rand() % 20), (int)(qc_rand() & 1));
    }
    printf("%d comparisons, %d mismatches\n", checks, failures);
    return failures != 0;
}
