/* harness.h — the tiny test harness for tapir's C tests.
 *
 * What it gives a test file:
 *   CHECK(cond), CHECKF(cond, fmt, ...), CHECK_ST(expr, want_status), CHECK_OK(expr),
 *   CHECK_EQ(a, b) for integers, CHECK_PTR_EQ(a, b), and REQUIRE_OK(expr) which
 *   returns from the (void) test function when the call did not succeed;
 *   a registry (REG(fn) inside a register_* function) and a runner, h_main(), which
 *   prints one line per test and, as its last line, exactly "N passed, N failed";
 *   helpers for threads, gates, bounded polling and small-stack threads.
 *
 * Every test is followed by a leak check: tapir_debug_live_objects(all kinds)
 * must come back to the value it had before the test (polled for up to
 * TAPIR_TEST_SETTLE_MS, default 2000 ms, because pool threads may drop the last
 * reference a little after the test body returns).
 *
 * By default every test runs in its own process (the runner re-executes itself
 * with --only NAME), so a crash or a hang in one test — most likely a library bug
 * while the library is young — is reported as that test's failure and the rest
 * still run. --inproc (or TAPIR_TEST_INPROC=1) runs everything in one process;
 * the valgrind target uses it.
 *
 * Include this file first in every test source (it sets _GNU_SOURCE). Exactly one
 * source defines HARNESS_MAIN before including it; that one holds the definitions.
 */
#ifndef TAPIR_TEST_HARNESS_H
#define TAPIR_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tapir.h"

/* ------------------------------------------------------------------ checks */

#if defined(__GNUC__)
#define H_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define H_PRINTF(a, b)
#endif

void h_fail(const char *file, int line, const char *fmt, ...) H_PRINTF(3, 4);
const char *h_status_name(int32_t status);

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) h_fail(__FILE__, __LINE__, "%s", #cond);                    \
  } while (0)

/* CHECKF(cond, "format", args...) — the format is part of __VA_ARGS__ so a
 * message without arguments stays valid ISO C. */
#define CHECKF(cond, ...)                                                    \
  do {                                                                       \
    if (!(cond)) h_fail(__FILE__, __LINE__, __VA_ARGS__);                    \
  } while (0)

#define CHECK_ST(expr, want)                                                 \
  do {                                                                       \
    int32_t h_got_ = (int32_t)(expr);                                        \
    int32_t h_want_ = (int32_t)(want);                                       \
    if (h_got_ != h_want_)                                                   \
      h_fail(__FILE__, __LINE__, "%s: got %s (%d), want %s (%d)", #expr,     \
             h_status_name(h_got_), (int)h_got_, h_status_name(h_want_),     \
             (int)h_want_);                                                  \
  } while (0)

#define CHECK_OK(expr) CHECK_ST(expr, TAPIR_STATUS_OK)

#define CHECK_EQ(a, b)                                                       \
  do {                                                                       \
    long long h_a_ = (long long)(a), h_b_ = (long long)(b);                  \
    if (h_a_ != h_b_)                                                        \
      h_fail(__FILE__, __LINE__, "%s == %s: got %lld, want %lld", #a, #b,    \
             h_a_, h_b_);                                                    \
  } while (0)

#define CHECK_PTR_EQ(a, b)                                                   \
  do {                                                                       \
    const void *h_a_ = (const void *)(a), *h_b_ = (const void *)(b);         \
    if (h_a_ != h_b_)                                                        \
      h_fail(__FILE__, __LINE__, "%s == %s: got %p, want %p", #a, #b,        \
             h_a_, h_b_);                                                    \
  } while (0)

