// Recur compute kernels: pure functions on raw pointers.
//
// Rules for everything declared here:
// - No allocation, no I/O, no global state beyond the ISA choice and the thread count.
// - Every kernel has a scalar reference; SIMD variants (AVX2+FMA+F16C, AVX-512 F/BW/VL/VNNI) are
//   picked once from CPUID, or forced with RECUR_ISA=scalar|avx2|avxvnni|avx512|amx (tests use recur_isa_set).
// - Matrices are row-major and contiguous unless a stride is passed. Sizes are int64_t.
#ifndef RECUR_KERNELS_H
#define RECUR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------------------------
// ISA dispatch and threads (recur_cpu.c)

typedef enum {
    RECUR_ISA_SCALAR = 0,
    RECUR_ISA_AVX2 = 1,   // AVX2 + FMA + F16C
    RECUR_ISA_AVX512 = 2, // AVX-512 F, BW, VL, VNNI
    // AVX2 + AVX-VNNI (256-bit vpdpbusd, e.g. Alder Lake) without AVX-512; ranks above avx2 and
    // below avx512, name "avxvnni" (numbered 3 so existing values keep their meaning).
    RECUR_ISA_AVXVNNI = 3,
    // The avx512 tier plus AMX tiles (AMX-TILE, AMX-INT8 and the OS's permission to use them) for
    // the quantized linears; ranks above avx512, name "amx". FP32 runs the AVX-512 kernels.
    RECUR_ISA_AMX = 4,
} recur_isa;

// CPU feature bits reported by recur_cpu_features().
enum {
    RECUR_CPU_AVX2 = 1u << 0,
    RECUR_CPU_FMA = 1u << 1,
    RECUR_CPU_F16C = 1u << 2,
    RECUR_CPU_AVX512F = 1u << 3,
    RECUR_CPU_AVX512BW = 1u << 4,
    RECUR_CPU_AVX512VL = 1u << 5,
    RECUR_CPU_AVX512VNNI = 1u << 6,
    RECUR_CPU_AVX512VPOPCNTDQ = 1u << 7,
    RECUR_CPU_AVXVNNI = 1u << 8,
    RECUR_CPU_AMX_INT8 = 1u << 9,
    RECUR_CPU_AVX512BF16 = 1u << 10, // vdpbf16ps and the BF16 conversions (with AVX-512 F)
};

uint32_t recur_cpu_features(void);          // CPUID + XGETBV (OS support for YMM/ZMM state)
recur_isa recur_isa_best(void);             // best tier this CPU supports
recur_isa recur_isa_active(void);           // tier in use: RECUR_ISA env if set and supported, else best
int recur_isa_supported(recur_isa isa);     // 1 if this CPU can run the tier
int recur_isa_set(recur_isa isa);           // force a tier (tests); 0 on success, -1 if unsupported
const char *recur_isa_name(recur_isa isa);  // "scalar", "avx2", "avxvnni", "avx512", "amx"
// 1 if RECUR_ISA named a tier this CPU lacks (the best tier is used instead and callers may warn).
int recur_isa_env_rejected(void);

// Threads for every kernel the calling thread runs, linear included; n < 1 means 1. The count is
// the calling thread's own (two models on two threads keep theirs); a thread that set none gets
// omp_get_max_threads() of the first query.
// OpenBLAS itself is kept single-threaded (each of its calls is one thread's work), so every result
// is bit-identical whatever the thread count.
void recur_set_num_threads(int n);
int recur_get_num_threads(void);
// 1 if this build runs kernels on several threads (OpenMP found when it was compiled); 0 if every
// kernel runs on the calling thread alone, whatever recur_set_num_threads says.
int recur_openmp_enabled(void);

// ---------------------------------------------------------------------------------------------
// FP32 kernels (f32.c: dispatch + scalar, f32_linear.c, arch/x86/f32_avx*.c, arch/x86/attention_avx*.c)
//
// Every kernel gives the same bits whatever recur_get_num_threads() is. Across SIMD tiers the
// results are bit-identical except where a tier reorders a sum or uses the polynomial exp (RMS norm,
// softmax, SwiGLU, exp, attention); Tests/CKernelsTests states those tolerances.

