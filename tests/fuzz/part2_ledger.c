
/* ================================================================ the ledger
 *
 * Every user_data, value and payload the fuzzer hands to tapir is a record here.
 * The pointer tapir receives is not memory: it encodes the record's index and
 * generation (with kind nibble 0xF, which no tapir handle uses), so a destroy or a
 * callback that arrives late, twice, or for someone else's record is recognised
 * instead of corrupting memory. A record that died stays in quarantine (state
 * DEAD or REFUSED, same generation) for a while before its index is reused, so a
 * second destroy is reported as such.
 */

enum { RK_CB, RK_VALUE, RK_PAYLOAD, RK_FACTORY, RK_CTX, RK_HANDLER };
enum { RS_FREE, RS_PENDING, RS_ACCEPTED, RS_DEAD, RS_REFUSED };
static const char *rsname[] = {"free", "pending", "accepted", "dead", "refused"};

typedef struct rec {
  uint32_t gen;
  uint8_t kind, state, removed, action;
  uint8_t nx, depth, no_run, own_kind[2];
  uint8_t sched_check; /* 1: the callback must see sched_h as tapir_scheduler_current() */
  uint8_t has_token;   /* a continuation with a token: its task may end canceled meanwhile */
  int calls, destroys, max_calls;
  const char *what;    /* the API that received it */
  uint64_t sched_h;
  uint64_t origin;     /* VALUE/PAYLOAD: the origin id; CB: the handle it was registered on */
  uint64_t own[2];     /* handles whose references the record holds */
  uint64_t seed;
  int32_t code;        /* PAYLOAD: the error code it belongs to */
  void *ext;           /* factory state (freed when the record is recycled) */
  const char *tname;
  unsigned long long op;
} rec;

#define RSEG 16384u
#define RMAXSEG 1024u
#define QUAR (1u << 15)
static rec *g_rseg[RMAXSEG];
static uint32_t g_nrec;
static uint32_t *g_rfree;
static uint32_t g_nrfree, g_caprfree;
static uint32_t g_quar[QUAR];
static uint32_t g_qhead, g_qn;
static pthread_mutex_t g_lmu = PTHREAD_MUTEX_INITIALIZER;
static long long g_rec_open;   /* PENDING + ACCEPTED records */
static unsigned long long g_rec_total;

static rec *rec_at(uint32_t i) { return &g_rseg[i / RSEG][i % RSEG]; }

static void rec_recycle(uint32_t i) {
  rec *r = rec_at(i);
  free(r->ext);
  r->ext = NULL;
  r->state = RS_FREE;
  if (g_nrfree == g_caprfree) {
    g_caprfree = g_caprfree ? g_caprfree * 2 : 4096;
    g_rfree = realloc(g_rfree, g_caprfree * sizeof *g_rfree);
    if (!g_rfree) abort();
  }
  g_rfree[g_nrfree++] = i;
}

/* lock held */
static void rec_kill(uint32_t i, int state) {
  rec *r = rec_at(i);
  if (r->state == RS_PENDING || r->state == RS_ACCEPTED) g_rec_open--;
  r->state = (uint8_t)state;
  if (g_qn == QUAR) {
    rec_recycle(g_quar[g_qhead]);
    g_quar[g_qhead] = i;
    g_qhead = (g_qhead + 1) % QUAR;
  } else {
    g_quar[(g_qhead + g_qn) % QUAR] = i;
    g_qn++;
  }
}

static void *rec_ud(uint32_t i) {
  return (void *)(uintptr_t)(((uint64_t)rec_at(i)->gen << 32) | (0xFull << 28) | i);
}

/* lock held; NULL when `ud` is not a record the ledger knows at that generation */
static rec *rec_decode(const void *ud, uint32_t *idx) {
  uint64_t b = (uint64_t)(uintptr_t)ud;
  if (((b >> 28) & 0xF) != 0xF) return NULL;
  uint32_t i = (uint32_t)(b & 0x0FFFFFFF);
  if (i >= g_nrec) return NULL;
  rec *r = rec_at(i);
  if (r->gen != (uint32_t)(b >> 32) || r->state == RS_FREE) return NULL;
  if (idx) *idx = i;
  return r;
}

