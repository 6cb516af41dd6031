// Shared helpers of the C++ tests: a fixture that proves each test leaves the
// library's live-object count where it found it, a thread with a small stack, and
// bounded polling.
#ifndef TAPIR_TESTS_SUPPORT_HPP
#define TAPIR_TESTS_SUPPORT_HPP

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tapir.hpp"

namespace tt {

/// Polls `pred` every millisecond for up to `ms`; true as soon as it holds.
template <class Pred>
bool eventually(Pred pred, int ms = 2000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// Every test derives from this: the live-object count (every kind) must come back
/// to its value at the start of the test. Pool threads may drop their last
/// reference a little after the body returns, so the check polls for 2 s.
class Leakcheck : public ::testing::Test {
 protected:
  void SetUp() override { before_ = tapir::live_objects(); }
  void TearDown() override {
    bool settled = eventually([&] { return tapir::live_objects() == before_; });
    EXPECT_TRUE(settled) << "live objects: " << before_ << " before, " << tapir::live_objects() << " after (task "
                         << tapir::live_objects(TAPIR_OBJECT_KIND_TASK) << ", error "
                         << tapir::live_objects(TAPIR_OBJECT_KIND_ERROR) << ", registration "
                         << tapir::live_objects(TAPIR_OBJECT_KIND_REGISTRATION) << ", scheduler "
                         << tapir::live_objects(TAPIR_OBJECT_KIND_SCHEDULER) << ", cancel "
                         << tapir::live_objects(TAPIR_OBJECT_KIND_CANCEL) << ")";
  }
  std::size_t before_ = 0;
};

/// Runs `f` on a new thread whose stack is `stack_bytes` (pthread attributes) and
/// waits for it; an exception thrown by `f` is rethrown here.
inline void run_on_small_stack(std::size_t stack_bytes, std::function<void()> f) {
  struct ctx {
    std::function<void()> f;
    std::exception_ptr ep;
  } c{std::move(f), nullptr};
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, stack_bytes), 0);
  pthread_t th;
  int rc = pthread_create(
      &th, &attr,
      [](void* p) -> void* {
        auto* c = static_cast<ctx*>(p);
        try {
          c->f();
        } catch (...) {
          c->ep = std::current_exception();
        }
        return nullptr;
      },
      &c);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(rc, 0);
  pthread_join(th, nullptr);
  if (c.ep) std::rethrow_exception(c.ep);
}

/// A test exception type whose identity the tests check.
struct marker_error : std::runtime_error {
  explicit marker_error(const std::string& s, int n = 0) : std::runtime_error(s), tag(n) {}
  int tag;
};

/// Installs a callback exception handler that records, and restores the previous
/// one when destroyed.
class recording_handler {
 public:
  recording_handler() { previous_ = tapir::set_callback_exception_handler(&record); }
  ~recording_handler() {
    tapir::set_callback_exception_handler(previous_);
    std::lock_guard<std::mutex> lock(mutex());
    seen().clear();
  }
  std::vector<std::exception_ptr> exceptions() const {
    std::lock_guard<std::mutex> lock(mutex());
    return seen();
  }

 private:
  static void record(std::exception_ptr ep) {
    std::lock_guard<std::mutex> lock(mutex());
    seen().push_back(ep);
  }
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<std::exception_ptr>& seen() {
    static std::vector<std::exception_ptr> v;
    return v;
  }
  tapir::callback_exception_handler previous_;
};

/// The message of the exception in `ep`.
inline std::string what_of(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "(not a std::exception)";
  }
}

}  // namespace tt

#endif
