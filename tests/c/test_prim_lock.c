/* Coordination primitives: async lock, reader-writer lock, lock guards. */
#include "prims.h"

/* The guard a granted acquire task holds, or NULL. */
static const tapir_lock_guard *guard_of(const tapir_task *t) {
  void *v = NULL;
  if (tapir_task_result(t, &v) != TAPIR_STATUS_OK) return NULL;
  return (const tapir_lock_guard *)v;
}

static void lock_hands_over_in_order(void) {
  const tapir_lock *l = NULL;
  REQUIRE_OK(tapir_lock_new(&l));
  CHECK(!tapir_lock_is_held(l));
  const tapir_task *a = NULL, *b = NULL, *c = NULL;
  REQUIRE_OK(tapir_lock_acquire_async(l, -1, NULL, &a));
  CHECK(guard_of(a) != NULL);
  CHECK(tapir_lock_is_held(l));
  REQUIRE_OK(tapir_lock_acquire_async(l, -1, NULL, &b));
  REQUIRE_OK(tapir_lock_acquire_async(l, -1, NULL, &c));
  CHECK(p_pending(b) && p_pending(c));
  const tapir_lock_guard *g = NULL;
  CHECK(!tapir_lock_try_acquire(l, &g));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_TIMEOUT);
  CHECK(g == NULL);
  /* releasing the task releases its guard: the lock goes to b, then c */
  tapir_task_release(a);
  CHECK(h_settle(b) == TAPIR_TASK_STATUS_SUCCEEDED && guard_of(b) != NULL);
  CHECK(p_pending(c));
  /* keep b's guard past its task */
  const tapir_lock_guard *bg = tapir_lock_guard_retain(guard_of(b));
  CHECK(bg != NULL);
  tapir_task_release(b);
  CHECK(p_pending(c));
  CHECK_OK(tapir_lock_guard_release(bg));
  CHECK(h_settle(c) == TAPIR_TASK_STATUS_SUCCEEDED && guard_of(c) != NULL);
  tapir_task_release(c);
  CHECK(!tapir_lock_is_held(l));
  CHECK(tapir_lock_try_acquire(l, &g));
  CHECK(tapir_lock_is_held(l));
  CHECK_ST(tapir_lock_guard_release(g), TAPIR_STATUS_OK);
  CHECK_ST(tapir_lock_guard_release(g), TAPIR_STATUS_INVALID_HANDLE); /* never twice */
  CHECK(!tapir_lock_is_held(l));
  CHECK_OK(tapir_lock_release(l));
}

static void lock_timeout_and_cancel_are_never_granted(void) {
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cts, &tok)) return;
  const tapir_lock *l = NULL;
  REQUIRE_OK(tapir_lock_new(&l));
  const tapir_lock_guard *g = NULL;
  REQUIRE(tapir_lock_try_acquire(l, &g));
  const tapir_task *timed = NULL, *canceled = NULL, *last = NULL, *zero = NULL;
  REQUIRE_OK(tapir_lock_acquire_async(l, 10, NULL, &timed));
  REQUIRE_OK(tapir_lock_acquire_async(l, -1, tok, &canceled));
  REQUIRE_OK(tapir_lock_acquire_async(l, -1, NULL, &last));
  REQUIRE_OK(tapir_lock_acquire_async(l, 0, NULL, &zero));
  CHECK_EQ(p_value(zero), 0);
  CHECK_EQ(p_settled_value(timed), 0); /* value NULL: not granted */
  p_probe probe = {0};
  CHECK_OK(tapir_task_on_complete(canceled, p_probe_cb, &probe, NULL, h_sync(), NULL));
  p_cancel(cts);
  CHECK_EQ(h_settle(canceled), TAPIR_TASK_STATUS_CANCELED);
  CHECK(h_wait_eq(&probe.ran, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&probe.inside_cancel), 0);
  CHECK(p_pending(last));
  CHECK_OK(tapir_lock_guard_release(g));
  CHECK(h_settle(last) == TAPIR_TASK_STATUS_SUCCEEDED && guard_of(last) != NULL);
  tapir_task_release(timed);
  tapir_task_release(canceled);
  tapir_task_release(zero);
  tapir_task_release(last);
  CHECK(!tapir_lock_is_held(l));
  CHECK_OK(tapir_lock_release(l));
  h_release_cts(cts, tok);
}

