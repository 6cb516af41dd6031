using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>Disposed and stale handles (an exception, never a crash), finalizer-thread release, nothing left behind.</summary>
    [TestFixture]
    public class LifetimeTests
    {
        [Test]
        public void ADisposedTaskThrowsObjectDisposedExceptionEverywhereAndDisposeTwiceIsFine()
        {
            var task = TapirTask.FromResult(5);
            var pending = new TapirCompletionSource<int>().Task;
            task.Dispose();
            task.Dispose();
            pending.Dispose();
            Assert.Throws<ObjectDisposedException>(() => { var s = task.Status; });
            Assert.Throws<ObjectDisposedException>(() => { var r = task.Result; });
            Assert.Throws<ObjectDisposedException>(() => task.GetAwaiter().GetResult());
            Assert.Throws<ObjectDisposedException>(() => { var h = task.NativeHandle; });
            Assert.Throws<ObjectDisposedException>(() => { var s = pending.Status; });
            Assert.Throws<ObjectDisposedException>(() => { var c = pending.GetAwaiter().IsCompleted; });
            Assert.Throws<ObjectDisposedException>(() => pending.Wait(10));
            Assert.Throws<ObjectDisposedException>(() => pending.ContinueWith(t => { }));
            Assert.Throws<ObjectDisposedException>(() => pending.AsTask());
            Assert.Throws<ObjectDisposedException>(() => pending.GetAwaiter().UnsafeOnCompleted(() => { }));
        }

        [Test]
        public void OtherDisposedObjectsThrowObjectDisposedException()
        {
            var source = new TapirCompletionSource<int>();
            source.Dispose();
            source.Dispose();
            Assert.Throws<ObjectDisposedException>(() => source.SetResult(1));
            Assert.Throws<ObjectDisposedException>(() => source.TrySetCanceled());
            var cancel = new TapirCancellationSource();
            var token = cancel.Token;
            cancel.Dispose();
            cancel.Dispose();
            Assert.Throws<ObjectDisposedException>(() => cancel.Cancel());
            Assert.Throws<ObjectDisposedException>(() => { var b = token.IsCancellationRequested; });
            var main = new ManualScheduler();
            main.Dispose();
            main.Dispose();
            Assert.Throws<ObjectDisposedException>(() => main.RunPending());
            Assert.Throws<ObjectDisposedException>(() => main.Post(() => { }));
            var progress = new TapirProgress<int>(v => { });
            progress.Dispose();
            Assert.Throws<ObjectDisposedException>(() => progress.Report(1));
        }

        [Test]
        public void AStaleNativeHandleIsRefusedNotDereferenced()
        {
            IntPtr raw;
            using (var t = TapirTask.FromResult(1)) raw = t.RetainNativeHandle();
            Assert.AreEqual(0, NativeMethods.tapir_task_release(raw));
            Assert.AreEqual((int)TapirStatus.InvalidHandle, NativeMethods.tapir_task_release(raw), "a second release is an error code");
            Assert.Throws<ObjectDisposedException>(() => TapirTask.FromNativeHandle(raw, true));
            var wrapped = TapirTask.FromNativeHandle(raw, false);
            Assert.Throws<ObjectDisposedException>(() => { var s = wrapped.Status; });
            Assert.Throws<ObjectDisposedException>(() => wrapped.ContinueWith(t => { }));
            GC.SuppressFinalize(wrapped.Handle);   // its release would only report INVALID_HANDLE again
        }

        [Test]
        public void DisposingOneWrapperLeavesAnotherWrapperOfTheSameTaskWorking()
        {
            var source = new TapirCompletionSource<int>();
            var second = TapirTask<int>.FromNativeHandle(source.Task.NativeHandle, true);
            source.Task.Dispose();
            source.SetResult(3);
            Assert.AreEqual(3, second.Result);
        }

        [Test]
        public void HandlesReleasedByTheFinalizerThreadLeaveNothingBehind()
        {
            long before = Util.Baseline();
            Util.OnFreshThread(() => MakeGarbage(500));
            // Mono scans stacks conservatively: a stale slot on some idle thread can keep a
            // few wrappers (and their native references) alive a while longer, so a handful
            // is tolerated; a leak here would leave 500 or more.
            Util.AssertGarbageReleased(before, 16);
        }

        private static void MakeGarbage(int n)
        {
            for (int i = 0; i < n; i++)
            {
                var source = new TapirCompletionSource<string>();
                var next = source.Task.ContinueWith(t => t.Result + "!", TaskContinuationOptions.ExecuteSynchronously);
                source.SetResult("x" + i);
                var cancel = new TapirCancellationSource();
                cancel.Token.Register(() => { });
                var pending = new TapirCompletionSource<int>().Task.WaitAsync(-1);
                GC.KeepAlive(next);
                GC.KeepAlive(pending);
            }
        }

        [Test, Timeout(300000)]
        public void AHundredThousandAwaitsBringTheLiveObjectCountBackToItsStart()
        {
            long before = Util.Baseline();
            long sum = 0;
            Util.OnFreshThread(() => sum = AwaitLoop().Result);
            long expected = 0;
            for (int i = 0; i < 100000; i++) expected += i;
            Assert.AreEqual(expected, sum);
            Util.AssertGarbageReleased(before, 16);   // as above; a leak here would leave 25 000 or more
        }

        private static async Task<long> AwaitLoop()
        {
            long sum = 0;
            for (int i = 0; i < 100000; i++)
            {
                switch (i % 4)
                {
                    case 0:
                        sum += await TapirTask.FromResult(i);   // already completed
                        break;
                    case 1:
                    {
                        var source = new TapirCompletionSource<int>();
                        var waiting = AwaitOne(source.Task);    // registers while pending
                        source.SetResult(i);                    // resumes inline
                        sum += await waiting;
                        source.Dispose();
                        source.Task.Dispose();
                        break;
                    }
                    case 2:
                    {
                        var source = new TapirCompletionSource<object>();
                        var waiting = AwaitOne(source.Task);
                        source.SetResult(i);                    // a GCHandle value, freed by the task
                        sum += (int)await waiting;
                        break;                                  // released by the finalizer
                    }
                    default:
                        try
                        {
                            await TapirTask.FromException(new InvalidOperationException());
                        }
                        catch (InvalidOperationException)
                        {
                            sum += i;
                        }
                        break;
                }
            }
            return sum;
        }

        private static async Task<T> AwaitOne<T>(TapirTask<T> task) => await task;

        [Test]
        public void AFailedRegistrationFreesItsState()
        {
            IntPtr raw;
            using (var t = TapirTask.FromResult(1)) raw = t.RetainNativeHandle();
            NativeMethods.tapir_task_release(raw);            // now stale
            var stale = TapirTask.FromNativeHandle(raw, false);
            GC.SuppressFinalize(stale.Handle);
            // Native code refuses the registration: the GCHandle made for it must be freed at
            // once instead of leaking (it would pin the continuation forever).
            WeakReference weak = null;
            Util.OnFreshThread(() => weak = Register(stale));
            Assert.IsTrue(Util.Eventually(() => !weak.IsAlive, 5000));
        }

        private static WeakReference Register(TapirTask stale)
        {
            var captured = new object();
            Action callback = () => GC.KeepAlive(captured);   // a capturing lambda: not cached in a static field
            var weak = new WeakReference(callback);
            Assert.Throws<ObjectDisposedException>(() => stale.GetAwaiter().UnsafeOnCompleted(callback));
            return weak;
        }
    }
}