static bool is_rec_value(const void *v) { return (((uint64_t)(uintptr_t)v >> 28) & 0xF) == 0xF; }
static bool is_plain_value(const void *v) { return (((uint64_t)(uintptr_t)v >> 28) & 0xF) == 0xE; }

static uint32_t rec_new(int kind, const char *what, int max_calls) {
  pthread_mutex_lock(&g_lmu);
  uint32_t i;
  if (g_nrfree) {
    i = g_rfree[--g_nrfree];
  } else {
    if (g_nrec % RSEG == 0) {
      if (g_nrec / RSEG >= RMAXSEG) {
        pthread_mutex_unlock(&g_lmu);
        failf("fuzzer: more than %u live ledger records", RMAXSEG * RSEG);
      }
      g_rseg[g_nrec / RSEG] = calloc(RSEG, sizeof(rec));
      if (!g_rseg[g_nrec / RSEG]) abort();
    }
    i = g_nrec++;
  }
  rec *r = rec_at(i);
  uint32_t gen = r->gen + 1;
  if (gen == 0) gen = 1;
  memset(r, 0, sizeof *r);
  r->gen = gen;
  r->kind = (uint8_t)kind;
  r->state = RS_PENDING;
  r->what = what;
  r->max_calls = max_calls;
  r->seed = rnd();
  r->tname = me()->name;
  r->op = atomic_load_explicit(&me()->ops, memory_order_relaxed);
  g_rec_open++;
  g_rec_total++;
  pthread_mutex_unlock(&g_lmu);
  return i;
}

/* ---------------------------------------------------------------- deferred releases
 * Destroy functions never call into tapir (a destroy may run inside any tapir call);
 * references a dying record held are queued here and released by a fuzzer thread. */

typedef struct {
  uint64_t h;
  int kind;
} dref;
static dref *g_def;
static int g_ndef, g_capdef;
static pthread_mutex_t g_dmu = PTHREAD_MUTEX_INITIALIZER;

static void defer_release(int kind, uint64_t h) {
  pthread_mutex_lock(&g_dmu);
  if (g_ndef == g_capdef) {
    g_capdef = g_capdef ? g_capdef * 2 : 1024;
    g_def = realloc(g_def, (size_t)g_capdef * sizeof *g_def);
    if (!g_def) abort();
  }
  g_def[g_ndef].h = h;
  g_def[g_ndef].kind = kind;
  g_ndef++;
  pthread_mutex_unlock(&g_dmu);
}

/* Hands a registration's outcome to the ledger, right after the registering call
 * returned. A failed call must have had no effect: no callback, no destroy. */
static void model_unext(int kind, uint64_t h, bool back_to_model);

static void rec_settle(uint32_t i, bool ok, const char *fn, int32_t st) {
  uint64_t give[2] = {0, 0};
  int gk[2] = {0, 0};
  pthread_mutex_lock(&g_lmu);
  rec *r = rec_at(i);
  if (ok) {
    if (r->state == RS_PENDING) {
      r->state = RS_ACCEPTED;
      if (r->destroys) rec_kill(i, RS_DEAD);
    }
  } else {
    if (r->calls || r->destroys) {
      int c = r->calls, d = r->destroys;
      pthread_mutex_unlock(&g_lmu);
      failf("%s returned %s, yet ran the callback %d time(s) and the destroy %d time(s) "
            "(a failed call must do nothing; the caller still owns user_data)",
            fn, stname(st), c, d);
    }
    for (int k = 0; k < 2; k++) {
      give[k] = r->own[k];
      gk[k] = r->own_kind[k];
      r->own[k] = 0;
    }
    rec_kill(i, RS_REFUSED);
  }
  pthread_mutex_unlock(&g_lmu);
  for (int k = 0; k < 2; k++)
    if (give[k]) model_unext(gk[k], give[k], true);
}

