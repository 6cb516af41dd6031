/* stress_prims — every coordination primitive under many threads.
 *
 *   ./stress_prims [N]    about N operations per primitive (default 1,000,000)
 *
 * Each section races threads over one primitive, with timeouts and cancellations
 * mixed in, and checks what must hold exactly: permits and lock holders are never
 * more than allowed and none is lost (the count ends where it began), every set of
 * an auto-reset event is taken by exactly one waiter, every channel item is either
 * delivered once or destroyed undelivered once (never both, never twice), the cache
 * hands out one task per entry. At the end the live-object count is back at its start.
 * Prints one line per section and "N passed, N failed" last.
 */
#define HARNESS_MAIN
#include "prims.h"

atomic_int p_in_cancel;
pthread_t p_canceler;

static long N;
enum { THREADS = 4 };

static unsigned rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

/* A cancellation source that a helper thread keeps canceling and replacing. */
typedef struct {
  pthread_mutex_t lock;
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  atomic_int stop;
  pthread_t thread;
} canceler;

static void *canceler_body(void *arg) {
  canceler *c = (canceler *)arg;
  while (!atomic_load(&c->stop)) {
    h_sleep_ms(0.2);
    const tapir_cancel_source *s;
    const tapir_cancel_token *t;
    if (!h_new_cts(&s, &t)) return NULL;
    pthread_mutex_lock(&c->lock);
    const tapir_cancel_source *old_s = c->cts;
    const tapir_cancel_token *old_t = c->tok;
    c->cts = s;
    c->tok = t;
    pthread_mutex_unlock(&c->lock);
    CHECK_OK(tapir_cancel_source_cancel(old_s, 0, NULL));
    h_release_cts(old_s, old_t);
  }
  return NULL;
}

static void canceler_start(canceler *c) {
  pthread_mutex_init(&c->lock, NULL);
  atomic_store(&c->stop, 0);
  h_new_cts(&c->cts, &c->tok);
  c->thread = h_spawn(canceler_body, c);
}

/* A token reference (+1) to pass to a wait. */
static const tapir_cancel_token *canceler_token(canceler *c) {
  pthread_mutex_lock(&c->lock);
  const tapir_cancel_token *t = tapir_cancel_token_retain(c->tok);
  pthread_mutex_unlock(&c->lock);
  return t;
}

static void canceler_stop(canceler *c) {
  atomic_store(&c->stop, 1);
  h_join(c->thread);
  h_release_cts(c->cts, c->tok);
  pthread_mutex_destroy(&c->lock);
}

/* Waits for a task and returns its value (-1: canceled or faulted). */
static intptr_t settle(const tapir_task *t) {
  tapir_task_wait(t, -1);
  intptr_t v = p_value(t);
  tapir_task_release(t);
  return v;
}

/* ------------------------------------------------------------ semaphore */

typedef struct {
  const tapir_semaphore *s;
  canceler *cx;
  atomic_int inside;
  atomic_int over;
  atomic_long ops;
} sem_ctx;

static void *sem_worker(void *arg) {
  sem_ctx *c = (sem_ctx *)arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  for (long i = 0; i < N / THREADS; i++) {
    bool got;
    unsigned r = rnd(&seed) % 4;
    if (r == 0) {
      got = tapir_semaphore_try_wait(c->s, 1);
    } else {
      const tapir_cancel_token *tok = r == 3 ? canceler_token(c->cx) : NULL;
      const tapir_task *t = NULL;
      int64_t timeout = r == 2 ? (int64_t)(rnd(&seed) % 2) : -1;
      if (tapir_semaphore_wait_async(c->s, 1, timeout, tok, &t) != TAPIR_STATUS_OK) break;
      tapir_cancel_token_release(tok);
      got = settle(t) == 1;
    }
    if (got) {
      if (atomic_fetch_add(&c->inside, 1) >= 2) atomic_fetch_add(&c->over, 1);
      atomic_fetch_sub(&c->inside, 1);
      CHECK_OK(tapir_semaphore_signal(c->s, 1, NULL));
    }
    atomic_fetch_add(&c->ops, 1);
  }
  return NULL;
}

