/* fuzz — tapir's randomized API-sequence fuzzer.
 *
 *   fuzz [-S seed] [-t 1..4] [-s seconds | -n ops] [-x fam,fam | -o fam,fam] [-m misuse%] [-v] [-l]
 *
 * 1 to 4 threads draw random operations (seeded: -S; the seed is printed first) on a
 * shared model of what the fuzzer owns, for -s seconds or -n operations in total. Every
 * function include/tapir.h declares is called (tests/fuzz/coverage.sh checks it).
 * Arguments come from live handles of the right kind and, with the `misuse` family,
 * from the wrong kind, released handles (a graveyard), NULL, and forged values. -x
 * excludes op families, -o keeps only the listed ones, -l lists them. FUZZ_OPS=a,b
 * keeps only the named ops; FUZZ_SETTLE_MS shortens the final settling wait (both are
 * for bisecting); FUZZ_NAMES=percent names that share of new tasks after the op and
 * thread that made them, and FUZZ_TRACE=DIR writes every thread's whole log to
 * DIR/<thread>.trace (both for finding a leaked task: the final report lists every live
 * task with its name and holders). On any failed check the fuzzer prints the seed, the thread, the
 * arguments that thread picked last, the last 50 operations of every thread (each
 * thread keeps a ring log), and aborts.
 *
 * THE MODEL. One mutex guards the model (never held across a tapir call: calls race
 * each other for real). For each handle value: the references the fuzzer holds, those
 * held by ledger records, and calls in flight on it (pins). Releasing the last
 * reference moves it to a per-kind graveyard; it is "certainly invalid" there when no
 * API can hand that value out again (tapir lends nothing of it to callbacks, it is not
 * permanent), else "loose" (calls may succeed or fail, and must be harmless). A call
 * whose handle raced a release (another thread dropped the last reference while the
 * call ran) is judged loose too. The ledger gives every user_data, value and payload a
 * record; the pointer tapir receives encodes the record's index and generation (kind
 * nibble 0xF, which no handle has), so late, double or foreign destroys are recognised.
 *
 * THE ORACLE — each check and the header rule it enforces:
 *  - Status: every call returns a status listed in its header doc; a PANIC from any
 *    function but tapir_debug_panic is a failure ("No Rust panic crosses the boundary").
 *    With a certainly-invalid handle, NULL required argument or out-of-range value the
 *    call must fail with that fault's code (INVALID_HANDLE, NULL_ARGUMENT,
 *    INVALID_ARGUMENT; any of them when several are present); with only live, valid
 *    arguments it must not fail with them ("Misuse is an error ... Each yields a
 *    documented error code"). Bool/int/pointer getters: after a reported failure with
 *    certainly-bad arguments, tapir_last_status says why.
 *  - A failed call had no effect: its out-parameters are unwritten ("write outputs
 *    through out-pointers, only on success"; tapir_interleaved: "Nothing is written on
 *    error"); its callback never ran and its destroy never ran (the caller still owns
 *    user_data: "A failed registration calls neither"; set_result: "On any error the
 *    value stays with the caller"); a refused value never appears in any task.
 *  - Callbacks: each callback of a successful registration runs at most once, never
 *    after its destroy, never after a removal that returned OK, never after its token
 *    was canceled before it could start (tapir_run); its destroy runs exactly once by
 *    the end ("fn runs at most once, and the optional destroy exactly once after a
 *    successful registration"). registration_remove / cancel unregister returning OK
 *    means the callback never ran and its destroy already ran. A handle lent to a
 *    callback (the antecedent, `next`, a hook's errors) is valid inside it, also after
 *    the callback released its own last reference (family `lent`). A callback
 *    registered for a manual, foreign or the default scheduler sees that scheduler as
 *    tapir_scheduler_current(); on a fuzzer thread outside callbacks it is NULL. The
 *    on_complete callback receives the task it was registered on; a continuation task's
 *    state is its user_data. tapir_need_only_one ran every factory on the calling thread
 *    and destroyed user_data before returning; tapir_retry_on_fault calls attempt k only
 *    after attempt k-1 completed, in order; tapir_for_each_throttled calls each index
 *    once and never has max_in_flight of its tasks pending when it starts another.
 *    Inside its own cancel callback, unregister returns ALREADY_COMPLETED and
 *    unregister_wait does not wait.
 *  - Values: every value destroy runs exactly once (at the end, every accepted value
 *    and payload record has died; a refused set never destroys). A value read with
 *    tapir_task_result is one the fuzzer set on that task, or on a task it forwards
 *    from through a chain the fuzzer built (unwrap, set_from_task, continuation,
 *    interleaved, wait_async, combinators) — never another object's; a value read from
 *    the task it was set on has not been destroyed. when_all's array holds each
 *    input's value in input order, when_all_settled's the input handles themselves
 *    (each inspectable while the settled task lives), when_any's an index < count.
 *    Errors read back are consistent: a fuzzer error's message matches its code and
 *    its payload is that error's live payload.
 *  - State: a task status seen final never changes; results and errors agree with the
 *    status; delay(0) completes at once; delay/run with an already-canceled token are
 *    canceled at once (the work never runs); a canceled source reads canceled; cancel
 *    runs the registered callbacks on the calling thread, newest first, stopping at the
 *    first error with STOP_AT_FIRST_ERROR, and collects their errors in that order.
 *  - Identity: a handle the fuzzer released for good is never handed out again for a
 *    new reference (stale-handle detection holds after reuse); retain returns its
 *    argument; tapir_source_task, tapir_task_completed, the none token and the
 *    default/inline schedulers return the same handle each time.
 *  - End: after releasing everything the model holds (pumping manual and foreign
 *    schedulers), a bounded settle, tapir_shutdown() and another bounded settle,
 *    tapir_debug_live_objects(0) is back to its start value and no record is open.
 *  - No hang: a watchdog aborts (with the logs) when no op finished and no callback ran
 *    for 10 s. No sanitizer report (make build-asan / check).
 *  - Primitives (family prims): private semaphores, events, locks, reader-writer locks,
 *    countdowns, barriers, channels and caches against sequential models of their
 *    header rules (counts, FIFO grants, wait values, DISPOSED at the last release,
 *    drop modes, completion errors, LRU eviction, exactly-once item and user-data
 *    destroys). Diagnostics (family diag): task names read back whole or cut and
 *    NUL-terminated, continuation counts, tracing hooks seeing a task's completion.
 *  - No cycles of the fuzzer's own making: a waits-on graph refuses a set_from_task or
 *    task value that would make a task wait on itself or on a task that may never
 *    complete (those never complete and, counted by reference, never die).
 *
 * Library findings have a reproducer each in tests/fuzz/repro/ (it prints BUG while
 * the finding stands): a disposed source's token answering can_be_canceled false, a
 * when_all over an input that can never complete leaking what it kept, a deferred
 * library continuation making a released task handle valid again for a while.
 *
 * Outside the contract, so never done: reusing a tapir_work after run/discard, unwinding
 * callbacks, garbage pointers as arrays or out-parameters, blocking inside callbacks
 * (waits there use timeout 0 only; unregister_wait only on the callback's own
 * registration), and reference cycles the fuzzer itself would create (a callback never
 * owns its antecedent when that task may never complete).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <inttypes.h>
#include <poll.h>
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
  FILE *trace;          /* every log line of this thread, with FUZZ_TRACE=DIR */
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
  const char *dir = getenv("FUZZ_TRACE");
  if (dir && *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.trace", dir, name);
    t->trace = fopen(path, "w");
    if (t->trace) setvbuf(t->trace, NULL, _IOFBF, 1 << 20);
  }
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
  if (t->trace) fprintf(t->trace, "%s\n", line);
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

/* Prints the live report's line of the task whose handle starts at `hex` ("0x..."). */
static void report_task_live(const char *text, const char *hex) {
  char key[40];
  snprintf(key, sizeof key, "task %.*s ", (int)strspn(hex, "0123456789abcdefx"), hex);
  const char *line = strstr(text, key);
  const char *end = line ? strchr(line, '\n') : NULL;
  if (line) fprintf(stderr, "  live now: %.*s\n", (int)(end ? end - line : (long)strlen(line)), line);
  else fprintf(stderr, "  not live now: %s\n", key);
}

/* What tapir's live report says now of each task the failure names (in its first line)
 * and of each task among the last arguments (its status, handle counts, whether its
 * continuations are running): for a handle the model calls stale that tapir accepted,
 * this tells a reference someone holds from a lent window. */
static void report_live(const thr *tl, const char *msg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return;
  tapir_debug_report_live(f);
  fclose(f);
  const char *eol = strchr(msg, '\n');
  for (const char *p = msg; (p = strstr(p, "task 0x")) && (!eol || p < eol); p += 5) report_task_live(text, p + 5);
  for (unsigned k = tl && tl->nargs > 8 ? tl->nargs - 8 : 0; tl && k < tl->nargs; k++) {
    const char *a = tl->args[k % 8], *hex = strstr(a, "0x");
    if (strncmp(a, "task ", 5) == 0 && hex) report_task_live(text, hex);
  }
  free(text);
}

static void dump_logs(void) {
  int n = atomic_load(&g_nthr);
  if (n > MAXTHR) n = MAXTHR;
  for (int i = 0; i < n; i++) {
    thr *t = g_thr[i];
    if (!t) continue;
    if (t->trace) fflush(t->trace);
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
  report_live(tl, msg);
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
  FAM_LENT, FAM_FROMTASK, FAM_WAITANY, FAM_STALECTS, FAM_STALETOKEN, FAM_KINDCT, FAM_MANUAL, FAM_FOREVER, FAM_LINKED, FAM_OWNREL, FAM_STALEREG, FAM_PRIMS, FAM_DIAG, FAM_HOST, FAM_N
};


/* ================================================================ the ledger
 *
 * Every user_data, value and payload the fuzzer hands to tapir is a record here.
 * The pointer tapir receives is not memory: it encodes the record's index and
 * generation (with kind nibble 0xF, which no tapir handle uses), so a destroy or a
 * callback that arrives late, twice, or for someone else's record is recognised
 * instead of corrupting memory. A record that died stays in quarantine (state
 * DEAD or REFUSED, same generation) for a while before its index is reused, so a
 * second destroy is reported as such.
 */

enum { RK_CB, RK_VALUE, RK_PAYLOAD, RK_FACTORY, RK_CTX, RK_HANDLER };
enum { RS_FREE, RS_PENDING, RS_ACCEPTED, RS_DEAD, RS_REFUSED };
static const char *rsname[] = {"free", "pending", "accepted", "dead", "refused"};

typedef struct rec {
  uint32_t gen;
  uint8_t kind, state, removed, action;
  uint8_t nx, depth, no_run, own_kind[2];
  uint8_t sched_check; /* 1: the callback must see sched_h as tapir_scheduler_current() */
  uint8_t has_token;   /* a continuation with a token: its task may end canceled meanwhile */
  uint8_t frees;       /* on_complete with TAPIR_CONTINUATION_CALLBACK_FREES: the callback destroys */
  int calls, destroys, max_calls;
  const char *what;    /* the API that received it */
  uint64_t sched_h;
  uint64_t origin;     /* VALUE/PAYLOAD: the origin id; CB: the handle it was registered on */
  uint64_t own[2];     /* handles whose references the record holds */
  uint64_t tok_src;    /* CB of tapir_cancel_token_register: its token's cancel source, 0 if not known */
  uint8_t rescued;     /* the teardown canceled the cancel source it owns (rescue_owned) */
  uint64_t seed;
  int32_t code;        /* PAYLOAD: the error code it belongs to */
  void *ext;           /* factory state (freed when the record is recycled) */
  const char *tname;
  unsigned long long op;
} rec;

#define RSEG 16384u
#define RMAXSEG 1024u
#define QUAR (1u << 15)
static rec *g_rseg[RMAXSEG];
static uint32_t g_nrec;
static uint32_t *g_rfree;
static uint32_t g_nrfree, g_caprfree;
static uint32_t g_quar[QUAR];
static uint32_t g_qhead, g_qn;
static pthread_mutex_t g_lmu = PTHREAD_MUTEX_INITIALIZER;
static long long g_rec_open;   /* PENDING + ACCEPTED records */
static unsigned long long g_rec_total;

static rec *rec_at(uint32_t i) { return &g_rseg[i / RSEG][i % RSEG]; }

static void rec_recycle(uint32_t i) {
  rec *r = rec_at(i);
  free(r->ext);
  r->ext = NULL;
  r->state = RS_FREE;
  if (g_nrfree == g_caprfree) {
    g_caprfree = g_caprfree ? g_caprfree * 2 : 4096;
    g_rfree = realloc(g_rfree, g_caprfree * sizeof *g_rfree);
    if (!g_rfree) abort();
  }
  g_rfree[g_nrfree++] = i;
}

/* lock held */
static void rec_kill(uint32_t i, int state) {
  rec *r = rec_at(i);
  if (r->state == RS_PENDING || r->state == RS_ACCEPTED) g_rec_open--;
  r->state = (uint8_t)state;
  if (g_qn == QUAR) {
    rec_recycle(g_quar[g_qhead]);
    g_quar[g_qhead] = i;
    g_qhead = (g_qhead + 1) % QUAR;
  } else {
    g_quar[(g_qhead + g_qn) % QUAR] = i;
    g_qn++;
  }
}

static void *rec_ud(uint32_t i) {
  return (void *)(uintptr_t)(((uint64_t)rec_at(i)->gen << 32) | (0xFull << 28) | i);
}

/* lock held; NULL when `ud` is not a record the ledger knows at that generation */
static rec *rec_decode(const void *ud, uint32_t *idx) {
  uint64_t b = (uint64_t)(uintptr_t)ud;
  if (((b >> 28) & 0xF) != 0xF) return NULL;
  uint32_t i = (uint32_t)(b & 0x0FFFFFFF);
  if (i >= g_nrec) return NULL;
  rec *r = rec_at(i);
  if (r->gen != (uint32_t)(b >> 32) || r->state == RS_FREE) return NULL;
  if (idx) *idx = i;
  return r;
}

static bool is_rec_value(const void *v) { return (((uint64_t)(uintptr_t)v >> 28) & 0xF) == 0xF; }
static bool is_plain_value(const void *v) { return (((uint64_t)(uintptr_t)v >> 28) & 0xF) == 0xE; }

static uint32_t rec_new(int kind, const char *what, int max_calls) {
  pthread_mutex_lock(&g_lmu);
  uint32_t i;
  if (g_nrfree) {
    i = g_rfree[--g_nrfree];
  } else {
    if (g_nrec % RSEG == 0) {
      if (g_nrec / RSEG >= RMAXSEG) {
        pthread_mutex_unlock(&g_lmu);
        failf("fuzzer: more than %u live ledger records", RMAXSEG * RSEG);
      }
      g_rseg[g_nrec / RSEG] = calloc(RSEG, sizeof(rec));
      if (!g_rseg[g_nrec / RSEG]) abort();
    }
    i = g_nrec++;
  }
  rec *r = rec_at(i);
  uint32_t gen = r->gen + 1;
  if (gen == 0) gen = 1;
  memset(r, 0, sizeof *r);
  r->gen = gen;
  r->kind = (uint8_t)kind;
  r->state = RS_PENDING;
  r->what = what;
  r->max_calls = max_calls;
  r->seed = rnd();
  r->tname = me()->name;
  r->op = atomic_load_explicit(&me()->ops, memory_order_relaxed);
  g_rec_open++;
  g_rec_total++;
  pthread_mutex_unlock(&g_lmu);
  return i;
}

/* ---------------------------------------------------------------- deferred releases
 * Destroy functions never call into tapir (a destroy may run inside any tapir call);
 * references a dying record held are queued here and released by a fuzzer thread. */

typedef struct {
  uint64_t h;
  int kind;
} dref;
static dref *g_def;
static int g_ndef, g_capdef;
static pthread_mutex_t g_dmu = PTHREAD_MUTEX_INITIALIZER;

static void defer_release(int kind, uint64_t h) {
  pthread_mutex_lock(&g_dmu);
  if (g_ndef == g_capdef) {
    g_capdef = g_capdef ? g_capdef * 2 : 1024;
    g_def = realloc(g_def, (size_t)g_capdef * sizeof *g_def);
    if (!g_def) abort();
  }
  g_def[g_ndef].h = h;
  g_def[g_ndef].kind = kind;
  g_ndef++;
  pthread_mutex_unlock(&g_dmu);
}

/* Hands a registration's outcome to the ledger, right after the registering call
 * returned. A failed call must have had no effect: no callback, no destroy. */
static void model_unext(int kind, uint64_t h);

static void rec_settle(uint32_t i, bool ok, const char *fn, int32_t st) {
  uint64_t give[2] = {0, 0};
  int gk[2] = {0, 0};
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(i);
  if (ok) {
    if (r->state == RS_PENDING) {
      r->state = RS_ACCEPTED;
      if (r->destroys) rec_kill(i, RS_DEAD);
    }
  } else {
    if (r->calls || r->destroys) {
      int c = r->calls, d = r->destroys;
      pthread_mutex_unlock(&g_lmu);
      failf("%s returned %s, yet ran the callback %d time(s) and the destroy %d time(s) "
            "(a failed call must do nothing; the caller still owns user_data)",
            fn, stname(st), c, d);
    }
    for (int k = 0; k < 2; k++) {
      give[k] = r->own[k];
      gk[k] = r->own_kind[k];
      r->own[k] = 0;
    }
    rec_kill(i, RS_REFUSED);
  }
  pthread_mutex_unlock(&g_lmu);
  for (int k = 0; k < 2; k++)
    if (give[k]) model_unext(gk[k], give[k]);
}

static void factory_ext_release(void *ext); /* lock g_lmu held */

/* The one destroy function for every record. */
static void fz_destroy(void *ud) {
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  pthread_mutex_lock(&g_lmu);
  uint32_t i;
  rec *r = rec_decode(ud, &i);
  if (!r) {
    pthread_mutex_unlock(&g_lmu);
    failf("destroy called with user data %p that no live record has (a destroy after the "
          "record's life ended: a second destroy, or a stale pointer)", ud);
  }
  if (r->state == RS_DEAD || r->state == RS_REFUSED) {
    const char *w = r->what, *s = rsname[r->state];
    int d = r->destroys;
    pthread_mutex_unlock(&g_lmu);
    if (s[0] == 'r')
      failf("destroy ran for the user data of a %s call that had failed (the caller owns it)", w);
    failf("destroy ran a second time for a record given to %s (destroys so far %d)", w, d);
  }
  r->destroys++;
  for (int k = 0; k < 2; k++)
    if (r->own[k]) {
      defer_release(r->own_kind[k], r->own[k]);
      r->own[k] = 0;
    }
  if (r->kind == RK_FACTORY && r->ext) factory_ext_release(r->ext);
  if (r->state == RS_ACCEPTED) rec_kill(i, RS_DEAD);
  pthread_mutex_unlock(&g_lmu);
}

/* A callback starts: the ledger counts the call and checks it may run at all. On
 * return *copy is a snapshot of the record; the record's owned references move to
 * the running callback. */
static void rec_enter(const void *ud, const char *fn, rec *copy) {
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_cb_calls, 1, memory_order_relaxed);
  pthread_mutex_lock(&g_lmu);
  uint32_t i;
  rec *r = rec_decode(ud, &i);
  if (!r) {
    pthread_mutex_unlock(&g_lmu);
    failf("%s ran with user data %p that no live record has (after its destroy, or never given)", fn, ud);
  }
  const char *bad = NULL;
  if (r->state == RS_DEAD) bad = "after its destroy had run";
  else if (r->state == RS_REFUSED) bad = "although the call that registered it had failed";
  else if (r->removed) bad = "after a removal of it had returned OK";
  else if (r->no_run) bad = "although its token was canceled before it could start";
  else if (r->max_calls && r->calls >= r->max_calls) bad = "more often than allowed (at most once)";
  if (bad) {
    const char *w = r->what;
    int c = r->calls;
    pthread_mutex_unlock(&g_lmu);
    failf("%s (given to %s) ran %s; calls before %d", fn, w, bad, c);
  }
  r->calls++;
  *copy = *r;
  r->own[0] = r->own[1] = 0;
  pthread_mutex_unlock(&g_lmu);
}

/* ---------------------------------------------------------------- values */

static uint32_t hash32(uint64_t x) { return (uint32_t)(mix64(x) >> 32) | 1u; }

/* A value to set on a task whose origin id is `origin`. With a destroy, a record
 * (destroy exactly once, never for a refused set); without, a tagged integer. */
static void *val_new(uint64_t origin, bool with_destroy, uint32_t *ri) {
  if (with_destroy) {
    uint32_t i = rec_new(RK_VALUE, "a value", 0);
    pthread_mutex_lock(&g_lmu);
    rec_at(i)->origin = origin;
    void *v = rec_ud(i);
    pthread_mutex_unlock(&g_lmu);
    *ri = i;
    return v;
  }
  *ri = UINT32_MAX;
  return (void *)(uintptr_t)(((uint64_t)hash32(origin) << 32) | (0xEull << 28) | (rnd() & 0x0FFFFFFF));
}

static void val_set_origin(uint32_t ri, uint64_t origin) {
  if (ri == UINT32_MAX) return;
  pthread_mutex_lock(&g_lmu);
  rec_at(ri)->origin = origin;
  pthread_mutex_unlock(&g_lmu);
}

static void val_settle(uint32_t ri, bool ok, const char *fn, int32_t st) {
  if (ri != UINT32_MAX) rec_settle(ri, ok, fn, st);
}

/* ================================================================ the model
 *
 * What the fuzzer owns: one slot per handle value, with the number of references
 * the fuzzer may still use (`refs`), references held by ledger records or queued
 * for release (`ext`), and calls in flight on it (`pins`). The mutex g_mu guards
 * the model only; no tapir call is ever made while it is held, so calls race
 * each other for real.
 *
 * A slot whose references are all gone moves to the graveyard (a per-kind FIFO),
 * from which stale handles are drawn. It is "strict" when no API can hand the same
 * handle value out again (nothing tapir lends it to, no permanent object); then every
 * call with it must fail with INVALID_HANDLE. A handle that may be revived (a task
 * with callbacks, which tapir lends to them; a token tapir can return again; a
 * permanent object) is "loose": calls may succeed or fail, and must be harmless.
 * Revival paths the fuzzer itself takes (tapir_source_task on a source, the token of
 * a cancel source or registration) are announced on the target slot first (`acq`).
 */

enum { K_TASK, K_SOURCE, K_ERROR, K_REG, K_SCHED, K_CTS, K_TOKEN, K_CREG, K_PROGRESS, NK };
static const char *kname[NK] = {"task", "source", "error", "registration", "scheduler",
                                "cancel_source", "token", "cancel_registration", "progress"};
enum {
  SUB_0, SCH_DEFAULT, SCH_INLINE, SCH_MANUAL, SCH_FOREIGN, TOK_NONE, TOK_CTS, TOK_CANCELED,
  TOK_LIB, SRC_MADE, SRC_LENT, ERR_MADE, ERR_LIB, TASK_COMPLETED
};
enum { SS_FREE, SS_LIVE, SS_GRAVE };
enum { AC_NONE, AC_LIVE, AC_BAD, AC_LOOSE };

typedef struct slot {
  uint64_t h;
  int hnext, lpos;
  uint8_t kind, st, sub, lent, perm, dying, strict, acqable;
  uint8_t canceled, completed, forwarded, removed_ok;
  uint8_t never; /* TASK: may never complete (a delay(-1), or derived from one) */
  uint8_t task_lent; /* SOURCE: its task was handed to tapir (a factory's result): lent once fetched */
  uint8_t revived;   /* came back from the graveyard: every reference the fuzzer had was released once */
  int refs, ext, pins, acq;
  uint32_t rel_ep, acq_ep;
  uint64_t aux;  /* SOURCE: its task; TASK: its source; CTS: its token; TOKEN (TOK_CTS): its cancel source; CREG: its token; REG: record ud; SCHED: fsched index */
  uint64_t aux2; /* SOURCE: creation flags; ERROR: payload; CREG: record ud */
  int32_t code;  /* ERROR made by the fuzzer: its code */
  uint32_t ninner;
  uint64_t state;
} slot;

#define MAXSLOTS 8192
#define LIVE_SOFT 700
#define GRAVE 48
#define HB (1 << 14)
static slot g_slots[MAXSLOTS];
static int g_sfree[MAXSLOTS], g_nsfree;
static int g_bucket[HB];
static int g_live[NK][MAXSLOTS], g_nlive[NK];
static atomic_int g_nlive_all;
static int g_grave[NK][GRAVE + 32], g_ngrave[NK]; /* room for slots kept by s_to_grave */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
#define L() pthread_mutex_lock(&g_mu)
#define U() pthread_mutex_unlock(&g_mu)

static unsigned hb(uint64_t h) { return (unsigned)(mix64(h) & (HB - 1)); }

/* Flags that belong to the object, not to its slot (a slot is evicted from the
 * graveyard and re-created when the handle comes back): kept in Bloom filters, where
 * a false positive only makes a handle loose or a transfer skipped. */
#define BLOOM_BITS (1u << 26)
static uint64_t g_bloom_lent[BLOOM_BITS / 64], g_bloom_never[BLOOM_BITS / 64];
static uint64_t g_bloom_deplost[BLOOM_BITS / 64]; /* tasks whose waits-on edges were evicted */
static void bloom_add(uint64_t *f, uint64_t h) {
  for (int k = 0; k < 3; k++) {
    uint64_t b = mix64(h + 0x1234567ull * (uint64_t)(k + 1)) & (BLOOM_BITS - 1);
    f[b / 64] |= 1ull << (b % 64);
  }
}
static bool bloom_has(const uint64_t *f, uint64_t h) {
  for (int k = 0; k < 3; k++) {
    uint64_t b = mix64(h + 0x1234567ull * (uint64_t)(k + 1)) & (BLOOM_BITS - 1);
    if (!(f[b / 64] & (1ull << (b % 64)))) return false;
  }
  return true;
}

static void model_init(void) {
  for (int i = 0; i < HB; i++) g_bucket[i] = -1;
  for (int i = MAXSLOTS - 1; i >= 0; i--) g_sfree[g_nsfree++] = i;
}

static int s_find(uint64_t h) {
  for (int i = g_bucket[hb(h)]; i >= 0; i = g_slots[i].hnext)
    if (g_slots[i].h == h) return i;
  return -1;
}

/* A handle its owner can hand out again at any moment is never certainly dead while
 * the fuzzer holds that owner: a task whose source is live (tapir_source_task), a
 * token whose cancel source is live (tapir_cancel_source_token). Lock held. */
static bool s_owner_alive(const slot *t) {
  if (!t->aux) return false;
  if (t->kind == K_TASK || (t->kind == K_TOKEN && t->sub == TOK_CTS)) {
    int i = s_find(t->aux);
    /* a call in flight on the owner may have validated it before a racing release:
     * it can still hand this value out (a cancel source's token, a source's task) */
    return i >= 0 && (g_slots[i].st == SS_LIVE || g_slots[i].pins > 0);
  }
  return false;
}

static void s_hash_del(int i) {
  int *p = &g_bucket[hb(g_slots[i].h)];
  while (*p != i) p = &g_slots[*p].hnext;
  *p = g_slots[i].hnext;
}

static void s_live_add(int i) {
  slot *s = &g_slots[i];
  s->lpos = g_nlive[s->kind];
  g_live[s->kind][g_nlive[s->kind]++] = i;
  g_nlive_all++;
}

static void s_live_del(int i) {
  slot *s = &g_slots[i];
  int k = s->kind, last = g_live[k][--g_nlive[k]];
  g_live[k][s->lpos] = last;
  g_slots[last].lpos = s->lpos;
  g_nlive_all--;
}

static void s_free(int i) {
  s_hash_del(i);
  g_slots[i].st = SS_FREE;
  g_sfree[g_nsfree++] = i;
}

static void s_grave_del(int i) {
  slot *s = &g_slots[i];
  int k = s->kind;
  for (int j = 0; j < g_ngrave[k]; j++)
    if (g_grave[k][j] == i) {
      memmove(&g_grave[k][j], &g_grave[k][j + 1], (size_t)(g_ngrave[k] - j - 1) * sizeof(int));
      g_ngrave[k]--;
      return;
    }
}

/* Evicts the oldest unpinned grave of kind k (any kind if k < 0). */
static bool s_evict(int k) {
  for (int kk = (k < 0 ? 0 : k); kk < (k < 0 ? NK : k + 1); kk++)
    for (int j = 0; j < g_ngrave[kk]; j++) {
      int i = g_grave[kk][j];
      /* an acquisition or release in flight still refers to the slot by index */
      if (g_slots[i].pins || g_slots[i].acq) continue;
      s_grave_del(i);
      s_free(i);
      return true;
    }
  return false;
}

static void s_to_grave(int i) {
  slot *s = &g_slots[i];
  if (s->lent) bloom_add(g_bloom_lent, s->h);
  if (s->never) bloom_add(g_bloom_never, s->h);
  s_live_del(i);
  s->st = SS_GRAVE;
  s->dying = 0;
  s->strict = !s->lent && !s->perm && s->sub != SRC_LENT && s->sub != TOK_LIB && s->sub != ERR_LIB;
  /* with these families excluded, released handles of the kind are only loose */
  if ((s->kind == K_CTS && !fam_on(FAM_STALECTS)) || (s->kind == K_TOKEN && !fam_on(FAM_STALETOKEN))) s->strict = 0;
  int k = s->kind;
  /* every grave of this kind is pinned: drop this one, unless an acquisition or
   * release in flight still refers to it (a few per fuzzer thread; teardown marks
   * everything at once, so past the hard limit it is dropped all the same: those who
   * refer to a slot check that it still holds their handle) */
  if (g_ngrave[k] >= GRAVE && !s_evict(k) && g_ngrave[k] >= GRAVE + 8 && (!s->acq || g_ngrave[k] >= GRAVE + 31)) {
    s_free(i);
    return;
  }
  g_grave[k][g_ngrave[k]++] = i;
}

static void s_maybe_grave(int i) {
  slot *s = &g_slots[i];
  if (s->st == SS_LIVE && s->refs == 0 && s->ext == 0 && s->pins == 0) s_to_grave(i);
}

static _Thread_local const char *tl_opname = "?"; /* the op running on this thread */
static void failf_unlock(const char *msg, uint64_t h, const char *k1, const char *k2) FZ_NORETURN;
static void failf_unlock(const char *msg, uint64_t h, const char *k1, const char *k2) {
  U();
  failf("%s: handle %#" PRIx64 " (%s / %s)", msg, h, k1, k2);
}

/* lock held: the fuzzer gained one reference to `h`. Returns the slot, or -1 when
 * the model is full (the caller then releases the reference itself). */
static int m_add_l(int kind, uint64_t h, int sub) {
  int i = s_find(h);
  if (i >= 0) {
    slot *s = &g_slots[i];
    if (s->kind != kind)
      failf_unlock("one handle value came back as two kinds of object", h, kname[s->kind], kname[kind]);
    if (s->st == SS_LIVE) {
      s->refs++;
      s->dying = 0;
      return i;
    }
    if (s->strict && s->acq == 0 && !s_owner_alive(s)) {
      char why[160];
      snprintf(why, sizeof why, "graveyard; returned by op %s; slot sub %d lent %d acqable %d perm %d", tl_opname, s->sub,
               s->lent, s->acqable, s->perm);
      failf_unlock("tapir returned, for a new reference, a handle value the fuzzer had released for "
                   "good (no API hands it out again): a stale handle aliases a live object",
                   h, kname[kind], why);
    }
    s_grave_del(i);
    s->st = SS_LIVE;
    s->refs = 1;
    s->dying = 0;
    s->revived = 1;
    s->acq_ep++;
    s_live_add(i);
    return i;
  }
  if (!g_nsfree && !s_evict(-1)) return -1;
  i = g_sfree[--g_nsfree];
  slot *s = &g_slots[i];
  memset(s, 0, sizeof *s);
  s->h = h;
  s->kind = (uint8_t)kind;
  s->sub = (uint8_t)sub;
  s->st = SS_LIVE;
  s->refs = 1;
  s->lent = bloom_has(g_bloom_lent, h);
  s->never = bloom_has(g_bloom_never, h);
  s->hnext = g_bucket[hb(h)];
  g_bucket[hb(h)] = i;
  s_live_add(i);
  return i;
}

static int32_t tp_release(int kind, uint64_t h);

/* Adds a reference to the model, or releases it when the model is full. */
static int m_add(int kind, uint64_t h, int sub, int lent) {
  L();
  int i = m_add_l(kind, h, sub);
  if (i >= 0 && lent) g_slots[i].lent = 1;
  U();
  if (i < 0) {
    int32_t st = CALL(tp_release(kind, h));
    if (st != TAPIR_STATUS_OK) failf("release of a fresh %s reference returned %s", kname[kind], stname(st));
  }
  return i;
}

/* A reference held outside the model (by a record) comes back to the model (one that
 * goes away is released with release_ext). */
static void model_unext(int kind, uint64_t h) {
  L();
  int i = s_find(h);
  if (i < 0 || g_slots[i].ext <= 0) {
    U();
    failf("fuzzer model: no external %s reference %#" PRIx64 " to return", kname[kind], h);
  }
  g_slots[i].ext--;
  g_slots[i].refs++;
  U();
}

static void acq_drop_l(int i, uint64_t h);
static void release_ok(int kind, uint64_t h, const char *why);

/* Releases a reference a record holds (ext). The model learns first, as op_release
 * does it: a call pinning the handle then sees the release it raced (and judges
 * loose), and until tapir's release has returned a pick from the graveyard is loose,
 * since the handle still works. Learning after the release would leave a window in
 * which a call on the dead handle is still judged live. */
static void release_ext(int kind, uint64_t h, const char *why) {
  L();
  int i = s_find(h);
  if (i < 0 || g_slots[i].ext <= 0) {
    U();
    failf("fuzzer model: no external %s reference %#" PRIx64 " to release", kname[kind], h);
  }
  slot *sl = &g_slots[i];
  sl->ext--;
  if (sl->refs == 0 && sl->ext == 0) {
    if (sl->pins > 0) sl->dying = 1;
    sl->rel_ep++;
  }
  sl->acq++;
  sl->acq_ep++;
  s_maybe_grave(i);
  U();
  release_ok(kind, h, why);
  L();
  acq_drop_l(i, h);
  U();
}

/* Moves one model reference of slot i into a record (ext). */
static bool m_take_l(int i, uint64_t h) {
  if (i < 0) return false;
  slot *s = &g_slots[i];
  if (s->h != h || s->st != SS_LIVE || s->refs <= 0) return false;
  s->refs--;
  s->ext++;
  return true;
}

/* ---------------------------------------------------------------- arguments */

typedef struct {
  uint64_t h;
  int s;       /* pinned slot, or -1 */
  uint32_t ep;
  uint8_t cls, grave, kind;
} harg;

static harg a_none(uint8_t cls) {
  harg a;
  memset(&a, 0, sizeof a);
  a.s = -1;
  a.cls = cls;
  return a;
}

static harg a_live(int kind) {
  harg a = a_none(AC_NONE);
  a.kind = (uint8_t)kind;
  L();
  int n = g_nlive[kind];
  for (int t = 0; t < 6 && n; t++) {
    int i = g_live[kind][rn((unsigned)n)];
    slot *s = &g_slots[i];
    if (s->refs > 0 && !s->dying) {
      s->pins++;
      a.h = s->h;
      a.s = i;
      a.ep = s->rel_ep;
      a.cls = AC_LIVE;
      break;
    }
  }
  U();
  return a;
}

static harg a_grave(int kind) {
  harg a = a_none(AC_NONE);
  a.kind = (uint8_t)kind;
  L();
  if (g_ngrave[kind]) {
    int i = g_grave[kind][rn((unsigned)g_ngrave[kind])];
    slot *s = &g_slots[i];
    /* with racerel excluded, no call on a handle whose release is still running */
    if (s->acq > 0 && !fam_on(FAM_RACEREL)) {
      U();
      return a;
    }
    /* another call in flight on this handle (a loose pick that found it valid) may hold
     * a reference tapir takes for the call's length — a combinator's on its inputs, the
     * one lent to an on_complete callback running inside the call — which a release
     * now would take: certainly stale only with no such call */
    bool alone = s->pins == 0;
    s->pins++;
    a.h = s->h;
    a.s = i;
    a.grave = 1;
    a.ep = s->acq_ep;
    a.cls = (alone && s->strict && s->acq == 0 && !s_owner_alive(s)) ? AC_BAD : AC_LOOSE;
  }
  U();
  return a;
}

/* A live handle of a kind that is neither `kind` nor `alt`: always refused. */
static harg a_wrong(int kind, int alt) {
  harg a = a_none(AC_NONE);
  L();
  for (int t = 0; t < 8; t++) {
    int k = (int)rn(NK);
    if (k == kind || k == alt || !g_nlive[k]) continue;
    /* with kindct excluded, no cancel-family kind (source, token, registration) stands in for another */
    if (!fam_on(FAM_KINDCT) && (k == K_CTS || k == K_TOKEN || k == K_CREG) &&
        (kind == K_CTS || kind == K_TOKEN || kind == K_CREG))
      continue;
    a.h = g_slots[g_live[k][rn((unsigned)g_nlive[k])]].h;
    a.cls = AC_BAD;
    break;
  }
  U();
  return a;
}

/* A wrong-kind pick that the called function documents as accepted (a token passed
 * as a cancel source to tapir_cancel_source_is_canceled, a source passed as a token to
 * tapir_debug_cancel_registrations): not judged as invalid. The handle is not pinned,
 * so it may be released meanwhile: loose. */
static void a_accept_kind(harg *a, int kind) {
  if (a->cls != AC_BAD || !a->h || a->s >= 0) return;
  L();
  int i = s_find(a->h);
  if (i >= 0 && g_slots[i].kind == kind) a->cls = AC_LOOSE;
  U();
}

/* A value no live object has: random bits, or a live handle with other generation bits. */
static harg a_forged(int kind) {
  harg a = a_none(AC_BAD);
  for (int t = 0; t < 16; t++) {
    uint64_t h;
    L();
    if (pct(50) || !g_nlive[kind]) h = rnd() | 1;
    else h = g_slots[g_live[kind][rn((unsigned)g_nlive[kind])]].h ^ ((uint64_t)(1 + rn(255)) << 44);
    bool known = s_find(h) >= 0;
    U();
    if (!known && h && ((h >> 28) & 0xF) < 0xE) {
      a.h = h;
      return a;
    }
  }
  a.h = 0x7777000000000001ull;
  return a;
}

/* Ends a call: unpins, and downgrades certainty when the handle raced a release
 * (live) or a revival (grave) while the call ran. */
static const char *clsname[] = {"none/NULL", "live", "certainly invalid", "loose"};
static void a_note(const harg *a, int kind, const char *why) {
  thr *t = me();
  snprintf(t->args[t->nargs++ % 8], sizeof t->args[0], "%s arg %#" PRIx64 ": %s (%s)", kname[kind], a->h, why,
           clsname[a->cls]);
}

static void a_done(harg *a) {
  if (a->s < 0) return;
  L();
  slot *s = &g_slots[a->s];
  s->pins--;
  if (!a->grave && a->cls == AC_LIVE && (s->rel_ep != a->ep || s->st != SS_LIVE)) {
    a->cls = AC_LOOSE;
    a_note(a, s->kind, "raced a release of its last reference");
  }
  if (a->grave && a->cls == AC_BAD && (s->acq_ep != a->ep || s->st != SS_GRAVE)) {
    a->cls = AC_LOOSE;
    a_note(a, s->kind, "revived while the call ran");
  }
  s_maybe_grave(a->s);
  U();
  a->s = -1;
}

static unsigned a_flt(const harg *a, bool required) {
  switch (a->cls) {
  case AC_NONE: return required ? F_NULL : 0;
  case AC_BAD: return F_BAD;
  case AC_LOOSE: return F_LOOSE;
  default: return (!a->h && required) ? F_NULL : 0;
  }
}

/* Marks a handle as lent: tapir may hand the same value to callbacks or return it
 * again, so once released it is loose, not strict. (A task with only library
 * continuations — forwards, combinators, unwrap, wait_async — is not lent: tapir
 * lends no handle to those; tests/fuzz/repro/stale_task_handle_revived.c.) */
static void a_lend(const harg *a) {
  if (a->s < 0 || a->grave) return;
  L();
  if (g_slots[a->s].h == a->h) g_slots[a->s].lent = 1;
  U();
}

/* Reads a field of a pinned argument's slot (0 when not pinned). */
#define A_FIELD(a, f) a_field_u64((a), offsetof(slot, f), sizeof(((slot *)0)->f))
static uint64_t a_field_u64(const harg *a, size_t off, size_t size) {
  uint64_t v = 0;
  L();
  if (a->s >= 0 && g_slots[a->s].h == a->h) {
    const unsigned char *p = (const unsigned char *)&g_slots[a->s] + off;
    switch (size) {
    case 1: v = *p; break;
    case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
    default: memcpy(&v, p, 8); break;
    }
  }
  U();
  return v;
}

/* ================================================================ waits-on graph
 *
 * Which tasks a task's completion waits for (a continuation its antecedent, a
 * combinator or wait_async its inputs, unwrap its outer task and the task values set
 * on that, a forwarding source's task the task it forwards from). A user-made cycle —
 * a task forwarding from a continuation of itself, say — never completes and, with
 * reference counting, never dies: outside the contract, so before a set_from_task or
 * a task value the fuzzer checks that the new edge closes no cycle. Kept under g_mu;
 * an edge lost to overwriting could hide a cycle, so a search that gives up counts as
 * one. */
#define DEP_N (1 << 16)
#define DEP_E 6
typedef struct {
  uint64_t h;
  uint64_t on[DEP_E];
  uint8_t n;
} dep;
static dep g_dep[DEP_N];
static atomic_ullong g_cycles_avoided;

static dep *dep_get_l(uint64_t h, bool create) {
  unsigned i = (unsigned)(mix64(h ^ 0xD1B54A32D192ED03ull) & (DEP_N - 1));
  for (unsigned k = 0; k < 16; k++, i = (i + 1) & (DEP_N - 1)) {
    if (g_dep[i].h == h) return &g_dep[i];
    if (!g_dep[i].h) {
      if (!create) return NULL;
      g_dep[i].h = h;
      g_dep[i].n = 0;
      return &g_dep[i];
    }
  }
  if (!create) return NULL;
  /* evict: the evicted task's edges are lost, so a search reaching it must be unsure
   * (else a cycle through it would pass: a retry's result forwarding into its own
   * attempt once the edge result -> attempt was evicted, say) */
  dep *d = &g_dep[(unsigned)(mix64(h ^ 0xD1B54A32D192ED03ull) & (DEP_N - 1))];
  if (d->h && d->n) bloom_add(g_bloom_deplost, d->h);
  d->h = h;
  d->n = 0;
  return d;
}

static void dep_add_l(uint64_t h, uint64_t on) {
  if (!h || !on || h == on) return;
  dep *d = dep_get_l(h, true);
  for (unsigned k = 0; k < d->n && k < DEP_E; k++)
    if (d->on[k] == on) return;
  d->on[d->n % DEP_E] = on;
  d->n = (uint8_t)(d->n < 255 ? d->n + 1 : DEP_E);
}

static void dep_add(uint64_t h, uint64_t on) {
  L();
  dep_add_l(h, on);
  U();
}

/* Whether `from` waits (transitively) on `target` (or, target 0, on a task that may
 * never complete: a delay(-1) or one derived from it); true also when unsure. */
static bool dep_never_l(uint64_t h) {
  int i = s_find(h);
  return i >= 0 ? g_slots[i].never != 0 : bloom_has(g_bloom_never, h);
}
static bool dep_reaches_l(uint64_t from, uint64_t target) {
  if (!from) return false;
  if (from == target) return true;
  uint64_t stack[256], seen[256];
  int sp = 0, ns = 0;
  bool r = false;
  stack[sp++] = from;
  while (sp && !r) {
    uint64_t x = stack[--sp];
    if (!target && dep_never_l(x)) { r = true; break; }
    dep *d = dep_get_l(x, false);
    if (!d && bloom_has(g_bloom_deplost, x)) { r = true; break; } /* evicted: unsure */
    if (!d) continue;
    if (d->n > DEP_E) { r = true; break; } /* lost edges: unsure */
    for (unsigned k = 0; k < d->n; k++) {
      uint64_t y = d->on[k];
      if (y == target || (!target && dep_never_l(y))) { r = true; break; }
      bool dup = false;
      for (int j = 0; j < ns && !dup; j++) dup = seen[j] == y;
      if (dup) continue;
      if (ns == 256 || sp == 256) { r = true; break; }
      seen[ns++] = y;
      stack[sp++] = y;
    }
  }
  if (r) atomic_fetch_add_explicit(&g_cycles_avoided, 1, memory_order_relaxed);
  return r;
}

/* Before `task` is made to wait on `on` (a forward): false when that would close a
 * cycle or make it wait on a task that may never complete; else the edge is added in
 * the same step, so two threads cannot close a cycle between them. */
static bool dep_claim(uint64_t task, uint64_t on) {
  if (!task || !on) return true;
  L();
  bool bad = dep_reaches_l(on, task) || dep_reaches_l(on, 0);
  if (!bad) dep_add_l(task, on);
  U();
  return !bad;
}

static void never_from(uint64_t out, uint64_t in, bool always);

/* ================================================================ lineage
 *
 * Which values may legitimately be read from which task. A task's node lists edges:
 * FM_TASK (it completes as that task does: when_all inputs excluded, those are
 * structured), FM_ID (this raw value or origin id may appear), FM_UNWRAP (it
 * completes as whatever task the given outer task's value is). Edges are added
 * before the call that creates the forwarding, so a read never races ahead of the
 * model. Nodes live in a FIFO ring; a read that reaches an evicted node is not
 * judged (counted as unchecked).
 */

enum { FM_TASK, FM_ID, FM_UNWRAP };
enum { CT_NONE, CT_ALL, CT_SETTLED, CT_ANY, CT_FIRSTERR };
#define TI_MAX (1 << 16)
#define TI_E 6
typedef struct tinfo {
  uint64_t h;
  int hnext;
  uint8_t used, overflow, ctype, nin, nfrom, ntv, has_state, tv_overflow;
  uint8_t complete; /* made when the task was created: every edge it has is known */
  const char *made_by; /* the op that made it, for failure reports */
  int8_t status;       /* a final status observed, or 0 */
  uint32_t options;
  uint64_t state;
  uint64_t from[TI_E];
  uint8_t fmode[TI_E];
  uint64_t tv[4];
  uint64_t in[TI_E];
} tinfo;
static tinfo g_ti[TI_MAX];
static int g_tib[TI_MAX];
static int g_tiring;
static atomic_ullong g_reads_checked, g_reads_unchecked;

static void ti_init(void) {
  for (int i = 0; i < TI_MAX; i++) g_tib[i] = -1;
}

static unsigned tib(uint64_t h) { return (unsigned)((mix64(h) >> 7) & (TI_MAX - 1)); }

/* lock held */
static tinfo *ti_get(uint64_t h, bool create) {
  if (!h) return NULL;
  for (int i = g_tib[tib(h)]; i >= 0; i = g_ti[i].hnext)
    if (g_ti[i].h == h) return &g_ti[i];
  if (!create) return NULL;
  int i = g_tiring;
  g_tiring = (g_tiring + 1) % TI_MAX;
  tinfo *t = &g_ti[i];
  if (t->used) {
    int *p = &g_tib[tib(t->h)];
    while (*p != i) p = &g_ti[*p].hnext;
    *p = t->hnext;
  }
  memset(t, 0, sizeof *t);
  t->used = 1;
  t->h = h;
  t->hnext = g_tib[tib(h)];
  g_tib[tib(h)] = i;
  return t;
}

static void ti_from_l(uint64_t h, int mode, uint64_t x) {
  tinfo *t = ti_get(h, true);
  for (int k = 0; k < t->nfrom; k++)
    if (t->from[k] == x && t->fmode[k] == mode) return;
  if (t->nfrom == TI_E) {
    t->overflow = 1;
    return;
  }
  t->from[t->nfrom] = x;
  t->fmode[t->nfrom++] = (uint8_t)mode;
}

/* The task was just created: its node holds all its edges (lock held). */
static tinfo *ti_new_l(uint64_t h) {
  tinfo *t = ti_get(h, true);
  t->complete = 1;
  t->made_by = tl_opname;
  return t;
}

/* One line about a lineage node, for failure reports (lock held). */
static void ti_describe_l(uint64_t h, char *buf, size_t n) {
  tinfo *t = ti_get(h, false);
  if (!t) {
    snprintf(buf, n, "%#" PRIx64 ": no node", h);
    return;
  }
  int k = snprintf(buf, n, "%#" PRIx64 ": made by %s, complete %d, ctype %d, overflow %d, edges", h,
                   t->made_by ? t->made_by : "?", t->complete, t->ctype, t->overflow);
  for (int i = 0; i < t->nfrom && k > 0 && (size_t)k < n; i++)
    k += snprintf(buf + k, n - (size_t)k, " %s:%#" PRIx64, t->fmode[i] == FM_TASK ? "task" : t->fmode[i] == FM_ID ? "id" : "unwrap",
                  t->from[i]);
}

static void ti_from(uint64_t h, int mode, uint64_t x) {
  L();
  ti_from_l(h, mode, x);
  U();
}

static void ti_tv_l(uint64_t h, uint64_t x) {
  tinfo *t = ti_get(h, true);
  if (t->ntv == 4) t->tv_overflow = 1;
  else t->tv[t->ntv++] = x;
}

enum { LN_OK, LN_BAD, LN_UNKNOWN };
enum { VK_ORIGIN, VK_TAG, VK_RAW };

/* Is a value with key `key` (an origin id, a tag, or a raw value) one that task
 * `h` may carry? lock held */
static int lineage_l(uint64_t h, int vk, uint64_t key, uint64_t raw) {
  uint64_t q[48];
  int nq = 0, head = 0;
  bool unknown = false;
  q[nq++] = h;
  while (head < nq) {
    uint64_t n = q[head++];
    tinfo *t = ti_get(n, false);
    if (!t) {
      unknown = true;
      continue;
    }
    if (n != h && t->ctype != CT_NONE) unknown = true; /* a structured value flows in */
    if (t->overflow || !t->complete) unknown = true; /* a node re-made after eviction lacks edges */
    if ((vk == VK_ORIGIN && key == n) || (vk == VK_TAG && hash32(n) == (uint32_t)key)) return LN_OK;
    for (int k = 0; k < t->nfrom; k++) {
      uint64_t x = t->from[k];
      switch (t->fmode[k]) {
      case FM_ID:
        if (x == raw || (vk == VK_ORIGIN && x == key) || (vk == VK_TAG && x && hash32(x) == (uint32_t)key)) return LN_OK;
        break;
      case FM_TASK:
        if (nq < 48) {
          bool seen = false;
          for (int j = 0; j < nq; j++) seen |= q[j] == x;
          if (!seen) q[nq++] = x;
        } else unknown = true;
        break;
      case FM_UNWRAP: {
        /* the inner task is a task value of the outer, or of any task the outer
         * completes as (its own forwarding closure) */
        uint64_t oq[16];
        int no = 0, oh = 0;
        oq[no++] = x;
        while (oh < no) {
          tinfo *o = ti_get(oq[oh++], false);
          if (!o || o->tv_overflow || o->overflow || !o->complete || o->ctype != CT_NONE) {
            unknown = true;
            continue;
          }
          for (int j = 0; j < o->ntv; j++) {
            if (nq < 48) {
              bool seen = false;
              for (int m = 0; m < nq; m++) seen |= q[m] == o->tv[j];
              if (!seen) q[nq++] = o->tv[j];
            } else unknown = true;
          }
          for (int j = 0; j < o->nfrom; j++) {
            if (o->fmode[j] == FM_UNWRAP) unknown = true;
            else if (o->fmode[j] == FM_TASK) {
              if (no < 16) oq[no++] = o->from[j];
              else unknown = true;
            }
          }
        }
        break;
      }
      }
    }
  }
  return unknown ? LN_UNKNOWN : LN_BAD;
}

/* ================================================================ handle casts */

#define TK(h) ((const tapir_task *)(uintptr_t)(h))
#define SR(h) ((const tapir_source *)(uintptr_t)(h))
#define ER(h) ((const tapir_error *)(uintptr_t)(h))
#define RG(h) ((const tapir_registration *)(uintptr_t)(h))
#define SC(h) ((const tapir_scheduler *)(uintptr_t)(h))
#define CS(h) ((const tapir_cancel_source *)(uintptr_t)(h))
#define TO(h) ((const tapir_cancel_token *)(uintptr_t)(h))
#define CR(h) ((const tapir_cancel_registration *)(uintptr_t)(h))
#define PG(h) ((const tapir_progress *)(uintptr_t)(h))
#define HV(p) ((uint64_t)(uintptr_t)(p))
/* written to every out-parameter first: a failed call must leave it untouched */
#define SENT ((uint64_t)0x5EE7000000000F0Full)

static uint64_t g_default_h, g_inline_h, g_none_h, g_completed_h;

static int32_t tp_release(int kind, uint64_t h) {
  switch (kind) {
  /* the fused release with one argument NULL is the single release, status included */
  case K_TASK: return pct(10) ? tapir_source_release_with_task(NULL, TK(h)) : tapir_task_release(TK(h));
  case K_SOURCE: return pct(10) ? tapir_source_release_with_task(SR(h), NULL) : tapir_source_release(SR(h));
  case K_ERROR: return tapir_error_release(ER(h));
  case K_REG: return tapir_registration_release(RG(h));
  case K_SCHED: return tapir_scheduler_release(SC(h));
  case K_CTS: return tapir_cancel_source_release(CS(h));
  case K_TOKEN: return tapir_cancel_token_release(TO(h));
  case K_CREG: return tapir_cancel_registration_release(CR(h));
  default: return tapir_progress_release(PG(h));
  }
}

static uint64_t tp_retain(int kind, uint64_t h) {
  switch (kind) {
  case K_TASK: return HV(tapir_task_retain(TK(h)));
  case K_SOURCE: return HV(tapir_source_retain(SR(h)));
  case K_ERROR: return HV(tapir_error_retain(ER(h)));
  case K_REG: return HV(tapir_registration_retain(RG(h)));
  case K_SCHED: return HV(tapir_scheduler_retain(SC(h)));
  case K_CTS: return HV(tapir_cancel_source_retain(CS(h)));
  case K_TOKEN: return HV(tapir_cancel_token_retain(TO(h)));
  case K_CREG: return HV(tapir_cancel_registration_retain(CR(h)));
  default: return HV(tapir_progress_retain(PG(h)));
  }
}

static void release_ok(int kind, uint64_t h, const char *why) {
  int32_t st = CALL(tp_release(kind, h));
  if (st != TAPIR_STATUS_OK)
    failf("releasing a %s reference the fuzzer owns (%s) returned %s", kname[kind], why, stname(st));
}

/* A reference a record holds that is not in the model (kind | 0x100 in the list). */
#define DEF_UNMODELED 0x100

/* Releases what the deferred list holds: references dying records owned. */
static void drain_deferred(int max) {
  for (int n = 0; n < max; n++) {
    pthread_mutex_lock(&g_dmu);
    if (!g_ndef) {
      pthread_mutex_unlock(&g_dmu);
      return;
    }
    dref d = g_def[--g_ndef];
    pthread_mutex_unlock(&g_dmu);
    LOG("deferred release %s %#" PRIx64, kname[d.kind & 0xFF], d.h);
    if (d.kind & DEF_UNMODELED) release_ok(d.kind & 0xFF, d.h, "deferred");
    else release_ext(d.kind & 0xFF, d.h, "deferred");
  }
}

/* ================================================================ checks on what tapir hands back */

static atomic_ullong g_dangling; /* forwarded values read after their owner's destroy */

static void check_value_d(uint64_t h, void *v, const char *how, int depth);

static void check_flat(uint64_t h, void *v, const char *how, int depth) {
  char prov[96] = "";
  int vk;
  uint64_t key;
  bool dead = false;
  if (is_rec_value(v)) {
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_decode(v, NULL);
    if (!r) {
      pthread_mutex_unlock(&g_lmu);
      atomic_fetch_add(&g_dangling, 1);
      LOG("%s: value %p of %#" PRIx64 " belongs to a recycled record", how, v, h);
      return;
    }
    if (r->kind != RK_VALUE) {
      const char *w = r->what;
      pthread_mutex_unlock(&g_lmu);
      failf("%s: task %#" PRIx64 " reports value %p, which is user data given to %s, not a value", how, h, v, w);
    }
    if (r->state == RS_REFUSED) {
      pthread_mutex_unlock(&g_lmu);
      failf("%s: task %#" PRIx64 " reports value %p whose set_result had been refused", how, h, v);
    }
    dead = r->state == RS_DEAD;
    key = r->origin;
    vk = VK_ORIGIN;
    snprintf(prov, sizeof prov, " (a value record made by %s at op %llu)", r->tname ? r->tname : "?", r->op);
    pthread_mutex_unlock(&g_lmu);
  } else if (is_plain_value(v)) {
    vk = VK_TAG;
    key = (uint64_t)(uintptr_t)v >> 32;
  } else {
    vk = VK_RAW;
    key = (uint64_t)(uintptr_t)v;
  }
  L();
  tinfo *t = ti_get(h, false);
  bool structured = t && t->ctype != CT_NONE;
  int res = structured ? LN_UNKNOWN : lineage_l(h, vk, key, (uint64_t)(uintptr_t)v);
  U();
  if (structured && depth < 2) {
    check_value_d(h, v, how, depth + 1);
    return;
  }
  if (res == LN_UNKNOWN) {
    atomic_fetch_add_explicit(&g_reads_unchecked, 1, memory_order_relaxed);
    return;
  }
  atomic_fetch_add_explicit(&g_reads_checked, 1, memory_order_relaxed);
  if (res == LN_BAD) {
    char d1[400], d2[400];
    L();
    ti_describe_l(h, d1, sizeof d1);
    if (vk == VK_ORIGIN) ti_describe_l(key, d2, sizeof d2);
    else snprintf(d2, sizeof d2, "(not a record)");
    U();
    LOG("lineage: reader %s", d1);
    LOG("lineage: origin %s", d2);
    failf("%s: task %#" PRIx64 " holds value %p%s (origin %#" PRIx64 "), which the fuzzer set neither on "
          "it nor on any task it forwards from",
          how, h, v, prov, vk == VK_ORIGIN ? key : 0);
  }
  if (dead) {
    if (vk == VK_ORIGIN && key == h)
      failf("%s: the value %p of task %#" PRIx64 " was destroyed while the fuzzer still holds the task", how, v, h);
    atomic_fetch_add(&g_dangling, 1);
  }
}

static void check_value_d(uint64_t h, void *v, const char *how, int depth) {
  uint64_t in[TI_E];
  int ctype, nin;
  L();
  tinfo *t = ti_get(h, false);
  ctype = t ? t->ctype : CT_NONE;
  nin = t ? t->nin : 0;
  if (t) memcpy(in, t->in, sizeof in);
  U();
  switch (ctype) {
  case CT_NONE: check_flat(h, v, how, depth); return;
  case CT_ANY:
    if ((uintptr_t)v >= (uintptr_t)nin)
      failf("%s: when_any task %#" PRIx64 " reports winner index %" PRIuPTR " of %d inputs", how, h, (uintptr_t)v, nin);
    return;
  case CT_ALL:
  case CT_FIRSTERR:
    if (nin == 0 || nin > TI_E) return;
    if (!v) failf("%s: when_all task %#" PRIx64 " succeeded with a NULL value array", how, h);
    for (int j = 0; j < nin; j++) check_flat(in[j], ((void *const *)v)[j], how, depth + 1);
    return;
  case CT_SETTLED:
    if (nin == 0 || nin > TI_E) return;
    if (!v) failf("%s: when_all_settled task %#" PRIx64 " succeeded with a NULL array", how, h);
    for (int j = 0; j < nin; j++) {
      uint64_t e = (uint64_t)(uintptr_t)((void *const *)v)[j];
      if (e != in[j])
        failf("%s: when_all_settled %#" PRIx64 " slot %d holds %#" PRIx64 ", the input was %#" PRIx64, how, h, j, e, in[j]);
      int32_t s = CALL(tapir_task_get_status(TK(e)));
      if (s != TAPIR_TASK_STATUS_SUCCEEDED && s != TAPIR_TASK_STATUS_FAULTED && s != TAPIR_TASK_STATUS_CANCELED)
        failf("%s: when_all_settled %#" PRIx64 " slot %d: input %#" PRIx64 " (kept alive by the settled task) "
              "has status %d",
              how, h, j, e, s);
    }
    return;
  }
}

static void check_value(uint64_t h, void *v, const char *how) { check_value_d(h, v, how, 0); }

#define FZ_CODE_MIN 1000
#define FZ_CODE_MAX 9999

/* An error handle the caller holds (or was lent): its parts must be consistent. */
static void check_error(uint64_t e, const char *how) {
  int32_t code = CALL(tapir_error_code(ER(e)));
  size_t len = 12345;
  const uint8_t *msg = CALL(tapir_error_message(ER(e), &len));
  void *payload = CALL(tapir_error_payload(ER(e)));
  (void)CALL(tapir_error_inner_count(ER(e)));
  if (code == 0 || !msg)
    failf("%s: error %#" PRIx64 " that the fuzzer holds reads as invalid (code %d, message %p, last status %s)",
          how, e, code, (const void *)msg, stname(CALL(tapir_last_status())));
  if (code >= FZ_CODE_MIN && code <= FZ_CODE_MAX) {
    if (len) {
      char want1[32], want2[32];
      snprintf(want1, sizeof want1, "fz:%d", code);
      snprintf(want2, sizeof want2, "fzA:%d", code);
      if (!((len == strlen(want1) && !memcmp(msg, want1, len)) || (len == strlen(want2) && !memcmp(msg, want2, len))))
        failf("%s: error %#" PRIx64 " has code %d but message '%.*s' (another error's parts)", how, e, code,
              (int)(len > 40 ? 40 : len), (const char *)msg);
    }
    if (payload) {
      pthread_mutex_lock(&g_lmu);
      rec *r = rec_decode(payload, NULL);
      int ok = r && r->kind == RK_PAYLOAD && r->code == code;
      int st = r ? r->state : -1;
      pthread_mutex_unlock(&g_lmu);
      if (!ok || st == RS_DEAD || st == RS_REFUSED)
        failf("%s: error %#" PRIx64 " (code %d) carries payload %p that is %s", how, e, code, payload,
              !r ? "not a live payload record" : !ok ? "another error's payload" : "already destroyed");
    }
  } else if (code < 1 || code > 15) {
    failf("%s: error %#" PRIx64 " has code %d, which neither the fuzzer nor tapir's status table uses", how, e, code);
  }
}

/* The scheduler a callback runs on, as tapir_scheduler_current() reports it. */
static void check_current(const rec *r, const char *fn) {
  const tapir_scheduler *cur = CALL(tapir_scheduler_current());
  if (r->sched_check && HV(cur) != r->sched_h)
    failf("%s ran with tapir_scheduler_current() = %#" PRIx64 ", but it was registered to run on %#" PRIx64, fn,
          HV(cur), r->sched_h);
  if (cur) release_ok(K_SCHED, HV(cur), "tapir_scheduler_current");
}

/* ================================================================ the foreign scheduler */

typedef struct fsched {
  pthread_mutex_t mu;
  tapir_work **q;
  int n, cap;
  void *ud;            /* its ledger record (NULL: created without destroy) */
  atomic_int destroyed;
  atomic_llong posts, ran, discarded;
} fsched;
#define MAXFS 4096
static fsched *g_fs[MAXFS];
static atomic_int g_nfs;

static void fs_run(tapir_work *w, bool discard) {
  int32_t st = discard ? CALL(tapir_work_discard(w)) : CALL(tapir_work_run(w));
  if (st != TAPIR_STATUS_OK) failf("tapir_work_%s on a posted work item returned %s", discard ? "discard" : "run", stname(st));
}

static void fs_post(void *ctx, tapir_work *w) {
  fsched *f = ctx;
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  atomic_fetch_add(&f->posts, 1);
  if (atomic_load(&f->destroyed)) failf("a foreign scheduler's post ran after its destroy");
  if (!w) failf("a foreign scheduler's post received a NULL work item");
  unsigned r = rn(100);
  LOG("foreign post %p -> %s", (void *)w, r < 20 ? "run now" : r < 30 ? "discard now" : "defer");
  if (r < 20 && me()->depth < 4) {
    me()->depth++;
    atomic_fetch_add(&f->ran, 1);
    fs_run(w, false);
    me()->depth--;
  } else if (r < 30) {
    atomic_fetch_add(&f->discarded, 1);
    fs_run(w, true);
  } else {
    pthread_mutex_lock(&f->mu);
    if (f->n == f->cap) {
      f->cap = f->cap ? f->cap * 2 : 16;
      f->q = realloc(f->q, (size_t)f->cap * sizeof *f->q);
      if (!f->q) abort();
    }
    f->q[f->n++] = w;
    pthread_mutex_unlock(&f->mu);
  }
}

static void fs_destroy(void *ctx) {
  fsched *f = ctx;
  LOG("foreign destroy %p", ctx);
  if (atomic_exchange(&f->destroyed, 1)) failf("a foreign scheduler's destroy ran twice");
  if (f->ud) fz_destroy(f->ud);
  else failf("tapir called a foreign scheduler's destroy, which was NULL in its vtable");
}

/* Runs or discards up to `max` deferred items of one foreign scheduler; returns how many. */
static int fs_pump(fsched *f, int max, int discard_pct) {
  int done = 0;
  while (done < max) {
    pthread_mutex_lock(&f->mu);
    if (!f->n) {
      pthread_mutex_unlock(&f->mu);
      break;
    }
    int k = (int)rn((unsigned)f->n);
    tapir_work *w = f->q[k];
    f->q[k] = f->q[--f->n];
    pthread_mutex_unlock(&f->mu);
    bool discard = pct((unsigned)discard_pct);
    LOG("foreign pump %p %s", (void *)w, discard ? "discard" : "run");
    if (discard) atomic_fetch_add(&f->discarded, 1);
    else atomic_fetch_add(&f->ran, 1);
    fs_run(w, discard);
    done++;
  }
  return done;
}

static int fs_pump_all(int discard_pct) {
  int n = atomic_load(&g_nfs), done = 0;
  for (int i = 0; i < n; i++)
    if (g_fs[i]) done += fs_pump(g_fs[i], 1 << 20, discard_pct);
  return done;
}

/* ================================================================ the unobserved-error hook */

static int g_hook_tag1, g_hook_tag2;
static atomic_ullong g_hook_calls;

static void hook_fn(void *ud, uint64_t task_id, const tapir_error *const *errors, size_t count) {
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  atomic_fetch_add(&g_hook_calls, 1);
  if (ud != &g_hook_tag1 && ud != &g_hook_tag2) failf("unobserved-error hook got user_data %p it was not installed with", ud);
  if (task_id == 0) failf("unobserved-error hook called with task id 0 (ids are never 0)");
  if (count == 0 || !errors) failf("unobserved-error hook called with %zu errors at %p", count, (const void *)errors);
  LOG("hook task %#" PRIx64 " errors %zu", task_id, count);
  for (size_t i = 0; i < count && i < 4; i++) check_error(HV(errors[i]), "unobserved-error hook (lent error)");
}

/* ================================================================ callbacks */

enum { ACT_NONE, ACT_QUERY, ACT_RELEASE_OWN, ACT_OP, ACT_REGISTER_MORE, ACT_N };
static const char *actname[] = {"none", "query", "release-own", "random-op", "register-more"};
enum { NX_RESULT, NX_ERROR, NX_CANCEL, NX_LEAVE, NX_PUBLISH, NX_FROM_ANT, NX_FROM_RANDOM, NX_TWICE, NX_N };
static const char *nxname[] = {"result", "error", "cancel", "leave", "publish", "from-antecedent",
                               "from-random", "twice"};

static void run_random_op(void);
static harg a_make(int kind);
static int acq_begin(uint64_t h);
static void acq_end(int i, uint64_t h);
static void acq_drop_l(int i, uint64_t h);
static uint64_t make_error_h(void);
static uint64_t make_error_code(int32_t code, uint64_t *payload_out);
static int32_t fz_code(void);
static void reg_on_lent(uint64_t task, int depth);

static const char *famname[FAM_N] = {"source", "task", "wait", "cont", "unwrap", "comb", "waitasync",
                                     "retry", "noo", "throttle", "cancel", "creg", "delay", "sched",
                                     "foreign", "run", "error", "progress", "misc", "hook", "shutdown",
                                     "race", "racerel", "misuse", "cbops", "panic", "lent", "fromtask", "waitany", "stalects", "staletoken", "kindct", "manual", "forever", "linked", "ownrel", "stalereg", "prims", "diag", "host"};

static void cb_begin(const rec *r, const char *fn) {
  thr *t = me();
  tl_opname = r->what;
  t->depth++;
  t->rng = mix64(r->seed ^ (uint64_t)r->calls);
  LOG("cb %s (%s) action %s depth %d", fn, r->what, actname[r->action], t->depth);
}
static void cb_end(void) { me()->depth--; }

/* A lent task handle must stay valid for the whole callback. */
static void check_lent_task(uint64_t t, const char *fn, bool must_be_final) {
  int32_t s = CALL(tapir_task_get_status(TK(t)));
  if (s == TAPIR_TASK_STATUS_INVALID_HANDLE && !fam_on(FAM_LENT)) return; /* excluded: lent handles may fail */
  if (s == TAPIR_TASK_STATUS_INVALID_HANDLE)
    failf("%s: the task handle %#" PRIx64 " lent to the callback is invalid inside it (last status %s)", fn, t,
          stname(CALL(tapir_last_status())));
  if (must_be_final && s == TAPIR_TASK_STATUS_PENDING)
    failf("%s: the completed task %#" PRIx64 " it was called for reads as pending", fn, t);
}

static void do_action(const rec *r, uint64_t lent_task, const char *fn) {
  switch (r->action) {
  case ACT_QUERY:
    if (lent_task) check_lent_task(lent_task, fn, true);
    break;
  case ACT_RELEASE_OWN:
    for (int k = 0; k < 2; k++)
      if (r->own[k]) {
        LOG("%s releases its own %s %#" PRIx64, fn, kname[r->own_kind[k]], r->own[k]);
        release_ext(r->own_kind[k], r->own[k], "owned by a callback");
      }
    /* the callback dropped its own last reference: the lent handle must still work */
    if (lent_task && fam_on(FAM_LENT)) check_lent_task(lent_task, fn, true);
    return;
  case ACT_OP:
    if (r->depth < 3 && !atomic_load(&g_teardown) && fam_on(FAM_CBOPS)) run_random_op();
    break;
  case ACT_REGISTER_MORE:
    if (lent_task && r->depth < 3 && !atomic_load(&g_teardown)) reg_on_lent(lent_task, r->depth + 1);
    break;
  default: break;
  }
  /* references the callback owns and did not release above go back to the model */
  for (int k = 0; k < 2; k++)
    if (r->own[k]) model_unext(r->own_kind[k], r->own[k]);
}

static void cb_on_complete(void *ud, const tapir_task *t) {
  rec r;
  rec_enter(ud, "on_complete callback", &r);
  cb_begin(&r, "on_complete");
  if (HV(t) != r.origin)
    failf("on_complete callback received task %#" PRIx64 "; it was registered on %#" PRIx64, HV(t), r.origin);
  check_current(&r, "on_complete callback");
  check_lent_task(HV(t), "on_complete callback", true);
  do_action(&r, HV(t), "on_complete callback");
  cb_end();
  /* The callback owns its user data: it frees it (tapir must not call destroy after it;
   * a second destroy is caught there). */
  if (r.frees) fz_destroy(ud);
}

/* Completes a source lent to a callback (a continuation's `next`, tapir_run's
 * source) the way the record says. `t` is its task; `loose` when something else may
 * complete it concurrently (a continuation token). */
static void complete_lent(const rec *r, const tapir_source *src, uint64_t t, uint64_t ant, bool loose, const char *fn) {
  uint32_t ok_or = loose ? S(OK) | S(ALREADY_COMPLETED) : S(OK);
  int32_t st;
  uint32_t ri;
  switch (r->nx) {
  case NX_RESULT:
  case NX_TWICE: {
    void *v = val_new(t, pct(70), &ri);
    st = CALL(tapir_source_set_result(src, v, ri == UINT32_MAX ? NULL : fz_destroy));
    LOG("%s set_result(next %#" PRIx64 ", %p) -> %s", fn, HV(src), v, stname(st));
    check_st("tapir_source_set_result (lent source)", st, D_BASE | S(ALREADY_COMPLETED), ok_or);
    val_settle(ri, st == TAPIR_STATUS_OK, "tapir_source_set_result", st);
    if (r->nx == NX_TWICE) {
      void *v2 = val_new(t, true, &ri);
      bool won = CALL(tapir_source_try_set_result(src, v2, fz_destroy));
      LOG("%s second try_set_result -> %d", fn, won);
      if (won) failf("%s: a second completion of a lent source succeeded", fn);
      val_settle(ri, false, "tapir_source_try_set_result (second)", TAPIR_STATUS_ALREADY_COMPLETED);
    }
    break;
  }
  case NX_ERROR: {
    uint64_t e = make_error_h();
    if (!e) break;
    st = CALL(tapir_source_set_error(src, ER(e)));
    LOG("%s set_error(next) -> %s", fn, stname(st));
    check_st("tapir_source_set_error (lent source)", st, D_BASE | S(ALREADY_COMPLETED), ok_or);
    release_ok(K_ERROR, e, "error made in a callback");
    break;
  }
  case NX_CANCEL:
    st = CALL(tapir_source_set_canceled(src, NULL));
    LOG("%s set_canceled(next) -> %s", fn, stname(st));
    check_st("tapir_source_set_canceled (lent source)", st, D_BASE | S(ALREADY_COMPLETED), ok_or);
    break;
  case NX_LEAVE: break;
  case NX_PUBLISH: {
    if (atomic_load(&g_teardown)) break;
    uint64_t again = HV(CALL(tapir_source_retain(src)));
    if (again != HV(src)) failf("%s: tapir_source_retain of the lent source returned %#" PRIx64, fn, again);
    L();
    int i = m_add_l(K_SOURCE, again, SRC_LENT);
    if (i >= 0) {
      g_slots[i].lent = 1;
      g_slots[i].aux = t;
    }
    U();
    if (i < 0) release_ok(K_SOURCE, again, "model full");
    LOG("%s published its source %#" PRIx64, fn, again);
    break;
  }
  case NX_FROM_ANT:
  case NX_FROM_RANDOM: {
    harg x;
    if (!fam_on(FAM_FROMTASK)) break;
    if (r->nx == NX_FROM_ANT && ant) {
      x = a_none(fam_on(FAM_LENT) ? AC_LIVE : AC_LOOSE);
      x.h = ant;
    } else {
      x = a_live(K_TASK);
      if (!x.h) break;
      if (!dep_claim(t, x.h)) { /* next's task would wait on itself, or on a task that may never complete */
        a_done(&x);
        break;
      }
    }
    never_from(t, x.h, false);
    ti_from(t, FM_TASK, x.h);
    st = CALL(tapir_source_set_from_task(src, TK(x.h)));
    LOG("%s set_from_task(next, %#" PRIx64 ") -> %s", fn, x.h, stname(st));
    a_done(&x);
    check_st("tapir_source_set_from_task (lent source)", st, D_BASE | S(ALREADY_COMPLETED),
             expect(a_flt(&x, true), ok_or));
    break;
  }
  }
}

static void cb_continue(void *ud, const tapir_task *ant, const tapir_source *next) {
  rec r;
  rec_enter(ud, "continuation", &r);
  cb_begin(&r, "continue_with");
  if (HV(ant) != r.origin)
    failf("continuation received antecedent %#" PRIx64 "; it was registered on %#" PRIx64, HV(ant), r.origin);
  check_current(&r, "continuation");
  check_lent_task(HV(ant), "continuation", true);
  const tapir_task *c = (const tapir_task *)(uintptr_t)SENT;
  int32_t st = CALL(tapir_source_task(next, &c));
  if (st != TAPIR_STATUS_OK) failf("continuation: tapir_source_task(next) on the lent source returned %s", stname(st));
  complete_lent(&r, next, HV(c), HV(ant), r.has_token, "continuation");
  release_ok(K_TASK, HV(c), "continuation task read inside the callback");
  do_action(&r, HV(ant), "continuation");
  cb_end();
}

static void cb_run(void *ud, const tapir_source *src) {
  rec r;
  rec_enter(ud, "tapir_run work", &r);
  cb_begin(&r, "run");
  check_current(&r, "tapir_run work");
  const tapir_task *t = (const tapir_task *)(uintptr_t)SENT;
  int32_t st = CALL(tapir_source_task(src, &t));
  if (st != TAPIR_STATUS_OK) failf("tapir_run work: tapir_source_task(source) on the lent source returned %s", stname(st));
  complete_lent(&r, src, HV(t), 0, false, "tapir_run work");
  release_ok(K_TASK, HV(t), "run task read inside the work");
  do_action(&r, 0, "tapir_run work");
  cb_end();
}

static void cb_work(void *ud) {
  rec r;
  rec_enter(ud, "posted work", &r);
  cb_begin(&r, "work");
  check_current(&r, "posted work");
  do_action(&r, 0, "posted work");
  cb_end();
}

static const tapir_error *cb_cancel(void *ud) {
  rec r;
  rec_enter(ud, "cancel callback", &r);
  cb_begin(&r, "cancel");
  /* own[1] is this callback's own registration: removing it from inside must
   * report it as running, and the waiting form must not wait for itself */
  if (r.own[1] && r.own_kind[1] == K_CREG) {
    int32_t st = CALL(tapir_cancel_registration_unregister(CR(r.own[1])));
    check_st("tapir_cancel_registration_unregister (own, from inside)", st, D_BASE | S(ALREADY_COMPLETED),
             S(ALREADY_COMPLETED));
    st = CALL(tapir_cancel_registration_unregister_wait(CR(r.own[1])));
    check_st("tapir_cancel_registration_unregister_wait (own, from inside)", st, D_BASE | S(ALREADY_COMPLETED),
             S(ALREADY_COMPLETED));
    release_ext(K_CREG, r.own[1], "own cancel registration");
    r.own[1] = 0;
  }
  do_action(&r, 0, "cancel callback");
  const tapir_error *e = NULL;
  if (r.nx == NX_ERROR) e = ER(make_error_code(r.code ? r.code : fz_code(), NULL));
  cb_end();
  return e;
}

static void cb_progress(void *ud, void *value) {
  rec r;
  rec_enter(ud, "progress handler", &r);
  cb_begin(&r, "progress");
  check_current(&r, "progress handler");
  if (is_rec_value(value)) {
    pthread_mutex_lock(&g_lmu);
    rec *v = rec_decode(value, NULL);
    int st = v ? v->state : -1;
    int kind = v ? v->kind : -1;
    pthread_mutex_unlock(&g_lmu);
    if (!v || kind != RK_VALUE || st == RS_DEAD || st == RS_REFUSED)
      failf("progress handler received value %p that is %s", value,
            !v ? "not a live record" : kind != RK_VALUE ? "not a value" : st == RS_DEAD ? "already destroyed" : "refused");
  } else if (!is_plain_value(value) && value) {
    failf("progress handler received value %p that no report sent", value);
  }
  do_action(&r, 0, "progress handler");
  cb_end();
}

/* ---------------------------------------------------------------- factories */

enum { FS_RETRY, FS_THROTTLE, FS_NOO };
typedef struct fstate {
  int mode;
  uint32_t count, max, next, gates;
  uint64_t gid;       /* origin id of the values factories set */
  uint64_t prev;      /* retry: the previous attempt (a reference) */
  uint64_t held[8];   /* throttle: references to returned tasks */
  int nheld;
  uint64_t prod[TI_E]; /* tasks whose values the result may carry */
  int nprod;
  uint64_t result;    /* the combinator's task, once known */
  uint64_t pend[8];   /* pending tasks factories returned before the result was known */
  int npend;
  uint64_t seen;      /* need_only_one: indices called */
  pthread_t owner;
} fstate;

/* The references a factory's state holds go to the deferred list (lock g_lmu held). */
static void factory_ext_release(void *ext) {
  fstate *f = ext;
  if (f->prev) defer_release(K_TASK | DEF_UNMODELED, f->prev);
  f->prev = 0;
  for (int k = 0; k < f->nheld; k++) defer_release(K_TASK | DEF_UNMODELED, f->held[k]);
  f->nheld = 0;
}

static void fst_add_prod(fstate *f, uint64_t t) {
  /* under g_lmu; the edge result -> t is added now if the result is known */
  uint64_t res = f->result;
  if (f->nprod < TI_E) f->prod[f->nprod++] = t;
  else f->nprod = TI_E + 1;
  if (res) {
    pthread_mutex_unlock(&g_lmu);
    ti_from(res, FM_TASK, t);
    pthread_mutex_lock(&g_lmu);
  }
}

/* A task for a factory to return: which kind is random. */
static uint64_t factory_task(fstate *f, uint64_t gid, const tapir_cancel_token *tok, bool *unmodeled_prod) {
  const tapir_task *t = NULL;
  int32_t st;
  uint32_t ri;
  unsigned r = rn(100);
  *unmodeled_prod = false;
  if (r < 30) {
    uint64_t e = make_error_h();
    if (!e) return 0;
    st = CALL(tapir_task_from_error(ER(e), &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_task_from_error (in a factory) returned %s", stname(st));
    release_ok(K_ERROR, e, "factory error");
  } else if (r < 55) {
    void *v = val_new(gid, pct(60), &ri);
    st = CALL(tapir_task_from_result(v, ri == UINT32_MAX ? NULL : fz_destroy, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_task_from_result (in a factory) returned %s", stname(st));
    val_settle(ri, true, "tapir_task_from_result", st);
  } else if (r < 75) {
    st = CALL(tapir_delay((int64_t)rn(3), tok, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_delay (in a factory) returned %s", stname(st));
  } else if (r < 95 && !atomic_load(&g_teardown)) {
    /* a pending source, published to the model: random ops (or teardown) complete it */
    const tapir_source *s = NULL;
    st = CALL(tapir_source_new(0, NULL, &s));
    if (st != TAPIR_STATUS_OK) failf("tapir_source_new (in a factory) returned %s", stname(st));
    st = CALL(tapir_source_task(s, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_source_task (in a factory) returned %s", stname(st));
    /* the combinator's task waits on this one, which random ops may forward from
     * anything once its source is in the model: the waits-on graph must know first,
     * or they could close a cycle */
    pthread_mutex_lock(&g_lmu);
    uint64_t res = f->result;
    if (!res && f->npend < 8) f->pend[f->npend++] = HV(t);
    else if (!res) f->npend = 9;
    pthread_mutex_unlock(&g_lmu);
    if (res) dep_add(res, HV(t));
    L();
    ti_new_l(HV(t));
    int i = m_add_l(K_SOURCE, HV(s), SRC_MADE);
    if (i >= 0) {
      g_slots[i].aux = HV(t);
      g_slots[i].task_lent = 1;
    }
    U();
    if (i < 0) release_ok(K_SOURCE, HV(s), "model full");
    *unmodeled_prod = true;
  } else {
    return 0; /* the item fails with INVALID_STATE */
  }
  return HV(t);
}

static void fst_note_task(uint32_t idx_unused, fstate *f, uint64_t t, bool prod) {
  (void)idx_unused;
  pthread_mutex_lock(&g_lmu);
  if (prod) fst_add_prod(f, t);
  pthread_mutex_unlock(&g_lmu);
}

static const tapir_task *cb_factory(void *ud, uint32_t i) {
  rec r;
  rec_enter(ud, "factory", &r);
  cb_begin(&r, "factory");
  fstate *f = r.ext;
  pthread_mutex_lock(&g_lmu);
  uint32_t want = f->next;
  uint64_t prev = f->prev;
  uint64_t held[8];
  int nheld = f->nheld;
  memcpy(held, f->held, sizeof held);
  bool dup = i < 64 && (f->seen >> i) & 1;
  if (i < 64) f->seen |= 1ull << i;
  if (f->mode == FS_RETRY && i == want) f->next++;
  if (f->mode == FS_THROTTLE && i >= f->next) f->next = i + 1;
  f->prev = 0;
  pthread_mutex_unlock(&g_lmu);
  const char *who = f->mode == FS_RETRY ? "tapir_retry_on_fault" : "tapir_for_each_throttled";
  /* retry: attempts strictly in order; throttle: each index once (two completions on
   * two threads may start items concurrently) */
  if (f->mode == FS_RETRY && i != want) failf("%s called its factory for attempt %u; the next expected was %u", who, i, want);
  if (dup) failf("%s called its factory for index %u a second time", who, i);
  if (i >= f->count) failf("%s called its factory for index %u of %u", who, i, f->count);
  if (f->mode == FS_RETRY && prev) {
    int32_t s = CALL(tapir_task_get_status(TK(prev)));
    if (s == TAPIR_TASK_STATUS_PENDING || s < 0)
      failf("tapir_retry_on_fault called the factory for attempt %u while attempt %u was %s", i, i - 1,
            s < 0 ? "invalid" : "still pending");
    release_ok(K_TASK, prev, "previous retry attempt");
  }
  if (f->mode == FS_THROTTLE) {
    int pending = 0;
    for (int k = 0; k < nheld; k++) pending += CALL(tapir_task_get_status(TK(held[k]))) == TAPIR_TASK_STATUS_PENDING;
    if (pending >= (int)f->max)
      failf("tapir_for_each_throttled started item %u with %d of its tasks pending (max_in_flight %u)", i, pending, f->max);
  }
  bool prod;
  uint64_t t = factory_task(f, f->gid, NULL, &prod);
  if (t) {
    fst_note_task(0, f, t, prod);
    uint64_t keep = HV(CALL(tapir_task_retain(TK(t))));
    if (keep != t) failf("tapir_task_retain of a fresh task returned %#" PRIx64, keep);
    pthread_mutex_lock(&g_lmu);
    if (f->mode == FS_RETRY) {
      f->prev = keep;
      keep = 0;
    } else if (f->nheld < 8) {
      f->held[f->nheld++] = keep;
      keep = 0;
    }
    pthread_mutex_unlock(&g_lmu);
    if (keep) release_ok(K_TASK, keep, "factory extra");
  }
  LOG("factory %s(%u) -> %#" PRIx64, who, i, t);
  do_action(&r, 0, "factory");
  cb_end();
  return TK(t);
}

static const tapir_task *cb_gate(void *ud, uint32_t attempt) {
  rec r;
  rec_enter(ud, "retry gate", &r);
  cb_begin(&r, "gate");
  fstate *f = r.ext;
  pthread_mutex_lock(&g_lmu);
  f->gates++;
  uint32_t gates = f->gates, next = f->next;
  pthread_mutex_unlock(&g_lmu);
  if (gates > next) failf("tapir_retry_on_fault called its gate %u times after %u attempts", gates, next);
  (void)attempt;
  const tapir_task *t = NULL;
  int32_t st;
  if (pct(8)) {
    uint64_t e = make_error_h();
    st = e ? CALL(tapir_task_from_error(ER(e), &t)) : CALL(tapir_task_completed(&t));
    if (e) release_ok(K_ERROR, e, "gate error");
  } else {
    st = CALL(tapir_delay((int64_t)rn(2), NULL, &t));
  }
  if (st != TAPIR_STATUS_OK) failf("making a gate task returned %s", stname(st));
  cb_end();
  return t;
}

static const tapir_task *cb_noo(void *ud, uint32_t i, const tapir_cancel_token *tok) {
  rec r;
  rec_enter(ud, "need_only_one factory", &r);
  cb_begin(&r, "noo");
  fstate *f = r.ext;
  if (!pthread_equal(pthread_self(), f->owner))
    failf("tapir_need_only_one ran a factory on another thread (the header: on the calling thread)");
  pthread_mutex_lock(&g_lmu);
  bool dup = i < 64 && (f->seen >> i) & 1;
  if (i < 64) f->seen |= 1ull << i;
  pthread_mutex_unlock(&g_lmu);
  if (i >= f->count || dup) failf("tapir_need_only_one called factory index %u %s (count %u)", i, dup ? "twice" : "out of range", f->count);
  if (!CALL(tapir_cancel_token_can_be_canceled(tok)))
    failf("tapir_need_only_one lent its factory token %#" PRIx64 " that cannot be canceled or is invalid (%s)", HV(tok),
          stname(CALL(tapir_last_status())));
  bool prod;
  uint64_t t = factory_task(f, f->gid, tok, &prod);
  if (t) fst_note_task(0, f, t, prod);
  do_action(&r, 0, "need_only_one factory");
  cb_end();
  return TK(t);
}

/* ================================================================ makers */

#define SENTP(type) ((type)(uintptr_t)SENT)

static uint64_t g_gid_next = 1;
static pthread_mutex_t g_gid_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t new_gid(void) {
  pthread_mutex_lock(&g_gid_mu);
  uint64_t g = (1ull << 62) | g_gid_next++;
  pthread_mutex_unlock(&g_gid_mu);
  return g;
}

static bool misuse_on(void) { return fam_on(FAM_MISUSE); }

static harg pin_l(int i) {
  harg a = a_none(AC_LIVE);
  slot *s = &g_slots[i];
  s->pins++;
  a.h = s->h;
  a.s = i;
  a.ep = s->rel_ep;
  a.kind = s->kind;
  return a;
}

/* A fuzzer error (not in the model): code in the fuzzer's range, message "fz:<code>",
 * sometimes a payload record. */
static uint64_t make_error_code(int32_t code, uint64_t *payload_out) {
  char msg[32];
  int len = snprintf(msg, sizeof msg, "fz:%d", code);
  uint32_t pi = UINT32_MAX;
  void *payload = NULL;
  if (pct(40)) {
    pi = rec_new(RK_PAYLOAD, "tapir_error_new payload", 0);
    pthread_mutex_lock(&g_lmu);
    rec_at(pi)->code = code;
    payload = rec_ud(pi);
    pthread_mutex_unlock(&g_lmu);
  }
  const tapir_error *e = SENTP(const tapir_error *);
  int32_t st = CALL(tapir_error_new(code, (const uint8_t *)msg, (size_t)len, payload, payload ? fz_destroy : NULL, &e));
  if (st != TAPIR_STATUS_OK) failf("tapir_error_new with valid arguments returned %s", stname(st));
  if (pi != UINT32_MAX) rec_settle(pi, true, "tapir_error_new", st);
  if (payload_out) *payload_out = HV(payload);
  return HV(e);
}
static int32_t fz_code(void) { return FZ_CODE_MIN + (int32_t)rn(FZ_CODE_MAX - FZ_CODE_MIN + 1); }
static uint64_t make_error_h(void) { return make_error_code(fz_code(), NULL); }

/* A new source in the model; returns its slot (lock not held), with the task slot
 * too when keep_task. */
static _Thread_local uint64_t tl_mk_src, tl_mk_task;

static int mk_source(uint32_t flags, bool keep_task, int *task_slot) {
  const tapir_source *s = NULL;
  const tapir_task *t = NULL;
  uint64_t state = pct(50) ? rnd() : 0;
  int32_t st;
  if (pct(50)) {
    /* the fused call gives the same pair as tapir_source_new + tapir_source_task */
    st = CALL(tapir_source_new_with_task(flags, (void *)(uintptr_t)state, &s, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_source_new_with_task(%u) returned %s", flags, stname(st));
  } else {
    st = CALL(tapir_source_new(flags, (void *)(uintptr_t)state, &s));
    if (st != TAPIR_STATUS_OK) failf("tapir_source_new(%u) returned %s", flags, stname(st));
    st = CALL(tapir_source_task(s, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_source_task on a new source returned %s", stname(st));
  }
  LOG("source_new -> %#" PRIx64 " task %#" PRIx64, HV(s), HV(t));
  L();
  tinfo *ti = ti_new_l(HV(t));
  ti->has_state = 1;
  ti->state = state;
  ti->options = flags;
  int i = m_add_l(K_SOURCE, HV(s), SRC_MADE), j = -1;
  if (i >= 0) {
    g_slots[i].aux = HV(t);
    g_slots[i].aux2 = flags;
  }
  if (keep_task && i >= 0) {
    j = m_add_l(K_TASK, HV(t), 0);
    if (j >= 0) {
      g_slots[j].acqable = 1;
      g_slots[j].aux = HV(s);
    }
  }
  U();
  if (i < 0) release_ok(K_SOURCE, HV(s), "model full");
  if (j < 0) release_ok(K_TASK, HV(t), keep_task ? "model full" : "task not kept");
  if (task_slot) *task_slot = j;
  tl_mk_src = HV(s);
  tl_mk_task = HV(t);
  return i;
}

static harg a_make(int kind) {
  int i = -1;
  const void *h = NULL;
  uint64_t made = 0; /* the handle the new slot holds: the slot index alone may be reused */
  int32_t st = TAPIR_STATUS_OK;
  switch (kind) {
  case K_TASK: {
    if (pct(50)) {
      mk_source(pct(30) ? TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY : 0, true, &i);
      made = tl_mk_task;
      break;
    }
    const tapir_task *t = NULL;
    uint32_t ri = UINT32_MAX;
    bool delay = pct(40);
    if (delay) st = CALL(tapir_delay((int64_t)rn(4), NULL, &t));
    else {
      void *v = val_new(0, pct(60), &ri);
      st = CALL(tapir_task_from_result(v, ri == UINT32_MAX ? NULL : fz_destroy, &t));
      if (st == TAPIR_STATUS_OK) {
        val_set_origin(ri, HV(t));
        if (ri == UINT32_MAX) ti_from(HV(t), FM_ID, HV(v));
      }
      val_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_from_result", st);
    }
    if (st != TAPIR_STATUS_OK) failf("making a task returned %s", stname(st));
    LOG("made task %#" PRIx64 " (%s)", HV(t), delay ? "delay" : "from_result");
    L();
    ti_new_l(HV(t));
    if (delay) ti_from_l(HV(t), FM_ID, 0);
    U();
    L();
    i = m_add_l(K_TASK, HV(t), 0);
    U();
    made = HV(t);
    if (i < 0) release_ok(K_TASK, HV(t), "model full");
    break;
  }
  case K_SOURCE:
    i = mk_source(pct(30) ? TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY : 0, false, NULL);
    made = tl_mk_src;
    break;
  case K_ERROR: {
    uint64_t payload = 0;
    int32_t code = fz_code();
    uint64_t e = make_error_code(code, &payload);
    L();
    i = m_add_l(K_ERROR, e, ERR_MADE);
    if (i >= 0) {
      g_slots[i].code = code;
      g_slots[i].aux2 = payload;
    }
    U();
    made = e;
    if (i < 0) release_ok(K_ERROR, e, "model full");
    break;
  }
  case K_CTS: {
    const tapir_cancel_source *c = NULL;
    st = CALL(tapir_cancel_source_new(&c));
    if (st != TAPIR_STATUS_OK) failf("tapir_cancel_source_new returned %s", stname(st));
    LOG("made cancel source %#" PRIx64, HV(c));
    h = c;
    break;
  }
  case K_TOKEN: {
    const tapir_cancel_token *t = NULL;
    if (pct(20)) st = CALL(tapir_cancel_token_new_canceled(&t));
    else {
      harg c = a_live(K_CTS);
      if (!c.h) c = a_make(K_CTS);
      if (!c.h) return a_none(AC_NONE);
      /* the source hands out the same token value again, also after the fuzzer
       * released every reference to it: an acquisition, as in op_cts_ops */
      uint64_t tk = A_FIELD(&c, aux);
      int ai = acq_begin(tk);
      st = CALL(tapir_cancel_source_token(CS(c.h), &t));
      LOG("made token %#" PRIx64 " of %#" PRIx64 " -> %s", HV(t), c.h, stname(st));
      if (st != TAPIR_STATUS_OK) {
        a_done(&c);
        acq_end(ai, tk);
        if (c.cls == AC_LIVE) failf("tapir_cancel_source_token on a live source returned %s", stname(st));
        return a_none(AC_NONE);
      }
      /* the source stays pinned until the token is in the model: while a call on it is
       * in flight, the token value is one tapir may hand out (s_owner_alive), also when
       * another thread released the token and the source meanwhile (this pick read the
       * source's token before any existed, so no acquisition covers it) */
      L();
      int ci = s_find(c.h);
      if (ci >= 0) g_slots[ci].aux = HV(t);
      i = m_add_l(K_TOKEN, HV(t), TOK_CTS);
      if (i >= 0) {
        g_slots[i].acqable = 1;
        g_slots[i].aux = c.h;
      }
      U();
      acq_end(ai, tk);
      a_done(&c);
      made = HV(t);
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
      break;
    }
    if (st != TAPIR_STATUS_OK) failf("tapir_cancel_token_new_canceled returned %s", stname(st));
    LOG("made canceled token %#" PRIx64, HV(t));
    L();
    i = m_add_l(K_TOKEN, HV(t), TOK_CANCELED);
    if (i >= 0) g_slots[i].canceled = 1;
    U();
    made = HV(t);
    if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    break;
  }
  case K_SCHED: {
    const tapir_scheduler *s = NULL;
    int sub = pct(50) && fam_on(FAM_MANUAL) ? SCH_MANUAL : pct(50) ? SCH_DEFAULT : SCH_INLINE;
    st = sub == SCH_MANUAL ? CALL(tapir_scheduler_new_manual(&s))
         : sub == SCH_DEFAULT ? CALL(tapir_scheduler_default(&s))
                              : CALL(tapir_scheduler_inline(&s));
    if (st != TAPIR_STATUS_OK) failf("making a scheduler returned %s", stname(st));
    L();
    i = m_add_l(K_SCHED, HV(s), sub);
    if (i >= 0 && sub != SCH_MANUAL) g_slots[i].perm = 1;
    U();
    made = HV(s);
    if (i < 0) release_ok(K_SCHED, HV(s), "model full");
    break;
  }
  default: return a_none(AC_NONE);
  }
  if (h) {
    L();
    i = m_add_l(kind, HV(h), 0);
    U();
    made = HV(h);
    if (i < 0) release_ok(kind, HV(h), "model full");
  }
  if (i < 0 || !made) return a_none(AC_NONE);
  /* another thread may have released it meanwhile: pin it only if still held */
  L();
  int j = s_find(made);
  harg a = j >= 0 && g_slots[j].kind == kind && g_slots[j].st == SS_LIVE && g_slots[j].refs > 0 && !g_slots[j].dying
               ? pin_l(j)
               : a_none(AC_NONE);
  U();
  return a;
}

/* The argument for a handle parameter of kind `kind` (or `alt`); `opt` when NULL is
 * a valid choice (none). Mostly a live handle; with the misuse family, sometimes NULL,
 * the wrong kind, a released handle, or a forged value. */
static harg a_pick(int kind, int alt, bool opt) {
  harg a;
  if (misuse_on() && pct((unsigned)g_misuse)) {
    switch (rn(10)) {
    case 0:
    case 1:
      a = a_none(opt ? AC_LIVE : AC_NONE);
      a_note(&a, kind, "NULL");
      return a;
    case 2:
    case 3:
      a = a_wrong(kind, alt);
      if (a.h) {
        L();
        int i = s_find(a.h);
        const char *k = i >= 0 ? kname[g_slots[i].kind] : "?";
        U();
        char why[48];
        snprintf(why, sizeof why, "a live %s (wrong kind)", k);
        a_note(&a, kind, why);
        return a;
      }
      break;
    case 4:
    case 5:
    case 6:
    case 7:
      a = a_grave(kind);
      if (a.h) {
        a_note(&a, kind, a.cls == AC_BAD ? "released for good by the fuzzer" : "released, may be revived");
        return a;
      }
      break;
    default:
      a = a_forged(kind);
      a_note(&a, kind, "forged");
      return a;
    }
  }
  if (opt && pct(30)) {
    a = a_none(AC_LIVE);
    a_note(&a, kind, "NULL (none)");
    return a;
  }
  a = a_live(kind);
  if (!a.h && alt >= 0) a = a_live(alt);
  if (!a.h) a = a_make(kind);
  a_note(&a, kind, "live, held by the fuzzer");
  return a;
}

/* ================================================================ continuation options */

typedef struct {
  tapir_continuation_options o;
  harg sch, tok;
  bool use, maybe_invalid;
  unsigned flt;
  uint8_t sched_check;
  uint64_t sched_h;
  bool has_token;
} copts;

#define CF_ALL ((1u << 10) - 1)
static bool flags_contradictory(uint32_t f) {
  uint32_t not = f & (TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED | TAPIR_CONTINUATION_NOT_ON_CANCELED);
  if (f & TAPIR_CONTINUATION_ONLY_ON_SUCCESS) not |= TAPIR_CONTINUATION_NOT_ON_FAULTED | TAPIR_CONTINUATION_NOT_ON_CANCELED;
  if (f & TAPIR_CONTINUATION_ONLY_ON_FAULTED) not |= TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_CANCELED;
  if (f & TAPIR_CONTINUATION_ONLY_ON_CANCELED) not |= TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED;
  return not == (TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED | TAPIR_CONTINUATION_NOT_ON_CANCELED);
}

static int sched_sub_of(uint64_t h) {
  L();
  int i = s_find(h);
  int sub = i >= 0 ? g_slots[i].sub : -1;
  U();
  return sub;
}

/* Where a callback given scheduler `h` (0: the default pool) must run, as
 * tapir_scheduler_current() reports it; no check for inline or unknown ones. */
static void sched_expect(uint64_t h, bool sync, uint8_t *check, uint64_t *want) {
  *check = 0;
  *want = 0;
  if (sync) return;
  if (!h) {
    *check = 1;
    *want = g_default_h;
    return;
  }
  int sub = sched_sub_of(h);
  if (sub == SCH_MANUAL || sub == SCH_FOREIGN || sub == SCH_DEFAULT) {
    *check = 1;
    *want = h;
  }
}

static void copts_make(copts *c) {
  memset(c, 0, sizeof *c);
  c->sch = a_none(AC_LIVE);
  c->tok = a_none(AC_LIVE);
  if (pct(30)) {
    sched_expect(0, false, &c->sched_check, &c->sched_h);
    return;
  }
  c->use = true;
  uint32_t f = 0;
  unsigned r = rn(100);
  bool mis = misuse_on();
  if (r < 35) f = 0;
  else if (r < 55) f = TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY;
  else if (r < 65) f = TAPIR_CONTINUATION_ONLY_ON_SUCCESS << rn(3);
  else if (r < 72) f = TAPIR_CONTINUATION_NOT_ON_SUCCESS << rn(3);
  else if (r < 77) f = TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY | (pct(50) ? TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY : 0);
  else if (r < 81) f = TAPIR_CONTINUATION_LAZY_CANCELLATION | (pct(50) ? TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY : 0);
  else if (r < 84) f = TAPIR_CONTINUATION_LONG_RUNNING;
  else if (r < 88 && mis) f = 1u << (11 + rn(20));
  else if (r < 91 && mis) f = TAPIR_CONTINUATION_LONG_RUNNING | TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY;
  else f = (uint32_t)rnd() & CF_ALL;
  if (f & ~CF_ALL) c->flt |= F_INV;
  else if ((f & TAPIR_CONTINUATION_LONG_RUNNING) && (f & TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY)) c->flt |= F_INV;
  else if (flags_contradictory(f)) c->maybe_invalid = true;
  c->o.flags = f;
  c->o.struct_size = sizeof c->o;
  if (pct(5)) c->o.struct_size = 8; /* flags only: scheduler and token read as NULL */
  else if (mis && pct(3)) {
    c->o.struct_size = rn(2) ? 4 : 0;
    c->maybe_invalid = true;
  }
  if (pct(55)) c->sch = a_pick(K_SCHED, -1, true);
  if (pct(30)) c->tok = a_pick(K_TOKEN, -1, true);
  if (c->o.struct_size >= 16) c->o.scheduler = SC(c->sch.h);
  if (c->o.struct_size >= 24) c->o.token = TO(c->tok.h);
  a_lend(&c->sch);
  a_lend(&c->tok);
  c->has_token = c->o.token != NULL;
  bool sync = (f & (TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY | TAPIR_CONTINUATION_LONG_RUNNING)) != 0;
  sched_expect(HV(c->o.scheduler), sync, &c->sched_check, &c->sched_h);
}

static void copts_done(copts *c) {
  a_done(&c->sch);
  a_done(&c->tok);
  if (c->o.scheduler) c->flt |= a_flt(&c->sch, false);
  if (c->o.token) c->flt |= a_flt(&c->tok, false);
}

static uint32_t copts_allowed(const copts *c, unsigned flt, uint32_t normal) {
  uint32_t a = expect(flt | c->flt, normal);
  if (c->maybe_invalid) a |= S(INVALID_ARGUMENT);
  return a;
}

/* ================================================================ source ops */

#define D_SOURCE_NEW (S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT))
#define D_SET (D_BASE | S(ALREADY_COMPLETED))

static void op_source_new(void) {
  bool mis = misuse_on();
  uint32_t flags = mis && pct(5) ? (1u << (1 + rn(30))) : pct(30) ? TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY : 0;
  bool null_out = mis && pct(3);
  if (!(flags & ~1u) && !null_out) {
    mk_source(flags, pct(60), NULL);
    return;
  }
  const tapir_source *s = SENTP(const tapir_source *);
  if (pct(50)) {
    /* the fused call: NULL for either out-parameter (or a bad flag) writes neither */
    const tapir_task *t = SENTP(const tapir_task *);
    bool null_task = null_out ? pct(50) : false, null_src = null_out && !null_task;
    if (null_out && pct(30)) null_src = null_task = true;
    int32_t st = CALL(tapir_source_new_with_task(flags, NULL, null_src ? NULL : &s, null_task ? NULL : &t));
    LOG("source_new_with_task(flags %#x, source out %s, task out %s) -> %s", flags, null_src ? "NULL" : "ok",
        null_task ? "NULL" : "ok", stname(st));
    check_st("tapir_source_new_with_task", st, D_SOURCE_NEW,
             expect((null_out ? F_NULL : 0) | ((flags & ~1u) ? F_INV : 0), S(OK)));
    if ((!null_src && HV(s) != SENT) || (!null_task && HV(t) != SENT))
      failf("tapir_source_new_with_task failed but wrote an out-parameter");
    return;
  }
  int32_t st = CALL(tapir_source_new(flags, NULL, null_out ? NULL : &s));
  LOG("source_new(flags %#x, out %s) -> %s", flags, null_out ? "NULL" : "ok", stname(st));
  check_st("tapir_source_new", st, D_SOURCE_NEW, expect((null_out ? F_NULL : 0) | ((flags & ~1u) ? F_INV : 0), S(OK)));
  if (!null_out && HV(s) != SENT) failf("tapir_source_new failed but wrote its out-parameter");
}

static void op_source_task(void) {
  harg a = a_pick(K_SOURCE, -1, false);
  bool null_out = misuse_on() && pct(3);
  int ti = -1;
  uint64_t th = 0;
  bool lent = true;
  L();
  if (a.s >= 0 && g_slots[a.s].h == a.h) lent = g_slots[a.s].task_lent || g_slots[a.s].sub == SRC_LENT;
  /* also for a released (loose) source: one still valid hands out its task again */
  if (a.s >= 0 && g_slots[a.s].h == a.h) {
    th = g_slots[a.s].aux;
    ti = th ? s_find(th) : -1;
    if (ti >= 0) {
      g_slots[ti].acq++;
      g_slots[ti].acq_ep++;
    }
  }
  U();
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_source_task(SR(a.h), null_out ? NULL : &t));
  LOG("source_task(%#" PRIx64 ") -> %s %#" PRIx64, a.h, stname(st), HV(t));
  a_done(&a);
  check_st("tapir_source_task", st, D_BASE, expect(a_flt(&a, true) | (null_out ? F_NULL : 0), S(OK)));
  if (st != TAPIR_STATUS_OK && !null_out && HV(t) != SENT) failf("tapir_source_task failed but wrote its out-parameter");
  L();
  int j = -1;
  if (st == TAPIR_STATUS_OK) {
    if (th && HV(t) != th) {
      U();
      failf("tapir_source_task(%#" PRIx64 ") returned %#" PRIx64 ", not the source's task %#" PRIx64, a.h, HV(t), th);
    }
    /* a successful call hands out the source's own task (checked above), also when
     * the fuzzer had released every reference to that task and other threads race
     * the source's release: its graveyard entry is no proof of staleness then */
    int k = s_find(HV(t));
    if (k >= 0 && g_slots[k].st == SS_GRAVE) g_slots[k].strict = 0;
    j = m_add_l(K_TASK, HV(t), 0);
    if (j >= 0) {
      g_slots[j].acqable = 1;
      g_slots[j].aux = a.h;
      if (lent) g_slots[j].lent = 1;
    }
  }
  acq_drop_l(ti, th);
  U();
  if (st == TAPIR_STATUS_OK && j < 0) release_ok(K_TASK, HV(t), "model full");
}

/* A value for set_result: a record, a tagged integer, or (for unwrap) a live task. */
static void *pick_value(uint64_t origin_task, uint32_t *ri, harg *taskval) {
  *taskval = a_none(AC_NONE);
  if (pct(12)) {
    *taskval = a_live(K_TASK);
    /* unwrap of origin_task waits on this value: it must not wait on origin_task */
    if (taskval->h && origin_task && !dep_claim(origin_task, taskval->h)) {
      a_done(taskval);
      *taskval = a_none(AC_NONE);
    }
    if (taskval->h) {
      *ri = UINT32_MAX;
      L();
      ti_tv_l(origin_task, taskval->h);
      ti_from_l(origin_task, FM_ID, taskval->h);
      U();
      return (void *)(uintptr_t)taskval->h;
    }
  }
  return val_new(origin_task, pct(70), ri);
}

static void op_source_complete(void) {
  harg a = a_pick(K_SOURCE, -1, false);
  L();
  bool live = a.cls == AC_LIVE && a.s >= 0;
  /* a loose (maybe revived) source may succeed too: its task is known the same way */
  uint64_t task = a.s >= 0 && g_slots[a.s].h == a.h ? g_slots[a.s].aux : 0;
  bool done_before = live && g_slots[a.s].completed && !g_slots[a.s].forwarded;
  U();
  uint32_t normal = done_before ? S(ALREADY_COMPLETED) : S(OK) | S(ALREADY_COMPLETED);
  unsigned how = rn(fam_on(FAM_FROMTASK) ? 9 : 8), flt = a_flt(&a, true);
  bool try_ = how & 1;
  int32_t st = -1;
  bool won = false;
  const char *fn = "?";
  uint32_t documented = D_SET, ri = UINT32_MAX;
  switch (how) {
  case 0:
  case 1: { /* set_result */
    harg tv;
    void *v = pick_value(task ? task : 1, &ri, &tv);
    if (!task) val_set_origin(ri, 0);
    tapir_destroy_fn d = ri == UINT32_MAX ? NULL : fz_destroy;
    fn = try_ ? "tapir_source_try_set_result" : "tapir_source_set_result";
    if (try_) won = CALL(tapir_source_try_set_result(SR(a.h), v, d));
    else st = CALL(tapir_source_set_result(SR(a.h), v, d));
    LOG("%s(%#" PRIx64 ", %p) -> %s", fn, a.h, v, try_ ? (won ? "true" : "false") : stname(st));
    a_done(&tv);
    break;
  }
  case 2:
  case 3: { /* set_error */
    harg e = a_pick(K_ERROR, -1, false);
    a_lend(&e);
    fn = try_ ? "tapir_source_try_set_error" : "tapir_source_set_error";
    if (try_) won = CALL(tapir_source_try_set_error(SR(a.h), ER(e.h)));
    else st = CALL(tapir_source_set_error(SR(a.h), ER(e.h)));
    LOG("%s(%#" PRIx64 ", %#" PRIx64 ") -> %s", fn, a.h, e.h, try_ ? (won ? "true" : "false") : stname(st));
    a_done(&e);
    flt |= a_flt(&e, true);
    break;
  }
  case 4:
  case 5: { /* set_error_list */
    harg e[4];
    const tapir_error *arr[4];
    unsigned n = rn(5);
    bool null_arr = misuse_on() && pct(4) && n;
    if (!misuse_on() && n == 0) n = 1;
    for (unsigned k = 0; k < n; k++) {
      e[k] = a_pick(K_ERROR, -1, false);
      a_lend(&e[k]);
      arr[k] = ER(e[k].h);
    }
    fn = try_ ? "tapir_source_try_set_error_list" : "tapir_source_set_error_list";
    if (try_) won = CALL(tapir_source_try_set_error_list(SR(a.h), null_arr ? NULL : arr, n));
    else st = CALL(tapir_source_set_error_list(SR(a.h), null_arr ? NULL : arr, n));
    LOG("%s(%#" PRIx64 ", n %u%s) -> %s", fn, a.h, n, null_arr ? " NULL" : "", try_ ? (won ? "true" : "false") : stname(st));
    for (unsigned k = 0; k < n; k++) {
      a_done(&e[k]);
      unsigned f = a_flt(&e[k], true);
      flt |= (f & F_NULL) ? F_INV : f; /* a NULL element is INVALID_ARGUMENT */
    }
    if (null_arr) flt |= F_NULL;
    else if (n == 0) flt |= F_INV;
    documented |= S(INVALID_ARGUMENT);
    break;
  }
  case 6:
  case 7: { /* set_canceled */
    harg t = pct(50) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
    a_lend(&t);
    fn = try_ ? "tapir_source_try_set_canceled" : "tapir_source_set_canceled";
    if (try_) won = CALL(tapir_source_try_set_canceled(SR(a.h), TO(t.h)));
    else st = CALL(tapir_source_set_canceled(SR(a.h), TO(t.h)));
    LOG("%s(%#" PRIx64 ", %#" PRIx64 ") -> %s", fn, a.h, t.h, try_ ? (won ? "true" : "false") : stname(st));
    a_done(&t);
    flt |= a_flt(&t, false);
    break;
  }
  default: { /* set_from_task */
    harg t = a_pick(K_TASK, -1, false);
    /* it would wait on itself; or it would wait on a task that may never complete, while
     * callbacks registered on it (maybe owning it) counted on its completing */
    /* a loose handle may be valid too: claimed like a live one */
    if ((t.cls == AC_LIVE || t.cls == AC_LOOSE) && !dep_claim(task, t.h)) {
      a_done(&t);
      a_done(&a);
      return;
    }
    if (task && t.h) ti_from(task, FM_TASK, t.h);
    /* a loose handle may be valid too: the forward may then wait on it for ever */
    if (task && (t.cls == AC_LIVE || t.cls == AC_LOOSE)) never_from(task, t.h, false);
    fn = "tapir_source_set_from_task";
    st = CALL(tapir_source_set_from_task(SR(a.h), TK(t.h)));
    LOG("%s(%#" PRIx64 ", %#" PRIx64 ") -> %s", fn, a.h, t.h, stname(st));
    a_done(&t);
    flt |= a_flt(&t, true);
    break;
  }
  }
  a_done(&a);
  flt |= a_flt(&a, true);
  uint32_t allowed = expect(flt, normal);
  if (try_) {
    if (won && !(allowed & S(OK))) failf("%s returned true; the arguments allow only failure", fn);
    if (!won && allowed == S(OK)) failf("%s returned false on a pending source the fuzzer holds", fn);
    if (!won && !(allowed & (S(OK) | S(ALREADY_COMPLETED)))) {
      int32_t ls = CALL(tapir_last_status());
      check_st("tapir_last_status after a failed try_set", ls, S_ANY, allowed);
    }
    st = won ? TAPIR_STATUS_OK : TAPIR_STATUS_ALREADY_COMPLETED;
  } else {
    check_st(fn, st, documented, allowed);
  }
  val_settle(ri, st == TAPIR_STATUS_OK, fn, st);
  if (st == TAPIR_STATUS_OK) {
    L();
    int i = s_find(a.h);
    if (i >= 0) {
      if (how == 8) g_slots[i].forwarded = 1;
      g_slots[i].completed = 1;
    }
    U();
  }
}

static void op_debug_panic(void) {
  harg a = a_pick(K_SOURCE, -1, false);
  int32_t st = CALL(tapir_debug_panic(SR(a.h)));
  LOG("debug_panic(%#" PRIx64 ") -> %s", a.h, stname(st));
  a_done(&a);
  check_st("tapir_debug_panic", st, D_BASE | S(PANIC), expect(a_flt(&a, true), S(PANIC)));
  if (st == TAPIR_STATUS_PANIC) {
    L();
    int i = s_find(a.h);
    if (i >= 0) g_slots[i].completed = 1;
    U();
  }
}

/* ================================================================ task ops */

/* Task names. Every name the fuzzer sets states its own length in its first three
 * characters ("NNN:" then the op and thread that set it, padded with '.'), so a name
 * read back is judged even when another thread renamed the same (shared) task
 * meanwhile: tapir_task_get_name returns the full length of one whole name, and the
 * buffer holds that name's first size-1 bytes, NUL-terminated. */
static int g_name_pct = 5;
static atomic_ullong g_names_set, g_names_read;

static size_t make_name(char *nm, size_t cap) {
  size_t len = 12 + rn((unsigned)(cap - 13));
  int k = snprintf(nm, cap, "%03zu:%s/%s/op%llu", len, tl_opname, me()->name,
                   (unsigned long long)atomic_load_explicit(&me()->ops, memory_order_relaxed));
  if (k < 0) k = 0;
  for (size_t i = (size_t)k; i < len; i++) nm[i] = '.';
  nm[len] = 0;
  if (strlen(nm) > len) nm[len] = 0;
  return len;
}

static void check_name_read(const char *fn, size_t n, const char *buf, size_t size) {
  if (n == 0) return;
  if (size == 0) return;
  size_t got = strnlen(buf, size);
  if (got == size) failf("%s: the name copied into a %zu-byte buffer is not NUL-terminated", fn, size);
  if (got != (n < size ? n : size - 1)) failf("%s returned %zu but copied %zu bytes into %zu", fn, n, got, size);
  if (got >= 3) {
    char d[4] = {buf[0], buf[1], buf[2], 0};
    char *e;
    unsigned long want = strtoul(d, &e, 10);
    if (*e || want != n) failf("%s returned %zu for the name \"%.*s\" (it says %s)", fn, n, (int)got, buf, d);
  }
  atomic_fetch_add_explicit(&g_names_read, 1, memory_order_relaxed);
}

/* Names a live task the fuzzer holds and reads the name back; `loose`: another
 * thread may release its last reference meanwhile (INVALID_HANDLE is then allowed). */
static void name_task_l(const tapir_task *t, bool loose) {
  char nm[160], back[160];
  make_name(nm, sizeof nm);
  int32_t st = CALL(tapir_task_set_name(t, nm));
  if (loose && st == TAPIR_STATUS_INVALID_HANDLE) return;
  if (st != TAPIR_STATUS_OK) failf("tapir_task_set_name on a task the fuzzer holds returned %s", stname(st));
  atomic_fetch_add_explicit(&g_names_set, 1, memory_order_relaxed);
  size_t size = pct(20) ? rn(8) : sizeof back;
  memset(back, 'x', sizeof back);
  size_t n = CALL(tapir_task_get_name(t, size ? back : NULL, size));
  /* NULL buffer with size 0: only the length; 0 would mean no name, yet one was set
   * (a racing rename always leaves a name) */
  if (n == 0 && loose && tapir_last_status() == TAPIR_STATUS_INVALID_HANDLE) return;
  if (n == 0) failf("tapir_task_get_name right after tapir_task_set_name returned 0 (last status %s)", stname(tapir_last_status()));
  check_name_read("tapir_task_get_name", n, back, size);
}
static void name_task(const tapir_task *t) { name_task_l(t, false); }

/* Publishes a new task to the other fuzzer threads. Whether it may never complete is
 * settled in the same step (`never`, or an edge of the waits-on graph, which its maker
 * filled in first, reaching such a task): a thread that picks it must never see it as
 * sure to complete and give a callback on it the ownership of its last handle. */
static void add_task_out_as(const tapir_task *t, int lent, bool never) {
  if (pct(g_name_pct)) name_task(t);
  L();
  int i = m_add_l(K_TASK, HV(t), 0);
  if (i >= 0 && lent) g_slots[i].lent = 1;
  if (i >= 0 && (never || dep_reaches_l(HV(t), 0))) g_slots[i].never = 1;
  U();
  if (i < 0) release_ok(K_TASK, HV(t), "model full");
}

static void add_task_out(const tapir_task *t, int lent) { add_task_out_as(t, lent, false); }

static void op_task_new(void) {
  unsigned how = rn(5);
  bool null_out = misuse_on() && pct(3);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st;
  unsigned flt = null_out ? F_NULL : 0;
  uint32_t normal = S(OK), documented = D_BASE;
  const char *fn;
  if (how == 0 || how == 1) {
    uint32_t ri;
    void *v = val_new(0, pct(60), &ri);
    fn = "tapir_task_from_result";
    st = CALL(tapir_task_from_result(v, ri == UINT32_MAX ? NULL : fz_destroy, null_out ? NULL : &t));
    LOG("%s(%p) -> %s %#" PRIx64, fn, v, stname(st), HV(t));
    check_st(fn, st, S(OK) | S(NULL_ARGUMENT), expect(flt, S(OK)));
    if (st == TAPIR_STATUS_OK) {
      val_set_origin(ri, HV(t));
      L();
      ti_new_l(HV(t));
      if (ri == UINT32_MAX) ti_from_l(HV(t), FM_ID, HV(v));
      U();
    }
    val_settle(ri, st == TAPIR_STATUS_OK, fn, st);
  } else if (how == 2) {
    harg e = a_pick(K_ERROR, -1, false);
    a_lend(&e);
    fn = "tapir_task_from_error";
    st = CALL(tapir_task_from_error(ER(e.h), null_out ? NULL : &t));
    LOG("%s(%#" PRIx64 ") -> %s %#" PRIx64, fn, e.h, stname(st), HV(t));
    a_done(&e);
    flt |= a_flt(&e, true);
    check_st(fn, st, documented, expect(flt, normal));
  } else if (how == 3) {
    harg k = a_pick(K_TOKEN, -1, true);
    bool canceled = A_FIELD(&k, canceled) || !k.h;
    a_lend(&k);
    fn = "tapir_task_from_canceled";
    st = CALL(tapir_task_from_canceled(TO(k.h), null_out ? NULL : &t));
    LOG("%s(%#" PRIx64 ") -> %s %#" PRIx64, fn, k.h, stname(st), HV(t));
    a_done(&k);
    flt |= a_flt(&k, false);
    documented |= S(INVALID_ARGUMENT);
    if (!canceled) normal |= S(INVALID_ARGUMENT); /* canceled meanwhile, or not */
    check_st(fn, st, documented, expect(flt, normal));
    if (st == TAPIR_STATUS_OK && k.h) {
      const tapir_cancel_token *ct = SENTP(const tapir_cancel_token *);
      int32_t s2 = CALL(tapir_task_cancel_token(t, &ct));
      if (s2 != TAPIR_STATUS_OK) failf("tapir_task_cancel_token on a task from tapir_task_from_canceled returned %s", stname(s2));
      if (HV(ct) != k.h) failf("tapir_task_from_canceled(%#" PRIx64 ") records token %#" PRIx64, k.h, HV(ct));
      L();
      int i = m_add_l(K_TOKEN, HV(ct), TOK_LIB);
      if (i >= 0) g_slots[i].lent = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(ct), "model full");
    }
  } else {
    fn = "tapir_task_completed";
    st = CALL(tapir_task_completed(null_out ? NULL : &t));
    LOG("%s -> %s %#" PRIx64, fn, stname(st), HV(t));
    check_st(fn, st, S(OK) | S(NULL_ARGUMENT), expect(flt, S(OK)));
    if (st == TAPIR_STATUS_OK && HV(t) != g_completed_h)
      failf("tapir_task_completed returned %#" PRIx64 ", earlier %#" PRIx64 " (it is one shared task)", HV(t), g_completed_h);
  }
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("%s failed but wrote its out-parameter", fn);
    return;
  }
  if (how == 4) {
    L();
    int i = m_add_l(K_TASK, HV(t), TASK_COMPLETED);
    if (i >= 0) g_slots[i].perm = 1;
    ti_new_l(HV(t));
    ti_from_l(HV(t), FM_ID, 0);
    U();
    if (i < 0) release_ok(K_TASK, HV(t), "model full");
    return;
  }
  add_task_out(t, 0);
}

static int8_t ti_status(uint64_t h) {
  L();
  tinfo *t = ti_get(h, false);
  int8_t s = t ? t->status : 0;
  U();
  return s;
}

static void ti_set_status(uint64_t h, int32_t s) {
  if (s < TAPIR_TASK_STATUS_SUCCEEDED || s > TAPIR_TASK_STATUS_CANCELED) return;
  L();
  tinfo *t = ti_get(h, false);
  if (t && !t->status) t->status = (int8_t)s;
  U();
}

static int32_t code_of_status(int32_t s) {
  switch (s) {
  case TAPIR_TASK_STATUS_SUCCEEDED: return TAPIR_STATUS_OK;
  case TAPIR_TASK_STATUS_FAULTED: return TAPIR_STATUS_FAULTED;
  case TAPIR_TASK_STATUS_CANCELED: return TAPIR_STATUS_CANCELED;
  default: return TAPIR_STATUS_NOT_COMPLETED;
  }
}

/* For bool/int/pointer getters: after a reported failure with certainly-bad
 * arguments, tapir_last_status must say why. */
static void check_last(const char *fn, unsigned flt) {
  if (flt & F_LOOSE) return;
  uint32_t allowed = expect(flt, 0);
  if (!allowed) return;
  int32_t ls = CALL(tapir_last_status());
  if (!(allowed & (1u << ls))) {
    char a[128];
    maskstr(allowed, a, sizeof a);
    failf("%s reported failure; tapir_last_status() is %s, expected %s", fn, stname(ls), a);
  }
}

static void op_task_query(void) {
  harg a = a_pick(K_TASK, -1, false);
  int8_t known = a.cls == AC_LIVE ? ti_status(a.h) : 0;
  unsigned how = rn(10);
  bool null_out = misuse_on() && pct(3);
  int32_t s = CALL(tapir_task_get_status(TK(a.h)));
  int32_t st = 0;
  LOG("get_status(%#" PRIx64 ") -> %d", a.h, s);
  switch (how) {
  case 0: { /* is_completed */
    bool c = CALL(tapir_task_is_completed(TK(a.h)));
    a_done(&a);
    unsigned flt = a_flt(&a, true);
    if (c && (flt & (F_BAD | F_NULL))) failf("tapir_task_is_completed is true for an invalid handle");
    if (!c && !flt && (known || s > 0)) failf("tapir_task_is_completed is false for a task already seen completed");
    if (!c) check_last("tapir_task_is_completed", flt);
    return;
  }
  case 1: { /* id */
    uint64_t id = CALL(tapir_task_id(TK(a.h)));
    a_done(&a);
    unsigned flt = a_flt(&a, true);
    if (!flt && !id) failf("tapir_task_id of a live task is 0");
    if ((flt & (F_BAD | F_NULL)) && id) failf("tapir_task_id of an invalid handle is %#" PRIx64, id);
    if (!id) check_last("tapir_task_id", flt);
    return;
  }
  case 2:
  case 3: { /* state, options */
    void *state = CALL(tapir_task_state(TK(a.h)));
    uint32_t opt = CALL(tapir_task_options(TK(a.h)));
    L();
    tinfo *t = ti_get(a.h, false);
    bool has = t && t->has_state;
    uint64_t want = has ? t->state : 0;
    uint32_t wopt = has ? t->options : 0;
    U();
    a_done(&a);
    unsigned flt = a_flt(&a, true);
    if (!flt && has && (HV(state) != want || opt != wopt))
      failf("task %#" PRIx64 " reports state %p options %#x; it was created with state %#" PRIx64 " flags %#x", a.h,
            state, opt, want, wopt);
    if ((flt & (F_BAD | F_NULL)) && (state || opt)) failf("tapir_task_state/options of an invalid handle are %p/%#x", state, opt);
    return;
  }
  case 4:
  case 5: { /* result */
    void *v = SENTP(void *);
    /* a private reference keeps the task (and its value) alive while it is judged */
    uint64_t hold = a.cls == AC_LIVE ? HV(CALL(tapir_task_retain(TK(a.h)))) : 0;
    if (a.cls == AC_LIVE && hold != a.h && hold) failf("tapir_task_retain(%#" PRIx64 ") returned %#" PRIx64, a.h, hold);
    st = CALL(tapir_task_result(TK(a.h), null_out ? NULL : &v));
    LOG("task_result(%#" PRIx64 ") -> %s %p", a.h, stname(st), v);
    uint32_t normal = S(OK) | S(NOT_COMPLETED) | S(FAULTED) | S(CANCELED);
    if (known) normal = 1u << code_of_status(known);
    else if (s > 0 && a.cls == AC_LIVE) normal = 1u << code_of_status(s);
    if (st == TAPIR_STATUS_OK && hold && !null_out) check_value(a.h, v, "tapir_task_result");
    if (hold) release_ok(K_TASK, hold, "private read reference");
    a_done(&a);
    /* after a_done: a release racing the call makes the handle loose */
    unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
    check_st("tapir_task_result", st, D_BASE | S(NOT_COMPLETED) | S(FAULTED) | S(CANCELED), expect(flt, normal));
    if (st != TAPIR_STATUS_OK && !null_out && HV(v) != SENT) failf("tapir_task_result returned %s but wrote the value", stname(st));
    if (a.cls == AC_LIVE) ti_set_status(a.h, s);
    return;
  }
  case 6:
  case 7: { /* error, error_count, error_at */
    const tapir_error *e = SENTP(const tapir_error *);
    size_t n = CALL(tapir_task_error_count(TK(a.h)));
    size_t idx = how == 6 ? 0 : rn((unsigned)n + 2);
    if (how == 6) st = CALL(tapir_task_error(TK(a.h), null_out ? NULL : &e));
    else st = CALL(tapir_task_error_at(TK(a.h), idx, null_out ? NULL : &e));
    LOG("task_error%s(%#" PRIx64 ", %zu of %zu) -> %s %#" PRIx64, how == 6 ? "" : "_at", a.h, idx, n, stname(st), HV(e));
    a_done(&a);
    unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
    int32_t fs = known ? known : s;
    uint32_t normal = S(OK) | S(NOT_COMPLETED) | S(INVALID_STATE);
    if (how == 7) normal |= S(INVALID_ARGUMENT);
    if (!(flt & F_LOOSE) && a.cls == AC_LIVE && fs > 0) {
      if (fs == TAPIR_TASK_STATUS_FAULTED) {
        if (n == 0) failf("tapir_task_error_count of faulted task %#" PRIx64 " is 0", a.h);
        normal = (how == 7 && idx >= n) ? S(INVALID_ARGUMENT) : S(OK);
      } else normal = S(INVALID_STATE);
    }
    check_st(how == 6 ? "tapir_task_error" : "tapir_task_error_at", st,
             D_BASE | S(NOT_COMPLETED) | S(INVALID_STATE) | (how == 7 ? S(INVALID_ARGUMENT) : 0), expect(flt, normal));
    if (st == TAPIR_STATUS_OK) {
      check_error(HV(e), "tapir_task_error");
      L();
      int i = m_add_l(K_ERROR, HV(e), ERR_LIB);
      if (i >= 0) g_slots[i].lent = 1;
      U();
      if (i < 0) release_ok(K_ERROR, HV(e), "model full");
    } else if (!null_out && HV(e) != SENT) failf("tapir_task_error failed but wrote its out-parameter");
    if (a.cls == AC_LIVE) ti_set_status(a.h, s);
    return;
  }
  default: { /* cancel_token */
    const tapir_cancel_token *k = SENTP(const tapir_cancel_token *);
    st = CALL(tapir_task_cancel_token(TK(a.h), null_out ? NULL : &k));
    LOG("task_cancel_token(%#" PRIx64 ") -> %s %#" PRIx64, a.h, stname(st), HV(k));
    a_done(&a);
    unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
    int32_t fs = known ? known : s;
    uint32_t normal = S(OK) | S(NOT_COMPLETED) | S(INVALID_STATE);
    if (a.cls == AC_LIVE && fs > 0) normal = fs == TAPIR_TASK_STATUS_CANCELED ? S(OK) : S(INVALID_STATE);
    check_st("tapir_task_cancel_token", st, D_BASE | S(NOT_COMPLETED) | S(INVALID_STATE), expect(flt, normal));
    if (st == TAPIR_STATUS_OK && k) {
      L();
      int i = m_add_l(K_TOKEN, HV(k), TOK_LIB);
      if (i >= 0) g_slots[i].lent = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(k), "model full");
    }
    if (a.cls == AC_LIVE) ti_set_status(a.h, s);
    return;
  }
  }
}

#define D_WAIT (D_BASE | S(INVALID_ARGUMENT) | S(FAULTED) | S(CANCELED) | S(TIMEOUT))

static int64_t pick_timeout(unsigned *flt, bool allow_inf) {
  if (misuse_on() && pct(4)) {
    *flt |= F_INV;
    return pct(50) ? -2 - (int64_t)rn(5) : TAPIR_MAX_TIMEOUT_MS + 1 + (int64_t)rn(1000);
  }
  if (allow_inf && pct(10)) return TAPIR_INFINITE;
  static const int64_t t[] = {0, 0, 0, 1, 2, 5};
  return t[rn(6)];
}

static void op_task_wait(void) {
  unsigned how = rn(fam_on(FAM_WAIT) ? (fam_on(FAM_WAITANY) ? 3 : 2) : 0), flt = 0;
  if (!fam_on(FAM_WAIT)) how = 2;
  int64_t to = pick_timeout(&flt, false);
  if (how == 0) {
    harg a = a_pick(K_TASK, -1, false);
    int8_t known = a.cls == AC_LIVE ? ti_status(a.h) : 0;
    int32_t st = CALL(tapir_task_wait(TK(a.h), to));
    LOG("task_wait(%#" PRIx64 ", %" PRId64 ") -> %s", a.h, to, stname(st));
    a_done(&a);
    flt |= a_flt(&a, true);
    uint32_t normal = known ? 1u << code_of_status(known) : S(OK) | S(FAULTED) | S(CANCELED) | S(TIMEOUT);
    check_st("tapir_task_wait", st, D_WAIT, expect(flt, normal));
    return;
  }
  harg a[5];
  const tapir_task *arr[5];
  unsigned n = rn(5);
  bool null_arr = misuse_on() && pct(3) && n;
  int8_t known[5];
  bool all_known = true;
  int first_known = -1;
  for (unsigned k = 0; k < n; k++) {
    bool dup = k && pct(15);
    a[k] = dup ? a[k - 1] : a_pick(K_TASK, -1, false);
    if (dup && a[k].s >= 0) {
      L();
      g_slots[a[k].s].pins++;
      U();
    }
    arr[k] = TK(a[k].h);
    known[k] = a[k].cls == AC_LIVE ? ti_status(a[k].h) : 0;
    all_known &= known[k] != 0;
    if (known[k] && first_known < 0) first_known = (int)k;
  }
  harg tok = pct(30) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  bool tok_canceled = A_FIELD(&tok, canceled);
  int32_t st;
  size_t idx = SENT;
  bool null_idx = how == 2 && misuse_on() && pct(3);
  if (how == 1) st = CALL(tapir_task_wait_all(null_arr ? NULL : arr, n, to, TO(tok.h)));
  else st = CALL(tapir_task_wait_any(null_arr ? NULL : arr, n, to, TO(tok.h), null_idx ? NULL : &idx));
  LOG("task_wait_%s(n %u, %" PRId64 ", tok %#" PRIx64 ") -> %s idx %zu", how == 1 ? "all" : "any", n, to, tok.h, stname(st), idx);
  for (unsigned k = 0; k < n; k++) {
    a_done(&a[k]);
    unsigned f = a_flt(&a[k], true);
    flt |= (f & F_NULL) ? F_INV : f;
  }
  a_done(&tok);
  flt |= a_flt(&tok, false);
  if (null_arr) flt |= F_NULL;
  if (null_idx) flt |= F_NULL;
  uint32_t normal = S(OK) | S(FAULTED) | S(CANCELED) | S(TIMEOUT);
  if (how == 2) normal = S(OK) | S(CANCELED) | S(TIMEOUT);
  if (tok_canceled) normal = S(CANCELED);
  else if (how == 1 && all_known && !tok.h) {
    bool f = false, c = false;
    for (unsigned k = 0; k < n; k++) {
      f |= known[k] == TAPIR_TASK_STATUS_FAULTED;
      c |= known[k] == TAPIR_TASK_STATUS_CANCELED;
    }
    normal = f ? S(FAULTED) : c ? S(CANCELED) : S(OK);
  } else if (how == 2 && n == 0) {
    /* count 0 is TIMEOUT; a token canceled meanwhile (a cancel_after deadline, another
     * thread: the model learns of it only later) may make it CANCELED */
    normal = tok.h ? S(TIMEOUT) | S(CANCELED) : S(TIMEOUT);
  }
  else if (how == 2 && first_known >= 0 && !tok.h) normal = S(OK);
  check_st(how == 1 ? "tapir_task_wait_all" : "tapir_task_wait_any", st, (D_WAIT & ~S(FAULTED)) | (how == 1 ? S(FAULTED) : 0),
           expect(flt, normal));
  if (how == 2) {
    if (st == TAPIR_STATUS_OK && (idx >= n || (first_known >= 0 && !(flt & F_LOOSE) && idx > (size_t)first_known)))
      failf("tapir_task_wait_any wrote index %zu (count %u, first already-completed input %d)", idx, n, first_known);
    if (st != TAPIR_STATUS_OK && !null_idx && idx != SENT) failf("tapir_task_wait_any returned %s but wrote an index", stname(st));
  }
}

/* ================================================================ continuation ops */

static void never_from(uint64_t out, uint64_t in, bool always);

static void *rec_ud_l(uint32_t i) {
  pthread_mutex_lock(&g_lmu);
  void *v = rec_ud(i);
  pthread_mutex_unlock(&g_lmu);
  return v;
}

static uint8_t pick_action(void) {
  unsigned r = rn(100);
  if (r < 30) return ACT_NONE;
  if (r < 50) return ACT_QUERY;
  if (r < 65) return fam_on(FAM_OWNREL) ? ACT_RELEASE_OWN : ACT_QUERY;
  if (r < 88) return ACT_OP;
  return ACT_REGISTER_MORE;
}

/* A callback record. With ACT_RELEASE_OWN, one model reference of `own0` (when it
 * is a live pinned argument) moves into the record: the callback releases it from
 * inside (its own antecedent, its own source, ...). */
static uint32_t cb_rec(const char *what, int max_calls, uint64_t origin, int depth, uint8_t sched_check,
                       uint64_t sched_h, const harg *own0, int own0_kind) {
  uint32_t ri = rec_new(RK_CB, what, max_calls);
  uint8_t act = pick_action();
  uint64_t oh = 0;
  if (act == ACT_RELEASE_OWN && own0 && own0->s >= 0 && own0->cls == AC_LIVE && !own0->grave) {
    /* never for a task that may never complete: its callback would hold it forever
     * (a cycle the fuzzer made, not tapir) */
    L();
    if (!g_slots[own0->s].never && m_take_l(own0->s, own0->h)) oh = own0->h;
    U();
  }
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(ri);
  r->action = act;
  r->nx = (uint8_t)rn(NX_N);
  r->depth = (uint8_t)depth;
  r->origin = origin;
  r->sched_check = sched_check;
  r->sched_h = sched_h;
  if (oh) {
    r->own[0] = oh;
    r->own_kind[0] = (uint8_t)own0_kind;
  }
  pthread_mutex_unlock(&g_lmu);
  return ri;
}

static void on_complete_with(harg ta, int depth) {
  copts c;
  copts_make(&c);
  bool null_cb = misuse_on() && pct(3);
  bool want_reg = pct(60);
  /* a callback that frees its own user data: destroy only if it never runs */
  bool frees = c.use && c.o.struct_size >= 8 && pct(30);
  if (frees) c.o.flags |= TAPIR_CONTINUATION_CALLBACK_FREES;
  uint32_t ri = cb_rec("tapir_task_on_complete", 1, ta.h, depth, c.sched_check, c.sched_h, &ta, K_TASK);
  pthread_mutex_lock(&g_lmu);
  rec_at(ri)->frees = frees;
  pthread_mutex_unlock(&g_lmu);
  void *ud = rec_ud_l(ri);
  a_lend(&ta);
  const tapir_registration *reg = SENTP(const tapir_registration *);
  int32_t st = CALL(tapir_task_on_complete(TK(ta.h), null_cb ? NULL : cb_on_complete, ud, fz_destroy, c.use ? &c.o : NULL,
                                           want_reg ? &reg : NULL));
  LOG("on_complete(%#" PRIx64 ", flags %#x size %u sched %#" PRIx64 " tok %#" PRIx64 "%s) -> %s reg %#" PRIx64, ta.h,
      c.o.flags, c.o.struct_size, c.sch.h, c.tok.h, null_cb ? " NULL cb" : "", stname(st), HV(reg));
  a_done(&ta);
  copts_done(&c);
  unsigned flt = a_flt(&ta, true) | (null_cb ? F_NULL : 0);
  check_st("tapir_task_on_complete", st, D_BASE | S(INVALID_ARGUMENT), copts_allowed(&c, flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_on_complete", st);
  if (st == TAPIR_STATUS_OK && want_reg) {
    if (HV(reg) == SENT) failf("tapir_task_on_complete returned OK without writing registration_out");
    if (reg) {
      L();
      int i = m_add_l(K_REG, HV(reg), 0);
      if (i >= 0) g_slots[i].aux = HV(ud);
      U();
      if (i < 0) release_ok(K_REG, HV(reg), "model full");
    }
  } else if (st != TAPIR_STATUS_OK && want_reg && HV(reg) != SENT) {
    failf("tapir_task_on_complete failed but wrote registration_out");
  }
}

static void continue_with_on(harg ta, int depth) {
  copts c;
  copts_make(&c);
  bool null_cb = misuse_on() && pct(3), null_out = misuse_on() && pct(3);
  if (c.use && c.o.struct_size >= 8 && misuse_on() && pct(5)) {
    c.o.flags |= TAPIR_CONTINUATION_CALLBACK_FREES; /* tapir_task_on_complete only */
    c.flt |= F_INV;
  }
  uint32_t ri = cb_rec("tapir_task_continue_with", 1, ta.h, depth, c.sched_check, c.sched_h, &ta, K_TASK);
  pthread_mutex_lock(&g_lmu);
  rec_at(ri)->has_token = c.has_token;
  void *ud = rec_ud(ri);
  pthread_mutex_unlock(&g_lmu);
  a_lend(&ta);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_task_continue_with(TK(ta.h), null_cb ? NULL : cb_continue, ud, fz_destroy, c.use ? &c.o : NULL,
                                             null_out ? NULL : &t));
  LOG("continue_with(%#" PRIx64 ", flags %#x size %u sched %#" PRIx64 " tok %#" PRIx64 ") -> %s %#" PRIx64, ta.h, c.o.flags,
      c.o.struct_size, c.sch.h, c.tok.h, stname(st), HV(t));
  a_done(&ta);
  copts_done(&c);
  unsigned flt = a_flt(&ta, true) | (null_cb ? F_NULL : 0) | (null_out ? F_NULL : 0);
  check_st("tapir_task_continue_with", st, D_BASE | S(INVALID_ARGUMENT), copts_allowed(&c, flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_continue_with", st);
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_task_continue_with failed but wrote task_out");
    return;
  }
  void *state = CALL(tapir_task_state(t));
  if (state != ud) failf("continuation task %#" PRIx64 " reports state %p; its user_data was %p", HV(t), state, ud);
  L();
  ti_new_l(HV(t));
  U();
  dep_add(HV(t), ta.h); /* before another thread can see t (and claim an edge to it) */
  add_task_out(t, 1);
  never_from(HV(t), ta.h, false);
}

/* The task `out` may never complete when `in` may not. */
/* Also: `out` waits on `in` (the waits-on graph). */
static void never_from(uint64_t out, uint64_t in, bool always) {
  L();
  dep_add_l(out, in);
  int o = s_find(out);
  /* `in` may be a loose pick whose slot is gone: the graveyard's filter remembers it */
  if (o >= 0 && (always || dep_never_l(in))) g_slots[o].never = 1;
  U();
}

static void reg_on_lent(uint64_t task, int depth) {
  harg ta = a_none(AC_LIVE);
  ta.h = task;
  /* with lent excluded the lent handle may die under us (another thread releases the
   * task): a private reference keeps the registration from racing that release */
  uint64_t hold = 0;
  if (!fam_on(FAM_LENT)) {
    hold = HV(CALL(tapir_task_retain(TK(task))));
    if (!hold) return;
  }
  if (pct(50)) on_complete_with(ta, depth);
  else continue_with_on(ta, depth);
  if (hold) release_ok(K_TASK, hold, "private reference to a lent task");
}

/* The handle a registration (a call that takes user_data and a destroy) is made on.
 * With stalereg excluded, never a released one: such a call can race the object's
 * final release inside tapir. */
static harg a_pick_reg(int kind) {
  harg a = a_pick(kind, -1, false);
  if (a.grave && !fam_on(FAM_STALEREG)) {
    a_done(&a);
    a = a_live(kind);
    if (!a.h) a = a_make(kind);
    a_note(&a, kind, "live (instead of a released one)");
  }
  return a;
}

static void op_on_complete(void) { on_complete_with(a_pick_reg(K_TASK), me()->depth); }
static void op_continue_with(void) { continue_with_on(a_pick_reg(K_TASK), me()->depth); }

static void op_reg(void) {
  harg a = a_pick(K_REG, -1, false);
  uint64_t ud = a.cls == AC_LIVE ? A_FIELD(&a, aux) : 0;
  bool before = a.cls == AC_LIVE && A_FIELD(&a, removed_ok);
  int32_t st = CALL(tapir_registration_remove(RG(a.h)));
  LOG("registration_remove(%#" PRIx64 ") -> %s", a.h, stname(st));
  if (st == TAPIR_STATUS_OK && ud) {
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_decode((void *)(uintptr_t)ud, NULL);
    int calls = r ? r->calls : 0, destroys = r ? r->destroys : 1;
    if (r) r->removed = 1;
    pthread_mutex_unlock(&g_lmu);
    if (calls || destroys != 1)
      failf("tapir_registration_remove returned OK, yet the callback had run %d time(s) and its destroy %d time(s) "
            "(OK means: never runs, destroy already ran)",
            calls, destroys);
  }
  a_done(&a);
  check_st("tapir_registration_remove", st, D_BASE | S(ALREADY_COMPLETED),
           expect(a_flt(&a, true), before ? S(ALREADY_COMPLETED) : S(OK) | S(ALREADY_COMPLETED)));
  if (st == TAPIR_STATUS_OK) {
    L();
    int i = s_find(a.h);
    if (i >= 0) g_slots[i].removed_ok = 1;
    U();
  }
}

/* ================================================================ unwrap, combinators, wait_async */

static void op_unwrap(void) {
  harg o = a_pick(K_TASK, -1, false);
  bool null_out = misuse_on() && pct(3);
  const tapir_task *p = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_task_unwrap(TK(o.h), null_out ? NULL : &p));
  LOG("unwrap(%#" PRIx64 ") -> %s %#" PRIx64, o.h, stname(st), HV(p));
  a_done(&o);
  check_st("tapir_task_unwrap", st, D_BASE, expect(a_flt(&o, true) | (null_out ? F_NULL : 0), S(OK)));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(p) != SENT) failf("tapir_task_unwrap failed but wrote task_out");
    return;
  }
  L();
  ti_new_l(HV(p));
  ti_from_l(HV(p), FM_UNWRAP, o.h);
  U();
  dep_add(HV(p), o.h);
  add_task_out(p, 0);
  never_from(HV(p), o.h, true);
}

static void op_comb(void) {
  static const char *names[] = {"tapir_when_all", "tapir_when_all_settled", "tapir_when_all_or_first_error",
                                "tapir_when_any", "tapir_interleaved"};
  unsigned which = rn(5), n = rn(6);
  bool mis = misuse_on();
  if (!mis && which == 3 && n == 0) n = 1;
  bool null_arr = mis && pct(3) && n, null_out = mis && pct(3);
  harg a[6];
  const tapir_task *arr[6];
  for (unsigned k = 0; k < n; k++) {
    if (k && pct(15)) {
      a[k] = a[k - 1];
      if (a[k].s >= 0) {
        L();
        g_slots[a[k].s].pins++;
        U();
      }
    } else a[k] = a_pick(K_TASK, -1, false);
    if (which == 1) a_lend(&a[k]); /* when_all_settled's value holds the inputs themselves */
    arr[k] = TK(a[k].h);
  }
  harg cts = which == 3 && pct(40) ? a_pick(K_CTS, -1, true) : a_none(AC_LIVE);
  if (!fam_on(FAM_KINDCT) && (cts.cls == AC_BAD && !cts.grave)) {
    /* with kindct excluded: no wrong-kind or forged cancel source (when_any rewrites its kind) */
    a_done(&cts);
    cts = a_none(AC_LIVE);
  }
  const tapir_task *t = SENTP(const tapir_task *);
  const tapir_task *outs[6];
  for (unsigned k = 0; k < 6; k++) outs[k] = SENTP(const tapir_task *);
  int32_t st;
  const tapir_task *const *in = null_arr ? NULL : arr;
  const tapir_task **out = null_out ? NULL : &t;
  switch (which) {
  case 0: st = CALL(tapir_when_all(in, n, out)); break;
  case 1: st = CALL(tapir_when_all_settled(in, n, out)); break;
  case 2: st = CALL(tapir_when_all_or_first_error(in, n, out)); break;
  case 3: st = CALL(tapir_when_any(in, n, CS(cts.h), out)); break;
  default: st = CALL(tapir_interleaved(in, n, null_out ? NULL : outs)); break;
  }
  LOG("%s(n %u%s, cts %#" PRIx64 ") -> %s %#" PRIx64, names[which], n, null_arr ? " NULL" : "", cts.h, stname(st),
      which == 4 ? HV(outs[0]) : HV(t));
  for (unsigned k = 0; k < n; k++) LOG("  input %u %#" PRIx64, k, a[k].h);
  for (unsigned k = 1; k < n && which == 4 && st == TAPIR_STATUS_OK && !null_out; k++)
    LOG("  output %u %#" PRIx64, k, HV(outs[k]));
  /* NULL outputs with count 0 has nothing to write: the header is silent, either answer */
  bool lenient_null = which == 4 && null_out && n == 0;
  unsigned flt = ((null_arr || null_out) && !lenient_null) ? F_NULL : 0;
  for (unsigned k = 0; k < n; k++) {
    a_done(&a[k]);
    unsigned f = a_flt(&a[k], true);
    flt |= (f & F_NULL) ? F_INV : f;
  }
  a_done(&cts);
  flt |= a_flt(&cts, false);
  uint32_t normal = S(OK);
  if (which == 3 && n == 0) flt |= F_INV;
  if (which == 4 && n == 0) normal |= S(INVALID_ARGUMENT); /* an empty interleave: the header is silent */
  if (lenient_null) normal |= S(NULL_ARGUMENT);
  check_st(names[which], st, D_BASE | S(INVALID_ARGUMENT), expect(flt, normal));
  if (st != TAPIR_STATUS_OK) {
    if (which == 4) {
      for (unsigned k = 0; k < 6 && !null_out; k++)
        if (HV(outs[k]) != SENT) failf("tapir_interleaved failed but wrote outputs[%u]", k);
    } else if (!null_out && HV(t) != SENT) failf("%s failed but wrote task_out", names[which]);
    return;
  }
  if (which == 4) {
    for (unsigned k = 0; k < n; k++) {
      if (HV(outs[k]) == SENT || !outs[k]) failf("tapir_interleaved returned OK without writing outputs[%u]", k);
      L();
      ti_new_l(HV(outs[k]));
      for (unsigned j = 0; j < n; j++) ti_from_l(HV(outs[k]), FM_TASK, a[j].h);
      U();
      for (unsigned j = 0; j < n; j++) dep_add(HV(outs[k]), a[j].h);
      add_task_out(outs[k], 0);
      for (unsigned j = 0; j < n; j++) never_from(HV(outs[k]), a[j].h, false);
    }
    for (unsigned k = n; k < 6; k++)
      if (HV(outs[k]) != SENT) failf("tapir_interleaved wrote outputs[%u] past count %u", k, n);
    return;
  }
  L();
  tinfo *ti = ti_new_l(HV(t));
  ti->ctype = which == 0 ? CT_ALL : which == 1 ? CT_SETTLED : which == 2 ? CT_FIRSTERR : CT_ANY;
  ti->nin = (uint8_t)n;
  for (unsigned k = 0; k < n; k++) ti->in[k] = a[k].h;
  U();
  for (unsigned k = 0; k < n; k++) dep_add(HV(t), a[k].h);
  add_task_out(t, 0);
  for (unsigned k = 0; k < n; k++) never_from(HV(t), a[k].h, false);
}

static void op_wait_async(void) {
  harg a = a_pick(K_TASK, -1, false);
  unsigned flt = 0;
  int64_t to = pct(40) ? TAPIR_INFINITE : pick_timeout(&flt, true);
  if (to == TAPIR_INFINITE && !fam_on(FAM_FOREVER)) to = 1 + (int64_t)rn(40);
  if (to > 0 && !(flt & F_INV)) to = 1 + (int64_t)rn(40);
  harg tok = pct(35) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  a_lend(&tok);
  int8_t known = a.cls == AC_LIVE ? ti_status(a.h) : 0;
  bool null_out = misuse_on() && pct(3);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_task_wait_async(TK(a.h), to, TO(tok.h), null_out ? NULL : &t));
  LOG("wait_async(%#" PRIx64 ", %" PRId64 ", tok %#" PRIx64 ") -> %s %#" PRIx64, a.h, to, tok.h, stname(st), HV(t));
  bool same = st == TAPIR_STATUS_OK && HV(t) == a.h;
  if (same) {
    /* the input itself, counted before it is unpinned. A loose input that succeeded
     * was still valid: the call raced its release, so its graveyard entry is no proof
     * of staleness (as for tapir_source_task) */
    L();
    int k = s_find(a.h);
    if (k >= 0 && g_slots[k].st == SS_GRAVE) g_slots[k].strict = 0;
    U();
    add_task_out(t, 0);
  }
  a_done(&a);
  a_done(&tok);
  flt |= a_flt(&a, true) | a_flt(&tok, false) | (null_out ? F_NULL : 0);
  check_st("tapir_task_wait_async", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_task_wait_async failed but wrote task_out");
    return;
  }
  if (known && a.cls == AC_LIVE && HV(t) != a.h)
    failf("tapir_task_wait_async on completed task %#" PRIx64 " returned a new task %#" PRIx64 " (the header: the task itself)",
          a.h, HV(t));
  if (same) return;
  L();
  ti_new_l(HV(t));
  ti_from_l(HV(t), FM_TASK, a.h);
  U();
  if (to < 0) dep_add(HV(t), a.h);
  add_task_out(t, 0);
  if (to < 0) never_from(HV(t), a.h, false);
}

/* ================================================================ factory combinators */

static fstate *fstate_new(int mode, uint32_t count, uint32_t max) {
  fstate *f = calloc(1, sizeof *f);
  if (!f) abort();
  f->mode = mode;
  f->count = count;
  f->max = max;
  f->gid = new_gid();
  f->owner = pthread_self();
  return f;
}

/* After the combinator returned its task: edges to every task a factory produced. */
static void fstate_result(uint32_t ri, void *ud, uint64_t t) {
  uint64_t prod[TI_E + 1];
  int np = 0;
  uint64_t gid = 0;
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_decode(ud, NULL);
  fstate *f = r ? r->ext : NULL;
  (void)ri;
  uint64_t pend[8];
  int npend = 0;
  if (f) {
    f->result = t;
    npend = f->npend;
    if (npend <= 8) memcpy(pend, f->pend, sizeof(uint64_t) * (size_t)npend);
    np = f->nprod;
    if (np > TI_E) np = -1;
    else memcpy(prod, f->prod, sizeof(uint64_t) * (size_t)np);
    gid = f->gid;
  }
  pthread_mutex_unlock(&g_lmu);
  L();
  tinfo *ti = ti_new_l(t);
  if (!f || np < 0) ti->overflow = 1;
  else
    for (int k = 0; k < np; k++) ti_from_l(t, FM_TASK, prod[k]);
  ti_from_l(t, FM_ID, gid);
  ti_from_l(t, FM_ID, 0);
  for (int k = 0; k < npend && npend <= 8; k++) dep_add_l(t, pend[k]);
  if (npend > 8) { /* edges lost: the graph cannot tell, so the result is a node of unknown edges */
    dep *d = dep_get_l(t, true);
    d->n = DEP_E + 1;
  }
  U();
}

static void op_factory(int mode) {
  bool mis = misuse_on();
  bool null_fn = mis && pct(3), null_out = mis && pct(3);
  uint32_t count = rn(6), max = 1 + rn(3);
  unsigned flt = (null_fn || null_out) ? F_NULL : 0;
  const char *fn = mode == FS_RETRY ? "tapir_retry_on_fault" : mode == FS_NOO ? "tapir_need_only_one" : "tapir_for_each_throttled";
  if (mode == FS_RETRY) {
    count = 1 + rn(4);
    if (mis && pct(3)) count = 0;
    if (!count) flt |= F_INV;
  } else if (mode == FS_NOO) {
    count = 1 + rn(4);
    if (mis && pct(3)) count = 0;
    if (!count) flt |= F_INV;
  } else {
    if (mis && pct(3)) max = 0;
    if (!max) flt |= F_INV;
  }
  fstate *f = fstate_new(mode, count, max);
  uint32_t ri = rec_new(RK_FACTORY, fn, mode == FS_RETRY ? (int)(2 * count + 1) : (int)count + 1);
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(ri);
  r->ext = f;
  r->action = pct(70) ? ACT_NONE : ACT_OP;
  r->depth = (uint8_t)me()->depth;
  void *ud = rec_ud(ri);
  pthread_mutex_unlock(&g_lmu);
  const tapir_task *t = SENTP(const tapir_task *);
  const tapir_task **out = null_out ? NULL : &t;
  int32_t st;
  if (mode == FS_RETRY) st = CALL(tapir_retry_on_fault(null_fn ? NULL : cb_factory, pct(50) ? cb_gate : NULL, ud, fz_destroy, count, out));
  else if (mode == FS_NOO) st = CALL(tapir_need_only_one(null_fn ? NULL : cb_noo, ud, fz_destroy, count, out));
  else st = CALL(tapir_for_each_throttled(null_fn ? NULL : cb_factory, ud, fz_destroy, count, max, out));
  LOG("%s(count %u, max %u) -> %s %#" PRIx64, fn, count, max, stname(st), HV(t));
  check_st(fn, st, S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (st == TAPIR_STATUS_OK && mode == FS_NOO) {
    pthread_mutex_lock(&g_lmu);
    rec *rr = rec_decode(ud, NULL);
    int d = rr ? rr->destroys : 1, c = rr ? rr->calls : (int)count;
    pthread_mutex_unlock(&g_lmu);
    if (d != 1 || c != (int)count)
      failf("tapir_need_only_one returned with %d of %u factories run and its destroy run %d time(s) "
            "(the header: all factories ran and user_data was destroyed before it returns)",
            c, count, d);
  }
  if (st == TAPIR_STATUS_OK) fstate_result(ri, ud, HV(t));
  rec_settle(ri, st == TAPIR_STATUS_OK, fn, st);
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("%s failed but wrote task_out", fn);
    return;
  }
  add_task_out(t, 1);
}
/* need_only_one whose every task waits only on the token it lends (a race no task can
 * win): the token stays uncanceled while the result is observed, and is canceled inside
 * the call that takes the result's last observer away (its last handle's release, or
 * the removal of its only continuation). The end's live count then proves the race
 * freed. Private objects: nothing else can observe them. */
static void cb_never(void *ud, const tapir_task *t) {
  (void)ud;
  (void)t;
  failf("a continuation on an abandoned need_only_one result ran (the result never completes)");
}
static const tapir_task *cb_noo_forever(void *ud, uint32_t i, const tapir_cancel_token *tok) {
  const tapir_cancel_token **kept = ud;
  if (i == 0) *kept = CALL(tapir_cancel_token_retain(tok));
  const tapir_task *t = NULL;
  int32_t st = CALL(tapir_delay(-1, tok, &t));
  if (st != TAPIR_STATUS_OK) failf("tapir_delay(-1, the lent token) in a factory returned %s", stname(st));
  return t;
}
static void op_noo_abandon(void) {
  const tapir_cancel_token *kept = NULL;
  const tapir_task *t = NULL;
  uint32_t count = 1 + rn(3);
  int32_t st = CALL(tapir_need_only_one(cb_noo_forever, &kept, NULL, count, &t));
  LOG("need_only_one(waiting on its token, count %u) -> %s %#" PRIx64 " token %#" PRIx64, count, stname(st), HV(t),
      HV(kept));
  if (st != TAPIR_STATUS_OK || !kept) failf("tapir_need_only_one (factories waiting on the token) returned %s", stname(st));
  if (CALL(tapir_cancel_token_is_canceled(kept))) failf("need_only_one canceled its token while no task had completed");
  const tapir_registration *reg = NULL;
  bool observed = pct(50);
  if (observed && CALL(tapir_task_on_complete(t, cb_never, NULL, NULL, NULL, &reg)) != TAPIR_STATUS_OK)
    failf("tapir_task_on_complete on a pending need_only_one result failed");
  if (CALL(tapir_task_release(t)) != TAPIR_STATUS_OK) failf("releasing a need_only_one result failed");
  if (observed) {
    if (CALL(tapir_cancel_token_is_canceled(kept)))
      failf("need_only_one canceled its token while a continuation still waited on its result");
    st = CALL(tapir_registration_remove(reg));
    if (st != TAPIR_STATUS_OK) failf("removing the only continuation of a pending result returned %s", stname(st));
    release_ok(K_REG, HV(reg), "abandoned need_only_one's registration");
  }
  if (!CALL(tapir_cancel_token_is_canceled(kept)))
    failf("need_only_one left its token uncanceled after its result lost its last observer (%s)",
          observed ? "the continuation's removal" : "the last handle's release");
  if (CALL(tapir_cancel_token_release(kept)) != TAPIR_STATUS_OK) failf("releasing a retained lent token failed");
}

static void op_retry(void) { op_factory(FS_RETRY); }
static void op_noo(void) { op_factory(FS_NOO); }
static void op_throttle(void) { op_factory(FS_THROTTLE); }

/* ================================================================ cancellation ops */

/* Cancel sources canceled with TAPIR_CANCEL_STOP_AT_FIRST_ERROR. Such a cancel leaves
 * the callbacks after the first failing one registered, never to run; they are
 * destroyed only when the source is disposed. A registration that owns a cancel
 * source can therefore hold its own token's source (or close a longer cycle) forever:
 * the teardown breaks that cycle by unregistering (rescue_owned), which it may do only
 * for a registration on a source canceled this way. Under g_lmu. */
enum { NSTOPPED = 4096 };
static uint64_t g_stopped[NSTOPPED];
static int g_nstopped, g_stopped_lost;

static void note_stop_cancel(uint64_t cts) {
  pthread_mutex_lock(&g_lmu);
  if (g_nstopped < NSTOPPED) g_stopped[g_nstopped++] = cts;
  else g_stopped_lost = 1; /* from now on every source counts as one that may have stopped */
  pthread_mutex_unlock(&g_lmu);
}

/* under g_lmu; a source that is not known (0) may have been */
static bool may_have_stopped_l(uint64_t cts) {
  if (!cts || g_stopped_lost) return true;
  for (int i = 0; i < g_nstopped; i++)
    if (g_stopped[i] == cts) return true;
  return false;
}

static void mark_canceled(uint64_t cts_or_token) {
  L();
  int i = s_find(cts_or_token);
  if (i >= 0) {
    g_slots[i].canceled = 1;
    if (g_slots[i].kind == K_CTS && g_slots[i].aux) {
      int j = s_find(g_slots[i].aux);
      if (j >= 0) g_slots[j].canceled = 1;
    }
  }
  U();
}

static void op_cts_new(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  const tapir_cancel_source *c = SENTP(const tapir_cancel_source *);
  int32_t st;
  unsigned flt = null_out ? F_NULL : 0;
  bool any_canceled = false;
  const char *fn;
  if (pct(55) || !fam_on(FAM_LINKED)) {
    fn = "tapir_cancel_source_new";
    st = CALL(tapir_cancel_source_new(null_out ? NULL : &c));
    check_st(fn, st, S(OK) | S(NULL_ARGUMENT), expect(flt, S(OK)));
  } else {
    fn = "tapir_cancel_source_new_linked";
    unsigned n = rn(4);
    bool null_arr = mis && pct(4) && n;
    harg k[3];
    const tapir_cancel_token *arr[3];
    for (unsigned j = 0; j < n; j++) {
      k[j] = a_pick(K_TOKEN, -1, false);
      arr[j] = TO(k[j].h);
      any_canceled |= A_FIELD(&k[j], canceled) != 0;
    }
    st = CALL(tapir_cancel_source_new_linked(null_arr ? NULL : arr, n, null_out ? NULL : &c));
    LOG("new_linked(n %u: %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "%s) -> %s %#" PRIx64, n, n > 0 ? k[0].h : 0, n > 1 ? k[1].h : 0,
        n > 2 ? k[2].h : 0, null_arr ? " NULL" : "", stname(st), HV(c));
    for (unsigned j = 0; j < n; j++) {
      a_done(&k[j]);
      unsigned f = a_flt(&k[j], true);
      flt |= (f & F_NULL) ? F_INV : f;
    }
    if (null_arr) flt |= F_NULL;
    check_st(fn, st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  }
  LOG("%s -> %s %#" PRIx64, fn, stname(st), HV(c));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(c) != SENT) failf("%s failed but wrote source_out", fn);
    return;
  }
  if (any_canceled && !(flt & F_LOOSE) && !CALL(tapir_cancel_source_is_canceled(c)))
    failf("a linked cancel source made from an already-canceled token is not canceled at creation");
  L();
  int i = m_add_l(K_CTS, HV(c), 0);
  if (i >= 0 && any_canceled && !(flt & F_LOOSE)) g_slots[i].canceled = 1;
  U();
  if (i < 0) release_ok(K_CTS, HV(c), "model full");
}

/* Announces an acquisition of the handle `h` (so a stale call racing it is loose). */
static int acq_begin(uint64_t h) {
  if (!h) return -1;
  L();
  int i = s_find(h);
  if (i >= 0) {
    g_slots[i].acq++;
    g_slots[i].acq_ep++;
  }
  U();
  return i;
}
/* Lock held: ends an acquisition of slot i if it still holds the handle h. */
static void acq_drop_l(int i, uint64_t h) {
  if (i < 0) return;
  slot *s = &g_slots[i];
  if (s->h != h || s->st == SS_FREE || s->acq <= 0) return; /* dropped meanwhile */
  s->acq--;
  s_maybe_grave(i);
}
static void acq_end(int i, uint64_t h) {
  L();
  acq_drop_l(i, h);
  U();
}

static void op_cts_ops(void) {
  harg c = a_pick(K_CTS, -1, false);
  bool mis = misuse_on(), null_out = mis && pct(3);
  bool was_canceled = A_FIELD(&c, canceled) != 0;
  int32_t st;
  switch (rn(5)) {
  case 0: {
    uint64_t tk = A_FIELD(&c, aux);
    int ai = acq_begin(tk);
    const tapir_cancel_token *t = SENTP(const tapir_cancel_token *);
    st = CALL(tapir_cancel_source_token(CS(c.h), null_out ? NULL : &t));
    LOG("cancel_source_token(%#" PRIx64 ") -> %s %#" PRIx64, c.h, stname(st), HV(t));
    if (st == TAPIR_STATUS_OK) {
      L();
      int ci = s_find(c.h);
      if (ci >= 0 && g_slots[ci].kind == K_CTS) g_slots[ci].aux = HV(t);
      int i = m_add_l(K_TOKEN, HV(t), TOK_CTS);
      if (i >= 0) {
        g_slots[i].acqable = 1;
        g_slots[i].aux = c.h;
        if (was_canceled) g_slots[i].canceled = 1;
      }
      U();
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    }
    acq_end(ai, tk);
    a_done(&c);
    check_st("tapir_cancel_source_token", st, D_BASE, expect(a_flt(&c, true) | (null_out ? F_NULL : 0), S(OK)));
    if (st != TAPIR_STATUS_OK && !null_out && HV(t) != SENT) failf("tapir_cancel_source_token failed but wrote token_out");
    return;
  }
  case 1: {
    uint32_t flags = pct(30) ? TAPIR_CANCEL_STOP_AT_FIRST_ERROR : 0;
    unsigned flt = 0;
    if (mis && pct(4)) {
      flags |= 1u << (1 + rn(30));
      flt |= F_INV;
    }
    bool want_errs = pct(50);
    const tapir_error *errs = SENTP(const tapir_error *);
    st = CALL(tapir_cancel_source_cancel(CS(c.h), flags, want_errs ? &errs : NULL));
    LOG("cancel(%#" PRIx64 ", %#x) -> %s errs %#" PRIx64, c.h, flags, stname(st), HV(errs));
    bool now = st == TAPIR_STATUS_OK ? CALL(tapir_cancel_source_is_canceled(CS(c.h))) : false;
    a_done(&c);
    flt |= a_flt(&c, true);
    check_st("tapir_cancel_source_cancel", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
    if (st != TAPIR_STATUS_OK) {
      if (want_errs && HV(errs) != SENT) failf("tapir_cancel_source_cancel failed but wrote errors_out");
      return;
    }
    if (c.cls == AC_LIVE && !now) failf("tapir_cancel_source_is_canceled is false right after a successful cancel");
    mark_canceled(c.h);
    if (flags & TAPIR_CANCEL_STOP_AT_FIRST_ERROR) note_stop_cancel(c.h);
    if (want_errs) {
      if (HV(errs) == SENT) failf("tapir_cancel_source_cancel returned OK without writing errors_out");
      if (errs) {
        int32_t code = CALL(tapir_error_code(errs));
        size_t n = CALL(tapir_error_inner_count(errs));
        if (code != TAPIR_STATUS_FAULTED || n == 0)
          failf("tapir_cancel_source_cancel wrote an aggregate with code %d and %zu inner errors (want FAULTED, >= 1)", code, n);
        check_error(HV(errs), "cancel errors_out");
        L();
        int i = m_add_l(K_ERROR, HV(errs), ERR_LIB);
        if (i >= 0) g_slots[i].lent = 1;
        U();
        if (i < 0) release_ok(K_ERROR, HV(errs), "model full");
      }
    }
    return;
  }
  case 2: {
    unsigned flt = 0;
    int64_t d;
    unsigned r = rn(100);
    if (mis && r < 5) {
      d = pct(50) ? -2 : TAPIR_MAX_TIMEOUT_MS + 1;
      flt |= F_INV;
    } else if (r < 20) d = -1;
    else if (r < 35) d = 0;
    else if (r < 95) d = 1 + (int64_t)rn(30);
    else d = 600000; /* a deadline that never arrives: released with the source */
    st = CALL(tapir_cancel_source_cancel_after(CS(c.h), d));
    LOG("cancel_after(%#" PRIx64 ", %" PRId64 ") -> %s", c.h, d, stname(st));
    bool now = st == TAPIR_STATUS_OK && d == 0 ? CALL(tapir_cancel_source_is_canceled(CS(c.h))) : true;
    a_done(&c);
    flt |= a_flt(&c, true);
    check_st("tapir_cancel_source_cancel_after", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
    if (c.cls == AC_LIVE && !now) failf("tapir_cancel_source_cancel_after(0) returned but the source is not canceled");
    if (st == TAPIR_STATUS_OK && d == 0) mark_canceled(c.h);
    return;
  }
  case 3: {
    bool tok = pct(40);
    harg k = tok ? a_pick(K_TOKEN, -1, false) : c;
    if (tok) a_done(&c);
    bool before = A_FIELD(&k, canceled) != 0;
    a_accept_kind(&k, tok ? K_CTS : K_TOKEN); /* "A token handle passed here is answered too" */
    bool v = CALL(tapir_cancel_source_is_canceled(CS(k.h)));
    LOG("cancel_source_is_canceled(%#" PRIx64 ") -> %d", k.h, v);
    a_done(&k);
    unsigned flt = a_flt(&k, true);
    if (v && (flt & (F_BAD | F_NULL))) failf("tapir_cancel_source_is_canceled is true for an invalid handle");
    if (!v && before && !flt) failf("tapir_cancel_source_is_canceled went back to false after being canceled");
    if (!v && !flt) {
      /* false is also the answer for an invalid handle: it must not look like one */
    }
    if (!v && (flt & (F_BAD | F_NULL))) check_last("tapir_cancel_source_is_canceled", flt);
    if (v && !flt) mark_canceled(k.h);
    return;
  }
  default: {
    bool tok = pct(50);
    harg k = tok ? a_pick(K_TOKEN, -1, false) : c;
    if (tok) a_done(&c);
    a_accept_kind(&k, tok ? K_CTS : K_TOKEN); /* "on a token (or source)" */
    size_t n = CALL(tapir_debug_cancel_registrations(TO(k.h)));
    LOG("debug_cancel_registrations(%#" PRIx64 ") -> %zu", k.h, n);
    a_done(&k);
    if (n && (a_flt(&k, true) & (F_BAD | F_NULL))) failf("tapir_debug_cancel_registrations counts %zu for an invalid handle", n);
    return;
  }
  }
}


static void op_token(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  const tapir_cancel_token *t = SENTP(const tapir_cancel_token *);
  int32_t st;
  switch (rn(5)) {
  case 0:
    st = CALL(tapir_cancel_token_none(null_out ? NULL : &t));
    check_st("tapir_cancel_token_none", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
    if (st != TAPIR_STATUS_OK) return;
    if (HV(t) != g_none_h) failf("tapir_cancel_token_none wrote %#" PRIx64 ", earlier %#" PRIx64, HV(t), g_none_h);
    L();
    {
      int i = m_add_l(K_TOKEN, HV(t), TOK_NONE);
      if (i >= 0) g_slots[i].perm = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    }
    return;
  case 1:
    st = CALL(tapir_cancel_token_new_canceled(null_out ? NULL : &t));
    check_st("tapir_cancel_token_new_canceled", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
    if (st != TAPIR_STATUS_OK) return;
    if (!CALL(tapir_cancel_token_is_canceled(t))) failf("a token from tapir_cancel_token_new_canceled is not canceled");
    L();
    {
      int i = m_add_l(K_TOKEN, HV(t), TOK_CANCELED);
      if (i >= 0) g_slots[i].canceled = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    }
    return;
  case 2: {
    harg k = a_pick(K_TOKEN, -1, false);
    bool before = A_FIELD(&k, canceled) != 0;
    bool v = CALL(tapir_cancel_token_is_canceled(TO(k.h)));
    LOG("token_is_canceled(%#" PRIx64 ") -> %d", k.h, v);
    a_done(&k);
    unsigned flt = a_flt(&k, true);
    if (v && (flt & (F_BAD | F_NULL))) failf("tapir_cancel_token_is_canceled is true for an invalid handle");
    if (!v && before && !flt) failf("tapir_cancel_token_is_canceled went back to false");
    if (!v && (flt & (F_BAD | F_NULL))) check_last("tapir_cancel_token_is_canceled", flt);
    if (v && !flt) mark_canceled(k.h);
    return;
  }
  default: {
    harg k = a_pick(K_TOKEN, -1, false);
    bool v = CALL(tapir_cancel_token_can_be_canceled(TO(k.h)));
    int32_t last = tapir_last_status();
    LOG("token_can_be_canceled(%#" PRIx64 ") -> %d (last %s)", k.h, v, stname(last));
    a_done(&k);
    unsigned flt = a_flt(&k, true);
    if (v && (flt & (F_BAD | F_NULL))) failf("tapir_cancel_token_can_be_canceled is true for an invalid handle");
    L();
    int ki = s_find(k.h);
    int sub = ki >= 0 ? g_slots[ki].sub : -1, cn = ki >= 0 ? g_slots[ki].canceled : -1;
    bool revived = ki >= 0 && g_slots[ki].revived;
    U();
    (void)revived;
    if (!flt && k.h && v != (k.h != g_none_h)) {
      failf("tapir_cancel_token_can_be_canceled(%#" PRIx64 ") is %d (false only for the none token; model: sub %d, canceled %d, none %#" PRIx64 "; last status %s)",
            k.h, v, sub, cn, g_none_h, stname(last));
    }
    if (!v && (flt & (F_BAD | F_NULL))) check_last("tapir_cancel_token_can_be_canceled", flt);
    return;
  }
  }
}

#define D_REGISTER (D_BASE | S(INVALID_ARGUMENT) | S(CANCELED))

static harg a_pick_reg(int kind);
static void op_register(void) {
  harg k = a_pick_reg(K_TOKEN);
  harg c = pct(40) ? a_live(K_CTS) : a_none(AC_NONE);
  bool mis = misuse_on(), null_cb = mis && pct(3), want_reg = pct(70);
  uint32_t flags = pct(30) ? TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED : 0;
  unsigned flt = null_cb ? F_NULL : 0;
  if (mis && pct(3)) {
    flags |= 1u << (1 + rn(30));
    flt |= F_INV;
  }
  bool canceled = A_FIELD(&k, canceled) != 0, none = k.h && k.h == g_none_h;
  uint64_t tok_src = A_FIELD(&k, sub) == TOK_CTS ? A_FIELD(&k, aux) : 0;
  uint32_t ri = cb_rec("tapir_cancel_token_register", 1, 0, me()->depth, 0, 0, &c, K_CTS);
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(ri);
  r->nx = pct(30) ? NX_ERROR : NX_RESULT;
  r->tok_src = tok_src;
  /* a record that owns a cancel source keeps a reference to its own registration, so
   * that the teardown can unregister it should a stopped cancel leave it unrun */
  bool owns_cts = r->own[0] != 0;
  if (owns_cts) want_reg = true;
  void *ud = rec_ud(ri);
  pthread_mutex_unlock(&g_lmu);
  const tapir_cancel_registration *reg = SENTP(const tapir_cancel_registration *);
  int32_t st = CALL(tapir_cancel_token_register(TO(k.h), null_cb ? NULL : cb_cancel, ud, fz_destroy, flags, want_reg ? &reg : NULL));
  LOG("token_register(%#" PRIx64 ", flags %#x) -> %s reg %#" PRIx64, k.h, flags, stname(st), HV(reg));
  pthread_mutex_lock(&g_lmu);
  int calls = rec_at(ri)->calls, destroys = rec_at(ri)->destroys;
  pthread_mutex_unlock(&g_lmu);
  a_done(&k);
  a_done(&c);
  flt |= a_flt(&k, true);
  bool no_run = flags & TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED;
  uint32_t normal = S(OK) | (no_run ? S(CANCELED) : 0);
  if (none) normal = S(OK);
  else if (canceled) normal = no_run ? S(CANCELED) : S(OK);
  check_st("tapir_cancel_token_register", st, D_REGISTER, expect(flt, normal));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_cancel_token_register", st);
  if (st != TAPIR_STATUS_OK) {
    if (want_reg && HV(reg) != SENT) failf("tapir_cancel_token_register failed but wrote registration_out");
    return;
  }
  if (want_reg && HV(reg) == SENT) failf("tapir_cancel_token_register returned OK without writing registration_out");
  if (!(flt & F_LOOSE)) {
    if (none && (calls || destroys != 1 || (want_reg && reg)))
      failf("register on the none token: callback ran %d, destroy %d, registration %#" PRIx64 " (want 0, 1 at once, NULL)",
            calls, destroys, HV(reg));
    if (canceled && !none && calls != 1)
      failf("register on an already-canceled token returned with the callback run %d times (want once, before return)", calls);
  }
  if (!want_reg || !reg) return;
  bool own = owns_cts || pct(40);
  L();
  int i = m_add_l(K_CREG, HV(reg), 0);
  if (i >= 0) {
    g_slots[i].aux = k.h;
    g_slots[i].aux2 = HV(ud);
    if (own) g_slots[i].pins++; /* kept from the graveyard while it is retained below */
  }
  U();
  if (i < 0) {
    release_ok(K_CREG, HV(reg), "model full");
    return;
  }
  if (own) {
    /* a second reference for the callback itself: it unregisters itself from inside */
    uint64_t again = HV(CALL(tapir_cancel_registration_retain(reg)));
    L();
    int j = again ? m_add_l(K_CREG, again, 0) : -1;
    bool took = m_take_l(j, again);
    g_slots[i].pins--;
    s_maybe_grave(i);
    U();
    if (!again) return; /* released meanwhile by another thread */
    if (again != HV(reg)) failf("tapir_cancel_registration_retain returned %#" PRIx64, again);
    if (!took) {
      release_ok(K_CREG, again, "model full");
      return;
    }
    pthread_mutex_lock(&g_lmu);
    rec *rr = rec_decode(ud, NULL);
    bool stored = rr && rr->state == RS_ACCEPTED && rr->calls == 0 && !rr->own[1];
    if (stored) {
      rr->own[1] = again;
      rr->own_kind[1] = K_CREG;
    }
    pthread_mutex_unlock(&g_lmu);
    if (!stored) model_unext(K_CREG, again);
  }
}

static void op_creg(void) {
  harg a = a_pick(K_CREG, -1, false);
  uint64_t ud = a.cls == AC_LIVE ? A_FIELD(&a, aux2) : 0, tok = A_FIELD(&a, aux);
  bool before = a.cls == AC_LIVE && A_FIELD(&a, removed_ok);
  unsigned how = rn(3);
  if (how == 1 && me()->depth > 0) how = 0; /* no blocking unregister inside callbacks */
  if (how < 2) {
    int32_t st = how ? CALL(tapir_cancel_registration_unregister_wait(CR(a.h))) : CALL(tapir_cancel_registration_unregister(CR(a.h)));
    const char *fn = how ? "tapir_cancel_registration_unregister_wait" : "tapir_cancel_registration_unregister";
    LOG("%s(%#" PRIx64 ") -> %s", fn, a.h, stname(st));
    if (st == TAPIR_STATUS_OK && ud) {
      pthread_mutex_lock(&g_lmu);
      rec *r = rec_decode((void *)(uintptr_t)ud, NULL);
      int calls = r ? r->calls : 0, destroys = r ? r->destroys : 1;
      if (r) r->removed = 1;
      pthread_mutex_unlock(&g_lmu);
      if (calls || destroys != 1)
        failf("%s returned OK, yet the callback had run %d time(s) and its destroy %d time(s)", fn, calls, destroys);
    }
    a_done(&a);
    check_st(fn, st, D_BASE | S(ALREADY_COMPLETED),
             expect(a_flt(&a, true), before ? S(ALREADY_COMPLETED) : S(OK) | S(ALREADY_COMPLETED)));
    if (st == TAPIR_STATUS_OK) {
      L();
      int i = s_find(a.h);
      if (i >= 0) g_slots[i].removed_ok = 1;
      U();
    }
    return;
  }
  bool null_out = misuse_on() && pct(3);
  int ai = acq_begin(tok);
  const tapir_cancel_token *t = SENTP(const tapir_cancel_token *);
  int32_t st = CALL(tapir_cancel_registration_token(CR(a.h), null_out ? NULL : &t));
  LOG("cancel_registration_token(%#" PRIx64 ") -> %s %#" PRIx64, a.h, stname(st), HV(t));
  if (st == TAPIR_STATUS_OK) {
    L();
    int i = m_add_l(K_TOKEN, HV(t), TOK_LIB);
    if (i >= 0) g_slots[i].lent = 1;
    U();
    if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
  }
  acq_end(ai, tok);
  a_done(&a);
  unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
  check_st("tapir_cancel_registration_token", st, D_BASE, expect(flt, S(OK)));
  if (st == TAPIR_STATUS_OK && a.cls == AC_LIVE && tok && HV(t) != tok)
    failf("tapir_cancel_registration_token(%#" PRIx64 ") wrote %#" PRIx64 "; it was registered on %#" PRIx64, a.h, HV(t), tok);
  if (st != TAPIR_STATUS_OK && !null_out && HV(t) != SENT) failf("tapir_cancel_registration_token failed but wrote token_out");
}

/* A private cancel source: exact checks of cancel's contract, and of a failed
 * linked constructor leaving its valid parents untouched. */
static void op_cancel_scenario(void) {
  const tapir_cancel_source *c = NULL;
  const tapir_cancel_token *t = NULL;
  if (CALL(tapir_cancel_source_new(&c)) != TAPIR_STATUS_OK || CALL(tapir_cancel_source_token(c, &t)) != TAPIR_STATUS_OK)
    failf("making a private cancel source failed");
  LOG("cancel scenario on %#" PRIx64 " token %#" PRIx64, HV(c), HV(t));
  if (misuse_on() && fam_on(FAM_LINKED)) {
    /* a stale parent whose object is still alive: a token whose handle is released
     * while a linked child keeps the token object registered on */
    harg bad = a_none(AC_BAD);
    const tapir_cancel_source *q = NULL, *keep = NULL;
    const tapir_cancel_token *kq = NULL;
    if (pct(60)) {
      if (CALL(tapir_cancel_source_new(&q)) || CALL(tapir_cancel_source_token(q, &kq)) ||
          CALL(tapir_cancel_source_new_linked(&kq, 1, &keep)))
        failf("making a private linked source failed");
      release_ok(K_TOKEN, HV(kq), "private token");
      release_ok(K_CTS, HV(q), "private cancel source");
      q = NULL;
      bad.h = HV(kq);
      a_note(&bad, K_TOKEN, "a private token, its handle and source released, kept alive by a linked child");
    } else bad = pct(50) ? a_grave(K_TOKEN) : a_forged(K_TOKEN);
    if (bad.h && bad.cls == AC_BAD) {
      size_t before = CALL(tapir_debug_cancel_registrations(t));
      const tapir_cancel_token *arr[2] = {t, TO(bad.h)};
      if (pct(50)) {
        arr[0] = TO(bad.h);
        arr[1] = t;
      }
      const tapir_cancel_source *child = SENTP(const tapir_cancel_source *);
      int32_t st = CALL(tapir_cancel_source_new_linked(arr, 2, &child));
      size_t after = CALL(tapir_debug_cancel_registrations(t));
      LOG("new_linked(valid, stale %#" PRIx64 ") -> %s; registrations on the valid parent %zu -> %zu", bad.h, stname(st),
          before, after);
      a_done(&bad);
      check_st("tapir_cancel_source_new_linked (one stale parent)", st, D_BASE | S(INVALID_ARGUMENT),
               expect(a_flt(&bad, true), S(OK)));
      if (st != TAPIR_STATUS_OK && (after != before || HV(child) != SENT))
        failf("tapir_cancel_source_new_linked failed (%s) but left %zu callback(s) on its valid parent (had %zu)%s",
              stname(st), after, before, HV(child) != SENT ? " and wrote source_out" : "");
      if (st == TAPIR_STATUS_OK) release_ok(K_CTS, HV(child), "linked child");
      if (keep) release_ok(K_CTS, HV(keep), "private linked child");
    } else a_done(&bad);
  }
  enum { NREG = 5 };
  uint32_t ri[NREG];
  void *ud[NREG];
  int32_t code[NREG];
  bool unreg[NREG];
  unsigned n = 1 + rn(NREG);
  for (unsigned k = 0; k < n; k++) {
    ri[k] = rec_new(RK_CB, "tapir_cancel_token_register (scenario)", 1);
    code[k] = pct(35) ? fz_code() : 0;
    pthread_mutex_lock(&g_lmu);
    rec_at(ri[k])->nx = code[k] ? NX_ERROR : NX_RESULT;
    rec_at(ri[k])->code = code[k];
    ud[k] = rec_ud(ri[k]);
    pthread_mutex_unlock(&g_lmu);
    const tapir_cancel_registration *reg = NULL;
    int32_t st = CALL(tapir_cancel_token_register(t, cb_cancel, ud[k], fz_destroy, 0, &reg));
    check_st("tapir_cancel_token_register (private token)", st, D_REGISTER, S(OK));
    rec_settle(ri[k], true, "tapir_cancel_token_register", st);
    unreg[k] = pct(25);
    if (unreg[k]) {
      st = CALL(tapir_cancel_registration_unregister(reg));
      check_st("tapir_cancel_registration_unregister (private, pending)", st, D_BASE | S(ALREADY_COMPLETED), S(OK));
    }
    release_ok(K_CREG, HV(reg), "private registration");
  }
  size_t live = CALL(tapir_debug_cancel_registrations(t));
  unsigned expect_live = 0;
  for (unsigned k = 0; k < n; k++) expect_live += !unreg[k];
  if (live != expect_live) failf("tapir_debug_cancel_registrations counts %zu; %u callbacks are registered", live, expect_live);
  bool stop = pct(30);
  const tapir_error *errs = SENTP(const tapir_error *);
  int32_t st = CALL(tapir_cancel_source_cancel(c, stop ? TAPIR_CANCEL_STOP_AT_FIRST_ERROR : 0, &errs));
  check_st("tapir_cancel_source_cancel (private)", st, D_BASE | S(INVALID_ARGUMENT), S(OK));
  /* newest first; with stop, nothing after the first reported error runs */
  int32_t want[NREG];
  unsigned nwant = 0;
  bool stopped = false;
  for (int k = (int)n - 1; k >= 0; k--) {
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_decode(ud[k], NULL);
    int calls = r ? r->calls : -1;
    pthread_mutex_unlock(&g_lmu);
    int should = unreg[k] || stopped ? 0 : 1;
    if (calls != should)
      failf("cancel (stop %d) ran registration %d of %u %d time(s), expected %d (unregistered %d)", stop, k, n, calls, should, unreg[k]);
    if (should && code[k]) {
      want[nwant++] = code[k];
      if (stop) stopped = true;
    }
  }
  if (HV(errs) == SENT) failf("tapir_cancel_source_cancel did not write errors_out");
  if (!nwant && errs) failf("tapir_cancel_source_cancel wrote an aggregate though no callback reported an error");
  if (nwant) {
    if (!errs) failf("tapir_cancel_source_cancel: %u callbacks reported errors, errors_out is NULL", nwant);
    size_t ni = CALL(tapir_error_inner_count(errs));
    if (ni != nwant) failf("cancel aggregate has %zu inner errors; %u were reported", ni, nwant);
    for (unsigned k = 0; k < nwant; k++) {
      const tapir_error *in = NULL;
      if (CALL(tapir_error_inner(errs, k, &in)) != TAPIR_STATUS_OK) failf("tapir_error_inner on the cancel aggregate failed");
      int32_t cd = CALL(tapir_error_code(in));
      if (cd != want[k]) failf("cancel aggregate inner %u has code %d; the callbacks ran in an order giving %d", k, cd, want[k]);
      release_ok(K_ERROR, HV(in), "inner error");
    }
    release_ok(K_ERROR, HV(errs), "cancel aggregate");
  }
  if (!CALL(tapir_cancel_token_is_canceled(t))) failf("the token of a canceled source is not canceled");
  /* after cancellation: registering runs now, or (NO_RUN) is refused with nothing done */
  uint32_t late = rec_new(RK_CB, "tapir_cancel_token_register (after cancel)", 1);
  void *lud = rec_ud_l(late);
  bool no_run = pct(50);
  const tapir_cancel_registration *reg = SENTP(const tapir_cancel_registration *);
  st = CALL(tapir_cancel_token_register(t, cb_cancel, lud, fz_destroy, no_run ? TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED : 0, &reg));
  check_st("tapir_cancel_token_register (canceled token)", st, D_REGISTER, no_run ? S(CANCELED) : S(OK));
  pthread_mutex_lock(&g_lmu);
  int lc = rec_at(late)->calls;
  pthread_mutex_unlock(&g_lmu);
  if (!no_run && (lc != 1 || reg)) failf("register on a canceled token: ran %d times, registration %#" PRIx64 " (want 1, NULL)", lc, HV(reg));
  rec_settle(late, st == TAPIR_STATUS_OK, "tapir_cancel_token_register", st);
  release_ok(K_TOKEN, HV(t), "private token");
  release_ok(K_CTS, HV(c), "private cancel source");
}

/* ================================================================ time */

static void op_delay(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  unsigned flt = null_out ? F_NULL : 0, r = rn(100);
  int64_t ms;
  if (mis && r < 4) {
    ms = pct(50) ? -2 - (int64_t)rn(9) : TAPIR_MAX_TIMEOUT_MS + 1;
    flt |= F_INV;
  } else if (r < 18 && fam_on(FAM_FOREVER)) ms = -1;
  else if (r < 38) ms = 0;
  else if (r < 80) ms = 1 + (int64_t)rn(5);
  else ms = 10 + (int64_t)rn(50);
  harg tok = pct(40) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  bool canceled = A_FIELD(&tok, canceled) != 0;
  a_lend(&tok);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_delay(ms, TO(tok.h), null_out ? NULL : &t));
  int32_t s = st == TAPIR_STATUS_OK ? CALL(tapir_task_get_status(t)) : -1;
  LOG("delay(%" PRId64 ", tok %#" PRIx64 ") -> %s %#" PRIx64 " status %d", ms, tok.h, stname(st), HV(t), s);
  a_done(&tok);
  flt |= a_flt(&tok, false);
  check_st("tapir_delay", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_delay failed but wrote task_out");
    return;
  }
  if (!(flt & F_LOOSE)) {
    if (canceled && s != TAPIR_TASK_STATUS_CANCELED)
      failf("tapir_delay with an already-canceled token returned a task with status %d (want canceled at once)", s);
    if (!canceled && ms == 0 && s != TAPIR_TASK_STATUS_SUCCEEDED && !(tok.h && s == TAPIR_TASK_STATUS_CANCELED))
      failf("tapir_delay(0) returned a task with status %d (0 completes at once)", s);
  }
  L();
  ti_new_l(HV(t));
  ti_from_l(HV(t), FM_ID, 0);
  U();
  add_task_out_as(t, 0, ms < 0);
  if (pct(10)) (void)CALL(tapir_debug_pending_timers());
}

/* ================================================================ schedulers */

static void op_sched(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  const tapir_scheduler *s = SENTP(const tapir_scheduler *);
  int32_t st;
  switch (rn(5)) {
  case 0:
  case 1: {
    bool def = pct(50);
    st = def ? CALL(tapir_scheduler_default(null_out ? NULL : &s)) : CALL(tapir_scheduler_inline(null_out ? NULL : &s));
    check_st(def ? "tapir_scheduler_default" : "tapir_scheduler_inline", st, S(OK) | S(NULL_ARGUMENT),
             expect(null_out ? F_NULL : 0, S(OK)));
    if (st != TAPIR_STATUS_OK) return;
    if (HV(s) != (def ? g_default_h : g_inline_h)) failf("the %s scheduler handle changed: %#" PRIx64, def ? "default" : "inline", HV(s));
    L();
    int i = m_add_l(K_SCHED, HV(s), def ? SCH_DEFAULT : SCH_INLINE);
    if (i >= 0) g_slots[i].perm = 1;
    U();
    if (i < 0) release_ok(K_SCHED, HV(s), "model full");
    return;
  }
  case 2:
    if (!fam_on(FAM_MANUAL)) return;
    st = CALL(tapir_scheduler_new_manual(null_out ? NULL : &s));
    LOG("new_manual -> %s %#" PRIx64, stname(st), HV(s));
    check_st("tapir_scheduler_new_manual", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
    if (st == TAPIR_STATUS_OK) m_add(K_SCHED, HV(s), SCH_MANUAL, 0);
    return;
  case 3: {
    const tapir_scheduler *cur = CALL(tapir_scheduler_current());
    if (me()->depth == 0 && cur) failf("tapir_scheduler_current() on a fuzzer thread outside any callback is %#" PRIx64, HV(cur));
    if (cur) release_ok(K_SCHED, HV(cur), "current");
    return;
  }
  default:
    if (!mis) return;
    st = pct(50) ? CALL(tapir_work_run(NULL)) : CALL(tapir_work_discard(NULL));
    check_st("tapir_work_run/discard(NULL)", st, S(OK) | S(NULL_ARGUMENT), S(NULL_ARGUMENT));
    return;
  }
}

static void op_foreign_new(void) {
  int idx = atomic_fetch_add(&g_nfs, 1);
  if (idx >= MAXFS) {
    atomic_fetch_sub(&g_nfs, 1);
    return;
  }
  fsched *f = calloc(1, sizeof *f);
  if (!f) abort();
  pthread_mutex_init(&f->mu, NULL);
  bool mis = misuse_on();
  tapir_scheduler_vtable vt;
  memset(&vt, 0, sizeof vt);
  vt.struct_size = sizeof vt;
  vt.post = fs_post;
  vt.destroy = pct(85) ? fs_destroy : NULL;
  unsigned flt = 0;
  bool null_vt = false, null_out = false;
  if (mis) {
    unsigned r = rn(100);
    if (r < 3) null_vt = true, flt |= F_NULL;
    else if (r < 6) vt.post = NULL, flt |= F_NULL;
    else if (r < 9) vt.struct_size = 4, flt |= F_INV;
    else if (r < 12) null_out = true, flt |= F_NULL;
  }
  uint32_t ri = UINT32_MAX;
  if (vt.destroy) {
    ri = rec_new(RK_CTX, "tapir_scheduler_new_foreign ctx", 0);
    f->ud = rec_ud_l(ri);
  }
  g_fs[idx] = f;
  const tapir_scheduler *s = SENTP(const tapir_scheduler *);
  int32_t st = CALL(tapir_scheduler_new_foreign(null_vt ? NULL : &vt, f, null_out ? NULL : &s));
  LOG("new_foreign(fs %d, destroy %d) -> %s %#" PRIx64, idx, vt.destroy != NULL, stname(st), HV(s));
  check_st("tapir_scheduler_new_foreign", st, S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (ri != UINT32_MAX) rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_scheduler_new_foreign", st);
  if (st != TAPIR_STATUS_OK) {
    atomic_store(&f->destroyed, 1); /* tapir must never call it */
    f->ud = NULL;
    if (!null_out && HV(s) != SENT) failf("tapir_scheduler_new_foreign failed but wrote scheduler_out");
    return;
  }
  L();
  int i = m_add_l(K_SCHED, HV(s), SCH_FOREIGN);
  if (i >= 0) g_slots[i].aux = (uint64_t)idx;
  U();
  if (i < 0) release_ok(K_SCHED, HV(s), "model full");
}

static void op_foreign_pump(void) {
  int n = atomic_load(&g_nfs);
  if (n <= 0) return;
  fsched *f = g_fs[rn((unsigned)n)];
  if (f) fs_pump(f, 1 + (int)rn(8), 15);
}

static void op_post(void) {
  harg s = a_pick_reg(K_SCHED);
  bool null_fn = misuse_on() && pct(3);
  int sub = s.cls == AC_LIVE ? sched_sub_of(s.h) : -1;
  uint8_t check;
  uint64_t want;
  sched_expect(s.h, false, &check, &want);
  if (s.cls != AC_LIVE) check = 0;
  uint32_t ri = cb_rec("tapir_scheduler_post", 1, 0, me()->depth, check, want, &s, K_SCHED);
  void *ud = rec_ud_l(ri);
  a_lend(&s);
  int32_t st = CALL(tapir_scheduler_post(SC(s.h), null_fn ? NULL : cb_work, ud, fz_destroy));
  LOG("post(%#" PRIx64 ") -> %s", s.h, stname(st));
  pthread_mutex_lock(&g_lmu);
  int calls = rec_at(ri)->calls;
  pthread_mutex_unlock(&g_lmu);
  a_done(&s);
  unsigned flt = a_flt(&s, true) | (null_fn ? F_NULL : 0);
  check_st("tapir_scheduler_post", st, D_BASE, expect(flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_scheduler_post", st);
  /* Outside any callback the work runs before the post returns. Inside one, inline
   * work is bounded in depth (count and stack), so it may be queued for the outermost
   * inline frame instead; the ledger still checks that it runs exactly once. */
  bool nested = me()->depth > 0;
  if (st == TAPIR_STATUS_OK && !flt && sub == SCH_INLINE && (nested ? calls > 1 : calls != 1))
    failf("tapir_scheduler_post to the inline scheduler returned with the work run %d times (want once%s)", calls,
          nested ? " at most, inside a callback" : ", before return");
}

static void op_run_pending(void) {
  if (me()->depth > 0) return;
  harg s = a_pick(K_SCHED, -1, false);
  int sub = s.cls == AC_LIVE ? sched_sub_of(s.h) : -1;
  bool mis = misuse_on(), null_out = mis && pct(3);
  size_t max_items = rn(6);
  int64_t max_ms = pct(70) ? -1 : (int64_t)rn(3);
  unsigned flt = null_out ? F_NULL : 0;
  if (mis && pct(3)) {
    max_ms = -2 - (int64_t)rn(5);
    flt |= F_INV;
  }
  size_t ran = SENT;
  int32_t st = CALL(tapir_scheduler_run_pending(SC(s.h), max_items, max_ms, null_out ? NULL : &ran));
  LOG("run_pending(%#" PRIx64 ", %zu, %" PRId64 ") -> %s ran %zu", s.h, max_items, max_ms, stname(st), ran);
  a_done(&s);
  flt |= a_flt(&s, true);
  uint32_t normal = S(OK) | S(INVALID_ARGUMENT);
  if (sub == SCH_MANUAL) normal = S(OK);
  else if (sub >= 0) normal = S(INVALID_ARGUMENT);
  check_st("tapir_scheduler_run_pending", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, normal));
  if (st == TAPIR_STATUS_OK && max_items && ran > max_items) failf("tapir_scheduler_run_pending ran %zu items with max_items %zu", ran, max_items);
  if (st != TAPIR_STATUS_OK && !null_out && ran != SENT) failf("tapir_scheduler_run_pending failed but wrote ran_out");
}

static void op_run(void) {
  harg s = pct(50) ? a_pick(K_SCHED, -1, true) : a_none(AC_LIVE);
  harg tok = pct(30) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  bool canceled = A_FIELD(&tok, canceled) != 0;
  bool mis = misuse_on(), null_fn = mis && pct(3), null_out = mis && pct(3);
  uint8_t check;
  uint64_t want;
  sched_expect(s.h, false, &check, &want);
  if (s.cls != AC_LIVE) check = 0;
  uint32_t ri = cb_rec("tapir_run", 1, 0, me()->depth, check, want, NULL, 0);
  void *ud = rec_ud_l(ri);
  a_lend(&s);
  a_lend(&tok);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_run(SC(s.h), null_fn ? NULL : cb_run, ud, fz_destroy, TO(tok.h), null_out ? NULL : &t));
  pthread_mutex_lock(&g_lmu);
  int calls = rec_at(ri)->calls;
  if (st == TAPIR_STATUS_OK && canceled) rec_at(ri)->no_run = 1;
  pthread_mutex_unlock(&g_lmu);
  int32_t stat = st == TAPIR_STATUS_OK ? CALL(tapir_task_get_status(t)) : -1;
  LOG("run(sched %#" PRIx64 ", tok %#" PRIx64 ") -> %s %#" PRIx64 " status %d", s.h, tok.h, stname(st), HV(t), stat);
  a_done(&s);
  a_done(&tok);
  unsigned flt = a_flt(&s, false) | a_flt(&tok, false) | (null_fn || null_out ? F_NULL : 0);
  check_st("tapir_run", st, D_BASE, expect(flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_run", st);
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_run failed but wrote task_out");
    return;
  }
  if (canceled && !(flt & F_LOOSE) && (stat != TAPIR_TASK_STATUS_CANCELED || calls))
    failf("tapir_run with an already-canceled token: task status %d, work ran %d time(s) (want canceled at once, never run)", stat, calls);
  L();
  ti_new_l(HV(t));
  U();
  add_task_out(t, 1);
}

static void op_yield(void) {
  bool null_out = misuse_on() && pct(3);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_yield(null_out ? NULL : &t));
  check_st("tapir_yield", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
  if (st != TAPIR_STATUS_OK) return;
  L();
  ti_new_l(HV(t));
  ti_from_l(HV(t), FM_ID, 0);
  U();
  add_task_out(t, 0);
}

/* ================================================================ errors */

static void op_error_new(void) {
  bool mis = misuse_on(), null_out = mis && pct(3), agg = pct(40);
  int32_t code = fz_code();
  char msg[32];
  size_t len = (size_t)snprintf(msg, sizeof msg, agg ? "fzA:%d" : "fz:%d", code);
  const uint8_t *mp = (const uint8_t *)msg;
  unsigned flt = null_out ? F_NULL : 0, r = rn(100);
  if (r < 10) mp = NULL, len = 0;
  else if (mis && r < 13) mp = NULL, flt |= F_NULL;
  else if (mis && r < 16) {
    msg[1] = (char)0xFF; /* not UTF-8 */
    flt |= F_INV;
  }
  const tapir_error *e = SENTP(const tapir_error *);
  int32_t st;
  uint32_t pi = UINT32_MAX;
  void *payload = NULL;
  unsigned n = 0;
  if (!agg) {
    if (pct(40)) {
      pi = rec_new(RK_PAYLOAD, "tapir_error_new payload", 0);
      pthread_mutex_lock(&g_lmu);
      rec_at(pi)->code = code;
      payload = rec_ud(pi);
      pthread_mutex_unlock(&g_lmu);
    }
    st = CALL(tapir_error_new(code, mp, len, payload, payload ? fz_destroy : NULL, null_out ? NULL : &e));
    LOG("error_new(%d, len %zu, payload %p) -> %s %#" PRIx64, code, len, payload, stname(st), HV(e));
    check_st("tapir_error_new", st, S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT), expect(flt, S(OK)));
    if (pi != UINT32_MAX) rec_settle(pi, st == TAPIR_STATUS_OK, "tapir_error_new", st);
  } else {
    harg in[3];
    const tapir_error *arr[3];
    n = rn(4);
    bool null_arr = mis && pct(4) && n;
    for (unsigned k = 0; k < n; k++) {
      in[k] = a_pick(K_ERROR, -1, false);
      a_lend(&in[k]);
      arr[k] = ER(in[k].h);
    }
    st = CALL(tapir_error_new_aggregate(code, mp, len, null_arr ? NULL : arr, n, null_out ? NULL : &e));
    LOG("error_new_aggregate(%d, n %u) -> %s %#" PRIx64, code, n, stname(st), HV(e));
    for (unsigned k = 0; k < n; k++) {
      a_done(&in[k]);
      unsigned f = a_flt(&in[k], true);
      flt |= (f & F_NULL) ? F_INV : f;
    }
    if (null_arr) flt |= F_NULL;
    check_st("tapir_error_new_aggregate", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  }
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(e) != SENT) failf("creating an error failed but wrote error_out");
    return;
  }
  check_error(HV(e), "a new error");
  if (CALL(tapir_error_payload(e)) != payload) failf("tapir_error_payload does not return the payload given at creation");
  if (CALL(tapir_error_inner_count(e)) != n) failf("tapir_error_inner_count of a new aggregate is not its inner count %u", n);
  L();
  int i = m_add_l(K_ERROR, HV(e), ERR_MADE);
  if (i >= 0) {
    g_slots[i].code = code;
    g_slots[i].aux2 = HV(payload);
    g_slots[i].ninner = n;
  }
  U();
  if (i < 0) release_ok(K_ERROR, HV(e), "model full");
}

static void op_error_read(void) {
  harg e = a_pick(K_ERROR, -1, false);
  bool made = A_FIELD(&e, sub) == ERR_MADE;
  int32_t code0 = (int32_t)A_FIELD(&e, code);
  uint64_t payload0 = A_FIELD(&e, aux2);
  uint32_t ninner0 = (uint32_t)A_FIELD(&e, ninner);
  uint64_t hold = e.cls == AC_LIVE ? HV(CALL(tapir_error_retain(ER(e.h)))) : 0;
  bool mis = misuse_on(), null_out = mis && pct(3);
  switch (rn(4)) {
  case 0: {
    int32_t code = CALL(tapir_error_code(ER(e.h)));
    size_t len = 777;
    const uint8_t *m = CALL(tapir_error_message(ER(e.h), &len));
    void *p = CALL(tapir_error_payload(ER(e.h)));
    size_t n = CALL(tapir_error_inner_count(ER(e.h)));
    if (hold) {
      check_error(e.h, "error getters");
      if (made && (code != code0 || HV(p) != payload0 || n != ninner0))
        failf("error %#" PRIx64 " reads code %d payload %p inner %zu; it was made with %d, %#" PRIx64 ", %u", e.h, code, p, n,
              code0, payload0, ninner0);
      release_ok(K_ERROR, hold, "private read reference");
    }
    a_done(&e);
    unsigned flt = a_flt(&e, true);
    if (flt & (F_BAD | F_NULL)) {
      if (code || m || p || n) failf("error getters on an invalid handle returned code %d message %p payload %p inner %zu", code, (const void *)m, p, n);
      if (len != 777) failf("tapir_error_message on an invalid handle wrote len_out");
      check_last("tapir_error_code", flt);
    }
    return;
  }
  case 1: {
    size_t n = CALL(tapir_error_inner_count(ER(e.h)));
    size_t idx = rn((unsigned)n + 2);
    const tapir_error *in = SENTP(const tapir_error *);
    int32_t st = CALL(tapir_error_inner(ER(e.h), idx, null_out ? NULL : &in));
    LOG("error_inner(%#" PRIx64 ", %zu of %zu) -> %s %#" PRIx64, e.h, idx, n, stname(st), HV(in));
    if (hold) release_ok(K_ERROR, hold, "private read reference");
    a_done(&e);
    unsigned flt = a_flt(&e, true) | (null_out ? F_NULL : 0);
    uint32_t normal = S(OK) | S(INVALID_ARGUMENT);
    if (hold && e.cls == AC_LIVE) normal = idx < n ? S(OK) : S(INVALID_ARGUMENT);
    check_st("tapir_error_inner", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, normal));
    if (st == TAPIR_STATUS_OK) {
      check_error(HV(in), "tapir_error_inner");
      m_add(K_ERROR, HV(in), ERR_LIB, 1);
    } else if (!null_out && HV(in) != SENT) failf("tapir_error_inner failed but wrote inner_out");
    return;
  }
  case 2: {
    int32_t code = CALL(tapir_error_code(ER(e.h)));
    const tapir_error *fl = SENTP(const tapir_error *);
    int32_t st = CALL(tapir_error_flatten(ER(e.h), null_out ? NULL : &fl));
    LOG("error_flatten(%#" PRIx64 ") -> %s %#" PRIx64, e.h, stname(st), HV(fl));
    if (hold) release_ok(K_ERROR, hold, "private read reference");
    a_done(&e);
    unsigned flt = a_flt(&e, true) | (null_out ? F_NULL : 0);
    check_st("tapir_error_flatten", st, D_BASE, expect(flt, S(OK)));
    if (st == TAPIR_STATUS_OK) {
      int32_t fc = CALL(tapir_error_code(fl));
      if (hold && fc != code) failf("tapir_error_flatten of an error with code %d made an aggregate with code %d", code, fc);
      check_error(HV(fl), "tapir_error_flatten");
      m_add(K_ERROR, HV(fl), ERR_LIB, 1);
    } else if (!null_out && HV(fl) != SENT) failf("tapir_error_flatten failed but wrote flat_out");
    return;
  }
  default: {
    const uint8_t *m = CALL(tapir_error_message(ER(e.h), NULL));
    if (hold) release_ok(K_ERROR, hold, "private read reference");
    a_done(&e);
    if (m) failf("tapir_error_message with len_out NULL returned %p (want NULL)", (const void *)m);
    return;
  }
  }
}

/* ================================================================ progress */

static void op_progress(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  if (pct(35)) {
    harg s = pct(60) ? a_pick(K_SCHED, -1, true) : a_none(AC_LIVE);
    bool null_fn = mis && pct(3);
    uint8_t check;
    uint64_t want;
    sched_expect(s.h, false, &check, &want);
    if (s.cls != AC_LIVE) check = 0;
    uint32_t ri = rec_new(RK_HANDLER, "tapir_progress_new", 0);
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_at(ri);
    r->action = pct(60) ? ACT_NONE : pct(50) ? ACT_QUERY : ACT_OP;
    r->sched_check = check;
    r->sched_h = want;
    r->depth = (uint8_t)me()->depth;
    void *ud = rec_ud(ri);
    pthread_mutex_unlock(&g_lmu);
    a_lend(&s);
    const tapir_progress *p = SENTP(const tapir_progress *);
    int32_t st = CALL(tapir_progress_new(SC(s.h), null_fn ? NULL : cb_progress, ud, fz_destroy, null_out ? NULL : &p));
    LOG("progress_new(%#" PRIx64 ") -> %s %#" PRIx64, s.h, stname(st), HV(p));
    a_done(&s);
    check_st("tapir_progress_new", st, D_BASE, expect(a_flt(&s, false) | (null_fn || null_out ? F_NULL : 0), S(OK)));
    rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_new", st);
    if (st == TAPIR_STATUS_OK) m_add(K_PROGRESS, HV(p), 0, 0);
    else if (!null_out && HV(p) != SENT) failf("tapir_progress_new failed but wrote progress_out");
    return;
  }
  harg p = a_pick_reg(K_PROGRESS);
  uint32_t ri;
  void *v = val_new(0, pct(70), &ri);
  int32_t st = CALL(tapir_progress_report(PG(p.h), v, ri == UINT32_MAX ? NULL : fz_destroy));
  LOG("progress_report(%#" PRIx64 ", %p) -> %s", p.h, v, stname(st));
  a_done(&p);
  check_st("tapir_progress_report", st, D_BASE, expect(a_flt(&p, true), S(OK)));
  val_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_report", st);
}

/* ================================================================ diagnostics and process-wide calls */

static const char *g_version;

static void op_misc(void) {
  switch (rn(5)) {
  case 0: {
    const char *v = CALL(tapir_version());
    if (!v || !*v || (g_version && v != g_version)) failf("tapir_version returned %p", (const void *)v);
    return;
  }
  case 1: {
    int32_t s = CALL(tapir_last_status());
    if (s < 0 || s > TAPIR_STATUS_SCHEDULER_ERROR) failf("tapir_last_status returned %d", s);
    return;
  }
  case 2: {
    int32_t code = pct(50) ? (int32_t)rn(20) : (int32_t)rnd();
    const char *s = CALL(tapir_status_str(code));
    if (!s || !*s) failf("tapir_status_str(%d) returned an empty or NULL string", code);
    return;
  }
  case 3: {
    int32_t kind = (int32_t)rn(21) - 3;
    size_t n = CALL(tapir_debug_live_objects(kind));
    if ((kind < 0 || kind > TAPIR_OBJECT_KIND_CLOCK) && n) failf("tapir_debug_live_objects(%d) (unknown kind) returned %zu", kind, n);
    return;
  }
  default: (void)CALL(tapir_debug_pending_timers()); return;
  }
}

static void op_hook(void) {
  int r = (int)rn(3);
  int32_t st = CALL(tapir_set_unobserved_error_hook(r ? hook_fn : NULL, r == 1 ? (void *)&g_hook_tag1 : (void *)&g_hook_tag2));
  LOG("set_unobserved_error_hook(%d) -> %s", r, stname(st));
  check_st("tapir_set_unobserved_error_hook", st, S(OK), S(OK));
}

static void op_shutdown(void) {
  if (me()->depth > 0) return;
  LOG("shutdown");
  int32_t st = CALL(tapir_shutdown());
  check_st("tapir_shutdown", st, S(OK), S(OK));
}

/* ================================================================ references */

static void op_release(void) {
  /* a kind in proportion to the live handles the model holds of it */
  int kind = (int)rn(NK);
  L();
  int total = g_nlive_all;
  if (total > 0) {
    int r = (int)rn((unsigned)total);
    for (int k = 0; k < NK; k++) {
      if (r < g_nlive[k]) {
        kind = k;
        break;
      }
      r -= g_nlive[k];
    }
  }
  U();
  bool mis = misuse_on();
  unsigned r = rn(100);
  const char *fn = kname[kind];
  if (mis && r < 10) { /* a second release of a handle that is dead for good */
    harg a = a_grave(kind);
    if (!a.h || a.cls != AC_BAD || A_FIELD(&a, acqable)) {
      a_done(&a);
      return;
    }
    int32_t st = CALL(tp_release(kind, a.h));
    LOG("double release %s %#" PRIx64 " -> %s", fn, a.h, stname(st));
    a_done(&a);
    if (a.cls == AC_BAD && st != TAPIR_STATUS_INVALID_HANDLE)
      failf("a second release of %s %#" PRIx64 " (the fuzzer released its last reference; nothing hands it out again) "
            "returned %s, want INVALID_HANDLE",
            fn, a.h, stname(st));
    return;
  }
  if (mis && r < 13) {
    int32_t st = CALL(tp_release(kind, 0));
    if (st != TAPIR_STATUS_OK) failf("releasing NULL as a %s returned %s (NULL is a no-op)", fn, stname(st));
    return;
  }
  if (mis && r < 17) {
    harg a = a_wrong(kind, -1);
    if (!a.h) return;
    int32_t st = CALL(tp_release(kind, a.h));
    LOG("wrong-kind release as %s %#" PRIx64 " -> %s", fn, a.h, stname(st));
    if (st != TAPIR_STATUS_INVALID_HANDLE) failf("releasing a live handle of another kind as a %s returned %s", fn, stname(st));
    return;
  }
  bool racing = fam_on(FAM_RACEREL) && r < 30;
  L();
  int n = g_nlive[kind], pick = -1;
  for (int t = 0; t < (racing ? 24 : 8) && n; t++) {
    int i = g_live[kind][rn((unsigned)n)];
    slot *s = &g_slots[i];
    if (s->refs <= 0) continue;
    if (racing ? s->pins > 0 : (s->pins == 0 || s->refs > 1)) {
      pick = i;
      break;
    }
  }
  if (pick < 0) {
    U();
    return;
  }
  slot *s = &g_slots[pick];
  uint64_t h = s->h;
  s->refs--;
  if (s->refs == 0 && s->pins > 0) {
    s->dying = 1;
    s->rel_ep++;
  }
  /* until the release below has run the handle still works: loose for stale picks */
  s->acq++;
  s->acq_ep++;
  s_maybe_grave(pick);
  U();
  int32_t st = CALL(tp_release(kind, h));
  L();
  acq_drop_l(pick, h);
  U();
  LOG("release%s %s %#" PRIx64 " -> %s", racing ? " (racing a call)" : "", fn, h, stname(st));
  if (st != TAPIR_STATUS_OK) failf("releasing a %s reference the fuzzer owns (%#" PRIx64 ") returned %s", fn, h, stname(st));
}

static void op_retain(void) {
  int kind = (int)rn(NK);
  harg a = a_pick(kind, -1, false);
  uint64_t r = CALL(tp_retain(kind, a.h));
  LOG("retain %s %#" PRIx64 " -> %#" PRIx64, kname[kind], a.h, r);
  if (r && r != a.h) failf("tapir_%s_retain(%#" PRIx64 ") returned %#" PRIx64, kname[kind], a.h, r);
  if (r && !a.grave && (a.cls == AC_BAD || a.cls == AC_NONE))
    failf("tapir_%s_retain accepted an invalid handle %#" PRIx64 " (wrong kind or forged)", kname[kind], a.h);
  /* a live slot takes the reference before it is unpinned (it must not pass through
   * the graveyard); a revived grave after */
  if (r && !a.grave) {
    L();
    int i = m_add_l(kind, r, 0);
    U();
    if (i < 0) release_ok(kind, r, "model full");
  }
  a_done(&a);
  unsigned flt = a_flt(&a, true);
  if (r && (flt & (F_BAD | F_NULL)))
    failf("tapir_%s_retain accepted %#" PRIx64 ", released for good by the fuzzer", kname[kind], a.h);
  if (r && a.grave) {
    L();
    int i = m_add_l(kind, r, 0);
    U();
    if (i < 0) release_ok(kind, r, "model full");
  }
  if (!r && !flt) failf("tapir_%s_retain returned NULL for a live handle %#" PRIx64 " (last status %s)", kname[kind], a.h,
                        stname(CALL(tapir_last_status())));
  if (!r) check_last("retain", flt);
}

/* ================================================================ release racing a call
 *
 * A private object whose only reference a helper thread releases after a random
 * spin, while this thread keeps calling functions on it. Every call must either
 * succeed whole or return INVALID_HANDLE having done nothing; once one call has
 * returned INVALID_HANDLE every later one must too; and once the helper's release has
 * returned, the next call must return INVALID_HANDLE.
 */

typedef struct racer {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state; /* 0 idle, 1 go, 3 quit */
  atomic_int done;
  int kind;
  uint64_t h;
  unsigned spin;
  int32_t result;
  char name[20];
  uint64_t seed;
} racer;
static _Thread_local racer *tl_racer;
static atomic_ullong g_races, g_race_calls;
static _Thread_local const char *g_race_what;
/* The racing call that completed the racing source's task, if any: a source whose
 * task forwards from a pending task (set_from_task) is still pending, so a racing
 * set_result / set_error / set_canceled / set_from_task may complete it first (OK),
 * and the forward then finds it completed. tl_race_done: 0 none, 1 result (value
 * tl_race_value), 2 faulted, 3 canceled. */
static _Thread_local int tl_race_done;
static _Thread_local void *tl_race_value;
static void race_completed(int how, void *v) {
  if (tl_race_done) failf("two racing calls both completed the same source's task (the second must return ALREADY_COMPLETED)");
  tl_race_done = how;
  tl_race_value = v;
}

static void *racer_main(void *arg) {
  racer *r = arg;
  thr_register(r->name, r->seed, 0);
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (r->state == 0) pthread_cond_wait(&r->cv, &r->mu);
    if (r->state == 3) break;
    int kind = r->kind;
    uint64_t h = r->h;
    unsigned spin = r->spin;
    r->state = 0;
    pthread_mutex_unlock(&r->mu);
    for (volatile unsigned i = 0; i < spin; i = i + 1) {
    }
    int32_t st = CALL(tp_release(kind, h));
    LOG("racer released %s %#" PRIx64 " -> %s", kname[kind], h, stname(st));
    pthread_mutex_lock(&r->mu);
    r->result = st;
    atomic_store(&r->done, 1);
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static racer *racer_start(int id) {
  racer *r = calloc(1, sizeof *r);
  if (!r) abort();
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  snprintf(r->name, sizeof r->name, "racer-%d", id);
  r->seed = g_seed ^ (0xACE0ull + (uint64_t)id);
  if (pthread_create(&r->th, NULL, racer_main, r)) abort();
  return r;
}

static void racer_stop(racer *r) {
  pthread_mutex_lock(&r->mu);
  r->state = 3;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->th, NULL);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

/* One call on the racing object `x`; returns TAPIR_STATUS_INVALID_HANDLE when the
 * call reported the handle invalid, else TAPIR_STATUS_OK (the call succeeded). */
static int32_t race_call(int kind, uint64_t x, const tapir_source *s2) {
  int32_t st;
  unsigned v;
  switch (kind) {
  case K_TASK: {
    static const char *tn[] = {"on_complete", "continue_with", "when_all/any", "when_all/any", "interleaved", "wait_async/unwrap", "get_status", "task_result", "task_wait", "set_from_task", "task_id"};
    v = rn(11);
    if (v == 9 && !fam_on(FAM_FROMTASK)) v = 6;
    g_race_what = tn[v];
    switch (v) {
    case 0: {
      uint32_t ri = cb_rec("tapir_task_on_complete (racing)", 1, x, 0, 0, 0, NULL, 0);
      const tapir_registration *reg = NULL;
      st = CALL(tapir_task_on_complete(TK(x), cb_on_complete, rec_ud_l(ri), fz_destroy, NULL, pct(50) ? &reg : NULL));
      check_st("tapir_task_on_complete (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_on_complete (racing a release)", st);
      if (reg) m_add(K_REG, HV(reg), 0, 0);
      return st;
    }
    case 1: {
      uint32_t ri = cb_rec("tapir_task_continue_with (racing)", 1, x, 0, 0, 0, NULL, 0);
      const tapir_task *c = SENTP(const tapir_task *);
      st = CALL(tapir_task_continue_with(TK(x), cb_continue, rec_ud_l(ri), fz_destroy, NULL, &c));
      check_st("tapir_task_continue_with (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_continue_with (racing a release)", st);
      if (st == TAPIR_STATUS_OK) add_task_out(c, 1);
      else if (HV(c) != SENT) failf("tapir_task_continue_with failed (racing a release) but wrote task_out");
      return st;
    }
    case 2:
    case 3: {
      const tapir_task *in[2] = {TK(x), TK(x)};
      const tapir_task *t = SENTP(const tapir_task *);
      unsigned n = 1 + rn(2);
      st = rn(2) ? CALL(tapir_when_all(in, n, &t)) : CALL(tapir_when_any(in, n, NULL, &t));
      check_st("tapir_when_all/when_any (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) {
        L();
        ti_get(HV(t), true)->overflow = 1;
        U();
        add_task_out(t, 0);
      } else if (HV(t) != SENT) failf("a combinator failed (racing a release) but wrote task_out");
      return st;
    }
    case 4: {
      const tapir_task *in[1] = {TK(x)};
      const tapir_task *out[1] = {SENTP(const tapir_task *)};
      st = CALL(tapir_interleaved(in, 1, out));
      check_st("tapir_interleaved (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) {
        ti_from(HV(out[0]), FM_TASK, x);
        add_task_out(out[0], 0);
      } else if (HV(out[0]) != SENT) failf("tapir_interleaved failed (racing a release) but wrote outputs");
      return st;
    }
    case 5: {
      const tapir_task *t = SENTP(const tapir_task *);
      st = pct(50) ? CALL(tapir_task_wait_async(TK(x), TAPIR_INFINITE, NULL, &t)) : CALL(tapir_task_unwrap(TK(x), &t));
      check_st("tapir_task_wait_async/unwrap (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) {
        L();
        ti_get(HV(t), true)->overflow = 1;
        U();
        add_task_out(t, 0);
      }
      return st;
    }
    case 6: {
      int32_t s = CALL(tapir_task_get_status(TK(x)));
      if (s != TAPIR_TASK_STATUS_PENDING && s != TAPIR_TASK_STATUS_INVALID_HANDLE)
        failf("tapir_task_get_status of a pending racing task is %d", s);
      return s == TAPIR_TASK_STATUS_PENDING ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    case 7: {
      void *v = SENTP(void *);
      st = CALL(tapir_task_result(TK(x), &v));
      check_st("tapir_task_result (racing a release)", st, D_BASE | S(NOT_COMPLETED) | S(FAULTED) | S(CANCELED),
               S(NOT_COMPLETED) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    case 8:
      st = CALL(tapir_task_wait(TK(x), 0));
      check_st("tapir_task_wait (racing a release)", st, D_WAIT, S(TIMEOUT) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    case 9: {
      st = CALL(tapir_source_set_from_task(s2, TK(x)));
      check_st("tapir_source_set_from_task (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    default: {
      uint64_t id = CALL(tapir_task_id(TK(x)));
      return id ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  case K_SOURCE: {
    static const char *sn[] = {"set_result", "set_error", "set_canceled", "source_task", "set_from_task", "retain"};
    v = rn(6);
    if (v == 4 && !fam_on(FAM_FROMTASK)) v = 3;
    g_race_what = sn[v];
    switch (v) {
    case 0: {
      uint32_t ri;
      void *v = val_new(0, true, &ri);
      st = CALL(tapir_source_set_result(SR(x), v, fz_destroy));
      check_st("tapir_source_set_result (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      val_settle(ri, st == TAPIR_STATUS_OK, "tapir_source_set_result (racing a release)", st);
      if (st == TAPIR_STATUS_OK) race_completed(1, v);
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    case 1: {
      uint64_t e = make_error_h();
      st = CALL(tapir_source_set_error(SR(x), ER(e)));
      release_ok(K_ERROR, e, "racing error");
      check_st("tapir_source_set_error (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) race_completed(2, NULL);
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    case 2:
      st = CALL(tapir_source_set_canceled(SR(x), NULL));
      check_st("tapir_source_set_canceled (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) race_completed(3, NULL);
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    case 3: {
      const tapir_task *t = SENTP(const tapir_task *);
      st = CALL(tapir_source_task(SR(x), &t));
      check_st("tapir_source_task (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) release_ok(K_TASK, HV(t), "racing source's task");
      return st;
    }
    case 4: {
      const tapir_task *c = NULL;
      CALL(tapir_task_completed(&c));
      st = CALL(tapir_source_set_from_task(SR(x), c));
      release_ok(K_TASK, HV(c), "completed task");
      check_st("tapir_source_set_from_task (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) race_completed(1, NULL); /* the completed task's result is NULL */
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    default: {
      uint64_t r = HV(CALL(tapir_source_retain(SR(x))));
      if (r && r != x) failf("tapir_source_retain(%#" PRIx64 ") returned %#" PRIx64, x, r);
      if (r) release_ok(K_SOURCE, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  case K_CTS: {
    static const char *cn[] = {"token", "cancel", "cancel_after", "retain"};
    v = rn(4);
    g_race_what = cn[v];
    switch (v) {
    case 0: {
      const tapir_cancel_token *t = NULL;
      st = CALL(tapir_cancel_source_token(CS(x), &t));
      check_st("tapir_cancel_source_token (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) release_ok(K_TOKEN, HV(t), "racing token");
      return st;
    }
    case 1:
      st = CALL(tapir_cancel_source_cancel(CS(x), 0, NULL));
      check_st("tapir_cancel_source_cancel (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      return st;
    case 2:
      st = CALL(tapir_cancel_source_cancel_after(CS(x), pct(50) ? 600000 : 1 + (int64_t)rn(5)));
      check_st("tapir_cancel_source_cancel_after (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      return st;
    default: {
      uint64_t r = HV(CALL(tapir_cancel_source_retain(CS(x))));
      if (r) release_ok(K_CTS, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  case K_ERROR: {
    static const char *en[] = {"error_code", "from_error", "aggregate", "retain"};
    v = rn(4);
    g_race_what = en[v];
    switch (v) {
    case 0: return CALL(tapir_error_code(ER(x))) ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    case 1: {
      const tapir_task *t = SENTP(const tapir_task *);
      st = CALL(tapir_task_from_error(ER(x), &t));
      check_st("tapir_task_from_error (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      /* released at once: in the model, other threads would read the error back
       * (tapir_task_error hands out new references to it) and it would not be racing
       * its last reference any more */
      if (st == TAPIR_STATUS_OK) release_ok(K_TASK, HV(t), "racing error's task");
      return st;
    }
    case 2: {
      const tapir_error *in[1] = {ER(x)};
      const tapir_error *e = SENTP(const tapir_error *);
      st = CALL(tapir_error_new_aggregate(1000, NULL, 0, in, 1, &e));
      check_st("tapir_error_new_aggregate (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) release_ok(K_ERROR, HV(e), "racing aggregate");
      return st;
    }
    default: {
      uint64_t r = HV(CALL(tapir_error_retain(ER(x))));
      if (r) release_ok(K_ERROR, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  default: /* K_PROGRESS */
    g_race_what = "progress";
    if (pct(70)) {
      uint32_t ri;
      void *v = val_new(0, true, &ri);
      st = CALL(tapir_progress_report(PG(x), v, fz_destroy));
      check_st("tapir_progress_report (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      val_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_report (racing a release)", st);
      return st;
    } else {
      uint64_t r = HV(CALL(tapir_progress_retain(PG(x))));
      if (r) release_ok(K_PROGRESS, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
  }
}

static void op_race(void) {
  racer *rc = tl_racer;
  if (!rc || me()->depth > 0) return;
  unsigned r = rn(100);
  int kind = r < 45 ? K_TASK : r < 75 ? K_SOURCE : r < 85 ? K_CTS : r < 95 ? K_ERROR : K_PROGRESS;
  const tapir_source *s = NULL, *s2 = NULL, *s3 = NULL;
  const tapir_task *t = NULL, *t2 = NULL, *t3 = NULL;
  uint64_t x = 0;
  int32_t st;
  bool held_inside = false; /* SOURCE: tapir holds the source (a pending set_from_task) */
  uint32_t hv_ri = UINT32_MAX;
  void *hv = NULL;
  if (kind == K_TASK || kind == K_SOURCE) {
    if (CALL(tapir_source_new(0, NULL, &s)) || CALL(tapir_source_task(s, &t))) failf("making a private source failed");
    x = kind == K_TASK ? HV(t) : HV(s);
    /* s2's task is held too: set_from_task must not depend on that, but this race
     * checks only the racing handle */
    if (kind == K_TASK && (CALL(tapir_source_new(0, NULL, &s2)) || CALL(tapir_source_task(s2, &t2))))
      failf("making a private source failed");
    if (kind == K_SOURCE && fam_on(FAM_FROMTASK) && pct(40)) {
      if (CALL(tapir_source_new(0, NULL, &s3)) || CALL(tapir_source_task(s3, &t3))) failf("making a private source failed");
      st = CALL(tapir_source_set_from_task(s, t3));
      if (st != TAPIR_STATUS_OK) failf("tapir_source_set_from_task(private source, pending task) returned %s", stname(st));
      held_inside = true;
    }
  } else if (kind == K_CTS) {
    const tapir_cancel_source *c = NULL;
    if (CALL(tapir_cancel_source_new(&c))) failf("making a private cancel source failed");
    x = HV(c);
  } else if (kind == K_ERROR) {
    x = make_error_h();
  } else {
    uint32_t ri = rec_new(RK_HANDLER, "tapir_progress_new (racing)", 0);
    const tapir_progress *p = NULL;
    st = CALL(tapir_progress_new(NULL, cb_progress, rec_ud_l(ri), fz_destroy, &p));
    rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_new", st);
    if (st != TAPIR_STATUS_OK) failf("tapir_progress_new(default, handler) returned %s", stname(st));
    x = HV(p);
  }
  atomic_fetch_add(&g_races, 1);
  LOG("race on private %s %#" PRIx64 "%s", kname[kind], x, held_inside ? " (held by a pending set_from_task)" : "");
  pthread_mutex_lock(&rc->mu);
  rc->kind = kind;
  rc->h = x;
  rc->spin = rn(4) ? rn(20000) : rn(200000);
  atomic_store(&rc->done, 0);
  rc->state = 1;
  pthread_cond_broadcast(&rc->cv);
  pthread_mutex_unlock(&rc->mu);
  bool invalid_seen = false;
  tl_race_done = 0;
  tl_race_value = NULL;
  for (int i = 0; i < 4000; i++) {
    bool done_before = atomic_load(&rc->done);
    st = race_call(kind, x, s2);
    LOG("race call %d on %#" PRIx64 " (%s) -> %s%s", i, x, g_race_what, stname(st), done_before ? " (after the release)" : "");
    atomic_fetch_add_explicit(&g_race_calls, 1, memory_order_relaxed);
    if (st == TAPIR_STATUS_INVALID_HANDLE) invalid_seen = true;
    else if (invalid_seen)
      failf("a call on the %s %#" PRIx64 " succeeded after an earlier one had returned INVALID_HANDLE (its last reference "
            "was released by another thread)",
            kname[kind], x);
    if (done_before) {
      if (st != TAPIR_STATUS_INVALID_HANDLE)
        failf("the last reference to the %s %#" PRIx64 " was released on another thread (the release returned), yet a "
              "later call on it succeeded",
              kname[kind], x);
      break;
    }
  }
  pthread_mutex_lock(&rc->mu);
  while (!atomic_load(&rc->done)) pthread_cond_wait(&rc->cv, &rc->mu);
  int32_t rs = rc->result;
  pthread_mutex_unlock(&rc->mu);
  if (rs != TAPIR_STATUS_OK) failf("the helper's release of its only %s reference returned %s", kname[kind], stname(rs));
  if (held_inside) {
    /* tapir still holds the source (the pending forward), the user handle is gone */
    st = CALL(tp_release(K_SOURCE, x));
    LOG("second release of the racing source -> %s", stname(st));
    if (st != TAPIR_STATUS_INVALID_HANDLE)
      failf("a second tapir_source_release of a source whose last handle is gone (tapir still holds it for a pending "
            "set_from_task) returned %s, want INVALID_HANDLE",
            stname(st));
    hv = val_new(HV(t3), true, &hv_ri);
    st = CALL(tapir_source_set_result(s3, hv, fz_destroy));
    check_st("tapir_source_set_result (forward source)", st, D_SET, S(OK));
    val_settle(hv_ri, true, "tapir_source_set_result", st);
    /* Either the forward completed the task (t3's value, shared), or a racing call
     * on the source completed it first and the forward found it completed. */
    void *v = NULL;
    static const int32_t want_wait[] = {TAPIR_STATUS_OK, TAPIR_STATUS_OK, TAPIR_STATUS_FAULTED, TAPIR_STATUS_CANCELED};
    void *want_v = tl_race_done ? tl_race_value : hv;
    st = CALL(tapir_task_wait(t, 2000));
    if (st != want_wait[tl_race_done])
      failf("a task forwarded (set_from_task) from a task that succeeded ended with %s, want %s (%s)", stname(st),
            stname(want_wait[tl_race_done]), tl_race_done ? "a racing call completed the source first" : "the forward");
    if (st == TAPIR_STATUS_OK) {
      st = CALL(tapir_task_result(t, &v));
      if (st != TAPIR_STATUS_OK || v != want_v)
        failf("a task forwarded from another carries %p (%s); want %p (%s)", v, stname(st), want_v,
              tl_race_done ? "set by a racing call that completed the source first" : "the other's value");
    }
  }
  if (kind == K_TASK) {
    switch (rn(3)) {
    case 0: {
      uint32_t ri;
      void *v = val_new(x, true, &ri);
      st = CALL(tapir_source_set_result(s, v, fz_destroy));
      check_st("tapir_source_set_result (private)", st, D_SET, S(OK));
      val_settle(ri, true, "tapir_source_set_result", st);
      break;
    }
    case 1: CALL(tapir_source_set_canceled(s, NULL)); break;
    default: break; /* broken promise at release */
    }
    release_ok(K_SOURCE, HV(s), "private source");
    release_ok(K_SOURCE, HV(s2), "private source");
    release_ok(K_TASK, HV(t2), "private task");
  } else if (kind == K_SOURCE) {
    release_ok(K_TASK, HV(t), "private task");
    if (s3) {
      release_ok(K_SOURCE, HV(s3), "private source");
      release_ok(K_TASK, HV(t3), "private task");
    }
  }
}

/* ================================================================ primitives
 *
 * Each op makes private primitive objects (nobody else can reach them, so the model
 * is exact), runs a random sequence of calls against a small sequential model of the
 * header's rules, and releases everything: status codes, counts, FIFO grants, values
 * of the wait tasks, DISPOSED for waits pending at the last release, exactly-once
 * destroys of items and user data (the ledger), and stale-handle, NULL and wrong-kind
 * misuse. Waits use timeouts -1 and 0 and private tokens canceled on this thread, so
 * every outcome is determined; the wait tasks themselves complete on any thread (a
 * grant or cancel may defer continuations), so outcomes are read with a bounded wait.
 */

#define PR_WAIT_MS 5000

/* The final status and value of a task tapir must complete (bounded wait). */
static int32_t pr_final(const char *what, const tapir_task *t, void **v) {
  int32_t st = CALL(tapir_task_wait(t, PR_WAIT_MS));
  if (st == TAPIR_STATUS_TIMEOUT) failf("%s: the task did not complete within %d ms", what, PR_WAIT_MS);
  if (v) {
    *v = NULL;
    if (st == TAPIR_STATUS_OK && CALL(tapir_task_result(t, v)) != TAPIR_STATUS_OK) failf("%s: tapir_task_result failed after a successful wait", what);
  }
  return st;
}

static void pr_expect_value(const char *what, const tapir_task *t, void *want) {
  void *v = NULL;
  int32_t st = pr_final(what, t, &v);
  if (st != TAPIR_STATUS_OK || v != want) failf("%s: ended %s with value %p, want OK with %p", what, stname(st), v, want);
}

/* The task failed with an error of `code`. */
static void pr_expect_error(const char *what, const tapir_task *t, int32_t code) {
  int32_t st = pr_final(what, t, NULL);
  if (st != TAPIR_STATUS_FAULTED) failf("%s: ended %s, want FAULTED with code %d", what, stname(st), code);
  const tapir_error *e = NULL;
  if (CALL(tapir_task_error(t, &e)) != TAPIR_STATUS_OK || !e) failf("%s: tapir_task_error of a faulted task failed", what);
  int32_t c = CALL(tapir_error_code(e));
  release_ok(K_ERROR, HV(e), "primitive's error");
  if (c != code) failf("%s: failed with code %d, want %d", what, c, code);
}

static void pr_expect_canceled(const char *what, const tapir_task *t) {
  int32_t st = pr_final(what, t, NULL);
  if (st != TAPIR_STATUS_CANCELED) failf("%s: ended %s, want CANCELED", what, stname(st));
}

static bool pr_pending(const tapir_task *t) { return CALL(tapir_task_get_status(t)) == TAPIR_TASK_STATUS_PENDING; }

static void pr_last(const char *fn, int32_t want) {
  int32_t ls = CALL(tapir_last_status());
  if (ls != want) failf("%s: tapir_last_status() is %s, want %s", fn, stname(ls), stname(want));
}

/* A private cancellation source for one wait; pr_cancel cancels it on this thread. */
typedef struct {
  const tapir_cancel_source *c;
  const tapir_cancel_token *t;
} prtok;
static prtok pr_tok(void) {
  prtok k = {NULL, NULL};
  if (CALL(tapir_cancel_source_new(&k.c)) || CALL(tapir_cancel_source_token(k.c, &k.t))) failf("a private cancel source failed");
  return k;
}
static void pr_tok_done(prtok *k) {
  if (k->t) release_ok(K_TOKEN, HV(k->t), "private token");
  if (k->c) release_ok(K_CTS, HV(k->c), "private cancel source");
  k->c = NULL;
  k->t = NULL;
}

/* Misuse common to every primitive kind, on a handle value `h` that is released for
 * good (stale) and one of another kind `wrong`: retain answers NULL, release
 * INVALID_HANDLE, NULL releases are no-ops. */
typedef const void *(*pr_retain_fn)(const void *);
typedef int32_t (*pr_release_fn)(const void *);
static void pr_misuse(const char *kind, pr_retain_fn ret, pr_release_fn rel, uint64_t stale, uint64_t wrong) {
  if (!misuse_on()) return;
  if (CALL(rel(NULL)) != TAPIR_STATUS_OK) failf("tapir_%s_release(NULL) is not a no-op", kind);
  if (CALL(ret(NULL))) failf("tapir_%s_retain(NULL) returned a handle", kind);
  if (stale) {
    if (CALL(ret((const void *)(uintptr_t)stale))) failf("tapir_%s_retain of a released handle returned it", kind);
    pr_last("retain of a released handle", TAPIR_STATUS_INVALID_HANDLE);
    int32_t st = CALL(rel((const void *)(uintptr_t)stale));
    if (st != TAPIR_STATUS_INVALID_HANDLE) failf("a second tapir_%s_release returned %s, want INVALID_HANDLE", kind, stname(st));
  }
  if (wrong) {
    if (CALL(ret((const void *)(uintptr_t)wrong))) failf("tapir_%s_retain accepted a handle of another kind", kind);
    int32_t st = CALL(rel((const void *)(uintptr_t)wrong));
    if (st != TAPIR_STATUS_INVALID_HANDLE) failf("tapir_%s_release of another kind's handle returned %s", kind, stname(st));
  }
}

/* Releases the fuzzer's references to a private primitive: `extra` retained ones
 * first (each must keep it alive), then the last. */
#define PR_RELEASE_ALL(kind, h, extra)                                                                \
  do {                                                                                                \
    for (int q_ = 0; q_ < (extra); q_++)                                                              \
      if (CALL(tapir_##kind##_release(h)) != TAPIR_STATUS_OK) failf("tapir_" #kind "_release failed"); \
    if (CALL(tapir_##kind##_release(h)) != TAPIR_STATUS_OK) failf("tapir_" #kind "_release failed");   \
  } while (0)

#define PR_RETAIN_SOME(kind, h, extra)                                                             \
  do {                                                                                             \
    (extra) = (int)rn(3);                                                                          \
    for (int q_ = 0; q_ < (extra); q_++)                                                           \
      if (CALL(tapir_##kind##_retain(h)) != (h)) failf("tapir_" #kind "_retain did not return it"); \
  } while (0)

static const void *pr_sem_ret(const void *h) { return tapir_semaphore_retain(h); }
static int32_t pr_sem_rel(const void *h) { return tapir_semaphore_release(h); }
static const void *pr_are_ret(const void *h) { return tapir_auto_reset_event_retain(h); }
static int32_t pr_are_rel(const void *h) { return tapir_auto_reset_event_release(h); }
static const void *pr_mre_ret(const void *h) { return tapir_manual_reset_event_retain(h); }
static int32_t pr_mre_rel(const void *h) { return tapir_manual_reset_event_release(h); }
static const void *pr_lock_ret(const void *h) { return tapir_lock_retain(h); }
static int32_t pr_lock_rel(const void *h) { return tapir_lock_release(h); }
static const void *pr_guard_ret(const void *h) { return tapir_lock_guard_retain(h); }
static int32_t pr_guard_rel(const void *h) { return tapir_lock_guard_release(h); }
static const void *pr_rw_ret(const void *h) { return tapir_rwlock_retain(h); }
static int32_t pr_rw_rel(const void *h) { return tapir_rwlock_release(h); }
static const void *pr_cd_ret(const void *h) { return tapir_countdown_retain(h); }
static int32_t pr_cd_rel(const void *h) { return tapir_countdown_release(h); }
static const void *pr_bar_ret(const void *h) { return tapir_barrier_retain(h); }
static int32_t pr_bar_rel(const void *h) { return tapir_barrier_release(h); }
static const void *pr_ch_ret(const void *h) { return tapir_channel_retain(h); }
static int32_t pr_ch_rel(const void *h) { return tapir_channel_release(h); }
static const void *pr_cache_ret(const void *h) { return tapir_cache_retain(h); }
static int32_t pr_cache_rel(const void *h) { return tapir_cache_release(h); }

/* A live handle of another kind for wrong-kind misuse: a fresh completed task. */
static uint64_t pr_wrong_begin(void) {
  const tapir_task *t = NULL;
  if (CALL(tapir_task_completed(&t))) failf("tapir_task_completed failed");
  return HV(t);
}

#define PR_QMAX 12

/* ---------------------------------------------------------------- semaphore */

static void pr_semaphore(void) {
  uint32_t max = 1 + rn(4), cnt = rn(max + 1);
  const tapir_semaphore *s = SENTP(const tapir_semaphore *);
  if (misuse_on() && pct(10)) {
    bool zero = pct(50);
    int32_t st = CALL(tapir_semaphore_new(zero ? 1 : max + 1, zero ? 0 : max, &s));
    if (st != TAPIR_STATUS_INVALID_ARGUMENT || HV(s) != SENT) failf("tapir_semaphore_new(bad initial/max) returned %s", stname(st));
    st = CALL(tapir_semaphore_new(0, 1, NULL));
    if (st != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_semaphore_new(NULL out) returned %s", stname(st));
  }
  if (CALL(tapir_semaphore_new(cnt, max, &s)) != TAPIR_STATUS_OK) failf("tapir_semaphore_new(%u, %u) failed", cnt, max);
  const tapir_task *q[PR_QMAX];
  uint32_t qn[PR_QMAX];
  int nq = 0;
  for (int step = 0, steps = 4 + (int)rn(12); step < steps; step++) {
    uint32_t c = CALL(tapir_semaphore_current_count(s));
    if (c != cnt) failf("tapir_semaphore_current_count is %u, the model says %u", c, cnt);
    switch (rn(5)) {
    case 0: { /* try_wait */
      uint32_t n = misuse_on() && pct(10) ? (pct(50) ? 0 : max + 1) : 1 + rn(max);
      bool ok = CALL(tapir_semaphore_try_wait(s, n));
      bool bad = n == 0 || n > max, want = !bad && nq == 0 && cnt >= n;
      if (ok != want) failf("tapir_semaphore_try_wait(%u) with %u permits, %d waiting: %d, want %d", n, cnt, nq, ok, want);
      if (!ok) pr_last("tapir_semaphore_try_wait", bad ? TAPIR_STATUS_INVALID_ARGUMENT : TAPIR_STATUS_TIMEOUT);
      if (ok) cnt -= n;
      break;
    }
    case 1:
    case 2: { /* wait_async: -1 queues when it cannot be granted, 0 answers now */
      uint32_t n = 1 + rn(max);
      bool now = pct(30);
      prtok k = {NULL, NULL};
      bool cancel = !now && pct(25);
      if (cancel) k = pr_tok();
      const tapir_task *t = NULL;
      int32_t st = CALL(tapir_semaphore_wait_async(s, n, now ? 0 : TAPIR_INFINITE, k.t, &t));
      if (st != TAPIR_STATUS_OK) failf("tapir_semaphore_wait_async returned %s", stname(st));
      bool grant = nq == 0 && cnt >= n;
      if (grant) {
        cnt -= n;
        pr_expect_value("a semaphore wait that could be granted at once", t, (void *)1);
        release_ok(K_TASK, HV(t), "semaphore wait");
      } else if (now) {
        pr_expect_value("a semaphore wait of 0 ms that could not be granted", t, (void *)0);
        release_ok(K_TASK, HV(t), "semaphore wait");
      } else if (cancel) {
        if (!pr_pending(t)) failf("a semaphore wait that cannot be granted completed at once");
        if (CALL(tapir_cancel_source_cancel(k.c, 0, NULL)) != TAPIR_STATUS_OK) failf("cancel failed");
        pr_expect_canceled("a canceled semaphore wait", t);
        release_ok(K_TASK, HV(t), "semaphore wait");
      } else if (nq < PR_QMAX) {
        if (!pr_pending(t)) failf("a semaphore wait that cannot be granted completed at once");
        q[nq] = t;
        qn[nq++] = n;
      } else release_ok(K_TASK, HV(t), "semaphore wait"); /* stays queued; fails DISPOSED at the end, unobserved */
      pr_tok_done(&k);
      break;
    }
    default: { /* signal: grants the queue strictly in order */
      uint32_t n = misuse_on() && pct(10) ? 0 : 1 + rn(max);
      uint32_t prev = 0xDEAD;
      int32_t st = CALL(tapir_semaphore_signal(s, n, pct(50) ? &prev : NULL));
      int32_t want = n == 0 ? TAPIR_STATUS_INVALID_ARGUMENT : cnt + n > max ? TAPIR_STATUS_FULL : TAPIR_STATUS_OK;
      if (st != want) failf("tapir_semaphore_signal(%u) with %u of %u permits returned %s, want %s", n, cnt, max, stname(st), stname(want));
      if (st != TAPIR_STATUS_OK) {
        if (prev != 0xDEAD) failf("a failed tapir_semaphore_signal wrote previous_out");
        break;
      }
      if (prev != 0xDEAD && prev != cnt) failf("tapir_semaphore_signal wrote previous %u, the count was %u", prev, cnt);
      cnt += n;
      while (nq && qn[0] <= cnt) {
        cnt -= qn[0];
        pr_expect_value("the oldest semaphore waiter, after a signal", q[0], (void *)1);
        release_ok(K_TASK, HV(q[0]), "semaphore wait");
        memmove(q, q + 1, sizeof q[0] * (size_t)(nq - 1));
        memmove(qn, qn + 1, sizeof qn[0] * (size_t)(nq - 1));
        nq--;
      }
      for (int i = 0; i < nq; i++)
        if (!pr_pending(q[i])) failf("semaphore waiter %d completed out of order", i);
      break;
    }
    }
  }
  int extra;
  PR_RETAIN_SOME(semaphore, s, extra);
  PR_RELEASE_ALL(semaphore, s, extra);
  for (int i = 0; i < nq; i++) {
    pr_expect_error("a semaphore wait pending at the last release", q[i], TAPIR_STATUS_DISPOSED);
    release_ok(K_TASK, HV(q[i]), "semaphore wait");
  }
  uint64_t w = pr_wrong_begin();
  pr_misuse("semaphore", pr_sem_ret, pr_sem_rel, HV(s), w);
  if (misuse_on()) {
    const tapir_task *t = SENTP(const tapir_task *);
    int32_t st = CALL(tapir_semaphore_wait_async(s, 1, 0, NULL, &t));
    if (st != TAPIR_STATUS_INVALID_HANDLE || HV(t) != SENT) failf("tapir_semaphore_wait_async on a released semaphore returned %s", stname(st));
    if (CALL(tapir_semaphore_current_count(s)) != 0) failf("tapir_semaphore_current_count of a released semaphore is not 0");
    pr_last("tapir_semaphore_current_count", TAPIR_STATUS_INVALID_HANDLE);
    if (CALL(tapir_semaphore_signal(NULL, 1, NULL)) != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_semaphore_signal(NULL) is not NULL_ARGUMENT");
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- events */

static void pr_events(void) {
  bool manual = pct(50);
  uint32_t init = rn(2);
  const tapir_auto_reset_event *a = NULL;
  const tapir_manual_reset_event *m = NULL;
  if (misuse_on() && pct(10)) {
    int32_t st = manual ? CALL(tapir_manual_reset_event_new(2 + rn(5), &m)) : CALL(tapir_auto_reset_event_new(2 + rn(5), &a));
    if (st != TAPIR_STATUS_INVALID_ARGUMENT || a || m) failf("an event made with initially_set 2+ returned %s", stname(st));
  }
  int32_t st = manual ? CALL(tapir_manual_reset_event_new(init, &m)) : CALL(tapir_auto_reset_event_new(init, &a));
  if (st != TAPIR_STATUS_OK) failf("making an event failed: %s", stname(st));
  bool set = init;
  const tapir_task *q[PR_QMAX];
  int nq = 0;
  for (int step = 0, steps = 4 + (int)rn(12); step < steps; step++) {
    if (manual && CALL(tapir_manual_reset_event_is_set(m)) != set) failf("tapir_manual_reset_event_is_set disagrees with the model (%d)", set);
    switch (rn(4)) {
    case 0: /* set */
      st = manual ? CALL(tapir_manual_reset_event_set(m)) : CALL(tapir_auto_reset_event_set(a));
      if (st != TAPIR_STATUS_OK) failf("setting an event returned %s", stname(st));
      if (manual) {
        set = true;
        for (int i = 0; i < nq; i++) {
          pr_expect_value("a manual-reset event waiter, after set", q[i], (void *)1);
          release_ok(K_TASK, HV(q[i]), "event wait");
        }
        nq = 0;
      } else if (nq) {
        pr_expect_value("the oldest auto-reset event waiter, after set", q[0], (void *)1);
        release_ok(K_TASK, HV(q[0]), "event wait");
        memmove(q, q + 1, sizeof q[0] * (size_t)(nq - 1));
        nq--;
        for (int i = 0; i < nq; i++)
          if (!pr_pending(q[i])) failf("an auto-reset event set completed more than the oldest waiter");
      } else set = true;
      break;
    case 1: /* reset / try_wait */
      if (manual) {
        if (CALL(tapir_manual_reset_event_reset(m)) != TAPIR_STATUS_OK) failf("tapir_manual_reset_event_reset failed");
        set = false;
      } else {
        bool ok = CALL(tapir_auto_reset_event_try_wait(a));
        if (ok != set) failf("tapir_auto_reset_event_try_wait is %d, the event is %sset", ok, set ? "" : "not ");
        if (!ok) pr_last("tapir_auto_reset_event_try_wait", TAPIR_STATUS_TIMEOUT);
        set = false;
      }
      break;
    default: { /* wait */
      bool now = pct(30), cancel = !now && pct(25);
      prtok k = {NULL, NULL};
      if (cancel) k = pr_tok();
      const tapir_task *t = NULL;
      int64_t to = now ? 0 : TAPIR_INFINITE;
      st = manual ? CALL(tapir_manual_reset_event_wait_async(m, to, k.t, &t)) : CALL(tapir_auto_reset_event_wait_async(a, to, k.t, &t));
      if (st != TAPIR_STATUS_OK) failf("an event wait returned %s", stname(st));
      if (set) {
        if (!manual) set = false;
        pr_expect_value("an event wait on a set event", t, (void *)1);
        release_ok(K_TASK, HV(t), "event wait");
      } else if (now) {
        pr_expect_value("an event wait of 0 ms on an unset event", t, (void *)0);
        release_ok(K_TASK, HV(t), "event wait");
      } else if (cancel) {
        if (CALL(tapir_cancel_source_cancel(k.c, 0, NULL)) != TAPIR_STATUS_OK) failf("cancel failed");
        pr_expect_canceled("a canceled event wait", t);
        release_ok(K_TASK, HV(t), "event wait");
      } else if (nq < PR_QMAX) {
        if (!pr_pending(t)) failf("an event wait on an unset event completed at once");
        q[nq++] = t;
      } else release_ok(K_TASK, HV(t), "event wait");
      pr_tok_done(&k);
      break;
    }
    }
  }
  int extra;
  if (manual) {
    PR_RETAIN_SOME(manual_reset_event, m, extra);
    PR_RELEASE_ALL(manual_reset_event, m, extra);
  } else {
    PR_RETAIN_SOME(auto_reset_event, a, extra);
    PR_RELEASE_ALL(auto_reset_event, a, extra);
  }
  for (int i = 0; i < nq; i++) {
    pr_expect_error("an event wait pending at the last release", q[i], TAPIR_STATUS_DISPOSED);
    release_ok(K_TASK, HV(q[i]), "event wait");
  }
  uint64_t w = pr_wrong_begin();
  if (manual) pr_misuse("manual_reset_event", pr_mre_ret, pr_mre_rel, HV(m), w);
  else pr_misuse("auto_reset_event", pr_are_ret, pr_are_rel, HV(a), w);
  if (misuse_on()) {
    st = manual ? CALL(tapir_manual_reset_event_set(m)) : CALL(tapir_auto_reset_event_set(a));
    if (st != TAPIR_STATUS_INVALID_HANDLE) failf("setting a released event returned %s", stname(st));
    if (manual && CALL(tapir_manual_reset_event_is_set(m))) failf("tapir_manual_reset_event_is_set of a released event is true");
    if (!manual && CALL(tapir_auto_reset_event_try_wait(a))) failf("tapir_auto_reset_event_try_wait of a released event is true");
    pr_last("an event query on a released event", TAPIR_STATUS_INVALID_HANDLE);
    st = manual ? CALL(tapir_manual_reset_event_reset(NULL)) : CALL(tapir_auto_reset_event_set(NULL));
    if (st != TAPIR_STATUS_NULL_ARGUMENT) failf("an event call with NULL returned %s", stname(st));
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- lock */

/* The holder is a try_acquire guard (guard references `grefs`) or a granted wait task
 * (the task owns the guard: releasing it, and any guard reference taken from its
 * value, unlocks). */
static void pr_lock(void) {
  const tapir_lock *l = NULL;
  if (CALL(tapir_lock_new(&l)) != TAPIR_STATUS_OK) failf("tapir_lock_new failed");
  if (misuse_on() && pct(10) && CALL(tapir_lock_new(NULL)) != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_lock_new(NULL) is not NULL_ARGUMENT");
  const tapir_lock_guard *g = NULL; /* the holder's guard */
  const tapir_task *ht = NULL;      /* the holder's task, if granted by a wait */
  int grefs = 0;                    /* guard references the fuzzer holds */
  const tapir_task *q[PR_QMAX];
  int nq = 0;
  uint64_t stale_guard = 0;
  for (int step = 0, steps = 4 + (int)rn(14); step < steps; step++) {
    bool held = g != NULL;
    if (CALL(tapir_lock_is_held(l)) != held) failf("tapir_lock_is_held disagrees with the model (%d)", held);
    switch (rn(4)) {
    case 0: { /* try_acquire */
      const tapir_lock_guard *ng = SENTP(const tapir_lock_guard *);
      bool ok = CALL(tapir_lock_try_acquire(l, &ng));
      if (ok != (!held && nq == 0)) failf("tapir_lock_try_acquire is %d (held %d, %d waiting)", ok, held, nq);
      if (!ok) {
        if (HV(ng) != SENT) failf("a failed tapir_lock_try_acquire wrote guard_out");
        pr_last("tapir_lock_try_acquire", TAPIR_STATUS_TIMEOUT);
      } else {
        g = ng;
        grefs = 1;
      }
      break;
    }
    case 1: { /* acquire_async */
      bool now = pct(25), cancel = !now && pct(25);
      prtok k = {NULL, NULL};
      if (cancel) k = pr_tok();
      const tapir_task *t = NULL;
      if (CALL(tapir_lock_acquire_async(l, now ? 0 : TAPIR_INFINITE, k.t, &t)) != TAPIR_STATUS_OK) failf("tapir_lock_acquire_async failed");
      if (!held && nq == 0) {
        void *v = NULL;
        if (pr_final("a lock acquisition of a free lock", t, &v) != TAPIR_STATUS_OK || !v) failf("a free lock was not granted at once");
        g = v;
        ht = t;
        grefs = 0;
      } else if (now) {
        pr_expect_value("a lock acquisition of 0 ms of a held lock", t, NULL);
        release_ok(K_TASK, HV(t), "lock wait");
      } else if (cancel) {
        if (CALL(tapir_cancel_source_cancel(k.c, 0, NULL)) != TAPIR_STATUS_OK) failf("cancel failed");
        pr_expect_canceled("a canceled lock acquisition", t);
        release_ok(K_TASK, HV(t), "lock wait");
      } else if (nq < PR_QMAX) {
        if (!pr_pending(t)) failf("an acquisition of a held lock completed at once");
        q[nq++] = t;
      } else {
        release_ok(K_TASK, HV(t), "lock wait"); /* granted later, then released at once: */
      }
      pr_tok_done(&k);
      break;
    }
    case 2: /* another guard reference */
      if (held && grefs < 3) {
        if (CALL(tapir_lock_guard_retain(g)) != g) failf("tapir_lock_guard_retain did not return the guard");
        grefs++;
      }
      break;
    default: { /* the holder lets go: the next waiter is granted */
      if (!held) break;
      if (ht) {
        release_ok(K_TASK, HV(ht), "lock holder's task");
        ht = NULL;
      }
      while (grefs > 0) {
        if (grefs == 1) stale_guard = HV(g);
        if (CALL(tapir_lock_guard_release(g)) != TAPIR_STATUS_OK) failf("tapir_lock_guard_release failed");
        if (--grefs > 0 && !CALL(tapir_lock_is_held(l))) failf("the lock was released while a guard reference remained");
      }
      g = NULL;
      if (nq) {
        void *v = NULL;
        if (pr_final("the oldest lock waiter", q[0], &v) != TAPIR_STATUS_OK || !v) failf("the oldest lock waiter was not granted");
        g = v;
        ht = q[0];
        memmove(q, q + 1, sizeof q[0] * (size_t)(nq - 1));
        nq--;
        for (int i = 0; i < nq; i++)
          if (!pr_pending(q[i])) failf("a lock waiter was granted out of order");
      } else if (CALL(tapir_lock_is_held(l))) failf("the lock is held after its only holder let go");
      if (stale_guard && misuse_on() && pct(50)) {
        int32_t st = CALL(tapir_lock_guard_release((const tapir_lock_guard *)(uintptr_t)stale_guard));
        if (st != TAPIR_STATUS_INVALID_HANDLE) failf("a guard released once too often returned %s (the lock is never released twice)", stname(st));
        if (nq == 0 && g == NULL && CALL(tapir_lock_is_held(l))) failf("a double guard release changed the lock");
      }
      break;
    }
    }
  }
  int extra;
  PR_RETAIN_SOME(lock, l, extra);
  PR_RELEASE_ALL(lock, l, extra);
  /* "held guards and pending acquisitions keep working": let go, waiters follow */
  for (;;) {
    if (ht) release_ok(K_TASK, HV(ht), "lock holder's task");
    for (; grefs > 0; grefs--)
      if (CALL(tapir_lock_guard_release(g)) != TAPIR_STATUS_OK) failf("tapir_lock_guard_release after the lock's release failed");
    ht = NULL;
    g = NULL;
    if (!nq) break;
    void *v = NULL;
    if (pr_final("a lock waiter after the lock object's release", q[0], &v) != TAPIR_STATUS_OK || !v) failf("a pending acquisition stopped working after tapir_lock_release");
    ht = q[0];
    memmove(q, q + 1, sizeof q[0] * (size_t)(nq - 1));
    nq--;
  }
  uint64_t w = pr_wrong_begin();
  pr_misuse("lock", pr_lock_ret, pr_lock_rel, HV(l), w);
  pr_misuse("lock_guard", pr_guard_ret, pr_guard_rel, stale_guard, w);
  if (misuse_on()) {
    if (CALL(tapir_lock_is_held(l))) failf("tapir_lock_is_held of a released lock is true");
    pr_last("tapir_lock_is_held", TAPIR_STATUS_INVALID_HANDLE);
    const tapir_task *t = SENTP(const tapir_task *);
    if (CALL(tapir_lock_acquire_async(NULL, 0, NULL, &t)) != TAPIR_STATUS_NULL_ARGUMENT || HV(t) != SENT) failf("tapir_lock_acquire_async(NULL) is not NULL_ARGUMENT");
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- rwlock */

/* Readers share, a writer excludes; once a writer waits, new readers queue behind it.
 * A release grants the head of the queue: a writer when nobody holds the lock, else
 * the readers before the first waiting writer. */
static void pr_rwlock(void) {
  const tapir_rwlock *l = NULL;
  if (CALL(tapir_rwlock_new(&l)) != TAPIR_STATUS_OK) failf("tapir_rwlock_new failed");
  enum { HR = 8 };
  const tapir_lock_guard *rg[HR]; /* held read guards (from try_read or a task's value) */
  const tapir_task *rt[HR];       /* their tasks, or NULL */
  int nr = 0;
  const tapir_lock_guard *wg = NULL;
  const tapir_task *wt = NULL;
  const tapir_task *q[PR_QMAX];
  bool qw[PR_QMAX];
  int nq = 0;
  for (int step = 0, steps = 4 + (int)rn(16); step < steps; step++) {
    if (CALL(tapir_rwlock_reader_count(l)) != (uint32_t)nr) failf("tapir_rwlock_reader_count is not %d", nr);
    if (CALL(tapir_rwlock_is_write_held(l)) != (wg != NULL)) failf("tapir_rwlock_is_write_held disagrees with the model");
    bool writer_waits = false;
    for (int i = 0; i < nq; i++) writer_waits |= qw[i];
    switch (rn(4)) {
    case 0: { /* try */
      bool w = pct(40);
      const tapir_lock_guard *g = SENTP(const tapir_lock_guard *);
      bool ok = w ? CALL(tapir_rwlock_try_write(l, &g)) : CALL(tapir_rwlock_try_read(l, &g));
      bool want = w ? (!wg && nr == 0 && nq == 0) : (!wg && !writer_waits && nr < HR);
      if (!w && !wg && !writer_waits && nr >= HR) { /* room in the model only */
        if (ok) {
          if (CALL(tapir_lock_guard_release(g)) != TAPIR_STATUS_OK) failf("read guard release failed");
        }
        break;
      }
      if (ok != want) failf("tapir_rwlock_try_%s is %d (readers %d, writer %d, %d waiting)", w ? "write" : "read", ok, nr, wg != NULL, nq);
      if (!ok) {
        if (HV(g) != SENT) failf("a failed rwlock try wrote guard_out");
        pr_last("tapir_rwlock_try", TAPIR_STATUS_TIMEOUT);
      } else if (w) {
        wg = g;
        wt = NULL;
      } else {
        rg[nr] = g;
        rt[nr++] = NULL;
      }
      break;
    }
    case 1: { /* async */
      bool w = pct(40), now = pct(20);
      const tapir_task *t = NULL;
      int32_t st = w ? CALL(tapir_rwlock_write_async(l, now ? 0 : TAPIR_INFINITE, NULL, &t))
                     : CALL(tapir_rwlock_read_async(l, now ? 0 : TAPIR_INFINITE, NULL, &t));
      if (st != TAPIR_STATUS_OK) failf("tapir_rwlock_%s_async returned %s", w ? "write" : "read", stname(st));
      bool grant = w ? (!wg && nr == 0 && nq == 0) : (!wg && !writer_waits);
      if (grant && (w || nr < HR)) {
        void *v = NULL;
        if (pr_final("an rwlock acquisition that can be granted", t, &v) != TAPIR_STATUS_OK || !v) failf("an rwlock acquisition that could be granted was not");
        if (w) {
          wg = v;
          wt = t;
        } else {
          rg[nr] = v;
          rt[nr++] = t;
        }
      } else if (grant) {
        release_ok(K_TASK, HV(t), "rwlock wait"); /* granted: the task owns the guard, released now */
      } else if (now) {
        pr_expect_value("an rwlock acquisition of 0 ms that cannot be granted", t, NULL);
        release_ok(K_TASK, HV(t), "rwlock wait");
      } else if (nq < PR_QMAX) {
        if (!pr_pending(t)) failf("an rwlock acquisition that cannot be granted completed at once");
        q[nq] = t;
        qw[nq++] = w;
      } else {
        /* no room in the model's queue: the waiter stays queued unseen, so the
         * model stops here (its task is released; granted later, it unlocks at once) */
        release_ok(K_TASK, HV(t), "rwlock wait");
        goto out; /* the model no longer knows the queue */
      }
      break;
    }
    default: { /* a holder lets go, then grants */
      if (wg) {
        if (wt) release_ok(K_TASK, HV(wt), "rwlock writer's task");
        else if (CALL(tapir_lock_guard_release(wg)) != TAPIR_STATUS_OK) failf("write guard release failed");
        wg = NULL;
        wt = NULL;
      } else if (nr) {
        int i = (int)rn((unsigned)nr);
        if (rt[i]) release_ok(K_TASK, HV(rt[i]), "rwlock reader's task");
        else if (CALL(tapir_lock_guard_release(rg[i])) != TAPIR_STATUS_OK) failf("read guard release failed");
        rg[i] = rg[nr - 1];
        rt[i] = rt[nr - 1];
        nr--;
      } else break;
      /* grants */
      while (nq) {
        if (qw[0]) {
          if (wg || nr) break;
          void *v = NULL;
          if (pr_final("the oldest rwlock waiter (a writer)", q[0], &v) != TAPIR_STATUS_OK || !v) failf("a waiting writer was not granted");
          wg = v;
          wt = q[0];
        } else {
          if (wg || nr >= HR) break;
          void *v = NULL;
          if (pr_final("the oldest rwlock waiter (a reader)", q[0], &v) != TAPIR_STATUS_OK || !v) failf("a waiting reader was not granted");
          rg[nr] = v;
          rt[nr++] = q[0];
        }
        memmove(q, q + 1, sizeof q[0] * (size_t)(nq - 1));
        memmove(qw, qw + 1, sizeof qw[0] * (size_t)(nq - 1));
        nq--;
        if (wg) break;
      }
      for (int i = 0; i < nq; i++)
        if (!pr_pending(q[i])) failf("rwlock waiter %d (%s) was granted out of order", i, qw[i] ? "writer" : "reader");
      break;
    }
    }
  }
out:;
  int extra;
  PR_RETAIN_SOME(rwlock, l, extra);
  PR_RELEASE_ALL(rwlock, l, extra);
  /* guards keep the lock alive: let everything go, waiters follow in some order */
  for (int round = 0; round < 64 && (wg || nr || nq); round++) {
    if (wg) {
      if (wt) release_ok(K_TASK, HV(wt), "rwlock writer's task");
      else if (CALL(tapir_lock_guard_release(wg)) != TAPIR_STATUS_OK) failf("write guard release failed");
      wg = NULL;
      wt = NULL;
    }
    for (int i = 0; i < nr; i++) {
      if (rt[i]) release_ok(K_TASK, HV(rt[i]), "rwlock reader's task");
      else if (CALL(tapir_lock_guard_release(rg[i])) != TAPIR_STATUS_OK) failf("read guard release failed");
    }
    nr = 0;
    if (nq) {
      if (pr_final("an rwlock waiter after the lock object's release", q[0], NULL) != TAPIR_STATUS_OK) failf("an rwlock waiter stopped working after tapir_rwlock_release");
      wt = q[0]; /* reader or writer: its task owns the guard */
      wg = (const tapir_lock_guard *)(uintptr_t)1;
      memmove(q, q + 1, sizeof q[0] * (size_t)(nq - 1));
      memmove(qw, qw + 1, sizeof qw[0] * (size_t)(nq - 1));
      nq--;
    }
  }
  uint64_t w = pr_wrong_begin();
  pr_misuse("rwlock", pr_rw_ret, pr_rw_rel, HV(l), w);
  if (misuse_on()) {
    if (CALL(tapir_rwlock_reader_count(l)) != 0 || CALL(tapir_rwlock_is_write_held(l))) failf("a released rwlock answers queries");
    pr_last("tapir_rwlock_is_write_held", TAPIR_STATUS_INVALID_HANDLE);
    const tapir_lock_guard *g = SENTP(const tapir_lock_guard *);
    if (CALL(tapir_rwlock_try_read(l, &g)) || CALL(tapir_rwlock_try_write(l, &g)) || HV(g) != SENT) failf("a released rwlock granted a try");
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- countdown */

static void pr_countdown(void) {
  uint32_t init = rn(4), cnt = init;
  const tapir_countdown *c = NULL;
  if (CALL(tapir_countdown_new(init, &c)) != TAPIR_STATUS_OK) failf("tapir_countdown_new failed");
  if (misuse_on() && pct(10) && CALL(tapir_countdown_new(1, NULL)) != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_countdown_new(NULL) is not NULL_ARGUMENT");
  const tapir_task *q[PR_QMAX];
  int nq = 0;
  for (int step = 0, steps = 4 + (int)rn(12); step < steps; step++) {
    if (CALL(tapir_countdown_current_count(c)) != cnt) failf("tapir_countdown_current_count is not %u", cnt);
    if (CALL(tapir_countdown_initial_count(c)) != init) failf("tapir_countdown_initial_count is not %u", init);
    bool zeroed = false;
    switch (rn(5)) {
    case 0: { /* signal */
      uint32_t n = misuse_on() && pct(10) ? 0 : 1 + rn(3);
      bool rz = true;
      int32_t st = CALL(tapir_countdown_signal(c, n, pct(60) ? &rz : NULL));
      int32_t want = n == 0 ? TAPIR_STATUS_INVALID_ARGUMENT : n > cnt ? TAPIR_STATUS_INVALID_STATE : TAPIR_STATUS_OK;
      if (st != want) failf("tapir_countdown_signal(%u) at %u returned %s, want %s", n, cnt, stname(st), stname(want));
      if (st == TAPIR_STATUS_OK) {
        cnt -= n;
        zeroed = cnt == 0;
        if (rz != zeroed && rz != true) failf("tapir_countdown_signal wrote reached_zero %d", rz);
      }
      break;
    }
    case 1: { /* add */
      uint32_t n = pct(10) ? UINT32_MAX : 1 + rn(3);
      bool try_ = pct(50);
      bool full = (uint64_t)cnt + n > UINT32_MAX;
      int32_t want = cnt == 0 ? TAPIR_STATUS_INVALID_STATE : full ? TAPIR_STATUS_FULL : TAPIR_STATUS_OK;
      if (try_) {
        bool ok = CALL(tapir_countdown_try_add_count(c, n));
        if (ok != (want == TAPIR_STATUS_OK)) failf("tapir_countdown_try_add_count(%u) at %u is %d", n, cnt, ok);
        if (!ok) pr_last("tapir_countdown_try_add_count", want);
      } else {
        int32_t st = CALL(tapir_countdown_add_count(c, n));
        if (st != want) failf("tapir_countdown_add_count(%u) at %u returned %s, want %s", n, cnt, stname(st), stname(want));
      }
      if (want == TAPIR_STATUS_OK) cnt += n;
      break;
    }
    case 2: { /* reset */
      int64_t r = misuse_on() && pct(10) ? -2 : pct(30) ? -1 : (int64_t)rn(3);
      int32_t st = CALL(tapir_countdown_reset(c, r));
      if (st != (r < -1 ? TAPIR_STATUS_INVALID_ARGUMENT : TAPIR_STATUS_OK)) failf("tapir_countdown_reset(%" PRId64 ") returned %s", r, stname(st));
      if (st == TAPIR_STATUS_OK) {
        if (r >= 0) init = (uint32_t)r;
        cnt = init;
        zeroed = cnt == 0;
      }
      break;
    }
    default: { /* wait */
      bool now = pct(25), cancel = !now && pct(25);
      prtok k = {NULL, NULL};
      if (cancel) k = pr_tok();
      const tapir_task *t = NULL;
      if (CALL(tapir_countdown_wait_async(c, now ? 0 : TAPIR_INFINITE, k.t, &t)) != TAPIR_STATUS_OK) failf("tapir_countdown_wait_async failed");
      if (cnt == 0) {
        pr_expect_value("a countdown wait at zero", t, (void *)1);
        release_ok(K_TASK, HV(t), "countdown wait");
      } else if (now) {
        pr_expect_value("a countdown wait of 0 ms above zero", t, (void *)0);
        release_ok(K_TASK, HV(t), "countdown wait");
      } else if (cancel) {
        if (CALL(tapir_cancel_source_cancel(k.c, 0, NULL)) != TAPIR_STATUS_OK) failf("cancel failed");
        pr_expect_canceled("a canceled countdown wait", t);
        release_ok(K_TASK, HV(t), "countdown wait");
      } else if (nq < PR_QMAX) {
        if (!pr_pending(t)) failf("a countdown wait above zero completed at once");
        q[nq++] = t;
      } else release_ok(K_TASK, HV(t), "countdown wait");
      pr_tok_done(&k);
      break;
    }
    }
    if (zeroed) {
      for (int i = 0; i < nq; i++) {
        pr_expect_value("a countdown waiter once the count reached zero", q[i], (void *)1);
        release_ok(K_TASK, HV(q[i]), "countdown wait");
      }
      nq = 0;
    }
  }
  int extra;
  PR_RETAIN_SOME(countdown, c, extra);
  PR_RELEASE_ALL(countdown, c, extra);
  for (int i = 0; i < nq; i++) {
    pr_expect_error("a countdown wait pending at the last release", q[i], TAPIR_STATUS_DISPOSED);
    release_ok(K_TASK, HV(q[i]), "countdown wait");
  }
  uint64_t w = pr_wrong_begin();
  pr_misuse("countdown", pr_cd_ret, pr_cd_rel, HV(c), w);
  if (misuse_on()) {
    if (CALL(tapir_countdown_signal(c, 1, NULL)) != TAPIR_STATUS_INVALID_HANDLE) failf("tapir_countdown_signal of a released countdown is not INVALID_HANDLE");
    if (CALL(tapir_countdown_current_count(c)) || CALL(tapir_countdown_initial_count(c))) failf("a released countdown answers counts");
    pr_last("tapir_countdown_initial_count", TAPIR_STATUS_INVALID_HANDLE);
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- barrier */

/* The post-phase action checks it runs inside the arrival that completed the phase
 * (on this thread), with that phase's number, once per phase. */
static _Thread_local int tl_bar_inside;
static _Thread_local uint64_t tl_bar_phase;
static _Thread_local int tl_bar_ran;
static _Thread_local int32_t tl_bar_fail; /* code of the error the action returns, 0: none */

static const tapir_error *cb_barrier_phase(void *ud, uint64_t phase) {
  rec r;
  rec_enter(ud, "barrier post-phase action", &r);
  if (!tl_bar_inside) failf("a barrier's post-phase action ran outside the arrival or removal that completed the phase");
  if (phase != tl_bar_phase) failf("a barrier's post-phase action got phase %" PRIu64 ", want %" PRIu64, phase, tl_bar_phase);
  tl_bar_ran++;
  if (!tl_bar_fail) return NULL;
  const tapir_error *e = NULL;
  if (CALL(tapir_error_new(tl_bar_fail, (const uint8_t *)"phase", 5, NULL, NULL, &e)) != TAPIR_STATUS_OK) failf("tapir_error_new in a phase action failed");
  return e;
}

static void pr_barrier(void) {
  uint32_t p = rn(4), arrived = 0;
  uint64_t phase = 0;
  uint32_t ri = rec_new(RK_HANDLER, "tapir_barrier_new", 0);
  bool with_action = pct(70);
  const tapir_barrier *b = NULL;
  int32_t st = CALL(tapir_barrier_new(p, with_action ? cb_barrier_phase : NULL, rec_ud_l(ri), fz_destroy, &b));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_barrier_new", st);
  if (st != TAPIR_STATUS_OK) failf("tapir_barrier_new(%u) returned %s", p, stname(st));
  const tapir_task *q[PR_QMAX];
  int nq = 0;
  for (int step = 0, steps = 4 + (int)rn(14); step < steps; step++) {
    if (CALL(tapir_barrier_participant_count(b)) != p) failf("tapir_barrier_participant_count is not %u", p);
    if (CALL(tapir_barrier_participants_remaining(b)) != p - arrived) failf("tapir_barrier_participants_remaining is not %u", p - arrived);
    if (CALL(tapir_barrier_current_phase(b)) != phase) failf("tapir_barrier_current_phase is not %" PRIu64, phase);
    bool completes = false;
    int32_t fail = pct(15) ? 1000 + (int32_t)rn(100) : 0;
    tl_bar_ran = 0;
    switch (rn(4)) {
    case 0: { /* add */
      uint32_t n = pct(5) ? UINT32_MAX : 1 + rn(2);
      uint64_t ph = 0xDEAD;
      st = CALL(tapir_barrier_add_participants(b, n, pct(50) ? &ph : NULL));
      int32_t want = (uint64_t)p + n > UINT32_MAX ? TAPIR_STATUS_FULL : TAPIR_STATUS_OK;
      if (st != want) failf("tapir_barrier_add_participants(%u) with %u returned %s, want %s", n, p, stname(st), stname(want));
      if (st == TAPIR_STATUS_OK) {
        p += n;
        if (ph != 0xDEAD && ph != phase) failf("tapir_barrier_add_participants wrote phase %" PRIu64 ", want %" PRIu64, ph, phase);
      }
      break;
    }
    case 1: { /* remove */
      uint32_t n = 1 + rn(2);
      if (p - n == arrived && arrived == 0 && n <= p) break; /* would leave nobody: not judged */
      tl_bar_inside = 1;
      tl_bar_phase = phase;
      tl_bar_ran = 0;
      tl_bar_fail = fail;
      st = CALL(tapir_barrier_remove_participants(b, n));
      tl_bar_inside = 0;
      int32_t want = n > p ? TAPIR_STATUS_INVALID_ARGUMENT : n > p - arrived ? TAPIR_STATUS_INVALID_STATE : TAPIR_STATUS_OK;
      if (st != want) failf("tapir_barrier_remove_participants(%u) with %u (%u arrived) returned %s, want %s", n, p, arrived, stname(st), stname(want));
      if (st == TAPIR_STATUS_OK) {
        p -= n;
        completes = arrived > 0 && arrived == p;
      }
      break;
    }
    default: { /* arrive */
      bool now = pct(25) && p > arrived + 1;
      const tapir_task *t = SENTP(const tapir_task *);
      tl_bar_inside = 1;
      tl_bar_phase = phase;
      tl_bar_ran = 0;
      tl_bar_fail = fail;
      st = CALL(tapir_barrier_signal_and_wait_async(b, now ? 0 : TAPIR_INFINITE, NULL, &t));
      tl_bar_inside = 0;
      if (p == 0) {
        if (st != TAPIR_STATUS_INVALID_STATE || HV(t) != SENT) failf("tapir_barrier_signal_and_wait_async with no participants returned %s", stname(st));
        break;
      }
      if (st != TAPIR_STATUS_OK) failf("tapir_barrier_signal_and_wait_async returned %s", stname(st));
      if (now) { /* not the last: the 0 ms wait times out and the arrival is taken back */
        pr_expect_value("a barrier arrival of 0 ms that is not the last", t, (void *)0);
        release_ok(K_TASK, HV(t), "barrier wait");
      } else if (arrived + 1 == p) {
        completes = true;
        if (nq < PR_QMAX) q[nq++] = t;
        else release_ok(K_TASK, HV(t), "barrier wait");
        arrived++;
      } else if (nq < PR_QMAX) {
        if (!pr_pending(t)) failf("a barrier arrival that is not the last completed at once");
        q[nq++] = t;
        arrived++;
      } else {
        release_ok(K_TASK, HV(t), "barrier wait");
        arrived++;
      }
      break;
    }
    }
    if (completes) {
      if (with_action && tl_bar_ran != 1) failf("a completed barrier phase ran its post-phase action %d times", tl_bar_ran);
      for (int i = 0; i < nq; i++) {
        if (with_action && fail) pr_expect_error("a participant of a phase whose action failed", q[i], fail);
        else pr_expect_value("a participant of a completed phase", q[i], (void *)1);
        release_ok(K_TASK, HV(q[i]), "barrier wait");
      }
      nq = 0;
      arrived = 0;
      phase++;
    } else if (tl_bar_ran) failf("a barrier's post-phase action ran although no phase completed");
  }
  int extra;
  PR_RETAIN_SOME(barrier, b, extra);
  PR_RELEASE_ALL(barrier, b, extra);
  for (int i = 0; i < nq; i++) {
    pr_expect_error("a barrier wait pending at the last release", q[i], TAPIR_STATUS_DISPOSED);
    release_ok(K_TASK, HV(q[i]), "barrier wait");
  }
  uint64_t w = pr_wrong_begin();
  pr_misuse("barrier", pr_bar_ret, pr_bar_rel, HV(b), w);
  if (misuse_on()) {
    if (CALL(tapir_barrier_add_participants(b, 1, NULL)) != TAPIR_STATUS_INVALID_HANDLE) failf("tapir_barrier_add_participants of a released barrier");
    if (CALL(tapir_barrier_participant_count(b)) || CALL(tapir_barrier_current_phase(b))) failf("a released barrier answers queries");
    pr_last("tapir_barrier_current_phase", TAPIR_STATUS_INVALID_HANDLE);
    if (CALL(tapir_barrier_new(1, NULL, NULL, NULL, NULL)) != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_barrier_new(NULL out) is not NULL_ARGUMENT");
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- channel */

static void *pr_item(uint32_t *ri) { return val_new(0, true, ri); }

static void pr_item_mine(const char *what, void *item, tapir_destroy_fn d, void *want) {
  if (item != want) failf("%s: got item %p, want %p (oldest first)", what, item, want);
  if (d != fz_destroy) failf("%s: the item's destroy is not the one it was written with", what);
  fz_destroy(item); /* the reader owns it now */
}

static void pr_channel(void) {
  size_t cap = pct(40) ? 0 : 1 + rn(3);
  uint32_t mode = cap ? rn(4) : TAPIR_CHANNEL_FULL_WAIT;
  tapir_channel_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.full_mode = mode;
  o.capacity = cap;
  const tapir_channel *c = SENTP(const tapir_channel *);
  if (misuse_on() && pct(10)) {
    tapir_channel_options bad = o;
    bad.full_mode = 4 + rn(10);
    if (CALL(tapir_channel_new(&bad, &c)) != TAPIR_STATUS_INVALID_ARGUMENT || HV(c) != SENT) failf("tapir_channel_new(unknown full mode) is not INVALID_ARGUMENT");
    bad = o;
    bad.struct_size = 2;
    if (CALL(tapir_channel_new(&bad, &c)) != TAPIR_STATUS_INVALID_ARGUMENT || HV(c) != SENT) failf("tapir_channel_new(struct_size 2) is not INVALID_ARGUMENT");
  }
  if (CALL(tapir_channel_new(pct(20) && !cap ? NULL : &o, &c)) != TAPIR_STATUS_OK) failf("tapir_channel_new failed");
  void *items[PR_QMAX];                 /* in the channel, oldest first */
  int ni = 0;
  const tapir_task *rq[PR_QMAX];        /* pending read_async, oldest first */
  int nr = 0;
  const tapir_task *wq[PR_QMAX];        /* pending write_async (WAIT mode, full) */
  void *wi[PR_QMAX];
  int nw = 0;
  bool completed = false;
  int32_t ccode = 0; /* the completion's error code (QUEUE_COMPLETED when none) */
  size_t room = cap ? cap : PR_QMAX;
  for (int step = 0, steps = 4 + (int)rn(16); step < steps; step++) {
    if (CALL(tapir_channel_count(c)) != (size_t)ni) failf("tapir_channel_count is not %d", ni);
    if (CALL(tapir_channel_is_completed(c)) != completed) failf("tapir_channel_is_completed is not %d", completed);
    switch (rn(6)) {
    case 0:
    case 1: { /* write */
      if (!cap && ni >= PR_QMAX - 1) break;
      bool async = pct(40);
      uint32_t ri;
      void *it = pr_item(&ri);
      bool full = (size_t)ni >= room && nr == 0;
      if (!async) {
        bool ok = CALL(tapir_channel_try_write(c, it, fz_destroy));
        bool want = !completed && !(full && mode == TAPIR_CHANNEL_FULL_WAIT);
        if (ok != want) failf("tapir_channel_try_write is %d (completed %d, %d items of %zu, mode %u)", ok, completed, ni, cap, mode);
        val_settle(ri, ok, "tapir_channel_try_write", ok ? 0 : -1);
        if (!ok) {
          pr_last("tapir_channel_try_write", completed ? TAPIR_STATUS_QUEUE_COMPLETED : TAPIR_STATUS_FULL);
          break;
        }
      } else {
        const tapir_task *t = SENTP(const tapir_task *);
        int32_t st = CALL(tapir_channel_write_async(c, it, fz_destroy, TAPIR_INFINITE, NULL, &t));
        int32_t want = completed ? TAPIR_STATUS_QUEUE_COMPLETED : TAPIR_STATUS_OK;
        if (st != want) failf("tapir_channel_write_async returned %s, want %s", stname(st), stname(want));
        val_settle(ri, st == TAPIR_STATUS_OK, "tapir_channel_write_async", st);
        if (st != TAPIR_STATUS_OK) break;
        if (full && mode == TAPIR_CHANNEL_FULL_WAIT) {
          if (nw >= PR_QMAX) {
            release_ok(K_TASK, HV(t), "channel write");
            goto out; /* the model no longer knows the writers */
          }
          if (!pr_pending(t)) failf("a write to a full WAIT channel completed at once");
          wq[nw] = t;
          wi[nw++] = it;
          break;
        }
        pr_expect_value("a channel write with room", t, (void *)1);
        release_ok(K_TASK, HV(t), "channel write");
      }
      /* written: to the oldest reader, or into the channel (full modes drop one) */
      if (nr) {
        pr_expect_value("the oldest channel reader, after a write", rq[0], it);
        release_ok(K_TASK, HV(rq[0]), "channel read"); /* the task owned the item: destroyed now */
        memmove(rq, rq + 1, sizeof rq[0] * (size_t)(nr - 1));
        nr--;
      } else if (!full) items[ni++] = it;
      else if (mode == TAPIR_CHANNEL_FULL_DROP_OLDEST) {
        memmove(items, items + 1, sizeof items[0] * (size_t)(ni - 1));
        items[ni - 1] = it;
      } else if (mode == TAPIR_CHANNEL_FULL_DROP_NEWEST) items[ni - 1] = it;
      /* DROP_WRITE: this item was dropped (destroyed by tapir) */
      break;
    }
    case 2:
    case 3: { /* read */
      bool async = pct(50);
      if (!async) {
        void *it = SENTP(void *);
        tapir_destroy_fn d = NULL;
        bool ok = CALL(tapir_channel_try_read(c, &it, &d));
        if (ok != (ni > 0)) failf("tapir_channel_try_read is %d with %d items", ok, ni);
        if (!ok) {
          if (it != SENTP(void *)) failf("a failed tapir_channel_try_read wrote item_out");
          pr_last("tapir_channel_try_read", completed ? TAPIR_STATUS_QUEUE_COMPLETED : TAPIR_STATUS_TIMEOUT);
          break;
        }
        pr_item_mine("tapir_channel_try_read", it, d, items[0]);
      } else {
        if (ni == 0 && (completed || nr >= PR_QMAX)) {
          const tapir_task *t = NULL;
          if (CALL(tapir_channel_read_async(c, 0, NULL, &t)) != TAPIR_STATUS_OK) failf("tapir_channel_read_async failed");
          pr_expect_error("a read of 0 ms of an empty channel", t, completed ? ccode : TAPIR_STATUS_TIMEOUT);
          release_ok(K_TASK, HV(t), "channel read");
          break;
        }
        const tapir_task *t = NULL;
        if (CALL(tapir_channel_read_async(c, TAPIR_INFINITE, NULL, &t)) != TAPIR_STATUS_OK) failf("tapir_channel_read_async failed");
        if (ni == 0) {
          if (!pr_pending(t)) failf("a read of an empty channel completed at once");
          rq[nr++] = t;
          break;
        }
        pr_expect_value("a channel read with items", t, items[0]);
        release_ok(K_TASK, HV(t), "channel read");
      }
      memmove(items, items + 1, sizeof items[0] * (size_t)(ni - 1));
      ni--;
      if (nw) { /* room: the oldest waiting writer's item goes in */
        pr_expect_value("the oldest waiting channel writer, once there is room", wq[0], (void *)1);
        release_ok(K_TASK, HV(wq[0]), "channel write");
        items[ni++] = wi[0];
        memmove(wq, wq + 1, sizeof wq[0] * (size_t)(nw - 1));
        memmove(wi, wi + 1, sizeof wi[0] * (size_t)(nw - 1));
        nw--;
      }
      break;
    }
    case 4: { /* wait_to_read */
      const tapir_task *t = NULL;
      bool now = ni == 0 && !completed;
      if (CALL(tapir_channel_wait_to_read_async(c, now ? 0 : TAPIR_INFINITE, NULL, &t)) != TAPIR_STATUS_OK) failf("tapir_channel_wait_to_read_async failed");
      if (ni) pr_expect_value("wait_to_read with items", t, (void *)1);
      else if (completed && ccode == TAPIR_STATUS_QUEUE_COMPLETED) pr_expect_value("wait_to_read of a drained, completed channel", t, (void *)0);
      else pr_expect_error("wait_to_read of an empty channel", t, completed ? ccode : TAPIR_STATUS_TIMEOUT);
      release_ok(K_TASK, HV(t), "channel wait_to_read");
      break;
    }
    default: { /* complete */
      if (pct(50) && !completed) break;
      const tapir_error *e = NULL;
      int32_t code = pct(50) ? 1000 + (int32_t)rn(100) : 0;
      if (code && CALL(tapir_error_new(code, (const uint8_t *)"done", 4, NULL, NULL, &e))) failf("tapir_error_new failed");
      int32_t st = CALL(tapir_channel_complete(c, e));
      if (e) release_ok(K_ERROR, HV(e), "completion error");
      if (st != (completed ? TAPIR_STATUS_ALREADY_COMPLETED : TAPIR_STATUS_OK)) failf("tapir_channel_complete returned %s (completed before: %d)", stname(st), completed);
      if (completed) break;
      completed = true;
      ccode = code ? code : TAPIR_STATUS_QUEUE_COMPLETED;
      for (int i = 0; i < nr; i++) {
        pr_expect_error("a read pending when the channel completed empty", rq[i], ccode);
        release_ok(K_TASK, HV(rq[i]), "channel read");
      }
      nr = 0;
      for (int i = 0; i < nw; i++) { /* their items are destroyed by tapir */
        pr_expect_error("a write pending when the channel completed", wq[i], TAPIR_STATUS_QUEUE_COMPLETED);
        release_ok(K_TASK, HV(wq[i]), "channel write");
      }
      nw = 0;
      break;
    }
    }
  }
out:;
  int extra;
  PR_RETAIN_SOME(channel, c, extra);
  PR_RELEASE_ALL(channel, c, extra); /* the items left are destroyed (the ledger checks) */
  for (int i = 0; i < nr; i++) {
    pr_expect_error("a channel read pending at the last release", rq[i], TAPIR_STATUS_DISPOSED);
    release_ok(K_TASK, HV(rq[i]), "channel read");
  }
  for (int i = 0; i < nw; i++) {
    pr_expect_error("a channel write pending at the last release", wq[i], TAPIR_STATUS_DISPOSED);
    release_ok(K_TASK, HV(wq[i]), "channel write");
  }
  uint64_t w = pr_wrong_begin();
  pr_misuse("channel", pr_ch_ret, pr_ch_rel, HV(c), w);
  if (misuse_on()) {
    uint32_t ri;
    void *it = pr_item(&ri);
    bool ok = CALL(tapir_channel_try_write(c, it, fz_destroy));
    val_settle(ri, ok, "tapir_channel_try_write (released channel)", -1);
    if (ok) failf("tapir_channel_try_write on a released channel took the item");
    pr_last("tapir_channel_try_write", TAPIR_STATUS_INVALID_HANDLE);
    if (CALL(tapir_channel_count(c)) || CALL(tapir_channel_is_completed(c))) failf("a released channel answers queries");
    if (CALL(tapir_channel_complete(NULL, NULL)) != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_channel_complete(NULL) is not NULL_ARGUMENT");
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- cache */

/* The factory: runs on the thread of the missing get, once per entry. What it returns
 * is chosen by the op (tl_cf_kind) before the get. */
static _Thread_local int tl_cf_inside, tl_cf_kind, tl_cf_ran;
static _Thread_local const tapir_source *tl_cf_src;
static _Thread_local void *tl_cf_value;
static _Thread_local uint8_t tl_cf_key[2];
static _Thread_local size_t tl_cf_len;

static const tapir_task *cb_cache_factory(void *ud, const uint8_t *key, size_t len) {
  rec r;
  rec_enter(ud, "cache factory", &r);
  if (!tl_cf_inside) failf("a cache factory ran outside the get that missed");
  if (len != tl_cf_len || (len && memcmp(key, tl_cf_key, len))) failf("a cache factory got another key (len %zu)", len);
  tl_cf_ran++;
  const tapir_task *t = NULL;
  uint32_t ri;
  switch (tl_cf_kind) {
  case 0: /* succeeded, with a value */
    tl_cf_value = val_new(0, true, &ri);
    if (CALL(tapir_task_from_result(tl_cf_value, fz_destroy, &t))) failf("tapir_task_from_result failed");
    val_settle(ri, true, "tapir_task_from_result", 0);
    return t;
  case 1: { /* faulted */
    const tapir_error *e = NULL;
    if (CALL(tapir_error_new(2000, (const uint8_t *)"miss", 4, NULL, NULL, &e))) failf("tapir_error_new failed");
    if (CALL(tapir_task_from_error(e, &t))) failf("tapir_task_from_error failed");
    release_ok(K_ERROR, HV(e), "factory error");
    return t;
  }
  case 2: /* pending: completed later by the op */
    if (CALL(tapir_source_new(0, NULL, &tl_cf_src)) || CALL(tapir_source_task(tl_cf_src, &t))) failf("a factory's source failed");
    return t;
  default: return NULL; /* the entry fails with INVALID_STATE */
  }
}

typedef struct {
  bool present;
  const tapir_task *t;   /* the entry's task (a reference the op holds) */
  const tapir_source *s; /* its source while pending, else NULL */
  int state;             /* 0 pending, 1 succeeded, 2 failed */
  void *value;
  uint64_t used;         /* recency */
} prent;

static void pr_cache(void) {
  enum { NK_ = 4 };
  bool keep = pct(30);
  size_t cap = pct(50) ? 0 : 1 + rn(3);
  tapir_cache_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.flags = keep ? TAPIR_CACHE_KEEP_FAILURES : 0;
  o.capacity = cap;
  uint32_t ri = rec_new(RK_HANDLER, "tapir_cache_new", 0);
  const tapir_cache *c = SENTP(const tapir_cache *);
  if (misuse_on() && pct(10)) {
    tapir_cache_options bad = o;
    bad.flags = 1u << (1 + rn(30));
    int32_t st = CALL(tapir_cache_new(cb_cache_factory, rec_ud_l(ri), fz_destroy, &bad, &c));
    if (st != TAPIR_STATUS_INVALID_ARGUMENT || HV(c) != SENT) failf("tapir_cache_new(unknown flags) returned %s", stname(st));
    st = CALL(tapir_cache_new(NULL, rec_ud_l(ri), fz_destroy, &o, &c));
    if (st != TAPIR_STATUS_NULL_ARGUMENT || HV(c) != SENT) failf("tapir_cache_new(NULL factory) returned %s", stname(st));
  }
  int32_t st = CALL(tapir_cache_new(cb_cache_factory, rec_ud_l(ri), fz_destroy, pct(20) && !cap && !keep ? NULL : &o, &c));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_cache_new", st);
  if (st != TAPIR_STATUS_OK) failf("tapir_cache_new failed: %s", stname(st));
  prent e[NK_];
  memset(e, 0, sizeof e);
  const tapir_task *old[32]; /* evicted entries' tasks the op still holds */
  const tapir_source *olds[32];
  int nold = 0;
  uint64_t clock = 0;
  for (int step = 0, steps = 4 + (int)rn(16); step < steps; step++) {
    size_t n = 0;
    for (int k = 0; k < NK_; k++) n += e[k].present;
    size_t cn = CALL(tapir_cache_count(c));
    if (cn != n) failf("tapir_cache_count is %zu, the model has %zu entries", cn, n);
    int k = (int)rn(NK_);
    uint8_t key[1] = {(uint8_t)k};
    switch (rn(6)) {
    case 0:
    case 1:
    case 2: { /* get */
      tl_cf_inside = 1;
      tl_cf_kind = (int)rn(4);
      tl_cf_ran = 0;
      tl_cf_src = NULL;
      tl_cf_key[0] = key[0];
      tl_cf_len = k == 0 ? 0 : 1;
      const tapir_task *t = NULL;
      st = CALL(tapir_cache_get_async(c, k == 0 ? NULL : key, tl_cf_len, &t));
      tl_cf_inside = 0;
      if (st != TAPIR_STATUS_OK) failf("tapir_cache_get_async returned %s", stname(st));
      e[k].used = ++clock;
      if (e[k].present) {
        if (tl_cf_ran) failf("the cache factory ran for a key that has an entry");
        if (t != e[k].t) failf("tapir_cache_get_async returned another task for a key that has an entry");
        release_ok(K_TASK, HV(t), "cache entry");
        break;
      }
      if (tl_cf_ran != 1) failf("a cache miss ran the factory %d times", tl_cf_ran);
      if (cap && n >= cap) { /* the least recently used entry goes */
        int lru = -1;
        for (int j = 0; j < NK_; j++)
          if (e[j].present && j != k && (lru < 0 || e[j].used < e[lru].used)) lru = j;
        if (lru >= 0) {
          e[lru].present = false;
          if (nold < 32) {
            old[nold] = e[lru].t;
            olds[nold++] = e[lru].s;
          } else {
            if (e[lru].s) release_ok(K_SOURCE, HV(e[lru].s), "evicted entry's source");
            release_ok(K_TASK, HV(e[lru].t), "evicted entry");
          }
        }
      }
      e[k].present = true;
      e[k].t = t;
      e[k].s = tl_cf_src;
      e[k].state = tl_cf_kind == 2 ? 0 : tl_cf_kind == 0 ? 1 : 2;
      e[k].value = tl_cf_kind == 0 ? tl_cf_value : NULL;
      if (e[k].state == 1) pr_expect_value("a cache entry whose factory succeeded", t, e[k].value);
      if (e[k].state == 2) {
        pr_expect_error("a cache entry whose factory failed", t, tl_cf_kind == 1 ? 2000 : TAPIR_STATUS_INVALID_STATE);
        if (!keep) e[k].present = false; /* evicted when it completes */
        if (!keep) {
          if (nold < 32) {
            old[nold] = t;
            olds[nold++] = NULL;
          } else release_ok(K_TASK, HV(t), "failed entry");
        }
      }
      if (e[k].state == 0 && !pr_pending(t)) failf("a cache entry whose factory task is pending completed");
      break;
    }
    case 3: { /* complete a pending entry */
      if (!e[k].present || e[k].state != 0) break;
      bool ok = pct(60);
      if (ok) {
        uint32_t vri;
        void *v = val_new(0, true, &vri);
        st = CALL(tapir_source_set_result(e[k].s, v, fz_destroy));
        val_settle(vri, st == TAPIR_STATUS_OK, "tapir_source_set_result", st);
        e[k].value = v;
        pr_expect_value("a cache entry completed later", e[k].t, v);
        e[k].state = 1;
      } else {
        st = CALL(tapir_source_set_canceled(e[k].s, NULL));
        pr_expect_canceled("a cache entry canceled later", e[k].t);
        e[k].state = 2;
        if (!keep) {
          e[k].present = false;
          if (nold < 32) {
            old[nold] = e[k].t;
            olds[nold++] = NULL;
          } else release_ok(K_TASK, HV(e[k].t), "failed entry");
        }
      }
      if (st != TAPIR_STATUS_OK) failf("completing a cache entry's source returned %s", stname(st));
      release_ok(K_SOURCE, HV(e[k].s), "cache entry's source");
      e[k].s = NULL;
      break;
    }
    case 4: { /* remove */
      bool had = CALL(tapir_cache_remove(c, k == 0 ? NULL : key, k == 0 ? 0 : 1));
      if (had != e[k].present) failf("tapir_cache_remove is %d for an entry the model %s", had, e[k].present ? "has" : "has not");
      if (had) {
        e[k].present = false;
        if (nold < 32) {
          old[nold] = e[k].t;
          olds[nold++] = e[k].s;
        } else {
          if (e[k].s) release_ok(K_SOURCE, HV(e[k].s), "removed entry's source");
          release_ok(K_TASK, HV(e[k].t), "removed entry");
        }
        e[k].s = NULL;
      }
      break;
    }
    default: /* clear */
      if (CALL(tapir_cache_clear(c)) != TAPIR_STATUS_OK) failf("tapir_cache_clear failed");
      for (int j = 0; j < NK_; j++)
        if (e[j].present) {
          e[j].present = false;
          if (nold < 32) {
            old[nold] = e[j].t;
            olds[nold++] = e[j].s;
          } else {
            if (e[j].s) release_ok(K_SOURCE, HV(e[j].s), "cleared entry's source");
            release_ok(K_TASK, HV(e[j].t), "cleared entry");
          }
          e[j].s = NULL;
        }
      break;
    }
  }
  int extra;
  PR_RETAIN_SOME(cache, c, extra);
  PR_RELEASE_ALL(cache, c, extra);
  /* tasks handed out are unaffected by the eviction: their values are still there */
  for (int j = 0; j < NK_; j++)
    if (e[j].present) {
      if (e[j].state == 1) pr_expect_value("a cache entry's task after the cache's release", e[j].t, e[j].value);
      if (e[j].s) release_ok(K_SOURCE, HV(e[j].s), "entry's source");
      release_ok(K_TASK, HV(e[j].t), "cache entry");
    }
  for (int j = 0; j < nold; j++) {
    if (olds[j]) release_ok(K_SOURCE, HV(olds[j]), "evicted entry's source");
    release_ok(K_TASK, HV(old[j]), "evicted entry");
  }
  uint64_t w = pr_wrong_begin();
  pr_misuse("cache", pr_cache_ret, pr_cache_rel, HV(c), w);
  if (misuse_on()) {
    const tapir_task *t = SENTP(const tapir_task *);
    if (CALL(tapir_cache_get_async(c, (const uint8_t *)"k", 1, &t)) != TAPIR_STATUS_INVALID_HANDLE || HV(t) != SENT) failf("tapir_cache_get_async on a released cache");
    if (CALL(tapir_cache_count(c)) || CALL(tapir_cache_remove(c, NULL, 0))) failf("a released cache answers queries");
    pr_last("tapir_cache_remove", TAPIR_STATUS_INVALID_HANDLE);
    if (CALL(tapir_cache_clear(NULL)) != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_cache_clear(NULL) is not NULL_ARGUMENT");
  }
  release_ok(K_TASK, w, "completed task");
}

/* ---------------------------------------------------------------- diagnostics */

/* Tracing hooks: one op at a time sets them (a mutex), checks that its own task's
 * creation and completion reach them with the task's id and status, and sometimes
 * clears them; events of other threads reach them too and are only counted. */
static pthread_mutex_t g_trace_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_trace_tag;
static atomic_ullong g_trace_events;
static _Thread_local uint64_t tl_trace_id;
static _Thread_local int tl_trace_created, tl_trace_completed, tl_trace_status;

static void tr_check(void *ud) {
  if (ud != &g_trace_tag) failf("a trace hook got user data %p, not the one set", ud);
  atomic_fetch_add_explicit(&g_trace_events, 1, memory_order_relaxed);
}
static void tr_created(void *ud, uint64_t id) {
  tr_check(ud);
  if (id && id == tl_trace_id) tl_trace_created++;
}
static void tr_completed(void *ud, uint64_t id, int32_t status) {
  tr_check(ud);
  if (id && id == tl_trace_id) {
    tl_trace_completed++;
    tl_trace_status = status;
  }
}
static void tr_task(void *ud, uint64_t id) {
  (void)id;
  tr_check(ud);
}
static void tr_work(void *ud, uint64_t work, uint64_t sched) {
  (void)work;
  (void)sched;
  tr_check(ud);
}

static void pr_trace(void) {
  tapir_trace_hooks h;
  memset(&h, 0, sizeof h);
  h.struct_size = sizeof h;
  h.user_data = &g_trace_tag;
  h.task_created = tr_created;
  h.task_completed = tr_completed;
  h.continuation_started = tr_task;
  h.continuation_finished = tr_task;
  h.work_posted = tr_work;
  h.work_started = tr_work;
  h.work_finished = tr_work;
  pthread_mutex_lock(&g_trace_mu);
  if (misuse_on() && pct(10)) {
    tapir_trace_hooks bad = h;
    bad.struct_size = 4;
    if (CALL(tapir_set_trace_hooks(&bad)) != TAPIR_STATUS_INVALID_ARGUMENT) failf("tapir_set_trace_hooks(struct_size 4) is not INVALID_ARGUMENT");
  }
  if (CALL(tapir_set_trace_hooks(&h)) != TAPIR_STATUS_OK) failf("tapir_set_trace_hooks failed");
  /* a task made while the hooks are set: its id is known once it exists, so the
   * creation event is matched by id after the fact (tapir_task_id of the new task) */
  const tapir_source *s = NULL;
  const tapir_task *t = NULL;
  tl_trace_id = 0;
  tl_trace_created = tl_trace_completed = 0;
  if (CALL(tapir_source_new(0, NULL, &s)) || CALL(tapir_source_task(s, &t))) failf("a private source failed");
  tl_trace_id = CALL(tapir_task_id(t));
  bool cancel = pct(50);
  if (cancel) CALL(tapir_source_set_canceled(s, NULL));
  else CALL(tapir_source_set_result(s, NULL, NULL));
  if (tl_trace_completed != 1) failf("the task_completed trace hook ran %d times for a task completed on this thread", tl_trace_completed);
  int32_t want = cancel ? TAPIR_TASK_STATUS_CANCELED : TAPIR_TASK_STATUS_SUCCEEDED;
  if (tl_trace_status != want) failf("the task_completed trace hook got status %d, want %d", tl_trace_status, want);
  release_ok(K_SOURCE, HV(s), "traced source");
  release_ok(K_TASK, HV(t), "traced task");
  tl_trace_id = 0;
  if (pct(50) && CALL(tapir_set_trace_hooks(NULL)) != TAPIR_STATUS_OK) failf("tapir_set_trace_hooks(NULL) failed");
  pthread_mutex_unlock(&g_trace_mu);
}

/* The live-task report, racing every other thread's calls: a private pending task is
 * listed with its own handles exactly (nobody else can change them). */
static void pr_report_live(void) {
  const tapir_source *s = NULL;
  const tapir_task *t = NULL;
  if (CALL(tapir_source_new(0, NULL, &s)) || CALL(tapir_source_task(s, &t))) failf("a private source failed");
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) failf("open_memstream failed");
  size_t n = CALL(tapir_debug_report_live(f));
  fclose(f);
  char want[80];
  snprintf(want, sizeof want, "task %#" PRIx64 "  pending, 1 task handle(s), 1 source(s)", CALL(tapir_task_id(t)));
  if (n == 0 || !strstr(text, want)) failf("tapir_debug_report_live (%zu tasks) does not list a private pending task as \"%s\"", n, want);
  free(text);
  if (CALL(tapir_debug_report_live(NULL)) == 0) failf("tapir_debug_report_live(NULL) is 0 while a task is live");
  release_ok(K_SOURCE, HV(s), "private source");
  release_ok(K_TASK, HV(t), "private task");
}

static void pr_diag(void) {
  switch (rn(4)) {
  case 0: { /* names of a live task the fuzzer holds, and of a private one */
    harg a = a_live(K_TASK);
    if (a.h) name_task_l(TK(a.h), fam_on(FAM_RACEREL));
    a_done(&a);
    const tapir_source *s = NULL;
    const tapir_task *t = NULL;
    if (CALL(tapir_source_new(0, NULL, &s)) || CALL(tapir_source_task(s, &t))) failf("a private source failed");
    char buf[8];
    if (CALL(tapir_task_get_name(t, buf, sizeof buf)) != 0) failf("a new task has a name");
    name_task(t);
    if (CALL(tapir_task_set_name(t, NULL)) != TAPIR_STATUS_OK) failf("tapir_task_set_name(NULL) failed");
    if (CALL(tapir_task_get_name(t, buf, sizeof buf)) != 0) failf("tapir_task_get_name after removing the name is not 0");
    name_task(t);
    release_ok(K_SOURCE, HV(s), "private source");
    uint64_t stale = HV(t);
    release_ok(K_TASK, HV(t), "private task");
    if (misuse_on()) {
      if (CALL(tapir_task_set_name(TK(stale), "x")) != TAPIR_STATUS_INVALID_HANDLE) failf("tapir_task_set_name on a released task is not INVALID_HANDLE");
      if (CALL(tapir_task_get_name(TK(stale), buf, sizeof buf)) != 0) failf("tapir_task_get_name of a released task is not 0");
      pr_last("tapir_task_get_name", TAPIR_STATUS_INVALID_HANDLE);
      if (CALL(tapir_task_set_name(NULL, "x")) != TAPIR_STATUS_NULL_ARGUMENT) failf("tapir_task_set_name(NULL task) is not NULL_ARGUMENT");
    }
    break;
  }
  case 1: { /* continuations counted on a private task */
    const tapir_source *s = NULL;
    const tapir_task *t = NULL;
    if (CALL(tapir_source_new(0, NULL, &s)) || CALL(tapir_source_task(s, &t))) failf("a private source failed");
    unsigned n = rn(4);
    const tapir_registration *reg[4];
    for (unsigned i = 0; i < n; i++) {
      uint32_t ri = cb_rec("tapir_task_on_complete (counted)", 1, HV(t), me()->depth, 0, 0, NULL, 0);
      int32_t st = CALL(tapir_task_on_complete(t, cb_on_complete, rec_ud_l(ri), fz_destroy, NULL, &reg[i]));
      rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_on_complete", st);
      if (st != TAPIR_STATUS_OK) failf("tapir_task_on_complete on a private pending task returned %s", stname(st));
    }
    size_t c = CALL(tapir_debug_task_continuations(t));
    if (c != n) failf("tapir_debug_task_continuations is %zu after %u registrations", c, n);
    if (n && CALL(tapir_registration_remove(reg[0])) == TAPIR_STATUS_OK) {
      c = CALL(tapir_debug_task_continuations(t));
      if (c != n - 1) failf("tapir_debug_task_continuations is %zu after a removal (want %u)", c, n - 1);
    }
    for (unsigned i = 0; i < n; i++) release_ok(K_REG, HV(reg[i]), "counted registration");
    CALL(tapir_source_set_result(s, NULL, NULL));
    if (CALL(tapir_debug_task_continuations(t)) != 0) failf("tapir_debug_task_continuations of a completed task is not 0");
    release_ok(K_SOURCE, HV(s), "private source");
    uint64_t stale = HV(t);
    release_ok(K_TASK, HV(t), "private task");
    if (misuse_on() && CALL(tapir_debug_task_continuations(TK(stale))) != 0) failf("tapir_debug_task_continuations of a released task is not 0");
    break;
  }
  case 2: pr_report_live(); break;
  default: pr_trace(); break;
  }
}

/* The host-fit family (clocks, the test scheduler, configuration): its own file, on
 * the primitives' helpers above. */
#include "host_ops.inc"

static void op_prims(void) {
  if (me()->depth > 0) return; /* the waits below are bounded but block */
  switch (rn(8)) {
  case 0: pr_semaphore(); break;
  case 1: pr_events(); break;
  case 2: pr_lock(); break;
  case 3: pr_rwlock(); break;
  case 4: pr_countdown(); break;
  case 5: pr_barrier(); break;
  case 6: pr_channel(); break;
  default: pr_cache(); break;
  }
}

static void op_diag(void) {
  if (me()->depth > 0) return;
  pr_diag();
}

/* ================================================================ the op table */

typedef struct {
  const char *name;
  int fam; /* -1: always on */
  int weight;
  void (*fn)(void);
  bool cb_ok; /* may run inside a callback */
} opdef;

static void op_shutdown_rare(void) {
  if (rn(400) == 0) op_shutdown();
}
static void op_panic_rare(void) {
  if (rn(200) == 0) op_debug_panic();
}

static const opdef g_ops[] = {
    {"source_new", FAM_SOURCE, 6, op_source_new, 1},
    {"source_task", FAM_SOURCE, 3, op_source_task, 1},
    {"source_complete", FAM_SOURCE, 10, op_source_complete, 1},
    {"debug_panic", FAM_PANIC, 1, op_panic_rare, 0},
    {"task_new", FAM_TASK, 4, op_task_new, 1},
    {"task_query", FAM_TASK, 8, op_task_query, 1},
    {"task_wait", FAM_WAIT, 2, op_task_wait, 0},
    {"task_wait_any", FAM_WAITANY, 1, op_task_wait, 0},
    {"on_complete", FAM_CONT, 6, op_on_complete, 1},
    {"continue_with", FAM_CONT, 5, op_continue_with, 1},
    {"registration", FAM_CONT, 2, op_reg, 1},
    {"unwrap", FAM_UNWRAP, 2, op_unwrap, 1},
    {"combinator", FAM_COMB, 4, op_comb, 1},
    {"wait_async", FAM_WAITASYNC, 2, op_wait_async, 1},
    {"retry", FAM_RETRY, 1, op_retry, 1},
    {"need_only_one", FAM_NOO, 1, op_noo, 1},
    {"need_only_one_abandoned", FAM_NOO, 1, op_noo_abandon, 0},
    {"throttled", FAM_THROTTLE, 1, op_throttle, 1},
    {"cts_new", FAM_CANCEL, 3, op_cts_new, 1},
    {"cts_ops", FAM_CANCEL, 5, op_cts_ops, 1},
    {"token", FAM_CANCEL, 3, op_token, 1},
    {"cancel_scenario", FAM_CANCEL, 1, op_cancel_scenario, 0},
    {"register", FAM_CREG, 3, op_register, 1},
    {"cancel_registration", FAM_CREG, 2, op_creg, 1},
    {"delay", FAM_DELAY, 3, op_delay, 1},
    {"scheduler", FAM_SCHED, 2, op_sched, 1},
    {"post", FAM_SCHED, 3, op_post, 1},
    {"run_pending", FAM_SCHED, 3, op_run_pending, 0},
    {"foreign_new", FAM_FOREIGN, 1, op_foreign_new, 1},
    {"foreign_pump", FAM_FOREIGN, 4, op_foreign_pump, 0},
    {"run", FAM_RUN, 3, op_run, 1},
    {"yield", FAM_RUN, 1, op_yield, 1},
    {"error_new", FAM_ERROR, 3, op_error_new, 1},
    {"error_read", FAM_ERROR, 3, op_error_read, 1},
    {"progress", FAM_PROGRESS, 2, op_progress, 1},
    {"misc", FAM_MISC, 1, op_misc, 1},
    {"hook", FAM_HOOK, 1, op_hook, 0},
    {"shutdown", FAM_SHUTDOWN, 1, op_shutdown_rare, 0},
    {"race", FAM_RACE, 2, op_race, 0},
    {"primitives", FAM_PRIMS, 2, op_prims, 0},
    {"diagnostics", FAM_DIAG, 1, op_diag, 0},
    {"host", FAM_HOST, 2, op_host, 0},
    {"release", -1, 26, op_release, 1},
    {"retain", -1, 3, op_retain, 1},
};
#define NOPS ((int)(sizeof g_ops / sizeof g_ops[0]))
static int g_cum[NOPS], g_cumcb[NOPS], g_wsum, g_wsumcb;
static atomic_ullong g_opcount[NOPS + 1]; /* the last: forced releases (the model is full) */

static bool fam_on(int f) { return f < 0 || !(g_exclude & (1ull << f)); }

static void ops_init(void) {
  /* FUZZ_OPS=name,name keeps only those ops (and release/retain): for bisecting */
  const char *only = getenv("FUZZ_OPS");
  for (int i = 0; i < NOPS; i++) {
    int w = fam_on(g_ops[i].fam) ? g_ops[i].weight : 0;
    if (only && g_ops[i].fam >= 0) {
      size_t n = strlen(g_ops[i].name);
      const char *p = strstr(only, g_ops[i].name);
      if (!p || (p != only && p[-1] != ',') || (p[n] && p[n] != ',')) w = 0;
    }
    g_wsum += w;
    g_cum[i] = g_wsum;
    g_wsumcb += g_ops[i].cb_ok ? w : 0;
    g_cumcb[i] = g_wsumcb;
  }
}

static void run_op(bool from_cb) {
  int sum = from_cb ? g_wsumcb : g_wsum;
  const int *cum = from_cb ? g_cumcb : g_cum;
  if (sum <= 0) return;
  int r = (int)rn((unsigned)sum);
  for (int i = 0; i < NOPS; i++)
    if (r < cum[i]) {
      atomic_fetch_add_explicit(&g_opcount[i], 1, memory_order_relaxed);
      const char *prev = tl_opname;
      tl_opname = g_ops[i].name;
      g_ops[i].fn();
      tl_opname = prev;
      return;
    }
}

static void run_random_op(void) { run_op(true); }

/* ================================================================ threads */

static atomic_int g_watch_stop;

static void *watchdog_main(void *arg) {
  (void)arg;
  thr_register("watchdog", 1, 0);
  unsigned long long last = atomic_load(&g_progress);
  double since = now_ms();
  while (!atomic_load(&g_watch_stop)) {
    sleep_ms(100);
    unsigned long long p = atomic_load(&g_progress);
    if (p != last) {
      last = p;
      since = now_ms();
    } else if (now_ms() - since > 10000) {
      failf("watchdog: no progress for 10 s (no op finished and no callback ran): a hang");
    }
  }
  return NULL;
}

static void *fuzz_main(void *arg) {
  int id = (int)(intptr_t)arg;
  char name[20];
  snprintf(name, sizeof name, "fuzz-%d", id);
  thr *t = thr_register(name, g_seed * 0x100000001B3ull + (uint64_t)id + 1, 1);
  tl_racer = fam_on(FAM_RACE) ? racer_start(id) : NULL;
  long long quota = g_max_ops ? g_max_ops / g_threads + (id < g_max_ops % g_threads) : 0;
  double end = g_seconds > 0 ? g_t0 + g_seconds * 1000 : 0;
  for (long long n = 0; !atomic_load(&g_stop); n++) {
    if (quota && n >= quota) break;
    if (end && (n & 63) == 0 && now_ms() >= end) break;
    drain_deferred(4);
    if (atomic_load_explicit(&g_nlive_all, memory_order_relaxed) > LIVE_SOFT) {
      atomic_fetch_add_explicit(&g_opcount[NOPS], 1, memory_order_relaxed);
      op_release();
    }
    else run_op(false);
    atomic_fetch_add_explicit(&t->ops, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  }
  if (tl_racer) racer_stop(tl_racer);
  return NULL;
}

/* ================================================================ teardown and the final checks */

static void pump_manual_all(void) {
  uint64_t hs[256];
  int n = 0;
  L();
  for (int k = 0; k < g_nlive[K_SCHED] && n < 256; k++) {
    slot *s = &g_slots[g_live[K_SCHED][k]];
    if (s->sub == SCH_MANUAL && s->refs > 0) {
      s->pins++;
      hs[n++] = s->h;
    }
  }
  U();
  for (int i = 0; i < n; i++) {
    size_t ran = 0;
    int32_t st = CALL(tapir_scheduler_run_pending(SC(hs[i]), 0, -1, &ran));
    if (st != TAPIR_STATUS_OK) failf("teardown: tapir_scheduler_run_pending on a held manual scheduler returned %s", stname(st));
    L();
    int j = s_find(hs[i]);
    if (j >= 0) {
      g_slots[j].pins--;
      s_maybe_grave(j);
    }
    U();
  }
}

/* Releases every model reference of the given kinds; returns how many. */
static int release_kinds(uint32_t kinds) {
  typedef struct {
    uint64_t h;
    int kind, n;
  } rel;
  rel *v = malloc(sizeof(rel) * MAXSLOTS);
  if (!v) abort();
  int n = 0, total = 0;
  L();
  for (int k = 0; k < NK; k++) {
    if (!(kinds & (1u << k))) continue;
    for (int j = g_nlive[k] - 1; j >= 0; j--) {
      int i = g_live[k][j];
      slot *s = &g_slots[i];
      if (s->refs <= 0 || s->pins) continue;
      v[n].h = s->h;
      v[n].kind = k;
      v[n].n = s->refs;
      n++;
      s->refs = 0;
      s->acq++; /* released below */
      s_maybe_grave(i);
    }
  }
  U();
  for (int i = 0; i < n; i++) {
    for (int r = 0; r < v[i].n; r++) {
      LOG("teardown release %s %#" PRIx64, kname[v[i].kind], v[i].h);
      release_ok(v[i].kind, v[i].h, "teardown");
      total++;
    }
    L();
    int j = s_find(v[i].h);
    if (j >= 0) g_slots[j].acq--;
    U();
  }
  free(v);
  return total;
}

static int deferred_pending(void) {
  pthread_mutex_lock(&g_dmu);
  int n = g_ndef;
  pthread_mutex_unlock(&g_dmu);
  return n;
}

static long long rec_open(void) {
  pthread_mutex_lock(&g_lmu);
  long long n = g_rec_open;
  pthread_mutex_unlock(&g_lmu);
  return n;
}

/* Open records that hold a cancel source or a manual scheduler: cancel it (once per
 * record) or run it, so the callback that owns it can run and release it. The record
 * may release it meanwhile, so INVALID_HANDLE is accepted.
 *
 * When no cancel is left to try, a cancel registration that owns a cancel source and
 * is still unrun must be one a stopped cancel left behind (see g_stopped): every other
 * source its token may belong to has been canceled or disposed by now. It is
 * unregistered, and its destroy releases what it owns. */
static int rescue_owned(void) {
  uint64_t hs[64], ud[64];
  int ks[64], n = 0, ncts = 0;
  pthread_mutex_lock(&g_lmu);
  for (uint32_t i = 0; i < g_nrec && n < 64; i++) {
    rec *r = rec_at(i);
    if (r->state != RS_ACCEPTED && r->state != RS_PENDING) continue;
    for (int k = 0; k < 2 && n < 64; k++)
      if (r->own[k] && ((r->own_kind[k] == K_CTS && !r->rescued) || r->own_kind[k] == K_SCHED)) {
        hs[n] = r->own[k];
        ks[n++] = r->own_kind[k];
        if (r->own_kind[k] == K_CTS) {
          r->rescued = 1;
          ncts++;
        }
      }
  }
  for (uint32_t i = 0; i < g_nrec && n < 64 && !ncts; i++) {
    rec *r = rec_at(i);
    if (r->state != RS_ACCEPTED || !r->rescued || !r->own[1] || r->own_kind[1] != K_CREG) continue;
    if (!may_have_stopped_l(r->tok_src)) {
      uint64_t src = r->tok_src;
      pthread_mutex_unlock(&g_lmu);
      failf("teardown: a cancel registration on the token of %#" PRIx64 " never ran, though that source was never "
            "canceled with TAPIR_CANCEL_STOP_AT_FIRST_ERROR, and every other cancel was tried or it was disposed",
            src);
    }
    hs[n] = r->own[1];
    ud[n] = (uint64_t)(uintptr_t)rec_ud(i);
    ks[n++] = K_CREG;
  }
  pthread_mutex_unlock(&g_lmu);
  for (int i = 0; i < n; i++) {
    int32_t st;
    if (ks[i] == K_CREG) {
      st = CALL(tapir_cancel_registration_unregister(CR(hs[i])));
      LOG("teardown: unregistering a cancel registration %#" PRIx64 " left by a stopped cancel -> %s", hs[i], stname(st));
      if (st == TAPIR_STATUS_OK) {
        pthread_mutex_lock(&g_lmu);
        rec *r = rec_decode((void *)(uintptr_t)ud[i], NULL);
        if (r) r->removed = 1;
        pthread_mutex_unlock(&g_lmu);
      } else if (st != TAPIR_STATUS_ALREADY_COMPLETED && st != TAPIR_STATUS_INVALID_HANDLE)
        failf("teardown: unregistering a cancel registration held by an open record returned %s", stname(st));
      continue;
    }
    if (ks[i] == K_CTS) st = CALL(tapir_cancel_source_cancel(CS(hs[i]), 0, NULL));
    else {
      size_t ran;
      st = CALL(tapir_scheduler_run_pending(SC(hs[i]), 0, -1, &ran));
      if (st == TAPIR_STATUS_INVALID_ARGUMENT) st = TAPIR_STATUS_OK; /* not a manual one */
    }
    LOG("teardown: %s owned by an open record %#" PRIx64 " -> %s", kname[ks[i]], hs[i], stname(st));
    if (st != TAPIR_STATUS_OK && st != TAPIR_STATUS_INVALID_HANDLE)
      failf("teardown: driving a %s held by an open record returned %s", kname[ks[i]], stname(st));
  }
  return n;
}

static void teardown(void) {
  atomic_store(&g_teardown, 1);
  ho_teardown(); /* the shared clock: every delay armed on it ended once */
  uint32_t first = ~((1u << K_SCHED) | (1u << K_CTS) | (1u << K_TOKEN));
  double idle_since = now_ms();
  int rescues = 0;
  for (;;) {
    atomic_fetch_add(&g_progress, 1);
    int did = fs_pump_all(10);
    pump_manual_all();
    int d = deferred_pending();
    drain_deferred(1 << 20);
    did += d + release_kinds(first);
    if (!did) did += release_kinds((1u << K_CTS) | (1u << K_TOKEN));
    if (!did) {
      pump_manual_all();
      did += release_kinds(1u << K_SCHED);
    }
    if (!did && rescues < 20 && now_ms() - idle_since > 50) {
      rescues++;
      did += rescue_owned();
    }
    if (did) idle_since = now_ms();
    else {
      if (g_nlive_all == 0 && !deferred_pending()) break;
      if (now_ms() - idle_since > 3000) break; /* what is left is reported by the final checks */
      sleep_ms(1);
    }
  }
}

#define NOBJK (TAPIR_OBJECT_KIND_CLOCK + 1) /* the last kind the header names */
static size_t g_base_live, g_base_kind[NOBJK];

static bool settle(double ms) {
  double end = now_ms() + ms;
  for (;;) {
    atomic_fetch_add(&g_progress, 1);
    fs_pump_all(10);
    drain_deferred(1 << 20);
    if (CALL(tapir_debug_live_objects(0)) == g_base_live && rec_open() == 0 && !deferred_pending()) return true;
    if (now_ms() >= end) return false;
    sleep_ms(5);
  }
}

static void report_open_records(void) {
  pthread_mutex_lock(&g_lmu);
  int shown = 0;
  long long open = g_rec_open;
  for (uint32_t i = 0; i < g_nrec && shown < 25; i++) {
    rec *r = rec_at(i);
    if (r->state != RS_PENDING && r->state != RS_ACCEPTED) continue;
    fprintf(stderr, "  open record #%u: %s, state %s, calls %d, destroys %d, action %s, next %s, made by %s at op %llu\n", i,
            r->what, rsname[r->state], r->calls, r->destroys, actname[r->action], nxname[r->nx], r->tname ? r->tname : "?", r->op);
    shown++;
  }
  pthread_mutex_unlock(&g_lmu);
  fprintf(stderr, "  (%lld open records in all)\n", open);
}

static void final_checks(void) {
  LOG("final checks");
  /* a shutdown op stops the timer thread, and delays, timeouts and cancel-afters still
   * pending then fire only once a later call starts the timer again (tapir_shutdown's
   * contract); when no call of the run did, this one does, so that they complete */
  const tapir_task *restart = NULL;
  if (CALL(tapir_delay(1, NULL, &restart)) != TAPIR_STATUS_OK) failf("tapir_delay(1) in the final checks failed");
  release_ok(K_TASK, HV(restart), "the final checks' timer restart");
  /* FUZZ_SETTLE_MS shortens the settling wait (for bisecting leaks) */
  const char *e = getenv("FUZZ_SETTLE_MS");
  double wait = e ? atof(e) : 15000;
  bool ok = settle(wait / 3);
  LOG("tapir_shutdown");
  /* a task still pending once tapir's threads stopped is reported by tapir itself */
  CALL(tapir_debug_report_at_shutdown(stderr));
  int32_t st = CALL(tapir_shutdown());
  CALL(tapir_debug_report_at_shutdown(NULL));
  if (st != TAPIR_STATUS_OK) failf("tapir_shutdown returned %s", stname(st));
  ok = settle(ok ? wait / 3 : wait * 2 / 3);
  /* what the fuzzer itself still holds (a fuzzer bug if anything) */
  int held = 0;
  L();
  for (int k = 0; k < NK; k++)
    for (int j = 0; j < g_nlive[k]; j++) {
      slot *sl = &g_slots[g_live[k][j]];
      if (held < 10)
        fprintf(stderr, "  fuzzer model still has %s %#" PRIx64 ": refs %d ext %d pins %d\n", kname[k], sl->h, sl->refs, sl->ext,
                sl->pins);
      held++;
    }
  U();
  size_t live = CALL(tapir_debug_live_objects(0));
  long long open = rec_open();
  size_t tasks = CALL(tapir_debug_live_objects(1)), listed = CALL(tapir_debug_report_live(NULL));
  if (listed != tasks) failf("settled, tapir_debug_report_live lists %zu tasks but %zu are live", listed, tasks);
  if (live != g_base_live || open) {
    static const char *kn[NOBJK] = {"all", "task", "error", "registration", "scheduler", "cancel", "progress", "semaphore",
                                    "event", "countdown", "barrier", "lock", "lock_guard", "channel", "cache", "clock"};
    fprintf(stderr, "live objects by kind (start -> end):");
    for (int k = 0; k < NOBJK; k++) fprintf(stderr, " %s %zu->%zu", kn[k], g_base_kind[k], CALL(tapir_debug_live_objects(k)));
    fprintf(stderr, "\n");
    report_open_records();
    fprintf(stderr, "pending tasks (tapir_debug_report_pending; names: the op/thread that made them):\n");
    size_t np = CALL(tapir_debug_report_pending(stderr));
    fprintf(stderr, "  (%zu pending)\n", np);
    fprintf(stderr, "live tasks (tapir_debug_report_live; ids to look up with FUZZ_TRACE=DIR):\n");
    CALL(tapir_debug_report_live(stderr));
    failf("after releasing everything, tapir_shutdown and settling: %zu live objects (start %zu), %lld ledger "
          "records whose destroy never ran, %d handles still in the fuzzer's model",
          live, g_base_live, open, held);
  }
}

/* ================================================================ main */

static void usage(void) {
  fprintf(stderr,
          "usage: fuzz [-S seed] [-t threads 1-4] [-s seconds | -n ops] [-x fam,fam | -o fam,fam] [-m misuse%%] [-v] [-l]\n"
          "  -x  exclude op families, -o run only these (-l lists them)\n");
  exit(2);
}

int main(int argc, char **argv) {
  static char line[512];
  bool seeded = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-S") && v) g_seed = strtoull(v, NULL, 0), seeded = true, i++;
    else if (!strcmp(a, "-t") && v) g_threads = atoi(v), i++;
    else if (!strcmp(a, "-s") && v) g_seconds = atof(v), i++;
    else if (!strcmp(a, "-n") && v) g_max_ops = atoll(v), i++;
    else if (!strcmp(a, "-m") && v) g_misuse = atoi(v), i++;
    else if (!strcmp(a, "-x") && v) {
      char buf[512];
      snprintf(buf, sizeof buf, "%s", v);
      for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int f = -1;
        for (int k = 0; k < FAM_N; k++)
          if (!strcmp(tok, famname[k])) f = k;
        if (f < 0) {
          fprintf(stderr, "fuzz: unknown family '%s' (-l lists them)\n", tok);
          return 2;
        }
        g_exclude |= 1ull << f;
      }
      i++;
    } else if (!strcmp(a, "-o") && v) {
      /* only these families (with release/retain, which are always on) */
      char buf[512];
      snprintf(buf, sizeof buf, "%s", v);
      uint64_t keep = 0;
      for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int f = -1;
        for (int k = 0; k < FAM_N; k++)
          if (!strcmp(tok, famname[k])) f = k;
        if (f < 0) {
          fprintf(stderr, "fuzz: unknown family '%s' (-l lists them)\n", tok);
          return 2;
        }
        keep |= 1ull << f;
      }
      g_exclude |= ((1ull << FAM_N) - 1) & ~keep;
      i++;
    } else if (!strcmp(a, "-v")) g_verbose++;
    else if (!strcmp(a, "-l")) {
      for (int k = 0; k < FAM_N; k++) {
        printf("%-10s", famname[k]);
        for (int j = 0; j < NOPS; j++)
          if (g_ops[j].fam == k) printf(" %s", g_ops[j].name);
        printf("\n");
      }
      return 0;
    } else usage();
  }
  if (g_threads < 1 || g_threads > 4) usage();
  if (!seeded) {
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&g_seed, sizeof g_seed, 1, f) != 1) g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (f) fclose(f);
    g_seed &= 0xFFFFFFFFFFFFull;
  }
  if (g_seconds <= 0 && g_max_ops <= 0) g_seconds = 10;
  int len = snprintf(line, sizeof line, "%s -S %" PRIu64 " -t %d", argv[0], g_seed, g_threads);
  if (g_max_ops) len += snprintf(line + len, sizeof line - (size_t)len, " -n %lld", g_max_ops);
  else len += snprintf(line + len, sizeof line - (size_t)len, " -s %g", g_seconds);
  if (g_exclude) {
    len += snprintf(line + len, sizeof line - (size_t)len, " -x ");
    bool first = true;
    for (int k = 0; k < FAM_N; k++)
      if (g_exclude & (1ull << k)) {
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%s", first ? "" : ",", famname[k]);
        first = false;
      }
  }
  if (g_misuse != 12) snprintf(line + len, sizeof line - (size_t)len, " -m %d", g_misuse);
  g_argv_line = line;
  printf("fuzz: seed %" PRIu64 ", %d thread(s), %s; run again with: %s\n", g_seed, g_threads,
         g_max_ops ? "op budget" : "time budget", line);
  fflush(stdout);

  thr_register("main", g_seed, 1);
  model_init();
  ti_init();
  ops_init();
  g_t0 = now_ms();
  /* FUZZ_NAMES=percent names that share of new tasks (default 5), for leak triage */
  if (getenv("FUZZ_NAMES")) g_name_pct = atoi(getenv("FUZZ_NAMES"));
  CALL(tapir_debug_track_tasks(true));

  /* the permanent objects, touched once so the baseline counts them */
  const tapir_scheduler *s = NULL;
  const tapir_cancel_token *tk = NULL;
  const tapir_task *t = NULL;
  if (CALL(tapir_scheduler_default(&s)) != TAPIR_STATUS_OK) failf("tapir_scheduler_default failed");
  g_default_h = HV(s);
  release_ok(K_SCHED, HV(s), "warm-up");
  if (CALL(tapir_scheduler_inline(&s)) != TAPIR_STATUS_OK) failf("tapir_scheduler_inline failed");
  g_inline_h = HV(s);
  release_ok(K_SCHED, HV(s), "warm-up");
  if (CALL(tapir_cancel_token_none(&tk)) != TAPIR_STATUS_OK) failf("tapir_cancel_token_none failed");
  g_none_h = HV(tk);
  release_ok(K_TOKEN, HV(tk), "warm-up");
  if (CALL(tapir_task_completed(&t)) != TAPIR_STATUS_OK) failf("tapir_task_completed failed");
  g_completed_h = HV(t);
  release_ok(K_TASK, HV(t), "warm-up");
  g_version = CALL(tapir_version());
  g_base_live = CALL(tapir_debug_live_objects(0));
  for (int k = 0; k < NOBJK; k++) g_base_kind[k] = CALL(tapir_debug_live_objects(k));
  if (fam_on(FAM_HOOK)) CALL(tapir_set_unobserved_error_hook(hook_fn, &g_hook_tag1));

  pthread_t wd, th[4];
  if (pthread_create(&wd, NULL, watchdog_main, NULL)) abort();
  for (int i = 0; i < g_threads; i++)
    if (pthread_create(&th[i], NULL, fuzz_main, (void *)(intptr_t)i)) abort();
  for (int i = 0; i < g_threads; i++) pthread_join(th[i], NULL);
  double t_ops = now_ms() - g_t0;
  LOG("threads joined; teardown");
  teardown();
  final_checks();
  CALL(tapir_set_unobserved_error_hook(NULL, NULL));
  atomic_store(&g_watch_stop, 1);
  pthread_join(wd, NULL);

  unsigned long long calls = 0, ops = 0;
  int nt = atomic_load(&g_nthr);
  for (int i = 0; i < nt && i < MAXTHR; i++)
    if (g_thr[i]) {
      calls += atomic_load(&g_thr[i]->calls);
      ops += atomic_load(&g_thr[i]->ops);
    }
  double secs = (now_ms() - g_t0) / 1000.0;
  if (g_verbose) {
    for (int i = 0; i <= NOPS; i++)
      printf("  %-20s %llu\n", i < NOPS ? g_ops[i].name : "(forced release)", (unsigned long long)atomic_load(&g_opcount[i]));
  }
  printf("fuzz: seed %" PRIu64 ", %d thread(s): OK — %llu ops, %llu calls in %.1f s (%.0f calls/s; ops phase %.1f s), "
         "%llu callbacks, %llu records, %llu races (%llu racing calls), value reads judged %llu (not judged %llu), "
         "hook calls %llu, forwarded values read after their owner died %llu; live objects back to %zu\n",
         g_seed, g_threads, ops, calls, secs, (double)calls / secs, t_ops / 1000.0, (unsigned long long)atomic_load(&g_cb_calls),
         g_rec_total, (unsigned long long)atomic_load(&g_races), (unsigned long long)atomic_load(&g_race_calls),
         (unsigned long long)atomic_load(&g_reads_checked), (unsigned long long)atomic_load(&g_reads_unchecked),
         (unsigned long long)atomic_load(&g_hook_calls), (unsigned long long)atomic_load(&g_dangling), g_base_live);
  return 0;
}
