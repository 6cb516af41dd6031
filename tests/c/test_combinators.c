/* Combinators: when_all (WA), when_all_settled, when_all_or_first_error (CB-07),
 * when_any (WY), interleaved (CB-05), retry_on_fault (CB-01/02), need_only_one
 * (CB-04) and for_each_throttled. */
#include "harness.h"


/* ------------------------------------------------------------- helpers */

/* Reads a faulted task's errors (marking them observed) and releases it. */
static void release_quiet(const tapir_task *t) {
  if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_FAULTED) (void)tapir_task_error_count(t);
  CHECK_OK(tapir_task_release(t));
}

/* Waits (bounded) for completion without observing errors (no wait call). */
static bool completes_quietly(const tapir_task *t, int timeout_ms) {
  double end = h_now_ms() + timeout_ms;
  while (!tapir_task_is_completed(t)) {
    if (h_now_ms() > end) return false;
    h_sleep_ms(0.5);
  }
  return true;
}

/* Checks that a faulted task's errors are exactly want[0..n] (identities). */
static void expect_errors(const tapir_task *t, const tapir_error *const *want, size_t n, const char *what) {
  size_t got_n = tapir_task_error_count(t);
  CHECKF(got_n == n, "%s: %zu errors, want %zu", what, got_n, n);
  for (size_t i = 0; i < n && i < got_n; i++) {
    const tapir_error *e = NULL;
    CHECK_OK(tapir_task_error_at(t, i, &e));
    CHECKF(e == want[i], "%s: error %zu is %p (code %d), want %p (code %d)", what, i, (const void *)e,
           (int)tapir_error_code(e), (const void *)want[i], (int)tapir_error_code(want[i]));
    if (e) tapir_error_release(e);
  }
}

/* The value slots of a succeeded when_all task. */
static void **slots_of(const tapir_task *w) {
  void *v = NULL;
  if (tapir_task_result(w, &v) != TAPIR_STATUS_OK) return NULL;
  return (void **)v;
}

/* The index a succeeded when_any task reports, or SIZE_MAX. */
static size_t index_of(const tapir_task *a) {
  void *v = NULL;
  if (tapir_task_result(a, &v) != TAPIR_STATUS_OK) return SIZE_MAX;
  return (size_t)(uintptr_t)v;
}

static void complete(const tapir_source *s, int kind, void *value, const tapir_error *const *errs, size_t n,
                     const tapir_cancel_token *tok) {
  if (kind == H_RESULT) {
    CHECK_OK(tapir_source_set_result(s, value, NULL));
  } else if (kind == H_ERROR) {
    CHECK_OK(tapir_source_set_error_list(s, errs, n));
  } else {
    CHECK_OK(tapir_source_set_canceled(s, tok));
  }
}

/* A task that completes after `ms` with a value, an error or cancellation; if
 * `dec` is set, it is decremented just before the task completes. */
typedef struct {
  int kind;
  void *value;
  const tapir_error *err;
  atomic_int *dec;
} later_rec;

static void later_cont(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  later_rec *r = (later_rec *)ud;
  if (r->dec) atomic_fetch_sub(r->dec, 1);
  if (r->kind == H_RESULT)
    (void)tapir_source_set_result(next, r->value, NULL);
  else if (r->kind == H_ERROR)
    (void)tapir_source_set_error(next, r->err);
  else
    (void)tapir_source_set_canceled(next, NULL);
}

static void later_free(void *ud) {
  later_rec *r = (later_rec *)ud;
  if (r->err) tapir_error_release(r->err);
  free(r);
}

static const tapir_task *later_task(int64_t ms, int kind, void *value, const tapir_error *err, atomic_int *dec) {
  const tapir_task *d = NULL, *t = NULL;
  if (tapir_delay(ms, NULL, &d) != TAPIR_STATUS_OK) return NULL;
  later_rec *r = (later_rec *)calloc(1, sizeof *r);
  r->kind = kind;
  r->value = value;
  r->err = err ? tapir_error_retain(err) : NULL;
  r->dec = dec;
  if (tapir_task_continue_with(d, later_cont, r, later_free, NULL, &t) != TAPIR_STATUS_OK) {
    later_free(r);
    t = NULL;
  }
  tapir_task_release(d);
  return t;
}

/* The unobserved-error hook. */
typedef struct {
  atomic_int calls;
  atomic_ullong last_id;
  atomic_int last_count;
} hook_rec;

static hook_rec hook;

static void hook_fn(void *user_data, uint64_t task_id, const tapir_error *const *errors, size_t count) {
  (void)errors;
  hook_rec *r = (hook_rec *)user_data;
  atomic_store(&r->last_id, task_id);
  atomic_store(&r->last_count, (int)count);
  atomic_fetch_add(&r->calls, 1);
}

static void hook_install(void) {
  atomic_store(&hook.calls, 0);
  atomic_store(&hook.last_id, 0);
  atomic_store(&hook.last_count, 0);
  CHECK_OK(tapir_set_unobserved_error_hook(hook_fn, &hook));
}

static void hook_remove(void) { CHECK_OK(tapir_set_unobserved_error_hook(NULL, NULL)); }

/* ------------------------------------------------------------ when_all */

static void wa01_results_in_input_order(void) {
  const tapir_source *s1 = h_source(), *s2 = h_source();
  const tapir_task *in[2] = {h_task_of(s1), h_task_of(s2)};
  const tapir_task *w = NULL;
  REQUIRE_OK(tapir_when_all(in, 2, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(s2, h_int(2), NULL));
  h_sleep_ms(20);
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(s1, h_int(1), NULL));
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_SUCCEEDED);
  void **slots = slots_of(w);
  REQUIRE(slots != NULL);
  CHECK_PTR_EQ(slots[0], h_int(1));
  CHECK_PTR_EQ(slots[1], h_int(2));
  /* the slots stay valid while the when_all task lives, even without the inputs */
  for (int i = 0; i < 2; i++) CHECK_OK(tapir_task_release(in[i]));
  CHECK_OK(tapir_source_release(s1));
  CHECK_OK(tapir_source_release(s2));
  slots = slots_of(w);
  REQUIRE(slots != NULL);
  CHECK_PTR_EQ(slots[0], h_int(1));
  CHECK_PTR_EQ(slots[1], h_int(2));
  CHECK_OK(tapir_task_release(w));

  /* many inputs completed in reverse order */
  enum { N = 100 };
  const tapir_source *ss[N];
  const tapir_task *ts[N];
  for (int i = 0; i < N; i++) {
    ss[i] = h_source();
    ts[i] = h_task_of(ss[i]);
  }
  REQUIRE_OK(tapir_when_all(ts, N, &w));
  for (int i = N - 1; i >= 0; i--) CHECK_OK(tapir_source_set_result(ss[i], h_int((uintptr_t)i * 10), NULL));
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_SUCCEEDED);
  slots = slots_of(w);
  REQUIRE(slots != NULL);
  for (int i = 0; i < N; i++) CHECK_PTR_EQ(slots[i], h_int((uintptr_t)i * 10));
  for (int i = 0; i < N; i++) {
    CHECK_OK(tapir_task_release(ts[i]));
    CHECK_OK(tapir_source_release(ss[i]));
  }
  CHECK_OK(tapir_task_release(w));
}

static void wa02_empty_input(void) {
  const tapir_task *w = NULL;
  REQUIRE_OK(tapir_when_all(NULL, 0, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(w));
  const tapir_task *dummy[1] = {NULL};
  REQUIRE_OK(tapir_when_all(dummy, 0, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(w));
  REQUIRE_OK(tapir_when_all_settled(NULL, 0, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(w));
  REQUIRE_OK(tapir_when_all_or_first_error(NULL, 0, &w)); /* CB-07 (c) */
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(w));

  /* arguments */
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &t));
  const tapir_task *with_null[2] = {t, NULL};
  w = NULL;
  CHECK_ST(tapir_when_all(NULL, 2, &w), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_when_all(with_null, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_when_all(with_null, 2, &w), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_when_all_settled(with_null, 2, &w), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_when_all_or_first_error(with_null, 2, &w), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(w == NULL);
  const tapir_task *stale[2] = {t, h_stale_task()};
  CHECK_ST(tapir_when_all(stale, 2, &w), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(w == NULL);
  CHECK_OK(tapir_task_release(t));
}

static void wa03_waits_for_all_even_after_fault(void) {
  for (int second = 0; second < 2; second++) {
    const tapir_source *s1 = h_source();
    const tapir_task *t1 = h_task_of(s1);
    const tapir_task *t2 = NULL;
    const tapir_error *e = h_error(3, "pre-faulted");
    if (second == 0)
      REQUIRE_OK(tapir_task_from_error(e, &t2));
    else
      REQUIRE_OK(tapir_task_from_result(h_int(2), NULL, &t2));
    const tapir_task *in[2] = {t1, t2};
    const tapir_task *w = NULL;
    REQUIRE_OK(tapir_when_all(in, 2, &w));
    h_sleep_ms(50);
    CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
    CHECK_OK(tapir_source_set_result(s1, h_int(1), NULL));
    if (second == 0) {
      CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_FAULTED);
      expect_errors(w, &e, 1, "WA-03");
    } else {
      CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_SUCCEEDED);
      void **slots = slots_of(w);
      REQUIRE(slots != NULL);
      CHECK_PTR_EQ(slots[0], h_int(1));
      CHECK_PTR_EQ(slots[1], h_int(2));
    }
    CHECK_OK(tapir_task_release(w));
    release_quiet(t2);
    CHECK_OK(tapir_task_release(t1));
    CHECK_OK(tapir_source_release(s1));
    tapir_error_release(e);
  }
}

static void wa04_all_pre_completed(void) {
  const tapir_task *a = NULL, *b = NULL, *f = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &a));
  REQUIRE_OK(tapir_task_from_result(h_int(2), NULL, &b));
  const tapir_error *e = h_error(4, "pre");
  REQUIRE_OK(tapir_task_from_error(e, &f));
  const tapir_task *ok[2] = {a, b};
  const tapir_task *w = NULL;
  REQUIRE_OK(tapir_when_all(ok, 2, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_SUCCEEDED);
  void **slots = slots_of(w);
  REQUIRE(slots != NULL);
  CHECK_PTR_EQ(slots[0], h_int(1));
  CHECK_PTR_EQ(slots[1], h_int(2));
  CHECK_OK(tapir_task_release(w));
  const tapir_task *bad[3] = {a, f, b};
  REQUIRE_OK(tapir_when_all(bad, 3, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_FAULTED);
  expect_errors(w, &e, 1, "WA-04");
  CHECK_OK(tapir_task_release(w));
  release_quiet(f);
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(b));
  tapir_error_release(e);
}

