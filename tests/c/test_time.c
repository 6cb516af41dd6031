/* Delays and timeouts (DL): tapir_delay, tapir_task_wait_async, tapir_yield, and
 * where timer-driven completions run. */
#include "harness.h"


/* Where and when a completion was seen: filled by a callback. */
typedef struct {
  atomic_int done;
  double at;                       /* h_now_ms() when the callback ran */
  char name[32];                   /* the thread's name */
  pthread_t thread;
  const tapir_scheduler *current;  /* tapir_scheduler_current() (+1) */
  int32_t status;
} stamp;

static void stamp_fill(stamp *s, int32_t status) {
  s->at = h_now_ms();
  s->thread = pthread_self();
  s->name[0] = '\0';
  if (pthread_getname_np(pthread_self(), s->name, sizeof s->name) != 0) s->name[0] = '\0';
  s->current = tapir_scheduler_current();
  s->status = status;
  atomic_store(&s->done, 1);
}

static void stamp_cb(void *ud, const tapir_task *t) { stamp_fill((stamp *)ud, tapir_task_get_status(t)); }

static void stamp_cont(void *ud, const tapir_task *t, const tapir_source *next) {
  stamp_fill((stamp *)ud, tapir_task_get_status(t));
  (void)tapir_source_set_result(next, NULL, NULL);
}

/* True if `s` is the default scheduler; releases `s`. */
static bool take_is_default(const tapir_scheduler *s) {
  const tapir_scheduler *d = NULL;
  if (tapir_scheduler_default(&d) != TAPIR_STATUS_OK) return false;
  bool same = s != NULL && s == d;
  tapir_scheduler_release(d);
  if (s) tapir_scheduler_release(s);
  return same;
}

static void stamp_init(stamp *s) {
  memset(s, 0, sizeof *s);
  atomic_init(&s->done, 0);
}

static void expect_not_timer_thread(stamp *s, const char *what) {
  CHECKF(atomic_load(&s->done) == 1, "%s: callback did not run", what);
  if (!atomic_load(&s->done)) return;
  CHECKF(strcmp(s->name, "tapir-timer") != 0, "%s: ran on the timer thread", what);
  CHECKF(!pthread_equal(s->thread, pthread_self()), "%s: ran on the test thread", what);
  CHECKF(take_is_default(s->current), "%s: tapir_scheduler_current() is not the default pool (thread \"%s\")", what,
         s->name);
  s->current = NULL;
}

/* Waits (bounded) until the pending-timer count is back at `want`. */
static bool timers_back_to(size_t want, int timeout_ms) {
  double end = h_now_ms() + timeout_ms;
  while (tapir_debug_pending_timers() != want) {
    if (h_now_ms() > end) return false;
    h_sleep_ms(1);
  }
  return true;
}

/* ---- DL-01 zero delay */

static void dl01_zero_delay_completes_on_return(void) {
  size_t timers0 = tapir_debug_pending_timers();
  const tapir_task *d = NULL;
  REQUIRE_OK(tapir_delay(0, NULL, &d));
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = h_int(1);
  CHECK_OK(tapir_task_result(d, &v));
  CHECK(v == NULL);
  CHECK_OK(tapir_task_release(d));

  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  REQUIRE_OK(tapir_delay(0, tok, &d));
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(d));
  /* the none token works as "no token" */
  const tapir_cancel_token *none = NULL;
  REQUIRE_OK(tapir_cancel_token_none(&none));
  REQUIRE_OK(tapir_delay(0, none, &d));
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(d));
  CHECK_OK(tapir_cancel_token_release(none));
  h_release_cts(src, tok);
  CHECK_EQ(tapir_debug_pending_timers(), timers0); /* no timer for a zero delay */
}

/* ---- DL-02 a positive delay is never early */