/* For set-up steps without which the rest of a test is meaningless. */
#define REQUIRE_OK(expr)                                                     \
  do {                                                                       \
    int32_t h_got_ = (int32_t)(expr);                                        \
    if (h_got_ != TAPIR_STATUS_OK) {                                         \
      h_fail(__FILE__, __LINE__, "%s: got %s (%d), want OK; test stopped",   \
             #expr, h_status_name(h_got_), (int)h_got_);                     \
      return;                                                                \
    }                                                                        \
  } while (0)

#define REQUIRE(cond)                                                        \
  do {                                                                       \
    if (!(cond)) {                                                           \
      h_fail(__FILE__, __LINE__, "%s; test stopped", #cond);                 \
      return;                                                                \
    }                                                                        \
  } while (0)

/* ---------------------------------------------------------------- registry */

typedef void (*h_test_fn)(void);
void h_register(const char *name, h_test_fn fn);
#define REG(fn) h_register(#fn, fn)
int h_main(int argc, char **argv);

/* ------------------------------------------------------------ environment */

long h_env_long(const char *name, long dflt);
/* Depth of the million-link chain tests (TAPIR_TEST_DEEP, default 1000000). */
long h_deep_n(void);
/* True when the runner was told it runs under valgrind (TAPIR_TEST_VALGRIND=1):
 * tests use it only to stretch their generous upper time bounds. */
bool h_slow(void);

/* ------------------------------------------------------------------- time */

static inline double h_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline void h_sleep_ms(double ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000.0);
  ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* The upper bound of every "this completes" wait: 10 s normally, 60 s under valgrind.
 * It is a hang guard only: waits return as soon as their condition holds, and no test
 * passes or fails on how long something took (a loaded machine may be slow). Where a
 * test reasons about time it uses lower bounds measured from before the call that
 * arms a timer ("never early"), or ordering and the library's own state. */
static inline int h_prompt_ms(void) { return h_slow() ? 60000 : 10000; }

/* Bounded polling: true as soon as *p == want, false after timeout_ms. Polling
 * is only ever used to wait for something that must happen; the check that
 * follows decides pass or fail. */
static inline bool h_wait_eq(atomic_int *p, int want, int timeout_ms) {
  double end = h_now_ms() + timeout_ms;
  while (atomic_load(p) != want) {
    if (h_now_ms() > end) return false;
    h_sleep_ms(0.5);
  }
  return true;
}

static inline bool h_wait_eq_long(atomic_long *p, long want, int timeout_ms) {
  double end = h_now_ms() + timeout_ms;
  while (atomic_load(p) != want) {
    if (h_now_ms() > end) return false;
    h_sleep_ms(0.5);
  }
  return true;
}

static inline bool h_wait_ge(atomic_int *p, int want, int timeout_ms) {
  double end = h_now_ms() + timeout_ms;
  while (atomic_load(p) < want) {
    if (h_now_ms() > end) return false;
    h_sleep_ms(0.5);
  }
  return true;
}

/* Live objects of every kind. */
static inline size_t h_live(void) { return tapir_debug_live_objects(TAPIR_OBJECT_KIND_ALL); }

/* Options for a continuation that runs inline on the completing thread. */
static inline const tapir_continuation_options *h_sync(void) {
  static const tapir_continuation_options sync = {sizeof(tapir_continuation_options),
                                                  TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};
  return &sync;
}

/* A cancellation source and its token; false (and a recorded failure) if either fails. */
static inline bool h_new_cts(const tapir_cancel_source **src, const tapir_cancel_token **tok) {
  *src = NULL;
  *tok = NULL;
  if (tapir_cancel_source_new(src) != TAPIR_STATUS_OK || *src == NULL ||
      tapir_cancel_source_token(*src, tok) != TAPIR_STATUS_OK || *tok == NULL) {
    h_fail(__FILE__, __LINE__, "could not create a cancellation source and its token");
    return false;
  }
  return true;
}

static inline void h_release_cts(const tapir_cancel_source *src, const tapir_cancel_token *tok) {
  CHECK_OK(tapir_cancel_token_release(tok));
  CHECK_OK(tapir_cancel_source_release(src));
}

/* Wait (bounded) until the live-object count is back at `want`. */
bool h_wait_live(size_t want, int timeout_ms);

/* ---------------------------------------------------------------- threads */

/* Runs fn(arg) on a new thread with the given stack size and joins it. */
void *h_run_on_stack(void *(*fn)(void *), void *arg, size_t stack_bytes);
pthread_t h_spawn(void *(*fn)(void *), void *arg);
void *h_join(pthread_t t);

/* A gate that parked threads spin on, so that racing calls start together. */
typedef struct {
  atomic_int open;
  atomic_int arrived;
} h_gate;

static inline void h_gate_wait(h_gate *g) {
  atomic_fetch_add(&g->arrived, 1);
  while (!atomic_load_explicit(&g->open, memory_order_acquire)) sched_yield();
}

static inline void h_gate_open_when(h_gate *g, int arrivals) {
  while (atomic_load(&g->arrived) < arrivals) sched_yield();
  atomic_store_explicit(&g->open, 1, memory_order_release);
}

/* Number of threads in this process (from /proc/self/task). */
int h_thread_count(void);
/* Waits (bounded) until the process has `want` threads: a joined thread can stay
 * listed in /proc for a moment after pthread_join returns. */
bool h_wait_thread_count(int want, int timeout_ms);
/* The names (comm) of this process's threads, comma-separated, into buf. */
const char *h_thread_names(char *buf, size_t len);

/* ------------------------------------------------- counting callbacks etc. */

/* A counter for callbacks and destroy functions: fn and destroy bump separate
 * fields, and the callback remembers the thread it ran on and whether the call
 * that triggered it ("the completer") had already returned. */
typedef struct {
  atomic_int calls;
  atomic_int destroys;
  atomic_int destroys_before_call; /* destroy ran while calls == 0 */
  atomic_int order;                /* value of *order_src when the callback ran */
  atomic_int *order_src;           /* optional shared sequence counter */
  atomic_int *completer_returned;  /* optional flag the completer sets on return */
  atomic_int saw_returned;         /* 1 when the flag was already set at entry */
  pthread_t thread;                /* where the callback ran (valid once calls > 0) */
  void *value;                     /* something the callback saw (result etc.) */
  int32_t status;                  /* something the callback saw (status etc.) */
} h_counter;

static inline void h_counter_init(h_counter *c) {
  memset(c, 0, sizeof *c);
  atomic_init(&c->calls, 0);
  atomic_init(&c->destroys, 0);
  atomic_init(&c->destroys_before_call, 0);
  atomic_init(&c->order, -1);
  atomic_init(&c->saw_returned, 0);
}

/* Records entry into a callback (thread, order, completer flag) and counts it. */
static inline void h_counter_hit(h_counter *c) {
  c->thread = pthread_self();
  if (c->completer_returned)
    atomic_store(&c->saw_returned, atomic_load(c->completer_returned));
  if (c->order_src) atomic_store(&c->order, atomic_fetch_add(c->order_src, 1));
  atomic_fetch_add(&c->calls, 1);
}

/* tapir_destroy_fn that counts into an h_counter. */
static inline void h_count_destroy(void *user_data) {
  h_counter *c = (h_counter *)user_data;
  if (atomic_load(&c->calls) == 0) atomic_fetch_add(&c->destroys_before_call, 1);
  atomic_fetch_add(&c->destroys, 1);
}

/* tapir_callback_fn that counts into an h_counter. */
static inline void h_count_cb(void *user_data, const tapir_task *completed) {
  h_counter *c = (h_counter *)user_data;
  c->status = (int32_t)tapir_task_get_status(completed);
  h_counter_hit(c);
}

/* tapir_continuation_fn that counts and completes `next` with the antecedent's
 * result pointer plus one (integers travel in the pointer bits). */
static inline void h_count_cont(void *user_data, const tapir_task *antecedent,
                                const tapir_source *next) {
  h_counter *c = (h_counter *)user_data;
  void *v = NULL;
  c->status = (int32_t)tapir_task_get_status(antecedent);
  (void)tapir_task_result(antecedent, &v);
  c->value = v;
  h_counter_hit(c);
  (void)tapir_source_set_result(next, (void *)((uintptr_t)v + 1), NULL);
}

/* A plain destroy function that counts into an atomic_int. */
static inline void h_bump_destroy(void *user_data) { atomic_fetch_add((atomic_int *)user_data, 1); }

/* Destroy function for task-valued results (an outer task holding an inner one). */
static inline void h_release_task_value(void *value) {
  (void)tapir_task_release((const tapir_task *)value);
}

/* ----------------------------------------------------- library shorthands */

static inline void *h_int(uintptr_t v) { return (void *)v; }

/* A fresh pending source (flags 0, no state); NULL (and a failure) if that fails. */
const tapir_source *h_source(void);
/* The task of `source` (+1). */
const tapir_task *h_task_of(const tapir_source *source);
/* A new error with the given code and message (+1). */
const tapir_error *h_error(int32_t code, const char *message);
/* Wait (bounded by h_prompt_ms) and return the task's status. */
int32_t h_settle(const tapir_task *task);

/* Completes a source from another thread after a delay (the thread holds its own
 * reference). kind: H_RESULT (value), H_ERROR (an error with code 1), H_CANCEL. */
enum { H_RESULT = 0, H_ERROR = 1, H_CANCEL = 2 };
typedef struct {
  const tapir_source *source;
  double delay_ms;
  int kind;
  void *value;
  pthread_t thread;
} h_later;
void h_complete_later(h_later *l, const tapir_source *source, double delay_ms, int kind, void *value);
void h_later_join(h_later *l);

/* A handle that was valid and has been released (its memory may be reused). */
const tapir_task *h_stale_task(void);

/* A recording foreign scheduler: post() queues the work item; the test decides
 * when (and on which thread) queued items run, or discards them. */
typedef struct {
  pthread_mutex_t lock;
  tapir_work **items;
  size_t n, cap;
  atomic_int posted;
  atomic_int ctx_destroyed;
  const tapir_scheduler *sched;
} h_recsched;
/* Creates the scheduler; false (and a failure) if tapir_scheduler_new_foreign fails. */
bool h_recsched_init(h_recsched *r);
/* Runs every queued item (FIFO) on the calling thread, including items posted
 * meanwhile; returns how many ran. */
size_t h_recsched_run_all(h_recsched *r);
/* Discards every queued item; returns how many. */
size_t h_recsched_discard_all(h_recsched *r);
/* Releases the scheduler handle; the ctx destroy runs when the library drops it. */
void h_recsched_fini(h_recsched *r);

/* ============================================================ definitions */
#ifdef HARNESS_MAIN

#include <dirent.h>

typedef struct {
  const char *name;
  h_test_fn fn;
} h_test;

static h_test h_tests_[512];
static size_t h_ntests_;
static atomic_int h_failures_;       /* failures in the current test */
static pthread_mutex_t h_print_lock_ = PTHREAD_MUTEX_INITIALIZER;
static const char *h_current_ = "";

void h_register(const char *name, h_test_fn fn) {
  if (h_ntests_ == sizeof h_tests_ / sizeof h_tests_[0]) {
    fprintf(stderr, "harness: too many tests\n");
    exit(2);
  }
  h_tests_[h_ntests_].name = name;
  h_tests_[h_ntests_].fn = fn;
  h_ntests_++;
}

const char *h_status_name(int32_t s) {
  /* Our own table, so a broken tapir_status_str cannot garble failure messages. */
  static const char *const names[] = {
      "OK",        "NULL_ARGUMENT",  "INVALID_ARGUMENT", "INVALID_STATE",
      "ALREADY_COMPLETED", "CANCELED", "FAULTED",        "TIMEOUT",
      "PANIC",     "INVALID_HANDLE", "NOT_COMPLETED",    "BROKEN_PROMISE",
      "FULL",      "DISPOSED",       "QUEUE_COMPLETED",  "SCHEDULER_ERROR"};
  if (s >= 0 && (size_t)s < sizeof names / sizeof names[0]) return names[s];
  return "?";
}

void h_fail(const char *file, int line, const char *fmt, ...) {
  int n = atomic_fetch_add(&h_failures_, 1);
  if (n >= 25) {
    if (n == 25) fprintf(stdout, "    (further failures of %s not shown)\n", h_current_);
    return;
  }
  pthread_mutex_lock(&h_print_lock_);
  fprintf(stdout, "    FAIL %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&h_print_lock_);
}

long h_env_long(const char *name, long dflt) {
  const char *s = getenv(name);
  if (!s || !*s) return dflt;
  char *end = NULL;
  long v = strtol(s, &end, 10);
  return (end && *end == '\0') ? v : dflt;
}

long h_deep_n(void) { return h_env_long("TAPIR_TEST_DEEP", 1000000); }
bool h_slow(void) { return h_env_long("TAPIR_TEST_VALGRIND", 0) != 0; }

bool h_wait_live(size_t want, int timeout_ms) {
  double end = h_now_ms() + timeout_ms;
  while (h_live() != want) {
    if (h_now_ms() > end) return false;
    h_sleep_ms(1);
  }
  return true;
}

void *h_run_on_stack(void *(*fn)(void *), void *arg, size_t stack_bytes) {
  pthread_attr_t attr;
  pthread_t t;
  void *ret = NULL;
  pthread_attr_init(&attr);
  if (pthread_attr_setstacksize(&attr, stack_bytes) != 0) {
    h_fail(__FILE__, __LINE__, "pthread_attr_setstacksize(%zu) failed", stack_bytes);
  }
  if (pthread_create(&t, &attr, fn, arg) != 0) {
    h_fail(__FILE__, __LINE__, "pthread_create failed");
    pthread_attr_destroy(&attr);
    return NULL;
  }
  pthread_attr_destroy(&attr);
  pthread_join(t, &ret);
  return ret;
}

pthread_t h_spawn(void *(*fn)(void *), void *arg) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, arg) != 0) {
    fprintf(stderr, "harness: pthread_create failed\n");
    abort();
  }
  return t;
}

