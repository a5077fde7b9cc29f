#ifndef SCALETUNE_CHWLOC_SHIM_H
#define SCALETUNE_CHWLOC_SHIM_H
#include <hwloc.h>
#endif
