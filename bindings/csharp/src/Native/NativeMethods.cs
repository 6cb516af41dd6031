using System;
using System.Runtime.InteropServices;
using Tapir.Handles;

namespace Tapir.Native
{
    /// <summary>tapir_continuation_options, as the header lays it out.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ContinuationOptions
    {
        internal uint struct_size;
        internal uint flags;
        internal IntPtr scheduler;
        internal IntPtr token;

        internal static readonly uint Size = (uint)Marshal.SizeOf(typeof(ContinuationOptions));

        internal static ContinuationOptions With(uint flags, IntPtr scheduler, IntPtr token) =>
            new ContinuationOptions { struct_size = Size, flags = flags, scheduler = scheduler, token = token };
    }

    /// <summary>tapir_scheduler_vtable, as the header lays it out.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SchedulerVTable
    {
        internal uint struct_size;
        internal IntPtr post;
        internal IntPtr destroy;

        internal static readonly uint Size = (uint)Marshal.SizeOf(typeof(SchedulerVTable));
    }

    /// <summary>tapir_config, as the header lays it out (tapir_config_init fills the defaults).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Config
    {
        internal uint struct_size;
        internal int threads;
        internal IntPtr thread_name_prefix;
        internal UIntPtr stack_size;
        internal IntPtr on_thread_start;
        internal IntPtr on_thread_stop;
        internal IntPtr hook_ctx;
        internal int timer_driver;
        internal IntPtr timer_scheduler;
        internal IntPtr pool_scheduler;

        internal static readonly uint Size = (uint)Marshal.SizeOf(typeof(Config));
    }

    /// <summary>
    /// Every C function of include/tapir.h that the wrapper calls, under its C name.
    /// Signatures are blittable: handles the wrapper owns travel as SafeHandle subclasses (the
    /// marshaller holds a reference for the duration of the call, so a concurrent Dispose
    /// cannot release the handle mid-call, and a disposed one throws ObjectDisposedException);
    /// handles lent to a callback travel as IntPtr, and so do the handles of the await hot path
    /// (the caller checks for Dispose first; a Dispose racing the call makes tapir refuse the
    /// handle as stale, since every handle carries a generation); results come back as IntPtr and are
    /// wrapped at once; C bools are marshalled as one byte; callbacks are function pointers
    /// taken once from static delegates (see <see cref="Callbacks"/>).
    /// </summary>
    internal static class NativeMethods
    {
#if (UNITY_IOS || UNITY_WEBGL) && !UNITY_EDITOR
        internal const string Lib = "__Internal";
#else
        internal const string Lib = "tapir";
#endif
        private const CallingConvention Cc = CallingConvention.Cdecl;

