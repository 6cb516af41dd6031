
/* ================================================================ time */

static void op_delay(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  unsigned flt = null_out ? F_NULL : 0, r = rn(100);
  int64_t ms;
  if (mis && r < 4) {
    ms = pct(50) ? -2 - (int64_t)rn(9) : TAPIR_MAX_TIMEOUT_MS + 1;
    flt |= F_INV;
  } else if (r < 18 && fam_on(FAM_FOREVER)) ms = -1;
  else if (r < 38) ms = 0;
  else if (r < 80) ms = 1 + (int64_t)rn(5);
  else ms = 10 + (int64_t)rn(50);
  harg tok = pct(40) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  bool canceled = A_FIELD(&tok, canceled) != 0;
  a_lend(&tok);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_delay(ms, TO(tok.h), null_out ? NULL : &t));
  int32_t s = st == TAPIR_STATUS_OK ? CALL(tapir_task_get_status(t)) : -1;
  LOG("delay(%" PRId64 ", tok %#" PRIx64 ") -> %s %#" PRIx64 " status %d", ms, tok.h, stname(st), HV(t), s);
  a_done(&tok);
  flt |= a_flt(&tok, false);
  check_st("tapir_delay", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_delay failed but wrote task_out");
    return;
  }
  if (!(flt & F_LOOSE)) {
    if (canceled && s != TAPIR_TASK_STATUS_CANCELED)
      failf("tapir_delay with an already-canceled token returned a task with status %d (want canceled at once)", s);
    if (!canceled && ms == 0 && s != TAPIR_TASK_STATUS_SUCCEEDED && !(tok.h && s == TAPIR_TASK_STATUS_CANCELED))
      failf("tapir_delay(0) returned a task with status %d (0 completes at once)", s);
  }
  ti_from(HV(t), FM_ID, 0);
  add_task_out(t, 0);
  if (ms < 0) {
    L();
    int i = s_find(HV(t));
    if (i >= 0) g_slots[i].never = 1;
    U();
  }
  if (pct(10)) (void)CALL(tapir_debug_pending_timers());
}

/* ================================================================ schedulers */

