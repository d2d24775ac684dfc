// Standalone tier check for the CKernels FP32 kernels: every SIMD tier the CPU supports against the
// scalar tier, at 1, 4 and 16 threads, plus linear across thread counts. It is the Swift tier tests'
// counterpart for machines without a Swift toolchain (the AVX-512 tier must run on a CPU that has
// it before it counts as working). Prints OK or the failures; exit status 1 on any failure.
//
// Build from the repository root (add -fopenmp -DRECUR_HAVE_OPENMP=1 and the omp.h include
// directory for threads):
//   cc -O3 -ISources/CKernels/include tools/ckernels_tier_check.c Sources/CKernels/recur_cpu.c \
//      Sources/CKernels/f32.c Sources/CKernels/f32_linear.c Sources/CKernels/arch/x86/f32_*.c \
//      Sources/CKernels/arch/x86/attention_*.c -lopenblas -lm -o tier_check
// (tools/bundle.sh builds it this way, with OpenMP.)
#include "recur_kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static float unif(float lo, float hi) { return lo + (hi - lo) * (float)((next() >> 40) / 16777216.0); }
static void fill(float *x, int64_t n, float lo, float hi) { for (int64_t i = 0; i < n; i++) x[i] = unif(lo, hi); }

static int failures = 0;
// |got - ref| <= atol + rtol * |ref| element-wise, NaN only against NaN (the Swift tests' tolerances).
static void cmp(const char *what, recur_isa isa, const float *ref, const float *got, int64_t n, double atol, double rtol) {
    double worst = 0; int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)ref[i] - (double)got[i]);
        if (isnan(ref[i]) != isnan(got[i])) { d = INFINITY; }
        else if (isnan(ref[i])) d = 0;
        double lim = atol + rtol * fabs(ref[i]);
        double r = d / lim; if (r > worst) { worst = r; wi = i; }
    }
    if (worst > 1) { failures++; printf("FAIL %s [%s] n=%lld worst at %lld ref=%.9g got=%.9g (x%.2f tol)\n", what, recur_isa_name(isa), (long long)n, (long long)wi, ref[wi], got[wi], worst); }
}
static void same(const char *what, recur_isa isa, const void *ref, const void *got, size_t bytes) {
    if (memcmp(ref, got, bytes)) { failures++; const unsigned char *a = ref, *b = got; size_t i = 0; while (a[i]==b[i]) i++; printf("FAIL %s [%s] differs at byte %zu\n", what, recur_isa_name(isa), i); }
}

