/* Small helpers shared by the C and C++ benchmark programs: a monotonic clock,
 * peak RSS, the result line, and the optional heap-allocation counter
 * (benches/malloc_count.c, active only when it is LD_PRELOADed). */
#ifndef TAPIR_BENCH_UTIL_H
#define TAPIR_BENCH_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
/* The order in which W5q completes its N sources: a fixed xorshift-driven permutation,
 * the same in every program (tpl_bench.cs has a copy). */
static inline void bench_completion_order(long n, long *order)
{
    for (long i = 0; i < n; i++)
        order[i] = i;
    unsigned long long x = 88172645463325252ull;
    for (long i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long j = (long)(x % (unsigned long long)(i + 1)), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

#endif
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Peak resident set size of this process, in bytes. */
static inline long long bench_maxrss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long long)ru.ru_maxrss * 1024;
}

/* ---- heap-allocation counter hooks ---- */
typedef void (*bench_mc_start_fn)(void);
typedef void (*bench_mc_stop_fn)(unsigned long long counts[2]);

static unsigned long long bench_mc_counts[2]; /* allocations, frees */
static int bench_mc_active;

/* Begins counting if malloc_count.so is preloaded; otherwise does nothing. */
static inline void bench_mc_start(void)
{
    bench_mc_start_fn start = (bench_mc_start_fn)dlsym(RTLD_DEFAULT, "malloc_count_start");
    if (start) {
        bench_mc_active = 1;
        start();
    }
}

static inline void bench_mc_stop(void)
{
    bench_mc_stop_fn stop = (bench_mc_stop_fn)dlsym(RTLD_DEFAULT, "malloc_count_stop");
    if (stop && bench_mc_active)
        stop(bench_mc_counts);
}

/* Prints the one machine-readable result line:
 *   lib=L workload=W n=N ns_per_op=X total_ms=Y ok=0|1 [extra] [allocs_per_op=A frees_per_op=F]
 * `extra` is a printf format for more key=value fields (may be NULL). */
static inline void bench_report(const char *lib, const char *workload, long n, double total_ns,
                                int ok, const char *extra, ...)
{
    printf("lib=%s workload=%s n=%ld ns_per_op=%.2f total_ms=%.3f ok=%d", lib, workload, n,
           n > 0 ? total_ns / (double)n : 0.0, total_ns / 1e6, ok);
    if (extra) {
        va_list ap;
        va_start(ap, extra);
        putchar(' ');
        vprintf(extra, ap);
        va_end(ap);
    }
    if (bench_mc_active && n > 0)
        printf(" allocs_per_op=%.3f frees_per_op=%.3f", (double)bench_mc_counts[0] / (double)n,
               (double)bench_mc_counts[1] / (double)n);
    putchar('\n');
    fflush(stdout);
}

/* A workload this library cannot express, or one the library does not have yet. */
static inline void bench_skip(const char *lib, const char *workload, long n, const char *status)
{
    printf("lib=%s workload=%s n=%ld status=%s\n", lib, workload, n, status);
    fflush(stdout);
}

/* The order in which W5q completes its N sources: a fixed xorshift-driven permutation,
 * the same in every program (tpl_bench.cs has a copy). */
static inline void bench_completion_order(long n, long *order)
{
    for (long i = 0; i < n; i++)
        order[i] = i;
    unsigned long long x = 88172645463325252ull;
    for (long i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long j = (long)(x % (unsigned long long)(i + 1)), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

#endif
