/* Cancellation (CN): sources, tokens, the none token, registrations, callback
 * errors, linked sources, cancel_after, and tokens given to continuations, runs
 * and waits (CT-10, CT-11, CN-12). */
#include "harness.h"

/* ------------------------------------------------------------- helpers */

/* A cancellation callback that counts into an h_counter and reports no error. */
static const tapir_error *count_cancel_cb(void *user_data) {
  h_counter_hit((h_counter *)user_data);
  return NULL;
}

/* A counting callback that reports `fail` (ownership passes to tapir when it runs). */
typedef struct {
  h_counter c;
  const tapir_error *fail;
} failing_rec;

static const tapir_error *failing_cancel_cb(void *user_data) {
  failing_rec *r = (failing_rec *)user_data;
  h_counter_hit(&r->c);
  const tapir_error *e = r->fail;
  r->fail = NULL;
  return e;
}

/* Registers count_cancel_cb(c) with h_count_destroy; returns the status. */
static int32_t reg_counter(const tapir_cancel_token *tok, h_counter *c, uint32_t flags,
                           const tapir_cancel_registration **reg_out) {
  return tapir_cancel_token_register(tok, count_cancel_cb, c, h_count_destroy, flags, reg_out);
}

/* The name of the calling thread (pool workers are "tapir-pool-N", the timer
 * thread "tapir-timer"). */
static void thread_name(char *buf, size_t len) {
  buf[0] = '\0';
  if (pthread_getname_np(pthread_self(), buf, len) != 0) buf[0] = '\0';
}

/* True if `s` is the default scheduler (releases `s`). */
static bool is_default_scheduler(const tapir_scheduler *s) {
  const tapir_scheduler *d = NULL;
  if (tapir_scheduler_default(&d) != TAPIR_STATUS_OK) return false;
  bool same = s != NULL && s == d;
  tapir_scheduler_release(d);
  if (s) tapir_scheduler_release(s);
  return same;
}

/* ---- CN-01 the none token */

static void cn01_none_token(void) {
  const tapir_cancel_token *a = NULL, *b = NULL;
  REQUIRE_OK(tapir_cancel_token_none(&a));
  REQUIRE_OK(tapir_cancel_token_none(&b));
  CHECK(a != NULL);
  CHECK_PTR_EQ(a, b); /* every call writes the same handle value */
  CHECK(!tapir_cancel_token_can_be_canceled(a));
  CHECK(!tapir_cancel_token_is_canceled(a));
  CHECK(!tapir_cancel_source_is_canceled((const tapir_cancel_source *)a));

  /* registering is inert: nothing registered, destroy at once, never called */
  h_counter c;
  h_counter_init(&c);
  const tapir_cancel_registration *reg = (const tapir_cancel_registration *)h_int(1);
  CHECK_OK(reg_counter(a, &c, 0, &reg));
  CHECK(reg == NULL);
  CHECK_EQ(atomic_load(&c.destroys), 1);
  CHECK_EQ(atomic_load(&c.calls), 0);
  CHECK_EQ(tapir_debug_cancel_registrations(a), 0);
  /* without an out-pointer as well */
  CHECK_OK(reg_counter(a, &c, 0, NULL));
  CHECK_EQ(atomic_load(&c.destroys), 2);
  /* the flag changes nothing on a token that can never be canceled */
  CHECK_OK(reg_counter(a, &c, TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED, NULL));
  CHECK_EQ(atomic_load(&c.destroys), 3);
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&c.calls), 0);

  /* the none token is permanent: releasing the references we got is fine */
  CHECK_OK(tapir_cancel_token_release(a));
  CHECK_OK(tapir_cancel_token_release(b));
  /* ... and it still works afterwards */
  const tapir_cancel_token *again = NULL;
  REQUIRE_OK(tapir_cancel_token_none(&again));
  CHECK_PTR_EQ(again, a);
  CHECK(!tapir_cancel_token_can_be_canceled(again));
  CHECK_OK(tapir_cancel_token_release(again));
}

/* ---- CN-02 a standalone pre-canceled token */

static void cont_set_value(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  (void)antecedent;
  h_counter_hit((h_counter *)ud);
  (void)tapir_source_set_result(next, NULL, NULL);
}

static void cn02_pre_canceled_token(void) {
  const tapir_cancel_token *tok = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&tok));
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK(tapir_cancel_token_can_be_canceled(tok));
  CHECK(tapir_cancel_source_is_canceled((const tapir_cancel_source *)tok));

  /* register: runs now, on this thread, before register returns */
  atomic_int returned = 0;
  h_counter c;
  h_counter_init(&c);
  c.completer_returned = &returned;
  const tapir_cancel_registration *reg = (const tapir_cancel_registration *)h_int(1);
  CHECK_OK(reg_counter(tok, &c, 0, &reg));
  atomic_store(&returned, 1);
  CHECK_EQ(atomic_load(&c.calls), 1);
  CHECK(pthread_equal(c.thread, pthread_self()));
  CHECK_EQ(atomic_load(&c.saw_returned), 0);
  CHECK(reg == NULL);
  CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&c.destroys_before_call), 0);

  /* NO_RUN_IF_CANCELED: nothing runs, nothing registered, user_data stays ours */
  h_counter n;
  h_counter_init(&n);
  reg = NULL;
  CHECK_ST(reg_counter(tok, &n, TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED, &reg), TAPIR_STATUS_CANCELED);
  CHECK(reg == NULL);
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&n.calls), 0);
  CHECK_EQ(atomic_load(&n.destroys), 0);

  /* a delay and a continuation given the token are canceled on return */
  const tapir_task *d = NULL;
  REQUIRE_OK(tapir_delay(1000, tok, &d));
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_CANCELED);
  const tapir_cancel_token *why = NULL;
  CHECK_OK(tapir_task_cancel_token(d, &why));
  CHECK_PTR_EQ(why, tok);
  if (why) tapir_cancel_token_release(why);
  CHECK_OK(tapir_task_release(d));

  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  h_counter k;
  h_counter_init(&k);
  tapir_continuation_options opts = {sizeof opts, 0, NULL, tok};
  const tapir_task *ct = NULL;
  REQUIRE_OK(tapir_task_continue_with(a, cont_set_value, &k, h_count_destroy, &opts, &ct));
  CHECK_EQ(tapir_task_get_status(ct), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK(h_wait_eq(&k.destroys, 1, h_prompt_ms()));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&k.calls), 0);
  CHECK_OK(tapir_task_release(ct));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_cancel_token_release(tok));
}

/* ---- CN-03 cancel runs each callback once, inline */

static void cn03_cancel_runs_callbacks_once_inline(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  CHECK(tapir_cancel_token_can_be_canceled(tok));
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK(!tapir_cancel_source_is_canceled(src));

  atomic_int returned = 0;
  h_counter c;
  h_counter_init(&c);
  c.completer_returned = &returned;
  const tapir_cancel_registration *reg = NULL;
  REQUIRE_OK(reg_counter(tok, &c, 0, &reg));
  CHECK(reg != NULL);
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&c.calls), 0);

  const tapir_error *errs = (const tapir_error *)h_int(1);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, &errs));
  atomic_store(&returned, 1);
  CHECK(errs == NULL); /* no callback reported an error */
  CHECK_EQ(atomic_load(&c.calls), 1);
  CHECK(pthread_equal(c.thread, pthread_self()));
  CHECK_EQ(atomic_load(&c.saw_returned), 0); /* ran before cancel returned */
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK(tapir_cancel_source_is_canceled(src));
  CHECK(tapir_cancel_source_is_canceled((const tapir_cancel_source *)tok));

  /* a second cancel does nothing */
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_OK(tapir_cancel_source_cancel(src, TAPIR_CANCEL_STOP_AT_FIRST_ERROR, &errs));
  CHECK(errs == NULL);
  CHECK_EQ(atomic_load(&c.calls), 1);
  CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&c.destroys_before_call), 0);
  /* the registration ran: unregister reports it */
  CHECK_ST(tapir_cancel_registration_unregister(reg), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_OK(tapir_cancel_registration_release(reg));
  h_release_cts(src, tok);
}

