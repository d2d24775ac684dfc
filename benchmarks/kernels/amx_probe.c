// Where the AMX Q8_0 micro-kernel's time goes (arch/x86/quant_amx.c): nanoseconds per tile-block,
// one 16 x 16 x 32 tile product with its loads, store and float work, for the whole kernel and for
// each piece alone, on data in L1. A diagnostic for CPUs with AMX-INT8; exits 1 elsewhere.
//   benchmarks/kernels/build.sh && .build-bench/amx_probe
// The "one pair of lag" variant lets the float work trail the tile work by two blocks; "2x2" is a
// 32-row x 2-panel blocking that shares each A and B tile load between two tile products.
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#define T __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8"), noinline))
typedef struct { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((aligned(64))) cfg_t;
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
enum { NB = 16, K = 512 };
static int8_t A[32 * K] __attribute__((aligned(64)));
static uint8_t B[2][NB * 576] __attribute__((aligned(64)));
static int32_t cb[8][256] __attribute__((aligned(64)));
static float dact[32 * NB], out[32 * 32];
static volatile float sink;

T static void cfg_std(void) { // tmm0/3 C, tmm1/4 A, tmm2/5 B, tmm6/7 C extra
  cfg_t c; memset(&c, 0, sizeof c); c.palette = 1;
  for (int t = 0; t < 8; t++) { c.rows[t] = 16; c.colsb[t] = 64; }
  c.colsb[1] = c.colsb[4] = 32; c.rows[2] = c.rows[5] = 8;
  _tile_loadconfig(&c);
}
T static void cfg_2x2(void) { // tmm0-3 C, tmm4/5 A, tmm6/7 B
  cfg_t c; memset(&c, 0, sizeof c); c.palette = 1;
  for (int t = 0; t < 4; t++) { c.rows[t] = 16; c.colsb[t] = 64; }
  c.rows[4] = c.rows[5] = 16; c.colsb[4] = c.colsb[5] = 32;
  c.rows[6] = c.rows[7] = 8; c.colsb[6] = c.colsb[7] = 64;
  _tile_loadconfig(&c);
}
T static void epi(__m512 *acc, const int32_t *c, const uint8_t *blk, int b) {
  const __m512 dw = _mm512_loadu_ps(blk + 512);
  for (int r = 0; r < 16; r++) {
    const __m512 is = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r));
    acc[r] = _mm512_fmadd_ps(is, _mm512_mul_ps(_mm512_set1_ps(dact[r * NB + b]), dw), acc[r]);
  }
}
static float accm[4][16][16] __attribute__((aligned(64)));
T static void epi_m(float *acc, const int32_t *c, const uint8_t *blk, int b, int r0) {
  const __m512 dw = _mm512_loadu_ps(blk + 512);
  for (int r = 0; r < 16; r++) {
    const __m512 is = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r));
    _mm512_store_ps(acc + 16 * r, _mm512_fmadd_ps(is, _mm512_mul_ps(_mm512_set1_ps(dact[(r0 + r) * NB + b]), dw), _mm512_load_ps(acc + 16 * r)));
  }
}
#define STEP(C, Ar, Br, xp, bp, buf) do { _tile_zero(C); _tile_loadd(Ar, xp, K); _tile_loadd(Br, bp, 64); _tile_dpbssd(C, Ar, Br); _tile_stored(C, buf, 64); } while (0)

