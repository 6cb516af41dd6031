/* Semantics as the TPL has them (SEM): run-continuations-asynchronously holds for
 * derived tasks too; canceling a token runs no delay or wait_async continuation
 * inline; releasing a cancel source cancels nothing; no library-internal task
 * reaches the unobserved-error hook; tapir_run acknowledges cancellation only by
 * its own token; a foreign scheduler may refuse work; the pool is fair; shutdown
 * joins every thread, never hangs, loses nothing and can be followed by more use. */
#include "harness.h"

/* A generous bound for things that must finish: 10 s, 60 s under valgrind. */
static int long_ms(void) { return h_slow() ? 60000 : 10000; }

/* Releases a task after reading its error if it faulted (keeps the hook quiet). */
static void release_observed(const tapir_task *t) {
  const tapir_error *e = NULL;
  if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_FAULTED && tapir_task_error(t, &e) == TAPIR_STATUS_OK)
    tapir_error_release(e);
  CHECK_OK(tapir_task_release(t));
}

/* The code of a faulted task's first error (0 if it has none). */
static int32_t first_error_code(const tapir_task *t) {
  const tapir_error *e = NULL;
  if (tapir_task_error(t, &e) != TAPIR_STATUS_OK) return 0;
  int32_t code = tapir_error_code(e);
  tapir_error_release(e);
  return code;
}

/* A callback ran inside the completing call if it ran on the completing thread
 * before that call returned. */
static bool ran_inside(const h_counter *c, pthread_t completer) {
  return pthread_equal(c->thread, completer) && !atomic_load(&c->saw_returned);
}

/* ------------------------------------------ run continuations asynchronously */

enum { RCA_TASK, RCA_UNWRAP_INNER, RCA_UNWRAP_OUTER, RCA_WHEN_ALL, RCA_WHEN_ANY, RCA_SET_FROM_TASK, RCA_CASES };
static const char *const rca_names[] = {"its task",    "unwrap proxy (inner)", "unwrap proxy (outer)",
                                        "when_all",    "when_any",             "set_from_task target"};

static void sem_rca_source_runs_no_user_code_inside_set_result(void) {
  for (int k = 0; k < RCA_CASES; k++) {
    const tapir_source *rs = NULL;
    REQUIRE_OK(tapir_source_new(TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY, NULL, &rs));
    const tapir_task *rt = h_task_of(rs);
    const tapir_task *derived = NULL, *outer = NULL, *done = NULL;
    const tapir_source *other = NULL;
    const tapir_task *list[] = {rt};
    void *value = h_int(7);
    tapir_destroy_fn value_destroy = NULL;
    switch (k) {
    case RCA_TASK:
      derived = tapir_task_retain(rt);
      break;
    case RCA_UNWRAP_INNER: /* the proxy waits for the RCA task */
      REQUIRE_OK(tapir_task_from_result((void *)tapir_task_retain(rt), h_release_task_value, &outer));
      REQUIRE_OK(tapir_task_unwrap(outer, &derived));
      break;
    case RCA_UNWRAP_OUTER: /* the RCA task's value is the (completed) inner task */
      REQUIRE_OK(tapir_task_from_result(h_int(8), NULL, &done));
      value = (void *)tapir_task_retain(done);
      value_destroy = h_release_task_value;
      REQUIRE_OK(tapir_task_unwrap(rt, &derived));
      break;
    case RCA_WHEN_ALL:
      REQUIRE_OK(tapir_when_all(list, 1, &derived));
      break;
    case RCA_WHEN_ANY:
      REQUIRE_OK(tapir_when_any(list, 1, NULL, &derived));
      break;
    case RCA_SET_FROM_TASK:
      other = h_source();
      REQUIRE(other != NULL);
      derived = h_task_of(other);
      REQUIRE_OK(tapir_source_set_from_task(other, rt));
      break;
    default:
      break;
    }
    REQUIRE(derived != NULL);
    atomic_int returned = 0;
    h_counter c;
    h_counter_init(&c);
    c.completer_returned = &returned;
    CHECK_OK(tapir_task_on_complete(derived, h_count_cb, &c, h_count_destroy, h_sync(), NULL));
    CHECK_OK(tapir_source_set_result(rs, value, value_destroy));
    atomic_store(&returned, 1);
    CHECKF(h_wait_eq(&c.calls, 1, h_prompt_ms()), "%s: the synchronous on_complete never ran", rca_names[k]);
    CHECKF(!ran_inside(&c, pthread_self()), "%s: its synchronous on_complete ran inside set_result", rca_names[k]);
    CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
    CHECKF(c.status == TAPIR_TASK_STATUS_SUCCEEDED, "%s: ended %d", rca_names[k], (int)c.status);
    release_observed(derived);
    if (outer) CHECK_OK(tapir_task_release(outer));
    if (done) CHECK_OK(tapir_task_release(done));
    if (other) CHECK_OK(tapir_source_release(other));
    CHECK_OK(tapir_task_release(rt));
    CHECK_OK(tapir_source_release(rs));
  }
}

/* ------------------------------------------------------- cancel runs nothing inline */

