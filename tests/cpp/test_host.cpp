// Host fit: configure() before first use (pool size, names, thread hooks, timer driver,
// where expiries run), host-driven time, clocks the host ticks (frames; scaled,
// pausable game time) with delay_on / wait_async_on / cancel_after_on, the seeded test
// scheduler with run_until_idle, and a manual scheduler's wake descriptor. Nothing
// here sleeps for time: time is the host's, a clock's, or the test scheduler's.
#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using Clock = tt::Leakcheck;
using TestScheduler = tt::Leakcheck;
using WakeFd = tt::Leakcheck;
using HostTime = tt::Leakcheck;

/// Tests that configure tapir: shutdown first (back to the defaults), and shutdown
/// again at the end so later tests get the defaults too. The test thread is never a
/// tapir thread, so shutdown may be called here.
class Configured : public tt::Leakcheck {
 protected:
  void SetUp() override {
    tapir::shutdown();
    tt::Leakcheck::SetUp();
  }
  void TearDown() override {
    tapir::shutdown();  // drops the configuration's scheduler references
    tt::Leakcheck::TearDown();
  }
};

tapir_status status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tapir::status_error& e) {
    return e.status();
  }
  return TAPIR_STATUS_OK;
}

/// Configures timer expiries onto `main` (a manual scheduler the test pumps), so a
/// clock's expiries complete on the test thread, in main.run_pending().
void expiries_on(const tapir::scheduler& main) {
  tapir::config c;
  c.timer_scheduler = main;
  tapir::configure(c);
}

// ---- clocks ----

TEST_F(Clock, FramesCountAdvancesAndRefuseFractions) {
  auto c = tapir::clock::frames();
  EXPECT_EQ(c.now(), 0.0);
  EXPECT_EQ(c.advance(), 0u);
  EXPECT_EQ(c.advance(3), 0u);
  EXPECT_EQ(c.now(), 4.0);
  EXPECT_EQ(status_of([&] { c.advance(0.5); }), TAPIR_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([&] { c.advance(-1); }), TAPIR_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([&] { c.set_scale(2.0); }), TAPIR_STATUS_INVALID_ARGUMENT);  // frames have no scale
  c.set_paused(true);
  c.advance(10);
  EXPECT_EQ(c.now(), 4.0);
  c.set_paused(false);
  c.advance();
  EXPECT_EQ(c.now(), 5.0);
}

TEST_F(Clock, ScaledClockRunsAtItsScaleAndPauses) {
  auto c = tapir::clock::scaled(0.5);
  c.advance(100);
  EXPECT_DOUBLE_EQ(c.now(), 50.0);
  c.set_scale(2.0);
  c.advance(10);
  EXPECT_DOUBLE_EQ(c.now(), 70.0);
  c.set_paused(true);
  c.advance(1000);
  EXPECT_DOUBLE_EQ(c.now(), 70.0);
  c.set_paused(false);
  c.set_scale(0);
  c.advance(1000);
  EXPECT_DOUBLE_EQ(c.now(), 70.0);
  EXPECT_EQ(status_of([&] { c.set_scale(-1); }), TAPIR_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([] { (void)tapir::clock::scaled(-0.5); }), TAPIR_STATUS_INVALID_ARGUMENT);
}

TEST_F(Clock, IsOneCountedObjectCopiesRetainAndEmptyOnesThrow) {
  std::size_t before = tapir::live_objects(TAPIR_OBJECT_KIND_CLOCK);
  {
    auto a = tapir::clock::frames();
    EXPECT_EQ(tapir::live_objects(TAPIR_OBJECT_KIND_CLOCK), before + 1);
    tapir::clock b = a;  // retains: one object, two references
    EXPECT_TRUE(a == b);
    a.reset();
    b.advance(2);
    auto c = tapir::clock::borrow(b.native());
    EXPECT_EQ(c.now(), 2.0);
    EXPECT_EQ(tapir::live_objects(TAPIR_OBJECT_KIND_CLOCK), before + 1);
  }
  EXPECT_EQ(tapir::live_objects(TAPIR_OBJECT_KIND_CLOCK), before);
  tapir::clock empty;
  EXPECT_THROW((void)empty.now(), std::logic_error);
  EXPECT_THROW((void)tapir::delay_on(empty, 1), std::logic_error);
}