static void op_sched(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  const tapir_scheduler *s = SENTP(const tapir_scheduler *);
  int32_t st;
  switch (rn(5)) {
  case 0:
  case 1: {
    bool def = pct(50);
    st = def ? CALL(tapir_scheduler_default(null_out ? NULL : &s)) : CALL(tapir_scheduler_inline(null_out ? NULL : &s));
    check_st(def ? "tapir_scheduler_default" : "tapir_scheduler_inline", st, S(OK) | S(NULL_ARGUMENT),
             expect(null_out ? F_NULL : 0, S(OK)));
    if (st != TAPIR_STATUS_OK) return;
    if (HV(s) != (def ? g_default_h : g_inline_h)) failf("the %s scheduler handle changed: %#" PRIx64, def ? "default" : "inline", HV(s));
    L();
    int i = m_add_l(K_SCHED, HV(s), def ? SCH_DEFAULT : SCH_INLINE);
    if (i >= 0) g_slots[i].perm = 1;
    U();
    if (i < 0) release_ok(K_SCHED, HV(s), "model full");
    return;
  }
  case 2:
    if (!fam_on(FAM_MANUAL)) return;
    st = CALL(tapir_scheduler_new_manual(null_out ? NULL : &s));
    LOG("new_manual -> %s %#" PRIx64, stname(st), HV(s));
    check_st("tapir_scheduler_new_manual", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
    if (st == TAPIR_STATUS_OK) m_add(K_SCHED, HV(s), SCH_MANUAL, 0);
    return;
  case 3: {
    const tapir_scheduler *cur = CALL(tapir_scheduler_current());
    if (me()->depth == 0 && cur) failf("tapir_scheduler_current() on a fuzzer thread outside any callback is %#" PRIx64, HV(cur));
    if (cur) release_ok(K_SCHED, HV(cur), "current");
    return;
  }
  default:
    if (!mis) return;
    st = pct(50) ? CALL(tapir_work_run(NULL)) : CALL(tapir_work_discard(NULL));
    check_st("tapir_work_run/discard(NULL)", st, S(OK) | S(NULL_ARGUMENT), S(NULL_ARGUMENT));
    return;
  }
}

static void op_foreign_new(void) {
  int idx = atomic_fetch_add(&g_nfs, 1);
  if (idx >= MAXFS) {
    atomic_fetch_sub(&g_nfs, 1);
    return;
  }
  fsched *f = calloc(1, sizeof *f);
  if (!f) abort();
  pthread_mutex_init(&f->mu, NULL);
  bool mis = misuse_on();
  tapir_scheduler_vtable vt;
  memset(&vt, 0, sizeof vt);
  vt.struct_size = sizeof vt;
  vt.post = fs_post;
  vt.destroy = pct(85) ? fs_destroy : NULL;
  unsigned flt = 0;
  bool null_vt = false, null_out = false;
  if (mis) {
    unsigned r = rn(100);
    if (r < 3) null_vt = true, flt |= F_NULL;
    else if (r < 6) vt.post = NULL, flt |= F_NULL;
    else if (r < 9) vt.struct_size = 4, flt |= F_INV;
    else if (r < 12) null_out = true, flt |= F_NULL;
  }
  uint32_t ri = UINT32_MAX;
  if (vt.destroy) {
    ri = rec_new(RK_CTX, "tapir_scheduler_new_foreign ctx", 0);
    f->ud = rec_ud_l(ri);
  }
  g_fs[idx] = f;
  const tapir_scheduler *s = SENTP(const tapir_scheduler *);
  int32_t st = CALL(tapir_scheduler_new_foreign(null_vt ? NULL : &vt, f, null_out ? NULL : &s));
  LOG("new_foreign(fs %d, destroy %d) -> %s %#" PRIx64, idx, vt.destroy != NULL, stname(st), HV(s));
  check_st("tapir_scheduler_new_foreign", st, S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (ri != UINT32_MAX) rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_scheduler_new_foreign", st);
  if (st != TAPIR_STATUS_OK) {
    atomic_store(&f->destroyed, 1); /* tapir must never call it */
    f->ud = NULL;
    if (!null_out && HV(s) != SENT) failf("tapir_scheduler_new_foreign failed but wrote scheduler_out");
    return;
  }
  L();
  int i = m_add_l(K_SCHED, HV(s), SCH_FOREIGN);
  if (i >= 0) g_slots[i].aux = (uint64_t)idx;
  U();
  if (i < 0) release_ok(K_SCHED, HV(s), "model full");
}

static void op_foreign_pump(void) {
  int n = atomic_load(&g_nfs);
  if (n <= 0) return;
  fsched *f = g_fs[rn((unsigned)n)];
  if (f) fs_pump(f, 1 + (int)rn(8), 15);
}

static void op_post(void) {
  harg s = a_pick(K_SCHED, -1, false);
  bool null_fn = misuse_on() && pct(3);
  int sub = s.cls == AC_LIVE ? sched_sub_of(s.h) : -1;
  uint8_t check;
  uint64_t want;
  sched_expect(s.h, false, &check, &want);
  if (s.cls != AC_LIVE) check = 0;
  uint32_t ri = cb_rec("tapir_scheduler_post", 1, 0, me()->depth, check, want, &s, K_SCHED);
  void *ud = rec_ud_l(ri);
  a_lend(&s);
  int32_t st = CALL(tapir_scheduler_post(SC(s.h), null_fn ? NULL : cb_work, ud, fz_destroy));
  LOG("post(%#" PRIx64 ") -> %s", s.h, stname(st));
  pthread_mutex_lock(&g_lmu);
  int calls = rec_at(ri)->calls;
  pthread_mutex_unlock(&g_lmu);
  a_done(&s);
  unsigned flt = a_flt(&s, true) | (null_fn ? F_NULL : 0);
  check_st("tapir_scheduler_post", st, D_BASE, expect(flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_scheduler_post", st);
  if (st == TAPIR_STATUS_OK && !flt && sub == SCH_INLINE && calls != 1)
    failf("tapir_scheduler_post to the inline scheduler returned with the work run %d times (want once, before return)", calls);
}

static void op_run_pending(void) {
  if (me()->depth > 0) return;
  harg s = a_pick(K_SCHED, -1, false);
  int sub = s.cls == AC_LIVE ? sched_sub_of(s.h) : -1;
  bool mis = misuse_on(), null_out = mis && pct(3);
  size_t max_items = rn(6);
  int64_t max_ms = pct(70) ? -1 : (int64_t)rn(3);
  unsigned flt = null_out ? F_NULL : 0;
  if (mis && pct(3)) {
    max_ms = -2 - (int64_t)rn(5);
    flt |= F_INV;
  }
  size_t ran = SENT;
  int32_t st = CALL(tapir_scheduler_run_pending(SC(s.h), max_items, max_ms, null_out ? NULL : &ran));
  LOG("run_pending(%#" PRIx64 ", %zu, %" PRId64 ") -> %s ran %zu", s.h, max_items, max_ms, stname(st), ran);
  a_done(&s);
  flt |= a_flt(&s, true);
  uint32_t normal = S(OK) | S(INVALID_ARGUMENT);
  if (sub == SCH_MANUAL) normal = S(OK);
  else if (sub >= 0) normal = S(INVALID_ARGUMENT);
  check_st("tapir_scheduler_run_pending", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, normal));
  if (st == TAPIR_STATUS_OK && max_items && ran > max_items) failf("tapir_scheduler_run_pending ran %zu items with max_items %zu", ran, max_items);
  if (st != TAPIR_STATUS_OK && !null_out && ran != SENT) failf("tapir_scheduler_run_pending failed but wrote ran_out");
}

static void op_run(void) {
  harg s = pct(50) ? a_pick(K_SCHED, -1, true) : a_none(AC_LIVE);
  harg tok = pct(30) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  bool canceled = A_FIELD(&tok, canceled) != 0;
  bool mis = misuse_on(), null_fn = mis && pct(3), null_out = mis && pct(3);
  uint8_t check;
  uint64_t want;
  sched_expect(s.h, false, &check, &want);
  if (s.cls != AC_LIVE) check = 0;
  uint32_t ri = cb_rec("tapir_run", 1, 0, me()->depth, check, want, NULL, 0);
  void *ud = rec_ud_l(ri);
  a_lend(&s);
  a_lend(&tok);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_run(SC(s.h), null_fn ? NULL : cb_run, ud, fz_destroy, TO(tok.h), null_out ? NULL : &t));
  pthread_mutex_lock(&g_lmu);
  int calls = rec_at(ri)->calls;
  if (st == TAPIR_STATUS_OK && canceled) rec_at(ri)->no_run = 1;
  pthread_mutex_unlock(&g_lmu);
  int32_t stat = st == TAPIR_STATUS_OK ? CALL(tapir_task_get_status(t)) : -1;
  LOG("run(sched %#" PRIx64 ", tok %#" PRIx64 ") -> %s %#" PRIx64 " status %d", s.h, tok.h, stname(st), HV(t), stat);
  a_done(&s);
  a_done(&tok);
  unsigned flt = a_flt(&s, false) | a_flt(&tok, false) | (null_fn || null_out ? F_NULL : 0);
  check_st("tapir_run", st, D_BASE, expect(flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_run", st);
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_run failed but wrote task_out");
    return;
  }
  if (canceled && !(flt & F_LOOSE) && (stat != TAPIR_TASK_STATUS_CANCELED || calls))
    failf("tapir_run with an already-canceled token: task status %d, work ran %d time(s) (want canceled at once, never run)", stat, calls);
  L();
  ti_get(HV(t), true);
  U();
  add_task_out(t, 1);
}

static void op_yield(void) {
  bool null_out = misuse_on() && pct(3);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_yield(null_out ? NULL : &t));
  check_st("tapir_yield", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
  if (st != TAPIR_STATUS_OK) return;
  ti_from(HV(t), FM_ID, 0);
  add_task_out(t, 0);
}

/* ================================================================ errors */

static void op_error_new(void) {
  bool mis = misuse_on(), null_out = mis && pct(3), agg = pct(40);
  int32_t code = fz_code();
  char msg[32];
  size_t len = (size_t)snprintf(msg, sizeof msg, agg ? "fzA:%d" : "fz:%d", code);
  const uint8_t *mp = (const uint8_t *)msg;
  unsigned flt = null_out ? F_NULL : 0, r = rn(100);
  if (r < 10) mp = NULL, len = 0;
  else if (mis && r < 13) mp = NULL, flt |= F_NULL;
  else if (mis && r < 16) {
    msg[1] = (char)0xFF; /* not UTF-8 */
    flt |= F_INV;
  }
  const tapir_error *e = SENTP(const tapir_error *);
  int32_t st;
  uint32_t pi = UINT32_MAX;
  void *payload = NULL;
  unsigned n = 0;
  if (!agg) {
    if (pct(40)) {
      pi = rec_new(RK_PAYLOAD, "tapir_error_new payload", 0);
      pthread_mutex_lock(&g_lmu);
      rec_at(pi)->code = code;
      payload = rec_ud(pi);
      pthread_mutex_unlock(&g_lmu);
    }
    st = CALL(tapir_error_new(code, mp, len, payload, payload ? fz_destroy : NULL, null_out ? NULL : &e));
    LOG("error_new(%d, len %zu, payload %p) -> %s %#" PRIx64, code, len, payload, stname(st), HV(e));
    check_st("tapir_error_new", st, S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT), expect(flt, S(OK)));
    if (pi != UINT32_MAX) rec_settle(pi, st == TAPIR_STATUS_OK, "tapir_error_new", st);
  } else {
    harg in[3];
    const tapir_error *arr[3];
    n = rn(4);
    bool null_arr = mis && pct(4) && n;
    for (unsigned k = 0; k < n; k++) {
      in[k] = a_pick(K_ERROR, -1, false);
      a_lend(&in[k]);
      arr[k] = ER(in[k].h);
    }
    st = CALL(tapir_error_new_aggregate(code, mp, len, null_arr ? NULL : arr, n, null_out ? NULL : &e));
    LOG("error_new_aggregate(%d, n %u) -> %s %#" PRIx64, code, n, stname(st), HV(e));
    for (unsigned k = 0; k < n; k++) {
      a_done(&in[k]);
      unsigned f = a_flt(&in[k], true);
      flt |= (f & F_NULL) ? F_INV : f;
    }
    if (null_arr) flt |= F_NULL;
    check_st("tapir_error_new_aggregate", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  }
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(e) != SENT) failf("creating an error failed but wrote error_out");
    return;
  }
  check_error(HV(e), "a new error");
  if (CALL(tapir_error_payload(e)) != payload) failf("tapir_error_payload does not return the payload given at creation");
  if (CALL(tapir_error_inner_count(e)) != n) failf("tapir_error_inner_count of a new aggregate is not its inner count %u", n);
  L();
  int i = m_add_l(K_ERROR, HV(e), ERR_MADE);
  if (i >= 0) {
    g_slots[i].code = code;
    g_slots[i].aux2 = HV(payload);
    g_slots[i].ninner = n;
  }
  U();
  if (i < 0) release_ok(K_ERROR, HV(e), "model full");
}

static void op_error_read(void) {
  harg e = a_pick(K_ERROR, -1, false);
  bool made = A_FIELD(&e, sub) == ERR_MADE;
  int32_t code0 = (int32_t)A_FIELD(&e, code);
  uint64_t payload0 = A_FIELD(&e, aux2);
  uint32_t ninner0 = (uint32_t)A_FIELD(&e, ninner);
  uint64_t hold = e.cls == AC_LIVE ? HV(CALL(tapir_error_retain(ER(e.h)))) : 0;
  bool mis = misuse_on(), null_out = mis && pct(3);
  switch (rn(4)) {
  case 0: {
    int32_t code = CALL(tapir_error_code(ER(e.h)));
    size_t len = 777;
    const uint8_t *m = CALL(tapir_error_message(ER(e.h), &len));
    void *p = CALL(tapir_error_payload(ER(e.h)));
    size_t n = CALL(tapir_error_inner_count(ER(e.h)));
    if (hold) {
      check_error(e.h, "error getters");
      if (made && (code != code0 || HV(p) != payload0 || n != ninner0))
        failf("error %#" PRIx64 " reads code %d payload %p inner %zu; it was made with %d, %#" PRIx64 ", %u", e.h, code, p, n,
              code0, payload0, ninner0);
      release_ok(K_ERROR, hold, "private read reference");
    }
    a_done(&e);
    unsigned flt = a_flt(&e, true);
    if (flt & (F_BAD | F_NULL)) {
      if (code || m || p || n) failf("error getters on an invalid handle returned code %d message %p payload %p inner %zu", code, (const void *)m, p, n);
      if (len != 777) failf("tapir_error_message on an invalid handle wrote len_out");
      check_last("tapir_error_code", flt);
    }
    return;
  }
  case 1: {
    size_t n = CALL(tapir_error_inner_count(ER(e.h)));
    size_t idx = rn((unsigned)n + 2);
    const tapir_error *in = SENTP(const tapir_error *);
    int32_t st = CALL(tapir_error_inner(ER(e.h), idx, null_out ? NULL : &in));
    LOG("error_inner(%#" PRIx64 ", %zu of %zu) -> %s %#" PRIx64, e.h, idx, n, stname(st), HV(in));
    if (hold) release_ok(K_ERROR, hold, "private read reference");
    a_done(&e);
    unsigned flt = a_flt(&e, true) | (null_out ? F_NULL : 0);
    uint32_t normal = S(OK) | S(INVALID_ARGUMENT);
    if (hold && e.cls == AC_LIVE) normal = idx < n ? S(OK) : S(INVALID_ARGUMENT);
    check_st("tapir_error_inner", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, normal));
    if (st == TAPIR_STATUS_OK) {
      check_error(HV(in), "tapir_error_inner");
      m_add(K_ERROR, HV(in), ERR_LIB, 1);
    } else if (!null_out && HV(in) != SENT) failf("tapir_error_inner failed but wrote inner_out");
    return;
  }
  case 2: {
    int32_t code = CALL(tapir_error_code(ER(e.h)));
    const tapir_error *fl = SENTP(const tapir_error *);
    int32_t st = CALL(tapir_error_flatten(ER(e.h), null_out ? NULL : &fl));
    LOG("error_flatten(%#" PRIx64 ") -> %s %#" PRIx64, e.h, stname(st), HV(fl));
    if (hold) release_ok(K_ERROR, hold, "private read reference");
    a_done(&e);
    unsigned flt = a_flt(&e, true) | (null_out ? F_NULL : 0);
    check_st("tapir_error_flatten", st, D_BASE, expect(flt, S(OK)));
    if (st == TAPIR_STATUS_OK) {
      int32_t fc = CALL(tapir_error_code(fl));
      if (hold && fc != code) failf("tapir_error_flatten of an error with code %d made an aggregate with code %d", code, fc);
      check_error(HV(fl), "tapir_error_flatten");
      m_add(K_ERROR, HV(fl), ERR_LIB, 1);
    } else if (!null_out && HV(fl) != SENT) failf("tapir_error_flatten failed but wrote flat_out");
    return;
  }
  default: {
    const uint8_t *m = CALL(tapir_error_message(ER(e.h), NULL));
    if (hold) release_ok(K_ERROR, hold, "private read reference");
    a_done(&e);
    if (m) failf("tapir_error_message with len_out NULL returned %p (want NULL)", (const void *)m);
    return;
  }
  }
}