// The kernel family OpenBLAS chose for this CPU at load ("Haswell", "Zen", "SkylakeX", ...; the
// OPENBLAS_CORETYPE environment variable overrides its choice). Their rounding differs, so FP32
// results are reproducible across machines only under one family (`recur` pins "Haswell").
const char *recur_blas_core(void);

// C[m, n] = alpha * op(A) op(B) + beta * C, row-major, op(A) = A^T when trans_a (A stored [k, m])
// and likewise for B: one single-threaded cblas_sgemm (the same bits at any thread count).
// Returns -1 (nothing written) for a negative size or a leading dimension below its row width.
int recur_f32_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                   int64_t ldc);

// y[i] = a[i] + b[i]
void recur_f32_add(const float *a, const float *b, float *y, int64_t n);
// y[r, :] = a[r, :] + b[:] (b broadcast over rows)
void recur_f32_add_row(const float *a, const float *b, float *y, int64_t rows, int64_t dim);
// x[i] *= s
void recur_f32_scale(float *x, float s, int64_t n);

// RMS norm without weight over the last dimension, in place: x = x / sqrt(mean(x^2) + eps).
void recur_f32_rms_norm(float *x, int64_t rows, int64_t dim, float eps);
// Post-norm residual step: x = rms_norm(x + residual) (x updated in place).
void recur_f32_add_rms_norm(float *x, const float *residual, int64_t rows, int64_t dim, float eps);

// SwiGLU activation: gate_up rows hold [gate(inter) | up(inter)]; out[r, j] = silu(gate) * up.
void recur_f32_swiglu(const float *gate_up, float *out, int64_t rows, int64_t inter);

// Softmax over each row, in place: exp(x - max) * (1 / sum) like PyTorch's CPU kernel (scalar: expf;
// SIMD: a polynomial exp, within 2 ulp of exact, 1 ulp measured). A NaN makes its row NaN.
void recur_f32_softmax(float *x, int64_t rows, int64_t n);

// y[i] = exp(x[i]) (scalar: expf; SIMD: the polynomial exp that softmax and SiLU use, so tests can
// measure its error directly).
void recur_f32_exp(const float *x, float *y, int64_t n);

// RoPE, rotate-half layout (as Llama/TRM): for head vector v of size head_dim, half = head_dim/2,
// v'[i] = v[i]*cos[p,i] - v[i+half]*sin[p,i]; v'[i+half] = v[i+half]*cos[p,i+half] + v[i]*sin[p,i+half].
// x is [batch, seq, heads, head_dim] with row stride `row_stride` floats between consecutive
// (batch, seq) positions (so q and k can be rotated inside a fused qkv buffer).
// cos/sin are [seq, head_dim] tables (recur_f32_rope_tables builds them like PyTorch does).
// head_dim must be even (an odd last element is left as it is). The two products are rounded
// separately (no FMA), as PyTorch's `q * cos + rotate_half(q) * sin` does.
void recur_f32_rope(float *x, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                    int64_t row_stride, const float *cos, const float *sin);
// cos/sin[p, i] for p < seq, i < head_dim: inv_freq[j] = 1 / theta^(2j/head_dim),
// freqs = p * inv_freq (float32), emb = concat(freqs, freqs). inv_freq and freqs equal PyTorch's
// float32 RotaryEmbedding bit for bit; cos/sin are correctly rounded, so they may differ from
// PyTorch's (1-ulp SLEEF) values by one ulp in a few percent of the entries.
void recur_f32_rope_tables(float *cos, float *sin, int64_t seq, int64_t head_dim, float theta);