        // ---- status, version, diagnostics ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_status_str(int status);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_version();
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_last_status();
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_debug_live_objects(int kind);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_debug_task_continuations(IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_debug_pending_timers();
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_debug_cancel_registrations(CancelTokenHandle token);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_debug_panic(SourceHandle source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_set_unobserved_error_hook(IntPtr hook, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_shutdown();

        // ---- errors (handled as borrowed IntPtr by the converters in Errors) ----

        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_error_new(int code, byte[] message, UIntPtr messageLen, IntPtr payload, IntPtr payloadDestroy, out IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_error_new_aggregate(int code, byte[] message, UIntPtr messageLen, IntPtr[] inner, UIntPtr innerCount, out IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_error_retain(IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_error_release(IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_error_code(IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_error_message(IntPtr error, out UIntPtr length);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_error_payload(IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_error_inner_count(IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_error_inner(IntPtr error, UIntPtr index, out IntPtr inner);

        // ---- completion sources ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_new(uint flags, IntPtr state, out IntPtr source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_new_with_task(uint flags, IntPtr state, out IntPtr source, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_source_retain(IntPtr source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_release(IntPtr source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_release_with_task(IntPtr source, IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_task(IntPtr source, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_result(IntPtr source, IntPtr value, IntPtr valueDestroy);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_result(SourceHandle source, IntPtr value, IntPtr valueDestroy);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_source_try_set_result(IntPtr source, IntPtr value, IntPtr valueDestroy);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_error(IntPtr source, ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_source_try_set_error(IntPtr source, ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_source_try_set_error(SourceHandle source, ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_source_try_set_error_list(IntPtr source, IntPtr[] errors, UIntPtr count);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_source_try_set_error_list(SourceHandle source, IntPtr[] errors, UIntPtr count);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_canceled(IntPtr source, CancelTokenHandle token);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_source_try_set_canceled(IntPtr source, CancelTokenHandle token);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_source_try_set_canceled(SourceHandle source, CancelTokenHandle token);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_from_task(IntPtr source, TaskHandle task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_from_task(IntPtr source, IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_from_task(SourceHandle source, TaskHandle task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_source_set_from_task(SourceHandle source, IntPtr task);

        // ---- tasks ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_from_result(IntPtr value, IntPtr valueDestroy, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_from_error(ErrorHandle error, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_from_canceled(CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_completed(out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_task_retain(IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_task_retain(TaskHandle task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_release(IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_get_status(IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern ulong tapir_task_id(TaskHandle task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern ulong tapir_task_id(IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_result(IntPtr task, out IntPtr value);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_error(TaskHandle task, out IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_task_error_count(IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_error_at(IntPtr task, UIntPtr index, out IntPtr error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_task_wait(TaskHandle task, long timeoutMs);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_task_on_complete(IntPtr task, IntPtr callback, IntPtr userData, IntPtr destroy, ref ContinuationOptions options, IntPtr registrationOut);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_task_on_complete(TaskHandle task, IntPtr callback, IntPtr userData, IntPtr destroy, ref ContinuationOptions options, out IntPtr registration);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_task_continue_with(TaskHandle task, IntPtr callback, IntPtr userData, IntPtr destroy, ref ContinuationOptions options, out IntPtr continuation);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_registration_remove(RegistrationHandle registration);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_registration_release(IntPtr registration);

        // ---- time and combinators ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_delay(long delayMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_task_wait_async(TaskHandle task, long timeoutMs, CancelTokenHandle token, out IntPtr result);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_run(SchedulerHandle scheduler, IntPtr work, IntPtr userData, IntPtr destroy, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_yield(out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_when_all(IntPtr[] tasks, UIntPtr count, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_when_all_or_first_error(IntPtr[] tasks, UIntPtr count, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_when_any(IntPtr[] tasks, UIntPtr count, CancelSourceHandle cancelOnComplete, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_interleaved(IntPtr[] tasks, UIntPtr count, [Out] IntPtr[] outputs);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_retry_on_fault(IntPtr factory, IntPtr gate, IntPtr userData, IntPtr destroy, uint maxTries, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_need_only_one(IntPtr factory, IntPtr userData, IntPtr destroy, uint count, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_for_each_throttled(IntPtr factory, IntPtr userData, IntPtr destroy, uint count, uint maxInFlight, out IntPtr task);

        // ---- cancellation ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_source_new(out IntPtr source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_source_new_linked(IntPtr[] tokens, UIntPtr count, out IntPtr source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_source_release(IntPtr source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_source_token(CancelSourceHandle source, out IntPtr token);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_source_cancel(CancelSourceHandle source, uint flags, out IntPtr errors);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_source_cancel_after(CancelSourceHandle source, long delayMs);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_cancel_source_is_canceled(CancelSourceHandle source);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_token_none(out IntPtr token);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_token_new_canceled(out IntPtr token);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_cancel_token_retain(IntPtr token);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_token_release(IntPtr token);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_cancel_token_is_canceled(CancelTokenHandle token);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static extern bool tapir_cancel_token_can_be_canceled(CancelTokenHandle token);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_cancel_token_register(CancelTokenHandle token, IntPtr callback, IntPtr userData, IntPtr destroy, uint flags, out IntPtr registration);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_registration_unregister(CancelRegistrationHandle registration);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_registration_unregister_wait(CancelRegistrationHandle registration);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cancel_registration_release(IntPtr registration);

        // ---- schedulers ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_scheduler_default(out IntPtr scheduler);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_scheduler_inline(out IntPtr scheduler);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_scheduler_new_manual(out IntPtr scheduler);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_scheduler_new_foreign(ref SchedulerVTable vtable, IntPtr ctx, out IntPtr scheduler);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_scheduler_release(IntPtr scheduler);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_scheduler_post(SchedulerHandle scheduler, IntPtr fn, IntPtr userData, IntPtr destroy);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_scheduler_run_pending(SchedulerHandle scheduler, UIntPtr maxItems, long maxMs, out UIntPtr ran);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_scheduler_current();
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_work_run(IntPtr work);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_work_discard(IntPtr work);

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_scheduler_new_test(ulong seed, out IntPtr scheduler);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_scheduler_run_until_idle(SchedulerHandle scheduler, UIntPtr maxItems, out UIntPtr ran);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_scheduler_wake_fd(SchedulerHandle scheduler, out int fd);

        // ---- host fit: configuration, host-driven time, clocks ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_config_init(ref Config config);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_configure(ref Config config);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_time_advance(ulong nowMs);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_timers_run_due(out UIntPtr ran);
        [DllImport(Lib, CallingConvention = Cc)]
        [return: MarshalAs(UnmanagedType.I1)]
        internal static extern bool tapir_timers_next_due(out ulong dueMs);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_clock_new_frames(out IntPtr clock);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_clock_new_scaled(double scale, out IntPtr clock);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_clock_release(IntPtr clock);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_clock_advance(ClockHandle clock, double delta, out UIntPtr ran);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_clock_now(ClockHandle clock, out double now);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_clock_set_scale(ClockHandle clock, double scale);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_clock_set_paused(ClockHandle clock, uint paused);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_delay_on(ClockHandle clock, double amount, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_task_wait_async_on(TaskHandle task, ClockHandle clock, double timeout, CancelTokenHandle token, out IntPtr result);
        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_cancel_source_cancel_after_on(CancelSourceHandle source, ClockHandle clock, double delay);

        // ---- progress ----

        [DllImport(Lib, CallingConvention = Cc)]
        internal static extern int tapir_progress_new(SchedulerHandle scheduler, IntPtr handler, IntPtr userData, IntPtr destroy, out IntPtr progress);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_progress_report(ProgressHandle progress, IntPtr value, IntPtr valueDestroy);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_progress_release(IntPtr progress);
        // ---- coordination primitives (every handle the wrapper owns travels as a PrimitiveHandle) ----

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_semaphore_new(uint initial, uint max, out IntPtr semaphore);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_semaphore_wait_async(PrimitiveHandle semaphore, uint count, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_semaphore_try_wait(PrimitiveHandle semaphore, uint count);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_semaphore_signal(PrimitiveHandle semaphore, uint count, out uint previous);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern uint tapir_semaphore_current_count(PrimitiveHandle semaphore);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_semaphore_release(IntPtr semaphore);

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_auto_reset_event_new(uint initiallySet, out IntPtr ev);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_auto_reset_event_set(PrimitiveHandle ev);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_auto_reset_event_try_wait(PrimitiveHandle ev);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_auto_reset_event_wait_async(PrimitiveHandle ev, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_auto_reset_event_release(IntPtr ev);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_manual_reset_event_new(uint initiallySet, out IntPtr ev);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_manual_reset_event_set(PrimitiveHandle ev);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_manual_reset_event_reset(PrimitiveHandle ev);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_manual_reset_event_is_set(PrimitiveHandle ev);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_manual_reset_event_wait_async(PrimitiveHandle ev, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_manual_reset_event_release(IntPtr ev);

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_countdown_new(uint initial, out IntPtr countdown);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_countdown_signal(PrimitiveHandle countdown, uint count, [MarshalAs(UnmanagedType.I1)] out bool reachedZero);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_countdown_add_count(PrimitiveHandle countdown, uint count);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_countdown_try_add_count(PrimitiveHandle countdown, uint count);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_countdown_reset(PrimitiveHandle countdown, long count);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern uint tapir_countdown_current_count(PrimitiveHandle countdown);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern uint tapir_countdown_initial_count(PrimitiveHandle countdown);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_countdown_wait_async(PrimitiveHandle countdown, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_countdown_release(IntPtr countdown);

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_barrier_new(uint participants, IntPtr postPhase, IntPtr userData, IntPtr destroy, out IntPtr barrier);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_barrier_signal_and_wait_async(PrimitiveHandle barrier, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_barrier_add_participants(PrimitiveHandle barrier, uint count, out ulong phase);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_barrier_remove_participants(PrimitiveHandle barrier, uint count);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern ulong tapir_barrier_current_phase(PrimitiveHandle barrier);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern uint tapir_barrier_participant_count(PrimitiveHandle barrier);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern uint tapir_barrier_participants_remaining(PrimitiveHandle barrier);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_barrier_release(IntPtr barrier);

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_lock_new(out IntPtr lck);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_lock_acquire_async(PrimitiveHandle lck, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_lock_try_acquire(PrimitiveHandle lck, out IntPtr guard);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_lock_is_held(PrimitiveHandle lck);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_lock_release(IntPtr lck);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern IntPtr tapir_lock_guard_retain(IntPtr guard);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_lock_guard_release(IntPtr guard);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_rwlock_new(out IntPtr rwlock);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_rwlock_read_async(PrimitiveHandle rwlock, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_rwlock_write_async(PrimitiveHandle rwlock, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_rwlock_try_read(PrimitiveHandle rwlock, out IntPtr guard);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_rwlock_try_write(PrimitiveHandle rwlock, out IntPtr guard);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern uint tapir_rwlock_reader_count(PrimitiveHandle rwlock);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_rwlock_is_write_held(PrimitiveHandle rwlock);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_rwlock_release(IntPtr rwlock);

        [StructLayout(LayoutKind.Sequential)]
        internal struct ChannelOptions
        {
            internal uint struct_size;
            internal uint full_mode;
            internal UIntPtr capacity;
            internal static readonly uint Size = (uint)Marshal.SizeOf(typeof(ChannelOptions));
        }

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_channel_new(ref ChannelOptions options, out IntPtr channel);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_channel_try_write(PrimitiveHandle channel, IntPtr item, IntPtr destroy);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_channel_write_async(PrimitiveHandle channel, IntPtr item, IntPtr destroy, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_channel_try_read(PrimitiveHandle channel, out IntPtr item, out IntPtr destroy);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_channel_read_async(PrimitiveHandle channel, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_channel_wait_to_read_async(PrimitiveHandle channel, long timeoutMs, CancelTokenHandle token, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_channel_complete(PrimitiveHandle channel, ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_channel_count(PrimitiveHandle channel);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_channel_is_completed(PrimitiveHandle channel);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_channel_release(IntPtr channel);

        [StructLayout(LayoutKind.Sequential)]
        internal struct CacheOptions
        {
            internal uint struct_size;
            internal uint flags;
            internal UIntPtr capacity;
            internal IntPtr hash;
            internal IntPtr equal;
            internal static readonly uint Size = (uint)Marshal.SizeOf(typeof(CacheOptions));
        }

        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cache_new(IntPtr factory, IntPtr userData, IntPtr destroy, ref CacheOptions options, out IntPtr cache);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cache_get_async(PrimitiveHandle cache, byte[] key, UIntPtr len, out IntPtr task);
        [DllImport(Lib, CallingConvention = Cc)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool tapir_cache_remove(PrimitiveHandle cache, byte[] key, UIntPtr len);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cache_clear(PrimitiveHandle cache);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern UIntPtr tapir_cache_count(PrimitiveHandle cache);
        [DllImport(Lib, CallingConvention = Cc)] internal static extern int tapir_cache_release(IntPtr cache);
    }
}