/* ================================================================ progress */

static void op_progress(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  if (pct(35)) {
    harg s = pct(60) ? a_pick(K_SCHED, -1, true) : a_none(AC_LIVE);
    bool null_fn = mis && pct(3);
    uint8_t check;
    uint64_t want;
    sched_expect(s.h, false, &check, &want);
    if (s.cls != AC_LIVE) check = 0;
    uint32_t ri = rec_new(RK_HANDLER, "tapir_progress_new", 0);
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_at(ri);
    r->action = pct(60) ? ACT_NONE : pct(50) ? ACT_QUERY : ACT_OP;
    r->sched_check = check;
    r->sched_h = want;
    r->depth = (uint8_t)me()->depth;
    void *ud = rec_ud(ri);
    pthread_mutex_unlock(&g_lmu);
    a_lend(&s);
    const tapir_progress *p = SENTP(const tapir_progress *);
    int32_t st = CALL(tapir_progress_new(SC(s.h), null_fn ? NULL : cb_progress, ud, fz_destroy, null_out ? NULL : &p));
    LOG("progress_new(%#" PRIx64 ") -> %s %#" PRIx64, s.h, stname(st), HV(p));
    a_done(&s);
    check_st("tapir_progress_new", st, D_BASE, expect(a_flt(&s, false) | (null_fn || null_out ? F_NULL : 0), S(OK)));
    rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_new", st);
    if (st == TAPIR_STATUS_OK) m_add(K_PROGRESS, HV(p), 0, 0);
    else if (!null_out && HV(p) != SENT) failf("tapir_progress_new failed but wrote progress_out");
    return;
  }
  harg p = a_pick(K_PROGRESS, -1, false);
  uint32_t ri;
  void *v = val_new(0, pct(70), &ri);
  int32_t st = CALL(tapir_progress_report(PG(p.h), v, ri == UINT32_MAX ? NULL : fz_destroy));
  LOG("progress_report(%#" PRIx64 ", %p) -> %s", p.h, v, stname(st));
  a_done(&p);
  check_st("tapir_progress_report", st, D_BASE, expect(a_flt(&p, true), S(OK)));
  val_settle(ri, st == TAPIR_STATUS_OK, "tapir_progress_report", st);
}

