/* Tasks: factories, queries, waiting (TS). */
#include "harness.h"

static void ts01_factories(void) {
  atomic_int destroyed = 0;
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_result(&destroyed, h_bump_destroy, &t));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = NULL;
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, &destroyed);
  CHECK_EQ(tapir_task_options(t), 0);
  CHECK(tapir_task_state(t) == NULL);
  CHECK_OK(tapir_task_release(t));
  CHECK_EQ(atomic_load(&destroyed), 1); /* the value dies with the task, once */

  const tapir_error *e = h_error(11, "pre-faulted");
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(tapir_task_error_count(t), 1);
  const tapir_error *got = NULL;
  CHECK_OK(tapir_task_error(t, &got));
  CHECK_PTR_EQ(got, e);
  tapir_error_release(got);
  CHECK_OK(tapir_task_release(t));

  REQUIRE_OK(tapir_task_from_canceled(NULL, &t));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(tapir_task_error_count(t), 0);
  CHECK_ST(tapir_task_result(t, &v), TAPIR_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(t));

  /* argument errors: nothing allocated, the value stays the caller's */
  size_t live = h_live();
  CHECK_ST(tapir_task_from_result(&destroyed, h_bump_destroy, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_from_error(e, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_from_canceled(NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_completed(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  t = NULL;
  CHECK_ST(tapir_task_from_error(NULL, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(t == NULL);
  CHECK_EQ(atomic_load(&destroyed), 1);
  CHECK_EQ(h_live(), live);
  CHECK_OK(tapir_error_release(e));
  CHECK_ST(tapir_task_from_error(e, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(t == NULL);
}

static void ts02_shared_completed_task(void) {
  const tapir_task *a = NULL, *b = NULL;
  size_t live = h_live();
  REQUIRE_OK(tapir_task_completed(&a));
  REQUIRE_OK(tapir_task_completed(&b));
  CHECK_EQ(h_live(), live); /* shared: repeated retrieval allocates nothing */
  CHECK_EQ(tapir_task_id(a), tapir_task_id(b));
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = h_int(1);
  CHECK_OK(tapir_task_result(a, &v));
  CHECK(v == NULL);
  CHECK_OK(tapir_task_wait(a, 0));
  h_counter c;
  h_counter_init(&c);
  CHECK_OK(tapir_task_on_complete(a, h_count_cb, &c, h_count_destroy, NULL, NULL));
  CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&c.calls), 1);
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(b));
  /* still usable after our references are gone */
  REQUIRE_OK(tapir_task_completed(&a));
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(a));
}

static void task_ids_unique_and_retain(void) {
  enum { N = 200 };
  const tapir_task *ts[N];
  const tapir_source *ss[N];
  for (int i = 0; i < N; i++) {
    ss[i] = h_source();
    ts[i] = h_task_of(ss[i]);
    CHECK(tapir_task_id(ts[i]) != 0);
  }
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N; j++)
      CHECKF(tapir_task_id(ts[i]) != tapir_task_id(ts[j]), "tasks %d and %d share id", i, j);
  /* retain gives the same handle; each reference is released once */
  CHECK_PTR_EQ(tapir_task_retain(ts[0]), ts[0]);
  CHECK_OK(tapir_task_release(ts[0]));
  CHECK_EQ(tapir_task_get_status(ts[0]), TAPIR_TASK_STATUS_PENDING);
  for (int i = 0; i < N; i++) {
    CHECK_OK(tapir_source_set_result(ss[i], NULL, NULL));
    CHECK_OK(tapir_source_release(ss[i]));
    CHECK_OK(tapir_task_release(ts[i]));
  }
}

static void ts07_bounded_wait_on_pending(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  double t0 = h_now_ms();
  CHECK_ST(tapir_task_wait(t, 0), TAPIR_STATUS_TIMEOUT); /* 0 polls */
  CHECK(h_now_ms() - t0 < h_prompt_ms());
  t0 = h_now_ms();
  CHECK_ST(tapir_task_wait(t, 100), TAPIR_STATUS_TIMEOUT);
  double waited = h_now_ms() - t0;
  CHECKF(waited >= 98.0, "wait(100) returned after %.1f ms", waited); /* not early (2 ms slack) */
  CHECKF(waited < 100.0 + h_prompt_ms(), "wait(100) returned after %.1f ms", waited);
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING);

  /* invalid timeouts are refused at once, even on a pending task */
  const int64_t bad[] = {-2, -1000, INT64_MIN, 4294967295LL, INT64_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t0 = h_now_ms();
    CHECKF(tapir_task_wait(t, bad[i]) == TAPIR_STATUS_INVALID_ARGUMENT, "timeout %" PRId64 " accepted", bad[i]);
    CHECK(h_now_ms() - t0 < h_prompt_ms());
  }

  /* an infinite wait returns once another thread completes the task */
  h_later l;
  t0 = h_now_ms();
  h_complete_later(&l, s, 50, H_RESULT, h_int(8));
  CHECK_OK(tapir_task_wait(t, TAPIR_INFINITE));
  CHECK(h_now_ms() - t0 >= 48.0);
  h_later_join(&l);
  void *v = NULL;
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, h_int(8));
  /* the largest finite timeout is accepted */
  CHECK_OK(tapir_task_wait(t, 4294967294LL));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));

  /* waits report faults and cancellation from another thread */
  for (int kind = H_ERROR; kind <= H_CANCEL; kind++) {
    s = h_source();
    t = h_task_of(s);
    h_complete_later(&l, s, 20, kind, NULL);
    CHECK_ST(tapir_task_wait(t, h_prompt_ms()), kind == H_ERROR ? TAPIR_STATUS_FAULTED : TAPIR_STATUS_CANCELED);
    h_later_join(&l);
    const tapir_error *e = NULL;
    if (kind == H_ERROR && tapir_task_error(t, &e) == TAPIR_STATUS_OK) tapir_error_release(e);
    CHECK_OK(tapir_source_release(s));
    CHECK_OK(tapir_task_release(t));
  }
}

