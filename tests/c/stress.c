/* stress — racing complete / register / remove / release on shared tasks.
 *
 *   ./stress [N]      N racing operations in total (default 10,000,000)
 *
 * Work goes in batches of BATCH sources. For each batch the main thread
 * creates the sources and registers PRE callbacks on each task; then three
 * threads race over the whole batch at once:
 *   completer  try-completes each source (result, error or cancel, in turn),
 *              then releases its source handle;
 *   registrar  registers LATE more callbacks per task (sync or dispatched),
 *              removes every other one of them right away, releases the
 *              registration handles;
 *   remover    removes every other PRE callback, races the completer with a
 *              try_set_canceled, then releases its own source handle.
 * After each batch every callback must have run exactly once unless its
 * removal returned OK (then never), destroy must have run exactly once, and
 * exactly one try-completion per source must have won. At the end the
 * live-object count must be back where it started.
 */
#define HARNESS_MAIN
#include "harness.h"

enum { BATCH = 256, PRE = 4, LATE = 4, RACERS = 3 };

typedef struct {
  atomic_int calls;
  atomic_int destroys;
  atomic_int removed;   /* remove returned OK */
  atomic_int bad;       /* destroy not already done when remove returned OK, etc. */
} rec;

typedef struct {
  const tapir_source *src_completer; /* the two source handles the racers release */
  const tapir_source *src_remover;
  const tapir_task *task;
  rec pre[PRE], late[LATE];
  const tapir_registration *pre_reg[PRE];
  atomic_int wins;
} slot;

static slot slots[BATCH];
static pthread_barrier_t start_line, finish_line;
static atomic_int stop;
static atomic_llong ops_total;
static long batches_run;


static void rec_cb(void *ud, const tapir_task *t) {
  (void)t;
  rec *r = (rec *)ud;
  if (atomic_load(&r->removed)) atomic_fetch_add(&r->bad, 1); /* ran after a successful removal */
  atomic_fetch_add(&r->calls, 1);
}

static void rec_destroy(void *ud) { atomic_fetch_add(&((rec *)ud)->destroys, 1); }

/* Sync for even indices, dispatched to the pool for odd ones. */
static const tapir_continuation_options *opts_for(int i) { return (i % 2 == 0) ? h_sync() : NULL; }

static void remove_and_check(rec *r, const tapir_registration *reg) {
  if (reg == NULL) return; /* registered after completion: it runs, nothing to remove */
  int32_t st = tapir_registration_remove(reg);
  if (st == TAPIR_STATUS_OK) {
    atomic_store(&r->removed, 1);
    /* OK means: it will never run and its destroy has already run */
    if (atomic_load(&r->destroys) != 1 || atomic_load(&r->calls) != 0) atomic_fetch_add(&r->bad, 1);
  } else if (st != TAPIR_STATUS_ALREADY_COMPLETED) {
    h_fail(__FILE__, __LINE__, "registration_remove -> %s", h_status_name(st));
  }
}

static void *completer(void *arg) {
  (void)arg;
  const tapir_error *e = h_error(500, "stress");
  for (;;) {
    pthread_barrier_wait(&start_line);
    if (atomic_load(&stop)) break;
    long long ops = 0;
    for (int i = 0; i < BATCH; i++) {
      slot *s = &slots[i];
      bool won;
      switch ((batches_run + i) % 3) {
      case 0: won = tapir_source_try_set_result(s->src_completer, h_int((uintptr_t)i), NULL); break;
      case 1: won = tapir_source_try_set_error(s->src_completer, e); break;
      default: won = tapir_source_try_set_canceled(s->src_completer, NULL); break;
      }
      if (won) atomic_fetch_add(&s->wins, 1);
      CHECK_OK(tapir_source_release(s->src_completer));
      ops += 2;
    }
    atomic_fetch_add(&ops_total, ops);
    pthread_barrier_wait(&finish_line);
  }
  tapir_error_release(e);
  return NULL;
}

static void *registrar(void *arg) {
  (void)arg;
  for (;;) {
    pthread_barrier_wait(&start_line);
    if (atomic_load(&stop)) break;
    long long ops = 0;
    for (int i = 0; i < BATCH; i++) {
      slot *s = &slots[i];
      const tapir_registration *regs[LATE];
      for (int k = 0; k < LATE; k++) {
        CHECK_OK(tapir_task_on_complete(s->task, rec_cb, &s->late[k], rec_destroy, opts_for(k + i), &regs[k]));
        ops++;
      }
      for (int k = 1; k < LATE; k += 2) {
        remove_and_check(&s->late[k], regs[k]);
        ops++;
      }
      for (int k = 0; k < LATE; k++) {
        CHECK_OK(tapir_registration_release(regs[k]));
        ops++;
      }
    }
    atomic_fetch_add(&ops_total, ops);
    pthread_barrier_wait(&finish_line);
  }
  return NULL;
}

