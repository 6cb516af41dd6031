using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;

namespace Tapir.Tests
{
    /// <summary>ContinueWith and its options, removable continuations, unwrap.</summary>
    [TestFixture]
    public class ContinuationTests
    {
        [Test]
        public void ContinueWithRunsAfterTheAntecedentAndReturnsItsValue()
        {
            var source = new TapirCompletionSource<int>();
            var next = source.Task.ContinueWith(t => t.Result * 2);
            Assert.IsFalse(next.Wait(30), "it waits for the antecedent");
            source.SetResult(21);
            Assert.AreEqual(42, next.Result);
        }

        [Test]
        public void AContinuationActionEndsItsTaskSucceeded()
        {
            int ran = 0;
            var next = TapirTask.FromResult(1).ContinueWith(t => { Interlocked.Increment(ref ran); });
            next.Wait();
            Assert.AreEqual(1, ran);
            Assert.IsTrue(next.IsCompletedSuccessfully);
        }

        [Test]
        public void OnlyOnFaultedOnASuccessCancelsTheContinuationWithoutRunningIt()
        {
            bool ran = false;
            var next = TapirTask.FromResult(1).ContinueWith(t => { ran = true; }, TaskContinuationOptions.OnlyOnFaulted);
            Assert.Throws<AggregateException>(() => next.Wait());
            Assert.AreEqual(TapirTaskStatus.Canceled, next.Status);
            Assert.IsFalse(ran);
        }

        [Test]
        public void OnlyOnRanToCompletionRunsOnSuccessAndSkipsFailures()
        {
            var ok = TapirTask.FromResult(5).ContinueWith(t => t.Result + 1, TaskContinuationOptions.OnlyOnRanToCompletion);
            Assert.AreEqual(6, ok.Result);
            var failed = TapirTask.FromException<int>(new Exception()).ContinueWith(t => 0, TaskContinuationOptions.OnlyOnRanToCompletion);
            Assert.Throws<AggregateException>(() => failed.Wait());
            Assert.IsTrue(failed.IsCanceled);
        }

        [Test]
        public void OnlyOnCanceledSeesTheCancellation()
        {
            var source = new TapirCompletionSource<int>();
            var next = source.Task.ContinueWith(t => t.IsCanceled, TaskContinuationOptions.OnlyOnCanceled);
            source.SetCanceled();
            Assert.IsTrue(next.Result);
        }

        [Test]
        public void ExecuteSynchronouslyRunsOnTheCompletingThreadBeforeSetResultReturns()
        {
            var source = new TapirCompletionSource<int>();
            int ranOn = -1;
            var next = source.Task.ContinueWith(t => { ranOn = Thread.CurrentThread.ManagedThreadId; }, TaskContinuationOptions.ExecuteSynchronously);
            source.SetResult(1);
            Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, ranOn);
            Assert.IsTrue(next.IsCompleted);
        }

        [Test]
        public void ByDefaultAContinuationRunsOnThePoolNotInline()
        {
            var source = new TapirCompletionSource<int>();
            int ranOn = -1;
            var next = source.Task.ContinueWith(t => { ranOn = Thread.CurrentThread.ManagedThreadId; });
            source.SetResult(1);
            next.Wait();
            Assert.AreNotEqual(Thread.CurrentThread.ManagedThreadId, ranOn);
        }