static void lock_outlives_its_handle_while_held(void) {
  const tapir_lock *l = NULL;
  REQUIRE_OK(tapir_lock_new(&l));
  const tapir_task *a = NULL, *b = NULL;
  REQUIRE_OK(tapir_lock_acquire_async(l, -1, NULL, &a));
  REQUIRE_OK(tapir_lock_acquire_async(l, -1, NULL, &b));
  CHECK_PTR_EQ(tapir_lock_retain(l), l);
  CHECK_OK(tapir_lock_release(l));
  CHECK_OK(tapir_lock_release(l));
  CHECK_ST(tapir_lock_release(l), TAPIR_STATUS_INVALID_HANDLE);
  /* the held guard keeps the lock working: b still gets it */
  tapir_task_release(a);
  CHECK(h_settle(b) == TAPIR_TASK_STATUS_SUCCEEDED && guard_of(b) != NULL);
  /* a waiter whose task was released before it was granted passes the lock on */
  const tapir_lock *l2 = NULL;
  REQUIRE_OK(tapir_lock_new(&l2));
  const tapir_lock_guard *g = NULL;
  REQUIRE(tapir_lock_try_acquire(l2, &g));
  const tapir_task *dropped = NULL, *next = NULL;
  REQUIRE_OK(tapir_lock_acquire_async(l2, -1, NULL, &dropped));
  REQUIRE_OK(tapir_lock_acquire_async(l2, -1, NULL, &next));
  tapir_task_release(dropped);
  CHECK_OK(tapir_lock_guard_release(g));
  CHECK(h_settle(next) == TAPIR_TASK_STATUS_SUCCEEDED && guard_of(next) != NULL);
  tapir_task_release(next);
  CHECK(!tapir_lock_is_held(l2));
  CHECK_OK(tapir_lock_release(l2));
  tapir_task_release(b);
}

