/*
 * tapir.h — the C API of tapir: the .NET Task Parallel Library model (tasks,
 * completion sources, continuations, cancellation, schedulers, combinators) for C and
 * every language that can call C. Every function below documents its Ownership,
 * Threading, Blocking and Errors in the terms defined here.
 *
 * # Handles
 * A handle (`tapir_task`, `tapir_source`, `tapir_error`, `tapir_scheduler`,
 * `tapir_registration`, `tapir_cancel_source`, `tapir_cancel_token`,
 * `tapir_cancel_registration`, `tapir_progress`, `tapir_clock`, and each coordination
 * primitive's) names one tapir object. It is an
 * opaque 64-bit value carried in a pointer type: never dereference it, compare it only
 * for equality. Handles are reference counted:
 * - **new reference**: every handle a function returns, or writes to an out-parameter,
 *   is yours; release it exactly once with `tapir_<kind>_release` (which accepts NULL).
 *   `tapir_<kind>_retain` adds a reference and returns the same handle value.
 * - **borrowed**: every handle passed as an argument stays the caller's; tapir takes
 *   references of its own when it needs the object later. A function that takes over a
 *   reference instead says so ("consumes"); only `tapir_work_run`, `tapir_work_discard`
 *   and the `_release` functions do.
 * - **lent**: a handle a callback receives as an argument (the completed task, a
 *   continuation's `antecedent` and `next`) is valid for the whole call, whatever other
 *   threads release meanwhile, and no longer; retain it to keep it.
 * - **stale**: a handle whose last reference was released. Using it, releasing it once
 *   more, or passing a handle of the wrong kind is an error (TAPIR_STATUS_INVALID_HANDLE),
 *   not undefined behaviour — even after tapir reused the memory for a new object, since
 *   every handle carries a generation checked on each call. The references tapir takes
 *   for the length of a call count as well (the one behind a handle lent to a callback,
 *   a combinator's on its inputs while it registers): while such a call runs, a handle
 *   whose own references were all released is not stale yet, and releasing it once more
 *   takes tapir's reference instead of failing.
 * - A source and its task are two handles of one object, counted apart; so are a
 *   cancellation source and its tokens.
 * - A `tapir_work` item, which a foreign scheduler receives, is not counted: it is
 *   uniquely owned, and consumed by exactly one `tapir_work_run` or `tapir_work_discard`.
 *
 * # The callback contract
 * Every function that registers a callback takes the triple `(fn, user_data,
 * destroy)`, `user_data` first in every callback's parameters:
 * - after the call returns TAPIR_STATUS_OK, tapir owns `user_data`: `fn` runs at most
 *   once, and `destroy(user_data)` (if `destroy` is not NULL) exactly once — after `fn`
 *   returned, or when the callback is removed or discarded without running;
 * - if the call fails, neither runs and `user_data` is still the caller's;
 * - both may run on any thread (see Threads) and must not unwind: no C++ exception,
 *   no longjmp out of them;
 * - **discarded**: a callback that can never run has its destroy run instead. Work
 *   dropped by a scheduler (a closed manual scheduler, `tapir_work_discard`, a post
 *   during `tapir_shutdown`) also fails the task it would have completed, with an
 *   error of code TAPIR_STATUS_SCHEDULER_ERROR, so nobody waits for it for ever. A
 *   continuation of a task that died pending (every handle released, no producer
 *   left) is discarded too; its own continuation task, if any, stays pending, as it
 *   would in .NET.
 *
 * # Values and ownership of user memory
 * A task's value is a `void *` plus an optional destroy function, which tapir calls
 * exactly once, when the last reference to the task is gone; integers travel in the
 * pointer bits. Error payloads follow the same rule. Readers of a value or payload
 * borrow it while they hold a reference to its task or error. Memory tapir returns is
 * freed only by tapir functions; memory you give tapir is freed only by your destroy
 * functions. Releasing a handle may run destroy callbacks on the releasing thread —
 * for .NET that includes the finalizer thread — so destroy functions must be short and
 * must not block.
 *
 * # Tasks
 * A task is **pending** until it **completes** exactly once: **succeeded** (with a
 * value), **faulted** (with one or more `tapir_error`s) or **canceled** (optionally
 * with the token that caused it). Its **source** is the producer side that completes
 * it; when a source's last handle is released while its task is pending, the task
 * fails with an error of code TAPIR_STATUS_BROKEN_PROMISE. A **continuation** is a
 * callback registered on a task (its **antecedent**) to run when it completes;
 * **inline** means on the thread that completes the antecedent, before that call
 * returns, **dispatched** means posted to a scheduler. A faulted task's errors are
 * **observed** once someone reads them (`tapir_task_error*`, a FAULTED result of
 * `tapir_task_result` or a wait, a combinator that consumes them); a task freed with
 * unobserved errors reaches the unobserved-error hook.
 *
 * # Status codes and errors
 * Fallible functions return `tapir_status` (TAPIR_STATUS_OK is 0) and write their
 * out-parameters (named `*_out`, always last) only on TAPIR_STATUS_OK. A call that
 * fails has done nothing: no object allocated, no callback registered, no destroy run.
 * Functions that return a `bool`, an integer or a pointer return false / 0 / NULL on
 * failure and record why, readable with `tapir_last_status()` on the same thread.
 * Error codes 0 to 999,999 are tapir's (its errors carry `tapir_status` values);
 * codes from TAPIR_ERROR_CODE_USER_MIN (1,000,000) up are reserved for your own
 * errors, which tapir never creates, so they cannot be mistaken for a tapir status.
 *
 * # Timeouts
 * Timeouts and delays are `int64_t` milliseconds: -1 (TAPIR_INFINITE) waits without
 * limit, 0 polls, the largest finite value is TAPIR_MAX_TIMEOUT_MS (4294967294);
 * anything else is TAPIR_STATUS_INVALID_ARGUMENT.
 *
 * # Threads
 * Every function may be called from any thread unless its documentation says
 * otherwise. No callback runs while tapir holds a lock, so a callback may call any
 * tapir function. A **scheduler** decides where callbacks run: the default pool
 * (worker threads started on first use), inline, a manual queue the host drains
 * (`tapir_scheduler_run_pending`, e.g. once per frame), or the host's own job system
 * (a foreign scheduler). Blocking waits (`tapir_task_wait*`) must not be called from a
 * callback that runs on a single-threaded scheduler the awaited task needs. Inline
 * continuations (and work on the inline scheduler) are **bounded in depth**: they
 * nest at most 16 calls deep, and fewer when the nested calls have used 48 KiB of
 * stack; deeper ones are queued and run by the outermost one before it returns, so
 * chains of any length run in constant stack.
 * Call `tapir_shutdown` before unloading the library: it joins every thread tapir started.
 *
 * # Panics
 * A Rust panic never crosses into C: a panic inside tapir returns TAPIR_STATUS_PANIC
 * (or the failure value) and fails the task involved, if any, with an error of that code.
 *
 * # Diagnostics
 * `tapir_debug_*` functions (live objects, pending timers, registrations) are for tests
 * proving that nothing leaks; they are not for hot paths. tapir supports 64-bit
 * targets only.
 */

#ifndef TAPIR_H
#define TAPIR_H

/* Generated by cbindgen from src/ffi. Do not edit; run `make header` (tests/header.rs) to regenerate. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TAPIR_VERSION_MAJOR 0
#define TAPIR_VERSION_MINOR 1
#define TAPIR_VERSION_PATCH 0

/** Pass as a timeout (milliseconds) to wait without limit. */
#define TAPIR_INFINITE (-1)
/** The largest finite timeout or delay, in milliseconds (2^32 - 2). */
#define TAPIR_MAX_TIMEOUT_MS 4294967294LL
/**
 * The smallest error code reserved for users' own errors (tapir_error_new): tapir's
 * codes are its tapir_status values, all below this; tapir never creates an error
 * with a code at or above it.
 */
#define TAPIR_ERROR_CODE_USER_MIN 1000000

#ifndef TAPIR_DEPRECATED
#define TAPIR_DEPRECATED(note)
#endif


/**
 * tapir_cache_options flag: keep faulted and canceled entries (by default they are
 * evicted when they complete, so the next get retries).
 */
#define TAPIR_CACHE_KEEP_FAILURES 1

/**
 * tapir_cancel_source_cancel flag: stop at the first callback that reports an error,
 * as Cancel(throwOnFirstException: true). The rest never run: they stay registered
 * (a later cancel does nothing) until unregistered, or until the source's and its
 * tokens' last handles are released; either way their destroy runs then. So a
 * callback that owns the source's last handle, once skipped, keeps it until it is
 * unregistered.
 */
#define TAPIR_CANCEL_STOP_AT_FIRST_ERROR 1

/**
 * tapir_cancel_token_register flag: if the token is already canceled, do not run the
 * callback; return TAPIR_STATUS_CANCELED instead (nothing registered, nothing called).
 */
#define TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED 1

/**
 * Full mode: a write to a full channel waits (tapir_channel_try_write fails).
 */
#define TAPIR_CHANNEL_FULL_WAIT 0

/**
 * Full mode: the oldest item is dropped (destroyed) to make room.
 */
#define TAPIR_CHANNEL_FULL_DROP_OLDEST 1

/**
 * Full mode: the newest item in the channel is dropped (destroyed) to make room.
 */
#define TAPIR_CHANNEL_FULL_DROP_NEWEST 2

/**
 * Full mode: the item being written is dropped (destroyed); the write reports success.
 */
#define TAPIR_CHANNEL_FULL_DROP_WRITE 3

/**
 * `kind` of a thread hook call: a worker of the default pool (`index` 0 to threads-1).
 */
#define TAPIR_THREAD_POOL 0

/**
 * `kind` of a thread hook call: the timer thread (`index` 0).
 */
#define TAPIR_THREAD_TIMER 1

/**
 * `timer_driver`: tapir's own timer thread measures real (monotonic) time. The default.
 */
#define TAPIR_TIMER_DRIVER_THREAD 0

/**
 * `timer_driver`: no timer thread; time is what the host last set with
 * tapir_time_advance, and the host runs due timers with tapir_timers_run_due.
 */
#define TAPIR_TIMER_DRIVER_HOST 1

/**
 * Source flag: the task's continuations never run inline on the thread that completes
 * it (TaskCreationOptions.RunContinuationsAsynchronously).
 */
#define TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY 1

/**
 * Run the continuation inline on the completing thread when its scheduler allows
 * (ExecuteSynchronously).
 */
#define TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY 1

/**
 * Run only if the antecedent succeeded.
 */
#define TAPIR_CONTINUATION_ONLY_ON_SUCCESS (1 << 1)

/**
 * Run only if the antecedent faulted.
 */
#define TAPIR_CONTINUATION_ONLY_ON_FAULTED (1 << 2)

/**
 * Run only if the antecedent was canceled.
 */
#define TAPIR_CONTINUATION_ONLY_ON_CANCELED (1 << 3)

/**
 * Do not run if the antecedent succeeded.
 */
#define TAPIR_CONTINUATION_NOT_ON_SUCCESS (1 << 4)

/**
 * Do not run if the antecedent faulted.
 */
#define TAPIR_CONTINUATION_NOT_ON_FAULTED (1 << 5)

/**
 * Do not run if the antecedent was canceled.
 */
#define TAPIR_CONTINUATION_NOT_ON_CANCELED (1 << 6)

/**
 * With a token: the continuation task stays pending until the antecedent completes,
 * then ends canceled (instead of ending canceled as soon as the token fires).
 */
#define TAPIR_CONTINUATION_LAZY_CANCELLATION (1 << 7)

/**
 * A hint that the callback blocks for long; invalid with EXECUTE_SYNCHRONOUSLY.
 */
#define TAPIR_CONTINUATION_LONG_RUNNING (1 << 8)

/**
 * The continuation task's own continuations never run inline.
 */
#define TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY (1 << 9)

/**
 * tapir_task_on_complete only: a callback that runs takes `user_data` over (frees it
 * itself), so `destroy` is not called after it. `destroy` still runs exactly once when
 * the callback never runs (removed, filtered out, canceled by the token, discarded by
 * its scheduler, or the task freed while pending). For a binding where each call into
 * it has a fixed cost: it saves the destroy call of every callback that runs.
 * tapir_task_continue_with refuses it (TAPIR_STATUS_INVALID_ARGUMENT).
 */
#define TAPIR_CONTINUATION_CALLBACK_FREES (1 << 10)

/**
 * The result of every fallible call. Values are ABI: never renumbered.
 */
enum tapir_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Success; out-parameters were written.
   */
  TAPIR_STATUS_OK = 0,
  /**
   * A required pointer argument (handle, callback, out-pointer, array) was NULL.
   */
  TAPIR_STATUS_NULL_ARGUMENT = 1,
  /**
   * An argument was out of range: unknown flag bits, a bad timeout, an empty list
   * where one is required, an index past the end.
   */
  TAPIR_STATUS_INVALID_ARGUMENT = 2,
  /**
   * The object is in the wrong state for the call.
   */
  TAPIR_STATUS_INVALID_STATE = 3,
  /**
   * The source's task was already completed; nothing changed.
   */
  TAPIR_STATUS_ALREADY_COMPLETED = 4,
  /**
   * The task ended canceled.
   */
  TAPIR_STATUS_CANCELED = 5,
  /**
   * The task ended faulted.
   */
  TAPIR_STATUS_FAULTED = 6,
  /**
   * A wait ran out of time (also the code of timeout errors).
   */
  TAPIR_STATUS_TIMEOUT = 7,
  /**
   * A panic inside tapir was caught at the boundary (also the code of the error a
   * task fails with when that happens while running it).
   */
  TAPIR_STATUS_PANIC = 8,
  /**
   * The handle was released (stale), is of the wrong kind, or was never valid.
   */
  TAPIR_STATUS_INVALID_HANDLE = 9,
  /**
   * A non-blocking query on a task that has not completed.
   */
  TAPIR_STATUS_NOT_COMPLETED = 10,
  /**
   * The code of the error a task fails with when its last source handle is
   * released before completing it.
   */
  TAPIR_STATUS_BROKEN_PROMISE = 11,
  /**
   * A counted primitive is at its maximum, or an object has as many references as
   * it can count.
   */
  TAPIR_STATUS_FULL = 12,
  /**
   * The object was disposed.
   */
  TAPIR_STATUS_DISPOSED = 13,
  /**
   * A producer/consumer queue was completed.
   */
  TAPIR_STATUS_QUEUE_COMPLETED = 14,
  /**
   * A scheduler refused work (also the code of the error a task fails with when the
   * work that would have completed it was discarded).
   */
  TAPIR_STATUS_SCHEDULER_ERROR = 15,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tapir_status tapir_status;
#else
typedef int32_t tapir_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The state of a task.
 */
enum tapir_task_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Returned by tapir_task_get_status for a NULL, released or wrong-kind handle.
   */
  TAPIR_TASK_STATUS_INVALID_HANDLE = -1,
  /**
   * Not completed yet.
   */
  TAPIR_TASK_STATUS_PENDING = 0,
  /**
   * Completed with a value.
   */
  TAPIR_TASK_STATUS_SUCCEEDED = 1,
  /**
   * Completed with one or more errors.
   */
  TAPIR_TASK_STATUS_FAULTED = 2,
  /**
   * Completed by cancellation.
   */
  TAPIR_TASK_STATUS_CANCELED = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tapir_task_status tapir_task_status;
#else
typedef int32_t tapir_task_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * What `tapir_debug_live_objects` counts (the C enum `tapir_object_kind`).
 */
