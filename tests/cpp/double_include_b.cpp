// See double_include_a.cpp.
#include "tapir.hpp"
#include "tapir.hpp"

int double_include_b();
int double_include_b() { return tapir::task<int>::from_result(1).then([](int v) { return v + 2; }).get(); }