typedef struct {
  h_gate gate;
  const tapir_cancel_source *src;
  atomic_int bad;
} race_ctx;

static void *race_cancel_body(void *arg) {
  race_ctx *r = (race_ctx *)arg;
  h_gate_wait(&r->gate);
  if (tapir_cancel_source_cancel(r->src, 0, NULL) != TAPIR_STATUS_OK) atomic_fetch_add(&r->bad, 1);
  /* whoever returns from cancel sees the token canceled */
  if (!tapir_cancel_source_is_canceled(r->src)) atomic_fetch_add(&r->bad, 1);
  return NULL;
}

static void cn03_sixteen_threads_cancel_once(void) {
  enum { THREADS = 16 };
  int rounds = h_slow() ? 5 : 25; /* valgrind serializes the threads: fewer rounds */
  for (int round = 0; round < rounds; round++) {
    const tapir_cancel_source *src;
    const tapir_cancel_token *tok;
    if (!h_new_cts(&src, &tok)) return;
    h_counter c;
    h_counter_init(&c);
    REQUIRE_OK(reg_counter(tok, &c, 0, NULL));
    race_ctx r;
    memset(&r, 0, sizeof r);
    r.src = src;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) th[i] = h_spawn(race_cancel_body, &r);
    h_gate_open_when(&r.gate, THREADS);
    for (int i = 0; i < THREADS; i++) h_join(th[i]);
    CHECKF(atomic_load(&c.calls) == 1, "round %d: callback ran %d times", round, atomic_load(&c.calls));
    CHECK_EQ(atomic_load(&r.bad), 0);
    CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
    h_release_cts(src, tok);
  }
}

/* ---- CN-05 registering after cancellation */

static void cn05_register_after_cancel(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));

  atomic_int returned = 0;
  h_counter c;
  h_counter_init(&c);
  c.completer_returned = &returned;
  const tapir_cancel_registration *reg = (const tapir_cancel_registration *)h_int(1);
  CHECK_OK(reg_counter(tok, &c, 0, &reg));
  atomic_store(&returned, 1);
  CHECK_EQ(atomic_load(&c.calls), 1);
  CHECK(pthread_equal(c.thread, pthread_self()));
  CHECK_EQ(atomic_load(&c.saw_returned), 0);
  CHECK(reg == NULL);
  CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));

  /* with NO_RUN_IF_CANCELED: CANCELED, nothing runs, user data not destroyed */
  h_counter n;
  h_counter_init(&n);
  reg = (const tapir_cancel_registration *)h_int(1);
  CHECK_ST(reg_counter(tok, &n, TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED, &reg), TAPIR_STATUS_CANCELED);
  CHECK_EQ(atomic_load(&n.calls), 0);
  CHECK_EQ(atomic_load(&n.destroys), 0);
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);
  h_release_cts(src, tok);

  /* NO_RUN_IF_CANCELED on a live token registers normally */
  if (!h_new_cts(&src, &tok)) return;
  reg = NULL;
  CHECK_OK(reg_counter(tok, &n, TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED, &reg));
  CHECK(reg != NULL);
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 1);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(atomic_load(&n.calls), 1);
  CHECK_OK(tapir_cancel_registration_release(reg));
  CHECK(h_wait_eq(&n.destroys, 1, h_prompt_ms()));

  /* a source given cancel_after(0) is canceled at once: a later register runs inline */
  const tapir_cancel_source *z;
  const tapir_cancel_token *zt;
  h_release_cts(src, tok);
  if (!h_new_cts(&z, &zt)) return;
  CHECK_OK(tapir_cancel_source_cancel_after(z, 0));
  CHECK(tapir_cancel_token_is_canceled(zt));
  h_counter zc;
  h_counter_init(&zc);
  CHECK_OK(reg_counter(zt, &zc, 0, NULL));
  CHECK_EQ(atomic_load(&zc.calls), 1);
  CHECK(pthread_equal(zc.thread, pthread_self()));
  h_release_cts(z, zt);
}

/* ---- callbacks run newest first */

static void cn_callbacks_run_newest_first(void) {
  enum { N = 6 };
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  atomic_int seq = 0;
  h_counter c[N];
  for (int i = 0; i < N; i++) {
    h_counter_init(&c[i]);
    c[i].order_src = &seq;
    REQUIRE_OK(reg_counter(tok, &c[i], 0, NULL));
  }
  CHECK_EQ(tapir_debug_cancel_registrations(tok), N);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  for (int i = 0; i < N; i++) {
    CHECK_EQ(atomic_load(&c[i].calls), 1);
    CHECKF(atomic_load(&c[i].order) == N - 1 - i, "callback %d ran at position %d, want %d", i,
           atomic_load(&c[i].order), N - 1 - i);
    CHECK(pthread_equal(c[i].thread, pthread_self()));
  }
  for (int i = 0; i < N; i++) CHECK(h_wait_eq(&c[i].destroys, 1, h_prompt_ms()));
  h_release_cts(src, tok);
}

/* ---- CN-09 callback failures */

/* True if `agg` (or any aggregate nested in it) holds `want` among its leaves. */
static bool agg_has_leaf(const tapir_error *agg, const tapir_error *want) {
  const tapir_error *flat = NULL;
  if (tapir_error_flatten(agg, &flat) != TAPIR_STATUS_OK) return false;
  bool found = false;
  size_t n = tapir_error_inner_count(flat);
  for (size_t i = 0; i < n && !found; i++) {
    const tapir_error *e = NULL;
    if (tapir_error_inner(flat, i, &e) == TAPIR_STATUS_OK) {
      found = e == want;
      tapir_error_release(e);
    }
  }
  tapir_error_release(flat);
  return found;
}

