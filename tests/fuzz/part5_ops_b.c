
/* ================================================================ continuation ops */

static void never_from(uint64_t out, uint64_t in, bool always);

static void *rec_ud_l(uint32_t i) {
  pthread_mutex_lock(&g_lmu);
  void *v = rec_ud(i);
  pthread_mutex_unlock(&g_lmu);
  return v;
}

static uint8_t pick_action(void) {
  unsigned r = rn(100);
  if (r < 30) return ACT_NONE;
  if (r < 50) return ACT_QUERY;
  if (r < 65) return ACT_RELEASE_OWN;
  if (r < 88) return ACT_OP;
  return ACT_REGISTER_MORE;
}

/* A callback record. With ACT_RELEASE_OWN, one model reference of `own0` (when it
 * is a live pinned argument) moves into the record: the callback releases it from
 * inside (its own antecedent, its own source, ...). */
static uint32_t cb_rec(const char *what, int max_calls, uint64_t origin, int depth, uint8_t sched_check,
                       uint64_t sched_h, const harg *own0, int own0_kind) {
  uint32_t ri = rec_new(RK_CB, what, max_calls);
  uint8_t act = pick_action();
  uint64_t oh = 0;
  if (act == ACT_RELEASE_OWN && own0 && own0->s >= 0 && own0->cls == AC_LIVE && !own0->grave) {
    /* never for a task that may never complete: its callback would hold it forever
     * (a cycle the fuzzer made, not tapir) */
    L();
    if (!g_slots[own0->s].never && m_take_l(own0->s, own0->h)) oh = own0->h;
    U();
  }
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(ri);
  r->action = act;
  r->nx = (uint8_t)rn(NX_N);
  r->depth = (uint8_t)depth;
  r->origin = origin;
  r->sched_check = sched_check;
  r->sched_h = sched_h;
  if (oh) {
    r->own[0] = oh;
    r->own_kind[0] = (uint8_t)own0_kind;
  }
  pthread_mutex_unlock(&g_lmu);
  return ri;
}

static void on_complete_with(harg ta, int depth) {
  copts c;
  copts_make(&c);
  bool null_cb = misuse_on() && pct(3);
  bool want_reg = pct(60);
  uint32_t ri = cb_rec("tapir_task_on_complete", 1, ta.h, depth, c.sched_check, c.sched_h, &ta, K_TASK);
  void *ud = rec_ud_l(ri);
  a_lend(&ta);
  const tapir_registration *reg = SENTP(const tapir_registration *);
  int32_t st = CALL(tapir_task_on_complete(TK(ta.h), null_cb ? NULL : cb_on_complete, ud, fz_destroy, c.use ? &c.o : NULL,
                                           want_reg ? &reg : NULL));
  LOG("on_complete(%#" PRIx64 ", flags %#x size %u sched %#" PRIx64 " tok %#" PRIx64 "%s) -> %s reg %#" PRIx64, ta.h,
      c.o.flags, c.o.struct_size, c.sch.h, c.tok.h, null_cb ? " NULL cb" : "", stname(st), HV(reg));
  a_done(&ta);
  copts_done(&c);
  unsigned flt = a_flt(&ta, true) | (null_cb ? F_NULL : 0);
  check_st("tapir_task_on_complete", st, D_BASE | S(INVALID_ARGUMENT), copts_allowed(&c, flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_on_complete", st);
  if (st == TAPIR_STATUS_OK && want_reg) {
    if (HV(reg) == SENT) failf("tapir_task_on_complete returned OK without writing registration_out");
    if (reg) {
      L();
      int i = m_add_l(K_REG, HV(reg), 0);
      if (i >= 0) g_slots[i].aux = HV(ud);
      U();
      if (i < 0) release_ok(K_REG, HV(reg), "model full");
    }
  } else if (st != TAPIR_STATUS_OK && want_reg && HV(reg) != SENT) {
    failf("tapir_task_on_complete failed but wrote registration_out");
  }
}

static void continue_with_on(harg ta, int depth) {
  copts c;
  copts_make(&c);
  bool null_cb = misuse_on() && pct(3), null_out = misuse_on() && pct(3);
  uint32_t ri = cb_rec("tapir_task_continue_with", 1, ta.h, depth, c.sched_check, c.sched_h, &ta, K_TASK);
  pthread_mutex_lock(&g_lmu);
  rec_at(ri)->has_token = c.has_token;
  void *ud = rec_ud(ri);
  pthread_mutex_unlock(&g_lmu);
  a_lend(&ta);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_task_continue_with(TK(ta.h), null_cb ? NULL : cb_continue, ud, fz_destroy, c.use ? &c.o : NULL,
                                             null_out ? NULL : &t));
  LOG("continue_with(%#" PRIx64 ", flags %#x size %u sched %#" PRIx64 " tok %#" PRIx64 ") -> %s %#" PRIx64, ta.h, c.o.flags,
      c.o.struct_size, c.sch.h, c.tok.h, stname(st), HV(t));
  a_done(&ta);
  copts_done(&c);
  unsigned flt = a_flt(&ta, true) | (null_cb ? F_NULL : 0) | (null_out ? F_NULL : 0);
  check_st("tapir_task_continue_with", st, D_BASE | S(INVALID_ARGUMENT), copts_allowed(&c, flt, S(OK)));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_task_continue_with", st);
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_task_continue_with failed but wrote task_out");
    return;
  }
  void *state = CALL(tapir_task_state(t));
  if (state != ud) failf("continuation task %#" PRIx64 " reports state %p; its user_data was %p", HV(t), state, ud);
  L();
  ti_get(HV(t), true);
  U();
  add_task_out(t, 1);
  never_from(HV(t), ta.h, false);
}

