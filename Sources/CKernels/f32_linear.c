// FP32 products on OpenBLAS: small single-call products of operands that change from call to
// call (attention scores and values). Linear layers with fixed weights run on Recur's own packed
// panels instead (f32_packed.c), whose per-row results do not depend on the row count.
#include "recur_internal.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

const char *recur_blas_core(void) {
    const char *name = openblas_get_corename();
    return name ? name : "";
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