/* ================================================================ diagnostics and process-wide calls */

static const char *g_version;

static void op_misc(void) {
  switch (rn(5)) {
  case 0: {
    const char *v = CALL(tapir_version());
    if (!v || !*v || (g_version && v != g_version)) failf("tapir_version returned %p", (const void *)v);
    return;
  }
  case 1: {
    int32_t s = CALL(tapir_last_status());
    if (s < 0 || s > TAPIR_STATUS_SCHEDULER_ERROR) failf("tapir_last_status returned %d", s);
    return;
  }
  case 2: {
    int32_t code = pct(50) ? (int32_t)rn(20) : (int32_t)rnd();
    const char *s = CALL(tapir_status_str(code));
    if (!s || !*s) failf("tapir_status_str(%d) returned an empty or NULL string", code);
    return;
  }
  case 3: {
    int32_t kind = (int32_t)rn(12) - 3;
    size_t n = CALL(tapir_debug_live_objects(kind));
    if ((kind < 0 || kind > TAPIR_OBJECT_KIND_PROGRESS) && n) failf("tapir_debug_live_objects(%d) (unknown kind) returned %zu", kind, n);
    return;
  }
  default: (void)CALL(tapir_debug_pending_timers()); return;
  }
}

static void op_hook(void) {
  int r = (int)rn(3);
  int32_t st = CALL(tapir_set_unobserved_error_hook(r ? hook_fn : NULL, r == 1 ? (void *)&g_hook_tag1 : (void *)&g_hook_tag2));
  LOG("set_unobserved_error_hook(%d) -> %s", r, stname(st));
  check_st("tapir_set_unobserved_error_hook", st, S(OK), S(OK));
}

