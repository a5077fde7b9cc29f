// Loaders for the accelerated libraries ScaleTune measures beside OpenBLAS: BLIS and oneDNN.
//
// Both are opened at run time (dlopen, RTLD_LOCAL) rather than linked. BLIS exports the same
// BLAS and CBLAS symbols as OpenBLAS (sgemm_, cblas_sgemm): linked together, one would silently
// shadow the other, and every OpenBLAS measurement could be BLIS's. Opened locally, each keeps
// its own symbols, and a machine without one of them still runs everything else: the backend
// says why it is missing.
#ifndef SCALETUNE_CLIBRARIES_H
#define SCALETUNE_CLIBRARIES_H

#include <stdint.h>

// ---- BLIS ----

// Opens BLIS (libblis.so.4, or SCALETUNE_BLIS_LIBRARY). 0 on success; otherwise fills `error`.
int st_blis_load(char *error, int capacity);
// The library's version ("0.9.0"), its selected sub-configuration ("zen3"), its threading model ("openmp",
// "pthreads", "single"). Only after st_blis_load succeeded.
const char *st_blis_version(void);
const char *st_blis_arch(void);
const char *st_blis_threading(void);
// C = alpha·op(A)·op(B) + beta·C, row-major, on `threads` threads of this call alone.
void st_blis_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int threads);
void st_blis_dgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                   const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int threads);

// ---- oneDNN ----

// Opens oneDNN (libdnnl.so.2, or SCALETUNE_ONEDNN_LIBRARY) and its CPU engine. 0 on success.
int st_dnnl_load(char *error, int capacity);
void st_dnnl_version(int *major, int *minor, int *patch, char *hash, int capacity);
// dnnl_get_effective_cpu_isa(): the ISA its JIT kernels use here (after ONEDNN_MAX_CPU_ISA).
int st_dnnl_effective_isa(void);
// The CPU runtime: "omp", "tbb", "seq", "threadpool".
const char *st_dnnl_cpu_runtime(void);
// dnnl_sgemm (row-major) with `threads` OpenMP threads for this call. 0 on success.
int st_dnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int threads);

// A matmul primitive for one problem: C (fp32, ld ldc) = alpha·op(A)·op(B) + beta·C, A and B
// contiguous in `dataType` (0 bf16, 1 fp16), op(A) M×K, op(B) K×N.
typedef struct st_dnnl_matmul st_dnnl_matmul;
st_dnnl_matmul *st_dnnl_matmul_create(int dataType, int64_t m, int64_t n, int64_t k, int transA, int transB, int64_t ldc,
                                      float alpha, float beta, char *error, int capacity);
// The implementation oneDNN picked ("brg:avx512_core_bf16").
const char *st_dnnl_matmul_implementation(const st_dnnl_matmul *matmul);
// Runs it (calls on one matmul must not overlap: it has one stream). 0 on success.
int st_dnnl_matmul_run(const st_dnnl_matmul *matmul, const void *a, const void *b, float *c, int threads);
void st_dnnl_matmul_destroy(st_dnnl_matmul *matmul);

// Before the first library loads libgomp: sets GOMP_SPINCOUNT=10000 unless the user set it or
// OMP_WAIT_POLICY, so that idle OpenMP threads stop spinning after tens of microseconds.
void st_omp_spin_briefly(void);

// The calling thread's OpenMP thread count for its next parallel regions (libgomp as the
// libraries loaded it); no-op when no OpenMP runtime is loaded.
void st_omp_set_threads(int threads);

#endif
