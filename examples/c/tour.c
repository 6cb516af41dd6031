/* tour.c — tapir in C, in the order the TPL is usually taught.
 *
 * 1. RunAsync: a computation on its own thread, exposed as a task through a
 *    completion source ("The Nature of TaskCompletionSource").
 * 2. Continuations: ContinueWith on the pool, and a synchronous one.
 * 3. Waiting with a timeout.
 * 4. Failed and canceled outcomes, and an only-on-faulted logger (TAP text).
 * 5. A broken promise: a producer that vanished does not leave waiters hanging.
 * 6. A game loop: a worker posts to a manual scheduler, the main thread runs
 *    a few items per frame.
 *
 * Build and run: make -C examples/c run */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tapir.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- 1. RunAsync: the source is the producer, its task the consumer. ---- */

typedef int (*compute_fn)(intptr_t arg, intptr_t *result); /* 0 = ok, else an error code */

typedef struct {
  compute_fn fn;
  intptr_t arg;
  const tapir_source *source; /* the thread owns this reference */
} job;

static void *job_thread(void *p) {
  job *j = p;
  intptr_t result = 0;
  int code = j->fn(j->arg, &result);
  if (code == 0) {
    tapir_source_set_result(j->source, (void *)result, NULL); /* integers travel in the pointer */
  } else {
    const char *msg = "the computation failed";
    const tapir_error *e = NULL;
    tapir_error_new(code, (const uint8_t *)msg, strlen(msg), NULL, NULL, &e);
    tapir_source_set_error(j->source, e); /* borrows e: the task keeps its own reference */
    tapir_error_release(e);
  }
  tapir_source_release(j->source);
  return NULL;
}

/* Like the C# RunAsync: start fn on a thread and hand back the task. */
static const tapir_task *run_async(job *j) {
  const tapir_source *source = NULL;
  const tapir_task *task = NULL;
  tapir_source_new(0, NULL, &source);
  tapir_source_task(source, &task);
  j->source = source; /* our reference moves to the thread */
  pthread_t t;
  pthread_create(&t, NULL, job_thread, j);
  pthread_detach(t);
  return task;
}

static int slow_square(intptr_t x, intptr_t *out) {
  sleep_ms(200);
  *out = x * x;
  return 0;
}

static int always_fails(intptr_t x, intptr_t *out) {
  (void)x;
  (void)out;
  return 404;
}

static intptr_t result_of(const tapir_task *t) {
  void *v = NULL;
  tapir_task_result(t, &v);
  return (intptr_t)v;
}

/* ---- 2. Continuations ---- */

/* ContinueWith: the callback completes `next`, the continuation's source. */
static void add_one(void *user_data, const tapir_task *antecedent, const tapir_source *next) {
  (void)user_data;
  tapir_source_set_result(next, (void *)(result_of(antecedent) + 1), NULL);
}

/* user_data names the task: a callback receives the task itself, lent for the call,
 * and the name is the caller's to choose (tapir_task_id is a number, for logs). */
static void announce(void *user_data, const tapir_task *completed) {
  printf("   [sync continuation] the %s task finished (%s), result %ld\n", (const char *)user_data,
         tapir_task_get_status(completed) == TAPIR_TASK_STATUS_SUCCEEDED ? "succeeded" : "did not succeed",
         (long)result_of(completed));
}

/* "var ignored = task.ContinueWith(t => Log(t), OnlyOnFaulted)" */
static void log_fault(void *user_data, const tapir_task *completed) {
  (void)user_data;
  const tapir_error *e = NULL;
  if (tapir_task_error(completed, &e) == TAPIR_STATUS_OK) { /* reading it marks it observed */
    size_t len = 0;
    const uint8_t *msg = tapir_error_message(e, &len);
    printf("   [only-on-faulted logger] error %d: %.*s\n", (int)tapir_error_code(e), (int)len, (const char *)msg);
    tapir_error_release(e);
  }
}

/* ---- 6. The game loop's work items ---- */

static int frame_no; /* touched only by the main thread, inside run_pending */

static void on_main_thread(void *user_data) {
  printf("   frame %d: main thread runs \"%s\"\n", frame_no, (const char *)user_data);
}

static void *loader_thread(void *p) {
  const tapir_scheduler *main_sched = p;
  static const char *const assets[] = {"load mesh", "load texture", "load sound", "load level", "spawn player"};
  for (int i = 0; i < 5; i++) {
    sleep_ms(5);
    tapir_scheduler_post(main_sched, on_main_thread, (void *)assets[i], NULL); /* thread-safe */
  }
  return NULL;
}

