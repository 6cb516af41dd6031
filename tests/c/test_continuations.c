/* Continuations (CT) and removable registrations. */
#include "harness.h"


static void complete_as(const tapir_source *s, int kind, void *value) {
  if (kind == H_RESULT) {
    CHECK_OK(tapir_source_set_result(s, value, NULL));
  } else if (kind == H_ERROR) {
    const tapir_error *e = h_error(1, "antecedent failed");
    CHECK_OK(tapir_source_set_error(s, e));
    tapir_error_release(e);
  } else {
    CHECK_OK(tapir_source_set_canceled(s, NULL));
  }
}

/* Releases a task after marking any error observed (keeps the hook quiet). */
static void release_task(const tapir_task *t) {
  const tapir_error *e = NULL;
  if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_FAULTED && tapir_task_error(t, &e) == TAPIR_STATUS_OK)
    tapir_error_release(e);
  CHECK_OK(tapir_task_release(t));
}

/* A callback ran "dispatched" if it did not run on the completing thread while
 * the completing call was still in progress. */
static bool was_dispatched(h_counter *c, pthread_t completer) {
  return !pthread_equal(c->thread, completer) || atomic_load(&c->saw_returned);
}

/* ---- CT-01 */

typedef struct {
  h_counter c;
  uint64_t antecedent_id;
  uint64_t next_task_id;
} ct01_rec;

static void ct01_cb(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  ct01_rec *r = (ct01_rec *)ud;
  r->antecedent_id = tapir_task_id(antecedent);
  const tapir_task *nt = NULL;
  if (tapir_source_task(next, &nt) == TAPIR_STATUS_OK) {
    r->next_task_id = tapir_task_id(nt);
    tapir_task_release(nt);
  }
  h_count_cont(&r->c, antecedent, next);
}

static void ct01_continuation_fires_once(void) {
  int a_state = 0;
  const tapir_source *s = NULL;
  REQUIRE_OK(tapir_source_new(0, &a_state, &s));
  const tapir_task *a = h_task_of(s);
  ct01_rec r = {0};
  h_counter_init(&r.c);
  const tapir_task *c = NULL;
  REQUIRE_OK(tapir_task_continue_with(a, ct01_cb, &r, h_count_destroy, NULL, &c));
  CHECK(c != NULL);
  CHECK_EQ(tapir_task_get_status(c), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(s, h_int(41), NULL));
  CHECK_EQ(h_settle(c), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(h_wait_eq(&r.c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&r.c.calls), 1);
  CHECK_EQ(atomic_load(&r.c.destroys_before_call), 0); /* destroy after the callback */
  CHECK_EQ(r.c.status, TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_PTR_EQ(r.c.value, h_int(41));
  CHECK_EQ(r.antecedent_id, tapir_task_id(a));
  CHECK_EQ(r.next_task_id, tapir_task_id(c)); /* `next` completes the task we were given */
  void *v = NULL;
  CHECK_OK(tapir_task_result(c, &v));
  CHECK_PTR_EQ(v, h_int(42));
  /* the continuation's state is its own user data, never the antecedent's */
  CHECKF(tapir_task_state(c) != &a_state, "continuation task reports the antecedent's state");
  CHECKF(tapir_task_state(c) == &r, "continuation state %p, want its user_data %p", tapir_task_state(c),
         (void *)&r);
  /* destroy runs after the callback returned, on the callback's thread: wait for it,
   * then a quiet period shows that neither runs twice */
  CHECK(h_wait_eq(&r.c.destroys, 1, h_prompt_ms()));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&r.c.calls), 1);
  CHECK_EQ(atomic_load(&r.c.destroys), 1);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(c));
}

/* ---- CT-02 */

static void ct02_on_completed_antecedent(void) {
  for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
    const tapir_source *s = h_source();
    const tapir_task *a = h_task_of(s);
    complete_as(s, kind, h_int(1));
    atomic_int returned = 0;
    h_counter sc, dc;
    h_counter_init(&sc);
    h_counter_init(&dc);
    dc.completer_returned = &returned;
    const tapir_task *st = NULL, *dt = NULL;
    /* synchronous: runs on this thread before the registration returns */
    CHECK_OK(tapir_task_continue_with(a, h_count_cont, &sc, h_count_destroy, h_sync(), &st));
    CHECKF(atomic_load(&sc.calls) == 1, "kind %d: sync continuation had not run on return", kind);
    CHECK(pthread_equal(sc.thread, pthread_self()));
    CHECK_EQ(atomic_load(&sc.destroys), 1);
    /* default: dispatched, never inline in the registering call */
    CHECK_OK(tapir_task_continue_with(a, h_count_cont, &dc, h_count_destroy, NULL, &dt));
    atomic_store(&returned, 1);
    CHECK_EQ(h_settle(dt), TAPIR_TASK_STATUS_SUCCEEDED);
    CHECK(h_wait_eq(&dc.destroys, 1, h_prompt_ms()));
    CHECK_EQ(atomic_load(&dc.calls), 1);
    CHECKF(was_dispatched(&dc, pthread_self()), "kind %d: default continuation ran inline", kind);
    CHECK_EQ(h_settle(st), TAPIR_TASK_STATUS_SUCCEEDED);
    CHECK_EQ(sc.status, kind == H_RESULT ? 1 : kind == H_ERROR ? 2 : 3);
    CHECK_OK(tapir_source_release(s));
    release_task(a);
    CHECK_OK(tapir_task_release(st));
    CHECK_OK(tapir_task_release(dt));
  }
}

/* ---- CT-03: a continuation's own outcome */

