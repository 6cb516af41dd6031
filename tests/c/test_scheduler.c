/* Schedulers: inline, default pool, manual (pumped by the host), foreign
 * (the host's own job system), tapir_scheduler_current and tapir_shutdown. */
#include "harness.h"

/* A work item that counts itself and remembers which scheduler ran it. */
typedef struct {
  h_counter c;
  const tapir_scheduler *current; /* tapir_scheduler_current() inside (+1, released by the test) */
  double sleep_ms;
} work_rec;

static void work_fn(void *ud) {
  work_rec *w = (work_rec *)ud;
  w->current = tapir_scheduler_current();
  if (w->sleep_ms > 0) h_sleep_ms(w->sleep_ms);
  h_counter_hit(&w->c);
}

static void work_destroy(void *ud) { h_count_destroy(&((work_rec *)ud)->c); }

static void work_init(work_rec *w) {
  memset(w, 0, sizeof *w);
  h_counter_init(&w->c);
}

static void work_fini(work_rec *w) {
  if (w->current) CHECK_OK(tapir_scheduler_release(w->current));
  w->current = NULL;
}

static void scheduler_inline_runs_on_caller(void) {
  const tapir_scheduler *s = NULL;
  REQUIRE_OK(tapir_scheduler_inline(&s));
  work_rec w;
  work_init(&w);
  CHECK_OK(tapir_scheduler_post(s, work_fn, &w, work_destroy));
  CHECK_EQ(atomic_load(&w.c.calls), 1); /* before post returned */
  CHECK_EQ(atomic_load(&w.c.destroys), 1);
  CHECK_EQ(atomic_load(&w.c.destroys_before_call), 0);
  CHECK(pthread_equal(w.c.thread, pthread_self()));
  work_fini(&w);
  CHECK_OK(tapir_scheduler_release(s));
}

static void scheduler_default_runs_elsewhere(void) {
  const tapir_scheduler *s = NULL, *s2 = NULL;
  REQUIRE_OK(tapir_scheduler_default(&s));
  REQUIRE_OK(tapir_scheduler_default(&s2));
  CHECK_PTR_EQ(s, s2);
  enum { N = 64 };
  work_rec w[N];
  for (int i = 0; i < N; i++) {
    work_init(&w[i]);
    CHECK_OK(tapir_scheduler_post(s, work_fn, &w[i], work_destroy));
  }
  for (int i = 0; i < N; i++) {
    CHECK(h_wait_eq(&w[i].c.destroys, 1, h_prompt_ms()));
    CHECK_EQ(atomic_load(&w[i].c.calls), 1);
    CHECK(!pthread_equal(w[i].c.thread, pthread_self()));
    /* a callback run by the pool sees the default scheduler as current */
    CHECK_PTR_EQ(w[i].current, s);
    work_fini(&w[i]);
  }
  CHECK_OK(tapir_scheduler_release(s));
  CHECK_OK(tapir_scheduler_release(s2));
}

static void scheduler_current_outside_callbacks_is_null(void) {
  CHECK(tapir_scheduler_current() == NULL);
}

/* ---- manual scheduler */

typedef struct {
  const tapir_scheduler *s;
  work_rec *w;
  int n;
} poster;

static void *post_many(void *arg) {
  poster *p = (poster *)arg;
  for (int i = 0; i < p->n; i++) CHECK_OK(tapir_scheduler_post(p->s, work_fn, &p->w[i], work_destroy));
  return NULL;
}

