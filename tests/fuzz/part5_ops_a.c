
/* ================================================================ makers */

#define SENTP(type) ((type)(uintptr_t)SENT)

static uint64_t g_gid_next = 1;
static pthread_mutex_t g_gid_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t new_gid(void) {
  pthread_mutex_lock(&g_gid_mu);
  uint64_t g = (1ull << 62) | g_gid_next++;
  pthread_mutex_unlock(&g_gid_mu);
  return g;
}

static bool misuse_on(void) { return fam_on(FAM_MISUSE); }

static harg pin_l(int i) {
  harg a = a_none(AC_LIVE);
  slot *s = &g_slots[i];
  s->pins++;
  a.h = s->h;
  a.s = i;
  a.ep = s->rel_ep;
  a.kind = s->kind;
  return a;
}

/* A fuzzer error (not in the model): code in the fuzzer's range, message "fz:<code>",
 * sometimes a payload record. */
static uint64_t make_error_code(int32_t code, uint64_t *payload_out) {
  char msg[32];
  int len = snprintf(msg, sizeof msg, "fz:%d", code);
  uint32_t pi = UINT32_MAX;
  void *payload = NULL;
  if (pct(40)) {
    pi = rec_new(RK_PAYLOAD, "tapir_error_new payload", 0);
    pthread_mutex_lock(&g_lmu);
    rec_at(pi)->code = code;
    payload = rec_ud(pi);
    pthread_mutex_unlock(&g_lmu);
  }
  const tapir_error *e = SENTP(const tapir_error *);
  int32_t st = CALL(tapir_error_new(code, (const uint8_t *)msg, (size_t)len, payload, payload ? fz_destroy : NULL, &e));
  if (st != TAPIR_STATUS_OK) failf("tapir_error_new with valid arguments returned %s", stname(st));
  if (pi != UINT32_MAX) rec_settle(pi, true, "tapir_error_new", st);
  if (payload_out) *payload_out = HV(payload);
  return HV(e);
}
static int32_t fz_code(void) { return FZ_CODE_MIN + (int32_t)rn(FZ_CODE_MAX - FZ_CODE_MIN + 1); }
static uint64_t make_error_h(void) { return make_error_code(fz_code(), NULL); }

/* A new source in the model; returns its slot (lock not held), with the task slot
 * too when keep_task. */
static int mk_source(uint32_t flags, bool keep_task, int *task_slot) {
  const tapir_source *s = NULL;
  const tapir_task *t = NULL;
  uint64_t state = pct(50) ? rnd() : 0;
  int32_t st = CALL(tapir_source_new(flags, (void *)(uintptr_t)state, &s));
  if (st != TAPIR_STATUS_OK) failf("tapir_source_new(%u) returned %s", flags, stname(st));
  st = CALL(tapir_source_task(s, &t));
  if (st != TAPIR_STATUS_OK) failf("tapir_source_task on a new source returned %s", stname(st));
  LOG("source_new -> %#" PRIx64 " task %#" PRIx64, HV(s), HV(t));
  L();
  tinfo *ti = ti_get(HV(t), true);
  ti->has_state = 1;
  ti->state = state;
  ti->options = flags;
  int i = m_add_l(K_SOURCE, HV(s), SRC_MADE), j = -1;
  if (i >= 0) {
    g_slots[i].aux = HV(t);
    g_slots[i].aux2 = flags;
  }
  if (keep_task && i >= 0) {
    j = m_add_l(K_TASK, HV(t), 0);
    if (j >= 0) g_slots[j].acqable = 1;
  }
  U();
  if (i < 0) release_ok(K_SOURCE, HV(s), "model full");
  if (j < 0) release_ok(K_TASK, HV(t), keep_task ? "model full" : "task not kept");
  if (task_slot) *task_slot = j;
  return i;
}

