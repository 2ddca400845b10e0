#ifndef THERMOSHARD_CCRC32C_H
#define THERMOSHARD_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction that thermoshard_crc32c_update uses
/// (x86-64 with SSE 4.2), else 0: then callers use their table-driven CRC instead.
int thermoshard_crc32c_available(void);

/// The CRC-32C (Castagnoli) register after `count` bytes at `bytes`, starting from `crc`,
/// without the initial and final inversion (the standard CRC of a buffer is
/// ~thermoshard_crc32c_update(~0, ...)). Only when thermoshard_crc32c_available() is 1.
uint32_t thermoshard_crc32c_update(uint32_t crc, const void *bytes, size_t count);

#endif
