using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// The producer side of a native task (TaskCompletionSource&lt;T&gt;): completes its
    /// <see cref="Task"/> exactly once. Unlike a TaskCompletionSource, a source that is disposed
    /// (or collected) without completing its task does not leave waiters hanging: the task
    /// fails with a <see cref="TapirException"/> of code <see cref="TapirStatus.BrokenPromise"/>.
    /// The source and its task start managed: the native source and task are made the first
    /// time native code needs either (see <see cref="NativeHandle"/>), so a source that is only
    /// set and awaited costs what a TaskCompletionSource does.
    /// </summary>
    public sealed class TapirCompletionSource<T> : IDisposable
    {
        // Managed first: a new source and its task are two managed objects and a pooled guard
        // (SourceGuard: breaks the promise if this wrapper is collected with the task
        // pending). A TrySetResult and the inline awaits it resumes stay managed. The native
        // source and task are made (TapirTask.Materialize, once) the first time native code
        // needs them: this wrapper's Handle or NativeHandle, SetException, SetCanceled,
        // SetFromTask, a Dispose while the task is pending, or anything native done with the
        // task. From then on every member works on the native source, whose pair (SourcePair,
        // reached through the task) releases both references.
        private readonly TapirTask<T> _task;
        private SourceGuard _guard;      // until this source completed its task or was disposed
        private int _disposed;
        private SourceHandle _handle;    // made on first use of Handle, with a reference of its own

        public TapirCompletionSource() : this(TaskCreationOptions.None) { }

        /// <summary>
        /// <paramref name="options"/>: None, or RunContinuationsAsynchronously (the task's
        /// continuations, awaits included, never run inline on the thread that completes it).
        /// </summary>
        public TapirCompletionSource(TaskCreationOptions options)
        {
            if ((options & ~TaskCreationOptions.RunContinuationsAsynchronously) != 0)
                throw new ArgumentOutOfRangeException(nameof(options), "Only RunContinuationsAsynchronously is supported.");
            _task = new TapirTask<T>();
            // Asynchronous continuations run on the tapir pool: such a source is native at once.
            if ((options & TaskCreationOptions.RunContinuationsAsynchronously) != 0) _task.Materialize(Flags.SourceRunContinuationsAsynchronously);
            _guard = SourceGuard.Rent(_task);
        }

        /// <summary>The task this source completes (the same object every time).</summary>
        public TapirTask<T> Task => _task;

        /// <summary>The native handle, borrowed (for C code that completes the task).</summary>
        public IntPtr NativeHandle
        {
            get { return Source(); }   // materialized: C code may complete it from now on
        }

        /// <summary>A SafeHandle for the calls that take one, made on first use with a reference of its own (released with this wrapper).</summary>
        internal SourceHandle Handle
        {
            get
            {
                var h = Volatile.Read(ref _handle);
                if (h != null) return h;
                IntPtr again = NativeMethods.tapir_source_retain(Source());
                if (again == IntPtr.Zero) throw new ObjectDisposedException(GetType().Name);
                var made = new SourceHandle(again);
                var won = Interlocked.CompareExchange(ref _handle, made, null);
                if (won != null)
                {
                    made.Dispose();
                    return won;
                }
                if (!_task.Pair.OwnsSource) made.Dispose();   // a Dispose raced this: the handle is closed, as the source is
                return made;
            }
        }

        /// <summary>The native source (materialized) after a disposal check (a racing Dispose makes tapir refuse it as stale).</summary>
        private IntPtr Source()
        {
            ThrowIfDisposed();
            var pair = _task.MaterializedPair();
            if (!pair.OwnsSource) throw new ObjectDisposedException(GetType().Name);
            // The caller completes the task, or hands the source to code that may: the task
            // is no longer known to be pending (until then IsCompleted needs no native read).
            _task.ForgetPending();
            return pair.Source;
        }

        private void ThrowIfDisposed()
        {
            if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(GetType().Name);
        }

        /// <summary>For a native try_set that returned false: refused because the source was released (disposed concurrently).</summary>
        private void ThrowIfReleased()
        {
            if (NativeMethods.tapir_last_status() == (int)TapirStatus.InvalidHandle) throw new ObjectDisposedException(GetType().Name);
        }

        /// <summary>This wrapper completed the task (or was disposed): its collection can no longer break the promise, so the guard goes back to the pool.</summary>
        private void Completed()
        {
            if (Volatile.Read(ref _guard) == null) return;   // given back already (a Dispose after the set)
            var guard = Interlocked.Exchange(ref _guard, null);
            if (guard != null) SourceGuard.Return(guard);
        }

        /// <summary>Throws <see cref="InvalidOperationException"/> if the task already completed.</summary>
        public void SetResult(T result)
        {
            if (!TrySetResult(result)) throw AlreadyCompleted();
        }

        public bool TrySetResult(T result)
        {
            ThrowIfDisposed();
            var task = _task;
            int managed = task.TrySetResultManaged(result);   // -1: the task is native
            if (managed >= 0)
            {
                if (managed == 1) Completed();   // (also keeps this wrapper, and so its guard, alive until the task completed)
                return managed == 1;
            }
            return TrySetResultNative(result);
        }

        private bool TrySetResultNative(T result)
        {
            IntPtr source = Source();
            IntPtr bits = ValueCodec<T>.Encode(result, out IntPtr destroy);
            bool done;
            var task = _task;
            // An await of the task resumed inline by this call learns the value from here
            // instead of asking native code for it (TapirTask.NoteCompleted).
            var outer = TapirTask.BeginSet(task, bits, out IntPtr outerBits);
            try
            {
                done = NativeMethods.tapir_source_try_set_result(source, bits, destroy);
                if (!done && NativeMethods.tapir_last_status() == (int)TapirStatus.InvalidHandle)
                    throw new ObjectDisposedException(GetType().Name);   // disposed concurrently
            }
            catch
            {
                ValueCodec<T>.Discard(bits, destroy);
                throw;
            }
            finally
            {
                TapirTask.EndSet(outer, outerBits);
            }
            if (!done)
            {
                ValueCodec<T>.Discard(bits, destroy);   // refused: the value stayed ours
                return false;
            }
            task.CacheValue(result);
            Completed();
            return true;
        }

        /// <summary>Fails the task with <paramref name="exception"/>; awaiting it rethrows that same object.</summary>
        public void SetException(Exception exception)
        {
            if (!TrySetException(exception)) throw AlreadyCompleted();
        }

        public bool TrySetException(Exception exception)
        {
            if (exception == null) throw new ArgumentNullException(nameof(exception));
            IntPtr source = Source();
            using (var error = Errors.FromException(exception))
            {
                if (NativeMethods.tapir_source_try_set_error(source, error))
                {
                    Completed();
                    return true;
                }
                ThrowIfReleased();
                return false;
            }
        }

        /// <summary>Fails the task with several exceptions, kept in this order.</summary>
        public void SetException(IEnumerable<Exception> exceptions)
        {
            if (!TrySetException(exceptions)) throw AlreadyCompleted();
        }

        public bool TrySetException(IEnumerable<Exception> exceptions)
        {
            IntPtr source = Source();
            var errors = Errors.FromExceptions(exceptions);
            try
            {
                var raw = Errors.Raw(errors);
                if (NativeMethods.tapir_source_try_set_error_list(source, raw, (UIntPtr)raw.Length))
                {
                    Completed();
                    return true;
                }
                ThrowIfReleased();
                return false;
            }
            finally
            {
                Errors.DisposeAll(errors);
            }
        }

        public void SetCanceled()
        {
            if (!TrySetCanceled()) throw AlreadyCompleted();
        }

        public bool TrySetCanceled()
        {
            IntPtr source = Source();
            if (NativeMethods.tapir_source_try_set_canceled(source, CancelTokenHandle.Null))
            {
                Completed();
                return true;
            }
            ThrowIfReleased();
            return false;
        }

        /// <summary>
        /// Completes the task the way <paramref name="task"/> completes, now or later (its value,
        /// errors or cancellation): how an operation "returns" another task.
        /// </summary>
        public void SetFromTask(TapirTask<T> task)
        {
            if (task == null) throw new ArgumentNullException(nameof(task));
            IntPtr source = Source();
            Check.Status(NativeMethods.tapir_source_set_from_task(source, task.Handle));
        }

        /// <summary>SetFromTask for a native task lent to a callback (borrowed).</summary>
        internal void SetFromNativeTask(IntPtr task)
        {
            IntPtr source = Source();
            Check.Status(NativeMethods.tapir_source_set_from_task(source, task));
        }

        /// <summary>
        /// Releases this source. If its task is still pending, it fails with
        /// <see cref="TapirStatus.BrokenPromise"/>. <see cref="Task"/> stays readable. Calling it
        /// again does nothing.
        /// </summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            Volatile.Read(ref _handle)?.Dispose();
            if (!_task.SourceDisposed())
            {
                // Pending (a managed task materializes: its release breaks the promise natively),
                // or native already.
                var pair = _task.MaterializedPair();
                _task.ForgetPending();
                pair.ReleaseSource();    // a pending task fails with BrokenPromise
                pair.Released();
            }
            Completed();
        }

        private static InvalidOperationException AlreadyCompleted() =>
            new InvalidOperationException("An attempt was made to transition a task to a final state when it had already completed.");
    }
}
