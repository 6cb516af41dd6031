// Cancellation: sources, tokens, registrations with lambdas, linked sources,
// cancel_after, and (C++20) the std::stop_token bridge.
#include "support.hpp"

namespace {

using Cancel = tt::Leakcheck;

TEST_F(Cancel, NoneTokenIsNeverCanceled) {
  tapir::cancel_token none;
  EXPECT_FALSE(none.is_canceled());
  EXPECT_FALSE(none.can_be_canceled());
  EXPECT_EQ(none, tapir::cancel_token::none());
  bool ran = false;
  auto r = none.on_canceled([&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_TRUE(r.ran_at_registration());  // nothing registered
  EXPECT_NO_THROW(none.throw_if_canceled());
}

TEST_F(Cancel, CancelRunsCallbacksNewestFirstOnThisThread) {
  tapir::cancel_source cs;
  auto tok = cs.token();
  EXPECT_TRUE(tok.can_be_canceled());
  std::vector<int> order;
  std::thread::id ran_on;
  auto r1 = tok.on_canceled([&] { order.push_back(1); });
  auto r2 = tok.on_canceled([&] {
    order.push_back(2);
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(tok.pending_callbacks(), 2u);
  EXPECT_FALSE(cs.is_canceled());
  cs.cancel();
  EXPECT_TRUE(cs.is_canceled());
  EXPECT_TRUE(tok.is_canceled());
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(tok.pending_callbacks(), 0u);
  EXPECT_THROW(tok.throw_if_canceled(), tapir::canceled_error);
  cs.cancel();  // a second cancel does nothing
  EXPECT_EQ(order.size(), 2u);
}

TEST_F(Cancel, UnregisterRemovesTheCallbackAndDestroysItsCaptures) {
  tapir::cancel_source cs;
  auto life = std::make_shared<int>(0);
  bool ran = false;
  auto r = cs.token().on_canceled([&ran, life] { ran = true; });
  EXPECT_EQ(life.use_count(), 2);
  EXPECT_EQ(r.token(), cs.token());
  EXPECT_TRUE(r.unregister());
  EXPECT_EQ(life.use_count(), 1);
  EXPECT_FALSE(r.unregister());
  EXPECT_FALSE(r.unregister_wait());
  cs.cancel();
  EXPECT_FALSE(ran);
}

TEST_F(Cancel, UnregisterWaitWaitsForARunningCallback) {
  tapir::cancel_source cs;
  std::atomic<bool> entered{false}, finished{false};
  auto r = cs.token().on_canceled([&] {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    finished = true;
  });
  std::thread canceler([&] { cs.cancel(); });
  ASSERT_TRUE(tt::eventually([&] { return entered.load(); }));
  EXPECT_FALSE(r.unregister_wait());  // it ran: not removed, but waited for
  EXPECT_TRUE(finished.load());
  canceler.join();
}

TEST_F(Cancel, SkipIfCanceledRegistersNothing) {
  auto tok = tapir::cancel_token::canceled();
  bool ran = false;
  EXPECT_THROW((void)tok.on_canceled([&] { ran = true; }, true), tapir::canceled_error);
  EXPECT_FALSE(ran);
}

TEST_F(Cancel, DroppedSourceDestroysPendingCallbacks) {
  auto life = std::make_shared<int>(0);
  {
    tapir::cancel_source cs;
    auto r = cs.token().on_canceled([life] {});
    EXPECT_EQ(life.use_count(), 2);
  }
  EXPECT_EQ(life.use_count(), 1);
}

TEST_F(Cancel, LinkedSourceFollowsItsInputs) {
  tapir::cancel_source a, b;
  auto linked = tapir::cancel_source::linked(a.token(), b.token());
  EXPECT_FALSE(linked.is_canceled());
  b.cancel();
  EXPECT_TRUE(linked.is_canceled());
  EXPECT_FALSE(a.is_canceled());
  auto from_vector = tapir::cancel_source::linked(std::vector<tapir::cancel_token>{tapir::cancel_token::canceled()});
  EXPECT_TRUE(from_vector.is_canceled());
}

TEST_F(Cancel, CancelAfterCancelsLater) {
  tapir::cancel_source cs;
  cs.cancel_after(std::chrono::milliseconds(10));
  EXPECT_FALSE(cs.is_canceled());
  EXPECT_TRUE(tt::eventually([&] { return cs.is_canceled(); }));
  tapir::cancel_source never;
  never.cancel_after(std::chrono::seconds(100));
  never.cancel_after(tapir::infinite);  // clears the deadline
  EXPECT_TRUE(tt::eventually([] { return tapir_debug_pending_timers() == 0; }));
  EXPECT_FALSE(never.is_canceled());
}

TEST_F(Cancel, CanceledTokenEndsTasksWithThatToken) {
  tapir::cancel_source cs;
  auto d = tapir::delay(std::chrono::seconds(30), cs.token());
  cs.cancel();
  try {
    d.get();
    FAIL();
  } catch (const tapir::canceled_error& e) {
    EXPECT_EQ(e.token(), cs.token());
  }
}

#if TAPIR_CPP_HAS_STOP_TOKEN
TEST_F(Cancel, StopSourceCancelsATapirSource) {
  std::stop_source ss;
  auto cs = tapir::cancel_source::from_stop_source(ss);
  auto d = tapir::delay(std::chrono::seconds(30), cs.token());
  EXPECT_FALSE(cs.is_canceled());
  ss.request_stop();
  EXPECT_TRUE(cs.is_canceled());
  EXPECT_THROW(d.get(), tapir::canceled_error);
  std::stop_source already;
  already.request_stop();
  EXPECT_TRUE(tapir::cancel_source::from_stop_token(already.get_token()).is_canceled());
  EXPECT_FALSE(tapir::cancel_source::from_stop_token(std::stop_token()).is_canceled());
}

TEST_F(Cancel, StopBridgeOutlivedByItsStopSourceIsSafe) {
  std::stop_source ss;
  {
    auto cs = tapir::cancel_source::from_stop_token(ss.get_token());
  }  // released: the bridge's std::stop_callback is gone with it
  ss.request_stop();
  SUCCEED();
}

TEST_F(Cancel, TapirTokenGivesAStopToken) {
  tapir::cancel_source cs;
  std::stop_token st = cs.token().to_stop_token();
  EXPECT_TRUE(st.stop_possible());
  EXPECT_FALSE(st.stop_requested());
  std::atomic<bool> called{false};
  std::stop_callback cb(st, [&] { called = true; });
  cs.cancel();
  EXPECT_TRUE(st.stop_requested());
  EXPECT_TRUE(called.load());
  EXPECT_TRUE(tapir::cancel_token::canceled().to_stop_token().stop_requested());
}
#endif

}  // namespace
