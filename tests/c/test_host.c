/* Fitting tapir into a host: tapir_configure (threads, names, stacks, hooks, the
 * environment), the host timer driver, clocks (frames, scaled, paused), delays,
 * timeouts and cancel-afters on them, single-threaded mode (no thread ever made), the
 * seeded test scheduler with run_until_idle, and a manual scheduler's wake descriptor.
 *
 * Every test that configures starts and ends with tapir_shutdown, which returns tapir
 * to its defaults, so the suite's other tests run unconfigured. No test sleeps for
 * time: time is the host's (virtual) or a clock's. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sys/epoll.h>

/* ---- helpers ---- */

/* Shuts tapir down (back to its defaults) and applies `c`. */
static bool configure_fresh(const tapir_config *c) {
  if (tapir_shutdown() != TAPIR_STATUS_OK) return false;
  tapir_status st = tapir_configure(c);
  if (st != TAPIR_STATUS_OK) {
    h_fail(__FILE__, __LINE__, "tapir_configure: %s (pending timers: %zu)", tapir_status_str(st),
           tapir_debug_pending_timers());
    return false;
  }
  return true;
}

/* The single-threaded configuration: no pool, the host timer, `main_sched` for both. */
static tapir_config single_threaded(const tapir_scheduler *main_sched) {
  tapir_config c;
  tapir_config_init(&c);
  c.threads = 0;
  c.pool_scheduler = main_sched;
  c.timer_scheduler = main_sched;
  c.timer_driver = TAPIR_TIMER_DRIVER_HOST;
  return c;
}

static const tapir_scheduler *new_manual(void) {
  const tapir_scheduler *s = NULL;
  CHECK_OK(tapir_scheduler_new_manual(&s));
  return s;
}

static const tapir_clock *new_frames(void) {
  const tapir_clock *c = NULL;
  CHECK_OK(tapir_clock_new_frames(&c));
  return c;
}

static bool completed(const tapir_task *t) { return tapir_task_is_completed(t); }

static int32_t fault_code(const tapir_task *t) {
  const tapir_error *e = NULL;
  if (tapir_task_error(t, &e) != TAPIR_STATUS_OK) return -1;
  int32_t code = tapir_error_code(e);
  tapir_error_release(e);
  return code;
}

static void hit(void *ud) { h_counter_hit((h_counter *)ud); }

static void run_sets_result(void *ud, const tapir_source *s) {
  h_counter *c = (h_counter *)ud;
  h_counter_hit(c);
  (void)tapir_source_set_result(s, h_int(7), NULL);
}

static size_t advance(const tapir_clock *c, double delta) {
  size_t ran = 0;
  CHECK_OK(tapir_clock_advance(c, delta, &ran));
  return ran;
}

/* ---- tapir_configure ---- */

static void config_init_and_configure_refuse_bad_input(void) {
  tapir_config c;
  memset(&c, 0xAB, sizeof c);
  CHECK_OK(tapir_config_init(&c));
  CHECK_EQ(c.struct_size, (uint32_t)sizeof c);
  CHECK_EQ(c.threads, -1);
  CHECK(c.thread_name_prefix == NULL && c.on_thread_start == NULL && c.on_thread_stop == NULL);
  CHECK(c.pool_scheduler == NULL && c.timer_scheduler == NULL && c.hook_ctx == NULL);
  CHECK_EQ(c.stack_size, (size_t)0);
  CHECK_EQ(c.timer_driver, TAPIR_TIMER_DRIVER_THREAD);
  CHECK_ST(tapir_config_init(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_configure(NULL), TAPIR_STATUS_NULL_ARGUMENT);

  REQUIRE_OK(tapir_shutdown());
  const tapir_scheduler *m = new_manual();
  tapir_config bad = c;
  bad.struct_size = 4;
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_ARGUMENT);
  bad = c, bad.threads = -2;
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_ARGUMENT);
  bad = c, bad.threads = 1025;
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_ARGUMENT);
  bad = c, bad.threads = 0; /* no pool needs a scheduler for its work */
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_ARGUMENT);
  bad = c, bad.threads = 2, bad.pool_scheduler = m; /* ...and only then takes one */
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_ARGUMENT);
  bad = c, bad.timer_driver = 7;
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_ARGUMENT);
  bad = c, bad.thread_name_prefix = "\xff\xfe";
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_ARGUMENT);
  const tapir_task *t = NULL;
  CHECK_OK(tapir_task_from_result(NULL, NULL, &t));
  bad = c, bad.timer_scheduler = (const tapir_scheduler *)(const void *)t; /* wrong kind */
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_HANDLE);
  tapir_task_release(t);
  const tapir_scheduler *stale = new_manual();
  tapir_scheduler_release(stale);
  bad = c, bad.threads = 0, bad.pool_scheduler = stale;
  CHECK_ST(tapir_configure(&bad), TAPIR_STATUS_INVALID_HANDLE);
  /* A configuration of an older, shorter struct: fields past struct_size default. */
  tapir_config old = c;
  old.struct_size = (uint32_t)offsetof(tapir_config, thread_name_prefix);
  old.threads = 1;
  CHECK_OK(tapir_configure(&old));
  CHECK_OK(tapir_shutdown()); /* back to the defaults */
  tapir_scheduler_release(m);
  CHECK_EQ(tapir_debug_live_objects(TAPIR_OBJECT_KIND_SCHEDULER), (size_t)0);
}

