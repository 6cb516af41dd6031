/* The cheapest completion object we can think of, used as the floor for W1 and W2.
 * Compiled in its own translation unit (floor_ops.c, no LTO) so that every operation
 * is a real out-of-line call that the compiler cannot fold into the benchmark loop. */
#ifndef TAPIR_BENCH_FLOOR_OPS_H
#define TAPIR_BENCH_FLOOR_OPS_H

#include <stdint.h>

typedef struct floor_obj floor_obj;
typedef void (*floor_cb)(void *ctx, floor_obj *completed);

/* Allocation strategy: 0 = malloc/free of a 64-byte object, 1 = thread-local free list. */
void floor_set_mode(int mode);

floor_obj *floor_new(void);                  /* pending, one reference */
floor_obj *floor_new_completed(void *value); /* already completed, one reference */
/* Registers fn: one compare-exchange; if the object is already completed, calls fn now. */
void floor_on_complete(floor_obj *o, floor_cb fn, void *ctx);
/* Stores the value, one atomic exchange, then the indirect call if a callback was registered. */
void floor_set_result(floor_obj *o, void *value);
/* One atomic decrement; the last reference frees (or recycles) the object. */
void floor_release(floor_obj *o);

#endif
