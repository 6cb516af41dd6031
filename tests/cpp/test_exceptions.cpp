// Exceptions: a C++ exception travels as the error's payload and comes back as the
// same object; native errors become tapir::task_error; nothing unwinds into C.
#include <cstring>

#include "support.hpp"

namespace {

using Exceptions = tt::Leakcheck;

// The address of the exception object held by `ep`.
const void* object_of(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const tt::marker_error& e) {
    return &e;
  } catch (...) {
    return nullptr;
  }
}

TEST_F(Exceptions, SetExceptionRethrowsTheSameObject) {
  std::exception_ptr ep = std::make_exception_ptr(tt::marker_error("identity", 7));
  const void* original = object_of(ep);
  tapir::completion_source<int> s;
  s.set_exception(ep);
  auto t = s.get_task();
  try {
    (void)t.get();
    FAIL();
  } catch (const tt::marker_error& e) {
    EXPECT_EQ(static_cast<const void*>(&e), original);
    EXPECT_EQ(e.tag, 7);
  }
  ASSERT_EQ(t.exceptions().size(), 1u);
  EXPECT_EQ(t.exceptions()[0], ep);  // the same std::exception_ptr target
  EXPECT_EQ(t.first_error().exception(), ep);
  EXPECT_EQ(t.first_error().code(), TAPIR_STATUS_FAULTED);
  EXPECT_EQ(t.first_error().message(), "identity");
}

// The error crosses C untouched: C reads it off one task and fails another one with
// it; the C++ side of the second task rethrows the very same exception object.
TEST_F(Exceptions, IdentitySurvivesANativeRoundTrip) {
  std::exception_ptr ep = std::make_exception_ptr(tt::marker_error("round trip"));
  auto first = tapir::task<int>::from_exception(ep);
  // --- plain C from here ---
  const tapir_error* e = nullptr;
  ASSERT_EQ(tapir_task_error(first.native(), &e), TAPIR_STATUS_OK);
  EXPECT_EQ(tapir_error_code(e), TAPIR_STATUS_FAULTED);
  size_t len = 0;
  const uint8_t* msg = tapir_error_message(e, &len);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(msg), len), "round trip");
  const tapir_source* src = nullptr;
  const tapir_task* second = nullptr;
  ASSERT_EQ(tapir_source_new(0, nullptr, &src), TAPIR_STATUS_OK);
  ASSERT_EQ(tapir_source_task(src, &second), TAPIR_STATUS_OK);
  ASSERT_EQ(tapir_source_set_error(src, e), TAPIR_STATUS_OK);
  tapir_error_release(e);
  tapir_source_release(src);
  // --- back in C++ ---
  auto back = tapir::task<int>::adopt(second);
  try {
    (void)back.get();
    FAIL();
  } catch (const tt::marker_error& caught) {
    EXPECT_EQ(static_cast<const void*>(&caught), object_of(ep));
  }
  EXPECT_EQ(back.exceptions()[0], ep);
}

TEST_F(Exceptions, ThrowingContinuationFailsItsTaskWithThatException) {
  std::atomic<const void*> thrown{nullptr};
  auto t = tapir::task<int>::from_result(1).then([&](int) -> int {
    tt::marker_error e("from then");
    try {
      throw e;
    } catch (const tt::marker_error& inflight) {
      thrown = &inflight;
      throw;
    }
  });
  // Passed along a value-based chain without running the later steps.
  std::atomic<bool> later_ran{false};
  auto chained = t.then([&](int v) {
    later_ran = true;
    return v;
  });
  try {
    (void)chained.get();
    FAIL();
  } catch (const tt::marker_error& e) {
    EXPECT_STREQ(e.what(), "from then");
    EXPECT_EQ(static_cast<const void*>(&e), thrown.load());
  }
  EXPECT_FALSE(later_ran.load());
  EXPECT_EQ(t.exceptions()[0], chained.exceptions()[0]);
}

TEST_F(Exceptions, NonStdExceptionsTravelToo) {
  auto t = tapir::run([]() -> int { throw 42; });
  try {
    (void)t.get();
    FAIL();
  } catch (int v) {
    EXPECT_EQ(v, 42);
  }
  EXPECT_EQ(t.first_error().message(), "unknown C++ exception");
}