static bool stress_semaphore(void) {
  canceler cx;
  canceler_start(&cx);
  sem_ctx c;
  memset(&c, 0, sizeof c);
  c.cx = &cx;
  if (tapir_semaphore_new(2, 2, &c.s) != TAPIR_STATUS_OK) return false;
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) th[i] = h_spawn(sem_worker, &c);
  for (int i = 0; i < THREADS; i++) h_join(th[i]);
  canceler_stop(&cx);
  CHECK_EQ(atomic_load(&c.over), 0);
  CHECK_EQ(tapir_semaphore_current_count(c.s), 2); /* no permit lost or duplicated */
  CHECK_OK(tapir_semaphore_release(c.s));
  printf("  semaphore: %ld operations\n", atomic_load(&c.ops));
  return true;
}

/* --------------------------------------------------------------- events */

typedef struct {
  const tapir_auto_reset_event *e;
  const tapir_semaphore *ack;
  canceler *cx;
  atomic_long taken;
  atomic_int stop;
} ev_ctx;

static void *ev_waiter(void *arg) {
  ev_ctx *c = (ev_ctx *)arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  while (!atomic_load(&c->stop)) {
    unsigned r = rnd(&seed) % 3;
    const tapir_cancel_token *tok = r == 2 ? canceler_token(c->cx) : NULL;
    const tapir_task *t = NULL;
    if (tapir_auto_reset_event_wait_async(c->e, r == 1 ? 1 : 20, tok, &t) != TAPIR_STATUS_OK) break;
    tapir_cancel_token_release(tok);
    if (settle(t) == 1) {
      atomic_fetch_add(&c->taken, 1);
      CHECK_OK(tapir_semaphore_signal(c->ack, 1, NULL));
    }
  }
  return NULL;
}

static bool stress_events(void) {
  canceler cx;
  canceler_start(&cx);
  ev_ctx c;
  memset(&c, 0, sizeof c);
  c.cx = &cx;
  if (tapir_auto_reset_event_new(0, &c.e) != TAPIR_STATUS_OK) return false;
  if (tapir_semaphore_new(0, 1, &c.ack) != TAPIR_STATUS_OK) return false;
  pthread_t th[THREADS - 1];
  for (int i = 0; i < THREADS - 1; i++) th[i] = h_spawn(ev_waiter, &c);
  long sets = N / 20;
  for (long i = 0; i < sets; i++) {
    CHECK_OK(tapir_auto_reset_event_set(c.e));
    /* the next set only after this one was taken: each set is taken exactly once */
    const tapir_task *t = NULL;
    if (tapir_semaphore_wait_async(c.ack, 1, -1, NULL, &t) != TAPIR_STATUS_OK) break;
    settle(t);
  }
  atomic_store(&c.stop, 1);
  for (int i = 0; i < THREADS - 1; i++) h_join(th[i]);
  canceler_stop(&cx);
  CHECK_EQ(atomic_load(&c.taken), sets);
  CHECK(!tapir_auto_reset_event_try_wait(c.e));
  CHECK_OK(tapir_auto_reset_event_release(c.e));
  CHECK_OK(tapir_semaphore_release(c.ack));

  /* manual-reset: generations of set/reset while waiters come and go */
  const tapir_manual_reset_event *m = NULL;
  if (tapir_manual_reset_event_new(0, &m) != TAPIR_STATUS_OK) return false;
  long completed = 0;
  for (long i = 0; i < N / 20; i++) {
    const tapir_task *a = NULL, *b = NULL;
    CHECK_OK(tapir_manual_reset_event_wait_async(m, -1, NULL, &a));
    CHECK_OK(tapir_manual_reset_event_wait_async(m, 0, NULL, &b));
    CHECK_OK(tapir_manual_reset_event_set(m));
    completed += settle(a) == 1;
    settle(b);
    CHECK_OK(tapir_manual_reset_event_reset(m));
  }
  CHECK_EQ(completed, N / 20);
  CHECK_OK(tapir_manual_reset_event_release(m));
  printf("  events: %ld auto-reset sets taken once each, %ld manual generations\n", sets, N / 20);
  return true;
}