enum tapir_object_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Every kind below, summed.
   */
  TAPIR_OBJECT_KIND_ALL = 0,
  /**
   * Tasks (a source and its task are one object).
   */
  TAPIR_OBJECT_KIND_TASK = 1,
  /**
   * Error values.
   */
  TAPIR_OBJECT_KIND_ERROR = 2,
  /**
   * Continuation nodes (continuations waiting beside a task's first one, and
   * registration handles).
   */
  TAPIR_OBJECT_KIND_REGISTRATION = 3,
  /**
   * Schedulers (the default and inline ones are permanent and not counted).
   */
  TAPIR_OBJECT_KIND_SCHEDULER = 4,
  /**
   * Cancellation sources and tokens, and their registrations (the none token is
   * permanent and not counted).
   */
  TAPIR_OBJECT_KIND_CANCEL = 5,
  /**
   * Progress reporters.
   */
  TAPIR_OBJECT_KIND_PROGRESS = 6,
  /**
   * Semaphores.
   */
  TAPIR_OBJECT_KIND_SEMAPHORE = 7,
  /**
   * Auto-reset and manual-reset events.
   */
  TAPIR_OBJECT_KIND_EVENT = 8,
  /**
   * Countdown events.
   */
  TAPIR_OBJECT_KIND_COUNTDOWN = 9,
  /**
   * Barriers.
   */
  TAPIR_OBJECT_KIND_BARRIER = 10,
  /**
   * Locks and reader-writer locks.
   */
  TAPIR_OBJECT_KIND_LOCK = 11,
  /**
   * Lock guards (held locks).
   */
  TAPIR_OBJECT_KIND_LOCK_GUARD = 12,
  /**
   * Channels.
   */
  TAPIR_OBJECT_KIND_CHANNEL = 13,
  /**
   * Caches.
   */
  TAPIR_OBJECT_KIND_CACHE = 14,
  /**
   * Clocks.
   */
  TAPIR_OBJECT_KIND_CLOCK = 15,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tapir_object_kind tapir_object_kind;
#else
typedef int32_t tapir_object_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * An auto-reset event: each set completes one waiter (the oldest); a set with nobody
 * waiting is remembered, once, for the next wait. Functions:
 * tapir_auto_reset_event_new, _set, _try_wait, _wait_async, _retain, _release.
 */
typedef struct tapir_auto_reset_event tapir_auto_reset_event;

/**
 * A barrier: participants signal and wait in phases, and a post-phase action runs
 * after each. Functions: tapir_barrier_new, _signal_and_wait_async,
 * _add_participants, _remove_participants, _current_phase, _participant_count,
 * _participants_remaining, _retain, _release.
 */
typedef struct tapir_barrier tapir_barrier;

/**
 * A single-flight cache of tasks by key: the first get of a key runs the factory, and
 * every get of that key receives the same task until the entry is evicted. Functions:
 * tapir_cache_new, tapir_cache_get_async, tapir_cache_remove, tapir_cache_clear,
 * tapir_cache_count, tapir_cache_retain, tapir_cache_release.
 */
typedef struct tapir_cache tapir_cache;

/**
 * A registration on a cancellation token.
 */
typedef struct tapir_cancel_registration tapir_cancel_registration;

/**
 * A cancellation source (`CancellationTokenSource`).
 */
typedef struct tapir_cancel_source tapir_cancel_source;

/**
 * A cancellation token (`CancellationToken`).
 */
typedef struct tapir_cancel_token tapir_cancel_token;

/**
 * A FIFO channel of items between any number of producers and consumers, bounded or
 * not. An item is a `void *` with an optional destroy: whoever owns an item last
 * destroys it, and tapir runs the destroy of every item whose journey ends inside it
 * exactly once (items dropped by a full mode, left in the channel when its last
 * reference goes, or carried by a write that did not happen). Functions:
 * tapir_channel_new, _try_write, _write_async, _try_read, _read_async,
 * _wait_to_read_async, _complete, _count, _is_completed, _retain, _release.
 *
 * Completion: after tapir_channel_complete, writes are refused; readers drain the
 * items left, then every read fails with the completion's error (an error of code
 * TAPIR_STATUS_QUEUE_COMPLETED when completed without one) and wait_to_read answers
 * 0 (or fails with that error). Reads pending when the channel completes empty fail
 * that way at once; writes pending then fail with an error of code
 * TAPIR_STATUS_QUEUE_COMPLETED and their items are destroyed.
 */
typedef struct tapir_channel tapir_channel;

/**
 * A clock the host ticks: a frame counter, or game time that runs at a scale and can
 * be paused. Delays, timeouts and cancel-afters can be measured on it (tapir_delay_on,
 * tapir_task_wait_async_on, tapir_cancel_source_cancel_after_on); its time moves only
 * in tapir_clock_advance, which runs what is due. Functions: tapir_clock_new_frames,
 * tapir_clock_new_scaled, tapir_clock_advance, tapir_clock_now, tapir_clock_set_scale,
 * tapir_clock_set_paused, tapir_clock_retain, tapir_clock_release.
 */
typedef struct tapir_clock tapir_clock;

/**
 * A countdown event: set once its count reaches zero. Functions: tapir_countdown_new,
 * _signal, _add_count, _try_add_count, _reset, _current_count, _initial_count,
 * _wait_async, _retain, _release.
 */
typedef struct tapir_countdown tapir_countdown;

/**
 * An immutable error value: code, UTF-8 message, optional payload, inner errors.
 */
typedef struct tapir_error tapir_error;

/**
 * An asynchronous lock: one holder at a time, waiters granted in arrival order, never
 * reentrant (a holder that asks again waits for itself). Functions: tapir_lock_new,
 * tapir_lock_acquire_async, tapir_lock_try_acquire, tapir_lock_is_held,
 * tapir_lock_retain, tapir_lock_release.
 */
typedef struct tapir_lock tapir_lock;

/**
 * A held lock (of a `tapir_lock` or a `tapir_rwlock`): the lock is released when the
 * last reference to its guard is. A granted acquire task's value is a guard that the
 * task owns (released with the task): keep the task while holding the lock, or take
 * your own reference with tapir_lock_guard_retain and release the task. Functions:
 * tapir_lock_guard_retain, tapir_lock_guard_release.
 */
typedef struct tapir_lock_guard tapir_lock_guard;

/**
 * A manual-reset event: a set completes every waiter and the event stays set (waits
 * complete at once) until reset; a reset starts a new generation whose waiters wait
 * for the next set. Functions: tapir_manual_reset_event_new, _set, _reset, _is_set,
 * _wait_async, _retain, _release.
 */
typedef struct tapir_manual_reset_event tapir_manual_reset_event;

/**
 * A progress reporter: each report runs a handler on a chosen scheduler (Progress<T>).
 */
typedef struct tapir_progress tapir_progress;

/**
 * A continuation registered with `tapir_task_on_complete` that can be removed.
 */
typedef struct tapir_registration tapir_registration;

/**
 * An asynchronous reader-writer lock: many readers or one writer. Writer preference:
 * once a writer waits, new readers queue behind it. Upgrades are not supported (a
 * reader asking for the write lock waits for itself). Functions: tapir_rwlock_new,
 * tapir_rwlock_read_async, tapir_rwlock_write_async, tapir_rwlock_try_read,
 * tapir_rwlock_try_write, tapir_rwlock_reader_count, tapir_rwlock_is_write_held,
 * tapir_rwlock_retain, tapir_rwlock_release.
 */
typedef struct tapir_rwlock tapir_rwlock;

/**
 * Where callbacks run: inline, the default pool, a manual queue, or a host's own.
 */
typedef struct tapir_scheduler tapir_scheduler;

/**
 * An asynchronous counting semaphore (SemaphoreSlim). Waiters are served strictly in
 * arrival order. Functions: tapir_semaphore_new, tapir_semaphore_wait_async,
 * tapir_semaphore_try_wait, tapir_semaphore_signal, tapir_semaphore_current_count,
 * tapir_semaphore_retain, tapir_semaphore_release.
 */
typedef struct tapir_semaphore tapir_semaphore;

/**
 * A completion source: the producer side that completes one task exactly once
 * (`TaskCompletionSource`). Functions: tapir_source_new, tapir_source_new_with_task,
 * tapir_source_task, tapir_source_set_result, tapir_source_set_error,
 * tapir_source_set_canceled, ...
 */
typedef struct tapir_source tapir_source;

/**
 * A task: the consumer side of one asynchronous operation (`Task`).
 * Functions: tapir_task_retain, tapir_task_release, tapir_task_get_status,
 * tapir_task_result, tapir_task_error, tapir_task_wait, tapir_task_on_complete,
 * tapir_task_continue_with, tapir_task_unwrap, tapir_task_from_result, ...
 */
typedef struct tapir_task tapir_task;

/**
 * A work item handed to a foreign scheduler's `post`; uniquely owned, consumed by
 * `tapir_work_run` or `tapir_work_discard`.
 */
typedef struct tapir_work tapir_work;

/**
 * Makes the task for `key[0..len]` (borrowed for the call): returns a new task
 * reference (tapir takes it), or NULL (the entry then fails with an error of code
 * TAPIR_STATUS_INVALID_STATE). Runs on the thread of the get that missed, outside
 * every tapir lock; it may call into the cache. Must not unwind.
 */
typedef const struct tapir_task *(*tapir_cache_factory_fn)(void *user_data,
                                                           const uint8_t *key,
                                                           size_t len);

/**
 * Frees `user_data` (or a value or payload). Called exactly once; must not unwind.
 */
typedef void (*tapir_destroy_fn)(void *user_data);

/**
 * Hashes a key (keys that are equal must hash equally). Never called under a tapir
 * lock. Must not unwind.
 */
typedef uint64_t (*tapir_cache_hash_fn)(void *user_data, const uint8_t *key, size_t len);

/**
 * Compares two keys. Never called under a tapir lock. Must not unwind.
 */
typedef bool (*tapir_cache_equal_fn)(void *user_data,
                                     const uint8_t *a,
                                     size_t a_len,
                                     const uint8_t *b,
                                     size_t b_len);

/**
 * Options for tapir_cache_new; NULL means the defaults (byte keys hashed and compared
 * by tapir, failures evicted, unbounded). Set `struct_size =
 * sizeof(tapir_cache_options)`; fields past `struct_size` are treated as zero.
 */
typedef struct tapir_cache_options {
  /**
   * `sizeof(tapir_cache_options)` as the caller compiled it.
   */
  uint32_t struct_size;
  /**
   * TAPIR_CACHE_* flags.
   */
  uint32_t flags;
  /**
   * The most entries kept (the least recently used is evicted); 0 = unbounded.
   */
  size_t capacity;
  /**
   * The key hash (NULL: tapir's); called with the factory's user_data.
   */
  tapir_cache_hash_fn hash;
  /**
   * Key equality (NULL: bytewise); called with the factory's user_data.
   */
  tapir_cache_equal_fn equal;
} tapir_cache_options;

/**
 * A cancellation callback. Return NULL, or a new `tapir_error` reference (tapir takes
 * it) to report a failure: the canceling call collects it, and the other callbacks
 * still run (unless TAPIR_CANCEL_STOP_AT_FIRST_ERROR). Must not unwind.
 */
typedef const struct tapir_error *(*tapir_cancel_fn)(void *user_data);

/**
 * Options for tapir_channel_new; NULL means unbounded. Set `struct_size =
 * sizeof(tapir_channel_options)`; fields past `struct_size` are treated as zero.
 */
typedef struct tapir_channel_options {
  /**
   * `sizeof(tapir_channel_options)` as the caller compiled it.
   */
  uint32_t struct_size;
  /**
   * A TAPIR_CHANNEL_FULL_* mode (only meaningful with a capacity).
   */
  uint32_t full_mode;
  /**
   * The most items the channel holds; 0 = unbounded.
   */
  size_t capacity;
} tapir_channel_options;

/**
 * Work run by tapir_run: complete `source` (now, or later after tapir_source_retain).
 * `source` is borrowed for the call; left pending and unretained, the task fails with
 * TAPIR_STATUS_BROKEN_PROMISE. Must not unwind.
 */
typedef void (*tapir_run_fn)(void *user_data, const struct tapir_source *source);

/**
 * Returns a new task reference for item `index` (tapir takes it), or NULL (the item
 * then fails with TAPIR_STATUS_INVALID_STATE). Must not unwind.
 */
typedef const struct tapir_task *(*tapir_task_factory_fn)(void *user_data, uint32_t index);

/**
 * As tapir_task_factory_fn, with a token (borrowed) the operation should observe.
 */
typedef const struct tapir_task *(*tapir_cancelable_factory_fn)(void *user_data,
                                                                uint32_t index,
                                                                const struct tapir_cancel_token *token);

/**
 * A barrier's post-phase action: runs once per phase, with the number of the phase
 * that just completed, on the thread of the participant whose arrival completed it,
 * before any participant of the phase is released and while tapir holds no lock.
 * Return NULL, or a new `tapir_error` reference (tapir takes it): every participant
 * of the phase then fails with that error. Must not unwind.
 */
typedef const struct tapir_error *(*tapir_barrier_phase_fn)(void *user_data, uint64_t phase);

/**
 * Called when the last reference to a faulted task whose errors nobody read is
 * released: `errors[0..count]` are its errors (borrowed for the call), `task_id` what
 * tapir_task_id reported. Runs on the releasing thread; must not unwind.
 */
typedef void (*tapir_unobserved_fn)(void *user_data,
                                    uint64_t task_id,
                                    const struct tapir_error *const *errors,
                                    size_t count);

/**
 * An event about task `task_id` (the value tapir_task_id reports for it): made, or
 * one of its continuation callbacks starting or returning.
 */
typedef void (*tapir_trace_task_fn)(void *user_data, uint64_t task_id);

/**
 * A task completed with `status` (a tapir_task_status value).
 */
typedef void (*tapir_trace_completed_fn)(void *user_data, uint64_t task_id, int32_t status);

/**
 * Work `work_id` (a number unique among traced work) was posted to, or starts or
 * ends on, scheduler `scheduler_id`: 0 for the default pool, otherwise the value of
 * that scheduler's handle (`(uint64_t)(uintptr_t)scheduler`).
 */
typedef void (*tapir_trace_work_fn)(void *user_data, uint64_t work_id, uint64_t scheduler_id);

/**
 * The tracing hooks (every callback optional). Set `struct_size =
 * sizeof(tapir_trace_hooks)`; fields past `struct_size` are treated as NULL, so the
 * struct can grow.
 *
 * Events: a task made (pending, or completed from birth) and completed; a
 * continuation callback (on_complete, continue_with) starting and returning, with
 * the id of the task it continues; work (a continuation or body run by a scheduler,
 * a tapir_scheduler_post item) posted, started and finished, with the same work id
 * in all three. Hooks run on the thread where the event happens (a pool thread,
 * inside a completion, ...) and never under a tapir lock; they may call tapir
 * functions but must not block or unwind.
 */
typedef struct tapir_trace_hooks {
  /**
   * `sizeof(tapir_trace_hooks)` as the caller compiled it.
   */
  uint32_t struct_size;
  /**
   * Passed to every hook.
   */
  void *user_data;
  /**
   * A task was made.
   */
  tapir_trace_task_fn task_created;
  /**
   * A task completed.
   */
  tapir_trace_completed_fn task_completed;
  /**
   * A continuation callback of task `task_id` starts.
   */
  tapir_trace_task_fn continuation_started;
  /**
   * That callback returned.
   */
  tapir_trace_task_fn continuation_finished;
  /**
   * Work was posted to a scheduler.
   */
  tapir_trace_work_fn work_posted;
  /**
   * Work starts running on this thread.
   */
  tapir_trace_work_fn work_started;
  /**
   * Work returned.
   */
  tapir_trace_work_fn work_finished;
} tapir_trace_hooks;

/**
 * Runs on each thread tapir starts: `on_thread_start` first, before it runs any work,
 * and `on_thread_stop` last, when it ends (at tapir_shutdown). `kind` is
 * TAPIR_THREAD_POOL or TAPIR_THREAD_TIMER. This is where a managed runtime (Mono, the
 * JVM) or an engine attaches and detaches a thread. Must not unwind, and must not call
 * tapir_shutdown.
 */
typedef void (*tapir_thread_hook_fn)(void *ctx, int32_t kind, uint32_t index);

/**
 * How tapir runs in its host; fill with tapir_config_init, change what you need, pass
 * to tapir_configure before first use. Fields past `struct_size` are treated as their
 * defaults, so a program built against an older header keeps working.
 */
