/* Error objects (ER), the unobserved-error hook (ER-05) and the panic boundary (ER-07). */
#include "harness.h"

/* ---------------------------------------------------------- error objects */

static void error_new_roundtrip(void) {
  /* Messages are bytes with a length: an embedded NUL and UTF-8 survive. */
  static const uint8_t msg[] = {'b', 'a', 'd', 0, ' ', 0xC3, 0xA9, '!'};
  atomic_int destroyed = 0; /* the payload is this counter; its destroy bumps it */
  const tapir_error *e = NULL;
  REQUIRE_OK(tapir_error_new(42, msg, sizeof msg, &destroyed, h_bump_destroy, &e));
  CHECK(e != NULL);
  CHECK_EQ(tapir_error_code(e), 42);
  size_t len = 0;
  const uint8_t *m = tapir_error_message(e, &len);
  CHECK(m != NULL);
  CHECK_EQ(len, sizeof msg);
  if (m && len == sizeof msg) CHECK(memcmp(m, msg, sizeof msg) == 0);
  CHECK_PTR_EQ(tapir_error_payload(e), &destroyed);
  CHECK_EQ(tapir_error_inner_count(e), 0);
  CHECK_EQ(atomic_load(&destroyed), 0);
  CHECK_OK(tapir_error_release(e));
  /* the payload is destroyed, exactly once, when the last reference goes */
  CHECK_EQ(atomic_load(&destroyed), 1);

  /* no payload, negative code, empty message given as NULL + 0 */
  const tapir_error *e2 = NULL;
  REQUIRE_OK(tapir_error_new(-7, NULL, 0, NULL, NULL, &e2));
  CHECK_EQ(tapir_error_code(e2), -7);
  CHECK(tapir_error_payload(e2) == NULL);
  len = 99;
  CHECK(tapir_error_message(e2, &len) != NULL); /* empty: non-NULL, length 0 */
  CHECK_EQ(len, 0);
  CHECK_OK(tapir_error_release(e2));
}

static void error_payload_destroy_once(void) {
  atomic_int destroyed = 0;
  const tapir_error *e = NULL;
  REQUIRE_OK(tapir_error_new(1, (const uint8_t *)"x", 1, &destroyed, h_bump_destroy, &e));

  /* retain returns the same handle; the payload lives until the last release */
  CHECK_PTR_EQ(tapir_error_retain(e), e);
  CHECK_OK(tapir_error_release(e));
  CHECK_EQ(atomic_load(&destroyed), 0);

  /* a faulted task holds the error: releasing our handle destroys nothing yet */
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_OK(tapir_error_release(e));
  CHECK_EQ(atomic_load(&destroyed), 0);
  const tapir_error *seen = NULL;
  CHECK_OK(tapir_task_error(t, &seen)); /* observe it, so no unobserved report */
  CHECK_PTR_EQ(tapir_error_payload(seen), &destroyed);
  CHECK_OK(tapir_error_release(seen));
  CHECK_EQ(atomic_load(&destroyed), 0);
  CHECK_OK(tapir_task_release(t));
  CHECK(h_wait_eq(&destroyed, 1, h_prompt_ms()));
  h_sleep_ms(20);
  CHECK_EQ(atomic_load(&destroyed), 1);
}