/* ------------------------------------------------- countdown and barrier */

typedef struct {
  const tapir_barrier *b;
  const tapir_countdown *cd;
  long phases;
  atomic_long ok;
} bar_ctx;

static void *bar_worker(void *arg) {
  bar_ctx *c = (bar_ctx *)arg;
  for (long i = 0; i < c->phases; i++) {
    const tapir_task *t = NULL;
    CHECK_OK(tapir_countdown_signal(c->cd, 1, NULL));
    if (tapir_barrier_signal_and_wait_async(c->b, -1, NULL, &t) != TAPIR_STATUS_OK) break;
    if (settle(t) == 1) atomic_fetch_add(&c->ok, 1);
  }
  return NULL;
}

static const tapir_error *bar_action(void *ud, uint64_t phase) {
  bar_ctx *c = (bar_ctx *)ud;
  (void)phase;
  /* every participant signaled the countdown before arriving: it is at zero */
  CHECK_EQ(tapir_countdown_current_count(c->cd), 0);
  CHECK_OK(tapir_countdown_reset(c->cd, -1));
  return NULL;
}

static bool stress_barrier_countdown(void) {
  bar_ctx c;
  memset(&c, 0, sizeof c);
  c.phases = N / 10 / THREADS;
  if (tapir_countdown_new(THREADS, &c.cd) != TAPIR_STATUS_OK) return false;
  if (tapir_barrier_new(THREADS, bar_action, &c, NULL, &c.b) != TAPIR_STATUS_OK) return false;
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) th[i] = h_spawn(bar_worker, &c);
  for (int i = 0; i < THREADS; i++) h_join(th[i]);
  CHECK_EQ(atomic_load(&c.ok), c.phases * THREADS);
  CHECK_EQ((long)tapir_barrier_current_phase(c.b), c.phases);
  CHECK_OK(tapir_barrier_release(c.b));
  CHECK_OK(tapir_countdown_release(c.cd));
  printf("  barrier + countdown: %ld phases x %d participants\n", c.phases, THREADS);
  return true;
}

/* ------------------------------------------------------- lock and rwlock */

typedef struct {
  const tapir_lock *l;
  const tapir_rwlock *rw;
  canceler *cx;
  long plain; /* changed only under the lock */
  atomic_long granted;
  atomic_int readers, writers, bad;
} lk_ctx;

static void *lock_worker(void *arg) {
  lk_ctx *c = (lk_ctx *)arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  for (long i = 0; i < N / THREADS / 2; i++) {
    unsigned r = rnd(&seed) % 4;
    const tapir_cancel_token *tok = r == 3 ? canceler_token(c->cx) : NULL;
    const tapir_task *t = NULL;
    if (tapir_lock_acquire_async(c->l, r == 2 ? 1 : -1, tok, &t) != TAPIR_STATUS_OK) break;
    tapir_cancel_token_release(tok);
    tapir_task_wait(t, -1);
    if (p_value(t) > 0) {
      c->plain++;
      atomic_fetch_add(&c->granted, 1);
    }
    tapir_task_release(t); /* releases the lock if it was granted */
    /* the reader-writer lock: readers overlap, a writer never overlaps anyone */
    bool write = rnd(&seed) % 4 == 0;
    const tapir_task *g = NULL;
    int64_t timeout = rnd(&seed) % 3 == 0 ? 1 : -1;
    if ((write ? tapir_rwlock_write_async : tapir_rwlock_read_async)(c->rw, timeout, NULL, &g) != TAPIR_STATUS_OK)
      break;
    tapir_task_wait(g, -1);
    if (p_value(g) > 0) {
      if (write) {
        if (atomic_fetch_add(&c->writers, 1) != 0 || atomic_load(&c->readers) != 0) atomic_fetch_add(&c->bad, 1);
        atomic_fetch_sub(&c->writers, 1);
      } else {
        atomic_fetch_add(&c->readers, 1);
        if (atomic_load(&c->writers) != 0) atomic_fetch_add(&c->bad, 1);
        atomic_fetch_sub(&c->readers, 1);
      }
    }
    tapir_task_release(g);
  }
  return NULL;
}