/* The task `out` may never complete when `in` may not. */
static void never_from(uint64_t out, uint64_t in, bool always) {
  L();
  int i = s_find(in), o = s_find(out);
  if (o >= 0 && (always || (i >= 0 && g_slots[i].never))) g_slots[o].never = 1;
  U();
}

static void reg_on_lent(uint64_t task, int depth) {
  harg ta = a_none(fam_on(FAM_LENT) ? AC_LIVE : AC_LOOSE);
  ta.h = task;
  if (pct(50)) on_complete_with(ta, depth);
  else continue_with_on(ta, depth);
}

static void op_on_complete(void) { on_complete_with(a_pick(K_TASK, -1, false), me()->depth); }
static void op_continue_with(void) { continue_with_on(a_pick(K_TASK, -1, false), me()->depth); }

static void op_reg(void) {
  harg a = a_pick(K_REG, -1, false);
  uint64_t ud = a.cls == AC_LIVE ? A_FIELD(&a, aux) : 0;
  bool before = a.cls == AC_LIVE && A_FIELD(&a, removed_ok);
  int32_t st = CALL(tapir_registration_remove(RG(a.h)));
  LOG("registration_remove(%#" PRIx64 ") -> %s", a.h, stname(st));
  if (st == TAPIR_STATUS_OK && ud) {
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_decode((void *)(uintptr_t)ud, NULL);
    int calls = r ? r->calls : 0, destroys = r ? r->destroys : 1;
    if (r) r->removed = 1;
    pthread_mutex_unlock(&g_lmu);
    if (calls || destroys != 1)
      failf("tapir_registration_remove returned OK, yet the callback had run %d time(s) and its destroy %d time(s) "
            "(OK means: never runs, destroy already ran)",
            calls, destroys);
  }
  a_done(&a);
  check_st("tapir_registration_remove", st, D_BASE | S(ALREADY_COMPLETED),
           expect(a_flt(&a, true), before ? S(ALREADY_COMPLETED) : S(OK) | S(ALREADY_COMPLETED)));
  if (st == TAPIR_STATUS_OK) {
    L();
    int i = s_find(a.h);
    if (i >= 0) g_slots[i].removed_ok = 1;
    U();
  }
}