// Without configuration, expiries run on the default pool: get() waits for it.
TEST_F(Clock, DelayOnFramesCompletesOnTheNthFrame) {
  auto c = tapir::clock::frames();
  c.advance(5);
  auto d = tapir::delay_on(c, 3);
  EXPECT_EQ(c.advance(), 0u);
  EXPECT_EQ(c.advance(), 0u);
  EXPECT_FALSE(d.is_completed());
  EXPECT_EQ(c.advance(), 1u);  // frame 8 = 5 + 3
  d.get();
  EXPECT_TRUE(d.is_succeeded());
  EXPECT_TRUE(tapir::delay_on(c, 0).is_succeeded());  // at once
  EXPECT_EQ(status_of([&] { (void)tapir::delay_on(c, -2); }), TAPIR_STATUS_INVALID_ARGUMENT);
}

TEST_F(Configured, DelayOnScaledClockRunsWhereExpiriesRun) {
  auto main = tapir::scheduler::manual();
  expiries_on(main);
  auto c = tapir::clock::scaled(2.0);
  auto d = tapir::delay_on(c, 100);  // 100 game ms = 50 real ms at scale 2
  EXPECT_EQ(c.advance(49), 0u);
  EXPECT_EQ(main.run_pending(), 0u);
  EXPECT_EQ(c.advance(1), 1u);
  EXPECT_FALSE(d.is_completed());  // the expiry was posted to `main`, not run here
  EXPECT_EQ(main.run_pending(), 1u);
  EXPECT_TRUE(d.is_succeeded());
}

TEST_F(Configured, DelayOnEndsCanceledOrNeverOrDisposed) {
  auto main = tapir::scheduler::manual();
  expiries_on(main);
  auto c = tapir::clock::frames();
  tapir::cancel_source cs;
  auto canceled = tapir::delay_on(c, 10, cs.token());
  auto never = tapir::delay_on(c, -1, cs.token());
  auto orphan = tapir::delay_on(c, 5);
  c.advance(100);
  main.run_pending();
  EXPECT_TRUE(orphan.is_succeeded());
  EXPECT_TRUE(canceled.is_succeeded());  // elapsed before anyone canceled
  EXPECT_FALSE(never.is_completed());
  cs.cancel();
  EXPECT_THROW(never.get(), tapir::canceled_error);

  auto d = tapir::delay_on(c, 1);
  c.reset();  // the last reference: nobody can advance it any more
  main.run_pending();
  ASSERT_TRUE(d.is_completed());
  try {
    d.get();
    ADD_FAILURE() << "a delay on a released clock succeeded";
  } catch (const tapir::task_error& e) {
    EXPECT_EQ(e.code(), TAPIR_STATUS_DISPOSED);
  }
}

TEST_F(Configured, WaitAsyncOnTimesOutInClockTimeAndPassesResultsThrough) {
  auto main = tapir::scheduler::manual();
  expiries_on(main);
  auto c = tapir::clock::frames();
  tapir::completion_source<int> slow;
  auto w = slow.get_task().wait_async_on(c, 2);
  c.advance();
  main.run_pending();
  EXPECT_FALSE(w.is_completed());
  c.advance();
  main.run_pending();
  EXPECT_THROW(w.get(), tapir::timeout_error);
  EXPECT_FALSE(slow.get_task().is_completed());  // the awaited task is unaffected

  tapir::completion_source<int> fast;
  auto w2 = fast.get_task().wait_async_on(c, 2);
  fast.set_value(7);
  main.run_pending();
  EXPECT_EQ(w2.get(), 7);
  // Already completed: the task itself comes back.
  EXPECT_TRUE(fast.get_task().wait_async_on(c, 2) == fast.get_task());

  tapir::cancel_source cs;
  auto w3 = slow.get_task().wait_async_on(c, -1, cs.token());
  cs.cancel();
  main.run_pending();
  EXPECT_THROW(w3.get(), tapir::canceled_error);
  slow.set_value(1);
  EXPECT_EQ(status_of([&] { (void)fast.get_task().wait_async_on(c, -3); }), TAPIR_STATUS_INVALID_ARGUMENT);
}