void *h_join(pthread_t t) {
  void *ret = NULL;
  pthread_join(t, &ret);
  return ret;
}

int h_thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

bool h_wait_thread_count(int want, int timeout_ms) {
  double end = h_now_ms() + timeout_ms;
  while (h_thread_count() != want) {
    if (h_now_ms() > end) return false;
    h_sleep_ms(1);
  }
  return true;
}

const char *h_thread_names(char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  DIR *d = opendir("/proc/self/task");
  if (!d) return buf;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], name[64] = "?";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f) {
      if (fgets(name, sizeof name, f)) name[strcspn(name, "\n")] = '\0';
      fclose(f);
    }
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
    if (n < 0 || (size_t)n >= len - used) break;
    used += (size_t)n;
  }
  closedir(d);
  return buf;
}

const tapir_source *h_source(void) {
  const tapir_source *s = NULL;
  CHECK_OK(tapir_source_new(0, NULL, &s));
  return s;
}

const tapir_task *h_task_of(const tapir_source *source) {
  const tapir_task *t = NULL;
  CHECK_OK(tapir_source_task(source, &t));
  return t;
}

const tapir_error *h_error(int32_t code, const char *message) {
  const tapir_error *e = NULL;
  CHECK_OK(tapir_error_new(code, (const uint8_t *)message, strlen(message), NULL, NULL, &e));
  return e;
}

