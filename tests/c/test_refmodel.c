/* The reference model, through the header (REF):
 *   01 a second release of a source is refused while tapir still holds it, and a
 *      reference tapir keeps never touches a slot reused by another object;
 *   02 tapir_source_set_from_task needs only the source;
 *   03 kind checks cannot be bypassed;
 *   04 a released token is refused everywhere; tapir_task_cancel_token never
 *      hands out a dead token;
 *   05 a call that fails has done nothing;
 *   06 tapir_task_wait_any / _wait_all validate every element before waiting;
 *   07 no reference cycles (a task that can never complete, a released manual
 *      scheduler with queued work);
 *   08 a handle lent to a callback stays valid for the whole callback;
 *   09 a call racing the release of its handle's last reference succeeds whole
 *      or returns INVALID_HANDLE having done nothing;
 *   10 tapir_retry_on_fault and tapir_for_each_throttled always complete. */
#include "harness.h"

#define CHECK_LAST(want) CHECK_ST(tapir_last_status(), want)

/* CHECK_ST with a label, for checks made in a loop over cases. */
#define CHECK_STW(what, expr, want)                                                              \
  do {                                                                                           \
    int32_t w_got_ = (int32_t)(expr);                                                            \
    int32_t w_want_ = (int32_t)(want);                                                           \
    if (w_got_ != w_want_)                                                                       \
      h_fail(__FILE__, __LINE__, "[%s] %s: got %s (%d), want %s (%d)", (what), #expr,            \
             h_status_name(w_got_), (int)w_got_, h_status_name(w_want_), (int)w_want_);          \
  } while (0)

#define IH TAPIR_STATUS_INVALID_HANDLE

/* ------------------------------------------------------------------ helpers */

/* A generous bound for things that must finish: 10 s, 60 s under valgrind. */
static int long_ms(void) { return h_slow() ? 60000 : 10000; }

/* A sentinel for out-pointers that a failed call must leave untouched. */
#define SENTINEL ((void *)(uintptr_t)0x5e)

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

/* Handles that were valid and have been released (their objects are gone). */
static const tapir_cancel_token *stale_token(void) {
  const tapir_cancel_source *c = NULL;
  const tapir_cancel_token *k = NULL;
  if (!h_new_cts(&c, &k)) return NULL;
  h_release_cts(c, k);
  return k;
}

static const tapir_cancel_source *stale_cancel_source(void) {
  const tapir_cancel_source *c = NULL;
  CHECK_OK(tapir_cancel_source_new(&c));
  CHECK_OK(tapir_cancel_source_release(c));
  return c;
}

static const tapir_scheduler *stale_scheduler(void) {
  const tapir_scheduler *m = NULL;
  CHECK_OK(tapir_scheduler_new_manual(&m));
  CHECK_OK(tapir_scheduler_release(m));
  return m;
}

/* User data on the heap whose destroy frees it. A refused call leaves it with
 * the caller, who frees it: a library that kept it or destroyed it anyway shows
 * up as a counted destroy here, and as a double free or use after free under
 * ASan or valgrind if it does so later. */
static atomic_int g_ud_destroys, g_ud_calls, g_work_runs;

static void *owned_new(void) {
  int *p = malloc(sizeof *p);
  if (p) *p = 1;
  return p;
}
static void owned_destroy(void *p) {
  atomic_fetch_add(&g_ud_destroys, 1);
  free(p);
}
static void owned_cb(void *p, const tapir_task *t) {
  (void)p;
  (void)t;
  atomic_fetch_add(&g_ud_calls, 1);
}
static void owned_cont(void *p, const tapir_task *a, const tapir_source *next) {
  (void)p;
  (void)a;
  atomic_fetch_add(&g_ud_calls, 1);
  (void)tapir_source_set_result(next, NULL, NULL);
}
static void owned_work(void *p, const tapir_source *s) {
  (void)p;
  atomic_fetch_add(&g_work_runs, 1);
  (void)tapir_source_set_result(s, NULL, NULL);
}
static void owned_post_fn(void *p) {
  (void)p;
  atomic_fetch_add(&g_work_runs, 1);
}
static const tapir_error *owned_cancel_fn(void *p) {
  (void)p;
  atomic_fetch_add(&g_ud_calls, 1);
  return NULL;
}

/* After a call that had to be refused with `want`: the status, no destroy run,
 * and the user data freed by the caller (it is still the caller's). */
static void refused_check(int32_t st, int32_t want, void *ud, int destroys_before, const char *expr, int line) {
  if (st != want)
    h_fail(__FILE__, line, "%s: got %s (%d), want %s (%d)", expr, h_status_name(st), (int)st, h_status_name(want),
           (int)want);
  int d = atomic_load(&g_ud_destroys) - destroys_before;
  if (d != 0) h_fail(__FILE__, line, "%s: refused, yet its destroy ran (%d)", expr, d);
  /* on an unexpected OK the library owns ud now; on a destroy it is gone */
  if (st != TAPIR_STATUS_OK && d == 0) free(ud);
}

#define REFUSED(st_var, expr, want, ud)                                \
  do {                                                                 \
    int r_d0_ = atomic_load(&g_ud_destroys);                           \
    (st_var) = (int32_t)(expr);                                        \
    refused_check((st_var), (want), (ud), r_d0_, #expr, __LINE__);     \
  } while (0)

/* ------------------------------------------------------------------- REF 01 */

static void ref01_double_release_while_tapir_holds_source(void) {
  const tapir_source *s = h_source(), *p = h_source();
  REQUIRE(s != NULL && p != NULL);
  const tapir_task *t = h_task_of(s), *pt = h_task_of(p);
  atomic_int vdestroyed = 0;
  CHECK_OK(tapir_source_set_from_task(s, pt)); /* tapir now holds s until pt completes */
  CHECK_OK(tapir_source_release(s));
  CHECK_ST(tapir_source_release(s), IH);
  CHECK(tapir_source_retain(s) == NULL);
  CHECK_LAST(IH);
  CHECK_ST(tapir_source_set_result(s, &vdestroyed, h_bump_destroy), IH);
  /* the refused release did not break the promise */
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING);

  CHECK_OK(tapir_source_set_result(p, &vdestroyed, h_bump_destroy));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  void *v = NULL;
  CHECK_OK(tapir_task_result(t, &v));
  CHECK_PTR_EQ(v, &vdestroyed);
  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_task_release(pt));
  CHECK_OK(tapir_source_release(p));
  CHECK(h_wait_eq(&vdestroyed, 1, h_prompt_ms()));
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&vdestroyed), 1);
}

static void ref01_held_reference_never_touches_reused_slot(void) {
  size_t live0 = h_live();
  const tapir_source *s = h_source(), *p = h_source();
  REQUIRE(s != NULL && p != NULL);
  const tapir_task *t = h_task_of(s), *pt = h_task_of(p);
  atomic_int vdestroyed = 0;
  CHECK_OK(tapir_source_set_from_task(s, pt));
  CHECK_OK(tapir_source_release(s));
  CHECK_ST(tapir_source_release(s), IH);
  CHECK_OK(tapir_task_release(t)); /* only tapir's own reference to s's object is left */

  enum { N = 1000 };
  const tapir_source **ns = calloc(N, sizeof *ns);
  const tapir_task **nt = calloc(N, sizeof *nt);
  REQUIRE(ns != NULL && nt != NULL);
  int aliases = 0;
  for (int i = 0; i < N; i++) {
    ns[i] = h_source();
    nt[i] = ns[i] ? h_task_of(ns[i]) : NULL;
    if ((const void *)ns[i] == (const void *)s || (const void *)nt[i] == (const void *)t) aliases++;
  }
  CHECKF(aliases == 0, "%d new objects got the released handle's value", aliases);

  CHECK_OK(tapir_source_set_result(p, &vdestroyed, h_bump_destroy));
  CHECK_EQ(h_settle(pt), TAPIR_TASK_STATUS_SUCCEEDED);
  /* tapir's reference to s's object is gone once only p's object and the N new
   * ones are left */
  CHECKF(h_wait_live(live0 + 1 + N, long_ms()), "live objects: %zu, want %zu (p and the %d new sources)", h_live(),
         live0 + 1 + (size_t)N, N);
  int completed = 0, first = -1;
  for (int i = 0; i < N; i++) {
    if (tapir_task_get_status(nt[i]) != TAPIR_TASK_STATUS_PENDING) {
      if (first < 0) first = i;
      completed++;
    }
  }
  CHECKF(completed == 0, "%d new tasks completed by a stale reference (first: #%d, status %d)", completed, first,
         first >= 0 ? (int)tapir_task_get_status(nt[first]) : 0);
  for (int i = 0; i < N; i++) {
    CHECK_OK(tapir_source_set_result(ns[i], h_int((uintptr_t)i + 1), NULL));
    void *v = NULL;
    CHECK_OK(tapir_task_result(nt[i], &v));
    CHECK_PTR_EQ(v, h_int((uintptr_t)i + 1));
    CHECK_OK(tapir_source_release(ns[i]));
    release_observed(nt[i]);
  }
  free(ns);
  free(nt);
  CHECK_OK(tapir_task_release(pt));
  CHECK_OK(tapir_source_release(p));
  CHECK(h_wait_eq(&vdestroyed, 1, h_prompt_ms()));
}

/* ------------------------------------------------------------------- REF 02 */

static void ref02_set_from_task_needs_only_the_source(void) {
  for (int inner_done = 0; inner_done < 2; inner_done++) {
    const tapir_source *s = h_source();
    REQUIRE(s != NULL);
    const tapir_task *t = h_task_of(s);
    CHECK_OK(tapir_task_release(t)); /* the caller holds no task handle now */
    const tapir_source *is = NULL;
    const tapir_task *inner = NULL;
    if (inner_done) {
      REQUIRE_OK(tapir_task_from_result(h_int(42), NULL, &inner));
    } else {
      is = h_source();
      inner = h_task_of(is);
    }
    CHECK_OK(tapir_source_set_from_task(s, inner));
    if (is) CHECK_OK(tapir_source_set_result(is, h_int(42), NULL));
    const tapir_task *t2 = h_task_of(s);
    CHECK_EQ(h_settle(t2), TAPIR_TASK_STATUS_SUCCEEDED);
    void *v = NULL;
    CHECK_OK(tapir_task_result(t2, &v));
    CHECK_PTR_EQ(v, h_int(42));
    release_observed(t2);
    CHECK_OK(tapir_source_release(s));
    if (is) CHECK_OK(tapir_source_release(is));
    CHECK_OK(tapir_task_release(inner));
  }
}

/* The header's recipe: a continuation retains `next` and returns; later,
 * outside the callback, next is completed from another task and released. */
typedef struct {
  atomic_int calls;
  const tapir_source *next;
} keep_rec;

static void keep_next(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  keep_rec *r = (keep_rec *)ud;
  r->next = tapir_source_retain(next);
  atomic_fetch_add(&r->calls, 1);
}

typedef struct {
  atomic_int calls;
  int32_t status;
  void *value;
} observe_rec;

static void observe_cb(void *ud, const tapir_task *t) {
  observe_rec *o = (observe_rec *)ud;
  o->status = (int32_t)tapir_task_get_status(t);
  (void)tapir_task_result(t, &o->value);
  atomic_store(&o->calls, 1);
}

