using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;

namespace Tapir.Tests
{
    /// <summary>Where code resumes: captured contexts and schedulers, the manual scheduler a main loop pumps, host schedulers, progress.</summary>
    [TestFixture]
    public class SchedulerTests
    {
        /// <summary>A "main thread" that pumps a ManualScheduler, as a game loop does once per frame.</summary>
        private sealed class MainLoop : IDisposable
        {
            private readonly Thread _thread;
            private volatile bool _stop;
            internal readonly ManualScheduler Scheduler = new ManualScheduler();
            internal int ThreadId;
            internal int Frames;

            internal MainLoop(Action<MainLoop> onFirstFrame)
            {
                var started = new ManualResetEventSlim();
                _thread = new Thread(() =>
                {
                    ThreadId = Thread.CurrentThread.ManagedThreadId;
                    SynchronizationContext.SetSynchronizationContext(Scheduler.SynchronizationContext);
                    onFirstFrame(this);
                    started.Set();
                    while (!_stop)
                    {
                        Scheduler.RunPending(0, 4);
                        Interlocked.Increment(ref Frames);
                        Thread.Sleep(1);
                    }
                    Scheduler.RunPending();
                }) { IsBackground = true };
                _thread.Start();
                started.Wait();
            }

            public void Dispose()
            {
                _stop = true;
                _thread.Join();
                Scheduler.Dispose();
            }
        }

        [Test, Timeout(20000)]
        public void AwaitResumesOnThePumpedManualSchedulerContext()
        {
            var source = new TapirCompletionSource<int>();
            var resumedOn = new TaskCompletionSource<int>();
            var insidePump = new TaskCompletionSource<bool>();
            int value = 0;
            using (var loop = new MainLoop(l =>
            {
                Action gameCode = async () =>
                {
                    value = await source.Task;   // completed below by another thread
                    resumedOn.SetResult(Thread.CurrentThread.ManagedThreadId);
                    insidePump.SetResult(l.Scheduler.IsPumpingOnCurrentThread);
                };
                gameCode();
            }))
            {
                var worker = new Thread(() => source.SetResult(7));
                worker.Start();
                worker.Join();
                Assert.IsTrue(resumedOn.Task.Wait(10000));
                Assert.AreEqual(loop.ThreadId, resumedOn.Task.Result, "resumed on the main thread");
                Assert.AreNotEqual(worker.ManagedThreadId, resumedOn.Task.Result);
                Assert.IsTrue(insidePump.Task.Result, "inside RunPending");
                Assert.AreEqual(7, value);
            }
        }

        [Test, Timeout(20000)]
        public void ConfigureAwaitFalseDoesNotResumeOnTheContext()
        {
            var source = new TapirCompletionSource<int>();
            var resumedOn = new TaskCompletionSource<int>();
            int completer = -1;
            using (var loop = new MainLoop(l =>
            {
                Action gameCode = async () =>
                {
                    await source.Task.ConfigureAwait(false);
                    resumedOn.SetResult(Thread.CurrentThread.ManagedThreadId);
                };
                gameCode();
            }))
            {
                var worker = new Thread(() => { completer = Thread.CurrentThread.ManagedThreadId; source.SetResult(1); });
                worker.Start();
                worker.Join();
                Assert.IsTrue(resumedOn.Task.Wait(10000));
                Assert.AreEqual(completer, resumedOn.Task.Result, "inline on the completing thread");
                Assert.AreNotEqual(loop.ThreadId, resumedOn.Task.Result);
            }
        }

        [Test]
        public void AnAwaitInsideAWorkItemResumesOnTheSameScheduler()
        {
            using (var main = new ManualScheduler())
            {
                var gate = new TapirCompletionSource<int>();
                var steps = new List<string>();
                main.Post(async () =>
                {
                    steps.Add("before:" + main.IsPumpingOnCurrentThread);
                    await gate.Task;
                    steps.Add("after:" + main.IsPumpingOnCurrentThread);
                });
                Assert.AreEqual(1, main.RunPending());
                var t = new Thread(() => gate.SetResult(1));
                t.Start();
                t.Join();
                Assert.AreEqual(1, steps.Count, "the continuation waits for the next pump");
                Assert.AreEqual(1, main.RunPending());
                CollectionAssert.AreEqual(new[] { "before:True", "after:True" }, steps);
            }
        }

        [Test]
        public void RunPendingHonoursItsItemBudget()
        {
            using (var main = new ManualScheduler())
            {
                int ran = 0;
                for (int i = 0; i < 5; i++) main.Post(() => ran++);
                Assert.AreEqual(2, main.RunPending(2));
                Assert.AreEqual(2, ran);
                Assert.AreEqual(3, main.RunPending());
                Assert.AreEqual(0, main.RunPending());
            }
        }

        [Test]
        public void CurrentIsTheManualSchedulerInsideItsPumpAndNullElsewhere()
        {
            Assert.IsNull(TapirScheduler.Current);
            using (var main = new ManualScheduler())
            {
                TapirScheduler seen = null;
                main.Post(() => seen = TapirScheduler.Current);
                main.RunPending();
                Assert.AreSame(main, seen);
            }
            TapirScheduler onPool = null;
            TapirTask.Run(() => { onPool = TapirScheduler.Current; }).Wait();
            Assert.AreEqual(TapirScheduler.Default, onPool);
        }

        [Test, Timeout(20000)]
        public void SendFromAnotherThreadBlocksUntilThePumpRunsIt()
        {
            using (var main = new ManualScheduler())
            {
                int ranOn = -1;
                var sender = new Thread(() => main.SynchronizationContext.Send(s => ranOn = Thread.CurrentThread.ManagedThreadId, null));
                sender.Start();
                Assert.IsTrue(Util.Eventually(() => main.RunPending() == 1, 5000));
                sender.Join();
                Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, ranOn);
            }
        }

