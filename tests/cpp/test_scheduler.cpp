// Schedulers: the pool, inline, manual (pumped by the host), foreign (a C++
// callable receiving tapir::work), current(), post; progress reporters.
#include <deque>
#include <mutex>

#include "support.hpp"

namespace {

using Scheduler = tt::Leakcheck;
using Progress = tt::Leakcheck;

TEST_F(Scheduler, PostToThePoolRunsOnAPoolThread) {
  tapir::completion_source<bool> s;
  tapir::scheduler::thread_pool().post([s] {
    auto cur = tapir::scheduler::current();
    s.set_value(cur.has_value() && *cur == tapir::scheduler::thread_pool());
  });
  EXPECT_TRUE(s.get_task().get());
  EXPECT_FALSE(tapir::scheduler::current().has_value());  // this thread runs no tapir work
}

TEST_F(Scheduler, InlineRunsBeforePostReturns) {
  bool ran = false;
  tapir::scheduler::inline_scheduler().post([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST_F(Scheduler, ManualRunsOnlyWhenPumpedWithinItsBudget) {
  auto main = tapir::scheduler::manual();
  int ran = 0;
  for (int i = 0; i < 5; i++) main.post([&] { ran++; });
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(main.run_pending(2), 2u);
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(main.run_pending(0, std::chrono::milliseconds(100)), 3u);
  EXPECT_EQ(main.run_pending(), 0u);
  // While it runs, current() is that scheduler.
  bool current_ok = false;
  main.post([&] {
    auto cur = tapir::scheduler::current();
    current_ok = cur && *cur == main;
  });
  main.run_pending();
  EXPECT_TRUE(current_ok);
  EXPECT_THROW((void)tapir::scheduler::thread_pool().run_pending(), tapir::status_error);
}

TEST_F(Scheduler, ManualDiscardsQueuedWorkWhenReleased) {
  auto life = std::make_shared<int>(0);
  bool ran = false;
  tapir::task<void> cont;
  {
    auto main = tapir::scheduler::manual();
    main.post([life, &ran] { ran = true; });
    cont = tapir::completed_task().then([] {}, tapir::continuation_options().on(main));
    EXPECT_EQ(life.use_count(), 2);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(life.use_count(), 1);  // destroyed unrun
  EXPECT_TRUE(cont.wait_for(std::chrono::seconds(1)));
  EXPECT_THROW(cont.get(), tapir::task_error);  // its continuation broke its promise
}

TEST_F(Scheduler, PostedWorkThatThrowsGoesToTheHandler) {
  tt::recording_handler h;
  auto main = tapir::scheduler::manual();
  main.post([] { throw tt::marker_error("posted"); });
  main.run_pending();
  ASSERT_EQ(h.exceptions().size(), 1u);
  EXPECT_EQ(tt::what_of(h.exceptions()[0]), "posted");
}

// A host job system: the scheduler hands work items to a C++ queue, and the host
// runs them from its own thread.
TEST_F(Scheduler, ForeignSchedulerHandsWorkToTheHost) {
  struct host_queue {
    std::mutex m;
    std::deque<tapir::work> items;
  };
  auto q = std::make_shared<host_queue>();
  std::weak_ptr<host_queue> weak = q;
  {
    auto host = tapir::scheduler::foreign([q](tapir::work w) {
      std::lock_guard<std::mutex> lock(q->m);
      q->items.push_back(std::move(w));
    });
    std::atomic<int> ran{0};
    host.post([&] { ran++; });
    auto cont = tapir::task<int>::from_result(2).then([&](int v) { ran += v; }, tapir::continuation_options().on(host));
    std::thread runner([q] {
      for (int k = 0; k < 2; k++) {
        tapir::work w(nullptr);
        for (;;) {
          std::lock_guard<std::mutex> lock(q->m);
          if (!q->items.empty()) {
            w = std::move(q->items.front());
            q->items.pop_front();
            break;
          }
          std::this_thread::yield();
        }
        w.run();
        EXPECT_FALSE(w);
      }
    });
    runner.join();
    cont.get();
    EXPECT_EQ(ran.load(), 3);
    // A discarded item: its continuation task breaks its promise.
    auto dropped = tapir::completed_task().then([] {}, tapir::continuation_options().on(host));
    {
      std::lock_guard<std::mutex> lock(q->m);
      ASSERT_EQ(q->items.size(), 1u);
      q->items.front().discard();
      q->items.clear();
    }
    EXPECT_THROW(dropped.get(), tapir::task_error);
    q.reset();
  }
  EXPECT_TRUE(tt::eventually([&] { return weak.expired(); }));  // the post callable was destroyed
}

TEST_F(Scheduler, WorkDestructorDiscardsAnUnrunItem) {
  std::vector<tapir::work> kept;
  auto host = tapir::scheduler::foreign([&](tapir::work w) { kept.push_back(std::move(w)); });
  auto t = tapir::completed_task().then([] {}, tapir::continuation_options().on(host));
  ASSERT_EQ(kept.size(), 1u);
  kept.clear();  // ~work discards it
  EXPECT_THROW(t.get(), tapir::task_error);
  auto u = tapir::completed_task().then([] {}, tapir::continuation_options().on(host));
  ASSERT_EQ(kept.size(), 1u);
  tapir_work* raw = kept[0].release();
  EXPECT_EQ(tapir_work_run(raw), TAPIR_STATUS_OK);
  u.get();
  kept.clear();
}

TEST_F(Scheduler, ThrowingForeignPostIsContained) {
  tt::recording_handler h;
  auto host = tapir::scheduler::foreign([](tapir::work) { throw tt::marker_error("post failed"); });
  auto t = tapir::completed_task().then([] {}, tapir::continuation_options().on(host));
  EXPECT_THROW(t.get(), tapir::task_error);  // the work was discarded as the exception unwound
  ASSERT_EQ(h.exceptions().size(), 1u);
  EXPECT_EQ(tt::what_of(h.exceptions()[0]), "post failed");
}

TEST_F(Progress, ReportsRunOnTheChosenScheduler) {
  auto main = tapir::scheduler::manual();
  std::vector<std::string> seen;
  {
    tapir::progress<std::string> p(main, [&](const std::string& s) { seen.push_back(s); });
    p.report("10%");
    p.report("50%");
    EXPECT_TRUE(seen.empty());
  }
  EXPECT_EQ(main.run_pending(), 2u);  // reports posted before the release still run
  EXPECT_EQ(seen, (std::vector<std::string>{"10%", "50%"}));
}

TEST_F(Progress, PoolReporterAndThrowingHandler) {
  tt::recording_handler h;
  std::atomic<int> sum{0};
  {
    tapir::progress<int> p([&](int v) {
      sum += v;
      if (v == 3) throw tt::marker_error("handler");
    });
    for (int i = 1; i <= 3; i++) p.report(i);
  }
  EXPECT_TRUE(tt::eventually([&] { return sum.load() == 6 && h.exceptions().size() == 1; }));
}

TEST_F(Scheduler, ShutdownJoinsThreadsAndThePoolRestartsOnUse) {
  EXPECT_EQ(tapir::run([] { return 1; }).get(), 1);
  tapir::shutdown();
  EXPECT_EQ(tapir::run([] { return 2; }).get(), 2);  // the pool starts again
  tapir::delay(std::chrono::milliseconds(1)).get();  // and so does the timer thread
}

TEST_F(Scheduler, ContinuationOptionsCarryTheirFlags) {
  auto o = tapir::continuation_options().synchronously().only_on_success().run_continuations_asynchronously();
  EXPECT_EQ(o.flags(), static_cast<std::uint32_t>(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY |
                                                  TAPIR_CONTINUATION_ONLY_ON_SUCCESS |
                                                  TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY));
  EXPECT_EQ(o.native()->struct_size, sizeof(tapir_continuation_options));
  auto main = tapir::scheduler::manual();
  tapir::cancel_source cs;
  auto tok = cs.token();
  o.on(main).with_token(tok).flags(TAPIR_CONTINUATION_NOT_ON_CANCELED);
  EXPECT_EQ(o.native()->scheduler, main.native());
  EXPECT_EQ(o.native()->token, tok.native());
  EXPECT_NE(o.flags() & TAPIR_CONTINUATION_NOT_ON_CANCELED, 0u);
  // The continuation's own continuations run asynchronously: not inline in set_value.
  tapir::completion_source<int> s;
  auto c = s.get_task().then([](int v) { return v; },
                             tapir::continuation_options().synchronously().run_continuations_asynchronously());
  std::thread::id second;
  auto d = c.then([&](int) { second = std::this_thread::get_id(); }, tapir::synchronously());
  s.set_value(1);
  d.get();
  EXPECT_NE(second, std::this_thread::get_id());
}

}  // namespace