static void ref02_header_recipe_retain_next_complete_later(void) {
  for (int variant = 0; variant < 4; variant++) {
    /* bit 0 clear: synchronous continuation on a pending antecedent completed
     * here; set: default (pool) continuation on a completed antecedent.
     * bit 1: the continuation task's handle is released before next is
     * completed (an observer registered on it reports its outcome). */
    bool pool = variant & 1, drop_c = variant & 2;
    const tapir_source *as = NULL;
    const tapir_task *a = NULL, *c = NULL;
    if (!pool) {
      as = h_source();
      a = h_task_of(as);
    } else {
      REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &a));
    }
    keep_rec r = {0, NULL};
    observe_rec o = {0, 0, NULL};
    REQUIRE_OK(tapir_task_continue_with(a, keep_next, &r, NULL, pool ? NULL : h_sync(), &c));
    CHECK_OK(tapir_task_on_complete(c, observe_cb, &o, NULL, NULL, NULL));
    if (as) CHECK_OK(tapir_source_set_result(as, h_int(1), NULL));
    CHECK(h_wait_eq(&r.calls, 1, h_prompt_ms()));
    REQUIRE(r.next != NULL);
    h_sleep_ms(5); /* the callback has returned; the retained next keeps c pending */
    CHECK_EQ(tapir_task_get_status(c), TAPIR_TASK_STATUS_PENDING);
    if (drop_c) {
      CHECK_OK(tapir_task_release(c));
      c = NULL;
    }

    const tapir_source *is = h_source();
    const tapir_task *inner = h_task_of(is);
    int32_t st = tapir_source_set_from_task(r.next, inner);
    CHECKF(st == TAPIR_STATUS_OK, "variant %d: set_from_task(next, inner): %s", variant, h_status_name(st));
    CHECK_OK(tapir_source_release(r.next));
    if (c) CHECK_EQ(tapir_task_get_status(c), TAPIR_TASK_STATUS_PENDING);
    CHECK_EQ(atomic_load(&o.calls), 0);
    CHECK_OK(tapir_source_set_result(is, h_int(99), NULL));
    CHECKF(h_wait_eq(&o.calls, 1, h_prompt_ms()), "variant %d: the continuation task never completed", variant);
    CHECKF(o.status == TAPIR_TASK_STATUS_SUCCEEDED && o.value == h_int(99),
           "variant %d: the continuation task ended %d with %p, want SUCCEEDED with inner's value", variant,
           (int)o.status, o.value);
    if (c) release_observed(c);
    CHECK_OK(tapir_task_release(a));
    if (as) CHECK_OK(tapir_source_release(as));
    CHECK_OK(tapir_source_release(is));
    CHECK_OK(tapir_task_release(inner));
  }
}

/* ------------------------------------------------------------------- REF 03 */

static void ref03_wrong_kind_where_source_required(void) {
  const tapir_source *ps = h_source(), *is = h_source();
  REQUIRE(ps != NULL && is != NULL);
  const tapir_task *pending = h_task_of(ps), *inner = h_task_of(is);
  const tapir_error *e = h_error(7, "kind");
  const tapir_cancel_source *cs = NULL;
  const tapir_cancel_token *tok = NULL;
  if (!h_new_cts(&cs, &tok)) return;
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  const struct {
    const char *what;
    const void *h;
  } wrong[] = {{"task", pending}, {"error", e}, {"token", tok}, {"cancel source", cs}, {"scheduler", m}};
  const tapir_error *list[] = {e};
  size_t live = h_live();

  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    const char *w = wrong[i].what;
    const tapir_source *x = (const tapir_source *)wrong[i].h;
    atomic_int destroyed = 0;
    const tapir_task *out = (const tapir_task *)SENTINEL;
    CHECKF(tapir_source_retain(x) == NULL, "[%s] tapir_source_retain accepted it", w);
    CHECK_STW(w, tapir_last_status(), IH);
    CHECK_STW(w, tapir_source_task(x, &out), IH);
    CHECKF(out == (const tapir_task *)SENTINEL, "[%s] tapir_source_task wrote its out-pointer", w);
    CHECK_STW(w, tapir_source_set_result(x, &destroyed, h_bump_destroy), IH);
    CHECKF(!tapir_source_try_set_result(x, &destroyed, h_bump_destroy), "[%s] try_set_result accepted it", w);
    CHECK_STW(w, tapir_last_status(), IH);
    CHECK_STW(w, tapir_source_set_error(x, e), IH);
    CHECKF(!tapir_source_try_set_error(x, e), "[%s] try_set_error accepted it", w);
    CHECK_STW(w, tapir_last_status(), IH);
    CHECK_STW(w, tapir_source_set_error_list(x, list, 1), IH);
    CHECKF(!tapir_source_try_set_error_list(x, list, 1), "[%s] try_set_error_list accepted it", w);
    CHECK_STW(w, tapir_last_status(), IH);
    CHECK_STW(w, tapir_source_set_canceled(x, NULL), IH);
    CHECKF(!tapir_source_try_set_canceled(x, NULL), "[%s] try_set_canceled accepted it", w);
    CHECK_STW(w, tapir_last_status(), IH);
    CHECK_STW(w, tapir_source_set_from_task(x, inner), IH);
    CHECK_STW(w, tapir_debug_panic(x), IH);
    CHECK_STW(w, tapir_source_release(x), IH);
    CHECKF(atomic_load(&destroyed) == 0, "[%s] a refused value was destroyed", w);
    CHECKF(h_live() == live, "[%s] live objects %zu, want %zu", w, h_live(), live);
  }

  /* nothing changed: every object is intact and holds exactly our references */
  CHECK_EQ(tapir_task_get_status(pending), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_task_get_status(inner), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_error_code(e), 7);
  CHECK_EQ(tapir_error_inner_count(e), 0);
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK(!tapir_cancel_source_is_canceled(cs));
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);
  size_t ran = 9;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, 0);
  /* completing inner completes nothing else; the pending task completes as its
   * own source says */
  CHECK_OK(tapir_source_set_result(is, h_int(5), NULL));
  CHECK_OK(tapir_source_set_result(ps, h_int(6), NULL));
  void *v = NULL;
  CHECK_OK(tapir_task_result(pending, &v));
  CHECK_PTR_EQ(v, h_int(6));
  CHECK_OK(tapir_task_release(pending));
  CHECK_OK(tapir_task_release(inner));
  CHECK_OK(tapir_source_release(ps));
  CHECK_OK(tapir_source_release(is));
  CHECK_OK(tapir_error_release(e));
  h_release_cts(cs, tok);
  CHECK_OK(tapir_scheduler_release(m));
}

static void ref03_source_where_task_required(void) {
  const tapir_source *s = h_source(), *other = h_source();
  REQUIRE(s != NULL && other != NULL);
  const tapir_task *x = (const tapir_task *)s;
  const tapir_task *list[] = {x};
  size_t live = h_live();
  int32_t st;
  void *v = SENTINEL;
  const tapir_error *eo = (const tapir_error *)SENTINEL;
  const tapir_cancel_token *ko = (const tapir_cancel_token *)SENTINEL;
  const tapir_task *out = (const tapir_task *)SENTINEL;
  const tapir_task *outs[1] = {(const tapir_task *)SENTINEL};
  const tapir_registration *reg = (const tapir_registration *)SENTINEL;
  size_t idx = 77;
  int calls0 = atomic_load(&g_ud_calls);

  CHECK(tapir_task_retain(x) == NULL);
  CHECK_LAST(IH);
  CHECK_ST(tapir_task_release(x), IH);
  CHECK_EQ(tapir_task_get_status(x), TAPIR_TASK_STATUS_INVALID_HANDLE);
  CHECK(!tapir_task_is_completed(x));
  CHECK_LAST(IH);
  CHECK_EQ(tapir_task_id(x), 0);
  CHECK_LAST(IH);
  CHECK_EQ(tapir_task_error_count(x), 0);
  CHECK_ST(tapir_task_result(x, &v), IH);
  CHECK_ST(tapir_task_error(x, &eo), IH);
  CHECK_ST(tapir_task_error_at(x, 0, &eo), IH);
  CHECK_ST(tapir_task_cancel_token(x, &ko), IH);
  CHECK_ST(tapir_task_wait(x, 0), IH);
  CHECK_ST(tapir_task_wait_all(list, 1, 0, NULL), IH);
  CHECK_ST(tapir_task_wait_any(list, 1, 0, NULL, &idx), IH);
  void *ud = owned_new();
  REFUSED(st, tapir_task_on_complete(x, owned_cb, ud, owned_destroy, NULL, &reg), IH, ud);
  ud = owned_new();
  REFUSED(st, tapir_task_on_complete(x, owned_cb, ud, owned_destroy, h_sync(), NULL), IH, ud);
  ud = owned_new();
  REFUSED(st, tapir_task_continue_with(x, owned_cont, ud, owned_destroy, NULL, &out), IH, ud);
  CHECK_ST(tapir_task_unwrap(x, &out), IH);
  CHECK_ST(tapir_when_all(list, 1, &out), IH);
  CHECK_ST(tapir_when_all_settled(list, 1, &out), IH);
  CHECK_ST(tapir_when_all_or_first_error(list, 1, &out), IH);
  CHECK_ST(tapir_when_any(list, 1, NULL, &out), IH);
  CHECK_ST(tapir_interleaved(list, 1, outs), IH);
  CHECK_ST(tapir_task_wait_async(x, -1, NULL, &out), IH);
  CHECK_ST(tapir_source_set_from_task(other, x), IH);
  (void)st;

  CHECK_PTR_EQ(v, SENTINEL);
  CHECK_PTR_EQ(eo, SENTINEL);
  CHECK_PTR_EQ(ko, SENTINEL);
  CHECK_PTR_EQ(out, SENTINEL);
  CHECK_PTR_EQ(outs[0], SENTINEL);
  CHECK_PTR_EQ(reg, SENTINEL);
  CHECK_EQ(idx, 77);
  CHECK_EQ(h_live(), live);
  /* the source is intact: still pending, completes normally, once */
  const tapir_task *t = h_task_of(s), *ot = h_task_of(other);
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_task_get_status(ot), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(s, h_int(3), NULL));
  CHECK_EQ(tapir_task_get_status(ot), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(other, h_int(4), NULL));
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&g_ud_calls), calls0);
  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_task_release(ot));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_source_release(other));
}

static void ref03_token_where_cancel_source_required(void) {
  const tapir_cancel_source *cs = NULL;
  const tapir_cancel_token *tok = NULL;
  if (!h_new_cts(&cs, &tok)) return;
  const tapir_source *ps = h_source();
  REQUIRE(ps != NULL);
  const tapir_task *pending = h_task_of(ps);
  const tapir_task *list[] = {pending};
  const tapir_cancel_source *x = (const tapir_cancel_source *)tok;
  size_t live = h_live(), timers = tapir_debug_pending_timers();
  const tapir_task *out = (const tapir_task *)SENTINEL;
  const tapir_cancel_token *ko = (const tapir_cancel_token *)SENTINEL;
  const tapir_error *errs = (const tapir_error *)SENTINEL;

  CHECK_ST(tapir_when_any(list, 1, x, &out), IH);
  CHECK_ST(tapir_cancel_source_cancel(x, 0, &errs), IH);
  CHECK_ST(tapir_cancel_source_cancel_after(x, 0), IH);
  CHECK_ST(tapir_cancel_source_cancel_after(x, 50), IH);
  CHECK_ST(tapir_cancel_source_token(x, &ko), IH);
  CHECK(tapir_cancel_source_retain(x) == NULL);
  CHECK_LAST(IH);
  CHECK_ST(tapir_cancel_source_release(x), IH);
  CHECK_PTR_EQ(out, SENTINEL);
  CHECK_PTR_EQ(ko, SENTINEL);
  CHECK_PTR_EQ(errs, SENTINEL);
  CHECK_EQ(h_live(), live);
  CHECK_EQ(tapir_debug_pending_timers(), timers);
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);
  h_sleep_ms(80); /* a cancel_after(50) that slipped through would have fired */
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK(!tapir_cancel_source_is_canceled(cs));
  /* the token and its source hold exactly our references */
  CHECK_PTR_EQ(tapir_cancel_token_retain(tok), tok);
  CHECK_OK(tapir_cancel_token_release(tok));
  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  CHECK_OK(tapir_task_release(pending));
  CHECK_OK(tapir_source_release(ps));
  h_release_cts(cs, tok);
}

/* ------------------------------------------------------------------- REF 04 */

