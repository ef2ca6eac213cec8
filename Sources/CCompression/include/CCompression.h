#ifndef CCOMPRESSION_H
#define CCOMPRESSION_H
// zlib + LZO behind a tiny C API: lzo_init() and the LZO work-memory sizes are macros Swift cannot use,
// and the per-thread reusable zlib/LZO state keeps allocation out of the per-packet path.
#include <stddef.h>
#include <stdint.h>

// tinc levels: 0 copy, 1-9 zlib (RFC 1950, same bytes as compress2), 10 lzo1x_1, 11 lzo1x_999.
// Return the number of bytes written, or -1 (bad level, output too small, corrupt input, OOM).
long ccz_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap);
long ccz_decompress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap);
// Worst-case compressed size for in_len bytes at this level; -1 for a bad level.
long ccz_bound(int level, size_t in_len);

#endif
