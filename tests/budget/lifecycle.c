/* The W1 and W2 lifecycles, for the instruction budget (tests/budget/check.sh runs this
 * under callgrind and divides the counts of each loop function by its iterations).
 *
 *   W1: new source, its task, one synchronous on_complete, set a result, release both.
 *   W1f: W1 through the fused calls: tapir_source_new_with_task and
 *        tapir_source_release_with_task.
 *   W2: an already completed task, one synchronous on_complete, release it.
 *
 * usage: lifecycle N   (runs N/10 warm-up iterations of each, then N of each) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapir.h"

static const tapir_continuation_options SYNC = {
    sizeof(tapir_continuation_options), TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};

static void increment(void *counter, const tapir_task *completed) {
  (void)completed;
  ++*(unsigned long *)counter;
}

static int failed;
#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != TAPIR_STATUS_OK) failed = 1;                                   \
  } while (0)

__attribute__((noinline)) void w1f_loop(long n, unsigned long *counter) {
  for (long i = 0; i < n; i++) {
    const tapir_source *s;
    const tapir_task *t;
    CHECK(tapir_source_new_with_task(0, NULL, &s, &t));
    CHECK(tapir_task_on_complete(t, increment, counter, NULL, &SYNC, NULL));
    CHECK(tapir_source_set_result(s, (void *)(uintptr_t)i, NULL));
    CHECK(tapir_source_release_with_task(s, t));
  }
}

__attribute__((noinline)) void w1_loop(long n, unsigned long *counter) {
  for (long i = 0; i < n; i++) {
    const tapir_source *s;
    const tapir_task *t;
    CHECK(tapir_source_new(0, NULL, &s));
    CHECK(tapir_source_task(s, &t));
    CHECK(tapir_task_on_complete(t, increment, counter, NULL, &SYNC, NULL));
    CHECK(tapir_source_set_result(s, (void *)(uintptr_t)i, NULL));
    CHECK(tapir_task_release(t));
    CHECK(tapir_source_release(s));
  }
}

__attribute__((noinline)) void w2_loop(long n, unsigned long *counter) {
  for (long i = 0; i < n; i++) {
    const tapir_task *t;
    CHECK(tapir_task_from_result((void *)(uintptr_t)i, NULL, &t));
    CHECK(tapir_task_on_complete(t, increment, counter, NULL, &SYNC, NULL));
    CHECK(tapir_task_release(t));
  }
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  unsigned long c1 = 0, c1f = 0, c2 = 0, warm = 0;
  w1_loop(n / 10 + 1, &warm);
  w1f_loop(n / 10 + 1, &warm);
  w2_loop(n / 10 + 1, &warm);
  w1_loop(n, &c1);
  w1f_loop(n, &c1f);
  w2_loop(n, &c2);
  if (failed || c1 != (unsigned long)n || c1f != (unsigned long)n || c2 != (unsigned long)n) {
    fprintf(stderr, "lifecycle: a call failed or a continuation did not run\n");
    return 1;
  }
  tapir_shutdown();
  return 0;
}