TEST_F(Exceptions, NonUtf8MessageIsReplacedButTheExceptionKept) {
  auto t = tapir::task<void>::from_exception(std::make_exception_ptr(std::runtime_error("bad \xff byte")));
  EXPECT_EQ(t.first_error().message(), "C++ exception (message is not UTF-8)");
  EXPECT_THROW(t.get(), std::runtime_error);
}

TEST_F(Exceptions, NativeErrorBecomesTaskErrorWithInnerErrors) {
  auto a = tapir::error::make(1, "first part");
  auto b = tapir::error::make(2, "second part");
  auto agg = tapir::error::aggregate(99, "two parts", {a, b});
  EXPECT_EQ(agg.inner_count(), 2u);
  EXPECT_EQ(agg.inner(1), b);
  auto t = tapir::task<void>::from_error(agg);
  try {
    t.get();
    FAIL();
  } catch (const tapir::task_error& e) {
    EXPECT_EQ(e.code(), 99);
    EXPECT_STREQ(e.what(), "two parts");
    auto inner = e.inner();
    ASSERT_EQ(inner.size(), 2u);
    EXPECT_EQ(inner[0].message(), "first part");
    EXPECT_EQ(inner[1].code(), 2);
  }
  EXPECT_THROW((void)agg.inner(2), tapir::status_error);
}

TEST_F(Exceptions, ForeignPayloadIsNeverTakenForAnException) {
  // A payload from C is any pointer at all; this one must not be dereferenced.
  const tapir_error* raw = nullptr;
  ASSERT_EQ(tapir_error_new(5, reinterpret_cast<const uint8_t*>("c payload"), 9, reinterpret_cast<void*>(0x10),
                            nullptr, &raw),
            TAPIR_STATUS_OK);
  auto e = tapir::error::adopt(raw);
  EXPECT_EQ(e.payload(), reinterpret_cast<void*>(0x10));
  EXPECT_FALSE(e.exception());
  EXPECT_THROW(e.rethrow(), tapir::task_error);
}

TEST_F(Exceptions, WhenAllRethrowsTheFirstInInputOrderAndExposesAll) {
  tapir::completion_source<int> a, b, c;
  auto all = tapir::when_all(std::vector<tapir::task<int>>{a.get_task(), b.get_task(), c.get_task()});
  // Complete in reverse order: input order still decides which error is first.
  c.set_error(tapir::error::make(3, "native c"));
  b.set_exception(std::make_exception_ptr(tt::marker_error("cpp b", 2)));
  a.set_value(1);
  try {
    (void)all.get();
    FAIL();
  } catch (const tt::marker_error& e) {
    EXPECT_EQ(e.tag, 2);
  }
  auto errs = all.errors();
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_TRUE(errs[0].exception());
  EXPECT_EQ(errs[1].code(), 3);
  auto eps = all.exceptions();
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_THROW(std::rethrow_exception(eps[1]), tapir::task_error);
}

TEST_F(Exceptions, WhenAllWithANativeFirstErrorExposesAllInTheTaskError) {
  tapir::completion_source<int> a, b;
  auto all = tapir::when_all(a.get_task(), b.get_task());
  a.set_error(tapir::error::make(10, "a"));
  b.set_error(tapir::error::make(20, "b"));
  try {
    (void)all.get();
    FAIL();
  } catch (const tapir::task_error& e) {
    EXPECT_EQ(e.code(), 10);
    ASSERT_EQ(e.errors().size(), 2u);
    EXPECT_EQ(e.errors()[1].code(), 20);
  }
}

TEST_F(Exceptions, CanceledErrorThrownInAContinuationCancelsIt) {
  auto tok = tapir::cancel_token::canceled();
  auto t = tapir::task<int>::from_result(1).then([tok](int) -> int { throw tapir::canceled_error(tok); });
  t.wait();
  EXPECT_TRUE(t.is_canceled());
  EXPECT_EQ(t.cancellation_token(), tok);
  EXPECT_THROW((void)t.get(), tapir::canceled_error);
}