static void op_shutdown(void) {
  if (me()->depth > 0) return;
  LOG("shutdown");
  int32_t st = CALL(tapir_shutdown());
  check_st("tapir_shutdown", st, S(OK), S(OK));
}

/* ================================================================ references */

static void op_release(void) {
  int kind = (int)rn(NK);
  bool mis = misuse_on();
  unsigned r = rn(100);
  const char *fn = kname[kind];
  if (mis && r < 10) { /* a second release of a handle that is dead for good */
    harg a = a_grave(kind);
    if (!a.h || a.cls != AC_BAD || A_FIELD(&a, acqable)) {
      a_done(&a);
      return;
    }
    int32_t st = CALL(tp_release(kind, a.h));
    LOG("double release %s %#" PRIx64 " -> %s", fn, a.h, stname(st));
    a_done(&a);
    if (a.cls == AC_BAD && st != TAPIR_STATUS_INVALID_HANDLE)
      failf("a second release of %s %#" PRIx64 " (the fuzzer released its last reference; nothing hands it out again) "
            "returned %s, want INVALID_HANDLE",
            fn, a.h, stname(st));
    return;
  }
  if (mis && r < 13) {
    int32_t st = CALL(tp_release(kind, 0));
    if (st != TAPIR_STATUS_OK) failf("releasing NULL as a %s returned %s (NULL is a no-op)", fn, stname(st));
    return;
  }
  if (mis && r < 17) {
    harg a = a_wrong(kind, -1);
    if (!a.h) return;
    int32_t st = CALL(tp_release(kind, a.h));
    LOG("wrong-kind release as %s %#" PRIx64 " -> %s", fn, a.h, stname(st));
    if (st != TAPIR_STATUS_INVALID_HANDLE) failf("releasing a live handle of another kind as a %s returned %s", fn, stname(st));
    return;
  }
  bool racing = fam_on(FAM_RACEREL) && r < 30;
  L();
  int n = g_nlive[kind], pick = -1;
  for (int t = 0; t < (racing ? 24 : 8) && n; t++) {
    int i = g_live[kind][rn((unsigned)n)];
    slot *s = &g_slots[i];
    if (s->refs <= 0) continue;
    if (racing ? s->pins > 0 : (s->pins == 0 || s->refs > 1)) {
      pick = i;
      break;
    }
  }
  if (pick < 0) {
    U();
    return;
  }
  slot *s = &g_slots[pick];
  uint64_t h = s->h;
  s->refs--;
  if (s->refs == 0 && s->pins > 0) {
    s->dying = 1;
    s->rel_ep++;
  }
  s_maybe_grave(pick);
  U();
  int32_t st = CALL(tp_release(kind, h));
  LOG("release%s %s %#" PRIx64 " -> %s", racing ? " (racing a call)" : "", fn, h, stname(st));
  if (st != TAPIR_STATUS_OK) failf("releasing a %s reference the fuzzer owns (%#" PRIx64 ") returned %s", fn, h, stname(st));
}

