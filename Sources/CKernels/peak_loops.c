/* Hand-written throughput loops, one per vector unit. Each iteration issues NACC independent
   operations, one per accumulator, so the loop is bound by the unit's throughput, not its
   latency. The multiplier a is just below 1 and the addend small, so the values settle instead of
   overflowing or going subnormal. */
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "tile_config.h"

#define REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define REP16(X) REP12(X) X(12) X(13) X(14) X(15)

/* One throughput loop. Before each use, SCALAR, VEC, SET1, FMA (acc = acc * a + b) and ADD name
   the element type, vector type and operations of the unit being measured. */
#define DEFINE_FMA_LOOP(NAME, TARGET, LANES, REDUCE, NACC, REP)                                      \
  __attribute__((target(TARGET))) ck_loop_result NAME(uint64_t iters, SCALAR a, SCALAR b) {         \
    VEC va = SET1(a), vb = SET1(b);                                                                 \
    REP(DECL)                                                                                       \
    for (uint64_t i = 0; i < iters; i++) {                                                          \
      REP(STEP)                                                                                     \
    }                                                                                               \
    VEC sum = acc0;                                                                                 \
    REP(SUM)                                                                                        \
    ck_loop_result r = {(double)iters * (NACC) * (LANES) * 2.0, (double)REDUCE(sum)};               \
    return r;                                                                                       \
  }

/* Per-accumulator pieces; acc0 is counted twice in the sum, which does not matter for a sink. */
#define DECL(i) VEC acc##i = SET1((SCALAR)(i + 1));
#define STEP(i) acc##i = FMA(acc##i, va, vb);
#define SUM(i) sum = ADD(sum, acc##i);

static inline double ck_sum_pd512(__m512d v) __attribute__((target("avx512f")));
static inline double ck_sum_pd512(__m512d v) { return _mm512_reduce_add_pd(v); }
static inline float ck_sum_ps512(__m512 v) __attribute__((target("avx512f")));
static inline float ck_sum_ps512(__m512 v) { return _mm512_reduce_add_ps(v); }

