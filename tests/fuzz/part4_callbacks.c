
/* ================================================================ handle casts */

#define TK(h) ((const tapir_task *)(uintptr_t)(h))
#define SR(h) ((const tapir_source *)(uintptr_t)(h))
#define ER(h) ((const tapir_error *)(uintptr_t)(h))
#define RG(h) ((const tapir_registration *)(uintptr_t)(h))
#define SC(h) ((const tapir_scheduler *)(uintptr_t)(h))
#define CS(h) ((const tapir_cancel_source *)(uintptr_t)(h))
#define TO(h) ((const tapir_cancel_token *)(uintptr_t)(h))
#define CR(h) ((const tapir_cancel_registration *)(uintptr_t)(h))
#define PG(h) ((const tapir_progress *)(uintptr_t)(h))
#define HV(p) ((uint64_t)(uintptr_t)(p))
/* written to every out-parameter first: a failed call must leave it untouched */
#define SENT ((uint64_t)0x5EE7000000000F0Full)

static uint64_t g_default_h, g_inline_h, g_none_h, g_completed_h;

static int32_t tp_release(int kind, uint64_t h) {
  switch (kind) {
  case K_TASK: return tapir_task_release(TK(h));
  case K_SOURCE: return tapir_source_release(SR(h));
  case K_ERROR: return tapir_error_release(ER(h));
  case K_REG: return tapir_registration_release(RG(h));
  case K_SCHED: return tapir_scheduler_release(SC(h));
  case K_CTS: return tapir_cancel_source_release(CS(h));
  case K_TOKEN: return tapir_cancel_token_release(TO(h));
  case K_CREG: return tapir_cancel_registration_release(CR(h));
  default: return tapir_progress_release(PG(h));
  }
}

static uint64_t tp_retain(int kind, uint64_t h) {
  switch (kind) {
  case K_TASK: return HV(tapir_task_retain(TK(h)));
  case K_SOURCE: return HV(tapir_source_retain(SR(h)));
  case K_ERROR: return HV(tapir_error_retain(ER(h)));
  case K_REG: return HV(tapir_registration_retain(RG(h)));
  case K_SCHED: return HV(tapir_scheduler_retain(SC(h)));
  case K_CTS: return HV(tapir_cancel_source_retain(CS(h)));
  case K_TOKEN: return HV(tapir_cancel_token_retain(TO(h)));
  case K_CREG: return HV(tapir_cancel_registration_retain(CR(h)));
  default: return HV(tapir_progress_retain(PG(h)));
  }
}

static void release_ok(int kind, uint64_t h, const char *why) {
  int32_t st = CALL(tp_release(kind, h));
  if (st != TAPIR_STATUS_OK)
    failf("releasing a %s reference the fuzzer owns (%s) returned %s", kname[kind], why, stname(st));
}

/* Releases what the deferred list holds: references dying records owned. */
static void drain_deferred(int max) {
  for (int n = 0; n < max; n++) {
    pthread_mutex_lock(&g_dmu);
    if (!g_ndef) {
      pthread_mutex_unlock(&g_dmu);
      return;
    }
    dref d = g_def[--g_ndef];
    pthread_mutex_unlock(&g_dmu);
    LOG("deferred release %s %#" PRIx64, kname[d.kind & 0xFF], d.h);
    release_ok(d.kind & 0xFF, d.h, "deferred");
    if (!(d.kind & 0x100)) model_unext(d.kind & 0xFF, d.h, false);
  }
}
/* A reference a record holds that is not in the model (kind | 0x100 in the list). */
#define DEF_UNMODELED 0x100

/* ================================================================ checks on what tapir hands back */

static atomic_ullong g_dangling; /* forwarded values read after their owner's destroy */

static void check_value_d(uint64_t h, void *v, const char *how, int depth);

