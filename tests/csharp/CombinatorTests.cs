using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;

namespace Tapir.Tests
{
    /// <summary>WhenAll, WhenAny, Interleaved, the factories, delays and timeouts.</summary>
    [TestFixture]
    public class CombinatorTests
    {
        private static TapirCompletionSource<int>[] Sources(int n) => Enumerable.Range(0, n).Select(i => new TapirCompletionSource<int>()).ToArray();

        [Test]
        public async Task WhenAllGivesTheValuesInInputOrderWhateverTheCompletionOrder()
        {
            var s = Sources(4);
            var all = TapirTask.WhenAll(s.Select(x => x.Task));
            s[3].SetResult(30);
            s[1].SetResult(10);
            Assert.IsFalse(all.IsCompleted);
            s[0].SetResult(0);
            s[2].SetResult(20);
            CollectionAssert.AreEqual(new[] { 0, 10, 20, 30 }, await all);
        }

        [Test]
        public void WhenAllFailsWithEveryErrorInInputOrderAndAwaitThrowsTheFirst()
        {
            var s = Sources(4);
            var e0 = new Exception("e0");
            var e1 = new Exception("e1");
            var e3 = new Exception("e3");
            var all = TapirTask.WhenAll(s.Select(x => x.Task));
            s[3].SetException(e3);   // completion order: 3, 1, 2 (success), 0
            s[1].SetException(e1);
            s[2].SetResult(2);
            s[0].SetException(e0);
            Assert.AreSame(e0, Assert.Throws<Exception>(() => all.GetAwaiter().GetResult()), "await rethrows the first in input order");
            var aggregate = Assert.Throws<AggregateException>(() => all.Wait());
            CollectionAssert.AreEqual(new[] { e0, e1, e3 }, aggregate.InnerExceptions, "as the TPL: input order, not completion order");
            var viaTask = Assert.Throws<AggregateException>(() => all.AsTask().Wait());
            CollectionAssert.AreEqual(new[] { e0, e1, e3 }, viaTask.InnerExceptions);
        }

        [Test]
        public void WhenAllWithACanceledInputEndsCanceled()
        {
            var s = Sources(2);
            var all = TapirTask.WhenAll(s[0].Task, s[1].Task);
            s[0].SetCanceled();
            s[1].SetResult(1);
            Assert.Throws<TaskCanceledException>(() => all.GetAwaiter().GetResult());
        }

        [Test]
        public void WhenAllOfNothingSucceedsAtOnce()
        {
            Assert.IsTrue(TapirTask.WhenAll(new TapirTask[0]).IsCompletedSuccessfully);
            Assert.AreEqual(0, TapirTask.WhenAll(new TapirTask<int>[0]).Result.Length);
        }

        [Test]
        public void WhenAllRefusesNullAndDisposedInputs()
        {
            Assert.Throws<ArgumentNullException>(() => TapirTask.WhenAll((TapirTask[])null));
            Assert.Throws<ArgumentException>(() => TapirTask.WhenAll(TapirTask.CompletedTask, null));
            var disposed = TapirTask.FromResult(1);
            disposed.Dispose();
            Assert.Throws<ObjectDisposedException>(() => TapirTask.WhenAll(disposed));
        }

        [Test]
        public void WhenAllOrFirstExceptionFailsAsSoonAsOneFails()
        {
            var s = Sources(3);
            var error = new Exception("first");
            var all = TapirTask.WhenAllOrFirstException(s.Select(x => x.Task).ToArray());
            s[1].SetException(error);
            Assert.IsTrue(all.IsFaulted, "without waiting for the others");
            Assert.AreSame(error, all.Exception.InnerException);
        }

