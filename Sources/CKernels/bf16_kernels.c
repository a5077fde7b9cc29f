/* bf16 GEMM micro-kernels: bf16 operands, fp32 accumulation. Only these live in C; the Swift
   driver (BF16GEMM) blocks, packs and threads. Two packed layouts:

   pairs (AVX512-BF16, MR x NR = 12 x 32): per k-pair p, A holds MR rows of (a[i][2p], a[i][2p+1])
     at a[(p*MR + i)*2 + 0/1] and B holds NR columns of (b[2p][j], b[2p+1][j]) at
     b[(p*NR + j)*2 + 0/1]. vdpbf16ps: lane j += a_lo*b_lo + a_hi*b_hi.
   tiles (AMX, MR x NR = 32 x 32): per chunk q of 32 k, A is two 16-row tiles (rows 0-15, 16-31)
     of 16 x 32 bf16, row-major: a[((q*2 + half)*16 + row)*32 + kk]; B is two tiles (columns
     0-15, 16-31) of 16 k-pairs x 16 columns x 2: b[((q*2 + half)*16 + kk/2)*32 + col*2 + kk%2].

   The reference kernels compute the same in portable C, so the layouts and the driver are tested
   on any CPU; the AVX512-BF16 and AMX kernels run only where the probe says those units are
   usable (and, for AMX, after ck_request_amx_permission and ck_amx_begin on the thread). */
#include "CKernels.h"
#include <string.h>

static inline float ck_bf16_value(uint16_t bits) {
  uint32_t wide = (uint32_t)bits << 16;
  float value;
  memcpy(&value, &wide, sizeof value);
  return value;
}

static void ck_store_tile(const float *acc, int64_t mr, int64_t nr, float *c, int64_t ldc, float alpha, float beta) {
  for (int64_t i = 0; i < mr; i++) {
    for (int64_t j = 0; j < nr; j++) {
      float value = alpha * acc[i * nr + j];
      c[i * ldc + j] = beta == 0 ? value : value + beta * c[i * ldc + j];
    }
  }
}

void ck_bf16_pairs_reference(int64_t mr, int64_t nr, int64_t pairs, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc,
                             float alpha, float beta) {
  float acc[32 * 32];
  if (mr > 32 || nr > 32) return;
  memset(acc, 0, sizeof acc);
  for (int64_t p = 0; p < pairs; p++) {
    for (int64_t i = 0; i < mr; i++) {
      float a0 = ck_bf16_value(a[(p * mr + i) * 2]), a1 = ck_bf16_value(a[(p * mr + i) * 2 + 1]);
      for (int64_t j = 0; j < nr; j++) {
        acc[i * nr + j] += a0 * ck_bf16_value(b[(p * nr + j) * 2]) + a1 * ck_bf16_value(b[(p * nr + j) * 2 + 1]);
      }
    }
  }
  ck_store_tile(acc, mr, nr, c, ldc, alpha, beta);
}

void ck_amx_tiles_reference(int64_t chunks, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc, float alpha, float beta) {
  float acc[32 * 32];
  memset(acc, 0, sizeof acc);
  for (int64_t q = 0; q < chunks; q++) {
    for (int64_t i = 0; i < 32; i++) {
      const uint16_t *row = a + ((q * 2 + i / 16) * 16 + i % 16) * 32;
      for (int64_t j = 0; j < 32; j++) {
        const uint16_t *column = b + (q * 2 + j / 16) * 16 * 32 + (j % 16) * 2;
        float sum = 0;
        for (int64_t kp = 0; kp < 16; kp++) {
          sum += ck_bf16_value(row[2 * kp]) * ck_bf16_value(column[kp * 32]) + ck_bf16_value(row[2 * kp + 1]) * ck_bf16_value(column[kp * 32 + 1]);
        }
        acc[i * 32 + j] += sum;
      }
    }
  }
  ck_store_tile(acc, 32, 32, c, ldc, alpha, beta);
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "tile_config.h"

#define CK_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f,avx512bf16")))
void ck_bf16_avx512_12x32(int64_t pairs, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc, float alpha, float beta) {
#define CK_DECL(i) __m512 lo##i = _mm512_setzero_ps(), hi##i = _mm512_setzero_ps();
  CK_ROWS12(CK_DECL)
  for (int64_t p = 0; p < pairs; p++) {
    __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + p * 64));
    __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + p * 64 + 32));
    const uint16_t *ap = a + p * 24;
