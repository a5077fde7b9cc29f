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

/// STREAM triad a[i] = b[i] + s * c[i] for i in [0, n).
void ck_triad_f64(double *a, const double *b, const double *c, double s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
