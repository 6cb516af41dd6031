using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>AsTask and FromTask: System.Threading.Tasks on one side, native tasks on the other.</summary>
    [TestFixture]
    public class BridgeTests
    {
        [Test]
        public async Task AsTaskCompletesAsTheNativeTaskSucceeds()
        {
            var source = new TapirCompletionSource<string>();
            Task<string> task = source.Task.AsTask();
            Assert.AreSame(task, source.Task.AsTask(), "one bridge per wrapper");
            Assert.IsFalse(task.IsCompleted);
            source.SetResult("done");
            Assert.AreEqual("done", await task);
        }

        [Test]
        public void AsTaskOfAFaultedTaskCarriesEveryError()
        {
            var errors = new Exception[] { new ArgumentException(), new FormatException() };
            var source = new TapirCompletionSource<int>();
            var task = source.Task.AsTask();
            source.SetException(errors);
            var aggregate = Assert.Throws<AggregateException>(() => task.Wait(5000));
            CollectionAssert.AreEqual(errors, aggregate.InnerExceptions);
        }

        [Test]
        public void AsTaskOfACanceledTaskIsCanceled()
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task.AsTask();
            source.SetCanceled();
            Assert.Throws<AggregateException>(() => task.Wait(5000));
            Assert.IsTrue(task.IsCanceled);
            Assert.IsTrue(TapirTask.FromCanceled(new CancellationToken(true)).AsTask().IsCanceled);
        }

        [Test]
        public void AsTaskContinuationsDoNotRunInsideTheNativeCallback()
        {
            var source = new TapirCompletionSource<int>();
            int completer = Thread.CurrentThread.ManagedThreadId, ranOn = -1;
            var after = source.Task.AsTask().ContinueWith(t => ranOn = Thread.CurrentThread.ManagedThreadId, TaskContinuationOptions.ExecuteSynchronously);
            source.SetResult(1);
            Assert.IsTrue(after.Wait(5000));
            Assert.AreNotEqual(completer, ranOn, "the bridge's TaskCompletionSource runs continuations asynchronously");
        }

        [Test]
        public void FromTaskGivesANativeTaskThatCCodeCanWaitFor()
        {
            var tcs = new TaskCompletionSource<long>();
            var native = TapirTask.FromTask(tcs.Task);
            IntPtr raw = native.RetainNativeHandle();
            try
            {
                Util.Later(20, () => tcs.SetResult(99));
                Assert.AreEqual(0, NativeMethods.tapir_task_wait(new Tapir.Handles.TaskHandle(raw, false), -1), "a plain native wait");
                Check.Status(NativeMethods.tapir_task_result(raw, out IntPtr bits));
                Assert.AreEqual(99L, bits.ToInt64(), "C reads the integer from the pointer bits");
            }
            finally
            {
                NativeMethods.tapir_task_release(raw);
            }
        }

        [Test]
        public void FromTaskOfACanceledOrFaultedTask()
        {
            var canceled = new TaskCompletionSource<int>();
            canceled.SetCanceled();
            Assert.IsTrue(TapirTask.FromTask(canceled.Task).IsCanceled);
            var errors = new Exception[] { new ArgumentException("1"), new ArgumentException("2") };
            var faulted = new TaskCompletionSource<int>();
            faulted.SetException(errors);
            var native = TapirTask.FromTask((Task)faulted.Task);
            CollectionAssert.AreEqual(errors, native.Exception.InnerExceptions);
        }

        [Test]
        public async Task AnAsyncMethodAwaitsNativeAndDotNetTasksMixed()
        {
            int total = 0;
            for (int i = 0; i < 10; i++)
            {
                total += await TapirTask.Run(() => 1);
                await Task.Yield();
                total += await TapirTask.FromTask(Task.Run(() => 1));
                await TapirTask.Delay(1);
            }
            Assert.AreEqual(20, total);
        }
    }
}
