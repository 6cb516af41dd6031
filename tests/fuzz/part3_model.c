
/* ================================================================ the model
 *
 * What the fuzzer owns: one slot per handle value, with the number of references
 * the fuzzer may still use (`refs`), references held by ledger records or queued
 * for release (`ext`), and calls in flight on it (`pins`). The mutex g_mu guards
 * the model only; no tapir call is ever made while it is held, so calls race
 * each other for real.
 *
 * A slot whose references are all gone moves to the graveyard (a per-kind FIFO),
 * from which stale handles are drawn. It is "strict" when no API can hand the same
 * handle value out again (nothing tapir lends it to, no permanent object); then every
 * call with it must fail with INVALID_HANDLE. A handle that may be revived (a task
 * with callbacks, which tapir lends to them; a token tapir can return again; a
 * permanent object) is "loose": calls may succeed or fail, and must be harmless.
 * Revival paths the fuzzer itself takes (tapir_source_task on a source, the token of
 * a cancel source or registration) are announced on the target slot first (`acq`).
 */

enum { K_TASK, K_SOURCE, K_ERROR, K_REG, K_SCHED, K_CTS, K_TOKEN, K_CREG, K_PROGRESS, NK };
static const char *kname[NK] = {"task", "source", "error", "registration", "scheduler",
                                "cancel_source", "token", "cancel_registration", "progress"};
enum {
  SUB_0, SCH_DEFAULT, SCH_INLINE, SCH_MANUAL, SCH_FOREIGN, TOK_NONE, TOK_CTS, TOK_CANCELED,
  TOK_LIB, SRC_MADE, SRC_LENT, ERR_MADE, ERR_LIB, TASK_COMPLETED
};
enum { SS_FREE, SS_LIVE, SS_GRAVE };
enum { AC_NONE, AC_LIVE, AC_BAD, AC_LOOSE };

typedef struct slot {
  uint64_t h;
  int hnext, lpos;
  uint8_t kind, st, sub, lent, perm, dying, strict, acqable;
  uint8_t canceled, completed, forwarded, removed_ok;
  uint8_t never; /* TASK: may never complete (a delay(-1), or derived from one) */
  int refs, ext, pins, acq;
  uint32_t rel_ep, acq_ep;
  uint64_t aux;  /* SOURCE: its task; CTS: its token; CREG: its token; REG: record ud; SCHED: fsched index */
  uint64_t aux2; /* SOURCE: creation flags; ERROR: payload; CREG: record ud */
  int32_t code;  /* ERROR made by the fuzzer: its code */
  uint32_t ninner;
  uint64_t state;
} slot;

#define MAXSLOTS 8192
#define LIVE_SOFT 700
#define GRAVE 48
#define HB (1 << 14)
static slot g_slots[MAXSLOTS];
static int g_sfree[MAXSLOTS], g_nsfree;
static int g_bucket[HB];
static int g_live[NK][MAXSLOTS], g_nlive[NK];
static atomic_int g_nlive_all;
static int g_grave[NK][GRAVE + 8], g_ngrave[NK];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
#define L() pthread_mutex_lock(&g_mu)
#define U() pthread_mutex_unlock(&g_mu)

static unsigned hb(uint64_t h) { return (unsigned)(mix64(h) & (HB - 1)); }

static void model_init(void) {
  for (int i = 0; i < HB; i++) g_bucket[i] = -1;
  for (int i = MAXSLOTS - 1; i >= 0; i--) g_sfree[g_nsfree++] = i;
}

static int s_find(uint64_t h) {
  for (int i = g_bucket[hb(h)]; i >= 0; i = g_slots[i].hnext)
    if (g_slots[i].h == h) return i;
  return -1;
}

static void s_hash_del(int i) {
  int *p = &g_bucket[hb(g_slots[i].h)];
  while (*p != i) p = &g_slots[*p].hnext;
  *p = g_slots[i].hnext;
}

static void s_live_add(int i) {
  slot *s = &g_slots[i];
  s->lpos = g_nlive[s->kind];
  g_live[s->kind][g_nlive[s->kind]++] = i;
  g_nlive_all++;
}