static void fail_next(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  CHECK_OK(tapir_source_set_error(next, (const tapir_error *)ud));
}

static void cancel_next(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)ud;
  (void)antecedent;
  CHECK_OK(tapir_source_set_canceled(next, NULL));
}

static void ct03_continuation_outcome(void) {
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  const tapir_error *e = h_error(303, "from the continuation");
  const tapir_task *f = NULL, *x = NULL;
  CHECK_OK(tapir_task_continue_with(a, fail_next, (void *)e, NULL, NULL, &f));
  CHECK_OK(tapir_task_continue_with(a, cancel_next, NULL, NULL, NULL, &x));
  /* chain t1 -> t2 -> t3, each adds one */
  h_counter c1, c2, c3;
  h_counter_init(&c1);
  h_counter_init(&c2);
  h_counter_init(&c3);
  const tapir_task *t1 = NULL, *t2 = NULL, *t3 = NULL;
  CHECK_OK(tapir_task_continue_with(a, h_count_cont, &c1, NULL, NULL, &t1));
  CHECK_OK(tapir_task_continue_with(t1, h_count_cont, &c2, NULL, NULL, &t2));
  CHECK_OK(tapir_task_continue_with(t2, h_count_cont, &c3, NULL, h_sync(), &t3));
  CHECK_OK(tapir_source_set_result(s, h_int(2), NULL));

  CHECK_EQ(h_settle(f), TAPIR_TASK_STATUS_FAULTED);
  const tapir_error *got = NULL;
  CHECK_OK(tapir_task_error(f, &got));
  CHECK_PTR_EQ(got, e);
  tapir_error_release(got);
  CHECK_EQ(tapir_task_error_count(f), 1);
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED); /* antecedent untouched */
  CHECK_EQ(h_settle(x), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(h_settle(t3), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = NULL;
  CHECK_OK(tapir_task_result(t3, &v));
  CHECK_PTR_EQ(v, h_int(5));
  CHECK_EQ(atomic_load(&c1.calls) + atomic_load(&c2.calls) + atomic_load(&c3.calls), 3);

  CHECK_OK(tapir_error_release(e));
  CHECK_OK(tapir_source_release(s));
  const tapir_task *all[] = {a, f, x, t1, t2, t3};
  for (size_t i = 0; i < 6; i++) CHECK_OK(tapir_task_release(all[i]));
}

/* A callback that neither completes nor retains `next`: its task can never
 * complete, so (like any abandoned source) it is a broken promise. */
static void forget_next(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  (void)next;
  atomic_fetch_add((atomic_int *)ud, 1);
}

static void continuation_that_forgets_next_is_broken_promise(void) {
  const tapir_task *done = NULL, *c = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &done));
  atomic_int ran = 0;
  REQUIRE_OK(tapir_task_continue_with(done, forget_next, &ran, NULL, NULL, &c));
  CHECK_ST(tapir_task_wait(c, h_prompt_ms()), TAPIR_STATUS_FAULTED);
  CHECK_EQ(atomic_load(&ran), 1);
  const tapir_error *e = NULL;
  if (tapir_task_error(c, &e) == TAPIR_STATUS_OK) {
    CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_BROKEN_PROMISE);
    tapir_error_release(e);
  }
  CHECK_OK(tapir_task_release(c));
  CHECK_OK(tapir_task_release(done));
}

/* ---- CT-04: outcome filters */

static const struct {
  const char *name;
  uint32_t flag;
  bool admits[3]; /* succeeded, faulted, canceled */
} filters[] = {
    {"ONLY_ON_SUCCESS", TAPIR_CONTINUATION_ONLY_ON_SUCCESS, {true, false, false}},
    {"ONLY_ON_FAULTED", TAPIR_CONTINUATION_ONLY_ON_FAULTED, {false, true, false}},
    {"ONLY_ON_CANCELED", TAPIR_CONTINUATION_ONLY_ON_CANCELED, {false, false, true}},
    {"NOT_ON_SUCCESS", TAPIR_CONTINUATION_NOT_ON_SUCCESS, {false, true, true}},
    {"NOT_ON_FAULTED", TAPIR_CONTINUATION_NOT_ON_FAULTED, {true, false, true}},
    {"NOT_ON_CANCELED", TAPIR_CONTINUATION_NOT_ON_CANCELED, {true, true, false}},
};

static const char *const kind_names[] = {"succeeded", "faulted", "canceled"};

