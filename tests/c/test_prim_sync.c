/* Coordination primitives: semaphore, auto/manual-reset events, countdown, barrier. */
#include "prims.h"

atomic_int p_in_cancel;
pthread_t p_canceler;

/* ------------------------------------------------------------ semaphore */

static void sem_counts_and_over_release(void) {
  const tapir_semaphore *s = NULL;
  REQUIRE_OK(tapir_semaphore_new(2, 3, &s));
  CHECK_EQ(tapir_semaphore_current_count(s), 2);
  CHECK(tapir_semaphore_try_wait(s, 1));
  CHECK(tapir_semaphore_try_wait(s, 1));
  CHECK(!tapir_semaphore_try_wait(s, 1));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_TIMEOUT); /* not available: a 0 ms wait */
  uint32_t before = 99;
  CHECK_OK(tapir_semaphore_signal(s, 1, &before));
  CHECK_EQ(before, 0);
  CHECK_OK(tapir_semaphore_signal(s, 2, NULL));
  CHECK_EQ(tapir_semaphore_current_count(s), 3);
  /* over-release: an error, and nothing changes */
  CHECK_ST(tapir_semaphore_signal(s, 1, &before), TAPIR_STATUS_FULL);
  CHECK_EQ(before, 0);
  CHECK_EQ(tapir_semaphore_current_count(s), 3);
  CHECK(tapir_semaphore_try_wait(s, 3));
  CHECK_ST(tapir_semaphore_signal(s, 4, NULL), TAPIR_STATUS_FULL);
  CHECK_EQ(tapir_semaphore_current_count(s), 0);
  CHECK_ST(tapir_semaphore_signal(s, 0, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(!tapir_semaphore_try_wait(s, 4));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(!tapir_semaphore_try_wait(s, 0));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_OK(tapir_semaphore_release(s));
}

static void sem_waiters_are_served_fifo(void) {
  const tapir_semaphore *s = NULL;
  REQUIRE_OK(tapir_semaphore_new(0, 10, &s));
  const tapir_task *a = NULL, *b = NULL, *c = NULL;
  REQUIRE_OK(tapir_semaphore_wait_async(s, 2, -1, NULL, &a));
  REQUIRE_OK(tapir_semaphore_wait_async(s, 1, -1, NULL, &b));
  CHECK(p_pending(a) && p_pending(b));
  /* one permit: the head needs two, and nobody behind it may barge */
  CHECK_OK(tapir_semaphore_signal(s, 1, NULL));
  CHECK(p_pending(a) && p_pending(b));
  CHECK(!tapir_semaphore_try_wait(s, 1)); /* no barging past waiters either */
  CHECK_OK(tapir_semaphore_signal(s, 1, NULL));
  CHECK_EQ(p_settled_value(a), 1);
  CHECK(p_pending(b));
  CHECK_EQ(tapir_semaphore_current_count(s), 0);
  /* a new waiter queues behind b */
  REQUIRE_OK(tapir_semaphore_wait_async(s, 1, -1, NULL, &c));
  CHECK_OK(tapir_semaphore_signal(s, 1, NULL));
  CHECK_EQ(p_settled_value(b), 1);
  CHECK(p_pending(c));
  CHECK_OK(tapir_semaphore_signal(s, 1, NULL));
  CHECK_EQ(p_settled_value(c), 1);
  /* an available permit with nobody waiting completes at once */
  const tapir_task *d = NULL;
  CHECK_OK(tapir_semaphore_signal(s, 1, NULL));
  REQUIRE_OK(tapir_semaphore_wait_async(s, 1, -1, NULL, &d));
  CHECK_EQ(p_value(d), 1);
  tapir_task_release(a);
  tapir_task_release(b);
  tapir_task_release(c);
  tapir_task_release(d);
  CHECK_OK(tapir_semaphore_release(s));
}

static void sem_timeout_never_consumes_a_release(void) {
  const tapir_semaphore *s = NULL;
  REQUIRE_OK(tapir_semaphore_new(0, 1, &s));
  const tapir_task *t = NULL, *z = NULL;
  REQUIRE_OK(tapir_semaphore_wait_async(s, 1, 20, NULL, &t));
  CHECK_EQ(p_settled_value(t), 0); /* timed out: value 0, not a fault */
  REQUIRE_OK(tapir_semaphore_wait_async(s, 1, 0, NULL, &z));
  CHECK_EQ(p_value(z), 0); /* timeout 0 polls */
  CHECK_OK(tapir_semaphore_signal(s, 1, NULL));
  CHECK_EQ(tapir_semaphore_current_count(s), 1); /* the timed-out waiters took nothing */
  CHECK_EQ(tapir_debug_pending_timers(), 0);
  tapir_task_release(t);
  tapir_task_release(z);
  CHECK_OK(tapir_semaphore_release(s));
}

static void sem_cancel_leaves_the_queue(void) {
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cts, &tok)) return;
  const tapir_semaphore *s = NULL;
  REQUIRE_OK(tapir_semaphore_new(1, 10, &s));
  const tapir_task *a = NULL, *b = NULL, *pre = NULL;
  /* a needs 2 (only 1 there) and blocks b; canceling a lets b through */
  REQUIRE_OK(tapir_semaphore_wait_async(s, 2, 60000, tok, &a));
  REQUIRE_OK(tapir_semaphore_wait_async(s, 1, -1, NULL, &b));
  p_probe probe = {0};
  CHECK_OK(tapir_task_on_complete(a, p_probe_cb, &probe, NULL, h_sync(), NULL));
  CHECK(p_pending(b));
  CHECK_EQ(tapir_debug_pending_timers(), 1);
  p_cancel(cts);
  CHECK_EQ(h_settle(a), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(p_settled_value(b), 1);
  CHECK(h_wait_eq(&probe.ran, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&probe.inside_cancel), 0); /* never inside the canceling call */
  CHECK_EQ(tapir_debug_pending_timers(), 0);       /* its timer went at once */
  CHECK_EQ(tapir_semaphore_current_count(s), 0);
  /* an already canceled token: canceled at once, the count untouched */
  CHECK_OK(tapir_semaphore_signal(s, 1, NULL));
  REQUIRE_OK(tapir_semaphore_wait_async(s, 5, -1, tok, &pre));
  CHECK_EQ(tapir_task_get_status(pre), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(tapir_semaphore_current_count(s), 1);
  tapir_task_release(a);
  tapir_task_release(b);
  tapir_task_release(pre);
  CHECK_OK(tapir_semaphore_release(s));
  h_release_cts(cts, tok);
}

static void sem_last_release_fails_waiters(void) {
  const tapir_semaphore *s = NULL;
  REQUIRE_OK(tapir_semaphore_new(0, 1, &s));
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_semaphore_wait_async(s, 1, -1, NULL, &t));
  CHECK_PTR_EQ(tapir_semaphore_retain(s), s);
  CHECK_OK(tapir_semaphore_release(s));
  CHECK(p_pending(t));
  CHECK_OK(tapir_semaphore_release(s));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(t), TAPIR_STATUS_DISPOSED);
  tapir_task_release(t);
}