static void s_live_del(int i) {
  slot *s = &g_slots[i];
  int k = s->kind, last = g_live[k][--g_nlive[k]];
  g_live[k][s->lpos] = last;
  g_slots[last].lpos = s->lpos;
  g_nlive_all--;
}

static void s_free(int i) {
  s_hash_del(i);
  g_slots[i].st = SS_FREE;
  g_sfree[g_nsfree++] = i;
}

static void s_grave_del(int i) {
  slot *s = &g_slots[i];
  int k = s->kind;
  for (int j = 0; j < g_ngrave[k]; j++)
    if (g_grave[k][j] == i) {
      memmove(&g_grave[k][j], &g_grave[k][j + 1], (size_t)(g_ngrave[k] - j - 1) * sizeof(int));
      g_ngrave[k]--;
      return;
    }
}

/* Evicts the oldest unpinned grave of kind k (any kind if k < 0). */
static bool s_evict(int k) {
  for (int kk = (k < 0 ? 0 : k); kk < (k < 0 ? NK : k + 1); kk++)
    for (int j = 0; j < g_ngrave[kk]; j++) {
      int i = g_grave[kk][j];
      if (g_slots[i].pins) continue;
      s_grave_del(i);
      s_free(i);
      return true;
    }
  return false;
}

static void s_to_grave(int i) {
  slot *s = &g_slots[i];
  s_live_del(i);
  s->st = SS_GRAVE;
  s->dying = 0;
  s->strict = !s->lent && !s->perm && s->sub != SRC_LENT && s->sub != TOK_LIB && s->sub != ERR_LIB;
  /* with these families excluded, released handles of the kind are only loose */
  if ((s->kind == K_CTS && !fam_on(FAM_STALECTS)) || (s->kind == K_TOKEN && !fam_on(FAM_STALETOKEN))) s->strict = 0;
  int k = s->kind;
  if (g_ngrave[k] >= GRAVE && !s_evict(k) && g_ngrave[k] >= GRAVE + 8) {
    s_free(i); /* every grave of this kind is pinned: drop this one */
    return;
  }
  g_grave[k][g_ngrave[k]++] = i;
}

static void s_maybe_grave(int i) {
  slot *s = &g_slots[i];
  if (s->st == SS_LIVE && s->refs == 0 && s->ext == 0 && s->pins == 0) s_to_grave(i);
}

static void failf_unlock(const char *msg, uint64_t h, const char *k1, const char *k2) FZ_NORETURN;
static void failf_unlock(const char *msg, uint64_t h, const char *k1, const char *k2) {
  U();
  failf("%s: handle %#" PRIx64 " (%s / %s)", msg, h, k1, k2);
}

/* lock held: the fuzzer gained one reference to `h`. Returns the slot, or -1 when
 * the model is full (the caller then releases the reference itself). */
static int m_add_l(int kind, uint64_t h, int sub) {
  int i = s_find(h);
  if (i >= 0) {
    slot *s = &g_slots[i];
    if (s->kind != kind)
      failf_unlock("one handle value came back as two kinds of object", h, kname[s->kind], kname[kind]);
    if (s->st == SS_LIVE) {
      s->refs++;
      s->dying = 0;
      return i;
    }
    if (s->strict && s->acq == 0)
      failf_unlock("tapir returned, for a new reference, a handle value the fuzzer had released for "
                   "good (no API hands it out again): a stale handle aliases a live object",
                   h, kname[kind], "graveyard");
    s_grave_del(i);
    s->st = SS_LIVE;
    s->refs = 1;
    s->dying = 0;
    s->acq_ep++;
    s_live_add(i);
    return i;
  }
  if (!g_nsfree && !s_evict(-1)) return -1;
  i = g_sfree[--g_nsfree];
  slot *s = &g_slots[i];
  memset(s, 0, sizeof *s);
  s->h = h;
  s->kind = (uint8_t)kind;
  s->sub = (uint8_t)sub;
  s->st = SS_LIVE;
  s->refs = 1;
  s->hnext = g_bucket[hb(h)];
  g_bucket[hb(h)] = i;
  s_live_add(i);
  return i;
}