static harg a_make(int kind) {
  int i = -1;
  const void *h = NULL;
  int32_t st = TAPIR_STATUS_OK;
  switch (kind) {
  case K_TASK: {
    if (pct(50)) {
      mk_source(pct(30) ? TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY : 0, true, &i);
      break;
    }
    const tapir_task *t = NULL;
    uint32_t ri = UINT32_MAX;
    bool delay = pct(40);
    if (delay) st = CALL(tapir_delay((int64_t)rn(4), NULL, &t));
    else {
      void *v = val_new(0, pct(60), &ri);
      st = CALL(tapir_task_from_result(v, ri == UINT32_MAX ? NULL : fz_destroy, &t));
      if (st == TAPIR_STATUS_OK) {
        val_set_origin(ri, HV(t));
        if (ri == UINT32_MAX) ti_from(HV(t), FM_ID, HV(v));
      }
      val_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_from_result", st);
    }
    if (st != TAPIR_STATUS_OK) failf("making a task returned %s", stname(st));
    if (delay) ti_from(HV(t), FM_ID, 0);
    else ti_from(HV(t), FM_ID, 0xDEAD0000ull); /* a node, so reads are judged */
    L();
    i = m_add_l(K_TASK, HV(t), 0);
    U();
    if (i < 0) release_ok(K_TASK, HV(t), "model full");
    break;
  }
  case K_SOURCE: i = mk_source(pct(30) ? TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY : 0, false, NULL); break;
  case K_ERROR: {
    uint64_t payload = 0;
    int32_t code = fz_code();
    uint64_t e = make_error_code(code, &payload);
    L();
    i = m_add_l(K_ERROR, e, ERR_MADE);
    if (i >= 0) {
      g_slots[i].code = code;
      g_slots[i].aux2 = payload;
    }
    U();
    if (i < 0) release_ok(K_ERROR, e, "model full");
    break;
  }
  case K_CTS: {
    const tapir_cancel_source *c = NULL;
    st = CALL(tapir_cancel_source_new(&c));
    if (st != TAPIR_STATUS_OK) failf("tapir_cancel_source_new returned %s", stname(st));
    h = c;
    break;
  }
  case K_TOKEN: {
    const tapir_cancel_token *t = NULL;
    if (pct(20)) st = CALL(tapir_cancel_token_new_canceled(&t));
    else {
      harg c = a_live(K_CTS);
      if (!c.h) c = a_make(K_CTS);
      if (!c.h) return a_none(AC_NONE);
      st = CALL(tapir_cancel_source_token(CS(c.h), &t));
      a_done(&c);
      if (st != TAPIR_STATUS_OK && c.cls == AC_LIVE) failf("tapir_cancel_source_token on a live source returned %s", stname(st));
      if (st != TAPIR_STATUS_OK) return a_none(AC_NONE);
      L();
      if (c.s >= 0 || 1) {
        int ci = s_find(c.h);
        if (ci >= 0) g_slots[ci].aux = HV(t);
      }
      i = m_add_l(K_TOKEN, HV(t), TOK_CTS);
      if (i >= 0) g_slots[i].acqable = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
      break;
    }
    if (st != TAPIR_STATUS_OK) failf("tapir_cancel_token_new_canceled returned %s", stname(st));
    L();
    i = m_add_l(K_TOKEN, HV(t), TOK_CANCELED);
    if (i >= 0) g_slots[i].canceled = 1;
    U();
    if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    break;
  }
  case K_SCHED: {
    const tapir_scheduler *s = NULL;
    int sub = pct(50) && fam_on(FAM_MANUAL) ? SCH_MANUAL : pct(50) ? SCH_DEFAULT : SCH_INLINE;
    st = sub == SCH_MANUAL ? CALL(tapir_scheduler_new_manual(&s))
         : sub == SCH_DEFAULT ? CALL(tapir_scheduler_default(&s))
                              : CALL(tapir_scheduler_inline(&s));
    if (st != TAPIR_STATUS_OK) failf("making a scheduler returned %s", stname(st));
    L();
    i = m_add_l(K_SCHED, HV(s), sub);
    if (i >= 0 && sub != SCH_MANUAL) g_slots[i].perm = 1;
    U();
    if (i < 0) release_ok(K_SCHED, HV(s), "model full");
    break;
  }
  default: return a_none(AC_NONE);
  }
  if (h) {
    L();
    i = m_add_l(kind, HV(h), 0);
    U();
    if (i < 0) release_ok(kind, HV(h), "model full");
  }
  if (i < 0) return a_none(AC_NONE);
  L();
  harg a = g_slots[i].st == SS_LIVE && g_slots[i].refs > 0 ? pin_l(i) : a_none(AC_NONE);
  U();
  return a;
}

/* The argument for a handle parameter of kind `kind` (or `alt`); `opt` when NULL is
 * a valid choice (none). Mostly a live handle; with the misuse family, sometimes NULL,
 * the wrong kind, a released handle, or a forged value. */
static harg a_pick(int kind, int alt, bool opt) {
  harg a;
  if (misuse_on() && pct((unsigned)g_misuse)) {
    switch (rn(10)) {
    case 0:
    case 1:
      a = a_none(opt ? AC_LIVE : AC_NONE);
      a_note(&a, kind, "NULL");
      return a;
    case 2:
    case 3:
      a = a_wrong(kind, alt);
      if (a.h) {
        L();
        int i = s_find(a.h);
        const char *k = i >= 0 ? kname[g_slots[i].kind] : "?";
        U();
        char why[48];
        snprintf(why, sizeof why, "a live %s (wrong kind)", k);
        a_note(&a, kind, why);
        return a;
      }
      break;
    case 4:
    case 5:
    case 6:
    case 7:
      a = a_grave(kind);
      if (a.h) {
        a_note(&a, kind, a.cls == AC_BAD ? "released for good by the fuzzer" : "released, may be revived");
        return a;
      }
      break;
    default:
      a = a_forged(kind);
      a_note(&a, kind, "forged");
      return a;
    }
  }
  if (opt && pct(30)) {
    a = a_none(AC_LIVE);
    a_note(&a, kind, "NULL (none)");
    return a;
  }
  a = a_live(kind);
  if (!a.h && alt >= 0) a = a_live(alt);
  if (!a.h) a = a_make(kind);
  a_note(&a, kind, "live, held by the fuzzer");
  return a;
}

/* ================================================================ continuation options */

typedef struct {
  tapir_continuation_options o;
  harg sch, tok;
  bool use, maybe_invalid;
  unsigned flt;
  uint8_t sched_check;
  uint64_t sched_h;
  bool has_token;
} copts;