        [Test]
        public async Task WhenAnyGivesTheFirstToCompleteAsTheSameObject()
        {
            var s = Sources(3);
            var any = TapirTask.WhenAny(s.Select(x => x.Task).ToArray());
            Assert.IsFalse(any.IsCompleted);
            s[2].SetResult(2);
            s[0].SetResult(0);
            Assert.AreSame(s[2].Task, await any);
            var completed = TapirTask.WhenAny(s[1].Task, s[0].Task, s[2].Task);
            Assert.AreSame(s[0].Task, completed.Result, "among completed inputs, the first in input order");
        }

        [Test]
        public void WhenAnyCancelsTheGivenSourceSoTheLosersCanStop()
        {
            using (var stop = new TapirCancellationSource())
            {
                var loser = TapirTask.Delay(-1, stop.Token.ToCancellationToken());
                var winner = new TapirCompletionSource<int>();
                var any = TapirTask.WhenAny(new TapirTask[] { loser, winner.Task }, stop);
                winner.SetResult(1);
                Assert.AreSame(winner.Task, any.Result);
                Assert.IsTrue(stop.IsCancellationRequested);
                Assert.IsTrue(Util.Eventually(() => loser.IsCanceled, 5000));
            }
        }

        [Test]
        public async Task InterleavedYieldsInCompletionOrder()
        {
            var s = Sources(3);
            var outputs = TapirTask.Interleaved(s.Select(x => x.Task));
            s[1].SetResult(10);
            s[2].SetResult(20);
            s[0].SetResult(0);
            var seen = new List<int>();
            foreach (var t in outputs) seen.Add(await t);
            CollectionAssert.AreEqual(new[] { 10, 20, 0 }, seen);
        }

        [Test]
        public async Task RetryOnFaultRetriesUntilSuccess()
        {
            int attempts = 0;
            var result = TapirTask.RetryOnFault(i =>
            {
                Interlocked.Increment(ref attempts);
                return i < 2 ? TapirTask.FromException<int>(new Exception("attempt " + i)) : TapirTask.FromResult(i * 10);
            }, 5);
            Assert.AreEqual(20, await result);
            Assert.AreEqual(3, attempts);
        }

        [Test]
        public void RetryOnFaultGivesUpWithTheLastErrorAndAFactoryThatThrowsCountsAsAFailedAttempt()
        {
            var last = new InvalidOperationException("last");
            int attempts = 0;
            var result = TapirTask.RetryOnFault<int>(i =>
            {
                attempts++;
                if (i == 2) throw last;
                return TapirTask.FromException<int>(new Exception("attempt " + i));
            }, 3);
            Assert.AreSame(last, Assert.Throws<InvalidOperationException>(() => result.GetAwaiter().GetResult()));
            Assert.AreEqual(3, attempts);
        }

        [Test]
        public void RetryOnFaultWaitsForTheGateBetweenTries()
        {
            var sw = Stopwatch.StartNew();
            var times = new List<long>();
            var result = TapirTask.RetryOnFault(i =>
            {
                lock (times) times.Add(sw.ElapsedMilliseconds);
                return i == 0 ? TapirTask.FromException<int>(new Exception()) : TapirTask.FromResult(1);
            }, 2, i => TapirTask.Delay(40));
            Assert.AreEqual(1, result.Result);
            Assert.AreEqual(2, times.Count);
            Assert.GreaterOrEqual(times[1] - times[0], 38, "the second attempt waited for the gate");
        }

        [Test]
        public void NeedOnlyOneTakesTheFirstAndCancelsTheOthers()
        {
            var tokens = new CancellationToken[3];
            var slow = new TapirCompletionSource<int>();
            var result = TapirTask.NeedOnlyOne<int>(
                ct => { tokens[0] = ct; return slow.Task; },
                ct => { tokens[1] = ct; return TapirTask.Delay(20).ContinueWith(t => 2); },
                ct => { tokens[2] = ct; return TapirTask.Delay(-1, ct).ContinueWith(t => 3); });
            // Result, not await: an await would resume inline inside the winner's completion,
            // which cancels the shared token only after its continuations have run.
            Assert.AreEqual(2, result.Result);
            Assert.IsTrue(Util.Eventually(() => tokens[0].IsCancellationRequested, 5000), "the shared token is canceled after the first result");
            Assert.AreEqual(tokens[0], tokens[2]);
            slow.SetResult(1);
        }