int main(void) {
    printf("features %#x best %s\n", recur_cpu_features(), recur_isa_name(recur_isa_best()));
    const int64_t sizes[] = {1, 7, 8, 15, 16, 17, 31, 33, 64, 97, 128, 1000, 4099};
    const int nsz = sizeof sizes / sizeof *sizes;
    for (int tier = 1; tier <= 2; tier++) {
        if (!recur_isa_supported((recur_isa)tier)) { printf("skip %s\n", recur_isa_name((recur_isa)tier)); continue; }
        for (int threads = 1; threads <= 16; threads *= 4) {
        recur_set_num_threads(threads);
        for (int si = 0; si < nsz; si++) {
            int64_t n = sizes[si], rows = 3;
            size_t bytes = (size_t)(rows * n) * 4;
            float *a = malloc(bytes * 2 + 64), *b = malloc(bytes * 2 + 64), *r1 = malloc(bytes * 2 + 64), *r2 = malloc(bytes * 2 + 64);
            fill(a, 2 * rows * n, -3, 3); fill(b, 2 * rows * n, -3, 3);
#define RUN(isa_, body) do { recur_isa_set(isa_); body; } while (0)
            // add
            RUN(0, recur_f32_add(a, b, r1, rows*n)); RUN(tier, recur_f32_add(a, b, r2, rows*n)); same("add", tier, r1, r2, bytes);
            RUN(0, recur_f32_add_row(a, b, r1, rows, n)); RUN(tier, recur_f32_add_row(a, b, r2, rows, n)); same("add_row", tier, r1, r2, bytes);
            memcpy(r1, a, bytes); memcpy(r2, a, bytes);
            RUN(0, recur_f32_scale(r1, 0.37f, rows*n)); RUN(tier, recur_f32_scale(r2, 0.37f, rows*n)); same("scale", tier, r1, r2, bytes);
            memcpy(r1, a, bytes); memcpy(r2, a, bytes);
            RUN(0, recur_f32_rms_norm(r1, rows, n, 1e-5f)); RUN(tier, recur_f32_rms_norm(r2, rows, n, 1e-5f)); cmp("rms_norm", tier, r1, r2, rows*n, 1e-7, 2e-6);
            memcpy(r1, a, bytes); memcpy(r2, a, bytes);
            RUN(0, recur_f32_add_rms_norm(r1, b, rows, n, 1e-5f)); RUN(tier, recur_f32_add_rms_norm(r2, b, rows, n, 1e-5f)); cmp("add_rms_norm", tier, r1, r2, rows*n, 1e-7, 2e-6);
            RUN(0, recur_f32_exp(a, r1, rows*n)); RUN(tier, recur_f32_exp(a, r2, rows*n)); cmp("exp", tier, r1, r2, rows*n, 1e-38, 2.4e-7);
            RUN(0, recur_f32_swiglu(a, r1, rows, n)); RUN(tier, recur_f32_swiglu(a, r2, rows, n)); cmp("swiglu", tier, r1, r2, rows*n, 1e-30, 4e-7);
            memcpy(r1, a, bytes); memcpy(r2, a, bytes); for (int64_t i=0;i<rows*n;i++){r1[i]*=10;r2[i]*=10;}
            RUN(0, recur_f32_softmax(r1, rows, n)); RUN(tier, recur_f32_softmax(r2, rows, n)); cmp("softmax", tier, r1, r2, rows*n, 1e-30, 2e-6);
            int32_t i1[8], i2[8];
            for (int64_t i = 0; i < rows*n; i++) b[i] = (float)(next() % 5) - 2;
            b[n-1] = NAN; for (int64_t i = n; i < 2*n && rows > 1; i++) b[i] = -INFINITY;
            RUN(0, recur_f32_argmax(b, rows, n, i1)); RUN(tier, recur_f32_argmax(b, rows, n, i2)); same("argmax special", tier, i1, i2, rows*4);
            if (i2[0] != n-1) { failures++; printf("FAIL argmax NaN row\n"); }
            fill(b, 2 * rows * n, -3, 3);
            RUN(0, recur_f32_argmax(a, rows, n, i1)); RUN(tier, recur_f32_argmax(a, rows, n, i2)); same("argmax", tier, i1, i2, rows*4);
            RUN(0, recur_f32_transpose(a, r1, 2, rows, n)); RUN(tier, recur_f32_transpose(a, r2, 2, rows, n)); same("transpose", tier, r1, r2, 2*bytes);
            RUN(0, recur_f32_transpose(a, r1, 1, n, rows)); RUN(tier, recur_f32_transpose(a, r2, 1, n, rows)); same("transpose2", tier, r1, r2, bytes);
            uint16_t *h1 = malloc(rows*n*2), *h2 = malloc(rows*n*2);
            for (int64_t i=0;i<rows*n;i++){ uint32_t u = (uint32_t)next(); memcpy(&a[i], &u, 4);} 
            RUN(0, recur_f32_to_f16(a, h1, rows*n)); RUN(tier, recur_f32_to_f16(a, h2, rows*n)); same("f32_to_f16", tier, h1, h2, rows*n*2);
            RUN(0, recur_f16_to_f32(h1, r1, rows*n)); RUN(tier, recur_f16_to_f32(h1, r2, rows*n)); same("f16_to_f32", tier, r1, r2, bytes);
            RUN(0, recur_bf16_to_f32(h1, r1, rows*n)); RUN(tier, recur_bf16_to_f32(h1, r2, rows*n)); same("bf16_to_f32", tier, r1, r2, bytes);
            free(h1); free(h2); free(a); free(b); free(r1); free(r2);
        }
        // exhaustive f16
        { uint16_t *h = malloc(65536*2); float *y1 = malloc(65536*4), *y2 = malloc(65536*4); uint16_t *b1 = malloc(65536*2), *b2=malloc(65536*2);
          for (int i=0;i<65536;i++) h[i]=i;
          RUN(0, recur_f16_to_f32(h, y1, 65536)); RUN(tier, recur_f16_to_f32(h, y2, 65536)); same("f16_to_f32 all", tier, y1, y2, 65536*4);
          RUN(0, recur_f32_to_f16(y1, b1, 65536)); RUN(tier, recur_f32_to_f16(y1, b2, 65536)); same("f16 roundtrip", tier, b1, b2, 65536*2);
          free(h); free(y1); free(y2); free(b1); free(b2); }
        // rope
        { const int64_t hds[] = {2, 8, 14, 34, 64, 130}, sqs[] = {1, 7, 33};
          for (int hi = 0; hi < 6; hi++) for (int si = 0; si < 3; si++) {
          int64_t B=2, S=sqs[si], Hh=3, D=hds[hi]; int64_t stride = 3*Hh*D; float *x = malloc(B*S*stride*4), *x1 = malloc(B*S*stride*4), *x2=malloc(B*S*stride*4), *c = malloc(S*D*4), *s = malloc(S*D*4);
          fill(x, B*S*stride, -2, 2); recur_f32_rope_tables(c, s, S, D, 10000.f);
          memcpy(x1, x, B*S*stride*4); memcpy(x2, x, B*S*stride*4);
          RUN(0, recur_f32_rope(x1, B, S, Hh, D, stride, c, s)); RUN(tier, recur_f32_rope(x2, B, S, Hh, D, stride, c, s)); same("rope", tier, x1, x2, B*S*stride*4);
          free(x); free(x1); free(x2); free(c); free(s); } }
        // attention
        const int64_t shapes[][5] = {{1,1,4,4,64},{2,5,4,2,7},{1,97,8,8,64},{1,300,4,1,33},{1,2048,2,2,64},{1,19,2,2,600},{1,13,2,2,1100},{1,40,3,3,130},{3,17,2,1,16}};
        for (int k = 0; k < 9; k++) {
            int64_t B = shapes[k][0], S = shapes[k][1], Hh = shapes[k][2], KV = shapes[k][3], D = shapes[k][4];
            int64_t w = (Hh + 2*KV) * D;
            float *qkv = malloc(B*S*w*4), *o1 = malloc(B*S*Hh*D*4), *o2 = malloc(B*S*Hh*D*4);
            float *scr = malloc(recur_f32_attention_scratch(S) * recur_get_num_threads() * 4);
            fill(qkv, B*S*w, -3, 3);
            float sc = 1.0f / sqrtf((float)D);
            RUN(0, recur_f32_attention(qkv, o1, B, S, Hh, KV, D, sc, scr)); RUN(tier, recur_f32_attention(qkv, o2, B, S, Hh, KV, D, sc, scr));
            cmp("attention", tier, o1, o2, B*S*Hh*D, 1e-5, 1e-5);
            free(qkv); free(o1); free(o2); free(scr);
        }
        printf("tier %s threads %d done\n", recur_isa_name((recur_isa)tier), threads);
        }
    }
    // linear: identical at 1, 2, 4 and 16 threads; close to a naive double product
    { int64_t m = 300, n = 200, k = 333; float *x = malloc(m*k*4), *w = malloc(n*k*4), *bias = malloc(n*4), *y0 = malloc(m*n*4), *y1 = malloc(m*n*4);
      fill(x, m*k, -1, 1); fill(w, n*k, -1, 1); fill(bias, n, -1, 1);
      recur_set_num_threads(1); recur_f32_linear_bias(x, w, bias, y0, m, n, k);
      for (int t = 2; t <= 16; t *= 2) { recur_set_num_threads(t); recur_f32_linear_bias(x, w, bias, y1, m, n, k); same("linear threads", recur_isa_active(), y0, y1, m*n*4); }
      double worst = 0; for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) { double s = bias[j]; for (int64_t t = 0; t < k; t++) s += (double)x[i*k+t]*w[j*k+t]; double d = fabs(s - y0[i*n+j]); if (d > worst) worst = d; }
      printf("linear max abs error vs double: %.3g\n", worst); if (worst > 1e-4) { failures++; printf("FAIL linear\n"); }
      free(x); free(w); free(bias); free(y0); free(y1); }
    printf("%s (%d failures)\n", failures ? "FAILED" : "OK", failures);
    return failures != 0;
}