static int32_t tp_release(int kind, uint64_t h);

/* Adds a reference to the model, or releases it when the model is full. */
static int m_add(int kind, uint64_t h, int sub, int lent) {
  L();
  int i = m_add_l(kind, h, sub);
  if (i >= 0 && lent) g_slots[i].lent = 1;
  U();
  if (i < 0) {
    int32_t st = CALL(tp_release(kind, h));
    if (st != TAPIR_STATUS_OK) failf("release of a fresh %s reference returned %s", kname[kind], stname(st));
  }
  return i;
}

/* A reference held outside the model (by a record) comes back, or goes away. */
static void model_unext(int kind, uint64_t h, bool back_to_model) {
  L();
  int i = s_find(h);
  if (i < 0 || g_slots[i].ext <= 0) {
    U();
    failf("fuzzer model: no external %s reference %#" PRIx64 " to return", kname[kind], h);
  }
  g_slots[i].ext--;
  if (back_to_model) g_slots[i].refs++;
  else s_maybe_grave(i);
  U();
}

/* Moves one model reference of slot i into a record (ext). */
static bool m_take_l(int i, uint64_t h) {
  if (i < 0) return false;
  slot *s = &g_slots[i];
  if (s->h != h || s->st != SS_LIVE || s->refs <= 0) return false;
  s->refs--;
  s->ext++;
  return true;
}

/* ---------------------------------------------------------------- arguments */

typedef struct {
  uint64_t h;
  int s;       /* pinned slot, or -1 */
  uint32_t ep;
  uint8_t cls, grave, kind;
} harg;

static harg a_none(uint8_t cls) {
  harg a;
  memset(&a, 0, sizeof a);
  a.s = -1;
  a.cls = cls;
  return a;
}

static harg a_live(int kind) {
  harg a = a_none(AC_NONE);
  a.kind = (uint8_t)kind;
  L();
  int n = g_nlive[kind];
  for (int t = 0; t < 6 && n; t++) {
    int i = g_live[kind][rn((unsigned)n)];
    slot *s = &g_slots[i];
    if (s->refs > 0 && !s->dying) {
      s->pins++;
      a.h = s->h;
      a.s = i;
      a.ep = s->rel_ep;
      a.cls = AC_LIVE;
      break;
    }
  }
  U();
  return a;
}

static harg a_grave(int kind) {
  harg a = a_none(AC_NONE);
  a.kind = (uint8_t)kind;
  L();
  if (g_ngrave[kind]) {
    int i = g_grave[kind][rn((unsigned)g_ngrave[kind])];
    slot *s = &g_slots[i];
    s->pins++;
    a.h = s->h;
    a.s = i;
    a.grave = 1;
    a.ep = s->acq_ep;
    a.cls = (s->strict && s->acq == 0) ? AC_BAD : AC_LOOSE;
  }
  U();
  return a;
}

/* A live handle of a kind that is neither `kind` nor `alt`: always refused. */
static harg a_wrong(int kind, int alt) {
  harg a = a_none(AC_NONE);
  L();
  for (int t = 0; t < 8; t++) {
    int k = (int)rn(NK);
    if (k == kind || k == alt || !g_nlive[k]) continue;
    /* with kindct excluded, a cancel source is never passed as a token or back */
    if (!fam_on(FAM_KINDCT) && ((k == K_CTS && kind == K_TOKEN) || (k == K_TOKEN && kind == K_CTS))) continue;
    a.h = g_slots[g_live[k][rn((unsigned)g_nlive[k])]].h;
    a.cls = AC_BAD;
    break;
  }
  U();
  return a;
}

