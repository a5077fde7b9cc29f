#ifndef SCALETUNE_COPENBLAS_SHIM_H
#define SCALETUNE_COPENBLAS_SHIM_H
/* OpenBLAS's cblas.h also declares its identity calls: openblas_get_config, _corename,
   _num_threads, _set_num_threads, _parallel. */
#include <cblas.h>
#endif
