/* tapir side of the benchmark suite (see docs/benchmarks.md for the workloads).
 * usage: tapir_bench WORKLOAD N
 *   WORKLOAD = W1 W2 W3 W3s (W3 on a 256 KiB-stack thread) W4 W5 W5q (interleaved)
 *              W5qa (W5q by repeated when_any) W6b W6c W7 (tapir_run) W7p (scheduler_post)
 * Combinators the header does not have yet are reported as status=not-yet-in-tapir;
 * the Makefile defines HAVE_TAPIR_<NAME> for each one it finds in include/tapir.h. */
#include "bench_util.h"
#include "tapir.h"

#include <pthread.h>
#include <stdatomic.h>

#define LIB "tapir"

#define CHECK(call)                                                                      \
    do {                                                                                 \
        tapir_status st_ = (call);                                                       \
        if (st_ != TAPIR_STATUS_OK) {                                                    \
            fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #call,              \
                    tapir_status_str(st_));                                              \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

static const tapir_continuation_options SYNC = {
    sizeof(tapir_continuation_options), TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, NULL, NULL};

static uintptr_t result_of(const tapir_task *t)
{
    void *v = NULL;
    CHECK(tapir_task_result(t, &v));
    return (uintptr_t)v;
}

static void increment(void *counter, const tapir_task *completed)
{
    (void)completed;
    ++*(unsigned long *)counter;
}

/* ---- W1: source lifecycle with one synchronous continuation ---- */
static void w1_loop(long n, unsigned long *counter)
{
    for (long i = 0; i < n; i++) {
        const tapir_source *s;
        const tapir_task *t;
        CHECK(tapir_source_new(0, NULL, &s));
        CHECK(tapir_source_task(s, &t));
        CHECK(tapir_task_on_complete(t, increment, counter, NULL, &SYNC, NULL));
        CHECK(tapir_source_set_result(s, (void *)(uintptr_t)i, NULL));
        tapir_task_release(t);
        tapir_source_release(s);
    }
}

/* ---- W2: an already-completed task plus one synchronous continuation ---- */
static void w2_loop(long n, unsigned long *counter)
{
    for (long i = 0; i < n; i++) {
        const tapir_task *t;
        CHECK(tapir_task_from_result((void *)(uintptr_t)i, NULL, &t));
        CHECK(tapir_task_on_complete(t, increment, counter, NULL, &SYNC, NULL));
        tapir_task_release(t);
    }
}

static int run_loop(const char *workload, long n, void (*loop)(long, unsigned long *))
{
    unsigned long warm = 0, counter = 0;
    loop(n / 10 + 1, &warm);
    bench_mc_start();
    double t0 = bench_now_ns();
    loop(n, &counter);
    double t1 = bench_now_ns();
    bench_mc_stop();
    bench_report(LIB, workload, n, t1 - t0, counter == (unsigned long)n, NULL);
    return 0;
}

/* ---- W3: a chain of synchronous continuations ---- */
struct chain_run {
    long depth;
    long links;         /* callbacks run so far: the value each link passes on */
    long stale;         /* callbacks whose antecedent handle was not readable */
    double build_ns, fire_ns;
    int ok;
};

/* The chain releases each task as soon as its continuation is registered (the
 * `t = t.ContinueWith(...)` pattern), so the value passed on is counted here rather
 * than read from the antecedent; reading the antecedent is still done, and counted
 * as stale if tapir refuses the borrowed handle. */
static void link_next(void *arg, const tapir_task *antecedent, const tapir_source *next)
{
    struct chain_run *r = arg;
    void *v;
    if (tapir_task_result(antecedent, &v) != TAPIR_STATUS_OK)
        r->stale++;
    tapir_source_set_result(next, (void *)(uintptr_t)++r->links, NULL);
}

static void *chain(void *arg)
{
    struct chain_run *r = arg;
    const tapir_source *root;
    const tapir_task *last;
    double t0 = bench_now_ns();
    CHECK(tapir_source_new(0, NULL, &root));
    CHECK(tapir_source_task(root, &last));
    for (long k = 0; k < r->depth; k++) {
        const tapir_task *next;
        CHECK(tapir_task_continue_with(last, link_next, r, NULL, &SYNC, &next));
        tapir_task_release(last);
        last = next;
    }
    double t1 = bench_now_ns();
    CHECK(tapir_source_set_result(root, (void *)0, NULL));
    CHECK(tapir_task_wait(last, TAPIR_INFINITE));
    double t2 = bench_now_ns();
    r->ok = result_of(last) == (uintptr_t)r->depth && r->links == r->depth;
    tapir_task_release(last);
    tapir_source_release(root);
    r->build_ns = t1 - t0;
    r->fire_ns = t2 - t1;
    return NULL;
}

static int w3(const char *workload, long depth, size_t stack_size)
{
    struct chain_run warm = {.depth = 1000}, r = {.depth = depth};
    if (stack_size == 0) {
        chain(&warm);
        chain(&r);
    } else {
        pthread_attr_t attr;
        pthread_t th;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, stack_size);
        if (pthread_create(&th, &attr, chain, &warm) != 0 || pthread_join(th, NULL) != 0 ||
            pthread_create(&th, &attr, chain, &r) != 0 || pthread_join(th, NULL) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
        pthread_attr_destroy(&attr);
    }
    bench_report(LIB, workload, depth, r.build_ns + r.fire_ns, r.ok && warm.ok,
                 "build_ns_per_op=%.2f fire_ns_per_op=%.2f stack_kib=%zu stale_antecedents=%ld",
                 r.build_ns / depth, r.fire_ns / depth, stack_size / 1024, r.stale);
    return 0;
}

/* ---- helpers for W4..W6: arrays of pending sources ---- */
static void make_sources(long n, const tapir_source **src, const tapir_task **tasks)
{
    for (long i = 0; i < n; i++) {
        CHECK(tapir_source_new(0, NULL, &src[i]));
        CHECK(tapir_source_task(src[i], &tasks[i]));
    }
}

static void release_all(long n, const tapir_source **src, const tapir_task **tasks)
{
    for (long i = 0; i < n; i++) {
        tapir_task_release(tasks[i]);
        tapir_source_release(src[i]);
    }
}

static void count_and_complete(void *counter, const tapir_task *antecedent, const tapir_source *next)
{
    (void)antecedent;
    ++*(unsigned long *)counter;
    tapir_source_set_result(next, NULL, NULL);
}

/* ---- W4: when_all over N pending tasks, one continuation, complete in order ---- */
static int w4(long n)
{
#ifdef HAVE_TAPIR_WHEN_ALL
    const tapir_source **src = malloc(sizeof *src * (size_t)n);
    const tapir_task **tasks = malloc(sizeof *tasks * (size_t)n);
    unsigned long ran = 0;
    long long rss0 = bench_maxrss_bytes();
    double t0 = bench_now_ns();
    make_sources(n, src, tasks);
    double t1 = bench_now_ns();
    const tapir_task *all, *cont;
    CHECK(tapir_when_all(tasks, (size_t)n, &all));
    CHECK(tapir_task_continue_with(all, count_and_complete, &ran, NULL, &SYNC, &cont));
    for (long i = 0; i < n; i++)
        CHECK(tapir_source_set_result(src[i], (void *)(uintptr_t)i, NULL));
    CHECK(tapir_task_wait(cont, TAPIR_INFINITE));
    double t2 = bench_now_ns();
    long long rss1 = bench_maxrss_bytes();
    void *all_value;
    int ok = ran == 1 && tapir_task_result(all, &all_value) == TAPIR_STATUS_OK;
    tapir_task_release(cont);
    tapir_task_release(all);
    release_all(n, src, tasks);
    free(src);
    free(tasks);
    bench_report(LIB, "W4", n, t2 - t0, ok, "combine_ms=%.3f rss_bytes_per_input=%.1f",
                 (t2 - t1) / 1e6, (double)(rss1 - rss0) / (double)n);
#else
    bench_skip(LIB, "W4", n, "not-yet-in-tapir");
#endif
    return 0;
}

/* ---- W5: when_any over N pending tasks, complete the middle one ---- */
static int w5(long n)
{
#ifdef HAVE_TAPIR_WHEN_ANY
    const tapir_source **src = malloc(sizeof *src * (size_t)n);
    const tapir_task **tasks = malloc(sizeof *tasks * (size_t)n);
    double t0 = bench_now_ns();
    make_sources(n, src, tasks);
    double t1 = bench_now_ns();
    const tapir_task *any;
    CHECK(tapir_when_any(tasks, (size_t)n, NULL, &any));
    CHECK(tapir_source_set_result(src[n / 2], (void *)(uintptr_t)7, NULL));
    CHECK(tapir_task_wait(any, TAPIR_INFINITE));
    double t2 = bench_now_ns();
    int ok = result_of(any) == (uintptr_t)(n / 2);
    tapir_task_release(any);
    release_all(n, src, tasks);
    free(src);
    free(tasks);
    bench_report(LIB, "W5", n, t2 - t0, ok, "combine_ms=%.3f", (t2 - t1) / 1e6);
#else
    bench_skip(LIB, "W5", n, "not-yet-in-tapir");
#endif
    return 0;
}

/* ---- W5q: consume N tasks in completion order (the interleaved combinator) ---- */
static int w5q(long n)
{
#ifdef HAVE_TAPIR_INTERLEAVED
    const tapir_source **src = malloc(sizeof *src * (size_t)n);
    const tapir_task **tasks = malloc(sizeof *tasks * (size_t)n);
    const tapir_task **buckets = malloc(sizeof *buckets * (size_t)n);
    long *order = malloc(sizeof *order * (size_t)n);
    bench_completion_order(n, order);
    make_sources(n, src, tasks);
    int ok = 1;
    double t0 = bench_now_ns();
    CHECK(tapir_interleaved(tasks, (size_t)n, buckets));
    for (long k = 0; k < n; k++) {
        CHECK(tapir_source_set_result(src[order[k]], (void *)(uintptr_t)order[k], NULL));
        CHECK(tapir_task_wait(buckets[k], TAPIR_INFINITE));
        ok &= result_of(buckets[k]) == (uintptr_t)order[k];
    }
    double t1 = bench_now_ns();
    for (long k = 0; k < n; k++)
        tapir_task_release(buckets[k]);
    release_all(n, src, tasks);
    free(src);
    free(tasks);
    free(buckets);
    free(order);
    bench_report(LIB, "W5q", n, t1 - t0, ok, NULL);
#else
    bench_skip(LIB, "W5q", n, "not-yet-in-tapir");
#endif
    return 0;
}

/* ---- W5qa: the peers' way of doing W5q: repeated when_any over the remaining set ---- */
static int w5q_any(long n)
{
#ifdef HAVE_TAPIR_WHEN_ANY
    const tapir_source **src = malloc(sizeof *src * (size_t)n);
    const tapir_task **tasks = malloc(sizeof *tasks * (size_t)n);
    const tapir_task **rest = malloc(sizeof *rest * (size_t)n);
    long *order = malloc(sizeof *order * (size_t)n), *rest_id = malloc(sizeof *rest_id * (size_t)n);
    bench_completion_order(n, order);
    make_sources(n, src, tasks);
    for (long i = 0; i < n; i++) {
        rest[i] = tasks[i];
        rest_id[i] = i;
    }
    int ok = 1;
    long left = n;
    double t0 = bench_now_ns();
    for (long k = 0; k < n; k++) {
        const tapir_task *any;
        CHECK(tapir_when_any(rest, (size_t)left, NULL, &any));
        CHECK(tapir_source_set_result(src[order[k]], NULL, NULL));
        CHECK(tapir_task_wait(any, TAPIR_INFINITE));
        size_t won = result_of(any);
        tapir_task_release(any);
        ok &= rest_id[won] == order[k];
        left--; /* swap-remove the winner */
        rest[won] = rest[left];
        rest_id[won] = rest_id[left];
    }
    double t1 = bench_now_ns();
    release_all(n, src, tasks);
    free(src);
    free(tasks);
    free(rest);
    free(order);
    free(rest_id);
    bench_report(LIB "-whenany", "W5q", n, t1 - t0, ok, NULL);
#else
    bench_skip(LIB "-whenany", "W5q", n, "not-yet-in-tapir");
#endif
    return 0;
}

/* ---- W6b: ping-pong between two threads with blocking waits ---- */
struct pingpong {
    long n;
    const tapir_source **ping, **pong;
    const tapir_task **ping_t, **pong_t;
};

static void *pong_thread(void *arg)
{
    struct pingpong *p = arg;
    for (long i = 0; i < p->n; i++) {
        CHECK(tapir_task_wait(p->ping_t[i], TAPIR_INFINITE));
        CHECK(tapir_source_set_result(p->pong[i], (void *)(uintptr_t)i, NULL));
    }
    return NULL;
}

static void pingpong_alloc(struct pingpong *p, long n)
{
    p->n = n;
    p->ping = malloc(sizeof *p->ping * (size_t)n);
    p->pong = malloc(sizeof *p->pong * (size_t)n);
    p->ping_t = malloc(sizeof *p->ping_t * (size_t)n);
    p->pong_t = malloc(sizeof *p->pong_t * (size_t)n);
    make_sources(n, p->ping, p->ping_t);
    make_sources(n, p->pong, p->pong_t);
}

static void pingpong_free(struct pingpong *p)
{
    release_all(p->n, p->ping, p->ping_t);
    release_all(p->n, p->pong, p->pong_t);
    free(p->ping);
    free(p->pong);
    free(p->ping_t);
    free(p->pong_t);
}

static double w6b_once(long n, int *ok)
{
    struct pingpong p;
    pthread_t th;
    pingpong_alloc(&p, n);
    double t0 = bench_now_ns();
    pthread_create(&th, NULL, pong_thread, &p);
    for (long i = 0; i < n; i++) {
        CHECK(tapir_source_set_result(p.ping[i], (void *)(uintptr_t)i, NULL));
        CHECK(tapir_task_wait(p.pong_t[i], TAPIR_INFINITE));
    }
    double t1 = bench_now_ns();
    pthread_join(th, NULL);
    *ok = result_of(p.pong_t[n - 1]) == (uintptr_t)(n - 1);
    pingpong_free(&p);
    return t1 - t0;
}

/* ---- W6c: the same hand-off done by default-scheduled (asynchronous) continuations ---- */
static void hand_off(void *next_source, const tapir_task *completed)
{
    tapir_source_set_result(next_source, (void *)(result_of(completed) + 1), NULL);
}

static double w6c_once(long n, int *ok)
{
    struct pingpong p;
    pingpong_alloc(&p, n);
    for (long i = 0; i < n; i++) {
        CHECK(tapir_task_on_complete(p.ping_t[i], hand_off, (void *)p.pong[i], NULL, NULL, NULL));
        if (i + 1 < n)
            CHECK(tapir_task_on_complete(p.pong_t[i], hand_off, (void *)p.ping[i + 1], NULL, NULL,
                                         NULL));
    }
    double t0 = bench_now_ns();
    CHECK(tapir_source_set_result(p.ping[0], (void *)0, NULL));
    CHECK(tapir_task_wait(p.pong_t[n - 1], TAPIR_INFINITE));
    double t1 = bench_now_ns();
    *ok = result_of(p.pong_t[n - 1]) == (uintptr_t)(2 * n - 1);
    pingpong_free(&p);
    return t1 - t0;
}

static int w6(const char *workload, long n, double (*once)(long, int *))
{
    int ok_warm, ok;
    once(1000, &ok_warm);
    double ns = once(n, &ok);
    bench_report(LIB, workload, n, ns, ok && ok_warm, NULL);
    return 0;
}

/* ---- W7: N tiny jobs on the default pool: tapir_run tasks (W7) or posted work items (W7p) ---- */
struct spawn {
    _Atomic long done;
    long n;
    const tapir_source *all_done;
};

static void count_job(struct spawn *s)
{
    if (atomic_fetch_add_explicit(&s->done, 1, memory_order_acq_rel) + 1 == s->n)
        tapir_source_set_result(s->all_done, NULL, NULL);
}

static void tiny_work(void *arg) { count_job(arg); }

#ifdef HAVE_TAPIR_RUN
static void tiny_task(void *arg, const tapir_source *source)
{
    count_job(arg);
    tapir_source_set_result(source, NULL, NULL);
}
#endif

static double w7_once(const tapir_scheduler *pool, long n, int as_tasks, int *ok)
{
    struct spawn s;
    const tapir_task *t;
    atomic_init(&s.done, 0);
    s.n = n;
    CHECK(tapir_source_new(0, NULL, &s.all_done));
    CHECK(tapir_source_task(s.all_done, &t));
    double t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
#ifdef HAVE_TAPIR_RUN
        if (as_tasks) {
            const tapir_task *job;
            CHECK(tapir_run(NULL, tiny_task, &s, NULL, NULL, &job));
            tapir_task_release(job);
            continue;
        }
#endif
        (void)as_tasks;
        CHECK(tapir_scheduler_post(pool, tiny_work, &s, NULL));
    }
    CHECK(tapir_task_wait(t, TAPIR_INFINITE));
    double t1 = bench_now_ns();
    *ok = atomic_load(&s.done) == n;
    tapir_task_release(t);
    tapir_source_release(s.all_done);
    return t1 - t0;
}

