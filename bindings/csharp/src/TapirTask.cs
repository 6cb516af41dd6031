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
    /// <see cref="TapirCompletionSource{T}"/>, the source's pair, see <see cref="SourcePair"/>;
    /// such a task is managed, with no native object, until native code first needs it);
    /// after Dispose every member throws
    /// <see cref="ObjectDisposedException"/>. A completed task's status, value and errors are
    /// cached on the managed side, so awaiting it again does not cross into native code.
    /// </summary>
    public partial class TapirTask : IDisposable
    {
        // The native reference. A wrapped handle lives in a TaskHandle (a SafeHandle: its own
        // finalizer). The task of a TapirCompletionSource starts managed (no native object at
        // all, see "the managed state" below) and gets its native source and task on first
        // need; it then owns a raw reference (_rawOwned = 1), released by Dispose or by the
        // SourcePair's finalizer, so a source and its task cost one finalizable object instead
        // of two; a TaskHandle for the calls that take one is made on first use, with a
        // reference of its own.
        private TaskHandle _handle;
        private IntPtr _raw;                   // the native pointer: set once (a source's task: when materialized)
        private int _rawOwned;                 // 1 while this wrapper owns the raw reference itself
        private readonly bool _sourceTask;     // made by a TapirCompletionSource
        private SourcePair _pair;              // a source's task: the pair of its native source and task, once materialized

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
            _cont = s_native;
        }

        internal TapirTask(TaskHandle handle, TapirTaskStatus known, bool shared = false)
        {
            _handle = handle;
            _raw = handle.DangerousGetHandle();
            _cont = s_native;
            _final = (int)known;
            _shared = shared;
        }

        /// <summary>
        /// The task of a new source: managed, pending, with no native object until native code
        /// needs one (<see cref="Materialize"/>).
        /// </summary>
        internal TapirTask()
        {
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
            IntPtr again = NativeMethods.tapir_task_retain(RawHandle);
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

        /// <summary>
        /// The native pointer, borrowed, for calls made after a disposal check (a racing Dispose
        /// makes tapir refuse it as stale). A source's managed task is materialized first.
        /// </summary>
        internal IntPtr RawHandle
        {
            get
            {
                IntPtr raw = Volatile.Read(ref _raw);
                return raw != IntPtr.Zero ? raw : Materialize(0);
            }
        }

        /// <summary>Releases the raw reference this wrapper owns, once (Dispose, or the pair's finalizer).</summary>
        internal void ReleaseRaw()
        {
            // After the exit guard shut tapir down the reference is kept (see TapirSafeHandle).
            if (Interlocked.Exchange(ref _rawOwned, 0) == 1 && !TapirRuntime.Exiting) NativeMethods.tapir_task_release(_raw);   // owned: materialized
        }

        internal bool OwnsRaw => Volatile.Read(ref _rawOwned) == 1;

        /// <summary>Gives up the raw reference for a caller that releases it (once): true when this wrapper still owned it.</summary>
        internal bool TakeRaw() => Interlocked.Exchange(ref _rawOwned, 0) == 1;

        /// <summary>The pair of a materialized source's task (null until then, and for every other task).</summary>
        internal SourcePair Pair => Volatile.Read(ref _pair);

        // ---- the managed state of a source's task ----
        //
        // A TapirCompletionSource and its task start without any native object: until native
        // code needs the task (a combinator, a continuation, a blocking wait, C interop, the
        // Handle or NativeHandle of either wrapper, an exception or cancellation set on the
        // source, a Dispose or collection of the source while the task is pending), the outcome
        // and the await continuations live here. _cont says where the task stands:
        //   null, an Action or an Action[]   pending, with those inline await continuations
        //                                    (in registration order)
        //   s_claimed                        a TrySetResult or a materialization took it; the
        //                                    one that did moves it on shortly (others spin)
        //   s_completedManaged               succeeded here: the value is in TapirTask<T>,
        //                                    _final says ValueCached (or Disposed)
        //   s_native                         native code is the authority: every other task,
        //                                    and a source's task once materialized
        // Materializing (under s_materializeLock, so once) makes the native source and task in
        // one call, forwards a managed success to it, or registers the pending continuations
        // natively in their order; then _raw is set and _cont becomes s_native, and every
        // member works as for any native task from then on.
        private object _cont;
        private int _sourceDisposed;   // 1 once the source wrapper was disposed
        private static readonly object s_claimed = new object();
        private static readonly object s_completedManaged = new object();
        private static readonly object s_native = new object();
        private static readonly object s_materializeLock = new object();

        /// <summary>True while this is a source's task that no native object stands for yet.</summary>
        internal bool IsManaged => Volatile.Read(ref _cont) != s_native;

        /// <summary>True once a managed TrySetResult completed this (not yet materialized) task.</summary>
        internal bool IsCompletedManaged => Volatile.Read(ref _cont) == s_completedManaged;

        /// <summary>
        /// Claims the managed pending state for a TrySetResult: 1 with the continuations to run
        /// once the value is published (<see cref="PublishManaged"/>), 0 when the task already
        /// completed, -1 when it is native (complete it there).
        /// </summary>
        private protected int ClaimManaged(out object continuations)
        {
            var spin = new SpinWait();
            while (true)
            {
                var cur = Volatile.Read(ref _cont);
                continuations = cur;
                if (cur == s_completedManaged) return 0;
                if (cur == s_native) return -1;
                if (cur == s_claimed)
                {
                    spin.SpinOnce();
                    continue;
                }
                if (Interlocked.CompareExchange(ref _cont, s_claimed, cur) == cur) return 1;
            }
        }

        /// <summary>After a successful claim, with the value stored: completes the task and runs its continuations inline, in order.</summary>
        private protected void PublishManaged(object continuations)
        {
            Advance(KnownPending, ValueCached);
            Volatile.Write(ref _cont, s_completedManaged);
            if (continuations is Action one) RunContinuation(one);
            else if (continuations is Action[] several) foreach (var c in several) RunContinuation(c);
        }

        /// <summary>What the native await callback does around a continuation: an exception goes to UnhandledCallbackException.</summary>
        private static void RunContinuation(Action continuation)
        {
            try { continuation(); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }
        }

        /// <summary>
        /// An inline await of a managed task: queued (true), or run now if the task has
        /// completed (true); false when the task is native (register it there).
        /// </summary>
        private bool TryAwaitManaged(Action continuation)
        {
            var spin = new SpinWait();
            while (true)
            {
                var cur = Volatile.Read(ref _cont);
                if (cur == s_native) return false;
                if (cur == s_completedManaged)
                {
                    // Completed since IsCompleted said no: as tapir does for an inline
                    // registration on a completed task, the continuation runs now, here.
                    RunContinuation(continuation);
                    return true;
                }
                if (cur == s_claimed)
                {
                    spin.SpinOnce();
                    continue;
                }
                object next;
                if (cur == null) next = continuation;
                else if (cur is Action one) next = new Action[] { one, continuation };
                else
                {
                    var several = (Action[])cur;
                    var more = new Action[several.Length + 1];
                    Array.Copy(several, more, several.Length);
                    more[several.Length] = continuation;
                    next = more;
                }
                if (Interlocked.CompareExchange(ref _cont, next, cur) == cur) return true;
            }
        }

        /// <summary>
        /// Makes the native source and task of a source's managed task (once; later calls
        /// return the same pointer) and hands the managed state over to them. The source
        /// flags (<paramref name="sourceFlags"/>) matter only when the source materializes at
        /// construction.
        /// </summary>
        internal IntPtr Materialize(uint sourceFlags)
        {
            if (!_sourceTask) throw new InvalidOperationException("The task has no native handle.");   // never: set at construction
            IntPtr made = MaterializeLocked(sourceFlags, out bool madeHere);
            if (madeHere)
            {
                // Outside the lock: a release can run callbacks (a broken promise's awaits).
                var pair = _pair;
                if (_final == Disposed) ReleaseRaw();   // this wrapper was disposed first: the reference is not its to keep
                if (Volatile.Read(ref _sourceDisposed) != 0)
                {
                    ForgetPending();       // the release may complete it (a broken promise)
                    pair.ReleaseSource();  // the source wrapper was disposed: the reference is not its to keep either
                }
                pair.Released();
            }
            return made;
        }

        private IntPtr MaterializeLocked(uint sourceFlags, out bool madeHere)
        {
            madeHere = false;
            lock (s_materializeLock)
            {
                IntPtr raw = _raw;
                if (raw != IntPtr.Zero) return raw;
                object cur;
                var spin = new SpinWait();
                while (true)
                {
                    cur = Volatile.Read(ref _cont);
                    if (cur == s_completedManaged) break;   // the outcome is fixed: nothing to claim
                    if (cur == s_claimed)
                    {
                        spin.SpinOnce();   // a TrySetResult is publishing its value
                        continue;
                    }
                    if (Interlocked.CompareExchange(ref _cont, s_claimed, cur) == cur) break;
                }
                IntPtr source = IntPtr.Zero, task = IntPtr.Zero;
                try
                {
                    Check.Status(NativeMethods.tapir_source_new_with_task(sourceFlags, IntPtr.Zero, out source, out task));
                    if (cur == s_completedManaged) ForwardManagedResult(source);
                    Volatile.Write(ref _pair, new SourcePair(source, this));
                }
                catch
                {
                    if (task != IntPtr.Zero) NativeMethods.tapir_source_release_with_task(source, task);
                    if (cur != s_completedManaged) Volatile.Write(ref _cont, cur);   // still managed, as it was
                    throw;
                }
                Volatile.Write(ref _raw, task);
                if (cur != s_completedManaged)
                {
                    // Still KnownPending: only the source completes it, and each of its native
                    // members leaves KnownPending first (TapirCompletionSource.Source).
                    // The pending awaits, in their order, before anything else can register.
                    if (cur is Action one) RegisterInlineAwait(one);
                    else if (cur is Action[] several) foreach (var c in several) RegisterInlineAwait(c);
                }
                Interlocked.Exchange(ref _rawOwned, 1);
                Interlocked.Exchange(ref _cont, s_native);
                madeHere = true;
                return task;
            }
        }

        private void RegisterInlineAwait(Action continuation)
        {
            try { RegisterAwaitNative(continuation, null, SchedulerHandle.Null, Flags.ExecuteSynchronously | Flags.CallbackFrees); }
            catch (Exception e) { TapirRuntime.ReportUnhandled(e); }   // never: a new native task accepts it
        }

        /// <summary>Sets the managed value of a completed managed task on its new native source (TapirTask&lt;T&gt;).</summary>
        internal virtual void ForwardManagedResult(IntPtr source) => Check.Status(NativeMethods.tapir_source_set_result(source, IntPtr.Zero, IntPtr.Zero));

        /// <summary>
        /// The source wrapper's Dispose: a materialization after it releases the new native
        /// source at once. True when the task is still managed and completed (nothing native to
        /// release now); false when the caller must release the materialized source itself.
        /// </summary>
        internal bool SourceDisposed()
        {
            // No fence between the write and the read: in the rare race with a materialization
            // on another thread, both may miss the other, and the native source reference is
            // then released by the pair with the task's (later, never twice).
            Volatile.Write(ref _sourceDisposed, 1);
            return IsCompletedManaged;
        }

        /// <summary>The pair of this source's task, materializing it first.</summary>
        internal SourcePair MaterializedPair()
        {
            if (Volatile.Read(ref _raw) == IntPtr.Zero) Materialize(0);
            return Volatile.Read(ref _pair);
        }

        /// <summary>
        /// The source wrapper was collected (its guard's finalizer): a pending task breaks its
        /// promise, as the release of a native source does; a completed one keeps its outcome.
        /// </summary>
        internal void SourceCollected()
        {
            if (IsCompletedManaged) return;   // nothing native to release, nothing to break
            var pair = MaterializedPair();
            ForgetPending();
            pair.ReleaseSource();
            pair.Released();
        }

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
                return RawHandle;
            }
        }

        /// <summary>A new native reference for C code to own (and release with tapir_task_release).</summary>
        public IntPtr RetainNativeHandle()
        {
            ThrowIfDisposed();
            IntPtr again = NativeMethods.tapir_task_retain(RawHandle);
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

        /// <summary>Leaves KnownPending once the task is native (materialized): native code may have completed it.</summary>
        internal void ForgetPending()
        {
            if (_final == KnownPending && Volatile.Read(ref _cont) == s_native) Advance(KnownPending, 0);
        }

        // ---- status ----

        /// <summary>A number unique to this task among live tasks (Task.Id).</summary>
        public ulong Id
        {
            get
            {
                ThrowIfDisposed();
                ulong id = NativeMethods.tapir_task_id(RawHandle);
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
                int s = NativeMethods.tapir_task_get_status(RawHandle);
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
            if (resumeOn == null && scheduler.IsInvalid && _cont != s_native && TryAwaitManaged(continuation)) return;
            RegisterAwaitNative(continuation, resumeOn, scheduler, flags);
        }

        private void RegisterAwaitNative(Action continuation, object resumeOn, SchedulerHandle scheduler, uint flags)
        {
            // A pooled state instead of a GCHandle (see AwaitState); its destroy returns it.
            var state = AwaitState.Rent(this, continuation, resumeOn);
            int rc;
            bool added = false;
            try
            {
                if (!scheduler.IsInvalid) scheduler.DangerousAddRef(ref added);
                var options = ContinuationOptions.With(flags, scheduler.DangerousGetHandle(), IntPtr.Zero);
                rc = NativeMethods.tapir_task_on_complete(RawHandle, Callbacks.OnAwaitPtr, state.UserData,
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
                rc = NativeMethods.tapir_task_on_complete(RawHandle, Callbacks.OnCompletePtr, userData,
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