static void ct04_outcome_filters(void) {
  for (int kind = 0; kind < 3; kind++)
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++)
      for (int sync = 0; sync < 2; sync++)
        for (int after = 0; after < 2; after++) {
          const tapir_source *s = h_source();
          const tapir_task *a = h_task_of(s);
          if (after) complete_as(s, kind, h_int(1));
          h_counter c, d;
          h_counter_init(&c);
          h_counter_init(&d);
          tapir_continuation_options o = {sizeof o, filters[f].flag, NULL, NULL};
          if (sync) o.flags |= TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY;
          const tapir_task *ct = NULL, *dt = NULL;
          int32_t st = tapir_task_continue_with(a, h_count_cont, &c, h_count_destroy, &o, &ct);
          CHECKF(st == TAPIR_STATUS_OK, "%s %s: continue_with -> %s", filters[f].name, kind_names[kind],
                 h_status_name(st));
          if (st != TAPIR_STATUS_OK) {
            tapir_source_try_set_result(s, NULL, NULL);
            tapir_source_release(s);
            release_task(a);
            continue;
          }
          /* a default continuation on the (possibly canceled) continuation */
          CHECK_OK(tapir_task_continue_with(ct, h_count_cont, &d, h_count_destroy, NULL, &dt));
          if (!after) complete_as(s, kind, h_int(1));
          bool admitted = filters[f].admits[kind];
          if (sync && admitted)
            CHECKF(atomic_load(&c.calls) == 1, "%s %s sync %s: not run inline", filters[f].name,
                   kind_names[kind], after ? "after" : "before");
          int32_t cst = h_settle(ct);
          CHECK_EQ(h_settle(dt), TAPIR_TASK_STATUS_SUCCEEDED);
          CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
          CHECK(h_wait_eq(&d.destroys, 1, h_prompt_ms()));
          CHECKF(atomic_load(&c.calls) == (admitted ? 1 : 0) && cst == (admitted ? TAPIR_TASK_STATUS_SUCCEEDED
                                                                                : TAPIR_TASK_STATUS_CANCELED),
                 "%s on %s (%s, registered %s): callback ran %d times, continuation status %d", filters[f].name,
                 kind_names[kind], sync ? "sync" : "default", after ? "after" : "before", atomic_load(&c.calls),
                 (int)cst);
          CHECK_EQ(atomic_load(&d.calls), 1);
          CHECK_EQ(d.status, admitted ? TAPIR_TASK_STATUS_SUCCEEDED : TAPIR_TASK_STATUS_CANCELED);
          CHECK_OK(tapir_source_release(s));
          release_task(a);
          CHECK_OK(tapir_task_release(ct));
          CHECK_OK(tapir_task_release(dt));
        }
}

/* on_complete honours the same filters: a non-matching callback never runs,
 * its destroy runs once. */
static void on_complete_filters(void) {
  for (int kind = 0; kind < 3; kind++)
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++) {
      const tapir_source *s = h_source();
      const tapir_task *a = h_task_of(s);
      h_counter c;
      h_counter_init(&c);
      tapir_continuation_options o = {sizeof o, filters[f].flag, NULL, NULL};
      CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, &o, NULL));
      complete_as(s, kind, NULL);
      CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
      h_sleep_ms(2);
      CHECKF(atomic_load(&c.calls) == (filters[f].admits[kind] ? 1 : 0), "on_complete %s on %s: ran %d times",
             filters[f].name, kind_names[kind], atomic_load(&c.calls));
      CHECK_OK(tapir_source_release(s));
      release_task(a);
    }
}

/* ---- CT-05: invalid options never register anything */

static void ct05_invalid_options(void) {
  const uint32_t bad[] = {
      TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED | TAPIR_CONTINUATION_NOT_ON_CANCELED,
      TAPIR_CONTINUATION_ONLY_ON_SUCCESS | TAPIR_CONTINUATION_ONLY_ON_FAULTED,
      TAPIR_CONTINUATION_ONLY_ON_SUCCESS | TAPIR_CONTINUATION_ONLY_ON_CANCELED,
      TAPIR_CONTINUATION_ONLY_ON_FAULTED | TAPIR_CONTINUATION_ONLY_ON_CANCELED,
      TAPIR_CONTINUATION_ONLY_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_SUCCESS,
      TAPIR_CONTINUATION_ONLY_ON_CANCELED | TAPIR_CONTINUATION_NOT_ON_CANCELED,
      TAPIR_CONTINUATION_LONG_RUNNING | TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
      1u << 11,
      1u << 31,
      0xFFFFFFFFu,
  };
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  h_counter c;
  h_counter_init(&c);
  size_t live = h_live();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tapir_continuation_options o = {sizeof o, bad[i], NULL, NULL};
    const tapir_task *ct = (const tapir_task *)h_int(0x10);
    const tapir_registration *reg = (const tapir_registration *)h_int(0x10);
    CHECKF(tapir_task_continue_with(a, h_count_cont, &c, h_count_destroy, &o, &ct) ==
               TAPIR_STATUS_INVALID_ARGUMENT,
           "continue_with accepted flags 0x%x", (unsigned)bad[i]);
    CHECKF(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, &o, &reg) == TAPIR_STATUS_INVALID_ARGUMENT,
           "on_complete accepted flags 0x%x", (unsigned)bad[i]);
    CHECK_PTR_EQ(ct, h_int(0x10));
    CHECK_PTR_EQ(reg, h_int(0x10));
  }
  /* options too small to hold the flags */
  for (uint32_t size = 0; size < 8; size += 4) {
    tapir_continuation_options o = {size, 0, NULL, NULL};
    const tapir_task *ct = NULL;
    CHECKF(tapir_task_continue_with(a, h_count_cont, &c, h_count_destroy, &o, &ct) ==
               TAPIR_STATUS_INVALID_ARGUMENT,
           "struct_size %u accepted", (unsigned)size);
  }
  CHECK_EQ(h_live(), live);
  /* the antecedent is unaffected, and nothing was registered */
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  h_sleep_ms(50);
  CHECK_EQ(atomic_load(&c.calls), 0);
  CHECK_EQ(atomic_load(&c.destroys), 0);
  /* valid redundant combinations are accepted */
  tapir_continuation_options ok = {sizeof ok, TAPIR_CONTINUATION_ONLY_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED,
                                   NULL, NULL};
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, &ok, NULL));
  ok.flags = TAPIR_CONTINUATION_LONG_RUNNING;
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, &ok, NULL));
  ok.flags = TAPIR_CONTINUATION_LAZY_CANCELLATION;
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, &ok, NULL));
  /* an older, shorter struct: fields past struct_size read as zero (scheduler
   * ignored here, or this would be a wrong-kind handle) */
  tapir_continuation_options older = {8, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
                                      (const tapir_scheduler *)h_int(0x10), NULL};
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, &older, NULL));
  CHECK(h_wait_eq(&c.destroys, 4, h_prompt_ms()));
  CHECK_EQ(atomic_load(&c.calls), 4);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
}