static void check_flat(uint64_t h, void *v, const char *how, int depth) {
  char prov[96] = "";
  int vk;
  uint64_t key;
  bool dead = false;
  if (is_rec_value(v)) {
    pthread_mutex_lock(&g_lmu);
    rec *r = rec_decode(v, NULL);
    if (!r) {
      pthread_mutex_unlock(&g_lmu);
      atomic_fetch_add(&g_dangling, 1);
      LOG("%s: value %p of %#" PRIx64 " belongs to a recycled record", how, v, h);
      return;
    }
    if (r->kind != RK_VALUE) {
      const char *w = r->what;
      pthread_mutex_unlock(&g_lmu);
      failf("%s: task %#" PRIx64 " reports value %p, which is user data given to %s, not a value", how, h, v, w);
    }
    if (r->state == RS_REFUSED) {
      pthread_mutex_unlock(&g_lmu);
      failf("%s: task %#" PRIx64 " reports value %p whose set_result had been refused", how, h, v);
    }
    dead = r->state == RS_DEAD;
    key = r->origin;
    vk = VK_ORIGIN;
    snprintf(prov, sizeof prov, " (a value record made by %s at op %llu)", r->tname ? r->tname : "?", r->op);
    pthread_mutex_unlock(&g_lmu);
  } else if (is_plain_value(v)) {
    vk = VK_TAG;
    key = (uint64_t)(uintptr_t)v >> 32;
  } else {
    vk = VK_RAW;
    key = (uint64_t)(uintptr_t)v;
  }
  L();
  tinfo *t = ti_get(h, false);
  bool structured = t && t->ctype != CT_NONE;
  int res = structured ? LN_UNKNOWN : lineage_l(h, vk, key, (uint64_t)(uintptr_t)v);
  U();
  if (structured && depth < 2) {
    check_value_d(h, v, how, depth + 1);
    return;
  }
  if (res == LN_UNKNOWN) {
    atomic_fetch_add_explicit(&g_reads_unchecked, 1, memory_order_relaxed);
    return;
  }
  atomic_fetch_add_explicit(&g_reads_checked, 1, memory_order_relaxed);
  if (res == LN_BAD)
    failf("%s: task %#" PRIx64 " holds value %p%s (origin %#" PRIx64 "), which the fuzzer set neither on "
          "it nor on any task it forwards from",
          how, h, v, prov, vk == VK_ORIGIN ? key : 0);
  if (dead) {
    if (vk == VK_ORIGIN && key == h)
      failf("%s: the value %p of task %#" PRIx64 " was destroyed while the fuzzer still holds the task", how, v, h);
    atomic_fetch_add(&g_dangling, 1);
  }
}

static void check_value_d(uint64_t h, void *v, const char *how, int depth) {
  uint64_t in[TI_E];
  int ctype, nin;
  L();
  tinfo *t = ti_get(h, false);
  ctype = t ? t->ctype : CT_NONE;
  nin = t ? t->nin : 0;
  if (t) memcpy(in, t->in, sizeof in);
  U();
  switch (ctype) {
  case CT_NONE: check_flat(h, v, how, depth); return;
  case CT_ANY:
    if ((uintptr_t)v >= (uintptr_t)nin)
      failf("%s: when_any task %#" PRIx64 " reports winner index %" PRIuPTR " of %d inputs", how, h, (uintptr_t)v, nin);
    return;
  case CT_ALL:
  case CT_FIRSTERR:
    if (nin == 0 || nin > TI_E) return;
    if (!v) failf("%s: when_all task %#" PRIx64 " succeeded with a NULL value array", how, h);
    for (int j = 0; j < nin; j++) check_flat(in[j], ((void *const *)v)[j], how, depth + 1);
    return;
  case CT_SETTLED:
    if (nin == 0 || nin > TI_E) return;
    if (!v) failf("%s: when_all_settled task %#" PRIx64 " succeeded with a NULL array", how, h);
    for (int j = 0; j < nin; j++) {
      uint64_t e = (uint64_t)(uintptr_t)((void *const *)v)[j];
      if (e != in[j])
        failf("%s: when_all_settled %#" PRIx64 " slot %d holds %#" PRIx64 ", the input was %#" PRIx64, how, h, j, e, in[j]);
      int32_t s = CALL(tapir_task_get_status(TK(e)));
      if (s != TAPIR_TASK_STATUS_SUCCEEDED && s != TAPIR_TASK_STATUS_FAULTED && s != TAPIR_TASK_STATUS_CANCELED)
        failf("%s: when_all_settled %#" PRIx64 " slot %d: input %#" PRIx64 " (kept alive by the settled task) "
              "has status %d",
              how, h, j, e, s);
    }
    return;
  }
}

static void check_value(uint64_t h, void *v, const char *how) { check_value_d(h, v, how, 0); }

#define FZ_CODE_MIN 1000
#define FZ_CODE_MAX 9999