static void ts08_wait_on_completed(void) {
  const tapir_task *ok = NULL, *bad = NULL, *cancel = NULL;
  const tapir_error *e = h_error(3, "e");
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &ok));
  REQUIRE_OK(tapir_task_from_error(e, &bad));
  REQUIRE_OK(tapir_task_from_canceled(NULL, &cancel));
  const int64_t timeouts[] = {0, 10, TAPIR_INFINITE, 4294967294LL};
  for (size_t i = 0; i < 4; i++) {
    double t0 = h_now_ms();
    CHECK_OK(tapir_task_wait(ok, timeouts[i]));
    CHECK_ST(tapir_task_wait(bad, timeouts[i]), TAPIR_STATUS_FAULTED);
    CHECK_ST(tapir_task_wait(cancel, timeouts[i]), TAPIR_STATUS_CANCELED);
    /* no blocking on completed tasks (an infinite timeout would hang if it blocked) */
    CHECK(h_now_ms() - t0 < h_prompt_ms());
  }
  const tapir_error *got = NULL;
  CHECK_OK(tapir_task_error(bad, &got));
  CHECK_PTR_EQ(got, e);
  tapir_error_release(got);
  tapir_error_release(e);
  CHECK_OK(tapir_task_release(ok));
  CHECK_OK(tapir_task_release(bad));
  CHECK_OK(tapir_task_release(cancel));
}

/* Marks a faulted task's error observed, then releases it. */
static void release_observed(const tapir_task *t) {
  const tapir_error *e = NULL;
  if (tapir_task_error(t, &e) == TAPIR_STATUS_OK) tapir_error_release(e);
  tapir_task_release(t);
}

