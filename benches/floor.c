/* The floor for W1 and W2: the same work as the tapir loop, done by the cheapest
 * completion object (floor_ops.c), to show how far tapir is from the minimum.
 * usage: floor W1|W2 N malloc|tls */
#include "bench_util.h"
#include "floor_ops.h"

static void increment(void *ctx, floor_obj *completed)
{
    (void)completed;
    ++*(unsigned long *)ctx;
}

static void w1(long n, unsigned long *counter)
{
    for (long i = 0; i < n; i++) {
        floor_obj *o = floor_new();
        floor_on_complete(o, increment, counter);
        floor_set_result(o, (void *)(uintptr_t)i);
        floor_release(o);
    }
}

static void w2(long n, unsigned long *counter)
{
    for (long i = 0; i < n; i++) {
        floor_obj *o = floor_new_completed((void *)(uintptr_t)i);
        floor_on_complete(o, increment, counter);
        floor_release(o);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s W1|W2 N malloc|tls\n", argv[0]);
        return 2;
    }
    const char *workload = argv[1];
    long n = atol(argv[2]);
    int tls = strcmp(argv[3], "tls") == 0;
    const char *lib = tls ? "floor-tls" : "floor-malloc";
    void (*run)(long, unsigned long *);
    if (strcmp(workload, "W1") == 0)
        run = w1;
    else if (strcmp(workload, "W2") == 0)
        run = w2;
    else {
        bench_skip(lib, workload, n, "n/a");
        return 0;
    }
    floor_set_mode(tls);

    unsigned long warm = 0, counter = 0;
    run(n / 10 + 1, &warm);
    bench_mc_start();
    double t0 = bench_now_ns();
    run(n, &counter);
    double t1 = bench_now_ns();
    bench_mc_stop();
    bench_report(lib, workload, n, t1 - t0, counter == (unsigned long)n, NULL);
    return 0;
}
