/* game_loop — tapir inside a game's frame loop, in single-threaded mode.
 *
 *   ./game_loop
 *
 * tapir is configured with no thread pool (threads 0), a manual "main thread"
 * scheduler that receives both the default pool's work and every timer expiry, and
 * the host timer driver: tapir never starts a thread, and time is what the loop says.
 * The loop simulates 60 frames of 16.667 ms (no sleeping: the frame time is made up,
 * so the run is instant and always gives the same result). Each frame:
 *
 *   tapir_time_advance(now_ms)          host time (plain tapir_delay and friends)
 *   tapir_timers_run_due(...)           expire what is due at that time
 *   tapir_clock_advance(frames, 1)      the frame counter
 *   tapir_clock_advance(game, dt_ms)    scaled game time (paused for a pause menu)
 *   tapir_scheduler_run_pending(main, 0, 1 ms)   run the frame's work
 *
 * (then it finishes whatever the budget left, so the checks hold on a slow machine)
 *
 * Every event below is checked against the frame it must complete on; every callback
 * checks that it runs on the main thread, inside the main scheduler's pump; the thread
 * count (entries of /proc/self/task) must never change. Any failure exits non-zero. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapir.h"

#define FRAMES 60
#define FRAME_MS (1000.0 / 60.0)

static int failures;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      failures++;                                          \
      fprintf(stderr, "game_loop: FAILED %s: ", #cond);    \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
    }                                                      \
  } while (0)
#define OK(call) CHECK((call) == TAPIR_STATUS_OK, "%s", #call)

static int frame;                 /* the frame being run; 0 before the loop */
static pthread_t main_thread;     /* the only thread that may run our callbacks */
static const tapir_scheduler *main_sched;
static const tapir_clock *frames; /* counts frames */
static const tapir_clock *game;   /* game milliseconds: scale 1, paused, then 0.5 */
static int callbacks_run;
static int late_frames; /* frames whose work outlasted the 1 ms budget */

static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* Every callback starts here: the main thread, inside the main scheduler's pump. */
static void on_main(const char *who) {
  callbacks_run++;
  CHECK(pthread_equal(pthread_self(), main_thread), "%s ran off the main thread", who);
  const tapir_scheduler *cur = tapir_scheduler_current();
  CHECK(cur == main_sched, "%s ran outside the main scheduler's pump", who);
  tapir_scheduler_release(cur);
}

/* ---- the events: what must complete, on which frame, how ---- */

typedef struct {
  const char *what;
  int expected_frame;
  tapir_task_status expected_status;
  int32_t expected_error; /* error code when FAULTED */
  int done_frame;         /* 0 until it completed */
  tapir_task_status status;
  int32_t error;
} event;

enum { RUN, THEN, CHAINED, FRAME_DELAY, HOST_DELAY, SCALED_DELAY, TIMEOUT, NO_TIMEOUT, CANCEL_AFTER, EVENTS };

static event events[EVENTS] = {
    [RUN] = {"tapir_run work on the default pool (main scheduler)", 1, TAPIR_TASK_STATUS_SUCCEEDED, 0, 0, 0, 0},
    [THEN] = {"continue_with on that work", 1, TAPIR_TASK_STATUS_SUCCEEDED, 0, 0, 0, 0},
    [CHAINED] = {"5-frame delay made by the continuation", 6, TAPIR_TASK_STATUS_SUCCEEDED, 0, 0, 0, 0},
    [FRAME_DELAY] = {"delay_on(frames, 10)", 10, TAPIR_TASK_STATUS_SUCCEEDED, 0, 0, 0, 0},
    [HOST_DELAY] = {"tapir_delay(120 ms) on host time", 8, TAPIR_TASK_STATUS_SUCCEEDED, 0, 0, 0, 0},
    /* game time: frames 1-19 at scale 1 (316.7 ms), 20-24 paused, then scale 0.5
     * (8.33 ms a frame): 475.0 after frame 43, 483.3 after frame 44 */
    [SCALED_DELAY] = {"delay_on(game, 480 game ms)", 44, TAPIR_TASK_STATUS_SUCCEEDED, 0, 0, 0, 0},
    [TIMEOUT] = {"wait_async_on(never-done task, frames, 30)", 30, TAPIR_TASK_STATUS_FAULTED,
                 TAPIR_STATUS_TIMEOUT, 0, 0, 0},
    [NO_TIMEOUT] = {"wait_async_on(task done on frame 10, game, 300 ms)", 10, TAPIR_TASK_STATUS_SUCCEEDED, 0,
                    0, 0, 0},
    /* 83.3 game ms after frame 5, 100.0 after frame 6 */
    [CANCEL_AFTER] = {"cancel_after_on(game, 90 ms) on a never-ending frame delay", 6,
                      TAPIR_TASK_STATUS_CANCELED, 0, 0, 0, 0},
};