static inline double ck_sum_pd256(__m256d v) __attribute__((target("avx")));
static inline double ck_sum_pd256(__m256d v) {
  double t[4]; _mm256_storeu_pd(t, v); return t[0] + t[1] + t[2] + t[3];
}
static inline float ck_sum_ps256(__m256 v) __attribute__((target("avx")));
static inline float ck_sum_ps256(__m256 v) {
  float t[8]; _mm256_storeu_ps(t, v);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
static inline double ck_sum_pd128(__m128d v) { double t[2]; _mm_storeu_pd(t, v); return t[0] + t[1]; }
static inline float ck_sum_ps128(__m128 v) {
  float t[4]; _mm_storeu_ps(t, v); return t[0] + t[1] + t[2] + t[3];
}

/* acc = acc * a + b */
#define FMA512D(acc, a, b) _mm512_fmadd_pd(acc, a, b)
#define FMA512S(acc, a, b) _mm512_fmadd_ps(acc, a, b)
#define FMA256D(acc, a, b) _mm256_fmadd_pd(acc, a, b)
#define FMA256S(acc, a, b) _mm256_fmadd_ps(acc, a, b)
#define MULADD128D(acc, a, b) _mm_add_pd(_mm_mul_pd(acc, a), b)
#define MULADD128S(acc, a, b) _mm_add_ps(_mm_mul_ps(acc, a), b)

#define SCALAR double
#define VEC __m512d
#define SET1 _mm512_set1_pd
#define FMA FMA512D
#define ADD _mm512_add_pd
DEFINE_FMA_LOOP(ck_fma_f64_avx512, "avx512f", 8, ck_sum_pd512, 16, REP16)
#undef SCALAR
#undef VEC
#undef SET1
#undef FMA
#undef ADD

#define SCALAR float
#define VEC __m512
#define SET1 _mm512_set1_ps
#define FMA FMA512S
#define ADD _mm512_add_ps
DEFINE_FMA_LOOP(ck_fma_f32_avx512, "avx512f", 16, ck_sum_ps512, 16, REP16)
#undef SCALAR
#undef VEC
#undef SET1
#undef FMA
#undef ADD

#define SCALAR double
#define VEC __m256d
#define SET1 _mm256_set1_pd
#define FMA FMA256D
#define ADD _mm256_add_pd
DEFINE_FMA_LOOP(ck_fma_f64_avx2, "avx2,fma", 4, ck_sum_pd256, 12, REP12)
#undef SCALAR
#undef VEC
#undef SET1
#undef FMA
#undef ADD

#define SCALAR float
#define VEC __m256
#define SET1 _mm256_set1_ps
#define FMA FMA256S
#define ADD _mm256_add_ps
DEFINE_FMA_LOOP(ck_fma_f32_avx2, "avx2,fma", 8, ck_sum_ps256, 12, REP12)
#undef SCALAR
#undef VEC
#undef SET1
#undef FMA
#undef ADD

#define SCALAR double
#define VEC __m128d
#define SET1 _mm_set1_pd
#define FMA MULADD128D
#define ADD _mm_add_pd
DEFINE_FMA_LOOP(ck_muladd_f64_sse2, "sse2", 2, ck_sum_pd128, 12, REP12)
#undef SCALAR
#undef VEC
#undef SET1
#undef FMA
#undef ADD

#define SCALAR float
#define VEC __m128
#define SET1 _mm_set1_ps
#define FMA MULADD128S
#define ADD _mm_add_ps
DEFINE_FMA_LOOP(ck_muladd_f32_sse2, "sse2", 4, ck_sum_ps128, 12, REP12)
#undef SCALAR
#undef VEC
#undef SET1
#undef FMA
#undef ADD

/* AVX512-FP16: 32 half lanes per vfmadd. */
__attribute__((target("avx512fp16,avx512f,avx512bw,avx512vl")))
ck_loop_result ck_fma_f16_avx512fp16(uint64_t iters, float a, float b) {
  __m512h va = _mm512_set1_ph((_Float16)a), vb = _mm512_set1_ph((_Float16)b);
#define DECLH(i) __m512h acc##i = _mm512_set1_ph((_Float16)(0.01f * (i + 1)));
#define STEPH(i) acc##i = _mm512_fmadd_ph(acc##i, va, vb);
#define SUMH(i) sum = _mm512_add_ph(sum, acc##i);
  REP16(DECLH)
  for (uint64_t i = 0; i < iters; i++) {
    REP16(STEPH)
  }
  __m512h sum = acc0;
  REP16(SUMH)
  ck_loop_result r = {(double)iters * 16 * 32 * 2.0, (double)_mm512_reduce_add_ph(sum)};
  return r;
}

/* AVX512-BF16: each vdpbf16ps does 16 lanes x 2 products x (mul + add). */
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
ck_loop_result ck_dot_bf16_avx512bf16(uint64_t iters, float a, float b) {
  __m512bh va = _mm512_cvtne2ps_pbh(_mm512_set1_ps(a), _mm512_set1_ps(a));
  __m512bh vb = _mm512_cvtne2ps_pbh(_mm512_set1_ps(b), _mm512_set1_ps(b));
#define DECLB(i) __m512 acc##i = _mm512_set1_ps((float)(i + 1));
#define STEPB(i) acc##i = _mm512_dpbf16_ps(acc##i, va, vb);
#define SUMB(i) sum = _mm512_add_ps(sum, acc##i);
  REP16(DECLB)
  for (uint64_t i = 0; i < iters; i++) {
    REP16(STEPB)
  }
  __m512 sum = acc0;
  REP16(SUMB)
  ck_loop_result r = {(double)iters * 16 * 16 * 4.0, (double)_mm512_reduce_add_ps(sum)};
  return r;
}

/* AMX-BF16: tiles 0-3 hold 16x16 fp32 accumulators, tiles 4-5 A (16 rows x 32 bf16), tiles 6-7
   B (16 rows x 32 bf16, VNNI pairs). Each tdpbf16ps does 16*16*32 multiply-adds. */
__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bf16")))
ck_loop_result ck_amx_bf16(uint64_t iters, float a, float b) {
  ck_tile_config cfg;
  ck_tile_config_eight_16x64(&cfg);
  _tile_loadconfig(&cfg);

  static __thread uint16_t abuf[16 * 32] __attribute__((aligned(64)));
  static __thread uint16_t bbuf[16 * 32] __attribute__((aligned(64)));
  static __thread float cbuf[16 * 16] __attribute__((aligned(64)));
  __m512bh av = _mm512_cvtne2ps_pbh(_mm512_set1_ps(a), _mm512_set1_ps(a));
  __m512bh bv = _mm512_cvtne2ps_pbh(_mm512_set1_ps(b), _mm512_set1_ps(b));
  for (int r = 0; r < 16; r++) {
    memcpy(abuf + r * 32, &av, 64);
    memcpy(bbuf + r * 32, &bv, 64);
  }
  memset(cbuf, 0, sizeof cbuf);
  _tile_loadd(0, cbuf, 64);
  _tile_loadd(1, cbuf, 64);
  _tile_loadd(2, cbuf, 64);
  _tile_loadd(3, cbuf, 64);
  _tile_loadd(4, abuf, 64);
  _tile_loadd(5, abuf, 64);
  _tile_loadd(6, bbuf, 64);
  _tile_loadd(7, bbuf, 64);
  for (uint64_t i = 0; i < iters; i++) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, cbuf, 64);
  _tile_release();
  ck_loop_result r = {(double)iters * 4 * 16 * 16 * 32 * 2.0, (double)cbuf[0]};
  return r;
}

/* Vectorised for AVX2 where the CPU has it; the triad is memory-bound either way. */
__attribute__((target("avx2"))) static void ck_triad_avx2(double *restrict a, const double *restrict b,
                                                          const double *restrict c, double s, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}
static void ck_triad_generic(double *restrict a, const double *restrict b, const double *restrict c,
                             double s, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

void ck_triad_f64(double *a, const double *b, const double *c, double s, size_t n) {
  if (__builtin_cpu_supports("avx2")) ck_triad_avx2(a, b, c, s, n);
  else ck_triad_generic(a, b, c, s, n);
}

#else
static ck_loop_result ck_none(void) { ck_loop_result r = {0, 0}; return r; }
ck_loop_result ck_fma_f64_avx512(uint64_t i, double a, double b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_fma_f32_avx512(uint64_t i, float a, float b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_fma_f64_avx2(uint64_t i, double a, double b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_fma_f32_avx2(uint64_t i, float a, float b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_muladd_f64_sse2(uint64_t i, double a, double b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_muladd_f32_sse2(uint64_t i, float a, float b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_fma_f16_avx512fp16(uint64_t i, float a, float b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_dot_bf16_avx512bf16(uint64_t i, float a, float b) { (void)i; (void)a; (void)b; return ck_none(); }
ck_loop_result ck_amx_bf16(uint64_t i, float a, float b) { (void)i; (void)a; (void)b; return ck_none(); }
void ck_triad_f64(double *a, const double *b, const double *c, double s, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}
#endif
