/* need_only_one_token_cycle — tapir_need_only_one whose factories' tasks wait only on
 * the token it lends them is never freed.
 *
 * need_only_one owns the cancellation source behind the token it lends its factories,
 * and cancels it when the first factory task completes. If every factory task can
 * complete only through that token (a tapir_delay(-1, token), say), none ever does:
 * the token's registrations keep the factory tasks' producers, the factory tasks keep
 * the combinator's continuations, and the combinator keeps the cancellation source.
 * Once the caller releases the result, nobody can observe it any more, but nothing
 * breaks the cycle: the result, the factory tasks and the cancellation object stay
 * live for good (also after tapir_shutdown). What would break it: a signal from the
 * result task when its last observer (handle, continuation, internal reference) goes
 * while it is pending, on which the combinator cancels its token (every factory task
 * is a loser then).
 *
 * Found while triaging a leak tests/fuzz reported (seed 1721089069, 1 thread, 20 s: 7
 * pending tasks with one library producer each and one cancellation object left after
 * the teardown), by trying the shapes that could leave such objects. That leak had
 * another cause (timers stopped by a tapir_shutdown in the middle of the run, which the
 * fuzzer's final checks now start again); this one is tapir's.
 *
 *   cc -I include tests/fuzz/repro/need_only_one_token_cycle.c -L target/release -ltapir \
 *      -Wl,-rpath,target/release -o /tmp/repro && /tmp/repro
 * Prints "BUG" and exits 1 while the cycle stands.
 */
#include <stdio.h>
#include <unistd.h>

#include "tapir.h"

static const tapir_task *wait_for_token(void *ud, uint32_t index, const tapir_cancel_token *token) {
  (void)ud;
  (void)index;
  const tapir_task *t = NULL;
  if (tapir_delay(-1, token, &t) != TAPIR_STATUS_OK) return NULL;
  return t;
}

int main(void) {
  const tapir_task *t = NULL;
  if (tapir_need_only_one(wait_for_token, NULL, NULL, 3, &t) != TAPIR_STATUS_OK) return 2;
  tapir_task_release(t);
  for (int i = 0; i < 100 && tapir_debug_live_objects(0) != 0; i++) usleep(10000);
  size_t live = tapir_debug_live_objects(0);
  tapir_shutdown();
  if (live != 0) {
    printf("BUG: %zu objects live after the need_only_one result was released\n", live);
    return 1;
  }
  printf("ok\n");
  return 0;
}