        [Test]
        public void ForEachThrottledNeverExceedsTheLimit()
        {
            int inFlight = 0, peak = 0, done = 0;
            var result = TapirTask.ForEachThrottled(20, 3, i =>
            {
                int now = Interlocked.Increment(ref inFlight);
                lock (this) peak = Math.Max(peak, now);
                return TapirTask.Delay(5).ContinueWith(t =>
                {
                    Interlocked.Decrement(ref inFlight);
                    Interlocked.Increment(ref done);
                }, TaskContinuationOptions.ExecuteSynchronously);
            });
            Assert.IsTrue(result.Wait(20000));
            Assert.AreEqual(20, done);
            Assert.LessOrEqual(peak, 3);
            Assert.GreaterOrEqual(peak, 2, "it did run several at once");
        }

        [Test]
        public void ForEachThrottledFailsWithTheErrorsInIndexOrder()
        {
            var items = new[] { "a", "b", "c", "d" };
            var result = TapirTask.ForEachThrottled(items, 2, item =>
                item == "b" || item == "d" ? TapirTask.FromException(new Exception(item)) : TapirTask.CompletedTask);
            var aggregate = Assert.Throws<AggregateException>(() => result.Wait());
            CollectionAssert.AreEqual(new[] { "b", "d" }, aggregate.InnerExceptions.Select(e => e.Message));
        }

        [Test]
        public void DelayIsNeverEarly()
        {
            var sw = Stopwatch.StartNew();
            TapirTask.Delay(50).Wait();
            Assert.GreaterOrEqual(sw.ElapsedMilliseconds, 49);
            Assert.IsTrue(TapirTask.Delay(0).IsCompleted);
            Assert.Throws<ArgumentOutOfRangeException>(() => TapirTask.Delay(-2));
        }

        [Test]
        public void WaitAsyncTimesOutWithATimeoutErrorAndLeavesTheTaskAlone()
        {
            var source = new TapirCompletionSource<int>();
            var bounded = source.Task.WaitAsync(30);
            var e = Assert.Throws<TapirException>(() => bounded.GetAwaiter().GetResult());
            Assert.AreEqual(TapirStatus.Timeout, e.Code);
            Assert.IsFalse(source.Task.IsCompleted);
            source.SetResult(5);
            Assert.AreEqual(5, source.Task.WaitAsync(TimeSpan.FromSeconds(5)).Result, "a completed task passes straight through");
        }

        [Test]
        public async Task WaitAsyncCompletesWithTheTaskWhenItIsFaster()
        {
            var source = new TapirCompletionSource<string>();
            var bounded = source.Task.WaitAsync(5000);
            Util.Later(10, () => source.SetResult("in time"));
            Assert.AreEqual("in time", await bounded);
        }

        [Test]
        public void WaitAsyncEndsCanceledWhenTheTokenFires()
        {
            var source = new TapirCompletionSource<int>();
            using (var cts = new CancellationTokenSource())
            {
                var bounded = source.Task.WaitAsync(cts.Token);
                cts.Cancel();
                Assert.Throws<TaskCanceledException>(() => bounded.GetAwaiter().GetResult());
                Assert.IsFalse(source.Task.IsCompleted);
            }
        }

        [Test]
        public void ADelayWithATokenStopsItsTimerWhenCanceled()
        {
            long timers = TapirRuntime.PendingTimers;
            using (var cts = new CancellationTokenSource())
            {
                var delay = TapirTask.Delay(60000, cts.Token);
                Assert.AreEqual(timers + 1, TapirRuntime.PendingTimers);
                cts.Cancel();
                Assert.AreEqual(timers, TapirRuntime.PendingTimers, "the timer entry is freed at once");
                Assert.IsTrue(delay.IsCanceled);
            }
        }
    }
}
