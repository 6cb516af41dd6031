using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// Runs on a thread tapir starts: first, before it runs any work (<see cref="TapirConfig.OnThreadStart"/>),
    /// or last, as it ends at <see cref="TapirRuntime.Shutdown"/> (<see cref="TapirConfig.OnThreadStop"/>).
    /// <paramref name="index"/> is the pool worker's index (0 for the timer thread). An exception
    /// goes to <see cref="TapirRuntime.UnhandledCallbackException"/>. Must not call Shutdown.
    /// </summary>
    public delegate void TapirThreadHook(TapirThreadKind kind, int index);

    /// <summary>
    /// How tapir runs in its host (<c>tapir_config</c>); pass it to <see cref="TapirRuntime.Configure"/>
    /// before first use. The defaults are tapir's: a pool of one thread per core (or the
    /// TAPIR_THREADS environment variable), threads named "tapir-pool-&lt;i&gt;" and "tapir-timer",
    /// the system's stack size, no hooks, real time on tapir's timer thread, expiries on the pool.
    /// </summary>
    public sealed class TapirConfig
    {
        /// <summary>Default-pool threads: -1 (the default) TAPIR_THREADS or one per core; 1 to 1024 exactly that; 0 no pool (then <see cref="PoolScheduler"/> is required).</summary>
        public int Threads { get; set; } = -1;

        /// <summary>Prefix of tapir's thread names ("&lt;prefix&gt;-pool-&lt;i&gt;", "&lt;prefix&gt;-timer", cut to 15 bytes); null: "tapir".</summary>
        public string ThreadNamePrefix { get; set; }

        /// <summary>Stack size in bytes of pool and timer threads (0: the system's default).</summary>
        public long StackSize { get; set; }

        /// <summary>
        /// Runs first on each tapir thread: where a Mono or Unity host attaches the thread (calling
        /// any managed code attaches it) and sets it up. The binding keeps the delegate alive for as
        /// long as tapir may call it.
        /// </summary>
        public TapirThreadHook OnThreadStart { get; set; }

        /// <summary>Runs last on each tapir thread, when it ends (at <see cref="TapirRuntime.Shutdown"/>).</summary>
        public TapirThreadHook OnThreadStop { get; set; }

        /// <summary>Who drives time: tapir's timer thread (the default), or the host (<see cref="TapirRuntime.TimeAdvance"/>).</summary>
        public TapirTimerDriver TimerDriver { get; set; } = TapirTimerDriver.Thread;

        /// <summary>
        /// Where timer expiries run: the completion of delays, timeouts and CancelAfter deadlines,
        /// and so the continuations that run inline with them (null: the pool). A
        /// <see cref="ManualScheduler"/> here keeps them on the thread that pumps it. tapir keeps a
        /// reference of its own until <see cref="TapirRuntime.Shutdown"/>.
        /// </summary>
        public TapirScheduler TimerScheduler { get; set; }

        /// <summary>With <see cref="Threads"/> 0 only, and required then: the scheduler that receives all work for the default pool.</summary>
        public TapirScheduler PoolScheduler { get; set; }

        /// <summary>
        /// Single-threaded mode: no pool, host-driven time, and <paramref name="scheduler"/>
        /// receiving both the pool's work and timer expiries, so tapir starts no thread at all. With
        /// a test scheduler (<see cref="ManualScheduler.CreateTest"/>), its RunUntilIdle then runs
        /// a whole test at once and reproducibly.
        /// </summary>
        public static TapirConfig SingleThreaded(ManualScheduler scheduler)
        {
            if (scheduler == null) throw new ArgumentNullException(nameof(scheduler));
            return new TapirConfig { Threads = 0, TimerDriver = TapirTimerDriver.Host, TimerScheduler = scheduler, PoolScheduler = scheduler };
        }
    }

    /// <summary>The hook delegates of a configuration, pinned for native code as its <c>hook_ctx</c>.</summary>
    internal sealed class ThreadHooks
    {
        internal readonly TapirThreadHook Start, Stop;

        internal ThreadHooks(TapirThreadHook start, TapirThreadHook stop)
        {
            Start = start;
            Stop = stop;
        }
    }

    public static partial class TapirRuntime
    {
        private static readonly object s_configLock = new object();
        private static GCHandle s_hooks;   // the hooks tapir was last configured with

        /// <summary>
        /// Configures tapir before first use: the pool's start (the first work for the default
        /// scheduler) or the first timer (a delay, timeout, CancelAfter or timed wait); creating
        /// tasks and other objects is not use. Until then a later call replaces an earlier one.
        /// Throws ArgumentException for a bad field, InvalidOperationException once tapir is in use
        /// (nothing changed then). <see cref="Shutdown"/> returns tapir to the defaults, so it may be
        /// configured again afterwards. The hook delegates stay alive until a later Configure
        /// replaces them.
        /// </summary>
        public static void Configure(TapirConfig config)
        {
            if (config == null) throw new ArgumentNullException(nameof(config));
            if (config.StackSize < 0) throw new ArgumentOutOfRangeException(nameof(config), "StackSize is negative.");
            var native = new Config();
            Check.Status(NativeMethods.tapir_config_init(ref native));
            native.threads = config.Threads;
            native.stack_size = (UIntPtr)(ulong)config.StackSize;
            native.timer_driver = (int)config.TimerDriver;
            lock (s_configLock)
            {
                IntPtr prefix = IntPtr.Zero;
                GCHandle hooks = default(GCHandle);
                SchedulerHandle timer = config.TimerScheduler?.Handle, pool = config.PoolScheduler?.Handle;
                bool timerAdded = false, poolAdded = false;
                try
                {
                    if (config.ThreadNamePrefix != null) prefix = Utf8z(config.ThreadNamePrefix);
                    native.thread_name_prefix = prefix;
                    if (config.OnThreadStart != null || config.OnThreadStop != null)
                    {
                        hooks = GCHandle.Alloc(new ThreadHooks(config.OnThreadStart, config.OnThreadStop));
                        native.hook_ctx = GCHandle.ToIntPtr(hooks);
                        if (config.OnThreadStart != null) native.on_thread_start = Callbacks.OnThreadStartPtr;
                        if (config.OnThreadStop != null) native.on_thread_stop = Callbacks.OnThreadStopPtr;
                    }
                    if (timer != null)
                    {
                        timer.DangerousAddRef(ref timerAdded);
                        native.timer_scheduler = timer.DangerousGetHandle();
                    }
                    if (pool != null)
                    {
                        pool.DangerousAddRef(ref poolAdded);
                        native.pool_scheduler = pool.DangerousGetHandle();
                    }
                    Check.Status(NativeMethods.tapir_configure(ref native));
                    // Configure succeeds only while no tapir thread runs, so the hooks it replaced
                    // can never be called again.
                    if (s_hooks.IsAllocated) s_hooks.Free();
                    s_hooks = hooks;
                    hooks = default(GCHandle);
                }
                finally
                {
                    if (hooks.IsAllocated) hooks.Free();
                    if (prefix != IntPtr.Zero) Marshal.FreeHGlobal(prefix);
                    if (timerAdded) timer.DangerousRelease();
                    if (poolAdded) pool.DangerousRelease();
                }
            }
        }

        private static IntPtr Utf8z(string s)
        {
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("The thread name prefix contains a NUL character.");
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            IntPtr p = Marshal.AllocHGlobal(bytes.Length + 1);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            Marshal.WriteByte(p, bytes.Length, 0);
            return p;
        }

        /// <summary>
        /// Host timer driver: sets the time, in milliseconds of the host's own monotonic clock (it
        /// starts at 0). Runs nothing: call <see cref="TimersRunDue"/> next. Throws
        /// InvalidOperationException unless the host driver is configured, ArgumentException if
        /// <paramref name="nowMilliseconds"/> is before the current host time.
        /// </summary>
        public static void TimeAdvance(long nowMilliseconds)
        {
            if (nowMilliseconds < 0) throw new ArgumentOutOfRangeException(nameof(nowMilliseconds));
            Check.Status(NativeMethods.tapir_time_advance((ulong)nowMilliseconds));
        }

        /// <summary>
        /// Host timer driver: runs every timer due at the host time, on this thread, and returns how
        /// many ran. Each expiry only posts its work to <see cref="TapirConfig.TimerScheduler"/>.
        /// Throws InvalidOperationException unless the host driver is configured.
        /// </summary>
        public static int TimersRunDue()
        {
            Check.Status(NativeMethods.tapir_timers_run_due(out UIntPtr ran));
            return (int)ran.ToUInt64();
        }

        /// <summary>Host timer driver: the earliest pending deadline (host milliseconds), or null if no timer is pending or the host driver is not in use.</summary>
        public static long? TimersNextDue
        {
            get
            {
                if (!NativeMethods.tapir_timers_next_due(out ulong due)) return null;
                return (long)due;
            }
        }
    }

    /// <summary>
    /// A clock the host ticks: a frame counter (<see cref="CreateFrames"/>) or game time in
    /// milliseconds that runs at a scale and can be paused (<see cref="CreateScaled"/>, Unity's
    /// scaled Time.time). Its time moves only in <see cref="Advance"/>, which runs the timers now
    /// due; each expiry posts its work to <see cref="TapirConfig.TimerScheduler"/>. Measure on it
    /// with <see cref="TapirTask.DelayOn"/>, <see cref="TapirTask.WaitAsyncOn"/> and
    /// <see cref="TapirCancellationSource.CancelAfterOn"/>. When its last reference goes, delays on
    /// it fail (<see cref="TapirStatus.Disposed"/>) and timeouts and deadlines on it never fire.
    /// </summary>
    public sealed class TapirClock : IDisposable
    {
        internal readonly ClockHandle Handle;

        private TapirClock(ClockHandle handle) { Handle = handle; }

        /// <summary>A clock that counts frames, at frame 0: each Advance(1) is one frame.</summary>
        public static TapirClock CreateFrames()
        {
            Check.Status(NativeMethods.tapir_clock_new_frames(out IntPtr c));
            return new TapirClock(new ClockHandle(c));
        }

        /// <summary>Game milliseconds, at 0, moving <paramref name="scale"/> times as fast as the real milliseconds passed to Advance (1: real time; 0.5: slow motion; 0: stopped).</summary>
        public static TapirClock CreateScaled(double scale = 1.0)
        {
            Check.Status(NativeMethods.tapir_clock_new_scaled(scale, out IntPtr c));
            return new TapirClock(new ClockHandle(c));
        }

        /// <summary>The native handle (borrowed); throws ObjectDisposedException once disposed.</summary>
        public IntPtr NativeHandle => Handle.Value;

        /// <summary>
        /// Moves the clock forward, unless it is paused: a frame clock by <paramref name="delta"/>
        /// frames (a whole number), a scaled clock by <paramref name="delta"/> real milliseconds
        /// times its scale; then runs, on this thread, every timer of the clock now due. Returns
        /// how many ran.
        /// </summary>
        public int Advance(double delta = 1)
        {
            Check.Status(NativeMethods.tapir_clock_advance(Handle, delta, out UIntPtr ran));
            return (int)ran.ToUInt64();
        }

        /// <summary>The clock's time: frames, or game milliseconds.</summary>
        public double Now
        {
            get
            {
                Check.Status(NativeMethods.tapir_clock_now(Handle, out double now));
                return now;
            }
        }

        /// <summary>Sets a scaled clock's rate for the advances that follow (ArgumentException on a frame clock).</summary>
        public void SetScale(double scale) => Check.Status(NativeMethods.tapir_clock_set_scale(Handle, scale));

        /// <summary>Pauses or resumes the clock: a paused clock ignores Advance (a game's pause menu).</summary>
        public void SetPaused(bool paused) => Check.Status(NativeMethods.tapir_clock_set_paused(Handle, paused ? 1u : 0u));

        /// <summary>Releases this reference. Calling it again does nothing.</summary>
        public void Dispose() => Handle.Dispose();
    }

    public partial class TapirTask
    {
        /// <summary>
        /// Task.Delay measured on <paramref name="clock"/>: succeeds once <paramref name="amount"/>
        /// of the clock's time (frames, or game milliseconds) has passed; 0 at once, -1 never.
        /// Canceled when <paramref name="cancellationToken"/> is canceled first; fails with a
        /// <see cref="TapirException"/> of code <see cref="TapirStatus.Disposed"/> if the clock's
        /// last reference goes first. Completes where timer expiries run (<see cref="TapirConfig.TimerScheduler"/>).
        /// </summary>
        public static TapirTask DelayOn(TapirClock clock, double amount, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (clock == null) throw new ArgumentNullException(nameof(clock));
            var token = NativeToken.From(cancellationToken);
            TapirTask result;
            try
            {
                Check.Status(NativeMethods.tapir_delay_on(clock.Handle, amount, token.Handle, out IntPtr task));
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

        /// <summary>
        /// WaitAsync measured on <paramref name="clock"/>: completes as this task does, fails with a
        /// <see cref="TapirException"/> of code <see cref="TapirStatus.Timeout"/> once
        /// <paramref name="timeout"/> of the clock's time has passed (-1: never), or ends canceled
        /// with <paramref name="cancellationToken"/>. This task is never affected.
        /// </summary>
        public TapirTask WaitAsyncOn(TapirClock clock, double timeout, CancellationToken cancellationToken = default(CancellationToken)) =>
            WrapLike(WaitAsyncOnCore(clock, timeout, cancellationToken));

        internal TaskHandle WaitAsyncOnCore(TapirClock clock, double timeout, CancellationToken cancellationToken)
        {
            if (clock == null) throw new ArgumentNullException(nameof(clock));
            var token = NativeToken.From(cancellationToken);
            TaskHandle result;
            try
            {
                Check.Status(NativeMethods.tapir_task_wait_async_on(Handle, clock.Handle, timeout, token.Handle, out IntPtr t));
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
}