/* ================================================================ unwrap, combinators, wait_async */

static void op_unwrap(void) {
  harg o = a_pick(K_TASK, -1, false);
  bool null_out = misuse_on() && pct(3);
  const tapir_task *p = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_task_unwrap(TK(o.h), null_out ? NULL : &p));
  LOG("unwrap(%#" PRIx64 ") -> %s %#" PRIx64, o.h, stname(st), HV(p));
  a_done(&o);
  check_st("tapir_task_unwrap", st, D_BASE, expect(a_flt(&o, true) | (null_out ? F_NULL : 0), S(OK)));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(p) != SENT) failf("tapir_task_unwrap failed but wrote task_out");
    return;
  }
  ti_from(HV(p), FM_UNWRAP, o.h);
  add_task_out(p, 0);
  never_from(HV(p), o.h, true);
}

static void op_comb(void) {
  static const char *names[] = {"tapir_when_all", "tapir_when_all_settled", "tapir_when_all_or_first_error",
                                "tapir_when_any", "tapir_interleaved"};
  unsigned which = rn(5), n = rn(6);
  bool mis = misuse_on();
  if (!mis && which == 3 && n == 0) n = 1;
  bool null_arr = mis && pct(3) && n, null_out = mis && pct(3);
  harg a[6];
  const tapir_task *arr[6];
  for (unsigned k = 0; k < n; k++) {
    if (k && pct(15)) {
      a[k] = a[k - 1];
      if (a[k].s >= 0) {
        L();
        g_slots[a[k].s].pins++;
        U();
      }
    } else a[k] = a_pick(K_TASK, -1, false);
    if (which == 1) a_lend(&a[k]);
    arr[k] = TK(a[k].h);
  }
  harg cts = which == 3 && pct(40) ? a_pick(K_CTS, -1, true) : a_none(AC_LIVE);
  const tapir_task *t = SENTP(const tapir_task *);
  const tapir_task *outs[6];
  for (unsigned k = 0; k < 6; k++) outs[k] = SENTP(const tapir_task *);
  int32_t st;
  const tapir_task *const *in = null_arr ? NULL : arr;
  const tapir_task **out = null_out ? NULL : &t;
  switch (which) {
  case 0: st = CALL(tapir_when_all(in, n, out)); break;
  case 1: st = CALL(tapir_when_all_settled(in, n, out)); break;
  case 2: st = CALL(tapir_when_all_or_first_error(in, n, out)); break;
  case 3: st = CALL(tapir_when_any(in, n, CS(cts.h), out)); break;
  default: st = CALL(tapir_interleaved(in, n, null_out ? NULL : outs)); break;
  }
  LOG("%s(n %u%s, cts %#" PRIx64 ") -> %s %#" PRIx64, names[which], n, null_arr ? " NULL" : "", cts.h, stname(st),
      which == 4 ? HV(outs[0]) : HV(t));
  /* NULL outputs with count 0 has nothing to write: the header is silent, either answer */
  bool lenient_null = which == 4 && null_out && n == 0;
  unsigned flt = ((null_arr || null_out) && !lenient_null) ? F_NULL : 0;
  for (unsigned k = 0; k < n; k++) {
    a_done(&a[k]);
    unsigned f = a_flt(&a[k], true);
    flt |= (f & F_NULL) ? F_INV : f;
  }
  a_done(&cts);
  flt |= a_flt(&cts, false);
  uint32_t normal = S(OK);
  if (which == 3 && n == 0) flt |= F_INV;
  if (which == 4 && n == 0) normal |= S(INVALID_ARGUMENT); /* an empty interleave: the header is silent */
  if (lenient_null) normal |= S(NULL_ARGUMENT);
  check_st(names[which], st, D_BASE | S(INVALID_ARGUMENT), expect(flt, normal));
  if (st != TAPIR_STATUS_OK) {
    if (which == 4) {
      for (unsigned k = 0; k < 6 && !null_out; k++)
        if (HV(outs[k]) != SENT) failf("tapir_interleaved failed but wrote outputs[%u]", k);
    } else if (!null_out && HV(t) != SENT) failf("%s failed but wrote task_out", names[which]);
    return;
  }
  if (which == 4) {
    for (unsigned k = 0; k < n; k++) {
      if (HV(outs[k]) == SENT || !outs[k]) failf("tapir_interleaved returned OK without writing outputs[%u]", k);
      L();
      for (unsigned j = 0; j < n; j++) ti_from_l(HV(outs[k]), FM_TASK, a[j].h);
      U();
      add_task_out(outs[k], 0);
      for (unsigned j = 0; j < n; j++) never_from(HV(outs[k]), a[j].h, false);
    }
    for (unsigned k = n; k < 6; k++)
      if (HV(outs[k]) != SENT) failf("tapir_interleaved wrote outputs[%u] past count %u", k, n);
    return;
  }
  L();
  tinfo *ti = ti_get(HV(t), true);
  ti->ctype = which == 0 ? CT_ALL : which == 1 ? CT_SETTLED : which == 2 ? CT_FIRSTERR : CT_ANY;
  ti->nin = (uint8_t)n;
  for (unsigned k = 0; k < n; k++) ti->in[k] = a[k].h;
  U();
  add_task_out(t, 0);
  for (unsigned k = 0; k < n; k++) never_from(HV(t), a[k].h, false);
}