#define CF_ALL ((1u << 10) - 1)
static bool flags_contradictory(uint32_t f) {
  uint32_t not = f & (TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED | TAPIR_CONTINUATION_NOT_ON_CANCELED);
  if (f & TAPIR_CONTINUATION_ONLY_ON_SUCCESS) not |= TAPIR_CONTINUATION_NOT_ON_FAULTED | TAPIR_CONTINUATION_NOT_ON_CANCELED;
  if (f & TAPIR_CONTINUATION_ONLY_ON_FAULTED) not |= TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_CANCELED;
  if (f & TAPIR_CONTINUATION_ONLY_ON_CANCELED) not |= TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED;
  return not == (TAPIR_CONTINUATION_NOT_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_FAULTED | TAPIR_CONTINUATION_NOT_ON_CANCELED);
}

static int sched_sub_of(uint64_t h) {
  L();
  int i = s_find(h);
  int sub = i >= 0 ? g_slots[i].sub : -1;
  U();
  return sub;
}

/* Where a callback given scheduler `h` (0: the default pool) must run, as
 * tapir_scheduler_current() reports it; no check for inline or unknown ones. */
static void sched_expect(uint64_t h, bool sync, uint8_t *check, uint64_t *want) {
  *check = 0;
  *want = 0;
  if (sync) return;
  if (!h) {
    *check = 1;
    *want = g_default_h;
    return;
  }
  int sub = sched_sub_of(h);
  if (sub == SCH_MANUAL || sub == SCH_FOREIGN || sub == SCH_DEFAULT) {
    *check = 1;
    *want = h;
  }
}

static void copts_make(copts *c) {
  memset(c, 0, sizeof *c);
  c->sch = a_none(AC_LIVE);
  c->tok = a_none(AC_LIVE);
  if (pct(30)) {
    sched_expect(0, false, &c->sched_check, &c->sched_h);
    return;
  }
  c->use = true;
  uint32_t f = 0;
  unsigned r = rn(100);
  bool mis = misuse_on();
  if (r < 35) f = 0;
  else if (r < 55) f = TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY;
  else if (r < 65) f = TAPIR_CONTINUATION_ONLY_ON_SUCCESS << rn(3);
  else if (r < 72) f = TAPIR_CONTINUATION_NOT_ON_SUCCESS << rn(3);
  else if (r < 77) f = TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY | (pct(50) ? TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY : 0);
  else if (r < 81) f = TAPIR_CONTINUATION_LAZY_CANCELLATION | (pct(50) ? TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY : 0);
  else if (r < 84) f = TAPIR_CONTINUATION_LONG_RUNNING;
  else if (r < 88 && mis) f = 1u << (10 + rn(20));
  else if (r < 91 && mis) f = TAPIR_CONTINUATION_LONG_RUNNING | TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY;
  else f = (uint32_t)rnd() & CF_ALL;
  if (f & ~CF_ALL) c->flt |= F_INV;
  else if ((f & TAPIR_CONTINUATION_LONG_RUNNING) && (f & TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY)) c->flt |= F_INV;
  else if (flags_contradictory(f)) c->maybe_invalid = true;
  c->o.flags = f;
  c->o.struct_size = sizeof c->o;
  if (pct(5)) c->o.struct_size = 8; /* flags only: scheduler and token read as NULL */
  else if (mis && pct(3)) {
    c->o.struct_size = rn(2) ? 4 : 0;
    c->maybe_invalid = true;
  }
  if (pct(55)) c->sch = a_pick(K_SCHED, -1, true);
  if (pct(30)) c->tok = a_pick(K_TOKEN, -1, true);
  if (c->o.struct_size >= 16) c->o.scheduler = SC(c->sch.h);
  if (c->o.struct_size >= 24) c->o.token = TO(c->tok.h);
  a_lend(&c->sch);
  a_lend(&c->tok);
  c->has_token = c->o.token != NULL;
  bool sync = (f & (TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY | TAPIR_CONTINUATION_LONG_RUNNING)) != 0;
  sched_expect(HV(c->o.scheduler), sync, &c->sched_check, &c->sched_h);
}

static void copts_done(copts *c) {
  a_done(&c->sch);
  a_done(&c->tok);
  if (c->o.scheduler) c->flt |= a_flt(&c->sch, false);
  if (c->o.token) c->flt |= a_flt(&c->tok, false);
}

static uint32_t copts_allowed(const copts *c, unsigned flt, uint32_t normal) {
  uint32_t a = expect(flt | c->flt, normal);
  if (c->maybe_invalid) a |= S(INVALID_ARGUMENT);
  return a;
}

/* ================================================================ source ops */

#define D_SOURCE_NEW (S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT))
#define D_SET (D_BASE | S(ALREADY_COMPLETED))

static void op_source_new(void) {
  bool mis = misuse_on();
  uint32_t flags = mis && pct(5) ? (1u << (1 + rn(30))) : pct(30) ? TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY : 0;
  bool null_out = mis && pct(3);
  if (!(flags & ~1u) && !null_out) {
    mk_source(flags, pct(60), NULL);
    return;
  }
  const tapir_source *s = SENTP(const tapir_source *);
  int32_t st = CALL(tapir_source_new(flags, NULL, null_out ? NULL : &s));
  LOG("source_new(flags %#x, out %s) -> %s", flags, null_out ? "NULL" : "ok", stname(st));
  check_st("tapir_source_new", st, D_SOURCE_NEW, expect((null_out ? F_NULL : 0) | ((flags & ~1u) ? F_INV : 0), S(OK)));
  if (!null_out && HV(s) != SENT) failf("tapir_source_new failed but wrote its out-parameter");
}

