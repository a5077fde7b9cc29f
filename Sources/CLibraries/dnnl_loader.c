// oneDNN, opened at run time: see CLibraries.h.
#include "CLibraries.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*p_omp_set_num_threads)(int);

void st_omp_spin_briefly(void) {
  // libgomp reads these once, when it loads (with the first library that needs it). Its default
  // spin (300000 iterations, about a millisecond) keeps a rank's finished OpenMP threads burning
  // the cores its own kernel threads need next; 10000 is the tens of microseconds the kernel
  // context's workers spin. A user's own setting wins.
  if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) setenv("GOMP_SPINCOUNT", "10000", 0);
}

void st_omp_set_threads(int threads) {
  if (!p_omp_set_num_threads) {
    // libgomp as the libraries loaded it (RTLD_NOLOAD: never load one of our own).
    void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (gomp) p_omp_set_num_threads = (void (*)(int))dlsym(gomp, "omp_set_num_threads");
  }
  if (p_omp_set_num_threads) p_omp_set_num_threads(threads);
}

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#define ST_HAVE_DNNL_HEADER 1
#endif

#if defined(ST_HAVE_DNNL_HEADER) && DNNL_VERSION_MAJOR == 2

static void *dnnl;
static dnnl_engine_t engine;
static __typeof__(&dnnl_version) p_version;
static __typeof__(&dnnl_get_effective_cpu_isa) p_isa;
static __typeof__(&dnnl_sgemm) p_sgemm;
static __typeof__(&dnnl_engine_create) p_engine_create;
static __typeof__(&dnnl_stream_create) p_stream_create;
static __typeof__(&dnnl_stream_wait) p_stream_wait;
static __typeof__(&dnnl_stream_destroy) p_stream_destroy;
static __typeof__(&dnnl_memory_desc_init_by_strides) p_md_strides;
static __typeof__(&dnnl_matmul_desc_init) p_matmul_desc;
static __typeof__(&dnnl_primitive_attr_create) p_attr_create;
static __typeof__(&dnnl_primitive_attr_destroy) p_attr_destroy;
static __typeof__(&dnnl_primitive_attr_set_output_scales) p_attr_scales;
static __typeof__(&dnnl_primitive_attr_set_post_ops) p_attr_post_ops;
static __typeof__(&dnnl_post_ops_create) p_post_ops_create;
static __typeof__(&dnnl_post_ops_destroy) p_post_ops_destroy;
static __typeof__(&dnnl_post_ops_append_sum) p_post_ops_sum;
static __typeof__(&dnnl_primitive_desc_create) p_pd_create;
static __typeof__(&dnnl_primitive_desc_destroy) p_pd_destroy;
static __typeof__(&dnnl_primitive_desc_query) p_pd_query;
static __typeof__(&dnnl_primitive_create) p_primitive_create;
static __typeof__(&dnnl_primitive_destroy) p_primitive_destroy;
static __typeof__(&dnnl_primitive_execute) p_execute;
static __typeof__(&dnnl_memory_create) p_memory_create;
static __typeof__(&dnnl_memory_destroy) p_memory_destroy;
static __typeof__(&dnnl_memory_set_data_handle) p_memory_set;

static const char *status_name(dnnl_status_t status) {
  switch (status) {
  case dnnl_success: return "success";
  case dnnl_out_of_memory: return "out of memory";
  case dnnl_invalid_arguments: return "invalid arguments";
  case dnnl_unimplemented: return "unimplemented: no implementation of it for this CPU and data type";
  case dnnl_iterator_ends: return "iterator ends";
  case dnnl_runtime_error: return "runtime error";
  case dnnl_not_required: return "not required";
  default: return "unknown status";
  }
}

int st_dnnl_load(char *error, int capacity) {
  if (dnnl) return 0;
  const char *path = getenv("SCALETUNE_ONEDNN_LIBRARY");
  if (!path || !*path) path = "libdnnl.so.2";
  st_omp_spin_briefly();
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    snprintf(error, capacity, "cannot open %s (%s): install libdnnl2 (apt-get install libdnnl-dev)", path, dlerror());
    return -1;
  }