// Non-causal multi-head attention over a fused qkv buffer.
// qkv: [batch, seq, (heads + 2*kv_heads) * head_dim] (q heads, then k heads, then v heads).
// out: [batch, seq, heads * head_dim]. scale is usually 1/sqrt(head_dim). heads must be a multiple
// of kv_heads (query head h reads kv head h / (heads / kv_heads)); otherwise nothing is written.
// Softmax over all keys, max-subtracted, weighted sum of V divided by the sum at the end.
// scratch: at least recur_f32_attention_scratch(seq) * recur_get_num_threads() floats, sized with
// the thread count in force at the call (allocate it again after recur_set_num_threads).
// No allocation inside, whatever seq is. Called from inside an enclosing OpenMP parallel region it
// runs on the calling thread and uses the first slot of scratch.
int64_t recur_f32_attention_scratch(int64_t seq);
void recur_f32_attention(const float *qkv, float *out, int64_t batch, int64_t seq, int64_t heads,
                         int64_t kv_heads, int64_t head_dim, float scale, float *scratch);
// The same attention with BF16 dot products (vdpbf16ps) where the CPU has AVX-512 BF16 and the
// avx512 or amx tier is active: Q, K, V and the softmax numerators rounded to bfloat16 (nearest
// even), every sum and the softmax in float32, about twice the multiply-add rate of the FP32
// kernel. Same arguments and scratch; with rope_cos and rope_sin (recur_f32_rope_tables), Q and K are
// rotated as recur_f32_rope does (the same float operations) while they are packed, so qkv is read
// unrotated and left as it is. Returns 0, or -1 (nothing written) where it cannot run (the CPU, an odd
// head_dim, heads too wide or sequences too long for its panels) or only one table is given.
int recur_attention_bf16(const float *qkv, float *out, int64_t batch, int64_t seq, int64_t heads,
                         int64_t kv_heads, int64_t head_dim, float scale, const float *rope_cos,
                         const float *rope_sin, float *scratch);
// 1 if recur_attention_bf16 runs here (the CPU feature and the active tier).
int recur_attention_bf16_supported(void);

// out[i, :] = scale * table[ids[i], :]. ids must be valid rows (the caller checks them).
void recur_f32_embedding(const float *table, const int32_t *ids, float *out, int64_t n,
                         int64_t dim, float scale);

// out[r] = index of the first maximum of row r; a NaN counts as the maximum (the first NaN wins, as
// in torch.argmax); -1 for n < 1.
void recur_f32_argmax(const float *x, int64_t rows, int64_t n, int32_t *out);
// Index of the first NaN or infinity among x[0..n), or -1 when every value is finite.
int64_t recur_f32_first_non_finite(const float *x, int64_t n);

// Transpose a [rows, cols] matrix into [cols, rows] (for the TRM token-mixing MLP), batched.
void recur_f32_transpose(const float *x, float *y, int64_t batch, int64_t rows, int64_t cols);

// Half-precision conversions (IEEE f16 and bfloat16), round-to-nearest-even like numpy/PyTorch.
// Subnormals and infinities are exact; a NaN stays NaN with its sign and top payload bits, made
// quiet (the F16C instructions' behaviour, which the scalar code reproduces bit for bit).
void recur_f16_to_f32(const uint16_t *x, float *y, int64_t n);
void recur_f32_to_f16(const float *x, uint16_t *y, int64_t n);
void recur_bf16_to_f32(const uint16_t *x, float *y, int64_t n);


// ---------------------------------------------------------------------------------------------
// Causal decoders (decoder.c): language models and recursive causal LMs

// y[r, :] = (x[r, :] * (1 / sqrtf(mean(x[r, :]^2) + eps))) * w[:] (w may be NULL: no weight), as
// llama.cpp's rms_norm followed by its mul. x and y may be the same buffer.
void recur_f32_rms_norm_weighted(const float *x, const float *w, float *y, int64_t rows, int64_t dim,
                                 float eps);
// LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) * w + b (w, b may be NULL).
void recur_f32_layer_norm(const float *x, const float *w, const float *b, float *y, int64_t rows,
                          int64_t dim, float eps);

// RoPE at absolute positions, as ggml computes it: for pair i < n_dims / 2 of every head,
// theta = positions[r] * base^(-2i / n_dims) (the power taken step by step in float), rotated by
// cosf/sinf(theta). neox != 0 pairs element i with i + n_dims / 2 (rotate-half: NeoX, Qwen2);
// neox == 0 pairs 2i with 2i + 1 (the original Llama layout GGUF llama files use). Row r of x
// starts at x + r * row_stride and holds `heads` heads of head_dim; elements past n_dims stay.
// Returns -1 (nothing written) for an odd n_dims, n_dims > head_dim or n_dims > 1024.
int recur_f32_rope_positions(float *x, int64_t rows, int64_t heads, int64_t head_dim, int64_t n_dims,
                             int64_t row_stride, const int32_t *positions, float base, int neox);

