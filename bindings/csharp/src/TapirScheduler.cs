using System;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// Where tapir callbacks run (TaskScheduler / SynchronizationContext): the default pool,
    /// inline, a <see cref="ManualScheduler"/> a host loop pumps, or a host's own
    /// SynchronizationContext or TaskScheduler. Two wrappers of the same native scheduler are
    /// equal.
    /// </summary>
    public class TapirScheduler : IDisposable
    {
        internal readonly SchedulerHandle Handle;
        private readonly bool _permanent;
        private static TapirScheduler s_default, s_inline;

        internal TapirScheduler(SchedulerHandle handle, bool permanent = false)
        {
            Handle = handle;
            _permanent = permanent;
        }

        /// <summary>The tapir pool: work stealing, one thread per core, started on first use.</summary>
        public static TapirScheduler Default => s_default ?? Permanent(ref s_default, NativeMethods.tapir_scheduler_default);

        /// <summary>Runs work on the posting thread before the post returns.</summary>
        public static TapirScheduler Inline => s_inline ?? Permanent(ref s_inline, NativeMethods.tapir_scheduler_inline);

        private delegate int Getter(out IntPtr scheduler);

        private static TapirScheduler Permanent(ref TapirScheduler field, Getter getter)
        {
            Check.Status(getter(out IntPtr s));
            Interlocked.CompareExchange(ref field, new TapirScheduler(new SchedulerHandle(s), true), null);
            return field;
        }

        /// <summary>
        /// The tapir scheduler running the current callback (a pool thread, a ManualScheduler's
        /// RunPending, a host scheduler's work item), or null on a thread that is not running
        /// tapir work. A ManualScheduler created here comes back as the same object.
        /// </summary>
        public static TapirScheduler Current
        {
            get
            {
                IntPtr raw = NativeMethods.tapir_scheduler_current();
                if (raw == IntPtr.Zero) return null;
                if (ManualScheduler.TryFind(raw, out ManualScheduler manual))
                {
                    NativeMethods.tapir_scheduler_release(raw);
                    return manual;
                }
                return new TapirScheduler(new SchedulerHandle(raw));
            }
        }

        public IntPtr NativeHandle => Handle.Value;

        /// <summary>Queues <paramref name="action"/>; an exception it throws goes to <see cref="TapirRuntime.UnhandledCallbackException"/>.</summary>
        public void Post(Action action)
        {
            if (action == null) throw new ArgumentNullException(nameof(action));
            PostCore(action);
        }

        internal void PostCore(object state)
        {
            IntPtr userData = Callbacks.Alloc(state);
            int rc;
            try
            {
                rc = NativeMethods.tapir_scheduler_post(Handle, Callbacks.OnWorkPtr, userData, Callbacks.FreeHandlePtr);
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
        }

        /// <summary>
        /// A tapir scheduler that hands each work item to <paramref name="context"/>'s Post (a UI
        /// or game main thread): continuations registered with it run wherever the context runs
        /// its posts. Work the context never runs is discarded when collected.
        /// </summary>
        public static TapirScheduler FromSynchronizationContext(SynchronizationContext context)
        {
            if (context == null) throw new ArgumentNullException(nameof(context));
            return Foreign(new ContextPoster(context));
        }

        /// <summary>A tapir scheduler that runs each work item as a task on <paramref name="scheduler"/>.</summary>
        public static TapirScheduler FromTaskScheduler(TaskScheduler scheduler)
        {
            if (scheduler == null) throw new ArgumentNullException(nameof(scheduler));
            return Foreign(new TaskSchedulerPoster(scheduler));
        }

        private static TapirScheduler Foreign(CallbackState poster)
        {
            var vtable = new SchedulerVTable { struct_size = SchedulerVTable.Size, post = Callbacks.OnPostPtr, destroy = Callbacks.FreeHandlePtr };
            IntPtr ctx = Callbacks.Alloc(poster);
            int rc;
            IntPtr scheduler;
            try
            {
                rc = NativeMethods.tapir_scheduler_new_foreign(ref vtable, ctx, out scheduler);
            }
            catch
            {
                Callbacks.Free(ctx);
                throw;
            }
            if (rc != 0)
            {
                Callbacks.Free(ctx);
                throw Check.Exception(rc);
            }
            return new TapirScheduler(new SchedulerHandle(scheduler));
        }

        /// <summary>Releases this reference. The default and inline schedulers are permanent: Dispose does nothing on them.</summary>
        public virtual void Dispose()
        {
            if (!_permanent) Handle.Dispose();
        }

        public override bool Equals(object obj) =>
            obj is TapirScheduler other && other.Handle.DangerousGetHandle() == Handle.DangerousGetHandle();

        public override int GetHashCode() => Handle.DangerousGetHandle().GetHashCode();

        private static readonly SendOrPostCallback s_runWork = s => ((WorkHandle)s).Run();
        private static readonly Action<object> s_runWorkAction = s => ((WorkHandle)s).Run();

        private sealed class ContextPoster : CallbackState
        {
            private readonly SynchronizationContext _context;

            internal ContextPoster(SynchronizationContext context) { _context = context; }

            internal override void OnPost(IntPtr work)
            {
                var item = new WorkHandle(work);   // owned from here on: run, or discarded when dropped
                try { _context.Post(s_runWork, item); }
                catch (Exception e)
                {
                    item.Dispose();
                    TapirRuntime.ReportUnhandled(e);
                }
            }
        }

        private sealed class TaskSchedulerPoster : CallbackState
        {
            private readonly TaskScheduler _scheduler;

            internal TaskSchedulerPoster(TaskScheduler scheduler) { _scheduler = scheduler; }

            internal override void OnPost(IntPtr work)
            {
                var item = new WorkHandle(work);
                try { Task.Factory.StartNew(s_runWorkAction, item, CancellationToken.None, TaskCreationOptions.DenyChildAttach, _scheduler); }
                catch (Exception e)
                {
                    item.Dispose();
                    TapirRuntime.ReportUnhandled(e);
                }
            }
        }
    }

    /// <summary>
    /// A scheduler whose work waits in a queue until the host runs it with
    /// <see cref="RunPending(int, int)"/>, e.g. once per frame on a game's main thread. Posting
    /// is thread-safe. Its <see cref="SynchronizationContext"/> makes <c>await</c> resume on the
    /// thread that pumps it. Disposing it discards queued work (user data destroyed,
    /// continuation tasks break their promise).
    /// </summary>
    public sealed class ManualScheduler : TapirScheduler
    {
        private static readonly ConcurrentDictionary<IntPtr, WeakReference<ManualScheduler>> s_live =
            new ConcurrentDictionary<IntPtr, WeakReference<ManualScheduler>>();
        [ThreadStatic] private static ManualScheduler t_pumping;
        private readonly IntPtr _raw;

        public ManualScheduler() : this(Create()) { }

        private ManualScheduler(SchedulerHandle handle) : base(handle)
        {
            _raw = Handle.DangerousGetHandle();
            SynchronizationContext = new TapirSynchronizationContext(this);
            s_live[_raw] = new WeakReference<ManualScheduler>(this);
        }

        private static SchedulerHandle Create()
        {
            Check.Status(NativeMethods.tapir_scheduler_new_manual(out IntPtr s));
            return new SchedulerHandle(s);
        }

        /// <summary>
        /// A test scheduler: a manual scheduler whose queued work runs in an order chosen by
        /// <paramref name="seed"/> (the same seed, the same order, run after run), so a test of
        /// races is reproducible. With <see cref="TapirConfig.SingleThreaded"/> and
        /// <see cref="RunUntilIdle"/>, a whole test runs at once on the calling thread, delays of
        /// hours included.
        /// </summary>
        public static ManualScheduler CreateTest(ulong seed)
        {
            Check.Status(NativeMethods.tapir_scheduler_new_test(seed, out IntPtr s));
            return new ManualScheduler(new SchedulerHandle(s));
        }

        internal static bool TryFind(IntPtr raw, out ManualScheduler scheduler)
        {
            scheduler = null;
            return s_live.TryGetValue(raw, out WeakReference<ManualScheduler> weak) && weak.TryGetTarget(out scheduler) && !scheduler.Handle.IsClosed;
        }

        /// <summary>The context that posts to this scheduler; RunPending installs it while it runs.</summary>
        public TapirSynchronizationContext SynchronizationContext { get; }

        /// <summary>True on the thread inside this scheduler's RunPending.</summary>
        public bool IsPumpingOnCurrentThread => ReferenceEquals(t_pumping, this);

        /// <summary>
        /// Runs queued work on the calling thread until the queue is empty,
        /// <paramref name="maxItems"/> items ran (0: no limit) or <paramref name="maxMilliseconds"/>
        /// passed (-1: no limit; checked between items). Returns how many ran. While it runs,
        /// <see cref="SynchronizationContext.Current"/> is this scheduler's context, so an
        /// <c>await</c> inside a work item resumes here too.
        /// </summary>
        public int RunPending(int maxItems = 0, int maxMilliseconds = -1)
        {
            if (maxItems < 0) throw new ArgumentOutOfRangeException(nameof(maxItems));
            if (maxMilliseconds < -1) throw new ArgumentOutOfRangeException(nameof(maxMilliseconds));
            var previousContext = System.Threading.SynchronizationContext.Current;
            var previousPump = t_pumping;
            System.Threading.SynchronizationContext.SetSynchronizationContext(SynchronizationContext);
            t_pumping = this;
            try
            {
                Check.Status(NativeMethods.tapir_scheduler_run_pending(Handle, (UIntPtr)maxItems, maxMilliseconds, out UIntPtr ran));
                return (int)ran.ToUInt64();
            }
            finally
            {
                t_pumping = previousPump;
                System.Threading.SynchronizationContext.SetSynchronizationContext(previousContext);
            }
        }

        public int RunPending(int maxItems, TimeSpan budget) => RunPending(maxItems, TapirTask.Milliseconds(budget));

        /// <summary>
        /// Runs queued work on the calling thread until nothing is left to do: whenever the queue
        /// is empty and the host timer driver (<see cref="TapirTimerDriver.Host"/>) has a pending
        /// timer, host time jumps to that timer and what is due runs, so a delay of an hour takes
        /// no time. Returns when the queue is empty and no host-driven timer is pending (timers on
        /// a <see cref="TapirClock"/> do not count: the host ticks those), or once
        /// <paramref name="maxItems"/> items ran (0: no limit). Returns how many ran. As in
        /// <see cref="RunPending(int, int)"/>, this scheduler's context is current meanwhile.
        /// </summary>
        public int RunUntilIdle(int maxItems = 0)
        {
            if (maxItems < 0) throw new ArgumentOutOfRangeException(nameof(maxItems));
            var previousContext = System.Threading.SynchronizationContext.Current;
            var previousPump = t_pumping;
            System.Threading.SynchronizationContext.SetSynchronizationContext(SynchronizationContext);
            t_pumping = this;
            try
            {
                Check.Status(NativeMethods.tapir_scheduler_run_until_idle(Handle, (UIntPtr)maxItems, out UIntPtr ran));
                return (int)ran.ToUInt64();
            }
            finally
            {
                t_pumping = previousPump;
                System.Threading.SynchronizationContext.SetSynchronizationContext(previousContext);
            }
        }

        /// <summary>
        /// A file descriptor (an eventfd on Linux, a pipe's read end elsewhere) that is readable
        /// exactly while work is queued, for a host loop that sleeps in epoll, poll or libuv until
        /// there is work, then calls <see cref="RunPending(int, int)"/>. Always the same descriptor;
        /// it belongs to the scheduler and is closed when the scheduler is freed: do not read,
        /// write or close it.
        /// </summary>
        public int WakeFd
        {
            get
            {
                Check.Status(NativeMethods.tapir_scheduler_wake_fd(Handle, out int fd));
                return fd;
            }
        }

        public override void Dispose()
        {
            s_live.TryRemove(_raw, out _);
            base.Dispose();
        }
    }

    /// <summary>
    /// A SynchronizationContext on a <see cref="ManualScheduler"/>: Post queues the callback on
    /// the scheduler; <c>await</c> under this context resumes inside the scheduler's RunPending
    /// (the game's main thread, say). Send runs inline on the pumping thread, and elsewhere posts
    /// and blocks until the pump has run it.
    /// </summary>
    public sealed class TapirSynchronizationContext : SynchronizationContext
    {
        internal TapirSynchronizationContext(ManualScheduler scheduler) { Scheduler = scheduler; }

        public ManualScheduler Scheduler { get; }

        public override void Post(SendOrPostCallback d, object state)
        {
            if (d == null) throw new ArgumentNullException(nameof(d));
            Scheduler.PostCore(new Posted(d, state));
        }

        public override void Send(SendOrPostCallback d, object state)
        {
            if (d == null) throw new ArgumentNullException(nameof(d));
            if (Scheduler.IsPumpingOnCurrentThread)
            {
                d(state);
                return;
            }
            using (var done = new ManualResetEventSlim())
            {
                Exception error = null;
                Scheduler.PostCore(new Posted(s =>
                {
                    try { d(s); }
                    catch (Exception e) { error = e; }
                    finally { done.Set(); }
                }, state));
                done.Wait();
                if (error != null) ExceptionDispatchInfo.Capture(error).Throw();
            }
        }

        public override SynchronizationContext CreateCopy() => this;

        private sealed class Posted : CallbackState
        {
            private readonly SendOrPostCallback _callback;
            private readonly object _state;

            internal Posted(SendOrPostCallback callback, object state)
            {
                _callback = callback;
                _state = state;
            }

            internal override void OnWork() => _callback(_state);
        }
    }
}