static void ref04_released_token_refused_everywhere(void) {
  const tapir_cancel_source *c = NULL;
  const tapir_cancel_token *k = NULL;
  if (!h_new_cts(&c, &k)) return;
  const tapir_task *d = NULL;
  REQUIRE_OK(tapir_delay(100000, k, &d)); /* tapir holds the token object */
  const tapir_source *ps = h_source();
  REQUIRE(ps != NULL);
  const tapir_task *pending = h_task_of(ps);
  const tapir_task *list[] = {pending};
  CHECK_OK(tapir_cancel_token_release(k)); /* its only user handle: k is stale now */

  size_t live = h_live();
  int runs0 = atomic_load(&g_work_runs), calls0 = atomic_load(&g_ud_calls);
  const tapir_task *out = (const tapir_task *)SENTINEL;
  const tapir_registration *reg = (const tapir_registration *)SENTINEL;
  const tapir_cancel_registration *creg = (const tapir_cancel_registration *)SENTINEL;
  const tapir_cancel_source *linked = (const tapir_cancel_source *)SENTINEL;
  const tapir_cancel_token *tokens[] = {k};
  size_t idx = 77;
  int32_t st;
  void *ud;

  CHECK_ST(tapir_delay(10, k, &out), IH);
  CHECK_ST(tapir_task_wait_all(list, 1, 0, k), IH);
  CHECK_ST(tapir_task_wait_any(list, 1, 0, k, &idx), IH);
  ud = owned_new();
  REFUSED(st, tapir_run(NULL, owned_work, ud, owned_destroy, k, &out), IH, ud);
  const tapir_continuation_options with_k = {sizeof with_k, 0, NULL, k};
  const tapir_continuation_options with_k_sync = {sizeof with_k_sync, TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
                                                  NULL, k};
  ud = owned_new();
  REFUSED(st, tapir_task_on_complete(pending, owned_cb, ud, owned_destroy, &with_k, &reg), IH, ud);
  ud = owned_new();
  REFUSED(st, tapir_task_on_complete(pending, owned_cb, ud, owned_destroy, &with_k_sync, NULL), IH, ud);
  ud = owned_new();
  REFUSED(st, tapir_task_continue_with(pending, owned_cont, ud, owned_destroy, &with_k, &out), IH, ud);
  CHECK_ST(tapir_source_set_canceled(ps, k), IH);
  CHECK(!tapir_source_try_set_canceled(ps, k));
  CHECK_LAST(IH);
  CHECK_ST(tapir_task_from_canceled(k, &out), IH);
  CHECK_ST(tapir_task_wait_async(pending, -1, k, &out), IH);
  ud = owned_new();
  REFUSED(st, tapir_cancel_token_register(k, owned_cancel_fn, ud, owned_destroy, 0, &creg), IH, ud);
  CHECK_ST(tapir_cancel_source_new_linked(tokens, 1, &linked), IH);
  CHECK(tapir_cancel_token_retain(k) == NULL);
  CHECK_LAST(IH);
  CHECK(!tapir_cancel_token_is_canceled(k));
  CHECK_LAST(IH);
  CHECK_ST(tapir_cancel_token_release(k), IH);
  (void)st;

  CHECK_PTR_EQ(out, SENTINEL);
  CHECK_PTR_EQ(reg, SENTINEL);
  CHECK_PTR_EQ(creg, SENTINEL);
  CHECK_PTR_EQ(linked, SENTINEL);
  CHECK_EQ(idx, 77);
  CHECK_EQ(h_live(), live); /* no task, registration or source created */
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&g_work_runs), runs0);
  CHECK_EQ(atomic_load(&g_ud_calls), calls0);
  CHECK_EQ(tapir_task_get_status(pending), TAPIR_TASK_STATUS_PENDING);
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_PENDING);

  /* the source still cancels the token object tapir holds */
  CHECK_OK(tapir_cancel_source_cancel(c, 0, NULL));
  CHECK_EQ(h_settle(d), TAPIR_TASK_STATUS_CANCELED);
  const tapir_cancel_token *why = NULL;
  CHECK_OK(tapir_task_cancel_token(d, &why));
  CHECK(why != NULL);
  if (why) {
    CHECK(tapir_cancel_token_is_canceled(why));
    CHECK_OK(tapir_cancel_token_release(why));
  }
  CHECK_OK(tapir_task_release(d));
  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  CHECK_OK(tapir_task_release(pending));
  CHECK_OK(tapir_source_release(ps));
  CHECK_OK(tapir_cancel_source_release(c));
}

static void ref04_task_cancel_token_never_dead(void) {
  for (int variant = 0; variant < 2; variant++) {
    /* 0: set_canceled with the token; 1: a delay canceled by it */
    const tapir_cancel_source *c = NULL;
    const tapir_cancel_token *k = NULL;
    if (!h_new_cts(&c, &k)) return;
    const tapir_source *s = NULL;
    const tapir_task *t = NULL;
    if (variant == 0) {
      CHECK_OK(tapir_cancel_source_cancel(c, 0, NULL));
      s = h_source();
      t = h_task_of(s);
      CHECK_OK(tapir_source_set_canceled(s, k));
    } else {
      REQUIRE_OK(tapir_delay(100000, k, &t));
      CHECK_OK(tapir_cancel_source_cancel(c, 0, NULL));
    }
    CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_CANCELED);
    h_release_cts(c, k); /* the user's last token and source handles */
    for (int round = 0; round < 2; round++) {
      const tapir_cancel_token *out = NULL;
      CHECK_OK(tapir_task_cancel_token(t, &out));
      CHECKF(out != NULL, "variant %d: no token recorded", variant);
      if (!out) continue;
      CHECKF(tapir_cancel_token_is_canceled(out), "variant %d: the token written is not a live canceled token (%s)",
             variant, h_status_name(tapir_last_status()));
      CHECK(tapir_cancel_token_can_be_canceled(out));
      const tapir_cancel_token *again = tapir_cancel_token_retain(out);
      CHECKF(again == out, "variant %d: retain of the written token failed", variant);
      if (again) CHECK_OK(tapir_cancel_token_release(again));
      CHECK_OK(tapir_cancel_token_release(out));
    }
    if (s) CHECK_OK(tapir_source_release(s));
    CHECK_OK(tapir_task_release(t));
  }
}

/* ------------------------------------------------------------------- REF 05 */

static void ref05_linked_with_stale_parent_does_nothing(void) {
  const tapir_cancel_source *c1 = NULL, *c2 = NULL;
  const tapir_cancel_token *k1 = NULL, *k2 = NULL;
  if (!h_new_cts(&c1, &k1) || !h_new_cts(&c2, &k2)) return;
  const tapir_cancel_token *stale = stale_token();
  /* also a token whose user handle is gone while tapir holds the object */
  const tapir_cancel_source *c3 = NULL;
  const tapir_cancel_token *k3 = NULL;
  if (!h_new_cts(&c3, &k3)) return;
  const tapir_task *d3 = NULL;
  REQUIRE_OK(tapir_delay(100000, k3, &d3));
  CHECK_OK(tapir_cancel_token_release(k3));
  const tapir_cancel_token *const cases[][3] = {
      {k1, stale, NULL}, {stale, k1, NULL}, {k1, k2, stale}, {k1, k3, k2}, {k3, k1, NULL}};
  const size_t lens[] = {2, 2, 3, 3, 2};
  size_t live = h_live();
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    const tapir_cancel_source *out = (const tapir_cancel_source *)SENTINEL;
    int32_t st = tapir_cancel_source_new_linked(cases[i], lens[i], &out);
    CHECKF(st == IH, "case %zu: got %s, want INVALID_HANDLE", i, h_status_name(st));
    CHECKF(out == (const tapir_cancel_source *)SENTINEL, "case %zu: out-pointer written", i);
    if (st == TAPIR_STATUS_OK) CHECK_OK(tapir_cancel_source_release(out));
    CHECKF(tapir_debug_cancel_registrations(k1) == 0, "case %zu: %zu callbacks left on a valid parent", i,
           tapir_debug_cancel_registrations(k1));
    CHECKF(tapir_debug_cancel_registrations(k2) == 0, "case %zu: %zu callbacks left on a valid parent", i,
           tapir_debug_cancel_registrations(k2));
    CHECKF(h_live() == live, "case %zu: live objects %zu, want %zu", i, h_live(), live);
  }
  /* canceling the valid parents later runs nothing of the refused calls */
  CHECK_OK(tapir_cancel_source_cancel(c1, 0, NULL));
  CHECK_OK(tapir_cancel_source_cancel(c2, 0, NULL));
  CHECK_EQ(h_live(), live);
  CHECK_OK(tapir_cancel_source_cancel(c3, 0, NULL));
  CHECK_EQ(h_settle(d3), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(d3));
  CHECK_OK(tapir_cancel_source_release(c3));
  h_release_cts(c1, k1);
  h_release_cts(c2, k2);
}

static void ref05_combinators_with_stale_input_do_nothing(void) {
  const tapir_source *ps = h_source(), *ps2 = h_source();
  REQUIRE(ps != NULL && ps2 != NULL);
  const tapir_task *pending = h_task_of(ps), *pending2 = h_task_of(ps2);
  const tapir_task *stale = h_stale_task();
  const tapir_cancel_source *cs = NULL;
  REQUIRE_OK(tapir_cancel_source_new(&cs));
  /* a task handle the user released while tapir still holds the task (its
   * delay's timer and token do) */
  const tapir_cancel_source *hcs = NULL;
  const tapir_cancel_token *hk = NULL;
  if (!h_new_cts(&hcs, &hk)) return;
  const tapir_task *held = NULL;
  REQUIRE_OK(tapir_delay(100000, hk, &held));
  CHECK_OK(tapir_task_release(held));
  const tapir_task *const cases[][3] = {{pending, stale, NULL},
                                        {pending, pending2, stale},
                                        {pending, (const tapir_task *)ps2, NULL},
                                        {pending, pending, stale},
                                        {pending, held, NULL}};
  const size_t lens[] = {2, 3, 2, 3, 2};
  size_t live = h_live();
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    char what[32];
    snprintf(what, sizeof what, "case %zu", i);
    const tapir_task *out = (const tapir_task *)SENTINEL;
    const tapir_task *outs[3] = {(const tapir_task *)SENTINEL, (const tapir_task *)SENTINEL,
                                 (const tapir_task *)SENTINEL};
    CHECK_STW(what, tapir_when_all(cases[i], lens[i], &out), IH);
    CHECK_STW(what, tapir_when_all_settled(cases[i], lens[i], &out), IH);
    CHECK_STW(what, tapir_when_all_or_first_error(cases[i], lens[i], &out), IH);
    CHECK_STW(what, tapir_when_any(cases[i], lens[i], NULL, &out), IH);
    CHECK_STW(what, tapir_when_any(cases[i], lens[i], cs, &out), IH);
    CHECK_STW(what, tapir_interleaved(cases[i], lens[i], outs), IH);
    CHECKF(out == (const tapir_task *)SENTINEL, "[%s] out-pointer written", what);
    for (int k = 0; k < 3; k++) CHECKF(outs[k] == (const tapir_task *)SENTINEL, "[%s] outputs[%d] written", what, k);
    CHECKF(h_live() == live, "[%s] live objects %zu, want %zu (something was allocated or registered)", what,
           h_live(), live);
  }
  /* good inputs with a stale cancel_on_complete source */
  const tapir_cancel_source *scs = stale_cancel_source();
  const tapir_task *good[] = {pending, pending2};
  const tapir_task *out = (const tapir_task *)SENTINEL;
  CHECK_ST(tapir_when_any(good, 2, scs, &out), IH);
  CHECK_PTR_EQ(out, SENTINEL);
  CHECK_EQ(h_live(), live);
  /* completing the good inputs later runs nothing of theirs */
  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  CHECK_OK(tapir_source_set_result(ps2, NULL, NULL));
  h_sleep_ms(20);
  CHECK_EQ(h_live(), live);
  CHECK(!tapir_cancel_source_is_canceled(cs));
  CHECK_OK(tapir_cancel_source_release(cs));
  /* the held delay ends by its token and is freed */
  CHECK_OK(tapir_cancel_source_cancel(hcs, 0, NULL));
  h_release_cts(hcs, hk);
  CHECK_OK(tapir_task_release(pending));
  CHECK_OK(tapir_task_release(pending2));
  CHECK_OK(tapir_source_release(ps));
  CHECK_OK(tapir_source_release(ps2));
}

