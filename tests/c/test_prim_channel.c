/* Coordination primitives: channels and the single-flight cache. */
#include "prims.h"

/* Items: each is a pointer to its own destroy counter. */
typedef struct {
  atomic_int destroyed;
} item;

static const tapir_channel *new_channel(size_t capacity, uint32_t mode) {
  tapir_channel_options o = {sizeof(tapir_channel_options), mode, capacity};
  const tapir_channel *c = NULL;
  CHECK_OK(tapir_channel_new(&o, &c));
  return c;
}

static void channel_fifo_and_readers(void) {
  const tapir_channel *c = NULL;
  REQUIRE_OK(tapir_channel_new(NULL, &c)); /* unbounded */
  item it[4];
  memset(it, 0, sizeof it);
  void *got = NULL;
  tapir_destroy_fn d = NULL;
  CHECK(!tapir_channel_try_read(c, &got, &d));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_TIMEOUT);
  CHECK(tapir_channel_try_write(c, &it[0], p_count_destroy));
  CHECK(tapir_channel_try_write(c, &it[1], p_count_destroy));
  CHECK_EQ(tapir_channel_count(c), 2);
  CHECK(tapir_channel_try_read(c, &got, &d));
  CHECK_PTR_EQ(got, &it[0]);
  CHECK(d == p_count_destroy);
  d(got); /* the caller owns it now */
  const tapir_task *r = NULL, *r2 = NULL, *w = NULL;
  REQUIRE_OK(tapir_channel_read_async(c, -1, NULL, &r));
  CHECK_EQ(p_value(r), (intptr_t)&it[1]);
  /* pending readers are served in order, straight from the writers */
  REQUIRE_OK(tapir_channel_read_async(c, -1, NULL, &r2));
  CHECK(p_pending(r2));
  REQUIRE_OK(tapir_channel_write_async(c, &it[2], p_count_destroy, -1, NULL, &w));
  CHECK_EQ(p_value(w), 1);
  CHECK_EQ(p_settled_value(r2), (intptr_t)&it[2]);
  CHECK_EQ(tapir_channel_count(c), 0);
  CHECK_EQ(atomic_load(&it[1].destroyed), 0);
  tapir_task_release(r); /* the task owned item 1 */
  CHECK_EQ(atomic_load(&it[1].destroyed), 1);
  tapir_task_release(r2);
  tapir_task_release(w);
  CHECK_EQ(atomic_load(&it[2].destroyed), 1);
  /* an item left in the channel when its last handle goes is destroyed once */
  CHECK(tapir_channel_try_write(c, &it[3], p_count_destroy));
  CHECK_PTR_EQ(tapir_channel_retain(c), c);
  CHECK_OK(tapir_channel_release(c));
  CHECK_EQ(atomic_load(&it[3].destroyed), 0);
  CHECK_OK(tapir_channel_release(c));
  CHECK_EQ(atomic_load(&it[3].destroyed), 1);
  for (int i = 0; i < 4; i++) CHECK_EQ(atomic_load(&it[i].destroyed), 1);
}

