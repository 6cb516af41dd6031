// task<T> and completion_source<T>: typed values, status, waiting, results.
#include <cstring>
#include <map>
#include <string>

#include "support.hpp"

namespace {

using Task = tt::Leakcheck;
using Source = tt::Leakcheck;

// A value that counts its live instances, to prove each boxed value is destroyed once.
struct counted {
  static std::atomic<int> live;
  int v;
  explicit counted(int x) : v(x) { ++live; }
  counted(const counted& o) : v(o.v) { ++live; }
  ~counted() { --live; }
};
std::atomic<int> counted::live{0};

TEST_F(Task, FromResultCarriesTypedValues) {
  EXPECT_EQ(tapir::task<int>::from_result(42).get(), 42);
  EXPECT_EQ(tapir::task<long>::from_result(-7L).get(), -7L);
  EXPECT_DOUBLE_EQ(tapir::task<double>::from_result(2.5).get(), 2.5);
  EXPECT_EQ(tapir::task<bool>::from_result(true).get(), true);
  EXPECT_EQ(tapir::task<std::string>::from_result("boxed string").get(), "boxed string");
  std::vector<int> v{1, 2, 3};
  EXPECT_EQ(tapir::task_from_result(v).get(), v);
  EXPECT_EQ((tapir::task<std::map<int, int>>::from_result(std::map<int, int>{{1, 2}}).get().at(1)), 2);
  static int target = 5;
  EXPECT_EQ(tapir::task<int*>::from_result(&target).get(), &target);
  tapir::completed_task().get();  // task<void>
  tapir::task<void>::from_result().get();
}

TEST_F(Task, IntegersTravelInThePointerBitsLikeC) {
  // C code reads an integer task with (intptr_t)value, and writes one the same way.
  auto t = tapir::task<int>::from_result(-3);
  void* v = nullptr;
  ASSERT_EQ(tapir_task_result(t.native(), &v), TAPIR_STATUS_OK);
  EXPECT_EQ(reinterpret_cast<std::intptr_t>(v), -3);
  const tapir_task* raw = nullptr;
  ASSERT_EQ(tapir_task_from_result(reinterpret_cast<void*>(static_cast<std::intptr_t>(-11)), nullptr, &raw),
            TAPIR_STATUS_OK);
  EXPECT_EQ(tapir::task<int>::adopt(raw).get(), -11);
}

TEST_F(Task, BoxedValuesArePlainPointersToTForC) {
  auto t = tapir::task<std::string>::from_result("seen from C");
  void* v = nullptr;
  ASSERT_EQ(tapir_task_result(t.native(), &v), TAPIR_STATUS_OK);
  EXPECT_EQ(*static_cast<std::string*>(v), "seen from C");
}

TEST_F(Task, BoxedValueIsDestroyedExactlyOnceWithTheLastReference) {
  counted::live = 0;
  {
    tapir::completion_source<counted> s;
    auto t = s.get_task();
    s.set_value(8);
    EXPECT_EQ(counted::live.load(), 1);
    auto copy = t;
    EXPECT_EQ(copy.get().v, 8);  // get() copies; the copy is gone at the semicolon
    EXPECT_EQ(counted::live.load(), 1);
  }
  EXPECT_EQ(counted::live.load(), 0);
  {
    tapir::completion_source<counted> s;
    s.set_value(1);
    EXPECT_FALSE(s.try_set_value(2));  // refused: the second value is destroyed at once
    EXPECT_EQ(counted::live.load(), 1);
  }
  EXPECT_EQ(counted::live.load(), 0);
}

TEST_F(Task, StatusQueries) {
  tapir::completion_source<int> s;
  auto t = s.get_task();
  EXPECT_EQ(t.status(), TAPIR_TASK_STATUS_PENDING);
  EXPECT_FALSE(t.is_completed());
  EXPECT_NE(t.id(), 0u);
  s.set_value(1);
  EXPECT_TRUE(t.is_completed());
  EXPECT_TRUE(t.is_succeeded());
  EXPECT_FALSE(t.is_faulted());
  EXPECT_FALSE(t.is_canceled());
  auto f = tapir::task<int>::from_exception(std::make_exception_ptr(std::runtime_error("x")));
  EXPECT_TRUE(f.is_faulted());
  auto c = tapir::task<int>::from_canceled();
  EXPECT_TRUE(c.is_canceled());
  EXPECT_EQ(c.status(), TAPIR_TASK_STATUS_CANCELED);
  EXPECT_NE(f.id(), c.id());
}

TEST_F(Task, AsyncStateIsReportedBack) {
  int state = 0;
  tapir::completion_source<void> s(0, &state);
  EXPECT_EQ(s.get_task().async_state(), &state);
  s.set_value();
}

TEST_F(Task, GetBlocksUntilAnotherThreadCompletes) {
  tapir::completion_source<std::string> s;
  auto t = s.get_task();
  std::thread producer([s] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.set_value("late");
  });
  EXPECT_EQ(t.get(), "late");
  producer.join();
}

