using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>
    /// A TapirCompletionSource and its task start managed (no native object) and materialize
    /// their native source and task once, on first need, forwarding what happened so far: a
    /// managed success, or the awaits pending on it in their order. Completion racing
    /// materialization, dispose before and after it, and the guard that stands for a source's
    /// lifetime (pooled once the source completed its task).
    /// </summary>
    [TestFixture]
    public class ManagedSourceTests
    {
        [Test]
        public void ASourceCompletedAndAwaitedManagedMakesNoNativeObject()
        {
            long before = Util.Baseline();
            var sources = new List<TapirCompletionSource<string>>();
            for (int i = 0; i < 100; i++)
            {
                var source = new TapirCompletionSource<string>();
                var waiting = Util.AwaitOne(source.Task);
                source.SetResult("v" + i);
                Assert.AreEqual("v" + i, waiting.Result);
                Assert.IsTrue(source.Task.IsManaged, "nothing asked for a native handle");
                sources.Add(source);   // kept alive: the count below is not a collection's
            }
            Assert.LessOrEqual(TapirRuntime.LiveObjects(), before, "a managed source and its task are no native objects");
            GC.KeepAlive(sources);
        }

        [Test]
        public void AManagedSuccessPassedLaterToANativeCombinatorIsForwarded()
        {
            long before = Util.Baseline();
            var a = new TapirCompletionSource<string>();
            var b = new TapirCompletionSource<string>();
            a.SetResult("first");
            b.SetResult("second");
            Assert.IsTrue(a.Task.IsManaged);
            var all = TapirTask.WhenAll(a.Task, b.Task);   // materializes both, completed
            Assert.IsFalse(a.Task.IsManaged);
            CollectionAssert.AreEqual(new[] { "first", "second" }, all.Result);
            var any = TapirTask.WhenAny(a.Task);
            Assert.AreSame(a.Task, any.Result);
            // The native task has the value too, as C code reads it.
            Assert.AreEqual(0, NativeMethods.tapir_task_result(b.Task.NativeHandle, out IntPtr bits));
            Assert.AreEqual("second", ValueCodec<string>.Decode(bits));
            Assert.IsFalse(a.TrySetResult("late"), "the native source knows the task completed");
            Assert.IsFalse(NativeMethods.tapir_source_try_set_result(a.NativeHandle, IntPtr.Zero, IntPtr.Zero));
            all.Dispose();
            any.Dispose();
            a.Dispose();
            b.Dispose();
            a.Task.Dispose();
            b.Task.Dispose();
            Util.AssertLiveObjectsBackTo(before);
        }

        [Test]
        public void PendingAwaitsMovedToTheNativeTaskKeepTheirOrderAndResumeOnce()
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            var order = new List<string>();
            task.GetAwaiter().UnsafeOnCompleted(() => order.Add("await 1 " + task.GetAwaiter().GetResult()));
            task.GetAwaiter().UnsafeOnCompleted(() => order.Add("await 2 " + task.GetAwaiter().GetResult()));
            var continuation = task.ContinueWith(t => order.Add("continue " + t.Result), TaskContinuationOptions.ExecuteSynchronously);
            Assert.IsFalse(task.IsManaged, "ContinueWith needs the native task");
            task.GetAwaiter().UnsafeOnCompleted(() => order.Add("await 3 " + task.GetAwaiter().GetResult()));
            Assert.IsFalse(task.IsCompleted);
            Assert.AreEqual(0, order.Count);
            // Completed by C code through the native source.
            Assert.IsTrue(NativeMethods.tapir_source_try_set_result(source.NativeHandle, new IntPtr(8), IntPtr.Zero));
            Assert.IsTrue(continuation.Wait(5000));
            CollectionAssert.AreEqual(new[] { "await 1 8", "await 2 8", "continue 8", "await 3 8" }, order);
            Assert.IsFalse(source.TrySetResult(9));
            Assert.AreEqual(8, task.Result);
            continuation.Dispose();
        }

        [Test]
        public void AnAwaitRegisteredAfterAManagedCompletionRunsAtOnce()
        {
            var source = new TapirCompletionSource<int>();
            var awaiter = source.Task.GetAwaiter();
            Assert.IsFalse(awaiter.IsCompleted);
            source.SetResult(3);
            int seen = 0, on = -1;
            awaiter.UnsafeOnCompleted(() => { seen = awaiter.GetResult(); on = Thread.CurrentThread.ManagedThreadId; });
            Assert.AreEqual(3, seen, "as tapir's inline registration on a completed task: run now");
            Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, on);
        }

        [Test]
        public void CompletionRacingMaterializationFromAnotherThreadCompletesOnce()
        {
            long before = Util.Baseline();
            for (int round = 0; round < 2000; round++)
            {
                var source = new TapirCompletionSource<string>();
                var task = source.Task;
                var waiting = Util.AwaitOne(task);
                int kind = round % 4;
                bool setWon = false;
                using (var go = new Barrier(2))
                {
                    string value = "r" + round;
                    var setter = new Thread(() => { go.SignalAndWait(); setWon = source.TrySetResult(value); });
                    setter.Start();
                    go.SignalAndWait();
                    switch (kind)   // each a different way for native code to need the task
                    {
                        case 0: Assert.AreNotEqual(IntPtr.Zero, task.NativeHandle); break;
                        case 1: Assert.AreNotEqual(0UL, task.Id); break;
                        case 2: Assert.AreNotEqual(IntPtr.Zero, source.NativeHandle); break;
                        default: task.ContinueWith(t => { }, TaskContinuationOptions.ExecuteSynchronously).Dispose(); break;
                    }
                    setter.Join();
                    Assert.IsTrue(setWon, "round " + round);
                    Assert.IsTrue(waiting.Wait(10000), "round " + round);
                    Assert.AreEqual(value, waiting.Result);
                    Assert.AreEqual(value, task.Result);
                    Assert.IsFalse(task.IsManaged);
                    Assert.AreEqual(0, NativeMethods.tapir_task_result(task.NativeHandle, out IntPtr bits), "round " + round);
                    Assert.AreEqual(value, ValueCodec<string>.Decode(bits), "the native task has the same value");
                    Assert.IsFalse(source.TrySetResult("again"));
                }
                source.Dispose();
                task.Dispose();
            }
            Util.AssertLiveObjectsBackTo(before);
        }

        [Test]
        public void TwoManagedCompletionsRacingExactlyOneWins()
        {
            for (int round = 0; round < 2000; round++)
            {
                var source = new TapirCompletionSource<int>();
                var waiting = Util.AwaitOne(source.Task);
                int wins = 0;
                using (var go = new Barrier(2))
                {
                    var other = new Thread(() => { go.SignalAndWait(); if (source.TrySetResult(1)) Interlocked.Increment(ref wins); });
                    other.Start();
                    go.SignalAndWait();
                    if (source.TrySetResult(2)) Interlocked.Increment(ref wins);
                    other.Join();
                }
                Assert.AreEqual(1, wins, "round " + round);
                Assert.AreEqual(source.Task.Result, waiting.Result);
                Assert.IsTrue(source.Task.IsManaged);
            }
        }

        [Test]
        public void DisposeBeforeMaterializationPendingOrCompleted()
        {
            long before = Util.Baseline();
            var pending = new TapirCompletionSource<int>();
            var waiting = Util.AwaitOne(pending.Task);
            pending.Dispose();   // materializes, then the release breaks the promise
            var e = Assert.Throws<AggregateException>(() => waiting.Wait(5000));
            Assert.AreEqual(TapirStatus.BrokenPromise, ((TapirException)e.InnerException).Code, "the managed await saw the broken promise");
            Assert.IsTrue(pending.Task.IsFaulted, "the task stays readable");
            Assert.Throws<ObjectDisposedException>(() => pending.SetResult(1));
            Assert.Throws<ObjectDisposedException>(() => { var h = pending.NativeHandle; });

            var completed = new TapirCompletionSource<string>();
            completed.SetResult("kept");
            completed.Dispose();
            Assert.IsTrue(completed.Task.IsManaged, "nothing native to release");
            Assert.AreEqual("kept", completed.Task.Result);
            Assert.Throws<ObjectDisposedException>(() => completed.TrySetResult("again"));
            Assert.Throws<ObjectDisposedException>(() => completed.SetCanceled());
            Assert.Throws<ObjectDisposedException>(() => { var h = completed.NativeHandle; });
            // The task, handed to native code after its source was disposed, has the value.
            var all = TapirTask.WhenAll(completed.Task);
            Assert.AreEqual("kept", all.Result[0]);
            completed.Dispose();   // again: nothing
            all.Dispose();
            completed.Task.Dispose();
            pending.Task.Dispose();
            Util.AssertLiveObjectsBackTo(before);
        }

        [Test]
        public void DisposeAfterMaterializationInEitherOrder()
        {
            long before = Util.Baseline();
            for (int order = 0; order < 4; order++)
            {
                var source = new TapirCompletionSource<int>();
                var task = source.Task;
                if (order >= 2) source.SetResult(order);   // managed first, then materialized
                Assert.AreNotEqual(0UL, task.Id);
                Assert.IsFalse(task.IsManaged);
                if (order % 2 == 0)
                {
                    source.Dispose();
                    task.Dispose();
                }
                else
                {
                    task.Dispose();
                    source.Dispose();
                }
                Assert.Throws<ObjectDisposedException>(() => { var s = task.Status; });
                Assert.Throws<ObjectDisposedException>(() => source.SetResult(0));
            }
            Util.AssertLiveObjectsBackTo(before);
        }

        [Test]
        public void ATaskDisposedBeforeItsSourceMaterializesLeaksNothing()
        {
            long before = Util.Baseline();
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            task.Dispose();
            Assert.AreNotEqual(IntPtr.Zero, source.NativeHandle, "the source can still hand itself to C code");
            Assert.IsTrue(source.TrySetResult(4));
            Assert.Throws<ObjectDisposedException>(() => { var r = task.Result; });
            source.Dispose();
            Util.AssertLiveObjectsBackTo(before);
        }

        [Test]
        public void AManagedAwaitOnACollectedSourceSeesTheBrokenPromise()
        {
            long before = Util.Baseline();
            Task<int> waiting = null;
            TapirTask<int> task = null;
            Util.OnFreshThread(() =>
            {
                var source = new TapirCompletionSource<int>();
                task = source.Task;
                waiting = Util.AwaitOne(task);
            });
            Assert.IsTrue(task.IsManaged);
            Assert.IsTrue(Util.Eventually(() => waiting.IsCompleted), "the guard's finalizer broke the promise");
            var e = Assert.Throws<AggregateException>(() => waiting.Wait());
            Assert.AreEqual(TapirStatus.BrokenPromise, ((TapirException)e.InnerException).Code);
            task = null;
            waiting = null;
            Util.AssertGarbageReleased(before, 4);
        }

        [Test]
        public void AReusedGuardStandsOnlyForItsNewSource()
        {
            // s1 completes its task and gives its guard back; s2, made next on the same
            // thread, takes it: s1 living on must not keep s2's promise. Likewise s3 and s4:
            // s3's collection must not break the promise of s4, which lives on.
            TapirTask<int> dropped = null, kept = null;
            TapirCompletionSource<int> old = null, live = null;
            Util.OnFreshThread(() =>
            {
                var s1 = new TapirCompletionSource<int>();
                s1.SetResult(1);
                var s2 = new TapirCompletionSource<int>();   // s1's guard, reused
                dropped = s2.Task;
                old = s1;

                var s3 = new TapirCompletionSource<int>();
                s3.SetResult(3);
                var s4 = new TapirCompletionSource<int>();   // s3's guard, reused
                kept = s4.Task;
                live = s4;
            });
            Assert.IsTrue(Util.Eventually(() => dropped.IsCompleted), "s2 was collected pending: its promise is broken");
            Assert.AreEqual(TapirStatus.BrokenPromise, ((TapirException)dropped.Exception.InnerException).Code);
            Util.Settle();
            Assert.IsFalse(kept.IsCompleted, "s4 is alive: its task stays pending");
            Assert.IsTrue(kept.IsManaged);
            live.SetResult(4);
            Assert.AreEqual(4, kept.Result);
            Assert.AreEqual(1, old.Task.Result);
        }

        [Test]
        public void ATaskMaterializedFromItsOwnSideSeesEveryWayTheSourceCompletesIt()
        {
            // Materialized by the task (its Id), the task is still known to be pending until
            // the source does something native; each such member must end that knowledge.
            var ways = new List<Action<TapirCompletionSource<int>>>
            {
                s => Assert.IsTrue(NativeMethods.tapir_source_try_set_result(s.NativeHandle, new IntPtr(1), IntPtr.Zero)),
                s => Assert.AreEqual((int)TapirStatus.Panic, NativeMethods.tapir_debug_panic(s.Handle)),
                s => Assert.IsTrue(s.TrySetResult(1)),
                s => Assert.IsTrue(s.TrySetException(new InvalidOperationException())),
                s => Assert.IsTrue(s.TrySetCanceled()),
                s => s.SetFromTask(TapirTask.FromResult(1)),
                s => s.Dispose(),
            };
            foreach (var options in new[] { TaskCreationOptions.None, TaskCreationOptions.RunContinuationsAsynchronously })
            {
                for (int i = 0; i < ways.Count; i++)
                {
                    var source = new TapirCompletionSource<int>(options);
                    var task = source.Task;
                    Assert.AreNotEqual(0UL, task.Id);
                    Assert.IsFalse(task.IsManaged);
                    Assert.IsFalse(task.IsCompleted);
                    ways[i](source);
                    Assert.IsTrue(task.IsCompleted, "way " + i + ", " + options);
                    source.Dispose();
                    task.Dispose();
                }
            }
        }

        [Test]
        public void ManagedPathKeepsTheRunContinuationsAsynchronouslyRule()
        {
            var source = new TapirCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            Assert.IsFalse(source.Task.IsManaged, "asynchronous continuations need the native pool");
            int setter = Thread.CurrentThread.ManagedThreadId, resumedOn = setter;
            var resumed = new ManualResetEventSlim();
            source.Task.GetAwaiter().UnsafeOnCompleted(() => { resumedOn = Thread.CurrentThread.ManagedThreadId; resumed.Set(); });
            source.SetResult(1);
            Assert.IsTrue(resumed.Wait(5000));
            Assert.AreNotEqual(setter, resumedOn);
        }
    }
}