static void channel_wait_to_read_and_complete(void) {
  const tapir_channel *c = NULL;
  REQUIRE_OK(tapir_channel_new(NULL, &c));
  item it[2];
  memset(it, 0, sizeof it);
  const tapir_task *w2r = NULL, *r = NULL, *after = NULL, *done = NULL, *w = NULL;
  REQUIRE_OK(tapir_channel_wait_to_read_async(c, -1, NULL, &w2r));
  CHECK(p_pending(w2r));
  CHECK(tapir_channel_try_write(c, &it[0], p_count_destroy));
  CHECK_EQ(p_settled_value(w2r), 1);
  tapir_task_release(w2r);
  CHECK(tapir_channel_try_write(c, &it[1], p_count_destroy));
  CHECK_OK(tapir_channel_complete(c, NULL));
  CHECK(tapir_channel_is_completed(c));
  CHECK_ST(tapir_channel_complete(c, NULL), TAPIR_STATUS_ALREADY_COMPLETED);
  /* writes are refused, the item stays the caller's */
  item late;
  memset(&late, 0, sizeof late);
  CHECK(!tapir_channel_try_write(c, &late, p_count_destroy));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_QUEUE_COMPLETED);
  CHECK_ST(tapir_channel_write_async(c, &late, p_count_destroy, -1, NULL, &w), TAPIR_STATUS_QUEUE_COMPLETED);
  CHECK_EQ(atomic_load(&late.destroyed), 0);
  /* readers drain what is left, then see the completion */
  REQUIRE_OK(tapir_channel_read_async(c, -1, NULL, &r));
  CHECK_EQ(p_value(r), (intptr_t)&it[0]);
  REQUIRE_OK(tapir_channel_wait_to_read_async(c, -1, NULL, &after));
  CHECK_EQ(p_value(after), 1);
  tapir_task_release(after);
  void *got = NULL;
  CHECK(tapir_channel_try_read(c, &got, NULL)); /* NULL destroy_out: the caller frees it */
  CHECK_PTR_EQ(got, &it[1]);
  p_count_destroy(got);
  CHECK(!tapir_channel_try_read(c, &got, NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_QUEUE_COMPLETED);
  REQUIRE_OK(tapir_channel_read_async(c, -1, NULL, &done));
  CHECK_EQ(h_settle(done), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(done), TAPIR_STATUS_QUEUE_COMPLETED);
  REQUIRE_OK(tapir_channel_wait_to_read_async(c, -1, NULL, &after));
  CHECK_EQ(p_value(after), 0);
  tapir_task_release(after);
  tapir_task_release(done);
  tapir_task_release(r);
  CHECK_OK(tapir_channel_release(c));
  for (int i = 0; i < 2; i++) CHECK_EQ(atomic_load(&it[i].destroyed), 1);

  /* completing with an error: pending readers of an empty channel fail with it */
  REQUIRE_OK(tapir_channel_new(NULL, &c));
  const tapir_task *pend = NULL, *watch = NULL;
  REQUIRE_OK(tapir_channel_read_async(c, -1, NULL, &pend));
  REQUIRE_OK(tapir_channel_wait_to_read_async(c, -1, NULL, &watch));
  const tapir_error *e = h_error(42, "producer failed");
  CHECK_OK(tapir_channel_complete(c, e));
  tapir_error_release(e);
  CHECK_EQ(h_settle(pend), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(pend), 42);
  CHECK_EQ(h_settle(watch), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(watch), 42);
  tapir_task_release(pend);
  tapir_task_release(watch);
  CHECK_OK(tapir_channel_release(c));
}

