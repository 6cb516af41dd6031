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
    /// </summary>
    public sealed class TapirCompletionSource<T> : IDisposable
    {
        private readonly SourceHandle _source;
        private TapirTask<T> _task;

        public TapirCompletionSource() : this(TaskCreationOptions.None) { }

        /// <summary>
        /// <paramref name="options"/>: None, or RunContinuationsAsynchronously (the task's
        /// continuations, awaits included, never run inline on the thread that completes it).
        /// </summary>
        public TapirCompletionSource(TaskCreationOptions options)
        {
            if ((options & ~TaskCreationOptions.RunContinuationsAsynchronously) != 0)
                throw new ArgumentOutOfRangeException(nameof(options), "Only RunContinuationsAsynchronously is supported.");
            uint flags = (options & TaskCreationOptions.RunContinuationsAsynchronously) != 0 ? Flags.SourceRunContinuationsAsynchronously : 0;
            Check.Status(NativeMethods.tapir_source_new(flags, IntPtr.Zero, out IntPtr source));
            _source = new SourceHandle(source);
        }

        /// <summary>The task this source completes (the same object every time).</summary>
        public TapirTask<T> Task
        {
            get
            {
                var t = _task;
                if (t != null) return t;
                Check.Status(NativeMethods.tapir_source_task(_source.Value, out IntPtr task));
                Interlocked.CompareExchange(ref _task, new TapirTask<T>(new TaskHandle(task)), null);
                return _task;
            }
        }

        /// <summary>The native handle, borrowed (for C code that completes the task).</summary>
        public IntPtr NativeHandle => _source.Value;

        internal SourceHandle Handle => _source;

        /// <summary>Throws <see cref="InvalidOperationException"/> if the task already completed.</summary>
        public void SetResult(T result)
        {
            if (!TrySetResult(result)) throw AlreadyCompleted();
        }

        public bool TrySetResult(T result)
        {
            IntPtr bits = ValueCodec<T>.Encode(result, out IntPtr destroy);
            bool done;
            var task = _task;
            // An await of the task resumed inline by this call learns the value from here
            // instead of asking native code for it (TapirTask.NoteCompleted).
            var outer = TapirTask.BeginSet(task, bits, out IntPtr outerBits);
            try
            {
                done = NativeMethods.tapir_source_try_set_result(_source.Value, bits, destroy);
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
            (task ?? _task)?.CacheValue(result);
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
            using (var error = Errors.FromException(exception))
            {
                return NativeMethods.tapir_source_try_set_error(_source, error);
            }
        }

        /// <summary>Fails the task with several exceptions, kept in this order.</summary>
        public void SetException(IEnumerable<Exception> exceptions)
        {
            if (!TrySetException(exceptions)) throw AlreadyCompleted();
        }

        public bool TrySetException(IEnumerable<Exception> exceptions)
        {
            var errors = Errors.FromExceptions(exceptions);
            try
            {
                var raw = Errors.Raw(errors);
                return NativeMethods.tapir_source_try_set_error_list(_source, raw, (UIntPtr)raw.Length);
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

        public bool TrySetCanceled() => NativeMethods.tapir_source_try_set_canceled(_source, CancelTokenHandle.Null);

        /// <summary>
        /// Completes the task the way <paramref name="task"/> completes, now or later (its value,
        /// errors or cancellation): how an operation "returns" another task.
        /// </summary>
        public void SetFromTask(TapirTask<T> task)
        {
            if (task == null) throw new ArgumentNullException(nameof(task));
            Check.Status(NativeMethods.tapir_source_set_from_task(_source, task.Handle));
        }

        /// <summary>
        /// Releases this source. If its task is still pending, it fails with
        /// <see cref="TapirStatus.BrokenPromise"/>. <see cref="Task"/> stays readable. Calling it
        /// again does nothing.
        /// </summary>
        public void Dispose()
        {
            if (_task == null && !_source.IsClosed)
            {
                try { GC.KeepAlive(Task); }            // the task stays readable after Dispose
                catch (ObjectDisposedException) { }    // disposed concurrently
            }
            _source.Dispose();
        }

        private static InvalidOperationException AlreadyCompleted() =>
            new InvalidOperationException("An attempt was made to transition a task to a final state when it had already completed.");
    }
}
