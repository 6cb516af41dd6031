/* Completion sources (CS), double completion (MB-09) and broken promises. */
#include "harness.h"

static void cs01_fresh_source_is_pending(void) {
  const tapir_source *s = NULL;
  int state = 0;
  REQUIRE_OK(tapir_source_new(0, &state, &s));
  const tapir_task *t1 = h_task_of(s), *t2 = h_task_of(s);
  /* one source, one task: both obtains give the same task */
  CHECK_PTR_EQ(t1, t2);
  CHECK(tapir_task_id(t1) != 0);
  CHECK_EQ(tapir_task_id(t1), tapir_task_id(t2));
  CHECK_EQ(tapir_task_get_status(t1), TAPIR_TASK_STATUS_PENDING);
  CHECK(!tapir_task_is_completed(t1));
  void *v = h_int(0x5);
  CHECK_ST(tapir_task_result(t1, &v), TAPIR_STATUS_NOT_COMPLETED);
  CHECK_PTR_EQ(v, h_int(0x5)); /* untouched: outputs are written only on OK */
  CHECK_EQ(tapir_task_error_count(t1), 0);
  const tapir_error *e = NULL;
  CHECK_ST(tapir_task_error(t1, &e), TAPIR_STATUS_NOT_COMPLETED);
  CHECK(e == NULL);
  CHECK_PTR_EQ(tapir_task_state(t1), &state);
  CHECK_EQ(tapir_task_options(t1), 0);
  CHECK_OK(tapir_task_release(t1));
  CHECK_OK(tapir_task_release(t2));
  CHECK_OK(tapir_source_set_result(s, NULL, NULL)); /* no broken promise */
  CHECK_OK(tapir_source_release(s));

  /* without state, the state reads back NULL */
  s = h_source();
  t1 = h_task_of(s);
  CHECK(tapir_task_state(t1) == NULL);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t1));
}

static void cs02_set_result(void) {
  atomic_int destroyed = 0, destroyed2 = 0;
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  CHECK_OK(tapir_source_set_result(s, &destroyed, h_bump_destroy));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(tapir_task_is_completed(t));
  void *v = NULL;
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, &destroyed); /* bit-identical */
  CHECK_EQ(tapir_task_error_count(t), 0);
  CHECK_OK(tapir_task_wait(t, 0));
  /* a refused second completion does not take ownership of its value */
  CHECK_ST(tapir_source_set_result(s, &destroyed2, h_bump_destroy), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_EQ(atomic_load(&destroyed2), 0);
  /* the value is destroyed exactly once, when the last reference is gone */
  CHECK_OK(tapir_source_release(s));
  CHECK_EQ(atomic_load(&destroyed), 0);
  CHECK_OK(tapir_task_release(t));
  CHECK_EQ(atomic_load(&destroyed), 1);

  /* try variant, and a NULL result */
  s = h_source();
  t = h_task_of(s);
  CHECK(tapir_source_try_set_result(s, NULL, NULL));
  v = h_int(1);
  CHECK_OK(tapir_task_result(t, &v));
  CHECK(v == NULL);
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));
}

static void cs03_set_error(void) {
  for (int variant = 0; variant < 2; variant++) {
    const tapir_source *s = h_source();
    const tapir_task *t = h_task_of(s);
    const tapir_error *e = h_error(33, "boom");
    if (variant == 0)
      CHECK_OK(tapir_source_set_error(s, e));
    else
      CHECK(tapir_source_try_set_error(s, e));
    CHECK_OK(tapir_error_release(e)); /* set_error borrowed it */
    CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_FAULTED);
    CHECK_EQ(tapir_task_error_count(t), 1);
    const tapir_error *got = NULL;
    CHECK_OK(tapir_task_error_at(t, 0, &got));
    CHECK_PTR_EQ(got, e); /* same object back */
    CHECK_EQ(tapir_error_code(got), 33);
    CHECK_OK(tapir_error_release(got));
    CHECK_OK(tapir_task_error(t, &got));
    CHECK_PTR_EQ(got, e);
    CHECK_OK(tapir_error_release(got));
    void *v = h_int(9);
    CHECK_ST(tapir_task_result(t, &v), TAPIR_STATUS_FAULTED);
    CHECK_PTR_EQ(v, h_int(9));
    CHECK_ST(tapir_task_wait(t, 0), TAPIR_STATUS_FAULTED);
    const tapir_cancel_token *tok = NULL;
    CHECK_ST(tapir_task_cancel_token(t, &tok), TAPIR_STATUS_INVALID_STATE); /* canceled tasks only */
    CHECK_ST(tapir_task_error_at(t, 1, &got), TAPIR_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tapir_source_release(s));
    CHECK_OK(tapir_task_release(t));
  }
}