static void ref05_continuation_with_stale_options_does_nothing(void) {
  const tapir_source *ps = h_source();
  REQUIRE(ps != NULL);
  const tapir_task *pending = h_task_of(ps), *done = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &done));
  const tapir_scheduler *ss = stale_scheduler();
  const tapir_cancel_token *sk = stale_token();
  const tapir_continuation_options opts[] = {
      {sizeof(tapir_continuation_options), 0, ss, NULL},
      {sizeof(tapir_continuation_options), TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, ss, NULL},
      {sizeof(tapir_continuation_options), 0, NULL, sk},
      {sizeof(tapir_continuation_options), TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, sk},
  };
  const tapir_task *targets[] = {pending, done};
  size_t live = h_live();
  int calls0 = atomic_load(&g_ud_calls);
  for (size_t ti = 0; ti < 2; ti++) {
    for (size_t oi = 0; oi < sizeof opts / sizeof opts[0]; oi++) {
      const tapir_registration *reg = (const tapir_registration *)SENTINEL;
      const tapir_task *out = (const tapir_task *)SENTINEL;
      int32_t st;
      void *ud = owned_new();
      REFUSED(st, tapir_task_on_complete(targets[ti], owned_cb, ud, owned_destroy, &opts[oi], &reg), IH, ud);
      if (st == TAPIR_STATUS_OK && reg && reg != (const tapir_registration *)SENTINEL)
        CHECK_OK(tapir_registration_release(reg));
      ud = owned_new();
      REFUSED(st, tapir_task_continue_with(targets[ti], owned_cont, ud, owned_destroy, &opts[oi], &out), IH, ud);
      if (st == TAPIR_STATUS_OK) release_observed(out);
      CHECKF(reg == (const tapir_registration *)SENTINEL && out == (const tapir_task *)SENTINEL,
             "target %zu, options %zu: out-pointer written", ti, oi);
      CHECKF(h_live() == live, "target %zu, options %zu: live objects %zu, want %zu", ti, oi, h_live(), live);
    }
  }
  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&g_ud_calls), calls0);
  CHECK_OK(tapir_task_release(pending));
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_source_release(ps));
}

static void ref05_run_and_post_with_stale_handles_do_nothing(void) {
  const tapir_scheduler *ss = stale_scheduler();
  const tapir_cancel_token *sk = stale_token();
  const tapir_scheduler *inl = NULL;
  REQUIRE_OK(tapir_scheduler_inline(&inl));
  size_t live = h_live();
  int runs0 = atomic_load(&g_work_runs);
  const tapir_task *out = (const tapir_task *)SENTINEL;
  int32_t st;
  void *ud = owned_new();
  REFUSED(st, tapir_run(ss, owned_work, ud, owned_destroy, NULL, &out), IH, ud);
  ud = owned_new();
  REFUSED(st, tapir_run(NULL, owned_work, ud, owned_destroy, sk, &out), IH, ud);
  ud = owned_new();
  REFUSED(st, tapir_run(inl, owned_work, ud, owned_destroy, sk, &out), IH, ud);
  ud = owned_new();
  REFUSED(st, tapir_scheduler_post(ss, owned_post_fn, ud, owned_destroy), IH, ud);
  (void)st;
  CHECK_PTR_EQ(out, SENTINEL);
  CHECK_EQ(h_live(), live);
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&g_work_runs), runs0);
  CHECK_OK(tapir_scheduler_release(inl));
}

/* ------------------------------------------------------------------- REF 06 */

typedef struct {
  const tapir_task *tasks[2];
  int all;
  int32_t st;
  size_t idx;
  atomic_int done;
} waiter;

static void *waiter_body(void *arg) {
  waiter *w = (waiter *)arg;
  if (w->all)
    w->st = tapir_task_wait_all(w->tasks, 2, TAPIR_INFINITE, NULL);
  else
    w->st = tapir_task_wait_any(w->tasks, 2, TAPIR_INFINITE, NULL, &w->idx);
  atomic_store(&w->done, 1);
  return NULL;
}

static void ref06_wait_validates_every_element_first(void) {
  const tapir_task *stale = h_stale_task();
  size_t idx_held = 77;
  int watchdog = h_prompt_ms();
  for (int all = 0; all < 2; all++) {
    for (int order = 0; order < 2; order++) {
      const char *what = all ? "wait_all" : "wait_any";
      const tapir_source *ps = h_source();
      REQUIRE(ps != NULL);
      const tapir_task *pending = h_task_of(ps);
      waiter *w = calloc(1, sizeof *w);
      REQUIRE(w != NULL);
      w->tasks[order] = pending;
      w->tasks[1 - order] = stale;
      w->all = all;
      w->idx = 77;
      pthread_t th = h_spawn(waiter_body, w);
      bool prompt = h_wait_eq(&w->done, 1, watchdog);
      CHECKF(prompt, "%s([%s]) with INFINITE blocked instead of refusing the stale handle", what,
             order == 0 ? "pending, stale" : "stale, pending");
      if (!prompt) CHECK_OK(tapir_source_set_result(ps, NULL, NULL)); /* let it go */
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 2 + (h_slow() ? 30 : 0);
      if (pthread_timedjoin_np(th, NULL, &until) != 0) {
        h_fail(__FILE__, __LINE__, "%s still blocked after its pending task completed", what);
        pthread_detach(th); /* w stays allocated for it */
      } else {
        CHECKF(w->st == IH, "%s([%s]): got %s, want INVALID_HANDLE", what,
               order == 0 ? "pending, stale" : "stale, pending", h_status_name(w->st));
        CHECKF(all || w->st != IH || w->idx == 77, "wait_any wrote index %zu with INVALID_HANDLE", w->idx);
        free(w);
      }
      if (prompt) CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
      CHECK_OK(tapir_task_release(pending));
      CHECK_OK(tapir_source_release(ps));
    }
  }

  /* a completed element first: still INVALID_HANDLE, not index 0 / OK; also
   * with a task handle the user released while tapir still holds the task */
  const tapir_task *done = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &done));
  const tapir_cancel_source *hcs = NULL;
  const tapir_cancel_token *hk = NULL;
  if (!h_new_cts(&hcs, &hk)) return;
  const tapir_task *held = NULL;
  REQUIRE_OK(tapir_delay(100000, hk, &held));
  CHECK_OK(tapir_task_release(held));
  const tapir_task *c[] = {done, held};
  CHECK_ST(tapir_task_wait_any(c, 2, 0, NULL, &idx_held), IH);
  CHECK_EQ(idx_held, 77);
  CHECK_ST(tapir_task_wait_all(c, 2, 0, NULL), IH);
  CHECK_OK(tapir_cancel_source_cancel(hcs, 0, NULL));
  h_release_cts(hcs, hk);
  const tapir_task *a[] = {done, stale}, *b[] = {stale, done};
  size_t idx = 77;
  CHECK_ST(tapir_task_wait_any(a, 2, 0, NULL, &idx), IH);
  CHECK_EQ(idx, 77);
  CHECK_ST(tapir_task_wait_any(b, 2, 0, NULL, &idx), IH);
  CHECK_EQ(idx, 77);
  CHECK_ST(tapir_task_wait_any(a, 2, 10, NULL, &idx), IH);
  CHECK_EQ(idx, 77);
  CHECK_ST(tapir_task_wait_all(a, 2, 0, NULL), IH);
  CHECK_ST(tapir_task_wait_all(b, 2, 0, NULL), IH);
  CHECK_ST(tapir_task_wait_all(a, 2, 10, NULL), IH);
  CHECK_OK(tapir_task_release(done));
}

/* ------------------------------------------------------------------- REF 07 */

static void ref07_never_completing_task_is_freed(void) {
  size_t live0 = h_live(), timers0 = tapir_debug_pending_timers();
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_delay(TAPIR_INFINITE, NULL, &t));
  h_counter oc[3], cc;
  for (int i = 0; i < 3; i++) h_counter_init(&oc[i]);
  h_counter_init(&cc);
  const tapir_registration *reg = NULL;
  const tapir_task *c = NULL, *w = NULL, *wa = NULL, *wl = NULL, *outer = NULL, *u = NULL;
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &oc[0], h_count_destroy, NULL, NULL));
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &oc[1], h_count_destroy, h_sync(), &reg));
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &oc[2], h_count_destroy, NULL, NULL));
  CHECK_OK(tapir_registration_release(reg));
  CHECK_OK(tapir_task_continue_with(t, h_count_cont, &cc, h_count_destroy, NULL, &c));
  CHECK_OK(tapir_task_wait_async(t, TAPIR_INFINITE, NULL, &w));
  const tapir_task *list[] = {t};
  CHECK_OK(tapir_when_any(list, 1, NULL, &wa));
  CHECK_OK(tapir_when_all(list, 1, &wl));
  CHECK_OK(tapir_task_from_result((void *)tapir_task_retain(t), h_release_task_value, &outer));
  CHECK_OK(tapir_task_unwrap(outer, &u));

  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_task_release(c));
  CHECK_OK(tapir_task_release(w));
  CHECK_OK(tapir_task_release(wa));
  CHECK_OK(tapir_task_release(wl));
  CHECK_OK(tapir_task_release(outer));
  CHECK_OK(tapir_task_release(u));

  CHECKF(h_wait_live(live0, long_ms()),
         "live objects not back to start after releasing every handle: %zu, want %zu "
         "(task %zu, registration %zu)",
         h_live(), live0, tapir_debug_live_objects(TAPIR_OBJECT_KIND_TASK),
         tapir_debug_live_objects(TAPIR_OBJECT_KIND_REGISTRATION));
  for (int i = 0; i < 3; i++) {
    CHECKF(atomic_load(&oc[i].destroys) == 1, "on_complete %d: destroy ran %d times", i,
           atomic_load(&oc[i].destroys));
    CHECKF(atomic_load(&oc[i].calls) == 0, "on_complete %d: callback ran", i);
  }
  CHECKF(atomic_load(&cc.destroys) == 1, "continue_with: destroy ran %d times", atomic_load(&cc.destroys));
  CHECK_EQ(atomic_load(&cc.calls), 0);
  CHECK_EQ(tapir_debug_pending_timers(), timers0);
}

static void count_work(void *ud) { h_counter_hit((h_counter *)ud); }

static void ref07_released_manual_scheduler_frees_everything(void) {
  size_t live0 = h_live();
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  h_counter pc, cc, oc;
  h_counter_init(&pc);
  h_counter_init(&cc);
  h_counter_init(&oc);
  CHECK_OK(tapir_scheduler_post(m, count_work, &pc, h_count_destroy));
  const tapir_task *done = NULL, *c = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &done));
  const tapir_continuation_options on_m = {sizeof on_m, 0, m, NULL};
  CHECK_OK(tapir_task_continue_with(done, h_count_cont, &cc, h_count_destroy, &on_m, &c)); /* queued on m */
  const tapir_source *ps = h_source();
  REQUIRE(ps != NULL);
  const tapir_task *pt = h_task_of(ps);
  CHECK_OK(tapir_task_on_complete(pt, h_count_cb, &oc, h_count_destroy, &on_m, NULL));

  CHECK_OK(tapir_scheduler_release(m));
  CHECK(h_wait_eq(&pc.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&pc.calls), 0);
  CHECK_ST(tapir_task_wait(c, h_prompt_ms()), TAPIR_STATUS_FAULTED);
  CHECKF(first_error_code(c) == TAPIR_STATUS_SCHEDULER_ERROR, "continuation task's error code %d, want %d",
         (int)first_error_code(c), TAPIR_STATUS_SCHEDULER_ERROR);
  CHECK(h_wait_eq(&cc.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&cc.calls), 0);

  CHECK_OK(tapir_source_set_result(ps, NULL, NULL));
  CHECK(h_wait_eq(&oc.destroys, 1, h_prompt_ms()));
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&oc.calls), 0);
  CHECK_EQ(atomic_load(&oc.destroys), 1);
  CHECK_EQ(atomic_load(&pc.destroys), 1);
  CHECK_EQ(atomic_load(&cc.destroys), 1);

  release_observed(c);
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_task_release(pt));
  CHECK_OK(tapir_source_release(ps));
  CHECKF(h_wait_live(live0, long_ms()), "live objects %zu, want %zu", h_live(), live0);
}