/* An error handle the caller holds (or was lent): its parts must be consistent. */
static void check_error(uint64_t e, const char *how) {
  int32_t code = CALL(tapir_error_code(ER(e)));
  size_t len = 12345;
  const uint8_t *msg = CALL(tapir_error_message(ER(e), &len));
  void *payload = CALL(tapir_error_payload(ER(e)));
  (void)CALL(tapir_error_inner_count(ER(e)));
  if (code == 0 || !msg)
    failf("%s: error %#" PRIx64 " that the fuzzer holds reads as invalid (code %d, message %p, last status %s)",
          how, e, code, (const void *)msg, stname(CALL(tapir_last_status())));
  if (code >= FZ_CODE_MIN && code <= FZ_CODE_MAX) {
    if (len) {
      char want1[32], want2[32];
      snprintf(want1, sizeof want1, "fz:%d", code);
      snprintf(want2, sizeof want2, "fzA:%d", code);
      if (!((len == strlen(want1) && !memcmp(msg, want1, len)) || (len == strlen(want2) && !memcmp(msg, want2, len))))
        failf("%s: error %#" PRIx64 " has code %d but message '%.*s' (another error's parts)", how, e, code,
              (int)(len > 40 ? 40 : len), (const char *)msg);
    }
    if (payload) {
      pthread_mutex_lock(&g_lmu);
      rec *r = rec_decode(payload, NULL);
      int ok = r && r->kind == RK_PAYLOAD && r->code == code;
      int st = r ? r->state : -1;
      pthread_mutex_unlock(&g_lmu);
      if (!ok || st == RS_DEAD || st == RS_REFUSED)
        failf("%s: error %#" PRIx64 " (code %d) carries payload %p that is %s", how, e, code, payload,
              !r ? "not a live payload record" : !ok ? "another error's payload" : "already destroyed");
    }
  } else if (code < 1 || code > 15) {
    failf("%s: error %#" PRIx64 " has code %d, which neither the fuzzer nor tapir's status table uses", how, e, code);
  }
}

/* The scheduler a callback runs on, as tapir_scheduler_current() reports it. */
static void check_current(const rec *r, const char *fn) {
  const tapir_scheduler *cur = CALL(tapir_scheduler_current());
  if (r->sched_check && HV(cur) != r->sched_h)
    failf("%s ran with tapir_scheduler_current() = %#" PRIx64 ", but it was registered to run on %#" PRIx64, fn,
          HV(cur), r->sched_h);
  if (cur) release_ok(K_SCHED, HV(cur), "tapir_scheduler_current");
}

/* ================================================================ the foreign scheduler */

typedef struct fsched {
  pthread_mutex_t mu;
  tapir_work **q;
  int n, cap;
  void *ud;            /* its ledger record (NULL: created without destroy) */
  atomic_int destroyed;
  atomic_llong posts, ran, discarded;
} fsched;
#define MAXFS 4096
static fsched *g_fs[MAXFS];
static atomic_int g_nfs;

static void fs_run(tapir_work *w, bool discard) {
  int32_t st = discard ? CALL(tapir_work_discard(w)) : CALL(tapir_work_run(w));
  if (st != TAPIR_STATUS_OK) failf("tapir_work_%s on a posted work item returned %s", discard ? "discard" : "run", stname(st));
}

static void fs_post(void *ctx, tapir_work *w) {
  fsched *f = ctx;
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  atomic_fetch_add(&f->posts, 1);
  if (atomic_load(&f->destroyed)) failf("a foreign scheduler's post ran after its destroy");
  if (!w) failf("a foreign scheduler's post received a NULL work item");
  unsigned r = rn(100);
  LOG("foreign post %p -> %s", (void *)w, r < 20 ? "run now" : r < 30 ? "discard now" : "defer");
  if (r < 20 && me()->depth < 4) {
    me()->depth++;
    atomic_fetch_add(&f->ran, 1);
    fs_run(w, false);
    me()->depth--;
  } else if (r < 30) {
    atomic_fetch_add(&f->discarded, 1);
    fs_run(w, true);
  } else {
    pthread_mutex_lock(&f->mu);
    if (f->n == f->cap) {
      f->cap = f->cap ? f->cap * 2 : 16;
      f->q = realloc(f->q, (size_t)f->cap * sizeof *f->q);
      if (!f->q) abort();
    }
    f->q[f->n++] = w;
    pthread_mutex_unlock(&f->mu);
  }
}

static void fs_destroy(void *ctx) {
  fsched *f = ctx;
  LOG("foreign destroy %p", ctx);
  if (atomic_exchange(&f->destroyed, 1)) failf("a foreign scheduler's destroy ran twice");
  if (f->ud) fz_destroy(f->ud);
  else failf("tapir called a foreign scheduler's destroy, which was NULL in its vtable");
}