static void cs04_error_list_keeps_order(void) {
  for (int variant = 0; variant < 2; variant++) {
    const tapir_source *s = h_source();
    const tapir_task *t = h_task_of(s);
    const tapir_error *errs[] = {h_error(1, "e1"), h_error(2, "e2"), h_error(3, "e3")};
    if (variant == 0)
      CHECK_OK(tapir_source_set_error_list(s, errs, 3));
    else
      CHECK(tapir_source_try_set_error_list(s, errs, 3));
    CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_FAULTED);
    CHECK_EQ(tapir_task_error_count(t), 3);
    for (size_t i = 0; i < 3; i++) {
      const tapir_error *got = NULL;
      CHECK_OK(tapir_task_error_at(t, i, &got));
      CHECK_PTR_EQ(got, errs[i]);
      tapir_error_release(got);
    }
    /* propagate-one: the first */
    const tapir_error *first = NULL;
    CHECK_OK(tapir_task_error(t, &first));
    CHECK_PTR_EQ(first, errs[0]);
    tapir_error_release(first);
    for (size_t i = 0; i < 3; i++) CHECK_OK(tapir_error_release(errs[i]));
    CHECK_OK(tapir_source_release(s));
    CHECK_OK(tapir_task_release(t));
  }
}

static void cs05_set_canceled(void) {
  for (int variant = 0; variant < 2; variant++) {
    const tapir_source *s = h_source();
    const tapir_task *t = h_task_of(s);
    if (variant == 0)
      CHECK_OK(tapir_source_set_canceled(s, NULL));
    else
      CHECK(tapir_source_try_set_canceled(s, NULL));
    CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_CANCELED);
    CHECK_EQ(tapir_task_error_count(t), 0); /* canceled is not an error */
    const tapir_error *e = NULL;
    CHECK_ST(tapir_task_error(t, &e), TAPIR_STATUS_INVALID_STATE);
    CHECK(e == NULL);
    void *v = NULL;
    CHECK_ST(tapir_task_result(t, &v), TAPIR_STATUS_CANCELED);
    CHECK_ST(tapir_task_wait(t, 0), TAPIR_STATUS_CANCELED);
    /* recorded token: none, reported as NULL */
    const tapir_cancel_token *tok = (const tapir_cancel_token *)h_int(0x1);
    CHECK_OK(tapir_task_cancel_token(t, &tok));
    CHECK(tok == NULL);
    CHECK_ST(tapir_task_cancel_token(t, NULL), TAPIR_STATUS_NULL_ARGUMENT);
    CHECK_OK(tapir_source_release(s));
    CHECK_OK(tapir_task_release(t));
  }
}

