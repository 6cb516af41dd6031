/* prim_bench — tapir's coordination primitives, the workloads the peers also run:
 *
 *   sem_uncontended   try_wait(1) + signal(1) on one thread            ns/op
 *   sem_async         wait_async(1) (available) + release task + signal ns/op
 *   chan_spsc         1 producer, 1 consumer, bounded channel (1024)    items/s
 *   chan_mpmc         4 producers x 4 consumers, bounded (1024)         items/s
 *   chan_spsc_async   the same with write_async / read_async per item   items/s
 *   chan_mpmc_async     (a task each, waited on), not try_* first
 *   cache_hit         get_async of a cached key + task release          ns/op
 *
 * chan_spsc and chan_mpmc use the form a program after throughput uses: try_write /
 * try_read, and the async call (waited on) only when that fails (full or empty).
 *
 * Prints "name value unit" lines; run.sh pairs them with the peers' lines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tapir.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double best_of(int runs, double (*fn)(void)) {
  double best = 1e30;
  for (int i = 0; i < runs; i++) {
    double v = fn();
    if (v < best) best = v;
  }
  return best;
}

#define OPS 5000000L

static double sem_uncontended(void) {
  const tapir_semaphore *s = NULL;
  tapir_semaphore_new(1, 1, &s);
  double t0 = now_s();
  for (long i = 0; i < OPS; i++) {
    if (!tapir_semaphore_try_wait(s, 1)) abort();
    tapir_semaphore_signal(s, 1, NULL);
  }
  double ns = (now_s() - t0) * 1e9 / OPS;
  tapir_semaphore_release(s);
  return ns;
}

static double sem_async(void) {
  const tapir_semaphore *s = NULL;
  tapir_semaphore_new(1, 1, &s);
  double t0 = now_s();
  for (long i = 0; i < OPS; i++) {
    const tapir_task *t = NULL;
    tapir_semaphore_wait_async(s, 1, -1, NULL, &t);
    tapir_task_release(t);
    tapir_semaphore_signal(s, 1, NULL);
  }
  double ns = (now_s() - t0) * 1e9 / OPS;
  tapir_semaphore_release(s);
  return ns;
}

typedef struct {
  const tapir_channel *c;
  long items;
  int async_only; /* write_async / read_async for every item */
} chan_arg;

static void *producer(void *arg) {
  chan_arg *a = (chan_arg *)arg;
  for (long i = 0; i < a->items; i++) {
    if (!a->async_only && tapir_channel_try_write(a->c, (void *)(uintptr_t)(i + 1), NULL)) continue;
    const tapir_task *t = NULL;
    tapir_channel_write_async(a->c, (void *)(uintptr_t)(i + 1), NULL, -1, NULL, &t);
    tapir_task_wait(t, -1);
    tapir_task_release(t);
  }
  return NULL;
}

static void *consumer(void *arg) {
  chan_arg *a = (chan_arg *)arg;
  long got = 0;
  while (got < a->items) {
    void *item;
    if (!a->async_only && tapir_channel_try_read(a->c, &item, NULL)) {
      got++;
      continue;
    }
    const tapir_task *t = NULL;
    tapir_channel_read_async(a->c, -1, NULL, &t);
    if (tapir_task_wait(t, -1) == TAPIR_STATUS_OK) got++;
    tapir_task_release(t);
  }
  return NULL;
}

static double chan_run(int producers, int consumers, long total, int async_only) {
  tapir_channel_options o = {sizeof o, TAPIR_CHANNEL_FULL_WAIT, 1024};
  const tapir_channel *c = NULL;
  tapir_channel_new(&o, &c);
  pthread_t p[8], q[8];
  chan_arg pa = {c, total / producers, async_only}, qa = {c, total / consumers, async_only};
  double t0 = now_s();
  for (int i = 0; i < consumers; i++) pthread_create(&q[i], NULL, consumer, &qa);
  for (int i = 0; i < producers; i++) pthread_create(&p[i], NULL, producer, &pa);
  for (int i = 0; i < producers; i++) pthread_join(p[i], NULL);
  for (int i = 0; i < consumers; i++) pthread_join(q[i], NULL);
  double rate = total / (now_s() - t0);
  tapir_channel_release(c);
  return rate;
}

static double chan_spsc(void) { return -chan_run(1, 1, 4000000, 0); }
static double chan_mpmc(void) { return -chan_run(4, 4, 4000000, 0); }
static double chan_spsc_async(void) { return -chan_run(1, 1, 2000000, 1); }
static double chan_mpmc_async(void) { return -chan_run(4, 4, 2000000, 1); }

static const tapir_task *factory(void *ud, const uint8_t *key, size_t len) {
  (void)ud;
  (void)key;
  const tapir_task *t = NULL;
  tapir_task_from_result((void *)(uintptr_t)len, NULL, &t);
  return t;
}

static double cache_hit(void) {
  const tapir_cache *c = NULL;
  tapir_cache_new(factory, NULL, NULL, NULL, &c);
  const uint8_t key[] = "user:42";
  const tapir_task *t = NULL;
  tapir_cache_get_async(c, key, sizeof key - 1, &t);
  tapir_task_release(t);
  double t0 = now_s();
  for (long i = 0; i < OPS; i++) {
    tapir_cache_get_async(c, key, sizeof key - 1, &t);
    tapir_task_release(t);
  }
  double ns = (now_s() - t0) * 1e9 / OPS;
  tapir_cache_release(c);
  return ns;
}

int main(void) {
  printf("sem_uncontended %.1f ns\n", best_of(5, sem_uncontended));
  printf("sem_async %.1f ns\n", best_of(5, sem_async));
  printf("chan_spsc %.2f Mitems/s\n", -best_of(3, chan_spsc) / 1e6);
  printf("chan_mpmc %.2f Mitems/s\n", -best_of(3, chan_mpmc) / 1e6);
  printf("chan_spsc_async %.2f Mitems/s\n", -best_of(3, chan_spsc_async) / 1e6);
  printf("chan_mpmc_async %.2f Mitems/s\n", -best_of(3, chan_mpmc_async) / 1e6);
  printf("cache_hit %.1f ns\n", best_of(5, cache_hit));
  tapir_shutdown();
  return 0;
}