static void cn09_callback_errors_collected(void) {
  /* collect-all: A (registered first) and B both fail; a plain one sits between */
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  atomic_int seq = 0;
  failing_rec a, b;
  h_counter mid;
  h_counter_init(&a.c);
  h_counter_init(&b.c);
  h_counter_init(&mid);
  a.c.order_src = b.c.order_src = mid.order_src = &seq;
  const tapir_error *ea = h_error(101, "A failed");
  const tapir_error *eb = h_error(102, "B failed");
  a.fail = tapir_error_retain(ea); /* the callback hands this reference to tapir */
  b.fail = tapir_error_retain(eb);
  REQUIRE_OK(tapir_cancel_token_register(tok, failing_cancel_cb, &a, h_count_destroy, 0, NULL));
  REQUIRE_OK(reg_counter(tok, &mid, 0, NULL));
  REQUIRE_OK(tapir_cancel_token_register(tok, failing_cancel_cb, &b, h_count_destroy, 0, NULL));
  const tapir_error *agg = NULL;
  CHECK_OK(tapir_cancel_source_cancel(src, 0, &agg));
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK_EQ(atomic_load(&a.c.calls), 1);
  CHECK_EQ(atomic_load(&b.c.calls), 1);
  CHECK_EQ(atomic_load(&mid.calls), 1); /* a failure does not stop the others */
  CHECK_EQ(atomic_load(&b.c.order), 0);
  CHECK_EQ(atomic_load(&mid.order), 1);
  CHECK_EQ(atomic_load(&a.c.order), 2);
  REQUIRE(agg != NULL);
  CHECK_EQ(tapir_error_code(agg), TAPIR_STATUS_FAULTED);
  CHECK_EQ(tapir_error_inner_count(agg), 2);
  const tapir_error *e0 = NULL, *e1 = NULL;
  CHECK_OK(tapir_error_inner(agg, 0, &e0));
  CHECK_OK(tapir_error_inner(agg, 1, &e1));
  CHECK_PTR_EQ(e0, eb); /* run order: B then A */
  CHECK_PTR_EQ(e1, ea);
  tapir_error_release(e0);
  tapir_error_release(e1);
  CHECK_OK(tapir_error_release(agg));
  h_release_cts(src, tok);
  CHECK(h_wait_eq(&a.c.destroys, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&b.c.destroys, 1, h_prompt_ms()));

  /* stop at first: only B (the newest) runs; A and `kept` never do. A skipped callback
   * stays registered: it can still be unregistered (destroy runs then), or it is
   * dropped when the source goes */
  if (!h_new_cts(&src, &tok)) return;
  h_counter_init(&a.c);
  h_counter_init(&b.c);
  h_counter kept;
  h_counter_init(&kept);
  const tapir_cancel_registration *kept_reg = NULL;
  a.fail = tapir_error_retain(ea);
  b.fail = tapir_error_retain(eb);
  REQUIRE_OK(reg_counter(tok, &kept, 0, &kept_reg));
  REQUIRE_OK(tapir_cancel_token_register(tok, failing_cancel_cb, &a, h_count_destroy, 0, NULL));
  REQUIRE_OK(tapir_cancel_token_register(tok, failing_cancel_cb, &b, h_count_destroy, 0, NULL));
  agg = NULL;
  CHECK_OK(tapir_cancel_source_cancel(src, TAPIR_CANCEL_STOP_AT_FIRST_ERROR, &agg));
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK_EQ(atomic_load(&b.c.calls), 1);
  CHECK_EQ(atomic_load(&a.c.calls), 0);
  REQUIRE(agg != NULL);
  CHECK_EQ(tapir_error_code(agg), TAPIR_STATUS_FAULTED);
  CHECK_EQ(tapir_error_inner_count(agg), 1);
  e0 = NULL;
  CHECK_OK(tapir_error_inner(agg, 0, &e0));
  CHECK_PTR_EQ(e0, eb);
  tapir_error_release(e0);
  CHECK_OK(tapir_error_release(agg));
  /* a second cancel does not run the skipped callbacks */
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(atomic_load(&a.c.calls), 0);
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 2);
  CHECK_OK(tapir_cancel_registration_unregister(kept_reg));
  CHECK_EQ(atomic_load(&kept.destroys), 1);
  CHECK_EQ(atomic_load(&kept.calls), 0);
  CHECK_OK(tapir_cancel_registration_release(kept_reg));
  h_release_cts(src, tok);
  CHECK(h_wait_eq(&a.c.destroys, 1, h_prompt_ms())); /* dropped with the source */
  CHECK_EQ(atomic_load(&a.c.calls), 0);
  CHECK_OK(tapir_error_release(a.fail)); /* never handed over */
  a.fail = NULL;

  /* without errors_out the reported errors are released (the leak check proves it) */
  if (!h_new_cts(&src, &tok)) return;
  h_counter_init(&a.c);
  a.fail = tapir_error_retain(ea);
  REQUIRE_OK(tapir_cancel_token_register(tok, failing_cancel_cb, &a, h_count_destroy, 0, NULL));
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(atomic_load(&a.c.calls), 1);
  h_release_cts(src, tok);

  /* a failure in a linked source's callback reaches the caller of the original cancel */
  const tapir_cancel_source *parent, *child;
  const tapir_cancel_token *ptok, *ctok;
  if (!h_new_cts(&parent, &ptok)) return;
  REQUIRE_OK(tapir_cancel_source_new_linked(&ptok, 1, &child));
  REQUIRE_OK(tapir_cancel_source_token(child, &ctok));
  h_counter_init(&b.c);
  b.fail = tapir_error_retain(eb);
  REQUIRE_OK(tapir_cancel_token_register(ctok, failing_cancel_cb, &b, h_count_destroy, 0, NULL));
  agg = NULL;
  CHECK_OK(tapir_cancel_source_cancel(parent, 0, &agg));
  CHECK_EQ(atomic_load(&b.c.calls), 1);
  CHECK(tapir_cancel_token_is_canceled(ctok));
  CHECKF(agg != NULL, "the linked source's callback error was not reported by the parent's cancel");
  if (agg) {
    CHECKF(agg_has_leaf(agg, eb), "the parent's cancel reported an aggregate without the child's error");
    tapir_error_release(agg);
  }
  h_release_cts(child, ctok);
  h_release_cts(parent, ptok);
  CHECK_OK(tapir_error_release(ea));
  CHECK_OK(tapir_error_release(eb));
}

/* ---- CN-06 unregistering */

