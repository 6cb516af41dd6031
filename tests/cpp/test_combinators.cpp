// Combinators and time: when_all (variadic, range, settled, first error), when_any,
// interleaved, delay, yield, run, wait_all/any, wait_async, retry, need_only_one,
// for_each_throttled.
#include <set>
#include <string>

#include "support.hpp"

namespace {

using Combinators = tt::Leakcheck;
using Time = tt::Leakcheck;
using Running = tt::Leakcheck;

TEST_F(Combinators, WhenAllVariadicGivesATupleInInputOrder) {
  tapir::completion_source<int> a;
  tapir::completion_source<std::string> b;
  auto all = tapir::when_all(a.get_task(), b.get_task(), tapir::completed_task());
  static_assert(std::is_same<decltype(all), tapir::task<std::tuple<int, std::string, std::monostate>>>::value,
                "when_all types its tuple");
  b.set_value("two");
  EXPECT_FALSE(all.is_completed());
  a.set_value(1);
  auto [x, y, z] = all.get();
  EXPECT_EQ(x, 1);
  EXPECT_EQ(y, "two");
  (void)z;
  auto none = tapir::when_all();
  EXPECT_EQ(std::tuple_size<decltype(none.get())>::value, 0u);
}

TEST_F(Combinators, WhenAllRangeGivesAVector) {
  std::vector<tapir::completion_source<int>> sources(5);
  std::vector<tapir::task<int>> tasks;
  for (auto& s : sources) tasks.push_back(s.get_task());
  auto all = tapir::when_all(tasks);
  for (int i = 4; i >= 0; i--) sources[static_cast<std::size_t>(i)].set_value(i * 10);
  EXPECT_EQ(all.get(), (std::vector<int>{0, 10, 20, 30, 40}));
  EXPECT_TRUE(tapir::when_all(std::vector<tapir::task<int>>{}).get().empty());
}

TEST_F(Combinators, WhenAllRangeOfVoid) {
  std::vector<tapir::task<void>> tasks{tapir::completed_task(), tapir::delay(std::chrono::milliseconds(5))};
  tapir::task<void> all = tapir::when_all(tasks);
  all.get();
  tasks.push_back(tapir::task<void>::from_canceled());
  EXPECT_THROW(tapir::when_all(tasks).get(), tapir::canceled_error);
}

TEST_F(Combinators, WhenAllSettledHandsBackTheInputs) {
  std::vector<tapir::task<int>> tasks{
      tapir::task<int>::from_result(1),
      tapir::task<int>::from_exception(std::make_exception_ptr(tt::marker_error("bad"))),
      tapir::task<int>::from_canceled()};
  auto settled = tapir::when_all_settled(tasks).get();
  ASSERT_EQ(settled.size(), 3u);
  EXPECT_EQ(settled[0].get(), 1);
  EXPECT_TRUE(settled[1].is_faulted());
  EXPECT_TRUE(settled[2].is_canceled());
  EXPECT_EQ(settled[1], tasks[1]);
  auto tuple = tapir::when_all_settled(tasks[0], tapir::completed_task()).get();
  EXPECT_EQ(std::get<0>(tuple).get(), 1);
  EXPECT_TRUE(std::get<1>(tuple).is_succeeded());
}

TEST_F(Combinators, WhenAllOrFirstErrorFailsEarly) {
  tapir::completion_source<int> a, b;
  auto t = tapir::when_all_or_first_error(std::vector<tapir::task<int>>{a.get_task(), b.get_task()});
  b.set_exception(std::make_exception_ptr(tt::marker_error("early")));
  EXPECT_TRUE(t.wait_for(std::chrono::seconds(1)));  // a is still pending
  EXPECT_THROW((void)t.get(), tt::marker_error);
  a.set_value(1);
  tapir::completion_source<int> c, d;
  auto ok = tapir::when_all_or_first_error(std::vector<tapir::task<int>>{c.get_task(), d.get_task()});
  c.set_value(1);
  d.set_value(2);
  EXPECT_EQ(ok.get(), (std::vector<int>{1, 2}));
}

TEST_F(Combinators, WhenAnyRangeGivesIndexAndTask) {
  tapir::completion_source<int> a, b, c;
  std::vector<tapir::task<int>> tasks{a.get_task(), b.get_task(), c.get_task()};
  auto any = tapir::when_any(tasks);
  b.set_value(22);
  auto r = any.get();
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.winner, tasks[1]);
  EXPECT_EQ(r.winner.get(), 22);
  a.set_value(0);
  c.set_value(0);
  EXPECT_THROW((void)tapir::when_any(std::vector<tapir::task<int>>{}), tapir::status_error);
}

TEST_F(Combinators, WhenAnyCancelsTheLosers) {
  tapir::cancel_source losers;
  auto slow = tapir::delay(std::chrono::seconds(30), losers.token());
  auto fast = tapir::delay(std::chrono::milliseconds(1));
  auto any = tapir::when_any(std::vector<tapir::task<void>>{slow, fast}, losers);
  EXPECT_EQ(any.get().index, 1u);
  EXPECT_TRUE(slow.wait_for(std::chrono::seconds(2)));
  EXPECT_TRUE(slow.is_canceled());
  EXPECT_TRUE(losers.is_canceled());
}