static void *h_later_body(void *arg) {
  h_later *l = (h_later *)arg;
  h_sleep_ms(l->delay_ms);
  if (l->kind == H_RESULT) {
    CHECK_OK(tapir_source_set_result(l->source, l->value, NULL));
  } else if (l->kind == H_ERROR) {
    const tapir_error *e = h_error(1, "later");
    CHECK_OK(tapir_source_set_error(l->source, e));
    tapir_error_release(e);
  } else {
    CHECK_OK(tapir_source_set_canceled(l->source, NULL));
  }
  CHECK_OK(tapir_source_release(l->source));
  return NULL;
}

void h_complete_later(h_later *l, const tapir_source *source, double delay_ms, int kind, void *value) {
  l->source = tapir_source_retain(source);
  l->delay_ms = delay_ms;
  l->kind = kind;
  l->value = value;
  l->thread = h_spawn(h_later_body, l);
}

void h_later_join(h_later *l) { h_join(l->thread); }

const tapir_task *h_stale_task(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));
  return t;
}

static void h_recsched_post(void *ctx, tapir_work *work) {
  h_recsched *r = (h_recsched *)ctx;
  pthread_mutex_lock(&r->lock);
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 64;
    r->items = realloc(r->items, r->cap * sizeof *r->items);
  }
  r->items[r->n++] = work;
  pthread_mutex_unlock(&r->lock);
  atomic_fetch_add(&r->posted, 1);
}