static bool stress_locks(void) {
  canceler cx;
  canceler_start(&cx);
  lk_ctx c;
  memset(&c, 0, sizeof c);
  c.cx = &cx;
  if (tapir_lock_new(&c.l) != TAPIR_STATUS_OK || tapir_rwlock_new(&c.rw) != TAPIR_STATUS_OK) return false;
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) th[i] = h_spawn(lock_worker, &c);
  for (int i = 0; i < THREADS; i++) h_join(th[i]);
  canceler_stop(&cx);
  CHECK_EQ(c.plain, atomic_load(&c.granted));
  CHECK_EQ(atomic_load(&c.bad), 0);
  CHECK(!tapir_lock_is_held(c.l));
  CHECK_EQ(tapir_rwlock_reader_count(c.rw), 0);
  CHECK(!tapir_rwlock_is_write_held(c.rw));
  CHECK_OK(tapir_lock_release(c.l));
  CHECK_OK(tapir_rwlock_release(c.rw));
  printf("  lock + rwlock: %ld lock grants, exclusion held\n", atomic_load(&c.granted));
  return true;
}

/* -------------------------------------------------------------- channel */

typedef struct {
  const tapir_channel *ch;
  canceler *cx;
  long per_producer;
  atomic_int next_producer;
  atomic_uchar *delivered; /* per item id */
  atomic_uchar *destroyed;
  atomic_long reads;
} ch_ctx;

static ch_ctx *ch_global;

static void ch_destroy(void *p) {
  uintptr_t id = (uintptr_t)p;
  atomic_fetch_add(&ch_global->destroyed[id], 1);
}

static void *ch_producer(void *arg) {
  ch_ctx *c = (ch_ctx *)arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  long base = atomic_fetch_add(&c->next_producer, 1) * c->per_producer;
  for (long i = 0; i < c->per_producer; i++) {
    uintptr_t id = (uintptr_t)(base + i + 1);
    unsigned r = rnd(&seed) % 4;
    if (r == 0 && tapir_channel_try_write(c->ch, (void *)id, ch_destroy)) continue;
    const tapir_cancel_token *tok = r == 3 ? canceler_token(c->cx) : NULL;
    const tapir_task *t = NULL;
    if (tapir_channel_write_async(c->ch, (void *)id, ch_destroy, r == 2 ? 1 : -1, tok, &t) != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "write_async refused");
      tapir_cancel_token_release(tok);
      break;
    }
    tapir_cancel_token_release(tok);
    settle(t); /* written, or not (then tapir destroyed the item) */
  }
  return NULL;
}

static void *ch_consumer(void *arg) {
  ch_ctx *c = (ch_ctx *)arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  for (;;) {
    void *item = NULL;
    tapir_destroy_fn d = NULL;
    if (rnd(&seed) % 3 == 0) {
      if (tapir_channel_try_read(c->ch, &item, &d)) {
        atomic_fetch_add(&c->delivered[(uintptr_t)item], 1);
        atomic_fetch_add(&c->reads, 1);
        d(item);
        continue;
      }
      if (tapir_last_status() == TAPIR_STATUS_QUEUE_COMPLETED) return NULL;
    }
    const tapir_task *t = NULL;
    unsigned r = rnd(&seed) % 3;
    const tapir_cancel_token *tok = r == 2 ? canceler_token(c->cx) : NULL;
    if (tapir_channel_read_async(c->ch, r == 1 ? 1 : -1, tok, &t) != TAPIR_STATUS_OK) return NULL;
    tapir_cancel_token_release(tok);
    tapir_task_wait(t, -1);
    if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_SUCCEEDED) {
      atomic_fetch_add(&c->delivered[p_value(t)], 1);
      atomic_fetch_add(&c->reads, 1);
    } else if (p_error_code(t) == TAPIR_STATUS_QUEUE_COMPLETED) {
      tapir_task_release(t);
      return NULL;
    }
    tapir_task_release(t);
  }
}