/* Runs or discards up to `max` deferred items of one foreign scheduler; returns how many. */
static int fs_pump(fsched *f, int max, int discard_pct) {
  int done = 0;
  while (done < max) {
    pthread_mutex_lock(&f->mu);
    if (!f->n) {
      pthread_mutex_unlock(&f->mu);
      break;
    }
    int k = (int)rn((unsigned)f->n);
    tapir_work *w = f->q[k];
    f->q[k] = f->q[--f->n];
    pthread_mutex_unlock(&f->mu);
    bool discard = pct((unsigned)discard_pct);
    LOG("foreign pump %p %s", (void *)w, discard ? "discard" : "run");
    if (discard) atomic_fetch_add(&f->discarded, 1);
    else atomic_fetch_add(&f->ran, 1);
    fs_run(w, discard);
    done++;
  }
  return done;
}

static int fs_pump_all(int discard_pct) {
  int n = atomic_load(&g_nfs), done = 0;
  for (int i = 0; i < n; i++)
    if (g_fs[i]) done += fs_pump(g_fs[i], 1 << 20, discard_pct);
  return done;
}

/* ================================================================ the unobserved-error hook */

static int g_hook_tag1, g_hook_tag2;
static atomic_ullong g_hook_calls;

static void hook_fn(void *ud, uint64_t task_id, const tapir_error *const *errors, size_t count) {
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  atomic_fetch_add(&g_hook_calls, 1);
  if (ud != &g_hook_tag1 && ud != &g_hook_tag2) failf("unobserved-error hook got user_data %p it was not installed with", ud);
  if (task_id == 0) failf("unobserved-error hook called with task id 0 (ids are never 0)");
  if (count == 0 || !errors) failf("unobserved-error hook called with %zu errors at %p", count, (const void *)errors);
  LOG("hook task %#" PRIx64 " errors %zu", task_id, count);
  for (size_t i = 0; i < count && i < 4; i++) check_error(HV(errors[i]), "unobserved-error hook (lent error)");
}

/* ================================================================ callbacks */

enum { ACT_NONE, ACT_QUERY, ACT_RELEASE_OWN, ACT_OP, ACT_REGISTER_MORE, ACT_N };
static const char *actname[] = {"none", "query", "release-own", "random-op", "register-more"};
enum { NX_RESULT, NX_ERROR, NX_CANCEL, NX_LEAVE, NX_PUBLISH, NX_FROM_ANT, NX_FROM_RANDOM, NX_TWICE, NX_N };
static const char *nxname[] = {"result", "error", "cancel", "leave", "publish", "from-antecedent",
                               "from-random", "twice"};

static void run_random_op(void);
static harg a_make(int kind);
static uint64_t make_error_h(void);
static uint64_t make_error_code(int32_t code, uint64_t *payload_out);
static int32_t fz_code(void);
static void reg_on_lent(uint64_t task, int depth);

static const char *famname[FAM_N] = {"source", "task", "wait", "cont", "unwrap", "comb", "waitasync",
                                     "retry", "noo", "throttle", "cancel", "creg", "delay", "sched",
                                     "foreign", "run", "error", "progress", "misc", "hook", "shutdown",
                                     "race", "racerel", "misuse", "cbops", "panic", "lent", "fromtask", "waitany", "stalects", "staletoken", "kindct", "manual", "forever"};

static void cb_begin(const rec *r, const char *fn) {
  thr *t = me();
  t->depth++;
  t->rng = mix64(r->seed ^ (uint64_t)r->calls);
  LOG("cb %s (%s) action %s depth %d", fn, r->what, actname[r->action], t->depth);
}
static void cb_end(void) { me()->depth--; }

/* A lent task handle must stay valid for the whole callback. */
static void check_lent_task(uint64_t t, const char *fn, bool must_be_final) {
  int32_t s = CALL(tapir_task_get_status(TK(t)));
  if (s == TAPIR_TASK_STATUS_INVALID_HANDLE && !fam_on(FAM_LENT)) return; /* excluded: lent handles may fail */
  if (s == TAPIR_TASK_STATUS_INVALID_HANDLE)
    failf("%s: the task handle %#" PRIx64 " lent to the callback is invalid inside it (last status %s)", fn, t,
          stname(CALL(tapir_last_status())));
  if (must_be_final && s == TAPIR_TASK_STATUS_PENDING)
    failf("%s: the completed task %#" PRIx64 " it was called for reads as pending", fn, t);
}