static void manual_post_from_threads_run_on_pump(void) {
  enum { THREADS = 4, PER = 250 };
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  work_rec *w = calloc(THREADS * PER, sizeof *w);
  poster ps[THREADS];
  pthread_t ts[THREADS];
  atomic_int seq = 0;
  for (int i = 0; i < THREADS * PER; i++) {
    work_init(&w[i]);
    w[i].c.order_src = &seq;
  }
  for (int k = 0; k < THREADS; k++) {
    ps[k] = (poster){m, w + k * PER, PER};
    ts[k] = h_spawn(post_many, &ps[k]);
  }
  for (int k = 0; k < THREADS; k++) h_join(ts[k]);
  h_sleep_ms(10);
  /* nothing runs until the host pumps */
  int early = 0;
  for (int i = 0; i < THREADS * PER; i++) early += atomic_load(&w[i].c.calls);
  CHECK_EQ(early, 0);
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, THREADS * PER);
  for (int i = 0; i < THREADS * PER; i++) {
    CHECK_EQ(atomic_load(&w[i].c.calls), 1);
    CHECK_EQ(atomic_load(&w[i].c.destroys), 1);
    CHECK(pthread_equal(w[i].c.thread, pthread_self()));
    CHECK_PTR_EQ(w[i].current, m); /* current = the manual scheduler */
    work_fini(&w[i]);
  }
  /* each poster's items ran in the order that poster posted them */
  for (int k = 0; k < THREADS; k++)
    for (int i = 1; i < PER; i++)
      CHECKF(atomic_load(&w[k * PER + i].c.order) > atomic_load(&w[k * PER + i - 1].c.order),
             "poster %d: item %d ran before item %d", k, i, i - 1);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, 0);
  CHECK(tapir_scheduler_current() == NULL); /* reset after the pump returns */
  free(w);
  CHECK_OK(tapir_scheduler_release(m));
}

static void manual_fifo_and_item_budget(void) {
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  enum { N = 10 };
  work_rec w[N];
  atomic_int seq = 0;
  for (int i = 0; i < N; i++) {
    work_init(&w[i]);
    w[i].c.order_src = &seq;
    CHECK_OK(tapir_scheduler_post(m, work_fn, &w[i], work_destroy));
  }
  size_t ran = 99;
  CHECK_OK(tapir_scheduler_run_pending(m, 3, -1, &ran));
  CHECK_EQ(ran, 3);
  CHECK_OK(tapir_scheduler_run_pending(m, 3, -1, &ran));
  CHECK_EQ(ran, 3);
  CHECK_EQ(atomic_load(&seq), 6);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, 4);
  CHECK_OK(tapir_scheduler_run_pending(m, 5, -1, &ran));
  CHECK_EQ(ran, 0);
  for (int i = 0; i < N; i++) {
    CHECKF(atomic_load(&w[i].c.order) == i, "item %d ran as number %d", i, atomic_load(&w[i].c.order));
    work_fini(&w[i]);
  }
  CHECK_OK(tapir_scheduler_release(m));
}

static void manual_time_budget(void) {
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  enum { N = 20 };
  work_rec w[N];
  for (int i = 0; i < N; i++) {
    work_init(&w[i]);
    w[i].sleep_ms = 10;
    CHECK_OK(tapir_scheduler_post(m, work_fn, &w[i], work_destroy));
  }
  size_t ran = 0;
  double t0 = h_now_ms();
  CHECK_OK(tapir_scheduler_run_pending(m, 0, 50, &ran));
  double took = h_now_ms() - t0;
  CHECKF(ran >= 1 && ran < N, "a 50 ms budget ran %zu items of 10 ms", ran);
  CHECKF(took < 50 + 10 + h_prompt_ms(), "a 50 ms budget took %.0f ms", took);
  int done = 0;
  for (int i = 0; i < N; i++) done += atomic_load(&w[i].c.calls);
  CHECK_EQ(done, (int)ran);
  size_t rest = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &rest));
  CHECK_EQ(ran + rest, N);
  for (int i = 0; i < N; i++) work_fini(&w[i]);
  CHECK_OK(tapir_scheduler_release(m));
}

static void manual_release_discards_queued_work(void) {
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  enum { N = 8 };
  work_rec w[N];
  for (int i = 0; i < N; i++) {
    work_init(&w[i]);
    CHECK_OK(tapir_scheduler_post(m, work_fn, &w[i], work_destroy));
  }
  CHECK_OK(tapir_scheduler_release(m));
  /* destroy exactly once, fn never */
  for (int i = 0; i < N; i++) {
    CHECK(h_wait_eq(&w[i].c.destroys, 1, h_prompt_ms()));
    CHECK_EQ(atomic_load(&w[i].c.calls), 0);
  }
}