// Machine limits, measured (a few tenths of a second each; best of three runs). GOP/s counts 2
// operations per multiply-add, as the profile's rates do.
// recur_probe_int8_gops: the INT8 multiply-add rate of `isa`'s own instruction sequence
// (vpmaddubsw + vpmaddwd for AVX2, vpdpbusd ymm for AVX-VNNI, zmm for AVX-512, int32 scalar) in
// enough independent chains to fill every pipe, on `threads` threads at once (<= 0: all);
// -1 for a tier this CPU lacks or one with no probe (AMX).
// recur_probe_read_gbs: streaming read bandwidth, each thread over its own buffer of
// bytes_per_thread (a size within L2 gives the L2 rate, hundreds of MB the memory's); -1 when
// the buffers cannot be allocated.
double recur_probe_int8_gops(recur_isa isa, int threads, double seconds);
double recur_probe_read_gbs(int64_t bytes_per_thread, int threads, double seconds);

// Multi-head attention of m queries over a fixed bank of `slots` keys and values, no mask (a
// recursive LM's memory read). q: row i at q + i * q_stride, heads x head_dim; out likewise.
// k, v: head-major, head h's slots x head_dim panel at k + h * slots * head_dim, read once per
// call (m = 1 runs GEMV); F32, or IEEE F16 widened block by block (half the bytes to stream).
// scratch: recur_bank_attention_scratch(m, slots, head_dim, f16) * recur_get_num_threads()
// floats. Returns -1 (nothing written) for an invalid size or a stride below heads x head_dim.
int64_t recur_bank_attention_scratch(int64_t m, int64_t slots, int64_t head_dim, int f16);
int recur_f32_bank_attention(const float *q, int64_t q_stride, const float *k, const float *v,
                             int64_t slots, float *out, int64_t out_stride, int64_t m, int64_t heads,
                             int64_t head_dim, float scale, float *scratch);
int recur_f16_bank_attention(const float *q, int64_t q_stride, const uint16_t *k, const uint16_t *v,
                             int64_t slots, float *out, int64_t out_stride, int64_t m, int64_t heads,
                             int64_t head_dim, float scale, float *scratch);

// Causal multi-head attention (GQA) of n new queries against a KV cache.
// q: row i (the token at position pos0 + i) at q + i * q_stride, heads x head_dim.
// k, v: the cache, row j (position j) at k + j * kv_stride, kv_heads x head_dim; rows
// 0 .. pos0 + n - 1 must be filled (the new tokens' keys and values included).
// out: row i at out + i * out_stride, heads x head_dim. Query i sees keys 0 .. pos0 + i.
// scratch: recur_f32_causal_attention_scratch(n, pos0 + n) * recur_get_num_threads() floats.
// Returns -1 (nothing written) if heads is not a multiple of kv_heads, a size is invalid, or a
// stride is below its row's width (heads x head_dim for q and out, kv_heads x head_dim for k, v).
// A masked position's value still enters the product with weight 0, so a NaN in a value row a
// query cannot see makes that query NaN (as llama.cpp's non-flash attention does).
int64_t recur_f32_causal_attention_scratch(int64_t n, int64_t keys);
int recur_f32_causal_attention(const float *q, int64_t q_stride, const float *k, const float *v,
                               int64_t kv_stride, float *out, int64_t out_stride, int64_t n,
                               int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim,
                               float scale, float *scratch);

