// Float linear layers of halting heads: a handful of rows against a small matrix, where a BLAS
// sgemm call costs far more than the arithmetic (about 0.1 ms for 1 x 512 x 128 with OpenBLAS).
#include "recur_bnn.h"

#include <string.h>

void recur_head_linear_t(const float *x, const float *wt, const float *bias, float *y, int64_t m, int64_t n, int64_t k) {
    for (int64_t r = 0; r < m; r++) {
        float *yr = y + r * n;
        if (bias) memcpy(yr, bias, (size_t)n * sizeof(float));
        else memset(yr, 0, (size_t)n * sizeof(float));
        const float *xr = x + r * k;
        // Row j of wt is column j of W: the inner loop runs over outputs, so it vectorizes while each
        // output still sums its k terms in order.
        for (int64_t j = 0; j < k; j++) {
            const float xj = xr[j];
            const float *wj = wt + j * n;
            for (int64_t o = 0; o < n; o++) yr[o] += xj * wj[o];
        }
    }
}

void recur_head_linear_dot(const float *x, const float *w, const float *bias, float *y, int64_t m, int64_t n, int64_t k) {
    for (int64_t r = 0; r < m; r++) {
        const float *xr = x + r * k;
        for (int64_t o = 0; o < n; o++) {
            const float *wo = w + o * k;
            // Eight running sums (one AVX2 register), added pairwise at the end.
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t j = 0;
            for (; j + 8 <= k; j += 8)
                for (int i = 0; i < 8; i++) acc[i] += xr[j + i] * wo[j + i];
            float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for (; j < k; j++) s += xr[j] * wo[j];
            y[r * n + o] = bias ? s + bias[o] : s;
        }
    }
}
