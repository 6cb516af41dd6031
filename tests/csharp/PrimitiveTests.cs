using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;

namespace Tapir.Tests
{
    /// <summary>The coordination primitives through the C# binding: semaphore, events, countdown, barrier, locks, channel, cache.</summary>
    [TestFixture]
    public class PrimitiveTests
    {
        [Test]
        public void SemaphoreServesWaitersInOrderAndRefusesOverRelease()
        {
            using (var s = new TapirSemaphore(1, 2))
            {
                Assert.IsTrue(s.TryWait());
                Assert.IsFalse(s.TryWait());
                var a = s.WaitAsync();
                var b = s.WaitAsync();
                Assert.IsFalse(a.IsCompleted);
                Assert.AreEqual(0, s.Release());
                Assert.IsTrue(a.Result);
                Assert.IsFalse(b.IsCompleted);
                s.Release();
                Assert.IsTrue(b.Result);
                s.Release(2);
                Assert.AreEqual(2, s.CurrentCount);
                Assert.Throws<SemaphoreFullException>(() => s.Release());
                Assert.AreEqual(2, s.CurrentCount);
                Assert.Throws<ArgumentException>(() => s.TryWait(5));
                a.Dispose();
                b.Dispose();
            }
        }

        [Test]
        public async Task SemaphoreTimeoutAndCancellationTakeNoPermit()
        {
            using (var s = new TapirSemaphore(0, 1))
            using (var cts = new CancellationTokenSource())
            {
                Assert.IsFalse(await s.WaitAsync(1, 10));
                var canceled = s.WaitAsync(cts.Token);
                cts.Cancel();
                try
                {
                    await canceled;
                    Assert.Fail("the wait should have been canceled");
                }
                catch (OperationCanceledException) { }
                s.Release();
                Assert.AreEqual(1, s.CurrentCount);
                canceled.Dispose();
            }
        }

        [Test]
        public void DisposingASemaphoreFailsItsWaiters()
        {
            var s = new TapirSemaphore(0, 1);
            var w = s.WaitAsync();
            s.Dispose();
            var e = Assert.Throws<AggregateException>(() => { var r = w.Result; });
            Assert.AreEqual(TapirStatus.Disposed, ((TapirException)e.InnerException).Code);
            w.Dispose();
        }

        [Test]
        public async Task Events()
        {
            using (var a = new TapirAutoResetEvent())
            using (var m = new TapirManualResetEvent())
            {
                var w = a.WaitAsync();
                a.Set();
                Assert.IsTrue(await w);
                a.Set();
                a.Set();
                Assert.IsTrue(a.TryWait());
                Assert.IsFalse(a.TryWait());
                Assert.IsFalse(await a.WaitAsync(5));

                var w1 = m.WaitAsync();
                var w2 = m.WaitAsync();
                m.Set();
                Assert.IsTrue(await w1);
                Assert.IsTrue(await w2);
                Assert.IsTrue(m.IsSet);
                m.Reset();
                Assert.IsFalse(m.IsSet);
                Assert.IsFalse(await m.WaitAsync(5));
                w.Dispose();
                w1.Dispose();
                w2.Dispose();
            }
        }