static void dl02_delay_not_early(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  const tapir_task *longd = NULL;
  REQUIRE_OK(tapir_delay(600000, tok, &longd)); /* ten minutes: cannot elapse during the test */

  for (int round = 0; round < 5; round++) {
    stamp s;
    stamp_init(&s);
    const tapir_task *d = NULL;
    double t0 = h_now_ms();
    REQUIRE_OK(tapir_delay(50, NULL, &d));
    REQUIRE_OK(tapir_task_on_complete(d, stamp_cb, &s, NULL, h_sync(), NULL));
    CHECK_EQ(tapir_task_wait(d, h_prompt_ms()), TAPIR_STATUS_OK);
    CHECK(h_wait_eq(&s.done, 1, h_prompt_ms()));
    double fired = s.at - t0;
    CHECKF(fired >= 48.0, "delay(50) completed after %.2f ms", fired);
    CHECKF(fired < h_prompt_ms(), "delay(50) completed after %.2f ms", fired); /* a hang guard */
    CHECK_EQ(s.status, TAPIR_TASK_STATUS_SUCCEEDED);
    if (s.current) tapir_scheduler_release(s.current);
    CHECK_OK(tapir_task_release(d));
  }
  /* the long delay: still pending after the five short ones */
  CHECK_EQ(tapir_task_get_status(longd), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL)); /* frees its timer for the leak check */
  CHECK_EQ(tapir_task_get_status(longd), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(longd));
  h_release_cts(src, tok);

  /* many short delays of different lengths: none early, all complete */
  enum { N = 64 };
  const tapir_task *ds[N];
  stamp st[N];
  double t0 = h_now_ms();
  for (int i = 0; i < N; i++) {
    stamp_init(&st[i]);
    REQUIRE_OK(tapir_delay(1 + (i * 7) % 40, NULL, &ds[i]));
    REQUIRE_OK(tapir_task_on_complete(ds[i], stamp_cb, &st[i], NULL, h_sync(), NULL));
  }
  CHECK_OK(tapir_task_wait_all(ds, N, h_prompt_ms(), NULL));
  for (int i = 0; i < N; i++) {
    CHECK(h_wait_eq(&st[i].done, 1, h_prompt_ms()));
    double want = 1 + (i * 7) % 40;
    CHECKF(st[i].at - t0 >= want - 2.0, "delay(%.0f) completed after %.2f ms", want, st[i].at - t0);
    if (st[i].current) tapir_scheduler_release(st[i].current);
    CHECK_OK(tapir_task_release(ds[i]));
  }
}

/* ---- DL-03 an infinite delay ends only by cancellation */

static void *cancel_later_body(void *arg) {
  const tapir_cancel_source *src = (const tapir_cancel_source *)arg;
  h_sleep_ms(30);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  return NULL;
}

static void dl03_infinite_delay_ends_only_by_cancel(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  const tapir_task *inf = NULL, *day = NULL;
  REQUIRE_OK(tapir_delay(TAPIR_INFINITE, tok, &inf));
  REQUIRE_OK(tapir_delay(86400000, tok, &day));
  h_sleep_ms(100);
  CHECK_EQ(tapir_task_get_status(inf), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_task_get_status(day), TAPIR_TASK_STATUS_PENDING);
  pthread_t th = h_spawn(cancel_later_body, (void *)src);
  CHECK_ST(tapir_task_wait(inf, h_prompt_ms()), TAPIR_STATUS_CANCELED);
  CHECK_ST(tapir_task_wait(day, h_prompt_ms()), TAPIR_STATUS_CANCELED);
  h_join(th);
  const tapir_task *both[2] = {inf, day};
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(tapir_task_get_status(both[i]), TAPIR_TASK_STATUS_CANCELED);
    const tapir_cancel_token *why = NULL;
    CHECK_OK(tapir_task_cancel_token(both[i], &why));
    CHECK_PTR_EQ(why, tok);
    if (why) tapir_cancel_token_release(why);
    void *v = NULL;
    CHECK_ST(tapir_task_result(both[i], &v), TAPIR_STATUS_CANCELED);
    CHECK_OK(tapir_task_release(both[i]));
  }
  h_release_cts(src, tok);

  /* -1 without a token is allowed: it never completes (and holds no timer) */
  size_t timers0 = tapir_debug_pending_timers();
  const tapir_task *forever = NULL;
  REQUIRE_OK(tapir_delay(TAPIR_INFINITE, NULL, &forever));
  CHECK_EQ(tapir_task_get_status(forever), TAPIR_TASK_STATUS_PENDING);
  CHECK_ST(tapir_task_wait(forever, 50), TAPIR_STATUS_TIMEOUT);
  CHECK_OK(tapir_task_release(forever));
  CHECK(timers_back_to(timers0, h_prompt_ms()));
}