static void op_retain(void) {
  int kind = (int)rn(NK);
  harg a = a_pick(kind, -1, false);
  uint64_t r = CALL(tp_retain(kind, a.h));
  LOG("retain %s %#" PRIx64 " -> %#" PRIx64, kname[kind], a.h, r);
  if (r && r != a.h) failf("tapir_%s_retain(%#" PRIx64 ") returned %#" PRIx64, kname[kind], a.h, r);
  if (r && !a.grave && (a.cls == AC_BAD || a.cls == AC_NONE))
    failf("tapir_%s_retain accepted an invalid handle %#" PRIx64 " (wrong kind or forged)", kname[kind], a.h);
  /* a live slot takes the reference before it is unpinned (it must not pass through
   * the graveyard); a revived grave after */
  if (r && !a.grave) {
    L();
    int i = m_add_l(kind, r, 0);
    U();
    if (i < 0) release_ok(kind, r, "model full");
  }
  a_done(&a);
  unsigned flt = a_flt(&a, true);
  if (r && (flt & (F_BAD | F_NULL)))
    failf("tapir_%s_retain accepted %#" PRIx64 ", released for good by the fuzzer", kname[kind], a.h);
  if (r && a.grave) {
    L();
    int i = m_add_l(kind, r, 0);
    U();
    if (i < 0) release_ok(kind, r, "model full");
  }
  if (!r && !flt) failf("tapir_%s_retain returned NULL for a live handle %#" PRIx64 " (last status %s)", kname[kind], a.h,
                        stname(CALL(tapir_last_status())));
  if (!r) check_last("retain", flt);
}