static void op_wait_async(void) {
  harg a = a_pick(K_TASK, -1, false);
  unsigned flt = 0;
  int64_t to = pct(40) ? TAPIR_INFINITE : pick_timeout(&flt, true);
  if (to == TAPIR_INFINITE && !fam_on(FAM_FOREVER)) to = 1 + (int64_t)rn(40);
  if (to > 0 && !(flt & F_INV)) to = 1 + (int64_t)rn(40);
  harg tok = pct(35) ? a_pick(K_TOKEN, -1, true) : a_none(AC_LIVE);
  a_lend(&tok);
  int8_t known = a.cls == AC_LIVE ? ti_status(a.h) : 0;
  bool null_out = misuse_on() && pct(3);
  const tapir_task *t = SENTP(const tapir_task *);
  int32_t st = CALL(tapir_task_wait_async(TK(a.h), to, TO(tok.h), null_out ? NULL : &t));
  LOG("wait_async(%#" PRIx64 ", %" PRId64 ", tok %#" PRIx64 ") -> %s %#" PRIx64, a.h, to, tok.h, stname(st), HV(t));
  a_done(&a);
  a_done(&tok);
  flt |= a_flt(&a, true) | a_flt(&tok, false) | (null_out ? F_NULL : 0);
  check_st("tapir_task_wait_async", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("tapir_task_wait_async failed but wrote task_out");
    return;
  }
  if (known && a.cls == AC_LIVE && HV(t) != a.h)
    failf("tapir_task_wait_async on completed task %#" PRIx64 " returned a new task %#" PRIx64 " (the header: the task itself)",
          a.h, HV(t));
  if (HV(t) != a.h) ti_from(HV(t), FM_TASK, a.h);
  add_task_out(t, 0);
  if (to < 0 && HV(t) != a.h) never_from(HV(t), a.h, false);
}

/* ================================================================ factory combinators */

static fstate *fstate_new(int mode, uint32_t count, uint32_t max) {
  fstate *f = calloc(1, sizeof *f);
  if (!f) abort();
  f->mode = mode;
  f->count = count;
  f->max = max;
  f->gid = new_gid();
  f->owner = pthread_self();
  return f;
}

