// FP32 linear layers on OpenBLAS: y = x w^T (+ bias), the weight in PyTorch's [out, in] layout.
#include "recur_internal.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

// Output tiles of a fixed size, each one single-threaded cblas_sgemm call, spread over our OpenMP
// threads. OpenBLAS's own threading rounds some elements differently depending on the thread
// count (it repartitions the matrix); fixed tiles make the result independent of it, and keep one
// thread pool instead of two pools spinning against each other. Measured on a 16-core VM with a
// TRM-sized layer (m = 97 and 776, hidden 512), 256 x 128 tiles stayed within the run-to-run noise
// (about +-25%) of OpenBLAS's own threading at 4 and 8 threads.
//
// Tiles are tall and narrow: up to 2048 rows (a whole batch of 16 Sudoku grids, 1552 rows, is one
// row tile) by 64 columns, so each weight column block is read from memory once per call rather
// than once per 256-row block, and small n still gives several tiles. On the 2-core Zen 4, F32 at
// batch 16 and 2 threads ran 2684-2845 ms per ACT step against 2970-3044 with 256 x 128 tiles
// (same bits; batch 1 unchanged).
#define LINEAR_ROWS ((int64_t)2048)
#define LINEAR_COLS ((int64_t)64)

const char *recur_blas_core(void) {
    const char *name = openblas_get_corename();
    return name ? name : "";
}

// Fallback for sizes a 32-bit BLAS index cannot describe; never hit by real models.
static void linear_naive(const float *x, const float *w, float *y, int64_t m, int64_t n,
                         int64_t k) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t t = 0; t < k; t++) s += x[i * k + t] * w[j * k + t];
            y[i * n + j] += s;
        }
}

typedef struct {
    const float *x, *w;
    float *y;
    int64_t m, n, k, col_tiles;
} linear_ctx;

static void linear_body(void *p, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const linear_ctx *c = p;
    for (int64_t item = i0; item < i1; item++) {
        const int64_t r0 = (item / c->col_tiles) * LINEAR_ROWS, c0 = (item % c->col_tiles) * LINEAR_COLS;
        const int64_t rows = c->m - r0 < LINEAR_ROWS ? c->m - r0 : LINEAR_ROWS;
        const int64_t cols = c->n - c0 < LINEAR_COLS ? c->n - c0 : LINEAR_COLS;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)c->k, 1.0f,
                    c->x + r0 * c->k, (int)c->k, c->w + c0 * c->k, (int)c->k, 1.0f,
                    c->y + r0 * c->n + c0, (int)c->n);
    }
}

// y += x w^T, y already holding zeros or the bias rows (the bias is added as torch.addmm does).
static void gemm_nt_accumulate(const float *x, const float *w, float *y, int64_t m, int64_t n,
                               int64_t k) {
    if (k <= 0) return;
    if (n > INT_MAX || k > INT_MAX) {
        linear_naive(x, w, y, m, n, k);
        return;
    }
    recur_blas_single_threaded();
    linear_ctx c = {.x = x, .w = w, .y = y, .m = m, .n = n, .k = k,
                    .col_tiles = (n + LINEAR_COLS - 1) / LINEAR_COLS};
    const int64_t items = ((m + LINEAR_ROWS - 1) / LINEAR_ROWS) * c.col_tiles;
    recur_parallel_for(items, 2 * (m < LINEAR_ROWS ? m : LINEAR_ROWS) * LINEAR_COLS * k, linear_body, &c);
}

void recur_f32_linear(const float *x, const float *w, float *y, int64_t m, int64_t n, int64_t k) {
    if (m <= 0 || n <= 0) return;
    memset(y, 0, (size_t)m * (size_t)n * sizeof(float));
    gemm_nt_accumulate(x, w, y, m, n, k);
}

void recur_f32_linear_bias(const float *x, const float *w, const float *bias, float *y,
                           int64_t m, int64_t n, int64_t k) {
    if (m <= 0 || n <= 0) return;
    for (int64_t i = 0; i < m; i++) memcpy(y + i * n, bias, (size_t)n * sizeof(float));
    gemm_nt_accumulate(x, w, y, m, n, k);
}

// ---------------------------------------------------------------------------------------------
// General single-call GEMM (small products of operands that change from call to call).

int recur_f32_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                   int64_t ldc) {
    if (m < 0 || n < 0 || k < 0) return -1;
    if (m == 0 || n == 0) return 0;
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX) return -1;
    if (lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) || ldc < n) return -1;
    recur_blas_single_threaded();
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    return 0;
}