typedef struct tapir_config {
  /**
   * `sizeof(tapir_config)` as the caller compiled it (tapir_config_init sets it).
   */
  uint32_t struct_size;
  /**
   * Threads of the default pool: -1 (the default) takes the environment variable
   * TAPIR_THREADS (1 to 1024) if set, else one per core; 1 to 1024 exactly that; 0 no
   * pool at all — work for the default pool then goes to `pool_scheduler`.
   */
  int32_t threads;
  /**
   * Prefix of tapir's thread names (NULL: "tapir"): "<prefix>-pool-<i>" and
   * "<prefix>-timer", cut to the 15 bytes Linux keeps. Copied by tapir_configure.
   */
  const char *thread_name_prefix;
  /**
   * Stack size in bytes of pool and timer threads (0: the system's default; at least
   * the system's minimum).
   */
  size_t stack_size;
  /**
   * Runs first on each tapir thread (may be NULL). See tapir_thread_hook_fn.
   */
  tapir_thread_hook_fn on_thread_start;
  /**
   * Runs last on each tapir thread (may be NULL). See tapir_thread_hook_fn.
   */
  tapir_thread_hook_fn on_thread_stop;
  /**
   * Passed to both hooks; not owned, must stay valid while tapir threads run.
   */
  void *hook_ctx;
  /**
   * TAPIR_TIMER_DRIVER_THREAD (default) or TAPIR_TIMER_DRIVER_HOST.
   */
  int32_t timer_driver;
  /**
   * Where timer expiries run — the completion of delays, timeouts and cancel-afters,
   * and so the continuations that run inline with them (NULL: the default pool). A
   * manual scheduler here keeps them on the host's thread. Borrowed: tapir keeps a
   * reference of its own until tapir_shutdown.
   */
  const struct tapir_scheduler *timer_scheduler;
  /**
   * With `threads` 0 only, and required then: the scheduler that receives every work
   * item for the default pool (normally a manual scheduler the host pumps). Borrowed:
   * tapir keeps a reference of its own until tapir_shutdown.
   */
  const struct tapir_scheduler *pool_scheduler;
} tapir_config;

/**
 * Handles one reported value; `value` is borrowed for the call (its destroy, if any,
 * runs after the handler returns). Must not unwind.
 */
typedef void (*tapir_progress_fn)(void *user_data, void *value);

/**
 * A host scheduler (a game engine's job system, a UI thread). Set `struct_size =
 * sizeof(tapir_scheduler_vtable)`; fields past `struct_size` are treated as NULL.
 */
typedef struct tapir_scheduler_vtable {
  /**
   * `sizeof(tapir_scheduler_vtable)` as the caller compiled it.
   */
  uint32_t struct_size;
  /**
   * Receives each work item; must eventually pass it to tapir_work_run (or
   * tapir_work_discard) exactly once, on any thread. Must not block for long and
   * must not unwind. Required.
   */
  void (*post)(void *ctx, struct tapir_work *work);
  /**
   * Called with `ctx` once when the scheduler's last reference is released; may be NULL.
   */
  tapir_destroy_fn destroy;
} tapir_scheduler_vtable;

/**
 * A posted work item.
 */
typedef void (*tapir_work_fn)(void *user_data);

/**
 * Notified when a task completes; `completed` is borrowed for the call.
 */
typedef void (*tapir_callback_fn)(void *user_data, const struct tapir_task *completed);

/**
 * Options for tapir_task_on_complete and tapir_task_continue_with. NULL means all
 * defaults. Set `struct_size = sizeof(tapir_continuation_options)`; fields past
 * `struct_size` are treated as zero, so the struct can grow.
 */
typedef struct tapir_continuation_options {
  /**
   * `sizeof(tapir_continuation_options)` as the caller compiled it.
   */
  uint32_t struct_size;
  /**
   * TAPIR_CONTINUATION_* flags.
   */
  uint32_t flags;
  /**
   * Where the callback runs; NULL = the default pool (never the "current" one).
   */
  const struct tapir_scheduler *scheduler;
  /**
   * Cancels the continuation (its task ends canceled, the callback never runs);
   * NULL = none.
   */
  const struct tapir_cancel_token *token;
} tapir_continuation_options;

/**
 * A continuation: `antecedent` and `next` are borrowed for the call. Complete `next`
 * to complete the continuation task; to complete it later (an asynchronous
 * continuation, or one that returns another task), `tapir_source_retain(next)` first.
 * If `next` is left pending and unretained when the callback returns, the
 * continuation task fails with TAPIR_STATUS_BROKEN_PROMISE.
 */
typedef void (*tapir_continuation_fn)(void *user_data,
                                      const struct tapir_task *antecedent,
                                      const struct tapir_source *next);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Creates a cache whose entries `factory(user_data, key, len)` makes.
 *
 * Ownership: borrows `options`. On TAPIR_STATUS_OK tapir owns `user_data` (`destroy`,
 * if non-NULL, runs once when the cache goes); on error nothing is called.
 * `*cache_out` receives a new reference. Releasing the last one evicts every entry
 * (tasks already handed out are unaffected).
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`factory`, `cache_out`),
 * TAPIR_STATUS_INVALID_ARGUMENT (unknown flags, `struct_size` too small).
 *
 * # Safety
 * `options` must be NULL or point to `struct_size` readable bytes; `cache_out` must be
 * writable. The callbacks must be callable from any thread.
 */
tapir_status tapir_cache_new(tapir_cache_factory_fn factory,
                             void *user_data,
                             tapir_destroy_fn destroy,
                             const struct tapir_cache_options *options,
                             const struct tapir_cache **cache_out);

/**
 * The task of `key[0..len]` (GetAsync): the entry's task if the key has one (the very
 * same task every caller receives), otherwise a new entry whose task completes as the
 * factory's does — the factory runs on this thread, outside every tapir lock, once
 * per entry. A faulted or canceled entry is evicted when it completes (unless
 * TAPIR_CACHE_KEEP_FAILURES), so the next get runs the factory again.
 *
 * Ownership: borrows `cache` and `key` (tapir copies it); `*task_out` receives a new
 * reference.
 * Threading: any thread. Blocking: runs the factory on a miss.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`cache`, `task_out`, or `key` with `len` > 0),
 * TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_FULL (the task has as many handles as it
 * can count).
 *
 * # Safety
 * `key` must point to `len` readable bytes; `task_out` must be writable.
 */
tapir_status tapir_cache_get_async(const struct tapir_cache *cache,
                                   const uint8_t *key,
                                   size_t len,
                                   const struct tapir_task **task_out);

/**
 * Evicts the entry of `key[0..len]`: true if there was one; false if not, or on error
 * (see tapir_last_status). Its task is unaffected.
 *
 * Threading: any thread. Blocking: never.
 *
 * # Safety
 * `key` must point to `len` readable bytes.
 */
bool tapir_cache_remove(const struct tapir_cache *cache, const uint8_t *key, size_t len);

/**
 * Evicts every entry (their tasks are unaffected).
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_cache_clear(const struct tapir_cache *cache);

/**
 * Entries now; 0 on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
size_t tapir_cache_count(const struct tapir_cache *cache);

/**
 * Adds a reference; returns `cache`, or NULL on error (see tapir_last_status).
 */
const struct tapir_cache *tapir_cache_retain(const struct tapir_cache *cache);

/**
 * Releases a reference. NULL is a no-op. The last one evicts every entry.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_cache_release(const struct tapir_cache *cache);

/**
 * Creates a cancellation source.
 *
 * Ownership: `*source_out` receives a new reference. Releasing the last reference to
 * a source and its tokens drops its pending callbacks (their destroy runs) and its timer.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `source_out` must be writable.
 */
tapir_status tapir_cancel_source_new(const struct tapir_cancel_source **source_out);

/**
 * Creates a source canceled when any of `tokens[0..count]` is (CreateLinkedTokenSource).
 * An input already canceled makes it canceled at creation. Canceling the linked source
 * does not touch the inputs; releasing an input does not cancel it.
 *
 * Ownership: borrows the tokens; `*source_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`tokens` NULL with `count` > 0, `source_out`),
 * TAPIR_STATUS_INVALID_ARGUMENT (a NULL element), TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `tokens` must point to `count` readable pointers.
 */
tapir_status tapir_cancel_source_new_linked(const struct tapir_cancel_token *const *tokens,
                                            size_t count,
                                            const struct tapir_cancel_source **source_out);

/**
 * Adds a reference; returns `source`, or NULL if NULL or invalid.
 *
 * Threading: any thread. Blocking: never.
 */
const struct tapir_cancel_source *tapir_cancel_source_retain(const struct tapir_cancel_source *source);

/**
 * Releases a reference (Dispose); it does not cancel. NULL is a no-op.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_INVALID_HANDLE (released already, or not a cancel source).
 */
tapir_status tapir_cancel_source_release(const struct tapir_cancel_source *source);

/**
 * Writes the source's token.
 *
 * Ownership: `*token_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `token_out` must be writable.
 */
tapir_status tapir_cancel_source_token(const struct tapir_cancel_source *source,
                                       const struct tapir_cancel_token **token_out);

/**
 * Requests cancellation (Cancel). Callbacks run on this thread before it returns,
 * newest first; a callback's reported error does not stop the others unless
 * `flags` has TAPIR_CANCEL_STOP_AT_FIRST_ERROR. A second cancel does nothing. Tasks,
 * delays and continuations created with the token end canceled.
 *
 * `errors_out` (may be NULL) receives NULL when no callback reported an error, or a
 * new aggregate error (code TAPIR_STATUS_FAULTED) whose inner errors are the reported
 * ones in the order the callbacks ran. Without `errors_out`, reported errors are released.
 * Threading: any thread. Blocking: runs the callbacks.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (unknown flag bits).
 *
 * # Safety
 * `errors_out` must be NULL or writable.
 */
tapir_status tapir_cancel_source_cancel(const struct tapir_cancel_source *source,
                                        uint32_t flags,
                                        const struct tapir_error **errors_out);

/**
 * Cancels the source after `delay_ms` (CancelAfter): -1 never (clears a pending
 * deadline), 0 now, otherwise replaces any earlier deadline. The timer thread posts
 * the cancel to the default pool, so callbacks run on a pool thread.
 *
 * Threading: any thread. Blocking: never (0 cancels on this thread).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE (also after the last
 * release: tapir has no separate dispose), TAPIR_STATUS_INVALID_ARGUMENT (bad delay).
 */
tapir_status tapir_cancel_source_cancel_after(const struct tapir_cancel_source *source,
                                              int64_t delay_ms);

/**
 * True once cancellation was requested of `source` (IsCancellationRequested); false
 * otherwise, or for a NULL or invalid handle (see tapir_last_status). For a token,
 * call tapir_cancel_token_is_canceled. (A token handle passed here is answered too,
 * for callers that hold one in a source pointer; well-typed code never needs the cast.)
 *
 * Threading: any thread. Blocking: never.
 */
bool tapir_cancel_source_is_canceled(const struct tapir_cancel_source *source);

/**
 * Writes the none token: never canceled, `tapir_cancel_token_can_be_canceled` false;
 * every call writes the same handle value (two none tokens compare equal).
 *
 * Ownership: a reference to release as usual (the token itself is permanent).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `token_out` must be writable.
 */
tapir_status tapir_cancel_token_none(const struct tapir_cancel_token **token_out);

/**
 * Creates a token that is canceled from the start (new CancellationToken(true)).
 *
 * Ownership: `*token_out` receives a new reference.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `token_out` must be writable.
 */
tapir_status tapir_cancel_token_new_canceled(const struct tapir_cancel_token **token_out);

/**
 * Adds a reference; returns `token`, or NULL if NULL or invalid.
 *
 * Threading: any thread. Blocking: never.
 */
const struct tapir_cancel_token *tapir_cancel_token_retain(const struct tapir_cancel_token *token);

/**
 * Releases a token reference. NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_cancel_token_release(const struct tapir_cancel_token *token);

/**
 * True once cancellation was requested (IsCancellationRequested); false otherwise or
 * for an invalid handle (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 */
bool tapir_cancel_token_is_canceled(const struct tapir_cancel_token *token);

/**
 * False only for the none token (CanBeCanceled), and for an invalid handle.
 *
 * Threading: any thread. Blocking: never.
 */
bool tapir_cancel_token_can_be_canceled(const struct tapir_cancel_token *token);

/**
 * Registers `callback(user_data)` to run once when the token is canceled (Register).
 *
 * If the token is already canceled, the callback runs now, on this thread, before this
 * returns, and `*registration_out` receives NULL — unless `flags` has
 * TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED: then nothing runs or is registered, and the
 * call returns TAPIR_STATUS_CANCELED (user_data stays with the caller). On the none
 * token nothing is registered (TAPIR_STATUS_OK, `*registration_out` NULL; destroy runs
 * at once). Otherwise `*registration_out` (if non-NULL) receives a registration.
 * Callbacks run on the canceling thread, newest first.
 * Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (callback contract).
 * Threading: any thread. Blocking: may run the callback.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`token`, `callback`), TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (unknown flag bits), TAPIR_STATUS_CANCELED (see above).
 *
 * # Safety
 * `registration_out` must be NULL or writable.
 */
tapir_status tapir_cancel_token_register(const struct tapir_cancel_token *token,
                                         tapir_cancel_fn callback,
                                         void *user_data,
                                         tapir_destroy_fn destroy,
                                         uint32_t flags,
                                         const struct tapir_cancel_registration **registration_out);

/**
 * Removes a registration without waiting (CancellationTokenRegistration.Unregister).
 * Returns TAPIR_STATUS_OK if removed before it ran (destroy has run), or
 * TAPIR_STATUS_ALREADY_COMPLETED if it ran, is running, or was removed before.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_cancel_registration_unregister(const struct tapir_cancel_registration *registration);

/**
 * As tapir_cancel_registration_unregister, but if the callback is running on another
 * thread, waits until it returns (Dispose). Called from inside that callback itself,
 * it does not wait (it would deadlock).
 *
 * Threading: any thread. Blocking: yes, while the callback runs elsewhere.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_cancel_registration_unregister_wait(const struct tapir_cancel_registration *registration);

/**
 * Writes the token a registration was made on (readable even after the source was
 * released, as long as the registration is held).
 *
 * Ownership: `*token_out` receives a new reference.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `token_out` must be writable.
 */
tapir_status tapir_cancel_registration_token(const struct tapir_cancel_registration *registration,
                                             const struct tapir_cancel_token **token_out);

/**
 * Adds a reference; returns `registration`, or NULL if NULL or invalid.
 */
const struct tapir_cancel_registration *tapir_cancel_registration_retain(const struct tapir_cancel_registration *registration);

/**
 * Releases a registration handle; it does NOT unregister. NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_cancel_registration_release(const struct tapir_cancel_registration *registration);

/**
 * The number of callbacks registered on a token (or source) that have not run
 * (diagnostics: proves registrations are removed). 0 for an invalid handle.
 */
size_t tapir_debug_cancel_registrations(const struct tapir_cancel_token *token);

/**
 * Creates a channel (Channel.CreateBounded / CreateUnbounded).
 *
 * Ownership: borrows `options`; `*channel_out` receives a new reference. When the
 * last reference is released, the items left are destroyed and pending reads and
 * writes fail with an error of code TAPIR_STATUS_DISPOSED (pending writes' items are
 * destroyed).
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`channel_out`), TAPIR_STATUS_INVALID_ARGUMENT
 * (unknown full mode, `struct_size` too small).
 *
 * # Safety
 * `options` must be NULL or point to `struct_size` readable bytes; `channel_out` must
 * be writable.
 */
tapir_status tapir_channel_new(const struct tapir_channel_options *options,
                               const struct tapir_channel **channel_out);

/**
 * Writes `item` now if it can be (TryWrite): to the oldest waiting reader, into the
 * channel, or as a full mode says (dropping an item, or this one: still true). True
 * when written (tapir owns `item`); false when a WAIT-mode channel is full
 * (tapir_last_status: TAPIR_STATUS_FULL), the channel was completed
 * (TAPIR_STATUS_QUEUE_COMPLETED), or on a bad argument — then `item` is still the
 * caller's and its destroy does not run.
 *
 * Threading: any thread. Blocking: never (a woken reader's continuations may run on
 * this thread, bounded in depth, never under a tapir lock).
 */
bool tapir_channel_try_write(const struct tapir_channel *channel,
                             void *item,
                             tapir_destroy_fn item_destroy);

