#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tapir.h"

#if defined(__GNUC__)
#define FZ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define FZ_NORETURN __attribute__((noreturn))
#else
#define FZ_PRINTF(a, b)
#define FZ_NORETURN
#endif

/* ================================================================ configuration */

static uint64_t g_seed;
static int g_threads = 2;
static double g_seconds = 0;
static long long g_max_ops = 0;
static uint64_t g_exclude;     /* bit per family */
static int g_misuse = 12;      /* percent of handle arguments that are misuse */
static int g_verbose;
static atomic_int g_stop, g_teardown, g_failing;
static atomic_ullong g_progress;   /* bumped by every op and callback: the watchdog's pulse */
static atomic_ullong g_cb_calls;   /* callbacks of every kind that ran */
static double g_t0;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
  nanosleep(&ts, NULL);
}

/* ================================================================ per-thread context */

#define RING 64
#define LINE 136
#define MAXTHR 256

typedef struct thr {
  char name[20];
  uint64_t rng;
  atomic_uint ring_n;
  char ring[RING][LINE];
  atomic_ullong calls;  /* tapir calls made on this thread */
  atomic_ullong ops;
  int depth;            /* nesting of fuzzer callbacks on this thread */
  unsigned nargs;       /* the handle arguments picked most recently, for failure reports */
  char args[8][96];
  int fuzzer;           /* 1 for a fuzzer thread, 0 for a tapir or helper thread */
} thr;

static thr *g_thr[MAXTHR];
static atomic_int g_nthr;
static atomic_ullong g_foreign_seq;
static _Thread_local thr *tl;

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static thr *thr_register(const char *name, uint64_t seed, int fuzzer) {
  thr *t = calloc(1, sizeof *t);
  if (!t) abort();
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rng = mix64(seed);
  t->fuzzer = fuzzer;
  int i = atomic_fetch_add(&g_nthr, 1);
  if (i < MAXTHR) g_thr[i] = t;
  tl = t;
  return t;
}

/* Threads tapir started (pool workers, the timer) get a context the first time
 * they run a fuzzer callback. */
static thr *me(void) {
  if (!tl) {
    char name[20];
    unsigned long long k = atomic_fetch_add(&g_foreign_seq, 1);
    snprintf(name, sizeof name, "tapir-%llu", k);
    thr_register(name, g_seed ^ (0xC0FFEEull + k * 7919), 0);
  }
  return tl;
}

static uint64_t rnd(void) {
  thr *t = me();
  t->rng += 0x9E3779B97F4A7C15ull;
  return mix64(t->rng);
}
static unsigned rn(unsigned n) { return n ? (unsigned)(rnd() % n) : 0; }
static bool pct(unsigned p) { return rn(100) < p; }

static void logf_(const char *fmt, ...) FZ_PRINTF(1, 2);
static void logf_(const char *fmt, ...) {
  if (atomic_load_explicit(&g_failing, memory_order_relaxed)) return;
  thr *t = me();
  unsigned n = atomic_load_explicit(&t->ring_n, memory_order_relaxed);
  char *line = t->ring[n % RING];
  int k = snprintf(line, LINE, "%llu ", (unsigned long long)atomic_load_explicit(&t->ops, memory_order_relaxed));
  if (k < 0) k = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + k, (size_t)(LINE - k), fmt, ap);
  va_end(ap);
  atomic_store_explicit(&t->ring_n, n + 1, memory_order_release);
  if (g_verbose > 1) fprintf(stderr, "[%s] %s\n", t->name, line);
}
#define LOG(...) logf_(__VA_ARGS__)

/* Counts one call into the library. */
#define CALL(e) (atomic_fetch_add_explicit(&me()->calls, 1, memory_order_relaxed), (e))

/* ================================================================ failure report */

static const char *stname(int32_t s) {
  static const char *n[] = {"OK", "NULL_ARGUMENT", "INVALID_ARGUMENT", "INVALID_STATE",
                            "ALREADY_COMPLETED", "CANCELED", "FAULTED", "TIMEOUT", "PANIC",
                            "INVALID_HANDLE", "NOT_COMPLETED", "BROKEN_PROMISE", "FULL",
                            "DISPOSED", "QUEUE_COMPLETED", "SCHEDULER_ERROR"};
  if (s >= 0 && s < (int32_t)(sizeof n / sizeof n[0])) return n[s];
  return "(unknown status)";
}

static void dump_logs(void) {
  int n = atomic_load(&g_nthr);
  if (n > MAXTHR) n = MAXTHR;
  for (int i = 0; i < n; i++) {
    thr *t = g_thr[i];
    if (!t) continue;
    unsigned end = atomic_load_explicit(&t->ring_n, memory_order_acquire);
    if (end == 0) continue;
    unsigned start = end > 50 ? end - 50 : 0;
    fprintf(stderr, "--- thread %s: last %u of %u log lines (op number, then the op)\n", t->name,
            end - start, end);
    for (unsigned k = start; k < end; k++) fprintf(stderr, "  %s\n", t->ring[k % RING]);
  }
}