static void configure_is_refused_once_in_use_and_allowed_after_shutdown(void) {
  tapir_config c;
  tapir_config_init(&c);
  c.threads = 1;
  REQUIRE(configure_fresh(&c));
  CHECK_OK(tapir_configure(&c)); /* not in use yet: a call may replace the last */
  h_counter k;
  h_counter_init(&k);
  const tapir_task *t = NULL;
  CHECK_OK(tapir_run(NULL, run_sets_result, &k, NULL, NULL, &t)); /* starts the pool */
  CHECK_OK(tapir_task_wait(t, h_prompt_ms()));
  tapir_task_release(t);
  CHECK_ST(tapir_configure(&c), TAPIR_STATUS_INVALID_STATE);
  /* A timer is use too. */
  CHECK_OK(tapir_shutdown());
  CHECK_OK(tapir_configure(&c));
  CHECK_OK(tapir_delay(1, NULL, &t));
  CHECK_ST(tapir_configure(&c), TAPIR_STATUS_INVALID_STATE);
  CHECK_OK(tapir_task_wait(t, h_prompt_ms()));
  tapir_task_release(t);
  CHECK_OK(tapir_shutdown());
  CHECK_OK(tapir_configure(&c)); /* after shutdown: again */
  CHECK_OK(tapir_shutdown());
}

/* ---- threads: count, names, stacks, hooks, TAPIR_THREADS ---- */

typedef struct {
  pthread_mutex_t mu;
  int starts[2], stops[2];  /* per kind */
  uint32_t seen_index_mask; /* pool indexes that started */
  int bad_name, small_stack, stop_on_other_thread;
  pthread_t started_on[8];
  char last_name[16];
  size_t want_stack;
  const char *want_prefix;
} hook_log;

static void on_start(void *ctx, int32_t kind, uint32_t index) {
  hook_log *h = (hook_log *)ctx;
  char name[16] = "";
  pthread_getname_np(pthread_self(), name, sizeof name);
  char want[32];
  if (kind == TAPIR_THREAD_POOL)
    snprintf(want, sizeof want, "%s-pool-%u", h->want_prefix, index);
  else
    snprintf(want, sizeof want, "%s-timer", h->want_prefix);
  want[15] = '\0';
  pthread_attr_t attr;
  size_t stack = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstacksize(&attr, &stack);
    pthread_attr_destroy(&attr);
  }
  pthread_mutex_lock(&h->mu);
  h->starts[kind == TAPIR_THREAD_TIMER]++;
  if (kind == TAPIR_THREAD_POOL && index < 8) {
    h->seen_index_mask |= 1u << index;
    h->started_on[index] = pthread_self();
  }
  if (strcmp(name, want) != 0) h->bad_name++;
  if (h->want_stack && stack < h->want_stack) h->small_stack++;
  snprintf(h->last_name, sizeof h->last_name, "%s", name);
  pthread_mutex_unlock(&h->mu);
}

static void on_stop(void *ctx, int32_t kind, uint32_t index) {
  hook_log *h = (hook_log *)ctx;
  pthread_mutex_lock(&h->mu);
  h->stops[kind == TAPIR_THREAD_TIMER]++;
  if (kind == TAPIR_THREAD_POOL && index < 8 && !pthread_equal(h->started_on[index], pthread_self()))
    h->stop_on_other_thread++;
  pthread_mutex_unlock(&h->mu);
}

static int hook_count(hook_log *h, int which_starts, int kind) {
  pthread_mutex_lock(&h->mu);
  int n = which_starts ? h->starts[kind] : h->stops[kind];
  pthread_mutex_unlock(&h->mu);
  return n;
}

static void pool_and_timer_threads_follow_the_configuration(void) {
  static hook_log h = {.mu = PTHREAD_MUTEX_INITIALIZER};
  memset(h.starts, 0, sizeof h.starts);
  memset(h.stops, 0, sizeof h.stops);
  h.want_prefix = "gamejob";
  h.want_stack = 512 * 1024;
  REQUIRE_OK(tapir_shutdown());
  REQUIRE(h_wait_thread_count(1, h_prompt_ms()));
  int before = 1;
  tapir_config c;
  tapir_config_init(&c);
  c.threads = 3;
  c.thread_name_prefix = "gamejob";
  c.stack_size = 512 * 1024;
  c.on_thread_start = on_start;
  c.on_thread_stop = on_stop;
  c.hook_ctx = &h;
  REQUIRE(configure_fresh(&c));
  CHECK_EQ(h_thread_count(), before); /* configuring starts nothing */
  h_counter k;
  h_counter_init(&k);
  const tapir_task *t = NULL, *d = NULL;
  CHECK_OK(tapir_run(NULL, run_sets_result, &k, NULL, NULL, &t));
  CHECK_OK(tapir_task_wait(t, h_prompt_ms()));
  CHECK_OK(tapir_delay(1, NULL, &d));
  CHECK_OK(tapir_task_wait(d, h_prompt_ms()));
  CHECK_EQ(h_thread_count(), before + 4); /* 3 workers and the timer */
  int waited = 0;
  while ((hook_count(&h, 1, 0) < 3 || hook_count(&h, 1, 1) < 1) && waited++ < h_prompt_ms()) h_sleep_ms(1);
  CHECK_EQ(hook_count(&h, 1, 0), 3);
  CHECK_EQ(hook_count(&h, 1, 1), 1);
  CHECK_EQ(h.seen_index_mask, 0x7u);
  CHECKF(h.bad_name == 0, "%d threads misnamed (last: %s)", h.bad_name, h.last_name);
  CHECK_EQ(h.small_stack, 0);
  CHECK_EQ(hook_count(&h, 0, 0) + hook_count(&h, 0, 1), 0);
  tapir_task_release(t);
  tapir_task_release(d);
  CHECK_OK(tapir_shutdown());
  CHECK_EQ(hook_count(&h, 0, 0), 3); /* each ran on its own thread, last */
  CHECK_EQ(hook_count(&h, 0, 1), 1);
  CHECK_EQ(h.stop_on_other_thread, 0);
  CHECK(h_wait_thread_count(before, h_prompt_ms()));
}