static void op_source_task(void) {
  harg a = a_pick(K_SOURCE, -1, false);
  bool null_out = misuse_on() && pct(3);
  int ti = -1;
  uint64_t th = 0;
  L();
  if (a.s >= 0 && !a.grave) {
    th = g_slots[a.s].aux;
    ti = th ? s_find(th) : -1;
    if (ti >= 0) {
      g_slots[ti].acq++;
      g_slots[ti].acq_ep++;
    }
  }
  U();
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_source_task(SR(a.h), null_out ? NULL : &t));
  LOG("source_task(%#" PRIx64 ") -> %s %#" PRIx64, a.h, stname(st), HV(t));
  a_done(&a);
  check_st("tapir_source_task", st, D_BASE, expect(a_flt(&a, true) | (null_out ? F_NULL : 0), S(OK)));
  if (st != TAPIR_STATUS_OK && !null_out && HV(t) != SENT) failf("tapir_source_task failed but wrote its out-parameter");
  L();
  int j = -1;
  if (st == TAPIR_STATUS_OK) {
    if (th && HV(t) != th) {
      U();
      failf("tapir_source_task(%#" PRIx64 ") returned %#" PRIx64 ", not the source's task %#" PRIx64, a.h, HV(t), th);
    }
    j = m_add_l(K_TASK, HV(t), 0);
    if (j >= 0) g_slots[j].acqable = 1;
  }
  if (ti >= 0) {
    g_slots[ti].acq--;
    s_maybe_grave(ti);
  }
  U();
  if (st == TAPIR_STATUS_OK && j < 0) release_ok(K_TASK, HV(t), "model full");
}

/* A value for set_result: a record, a tagged integer, or (for unwrap) a live task. */
static void *pick_value(uint64_t origin_task, uint32_t *ri, harg *taskval) {
  *taskval = a_none(AC_NONE);
  if (pct(12)) {
    *taskval = a_live(K_TASK);
    if (taskval->h) {
      *ri = UINT32_MAX;
      L();
      ti_tv_l(origin_task, taskval->h);
      ti_from_l(origin_task, FM_ID, taskval->h);
      U();
      return (void *)(uintptr_t)taskval->h;
    }
  }
  return val_new(origin_task, pct(70), ri);
}

static void op_source_complete(void) {
  harg a = a_pick(K_SOURCE, -1, false);
  L();
  bool live = a.cls == AC_LIVE && a.s >= 0;
  /* a loose (maybe revived) source may succeed too: its task is known the same way */
  uint64_t task = a.s >= 0 && g_slots[a.s].h == a.h ? g_slots[a.s].aux : 0;
  bool done_before = live && g_slots[a.s].completed && !g_slots[a.s].forwarded;
  U();
  uint32_t normal = done_before ? S(ALREADY_COMPLETED) : S(OK) | S(ALREADY_COMPLETED);
  unsigned how = rn(fam_on(FAM_FROMTASK) ? 9 : 8), flt = a_flt(&a, true);
  bool try_ = how & 1;
  int32_t st = -1;
  bool won = false;
  const char *fn = "?";
  uint32_t documented = D_SET, ri = UINT32_MAX;
  switch (how) {
  case 0:
  case 1: { /* set_result */
    harg tv;
    void *v = pick_value(task ? task : 1, &ri, &tv);
    if (!task) val_set_origin(ri, 0);
    tapir_destroy_fn d = ri == UINT32_MAX ? NULL : fz_destroy;
    fn = try_ ? "tapir_source_try_set_result" : "tapir_source_set_result";
    if (try_) won = CALL(tapir_source_try_set_result(SR(a.h), v, d));
    else st = CALL(tapir_source_set_result(SR(a.h), v, d));
    LOG("%s(%#" PRIx64 ", %p) -> %s", fn, a.h, v, try_ ? (won ? "true" : "false") : stname(st));
    a_done(&tv);
    break;
  }
  case 2:
  case 3: { /* set_error */
    harg e = a_pick(K_ERROR, -1, false);
    a_lend(&e);
    fn = try_ ? "tapir_source_try_set_error" : "tapir_source_set_error";
    if (try_) won = CALL(tapir_source_try_set_error(SR(a.h), ER(e.h)));
    else st = CALL(tapir_source_set_error(SR(a.h), ER(e.h)));
    LOG("%s(%#" PRIx64 ", %#" PRIx64 ") -> %s", fn, a.h, e.h, try_ ? (won ? "true" : "false") : stname(st));
    a_done(&e);
    flt |= a_flt(&e, true);
    break;
  }
  case 4:
  case 5: { /* set_error_list */
    harg e[4];
    const tapir_error *arr[4];
    unsigned n = rn(5);
    bool null_arr = misuse_on() && pct(4) && n;
    if (!misuse_on() && n == 0) n = 1;
    for (unsigned k = 0; k < n; k++) {
      e[k] = a_pick(K_ERROR, -1, false);
      a_lend(&e[k]);
      arr[k] = ER(e[k].h);
    }
    fn = try_ ? "tapir_source_try_set_error_list" : "tapir_source_set_error_list";
    if (try_) won = CALL(tapir_source_try_set_error_list(SR(a.h), null_arr ? NULL : arr, n));
    else st = CALL(tapir_source_set_error_list(SR(a.h), null_arr ? NULL : arr, n));
    LOG("%s(%#" PRIx64 ", n %u%s) -> %s", fn, a.h, n, null_arr ? " NULL" : "", try_ ? (won ? "true" : "false") : stname(st));
    for (unsigned k = 0; k < n; k++) {
      a_done(&e[k]);
      unsigned f = a_flt(&e[k], true);
      flt |= (f & F_NULL) ? F_INV : f; /* a NULL element is INVALID_ARGUMENT */
    }
    if (null_arr) flt |= F_NULL;
    else if (n == 0) flt |= F_INV;
    documented |= S(INVALID_ARGUMENT);
    break;
  }
  case 6:
  case 7: { /* set_canceled */
    harg t = pct(50) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
    a_lend(&t);
    fn = try_ ? "tapir_source_try_set_canceled" : "tapir_source_set_canceled";
    if (try_) won = CALL(tapir_source_try_set_canceled(SR(a.h), TO(t.h)));
    else st = CALL(tapir_source_set_canceled(SR(a.h), TO(t.h)));
    LOG("%s(%#" PRIx64 ", %#" PRIx64 ") -> %s", fn, a.h, t.h, try_ ? (won ? "true" : "false") : stname(st));
    a_done(&t);
    flt |= a_flt(&t, false);
    break;
  }
  default: { /* set_from_task */
    harg t = a_pick(K_TASK, -1, false);
    if (task && t.h) ti_from(task, FM_TASK, t.h);
    fn = "tapir_source_set_from_task";
    st = CALL(tapir_source_set_from_task(SR(a.h), TK(t.h)));
    LOG("%s(%#" PRIx64 ", %#" PRIx64 ") -> %s", fn, a.h, t.h, stname(st));
    a_done(&t);
    flt |= a_flt(&t, true);
    break;
  }
  }
  a_done(&a);
  flt |= a_flt(&a, true);
  uint32_t allowed = expect(flt, normal);
  if (try_) {
    if (won && !(allowed & S(OK))) failf("%s returned true; the arguments allow only failure", fn);
    if (!won && allowed == S(OK)) failf("%s returned false on a pending source the fuzzer holds", fn);
    if (!won && !(allowed & (S(OK) | S(ALREADY_COMPLETED)))) {
      int32_t ls = CALL(tapir_last_status());
      check_st("tapir_last_status after a failed try_set", ls, S_ANY, allowed);
    }
    st = won ? TAPIR_STATUS_OK : TAPIR_STATUS_ALREADY_COMPLETED;
  } else {
    check_st(fn, st, documented, allowed);
  }
  val_settle(ri, st == TAPIR_STATUS_OK, fn, st);
  if (st == TAPIR_STATUS_OK) {
    L();
    int i = s_find(a.h);
    if (i >= 0) {
      if (how == 8) g_slots[i].forwarded = 1;
      g_slots[i].completed = 1;
    }
    U();
  }
}