/* ------------------------------------------------------------------- REF 08 */

/* Thread B: once told, releases the handles it was given, then says so. */
typedef struct {
  atomic_int go, done;
  const tapir_task *tasks[2];
  const tapir_error *error;
} releaser;

static void *releaser_body(void *arg) {
  releaser *r = (releaser *)arg;
  if (!h_wait_eq(&r->go, 1, long_ms())) h_fail(__FILE__, __LINE__, "releaser: never told to release");
  for (int i = 0; i < 2; i++)
    if (r->tasks[i]) CHECK_OK(tapir_task_release(r->tasks[i]));
  if (r->error) CHECK_OK(tapir_error_release(r->error));
  atomic_store(&r->done, 1);
  return NULL;
}

/* Inside a callback: let B release, wait until it has. */
static void let_other_thread_release(releaser *r) {
  atomic_store(&r->go, 1);
  if (!h_wait_eq(&r->done, 1, long_ms())) h_fail(__FILE__, __LINE__, "the releasing thread did not finish");
}

typedef struct {
  releaser rel;
  atomic_int ran;
  int32_t status, result_st, retain_release_st;
  void *value;
  /* continuation only */
  int32_t next_retain_release_st, next_task_st, next_set_st;
} lent_rec;

static void check_lent_task(lent_rec *r, const tapir_task *t) {
  r->status = (int32_t)tapir_task_get_status(t);
  r->result_st = (int32_t)tapir_task_result(t, &r->value);
  const tapir_task *again = tapir_task_retain(t);
  r->retain_release_st = again ? (int32_t)tapir_task_release(again) : (int32_t)tapir_last_status();
}

static void lent_cb(void *ud, const tapir_task *completed) {
  lent_rec *r = (lent_rec *)ud;
  let_other_thread_release(&r->rel);
  check_lent_task(r, completed);
  atomic_store(&r->ran, 1);
}

static void lent_cont(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  lent_rec *r = (lent_rec *)ud;
  let_other_thread_release(&r->rel);
  check_lent_task(r, antecedent);
  const tapir_source *n2 = tapir_source_retain(next);
  r->next_retain_release_st = n2 ? (int32_t)tapir_source_release(n2) : (int32_t)tapir_last_status();
  const tapir_task *nt = NULL;
  r->next_task_st = (int32_t)tapir_source_task(next, &nt);
  if (nt) tapir_task_release(nt);
  r->next_set_st = (int32_t)tapir_source_set_result(next, h_int(0x52), NULL);
  atomic_store(&r->ran, 1);
}

/* A task whose only user handle is *t_out: its source completes it from `p`'s
 * task, and the caller's source handle is gone. */
static bool only_task_handle(const tapir_task **t_out, const tapir_source **p_out, const tapir_task **pt_out) {
  const tapir_source *s = h_source(), *p = h_source();
  if (!s || !p) return false;
  *t_out = h_task_of(s);
  *p_out = p;
  *pt_out = h_task_of(p);
  CHECK_OK(tapir_source_set_from_task(s, *pt_out));
  CHECK_OK(tapir_source_release(s));
  return true;
}

static void ref08_lent_task_valid_in_on_complete(void) {
  for (int variant = 0; variant < 2; variant++) { /* 0: synchronous, 1: dispatched to the pool */
    const tapir_task *t = NULL, *pt = NULL;
    const tapir_source *p = NULL;
    REQUIRE(only_task_handle(&t, &p, &pt));
    lent_rec *r = calloc(1, sizeof *r);
    REQUIRE(r != NULL);
    r->rel.tasks[0] = t;
    pthread_t b = h_spawn(releaser_body, &r->rel);
    CHECK_OK(tapir_task_on_complete(t, lent_cb, r, NULL, variant == 0 ? h_sync() : NULL, NULL));
    CHECK_OK(tapir_source_set_result(p, h_int(0x51), NULL));
    bool ran = h_wait_eq(&r->ran, 1, long_ms());
    CHECKF(ran, "variant %d: the callback did not run", variant);
    if (!ran) atomic_store(&r->rel.go, 1);
    h_join(b);
    if (ran) {
      CHECKF(r->status == TAPIR_TASK_STATUS_SUCCEEDED, "variant %d: status of the lent task %d", variant, r->status);
      CHECKF(r->result_st == TAPIR_STATUS_OK, "variant %d: tapir_task_result on the lent task: %s", variant,
             h_status_name(r->result_st));
      CHECK_PTR_EQ(r->value, h_int(0x51));
      CHECKF(r->retain_release_st == TAPIR_STATUS_OK, "variant %d: retain/release of the lent task: %s", variant,
             h_status_name(r->retain_release_st));
    }
    free(r);
    CHECK_OK(tapir_task_release(pt));
    CHECK_OK(tapir_source_release(p));
  }
}

/* The task completed before the registration: the callback runs inside the
 * registering call, and another thread releases the caller's only handle while it
 * runs. The handle lent to the callback must stay valid for the whole callback. */
static void ref08_lent_task_valid_when_registered_after_completion(void) {
  for (int variant = 0; variant < 2; variant++) { /* 0: on_complete, 1: continue_with */
    const tapir_task *t = NULL, *pt = NULL, *c = NULL;
    const tapir_source *p = NULL;
    REQUIRE(only_task_handle(&t, &p, &pt));
    CHECK_OK(tapir_source_set_result(p, h_int(0x51), NULL));
    REQUIRE(tapir_task_is_completed(t));
    lent_rec *r = calloc(1, sizeof *r);
    REQUIRE(r != NULL);
    r->rel.tasks[0] = t; /* the caller's only handle, released during the callback */
    pthread_t b = h_spawn(releaser_body, &r->rel);
    if (variant == 0) {
      CHECK_OK(tapir_task_on_complete(t, lent_cb, r, NULL, h_sync(), NULL));
    } else {
      CHECK_OK(tapir_task_continue_with(t, lent_cont, r, NULL, h_sync(), &c));
    }
    CHECKF(atomic_load(&r->ran) == 1, "variant %d: the callback ran inside the call", variant);
    h_join(b);
    CHECKF(r->status == TAPIR_TASK_STATUS_SUCCEEDED, "variant %d: status of the lent task %d", variant, r->status);
    CHECKF(r->result_st == TAPIR_STATUS_OK, "variant %d: tapir_task_result on the lent task: %s", variant,
           h_status_name(r->result_st));
    CHECK_PTR_EQ(r->value, h_int(0x51));
    CHECKF(r->retain_release_st == TAPIR_STATUS_OK, "variant %d: retain/release of the lent task: %s", variant,
           h_status_name(r->retain_release_st));
    CHECK_ST(tapir_task_release(t), TAPIR_STATUS_INVALID_HANDLE); /* the releaser took the last one */
    if (c) CHECK_OK(tapir_task_release(c));
    free(r);
    CHECK_OK(tapir_task_release(pt));
    CHECK_OK(tapir_source_release(p));
  }
}

static void ref08_lent_handles_valid_in_continue_with(void) {
  for (int variant = 0; variant < 2; variant++) {
    const tapir_task *t = NULL, *pt = NULL, *c = NULL;
    const tapir_source *p = NULL;
    REQUIRE(only_task_handle(&t, &p, &pt));
    lent_rec *r = calloc(1, sizeof *r);
    REQUIRE(r != NULL);
    REQUIRE_OK(tapir_task_continue_with(t, lent_cont, r, NULL, variant == 0 ? h_sync() : NULL, &c));
    r->rel.tasks[0] = t; /* the antecedent's only user handle */
    r->rel.tasks[1] = c; /* the continuation task's only user handle */
    pthread_t b = h_spawn(releaser_body, &r->rel);
    CHECK_OK(tapir_source_set_result(p, h_int(0x51), NULL));
    bool ran = h_wait_eq(&r->ran, 1, long_ms());
    CHECKF(ran, "variant %d: the continuation did not run", variant);
    if (!ran) atomic_store(&r->rel.go, 1);
    h_join(b);
    if (ran) {
      CHECKF(r->status == TAPIR_TASK_STATUS_SUCCEEDED, "variant %d: status of the lent antecedent %d", variant,
             r->status);
      CHECKF(r->result_st == TAPIR_STATUS_OK, "variant %d: result of the lent antecedent: %s", variant,
             h_status_name(r->result_st));
      CHECK_PTR_EQ(r->value, h_int(0x51));
      CHECKF(r->retain_release_st == TAPIR_STATUS_OK, "variant %d: retain/release of the antecedent: %s", variant,
             h_status_name(r->retain_release_st));
      CHECKF(r->next_retain_release_st == TAPIR_STATUS_OK, "variant %d: retain/release of next: %s", variant,
             h_status_name(r->next_retain_release_st));
      CHECKF(r->next_task_st == TAPIR_STATUS_OK, "variant %d: tapir_source_task(next): %s", variant,
             h_status_name(r->next_task_st));
      CHECKF(r->next_set_st == TAPIR_STATUS_OK, "variant %d: set_result(next): %s", variant,
             h_status_name(r->next_set_st));
    }
    free(r);
    CHECK_OK(tapir_task_release(pt));
    CHECK_OK(tapir_source_release(p));
  }
}

typedef struct {
  releaser rel;
  atomic_int calls;
  size_t count;
  int32_t code;
  char message[64];
  size_t message_len;
  bool message_ok;
} hook_lent_rec;

static void lent_hook(void *ud, uint64_t task_id, const tapir_error *const *errors, size_t count) {
  (void)task_id;
  hook_lent_rec *r = (hook_lent_rec *)ud;
  if (atomic_fetch_add(&r->calls, 1) != 0) return;
  let_other_thread_release(&r->rel);
  r->count = count;
  if (count == 0) return;
  r->code = tapir_error_code(errors[0]);
  size_t len = 0;
  const uint8_t *msg = tapir_error_message(errors[0], &len);
  r->message_ok = msg != NULL && len < sizeof r->message;
  if (r->message_ok) {
    memcpy(r->message, msg, len);
    r->message[len] = '\0';
    r->message_len = len;
  }
}

static void ref08_lent_errors_valid_in_unobserved_hook(void) {
  static const char text[] = "lent to the hook";
  const tapir_error *e = h_error(4242, text);
  const tapir_source *s = h_source();
  REQUIRE(e != NULL && s != NULL);
  const tapir_task *t = h_task_of(s);
  CHECK_OK(tapir_source_set_error(s, e));
  CHECK_OK(tapir_source_release(s));
  hook_lent_rec *r = calloc(1, sizeof *r);
  REQUIRE(r != NULL);
  r->rel.error = e; /* the user's only handle to the error */
  pthread_t b = h_spawn(releaser_body, &r->rel);
  CHECK_OK(tapir_set_unobserved_error_hook(lent_hook, r));
  CHECK_OK(tapir_task_release(t)); /* the hook runs here, on this thread */
  bool ran = h_wait_ge(&r->calls, 1, h_prompt_ms());
  CHECK(ran);
  if (!ran) atomic_store(&r->rel.go, 1);
  h_join(b);
  CHECK_OK(tapir_set_unobserved_error_hook(NULL, NULL));
  if (ran) {
    CHECK_EQ(atomic_load(&r->calls), 1);
    CHECK_EQ(r->count, 1);
    CHECKF(r->code == 4242, "tapir_error_code on the lent error: %d, want 4242", (int)r->code);
    CHECKF(r->message_ok && r->message_len == strlen(text) && strcmp(r->message, text) == 0,
           "tapir_error_message on the lent error: %s", r->message_ok ? r->message : "(NULL)");
  }
  free(r);
}

/* ------------------------------------------------------------------- REF 09 */

/* Thread A (the test thread) calls an operation on handle h while thread B
 * releases h's last user reference; both start from a two-party barrier. */