static void tapir_threads_sets_the_pool_size_when_not_configured(void) {
  static hook_log h = {.mu = PTHREAD_MUTEX_INITIALIZER};
  memset(h.starts, 0, sizeof h.starts);
  h.want_prefix = "tapir";
  h.want_stack = 0;
  h.seen_index_mask = 0;
  setenv("TAPIR_THREADS", "3", 1);
  tapir_config c;
  tapir_config_init(&c); /* threads -1: the environment decides */
  c.on_thread_start = on_start;
  c.hook_ctx = &h;
  REQUIRE(configure_fresh(&c));
  h_counter k;
  h_counter_init(&k);
  const tapir_task *t = NULL;
  CHECK_OK(tapir_run(NULL, run_sets_result, &k, NULL, NULL, &t));
  CHECK_OK(tapir_task_wait(t, h_prompt_ms()));
  tapir_task_release(t);
  CHECK_OK(tapir_shutdown()); /* joins: every start hook has run */
  CHECK_EQ(hook_count(&h, 1, 0), 3);
  CHECK_EQ(h.bad_name, 0);
  /* Out of range: ignored (one per core). */
  setenv("TAPIR_THREADS", "100000", 1);
  memset(h.starts, 0, sizeof h.starts);
  REQUIRE(configure_fresh(&c));
  CHECK_OK(tapir_run(NULL, run_sets_result, &k, NULL, NULL, &t));
  CHECK_OK(tapir_task_wait(t, h_prompt_ms()));
  tapir_task_release(t);
  CHECK_OK(tapir_shutdown());
  CHECK_EQ(hook_count(&h, 1, 0), (int)sysconf(_SC_NPROCESSORS_ONLN));
  unsetenv("TAPIR_THREADS");
}

/* ---- single-threaded mode ---- */

static void on_main(void *ud, const tapir_task *t) {
  (void)t;
  h_counter_hit((h_counter *)ud);
}

static void single_threaded_mode_never_creates_a_thread(void) {
  REQUIRE_OK(tapir_shutdown());
  REQUIRE(h_wait_thread_count(1, h_prompt_ms()));
  const tapir_scheduler *m = new_manual();
  tapir_config c = single_threaded(m);
  REQUIRE(configure_fresh(&c));
  pthread_t me = pthread_self();

  /* Task.Run on the default pool, a continuation for the default pool, a delay, a
   * timeout, a cancel-after and a when_all over them. */
  h_counter run, cont, posted;
  h_counter_init(&run), h_counter_init(&cont), h_counter_init(&posted);
  const tapir_task *r = NULL, *d = NULL, *w = NULL, *all = NULL;
  CHECK_OK(tapir_run(NULL, run_sets_result, &run, NULL, NULL, &r));
  CHECK_OK(tapir_task_on_complete(r, on_main, &cont, NULL, NULL, NULL));
  const tapir_scheduler *pool = NULL;
  CHECK_OK(tapir_scheduler_default(&pool));
  CHECK_OK(tapir_scheduler_post(pool, hit, &posted, NULL));
  CHECK_OK(tapir_delay(100, NULL, &d));
  const tapir_source *never = h_source();
  const tapir_task *nt = h_task_of(never);
  CHECK_OK(tapir_task_wait_async(nt, 50, NULL, &w));
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  REQUIRE(h_new_cts(&cts, &tok));
  CHECK_OK(tapir_cancel_source_cancel_after(cts, 30));
  const tapir_task *both[2] = {r, d};
  CHECK_OK(tapir_when_all(both, 2, &all));
  CHECK_EQ(h_thread_count(), 1);
  CHECK_EQ(atomic_load(&run.calls), 0); /* nothing runs until the host pumps */

  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(ran >= 3);
  CHECK_EQ(atomic_load(&run.calls), 1);
  CHECK_EQ(atomic_load(&cont.calls), 1);
  CHECK_EQ(atomic_load(&posted.calls), 1);
  CHECK(pthread_equal(run.thread, me) && pthread_equal(cont.thread, me) && pthread_equal(posted.thread, me));

  /* The host's time: 30 ms cancels, 50 ms times out, 100 ms ends the delay. */
  CHECK_OK(tapir_time_advance(30));
  CHECK_OK(tapir_timers_run_due(&ran));
  CHECK_EQ(ran, (size_t)1);
  CHECK(!tapir_cancel_token_is_canceled(tok)); /* the expiry is queued on the host's scheduler */
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_time_advance(50));
  CHECK_OK(tapir_timers_run_due(NULL));
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(fault_code(w), TAPIR_STATUS_TIMEOUT);
  CHECK(!completed(nt) && !completed(d));
  uint64_t due = 0;
  CHECK(tapir_timers_next_due(&due));
  CHECK_EQ(due, (uint64_t)100);
  CHECK_OK(tapir_time_advance(100));
  CHECK_OK(tapir_timers_run_due(NULL));
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(tapir_task_get_status(all), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK(!tapir_timers_next_due(&due));
  CHECK_EQ(h_thread_count(), 1); /* never a thread of tapir's */

  tapir_task_release(r), tapir_task_release(d), tapir_task_release(w), tapir_task_release(all);
  tapir_task_release(nt), tapir_source_release(never);
  h_release_cts(cts, tok);
  tapir_scheduler_release(pool);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran)); /* what the releases dispatched */
  CHECK_OK(tapir_shutdown());
  tapir_scheduler_release(m);
  CHECK_EQ(h_thread_count(), 1);
  CHECK(h_wait_live(0, h_prompt_ms()));
}