static void *remover(void *arg) {
  (void)arg;
  for (;;) {
    pthread_barrier_wait(&start_line);
    if (atomic_load(&stop)) break;
    long long ops = 0;
    for (int i = 0; i < BATCH; i++) {
      slot *s = &slots[i];
      for (int k = 0; k < PRE; k += 2) {
        remove_and_check(&s->pre[k], s->pre_reg[k]);
        ops++;
      }
      for (int k = 0; k < PRE; k++) {
        CHECK_OK(tapir_registration_release(s->pre_reg[k]));
        ops++;
      }
      if (tapir_source_try_set_canceled(s->src_remover, NULL)) atomic_fetch_add(&s->wins, 1);
      CHECK_OK(tapir_source_release(s->src_remover));
      ops += 2;
    }
    atomic_fetch_add(&ops_total, ops);
    pthread_barrier_wait(&finish_line);
  }
  return NULL;
}

static void rec_reset(rec *r) {
  atomic_store(&r->calls, 0);
  atomic_store(&r->destroys, 0);
  atomic_store(&r->removed, 0);
  atomic_store(&r->bad, 0);
}

/* Every callback ran exactly once or was removed; destroy exactly once. */
static long check_rec(rec *r, const char *what, int i, int k) {
  double end = h_now_ms() + h_prompt_ms();
  while (atomic_load(&r->destroys) < 1 && h_now_ms() < end) h_sleep_ms(0.2);
  int calls = atomic_load(&r->calls), destroys = atomic_load(&r->destroys);
  int removed = atomic_load(&r->removed), bad = atomic_load(&r->bad);
  bool ok = destroys == 1 && bad == 0 && calls == (removed ? 0 : 1);
  if (!ok)
    h_fail(__FILE__, __LINE__, "batch %ld slot %d %s[%d]: calls %d, destroys %d, removed %d, bad %d", batches_run, i,
           what, k, calls, destroys, removed, bad);
  return ok ? 0 : 1;
}

static long long stress_n = 10000000;

static void stress(void) {
  pthread_t ts[RACERS];
  pthread_barrier_init(&start_line, NULL, RACERS + 1);
  pthread_barrier_init(&finish_line, NULL, RACERS + 1);
  ts[0] = h_spawn(completer, NULL);
  ts[1] = h_spawn(registrar, NULL);
  ts[2] = h_spawn(remover, NULL);
  long long callbacks = 0, removed = 0, violations = 0;
  double t0 = h_now_ms();

  while (atomic_load(&ops_total) < stress_n && violations < 20) {
    long long ops = 0;
    for (int i = 0; i < BATCH; i++) {
      slot *s = &slots[i];
      CHECK_OK(tapir_source_new(0, NULL, &s->src_completer));
      s->src_remover = tapir_source_retain(s->src_completer);
      CHECK_OK(tapir_source_task(s->src_completer, &s->task));
      atomic_store(&s->wins, 0);
      for (int k = 0; k < PRE; k++) {
        rec_reset(&s->pre[k]);
        CHECK_OK(tapir_task_on_complete(s->task, rec_cb, &s->pre[k], rec_destroy, opts_for(k), &s->pre_reg[k]));
      }
      for (int k = 0; k < LATE; k++) rec_reset(&s->late[k]);
      ops += 3 + PRE;
    }
    atomic_fetch_add(&ops_total, ops);
    pthread_barrier_wait(&start_line); /* the race */
    pthread_barrier_wait(&finish_line);

    for (int i = 0; i < BATCH; i++) {
      slot *s = &slots[i];
      for (int k = 0; k < PRE; k++) {
        violations += check_rec(&s->pre[k], "pre", i, k);
        callbacks += atomic_load(&s->pre[k].calls);
        removed += atomic_load(&s->pre[k].removed);
      }
      for (int k = 0; k < LATE; k++) {
        violations += check_rec(&s->late[k], "late", i, k);
        callbacks += atomic_load(&s->late[k].calls);
        removed += atomic_load(&s->late[k].removed);
      }
      if (atomic_load(&s->wins) != 1) {
        h_fail(__FILE__, __LINE__, "batch %ld slot %d: %d winning completions", batches_run, i, atomic_load(&s->wins));
        violations++;
      }
      const tapir_error *e = NULL;
      if (tapir_task_get_status(s->task) == TAPIR_TASK_STATUS_FAULTED && tapir_task_error(s->task, &e) == 0)
        tapir_error_release(e);
      CHECK_OK(tapir_task_release(s->task));
    }
    atomic_fetch_add(&ops_total, BATCH);
    batches_run++;
  }

  atomic_store(&stop, 1);
  pthread_barrier_wait(&start_line);
  for (int k = 0; k < RACERS; k++) h_join(ts[k]);
  pthread_barrier_destroy(&start_line);
  pthread_barrier_destroy(&finish_line);
  double ms = h_now_ms() - t0;
  printf("    %lld operations in %ld batches, %.1f s (%.0f ops/s); %lld callbacks ran, %lld removed; %lld violations\n",
         (long long)atomic_load(&ops_total), batches_run, ms / 1000.0, (double)atomic_load(&ops_total) * 1000.0 / ms,
         callbacks, removed, violations);
  CHECK_EQ(violations, 0);
}

int main(int argc, char **argv) {
  if (argc > 1) stress_n = atoll(argv[1]);
  if (stress_n <= 0) {
    fprintf(stderr, "usage: %s [N operations]\n", argv[0]);
    return 2;
  }
  /* one test, in this process; its own (long) time limit unless overridden */
  setenv("TAPIR_TEST_TIMEOUT", "900", 0);
  h_register("stress", stress);
  char *args[] = {argv[0], (char *)"--inproc", NULL};
  return h_main(2, args);
}
