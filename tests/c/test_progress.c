/* Progress reporters (Progress<T>): reports run a handler on a chosen scheduler. */
#include "harness.h"

typedef struct {
  atomic_int handled;
  atomic_int sum;            /* sum of the reported integers */
  atomic_int off_pump;       /* handler ran on another thread than the pump's */
  atomic_int user_destroyed;
  atomic_int handled_at_destroy; /* how many reports had run when user_data was destroyed */
  pthread_t pump;
  bool check_pump;
} prog_rec;

static void handler(void *user_data, void *value) {
  prog_rec *r = (prog_rec *)user_data;
  atomic_fetch_add(&r->sum, (int)(uintptr_t)value);
  if (r->check_pump && !pthread_equal(pthread_self(), r->pump)) atomic_fetch_add(&r->off_pump, 1);
  atomic_fetch_add(&r->handled, 1);
}

static void user_destroy(void *user_data) {
  prog_rec *r = (prog_rec *)user_data;
  atomic_store(&r->handled_at_destroy, atomic_load(&r->handled));
  atomic_fetch_add(&r->user_destroyed, 1);
}

/* value_destroy for reports: counts into a global, the value is an integer. */
static atomic_int values_destroyed;
static void value_destroy(void *value) {
  (void)value;
  atomic_fetch_add(&values_destroyed, 1);
}

typedef struct {
  const tapir_progress *p;
  int from, n;
} reporter;

static void *report_many(void *arg) {
  reporter *r = (reporter *)arg;
  for (int i = 0; i < r->n; i++)
    CHECK_OK(tapir_progress_report(r->p, h_int((uintptr_t)(r->from + i)), value_destroy));
  return NULL;
}

static void progress_on_manual_scheduler(void) {
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  prog_rec r;
  memset(&r, 0, sizeof r);
  r.pump = pthread_self();
  r.check_pump = true;
  atomic_store(&values_destroyed, 0);
  const tapir_progress *p = NULL;
  REQUIRE_OK(tapir_progress_new(m, handler, &r, user_destroy, &p));
  /* reports from two threads: 1..50 and 51..100 */
  reporter a = {p, 1, 50}, b = {p, 51, 50};
  pthread_t ta = h_spawn(report_many, &a), tb = h_spawn(report_many, &b);
  h_join(ta);
  h_join(tb);
  h_sleep_ms(10);
  CHECK_EQ(atomic_load(&r.handled), 0); /* nothing runs until the host pumps */
  /* releasing the reporter keeps what was already posted */
  CHECK_OK(tapir_progress_release(p));
  CHECK_EQ(atomic_load(&r.user_destroyed), 0);
  size_t ran = 0;
  CHECK_OK(tapir_scheduler_run_pending(m, 0, -1, &ran));
  CHECK_EQ(ran, 100);
  CHECK_EQ(atomic_load(&r.handled), 100);
  CHECK_EQ(atomic_load(&r.sum), 5050);
  CHECK_EQ(atomic_load(&r.off_pump), 0);
  CHECK_EQ(atomic_load(&values_destroyed), 100);
  /* user_data goes once the reporter is released and its last report ran */
  CHECK(h_wait_eq(&r.user_destroyed, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&r.handled_at_destroy), 100);
  CHECK_OK(tapir_scheduler_release(m));
}

static void progress_on_default_pool(void) {
  prog_rec r;
  memset(&r, 0, sizeof r);
  atomic_store(&values_destroyed, 0);
  const tapir_progress *p = NULL;
  REQUIRE_OK(tapir_progress_new(NULL, handler, &r, user_destroy, &p));
  CHECK_PTR_EQ(tapir_progress_retain(p), p);
  CHECK_OK(tapir_progress_release(p));
  for (int i = 1; i <= 20; i++) CHECK_OK(tapir_progress_report(p, h_int((uintptr_t)i), value_destroy));
  CHECK_OK(tapir_progress_release(p));
  CHECK(h_wait_eq(&r.user_destroyed, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&r.handled), 20);
  CHECK_EQ(atomic_load(&r.sum), 210);
  CHECK(h_wait_eq(&values_destroyed, 20, h_prompt_ms()));
}

