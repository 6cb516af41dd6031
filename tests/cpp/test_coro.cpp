// Coroutines (C++20): co_await on any task<T>; tapir::task<T> as a coroutine return
// type whose result C code can consume; resume_on; the million-deep chain on a
// 256 KiB stack. Without coroutine support this file only checks the macro.
#include "support.hpp"

#if TAPIR_CPP_HAS_COROUTINES
#include <coroutine>

namespace {

using Coro = tt::Leakcheck;

tapir::task<int> add_one(tapir::task<int> t) { co_return co_await t + 1; }

tapir::task<void> store(tapir::task<std::string> t, std::string& out) { out = co_await t; }

TEST_F(Coro, AwaitsCompletedAndPendingTasks) {
  EXPECT_EQ(add_one(tapir::task<int>::from_result(1)).get(), 2);
  tapir::completion_source<int> s;
  auto t = add_one(s.get_task());
  EXPECT_FALSE(t.is_completed());
  s.set_value(41);
  EXPECT_EQ(t.get(), 42);
  std::string out;
  tapir::completion_source<std::string> str;
  auto v = store(str.get_task(), out);
  std::thread([str] { str.set_value("from another thread"); }).join();
  v.get();
  EXPECT_EQ(out, "from another thread");
}

// A coroutine runs at once, up to its first suspension, inside the call.
TEST_F(Coro, StartsEagerly) {
  std::vector<int> steps;
  tapir::completion_source<void> gate;
  auto body = [&]() -> tapir::task<void> {
    steps.push_back(1);
    co_await gate.get_task();
    steps.push_back(3);
  };
  auto t = body();
  steps.push_back(2);
  gate.set_value();
  t.get();
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3}));
}

tapir::task<int> throws_marker(int tag) {
  co_await tapir::completed_task();
  throw tt::marker_error("from a coroutine", tag);
}

tapir::task<int> rethrows(tapir::task<int> inner, const void** seen) {
  try {
    co_return co_await inner;
  } catch (const tt::marker_error& e) {
    *seen = &e;
    throw;
  }
}

TEST_F(Coro, ExceptionsKeepTheirIdentityThroughCoAwait) {
  auto inner = throws_marker(3);
  const void* seen_inside = nullptr;
  auto outer = rethrows(inner, &seen_inside);
  try {
    (void)outer.get();
    FAIL();
  } catch (const tt::marker_error& e) {
    EXPECT_EQ(e.tag, 3);
    EXPECT_EQ(static_cast<const void*>(&e), seen_inside);
  }
  EXPECT_EQ(inner.exceptions()[0], outer.exceptions()[0]);
}

tapir::task<int> awaits_canceled() {
  co_await tapir::task<void>::from_canceled();
  co_return 1;
}

TEST_F(Coro, CancellationPropagatesAsCanceled) {
  auto t = awaits_canceled();
  t.wait();
  EXPECT_TRUE(t.is_canceled());
  EXPECT_THROW((void)t.get(), tapir::canceled_error);
}

TEST_F(Coro, CCodeConsumesACoroutineTask) {
  tapir::completion_source<int> s;
  tapir::task<int> t = add_one(s.get_task());
  const tapir_task* raw = t.release();  // hand the reference to "C"
  s.set_value(9);
  ASSERT_EQ(tapir_task_wait(raw, TAPIR_INFINITE), TAPIR_STATUS_OK);
  void* v = nullptr;
  ASSERT_EQ(tapir_task_result(raw, &v), TAPIR_STATUS_OK);
  EXPECT_EQ(reinterpret_cast<std::intptr_t>(v), 10);
  EXPECT_EQ(tapir_task_release(raw), TAPIR_STATUS_OK);
}

TEST_F(Coro, CoroutineTasksComposeWithCombinators) {
  auto body = []() -> tapir::task<int> {
    auto [a, b] = co_await tapir::when_all(tapir::run([] { return 20; }), tapir::run([] { return 22; }));
    co_await tapir::delay(std::chrono::milliseconds(2));
    co_return a + b;
  };
  EXPECT_EQ(body().get(), 42);
  auto then_on_coro = body().then([](int v) { return v * 2; });
  EXPECT_EQ(then_on_coro.get(), 84);
}

TEST_F(Coro, ResumeOnSwitchesToAManualScheduler) {
  auto main = tapir::scheduler::manual();
  std::thread::id before, after;
  // The closure must outlive the coroutine: its frame refers to the captures.
  auto body = [&]() -> tapir::task<void> {
    before = std::this_thread::get_id();
    co_await tapir::resume_on(main);
    after = std::this_thread::get_id();
  };
  tapir::task<void> t;
  std::thread worker([&] { t = body(); });
  worker.join();
  EXPECT_EQ(after, std::thread::id());  // not resumed yet: nobody pumped main
  EXPECT_FALSE(t.is_completed());
  EXPECT_EQ(main.run_pending(), 1u);
  EXPECT_EQ(after, std::this_thread::get_id());
  EXPECT_NE(before, after);
  t.get();
}

TEST_F(Coro, AwaitOnASchedulerResumesThere) {
  auto main = tapir::scheduler::manual();
  tapir::completion_source<int> s;
  std::atomic<bool> done{false};
  std::thread::id resumed_on;
  auto body = [&]() -> tapir::task<int> {
    int v = co_await s.get_task().on(main);
    resumed_on = std::this_thread::get_id();
    done = true;
    co_return v;
  };
  auto t = body();
  std::thread([s] { s.set_value(5); }).join();
  EXPECT_FALSE(done.load());
  ASSERT_TRUE(tt::eventually([&] { return main.run_pending() == 1; }));
  EXPECT_EQ(t.get(), 5);
  EXPECT_EQ(resumed_on, std::this_thread::get_id());
}