#define ST_SYMBOL(var, name)                                                                        \
  var = (__typeof__(var))dlsym(handle, #name);                                                     \
  if (!var) {                                                                                       \
    snprintf(error, capacity, "%s has no %s: this build speaks oneDNN 2.x's C API", path, #name); \
    dlclose(handle);                                                                                \
    return -1;                                                                                      \
  }
  ST_SYMBOL(p_version, dnnl_version)
  ST_SYMBOL(p_isa, dnnl_get_effective_cpu_isa)
  ST_SYMBOL(p_sgemm, dnnl_sgemm)
  ST_SYMBOL(p_engine_create, dnnl_engine_create)
  ST_SYMBOL(p_stream_create, dnnl_stream_create)
  ST_SYMBOL(p_stream_wait, dnnl_stream_wait)
  ST_SYMBOL(p_stream_destroy, dnnl_stream_destroy)
  ST_SYMBOL(p_md_strides, dnnl_memory_desc_init_by_strides)
  ST_SYMBOL(p_matmul_desc, dnnl_matmul_desc_init)
  ST_SYMBOL(p_attr_create, dnnl_primitive_attr_create)
  ST_SYMBOL(p_attr_destroy, dnnl_primitive_attr_destroy)
  ST_SYMBOL(p_attr_scales, dnnl_primitive_attr_set_output_scales)
  ST_SYMBOL(p_attr_post_ops, dnnl_primitive_attr_set_post_ops)
  ST_SYMBOL(p_post_ops_create, dnnl_post_ops_create)
  ST_SYMBOL(p_post_ops_destroy, dnnl_post_ops_destroy)
  ST_SYMBOL(p_post_ops_sum, dnnl_post_ops_append_sum)
  ST_SYMBOL(p_pd_create, dnnl_primitive_desc_create)
  ST_SYMBOL(p_pd_destroy, dnnl_primitive_desc_destroy)
  ST_SYMBOL(p_pd_query, dnnl_primitive_desc_query)
  ST_SYMBOL(p_primitive_create, dnnl_primitive_create)
  ST_SYMBOL(p_primitive_destroy, dnnl_primitive_destroy)
  ST_SYMBOL(p_execute, dnnl_primitive_execute)
  ST_SYMBOL(p_memory_create, dnnl_memory_create)
  ST_SYMBOL(p_memory_destroy, dnnl_memory_destroy)
  ST_SYMBOL(p_memory_set, dnnl_memory_set_data_handle)
#undef ST_SYMBOL
  const dnnl_version_t *version = p_version();
  if (version->major != 2) {
    snprintf(error, capacity, "%s is oneDNN %d.%d; this build speaks oneDNN 2.x's C API", path, version->major, version->minor);
    dlclose(handle);
    return -1;
  }
  dnnl_status_t status = p_engine_create(&engine, dnnl_cpu, 0);
  if (status != dnnl_success) {
    snprintf(error, capacity, "oneDNN's CPU engine: %s", status_name(status));
    dlclose(handle);
    return -1;
  }
  dnnl = handle;
  return 0;
}

void st_dnnl_version(int *major, int *minor, int *patch, char *hash, int capacity) {
  if (!dnnl) return;
  const dnnl_version_t *version = p_version();
  *major = version->major;
  *minor = version->minor;
  *patch = version->patch;
  snprintf(hash, capacity, "%s", version->hash ? version->hash : "");
}

int st_dnnl_effective_isa(void) { return dnnl ? (int)p_isa() : -1; }

const char *st_dnnl_cpu_runtime(void) {
  if (!dnnl) return "";
  switch (p_version()->cpu_runtime) {
  case DNNL_RUNTIME_OMP: return "omp";
  case DNNL_RUNTIME_TBB: return "tbb";
  case DNNL_RUNTIME_SEQ: return "seq";
  case DNNL_RUNTIME_THREADPOOL: return "threadpool";
  default: return "unknown";
  }
}

int st_dnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int threads) {
  st_omp_set_threads(threads);
  return (int)p_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// A stream serves one call at a time: calls on one matmul must not overlap (the Swift wrapper,
// OneDNNMatmul, serialises them).
struct st_dnnl_matmul {
  dnnl_primitive_t primitive;
  dnnl_memory_t a, b, c;
  dnnl_stream_t stream;
  char implementation[128];
};

#define ST_CHECK(call, what)                                                      \
  do {                                                                            \
    dnnl_status_t status_ = (call);                                               \
    if (status_ != dnnl_success) {                                                \
      snprintf(error, capacity, "oneDNN %s: %s", what, status_name(status_));     \
      goto fail;                                                                  \
    }                                                                             \
  } while (0)

st_dnnl_matmul *st_dnnl_matmul_create(int dataType, int64_t m, int64_t n, int64_t k, int transA, int transB, int64_t ldc,
                                      float alpha, float beta, char *error, int capacity) {
  if (!dnnl) {
    snprintf(error, capacity, "oneDNN is not loaded");
    return NULL;
  }
  st_dnnl_matmul *matmul = calloc(1, sizeof *matmul);
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t post_ops = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_data_type_t type = dataType == 0 ? dnnl_bf16 : dnnl_f16;
  dnnl_memory_desc_t a_md, b_md, c_md;
  dnnl_dims_t a_dims = {m, k}, b_dims = {k, n}, c_dims = {m, n};
  dnnl_dims_t a_strides = {transA ? 1 : k, transA ? m : 1};
  dnnl_dims_t b_strides = {transB ? 1 : n, transB ? k : 1};
  dnnl_dims_t c_strides = {ldc, 1};
  ST_CHECK(p_md_strides(&a_md, 2, a_dims, type, a_strides), "source memory");
  ST_CHECK(p_md_strides(&b_md, 2, b_dims, type, b_strides), "weights memory");
  ST_CHECK(p_md_strides(&c_md, 2, c_dims, dnnl_f32, c_strides), "destination memory");
  dnnl_matmul_desc_t desc;
  ST_CHECK(p_matmul_desc(&desc, &a_md, &b_md, NULL, &c_md), "matmul descriptor");
  ST_CHECK(p_attr_create(&attr), "attributes");
  if (alpha != 1) ST_CHECK(p_attr_scales(attr, 1, 0, &alpha), "output scale");
  if (beta != 0) {
    ST_CHECK(p_post_ops_create(&post_ops), "post-ops");
    ST_CHECK(p_post_ops_sum(post_ops, beta), "sum post-op");
    ST_CHECK(p_attr_post_ops(attr, post_ops), "post-ops");
  }
  ST_CHECK(p_pd_create(&pd, &desc, attr, engine, NULL), type == dnnl_bf16 ? "bf16 matmul" : "f16 matmul");
  const char *impl = NULL;
  if (p_pd_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
    snprintf(matmul->implementation, sizeof matmul->implementation, "%s", impl);
  ST_CHECK(p_primitive_create(&matmul->primitive, pd), "matmul primitive");
  ST_CHECK(p_memory_create(&matmul->a, &a_md, engine, DNNL_MEMORY_NONE), "memory");
  ST_CHECK(p_memory_create(&matmul->b, &b_md, engine, DNNL_MEMORY_NONE), "memory");
  ST_CHECK(p_memory_create(&matmul->c, &c_md, engine, DNNL_MEMORY_NONE), "memory");
  ST_CHECK(p_stream_create(&matmul->stream, engine, dnnl_stream_default_flags), "stream");
  p_pd_destroy(pd);
  p_attr_destroy(attr);
  if (post_ops) p_post_ops_destroy(post_ops);
  return matmul;
fail:
  if (pd) p_pd_destroy(pd);
  if (attr) p_attr_destroy(attr);
  if (post_ops) p_post_ops_destroy(post_ops);
  st_dnnl_matmul_destroy(matmul);
  return NULL;
}

const char *st_dnnl_matmul_implementation(const st_dnnl_matmul *matmul) { return matmul->implementation; }

int st_dnnl_matmul_run(const st_dnnl_matmul *matmul, const void *a, const void *b, float *c, int threads) {
  st_dnnl_matmul *m = (st_dnnl_matmul *)matmul;
  st_omp_set_threads(threads);
  p_memory_set(m->a, (void *)a);
  p_memory_set(m->b, (void *)b);
  p_memory_set(m->c, c);
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m->a}, {DNNL_ARG_WEIGHTS, m->b}, {DNNL_ARG_DST, m->c}};
  dnnl_status_t status = p_execute(m->primitive, m->stream, 3, args);
  if (status == dnnl_success) status = p_stream_wait(m->stream);
  return (int)status;
}

