/* The AMX tile configuration (LDTILECFG's 64-byte operand), shared by the peak loop and the bf16
   GEMM kernel: palette 1, tiles 0-7 of 16 rows x 64 bytes. Private to CKernels. */
#ifndef SCALETUNE_TILE_CONFIG_H
#define SCALETUNE_TILE_CONFIG_H
#include <stdint.h>
#include <string.h>

typedef struct {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} ck_tile_config;

static inline void ck_tile_config_eight_16x64(ck_tile_config *config) {
  memset(config, 0, sizeof *config);
  config->palette_id = 1;
  for (int t = 0; t < 8; t++) {
    config->rows[t] = 16;
    config->colsb[t] = 64;
  }
}
#endif