/* ---- the host timer driver ---- */

static void host_time_is_refused_without_the_host_driver_and_moves_forward_only(void) {
  REQUIRE_OK(tapir_shutdown()); /* the defaults: tapir's own timer thread */
  CHECK_ST(tapir_time_advance(5), TAPIR_STATUS_INVALID_STATE);
  CHECK_ST(tapir_timers_run_due(NULL), TAPIR_STATUS_INVALID_STATE);
  uint64_t due = 0;
  CHECK(!tapir_timers_next_due(&due));
  CHECK(!tapir_timers_next_due(NULL));
  CHECK_EQ(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);

  tapir_config c;
  tapir_config_init(&c);
  c.timer_driver = TAPIR_TIMER_DRIVER_HOST; /* the pool stays: expiries run there */
  REQUIRE(configure_fresh(&c));
  CHECK_OK(tapir_time_advance(1000));
  CHECK_ST(tapir_time_advance(999), TAPIR_STATUS_INVALID_ARGUMENT);
  const tapir_task *d = NULL;
  CHECK_OK(tapir_delay(250, NULL, &d));
  CHECK(tapir_timers_next_due(&due));
  CHECK_EQ(due, (uint64_t)1250);
  size_t ran = 9;
  CHECK_OK(tapir_time_advance(1249));
  CHECK_OK(tapir_timers_run_due(&ran));
  CHECK_EQ(ran, (size_t)0);
  CHECK_OK(tapir_time_advance(1250));
  CHECK_OK(tapir_timers_run_due(&ran));
  CHECK_EQ(ran, (size_t)1);
  CHECK_OK(tapir_task_wait(d, h_prompt_ms())); /* completed on the pool */
  tapir_task_release(d);
  CHECK_OK(tapir_shutdown());
  CHECK_ST(tapir_time_advance(5), TAPIR_STATUS_INVALID_STATE); /* the defaults again */
}

static void timer_expiries_go_to_the_timer_scheduler(void) {
  const tapir_scheduler *m = new_manual();
  tapir_config c;
  tapir_config_init(&c);
  c.timer_scheduler = m; /* tapir's timer thread, expiries on the host's thread */
  REQUIRE(configure_fresh(&c));
  const tapir_task *d = NULL;
  h_counter k;
  h_counter_init(&k);
  tapir_continuation_options sync = *h_sync();
  CHECK_OK(tapir_delay(1, NULL, &d));
  CHECK_OK(tapir_task_on_complete(d, on_main, &k, NULL, &sync, NULL));
  int waited = 0;
  size_t ran = 0;
  while (!completed(d) && waited++ < h_prompt_ms()) {
    CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
    if (!completed(d)) h_sleep_ms(1);
  }
  CHECK(completed(d));
  CHECK_EQ(atomic_load(&k.calls), 1);
  CHECK(pthread_equal(k.thread, pthread_self())); /* ran inline with the expiry, here */
  tapir_task_release(d);
  CHECK_OK(tapir_shutdown());
  tapir_scheduler_release(m);
}

/* ---- clocks ---- */

