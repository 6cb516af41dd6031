
/* ================================================================ release racing a call
 *
 * A private object whose only reference a helper thread releases after a random
 * spin, while this thread keeps calling functions on it. Every call must either
 * succeed whole or return INVALID_HANDLE having done nothing; once one call has
 * returned INVALID_HANDLE every later one must too; and once the helper's release has
 * returned, the next call must return INVALID_HANDLE.
 */

typedef struct racer {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state; /* 0 idle, 1 go, 3 quit */
  atomic_int done;
  int kind;
  uint64_t h;
  unsigned spin;
  int32_t result;
  char name[20];
  uint64_t seed;
} racer;
static _Thread_local racer *tl_racer;
static atomic_ullong g_races, g_race_calls;
static _Thread_local const char *g_race_what;

static void *racer_main(void *arg) {
  racer *r = arg;
  thr_register(r->name, r->seed, 0);
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (r->state == 0) pthread_cond_wait(&r->cv, &r->mu);
    if (r->state == 3) break;
    int kind = r->kind;
    uint64_t h = r->h;
    unsigned spin = r->spin;
    r->state = 0;
    pthread_mutex_unlock(&r->mu);
    for (volatile unsigned i = 0; i < spin; i = i + 1) {
    }
    int32_t st = CALL(tp_release(kind, h));
    LOG("racer released %s %#" PRIx64 " -> %s", kname[kind], h, stname(st));
    pthread_mutex_lock(&r->mu);
    r->result = st;
    atomic_store(&r->done, 1);
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static racer *racer_start(int id) {
  racer *r = calloc(1, sizeof *r);
  if (!r) abort();
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  snprintf(r->name, sizeof r->name, "racer-%d", id);
  r->seed = g_seed ^ (0xACE0ull + (uint64_t)id);
  if (pthread_create(&r->th, NULL, racer_main, r)) abort();
  return r;
}

static void racer_stop(racer *r) {
  pthread_mutex_lock(&r->mu);
  r->state = 3;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->th, NULL);
}

/* One call on the racing object `x`; returns TAPIR_STATUS_INVALID_HANDLE when the
 * call reported the handle invalid, else TAPIR_STATUS_OK (the call succeeded). */