/* ---- CT-06 / CT-08: inline vs dispatched, seen from the completing thread */

typedef struct {
  const tapir_source *source;
  atomic_int returned;
  h_counter *probe; /* callback state to read right after set_result returns */
  int calls_at_return;
} completer;

static void *completer_body(void *arg) {
  completer *c = (completer *)arg;
  CHECK_OK(tapir_source_set_result(c->source, h_int(6), NULL));
  if (c->probe) c->calls_at_return = atomic_load(&c->probe->calls);
  atomic_store(&c->returned, 1);
  return NULL;
}

static void ct06_sync_continuation_runs_inside_set(void) {
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  h_counter sc, oc;
  h_counter_init(&sc);
  h_counter_init(&oc);
  const tapir_task *ct = NULL;
  CHECK_OK(tapir_task_continue_with(a, h_count_cont, &sc, h_count_destroy, h_sync(), &ct));
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &oc, h_count_destroy, h_sync(), NULL));
  completer x = {.source = s, .probe = &sc};
  pthread_t xt = h_spawn(completer_body, &x);
  h_join(xt);
  CHECK_EQ(x.calls_at_return, 1); /* done before set_result returned */
  CHECK(pthread_equal(sc.thread, xt));
  CHECK(pthread_equal(oc.thread, xt));
  CHECK_EQ(atomic_load(&oc.calls), 1);
  CHECK_EQ(tapir_task_get_status(ct), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(ct));
}

typedef struct {
  h_counter c;
  atomic_int *gate; /* set by the completer after set_result returned */
  atomic_int waited_ok;
} blocking_rec;

static void blocking_cb(void *ud, const tapir_task *t) {
  blocking_rec *r = (blocking_rec *)ud;
  h_count_cb(&r->c, t);
  /* bounded: if the library ran us inline, this times out instead of deadlocking */
  atomic_store(&r->waited_ok, h_wait_eq(r->gate, 1, h_prompt_ms()));
}

static void ct08_default_continuation_is_dispatched(void) {
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  completer x = {.source = s};
  blocking_rec r = {0};
  h_counter_init(&r.c);
  r.c.completer_returned = &x.returned;
  r.gate = &x.returned;
  CHECK_OK(tapir_task_on_complete(a, blocking_cb, &r, h_count_destroy, NULL, NULL));
  h_counter cc;
  h_counter_init(&cc);
  cc.completer_returned = &x.returned;
  const tapir_task *ct = NULL;
  CHECK_OK(tapir_task_continue_with(a, h_count_cont, &cc, h_count_destroy, NULL, &ct));
  pthread_t xt = h_spawn(completer_body, &x);
  h_join(xt);
  /* set_result did not wait for the callback: the callback waited for set_result to
   * return (waited_ok below), which an inline run could not have seen */
  CHECK(h_wait_eq(&r.c.destroys, 1, 2 * h_prompt_ms()));
  CHECK(h_wait_eq(&cc.destroys, 1, h_prompt_ms()));
  CHECK(atomic_load(&r.waited_ok));
  CHECK(was_dispatched(&r.c, xt));
  CHECK(was_dispatched(&cc, xt));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(ct));
}

/* ---- CT-09: order among the continuations of one task */

typedef struct {
  h_counter c;
  h_recsched *r;
  int posted_at_entry;
} ordered_rec;

static void ordered_cb(void *ud, const tapir_task *t) {
  ordered_rec *o = (ordered_rec *)ud;
  o->posted_at_entry = atomic_load(&o->r->posted);
  h_count_cb(&o->c, t);
}

static void ct09_order_sync_after_dispatch(void) {
  h_recsched r;
  if (!h_recsched_init(&r)) return;
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  atomic_int seq = 0;
  ordered_rec sync_recs[3], d_recs[2];
  tapir_continuation_options on_r = {sizeof on_r, 0, r.sched, NULL};
  for (int i = 0; i < 3; i++) {
    h_counter_init(&sync_recs[i].c);
    sync_recs[i].c.order_src = &seq;
    sync_recs[i].r = &r;
  }
  for (int i = 0; i < 2; i++) {
    h_counter_init(&d_recs[i].c);
    d_recs[i].c.order_src = &seq;
    d_recs[i].r = &r;
  }
  /* S1, D1, S2, D2, S3 */
  CHECK_OK(tapir_task_on_complete(a, ordered_cb, &sync_recs[0], NULL, h_sync(), NULL));
  CHECK_OK(tapir_task_on_complete(a, ordered_cb, &d_recs[0], NULL, &on_r, NULL));
  CHECK_OK(tapir_task_on_complete(a, ordered_cb, &sync_recs[1], NULL, h_sync(), NULL));
  CHECK_OK(tapir_task_on_complete(a, ordered_cb, &d_recs[1], NULL, &on_r, NULL));
  CHECK_OK(tapir_task_on_complete(a, ordered_cb, &sync_recs[2], NULL, h_sync(), NULL));
  CHECK_EQ(atomic_load(&r.posted), 0);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  /* S1, S2, S3 ran on this thread, in registration order, before set returned */
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(atomic_load(&sync_recs[i].c.calls), 1);
    CHECK_EQ(atomic_load(&sync_recs[i].c.order), i);
    CHECK(pthread_equal(sync_recs[i].c.thread, pthread_self()));
  }
  /* the dispatched ones were handed to R (D1 then D2) before S1 started */
  CHECKF(sync_recs[0].posted_at_entry == 2, "R had %d posts when S1 started, want 2", sync_recs[0].posted_at_entry);
  CHECK_EQ(atomic_load(&d_recs[0].c.calls), 0);
  CHECK_EQ(h_recsched_run_all(&r), 2);
  CHECK_EQ(atomic_load(&d_recs[0].c.order), 3);
  CHECK_EQ(atomic_load(&d_recs[1].c.order), 4);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  h_recsched_fini(&r);
  CHECK(h_wait_eq(&r.ctx_destroyed, 1, h_prompt_ms()));
}