static void channel_bounded_wait_mode(void) {
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  if (!h_new_cts(&cts, &tok)) return;
  const tapir_channel *c = new_channel(1, TAPIR_CHANNEL_FULL_WAIT);
  REQUIRE(c != NULL);
  item it[6];
  memset(it, 0, sizeof it);
  CHECK(tapir_channel_try_write(c, &it[0], p_count_destroy));
  CHECK(!tapir_channel_try_write(c, &it[1], p_count_destroy));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_FULL);
  CHECK_EQ(atomic_load(&it[1].destroyed), 0); /* refused: still the caller's */
  const tapir_task *w1 = NULL, *wt = NULL, *wc = NULL, *w0 = NULL, *w2 = NULL;
  REQUIRE_OK(tapir_channel_write_async(c, &it[1], p_count_destroy, -1, NULL, &w1));
  REQUIRE_OK(tapir_channel_write_async(c, &it[2], p_count_destroy, 10, NULL, &wt));
  REQUIRE_OK(tapir_channel_write_async(c, &it[3], p_count_destroy, -1, tok, &wc));
  REQUIRE_OK(tapir_channel_write_async(c, &it[4], p_count_destroy, 0, NULL, &w0));
  CHECK_EQ(p_value(w0), 0);
  CHECK_EQ(atomic_load(&it[4].destroyed), 1); /* not written: tapir destroyed it */
  CHECK_EQ(p_settled_value(wt), 0);
  CHECK(h_wait_eq(&it[2].destroyed, 1, h_prompt_ms()));
  p_cancel(cts);
  CHECK_EQ(h_settle(wc), TAPIR_TASK_STATUS_CANCELED);
  CHECK_EQ(atomic_load(&it[3].destroyed), 1);
  CHECK(p_pending(w1));
  /* a read makes room: the oldest waiting writer's item moves in */
  void *got = NULL;
  tapir_destroy_fn d = NULL;
  CHECK(tapir_channel_try_read(c, &got, &d));
  CHECK_PTR_EQ(got, &it[0]);
  d(got);
  CHECK_EQ(p_settled_value(w1), 1);
  CHECK_EQ(tapir_channel_count(c), 1);
  /* a writer pending when the channel completes fails, its item destroyed */
  REQUIRE_OK(tapir_channel_write_async(c, &it[5], p_count_destroy, -1, NULL, &w2));
  CHECK_OK(tapir_channel_complete(c, NULL));
  CHECK_EQ(h_settle(w2), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(w2), TAPIR_STATUS_QUEUE_COMPLETED);
  CHECK_EQ(atomic_load(&it[5].destroyed), 1);
  tapir_task_release(w1);
  tapir_task_release(wt);
  tapir_task_release(wc);
  tapir_task_release(w0);
  tapir_task_release(w2);
  CHECK_OK(tapir_channel_release(c)); /* it[1] is still inside */
  for (int i = 0; i < 6; i++) CHECK_EQ(atomic_load(&it[i].destroyed), 1);
  h_release_cts(cts, tok);
}

static void channel_drop_modes(void) {
  item it[3];
  const uint32_t modes[3] = {TAPIR_CHANNEL_FULL_DROP_OLDEST, TAPIR_CHANNEL_FULL_DROP_NEWEST,
                             TAPIR_CHANNEL_FULL_DROP_WRITE};
  /* which item each mode drops when a third is written into a channel of two */
  const int dropped[3] = {0, 1, 2};
  for (int m = 0; m < 3; m++) {
    memset(it, 0, sizeof it);
    const tapir_channel *c = new_channel(2, modes[m]);
    REQUIRE(c != NULL);
    CHECK(tapir_channel_try_write(c, &it[0], p_count_destroy));
    CHECK(tapir_channel_try_write(c, &it[1], p_count_destroy));
    const tapir_task *w = NULL;
    REQUIRE_OK(tapir_channel_write_async(c, &it[2], p_count_destroy, -1, NULL, &w));
    CHECK_EQ(p_value(w), 1); /* never waits */
    tapir_task_release(w);
    for (int i = 0; i < 3; i++) CHECK_EQ(atomic_load(&it[i].destroyed), i == dropped[m]);
    CHECK_EQ(tapir_channel_count(c), 2);
    CHECK_OK(tapir_channel_release(c));
    for (int i = 0; i < 3; i++) CHECK_EQ(atomic_load(&it[i].destroyed), 1);
  }
}