typedef struct {
  atomic_int round;   /* the test thread starts round n by storing n */
  atomic_int arrived; /* 2 per round */
  atomic_int b_done;  /* the last round B finished */
  atomic_int a_done;  /* the last round A's call returned */
  atomic_int quit;
  const void *victim;
  int victim_is_source;
  unsigned jitter_b;
  int yield_b; /* B yields before releasing (when the two do not really run in parallel) */
  int b_after_a; /* this round B releases only once A's call returned (the call wins) */
  int32_t b_status;
} race;

static void spin(unsigned n) {
  for (volatile unsigned i = 0; i < n; i++) {
  }
}

/* Spins (yielding only after a while, in case another thread is not running) until
 * all `parties` threads have arrived for round n. */
static void arrive(atomic_int *arrived, int parties, int n) {
  atomic_fetch_add(arrived, 1);
  for (unsigned i = 0; atomic_load(arrived) < parties * n; i++)
    if (i > 20000) sched_yield();
}

static void race_arrive(race *r, int n) { arrive(&r->arrived, 2, n); }

static void *race_b_body(void *arg) {
  race *r = (race *)arg;
  for (int n = 1;; n++) {
    for (unsigned i = 0; atomic_load(&r->round) < n; i++) {
      if (atomic_load(&r->quit)) return NULL;
      if (i > 20000) sched_yield();
    }
    race_arrive(r, n);
    if (r->b_after_a)
      while (atomic_load(&r->a_done) < n) sched_yield();
    spin(r->jitter_b);
    if (r->yield_b) sched_yield();
    r->b_status = r->victim_is_source ? (int32_t)tapir_source_release((const tapir_source *)r->victim)
                                      : (int32_t)tapir_task_release((const tapir_task *)r->victim);
    atomic_store(&r->b_done, n);
  }
}

enum {
  OP_ON_COMPLETE,
  OP_CONTINUE_WITH,
  OP_INTERLEAVED,
  OP_WHEN_ALL,
  OP_WHEN_ANY,
  OP_WAIT_ASYNC,
  OP_UNWRAP,
  OP_SET_RESULT,
  OP_RESULT,
  OP_RETAIN
};
static const char *const op_names[] = {"on_complete", "continue_with", "interleaved", "when_all", "when_any",
                                       "wait_async",  "unwrap",        "set_result",  "result",   "retain"};

static atomic_int g_value_destroys;
static void value_destroy(void *v) {
  atomic_fetch_add(&g_value_destroys, 1);
  free(v);
}

static bool wait_ud_destroys(int want) { return h_wait_eq(&g_ud_destroys, want, h_prompt_ms()); }

static unsigned lcg(unsigned *x) {
  *x = *x * 1103515245u + 12345u;
  return (*x >> 16) & 0x7fff;
}

static void race_op(int op) {
  int rounds = h_slow() ? 60 : 2000;
  race *r = calloc(1, sizeof *r);
  if (!r) return;
  pthread_t b = h_spawn(race_b_body, r);
  size_t live0 = h_live();
  unsigned seed = 12345u + (unsigned)op;
  int n_ok = 0, n_ih = 0, bad_rounds = 0, bias = 0;
  for (int n = 1; n <= rounds && bad_rounds < 3; n++) {
    bool pending = (op != OP_RESULT && op != OP_RETAIN && op != OP_SET_RESULT) && (n % 2 == 0);
    const tapir_source *s = NULL; /* for a pending victim; or the victim itself (set_result) */
    const tapir_task *h = NULL;   /* the victim task, or the task the test keeps (set_result) */
    int vd0 = atomic_load(&g_value_destroys), ud0 = atomic_load(&g_ud_destroys);
    void *value = NULL;
    if (op == OP_SET_RESULT || pending) {
      s = h_source();
      h = h_task_of(s);
    } else {
      value = malloc(8);
      if (tapir_task_from_result(value, value_destroy, &h) != TAPIR_STATUS_OK) {
        h_fail(__FILE__, __LINE__, "tapir_task_from_result failed");
        free(value);
        break;
      }
    }
    r->victim = op == OP_SET_RESULT ? (const void *)s : (const void *)h;
    r->victim_is_source = op == OP_SET_RESULT;
    /* `bias` moves toward the point where each side wins half the time, so the
     * two calls keep landing inside each other's window */
    int jb = (int)(lcg(&seed) % 200) + (bias > 0 ? bias : 0);
    int ja = (int)(lcg(&seed) % 200) + (bias < 0 ? -bias : 0);
    r->jitter_b = (unsigned)jb;
    unsigned jitter_a = (unsigned)ja;
    /* one round in three, one side yields first: that gives both orders even
     * when the threads share a core; the others race for real */
    unsigned mode = lcg(&seed) % 6;
    r->yield_b = mode == 0;
    bool yield_a = mode == 1;
    /* and one round in ten each order is forced, so both outcomes are always checked
     * whatever the machine's load does to the real races */
    r->b_after_a = n % 10 == 5;
    bool a_after_b = n % 10 == 0;
    void *ud = NULL;
    const tapir_task *out = NULL, *outs[1] = {NULL};
    void *got = NULL;
    int32_t st = -1;

    atomic_store(&r->round, n);
    race_arrive(r, n);
    if (a_after_b)
      while (atomic_load(&r->b_done) < n) sched_yield();
    spin(jitter_a);
    if (yield_a) sched_yield();
    switch (op) {
    case OP_ON_COMPLETE:
      ud = owned_new();
      st = tapir_task_on_complete(h, owned_cb, ud, owned_destroy, (n / 2) % 2 ? h_sync() : NULL, NULL);
      break;
    case OP_CONTINUE_WITH:
      ud = owned_new();
      st = tapir_task_continue_with(h, owned_cont, ud, owned_destroy, (n / 2) % 2 ? h_sync() : NULL, &out);
      break;
    case OP_INTERLEAVED:
      st = tapir_interleaved(&h, 1, outs);
      out = outs[0];
      break;
    case OP_WHEN_ALL:
      st = tapir_when_all(&h, 1, &out);
      break;
    case OP_WHEN_ANY:
      st = tapir_when_any(&h, 1, NULL, &out);
      break;
    case OP_WAIT_ASYNC:
      st = tapir_task_wait_async(h, TAPIR_INFINITE, NULL, &out);
      break;
    case OP_UNWRAP:
      st = tapir_task_unwrap(h, &out);
      break;
    case OP_SET_RESULT:
      value = malloc(8);
      st = tapir_source_set_result(s, value, value_destroy);
      break;
    case OP_RESULT:
      st = tapir_task_result(h, &got);
      break;
    case OP_RETAIN: {
      const tapir_task *again = tapir_task_retain(h);
      st = again ? TAPIR_STATUS_OK : (int32_t)tapir_last_status();
      out = again;
      break;
    }
    default:
      break;
    }
    atomic_store(&r->a_done, n);
    while (atomic_load(&r->b_done) < n) sched_yield();

    bool bad = false;
    if (r->b_status != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "%s round %d: the racing release returned %s", op_names[op], n,
             h_status_name(r->b_status));
      bad = true;
    }
    if (st == TAPIR_STATUS_OK) bias = bias > -3000 ? bias - 25 : bias;
    if (st == IH) bias = bias < 3000 ? bias + 25 : bias;
    if (st == TAPIR_STATUS_OK) {
      n_ok++;
      if (op == OP_RESULT && got != value) {
        h_fail(__FILE__, __LINE__, "result round %d: OK with value %p, want %p", n, got, value);
        bad = true;
      }
      if ((op >= OP_CONTINUE_WITH && op <= OP_UNWRAP) || op == OP_RETAIN) {
        if (!out) {
          h_fail(__FILE__, __LINE__, "%s round %d: OK without an output", op_names[op], n);
          bad = true;
        }
      }
    } else if (st == IH) {
      n_ih++;
      if (out != NULL || got != NULL) {
        h_fail(__FILE__, __LINE__, "%s round %d: INVALID_HANDLE, yet an output was written", op_names[op], n);
        bad = true;
        out = NULL;
      }
      if (ud) {
        int d = atomic_load(&g_ud_destroys) - ud0;
        if (d != 0) {
          h_fail(__FILE__, __LINE__, "%s round %d: INVALID_HANDLE, yet the destroy ran (%d)", op_names[op], n, d);
          bad = true;
        } else {
          free(ud); /* still ours */
        }
        ud = NULL;
      }
      if (op == OP_SET_RESULT) {
        free(value); /* still ours */
        value = NULL;
      }
    } else {
      h_fail(__FILE__, __LINE__, "%s round %d: got %s, want OK or INVALID_HANDLE", op_names[op], n,
             h_status_name(st));
      bad = true;
      ud = NULL; /* unknown owner: leave it */
      if (op == OP_SET_RESULT) {
        free(value); /* on any error the value stays the caller's */
        value = NULL;
      }
    }

    /* finish the round: complete what is pending, release what the call returned */
    if (op == OP_SET_RESULT) {
      int32_t ts = (int32_t)h_settle(h);
      if (st == TAPIR_STATUS_OK) {
        void *v = NULL;
        if (ts != TAPIR_TASK_STATUS_SUCCEEDED || tapir_task_result(h, &v) != TAPIR_STATUS_OK || v != value) {
          h_fail(__FILE__, __LINE__, "set_result round %d: OK, yet the task is %d", n, (int)ts);
          bad = true;
        }
      } else if (st == IH) {
        if (ts != TAPIR_TASK_STATUS_FAULTED || first_error_code(h) != TAPIR_STATUS_BROKEN_PROMISE) {
          h_fail(__FILE__, __LINE__, "set_result round %d: refused, yet the task is %d, not a broken promise", n,
                 (int)ts);
          bad = true;
        }
      }
      release_observed(h);
    } else if (pending) {
      CHECK_OK(tapir_source_set_result(s, NULL, NULL));
      CHECK_OK(tapir_source_release(s));
    }
    if (out) {
      (void)h_settle(out);
      release_observed(out);
    }
    if (ud && st == TAPIR_STATUS_OK) {
      if (!wait_ud_destroys(ud0 + 1)) {
        h_fail(__FILE__, __LINE__, "%s round %d: OK, yet the destroy ran %d times by the end of the round",
               op_names[op], n, atomic_load(&g_ud_destroys) - ud0);
        bad = true;
      }
    }
    if (value) {
      /* the victim's (or set value's) destroy runs exactly once, when the task goes */
      double end = h_now_ms() + h_prompt_ms();
      while (atomic_load(&g_value_destroys) == vd0 && h_now_ms() < end) sched_yield();
      int vd = atomic_load(&g_value_destroys) - vd0;
      if (vd != 1) {
        h_fail(__FILE__, __LINE__, "%s round %d: the value's destroy ran %d times", op_names[op], n, vd);
        bad = true;
      }
    }
    if (!h_wait_live(live0, h_prompt_ms())) {
      h_fail(__FILE__, __LINE__, "%s round %d: live objects %zu, want %zu", op_names[op], n, h_live(), live0);
      bad = true;
      live0 = h_live();
    }
    if (bad) bad_rounds++;
  }
  atomic_store(&r->quit, 1);
  h_join(b);
  free(r);
  CHECKF(bad_rounds > 0 || (n_ok > 0 && n_ih > 0),
         "%s: the race went one way only (%d OK, %d INVALID_HANDLE): not exercised", op_names[op], n_ok, n_ih);
  printf("    %s: %d rounds OK, %d INVALID_HANDLE (final bias %d)\n", op_names[op], n_ok, n_ih, bias);
}

static void ref09_race_on_complete(void) { race_op(OP_ON_COMPLETE); }
static void ref09_race_continue_with(void) { race_op(OP_CONTINUE_WITH); }
static void ref09_race_interleaved(void) { race_op(OP_INTERLEAVED); }
static void ref09_race_when_all(void) { race_op(OP_WHEN_ALL); }
static void ref09_race_when_any(void) { race_op(OP_WHEN_ANY); }
static void ref09_race_wait_async(void) { race_op(OP_WAIT_ASYNC); }
static void ref09_race_unwrap(void) { race_op(OP_UNWRAP); }
static void ref09_race_set_result(void) { race_op(OP_SET_RESULT); }
static void ref09_race_result(void) { race_op(OP_RESULT); }
static void ref09_race_retain(void) { race_op(OP_RETAIN); }