/* ---- DL-04 a pre-canceled token */

static void dl04_pre_canceled_token(void) {
  size_t timers0 = tapir_debug_pending_timers();
  const tapir_cancel_token *pre = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&pre));
  int64_t delays[] = {0, 1000, TAPIR_INFINITE, TAPIR_MAX_TIMEOUT_MS};
  for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
    const tapir_task *d = NULL;
    REQUIRE_OK(tapir_delay(delays[i], pre, &d));
    CHECKF(tapir_task_get_status(d) == TAPIR_TASK_STATUS_CANCELED, "delay(%lld, canceled) status %d",
           (long long)delays[i], (int)tapir_task_get_status(d));
    const tapir_cancel_token *why = NULL;
    CHECK_OK(tapir_task_cancel_token(d, &why));
    CHECK_PTR_EQ(why, pre);
    if (why) tapir_cancel_token_release(why);
    CHECK_OK(tapir_task_release(d));
  }
  CHECK_EQ(tapir_debug_pending_timers(), timers0);
  /* a source canceled before the delay is made */
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  const tapir_task *d = NULL;
  REQUIRE_OK(tapir_delay(1000, tok, &d));
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(d));
  h_release_cts(src, tok);
  CHECK_OK(tapir_cancel_token_release(pre));
  CHECK_EQ(tapir_debug_pending_timers(), timers0);
}

/* ---- DL-06 range */