static void sync_continuations_in_registration_order(void) {
  enum { N = 64 };
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  atomic_int seq = 0;
  h_counter cs[N];
  for (int i = 0; i < N; i++) {
    h_counter_init(&cs[i]);
    cs[i].order_src = &seq;
    CHECK_OK(tapir_task_on_complete(a, h_count_cb, &cs[i], h_count_destroy, h_sync(), NULL));
  }
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  for (int i = 0; i < N; i++) {
    CHECKF(atomic_load(&cs[i].order) == i, "continuation %d ran as number %d", i, atomic_load(&cs[i].order));
    CHECK_EQ(atomic_load(&cs[i].destroys), 1);
  }
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
}

/* ---- RUN_CONTINUATIONS_ASYNCHRONOUSLY (seed 002) */

static void rca_source_never_runs_continuations_inline(void) {
  const tapir_source *s = NULL;
  REQUIRE_OK(tapir_source_new(TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY, NULL, &s));
  const tapir_task *a = h_task_of(s);
  completer x = {.source = s};
  h_counter sc, oc;
  h_counter_init(&sc);
  h_counter_init(&oc);
  sc.completer_returned = &x.returned;
  oc.completer_returned = &x.returned;
  const tapir_task *ct = NULL;
  CHECK_OK(tapir_task_continue_with(a, h_count_cont, &sc, h_count_destroy, h_sync(), &ct));
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &oc, h_count_destroy, h_sync(), NULL));
  pthread_t xt = h_spawn(completer_body, &x);
  h_join(xt);
  CHECK_EQ(h_settle(ct), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(h_wait_eq(&oc.destroys, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&sc.destroys, 1, h_prompt_ms()));
  CHECK(was_dispatched(&sc, xt));
  CHECK(was_dispatched(&oc, xt));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(ct));
}

/* The continuation flag gives the continuation *task* that behaviour: a sync
 * continuation on it is not run inside the callback's completion of `next`. */
typedef struct {
  atomic_int returned;
  pthread_t thread;
} rca_probe;

static void rca_cont(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  rca_probe *p = (rca_probe *)ud;
  p->thread = pthread_self();
  CHECK_OK(tapir_source_set_result(next, NULL, NULL));
  atomic_store(&p->returned, 1);
}

static void continuation_flag_run_continuations_async(void) {
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  rca_probe p = {0};
  tapir_continuation_options o = {sizeof o, TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY, NULL, NULL};
  const tapir_task *ct = NULL;
  CHECK_OK(tapir_task_continue_with(a, rca_cont, &p, NULL, &o, &ct));
  CHECK_EQ(tapir_task_options(ct) & TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
           TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
  h_counter sc;
  h_counter_init(&sc);
  sc.completer_returned = &p.returned;
  CHECK_OK(tapir_task_on_complete(ct, h_count_cb, &sc, h_count_destroy, h_sync(), NULL));
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK(h_wait_eq(&sc.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&sc.calls), 1);
  CHECK(was_dispatched(&sc, p.thread));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(ct));
}

/* ---- on_complete basics and registrations */

static void on_complete_basics(void) {
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  h_counter c1, c2;
  h_counter_init(&c1);
  h_counter_init(&c2);
  const tapir_registration *reg = NULL;
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c1, h_count_destroy, NULL, &reg));
  CHECK(reg != NULL);
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c2, NULL, h_sync(), NULL)); /* no registration wanted */
  CHECK_OK(tapir_source_set_result(s, h_int(3), NULL));
  CHECK_EQ(atomic_load(&c2.calls), 1);
  CHECK_EQ(c2.status, TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(h_wait_eq(&c1.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&c1.calls), 1);
  CHECK_EQ(atomic_load(&c1.destroys_before_call), 0);
  /* it ran, so it can no longer be removed */
  CHECK_ST(tapir_registration_remove(reg), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_OK(tapir_registration_release(reg));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
}

static void registration_remove(void) {
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  h_counter removed_d, removed_s, kept;
  h_counter_init(&removed_d);
  h_counter_init(&removed_s);
  h_counter_init(&kept);
  const tapir_registration *rd = NULL, *rs = NULL, *rk = NULL;
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &removed_d, h_count_destroy, NULL, &rd));
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &removed_s, h_count_destroy, h_sync(), &rs));
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &kept, h_count_destroy, NULL, &rk));
  CHECK_PTR_EQ(tapir_registration_retain(rd), rd);
  CHECK_OK(tapir_registration_release(rd));

  /* OK: removed, and destroy has already run when remove returns */
  CHECK_OK(tapir_registration_remove(rd));
  CHECK_EQ(atomic_load(&removed_d.destroys), 1);
  CHECK_OK(tapir_registration_remove(rs));
  CHECK_EQ(atomic_load(&removed_s.destroys), 1);
  /* a second remove: ALREADY_COMPLETED, nothing runs twice */
  CHECK_ST(tapir_registration_remove(rd), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_EQ(atomic_load(&removed_d.destroys), 1);
  /* releasing a registration does not remove it */
  CHECK_OK(tapir_registration_release(rk));

  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK(h_wait_eq(&kept.destroys, 1, h_prompt_ms()));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&kept.calls), 1);
  CHECK_EQ(atomic_load(&removed_d.calls), 0);
  CHECK_EQ(atomic_load(&removed_s.calls), 0);
  CHECK_EQ(atomic_load(&removed_d.destroys), 1);
  CHECK_EQ(atomic_load(&removed_s.destroys), 1);
  CHECK_ST(tapir_registration_remove(rs), TAPIR_STATUS_ALREADY_COMPLETED);

  /* handle rules */
  CHECK_OK(tapir_registration_release(rd));
  CHECK_OK(tapir_registration_release(rs));
  CHECK_ST(tapir_registration_release(rd), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_registration_remove(rs), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_registration_retain(rs) == NULL);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_registration_release(NULL));
  CHECK(tapir_registration_retain(NULL) == NULL);
  CHECK_ST(tapir_registration_remove(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
}

static void registration_outlives_task(void) {
  /* the registration handle stays valid, and removable, after our task handle
   * is gone (the source keeps the task alive) */
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  h_counter c;
  h_counter_init(&c);
  const tapir_registration *reg = NULL;
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, NULL, &reg));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_registration_remove(reg));
  CHECK_EQ(atomic_load(&c.destroys), 1);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release(s));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&c.calls), 0);
  CHECK_OK(tapir_registration_release(reg));
}