/* tapir_source_set_from_task(s, t) on the test thread while thread B releases the last
 * handles of both t and s, in an order and with a gap that vary by round, so that the
 * call lands before both releases, between them or after both. (Two threads, not one per
 * release: on a machine with two cores a third spinning party is what gets descheduled,
 * and the race then goes one way only.) In every order s's task completes: from t (here
 * t's broken promise, once t's own source goes) when the call succeeded, with a broken
 * promise when it failed. A failed call leaves no producer behind that would keep the
 * task pending with nobody able to complete it. */
typedef struct {
  atomic_int round, arrived, done, quit;
  const tapir_task *t;
  const tapir_source *s;
  unsigned lead, gap; /* B's spins before its first release, and between the two */
  int source_first;   /* B releases s before t */
} race2rel;

static void *race2rel_body(void *arg) {
  race2rel *r = (race2rel *)arg;
  for (int n = 1;; n++) {
    for (unsigned i = 0; atomic_load(&r->round) < n; i++) {
      if (atomic_load(&r->quit)) return NULL;
      if (i > 20000) sched_yield();
    }
    arrive(&r->arrived, 2, n);
    spin(r->lead);
    if (r->source_first) {
      CHECK_OK(tapir_source_release(r->s));
      spin(r->gap);
      CHECK_OK(tapir_task_release(r->t));
    } else {
      CHECK_OK(tapir_task_release(r->t));
      spin(r->gap);
      CHECK_OK(tapir_source_release(r->s));
    }
    atomic_fetch_add(&r->done, 1);
  }
}

static void ref09_set_from_task_racing_both_releases(void) {
  int rounds = h_slow() ? 200 : 10000;
  race2rel *r = calloc(1, sizeof *r);
  if (!r) return;
  pthread_t b = h_spawn(race2rel_body, r);
  size_t live0 = h_live();
  unsigned seed = 4242u;
  int n_ok = 0, n_failed = 0, stuck = 0, bias = 0;
  for (int n = 1; n <= rounds && !stuck; n++) {
    const tapir_source *s2 = NULL, *s = NULL;
    const tapir_task *t = NULL, *mine = NULL;
    CHECK_OK(tapir_source_new(0, NULL, &s2));
    CHECK_OK(tapir_source_task(s2, &t));
    CHECK_OK(tapir_source_new(0, NULL, &s));
    CHECK_OK(tapir_source_task(s, &mine));
    r->t = t;
    r->s = s;
    /* the first release starts `bias` spins after the call (or the call `-bias` spins
     * after the release may start), so that it lands inside the call as often as around
     * it: the bias follows the outcomes, either way, since which side a loaded machine
     * delays is not known, and in steps that grow with it, since a thread descheduled
     * between its arrival and its call loses by a time slice, not by a few spins */
    r->lead = (unsigned)(bias > 0 ? bias : 0) + lcg(&seed) % 200;
    r->gap = lcg(&seed) % 400;
    r->source_first = (int)(lcg(&seed) & 1);
    atomic_store(&r->round, n);
    arrive(&r->arrived, 2, n);
    spin(bias < 0 ? (unsigned)-bias : 0);
    int32_t st = tapir_source_set_from_task(s, t);
    CHECKF(st == TAPIR_STATUS_OK || st == IH, "round %d: set_from_task returned %s", n, h_status_name(st));
    if (st == TAPIR_STATUS_OK) {
      n_ok++;
      if (bias > -1000000) bias -= 10 + (bias < 0 ? -bias : bias) / 16;
    } else {
      n_failed++;
      if (bias < 1000000) bias += 10 + (bias < 0 ? -bias : bias) / 16;
    }
    while (atomic_load(&r->done) < n) sched_yield();
    CHECK_OK(tapir_source_release(s2)); /* t, if something still holds it, breaks its promise */
    int32_t w = tapir_task_wait(mine, long_ms());
    if (w == TAPIR_STATUS_TIMEOUT) {
      stuck = 1;
      h_fail(__FILE__, __LINE__, "round %d: set_from_task returned %s and the source's task never completed", n,
             h_status_name(st));
    } else {
      CHECK_ST(w, TAPIR_STATUS_FAULTED);
      CHECK_ST(first_error_code(mine), TAPIR_STATUS_BROKEN_PROMISE);
    }
    release_observed(mine);
  }
  atomic_store(&r->quit, 1);
  h_join(b);
  free(r);
  CHECK(h_wait_live(live0, long_ms()));
  /* under valgrind threads barely overlap: the race is exercised only natively */
  CHECKF(stuck || h_slow() || (n_ok > 0 && n_failed > 0), "the race went one way only (%d OK, %d INVALID_HANDLE): not exercised",
         n_ok, n_failed);
  printf("    set_from_task racing both releases: %d OK, %d INVALID_HANDLE (final bias %d)\n", n_ok, n_failed, bias);
}

/* ------------------------------------------------------------------- REF 10 */

/* Completer threads: complete queued sources later, from threads of their own. */
typedef struct cjob {
  const tapir_source *s;
  int32_t code; /* 0: succeed, else fail with this code */
  void *value;
  atomic_int *inflight; /* decremented just before completing (see fac_rec) */
  struct cjob *next;
} cjob;

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  cjob *head, *tail;
  int quit;
  int nthreads;
  pthread_t th[4];
} completers;

static void *completer_body(void *arg) {
  completers *c = (completers *)arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  for (;;) {
    pthread_mutex_lock(&c->lock);
    while (!c->head && !c->quit) pthread_cond_wait(&c->cv, &c->lock);
    cjob *j = c->head;
    if (j) {
      c->head = j->next;
      if (!c->head) c->tail = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (!j) return NULL;
    if (lcg(&seed) % 4 == 0) h_sleep_ms(0.05);
    atomic_fetch_sub(j->inflight, 1);
    if (j->code == 0) {
      CHECK_OK(tapir_source_set_result(j->s, j->value, NULL));
    } else {
      const tapir_error *e = h_error(j->code, "attempt failed");
      CHECK_OK(tapir_source_set_error(j->s, e));
      tapir_error_release(e);
    }
    CHECK_OK(tapir_source_release(j->s));
    free(j);
  }
}

static void completers_start(completers *c, int n) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->nthreads = n;
  for (int i = 0; i < n; i++) c->th[i] = h_spawn(completer_body, c);
}

static void completers_push(completers *c, const tapir_source *s, int32_t code, void *value, atomic_int *inflight) {
  cjob *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->s = s;
  j->inflight = inflight;
  j->code = code;
  j->value = value;
  pthread_mutex_lock(&c->lock);
  if (c->tail)
    c->tail->next = j;
  else
    c->head = j;
  c->tail = j;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->lock);
}

static void completers_stop(completers *c) {
  pthread_mutex_lock(&c->lock);
  c->quit = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->lock);
  for (int i = 0; i < c->nthreads; i++) h_join(c->th[i]);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->cv);
}

enum { F_LATER_OK, F_LATER_FAULT, F_DONE_OK, F_DONE_FAULT, F_NULL, F_KINDS };

/* The factory's user data. `inflight` counts the tasks it returned that are
 * still pending: the completer decrements it just before completing one, so it
 * never exceeds the number really pending, and `over` records a moment it went
 * past `max_in_flight` (1 for retry: attempts and gates run one at a time). */
typedef struct {
  atomic_int calls, gate_calls, destroys, calls_after_destroy;
  atomic_int inflight, over;
  int max_in_flight;
  int kinds[16];
  completers *c;
} fac_rec;

static bool kind_succeeds(int k) { return k == F_LATER_OK || k == F_DONE_OK; }

static const tapir_task *make_task(fac_rec *r, int kind, uint32_t index) {
  const tapir_task *t = NULL;
  int32_t code = (int32_t)(1000 + index);
  switch (kind) {
  case F_LATER_OK:
  case F_LATER_FAULT: {
    const tapir_source *s = h_source();
    if (!s) return NULL;
    t = h_task_of(s);
    if (atomic_fetch_add(&r->inflight, 1) + 1 > r->max_in_flight) atomic_fetch_add(&r->over, 1);
    completers_push(r->c, s, kind == F_LATER_OK ? 0 : code, h_int(index + 1), &r->inflight);
    break;
  }
  case F_DONE_OK:
    CHECK_OK(tapir_task_from_result(h_int(index + 1), NULL, &t));
    break;
  case F_DONE_FAULT: {
    const tapir_error *e = h_error(code, "attempt failed at once");
    CHECK_OK(tapir_task_from_error(e, &t));
    tapir_error_release(e);
    break;
  }
  default:
    break;
  }
  return t;
}

static const tapir_task *fac_fn(void *ud, uint32_t index) {
  fac_rec *r = (fac_rec *)ud;
  atomic_fetch_add(&r->calls, 1);
  if (atomic_load(&r->destroys) != 0) atomic_fetch_add(&r->calls_after_destroy, 1);
  if (index >= 16) return NULL;
  return make_task(r, r->kinds[index], index);
}

static const tapir_task *gate_fn(void *ud, uint32_t attempt) {
  fac_rec *r = (fac_rec *)ud;
  atomic_fetch_add(&r->gate_calls, 1);
  if (atomic_load(&r->destroys) != 0) atomic_fetch_add(&r->calls_after_destroy, 1);
  return make_task(r, attempt % 2 ? F_LATER_OK : F_DONE_OK, attempt);
}

static void fac_destroy(void *ud) { atomic_fetch_add(&((fac_rec *)ud)->destroys, 1); }

static void ref10_retry_on_fault_always_completes(void) {
  int rounds = h_slow() ? 40 : 400;
  completers pools[3];
  const int sizes[3] = {1, 2, 4};
  for (int i = 0; i < 3; i++) completers_start(&pools[i], sizes[i]);
  unsigned seed = 7;
  int timeouts = 0;
  for (int n = 0; n < rounds && timeouts < 3; n++) {
    fac_rec *r = calloc(1, sizeof *r);
    if (!r) break;
    r->c = &pools[n % 3];
    r->max_in_flight = 1;
    uint32_t max_tries = 1 + lcg(&seed) % 4;
    int first_ok = -1;
    for (uint32_t i = 0; i < max_tries; i++) {
      r->kinds[i] = (int)(lcg(&seed) % F_KINDS);
      if (first_ok < 0 && kind_succeeds(r->kinds[i])) first_ok = (int)i;
    }
    (void)first_ok;
    bool with_gate = lcg(&seed) % 2;
    const tapir_task *t = NULL;
    int32_t st = tapir_retry_on_fault(fac_fn, with_gate ? gate_fn : NULL, r, fac_destroy, max_tries, &t);
    if (st != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "round %d: tapir_retry_on_fault returned %s", n, h_status_name(st));
      free(r);
      continue;
    }
    int32_t w = tapir_task_wait(t, long_ms());
    if (w == TAPIR_STATUS_TIMEOUT) {
      h_fail(__FILE__, __LINE__, "round %d (max_tries %u, kinds %d %d %d %d, gate %d): never completed", n,
             max_tries, r->kinds[0], r->kinds[1], r->kinds[2], r->kinds[3], (int)with_gate);
      timeouts++;
      CHECK_OK(tapir_task_release(t));
      continue; /* r stays allocated: the library may still call into it */
    }
    /* Attempts stop at the first success and at max_tries; the result is the
     * last attempt's outcome. Whether an attempt whose factory returned NULL
     * (which fails with INVALID_STATE) is retried, the header leaves open: an
     * early stop is accepted only there. */
    int calls = atomic_load(&r->calls);
    int last = calls - 1;
    bool shape_ok = calls >= 1 && calls <= (int)max_tries;
    for (int i = 0; shape_ok && i < last; i++) shape_ok = !kind_succeeds(r->kinds[i]);
    if (shape_ok && !kind_succeeds(r->kinds[last]) && calls < (int)max_tries) shape_ok = r->kinds[last] == F_NULL;
    int32_t want = shape_ok && kind_succeeds(r->kinds[last]) ? TAPIR_TASK_STATUS_SUCCEEDED : TAPIR_TASK_STATUS_FAULTED;
    int32_t want_code = !shape_ok || kind_succeeds(r->kinds[last]) ? 0
                        : r->kinds[last] == F_NULL                 ? TAPIR_STATUS_INVALID_STATE
                                                                   : (int32_t)(1000 + last);
    int32_t got_code = tapir_task_get_status(t) == TAPIR_TASK_STATUS_FAULTED ? first_error_code(t) : 0;
    CHECKF(shape_ok && tapir_task_get_status(t) == want && got_code == want_code,
           "round %d: status %d (error code %d) after %d attempts, want %d (code %d) (max_tries %u; attempt kinds "
           "%d %d %d %d, gate %d)",
           n, (int)tapir_task_get_status(t), (int)got_code, calls, (int)want, (int)want_code, max_tries, r->kinds[0],
           r->kinds[1], r->kinds[2], r->kinds[3], (int)with_gate);
    CHECKF(h_wait_eq(&r->destroys, 1, h_prompt_ms()), "round %d: user data destroyed %d times", n,
           atomic_load(&r->destroys));
    release_observed(t);
    h_sleep_ms(0.1);
    CHECKF(atomic_load(&r->destroys) == 1, "round %d: user data destroyed %d times", n, atomic_load(&r->destroys));
    CHECKF(atomic_load(&r->calls_after_destroy) == 0, "round %d: factory called after its destroy", n);
    CHECKF(atomic_load(&r->over) == 0, "round %d: an attempt started while another was pending", n);
    free(r);
  }
  for (int i = 0; i < 3; i++) completers_stop(&pools[i]);
}

