// RAII handles: copy retains, move steals, destroy releases; native/adopt/borrow/
// release cross to and from C; an empty handle throws std::logic_error when used.
#include "support.hpp"

namespace {

using Handles = tt::Leakcheck;

// Copies, moves and destruction of every handle type leave the live count where it was.
TEST_F(Handles, CopyMoveDestroyOfEveryTypeLeavesNothingAlive) {
  {
    tapir::completion_source<int> s;
    tapir::task<int> t = s.get_task();
    tapir::task<int> copy = t;             // retain
    tapir::task<int> moved = std::move(t);  // steal
    EXPECT_FALSE(t);
    EXPECT_TRUE(copy == moved);
    tapir::task<int> assigned;
    assigned = copy;
    assigned = std::move(moved);
    tapir::completion_source<int> s2 = s;
    tapir::completion_source<int> s3 = std::move(s2);
    s3.set_value(4);
    EXPECT_EQ(copy.get(), 4);

    tapir::cancel_source cs;
    tapir::cancel_source cs2 = cs;
    tapir::cancel_token tok = cs.token();
    tapir::cancel_token tok2 = tok;
    tapir::cancel_token tok3 = std::move(tok2);
    tapir::cancel_registration r = tok.on_canceled([] {});
    tapir::cancel_registration r2 = r;
    tapir::cancel_registration r3 = std::move(r2);
    EXPECT_TRUE(r3.unregister());

    tapir::scheduler m = tapir::scheduler::manual();
    tapir::scheduler m2 = m;
    tapir::scheduler m3 = std::move(m2);

    tapir::error e = tapir::error::make(7, "seven");
    tapir::error e2 = e;
    tapir::error e3 = std::move(e2);
    EXPECT_EQ(e3.code(), 7);

    tapir::completion_source<void> pending;
    tapir::registration reg = pending.get_task().register_on_complete([] {}, tapir::synchronously());
    tapir::registration reg2 = reg;
    tapir::registration reg3 = std::move(reg2);
    EXPECT_TRUE(reg3.remove());
    pending.set_value();

    tapir::progress<int> p(tapir::scheduler::inline_scheduler(), [](int) {});
    tapir::progress<int> p2 = p;
    tapir::progress<int> p3 = std::move(p2);
    EXPECT_TRUE(p3);
    EXPECT_FALSE(p2);
  }
  // The fixture checks the live count.
}

TEST_F(Handles, AdoptTakesOwnershipAndReleaseGivesItBack) {
  const tapir_task* raw = nullptr;
  ASSERT_EQ(tapir_task_from_result(reinterpret_cast<void*>(9), nullptr, &raw), TAPIR_STATUS_OK);
  {
    tapir::task<int> t = tapir::task<int>::adopt(raw);
    EXPECT_EQ(t.native(), raw);
    EXPECT_EQ(t.get(), 9);
    const tapir_task* back = t.release();
    EXPECT_EQ(back, raw);
    EXPECT_FALSE(t);
    t = tapir::task<int>::adopt(back);
  }
  // The adopted reference was released by the destructor: the handle is stale now.
  EXPECT_EQ(tapir_task_release(raw), TAPIR_STATUS_INVALID_HANDLE);
}

TEST_F(Handles, BorrowRetainsSoBothSidesRelease) {
  const tapir_source* raw = nullptr;
  ASSERT_EQ(tapir_source_new(0, nullptr, &raw), TAPIR_STATUS_OK);
  {
    auto s = tapir::completion_source<int>::borrow(raw);
    s.set_value(1);
  }
  EXPECT_EQ(tapir_source_release(raw), TAPIR_STATUS_OK);  // ours is still valid
  EXPECT_EQ(tapir_source_release(raw), TAPIR_STATUS_INVALID_HANDLE);
}

TEST_F(Handles, BorrowOfAStaleHandleThrowsStatusError) {
  const tapir_task* raw = nullptr;
  ASSERT_EQ(tapir_task_from_result(nullptr, nullptr, &raw), TAPIR_STATUS_OK);
  ASSERT_EQ(tapir_task_release(raw), TAPIR_STATUS_OK);
  try {
    (void)tapir::task<void>::borrow(raw);
    FAIL() << "borrow of a released handle did not throw";
  } catch (const tapir::status_error& e) {
    EXPECT_EQ(e.status(), TAPIR_STATUS_INVALID_HANDLE);
  }
  EXPECT_FALSE(tapir::task<void>::borrow(nullptr));  // NULL borrows as empty
}

TEST_F(Handles, MovedFromTaskThrowsLogicError) {
  auto t = tapir::task<int>::from_result(1);
  auto u = std::move(t);
  EXPECT_THROW((void)t.get(), std::logic_error);
  EXPECT_THROW((void)t.is_completed(), std::logic_error);
  EXPECT_THROW((void)t.status(), std::logic_error);
  EXPECT_THROW(t.wait(), std::logic_error);
  EXPECT_THROW((void)t.then([](int) {}), std::logic_error);
  EXPECT_THROW(t.on_complete([] {}), std::logic_error);
  EXPECT_THROW((void)t.errors(), std::logic_error);
  EXPECT_THROW((void)t.wait_async(std::chrono::milliseconds(1)), std::logic_error);
  EXPECT_THROW((void)tapir::when_all(t, u), std::logic_error);
  EXPECT_THROW((void)tapir::when_all(std::vector<tapir::task<int>>{u, t}), std::logic_error);
  tapir::task<int> empty;
  EXPECT_THROW((void)empty.id(), std::logic_error);
  EXPECT_EQ(u.get(), 1);
}

TEST_F(Handles, MovedFromOfEveryOtherTypeThrowsLogicError) {
  tapir::completion_source<int> s;
  auto s2 = std::move(s);
  EXPECT_THROW(s.set_value(1), std::logic_error);
  EXPECT_THROW((void)s.get_task(), std::logic_error);
  s2.set_value(1);

  tapir::cancel_source cs;
  auto cs2 = std::move(cs);
  EXPECT_THROW(cs.cancel(), std::logic_error);
  EXPECT_THROW((void)cs.token(), std::logic_error);

  tapir::cancel_token tok = cs2.token();
  auto tok2 = std::move(tok);
  EXPECT_THROW((void)tok.is_canceled(), std::logic_error);
  EXPECT_THROW((void)tok.on_canceled([] {}), std::logic_error);
  EXPECT_THROW((void)tapir::delay(std::chrono::milliseconds(1), tok), std::logic_error);

  auto reg = tok2.on_canceled([] {});
  auto reg2 = std::move(reg);
  EXPECT_THROW((void)reg.unregister(), std::logic_error);
  EXPECT_TRUE(reg2.unregister());

  tapir::scheduler sched = tapir::scheduler::manual();
  auto sched2 = std::move(sched);
  EXPECT_THROW(sched.post([] {}), std::logic_error);
  EXPECT_THROW((void)sched.run_pending(), std::logic_error);
  EXPECT_THROW(tapir::continuation_options().on(sched), std::logic_error);

  tapir::error e = tapir::error::make(1, "x");
  auto e2 = std::move(e);
  EXPECT_THROW((void)e.code(), std::logic_error);
  EXPECT_THROW((void)e.message(), std::logic_error);

  tapir::registration r;
  EXPECT_THROW((void)r.remove(), std::logic_error);

  tapir::progress<int> p;
  EXPECT_THROW(p.report(1), std::logic_error);

  tapir::work w(nullptr);
  EXPECT_THROW(w.run(), std::logic_error);
}

TEST_F(Handles, SelfAssignmentKeepsTheReference) {
  auto t = tapir::task<int>::from_result(5);
  tapir::task<int>& alias = t;
  t = alias;
  t = std::move(alias);
  EXPECT_TRUE(t);
  EXPECT_EQ(t.get(), 5);
}

TEST_F(Handles, ResetReleasesAndEmpties) {
  auto t = tapir::task<int>::from_result(5);
  const tapir_task* raw = t.native();
  t.reset();
  EXPECT_FALSE(t.valid());
  EXPECT_EQ(tapir_task_get_status(raw), TAPIR_TASK_STATUS_INVALID_HANDLE);
}

TEST_F(Handles, ManyCopiesAcrossThreadsBalance) {
  auto t = tapir::task<int>::from_result(3);
  std::vector<std::thread> threads;
  std::atomic<long> sum{0};
  for (int i = 0; i < 4; i++)
    threads.emplace_back([t, &sum] {
      for (int k = 0; k < 10000; k++) {
        tapir::task<int> c = t;
        tapir::task<int> m = std::move(c);
        sum += m.get();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(sum.load(), 4L * 10000 * 3);
}

TEST_F(Handles, VersionAndLiveObjects) {
  EXPECT_EQ(std::string(tapir::version()), std::to_string(TAPIR_VERSION_MAJOR) + "." +
                                               std::to_string(TAPIR_VERSION_MINOR) + "." +
                                               std::to_string(TAPIR_VERSION_PATCH));
  std::size_t before = tapir::live_objects(TAPIR_OBJECT_KIND_TASK);
  {
    auto t = tapir::task<int>::from_result(1);
    EXPECT_EQ(tapir::live_objects(TAPIR_OBJECT_KIND_TASK), before + 1);
  }
  EXPECT_EQ(tapir::live_objects(TAPIR_OBJECT_KIND_TASK), before);
}

// adopt() takes a +1 C handle into every wrapper type, borrow() retains one.
TEST_F(Handles, AdoptAndBorrowForEveryType) {
  const tapir_cancel_source* cs = nullptr;
  ASSERT_EQ(tapir_cancel_source_new(&cs), TAPIR_STATUS_OK);
  const tapir_cancel_token* tok = nullptr;
  ASSERT_EQ(tapir_cancel_source_token(cs, &tok), TAPIR_STATUS_OK);
  const tapir_scheduler* sched = nullptr;
  ASSERT_EQ(tapir_scheduler_new_manual(&sched), TAPIR_STATUS_OK);
  const tapir_error* err = nullptr;
  ASSERT_EQ(tapir_error_new(3, reinterpret_cast<const uint8_t*>("e"), 1, nullptr, nullptr, &err), TAPIR_STATUS_OK);
  const tapir_source* src = nullptr;
  ASSERT_EQ(tapir_source_new(0, nullptr, &src), TAPIR_STATUS_OK);
  const tapir_task* task = nullptr;
  ASSERT_EQ(tapir_source_task(src, &task), TAPIR_STATUS_OK);
  const tapir_registration* reg = nullptr;
  ASSERT_EQ(tapir_task_on_complete(
                task, [](void*, const tapir_task*) {}, nullptr, nullptr, nullptr, &reg),
            TAPIR_STATUS_OK);
  const tapir_cancel_registration* creg = nullptr;
  ASSERT_EQ(tapir_cancel_token_register(
                tok, [](void*) -> const tapir_error* { return nullptr; }, nullptr, nullptr, 0, &creg),
            TAPIR_STATUS_OK);
  const tapir_progress* prog = nullptr;
  ASSERT_EQ(tapir_progress_new(sched, [](void*, void*) {}, nullptr, nullptr, &prog), TAPIR_STATUS_OK);
  {
    auto b1 = tapir::cancel_source::borrow(cs);
    auto b2 = tapir::cancel_token::borrow(tok);
    auto b3 = tapir::scheduler::borrow(sched);
    auto b4 = tapir::error::borrow(err);
    auto b5 = tapir::completion_source<void>::borrow(src);
    auto b6 = tapir::task<void>::borrow(task);
    auto b7 = tapir::registration::borrow(reg);
    auto b8 = tapir::cancel_registration::borrow(creg);
    auto b9 = tapir::progress<int>::borrow(prog);
    EXPECT_EQ(b2, b1.token());
    EXPECT_EQ(b4.code(), 3);
    EXPECT_EQ(b6, b5.get_task());
    EXPECT_EQ(b8.token(), b2);
    b9.report(1);
    EXPECT_EQ(b3.run_pending(), 1u);
    EXPECT_TRUE(b7.remove());
    EXPECT_TRUE(b8.unregister());
  }
  // The borrowed references are gone; now the wrappers adopt the originals.
  auto a1 = tapir::cancel_source::adopt(cs);
  auto a2 = tapir::cancel_token::adopt(tok);
  auto a3 = tapir::scheduler::adopt(sched);
  auto a4 = tapir::error::adopt(err);
  auto a5 = tapir::completion_source<void>::adopt(src);
  auto a6 = tapir::task<void>::adopt(task);
  auto a7 = tapir::registration::adopt(reg);
  auto a8 = tapir::cancel_registration::adopt(creg);
  auto a9 = tapir::progress<int>::adopt(prog);
  EXPECT_TRUE(a1 && a2 && a3 && a4 && a5 && a6 && a7 && a8 && a9);
  a5.set_value();
  EXPECT_TRUE(a6.is_succeeded());
}

}  // namespace
