// Boost.Thread futures (Debian libboost-thread-dev, BOOST_THREAD_VERSION 5) side of the
// benchmark suite.
// usage: boost_bench WORKLOAD N
// Continuations use .then(boost::launch::sync, f): f runs inside set_value() on the
// completing thread (or at once when the future is ready). when_all/when_any are Boost's
// own: each call starts a thread that blocks in wait_for_all/wait_for_any. W6c and W7 use
// a boost::executors::basic_thread_pool sized to the machine, Boost's only thread pool.
#define BOOST_THREAD_VERSION 5
#include "../bench_util.h"

#include <boost/thread/executors/basic_thread_pool.hpp>
#include <boost/thread/future.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

const char *const LIB = "boost";

// ---- W1 / W2 ----
void w1_loop(long n, long &counter)
{
    for (long i = 0; i < n; i++) {
        boost::promise<int> p;
        auto cont = p.get_future().then(boost::launch::sync,
                                        [&counter](boost::future<int>) { ++counter; });
        p.set_value(static_cast<int>(i));
    }
}

void w2_loop(long n, long &counter)
{
    for (long i = 0; i < n; i++) {
        auto cont = boost::make_ready_future(static_cast<int>(i))
                        .then(boost::launch::sync, [&counter](boost::future<int>) { ++counter; });
    }
}

int run_loop(const char *w, long n, void (*loop)(long, long &))
{
    long warm = 0, counter = 0;
    loop(n / 10 + 1, warm);
    bench_mc_start();
    double t0 = bench_now_ns();
    loop(n, counter);
    double t1 = bench_now_ns();
    bench_mc_stop();
    bench_report(LIB, w, n, t1 - t0, counter == n, nullptr);
    return 0;
}

// ---- W3: chain of D synchronous continuations ----
bool chain(long depth, double &build_ns, double &fire_ns)
{
    double t0 = bench_now_ns();
    boost::promise<long> root;
    boost::future<long> last = root.get_future();
    for (long k = 0; k < depth; k++)
        last = last.then(boost::launch::sync, [](boost::future<long> v) { return v.get() + 1; });
    double t1 = bench_now_ns();
    root.set_value(0);
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
    bench_report(LIB, "W3", depth, b + f, ok, "build_ns_per_op=%.2f fire_ns_per_op=%.2f",
                 b / depth, f / depth);
    return 0;
}

struct sources {
    std::vector<boost::promise<int>> promises;
    std::vector<boost::future<int>> futures;
    explicit sources(long n) : promises(static_cast<size_t>(n))
    {
        futures.reserve(static_cast<size_t>(n));
        for (auto &p : promises)
            futures.push_back(p.get_future());
    }
};

// ---- W4: when_all ----
int w4(long n)
{
    long ran = 0;
    long long rss0 = bench_maxrss_bytes();
    double t0 = bench_now_ns();
    sources s(n);
    double t1 = bench_now_ns();
    auto cont = boost::when_all(s.futures.begin(), s.futures.end())
                    .then(boost::launch::sync,
                          [&ran](boost::future<std::vector<boost::future<int>>> all) {
                              ran++;
                              return all.get().size();
                          });
    for (long i = 0; i < n; i++)
        s.promises[static_cast<size_t>(i)].set_value(static_cast<int>(i));
    size_t count = cont.get();
    double t2 = bench_now_ns();
    long long rss1 = bench_maxrss_bytes();
    bench_report(LIB, "W4", n, t2 - t0, ran == 1 && count == static_cast<size_t>(n),
                 "combine_ms=%.3f rss_bytes_per_input=%.1f", (t2 - t1) / 1e6,
                 static_cast<double>(rss1 - rss0) / static_cast<double>(n));
    return 0;
}

// Index of the first ready future (Boost's when_any gives back all of them).
size_t ready_index(const std::vector<boost::future<int>> &v)
{
    for (size_t i = 0; i < v.size(); i++)
        if (v[i].is_ready())
            return i;
    return v.size();
}

// ---- W5: when_any, complete the middle one ----
int w5(long n)
{
    double t0 = bench_now_ns();
    sources s(n);
    double t1 = bench_now_ns();
    auto any = boost::when_any(s.futures.begin(), s.futures.end());
    s.promises[static_cast<size_t>(n / 2)].set_value(7);
    auto back = any.get();
    size_t won = ready_index(back);
    double t2 = bench_now_ns();
    bench_report(LIB, "W5", n, t2 - t0, won == static_cast<size_t>(n / 2), "combine_ms=%.3f",
                 (t2 - t1) / 1e6);
    return 0;
}