static void do_action(const rec *r, uint64_t lent_task, const char *fn) {
  switch (r->action) {
  case ACT_QUERY:
    if (lent_task) check_lent_task(lent_task, fn, true);
    break;
  case ACT_RELEASE_OWN:
    for (int k = 0; k < 2; k++)
      if (r->own[k]) {
        LOG("%s releases its own %s %#" PRIx64, fn, kname[r->own_kind[k]], r->own[k]);
        release_ok(r->own_kind[k], r->own[k], "owned by a callback");
        model_unext(r->own_kind[k], r->own[k], false);
      }
    /* the callback dropped its own last reference: the lent handle must still work */
    if (lent_task && fam_on(FAM_LENT)) check_lent_task(lent_task, fn, true);
    return;
  case ACT_OP:
    if (r->depth < 3 && !atomic_load(&g_teardown) && fam_on(FAM_CBOPS)) run_random_op();
    break;
  case ACT_REGISTER_MORE:
    if (lent_task && r->depth < 3 && !atomic_load(&g_teardown)) reg_on_lent(lent_task, r->depth + 1);
    break;
  default: break;
  }
  /* references the callback owns and did not release above go back to the model */
  for (int k = 0; k < 2; k++)
    if (r->own[k]) model_unext(r->own_kind[k], r->own[k], true);
}

static void cb_on_complete(void *ud, const tapir_task *t) {
  rec r;
  rec_enter(ud, "on_complete callback", &r);
  cb_begin(&r, "on_complete");
  if (HV(t) != r.origin)
    failf("on_complete callback received task %#" PRIx64 "; it was registered on %#" PRIx64, HV(t), r.origin);
  check_current(&r, "on_complete callback");
  check_lent_task(HV(t), "on_complete callback", true);
  do_action(&r, HV(t), "on_complete callback");
  cb_end();
}

/* Completes a source lent to a callback (a continuation's `next`, tapir_run's
 * source) the way the record says. `t` is its task; `loose` when something else may
 * complete it concurrently (a continuation token). */
static void complete_lent(const rec *r, const tapir_source *src, uint64_t t, uint64_t ant, bool loose, const char *fn) {
  uint32_t ok_or = loose ? S(OK) | S(ALREADY_COMPLETED) : S(OK);
  int32_t st;
  uint32_t ri;
  switch (r->nx) {
  case NX_RESULT:
  case NX_TWICE: {
    void *v = val_new(t, pct(70), &ri);
    st = CALL(tapir_source_set_result(src, v, ri == UINT32_MAX ? NULL : fz_destroy));
    LOG("%s set_result(next %#" PRIx64 ", %p) -> %s", fn, HV(src), v, stname(st));
    check_st("tapir_source_set_result (lent source)", st, D_BASE | S(ALREADY_COMPLETED), ok_or);
    val_settle(ri, st == TAPIR_STATUS_OK, "tapir_source_set_result", st);
    if (r->nx == NX_TWICE) {
      void *v2 = val_new(t, true, &ri);
      bool won = CALL(tapir_source_try_set_result(src, v2, fz_destroy));
      LOG("%s second try_set_result -> %d", fn, won);
      if (won) failf("%s: a second completion of a lent source succeeded", fn);
      val_settle(ri, false, "tapir_source_try_set_result (second)", TAPIR_STATUS_ALREADY_COMPLETED);
    }
    break;
  }
  case NX_ERROR: {
    uint64_t e = make_error_h();
    if (!e) break;
    st = CALL(tapir_source_set_error(src, ER(e)));
    LOG("%s set_error(next) -> %s", fn, stname(st));
    check_st("tapir_source_set_error (lent source)", st, D_BASE | S(ALREADY_COMPLETED), ok_or);
    release_ok(K_ERROR, e, "error made in a callback");
    break;
  }
  case NX_CANCEL:
    st = CALL(tapir_source_set_canceled(src, NULL));
    LOG("%s set_canceled(next) -> %s", fn, stname(st));
    check_st("tapir_source_set_canceled (lent source)", st, D_BASE | S(ALREADY_COMPLETED), ok_or);
    break;
  case NX_LEAVE: break;
  case NX_PUBLISH: {
    if (atomic_load(&g_teardown)) break;
    uint64_t again = HV(CALL(tapir_source_retain(src)));
    if (again != HV(src)) failf("%s: tapir_source_retain of the lent source returned %#" PRIx64, fn, again);
    L();
    int i = m_add_l(K_SOURCE, again, SRC_LENT);
    if (i >= 0) {
      g_slots[i].lent = 1;
      g_slots[i].aux = t;
    }
    U();
    if (i < 0) release_ok(K_SOURCE, again, "model full");
    LOG("%s published its source %#" PRIx64, fn, again);
    break;
  }
  case NX_FROM_ANT:
  case NX_FROM_RANDOM: {
    harg x;
    if (!fam_on(FAM_FROMTASK)) break;
    if (r->nx == NX_FROM_ANT && ant) {
      x = a_none(fam_on(FAM_LENT) ? AC_LIVE : AC_LOOSE);
      x.h = ant;
    } else {
      x = a_live(K_TASK);
      if (!x.h) break;
    }
    ti_from(t, FM_TASK, x.h);
    st = CALL(tapir_source_set_from_task(src, TK(x.h)));
    LOG("%s set_from_task(next, %#" PRIx64 ") -> %s", fn, x.h, stname(st));
    a_done(&x);
    check_st("tapir_source_set_from_task (lent source)", st, D_BASE | S(ALREADY_COMPLETED),
             expect(a_flt(&x, true), ok_or));
    break;
  }
  }
}

