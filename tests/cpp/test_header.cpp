// The header compiled alone and included twice (see standalone_header.cpp and
// double_include_*.cpp), and its feature macros.
#include "support.hpp"

int standalone_header_answer();
int double_include_a();
int double_include_b();

namespace {

using Header = tt::Leakcheck;

TEST_F(Header, StandaloneTranslationUnitWorks) { EXPECT_EQ(standalone_header_answer(), 42); }

TEST_F(Header, DoubleIncludedTranslationUnitsLinkTogether) {
  EXPECT_EQ(double_include_a(), 2);
  EXPECT_EQ(double_include_b(), 3);
}

TEST_F(Header, FeatureMacrosMatchTheLanguageMode) {
#if __cplusplus >= 202002L && defined(__cpp_impl_coroutine)
  EXPECT_EQ(TAPIR_CPP_HAS_COROUTINES, 1);
#else
  EXPECT_EQ(TAPIR_CPP_HAS_COROUTINES, 0);
#endif
#if __cplusplus < 202002L
  EXPECT_EQ(TAPIR_CPP_HAS_STOP_TOKEN, 0);
#endif
}

}  // namespace