static bool stress_channel(void) {
  canceler cx;
  canceler_start(&cx);
  ch_ctx c;
  memset(&c, 0, sizeof c);
  ch_global = &c;
  c.cx = &cx;
  c.per_producer = N / THREADS / 2;
  long items = c.per_producer * THREADS;
  c.delivered = calloc((size_t)items + 1, 1);
  c.destroyed = calloc((size_t)items + 1, 1);
  tapir_channel_options o = {sizeof o, TAPIR_CHANNEL_FULL_WAIT, 16};
  if (tapir_channel_new(&o, &c.ch) != TAPIR_STATUS_OK) return false;
  pthread_t p[THREADS], q[THREADS];
  for (int i = 0; i < THREADS; i++) q[i] = h_spawn(ch_consumer, &c);
  for (int i = 0; i < THREADS; i++) p[i] = h_spawn(ch_producer, &c);
  for (int i = 0; i < THREADS; i++) h_join(p[i]);
  CHECK_OK(tapir_channel_complete(c.ch, NULL));
  for (int i = 0; i < THREADS; i++) h_join(q[i]);
  CHECK_OK(tapir_channel_release(c.ch));
  canceler_stop(&cx);
  long delivered = 0, dup = 0, destroys_off = 0;
  for (long id = 1; id <= items; id++) {
    delivered += c.delivered[id] == 1;
    dup += c.delivered[id] > 1;
    destroys_off += c.destroyed[id] != 1;
  }
  CHECK_EQ(dup, 0);
  CHECK_EQ(destroys_off, 0); /* every item destroyed exactly once, delivered or not */
  CHECK_EQ(delivered, atomic_load(&c.reads));
  printf("  channel: %ld items, %ld delivered once, %ld not written (destroyed once)\n", items, delivered,
         items - delivered);
  free(c.delivered);
  free(c.destroyed);
  return true;
}

/* The channel's lock-free paths: 4 producers and 4 consumers move N items through a
 * bounded ring (1024), a tiny one (4: full and empty all the time, so readers and
 * writers park and race the fast paths), and an unbounded channel (past its ring the
 * items spill under the mutex), with try_write / try_read first and the async forms
 * when those fail, no timeouts: every item must be delivered exactly once, each
 * producer's items in the order it wrote them (per consumer), and destroyed exactly
 * once. Then items left in a released channel are destroyed once too. */
enum { CF_THREADS = 4 };

typedef struct {
  const tapir_channel *ch;
  long per_producer;
  atomic_int next_producer, next_consumer;
  atomic_uchar *delivered;
  atomic_long destroyed;
  atomic_long reads, out_of_order;
} cf_ctx;

static cf_ctx *cf_global;

static void cf_destroy(void *p) {
  (void)p;
  atomic_fetch_add(&cf_global->destroyed, 1);
}

static void *cf_producer(void *arg) {
  cf_ctx *c = (cf_ctx *)arg;
  long p = atomic_fetch_add(&c->next_producer, 1);
  for (long i = 0; i < c->per_producer; i++) {
    uintptr_t id = (uintptr_t)(p * c->per_producer + i + 1);
    if (tapir_channel_try_write(c->ch, (void *)id, cf_destroy)) continue;
    const tapir_task *t = NULL;
    if (tapir_channel_write_async(c->ch, (void *)id, cf_destroy, -1, NULL, &t) != TAPIR_STATUS_OK) {
      h_fail(__FILE__, __LINE__, "write_async refused");
      break;
    }
    CHECK_EQ(p_settled_value(t), 1);
    tapir_task_release(t);
  }
  return NULL;
}