static void ref10_for_each_throttled_always_completes(void) {
  int rounds = h_slow() ? 40 : 400;
  completers pools[3];
  const int sizes[3] = {1, 2, 4};
  for (int i = 0; i < 3; i++) completers_start(&pools[i], sizes[i]);
  unsigned seed = 11;
  int timeouts = 0;
  for (int n = 0; n < rounds && timeouts < 3; n++) {
    fac_rec *r = calloc(1, sizeof *r);
    if (!r) break;
    r->c = &pools[n % 3];
    uint32_t count = lcg(&seed) % 11;
    r->max_in_flight = 1 + n % 4;
    int failures = 0;
    for (uint32_t i = 0; i < count; i++) {
      r->kinds[i] = (int)(lcg(&seed) % F_KINDS);
      if (!kind_succeeds(r->kinds[i])) failures++;
    }
    const tapir_task *t = NULL;
    int32_t st = tapir_for_each_throttled(fac_fn, r, fac_destroy, count, (uint32_t)r->max_in_flight, &t);
    if (st != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "round %d: tapir_for_each_throttled returned %s", n, h_status_name(st));
      free(r);
      continue;
    }
    int32_t w = tapir_task_wait(t, long_ms());
    if (w == TAPIR_STATUS_TIMEOUT) {
      h_fail(__FILE__, __LINE__, "round %d (count %u, max_in_flight %d): never completed after %d factory calls", n,
             count, r->max_in_flight, atomic_load(&r->calls));
      timeouts++;
      CHECK_OK(tapir_task_release(t));
      continue;
    }
    CHECKF(atomic_load(&r->calls) == (int)count, "round %d: %d factory calls, want %u", n,
           atomic_load(&r->calls), count);
    if (failures == 0) {
      CHECKF(tapir_task_get_status(t) == TAPIR_TASK_STATUS_SUCCEEDED, "round %d: status %d, want SUCCEEDED", n,
             (int)tapir_task_get_status(t));
    } else {
      CHECKF(tapir_task_get_status(t) == TAPIR_TASK_STATUS_FAULTED, "round %d: status %d, want FAULTED", n,
             (int)tapir_task_get_status(t));
      size_t ne = tapir_task_error_count(t);
      CHECKF(ne == (size_t)failures, "round %d: %zu errors, want %d", n, ne, failures);
      size_t k = 0;
      for (uint32_t i = 0; i < count && k < ne; i++) {
        if (kind_succeeds(r->kinds[i])) continue;
        const tapir_error *e = NULL;
        if (tapir_task_error_at(t, k, &e) == TAPIR_STATUS_OK) {
          int32_t want = r->kinds[i] == F_NULL ? TAPIR_STATUS_INVALID_STATE : (int32_t)(1000 + i);
          CHECKF(tapir_error_code(e) == want, "round %d: error %zu has code %d, want %d (index %u)", n, k,
                 (int)tapir_error_code(e), (int)want, i);
          tapir_error_release(e);
        }
        k++;
      }
    }
    CHECKF(h_wait_eq(&r->destroys, 1, h_prompt_ms()), "round %d: user data destroyed %d times", n,
           atomic_load(&r->destroys));
    release_observed(t);
    h_sleep_ms(0.1);
    CHECKF(atomic_load(&r->destroys) == 1, "round %d: user data destroyed %d times", n,
           atomic_load(&r->destroys));
    CHECKF(atomic_load(&r->calls_after_destroy) == 0, "round %d: factory called after its destroy", n);
    CHECKF(atomic_load(&r->over) == 0, "round %d: more than %d tasks pending at once", n, r->max_in_flight);
    free(r);
  }
  for (int i = 0; i < 3; i++) completers_stop(&pools[i]);
}

/* ---- found by the fuzzer ---- */

static void dtor_bump(void *v) { (void)v; }
static atomic_int g_kept_destroyed;
static void kept_value_destroy(void *v) {
  (void)v;
  atomic_fetch_add(&g_kept_destroyed, 1);
}

/* A when_all (each variant) keeps an input that succeeded with an owned value; its
 * other input can never complete. Releasing every handle frees all of it, the kept
 * input and its value included. */
static void when_all_over_a_never_completing_input_frees_the_inputs_it_kept(void) {
  size_t base = h_live();
  for (int mode = 0; mode < 3; mode++) {
    atomic_store(&g_kept_destroyed, 0);
    const tapir_source *s = h_source();
    const tapir_task *done = h_task_of(s), *never = NULL, *all = NULL;
    CHECK_OK(tapir_source_set_result(s, h_int(1), kept_value_destroy));
    tapir_source_release(s);
    CHECK_OK(tapir_delay(-1, NULL, &never));
    const tapir_task *in[2] = {done, never};
    tapir_status st = mode == 0   ? tapir_when_all(in, 2, &all)
                      : mode == 1 ? tapir_when_all_settled(in, 2, &all)
                                  : tapir_when_all_or_first_error(in, 2, &all);
    CHECK_OK(st);
    tapir_task_release(all), tapir_task_release(never), tapir_task_release(done);
    CHECKF(h_wait_live(base, h_prompt_ms()), "mode %d: %zu live objects", mode, h_live());
    CHECK_EQ(atomic_load(&g_kept_destroyed), 1);
  }
}

/* A token lent out again after every source and token handle went (through a
 * registration that kept the object) is not the none token: CanBeCanceled stays true,
 * as in .NET after a source is disposed. */
static const tapir_error *no_error_cb(void *ud) {
  (void)ud;
  return NULL;
}

static void a_token_of_a_disposed_source_can_still_be_canceled(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok, *again = NULL;
  const tapir_cancel_registration *reg = NULL;
  REQUIRE(h_new_cts(&src, &tok));
  CHECK_OK(tapir_cancel_token_register(tok, no_error_cb, NULL, dtor_bump, 0, &reg));
  tapir_cancel_source_release(src);
  tapir_cancel_token_release(tok);
  CHECK_OK(tapir_cancel_registration_token(reg, &again));
  CHECK(tapir_cancel_token_can_be_canceled(again));
  CHECK(!tapir_cancel_token_is_canceled(again));
  tapir_cancel_token_release(again);
  tapir_cancel_registration_release(reg);
}

/* A forwarding chain (set_from_task) whose task handles were released completes from
 * its head while another thread keeps asking about the released handles: every answer
 * is INVALID_HANDLE — the library's own continuations lend the handle to nobody. */
#define FWD_N 20000
static const tapir_task *g_fwd[FWD_N];
static atomic_int g_fwd_go, g_fwd_stop, g_fwd_hits;

static void *poll_released(void *arg) {
  (void)arg;
  while (!atomic_load(&g_fwd_go)) sched_yield();
  while (!atomic_load(&g_fwd_stop))
    for (int i = 1; i < FWD_N - 1; i += 7)
      if (tapir_task_get_status(g_fwd[i]) != TAPIR_TASK_STATUS_INVALID_HANDLE) atomic_fetch_add(&g_fwd_hits, 1);
  return NULL;
}

static void released_handles_stay_invalid_while_a_forward_chain_completes(void) {
  for (int round = 0; round < 3; round++) {
    const tapir_source *s0 = h_source();
    const tapir_task *t0 = h_task_of(s0), *prev = t0;
    for (int i = 1; i < FWD_N; i++) {
      const tapir_source *s = h_source();
      g_fwd[i] = h_task_of(s);
      REQUIRE_OK(tapir_source_set_from_task(s, prev));
      tapir_source_release(s);
      prev = g_fwd[i];
    }
    for (int i = 1; i < FWD_N - 1; i++) tapir_task_release(g_fwd[i]);
    atomic_store(&g_fwd_go, 0), atomic_store(&g_fwd_stop, 0), atomic_store(&g_fwd_hits, 0);
    pthread_t th = h_spawn(poll_released, NULL);
    atomic_store(&g_fwd_go, 1);
    CHECK_OK(tapir_source_set_result(s0, h_int(1), NULL));
    CHECK_OK(tapir_task_wait(prev, h_prompt_ms()));
    atomic_store(&g_fwd_stop, 1);
    h_join(th);
    CHECK_EQ(atomic_load(&g_fwd_hits), 0);
    tapir_source_release(s0), tapir_task_release(t0), tapir_task_release(prev);
  }
}

void register_refmodel_tests(void) {
  REG(when_all_over_a_never_completing_input_frees_the_inputs_it_kept);
  REG(a_token_of_a_disposed_source_can_still_be_canceled);
  REG(released_handles_stay_invalid_while_a_forward_chain_completes);
  REG(ref01_double_release_while_tapir_holds_source);
  REG(ref01_held_reference_never_touches_reused_slot);
  REG(ref02_set_from_task_needs_only_the_source);
  REG(ref02_header_recipe_retain_next_complete_later);
  REG(ref03_wrong_kind_where_source_required);
  REG(ref03_source_where_task_required);
  REG(ref03_token_where_cancel_source_required);
  REG(ref04_released_token_refused_everywhere);
  REG(ref04_task_cancel_token_never_dead);
  REG(ref05_linked_with_stale_parent_does_nothing);
  REG(ref05_combinators_with_stale_input_do_nothing);
  REG(ref05_continuation_with_stale_options_does_nothing);
  REG(ref05_run_and_post_with_stale_handles_do_nothing);
  REG(ref06_wait_validates_every_element_first);
  REG(ref07_never_completing_task_is_freed);
  REG(ref07_released_manual_scheduler_frees_everything);
  REG(ref08_lent_task_valid_in_on_complete);
  REG(ref08_lent_handles_valid_in_continue_with);
  REG(ref08_lent_task_valid_when_registered_after_completion);
  REG(ref08_lent_errors_valid_in_unobserved_hook);
  REG(ref09_race_on_complete);
  REG(ref09_race_continue_with);
  REG(ref09_race_interleaved);
  REG(ref09_race_when_all);
  REG(ref09_race_when_any);
  REG(ref09_race_wait_async);
  REG(ref09_race_unwrap);
  REG(ref09_race_set_result);
  REG(ref09_race_result);
  REG(ref09_race_retain);
  REG(ref09_set_from_task_racing_both_releases);
  REG(ref10_retry_on_fault_always_completes);
  REG(ref10_for_each_throttled_always_completes);
}