static void manual_scheduler_arguments(void) {
  const tapir_scheduler *m = NULL, *d = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  REQUIRE_OK(tapir_scheduler_default(&d));
  size_t ran = 77;
  CHECK_ST(tapir_scheduler_run_pending(NULL, 0, -1, &ran), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_run_pending(m, 0, -2, &ran), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_scheduler_run_pending(m, 0, 4294967295LL, &ran), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_scheduler_run_pending(d, 0, -1, &ran), TAPIR_STATUS_INVALID_ARGUMENT); /* manual only */
  CHECK_EQ(ran, 77);
  work_rec w;
  work_init(&w);
  CHECK_ST(tapir_scheduler_post(m, NULL, &w, work_destroy), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_post(NULL, work_fn, &w, work_destroy), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(atomic_load(&w.c.destroys), 0); /* failed posts call nothing */
  CHECK_ST(tapir_scheduler_new_manual(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_default(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_inline(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  /* handle rules */
  CHECK_PTR_EQ(tapir_scheduler_retain(m), m);
  CHECK_OK(tapir_scheduler_release(m));
  CHECK_OK(tapir_scheduler_release(m));
  CHECK_ST(tapir_scheduler_release(m), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_scheduler_post(m, work_fn, &w, work_destroy), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_scheduler_run_pending(m, 0, -1, &ran), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_scheduler_retain(m) == NULL);
  CHECK_OK(tapir_scheduler_release(NULL));
  CHECK(tapir_scheduler_retain(NULL) == NULL);
  CHECK_EQ(atomic_load(&w.c.calls) + atomic_load(&w.c.destroys), 0);
  CHECK_OK(tapir_scheduler_release(d));
}

/* a continuation on a manual scheduler runs when (and where) the host pumps */
static void continuation_on_manual_scheduler(void) {
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  const tapir_task *done = NULL, *c = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(4), NULL, &done));
  h_counter cc;
  h_counter_init(&cc);
  tapir_continuation_options o = {sizeof o, 0, m, NULL};
  CHECK_OK(tapir_task_continue_with(done, h_count_cont, &cc, h_count_destroy, &o, &c));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&cc.calls), 0);
  CHECK_EQ(tapir_task_get_status(c), TAPIR_TASK_STATUS_PENDING);
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, 1);
  CHECK_EQ(atomic_load(&cc.calls), 1);
  CHECK(pthread_equal(cc.thread, pthread_self()));
  CHECK_EQ(tapir_task_get_status(c), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(c));
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_scheduler_release(m));
}

/* ---- foreign scheduler */

