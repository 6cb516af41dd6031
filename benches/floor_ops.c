/* See floor_ops.h. Keep this file in its own translation unit. */
#include "floor_ops.h"

#include <stdatomic.h>
#include <stdlib.h>

enum { PENDING = 0, PENDING_WITH_CALLBACK = 1, COMPLETED = 2 };

struct floor_obj {
    _Atomic uint32_t state;
    _Atomic uint32_t refs;
    floor_cb fn;
    void *ctx;
    void *value;
    floor_obj *next_free; /* free-list link */
    char pad[64 - 2 * sizeof(uint32_t) - 4 * sizeof(void *)];
};

_Static_assert(sizeof(floor_obj) == 64, "the floor object is 64 bytes");

static int g_mode;
static _Thread_local floor_obj *t_free_list;

void floor_set_mode(int mode) { g_mode = mode; }

static floor_obj *obj_alloc(void)
{
    floor_obj *o = t_free_list;
    if (g_mode == 1 && o) {
        t_free_list = o->next_free;
        return o;
    }
    return malloc(sizeof(floor_obj));
}

static floor_obj *obj_init(floor_obj *o, uint32_t state, void *value)
{
    if (!o)
        abort();
    atomic_init(&o->state, state);
    atomic_init(&o->refs, 1);
    o->fn = NULL;
    o->ctx = NULL;
    o->value = value;
    return o;
}

floor_obj *floor_new(void) { return obj_init(obj_alloc(), PENDING, NULL); }

floor_obj *floor_new_completed(void *value) { return obj_init(obj_alloc(), COMPLETED, value); }

void floor_on_complete(floor_obj *o, floor_cb fn, void *ctx)
{
    o->fn = fn;
    o->ctx = ctx;
    uint32_t expected = PENDING;
    if (!atomic_compare_exchange_strong_explicit(&o->state, &expected, PENDING_WITH_CALLBACK,
                                                 memory_order_acq_rel, memory_order_acquire))
        fn(ctx, o); /* already completed: run it now */
}

void floor_set_result(floor_obj *o, void *value)
{
    o->value = value;
    uint32_t old = atomic_exchange_explicit(&o->state, COMPLETED, memory_order_acq_rel);
    if (old == PENDING_WITH_CALLBACK)
        o->fn(o->ctx, o);
}

void floor_release(floor_obj *o)
{
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (g_mode == 1) {
        o->next_free = t_free_list;
        t_free_list = o;
    } else {
        free(o);
    }
}