static void cb_continue(void *ud, const tapir_task *ant, const tapir_source *next) {
  rec r;
  rec_enter(ud, "continuation", &r);
  cb_begin(&r, "continue_with");
  if (HV(ant) != r.origin)
    failf("continuation received antecedent %#" PRIx64 "; it was registered on %#" PRIx64, HV(ant), r.origin);
  check_current(&r, "continuation");
  check_lent_task(HV(ant), "continuation", true);
  const tapir_task *c = (const tapir_task *)(uintptr_t)SENT;
  int32_t st = CALL(tapir_source_task(next, &c));
  if (st != TAPIR_STATUS_OK) failf("continuation: tapir_source_task(next) on the lent source returned %s", stname(st));
  complete_lent(&r, next, HV(c), HV(ant), r.has_token, "continuation");
  release_ok(K_TASK, HV(c), "continuation task read inside the callback");
  do_action(&r, HV(ant), "continuation");
  cb_end();
}

static void cb_run(void *ud, const tapir_source *src) {
  rec r;
  rec_enter(ud, "tapir_run work", &r);
  cb_begin(&r, "run");
  check_current(&r, "tapir_run work");
  const tapir_task *t = (const tapir_task *)(uintptr_t)SENT;
  int32_t st = CALL(tapir_source_task(src, &t));
  if (st != TAPIR_STATUS_OK) failf("tapir_run work: tapir_source_task(source) on the lent source returned %s", stname(st));
  complete_lent(&r, src, HV(t), 0, false, "tapir_run work");
  release_ok(K_TASK, HV(t), "run task read inside the work");
  do_action(&r, 0, "tapir_run work");
  cb_end();
}

static void cb_work(void *ud) {
  rec r;
  rec_enter(ud, "posted work", &r);
  cb_begin(&r, "work");
  check_current(&r, "posted work");
  do_action(&r, 0, "posted work");
  cb_end();
}

static const tapir_error *cb_cancel(void *ud) {
  rec r;
  rec_enter(ud, "cancel callback", &r);
  cb_begin(&r, "cancel");
  /* own[1] is this callback's own registration: removing it from inside must
   * report it as running, and the waiting form must not wait for itself */
  if (r.own[1] && r.own_kind[1] == K_CREG) {
    int32_t st = CALL(tapir_cancel_registration_unregister(CR(r.own[1])));
    check_st("tapir_cancel_registration_unregister (own, from inside)", st, D_BASE | S(ALREADY_COMPLETED),
             S(ALREADY_COMPLETED));
    st = CALL(tapir_cancel_registration_unregister_wait(CR(r.own[1])));
    check_st("tapir_cancel_registration_unregister_wait (own, from inside)", st, D_BASE | S(ALREADY_COMPLETED),
             S(ALREADY_COMPLETED));
    release_ok(K_CREG, r.own[1], "own cancel registration");
    model_unext(K_CREG, r.own[1], false);
    r.own[1] = 0;
  }
  do_action(&r, 0, "cancel callback");
  const tapir_error *e = NULL;
  if (r.nx == NX_ERROR) e = ER(make_error_code(r.code ? r.code : fz_code(), NULL));
  cb_end();
  return e;
}

static void cb_progress(void *ud, void *value) {
  rec r;
  rec_enter(ud, "progress handler", &r);
  cb_begin(&r, "progress");
  check_current(&r, "progress handler");
  if (is_rec_value(value)) {
    pthread_mutex_lock(&g_lmu);
    rec *v = rec_decode(value, NULL);
    int st = v ? v->state : -1;
    int kind = v ? v->kind : -1;
    pthread_mutex_unlock(&g_lmu);
    if (!v || kind != RK_VALUE || st == RS_DEAD || st == RS_REFUSED)
      failf("progress handler received value %p that is %s", value,
            !v ? "not a live record" : kind != RK_VALUE ? "not a value" : st == RS_DEAD ? "already destroyed" : "refused");
  } else if (!is_plain_value(value) && value) {
    failf("progress handler received value %p that no report sent", value);
  }
  do_action(&r, 0, "progress handler");
  cb_end();
}

