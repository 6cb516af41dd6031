using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    public partial class TapirTask
    {
        // ---- already-completed tasks ----

        private static TapirTask s_completed;

        /// <summary>The shared, already-succeeded task (Task.CompletedTask). Dispose does nothing on it.</summary>
        public static TapirTask CompletedTask
        {
            get
            {
                var t = s_completed;
                if (t != null) return t;
                Check.Status(NativeMethods.tapir_task_completed(out IntPtr task));
                Interlocked.CompareExchange(ref s_completed, new TapirTask(new TaskHandle(task), TapirTaskStatus.Succeeded, shared: true), null);
                return s_completed;
            }
        }

        /// <summary>A task that has already succeeded with <paramref name="value"/> (Task.FromResult).</summary>
        public static TapirTask<T> FromResult<T>(T value)
        {
            IntPtr bits = ValueCodec<T>.Encode(value, out IntPtr destroy);
            int rc = NativeMethods.tapir_task_from_result(bits, destroy, out IntPtr task);
            if (rc != 0)
            {
                ValueCodec<T>.Discard(bits, destroy);
                throw Check.Exception(rc);
            }
            return new TapirTask<T>(new TaskHandle(task), value);
        }

        /// <summary>A task that has already faulted with <paramref name="exception"/> (Task.FromException).</summary>
        public static TapirTask FromException(Exception exception) => new TapirTask(FromExceptionCore(exception));

        public static TapirTask<T> FromException<T>(Exception exception) => new TapirTask<T>(FromExceptionCore(exception));

        private static TaskHandle FromExceptionCore(Exception exception)
        {
            if (exception == null) throw new ArgumentNullException(nameof(exception));
            using (var error = Errors.FromException(exception))
            {
                Check.Status(NativeMethods.tapir_task_from_error(error, out IntPtr task));
                return new TaskHandle(task);
            }
        }

        /// <summary>A task that has already been canceled by <paramref name="cancellationToken"/>, which must be canceled (Task.FromCanceled).</summary>
        public static TapirTask FromCanceled(CancellationToken cancellationToken) => new TapirTask(FromCanceledCore(cancellationToken));

        public static TapirTask<T> FromCanceled<T>(CancellationToken cancellationToken) => new TapirTask<T>(FromCanceledCore(cancellationToken));

        private static TaskHandle FromCanceledCore(CancellationToken cancellationToken)
        {
            if (!cancellationToken.IsCancellationRequested) throw new ArgumentOutOfRangeException(nameof(cancellationToken), "The token is not canceled.");
            using (var token = NativeToken.From(cancellationToken))
            {
                Check.Status(NativeMethods.tapir_task_from_canceled(token.Handle, out IntPtr task));
                return new TaskHandle(task);
            }
        }

        // ---- time ----

        /// <summary>
        /// A task that succeeds after <paramref name="millisecondsDelay"/> (Task.Delay): 0 at once,
        /// -1 never (it ends only by the token), never early; canceled when
        /// <paramref name="cancellationToken"/> is canceled first (or already).
        /// </summary>
        public static TapirTask Delay(int millisecondsDelay, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (millisecondsDelay < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsDelay));
            var token = NativeToken.From(cancellationToken);
            TapirTask result;
            try
            {
                Check.Status(NativeMethods.tapir_delay(millisecondsDelay, token.Handle, out IntPtr task));
                result = new TapirTask(new TaskHandle(task));
            }
            catch
            {
                token.Dispose();
                throw;
            }
            token.ReleaseWith(result);
            return result;
        }

        public static TapirTask Delay(TimeSpan delay, CancellationToken cancellationToken = default(CancellationToken)) =>
            Delay(Milliseconds(delay), cancellationToken);

        /// <summary>A task that completes asynchronously on the tapir scheduler running the caller (or the pool), as Task.Yield.</summary>
        public static TapirTask Yield()
        {
            Check.Status(NativeMethods.tapir_yield(out IntPtr task));
            return new TapirTask(new TaskHandle(task));
        }

        // ---- Run ----

        /// <summary>
        /// Runs <paramref name="action"/> on <paramref name="scheduler"/> (null: the tapir pool)
        /// and returns its task (Task.Run). An exception fails the task with that exception; a
        /// token canceled before the work starts ends the task canceled without running it.
        /// </summary>
        public static TapirTask Run(Action action, CancellationToken cancellationToken = default(CancellationToken), TapirScheduler scheduler = null)
        {
            if (action == null) throw new ArgumentNullException(nameof(action));
            return new TapirTask(RunCore(new RunBody<object>(() => { action(); return null; }), cancellationToken, scheduler));
        }

        public static TapirTask<T> Run<T>(Func<T> function, CancellationToken cancellationToken = default(CancellationToken), TapirScheduler scheduler = null)
        {
            if (function == null) throw new ArgumentNullException(nameof(function));
            return new TapirTask<T>(RunCore(new RunBody<T>(function), cancellationToken, scheduler));
        }

        /// <summary>Run with an asynchronous body: the task completes as the task the body returns (null: canceled).</summary>
        public static TapirTask Run(Func<TapirTask> function, CancellationToken cancellationToken = default(CancellationToken), TapirScheduler scheduler = null)
        {
            if (function == null) throw new ArgumentNullException(nameof(function));
            return new TapirTask(RunCore(new RunForward(function), cancellationToken, scheduler));
        }

        public static TapirTask<T> Run<T>(Func<TapirTask<T>> function, CancellationToken cancellationToken = default(CancellationToken), TapirScheduler scheduler = null)
        {
            if (function == null) throw new ArgumentNullException(nameof(function));
            return new TapirTask<T>(RunCore(new RunForward(function), cancellationToken, scheduler));
        }

        /// <summary>Run with an async lambda: the task completes as the returned <see cref="Task"/> does.</summary>
        public static TapirTask Run(Func<Task> function, CancellationToken cancellationToken = default(CancellationToken), TapirScheduler scheduler = null)
        {
            if (function == null) throw new ArgumentNullException(nameof(function));
            return new TapirTask(RunCore(new RunForward(() => { var t = function(); return t == null ? null : FromTask(t); }), cancellationToken, scheduler));
        }

        public static TapirTask<T> Run<T>(Func<Task<T>> function, CancellationToken cancellationToken = default(CancellationToken), TapirScheduler scheduler = null)
        {
            if (function == null) throw new ArgumentNullException(nameof(function));
            return new TapirTask<T>(RunCore(new RunForward(() => { var t = function(); return t == null ? null : FromTask(t); }), cancellationToken, scheduler));
        }

        private static TaskHandle RunCore(CallbackState body, CancellationToken cancellationToken, TapirScheduler scheduler)
        {
            var token = NativeToken.From(cancellationToken);
            var schedulerHandle = scheduler?.Handle ?? SchedulerHandle.Null;
            IntPtr userData = Callbacks.Alloc(body);
            int rc;
            IntPtr task;
            try
            {
                rc = NativeMethods.tapir_run(schedulerHandle, Callbacks.OnRunPtr, userData, Callbacks.FreeHandlePtr, token.Handle, out task);
            }
            catch
            {
                Callbacks.Free(userData);
                token.Dispose();
                throw;
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

        private sealed class RunBody<T> : CallbackState
        {
            private readonly Func<T> _function;

            internal RunBody(Func<T> function) { _function = function; }

            internal override void OnRun(IntPtr source)
            {
                T result = _function();
                IntPtr bits = ValueCodec<T>.Encode(result, out IntPtr destroy);
                if (NativeMethods.tapir_source_set_result(source, bits, destroy) != 0) ValueCodec<T>.Discard(bits, destroy);
            }
        }

        private sealed class RunForward : CallbackState
        {
            private readonly Func<TapirTask> _function;

            internal RunForward(Func<TapirTask> function) { _function = function; }

            internal override void OnRun(IntPtr source)
            {
                var inner = _function();
                if (inner == null) NativeMethods.tapir_source_set_canceled(source, CancelTokenHandle.Null);
                else Check.Status(NativeMethods.tapir_source_set_from_task(source, inner.Handle));
            }
        }

        // ---- WhenAll ----

        /// <summary>
        /// A task that completes when all of <paramref name="tasks"/> have (Task.WhenAll). It
        /// fails when any failed, with every error in input order whatever the completion order
        /// (await rethrows the first; Wait throws them all as an AggregateException); otherwise
        /// it ends canceled if any was canceled. Empty input succeeds at once.
        /// </summary>
        public static TapirTask WhenAll(params TapirTask[] tasks) => new TapirTask(Combine(NativeMethods.tapir_when_all, tasks, nameof(tasks)));

        public static TapirTask WhenAll(IEnumerable<TapirTask> tasks) => WhenAll(ToArray(tasks, nameof(tasks)));

        /// <summary>As <see cref="WhenAll(TapirTask[])"/>, with the values in input order.</summary>
        public static TapirTask<T[]> WhenAll<T>(params TapirTask<T>[] tasks) =>
            ValuesOf<T>(Combine(NativeMethods.tapir_when_all, tasks, nameof(tasks)), tasks.Length);   // Combine checks for null first

        public static TapirTask<T[]> WhenAll<T>(IEnumerable<TapirTask<T>> tasks) => WhenAll(ToArray(tasks, nameof(tasks)));

        /// <summary>
        /// WhenAllOrFirstException: fails as soon as one input fails, with that input's errors
        /// (later failures are observed and dropped); otherwise completes as WhenAll does.
        /// </summary>
        public static TapirTask WhenAllOrFirstException(params TapirTask[] tasks) =>
            new TapirTask(Combine(NativeMethods.tapir_when_all_or_first_error, tasks, nameof(tasks)));

        public static TapirTask<T[]> WhenAllOrFirstException<T>(params TapirTask<T>[] tasks) =>
            ValuesOf<T>(Combine(NativeMethods.tapir_when_all_or_first_error, tasks, nameof(tasks)), tasks.Length);   // Combine checks for null first

        private delegate int NativeCombinator(IntPtr[] tasks, UIntPtr count, out IntPtr task);

        private static TaskHandle Combine(NativeCombinator combinator, IReadOnlyList<TapirTask> tasks, string paramName)
        {
            using (var list = new HandleList(tasks, paramName))
            {
                Check.Status(combinator(list.Raw, list.Count, out IntPtr task));
                return new TaskHandle(task);
            }
        }

        /// <summary>The values of a when_all task (its native value is an array of the inputs' values) as a T[].</summary>
        private static TapirTask<T[]> ValuesOf<T>(TaskHandle all, int count) =>
            new TapirTask<T[]>(new TapirTask(all).ContinueWithCore(new SlotsToArray<T>(all, count), TaskContinuationOptions.ExecuteSynchronously, null, CancellationToken.None));

        private sealed class SlotsToArray<T> : CallbackState
        {
            private readonly TaskHandle _all;
            private readonly int _count;

            internal SlotsToArray(TaskHandle all, int count)
            {
                _all = all;
                _count = count;
            }

            internal override void OnContinue(IntPtr antecedent, IntPtr next)
            {
                GC.KeepAlive(_all);   // the state holds the when_all task until the conversion has run
                if (NativeMethods.tapir_task_get_status(antecedent) != (int)TapirTaskStatus.Succeeded)
                {
                    NativeMethods.tapir_source_set_from_task(next, antecedent);   // the errors, in order, or the cancellation
                    return;
                }
                Check.Status(NativeMethods.tapir_task_result(antecedent, out IntPtr slots));
                var values = new T[_count];
                for (int i = 0; i < _count; i++) values[i] = ValueCodec<T>.Decode(Marshal.ReadIntPtr(slots, i * IntPtr.Size));
                IntPtr bits = ValueCodec<T[]>.Encode(values, out IntPtr destroy);
                if (NativeMethods.tapir_source_set_result(next, bits, destroy) != 0) ValueCodec<T[]>.Discard(bits, destroy);
            }
        }

        // ---- WhenAny, Interleaved ----

        /// <summary>
        /// A task that succeeds with the first of <paramref name="tasks"/> to complete, whatever
        /// its outcome (Task.WhenAny); among inputs already completed, the first in input order
        /// wins. With <paramref name="cancelOnComplete"/>, that source is canceled when the winner
        /// is known, so the others can stop.
        /// </summary>
        public static TapirTask<TapirTask> WhenAny(params TapirTask[] tasks) => WhenAny(tasks, null);

        public static TapirTask<TapirTask> WhenAny(TapirTask[] tasks, TapirCancellationSource cancelOnComplete) =>
            WinnerOf<TapirTask>(AnyCore(tasks, cancelOnComplete), tasks);

        public static TapirTask<TapirTask<T>> WhenAny<T>(params TapirTask<T>[] tasks) => WhenAny(tasks, null);

        public static TapirTask<TapirTask<T>> WhenAny<T>(TapirTask<T>[] tasks, TapirCancellationSource cancelOnComplete) =>
            WinnerOf<TapirTask<T>>(AnyCore(tasks, cancelOnComplete), tasks);

        private static TaskHandle AnyCore(IReadOnlyList<TapirTask> tasks, TapirCancellationSource cancelOnComplete)
        {
            using (var list = new HandleList(tasks, nameof(tasks)))
            {
                Check.Status(NativeMethods.tapir_when_any(list.Raw, list.Count, cancelOnComplete?.Handle ?? CancelSourceHandle.Null, out IntPtr task));
                return new TaskHandle(task);
            }
        }

        private static TapirTask<TTask> WinnerOf<TTask>(TaskHandle any, TTask[] tasks) where TTask : TapirTask =>
            new TapirTask<TTask>(new TapirTask(any).ContinueWithCore(new IndexToTask<TTask>(any, (TTask[])tasks.Clone()),
                TaskContinuationOptions.ExecuteSynchronously, null, CancellationToken.None));

        private sealed class IndexToTask<TTask> : CallbackState where TTask : TapirTask
        {
            private readonly TaskHandle _any;
            private readonly TTask[] _tasks;

            internal IndexToTask(TaskHandle any, TTask[] tasks)
            {
                _any = any;
                _tasks = tasks;
            }

            internal override void OnContinue(IntPtr antecedent, IntPtr next)
            {
                GC.KeepAlive(_any);   // the state holds the when_any task until the conversion has run
                if (NativeMethods.tapir_task_get_status(antecedent) != (int)TapirTaskStatus.Succeeded)
                {
                    NativeMethods.tapir_source_set_from_task(next, antecedent);
                    return;
                }
                Check.Status(NativeMethods.tapir_task_result(antecedent, out IntPtr index));
                IntPtr bits = ValueCodec<TTask>.Encode(_tasks[(int)index.ToInt64()], out IntPtr destroy);
                if (NativeMethods.tapir_source_set_result(next, bits, destroy) != 0) ValueCodec<TTask>.Discard(bits, destroy);
            }
        }

        /// <summary>
        /// Interleaved (Task.WhenEach): returns as many tasks as inputs; the k-th completes the way
        /// the k-th input to complete did (its value, errors or cancellation). Await them in
        /// order to process results as they arrive.
        /// </summary>
        public static TapirTask<T>[] Interleaved<T>(IEnumerable<TapirTask<T>> tasks)
        {
            var inputs = ToArray(tasks, nameof(tasks));
            var raw = InterleavedCore(inputs);
            var result = new TapirTask<T>[raw.Length];
            for (int i = 0; i < raw.Length; i++) result[i] = new TapirTask<T>(new TaskHandle(raw[i]));
            return result;
        }

        public static TapirTask[] Interleaved(IEnumerable<TapirTask> tasks)
        {
            var inputs = ToArray(tasks, nameof(tasks));
            var raw = InterleavedCore(inputs);
            var result = new TapirTask[raw.Length];
            for (int i = 0; i < raw.Length; i++) result[i] = new TapirTask(new TaskHandle(raw[i]));
            return result;
        }

        private static IntPtr[] InterleavedCore(IReadOnlyList<TapirTask> inputs)
        {
            using (var list = new HandleList(inputs, "tasks"))
            {
                var outputs = new IntPtr[list.Raw.Length];
                Check.Status(NativeMethods.tapir_interleaved(list.Raw, list.Count, outputs));
                return outputs;
            }
        }

        // ---- the factories: RetryOnFault, NeedOnlyOne, ForEachThrottled ----

        /// <summary>
        /// RetryOnFault: calls <paramref name="function"/> (with the attempt number, from 0), and
        /// again after each failure, until an attempt succeeds or <paramref name="maxTries"/>
        /// attempts were made; the result completes as the last attempt did. Between tries it
        /// awaits <paramref name="retryWhen"/>'s task when given (for instance a Delay); a gate
        /// that fails or is canceled ends the retry that way.
        /// </summary>
        public static TapirTask<T> RetryOnFault<T>(Func<int, TapirTask<T>> function, int maxTries, Func<int, TapirTask> retryWhen = null)
        {
            if (function == null) throw new ArgumentNullException(nameof(function));
            if (maxTries <= 0) throw new ArgumentOutOfRangeException(nameof(maxTries));
            var state = new Factory(i => function(i), retryWhen);
            return new TapirTask<T>(FactoryCall(state, (IntPtr ud, out IntPtr task) =>
                NativeMethods.tapir_retry_on_fault(Callbacks.OnFactoryPtr, retryWhen == null ? IntPtr.Zero : Callbacks.OnGatePtr,
                    ud, Callbacks.FreeHandlePtr, (uint)maxTries, out task)));
        }

        public static TapirTask<T> RetryOnFault<T>(Func<TapirTask<T>> function, int maxTries, Func<TapirTask> retryWhen = null)
        {
            if (function == null) throw new ArgumentNullException(nameof(function));
            return RetryOnFault(i => function(), maxTries, retryWhen == null ? (Func<int, TapirTask>)null : i => retryWhen());
        }

        /// <summary>
        /// NeedOnlyOne: starts every function with one shared token; the first task to complete
        /// gives the result (its value, errors or cancellation) and the token is canceled right
        /// after so the others can stop (their later failures count as observed).
        /// </summary>
        public static TapirTask<T> NeedOnlyOne<T>(params Func<CancellationToken, TapirTask<T>>[] functions)
        {
            if (functions == null) throw new ArgumentNullException(nameof(functions));
            if (functions.Length == 0) throw new ArgumentException("At least one function is needed.", nameof(functions));
            foreach (var f in functions) if (f == null) throw new ArgumentException("The function list contains null.", nameof(functions));
            var copy = (Func<CancellationToken, TapirTask<T>>[])functions.Clone();
            var state = new CancelableFactory((i, token) => copy[i](token));
            return new TapirTask<T>(FactoryCall(state, (IntPtr ud, out IntPtr task) =>
                NativeMethods.tapir_need_only_one(Callbacks.OnCancelableFactoryPtr, ud, Callbacks.FreeAndDisposePtr, (uint)copy.Length, out task)));
        }

        /// <summary>
        /// The throttled loop: runs <paramref name="body"/>(i) for i in 0..count-1 with at most
        /// <paramref name="maxInFlight"/> of the returned tasks pending at once. The result
        /// succeeds when every task succeeded; otherwise it fails with all errors in index order,
        /// or ends canceled.
        /// </summary>
        public static TapirTask ForEachThrottled(int count, int maxInFlight, Func<int, TapirTask> body)
        {
            if (body == null) throw new ArgumentNullException(nameof(body));
            if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
            if (maxInFlight <= 0) throw new ArgumentOutOfRangeException(nameof(maxInFlight));
            var state = new Factory(body, null);
            return new TapirTask(FactoryCall(state, (IntPtr ud, out IntPtr task) =>
                NativeMethods.tapir_for_each_throttled(Callbacks.OnFactoryPtr, ud, Callbacks.FreeHandlePtr, (uint)count, (uint)maxInFlight, out task)));
        }

        /// <summary>ForEachThrottled over a list of items.</summary>
        public static TapirTask ForEachThrottled<TItem>(IReadOnlyList<TItem> items, int maxInFlight, Func<TItem, TapirTask> body)
        {
            if (items == null) throw new ArgumentNullException(nameof(items));
            if (body == null) throw new ArgumentNullException(nameof(body));
            return ForEachThrottled(items.Count, maxInFlight, i => body(items[i]));
        }

        private delegate int FactoryNative(IntPtr userData, out IntPtr task);

        private static TaskHandle FactoryCall(CallbackState state, FactoryNative call)
        {
            IntPtr userData = Callbacks.Alloc(state);
            int rc;
            IntPtr task;
            try
            {
                rc = call(userData, out task);
            }
            catch
            {
                Callbacks.Free(userData);
                throw;
            }
            if (rc != 0)
            {
                Callbacks.Free(userData);
                throw Check.Exception(rc);
            }
            return new TaskHandle(task);
        }

        /// <summary>A new native reference to the task a factory returned (tapir takes it); NULL for null.</summary>
        private static IntPtr Handed(TapirTask task) => task == null ? IntPtr.Zero : task.RetainNativeHandle();

        private sealed class Factory : CallbackState
        {
            private readonly Func<int, TapirTask> _factory;
            private readonly Func<int, TapirTask> _gate;

            internal Factory(Func<int, TapirTask> factory, Func<int, TapirTask> gate)
            {
                _factory = factory;
                _gate = gate;
            }

            internal override IntPtr OnFactory(uint index) => Handed(_factory((int)index));

            internal override IntPtr OnGate(uint index) => Handed(_gate((int)index));
        }

        private sealed class CancelableFactory : CallbackState, IDisposable
        {
            private readonly Func<int, CancellationToken, TapirTask> _factory;
            private TapirCancellationToken _token;
            private CancellationToken _managed;

            internal CancelableFactory(Func<int, CancellationToken, TapirTask> factory) { _factory = factory; }

            internal override IntPtr OnCancelableFactory(uint index, IntPtr token)
            {
                if (_token == null)
                {
                    _token = TapirCancellationToken.Borrow(token);   // every call receives the same shared token
                    _managed = _token.ToCancellationToken();
                }
                return Handed(_factory((int)index, _managed));
            }

            public void Dispose() => _token?.Dispose();
        }

        // ---- blocking waits on several tasks ----

        /// <summary>Blocks until every task completes; throws AggregateException with every error (task order) if any faulted or was canceled.</summary>
        public static void WaitAll(params TapirTask[] tasks) => WaitAll(tasks, Timeout.Infinite);

        /// <summary>As <see cref="WaitAll(TapirTask[])"/>; false when the time runs out.</summary>
        public static bool WaitAll(TapirTask[] tasks, int millisecondsTimeout)
        {
            if (millisecondsTimeout < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsTimeout));
            CheckWaitList(tasks, nameof(tasks));
            if (!BlockUntilAllCompleted(tasks, millisecondsTimeout)) return false;
            bool allSucceeded = true;
            foreach (var t in tasks) allSucceeded &= t.Status == TapirTaskStatus.Succeeded;
            if (allSucceeded) return true;
            var errors = new List<Exception>();
            foreach (var t in tasks)
            {
                if (t.IsFaulted) errors.AddRange(t.GetErrors());
                else if (t.IsCanceled) errors.Add(new TaskCanceledException());
            }
            throw new AggregateException(errors);
        }

        /// <summary>Blocks until one task completes and returns its index (Task.WaitAny).</summary>
        public static int WaitAny(params TapirTask[] tasks) => WaitAny(tasks, Timeout.Infinite);

        /// <summary>As <see cref="WaitAny(TapirTask[])"/>; -1 when the time runs out.</summary>
        public static int WaitAny(TapirTask[] tasks, int millisecondsTimeout)
        {
            if (millisecondsTimeout < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsTimeout));
            CheckWaitList(tasks, nameof(tasks));
            return BlockUntilAnyCompleted(tasks, millisecondsTimeout);
        }

        private static void CheckWaitList(TapirTask[] tasks, string paramName)
        {
            if (tasks == null) throw new ArgumentNullException(paramName);
            foreach (var t in tasks)
            {
                if (t == null) throw new ArgumentException("The task list contains null.", paramName);
                t.ThrowIfDisposed();
            }
        }

        private static T[] ToArray<T>(IEnumerable<T> items, string paramName)
        {
            if (items == null) throw new ArgumentNullException(paramName);
            return items as T[] ?? new List<T>(items).ToArray();
        }
    }

    /// <summary>Unwrap for tasks whose value is a task (Task.Unwrap).</summary>
    public static class TapirTaskExtensions
    {
        /// <summary>
        /// A proxy that completes as the inner task does; it fails or is canceled as the outer
        /// task does if that one does not succeed, and ends canceled if the inner task is null.
        /// </summary>
        public static TapirTask<T> Unwrap<T>(this TapirTask<TapirTask<T>> task) => UnwrapCore<TapirTask<T>, T>(task);

        public static TapirTask Unwrap(this TapirTask<TapirTask> task) => UnwrapCore<TapirTask, object>(task);

        private static TapirTask<TResult> UnwrapCore<TInner, TResult>(TapirTask<TInner> outer) where TInner : TapirTask
        {
            if (outer == null) throw new ArgumentNullException(nameof(outer));
            var source = new TapirCompletionSource<TResult>();
            var proxy = source.Task;
            outer.OnCompleteCore(new UnwrapState<TInner, TResult>(source), Flags.ExecuteSynchronously, SchedulerHandle.Null, Callbacks.FreeAndDisposePtr);
            return proxy;
        }

        private sealed class UnwrapState<TInner, TResult> : CallbackState, IDisposable where TInner : TapirTask
        {
            private readonly TapirCompletionSource<TResult> _source;

            internal UnwrapState(TapirCompletionSource<TResult> source) { _source = source; }

            internal override void OnComplete(IntPtr outer)
            {
                try
                {
                    if (NativeMethods.tapir_task_get_status(outer) != (int)TapirTaskStatus.Succeeded)
                    {
                        _source.SetFromNativeTask(outer);
                        return;
                    }
                    Check.Status(NativeMethods.tapir_task_result(outer, out IntPtr bits));
                    var inner = ValueCodec<TInner>.Decode(bits);
                    if (inner == null) _source.TrySetCanceled();
                    else _source.SetFromNativeTask(inner.NativeHandle);
                }
                catch (Exception e)
                {
                    _source.TrySetException(e);
                }
            }

            // Releasing the source after it was completed or forwarded does not break the promise;
            // if the outer task is dropped without ever completing, the proxy breaks its promise.
            public void Dispose() => _source.Dispose();
        }
    }
}
