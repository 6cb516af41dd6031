// The C++ side of the cross-language conformance test: awaits the C program's task
// with C++20 co_await through tapir.hpp, and makes the error of the "set from C++"
// scenario (a C++ exception carried by a tapir_error).
#include <cstdio>
#include <cstring>
#include <string>

#include "tapir.hpp"

extern "C" {
#include "conformance.h"
}

namespace {

// A C++ exception with a tapir code, so the code travels to the other languages.
struct conformance_error : tapir::exception {
  conformance_error() : tapir::exception(5150, "from C++") {}
};

const conformance_error* g_original = nullptr;

void write(conf_report* r, const std::string& text) {
  std::snprintf(r->text, CONF_TEXT, "%s", text.c_str());
  __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

tapir::task<int> await_it(tapir::task<long> task, conf_report* r) {
  std::string text;
  try {
    long v = co_await task;
    text = "value " + std::to_string(v);
  } catch (const conformance_error& e) {
    text = "error " + std::to_string(e.code()) + " " + e.what() + (&e == g_original ? " original" : "");
  } catch (const tapir::canceled_error&) {
    text = "canceled";
  } catch (const tapir::exception& e) {
    text = "error " + std::to_string(e.code()) + " " + e.what();
  } catch (const std::exception& e) {
    text = std::string("unexpected C++ exception: ") + e.what();
  }
  write(r, text);
  co_return 0;
}

}  // namespace

extern "C" int cpp_await(const tapir_task* task, conf_report* report) {
  try {
    // The coroutine runs until its co_await suspends; its task is not needed.
    (void)await_it(tapir::task<long>::borrow(task), report);
    return 0;
  } catch (...) {
    return -1;
  }
}

extern "C" const tapir_error* cpp_make_error(void) {
  std::exception_ptr ep = std::make_exception_ptr(conformance_error());
  try {
    std::rethrow_exception(ep);
  } catch (const conformance_error& e) {
    g_original = &e;  // the object the exception_ptr keeps alive
  }
  tapir::error e = tapir::error::from_exception(ep);
  return e.release();
}