        [Test]
        public void AContinuationOnAManualSchedulerRunsOnlyWhenPumped()
        {
            using (var main = new ManualScheduler())
            {
                int ranOn = -1;
                var next = TapirTask.FromResult(1).ContinueWith(t => { ranOn = Thread.CurrentThread.ManagedThreadId; }, scheduler: main);
                Assert.IsFalse(next.Wait(30));
                Assert.AreEqual(1, main.RunPending());
                Assert.IsTrue(next.IsCompleted);
                Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, ranOn);
            }
        }

        [Test]
        public void ACanceledTokenCancelsTheContinuationWhichNeverRuns()
        {
            var source = new TapirCompletionSource<int>();
            bool ran = false;
            using (var cts = new CancellationTokenSource())
            {
                var next = source.Task.ContinueWith(t => { ran = true; }, cancellationToken: cts.Token);
                cts.Cancel();
                Assert.IsTrue(next.IsCanceled, "canceled as soon as the token fired");
                source.SetResult(1);
                Util.Settle();
                Assert.IsFalse(ran);
            }
        }

        [Test]
        public void LazyCancellationWaitsForTheAntecedent()
        {
            var source = new TapirCompletionSource<int>();
            using (var cts = new CancellationTokenSource())
            {
                var next = source.Task.ContinueWith(t => { }, TaskContinuationOptions.LazyCancellation, null, cts.Token);
                cts.Cancel();
                Assert.IsFalse(next.Wait(30), "pending until the antecedent completes");
                source.SetResult(1);
                Assert.Throws<AggregateException>(() => next.Wait());
                Assert.IsTrue(next.IsCanceled);
            }
        }

        [Test]
        public void AContinuationThatThrowsFaultsItsTaskWithThatException()
        {
            var error = new InvalidOperationException("from the callback");
            var next = TapirTask.FromResult(1).ContinueWith<int>(t => throw error);
            var thrown = Assert.Throws<InvalidOperationException>(() => next.GetAwaiter().GetResult());
            Assert.AreSame(error, thrown);
        }

        [Test]
        public void AChainOfTenThousandSynchronousContinuationsDoesNotOverflowTheStack()
        {
            var source = new TapirCompletionSource<int>();
            TapirTask<int> last = source.Task;
            for (int i = 0; i < 10000; i++) last = last.ContinueWith(t => t.Result + 1, TaskContinuationOptions.ExecuteSynchronously);
            source.SetResult(0);
            Assert.AreEqual(10000, last.Result);
        }

        [Test]
        public void AttachedToParentIsRefused()
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => TapirTask.CompletedTask.ContinueWith(t => { }, TaskContinuationOptions.AttachedToParent));
        }

        [Test]
        public void ExecuteSynchronouslyWithLongRunningIsRefused()
        {
            Assert.Throws<ArgumentException>(() => TapirTask.CompletedTask.ContinueWith(t => { },
                TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.LongRunning));
        }

        [Test]
        public void ARemovedContinuationNeverRuns()
        {
            var source = new TapirCompletionSource<int>();
            bool ran = false;
            using (var registration = source.Task.RegisterContinuation(t => ran = true))
            {
                Assert.IsTrue(registration.Remove());
                Assert.IsFalse(registration.Remove(), "removed once");
            }
            source.SetResult(1);
            Util.Settle();
            Thread.Sleep(20);
            Assert.IsFalse(ran);
        }

        [Test]
        public void ARegisteredContinuationRunsOnceAndCanNoLongerBeRemoved()
        {
            var source = new TapirCompletionSource<int>();
            int runs = 0;
            var registration = source.Task.RegisterContinuation(t => Interlocked.Increment(ref runs), TaskContinuationOptions.ExecuteSynchronously);
            source.SetResult(1);
            Assert.AreEqual(1, runs);
            Assert.IsFalse(registration.Remove());
            registration.Dispose();
        }

        [Test]
        public void UnwrapCompletesAsTheInnerTask()
        {
            var inner = new TapirCompletionSource<string>();
            var outer = TapirTask.FromResult(1).ContinueWith(t => inner.Task);
            var proxy = outer.Unwrap();
            Assert.IsFalse(proxy.Wait(30));
            inner.SetResult("inner");
            Assert.AreEqual("inner", proxy.Result);
        }

        [Test]
        public void UnwrapOfANullInnerTaskEndsCanceled()
        {
            var proxy = TapirTask.FromResult<TapirTask<int>>(null).Unwrap();
            Assert.Throws<AggregateException>(() => proxy.Wait());
            Assert.IsTrue(proxy.IsCanceled);
        }

        [Test]
        public void UnwrapOfAFailedOuterTaskFailsWithTheOuterException()
        {
            var error = new NotSupportedException();
            var outer = TapirTask.FromException<TapirTask<int>>(error);
            var thrown = Assert.Throws<NotSupportedException>(() => outer.Unwrap().GetAwaiter().GetResult());
            Assert.AreSame(error, thrown);
        }

        [Test]
        public void UnwrapOfANonGenericInnerTask()
        {
            var gate = new TapirCompletionSource<int>();
            TapirTask inner = gate.Task;
            var proxy = TapirTask.FromResult(inner).Unwrap();
            Assert.IsFalse(proxy.Wait(20));
            gate.SetResult(0);
            Assert.IsTrue(proxy.Wait(5000));
        }

        [Test]
        public async Task RunWithAnAsynchronousBodyCompletesAsTheReturnedTask()
        {
            var gate = new TapirCompletionSource<int>();
            var task = TapirTask.Run(() => gate.Task.ContinueWith(t => t.Result + 100));
            Assert.IsFalse(task.Wait(20));
            gate.SetResult(1);
            Assert.AreEqual(101, await task);
            int viaTask = await TapirTask.Run(async () =>
            {
                await Task.Delay(5);
                return 9;
            });
            Assert.AreEqual(9, viaTask);
        }
    }
}