/* ---- continue_with completing `next` later, from another thread */

typedef struct {
  const tapir_source *next;
  atomic_int cb_returned;
  atomic_int completing;
  h_gate go;
} later_rec;

static void *complete_next_later(void *arg) {
  later_rec *r = (later_rec *)arg;
  h_gate_wait(&r->go);
  atomic_store(&r->completing, 1);
  CHECK_OK(tapir_source_set_result(r->next, h_int(7), NULL));
  CHECK_OK(tapir_source_release(r->next));
  return NULL;
}

static void retain_next_cb(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  later_rec *r = (later_rec *)ud;
  r->next = tapir_source_retain(next);
  atomic_store(&r->cb_returned, 1);
}

static void continue_with_completes_next_later(void) {
  const tapir_task *done = NULL, *c = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &done));
  later_rec r = {0};
  CHECK_OK(tapir_task_continue_with(done, retain_next_cb, &r, NULL, NULL, &c));
  CHECK(h_wait_eq(&r.cb_returned, 1, h_prompt_ms()));
  REQUIRE(r.next != NULL);
  pthread_t t = h_spawn(complete_next_later, &r);
  h_sleep_ms(30);
  /* the callback has returned, but the continuation completes only with `next` */
  CHECK_EQ(tapir_task_get_status(c), TAPIR_TASK_STATUS_PENDING);
  atomic_store(&r.go.open, 1);
  CHECK_OK(tapir_task_wait(c, h_prompt_ms()));
  void *v = NULL;
  CHECK_OK(tapir_task_result(c, &v));
  CHECK_PTR_EQ(v, h_int(7));
  h_join(t);
  CHECK_OK(tapir_task_release(c));
  CHECK_OK(tapir_task_release(done));
}

/* ---- registrations racing completion (a small version of stress.c) */

typedef struct {
  const tapir_task *task;
  h_counter *cs;
  int n;
  h_gate *gate;
} reg_racer;

static void *register_many(void *arg) {
  reg_racer *r = (reg_racer *)arg;
  h_gate_wait(r->gate);
  for (int i = 0; i < r->n; i++) {
    const tapir_continuation_options *o = (i & 1) ? h_sync() : NULL;
    CHECK_OK(tapir_task_on_complete(r->task, h_count_cb, &r->cs[i], h_count_destroy, o, NULL));
  }
  return NULL;
}

static void concurrent_registration_never_lost(void) {
  enum { THREADS = 3 };
  int per = h_slow() ? 200 : 3000;
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  h_gate gate = {0};
  reg_racer rs[THREADS];
  pthread_t ts[THREADS];
  for (int k = 0; k < THREADS; k++) {
    rs[k] = (reg_racer){a, calloc((size_t)per, sizeof(h_counter)), per, &gate};
    for (int i = 0; i < per; i++) h_counter_init(&rs[k].cs[i]);
    ts[k] = h_spawn(register_many, &rs[k]);
  }
  h_gate_open_when(&gate, THREADS);
  h_sleep_ms(1);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  for (int k = 0; k < THREADS; k++) h_join(ts[k]);
  for (int k = 0; k < THREADS; k++) {
    for (int i = 0; i < per; i++) {
      h_counter *c = &rs[k].cs[i];
      CHECKF(h_wait_eq(&c->destroys, 1, h_prompt_ms()), "thread %d registration %d: destroy ran %d times", k, i,
             atomic_load(&c->destroys));
      CHECKF(atomic_load(&c->calls) == 1, "thread %d registration %d ran %d times", k, i, atomic_load(&c->calls));
    }
  }
  h_sleep_ms(20);
  for (int k = 0; k < THREADS; k++) {
    for (int i = 0; i < per; i++)
      CHECKF(atomic_load(&rs[k].cs[i].calls) == 1 && atomic_load(&rs[k].cs[i].destroys) == 1,
             "late duplicate: thread %d registration %d", k, i);
    free(rs[k].cs);
  }
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(a));
}