static void cf_got(cf_ctx *c, long *last, uintptr_t id) {
  long p = (long)((id - 1) / (uintptr_t)c->per_producer);
  long seq = (long)((id - 1) % (uintptr_t)c->per_producer);
  if (seq <= last[p]) atomic_fetch_add(&c->out_of_order, 1);
  last[p] = seq;
  atomic_fetch_add(&c->delivered[id], 1);
  atomic_fetch_add(&c->reads, 1);
}

static void *cf_consumer(void *arg) {
  cf_ctx *c = (cf_ctx *)arg;
  long last[CF_THREADS];
  for (int i = 0; i < CF_THREADS; i++) last[i] = -1;
  unsigned seed = (unsigned)atomic_fetch_add(&c->next_consumer, 1) + 1;
  for (;;) {
    void *item = NULL;
    tapir_destroy_fn d = NULL;
    if (rnd(&seed) % 8 != 0) {
      if (tapir_channel_try_read(c->ch, &item, &d)) {
        cf_got(c, last, (uintptr_t)item);
        d(item);
        continue;
      }
      if (tapir_last_status() == TAPIR_STATUS_QUEUE_COMPLETED) return NULL;
    }
    const tapir_task *t = NULL;
    if (tapir_channel_read_async(c->ch, -1, NULL, &t) != TAPIR_STATUS_OK) return NULL;
    tapir_task_wait(t, -1);
    if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_SUCCEEDED) {
      cf_got(c, last, (uintptr_t)p_value(t));
    } else {
      CHECK_EQ(p_error_code(t), TAPIR_STATUS_QUEUE_COMPLETED);
      tapir_task_release(t);
      return NULL;
    }
    tapir_task_release(t); /* the task owned the item: its destroy runs here */
  }
}

static bool cf_run(const char *name, size_t capacity) {
  static cf_ctx c;
  memset(&c, 0, sizeof c);
  cf_global = &c;
  c.per_producer = N / CF_THREADS;
  long items = c.per_producer * CF_THREADS;
  c.delivered = calloc((size_t)items + 1, 1);
  tapir_channel_options o = {sizeof o, TAPIR_CHANNEL_FULL_WAIT, capacity};
  if (tapir_channel_new(capacity ? &o : NULL, &c.ch) != TAPIR_STATUS_OK) return false;
  pthread_t p[CF_THREADS], q[CF_THREADS];
  for (int i = 0; i < CF_THREADS; i++) q[i] = h_spawn(cf_consumer, &c);
  for (int i = 0; i < CF_THREADS; i++) p[i] = h_spawn(cf_producer, &c);
  for (int i = 0; i < CF_THREADS; i++) h_join(p[i]);
  CHECK_OK(tapir_channel_complete(c.ch, NULL));
  for (int i = 0; i < CF_THREADS; i++) h_join(q[i]);
  CHECK_EQ(tapir_channel_count(c.ch), 0);
  CHECK_OK(tapir_channel_release(c.ch));
  long once = 0, off = 0;
  for (long id = 1; id <= items; id++) {
    once += c.delivered[id] == 1;
    off += c.delivered[id] != 1;
  }
  CHECK_EQ(off, 0);
  CHECK_EQ(once, items);
  CHECK_EQ(atomic_load(&c.reads), items);
  CHECK_EQ(atomic_load(&c.out_of_order), 0);
  CHECK_EQ(atomic_load(&c.destroyed), items);
  printf("  channel fast paths (%s): %ld items delivered once, in order, destroyed once\n", name, once);
  free(c.delivered);
  return true;
}

static bool stress_channel_fast(void) {
  bool ok = cf_run("capacity 1024", 1024) && cf_run("capacity 4", 4) && cf_run("unbounded", 0);
  /* Items left in a channel when its last handle goes are destroyed once each. */
  static cf_ctx c;
  memset(&c, 0, sizeof c);
  cf_global = &c;
  for (size_t cap = 0; cap <= 2000; cap += 1000) {
    atomic_store(&c.destroyed, 0);
    tapir_channel_options o = {sizeof o, TAPIR_CHANNEL_FULL_WAIT, cap};
    CHECK_OK(tapir_channel_new(cap ? &o : NULL, &c.ch));
    for (uintptr_t i = 1; i <= 1500; i++) {
      if (!tapir_channel_try_write(c.ch, (void *)i, cf_destroy)) CHECK_EQ(cap, 1000);
    }
    CHECK_OK(tapir_channel_release(c.ch));
    CHECK_EQ(atomic_load(&c.destroyed), cap == 1000 ? 1000 : 1500);
  }
  return ok;
}

