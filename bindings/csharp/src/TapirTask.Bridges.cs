using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    public partial class TapirTask
    {
        // ---- to System.Threading.Tasks ----

        /// <summary>
        /// This task as a <see cref="Task"/>: the same one on every call, completed as the native
        /// task ends (succeeded, faulted with every error in order, or canceled). Its
        /// continuations never run inside tapir's callback: the bridge's TaskCompletionSource
        /// runs them asynchronously.
        /// </summary>
        public Task AsTask()
        {
            var t = _asTask;
            if (t != null)
            {
                ThrowIfDisposed();
                return t;
            }
            Interlocked.CompareExchange(ref _asTask, CreateAsTask(), null);
            return _asTask;
        }

        internal virtual Task CreateAsTask() => AsTaskState<object>.Create(this, false);

        /// <summary>A wrapper of the same static type as this one around another native task with the same kind of value.</summary>
        internal virtual TapirTask WrapLike(TaskHandle handle) => new TapirTask(handle);

        // ---- from System.Threading.Tasks ----

        /// <summary>
        /// A native task that completes as <paramref name="task"/> does, for C code to consume:
        /// faulted with each of its exceptions (in order, each the same object), or canceled.
        /// </summary>
        public static TapirTask FromTask(Task task)
        {
            if (task == null) throw new ArgumentNullException(nameof(task));
            var source = new TapirCompletionSource<object>();
            var result = source.Task;
            if (task.IsCompleted) FromTaskState<object>.Complete(task, source, false);
            else task.ContinueWith(FromTaskState<object>.CompleteUntyped, source, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return result;
        }

        /// <summary>As <see cref="FromTask(Task)"/>, with the value (see <see cref="TapirTask{T}"/> for how it travels).</summary>
        public static TapirTask<T> FromTask<T>(Task<T> task)
        {
            if (task == null) throw new ArgumentNullException(nameof(task));
            var source = new TapirCompletionSource<T>();
            var result = source.Task;
            if (task.IsCompleted) FromTaskState<T>.Complete(task, source, true);
            else task.ContinueWith(FromTaskState<T>.CompleteTyped, source, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return result;
        }

        private static class FromTaskState<T>
        {
            internal static readonly Action<Task, object> CompleteUntyped = (t, s) => Complete(t, (TapirCompletionSource<T>)s, false);
            internal static readonly Action<Task, object> CompleteTyped = (t, s) => Complete(t, (TapirCompletionSource<T>)s, true);

            internal static void Complete(Task task, TapirCompletionSource<T> source, bool typed)
            {
                try
                {
                    if (task.IsFaulted) source.TrySetException(task.Exception.InnerExceptions);
                    else if (task.IsCanceled) source.TrySetCanceled();
                    else source.TrySetResult(typed ? ((Task<T>)task).Result : default(T));
                }
                finally
                {
                    source.Dispose();   // completed: releasing the source does not break the promise
                }
            }
        }

        // ---- WaitAsync ----

        /// <summary>
        /// A task that completes as this one does, fails with a <see cref="TapirException"/> of
        /// code <see cref="TapirStatus.Timeout"/> after <paramref name="millisecondsTimeout"/>
        /// (-1: never), or ends canceled when <paramref name="cancellationToken"/> is canceled
        /// (Task.WaitAsync). This task is never affected.
        /// </summary>
        public TapirTask WaitAsync(int millisecondsTimeout, CancellationToken cancellationToken = default(CancellationToken)) =>
            WrapLike(WaitAsyncCore(millisecondsTimeout, cancellationToken));

        public TapirTask WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken)) =>
            WaitAsync(Milliseconds(timeout), cancellationToken);

        public TapirTask WaitAsync(CancellationToken cancellationToken) => WaitAsync(Timeout.Infinite, cancellationToken);

        internal TaskHandle WaitAsyncCore(int millisecondsTimeout, CancellationToken cancellationToken)
        {
            if (millisecondsTimeout < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsTimeout));
            var token = NativeToken.From(cancellationToken);
            TaskHandle result;
            try
            {
                Check.Status(NativeMethods.tapir_task_wait_async(Handle, millisecondsTimeout, token.Handle, out IntPtr t));
                result = new TaskHandle(t);
            }
            catch
            {
                token.Dispose();
                throw;
            }
            token.ReleaseWith(new TapirTask(result));
            return result;
        }
    }

    /// <summary>Completes the TaskCompletionSource behind <see cref="TapirTask.AsTask"/>.</summary>
    internal sealed class AsTaskState<T> : CallbackState
    {
        private readonly TaskCompletionSource<T> _tcs;
        private readonly bool _readValue;

        private AsTaskState(TaskCompletionSource<T> tcs, bool readValue)
        {
            _tcs = tcs;
            _readValue = readValue;
        }

        internal static Task Create(TapirTask owner, bool readValue)
        {
            var status = owner.Status;
            var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            switch (status)
            {
                case TapirTaskStatus.Succeeded:
                    return Task.FromResult(readValue ? ((TapirTask<T>)owner).Value() : default(T));
                case TapirTaskStatus.Faulted:
                    tcs.SetException(owner.GetErrors());
                    return tcs.Task;
                case TapirTaskStatus.Canceled:
                    tcs.SetCanceled();
                    return tcs.Task;
            }
            owner.OnCompleteCore(new AsTaskState<T>(tcs, readValue), Flags.ExecuteSynchronously, SchedulerHandle.Null);
            return tcs.Task;
        }

        internal override void OnComplete(IntPtr task)
        {
            try
            {
                switch ((TapirTaskStatus)NativeMethods.tapir_task_get_status(task))
                {
                    case TapirTaskStatus.Succeeded:
                        T value = default(T);
                        if (_readValue)
                        {
                            Check.Status(NativeMethods.tapir_task_result(task, out IntPtr bits));
                            value = ValueCodec<T>.Decode(bits);
                        }
                        _tcs.TrySetResult(value);
                        break;
                    case TapirTaskStatus.Faulted:
                        _tcs.TrySetException(Errors.TaskExceptions(task));
                        break;
                    default:
                        _tcs.TrySetCanceled();
                        break;
                }
            }
            catch (Exception e)
            {
                _tcs.TrySetException(e);
            }
        }
    }

    /// <summary>Native handles of a list of tasks, each kept alive (AddRef) for one native call.</summary>
    internal struct HandleList : IDisposable
    {
        internal readonly IntPtr[] Raw;
        private readonly SafeHandleRef[] _refs;

        private struct SafeHandleRef
        {
            internal System.Runtime.InteropServices.SafeHandle Handle;
            internal bool Added;
        }

        internal HandleList(IReadOnlyList<TapirTask> tasks, string paramName)
        {
            if (tasks == null) throw new ArgumentNullException(paramName);
            Raw = new IntPtr[tasks.Count];
            _refs = new SafeHandleRef[tasks.Count];
            try
            {
                for (int i = 0; i < tasks.Count; i++)
                {
                    var t = tasks[i];
                    if (t == null) throw new ArgumentException("The task list contains null.", paramName);
                    t.ThrowIfDisposed();
                    _refs[i].Handle = t.Handle;
                    t.Handle.DangerousAddRef(ref _refs[i].Added);
                    Raw[i] = t.Handle.DangerousGetHandle();
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        internal UIntPtr Count => (UIntPtr)Raw.Length;

        public void Dispose()
        {
            if (_refs == null) return;
            for (int i = 0; i < _refs.Length; i++)
            {
                if (_refs[i].Added)
                {
                    _refs[i].Handle.DangerousRelease();
                    _refs[i].Added = false;
                }
            }
        }
    }
}