static void cn06_unregister(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  h_counter c;
  h_counter_init(&c);
  const tapir_cancel_registration *reg = NULL;
  REQUIRE_OK(reg_counter(tok, &c, 0, &reg));
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 1);
  CHECK_OK(tapir_cancel_registration_unregister(reg));
  CHECK_EQ(atomic_load(&c.destroys), 1); /* destroy ran before unregister returned */
  CHECK_ST(tapir_cancel_registration_unregister(reg), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_ST(tapir_cancel_registration_unregister_wait(reg), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);

  /* the same callback four times, three removed: exactly one call remains */
  h_counter m;
  h_counter_init(&m);
  const tapir_cancel_registration *r4[4];
  for (int i = 0; i < 4; i++) REQUIRE_OK(reg_counter(tok, &m, 0, &r4[i]));
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 4);
  CHECK_OK(tapir_cancel_registration_unregister(r4[0]));
  CHECK_OK(tapir_cancel_registration_unregister(r4[2]));
  CHECK_OK(tapir_cancel_registration_unregister_wait(r4[3])); /* not running: removed at once */
  CHECK_EQ(atomic_load(&m.destroys), 3);
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 1);

  /* the registration's token is the token it was made on, even after the source goes */
  const tapir_cancel_token *rt = NULL;
  CHECK_OK(tapir_cancel_registration_token(r4[1], &rt));
  CHECK_PTR_EQ(rt, tok);
  if (rt) CHECK_OK(tapir_cancel_token_release(rt));

  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(atomic_load(&c.calls), 0); /* removed never runs */
  CHECK_EQ(atomic_load(&m.calls), 1);
  CHECK(h_wait_eq(&m.destroys, 4, h_prompt_ms()));
  CHECK_EQ(atomic_load(&c.destroys), 1); /* destroyed once */
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);
  /* after it ran: ALREADY_COMPLETED */
  CHECK_ST(tapir_cancel_registration_unregister(r4[1]), TAPIR_STATUS_ALREADY_COMPLETED);

  /* a retained registration handle is a second reference */
  CHECK_PTR_EQ(tapir_cancel_registration_retain(reg), reg);
  CHECK_OK(tapir_cancel_registration_release(reg));
  CHECK_OK(tapir_cancel_registration_release(reg));
  for (int i = 0; i < 4; i++) {
    if (i == 1) continue;
    CHECK_OK(tapir_cancel_registration_release(r4[i]));
  }
  h_release_cts(src, tok);
  /* the source and its tokens are gone; the registration still reads its token */
  rt = NULL;
  CHECK_OK(tapir_cancel_registration_token(r4[1], &rt));
  CHECK(rt != NULL);
  if (rt) {
    CHECK(tapir_cancel_token_is_canceled(rt));
    CHECK_OK(tapir_cancel_token_release(rt));
  }
  CHECK_OK(tapir_cancel_registration_release(r4[1]));

  /* releasing a source (and its tokens) with a pending callback drops it: destroy, no call */
  if (!h_new_cts(&src, &tok)) return;
  h_counter d;
  h_counter_init(&d);
  REQUIRE_OK(reg_counter(tok, &d, 0, NULL));
  h_release_cts(src, tok);
  CHECK(h_wait_eq(&d.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&d.calls), 0);

  /* a registration handle released without unregistering still runs at cancel */
  if (!h_new_cts(&src, &tok)) return;
  h_counter e;
  h_counter_init(&e);
  const tapir_cancel_registration *er = NULL;
  REQUIRE_OK(reg_counter(tok, &e, 0, &er));
  CHECK_OK(tapir_cancel_registration_release(er));
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(atomic_load(&e.calls), 1);
  h_release_cts(src, tok);
  CHECK(h_wait_eq(&e.destroys, 1, h_prompt_ms()));
}

/* Releasing a source and its tokens drops pending callbacks even while a
 * registration handle is still held (the registration is neither a source nor a
 * token reference); the registration still reads its token. */
