/* The C test suite's entry point: registers every group and runs them.
 *   ./test_tapir                 every test, each in its own process
 *   ./test_tapir --inproc        every test in this process (used under valgrind)
 *   ./test_tapir unwrap deep     only tests whose name contains "unwrap" or "deep"
 *   ./test_tapir --list          the test names
 * Environment: TAPIR_TEST_DEEP (depth of the million-link chains),
 * TAPIR_TEST_TIMEOUT (seconds per test), TAPIR_TEST_SETTLE_MS, TAPIR_TEST_VALGRIND.
 *
 * The groups are found by the Makefile: every test_*.c defines one
 * `void register_<group>_tests(void)`, and build/registry.inc lists them as
 * REGISTER_GROUP(register_<group>_tests) lines, so adding a test file needs no
 * edit here. */
#define HARNESS_MAIN
#include "harness.h"

#define REGISTER_GROUP(fn) void fn(void);
#include "registry.inc"
#undef REGISTER_GROUP

int main(int argc, char **argv) {
#define REGISTER_GROUP(fn) fn();
#include "registry.inc"
#undef REGISTER_GROUP
  return h_main(argc, argv);
}