static void dl06_delay_range(void) {
  const tapir_task *d = (const tapir_task *)h_int(1);
  CHECK_ST(tapir_delay(-2, NULL, &d), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_delay(INT64_MIN, NULL, &d), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_delay(4294967295LL, NULL, &d), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_delay(INT64_MAX, NULL, &d), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_PTR_EQ(d, h_int(1)); /* nothing written */
  CHECK_ST(tapir_delay(10, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);

  size_t timers0 = tapir_debug_pending_timers();
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  const tapir_task *max = NULL;
  REQUIRE_OK(tapir_delay(TAPIR_MAX_TIMEOUT_MS, tok, &max));
  CHECK_EQ(tapir_task_get_status(max), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_debug_pending_timers(), timers0 + 1);
  h_sleep_ms(20);
  CHECK_EQ(tapir_task_get_status(max), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  /* canceled by the time cancel returns, and its timer entry is gone at once */
  CHECK_EQ(tapir_task_get_status(max), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(tapir_debug_pending_timers(), timers0);
  CHECK_OK(tapir_task_release(max));
  h_release_cts(src, tok);

  /* stale and wrong-kind tokens */
  d = NULL;
  CHECK_ST(tapir_delay(10, tok, &d), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(d == NULL);
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &t));
  CHECK_ST(tapir_delay(10, (const tapir_cancel_token *)t, &d), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_task_release(t));
  CHECK_EQ(tapir_debug_pending_timers(), timers0);
}

/* ---- canceling frees timer entries at once */

static void dl_cancel_frees_timer_entries_at_once(void) {
  enum { N = 200 };
  size_t timers0 = tapir_debug_pending_timers();
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  const tapir_task *ds[N];
  for (int i = 0; i < N; i++) REQUIRE_OK(tapir_delay(3600000 + i, tok, &ds[i]));
  CHECK_EQ(tapir_debug_pending_timers(), timers0 + N);
  /* releasing a delay task does not stop its timer */
  CHECK_OK(tapir_task_release(ds[N - 1]));
  CHECK_EQ(tapir_debug_pending_timers(), timers0 + N);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(tapir_debug_pending_timers(), timers0);
  for (int i = 0; i < N - 1; i++) {
    CHECK_EQ(tapir_task_get_status(ds[i]), TAPIR_TASK_STATUS_CANCELED);
    CHECK_OK(tapir_task_release(ds[i]));
  }
  h_release_cts(src, tok);

  /* one source per delay, canceled one by one */
  const tapir_cancel_source *srcs[8];
  const tapir_cancel_token *toks[8];
  for (int i = 0; i < 8; i++) {
    if (!h_new_cts(&srcs[i], &toks[i])) return;
    REQUIRE_OK(tapir_delay(3600000, toks[i], &ds[i]));
  }
  for (int i = 0; i < 8; i++) {
    CHECK_EQ(tapir_debug_pending_timers(), timers0 + (size_t)(8 - i));
    CHECK_OK(tapir_cancel_source_cancel(srcs[i], 0, NULL));
    CHECK_EQ(tapir_debug_pending_timers(), timers0 + (size_t)(7 - i));
    CHECK_OK(tapir_task_release(ds[i]));
    h_release_cts(srcs[i], toks[i]);
  }
}

/* ---- continuations of a delay never run on the timer thread */

static void dl_delay_continuations_not_on_timer_thread(void) {
  const tapir_task *d = NULL;
  stamp sync_cb, def_cb, sync_cont, def_cont;
  stamp_init(&sync_cb);
  stamp_init(&def_cb);
  stamp_init(&sync_cont);
  stamp_init(&def_cont);
  REQUIRE_OK(tapir_delay(20, NULL, &d));
  REQUIRE_OK(tapir_task_on_complete(d, stamp_cb, &sync_cb, NULL, h_sync(), NULL));
  REQUIRE_OK(tapir_task_on_complete(d, stamp_cb, &def_cb, NULL, NULL, NULL));
  const tapir_task *c1 = NULL, *c2 = NULL;
  REQUIRE_OK(tapir_task_continue_with(d, stamp_cont, &sync_cont, NULL, h_sync(), &c1));
  REQUIRE_OK(tapir_task_continue_with(d, stamp_cont, &def_cont, NULL, NULL, &c2));
  CHECK_EQ(h_settle(c1), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(h_settle(c2), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(h_wait_eq(&sync_cb.done, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&def_cb.done, 1, h_prompt_ms()));
  expect_not_timer_thread(&sync_cb, "synchronous on_complete of a delay");
  expect_not_timer_thread(&def_cb, "default on_complete of a delay");
  expect_not_timer_thread(&sync_cont, "synchronous continue_with of a delay");
  expect_not_timer_thread(&def_cont, "default continue_with of a delay");
  CHECK_OK(tapir_task_release(c1));
  CHECK_OK(tapir_task_release(c2));
  CHECK_OK(tapir_task_release(d));

  /* a waiter on another thread is woken too (wait never needs the timer thread to run user code) */
  REQUIRE_OK(tapir_delay(10, NULL, &d));
  CHECK_OK(tapir_task_wait(d, h_prompt_ms()));
  CHECK_OK(tapir_task_release(d));
}

/* ---- DL-08 wait_async expires */

static void expect_timeout_fault(const tapir_task *t, const char *what) {
  CHECKF(h_settle(t) == TAPIR_TASK_STATUS_FAULTED, "%s: status %d, want FAULTED", what,
         (int)tapir_task_get_status(t));
  const tapir_error *e = NULL;
  if (tapir_task_error(t, &e) == TAPIR_STATUS_OK) {
    CHECKF(tapir_error_code(e) == TAPIR_STATUS_TIMEOUT, "%s: error code %d, want TIMEOUT", what,
           (int)tapir_error_code(e));
    tapir_error_release(e);
  } else {
    h_fail(__FILE__, __LINE__, "%s: no error", what);
  }
  CHECK_EQ(tapir_task_error_count(t), 1);
}

static void dl08_wait_async_expires(void) {
  const tapir_source *s = h_source();
  const tapir_task *p = h_task_of(s);
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;

  const tapir_task *w0 = NULL, *w1 = NULL, *w1t = NULL, *w50 = NULL;
  REQUIRE_OK(tapir_task_wait_async(p, 0, NULL, &w0));
  REQUIRE_OK(tapir_task_wait_async(p, 1, NULL, &w1));
  REQUIRE_OK(tapir_task_wait_async(p, 1, tok, &w1t));
  stamp at50;
  stamp_init(&at50);
  double t0 = h_now_ms();
  REQUIRE_OK(tapir_task_wait_async(p, 50, NULL, &w50));
  REQUIRE_OK(tapir_task_on_complete(w50, stamp_cb, &at50, NULL, h_sync(), NULL));
  CHECK(w0 != p && w1 != p && w50 != p);
  expect_timeout_fault(w0, "wait_async(P, 0)");
  expect_timeout_fault(w1, "wait_async(P, 1)");
  expect_timeout_fault(w1t, "wait_async(P, 1, token)");
  expect_timeout_fault(w50, "wait_async(P, 50)");
  CHECK(h_wait_eq(&at50.done, 1, h_prompt_ms()));
  CHECKF(at50.at - t0 >= 48.0, "wait_async(P, 50) timed out after %.2f ms", at50.at - t0);
  expect_not_timer_thread(&at50, "synchronous continuation of a wait_async timeout");
  /* the original is untouched */
  CHECK_EQ(tapir_task_get_status(p), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_task_release(w0));
  CHECK_OK(tapir_task_release(w1));
  CHECK_OK(tapir_task_release(w1t));
  CHECK_OK(tapir_task_release(w50));
  /* ... and still completes normally */
  CHECK_OK(tapir_source_set_result(s, h_int(5), NULL));
  CHECK_EQ(tapir_task_get_status(p), TAPIR_TASK_STATUS_SUCCEEDED);
  h_release_cts(src, tok);
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_source_release(s));
}

/* ---- wait_async completes as the original when it completes first */

static void dl_wait_async_completes_as_original(void) {
  size_t timers0 = tapir_debug_pending_timers();
  for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
    const tapir_source *s = h_source();
    const tapir_task *p = h_task_of(s);
    const tapir_cancel_source *src;
    const tapir_cancel_token *tok;
    if (!h_new_cts(&src, &tok)) return;
    const tapir_task *w = NULL;
    REQUIRE_OK(tapir_task_wait_async(p, 60000, tok, &w));
    CHECK(w != p);
    CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
    const tapir_error *e = h_error(42, "original failed");
    if (kind == H_RESULT) {
      CHECK_OK(tapir_source_set_result(s, h_int(99), NULL));
    } else if (kind == H_ERROR) {
      CHECK_OK(tapir_source_set_error(s, e));
    } else {
      CHECK_OK(tapir_source_set_canceled(s, NULL));
    }
    int32_t st = h_settle(w);
    if (kind == H_RESULT) {
      CHECK_EQ(st, TAPIR_TASK_STATUS_SUCCEEDED);
      void *v = NULL;
      CHECK_OK(tapir_task_result(w, &v));
      CHECK_PTR_EQ(v, h_int(99)); /* the value is shared */
    } else if (kind == H_ERROR) {
      CHECK_EQ(st, TAPIR_TASK_STATUS_FAULTED);
      const tapir_error *got = NULL;
      CHECK_OK(tapir_task_error(w, &got));
      CHECK_PTR_EQ(got, e); /* the same error, not a copy */
      tapir_error_release(got);
      CHECK_OK(tapir_task_error(p, &got)); /* observe the original as well */
      tapir_error_release(got);
    } else {
      CHECK_EQ(st, TAPIR_TASK_STATUS_CANCELED);
    }
    /* its timer is gone once it completed */
    CHECK(timers_back_to(timers0, h_prompt_ms()));
    /* a later cancel of the token changes nothing */
    CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
    CHECK_EQ(tapir_task_get_status(w), st);
    tapir_error_release(e);
    CHECK_OK(tapir_task_release(w));
    CHECK_OK(tapir_task_release(p));
    CHECK_OK(tapir_source_release(s));
    h_release_cts(src, tok);
  }
}

/* ---- DL-09 wait_async canceled by its token */

static void dl09_wait_async_canceled(void) {
  size_t timers0 = tapir_debug_pending_timers();
  const tapir_source *s = h_source();
  const tapir_task *p = h_task_of(s);
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  const tapir_task *wi = NULL, *wt = NULL;
  REQUIRE_OK(tapir_task_wait_async(p, TAPIR_INFINITE, tok, &wi));
  REQUIRE_OK(tapir_task_wait_async(p, 60000, tok, &wt));
  h_sleep_ms(50);
  CHECK_EQ(tapir_task_get_status(wi), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_task_get_status(wt), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  const tapir_task *both[2] = {wi, wt};
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(h_settle(both[i]), TAPIR_TASK_STATUS_CANCELED);
    const tapir_cancel_token *why = NULL;
    CHECK_OK(tapir_task_cancel_token(both[i], &why));
    CHECK_PTR_EQ(why, tok);
    if (why) tapir_cancel_token_release(why);
    CHECK_OK(tapir_task_release(both[i]));
  }
  CHECK(timers_back_to(timers0, h_prompt_ms()));
  CHECK_EQ(tapir_task_get_status(p), TAPIR_TASK_STATUS_PENDING); /* P unaffected */

  /* a pre-canceled token: canceled */
  const tapir_cancel_token *pre = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&pre));
  const tapir_task *w = NULL;
  REQUIRE_OK(tapir_task_wait_async(p, 60000, pre, &w));
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(w));
  CHECK_OK(tapir_cancel_token_release(pre));
  CHECK_EQ(tapir_task_get_status(p), TAPIR_TASK_STATUS_PENDING);

  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_source_release(s));
  h_release_cts(src, tok);
}