void st_dnnl_matmul_destroy(st_dnnl_matmul *matmul) {
  if (!matmul) return;
  if (matmul->primitive) p_primitive_destroy(matmul->primitive);
  if (matmul->a) p_memory_destroy(matmul->a);
  if (matmul->b) p_memory_destroy(matmul->b);
  if (matmul->c) p_memory_destroy(matmul->c);
  if (matmul->stream) p_stream_destroy(matmul->stream);
  free(matmul);
}

#else  // built without oneDNN 2.x's header

int st_dnnl_load(char *error, int capacity) {
#if defined(ST_HAVE_DNNL_HEADER)
  snprintf(error, capacity, "ScaleTune was built against oneDNN %d's header; it speaks oneDNN 2.x's C API (libdnnl-dev 2.x)", DNNL_VERSION_MAJOR);
#else
  snprintf(error, capacity, "ScaleTune was built without <oneapi/dnnl/dnnl.h>: install libdnnl-dev (scripts/install-deps.sh) and rebuild");
#endif
  return -1;
}
void st_dnnl_version(int *major, int *minor, int *patch, char *hash, int capacity) {}
int st_dnnl_effective_isa(void) { return -1; }
const char *st_dnnl_cpu_runtime(void) { return ""; }
int st_dnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int threads) { return -1; }
st_dnnl_matmul *st_dnnl_matmul_create(int dataType, int64_t m, int64_t n, int64_t k, int transA, int transB, int64_t ldc,
                                      float alpha, float beta, char *error, int capacity) {
  st_dnnl_load(error, capacity);
  return NULL;
}
const char *st_dnnl_matmul_implementation(const st_dnnl_matmul *matmul) { return ""; }
int st_dnnl_matmul_run(const st_dnnl_matmul *matmul, const void *a, const void *b, float *c, int threads) { return -1; }
void st_dnnl_matmul_destroy(st_dnnl_matmul *matmul) {}

#endif