static void sem_misuse(void) {
  const tapir_semaphore *s = NULL;
  const tapir_task *t = (const tapir_task *)h_int(0x10);
  CHECK_ST(tapir_semaphore_new(0, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_semaphore_new(2, 1, &s), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_semaphore_new(0, 0, &s), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(s == NULL);
  REQUIRE_OK(tapir_semaphore_new(1, 1, &s));
  CHECK_ST(tapir_semaphore_wait_async(NULL, 1, -1, NULL, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_semaphore_wait_async(s, 1, -1, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_semaphore_wait_async(s, 1, -2, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_semaphore_wait_async(s, 0, -1, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_semaphore_wait_async(s, 2, -1, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_semaphore_wait_async(s, 1, -1, (const tapir_cancel_token *)p_wrong_kind(), &t),
           TAPIR_STATUS_INVALID_HANDLE);
  CHECK_PTR_EQ(t, h_int(0x10)); /* nothing written on error */
  /* wrong kind */
  const tapir_semaphore *wrong = (const tapir_semaphore *)p_wrong_kind();
  CHECK_ST(tapir_semaphore_wait_async(wrong, 1, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_semaphore_signal(wrong, 1, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_semaphore_try_wait(wrong, 1));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_semaphore_release(wrong), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_semaphore_retain(wrong) == NULL);
  /* NULL */
  CHECK(!tapir_semaphore_try_wait(NULL, 1));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_semaphore_signal(NULL, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(tapir_semaphore_current_count(NULL), 0);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(tapir_semaphore_retain(NULL) == NULL);
  CHECK_OK(tapir_semaphore_release(NULL));
  /* stale: every call refuses, even after the slot is reused */
  CHECK_OK(tapir_semaphore_release(s));
  const tapir_semaphore *reuse = NULL;
  REQUIRE_OK(tapir_semaphore_new(1, 1, &reuse));
  CHECK_ST(tapir_semaphore_release(s), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_semaphore_signal(s, 1, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_semaphore_try_wait(s, 1));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_semaphore_wait_async(s, 1, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_semaphore_current_count(reuse), 1);
  CHECK_OK(tapir_semaphore_release(reuse));
}

/* 1,000,000 waiters, each one's synchronous continuation signals the next: all
 * complete, on a 256 KiB stack. */
typedef struct {
  const tapir_semaphore *s;
  atomic_long done;
  long n;
} sem_chain;

static void sem_chain_cb(void *ud, const tapir_task *t) {
  sem_chain *c = (sem_chain *)ud;
  if (p_value(t) == 1) atomic_fetch_add(&c->done, 1);
  CHECK_OK(tapir_semaphore_signal(c->s, 1, NULL));
}

static void *sem_chain_body(void *arg) {
  sem_chain *c = (sem_chain *)arg;
  CHECK_OK(tapir_semaphore_signal(c->s, 1, NULL));
  return NULL;
}

static void sem_million_waiters_chain_on_small_stack(void) {
  sem_chain c = {NULL, 0, h_deep_n()};
  REQUIRE_OK(tapir_semaphore_new(0, 1, &c.s));
  for (long i = 0; i < c.n; i++) {
    const tapir_task *t = NULL;
    REQUIRE_OK(tapir_semaphore_wait_async(c.s, 1, -1, NULL, &t));
    CHECK_OK(tapir_task_on_complete(t, sem_chain_cb, &c, NULL, h_sync(), NULL));
    tapir_task_release(t);
  }
  h_run_on_stack(sem_chain_body, &c, 256 * 1024);
  CHECK_EQ(atomic_load(&c.done), c.n);
  CHECK_EQ(tapir_semaphore_current_count(c.s), 1);
  CHECK_OK(tapir_semaphore_release(c.s));
}

/* A release of the handle racing calls on it: each call acts or sees the handle
 * stale, and nothing leaks. */
typedef struct {
  const tapir_semaphore *s;
  h_gate gate;
  atomic_int ok, stale;
} sem_race;

static void *sem_race_caller(void *arg) {
  sem_race *r = (sem_race *)arg;
  h_gate_wait(&r->gate);
  for (int i = 0; i < 200; i++) {
    const tapir_task *t = NULL;
    int32_t st = tapir_semaphore_wait_async(r->s, 1, 0, NULL, &t);
    if (st == TAPIR_STATUS_OK) {
      atomic_fetch_add(&r->ok, 1);
      tapir_task_release(t);
      (void)tapir_semaphore_signal(r->s, 1, NULL);
    } else if (st == TAPIR_STATUS_INVALID_HANDLE) {
      atomic_fetch_add(&r->stale, 1);
    } else {
      h_fail(__FILE__, __LINE__, "wait_async -> %s", h_status_name(st));
    }
  }
  return NULL;
}

static void sem_release_races_calls(void) {
  for (int round = 0; round < 20; round++) {
    sem_race r;
    memset(&r, 0, sizeof r);
    REQUIRE_OK(tapir_semaphore_new(1, 1, &r.s));
    pthread_t a = h_spawn(sem_race_caller, &r), b = h_spawn(sem_race_caller, &r);
    h_gate_open_when(&r.gate, 2);
    CHECK_OK(tapir_semaphore_release(r.s));
    h_join(a);
    h_join(b);
    CHECK_EQ(atomic_load(&r.ok) + atomic_load(&r.stale), 400);
  }
}

/* --------------------------------------------------------------- events */

static void auto_event_remembers_one_set(void) {
  const tapir_auto_reset_event *e = NULL;
  REQUIRE_OK(tapir_auto_reset_event_new(0, &e));
  CHECK(!tapir_auto_reset_event_try_wait(e));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_TIMEOUT);
  CHECK_OK(tapir_auto_reset_event_set(e));
  CHECK_OK(tapir_auto_reset_event_set(e)); /* remembered once, not twice */
  const tapir_task *a = NULL, *b = NULL;
  REQUIRE_OK(tapir_auto_reset_event_wait_async(e, -1, NULL, &a));
  CHECK_EQ(p_value(a), 1);
  REQUIRE_OK(tapir_auto_reset_event_wait_async(e, -1, NULL, &b));
  CHECK(p_pending(b));
  CHECK_OK(tapir_auto_reset_event_set(e));
  CHECK_EQ(p_settled_value(b), 1);
  CHECK(!tapir_auto_reset_event_try_wait(e)); /* the set went to the waiter */
  CHECK_OK(tapir_auto_reset_event_set(e));
  CHECK(tapir_auto_reset_event_try_wait(e));
  CHECK(!tapir_auto_reset_event_try_wait(e));
  tapir_task_release(a);
  tapir_task_release(b);
  CHECK_OK(tapir_auto_reset_event_release(e));
  /* initially set */
  REQUIRE_OK(tapir_auto_reset_event_new(1, &e));
  CHECK(tapir_auto_reset_event_try_wait(e));
  CHECK_OK(tapir_auto_reset_event_release(e));
}

static void auto_event_one_waiter_per_set_in_order(void) {
  const tapir_auto_reset_event *e = NULL;
  REQUIRE_OK(tapir_auto_reset_event_new(0, &e));
  const tapir_task *w[4] = {0};
  for (int i = 0; i < 4; i++) REQUIRE_OK(tapir_auto_reset_event_wait_async(e, -1, NULL, &w[i]));
  for (int i = 0; i < 4; i++) {
    CHECK_OK(tapir_auto_reset_event_set(e));
    CHECK_EQ(p_settled_value(w[i]), 1);
    for (int j = i + 1; j < 4; j++) CHECK(p_pending(w[j]));
  }
  for (int i = 0; i < 4; i++) tapir_task_release(w[i]);
  CHECK_OK(tapir_auto_reset_event_release(e));
}

static void auto_event_timeout_and_cancel_take_no_set(void) {
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cts, &tok)) return;
  const tapir_auto_reset_event *e = NULL;
  REQUIRE_OK(tapir_auto_reset_event_new(0, &e));
  const tapir_task *a = NULL, *b = NULL, *c = NULL;
  REQUIRE_OK(tapir_auto_reset_event_wait_async(e, 10, NULL, &a));
  REQUIRE_OK(tapir_auto_reset_event_wait_async(e, -1, tok, &b));
  REQUIRE_OK(tapir_auto_reset_event_wait_async(e, -1, NULL, &c));
  CHECK_EQ(p_settled_value(a), 0);
  p_cancel(cts);
  CHECK_EQ(h_settle(b), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_auto_reset_event_set(e));
  CHECK_EQ(p_settled_value(c), 1); /* the set skipped the two that left */
  tapir_task_release(a);
  tapir_task_release(b);
  tapir_task_release(c);
  CHECK_OK(tapir_auto_reset_event_release(e));
  h_release_cts(cts, tok);
}

static void manual_event_sets_everyone_and_resets(void) {
  const tapir_manual_reset_event *e = NULL;
  REQUIRE_OK(tapir_manual_reset_event_new(0, &e));
  CHECK(!tapir_manual_reset_event_is_set(e));
  const tapir_task *w[3] = {0}, *after = NULL, *gen2 = NULL, *timed = NULL;
  for (int i = 0; i < 3; i++) REQUIRE_OK(tapir_manual_reset_event_wait_async(e, -1, NULL, &w[i]));
  CHECK_OK(tapir_manual_reset_event_set(e));
  for (int i = 0; i < 3; i++) CHECK_EQ(p_settled_value(w[i]), 1);
  CHECK(tapir_manual_reset_event_is_set(e));
  REQUIRE_OK(tapir_manual_reset_event_wait_async(e, -1, NULL, &after));
  CHECK_EQ(p_value(after), 1); /* completes at once while set */
  CHECK_OK(tapir_manual_reset_event_reset(e));
  CHECK(!tapir_manual_reset_event_is_set(e));
  REQUIRE_OK(tapir_manual_reset_event_wait_async(e, -1, NULL, &gen2));
  REQUIRE_OK(tapir_manual_reset_event_wait_async(e, 10, NULL, &timed));
  CHECK(p_pending(gen2));
  CHECK_EQ(p_settled_value(timed), 0);
  CHECK_OK(tapir_manual_reset_event_set(e));
  CHECK_EQ(p_settled_value(gen2), 1);
  for (int i = 0; i < 3; i++) tapir_task_release(w[i]);
  tapir_task_release(after);
  tapir_task_release(gen2);
  tapir_task_release(timed);
  CHECK_PTR_EQ(tapir_manual_reset_event_retain(e), e);
  CHECK_OK(tapir_manual_reset_event_release(e));
  CHECK_OK(tapir_manual_reset_event_release(e));
  REQUIRE_OK(tapir_manual_reset_event_new(1, &e));
  CHECK(tapir_manual_reset_event_is_set(e));
  CHECK_OK(tapir_manual_reset_event_release(e));
}

static void events_misuse(void) {
  const tapir_auto_reset_event *a = NULL;
  const tapir_manual_reset_event *m = NULL;
  const tapir_task *t = NULL;
  CHECK_ST(tapir_auto_reset_event_new(2, &a), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_manual_reset_event_new(7, &m), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_auto_reset_event_new(0, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_manual_reset_event_new(0, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  REQUIRE_OK(tapir_auto_reset_event_new(0, &a));
  REQUIRE_OK(tapir_manual_reset_event_new(0, &m));
  /* an auto event is the wrong kind for the manual functions, and the other way round */
  const tapir_manual_reset_event *a_as_m = (const tapir_manual_reset_event *)a;
  const tapir_auto_reset_event *m_as_a = (const tapir_auto_reset_event *)m;
  CHECK_ST(tapir_manual_reset_event_set(a_as_m), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_manual_reset_event_reset(a_as_m), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_manual_reset_event_is_set(a_as_m));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_manual_reset_event_wait_async(a_as_m, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_auto_reset_event_set(m_as_a), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_auto_reset_event_try_wait(m_as_a));
  CHECK_ST(tapir_auto_reset_event_wait_async(m_as_a, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_auto_reset_event_retain(m_as_a) == NULL);
  CHECK(tapir_manual_reset_event_retain(a_as_m) == NULL);
  CHECK_ST(tapir_auto_reset_event_release(m_as_a), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_manual_reset_event_release(a_as_m), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_auto_reset_event_wait_async(a, -5, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_manual_reset_event_wait_async(m, -1, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_auto_reset_event_set(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_manual_reset_event_set(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_manual_reset_event_reset(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_auto_reset_event_release(NULL));
  CHECK_OK(tapir_manual_reset_event_release(NULL));
  /* a pending wait fails when the last handle goes */
  REQUIRE_OK(tapir_auto_reset_event_wait_async(a, -1, NULL, &t));
  CHECK_OK(tapir_auto_reset_event_release(a));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(t), TAPIR_STATUS_DISPOSED);
  tapir_task_release(t);
  CHECK_ST(tapir_auto_reset_event_set(a), TAPIR_STATUS_INVALID_HANDLE); /* stale */
  CHECK_OK(tapir_manual_reset_event_release(m));
  CHECK_ST(tapir_manual_reset_event_set(m), TAPIR_STATUS_INVALID_HANDLE);
}

/* ------------------------------------------------------------ countdown */

static void countdown_counts_down_to_set(void) {
  const tapir_countdown *c = NULL;
  REQUIRE_OK(tapir_countdown_new(3, &c));
  CHECK_EQ(tapir_countdown_current_count(c), 3);
  CHECK_EQ(tapir_countdown_initial_count(c), 3);
  const tapir_task *w = NULL, *timed = NULL, *after = NULL;
  REQUIRE_OK(tapir_countdown_wait_async(c, -1, NULL, &w));
  REQUIRE_OK(tapir_countdown_wait_async(c, 10, NULL, &timed));
  bool zero = true;
  CHECK_OK(tapir_countdown_signal(c, 1, &zero));
  CHECK(!zero);
  CHECK_OK(tapir_countdown_add_count(c, 2));
  CHECK(tapir_countdown_try_add_count(c, 1));
  CHECK_EQ(tapir_countdown_current_count(c), 5);
  CHECK_EQ(p_settled_value(timed), 0);
  CHECK(p_pending(w));
  CHECK_ST(tapir_countdown_signal(c, 6, NULL), TAPIR_STATUS_INVALID_STATE); /* too many */
  CHECK_EQ(tapir_countdown_current_count(c), 5);
  CHECK_OK(tapir_countdown_signal(c, 5, &zero));
  CHECK(zero);
  CHECK_EQ(p_settled_value(w), 1);
  REQUIRE_OK(tapir_countdown_wait_async(c, -1, NULL, &after));
  CHECK_EQ(p_value(after), 1);
  /* set: no more signals or additions */
  CHECK_ST(tapir_countdown_signal(c, 1, NULL), TAPIR_STATUS_INVALID_STATE);
  CHECK_ST(tapir_countdown_add_count(c, 1), TAPIR_STATUS_INVALID_STATE);
  CHECK(!tapir_countdown_try_add_count(c, 1));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_STATE);
  tapir_task_release(w);
  tapir_task_release(timed);
  tapir_task_release(after);
  /* reset to the initial count, to a new one, and to zero */
  CHECK_OK(tapir_countdown_reset(c, -1));
  CHECK_EQ(tapir_countdown_current_count(c), 3);
  REQUIRE_OK(tapir_countdown_wait_async(c, -1, NULL, &w));
  CHECK_OK(tapir_countdown_reset(c, 7));
  CHECK_EQ(tapir_countdown_initial_count(c), 7);
  CHECK(p_pending(w));
  CHECK_OK(tapir_countdown_reset(c, 0));
  CHECK_EQ(p_settled_value(w), 1);
  tapir_task_release(w);
  CHECK_ST(tapir_countdown_reset(c, -2), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_countdown_reset(c, 0x100000000LL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_OK(tapir_countdown_reset(c, 1));
  CHECK_ST(tapir_countdown_add_count(c, 0xFFFFFFFFu), TAPIR_STATUS_FULL);
  CHECK(!tapir_countdown_try_add_count(c, 0xFFFFFFFFu));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_FULL);
  CHECK_ST(tapir_countdown_signal(c, 0, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_countdown_add_count(c, 0), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_EQ(tapir_countdown_current_count(c), 1);
  CHECK_OK(tapir_countdown_release(c));
  /* zero from the start */
  REQUIRE_OK(tapir_countdown_new(0, &c));
  REQUIRE_OK(tapir_countdown_wait_async(c, -1, NULL, &w));
  CHECK_EQ(p_value(w), 1);
  tapir_task_release(w);
  CHECK_OK(tapir_countdown_release(c));
}

static void countdown_misuse(void) {
  const tapir_countdown *c = NULL;
  const tapir_task *t = NULL;
  CHECK_ST(tapir_countdown_new(1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_countdown *wrong = (const tapir_countdown *)p_wrong_kind();
  CHECK_ST(tapir_countdown_signal(wrong, 1, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_countdown_add_count(NULL, 1), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(tapir_countdown_current_count(wrong), 0);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_countdown_initial_count(NULL), 0);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(tapir_countdown_retain(wrong) == NULL);
  CHECK_OK(tapir_countdown_release(NULL));
  REQUIRE_OK(tapir_countdown_new(1, &c));
  CHECK_PTR_EQ(tapir_countdown_retain(c), c);
  CHECK_OK(tapir_countdown_release(c));
  CHECK_ST(tapir_countdown_wait_async(c, 5000000000LL, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  REQUIRE_OK(tapir_countdown_wait_async(c, -1, NULL, &t));
  CHECK_OK(tapir_countdown_release(c));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(t), TAPIR_STATUS_DISPOSED);
  tapir_task_release(t);
  CHECK_ST(tapir_countdown_release(c), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_countdown_reset(c, 1), TAPIR_STATUS_INVALID_HANDLE);
}

/* -------------------------------------------------------------- barrier */

typedef struct {
  atomic_int calls;
  atomic_long last_phase;
  atomic_int fail_phase; /* phase whose action reports an error (-1: none) */
  atomic_int waiters_done_during_action;
  const tapir_task *watched;
  atomic_int destroyed;
} phase_rec;

static const tapir_error *phase_action(void *ud, uint64_t phase) {
  phase_rec *r = (phase_rec *)ud;
  atomic_fetch_add(&r->calls, 1);
  atomic_store(&r->last_phase, (long)phase);
  if (r->watched && !p_pending(r->watched)) atomic_fetch_add(&r->waiters_done_during_action, 1);
  if ((long)phase == atomic_load(&r->fail_phase)) return h_error(77, "post-phase failed");
  return NULL;
}

static void phase_destroy(void *ud) { atomic_fetch_add(&((phase_rec *)ud)->destroyed, 1); }

static void barrier_phases_and_action(void) {
  phase_rec r;
  memset(&r, 0, sizeof r);
  atomic_store(&r.fail_phase, 1);
  const tapir_barrier *b = NULL;
  REQUIRE_OK(tapir_barrier_new(3, phase_action, &r, phase_destroy, &b));
  CHECK_EQ(tapir_barrier_participant_count(b), 3);
  CHECK_EQ(tapir_barrier_current_phase(b), 0);
  const tapir_task *t[3] = {0};
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t[0]));
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t[1]));
  CHECK_EQ(tapir_barrier_participants_remaining(b), 1);
  CHECK(p_pending(t[0]) && p_pending(t[1]));
  r.watched = t[0];
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t[2]));
  for (int i = 0; i < 3; i++) CHECK_EQ(p_settled_value(t[i]), 1);
  CHECK_EQ(atomic_load(&r.calls), 1);
  CHECK_EQ(atomic_load(&r.last_phase), 0);
  CHECK_EQ(atomic_load(&r.waiters_done_during_action), 0); /* the action runs first */
  CHECK_EQ(tapir_barrier_current_phase(b), 1);
  CHECK_EQ(tapir_barrier_participants_remaining(b), 3);
  for (int i = 0; i < 3; i++) tapir_task_release(t[i]);
  r.watched = NULL;
  /* phase 1: the action fails, every participant of the phase fails with its error */
  for (int i = 0; i < 3; i++) REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t[i]));
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(h_settle(t[i]), TAPIR_TASK_STATUS_FAULTED);
    CHECK_EQ(p_error_code(t[i]), 77);
    tapir_task_release(t[i]);
  }
  CHECK_EQ(tapir_barrier_current_phase(b), 2);
  CHECK_EQ(atomic_load(&r.destroyed), 0);
  CHECK_OK(tapir_barrier_release(b));
  CHECK_EQ(atomic_load(&r.destroyed), 1);
}

static void barrier_timeout_takes_the_arrival_back(void) {
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cts, &tok)) return;
  const tapir_barrier *b = NULL;
  REQUIRE_OK(tapir_barrier_new(2, NULL, NULL, NULL, &b));
  const tapir_task *a = NULL, *c = NULL, *x = NULL, *y = NULL;
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, 10, NULL, &a));
  CHECK_EQ(p_settled_value(a), 0);
  CHECK_EQ(tapir_barrier_participants_remaining(b), 2);
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, tok, &c));
  CHECK_EQ(tapir_barrier_participants_remaining(b), 1);
  p_cancel(cts);
  CHECK_EQ(h_settle(c), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(tapir_barrier_participants_remaining(b), 2);
  CHECK_EQ(tapir_barrier_current_phase(b), 0);
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &x));
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, 0, NULL, &y));
  CHECK_EQ(p_settled_value(x), 1);
  CHECK_EQ(p_value(y), 1); /* the last arrival completes the phase even with timeout 0 */
  tapir_task_release(a);
  tapir_task_release(c);
  tapir_task_release(x);
  tapir_task_release(y);
  CHECK_OK(tapir_barrier_release(b));
  h_release_cts(cts, tok);
}

static void barrier_participants_change(void) {
  phase_rec r;
  memset(&r, 0, sizeof r);
  atomic_store(&r.fail_phase, -1);
  const tapir_barrier *b = NULL;
  const tapir_task *t = NULL, *u = NULL;
  REQUIRE_OK(tapir_barrier_new(0, phase_action, &r, NULL, &b));
  CHECK_ST(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t), TAPIR_STATUS_INVALID_STATE);
  uint64_t phase = 9;
  CHECK_OK(tapir_barrier_add_participants(b, 3, &phase));
  CHECK_EQ(phase, 0);
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t));
  CHECK_ST(tapir_barrier_remove_participants(b, 4), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_barrier_remove_participants(b, 3), TAPIR_STATUS_INVALID_STATE);
  CHECK_OK(tapir_barrier_remove_participants(b, 1));
  CHECK(p_pending(t));
  /* the other one left arrives: the phase completes */
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &u));
  CHECK(p_pending(u) || p_value(u) == 1);
  CHECK_EQ(p_settled_value(t), 1);
  CHECK_EQ(p_settled_value(u), 1);
  CHECK_EQ(atomic_load(&r.calls), 1);
  tapir_task_release(t);
  tapir_task_release(u);
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t));
  CHECK_OK(tapir_barrier_remove_participants(b, 1));
  CHECK_EQ(p_settled_value(t), 1);
  CHECK_EQ(atomic_load(&r.calls), 2);
  CHECK_EQ(tapir_barrier_current_phase(b), 2);
  tapir_task_release(t);
  CHECK_ST(tapir_barrier_add_participants(b, 0xFFFFFFFFu, NULL), TAPIR_STATUS_FULL);
  CHECK_OK(tapir_barrier_add_participants(b, 2, NULL));
  REQUIRE_OK(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t));
  CHECK_PTR_EQ(tapir_barrier_retain(b), b);
  CHECK_OK(tapir_barrier_release(b));
  CHECK_OK(tapir_barrier_release(b));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(t), TAPIR_STATUS_DISPOSED);
  tapir_task_release(t);
  /* misuse */
  CHECK_ST(tapir_barrier_new(1, NULL, NULL, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_barrier *wrong = (const tapir_barrier *)p_wrong_kind();
  CHECK_ST(tapir_barrier_signal_and_wait_async(wrong, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_barrier_signal_and_wait_async(b, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_barrier_add_participants(NULL, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_barrier_remove_participants(b, 1), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_barrier_current_phase(b), 0);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_barrier_participant_count(NULL), 0);
  CHECK_EQ(tapir_barrier_participants_remaining(wrong), 0);
  CHECK(tapir_barrier_retain(b) == NULL);
  CHECK_ST(tapir_barrier_release(b), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_barrier_release(NULL));
}

/* Threads cycling through many phases: every arrival completes exactly once. */
typedef struct {
  const tapir_barrier *b;
  int phases;
  atomic_int ok;
} barrier_run;

static void *barrier_participant(void *arg) {
  barrier_run *r = (barrier_run *)arg;
  for (int i = 0; i < r->phases; i++) {
    const tapir_task *t = NULL;
    if (tapir_barrier_signal_and_wait_async(r->b, -1, NULL, &t) != TAPIR_STATUS_OK) break;
    if (tapir_task_wait(t, -1) == TAPIR_STATUS_OK && p_value(t) == 1) atomic_fetch_add(&r->ok, 1);
    tapir_task_release(t);
  }
  return NULL;
}

static void barrier_threads_through_phases(void) {
  phase_rec rec;
  memset(&rec, 0, sizeof rec);
  atomic_store(&rec.fail_phase, -1);
  barrier_run r = {NULL, 500, 0};
  REQUIRE_OK(tapir_barrier_new(4, phase_action, &rec, NULL, &r.b));
  pthread_t th[4];
  for (int i = 0; i < 4; i++) th[i] = h_spawn(barrier_participant, &r);
  for (int i = 0; i < 4; i++) h_join(th[i]);
  CHECK_EQ(atomic_load(&r.ok), 4 * 500);
  CHECK_EQ(atomic_load(&rec.calls), 500);
  CHECK_EQ(tapir_barrier_current_phase(r.b), 500);
  CHECK_OK(tapir_barrier_release(r.b));
}

void register_prim_sync_tests(void) {
  REG(sem_counts_and_over_release);
  REG(sem_waiters_are_served_fifo);
  REG(sem_timeout_never_consumes_a_release);
  REG(sem_cancel_leaves_the_queue);
  REG(sem_last_release_fails_waiters);
  REG(sem_misuse);
  REG(sem_million_waiters_chain_on_small_stack);
  REG(sem_release_races_calls);
  REG(auto_event_remembers_one_set);
  REG(auto_event_one_waiter_per_set_in_order);
  REG(auto_event_timeout_and_cancel_take_no_set);
  REG(manual_event_sets_everyone_and_resets);
  REG(events_misuse);
  REG(countdown_counts_down_to_set);
  REG(countdown_misuse);
  REG(barrier_phases_and_action);
  REG(barrier_timeout_takes_the_arrival_back);
  REG(barrier_participants_change);
  REG(barrier_threads_through_phases);
}