/* WA-05: [S, F1 (a, b), C, F2 (c)] in all 24 completion orders, and pre-completed. */
static void wa05_errors_in_input_order(void) {
  const tapir_error *a = h_error(10, "a"), *b = h_error(11, "b"), *c = h_error(12, "c");
  const tapir_error *f1[2] = {a, b};
  const tapir_error *f2[1] = {c};
  const tapir_error *want[3] = {a, b, c};
  int count = 0;
  for (int pass = 0; pass < 25; pass++) {
    int order[4];
    if (pass == 24) { /* the pre-completed case */
      for (int i = 0; i < 4; i++) order[i] = i;
    } else {
      /* permutation number `pass`, decoded in the factorial number system */
      int pool[4] = {0, 1, 2, 3}, left = 4, rest = pass;
      for (int k = 0; k < 4; k++) {
        int fact = 1;
        for (int m = 2; m < left; m++) fact *= m;
        int pick = rest / fact;
        rest %= fact;
        order[k] = pool[pick];
        for (int m = pick; m < left - 1; m++) pool[m] = pool[m + 1];
        left--;
      }
    }
    const tapir_source *ss[4];
    const tapir_task *ts[4];
    for (int i = 0; i < 4; i++) {
      ss[i] = h_source();
      ts[i] = h_task_of(ss[i]);
    }
    const tapir_task *w = NULL;
    if (pass == 24) {
      /* complete first, then combine */
      for (int k = 0; k < 4; k++) {
        int i = order[k];
        if (i == 0) complete(ss[i], H_RESULT, h_int(1), NULL, 0, NULL);
        if (i == 1) complete(ss[i], H_ERROR, NULL, f1, 2, NULL);
        if (i == 2) complete(ss[i], H_CANCEL, NULL, NULL, 0, NULL);
        if (i == 3) complete(ss[i], H_ERROR, NULL, f2, 1, NULL);
      }
      REQUIRE_OK(tapir_when_all(ts, 4, &w));
      CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_FAULTED);
    } else {
      REQUIRE_OK(tapir_when_all(ts, 4, &w));
      for (int k = 0; k < 4; k++) {
        CHECKF(tapir_task_get_status(w) == TAPIR_TASK_STATUS_PENDING, "order %d%d%d%d: completed after %d inputs",
               order[0], order[1], order[2], order[3], k);
        int i = order[k];
        if (i == 0) complete(ss[i], H_RESULT, h_int(1), NULL, 0, NULL);
        if (i == 1) complete(ss[i], H_ERROR, NULL, f1, 2, NULL);
        if (i == 2) complete(ss[i], H_CANCEL, NULL, NULL, 0, NULL);
        if (i == 3) complete(ss[i], H_ERROR, NULL, f2, 1, NULL);
      }
      CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_FAULTED);
    }
    char what[64];
    snprintf(what, sizeof what, "WA-05 order %d%d%d%d%s", order[0], order[1], order[2], order[3],
             pass == 24 ? " (pre-completed)" : "");
    expect_errors(w, want, 3, what);
    const tapir_error *first = NULL;
    CHECK_OK(tapir_task_error(w, &first));
    CHECKF(first == a, "%s: propagate-one gave code %d, want a", what, (int)tapir_error_code(first));
    if (first) tapir_error_release(first);
    CHECK_OK(tapir_task_release(w));
    for (int i = 0; i < 4; i++) {
      CHECK_OK(tapir_task_release(ts[i]));
      CHECK_OK(tapir_source_release(ss[i]));
    }
    count++;
  }
  CHECK_EQ(count, 25);
  tapir_error_release(a);
  tapir_error_release(b);
  tapir_error_release(c);
}

static void wa07_canceled_with_first_canceled_token(void) {
  const tapir_cancel_source *x1, *x2;
  const tapir_cancel_token *tok1, *tok2;
  if (!h_new_cts(&x1, &tok1) || !h_new_cts(&x2, &tok2)) return;
  for (int shape = 0; shape < 2; shape++) {
    for (int rev = 0; rev < 2; rev++) {
      const tapir_source *s0 = h_source(), *s1 = h_source();
      const tapir_task *in[2] = {h_task_of(s0), h_task_of(s1)};
      const tapir_task *w = NULL;
      REQUIRE_OK(tapir_when_all(in, 2, &w));
      for (int k = 0; k < 2; k++) {
        int i = rev ? 1 - k : k;
        if (i == 0) {
          if (shape == 0)
            CHECK_OK(tapir_source_set_result(s0, h_int(5), NULL));
          else
            CHECK_OK(tapir_source_set_canceled(s0, tok1));
        } else {
          CHECK_OK(tapir_source_set_canceled(s1, shape == 0 ? tok1 : tok2));
        }
      }
      CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_CANCELED);
      CHECK_EQ(tapir_task_error_count(w), 0);
      const tapir_cancel_token *why = NULL;
      CHECK_OK(tapir_task_cancel_token(w, &why));
      CHECKF(why == tok1, "WA-07 shape %d reversed %d: recorded token %p, want tok1 %p", shape, rev,
             (const void *)why, (const void *)tok1);
      if (why) tapir_cancel_token_release(why);
      CHECK_OK(tapir_task_release(w));
      for (int i = 0; i < 2; i++) CHECK_OK(tapir_task_release(in[i]));
      CHECK_OK(tapir_source_release(s0));
      CHECK_OK(tapir_source_release(s1));
    }
  }
  h_release_cts(x1, tok1);
  h_release_cts(x2, tok2);
}

static void wa08_duplicates(void) {
  const tapir_task *t1 = NULL, *t2 = NULL, *f = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &t1));
  REQUIRE_OK(tapir_task_from_result(h_int(2), NULL, &t2));
  const tapir_error *e1 = h_error(1, "e1");
  REQUIRE_OK(tapir_task_from_error(e1, &f));
  const tapir_task *w = NULL;
  const tapir_task *same[2] = {t1, t1};
  REQUIRE_OK(tapir_when_all(same, 2, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_SUCCEEDED);
  void **slots = slots_of(w);
  REQUIRE(slots != NULL);
  CHECK_PTR_EQ(slots[0], h_int(1));
  CHECK_PTR_EQ(slots[1], h_int(1));
  CHECK_OK(tapir_task_release(w));
  const tapir_task *swapped[2] = {t2, t1};
  REQUIRE_OK(tapir_when_all(swapped, 2, &w));
  slots = slots_of(w);
  REQUIRE(slots != NULL);
  CHECK_PTR_EQ(slots[0], h_int(2));
  CHECK_PTR_EQ(slots[1], h_int(1));
  CHECK_OK(tapir_task_release(w));
  const tapir_task *ff[2] = {f, f};
  REQUIRE_OK(tapir_when_all(ff, 2, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_FAULTED);
  const tapir_error *want[2] = {e1, e1};
  expect_errors(w, want, 2, "WA-08 [F, F]");
  CHECK_OK(tapir_task_release(w));

  /* a pending duplicate */
  const tapir_source *s = h_source();
  const tapir_task *p = h_task_of(s);
  const tapir_task *pp[3] = {p, t2, p};
  REQUIRE_OK(tapir_when_all(pp, 3, &w));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(s, h_int(7), NULL));
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_SUCCEEDED);
  slots = slots_of(w);
  REQUIRE(slots != NULL);
  CHECK_PTR_EQ(slots[0], h_int(7));
  CHECK_PTR_EQ(slots[1], h_int(2));
  CHECK_PTR_EQ(slots[2], h_int(7));
  CHECK_OK(tapir_task_release(w));
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_source_release(s));
  release_quiet(f);
  CHECK_OK(tapir_task_release(t1));
  CHECK_OK(tapir_task_release(t2));
  tapir_error_release(e1);
}

