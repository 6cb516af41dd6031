/* Scaling and memory figures for tapir's combinators and timers.
 * Build: cc -O2 tapir_scaling.c -I include -L target/release -ltapir -lpthread
 * Prints one line per measurement. Memory is resident-set growth (from
 * /proc/self/statm, so it also sees memory returned to the allocator). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "tapir.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long rss_bytes(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

typedef struct { const tapir_source **s; const tapir_task **t; size_t n; } inputs;

static inputs make_inputs(size_t n) {
  inputs in = { malloc(n * sizeof *in.s), malloc(n * sizeof *in.t), n };
  for (size_t i = 0; i < n; i++) {
    tapir_source_new(0, NULL, &in.s[i]);
    tapir_source_task(in.s[i], &in.t[i]);
  }
  return in;
}

static void drop_inputs(inputs in) {
  for (size_t i = 0; i < in.n; i++) { tapir_task_release(in.t[i]); tapir_source_release(in.s[i]); }
  free(in.s); free(in.t);
}

static void when_all_case(size_t n) {
  inputs in = make_inputs(n);
  long before = rss_bytes();
  double t0 = now_ms();
  const tapir_task *all;
  tapir_when_all(in.t, n, &all);
  double t1 = now_ms();
  long after = rss_bytes();
  for (size_t i = 0; i < n; i++) tapir_source_set_result(in.s[i], (void *)(uintptr_t)i, NULL);
  tapir_task_wait(all, -1);
  double t2 = now_ms();
  printf("when_all n=%zu register_ms=%.1f complete_ms=%.1f total_ns_per_input=%.0f rss_over_inputs_bytes_per_input=%.1f\n",
         n, t1 - t0, t2 - t1, (t2 - t0) * 1e6 / n, (double)(after - before) / n);
  tapir_task_release(all);
  drop_inputs(in);
}

static void when_any_case(size_t n) {
  inputs in = make_inputs(n);
  size_t nodes0 = tapir_debug_live_objects(3);
  long before = rss_bytes();
  double t0 = now_ms();
  const tapir_task *any;
  tapir_when_any(in.t, n, NULL, &any);
  size_t nodes1 = tapir_debug_live_objects(3);
  tapir_source_set_result(in.s[n / 2], NULL, NULL);
  tapir_task_wait(any, -1);
  double t1 = now_ms();
  size_t nodes2 = tapir_debug_live_objects(3);
  printf("when_any n=%zu total_ms=%.1f ns_per_input=%.0f registrations_live: before=%zu pending=%zu after_complete=%zu rss_growth_bytes_per_input=%.1f\n",
         n, t1 - t0, (t1 - t0) * 1e6 / n, nodes0, nodes1, nodes2, (double)(rss_bytes() - before) / n);
  tapir_task_release(any);
  drop_inputs(in);
}

static void interleave_case(size_t n) {
  inputs in = make_inputs(n);
  const tapir_task **out = malloc(n * sizeof *out);
  double t0 = now_ms();
  tapir_interleaved(in.t, n, out);
  for (size_t i = n; i-- > 0;) tapir_source_set_result(in.s[i], (void *)(uintptr_t)i, NULL);
  for (size_t k = 0; k < n; k++) tapir_task_wait(out[k], -1);
  double t1 = now_ms();
  printf("interleave n=%zu total_ms=%.1f ns_per_input=%.0f\n", n, t1 - t0, (t1 - t0) * 1e6 / n);
  for (size_t k = 0; k < n; k++) tapir_task_release(out[k]);
  free(out);
  drop_inputs(in);
}

static void delays_case(size_t n) {
  const tapir_cancel_source *cs;
  const tapir_cancel_token *tok;
  tapir_cancel_source_new(&cs);
  tapir_cancel_source_token(cs, &tok);
  const tapir_task **d = malloc(n * sizeof *d);
  long before = rss_bytes();
  double t0 = now_ms();
  for (size_t i = 0; i < n; i++) tapir_delay(60000 + (int64_t)(i % 1000), tok, &d[i]);
  double t1 = now_ms();
  long after = rss_bytes();
  size_t timers = tapir_debug_pending_timers();
  tapir_cancel_source_cancel(cs, 0, NULL);
  double t2 = now_ms();
  size_t canceled = 0;
  for (size_t i = 0; i < n; i++) canceled += tapir_task_get_status(d[i]) == TAPIR_TASK_STATUS_CANCELED;
  printf("delays n=%zu create_ms=%.1f rss_bytes_per_delay=%.1f pending_timers=%zu cancel_all_ms=%.1f canceled=%zu timers_after_cancel=%zu\n",
         n, t1 - t0, (double)(after - before) / n, timers, t2 - t1, canceled, tapir_debug_pending_timers());
  for (size_t i = 0; i < n; i++) tapir_task_release(d[i]);
  free(d);
  tapir_cancel_token_release(tok);
  tapir_cancel_source_release(cs);
}

int main(void) {
  /* warm the pools so the figures show steady state, not first-touch growth */
  when_all_case(10000);
  for (size_t n = 10000; n <= 1000000; n *= 10) when_all_case(n);
  for (size_t n = 10000; n <= 100000; n *= 10) when_any_case(n);
  for (size_t n = 10000; n <= 100000; n *= 10) interleave_case(n);
  delays_case(1000000);
  printf("live_objects_at_end=%zu\n", tapir_debug_live_objects(0));
  tapir_shutdown();
  return 0;
}