/* ---------------------------------------------------------------- factories */

enum { FS_RETRY, FS_THROTTLE, FS_NOO };
typedef struct fstate {
  int mode;
  uint32_t count, max, next, gates;
  uint64_t gid;       /* origin id of the values factories set */
  uint64_t prev;      /* retry: the previous attempt (a reference) */
  uint64_t held[8];   /* throttle: references to returned tasks */
  int nheld;
  uint64_t prod[TI_E]; /* tasks whose values the result may carry */
  int nprod;
  uint64_t result;    /* the combinator's task, once known */
  uint64_t seen;      /* need_only_one: indices called */
  pthread_t owner;
} fstate;

/* The references a factory's state holds go to the deferred list (lock g_lmu held). */
static void factory_ext_release(void *ext) {
  fstate *f = ext;
  if (f->prev) defer_release(K_TASK | DEF_UNMODELED, f->prev);
  f->prev = 0;
  for (int k = 0; k < f->nheld; k++) defer_release(K_TASK | DEF_UNMODELED, f->held[k]);
  f->nheld = 0;
}

static void fst_add_prod(fstate *f, uint64_t t) {
  /* under g_lmu; the edge result -> t is added now if the result is known */
  uint64_t res = f->result;
  if (f->nprod < TI_E) f->prod[f->nprod++] = t;
  else f->nprod = TI_E + 1;
  if (res) {
    pthread_mutex_unlock(&g_lmu);
    ti_from(res, FM_TASK, t);
    pthread_mutex_lock(&g_lmu);
  }
}