static void sem_cancel_runs_no_delay_or_wait_async_continuation_inline(void) {
  const tapir_cancel_source *cs = NULL;
  const tapir_cancel_token *k = NULL;
  if (!h_new_cts(&cs, &k)) return;
  const tapir_source *ps = h_source();
  REQUIRE(ps != NULL);
  const tapir_task *pending = h_task_of(ps), *d = NULL, *w = NULL;
  REQUIRE_OK(tapir_delay(100000, k, &d));
  REQUIRE_OK(tapir_task_wait_async(pending, TAPIR_INFINITE, k, &w));
  atomic_int returned = 0;
  h_counter dc, wc;
  h_counter_init(&dc);
  h_counter_init(&wc);
  dc.completer_returned = &returned;
  wc.completer_returned = &returned;
  CHECK_OK(tapir_task_on_complete(d, h_count_cb, &dc, h_count_destroy, h_sync(), NULL));
  CHECK_OK(tapir_task_on_complete(w, h_count_cb, &wc, h_count_destroy, h_sync(), NULL));

  CHECK_OK(tapir_cancel_source_cancel(cs, 0, NULL));
  atomic_store(&returned, 1);
  CHECK(h_wait_eq(&dc.calls, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&wc.calls, 1, h_prompt_ms()));
  CHECKF(!ran_inside(&dc, pthread_self()), "the delay's synchronous on_complete ran inside cancel");
  CHECKF(!ran_inside(&wc, pthread_self()), "the wait_async's synchronous on_complete ran inside cancel");
  CHECK_EQ(dc.status, TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(wc.status, TAPIR_TASK_STATUS_CANCELED);
  CHECK(h_wait_eq(&dc.destroys, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&wc.destroys, 1, h_prompt_ms()));
  CHECK_EQ(tapir_task_get_status(pending), TAPIR_TASK_STATUS_PENDING); /* never affected */
  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  CHECK_OK(tapir_task_release(d));
  CHECK_OK(tapir_task_release(w));
  CHECK_OK(tapir_task_release(pending));
  CHECK_OK(tapir_source_release(ps));
  h_release_cts(cs, k);
}

/* --------------------------------------------- releasing a cancel source cancels nothing */

static void sem_released_cancel_source_cancels_nothing(void) {
  const tapir_cancel_source *cs = NULL;
  const tapir_cancel_token *k = NULL;
  if (!h_new_cts(&cs, &k)) return;
  const tapir_source *ps = h_source(), *ps2 = h_source();
  REQUIRE(ps != NULL && ps2 != NULL);
  const tapir_task *pending = h_task_of(ps), *pending2 = h_task_of(ps2);
  const tapir_task *never = NULL, *later = NULL, *w = NULL, *cw = NULL;
  REQUIRE_OK(tapir_delay(TAPIR_INFINITE, k, &never));
  REQUIRE_OK(tapir_delay(400, k, &later));
  REQUIRE_OK(tapir_task_wait_async(pending, TAPIR_INFINITE, k, &w));
  h_counter cc;
  h_counter_init(&cc);
  const tapir_continuation_options with_k = {sizeof with_k, 0, NULL, k};
  REQUIRE_OK(tapir_task_continue_with(pending2, h_count_cont, &cc, h_count_destroy, &with_k, &cw));
  h_release_cts(cs, k); /* the user's last handles to the source and its token */

  /* give a wrong cancellation time to show; `later` may elapse meanwhile on a slow
   * machine, which is fine: it must end succeeded, never canceled (checked below) */
  h_sleep_ms(150);
  CHECK(tapir_task_get_status(later) != TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(tapir_task_get_status(never), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_task_get_status(cw), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(atomic_load(&cc.calls), 0);

  /* everything still runs normally */
  CHECK_OK(tapir_source_set_result(ps2, h_int(5), NULL));
  CHECK_EQ(h_settle(cw), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = NULL;
  CHECK_OK(tapir_task_result(cw, &v));
  CHECK_PTR_EQ(v, h_int(6));
  CHECK_EQ(atomic_load(&cc.calls), 1);
  CHECK_OK(tapir_source_set_result(ps, h_int(9), NULL));
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_result(w, &v));
  CHECK_PTR_EQ(v, h_int(9));
  CHECK_ST(tapir_task_wait(later, h_prompt_ms()), TAPIR_STATUS_OK); /* the delay elapsed: succeeded */
  CHECK_EQ(tapir_task_get_status(never), TAPIR_TASK_STATUS_PENDING);
  release_observed(never); /* can never complete now: freed with its last handle */
  release_observed(later);
  release_observed(w);
  release_observed(cw);
  CHECK_OK(tapir_task_release(pending));
  CHECK_OK(tapir_task_release(pending2));
  CHECK_OK(tapir_source_release(ps));
  CHECK_OK(tapir_source_release(ps2));
}

/* ------------------------------------ no internal task reaches the unobserved hook */

static atomic_int g_hook_calls;

static void counting_hook(void *ud, uint64_t task_id, const tapir_error *const *errors, size_t count) {
  (void)ud;
  (void)task_id;
  (void)errors;
  (void)count;
  atomic_fetch_add(&g_hook_calls, 1);
}

/* Factories for the library's own loops. Later outcomes come from threads of
 * their own (h_complete_later), joined by the test. */
typedef struct {
  h_later later[8];
  int nlater;
  atomic_int destroys;
} fac_state;

static void fac_state_destroy(void *ud) { atomic_fetch_add(&((fac_state *)ud)->destroys, 1); }

static const tapir_task *fail_later(fac_state *f, double ms) {
  const tapir_source *s = h_source();
  if (!s || f->nlater >= 8) return NULL;
  const tapir_task *t = h_task_of(s);
  h_complete_later(&f->later[f->nlater++], s, ms, H_ERROR, NULL);
  CHECK_OK(tapir_source_release(s));
  return t;
}

static const tapir_task *fail_now(void) {
  const tapir_error *e = h_error(3, "failed at once");
  const tapir_task *t = NULL;
  CHECK_OK(tapir_task_from_error(e, &t));
  tapir_error_release(e);
  return t;
}

static const tapir_task *succeed_now(uint32_t i) {
  const tapir_task *t = NULL;
  CHECK_OK(tapir_task_from_result(h_int(i + 1), NULL, &t));
  return t;
}

/* need_only_one: item 0 wins at once, the others fault later */
static const tapir_task *noo_factory(void *ud, uint32_t i, const tapir_cancel_token *token) {
  (void)token;
  return i == 0 ? succeed_now(i) : fail_later((fac_state *)ud, 30);
}

/* need_only_one: item 0 wins at once with a fault, the others fault later */
static const tapir_task *noo_fault_factory(void *ud, uint32_t i, const tapir_cancel_token *token) {
  (void)token;
  return i == 0 ? fail_now() : fail_later((fac_state *)ud, 30);
}

/* retry: attempt 0 fails at once, attempt 1 fails later, attempt 2 succeeds */
static const tapir_task *retry_factory(void *ud, uint32_t i) {
  return i == 0 ? fail_now() : i == 1 ? fail_later((fac_state *)ud, 10) : succeed_now(i);
}

/* retry: every attempt fails, at once or later */
static const tapir_task *retry_fail_factory(void *ud, uint32_t i) {
  return i % 2 ? fail_later((fac_state *)ud, 10) : fail_now();
}

/* throttled: item 1 is NULL, item 2 fails later, the rest succeed */
static const tapir_task *each_factory(void *ud, uint32_t i) {
  return i == 1 ? NULL : i == 2 ? fail_later((fac_state *)ud, 10) : succeed_now(i);
}

static void join_laters(fac_state *f) {
  for (int i = 0; i < f->nlater; i++) h_later_join(&f->later[i]);
}

static void sem_no_internal_task_reaches_unobserved_hook(void) {
  size_t live0 = h_live();
  atomic_store(&g_hook_calls, 0);
  CHECK_OK(tapir_set_unobserved_error_hook(counting_hook, NULL));
  void *v = NULL;

  /* need_only_one: the losers fault after the winner */
  fac_state *f = calloc(1, sizeof *f);
  REQUIRE(f != NULL);
  const tapir_task *t = NULL;
  CHECK_OK(tapir_need_only_one(noo_factory, f, fac_state_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_OK(tapir_task_release(t));
  join_laters(f);
  CHECK(h_wait_eq(&f->destroys, 1, h_prompt_ms()));
  free(f);

  /* need_only_one whose winner faults: the test reads the result's error */
  f = calloc(1, sizeof *f);
  REQUIRE(f != NULL);
  CHECK_OK(tapir_need_only_one(noo_fault_factory, f, fac_state_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  release_observed(t);
  join_laters(f);
  CHECK(h_wait_eq(&f->destroys, 1, h_prompt_ms()));
  free(f);

  /* retry_on_fault: two failed attempts, then success */
  f = calloc(1, sizeof *f);
  REQUIRE(f != NULL);
  CHECK_OK(tapir_retry_on_fault(retry_factory, NULL, f, fac_state_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_OK(tapir_task_release(t));
  join_laters(f);
  CHECK(h_wait_eq(&f->destroys, 1, h_prompt_ms()));
  free(f);

  /* retry_on_fault: every attempt fails; the test reads the result's error */
  for (uint32_t tries = 1; tries <= 4; tries++) {
    f = calloc(1, sizeof *f);
    REQUIRE(f != NULL);
    CHECK_OK(tapir_retry_on_fault(retry_fail_factory, NULL, f, fac_state_destroy, tries, &t));
    CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
    release_observed(t);
    join_laters(f);
    CHECK(h_wait_eq(&f->destroys, 1, h_prompt_ms()));
    free(f);
  }

  /* for_each_throttled with a NULL item and a failing one: the test reads the
   * result's errors */
  f = calloc(1, sizeof *f);
  REQUIRE(f != NULL);
  CHECK_OK(tapir_for_each_throttled(each_factory, f, fac_state_destroy, 4, 2, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  size_t ne = tapir_task_error_count(t);
  CHECK_EQ(ne, 2);
  for (size_t i = 0; i < ne; i++) {
    const tapir_error *e = NULL;
    CHECK_OK(tapir_task_error_at(t, i, &e));
    if (e) tapir_error_release(e);
  }
  CHECK_OK(tapir_task_release(t));
  join_laters(f);
  CHECK(h_wait_eq(&f->destroys, 1, h_prompt_ms()));
  free(f);

  /* when_any whose losers (held by the test) fault later */
  fac_state g;
  memset(&g, 0, sizeof g);
  const tapir_task *in[3] = {succeed_now(0), fail_later(&g, 20), fail_later(&g, 40)};
  const tapir_task *wa = NULL;
  CHECK_OK(tapir_when_any(in, 3, NULL, &wa));
  CHECK_EQ(h_settle(wa), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_result(wa, &v));
  CHECK_PTR_EQ(v, h_int(0));
  CHECK_OK(tapir_task_release(wa));
  join_laters(&g);
  for (int i = 0; i < 3; i++) {
    if (i > 0) CHECK_EQ(h_settle(in[i]), TAPIR_TASK_STATUS_FAULTED);
    release_observed(in[i]);
  }

  CHECKF(h_wait_live(live0, long_ms()), "live objects %zu, want %zu", h_live(), live0);
  CHECKF(atomic_load(&g_hook_calls) == 0, "the unobserved-error hook ran %d times for tasks the library made or held",
         atomic_load(&g_hook_calls));
  CHECK_OK(tapir_set_unobserved_error_hook(NULL, NULL));
}

/* -------------------------------------------- tapir_run: only its own token cancels */

typedef struct {
  const tapir_cancel_source *cancel_first; /* canceled by the work before completing (may be NULL) */
  const tapir_cancel_token *with;          /* given to set_canceled (may be NULL) */
  atomic_int ran;
  int32_t set_st;
} run_cancel_rec;

static void run_cancel_work(void *ud, const tapir_source *s) {
  run_cancel_rec *r = (run_cancel_rec *)ud;
  if (r->cancel_first) CHECK_OK(tapir_cancel_source_cancel(r->cancel_first, 0, NULL));
  r->set_st = (int32_t)tapir_source_set_canceled(s, r->with);
  atomic_store(&r->ran, 1);
}

static void sem_run_acknowledges_only_its_own_token(void) {
  const tapir_cancel_token *t2 = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&t2));
  for (int k = 0; k < 5; k++) {
    /* 0: no run token, canceled with T2            -> FAULTED (code CANCELED)
     * 1: run token k (canceled by the work), T2     -> FAULTED (code CANCELED)
     * 2: run token k (canceled by the work), k      -> CANCELED with k
     * 3: no run token, canceled with no token       -> FAULTED
     * 4: run token k (canceled by the work), none   -> FAULTED */
    static const char *const names[] = {"T2, no run token", "T2, run token", "the run token", "NULL, no run token",
                                        "NULL, run token"};
    const tapir_cancel_source *cs = NULL;
    const tapir_cancel_token *tok = NULL;
    if (!h_new_cts(&cs, &tok)) return;
    bool run_token = k == 1 || k == 2 || k == 4;
    run_cancel_rec r = {run_token ? cs : NULL, k <= 1 ? t2 : k == 2 ? tok : NULL, 0, -1};
    const tapir_task *t = NULL;
    REQUIRE_OK(tapir_run(NULL, run_cancel_work, &r, NULL, run_token ? tok : NULL, &t));
    int32_t st = h_settle(t);
    /* the task completes inside the work's set_canceled, so the work may still be
     * returning when the wait does: `ran` is its last store (and publishes set_st) */
    for (int i = 0; i < 20000 && !atomic_load(&r.ran); i++) h_sleep_ms(0.5);
    CHECKF(atomic_load(&r.ran) == 1, "[%s] the work did not run", names[k]);
    CHECKF(r.set_st == TAPIR_STATUS_OK, "[%s] set_canceled in the work: %s", names[k], h_status_name(r.set_st));
    if (k == 2) {
      CHECKF(st == TAPIR_TASK_STATUS_CANCELED, "[%s] ended %d, want CANCELED", names[k], (int)st);
      const tapir_cancel_token *why = NULL;
      if (st == TAPIR_TASK_STATUS_CANCELED && tapir_task_cancel_token(t, &why) == TAPIR_STATUS_OK) {
        CHECKF(why == tok, "[%s] canceled with another token", names[k]);
        if (why) tapir_cancel_token_release(why);
      }
    } else {
      CHECKF(st == TAPIR_TASK_STATUS_FAULTED, "[%s] ended %d, want FAULTED", names[k], (int)st);
      if (st == TAPIR_TASK_STATUS_FAULTED && k <= 1) {
        int32_t code = first_error_code(t);
        CHECKF(code == TAPIR_STATUS_CANCELED, "[%s] error code %d, want CANCELED", names[k], (int)code);
      }
    }
    release_observed(t);
    h_release_cts(cs, tok);
  }
  CHECK_OK(tapir_cancel_token_release(t2));
}

/* A token canceled while the body is starting: either the task ends canceled and the
 * body never runs, or the body runs and its own completion stands (its set_result is
 * never refused). The user data is destroyed exactly once either way. */
typedef struct {
  atomic_int ran, destroys;
  int32_t set_st;
} start_rec;

static void start_body(void *ud, const tapir_source *s) {
  start_rec *r = (start_rec *)ud;
  r->set_st = (int32_t)tapir_source_set_result(s, h_int(7), NULL);
  atomic_store(&r->ran, 1);
}
static void start_destroy(void *ud) { atomic_fetch_add(&((start_rec *)ud)->destroys, 1); }

static void sem_run_cancel_racing_the_start_is_one_or_the_other(void) {
  int rounds = h_slow() ? 200 : 5000, ran = 0, canceled = 0;
  for (int n = 0; n < rounds; n++) {
    const tapir_cancel_source *cs = NULL;
    const tapir_cancel_token *tok = NULL;
    if (!h_new_cts(&cs, &tok)) return;
    start_rec r = {0, 0, -1};
    const tapir_task *t = NULL;
    REQUIRE_OK(tapir_run(NULL, start_body, &r, start_destroy, tok, &t));
    for (volatile int i = 0; i < n % 64 * 20; i++) {
    }
    CHECK_OK(tapir_cancel_source_cancel(cs, 0, NULL));
    int32_t st = h_settle(t);
    for (int i = 0; i < 20000 && atomic_load(&r.destroys) == 0; i++) h_sleep_ms(0.5);
    CHECKF(atomic_load(&r.destroys) == 1, "round %d: the user data was destroyed %d times", n,
           atomic_load(&r.destroys));
    if (atomic_load(&r.ran)) {
      ran++;
      CHECKF(r.set_st == TAPIR_STATUS_OK, "round %d: the body ran and its set_result returned %s", n,
             h_status_name(r.set_st));
      CHECKF(st == TAPIR_TASK_STATUS_SUCCEEDED, "round %d: the body ran, the task ended %d", n, (int)st);
    } else {
      canceled++;
      CHECKF(st == TAPIR_TASK_STATUS_CANCELED, "round %d: the body never ran, the task ended %d", n, (int)st);
    }
    CHECK_OK(tapir_task_release(t));
    h_release_cts(cs, tok);
  }
  printf("    run canceled while starting: body ran %d times, canceled first %d times\n", ran, canceled);
}

/* A run's token whose source is released before the body starts can never be canceled
 * any more: the body still runs. Its early-cancel registration was dropped unrun with the
 * source; that must not count as "the cancel came first". Here the token's object stays
 * alive after the release (a linked child names it), and in the second round the source
 * was canceled first with STOP_AT_FIRST_ERROR, a newer callback failing, so the run's
 * registration is one of those the cancel skipped. */
static const tapir_error *fail_cancel_cb(void *ud) {
  (void)ud;
  return h_error(77, "a failing cancel callback");
}

static void sem_run_body_starts_when_its_token_source_went_first(void) {
  for (int stopped = 0; stopped < 2; stopped++) {
    const tapir_scheduler *m = NULL;
    REQUIRE_OK(tapir_scheduler_new_manual(&m));
    const tapir_cancel_source *cs = NULL, *child = NULL;
    const tapir_cancel_token *tok = NULL;
    if (!h_new_cts(&cs, &tok)) return;
    REQUIRE_OK(tapir_cancel_source_new_linked(&tok, 1, &child));
    start_rec r = {0, 0, -1};
    const tapir_task *t = NULL;
    REQUIRE_OK(tapir_run(m, start_body, &r, start_destroy, tok, &t));
    if (stopped) {
      REQUIRE_OK(tapir_cancel_token_register(tok, fail_cancel_cb, NULL, NULL, 0, NULL));
      const tapir_error *errs = NULL;
      CHECK_OK(tapir_cancel_source_cancel(cs, TAPIR_CANCEL_STOP_AT_FIRST_ERROR, &errs));
      CHECK(errs != NULL);
      if (errs) CHECK_OK(tapir_error_release(errs));
      CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING); /* the run's callback was skipped */
    }
    h_release_cts(cs, tok); /* disposed: the skipped or pending callbacks are dropped unrun */
    size_t ran = 0;
    CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
    CHECKF(atomic_load(&r.ran) == 1, "round %d: the body never ran (the task is %d)", stopped, (int)tapir_task_get_status(t));
    CHECK_EQ(tapir_task_wait(t, h_prompt_ms()), TAPIR_STATUS_OK);
    CHECK_EQ(r.set_st, TAPIR_STATUS_OK);
    CHECK_EQ(atomic_load(&r.destroys), 1);
    CHECK_OK(tapir_task_release(t));
    CHECK_OK(tapir_cancel_source_release(child));
    CHECK_OK(tapir_scheduler_release(m));
  }
}

/* ------------------------------------------------ a foreign scheduler that refuses */

static void refuse_post(void *ctx, tapir_work *work) {
  atomic_fetch_add((atomic_int *)ctx, 1);
  CHECK_OK(tapir_work_discard(work));
}

typedef struct {
  atomic_int ran, destroys;
} work_rec;

static void work_fn(void *ud, const tapir_source *s) {
  atomic_fetch_add(&((work_rec *)ud)->ran, 1);
  (void)tapir_source_set_result(s, NULL, NULL);
}
static void work_destroy(void *ud) { atomic_fetch_add(&((work_rec *)ud)->destroys, 1); }

static void sem_foreign_scheduler_refusing_work_faults_with_scheduler_error(void) {
  atomic_int posts = 0;
  const tapir_scheduler_vtable vt = {sizeof vt, refuse_post, NULL};
  const tapir_scheduler *refuser = NULL;
  REQUIRE_OK(tapir_scheduler_new_foreign(&vt, &posts, &refuser));
  const tapir_continuation_options on_refuser = {sizeof on_refuser, 0, refuser, NULL};

  for (int pending_first = 1; pending_first >= 0; pending_first--) {
    const char *what = pending_first ? "pending antecedent" : "completed antecedent";
    const tapir_source *as = NULL;
    const tapir_task *a = NULL, *c = NULL;
    if (pending_first) {
      as = h_source();
      a = h_task_of(as);
    } else {
      REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &a));
    }
    h_counter cc, oc;
    h_counter_init(&cc);
    h_counter_init(&oc);
    REQUIRE_OK(tapir_task_continue_with(a, h_count_cont, &cc, h_count_destroy, &on_refuser, &c));
    /* the continuation task's own continuation, with default options */
    CHECK_OK(tapir_task_on_complete(c, h_count_cb, &oc, h_count_destroy, NULL, NULL));
    if (as) CHECK_OK(tapir_source_set_result(as, NULL, NULL));
    CHECKF(tapir_task_wait(c, h_prompt_ms()) == TAPIR_STATUS_FAULTED, "%s: the continuation task ended %d", what,
           (int)tapir_task_get_status(c));
    int32_t code = first_error_code(c);
    CHECKF(code == TAPIR_STATUS_SCHEDULER_ERROR, "%s: error code %d, want SCHEDULER_ERROR (%d)", what, (int)code,
           TAPIR_STATUS_SCHEDULER_ERROR);
    CHECKF(h_wait_eq(&oc.calls, 1, h_prompt_ms()), "%s: the continuation task's on_complete never ran", what);
    CHECK_EQ(oc.status, TAPIR_TASK_STATUS_FAULTED);
    CHECK(h_wait_eq(&cc.destroys, 1, h_prompt_ms()));
    CHECK_EQ(atomic_load(&cc.calls), 0);
    CHECK(h_wait_eq(&oc.destroys, 1, h_prompt_ms()));
    release_observed(c);
    CHECK_OK(tapir_task_release(a));
    if (as) CHECK_OK(tapir_source_release(as));
  }

  work_rec w = {0, 0};
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_run(refuser, work_fn, &w, work_destroy, NULL, &t));
  CHECKF(tapir_task_wait(t, h_prompt_ms()) == TAPIR_STATUS_FAULTED, "tapir_run on the refusing scheduler ended %d",
         (int)tapir_task_get_status(t));
  int32_t code = first_error_code(t);
  CHECKF(code == TAPIR_STATUS_SCHEDULER_ERROR, "tapir_run: error code %d, want SCHEDULER_ERROR", (int)code);
  CHECK(h_wait_eq(&w.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&w.ran), 0);
  release_observed(t);
  CHECK(atomic_load(&posts) >= 3);
  CHECK_OK(tapir_scheduler_release(refuser));
}

/* -------------------------------------------------------------------- fairness */

typedef struct {
  atomic_long hops;
  atomic_int stopped;
  atomic_int *stop;
} chain;

/* One hop: a dispatched continuation that completes the next source, whose
 * (dispatched) continuation is the next hop. */
static void hop_cb(void *ud, const tapir_task *completed) {
  (void)completed;
  chain *c = (chain *)ud;
  atomic_fetch_add(&c->hops, 1);
  if (atomic_load(c->stop)) {
    atomic_store(&c->stopped, 1);
    return;
  }
  const tapir_source *s = NULL;
  const tapir_task *t = NULL;
  if (tapir_source_new(0, NULL, &s) != TAPIR_STATUS_OK || tapir_source_task(s, &t) != TAPIR_STATUS_OK ||
      tapir_task_on_complete(t, hop_cb, c, NULL, NULL, NULL) != TAPIR_STATUS_OK) {
    h_fail(__FILE__, __LINE__, "a hop could not be set up");
    atomic_store(&c->stopped, 1);
  }
  tapir_task_release(t);
  if (s) {
    (void)tapir_source_set_result(s, NULL, NULL);
    tapir_source_release(s);
  }
}

static void sem_pool_is_fair_to_ping_pong_chains(void) {
  enum { CHAINS = 8 };
  chain ch[CHAINS];
  atomic_int stop = 0;
  for (int i = 0; i < CHAINS; i++) {
    atomic_init(&ch[i].hops, 0);
    atomic_init(&ch[i].stopped, 0);
    ch[i].stop = &stop;
  }
  for (int i = 0; i < CHAINS; i++) {
    const tapir_source *s = h_source();
    REQUIRE(s != NULL);
    const tapir_task *t = h_task_of(s);
    CHECK_OK(tapir_task_on_complete(t, hop_cb, &ch[i], NULL, NULL, NULL));
    CHECK_OK(tapir_task_release(t));
    CHECK_OK(tapir_source_set_result(s, NULL, NULL));
    CHECK_OK(tapir_source_release(s));
  }
  h_sleep_ms(2000);
  long hops[CHAINS], sum = 0;
  for (int i = 0; i < CHAINS; i++) {
    hops[i] = atomic_load(&ch[i].hops);
    sum += hops[i];
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < CHAINS; i++)
    CHECKF(h_wait_eq(&ch[i].stopped, 1, long_ms()), "chain %d did not stop", i);
  double mean = (double)sum / CHAINS;
  char buf[256];
  int used = 0;
  for (int i = 0; i < CHAINS; i++) used += snprintf(buf + used, sizeof buf - (size_t)used, " %ld", hops[i]);
  printf("    hops per chain in 2 s:%s (mean %.0f)\n", buf, mean);
  for (int i = 0; i < CHAINS; i++)
    CHECKF((double)hops[i] >= mean / 4, "chain %d made %ld hops, under a quarter of the mean %.0f (all:%s)", i,
           hops[i], mean, buf);
}

/* -------------------------------------------------------------------- shutdown */

static void set_result_work(void *ud, const tapir_source *s) {
  (void)ud;
  (void)tapir_source_set_result(s, h_int(1), NULL);
}

static void expect_only_own_threads(const char *when) {
  char names[1024];
  /* the test's own threads: only this one (every thread it started is joined) */
  CHECKF(h_wait_thread_count(1, h_prompt_ms()), "%s: %d threads alive (%s), want only the test's own", when, h_thread_count(),
         h_thread_names(names, sizeof names));
}

static void sem_shutdown_leaves_no_thread(void) {
  const tapir_task *t = NULL, *d = NULL;
  REQUIRE_OK(tapir_run(NULL, set_result_work, NULL, NULL, NULL, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  REQUIRE_OK(tapir_delay(10, NULL, &d));
  CHECK_EQ(h_settle(d), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(h_thread_count() > 1); /* the pool and the timer thread started */
  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_task_release(d));
  CHECK_OK(tapir_shutdown());
  expect_only_own_threads("after shutdown");

  /* again, with delays firing and pool work running while shutdown proceeds */
  int rounds = h_slow() ? 5 : 30;
  for (int n = 0; n < rounds; n++) {
    const tapir_task *ds[4] = {NULL, NULL, NULL, NULL}, *ts[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
      CHECK_OK(tapir_delay(i, NULL, &ds[i]));
      CHECK_OK(tapir_run(NULL, set_result_work, NULL, NULL, NULL, &ts[i]));
    }
    CHECK_OK(tapir_shutdown());
    char what[64];
    snprintf(what, sizeof what, "round %d, after shutdown with work in flight", n);
    expect_only_own_threads(what);
    for (int i = 0; i < 4; i++) {
      CHECKF(tapir_task_get_status(ds[i]) != TAPIR_TASK_STATUS_FAULTED, "round %d: delay %d faulted by shutdown", n,
             i);
      release_observed(ds[i]);
      release_observed(ts[i]);
    }
  }
  /* delays pending at a shutdown stay pending, kept by their timers, and fire once
   * tapir runs again: start it, let them fire, and stop it once more */
  const tapir_task *again = NULL;
  REQUIRE_OK(tapir_delay(5, NULL, &again));
  CHECK_EQ(h_settle(again), TAPIR_TASK_STATUS_SUCCEEDED);
  release_observed(again);
  CHECK_OK(tapir_shutdown());
  expect_only_own_threads("after the last shutdown");
}

typedef struct {
  const tapir_scheduler *pool;
  atomic_int runs, posts_ok, posts_refused, destroys, stop;
  int32_t refused_status;
} repost_rec;

static void repost_destroy(void *ud) { atomic_fetch_add(&((repost_rec *)ud)->destroys, 1); }

static void repost_fn(void *ud) {
  repost_rec *r = (repost_rec *)ud;
  atomic_fetch_add(&r->runs, 1);
  if (atomic_load(&r->stop)) return;
  int32_t st = tapir_scheduler_post(r->pool, repost_fn, r, repost_destroy);
  if (st == TAPIR_STATUS_OK) {
    atomic_fetch_add(&r->posts_ok, 1);
  } else {
    r->refused_status = st;
    atomic_fetch_add(&r->posts_refused, 1);
  }
}

typedef struct {
  atomic_int done;
  int32_t st;
} shutdown_call;

static void *shutdown_body(void *arg) {
  shutdown_call *c = (shutdown_call *)arg;
  c->st = (int32_t)tapir_shutdown();
  atomic_store(&c->done, 1);
  return NULL;
}

static void sem_shutdown_with_self_reposting_work_returns(void) {
  repost_rec *r = calloc(1, sizeof *r);
  REQUIRE(r != NULL);
  REQUIRE_OK(tapir_scheduler_default(&r->pool));
  REQUIRE_OK(tapir_scheduler_post(r->pool, repost_fn, r, repost_destroy));
  atomic_fetch_add(&r->posts_ok, 1);
  CHECK(h_wait_ge(&r->runs, 100, h_prompt_ms())); /* it keeps itself going */

  shutdown_call sc = {0, -1};
  pthread_t th = h_spawn(shutdown_body, &sc);
  bool returned = h_wait_eq(&sc.done, 1, h_slow() ? 60000 : 10000);
  CHECKF(returned, "tapir_shutdown did not return within the watchdog (self-reposting work: %d runs)",
         atomic_load(&r->runs));
  if (!returned) atomic_store(&r->stop, 1); /* end the loop so shutdown can return */
  h_join(th);
  CHECK_ST(sc.st, TAPIR_STATUS_OK);
  int runs = atomic_load(&r->runs);
  h_sleep_ms(50);
  CHECKF(atomic_load(&r->runs) == runs, "work still ran after shutdown returned (%d -> %d runs)", runs,
         atomic_load(&r->runs));
  /* every accepted post ran and was destroyed, or was discarded and destroyed:
   * the last re-post's destroy ran too */
  CHECKF(atomic_load(&r->destroys) == atomic_load(&r->posts_ok),
         "%d posts accepted, %d destroyed (%d refused, last refusal %s)", atomic_load(&r->posts_ok),
         atomic_load(&r->destroys), atomic_load(&r->posts_refused),
         atomic_load(&r->posts_refused) ? h_status_name(r->refused_status) : "-");
  if (atomic_load(&r->posts_refused) > 0)
    printf("    re-posts refused during shutdown: %d (status %s)\n", atomic_load(&r->posts_refused),
           h_status_name(r->refused_status));
  expect_only_own_threads("after shutdown");
  atomic_store(&r->stop, 1);
  CHECK_OK(tapir_scheduler_release(r->pool));
  if (atomic_load(&r->destroys) == atomic_load(&r->posts_ok)) free(r); /* else the library may still hold it */
}

static void sem_shutdown_does_not_fault_pending_delay(void) {
  const tapir_cancel_source *cs = NULL;
  const tapir_cancel_token *k = NULL;
  if (!h_new_cts(&cs, &k)) return;
  const tapir_task *d = NULL, *d2 = NULL, *again = NULL;
  REQUIRE_OK(tapir_delay(100000, k, &d));
  REQUIRE_OK(tapir_delay(300, NULL, &d2));
  CHECK_OK(tapir_shutdown());
  CHECKF(tapir_task_get_status(d) == TAPIR_TASK_STATUS_PENDING, "the delay ended %d at shutdown",
         (int)tapir_task_get_status(d));
  /* d2 may have elapsed before shutdown on a slow machine; it is never faulted */
  int32_t st_at = tapir_task_get_status(d2);
  CHECKF(st_at == TAPIR_TASK_STATUS_PENDING || st_at == TAPIR_TASK_STATUS_SUCCEEDED,
         "the delay without a token ended %d at shutdown", (int)st_at);
  h_sleep_ms(50);
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_PENDING);
  if (st_at == TAPIR_TASK_STATUS_PENDING) /* the timer is stopped: nothing fires it now */
    CHECK_EQ(tapir_task_get_status(d2), TAPIR_TASK_STATUS_PENDING);
  /* a later delay needs the timer again; the earlier one may then elapse, or
   * stay pending if shutdown dropped its timer, but it is never faulted */
  REQUIRE_OK(tapir_delay(1, NULL, &again));
  CHECK_EQ(h_settle(again), TAPIR_TASK_STATUS_SUCCEEDED);
  release_observed(again);
  (void)tapir_task_wait(d2, h_prompt_ms());
  int32_t st2 = tapir_task_get_status(d2);
  CHECKF(st2 == TAPIR_TASK_STATUS_PENDING || st2 == TAPIR_TASK_STATUS_SUCCEEDED,
         "the delay without a token ended %d after shutdown", (int)st2);
  release_observed(d2);
  /* its token still ends it */
  CHECK_OK(tapir_cancel_source_cancel(cs, 0, NULL));
  CHECK_EQ(h_settle(d), TAPIR_TASK_STATUS_CANCELED);
  release_observed(d);
  h_release_cts(cs, k);
}

typedef struct {
  atomic_int runs, destroys;
} item_rec;

static void item_fn(void *ud) {
  atomic_fetch_add(&((item_rec *)ud)->runs, 1);
  for (volatile int i = 0; i < 2000; i++) {
  }
}
static void item_destroy(void *ud) { atomic_fetch_add(&((item_rec *)ud)->destroys, 1); }

static void sem_shutdown_runs_or_destroys_every_queued_item(void) {
  enum { N = 1000 };
  item_rec *items = calloc(N, sizeof *items);
  REQUIRE(items != NULL);
  const tapir_scheduler *pool = NULL;
  REQUIRE_OK(tapir_scheduler_default(&pool));
  for (int i = 0; i < N; i++) CHECK_OK(tapir_scheduler_post(pool, item_fn, &items[i], item_destroy));
  CHECK_OK(tapir_shutdown());
  int ran = 0, discarded = 0, bad = 0, first_bad = -1;
  for (int i = 0; i < N; i++) {
    int r = atomic_load(&items[i].runs), d = atomic_load(&items[i].destroys);
    if (d == 1 && r == 1) ran++;
    else if (d == 1 && r == 0) discarded++;
    else if (bad++ == 0) first_bad = i;
  }
  printf("    after shutdown: %d ran, %d discarded, %d neither or twice\n", ran, discarded, bad);
  CHECKF(bad == 0, "%d of %d queued items neither ran nor were destroyed exactly once at shutdown (first #%d: runs %d, "
         "destroys %d)", bad, N, first_bad, first_bad >= 0 ? atomic_load(&items[first_bad].runs) : 0,
         first_bad >= 0 ? atomic_load(&items[first_bad].destroys) : 0);
  expect_only_own_threads("after shutdown");
  CHECK_OK(tapir_scheduler_release(pool));
  /* let anything still queued drain before the memory goes */
  int total = 0;
  double end = h_now_ms() + long_ms();
  do {
    total = 0;
    for (int i = 0; i < N; i++) total += atomic_load(&items[i].destroys);
    if (total < N) h_sleep_ms(1);
  } while (total < N && h_now_ms() < end);
  if (total == N) free(items);
}

static void sem_shutdown_then_tapir_works_again(void) {
  CHECK_OK(tapir_shutdown());
  const tapir_task *t = NULL, *d = NULL;
  REQUIRE_OK(tapir_run(NULL, set_result_work, NULL, NULL, NULL, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  REQUIRE_OK(tapir_delay(10, NULL, &d));
  CHECK_EQ(h_settle(d), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_task_release(d));
  CHECK_OK(tapir_shutdown());
  expect_only_own_threads("after the second shutdown");
  /* and once more after that */
  REQUIRE_OK(tapir_run(NULL, set_result_work, NULL, NULL, NULL, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(t));
}

void register_semantics_tests(void) {
  REG(sem_rca_source_runs_no_user_code_inside_set_result);
  REG(sem_cancel_runs_no_delay_or_wait_async_continuation_inline);
  REG(sem_released_cancel_source_cancels_nothing);
  REG(sem_no_internal_task_reaches_unobserved_hook);
  REG(sem_run_acknowledges_only_its_own_token);
  REG(sem_run_cancel_racing_the_start_is_one_or_the_other);
  REG(sem_run_body_starts_when_its_token_source_went_first);
  REG(sem_foreign_scheduler_refusing_work_faults_with_scheduler_error);
  REG(sem_pool_is_fair_to_ping_pong_chains);
  REG(sem_shutdown_leaves_no_thread);
  REG(sem_shutdown_with_self_reposting_work_returns);
  REG(sem_shutdown_does_not_fault_pending_delay);
  REG(sem_shutdown_runs_or_destroys_every_queued_item);
  REG(sem_shutdown_then_tapir_works_again);
}
