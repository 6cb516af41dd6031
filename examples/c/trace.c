/* trace — tapir's tracing hooks writing a Chrome trace-event file.
 *
 *   ./trace [OUT.json]      (default: tapir-trace.json)
 *
 * Open the file in a trace viewer (chrome://tracing, or https://ui.perfetto.dev):
 * one row per thread, a slice for each piece of work a scheduler ran and for each
 * continuation callback, arrows from where work was posted to where it ran, and
 * instant marks where tasks were made and completed.
 *
 * The hooks only record (under a mutex, into memory); the file is written at the end,
 * so the hooks stay cheap and never block on I/O inside tapir's completions. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tapir.h"

typedef struct {
  char phase;       /* B, E, i, s, f */
  const char *name; /* static */
  uint64_t id;      /* task or work id */
  uint64_t arg;     /* status, scheduler id */
  double ts_us;
  long tid;
} record;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static record *records;
static size_t count, capacity;
static struct timespec t0;

static void add(char phase, const char *name, uint64_t id, uint64_t arg) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  record r = {phase, name, id, arg,
              (double)(now.tv_sec - t0.tv_sec) * 1e6 + (double)(now.tv_nsec - t0.tv_nsec) / 1e3, (long)gettid()};
  pthread_mutex_lock(&mu);
  if (count == capacity) {
    size_t grown = capacity ? capacity * 2 : 1024;
    record *bigger = realloc(records, grown * sizeof *records);
    if (bigger) {
      records = bigger;
      capacity = grown;
    }
  }
  if (count < capacity) records[count++] = r;
  pthread_mutex_unlock(&mu);
}

static void on_created(void *ud, uint64_t task) {
  (void)ud;
  add('i', "task made", task, 0);
}
static void on_completed(void *ud, uint64_t task, int32_t status) {
  (void)ud;
  add('i', "task completed", task, (uint64_t)status);
}
static void on_cont_start(void *ud, uint64_t task) {
  (void)ud;
  add('B', "continuation", task, 0);
}
static void on_cont_end(void *ud, uint64_t task) {
  (void)ud;
  add('E', "continuation", task, 0);
}
static void on_posted(void *ud, uint64_t work, uint64_t scheduler) {
  (void)ud;
  add('s', "post", work, scheduler);
}
static void on_started(void *ud, uint64_t work, uint64_t scheduler) {
  (void)ud;
  add('f', "post", work, scheduler);
  add('B', "work", work, scheduler);
}
static void on_finished(void *ud, uint64_t work, uint64_t scheduler) {
  (void)ud;
  add('E', "work", work, scheduler);
}

static int write_trace(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return 1;
  }
  fprintf(f, "{\"traceEvents\":[\n");
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < count; i++) {
    const record *r = &records[i];
    fprintf(f, "%s{\"name\":\"%s\",\"cat\":\"tapir\",\"ph\":\"%c\",\"ts\":%.3f,\"pid\":1,\"tid\":%ld", i ? ",\n" : "",
            r->name, r->phase, r->ts_us, r->tid);
    switch (r->phase) {
    case 's':
      fprintf(f, ",\"id\":%" PRIu64, r->id);
      break;
    case 'f':
      fprintf(f, ",\"id\":%" PRIu64 ",\"bp\":\"e\"", r->id);
      break;
    case 'i':
      fprintf(f, ",\"s\":\"t\",\"args\":{\"task\":\"%#" PRIx64 "\",\"status\":%" PRIu64 "}", r->id, r->arg);
      break;
    case 'B':
      fprintf(f, ",\"args\":{\"id\":\"%#" PRIx64 "\",\"scheduler\":\"%#" PRIx64 "\"}", r->id, r->arg);
      break;
    default:
      break;
    }
    fputc('}', f);
  }
  size_t n = count;
  pthread_mutex_unlock(&mu);
  fprintf(f, "\n]}\n");
  fclose(f);
  printf("trace: %zu events written to %s\n", n, path);
  return 0;
}

/* ---- a small workload: parallel work, a continuation chain, a delay ---- */

static void square(void *ud, const tapir_source *s) {
  uintptr_t n = (uintptr_t)ud;
  tapir_source_set_result(s, (void *)(n * n), NULL);
}

static void plus_one(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)ud;
  void *v = NULL;
  tapir_task_result(antecedent, &v);
  tapir_source_set_result(next, (void *)((uintptr_t)v + 1), NULL);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "tapir-trace.json";
  clock_gettime(CLOCK_MONOTONIC, &t0);
  tapir_trace_hooks hooks = {0};
  hooks.struct_size = sizeof hooks;
  hooks.task_created = on_created;
  hooks.task_completed = on_completed;
  hooks.continuation_started = on_cont_start;
  hooks.continuation_finished = on_cont_end;
  hooks.work_posted = on_posted;
  hooks.work_started = on_started;
  hooks.work_finished = on_finished;
  if (tapir_set_trace_hooks(&hooks) != TAPIR_STATUS_OK) return 1;

  enum { N = 8 };
  const tapir_task *runs[N];
  for (uintptr_t i = 0; i < N; i++) tapir_run(NULL, square, (void *)i, NULL, NULL, &runs[i]);
  const tapir_task *all = NULL;
  tapir_when_all(runs, N, &all);

  const tapir_task *chain = NULL;
  tapir_task_from_result((void *)1, NULL, &chain);
  for (int i = 0; i < 5; i++) {
    const tapir_task *next = NULL;
    tapir_task_continue_with(chain, plus_one, NULL, NULL, NULL, &next);
    tapir_task_release(chain);
    chain = next;
  }
  const tapir_task *pause = NULL;
  tapir_delay(5, NULL, &pause);

  int failed = tapir_task_wait(all, -1) != TAPIR_STATUS_OK || tapir_task_wait(chain, -1) != TAPIR_STATUS_OK ||
               tapir_task_wait(pause, -1) != TAPIR_STATUS_OK;
  void *v = NULL;
  tapir_task_result(chain, &v);
  if ((uintptr_t)v != 6) failed = 1;

  for (int i = 0; i < N; i++) tapir_task_release(runs[i]);
  tapir_task_release(all);
  tapir_task_release(chain);
  tapir_task_release(pause);
  tapir_shutdown(); /* every traced callback has returned */
  tapir_set_trace_hooks(NULL);
  if (failed) {
    fprintf(stderr, "trace: the workload did not complete as expected\n");
    return 1;
  }
  int rc = write_trace(path);
  free(records);
  return rc;
}