/* ---------------------------------------------------------------- cache */

typedef struct {
  const tapir_cache *cache;
  atomic_long factory_calls;
  atomic_long gets;
} ca_ctx;

static const tapir_task *ca_factory(void *ud, const uint8_t *key, size_t len) {
  ca_ctx *c = (ca_ctx *)ud;
  atomic_fetch_add(&c->factory_calls, 1);
  const tapir_task *t = NULL;
  if (len == 1 && key[0] % 5 == 0) { /* some keys fail: evicted, retried */
    const tapir_error *e = h_error(9, "no");
    tapir_task_from_error(e, &t);
    tapir_error_release(e);
  } else {
    tapir_task_from_result(h_int(key[0]), NULL, &t);
  }
  return t;
}

static void *ca_worker(void *arg) {
  ca_ctx *c = (ca_ctx *)arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  for (long i = 0; i < N / THREADS; i++) {
    uint8_t key = (uint8_t)(rnd(&seed) % 64);
    const tapir_task *t = NULL;
    if (rnd(&seed) % 64 == 0) (void)tapir_cache_remove(c->cache, &key, 1);
    if (tapir_cache_get_async(c->cache, &key, 1, &t) != TAPIR_STATUS_OK) break;
    if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_SUCCEEDED) CHECK_EQ(p_value(t), key);
    else (void)p_error_code(t);
    tapir_task_release(t);
    atomic_fetch_add(&c->gets, 1);
  }
  return NULL;
}

static bool stress_cache(void) {
  ca_ctx c;
  memset(&c, 0, sizeof c);
  tapir_cache_options o = {sizeof o, 0, 48, NULL, NULL};
  if (tapir_cache_new(ca_factory, &c, NULL, &o, &c.cache) != TAPIR_STATUS_OK) return false;
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) th[i] = h_spawn(ca_worker, &c);
  for (int i = 0; i < THREADS; i++) h_join(th[i]);
  CHECK(tapir_cache_count(c.cache) <= 48);
  CHECK(atomic_load(&c.factory_calls) <= atomic_load(&c.gets));
  CHECK_OK(tapir_cache_release(c.cache));
  printf("  cache: %ld gets, %ld factory calls\n", atomic_load(&c.gets), atomic_load(&c.factory_calls));
  return true;
}

static void run(const char *name, bool (*fn)(void), int *passed, int *failed) {
  size_t live = h_live();
  int before = atomic_load(&h_failures_);
  double t0 = h_now_ms();
  bool ok = fn();
  if (!h_wait_live(live, 5000)) h_fail(__FILE__, __LINE__, "%s: live objects %zu, want %zu", name, h_live(), live);
  ok = ok && atomic_load(&h_failures_) == before;
  printf("%s %s (%.0f ms)\n", ok ? "ok  " : "FAIL", name, h_now_ms() - t0);
  if (ok) (*passed)++;
  else (*failed)++;
}

int main(int argc, char **argv) {
  N = argc > 1 ? atol(argv[1]) : 1000000;
  if (N < 1000) N = 1000;
  setvbuf(stdout, NULL, _IOLBF, 0);
  h_warm_up();
  int passed = 0, failed = 0;
  run("stress_semaphore", stress_semaphore, &passed, &failed);
  run("stress_events", stress_events, &passed, &failed);
  run("stress_barrier_countdown", stress_barrier_countdown, &passed, &failed);
  run("stress_locks", stress_locks, &passed, &failed);
  run("stress_channel", stress_channel, &passed, &failed);
  run("stress_channel_fast", stress_channel_fast, &passed, &failed);
  run("stress_cache", stress_cache, &passed, &failed);
  tapir_shutdown();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