TEST_F(Exceptions, TaskErrorRethrownInAContinuationKeepsTheNativeErrors) {
  auto a = tapir::error::make(31, "a");
  auto b = tapir::error::make(32, "b");
  tapir::completion_source<int> s;
  s.set_errors({a, b});
  auto t = s.get_task().then_task([](tapir::task<int> ant) { return ant.get() + 1; });
  t.wait();
  auto errs = t.errors();
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], a);
  EXPECT_EQ(errs[1], b);
  EXPECT_FALSE(errs[0].exception());
}

TEST_F(Exceptions, ThrowingOnCompleteCallbackGoesToTheHandler) {
  tt::recording_handler h;
  auto t = tapir::task<int>::from_result(1);
  t.on_complete([] { throw tt::marker_error("nowhere else to go", 5); }, tapir::synchronously());
  auto seen = h.exceptions();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(tt::what_of(seen[0]), "nowhere else to go");
  // On a pool thread too: the handler gets it, the worker lives on.
  tapir::completion_source<int> s;
  s.get_task().on_complete([](const tapir::task<int>& done) { throw tt::marker_error("pool", done.get()); });
  s.set_value(3);
  EXPECT_TRUE(tt::eventually([&] { return h.exceptions().size() == 2; }));
}

TEST_F(Exceptions, ThrowingCancelCallbacksAreCollectedByCancel) {
  tapir::cancel_source cs;
  auto tok = cs.token();
  std::vector<tapir::cancel_registration> regs;
  regs.push_back(tok.on_canceled([] { throw tt::marker_error("one", 1); }));
  regs.push_back(tok.on_canceled([] {}));
  regs.push_back(tok.on_canceled([] { throw tt::marker_error("three", 3); }));
  try {
    cs.cancel();
    FAIL();
  } catch (const tapir::task_error& e) {
    // Callbacks run newest first.
    ASSERT_EQ(e.errors().size(), 2u);
    EXPECT_EQ(tt::what_of(e.errors()[0].exception()), "three");
    EXPECT_EQ(tt::what_of(e.errors()[1].exception()), "one");
  }
  EXPECT_TRUE(cs.is_canceled());
}

TEST_F(Exceptions, StopAtFirstErrorRethrowsTheCallbacksException) {
  tapir::cancel_source cs;
  auto tok = cs.token();
  std::atomic<bool> older_ran{false};
  auto r1 = tok.on_canceled([&] { older_ran = true; });
  auto r2 = tok.on_canceled([] { throw tt::marker_error("stop", 9); });
  try {
    cs.cancel(true);
    FAIL();
  } catch (const tt::marker_error& e) {
    EXPECT_EQ(e.tag, 9);
  }
  EXPECT_FALSE(older_ran.load());
}

TEST_F(Exceptions, CallbackOnAnAlreadyCanceledTokenThrowsOutOfOnCanceled) {
  auto tok = tapir::cancel_token::canceled();
  EXPECT_THROW((void)tok.on_canceled([] { throw tt::marker_error("inline"); }), tt::marker_error);
  bool ran = false;
  auto r = tok.on_canceled([&] { ran = true; });
  EXPECT_TRUE(ran);
  EXPECT_TRUE(r.ran_at_registration());
  EXPECT_FALSE(r.unregister());
}

TEST_F(Exceptions, ErrorFromExceptionKeepsTapirCodes) {
  auto e = tapir::error::from_exception(std::make_exception_ptr(tapir::status_error(TAPIR_STATUS_INVALID_STATE)));
  EXPECT_EQ(e.code(), TAPIR_STATUS_INVALID_STATE);
  EXPECT_THROW(e.rethrow(), tapir::status_error);
  auto native = tapir::error::make(77, "native");
  auto same = tapir::error::from_exception(std::make_exception_ptr(tapir::task_error(native)));
  EXPECT_EQ(same, native);
  EXPECT_THROW((void)tapir::error::from_exception(nullptr), std::invalid_argument);
}

