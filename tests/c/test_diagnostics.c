/* Tracing hooks, task names and the pending-task report. */
#include "harness.h"

/* ---- a recorder for the tracing hooks ---- */

enum { EV_CREATED = 1, EV_COMPLETED, EV_CONT_START, EV_CONT_END, EV_POSTED, EV_STARTED, EV_FINISHED };

typedef struct {
  int kind;
  uint64_t id, extra;
} event;

typedef struct {
  pthread_mutex_t mu;
  event ev[4096];
  int n;
} recorder;

static void rec_add(void *ud, int kind, uint64_t id, uint64_t extra) {
  recorder *r = (recorder *)ud;
  pthread_mutex_lock(&r->mu);
  if (r->n < (int)(sizeof r->ev / sizeof r->ev[0])) r->ev[r->n++] = (event){kind, id, extra};
  pthread_mutex_unlock(&r->mu);
}
static void on_created(void *ud, uint64_t id) { rec_add(ud, EV_CREATED, id, 0); }
static void on_completed(void *ud, uint64_t id, int32_t status) { rec_add(ud, EV_COMPLETED, id, (uint64_t)status); }
static void on_cont_start(void *ud, uint64_t id) { rec_add(ud, EV_CONT_START, id, 0); }
static void on_cont_end(void *ud, uint64_t id) { rec_add(ud, EV_CONT_END, id, 0); }
static void on_posted(void *ud, uint64_t work, uint64_t sched) { rec_add(ud, EV_POSTED, work, sched); }
static void on_started(void *ud, uint64_t work, uint64_t sched) { rec_add(ud, EV_STARTED, work, sched); }
static void on_finished(void *ud, uint64_t work, uint64_t sched) { rec_add(ud, EV_FINISHED, work, sched); }

static tapir_trace_hooks all_hooks(recorder *r) {
  tapir_trace_hooks h = {0};
  h.struct_size = sizeof h;
  h.user_data = r;
  h.task_created = on_created;
  h.task_completed = on_completed;
  h.continuation_started = on_cont_start;
  h.continuation_finished = on_cont_end;
  h.work_posted = on_posted;
  h.work_started = on_started;
  h.work_finished = on_finished;
  return h;
}

/* The index of the first event of `kind` about `id` at or after `from`, or -1. */
static int find(recorder *r, int from, int kind, uint64_t id) {
  pthread_mutex_lock(&r->mu);
  int found = -1;
  for (int i = from; i < r->n && found < 0; i++)
    if (r->ev[i].kind == kind && r->ev[i].id == id) found = i;
  pthread_mutex_unlock(&r->mu);
  return found;
}

static void noop_cb(void *ud, const tapir_task *t) {
  (void)ud;
  (void)t;
}

static void run_body(void *ud, const tapir_source *s) { tapir_source_set_result(s, ud, NULL); }

static void trace_task_and_continuation_events(void) {
  recorder *r = calloc(1, sizeof *r);
  REQUIRE(r != NULL);
  pthread_mutex_init(&r->mu, NULL);
  tapir_trace_hooks hooks = all_hooks(r);
  CHECK_OK(tapir_set_trace_hooks(&hooks));

  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  uint64_t id = tapir_task_id(t);
  CHECK_OK(tapir_task_on_complete(t, noop_cb, NULL, NULL, h_sync(), NULL));
  CHECK_OK(tapir_source_set_result(s, h_int(1), NULL));
  int created = find(r, 0, EV_CREATED, id);
  int completed = find(r, 0, EV_COMPLETED, id);
  int started = find(r, 0, EV_CONT_START, id);
  int ended = find(r, 0, EV_CONT_END, id);
  CHECKF(created >= 0 && completed > created, "created %d, completed %d", created, completed);
  CHECKF(started > completed && ended > started, "continuation %d..%d after completion %d", started, ended,
         completed);
  if (completed >= 0) CHECK_EQ(r->ev[completed].extra, (uint64_t)TAPIR_TASK_STATUS_SUCCEEDED);

  /* A completed-from-birth task: created, then completed with its status. */
  const tapir_task *c = NULL;
  CHECK_OK(tapir_task_from_canceled(NULL, &c));
  uint64_t cid = tapir_task_id(c);
  int cc = find(r, 0, EV_COMPLETED, cid);
  CHECKF(find(r, 0, EV_CREATED, cid) >= 0 && cc >= 0, "a completed-from-birth task is traced");
  if (cc >= 0) CHECK_EQ(r->ev[cc].extra, (uint64_t)TAPIR_TASK_STATUS_CANCELED);

  /* Cleared: nothing more is recorded. */
  CHECK_OK(tapir_set_trace_hooks(NULL));
  int before = r->n;
  const tapir_task *quiet = NULL;
  CHECK_OK(tapir_task_from_result(h_int(2), NULL, &quiet));
  CHECK_EQ(r->n, before);

  tapir_task_release(quiet);
  tapir_task_release(c);
  tapir_task_release(t);
  tapir_source_release(s);
  free(r);
}

