// tour.cpp — tapir in C++20, the same tour as examples/c/tour.c, with lambdas,
// exceptions and coroutines.
//
// 1. RunAsync: a computation on its own thread, exposed as a task through a
//    completion source; then the same composed with co_await.
// 2. Continuations: then() on the pool, and a synchronous one.
// 3. Waiting with a timeout.
// 4. Failed and canceled outcomes, and an only-on-faulted logger; exceptions come
//    back as themselves.
// 5. A broken promise: a producer that vanished does not leave waiters hanging.
// 6. A game loop: a loader thread posts to a manual scheduler, the main thread runs
//    a few items per frame, and a coroutine hops onto the main thread with
//    co_await tapir::resume_on(main).
//
// Build and run: make -C bindings/cpp tour   (or make demo-cpp at the top level)
#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "tapir.hpp"

using namespace std::chrono_literals;

namespace {

// ---- 1. RunAsync: the source is the producer, its task the consumer. ----

// Like the C# RunAsync: start `fn` on a thread of its own and hand back the task.
// A value completes the task; an exception fails it, and get()/co_await rethrow it.
tapir::task<long> run_async(std::function<long()> fn) {
  tapir::completion_source<long> source;
  tapir::task<long> task = source.get_task();
  std::thread([source, fn = std::move(fn)] {  // the thread holds a source reference
    try {
      source.set_value(fn());
    } catch (...) {
      source.set_exception(std::current_exception());
    }
  }).detach();
  return task;
}

long slow_square(long x) {
  std::this_thread::sleep_for(200ms);
  return x * x;
}

struct not_found : std::runtime_error {
  not_found() : std::runtime_error("the computation failed: 404") {}
};

// The same composition as a coroutine: it starts at once and suspends at co_await.
tapir::task<long> square_plus_one(long x) {
  long square = co_await run_async([x] { return slow_square(x); });
  co_return square + 1;
}

// "var ignored = task.ContinueWith(t => Log(t), OnlyOnFaulted)"
template <class T>
void log_faults(const tapir::task<T>& t) {
  t.on_complete(
      [](const tapir::task<T>& done) {
        try {
          done.get();
        } catch (const std::exception& e) {
          std::printf("   [only-on-faulted logger] %s\n", e.what());
        }
      },
      tapir::continuation_options().only_on_faulted().synchronously());
}

// ---- 6. The game loop ----

int frame_no;  // touched only by the main thread, inside run_pending

tapir::task<void> load_level(const tapir::scheduler& main) {
  co_await tapir::delay(30ms);  // on a pool thread after this
  std::printf("   (coroutine) level data decoded off the main thread\n");
  co_await tapir::resume_on(main);  // back on the main thread, inside run_pending
  std::printf("   frame %d: (coroutine) main thread spawns the level\n", frame_no);
}

}  // namespace

int main() {
  std::printf("tapir %s — a tour in C++\n\n", tapir::version());
  {
    std::printf("1. RunAsync: square 12 on a thread of our own; the task is its completion source's.\n");
    tapir::task<long> square = run_async([] { return slow_square(12); });
    std::printf("   right after starting, completed? %s\n", square.is_completed() ? "yes" : "no");
    square.on_complete(
        [](const tapir::task<long>& done) {
          std::printf("   [sync continuation] task %llu finished, result %ld\n",
                      static_cast<unsigned long long>(done.id()), done.get());
        },
        tapir::synchronously());
    tapir::task<long> composed = square_plus_one(7);
    std::printf("   a coroutine awaiting another job: started, completed? %s\n",
                composed.is_completed() ? "yes" : "no");

    std::printf("\n2. then() on the pool adds one; it runs only once the square exists.\n");
    tapir::task<long> plus_one = square.then([](long v) { return v + 1; });
    std::printf("   12*12 + 1 = %ld\n", plus_one.get());
    std::printf("   the coroutine: 7*7 + 1 = %ld\n", composed.get());

    std::printf("\n3. Waiting with a timeout: a 50 ms wait on a 200 ms job times out; the job goes on.\n");
    tapir::task<long> slow = run_async([] { return slow_square(3); });
    bool done = slow.wait_for(50ms);
    std::printf("   wait_for(50 ms) -> %s; still pending: %s\n", done ? "completed" : "timed out",
                slow.status() == TAPIR_TASK_STATUS_PENDING ? "yes" : "no");
    std::printf("   get() -> %ld\n", slow.get());

    std::printf("\n4. Failed and canceled outcomes.\n");
    tapir::task<long> failing = run_async([]() -> long { throw not_found(); });
    log_faults(failing);
    try {
      (void)failing.get();
    } catch (const not_found& e) {
      std::printf("   get() on the failing job rethrew the job's own exception: %s\n", e.what());
    }
    tapir::completion_source<long> src;
    tapir::task<long> canceled = src.get_task();
    log_faults(canceled);  // will not run
    src.set_canceled();
    try {
      (void)canceled.get();
    } catch (const tapir::canceled_error&) {
      std::printf("   a canceled source: get() threw tapir::canceled_error (not a failure; the logger stayed quiet)\n");
    }
    std::printf("   completing it again -> %s (a task completes exactly once)\n",
                src.try_set_value(1) ? "accepted" : "refused");

    std::printf("\n5. A broken promise: the producer releases its source without completing it.\n");
    tapir::task<void> orphan;
    {
      tapir::completion_source<void> vanishing;
      orphan = vanishing.get_task();
      log_faults(orphan);
    }
    std::printf("   wait_for(1 s) -> %s instead of hanging forever\n", orphan.wait_for(1s) ? "completed" : "timed out");

    std::printf("\n6. A game loop: a loader thread posts to a manual scheduler; each frame runs at most 2 items.\n");
    tapir::scheduler main_sched = tapir::scheduler::manual();
    tapir::task<void> level = load_level(main_sched);
    std::thread loader([main_sched] {
      static const char* const assets[] = {"load mesh", "load texture", "load sound", "load level"};
      for (const char* a : assets) {
        std::this_thread::sleep_for(5ms);
        main_sched.post([a] { std::printf("   frame %d: main thread runs \"%s\"\n", frame_no, a); });  // thread-safe
      }
    });
    std::size_t total = 0;
    for (frame_no = 1; frame_no <= 12 && (total < 4 || !level.is_completed()); frame_no++) {
      std::size_t ran = main_sched.run_pending(2, 4ms);  // the frame's budget
      total += ran;
      std::printf("   frame %d done: %zu item(s) this frame\n", frame_no, ran);
      std::this_thread::sleep_for(16ms);  // ~60 frames per second
    }
    loader.join();
    level.get();

    std::printf("\nReleasing everything (the handles' destructors); tapir::shutdown joins the library's threads.\n");
  }
  tapir::shutdown();
  std::printf("live objects left: %zu\n", tapir::live_objects());
  return 0;
}