TEST_F(Configured, CancelAfterOnCancelsInClockTime) {
  auto main = tapir::scheduler::manual();
  expiries_on(main);
  auto c = tapir::clock::scaled(1.0);
  tapir::cancel_source cs;
  cs.cancel_after_on(c, 5);
  c.advance(4);
  main.run_pending();
  EXPECT_FALSE(cs.is_canceled());
  c.set_paused(true);
  c.advance(100);
  main.run_pending();
  EXPECT_FALSE(cs.is_canceled());  // paused: game time stood still
  c.set_paused(false);
  c.advance(1);
  main.run_pending();
  EXPECT_TRUE(cs.is_canceled());

  tapir::cancel_source cleared;
  cleared.cancel_after_on(c, 5);
  cleared.cancel_after_on(c, -1);  // clears the deadline
  c.advance(10);
  main.run_pending();
  EXPECT_FALSE(cleared.is_canceled());
  tapir::cancel_source now;
  now.cancel_after_on(c, 0);
  EXPECT_TRUE(now.is_canceled());
}

// ---- the test scheduler ----

std::vector<int> order_for(std::uint64_t seed) {
  auto s = tapir::scheduler::test(seed);
  std::vector<int> order;
  for (int i = 0; i < 16; i++) s.post([&order, i] { order.push_back(i); });
  EXPECT_EQ(s.run_until_idle(), 16u);
  return order;
}

TEST_F(TestScheduler, TheSameSeedGivesTheSameOrder) {
  auto a = order_for(42);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a, order_for(42));
  bool some_seed_differs = false;
  for (std::uint64_t seed = 1; seed <= 4; seed++) some_seed_differs |= order_for(seed) != a;
  EXPECT_TRUE(some_seed_differs);
}

TEST_F(TestScheduler, RunUntilIdleStopsAtMaxItemsAndRunsWhatWorkPosts) {
  auto s = tapir::scheduler::test(7);
  int ran = 0;
  for (int i = 0; i < 5; i++) s.post([&] { ran++; });
  EXPECT_EQ(s.run_until_idle(2), 2u);
  EXPECT_EQ(ran, 2);
  s.post([&] { s.post([&] { ran += 10; }); });  // work posted by work runs in the same call
  EXPECT_EQ(s.run_until_idle(), 5u);
  EXPECT_EQ(ran, 15);
  EXPECT_EQ(s.run_until_idle(), 0u);
  auto m = tapir::scheduler::manual();  // a manual scheduler runs until idle too
  m.post([&] { ran++; });
  EXPECT_EQ(m.run_until_idle(), 1u);
  EXPECT_EQ(status_of([] { (void)tapir::scheduler::thread_pool().run_until_idle(); }),
            TAPIR_STATUS_INVALID_ARGUMENT);
}

// ---- the wake descriptor ----

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

TEST_F(WakeFd, IsReadableExactlyWhileWorkIsQueued) {
  auto m = tapir::scheduler::manual();
  int fd = m.wake_fd();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(m.wake_fd(), fd);  // always the same descriptor
  EXPECT_FALSE(readable(fd));
  m.post([] {});
  m.post([] {});
  EXPECT_TRUE(readable(fd));
  EXPECT_EQ(m.run_pending(1), 1u);
  EXPECT_TRUE(readable(fd));
  m.run_pending();
  EXPECT_FALSE(readable(fd));
  auto t = tapir::scheduler::test(1);
  EXPECT_GE(t.wake_fd(), 0);
  EXPECT_EQ(status_of([] { (void)tapir::scheduler::thread_pool().wake_fd(); }), TAPIR_STATUS_INVALID_ARGUMENT);
}

// ---- host-driven time ----

TEST_F(HostTime, NeedsTheHostDriver) {
  EXPECT_EQ(status_of([] { tapir::time_advance(10); }), TAPIR_STATUS_INVALID_STATE);
  EXPECT_EQ(status_of([] { (void)tapir::timers_run_due(); }), TAPIR_STATUS_INVALID_STATE);
  EXPECT_FALSE(tapir::timers_next_due().has_value());
}