static void cn_release_source_drops_callbacks_despite_registration(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  h_counter c;
  h_counter_init(&c);
  const tapir_cancel_registration *reg = NULL;
  REQUIRE_OK(reg_counter(tok, &c, 0, &reg));
  h_release_cts(src, tok);
  CHECKF(h_wait_eq(&c.destroys, 1, h_prompt_ms()),
         "pending callback not dropped after the last source/token release while a registration is held");
  CHECK_EQ(atomic_load(&c.calls), 0);
  const tapir_cancel_token *rt = NULL;
  CHECK_OK(tapir_cancel_registration_token(reg, &rt));
  if (rt) {
    CHECK(!tapir_cancel_token_is_canceled(rt));
    CHECK_OK(tapir_cancel_token_release(rt));
  }
  CHECK_ST(tapir_cancel_registration_unregister(reg), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_OK(tapir_cancel_registration_release(reg));
  CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
}

/* ---- unregister_wait */

typedef struct {
  h_counter c;
  atomic_int entered;
  atomic_int go;
  atomic_int finished;
  const tapir_cancel_registration *reg; /* for the self-unregistering variant */
  atomic_int self_status;
  const tapir_cancel_source *src;
  atomic_int cancel_done;
} blocker;

static const tapir_error *blocking_cb(void *ud) {
  blocker *b = (blocker *)ud;
  h_counter_hit(&b->c);
  atomic_store(&b->entered, 1);
  while (!atomic_load(&b->go)) h_sleep_ms(0.5);
  h_sleep_ms(5);
  atomic_store(&b->finished, 1);
  return NULL;
}

static void *cancel_body(void *arg) {
  blocker *b = (blocker *)arg;
  CHECK_OK(tapir_cancel_source_cancel(b->src, 0, NULL));
  atomic_store(&b->cancel_done, 1);
  return NULL;
}

static void *open_later_body(void *arg) {
  blocker *b = (blocker *)arg;
  h_sleep_ms(100);
  atomic_store(&b->go, 1);
  return NULL;
}

static void cn_unregister_wait_waits_for_running_callback(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  blocker b;
  memset(&b, 0, sizeof b);
  h_counter_init(&b.c);
  b.src = src;
  const tapir_cancel_registration *reg = NULL;
  REQUIRE_OK(tapir_cancel_token_register(tok, blocking_cb, &b, h_count_destroy, 0, &reg));
  pthread_t canceler = h_spawn(cancel_body, &b);
  CHECK(h_wait_eq(&b.entered, 1, h_prompt_ms()));
  /* plain unregister does not wait */
  double t0 = h_now_ms();
  CHECK_ST(tapir_cancel_registration_unregister(reg), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_EQ(atomic_load(&b.finished), 0);
  /* unregister_wait waits until the callback has returned */
  pthread_t opener = h_spawn(open_later_body, &b);
  t0 = h_now_ms();
  CHECK_ST(tapir_cancel_registration_unregister_wait(reg), TAPIR_STATUS_ALREADY_COMPLETED);
  double waited = h_now_ms() - t0;
  CHECKF(atomic_load(&b.finished) == 1, "unregister_wait returned after %.1f ms while the callback still ran",
         waited);
  h_join(opener);
  h_join(canceler);
  CHECK_EQ(atomic_load(&b.c.calls), 1);
  CHECK_OK(tapir_cancel_registration_release(reg));
  h_release_cts(src, tok);
  CHECK(h_wait_eq(&b.c.destroys, 1, h_prompt_ms()));
}

static const tapir_error *self_unregister_cb(void *ud) {
  blocker *b = (blocker *)ud;
  h_counter_hit(&b->c);
  atomic_store(&b->self_status, tapir_cancel_registration_unregister_wait(b->reg));
  atomic_store(&b->finished, 1);
  return NULL;
}

static void cn_unregister_wait_inside_callback(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  blocker b;
  memset(&b, 0, sizeof b);
  h_counter_init(&b.c);
  atomic_store(&b.self_status, -1);
  b.src = src;
  REQUIRE_OK(tapir_cancel_token_register(tok, self_unregister_cb, &b, h_count_destroy, 0, &b.reg));
  pthread_t canceler = h_spawn(cancel_body, &b);
  if (!h_wait_eq(&b.cancel_done, 1, h_prompt_ms())) {
    h_fail(__FILE__, __LINE__, "unregister_wait inside its own callback deadlocked");
    return; /* the canceler is stuck; the process ends with this failure */
  }
  h_join(canceler);
  CHECK_EQ(atomic_load(&b.finished), 1);
  CHECK_ST(atomic_load(&b.self_status), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_OK(tapir_cancel_registration_release(b.reg));
  h_release_cts(src, tok);
  CHECK(h_wait_eq(&b.c.destroys, 1, h_prompt_ms()));
}

/* ---- CN-10 linked sources */

typedef struct {
  h_counter c;
  atomic_int *inside; /* 1 while the parent's cancel is in progress */
  int saw_inside;
} linked_rec;

static const tapir_error *linked_cb(void *ud) {
  linked_rec *r = (linked_rec *)ud;
  r->saw_inside = atomic_load(r->inside);
  h_counter_hit(&r->c);
  return NULL;
}

static void cn10_linked_sources(void) {
  const tapir_cancel_source *a, *b;
  const tapir_cancel_token *at, *bt;
  if (!h_new_cts(&a, &at) || !h_new_cts(&b, &bt)) return;
  const tapir_cancel_token *ins[2] = {at, bt};

  /* canceling a parent cancels the child, within the parent's cancel */
  const tapir_cancel_source *l = NULL;
  const tapir_cancel_token *lt = NULL;
  REQUIRE_OK(tapir_cancel_source_new_linked(ins, 2, &l));
  REQUIRE_OK(tapir_cancel_source_token(l, &lt));
  CHECK(!tapir_cancel_token_is_canceled(lt));
  atomic_int inside = 0;
  linked_rec r;
  h_counter_init(&r.c);
  r.inside = &inside;
  r.saw_inside = 0;
  REQUIRE_OK(tapir_cancel_token_register(lt, linked_cb, &r, h_count_destroy, 0, NULL));
  atomic_store(&inside, 1);
  CHECK_OK(tapir_cancel_source_cancel(a, 0, NULL));
  atomic_store(&inside, 0);
  CHECK(tapir_cancel_token_is_canceled(lt));
  CHECK_EQ(atomic_load(&r.c.calls), 1);
  CHECK_EQ(r.saw_inside, 1);
  CHECK(pthread_equal(r.c.thread, pthread_self()));
  CHECK(!tapir_cancel_token_is_canceled(bt));
  h_release_cts(l, lt);
  h_release_cts(a, at);
  if (!h_new_cts(&a, &at)) return;
  ins[0] = at;

  /* canceling the child leaves its parents alone */
  REQUIRE_OK(tapir_cancel_source_new_linked(ins, 2, &l));
  CHECK_OK(tapir_cancel_source_cancel(l, 0, NULL));
  CHECK(tapir_cancel_source_is_canceled(l));
  CHECK(!tapir_cancel_token_is_canceled(at));
  CHECK(!tapir_cancel_token_is_canceled(bt));
  CHECK_OK(tapir_cancel_source_release(l));

  /* a pre-canceled parent: the child is canceled at creation */
  const tapir_cancel_token *pre = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&pre));
  const tapir_cancel_token *ins2[2] = {bt, pre};
  const tapir_cancel_source *l1 = NULL;
  REQUIRE_OK(tapir_cancel_source_new_linked(ins2, 2, &l1));
  CHECK(tapir_cancel_source_is_canceled(l1));
  CHECK(!tapir_cancel_token_is_canceled(bt));
  /* two-level composition: link(c, L1) with L1 canceled */
  const tapir_cancel_source *c;
  const tapir_cancel_token *ct;
  if (!h_new_cts(&c, &ct)) return;
  const tapir_cancel_token *l1t = NULL;
  REQUIRE_OK(tapir_cancel_source_token(l1, &l1t));
  const tapir_cancel_token *ins3[2] = {ct, l1t};
  const tapir_cancel_source *l2 = NULL;
  REQUIRE_OK(tapir_cancel_source_new_linked(ins3, 2, &l2));
  CHECK(tapir_cancel_source_is_canceled(l2));
  CHECK(!tapir_cancel_token_is_canceled(ct));
  CHECK_OK(tapir_cancel_source_release(l2));
  CHECK_OK(tapir_cancel_token_release(l1t));
  CHECK_OK(tapir_cancel_source_release(l1));
  CHECK_OK(tapir_cancel_token_release(pre));
  h_release_cts(c, ct);

  /* link(a, none): canceled by a */
  const tapir_cancel_token *none = NULL;
  REQUIRE_OK(tapir_cancel_token_none(&none));
  const tapir_cancel_token *ins4[2] = {at, none};
  REQUIRE_OK(tapir_cancel_source_new_linked(ins4, 2, &l));
  CHECK(!tapir_cancel_source_is_canceled(l));
  CHECK_OK(tapir_cancel_source_cancel(a, 0, NULL));
  CHECK(tapir_cancel_source_is_canceled(l));
  CHECK_OK(tapir_cancel_source_release(l));
  CHECK_OK(tapir_cancel_token_release(none));
  h_release_cts(a, at);

  /* releasing a parent does not cancel the child, nor break its later use */
  if (!h_new_cts(&a, &at)) return;
  ins[0] = at;
  REQUIRE_OK(tapir_cancel_source_new_linked(ins, 2, &l));
  REQUIRE_OK(tapir_cancel_source_token(l, &lt));
  h_counter k;
  h_counter_init(&k);
  REQUIRE_OK(reg_counter(lt, &k, 0, NULL));
  h_release_cts(a, at);
  h_sleep_ms(20);
  CHECK(!tapir_cancel_token_is_canceled(lt));
  CHECK_EQ(atomic_load(&k.calls), 0);
  /* the other parent still cancels it */
  CHECK_OK(tapir_cancel_source_cancel(b, 0, NULL));
  CHECK(tapir_cancel_token_is_canceled(lt));
  CHECK_EQ(atomic_load(&k.calls), 1);
  h_release_cts(l, lt);
  CHECK(h_wait_eq(&k.destroys, 1, h_prompt_ms()));
  h_release_cts(b, bt);

  /* arguments */
  const tapir_cancel_source *out = NULL;
  CHECK_ST(tapir_cancel_source_new_linked(NULL, 1, &out), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(out == NULL);
  if (!h_new_cts(&a, &at)) return;
  ins[0] = at;
  CHECK_ST(tapir_cancel_source_new_linked(ins, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_cancel_token *with_null[2] = {at, NULL};
  CHECK_ST(tapir_cancel_source_new_linked(with_null, 2, &out), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(out == NULL);
  h_release_cts(a, at);
  /* `at` is stale now */
  CHECK_ST(tapir_cancel_source_new_linked(ins, 1, &out), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(out == NULL);
}

/* ---- CN-11 cancel_after */

typedef struct {
  h_counter c;
  char name[32];
  const tapir_scheduler *current;
} where_rec;

static const tapir_error *where_cb(void *ud) {
  where_rec *w = (where_rec *)ud;
  thread_name(w->name, sizeof w->name);
  w->current = tapir_scheduler_current();
  h_counter_hit(&w->c);
  return NULL;
}

static void cn11_cancel_after(void) {
  size_t timers0 = tapir_debug_pending_timers();
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;

  /* fires promptly; the callback runs on a pool thread, not the timer thread */
  if (!h_new_cts(&src, &tok)) return;
  where_rec w;
  memset(&w, 0, sizeof w);
  h_counter_init(&w.c);
  REQUIRE_OK(tapir_cancel_token_register(tok, where_cb, &w, h_count_destroy, 0, NULL));
  double t0 = h_now_ms();
  CHECK_OK(tapir_cancel_source_cancel_after(src, 20));
  CHECK(h_wait_eq(&w.c.calls, 1, h_prompt_ms()));
  CHECKF(h_now_ms() - t0 >= 18, "cancel_after(20) fired after %.1f ms", h_now_ms() - t0);
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK(!pthread_equal(w.c.thread, pthread_self()));
  CHECKF(strcmp(w.name, "tapir-timer") != 0, "cancel_after callback ran on the timer thread");
  CHECKF(is_default_scheduler(w.current), "cancel_after callback did not run on the default pool");
  h_release_cts(src, tok);

  /* -1 never fires (and clears an earlier deadline) */
  if (!h_new_cts(&src, &tok)) return;
  CHECK_OK(tapir_cancel_source_cancel_after(src, TAPIR_INFINITE));
  const tapir_cancel_source *src2;
  const tapir_cancel_token *tok2;
  if (!h_new_cts(&src2, &tok2)) return;
  CHECK_OK(tapir_cancel_source_cancel_after(src2, 40));
  CHECK_OK(tapir_cancel_source_cancel_after(src2, TAPIR_INFINITE));
  /* re-arming replaces: a later deadline wins over an earlier one */
  const tapir_cancel_source *src3;
  const tapir_cancel_token *tok3;
  if (!h_new_cts(&src3, &tok3)) return;
  CHECK_OK(tapir_cancel_source_cancel_after(src3, 40));
  CHECK_OK(tapir_cancel_source_cancel_after(src3, 1000000));
  h_sleep_ms(200);
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK(!tapir_cancel_token_is_canceled(tok2));
  CHECK(!tapir_cancel_token_is_canceled(tok3));
  /* ... and an earlier one over a later one */
  CHECK_OK(tapir_cancel_source_cancel_after(src3, 1));
  double end = h_now_ms() + h_prompt_ms();
  while (!tapir_cancel_token_is_canceled(tok3) && h_now_ms() < end) h_sleep_ms(1);
  CHECK(tapir_cancel_token_is_canceled(tok3));
  h_release_cts(src, tok);
  h_release_cts(src2, tok2);
  h_release_cts(src3, tok3);

  /* 0 cancels now, on this thread */
  if (!h_new_cts(&src, &tok)) return;
  h_counter z;
  h_counter_init(&z);
  REQUIRE_OK(reg_counter(tok, &z, 0, NULL));
  CHECK_OK(tapir_cancel_source_cancel_after(src, 0));
  CHECK_EQ(atomic_load(&z.calls), 1);
  CHECK(pthread_equal(z.thread, pthread_self()));
  CHECK(tapir_cancel_token_is_canceled(tok));
  h_release_cts(src, tok);

  /* range: -2, 2^32-1 and beyond are invalid; the maximum is accepted, not fired */
  if (!h_new_cts(&src, &tok)) return;
  CHECK_ST(tapir_cancel_source_cancel_after(src, -2), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_cancel_source_cancel_after(src, INT64_MIN), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_cancel_source_cancel_after(src, 4294967295LL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_cancel_source_cancel_after(src, INT64_MAX), TAPIR_STATUS_INVALID_ARGUMENT);
  size_t before = tapir_debug_pending_timers();
  CHECK_OK(tapir_cancel_source_cancel_after(src, TAPIR_MAX_TIMEOUT_MS));
  CHECK_EQ(tapir_debug_pending_timers(), before + 1);
  CHECK_OK(tapir_cancel_source_cancel_after(src, TAPIR_MAX_TIMEOUT_MS)); /* replaces, not adds */
  CHECK_EQ(tapir_debug_pending_timers(), before + 1);
  h_sleep_ms(20);
  CHECK(!tapir_cancel_token_is_canceled(tok));
  /* releasing the source and its tokens drops the timer */
  h_release_cts(src, tok);
  end = h_now_ms() + h_prompt_ms();
  while (tapir_debug_pending_timers() != timers0 && h_now_ms() < end) h_sleep_ms(1);
  CHECK_EQ(tapir_debug_pending_timers(), timers0);

  /* a released source: INVALID_HANDLE (dispose is release); NULL: NULL_ARGUMENT */
  CHECK_ST(tapir_cancel_source_cancel_after(src, 10), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_source_cancel_after(NULL, 10), TAPIR_STATUS_NULL_ARGUMENT);
}

/* ---- tapir_debug_cancel_registrations */

static void cn_debug_cancel_registrations(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);
  h_counter c;
  h_counter_init(&c);
  const tapir_cancel_registration *r[3];
  for (int i = 0; i < 3; i++) REQUIRE_OK(reg_counter(tok, &c, 0, &r[i]));
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 3);
  /* a source handle is accepted too */
  CHECK_EQ(tapir_debug_cancel_registrations((const tapir_cancel_token *)src), 3);
  CHECK_OK(tapir_cancel_registration_unregister(r[1]));
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 2);
  /* many registrations removed: the count returns, nothing lingers */
  for (int round = 0; round < 1000; round++) {
    const tapir_cancel_registration *x = NULL;
    REQUIRE_OK(reg_counter(tok, &c, 0, &x));
    CHECK_OK(tapir_cancel_registration_unregister(x));
    CHECK_OK(tapir_cancel_registration_release(x));
  }
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 2);
  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);
  CHECK_EQ(atomic_load(&c.calls), 2);
  for (int i = 0; i < 3; i++) CHECK_OK(tapir_cancel_registration_release(r[i]));
  CHECK(h_wait_eq(&c.destroys, 1003, h_prompt_ms()));
  h_release_cts(src, tok);
  /* invalid handles count 0 */
  CHECK_EQ(tapir_debug_cancel_registrations(NULL), 0);
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);
}

/* ---- misuse */

static void cn_misuse(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  CHECK_ST(tapir_cancel_source_new(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_token_none(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_token_new_canceled(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  if (!h_new_cts(&src, &tok)) return;
  const tapir_cancel_token *t2 = NULL;
  CHECK_ST(tapir_cancel_source_token(NULL, &t2), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_source_token(src, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_source_cancel(NULL, 0, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_source_cancel(src, 0x80, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(!tapir_cancel_source_is_canceled(src)); /* a bad cancel changed nothing */

  h_counter c;
  h_counter_init(&c);
  const tapir_cancel_registration *reg = NULL;
  CHECK_ST(reg_counter(NULL, &c, 0, &reg), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_token_register(tok, NULL, &c, h_count_destroy, 0, &reg), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(reg_counter(tok, &c, 0x40, &reg), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(reg == NULL);
  CHECK_EQ(atomic_load(&c.destroys), 0); /* user data stays the caller's on error */
  CHECK_EQ(tapir_debug_cancel_registrations(tok), 0);

  CHECK_ST(tapir_cancel_registration_unregister(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_registration_unregister_wait(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_registration_token(NULL, &t2), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_cancel_source_release(NULL));
  CHECK_OK(tapir_cancel_token_release(NULL));
  CHECK_OK(tapir_cancel_registration_release(NULL));
  CHECK(tapir_cancel_source_retain(NULL) == NULL);
  CHECK(tapir_cancel_token_retain(NULL) == NULL);
  CHECK(tapir_cancel_registration_retain(NULL) == NULL);

  CHECK(!tapir_cancel_token_is_canceled(NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_cancel_token_can_be_canceled(NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_cancel_source_is_canceled(NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);

  /* wrong kinds: a task where a source/token/registration is expected, and the reverse */
  const tapir_task *task = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &task));
  const tapir_cancel_source *as_src = (const tapir_cancel_source *)task;
  const tapir_cancel_token *as_tok = (const tapir_cancel_token *)task;
  CHECK_ST(tapir_cancel_source_cancel(as_src, 0, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_source_cancel_after(as_src, 5), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_source_token(as_src, &t2), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_source_release(as_src), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_token_release(as_tok), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(reg_counter(as_tok, &c, 0, &reg), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_cancel_token_is_canceled(as_tok));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_cancel_token_retain(as_tok) == NULL);
  CHECK_ST(tapir_cancel_registration_unregister((const tapir_cancel_registration *)task),
           TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_task_release((const tapir_task *)src), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_task_get_status((const tapir_task *)tok), TAPIR_TASK_STATUS_INVALID_HANDLE);
  /* a token is not a source for cancel, and a source is not a token for release */
  CHECK_ST(tapir_cancel_source_cancel((const tapir_cancel_source *)tok, 0, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_token_release((const tapir_cancel_token *)src), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_cancel_source_is_canceled(src)); /* nothing happened to the real one */
  CHECK_OK(tapir_task_release(task));
  CHECK_EQ(atomic_load(&c.destroys), 0);

  /* double releases */
  REQUIRE_OK(reg_counter(tok, &c, 0, &reg));
  CHECK_PTR_EQ(tapir_cancel_source_retain(src), src);
  CHECK_PTR_EQ(tapir_cancel_token_retain(tok), tok);
  CHECK_OK(tapir_cancel_source_release(src));
  CHECK_OK(tapir_cancel_token_release(tok));
  CHECK_OK(tapir_cancel_registration_release(reg));
  CHECK_ST(tapir_cancel_registration_release(reg), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_registration_unregister(reg), TAPIR_STATUS_INVALID_HANDLE);
  h_release_cts(src, tok);
  CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms())); /* the one registered callback was dropped */
  CHECK_EQ(atomic_load(&c.calls), 0);
  CHECK_ST(tapir_cancel_source_release(src), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_token_release(tok), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cancel_source_cancel(src, 0, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_cancel_token_is_canceled(tok));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_cancel_source_retain(src) == NULL);
  /* registering on a released token fails and leaves user_data with the caller */
  h_counter stale;
  h_counter_init(&stale);
  CHECK_ST(reg_counter(tok, &stale, 0, NULL), TAPIR_STATUS_INVALID_HANDLE);
  h_sleep_ms(10);
  CHECKF(atomic_load(&stale.destroys) == 0,
         "register on a released token returned an error but destroyed user_data (%d destroy calls)",
         atomic_load(&stale.destroys));
  CHECK_EQ(atomic_load(&stale.calls), 0);

  /* a double release of the none token and of a pre-canceled token */
  const tapir_cancel_token *pre = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&pre));
  CHECK_OK(tapir_cancel_token_release(pre));
  CHECK_ST(tapir_cancel_token_release(pre), TAPIR_STATUS_INVALID_HANDLE);
}

/* ---- CT-10 eager cancellation of a continuation */

static void ct10_continuation_token_eager(void) {
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  const tapir_source *s = h_source();
  const tapir_task *a = h_task_of(s);
  tapir_continuation_options opts = {sizeof opts, 0, NULL, tok};
  h_counter c1, c2, oc;
  h_counter_init(&c1);
  h_counter_init(&c2);
  h_counter_init(&oc);
  const tapir_task *t1 = NULL, *t2 = NULL;
  REQUIRE_OK(tapir_task_continue_with(a, h_count_cont, &c1, h_count_destroy, &opts, &t1));
  REQUIRE_OK(tapir_task_continue_with(t1, h_count_cont, &c2, h_count_destroy, NULL, &t2));
  /* an on_complete callback with the token: never runs once the token fires */
  REQUIRE_OK(tapir_task_on_complete(a, h_count_cb, &oc, h_count_destroy, &opts, NULL));
  h_sleep_ms(20);
  CHECK_EQ(tapir_task_get_status(t1), TAPIR_TASK_STATUS_PENDING);

  CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
  CHECK_EQ(tapir_task_get_status(t1), TAPIR_TASK_STATUS_CANCELED); /* at cancel time */
  const tapir_cancel_token *why = NULL;
  CHECK_OK(tapir_task_cancel_token(t1, &why));
  CHECK_PTR_EQ(why, tok);
  if (why) tapir_cancel_token_release(why);
  /* the continuation chained on it still runs, without waiting for A */
  CHECK_EQ(h_settle(t2), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(atomic_load(&c2.calls), 1);
  CHECK_EQ(c2.status, TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(tapir_task_get_status(a), TAPIR_TASK_STATUS_PENDING);

  /* completing A later runs neither canceled callback */
  CHECK_OK(tapir_source_set_result(s, h_int(7), NULL));
  h_sleep_ms(50);
  CHECK_EQ(atomic_load(&c1.calls), 0);
  CHECK_EQ(atomic_load(&oc.calls), 0);
  CHECK(h_wait_eq(&c1.destroys, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&oc.destroys, 1, h_prompt_ms()));
  CHECK_EQ(tapir_task_get_status(t1), TAPIR_TASK_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(t2));
  CHECK_OK(tapir_task_release(t1));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_source_release(s));
  CHECK(h_wait_eq(&c2.destroys, 1, h_prompt_ms()));

  /* variant: the token is already canceled when the continuation is registered */
  s = h_source();
  a = h_task_of(s);
  h_counter_init(&c1);
  h_counter_init(&c2);
  REQUIRE_OK(tapir_task_continue_with(a, h_count_cont, &c1, h_count_destroy, &opts, &t1));
  CHECK_EQ(tapir_task_get_status(t1), TAPIR_TASK_STATUS_CANCELED);
  REQUIRE_OK(tapir_task_continue_with(t1, h_count_cont, &c2, h_count_destroy, NULL, &t2));
  CHECK_EQ(h_settle(t2), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&c1.calls), 0);
  CHECK_EQ(atomic_load(&c2.calls), 1);
  CHECK_OK(tapir_task_release(t2));
  CHECK_OK(tapir_task_release(t1));
  CHECK_OK(tapir_task_release(a));
  CHECK_OK(tapir_source_release(s));
  CHECK(h_wait_eq(&c1.destroys, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&c2.destroys, 1, h_prompt_ms()));
  h_release_cts(src, tok);
}

/* ---- CT-11 lazy cancellation */

static void ct11_lazy_cancellation(void) {
  for (int pre = 0; pre < 2; pre++) {
    const tapir_cancel_source *src;
    const tapir_cancel_token *tok;
    if (!h_new_cts(&src, &tok)) return;
    if (pre) CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
    const tapir_source *s = h_source();
    const tapir_task *a = h_task_of(s);
    tapir_continuation_options lazy = {sizeof lazy, TAPIR_CONTINUATION_LAZY_CANCELLATION, NULL, tok};
    h_counter c, d;
    h_counter_init(&c);
    h_counter_init(&d);
    const tapir_task *tc = NULL, *td = NULL;
    REQUIRE_OK(tapir_task_continue_with(a, h_count_cont, &c, h_count_destroy, &lazy, &tc));
    REQUIRE_OK(tapir_task_continue_with(tc, h_count_cont, &d, h_count_destroy, NULL, &td));
    if (!pre) CHECK_OK(tapir_cancel_source_cancel(src, 0, NULL));
    h_sleep_ms(100); /* "stays pending" */
    CHECKF(tapir_task_get_status(tc) == TAPIR_TASK_STATUS_PENDING,
           "lazy continuation (%s) ended before its antecedent: status %d", pre ? "pre-canceled" : "canceled later",
           (int)tapir_task_get_status(tc));
    CHECK_EQ(atomic_load(&d.calls), 0);
    CHECK_OK(tapir_source_set_result(s, h_int(3), NULL));
    CHECK_EQ(h_settle(tc), TAPIR_TASK_STATUS_CANCELED);
    CHECK_EQ(h_settle(td), TAPIR_TASK_STATUS_SUCCEEDED);
    CHECK_EQ(atomic_load(&d.calls), 1);
    h_sleep_ms(20);
    CHECK_EQ(atomic_load(&c.calls), 0);
    CHECK_OK(tapir_task_release(td));
    CHECK_OK(tapir_task_release(tc));
    CHECK_OK(tapir_task_release(a));
    CHECK_OK(tapir_source_release(s));
    CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
    CHECK(h_wait_eq(&d.destroys, 1, h_prompt_ms()));
    h_release_cts(src, tok);
  }
}

/* ---- CN-12 tapir_run with a pre-canceled token */

static void run_work(void *ud, const tapir_source *source) {
  h_counter_hit((h_counter *)ud);
  (void)tapir_source_set_result(source, NULL, NULL);
}

static void cn12_run_with_pre_canceled_token(void) {
  const tapir_cancel_token *tok = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&tok));
  h_counter w, k;
  h_counter_init(&w);
  h_counter_init(&k);
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_run(NULL, run_work, &w, h_count_destroy, tok, &t));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_CANCELED);
  void *v = NULL;
  CHECK_ST(tapir_task_result(t, &v), TAPIR_STATUS_CANCELED);
  const tapir_cancel_token *why = NULL;
  CHECK_OK(tapir_task_cancel_token(t, &why));
  CHECK_PTR_EQ(why, tok);
  if (why) tapir_cancel_token_release(why);
  /* its continuations still run */
  REQUIRE_OK(tapir_task_on_complete(t, h_count_cb, &k, h_count_destroy, NULL, NULL));
  CHECK(h_wait_eq(&k.calls, 1, h_prompt_ms()));
  CHECK(h_wait_eq(&w.destroys, 1, h_prompt_ms()));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&w.calls), 0);
  CHECK_OK(tapir_task_release(t));

  /* on the inline scheduler as well */
  const tapir_scheduler *inl = NULL;
  REQUIRE_OK(tapir_scheduler_inline(&inl));
  h_counter_init(&w);
  REQUIRE_OK(tapir_run(inl, run_work, &w, h_count_destroy, tok, &t));
  CHECK_EQ(tapir_task_get_status(t), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(atomic_load(&w.calls), 0);
  CHECK(h_wait_eq(&w.destroys, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  CHECK_OK(tapir_scheduler_release(inl));

  /* a live token that is never canceled does not get in the way */
  const tapir_cancel_source *src;
  const tapir_cancel_token *live;
  if (!h_new_cts(&src, &live)) return;
  h_counter_init(&w);
  REQUIRE_OK(tapir_run(NULL, run_work, &w, h_count_destroy, live, &t));
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(atomic_load(&w.calls), 1);
  CHECK(h_wait_eq(&w.destroys, 1, h_prompt_ms()));
  CHECK_OK(tapir_task_release(t));
  h_release_cts(src, live);
  CHECK_OK(tapir_cancel_token_release(tok));
  CHECK(h_wait_eq(&k.destroys, 1, h_prompt_ms()));
}

/* ---- waits with a token canceled later */

static void cn_waits_with_token(void) {
  const tapir_source *s = h_source();
  const tapir_task *p = h_task_of(s);
  const tapir_task *list[1] = {p};
  size_t idx = 99;

  /* wait_all */
  const tapir_cancel_source *src;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&src, &tok)) return;
  /* the clock starts before the deadline is set: a timer is never early */
  double t0 = h_now_ms();
  CHECK_OK(tapir_cancel_source_cancel_after(src, 50));
  CHECK_ST(tapir_task_wait_all(list, 1, TAPIR_INFINITE, tok), TAPIR_STATUS_CANCELED);
  double took = h_now_ms() - t0;
  CHECKF(took >= 48, "wait_all canceled after %.1f ms", took);
  h_release_cts(src, tok);

  /* wait_any */
  if (!h_new_cts(&src, &tok)) return;
  t0 = h_now_ms();
  CHECK_OK(tapir_cancel_source_cancel_after(src, 50));
  CHECK_ST(tapir_task_wait_any(list, 1, TAPIR_INFINITE, tok, &idx), TAPIR_STATUS_CANCELED);
  took = h_now_ms() - t0;
  CHECKF(took >= 48, "wait_any canceled after %.1f ms", took);
  CHECK_EQ(idx, 99); /* nothing written */
  h_release_cts(src, tok);

  /* tapir_task_wait has no token: the token-aware wait is wait_async + wait */
  if (!h_new_cts(&src, &tok)) return;
  const tapir_task *w = NULL;
  REQUIRE_OK(tapir_task_wait_async(p, TAPIR_INFINITE, tok, &w));
  t0 = h_now_ms();
  CHECK_OK(tapir_cancel_source_cancel_after(src, 50));
  CHECK_ST(tapir_task_wait(w, TAPIR_INFINITE), TAPIR_STATUS_CANCELED);
  took = h_now_ms() - t0;
  CHECKF(took >= 48, "wait on wait_async canceled after %.1f ms", took);
  CHECK_OK(tapir_task_release(w));
  h_release_cts(src, tok);

  /* canceled from another thread while waiting, without a timer */
  if (!h_new_cts(&src, &tok)) return;
  blocker b;
  memset(&b, 0, sizeof b);
  b.src = src;
  pthread_t th = h_spawn(cancel_body, &b);
  CHECK_ST(tapir_task_wait_all(list, 1, TAPIR_INFINITE, tok), TAPIR_STATUS_CANCELED);
  h_join(th);
  h_release_cts(src, tok);

  /* a canceled token is checked first, even when every task has completed */
  const tapir_cancel_token *pre = NULL;
  REQUIRE_OK(tapir_cancel_token_new_canceled(&pre));
  const tapir_task *done = NULL;
  REQUIRE_OK(tapir_task_from_result(NULL, NULL, &done));
  const tapir_task *dl[1] = {done};
  CHECK_ST(tapir_task_wait_all(dl, 1, 0, pre), TAPIR_STATUS_CANCELED);
  CHECK_ST(tapir_task_wait_any(list, 1, TAPIR_INFINITE, pre, &idx), TAPIR_STATUS_CANCELED);
  CHECK_OK(tapir_task_release(done));
  CHECK_OK(tapir_cancel_token_release(pre));

  CHECK_EQ(tapir_task_get_status(p), TAPIR_TASK_STATUS_PENDING); /* never affected */
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_task_release(p));
  CHECK_OK(tapir_source_release(s));
}

void register_cancel_tests(void) {
  REG(cn01_none_token);
  REG(cn02_pre_canceled_token);
  REG(cn03_cancel_runs_callbacks_once_inline);
  REG(cn03_sixteen_threads_cancel_once);
  REG(cn05_register_after_cancel);
  REG(cn_callbacks_run_newest_first);
  REG(cn09_callback_errors_collected);
  REG(cn06_unregister);
  REG(cn_release_source_drops_callbacks_despite_registration);
  REG(cn_unregister_wait_waits_for_running_callback);
  REG(cn_unregister_wait_inside_callback);
  REG(cn10_linked_sources);
  REG(cn11_cancel_after);
  REG(cn_debug_cancel_registrations);
  REG(cn_misuse);
  REG(ct10_continuation_token_eager);
  REG(ct11_lazy_cancellation);
  REG(cn12_run_with_pre_canceled_token);
  REG(cn_waits_with_token);
}