/* ER-05 (e): inputs consumed by when_all count as observed; the when_all task does not. */
static void wa_inputs_observed_when_all_not(void) {
  size_t live0 = h_live();
  hook_install();
  const tapir_error *e1 = h_error(21, "late"), *e2 = h_error(22, "early");
  const tapir_source *s1 = h_source();
  const tapir_task *f1 = h_task_of(s1);
  const tapir_task *f2 = NULL;
  REQUIRE_OK(tapir_task_from_error(e2, &f2));
  const tapir_task *in[2] = {f1, f2};
  const tapir_task *w = NULL;
  REQUIRE_OK(tapir_when_all(in, 2, &w));
  CHECK_OK(tapir_source_set_error(s1, e1));
  CHECK(completes_quietly(w, h_prompt_ms()));
  uint64_t wid = tapir_task_id(w);
  /* release the inputs unobserved: they were consumed by when_all */
  CHECK_OK(tapir_task_release(f1));
  CHECK_OK(tapir_source_release(s1));
  CHECK_OK(tapir_task_release(f2));
  h_sleep_ms(30);
  CHECKF(atomic_load(&hook.calls) == 0, "the hook fired %d times for inputs consumed by when_all",
         atomic_load(&hook.calls));
  /* the when_all task itself, never observed, does report */
  CHECK_OK(tapir_task_release(w));
  CHECK(h_wait_ge(&hook.calls, 1, h_prompt_ms()));
  h_sleep_ms(30);
  CHECK_EQ(atomic_load(&hook.calls), 1);
  CHECK_EQ(atomic_load(&hook.last_id), wid);
  CHECK_EQ(atomic_load(&hook.last_count), 2);
  tapir_error_release(e1);
  tapir_error_release(e2);
  CHECK(h_wait_live(live0, h_prompt_ms()));
  CHECK_EQ(atomic_load(&hook.calls), 1);
  hook_remove();
}

static void when_all_settled_inspects_each(void) {
  const tapir_cancel_source *x;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&x, &tok)) return;
  const tapir_source *ss[3] = {h_source(), h_source(), h_source()};
  const tapir_task *in[3];
  for (int i = 0; i < 3; i++) in[i] = h_task_of(ss[i]);
  const tapir_task *w = NULL;
  REQUIRE_OK(tapir_when_all_settled(in, 3, &w));
  const tapir_error *e = h_error(31, "settled fault");
  CHECK_OK(tapir_source_set_canceled(ss[2], tok));
  CHECK_OK(tapir_source_set_error(ss[1], e));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(ss[0], h_int(30), NULL));
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_SUCCEEDED); /* whatever the outcomes */
  void **slots = slots_of(w);
  REQUIRE(slots != NULL);
  for (int i = 0; i < 3; i++) CHECK_PTR_EQ(slots[i], in[i]);
  const tapir_task *const *got = (const tapir_task *const *)slots;
  /* inspect through the slots while we still hold the inputs ... */
  CHECK_EQ(tapir_task_get_status(got[0]), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = NULL;
  CHECK_OK(tapir_task_result(got[0], &v));
  CHECK_PTR_EQ(v, h_int(30));
  CHECK_EQ(tapir_task_get_status(got[1]), TAPIR_TASK_STATUS_FAULTED);
  expect_errors(got[1], &e, 1, "settled[1]");
  CHECK_EQ(tapir_task_get_status(got[2]), TAPIR_TASK_STATUS_CANCELED);
  const tapir_cancel_token *why = NULL;
  CHECK_OK(tapir_task_cancel_token(got[2], &why));
  CHECK_PTR_EQ(why, tok);
  if (why) tapir_cancel_token_release(why);
  /* ... and after our own input handles are gone: the header says the slots are
   * "borrowed; kept alive by this task" */
  for (int i = 0; i < 3; i++) {
    CHECK_OK(tapir_task_release(in[i]));
    CHECK_OK(tapir_source_release(ss[i]));
  }
  CHECKF(tapir_task_get_status(got[0]) == TAPIR_TASK_STATUS_SUCCEEDED,
         "when_all_settled slot 0 unusable once the caller released its input handle (status %d)",
         (int)tapir_task_get_status(got[0]));
  v = NULL;
  CHECK_OK(tapir_task_result(got[0], &v));
  CHECK_PTR_EQ(v, h_int(30));
  CHECK_EQ(tapir_task_get_status(got[1]), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(tapir_task_get_status(got[2]), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(w));
  tapir_error_release(e);
  h_release_cts(x, tok);
}

/* ------------------------------------------ CB-07 when_all_or_first_error */

static void cb07_when_all_or_first_error(void) {
  size_t live0 = h_live();
  hook_install();
  /* (a) all succeed, in any order: values in input order */
  {
    const tapir_source *ss[3] = {h_source(), h_source(), h_source()};
    const tapir_task *in[3];
    for (int i = 0; i < 3; i++) in[i] = h_task_of(ss[i]);
    const tapir_task *w = NULL;
    REQUIRE_OK(tapir_when_all_or_first_error(in, 3, &w));
    int order[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
      CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
      CHECK_OK(tapir_source_set_result(ss[order[k]], h_int((uintptr_t)order[k] + 1), NULL));
    }
    CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_SUCCEEDED);
    void **slots = slots_of(w);
    REQUIRE(slots != NULL);
    for (int i = 0; i < 3; i++) CHECK_PTR_EQ(slots[i], h_int((uintptr_t)i + 1));
    CHECK_OK(tapir_task_release(w));
    for (int i = 0; i < 3; i++) {
      CHECK_OK(tapir_task_release(in[i]));
      CHECK_OK(tapir_source_release(ss[i]));
    }
  }
  /* (b) t2 faults while t1, t3 pending: FAULTED([e]) at once; t3's later fault changes nothing */
  {
    const tapir_source *ss[3] = {h_source(), h_source(), h_source()};
    const tapir_task *in[3];
    for (int i = 0; i < 3; i++) in[i] = h_task_of(ss[i]);
    const tapir_task *w = NULL;
    REQUIRE_OK(tapir_when_all_or_first_error(in, 3, &w));
    const tapir_error *e = h_error(71, "e"), *f = h_error(72, "f");
    CHECK_OK(tapir_source_set_error(ss[1], e));
    CHECK(completes_quietly(w, h_prompt_ms()));
    CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_FAULTED);
    CHECK_EQ(tapir_task_get_status(in[0]), TAPIR_TASK_STATUS_PENDING);
    CHECK_EQ(tapir_task_get_status(in[2]), TAPIR_TASK_STATUS_PENDING);
    expect_errors(w, &e, 1, "CB-07 (b)");
    CHECK_OK(tapir_source_set_error(ss[2], f));
    CHECK_OK(tapir_source_set_result(ss[0], h_int(1), NULL));
    h_sleep_ms(20);
    CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_FAULTED);
    expect_errors(w, &e, 1, "CB-07 (b) after t3 faulted");
    CHECK_OK(tapir_task_release(w));
    /* the inputs' errors, including the late one, are observed: no hook call */
    for (int i = 0; i < 3; i++) {
      CHECK_OK(tapir_task_release(in[i]));
      CHECK_OK(tapir_source_release(ss[i]));
    }
    tapir_error_release(e);
    tapir_error_release(f);
  }
  /* (d) one canceled, none faulted: CANCELED once all completed */
  {
    const tapir_source *ss[3] = {h_source(), h_source(), h_source()};
    const tapir_task *in[3];
    for (int i = 0; i < 3; i++) in[i] = h_task_of(ss[i]);
    const tapir_task *w = NULL;
    REQUIRE_OK(tapir_when_all_or_first_error(in, 3, &w));
    CHECK_OK(tapir_source_set_canceled(ss[1], NULL));
    CHECK_OK(tapir_source_set_result(ss[0], h_int(1), NULL));
    h_sleep_ms(50);
    CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_PENDING);
    CHECK_OK(tapir_source_set_result(ss[2], h_int(3), NULL));
    CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_CANCELED);
    CHECK_OK(tapir_task_release(w));
    for (int i = 0; i < 3; i++) {
      CHECK_OK(tapir_task_release(in[i]));
      CHECK_OK(tapir_source_release(ss[i]));
    }
  }
  CHECK(h_wait_live(live0, h_prompt_ms()));
  h_sleep_ms(20);
  CHECKF(atomic_load(&hook.calls) == 0, "unobserved hook fired %d times", atomic_load(&hook.calls));
  hook_remove();
}

/* ------------------------------------------------------------ when_any */