/**
 * Writes `item`, waiting for room in a full WAIT-mode channel (WriteAsync):
 * `*task_out` succeeds with value 1 once the item is in the channel (at once when
 * there is room, a waiting reader, or a drop mode), with value 0 when `timeout_ms`
 * passes first (-1: never), ends canceled when `token` (NULL: none) is canceled first,
 * or fails with an error of code TAPIR_STATUS_QUEUE_COMPLETED when the channel is
 * completed first. In those last three cases tapir destroys `item`.
 *
 * Ownership: on TAPIR_STATUS_OK tapir owns `item`; on any error it is still the
 * caller's and nothing happened. Borrows `channel` and `token`; `*task_out` receives
 * a new reference.
 * Threading: any thread. Blocking: never parks. On a full WAIT-mode channel whose
 * reader is taking items, it spins for a moment (at most a few hundred pause
 * instructions) until about a quarter of the channel is free, so that a fast writer
 * refills in batches; when no item is taken within a few dozen pauses it returns at
 * once with a pending task.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout), TAPIR_STATUS_QUEUE_COMPLETED (the
 * channel was already completed).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_channel_write_async(const struct tapir_channel *channel,
                                       void *item,
                                       tapir_destroy_fn item_destroy,
                                       int64_t timeout_ms,
                                       const struct tapir_cancel_token *token,
                                       const struct tapir_task **task_out);

/**
 * Takes the oldest item now (TryRead): true, with the item in `*item_out` and its
 * destroy in `*destroy_out` (if non-NULL; the caller now owns the item, and if
 * `destroy_out` is NULL tapir does not destroy it either); false when the channel is
 * empty (tapir_last_status: TAPIR_STATUS_TIMEOUT, as a wait of 0 ms), completed and
 * drained (TAPIR_STATUS_QUEUE_COMPLETED), or on a bad argument.
 *
 * Threading: any thread. Blocking: never (a woken writer's continuations may run on
 * this thread, bounded in depth).
 *
 * # Safety
 * `item_out` must be writable; `destroy_out` must be NULL or writable.
 */
bool tapir_channel_try_read(const struct tapir_channel *channel,
                            void **item_out,
                            tapir_destroy_fn *destroy_out);

/**
 * Reads the oldest item (ReadAsync): `*task_out` succeeds with the item as its value
 * (the task owns it: its destroy runs when the task goes), fails with the channel's
 * completion error once it is completed and drained, fails with an error of code
 * TAPIR_STATUS_TIMEOUT when `timeout_ms` passes first (-1: never), or ends canceled
 * when `token` (NULL: none) is canceled first. Pending readers are served in arrival
 * order; one that times out or is canceled never takes an item.
 *
 * Ownership: borrows `channel` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_channel_read_async(const struct tapir_channel *channel,
                                      int64_t timeout_ms,
                                      const struct tapir_cancel_token *token,
                                      const struct tapir_task **task_out);

/**
 * Waits until an item can be read (WaitToReadAsync): `*task_out` succeeds with value
 * 1 when the channel holds an item, with value 0 once it is completed (without error)
 * and drained; fails with the completion's error, or with an error of code
 * TAPIR_STATUS_TIMEOUT when `timeout_ms` passes first; ends canceled when `token` is
 * canceled first. An answer of 1 does not reserve the item: another reader may take it.
 *
 * Ownership: borrows `channel` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_channel_wait_to_read_async(const struct tapir_channel *channel,
                                              int64_t timeout_ms,
                                              const struct tapir_cancel_token *token,
                                              const struct tapir_task **task_out);

/**
 * Completes the channel (Writer.Complete), with `error` (NULL: none) as the reason
 * readers fail once it is drained. See tapir_channel for what pending reads and
 * writes get.
 *
 * Ownership: borrows `channel` and `error` (tapir takes its own reference).
 * Threading: any thread. Blocking: never (woken continuations may run on this thread,
 * bounded in depth).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE (`channel` or
 * `error`), TAPIR_STATUS_ALREADY_COMPLETED (completed before: nothing changed).
 */
tapir_status tapir_channel_complete(const struct tapir_channel *channel,
                                    const struct tapir_error *error);

/**
 * Items in the channel now (Reader.Count); 0 on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
size_t tapir_channel_count(const struct tapir_channel *channel);

/**
 * True once the channel was completed (drained or not); false otherwise, or on error
 * (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
bool tapir_channel_is_completed(const struct tapir_channel *channel);

/**
 * Adds a reference; returns `channel`, or NULL on error (see tapir_last_status).
 */
const struct tapir_channel *tapir_channel_retain(const struct tapir_channel *channel);

/**
 * Releases a reference. NULL is a no-op. The last one destroys the items left and
 * fails pending reads and writes (see tapir_channel_new).
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_channel_release(const struct tapir_channel *channel);

/**
 * A task that succeeds (value NULL) after `delay_ms` (Task.Delay): 0 completes at
 * once, -1 never (it ends only by `token`), never early. If `token` (NULL: none) is
 * canceled first — or already — the task ends canceled with that token.
 *
 * Ownership: borrows `token`; `*task_out` receives a new reference. Releasing the task
 * does not stop the timer early; canceling the token does, and frees its entry at once.
 * Threading: any thread. Continuations of a delay never run on the timer thread: the
 * timer posts the completion to the default pool.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (delay < -1 or > 4294967294).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_delay(int64_t delay_ms,
                         const struct tapir_cancel_token *token,
                         const struct tapir_task **task_out);

/**
 * A task that completes as `task` does, or fails with an error of code
 * TAPIR_STATUS_TIMEOUT after `timeout_ms` (-1: never), or ends canceled when `token`
 * (NULL: none) is canceled (Task.WaitAsync). `task` itself is never affected. If
 * `task` has already completed, `*task_out` is `task` itself (a new reference).
 *
 * Ownership: borrows `task` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_task_wait_async(const struct tapir_task *task,
                                   int64_t timeout_ms,
                                   const struct tapir_cancel_token *token,
                                   const struct tapir_task **task_out);

/**
 * Runs `work(user_data, source)` on `scheduler` (NULL: the default pool) and returns
 * the task `source` completes (Task.Run, including Run with an async lambda: the work
 * may retain `source` and complete it later). If `token` (NULL: none) is canceled
 * before the work starts, the task ends canceled with it at once, and the work never
 * runs. A token whose cancel source is released first can no longer be canceled: the
 * work runs.
 *
 * Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (destroy runs once, after the
 * work returns or when it is dropped unrun); `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never (the inline scheduler runs the work now).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`work`, `task_out`), TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_run(const struct tapir_scheduler *scheduler,
                       tapir_run_fn work,
                       void *user_data,
                       tapir_destroy_fn destroy,
                       const struct tapir_cancel_token *token,
                       const struct tapir_task **task_out);

/**
 * A task that completes asynchronously on the scheduler running the caller (the
 * default pool when there is none), as `await Task.Yield()` does.
 *
 * Ownership: `*task_out` receives a new reference.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_yield(const struct tapir_task **task_out);

/**
 * A task that completes when all of `tasks[0..count]` have (Task.WhenAll).
 *
 * Succeeds when all succeeded: its value (tapir_task_result) points to `count`
 * `void *` slots holding the inputs' values in input order, valid while the when_all
 * task lives (it keeps the inputs alive). Fails when any failed, with every input
 * error in input order, whatever the completion order (an input with several errors
 * contributes all of them, in order); the inputs' errors count as observed. Otherwise,
 * if any was canceled, ends canceled with the first canceled input's token (input
 * order). Empty input succeeds at once; duplicates are allowed.
 * Ownership: borrows the tasks; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`task_out`, or `tasks` NULL with `count` > 0),
 * TAPIR_STATUS_INVALID_ARGUMENT (a NULL element), TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `tasks` must point to `count` readable pointers; `task_out` must be writable.
 */
tapir_status tapir_when_all(const struct tapir_task *const *tasks,
                            size_t count,
                            const struct tapir_task **task_out);

/**
 * As tapir_when_all, but always succeeds once every input has completed, whatever
 * their outcomes (Promise.allSettled): its value points to `count` slots holding the
 * input task handles (borrowed; kept alive by this task) to inspect one by one.
 *
 * # Safety
 * As tapir_when_all.
 */
tapir_status tapir_when_all_settled(const struct tapir_task *const *tasks,
                                    size_t count,
                                    const struct tapir_task **task_out);

/**
 * WhenAllOrFirstException (a well-known TPL pattern, not a .NET method): fails as soon
 * as one input fails, with that input's errors (later failures are observed and
 * dropped); otherwise completes as tapir_when_all (succeeds with the values in input order, or ends
 * canceled once all completed and one was canceled). Empty input succeeds at once.
 *
 * # Safety
 * As tapir_when_all.
 */
tapir_status tapir_when_all_or_first_error(const struct tapir_task *const *tasks,
                                           size_t count,
                                           const struct tapir_task **task_out);

/**
 * A task that succeeds when the first of `tasks[0..count]` completes, whatever that
 * input's outcome (Task.WhenAny); its value is the winner's index (`uintptr_t` in the
 * `void *`). Among inputs already completed, the first in input order wins. When it
 * completes, its registrations on the other inputs are removed at once (their memory
 * returns) and, if `cancel_on_complete` is non-NULL, that source is canceled so the
 * losers can stop.
 *
 * Ownership: borrows everything; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_INVALID_ARGUMENT (`count` 0, a NULL element),
 * TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `tasks` must point to `count` readable pointers; `task_out` must be writable.
 */
tapir_status tapir_when_any(const struct tapir_task *const *tasks,
                            size_t count,
                            const struct tapir_cancel_source *cancel_on_complete,
                            const struct tapir_task **task_out);

/**
 * Interleaved (Task.WhenEach): writes `count` new tasks to `outputs[0..count]`; output
 * k completes the way the k-th input to complete did (value shared, errors, or
 * cancellation). O(count) in total, unlike repeated when_any.
 *
 * Ownership: borrows the inputs; each output is a new reference. Nothing is written
 * on error.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (a NULL element),
 * TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `tasks` must point to `count` readable pointers and `outputs` to `count` writable ones.
 */
tapir_status tapir_interleaved(const struct tapir_task *const *tasks,
                               size_t count,
                               const struct tapir_task **outputs);

/**
 * RetryOnFault: calls `factory(user_data, attempt)` for attempt 0, 1, ... — each only
 * after the previous attempt's task completed — until one succeeds or `max_tries`
 * attempts were made. The result completes as the last attempt did. With `gate`
 * (may be NULL), `gate(user_data, attempt)` returns a task to wait for between tries
 * (e.g. a tapir_delay); a gate that fails or is canceled ends the retry that way.
 *
 * Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (destroy after the last call);
 * `*task_out` receives a new reference.
 * Threading: `factory` and `gate` run on the thread that completed the previous task.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`factory`, `task_out`),
 * TAPIR_STATUS_INVALID_ARGUMENT (`max_tries` 0).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_retry_on_fault(tapir_task_factory_fn factory,
                                  tapir_task_factory_fn gate,
                                  void *user_data,
                                  tapir_destroy_fn destroy,
                                  uint32_t max_tries,
                                  const struct tapir_task **task_out);

/**
 * NeedOnlyOne: calls `factory(user_data, i, token)` for i in 0..count, all sharing one
 * token. The first task to complete gives the result (its value, errors or
 * cancellation); the token is canceled right after so the others can stop, and their
 * later failures are observed (never reported to the unobserved-error hook).
 *
 * Abandoning the result also cancels the token: when the result is pending and its
 * last observer goes — its last task handle is released, with no continuation
 * registered on it and no tapir call or combinator using it — no one needs a winner
 * any more, so the token is canceled then (its callbacks run on the thread that let
 * the observer go) and the result never completes. A race whose every task waits
 * only on the token therefore ends and is freed once its result is released. A
 * continuation on the result keeps it observed: such a race then waits for ever.
 *
 * Ownership: `user_data` is destroyed before this returns (all factories have run);
 * `*task_out` receives a new reference.
 * Threading: the factories run on this thread.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`count` 0).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_need_only_one(tapir_cancelable_factory_fn factory,
                                 void *user_data,
                                 tapir_destroy_fn destroy,
                                 uint32_t count,
                                 const struct tapir_task **task_out);

/**
 * A throttled loop (as Parallel.ForEachAsync with MaxDegreeOfParallelism): runs
 * `factory(user_data, i)` for i in 0..count with at most `max_in_flight` of the
 * returned tasks pending at once, starting the next as each completes. The result succeeds (value NULL) when every task succeeded;
 * otherwise fails with all errors in index order, or ends canceled.
 *
 * Ownership: on TAPIR_STATUS_OK tapir owns `user_data`; `*task_out` receives a new reference.
 * Threading: `factory` runs on this thread and on the threads that complete the tasks.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`max_in_flight` 0).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_for_each_throttled(tapir_task_factory_fn factory,
                                      void *user_data,
                                      tapir_destroy_fn destroy,
                                      uint32_t count,
                                      uint32_t max_in_flight,
                                      const struct tapir_task **task_out);

/**
 * Creates a countdown event whose count starts at `initial` (0: set from the start).
 *
 * Ownership: `*countdown_out` receives a new reference; when the last one is
 * released, pending waits fail with an error of code TAPIR_STATUS_DISPOSED.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `countdown_out` must be writable.
 */
tapir_status tapir_countdown_new(uint32_t initial, const struct tapir_countdown **countdown_out);

/**
 * Counts down by `count` (Signal(count)). When that reaches zero every waiter
 * completes with value 1 (continuations after tapir released its lock, synchronous
 * ones possibly on this thread, bounded in depth). `*reached_zero_out` (if non-NULL)
 * receives whether this call set the event.
 *
 * Ownership: borrows `countdown`. Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`count` 0), TAPIR_STATUS_INVALID_STATE (`count` is
 * more than the count left, including an event already set: nothing changed).
 *
 * # Safety
 * `reached_zero_out` must be NULL or writable.
 */
tapir_status tapir_countdown_signal(const struct tapir_countdown *countdown,
                                    uint32_t count,
                                    bool *reached_zero_out);

/**
 * Adds `count` to the count (AddCount).
 *
 * Ownership: borrows `countdown`. Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`count` 0), TAPIR_STATUS_INVALID_STATE (the event is
 * already set), TAPIR_STATUS_FULL (the count would overflow); nothing changed then.
 */
tapir_status tapir_countdown_add_count(const struct tapir_countdown *countdown, uint32_t count);

/**
 * Adds `count` unless the event is already set (TryAddCount): true when added; false
 * when set (tapir_last_status: TAPIR_STATUS_INVALID_STATE), or on error (see tapir_last_status: also TAPIR_STATUS_FULL on overflow).
 *
 * Threading: any thread. Blocking: never.
 */
bool tapir_countdown_try_add_count(const struct tapir_countdown *countdown,
                                   uint32_t count);

/**
 * Resets the count (Reset): to `count`, which also becomes the initial count, or to
 * the initial count when `count` is -1. A count of 0 sets the event (waiters complete);
 * otherwise later waits wait again.
 *
 * Ownership: borrows `countdown`. Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`count` below -1 or above UINT32_MAX).
 */
tapir_status tapir_countdown_reset(const struct tapir_countdown *countdown, int64_t count);

/**
 * The count left (CurrentCount); 0 on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
uint32_t tapir_countdown_current_count(const struct tapir_countdown *countdown);

/**
 * The initial count (InitialCount); 0 on error (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 */
uint32_t tapir_countdown_initial_count(const struct tapir_countdown *countdown);

/**
 * Waits for the count to reach zero: `*task_out` succeeds with value 1 then (at once
 * if it is zero), with value 0 when `timeout_ms` passes first (-1: never), or ends
 * canceled when `token` (NULL: none) is canceled first.
 *
 * Ownership: borrows `countdown` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_countdown_wait_async(const struct tapir_countdown *countdown,
                                        int64_t timeout_ms,
                                        const struct tapir_cancel_token *token,
                                        const struct tapir_task **task_out);

/**
 * Adds a reference; returns `countdown`, or NULL on error (see tapir_last_status).
 */
const struct tapir_countdown *tapir_countdown_retain(const struct tapir_countdown *countdown);

/**
 * Releases a reference. NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_countdown_release(const struct tapir_countdown *countdown);

/**
 * Creates a barrier of `participants` (0 is allowed: add them later) with an optional
 * post-phase action `post_phase` (NULL: none).
 *
 * Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (`destroy`, if non-NULL, runs
 * once when the barrier goes); on error nothing is called. `*barrier_out` receives a
 * new reference; when the last one is released, pending waits fail with an error of
 * code TAPIR_STATUS_DISPOSED.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`barrier_out`).
 *
 * # Safety
 * `barrier_out` must be writable.
 */
tapir_status tapir_barrier_new(uint32_t participants,
                               tapir_barrier_phase_fn post_phase,
                               void *user_data,
                               tapir_destroy_fn destroy,
                               const struct tapir_barrier **barrier_out);