TEST_F(Configured, HostDrivenTimeRunsTimersWhenTheHostSays) {
  auto main = tapir::scheduler::manual();
  tapir::config c;
  c.driver = tapir::timer_driver::host;
  c.timer_scheduler = main;
  tapir::configure(c);
  EXPECT_FALSE(tapir::timers_next_due().has_value());
  auto d = tapir::delay(std::chrono::milliseconds(100));
  tapir::cancel_source cs;
  cs.cancel_after(std::chrono::milliseconds(250));
  ASSERT_TRUE(tapir::timers_next_due().has_value());
  EXPECT_EQ(*tapir::timers_next_due(), 100u);
  tapir::time_advance(99);
  EXPECT_EQ(tapir::timers_run_due(), 0u);
  tapir::time_advance(100);
  EXPECT_EQ(tapir::timers_run_due(), 1u);
  EXPECT_FALSE(d.is_completed());  // posted to `main`
  main.run_pending();
  EXPECT_TRUE(d.is_succeeded());
  EXPECT_EQ(*tapir::timers_next_due(), 250u);
  EXPECT_EQ(status_of([] { tapir::time_advance(50); }), TAPIR_STATUS_INVALID_ARGUMENT);  // time never goes back
  tapir::time_advance(1000);
  EXPECT_EQ(tapir::timers_run_due(), 1u);
  main.run_pending();
  EXPECT_TRUE(cs.is_canceled());
  EXPECT_FALSE(tapir::timers_next_due().has_value());
}

// The test recipe: no thread at all, the test scheduler as the pool and the timer
// scheduler, host time; an hour of retries and timeouts runs at once, reproducibly.
TEST_F(Configured, SingleThreadedRunsAnHourOfDelaysAtOnce) {
  auto s = tapir::scheduler::test(3);
  tapir::configure(tapir::config::single_threaded(s));
  std::vector<std::string> log;
  auto a = tapir::run([&] { log.push_back("run"); });
  auto b = tapir::delay(std::chrono::hours(1)).then([&] { log.push_back("hour"); }, tapir::synchronously());
  auto c = tapir::delay(std::chrono::minutes(1)).then([&] { log.push_back("minute"); }, tapir::synchronously());
  tapir::completion_source<int> never;
  auto w = never.get_task().wait_async(std::chrono::minutes(30));
  EXPECT_TRUE(log.empty());
  ASSERT_TRUE(tapir::timers_next_due().has_value());
  EXPECT_EQ(*tapir::timers_next_due(), 60u * 1000u);
  s.run_until_idle();
  EXPECT_EQ(log, (std::vector<std::string>{"run", "minute", "hour"}));
  EXPECT_TRUE(a.is_succeeded());
  EXPECT_TRUE(b.is_succeeded());
  EXPECT_TRUE(c.is_succeeded());
  EXPECT_THROW(w.get(), tapir::timeout_error);
  EXPECT_FALSE(tapir::timers_next_due().has_value());
  never.set_value(0);
}

// ---- configure ----

struct hook_log {
  std::mutex m;
  std::vector<std::string> started;
  int stopped = 0;
};

std::string thread_name() {
  char n[16] = {};
  pthread_getname_np(pthread_self(), n, sizeof n);
  return n;
}

// A thread is named before its start hook runs (a profiler registers it by name there).
void on_start(void* ctx, std::int32_t kind, std::uint32_t index) {
  auto* log = static_cast<hook_log*>(ctx);
  std::string name = thread_name();
  std::lock_guard<std::mutex> lock(log->m);
  log->started.push_back(std::to_string(kind) + ":" + std::to_string(index) + ":" + name);
}

void on_stop(void* ctx, std::int32_t, std::uint32_t) {
  auto* log = static_cast<hook_log*>(ctx);
  std::lock_guard<std::mutex> lock(log->m);
  log->stopped++;
}

