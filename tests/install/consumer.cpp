// A C++ program that finds tapir with CMake's find_package(tapir) and uses the
// header-only binding: a continuation on the default pool doubles a value that
// another thread produces. Exits 0 only if it saw 84.
#include <cstdio>
#include <thread>

#include <tapir.hpp>

int main() {
  int got = 0;
  {
    tapir::completion_source<long> source;
    tapir::task<long> doubled = source.get_task().then([](long v) { return 2 * v; });
    std::thread producer([source] { source.set_value(42); });
    got = static_cast<int>(doubled.get());
    producer.join();
  }
  tapir::shutdown();
  std::printf("consumer (C++, tapir %s): %d\n", tapir_version(), got);
  return got == 84 ? 0 : 1;
}
