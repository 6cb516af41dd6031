/* The public header compiles on its own (no other include first), twice in a
 * row (include guard), as C11 here and as C++ when the Makefile builds it with
 * g++ -x c++. Nothing runs: compiling is the test. */
#include "tapir.h"
#include "tapir.h"

int header_alone_dummy(void);
int header_alone_dummy(void) { return (int)TAPIR_STATUS_OK; }
