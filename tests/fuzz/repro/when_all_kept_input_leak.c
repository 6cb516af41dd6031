/* when_all_kept_input_leak — tapir_when_all (and when_all_settled,
 * when_all_or_first_error) leaks the inputs it keeps when another input can never
 * complete.
 *
 * An input that succeeds with a value that has a destroy (or that faults or is
 * canceled, or any input of when_all_settled) is kept by the combinator's shared state
 * so its value stays valid until the result is built. If another input can never
 * complete (a tapir_delay(-1) with no token) and every handle is released, that input
 * dies with its last handle and drops its continuation, as documented; the shared
 * state goes with it, but the references it kept are raw bits with nothing releasing
 * them: the kept task stays live and its value's destroy never runs, also after
 * tapir_shutdown. (src/core/combinators/when_all.rs: AllState has no Drop for `kept`.)
 *
 * Found by tests/fuzz (seed 102, 1 thread; bisected to families delay+forever+comb,
 * op combinator with tapir_when_all).
 *
 *   cc -I include tests/fuzz/repro/when_all_kept_input_leak.c -L target/release -ltapir \
 *      -Wl,-rpath,target/release -o /tmp/repro && /tmp/repro
 * Prints "BUG" and exits 1 while the leak stands.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#include "tapir.h"

static int destroyed;
static void destroy(void *v) {
  (void)v;
  destroyed++;
}

static size_t settle(void) {
  for (int i = 0; i < 200 && tapir_debug_live_objects(0); i++) {
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  return tapir_debug_live_objects(0);
}

int main(void) {
  static const char *names[] = {"tapir_when_all", "tapir_when_all_settled", "tapir_when_all_or_first_error"};
  int bad = 0;
  for (int mode = 0; mode < 3; mode++) {
    const tapir_source *s = NULL;
    const tapir_task *done = NULL, *never = NULL, *all = NULL;
    int before = destroyed;
    if (tapir_source_new(0, NULL, &s) || tapir_source_task(s, &done)) return 2;
    if (tapir_source_set_result(s, (void *)0x1, destroy)) return 2; /* succeeded, value with a destroy */
    tapir_source_release(s);
    if (tapir_delay(-1, NULL, &never)) return 2; /* can never complete */
    const tapir_task *in[2] = {done, never};
    tapir_status st = mode == 0   ? tapir_when_all(in, 2, &all)
                      : mode == 1 ? tapir_when_all_settled(in, 2, &all)
                                  : tapir_when_all_or_first_error(in, 2, &all);
    if (st) return 2;
    tapir_task_release(all);
    tapir_task_release(never);
    tapir_task_release(done);
    size_t live = settle();
    printf("%s(succeeded input with a destroy, delay(-1)), every handle released: %zu live objects, value destroyed %d\n",
           names[mode], live, destroyed - before);
    if (live || destroyed == before) bad = 1;
  }
  tapir_shutdown();
  size_t live = settle();
  printf("after tapir_shutdown: %zu live objects, %d of 3 values destroyed\n", live, destroyed);
  if (bad || live) {
    printf("BUG: the kept inputs of a when_all whose other input can never complete are never released\n");
    return 1;
  }
  printf("OK\n");
  return 0;
}