// Whoever sees the when_any task complete (here: a synchronous continuation) should
// find the losers' source already canceled.
TEST_F(Combinators, WhenAnyCancelsTheLosersBeforeItsContinuationsRun) {
  tapir::cancel_source losers;
  tapir::completion_source<int> winner;
  std::vector<tapir::task<int>> tasks{winner.get_task()};
  auto any = tapir::when_any(tasks, losers);
  bool canceled_when_seen = false;
  any.on_complete([&] { canceled_when_seen = losers.is_canceled(); }, tapir::synchronously());
  winner.set_value(1);
  EXPECT_TRUE(canceled_when_seen);
  EXPECT_TRUE(losers.is_canceled());
}

TEST_F(Combinators, WhenAnyVariadicOfMixedTypes) {
  tapir::completion_source<std::string> a;
  auto any = tapir::when_any(a.get_task(), tapir::task<int>::from_result(1));
  EXPECT_EQ(any.get(), 1u);
  a.set_value("late");
}

TEST_F(Combinators, InterleavedYieldsInCompletionOrder) {
  std::vector<tapir::completion_source<int>> s(3);
  std::vector<tapir::task<int>> tasks{s[0].get_task(), s[1].get_task(), s[2].get_task()};
  auto outs = tapir::interleaved(tasks);
  ASSERT_EQ(outs.size(), 3u);
  s[2].set_value(2);
  s[0].set_value(0);
  s[1].set_exception(std::make_exception_ptr(tt::marker_error("one")));
  EXPECT_EQ(outs[0].get(), 2);
  EXPECT_EQ(outs[1].get(), 0);
  EXPECT_THROW((void)outs[2].get(), tt::marker_error);
}

TEST_F(Time, DelayCompletesNoEarlierThanAsked) {
  auto start = std::chrono::steady_clock::now();
  tapir::delay(std::chrono::milliseconds(30)).get();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
  tapir::delay(std::chrono::milliseconds(0)).get();
  tapir::delay(std::chrono::microseconds(1)).get();  // rounds up to a millisecond
}

TEST_F(Time, DelayEndsCanceledByItsToken) {
  tapir::cancel_source cs;
  auto d = tapir::delay(tapir::infinite, cs.token());
  EXPECT_FALSE(d.wait_for(std::chrono::milliseconds(10)));
  cs.cancel();
  EXPECT_THROW(d.get(), tapir::canceled_error);
  EXPECT_EQ(tapir_debug_pending_timers(), 0u);
}

TEST_F(Time, WaitAsyncTimesOutWithTimeoutError) {
  tapir::completion_source<int> s;
  auto w = s.get_task().wait_async(std::chrono::milliseconds(10));
  try {
    (void)w.get();
    FAIL();
  } catch (const tapir::timeout_error& e) {
    EXPECT_EQ(e.code(), TAPIR_STATUS_TIMEOUT);
  }
  EXPECT_FALSE(s.get_task().is_completed());  // the original is unaffected
  auto w2 = s.get_task().wait_async(std::chrono::seconds(5));
  s.set_value(8);
  EXPECT_EQ(w2.get(), 8);
  tapir::cancel_source cs;
  tapir::completion_source<int> p;
  auto w3 = p.get_task().wait_async(cs.token());
  auto w4 = p.get_task().wait_async(std::chrono::seconds(5), cs.token());
  cs.cancel();
  EXPECT_THROW((void)w3.get(), tapir::canceled_error);
  EXPECT_THROW((void)w4.get(), tapir::canceled_error);
  p.set_value(0);
}

TEST_F(Time, YieldCompletesAsynchronously) {
  auto y = tapir::yield();
  y.get();
  EXPECT_TRUE(y.is_succeeded());
}