static void foreign_scheduler_post_run_discard(void) {
  h_recsched r;
  if (!h_recsched_init(&r)) return;
  work_rec a, b;
  work_init(&a);
  work_init(&b);
  CHECK_OK(tapir_scheduler_post(r.sched, work_fn, &a, work_destroy));
  CHECK_OK(tapir_scheduler_post(r.sched, work_fn, &b, work_destroy));
  CHECK_EQ(atomic_load(&r.posted), 2);
  CHECK_EQ(atomic_load(&a.c.calls), 0);
  /* run the first on this thread: fn, then destroy; current = the foreign scheduler */
  pthread_mutex_lock(&r.lock);
  tapir_work *wa = r.items[0], *wb = r.items[1];
  r.n = 0;
  pthread_mutex_unlock(&r.lock);
  CHECK_OK(tapir_work_run(wa));
  CHECK_EQ(atomic_load(&a.c.calls), 1);
  CHECK_EQ(atomic_load(&a.c.destroys), 1);
  CHECK_PTR_EQ(a.current, r.sched);
  /* discard the second: destroy, never fn */
  CHECK_OK(tapir_work_discard(wb));
  CHECK_EQ(atomic_load(&b.c.calls), 0);
  CHECK_EQ(atomic_load(&b.c.destroys), 1);
  /* (a work item is uniquely owned: using it again is documented as undefined,
   * like a double free, so it is not tried here) */
  CHECK_ST(tapir_work_run(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_work_discard(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(atomic_load(&a.c.calls), 1);
  CHECK_EQ(atomic_load(&b.c.destroys), 1);
  work_fini(&a);
  /* the ctx destroy runs once, when the last reference goes */
  CHECK_EQ(atomic_load(&r.ctx_destroyed), 0);
  h_recsched_fini(&r);
  CHECK(h_wait_eq(&r.ctx_destroyed, 1, h_prompt_ms()));
}

typedef struct {
  h_recsched *r;
} runner_arg;

static void *run_items_elsewhere(void *arg) {
  runner_arg *a = (runner_arg *)arg;
  h_recsched_run_all(a->r);
  return NULL;
}

static void continuation_on_foreign_scheduler(void) {
  h_recsched r;
  if (!h_recsched_init(&r)) return;
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s), *c = NULL;
  h_counter cc;
  h_counter_init(&cc);
  tapir_continuation_options o = {sizeof o, 0, r.sched, NULL};
  CHECK_OK(tapir_task_continue_with(a, h_count_cont, &cc, h_count_destroy, &o, &c));
  /* the continuation keeps the scheduler alive after our handle is gone */
  h_recsched_fini(&r);
  CHECK_EQ(atomic_load(&r.ctx_destroyed), 0);
  CHECK_OK(tapir_source_set_result(s, h_int(1), NULL));
  CHECK_EQ(atomic_load(&r.posted), 1); /* exactly one post for that continuation */
  runner_arg ra = {&r};
  pthread_t t = h_spawn(run_items_elsewhere, &ra);
  h_join(t);
  CHECK_EQ(atomic_load(&cc.calls), 1);
  CHECK(pthread_equal(cc.thread, t));
  CHECK_EQ(h_settle(c), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(c));
  CHECK(h_wait_eq(&r.ctx_destroyed, 1, h_prompt_ms()));
  h_recsched_fini(&r); /* frees the queue array */
}

static void noop_post(void *ctx, tapir_work *work) {
  (void)ctx;
  (void)tapir_work_discard(work);
}

static void foreign_scheduler_arguments(void) {
  size_t live = h_live();
  atomic_int ctx_destroyed = 0;
  const tapir_scheduler *s = NULL;
  tapir_scheduler_vtable good = {sizeof good, noop_post, h_bump_destroy};
  tapir_scheduler_vtable no_post = {sizeof no_post, NULL, h_bump_destroy};
  tapir_scheduler_vtable zero_size = {0, noop_post, h_bump_destroy};
  CHECK_ST(tapir_scheduler_new_foreign(NULL, &ctx_destroyed, &s), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_new_foreign(&no_post, &ctx_destroyed, &s), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_new_foreign(&zero_size, &ctx_destroyed, &s), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_scheduler_new_foreign(&good, &ctx_destroyed, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(s == NULL);
  CHECK_EQ(h_live(), live);
  CHECK_EQ(atomic_load(&ctx_destroyed), 0); /* failed creation: ctx stays the caller's */
  /* a NULL destroy is allowed; a posted item the host discards runs its destroy */
  tapir_scheduler_vtable no_destroy = {sizeof no_destroy, noop_post, NULL};
  REQUIRE_OK(tapir_scheduler_new_foreign(&no_destroy, NULL, &s));
  work_rec w;
  work_init(&w);
  CHECK_OK(tapir_scheduler_post(s, work_fn, &w, work_destroy));
  CHECK_EQ(atomic_load(&w.c.destroys), 1);
  CHECK_EQ(atomic_load(&w.c.calls), 0);
  CHECK_OK(tapir_scheduler_release(s));
  /* with a destroy: exactly once */
  REQUIRE_OK(tapir_scheduler_new_foreign(&good, &ctx_destroyed, &s));
  CHECK_OK(tapir_scheduler_release(s));
  CHECK(h_wait_eq(&ctx_destroyed, 1, h_prompt_ms()));
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&ctx_destroyed), 1);
}

/* CT-16: a callback running on R that registers a continuation without a
 * scheduler gets the default pool, never R implicitly. */
typedef struct {
  h_counter inner;
  const tapir_task *cont;
  const tapir_task *unwrapped;
} ct16_rec;

static void ct16_work(void *ud) {
  ct16_rec *r = (ct16_rec *)ud;
  const tapir_task *done = NULL, *outer = NULL;
  if (tapir_task_from_result(h_int(1), NULL, &done) != TAPIR_STATUS_OK) return;
  CHECK_OK(tapir_task_continue_with(done, h_count_cont, &r->inner, h_count_destroy, NULL, &r->cont));
  CHECK_OK(tapir_task_from_result((void *)tapir_task_retain(done), h_release_task_value, &outer));
  CHECK_OK(tapir_task_unwrap(outer, &r->unwrapped));
  tapir_task_release(outer);
  tapir_task_release(done);
}

static void ct16_current_scheduler_not_captured(void) {
  h_recsched r;
  if (!h_recsched_init(&r)) return;
  ct16_rec rec;
  memset(&rec, 0, sizeof rec);
  h_counter_init(&rec.inner);
  CHECK_OK(tapir_scheduler_post(r.sched, ct16_work, &rec, NULL));
  CHECK_EQ(h_recsched_run_all(&r), 1);
  REQUIRE(rec.cont != NULL);
  CHECK_EQ(h_settle(rec.cont), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(!pthread_equal(rec.inner.thread, pthread_self())); /* ran on the pool */
  CHECK_EQ(h_settle(rec.unwrapped), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(atomic_load(&r.posted), 1); /* only our own post */
  CHECK(h_wait_eq(&rec.inner.destroys, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(rec.cont));
  CHECK_OK(tapir_task_release(rec.unwrapped));
  h_recsched_fini(&r);
  CHECK(h_wait_eq(&r.ctx_destroyed, 1, h_prompt_ms()));
}

/* Releasing the last reference to a manual scheduler discards its queue: a
 * queued continuation never runs, its user data is destroyed once, and its task
 * fails with SCHEDULER_ERROR (nothing is left waiting, nothing leaks). */
static void manual_release_discards_queued_continuations(void) {
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s), *c = NULL;
  h_counter cc;
  h_counter_init(&cc);
  tapir_continuation_options o = {sizeof o, 0, m, NULL};
  CHECK_OK(tapir_task_continue_with(a, h_count_cont, &cc, h_count_destroy, &o, &c));
  CHECK_OK(tapir_source_set_result(s, NULL, NULL)); /* queued on m */
  CHECK_OK(tapir_scheduler_release(m));
  CHECK_ST(tapir_task_wait(c, h_prompt_ms()), TAPIR_STATUS_FAULTED);
  const tapir_error *e = NULL;
  if (tapir_task_error(c, &e) == TAPIR_STATUS_OK) {
    CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_SCHEDULER_ERROR);
    tapir_error_release(e);
  }
  CHECK(h_wait_eq(&cc.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&cc.calls), 0);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(c));
}

/* tapir_work_discard on a continuation's work item: destroy, no callback, and
 * the continuation task fails with SCHEDULER_ERROR. */
static void foreign_discard_faults_continuation(void) {
  h_recsched r;
  if (!h_recsched_init(&r)) return;
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s), *c = NULL;
  h_counter cc;
  h_counter_init(&cc);
  tapir_continuation_options o = {sizeof o, 0, r.sched, NULL};
  CHECK_OK(tapir_task_continue_with(a, h_count_cont, &cc, h_count_destroy, &o, &c));
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_EQ(h_recsched_discard_all(&r), 1);
  CHECK_ST(tapir_task_wait(c, h_prompt_ms()), TAPIR_STATUS_FAULTED);
  const tapir_error *e = NULL;
  if (tapir_task_error(c, &e) == TAPIR_STATUS_OK) {
    CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_SCHEDULER_ERROR);
    tapir_error_release(e);
  }
  CHECK_EQ(atomic_load(&cc.destroys), 1);
  CHECK_EQ(atomic_load(&cc.calls), 0);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(c));
  h_recsched_fini(&r);
  CHECK(h_wait_eq(&r.ctx_destroyed, 1, h_prompt_ms()));
}