static void wy01_index_whatever_the_outcome(void) {
  for (int winner = 0; winner < 2; winner++) {
    for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
      const tapir_source *s[2] = {h_source(), h_source()};
      const tapir_task *in[2] = {h_task_of(s[0]), h_task_of(s[1])};
      const tapir_task *a = NULL;
      REQUIRE_OK(tapir_when_any(in, 2, NULL, &a));
      CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_PENDING);
      const tapir_error *e = h_error(40, "winner failed");
      complete(s[winner], kind, h_int(9), &e, 1, NULL);
      CHECKF(h_settle(a) == TAPIR_TASK_STATUS_SUCCEEDED, "winner %d kind %d: when_any status %d", winner, kind,
             (int)tapir_task_get_status(a));
      CHECKF(index_of(a) == (size_t)winner, "winner %d kind %d: index %zu", winner, kind, index_of(a));
      /* the loser completing later changes nothing */
      complete(s[1 - winner], H_RESULT, h_int(8), NULL, 0, NULL);
      h_sleep_ms(5);
      CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED);
      CHECK_EQ(index_of(a), winner);
      CHECK_OK(tapir_task_release(a));
      for (int i = 0; i < 2; i++) {
        release_quiet(in[i]);
        CHECK_OK(tapir_source_release(s[i]));
      }
      tapir_error_release(e);
    }
  }
}

static void wy_pre_completed_first_in_input_order(void) {
  const tapir_source *s = h_source();
  const tapir_task *p = h_task_of(s);
  const tapir_task *d1 = NULL, *d2 = NULL, *c = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &d1));
  REQUIRE_OK(tapir_task_from_result(h_int(2), NULL, &d2));
  REQUIRE_OK(tapir_task_from_canceled(NULL, &c));
  const tapir_task *in[4] = {p, d2, c, d1};
  const tapir_task *a = NULL;
  REQUIRE_OK(tapir_when_any(in, 4, NULL, &a));
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(index_of(a), 1);
  CHECK_OK(tapir_task_release(a));
  const tapir_task *in2[3] = {c, d1, p};
  REQUIRE_OK(tapir_when_any(in2, 3, NULL, &a));
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(index_of(a), 0);
  CHECK_OK(tapir_task_release(a));

  /* WY-03 and other arguments */
  a = NULL;
  CHECK_ST(tapir_when_any(in, 0, NULL, &a), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_when_any(NULL, 0, NULL, &a), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(a == NULL);
  CHECK_ST(tapir_when_any(NULL, 2, NULL, &a), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_when_any(in, 2, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_task *with_null[2] = {p, NULL};
  CHECK_ST(tapir_when_any(with_null, 2, NULL, &a), TAPIR_STATUS_INVALID_ARGUMENT);
  const tapir_task *stale[2] = {p, h_stale_task()};
  CHECK_ST(tapir_when_any(stale, 2, NULL, &a), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(a == NULL);
  CHECK_EQ(tapir_task_get_status(p), TAPIR_TASK_STATUS_PENDING);

  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(d1));
  CHECK_OK(tapir_task_release(d2));
  CHECK_OK(tapir_task_release(c));
}

/* WY-04: repeated when_any on a long-lived task leaves nothing behind on it. */
static void wy04_losers_registrations_removed(void) {
  const tapir_source *ls = h_source();
  const tapir_task *l = h_task_of(ls);
  h_counter mine;
  h_counter_init(&mine);
  REQUIRE_OK(tapir_task_on_complete(l, h_count_cb, &mine, h_count_destroy, h_sync(), NULL));
  size_t live0 = h_live();
  size_t regs0 = tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION);
  size_t max_live = live0;
  uintptr_t rounds = h_slow() ? 10000 : 100000; /* valgrind: fewer rounds */
  for (uintptr_t i = 0; i < rounds; i++) {
    const tapir_task *r = NULL, *a = NULL;
    if (tapir_task_from_result(h_int(i), NULL, &r) != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "from_result failed at %zu", (size_t)i);
      break;
    }
    const tapir_task *in[2] = {l, r};
    if (tapir_when_any(in, 2, NULL, &a) != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "when_any failed at %zu", (size_t)i);
      tapir_task_release(r);
      break;
    }
    if (i % 1000 == 0) {
      CHECK_EQ(index_of(a), 1);
    }
    tapir_task_release(a);
    tapir_task_release(r);
    if (i % 10000 == 0) {
      size_t now = h_live();
      if (now > max_live) max_live = now;
    }
  }
  CHECK(h_wait_live(live0, h_prompt_ms()));
  CHECKF(max_live <= live0 + 16, "live objects grew to %zu (start %zu)", max_live, live0);
  CHECK_EQ(tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION), regs0);

  /* when_any([L, S_i]) with S_i completed later: L's registration is removed then */
  int rounds2 = h_slow() ? 2000 : 20000;
  for (int i = 0; i < rounds2; i++) {
    const tapir_source *si = h_source();
    const tapir_task *ti = h_task_of(si);
    const tapir_task *in[2] = {l, ti};
    const tapir_task *a = NULL;
    if (tapir_when_any(in, 2, NULL, &a) != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "when_any failed at %d", i);
      break;
    }
    tapir_source_set_result(si, NULL, NULL);
    if (i % 1000 == 0) {
      CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED);
      CHECK_EQ(index_of(a), 1);
    }
    tapir_task_release(a);
    tapir_task_release(ti);
    tapir_source_release(si);
  }
  CHECK(h_wait_live(live0, h_prompt_ms()));
  CHECKF(tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION) == regs0,
         "registrations: %zu, want %zu (L still carries when_any registrations)",
         tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION), regs0);

  /* completing L at the end invokes only our own callback */
  double t0 = h_now_ms();
  CHECK_OK(tapir_source_set_result(ls, NULL, NULL));
  double took = h_now_ms() - t0;
  CHECK_EQ(atomic_load(&mine.calls), 1);
  CHECKF(took < h_prompt_ms(), "completing L took %.1f ms", took); /* a hang guard */
  CHECK_OK(tapir_task_release(l));
  CHECK_OK(tapir_source_release(ls));
  CHECK(h_wait_eq(&mine.destroys, 1, h_prompt_ms()));
}

static void wy_cancel_on_complete(void) {
  const tapir_cancel_source *cs;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cs, &tok)) return;
  const tapir_source *s[2] = {h_source(), h_source()};
  const tapir_task *in[2] = {h_task_of(s[0]), h_task_of(s[1])};
  const tapir_task *a = NULL;
  REQUIRE_OK(tapir_when_any(in, 2, cs, &a));
  h_sleep_ms(20);
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_source_set_result(s[1], h_int(2), NULL));
  CHECK_EQ(h_settle(a), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(index_of(a), 1);
  double end = h_now_ms() + h_prompt_ms();
  while (!tapir_cancel_token_is_canceled(tok) && h_now_ms() < end) h_sleep_ms(0.5);
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_task_release(a));
  /* the loser may now stop: it sees the token */
  CHECK_OK(tapir_source_set_canceled(s[0], tok));
  for (int i = 0; i < 2; i++) {
    CHECK_OK(tapir_task_release(in[i]));
    CHECK_OK(tapir_source_release(s[i]));
  }
  h_release_cts(cs, tok);

  /* a pre-completed input: the source is canceled as well */
  if (!h_new_cts(&cs, &tok)) return;
  const tapir_task *done = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &done));
  const tapir_source *ps = h_source();
  const tapir_task *p = h_task_of(ps);
  const tapir_task *in2[2] = {p, done};
  REQUIRE_OK(tapir_when_any(in2, 2, cs, &a));
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_SUCCEEDED);
  end = h_now_ms() + h_prompt_ms();
  while (!tapir_cancel_token_is_canceled(tok) && h_now_ms() < end) h_sleep_ms(0.5);
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_source_release(ps));
  h_release_cts(cs, tok);
}

/* Repeated when_any over the same long-lived inputs (completion order by when_any over
 * the remaining set): each input carries at most the registration of the when_any in
 * progress, never one per past round. */
static void wy_repeated_over_same_inputs_bounded(void) {
  enum { K = 64 };
  int rounds = h_slow() ? 500 : 5000;
  const tapir_source *s[K];
  const tapir_task *in[K + 1];
  for (int i = 0; i < K; i++) {
    s[i] = h_source();
    in[i] = h_task_of(s[i]);
  }
  size_t regs0 = tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION);
  size_t most = 0;
  for (int r = 0; r < rounds; r++) {
    const tapir_source *si = h_source();
    in[K] = h_task_of(si);
    const tapir_task *a = NULL;
    if (tapir_when_any(in, K + 1, NULL, &a) != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "when_any failed at round %d", r);
      break;
    }
    for (int i = 0; i < K; i++) {
      size_t c = tapir_debug_task_continuations(in[i]);
      if (c > most) most = c;
    }
    CHECK_OK(tapir_source_set_result(si, NULL, NULL));
    if (r % 500 == 0) CHECK_EQ(index_of(a), K);
    CHECK_OK(tapir_task_release(a));
    CHECK_OK(tapir_task_release(in[K]));
    CHECK_OK(tapir_source_release(si));
  }
  CHECKF(most == 1, "an input carried %zu registrations during a round (want 1)", most);
  for (int i = 0; i < K; i++)
    CHECKF(tapir_debug_task_continuations(in[i]) == 0, "input %d kept %zu registrations", i,
           tapir_debug_task_continuations(in[i]));
  CHECK_EQ(tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION), regs0);
  for (int i = 0; i < K; i++) {
    CHECK_OK(tapir_source_set_result(s[i], NULL, NULL));
    CHECK_OK(tapir_task_release(in[i]));
    CHECK_OK(tapir_source_release(s[i]));
  }
}