static void progress_discarded_with_its_scheduler(void) {
  /* reports still queued on a manual scheduler that goes away are discarded:
   * their values are destroyed, the handler never runs, user_data goes once */
  const tapir_scheduler *m = NULL;
  REQUIRE_OK(tapir_scheduler_new_manual(&m));
  prog_rec r;
  memset(&r, 0, sizeof r);
  atomic_store(&values_destroyed, 0);
  const tapir_progress *p = NULL;
  REQUIRE_OK(tapir_progress_new(m, handler, &r, user_destroy, &p));
  for (int i = 0; i < 5; i++) CHECK_OK(tapir_progress_report(p, h_int(1), value_destroy));
  CHECK_OK(tapir_progress_release(p));
  CHECK_OK(tapir_scheduler_release(m));
  CHECK(h_wait_eq(&values_destroyed, 5, h_prompt_ms()));
  CHECK(h_wait_eq(&r.user_destroyed, 1, h_prompt_ms()));
  CHECK_EQ(atomic_load(&r.handled), 0);
}

static void progress_arguments(void) {
  prog_rec r;
  memset(&r, 0, sizeof r);
  atomic_store(&values_destroyed, 0);
  size_t live = h_live();
  const tapir_progress *p = (const tapir_progress *)h_int(0x10);
  CHECK_ST(tapir_progress_new(NULL, NULL, &r, user_destroy, &p), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK_ST(tapir_progress_new(NULL, handler, &r, user_destroy, NULL), TAPIR_STATUS_NULL_ARGUMENT);
  const tapir_task *t = h_stale_task();
  CHECK_ST(tapir_progress_new((const tapir_scheduler *)t, handler, &r, user_destroy, &p),
           TAPIR_STATUS_INVALID_HANDLE);
  CHECK_PTR_EQ(p, h_int(0x10));
  CHECK_EQ(atomic_load(&r.user_destroyed), 0); /* failed creation calls nothing */
  CHECK_EQ(h_live(), live);

  CHECK_ST(tapir_progress_report(NULL, h_int(1), value_destroy), TAPIR_STATUS_NULL_ARGUMENT);
  CHECK(tapir_progress_retain(NULL) == NULL);
  CHECK_OK(tapir_progress_release(NULL));

  REQUIRE_OK(tapir_progress_new(NULL, handler, &r, user_destroy, &p));
  CHECK_OK(tapir_progress_release(p));
  CHECK(h_wait_eq(&r.user_destroyed, 1, h_prompt_ms()));
  /* stale and wrong-kind reporters */
  CHECK_ST(tapir_progress_report(p, h_int(1), value_destroy), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_ST(tapir_progress_release(p), TAPIR_STATUS_INVALID_HANDLE);
  CHECK(tapir_progress_retain(p) == NULL);
  CHECK_ST(tapir_last_status(), TAPIR_STATUS_INVALID_HANDLE);
  const tapir_source *s = h_source();
  CHECK_ST(tapir_progress_report((const tapir_progress *)s, h_int(1), value_destroy), TAPIR_STATUS_INVALID_HANDLE);
  CHECK_OK(tapir_source_set_result(s, NULL, NULL));
  CHECK_OK(tapir_source_release(s));
  /* refused reports leave the value with the caller */
  CHECK_EQ(atomic_load(&values_destroyed), 0);
  CHECK_EQ(atomic_load(&r.handled), 0);
}

void register_progress_tests(void) {
  REG(progress_on_manual_scheduler);
  REG(progress_on_default_pool);
  REG(progress_discarded_with_its_scheduler);
  REG(progress_arguments);
}
