// wrapper_bench.cpp — what the C++ binding costs over the raw C calls, measured in
// one process.
//
//   W1  new completion source, take its task, one synchronous continuation that
//       increments a counter, set an integer result, release both
//   W2  an already completed task plus one synchronous continuation, released
//   chain  a chain of D links, through the raw C API (tapir_task_continue_with on the
//       previous continuation's task), through the wrapper's then(), and as D nested
//       co_awaits of coroutine tasks (synchronously completing, and pending at the
//       leaf then completed); every chain on a thread with a 256 KiB stack
//
// Raw and wrapper runs are interleaved (ABBA order across repetitions) and the table
// reports medians. Usage: wrapper_bench [N [REPS [D]]]  (defaults 1000000 11 1000000)
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "tapir.hpp"

namespace {

double now_ns() {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

void check(tapir_status st, const char* what) {
  if (st != TAPIR_STATUS_OK) {
    std::fprintf(stderr, "%s -> %s\n", what, tapir_status_str(st));
    std::exit(1);
  }
}

const tapir_continuation_options SYNC = {sizeof(tapir_continuation_options), TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
                                         nullptr, nullptr};

void increment(void* counter, const tapir_task*) { ++*static_cast<unsigned long*>(counter); }

// ---- W1 ----
void w1_raw(long n, unsigned long& counter) {
  for (long i = 0; i < n; i++) {
    const tapir_source* s;
    const tapir_task* t;
    check(tapir_source_new(0, nullptr, &s), "tapir_source_new");
    check(tapir_source_task(s, &t), "tapir_source_task");
    check(tapir_task_on_complete(t, increment, &counter, nullptr, &SYNC, nullptr), "tapir_task_on_complete");
    check(tapir_source_set_result(s, reinterpret_cast<void*>(static_cast<std::uintptr_t>(i)), nullptr),
          "tapir_source_set_result");
    tapir_task_release(t);
    tapir_source_release(s);
  }
}

void w1_wrapper(long n, unsigned long& counter) {
  const tapir::continuation_options sync = tapir::synchronously();
  for (long i = 0; i < n; i++) {
    tapir::completion_source<long> s;
    tapir::task<long> t = s.get_task();
    t.on_complete([&counter] { ++counter; }, sync);
    s.set_value(i);
  }
}

// ---- W2 ----
void w2_raw(long n, unsigned long& counter) {
  for (long i = 0; i < n; i++) {
    const tapir_task* t;
    check(tapir_task_from_result(reinterpret_cast<void*>(static_cast<std::uintptr_t>(i)), nullptr, &t),
          "tapir_task_from_result");
    check(tapir_task_on_complete(t, increment, &counter, nullptr, &SYNC, nullptr), "tapir_task_on_complete");
    tapir_task_release(t);
  }
}

void w2_wrapper(long n, unsigned long& counter) {
  const tapir::continuation_options sync = tapir::synchronously();
  for (long i = 0; i < n; i++) {
    tapir::task<long> t = tapir::task<long>::from_result(i);
    t.on_complete([&counter] { ++counter; }, sync);
  }
}

// ---- chains ----
void link_next(void* links, const tapir_task*, const tapir_source* next) {
  long v = ++*static_cast<long*>(links);
  tapir_source_set_result(next, reinterpret_cast<void*>(static_cast<std::intptr_t>(v)), nullptr);
}

long chain_raw(long depth) {
  long links = 0;
  const tapir_source* root;
  const tapir_task* last;
  check(tapir_source_new(0, nullptr, &root), "tapir_source_new");
  check(tapir_source_task(root, &last), "tapir_source_task");
  for (long k = 0; k < depth; k++) {
    const tapir_task* next;
    check(tapir_task_continue_with(last, link_next, &links, nullptr, &SYNC, &next), "tapir_task_continue_with");
    tapir_task_release(last);
    last = next;
  }
  check(tapir_source_set_result(root, nullptr, nullptr), "tapir_source_set_result");
  check(tapir_task_wait(last, TAPIR_INFINITE), "tapir_task_wait");
  void* v;
  check(tapir_task_result(last, &v), "tapir_task_result");
  tapir_task_release(last);
  tapir_source_release(root);
  return reinterpret_cast<std::intptr_t>(v);
}

long chain_then(long depth) {
  tapir::completion_source<long> root;
  tapir::task<long> last = root.get_task();
  const tapir::continuation_options sync = tapir::synchronously();
  for (long k = 0; k < depth; k++) last = last.then([](long v) { return v + 1; }, sync);
  root.set_value(0);
  return last.get();
}

tapir::task<long> coro_chain(long n) {
  if (n == 0) co_return 0;
  long below = co_await coro_chain(n - 1);
  co_return below + 1;
}

tapir::task<long> coro_chain_on(long n, const tapir::task<long>& leaf) {
  if (n == 0) co_return co_await leaf;
  long below = co_await coro_chain_on(n - 1, leaf);
  co_return below + 1;
}

long chain_coro_sync(long depth) { return coro_chain(depth).get(); }

long chain_coro_pending(long depth) {
  tapir::completion_source<long> leaf;
  tapir::task<long> top = coro_chain_on(depth, leaf.get_task());
  leaf.set_value(0);
  return top.get();
}

// Runs f on a thread with a 256 KiB stack and returns its wall time in ns.
double on_small_stack(const std::function<void()>& f) {
  struct ctx {
    const std::function<void()>* f;
    double ns;
  } c{&f, 0};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  if (pthread_create(
          &th, &attr,
          [](void* p) -> void* {
            auto* c = static_cast<ctx*>(p);
            double t0 = now_ns();
            (*c->f)();
            c->ns = now_ns() - t0;
            return nullptr;
          },
          &c) != 0) {
    std::perror("pthread_create");
    std::exit(1);
  }
  pthread_attr_destroy(&attr);
  pthread_join(th, nullptr);
  return c.ns;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

using loop_fn = void (*)(long, unsigned long&);

// ns/op of one run of `loop` over n operations; exits if the counter is off.
double time_loop(loop_fn loop, long n, const char* name) {
  unsigned long counter = 0;
  double t0 = now_ns();
  loop(n, counter);
  double ns = (now_ns() - t0) / static_cast<double>(n);
  if (counter != static_cast<unsigned long>(n)) {
    std::fprintf(stderr, "%s: counter %lu, expected %ld\n", name, counter, n);
    std::exit(1);
  }
  return ns;
}

struct pair_result {
  std::vector<double> raw, wrapped;
};

pair_result measure_pair(loop_fn raw, loop_fn wrapped, long n, int reps, const char* name) {
  unsigned long warm = 0;
  raw(n / 10 + 1, warm);
  wrapped(n / 10 + 1, warm);
  pair_result r;
  for (int k = 0; k < reps; k++) {
    if (k % 2 == 0) {
      r.raw.push_back(time_loop(raw, n, name));
      r.wrapped.push_back(time_loop(wrapped, n, name));
    } else {
      r.wrapped.push_back(time_loop(wrapped, n, name));
      r.raw.push_back(time_loop(raw, n, name));
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  int reps = argc > 2 ? std::atoi(argv[2]) : 11;
  long depth = argc > 3 ? std::atol(argv[3]) : 1000000;
  if (n <= 0 || reps <= 0 || depth <= 0) {
    std::fprintf(stderr, "usage: %s [N [REPS [D]]]\n", argv[0]);
    return 2;
  }
  std::printf("tapir %s, C++ wrapper vs raw C, N = %ld, %d interleaved repetitions, medians\n\n", tapir::version(), n,
              reps);

  pair_result w1 = measure_pair(w1_raw, w1_wrapper, n, reps, "W1");
  pair_result w2 = measure_pair(w2_raw, w2_wrapper, n, reps, "W2");
  std::printf("| workload | raw C ns/op (median) | wrapper ns/op (median) | wrapper / raw | raw min | wrapper min |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (auto [name, r] : {std::pair<const char*, pair_result*>{"W1 lifecycle", &w1}, {"W2 completed", &w2}}) {
    double mr = median(r->raw), mw = median(r->wrapped);
    std::printf("| %s | %.1f | %.1f | %.3f | %.1f | %.1f |\n", name, mr, mw, mw / mr, minimum(r->raw),
                minimum(r->wrapped));
  }

  // Chains: fewer repetitions (each builds D links), interleaved as well.
  int chain_reps = reps < 5 ? reps : 5;
  struct chain_case {
    const char* name;
    long (*fn)(long);
    long expect;
    std::vector<double> ns;
  };
  std::vector<chain_case> cases{{"raw C continue_with chain", chain_raw, depth, {}},
                                {"wrapper then() chain", chain_then, depth, {}},
                                {"co_await chain, synchronously completing", chain_coro_sync, depth, {}},
                                {"co_await chain, pending leaf completed later", chain_coro_pending, depth, {}}};
  for (int k = 0; k < chain_reps; k++) {
    for (std::size_t i = 0; i < cases.size(); i++) {
      chain_case& c = cases[(k % 2 == 0) ? i : cases.size() - 1 - i];
      long got = -1;
      double ns = on_small_stack([&] { got = c.fn(depth); });
      if (got != c.expect) {
        std::fprintf(stderr, "%s: %ld, expected %ld\n", c.name, got, c.expect);
        return 1;
      }
      c.ns.push_back(ns / static_cast<double>(depth));
    }
  }
  std::printf("\nChains of D = %ld links on a 256 KiB-stack thread (build + complete + wait), %d repetitions:\n\n",
              depth, chain_reps);
  std::printf("| chain | ns/link (median) | ns/link (min) | / raw C |\n|---|---:|---:|---:|\n");
  double raw_med = median(cases[0].ns);
  for (const chain_case& c : cases)
    std::printf("| %s | %.1f | %.1f | %.2f |\n", c.name, median(c.ns), minimum(c.ns), median(c.ns) / raw_med);
  tapir::shutdown();
  return 0;
}