        [Test]
        public async Task CountdownAndBarrier()
        {
            using (var c = new TapirCountdownEvent(2))
            {
                var w = c.WaitAsync();
                Assert.IsFalse(c.Signal());
                c.AddCount();
                Assert.IsTrue(c.Signal(2));
                Assert.IsTrue(await w);
                Assert.IsTrue(c.IsSet);
                Assert.IsFalse(c.TryAddCount());
                Assert.Throws<InvalidOperationException>(() => c.Signal());
                c.Reset();
                Assert.AreEqual(2, c.CurrentCount);
                c.Reset(4);
                Assert.AreEqual(4, c.InitialCount);
                w.Dispose();
            }
            var phases = new List<long>();
            using (var b = new TapirBarrier(2, phase =>
            {
                phases.Add(phase);
                if (phase == 1) throw new InvalidTimeZoneException("phase one");
            }))
            {
                var x = b.SignalAndWaitAsync();
                Assert.AreEqual(1, b.ParticipantsRemaining);
                var y = b.SignalAndWaitAsync();
                Assert.IsTrue(await x);
                Assert.IsTrue(await y);
                var p = b.SignalAndWaitAsync();
                var q = b.SignalAndWaitAsync();
                Assert.Throws<InvalidTimeZoneException>(async () => await p);  // the action's own exception
                Assert.Throws<InvalidTimeZoneException>(async () => await q);
                CollectionAssert.AreEqual(new long[] { 0, 1 }, phases);
                Assert.AreEqual(2, b.CurrentPhaseNumber);
                Assert.AreEqual(2, b.AddParticipants());
                Assert.AreEqual(3, b.ParticipantCount);
                b.RemoveParticipants();
                Assert.AreEqual(2, b.ParticipantCount);
                x.Dispose(); y.Dispose(); p.Dispose(); q.Dispose();
            }
        }

        [Test]
        public async Task LockGuardsReleaseOnDispose()
        {
            using (var l = new TapirAsyncLock())
            {
                var g = await l.LockAsync();
                Assert.IsNotNull(g);
                Assert.IsTrue(l.IsHeld);
                Assert.IsFalse(l.TryLock(out TapirLockGuard none));
                Assert.IsNull(none);
                var waiting = l.LockAsync();
                Assert.IsFalse(waiting.IsCompleted);
                Assert.IsNull(await l.LockAsync(5));  // timed out
                g.Dispose();
                var g2 = await waiting;
                Assert.IsTrue(l.IsHeld);
                g2.Dispose();
                Assert.IsFalse(l.IsHeld);
                Assert.IsTrue(l.TryLock(out TapirLockGuard g3));
                g3.Dispose();
            }
        }

        [Test]
        public async Task ReaderWriterLockPrefersWriters()
        {
            using (var rw = new TapirReaderWriterLock())
            {
                var r1 = await rw.ReaderLockAsync();
                var w = rw.WriterLockAsync();
                var r2 = rw.ReaderLockAsync();
                Assert.IsFalse(w.IsCompleted);
                Assert.IsFalse(r2.IsCompleted);
                Assert.AreEqual(1, rw.CurrentReadCount);
                r1.Dispose();
                var wg = await w;
                Assert.IsTrue(rw.IsWriteLockHeld);
                Assert.IsFalse(rw.TryEnterRead(out TapirLockGuard no));
                wg.Dispose();
                var rg = await r2;
                Assert.AreEqual(1, rw.CurrentReadCount);
                rg.Dispose();
                Assert.IsTrue(rw.TryEnterWrite(out TapirLockGuard wg2));
                wg2.Dispose();
            }
        }

        [Test]
        public async Task ChannelOfObjects()
        {
            using (var ch = new TapirChannel<string>(2))
            {
                Assert.IsTrue(ch.TryWrite("one"));
                Assert.IsTrue(ch.TryWrite("two"));
                Assert.IsFalse(ch.TryWrite("three"));
                var w = ch.WriteAsync("three");
                Assert.IsFalse(w.IsCompleted);
                Assert.IsTrue(ch.TryRead(out string first));
                Assert.AreEqual("one", first);
                Assert.IsTrue(await w);
                var r = ch.ReadAsync();
                Assert.AreEqual("two", await r);
                var r3 = ch.ReadAsync();
                Assert.AreEqual("three", await r3);
                var pending = ch.ReadAsync();
                var more = ch.WaitToReadAsync();
                ch.Complete();
                var e = Assert.Throws<AggregateException>(() => { var v = pending.Result; });
                Assert.AreEqual(TapirStatus.QueueCompleted, ((TapirException)e.InnerException).Code);
                Assert.IsFalse(await more);
                Assert.IsTrue(ch.IsCompleted);
                Assert.IsFalse(ch.TryRead(out string _));
                var late = Assert.Throws<TapirException>(() => ch.WriteAsync("late"));
                Assert.AreEqual(TapirStatus.QueueCompleted, late.Code);
                w.Dispose(); r.Dispose(); r3.Dispose(); pending.Dispose(); more.Dispose();
            }
            using (var ints = new TapirChannel<int>(1, TapirChannelFullMode.DropOldest))
            {
                Assert.IsTrue(ints.TryWrite(1));
                Assert.IsTrue(ints.TryWrite(2));
                Assert.AreEqual(1, ints.Count);
                Assert.IsTrue(ints.TryRead(out int v));
                Assert.AreEqual(2, v);
            }
        }

