// BLIS, opened at run time: see CLibraries.h for why it is not linked.
//
// BLIS's own blis.h cannot be included here: its OpenMP build includes <omp.h>, which only an
// OpenMP compiler provides. The few types its typed API takes are declared below as BLIS 0.9's
// blis.h declares them (64-bit dim_t and inc_t, its rntm_t), and st_blis_load refuses a library
// whose version or integer size is not that one.
#include "CLibraries.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t st_dim_t;
typedef int st_trans_t;  // trans_t: BLIS_NO_TRANSPOSE = 0
enum { ST_BLIS_NO_TRANSPOSE = 0 };

// BLIS 0.9's rntm_t: the run-time threading of one call.
typedef struct {
  bool auto_factor;
  st_dim_t num_threads;
  st_dim_t thrloop[6];
  bool pack_a, pack_b, l3_sup;
  void *sba_pool;
  void *pba;
} st_blis_rntm;

typedef void (*st_sgemm_ex)(st_trans_t, st_trans_t, st_dim_t, st_dim_t, st_dim_t, float *, float *, st_dim_t, st_dim_t,
                            float *, st_dim_t, st_dim_t, float *, float *, st_dim_t, st_dim_t, void *, st_blis_rntm *);
typedef void (*st_dgemm_ex)(st_trans_t, st_trans_t, st_dim_t, st_dim_t, st_dim_t, double *, double *, st_dim_t, st_dim_t,
                            double *, st_dim_t, st_dim_t, double *, double *, st_dim_t, st_dim_t, void *, st_blis_rntm *);

static void *blis;
static st_sgemm_ex p_sgemm;
static st_dgemm_ex p_dgemm;
static char *(*p_version)(void);
static int (*p_arch_id)(void);
static char *(*p_arch_string)(int);
static int64_t (*p_openmp)(void);
static int64_t (*p_pthreads)(void);
static int64_t (*p_int_size)(void);

int st_blis_load(char *error, int capacity) {
  if (blis) return 0;
  const char *path = getenv("SCALETUNE_BLIS_LIBRARY");
  if (!path || !*path) path = "libblis.so.4";
  st_omp_spin_briefly();
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    snprintf(error, capacity, "cannot open %s (%s): install libblis4 (apt-get install libblis-dev)", path, dlerror());
    return -1;
  }
#define ST_SYMBOL(var, name)                                                                      \
  *(void **)&var = dlsym(handle, name);                                                          \
  if (!var) {                                                                                     \
    snprintf(error, capacity, "%s has no %s: not a BLIS this build knows (0.9)", path, name);    \
    dlclose(handle);                                                                              \
    return -1;                                                                                    \
  }
  ST_SYMBOL(p_sgemm, "bli_sgemm_ex")
  ST_SYMBOL(p_dgemm, "bli_dgemm_ex")
  ST_SYMBOL(p_version, "bli_info_get_version_str")
  ST_SYMBOL(p_arch_id, "bli_arch_query_id")
  ST_SYMBOL(p_arch_string, "bli_arch_string")
  ST_SYMBOL(p_openmp, "bli_info_get_enable_openmp")
  ST_SYMBOL(p_pthreads, "bli_info_get_enable_pthreads")
  ST_SYMBOL(p_int_size, "bli_info_get_int_type_size")
#undef ST_SYMBOL
  const char *version = p_version();
  const char *forced = getenv("BLIS_ARCH_TYPE");
  if (forced && *forced) {
    // Checked before any call that selects the sub-configuration: 0.9.0 aborts the whole process
    // there when BLIS_ARCH_TYPE is set (every value tried on Debian's build: 0, 3, 6).
    snprintf(error, capacity, "BLIS_ARCH_TYPE=%s is set, and BLIS %s aborts the process on it: unset BLIS_ARCH_TYPE", forced, version);
    dlclose(handle);
    return -1;
  }
  if (strncmp(version, "0.9", 3) != 0) {
    snprintf(error, capacity, "%s is BLIS %s; this build declares BLIS 0.9's run-time threading type (libblis-dev 0.9)", path, version);
    dlclose(handle);
    return -1;
  }
  if (p_int_size() != 64) {
    snprintf(error, capacity, "%s uses %d-bit dimensions; this build calls BLIS with 64-bit ones", path, (int)p_int_size());
    dlclose(handle);
    return -1;
  }
  blis = handle;
  return 0;
}

const char *st_blis_version(void) { return blis ? p_version() : ""; }

const char *st_blis_arch(void) { return blis ? p_arch_string(p_arch_id()) : ""; }

const char *st_blis_threading(void) {
  if (!blis) return "";
  if (p_openmp()) return "openmp";
  if (p_pthreads()) return "pthreads";
  return "single";
}

// bli_rntm_set_num_threads: `threads` in all, split among the loops by BLIS.
static st_blis_rntm runtime(int threads) {
  st_blis_rntm rntm = {.auto_factor = true, .num_threads = threads, .l3_sup = true};
  for (int i = 0; i < 6; i++) rntm.thrloop[i] = -1;
  return rntm;
}

// Row-major op(A) as BLIS strides: element (i, p) of op(A) at a[i·rs + p·cs].
void st_blis_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int threads) {
  st_blis_rntm rntm = runtime(threads);
  p_sgemm(ST_BLIS_NO_TRANSPOSE, ST_BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float *)a, transA ? 1 : lda, transA ? lda : 1,
          (float *)b, transB ? 1 : ldb, transB ? ldb : 1, &beta, c, ldc, 1, NULL, &rntm);
}

void st_blis_dgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                   const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int threads) {
  st_blis_rntm rntm = runtime(threads);
  p_dgemm(ST_BLIS_NO_TRANSPOSE, ST_BLIS_NO_TRANSPOSE, m, n, k, &alpha, (double *)a, transA ? 1 : lda, transA ? lda : 1,
          (double *)b, transB ? 1 : ldb, transB ? ldb : 1, &beta, c, ldc, 1, NULL, &rntm);
}