static int w7(const char *workload, long n, int as_tasks)
{
    (void)workload;
#ifndef HAVE_TAPIR_RUN
    if (as_tasks) {
        bench_skip(LIB, workload, n, "not-yet-in-tapir");
        return 0;
    }
#endif
    const tapir_scheduler *pool;
    int ok_warm, ok;
    CHECK(tapir_scheduler_default(&pool));
    w7_once(pool, 10000, as_tasks, &ok_warm);
    double ns = w7_once(pool, n, as_tasks, &ok);
    tapir_scheduler_release(pool);
    bench_report(as_tasks ? LIB : LIB "-post", "W7", n, ns, ok && ok_warm, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s W1|W2|W3|W3s|W4|W5|W5q|W5qa|W6b|W6c|W7|W7p N\n", argv[0]);
        return 2;
    }
    const char *w = argv[1];
    long n = atol(argv[2]);
    if (n < 1) {
        fprintf(stderr, "N must be positive\n");
        return 2;
    }
    int rc;
    if (!strcmp(w, "W1"))
        rc = run_loop(w, n, w1_loop);
    else if (!strcmp(w, "W2"))
        rc = run_loop(w, n, w2_loop);
    else if (!strcmp(w, "W3"))
        rc = w3(w, n, 0);
    else if (!strcmp(w, "W3s"))
        rc = w3(w, n, 256 * 1024);
    else if (!strcmp(w, "W4"))
        rc = w4(n);
    else if (!strcmp(w, "W5"))
        rc = w5(n);
    else if (!strcmp(w, "W5q"))
        rc = w5q(n);
    else if (!strcmp(w, "W5qa"))
        rc = w5q_any(n);
    else if (!strcmp(w, "W6b"))
        rc = w6(w, n, w6b_once);
    else if (!strcmp(w, "W6c"))
        rc = w6(w, n, w6c_once);
    else if (!strcmp(w, "W7"))
        rc = w7(w, n, 1);
    else if (!strcmp(w, "W7p"))
        rc = w7(w, n, 0);
    else {
        fprintf(stderr, "unknown workload %s\n", w);
        return 2;
    }
    tapir_shutdown();
    return rc;
}