/* A value no live object has: random bits, or a live handle with other generation bits. */
static harg a_forged(int kind) {
  harg a = a_none(AC_BAD);
  for (int t = 0; t < 16; t++) {
    uint64_t h;
    L();
    if (pct(50) || !g_nlive[kind]) h = rnd() | 1;
    else h = g_slots[g_live[kind][rn((unsigned)g_nlive[kind])]].h ^ ((uint64_t)(1 + rn(255)) << 44);
    bool known = s_find(h) >= 0;
    U();
    if (!known && h && ((h >> 28) & 0xF) < 0xE) {
      a.h = h;
      return a;
    }
  }
  a.h = 0x7777000000000001ull;
  return a;
}

/* Ends a call: unpins, and downgrades certainty when the handle raced a release
 * (live) or a revival (grave) while the call ran. */
static const char *clsname[] = {"none/NULL", "live", "certainly invalid", "loose"};
static void a_note(const harg *a, int kind, const char *why) {
  thr *t = me();
  snprintf(t->args[t->nargs++ % 8], sizeof t->args[0], "%s arg %#" PRIx64 ": %s (%s)", kname[kind], a->h, why,
           clsname[a->cls]);
}

static void a_done(harg *a) {
  if (a->s < 0) return;
  L();
  slot *s = &g_slots[a->s];
  s->pins--;
  if (!a->grave && a->cls == AC_LIVE && (s->rel_ep != a->ep || s->st != SS_LIVE)) {
    a->cls = AC_LOOSE;
    a_note(a, s->kind, "raced a release of its last reference");
  }
  if (a->grave && a->cls == AC_BAD && (s->acq_ep != a->ep || s->st != SS_GRAVE)) {
    a->cls = AC_LOOSE;
    a_note(a, s->kind, "revived while the call ran");
  }
  s_maybe_grave(a->s);
  U();
  a->s = -1;
}

static unsigned a_flt(const harg *a, bool required) {
  switch (a->cls) {
  case AC_NONE: return required ? F_NULL : 0;
  case AC_BAD: return F_BAD;
  case AC_LOOSE: return F_LOOSE;
  default: return (!a->h && required) ? F_NULL : 0;
  }
}

/* Marks a handle as lent: tapir may hand the same value to callbacks or return it
 * again, so once released it is loose, not strict. */
static void a_lend(const harg *a) {
  if (a->s < 0 || a->grave) return;
  L();
  if (g_slots[a->s].h == a->h) g_slots[a->s].lent = 1;
  U();
}

/* Reads a field of a pinned argument's slot (0 when not pinned). */
#define A_FIELD(a, f) a_field_u64((a), offsetof(slot, f), sizeof(((slot *)0)->f))
static uint64_t a_field_u64(const harg *a, size_t off, size_t size) {
  uint64_t v = 0;
  L();
  if (a->s >= 0 && g_slots[a->s].h == a->h) {
    const unsigned char *p = (const unsigned char *)&g_slots[a->s] + off;
    switch (size) {
    case 1: v = *p; break;
    case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
    default: memcpy(&v, p, 8); break;
    }
  }
  U();
  return v;
}

/* ================================================================ lineage
 *
 * Which values may legitimately be read from which task. A task's node lists edges:
 * FM_TASK (it completes as that task does: when_all inputs excluded, those are
 * structured), FM_ID (this raw value or origin id may appear), FM_UNWRAP (it
 * completes as whatever task the given outer task's value is). Edges are added
 * before the call that creates the forwarding, so a read never races ahead of the
 * model. Nodes live in a FIFO ring; a read that reaches an evicted node is not
 * judged (counted as unchecked).
 */

enum { FM_TASK, FM_ID, FM_UNWRAP };
enum { CT_NONE, CT_ALL, CT_SETTLED, CT_ANY, CT_FIRSTERR };
#define TI_MAX (1 << 16)
#define TI_E 6
typedef struct tinfo {
  uint64_t h;
  int hnext;
  uint8_t used, overflow, ctype, nin, nfrom, ntv, has_state, tv_overflow;
  int8_t status;       /* a final status observed, or 0 */
  uint32_t options;
  uint64_t state;
  uint64_t from[TI_E];
  uint8_t fmode[TI_E];
  uint64_t tv[4];
  uint64_t in[TI_E];
} tinfo;
static tinfo g_ti[TI_MAX];
static int g_tib[TI_MAX];
static int g_tiring;
static atomic_ullong g_reads_checked, g_reads_unchecked;