/* An invalid input after valid ones, one of them completed: the call fails, the
 * registrations already made are gone, and nothing else happened (the cancel source is
 * not canceled). An input already carrying a continuation takes the list path. */
static void wy_invalid_input_leaves_nothing(void) {
  const tapir_cancel_source *cs;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cs, &tok)) return;
  const tapir_source *ps = h_source(), *qs = h_source();
  const tapir_task *p = h_task_of(ps), *q = h_task_of(qs), *done = NULL;
  h_counter mine;
  h_counter_init(&mine);
  REQUIRE_OK(tapir_task_on_complete(q, h_count_cb, &mine, h_count_destroy, h_sync(), NULL));
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &done));
  size_t live0 = h_live();
  const tapir_task *a = NULL;
  const tapir_task *bad[4] = {p, q, h_stale_task(), done};
  CHECK_ST(tapir_when_any(bad, 4, cs, &a), TAPIR_STATUS_INVALID_HANDLE);
  const tapir_task *bad2[4] = {p, q, done, h_stale_task()};
  CHECK_ST(tapir_when_any(bad2, 4, cs, &a), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(a == NULL);
  CHECK_EQ(tapir_debug_task_continuations(p), 0);
  CHECK_EQ(tapir_debug_task_continuations(q), 1);
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK(h_wait_live(live0, h_prompt_ms()));
  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  CHECK_OK(tapir_source_set_result(qs, NULL, NULL));
  CHECK_EQ(atomic_load(&mine.calls), 1);
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_task_release(q));
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_source_release(ps));
  CHECK_OK(tapir_source_release(qs));
  h_release_cts(cs, tok);
}

/* A large when_any: the middle input wins, every other input is left with nothing, and
 * inputs that never complete keep nothing of it alive. */