static void h_recsched_ctx_destroy(void *ctx) {
  h_recsched *r = (h_recsched *)ctx;
  atomic_fetch_add(&r->ctx_destroyed, 1);
}

bool h_recsched_init(h_recsched *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  atomic_init(&r->posted, 0);
  atomic_init(&r->ctx_destroyed, 0);
  static const tapir_scheduler_vtable vt = {sizeof(tapir_scheduler_vtable), h_recsched_post,
                                            h_recsched_ctx_destroy};
  int32_t st = tapir_scheduler_new_foreign(&vt, r, &r->sched);
  CHECK_OK(st);
  return st == TAPIR_STATUS_OK;
}

/* Pops the oldest queued item, or NULL. */
static tapir_work *h_recsched_pop(h_recsched *r) {
  tapir_work *w = NULL;
  pthread_mutex_lock(&r->lock);
  if (r->n > 0) {
    w = r->items[0];
    memmove(r->items, r->items + 1, (r->n - 1) * sizeof *r->items);
    r->n--;
  }
  pthread_mutex_unlock(&r->lock);
  return w;
}

size_t h_recsched_run_all(h_recsched *r) {
  size_t ran = 0;
  tapir_work *w;
  while ((w = h_recsched_pop(r)) != NULL) {
    CHECK_OK(tapir_work_run(w));
    ran++;
  }
  return ran;
}