static void a_frame_clock_counts_frames_and_delays_in_them(void) {
  const tapir_scheduler *m = new_manual();
  tapir_config c = single_threaded(m);
  REQUIRE(configure_fresh(&c));
  const tapir_clock *f = new_frames();
  const tapir_task *d3 = NULL, *d0 = NULL, *never = NULL;
  CHECK_OK(tapir_delay_on(f, 3, NULL, &d3));
  CHECK_OK(tapir_delay_on(f, 0, NULL, &d0));
  CHECK_OK(tapir_delay_on(f, -1, NULL, &never));
  CHECK_EQ(tapir_task_get_status(d0), TAPIR_TASK_STATUS_SUCCEEDED);
  size_t ran = 0;
  for (int frame = 1; frame <= 3; frame++) {
    CHECK_EQ(advance(f, 1), (size_t)(frame == 3));
    CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
    CHECK_EQ(completed(d3), frame == 3);
  }
  double now = -1;
  CHECK_OK(tapir_clock_now(f, &now));
  CHECK(now == 3.0);
  CHECK(!completed(never));
  /* Paused: advances are ignored. */
  CHECK_OK(tapir_clock_set_paused(f, 1));
  const tapir_task *d1 = NULL;
  CHECK_OK(tapir_delay_on(f, 1, NULL, &d1));
  CHECK_EQ(advance(f, 5), (size_t)0);
  CHECK_OK(tapir_clock_now(f, &now));
  CHECK(now == 3.0);
  CHECK_OK(tapir_clock_set_paused(f, 0));
  CHECK_EQ(advance(f, 1), (size_t)1);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(completed(d1));
  /* Bad input. */
  CHECK_ST(tapir_clock_advance(f, 1.5, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_advance(f, -1, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_advance(f, NAN, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_advance(f, INFINITY, NULL), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_set_scale(f, 2.0), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_set_paused(f, 2), TAPIR_STATUS_INVALID_ARGUMENT);
  const tapir_task *bad = NULL;
  CHECK_ST(tapir_delay_on(f, -2, NULL, &bad), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_delay_on(f, NAN, NULL, &bad), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_delay_on(f, 1, NULL, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_delay_on(NULL, 1, NULL, &bad), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(bad == NULL);
  tapir_task_release(d3), tapir_task_release(d0), tapir_task_release(never), tapir_task_release(d1);
  CHECK_OK(tapir_clock_release(f));
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_OK(tapir_shutdown());
  tapir_scheduler_release(m);
  CHECK(h_wait_live(0, h_prompt_ms()));
}

static void a_scaled_clock_runs_at_its_scale(void) {
  const tapir_scheduler *m = new_manual();
  tapir_config c = single_threaded(m);
  REQUIRE(configure_fresh(&c));
  const tapir_clock *g = NULL;
  CHECK_ST(tapir_clock_new_scaled(-1, &g), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_new_scaled(NAN, &g), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_new_scaled(1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(g == NULL);
  CHECK_OK(tapir_clock_new_scaled(0.5, &g)); /* slow motion */
  const tapir_task *d = NULL;
  CHECK_OK(tapir_delay_on(g, 100, NULL, &d)); /* 100 ms of game time */
  size_t ran = 0;
  for (int i = 0; i < 11; i++) advance(g, 16.666); /* 183 real ms: 91.7 game ms */
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(!completed(d));
  CHECK_OK(tapir_clock_set_scale(g, 2.0)); /* fast forward */
  CHECK_EQ(advance(g, 5), (size_t)1);      /* +10 game ms */
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(completed(d));
  double now = 0;
  CHECK_OK(tapir_clock_now(g, &now));
  CHECKF(now > 101.6 && now < 101.7, "game time %f", now);
  CHECK_OK(tapir_clock_set_scale(g, 0)); /* stopped */
  advance(g, 1000);
  CHECK_OK(tapir_clock_now(g, &now));
  CHECK(now > 101.6 && now < 101.7);
  CHECK_ST(tapir_clock_set_scale(g, -0.5), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_clock_set_scale(g, INFINITY), TAPIR_STATUS_INVALID_ARGUMENT);
  tapir_task_release(d);
  tapir_clock_release(g);
  CHECK_OK(tapir_shutdown());
  tapir_scheduler_release(m);
}

static void timeouts_and_cancel_afters_measured_on_a_clock(void) {
  const tapir_scheduler *m = new_manual();
  tapir_config c = single_threaded(m);
  REQUIRE(configure_fresh(&c));
  const tapir_clock *f = new_frames();
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  const tapir_task *w = NULL, *w_ok = NULL;
  CHECK_OK(tapir_task_wait_async_on(t, f, 2, NULL, &w));
  const tapir_source *s2 = h_source();
  const tapir_task *t2 = h_task_of(s2);
  CHECK_OK(tapir_task_wait_async_on(t2, f, 10, NULL, &w_ok));
  const tapir_cancel_source *cts;
  const tapir_cancel_token *tok;
  REQUIRE(h_new_cts(&cts, &tok));
  CHECK_OK(tapir_cancel_source_cancel_after_on(cts, f, 2));
  size_t ran = 0;
  advance(f, 1);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(!completed(w) && !tapir_cancel_token_is_canceled(tok));
  CHECK_OK(tapir_source_set_result(s2, h_int(5), NULL)); /* the original wins */
  CHECK_EQ(advance(f, 1), (size_t)2);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(fault_code(w), TAPIR_STATUS_TIMEOUT);
  CHECK(!completed(t)); /* the original is never affected */
  CHECK(tapir_cancel_token_is_canceled(tok));
  void *v = NULL;
  CHECK_OK(tapir_task_result(w_ok, &v));
  CHECK_PTR_EQ(v, h_int(5));
  CHECK_EQ(tapir_debug_task_continuations(t2), (size_t)0);
  /* -1 clears a deadline; 0 cancels now; errors. */
  const tapir_cancel_source *cts2;
  const tapir_cancel_token *tok2;
  REQUIRE(h_new_cts(&cts2, &tok2));
  CHECK_OK(tapir_cancel_source_cancel_after_on(cts2, f, 1));
  CHECK_OK(tapir_cancel_source_cancel_after_on(cts2, f, -1));
  advance(f, 5);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(!tapir_cancel_token_is_canceled(tok2));
  CHECK_ST(tapir_cancel_source_cancel_after_on(cts2, f, -3), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_cancel_source_cancel_after_on(cts2, NULL, 1), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_cancel_source_cancel_after_on(NULL, f, 1), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_cancel_source_cancel_after_on(cts2, f, 0));
  CHECK(tapir_cancel_token_is_canceled(tok2));
  const tapir_task *bad = NULL;
  CHECK_ST(tapir_task_wait_async_on(t, f, -7, NULL, &bad), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_task_wait_async_on(NULL, f, 1, NULL, &bad), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_task_wait_async_on(t, NULL, 1, NULL, &bad), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(bad == NULL);
  tapir_task_release(w), tapir_task_release(w_ok);
  tapir_task_release(t), tapir_source_release(s), tapir_task_release(t2), tapir_source_release(s2);
  h_release_cts(cts, tok);
  h_release_cts(cts2, tok2);
  tapir_clock_release(f);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_OK(tapir_shutdown());
  tapir_scheduler_release(m);
  CHECK(h_wait_live(0, h_prompt_ms()));
}

static void releasing_a_clock_ends_what_waits_on_it(void) {
  size_t base = h_live();
  const tapir_clock *f = new_frames();
  CHECK_EQ(tapir_debug_live_objects(TAPIR_OBJECT_KIND_CLOCK), (size_t)1);
  const tapir_task *d = NULL, *w = NULL;
  CHECK_OK(tapir_delay_on(f, 10, NULL, &d));
  const tapir_source *s = h_source();
  const tapir_task *t = h_task_of(s);
  CHECK_OK(tapir_task_wait_async_on(t, f, 10, NULL, &w));
  CHECK_OK(tapir_clock_release(f));
  CHECK_ST(tapir_task_wait(d, h_prompt_ms()), TAPIR_STATUS_FAULTED); /* nobody can advance the clock */
  CHECK_EQ(tapir_task_get_status(d), TAPIR_TASK_STATUS_FAULTED);
  CHECK_EQ(fault_code(d), TAPIR_STATUS_DISPOSED);
  CHECK(!completed(w)); /* the timeout can no longer fire; the original still can */
  CHECK_OK(tapir_source_set_result(s, h_int(3), NULL));
  CHECK_OK(tapir_task_wait(w, h_prompt_ms()));
  CHECK_EQ(tapir_task_get_status(w), TAPIR_TASK_STATUS_SUCCEEDED);
  tapir_task_release(d), tapir_task_release(w), tapir_task_release(t), tapir_source_release(s);
  CHECK_EQ(tapir_debug_live_objects(TAPIR_OBJECT_KIND_CLOCK), (size_t)0);
  CHECK(h_wait_live(base, h_prompt_ms()));
}

static void clock_handles_refuse_misuse(void) {
  const tapir_clock *f = new_frames();
  CHECK_PTR_EQ(tapir_clock_retain(f), f);
  CHECK_OK(tapir_clock_release(f));
  CHECK_OK(tapir_clock_release(NULL));
  CHECK(tapir_clock_retain(NULL) == NULL);
  CHECK_EQ(tapir_last_status(), TAPIR_STATUS_NULL_ARGUMENT);
  double now = 0;
  CHECK_ST(tapir_clock_now(f, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_clock_now(NULL, &now), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_clock_advance(NULL, 1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_clock_set_scale(NULL, 1), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_clock_set_paused(NULL, 1), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_clock_new_frames(NULL), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_OK(tapir_clock_release(f));
  /* Stale. */
  CHECK_ST(tapir_clock_release(f), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_clock_retain(f) == NULL);
  CHECK_EQ(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_clock_advance(f, 1, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_clock_now(f, &now), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_clock_set_paused(f, 1), TAPIR_STATUS_INVALID_HANDLE);
  const tapir_task *d = NULL;
  CHECK_ST(tapir_delay_on(f, 1, NULL, &d), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(d == NULL);
  /* Wrong kind. */
  const tapir_task *t = NULL;
  CHECK_OK(tapir_task_from_result(NULL, NULL, &t));
  const tapir_clock *wrong = (const tapir_clock *)(const void *)t;
  CHECK_ST(tapir_clock_advance(wrong, 1, NULL), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_clock_release(wrong), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_delay_on(wrong, 1, NULL, &d), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_task_release(t)); /* the wrong-kind release did nothing */
  CHECK_EQ(tapir_debug_live_objects(TAPIR_OBJECT_KIND_CLOCK), (size_t)0);
}

/* Advancing a clock from several threads while others arm and cancel delays on it and
 * one releases it: every delay ends once (succeeded, canceled or disposed), nothing
 * leaks. */
typedef struct {
  const tapir_clock *clock;
  h_gate *gate;
  atomic_int *ended;
  int n;
} clock_race;

static void count_end(void *ud, const tapir_task *t) {
  (void)t;
  atomic_fetch_add((atomic_int *)ud, 1);
}

static void *race_delays(void *arg) {
  clock_race *r = (clock_race *)arg;
  h_gate_wait(r->gate);
  for (int i = 0; i < r->n; i++) {
    const tapir_cancel_source *cts;
    const tapir_cancel_token *tok;
    if (!h_new_cts(&cts, &tok)) return NULL;
    const tapir_task *d = NULL;
    if (tapir_delay_on(r->clock, (double)(i % 4), tok, &d) == TAPIR_STATUS_OK) {
      (void)tapir_task_on_complete(d, count_end, r->ended, NULL, h_sync(), NULL);
      if (i % 3 == 0) (void)tapir_cancel_source_cancel(cts, 0, NULL);
      tapir_task_release(d);
    } else {
      atomic_fetch_add(r->ended, 1);
    }
    h_release_cts(cts, tok);
  }
  return NULL;
}

static void *race_advance(void *arg) {
  clock_race *r = (clock_race *)arg;
  h_gate_wait(r->gate);
  for (int i = 0; i < r->n; i++) (void)tapir_clock_advance(r->clock, 1, NULL);
  return NULL;
}

static void clock_advances_race_delays_and_the_release(void) {
  size_t base = h_live();
  for (int round = 0; round < 20; round++) {
    h_gate gate = {0};
    atomic_int ended = 0;
    const tapir_clock *f = new_frames();
    clock_race r = {f, &gate, &ended, 200};
    pthread_t a = h_spawn(race_delays, &r), b = h_spawn(race_delays, &r), c = h_spawn(race_advance, &r);
    h_gate_open_when(&gate, 3);
    h_join(a), h_join(c);
    tapir_clock_release(f); /* while thread b may still arm delays */
    h_join(b);
    CHECKF(h_wait_eq(&ended, 400, h_prompt_ms()), "%d of 400 delays ended", atomic_load(&ended));
  }
  CHECK(h_wait_live(base, h_prompt_ms()));
}

/* ---- the test scheduler ---- */

typedef struct {
  int order[32];
  int n;
} order_log;

typedef struct {
  order_log *log;
  int id;
} order_item;

static void log_order(void *ud) {
  order_item *it = (order_item *)ud;
  it->log->order[it->log->n++] = it->id;
}

static void run_order(uint64_t seed, order_log *log) {
  static order_item items[20];
  const tapir_scheduler *s = NULL;
  CHECK_OK(tapir_scheduler_new_test(seed, &s));
  log->n = 0;
  for (int i = 0; i < 20; i++) {
    items[i] = (order_item){log, i};
    CHECK_OK(tapir_scheduler_post(s, log_order, &items[i], NULL));
  }
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_until_idle(s, 0, &ran));
  CHECK_EQ(ran, (size_t)20);
  tapir_scheduler_release(s);
}

static void the_test_scheduler_runs_work_in_the_order_its_seed_chooses(void) {
  order_log a, b, other;
  memset(&a, 0, sizeof a), memset(&b, 0, sizeof b), memset(&other, 0, sizeof other);
  run_order(42, &a);
  run_order(42, &b);
  run_order(43, &other);
  CHECK_EQ(a.n, 20);
  CHECK(memcmp(a.order, b.order, sizeof a.order) == 0); /* same seed, same order */
  CHECK(memcmp(a.order, other.order, sizeof a.order) != 0);
  int seen = 0, in_order = 1;
  for (int i = 0; i < 20; i++) {
    seen |= 1 << a.order[i];
    if (a.order[i] != i) in_order = 0;
  }
  CHECK_EQ(seen, (1 << 20) - 1); /* each exactly once */
  CHECK(!in_order);
}

static void repost(void *ud) {
  const tapir_scheduler *s = (const tapir_scheduler *)ud;
  (void)tapir_scheduler_post(s, repost, ud, NULL);
}

/* A retry loop with a backoff of an hour per attempt, and a race of a timeout against
 * a slower delay: instant and the same every run. */
typedef struct {
  int attempts;
  const tapir_source *done;
} retry_state;

static void retry_step(void *ud, const tapir_task *t) {
  (void)t;
  retry_state *r = (retry_state *)ud;
  if (++r->attempts == 3) {
    (void)tapir_source_set_result(r->done, h_int(3), NULL);
    return;
  }
  const tapir_task *backoff = NULL;
  if (tapir_delay(3600 * 1000, NULL, &backoff) != TAPIR_STATUS_OK) return;
  (void)tapir_task_on_complete(backoff, retry_step, r, NULL, NULL, NULL);
  tapir_task_release(backoff);
}

static void set_source_cb(void *ud, const tapir_task *t) {
  (void)t;
  (void)tapir_source_set_result((const tapir_source *)ud, h_int(1), NULL);
}

static void run_until_idle_jumps_time_to_the_next_timer(void) {
  const tapir_scheduler *s = NULL;
  CHECK_OK(tapir_scheduler_new_test(7, &s));
  tapir_config c = single_threaded(s);
  REQUIRE(configure_fresh(&c));
  retry_state r = {0, h_source()};
  const tapir_task *done = h_task_of(r.done);
  retry_step(&r, NULL);
  /* The timeout (500 ms) beats the work that would complete the task (1000 ms). */
  const tapir_source *slow = h_source();
  const tapir_task *slow_t = h_task_of(slow), *timed = NULL, *d = NULL;
  CHECK_OK(tapir_task_wait_async(slow_t, 500, NULL, &timed));
  CHECK_OK(tapir_delay(1000, NULL, &d));
  CHECK_OK(tapir_task_on_complete(d, set_source_cb, (void *)slow, NULL, NULL, NULL));
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_until_idle(s, 0, &ran)); /* two hours of timers, no real time */
  CHECK_EQ(r.attempts, 3);
  CHECK_EQ(tapir_task_get_status(done), TAPIR_TASK_STATUS_SUCCEEDED);
  CHECK_EQ(fault_code(timed), TAPIR_STATUS_TIMEOUT);
  CHECK_EQ(tapir_task_get_status(slow_t), TAPIR_TASK_STATUS_SUCCEEDED);
  uint64_t due = 0;
  CHECK(!tapir_timers_next_due(&due));
  CHECK_ST(tapir_time_advance(2 * 3600 * 1000 - 1), TAPIR_STATUS_INVALID_ARGUMENT); /* time moved */
  /* Work that reposts itself stops at max_items. */
  CHECK_OK(tapir_scheduler_post(s, repost, (void *)s, NULL));
  CHECK_OK(tapir_scheduler_run_until_idle(s, 10, &ran));
  CHECK_EQ(ran, (size_t)10);
  /* Errors. */
  const tapir_scheduler *pool = NULL;
  CHECK_OK(tapir_scheduler_default(&pool));
  CHECK_ST(tapir_scheduler_run_until_idle(pool, 0, &ran), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_scheduler_run_until_idle(NULL, 0, &ran), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_new_test(1, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  tapir_scheduler_release(pool);
  tapir_task_release(done), tapir_source_release(r.done);
  tapir_task_release(slow_t), tapir_source_release(slow), tapir_task_release(timed), tapir_task_release(d);
  CHECK_OK(tapir_shutdown());
  tapir_scheduler_release(s); /* discards the reposting work */
  CHECK(h_wait_live(0, h_prompt_ms()));
}

/* ---- the wake descriptor ---- */

static bool readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void nothing(void *ud) { (void)ud; }

typedef struct {
  const tapir_scheduler *s;
  h_gate *gate;
} poster;

static void *post_later(void *arg) {
  poster *p = (poster *)arg;
  h_gate_wait(p->gate);
  (void)tapir_scheduler_post(p->s, nothing, NULL, NULL);
  return NULL;
}

static void the_wake_descriptor_is_readable_exactly_while_work_is_queued(void) {
  const tapir_scheduler *m = new_manual();
  CHECK_OK(tapir_scheduler_post(m, nothing, NULL, NULL)); /* queued before the descriptor */
  int fd = -1, again = -2;
  CHECK_OK(tapir_scheduler_wake_fd(m, &fd));
  CHECK(fd >= 0);
  CHECK_OK(tapir_scheduler_wake_fd(m, &again));
  CHECK_EQ(again, fd);
  CHECK(readable(fd));
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(!readable(fd));
  CHECK_OK(tapir_scheduler_post(m, nothing, NULL, NULL));
  CHECK_OK(tapir_scheduler_post(m, nothing, NULL, NULL));
  CHECK(readable(fd));
  CHECK_OK(tapir_scheduler_run_pending(m, 1, -1, &ran)); /* one left: still readable */
  CHECK(readable(fd));
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK(!readable(fd));
  /* An event loop sleeps on it until another thread posts. */
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = fd}};
  CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
  h_gate gate = {0};
  poster p = {m, &gate};
  pthread_t th = h_spawn(post_later, &p);
  h_gate_open_when(&gate, 1);
  struct epoll_event got;
  CHECK_EQ(epoll_wait(ep, &got, 1, h_prompt_ms()), 1);
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, (size_t)1);
  h_join(th);
  close(ep);
  /* Errors; the test scheduler has one too; the descriptor closes with the scheduler. */
  const tapir_scheduler *pool = NULL, *ts = NULL;
  CHECK_OK(tapir_scheduler_default(&pool));
  CHECK_ST(tapir_scheduler_wake_fd(pool, &fd), TAPIR_STATUS_INVALID_ARGUMENT);
  CHECK_ST(tapir_scheduler_wake_fd(NULL, &fd), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_scheduler_wake_fd(m, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  tapir_scheduler_release(pool);
  CHECK_OK(tapir_scheduler_new_test(3, &ts));
  int tfd = -1;
  CHECK_OK(tapir_scheduler_wake_fd(ts, &tfd));
  CHECK(tfd >= 0 && tfd != fd);
  tapir_scheduler_release(ts);
  CHECK_OK(tapir_scheduler_wake_fd(m, &fd));
  tapir_scheduler_release(m);
  CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
  CHECK_ST(tapir_scheduler_wake_fd(m, &fd), TAPIR_STATUS_INVALID_HANDLE);
}

void register_host_tests(void) {
  REG(config_init_and_configure_refuse_bad_input);
  REG(configure_is_refused_once_in_use_and_allowed_after_shutdown);
  REG(pool_and_timer_threads_follow_the_configuration);
  REG(tapir_threads_sets_the_pool_size_when_not_configured);
  REG(single_threaded_mode_never_creates_a_thread);
  REG(host_time_is_refused_without_the_host_driver_and_moves_forward_only);
  REG(timer_expiries_go_to_the_timer_scheduler);
  REG(a_frame_clock_counts_frames_and_delays_in_them);
  REG(a_scaled_clock_runs_at_its_scale);
  REG(timeouts_and_cancel_afters_measured_on_a_clock);
  REG(releasing_a_clock_ends_what_waits_on_it);
  REG(clock_handles_refuse_misuse);
  REG(clock_advances_race_delays_and_the_release);
  REG(the_test_scheduler_runs_work_in_the_order_its_seed_chooses);
  REG(run_until_idle_jumps_time_to_the_next_timer);
  REG(the_wake_descriptor_is_readable_exactly_while_work_is_queued);
}
