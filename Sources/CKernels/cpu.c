#include "CKernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

int ck_is_x86_64(void) { return 1; }

void ck_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  uint32_t a, b, c, d;
  __cpuid_count(leaf, subleaf, a, b, c, d);
  out[0] = a; out[1] = b; out[2] = c; out[3] = d;
}

uint64_t ck_xgetbv(uint32_t xcr) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(xcr));
  return ((uint64_t)hi << 32) | lo;
}

#define CK_ARCH_GET_XCOMP_PERM 0x1022
#define CK_ARCH_REQ_XCOMP_PERM 0x1023
#define CK_XFEATURE_XTILEDATA 18

int ck_request_amx_permission(void) {
  if (syscall(SYS_arch_prctl, CK_ARCH_REQ_XCOMP_PERM, CK_XFEATURE_XTILEDATA) != 0) return errno;
  unsigned long bitmask = 0;
  if (syscall(SYS_arch_prctl, CK_ARCH_GET_XCOMP_PERM, &bitmask) != 0) return errno;
  return (bitmask & (1UL << CK_XFEATURE_XTILEDATA)) ? 0 : EPERM;
}
#else
#include <errno.h>
int ck_is_x86_64(void) { return 0; }
void ck_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  (void)leaf; (void)subleaf;
  out[0] = out[1] = out[2] = out[3] = 0;
}
uint64_t ck_xgetbv(uint32_t xcr) { (void)xcr; return 0; }
int ck_request_amx_permission(void) { return ENOSYS; }
#endif