size_t h_recsched_discard_all(h_recsched *r) {
  size_t n = 0;
  tapir_work *w;
  while ((w = h_recsched_pop(r)) != NULL) {
    CHECK_OK(tapir_work_discard(w));
    n++;
  }
  return n;
}

void h_recsched_fini(h_recsched *r) {
  if (r->sched) CHECK_OK(tapir_scheduler_release(r->sched));
  r->sched = NULL;
  pthread_mutex_lock(&r->lock);
  if (r->n == 0) {
    free(r->items);
    r->items = NULL;
    r->cap = 0;
  }
  pthread_mutex_unlock(&r->lock);
  /* the library may still post (e.g. a continuation released late); items
   * queued after this point are the test's to run or discard */
}

int32_t h_settle(const tapir_task *task) {
  int32_t st = tapir_task_wait(task, h_prompt_ms());
  if (st == TAPIR_STATUS_TIMEOUT) h_fail(__FILE__, __LINE__, "task did not complete promptly");
  return tapir_task_get_status(task);
}

/* Objects that exist once per process (the shared completed task, the default
 * and inline schedulers) are created here, before any baseline is taken, so the
 * first test that touches them is not blamed for a "leak". */
static void h_warm_up(void) {
  const tapir_task *t = NULL;
  const tapir_scheduler *s = NULL;
  if (tapir_task_completed(&t) == TAPIR_STATUS_OK) tapir_task_release(t);
  if (tapir_scheduler_default(&s) == TAPIR_STATUS_OK) tapir_scheduler_release(s);
  if (tapir_scheduler_inline(&s) == TAPIR_STATUS_OK) tapir_scheduler_release(s);
}