/* Every setter and try-setter on an already completed source is refused. */
static void refuse_all(const tapir_source *s, const tapir_error *e) {
  const tapir_error *list[] = {e};
  atomic_int destroyed = 0;
  CHECK_ST(tapir_source_set_result(s, &destroyed, h_bump_destroy), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_ST(tapir_source_set_error(s, e), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_ST(tapir_source_set_error_list(s, list, 1), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_ST(tapir_source_set_canceled(s, NULL), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK(!tapir_source_try_set_result(s, &destroyed, h_bump_destroy));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK(!tapir_source_try_set_error(s, e));
  CHECK(!tapir_source_try_set_error_list(s, list, 1));
  CHECK(!tapir_source_try_set_canceled(s, NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_ALREADY_COMPLETED);
  const tapir_task *done = NULL;
  CHECK_OK(tapir_task_completed(&done));
  CHECK_ST(tapir_source_set_from_task(s, done), TAPIR_STATUS_ALREADY_COMPLETED);
  tapir_task_release(done);
  CHECK_EQ(atomic_load(&destroyed), 0); /* refused values stay the caller's */
}

static void cs06_exactly_once(void) {
  const tapir_error *e = h_error(6, "first");
  const tapir_error *other = h_error(7, "second");
  for (int kind = 0; kind < 3; kind++) {
    const tapir_source *s = h_source();
    const tapir_task *t = h_task_of(s);
    if (kind == 0) CHECK_OK(tapir_source_set_result(s, h_int(77), NULL));
    if (kind == 1) CHECK_OK(tapir_source_set_error(s, e));
    if (kind == 2) CHECK_OK(tapir_source_set_canceled(s, NULL));
    refuse_all(s, other);
    /* state, result and error are unchanged */
    void *v = NULL;
    const tapir_error *got = NULL;
    switch (kind) {
    case 0:
      CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_SUCCEEDED);
      CHECK_OK(tapir_task_result(t, &v));
      CHECK_PTR_EQ(v, h_int(77));
      break;
    case 1:
      CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_FAULTED);
      CHECK_EQ(tapir_task_error_count(t), 1);
      CHECK_OK(tapir_task_error(t, &got));
      CHECK_PTR_EQ(got, e);
      tapir_error_release(got);
      break;
    default:
      CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_CANCELED);
      CHECK_EQ(tapir_task_error_count(t), 0);
    }
    CHECK_OK(tapir_source_release(s));
    CHECK_OK(tapir_task_release(t));
  }
  CHECK_OK(tapir_error_release(e));
  CHECK_OK(tapir_error_release(other));
}

/* ---- CS-07: racing try-setters, exactly one wins */

typedef struct {
  h_gate *gate;
  const tapir_source *source;
  const tapir_task *task;
  int kind; /* 0 result, 1 canceled, 2 error */
  atomic_int *wins;
  atomic_int *bad_observations;
} racer;

static void *race_body(void *arg) {
  racer *r = (racer *)arg;
  const tapir_error *e = NULL;
  if (r->kind == 2) tapir_error_new(50, (const uint8_t *)"race", 4, NULL, NULL, &e);
  h_gate_wait(r->gate);
  bool won = false;
  switch (r->kind) {
  case 0: won = tapir_source_try_set_result(r->source, h_int(10), NULL); break;
  case 1: won = tapir_source_try_set_canceled(r->source, NULL); break;
  default: won = tapir_source_try_set_error(r->source, e); break;
  }
  if (won) atomic_fetch_add(r->wins, 1);
  /* after its own call returned, every thread sees the terminal state */
  int32_t st = tapir_task_get_status(r->task);
  void *v = NULL;
  bool ok;
  switch (r->kind) {
  case 0: ok = st == TAPIR_TASK_STATUS_SUCCEEDED && tapir_task_result(r->task, &v) == 0 && v == h_int(10); break;
  case 1: ok = st == TAPIR_TASK_STATUS_CANCELED; break;
  default: ok = st == TAPIR_TASK_STATUS_FAULTED && tapir_task_error_count(r->task) == 1; break;
  }
  if (!ok) atomic_fetch_add(r->bad_observations, 1);
  if (e) tapir_error_release(e);
  return NULL;
}

static void cs07_racing_try_set_one_wins(void) {
  int nthreads = h_slow() ? 8 : 50, rounds = h_slow() ? 3 : 20;
  racer *rs = calloc((size_t)nthreads, sizeof *rs);
  pthread_t *ts = calloc((size_t)nthreads, sizeof *ts);
  for (int kind = 0; kind < 3; kind++) {
    for (int round = 0; round < rounds; round++) {
      h_gate gate = {0};
      atomic_int wins = 0, bad = 0;
      const tapir_source *s = h_source();
      const tapir_task *t = h_task_of(s);
      for (int i = 0; i < nthreads; i++) {
        rs[i] = (racer){&gate, s, t, kind, &wins, &bad};
        ts[i] = h_spawn(race_body, &rs[i]);
      }
      h_gate_open_when(&gate, nthreads);
      for (int i = 0; i < nthreads; i++) h_join(ts[i]);
      CHECKF(atomic_load(&wins) == 1, "kind %d round %d: %d winners", kind, round, atomic_load(&wins));
      CHECKF(atomic_load(&bad) == 0, "kind %d round %d: %d threads saw a non-terminal or wrong state",
             kind, round, atomic_load(&bad));
      const tapir_error *e = NULL;
      if (kind == 2 && tapir_task_error(t, &e) == TAPIR_STATUS_OK) tapir_error_release(e);
      CHECK_OK(tapir_source_release(s));
      CHECK_OK(tapir_task_release(t));
    }
  }
  free(rs);
  free(ts);
}

static void cs09_invalid_error_arguments(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  const tapir_error *e = h_error(1, "e");
  const tapir_error *with_null[] = {e, NULL};
  const tapir_error *one[] = {e};
  CHECK_ST(tapir_source_set_error(s, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_source_try_set_error(s, NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_source_set_error_list(s, NULL, 2), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_source_try_set_error_list(s, NULL, 2));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_source_set_error_list(s, one, 0), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(!tapir_source_try_set_error_list(s, one, 0));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_source_set_error_list(s, with_null, 2), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(!tapir_source_try_set_error_list(s, with_null, 2));
  /* a released error handle */
  const tapir_error *dead = h_error(2, "dead");
  tapir_error_release(dead);
  CHECK_ST(tapir_source_set_error(s, dead), TAPIR_STATUS_INVALID_HANDLE);
  /* none of that completed the source */
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING);
  CHECK(tapir_source_try_set_result(s, h_int(4), NULL));
  CHECK_OK(tapir_error_release(e));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));
}

static void cs11_source_flags_validated(void) {
  const tapir_source *s = NULL;
  REQUIRE_OK(tapir_source_new(TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY, NULL, &s));
  const tapir_task *t = h_task_of(s);
  CHECK_EQ(tapir_task_options(t), TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));

  size_t live = h_live();
  const uint32_t bad[] = {2u, 4u, 0x100u, 0x80000000u, 0xFFFFFFFFu};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s = (const tapir_source *)h_int(0x10);
    CHECKF(tapir_source_new(bad[i], NULL, &s) == TAPIR_STATUS_INVALID_ARGUMENT, "flags 0x%x accepted",
           (unsigned)bad[i]);
    CHECK_PTR_EQ(s, h_int(0x10));
  }
  CHECK_ST(tapir_source_new(0, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(h_live(), live);
}

/* tapir_source_new_with_task: the pair tapir_source_new + tapir_source_task give, in one call */
static void cs12_source_new_with_task(void) {
  size_t live = h_live();
  int state = 0;
  const tapir_source *s = NULL;
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_source_new_with_task(0, &state, &s, &t));
  CHECK(s != NULL && t != NULL);
  /* the same task tapir_source_task gives, with the state and no options */
  const tapir_task *t2 = h_task_of(s);
  CHECK_PTR_EQ(t2, t);
  CHECK_EQ(tapir_task_id(t2), tapir_task_id(t));
  CHECK_OK(tapir_task_release(t2));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING);
  CHECK_PTR_EQ(tapir_task_state(t), &state);
  CHECK_EQ(tapir_task_options(t), 0);
  /* two references of their own: the task outlives its source and the other way round */
  CHECK_OK(tapir_source_set_result(s, h_int(7), NULL));
  CHECK_OK(tapir_source_release(s));
  void *v = NULL;
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, h_int(7));
  CHECK_OK(tapir_task_release(t));
  CHECK_ST(tapir_task_release(t), TAPIR_STATUS_INVALID_HANDLE);

  /* the task released first: the source still completes it */
  REQUIRE_OK(tapir_source_new_with_task(0, NULL, &s, &t));
  CHECK(tapir_task_state(t) == NULL);
  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release(s));

  /* the flag, as tapir_source_new takes it */
  REQUIRE_OK(tapir_source_new_with_task(TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY, NULL, &s, &t));
  CHECK_EQ(tapir_task_options(t), TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
  CHECK_OK(tapir_source_release(s));

  /* releasing the only source reference of the pending task breaks the promise */
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  const tapir_error *e = NULL;
  CHECK_OK(tapir_task_error(t, &e));
  CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_BROKEN_PROMISE);
  tapir_error_release(e);
  CHECK_OK(tapir_task_release(t));

  /* errors create nothing and write neither out-parameter */
  const uint32_t bad[] = {2u, 0x100u, 0xFFFFFFFFu};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s = (const tapir_source *)h_int(0x10);
    t = (const tapir_task *)h_int(0x20);
    CHECKF(tapir_source_new_with_task(bad[i], NULL, &s, &t) == TAPIR_STATUS_INVALID_ARGUMENT,
           "flags 0x%x accepted", (unsigned)bad[i]);
    CHECK_PTR_EQ(s, h_int(0x10));
    CHECK_PTR_EQ(t, h_int(0x20));
  }
  s = (const tapir_source *)h_int(0x10);
  t = (const tapir_task *)h_int(0x20);
  CHECK_ST(tapir_source_new_with_task(0, NULL, NULL, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_PTR_EQ(t, h_int(0x20));
  CHECK_ST(tapir_source_new_with_task(0, NULL, &s, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_PTR_EQ(s, h_int(0x10));
  CHECK_ST(tapir_source_new_with_task(0, NULL, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(h_wait_live(live, h_prompt_ms()));
}

/* tapir_source_release_with_task: the two releases in one call */
static void cs13_source_release_with_task(void) {
  size_t live = h_live();
  const tapir_source *s = NULL;
  const tapir_task *t = NULL;
  /* completed: both references go, the value's destroy runs once */
  atomic_int destroyed = 0;
  REQUIRE_OK(tapir_source_new_with_task(0, NULL, &s, &t));
  CHECK_OK(tapir_source_set_result(s, &destroyed, h_bump_destroy));
  CHECK_OK(tapir_source_release_with_task(s, t));
  CHECK_EQ(atomic_load(&destroyed), 1);
  CHECK_ST(tapir_task_release(t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_source_release(s), TAPIR_STATUS_INVALID_HANDLE);

  /* pending: the source goes first, so its continuations see the broken promise */
  h_counter c;
  h_counter_init(&c);
  tapir_continuation_options o = {sizeof o, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};
  REQUIRE_OK(tapir_source_new_with_task(0, NULL, &s, &t));
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &c, h_count_destroy, &o, NULL));
  CHECK_OK(tapir_source_release_with_task(s, t));
  CHECK_EQ(atomic_load(&c.calls), 1);
  CHECK_EQ(c.status, TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(atomic_load(&c.destroys), 1);

  /* NULL for either (or both) is a no-op for that one */
  CHECK_OK(tapir_source_release_with_task(NULL, NULL));
  REQUIRE_OK(tapir_source_new_with_task(0, NULL, &s, &t));
  const tapir_task *t2 = h_task_of(s);
  CHECK_OK(tapir_source_release_with_task(NULL, t2));
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release_with_task(s, NULL));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_SUCCEEDED);

  /* a stale or wrong-kind argument is refused and the other one still released */
  CHECK_ST(tapir_source_release_with_task(s, t), TAPIR_STATUS_INVALID_HANDLE); /* s stale; t released */
  CHECK_ST(tapir_task_release(t), TAPIR_STATUS_INVALID_HANDLE);
  REQUIRE_OK(tapir_source_new_with_task(0, NULL, &s, &t));
  CHECK_ST(tapir_source_release_with_task((const tapir_source *)t, (const tapir_task *)s), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING); /* nothing was released */
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release_with_task(s, t));
  CHECK(h_wait_live(live, h_prompt_ms()));
}

/* ---- broken promise: the producer vanished */

static void broken_promise_on_last_source_release(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  h_counter sync_c, dflt_c;
  h_counter_init(&sync_c);
  h_counter_init(&dflt_c);
  tapir_continuation_options sync_opts = {sizeof sync_opts, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &sync_c, h_count_destroy, &sync_opts, NULL));
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &dflt_c, h_count_destroy, NULL, NULL));

  /* a second source handle keeps the promise alive */
  CHECK_PTR_EQ(tapir_source_retain(s), s);
  CHECK_OK(tapir_source_release(s));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(atomic_load(&sync_c.calls), 0);

  /* the last one faults the task with BROKEN_PROMISE and runs the continuations */
  CHECK_OK(tapir_source_release(s));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_ST(tapir_task_wait(t, 0), TAPIR_STATUS_FAULTED);
  const tapir_error *e = NULL;
  CHECK_OK(tapir_task_error(t, &e));
  CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_BROKEN_PROMISE);
  tapir_error_release(e);
  CHECK(h_wait_eq(&dflt_c.destroys, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&sync_c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&sync_c.calls), 1);
  CHECK_EQ(atomic_load(&dflt_c.calls), 1);
  CHECK_EQ(sync_c.status, TAPIR_TASK_STATUS_FAULTED);
  CHECK_OK(tapir_task_release(t));

  /* releasing the source of a completed task changes nothing */
  s = h_source();
  t = h_task_of(s);
  CHECK_OK(tapir_source_set_result(s, h_int(5), NULL));
  CHECK_OK(tapir_source_release(s));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(t));
}

