// Spiking head kernel: synaptic input summed only over the inputs that spiked.
#include "recur_bnn.h"

void recur_snn_add_columns(const float *wt, int64_t n_out, const int32_t *idx, int64_t count, float *v) {
    for (int64_t s = 0; s < count; s++) {
        const float *col = wt + (int64_t)idx[s] * n_out;
        for (int64_t o = 0; o < n_out; o++) v[o] += col[o];
    }
}

void recur_snn_sub_columns(const float *wt, int64_t n_out, const int32_t *idx, int64_t count, float *v) {
    for (int64_t s = 0; s < count; s++) {
        const float *col = wt + (int64_t)idx[s] * n_out;
        for (int64_t o = 0; o < n_out; o++) v[o] -= col[o];
    }
}