// ---- W5q: completion order by repeated when_any over the remaining futures ----
int w5q(long n)
{
    std::vector<long> order(static_cast<size_t>(n));
    bench_completion_order(n, order.data());
    sources s(n);
    std::vector<boost::future<int>> rest = std::move(s.futures);
    bool ok = true;
    double t0 = bench_now_ns();
    for (long k = 0; k < n; k++) {
        auto any = boost::when_any(rest.begin(), rest.end());  // moves the futures in
        long id = order[static_cast<size_t>(k)];
        s.promises[static_cast<size_t>(id)].set_value(static_cast<int>(id));
        rest = any.get();  // ... and hands them back
        size_t won = ready_index(rest);
        ok = ok && won < rest.size() && rest[won].get() == id;
        rest[won] = std::move(rest.back());  // swap-remove the winner
        rest.pop_back();
    }
    double t1 = bench_now_ns();
    bench_report(LIB, "W5q", n, t1 - t0, ok, nullptr);
    return 0;
}

// ---- W6b / W6c: ping-pong between two threads ----
double w6b_once(long n, bool &ok)
{
    sources ping(n), pong(n);
    double t0 = bench_now_ns();
    std::thread other([&] {
        for (long i = 0; i < n; i++) {
            int v = ping.futures[static_cast<size_t>(i)].get();
            pong.promises[static_cast<size_t>(i)].set_value(v);
        }
    });
    for (long i = 0; i < n; i++) {
        ping.promises[static_cast<size_t>(i)].set_value(static_cast<int>(i));
        pong.futures[static_cast<size_t>(i)].wait();
    }
    double t1 = bench_now_ns();
    other.join();
    ok = pong.futures[static_cast<size_t>(n - 1)].get() == n - 1;
    return t1 - t0;
}

double w6c_once(long n, bool &ok)
{
    boost::executors::basic_thread_pool pool(std::thread::hardware_concurrency());
    sources ping(n), pong(n);
    std::vector<boost::future<void>> conts;
    conts.reserve(static_cast<size_t>(2 * n));
    for (long i = 0; i < n; i++) {
        boost::promise<int> *next_pong = &pong.promises[static_cast<size_t>(i)];
        conts.push_back(ping.futures[static_cast<size_t>(i)].then(
            pool, [next_pong](boost::future<int> v) { next_pong->set_value(v.get() + 1); }));
        if (i + 1 < n) {
            boost::promise<int> *next_ping = &ping.promises[static_cast<size_t>(i + 1)];
            conts.push_back(pong.futures[static_cast<size_t>(i)].then(
                pool, [next_ping](boost::future<int> v) { next_ping->set_value(v.get() + 1); }));
        }
    }
    // pong[n-1]'s future was not consumed by a continuation: wait on it.
    double t0 = bench_now_ns();
    ping.promises[0].set_value(0);
    int last = pong.futures[static_cast<size_t>(n - 1)].get();
    double t1 = bench_now_ns();
    ok = last == 2 * n - 1;
    for (auto &c : conts)
        c.wait();
    return t1 - t0;
}

int w6(const char *w, long n, double (*once)(long, bool &))
{
    bool ok_warm, ok;
    once(1000, ok_warm);
    double ns = once(n, ok);
    bench_report(LIB, w, n, ns, ok && ok_warm, nullptr);
    return 0;
}

// ---- W7: N tiny tasks on a thread pool ----
double w7_once(boost::executors::basic_thread_pool &pool, long n, bool &ok)
{
    std::atomic<long> done{0};
    boost::promise<void> all;
    boost::future<void> all_done = all.get_future();
    double t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        boost::async(pool, [&done, &all, n] {
            if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == n)
                all.set_value();
        });
    all_done.wait();
    double t1 = bench_now_ns();
    ok = done.load() == n;
    return t1 - t0;
}

int w7(long n)
{
    boost::executors::basic_thread_pool pool(std::thread::hardware_concurrency());
    bool ok_warm, ok;
    w7_once(pool, 10000, ok_warm);
    double ns = w7_once(pool, n, ok);
    bench_report(LIB, "W7", n, ns, ok && ok_warm, nullptr);
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
    if (w == "W6b")
        return w6("W6b", n, w6b_once);
    if (w == "W6c")
        return w6("W6c", n, w6c_once);
    if (w == "W7")
        return w7(n);
    bench_skip(LIB, w.c_str(), n, "n/a");
    return 0;
}