static const tapir_task *event_task[EVENTS];
static const tapir_source *pending_source; /* never completes before the timeout */
static const tapir_source *signal_source;  /* completed by the frame delay's callback */

static void on_event(void *user_data, const tapir_task *completed) {
  event *e = user_data;
  on_main(e->what);
  e->done_frame = frame;
  e->status = tapir_task_get_status(completed);
  if (e->status == TAPIR_TASK_STATUS_FAULTED) {
    const tapir_error *err = NULL;
    if (tapir_task_error(completed, &err) == TAPIR_STATUS_OK) e->error = tapir_error_code(err);
    tapir_error_release(err);
  }
  static const char *const names[] = {"succeeded", "faulted", "canceled"};
  const char *how = e->status >= 1 && e->status <= 3 ? names[e->status - 1] : "?";
  printf("frame %2d: %-58s %s\n", frame, e->what, how);
  if (e == &events[FRAME_DELAY]) {
    OK(tapir_source_set_result(signal_source, NULL, NULL)); /* ends NO_TIMEOUT's wait */
  }
}

static void watch(int which, const tapir_task *task) {
  event_task[which] = task;
  OK(tapir_task_on_complete(task, on_event, &events[which], NULL, NULL, NULL));
}

/* tapir_run's work: a little computation, on the main thread, during frame 1's pump */
static void run_work(void *user_data, const tapir_source *source) {
  (void)user_data;
  on_main("run_work");
  uintptr_t sum = 0;
  for (uintptr_t i = 1; i <= 100; i++) sum += i;
  OK(tapir_source_set_result(source, (void *)sum, NULL));
}

/* its continuation: reads the result, starts a 5-frame delay, completes `next` */
static void then_work(void *user_data, const tapir_task *antecedent, const tapir_source *next) {
  (void)user_data;
  on_main("then_work");
  void *value = NULL;
  OK(tapir_task_result(antecedent, &value));
  CHECK((uintptr_t)value == 5050, "the work's result is %zu", (size_t)(uintptr_t)value);
  const tapir_task *chained = NULL;
  OK(tapir_delay_on(frames, 5, NULL, &chained));
  watch(CHAINED, chained);
  OK(tapir_source_set_result(next, value, NULL));
}