TEST_F(Task, WaitForTimesOutThenSucceeds) {
  tapir::completion_source<int> s;
  auto t = s.get_task();
  EXPECT_FALSE(t.wait_for(std::chrono::milliseconds(10)));
  EXPECT_FALSE(t.wait_for(std::chrono::milliseconds(0)));
  s.set_value(3);
  EXPECT_TRUE(t.wait_for(std::chrono::seconds(1)));
  t.wait();
  EXPECT_TRUE(t.wait_for(tapir::infinite));
}

TEST_F(Task, WaitDoesNotThrowForFailures) {
  auto f = tapir::task<int>::from_exception(std::make_exception_ptr(std::runtime_error("x")));
  EXPECT_NO_THROW(f.wait());
  EXPECT_TRUE(f.wait_for(std::chrono::milliseconds(1)));
  EXPECT_THROW((void)f.get(), std::runtime_error);
}

TEST_F(Task, FromErrorAndNativeErrors) {
  auto e = tapir::error::make(404, "not found");
  auto t = tapir::task<int>::from_error(e);
  EXPECT_TRUE(t.is_faulted());
  EXPECT_EQ(t.first_error().code(), 404);
  ASSERT_EQ(t.errors().size(), 1u);
  EXPECT_EQ(t.errors()[0], e);  // the same error handle value
  try {
    (void)t.get();
    FAIL();
  } catch (const tapir::task_error& te) {
    EXPECT_EQ(te.code(), 404);
    EXPECT_STREQ(te.what(), "not found");
    EXPECT_EQ(te.first(), e);
  }
}

TEST_F(Task, FromCanceledWithToken) {
  tapir::cancel_source cs;
  cs.cancel();
  auto tok = cs.token();
  auto t = tapir::task<int>::from_canceled(tok);
  EXPECT_EQ(t.cancellation_token(), tok);
  try {
    (void)t.get();
    FAIL();
  } catch (const tapir::canceled_error& c) {
    EXPECT_EQ(c.code(), TAPIR_STATUS_CANCELED);
    EXPECT_EQ(c.token(), tok);
  }
  // A token that is not canceled is refused.
  tapir::cancel_source live;
  EXPECT_THROW((void)tapir::task<int>::from_canceled(live.token()), tapir::status_error);
}

TEST_F(Task, TaskOfTaskUnwraps) {
  tapir::completion_source<int> inner;
  auto outer = tapir::task<tapir::task<int>>::from_result(inner.get_task());
  tapir::task<int> proxy = outer.unwrap();
  EXPECT_FALSE(proxy.is_completed());
  inner.set_value(12);
  EXPECT_EQ(proxy.get(), 12);
  EXPECT_EQ(outer.get().get(), 12);  // the stored task itself
}

TEST_F(Source, SetValueTwiceThrowsAlreadyCompleted) {
  tapir::completion_source<int> s;
  s.set_value(1);
  try {
    s.set_value(2);
    FAIL();
  } catch (const tapir::status_error& e) {
    EXPECT_EQ(e.status(), TAPIR_STATUS_ALREADY_COMPLETED);
  }
  EXPECT_FALSE(s.try_set_value(3));
  EXPECT_FALSE(s.try_set_canceled());
  EXPECT_FALSE(s.try_set_exception(std::make_exception_ptr(std::runtime_error("late"))));
  EXPECT_FALSE(s.try_set_error(tapir::error::make(1, "late")));
  EXPECT_EQ(s.get_task().get(), 1);
}

