/* pump_bench — how far a budgeted pump of a manual scheduler runs past its budget.
 *
 *   benches/build/pump_bench P1 [N [ITEM_US [BUDGET_MS]]]   (defaults 10000, 3, 1)
 *   make -C benches pump                                    (builds it and runs P1)
 *
 * N work items, each spinning ITEM_US microseconds, are queued on a manual scheduler;
 * the host then pumps it as a game loop would, with
 * tapir_scheduler_run_pending(sched, 0, BUDGET_MS, &ran), until every item ran.
 * tapir checks the budget between items, so a pump can overrun it by at most the one
 * item that started before the budget was used up. For every pump this prints the
 * items run, the pump's elapsed time, and its overshoot — the items that finished
 * past the budget, counted from the start of the pump's first item (the budget tapir
 * measures starts inside the call, just before that item) — then the suite's result
 * line:
 *   lib=tapir workload=P1 n=N ns_per_op=.. total_ms=.. ok=1 pumps=.. worst_pump_ms=..
 *     mean_pump_ms=.. max_overshoot=.. item_us=.. budget_ms=..
 * ok=1 when every item ran exactly once and no pump overshot by more than one item.
 * That bound holds however the process is preempted (an item that ends past the budget
 * makes the next check fail), so it is a check; the times are for reading only (a
 * preempted pump takes longer), never a pass/fail criterion. */
#include "bench_util.h"

#include <tapir.h>

static double *starts, *ends; /* per item, in bench_now_ns() time */
static long next_item;        /* items that ran, in order (the pump runs them FIFO) */
static double item_ns;

static void item(void *user_data)
{
    (void)user_data;
    double t = bench_now_ns();
    starts[next_item] = t;
    while (bench_now_ns() - t < item_ns) {
    }
    ends[next_item] = bench_now_ns();
    next_item++;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "P1") != 0) {
        fprintf(stderr, "usage: %s P1 [N [ITEM_US [BUDGET_MS]]]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 10000;
    double item_us = argc > 3 ? atof(argv[3]) : 3.0;
    long budget_ms = argc > 4 ? atol(argv[4]) : 1;
    if (n < 1 || item_us < 0 || budget_ms < 1) {
        fprintf(stderr, "N and BUDGET_MS must be positive, ITEM_US not negative\n");
        return 2;
    }
    item_ns = item_us * 1e3;
    starts = calloc((size_t)n, sizeof *starts);
    ends = calloc((size_t)n, sizeof *ends);
    if (!starts || !ends)
        return 1;

    const tapir_scheduler *sched = NULL;
    if (tapir_scheduler_new_manual(&sched) != TAPIR_STATUS_OK)
        return 1;
    for (long i = 0; i < n; i++)
        if (tapir_scheduler_post(sched, item, NULL, NULL) != TAPIR_STATUS_OK)
            return 1;

    const double budget_ns = (double)budget_ms * 1e6;
    long pumps = 0, max_overshoot = 0;
    double worst_ns = 0, sum_ns = 0;
    double t_begin = bench_now_ns();
    while (next_item < n) {
        long first = next_item;
        size_t ran = 0;
        double t0 = bench_now_ns();
        tapir_status rc = tapir_scheduler_run_pending(sched, 0, budget_ms, &ran);
        double t1 = bench_now_ns();
        if (rc != TAPIR_STATUS_OK || ran == 0 || (long)ran != next_item - first) {
            fprintf(stderr, "pump %ld: status %d, ran %zu\n", pumps + 1, (int)rc, ran);
            return 1;
        }
        double limit = starts[first] + budget_ns;
        long over = 0;
        for (long i = first; i < next_item; i++)
            if (ends[i] > limit)
                over++;
        pumps++;
        double elapsed = t1 - t0;
        sum_ns += elapsed;
        if (elapsed > worst_ns)
            worst_ns = elapsed;
        if (over > max_overshoot)
            max_overshoot = over;
        printf("pump %3ld: %4zu items  %.3f ms  overshoot %ld item%s\n", pumps, ran, elapsed / 1e6, over,
               over == 1 ? "" : "s");
    }
    double total = bench_now_ns() - t_begin;
    size_t left = 1;
    tapir_scheduler_run_pending(sched, 0, -1, &left); /* nothing may be left */
    tapir_scheduler_release(sched);
    int ok = next_item == n && left == 0 && max_overshoot <= 1;
    bench_report("tapir", "P1", n, total, ok,
                 "pumps=%ld worst_pump_ms=%.3f mean_pump_ms=%.3f max_overshoot=%ld item_us=%g budget_ms=%ld",
                 pumps, worst_ns / 1e6, sum_ns / 1e6 / (double)pumps, max_overshoot, item_us,
                 budget_ms);
    tapir_shutdown();
    return ok ? 0 : 1;
}