static void op_debug_panic(void) {
  harg a = a_pick(K_SOURCE, -1, false);
  int32_t st = CALL(tapir_debug_panic(SR(a.h)));
  LOG("debug_panic(%#" PRIx64 ") -> %s", a.h, stname(st));
  a_done(&a);
  check_st("tapir_debug_panic", st, D_BASE | S(PANIC), expect(a_flt(&a, true), S(PANIC)));
  if (st == TAPIR_STATUS_PANIC) {
    L();
    int i = s_find(a.h);
    if (i >= 0) g_slots[i].completed = 1;
    U();
  }
}

/* ================================================================ task ops */

static void add_task_out(const tapir_task *t, int lent) {
  L();
  int i = m_add_l(K_TASK, HV(t), 0);
  if (i >= 0 && lent) g_slots[i].lent = 1;
  U();
  if (i < 0) release_ok(K_TASK, HV(t), "model full");
}

static void op_task_new(void) {
  unsigned how = rn(5);
  bool null_out = misuse_on() && pct(3);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st;
  unsigned flt = null_out ? F_NULL : 0;
  uint32_t normal = S(OK), documented = D_BASE;
  const char *fn;
  if (how == 0 || how == 1) {
    uint32_t ri;
    void *v = val_new(0, pct(60), &ri);
    fn = "tapir_task_from_result";
    st = CALL(tapir_task_from_result(v, ri == UINT32_MAX ? NULL : fz_destroy, null_out ? NULL : &t));
    LOG("%s(%p) -> %s %#" PRIx64, fn, v, stname(st), HV(t));
    check_st(fn, st, S(OK) | S(NULL_ARGUMENT), expect(flt, S(OK)));
    if (st == TAPIR_STATUS_OK) {
      val_set_origin(ri, HV(t));
      L();
      tinfo *ti = ti_get(HV(t), true);
      (void)ti;
      if (ri == UINT32_MAX) ti_from_l(HV(t), FM_ID, HV(v));
      U();
    }
    val_settle(ri, st == TAPIR_STATUS_OK, fn, st);
  } else if (how == 2) {
    harg e = a_pick(K_ERROR, -1, false);
    a_lend(&e);
    fn = "tapir_task_from_error";
    st = CALL(tapir_task_from_error(ER(e.h), null_out ? NULL : &t));
    LOG("%s(%#" PRIx64 ") -> %s %#" PRIx64, fn, e.h, stname(st), HV(t));
    a_done(&e);
    flt |= a_flt(&e, true);
    check_st(fn, st, documented, expect(flt, normal));
  } else if (how == 3) {
    harg k = a_pick(K_TOKEN, -1, true);
    bool canceled = A_FIELD(&k, canceled) || !k.h;
    a_lend(&k);
    fn = "tapir_task_from_canceled";
    st = CALL(tapir_task_from_canceled(TO(k.h), null_out ? NULL : &t));
    LOG("%s(%#" PRIx64 ") -> %s %#" PRIx64, fn, k.h, stname(st), HV(t));
    a_done(&k);
    flt |= a_flt(&k, false);
    documented |= S(INVALID_ARGUMENT);
    if (!canceled) normal |= S(INVALID_ARGUMENT); /* canceled meanwhile, or not */
    check_st(fn, st, documented, expect(flt, normal));
    if (st == TAPIR_STATUS_OK && k.h) {
      const tapir_cancel_token *ct = SENTP(const tapir_cancel_token *);
      int32_t s2 = CALL(tapir_task_cancel_token(t, &ct));
      if (s2 != TAPIR_STATUS_OK) failf("tapir_task_cancel_token on a task from tapir_task_from_canceled returned %s", stname(s2));
      if (HV(ct) != k.h) failf("tapir_task_from_canceled(%#" PRIx64 ") records token %#" PRIx64, k.h, HV(ct));
      L();
      int i = m_add_l(K_TOKEN, HV(ct), TOK_LIB);
      if (i >= 0) g_slots[i].lent = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(ct), "model full");
    }
  } else {
    fn = "tapir_task_completed";
    st = CALL(tapir_task_completed(null_out ? NULL : &t));
    LOG("%s -> %s %#" PRIx64, fn, stname(st), HV(t));
    check_st(fn, st, S(OK) | S(NULL_ARGUMENT), expect(flt, S(OK)));
    if (st == TAPIR_STATUS_OK && HV(t) != g_completed_h)
      failf("tapir_task_completed returned %#" PRIx64 ", earlier %#" PRIx64 " (it is one shared task)", HV(t), g_completed_h);
  }
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("%s failed but wrote its out-parameter", fn);
    return;
  }
  if (how == 4) {
    L();
    int i = m_add_l(K_TASK, HV(t), TASK_COMPLETED);
    if (i >= 0) g_slots[i].perm = 1;
    ti_from_l(HV(t), FM_ID, 0);
    U();
    if (i < 0) release_ok(K_TASK, HV(t), "model full");
    return;
  }
  add_task_out(t, 0);
}