        [Test]
        public void ChannelReleasesItemsLeftInside()
        {
            long baseline = Util.Baseline();
            Util.OnFreshThread(() =>
            {
                var ch = new TapirChannel<object>();
                for (int i = 0; i < 100; i++) Assert.IsTrue(ch.TryWrite(new object()));
                ch.Dispose();
            });
            Util.AssertLiveObjectsBackTo(baseline);
        }

        [Test]
        public void ChannelProducersAndConsumers()
        {
            using (var ch = new TapirChannel<int>(16))
            {
                long sum = 0;
                var threads = new List<Thread>();
                for (int p = 0; p < 2; p++)
                {
                    int id = p;
                    threads.Add(new Thread(() =>
                    {
                        for (int i = 1; i <= 2000; i++)
                            using (var w = ch.WriteAsync(id * 10000 + i)) w.Wait();
                    }));
                }
                for (int c = 0; c < 2; c++)
                    threads.Add(new Thread(() =>
                    {
                        for (;;)
                        {
                            using (var r = ch.ReadAsync())
                            {
                                r.Wait(-1);
                                if (!r.IsCompletedSuccessfully) return;
                                Interlocked.Add(ref sum, r.Result);
                            }
                        }
                    }));
                foreach (var t in threads) t.Start();
                threads[0].Join();
                threads[1].Join();
                ch.Complete();
                threads[2].Join();
                threads[3].Join();
                long want = 0;
                for (int p = 0; p < 2; p++) for (int i = 1; i <= 2000; i++) want += p * 10000 + i;
                Assert.AreEqual(want, sum);
            }
        }

        [Test]
        public async Task CacheRunsTheFactoryOncePerKey()
        {
            int calls = 0;
            using (var c = new TapirCache<string>(key =>
            {
                calls++;
                if (key == "bad") throw new KeyNotFoundException(key);
                return TapirTask.FromResult(key + "!");
            }))
            {
                var a = c.GetAsync("k");
                var b = c.GetAsync("k");
                Assert.AreEqual(a.Id, b.Id);
                Assert.AreEqual("k!", await a);
                Assert.AreEqual(1, calls);
                var bad1 = c.GetAsync("bad");
                Assert.Throws<KeyNotFoundException>(async () => await bad1);
                var bad2 = c.GetAsync("bad");
                Assert.Throws<KeyNotFoundException>(async () => await bad2);
                Assert.AreEqual(3, calls);  // a failure is evicted: the factory runs again
                Assert.AreEqual(1, c.Count);
                Assert.IsTrue(c.Remove("k"));
                Assert.IsFalse(c.Remove("k"));
                c.Clear();
                Assert.AreEqual(0, c.Count);
                a.Dispose(); b.Dispose(); bad1.Dispose(); bad2.Dispose();
            }
        }

        [Test]
        public void NothingIsLeftBehind()
        {
            long baseline = Util.Baseline();
            Util.OnFreshThread(() =>
            {
                using (var s = new TapirSemaphore(0, 1))
                {
                    var w = s.WaitAsync(1, 5);
                    Assert.IsFalse(w.Result);
                    w.Dispose();
                }
                using (var l = new TapirAsyncLock())
                {
                    var g = l.LockAsync().Result;
                    g.Dispose();
                }
                using (var c = new TapirCache<int>(k => TapirTask.FromResult(k.Length)))
                {
                    using (var t = c.GetAsync("abc")) Assert.AreEqual(3, t.Result);
                }
            });
            Util.AssertLiveObjectsBackTo(baseline);
        }
    }
}