int main(void) {
  printf("tapir %s — a tour in C\n\n", tapir_version());
  const tapir_continuation_options sync = {sizeof sync, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};

  printf("1. RunAsync: square 12 on a thread of our own; the task is its completion source's.\n");
  job j1 = {slow_square, 12, NULL};
  const tapir_task *square = run_async(&j1);
  printf("   right after starting, completed? %s\n", tapir_task_is_completed(square) ? "yes" : "no");
  tapir_task_on_complete(square, announce, "square", NULL, &sync, NULL);

  printf("\n2. ContinueWith on the pool adds one; it runs only once the square exists.\n");
  const tapir_task *plus_one = NULL;
  tapir_task_continue_with(square, add_one, NULL, NULL, NULL, &plus_one);
  tapir_task_wait(plus_one, TAPIR_INFINITE);
  printf("   12*12 + 1 = %ld\n", (long)result_of(plus_one));

  printf("\n3. Waiting with a timeout: a 50 ms wait on a 200 ms job times out; the job goes on.\n");
  job j2 = {slow_square, 3, NULL};
  const tapir_task *slow = run_async(&j2);
  int32_t st = tapir_task_wait(slow, 50);
  printf("   wait(50 ms) -> %s; still pending: %s\n", tapir_status_str(st),
         tapir_task_get_status(slow) == TAPIR_TASK_STATUS_PENDING ? "yes" : "no");
  st = tapir_task_wait(slow, TAPIR_INFINITE);
  printf("   wait(INFINITE) -> %s, result %ld\n", tapir_status_str(st), (long)result_of(slow));

  printf("\n4. Failed and canceled outcomes.\n");
  job j3 = {always_fails, 0, NULL};
  const tapir_task *failing = run_async(&j3);
  const tapir_continuation_options only_faulted = {sizeof only_faulted, TAPIR_CONTINUATION_ONLY_ON_FAULTED, NULL,
                                                   NULL};
  tapir_task_on_complete(failing, log_fault, NULL, NULL, &only_faulted, NULL);
  st = tapir_task_wait(failing, TAPIR_INFINITE);
  printf("   wait on the failing job -> %s\n", tapir_status_str(st));
  const tapir_source *src = NULL;
  const tapir_task *canceled = NULL;
  tapir_source_new(0, NULL, &src);
  tapir_source_task(src, &canceled);
  tapir_task_on_complete(canceled, log_fault, NULL, NULL, &only_faulted, NULL); /* will not run */
  tapir_source_set_canceled(src, NULL);
  printf("   a canceled source: wait -> %s (canceled is not a failure; the logger stayed quiet)\n",
         tapir_status_str(tapir_task_wait(canceled, 0)));
  printf("   completing it again -> %s (a task completes exactly once)\n",
         tapir_status_str(tapir_source_set_result(src, NULL, NULL)));
  tapir_source_release(src);

  printf("\n5. A broken promise: the producer releases its source without completing it.\n");
  const tapir_source *vanishing = NULL;
  const tapir_task *orphan = NULL;
  tapir_source_new(0, NULL, &vanishing);
  tapir_source_task(vanishing, &orphan);
  tapir_task_on_complete(orphan, log_fault, NULL, NULL, &only_faulted, NULL);
  tapir_source_release(vanishing);
  st = tapir_task_wait(orphan, 1000);
  printf("   wait -> %s instead of hanging forever\n", tapir_status_str(st));

  printf("\n6. A game loop: a loader thread posts to a manual scheduler; each frame runs at most 2 items.\n");
  const tapir_scheduler *main_sched = NULL;
  tapir_scheduler_new_manual(&main_sched);
  pthread_t loader;
  pthread_create(&loader, NULL, loader_thread, (void *)main_sched);
  size_t total = 0;
  for (frame_no = 1; frame_no <= 12 && total < 5; frame_no++) {
    size_t ran = 0;
    tapir_scheduler_run_pending(main_sched, 2, 4 /* ms */, &ran); /* the frame's budget */
    total += ran;
    printf("   frame %d done: %zu item(s) this frame\n", frame_no, ran);
    sleep_ms(16); /* ~60 frames per second */
  }
  pthread_join(loader, NULL);

  printf("\nReleasing everything; tapir_shutdown joins the library's threads.\n");
  const tapir_task *all[] = {square, plus_one, slow, failing, canceled, orphan};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tapir_task_release(all[i]);
  tapir_scheduler_release(main_sched);
  tapir_shutdown();
  printf("live objects left: %zu\n", tapir_debug_live_objects(0 /* every kind */));
  return 0;
}
