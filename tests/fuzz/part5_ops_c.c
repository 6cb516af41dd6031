
/* ================================================================ cancellation ops */

static void mark_canceled(uint64_t cts_or_token) {
  L();
  int i = s_find(cts_or_token);
  if (i >= 0) {
    g_slots[i].canceled = 1;
    if (g_slots[i].kind == K_CTS && g_slots[i].aux) {
      int j = s_find(g_slots[i].aux);
      if (j >= 0) g_slots[j].canceled = 1;
    }
  }
  U();
}

static void op_cts_new(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  const tapir_cancel_source *c = SENTP(const tapir_cancel_source *);
  int32_t st;
  unsigned flt = null_out ? F_NULL : 0;
  bool any_canceled = false;
  const char *fn;
  if (pct(55)) {
    fn = "tapir_cancel_source_new";
    st = CALL(tapir_cancel_source_new(null_out ? NULL : &c));
    check_st(fn, st, S(OK) | S(NULL_ARGUMENT), expect(flt, S(OK)));
  } else {
    fn = "tapir_cancel_source_new_linked";
    unsigned n = rn(4);
    bool null_arr = mis && pct(4) && n;
    harg k[3];
    const tapir_cancel_token *arr[3];
    for (unsigned j = 0; j < n; j++) {
      k[j] = a_pick(K_TOKEN, -1, false);
      arr[j] = TO(k[j].h);
      any_canceled |= A_FIELD(&k[j], canceled) != 0;
    }
    st = CALL(tapir_cancel_source_new_linked(null_arr ? NULL : arr, n, null_out ? NULL : &c));
    for (unsigned j = 0; j < n; j++) {
      a_done(&k[j]);
      unsigned f = a_flt(&k[j], true);
      flt |= (f & F_NULL) ? F_INV : f;
    }
    if (null_arr) flt |= F_NULL;
    check_st(fn, st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
  }
  LOG("%s -> %s %#" PRIx64, fn, stname(st), HV(c));
  if (st != TAPIR_STATUS_OK) {
    if (!null_out && HV(c) != SENT) failf("%s failed but wrote source_out", fn);
    return;
  }
  if (any_canceled && !(flt & F_LOOSE) && !CALL(tapir_cancel_source_is_canceled(c)))
    failf("a linked cancel source made from an already-canceled token is not canceled at creation");
  L();
  int i = m_add_l(K_CTS, HV(c), 0);
  if (i >= 0 && any_canceled && !(flt & F_LOOSE)) g_slots[i].canceled = 1;
  U();
  if (i < 0) release_ok(K_CTS, HV(c), "model full");
}

/* Announces an acquisition of the handle `h` (so a stale call racing it is loose). */
static int acq_begin(uint64_t h) {
  if (!h) return -1;
  L();
  int i = s_find(h);
  if (i >= 0) {
    g_slots[i].acq++;
    g_slots[i].acq_ep++;
  }
  U();
  return i;
}
static void acq_end(int i) {
  if (i < 0) return;
  L();
  g_slots[i].acq--;
  s_maybe_grave(i);
  U();
}

static void op_cts_ops(void) {
  harg c = a_pick(K_CTS, -1, false);
  bool mis = misuse_on(), null_out = mis && pct(3);
  bool was_canceled = A_FIELD(&c, canceled) != 0;
  int32_t st;
  switch (rn(5)) {
  case 0: {
    uint64_t tk = A_FIELD(&c, aux);
    int ai = acq_begin(tk);
    const tapir_cancel_token *t = SENTP(const tapir_cancel_token *);
    st = CALL(tapir_cancel_source_token(CS(c.h), null_out ? NULL : &t));
    LOG("cancel_source_token(%#" PRIx64 ") -> %s %#" PRIx64, c.h, stname(st), HV(t));
    if (st == TAPIR_STATUS_OK) {
      L();
      int ci = s_find(c.h);
      if (ci >= 0 && g_slots[ci].kind == K_CTS) g_slots[ci].aux = HV(t);
      int i = m_add_l(K_TOKEN, HV(t), TOK_CTS);
      if (i >= 0) {
        g_slots[i].acqable = 1;
        if (was_canceled) g_slots[i].canceled = 1;
      }
      U();
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    }
    acq_end(ai);
    a_done(&c);
    check_st("tapir_cancel_source_token", st, D_BASE, expect(a_flt(&c, true) | (null_out ? F_NULL : 0), S(OK)));
    if (st != TAPIR_STATUS_OK && !null_out && HV(t) != SENT) failf("tapir_cancel_source_token failed but wrote token_out");
    return;
  }
  case 1: {
    uint32_t flags = pct(30) ? TAPIR_CANCEL_STOP_AT_FIRST_ERROR : 0;
    unsigned flt = 0;
    if (mis && pct(4)) {
      flags |= 1u << (1 + rn(30));
      flt |= F_INV;
    }
    bool want_errs = pct(50);
    const tapir_error *errs = SENTP(const tapir_error *);
    st = CALL(tapir_cancel_source_cancel(CS(c.h), flags, want_errs ? &errs : NULL));
    LOG("cancel(%#" PRIx64 ", %#x) -> %s errs %#" PRIx64, c.h, flags, stname(st), HV(errs));
    bool now = st == TAPIR_STATUS_OK ? CALL(tapir_cancel_source_is_canceled(CS(c.h))) : false;
    a_done(&c);
    flt |= a_flt(&c, true);
    check_st("tapir_cancel_source_cancel", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
    if (st != TAPIR_STATUS_OK) {
      if (want_errs && HV(errs) != SENT) failf("tapir_cancel_source_cancel failed but wrote errors_out");
      return;
    }
    if (c.cls == AC_LIVE && !now) failf("tapir_cancel_source_is_canceled is false right after a successful cancel");
    mark_canceled(c.h);
    if (want_errs) {
      if (HV(errs) == SENT) failf("tapir_cancel_source_cancel returned OK without writing errors_out");
      if (errs) {
        int32_t code = CALL(tapir_error_code(errs));
        size_t n = CALL(tapir_error_inner_count(errs));
        if (code != TAPIR_STATUS_FAULTED || n == 0)
          failf("tapir_cancel_source_cancel wrote an aggregate with code %d and %zu inner errors (want FAULTED, >= 1)", code, n);
        check_error(HV(errs), "cancel errors_out");
        L();
        int i = m_add_l(K_ERROR, HV(errs), ERR_LIB);
        if (i >= 0) g_slots[i].lent = 1;
        U();
        if (i < 0) release_ok(K_ERROR, HV(errs), "model full");
      }
    }
    return;
  }
  case 2: {
    unsigned flt = 0;
    int64_t d;
    unsigned r = rn(100);
    if (mis && r < 5) {
      d = pct(50) ? -2 : TAPIR_MAX_TIMEOUT_MS + 1;
      flt |= F_INV;
    } else if (r < 20) d = -1;
    else if (r < 35) d = 0;
    else if (r < 95) d = 1 + (int64_t)rn(30);
    else d = 600000; /* a deadline that never arrives: released with the source */
    st = CALL(tapir_cancel_source_cancel_after(CS(c.h), d));
    LOG("cancel_after(%#" PRIx64 ", %" PRId64 ") -> %s", c.h, d, stname(st));
    bool now = st == TAPIR_STATUS_OK && d == 0 ? CALL(tapir_cancel_source_is_canceled(CS(c.h))) : true;
    a_done(&c);
    flt |= a_flt(&c, true);
    check_st("tapir_cancel_source_cancel_after", st, D_BASE | S(INVALID_ARGUMENT), expect(flt, S(OK)));
    if (c.cls == AC_LIVE && !now) failf("tapir_cancel_source_cancel_after(0) returned but the source is not canceled");
    if (st == TAPIR_STATUS_OK && d == 0) mark_canceled(c.h);
    return;
  }
  case 3: {
    bool tok = pct(40);
    harg k = tok ? a_pick(K_TOKEN, -1, false) : c;
    if (tok) a_done(&c);
    bool before = A_FIELD(&k, canceled) != 0;
    bool v = CALL(tapir_cancel_source_is_canceled(CS(k.h)));
    LOG("cancel_source_is_canceled(%#" PRIx64 ") -> %d", k.h, v);
    a_done(&k);
    unsigned flt = a_flt(&k, true);
    if (v && (flt & (F_BAD | F_NULL))) failf("tapir_cancel_source_is_canceled is true for an invalid handle");
    if (!v && before && !flt) failf("tapir_cancel_source_is_canceled went back to false after being canceled");
    if (!v && !flt) {
      /* false is also the answer for an invalid handle: it must not look like one */
    }
    if (!v && (flt & (F_BAD | F_NULL))) check_last("tapir_cancel_source_is_canceled", flt);
    if (v && !flt) mark_canceled(k.h);
    return;
  }
  default: {
    bool tok = pct(50);
    harg k = tok ? a_pick(K_TOKEN, -1, false) : c;
    if (tok) a_done(&c);
    size_t n = CALL(tapir_debug_cancel_registrations(TO(k.h)));
    LOG("debug_cancel_registrations(%#" PRIx64 ") -> %zu", k.h, n);
    a_done(&k);
    if (n && (a_flt(&k, true) & (F_BAD | F_NULL))) failf("tapir_debug_cancel_registrations counts %zu for an invalid handle", n);
    return;
  }
  }
}

static void op_token(void) {
  bool mis = misuse_on(), null_out = mis && pct(3);
  const tapir_cancel_token *t = SENTP(const tapir_cancel_token *);
  int32_t st;
  switch (rn(5)) {
  case 0:
    st = CALL(tapir_cancel_token_none(null_out ? NULL : &t));
    check_st("tapir_cancel_token_none", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
    if (st != TAPIR_STATUS_OK) return;
    if (HV(t) != g_none_h) failf("tapir_cancel_token_none wrote %#" PRIx64 ", earlier %#" PRIx64, HV(t), g_none_h);
    L();
    {
      int i = m_add_l(K_TOKEN, HV(t), TOK_NONE);
      if (i >= 0) g_slots[i].perm = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    }
    return;
  case 1:
    st = CALL(tapir_cancel_token_new_canceled(null_out ? NULL : &t));
    check_st("tapir_cancel_token_new_canceled", st, S(OK) | S(NULL_ARGUMENT), expect(null_out ? F_NULL : 0, S(OK)));
    if (st != TAPIR_STATUS_OK) return;
    if (!CALL(tapir_cancel_token_is_canceled(t))) failf("a token from tapir_cancel_token_new_canceled is not canceled");
    L();
    {
      int i = m_add_l(K_TOKEN, HV(t), TOK_CANCELED);
      if (i >= 0) g_slots[i].canceled = 1;
      U();
      if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
    }
    return;
  case 2: {
    harg k = a_pick(K_TOKEN, -1, false);
    bool before = A_FIELD(&k, canceled) != 0;
    bool v = CALL(tapir_cancel_token_is_canceled(TO(k.h)));
    LOG("token_is_canceled(%#" PRIx64 ") -> %d", k.h, v);
    a_done(&k);
    unsigned flt = a_flt(&k, true);
    if (v && (flt & (F_BAD | F_NULL))) failf("tapir_cancel_token_is_canceled is true for an invalid handle");
    if (!v && before && !flt) failf("tapir_cancel_token_is_canceled went back to false");
    if (!v && (flt & (F_BAD | F_NULL))) check_last("tapir_cancel_token_is_canceled", flt);
    if (v && !flt) mark_canceled(k.h);
    return;
  }
  default: {
    harg k = a_pick(K_TOKEN, -1, false);
    bool v = CALL(tapir_cancel_token_can_be_canceled(TO(k.h)));
    LOG("token_can_be_canceled(%#" PRIx64 ") -> %d", k.h, v);
    a_done(&k);
    unsigned flt = a_flt(&k, true);
    if (v && (flt & (F_BAD | F_NULL))) failf("tapir_cancel_token_can_be_canceled is true for an invalid handle");
    if (!flt && k.h && v != (k.h != g_none_h))
      failf("tapir_cancel_token_can_be_canceled(%#" PRIx64 ") is %d (false only for the none token)", k.h, v);
    if (!v && (flt & (F_BAD | F_NULL))) check_last("tapir_cancel_token_can_be_canceled", flt);
    return;
  }
  }
}

#define D_REGISTER (D_BASE | S(INVALID_ARGUMENT) | S(CANCELED))

static void op_register(void) {
  harg k = a_pick(K_TOKEN, -1, false);
  harg c = pct(40) ? a_live(K_CTS) : a_none(AC_NONE);
  bool mis = misuse_on(), null_cb = mis && pct(3), want_reg = pct(70);
  uint32_t flags = pct(30) ? TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED : 0;
  unsigned flt = null_cb ? F_NULL : 0;
  if (mis && pct(3)) {
    flags |= 1u << (1 + rn(30));
    flt |= F_INV;
  }
  bool canceled = A_FIELD(&k, canceled) != 0, none = k.h && k.h == g_none_h;
  uint32_t ri = cb_rec("tapir_cancel_token_register", 1, 0, me()->depth, 0, 0, &c, K_CTS);
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(ri);
  r->nx = pct(30) ? NX_ERROR : NX_RESULT;
  void *ud = rec_ud(ri);
  pthread_mutex_unlock(&g_lmu);
  const tapir_cancel_registration *reg = SENTP(const tapir_cancel_registration *);
  int32_t st = CALL(tapir_cancel_token_register(TO(k.h), null_cb ? NULL : cb_cancel, ud, fz_destroy, flags, want_reg ? &reg : NULL));
  LOG("token_register(%#" PRIx64 ", flags %#x) -> %s reg %#" PRIx64, k.h, flags, stname(st), HV(reg));
  pthread_mutex_lock(&g_lmu);
  int calls = rec_at(ri)->calls, destroys = rec_at(ri)->destroys;
  pthread_mutex_unlock(&g_lmu);
  a_done(&k);
  a_done(&c);
  flt |= a_flt(&k, true);
  bool no_run = flags & TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED;
  uint32_t normal = S(OK) | (no_run ? S(CANCELED) : 0);
  if (none) normal = S(OK);
  else if (canceled) normal = no_run ? S(CANCELED) : S(OK);
  check_st("tapir_cancel_token_register", st, D_REGISTER, expect(flt, normal));
  rec_settle(ri, st == TAPIR_STATUS_OK, "tapir_cancel_token_register", st);
  if (st != TAPIR_STATUS_OK) {
    if (want_reg && HV(reg) != SENT) failf("tapir_cancel_token_register failed but wrote registration_out");
    return;
  }
  if (want_reg && HV(reg) == SENT) failf("tapir_cancel_token_register returned OK without writing registration_out");
  if (!(flt & F_LOOSE)) {
    if (none && (calls || destroys != 1 || (want_reg && reg)))
      failf("register on the none token: callback ran %d, destroy %d, registration %#" PRIx64 " (want 0, 1 at once, NULL)",
            calls, destroys, HV(reg));
    if (canceled && !none && calls != 1)
      failf("register on an already-canceled token returned with the callback run %d times (want once, before return)", calls);
  }
  if (!want_reg || !reg) return;
  L();
  int i = m_add_l(K_CREG, HV(reg), 0);
  if (i >= 0) {
    g_slots[i].aux = k.h;
    g_slots[i].aux2 = HV(ud);
  }
  U();
  if (i < 0) {
    release_ok(K_CREG, HV(reg), "model full");
    return;
  }
  if (pct(40)) {
    /* a second reference for the callback itself: it unregisters itself from inside */
    uint64_t again = HV(CALL(tapir_cancel_registration_retain(reg)));
    if (!again) return; /* released meanwhile by another thread */
    if (again != HV(reg)) failf("tapir_cancel_registration_retain returned %#" PRIx64, again);
    L();
    int j = m_add_l(K_CREG, again, 0);
    bool took = m_take_l(j, again);
    U();
    if (!took) {
      release_ok(K_CREG, again, "model full");
      return;
    }
    pthread_mutex_lock(&g_lmu);
    rec *rr = rec_decode(ud, NULL);
    bool stored = rr && rr->state == RS_ACCEPTED && rr->calls == 0 && !rr->own[1];
    if (stored) {
      rr->own[1] = again;
      rr->own_kind[1] = K_CREG;
    }
    pthread_mutex_unlock(&g_lmu);
    if (!stored) model_unext(K_CREG, again, true);
  }
}

static void op_creg(void) {
  harg a = a_pick(K_CREG, -1, false);
  uint64_t ud = a.cls == AC_LIVE ? A_FIELD(&a, aux2) : 0, tok = A_FIELD(&a, aux);
  bool before = a.cls == AC_LIVE && A_FIELD(&a, removed_ok);
  unsigned how = rn(3);
  if (how == 1 && me()->depth > 0) how = 0; /* no blocking unregister inside callbacks */
  if (how < 2) {
    int32_t st = how ? CALL(tapir_cancel_registration_unregister_wait(CR(a.h))) : CALL(tapir_cancel_registration_unregister(CR(a.h)));
    const char *fn = how ? "tapir_cancel_registration_unregister_wait" : "tapir_cancel_registration_unregister";
    LOG("%s(%#" PRIx64 ") -> %s", fn, a.h, stname(st));
    if (st == TAPIR_STATUS_OK && ud) {
      pthread_mutex_lock(&g_lmu);
      rec *r = rec_decode((void *)(uintptr_t)ud, NULL);
      int calls = r ? r->calls : 0, destroys = r ? r->destroys : 1;
      if (r) r->removed = 1;
      pthread_mutex_unlock(&g_lmu);
      if (calls || destroys != 1)
        failf("%s returned OK, yet the callback had run %d time(s) and its destroy %d time(s)", fn, calls, destroys);
    }
    a_done(&a);
    check_st(fn, st, D_BASE | S(ALREADY_COMPLETED),
             expect(a_flt(&a, true), before ? S(ALREADY_COMPLETED) : S(OK) | S(ALREADY_COMPLETED)));
    if (st == TAPIR_STATUS_OK) {
      L();
      int i = s_find(a.h);
      if (i >= 0) g_slots[i].removed_ok = 1;
      U();
    }
    return;
  }
  bool null_out = misuse_on() && pct(3);
  int ai = acq_begin(tok);
  const tapir_cancel_token *t = SENTP(const tapir_cancel_token *);
  int32_t st = CALL(tapir_cancel_registration_token(CR(a.h), null_out ? NULL : &t));
  LOG("cancel_registration_token(%#" PRIx64 ") -> %s %#" PRIx64, a.h, stname(st), HV(t));
  if (st == TAPIR_STATUS_OK) {
    L();
    int i = m_add_l(K_TOKEN, HV(t), TOK_LIB);
    if (i >= 0) g_slots[i].lent = 1;
    U();
    if (i < 0) release_ok(K_TOKEN, HV(t), "model full");
  }
  acq_end(ai);
  a_done(&a);
  unsigned flt = a_flt(&a, true) | (null_out ? F_NULL : 0);
  check_st("tapir_cancel_registration_token", st, D_BASE, expect(flt, S(OK)));
  if (st == TAPIR_STATUS_OK && a.cls == AC_LIVE && tok && HV(t) != tok)
    failf("tapir_cancel_registration_token(%#" PRIx64 ") wrote %#" PRIx64 "; it was registered on %#" PRIx64, a.h, HV(t), tok);
  if (st != TAPIR_STATUS_OK && !null_out && HV(t) != SENT) failf("tapir_cancel_registration_token failed but wrote token_out");
}

/* A private cancel source: exact checks of cancel's contract, and of a failed
 * linked constructor leaving its valid parents untouched. */
static void op_cancel_scenario(void) {
  const tapir_cancel_source *c = NULL;
  const tapir_cancel_token *t = NULL;
  if (CALL(tapir_cancel_source_new(&c)) != TAPIR_STATUS_OK || CALL(tapir_cancel_source_token(c, &t)) != TAPIR_STATUS_OK)
    failf("making a private cancel source failed");
  LOG("cancel scenario on %#" PRIx64 " token %#" PRIx64, HV(c), HV(t));
  if (misuse_on()) {
    harg bad = pct(50) ? a_grave(K_TOKEN) : a_forged(K_TOKEN);
    if (bad.h && bad.cls == AC_BAD) {
      size_t before = CALL(tapir_debug_cancel_registrations(t));
      const tapir_cancel_token *arr[2] = {t, TO(bad.h)};
      if (pct(50)) {
        arr[0] = TO(bad.h);
        arr[1] = t;
      }
      const tapir_cancel_source *child = SENTP(const tapir_cancel_source *);
      int32_t st = CALL(tapir_cancel_source_new_linked(arr, 2, &child));
      size_t after = CALL(tapir_debug_cancel_registrations(t));
      LOG("new_linked(valid, stale %#" PRIx64 ") -> %s; registrations on the valid parent %zu -> %zu", bad.h, stname(st),
          before, after);
      a_done(&bad);
      check_st("tapir_cancel_source_new_linked (one stale parent)", st, D_BASE | S(INVALID_ARGUMENT),
               expect(a_flt(&bad, true), S(OK)));
      if (st != TAPIR_STATUS_OK && (after != before || HV(child) != SENT))
        failf("tapir_cancel_source_new_linked failed (%s) but left %zu callback(s) on its valid parent (had %zu)%s",
              stname(st), after, before, HV(child) != SENT ? " and wrote source_out" : "");
      if (st == TAPIR_STATUS_OK) release_ok(K_CTS, HV(child), "linked child");
    } else a_done(&bad);
  }
  enum { NREG = 5 };
  uint32_t ri[NREG];
  void *ud[NREG];
  int32_t code[NREG];
  bool unreg[NREG];
  unsigned n = 1 + rn(NREG);
  for (unsigned k = 0; k < n; k++) {
    ri[k] = rec_new(RK_CB, "tapir_cancel_token_register (scenario)", 1);
    code[k] = pct(35) ? fz_code() : 0;
    pthread_mutex_lock(&g_lmu);
    rec_at(ri[k])->nx = code[k] ? NX_ERROR : NX_RESULT;
    rec_at(ri[k])->code = code[k];
    ud[k] = rec_ud(ri[k]);
    pthread_mutex_unlock(&g_lmu);
    const tapir_cancel_registration *reg = NULL;
    int32_t st = CALL(tapir_cancel_token_register(t, cb_cancel, ud[k], fz_destroy, 0, &reg));
    check_st("tapir_cancel_token_register (private token)", st, D_REGISTER, S(OK));
    rec_settle(ri[k], true, "tapir_cancel_token_register", st);
    unreg[k] = pct(25);
    if (unreg[k]) {
      st = CALL(tapir_cancel_registration_unregister(reg));
      check_st("tapir_cancel_registration_unregister (private, pending)", st, D_BASE | S(ALREADY_COMPLETED), S(OK));
    }
    release_ok(K_CREG, HV(reg), "private registration");
  }
  size_t live = CALL(tapir_debug_cancel_registrations(t));
  unsigned expect_live = 0;
  for (unsigned k = 0; k < n; k++) expect_live += !unreg[k];
  if (live != expect_live) failf("tapir_debug_cancel_registrations counts %zu; %u callbacks are registered", live, expect_live);
  bool stop = pct(30);
  const tapir_error *errs = SENTP(const tapir_error *);
  int32_t st = CALL(tapir_cancel_source_cancel(c, stop ? TAPIR_CANCEL_STOP_AT_FIRST_ERROR : 0, &errs));
  check_st("tapir_cancel_source_cancel (private)", st, D_BASE | S(INVALID_ARGUMENT), S(OK));
  /* newest first; with stop, nothing after the first reported error runs */
  int32_t want[NREG];
  unsigned nwant = 0;
  bool stopped = false;
  for (int k = (int)n - 1; k >= 0; k--) {
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_decode(ud[k], NULL);
    int calls = r ? r->calls : -1;
    pthread_mutex_unlock(&g_lmu);
    int should = unreg[k] || stopped ? 0 : 1;
    if (calls != should)
      failf("cancel (stop %d) ran registration %d of %u %d time(s), expected %d (unregistered %d)", stop, k, n, calls, should, unreg[k]);
    if (should && code[k]) {
      want[nwant++] = code[k];
      if (stop) stopped = true;
    }
  }
  if (HV(errs) == SENT) failf("tapir_cancel_source_cancel did not write errors_out");
  if (!nwant && errs) failf("tapir_cancel_source_cancel wrote an aggregate though no callback reported an error");
  if (nwant) {
    if (!errs) failf("tapir_cancel_source_cancel: %u callbacks reported errors, errors_out is NULL", nwant);
    size_t ni = CALL(tapir_error_inner_count(errs));
    if (ni != nwant) failf("cancel aggregate has %zu inner errors; %u were reported", ni, nwant);
    for (unsigned k = 0; k < nwant; k++) {
      const tapir_error *in = NULL;
      if (CALL(tapir_error_inner(errs, k, &in)) != TAPIR_STATUS_OK) failf("tapir_error_inner on the cancel aggregate failed");
      int32_t cd = CALL(tapir_error_code(in));
      if (cd != want[k]) failf("cancel aggregate inner %u has code %d; the callbacks ran in an order giving %d", k, cd, want[k]);
      release_ok(K_ERROR, HV(in), "inner error");
    }
    release_ok(K_ERROR, HV(errs), "cancel aggregate");
  }
  if (!CALL(tapir_cancel_token_is_canceled(t))) failf("the token of a canceled source is not canceled");
  /* after cancellation: registering runs now, or (NO_RUN) is refused with nothing done */
  uint32_t late = rec_new(RK_CB, "tapir_cancel_token_register (after cancel)", 1);
  void *lud = rec_ud_l(late);
  bool no_run = pct(50);
  const tapir_cancel_registration *reg = SENTP(const tapir_cancel_registration *);
  st = CALL(tapir_cancel_token_register(t, cb_cancel, lud, fz_destroy, no_run ? TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED : 0, &reg));
  check_st("tapir_cancel_token_register (canceled token)", st, D_REGISTER, no_run ? S(CANCELED) : S(OK));
  pthread_mutex_lock(&g_lmu);
  int lc = rec_at(late)->calls;
  pthread_mutex_unlock(&g_lmu);
  if (!no_run && (lc != 1 || reg)) failf("register on a canceled token: ran %d times, registration %#" PRIx64 " (want 1, NULL)", lc, HV(reg));
  rec_settle(late, st == TAPIR_STATUS_OK, "tapir_cancel_token_register", st);
  release_ok(K_TOKEN, HV(t), "private token");
  release_ok(K_CTS, HV(c), "private cancel source");
}
