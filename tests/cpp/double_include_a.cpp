// Included twice here and in double_include_b.cpp, and linked together: the include
// guard holds and every inline definition links once.
#include "tapir.hpp"
#include "tapir.hpp"

int double_include_a();
int double_include_a() { return tapir::task<int>::from_result(1).then([](int v) { return v + 1; }).get(); }
