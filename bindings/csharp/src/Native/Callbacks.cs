using System;
using System.Runtime.InteropServices;
using AOT;

namespace Tapir.Native
{
    /// <summary>
    /// The state a native callback receives as <c>user_data</c> (through a GCHandle): each
    /// kind of registration overrides the entry points it uses. The trampolines in
    /// <see cref="Callbacks"/> are static and non-generic (IL2CPP needs that); the generic
    /// work happens in these virtual methods.
    /// </summary>
    internal abstract class CallbackState
    {
        /// <summary>tapir_callback_fn: <paramref name="task"/> is borrowed for the call.</summary>
        internal virtual void OnComplete(IntPtr task) => throw new NotSupportedException();

        /// <summary>tapir_continuation_fn: both handles are borrowed; complete <paramref name="next"/>.</summary>
        internal virtual void OnContinue(IntPtr antecedent, IntPtr next) => throw new NotSupportedException();

        /// <summary>tapir_run_fn: complete <paramref name="source"/> (borrowed; retain it to complete later).</summary>
        internal virtual void OnRun(IntPtr source) => throw new NotSupportedException();

        /// <summary>tapir_work_fn.</summary>
        internal virtual void OnWork() => throw new NotSupportedException();

        /// <summary>tapir_cancel_fn: returns NULL or a new tapir_error reference.</summary>
        internal virtual IntPtr OnCancel() => throw new NotSupportedException();

        /// <summary>tapir_task_factory_fn (the factory of a retry or a throttled loop): returns a new task reference.</summary>
        internal virtual IntPtr OnFactory(uint index) => throw new NotSupportedException();

        /// <summary>tapir_task_factory_fn used as the retry gate: returns a new task reference.</summary>
        internal virtual IntPtr OnGate(uint index) => throw new NotSupportedException();

        /// <summary>tapir_cancelable_factory_fn: <paramref name="token"/> is borrowed.</summary>
        internal virtual IntPtr OnCancelableFactory(uint index, IntPtr token) => throw new NotSupportedException();

        /// <summary>tapir_progress_fn: <paramref name="value"/> is borrowed.</summary>
        internal virtual void OnProgress(IntPtr value) => throw new NotSupportedException();

        /// <summary>tapir_barrier_phase_fn: returns NULL or a new tapir_error reference.</summary>
        internal virtual IntPtr OnPhase(ulong phase) => throw new NotSupportedException();

        /// <summary>tapir_cache_factory_fn: <paramref name="key"/> is borrowed; returns a new task reference.</summary>
        internal virtual IntPtr OnCacheFactory(IntPtr key, UIntPtr len) => throw new NotSupportedException();

        /// <summary>The post entry of a host scheduler's vtable: must run or discard <paramref name="work"/>.</summary>
        internal virtual void OnPost(IntPtr work) => throw new NotSupportedException();
    }

    /// <summary>
    /// The only managed code native tapir calls. One delegate type per C callback typedef,
    /// one static delegate instance per trampoline (alive for the whole process, so native
    /// code can never call a collected delegate), and the function pointers taken from them
    /// once. Every trampoline catches every exception: a managed exception never unwinds into
    /// native frames; it becomes a task failure where there is a task, an error where the C
    /// signature returns one, or an <see cref="TapirRuntime.UnhandledCallbackException"/> event.
    /// </summary>
    internal static class Callbacks
    {
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void DestroyFn(IntPtr userData);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void CallbackFn(IntPtr userData, IntPtr task);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void ContinuationFn(IntPtr userData, IntPtr antecedent, IntPtr next);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void RunFn(IntPtr userData, IntPtr source);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void WorkFn(IntPtr userData);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate IntPtr CancelFn(IntPtr userData);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate IntPtr TaskFactoryFn(IntPtr userData, uint index);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate IntPtr CancelableFactoryFn(IntPtr userData, uint index, IntPtr token);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void ProgressFn(IntPtr userData, IntPtr value);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void PostFn(IntPtr ctx, IntPtr work);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void UnobservedFn(IntPtr userData, ulong taskId, IntPtr errors, UIntPtr count);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate IntPtr PhaseFn(IntPtr userData, ulong phase);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate IntPtr CacheFactoryFn(IntPtr userData, IntPtr key, UIntPtr len);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void ThreadHookFn(IntPtr ctx, int kind, uint index);