/* The inline scheduler bounds its nesting: work that posts more inline work,
 * a million levels deep, on a 256 KiB stack, does not overflow. */
typedef struct {
  const tapir_scheduler *inl;
  long remaining;
  long ran;
} nest_rec;

static void nest_fn(void *ud) {
  nest_rec *n = (nest_rec *)ud;
  n->ran++;
  if (n->remaining-- > 0) (void)tapir_scheduler_post(n->inl, nest_fn, n, NULL);
}

static void *nest_on_small_stack(void *arg) {
  nest_rec *n = (nest_rec *)arg;
  CHECK_OK(tapir_scheduler_post(n->inl, nest_fn, n, NULL));
  return NULL;
}

static void inline_scheduler_nesting_is_bounded(void) {
  nest_rec n = {NULL, h_deep_n(), 0};
  REQUIRE_OK(tapir_scheduler_inline(&n.inl));
  h_run_on_stack(nest_on_small_stack, &n, 256 * 1024);
  /* everything ran before the outermost post returned */
  CHECK_EQ(n.ran, h_deep_n() + 1);
  CHECK_OK(tapir_scheduler_release(n.inl));
}

/* A synchronous continuation reports the scheduler of the code that completed
 * its antecedent: the manual scheduler inside run_pending, none on a plain thread. */