        [Test]
        public void AForeignSchedulerPostsThroughTheSynchronizationContext()
        {
            var context = new QueueContext();
            using (var scheduler = TapirScheduler.FromSynchronizationContext(context))
            {
                int ranOn = -1;
                var next = TapirTask.FromResult(1).ContinueWith(t => { ranOn = Thread.CurrentThread.ManagedThreadId; return t.Result + 1; }, scheduler: scheduler);
                Assert.IsTrue(context.RunOne(), "the context received the work item");
                Assert.AreEqual(2, next.Result);
                Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, ranOn);
                Assert.AreEqual(1, context.Posts);
            }
        }

        [Test]
        public void WorkAHostSchedulerDropsIsDiscardedAndItsTaskFaultsWithSchedulerError()
        {
            var dropping = new DroppingContext();
            using (var scheduler = TapirScheduler.FromSynchronizationContext(dropping))
            {
                bool ran = false;
                var next = TapirTask.FromResult(1).ContinueWith(t => { ran = true; }, scheduler: scheduler);
                Assert.IsTrue(Util.Eventually(() => next.IsCompleted), "the collected work item was discarded");
                Assert.IsFalse(ran);
                var e = Assert.Throws<TapirException>(() => next.GetAwaiter().GetResult());
                Assert.AreEqual(TapirStatus.SchedulerError, e.Code);
            }
        }

        private sealed class DroppingContext : SynchronizationContext
        {
            public override void Post(SendOrPostCallback d, object state) { }
        }

        [Test]
        public void AForeignSchedulerOnATaskSchedulerRunsWorkAsTasks()
        {
            var scheduler = new CountingScheduler();
            using (var tapir = TapirScheduler.FromTaskScheduler(scheduler))
            {
                var next = TapirTask.FromResult(20).ContinueWith(t => t.Result + 1, scheduler: tapir);
                Assert.AreEqual(21, next.Result);
                Assert.AreEqual(1, scheduler.Queued);
            }
        }

        private sealed class CountingScheduler : TaskScheduler
        {
            internal int Queued;

            protected override void QueueTask(Task task)
            {
                Interlocked.Increment(ref Queued);
                ThreadPool.QueueUserWorkItem(_ => TryExecuteTask(task));
            }

            protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

            protected override IEnumerable<Task> GetScheduledTasks() => new Task[0];
        }

        [Test]
        public void AnAwaitCapturesANonDefaultTaskScheduler()
        {
            var scheduler = new CountingScheduler();
            var source = new TapirCompletionSource<int>();
            var resumedOnScheduler = new TaskCompletionSource<bool>();
            var started = Task.Factory.StartNew(async () =>
            {
                await source.Task;
                resumedOnScheduler.SetResult(TaskScheduler.Current == scheduler);
            }, CancellationToken.None, TaskCreationOptions.None, scheduler).Unwrap();
            // The await's native registration appearing means the lambda is suspended on the pending task.
            Assert.IsTrue(Util.Eventually(() => TapirRuntime.PendingContinuations(source.Task) > 0, 5000));
            Assert.AreEqual(1, scheduler.Queued);
            source.SetResult(1);
            Assert.IsTrue(resumedOnScheduler.Task.Wait(5000));
            Assert.IsTrue(resumedOnScheduler.Task.Result);
            Assert.AreEqual(2, scheduler.Queued, "the continuation was queued on the captured scheduler");
            started.Wait(5000);
        }

        [Test]
        public void ProgressReportsArriveInOrderOnTheMainThread()
        {
            using (var main = new ManualScheduler())
            {
                var seen = new List<int>();
                int thread = -1;
                using (var progress = new TapirProgress<int>(v => { seen.Add(v); thread = Thread.CurrentThread.ManagedThreadId; }, main))
                {
                    var reporter = new Thread(() => { for (int i = 0; i < 5; i++) ((IProgress<int>)progress).Report(i); });
                    reporter.Start();
                    reporter.Join();
                    Assert.AreEqual(0, seen.Count, "nothing runs until the pump");
                    Assert.AreEqual(5, main.RunPending());
                }
                CollectionAssert.AreEqual(new[] { 0, 1, 2, 3, 4 }, seen);
                Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, thread);
            }
        }

        [Test]
        public void AProgressHandlerThatThrowsIsReported()
        {
            var error = new InvalidTimeZoneException();
            Exception seen = null;
            EventHandler<TapirCallbackExceptionEventArgs> handler = (s, e) => seen = e.Exception;
            TapirRuntime.UnhandledCallbackException += handler;
            try
            {
                using (var main = new ManualScheduler())
                using (var progress = new TapirProgress<string>(v => throw error, main))
                {
                    progress.Report("x");
                    main.RunPending();
                }
                Assert.AreSame(error, seen);
            }
            finally
            {
                TapirRuntime.UnhandledCallbackException -= handler;
            }
        }

        [Test]
        public void DisposingAManualSchedulerDiscardsItsQueuedWork()
        {
            var main = new ManualScheduler();
            bool ran = false;
            var next = TapirTask.FromResult(1).ContinueWith(t => { ran = true; }, scheduler: main);
            main.Dispose();
            Assert.IsTrue(Util.Eventually(() => next.IsCompleted, 5000));
            Assert.IsFalse(ran);
            Assert.AreEqual(TapirStatus.SchedulerError, ((TapirException)next.Exception.InnerException).Code);
        }
    }
}
