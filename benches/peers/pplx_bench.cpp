// pplx (Microsoft C++ REST SDK tasks, Debian libcpprest-dev) side of the benchmark suite.
// usage: pplx_bench WORKLOAD N default|inline
//   default: tasks on pplx's ambient scheduler (cpprest's thread pool); continuations are
//            always scheduled on that pool, never run inline (pplx has no
//            ExecuteSynchronously option on Linux).
//   inline:  every task is created with a scheduler_interface whose schedule() runs the
//            work at once on the calling thread; continuations inherit it, so they run
//            synchronously inside tce.set(), like tapir's EXECUTE_SYNCHRONOUSLY.
#include "../bench_util.h"

#include <pplx/pplxtasks.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

struct inline_scheduler final : pplx::scheduler_interface {
    void schedule(pplx::TaskProc_t proc, void *param) override { proc(param); }
};

std::string g_lib = "pplx";
std::unique_ptr<pplx::task_options> g_opts_ptr;  // default, or the inline scheduler
const pplx::task_options &opts() { return *g_opts_ptr; }
bool g_inline = false;

void report(const char *w, long n, double ns, bool ok, const char *extra = nullptr,
            double a = 0, double b = 0)
{
    bench_report(g_lib.c_str(), w, n, ns, ok ? 1 : 0, extra, a, b);
}

// Continuations on the default scheduler run later on the pool: wait for all of them.
void await_count(const std::atomic<long> &counter, long n)
{
    while (counter.load(std::memory_order_acquire) < n)
        std::this_thread::yield();
}

// ---- W1 / W2 ----
void w1_loop(long n, std::atomic<long> &counter)
{
    for (long i = 0; i < n; i++) {
        pplx::task_completion_event<int> tce;
        pplx::task<int> t(tce, opts());
        t.then([&counter](int) { counter.fetch_add(1, std::memory_order_relaxed); });
        tce.set(static_cast<int>(i));
    }
    await_count(counter, n);
}

void w2_loop(long n, std::atomic<long> &counter)
{
    for (long i = 0; i < n; i++)
        pplx::task_from_result(static_cast<int>(i), opts()).then([&counter](int) {
            counter.fetch_add(1, std::memory_order_relaxed);
        });
    await_count(counter, n);
}

int run_loop(const char *w, long n, void (*loop)(long, std::atomic<long> &))
{
    std::atomic<long> warm{0}, counter{0};
    loop(n / 10 + 1, warm);
    bench_mc_start();
    double t0 = bench_now_ns();
    loop(n, counter);
    double t1 = bench_now_ns();
    bench_mc_stop();
    report(w, n, t1 - t0, counter.load() == n);
    return 0;
}

// ---- W3: chain of D continuations ----
bool chain(long depth, double &build_ns, double &fire_ns)
{
    double t0 = bench_now_ns();
    pplx::task_completion_event<long> root;
    pplx::task<long> last(root, opts());
    for (long k = 0; k < depth; k++)
        last = last.then([](long v) { return v + 1; });
    double t1 = bench_now_ns();
    root.set(0);
    long result = last.get();
    double t2 = bench_now_ns();
    build_ns = t1 - t0;
    fire_ns = t2 - t1;
    return result == depth;
}

int w3(long depth)
{
    double b, f;
    bool ok = chain(1000, b, f);
    ok = chain(depth, b, f) && ok;
    report("W3", depth, b + f, ok, "build_ns_per_op=%.2f fire_ns_per_op=%.2f", b / depth,
           f / depth);
    return 0;
}

struct sources {
    std::vector<pplx::task_completion_event<int>> tce;
    std::vector<pplx::task<int>> tasks;
    explicit sources(long n) : tce(static_cast<size_t>(n))
    {
        tasks.reserve(static_cast<size_t>(n));
        for (auto &e : tce)
            tasks.emplace_back(e, opts());
    }
};

// ---- W4: when_all ----
int w4(long n)
{
    std::atomic<long> ran{0};
    long long rss0 = bench_maxrss_bytes();
    double t0 = bench_now_ns();
    sources s(n);
    double t1 = bench_now_ns();
    auto cont = pplx::when_all(s.tasks.begin(), s.tasks.end())
                    .then([&ran](pplx::task<std::vector<int>> all) {
                        ran++;
                        return all.get().size();
                    });
    for (long i = 0; i < n; i++)
        s.tce[static_cast<size_t>(i)].set(static_cast<int>(i));
    size_t count = cont.get();
    double t2 = bench_now_ns();
    long long rss1 = bench_maxrss_bytes();
    report("W4", n, t2 - t0, ran == 1 && count == static_cast<size_t>(n),
           "combine_ms=%.3f rss_bytes_per_input=%.1f", (t2 - t1) / 1e6,
           static_cast<double>(rss1 - rss0) / static_cast<double>(n));
    return 0;
}

// ---- W5: when_any, complete the middle one ----
int w5(long n)
{
    double t0 = bench_now_ns();
    sources s(n);
    double t1 = bench_now_ns();
    auto any = pplx::when_any(s.tasks.begin(), s.tasks.end());
    s.tce[static_cast<size_t>(n / 2)].set(7);
    auto won = any.get();
    double t2 = bench_now_ns();
    report("W5", n, t2 - t0, won.second == static_cast<size_t>(n / 2) && won.first == 7,
           "combine_ms=%.3f", (t2 - t1) / 1e6);
    return 0;
}

