using System;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// A native tapir task with a value of type <typeparamref name="T"/> (Task&lt;T&gt;). The value
    /// travels in the native <c>void*</c>: integral primitives in the pointer bits (as C code
    /// stores integers), everything else as a GCHandle that the native task frees exactly once,
    /// when its last reference goes.
    /// </summary>
    public partial class TapirTask<T> : TapirTask
    {
        private T _value;   // valid once the state word says ValueCached

        internal TapirTask(TaskHandle handle) : base(handle) { }

        /// <summary>The task of a new source: managed until native code needs it (see <see cref="TapirTask.Materialize"/>).</summary>
        internal TapirTask() : base() { }

        /// <summary>
        /// The managed TrySetResult of a source's task: 1 when this call completed it (its
        /// inline awaits have run), 0 when it had already completed, -1 when the task is
        /// native (complete it through the native source).
        /// </summary>
        internal int TrySetResultManaged(T value)
        {
            int claimed = ClaimManaged(out object continuations);
            if (claimed != 1) return claimed;
            _value = value;
            PublishManaged(continuations);
            return 1;
        }

        internal override void ForwardManagedResult(IntPtr source)
        {
            IntPtr bits = ValueCodec<T>.Encode(_value, out IntPtr destroy);
            bool done;
            try
            {
                done = NativeMethods.tapir_source_try_set_result(source, bits, destroy);
            }
            catch
            {
                ValueCodec<T>.Discard(bits, destroy);
                throw;
            }
            if (!done)
            {
                ValueCodec<T>.Discard(bits, destroy);
                throw Check.LastStatus();   // never: a new source
            }
        }

        internal TapirTask(TaskHandle handle, T value) : base(handle, TapirTaskStatus.Succeeded)
        {
            _value = value;
            Advance((int)TapirTaskStatus.Succeeded, ValueCached);
        }

        /// <summary>
        /// Wraps a native task handle produced by C code whose value was stored the way
        /// <typeparamref name="T"/> travels (for C, normally an integer type such as
        /// <c>long</c> or <see cref="IntPtr"/>). See <see cref="TapirTask.FromNativeHandle"/> for
        /// <paramref name="addRef"/>.
        /// </summary>
        public static new TapirTask<T> FromNativeHandle(IntPtr task, bool addRef) => new TapirTask<T>(Wrap(task, addRef));

        /// <summary>Wraps a handle lent to a callback (takes a reference of its own).</summary>
        internal static TapirTask<T> Borrow(IntPtr task) => new TapirTask<T>(Wrap(task, true));

        /// <summary>The value; blocks until the task completes, and throws AggregateException if it faulted or was canceled.</summary>
        public T Result
        {
            get
            {
                if (State == ValueCached) return _value;
                Wait();
                return Value();
            }
        }

        /// <summary>Reads the value of a task known to have succeeded (cached after the first read).</summary>
        internal T Value()
        {
            if (State == ValueCached) return _value;
            ThrowIfDisposed();
            Check.Status(NativeMethods.tapir_task_result(RawHandle, out IntPtr bits));
            var v = ValueCodec<T>.Decode(bits);
            CacheValue(v);
            return v;
        }

        /// <summary>Records the value this task is known to have succeeded with (read from it, or its source just set it).</summary>
        internal void CacheValue(T value)
        {
            // Several threads may decode the same value at once: each writes the same value
            // (the same object, for a GCHandle) before the state word publishes it.
            _value = value;
            Advance(0, ValueCached);
            Advance((int)TapirTaskStatus.Succeeded, ValueCached);
        }

        /// <summary>The await fast path: one load when the value is cached (small enough to inline).</summary>
        internal T GetResultForAwait() => State == ValueCached ? _value : GetResultSlow();

        private T GetResultSlow()
        {
            if (State == 0)
            {
                // Completed elsewhere (or still pending): one native call answers a success.
                // A raw handle: a racing Dispose makes tapir report a stale handle, and the
                // general path below then throws ObjectDisposedException.
                if (NativeMethods.tapir_task_result(RawHandle, out IntPtr bits) == 0)
                {
                    var v = ValueCodec<T>.Decode(bits);
                    CacheValue(v);
                    return v;
                }
            }
            ThrowForAwait();
            return Value();
        }

        internal override void CacheBits(IntPtr bits) => CacheValue(ValueCodec<T>.Decode(bits));

        public new TapirTaskAwaiter<T> GetAwaiter() => new TapirTaskAwaiter<T>(this);

        public new ConfiguredTapirTaskAwaitable<T> ConfigureAwait(bool continueOnCapturedContext) =>
            new ConfiguredTapirTaskAwaitable<T>(this, continueOnCapturedContext);

        /// <summary>
        /// A task that completes as this one does, fails with a <see cref="TapirException"/> of
        /// code <see cref="TapirStatus.Timeout"/> after <paramref name="millisecondsTimeout"/>
        /// (-1: never), or ends canceled when <paramref name="cancellationToken"/> is canceled
        /// (Task.WaitAsync). This task is never affected.
        /// </summary>
        public new TapirTask<T> WaitAsync(int millisecondsTimeout, CancellationToken cancellationToken = default(CancellationToken)) =>
            new TapirTask<T>(WaitAsyncCore(millisecondsTimeout, cancellationToken));

        public new TapirTask<T> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken)) =>
            WaitAsync(Milliseconds(timeout), cancellationToken);

        public new TapirTask<T> WaitAsync(CancellationToken cancellationToken) => WaitAsync(Timeout.Infinite, cancellationToken);

        /// <summary>WaitAsync measured on <paramref name="clock"/> (see <see cref="TapirTask.WaitAsyncOn"/>).</summary>
        public new TapirTask<T> WaitAsyncOn(TapirClock clock, double timeout, CancellationToken cancellationToken = default(CancellationToken)) =>
            new TapirTask<T>(WaitAsyncOnCore(clock, timeout, cancellationToken));

        /// <summary>This task as a <see cref="Task{T}"/>: the same one on every call, completed as the native task ends.</summary>
        public new Task<T> AsTask() => (Task<T>)base.AsTask();

        internal override void ReleaseCaches()
        {
            // A managed success keeps its value: the source may still hand the task to native code.
            if (!IsCompletedManaged) _value = default(T);
            base.ReleaseCaches();
        }

        internal override Task CreateAsTask() => AsTaskState<T>.Create(this, true);

        internal override TapirTask WrapLike(TaskHandle handle) => new TapirTask<T>(handle);
    }
}