static void channel_reader_timeout_and_dispose(void) {
  const tapir_channel *c = NULL;
  REQUIRE_OK(tapir_channel_new(NULL, &c));
  item it;
  memset(&it, 0, sizeof it);
  const tapir_task *r = NULL, *z = NULL, *p1 = NULL, *p2 = NULL, *w2r = NULL;
  REQUIRE_OK(tapir_channel_read_async(c, 10, NULL, &r));
  REQUIRE_OK(tapir_channel_read_async(c, 0, NULL, &z));
  CHECK_EQ(h_settle(z), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(z), TAPIR_STATUS_TIMEOUT);
  CHECK_EQ(h_settle(r), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(r), TAPIR_STATUS_TIMEOUT);
  /* the timed-out readers took nothing */
  CHECK(tapir_channel_try_write(c, &it, p_count_destroy));
  CHECK_EQ(tapir_channel_count(c), 1);
  void *got = NULL;
  tapir_destroy_fn d = NULL;
  CHECK(tapir_channel_try_read(c, &got, &d));
  d(got);
  REQUIRE_OK(tapir_channel_read_async(c, -1, NULL, &p1));
  REQUIRE_OK(tapir_channel_read_async(c, -1, NULL, &p2));
  REQUIRE_OK(tapir_channel_wait_to_read_async(c, -1, NULL, &w2r));
  CHECK_OK(tapir_channel_release(c));
  CHECK_EQ(h_settle(p1), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(p1), TAPIR_STATUS_DISPOSED);
  CHECK_EQ(p_error_code(p2), TAPIR_STATUS_DISPOSED);
  CHECK_EQ(p_error_code(w2r), TAPIR_STATUS_DISPOSED);
  tapir_task_release(r);
  tapir_task_release(z);
  tapir_task_release(p1);
  tapir_task_release(p2);
  tapir_task_release(w2r);
  /* a pending writer's item is destroyed when the channel goes */
  const tapir_channel *b = new_channel(1, TAPIR_CHANNEL_FULL_WAIT);
  REQUIRE(b != NULL);
  item two[2];
  memset(two, 0, sizeof two);
  const tapir_task *w = NULL;
  CHECK(tapir_channel_try_write(b, &two[0], p_count_destroy));
  REQUIRE_OK(tapir_channel_write_async(b, &two[1], p_count_destroy, -1, NULL, &w));
  CHECK_OK(tapir_channel_release(b));
  CHECK_EQ(h_settle(w), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(w), TAPIR_STATUS_DISPOSED);
  CHECK_EQ(atomic_load(&two[0].destroyed), 1);
  CHECK_EQ(atomic_load(&two[1].destroyed), 1);
  tapir_task_release(w);
}

