/* prims.h — small helpers shared by the coordination-primitive tests. */
#ifndef TAPIR_TEST_PRIMS_H
#define TAPIR_TEST_PRIMS_H
#include "harness.h"

/* The value of a succeeded task as an integer; -1 when it did not succeed. */
static inline intptr_t p_value(const tapir_task *t) {
  void *v = NULL;
  if (tapir_task_result(t, &v) != TAPIR_STATUS_OK) return -1;
  return (intptr_t)v;
}

/* The code of a faulted task's first error; -1 when it is not faulted. */
static inline int32_t p_error_code(const tapir_task *t) {
  const tapir_error *e = NULL;
  if (tapir_task_error_at(t, 0, &e) != TAPIR_STATUS_OK) return -1;
  int32_t code = tapir_error_code(e);
  tapir_error_release(e);
  return code;
}

static inline bool p_pending(const tapir_task *t) {
  return tapir_task_get_status(t) == TAPIR_TASK_STATUS_PENDING;
}

/* Settles (bounded) and returns the value; -1 when it did not succeed. */
static inline intptr_t p_settled_value(const tapir_task *t) {
  h_settle(t);
  return p_value(t);
}

/* A task handle that was valid once (kind: task), for wrong-kind checks. */
static inline const void *p_wrong_kind(void) {
  static const tapir_task *t;
  if (!t) tapir_task_completed(&t);
  return t;
}

/* Set while a cancellation call runs on the thread p_canceler names, and a sync
 * continuation that records whether it ran inside that call (on that thread). */
extern atomic_int p_in_cancel;
extern pthread_t p_canceler;
typedef struct {
  atomic_int ran;
  atomic_int inside_cancel;
} p_probe;
static inline void p_probe_cb(void *ud, const tapir_task *t) {
  (void)t;
  p_probe *p = (p_probe *)ud;
  if (atomic_load(&p_in_cancel) && pthread_equal(pthread_self(), p_canceler))
    atomic_fetch_add(&p->inside_cancel, 1);
  atomic_fetch_add(&p->ran, 1);
}
static inline void p_cancel(const tapir_cancel_source *cts) {
  p_canceler = pthread_self();
  atomic_store(&p_in_cancel, 1);
  CHECK_OK(tapir_cancel_source_cancel(cts, 0, NULL));
  atomic_store(&p_in_cancel, 0);
}

/* Counting destroy for items: the item is a pointer to an atomic_int. */
static inline void p_count_destroy(void *item) { atomic_fetch_add((atomic_int *)item, 1); }

#endif