static void ts10_wait_all(void) {
  const tapir_error *e = h_error(5, "e");
  const tapir_task *ok1 = NULL, *ok2 = NULL, *bad = NULL, *cancel = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &ok1));
  REQUIRE_OK(tapir_task_from_result(h_int(2), NULL, &ok2));
  REQUIRE_OK(tapir_task_from_error(e, &bad));
  REQUIRE_OK(tapir_task_from_canceled(NULL, &cancel));

  const tapir_task *all_ok[] = {ok1, ok2, ok1};
  CHECK_OK(tapir_task_wait_all(all_ok, 3, TAPIR_INFINITE, NULL));
  const tapir_task *with_cancel[] = {ok1, cancel};
  CHECK_ST(tapir_task_wait_all(with_cancel, 2, 0, NULL), TAPIR_STATUS_CANCELED);
  const tapir_task *with_fault[] = {cancel, bad, ok2};
  CHECK_ST(tapir_task_wait_all(with_fault, 3, 0, NULL), TAPIR_STATUS_FAULTED);
  CHECK_OK(tapir_task_wait_all(NULL, 0, 0, NULL)); /* nothing to wait for */
  CHECK_OK(tapir_task_wait_all(all_ok, 0, TAPIR_INFINITE, NULL));

  /* returns only when every task is terminal, even after a fault */
  const tapir_source *s = h_source();
  const tapir_task *p = h_task_of(s);
  const tapir_task *fault_and_pending[] = {bad, p};
  double t0 = h_now_ms();
  CHECK_ST(tapir_task_wait_all(fault_and_pending, 2, 100, NULL), TAPIR_STATUS_TIMEOUT);
  CHECK(h_now_ms() - t0 >= 98.0);
  h_later l;
  t0 = h_now_ms(); /* before the completer starts: it completes p 50 ms later at the earliest */
  h_complete_later(&l, s, 50, H_RESULT, NULL);
  CHECK_ST(tapir_task_wait_all(fault_and_pending, 2, TAPIR_INFINITE, NULL), TAPIR_STATUS_FAULTED);
  CHECK(h_now_ms() - t0 >= 48.0);
  CHECK_EQ(tapir_task_get_status(p), TAPIR_TASK_STATUS_SUCCEEDED);
  h_later_join(&l);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(p));

  /* pending tasks completed later, all succeed */
  const tapir_source *s1 = h_source(), *s2 = h_source();
  const tapir_task *p1 = h_task_of(s1), *p2 = h_task_of(s2);
  h_later l1, l2;
  h_complete_later(&l1, s1, 30, H_RESULT, NULL);
  h_complete_later(&l2, s2, 60, H_RESULT, NULL);
  const tapir_task *pend[] = {p1, ok1, p2};
  CHECK_OK(tapir_task_wait_all(pend, 3, h_prompt_ms(), NULL));
  CHECK(tapir_task_is_completed(p1) && tapir_task_is_completed(p2));
  h_later_join(&l1);
  h_later_join(&l2);

  /* argument errors */
  const tapir_task *with_null[] = {ok1, NULL};
  CHECK_ST(tapir_task_wait_all(NULL, 2, 0, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_wait_all(with_null, 2, 0, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_task_wait_all(all_ok, 3, -2, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_task_wait_all(all_ok, 3, 4294967295LL, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  const tapir_task *dead = h_stale_task();
  const tapir_task *with_dead[] = {ok1, dead};
  CHECK_ST(tapir_task_wait_all(with_dead, 2, 0, NULL), TAPIR_STATUS_INVALID_HANDLE);

  CHECK_OK(tapir_source_release(s1));
  CHECK_OK(tapir_source_release(s2));
  CHECK_OK(tapir_task_release(p1));
  CHECK_OK(tapir_task_release(p2));
  CHECK_OK(tapir_task_release(ok1));
  CHECK_OK(tapir_task_release(ok2));
  release_observed(bad);
  CHECK_OK(tapir_task_release(cancel));
  tapir_error_release(e);
}

static void ts11_wait_any(void) {
  const tapir_source *s[3];
  const tapir_task *p[3];
  for (int i = 0; i < 3; i++) {
    s[i] = h_source();
    p[i] = h_task_of(s[i]);
  }
  const tapir_task *done = NULL, *done2 = NULL, *bad = NULL;
  const tapir_error *e = h_error(9, "e");
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &done));
  REQUIRE_OK(tapir_task_from_result(h_int(2), NULL, &done2));
  REQUIRE_OK(tapir_task_from_error(e, &bad));

  size_t idx = 99;
  const tapir_task *one_done[] = {p[0], done, p[1], p[2]};
  CHECK_OK(tapir_task_wait_any(one_done, 4, TAPIR_INFINITE, NULL, &idx));
  CHECK_EQ(idx, 1);
  const tapir_task *two_done[] = {p[0], done2, done};
  idx = 99;
  CHECK_OK(tapir_task_wait_any(two_done, 3, 0, NULL, &idx));
  CHECK_EQ(idx, 1); /* the first completed one in list order */
  /* a faulted task counts as completed: wait_any reports which, not how */
  const tapir_task *faulted_first[] = {p[0], bad};
  idx = 99;
  CHECK_OK(tapir_task_wait_any(faulted_first, 2, 0, NULL, &idx));
  CHECK_EQ(idx, 1);

  /* all pending: timeout */
  const tapir_task *pending[] = {p[0], p[1], p[2]};
  idx = 99;
  double t0 = h_now_ms();
  CHECK_ST(tapir_task_wait_any(pending, 3, 50, NULL, &idx), TAPIR_STATUS_TIMEOUT);
  CHECK(h_now_ms() - t0 >= 48.0);
  CHECK_EQ(idx, 99);

  /* empty: TIMEOUT at once, whatever the timeout (an infinite one would hang if it waited) */
  t0 = h_now_ms();
  CHECK_ST(tapir_task_wait_any(pending, 0, 0, NULL, &idx), TAPIR_STATUS_TIMEOUT);
  CHECK_ST(tapir_task_wait_any(NULL, 0, TAPIR_INFINITE, NULL, &idx), TAPIR_STATUS_TIMEOUT);
  CHECK(h_now_ms() - t0 < h_prompt_ms());

  /* all pending, the third finishes */
  h_later l;
  h_complete_later(&l, s[2], 30, H_RESULT, NULL);
  idx = 99;
  CHECK_OK(tapir_task_wait_any(pending, 3, h_prompt_ms(), NULL, &idx));
  CHECK_EQ(idx, 2);
  h_later_join(&l);

  /* argument errors */
  const tapir_task *with_null[] = {p[0], NULL};
  CHECK_ST(tapir_task_wait_any(with_null, 2, 0, NULL, &idx), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_task_wait_any(NULL, 2, 0, NULL, &idx), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_wait_any(one_done, 4, 0, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_wait_any(one_done, 4, -2, NULL, &idx), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_task_wait_any(one_done, 4, 4294967295LL, NULL, &idx), TAPIR_STATUS_INVALID_ARGUMENT);

  for (int i = 0; i < 3; i++) {
    tapir_source_try_set_result(s[i], NULL, NULL);
    CHECK_OK(tapir_source_release(s[i]));
    CHECK_OK(tapir_task_release(p[i]));
  }
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_task_release(done2));
  release_observed(bad);
  tapir_error_release(e);
}

static void task_result_and_error_queries(void) {
  /* out-pointers are written only on OK; NULL out-pointers are refused */
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(42), NULL, &t));
  CHECK_ST(tapir_task_result(t, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_error *e = (const tapir_error *)h_int(0x1);
  CHECK_ST(tapir_task_error(t, &e), TAPIR_STATUS_INVALID_STATE); /* succeeded: no error */
  CHECK_PTR_EQ(e, h_int(0x1));
  CHECK_ST(tapir_task_error_at(t, 0, &e), TAPIR_STATUS_INVALID_STATE);
  CHECK_PTR_EQ(e, h_int(0x1));
  CHECK_EQ(tapir_task_error_count(t), 0);
  const tapir_cancel_token *tok = (const tapir_cancel_token *)h_int(0x1);
  CHECK_ST(tapir_task_cancel_token(t, &tok), TAPIR_STATUS_INVALID_STATE); /* not canceled */
  CHECK_PTR_EQ(tok, h_int(0x1));
  CHECK_OK(tapir_task_release(t));

  /* pending: NOT_COMPLETED from every non-blocking query */
  const tapir_source *s = h_source();
  t = h_task_of(s);
  void *v = h_int(0x1);
  CHECK_ST(tapir_task_result(t, &v), TAPIR_STATUS_NOT_COMPLETED);
  CHECK_ST(tapir_task_error(t, &e), TAPIR_STATUS_NOT_COMPLETED);
  CHECK_ST(tapir_task_error_at(t, 0, &e), TAPIR_STATUS_NOT_COMPLETED);
  CHECK_ST(tapir_task_cancel_token(t, &tok), TAPIR_STATUS_NOT_COMPLETED);
  CHECK(v == h_int(0x1) && e == h_int(0x1) && tok == h_int(0x1));
  CHECK_OK(tapir_source_set_canceled(s, NULL));
  /* canceled: no error either; the token (none here) is reported as NULL */
  CHECK_ST(tapir_task_error(t, &e), TAPIR_STATUS_INVALID_STATE);
  CHECK_OK(tapir_task_cancel_token(t, &tok));
  CHECK(tok == NULL);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));

  const tapir_error *err = h_error(1, "x");
  REQUIRE_OK(tapir_task_from_error(err, &t));
  CHECK_ST(tapir_task_error(t, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_error_at(t, 0, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_error_at(t, 1, &e), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_task_error_at(t, (size_t)-1, &e), TAPIR_STATUS_INVALID_ARGUMENT);
  release_observed(t);
  tapir_error_release(err);
}

void register_task_tests(void) {
  REG(ts01_factories);
  REG(ts02_shared_completed_task);
  REG(task_ids_unique_and_retain);
  REG(ts07_bounded_wait_on_pending);
  REG(ts08_wait_on_completed);
  REG(ts10_wait_all);
  REG(ts11_wait_any);
  REG(task_result_and_error_queries);
}