/**
 * Signals this participant's arrival and waits for the others (SignalAndWait):
 * `*task_out` succeeds with value 1 when the phase completes — at once, after the
 * post-phase action ran, for the last participant — fails with the action's error if
 * it returned one, succeeds with value 0 when `timeout_ms` passes first, or ends
 * canceled when `token` (NULL: none) is canceled first; in those two cases the arrival
 * is taken back.
 *
 * Ownership: borrows `barrier` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: runs the post-phase action on this thread when
 * this arrival completes the phase.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout), TAPIR_STATUS_INVALID_STATE (no
 * participants).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_barrier_signal_and_wait_async(const struct tapir_barrier *barrier,
                                                 int64_t timeout_ms,
                                                 const struct tapir_cancel_token *token,
                                                 const struct tapir_task **task_out);

/**
 * Adds `count` participants to the current phase (AddParticipants); `*phase_out` (if
 * non-NULL) receives the current phase number.
 *
 * Ownership: borrows `barrier`. Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_FULL
 * (the count would overflow: nothing changed).
 *
 * # Safety
 * `phase_out` must be NULL or writable.
 */
tapir_status tapir_barrier_add_participants(const struct tapir_barrier *barrier,
                                            uint32_t count,
                                            uint64_t *phase_out);

/**
 * Removes `count` participants (RemoveParticipants). If every participant left has
 * arrived, the phase completes: the post-phase action runs on this thread and the
 * participants are released.
 *
 * Ownership: borrows `barrier`. Threading: any thread. Blocking: may run the action.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (more than the participants),
 * TAPIR_STATUS_INVALID_STATE (more than those that have not arrived); nothing changed.
 */
tapir_status tapir_barrier_remove_participants(const struct tapir_barrier *barrier, uint32_t count);

/**
 * The current phase number (CurrentPhaseNumber; the first phase is 0); 0 on error
 * (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
uint64_t tapir_barrier_current_phase(const struct tapir_barrier *barrier);

/**
 * The number of participants (ParticipantCount); 0 on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
uint32_t tapir_barrier_participant_count(const struct tapir_barrier *barrier);

/**
 * Participants that have not arrived in the current phase (ParticipantsRemaining);
 * 0 on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
uint32_t tapir_barrier_participants_remaining(const struct tapir_barrier *barrier);

/**
 * Adds a reference; returns `barrier`, or NULL on error (see tapir_last_status).
 */
const struct tapir_barrier *tapir_barrier_retain(const struct tapir_barrier *barrier);

/**
 * Releases a reference. NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_barrier_release(const struct tapir_barrier *barrier);

/**
 * The library version, e.g. "0.1.0" (static, NUL-terminated; never free it).
 *
 * Threading: any thread. Blocking: never.
 */
const char *tapir_version(void);

/**
 * Why the last call on this thread that returns a bool, an integer or a pointer
 * failed (NULL, stale or wrong-kind handle, ...). Only meaningful right after such a
 * call reported failure; successful calls do not reset it.
 *
 * Threading: per thread. Blocking: never.
 */
tapir_status tapir_last_status(void);

/**
 * Counts live objects of `kind` (a `tapir_object_kind` value): the tool tests use to
 * prove nothing leaks. Returns 0 for an unknown kind. Cost is proportional to the
 * number of objects ever allocated: diagnostics only, not for hot paths.
 *
 * Threading: any thread (the count is a snapshot). Blocking: never.
 */
size_t tapir_debug_live_objects(int32_t kind);

/**
 * The number of pending timers (delays, timeouts, cancel_after): lets tests prove a
 * canceled timer frees its entry at once. Diagnostics only.
 *
 * Threading: any thread. Blocking: briefly takes the timer lock.
 */
size_t tapir_debug_pending_timers(void);

/**
 * The number of continuations registered on `task` that have not run yet (0 once it
 * completed, or for a NULL or invalid handle: see tapir_last_status). Lets tests see
 * that a registration landed, or that removing it freed it. Diagnostics only.
 *
 * Threading: any thread (a snapshot). Blocking: never (briefly holds the task's word).
 */
size_t tapir_debug_task_continuations(const struct tapir_task *task);

/**
 * Installs the process-wide unobserved-error hook (TaskScheduler.UnobservedTaskException);
 * a NULL `hook` removes it. tapir calls it deterministically: when the last reference
 * to a faulted task whose errors were never read (tapir_task_error*, a FAULTED result
 * from tapir_task_result or a wait, or consumption by a combinator) is released.
 *
 * Ownership: `user_data` is not owned. Threading: any thread; the hook runs on the
 * releasing thread. Blocking: waits for a hook call in progress on another thread.
 * Errors: none (TAPIR_STATUS_OK).
 */
tapir_status tapir_set_unobserved_error_hook(tapir_unobserved_fn hook, void *user_data);

/**
 * Test hook: panics inside tapir on purpose, with `source`'s task as "the task
 * involved". The boundary catches the panic, the task fails with an error of code
 * TAPIR_STATUS_PANIC, and the call returns TAPIR_STATUS_PANIC.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_PANIC.
 */
tapir_status tapir_debug_panic(const struct tapir_source *source);

/**
 * Sets the tracing hooks (copied), or clears them with NULL. While none are set,
 * each event costs one relaxed load. Events under way on other threads when this
 * is called may still reach the previous hooks, so keep their user data valid for as
 * long as the library is loaded.
 *
 * Threading: any thread. Blocking: briefly takes a lock.
 * Errors: TAPIR_STATUS_INVALID_ARGUMENT (`struct_size` smaller than the two first
 * fields).
 *
 * # Safety
 * `hooks` must be NULL or point to `struct_size` readable bytes; each non-NULL hook
 * must be callable with `user_data` from any thread until the library is unloaded.
 */
tapir_status tapir_set_trace_hooks(const struct tapir_trace_hooks *hooks);

/**
 * Names a task for the pending-task report (replacing an earlier name); NULL `name`
 * removes it. The name is copied (UTF-8 expected; invalid bytes are replaced) and goes
 * with the task.
 *
 * Threading: any thread. Blocking: briefly takes a lock.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`task`), TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `name` must be NULL or a NUL-terminated string.
 */
tapir_status tapir_task_set_name(const struct tapir_task *task, const char *name);

/**
 * Copies the task's name into `buffer` (at most `size` bytes, NUL-terminated when
 * `size` > 0, cut if it does not fit) and returns its full length in bytes, or 0 when
 * the task has no name or on error (see tapir_last_status).
 *
 * Threading: any thread. Blocking: briefly takes a lock.
 *
 * # Safety
 * `buffer` must be NULL (with `size` 0) or point to `size` writable bytes.
 */
size_t tapir_task_get_name(const struct tapir_task *task, char *buffer, size_t size);

/**
 * Turns on (true) or off the recording of each new task's creation order and time,
 * which the pending-task report shows (tasks made while it is off are listed without
 * them). It costs a lock and a table entry per task while on: diagnostics only.
 *
 * Threading: any thread. Blocking: never.
 */
void tapir_debug_track_tasks(bool on);

/**
 * Writes the report of the tasks still pending to `out` (NULL: writes nothing) and
 * returns how many there are: one line each with its id, its creation number and age
 * when tracked (tapir_debug_track_tasks), and its name (tapir_task_set_name), oldest
 * first. Cost is proportional to the number of tasks ever allocated: diagnostics
 * only. Tasks completing while it runs may or may not be listed.
 *
 * Threading: any thread. Blocking: writes to `out`.
 *
 * # Safety
 * `out` must be NULL or an open, writable `FILE`.
 */
size_t tapir_debug_report_pending(FILE *out);

/**
 * Writes the report of every live task to `out` (NULL: writes nothing) and returns
 * how many there are: one line each with its id, its status (pending, succeeded,
 * faulted, canceled), how many task handles are outstanding, how many sources (source
 * handles, and the library's own producers: the continuation that will complete a
 * continuation's task counts as one), whether its continuations are running (then
 * its handle stays valid for them, unless all of them are the library's own), whether
 * the library otherwise holds it and how (internal references: a registration, a combinator or a call that has not
 * finished with it; extra producers: forwards from tapir_source_set_from_task still
 * waiting on the task they forward from), and its creation number, age and name as
 * in tapir_debug_report_pending. After a program has released everything, a task
 * still listed is a leak, and the handle counts say whose. Same cost and caveat as
 * tapir_debug_report_pending.
 *
 * Threading: any thread. Blocking: writes to `out`.
 *
 * # Safety
 * `out` must be NULL or an open, writable `FILE`.
 */
size_t tapir_debug_report_live(FILE *out);

/**
 * Makes tapir_shutdown write the pending-task report (as tapir_debug_report_pending)
 * to `out` when tasks are still pending after its threads have stopped; NULL turns
 * it off.
 *
 * Threading: any thread. Blocking: never.
 *
 * # Safety
 * `out` must be NULL or an open, writable `FILE` that stays open until it is replaced
 * or the library is unloaded.
 */
void tapir_debug_report_at_shutdown(FILE *out);

/**
 * Creates an error with a code, a UTF-8 message and an optional payload.
 *
 * `code` is any int32_t. For errors of your own, use codes from
 * TAPIR_ERROR_CODE_USER_MIN (1,000,000) up: tapir never creates an error with such a
 * code, so it cannot be mistaken for a tapir status (tapir's own errors carry
 * `tapir_status` values, all below it). Wrappers that turn an exception into an error
 * without a code of its own use TAPIR_STATUS_FAULTED.
 * Ownership: copies `message`. On TAPIR_STATUS_OK the error owns `payload` and calls
 * `payload_destroy(payload)` (if non-NULL) once when the last reference goes;
 * `*error_out` receives a new reference. On failure nothing is called.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`error_out` NULL, or `message` NULL with a
 * non-zero length), TAPIR_STATUS_INVALID_ARGUMENT (message not UTF-8).
 *
 * # Safety
 * `message` must point to `message_len` readable bytes; `error_out` must be writable.
 */
tapir_status tapir_error_new(int32_t code,
                             const uint8_t *message,
                             size_t message_len,
                             void *payload,
                             tapir_destroy_fn payload_destroy,
                             const struct tapir_error **error_out);

/**
 * Creates an aggregate error whose inner errors are `inner[0..inner_count]`, in order.
 *
 * Ownership: borrows `inner` (the aggregate takes its own references); `*error_out`
 * receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`error_out` NULL, `inner` NULL with a non-zero
 * count, or `message` NULL with a non-zero length), TAPIR_STATUS_INVALID_ARGUMENT (a
 * NULL element, as for every list argument; or a message that is not UTF-8),
 * TAPIR_STATUS_INVALID_HANDLE (a stale element).
 *
 * # Safety
 * `message` must point to `message_len` bytes, `inner` to `inner_count` pointers.
 */
tapir_status tapir_error_new_aggregate(int32_t code,
                                       const uint8_t *message,
                                       size_t message_len,
                                       const struct tapir_error *const *inner,
                                       size_t inner_count,
                                       const struct tapir_error **error_out);

/**
 * Adds a reference; returns `error`, or NULL if it is NULL or invalid.
 *
 * Threading: any thread. Blocking: never.
 * Errors (via tapir_last_status): TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
const struct tapir_error *tapir_error_retain(const struct tapir_error *error);

/**
 * Releases a reference; the last one calls the payload's destroy and releases the
 * inner errors. NULL is a no-op.
 *
 * Threading: any thread. Blocking: never (may run the payload destroy).
 * Errors: TAPIR_STATUS_INVALID_HANDLE (already released, or not an error).
 */
tapir_status tapir_error_release(const struct tapir_error *error);

/**
 * The error's code; 0 if `error` is NULL or invalid (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 */
int32_t tapir_error_code(const struct tapir_error *error);

/**
 * The error's UTF-8 message (not NUL-terminated); its length goes to `*len_out`.
 *
 * Ownership: the bytes are borrowed; they stay valid while the caller holds a
 * reference to `error`. Returns NULL (and writes nothing) if `error` or `len_out` is
 * NULL or `error` is invalid; an empty message returns a non-NULL pointer with length 0.
 * Threading: any thread. Blocking: never.
 *
 * # Safety
 * `len_out` must be writable.
 */
const uint8_t *tapir_error_message(const struct tapir_error *error, size_t *len_out);

/**
 * The payload given at creation (NULL if none, or if `error` is NULL or invalid).
 *
 * Ownership: borrowed; the error keeps owning it.
 * Threading: any thread. Blocking: never.
 */
void *tapir_error_payload(const struct tapir_error *error);

/**
 * The number of inner errors (0 for a plain error, or if `error` is NULL or invalid).
 *
 * Threading: any thread. Blocking: never.
 */
size_t tapir_error_inner_count(const struct tapir_error *error);

/**
 * Writes a new reference to inner error `index` to `*inner_out`.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`index` out of range).
 *
 * # Safety
 * `inner_out` must be writable.
 */
tapir_status tapir_error_inner(const struct tapir_error *error,
                               size_t index,
                               const struct tapir_error **inner_out);

/**
 * Flattens nested aggregates (AggregateException.Flatten): `*flat_out` receives a new
 * aggregate with the same code and message whose inner errors are the leaves of
 * `error`'s inner tree, depth-first in order. A plain error flattens to an aggregate
 * with no inner errors.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `flat_out` must be writable.
 */
tapir_status tapir_error_flatten(const struct tapir_error *error,
                                 const struct tapir_error **flat_out);

/**
 * Creates an auto-reset event, set if `initially_set` is 1.
 *
 * Ownership: `*event_out` receives a new reference; when the last one is released,
 * pending waits fail with an error of code TAPIR_STATUS_DISPOSED.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`initially_set`
 * not 0 or 1).
 *
 * # Safety
 * `event_out` must be writable.
 */
tapir_status tapir_auto_reset_event_new(uint32_t initially_set,
                                        const struct tapir_auto_reset_event **event_out);

/**
 * Sets the event: completes the oldest waiter (value 1), or, if nobody waits, leaves
 * the event set for the next wait (a second set before that wait changes nothing).
 * The waiter's continuations run after tapir released its lock (synchronous ones
 * possibly on this thread, bounded in depth).
 *
 * Ownership: borrows `event`. Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_auto_reset_event_set(const struct tapir_auto_reset_event *event);

/**
 * Takes the event's set if it is there now (WaitOne(0)): true when taken (the event
 * is reset); false when not set (tapir_last_status: TAPIR_STATUS_TIMEOUT, as a wait
 * of 0 ms), or on error (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 */
bool tapir_auto_reset_event_try_wait(const struct tapir_auto_reset_event *event);

/**
 * Waits for the event: `*task_out` succeeds with value 1 when a set is taken for this
 * wait (at once if the event is set, which resets it), with value 0 when `timeout_ms`
 * passes first (-1: never), or ends canceled when `token` (NULL: none) is canceled
 * first. Waiters are served in arrival order; one that times out or is canceled
 * leaves the queue and never consumes a set.
 *
 * Ownership: borrows `event` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_auto_reset_event_wait_async(const struct tapir_auto_reset_event *event,
                                               int64_t timeout_ms,
                                               const struct tapir_cancel_token *token,
                                               const struct tapir_task **task_out);

/**
 * Adds a reference; returns `event`, or NULL on error (see tapir_last_status).
 */
const struct tapir_auto_reset_event *tapir_auto_reset_event_retain(const struct tapir_auto_reset_event *event);

/**
 * Releases a reference. NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_auto_reset_event_release(const struct tapir_auto_reset_event *event);

/**
 * Creates a manual-reset event, set if `initially_set` is 1.
 *
 * Ownership: `*event_out` receives a new reference; when the last one is released,
 * pending waits fail with an error of code TAPIR_STATUS_DISPOSED.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`initially_set`
 * not 0 or 1).
 *
 * # Safety
 * `event_out` must be writable.
 */
tapir_status tapir_manual_reset_event_new(uint32_t initially_set,
                                          const struct tapir_manual_reset_event **event_out);

/**
 * Sets the event: every waiter completes with value 1 (their continuations run after
 * tapir released its lock), and later waits complete at once until a reset.
 *
 * Ownership: borrows `event`. Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_manual_reset_event_set(const struct tapir_manual_reset_event *event);

/**
 * Resets the event: waits from now on wait for the next set.
 *
 * Ownership: borrows `event`. Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_manual_reset_event_reset(const struct tapir_manual_reset_event *event);

/**
 * True while the event is set; false when not, or on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
bool tapir_manual_reset_event_is_set(const struct tapir_manual_reset_event *event);

/**
 * Waits for the event: `*task_out` succeeds with value 1 when it is set (at once if
 * it is), with value 0 when `timeout_ms` passes first (-1: never), or ends canceled
 * when `token` (NULL: none) is canceled first.
 *
 * Ownership: borrows `event` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_manual_reset_event_wait_async(const struct tapir_manual_reset_event *event,
                                                 int64_t timeout_ms,
                                                 const struct tapir_cancel_token *token,
                                                 const struct tapir_task **task_out);

/**
 * Adds a reference; returns `event`, or NULL on error (see tapir_last_status).
 */