typedef struct {
  const tapir_source *s;
} complete_rec;

static void complete_source_work(void *ud) {
  CHECK_OK(tapir_source_set_result(((complete_rec *)ud)->s, NULL, NULL));
}

typedef struct {
  const tapir_scheduler *current;
  atomic_int calls;
} current_rec;

static void record_current(void *ud, const tapir_task *t) {
  (void)t;
  current_rec *r = (current_rec *)ud;
  r->current = tapir_scheduler_current();
  atomic_fetch_add(&r->calls, 1);
}

static void scheduler_current_in_sync_continuation(void) {
  const tapir_continuation_options sync = {sizeof sync, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  complete_rec cr = {h_source()};
  const tapir_task *a = h_task_of(cr.s);
  current_rec rec = {NULL, 0};
  CHECK_OK(tapir_task_on_complete(a, record_current, &rec, NULL, &sync, NULL));
  CHECK_OK(tapir_scheduler_post(m, complete_source_work, &cr, NULL));
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(atomic_load(&rec.calls), 1);
  CHECK_PTR_EQ(rec.current, m);
  if (rec.current) tapir_scheduler_release(rec.current);
  CHECK_OK(tapir_source_release(cr.s));
  CHECK_OK(tapir_task_release(a));

  /* completed on this plain thread: no current scheduler */
  cr.s = h_source();
  a = h_task_of(cr.s);
  rec = (current_rec){NULL, 0};
  CHECK_OK(tapir_task_on_complete(a, record_current, &rec, NULL, &sync, NULL));
  complete_source_work(&cr);
  CHECK_EQ(atomic_load(&rec.calls), 1);
  CHECK(rec.current == NULL);
  if (rec.current) tapir_scheduler_release(rec.current);
  CHECK_OK(tapir_source_release(cr.s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_scheduler_release(m));
}

/* ---- shutdown */

/* tapir_shutdown from a pool thread cannot join that thread: it is refused with
 * INVALID_STATE and does nothing (the pool keeps running). */
static void shutdown_from_pool_thread_is_refused(void *arg) {
  atomic_int *st = (atomic_int *)arg;
  atomic_store(st, (int)tapir_shutdown());
}

static void shutdown_refused_on_a_pool_thread(void) {
  const tapir_scheduler *d = NULL;
  REQUIRE_OK(tapir_scheduler_default(&d));
  atomic_int st = -1;
  CHECK_OK(tapir_scheduler_post(d, shutdown_from_pool_thread_is_refused, &st, NULL));
  double end = h_now_ms() + h_prompt_ms();
  while (atomic_load(&st) == -1 && h_now_ms() < end) sched_yield();
  CHECK_ST(atomic_load(&st), TAPIR_STATUS_INVALID_STATE);
  /* the pool still runs work */
  work_rec w;
  work_init(&w);
  CHECK_OK(tapir_scheduler_post(d, work_fn, &w, work_destroy));
  CHECK(h_wait_eq(&w.c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&w.c.calls), 1);
  work_fini(&w);
  CHECK_OK(tapir_scheduler_release(d));
  CHECK_OK(tapir_shutdown());
}

static void shutdown_joins_threads_and_library_restarts(void) {
  /* baseline without the pool (earlier tests in this process may have started it) */
  CHECK_OK(tapir_shutdown());
  int before = h_thread_count();
  const tapir_scheduler *d = NULL;
  REQUIRE_OK(tapir_scheduler_default(&d));
  work_rec w;
  work_init(&w);
  CHECK_OK(tapir_scheduler_post(d, work_fn, &w, work_destroy));
  CHECK(h_wait_eq(&w.c.destroys, 1, h_prompt_ms()));
  work_fini(&w);
  CHECK(h_thread_count() > before); /* the pool started lazily */
  CHECK_OK(tapir_shutdown());
  char names[1024];
  CHECKF(h_wait_thread_count(before, h_prompt_ms()), "%d threads after shutdown (%s), %d before the pool started",
         h_thread_count(), h_thread_names(names, sizeof names), before);
  CHECK_OK(tapir_shutdown()); /* idempotent */

  /* continued use: the pool starts again on demand */
  work_init(&w);
  CHECK_OK(tapir_scheduler_post(d, work_fn, &w, work_destroy));
  CHECK(h_wait_eq(&w.c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&w.c.calls), 1);
  work_fini(&w);
  const tapir_task *done = NULL, *c = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &done));
  h_counter cc;
  h_counter_init(&cc);
  CHECK_OK(tapir_task_continue_with(done, h_count_cont, &cc, NULL, NULL, &c));
  CHECK_EQ(h_settle(c), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(c));
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_scheduler_release(d));
  CHECK_OK(tapir_shutdown());
  CHECKF(h_wait_thread_count(before, h_prompt_ms()), "%d threads after the second shutdown (%s), want %d",
         h_thread_count(), h_thread_names(names, sizeof names), before);
}

void register_scheduler_tests(void) {
  REG(scheduler_inline_runs_on_caller);
  REG(scheduler_default_runs_elsewhere);
  REG(scheduler_current_outside_callbacks_is_null);
  REG(manual_post_from_threads_run_on_pump);
  REG(manual_fifo_and_item_budget);
  REG(manual_time_budget);
  REG(manual_release_discards_queued_work);
  REG(manual_scheduler_arguments);
  REG(continuation_on_manual_scheduler);
  REG(foreign_scheduler_post_run_discard);
  REG(continuation_on_foreign_scheduler);
  REG(foreign_scheduler_arguments);
  REG(ct16_current_scheduler_not_captured);
  REG(manual_release_discards_queued_continuations);
  REG(foreign_discard_faults_continuation);
  REG(inline_scheduler_nesting_is_bounded);
  REG(scheduler_current_in_sync_continuation);
  REG(shutdown_joins_threads_and_library_restarts);
  REG(shutdown_refused_on_a_pool_thread);
}
