/* can_be_canceled_after_dispose — tapir_cancel_token_can_be_canceled returns false for a
 * token that is not the none token.
 *
 * The header says "False only for the none token (CanBeCanceled), and for an invalid
 * handle", and .NET's CanBeCanceled stays true after the source is disposed. tapir
 * disposes a cancellation object once every source and token handle is released; a
 * registration still holding the object hands out a new, valid token reference through
 * tapir_cancel_registration_token, and that token answers false although the handle
 * is valid (the implementation's own comment: "false for the none token, and for a
 * disposed one that is not canceled"). Tokens lent by tapir_task_cancel_token can be
 * in the same state.
 * Either the header or the implementation is wrong; they disagree.
 *
 * Found by tests/fuzz (seed 102, 1 thread, 10 s: family cancel/creg, op token).
 *
 *   cc -I include tests/fuzz/repro/can_be_canceled_after_dispose.c -L target/release -ltapir \
 *      -Wl,-rpath,target/release -o /tmp/repro && /tmp/repro
 * Prints "BUG" and exits 1 while the disagreement stands.
 */
#include <stdio.h>

#include "tapir.h"

static const tapir_error *cb(void *ud) {
  (void)ud;
  return NULL;
}

int main(void) {
  const tapir_cancel_source *src = NULL;
  const tapir_cancel_token *tok = NULL, *again = NULL;
  const tapir_cancel_registration *reg = NULL;
  if (tapir_cancel_source_new(&src) || tapir_cancel_source_token(src, &tok)) return 2;
  if (tapir_cancel_token_register(tok, cb, NULL, NULL, 0, &reg) != TAPIR_STATUS_OK || !reg) return 2;
  printf("held token: can_be_canceled %d\n", tapir_cancel_token_can_be_canceled(tok));
  tapir_cancel_source_release(src);
  tapir_cancel_token_release(tok); /* every handle is gone; the registration keeps the object */
  if (tapir_cancel_registration_token(reg, &again) != TAPIR_STATUS_OK) return 2;
  bool v = tapir_cancel_token_can_be_canceled(again);
  printf("token from the registration (%s): can_be_canceled %d, is_canceled %d\n",
         again == tok ? "same handle value" : "new handle value", v, tapir_cancel_token_is_canceled(again));
  tapir_cancel_token_release(again);
  tapir_cancel_registration_release(reg);
  tapir_shutdown();
  if (!v) {
    printf("BUG: a valid token that is not the none token reports can_be_canceled false\n");
    return 1;
  }
  printf("OK\n");
  return 0;
}
