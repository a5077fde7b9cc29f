#ifndef SCALETUNE_CKERNELS_H
#define SCALETUNE_CKERNELS_H
/* The few things Swift cannot say: cpuid, xgetbv, the Linux AMX permission request, and
   hand-written micro-benchmark loops for each vector unit. Every ISA-specific function carries its
   own target attribute, so the library builds for any x86-64; the Swift side checks that the CPU
   and the OS allow an ISA before it calls the function that uses it. Nothing here decides. */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// True when compiled for x86-64 (the functions below are stubs elsewhere).
int ck_is_x86_64(void);

/// cpuid(leaf, subleaf) -> out[0..3] = eax, ebx, ecx, edx.
void ck_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/// xgetbv(xcr). Only call when cpuid reports OSXSAVE (leaf 1, ecx bit 27).
uint64_t ck_xgetbv(uint32_t xcr);

/// Asks Linux for permission to use AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM, xfeature 18)
/// and reads it back. Returns 0 when granted, else the errno of the failing call.
int ck_request_amx_permission(void);

/// Result of one micro-benchmark loop: `flops` floating-point operations were done; `sink` only
/// keeps the compiler from removing the work.
typedef struct {
  double flops;
  double sink;
} ck_loop_result;

/* FMA throughput loops: `iters` iterations of independent multiply-adds on as many accumulators
   as hide the FMA latency of current cores (latency 4-5 cycles x 2 pipes). */
ck_loop_result ck_fma_f64_avx512(uint64_t iters, double a, double b);
ck_loop_result ck_fma_f32_avx512(uint64_t iters, float a, float b);
ck_loop_result ck_fma_f64_avx2(uint64_t iters, double a, double b);
ck_loop_result ck_fma_f32_avx2(uint64_t iters, float a, float b);
ck_loop_result ck_muladd_f64_sse2(uint64_t iters, double a, double b);
ck_loop_result ck_muladd_f32_sse2(uint64_t iters, float a, float b);
/// AVX512-FP16: vfmadd on 32 half-precision lanes.
ck_loop_result ck_fma_f16_avx512fp16(uint64_t iters, float a, float b);
/// AVX512-BF16: vdpbf16ps, 16 fp32 lanes each accumulating two bf16 products.
ck_loop_result ck_dot_bf16_avx512bf16(uint64_t iters, float a, float b);
/// AMX-BF16: tdpbf16ps on four 16x16 fp32 accumulator tiles from 16x32 bf16 tiles. Requires the
/// AMX permission (ck_request_amx_permission) first.
ck_loop_result ck_amx_bf16(uint64_t iters, float a, float b);

/* bf16 GEMM micro-kernels (bf16_kernels.c, where the two packed layouts are described):
   C[MR x NR] = alpha * A*B + beta * C, fp32 accumulation; beta = 0 does not read C. */
/// AVX512-BF16, 12 x 32, `pairs` k-pairs in the pairs layout.
void ck_bf16_avx512_12x32(int64_t pairs, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc, float alpha, float beta);
/// AMX-BF16, 32 x 32, `chunks` chunks of 32 k in the tiles layout. The calling thread must have run
/// ck_amx_begin (after ck_request_amx_permission) and runs ck_amx_end when done.
void ck_amx_bf16_32x32(int64_t chunks, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc, float alpha, float beta);
/// Loads this thread's tile configuration (eight 16 x 64-byte tiles).
void ck_amx_begin(void);
/// Releases this thread's tiles.
void ck_amx_end(void);
/// Portable C over the pairs layout (any MR, NR up to 32): for testing the packing and the driver.
void ck_bf16_pairs_reference(int64_t mr, int64_t nr, int64_t pairs, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc,
                             float alpha, float beta);
/// Portable C over the tiles layout (32 x 32): for testing the packing and the driver.
void ck_amx_tiles_reference(int64_t chunks, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc, float alpha, float beta);

/// One spin-wait hint (x86 `pause`): lets the sibling hardware thread run and saves power while a
/// worker waits a few microseconds for its next job.
static inline void ck_pause(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

/// STREAM triad a[i] = b[i] + s * c[i] for i in [0, n).
void ck_triad_f64(double *a, const double *b, const double *c, double s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