/* Runs one test in this process: body, then the live-object check. Returns the
 * number of failures. */
static int h_run_here(const h_test *t) {
  h_current_ = t->name;
  atomic_store(&h_failures_, 0);
  long timeout_s = h_env_long("TAPIR_TEST_TIMEOUT", 120);
  alarm((unsigned)timeout_s); /* a hang ends the process with SIGALRM */
  size_t before = h_live();
  t->fn();
  int settle = (int)h_env_long("TAPIR_TEST_SETTLE_MS", h_slow() ? 20000 : 2000);
  if (!h_wait_live(before, settle)) {
    h_fail(__FILE__, __LINE__,
           "live objects not back to start: %zu before, %zu after "
           "(task %zu, error %zu, registration %zu, scheduler %zu, cancel %zu)",
           before, h_live(), tapir_debug_live_objects(TAPIR_OBJECT_KIND_TASK),
           tapir_debug_live_objects(TAPIR_OBJECT_KIND_ERROR),
           tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION),
           tapir_debug_live_objects(TAPIR_OBJECT_KIND_SCHEDULER),
           tapir_debug_live_objects(TAPIR_OBJECT_KIND_CANCEL));
  }
  alarm(0);
  return atomic_load(&h_failures_);
}

static bool h_selected(const char *name, int nfilters, char **filters) {
  if (nfilters == 0) return true;
  for (int i = 0; i < nfilters; i++)
    if (strstr(name, filters[i])) return true;
  return false;
}

/* Runs one test in a child process (this program again, with --only NAME). */
static int h_run_isolated(const h_test *t, const char *self) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    char *args[] = {(char *)self, (char *)"--only", (char *)t->name, NULL};
    execv("/proc/self/exe", args);
    perror("execv");
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 0 ? 0 : 1;
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    printf("    FAIL %s: killed by signal %d (%s)%s\n", t->name, sig, strsignal(sig),
           sig == SIGALRM ? " — timed out (TAPIR_TEST_TIMEOUT)" : "");
  }
  return 1;
}

int h_main(int argc, char **argv) {
  bool inproc = h_env_long("TAPIR_TEST_INPROC", 0) != 0;
  const char *only = NULL;
  int nfilters = 0;
  char **filters = calloc((size_t)argc + 1, sizeof *filters);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--inproc") == 0) {
      inproc = true;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--list") == 0) {
      for (size_t k = 0; k < h_ntests_; k++) printf("%s\n", h_tests_[k].name);
      free(filters);
      return 0;
    } else {
      filters[nfilters++] = argv[i]; /* substring filters */
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (only) { /* child of an isolated run */
    for (size_t k = 0; k < h_ntests_; k++) {
      if (strcmp(h_tests_[k].name, only) == 0) {
        h_warm_up();
        int f = h_run_here(&h_tests_[k]);
        tapir_shutdown(); /* join the library's threads before exit() runs */
        free(filters);
        return f == 0 ? 0 : 1;
      }
    }
    fprintf(stderr, "no test named %s\n", only);
    free(filters);
    return 2;
  }

  int passed = 0, failed = 0;
  if (inproc) h_warm_up();
  for (size_t k = 0; k < h_ntests_; k++) {
    const h_test *t = &h_tests_[k];
    if (!h_selected(t->name, nfilters, filters)) continue;
    double t0 = h_now_ms();
    printf("  ... %s\n", t->name);
    int bad = inproc ? h_run_here(t) : h_run_isolated(t, argv[0]);
    printf("%s %s (%.0f ms)\n", bad ? "FAIL" : "ok  ", t->name, h_now_ms() - t0);
    if (bad) failed++;
    else passed++;
  }
  if (inproc) tapir_shutdown();
  free(filters);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

#endif /* HARNESS_MAIN */
#endif /* TAPIR_TEST_HARNESS_H */
