using System;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// A native tapir task (the consumer side of one asynchronous operation), as
    /// <see cref="Task"/> is in .NET: awaitable, waitable, composable, and consumable by C code
    /// through <see cref="NativeHandle"/>. Each instance owns one reference to the native task,
    /// released by <see cref="Dispose"/> or by a finalizer (its SafeHandle's; for the task of a
    /// <see cref="TapirCompletionSource{T}"/>, the source's pair, see <see cref="SourcePair"/>);
    /// after Dispose every member throws
    /// <see cref="ObjectDisposedException"/>. A completed task's status, value and errors are
    /// cached on the managed side, so awaiting it again does not cross into native code.
    /// </summary>
    public partial class TapirTask : IDisposable
    {
        // The native reference. A wrapped handle lives in a TaskHandle (a SafeHandle: its own
        // finalizer). The task of a TapirCompletionSource owns a raw reference instead
        // (_rawOwned = 1), released by Dispose or by the source's SourcePair finalizer, so a
        // source and its task cost one finalizable object instead of two; a TaskHandle for the
        // calls that take one is made on first use, with a reference of its own.
        private TaskHandle _handle;
        private readonly IntPtr _raw;          // the native pointer, for every task (never changes)
        private int _rawOwned;                 // 1 while this wrapper owns the raw reference itself
        private readonly bool _sourceTask;     // made by a TapirCompletionSource (owns a raw reference)
        private SourcePair _pair;              // set once the pair's lifetime follows this task's

        // One word for the await fast path: 0 = not known to have completed; 1..3 = the final
        // TapirTaskStatus; ValueCached = succeeded with the value cached in TapirTask<T>;
        // Disposed = Dispose was called; KnownPending = the task of a source that nothing but
        // that managed source can have completed yet (so IsCompleted needs no native read).
        // It only moves forward: KnownPending -> 0 -> final -> ValueCached, and anything ->
        // Disposed (compare-exchange), so one load answers IsCompleted and GetResult. The
        // source leaves KnownPending before any call that can complete the task or let C code
        // complete it (see TapirCompletionSource), so a stale KnownPending read only ever
        // races such a call, which an await registration handles as a completion during it.
        private volatile int _final;
        internal const int ValueCached = 5;
        internal const int Disposed = -1;
        internal const int KnownPending = -2;
        private Exception[] _errors;          // read once the task is known to be faulted
        private AggregateException _exception;
        private Task _asTask;
        private readonly bool _shared;        // the static CompletedTask: Dispose does nothing

        internal TapirTask(TaskHandle handle)
        {
            _handle = handle;
            _raw = handle.DangerousGetHandle();
        }

        internal TapirTask(TaskHandle handle, TapirTaskStatus known, bool shared = false)
        {
            _handle = handle;
            _raw = handle.DangerousGetHandle();
            _final = (int)known;
            _shared = shared;
        }

        /// <summary>
        /// The task of a new source: owns the raw reference <paramref name="task"/>, and is known
        /// to be pending until the source lets go of that knowledge (<see cref="ForgetPending"/>).
        /// </summary>
        internal TapirTask(IntPtr task)
        {
            _raw = task;
            _rawOwned = 1;
            _sourceTask = true;
            _final = KnownPending;
        }

        /// <summary>
        /// A SafeHandle for the native calls that take one. The task of a source makes it on
        /// first use, with a reference of its own (released with this wrapper, or by its own
        /// finalizer): those calls are off the await path.
        /// </summary>
        internal TaskHandle Handle => Volatile.Read(ref _handle) ?? MakeHandle();

        private TaskHandle MakeHandle()
        {
            ThrowIfDisposed();
            IntPtr again = NativeMethods.tapir_task_retain(_raw);
            if (again == IntPtr.Zero) throw Check.LastStatus();
            var made = new TaskHandle(again);
            var won = Interlocked.CompareExchange(ref _handle, made, null);
            if (won != null)
            {
                made.Dispose();
                return won;
            }
            if (_final == Disposed)
            {
                made.Dispose();    // a Dispose raced this: it may not have seen the new handle
                throw new ObjectDisposedException(GetType().Name);
            }
            return made;
        }

        /// <summary>The native pointer, borrowed, for calls made after a disposal check (a racing Dispose makes tapir refuse it as stale).</summary>
        internal IntPtr RawHandle => _raw;

        /// <summary>Releases the raw reference this wrapper owns, once (Dispose, or the pair's finalizer).</summary>
        internal void ReleaseRaw()
        {
            // After the exit guard shut tapir down the reference is kept (see TapirSafeHandle).
            if (Interlocked.Exchange(ref _rawOwned, 0) == 1 && !TapirRuntime.Exiting) NativeMethods.tapir_task_release(_raw);
        }

        internal bool OwnsRaw => Volatile.Read(ref _rawOwned) == 1;

        /// <summary>Gives up the raw reference for a caller that releases it (once): true when this wrapper still owned it.</summary>
        internal bool TakeRaw() => Interlocked.Exchange(ref _rawOwned, 0) == 1;

        /// <summary>The pair whose finalizer now waits for this task (null until then).</summary>
        internal SourcePair Pair => Volatile.Read(ref _pair);

        /// <summary>From now on <paramref name="pair"/> lives as long as this task (see <see cref="SourcePair"/>).</summary>
        internal void Attach(SourcePair pair) => Volatile.Write(ref _pair, pair);

        // ---- native handles ----

        /// <summary>
        /// Wraps a native task handle produced by C code. With <paramref name="addRef"/> the
        /// wrapper takes a reference of its own (the caller keeps its reference); without it,
        /// the wrapper takes over the caller's reference. A native value is not read: use
        /// <see cref="TapirTask{T}.FromNativeHandle"/> with the type the producer stored.
        /// </summary>
        public static TapirTask FromNativeHandle(IntPtr task, bool addRef) => new TapirTask(Wrap(task, addRef));

        internal static TaskHandle Wrap(IntPtr task, bool addRef)
        {
            if (task == IntPtr.Zero) throw new ArgumentNullException(nameof(task));
            if (!addRef) return new TaskHandle(task);
            IntPtr again = NativeMethods.tapir_task_retain(task);
            if (again == IntPtr.Zero) throw Check.LastStatus();
            return new TaskHandle(again);
        }

        /// <summary>The native handle, borrowed: valid while this object is alive and not disposed.</summary>
        public IntPtr NativeHandle
        {
            get
            {
                ThrowIfDisposed();
                return _raw;
            }
        }

        /// <summary>A new native reference for C code to own (and release with tapir_task_release).</summary>
        public IntPtr RetainNativeHandle()
        {
            ThrowIfDisposed();
            IntPtr again = NativeMethods.tapir_task_retain(_raw);
            if (again == IntPtr.Zero) throw Check.LastStatus();
            return again;
        }

        /// <summary>Releases this object's native reference. Calling it again does nothing.</summary>
        public void Dispose()
        {
            if (_shared) return;
#pragma warning disable 420 // Interlocked on a volatile field: the interlocked operation is a full fence
            Interlocked.Exchange(ref _final, Disposed);
#pragma warning restore 420
            Volatile.Read(ref _handle)?.Dispose();
            if (OwnsRaw)
            {
                ReleaseRaw();
                Pair?.Released();   // the source released too: its pair's finalizer has nothing left
            }
            ReleaseCaches();
        }

        /// <summary>Drops what a disposed wrapper no longer needs (its cached value and errors).</summary>
        internal virtual void ReleaseCaches()
        {
            _errors = null;
            _exception = null;
            _asTask = null;
        }

        internal void ThrowIfDisposed()
        {
            // A source's task is closed only by its Dispose; a wrapped handle also by its own.
            if (_final == Disposed || (!_sourceTask && _handle.IsClosed)) throw new ObjectDisposedException(GetType().Name);
        }

        /// <summary>The state word (see <see cref="_final"/>), read once.</summary>
        internal int State => _final;

        /// <summary>Moves the state word forward from <paramref name="from"/> to <paramref name="to"/> (never backward, never out of Disposed).</summary>
#pragma warning disable 420
        internal void Advance(int from, int to) => Interlocked.CompareExchange(ref _final, to, from);
#pragma warning restore 420

        /// <summary>Leaves KnownPending: called before anything that can complete the task.</summary>
        internal void ForgetPending()
        {
            if (_final == KnownPending) Advance(KnownPending, 0);
        }

        // ---- status ----

        /// <summary>A number unique to this task among live tasks (Task.Id).</summary>
        public ulong Id
        {
            get
            {
                ThrowIfDisposed();
                ulong id = NativeMethods.tapir_task_id(_raw);
                if (id == 0) throw Check.LastStatus();
                return id;
            }
        }

        public TapirTaskStatus Status
        {
            get
            {
                int f = State;
                if (f > 0) return f == ValueCached ? TapirTaskStatus.Succeeded : (TapirTaskStatus)f;
                if (f == KnownPending) return TapirTaskStatus.Pending;
                ThrowIfDisposed();
                // A raw handle: a Dispose racing this call makes tapir report the handle as stale
                // (-1, below), never a use after free, because handles carry a generation.
                int s = NativeMethods.tapir_task_get_status(_raw);
                if (s < 0) throw new ObjectDisposedException(GetType().Name, "The native task handle is not valid.");
                if (s != 0) Advance(0, s);
                return (TapirTaskStatus)s;
            }
        }

        /// <remarks>A task known to be complete answers without a native call (the await fast path, kept small enough to inline).</remarks>
        public bool IsCompleted => _final > 0 || IsCompletedSlow();

        private bool IsCompletedSlow() => Status != TapirTaskStatus.Pending;

        internal void MarkFinal(TapirTaskStatus status) => Advance(0, (int)status);

        public bool IsCompletedSuccessfully => Status == TapirTaskStatus.Succeeded;

        public bool IsFaulted => Status == TapirTaskStatus.Faulted;

        public bool IsCanceled => Status == TapirTaskStatus.Canceled;

        /// <summary>
        /// The task's errors as an <see cref="AggregateException"/> (in order: input order for
        /// WhenAll), or null unless it faulted. Reading it marks the errors observed.
        /// </summary>
        public AggregateException Exception
        {
            get
            {
                if (Status != TapirTaskStatus.Faulted) return null;
                return _exception ?? (_exception = new AggregateException(GetErrors()));
            }
        }

        internal Exception[] GetErrors()
        {
            var errors = _errors;
            if (errors == null)
            {
                errors = Errors.TaskExceptions(Handle);
                _errors = errors;
            }
            return errors;
        }

        // ---- waiting ----

        /// <summary>Blocks until the task completes; throws <see cref="AggregateException"/> if it faulted or was canceled.</summary>
        public void Wait() => Wait(Timeout.Infinite);

        public bool Wait(TimeSpan timeout) => Wait(Milliseconds(timeout));

        /// <summary>
        /// Blocks until the task completes or <paramref name="millisecondsTimeout"/> passes
        /// (-1: no limit). Returns false on timeout (the task is unaffected); throws
        /// <see cref="AggregateException"/> if it faulted (all errors, in order) or was canceled.
        /// Never call it from a callback running on a single-threaded scheduler the task needs.
        /// </summary>
        public bool Wait(int millisecondsTimeout)
        {
            if (millisecondsTimeout < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsTimeout));
            if (State <= 0 && !BlockUntilCompleted(millisecondsTimeout, CancellationToken.None)) return false;
            ThrowForWait();
            return true;
        }

        public void Wait(CancellationToken cancellationToken) => Wait(Timeout.Infinite, cancellationToken);

        /// <summary>As <see cref="Wait(int)"/>, and throws <see cref="OperationCanceledException"/> when the token is canceled first.</summary>
        public bool Wait(int millisecondsTimeout, CancellationToken cancellationToken)
        {
            if (millisecondsTimeout < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsTimeout));
            cancellationToken.ThrowIfCancellationRequested();
            if (!BlockUntilCompleted(millisecondsTimeout, cancellationToken)) return false;
            ThrowForWait();
            return true;
        }

        internal static int Milliseconds(TimeSpan timeout)
        {
            long ms = (long)timeout.TotalMilliseconds;
            if (ms < -1 || ms > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(timeout));
            return (int)ms;
        }

        /// <summary>What Wait and Result throw: every error, wrapped (AggregateException).</summary>
        internal void ThrowForWait()
        {
            switch (Status)
            {
                case TapirTaskStatus.Faulted: throw new AggregateException(GetErrors());
                case TapirTaskStatus.Canceled: throw new AggregateException(new TaskCanceledException());
            }
        }

        /// <summary>What await throws: the first error itself (with its original stack trace).</summary>
        internal void ThrowForAwait()
        {
            var status = Status;
            if (status == TapirTaskStatus.Pending)
            {
                BlockUntilCompleted(Timeout.Infinite, CancellationToken.None);
                status = Status;
            }
            switch (status)
            {
                case TapirTaskStatus.Faulted:
                    var errors = GetErrors();
                    if (errors.Length > 0) ExceptionDispatchInfo.Capture(errors[0]).Throw();
                    throw new TapirException(TapirStatus.Faulted, "The task faulted.");
                case TapirTaskStatus.Canceled:
                    throw new TaskCanceledException();
            }
        }

        // ---- await ----

        public TapirTaskAwaiter GetAwaiter() => new TapirTaskAwaiter(this);

        /// <summary>With false, the continuation does not resume on the captured context or scheduler.</summary>
        public ConfiguredTapirTaskAwaitable ConfigureAwait(bool continueOnCapturedContext) =>
            new ConfiguredTapirTaskAwaitable(this, continueOnCapturedContext);

        /// <summary>
        /// Registers an await continuation. With a SynchronizationContext (other than the
        /// default one) or a TaskScheduler other than the default captured, the continuation
        /// is posted there; a context built on a <see cref="ManualScheduler"/> is handed to
        /// native code directly (the continuation runs inside that scheduler's RunPending).
        /// Otherwise it runs inline on the thread that completes the task, as a
        /// TaskCompletionSource's await does (unless the task's source asked for asynchronous
        /// continuations).
        /// </summary>
        internal void RegisterAwait(Action continuation, bool continueOnCapturedContext, bool flowExecutionContext)
        {
            if (continuation == null) throw new ArgumentNullException(nameof(continuation));
            if (flowExecutionContext)
            {
                var ec = ExecutionContext.Capture();
                if (ec != null) continuation = new ExecutionContextResume(ec, continuation).Invoke;
            }
            object resumeOn = null;
            SchedulerHandle scheduler = SchedulerHandle.Null;
            uint flags = Flags.ExecuteSynchronously | Flags.CallbackFrees;   // see AwaitState
            if (continueOnCapturedContext)
            {
                var context = SynchronizationContext.Current;
                if (context != null && context.GetType() != typeof(SynchronizationContext))
                {
                    if (context is TapirSynchronizationContext tapirContext)
                    {
                        scheduler = tapirContext.Scheduler.Handle;
                        flags = Flags.CallbackFrees;
                    }
                    else
                    {
                        resumeOn = context;
                    }
                }
                else
                {
                    var taskScheduler = TaskScheduler.Current;
                    if (taskScheduler != TaskScheduler.Default) resumeOn = taskScheduler;
                }
            }
            ThrowIfDisposed();
            // A pooled state instead of a GCHandle (see AwaitState); its destroy returns it.
            var state = AwaitState.Rent(this, continuation, resumeOn);
            int rc;
            bool added = false;
            try
            {
                if (!scheduler.IsInvalid) scheduler.DangerousAddRef(ref added);
                var options = ContinuationOptions.With(flags, scheduler.DangerousGetHandle(), IntPtr.Zero);
                rc = NativeMethods.tapir_task_on_complete(_raw, Callbacks.OnAwaitPtr, state.UserData,
                    Callbacks.OnAwaitDestroyPtr, ref options, IntPtr.Zero);
            }
            catch
            {
                state.Return();
                throw;
            }
            finally
            {
                if (added) scheduler.DangerousRelease();
            }
            if (rc != 0)
            {
                state.Return();
                throw Check.Exception(rc);
            }
        }

        /// <summary>
        /// Called by an await's callback, which runs only once this task has completed: if the
        /// completion is a TrySetResult of this task running on this thread, the task's value is
        /// known without asking native code (see <see cref="BeginSet"/>).
        /// </summary>
        internal void NoteCompleted()
        {
            ForgetPending();   // completed, whoever did it
            if (State == 0 && t_setting == this) CacheBits(t_settingBits);
        }

        /// <summary>Records that this task succeeded with the native value <paramref name="bits"/> (borrowed from the task).</summary>
        internal virtual void CacheBits(IntPtr bits) => MarkFinal(TapirTaskStatus.Succeeded);

        // The TrySetResult running on this thread: while its native call runs, a callback of
        // `t_setting` on this thread can only have been started by that call having completed
        // the task (a failed set runs no callbacks), so the value is `t_settingBits`.
        [ThreadStatic] private static TapirTask t_setting;
        [ThreadStatic] private static IntPtr t_settingBits;

        /// <summary>Marks a TrySetResult of <paramref name="task"/> with <paramref name="bits"/> as running on this thread; returns the outer one to restore with <see cref="EndSet"/>.</summary>
        internal static TapirTask BeginSet(TapirTask task, IntPtr bits, out IntPtr outerBits)
        {
            var outer = t_setting;
            outerBits = t_settingBits;
            t_setting = task;
            t_settingBits = bits;
            return outer;
        }

        internal static void EndSet(TapirTask outer, IntPtr outerBits)
        {
            t_setting = outer;
            t_settingBits = outerBits;
        }

        /// <summary>tapir_task_on_complete with <paramref name="state"/> as the callback's state (freed by the destroy).</summary>
        internal void OnCompleteCore(object state, uint flags, SchedulerHandle scheduler, IntPtr destroy = default(IntPtr))
        {
            ThrowIfDisposed();
            IntPtr userData = Callbacks.Alloc(state);
            int rc;
            bool added = false;
            try
            {
                if (!scheduler.IsInvalid) scheduler.DangerousAddRef(ref added);
                var options = ContinuationOptions.With(flags, scheduler.DangerousGetHandle(), IntPtr.Zero);
                rc = NativeMethods.tapir_task_on_complete(_raw, Callbacks.OnCompletePtr, userData,
                    destroy == IntPtr.Zero ? Callbacks.FreeHandlePtr : destroy, ref options, IntPtr.Zero);
            }
            catch
            {
                Callbacks.Free(userData);
                throw;
            }
            finally
            {
                if (added) scheduler.DangerousRelease();
            }
            if (rc != 0)
            {
                Callbacks.Free(userData);
                throw Check.Exception(rc);
            }
        }

        /// <summary>Disposes <paramref name="resource"/> once this task has completed (or can no longer complete).</summary>
        internal void DisposeWhenDone(IDisposable resource)
        {
            if (resource == null) return;
            try
            {
                OnCompleteCore(new DisposeOnDestroy(resource), Flags.ExecuteSynchronously, SchedulerHandle.Null, Callbacks.FreeAndDisposePtr);
            }
            catch
            {
                resource.Dispose();
                throw;
            }
        }

        // ---- the unobserved-error hook ----

        private static readonly object s_hookLock = new object();
        private static EventHandler<UnobservedTaskExceptionEventArgs> s_unobserved;

        /// <summary>
        /// Raised when the last reference to a faulted task whose errors nobody read is released
        /// (TaskScheduler.UnobservedTaskException, but deterministic: at release, not at a
        /// later collection). Runs on the releasing thread, which may be the finalizer thread.
        /// The sender is null. Do not subscribe or unsubscribe from inside a handler.
        /// </summary>
        public static event EventHandler<UnobservedTaskExceptionEventArgs> UnobservedTaskException
        {
            add
            {
                lock (s_hookLock)
                {
                    bool first = s_unobserved == null;
                    s_unobserved += value;
                    if (first && s_unobserved != null)
                        Check.Status(NativeMethods.tapir_set_unobserved_error_hook(Callbacks.OnUnobservedPtr, IntPtr.Zero));
                }
            }
            remove
            {
                lock (s_hookLock)
                {
                    s_unobserved -= value;
                    if (s_unobserved == null) Check.Status(NativeMethods.tapir_set_unobserved_error_hook(IntPtr.Zero, IntPtr.Zero));
                }
            }
        }

        internal static void RaiseUnobserved(ulong taskId, IntPtr errors, int count)
        {
            var handlers = Volatile.Read(ref s_unobserved);
            if (handlers == null) return;
            var list = new Exception[count];
            for (int i = 0; i < count; i++)
                list[i] = Errors.ToException(System.Runtime.InteropServices.Marshal.ReadIntPtr(errors, i * IntPtr.Size));
            var args = new UnobservedTaskExceptionEventArgs(new AggregateException("A faulted tapir task (id " + taskId + ") was released without its errors being read.", list));
            foreach (EventHandler<UnobservedTaskExceptionEventArgs> h in handlers.GetInvocationList())
            {
                try { h(null, args); }
                catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
            }
        }

        // ---- await continuation states ----

        private sealed class ExecutionContextResume
        {
            private static readonly ContextCallback s_run = s => ((Action)s)();
            private readonly ExecutionContext _context;
            private readonly Action _continuation;

            internal ExecutionContextResume(ExecutionContext context, Action continuation)
            {
                _context = context;
                _continuation = continuation;
            }

            internal void Invoke() => ExecutionContext.Run(_context, s_run, _continuation);
        }

        /// <summary>Holds a resource until the registration's destroy runs (after the callback, or when it is dropped).</summary>
        private sealed class DisposeOnDestroy : CallbackState, IDisposable
        {
            private IDisposable _resource;

            internal DisposeOnDestroy(IDisposable resource) { _resource = resource; }

            internal override void OnComplete(IntPtr task) { }

            public void Dispose() => Interlocked.Exchange(ref _resource, null)?.Dispose();
        }
    }

    /// <summary>The TAPIR_CONTINUATION_* and TAPIR_SOURCE_* flag bits.</summary>
    internal static class Flags
    {
        internal const uint ExecuteSynchronously = 1;
        internal const uint NotOnSuccess = 1 << 4;
        internal const uint NotOnFaulted = 1 << 5;
        internal const uint NotOnCanceled = 1 << 6;
        internal const uint LazyCancellation = 1 << 7;
        internal const uint LongRunning = 1 << 8;
        internal const uint RunContinuationsAsynchronously = 1 << 9;
        internal const uint CallbackFrees = 1 << 10;
        internal const uint SourceRunContinuationsAsynchronously = 1;

        private const TaskContinuationOptions Hints =
            TaskContinuationOptions.PreferFairness | TaskContinuationOptions.DenyChildAttach | TaskContinuationOptions.HideScheduler;

        /// <summary>
        /// TaskContinuationOptions to native flags. PreferFairness, DenyChildAttach and
        /// HideScheduler are hints without a native meaning and are ignored; AttachedToParent
        /// has no meaning either (tapir tasks have no parents) and is refused.
        /// </summary>
        internal static uint FromOptions(TaskContinuationOptions options)
        {
            if ((options & TaskContinuationOptions.AttachedToParent) != 0)
                throw new ArgumentOutOfRangeException(nameof(options), "tapir tasks have no parent-child relation (AttachedToParent).");
            uint flags = 0;
            var rest = options & ~Hints;
            if ((rest & TaskContinuationOptions.ExecuteSynchronously) != 0) flags |= ExecuteSynchronously;
            if ((rest & TaskContinuationOptions.NotOnRanToCompletion) != 0) flags |= NotOnSuccess;
            if ((rest & TaskContinuationOptions.NotOnFaulted) != 0) flags |= NotOnFaulted;
            if ((rest & TaskContinuationOptions.NotOnCanceled) != 0) flags |= NotOnCanceled;
            if ((rest & TaskContinuationOptions.LazyCancellation) != 0) flags |= LazyCancellation;
            if ((rest & TaskContinuationOptions.LongRunning) != 0) flags |= LongRunning;
            if ((rest & TaskContinuationOptions.RunContinuationsAsynchronously) != 0) flags |= RunContinuationsAsynchronously;
            const TaskContinuationOptions known = TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.NotOnRanToCompletion |
                TaskContinuationOptions.NotOnFaulted | TaskContinuationOptions.NotOnCanceled | TaskContinuationOptions.LazyCancellation |
                TaskContinuationOptions.LongRunning | TaskContinuationOptions.RunContinuationsAsynchronously;
            if ((rest & ~known) != 0) throw new ArgumentOutOfRangeException(nameof(options));
            return flags;
        }
    }
}