TEST_F(Running, RunOnThePoolAndOnSchedulers) {
  EXPECT_EQ(tapir::run([] { return 6 * 7; }).get(), 42);
  auto main = tapir::scheduler::manual();
  std::thread::id ran_on;
  auto t = tapir::run(main, [&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(main.run_pending(), 1u);
  t.get();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  auto inl = tapir::run(tapir::scheduler::inline_scheduler(), [] { return std::string("inline"); });
  EXPECT_TRUE(inl.is_completed());
  EXPECT_EQ(inl.get(), "inline");
}

TEST_F(Running, RunUnwrapsATaskReturningCallable) {
  tapir::completion_source<int> later;
  tapir::task<int> t = tapir::run([&] { return later.get_task(); });
  EXPECT_FALSE(t.wait_for(std::chrono::milliseconds(10)));
  later.set_value(5);
  EXPECT_EQ(t.get(), 5);
}

TEST_F(Running, RunWithACanceledTokenNeverRuns) {
  std::atomic<bool> ran{false};
  auto tok = tapir::cancel_token::canceled();
  auto t = tapir::run(tapir::scheduler::thread_pool(), [&] { ran = true; }, tok);
  EXPECT_THROW(t.get(), tapir::canceled_error);
  EXPECT_FALSE(ran.load());
}

TEST_F(Running, RunFailsWithTheThrownException) {
  auto t = tapir::run([]() -> int { throw tt::marker_error("in run", 4); });
  try {
    (void)t.get();
    FAIL();
  } catch (const tt::marker_error& e) {
    EXPECT_EQ(e.tag, 4);
  }
}

TEST_F(Running, WaitAllAndWaitAny) {
  std::vector<tapir::task<int>> tasks{tapir::run([] { return 1; }), tapir::run([] { return 2; })};
  tapir::wait_all(tasks);
  EXPECT_TRUE(tasks[0].is_completed() && tasks[1].is_completed());
  EXPECT_LT(tapir::wait_any(tasks), 2u);
  tapir::completion_source<int> never;
  std::vector<tapir::task<int>> pending{never.get_task()};
  EXPECT_FALSE(tapir::wait_all_for(pending, std::chrono::milliseconds(10)));
  EXPECT_FALSE(tapir::wait_any_for(pending, std::chrono::milliseconds(10)).has_value());
  auto tok = tapir::cancel_token::canceled();
  EXPECT_THROW((void)tapir::wait_any_for(pending, std::chrono::seconds(1), tok), tapir::canceled_error);
  EXPECT_THROW((void)tapir::wait_all_for(pending, std::chrono::seconds(1), tok), tapir::canceled_error);
  never.set_value(3);
  EXPECT_TRUE(tapir::wait_all_for(pending, std::chrono::seconds(1)));
  EXPECT_EQ(tapir::wait_any_for(pending, std::chrono::seconds(1)), std::optional<std::size_t>(0));
}

TEST_F(Running, WaitAllThrowsTheFirstFailureInInputOrder) {
  std::vector<tapir::task<int>> tasks{
      tapir::task<int>::from_canceled(), tapir::task<int>::from_result(1),
      tapir::task<int>::from_exception(std::make_exception_ptr(tt::marker_error("second", 2))),
      tapir::task<int>::from_exception(std::make_exception_ptr(tt::marker_error("third", 3)))};
  try {
    tapir::wait_all(tasks);
    FAIL();
  } catch (const tt::marker_error& e) {
    EXPECT_EQ(e.tag, 2);  // a failure wins over an earlier cancellation
  }
  std::vector<tapir::task<int>> canceled{tapir::task<int>::from_result(1), tapir::task<int>::from_canceled()};
  EXPECT_THROW(tapir::wait_all(canceled), tapir::canceled_error);
  for (auto& t : tasks) (void)t.errors();  // observed
}

TEST_F(Running, RetryOnFaultRetriesUntilSuccess) {
  std::atomic<std::uint32_t> calls{0};
  auto t = tapir::retry_on_fault(
      [&](std::uint32_t attempt) {
        calls++;
        if (attempt < 2) throw tt::marker_error("not yet", static_cast<int>(attempt));
        return tapir::task_from_result(std::string("third time"));
      },
      5);
  EXPECT_EQ(t.get(), "third time");
  EXPECT_EQ(calls.load(), 3u);
  auto gated = tapir::retry_on_fault(
      [](std::uint32_t) { return tapir::task<int>::from_exception(std::make_exception_ptr(tt::marker_error("no", 1))); },
      3, [](std::uint32_t) { return tapir::delay(std::chrono::milliseconds(1)); });
  EXPECT_THROW((void)gated.get(), tt::marker_error);  // the last attempt's failure
  EXPECT_THROW((void)tapir::retry_on_fault([](std::uint32_t) { return tapir::completed_task(); }, 0),
               tapir::status_error);
}

TEST_F(Running, NeedOnlyOneTakesTheFirstAndCancelsTheRest) {
  auto t = tapir::need_only_one(
      [](std::uint32_t i, const tapir::cancel_token& tok) -> tapir::task<std::uint32_t> {
        if (i == 2) return tapir::task<std::uint32_t>::from_result(i);
        return tapir::delay(std::chrono::seconds(30), tok).then([i] { return i; });
      },
      4);
  EXPECT_EQ(t.get(), 2u);
}

TEST_F(Running, ForEachThrottledBoundsTheTasksInFlight) {
  std::atomic<int> in_flight{0}, peak{0};
  auto t = tapir::for_each_throttled(
      [&](std::uint32_t) {
        int now = ++in_flight;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        return tapir::delay(std::chrono::milliseconds(2)).then([&] { --in_flight; }, tapir::synchronously());
      },
      20, 3);
  t.get();
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 1);
  auto failing = tapir::for_each_throttled(
      [](std::uint32_t i) -> tapir::task<void> {
        if (i == 1) throw tt::marker_error("item 1");
        return tapir::completed_task();
      },
      3, 2);
  EXPECT_THROW(failing.get(), tt::marker_error);
}

}  // namespace