static void ti_init(void) {
  for (int i = 0; i < TI_MAX; i++) g_tib[i] = -1;
}

static unsigned tib(uint64_t h) { return (unsigned)((mix64(h) >> 7) & (TI_MAX - 1)); }

/* lock held */
static tinfo *ti_get(uint64_t h, bool create) {
  if (!h) return NULL;
  for (int i = g_tib[tib(h)]; i >= 0; i = g_ti[i].hnext)
    if (g_ti[i].h == h) return &g_ti[i];
  if (!create) return NULL;
  int i = g_tiring;
  g_tiring = (g_tiring + 1) % TI_MAX;
  tinfo *t = &g_ti[i];
  if (t->used) {
    int *p = &g_tib[tib(t->h)];
    while (*p != i) p = &g_ti[*p].hnext;
    *p = t->hnext;
  }
  memset(t, 0, sizeof *t);
  t->used = 1;
  t->h = h;
  t->hnext = g_tib[tib(h)];
  g_tib[tib(h)] = i;
  return t;
}

static void ti_from_l(uint64_t h, int mode, uint64_t x) {
  tinfo *t = ti_get(h, true);
  for (int k = 0; k < t->nfrom; k++)
    if (t->from[k] == x && t->fmode[k] == mode) return;
  if (t->nfrom == TI_E) {
    t->overflow = 1;
    return;
  }
  t->from[t->nfrom] = x;
  t->fmode[t->nfrom++] = (uint8_t)mode;
}

static void ti_from(uint64_t h, int mode, uint64_t x) {
  L();
  ti_from_l(h, mode, x);
  U();
}

static void ti_tv_l(uint64_t h, uint64_t x) {
  tinfo *t = ti_get(h, true);
  if (t->ntv == 4) t->tv_overflow = 1;
  else t->tv[t->ntv++] = x;
}

enum { LN_OK, LN_BAD, LN_UNKNOWN };
enum { VK_ORIGIN, VK_TAG, VK_RAW };

/* Is a value with key `key` (an origin id, a tag, or a raw value) one that task
 * `h` may carry? lock held */
static int lineage_l(uint64_t h, int vk, uint64_t key, uint64_t raw) {
  uint64_t q[48];
  int nq = 0, head = 0;
  bool unknown = false;
  q[nq++] = h;
  while (head < nq) {
    uint64_t n = q[head++];
    tinfo *t = ti_get(n, false);
    if (!t) {
      unknown = true;
      continue;
    }
    if (n != h && t->ctype != CT_NONE) unknown = true; /* a structured value flows in */
    if (t->overflow) unknown = true;
    if ((vk == VK_ORIGIN && key == n) || (vk == VK_TAG && hash32(n) == (uint32_t)key)) return LN_OK;
    for (int k = 0; k < t->nfrom; k++) {
      uint64_t x = t->from[k];
      switch (t->fmode[k]) {
      case FM_ID:
        if (x == raw || (vk == VK_ORIGIN && x == key) || (vk == VK_TAG && x && hash32(x) == (uint32_t)key)) return LN_OK;
        break;
      case FM_TASK:
        if (nq < 48) {
          bool seen = false;
          for (int j = 0; j < nq; j++) seen |= q[j] == x;
          if (!seen) q[nq++] = x;
        } else unknown = true;
        break;
      case FM_UNWRAP: {
        tinfo *o = ti_get(x, false);
        if (!o || o->tv_overflow || o->overflow) unknown = true;
        if (o)
          for (int j = 0; j < o->ntv; j++) {
            if (nq < 48) {
              bool seen = false;
              for (int m = 0; m < nq; m++) seen |= q[m] == o->tv[j];
              if (!seen) q[nq++] = o->tv[j];
            } else unknown = true;
          }
        break;
      }
      }
    }
  }
  return unknown ? LN_UNKNOWN : LN_BAD;
}