#define CK_STEP(i)                                                                    \
    {                                                                                 \
      uint32_t pair;                                                                  \
      memcpy(&pair, ap + 2 * (i), sizeof pair);                                       \
      __m512bh av = (__m512bh)_mm512_set1_epi32((int)pair);                           \
      lo##i = _mm512_dpbf16_ps(lo##i, av, b0);                                        \
      hi##i = _mm512_dpbf16_ps(hi##i, av, b1);                                        \
    }
    CK_ROWS12(CK_STEP)
  }
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#define CK_STORE(i)                                                                                     \
  {                                                                                                     \
    float *row = c + (i) * ldc;                                                                         \
    __m512 x = _mm512_mul_ps(lo##i, va), y = _mm512_mul_ps(hi##i, va);                                  \
    if (beta != 0) {                                                                                    \
      x = _mm512_fmadd_ps(_mm512_loadu_ps(row), vb, x);                                                 \
      y = _mm512_fmadd_ps(_mm512_loadu_ps(row + 16), vb, y);                                            \
    }                                                                                                   \
    _mm512_storeu_ps(row, x);                                                                           \
    _mm512_storeu_ps(row + 16, y);                                                                      \
  }
  CK_ROWS12(CK_STORE)
#undef CK_DECL
#undef CK_STEP
#undef CK_STORE
}

/* Tiles 0-3: the 2 x 2 fp32 accumulators (16 rows x 64 bytes); 4-5: A; 6-7: B. */
__attribute__((target("amx-tile,amx-bf16")))
void ck_amx_begin(void) {
  ck_tile_config config;
  ck_tile_config_eight_16x64(&config);
  _tile_loadconfig(&config);
}

__attribute__((target("amx-tile")))
void ck_amx_end(void) { _tile_release(); }

__attribute__((target("amx-tile,amx-bf16,avx512f")))
void ck_amx_bf16_32x32(int64_t chunks, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc, float alpha, float beta) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t q = 0; q < chunks; q++) {
    const uint16_t *ap = a + q * 1024, *bp = b + q * 1024;
    _tile_loadd(4, ap, 64);
    _tile_loadd(5, ap + 512, 64);
    _tile_loadd(6, bp, 64);
    _tile_loadd(7, bp + 512, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  float acc[32 * 32] __attribute__((aligned(64)));
  _tile_stored(0, acc, 128);
  _tile_stored(1, acc + 16, 128);
  _tile_stored(2, acc + 16 * 32, 128);
  _tile_stored(3, acc + 16 * 32 + 16, 128);
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int i = 0; i < 32; i++) {
    float *row = c + i * ldc;
    __m512 x = _mm512_mul_ps(_mm512_load_ps(acc + i * 32), va), y = _mm512_mul_ps(_mm512_load_ps(acc + i * 32 + 16), va);
    if (beta != 0) {
      x = _mm512_fmadd_ps(_mm512_loadu_ps(row), vb, x);
      y = _mm512_fmadd_ps(_mm512_loadu_ps(row + 16), vb, y);
    }
    _mm512_storeu_ps(row, x);
    _mm512_storeu_ps(row + 16, y);
  }
}

#else
void ck_bf16_avx512_12x32(int64_t p, const uint16_t *a, const uint16_t *b, float *c, int64_t l, float x, float y) {
  (void)p; (void)a; (void)b; (void)c; (void)l; (void)x; (void)y;
}
void ck_amx_begin(void) {}
void ck_amx_end(void) {}
void ck_amx_bf16_32x32(int64_t q, const uint16_t *a, const uint16_t *b, float *c, int64_t l, float x, float y) {
  (void)q; (void)a; (void)b; (void)c; (void)l; (void)x; (void)y;
}
#endif
