// Continuations: then (value), then_task (the task), unwrap, options, on_complete,
// removable registrations.
#include <string>

#include "support.hpp"

namespace {

using Continuations = tt::Leakcheck;

TEST_F(Continuations, ThenReceivesTheValueAndTypesTheResult) {
  tapir::completion_source<int> s;
  tapir::task<std::string> t = s.get_task().then([](int v) { return std::to_string(v * 2); });
  tapir::task<std::size_t> u = t.then([](const std::string& str) { return str.size(); });
  s.set_value(21);
  EXPECT_EQ(t.get(), "42");
  EXPECT_EQ(u.get(), 2u);
}

TEST_F(Continuations, ThenOnVoidAndReturningVoid) {
  std::atomic<int> ran{0};
  tapir::task<void> a = tapir::completed_task().then([&] { ran++; });
  tapir::task<int> b = a.then([&] { return ++ran; });
  tapir::task<void> c = b.then([&](int) { ran++; });
  c.get();
  EXPECT_EQ(ran.load(), 3);
}

TEST_F(Continuations, ThenReturningATaskUnwraps) {
  tapir::completion_source<int> later;
  tapir::task<int> t = tapir::task<int>::from_result(1).then([&](int) { return later.get_task(); });
  static_assert(std::is_same<decltype(t), tapir::task<int>>::value, "then unwraps task<U>");
  EXPECT_FALSE(t.wait_for(std::chrono::milliseconds(20)));
  later.set_value(99);
  EXPECT_EQ(t.get(), 99);
  // An inner task that fails passes its failure on.
  auto f = tapir::task<int>::from_result(1).then([](int) {
    return tapir::task<std::string>::from_exception(std::make_exception_ptr(tt::marker_error("inner")));
  });
  EXPECT_THROW((void)f.get(), tt::marker_error);
  // Returning an empty task fails the continuation with std::logic_error.
  auto e = tapir::task<int>::from_result(1).then([](int) { return tapir::task<int>(); });
  EXPECT_THROW((void)e.get(), std::logic_error);
}

TEST_F(Continuations, ThenSkipsTheCallbackOnFailureAndCancellation) {
  std::atomic<bool> ran{false};
  auto f = tapir::task<int>::from_exception(std::make_exception_ptr(tt::marker_error("f")));
  auto t1 = f.then([&](int) { ran = true; });
  EXPECT_THROW(t1.get(), tt::marker_error);
  auto t2 = tapir::task<int>::from_canceled().then([&](int) { ran = true; });
  EXPECT_THROW(t2.get(), tapir::canceled_error);
  EXPECT_FALSE(ran.load());
}

TEST_F(Continuations, ThenTaskSeesEveryOutcome) {
  auto ok = tapir::task<int>::from_result(5).then_task([](tapir::task<int> t) { return t.get() + 1; });
  EXPECT_EQ(ok.get(), 6);
  auto failed = tapir::task<int>::from_exception(std::make_exception_ptr(tt::marker_error("x")));
  auto recovered = failed.then_task([](const tapir::task<int>& t) {
    try {
      return t.get();
    } catch (const tt::marker_error&) {
      return -1;
    }
  });
  EXPECT_EQ(recovered.get(), -1);
  auto canceled = tapir::task<void>::from_canceled().then_task([](tapir::task<void> t) { return t.is_canceled(); });
  EXPECT_TRUE(canceled.get());
  auto unwrapped = tapir::completed_task().then_task([](tapir::task<void>) { return tapir::task_from_result(3); });
  EXPECT_EQ(unwrapped.get(), 3);
}

TEST_F(Continuations, SynchronousContinuationRunsInlineOnTheCompletingThread) {
  tapir::completion_source<int> s;
  std::thread::id ran_on;
  auto c = s.get_task().then([&](int) { ran_on = std::this_thread::get_id(); }, tapir::synchronously());
  s.set_value(1);
  EXPECT_TRUE(c.is_completed());  // already: it ran inside set_value
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST_F(Continuations, DefaultContinuationRunsOnThePool) {
  std::atomic<bool> on_pool{false};
  auto c = tapir::task<int>::from_result(1).then([&](int) {
    auto cur = tapir::scheduler::current();
    on_pool = cur && *cur == tapir::scheduler::thread_pool();
  });
  c.get();
  EXPECT_TRUE(on_pool.load());
}

TEST_F(Continuations, OnlyOnFilters) {
  std::atomic<int> ran{0};
  auto ok = tapir::task<int>::from_result(1);
  auto skip = ok.then_task([&](tapir::task<int>) { ran++; }, tapir::continuation_options().only_on_faulted());
  skip.wait();
  EXPECT_TRUE(skip.is_canceled());  // refused by the filter
  auto run = ok.then_task([&](tapir::task<int>) { ran++; }, tapir::continuation_options().only_on_success());
  run.get();
  auto f = tapir::task<int>::from_exception(std::make_exception_ptr(tt::marker_error("f")));
  f.then_task([&](tapir::task<int>) { ran++; }, tapir::continuation_options().only_on_faulted().synchronously()).get();
  auto c = tapir::task<int>::from_canceled();
  c.then_task([&](tapir::task<int>) { ran++; }, tapir::continuation_options().only_on_canceled()).get();
  auto n = ok.then_task([&](tapir::task<int>) { ran++; },
                        tapir::continuation_options().not_on_success().not_on_canceled());
  n.wait();
  EXPECT_TRUE(n.is_canceled());
  auto nf = f.then_task([&](tapir::task<int>) { ran++; }, tapir::continuation_options().not_on_faulted());
  nf.wait();
  EXPECT_TRUE(nf.is_canceled());
  EXPECT_EQ(ran.load(), 3);
  // Contradictory flags are refused by the library.
  EXPECT_THROW((void)ok.then([](int) {}, tapir::continuation_options().synchronously().long_running()),
               tapir::status_error);
}

TEST_F(Continuations, ContinuationOnAManualScheduler) {
  auto main = tapir::scheduler::manual();
  std::atomic<int> ran{0};
  auto c = tapir::task<int>::from_result(1).then([&](int v) { ran += v; }, tapir::continuation_options().on(main));
  EXPECT_FALSE(c.wait_for(std::chrono::milliseconds(20)));
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(main.run_pending(), 1u);
  EXPECT_EQ(ran.load(), 1);
  c.get();
}

TEST_F(Continuations, TokenCancelsAPendingContinuation) {
  tapir::cancel_source cs;
  tapir::completion_source<int> s;
  std::atomic<bool> ran{false};
  auto c = s.get_task().then([&](int) { ran = true; }, tapir::continuation_options().with_token(cs.token()));
  cs.cancel();
  EXPECT_TRUE(c.wait_for(std::chrono::seconds(1)));
  EXPECT_TRUE(c.is_canceled());
  s.set_value(1);
  EXPECT_FALSE(ran.load());
  // Lazy cancellation waits for the antecedent first.
  tapir::cancel_source cs2;
  tapir::completion_source<int> s2;
  auto lazy = s2.get_task().then([](int) {},
                                 tapir::continuation_options().with_token(cs2.token()).lazy_cancellation());
  cs2.cancel();
  EXPECT_FALSE(lazy.wait_for(std::chrono::milliseconds(30)));
  s2.set_value(1);
  lazy.wait();
  EXPECT_TRUE(lazy.is_canceled());
}

TEST_F(Continuations, OnCompleteWithAndWithoutTheTask) {
  tapir::completion_source<int> s;
  auto t = s.get_task();
  int seen = 0;
  bool plain = false;
  t.on_complete([&](const tapir::task<int>& done) { seen = done.get(); }, tapir::synchronously());
  t.on_complete([&] { plain = true; }, tapir::synchronously());
  s.set_value(17);
  EXPECT_EQ(seen, 17);
  EXPECT_TRUE(plain);
}

TEST_F(Continuations, OnCompleteTaskArgumentCanBeKept) {
  tapir::task<int> kept;
  auto t = tapir::task<int>::from_result(4);
  t.on_complete([&](const tapir::task<int>& done) { kept = done; }, tapir::synchronously());  // a copy retains
  t.reset();
  EXPECT_EQ(kept.get(), 4);
}

TEST_F(Continuations, RegisteredCallbackCanBeRemoved) {
  tapir::completion_source<int> s;
  bool ran = false;
  tapir::registration r = s.get_task().register_on_complete([&] { ran = true; }, tapir::synchronously());
  EXPECT_FALSE(r.completed_at_registration());
  EXPECT_TRUE(r.remove());
  EXPECT_FALSE(r.remove());  // removed before
  s.set_value(1);
  EXPECT_FALSE(ran);
  // On a completed task the callback runs at once and nothing is left to remove.
  bool ran2 = false;
  auto r2 = s.get_task().register_on_complete([&] { ran2 = true; }, tapir::synchronously());
  EXPECT_TRUE(ran2);
  EXPECT_TRUE(r2.completed_at_registration());
  EXPECT_FALSE(r2.remove());
}

TEST_F(Continuations, RemovedCallbackDestroysItsCapturesOnce) {
  auto life = std::make_shared<int>(1);
  tapir::completion_source<int> s;
  auto r = s.get_task().register_on_complete([life] {});
  EXPECT_EQ(life.use_count(), 2);
  EXPECT_TRUE(r.remove());
  EXPECT_EQ(life.use_count(), 1);  // destroyed by the removal
  s.set_value(0);
}

TEST_F(Continuations, CapturesAreDestroyedWhenTheContinuationIsDropped) {
  auto life = std::make_shared<int>(1);
  {
    tapir::completion_source<int> s;
    auto c = s.get_task().then([life](int) {});
    EXPECT_EQ(life.use_count(), 2);
    s.set_value(1);
    c.get();
  }
  EXPECT_TRUE(tt::eventually([&] { return life.use_count() == 1; }));
  {
    // A continuation that never runs (only-on-faulted on a success) is dropped too.
    auto c = tapir::task<int>::from_result(1).then([life](int) {}, tapir::continuation_options().only_on_faulted());
    c.wait();
  }
  EXPECT_TRUE(tt::eventually([&] { return life.use_count() == 1; }));
}

TEST_F(Continuations, MoveOnlyCallablesAreAccepted) {
  auto p = std::make_unique<int>(41);
  auto t = tapir::task<int>::from_result(1).then([p = std::move(p)](int v) { return *p + v; });
  EXPECT_EQ(t.get(), 42);
}

TEST_F(Continuations, ContinuationStateIsItsUserData) {
  // A capturing lambda is stored on the heap: the continuation task reports that
  // pointer as its state, which is non-null.
  std::string big(100, 'x');
  auto t = tapir::task<int>::from_result(1).then([big](int) { return big.size(); });
  EXPECT_NE(t.async_state(), nullptr);
  EXPECT_EQ(t.get(), 100u);
}

TEST_F(Continuations, LongChainOfSynchronousThens) {
  tapir::completion_source<long> s;
  tapir::task<long> t = s.get_task();
  for (int i = 0; i < 10000; i++) t = t.then([](long v) { return v + 1; }, tapir::synchronously());
  s.set_value(0);
  EXPECT_EQ(t.get(), 10000);
}

}  // namespace