static void factory_ext_release(void *ext); /* lock g_lmu held */

/* The one destroy function for every record. */
static void fz_destroy(void *ud) {
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  pthread_mutex_lock(&g_lmu);
  uint32_t i;
  rec *r = rec_decode(ud, &i);
  if (!r) {
    pthread_mutex_unlock(&g_lmu);
    failf("destroy called with user data %p that no live record has (a destroy after the "
          "record's life ended: a second destroy, or a stale pointer)", ud);
  }
  if (r->state == RS_DEAD || r->state == RS_REFUSED) {
    const char *w = r->what, *s = rsname[r->state];
    int d = r->destroys;
    pthread_mutex_unlock(&g_lmu);
    if (s[0] == 'r')
      failf("destroy ran for the user data of a %s call that had failed (the caller owns it)", w);
    failf("destroy ran a second time for a record given to %s (destroys so far %d)", w, d);
  }
  r->destroys++;
  for (int k = 0; k < 2; k++)
    if (r->own[k]) {
      defer_release(r->own_kind[k], r->own[k]);
      r->own[k] = 0;
    }
  if (r->kind == RK_FACTORY && r->ext) factory_ext_release(r->ext);
  if (r->state == RS_ACCEPTED) rec_kill(i, RS_DEAD);
  pthread_mutex_unlock(&g_lmu);
}

/* A callback starts: the ledger counts the call and checks it may run at all. On
 * return *copy is a snapshot of the record; the record's owned references move to
 * the running callback. */
static void rec_enter(const void *ud, const char *fn, rec *copy) {
  atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_cb_calls, 1, memory_order_relaxed);
  pthread_mutex_lock(&g_lmu);
  uint32_t i;
  rec *r = rec_decode(ud, &i);
  if (!r) {
    pthread_mutex_unlock(&g_lmu);
    failf("%s ran with user data %p that no live record has (after its destroy, or never given)", fn, ud);
  }
  const char *bad = NULL;
  if (r->state == RS_DEAD) bad = "after its destroy had run";
  else if (r->state == RS_REFUSED) bad = "although the call that registered it had failed";
  else if (r->removed) bad = "after a removal of it had returned OK";
  else if (r->no_run) bad = "although its token was canceled before it could start";
  else if (r->max_calls && r->calls >= r->max_calls) bad = "more often than allowed (at most once)";
  if (bad) {
    const char *w = r->what;
    int c = r->calls;
    pthread_mutex_unlock(&g_lmu);
    failf("%s (given to %s) ran %s; calls before %d", fn, w, bad, c);
  }
  r->calls++;
  *copy = *r;
  r->own[0] = r->own[1] = 0;
  pthread_mutex_unlock(&g_lmu);
}

/* ---------------------------------------------------------------- values */

static uint32_t hash32(uint64_t x) { return (uint32_t)(mix64(x) >> 32) | 1u; }

/* A value to set on a task whose origin id is `origin`. With a destroy, a record
 * (destroy exactly once, never for a refused set); without, a tagged integer. */
static void *val_new(uint64_t origin, bool with_destroy, uint32_t *ri) {
  if (with_destroy) {
    uint32_t i = rec_new(RK_VALUE, "a value", 0);
    pthread_mutex_lock(&g_lmu);
    rec_at(i)->origin = origin;
    void *v = rec_ud(i);
    pthread_mutex_unlock(&g_lmu);
    *ri = i;
    return v;
  }
  *ri = UINT32_MAX;
  return (void *)(uintptr_t)(((uint64_t)hash32(origin) << 32) | (0xEull << 28) | (rnd() & 0x0FFFFFFF));
}

static void val_set_origin(uint32_t ri, uint64_t origin) {
  if (ri == UINT32_MAX) return;
  pthread_mutex_lock(&g_lmu);
  rec_at(ri)->origin = origin;
  pthread_mutex_unlock(&g_lmu);
}

static void val_settle(uint32_t ri, bool ok, const char *fn, int32_t st) {
  if (ri != UINT32_MAX) rec_settle(ri, ok, fn, st);
}