static void broken_promise_wakes_waiter(void) {
  /* a thread blocked in wait is released by the broken promise */
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  CHECK_ST(tapir_task_wait(t, 20), TAPIR_STATUS_TIMEOUT);
  CHECK_OK(tapir_source_release(s));
  CHECK_ST(tapir_task_wait(t, h_prompt_ms()), TAPIR_STATUS_FAULTED);
  const tapir_error *e = NULL;
  CHECK_OK(tapir_task_error(t, &e));
  CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_BROKEN_PROMISE);
  tapir_error_release(e);
  CHECK_OK(tapir_task_release(t));
}

static void source_and_task_lifetimes_are_independent(void) {
  /* the task outlives its source, and the source outlives its task */
  atomic_int destroyed = 0;
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_source_set_result(s, &destroyed, h_bump_destroy));
  t = h_task_of(s);
  void *v = NULL;
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, &destroyed);
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, &destroyed);
  CHECK_EQ(atomic_load(&destroyed), 0);
  CHECK_OK(tapir_task_release(t));
  CHECK_EQ(atomic_load(&destroyed), 1);
}

void register_source_tests(void) {
  REG(cs01_fresh_source_is_pending);
  REG(cs02_set_result);
  REG(cs03_set_error);
  REG(cs04_error_list_keeps_order);
  REG(cs05_set_canceled);
  REG(cs06_exactly_once);
  REG(cs07_racing_try_set_one_wins);
  REG(cs09_invalid_error_arguments);
  REG(cs11_source_flags_validated);
  REG(cs12_source_new_with_task);
  REG(cs13_source_release_with_task);
  REG(broken_promise_on_last_source_release);
  REG(broken_promise_wakes_waiter);
  REG(source_and_task_lifetimes_are_independent);
}