static void lock_misuse(void) {
  const tapir_lock *l = NULL;
  const tapir_task *t = NULL;
  const tapir_lock_guard *g = NULL;
  CHECK_ST(tapir_lock_new(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  REQUIRE_OK(tapir_lock_new(&l));
  const tapir_lock *wrong = (const tapir_lock *)p_wrong_kind();
  CHECK_ST(tapir_lock_acquire_async(wrong, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_lock_acquire_async(NULL, -1, NULL, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_lock_acquire_async(l, -1, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_lock_acquire_async(l, -9, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(!tapir_lock_try_acquire(wrong, &g));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_lock_try_acquire(l, NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_lock_is_held(NULL));
  CHECK(tapir_lock_retain(wrong) == NULL);
  CHECK_OK(tapir_lock_release(NULL));
  /* a guard is not a lock and a lock is not a guard */
  REQUIRE(tapir_lock_try_acquire(l, &g));
  CHECK_ST(tapir_lock_release((const tapir_lock *)g), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_lock_guard_release((const tapir_lock_guard *)l), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_lock_guard_retain(NULL) == NULL);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_lock_guard_release(NULL));
  CHECK_OK(tapir_lock_guard_release(g));
  CHECK(tapir_lock_guard_retain(g) == NULL); /* stale */
  CHECK_OK(tapir_lock_release(l));
  CHECK_ST(tapir_lock_acquire_async(l, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
}

/* A million waiters; each one's synchronous continuation releases its own task (and
 * with it the lock): all are granted in turn on a 256 KiB stack. */
typedef struct {
  const tapir_lock *l;
  atomic_long granted;
  long n;
  const tapir_task **tasks;
} lock_chain;

typedef struct {
  lock_chain *c;
  long i;
} lock_link;

static void lock_chain_cb(void *ud, const tapir_task *t) {
  lock_chain *c = (lock_chain *)ud;
  if (guard_of(t) != NULL) atomic_fetch_add(&c->granted, 1);
  CHECK_OK(tapir_task_release(t)); /* our own handle: the lock goes with the task */
}

static void *lock_chain_body(void *arg) {
  const tapir_lock_guard *g = (const tapir_lock_guard *)arg;
  CHECK_OK(tapir_lock_guard_release(g));
  return NULL;
}

static void lock_million_waiters_chain_on_small_stack(void) {
  lock_chain c = {NULL, 0, h_deep_n(), NULL};
  REQUIRE_OK(tapir_lock_new(&c.l));
  const tapir_lock_guard *g = NULL;
  REQUIRE(tapir_lock_try_acquire(c.l, &g));
  for (long i = 0; i < c.n; i++) {
    const tapir_task *t = NULL;
    REQUIRE_OK(tapir_lock_acquire_async(c.l, -1, NULL, &t));
    /* the continuation releases the one handle we keep */
    CHECK_OK(tapir_task_on_complete(t, lock_chain_cb, &c, NULL, h_sync(), NULL));
  }
  h_run_on_stack(lock_chain_body, (void *)g, 256 * 1024);
  CHECK_EQ(atomic_load(&c.granted), c.n);
  CHECK(!tapir_lock_is_held(c.l));
  CHECK_OK(tapir_lock_release(c.l));
}

/* Mutual exclusion under contention: a counter incremented without atomics inside
 * the lock from several threads ends exact. */
typedef struct {
  const tapir_lock *l;
  long counter;
  int rounds;
  atomic_int inside;
  atomic_int overlap;
} lock_mx;

static void *lock_mx_body(void *arg) {
  lock_mx *m = (lock_mx *)arg;
  for (int i = 0; i < m->rounds; i++) {
    const tapir_task *t = NULL;
    if (tapir_lock_acquire_async(m->l, -1, NULL, &t) != TAPIR_STATUS_OK) return NULL;
    CHECK_OK(tapir_task_wait(t, -1));
    if (atomic_fetch_add(&m->inside, 1) != 0) atomic_fetch_add(&m->overlap, 1);
    m->counter++;
    atomic_fetch_sub(&m->inside, 1);
    tapir_task_release(t);
  }
  return NULL;
}

static void lock_excludes_under_contention(void) {
  lock_mx m;
  memset(&m, 0, sizeof m);
  m.rounds = 20000;
  REQUIRE_OK(tapir_lock_new(&m.l));
  pthread_t th[4];
  for (int i = 0; i < 4; i++) th[i] = h_spawn(lock_mx_body, &m);
  for (int i = 0; i < 4; i++) h_join(th[i]);
  CHECK_EQ(m.counter, 4L * m.rounds);
  CHECK_EQ(atomic_load(&m.overlap), 0);
  CHECK_OK(tapir_lock_release(m.l));
}

/* ------------------------------------------------------------- rwlock */

static void rwlock_readers_share_writers_exclude(void) {
  const tapir_rwlock *rw = NULL;
  REQUIRE_OK(tapir_rwlock_new(&rw));
  const tapir_task *r1 = NULL, *r2 = NULL, *w = NULL, *r3 = NULL, *r4 = NULL, *w2 = NULL;
  REQUIRE_OK(tapir_rwlock_read_async(rw, -1, NULL, &r1));
  REQUIRE_OK(tapir_rwlock_read_async(rw, -1, NULL, &r2));
  CHECK(guard_of(r1) && guard_of(r2));
  CHECK_EQ(tapir_rwlock_reader_count(rw), 2);
  REQUIRE_OK(tapir_rwlock_write_async(rw, -1, NULL, &w));
  CHECK(p_pending(w));
  /* writer preference: a reader arriving after a waiting writer queues */
  REQUIRE_OK(tapir_rwlock_read_async(rw, -1, NULL, &r3));
  REQUIRE_OK(tapir_rwlock_read_async(rw, -1, NULL, &r4));
  REQUIRE_OK(tapir_rwlock_write_async(rw, -1, NULL, &w2));
  CHECK(p_pending(r3));
  const tapir_lock_guard *g = NULL;
  CHECK(!tapir_rwlock_try_read(rw, &g));
  CHECK(!tapir_rwlock_try_write(rw, &g));
  tapir_task_release(r1);
  CHECK(p_pending(w));
  tapir_task_release(r2);
  CHECK(h_settle(w) == TAPIR_TASK_STATUS_SUCCEEDED && guard_of(w));
  CHECK(tapir_rwlock_is_write_held(rw));
  CHECK_EQ(tapir_rwlock_reader_count(rw), 0);
  CHECK(p_pending(r3) && p_pending(r4));
  tapir_task_release(w);
  /* the readers queued behind the writer are granted together, up to w2 */
  CHECK(h_settle(r3) == TAPIR_TASK_STATUS_SUCCEEDED && h_settle(r4) == TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(tapir_rwlock_reader_count(rw), 2);
  CHECK(p_pending(w2));
  tapir_task_release(r3);
  tapir_task_release(r4);
  CHECK(h_settle(w2) == TAPIR_TASK_STATUS_SUCCEEDED);
  tapir_task_release(w2);
  CHECK(!tapir_rwlock_is_write_held(rw));
  CHECK(tapir_rwlock_try_write(rw, &g));
  const tapir_lock_guard *g2 = NULL;
  CHECK(!tapir_rwlock_try_read(rw, &g2));
  CHECK_OK(tapir_lock_guard_release(g));
  CHECK(tapir_rwlock_try_read(rw, &g));
  CHECK(tapir_rwlock_try_read(rw, &g2));
  CHECK_EQ(tapir_rwlock_reader_count(rw), 2);
  CHECK_OK(tapir_lock_guard_release(g));
  CHECK_OK(tapir_lock_guard_release(g2));
  CHECK_OK(tapir_rwlock_release(rw));
}

static void rwlock_writer_leaving_lets_readers_in(void) {
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cts, &tok)) return;
  const tapir_rwlock *rw = NULL;
  REQUIRE_OK(tapir_rwlock_new(&rw));
  const tapir_lock_guard *g = NULL;
  REQUIRE(tapir_rwlock_try_read(rw, &g));
  const tapir_task *w = NULL, *r = NULL, *tw = NULL;
  REQUIRE_OK(tapir_rwlock_write_async(rw, -1, tok, &w));
  REQUIRE_OK(tapir_rwlock_read_async(rw, -1, NULL, &r));
  CHECK(p_pending(r));
  p_cancel(cts); /* the writer leaves: the reader behind it joins the current reader */
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_CANCELED);
  CHECK(h_settle(r) == TAPIR_TASK_STATUS_SUCCEEDED && guard_of(r));
  CHECK_EQ(tapir_rwlock_reader_count(rw), 2);
  REQUIRE_OK(tapir_rwlock_write_async(rw, 10, NULL, &tw));
  CHECK_EQ(p_settled_value(tw), 0);
  tapir_task_release(w);
  tapir_task_release(r);
  tapir_task_release(tw);
  CHECK_OK(tapir_lock_guard_release(g));
  CHECK_EQ(tapir_rwlock_reader_count(rw), 0);
  CHECK_PTR_EQ(tapir_rwlock_retain(rw), rw);
  CHECK_OK(tapir_rwlock_release(rw));
  CHECK_OK(tapir_rwlock_release(rw));
  h_release_cts(cts, tok);
}

static void rwlock_misuse(void) {
  const tapir_rwlock *rw = NULL;
  const tapir_task *t = NULL;
  const tapir_lock_guard *g = NULL;
  CHECK_ST(tapir_rwlock_new(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_rwlock *wrong = (const tapir_rwlock *)p_wrong_kind();
  CHECK_ST(tapir_rwlock_read_async(wrong, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_rwlock_write_async(NULL, -1, NULL, &t), TAPIR_STATUS_NULL_ARGUMENT);
  REQUIRE_OK(tapir_rwlock_new(&rw));
  CHECK_ST(tapir_rwlock_write_async(rw, -1, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_rwlock_read_async(rw, 5000000000LL, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(!tapir_rwlock_try_read(wrong, &g));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_rwlock_try_write(rw, NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(tapir_rwlock_reader_count(NULL), 0);
  CHECK(!tapir_rwlock_is_write_held(wrong));
  CHECK(tapir_rwlock_retain(NULL) == NULL);
  CHECK_ST(tapir_rwlock_release((const tapir_rwlock *)p_wrong_kind()), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_rwlock_release(NULL));
  /* a lock's handle is the wrong kind for the rwlock functions */
  const tapir_lock *l = NULL;
  REQUIRE_OK(tapir_lock_new(&l));
  CHECK_ST(tapir_rwlock_read_async((const tapir_rwlock *)l, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_lock_release(l));
  CHECK_OK(tapir_rwlock_release(rw));
  CHECK(!tapir_rwlock_try_read(rw, &g));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
}

void register_prim_lock_tests(void) {
  REG(lock_hands_over_in_order);
  REG(lock_timeout_and_cancel_are_never_granted);
  REG(lock_outlives_its_handle_while_held);
  REG(lock_misuse);
  REG(lock_million_waiters_chain_on_small_stack);
  REG(lock_excludes_under_contention);
  REG(rwlock_readers_share_writers_exclude);
  REG(rwlock_writer_leaving_lets_readers_in);
  REG(rwlock_misuse);
}