TEST_F(Configured, ThreadsNamesAndHooks) {
  hook_log log;
  tapir::config c;
  c.threads = 2;
  c.thread_name_prefix = "hb";
  c.stack_size = 512 * 1024;
  c.on_thread_start = &on_start;
  c.on_thread_stop = &on_stop;
  c.hook_ctx = &log;
  tapir::configure(c);
  {
    std::lock_guard<std::mutex> lock(log.m);
    EXPECT_TRUE(log.started.empty());  // nothing starts before first use
  }
  std::string name = tapir::run([] { return thread_name(); }).get();
  EXPECT_TRUE(name == "hb-pool-0" || name == "hb-pool-1") << name;
  std::size_t stack = tapir::run([] {
                        pthread_attr_t attr;
                        std::size_t size = 0;
                        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
                          pthread_attr_getstacksize(&attr, &size);
                          pthread_attr_destroy(&attr);
                        }
                        return size;
                      }).get();
  EXPECT_GE(stack, 512u * 1024u);
  EXPECT_LT(stack, 1024u * 1024u);  // the configured size, not the system's default
  tapir::cancel_source cs;
  auto d = tapir::delay(std::chrono::hours(1), cs.token());  // starts the timer thread
  cs.cancel();
  EXPECT_THROW(d.get(), tapir::canceled_error);
  EXPECT_EQ(status_of([] { tapir::configure(tapir::config()); }), TAPIR_STATUS_INVALID_STATE);  // in use
  tapir::shutdown();
  std::lock_guard<std::mutex> lock(log.m);
  std::vector<std::string> started = log.started;
  std::sort(started.begin(), started.end());
  std::vector<std::string> pool(started.begin(), std::find_if(started.begin(), started.end(),
                                                              [](const std::string& s) { return s[0] != '0'; }));
  EXPECT_EQ(pool, (std::vector<std::string>{"0:0:hb-pool-0", "0:1:hb-pool-1"}));
  EXPECT_EQ(log.stopped, static_cast<int>(log.started.size()));  // every started thread stopped
  EXPECT_EQ(std::count(started.begin(), started.end(), "1:0:hb-timer"), 1);  // and one timer thread
  EXPECT_EQ(started.size(), 3u);
}

TEST_F(Configured, RefusesBadFieldsAndChangesNothing) {
  tapir::config c;
  c.threads = 0;  // no pool, no pool scheduler
  EXPECT_EQ(status_of([&] { tapir::configure(c); }), TAPIR_STATUS_INVALID_ARGUMENT);
  c.threads = 1025;
  EXPECT_EQ(status_of([&] { tapir::configure(c); }), TAPIR_STATUS_INVALID_ARGUMENT);
  c.threads = -2;
  EXPECT_EQ(status_of([&] { tapir::configure(c); }), TAPIR_STATUS_INVALID_ARGUMENT);
  c.threads = 2;
  c.pool_scheduler = tapir::scheduler::manual();  // only with threads 0
  EXPECT_EQ(status_of([&] { tapir::configure(c); }), TAPIR_STATUS_INVALID_ARGUMENT);
  c.pool_scheduler.reset();
  c.driver = static_cast<tapir::timer_driver>(7);
  EXPECT_EQ(status_of([&] { tapir::configure(c); }), TAPIR_STATUS_INVALID_ARGUMENT);
  tapir_config raw = tapir::config().to_native();
  EXPECT_EQ(raw.struct_size, sizeof(tapir_config));
  EXPECT_EQ(raw.threads, -1);
  raw.struct_size = 4;
  EXPECT_EQ(tapir_configure(&raw), TAPIR_STATUS_INVALID_ARGUMENT);
  // Nothing changed: time is still the timer thread's.
  EXPECT_EQ(status_of([] { tapir::time_advance(1); }), TAPIR_STATUS_INVALID_STATE);
  // Until first use, a later configure replaces an earlier one.
  tapir::config host;
  host.driver = tapir::timer_driver::host;
  tapir::configure(host);
  tapir::configure(tapir::config());
  EXPECT_EQ(status_of([] { tapir::time_advance(1); }), TAPIR_STATUS_INVALID_STATE);
}

TEST_F(Configured, ShutdownReturnsToTheDefaults) {
  auto s = tapir::scheduler::test(9);
  std::size_t schedulers = tapir::live_objects(TAPIR_OBJECT_KIND_SCHEDULER);
  tapir::configure(tapir::config::single_threaded(s));
  bool ran = false;
  auto t = tapir::run([&] { ran = true; });
  s.run_until_idle();
  EXPECT_TRUE(ran);
  t.get();
  tapir::time_advance(5);  // the host driver is in use
  tapir::shutdown();
  EXPECT_EQ(status_of([] { tapir::time_advance(10); }), TAPIR_STATUS_INVALID_STATE);  // back to the timer thread
  s.reset();
  EXPECT_EQ(tapir::live_objects(TAPIR_OBJECT_KIND_SCHEDULER), schedulers - 1);  // tapir let go of it
  EXPECT_TRUE(tapir::run([] { return 1; }).get() == 1);  // the default pool again
}

}  // namespace