static void trace_work_on_a_manual_scheduler(void) {
  recorder *r = calloc(1, sizeof *r);
  REQUIRE(r != NULL);
  pthread_mutex_init(&r->mu, NULL);
  tapir_trace_hooks hooks = all_hooks(r);
  CHECK_OK(tapir_set_trace_hooks(&hooks));
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  const tapir_task *t = NULL;
  CHECK_OK(tapir_run(m, run_body, h_int(3), NULL, NULL, &t));
  uint64_t sched_id = (uint64_t)(uintptr_t)m;
  int posted = -1;
  pthread_mutex_lock(&r->mu);
  for (int i = 0; i < r->n && posted < 0; i++)
    if (r->ev[i].kind == EV_POSTED && r->ev[i].extra == sched_id) posted = i;
  pthread_mutex_unlock(&r->mu);
  CHECKF(posted >= 0, "the post to the manual scheduler is traced with its handle as the scheduler id");
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, (size_t)1);
  if (posted >= 0) {
    uint64_t work = r->ev[posted].id;
    int started = find(r, posted, EV_STARTED, work);
    int finished = find(r, posted, EV_FINISHED, work);
    CHECKF(work != 0 && started > posted && finished > started, "work %" PRIu64 ": posted %d, started %d, finished %d",
           work, posted, started, finished);
    if (started >= 0) CHECK_EQ(r->ev[started].extra, sched_id);
    int completed = find(r, 0, EV_COMPLETED, tapir_task_id(t));
    CHECKF(completed > started && completed < finished, "the run's task completes inside its work");
  }
  CHECK_OK(tapir_set_trace_hooks(NULL));
  tapir_task_release(t);
  tapir_scheduler_release(m);
  free(r);
}

static void trace_hooks_misuse_and_versioning(void) {
  recorder *r = calloc(1, sizeof *r);
  REQUIRE(r != NULL);
  pthread_mutex_init(&r->mu, NULL);
  tapir_trace_hooks hooks = all_hooks(r);
  hooks.struct_size = 4; /* not even user_data */
  CHECK_ST(tapir_set_trace_hooks(&hooks), TAPIR_STATUS_INVALID_ARGUMENT);
  /* An older caller's struct that ends after task_created: only that hook is read. */
  hooks.struct_size = (uint32_t)(offsetof(tapir_trace_hooks, task_created) + sizeof hooks.task_created);
  CHECK_OK(tapir_set_trace_hooks(&hooks));
  const tapir_task *t = NULL;
  CHECK_OK(tapir_task_from_result(h_int(4), NULL, &t));
  CHECK(find(r, 0, EV_CREATED, tapir_task_id(t)) >= 0);
  CHECK(find(r, 0, EV_COMPLETED, tapir_task_id(t)) < 0);
  CHECK_OK(tapir_set_trace_hooks(NULL));
  tapir_task_release(t);
  free(r);
}

/* ---- names and the report ---- */