TEST_F(Exceptions, FlattenCollectsTheLeaves) {
  auto a = tapir::error::make(1, "a");
  auto b = tapir::error::make(2, "b");
  auto c = tapir::error::make(3, "c");
  auto inner = tapir::error::aggregate(10, "inner", {b, c});
  auto outer = tapir::error::aggregate(20, "outer", {a, inner});
  auto flat = outer.flatten();
  auto leaves = flat.inner_errors();
  ASSERT_EQ(leaves.size(), 3u);
  EXPECT_EQ(leaves[0], a);
  EXPECT_EQ(leaves[1], b);
  EXPECT_EQ(leaves[2], c);
  EXPECT_EQ(flat.code(), 20);
}

TEST_F(Exceptions, StatusErrorsCarryTheStatus) {
  tapir::completion_source<int> s;
  s.set_value(0);
  try {
    s.set_value(1);
    FAIL();
  } catch (const tapir::exception& e) {  // the common base
    EXPECT_EQ(e.code(), TAPIR_STATUS_ALREADY_COMPLETED);
    EXPECT_NE(std::string(e.what()).find(tapir_status_str(TAPIR_STATUS_ALREADY_COMPLETED)), std::string::npos);
  }
}

TEST_F(Exceptions, UnobservedFailuresReachTheUnobservedHandler) {
  struct seen_t {
    std::mutex m;
    std::uint64_t id = 0;
    std::vector<std::exception_ptr> eps;
  };
  auto seen = std::make_shared<seen_t>();
  std::uint64_t id = 0;
  std::exception_ptr ep = std::make_exception_ptr(tt::marker_error("nobody looked", 8));
  tapir::set_unobserved_error_handler([seen](std::uint64_t task_id, const std::vector<tapir::error>& errors) {
    std::lock_guard<std::mutex> lock(seen->m);
    seen->id = task_id;
    for (const auto& e : errors) seen->eps.push_back(e.exception());
  });
  {
    auto t = tapir::task<int>::from_exception(ep);
    id = t.id();
  }  // released unobserved: the handler runs on this thread
  tapir::set_unobserved_error_handler(nullptr);
  std::lock_guard<std::mutex> lock(seen->m);
  EXPECT_EQ(seen->id, id);
  ASSERT_EQ(seen->eps.size(), 1u);
  EXPECT_EQ(seen->eps[0], ep);
  // An observed failure does not reach it.
  tapir::set_unobserved_error_handler([seen](std::uint64_t, const std::vector<tapir::error>&) { seen->id = 0; });
  {
    auto t = tapir::task<int>::from_exception(ep);
    EXPECT_THROW((void)t.get(), tt::marker_error);
  }
  tapir::set_unobserved_error_handler(nullptr);
  EXPECT_EQ(seen->id, id);
}

TEST_F(Exceptions, FreeFactoriesAndErrorQueriesOnTheWrongOutcome) {
  auto t = tapir::task_from_exception<std::string>(std::make_exception_ptr(tt::marker_error("free")));
  EXPECT_THROW((void)t.get(), tt::marker_error);
  auto v = tapir::task_from_exception(std::make_exception_ptr(tt::marker_error("void")));
  static_assert(std::is_same<decltype(v), tapir::task<void>>::value, "defaults to task<void>");
  EXPECT_THROW(v.get(), tt::marker_error);
  EXPECT_THROW((void)tapir::task<int>::from_exception(nullptr), std::invalid_argument);
  auto ok = tapir::task<int>::from_result(1);
  try {
    (void)ok.first_error();
    FAIL();
  } catch (const tapir::status_error& e) {
    EXPECT_EQ(e.status(), TAPIR_STATUS_INVALID_STATE);
  }
  EXPECT_TRUE(ok.errors().empty());
  EXPECT_TRUE(ok.exceptions().empty());
  tapir::completion_source<int> pending;
  try {
    (void)pending.get_task().cancellation_token();
    FAIL();
  } catch (const tapir::status_error& e) {
    EXPECT_EQ(e.status(), TAPIR_STATUS_NOT_COMPLETED);
  }
  pending.set_value(0);
}

}  // namespace
