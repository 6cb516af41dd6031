/* Unwrap / proxy tasks (UW), tapir_source_set_from_task, and the million-deep
 * chains that must not overflow a 256 KiB stack (CT-14, UW-06). */
#include "harness.h"


enum { SMALL_STACK = 256 * 1024 };

static void release_task(const tapir_task *t) {
  const tapir_error *e = NULL;
  if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_FAULTED && tapir_task_error(t, &e) == TAPIR_STATUS_OK)
    tapir_error_release(e);
  CHECK_OK(tapir_task_release(t));
}

/* A task completed as `kind` (H_RESULT with value, H_ERROR with `e`, H_CANCEL). */
static const tapir_task *completed_task(int kind, void *value, const tapir_error *e) {
  const tapir_task *t = NULL;
  if (kind == H_RESULT) CHECK_OK(tapir_task_from_result(value, NULL, &t));
  if (kind == H_ERROR) CHECK_OK(tapir_task_from_error(e, &t));
  if (kind == H_CANCEL) CHECK_OK(tapir_task_from_canceled(NULL, &t));
  return t;
}

/* An already-succeeded outer task whose value is (a new reference to) inner. */
static const tapir_task *outer_of(const tapir_task *inner) {
  const tapir_task *outer = NULL;
  const tapir_task *ref = inner ? tapir_task_retain(inner) : NULL;
  CHECK_OK(tapir_task_from_result((void *)ref, inner ? h_release_task_value : NULL, &outer));
  return outer;
}

/* `t` mirrors `kind`: same value, or the very error `e`, or canceled. */
static void check_mirrors(const tapir_task *t, int kind, void *value, const tapir_error *e, const char *what) {
  int32_t st = tapir_task_get_status(t);
  if (kind == H_RESULT) {
    void *v = NULL;
    CHECKF(st == TAPIR_TASK_STATUS_SUCCEEDED, "%s: status %d, want succeeded", what, (int)st);
    CHECK_OK(tapir_task_result(t, &v));
    CHECKF(v == value, "%s: result %p, want %p", what, v, value);
  } else if (kind == H_ERROR) {
    CHECKF(st == TAPIR_TASK_STATUS_FAULTED, "%s: status %d, want faulted", what, (int)st);
    CHECKF(tapir_task_error_count(t) == 1, "%s: %zu errors, want exactly 1 (no nesting)", what,
           tapir_task_error_count(t));
    const tapir_error *got = NULL;
    CHECK_OK(tapir_task_error(t, &got));
    CHECKF(got == e, "%s: a different error object came back", what);
    tapir_error_release(got);
  } else {
    CHECKF(st == TAPIR_TASK_STATUS_CANCELED, "%s: status %d, want canceled", what, (int)st);
  }
}

static void uw01_outer_and_inner_complete(void) {
  const tapir_error *e = h_error(71, "inner failed");
  for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
    const tapir_task *inner = completed_task(kind, h_int(123), e);
    const tapir_task *outer = outer_of(inner);
    const tapir_task *u = NULL;
    REQUIRE_OK(tapir_task_unwrap(outer, &u));
    CHECKF(tapir_task_is_completed(u), "kind %d: unwrap of completed tasks not terminal on return", kind);
    check_mirrors(u, kind, h_int(123), e, "uw01");
    release_task(u);
    CHECK_OK(tapir_task_release(outer));
    release_task(inner);
  }
  tapir_error_release(e);
}

static void uw02_outer_pending_inner_complete(void) {
  const tapir_error *e = h_error(72, "inner failed");
  for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
    const tapir_source *os = h_source();
    const tapir_task *outer = h_task_of(os);
    const tapir_task *inner = completed_task(kind, h_int(5), e);
    const tapir_task *u = NULL;
    REQUIRE_OK(tapir_task_unwrap(outer, &u));
    h_sleep_ms(5);
    CHECK_EQ(tapir_task_get_status(u), TAPIR_TASK_STATUS_PENDING);
    CHECK_OK(tapir_source_set_result(os, (void *)tapir_task_retain(inner), h_release_task_value));
    h_settle(u);
    check_mirrors(u, kind, h_int(5), e, "uw02");
    release_task(u);
    CHECK_OK(tapir_source_release(os));
    CHECK_OK(tapir_task_release(outer));
    release_task(inner);
  }
  tapir_error_release(e);
}

