// FP32 linears: Recur's packed-panel product (recur_f32_packed_gemm, what Linear runs for float
// weights) against OpenBLAS's cblas_sgemm (its own threading, the same thread count) on TRM and
// language-model shapes, in the same run; and whether row 0 of an m-row OpenBLAS call equals the 1-row call (the
// property a batched server needs, which the packed product has by construction).
//
//   f32_bench [threads] [reps]      (OPENBLAS_CORETYPE picks OpenBLAS's kernels, as in recur)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recur_kernels.h"

char *openblas_get_corename(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *random_floats(size_t n) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return x;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 9;
    recur_set_num_threads(threads);
    openblas_set_num_threads(threads);
    printf("OpenBLAS %s kernels, %d thread(s), best of %d\n", openblas_get_corename(), threads, reps);
    printf("%6s %6s %5s | %10s %8s | %10s %8s | %6s\n", "m", "n", "k", "OpenBLAS", "GFLOP/s", "packed", "GFLOP/s",
           "ratio");
    static const int shapes[][3] = {{1, 2048, 128},   {3, 2048, 128},    {1, 49152, 576},   {97, 1536, 512},
                                    {1552, 1536, 512}, {1552, 3072, 512}, {1552, 512, 1536}, {1552, 512, 512}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = random_floats((size_t)m * k), *w = random_floats((size_t)n * k);
        float *y = malloc((size_t)m * n * sizeof(float)), *p = malloc((size_t)recur_f32_packed_size(k, n) * sizeof(float));
        recur_f32_pack_transposed(w, n, k, p);
        double blas = 1e9, packed = 1e9;
        for (int r = 0; r < reps; r++) {
            double t = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, y, n);
            t = now() - t;
            if (t < blas) blas = t;
            t = now();
            recur_f32_packed_gemm(x, k, p, k, n, NULL, NULL, 0, y, n, m, 0);
            t = now() - t;
            if (t < packed) packed = t;
        }
        const double flop = 2.0 * m * n * k;
        printf("%6d %6d %5d | %8.3f ms %8.1f | %8.3f ms %8.1f | %5.2fx\n", m, n, k, blas * 1e3, flop / blas / 1e9,
               packed * 1e3, flop / packed / 1e9, blas / packed);
        free(x), free(w), free(y), free(p);
    }
    // Row 0 alone against row 0 of m-row calls, m = 2 ... 64 (one thread, one sgemm call).
    openblas_set_num_threads(1);
    const int n = 2048, k = 128;
    float *x = random_floats(64 * (size_t)k), *w = random_floats((size_t)n * k);
    float *one = malloc((size_t)n * sizeof(float)), *many = malloc(64 * (size_t)n * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, n, k, 1, x, k, w, k, 0, one, n);
    int differ = 0;
    for (int m = 2; m <= 64; m++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, many, n);
        if (memcmp(one, many, (size_t)n * sizeof(float)) != 0) differ++;
    }
    printf("OpenBLAS sgemm %d x %d: row 0 of an m-row call differs from the 1-row call for %d of 63 row counts\n", n, k,
           differ);
    free(x), free(w), free(one), free(many);
    return 0;
}