T static void full(int reps) { // the shipped kernel's shape: pairs of blocks, float work after
  for (int it = 0; it < reps; it++) {
    __m512 acc[16]; for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < NB; b += 2) {
      STEP(0, 1, 2, A + b * 32, B[0] + b * 576, cb[0]);
      STEP(3, 4, 5, A + b * 32 + 32, B[0] + (b + 1) * 576, cb[1]);
      epi(acc, cb[0], B[0] + b * 576, b); epi(acc, cb[1], B[0] + (b + 1) * 576, b + 1);
    }
    for (int r = 0; r < 16; r++) _mm512_storeu_ps(out + 16 * r, acc[r]);
  }
}
T static void lag(int reps) { // one pair of lag
  for (int it = 0; it < reps; it++) {
    __m512 acc[16]; for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
    for (int j = 0; j <= NB / 2; j++) {
      if (j < NB / 2) { int b = 2 * j; STEP(0, 1, 2, A + b * 32, B[0] + b * 576, cb[(j & 1) * 2]); STEP(3, 4, 5, A + b * 32 + 32, B[0] + (b + 1) * 576, cb[(j & 1) * 2 + 1]); }
      if (j > 0) { int b = 2 * (j - 1); epi(acc, cb[((j - 1) & 1) * 2], B[0] + b * 576, b); epi(acc, cb[((j - 1) & 1) * 2 + 1], B[0] + (b + 1) * 576, b + 1); }
    }
    for (int r = 0; r < 16; r++) _mm512_storeu_ps(out + 16 * r, acc[r]);
  }
}
T static void amx_store(int reps) {
  for (int it = 0; it < reps; it++)
    for (int b = 0; b < NB; b += 2) { STEP(0, 1, 2, A + b * 32, B[0] + b * 576, cb[0]); STEP(3, 4, 5, A + b * 32 + 32, B[0] + (b + 1) * 576, cb[1]); }
}
T static void amx_nostore(int reps) {
  for (int it = 0; it < reps; it++)
    for (int b = 0; b < NB; b += 2) {
      _tile_zero(0); _tile_loadd(1, A + b * 32, K); _tile_loadd(2, B[0] + b * 576, 64); _tile_dpbssd(0, 1, 2);
      _tile_zero(3); _tile_loadd(4, A + b * 32 + 32, K); _tile_loadd(5, B[0] + (b + 1) * 576, 64); _tile_dpbssd(3, 4, 5);
    }
  _tile_stored(0, cb[0], 64);
}
T static void dp_only(int reps) {
  _tile_loadd(1, A, K); _tile_loadd(2, B[0], 64); _tile_loadd(4, A + 32, K); _tile_loadd(5, B[0] + 576, 64);
  _tile_zero(0); _tile_zero(3); _tile_zero(6); _tile_zero(7);
  for (int it = 0; it < reps; it++)
    for (int b = 0; b < NB; b += 4) { _tile_dpbssd(0, 1, 2); _tile_dpbssd(3, 4, 5); _tile_dpbssd(6, 1, 5); _tile_dpbssd(7, 4, 2); }
  _tile_stored(0, cb[0], 64);
}
T static void loads_only(int reps) {
  for (int it = 0; it < reps; it++)
    for (int b = 0; b < NB; b += 2) { _tile_loadd(1, A + b * 32, K); _tile_loadd(2, B[0] + b * 576, 64); _tile_loadd(4, A + b * 32 + 32, K); _tile_loadd(5, B[0] + (b + 1) * 576, 64); }
}
T static void store_only(int reps) {
  _tile_zero(0); _tile_zero(3);
  for (int it = 0; it < reps; it++)
    for (int b = 0; b < NB; b += 2) { _tile_stored(0, cb[0], 64); _tile_stored(3, cb[1], 64); }
}
T static void epi_only(int reps) {
  for (int it = 0; it < reps; it++) {
    __m512 acc[16]; for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < NB; b++) epi(acc, cb[b & 3], B[0] + b * 576, b);
    for (int r = 0; r < 16; r++) _mm512_storeu_ps(out + 16 * r, acc[r]);
  }
}
// 32 rows x 2 panels: per block 2 A loads, 2 B loads, 4 tile products, 4 stores, 4 epilogues.
T static void two_by_two(int reps, int with_epi) {
  for (int it = 0; it < reps; it++) {
    __m512 acc[16]; for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < NB; b++) {
      _tile_loadd(4, A + b * 32, K); _tile_loadd(5, A + 16 * K + b * 32, K);
      _tile_loadd(6, B[0] + b * 576, 64); _tile_loadd(7, B[1] + b * 576, 64);
      _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
      _tile_dpbssd(0, 4, 6); _tile_dpbssd(1, 4, 7); _tile_dpbssd(2, 5, 6); _tile_dpbssd(3, 5, 7);
      int32_t *c = cb[(b & 1) * 4];
      _tile_stored(0, c, 64); _tile_stored(1, c + 256, 64); _tile_stored(2, c + 512, 64); _tile_stored(3, c + 768, 64);
      if (with_epi == 1 && b > 0) { int32_t *p = cb[((b - 1) & 1) * 4]; for (int q = 0; q < 4; q++) epi(acc, p + 256 * q, B[q & 1] + (b - 1) * 576, b - 1); }
      if (with_epi == 2 && b > 0) { int32_t *p = cb[((b - 1) & 1) * 4]; for (int q = 0; q < 4; q++) epi_m(&accm[q][0][0], p + 256 * q, B[q & 1] + (b - 1) * 576, b - 1, 16 * (q >> 1)); }
    }
    for (int r = 0; r < 16; r++) _mm512_storeu_ps(out + 16 * r, acc[r]);
  }
}
static void report(const char *name, void (*f)(int), int per_block) {
  const int reps = 20000; f(100);
  double best = 1e9;
  for (int t = 0; t < 5; t++) { double t0 = now(); f(reps); double dt = now() - t0; if (dt < best) best = dt; }
  const double tb = (double)reps * NB * per_block;
  printf("%-34s %7.2f ns per tile-block  (%6.1f GOP/s per core)\n", name, best / tb * 1e9, 16384.0 * tb / best * 1e-9);
}
static void tbt_e(int r) { two_by_two(r, 1); }
static void tbt(int r) { two_by_two(r, 0); }
static void tbt_m(int r) { two_by_two(r, 2); }
int main(void) {
  if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */)) {
    fputs("amx_probe: this CPU or kernel does not grant AMX tile data\n", stderr);
    return 1;
  }
  for (int i = 0; i < 32 * K; i++) A[i] = (int8_t)(rand() % 255 - 127);
  for (int p = 0; p < 2; p++) for (int i = 0; i < NB * 576; i++) B[p][i] = (uint8_t)rand();
  for (int p = 0; p < 2; p++) for (int b = 0; b < NB; b++) for (int c = 0; c < 16; c++) ((float *)(B[p] + b * 576 + 512))[c] = 0.01f;
  for (int i = 0; i < 32 * NB; i++) dact[i] = 0.02f;
  cfg_std();
  report("full kernel (as in quant_amx.c)", full, 1);
  report("full kernel, one pair of lag", lag, 1);
  report("tile steps with store", amx_store, 1);
  report("tile steps without store", amx_nostore, 1);
  report("tile products only", dp_only, 1);
  report("tile loads only (A+B)", loads_only, 1);
  report("tile stores only", store_only, 1);
  report("float epilogue only", epi_only, 1);
  cfg_2x2();
  report("2x2 tile steps with store", tbt, 4);
  report("2x2 with epilogue (per C tile)", tbt_e, 4);
  report("2x2 with memory accumulators", tbt_m, 4);
  sink = out[3];
  return 0;
}