// ---- W5q: completion order by repeated when_any over the remaining tasks ----
int w5q(long n)
{
    std::vector<long> order(static_cast<size_t>(n));
    bench_completion_order(n, order.data());
    sources s(n);
    std::vector<pplx::task<int>> rest = s.tasks;
    std::vector<long> rest_id(static_cast<size_t>(n));
    for (long i = 0; i < n; i++)
        rest_id[static_cast<size_t>(i)] = i;
    bool ok = true;
    double t0 = bench_now_ns();
    for (long k = 0; k < n; k++) {
        auto any = pplx::when_any(rest.begin(), rest.end());
        long id = order[static_cast<size_t>(k)];
        s.tce[static_cast<size_t>(id)].set(static_cast<int>(id));
        size_t won = any.get().second;
        ok = ok && rest_id[won] == id;
        rest[won] = rest.back();  // swap-remove the winner
        rest.pop_back();
        rest_id[won] = rest_id.back();
        rest_id.pop_back();
    }
    double t1 = bench_now_ns();
    report("W5q", n, t1 - t0, ok);
    return 0;
}

// ---- W6b / W6c: ping-pong between two threads ----
double w6b_once(long n, bool &ok)
{
    sources ping(n), pong(n);
    double t0 = bench_now_ns();
    std::thread other([&] {
        for (long i = 0; i < n; i++) {
            int v = ping.tasks[static_cast<size_t>(i)].get();
            pong.tce[static_cast<size_t>(i)].set(v);
        }
    });
    for (long i = 0; i < n; i++) {
        ping.tce[static_cast<size_t>(i)].set(static_cast<int>(i));
        pong.tasks[static_cast<size_t>(i)].wait();
    }
    double t1 = bench_now_ns();
    other.join();
    ok = pong.tasks[static_cast<size_t>(n - 1)].get() == n - 1;
    return t1 - t0;
}

double w6c_once(long n, bool &ok)
{
    sources ping(n), pong(n);
    std::vector<pplx::task<void>> conts;
    conts.reserve(static_cast<size_t>(2 * n));
    for (long i = 0; i < n; i++) {
        auto next_pong = pong.tce[static_cast<size_t>(i)];
        conts.push_back(ping.tasks[static_cast<size_t>(i)].then(
            [next_pong](int v) { next_pong.set(v + 1); }));
        if (i + 1 < n) {
            auto next_ping = ping.tce[static_cast<size_t>(i + 1)];
            conts.push_back(pong.tasks[static_cast<size_t>(i)].then(
                [next_ping](int v) { next_ping.set(v + 1); }));
        }
    }
    double t0 = bench_now_ns();
    ping.tce[0].set(0);
    int last = pong.tasks[static_cast<size_t>(n - 1)].get();
    double t1 = bench_now_ns();
    ok = last == 2 * n - 1;
    return t1 - t0;
}

int w6(const char *w, long n, double (*once)(long, bool &))
{
    bool ok_warm, ok;
    once(1000, ok_warm);
    double ns = once(n, ok);
    report(w, n, ns, ok && ok_warm);
    return 0;
}

// ---- W7: N tiny tasks on the default scheduler ----
double w7_once(long n, bool &ok)
{
    std::atomic<long> done{0};
    pplx::task_completion_event<void> all;
    pplx::task<void> all_task(all);
    double t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        pplx::create_task([&done, &all, n] {
            if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == n)
                all.set();
        });
    all_task.wait();
    double t1 = bench_now_ns();
    ok = done.load() == n;
    return t1 - t0;
}

int w7(long n)
{
    bool ok_warm, ok;
    w7_once(10000, ok_warm);
    double ns = w7_once(n, ok);
    report("W7", n, ns, ok && ok_warm);
    return 0;
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s WORKLOAD N default|inline\n", argv[0]);
        return 2;
    }
    std::string w = argv[1];
    long n = std::atol(argv[2]);
    if (std::string(argv[3]) == "inline") {
        g_inline = true;
        g_lib = "pplx-inline";
        g_opts_ptr.reset(new pplx::task_options(std::make_shared<inline_scheduler>()));
    } else {
        g_opts_ptr.reset(new pplx::task_options());
    }
    if (n < 1)
        return 2;
    if (w == "W1")
        return run_loop("W1", n, w1_loop);
    if (w == "W2")
        return run_loop("W2", n, w2_loop);
    if (w == "W3")
        return w3(n);
    if (w == "W4")
        return w4(n);
    if (w == "W5")
        return w5(n);
    if (w == "W5q")
        return w5q(n);
    // The remaining workloads hand work to other threads; an inline scheduler has none.
    if (g_inline) {
        bench_skip(g_lib.c_str(), w.c_str(), n, "n/a-inline-scheduler");
        return 0;
    }
    if (w == "W6b")
        return w6("W6b", n, w6b_once);
    if (w == "W6c")
        return w6("W6c", n, w6c_once);
    if (w == "W7")
        return w7(n);
    bench_skip(g_lib.c_str(), w.c_str(), n, "n/a");
    return 0;
}