/* ---- wait_async on an already-completed original returns it as is */

static void dl_wait_async_on_completed_returns_original(void) {
  const tapir_task *ok = NULL, *bad = NULL, *can = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(3), NULL, &ok));
  const tapir_error *e = h_error(9, "done badly");
  REQUIRE_OK(tapir_task_from_error(e, &bad));
  REQUIRE_OK(tapir_task_from_canceled(NULL, &can));
  const tapir_task *in[3] = {ok, bad, can};
  for (int i = 0; i < 3; i++) {
    const tapir_task *w = NULL;
    REQUIRE_OK(tapir_task_wait_async(in[i], 10, NULL, &w));
    CHECK_PTR_EQ(w, in[i]);
    CHECK_OK(tapir_task_release(w)); /* a new reference: ours to release */
    REQUIRE_OK(tapir_task_wait_async(in[i], TAPIR_INFINITE, NULL, &w));
    CHECK_PTR_EQ(w, in[i]);
    CHECK_OK(tapir_task_release(w));
  }
  const tapir_error *got = NULL;
  CHECK_OK(tapir_task_error(bad, &got));
  tapir_error_release(got);
  tapir_error_release(e);
  for (int i = 0; i < 3; i++) CHECK_OK(tapir_task_release(in[i]));

  /* arguments */
  const tapir_source *s = h_source();
  const tapir_task *p = h_task_of(s);
  const tapir_task *w = NULL;
  CHECK_ST(tapir_task_wait_async(NULL, 10, NULL, &w), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_wait_async(p, 10, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_wait_async(p, -2, NULL, &w), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_task_wait_async(p, 4294967295LL, NULL, &w), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(w == NULL);
  CHECK_ST(tapir_task_wait_async(h_stale_task(), 10, NULL, &w), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(w == NULL);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_source_release(s));
}

/* ---- tapir_yield */

typedef struct {
  const tapir_task *yielded;   /* from tapir_yield inside the work (+1) */
  int32_t status_in_work;      /* its status before the work returned */
  const tapir_scheduler *ran_on; /* tapir_scheduler_current() in the yield's continuation */
  atomic_int cont_done;
} yield_rec;

static void yield_work(void *ud) {
  yield_rec *r = (yield_rec *)ud;
  if (tapir_yield(&r->yielded) != TAPIR_STATUS_OK) r->yielded = NULL;
  r->status_in_work = tapir_task_get_status(r->yielded);
}

static void yield_seen_cb(void *ud, const tapir_task *t) {
  (void)t;
  yield_rec *r = (yield_rec *)ud;
  r->ran_on = tapir_scheduler_current();
  atomic_store(&r->cont_done, 1);
}

static void dl_yield(void) {
  /* from a plain thread: completes (on the default pool) */
  const tapir_task *y = NULL;
  REQUIRE_OK(tapir_yield(&y));
  CHECK_EQ(h_settle(y), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = h_int(1);
  CHECK_OK(tapir_task_result(y, &v));
  CHECK(v == NULL);
  CHECK_OK(tapir_task_release(y));
  CHECK_ST(tapir_yield(NULL), TAPIR_STATUS_NULL_ARGUMENT);

  /* from work on a manual scheduler: completes only when that scheduler runs again */
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  yield_rec r;
  memset(&r, 0, sizeof r);
  atomic_init(&r.cont_done, 0);
  REQUIRE_OK(tapir_scheduler_post(m, yield_work, &r, NULL));
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 1, -1, &ran));
  CHECK_EQ(ran, 1);
  REQUIRE(r.yielded != NULL);
  CHECK_EQ(r.status_in_work, TAPIR_TASK_STATUS_PENDING); /* asynchronous: not completed inline */
  h_sleep_ms(30);
  CHECKF(tapir_task_get_status(r.yielded) == TAPIR_TASK_STATUS_PENDING,
         "a yield from a manual scheduler's work completed without that scheduler running");
  /* observe where its continuation runs when the yield completes */
  tapir_continuation_options on_m = {sizeof on_m, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, m, NULL};
  REQUIRE_OK(tapir_task_on_complete(r.yielded, yield_seen_cb, &r, NULL, &on_m, NULL));
  double end = h_now_ms() + h_prompt_ms();
  while (tapir_task_get_status(r.yielded) == TAPIR_TASK_STATUS_PENDING && h_now_ms() < end) {
    CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
    h_sleep_ms(1);
  }
  CHECK_EQ(tapir_task_get_status(r.yielded), TAPIR_TASK_STATUS_SUCCEEDED);
  end = h_now_ms() + h_prompt_ms();
  while (!atomic_load(&r.cont_done) && h_now_ms() < end) {
    CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
    h_sleep_ms(1);
  }
  CHECK(atomic_load(&r.cont_done));
  CHECK_PTR_EQ(r.ran_on, m);
  if (r.ran_on) tapir_scheduler_release(r.ran_on);
  CHECK_OK(tapir_task_release(r.yielded));
  CHECK_OK(tapir_scheduler_release(m));
}

void register_time_tests(void) {
  REG(dl01_zero_delay_completes_on_return);
  REG(dl02_delay_not_early);
  REG(dl03_infinite_delay_ends_only_by_cancel);
  REG(dl04_pre_canceled_token);
  REG(dl06_delay_range);
  REG(dl_cancel_frees_timer_entries_at_once);
  REG(dl_delay_continuations_not_on_timer_thread);
  REG(dl08_wait_async_expires);
  REG(dl_wait_async_completes_as_original);
  REG(dl09_wait_async_canceled);
  REG(dl_wait_async_on_completed_returns_original);
  REG(dl_yield);
}
