using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>
    /// Host fit: Configure before first use (pool size, thread hooks, timer driver, where expiries
    /// run), host-driven time, clocks the host ticks (frames; scaled, pausable game time) with
    /// DelayOn / WaitAsyncOn / CancelAfterOn, the seeded test scheduler with RunUntilIdle, and a
    /// manual scheduler's wake descriptor. Nothing here sleeps for time: time is the host's, a
    /// clock's or the test scheduler's.
    /// </summary>
    [TestFixture]
    public class HostTests
    {
        /// <summary>
        /// Runs a test that configures tapir: shutdown first (back to the defaults), configure, the
        /// body, and shutdown again so later tests get the defaults. All of it runs on a fresh
        /// thread (never a tapir thread, so it may shut down; and its garbage is collectable), and
        /// the live-object count must come back to where it was.
        /// </summary>
        private static void Configured(Func<TapirConfig> config, Action body)
        {
            TapirRuntime.Shutdown();
            long before = Util.Baseline();
            Util.OnFreshThread(() =>
            {
                TapirRuntime.Shutdown();
                try
                {
                    TapirRuntime.Configure(config());
                    body();
                }
                finally
                {
                    TapirRuntime.Shutdown();   // releases the configuration's schedulers
                }
            });
            Util.AssertLiveObjectsBackTo(before);
        }

        /// <summary>Timer expiries on <paramref name="main"/>, a manual scheduler the test pumps.</summary>
        private static Func<TapirConfig> ExpiriesOn(ManualScheduler main) => () => new TapirConfig { TimerScheduler = main };

        // ---- clocks ----

        [Test]
        public void FrameClockCountsAdvancesAndRefusesFractions()
        {
            using (var c = TapirClock.CreateFrames())
            {
                Assert.AreEqual(0.0, c.Now);
                Assert.AreEqual(0, c.Advance());
                c.Advance(3);
                Assert.AreEqual(4.0, c.Now);
                Assert.Throws<ArgumentException>(() => c.Advance(0.5));
                Assert.Throws<ArgumentException>(() => c.Advance(-1));
                Assert.Throws<ArgumentException>(() => c.SetScale(2));   // frames have no scale
                c.SetPaused(true);
                c.Advance(10);
                Assert.AreEqual(4.0, c.Now);
                c.SetPaused(false);
                c.Advance();
                Assert.AreEqual(5.0, c.Now);
            }
        }

        [Test]
        public void ScaledClockRunsAtItsScaleAndPauses()
        {
            using (var c = TapirClock.CreateScaled(0.5))
            {
                c.Advance(100);
                Assert.AreEqual(50.0, c.Now, 1e-9);
                c.SetScale(2);
                c.Advance(10);
                Assert.AreEqual(70.0, c.Now, 1e-9);
                c.SetPaused(true);
                c.Advance(1000);
                Assert.AreEqual(70.0, c.Now, 1e-9);
                c.SetPaused(false);
                Assert.Throws<ArgumentException>(() => c.SetScale(-1));
                Assert.Throws<ArgumentException>(() => c.SetScale(double.NaN));
            }
            Assert.Throws<ArgumentException>(() => TapirClock.CreateScaled(-0.5));
        }

        [Test]
        public void ClockIsOneCountedObjectThatDisposeReleases()
        {
            long before = TapirRuntime.LiveObjects(TapirObjectKind.Clock);
            var c = TapirClock.CreateFrames();
            Assert.AreEqual(before + 1, TapirRuntime.LiveObjects(TapirObjectKind.Clock));
            Assert.AreNotEqual(IntPtr.Zero, c.NativeHandle);
            c.Dispose();
            c.Dispose();   // again: nothing
            Assert.AreEqual(before, TapirRuntime.LiveObjects(TapirObjectKind.Clock));
            Assert.Throws<ObjectDisposedException>(() => { var unused = c.NativeHandle; });
            Assert.Throws<ObjectDisposedException>(() => c.Advance());
            Assert.Throws<ArgumentNullException>(() => TapirTask.DelayOn(null, 1));
        }

        // Without configuration, expiries run on the tapir pool: Wait blocks until it has run them.
        [Test]
        public void DelayOnFramesCompletesOnTheNthFrame()
        {
            using (var c = TapirClock.CreateFrames())
            {
                c.Advance(5);
                var d = TapirTask.DelayOn(c, 3);
                Assert.AreEqual(0, c.Advance());
                Assert.AreEqual(0, c.Advance());
                Assert.IsFalse(d.IsCompleted);
                Assert.AreEqual(1, c.Advance());   // frame 8 = 5 + 3
                d.Wait();
                Assert.IsTrue(d.IsCompletedSuccessfully);
                Assert.IsTrue(TapirTask.DelayOn(c, 0).IsCompletedSuccessfully);
                Assert.Throws<ArgumentException>(() => TapirTask.DelayOn(c, -2));
                d.Dispose();
            }
        }

        [Test]
        public void DelayOnAScaledClockCompletesWhereExpiriesRun()
        {
            using (var main = new ManualScheduler())
                Configured(ExpiriesOn(main), () =>
                {
                    using (var c = TapirClock.CreateScaled(2))
                    {
                        var d = TapirTask.DelayOn(c, 100);   // 100 game ms: 50 real ms at scale 2
                        Assert.AreEqual(0, c.Advance(49));
                        Assert.AreEqual(0, main.RunPending());
                        Assert.AreEqual(1, c.Advance(1));
                        Assert.IsFalse(d.IsCompleted, "the expiry is posted to the timer scheduler, not run in Advance");
                        Assert.AreEqual(1, main.RunPending());
                        Assert.IsTrue(d.IsCompletedSuccessfully);
                        d.Dispose();
                    }
                });
        }

        [Test]
        public void DelayOnEndsCanceledByItsTokenOrFailsWhenItsClockGoes()
        {
            using (var main = new ManualScheduler())
                Configured(ExpiriesOn(main), () =>
                {
                    var c = TapirClock.CreateFrames();
                    using (var cts = new CancellationTokenSource())
                    {
                        var never = TapirTask.DelayOn(c, -1, cts.Token);
                        var elapsed = TapirTask.DelayOn(c, 2, cts.Token);
                        c.Advance(2);
                        main.RunPending();
                        Assert.IsTrue(elapsed.IsCompletedSuccessfully);
                        Assert.IsFalse(never.IsCompleted);
                        cts.Cancel();
                        Assert.IsTrue(never.IsCanceled);
                        never.Dispose();
                        elapsed.Dispose();
                    }
                    var orphan = TapirTask.DelayOn(c, 1);
                    c.Dispose();   // the last reference: nobody can advance it any more
                    main.RunPending();
                    Assert.IsTrue(orphan.IsFaulted);
                    var e = Assert.Throws<TapirException>(() => orphan.GetAwaiter().GetResult());
                    Assert.AreEqual(TapirStatus.Disposed, e.Code);
                    orphan.Dispose();
                });
        }

        [Test]
        public void WaitAsyncOnTimesOutInClockTimeAndPassesResultsThrough()
        {
            using (var main = new ManualScheduler())
                Configured(ExpiriesOn(main), () =>
                {
                    using (var c = TapirClock.CreateFrames())
                    {
                        var slow = new TapirCompletionSource<int>();
                        TapirTask<int> bounded = slow.Task.WaitAsyncOn(c, 2);
                        c.Advance();
                        main.RunPending();
                        Assert.IsFalse(bounded.IsCompleted);
                        c.Advance();
                        main.RunPending();
                        var e = Assert.Throws<TapirException>(() => bounded.GetAwaiter().GetResult());
                        Assert.AreEqual(TapirStatus.Timeout, e.Code);
                        Assert.IsFalse(slow.Task.IsCompleted, "the awaited task is unaffected");

                        var fast = new TapirCompletionSource<int>();
                        TapirTask<int> passed = fast.Task.WaitAsyncOn(c, 2);
                        fast.SetResult(7);
                        main.RunPending();
                        Assert.AreEqual(7, passed.Result);

                        using (var cts = new CancellationTokenSource())
                        {
                            TapirTask untyped = ((TapirTask)slow.Task).WaitAsyncOn(c, -1, cts.Token);
                            cts.Cancel();
                            main.RunPending();
                            Assert.IsTrue(untyped.IsCanceled);
                            untyped.Dispose();
                        }
                        Assert.Throws<ArgumentException>(() => fast.Task.WaitAsyncOn(c, -3));
                        Assert.Throws<ArgumentNullException>(() => fast.Task.WaitAsyncOn(null, 1));
                        slow.SetResult(0);
                        bounded.Dispose();
                        passed.Dispose();
                        slow.Dispose();
                        fast.Dispose();
                    }
                });
        }

        [Test]
        public void CancelAfterOnCancelsInClockTime()
        {
            using (var main = new ManualScheduler())
                Configured(ExpiriesOn(main), () =>
                {
                    using (var c = TapirClock.CreateScaled(1))
                    using (var cts = new TapirCancellationSource())
                    using (var cleared = new TapirCancellationSource())
                    using (var now = new TapirCancellationSource())
                    {
                        cts.CancelAfterOn(c, 5);
                        c.Advance(4);
                        main.RunPending();
                        Assert.IsFalse(cts.IsCancellationRequested);
                        c.SetPaused(true);
                        c.Advance(100);
                        main.RunPending();
                        Assert.IsFalse(cts.IsCancellationRequested, "paused: game time stood still");
                        c.SetPaused(false);
                        c.Advance(1);
                        main.RunPending();
                        Assert.IsTrue(cts.IsCancellationRequested);

                        cleared.CancelAfterOn(c, 5);
                        cleared.CancelAfterOn(c, -1);   // clears the deadline
                        c.Advance(10);
                        main.RunPending();
                        Assert.IsFalse(cleared.IsCancellationRequested);
                        now.CancelAfterOn(c, 0);
                        Assert.IsTrue(now.IsCancellationRequested);
                        Assert.Throws<ArgumentNullException>(() => now.CancelAfterOn(null, 1));
                    }
                });
        }

        // ---- the test scheduler ----

        private static List<int> OrderFor(ulong seed)
        {
            var order = new List<int>();
            using (var s = ManualScheduler.CreateTest(seed))
            {
                for (int i = 0; i < 16; i++)
                {
                    int n = i;
                    s.Post(() => order.Add(n));
                }
                Assert.AreEqual(16, s.RunUntilIdle());
            }
            return order;
        }

        [Test]
        public void TheSameSeedGivesTheSameOrder()
        {
            var a = OrderFor(42);
            Assert.AreEqual(16, a.Count);
            CollectionAssert.AreEqual(a, OrderFor(42));
            bool someSeedDiffers = false;
            for (ulong seed = 1; seed <= 4; seed++) someSeedDiffers |= !OrderFor(seed).SequenceEqual(a);
            Assert.IsTrue(someSeedDiffers);
        }

        [Test]
        public void RunUntilIdleStopsAtMaxItemsAndRunsUnderTheSchedulersContext()
        {
            using (var s = ManualScheduler.CreateTest(7))
            {
                int ran = 0;
                for (int i = 0; i < 5; i++) s.Post(() => ran++);
                Assert.AreEqual(2, s.RunUntilIdle(2));
                Assert.AreEqual(2, ran);
                bool pumping = false;
                SynchronizationContext seen = null;
                s.Post(() =>
                {
                    pumping = s.IsPumpingOnCurrentThread;
                    seen = SynchronizationContext.Current;
                    s.Post(() => ran += 10);   // work that work posts runs in the same call
                });
                Assert.AreEqual(5, s.RunUntilIdle());
                Assert.AreEqual(15, ran);
                Assert.IsTrue(pumping);
                Assert.AreSame(s.SynchronizationContext, seen);
                Assert.AreEqual(0, s.RunUntilIdle());
                Assert.Throws<ArgumentOutOfRangeException>(() => s.RunUntilIdle(-1));
            }
            using (var m = new ManualScheduler())
            {
                m.Post(() => { });
                Assert.AreEqual(1, m.RunUntilIdle(), "a plain manual scheduler runs until idle too");
            }
        }

        // ---- the wake descriptor ----

        [StructLayout(LayoutKind.Sequential)]
        private struct PollFd
        {
            public int fd;
            public short events;
            public short revents;
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int poll([In, Out] PollFd[] fds, UIntPtr nfds, int timeout);

        private static bool Readable(int fd)
        {
            var fds = new[] { new PollFd { fd = fd, events = 1 /* POLLIN */ } };
            return poll(fds, (UIntPtr)1, 0) == 1 && (fds[0].revents & 1) != 0;
        }

        [Test]
        public void WakeFdIsReadableExactlyWhileWorkIsQueued()
        {
            using (var m = new ManualScheduler())
            {
                int fd = m.WakeFd;
                Assert.GreaterOrEqual(fd, 0);
                Assert.AreEqual(fd, m.WakeFd, "always the same descriptor");
                Assert.IsFalse(Readable(fd));
                m.Post(() => { });
                m.Post(() => { });
                Assert.IsTrue(Readable(fd));
                Assert.AreEqual(1, m.RunPending(1));
                Assert.IsTrue(Readable(fd));
                m.RunPending();
                Assert.IsFalse(Readable(fd));
            }
            using (var t = ManualScheduler.CreateTest(1))
                Assert.GreaterOrEqual(t.WakeFd, 0);
        }

        // ---- host-driven time ----

        [Test]
        public void HostTimeNeedsTheHostDriver()
        {
            Assert.Throws<InvalidOperationException>(() => TapirRuntime.TimeAdvance(10));
            Assert.Throws<InvalidOperationException>(() => TapirRuntime.TimersRunDue());
            Assert.IsNull(TapirRuntime.TimersNextDue);
            Assert.Throws<ArgumentOutOfRangeException>(() => TapirRuntime.TimeAdvance(-1));
        }

        [Test]
        public void HostDrivenTimeRunsTimersWhenTheHostSays()
        {
            using (var main = new ManualScheduler())
                Configured(() => new TapirConfig { TimerDriver = TapirTimerDriver.Host, TimerScheduler = main }, () =>
                {
                    Assert.IsNull(TapirRuntime.TimersNextDue);
                    var d = TapirTask.Delay(100);
                    using (var cts = new TapirCancellationSource())
                    {
                        cts.CancelAfter(250);
                        Assert.AreEqual(100L, TapirRuntime.TimersNextDue);
                        TapirRuntime.TimeAdvance(99);
                        Assert.AreEqual(0, TapirRuntime.TimersRunDue());
                        TapirRuntime.TimeAdvance(100);
                        Assert.AreEqual(1, TapirRuntime.TimersRunDue());
                        Assert.IsFalse(d.IsCompleted, "posted to the timer scheduler");
                        main.RunPending();
                        Assert.IsTrue(d.IsCompletedSuccessfully);
                        Assert.AreEqual(250L, TapirRuntime.TimersNextDue);
                        Assert.Throws<ArgumentException>(() => TapirRuntime.TimeAdvance(50), "time never goes back");
                        TapirRuntime.TimeAdvance(1000);
                        Assert.AreEqual(1, TapirRuntime.TimersRunDue());
                        main.RunPending();
                        Assert.IsTrue(cts.IsCancellationRequested);
                        Assert.IsNull(TapirRuntime.TimersNextDue);
                    }
                    d.Dispose();
                });
        }

        // The test recipe: no thread at all, the test scheduler as pool and timer scheduler, host
        // time; an hour of delays and timeouts (and async code awaiting them) runs at once.
        [Test]
        public void SingleThreadedModeRunsAnHourOfDelaysAtOnce()
        {
            using (var s = ManualScheduler.CreateTest(3))
                Configured(() => TapirConfig.SingleThreaded(s), () =>
                {
                    var log = new List<string>();
                    var run = TapirTask.Run(() => log.Add("run"));
                    var never = new TapirCompletionSource<int>();
                    var bounded = never.Task.WaitAsync(TimeSpan.FromMinutes(30));
                    s.Post(async () =>
                    {
                        // Under RunUntilIdle the scheduler's context is current, so each await
                        // resumes in the same RunUntilIdle call.
                        for (int i = 0; i < 3; i++)
                        {
                            using (var d = TapirTask.Delay(TimeSpan.FromMinutes(20))) await d;
                            log.Add("retry " + i);
                        }
                    });
                    Assert.IsEmpty(log);
                    Assert.AreEqual(30L * 60 * 1000, TapirRuntime.TimersNextDue, "the timeout; the retries' first delay is made in RunUntilIdle");
                    s.RunUntilIdle();
                    CollectionAssert.AreEqual(new[] { "run", "retry 0", "retry 1", "retry 2" }, log);
                    Assert.IsTrue(run.IsCompletedSuccessfully);
                    var e = Assert.Throws<TapirException>(() => bounded.GetAwaiter().GetResult());
                    Assert.AreEqual(TapirStatus.Timeout, e.Code);
                    Assert.IsNull(TapirRuntime.TimersNextDue);
                    never.SetResult(0);
                    run.Dispose();
                    bounded.Dispose();
                    never.Dispose();
                });
        }

        // ---- Configure ----

        [Test]
        public void ThreadHooksRunOnEveryTapirThreadAndStayAlive()
        {
            var started = new ConcurrentQueue<string>();
            var startedIds = new ConcurrentDictionary<int, bool>();
            int stopped = 0;
            Configured(() =>
            {
                var c = new TapirConfig
                {
                    Threads = 2,
                    ThreadNamePrefix = "cs",
                    StackSize = 1024 * 1024,
                    OnThreadStart = (kind, index) =>
                    {
                        started.Enqueue(kind + ":" + index);
                        startedIds[Thread.CurrentThread.ManagedThreadId] = true;
                    },
                    OnThreadStop = (kind, index) => Interlocked.Increment(ref stopped),
                };
                return c;
            }, () =>
            {
                // Only the binding holds the hooks now: a collection must not free them.
                Util.Settle();
                Assert.IsEmpty(started, "nothing starts before first use");
                int workerId = TapirTask.Run(() => Thread.CurrentThread.ManagedThreadId).Result;
                Assert.IsTrue(startedIds.ContainsKey(workerId), "the work ran on a thread whose start hook ran (and attached it) first");
                using (var cts = new CancellationTokenSource())
                {
                    var d = TapirTask.Delay(TimeSpan.FromHours(1), cts.Token);   // starts the timer thread
                    cts.Cancel();
                    Assert.IsTrue(d.IsCanceled);
                    d.Dispose();
                }
                Assert.Throws<InvalidOperationException>(() => TapirRuntime.Configure(new TapirConfig()), "in use");
                TapirRuntime.Shutdown();
                var names = new List<string>(started);
                names.Sort(StringComparer.Ordinal);
                CollectionAssert.AreEqual(new[] { "Pool:0", "Pool:1", "Timer:0" }, names);
                Assert.AreEqual(3, Volatile.Read(ref stopped), "every started thread ran its stop hook");
            });
        }

        [Test]
        public void AnExceptionInAHookGoesToTheUnhandledEvent()
        {
            var seen = new ConcurrentQueue<Exception>();
            EventHandler<TapirCallbackExceptionEventArgs> handler = (o, e) => seen.Enqueue(e.Exception);
            TapirRuntime.UnhandledCallbackException += handler;
            try
            {
                Configured(() => new TapirConfig { Threads = 1, OnThreadStart = (k, i) => throw new FormatException("hook") }, () =>
                {
                    Assert.AreEqual(1, TapirTask.Run(() => 1).Result, "the thread runs work after its hook threw");
                    Assert.IsTrue(seen.TryPeek(out Exception e));
                    Assert.IsInstanceOf<FormatException>(e);
                });
            }
            finally
            {
                TapirRuntime.UnhandledCallbackException -= handler;
            }
        }

        [Test]
        public void ConfigureRefusesBadFieldsAndChangesNothing()
        {
            using (var manual = new ManualScheduler())
                Configured(() => new TapirConfig(), () =>
                {
                    Assert.Throws<ArgumentException>(() => TapirRuntime.Configure(new TapirConfig { Threads = 0 }), "no pool and no pool scheduler");
                    Assert.Throws<ArgumentException>(() => TapirRuntime.Configure(new TapirConfig { Threads = 1025 }));
                    Assert.Throws<ArgumentException>(() => TapirRuntime.Configure(new TapirConfig { Threads = -2 }));
                    Assert.Throws<ArgumentException>(() => TapirRuntime.Configure(new TapirConfig { Threads = 2, PoolScheduler = manual }));
                    Assert.Throws<ArgumentException>(() => TapirRuntime.Configure(new TapirConfig { TimerDriver = (TapirTimerDriver)7 }));
                    Assert.Throws<ArgumentException>(() => TapirRuntime.Configure(new TapirConfig { ThreadNamePrefix = "a\0b" }));
                    Assert.Throws<ArgumentOutOfRangeException>(() => TapirRuntime.Configure(new TapirConfig { StackSize = -1 }));
                    Assert.Throws<ArgumentNullException>(() => TapirRuntime.Configure(null));
                    Assert.Throws<ArgumentNullException>(() => TapirConfig.SingleThreaded(null));
                    Assert.Throws<InvalidOperationException>(() => TapirRuntime.TimeAdvance(1), "nothing changed: time is the timer thread's");
                    // Until first use, a later Configure replaces an earlier one.
                    // (TimeAdvance itself counts as use, so nothing here calls it before the last Configure.)
                    TapirRuntime.Configure(new TapirConfig { TimerDriver = TapirTimerDriver.Host });
                    TapirRuntime.Configure(new TapirConfig());
                    Assert.Throws<InvalidOperationException>(() => TapirRuntime.TimeAdvance(2));
                    var disposed = new ManualScheduler();
                    disposed.Dispose();
                    Assert.Throws<ObjectDisposedException>(() => TapirRuntime.Configure(new TapirConfig { TimerScheduler = disposed }));
                });
        }

        [Test]
        public void TheConfigStructMatchesTheHeader()
        {
            var native = new Config();
            Assert.AreEqual(0, NativeMethods.tapir_config_init(ref native));
            Assert.AreEqual(Config.Size, native.struct_size);
            Assert.AreEqual(-1, native.threads);
            Assert.AreEqual(0, native.timer_driver);
        }

        [Test]
        public void ShutdownReturnsToTheDefaults()
        {
            using (var s = ManualScheduler.CreateTest(9))
            {
                long schedulers = TapirRuntime.LiveObjects(TapirObjectKind.Scheduler);
                Configured(() => TapirConfig.SingleThreaded(s), () =>
                {
                    bool ran = false;
                    var t = TapirTask.Run(() => { ran = true; });
                    s.RunUntilIdle();
                    Assert.IsTrue(ran);
                    t.Dispose();
                    TapirRuntime.TimeAdvance(5);   // the host driver is in use
                    TapirRuntime.Shutdown();
                    Assert.Throws<InvalidOperationException>(() => TapirRuntime.TimeAdvance(10), "back to the timer thread");
                    Assert.AreEqual(1, TapirTask.Run(() => 1).Result, "the default pool again");
                });
                s.Dispose();
                Assert.AreEqual(schedulers - 1, TapirRuntime.LiveObjects(TapirObjectKind.Scheduler), "tapir let go of the test scheduler");
            }
        }
    }
}
