// The test runner: GoogleTest, then one summary line "N passed, N failed" that the
// Makefile collects for each language mode.
#include <cstdio>

#include "support.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  std::printf("%d passed, %d failed\n", u.successful_test_count(), u.failed_test_count());
  tapir::shutdown();
  return rc;
}
