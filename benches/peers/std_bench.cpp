// std::promise / std::future side of the benchmark suite.
// usage: std_bench WORKLOAD N
// The standard library has no continuations, no when_all/when_any and no thread pool, so
// only W1 (without a continuation: the counter is incremented after future::get()),
// W6b (blocking ping-pong) and W7 (std::async, one thread per job) apply.
#include "../bench_util.h"

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

const char *const LIB = "std";

// ---- W1: promise + future + set_value + get; no continuation exists ----
void w1_loop(long n, long &counter)
{
    for (long i = 0; i < n; i++) {
        std::promise<int> p;
        std::future<int> f = p.get_future();
        p.set_value(static_cast<int>(i));
        if (f.get() == static_cast<int>(i))
            ++counter;
    }
}

int w1(long n)
{
    long warm = 0, counter = 0;
    w1_loop(n / 10 + 1, warm);
    bench_mc_start();
    double t0 = bench_now_ns();
    w1_loop(n, counter);
    double t1 = bench_now_ns();
    bench_mc_stop();
    bench_report(LIB, "W1", n, t1 - t0, counter == n, "note=no-continuation");
    return 0;
}

// ---- W6b: blocking ping-pong between two threads ----
double w6b_once(long n, bool &ok)
{
    std::vector<std::promise<int>> ping(static_cast<size_t>(n)), pong(static_cast<size_t>(n));
    std::vector<std::future<int>> ping_f, pong_f;
    for (long i = 0; i < n; i++) {
        ping_f.push_back(ping[static_cast<size_t>(i)].get_future());
        pong_f.push_back(pong[static_cast<size_t>(i)].get_future());
    }
    double t0 = bench_now_ns();
    std::thread other([&] {
        for (long i = 0; i < n; i++)
            pong[static_cast<size_t>(i)].set_value(ping_f[static_cast<size_t>(i)].get());
    });
    for (long i = 0; i < n; i++) {
        ping[static_cast<size_t>(i)].set_value(static_cast<int>(i));
        pong_f[static_cast<size_t>(i)].wait();
    }
    double t1 = bench_now_ns();
    other.join();
    ok = pong_f[static_cast<size_t>(n - 1)].get() == n - 1;
    return t1 - t0;
}

int w6b(long n)
{
    bool ok_warm, ok;
    w6b_once(1000, ok_warm);
    double ns = w6b_once(n, ok);
    bench_report(LIB, "W6b", n, ns, ok && ok_warm, nullptr);
    return 0;
}

// ---- W7: std::async(std::launch::async) starts one thread per job ----
double w7_once(long n, bool &ok)
{
    std::atomic<long> done{0};
    std::vector<std::future<void>> jobs;
    jobs.reserve(static_cast<size_t>(n));
    double t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        jobs.push_back(std::async(std::launch::async,
                                  [&done] { done.fetch_add(1, std::memory_order_relaxed); }));
    for (auto &j : jobs)
        j.wait();
    double t1 = bench_now_ns();
    ok = done.load() == n;
    return t1 - t0;
}

int w7(long n)
{
    bool ok_warm, ok;
    w7_once(100, ok_warm);
    double ns = w7_once(n, ok);
    bench_report(LIB, "W7", n, ns, ok && ok_warm, "note=thread-per-job");
    return 0;
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s WORKLOAD N\n", argv[0]);
        return 2;
    }
    std::string w = argv[1];
    long n = std::atol(argv[2]);
    if (n < 1)
        return 2;
    if (w == "W1")
        return w1(n);
    if (w == "W6b")
        return w6b(n);
    if (w == "W7")
        return w7(n);
    bench_skip(LIB, w.c_str(), n, w == "W6c" || w == "W2" || w == "W3" ? "n/a-no-continuations"
                                                                       : "n/a-no-combinators");
    return 0;
}
