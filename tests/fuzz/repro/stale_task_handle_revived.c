/* stale_task_handle_revived — a task handle whose last reference the caller released
 * answers as valid again while tapir runs a deferred continuation of that task.
 *
 * The header: a stale handle (its last reference released) is an error to use
 * (TAPIR_STATUS_INVALID_HANDLE) "even after tapir reused the memory", every handle
 * carrying a generation checked on each call. Here a long forwarding chain
 * (tapir_source_set_from_task, 20,000 links, every user handle but the last released)
 * completes from its head. Past the trampoline's depth bound, each link's library
 * continuation is deferred as a job; the job runner mints a user handle of the
 * antecedent "for the callback" (src/core/task/work.rs, run_dispatched) although a
 * library continuation has no callback to lend it to. For that moment the stale
 * handle value is valid again: another thread's tapir_task_get_status on it returns a
 * status instead of TAPIR_TASK_STATUS_INVALID_HANDLE (and any other call on it would
 * succeed, e.g. a release would drop tapir's lent reference).
 *
 * Found by tests/fuzz (seed 101, 1 thread, 10 s: tapir_task_is_completed true for a
 * handle the fuzzer had released for good).
 *
 *   cc -I include tests/fuzz/repro/stale_task_handle_revived.c -L target/release -ltapir \
 *      -Wl,-rpath,target/release -lpthread -o /tmp/repro && /tmp/repro
 * Prints "BUG" and exits 1 while stale handles come back.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "tapir.h"

#define N 20000
static const tapir_task *stale[N];
static atomic_int go, stop, hits;

static int poll_once(void) {
  int n = 0;
  for (int i = 1; i < N - 1; i += 7)
    if (tapir_task_get_status(stale[i]) != TAPIR_TASK_STATUS_INVALID_HANDLE) n++;
  return n;
}

static void *poller(void *arg) {
  (void)arg;
  while (!atomic_load(&go)) {
  }
  while (!atomic_load(&stop)) atomic_fetch_add(&hits, poll_once());
  return NULL;
}

int main(void) {
  int total = 0, before = 0;
  for (int round = 0; round < 20; round++) {
    const tapir_source *s0 = NULL, *s = NULL;
    const tapir_task *t0 = NULL, *prev = NULL, *t = NULL;
    if (tapir_source_new(0, NULL, &s0) || tapir_source_task(s0, &t0)) return 2;
    prev = t0;
    for (int i = 1; i < N; i++) {
      if (tapir_source_new(0, NULL, &s) || tapir_source_task(s, &t) || tapir_source_set_from_task(s, prev)) return 2;
      tapir_source_release(s);
      stale[i] = t;
      prev = t;
    }
    for (int i = 1; i < N - 1; i++) tapir_task_release(stale[i]); /* stale from here on */
    before += poll_once();                                          /* 0: all invalid */
    pthread_t th;
    atomic_store(&go, 0);
    atomic_store(&stop, 0);
    atomic_store(&hits, 0);
    if (pthread_create(&th, NULL, poller, NULL)) return 2;
    atomic_store(&go, 1);
    tapir_source_set_result(s0, (void *)1, NULL);
    tapir_task_wait(prev, -1);
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    total += atomic_load(&hits);
    tapir_source_release(s0);
    tapir_task_release(t0);
    tapir_task_release(prev);
  }
  tapir_shutdown();
  printf("stale handles answering as valid: %d before the chain completed, %d while it completed\n", before, total);
  if (before || total) {
    printf("BUG: a released task handle is valid again while tapir runs a deferred continuation of it\n");
    return 1;
  }
  printf("OK\n");
  return 0;
}