TEST_F(Source, SetValueConstructsInPlace) {
  tapir::completion_source<std::string> s;
  s.set_value(3, 'z');
  EXPECT_EQ(s.get_task().get(), "zzz");
  tapir::completion_source<std::pair<int, std::string>> p;
  EXPECT_TRUE(p.try_set_value(1, "one"));
  EXPECT_EQ(p.get_task().get().second, "one");
}

TEST_F(Source, SetErrorsKeepsOrder) {
  tapir::completion_source<int> s;
  auto a = tapir::error::make(1, "a");
  auto b = tapir::error::make(2, "b");
  s.set_errors({a, b});
  auto t = s.get_task();
  auto errs = t.errors();
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], a);
  EXPECT_EQ(errs[1], b);
  try {
    (void)t.get();
    FAIL();
  } catch (const tapir::task_error& te) {
    EXPECT_EQ(te.first(), a);
    ASSERT_EQ(te.errors().size(), 2u);
    EXPECT_EQ(te.errors()[1], b);
  }
  tapir::completion_source<int> s2;
  EXPECT_TRUE(s2.try_set_errors({b}));
  EXPECT_FALSE(s2.try_set_errors({a}));
  EXPECT_THROW(s2.set_error(a), tapir::status_error);
  tapir::completion_source<int> s3;
  EXPECT_THROW(s3.set_errors({}), tapir::status_error);  // an empty list is refused
  s3.set_value(0);
}

TEST_F(Source, SetCanceledWithAndWithoutToken) {
  tapir::completion_source<void> s;
  s.set_canceled();
  EXPECT_TRUE(s.get_task().is_canceled());
  EXPECT_FALSE(s.get_task().cancellation_token());  // no token recorded

  auto tok = tapir::cancel_token::canceled();
  tapir::completion_source<void> s2;
  s2.set_canceled(tok);
  EXPECT_EQ(s2.get_task().cancellation_token(), tok);
}

TEST_F(Source, SetFromTaskMirrorsEachOutcome) {
  tapir::completion_source<int> inner;
  tapir::completion_source<int> outer;
  auto outer_task = outer.get_task();
  outer.set_from_task(inner.get_task());
  EXPECT_FALSE(outer_task.is_completed());
  inner.set_value(6);
  EXPECT_EQ(outer_task.get(), 6);

  tapir::completion_source<int> o2;
  auto o2_task = o2.get_task();
  o2.set_from_task(tapir::task<int>::from_canceled());
  EXPECT_TRUE(o2_task.is_canceled());
  try {
    o2.set_from_task(tapir::task<int>::from_result(1));
    FAIL();
  } catch (const tapir::status_error& e) {
    EXPECT_EQ(e.status(), TAPIR_STATUS_ALREADY_COMPLETED);
  }
}

// Nothing in the contract asks the producer to hold its own task while it
// forwards another task's outcome to it.
TEST_F(Source, SetFromTaskWithoutHoldingTheTask) {
  tapir::completion_source<int> s;
  s.set_from_task(tapir::task<int>::from_result(3));
  EXPECT_EQ(s.get_task().get(), 3);
}

TEST_F(Source, ReleasedUnfinishedBreaksItsPromise) {
  tapir::task<int> t;
  {
    tapir::completion_source<int> s;
    t = s.get_task();
  }
  ASSERT_TRUE(t.wait_for(std::chrono::seconds(2)));
  try {
    (void)t.get();
    FAIL();
  } catch (const tapir::task_error& e) {
    EXPECT_EQ(e.code(), TAPIR_STATUS_BROKEN_PROMISE);
  }
}

TEST_F(Source, RunContinuationsAsynchronouslyKeepsThemOffTheCompletingThread) {
  tapir::completion_source<int> s(TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
  std::atomic<std::thread::id> ran_on{};
  auto c = s.get_task().then([&](int) { ran_on = std::this_thread::get_id(); }, tapir::synchronously());
  s.set_value(1);
  c.get();
  EXPECT_NE(ran_on.load(), std::this_thread::get_id());
  try {
    tapir::completion_source<int> bad(0x80);  // unknown flag bits
    FAIL() << "unknown source flags were accepted";
  } catch (const tapir::status_error& e) {
    EXPECT_EQ(e.status(), TAPIR_STATUS_INVALID_ARGUMENT);
  }
}

}  // namespace