static void long_running_continuation(void) {
  const tapir_task *done = NULL, *c = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &done));
  h_counter cc;
  h_counter_init(&cc);
  tapir_continuation_options o = {sizeof o, TAPIR_CONTINUATION_LONG_RUNNING, NULL, NULL};
  CHECK_OK(tapir_task_continue_with(done, h_count_cont, &cc, h_count_destroy, &o, &c));
  CHECK_EQ(h_settle(c), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(h_wait_eq(&cc.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&cc.calls), 1);
  CHECK(!pthread_equal(cc.thread, pthread_self()));
  CHECK_OK(tapir_task_release(c));
  CHECK_OK(tapir_task_release(done));
}

/* CT-03 t4/t5: a continuation that "returns a task" hands `next` to
 * tapir_source_set_from_task; the continuation task then mirrors that task. */
typedef struct {
  const tapir_task *inner;
} returns_task_rec;

static void return_inner_task(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  CHECK_OK(tapir_source_set_from_task(next, ((returns_task_rec *)ud)->inner));
}

static void ct03_continuation_returns_a_task(void) {
  const tapir_task *done = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(5), NULL, &done));
  /* inner already complete: 10 */
  returns_task_rec r1 = {NULL};
  REQUIRE_OK(tapir_task_from_result(h_int(10), NULL, &r1.inner));
  const tapir_task *c1 = NULL;
  CHECK_OK(tapir_task_continue_with(done, return_inner_task, &r1, NULL, NULL, &c1));
  CHECK_EQ(h_settle(c1), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = NULL;
  CHECK_OK(tapir_task_result(c1, &v));
  CHECK_PTR_EQ(v, h_int(10));
  /* inner pending, completed later from another thread: "worked" */
  static const char worked[] = "worked";
  const tapir_source *is = h_source();
  returns_task_rec r2 = {h_task_of(is)};
  const tapir_task *c2 = NULL;
  CHECK_OK(tapir_task_continue_with(done, return_inner_task, &r2, NULL, h_sync(), &c2));
  CHECK_EQ(tapir_task_get_status(c2), TAPIR_TASK_STATUS_PENDING);
  h_later l;
  h_complete_later(&l, is, 20, H_RESULT, (void *)worked);
  CHECK_EQ(h_settle(c2), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_result(c2, &v));
  CHECK(v == (void *)worked);
  h_later_join(&l);
  CHECK_OK(tapir_source_release(is));
  CHECK_OK(tapir_task_release(r2.inner));
  CHECK_OK(tapir_task_release(r1.inner));
  CHECK_OK(tapir_task_release(c1));
  CHECK_OK(tapir_task_release(c2));
  CHECK_OK(tapir_task_release(done));
}

/* ER-07: continuation callbacks that report errors, on many tasks from many
 * threads: each continuation task ends FAULTED with exactly its own error. */
typedef struct {
  int n;
  int bad;
} er07_arg;

static void fail_with_own_error(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  const tapir_error *e = NULL;
  if (tapir_error_new((int32_t)(intptr_t)ud, NULL, 0, NULL, NULL, &e) == TAPIR_STATUS_OK) {
    (void)tapir_source_set_error(next, e);
    tapir_error_release(e);
  }
}

static void *er07_worker(void *arg) {
  er07_arg *a = (er07_arg *)arg;
  const tapir_task **cs = calloc((size_t)a->n, sizeof *cs);
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  for (int i = 0; i < a->n; i++)
    if (tapir_task_continue_with(t, fail_with_own_error, h_int((uintptr_t)i + 1000), NULL,
                                 (i % 2) ? h_sync() : NULL, &cs[i]) != TAPIR_STATUS_OK)
      a->bad++;
  (void)tapir_source_set_result(s, NULL, NULL);
  for (int i = 0; i < a->n; i++) {
    if (!cs[i]) continue;
    const tapir_error *e = NULL;
    if (tapir_task_wait(cs[i], h_prompt_ms()) != TAPIR_STATUS_FAULTED || tapir_task_error_count(cs[i]) != 1 ||
        tapir_task_error(cs[i], &e) != TAPIR_STATUS_OK || tapir_error_code(e) != i + 1000)
      a->bad++;
    tapir_error_release(e);
    tapir_task_release(cs[i]);
  }
  tapir_source_release(s);
  tapir_task_release(t);
  free(cs);
  return NULL;
}

static void er07_callback_failures_are_captured(void) {
  enum { THREADS = 4 };
  er07_arg args[THREADS];
  pthread_t ts[THREADS];
  for (int k = 0; k < THREADS; k++) {
    args[k] = (er07_arg){h_slow() ? 100 : 2500, 0};
    ts[k] = h_spawn(er07_worker, &args[k]);
  }
  for (int k = 0; k < THREADS; k++) {
    h_join(ts[k]);
    CHECKF(args[k].bad == 0, "thread %d: %d continuation tasks not faulted with their own error", k, args[k].bad);
  }
}

/* tapir_debug_task_continuations counts what waits on a task: the first continuation
 * (kept inline), later ones, removals, and nothing once it completed. */
