using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;

namespace Tapir.Tests
{
    /// <summary>Completion sources: exactly-once completion, every outcome, broken promises.</summary>
    [TestFixture]
    public class CompletionSourceTests
    {
        [Test]
        public async Task SetResultCompletesTheTaskWithTheValue()
        {
            var source = new TapirCompletionSource<int>();
            Assert.AreEqual(TapirTaskStatus.Pending, source.Task.Status);
            source.SetResult(42);
            Assert.AreEqual(TapirTaskStatus.Succeeded, source.Task.Status);
            Assert.AreEqual(42, await source.Task);
            Assert.AreEqual(42, source.Task.Result);
        }

        [Test]
        public void TheTaskPropertyIsTheSameObjectEveryTime()
        {
            var source = new TapirCompletionSource<string>();
            Assert.AreSame(source.Task, source.Task);
        }

        [Test]
        public void ASecondCompletionIsRefusedAndChangesNothing()
        {
            var source = new TapirCompletionSource<string>();
            Assert.IsTrue(source.TrySetResult("first"));
            Assert.IsFalse(source.TrySetResult("second"));
            Assert.IsFalse(source.TrySetException(new InvalidOperationException()));
            Assert.IsFalse(source.TrySetCanceled());
            Assert.Throws<InvalidOperationException>(() => source.SetResult("third"));
            Assert.Throws<InvalidOperationException>(() => source.SetCanceled());
            Assert.AreEqual("first", source.Task.Result);
        }

        [Test]
        public void RacingCompletionsSucceedExactlyOnce()
        {
            for (int round = 0; round < 200; round++)
            {
                var source = new TapirCompletionSource<int>();
                int winners = 0, winner = -1;
                using (var go = new ManualResetEventSlim())
                {
                    var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
                    {
                        go.Wait();
                        if (source.TrySetResult(i))
                        {
                            Interlocked.Increment(ref winners);
                            winner = i;
                        }
                    })).ToList();
                    threads.ForEach(t => t.Start());
                    go.Set();
                    threads.ForEach(t => t.Join());
                }
                Assert.AreEqual(1, winners, "round " + round);
                Assert.AreEqual(winner, source.Task.Result);
            }
        }

        [Test]
        public void SetExceptionFaultsTheTaskAndAwaitRethrowsTheSameObject()
        {
            var source = new TapirCompletionSource<int>();
            var error = new InvalidOperationException("boom");
            source.SetException(error);
            Assert.AreEqual(TapirTaskStatus.Faulted, source.Task.Status);
            var thrown = Assert.Throws<InvalidOperationException>(() => source.Task.GetAwaiter().GetResult());
            Assert.AreSame(error, thrown);
        }

        [Test]
        public void SetExceptionWithAListKeepsTheOrder()
        {
            var errors = new Exception[] { new ArgumentException("a"), new FormatException("b"), new TimeoutException("c") };
            var source = new TapirCompletionSource<int>();
            source.SetException(errors);
            var aggregate = Assert.Throws<AggregateException>(() => source.Task.Wait());
            CollectionAssert.AreEqual(errors, aggregate.InnerExceptions);
            CollectionAssert.AreEqual(errors, source.Task.Exception.InnerExceptions);
        }

        [Test]
        public void SetCanceledEndsTheTaskCanceled()
        {
            var source = new TapirCompletionSource<int>();
            source.SetCanceled();
            Assert.AreEqual(TapirTaskStatus.Canceled, source.Task.Status);
            Assert.IsTrue(source.Task.IsCanceled);
            Assert.Throws<TaskCanceledException>(() => source.Task.GetAwaiter().GetResult());
            var aggregate = Assert.Throws<AggregateException>(() => source.Task.Wait());
            Assert.IsInstanceOf<TaskCanceledException>(aggregate.InnerException);
            Assert.IsNull(source.Task.Exception, "canceled is not faulted");
        }

        [Test]
        public void DisposingAPendingSourceBreaksThePromise()
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            source.Dispose();
            Assert.AreEqual(TapirTaskStatus.Faulted, task.Status, "the last source reference broke the promise at once");
            var e = Assert.Throws<TapirException>(() => task.GetAwaiter().GetResult());
            Assert.AreEqual(TapirStatus.BrokenPromise, e.Code);
        }

        [Test]
        public void ACollectedSourceBreaksThePromiseFromTheFinalizerThread()
        {
            TapirTask<int> task = MakeOrphan();
            Assert.IsTrue(Util.Eventually(() => task.IsCompleted), "the finalizer released the source");
            var e = Assert.Throws<AggregateException>(() => task.Wait());
            Assert.AreEqual(TapirStatus.BrokenPromise, ((TapirException)e.InnerException).Code);
        }

        private static TapirTask<int> MakeOrphan() => new TapirCompletionSource<int>().Task;

        [Test]
        public void DisposingACompletedSourceKeepsTheResult()
        {
            var source = new TapirCompletionSource<string>();
            source.SetResult("kept");
            source.Dispose();
            source.Dispose();
            Assert.AreEqual("kept", source.Task.Result);
        }

        [Test]
        public void RunContinuationsAsynchronouslyNeverResumesOnTheCompletingThread()
        {
            var source = new TapirCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            int completer = Thread.CurrentThread.ManagedThreadId, resumedOn = -1;
            using (var done = new ManualResetEventSlim())
            {
                var awaiter = source.Task.GetAwaiter();
                awaiter.UnsafeOnCompleted(() =>
                {
                    resumedOn = Thread.CurrentThread.ManagedThreadId;
                    done.Set();
                });
                source.SetResult(1);
                Assert.IsTrue(done.Wait(5000));
            }
            Assert.AreNotEqual(completer, resumedOn);
        }

        [Test]
        public void WithoutTheFlagAnAwaitResumesInlineOnTheCompletingThread()
        {
            var source = new TapirCompletionSource<int>();
            int completer = Thread.CurrentThread.ManagedThreadId, resumedOn = -1;
            source.Task.GetAwaiter().UnsafeOnCompleted(() => resumedOn = Thread.CurrentThread.ManagedThreadId);
            source.SetResult(1);
            Assert.AreEqual(completer, resumedOn, "ran inline before SetResult returned");
        }

        [Test]
        public void OnlyRunContinuationsAsynchronouslyIsAccepted()
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => new TapirCompletionSource<int>(TaskCreationOptions.LongRunning));
        }

        [Test]
        public void SetFromTaskForwardsTheOutcomeLater()
        {
            var inner = new TapirCompletionSource<int>();
            var outer = new TapirCompletionSource<int>();
            outer.SetFromTask(inner.Task);
            outer.Dispose();   // forwarding keeps the proxy alive: no broken promise
            Assert.IsFalse(outer.Task.IsCompleted);
            inner.SetResult(7);
            Assert.AreEqual(7, outer.Task.Result);
        }
    }
}