const struct tapir_manual_reset_event *tapir_manual_reset_event_retain(const struct tapir_manual_reset_event *event);

/**
 * Releases a reference. NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_manual_reset_event_release(const struct tapir_manual_reset_event *event);

/**
 * Fills `*config` with the defaults (`struct_size` set, `threads` -1, the thread timer
 * driver, every pointer NULL, sizes 0).
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `config` must be writable for `sizeof(tapir_config)` bytes.
 */
tapir_status tapir_config_init(struct tapir_config *config);

/**
 * Configures tapir before first use: the default pool's threads, the names, stacks and
 * start/stop hooks of tapir's threads, who drives time, and where timer expiries (and,
 * with no pool, the pool's work) run. "First use" is the start of the pool (the first
 * work for the default scheduler), the first timer (a delay, a timeout, a
 * cancel-after, a primitive's wait_async with a timeout), or — with the host timer
 * driver — the first tapir_time_advance or tapir_timers_run_due; creating tasks,
 * sources and other objects is not use. Until then, calls
 * may replace each other; the last one applies.
 *
 * Single-threaded mode: `threads` 0 with a manual `pool_scheduler` and the host timer
 * driver — tapir then never creates a thread; everything runs in the host's calls
 * (tapir_scheduler_run_pending, tapir_timers_run_due).
 *
 * tapir_shutdown returns tapir to the defaults (releasing the schedulers named here)
 * unless timers are still pending (tapir_debug_pending_timers() > 0 after it), so it
 * can be configured again afterwards.
 *
 * Ownership: copies `*config` and the prefix; takes references of its own on the
 * schedulers (released at tapir_shutdown, or when a later tapir_configure replaces
 * them). `hook_ctx` is not owned.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT; TAPIR_STATUS_INVALID_ARGUMENT (`struct_size` too
 * small, `threads` below -1 or above 1024, `threads` 0 without a `pool_scheduler` or a
 * `pool_scheduler` with `threads` not 0, an unknown `timer_driver`, a prefix that is not
 * UTF-8); TAPIR_STATUS_INVALID_HANDLE (a scheduler); TAPIR_STATUS_INVALID_STATE (tapir
 * is in use: the pool or the timer started since the last tapir_shutdown). On error
 * nothing changed.
 *
 * # Safety
 * `config` must be readable for its `struct_size` bytes; a non-NULL
 * `thread_name_prefix` must be a NUL-terminated string.
 */
tapir_status tapir_configure(const struct tapir_config *config);

/**
 * Host timer driver: sets the time, in milliseconds of the host's own monotonic clock
 * (it starts at 0). Runs nothing: call tapir_timers_run_due next. Every delay,
 * timeout (tapir_task_wait_async, a primitive's wait_async), and cancel-after is
 * measured in this time; blocking waits (tapir_task_wait and the like) keep real time,
 * since they block a thread.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_INVALID_STATE (the host driver is not configured);
 * TAPIR_STATUS_INVALID_ARGUMENT (`now_ms` is before the current host time).
 */
tapir_status tapir_time_advance(uint64_t now_ms);

/**
 * Host timer driver: runs every timer due at the host time, on the calling thread, and
 * writes how many ran to `*ran_out` (if not NULL). A timer's expiry only posts its work
 * to where timer expiries run (`timer_scheduler`), so no user callback runs here
 * unless that scheduler is inline.
 *
 * Threading: any thread (normally the host's tick). Blocking: never.
 * Errors: TAPIR_STATUS_INVALID_STATE (the host driver is not configured).
 *
 * # Safety
 * `ran_out` must be NULL or writable.
 */
tapir_status tapir_timers_run_due(size_t *ran_out);

/**
 * Host timer driver: true, with the earliest pending deadline (host milliseconds) in
 * `*due_ms_out`, if a timer is pending; false if none is, or the host driver is not in
 * use. A host loop sleeps until then (or until its next frame).
 *
 * Threading: any thread. Blocking: never.
 *
 * # Safety
 * `due_ms_out` must be writable.
 */
bool tapir_timers_next_due(uint64_t *due_ms_out);

/**
 * Creates a clock that counts frames, at frame 0: each tapir_clock_advance(clock, 1)
 * is one frame. A delay of n frames made at frame f completes in the advance that
 * reaches frame f + n.
 *
 * Ownership: `*clock_out` receives a new reference. When the last one is released,
 * nobody can advance the clock: its pending timers are dropped at once — a delay on it
 * fails with an error of code TAPIR_STATUS_DISPOSED, a timeout or cancel-after on it
 * never fires.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `clock_out` must be writable.
 */
tapir_status tapir_clock_new_frames(const struct tapir_clock **clock_out);

/**
 * Creates a clock of game time in milliseconds, at 0, that moves `scale` times as fast
 * as the real time the host passes to tapir_clock_advance (1.0: real time; 0.5: slow
 * motion; 0: stopped), like Unity's scaled `Time.time`.
 *
 * Ownership: as tapir_clock_new_frames.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`scale` negative
 * or not finite).
 *
 * # Safety
 * `clock_out` must be writable.
 */
tapir_status tapir_clock_new_scaled(double scale, const struct tapir_clock **clock_out);

/**
 * Adds a reference; returns `clock`, or NULL if NULL or invalid.
 *
 * Threading: any thread. Blocking: never.
 */
const struct tapir_clock *tapir_clock_retain(const struct tapir_clock *clock);

/**
 * Releases a reference (see tapir_clock_new_frames for what the last one does). NULL
 * is a no-op.
 *
 * Threading: any thread. Blocking: never (dropping pending timers may complete their
 * tasks; their continuations are dispatched, not run here).
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_clock_release(const struct tapir_clock *clock);

/**
 * Moves the clock forward — a frame clock by `delta` frames (a whole number), a scaled
 * clock by `delta` real milliseconds times its scale — unless it is paused, then runs,
 * on the calling thread, every timer of the clock now due; writes how many ran to
 * `*ran_out` (if not NULL). An expiry only posts its work to where timer expiries run
 * (see tapir_config), so no user callback runs here unless that scheduler is inline.
 *
 * Threading: any thread (normally the host's frame loop). Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`delta` negative, not finite, or not whole for a frame
 * clock).
 *
 * # Safety
 * `ran_out` must be NULL or writable.
 */
tapir_status tapir_clock_advance(const struct tapir_clock *clock, double delta, size_t *ran_out);

/**
 * Writes the clock's time: frames, or game milliseconds.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `now_out` must be writable.
 */
tapir_status tapir_clock_now(const struct tapir_clock *clock, double *now_out);

/**
 * Sets a scaled clock's rate for the advances that follow (0 stops it, like pausing).
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (a frame clock; `scale` negative or not finite).
 */
tapir_status tapir_clock_set_scale(const struct tapir_clock *clock, double scale);

/**
 * Pauses (`paused` 1) or resumes (0) the clock: a paused clock ignores advances, so
 * nothing measured on it moves (a game's pause menu). Either kind of clock.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`paused` not 0 or 1).
 */
tapir_status tapir_clock_set_paused(const struct tapir_clock *clock, uint32_t paused);

/**
 * tapir_delay measured on a clock: a task that succeeds (value NULL) once `amount` of
 * the clock's time has passed — frames, or game milliseconds (rounded up) — or ends
 * canceled when `token` (NULL: none) is canceled first. -1 never elapses; 0 completes
 * at once. The delay completes where timer expiries run (see tapir_config).
 *
 * Ownership: borrows `clock` and `token`; `*task_out` receives a new reference. If the
 * clock's last reference is released first, the delay fails with an error of code
 * TAPIR_STATUS_DISPOSED.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`amount` negative other than -1, or not finite).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_delay_on(const struct tapir_clock *clock,
                            double amount,
                            const struct tapir_cancel_token *token,
                            const struct tapir_task **task_out);

/**
 * tapir_task_wait_async measured on a clock: a task that completes as `task` does, or
 * fails with an error of code TAPIR_STATUS_TIMEOUT once `timeout` of the clock's time
 * (frames, or game milliseconds; -1: never) has passed, or ends canceled when `token`
 * (NULL: none) is canceled. `task` itself is never affected; if it has already
 * completed, `*task_out` is `task` itself (a new reference).
 *
 * Ownership: borrows `task`, `clock` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad `timeout`).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_task_wait_async_on(const struct tapir_task *task,
                                      const struct tapir_clock *clock,
                                      double timeout,
                                      const struct tapir_cancel_token *token,
                                      const struct tapir_task **task_out);

/**
 * tapir_cancel_source_cancel_after measured on a clock: cancels `source` once `delay`
 * of the clock's time (frames, or game milliseconds) has passed; -1 clears a pending
 * deadline, 0 cancels now. Replaces an earlier deadline, on any clock.
 *
 * Threading: any thread. Blocking: never (0 cancels now: callbacks run inline).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad `delay`).
 */
tapir_status tapir_cancel_source_cancel_after_on(const struct tapir_cancel_source *source,
                                                 const struct tapir_clock *clock,
                                                 double delay);

/**
 * Creates a test scheduler: a manual scheduler whose queued work runs in an order
 * chosen by `seed` — the same seed gives the same order, run after run and version
 * after version — so a test of races is reproducible. With tapir_configure's
 * `threads` 0, this scheduler as `pool_scheduler` and `timer_scheduler`, and the host
 * timer driver, tapir_scheduler_run_until_idle runs a whole test instantly: time jumps
 * to the next timer whenever nothing else is ready.
 *
 * Ownership, threading, errors: as tapir_scheduler_new_manual.
 *
 * # Safety
 * `scheduler_out` must be writable.
 */
tapir_status tapir_scheduler_new_test(uint64_t seed, const struct tapir_scheduler **scheduler_out);

/**
 * Runs a manual or test scheduler's work on the calling thread until nothing is left
 * to do: whenever its queue is empty and the host timer driver has a pending timer,
 * the host time jumps to that timer's deadline and what is due runs (so a delay of an
 * hour takes no time). Returns when the queue is empty and no host-driven timer is
 * pending (timers on clocks do not count: the host ticks those), or once `max_items`
 * items ran (0: no limit; work that keeps reposting itself needs one). Writes how many
 * ran to `*ran_out` (if not NULL). As in tapir_scheduler_run_pending, the scheduler
 * is current while its work runs.
 *
 * Threading: any thread. Blocking: runs user callbacks.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (not a manual or test scheduler).
 *
 * # Safety
 * `ran_out` must be NULL or writable.
 */
tapir_status tapir_scheduler_run_until_idle(const struct tapir_scheduler *scheduler,
                                            size_t max_items,
                                            size_t *ran_out);

/**
 * Writes a file descriptor that is readable exactly while work is queued on the
 * manual (or test) scheduler — an eventfd on Linux, a pipe's read end elsewhere — for
 * a host loop that sleeps in epoll, poll, kqueue or libuv until there is work: wait
 * for it, then call tapir_scheduler_run_pending. Every call writes the same
 * descriptor.
 *
 * Ownership: the descriptor belongs to the scheduler and is closed when the scheduler
 * is freed; do not read, write or close it.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (not a manual or test scheduler),
 * TAPIR_STATUS_INVALID_STATE (the system refused a descriptor).
 *
 * # Safety
 * `fd_out` must be writable.
 */
tapir_status tapir_scheduler_wake_fd(const struct tapir_scheduler *scheduler, int32_t *fd_out);

/**
 * Creates a free lock.
 *
 * Ownership: `*lock_out` receives a new reference. Guards keep their lock alive.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `lock_out` must be writable.
 */
tapir_status tapir_lock_new(const struct tapir_lock **lock_out);

/**
 * Acquires the lock (LockAsync): `*task_out` succeeds with a `tapir_lock_guard` as its
 * value once the lock is granted (at once if it is free and nobody waits), with value
 * NULL when `timeout_ms` passes first (-1: never), or ends canceled when `token`
 * (NULL: none) is canceled first. Waiters are granted in arrival order; one that times
 * out or is canceled leaves the queue and is never granted. A release hands the lock
 * over after tapir released its own lock; the new holder's continuations may run on
 * the releasing thread (bounded in depth), never under a tapir lock.
 *
 * Ownership: borrows `lock` and `token`; `*task_out` receives a new reference. The
 * task owns the guard in its value: releasing the task (and every guard reference
 * taken from it) releases the lock, also when it is granted after the task was
 * released.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_lock_acquire_async(const struct tapir_lock *lock,
                                      int64_t timeout_ms,
                                      const struct tapir_cancel_token *token,
                                      const struct tapir_task **task_out);

/**
 * Takes the lock if it is free and nobody waits: true, and `*guard_out` receives a
 * new guard reference (release it to unlock); false when it is not free (nothing
 * written; tapir_last_status: TAPIR_STATUS_TIMEOUT, as a wait of 0 ms), or on error
 * (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 *
 * # Safety
 * `guard_out` must be writable.
 */
bool tapir_lock_try_acquire(const struct tapir_lock *lock,
                            const struct tapir_lock_guard **guard_out);

/**
 * True while the lock is held; false when free, or on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
bool tapir_lock_is_held(const struct tapir_lock *lock);

/**
 * Adds a reference; returns `lock`, or NULL on error (see tapir_last_status).
 */
const struct tapir_lock *tapir_lock_retain(const struct tapir_lock *lock);

/**
 * Releases a reference to the lock object (not the lock: see tapir_lock_guard).
 * NULL is a no-op. Held guards and pending acquisitions keep working.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_lock_release(const struct tapir_lock *lock);

/**
 * Adds a reference to a guard; returns `guard`, or NULL on error (see
 * tapir_last_status). The lock stays held until every reference is released.
 */
const struct tapir_lock_guard *tapir_lock_guard_retain(const struct tapir_lock_guard *guard);

/**
 * Releases a reference to a guard; the last one releases the lock, which goes to the
 * next waiter (its continuations may run on this thread, bounded in depth, never
 * under a tapir lock). NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE (also for a guard released once too often:
 * the lock is never released twice).
 */
tapir_status tapir_lock_guard_release(const struct tapir_lock_guard *guard);

/**
 * Creates a free reader-writer lock.
 *
 * Ownership: `*rwlock_out` receives a new reference. Guards keep their lock alive.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `rwlock_out` must be writable.
 */
tapir_status tapir_rwlock_new(const struct tapir_rwlock **rwlock_out);

/**
 * Acquires the lock for reading (ReaderLockAsync): `*task_out` succeeds with a guard
 * as its value once granted (at once when no writer holds the lock or waits for it),
 * with value NULL when `timeout_ms` passes first, or ends canceled when `token` (NULL:
 * none) is canceled first. Ownership of the guard as for tapir_lock_acquire_async.
 *
 * Ownership: borrows `rwlock` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_rwlock_read_async(const struct tapir_rwlock *rwlock,
                                     int64_t timeout_ms,
                                     const struct tapir_cancel_token *token,
                                     const struct tapir_task **task_out);

/**
 * Acquires the lock for writing (WriterLockAsync): as tapir_rwlock_read_async, granted
 * when nobody holds the lock and nobody waited before.
 *
 * Ownership: borrows `rwlock` and `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_rwlock_write_async(const struct tapir_rwlock *rwlock,
                                      int64_t timeout_ms,
                                      const struct tapir_cancel_token *token,
                                      const struct tapir_task **task_out);

/**
 * Takes the read lock if it can be granted now: true, and `*guard_out` receives a new
 * guard reference; false otherwise (nothing written; tapir_last_status:
 * TAPIR_STATUS_TIMEOUT), or on error (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 *
 * # Safety
 * `guard_out` must be writable.
 */
bool tapir_rwlock_try_read(const struct tapir_rwlock *rwlock,
                           const struct tapir_lock_guard **guard_out);

/**
 * Takes the write lock if it can be granted now: as tapir_rwlock_try_read.
 *
 * Threading: any thread. Blocking: never.
 *
 * # Safety
 * `guard_out` must be writable.
 */
bool tapir_rwlock_try_write(const struct tapir_rwlock *rwlock,
                            const struct tapir_lock_guard **guard_out);

