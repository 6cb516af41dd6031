using System;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    public partial class TapirTask
    {
        private static readonly Func<IntPtr, TapirTask> s_borrowPlain = p => new TapirTask(Wrap(p, true));

        /// <summary>
        /// ContinueWith: runs <paramref name="continuation"/> once this task completes, and
        /// returns the continuation's task. It receives a wrapper of this task of its own. An
        /// exception it throws fails the continuation task with that exception. Options are
        /// TPL's: ExecuteSynchronously, the OnlyOn*/NotOn* filters (a refused outcome ends the
        /// continuation task canceled without running it), LazyCancellation, LongRunning,
        /// RunContinuationsAsynchronously. It runs on <paramref name="scheduler"/> (null: the
        /// tapir pool); a canceled <paramref name="cancellationToken"/> ends it canceled unrun.
        /// </summary>
        public TapirTask ContinueWith(Action<TapirTask> continuation, TaskContinuationOptions options = TaskContinuationOptions.None,
            TapirScheduler scheduler = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (continuation == null) throw new ArgumentNullException(nameof(continuation));
            return new TapirTask(ContinueWithCore(new Continuation<TapirTask, object>(s_borrowPlain, t => { continuation(t); return null; }),
                options, scheduler, cancellationToken));
        }

        /// <summary>As <see cref="ContinueWith(Action{TapirTask}, TaskContinuationOptions, TapirScheduler, CancellationToken)"/>, with a result.</summary>
        public TapirTask<TResult> ContinueWith<TResult>(Func<TapirTask, TResult> continuation, TaskContinuationOptions options = TaskContinuationOptions.None,
            TapirScheduler scheduler = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (continuation == null) throw new ArgumentNullException(nameof(continuation));
            return new TapirTask<TResult>(ContinueWithCore(new Continuation<TapirTask, TResult>(s_borrowPlain, continuation),
                options, scheduler, cancellationToken));
        }

        internal TaskHandle ContinueWithCore(CallbackState state, TaskContinuationOptions options, TapirScheduler scheduler, CancellationToken cancellationToken)
        {
            uint flags = Flags.FromOptions(options);
            var token = NativeToken.From(cancellationToken);
            var schedulerHandle = scheduler?.Handle ?? SchedulerHandle.Null;
            IntPtr userData = Callbacks.Alloc(state);
            int rc;
            IntPtr task;
            bool addedScheduler = false, addedToken = false;
            try
            {
                schedulerHandle.DangerousAddRef(ref addedScheduler);
                token.Handle.DangerousAddRef(ref addedToken);
                var opts = ContinuationOptions.With(flags, schedulerHandle.DangerousGetHandle(), token.Handle.DangerousGetHandle());
                rc = NativeMethods.tapir_task_continue_with(Handle, Callbacks.OnContinuePtr, userData, Callbacks.FreeHandlePtr, ref opts, out task);
            }
            catch
            {
                Callbacks.Free(userData);
                token.Dispose();
                throw;
            }
            finally
            {
                if (addedScheduler) schedulerHandle.DangerousRelease();
                if (addedToken) token.Handle.DangerousRelease();
            }
            if (rc != 0)
            {
                Callbacks.Free(userData);
                token.Dispose();
                throw Check.Exception(rc);
            }
            var handle = new TaskHandle(task);
            token.ReleaseWith(new TapirTask(handle));
            return handle;
        }

        /// <summary>
        /// Registers <paramref name="callback"/> to run once this task completes, without making
        /// a continuation task (the cheapest form), and returns a registration that can remove
        /// it before it runs. An exception it throws is reported to
        /// <see cref="TapirRuntime.UnhandledCallbackException"/>.
        /// </summary>
        public TapirTaskRegistration RegisterContinuation(Action<TapirTask> callback, TaskContinuationOptions options = TaskContinuationOptions.None,
            TapirScheduler scheduler = null)
        {
            if (callback == null) throw new ArgumentNullException(nameof(callback));
            uint flags = Flags.FromOptions(options);
            var schedulerHandle = scheduler?.Handle ?? SchedulerHandle.Null;
            IntPtr userData = Callbacks.Alloc(new CompletionCallback(callback));
            int rc;
            IntPtr registration;
            bool added = false;
            try
            {
                schedulerHandle.DangerousAddRef(ref added);
                var opts = ContinuationOptions.With(flags, schedulerHandle.DangerousGetHandle(), IntPtr.Zero);
                rc = NativeMethods.tapir_task_on_complete(Handle, Callbacks.OnCompletePtr, userData, Callbacks.FreeHandlePtr, ref opts, out registration);
            }
            catch
            {
                Callbacks.Free(userData);
                throw;
            }
            finally
            {
                if (added) schedulerHandle.DangerousRelease();
            }
            if (rc != 0)
            {
                Callbacks.Free(userData);
                throw Check.Exception(rc);
            }
            return new TapirTaskRegistration(registration == IntPtr.Zero ? null : new RegistrationHandle(registration));
        }

        private sealed class CompletionCallback : CallbackState
        {
            private readonly Action<TapirTask> _callback;

            internal CompletionCallback(Action<TapirTask> callback) { _callback = callback; }

            internal override void OnComplete(IntPtr task) => _callback(s_borrowPlain(task));
        }
    }

    public partial class TapirTask<T>
    {
        private static readonly Func<IntPtr, TapirTask<T>> s_borrow = Borrow;

        /// <summary>ContinueWith for a task with a value; see <see cref="TapirTask.ContinueWith(Action{TapirTask}, TaskContinuationOptions, TapirScheduler, CancellationToken)"/>.</summary>
        public TapirTask ContinueWith(Action<TapirTask<T>> continuation, TaskContinuationOptions options = TaskContinuationOptions.None,
            TapirScheduler scheduler = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (continuation == null) throw new ArgumentNullException(nameof(continuation));
            return new TapirTask(ContinueWithCore(new Continuation<TapirTask<T>, object>(s_borrow, t => { continuation(t); return null; }),
                options, scheduler, cancellationToken));
        }

        public TapirTask<TResult> ContinueWith<TResult>(Func<TapirTask<T>, TResult> continuation, TaskContinuationOptions options = TaskContinuationOptions.None,
            TapirScheduler scheduler = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (continuation == null) throw new ArgumentNullException(nameof(continuation));
            return new TapirTask<TResult>(ContinueWithCore(new Continuation<TapirTask<T>, TResult>(s_borrow, continuation),
                options, scheduler, cancellationToken));
        }
    }

    /// <summary>A ContinueWith body: wraps the lent antecedent, runs the delegate, completes <c>next</c> with its result.</summary>
    internal sealed class Continuation<TAntecedent, TResult> : CallbackState where TAntecedent : TapirTask
    {
        private readonly Func<IntPtr, TAntecedent> _wrap;
        private readonly Func<TAntecedent, TResult> _body;

        internal Continuation(Func<IntPtr, TAntecedent> wrap, Func<TAntecedent, TResult> body)
        {
            _wrap = wrap;
            _body = body;
        }

        internal override void OnContinue(IntPtr antecedent, IntPtr next)
        {
            TResult result = _body(_wrap(antecedent));
            IntPtr bits = ValueCodec<TResult>.Encode(result, out IntPtr destroy);
            if (NativeMethods.tapir_source_set_result(next, bits, destroy) != 0) ValueCodec<TResult>.Discard(bits, destroy);
        }
    }

    /// <summary>A continuation registered with <see cref="TapirTask.RegisterContinuation"/> (tapir_registration).</summary>
    public sealed class TapirTaskRegistration : IDisposable
    {
        private readonly RegistrationHandle _handle;

        internal TapirTaskRegistration(RegistrationHandle handle) { _handle = handle; }

        /// <summary>
        /// Removes the callback. True if it was removed before running (it never runs); false if
        /// it already ran, is running or was dispatched, or was removed before (also when the task
        /// had completed at registration, so the callback was dispatched at once).
        /// </summary>
        public bool Remove()
        {
            if (_handle == null) return false;
            int rc = NativeMethods.tapir_registration_remove(_handle);
            if (rc == (int)TapirStatus.AlreadyCompleted) return false;
            Check.Status(rc);
            return true;
        }

        /// <summary>Releases the registration handle; it does not remove the callback.</summary>
        public void Dispose() => _handle?.Dispose();
    }
}