static void uw03_outer_complete_inner_pending(void) {
  const tapir_error *e = h_error(73, "inner failed");
  for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
    const tapir_source *is = h_source();
    const tapir_task *inner = h_task_of(is);
    const tapir_task *outer = outer_of(inner);
    const tapir_task *u = NULL;
    REQUIRE_OK(tapir_task_unwrap(outer, &u));
    h_sleep_ms(5);
    CHECK_EQ(tapir_task_get_status(u), TAPIR_TASK_STATUS_PENDING);
    if (kind == H_RESULT) CHECK_OK(tapir_source_set_result(is, h_int(9), NULL));
    if (kind == H_ERROR) CHECK_OK(tapir_source_set_error(is, e));
    if (kind == H_CANCEL) CHECK_OK(tapir_source_set_canceled(is, NULL));
    h_settle(u);
    check_mirrors(u, kind, h_int(9), e, "uw03");
    release_task(u);
    CHECK_OK(tapir_source_release(is));
    CHECK_OK(tapir_task_release(outer));
    release_task(inner);
  }
  tapir_error_release(e);
}

static void uw05_unsuccessful_outer_or_null_inner(void) {
  const tapir_error *e = h_error(75, "outer failed");
  for (int before = 0; before < 2; before++) {
    for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
      /* kind H_RESULT here means: outer succeeded with a NULL inner -> canceled */
      const tapir_source *os = h_source();
      const tapir_task *outer = h_task_of(os);
      const tapir_task *u = NULL;
      if (before) REQUIRE_OK(tapir_task_unwrap(outer, &u));
      if (kind == H_RESULT) CHECK_OK(tapir_source_set_result(os, NULL, NULL));
      if (kind == H_ERROR) CHECK_OK(tapir_source_set_error(os, e));
      if (kind == H_CANCEL) CHECK_OK(tapir_source_set_canceled(os, NULL));
      if (!before) REQUIRE_OK(tapir_task_unwrap(outer, &u));
      h_settle(u);
      check_mirrors(u, kind == H_RESULT ? H_CANCEL : kind, NULL, e, before ? "uw05 (unwrap first)" : "uw05");
      release_task(u);
      CHECK_OK(tapir_source_release(os));
      release_task(outer);
    }
  }
  tapir_error_release(e);
}