static int8_t ti_status(uint64_t h) {
  L();
  tinfo *t = ti_get(h, false);
  int8_t s = t ? t->status : 0;
  U();
  return s;
}

static void ti_set_status(uint64_t h, int32_t s) {
  if (s < TAPIR_TASK_STATUS_SUCCEEDED || s > TAPIR_TASK_STATUS_CANCELED) return;
  L();
  tinfo *t = ti_get(h, false);
  if (t && !t->status) t->status = (int8_t)s;
  U();
}

static int32_t code_of_status(int32_t s) {
  switch (s) {
  case TAPIR_TASK_STATUS_SUCCEEDED: return TAPIR_STATUS_OK;
  case TAPIR_TASK_STATUS_FAULTED: return TAPIR_STATUS_FAULTED;
  case TAPIR_TASK_STATUS_CANCELED: return TAPIR_STATUS_CANCELED;
  default: return TAPIR_STATUS_NOT_COMPLETED;
  }
}

/* For bool/int/pointer getters: after a reported failure with certainly-bad
 * arguments, tapir_last_status must say why. */
static void check_last(const char *fn, unsigned flt) {
  if (flt & F_LOOSE) return;
  uint32_t allowed = expect(flt, 0);
  if (!allowed) return;
  int32_t ls = CALL(tapir_last_status());
  if (!(allowed & (1u << ls))) {
    char a[128];
    maskstr(allowed, a, sizeof a);
    failf("%s reported failure; tapir_last_status() is %s, expected %s", fn, stname(ls), a);
  }
}

