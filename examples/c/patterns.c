/* patterns.c — the Task-based Asynchronous Pattern's classic combinator scenarios, in C.
 *
 * 1. A download with a timeout: when_any([download, delay]) (early bailout).
 * 2. Redundant requests: ask three quote servers, keep the first answer, cancel
 *    the rest (NeedOnlyOne).
 * 3. Throttled downloads: eight files, never more than three at once.
 * 4. Retry on fault, waiting on a delay between attempts (RetryOnFault + gate).
 *
 * The "network" is simulated: each operation is a thread that sleeps, then
 * completes a tapir source (checking its cancellation token while it sleeps).
 *
 * Build and run: make -C examples/c run */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapir.h"

static double now_ms(void) {
  static struct timespec t0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (t0.tv_sec == 0 && t0.tv_nsec == 0) t0 = ts;
  return (double)(ts.tv_sec - t0.tv_sec) * 1e3 + (double)(ts.tv_nsec - t0.tv_nsec) / 1e6;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#define SAY(...) (printf("  [%4.0f ms] ", now_ms()), printf(__VA_ARGS__), printf("\n"), fflush(stdout))

/* ---- the simulated network ---- */

typedef struct {
  char name[32];
  long ms;                       /* how long the operation takes */
  int fail;                      /* 1: it fails instead of producing `value` */
  intptr_t value;
  const tapir_source *source;    /* the thread owns these references */
  const tapir_cancel_token *token;
  atomic_int *in_flight;         /* optional: decremented when the operation ends */
} sim;

static pthread_t threads[64];
static int nthreads;
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;

static void *sim_thread(void *p) {
  sim *s = p;
  for (long waited = 0; waited < s->ms; waited += 5) {
    if (s->token && tapir_cancel_token_is_canceled(s->token)) {
      SAY("%s: saw the cancellation, stopping early", s->name);
      if (s->in_flight) atomic_fetch_sub(s->in_flight, 1);
      tapir_source_set_canceled(s->source, s->token);
      goto done;
    }
    sleep_ms(5);
  }
  if (s->in_flight) SAY("%s done (in flight: %d)", s->name, atomic_fetch_sub(s->in_flight, 1) - 1);
  if (s->fail) {
    const char *msg = "connection reset";
    const tapir_error *e = NULL;
    tapir_error_new(104, (const uint8_t *)msg, strlen(msg), NULL, NULL, &e);
    tapir_source_set_error(s->source, e);
    tapir_error_release(e);
  } else {
    tapir_source_set_result(s->source, (void *)s->value, NULL);
  }
done:
  tapir_source_release(s->source);
  tapir_cancel_token_release(s->token); /* NULL is a no-op */
  free(s);
  return NULL;
}

/* Starts a simulated operation and returns its task (a new reference). */
static const tapir_task *simulate(const char *name, long ms, int fail, intptr_t value,
                                  const tapir_cancel_token *token, atomic_int *in_flight) {
  sim *s = calloc(1, sizeof *s);
  const tapir_task *task = NULL;
  snprintf(s->name, sizeof s->name, "%s", name);
  s->ms = ms;
  s->fail = fail;
  s->value = value;
  s->token = token ? tapir_cancel_token_retain(token) : NULL;
  s->in_flight = in_flight;
  tapir_source_new(0, NULL, &s->source);
  tapir_source_task(s->source, &task);
  pthread_mutex_lock(&threads_lock);
  pthread_create(&threads[nthreads++], NULL, sim_thread, s);
  pthread_mutex_unlock(&threads_lock);
  return task;
}

/* Waits for `t` and says how it ended (`has_value`: print its integer value). */
static void report(const char *what, const tapir_task *t, int has_value) {
  void *v = NULL;
  int32_t st = tapir_task_wait(t, TAPIR_INFINITE);
  if (st == TAPIR_STATUS_OK && tapir_task_result(t, &v) == TAPIR_STATUS_OK) {
    if (has_value)
      SAY("%s: succeeded with %ld", what, (long)(intptr_t)v);
    else
      SAY("%s: succeeded", what);
  } else if (st == TAPIR_STATUS_FAULTED) {
    const tapir_error *e = NULL;
    size_t len = 0;
    tapir_task_error(t, &e);
    const uint8_t *msg = tapir_error_message(e, &len);
    SAY("%s: failed (code %d: %.*s)", what, tapir_error_code(e), (int)len, (const char *)msg);
    tapir_error_release(e);
  } else {
    SAY("%s: %s", what, tapir_status_str(st));
  }
}

/* ---- 1. download with a timeout ---- */

static void download_with_timeout(const char *site, long takes_ms, long timeout_ms) {
  const tapir_task *download = simulate(site, takes_ms, 0, 200, NULL, NULL);
  const tapir_task *timeout = NULL, *first = NULL;
  tapir_delay(timeout_ms, NULL, &timeout);
  const tapir_task *both[2] = {download, timeout};
  tapir_when_any(both, 2, NULL, &first);
  void *index = NULL;
  tapir_task_wait(first, TAPIR_INFINITE);
  tapir_task_result(first, &index); /* when_any's value is the winner's index */
  if ((uintptr_t)index == 0)
    report(site, download, 1);
  else
    SAY("%s: gave up after %ld ms (the download itself is still running)", site, timeout_ms);
  tapir_task_release(first);
  tapir_task_release(timeout);
  tapir_task_release(download);
}

/* ---- 2. NeedOnlyOne: redundant quote requests ---- */

static const tapir_task *ask_server(void *user_data, uint32_t i, const tapir_cancel_token *token) {
  static const long latency[3] = {300, 80, 200};
  char name[32];
  (void)user_data;
  snprintf(name, sizeof name, "quote server %u", i);
  SAY("asking %s (answers in %ld ms)", name, latency[i]);
  return simulate(name, latency[i], 0, 4200 + (intptr_t)i, token, NULL);
}

/* ---- 3. throttled downloads ---- */

static atomic_int in_flight;

static const tapir_task *start_file(void *user_data, uint32_t i) {
  (void)user_data;
  char name[32];
  snprintf(name, sizeof name, "file %u", i);
  int n = atomic_fetch_add(&in_flight, 1) + 1;
  SAY("start %s (in flight: %d)", name, n);
  return simulate(name, 40 + 30 * (long)(i % 3), 0, (intptr_t)i, NULL, &in_flight);
}

/* ---- 4. retry with a delay between attempts ---- */

static const tapir_task *flaky_fetch(void *user_data, uint32_t attempt) {
  (void)user_data;
  SAY("attempt %u of the flaky fetch", attempt + 1);
  return simulate("flaky fetch", 30, attempt < 2, 777, NULL, NULL); /* fails twice */
}

static const tapir_task *wait_before_retry(void *user_data, uint32_t attempt) {
  const tapir_task *d = NULL;
  (void)user_data;
  SAY("attempt %u failed; waiting 100 ms before the next one", attempt + 1);
  tapir_delay(100, NULL, &d);
  return d;
}

int main(void) {
  const tapir_task *t = NULL;
  int32_t st;
  now_ms();

  printf("1. A download with a timeout: when_any([download, delay(150)])\n");
  download_with_timeout("fast.example", 50, 150);
  download_with_timeout("slow.example", 400, 150);

  printf("\n2. NeedOnlyOne: three redundant requests, the first answer wins\n");
  st = tapir_need_only_one(ask_server, NULL, NULL, 3, &t);
  if (st != TAPIR_STATUS_OK) {
    SAY("need_only_one refused: %s", tapir_status_str(st));
  } else {
    report("best quote", t, 1);
    tapir_task_release(t);
  }
  sleep_ms(50); /* let the losers notice the cancellation */

  printf("\n3. Eight downloads, at most three in flight\n");
  st = tapir_for_each_throttled(start_file, NULL, NULL, 8, 3, &t);
  if (st != TAPIR_STATUS_OK) {
    SAY("for_each_throttled refused: %s", tapir_status_str(st));
  } else {
    report("all downloads", t, 0);
    tapir_task_release(t);
  }

  printf("\n4. RetryOnFault: up to 3 attempts, 100 ms apart\n");
  st = tapir_retry_on_fault(flaky_fetch, wait_before_retry, NULL, NULL, 3, &t);
  if (st != TAPIR_STATUS_OK) {
    SAY("retry_on_fault refused: %s", tapir_status_str(st));
  } else {
    report("flaky fetch", t, 1);
    tapir_task_release(t);
  }

  for (int i = 0; i < nthreads; i++) pthread_join(threads[i], NULL); /* the slow downloads finish */
  tapir_shutdown();
  printf("\ndone.\n");
  return 0;
}