static void wy_large_middle_wins(void) {
  enum { N = 20000 };
  const tapir_source **s = malloc(sizeof *s * N);
  const tapir_task **in = malloc(sizeof *in * N);
  REQUIRE(s && in);
  for (int i = 0; i < N; i++) {
    s[i] = h_source();
    in[i] = h_task_of(s[i]);
  }
  size_t live0 = h_live();
  const tapir_task *a = NULL;
  REQUIRE_OK(tapir_when_any(in, N, NULL, &a));
  CHECK_EQ(tapir_debug_task_continuations(in[N - 1]), 1);
  CHECK_OK(tapir_source_set_result(s[N / 2], NULL, NULL));
  CHECK_EQ(h_settle(a), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(index_of(a), N / 2);
  CHECK_OK(tapir_task_release(a));
  for (int i = 0; i < N; i += 997)
    CHECK_EQ(tapir_debug_task_continuations(in[i]), 0);
  CHECK(h_wait_live(live0, h_prompt_ms()));
  for (int i = 0; i < N; i++) {
    CHECK_OK(tapir_task_release(in[i]));
    CHECK_OK(tapir_source_release(s[i]));
  }
  free(s);
  free(in);
}

typedef struct {
  atomic_int done;
  double at;
} time_rec;

static void time_cb(void *ud, const tapir_task *t) {
  (void)t;
  time_rec *r = (time_rec *)ud;
  r->at = h_now_ms();
  atomic_store(&r->done, 1);
}

/* WY-06: the timeout idiom. */
static void wy06_timeout_idiom(void) {
  const tapir_source *ops = h_source();
  const tapir_task *op = h_task_of(ops);
  h_counter later;
  h_counter_init(&later);
  REQUIRE_OK(tapir_task_on_complete(op, h_count_cb, &later, h_count_destroy, NULL, NULL));
  double t0 = h_now_ms();
  const tapir_task *d = NULL, *a = NULL;
  REQUIRE_OK(tapir_delay(50, NULL, &d));
  const tapir_task *in[2] = {op, d};
  REQUIRE_OK(tapir_when_any(in, 2, NULL, &a));
  time_rec tr;
  memset(&tr, 0, sizeof tr);
  REQUIRE_OK(tapir_task_on_complete(a, time_cb, &tr, NULL, h_sync(), NULL));
  CHECK_EQ(h_settle(a), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(h_wait_eq(&tr.done, 1, h_prompt_ms()));
  CHECK_EQ(index_of(a), 1); /* the delay won: the operation timed out */
  CHECKF(tr.at - t0 >= 48.0, "when_any([op, delay(50)]) completed after %.2f ms", tr.at - t0);
  CHECKF(tr.at - t0 < h_prompt_ms(), "when_any([op, delay(50)]) completed after %.2f ms", tr.at - t0);
  CHECK_EQ(tapir_task_get_status(op), TAPIR_TASK_STATUS_PENDING);
  /* the operation keeps running, and its continuation still fires */
  CHECK_OK(tapir_source_set_result(ops, h_int(1), NULL));
  CHECK(h_wait_eq(&later.calls, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(d));
  CHECK_OK(tapir_task_release(op));
  CHECK_OK(tapir_source_release(ops));
  CHECK(h_wait_eq(&later.destroys, 1, h_prompt_ms()));

  /* and the other way round: the operation wins before the delay */
  ops = h_source();
  op = h_task_of(ops);
  const tapir_cancel_source *cs;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cs, &tok)) return;
  REQUIRE_OK(tapir_delay(60000, tok, &d)); /* a delay the winner can stop */
  const tapir_task *in2[2] = {op, d};
  REQUIRE_OK(tapir_when_any(in2, 2, cs, &a));
  CHECK_OK(tapir_source_set_result(ops, h_int(1), NULL));
  CHECK_EQ(h_settle(a), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(index_of(a), 0);
  CHECK_EQ(h_settle(d), TAPIR_TASK_STATUS_CANCELED); /* cancel_on_complete stopped the timer */
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_task_release(d));
  CHECK_OK(tapir_task_release(op));
  CHECK_OK(tapir_source_release(ops));
  h_release_cts(cs, tok);
}

/* ------------------------------------------------------ CB-05 interleaved */

static void cb05_interleaved_completion_order(void) {
  enum { N = 5 };
  const tapir_source *ss[N];
  const tapir_task *in[N], *out[N];
  for (int i = 0; i < N; i++) {
    ss[i] = h_source();
    in[i] = h_task_of(ss[i]);
    out[i] = NULL;
  }
  REQUIRE_OK(tapir_interleaved(in, N, out));
  for (int i = 0; i < N; i++) {
    REQUIRE(out[i] != NULL);
    CHECK_EQ(tapir_task_get_status(out[i]), TAPIR_TASK_STATUS_PENDING);
  }
  const tapir_error *e = h_error(50, "e"), *f = h_error(51, "f");
  const tapir_error *ef[2] = {e, f};
  int order[N] = {3, 0, 4, 1, 2};
  for (int k = 0; k < N; k++) {
    int i = order[k];
    if (i == 4)
      complete(ss[i], H_ERROR, NULL, ef, 2, NULL);
    else if (i == 1)
      complete(ss[i], H_CANCEL, NULL, NULL, 0, NULL);
    else
      complete(ss[i], H_RESULT, h_int((uintptr_t)i + 100), NULL, 0, NULL);
    CHECKF(completes_quietly(out[k], h_prompt_ms()), "output %d did not complete after input %d", k, i);
    for (int j = k + 1; j < N; j++)
      CHECKF(tapir_task_get_status(out[j]) == TAPIR_TASK_STATUS_PENDING,
             "output %d completed after only %d inputs", j, k + 1);
  }
  int32_t want_status[N] = {TAPIR_TASK_STATUS_SUCCEEDED, TAPIR_TASK_STATUS_SUCCEEDED, TAPIR_TASK_STATUS_FAULTED,
                            TAPIR_TASK_STATUS_CANCELED, TAPIR_TASK_STATUS_SUCCEEDED};
  for (int k = 0; k < N; k++) {
    CHECKF(tapir_task_get_status(out[k]) == want_status[k], "output %d status %d, want %d", k,
           (int)tapir_task_get_status(out[k]), (int)want_status[k]);
    if (want_status[k] == TAPIR_TASK_STATUS_SUCCEEDED) {
      void *v = NULL;
      CHECK_OK(tapir_task_result(out[k], &v));
      CHECK_PTR_EQ(v, h_int((uintptr_t)order[k] + 100));
    }
  }
  expect_errors(out[2], ef, 2, "interleaved output 2");
  for (int i = 0; i < N; i++) {
    release_quiet(out[i]);
    release_quiet(in[i]);
    CHECK_OK(tapir_source_release(ss[i]));
  }
  tapir_error_release(e);
  tapir_error_release(f);

  /* arguments: nothing written on error */
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &t));
  const tapir_task *with_null[2] = {t, NULL};
  const tapir_task *o2[2] = {NULL, NULL};
  CHECK_ST(tapir_interleaved(with_null, 2, o2), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(o2[0] == NULL && o2[1] == NULL);
  CHECK_ST(tapir_interleaved(NULL, 2, o2), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_task *one[1] = {t};
  CHECK_ST(tapir_interleaved(one, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_task *stale[2] = {t, h_stale_task()};
  CHECK_ST(tapir_interleaved(stale, 2, o2), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(o2[0] == NULL && o2[1] == NULL);
  CHECK_OK(tapir_task_release(t));
}

/* -------------------------------------------------- CB-01/02 retry_on_fault */

typedef struct {
  atomic_int calls;
  atomic_int gate_calls;
  atomic_int destroyed;
  atomic_int overlap;           /* a factory call saw the previous attempt still pending */
  int succeed_at;               /* attempt that succeeds (-1: none) */
  int last_kind;                /* outcome of failing attempts: H_ERROR, or H_CANCEL for the last */
  int max_tries;
  const tapir_error *errs[8];
  const tapir_task *prev;       /* the previous attempt (+1) */
  double call_at[8];
  int gate_ms;                  /* 0: no gate */
  int gate_fail;                /* the gate returns a faulted task */
  const tapir_error *gate_err;
  int sync_fail;                /* attempts return pre-faulted tasks */
  int return_null;
} retry_ctx;

static const tapir_task *retry_factory(void *ud, uint32_t attempt) {
  retry_ctx *r = (retry_ctx *)ud;
  int n = atomic_fetch_add(&r->calls, 1);
  if (n < 8) r->call_at[n] = h_now_ms();
  if (r->prev) {
    if (!tapir_task_is_completed(r->prev)) atomic_fetch_add(&r->overlap, 1);
    tapir_task_release(r->prev);
    r->prev = NULL;
  }
  if ((int)attempt != n) atomic_fetch_add(&r->overlap, 100); /* attempts are numbered 0, 1, ... */
  if (r->return_null) return NULL;
  const tapir_task *t = NULL;
  if (r->sync_fail) {
    if (tapir_task_from_error(r->errs[0], &t) != TAPIR_STATUS_OK) return NULL;
  } else if ((int)attempt == r->succeed_at) {
    t = later_task(10, H_RESULT, h_int(777), NULL, NULL);
  } else if ((int)attempt == r->max_tries - 1 && r->last_kind == H_CANCEL) {
    t = later_task(10, H_CANCEL, NULL, NULL, NULL);
  } else {
    t = later_task(10, H_ERROR, NULL, r->errs[attempt < 8 ? attempt : 7], NULL);
  }
  if (!r->sync_fail) r->prev = tapir_task_retain(t);
  return t;
}

static const tapir_task *retry_gate(void *ud, uint32_t attempt) {
  (void)attempt;
  retry_ctx *r = (retry_ctx *)ud;
  atomic_fetch_add(&r->gate_calls, 1);
  const tapir_task *t = NULL;
  if (r->gate_fail) {
    if (tapir_task_from_error(r->gate_err, &t) != TAPIR_STATUS_OK) return NULL;
    return t;
  }
  if (tapir_delay(r->gate_ms, NULL, &t) != TAPIR_STATUS_OK) return NULL;
  return t;
}

static void retry_destroy(void *ud) { atomic_fetch_add(&((retry_ctx *)ud)->destroyed, 1); }

static void retry_init(retry_ctx *r, int max_tries, int succeed_at) {
  memset(r, 0, sizeof *r);
  r->max_tries = max_tries;
  r->succeed_at = succeed_at;
  r->last_kind = H_ERROR;
  for (int i = 0; i < 8; i++) {
    char msg[16];
    snprintf(msg, sizeof msg, "E%d", i);
    r->errs[i] = h_error(200 + i, msg);
  }
}

static void retry_fini(retry_ctx *r) {
  if (r->prev) tapir_task_release(r->prev);
  r->prev = NULL;
  for (int i = 0; i < 8; i++) tapir_error_release(r->errs[i]);
  if (r->gate_err) tapir_error_release(r->gate_err);
}

static void cb01_retry_eventual_success(void) {
  retry_ctx r;
  retry_init(&r, 3, 2);
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_retry_on_fault(retry_factory, NULL, &r, retry_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = NULL;
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, h_int(777));
  CHECK_EQ(atomic_load(&r.calls), 3);
  CHECK_EQ(atomic_load(&r.overlap), 0); /* strictly sequential */
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&r.calls), 3);
  CHECK_EQ(atomic_load(&r.destroyed), 1);
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);

  /* success at the first attempt: one call */
  retry_init(&r, 3, 0);
  REQUIRE_OK(tapir_retry_on_fault(retry_factory, NULL, &r, retry_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&r.calls), 1);
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);

  /* with a gate: a tapir_delay between tries */
  retry_init(&r, 3, 2);
  r.gate_ms = 30;
  REQUIRE_OK(tapir_retry_on_fault(retry_factory, retry_gate, &r, retry_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(atomic_load(&r.calls), 3);
  CHECK_EQ(atomic_load(&r.gate_calls), 2); /* between tries only */
  CHECK_EQ(atomic_load(&r.overlap), 0);
  for (int i = 1; i < 3; i++)
    CHECKF(r.call_at[i] - r.call_at[i - 1] >= 10 + 30 - 2,
           "attempt %d started %.1f ms after attempt %d (attempt 10 ms + gate 30 ms)", i,
           r.call_at[i] - r.call_at[i - 1], i - 1);
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);
}

static void *retry_sync_body(void *arg) {
  retry_ctx *r = (retry_ctx *)arg;
  const tapir_task *t = NULL;
  if (tapir_retry_on_fault(retry_factory, NULL, r, retry_destroy, 20000, &t) != TAPIR_STATUS_OK) return NULL;
  return (void *)t;
}

static void cb02_retry_exhaustion(void) {
  retry_ctx r;
  retry_init(&r, 3, -1);
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_retry_on_fault(retry_factory, NULL, &r, retry_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  expect_errors(t, &r.errs[2], 1, "CB-02 (only the last attempt's error)");
  CHECK_EQ(atomic_load(&r.calls), 3);
  CHECK_EQ(atomic_load(&r.overlap), 0);
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);

  /* the last attempt canceled: CANCELED */
  retry_init(&r, 3, -1);
  r.last_kind = H_CANCEL;
  REQUIRE_OK(tapir_retry_on_fault(retry_factory, NULL, &r, retry_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(atomic_load(&r.calls), 3);
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);

  /* max_tries 0 and a NULL factory: refused, nothing called or destroyed */
  retry_init(&r, 0, -1);
  t = NULL;
  CHECK_ST(tapir_retry_on_fault(retry_factory, NULL, &r, retry_destroy, 0, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_retry_on_fault(NULL, NULL, &r, retry_destroy, 3, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_retry_on_fault(retry_factory, NULL, &r, retry_destroy, 3, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(t == NULL);
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&r.calls), 0);
  CHECK_EQ(atomic_load(&r.destroyed), 0);
  retry_fini(&r);

  /* a failing gate ends the retry that way */
  retry_init(&r, 3, -1);
  r.gate_fail = 1;
  r.gate_err = h_error(299, "gate failed");
  REQUIRE_OK(tapir_retry_on_fault(retry_factory, retry_gate, &r, retry_destroy, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  expect_errors(t, &r.gate_err, 1, "retry with a failing gate");
  CHECK_EQ(atomic_load(&r.calls), 1);
  CHECK_EQ(atomic_load(&r.gate_calls), 1);
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);

  /* a factory that returns NULL: the attempt fails with INVALID_STATE */
  retry_init(&r, 2, -1);
  r.return_null = 1;
  REQUIRE_OK(tapir_retry_on_fault(retry_factory, NULL, &r, retry_destroy, 2, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  const tapir_error *e = NULL;
  if (tapir_task_error(t, &e) == TAPIR_STATUS_OK) {
    CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_INVALID_STATE);
    tapir_error_release(e);
  }
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);

  /* 20,000 attempts that fail synchronously, from a small stack: no stack dive */
  retry_init(&r, 20000, -1);
  r.sync_fail = 1;
  t = (const tapir_task *)h_run_on_stack(retry_sync_body, &r, 256 * 1024);
  REQUIRE(t != NULL);
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(atomic_load(&r.calls), 20000);
  expect_errors(t, &r.errs[0], 1, "20,000 synchronous failures");
  CHECK(h_wait_eq(&r.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  retry_fini(&r);
}

/* ------------------------------------------------- CB-04 need_only_one */

typedef struct {
  const tapir_source *src;       /* the operation's source (+1) */
  const tapir_cancel_token *tok; /* the shared token (+1) */
  atomic_int saw_cancel;
  atomic_int fault_later;        /* fault (instead of cancel) when the token fires */
  const tapir_error *late;       /* the later fault */
  pthread_t thread;
  atomic_int has_thread;
} op_rec;

typedef struct {
  op_rec ops[3];
  int winner;
  int winner_kind;
  const tapir_error *winner_err;
  const tapir_cancel_token *first_token; /* the token the first call got (+1) */
  atomic_int same_token;
  atomic_int calls;
  atomic_int destroyed;
  atomic_int token_status; /* 1000 + tapir_last_status() if the token was unusable */
} noo_ctx;

/* Faults the operation 30 ms after the token fired (on its own thread). */
static void *late_fault_body(void *arg) {
  op_rec *o = (op_rec *)arg;
  double end = h_now_ms() + h_prompt_ms(); /* a hang guard: the token fires first */
  while (!tapir_cancel_token_is_canceled(o->tok) && h_now_ms() < end) h_sleep_ms(0.5);
  h_sleep_ms(30);
  CHECK_OK(tapir_source_set_error(o->src, o->late));
  return NULL;
}

static const tapir_error *op_on_cancel(void *ud) {
  op_rec *o = (op_rec *)ud;
  atomic_store(&o->saw_cancel, 1);
  if (!atomic_load(&o->fault_later)) (void)tapir_source_set_canceled(o->src, o->tok);
  return NULL;
}

static const tapir_task *noo_factory(void *ud, uint32_t index, const tapir_cancel_token *token) {
  noo_ctx *c = (noo_ctx *)ud;
  atomic_fetch_add(&c->calls, 1);
  if (!tapir_cancel_token_can_be_canceled(token)) {
    /* the token must be usable through the C API (borrowed for the call) */
    if (atomic_load(&c->token_status) == 0) atomic_store(&c->token_status, (int)tapir_last_status() + 1000);
  }
  if (!c->first_token)
    c->first_token = tapir_cancel_token_retain(token);
  else if (c->first_token != token)
    atomic_store(&c->same_token, 0);
  if ((int)index == c->winner) {
    return later_task(20, c->winner_kind, h_int(4242), c->winner_err, NULL);
  }
  op_rec *o = &c->ops[index];
  o->src = h_source();
  o->tok = tapir_cancel_token_retain(token);
  const tapir_task *t = h_task_of(o->src);
  (void)tapir_cancel_token_register(token, op_on_cancel, o, NULL, 0, NULL);
  if (atomic_load(&o->fault_later)) {
    o->thread = h_spawn(late_fault_body, o);
    atomic_store(&o->has_thread, 1);
  }
  return t;
}

static void noo_destroy(void *ud) { atomic_fetch_add(&((noo_ctx *)ud)->destroyed, 1); }

static void cb04_need_only_one(void) {
  size_t live0 = h_live();
  hook_install();
  for (int variant = 0; variant < 2; variant++) {
    noo_ctx c;
    memset(&c, 0, sizeof c);
    atomic_store(&c.same_token, 1);
    c.winner = 1;
    c.winner_kind = variant == 0 ? H_RESULT : H_ERROR;
    c.winner_err = h_error(400, "winner failed");
    atomic_store(&c.ops[2].fault_later, 1);
    c.ops[2].late = h_error(401, "function 3 failed late");
    const tapir_task *t = NULL;
    int32_t st = tapir_need_only_one(noo_factory, &c, noo_destroy, 3, &t);
    CHECK_OK(st);
    if (st != TAPIR_STATUS_OK) { /* release what the factories made, and stop */
      if (atomic_load(&c.ops[2].has_thread)) h_join(c.ops[2].thread);
      for (int i = 0; i < 3; i++) {
        if (c.ops[i].src) tapir_source_release(c.ops[i].src);
        if (c.ops[i].tok) tapir_cancel_token_release(c.ops[i].tok);
      }
      if (c.first_token) tapir_cancel_token_release(c.first_token);
      tapir_error_release(c.winner_err);
      tapir_error_release(c.ops[2].late);
      break;
    }
    CHECK_EQ(atomic_load(&c.calls), 3);
    CHECK_EQ(atomic_load(&c.destroyed), 1); /* destroyed before need_only_one returned */
    CHECK_EQ(atomic_load(&c.same_token), 1);
    CHECKF(atomic_load(&c.token_status) == 0,
           "the token given to the factory is not a usable handle: can_be_canceled false, last status %s",
           h_status_name(atomic_load(&c.token_status) - 1000));
    CHECKF(c.first_token != NULL, "tapir_cancel_token_retain on the factory's token returned NULL");
    if (!c.first_token) { /* cannot go on: drain what we can */
      if (atomic_load(&c.ops[2].has_thread)) h_join(c.ops[2].thread);
      (void)tapir_task_wait(t, h_prompt_ms());
      release_quiet(t);
      for (int i = 0; i < 3; i++) {
        if (c.ops[i].src) tapir_source_release(c.ops[i].src);
        if (c.ops[i].tok) tapir_cancel_token_release(c.ops[i].tok);
      }
      tapir_error_release(c.winner_err);
      tapir_error_release(c.ops[2].late);
      continue;
    }
    CHECK(!tapir_cancel_token_is_canceled(c.first_token));
    if (variant == 0) {
      CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
      void *v = NULL;
      CHECK_OK(tapir_task_result(t, &v));
      CHECK_PTR_EQ(v, h_int(4242));
    } else {
      CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
      expect_errors(t, &c.winner_err, 1, "need_only_one with a faulted winner");
    }
    /* the token is canceled right after the winner; the others observe it */
    double end = h_now_ms() + h_prompt_ms();
    while (!tapir_cancel_token_is_canceled(c.first_token) && h_now_ms() < end) h_sleep_ms(0.5);
    CHECK(tapir_cancel_token_is_canceled(c.first_token));
    CHECK(h_wait_eq(&c.ops[0].saw_cancel, 1, h_prompt_ms()));
    CHECK(h_wait_eq(&c.ops[2].saw_cancel, 1, h_prompt_ms()));
    CHECK_EQ(tapir_task_get_status(t), variant == 0 ? TAPIR_TASK_STATUS_SUCCEEDED : TAPIR_TASK_STATUS_FAULTED);
    /* function 3 faults later: never the result, never the unobserved hook */
    if (atomic_load(&c.ops[2].has_thread)) h_join(c.ops[2].thread);
    h_sleep_ms(20);
    CHECK_EQ(tapir_task_get_status(t), variant == 0 ? TAPIR_TASK_STATUS_SUCCEEDED : TAPIR_TASK_STATUS_FAULTED);
    CHECK_OK(tapir_task_release(t));
    for (int i = 0; i < 3; i++) {
      if (c.ops[i].src) CHECK_OK(tapir_source_release(c.ops[i].src));
      if (c.ops[i].tok) CHECK_OK(tapir_cancel_token_release(c.ops[i].tok));
    }
    CHECK_OK(tapir_cancel_token_release(c.first_token));
    tapir_error_release(c.winner_err);
    tapir_error_release(c.ops[2].late);
    CHECK(h_wait_live(live0, h_prompt_ms()));
    h_sleep_ms(20);
    CHECKF(atomic_load(&hook.calls) == 0, "variant %d: the unobserved hook fired %d times (a loser's fault)",
           variant, atomic_load(&hook.calls));
  }
  hook_remove();

  /* arguments */
  noo_ctx c;
  memset(&c, 0, sizeof c);
  const tapir_task *t = NULL;
  CHECK_ST(tapir_need_only_one(noo_factory, &c, noo_destroy, 0, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_need_only_one(NULL, &c, noo_destroy, 3, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_need_only_one(noo_factory, &c, noo_destroy, 3, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(t == NULL);
  CHECK_EQ(atomic_load(&c.calls), 0);
  CHECK_EQ(atomic_load(&c.destroyed), 0);
}

/* need_only_one whose factories' tasks wait only on the token it lends them: nothing
 * else can ever complete them. Releasing the pending result while nothing else
 * observes it cancels that token (no one needs a winner any more), so the race ends
 * and everything is freed; while the result is observed (a handle, a continuation),
 * the token stays uncanceled. */
static const tapir_task *noo_wait_for_token(void *ud, uint32_t index, const tapir_cancel_token *token) {
  const tapir_task *t = NULL;
  if (tapir_delay(-1, token, &t) != TAPIR_STATUS_OK) return NULL;
  const tapir_cancel_token **kept = ud;
  if (index == 0) *kept = tapir_cancel_token_retain(token);
  return t;
}

static void on_complete_count(void *ud, const tapir_task *t) {
  (void)t;
  atomic_fetch_add((atomic_int *)ud, 1);
}

static void cb04_need_only_one_released_result_cancels_its_token(void) {
  size_t live0 = h_live();
  /* released at once: the token is canceled inside the release, and all is freed */
  const tapir_cancel_token *tok = NULL;
  const tapir_task *t = NULL;
  CHECK_OK(tapir_need_only_one(noo_wait_for_token, &tok, NULL, 3, &t));
  CHECKF(tok != NULL, "the factory could not retain its token");
  if (!tok) return;
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_task_release(t));
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_cancel_token_release(tok));
  CHECK(h_wait_live(live0, h_prompt_ms()));

  /* observed by a continuation: releasing the handle does not cancel, and removing
   * the continuation (the last observer) does */
  tok = NULL;
  t = NULL;
  atomic_int ran = 0;
  CHECK_OK(tapir_need_only_one(noo_wait_for_token, &tok, NULL, 2, &t));
  if (!tok) return;
  const tapir_registration *reg = NULL;
  CHECK_OK(tapir_task_on_complete(t, on_complete_count, &ran, NULL, NULL, &reg));
  CHECK_OK(tapir_task_release(t));
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_registration_remove(reg));
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_registration_release(reg));
  CHECK_OK(tapir_cancel_token_release(tok));
  CHECK(h_wait_live(live0, h_prompt_ms()));
  CHECK_EQ(atomic_load(&ran), 0);
}

/* ------------------------------------------------- for_each_throttled */

typedef struct {
  atomic_int in_flight;
  atomic_int max_seen;
  atomic_int started;
  atomic_int destroyed;
  atomic_int bad_index;
  const tapir_error *errs[64]; /* errs[i] non-NULL: item i fails with it */
  int cancel_item;             /* -1: none */
  int null_item;               /* -1: none */
  int sync;                    /* pre-completed tasks */
  int slow_item;               /* a slow item (-1: none) */
  uint32_t count;
} thr_ctx;

static const tapir_task *thr_factory(void *ud, uint32_t index) {
  thr_ctx *c = (thr_ctx *)ud;
  if (index >= c->count) atomic_fetch_add(&c->bad_index, 1);
  atomic_fetch_add(&c->started, 1);
  if (c->sync) {
    const tapir_task *t = NULL;
    if (tapir_task_from_result(h_int(index), NULL, &t) != TAPIR_STATUS_OK) return NULL;
    return t;
  }
  if ((int)index == c->null_item) return NULL;
  int now = atomic_fetch_add(&c->in_flight, 1) + 1;
  int m = atomic_load(&c->max_seen);
  while (now > m && !atomic_compare_exchange_weak(&c->max_seen, &m, now)) {
  }
  int64_t ms = 1 + (int64_t)((index * 37u) % 15u);
  if ((int)index == c->slow_item) ms = 60;
  const tapir_error *e = index < 64 ? c->errs[index] : NULL;
  int kind = e ? H_ERROR : ((int)index == c->cancel_item ? H_CANCEL : H_RESULT);
  return later_task(ms, kind, h_int(index), e, &c->in_flight);
}

static void thr_destroy(void *ud) { atomic_fetch_add(&((thr_ctx *)ud)->destroyed, 1); }

static void thr_init(thr_ctx *c, uint32_t count) {
  memset(c, 0, sizeof *c);
  c->count = count;
  c->cancel_item = -1;
  c->null_item = -1;
  c->slow_item = -1;
}

static void throttled_never_more_than_k(void) {
  uint32_t ks[3] = {1, 3, 8};
  for (int ki = 0; ki < 3; ki++) {
    uint32_t k = ks[ki];
    thr_ctx c;
    thr_init(&c, 30);
    const tapir_task *t = NULL;
    REQUIRE_OK(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 30, k, &t));
    CHECKF(atomic_load(&c.started) <= (int)k, "K=%u: %d started at once", k, atomic_load(&c.started));
    CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
    void *v = h_int(1);
    CHECK_OK(tapir_task_result(t, &v));
    CHECK(v == NULL);
    CHECK_EQ(atomic_load(&c.started), 30);
    CHECK_EQ(atomic_load(&c.in_flight), 0); /* every operation completed */
    CHECKF(atomic_load(&c.max_seen) <= (int)k, "K=%u: %d in flight at once", k, atomic_load(&c.max_seen));
    CHECKF(atomic_load(&c.max_seen) == (int)k, "K=%u: never more than %d in flight (want the limit reached)", k,
           atomic_load(&c.max_seen));
    CHECK_EQ(atomic_load(&c.bad_index), 0);
    CHECK(h_wait_eq(&c.destroyed, 1, h_prompt_ms()));
    CHECK_OK(tapir_task_release(t));
  }
  /* K larger than the count, and an empty run */
  thr_ctx c;
  thr_init(&c, 4);
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 4, 100, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(atomic_load(&c.started), 4);
  CHECK(h_wait_eq(&c.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  thr_init(&c, 0);
  REQUIRE_OK(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 0, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(atomic_load(&c.started), 0);
  CHECK(h_wait_eq(&c.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  /* arguments */
  thr_init(&c, 4);
  t = NULL;
  CHECK_ST(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 4, 0, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_for_each_throttled(NULL, &c, thr_destroy, 4, 2, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 4, 2, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(t == NULL);
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&c.started), 0);
  CHECK_EQ(atomic_load(&c.destroyed), 0);
}

static void throttled_errors_in_index_order(void) {
  thr_ctx c;
  thr_init(&c, 20);
  const tapir_error *e3 = h_error(3, "item 3"), *e7 = h_error(7, "item 7"), *e12 = h_error(12, "item 12");
  c.errs[3] = e3;
  c.errs[7] = e7;
  c.errs[12] = e12;
  c.slow_item = 3; /* item 3 fails last */
  c.cancel_item = 15;
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 20, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  const tapir_error *want[3] = {e3, e7, e12};
  expect_errors(t, want, 3, "throttled errors");
  CHECK_EQ(atomic_load(&c.started), 20); /* a failure does not stop the loop */
  CHECK_EQ(atomic_load(&c.in_flight), 0);
  CHECK(atomic_load(&c.max_seen) <= 3);
  CHECK(h_wait_eq(&c.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));

  /* a canceled item and no fault: CANCELED */
  thr_init(&c, 10);
  c.cancel_item = 4;
  REQUIRE_OK(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 10, 3, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(atomic_load(&c.started), 10);
  CHECK(h_wait_eq(&c.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));

  /* a factory returning NULL: that item fails with INVALID_STATE */
  thr_init(&c, 6);
  c.null_item = 2;
  REQUIRE_OK(tapir_for_each_throttled(thr_factory, &c, thr_destroy, 6, 2, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(tapir_task_error_count(t), 1);
  const tapir_error *e = NULL;
  if (tapir_task_error(t, &e) == TAPIR_STATUS_OK) {
    CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_INVALID_STATE);
    tapir_error_release(e);
  }
  CHECK_EQ(atomic_load(&c.started), 6);
  CHECK(h_wait_eq(&c.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  tapir_error_release(e3);
  tapir_error_release(e7);
  tapir_error_release(e12);
}

static void *throttled_sync_body(void *arg) {
  thr_ctx *c = (thr_ctx *)arg;
  const tapir_task *t = NULL;
  if (tapir_for_each_throttled(thr_factory, c, thr_destroy, c->count, 1, &t) != TAPIR_STATUS_OK) return NULL;
  return (void *)t;
}

/* 20,000 items that complete synchronously, one at a time, from a small stack. */
static void throttled_synchronous_items_no_stack_dive(void) {
  thr_ctx c;
  thr_init(&c, 20000);
  c.sync = 1;
  const tapir_task *t = (const tapir_task *)h_run_on_stack(throttled_sync_body, &c, 256 * 1024);
  REQUIRE(t != NULL);
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(atomic_load(&c.started), 20000);
  CHECK(h_wait_eq(&c.destroyed, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
}

void register_combinator_tests(void) {
  REG(wa01_results_in_input_order);
  REG(wa02_empty_input);
  REG(wa03_waits_for_all_even_after_fault);
  REG(wa04_all_pre_completed);
  REG(wa05_errors_in_input_order);
  REG(wa07_canceled_with_first_canceled_token);
  REG(wa08_duplicates);
  REG(wa_inputs_observed_when_all_not);
  REG(when_all_settled_inspects_each);
  REG(cb07_when_all_or_first_error);
  REG(wy01_index_whatever_the_outcome);
  REG(wy_pre_completed_first_in_input_order);
  REG(wy04_losers_registrations_removed);
  REG(wy_cancel_on_complete);
  REG(wy_repeated_over_same_inputs_bounded);
  REG(wy_invalid_input_leaves_nothing);
  REG(wy_large_middle_wins);
  REG(wy06_timeout_idiom);
  REG(cb05_interleaved_completion_order);
  REG(cb01_retry_eventual_success);
  REG(cb02_retry_exhaustion);
  REG(cb04_need_only_one);
  REG(cb04_need_only_one_released_result_cancels_its_token);
  REG(throttled_never_more_than_k);
  REG(throttled_errors_in_index_order);
  REG(throttled_synchronous_items_no_stack_dive);
}