static const char *g_argv_line = "";

static void failf(const char *fmt, ...) FZ_PRINTF(1, 2) FZ_NORETURN;
static void failf(const char *fmt, ...) {
  if (atomic_exchange(&g_failing, 1)) {
    for (;;) pause(); /* another thread is reporting; it aborts the process */
  }
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (tl && tl->nargs) {
    size_t l = strlen(msg);
    snprintf(msg + l, sizeof msg - l, "\n  arguments picked last on this thread (oldest first):");
    for (unsigned k = tl->nargs > 8 ? tl->nargs - 8 : 0; k < tl->nargs; k++) {
      l = strlen(msg);
      snprintf(msg + l, sizeof msg - l, "\n    %s", tl->args[k % 8]);
    }
  }
  fprintf(stderr, "\n===== FUZZ FAILURE =====\nseed %" PRIu64 ", %d thread(s), on thread %s, %.1f s in\n%s\n",
          g_seed, g_threads, tl ? tl->name : "?", (now_ms() - g_t0) / 1000.0, msg);
  dump_logs();
  fprintf(stderr, "===== FUZZ FAILURE: %s\nreproduce: %s\n", msg, g_argv_line);
  fflush(stderr);
  abort();
}

/* ================================================================ status expectations */

#define S(x) (1u << TAPIR_STATUS_##x)
#define S_ANY 0xFFFFFFFFu

/* Faults present in a call's arguments. */
enum {
  F_NULL = 1,  /* a required pointer is NULL */
  F_BAD = 2,   /* a handle that is certainly invalid here: wrong kind, forged, or released */
  F_INV = 4,   /* an out-of-range non-handle argument (flags, timeout, count, NULL list element) */
  F_LOOSE = 8, /* a handle whose validity the fuzzer cannot know (raced, or may be revived) */
};

/* What a call may return given its faults: with any certain fault, only the codes of
 * those faults (in any precedence: the header does not order them); with only a
 * loose handle, the normal codes or INVALID_HANDLE; otherwise the normal codes. */
static uint32_t expect(unsigned flt, uint32_t normal) {
  uint32_t e = 0;
  if (flt & F_NULL) e |= S(NULL_ARGUMENT);
  if (flt & F_BAD) e |= S(INVALID_HANDLE);
  if (flt & F_INV) e |= S(INVALID_ARGUMENT);
  if (e) return (flt & F_LOOSE) ? e | S(INVALID_HANDLE) : e;
  if (flt & F_LOOSE) return normal | S(INVALID_HANDLE);
  return normal;
}

static void maskstr(uint32_t m, char *buf, size_t n) {
  buf[0] = 0;
  for (int i = 0; i < 16; i++)
    if (m & (1u << i)) {
      size_t l = strlen(buf);
      snprintf(buf + l, n - l, "%s%s", l ? "|" : "", stname(i));
    }
}

static int32_t check_st(const char *fn, int32_t st, uint32_t documented, uint32_t allowed) {
  char a[256];
  if (st < 0 || st > 31 || !(documented & (1u << st))) {
    maskstr(documented, a, sizeof a);
    failf("%s returned %d (%s), a status its header documentation does not list (%s)", fn, st, stname(st), a);
  }
  if (!(allowed & (1u << st))) {
    maskstr(allowed, a, sizeof a);
    failf("%s returned %s; with these arguments the header allows only %s", fn, stname(st), a);
  }
  return st;
}

/* The status documented for every function that returns tapir_status. OK is always
 * listed; PANIC only for tapir_debug_panic (any other PANIC means a panic crossed
 * into a call that does not document one). */
#define D_BASE (S(OK) | S(NULL_ARGUMENT) | S(INVALID_HANDLE))
#define D_REL (S(OK) | S(INVALID_HANDLE))

/* ================================================================ op families */

static bool fam_on(int f);
enum {
  FAM_SOURCE, FAM_TASK, FAM_WAIT, FAM_CONT, FAM_UNWRAP, FAM_COMB, FAM_WAITASYNC, FAM_RETRY, FAM_NOO,
  FAM_THROTTLE, FAM_CANCEL, FAM_CREG, FAM_DELAY, FAM_SCHED, FAM_FOREIGN, FAM_RUN, FAM_ERROR,
  FAM_PROGRESS, FAM_MISC, FAM_HOOK, FAM_SHUTDOWN, FAM_RACE, FAM_RACEREL, FAM_MISUSE, FAM_CBOPS, FAM_PANIC,
  FAM_LENT, FAM_FROMTASK, FAM_WAITANY, FAM_STALECTS, FAM_STALETOKEN, FAM_KINDCT, FAM_MANUAL, FAM_FOREVER, FAM_N
};