static void op_task_query(void) {
  harg a = a_pick(K_TASK, -1, false);
  int8_t known = a.cls == AC_LIVE ? ti_status(a.h) : 0;
  unsigned how = rn(10);
  bool null_out = misuse_on() && pct(3);
  int32_t s = CALL(tapir_task_get_status(TK(a.h)));
  int32_t st = 0;
  LOG("get_status(%#" PRIx64 ") -> %d", a.h, s);
  switch (how) {
  case 0: { /* is_completed */
    bool c = CALL(tapir_task_is_completed(TK(a.h)));
    a_done(&a);
    unsigned flt = a_flt(&a, true);
    if (c && (flt & (F_BAD | F_NULL))) failf("tapir_task_is_completed is true for an invalid handle");
    if (!c && !flt && (known || s > 0)) failf("tapir_task_is_completed is false for a task already seen completed");
    if (!c) check_last("tapir_task_is_completed", flt);
    return;
  }
  case 1: { /* id */
    uint64_t id = CALL(tapir_task_id(TK(a.h)));
    a_done(&a);
    unsigned flt = a_flt(&a, true);
    if (!flt && !id) failf("tapir_task_id of a live task is 0");
    if ((flt & (F_BAD | F_NULL)) && id) failf("tapir_task_id of an invalid handle is %#" PRIx64, id);
    if (!id) check_last("tapir_task_id", flt);
    return;
  }
  case 2:
  case 3: { /* state, options */
    void *state = CALL(tapir_task_state(TK(a.h)));
    uint32_t opt = CALL(tapir_task_options(TK(a.h)));
    L();
    tinfo *t = ti_get(a.h, false);
    bool has = t && t->has_state;
    uint64_t want = has ? t->state : 0;
    uint32_t wopt = has ? t->options : 0;
    U();
    a_done(&a);
    unsigned flt = a_flt(&a, true);
    if (!flt && has && (HV(state) != want || opt != wopt))
      failf("task %#" PRIx64 " reports state %p options %#x; it was created with state %#" PRIx64 " flags %#x", a.h,
            state, opt, want, wopt);
    if ((flt & (F_BAD | F_NULL)) && (state || opt)) failf("tapir_task_state/options of an invalid handle are %p/%#x", state, opt);
    return;
  }
  case 4:
  case 5: { /* result */
    void *v = SENTP(void *);
    /* a private reference keeps the task (and its value) alive while it is judged */
    uint64_t hold = a.cls == AC_LIVE ? HV(CALL(tapir_task_retain(TK(a.h)))) : 0;
    if (a.cls == AC_LIVE && hold != a.h && hold) failf("tapir_task_retain(%#" PRIx64 ") returned %#" PRIx64, a.h, hold);
    st = CALL(tapir_task_result(TK(a.h), null_out ? NULL : &v));
    LOG("task_result(%#" PRIx64 ") -> %s %p", a.h, stname(st), v);
    unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
    uint32_t normal = S(OK) | S(NOT_COMPLETED) | S(FAULTED) | S(CANCELED);
    if (known) normal = 1u << code_of_status(known);
    else if (s > 0 && a.cls == AC_LIVE) normal = 1u << code_of_status(s);
    if (st == TAPIR_STATUS_OK && hold && !null_out) check_value(a.h, v, "tapir_task_result");
    if (hold) release_ok(K_TASK, hold, "private read reference");
    a_done(&a);
    check_st("tapir_task_result", st, D_BASE | S(NOT_COMPLETED) | S(FAULTED) | S(CANCELED), expect(flt, normal));
    if (st != TAPIR_STATUS_OK && !null_out && HV(v) != SENT) failf("tapir_task_result returned %s but wrote the value", stname(st));
    if (a.cls == AC_LIVE) ti_set_status(a.h, s);
    return;
  }
  case 6:
  case 7: { /* error, error_count, error_at */
    const tapir_error *e = SENTP(const tapir_error *);
    size_t n = CALL(tapir_task_error_count(TK(a.h)));
    size_t idx = how == 6 ? 0 : rn((unsigned)n + 2);
    if (how == 6) st = CALL(tapir_task_error(TK(a.h), null_out ? NULL : &e));
    else st = CALL(tapir_task_error_at(TK(a.h), idx, null_out ? NULL : &e));
    LOG("task_error%s(%#" PRIx64 ", %zu of %zu) -> %s %#" PRIx64, how == 6 ? "" : "_at", a.h, idx, n, stname(st), HV(e));
    a_done(&a);
    unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
    int32_t fs = known ? known : s;
    uint32_t normal = S(OK) | S(NOT_COMPLETED) | S(INVALID_STATE);
    if (how == 7) normal |= S(INVALID_ARGUMENT);
    if (!(flt & F_LOOSE) && a.cls == AC_LIVE && fs > 0) {
      if (fs == TAPIR_TASK_STATUS_FAULTED) {
        if (n == 0) failf("tapir_task_error_count of faulted task %#" PRIx64 " is 0", a.h);
        normal = (how == 7 && idx >= n) ? S(INVALID_ARGUMENT) : S(OK);
      } else normal = S(INVALID_STATE);
    }
    check_st(how == 6 ? "tapir_task_error" : "tapir_task_error_at", st,
             D_BASE | S(NOT_COMPLETED) | S(INVALID_STATE) | (how == 7 ? S(INVALID_ARGUMENT) : 0), expect(flt, normal));
    if (st == TAPIR_STATUS_OK) {
      check_error(HV(e), "tapir_task_error");
      L();
      int i = m_add_l(K_ERROR, HV(e), ERR_LIB);
      if (i >= 0) g_slots[i].lent = 1;
      U();
      if (i < 0) release_ok(K_ERROR, HV(e), "model full");
    } else if (!null_out && HV(e) != SENT) failf("tapir_task_error failed but wrote its out-parameter");
    if (a.cls == AC_LIVE) ti_set_status(a.h, s);
    return;
  }
  default: { /* cancel_token */
    const tapir_cancel_token *k = SENTP(const tapir_cancel_token *);
    st = CALL(tapir_task_cancel_token(TK(a.h), null_out ? NULL : &k));
    LOG("task_cancel_token(%#" PRIx64 ") -> %s %#" PRIx64, a.h, stname(st), HV(k));
    a_done(&a);
    unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
    int32_t fs = known ? known : s;
    uint32_t normal = S(OK) | S(NOT_COMPLETED) | S(INVALID_STATE);
    if (a.cls == AC_LIVE && fs > 0) normal = fs == TAPIR_TASK_STATUS_CANCELED ? S(OK) : S(INVALID_STATE);
    check_st("tapir_task_cancel_token", st, D_BASE | S(NOT_COMPLETED) | S(INVALID_STATE), expect(flt, normal));
    if (st == TAPIR_STATUS_OK && k) {
      L();
      int i = m_add_l(K_TOKEN, HV(k), TOK_LIB);
      if (i >= 0) g_slots[i].lent = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(k), "model full");
    }
    if (a.cls == AC_LIVE) ti_set_status(a.h, s);
    return;
  }
  }
}

