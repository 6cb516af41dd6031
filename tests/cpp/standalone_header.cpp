// Compiles with nothing but tapir.hpp (which brings tapir.h): the header is
// self-contained. Linked into the suite, so the function below is also called.
#include "tapir.hpp"

int standalone_header_answer();
int standalone_header_answer() {
  tapir::completion_source<int> s;
  auto t = s.get_task().then([](int v) { return v + 1; }, tapir::synchronously());
  s.set_value(41);
  return t.get();
}