static void continuations_are_counted_until_they_run(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  h_counter c;
  h_counter_init(&c);
  CHECK_EQ(tapir_debug_task_continuations(t), 0);
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &c, h_count_destroy, h_sync(), NULL));
  CHECK_EQ(tapir_debug_task_continuations(t), 1);
  const tapir_registration *reg = NULL;
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &c, h_count_destroy, h_sync(), &reg));
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &c, h_count_destroy, h_sync(), NULL));
  CHECK_EQ(tapir_debug_task_continuations(t), 3);
  CHECK_OK(tapir_registration_remove(reg));
  CHECK_EQ(tapir_debug_task_continuations(t), 2);
  CHECK_EQ(atomic_load(&c.destroys), 1);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_EQ(tapir_debug_task_continuations(t), 0);
  CHECK_EQ(atomic_load(&c.calls), 2);
  CHECK_EQ(atomic_load(&c.destroys), 3);
  CHECK_OK(tapir_registration_release(reg));
  CHECK_OK(tapir_task_release(t));
  CHECK_EQ(tapir_debug_task_continuations(t), 0);
  CHECK_EQ(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_debug_task_continuations(NULL), 0);
  CHECK_EQ(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_source_release(s));
}

/* TAPIR_CONTINUATION_CALLBACK_FREES: a callback that runs owns its user_data (no destroy
 * after it); destroy still runs exactly once for every callback that never runs. */
static void ct20_callback_frees(void) {
  size_t live = h_live();
  const uint32_t sync = TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY | TAPIR_CONTINUATION_CALLBACK_FREES;
  tapir_continuation_options o = {sizeof o, sync, NULL, NULL};

  /* pending: the inline slot and a listed second entry; then registered on a completed task */
  h_counter first, second, late;
  h_counter_init(&first);
  h_counter_init(&second);
  h_counter_init(&late);
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &first, h_count_destroy, &o, NULL));
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &second, h_count_destroy, &o, NULL));
  CHECK_OK(tapir_source_set_result(s, h_int(1), NULL));
  CHECK_EQ(atomic_load(&first.calls), 1);
  CHECK_EQ(atomic_load(&second.calls), 1);
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &late, h_count_destroy, &o, NULL));
  CHECK_EQ(atomic_load(&late.calls), 1);
  CHECK_EQ(atomic_load(&first.destroys), 0);
  CHECK_EQ(atomic_load(&second.destroys), 0);
  CHECK_EQ(atomic_load(&late.destroys), 0);

  /* dispatched to the pool (no EXECUTE_SYNCHRONOUSLY) */
  h_counter pooled;
  h_counter_init(&pooled);
  tapir_continuation_options po = {sizeof po, TAPIR_CONTINUATION_CALLBACK_FREES, NULL, NULL};
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &pooled, h_count_destroy, &po, NULL));
  CHECK(h_wait_eq(&pooled.calls, 1, h_prompt_ms()));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));
  CHECK(h_wait_live(live, h_prompt_ms()));
  CHECK_EQ(atomic_load(&pooled.destroys), 0);

  /* never run: filtered out, removed, task freed while pending: destroy once each */
  h_counter filtered, removed, freed;
  h_counter_init(&filtered);
  h_counter_init(&removed);
  h_counter_init(&freed);
  s = h_source();
  t = h_task_of(s);
  tapir_continuation_options fo = {sizeof fo, sync | TAPIR_CONTINUATION_ONLY_ON_FAULTED, NULL, NULL};
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &filtered, h_count_destroy, &fo, NULL));
  const tapir_registration *reg = NULL;
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &removed, h_count_destroy, &o, &reg));
  CHECK_OK(tapir_registration_remove(reg));
  CHECK_OK(tapir_registration_release(reg));
  CHECK_EQ(atomic_load(&removed.destroys), 1);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_EQ(atomic_load(&filtered.calls), 0);
  CHECK_EQ(atomic_load(&filtered.destroys), 1);
  CHECK_EQ(atomic_load(&removed.calls), 0);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));
  const tapir_task *never = NULL;
  CHECK_OK(tapir_delay(TAPIR_INFINITE, NULL, &never));
  CHECK_OK(tapir_task_on_complete(never, h_count_cb, &freed, h_count_destroy, &o, NULL));
  CHECK_OK(tapir_task_release(never));
  CHECK(h_wait_eq(&freed.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&freed.calls), 0);

  /* continue_with refuses it and calls nothing */
  h_counter refused;
  h_counter_init(&refused);
  s = h_source();
  t = h_task_of(s);
  const tapir_task *ct = (const tapir_task *)h_int(0x10);
  CHECK_ST(tapir_task_continue_with(t, h_count_cont, &refused, h_count_destroy, &o, &ct), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_PTR_EQ(ct, h_int(0x10));
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_EQ(atomic_load(&refused.calls), 0);
  CHECK_EQ(atomic_load(&refused.destroys), 0);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));
  CHECK(h_wait_live(live, h_prompt_ms()));
}

void register_continuation_tests(void) {
  REG(ct01_continuation_fires_once);
  REG(continuations_are_counted_until_they_run);
  REG(ct02_on_completed_antecedent);
  REG(ct03_continuation_outcome);
  REG(ct03_continuation_returns_a_task);
  REG(continuation_that_forgets_next_is_broken_promise);
  REG(ct04_outcome_filters);
  REG(on_complete_filters);
  REG(ct05_invalid_options);
  REG(ct20_callback_frees);
  REG(ct06_sync_continuation_runs_inside_set);
  REG(ct08_default_continuation_is_dispatched);
  REG(ct09_order_sync_after_dispatch);
  REG(sync_continuations_in_registration_order);
  REG(rca_source_never_runs_continuations_inline);
  REG(continuation_flag_run_continuations_async);
  REG(on_complete_basics);
  REG(registration_remove);
  REG(registration_outlives_task);
  REG(continue_with_completes_next_later);
  REG(concurrent_registration_never_lost);
  REG(long_running_continuation);
  REG(er07_callback_failures_are_captured);
}
