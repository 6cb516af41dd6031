/* The C test suite's entry point: registers every group and runs them.
 *   ./test_tapir                 every test, each in its own process
 *   ./test_tapir --inproc        every test in this process (used under valgrind)
 *   ./test_tapir unwrap deep     only tests whose name contains "unwrap" or "deep"
 *   ./test_tapir --list          the test names
 * Environment: TAPIR_TEST_DEEP (depth of the million-link chains),
 * TAPIR_TEST_TIMEOUT (seconds per test), TAPIR_TEST_SETTLE_MS, TAPIR_TEST_VALGRIND. */
#define HARNESS_MAIN
#include "harness.h"

void register_error_tests(void);
void register_source_tests(void);
void register_task_tests(void);
void register_continuation_tests(void);
void register_unwrap_tests(void);
void register_scheduler_tests(void);
void register_misuse_tests(void);

int main(int argc, char **argv) {
  register_source_tests();
  register_task_tests();
  register_continuation_tests();
  register_unwrap_tests();
  register_error_tests();
  register_scheduler_tests();
  register_misuse_tests();
  return h_main(argc, argv);
}