static void unwrap_arguments(void) {
  const tapir_task *outer = outer_of(NULL), *u = NULL;
  size_t live = h_live();
  CHECK_ST(tapir_task_unwrap(outer, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_unwrap(NULL, &u), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(u == NULL);
  CHECK_EQ(h_live(), live);
  CHECK_OK(tapir_task_release(outer));
  CHECK_ST(tapir_task_unwrap(h_stale_task(), &u), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(u == NULL);
}

/* ---- tapir_source_set_from_task */

static void set_from_task_mirrors(void) {
  const tapir_error *e = h_error(81, "e");
  for (int pending = 0; pending < 2; pending++) {
    for (int kind = H_RESULT; kind <= H_CANCEL; kind++) {
      const tapir_source *src = h_source(), *ps = NULL;
      const tapir_task *st = h_task_of(src), *p = NULL;
      if (pending) {
        ps = h_source();
        p = h_task_of(ps);
      } else {
        p = completed_task(kind, h_int(17), e);
      }
      CHECK_OK(tapir_source_set_from_task(src, p));
      if (pending) {
        h_sleep_ms(5);
        CHECK_EQ(tapir_task_get_status(st), TAPIR_TASK_STATUS_PENDING);
        if (kind == H_RESULT) CHECK_OK(tapir_source_set_result(ps, h_int(17), NULL));
        if (kind == H_ERROR) CHECK_OK(tapir_source_set_error(ps, e));
        if (kind == H_CANCEL) CHECK_OK(tapir_source_set_canceled(ps, NULL));
        h_settle(st);
      } else {
        CHECKF(tapir_task_is_completed(st), "set_from_task(completed %d) did not complete the source at once", kind);
      }
      check_mirrors(st, kind, h_int(17), e, pending ? "set_from_task (pending)" : "set_from_task");
      CHECK_OK(tapir_source_release(src));
      release_task(st);
      if (ps) CHECK_OK(tapir_source_release(ps));
      release_task(p);
    }
  }
  tapir_error_release(e);
}

static void set_from_task_keeps_source_alive(void) {
  /* the binding holds the source: releasing our handle is not a broken promise */
  const tapir_source *src = h_source(), *ps = h_source();
  const tapir_task *st = h_task_of(src), *p = h_task_of(ps);
  CHECK_OK(tapir_source_set_from_task(src, p));
  CHECK_OK(tapir_source_release(src));
  h_sleep_ms(5);
  CHECK_EQ(tapir_task_get_status(st), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_result(ps, h_int(3), NULL));
  h_settle(st);
  check_mirrors(st, H_RESULT, h_int(3), NULL, "set_from_task after source release");
  CHECK_OK(tapir_source_release(ps));
  release_task(st);
  CHECK_OK(tapir_task_release(p));
}

static void set_from_task_arguments(void) {
  const tapir_source *src = h_source();
  const tapir_task *st = h_task_of(src);
  const tapir_task *done = NULL;
  REQUIRE_OK(tapir_task_from_result(h_int(1), NULL, &done));
  CHECK_ST(tapir_source_set_from_task(NULL, done), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_source_set_from_task(src, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_source_set_from_task(src, h_stale_task()), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_source_set_from_task((const tapir_source *)done, done), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(tapir_task_get_status(st), TAPIR_TASK_STATUS_PENDING);
  CHECK_OK(tapir_source_set_from_task(src, done));
  CHECK_ST(tapir_source_set_from_task(src, done), TAPIR_STATUS_ALREADY_COMPLETED);
  CHECK_OK(tapir_source_release(src));
  CHECK_ST(tapir_source_set_from_task(src, done), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_task_release(st));
  CHECK_OK(tapir_task_release(done));
}

/* ---- a million synchronous continue_with links, completed on a small stack */

static atomic_long chain_seq, chain_out_of_order;

static void chain_link(void *ud, const tapir_task *antecedent, const tapir_source *next) {
  long idx = (long)(uintptr_t)ud;
  if (atomic_fetch_add(&chain_seq, 1) != idx) atomic_fetch_add(&chain_out_of_order, 1);
  void *v = NULL;
  (void)tapir_task_result(antecedent, &v);
  (void)tapir_source_set_result(next, (void *)((uintptr_t)v + 1), NULL);
}

typedef struct {
  const tapir_source *source;
  const tapir_task **tasks;
  long n;
  int32_t set_status;
} deep_job;

static void *complete_on_small_stack(void *arg) {
  deep_job *j = (deep_job *)arg;
  j->set_status = tapir_source_set_result(j->source, h_int(0), NULL);
  return NULL;
}

static void *release_on_small_stack(void *arg) {
  deep_job *j = (deep_job *)arg;
  for (long i = 0; i <= j->n; i++) tapir_task_release(j->tasks[i]);
  return NULL;
}

static void deep_sync_continue_with_chain(void) {
  long n = h_deep_n();
  deep_job j = {h_source(), calloc((size_t)n + 1, sizeof(const tapir_task *)), n, -1};
  REQUIRE(j.tasks != NULL);
  atomic_store(&chain_seq, 0);
  atomic_store(&chain_out_of_order, 0);
  j.tasks[0] = h_task_of(j.source);
  for (long i = 1; i <= n; i++) {
    int32_t st = tapir_task_continue_with(j.tasks[i - 1], chain_link, h_int((uintptr_t)(i - 1)), NULL, h_sync(),
                                          &j.tasks[i]);
    if (st != TAPIR_STATUS_OK) {
      CHECKF(false, "link %ld: continue_with -> %s", i, h_status_name(st));
      n = j.n = i - 1;
      break;
    }
  }
  double t0 = h_now_ms();
  h_run_on_stack(complete_on_small_stack, &j, SMALL_STACK);
  CHECK_OK(j.set_status);
  CHECK_OK(tapir_task_wait(j.tasks[n], h_slow() ? 600000 : 60000));
  void *v = NULL;
  CHECK_OK(tapir_task_result(j.tasks[n], &v));
  CHECKF((long)(uintptr_t)v == n, "last link result %ld, want %ld", (long)(uintptr_t)v, n);
  CHECK_EQ(atomic_load(&chain_seq), n);
  CHECK_EQ(atomic_load(&chain_out_of_order), 0);
  printf("    %ld links completed in %.0f ms\n", n, h_now_ms() - t0);
  CHECK_OK(tapir_source_release(j.source));
  h_run_on_stack(release_on_small_stack, &j, SMALL_STACK);
  free(j.tasks);
}

static void deep_nested_unwraps(void) {
  long n = h_deep_n();
  deep_job j = {h_source(), calloc((size_t)n + 1, sizeof(const tapir_task *)), n, -1};
  REQUIRE(j.tasks != NULL);
  j.tasks[0] = h_task_of(j.source);
  /* u[i] = unwrap(from_result(u[i-1])): each proxy mirrors the one before */
  for (long i = 1; i <= n; i++) {
    const tapir_task *outer = outer_of(j.tasks[i - 1]);
    int32_t st = tapir_task_unwrap(outer, &j.tasks[i]);
    tapir_task_release(outer);
    if (st != TAPIR_STATUS_OK) {
      CHECKF(false, "level %ld: unwrap -> %s", i, h_status_name(st));
      n = j.n = i - 1;
      break;
    }
  }
  CHECK_EQ(tapir_task_get_status(j.tasks[n]), TAPIR_TASK_STATUS_PENDING);
  double t0 = h_now_ms();
  h_run_on_stack(complete_on_small_stack, &j, SMALL_STACK);
  CHECK_OK(j.set_status);
  CHECK_OK(tapir_task_wait(j.tasks[n], h_slow() ? 600000 : 60000));
  void *v = h_int(1);
  CHECK_OK(tapir_task_result(j.tasks[n], &v));
  CHECK(v == h_int(0));
  printf("    %ld nested unwraps completed in %.0f ms\n", n, h_now_ms() - t0);
  CHECK_OK(tapir_source_release(j.source));
  h_run_on_stack(release_on_small_stack, &j, SMALL_STACK);
  free(j.tasks);
}

/* Dropping a long chain that never completed must not recurse either: the last
 * handles go away on a small stack, each dropping the next link. */
static void *drop_chain_on_small_stack(void *arg) {
  deep_job *j = (deep_job *)arg;
  for (long i = j->n; i >= 1; i--) tapir_task_release(j->tasks[i]);
  tapir_source_set_canceled(j->source, NULL);
  tapir_source_release(j->source);
  tapir_task_release(j->tasks[0]);
  return NULL;
}

static void deep_chain_released_uncompleted(void) {
  long n = h_deep_n();
  deep_job j = {h_source(), calloc((size_t)n + 1, sizeof(const tapir_task *)), n, -1};
  REQUIRE(j.tasks != NULL);
  j.tasks[0] = h_task_of(j.source);
  for (long i = 1; i <= n; i++)
    if (tapir_task_continue_with(j.tasks[i - 1], chain_link, h_int((uintptr_t)(i - 1)), NULL, h_sync(),
                                 &j.tasks[i]) != TAPIR_STATUS_OK) {
      CHECKF(false, "link %ld failed", i);
      n = j.n = i - 1;
      break;
    }
  atomic_store(&chain_seq, 0);
  atomic_store(&chain_out_of_order, 0);
  /* releasing every handle from the end leaves the chain owned by the library;
   * canceling the head then runs the whole chain (each link completes its next),
   * and the runner's live-object check proves every link was freed */
  h_run_on_stack(drop_chain_on_small_stack, &j, SMALL_STACK);
  CHECK(h_wait_eq_long(&chain_seq, n, h_slow() ? 600000 : 60000));
  CHECK_EQ(atomic_load(&chain_out_of_order), 0);
  free(j.tasks);
}

void register_unwrap_tests(void) {
  REG(uw01_outer_and_inner_complete);
  REG(uw02_outer_pending_inner_complete);
  REG(uw03_outer_complete_inner_pending);
  REG(uw05_unsuccessful_outer_or_null_inner);
  REG(unwrap_arguments);
  REG(set_from_task_mirrors);
  REG(set_from_task_keeps_source_alive);
  REG(set_from_task_arguments);
  REG(deep_sync_continue_with_chain);
  REG(deep_nested_unwraps);
  REG(deep_chain_released_uncompleted);
}
