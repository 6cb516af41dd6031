using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>Cancellation sources and tokens, and the bridges to .NET's tokens in both directions.</summary>
    [TestFixture]
    public class CancellationTests
    {
        [Test]
        public void CancelRunsRegistrationsNewestFirstOnTheCancelingThread()
        {
            using (var source = new TapirCancellationSource())
            {
                var order = new List<int>();
                int thread = -1;
                source.Token.Register(() => order.Add(1));
                source.Token.Register(() => { order.Add(2); thread = Thread.CurrentThread.ManagedThreadId; });
                Assert.IsFalse(source.IsCancellationRequested);
                source.Cancel();
                Assert.IsTrue(source.IsCancellationRequested);
                Assert.IsTrue(source.Token.IsCancellationRequested);
                CollectionAssert.AreEqual(new[] { 2, 1 }, order);
                Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, thread);
                source.Cancel();
                Assert.AreEqual(2, order.Count, "a second cancel does nothing");
            }
        }

        [Test]
        public void RegisteringOnACanceledTokenRunsTheCallbackAtOnce()
        {
            using (var token = TapirCancellationToken.CreateCanceled())
            {
                bool ran = false;
                using (var registration = token.Register(() => ran = true))
                {
                    Assert.IsTrue(ran);
                    Assert.IsFalse(registration.Unregister());
                }
            }
        }

        [Test]
        public void TheNoneTokenCannotBeCanceled()
        {
            var none = TapirCancellationToken.None;
            Assert.IsFalse(none.CanBeCanceled);
            Assert.IsFalse(none.IsCancellationRequested);
            Assert.AreEqual(CancellationToken.None, none.ToCancellationToken());
            none.Dispose();
            Assert.IsFalse(TapirCancellationToken.None.CanBeCanceled, "permanent");
        }

        [Test]
        public void AnUnregisteredCallbackNeverRuns()
        {
            using (var source = new TapirCancellationSource())
            {
                bool ran = false;
                var registration = source.Token.Register(() => ran = true);
                Assert.AreEqual(1UL, NativeMethods.tapir_debug_cancel_registrations(source.Token.Handle).ToUInt64());
                Assert.IsTrue(registration.Unregister());
                Assert.AreEqual(0UL, NativeMethods.tapir_debug_cancel_registrations(source.Token.Handle).ToUInt64());
                registration.Dispose();
                source.Cancel();
                Assert.IsFalse(ran);
            }
        }

        [Test]
        public void ACallbackThatThrowsIsReportedByCancelAndTheOthersStillRun()
        {
            using (var source = new TapirCancellationSource())
            {
                var error = new InvalidOperationException("in a cancel callback");
                bool otherRan = false;
                source.Token.Register(() => otherRan = true);
                source.Token.Register(() => throw error);
                var aggregate = Assert.Throws<AggregateException>(() => source.Cancel());
                Assert.AreEqual(1, aggregate.InnerExceptions.Count);
                Assert.AreSame(error, aggregate.InnerException);
                Assert.IsTrue(otherRan);
            }
        }

        [Test]
        public void CancelWithThrowOnFirstExceptionStopsTheRest()
        {
            using (var source = new TapirCancellationSource())
            {
                bool olderRan = false;
                source.Token.Register(() => olderRan = true);
                source.Token.Register(() => throw new FormatException());
                Assert.Throws<AggregateException>(() => source.Cancel(true));
                Assert.IsFalse(olderRan);
            }
        }

        [Test]
        public void ADotNetTokenCancelsANativeOperation()
        {
            using (var cts = new CancellationTokenSource())
            {
                var delay = TapirTask.Delay(-1, cts.Token);
                Assert.IsFalse(delay.Wait(20));
                cts.Cancel();
                Assert.IsTrue(delay.IsCanceled, "canceled on the canceling thread");
                Assert.Throws<TaskCanceledException>(() => delay.GetAwaiter().GetResult());
            }
        }

        [Test]
        public void ANativeTokenCancelsADotNetToken()
        {
            using (var source = new TapirCancellationSource())
            {
                CancellationToken token = source.Token.ToCancellationToken();
                Assert.AreEqual(token, source.Token.ToCancellationToken(), "the same bridge every time");
                bool ran = false;
                token.Register(() => ran = true);
                var dotnetDelay = Task.Delay(-1, token);
                source.Cancel();
                Assert.IsTrue(token.IsCancellationRequested);
                Assert.IsTrue(ran);
                Assert.Throws<AggregateException>(() => dotnetDelay.Wait(5000));
                Assert.IsTrue(dotnetDelay.IsCanceled);
            }
        }

        [Test]
        public void FromCancellationTokenBridgesADotNetTokenToNativeCode()
        {
            using (var cts = new CancellationTokenSource())
            using (var token = TapirCancellationToken.FromCancellationToken(cts.Token))
            {
                Assert.IsTrue(token.CanBeCanceled);
                Assert.IsFalse(token.IsCancellationRequested);
                cts.Cancel();
                Assert.IsTrue(token.IsCancellationRequested);
            }
            Assert.IsFalse(TapirCancellationToken.FromCancellationToken(CancellationToken.None).CanBeCanceled);
            Assert.IsTrue(TapirCancellationToken.FromCancellationToken(new CancellationToken(true)).IsCancellationRequested);
        }

        [Test]
        public void AnExceptionInABridgedDotNetRegistrationReachesTheNativeCanceler()
        {
            using (var source = new TapirCancellationSource())
            {
                var error = new NotImplementedException();
                source.Token.ToCancellationToken().Register(() => throw error);
                var aggregate = Assert.Throws<AggregateException>(() => source.Cancel());
                // CancellationTokenSource.Cancel wraps its registrations' exceptions; the wrapper keeps that shape.
                var inner = aggregate.InnerException as AggregateException;
                Assert.IsNotNull(inner, aggregate.ToString());
                Assert.AreSame(error, inner.InnerException);
            }
        }

        [Test]
        public void CancelAfterCancelsLater()
        {
            using (var source = new TapirCancellationSource(30))
            {
                Assert.IsFalse(source.IsCancellationRequested);
                Assert.IsTrue(Util.Eventually(() => source.IsCancellationRequested, 5000));
            }
            using (var source = new TapirCancellationSource())
            {
                source.CancelAfter(20);
                source.CancelAfter(-1);
                Thread.Sleep(60);
                Assert.IsFalse(source.IsCancellationRequested, "-1 cleared the deadline");
            }
        }

        [Test]
        public void ALinkedSourceIsCanceledByAnyInput()
        {
            using (var a = new TapirCancellationSource())
            using (var b = new TapirCancellationSource())
            using (var linked = TapirCancellationSource.CreateLinkedTokenSource(a.Token, b.Token))
            {
                Assert.IsFalse(linked.IsCancellationRequested);
                b.Cancel();
                Assert.IsTrue(linked.IsCancellationRequested);
                Assert.IsFalse(a.IsCancellationRequested);
            }
        }

        [Test]
        public void AnAlreadyCanceledDotNetTokenCancelsAtOnce()
        {
            var delay = TapirTask.Delay(10000, new CancellationToken(true));
            Assert.IsTrue(delay.IsCanceled);
        }

        [Test]
        public void RunWithACanceledTokenNeverRunsTheWork()
        {
            bool ran = false;
            var task = TapirTask.Run(() => { ran = true; }, new CancellationToken(true));
            Assert.Throws<AggregateException>(() => task.Wait());
            Assert.IsTrue(task.IsCanceled);
            Assert.IsFalse(ran);
        }

        [Test]
        public void BridgesAreReleasedWhenTheirOperationEnds()
        {
            long before = Util.Baseline();
            for (int i = 0; i < 200; i++)
            {
                using (var cts = new CancellationTokenSource())
                {
                    var delay = TapirTask.Delay(1, cts.Token);
                    delay.Wait();
                    delay.Dispose();
                }
            }
            Util.AssertLiveObjectsBackTo(before);
        }
    }
}