TEST_F(Coro, ResumeOnADiscardingSchedulerThrowsSchedulerError) {
  tapir::task<int> t;
  {
    auto main = tapir::scheduler::manual();
    auto body = [](const tapir::scheduler& s) -> tapir::task<int> {
      try {
        co_await tapir::resume_on(s);
      } catch (const tapir::status_error& e) {
        co_return static_cast<int>(e.status());
      }
      co_return 0;
    };
    t = body(main);
  }  // the manual scheduler goes with its queued resumption
  EXPECT_EQ(t.get(), TAPIR_STATUS_SCHEDULER_ERROR);
}

struct plain_awaiter {
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) const noexcept { return false; }  // does not suspend
  int await_resume() const noexcept { return 7; }
};

TEST_F(Coro, ForeignAwaitablesWorkInsideTapirCoroutines) {
  auto body = []() -> tapir::task<int> {
    co_await std::suspend_never{};
    int v = co_await plain_awaiter{};
    co_return v;
  };
  EXPECT_EQ(body().get(), 7);
}

// A coroutine type that is not tapir's also awaits tapir tasks.
struct fire_and_forget {
  struct promise_type {
    fire_and_forget get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

fire_and_forget consume(tapir::task<int> t, tapir::completion_source<int> done) {
  int v = co_await t;
  done.set_value(v * 3);
}

TEST_F(Coro, OtherCoroutineTypesAwaitTapirTasks) {
  tapir::completion_source<int> s, done;
  consume(s.get_task(), done);
  s.set_value(5);
  EXPECT_EQ(done.get_task().get(), 15);
}

TEST_F(Coro, AwaitingAMovedFromTaskThrowsLogicError) {
  auto body = []() -> tapir::task<int> {
    auto t = tapir::task<int>::from_result(1);
    auto u = std::move(t);
    bool threw = false;
    try {
      co_await t;
    } catch (const std::logic_error&) {
      threw = true;
    }
    if (!threw) co_return -1;
    co_return co_await u;
  };
  EXPECT_EQ(body().get(), 1);
}

// Registration racing completion: every awaiter is resumed exactly once.
TEST_F(Coro, ManyAwaitersRacingCompletion) {
  constexpr int n = 2000;
  std::atomic<int> resumed{0};
  std::vector<tapir::completion_source<int>> sources(n);
  std::vector<tapir::task<void>> awaiting;
  auto body = [&](tapir::task<int> t) -> tapir::task<void> {
    co_await t;
    resumed++;
  };
  std::thread completer([&] {
    for (auto& s : sources) s.set_value(1);
  });
  for (auto& s : sources) awaiting.push_back(body(s.get_task()));
  completer.join();
  tapir::wait_all(awaiting);
  EXPECT_EQ(resumed.load(), n);
}

// ---- deep chains -----------------------------------------------------------------

tapir::task<long> chain(long n) {
  if (n == 0) co_return 0;
  long below = co_await chain(n - 1);
  co_return below + 1;
}

tapir::task<long> chain_on(long n, const tapir::task<long>& leaf) {
  if (n == 0) co_return co_await leaf;
  long below = co_await chain_on(n - 1, leaf);
  co_return below + 1;
}

// Each level blocks on its child with get(): past the eager limit the child's start
// is deferred to this thread, and the blocking wait must run it rather than wait for it.
tapir::task<long> blocking_chain(long n) {
  if (n == 0) co_return 0;
  long below = blocking_chain(n - 1).get();
  co_await tapir::completed_task();
  co_return below + 1;
}

TEST_F(Coro, BlockingGetInsideDeepCoroutinesDoesNotDeadlock) {
  EXPECT_EQ(blocking_chain(TAPIR_CPP_EAGER_DEPTH * 2 + 3).get(), TAPIR_CPP_EAGER_DEPTH * 2 + 3);
}

TEST_F(Coro, DeeperThanTheEagerLimitOnAnOrdinaryThread) {
  EXPECT_EQ(chain(TAPIR_CPP_EAGER_DEPTH * 3 + 1).get(), TAPIR_CPP_EAGER_DEPTH * 3 + 1);
}

// One million nested co_awaits of synchronously completing tasks, on a thread whose
// stack is 256 KiB: the chain must not recurse per link.
TEST_F(Coro, MillionDeepSynchronousChainOn256KiBStack) {
  long result = -1;
  tt::run_on_small_stack(256 * 1024, [&] { result = chain(1000000).get(); });
  EXPECT_EQ(result, 1000000);
}

// The same chain suspended at its leaf, then completed from the small thread: one
// completion resumes a million coroutines.
TEST_F(Coro, MillionDeepPendingChainCompletedOn256KiBStack) {
  long result = -1;
  tt::run_on_small_stack(256 * 1024, [&] {
    tapir::completion_source<long> leaf;
    auto top = chain_on(1000000, leaf.get_task());
    EXPECT_FALSE(top.is_completed());
    leaf.set_value(5);
    result = top.get();
  });
  EXPECT_EQ(result, 1000005);
}

}  // namespace

#else

TEST(Coro, DisabledWithoutCompilerSupport) { EXPECT_EQ(TAPIR_CPP_HAS_COROUTINES, 0); }

#endif