static void names_are_set_read_replaced_and_removed(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  char buf[64];
  CHECK_EQ(tapir_task_get_name(t, buf, sizeof buf), (size_t)0);
  CHECK_OK(tapir_task_set_name(t, "load level 3"));
  CHECK_EQ(tapir_task_get_name(t, buf, sizeof buf), strlen("load level 3"));
  CHECK(strcmp(buf, "load level 3") == 0);
  char small[5];
  CHECK_EQ(tapir_task_get_name(t, small, sizeof small), strlen("load level 3"));
  CHECK(strcmp(small, "load") == 0); /* cut, NUL-terminated */
  CHECK_OK(tapir_task_set_name(t, "renamed"));
  CHECK_EQ(tapir_task_get_name(t, NULL, 0), strlen("renamed"));
  CHECK_OK(tapir_task_set_name(t, NULL));
  CHECK_EQ(tapir_task_get_name(t, buf, sizeof buf), (size_t)0);
  /* The source's handle is not a task handle. */
  CHECK_ST(tapir_task_set_name((const tapir_task *)s, "x"), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_task_set_name(NULL, "x"), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(tapir_task_get_name(NULL, buf, sizeof buf), (size_t)0);
  CHECK_EQ(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_task *stale = h_stale_task();
  CHECK_ST(tapir_task_set_name(stale, "x"), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_task_get_name(stale, buf, sizeof buf), (size_t)0);
  CHECK_EQ(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  tapir_task_release(t);
  tapir_source_release(s);
}

/* The report's text, written to a temporary file. */
static size_t report_with(size_t (*write_report)(FILE *), char *text, size_t size) {
  FILE *f = tmpfile();
  if (!f) return (size_t)-1;
  size_t n = write_report(f);
  rewind(f);
  size_t len = fread(text, 1, size - 1, f);
  text[len] = '\0';
  fclose(f);
  return n;
}
static size_t report(char *text, size_t size) { return report_with(tapir_debug_report_pending, text, size); }

static void the_report_lists_pending_tasks_oldest_first_with_names(void) {
  static char text[1 << 16];
  size_t base = tapir_debug_report_pending(NULL);
  tapir_debug_track_tasks(true);
  const tapir_source *a = h_source(), *b = h_source(), *done = h_source();
  const tapir_task *ta = h_task_of(a), *tb = h_task_of(b), *tdone = h_task_of(done);
  tapir_debug_track_tasks(false);
  CHECK_OK(tapir_task_set_name(tb, "second \"quoted\""));
  CHECK_OK(tapir_task_set_name(tdone, "finished"));
  CHECK_OK(tapir_source_set_result(done, NULL, NULL));
  size_t n = report(text, sizeof text);
  CHECK_EQ(n, base + 2);
  char ida[32], idb[32];
  snprintf(ida, sizeof ida, "task %#" PRIx64, tapir_task_id(ta));
  snprintf(idb, sizeof idb, "task %#" PRIx64, tapir_task_id(tb));
  const char *pa = strstr(text, ida), *pb = strstr(text, idb);
  CHECKF(pa && pb && pa < pb, "both listed, the older first:\n%s", text);
  CHECKF(strstr(text, "second \\\"quoted\\\"") != NULL, "the name is shown, quotes escaped:\n%s", text);
  CHECKF(strstr(text, "finished") == NULL, "a completed task is not listed:\n%s", text);
  CHECKF(pa && strstr(pa, "created #") != NULL && strstr(pa, " s ago") != NULL, "tracked: number and age:\n%s", text);
  /* Names go with their task. */
  tapir_task_release(tb);
  tapir_source_release(b); /* breaks its promise: b's task completes and dies */
  n = report(text, sizeof text);
  CHECK_EQ(n, base + 1);
  CHECKF(strstr(text, "quoted") == NULL, "a dead task's name is gone:\n%s", text);
  tapir_task_release(ta);
  tapir_source_release(a);
  tapir_task_release(tdone);
  tapir_source_release(done);
  CHECK_EQ(tapir_debug_report_pending(NULL), base);
}

static void complete_next(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)ud;
  (void)antecedent;
  tapir_source_set_result(next, NULL, NULL);
}

/* The line of the report about task `t`, copied into `line` ("" when it is not listed). */
static const char *line_of(const char *text, const tapir_task *t, char *line, size_t size) {
  char id[40];
  snprintf(id, sizeof id, "task %#" PRIx64 " ", tapir_task_id(t));
  const char *p = strstr(text, id);
  size_t n = 0;
  if (p)
    while (p[n] && p[n] != '\n' && n + 1 < size) n++;
  memcpy(line, p ? p : "", n);
  line[n] = '\0';
  return line;
}

static void the_live_report_lists_every_task_with_what_holds_it(void) {
  static char text[1 << 16];
  char line[256];
  size_t base = tapir_debug_report_live(NULL);
  const tapir_source *pending = h_source(), *done = h_source(), *failed = h_source();
  const tapir_task *tp = h_task_of(pending), *tdone = h_task_of(done), *tfailed = h_task_of(failed);
  const tapir_task *second = tapir_task_retain(tdone);
  REQUIRE(second != NULL);
  CHECK_OK(tapir_source_set_result(done, NULL, NULL));
  CHECK_OK(tapir_source_release(done));
  const tapir_error *boom = h_error(1000, "boom");
  CHECK_OK(tapir_source_set_error(failed, boom));
  tapir_error_release(boom);
  CHECK_OK(tapir_source_release(failed));
  CHECK_OK(tapir_task_set_name(tfailed, "the failed one"));
  CHECK_EQ(report_with(tapir_debug_report_live, text, sizeof text), base + 3);
  line_of(text, tp, line, sizeof line);
  CHECKF(strstr(line, "pending, 1 task handle(s), 1 source(s)") != NULL, "the pending task:\n%s", text);
  line_of(text, tdone, line, sizeof line);
  CHECKF(strstr(line, "succeeded, 2 task handle(s), 0 source(s)") != NULL, "the completed task:\n%s", text);
  line_of(text, tfailed, line, sizeof line);
  CHECKF(strstr(line, "faulted, 1 task handle(s), 0 source(s)") != NULL &&
             strstr(line, "\"the failed one\"") != NULL,
         "the faulted task, with its name:\n%s", text);
  /* A continuation's task has a source until its callback has run: the continuation. */
  const tapir_task *cont = NULL;
  CHECK_OK(tapir_task_continue_with(tp, complete_next, NULL, NULL, NULL, &cont));
  CHECK_EQ(report_with(tapir_debug_report_live, text, sizeof text), base + 4);
  line_of(text, cont, line, sizeof line);
  CHECKF(strstr(line, "pending, 1 task handle(s), 1 source(s)") != NULL,
         "the continuation's task:\n%s", text);
  /* A forward from a pending task is an extra producer the library holds. */
  const tapir_source *fwd = h_source();
  const tapir_task *tfwd = h_task_of(fwd);
  CHECK_OK(tapir_source_set_from_task(fwd, tp));
  CHECK_OK(tapir_source_release(fwd));
  CHECK_EQ(report_with(tapir_debug_report_live, text, sizeof text), base + 5);
  line_of(text, tfwd, line, sizeof line);
  CHECKF(strstr(line, "pending, 1 task handle(s), 0 source(s), held by the library (0 internal reference(s), 1 "
                      "extra producer(s))") != NULL,
         "the forwarding task:\n%s", text);
  /* Released tasks leave the report. */
  tapir_task_release(tdone);
  tapir_task_release(second);
  tapir_task_release(tfailed);
  CHECK_EQ(report_with(tapir_debug_report_live, text, sizeof text), base + 3);
  line_of(text, tdone, line, sizeof line);
  CHECKF(line[0] == '\0', "a released task is not listed:\n%s", text);
  CHECK_OK(tapir_source_set_result(pending, NULL, NULL));
  CHECK_OK(tapir_task_wait(cont, 10000));
  CHECK_OK(tapir_task_wait(tfwd, 10000));
  tapir_task_release(tfwd);
  tapir_task_release(tp);
  tapir_source_release(pending);
  tapir_task_release(cont);
  REQUIRE(h_wait_live(0, 10000)); /* the continuation's registration lets go after its callback returns */
  CHECK_EQ(tapir_debug_report_live(NULL), base);
}

/* While a task's continuations run, the report says so: its handle is lent to them,
 * valid even though no task handle is left. */
typedef struct {
  char line[256];
  int found;
} lent_line;

static void record_own_line(void *ud, const tapir_task *t) {
  static char text[1 << 16];
  lent_line *l = (lent_line *)ud;
  report_with(tapir_debug_report_live, text, sizeof text);
  line_of(text, t, l->line, sizeof l->line);
  l->found = l->line[0] != '\0';
}

static void the_live_report_shows_a_task_whose_continuations_are_running(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  lent_line l = {{0}, 0};
  const tapir_continuation_options sync = {sizeof sync, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};
  REQUIRE_OK(tapir_task_on_complete(t, record_own_line, &l, NULL, &sync, NULL));
  CHECK_OK(tapir_task_release(t)); /* the callback is lent the handle all the same */
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK(l.found);
  CHECKF(strstr(l.line, "succeeded, 0 task handle(s)") != NULL &&
             strstr(l.line, "running continuations (its handle is lent to them)") != NULL,
         "the task whose callback runs: %s", l.line);
  CHECK_OK(tapir_source_release(s));
}

static void shutdown_reports_what_never_completed_when_asked(void) {
  static char text[1 << 16];
  FILE *f = tmpfile();
  REQUIRE(f != NULL);
  tapir_debug_report_at_shutdown(f);
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  CHECK_OK(tapir_task_set_name(t, "never completed"));
  CHECK_OK(tapir_shutdown());
  tapir_debug_report_at_shutdown(NULL);
  rewind(f);
  size_t len = fread(text, 1, sizeof text - 1, f);
  text[len] = '\0';
  fclose(f);
  CHECKF(strstr(text, "never completed") != NULL, "the shutdown report names the pending task:\n%s", text);
  tapir_task_release(t);
  tapir_source_release(s);
}

void register_diagnostics_tests(void) {
  REG(trace_task_and_continuation_events);
  REG(trace_work_on_a_manual_scheduler);
  REG(trace_hooks_misuse_and_versioning);
  REG(names_are_set_read_replaced_and_removed);
  REG(the_report_lists_pending_tasks_oldest_first_with_names);
  REG(the_live_report_lists_every_task_with_what_holds_it);
  REG(the_live_report_shows_a_task_whose_continuations_are_running);
  REG(shutdown_reports_what_never_completed_when_asked);
}
