// Replaces the allocation entry points of the test binary with thin wrappers around glibc's own
// allocator (__libc_*), so allocations of one thread can be counted around a piece of code.
// glibc documents replacing malloc this way; every block still comes from and returns to glibc.
#define _GNU_SOURCE
#include "CAllocCounter.h"
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int counting;
static __thread int64_t count;
// Every thread's allocations, for code that hands work to threads the test does not run itself.
static _Atomic int countingAll;
static _Atomic int64_t countAll;

#define COUNT() do { \
        if (counting) count++; \
        if (atomic_load_explicit(&countingAll, memory_order_relaxed)) atomic_fetch_add_explicit(&countAll, 1, memory_order_relaxed); \
    } while (0)

void *malloc(size_t n) { COUNT(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { COUNT(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { COUNT(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) { COUNT(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { COUNT(); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    COUNT();
    if (al < sizeof(void *) || (al & (al - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void cac_begin(void) { count = 0; counting = 1; }
int64_t cac_end(void) { counting = 0; return count; }

void cac_begin_all(void) { atomic_store(&countAll, 0); atomic_store(&countingAll, 1); }
int64_t cac_end_all(void) { atomic_store(&countingAll, 0); return atomic_load(&countAll); }

int cac_active(void) {
    cac_begin();
    void *volatile p = malloc(24);
    free(p);
    return cac_end() == 1;
}