int main(void) {
  main_thread = pthread_self();
  const int threads_before = count_threads();
  CHECK(threads_before > 0, "cannot read /proc/self/task");

  /* single-threaded mode: no pool, the main scheduler for the pool's work and for timer
   * expiries, time from the host */
  OK(tapir_scheduler_new_manual(&main_sched));
  tapir_config config;
  OK(tapir_config_init(&config));
  config.threads = 0;
  config.pool_scheduler = main_sched;
  config.timer_scheduler = main_sched;
  config.timer_driver = TAPIR_TIMER_DRIVER_HOST;
  OK(tapir_configure(&config));

  OK(tapir_clock_new_frames(&frames));
  OK(tapir_clock_new_scaled(1.0, &game));

  /* work and a continuation on the default pool, which is the main scheduler here */
  const tapir_task *run = NULL, *then = NULL;
  OK(tapir_run(NULL, run_work, NULL, NULL, NULL, &run));
  watch(RUN, run);
  OK(tapir_task_continue_with(run, then_work, NULL, NULL, NULL, &then));
  watch(THEN, then);

  const tapir_task *t = NULL;
  OK(tapir_delay_on(frames, 10, NULL, &t));
  watch(FRAME_DELAY, t);
  OK(tapir_delay(120, NULL, &t));
  watch(HOST_DELAY, t);
  uint64_t due = 0;
  CHECK(tapir_timers_next_due(&due) && due == 120, "next host timer due at %llu", (unsigned long long)due);
  OK(tapir_delay_on(game, 480, NULL, &t));
  watch(SCALED_DELAY, t);

  const tapir_task *never = NULL, *signal = NULL;
  OK(tapir_source_new(0, NULL, &pending_source));
  OK(tapir_source_task(pending_source, &never));
  OK(tapir_task_wait_async_on(never, frames, 30, NULL, &t));
  watch(TIMEOUT, t);
  OK(tapir_source_new(0, NULL, &signal_source));
  OK(tapir_source_task(signal_source, &signal));
  OK(tapir_task_wait_async_on(signal, game, 300, NULL, &t));
  watch(NO_TIMEOUT, t);

  const tapir_cancel_source *cts = NULL;
  const tapir_cancel_token *token = NULL;
  OK(tapir_cancel_source_new(&cts));
  OK(tapir_cancel_source_token(cts, &token));
  OK(tapir_delay_on(frames, -1, token, &t));
  watch(CANCEL_AFTER, t);
  OK(tapir_cancel_source_cancel_after_on(cts, game, 90));

  printf("frame  0: %d events armed; tapir threads so far: %d\n", (int)EVENTS, count_threads() - threads_before);

  int max_threads = threads_before;
  uint64_t now_ms = 0;
  for (frame = 1; frame <= FRAMES; frame++) {
    if (frame == 20) {
      OK(tapir_clock_set_paused(game, 1));
      printf("frame %2d: pause menu opens: game clock paused\n", frame);
    }
    if (frame == 25) {
      OK(tapir_clock_set_paused(game, 0));
      OK(tapir_clock_set_scale(game, 0.5));
      printf("frame %2d: pause menu closes: game clock resumes at scale 0.5\n", frame);
    }
    now_ms = (uint64_t)llround(frame * FRAME_MS);
    OK(tapir_time_advance(now_ms));
    OK(tapir_timers_run_due(NULL));
    OK(tapir_clock_advance(frames, 1, NULL));
    OK(tapir_clock_advance(game, FRAME_MS, NULL));
    size_t ran = 0, late = 0;
    OK(tapir_scheduler_run_pending(main_sched, 0, 1 /* ms */, &ran));
    /* A game leaves what the budget did not reach for the next frame. This example
     * finishes it now, and says so, so that its frame checks do not depend on the
     * machine's speed (under valgrind 1 ms is not enough). */
    OK(tapir_scheduler_run_pending(main_sched, 0, -1, &late));
    if (late) {
      late_frames++;
      printf("frame %2d: budget spent; %zu item(s) finished after it\n", frame, late);
    }
    int n = count_threads();
    if (n > max_threads) max_threads = n;
  }
  frame = 0;

  /* every event on its frame, with its outcome */
  for (int i = 0; i < EVENTS; i++) {
    event *e = &events[i];
    CHECK(e->done_frame == e->expected_frame, "\"%s\" completed on frame %d, expected %d", e->what,
          e->done_frame, e->expected_frame);
    CHECK(e->status == e->expected_status, "\"%s\" ended with status %d, expected %d", e->what, (int)e->status,
          (int)e->expected_status);
    CHECK(e->error == e->expected_error, "\"%s\" error code %d, expected %d", e->what, (int)e->error,
          (int)e->expected_error);
  }
  double f = 0, g = 0;
  OK(tapir_clock_now(frames, &f));
  OK(tapir_clock_now(game, &g));
  /* 19 frames at 1x, 5 paused, 36 at 0.5x */
  CHECK(f == FRAMES && fabs(g - (19 + 36 * 0.5) * FRAME_MS) < 1e-6, "clocks at %g frames, %g game ms", f, g);
  CHECK(!tapir_timers_next_due(&due), "a host timer is still pending");
  CHECK(max_threads == threads_before, "threads went from %d to %d", threads_before, max_threads);

  /* release everything, then shut down: nothing may be left */
  OK(tapir_source_set_result(pending_source, NULL, NULL));
  OK(tapir_source_release(pending_source));
  OK(tapir_source_release(signal_source));
  OK(tapir_task_release(never));
  OK(tapir_task_release(signal));
  for (int i = 0; i < EVENTS; i++) OK(tapir_task_release(event_task[i]));
  OK(tapir_cancel_token_release(token));
  OK(tapir_cancel_source_release(cts));
  OK(tapir_clock_release(frames));
  OK(tapir_clock_release(game));
  size_t ran = 0; /* anything the releases queued (nothing expected) */
  OK(tapir_scheduler_run_pending(main_sched, 0, -1, &ran));
  OK(tapir_scheduler_release(main_sched));
  OK(tapir_shutdown());
  size_t live = tapir_debug_live_objects(TAPIR_OBJECT_KIND_ALL);
  CHECK(live == 0, "%zu live objects after shutdown", live);
  int threads_after = count_threads();
  CHECK(threads_after == threads_before, "threads: %d before, %d after", threads_before, threads_after);

  printf("%d frames (%d over budget), %d callbacks, all on the main thread; %d host ms\n", FRAMES,
         late_frames, callbacks_run, (int)now_ms);
  printf("threads: %d before, %d at most during the loop, %d after; live objects: %zu\n", threads_before,
         max_threads, threads_after, live);
  if (failures) {
    fprintf(stderr, "game_loop: %d check(s) failed\n", failures);
    return 1;
  }
  printf("game_loop: ok\n");
  return 0;
}
