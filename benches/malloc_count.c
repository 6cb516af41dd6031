/* LD_PRELOAD heap-allocation counter.
 * Counts malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign/valloc calls as
 * allocations and free calls (of non-NULL pointers) as frees, in every thread, between
 * malloc_count_start() and malloc_count_stop(); the benchmark programs find these two
 * functions with dlsym, so they run unchanged without the preload.
 * realloc counts as one allocation (and one free when it is given a pointer).
 * With MALLOC_COUNT_VERBOSE set it also prints the whole-process totals to stderr at exit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* glibc's own entry points, so no dlsym bootstrap is needed. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

static _Atomic int counting;
static _Atomic unsigned long long allocs, frees, total_allocs, total_frees;

static void count_alloc(void)
{
    atomic_fetch_add_explicit(&total_allocs, 1, memory_order_relaxed);
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
}

static void count_free(void)
{
    atomic_fetch_add_explicit(&total_frees, 1, memory_order_relaxed);
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
}

void malloc_count_start(void)
{
    atomic_store(&allocs, 0);
    atomic_store(&frees, 0);
    atomic_store(&counting, 1);
}

void malloc_count_stop(unsigned long long counts[2])
{
    atomic_store(&counting, 0);
    counts[0] = atomic_load(&allocs);
    counts[1] = atomic_load(&frees);
}

void *malloc(size_t size)
{
    count_alloc();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count_alloc();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    count_alloc();
    if (p)
        count_free();
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p)
        count_free();
    __libc_free(p);
}

void *memalign(size_t align, size_t size)
{
    count_alloc();
    return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    count_alloc();
    return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return 22; /* EINVAL */
    count_alloc();
    void *p = __libc_memalign(align, size);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    count_alloc();
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

__attribute__((destructor)) static void report_totals(void)
{
    char line[128];
    int len = snprintf(line, sizeof line, "malloc_count: process total allocs=%llu frees=%llu\n",
                       (unsigned long long)total_allocs, (unsigned long long)total_frees);
    if (len > 0 && getenv("MALLOC_COUNT_VERBOSE"))
        (void)!write(2, line, (size_t)len);
}