static void error_new_arguments(void) {
  size_t live = h_live();
  atomic_int destroyed = 0;
  /* NULL out-pointer: nothing is created and the payload stays the caller's */
  CHECK_ST(tapir_error_new(1, (const uint8_t *)"m", 1, &destroyed, h_bump_destroy, NULL),
           TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(atomic_load(&destroyed), 0);
  CHECK_EQ(h_live(), live);
  /* NULL message with a non-zero length */
  const tapir_error *e = (const tapir_error *)h_int(0x1);
  CHECK_ST(tapir_error_new(1, NULL, 5, &destroyed, h_bump_destroy, &e),
           TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_PTR_EQ(e, h_int(0x1)); /* out-pointers are written only on success */
  CHECK_EQ(atomic_load(&destroyed), 0);
  CHECK_EQ(h_live(), live);
  /* a message that is not UTF-8 */
  static const uint8_t not_utf8[] = {'a', 0xFF, 0xFE, 'b'};
  CHECK_ST(tapir_error_new(1, not_utf8, sizeof not_utf8, &destroyed, h_bump_destroy, &e),
           TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_PTR_EQ(e, h_int(0x1));
  CHECK_EQ(atomic_load(&destroyed), 0);
  CHECK_EQ(h_live(), live);
  /* aggregate: NULL out, NULL list with a count */
  const tapir_error *a = h_error(2, "a");
  const tapir_error *list[] = {a};
  CHECK_ST(tapir_error_new_aggregate(3, NULL, 0, list, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_error *agg = NULL;
  CHECK_ST(tapir_error_new_aggregate(3, NULL, 0, NULL, 2, &agg), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(agg == NULL);
  /* a list containing NULL (the header documents NULL_ARGUMENT here, where
   * set_error_list and wait_all say INVALID_ARGUMENT) */
  const tapir_error *with_null[] = {a, NULL};
  CHECK_ST(tapir_error_new_aggregate(3, NULL, 0, with_null, 2, &agg), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(agg == NULL);
  /* a stale inner handle */
  const tapir_error *dead = h_error(4, "dead");
  CHECK_OK(tapir_error_release(dead));
  const tapir_error *with_dead[] = {a, dead};
  CHECK_ST(tapir_error_new_aggregate(3, NULL, 0, with_dead, 2, &agg), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(agg == NULL);
  CHECK_OK(tapir_error_release(a));
  CHECK_EQ(h_live(), live);
}

static void error_aggregate_order(void) {
  const tapir_error *e1 = h_error(1, "one");
  const tapir_error *e2 = h_error(2, "two");
  const tapir_error *e3 = h_error(3, "three");
  const tapir_error *list[] = {e2, e1, e3, e2};
  const tapir_error *agg = NULL;
  REQUIRE_OK(tapir_error_new_aggregate(100, (const uint8_t *)"many", 4, list, 4, &agg));
  /* the aggregate keeps its inner errors alive after the caller lets go */
  CHECK_OK(tapir_error_release(e1));
  CHECK_OK(tapir_error_release(e3));
  CHECK_EQ(tapir_error_code(agg), 100);
  size_t len = 0;
  const uint8_t *m = tapir_error_message(agg, &len);
  CHECK(len == 4 && m && memcmp(m, "many", 4) == 0);
  CHECK_EQ(tapir_error_inner_count(agg), 4);
  const int32_t want[] = {2, 1, 3, 2};
  for (size_t i = 0; i < 4; i++) {
    const tapir_error *in = NULL;
    CHECK_OK(tapir_error_inner(agg, i, &in));
    CHECKF(tapir_error_code(in) == want[i], "inner %zu: code %d, want %d", i,
           (int)tapir_error_code(in), (int)want[i]);
    CHECK_OK(tapir_error_release(in));
  }
  /* identity: the same error object comes back */
  const tapir_error *first = NULL;
  CHECK_OK(tapir_error_inner(agg, 0, &first));
  CHECK_PTR_EQ(first, e2);
  CHECK_OK(tapir_error_release(first));
  /* out of range, NULL out-pointer */
  const tapir_error *none = NULL;
  CHECK_ST(tapir_error_inner(agg, 4, &none), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(none == NULL);
  CHECK_ST(tapir_error_inner(agg, 0, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_error_inner(NULL, 0, &none), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_error_release(e2));
  CHECK_OK(tapir_error_release(agg));
}

/* Codes of the inner errors of `e`, written to out[]; returns how many. */
static size_t inner_codes(const tapir_error *e, int32_t *out, size_t max) {
  size_t n = tapir_error_inner_count(e);
  for (size_t i = 0; i < n && i < max; i++) {
    const tapir_error *in = NULL;
    if (tapir_error_inner(e, i, &in) == TAPIR_STATUS_OK) {
      out[i] = tapir_error_code(in);
      tapir_error_release(in);
    }
  }
  return n;
}

static void error_flatten(void) {
  const tapir_error *a = h_error(1, "A"), *b = h_error(2, "B"), *c = h_error(3, "C");
  const tapir_error *abc[] = {a, b, c};
  const tapir_error *agg1 = NULL, *agg2 = NULL, *outer = NULL, *flat = NULL;
  REQUIRE_OK(tapir_error_new_aggregate(10, NULL, 0, abc, 3, &agg1));
  REQUIRE_OK(tapir_error_new_aggregate(10, NULL, 0, abc, 3, &agg2));
  const tapir_error *two[] = {agg1, agg2};
  REQUIRE_OK(tapir_error_new_aggregate(20, NULL, 0, two, 2, &outer));

  /* [agg(A,B,C), agg(A,B,C)] flattens to [A,B,C,A,B,C] */
  REQUIRE_OK(tapir_error_flatten(outer, &flat));
  int32_t codes[16] = {0};
  size_t n = inner_codes(flat, codes, 16);
  CHECK_EQ(n, 6);
  const int32_t want[] = {1, 2, 3, 1, 2, 3};
  for (size_t i = 0; i < 6 && i < n; i++)
    CHECKF(codes[i] == want[i], "flat[%zu] = %d, want %d", i, (int)codes[i], (int)want[i]);
  CHECK_OK(tapir_error_release(flat));

  /* an already flat aggregate stays [A,B,C] */
  REQUIRE_OK(tapir_error_flatten(agg1, &flat));
  n = inner_codes(flat, codes, 16);
  CHECK_EQ(n, 3);
  CHECK(codes[0] == 1 && codes[1] == 2 && codes[2] == 3);
  CHECK_OK(tapir_error_release(flat));

  /* deeper nesting: agg(A, agg(B, agg(C))) -> [A, B, C] */
  const tapir_error *l3 = NULL, *l2 = NULL, *l1 = NULL;
  const tapir_error *only_c[] = {c};
  REQUIRE_OK(tapir_error_new_aggregate(30, NULL, 0, only_c, 1, &l3));
  const tapir_error *b_l3[] = {b, l3};
  REQUIRE_OK(tapir_error_new_aggregate(31, NULL, 0, b_l3, 2, &l2));
  const tapir_error *a_l2[] = {a, l2};
  REQUIRE_OK(tapir_error_new_aggregate(32, NULL, 0, a_l2, 2, &l1));
  REQUIRE_OK(tapir_error_flatten(l1, &flat));
  n = inner_codes(flat, codes, 16);
  CHECK_EQ(n, 3);
  CHECK(codes[0] == 1 && codes[1] == 2 && codes[2] == 3);
  CHECK_OK(tapir_error_release(flat));

  /* the flat aggregate keeps the code (and message) of the one flattened */
  REQUIRE_OK(tapir_error_flatten(outer, &flat));
  CHECK_EQ(tapir_error_code(flat), 20);
  CHECK_OK(tapir_error_release(flat));
  /* a plain error flattens to an aggregate with no inner errors */
  REQUIRE_OK(tapir_error_flatten(a, &flat));
  CHECK_EQ(tapir_error_inner_count(flat), 0);
  CHECK_EQ(tapir_error_code(flat), 1);
  CHECK_OK(tapir_error_release(flat));

  CHECK_ST(tapir_error_flatten(outer, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_error_flatten(NULL, &flat), TAPIR_STATUS_NULL_ARGUMENT);

  const tapir_error *all[] = {a, b, c, agg1, agg2, outer, l1, l2, l3};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) CHECK_OK(tapir_error_release(all[i]));
}

static void error_handle_rules(void) {
  CHECK_OK(tapir_error_release(NULL));
  CHECK(tapir_error_retain(NULL) == NULL);
  const tapir_error *e = h_error(5, "five");
  CHECK_OK(tapir_error_release(e));
  /* stale handle: every entry point reports it, none touches freed memory */
  CHECK_ST(tapir_error_release(e), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_error_retain(e) == NULL);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_error_code(e), 0);
  size_t len = 77;
  CHECK(tapir_error_message(e, &len) == NULL);
  CHECK(tapir_error_payload(e) == NULL);
  CHECK_EQ(tapir_error_inner_count(e), 0);
  const tapir_error *out = NULL;
  CHECK_ST(tapir_error_inner(e, 0, &out), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_error_flatten(e, &out), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(out == NULL);
  /* NULL handle: getters return their documented defaults */
  CHECK_EQ(tapir_error_code(NULL), 0);
  CHECK(tapir_error_message(NULL, &len) == NULL);
  CHECK(tapir_error_payload(NULL) == NULL);
  CHECK_EQ(tapir_error_inner_count(NULL), 0);
  /* a live error with a NULL len_out: NULL_ARGUMENT, or the message anyway */
  const tapir_error *live = h_error(6, "six");
  const uint8_t *m = tapir_error_message(live, NULL);
  if (m == NULL) CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_error_release(live));
}

/* ------------------------------------------------------ unobserved errors */

typedef struct {
  atomic_int calls;
  atomic_ullong last_id;
  atomic_int last_count;
  atomic_int last_code;
} hook_rec;

/* The hook gets the task's id and its errors, borrowed for the call. */
static void hook_fn(void *user_data, uint64_t task_id, const tapir_error *const *errors, size_t count) {
  hook_rec *r = (hook_rec *)user_data;
  atomic_store(&r->last_id, task_id);
  atomic_store(&r->last_count, (int)count);
  atomic_store(&r->last_code, count > 0 && errors ? tapir_error_code(errors[0]) : -1);
  atomic_fetch_add(&r->calls, 1);
}

static hook_rec hook_record;

static void hook_install(void) {
  atomic_store(&hook_record.calls, 0);
  atomic_store(&hook_record.last_id, 0);
  atomic_store(&hook_record.last_code, 0);
  atomic_store(&hook_record.last_count, 0);
  CHECK_OK(tapir_set_unobserved_error_hook(hook_fn, &hook_record));
}

/* After the last release, the hook either has fired (promptly) or never will;
 * a short quiet period guards against late duplicates. */
static void expect_hook_calls(int n) {
  if (n > 0) CHECK(h_wait_ge(&hook_record.calls, n, h_prompt_ms()));
  h_sleep_ms(50);
  CHECK_EQ(atomic_load(&hook_record.calls), n);
}

static void unobserved_fires_once(void) {
  hook_install();
  /* (a) a pre-faulted task released without anyone reading its error */
  const tapir_error *e = h_error(77, "lost");
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_error(e, &t));
  uint64_t id = tapir_task_id(t);
  CHECK_OK(tapir_error_release(e));
  CHECK_PTR_EQ(tapir_task_retain(t), t);
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(0); /* one handle remains */
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(1);
  CHECK_EQ(atomic_load(&hook_record.last_id), id);
  CHECK_EQ(atomic_load(&hook_record.last_count), 1);
  CHECK_EQ(atomic_load(&hook_record.last_code), 77);

  /* (a') a source's task faulted and released (source released too) */
  atomic_store(&hook_record.calls, 0);
  const tapir_source *s = h_source();
  const tapir_task *st = h_task_of(s);
  const tapir_error *e2 = h_error(78, "lost too");
  CHECK_OK(tapir_source_set_error(s, e2));
  CHECK_OK(tapir_error_release(e2));
  id = tapir_task_id(st);
  CHECK_OK(tapir_task_release(st));
  expect_hook_calls(0); /* the source still refers to the task */
  CHECK_OK(tapir_source_release(s));
  expect_hook_calls(1);
  CHECK_EQ(atomic_load(&hook_record.last_id), id);
  CHECK_EQ(atomic_load(&hook_record.last_code), 78);

  /* (a'') several errors: the hook sees all of them, in order */
  atomic_store(&hook_record.calls, 0);
  s = h_source();
  const tapir_error *two[] = {h_error(91, "first"), h_error(92, "second")};
  CHECK_OK(tapir_source_set_error_list(s, two, 2));
  tapir_error_release(two[0]);
  tapir_error_release(two[1]);
  CHECK_OK(tapir_source_release(s));
  expect_hook_calls(1);
  CHECK_EQ(atomic_load(&hook_record.last_count), 2);
  CHECK_EQ(atomic_load(&hook_record.last_code), 91);
  CHECK_OK(tapir_set_unobserved_error_hook(NULL, NULL));
}

static void unobserved_not_when_read(void) {
  hook_install();
  const tapir_error *e = h_error(5, "seen");
  const tapir_error *out = NULL;
  const tapir_task *t = NULL;

  /* tapir_task_error marks the error observed */
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_OK(tapir_task_error(t, &out));
  CHECK_OK(tapir_error_release(out));
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(0);

  /* so does reading it by index */
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_OK(tapir_task_error_at(t, 0, &out));
  CHECK_OK(tapir_error_release(out));
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(0);

  /* and counting them */
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_EQ(tapir_task_error_count(t), 1);
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(0);

  /* Waiting on it, or asking for its result, observes it too. */
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_ST(tapir_task_wait(t, 0), TAPIR_STATUS_FAULTED);
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(0);
  REQUIRE_OK(tapir_task_from_error(e, &t));
  void *v = NULL;
  CHECK_ST(tapir_task_result(t, &v), TAPIR_STATUS_FAULTED);
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(0);

  CHECK_OK(tapir_error_release(e));
  CHECK_OK(tapir_set_unobserved_error_hook(NULL, NULL));
}

static void unobserved_not_for_canceled_or_success(void) {
  hook_install();
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_canceled(NULL, &t));
  CHECK_OK(tapir_task_release(t));
  const tapir_source *s = h_source();
  CHECK_OK(tapir_source_set_canceled(s, NULL));
  CHECK_OK(tapir_source_release(s));
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &t));
  CHECK_OK(tapir_task_release(t));
  expect_hook_calls(0);
  CHECK_OK(tapir_set_unobserved_error_hook(NULL, NULL));
}

static void unobserved_hook_removed_and_replaced(void) {
  hook_install();
  hook_rec other = {0};
  CHECK_OK(tapir_set_unobserved_error_hook(hook_fn, &other)); /* replaces */
  const tapir_error *e = h_error(9, "x");
  const tapir_task *t = NULL;
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_OK(tapir_task_release(t));
  CHECK(h_wait_eq(&other.calls, 1, h_prompt_ms()));
  expect_hook_calls(0);

  /* NULL removes the hook: nothing is called, nothing breaks */
  CHECK_OK(tapir_set_unobserved_error_hook(NULL, NULL));
  REQUIRE_OK(tapir_task_from_error(e, &t));
  CHECK_OK(tapir_task_release(t));
  h_sleep_ms(50);
  CHECK_EQ(atomic_load(&other.calls), 1);
  CHECK_EQ(atomic_load(&hook_record.calls), 0);
  CHECK_OK(tapir_error_release(e));
}

/* ----------------------------------------------------------------- panics */

static void debug_panic_faults_task(void) {
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  h_counter c;
  h_counter_init(&c);
  CHECK_OK(tapir_task_on_complete(t, h_count_cb, &c, h_count_destroy, NULL, NULL));
  CHECK_ST(tapir_debug_panic(s), TAPIR_STATUS_PANIC);
  /* the process survives; the task is faulted with a PANIC error */
  CHECK_EQ(h_settle(t), TAPIR_TASK_STATUS_FAULTED);
  const tapir_error *e = NULL;
  CHECK_OK(tapir_task_error(t, &e));
  CHECK_EQ(tapir_error_code(e), TAPIR_STATUS_PANIC);
  CHECK_OK(tapir_error_release(e));
  CHECK(h_wait_eq(&c.destroys, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&c.calls), 1);
  CHECK(!tapir_source_try_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release(s));
  CHECK_OK(tapir_task_release(t));

  /* the library still works afterwards, on this thread and on the pool */
  const tapir_task *ok = NULL;
  CHECK_OK(tapir_task_from_result(h_int(3), NULL, &ok));
  const tapir_task *cont = NULL;
  h_counter c2;
  h_counter_init(&c2);
  CHECK_OK(tapir_task_continue_with(ok, h_count_cont, &c2, NULL, NULL, &cont));
  CHECK_EQ(h_settle(cont), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_OK(tapir_task_release(cont));
  CHECK_OK(tapir_task_release(ok));

  CHECK_ST(tapir_debug_panic(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_debug_panic(s), TAPIR_STATUS_INVALID_HANDLE);
}

void register_error_tests(void) {
  REG(error_new_roundtrip);
  REG(error_payload_destroy_once);
  REG(error_new_arguments);
  REG(error_aggregate_order);
  REG(error_flatten);
  REG(error_handle_rules);
  REG(unobserved_fires_once);
  REG(unobserved_not_when_read);
  REG(unobserved_not_for_canceled_or_success);
  REG(unobserved_hook_removed_and_replaced);
  REG(debug_panic_faults_task);
}