/**
 * Readers holding the lock now; 0 on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
uint32_t tapir_rwlock_reader_count(const struct tapir_rwlock *rwlock);

/**
 * True while a writer holds the lock; false otherwise, or on error (see
 * tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
bool tapir_rwlock_is_write_held(const struct tapir_rwlock *rwlock);

/**
 * Adds a reference; returns `rwlock`, or NULL on error (see tapir_last_status).
 */
const struct tapir_rwlock *tapir_rwlock_retain(const struct tapir_rwlock *rwlock);

/**
 * Releases a reference to the lock object (not the lock: see tapir_lock_guard). NULL
 * is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_rwlock_release(const struct tapir_rwlock *rwlock);

/**
 * Creates a progress reporter whose reports run `handler(user_data, value)` on
 * `scheduler` (NULL: the default pool; pass a manual scheduler to receive them on a
 * UI or game main thread). On a multi-threaded scheduler, reports may run concurrently
 * and out of order, as with .NET's Progress<T> on the thread pool.
 *
 * Ownership: borrows `scheduler`; on TAPIR_STATUS_OK tapir owns `user_data` (destroyed
 * after the reporter is released and its last queued report ran); `*progress_out`
 * receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`handler`, `progress_out`), TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `progress_out` must be writable.
 */
tapir_status tapir_progress_new(const struct tapir_scheduler *scheduler,
                                tapir_progress_fn handler,
                                void *user_data,
                                tapir_destroy_fn destroy,
                                const struct tapir_progress **progress_out);

/**
 * Reports `value`: posts the handler to the reporter's scheduler and returns at once.
 *
 * Ownership: on TAPIR_STATUS_OK tapir owns `value` and calls `value_destroy(value)`
 * (if non-NULL) once after the handler ran (or if the report is discarded unrun).
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_progress_report(const struct tapir_progress *progress,
                                   void *value,
                                   tapir_destroy_fn value_destroy);

/**
 * Adds a reference; returns `progress`, or NULL if NULL or invalid.
 */
const struct tapir_progress *tapir_progress_retain(const struct tapir_progress *progress);

/**
 * Releases a reference; reports already posted still run. NULL is a no-op.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_progress_release(const struct tapir_progress *progress);

/**
 * Writes the default scheduler: the work-stealing pool, one thread per core, started
 * on first use.
 *
 * Ownership: `*scheduler_out` receives a reference; release it as usual. The scheduler
 * itself is permanent: releasing never frees it, every call writes the same handle,
 * and tapir_debug_live_objects does not count it (so it never shows up as a leak).
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_FULL (too many references held).
 *
 * # Safety
 * `scheduler_out` must be writable.
 */
tapir_status tapir_scheduler_default(const struct tapir_scheduler **scheduler_out);

/**
 * Writes the inline scheduler: work runs on the posting thread before the post
 * returns (nested inline work is bounded in depth and queued past the bound).
 *
 * Ownership, threading, errors: as tapir_scheduler_default.
 *
 * # Safety
 * `scheduler_out` must be writable.
 */
tapir_status tapir_scheduler_inline(const struct tapir_scheduler **scheduler_out);

/**
 * Creates a manual scheduler: work posted to it (from any thread) waits in a queue
 * until the host calls tapir_scheduler_run_pending (e.g. once per frame on its main
 * thread).
 *
 * Ownership: `*scheduler_out` receives a new reference. Releasing the last one closes
 * the scheduler, since nobody can run it any more: queued work and everything posted
 * to it later (continuations registered for it included) is discarded — user data is
 * destroyed, and the task the work would have completed fails with an error of code
 * TAPIR_STATUS_SCHEDULER_ERROR.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `scheduler_out` must be writable.
 */
tapir_status tapir_scheduler_new_manual(const struct tapir_scheduler **scheduler_out);

/**
 * Creates a scheduler that hands work to the host through `vtable->post(ctx, work)`.
 *
 * Ownership: copies `*vtable`; on TAPIR_STATUS_OK tapir owns `ctx` (freed with
 * `vtable->destroy`, if any, after the last reference goes) and `*scheduler_out`
 * receives a new reference. On error nothing is called.
 * Threading: any thread; `post` may be called from any thread.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`vtable`, `vtable->post`, `scheduler_out`),
 * TAPIR_STATUS_INVALID_ARGUMENT (`struct_size` too small to hold `post`).
 *
 * # Safety
 * `vtable` must be valid for `struct_size` bytes.
 */
tapir_status tapir_scheduler_new_foreign(const struct tapir_scheduler_vtable *vtable,
                                         void *ctx,
                                         const struct tapir_scheduler **scheduler_out);

/**
 * Adds a reference; returns `scheduler`, or NULL if NULL or invalid.
 *
 * Threading: any thread. Blocking: never.
 */
const struct tapir_scheduler *tapir_scheduler_retain(const struct tapir_scheduler *scheduler);

/**
 * Releases a reference (see tapir_scheduler_new_manual and _new_foreign for what the
 * last one does). NULL is a no-op.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_scheduler_release(const struct tapir_scheduler *scheduler);

/**
 * Queues `fn(user_data)` on `scheduler`.
 *
 * Ownership: on TAPIR_STATUS_OK tapir owns `user_data`: `destroy(user_data)` (if
 * non-NULL) runs once after `fn` returns, or if the work is discarded unrun.
 * Threading: any thread. Blocking: never (the inline scheduler runs `fn` before returning).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`scheduler`, `fn`), TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_scheduler_post(const struct tapir_scheduler *scheduler,
                                  tapir_work_fn fn,
                                  void *user_data,
                                  tapir_destroy_fn destroy);

/**
 * Runs work queued on a manual scheduler, on the calling thread, until the queue is
 * empty, `max_items` items ran (0: no limit) or `max_ms` milliseconds passed (-1: no
 * limit; checked between items). Writes how many ran to `*ran_out`. While it runs,
 * tapir_scheduler_current() returns this scheduler, and continuations registered
 * with EXECUTE_SYNCHRONOUSLY for it may run inline.
 *
 * Threading: any thread; normally one "main" thread. Blocking: runs user callbacks.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (not a manual scheduler, or a bad `max_ms`).
 *
 * # Safety
 * `ran_out` must be writable.
 */
tapir_status tapir_scheduler_run_pending(const struct tapir_scheduler *scheduler,
                                         size_t max_items,
                                         int64_t max_ms,
                                         size_t *ran_out);

/**
 * The scheduler running the current callback (a pool thread, a manual scheduler's
 * run_pending, a foreign scheduler's tapir_work_run); NULL when called from a thread
 * that is not running tapir work (inline callbacks report the scheduler of the code
 * that triggered them, if any). This is what a wrapper captures to resume an `await`
 * where it started (TaskScheduler.Current).
 *
 * Ownership: the result is a new reference, like every handle tapir returns: release
 * it with tapir_scheduler_release when done (NULL needs no release).
 * Threading: any thread. Blocking: never.
 */
const struct tapir_scheduler *tapir_scheduler_current(void);

/**
 * Runs a work item a foreign scheduler received in `post`, and consumes it.
 *
 * Threading: any thread (the host's choice). Blocking: runs user callbacks.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `work` must come from a `post` call and not have been run or discarded (it is
 * uniquely owned: using it twice is undefined behaviour, like a double free).
 */
tapir_status tapir_work_run(struct tapir_work *work);

/**
 * Discards a work item without running it, and consumes it: its user data is
 * destroyed and the task it would have completed fails with an error of code
 * TAPIR_STATUS_SCHEDULER_ERROR (its continuations still run).
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * As tapir_work_run.
 */
tapir_status tapir_work_discard(struct tapir_work *work);

/**
 * Stops and joins every thread tapir started (the timer thread, then the pool's
 * workers), so a host can unload the library or end cleanly: when it returns, no tapir
 * thread is alive, and none starts until a later call needs one (tapir stays usable).
 * Work already queued on the pool runs before the workers exit; work posted to the
 * pool after shutdown began is refused — its destroy runs and the task it would have
 * completed fails with TAPIR_STATUS_SCHEDULER_ERROR — so work that keeps reposting
 * itself cannot keep shutdown from returning. Pending delays and timeouts are not
 * faulted: they stay pending and fire once a later call has started the timer again.
 * Manual and foreign schedulers belong to the host and are not affected.
 *
 * Unloading: tapir keeps no per-thread state that outlives a call on the host's
 * threads (nothing that would keep the library mapped), so after tapir_shutdown and the
 * release of every object (tapir_debug_live_objects(0) == 0) a host may dlclose the
 * library; it is then unmapped and the memory it allocated is returned. No thread may
 * be inside a tapir call, or call one, from then on.
 *
 * Threading: any thread except a tapir pool or timer thread. Blocking: yes, until the
 * threads have exited (queued work runs first).
 * Errors: TAPIR_STATUS_INVALID_STATE (called from a tapir thread: nothing was done).
 */
tapir_status tapir_shutdown(void);

/**
 * Creates a semaphore with `initial` permits and at most `max` (SemaphoreSlim(initial,
 * max)).
 *
 * Ownership: `*semaphore_out` receives a new reference. When the last reference is
 * released, waits still pending fail with an error of code TAPIR_STATUS_DISPOSED
 * (nobody could signal them any more).
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`semaphore_out`), TAPIR_STATUS_INVALID_ARGUMENT
 * (`max` is 0 or `initial` > `max`).
 *
 * # Safety
 * `semaphore_out` must be writable.
 */
tapir_status tapir_semaphore_new(uint32_t initial,
                                 uint32_t max,
                                 const struct tapir_semaphore **semaphore_out);

/**
 * Waits for `count` permits (WaitAsync): `*task_out` succeeds with value 1 once they
 * are taken, with value 0 when `timeout_ms` passes first (-1: never; 0: only what is
 * available now), or ends canceled when `token` (NULL: none) is canceled first — or
 * already is. Waiters are served in arrival order: a wait succeeds at once only when
 * nobody waits before it. A waiter that times out or is canceled leaves the queue and
 * never consumes a permit. Its continuations never run while tapir holds a lock; a
 * canceled waiter's never run inside the canceling call.
 *
 * Ownership: borrows `semaphore` and `token`; `*task_out` receives a new reference.
 * Releasing the task does not withdraw the wait (a granted permit is the caller's to
 * give back with tapir_semaphore_signal).
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`semaphore`, `task_out`),
 * TAPIR_STATUS_INVALID_HANDLE (`semaphore` or `token`), TAPIR_STATUS_INVALID_ARGUMENT
 * (`count` 0 or above the maximum, bad timeout).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_semaphore_wait_async(const struct tapir_semaphore *semaphore,
                                        uint32_t count,
                                        int64_t timeout_ms,
                                        const struct tapir_cancel_token *token,
                                        const struct tapir_task **task_out);

/**
 * Takes `count` permits if they are available now and nobody waits (Wait(0)).
 * Returns true when taken; false when not (nothing changed; tapir_last_status:
 * TAPIR_STATUS_TIMEOUT, as a wait of 0 ms), or on error (TAPIR_STATUS_NULL_ARGUMENT,
 * TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_INVALID_ARGUMENT for `count` 0 or above
 * the maximum).
 *
 * Threading: any thread. Blocking: never.
 */
bool tapir_semaphore_try_wait(const struct tapir_semaphore *semaphore, uint32_t count);

/**
 * Gives back `count` permits (SemaphoreSlim.Release(count)) and grants them to the
 * waiters, oldest first. Their continuations run after tapir released its lock:
 * synchronous ones may run on this thread, bounded in depth (past the bound they are
 * deferred to the outermost frame), so a chain of waiters that each signal the next
 * never grows the stack. `*previous_out` (if non-NULL) receives the count before.
 *
 * Ownership: borrows `semaphore`.
 * Threading: any thread. Blocking: never (continuations may run inline, see above).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`count` 0), TAPIR_STATUS_FULL (the count would pass
 * the maximum: nothing changed).
 *
 * # Safety
 * `previous_out` must be NULL or writable.
 */
tapir_status tapir_semaphore_signal(const struct tapir_semaphore *semaphore,
                                    uint32_t count,
                                    uint32_t *previous_out);

/**
 * The permits available now (CurrentCount); 0 on error (see tapir_last_status).
 *
 * Threading: any thread (a snapshot). Blocking: never.
 */
uint32_t tapir_semaphore_current_count(const struct tapir_semaphore *semaphore);

/**
 * Adds a reference; returns `semaphore`, or NULL if NULL, invalid or full (see
 * tapir_last_status).
 */
const struct tapir_semaphore *tapir_semaphore_retain(const struct tapir_semaphore *semaphore);

/**
 * Releases a reference. NULL is a no-op. The last one fails pending waits with an
 * error of code TAPIR_STATUS_DISPOSED.
 *
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_semaphore_release(const struct tapir_semaphore *semaphore);

/**
 * Creates a completion source and its pending task.
 *
 * `flags`: 0 or TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY. `state` is an opaque
 * user value the task reports back (`tapir_task_state`, Task.AsyncState); it is not
 * owned or freed by tapir.
 * Ownership: `*source_out` receives a new reference. Releasing the last source
 * reference of a pending task fails the task with TAPIR_STATUS_BROKEN_PROMISE.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`source_out`), TAPIR_STATUS_INVALID_ARGUMENT
 * (unknown flag bits).
 *
 * # Safety
 * `source_out` must be writable.
 */
tapir_status tapir_source_new(uint32_t flags, void *state, const struct tapir_source **source_out);

/**
 * Creates a completion source and its pending task in one call: what
 * tapir_source_new followed by tapir_source_task gives, for a binding that wants both
 * (each call across a managed boundary has a fixed cost).
 *
 * `flags` and `state`: as tapir_source_new.
 * Ownership: `*source_out` and `*task_out` each receive a new reference, released
 * with tapir_source_release and tapir_task_release. Releasing the last source
 * reference of a pending task fails the task with TAPIR_STATUS_BROKEN_PROMISE.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`source_out` or `task_out`),
 * TAPIR_STATUS_INVALID_ARGUMENT (unknown flag bits). On an error nothing is created
 * and neither out-parameter is written.
 *
 * # Safety
 * `source_out` and `task_out` must be writable.
 */
tapir_status tapir_source_new_with_task(uint32_t flags,
                                        void *state,
                                        const struct tapir_source **source_out,
                                        const struct tapir_task **task_out);

/**
 * Adds a reference to a source; returns `source`, or NULL if NULL or invalid.
 *
 * Threading: any thread. Blocking: never.
 */
const struct tapir_source *tapir_source_retain(const struct tapir_source *source);

/**
 * Releases a source reference. The last one, if the task is still pending, fails it
 * with an error of code TAPIR_STATUS_BROKEN_PROMISE (its continuations run). NULL is
 * a no-op.
 *
 * Threading: any thread. Blocking: never (may run continuations and destroy callbacks).
 * Errors: TAPIR_STATUS_INVALID_HANDLE (released already, or not a source).
 */
tapir_status tapir_source_release(const struct tapir_source *source);

/**
 * Releases a source reference and a task reference in one call: what
 * tapir_source_release(source) followed by tapir_task_release(task) does, for a binding
 * that holds both (each call across a managed boundary has a fixed cost). Either may be
 * NULL (a no-op for that one); they need not be a source and its own task.
 *
 * Ownership: consumes one reference of each non-NULL argument.
 * Threading: any thread. Blocking: never (may run continuations and destroy callbacks,
 * as the two releases do: the source's first).
 * Errors: TAPIR_STATUS_INVALID_HANDLE when either is released already or of the wrong
 * kind; the other one is still released.
 */
tapir_status tapir_source_release_with_task(const struct tapir_source *source,
                                            const struct tapir_task *task);

/**
 * Writes the source's task to `*task_out` (the same task every time).
 *
 * Ownership: `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_source_task(const struct tapir_source *source,
                               const struct tapir_task **task_out);

/**
 * Completes the task successfully with `value` (SetResult).
 *
 * Ownership: on TAPIR_STATUS_OK the task owns `value` and calls `value_destroy(value)`
 * (if non-NULL) exactly once when its last reference goes. On any error the value
 * stays with the caller and `value_destroy` is never called.
 * Threading: any thread. Blocking: never; runs synchronous continuations inline
 * before returning (unless the source was created with
 * TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_ALREADY_COMPLETED (nothing changed).
 */
tapir_status tapir_source_set_result(const struct tapir_source *source,
                                     void *value,
                                     tapir_destroy_fn value_destroy);