static int32_t race_call(int kind, uint64_t x, const tapir_source *s2) {
  int32_t st;
  unsigned v;
  switch (kind) {
  case K_TASK: {
    static const char *tn[] = {"on_complete", "continue_with", "when_all/any", "when_all/any", "interleaved", "wait_async/unwrap", "get_status", "task_result", "task_wait", "set_from_task", "task_id"};
    v = rn(11);
    if (v == 9 && !fam_on(FAM_FROMTASK)) v = 6;
    g_race_what = tn[v];
    switch (v) {
    case 0: {
      uint32_t ri = cb_rec("tapir_task_on_complete (racing)", 1, x, 0, 0, 0, NULL, 0);
      const tapir_registration *reg = NULL;
      st = CALL(tapir_task_on_complete(TK(x), cb_on_complete, rec_ud_l(ri), fz_destroy, NULL, pct(50) ? &reg : NULL));
      check_st("tapir_task_on_complete (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_on_complete (racing a release)", st);
      if (reg) m_add(K_REG, HV(reg), 0, 0);
      return st;
    }
    case 1: {
      uint32_t ri = cb_rec("tapir_task_continue_with (racing)", 1, x, 0, 0, 0, NULL, 0);
      const tapir_task *c = SENTP(const tapir_task *);
      st = CALL(tapir_task_continue_with(TK(x), cb_continue, rec_ud_l(ri), fz_destroy, NULL, &c));
      check_st("tapir_task_continue_with (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_continue_with (racing a release)", st);
      if (st == TAPIR_STATUS_OK) add_task_out(c, 1);
      else if (HV(c) != SENT) failf("tapir_task_continue_with failed (racing a release) but wrote task_out");
      return st;
    }
    case 2:
    case 3: {
      const tapir_task *in[2] = {TK(x), TK(x)};
      const tapir_task *t = SENTP(const tapir_task *);
      unsigned n = 1 + rn(2);
      st = rn(2) ? CALL(tapir_when_all(in, n, &t)) : CALL(tapir_when_any(in, n, NULL, &t));
      check_st("tapir_when_all/when_any (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) {
        L();
        ti_get(HV(t), true)->overflow = 1;
        U();
        add_task_out(t, 0);
      } else if (HV(t) != SENT) failf("a combinator failed (racing a release) but wrote task_out");
      return st;
    }
    case 4: {
      const tapir_task *in[1] = {TK(x)};
      const tapir_task *out[1] = {SENTP(const tapir_task *)};
      st = CALL(tapir_interleaved(in, 1, out));
      check_st("tapir_interleaved (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) {
        ti_from(HV(out[0]), FM_TASK, x);
        add_task_out(out[0], 0);
      } else if (HV(out[0]) != SENT) failf("tapir_interleaved failed (racing a release) but wrote outputs");
      return st;
    }
    case 5: {
      const tapir_task *t = SENTP(const tapir_task *);
      st = pct(50) ? CALL(tapir_task_wait_async(TK(x), TAPIR_INFINITE, NULL, &t)) : CALL(tapir_task_unwrap(TK(x), &t));
      check_st("tapir_task_wait_async/unwrap (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) {
        L();
        ti_get(HV(t), true)->overflow = 1;
        U();
        add_task_out(t, 0);
      }
      return st;
    }
    case 6: {
      int32_t s = CALL(tapir_task_get_status(TK(x)));
      if (s != TAPIR_TASK_STATUS_PENDING && s != TAPIR_TASK_STATUS_INVALID_HANDLE)
        failf("tapir_task_get_status of a pending racing task is %d", s);
      return s == TAPIR_TASK_STATUS_PENDING ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    case 7: {
      void *v = SENTP(void *);
      st = CALL(tapir_task_result(TK(x), &v));
      check_st("tapir_task_result (racing a release)", st, D_BASE | S(NOT_COMPLETED) | S(FAULTED) | S(CANCELED),
               S(NOT_COMPLETED) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    case 8:
      st = CALL(tapir_task_wait(TK(x), 0));
      check_st("tapir_task_wait (racing a release)", st, D_WAIT, S(TIMEOUT) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    case 9: {
      st = CALL(tapir_source_set_from_task(s2, TK(x)));
      check_st("tapir_source_set_from_task (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    default: {
      uint64_t id = CALL(tapir_task_id(TK(x)));
      return id ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  case K_SOURCE: {
    static const char *sn[] = {"set_result", "set_error", "set_canceled", "source_task", "set_from_task", "retain"};
    v = rn(6);
    if (v == 4 && !fam_on(FAM_FROMTASK)) v = 3;
    g_race_what = sn[v];
    switch (v) {
    case 0: {
      uint32_t ri;
      void *v = val_new(0, true, &ri);
      st = CALL(tapir_source_set_result(SR(x), v, fz_destroy));
      check_st("tapir_source_set_result (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      val_settle(ri, st == TAPIR_STATUS_OK, "tapir_source_set_result (racing a release)", st);
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    case 1: {
      uint64_t e = make_error_h();
      st = CALL(tapir_source_set_error(SR(x), ER(e)));
      release_ok(K_ERROR, e, "racing error");
      check_st("tapir_source_set_error (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    case 2:
      st = CALL(tapir_source_set_canceled(SR(x), NULL));
      check_st("tapir_source_set_canceled (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    case 3: {
      const tapir_task *t = SENTP(const tapir_task *);
      st = CALL(tapir_source_task(SR(x), &t));
      check_st("tapir_source_task (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) release_ok(K_TASK, HV(t), "racing source's task");
      return st;
    }
    case 4: {
      const tapir_task *c = NULL;
      CALL(tapir_task_completed(&c));
      st = CALL(tapir_source_set_from_task(SR(x), c));
      release_ok(K_TASK, HV(c), "completed task");
      check_st("tapir_source_set_from_task (racing a release)", st, D_SET, S(OK) | S(ALREADY_COMPLETED) | S(INVALID_HANDLE));
      return st == TAPIR_STATUS_INVALID_HANDLE ? st : TAPIR_STATUS_OK;
    }
    default: {
      uint64_t r = HV(CALL(tapir_source_retain(SR(x))));
      if (r && r != x) failf("tapir_source_retain(%#" PRIx64 ") returned %#" PRIx64, x, r);
      if (r) release_ok(K_SOURCE, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  case K_CTS: {
    static const char *cn[] = {"token", "cancel", "cancel_after", "retain"};
    v = rn(4);
    g_race_what = cn[v];
    switch (v) {
    case 0: {
      const tapir_cancel_token *t = NULL;
      st = CALL(tapir_cancel_source_token(CS(x), &t));
      check_st("tapir_cancel_source_token (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) release_ok(K_TOKEN, HV(t), "racing token");
      return st;
    }
    case 1:
      st = CALL(tapir_cancel_source_cancel(CS(x), 0, NULL));
      check_st("tapir_cancel_source_cancel (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      return st;
    case 2:
      st = CALL(tapir_cancel_source_cancel_after(CS(x), pct(50) ? 600000 : 1 + (int64_t)rn(5)));
      check_st("tapir_cancel_source_cancel_after (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      return st;
    default: {
      uint64_t r = HV(CALL(tapir_cancel_source_retain(CS(x))));
      if (r) release_ok(K_CTS, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  case K_ERROR: {
    static const char *en[] = {"error_code", "from_error", "aggregate", "retain"};
    v = rn(4);
    g_race_what = en[v];
    switch (v) {
    case 0: return CALL(tapir_error_code(ER(x))) ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    case 1: {
      const tapir_task *t = SENTP(const tapir_task *);
      st = CALL(tapir_task_from_error(ER(x), &t));
      check_st("tapir_task_from_error (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) add_task_out(t, 0);
      return st;
    }
    case 2: {
      const tapir_error *in[1] = {ER(x)};
      const tapir_error *e = SENTP(const tapir_error *);
      st = CALL(tapir_error_new_aggregate(1000, NULL, 0, in, 1, &e));
      check_st("tapir_error_new_aggregate (racing a release)", st, D_BASE | S(INVALID_ARGUMENT), S(OK) | S(INVALID_HANDLE));
      if (st == TAPIR_STATUS_OK) release_ok(K_ERROR, HV(e), "racing aggregate");
      return st;
    }
    default: {
      uint64_t r = HV(CALL(tapir_error_retain(ER(x))));
      if (r) release_ok(K_ERROR, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
    }
  }
  default: /* K_PROGRESS */
    g_race_what = "progress";
    if (pct(70)) {
      uint32_t ri;
      void *v = val_new(0, true, &ri);
      st = CALL(tapir_progress_report(PG(x), v, fz_destroy));
      check_st("tapir_progress_report (racing a release)", st, D_BASE, S(OK) | S(INVALID_HANDLE));
      val_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_report (racing a release)", st);
      return st;
    } else {
      uint64_t r = HV(CALL(tapir_progress_retain(PG(x))));
      if (r) release_ok(K_PROGRESS, r, "racing retain");
      return r ? TAPIR_STATUS_OK : TAPIR_STATUS_INVALID_HANDLE;
    }
  }
}

static void op_race(void) {
  racer *rc = tl_racer;
  if (!rc || me()->depth > 0) return;
  unsigned r = rn(100);
  int kind = r < 45 ? K_TASK : r < 75 ? K_SOURCE : r < 85 ? K_CTS : r < 95 ? K_ERROR : K_PROGRESS;
  const tapir_source *s = NULL, *s2 = NULL, *s3 = NULL;
  const tapir_task *t = NULL, *t2 = NULL, *t3 = NULL;
  uint64_t x = 0;
  int32_t st;
  bool held_inside = false; /* SOURCE: tapir holds the source (a pending set_from_task) */
  uint32_t hv_ri = UINT32_MAX;
  void *hv = NULL;
  if (kind == K_TASK || kind == K_SOURCE) {
    if (CALL(tapir_source_new(0, NULL, &s)) || CALL(tapir_source_task(s, &t))) failf("making a private source failed");
    x = kind == K_TASK ? HV(t) : HV(s);
    /* s2's task is held too: set_from_task must not depend on that, but this race
     * checks only the racing handle */
    if (kind == K_TASK && (CALL(tapir_source_new(0, NULL, &s2)) || CALL(tapir_source_task(s2, &t2))))
      failf("making a private source failed");
    if (kind == K_SOURCE && fam_on(FAM_FROMTASK) && pct(40)) {
      if (CALL(tapir_source_new(0, NULL, &s3)) || CALL(tapir_source_task(s3, &t3))) failf("making a private source failed");
      st = CALL(tapir_source_set_from_task(s, t3));
      if (st != TAPIR_STATUS_OK) failf("tapir_source_set_from_task(private source, pending task) returned %s", stname(st));
      held_inside = true;
    }
  } else if (kind == K_CTS) {
    const tapir_cancel_source *c = NULL;
    if (CALL(tapir_cancel_source_new(&c))) failf("making a private cancel source failed");
    x = HV(c);
  } else if (kind == K_ERROR) {
    x = make_error_h();
  } else {
    uint32_t ri = rec_new(RK_HANDLER, "tapir_progress_new (racing)", 0);
    const tapir_progress *p = NULL;
    st = CALL(tapir_progress_new(NULL, cb_progress, rec_ud_l(ri), fz_destroy, &p));
    rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_new", st);
    if (st != TAPIR_STATUS_OK) failf("tapir_progress_new(default, handler) returned %s", stname(st));
    x = HV(p);
  }
  atomic_fetch_add(&g_races, 1);
  LOG("race on private %s %#" PRIx64 "%s", kname[kind], x, held_inside ? " (held by a pending set_from_task)" : "");
  pthread_mutex_lock(&rc->mu);
  rc->kind = kind;
  rc->h = x;
  rc->spin = rn(4) ? rn(20000) : rn(200000);
  atomic_store(&rc->done, 0);
  rc->state = 1;
  pthread_cond_broadcast(&rc->cv);
  pthread_mutex_unlock(&rc->mu);
  bool invalid_seen = false;
  for (int i = 0; i < 4000; i++) {
    bool done_before = atomic_load(&rc->done);
    st = race_call(kind, x, s2);
    LOG("race call %d on %#" PRIx64 " (%s) -> %s%s", i, x, g_race_what, stname(st), done_before ? " (after the release)" : "");
    atomic_fetch_add_explicit(&g_race_calls, 1, memory_order_relaxed);
    if (st == TAPIR_STATUS_INVALID_HANDLE) invalid_seen = true;
    else if (invalid_seen)
      failf("a call on the %s %#" PRIx64 " succeeded after an earlier one had returned INVALID_HANDLE (its last reference "
            "was released by another thread)",
            kname[kind], x);
    if (done_before) {
      if (st != TAPIR_STATUS_INVALID_HANDLE)
        failf("the last reference to the %s %#" PRIx64 " was released on another thread (the release returned), yet a "
              "later call on it succeeded",
              kname[kind], x);
      break;
    }
  }
  pthread_mutex_lock(&rc->mu);
  while (!atomic_load(&rc->done)) pthread_cond_wait(&rc->cv, &rc->mu);
  int32_t rs = rc->result;
  pthread_mutex_unlock(&rc->mu);
  if (rs != TAPIR_STATUS_OK) failf("the helper's release of its only %s reference returned %s", kname[kind], stname(rs));
  if (held_inside) {
    /* tapir still holds the source (the pending forward), the user handle is gone */
    st = CALL(tp_release(K_SOURCE, x));
    LOG("second release of the racing source -> %s", stname(st));
    if (st != TAPIR_STATUS_INVALID_HANDLE)
      failf("a second tapir_source_release of a source whose last handle is gone (tapir still holds it for a pending "
            "set_from_task) returned %s, want INVALID_HANDLE",
            stname(st));
    hv = val_new(HV(t3), true, &hv_ri);
    st = CALL(tapir_source_set_result(s3, hv, fz_destroy));
    check_st("tapir_source_set_result (forward source)", st, D_SET, S(OK));
    val_settle(hv_ri, true, "tapir_source_set_result", st);
    void *v = NULL;
    st = CALL(tapir_task_wait(t, 2000));
    if (st != TAPIR_STATUS_OK) failf("a task forwarded (set_from_task) from a task that succeeded ended with %s", stname(st));
    st = CALL(tapir_task_result(t, &v));
    if (st != TAPIR_STATUS_OK || v != hv)
      failf("a task forwarded from another carries %p (%s); the other's value is %p", v, stname(st), hv);
  }
  if (kind == K_TASK) {
    switch (rn(3)) {
    case 0: {
      uint32_t ri;
      void *v = val_new(x, true, &ri);
      st = CALL(tapir_source_set_result(s, v, fz_destroy));
      check_st("tapir_source_set_result (private)", st, D_SET, S(OK));
      val_settle(ri, true, "tapir_source_set_result", st);
      break;
    }
    case 1: CALL(tapir_source_set_canceled(s, NULL)); break;
    default: break; /* broken promise at release */
    }
    release_ok(K_SOURCE, HV(s), "private source");
    release_ok(K_SOURCE, HV(s2), "private source");
    release_ok(K_TASK, HV(t2), "private task");
  } else if (kind == K_SOURCE) {
    release_ok(K_TASK, HV(t), "private task");
    if (s3) {
      release_ok(K_SOURCE, HV(s3), "private source");
      release_ok(K_TASK, HV(t3), "private task");
    }
  }
}

/* ================================================================ the op table */

typedef struct {
  const char *name;
  int fam; /* -1: always on */
  int weight;
  void (*fn)(void);
  bool cb_ok; /* may run inside a callback */
} opdef;

static void op_shutdown_rare(void) {
  if (rn(400) == 0) op_shutdown();
}
static void op_panic_rare(void) {
  if (rn(20) == 0) op_debug_panic();
}

static const opdef g_ops[] = {
    {"source_new", FAM_SOURCE, 6, op_source_new, 1},
    {"source_task", FAM_SOURCE, 3, op_source_task, 1},
    {"source_complete", FAM_SOURCE, 10, op_source_complete, 1},
    {"debug_panic", FAM_PANIC, 1, op_panic_rare, 0},
    {"task_new", FAM_TASK, 4, op_task_new, 1},
    {"task_query", FAM_TASK, 8, op_task_query, 1},
    {"task_wait", FAM_WAIT, 2, op_task_wait, 0},
    {"task_wait_any", FAM_WAITANY, 1, op_task_wait, 0},
    {"on_complete", FAM_CONT, 6, op_on_complete, 1},
    {"continue_with", FAM_CONT, 5, op_continue_with, 1},
    {"registration", FAM_CONT, 2, op_reg, 1},
    {"unwrap", FAM_UNWRAP, 2, op_unwrap, 1},
    {"combinator", FAM_COMB, 4, op_comb, 1},
    {"wait_async", FAM_WAITASYNC, 2, op_wait_async, 1},
    {"retry", FAM_RETRY, 1, op_retry, 1},
    {"need_only_one", FAM_NOO, 1, op_noo, 1},
    {"throttled", FAM_THROTTLE, 1, op_throttle, 1},
    {"cts_new", FAM_CANCEL, 3, op_cts_new, 1},
    {"cts_ops", FAM_CANCEL, 5, op_cts_ops, 1},
    {"token", FAM_CANCEL, 3, op_token, 1},
    {"cancel_scenario", FAM_CANCEL, 1, op_cancel_scenario, 0},
    {"register", FAM_CREG, 3, op_register, 1},
    {"cancel_registration", FAM_CREG, 2, op_creg, 1},
    {"delay", FAM_DELAY, 3, op_delay, 1},
    {"scheduler", FAM_SCHED, 2, op_sched, 1},
    {"post", FAM_SCHED, 3, op_post, 1},
    {"run_pending", FAM_SCHED, 3, op_run_pending, 0},
    {"foreign_new", FAM_FOREIGN, 1, op_foreign_new, 1},
    {"foreign_pump", FAM_FOREIGN, 4, op_foreign_pump, 0},
    {"run", FAM_RUN, 3, op_run, 1},
    {"yield", FAM_RUN, 1, op_yield, 1},
    {"error_new", FAM_ERROR, 3, op_error_new, 1},
    {"error_read", FAM_ERROR, 3, op_error_read, 1},
    {"progress", FAM_PROGRESS, 2, op_progress, 1},
    {"misc", FAM_MISC, 1, op_misc, 1},
    {"hook", FAM_HOOK, 1, op_hook, 0},
    {"shutdown", FAM_SHUTDOWN, 1, op_shutdown_rare, 0},
    {"race", FAM_RACE, 2, op_race, 0},
    {"release", -1, 14, op_release, 1},
    {"retain", -1, 3, op_retain, 1},
};
#define NOPS ((int)(sizeof g_ops / sizeof g_ops[0]))
static int g_cum[NOPS], g_cumcb[NOPS], g_wsum, g_wsumcb;

static bool fam_on(int f) { return f < 0 || !(g_exclude & (1ull << f)); }

static void ops_init(void) {
  for (int i = 0; i < NOPS; i++) {
    int w = fam_on(g_ops[i].fam) ? g_ops[i].weight : 0;
    g_wsum += w;
    g_cum[i] = g_wsum;
    g_wsumcb += g_ops[i].cb_ok ? w : 0;
    g_cumcb[i] = g_wsumcb;
  }
}

static void run_op(bool from_cb) {
  int sum = from_cb ? g_wsumcb : g_wsum;
  const int *cum = from_cb ? g_cumcb : g_cum;
  if (sum <= 0) return;
  int r = (int)rn((unsigned)sum);
  for (int i = 0; i < NOPS; i++)
    if (r < cum[i]) {
      g_ops[i].fn();
      return;
    }
}

static void run_random_op(void) { run_op(true); }

/* ================================================================ threads */

static atomic_int g_watch_stop;

static void *watchdog_main(void *arg) {
  (void)arg;
  thr_register("watchdog", 1, 0);
  unsigned long long last = atomic_load(&g_progress);
  double since = now_ms();
  while (!atomic_load(&g_watch_stop)) {
    sleep_ms(100);
    unsigned long long p = atomic_load(&g_progress);
    if (p != last) {
      last = p;
      since = now_ms();
    } else if (now_ms() - since > 10000) {
      failf("watchdog: no progress for 10 s (no op finished and no callback ran): a hang");
    }
  }
  return NULL;
}

static void *fuzz_main(void *arg) {
  int id = (int)(intptr_t)arg;
  char name[20];
  snprintf(name, sizeof name, "fuzz-%d", id);
  thr *t = thr_register(name, g_seed * 0x100000001B3ull + (uint64_t)id + 1, 1);
  tl_racer = fam_on(FAM_RACE) ? racer_start(id) : NULL;
  long long quota = g_max_ops ? g_max_ops / g_threads + (id < g_max_ops % g_threads) : 0;
  double end = g_seconds > 0 ? g_t0 + g_seconds * 1000 : 0;
  for (long long n = 0; !atomic_load(&g_stop); n++) {
    if (quota && n >= quota) break;
    if (end && (n & 63) == 0 && now_ms() >= end) break;
    drain_deferred(4);
    if (atomic_load_explicit(&g_nlive_all, memory_order_relaxed) > LIVE_SOFT) op_release();
    else run_op(false);
    atomic_fetch_add_explicit(&t->ops, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  }
  if (tl_racer) racer_stop(tl_racer);
  return NULL;
}

/* ================================================================ teardown and the final checks */

static void pump_manual_all(void) {
  uint64_t hs[256];
  int n = 0;
  L();
  for (int k = 0; k < g_nlive[K_SCHED] && n < 256; k++) {
    slot *s = &g_slots[g_live[K_SCHED][k]];
    if (s->sub == SCH_MANUAL && s->refs > 0) {
      s->pins++;
      hs[n++] = s->h;
    }
  }
  U();
  for (int i = 0; i < n; i++) {
    size_t ran = 0;
    int32_t st = CALL(tapir_scheduler_run_pending(SC(hs[i]), 0, -1, &ran));
    if (st != TAPIR_STATUS_OK) failf("teardown: tapir_scheduler_run_pending on a held manual scheduler returned %s", stname(st));
    L();
    int j = s_find(hs[i]);
    if (j >= 0) {
      g_slots[j].pins--;
      s_maybe_grave(j);
    }
    U();
  }
}

/* Releases every model reference of the given kinds; returns how many. */
static int release_kinds(uint32_t kinds) {
  typedef struct {
    uint64_t h;
    int kind, n;
  } rel;
  rel *v = malloc(sizeof(rel) * MAXSLOTS);
  if (!v) abort();
  int n = 0, total = 0;
  L();
  for (int k = 0; k < NK; k++) {
    if (!(kinds & (1u << k))) continue;
    for (int j = g_nlive[k] - 1; j >= 0; j--) {
      int i = g_live[k][j];
      slot *s = &g_slots[i];
      if (s->refs <= 0 || s->pins) continue;
      v[n].h = s->h;
      v[n].kind = k;
      v[n].n = s->refs;
      n++;
      s->refs = 0;
      s_maybe_grave(i);
    }
  }
  U();
  for (int i = 0; i < n; i++)
    for (int r = 0; r < v[i].n; r++) {
      LOG("teardown release %s %#" PRIx64, kname[v[i].kind], v[i].h);
      release_ok(v[i].kind, v[i].h, "teardown");
      total++;
    }
  free(v);
  return total;
}

static int deferred_pending(void) {
  pthread_mutex_lock(&g_dmu);
  int n = g_ndef;
  pthread_mutex_unlock(&g_dmu);
  return n;
}

static long long rec_open(void) {
  pthread_mutex_lock(&g_lmu);
  long long n = g_rec_open;
  pthread_mutex_unlock(&g_lmu);
  return n;
}

/* Open records that hold a cancel source or a manual scheduler: cancel it or run it,
 * so the callback that owns it can run and release it. The record may release it
 * meanwhile, so INVALID_HANDLE is accepted. */
static int rescue_owned(void) {
  uint64_t hs[64];
  int ks[64], n = 0;
  pthread_mutex_lock(&g_lmu);
  for (uint32_t i = 0; i < g_nrec && n < 64; i++) {
    rec *r = rec_at(i);
    if (r->state != RS_ACCEPTED && r->state != RS_PENDING) continue;
    for (int k = 0; k < 2 && n < 64; k++)
      if (r->own[k] && (r->own_kind[k] == K_CTS || r->own_kind[k] == K_SCHED)) {
        hs[n] = r->own[k];
        ks[n++] = r->own_kind[k];
      }
  }
  pthread_mutex_unlock(&g_lmu);
  for (int i = 0; i < n; i++) {
    int32_t st;
    if (ks[i] == K_CTS) st = CALL(tapir_cancel_source_cancel(CS(hs[i]), 0, NULL));
    else {
      size_t ran;
      st = CALL(tapir_scheduler_run_pending(SC(hs[i]), 0, -1, &ran));
      if (st == TAPIR_STATUS_INVALID_ARGUMENT) st = TAPIR_STATUS_OK; /* not a manual one */
    }
    LOG("teardown: %s owned by an open record %#" PRIx64 " -> %s", kname[ks[i]], hs[i], stname(st));
    if (st != TAPIR_STATUS_OK && st != TAPIR_STATUS_INVALID_HANDLE)
      failf("teardown: driving a %s held by an open record returned %s", kname[ks[i]], stname(st));
  }
  return n;
}

static void teardown(void) {
  atomic_store(&g_teardown, 1);
  uint32_t first = ~((1u << K_SCHED) | (1u << K_CTS) | (1u << K_TOKEN));
  double idle_since = now_ms();
  int rescues = 0;
  for (;;) {
    atomic_fetch_add(&g_progress, 1);
    int did = fs_pump_all(10);
    pump_manual_all();
    int d = deferred_pending();
    drain_deferred(1 << 20);
    did += d + release_kinds(first);
    if (!did) did += release_kinds((1u << K_CTS) | (1u << K_TOKEN));
    if (!did) {
      pump_manual_all();
      did += release_kinds(1u << K_SCHED);
    }
    if (!did && rescues < 20 && now_ms() - idle_since > 50) {
      rescues++;
      did += rescue_owned();
    }
    if (did) idle_since = now_ms();
    else {
      if (g_nlive_all == 0 && !deferred_pending()) break;
      if (now_ms() - idle_since > 3000) break; /* what is left is reported by the final checks */
      sleep_ms(1);
    }
  }
}

static size_t g_base_live, g_base_kind[7];

static bool settle(double ms) {
  double end = now_ms() + ms;
  for (;;) {
    atomic_fetch_add(&g_progress, 1);
    fs_pump_all(10);
    drain_deferred(1 << 20);
    if (CALL(tapir_debug_live_objects(0)) == g_base_live && rec_open() == 0 && !deferred_pending()) return true;
    if (now_ms() >= end) return false;
    sleep_ms(5);
  }
}

static void report_open_records(void) {
  pthread_mutex_lock(&g_lmu);
  int shown = 0;
  long long open = g_rec_open;
  for (uint32_t i = 0; i < g_nrec && shown < 25; i++) {
    rec *r = rec_at(i);
    if (r->state != RS_PENDING && r->state != RS_ACCEPTED) continue;
    fprintf(stderr, "  open record #%u: %s, state %s, calls %d, destroys %d, action %s, next %s, made by %s at op %llu\n", i,
            r->what, rsname[r->state], r->calls, r->destroys, actname[r->action], nxname[r->nx], r->tname ? r->tname : "?", r->op);
    shown++;
  }
  pthread_mutex_unlock(&g_lmu);
  fprintf(stderr, "  (%lld open records in all)\n", open);
}

static void final_checks(void) {
  LOG("final checks");
  /* FUZZ_SETTLE_MS shortens the settling wait (for bisecting leaks) */
  const char *e = getenv("FUZZ_SETTLE_MS");
  double wait = e ? atof(e) : 15000;
  bool ok = settle(wait / 3);
  LOG("tapir_shutdown");
  int32_t st = CALL(tapir_shutdown());
  if (st != TAPIR_STATUS_OK) failf("tapir_shutdown returned %s", stname(st));
  ok = settle(ok ? wait / 3 : wait * 2 / 3);
  size_t live = CALL(tapir_debug_live_objects(0));
  long long open = rec_open();
  if (live != g_base_live || open) {
    static const char *kn[] = {"all", "task", "error", "registration", "scheduler", "cancel", "progress"};
    fprintf(stderr, "live objects by kind (start -> end):");
    for (int k = 0; k < 7; k++) fprintf(stderr, " %s %zu->%zu", kn[k], g_base_kind[k], CALL(tapir_debug_live_objects(k)));
    fprintf(stderr, "\n");
    report_open_records();
    failf("after releasing everything, tapir_shutdown and settling: %zu live objects (start %zu), %lld ledger "
          "records whose destroy never ran",
          live, g_base_live, open);
  }
}

/* ================================================================ main */

static void usage(void) {
  fprintf(stderr,
          "usage: fuzz [-S seed] [-t threads 1-4] [-s seconds | -n ops] [-x fam,fam | -o fam,fam] [-m misuse%%] [-v] [-l]\n"
          "  -x  exclude op families, -o run only these (-l lists them)\n");
  exit(2);
}

int main(int argc, char **argv) {
  static char line[512];
  bool seeded = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-S") && v) g_seed = strtoull(v, NULL, 0), seeded = true, i++;
    else if (!strcmp(a, "-t") && v) g_threads = atoi(v), i++;
    else if (!strcmp(a, "-s") && v) g_seconds = atof(v), i++;
    else if (!strcmp(a, "-n") && v) g_max_ops = atoll(v), i++;
    else if (!strcmp(a, "-m") && v) g_misuse = atoi(v), i++;
    else if (!strcmp(a, "-x") && v) {
      char buf[512];
      snprintf(buf, sizeof buf, "%s", v);
      for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int f = -1;
        for (int k = 0; k < FAM_N; k++)
          if (!strcmp(tok, famname[k])) f = k;
        if (f < 0) {
          fprintf(stderr, "fuzz: unknown family '%s' (-l lists them)\n", tok);
          return 2;
        }
        g_exclude |= 1ull << f;
      }
      i++;
    } else if (!strcmp(a, "-o") && v) {
      /* only these families (with release/retain, which are always on) */
      char buf[512];
      snprintf(buf, sizeof buf, "%s", v);
      uint64_t keep = 0;
      for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int f = -1;
        for (int k = 0; k < FAM_N; k++)
          if (!strcmp(tok, famname[k])) f = k;
        if (f < 0) {
          fprintf(stderr, "fuzz: unknown family '%s' (-l lists them)\n", tok);
          return 2;
        }
        keep |= 1ull << f;
      }
      g_exclude |= ((1ull << FAM_N) - 1) & ~keep;
      i++;
    } else if (!strcmp(a, "-v")) g_verbose++;
    else if (!strcmp(a, "-l")) {
      for (int k = 0; k < FAM_N; k++) {
        printf("%-10s", famname[k]);
        for (int j = 0; j < NOPS; j++)
          if (g_ops[j].fam == k) printf(" %s", g_ops[j].name);
        printf("\n");
      }
      return 0;
    } else usage();
  }
  if (g_threads < 1 || g_threads > 4) usage();
  if (!seeded) {
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&g_seed, sizeof g_seed, 1, f) != 1) g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (f) fclose(f);
    g_seed &= 0xFFFFFFFFFFFFull;
  }
  if (g_seconds <= 0 && g_max_ops <= 0) g_seconds = 10;
  int len = snprintf(line, sizeof line, "%s -S %" PRIu64 " -t %d", argv[0], g_seed, g_threads);
  if (g_max_ops) len += snprintf(line + len, sizeof line - (size_t)len, " -n %lld", g_max_ops);
  else len += snprintf(line + len, sizeof line - (size_t)len, " -s %g", g_seconds);
  if (g_exclude) {
    len += snprintf(line + len, sizeof line - (size_t)len, " -x ");
    bool first = true;
    for (int k = 0; k < FAM_N; k++)
      if (g_exclude & (1ull << k)) {
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%s", first ? "" : ",", famname[k]);
        first = false;
      }
  }
  if (g_misuse != 12) snprintf(line + len, sizeof line - (size_t)len, " -m %d", g_misuse);
  g_argv_line = line;
  printf("fuzz: seed %" PRIu64 ", %d thread(s), %s; run again with: %s\n", g_seed, g_threads,
         g_max_ops ? "op budget" : "time budget", line);
  fflush(stdout);

  thr_register("main", g_seed, 1);
  model_init();
  ti_init();
  ops_init();
  g_t0 = now_ms();

  /* the permanent objects, touched once so the baseline counts them */
  const tapir_scheduler *s = NULL;
  const tapir_cancel_token *tk = NULL;
  const tapir_task *t = NULL;
  if (CALL(tapir_scheduler_default(&s)) != TAPIR_STATUS_OK) failf("tapir_scheduler_default failed");
  g_default_h = HV(s);
  release_ok(K_SCHED, HV(s), "warm-up");
  if (CALL(tapir_scheduler_inline(&s)) != TAPIR_STATUS_OK) failf("tapir_scheduler_inline failed");
  g_inline_h = HV(s);
  release_ok(K_SCHED, HV(s), "warm-up");
  if (CALL(tapir_cancel_token_none(&tk)) != TAPIR_STATUS_OK) failf("tapir_cancel_token_none failed");
  g_none_h = HV(tk);
  release_ok(K_TOKEN, HV(tk), "warm-up");
  if (CALL(tapir_task_completed(&t)) != TAPIR_STATUS_OK) failf("tapir_task_completed failed");
  g_completed_h = HV(t);
  release_ok(K_TASK, HV(t), "warm-up");
  g_version = CALL(tapir_version());
  g_base_live = CALL(tapir_debug_live_objects(0));
  for (int k = 0; k < 7; k++) g_base_kind[k] = CALL(tapir_debug_live_objects(k));
  if (fam_on(FAM_HOOK)) CALL(tapir_set_unobserved_error_hook(hook_fn, &g_hook_tag1));

  pthread_t wd, th[4];
  if (pthread_create(&wd, NULL, watchdog_main, NULL)) abort();
  for (int i = 0; i < g_threads; i++)
    if (pthread_create(&th[i], NULL, fuzz_main, (void *)(intptr_t)i)) abort();
  for (int i = 0; i < g_threads; i++) pthread_join(th[i], NULL);
  double t_ops = now_ms() - g_t0;
  LOG("threads joined; teardown");
  teardown();
  final_checks();
  CALL(tapir_set_unobserved_error_hook(NULL, NULL));
  atomic_store(&g_watch_stop, 1);
  pthread_join(wd, NULL);

  unsigned long long calls = 0, ops = 0;
  int nt = atomic_load(&g_nthr);
  for (int i = 0; i < nt && i < MAXTHR; i++)
    if (g_thr[i]) {
      calls += atomic_load(&g_thr[i]->calls);
      ops += atomic_load(&g_thr[i]->ops);
    }
  double secs = (now_ms() - g_t0) / 1000.0;
  printf("fuzz: seed %" PRIu64 ", %d thread(s): OK — %llu ops, %llu calls in %.1f s (%.0f calls/s; ops phase %.1f s), "
         "%llu callbacks, %llu records, %llu races (%llu racing calls), value reads judged %llu (not judged %llu), "
         "hook calls %llu, forwarded values read after their owner died %llu; live objects back to %zu\n",
         g_seed, g_threads, ops, calls, secs, (double)calls / secs, t_ops / 1000.0, (unsigned long long)atomic_load(&g_cb_calls),
         g_rec_total, (unsigned long long)atomic_load(&g_races), (unsigned long long)atomic_load(&g_race_calls),
         (unsigned long long)atomic_load(&g_reads_checked), (unsigned long long)atomic_load(&g_reads_unchecked),
         (unsigned long long)atomic_load(&g_hook_calls), (unsigned long long)atomic_load(&g_dangling), g_base_live);
  return 0;
}