/* A task for a factory to return: which kind is random. */
static uint64_t factory_task(fstate *f, uint64_t gid, const tapir_cancel_token *tok, bool *unmodeled_prod) {
  const tapir_task *t = NULL;
  int32_t st;
  uint32_t ri;
  unsigned r = rn(100);
  *unmodeled_prod = false;
  if (r < 30) {
    uint64_t e = make_error_h();
    if (!e) return 0;
    st = CALL(tapir_task_from_error(ER(e), &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_task_from_error (in a factory) returned %s", stname(st));
    release_ok(K_ERROR, e, "factory error");
  } else if (r < 55) {
    void *v = val_new(gid, pct(60), &ri);
    st = CALL(tapir_task_from_result(v, ri == UINT32_MAX ? NULL : fz_destroy, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_task_from_result (in a factory) returned %s", stname(st));
    val_settle(ri, true, "tapir_task_from_result", st);
  } else if (r < 75) {
    st = CALL(tapir_delay((int64_t)rn(3), tok, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_delay (in a factory) returned %s", stname(st));
  } else if (r < 95 && !atomic_load(&g_teardown)) {
    /* a pending source, published to the model: random ops (or teardown) complete it */
    const tapir_source *s = NULL;
    st = CALL(tapir_source_new(0, NULL, &s));
    if (st != TAPIR_STATUS_OK) failf("tapir_source_new (in a factory) returned %s", stname(st));
    st = CALL(tapir_source_task(s, &t));
    if (st != TAPIR_STATUS_OK) failf("tapir_source_task (in a factory) returned %s", stname(st));
    L();
    ti_get(HV(t), true);
    int i = m_add_l(K_SOURCE, HV(s), SRC_MADE);
    if (i >= 0) g_slots[i].aux = HV(t);
    U();
    if (i < 0) release_ok(K_SOURCE, HV(s), "model full");
    *unmodeled_prod = true;
  } else {
    return 0; /* the item fails with INVALID_STATE */
  }
  (void)f;
  return HV(t);
}

static void fst_note_task(uint32_t idx_unused, fstate *f, uint64_t t, bool prod) {
  (void)idx_unused;
  pthread_mutex_lock(&g_lmu);
  if (prod) fst_add_prod(f, t);
  pthread_mutex_unlock(&g_lmu);
}

static const tapir_task *cb_factory(void *ud, uint32_t i) {
  rec r;
  rec_enter(ud, "factory", &r);
  cb_begin(&r, "factory");
  fstate *f = r.ext;
  pthread_mutex_lock(&g_lmu);
  uint32_t want = f->next;
  uint64_t prev = f->prev;
  uint64_t held[8];
  int nheld = f->nheld;
  memcpy(held, f->held, sizeof held);
  if (i == want) f->next++;
  f->prev = 0;
  pthread_mutex_unlock(&g_lmu);
  const char *who = f->mode == FS_RETRY ? "tapir_retry_on_fault" : "tapir_for_each_throttled";
  if (i != want) failf("%s called its factory for index %u; the next expected was %u", who, i, want);
  if (i >= f->count) failf("%s called its factory for index %u of %u", who, i, f->count);
  if (f->mode == FS_RETRY && prev) {
    int32_t s = CALL(tapir_task_get_status(TK(prev)));
    if (s == TAPIR_TASK_STATUS_PENDING || s < 0)
      failf("tapir_retry_on_fault called the factory for attempt %u while attempt %u was %s", i, i - 1,
            s < 0 ? "invalid" : "still pending");
    release_ok(K_TASK, prev, "previous retry attempt");
  }
  if (f->mode == FS_THROTTLE) {
    int pending = 0;
    for (int k = 0; k < nheld; k++) pending += CALL(tapir_task_get_status(TK(held[k]))) == TAPIR_TASK_STATUS_PENDING;
    if (pending >= (int)f->max)
      failf("tapir_for_each_throttled started item %u with %d of its tasks pending (max_in_flight %u)", i, pending, f->max);
  }
  bool prod;
  uint64_t t = factory_task(f, f->gid, NULL, &prod);
  if (t) {
    fst_note_task(0, f, t, prod);
    uint64_t keep = HV(CALL(tapir_task_retain(TK(t))));
    if (keep != t) failf("tapir_task_retain of a fresh task returned %#" PRIx64, keep);
    pthread_mutex_lock(&g_lmu);
    if (f->mode == FS_RETRY) {
      f->prev = keep;
      keep = 0;
    } else if (f->nheld < 8) {
      f->held[f->nheld++] = keep;
      keep = 0;
    }
    pthread_mutex_unlock(&g_lmu);
    if (keep) release_ok(K_TASK, keep, "factory extra");
  }
  LOG("factory %s(%u) -> %#" PRIx64, who, i, t);
  do_action(&r, 0, "factory");
  cb_end();
  return TK(t);
}

static const tapir_task *cb_gate(void *ud, uint32_t attempt) {
  rec r;
  rec_enter(ud, "retry gate", &r);
  cb_begin(&r, "gate");
  fstate *f = r.ext;
  pthread_mutex_lock(&g_lmu);
  f->gates++;
  uint32_t gates = f->gates, next = f->next;
  pthread_mutex_unlock(&g_lmu);
  if (gates > next) failf("tapir_retry_on_fault called its gate %u times after %u attempts", gates, next);
  (void)attempt;
  const tapir_task *t = NULL;
  int32_t st;
  if (pct(8)) {
    uint64_t e = make_error_h();
    st = e ? CALL(tapir_task_from_error(ER(e), &t)) : CALL(tapir_task_completed(&t));
    if (e) release_ok(K_ERROR, e, "gate error");
  } else {
    st = CALL(tapir_delay((int64_t)rn(2), NULL, &t));
  }
  if (st != TAPIR_STATUS_OK) failf("making a gate task returned %s", stname(st));
  cb_end();
  return t;
}

static const tapir_task *cb_noo(void *ud, uint32_t i, const tapir_cancel_token *tok) {
  rec r;
  rec_enter(ud, "need_only_one factory", &r);
  cb_begin(&r, "noo");
  fstate *f = r.ext;
  if (!pthread_equal(pthread_self(), f->owner))
    failf("tapir_need_only_one ran a factory on another thread (the header: on the calling thread)");
  pthread_mutex_lock(&g_lmu);
  bool dup = i < 64 && (f->seen >> i) & 1;
  if (i < 64) f->seen |= 1ull << i;
  pthread_mutex_unlock(&g_lmu);
  if (i >= f->count || dup) failf("tapir_need_only_one called factory index %u %s (count %u)", i, dup ? "twice" : "out of range", f->count);
  if (!CALL(tapir_cancel_token_can_be_canceled(tok)))
    failf("tapir_need_only_one lent its factory token %#" PRIx64 " that cannot be canceled or is invalid (%s)", HV(tok),
          stname(CALL(tapir_last_status())));
  bool prod;
  uint64_t t = factory_task(f, f->gid, tok, &prod);
  if (t) fst_note_task(0, f, t, prod);
  do_action(&r, 0, "need_only_one factory");
  cb_end();
  return TK(t);
}