/* After the combinator returned its task: edges to every task a factory produced. */
static void fstate_result(uint32_t ri, void *ud, uint64_t t) {
  uint64_t prod[TI_E + 1];
  int np = 0;
  uint64_t gid = 0;
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_decode(ud, NULL);
  fstate *f = r ? r->ext : NULL;
  (void)ri;
  if (f) {
    f->result = t;
    np = f->nprod;
    if (np > TI_E) np = -1;
    else memcpy(prod, f->prod, sizeof(uint64_t) * (size_t)np);
    gid = f->gid;
  }
  pthread_mutex_unlock(&g_lmu);
  L();
  tinfo *ti = ti_get(t, true);
  if (!f || np < 0) ti->overflow = 1;
  else
    for (int k = 0; k < np; k++) ti_from_l(t, FM_TASK, prod[k]);
  ti_from_l(t, FM_ID, gid);
  ti_from_l(t, FM_ID, 0);
  U();
}

static void op_factory(int mode) {
  bool mis = misuse_on();
  bool null_fn = mis && pct(3), null_out = mis && pct(3);
  uint32_t count = rn(6), max = 1 + rn(3);
  unsigned flt = (null_fn || null_out) ? F_NULL : 0;
  const char *fn = mode == FS_RETRY ? "tapir_retry_on_fault" : mode == FS_NOO ? "tapir_need_only_one" : "tapir_for_each_throttled";
  if (mode == FS_RETRY) {
    count = 1 + rn(4);
    if (mis && pct(3)) count = 0;
    if (!count) flt |= F_INV;
  } else if (mode == FS_NOO) {
    count = 1 + rn(4);
    if (mis && pct(3)) count = 0;
    if (!count) flt |= F_INV;
  } else {
    if (mis && pct(3)) max = 0;
    if (!max) flt |= F_INV;
  }
  fstate *f = fstate_new(mode, count, max);
  uint32_t ri = rec_new(RK_FACTORY, fn, mode == FS_RETRY ? (int)(2 * count + 1) : (int)count + 1);
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(ri);
  r->ext = f;
  r->action = pct(70) ? ACT_NONE : ACT_OP;
  r->depth = (uint8_t)me()->depth;
  void *ud = rec_ud(ri);
  pthread_mutex_unlock(&g_lmu);
  const tapir_task *t = SENTP(const tapir_task *);
  const tapir_task **out = null_out ? NULL : &t;
  int32_t st;
  if (mode == FS_RETRY) st = CALL(tapir_retry_on_fault(null_fn ? NULL : cb_factory, pct(50) ? cb_gate : NULL, ud, fz_destroy, count, out));
  else if (mode == FS_NOO) st = CALL(tapir_need_only_one(null_fn ? NULL : cb_noo, ud, fz_destroy, count, out));
  else st = CALL(tapir_for_each_throttled(null_fn ? NULL : cb_factory, ud, fz_destroy, count, max, out));
  LOG("%s(count %u, max %u) -> %s %#" PRIx64, fn, count, max, stname(st), HV(t));
  check_st(fn, st, S(OK) | S(NULL_ARGUMENT) | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  if (st == TAPIR_STATUS_OK && mode == FS_NOO) {
    pthread_mutex_lock(&g_lmu);
    rec *rr = rec_decode(ud, NULL);
    int d = rr ? rr->destroys : 1, c = rr ? rr->calls : (int)count;
    pthread_mutex_unlock(&g_lmu);
    if (d != 1 || c != (int)count)
      failf("tapir_need_only_one returned with %d of %u factories run and its destroy run %d time(s) "
            "(the header: all factories ran and user_data was destroyed before it returns)",
            c, count, d);
  }
  if (st == TAPIR_STATUS_OK) fstate_result(ri, ud, HV(t));
  rec_settle(ri, st == TAPIR_STATUS_OK, fn, st);
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(t) != SENT) failf("%s failed but wrote task_out", fn);
    return;
  }
  add_task_out(t, 1);
}
static void op_retry(void) { op_factory(FS_RETRY); }
static void op_noo(void) { op_factory(FS_NOO); }
static void op_throttle(void) { op_factory(FS_THROTTLE); }