// Causal attention steered by an attention controller (docs/attention-controller.md): after the
// softmax of query i and head h, with a = alpha[i * heads + h] != 0 and s = slots + (i * heads
// + h) * (window + 1) (slot j < window is position pos0 + i - j, slot `window` every position
// before the window), p becomes (1 - a) p + a s on the window and p (1 - a + a s[window] / S)
// before it (S: the plain mass there; (1 - a) p when S is 0). alpha 0 gives the plain row bit for
// bit. Every tier mixes with the same operations in the same order. Arguments and scratch as
// recur_f32_causal_attention; slots NULL is plain attention. Returns -1 (nothing written) for a
// window outside 1 ... RECUR_STEER_MAX_WINDOW or alpha NULL with slots given.
#define RECUR_STEER_MAX_WINDOW 1024
int recur_f32_steered_attention(const float *q, int64_t q_stride, const float *k, const float *v,
                                int64_t kv_stride, float *out, int64_t out_stride, int64_t n,
                                int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim,
                                float scale, float *scratch, const float *slots, const float *alpha,
                                int64_t window);

// ---------------------------------------------------------------------------------------------
// The rule-latent model's fit (rule_latent.c; docs/rule-latent.md): the forward pass keeps what
// the backward pass needs, and the backward pass differentiates with respect to the activations
// only (the weights are fixed, so no weight gradient is ever formed).

// Products with a fixed right-hand matrix B [k, n] packed once (f32_packed.c): panels of 16 columns,
// panel p holding B[kk][16p ... 16p + 15] for kk = 0 ... k - 1 (zeros past column n), so the
// kernel reads B in order and never repacks it (OpenBLAS packs both operands on every call).
// AVX2: 6 x 16 register tiles with FMA; AVX-512: 8 x 32 tiles, the AVX2 tier's bits; scalar: the
// same sums in the same order without FMA.
// Every element sums its k products in order from the bias (or zero), whatever m and the
// thread count (the threads split the panels).
// Floats of B [k, n] packed.
int64_t recur_f32_packed_size(int64_t k, int64_t n);
// B = w^T for w [n, k] (a linear layer's weight, PyTorch's layout: y = x w^T).
void recur_f32_pack_transposed(const float *w, int64_t n, int64_t k, float *packed);
// w [n, k] back from recur_f32_pack_transposed's panels.
void recur_f32_unpack_transposed(const float *packed, int64_t n, int64_t k, float *w);
// B = w for w [k, n] (a linear layer's weight [out, in] as B gives its input gradient dy w).
void recur_f32_pack(const float *w, int64_t k, int64_t n, float *packed);
// r = a[m, k] B (+ bias[n] when not NULL), then r *= mul[m, n] when mul is not NULL (row i at
// mul + i * mul_stride); c = r, or c += r with accumulate != 0. Row i of a at a + i * a_stride,
// of c at c + i * c_stride.
void recur_f32_packed_gemm(const float *a, int64_t a_stride, const float *packed, int64_t k,
                           int64_t n, const float *bias, const float *mul, int64_t mul_stride,
                           float *c, int64_t c_stride, int64_t m, int accumulate);

// y = GELU(x) = (x * 0.5) * (1 + erf(x / sqrt 2)) (the exact GELU, not the tanh form) and, when
// slope is not NULL, slope = dy/dx = 0.5 * (1 + erf(x / sqrt 2)) + x * exp(-x^2 / 2) / sqrt(2 pi).
// Scalar: libm's erff and expf in PyTorch's formulas. SIMD: with a = x / sqrt 2, erf(a) = a P(a^2)
// for -0.5 < a < 1 and erfc(|a|) = exp(-a^2) Q(1 / (1 + |a| / 2)) elsewhere (polynomials of
// degree 6 and 9, within 1e-9 relative of erf and erfc), so 1 + erf never cancels for negative x:
// within 5e-7 relative of the double-precision GELU, where the scalar formula loses its digits
// below x = -3 (Tests/CKernelsTests/RuleKernelTests.swift states the tolerances).
// y may be x.
void recur_f32_gelu(const float *x, float *y, float *slope, int64_t n);

// LayerNorm with weight and bias over rows of dim, keeping what its backward pass needs:
// xhat = (x - mean) * rstd, rstd[r] = 1 / sqrtf(var + eps) (biased variance), y = xhat * w + b.
// Mean and variance are float sums over 8 lanes.
void recur_f32_layer_norm_keep(const float *x, const float *w, const float *b, float *y,
                               float *xhat, float *rstd, int64_t rows, int64_t dim, float eps);
// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w, per row (accumulate != 0:
// dx += ...), from what recur_f32_layer_norm_keep kept.
void recur_f32_layer_norm_backward(const float *dy, const float *w, const float *xhat,
                                   const float *rstd, float *dx, int64_t rows, int64_t dim,
                                   int accumulate);

// FiLM over rows: before = x + add (add NULL: before = x), then y = before * (1 + gamma) + beta
// (gamma and beta broadcast over the rows). before and y may be x itself.
void recur_f32_film(const float *x, const float *add, float *before, float *y, const float *gamma,
                    const float *beta, int64_t rows, int64_t dim);
// Its backward pass: dgamma[i] += sum_r dx[r, i] * before[r, i], dbeta[i] += sum_r dx[r, i], then
// dx *= 1 + gamma in place (the gradient with respect to `before`).
void recur_f32_film_backward(float *dx, const float *before, const float *gamma, float *dgamma,
                             float *dbeta, int64_t rows, int64_t dim);

// Cross-entropy of rows of logits against targets (< 0: no target, the row adds nothing), row r
// weighted by weight[r]: returns sum_r weight[r] * (logsumexp(row r) - logit of its target), the
// sum in double. With gradient != 0 the logits become d loss / d logits in place (weight[r] *
// (softmax - one-hot); zero rows where there is no target); otherwise they are overwritten.
float recur_f32_cross_entropy(float *logits, const int32_t *targets, const float *weight,
                              int64_t rows, int64_t vocab, int gradient);

// Sequences under a prefix-LM mask (docs/rule-latent.md): a position i < prefix (the input part)
// sees the positions < prefix; an output position i >= prefix sees the positions <= i. Sequence s
// keeps its prefix input positions in rows input_row[s] ... input_row[s] + prefix - 1 and its
// output_count[s] output positions in rows output_row[s] + t * output_step (t = 0, 1, ...), so a
// batch may keep every sequence's inputs together and all outputs after them, and a decoder may
// interleave the sequences' output positions. positions >= prefix + output_count[s] for every s
// (it sizes the kept probabilities).
typedef struct {
    int64_t sequences, prefix, positions, output_step;
    const int64_t *input_row, *output_row, *output_count;
} recur_prefix_batch;

// Floats of scratch per thread the prefix-LM attention kernels need.
int64_t recur_prefix_attention_scratch(int64_t positions, int64_t head_dim);

// Multi-head attention under the prefix-LM mask, for the queries at positions >= query_from of
// every sequence (0: all; prefix: the outputs only). qkv: row r holds q | k | v (heads x head_dim
// each) at qkv + r * qkv_stride; ctx: row r's context at ctx + r * ctx_stride, written for query
// rows only. Scores (q . k) * scale, softmax max-subtracted and multiplied by 1 / sum (the exp of
// the FP32 tier in use). probs (NULL: not kept): sequence s's head h at probs + (s * heads + h) *
// positions^2, query position i's row at i * positions (its visible keys; the rest unspecified).
// scratch: recur_prefix_attention_scratch(positions, head_dim) * recur_get_num_threads() floats.
void recur_f32_prefix_attention(const float *qkv, int64_t qkv_stride, float *ctx,
                                int64_t ctx_stride, float *probs, const recur_prefix_batch *batch,
                                int64_t query_from, int64_t heads, int64_t head_dim, float scale,
                                float *scratch);
// Its backward pass from d ctx (query rows, dctx_stride apart) and the kept probabilities: dq for
// the query rows (zeros in the other rows), dk and dv for every row, into dqkv laid out as qkv
// (row r at dqkv + r * dqkv_stride). The other arguments as the forward pass's.
void recur_f32_prefix_attention_backward(const float *qkv, int64_t qkv_stride, const float *probs,
                                         const float *dctx, int64_t dctx_stride, float *dqkv,
                                         int64_t dqkv_stride, const recur_prefix_batch *batch,
                                         int64_t query_from, int64_t heads, int64_t head_dim,
                                         float scale, float *scratch);

#ifdef __cplusplus
}
#endif

#endif // RECUR_KERNELS_H