#define D_WAIT (D_BASE | S(INVALID_ARGUMENT) | S(FAULTED) | S(CANCELED) | S(TIMEOUT))

static int64_t pick_timeout(unsigned *flt, bool allow_inf) {
  if (misuse_on() && pct(4)) {
    *flt |= F_INV;
    return pct(50) ? -2 - (int64_t)rn(5) : TAPIR_MAX_TIMEOUT_MS + 1 + (int64_t)rn(1000);
  }
  if (allow_inf && pct(10)) return TAPIR_INFINITE;
  static const int64_t t[] = {0, 0, 0, 1, 2, 5};
  return t[rn(6)];
}

static void op_task_wait(void) {
  unsigned how = rn(fam_on(FAM_WAIT) ? (fam_on(FAM_WAITANY) ? 3 : 2) : 0), flt = 0;
  if (!fam_on(FAM_WAIT)) how = 2;
  int64_t to = pick_timeout(&flt, false);
  if (how == 0) {
    harg a = a_pick(K_TASK, -1, false);
    int8_t known = a.cls == AC_LIVE ? ti_status(a.h) : 0;
    int32_t st = CALL(tapir_task_wait(TK(a.h), to));
    LOG("task_wait(%#" PRIx64 ", %" PRId64 ") -> %s", a.h, to, stname(st));
    a_done(&a);
    flt |= a_flt(&a, true);
    uint32_t normal = known ? 1u << code_of_status(known) : S(OK) | S(FAULTED) | S(CANCELED) | S(TIMEOUT);
    check_st("tapir_task_wait", st, D_WAIT, expect(flt, normal));
    return;
  }
  harg a[5];
  const tapir_task *arr[5];
  unsigned n = rn(5);
  bool null_arr = misuse_on() && pct(3) && n;
  int8_t known[5];
  bool all_known = true;
  int first_known = -1;
  for (unsigned k = 0; k < n; k++) {
    a[k] = (k && pct(15)) ? a[k - 1] : a_pick(K_TASK, -1, false);
    if (k && a[k].h == a[k - 1].h && a[k].s >= 0) {
      L();
      g_slots[a[k].s].pins++;
      U();
    }
    arr[k] = TK(a[k].h);
    known[k] = a[k].cls == AC_LIVE ? ti_status(a[k].h) : 0;
    all_known &= known[k] != 0;
    if (known[k] && first_known < 0) first_known = (int)k;
  }
  harg tok = pct(30) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  bool tok_canceled = A_FIELD(&tok, canceled);
  int32_t st;
  size_t idx = SENT;
  bool null_idx = how == 2 && misuse_on() && pct(3);
  if (how == 1) st = CALL(tapir_task_wait_all(null_arr ? NULL : arr, n, to, TO(tok.h)));
  else st = CALL(tapir_task_wait_any(null_arr ? NULL : arr, n, to, TO(tok.h), null_idx ? NULL : &idx));
  LOG("task_wait_%s(n %u, %" PRId64 ", tok %#" PRIx64 ") -> %s idx %zu", how == 1 ? "all" : "any", n, to, tok.h, stname(st), idx);
  for (unsigned k = 0; k < n; k++) {
    a_done(&a[k]);
    unsigned f = a_flt(&a[k], true);
    flt |= (f & F_NULL) ? F_INV : f;
  }
  a_done(&tok);
  flt |= a_flt(&tok, false);
  if (null_arr) flt |= F_NULL;
  if (null_idx) flt |= F_NULL;
  uint32_t normal = S(OK) | S(FAULTED) | S(CANCELED) | S(TIMEOUT);
  if (how == 2) normal = S(OK) | S(CANCELED) | S(TIMEOUT);
  if (tok_canceled) normal = S(CANCELED);
  else if (how == 1 && all_known && !tok.h) {
    bool f = false, c = false;
    for (unsigned k = 0; k < n; k++) {
      f |= known[k] == TAPIR_TASK_STATUS_FAULTED;
      c |= known[k] == TAPIR_TASK_STATUS_CANCELED;
    }
    normal = f ? S(FAULTED) : c ? S(CANCELED) : S(OK);
  } else if (how == 2 && n == 0) normal = S(TIMEOUT);
  else if (how == 2 && first_known >= 0 && !tok.h) normal = S(OK);
  check_st(how == 1 ? "tapir_task_wait_all" : "tapir_task_wait_any", st, (D_WAIT & ~S(FAULTED)) | (how == 1 ? S(FAULTED) : 0),
           expect(flt, normal));
  if (how == 2) {
    if (st == TAPIR_STATUS_OK && (idx >= n || (first_known >= 0 && !(flt & F_LOOSE) && idx > (size_t)first_known)))
      failf("tapir_task_wait_any wrote index %zu (count %u, first already-completed input %d)", idx, n, first_known);
    if (st != TAPIR_STATUS_OK && !null_idx && idx != SENT) failf("tapir_task_wait_any returned %s but wrote an index", stname(st));
  }
}