        private static readonly DestroyFn s_freeHandle = FreeHandle;
        private static readonly DestroyFn s_freeAndDispose = FreeAndDispose;
        private static readonly DestroyFn s_releasePayload = ReleasePayload;
        private static readonly CallbackFn s_onComplete = OnComplete;
        private static readonly CallbackFn s_onAwait = OnAwait;
        private static readonly DestroyFn s_onAwaitDestroy = OnAwaitDestroy;
        private static readonly ContinuationFn s_onContinue = OnContinue;
        private static readonly RunFn s_onRun = OnRun;
        private static readonly WorkFn s_onWork = OnWork;
        private static readonly CancelFn s_onCancel = OnCancel;
        private static readonly TaskFactoryFn s_onFactory = OnFactory;
        private static readonly TaskFactoryFn s_onGate = OnGate;
        private static readonly CancelableFactoryFn s_onCancelableFactory = OnCancelableFactory;
        private static readonly ProgressFn s_onProgress = OnProgress;
        private static readonly PostFn s_onPost = OnPost;
        private static readonly PhaseFn s_onPhase = OnPhase;
        private static readonly CacheFactoryFn s_onCacheFactory = OnCacheFactory;
        private static readonly UnobservedFn s_onUnobserved = OnUnobserved;
        private static readonly ThreadHookFn s_onThreadStart = OnThreadStart;
        private static readonly ThreadHookFn s_onThreadStop = OnThreadStop;

        internal static readonly IntPtr FreeHandlePtr;
        internal static readonly IntPtr FreeAndDisposePtr;
        internal static readonly IntPtr ReleasePayloadPtr;
        internal static readonly IntPtr OnCompletePtr;
        internal static readonly IntPtr OnAwaitPtr;
        internal static readonly IntPtr OnAwaitDestroyPtr;
        internal static readonly IntPtr OnContinuePtr;
        internal static readonly IntPtr OnRunPtr;
        internal static readonly IntPtr OnWorkPtr;
        internal static readonly IntPtr OnCancelPtr;
        internal static readonly IntPtr OnFactoryPtr;
        internal static readonly IntPtr OnGatePtr;
        internal static readonly IntPtr OnCancelableFactoryPtr;
        internal static readonly IntPtr OnProgressPtr;
        internal static readonly IntPtr OnPostPtr;
        internal static readonly IntPtr OnUnobservedPtr;
        internal static readonly IntPtr OnPhasePtr;
        internal static readonly IntPtr OnCacheFactoryPtr;
        internal static readonly IntPtr OnThreadStartPtr;
        internal static readonly IntPtr OnThreadStopPtr;

        static Callbacks()
        {
            // Any managed callback can attach a tapir pool thread to the runtime, which Mono
            // then waits for at exit; the guard shuts tapir down before that wait.
            TapirRuntime.InstallExitGuard();
            FreeHandlePtr = Marshal.GetFunctionPointerForDelegate(s_freeHandle);
            FreeAndDisposePtr = Marshal.GetFunctionPointerForDelegate(s_freeAndDispose);
            ReleasePayloadPtr = Marshal.GetFunctionPointerForDelegate(s_releasePayload);
            OnCompletePtr = Marshal.GetFunctionPointerForDelegate(s_onComplete);
            OnAwaitPtr = Marshal.GetFunctionPointerForDelegate(s_onAwait);
            OnAwaitDestroyPtr = Marshal.GetFunctionPointerForDelegate(s_onAwaitDestroy);
            OnContinuePtr = Marshal.GetFunctionPointerForDelegate(s_onContinue);
            OnRunPtr = Marshal.GetFunctionPointerForDelegate(s_onRun);
            OnWorkPtr = Marshal.GetFunctionPointerForDelegate(s_onWork);
            OnCancelPtr = Marshal.GetFunctionPointerForDelegate(s_onCancel);
            OnFactoryPtr = Marshal.GetFunctionPointerForDelegate(s_onFactory);
            OnGatePtr = Marshal.GetFunctionPointerForDelegate(s_onGate);
            OnCancelableFactoryPtr = Marshal.GetFunctionPointerForDelegate(s_onCancelableFactory);
            OnProgressPtr = Marshal.GetFunctionPointerForDelegate(s_onProgress);
            OnPostPtr = Marshal.GetFunctionPointerForDelegate(s_onPost);
            OnUnobservedPtr = Marshal.GetFunctionPointerForDelegate(s_onUnobserved);
            OnPhasePtr = Marshal.GetFunctionPointerForDelegate(s_onPhase);
            OnCacheFactoryPtr = Marshal.GetFunctionPointerForDelegate(s_onCacheFactory);
            OnThreadStartPtr = Marshal.GetFunctionPointerForDelegate(s_onThreadStart);
            OnThreadStopPtr = Marshal.GetFunctionPointerForDelegate(s_onThreadStop);
        }