/**
 * As tapir_source_set_result, returning true if this call completed the task and false
 * otherwise (already completed, or an invalid argument: see tapir_last_status).
 */
bool tapir_source_try_set_result(const struct tapir_source *source,
                                 void *value,
                                 tapir_destroy_fn value_destroy);

/**
 * Fails the task with one error (SetException).
 *
 * Ownership: borrows `error`; the task takes its own reference.
 * Threading, blocking: as tapir_source_set_result.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`source` or `error` NULL),
 * TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_ALREADY_COMPLETED.
 */
tapir_status tapir_source_set_error(const struct tapir_source *source,
                                    const struct tapir_error *error);

/**
 * As tapir_source_set_error, returning whether this call completed the task.
 */
bool tapir_source_try_set_error(const struct tapir_source *source, const struct tapir_error *error);

/**
 * Fails the task with the errors `errors[0..count]`, kept in that order.
 *
 * Ownership: borrows the errors; the task takes its own references.
 * Threading, blocking: as tapir_source_set_result.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`source` or `errors` NULL),
 * TAPIR_STATUS_INVALID_ARGUMENT (`count` 0 or a NULL element),
 * TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_ALREADY_COMPLETED. The task is unchanged
 * on every error.
 *
 * # Safety
 * `errors` must point to `count` readable pointers.
 */
tapir_status tapir_source_set_error_list(const struct tapir_source *source,
                                         const struct tapir_error *const *errors,
                                         size_t count);

/**
 * As tapir_source_set_error_list, returning whether this call completed the task.
 *
 * # Safety
 * As tapir_source_set_error_list.
 */
bool tapir_source_try_set_error_list(const struct tapir_source *source,
                                     const struct tapir_error *const *errors,
                                     size_t count);

/**
 * Cancels the task (SetCanceled), recording `token` (NULL: no token) as the cause.
 *
 * Ownership: borrows `token`; the task takes its own reference.
 * Threading, blocking: as tapir_source_set_result.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`source`), TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_ALREADY_COMPLETED.
 */
tapir_status tapir_source_set_canceled(const struct tapir_source *source,
                                       const struct tapir_cancel_token *token);

/**
 * As tapir_source_set_canceled, returning whether this call completed the task.
 */
bool tapir_source_try_set_canceled(const struct tapir_source *source,
                                   const struct tapir_cancel_token *token);

/**
 * Completes `source`'s task the way `task` completes, now or later (unwrap): the value
 * (shared, not copied: it stays owned by `task`), the errors, or the cancellation.
 * This is how a continuation "returns a task": retain `next`, then pass it here.
 *
 * Ownership: borrows both; tapir keeps what it needs until `task` completes.
 * Threading: any thread. Blocking: never. Chains of any length complete without
 * growing the stack.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_ALREADY_COMPLETED (`source` had completed; nothing registered).
 */
tapir_status tapir_source_set_from_task(const struct tapir_source *source,
                                        const struct tapir_task *task);

/**
 * Returns a static, NUL-terminated English description of a status code.
 *
 * Ownership: the string is static; never free it.
 * Threading: any thread. Blocking: never.
 * Errors: none; an unknown code yields "unknown status". Takes an `int32_t` (not the
 * enum) so any value from C or C# is safe to pass.
 */
const char *tapir_status_str(int32_t status);

/**
 * Creates a task that has already succeeded with `value` (Task.FromResult).
 *
 * Ownership: on TAPIR_STATUS_OK the task owns `value` (destroyed with
 * `value_destroy`, if non-NULL, when its last reference goes); `*task_out` receives a
 * new reference. On error nothing is called.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`task_out`).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_task_from_result(void *value,
                                    tapir_destroy_fn value_destroy,
                                    const struct tapir_task **task_out);

/**
 * Creates a task that has already faulted with `error` (Task.FromException).
 *
 * Ownership: borrows `error` (the task takes a reference); `*task_out` gets a new one.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`error` or `task_out`), TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_task_from_error(const struct tapir_error *error,
                                   const struct tapir_task **task_out);

/**
 * Creates a task that has already been canceled (Task.FromCanceled). `token` (NULL:
 * none) is recorded as the cause and must already be canceled.
 *
 * Ownership: borrows `token`; `*task_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`task_out`), TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (`token` is not canceled).
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_task_from_canceled(const struct tapir_cancel_token *token,
                                      const struct tapir_task **task_out);

/**
 * Writes the shared, already-succeeded task (Task.CompletedTask; result NULL).
 *
 * Ownership: `*task_out` receives a reference to release as usual; getting it again
 * creates no new object.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT.
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_task_completed(const struct tapir_task **task_out);

/**
 * Adds a reference; returns `task`, or NULL if NULL or invalid (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 */
const struct tapir_task *tapir_task_retain(const struct tapir_task *task);

/**
 * Releases a reference. The last one destroys the value, releases the errors, and,
 * for a faulted task whose error was never read, calls the unobserved-error hook.
 * NULL is a no-op.
 *
 * Threading: any thread. Blocking: never (may run destroy callbacks and the hook).
 * Errors: TAPIR_STATUS_INVALID_HANDLE (released already, or not a task).
 */
tapir_status tapir_task_release(const struct tapir_task *task);

/**
 * The task's state; TAPIR_TASK_STATUS_INVALID_HANDLE for a NULL or invalid handle.
 *
 * Threading: any thread. Blocking: never.
 */
tapir_task_status tapir_task_get_status(const struct tapir_task *task);

/**
 * True once the task has completed (any outcome); false while pending or for an
 * invalid handle (see tapir_last_status).
 *
 * Threading: any thread. Blocking: never.
 */
bool tapir_task_is_completed(const struct tapir_task *task);

/**
 * A number unique to this task among live tasks (never 0); 0 for an invalid handle.
 * The task's source reports the same id.
 *
 * Threading: any thread. Blocking: never.
 */
uint64_t tapir_task_id(const struct tapir_task *task);

/**
 * The `state` given when the task was created (Task.AsyncState); for continuation
 * tasks, the continuation's `user_data`. NULL when none, or for an invalid handle.
 *
 * Ownership: not owned by tapir. Threading: any thread. Blocking: never.
 */
void *tapir_task_state(const struct tapir_task *task);

/**
 * The creation flags (TAPIR_SOURCE_*); 0 for an invalid handle.
 *
 * Threading: any thread. Blocking: never.
 */
uint32_t tapir_task_options(const struct tapir_task *task);

/**
 * Reads the result without blocking.
 *
 * Returns TAPIR_STATUS_OK and writes the value (borrowed: the task keeps owning it)
 * if the task succeeded; TAPIR_STATUS_NOT_COMPLETED if pending; TAPIR_STATUS_FAULTED
 * (the error counts as observed) or TAPIR_STATUS_CANCELED otherwise.
 * Threading: any thread. Blocking: never.
 * Errors: also TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `value_out` must be writable.
 */
tapir_status tapir_task_result(const struct tapir_task *task, void **value_out);

/**
 * Writes the first error of a faulted task (what `await` rethrows) and marks the
 * task's errors observed.
 *
 * Ownership: `*error_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_NOT_COMPLETED (pending), TAPIR_STATUS_INVALID_STATE (succeeded or
 * canceled: no error).
 *
 * # Safety
 * `error_out` must be writable.
 */
tapir_status tapir_task_error(const struct tapir_task *task, const struct tapir_error **error_out);

/**
 * The number of errors of a faulted task (its aggregate); 0 otherwise or for an
 * invalid handle. Marks the errors observed.
 *
 * Threading: any thread. Blocking: never.
 */
size_t tapir_task_error_count(const struct tapir_task *task);

/**
 * Writes error `index` of a faulted task's aggregate (input order for when_all, list
 * order for tapir_source_set_error_list) and marks the errors observed.
 *
 * Ownership: `*error_out` receives a new reference.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_NOT_COMPLETED, TAPIR_STATUS_INVALID_STATE (not faulted),
 * TAPIR_STATUS_INVALID_ARGUMENT (`index` out of range).
 *
 * # Safety
 * `error_out` must be writable.
 */
tapir_status tapir_task_error_at(const struct tapir_task *task,
                                 size_t index,
                                 const struct tapir_error **error_out);

/**
 * Writes the token that canceled the task, or NULL if it was canceled without one.
 *
 * Ownership: `*token_out` receives a new reference (or NULL).
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_NOT_COMPLETED, TAPIR_STATUS_INVALID_STATE (not canceled).
 *
 * # Safety
 * `token_out` must be writable.
 */
tapir_status tapir_task_cancel_token(const struct tapir_task *task,
                                     const struct tapir_cancel_token **token_out);

/**
 * Blocks until the task completes or `timeout_ms` passes (0 polls, -1 forever).
 *
 * Returns TAPIR_STATUS_OK (succeeded), TAPIR_STATUS_FAULTED (the error counts as
 * observed), TAPIR_STATUS_CANCELED, or TAPIR_STATUS_TIMEOUT (the task is unaffected).
 * The waiter is woken before the task's continuations run and never waits for them.
 * Threading: any thread. Blocking: yes — never call it from a callback running on a
 * single-threaded scheduler that the awaited task needs.
 * Errors: also TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (timeout < -1 or > 4294967294).
 */
tapir_status tapir_task_wait(const struct tapir_task *task, int64_t timeout_ms);

/**
 * Blocks until every task completes, `timeout_ms` passes, or `token` (NULL: none) is
 * canceled (Task.WaitAll).
 *
 * Returns TAPIR_STATUS_OK if all succeeded, TAPIR_STATUS_FAULTED if any faulted (their
 * errors count as observed; inspect each task), else TAPIR_STATUS_CANCELED if any was
 * canceled; TAPIR_STATUS_TIMEOUT; TAPIR_STATUS_CANCELED also when `token` is canceled,
 * checked first (even if every task had completed).
 * Threading: any thread. Blocking: yes.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`tasks` NULL with `count` > 0),
 * TAPIR_STATUS_INVALID_ARGUMENT (a NULL element, bad timeout),
 * TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `tasks` must point to `count` readable pointers.
 */
tapir_status tapir_task_wait_all(const struct tapir_task *const *tasks,
                                 size_t count,
                                 int64_t timeout_ms,
                                 const struct tapir_cancel_token *token);

/**
 * Blocks until one of the tasks completes (Task.WaitAny) and writes its index: among
 * tasks already completed, the first in input order; otherwise the first to complete.
 *
 * Returns TAPIR_STATUS_OK; TAPIR_STATUS_TIMEOUT when the time runs out or `count` is 0
 * (nothing written); TAPIR_STATUS_CANCELED when `token` (NULL: none) is canceled.
 * Threading: any thread. Blocking: yes.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`index_out`, or `tasks` NULL with `count` > 0),
 * TAPIR_STATUS_INVALID_ARGUMENT (a NULL element, bad timeout),
 * TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `tasks` must point to `count` readable pointers; `index_out` must be writable.
 */
tapir_status tapir_task_wait_any(const struct tapir_task *const *tasks,
                                 size_t count,
                                 int64_t timeout_ms,
                                 const struct tapir_cancel_token *token,
                                 size_t *index_out);

/**
 * Registers `callback(user_data, task)` to run once `task` completes (any outcome;
 * filter with TAPIR_CONTINUATION_ONLY_ON_* / NOT_ON_*). No continuation task is made:
 * the cheapest form, and what an `await` needs.
 *
 * If `task` has already completed, the callback runs now (inline with
 * TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, else dispatched) and `*registration_out`
 * receives NULL. Otherwise `*registration_out` (if `registration_out` is non-NULL)
 * receives a registration that tapir_registration_remove can use to remove the callback.
 * Ownership: borrows `task` and the options' scheduler/token. On TAPIR_STATUS_OK tapir
 * owns `user_data` (see the callback contract); the registration is a new reference.
 * Threading: any thread. The callback runs on `options->scheduler` (NULL: the default
 * pool), or inline on the completing thread with EXECUTE_SYNCHRONOUSLY.
 * With TAPIR_CONTINUATION_CALLBACK_FREES, a callback that runs frees `user_data`
 * itself and `destroy` runs only if the callback never does.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`task`, `callback`), TAPIR_STATUS_INVALID_HANDLE,
 * TAPIR_STATUS_INVALID_ARGUMENT (bad options: unknown or contradictory flags,
 * struct_size too small).
 *
 * # Safety
 * `options` must be NULL or valid for `struct_size` bytes; `registration_out` NULL or
 * writable.
 */
tapir_status tapir_task_on_complete(const struct tapir_task *task,
                                    tapir_callback_fn callback,
                                    void *user_data,
                                    tapir_destroy_fn destroy,
                                    const struct tapir_continuation_options *options,
                                    const struct tapir_registration **registration_out);

/**
 * Registers a continuation (ContinueWith): when `task` completes, `callback(user_data,
 * task, next)` runs and the continuation task (`*task_out`) completes through `next`.
 *
 * The callback completes `next` before returning (tapir_source_set_result /
 * _set_error / _set_canceled), or retains it and completes it later (an asynchronous
 * continuation), or passes it to tapir_source_set_from_task (returning a task:
 * unwrap). Left pending and unretained, the continuation task fails with
 * TAPIR_STATUS_BROKEN_PROMISE. When a ONLY_ON_* / NOT_ON_* filter refuses the
 * antecedent's outcome, or the options' token is canceled first, the callback never
 * runs and the continuation task ends canceled. The continuation task's state
 * (tapir_task_state) is `user_data`. To pass a fault on, complete `next` from the
 * antecedent: `tapir_source_set_from_task(next, antecedent)` forwards its whole
 * outcome (value, errors or cancellation), and `tapir_source_set_error_list` with its
 * errors (tapir_task_error_count / tapir_task_error_at) forwards the errors alone.
 * Ownership: borrows `task`; on TAPIR_STATUS_OK tapir owns `user_data` (callback
 * contract) and `*task_out` receives a new reference. The antecedent is kept alive for
 * the call: `antecedent` and `next` are lent to the callback, valid until it returns
 * even if every other handle to them was released meanwhile (retain them to keep them
 * longer). Until `task` completes the registration does not keep it alive: if its last
 * handle goes while nothing can complete it any more, the continuation is discarded
 * (destroy runs, the callback never does) and the continuation task stays pending.
 * Threading: any thread; the callback runs as for tapir_task_on_complete.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT (`task`, `callback`, `task_out`),
 * TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_INVALID_ARGUMENT (bad options, or
 * TAPIR_CONTINUATION_CALLBACK_FREES).
 *
 * # Safety
 * `options` must be NULL or valid for `struct_size` bytes; `task_out` writable.
 */
tapir_status tapir_task_continue_with(const struct tapir_task *task,
                                      tapir_continuation_fn callback,
                                      void *user_data,
                                      tapir_destroy_fn destroy,
                                      const struct tapir_continuation_options *options,
                                      const struct tapir_task **task_out);

/**
 * Creates a proxy for a task whose result is another task (Task.Unwrap): the outer's
 * value must be a `const tapir_task *`. The proxy completes as the inner task does;
 * it fails or is canceled as the outer does if the outer does not succeed; it ends
 * canceled if the outer's value is NULL (or not a live task).
 *
 * Ownership: borrows `outer`; `*task_out` receives a new reference. The inner task is
 * referenced by tapir (not consumed) until it completes.
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 *
 * # Safety
 * `task_out` must be writable.
 */
tapir_status tapir_task_unwrap(const struct tapir_task *outer, const struct tapir_task **task_out);

/**
 * Removes a callback registered with tapir_task_on_complete.
 *
 * Returns TAPIR_STATUS_OK if it was removed: the callback will never run, and its
 * destroy has run before this returns. Returns TAPIR_STATUS_ALREADY_COMPLETED if the
 * callback already ran, is running or has been dispatched, or was removed before.
 * The registration handle stays valid until released.
 * Threading: any thread. Blocking: never (does not wait for a running callback).
 * Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_registration_remove(const struct tapir_registration *registration);

/**
 * Adds a reference; returns `registration`, or NULL if NULL or invalid.
 *
 * Threading: any thread. Blocking: never.
 */
const struct tapir_registration *tapir_registration_retain(const struct tapir_registration *registration);

/**
 * Releases a registration handle. This does NOT remove the callback. NULL is a no-op.
 *
 * Threading: any thread. Blocking: never.
 * Errors: TAPIR_STATUS_INVALID_HANDLE.
 */
tapir_status tapir_registration_release(const struct tapir_registration *registration);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* TAPIR_H */
