#ifndef CALLOCCOUNTER_H
#define CALLOCCOUNTER_H
// Test support only (linked into the test binary, never into tincd-swift): counts heap
// allocations made by the calling thread between cac_begin() and cac_end().
#include <stdint.h>
void cac_begin(void);
// Allocations (malloc, calloc, realloc, memalign, posix_memalign, aligned_alloc) since cac_begin.
int64_t cac_end(void);
// The same for every thread of the process (helper threads the code under test wakes).
void cac_begin_all(void);
int64_t cac_end_all(void);
// 1 when the counting wrappers are the malloc the process uses (a self-test allocation was seen).
int cac_active(void);
#endif