        /// <summary>Pins <paramref name="state"/> for native code: the user_data of a registration.</summary>
        internal static IntPtr Alloc(object state) => GCHandle.ToIntPtr(GCHandle.Alloc(state));

        /// <summary>Frees user data that a failed registration left with the caller.</summary>
        internal static void Free(IntPtr userData) => GCHandle.FromIntPtr(userData).Free();

        private static object Target(IntPtr userData) => GCHandle.FromIntPtr(userData).Target;

        // ---- destroy functions: the only places user data is freed ----

        [MonoPInvokeCallback(typeof(DestroyFn))]
        private static void FreeHandle(IntPtr userData)
        {
            try { GCHandle.FromIntPtr(userData).Free(); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        /// <summary>Frees the handle and disposes its target: for internal clean-up objects only.</summary>
        [MonoPInvokeCallback(typeof(DestroyFn))]
        private static void FreeAndDispose(IntPtr userData)
        {
            try
            {
                var h = GCHandle.FromIntPtr(userData);
                var target = h.Target as IDisposable;
                h.Free();
                target?.Dispose();
            }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        [MonoPInvokeCallback(typeof(DestroyFn))]
        private static void ReleasePayload(IntPtr payload)
        {
            try { Errors.ReleasePayload(payload); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        // ---- callbacks ----

        [MonoPInvokeCallback(typeof(CallbackFn))]
        private static void OnComplete(IntPtr userData, IntPtr task)
        {
            try
            {
                object target = Target(userData);
                if (target is Action signal) signal();           // a blocking wait's signal
                else ((CallbackState)target).OnComplete(task);
            }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        /// <summary>tapir_callback_fn of an await: <paramref name="userData"/> names a pooled <see cref="AwaitState"/>, not a GCHandle; the callback returns it to the pool (no destroy follows).</summary>
        [MonoPInvokeCallback(typeof(CallbackFn))]
        private static void OnAwait(IntPtr userData, IntPtr task)
        {
            try { AwaitState.From(userData).Resume(); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        /// <summary>The destroy of an await, called only when its callback never runs (TAPIR_CONTINUATION_CALLBACK_FREES): its <see cref="AwaitState"/> goes back to the pool.</summary>
        [MonoPInvokeCallback(typeof(DestroyFn))]
        private static void OnAwaitDestroy(IntPtr userData)
        {
            try { AwaitState.From(userData).Return(); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        [MonoPInvokeCallback(typeof(ContinuationFn))]
        private static void OnContinue(IntPtr userData, IntPtr antecedent, IntPtr next)
        {
            try { ((CallbackState)Target(userData)).OnContinue(antecedent, next); }
            catch (Exception e) { Fail(next, e); }
        }

        [MonoPInvokeCallback(typeof(RunFn))]
        private static void OnRun(IntPtr userData, IntPtr source)
        {
            try { ((CallbackState)Target(userData)).OnRun(source); }
            catch (Exception e) { Fail(source, e); }
        }

        [MonoPInvokeCallback(typeof(WorkFn))]
        private static void OnWork(IntPtr userData)
        {
            try
            {
                object target = Target(userData);
                if (target is Action work) work();
                else ((CallbackState)target).OnWork();
            }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        [MonoPInvokeCallback(typeof(CancelFn))]
        private static IntPtr OnCancel(IntPtr userData)
        {
            try { return ((CallbackState)Target(userData)).OnCancel(); }
            catch (Exception e) { return ErrorOrReport(e); }
        }

        [MonoPInvokeCallback(typeof(TaskFactoryFn))]
        private static IntPtr OnFactory(IntPtr userData, uint index)
        {
            try { return ((CallbackState)Target(userData)).OnFactory(index); }
            catch (Exception e) { return FailedTaskOrReport(e); }
        }

        [MonoPInvokeCallback(typeof(TaskFactoryFn))]
        private static IntPtr OnGate(IntPtr userData, uint index)
        {
            try { return ((CallbackState)Target(userData)).OnGate(index); }
            catch (Exception e) { return FailedTaskOrReport(e); }
        }

        [MonoPInvokeCallback(typeof(CancelableFactoryFn))]
        private static IntPtr OnCancelableFactory(IntPtr userData, uint index, IntPtr token)
        {
            try { return ((CallbackState)Target(userData)).OnCancelableFactory(index, token); }
            catch (Exception e) { return FailedTaskOrReport(e); }
        }

        [MonoPInvokeCallback(typeof(ProgressFn))]
        private static void OnProgress(IntPtr userData, IntPtr value)
        {
            try { ((CallbackState)Target(userData)).OnProgress(value); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        [MonoPInvokeCallback(typeof(PostFn))]
        private static void OnPost(IntPtr ctx, IntPtr work)
        {
            try { ((CallbackState)Target(ctx)).OnPost(work); }
            catch (Exception e)
            {
                // The state could not take the work item: discard it (its task breaks its promise).
                try { NativeMethods.tapir_work_discard(work); } catch (Exception) { }
                TapirRuntime.ReportUnhandled(e);
            }
        }

        [MonoPInvokeCallback(typeof(UnobservedFn))]
        private static void OnUnobserved(IntPtr userData, ulong taskId, IntPtr errors, UIntPtr count)
        {
            try { TapirTask.RaiseUnobserved(taskId, errors, (int)count.ToUInt64()); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        [MonoPInvokeCallback(typeof(PhaseFn))]
        private static IntPtr OnPhase(IntPtr userData, ulong phase)
        {
            try { return ((CallbackState)Target(userData)).OnPhase(phase); }
            catch (Exception e) { return ErrorOrReport(e); }
        }

        [MonoPInvokeCallback(typeof(CacheFactoryFn))]
        private static IntPtr OnCacheFactory(IntPtr userData, IntPtr key, UIntPtr len)
        {
            try { return ((CallbackState)Target(userData)).OnCacheFactory(key, len); }
            catch (Exception e) { return FailedTaskOrReport(e); }
        }

        /// <summary>tapir_thread_hook_fn for on_thread_start: <paramref name="ctx"/> is the configuration's <see cref="ThreadHooks"/>.</summary>
        [MonoPInvokeCallback(typeof(ThreadHookFn))]
        private static void OnThreadStart(IntPtr ctx, int kind, uint index)
        {
            try { ((ThreadHooks)Target(ctx)).Start?.Invoke((TapirThreadKind)kind, (int)index); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        [MonoPInvokeCallback(typeof(ThreadHookFn))]
        private static void OnThreadStop(IntPtr ctx, int kind, uint index)
        {
            try { ((ThreadHooks)Target(ctx)).Stop?.Invoke((TapirThreadKind)kind, (int)index); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        // ---- turning an exception into what the C signature can carry ----

        /// <summary>Fails a lent source with <paramref name="e"/>, unless it already completed.</summary>
        internal static void Fail(IntPtr source, Exception e)
        {
            try
            {
                using (var error = Errors.FromException(e))
                {
                    NativeMethods.tapir_source_try_set_error(source, error);
                }
            }
            catch (Exception inner)
            {
                // Converting the exception itself failed: there is no way left to report it
                // without unwinding into native code.
                Environment.FailFast("tapir: cannot turn a callback exception into a task failure", inner);
            }
        }

        private static IntPtr ErrorOrReport(Exception e)
        {
            try { return Errors.FromException(e).Detach(); }
            catch (Exception inner)
            {
                Environment.FailFast("tapir: cannot turn a callback exception into an error", inner);
                return IntPtr.Zero;
            }
        }

        private static IntPtr FailedTaskOrReport(Exception e)
        {
            try
            {
                using (var error = Errors.FromException(e))
                {
                    Check.Status(NativeMethods.tapir_task_from_error(error, out IntPtr task));
                    return task;
                }
            }
            catch (Exception inner)
            {
                Environment.FailFast("tapir: cannot turn a callback exception into a failed task", inner);
                return IntPtr.Zero;
            }
        }
    }
}
