// Coordination primitives through the C++ binding: semaphore, events, countdown,
// barrier, async_lock / async_rwlock guards, channel<T>, cache<T>.
#include <memory>
#include <optional>
#include <string>

#include "support.hpp"

namespace {

using Prims = tt::Leakcheck;
using namespace std::chrono_literals;

TEST_F(Prims, SemaphoreWaitsInOrderAndRefusesOverRelease) {
  tapir::semaphore s(1, 2);
  EXPECT_TRUE(s.try_wait());
  EXPECT_FALSE(s.try_wait());
  auto a = s.wait_async();
  auto b = s.wait_async();
  EXPECT_FALSE(a.is_completed());
  EXPECT_EQ(s.signal(), 0u);
  EXPECT_TRUE(a.get());
  EXPECT_FALSE(b.is_completed());
  s.signal();
  EXPECT_TRUE(b.get());
  s.signal(2);
  EXPECT_EQ(s.current_count(), 2u);
  try {
    s.signal();
    ADD_FAILURE() << "over-release did not throw";
  } catch (const tapir::status_error& e) {
    EXPECT_EQ(e.status(), TAPIR_STATUS_FULL);
  }
  EXPECT_EQ(s.current_count(), 2u);
  EXPECT_THROW((void)s.try_wait(0), tapir::status_error);
}

TEST_F(Prims, SemaphoreTimeoutAndCancel) {
  tapir::semaphore s(0, 1);
  EXPECT_FALSE(s.wait_async(1, 10ms).get());
  tapir::cancel_source cs;
  auto tok = cs.token();
  auto t = s.wait_async(1, tok);
  cs.cancel();
  EXPECT_THROW(t.get(), tapir::canceled_error);
  s.signal();
  EXPECT_EQ(s.current_count(), 1u);  // neither left waiter took the permit
  auto copy = s;                      // copy = retain
  EXPECT_EQ(copy.current_count(), 1u);
}

TEST_F(Prims, Events) {
  tapir::auto_reset_event a;
  auto w = a.wait_async();
  a.set();
  EXPECT_TRUE(w.get());
  a.set();
  a.set();
  EXPECT_TRUE(a.try_wait());
  EXPECT_FALSE(a.try_wait());
  EXPECT_FALSE(a.wait_async(5ms).get());

  tapir::manual_reset_event m;
  auto w1 = m.wait_async(), w2 = m.wait_async();
  m.set();
  EXPECT_TRUE(w1.get() && w2.get());
  EXPECT_TRUE(m.is_set());
  EXPECT_TRUE(m.wait_async().get());
  m.reset();
  EXPECT_FALSE(m.is_set());
  EXPECT_FALSE(m.wait_async(5ms).get());
}

TEST_F(Prims, CountdownAndBarrier) {
  tapir::countdown_event c(2);
  auto w = c.wait_async();
  EXPECT_FALSE(c.signal());
  c.add_count();
  EXPECT_EQ(c.current_count(), 2u);
  EXPECT_TRUE(c.signal(2));
  EXPECT_TRUE(w.get());
  EXPECT_TRUE(c.is_set());
  EXPECT_FALSE(c.try_add_count());
  EXPECT_THROW(c.signal(), tapir::status_error);
  c.reset();
  EXPECT_EQ(c.current_count(), 2u);
  c.reset(5);
  EXPECT_EQ(c.initial_count(), 5u);

  std::vector<std::uint64_t> phases;
  tapir::barrier b(2, [&](std::uint64_t phase) {
    phases.push_back(phase);
    if (phase == 1) throw std::runtime_error("phase one failed");
  });
  auto x = b.signal_and_wait_async();
  EXPECT_EQ(b.participants_remaining(), 1u);
  auto y = b.signal_and_wait_async();
  EXPECT_TRUE(x.get() && y.get());
  auto p = b.signal_and_wait_async(), q = b.signal_and_wait_async();
  EXPECT_THROW(p.get(), std::runtime_error);  // the action's own exception
  EXPECT_THROW(q.get(), std::runtime_error);
  EXPECT_EQ(phases, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(b.current_phase(), 2u);
  EXPECT_EQ(b.add_participants(), 2u);
  EXPECT_EQ(b.participant_count(), 3u);
  b.remove_participants();
  EXPECT_EQ(b.participant_count(), 2u);
}

TEST_F(Prims, LockGuardsAreRaii) {
  tapir::async_lock l;
  std::optional<tapir::lock_guard> second_holder;
  {
    auto g = l.acquire_async().get();  // the task is gone: g alone holds the lock
    EXPECT_TRUE(g);
    EXPECT_TRUE(l.is_held());
    EXPECT_FALSE(l.try_acquire().has_value());
    auto waiting = l.acquire_async();
    EXPECT_FALSE(waiting.is_completed());
    EXPECT_FALSE(l.acquire_async(5ms).get());  // timed out: an empty guard
    g.unlock();
    second_holder = waiting.get();
  }
  EXPECT_TRUE(l.is_held());  // second_holder holds it
  second_holder.reset();
  EXPECT_FALSE(l.is_held());
  auto g = l.try_acquire();
  ASSERT_TRUE(g.has_value());
  EXPECT_TRUE(l.is_held());
}

TEST_F(Prims, RwLockPrefersWriters) {
  tapir::async_rwlock rw;
  auto r1 = rw.read_async().get();
  auto w = rw.write_async();
  auto r2 = rw.read_async();  // behind the waiting writer
  EXPECT_FALSE(w.is_completed());
  EXPECT_FALSE(r2.is_completed());
  EXPECT_EQ(rw.reader_count(), 1u);
  r1.unlock();
  auto wg = w.get();
  EXPECT_TRUE(rw.is_write_held());
  EXPECT_FALSE(rw.try_read().has_value());
  wg.unlock();
  w = tapir::task<tapir::lock_guard>();  // the task's own reference goes too
  auto rg = r2.get();
  EXPECT_EQ(rw.reader_count(), 1u);
  rg.unlock();
  r2 = tapir::task<tapir::lock_guard>();
  EXPECT_EQ(rw.reader_count(), 0u);
  EXPECT_TRUE(rw.try_write().has_value());
}

TEST_F(Prims, ChannelOfStrings) {
  tapir::channel<std::string> ch(2);
  EXPECT_TRUE(ch.try_write("one"));
  EXPECT_TRUE(ch.try_write("two"));
  EXPECT_FALSE(ch.try_write("three"));  // full: the value is destroyed by the wrapper
  auto w = ch.write_async("three");
  EXPECT_FALSE(w.is_completed());
  EXPECT_EQ(ch.try_read().value(), "one");
  EXPECT_TRUE(w.get());
  EXPECT_EQ(ch.read_async().get(), "two");
  auto r = ch.read_async();
  EXPECT_EQ(r.get(), "three");
  auto pending = ch.read_async();
  auto more = ch.wait_to_read_async();
  ch.complete();
  EXPECT_THROW(pending.get(), tapir::exception);
  EXPECT_FALSE(more.get());
  EXPECT_TRUE(ch.is_completed());
  EXPECT_FALSE(ch.try_read().has_value());
  EXPECT_THROW((void)ch.write_async("late"), tapir::status_error);

  tapir::channel<int> drop(1, tapir::full_mode::drop_oldest);
  EXPECT_TRUE(drop.try_write(1));
  EXPECT_TRUE(drop.try_write(2));
  EXPECT_EQ(drop.count(), 1u);
  EXPECT_EQ(drop.try_read().value(), 2);
}

TEST_F(Prims, ChannelProducersAndConsumers) {
  tapir::channel<int> ch(16);
  std::atomic<long> sum{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < 2; p++)
    threads.emplace_back([&, p] {
      for (int i = 1; i <= 5000; i++) ch.write_async(p * 10000 + i).wait();
    });
  for (int c = 0; c < 2; c++)
    threads.emplace_back([&] {
      for (;;) {
        auto t = ch.read_async();
        t.wait();
        if (!t.is_succeeded()) return;
        sum += t.get();
      }
    });
  threads[0].join();
  threads[1].join();
  ch.complete();
  threads[2].join();
  threads[3].join();
  long want = 0;
  for (int p = 0; p < 2; p++)
    for (int i = 1; i <= 5000; i++) want += p * 10000 + i;
  EXPECT_EQ(sum.load(), want);
}

TEST_F(Prims, CacheRunsTheFactoryOncePerKey) {
  int calls = 0;
  tapir::cache<std::string> c([&](std::string_view key) {
    calls++;
    if (key == "bad") throw std::invalid_argument("no such key");
    return tapir::task<std::string>::from_result(std::string(key) + "!");
  });
  auto a = c.get_async("k");
  auto b = c.get_async("k");
  EXPECT_EQ(a.id(), b.id());
  EXPECT_EQ(a.get(), "k!");
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(c.get_async("bad").get(), std::invalid_argument);
  EXPECT_THROW(c.get_async("bad").get(), std::invalid_argument);
  EXPECT_EQ(calls, 3);  // a failure is evicted: the factory runs again
  EXPECT_EQ(c.count(), 1u);
  EXPECT_TRUE(c.remove("k"));
  EXPECT_FALSE(c.remove("k"));
  (void)c.get_async("z").get();
  c.clear();
  EXPECT_EQ(c.count(), 0u);

  tapir::cache<int> lru([](std::string_view key) { return tapir::task<int>::from_result(int(key.size())); },
                        tapir::cache_options{1, false});
  EXPECT_EQ(lru.get_async("aa").get(), 2);
  EXPECT_EQ(lru.get_async("bbb").get(), 3);
  EXPECT_EQ(lru.count(), 1u);
}

}  // namespace