static void channel_misuse(void) {
  const tapir_channel *c = NULL;
  const tapir_task *t = NULL;
  item it;
  memset(&it, 0, sizeof it);
  CHECK_ST(tapir_channel_new(NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  tapir_channel_options bad = {sizeof(tapir_channel_options), 9, 4};
  CHECK_ST(tapir_channel_new(&bad, &c), TAPIR_STATUS_INVALID_ARGUMENT);
  tapir_channel_options tiny = {4, 0, 0};
  CHECK_ST(tapir_channel_new(&tiny, &c), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK(c == NULL);
  const tapir_channel *wrong = (const tapir_channel *)p_wrong_kind();
  CHECK(!tapir_channel_try_write(wrong, &it, p_count_destroy));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_channel_write_async(wrong, &it, p_count_destroy, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(atomic_load(&it.destroyed), 0); /* a failed call destroys nothing */
  CHECK_ST(tapir_channel_read_async(NULL, -1, NULL, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_channel_wait_to_read_async(wrong, -1, NULL, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_channel_complete(NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(tapir_channel_count(wrong), 0);
  CHECK(!tapir_channel_is_completed(NULL));
  CHECK(tapir_channel_retain(wrong) == NULL);
  CHECK_OK(tapir_channel_release(NULL));
  REQUIRE_OK(tapir_channel_new(NULL, &c));
  CHECK_ST(tapir_channel_write_async(c, &it, p_count_destroy, -3, NULL, &t), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_channel_read_async(c, -1, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_channel_try_read(c, NULL, NULL));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_channel_complete(c, (const tapir_error *)p_wrong_kind()), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(!tapir_channel_is_completed(c)); /* the failed complete did nothing */
  CHECK_EQ(atomic_load(&it.destroyed), 0);
  CHECK_OK(tapir_channel_release(c));
  CHECK(!tapir_channel_try_write(c, &it, p_count_destroy));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_channel_release(c), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_EQ(atomic_load(&it.destroyed), 0);
}

/* 4 producers x 4 consumers: every item delivered exactly once, every destroy once. */
enum { MPMC_PER_PRODUCER = 50000 };
typedef struct {
  const tapir_channel *c;
  atomic_int produced_ids;
  unsigned char *seen;
  atomic_long consumed;
  atomic_int dup;
} mpmc;

static atomic_long mpmc_destroyed;
static void mpmc_destroy(void *p) {
  (void)p;
  atomic_fetch_add(&mpmc_destroyed, 1);
}

static void *mpmc_producer(void *arg) {
  mpmc *m = (mpmc *)arg;
  int base = atomic_fetch_add(&m->produced_ids, 1) * MPMC_PER_PRODUCER;
  for (int i = 0; i < MPMC_PER_PRODUCER; i++) {
    const tapir_task *w = NULL;
    if (tapir_channel_write_async(m->c, h_int((uintptr_t)(base + i + 1)), mpmc_destroy, -1, NULL, &w) != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "write_async failed");
      return NULL;
    }
    CHECK_OK(tapir_task_wait(w, -1));
    tapir_task_release(w);
  }
  return NULL;
}

static void *mpmc_consumer(void *arg) {
  mpmc *m = (mpmc *)arg;
  for (;;) {
    const tapir_task *r = NULL;
    if (tapir_channel_read_async(m->c, -1, NULL, &r) != TAPIR_STATUS_OK) return NULL;
    int32_t st = tapir_task_wait(r, -1);
    if (st != TAPIR_STATUS_OK) {
      CHECK_EQ(p_error_code(r), TAPIR_STATUS_QUEUE_COMPLETED);
      tapir_task_release(r);
      return NULL;
    }
    intptr_t id = p_value(r);
    if (m->seen[id]++) atomic_fetch_add(&m->dup, 1);
    atomic_fetch_add(&m->consumed, 1);
    tapir_task_release(r);
  }
}

static void channel_many_producers_and_consumers(void) {
  mpmc m;
  memset(&m, 0, sizeof m);
  atomic_store(&mpmc_destroyed, 0);
  m.c = new_channel(64, TAPIR_CHANNEL_FULL_WAIT);
  REQUIRE(m.c != NULL);
  m.seen = calloc(4 * MPMC_PER_PRODUCER + 1, 1);
  pthread_t p[4], q[4];
  for (int i = 0; i < 4; i++) q[i] = h_spawn(mpmc_consumer, &m);
  for (int i = 0; i < 4; i++) p[i] = h_spawn(mpmc_producer, &m);
  for (int i = 0; i < 4; i++) h_join(p[i]);
  CHECK_OK(tapir_channel_complete(m.c, NULL));
  for (int i = 0; i < 4; i++) h_join(q[i]);
  CHECK_EQ(atomic_load(&m.consumed), 4 * MPMC_PER_PRODUCER);
  CHECK_EQ(atomic_load(&m.dup), 0);
  CHECK_EQ(atomic_load(&mpmc_destroyed), 4 * MPMC_PER_PRODUCER);
  CHECK_OK(tapir_channel_release(m.c));
  free(m.seen);
}

/* ---------------------------------------------------------------- cache */

typedef struct {
  atomic_int calls;
  int mode; /* 0: succeed with len, 1: fail, 2: return NULL, 3: pending source kept */
  const tapir_source *pending;
  const tapir_cache *self; /* for a factory that calls back into the cache */
  atomic_int destroyed;
} factory_rec;

static const tapir_task *factory(void *ud, const uint8_t *key, size_t len) {
  factory_rec *f = (factory_rec *)ud;
  atomic_fetch_add(&f->calls, 1);
  const tapir_task *t = NULL;
  if (f->self && len > 0 && key[0] == 'r') {
    /* calls into the cache from inside the factory: no lock is held */
    CHECK_OK(tapir_cache_get_async(f->self, key + 1, len - 1, &t));
    return t;
  }
  switch (f->mode) {
    case 0:
      CHECK_OK(tapir_task_from_result(h_int(len), NULL, &t));
      return t;
    case 1: {
      const tapir_error *e = h_error(5, "factory failed");
      CHECK_OK(tapir_task_from_error(e, &t));
      tapir_error_release(e);
      return t;
    }
    case 2:
      return NULL;
    default:
      f->pending = h_source();
      return h_task_of(f->pending);
  }
}

static void factory_destroy(void *ud) { atomic_fetch_add(&((factory_rec *)ud)->destroyed, 1); }

static const uint8_t *k(const char *s) { return (const uint8_t *)s; }

static void cache_single_flight(void) {
  factory_rec f;
  memset(&f, 0, sizeof f);
  f.mode = 3;
  const tapir_cache *c = NULL;
  REQUIRE_OK(tapir_cache_new(factory, &f, factory_destroy, NULL, &c));
  const tapir_task *a = NULL, *b = NULL, *x = NULL;
  REQUIRE_OK(tapir_cache_get_async(c, k("key"), 3, &a));
  REQUIRE_OK(tapir_cache_get_async(c, k("key"), 3, &b));
  CHECK_EQ(atomic_load(&f.calls), 1);
  CHECK_EQ(tapir_task_id(a), tapir_task_id(b)); /* the very same task */
  CHECK(p_pending(a));
  CHECK_OK(tapir_source_set_result(f.pending, h_int(99), NULL));
  CHECK_OK(tapir_source_release(f.pending));
  CHECK_EQ(p_settled_value(a), 99);
  CHECK_EQ(p_value(b), 99);
  CHECK_EQ(tapir_cache_count(c), 1);
  f.mode = 0;
  REQUIRE_OK(tapir_cache_get_async(c, k("other"), 5, &x));
  CHECK_EQ(p_settled_value(x), 5);
  CHECK_EQ(atomic_load(&f.calls), 2);
  CHECK_EQ(tapir_cache_count(c), 2);
  /* remove and clear evict; the tasks handed out are unaffected */
  CHECK(tapir_cache_remove(c, k("key"), 3));
  CHECK(!tapir_cache_remove(c, k("key"), 3));
  CHECK_EQ(tapir_cache_count(c), 1);
  tapir_task_release(b);
  REQUIRE_OK(tapir_cache_get_async(c, k("key"), 3, &b));
  CHECK_EQ(p_settled_value(b), 3);
  CHECK_EQ(atomic_load(&f.calls), 3);
  CHECK_OK(tapir_cache_clear(c));
  CHECK_EQ(tapir_cache_count(c), 0);
  CHECK_EQ(p_value(a), 99);
  tapir_task_release(a);
  tapir_task_release(b);
  tapir_task_release(x);
  CHECK_PTR_EQ(tapir_cache_retain(c), c);
  CHECK_OK(tapir_cache_release(c));
  CHECK_EQ(atomic_load(&f.destroyed), 0);
  CHECK_OK(tapir_cache_release(c));
  CHECK_EQ(atomic_load(&f.destroyed), 1);
}

static void cache_failures_evicted_or_kept(void) {
  factory_rec f;
  memset(&f, 0, sizeof f);
  f.mode = 1;
  const tapir_cache *c = NULL;
  REQUIRE_OK(tapir_cache_new(factory, &f, NULL, NULL, &c));
  const tapir_task *a = NULL, *b = NULL, *n = NULL;
  REQUIRE_OK(tapir_cache_get_async(c, k("k"), 1, &a));
  CHECK_EQ(h_settle(a), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(a), 5);
  CHECK_EQ(tapir_cache_count(c), 0); /* evicted: the next get retries */
  f.mode = 0;
  REQUIRE_OK(tapir_cache_get_async(c, k("k"), 1, &b));
  CHECK_EQ(p_settled_value(b), 1);
  CHECK_EQ(atomic_load(&f.calls), 2);
  /* a factory that returns no task: the entry fails and is evicted */
  f.mode = 2;
  REQUIRE_OK(tapir_cache_get_async(c, k("none"), 4, &n));
  CHECK_EQ(h_settle(n), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(p_error_code(n), TAPIR_STATUS_INVALID_STATE);
  CHECK_EQ(tapir_cache_count(c), 1);
  tapir_task_release(a);
  tapir_task_release(b);
  tapir_task_release(n);
  CHECK_OK(tapir_cache_release(c));
  /* TAPIR_CACHE_KEEP_FAILURES keeps them */
  tapir_cache_options keep = {sizeof(tapir_cache_options), TAPIR_CACHE_KEEP_FAILURES, 0, NULL, NULL};
  f.mode = 1;
  atomic_store(&f.calls, 0);
  REQUIRE_OK(tapir_cache_new(factory, &f, NULL, &keep, &c));
  REQUIRE_OK(tapir_cache_get_async(c, k("k"), 1, &a));
  CHECK_EQ(h_settle(a), TAPIR_TASK_STATUS_FAULTED);
  REQUIRE_OK(tapir_cache_get_async(c, k("k"), 1, &b));
  CHECK_EQ(tapir_task_id(a), tapir_task_id(b));
  CHECK_EQ(atomic_load(&f.calls), 1);
  CHECK_EQ(tapir_cache_count(c), 1);
  CHECK_EQ(p_error_code(b), 5);
  tapir_task_release(a);
  tapir_task_release(b);
  CHECK_OK(tapir_cache_release(c));
}

static void cache_lru_capacity(void) {
  factory_rec f;
  memset(&f, 0, sizeof f);
  tapir_cache_options o = {sizeof(tapir_cache_options), 0, 2, NULL, NULL};
  const tapir_cache *c = NULL;
  REQUIRE_OK(tapir_cache_new(factory, &f, NULL, &o, &c));
  const tapir_task *t[6] = {0};
  REQUIRE_OK(tapir_cache_get_async(c, k("a"), 1, &t[0]));
  REQUIRE_OK(tapir_cache_get_async(c, k("bb"), 2, &t[1]));
  REQUIRE_OK(tapir_cache_get_async(c, k("a"), 1, &t[2])); /* a is now the most recent */
  REQUIRE_OK(tapir_cache_get_async(c, k("ccc"), 3, &t[3])); /* evicts bb */
  CHECK_EQ(tapir_cache_count(c), 2);
  CHECK_EQ(atomic_load(&f.calls), 3);
  REQUIRE_OK(tapir_cache_get_async(c, k("a"), 1, &t[4]));
  CHECK_EQ(atomic_load(&f.calls), 3); /* still there */
  REQUIRE_OK(tapir_cache_get_async(c, k("bb"), 2, &t[5]));
  CHECK_EQ(atomic_load(&f.calls), 4); /* had been evicted */
  CHECK_EQ(tapir_cache_count(c), 2);
  for (int i = 0; i < 6; i++) tapir_task_release(t[i]);
  CHECK_OK(tapir_cache_release(c));
}

static uint64_t ci_hash(void *ud, const uint8_t *key, size_t len) {
  (void)ud;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint64_t)(key[i] | 0x20)) * 1099511628211ull;
  return h;
}

static bool ci_equal(void *ud, const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  (void)ud;
  if (al != bl) return false;
  for (size_t i = 0; i < al; i++)
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  return true;
}

static void cache_custom_keys_and_reentrant_factory(void) {
  factory_rec f;
  memset(&f, 0, sizeof f);
  tapir_cache_options o = {sizeof(tapir_cache_options), 0, 0, ci_hash, ci_equal};
  const tapir_cache *c = NULL;
  REQUIRE_OK(tapir_cache_new(factory, &f, NULL, &o, &c));
  f.self = c;
  const tapir_task *a = NULL, *b = NULL, *r = NULL, *inner = NULL, *empty = NULL;
  REQUIRE_OK(tapir_cache_get_async(c, k("ABC"), 3, &a));
  REQUIRE_OK(tapir_cache_get_async(c, k("abc"), 3, &b));
  CHECK_EQ(tapir_task_id(a), tapir_task_id(b));
  CHECK_EQ(atomic_load(&f.calls), 1);
  /* "rxy" makes its task by getting "xy" from the same cache */
  REQUIRE_OK(tapir_cache_get_async(c, k("rxy"), 3, &r));
  CHECK_EQ(p_settled_value(r), 2);
  REQUIRE_OK(tapir_cache_get_async(c, k("XY"), 2, &inner));
  CHECK_EQ(atomic_load(&f.calls), 3);
  CHECK_EQ(tapir_cache_count(c), 3);
  REQUIRE_OK(tapir_cache_get_async(c, NULL, 0, &empty)); /* the empty key is a key */
  CHECK_EQ(p_settled_value(empty), 0);
  CHECK(tapir_cache_remove(c, k("Abc"), 3));
  tapir_task_release(a);
  tapir_task_release(b);
  tapir_task_release(r);
  tapir_task_release(inner);
  tapir_task_release(empty);
  CHECK_OK(tapir_cache_release(c));
}

static void cache_misuse(void) {
  factory_rec f;
  memset(&f, 0, sizeof f);
  const tapir_cache *c = NULL;
  const tapir_task *t = NULL;
  CHECK_ST(tapir_cache_new(NULL, &f, factory_destroy, NULL, &c), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cache_new(factory, &f, factory_destroy, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  tapir_cache_options bad = {sizeof(tapir_cache_options), 0x80, 0, NULL, NULL};
  CHECK_ST(tapir_cache_new(factory, &f, factory_destroy, &bad, &c), TAPIR_STATUS_INVALID_ARGUMENT);
  tapir_cache_options tiny = {2, 0, 0, NULL, NULL};
  CHECK_ST(tapir_cache_new(factory, &f, factory_destroy, &tiny, &c), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_EQ(atomic_load(&f.destroyed), 0); /* failed calls destroy nothing */
  const tapir_cache *wrong = (const tapir_cache *)p_wrong_kind();
  CHECK_ST(tapir_cache_get_async(wrong, k("a"), 1, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cache_get_async(NULL, k("a"), 1, &t), TAPIR_STATUS_NULL_ARGUMENT);
  REQUIRE_OK(tapir_cache_new(factory, &f, factory_destroy, NULL, &c));
  CHECK_ST(tapir_cache_get_async(c, NULL, 3, &t), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cache_get_async(c, k("a"), 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_cache_remove(c, NULL, 2));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(!tapir_cache_remove(wrong, k("a"), 1));
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cache_clear(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_EQ(tapir_cache_count(wrong), 0);
  CHECK(tapir_cache_retain(NULL) == NULL);
  CHECK_OK(tapir_cache_release(NULL));
  CHECK_EQ(atomic_load(&f.calls), 0);
  CHECK_OK(tapir_cache_release(c));
  CHECK_EQ(atomic_load(&f.destroyed), 1);
  CHECK_ST(tapir_cache_get_async(c, k("a"), 1, &t), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_cache_release(c), TAPIR_STATUS_INVALID_HANDLE);
}

void register_prim_channel_tests(void) {
  REG(channel_fifo_and_readers);
  REG(channel_wait_to_read_and_complete);
  REG(channel_bounded_wait_mode);
  REG(channel_drop_modes);
  REG(channel_reader_timeout_and_dispose);
  REG(channel_misuse);
  REG(channel_many_producers_and_consumers);
  REG(cache_single_flight);
  REG(cache_failures_evicted_or_kept);
  REG(cache_lru_capacity);
  REG(cache_custom_keys_and_reentrant_factory);
  REG(cache_misuse);
}
