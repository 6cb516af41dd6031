using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>Errors across the boundary: identity, native errors, aggregates, status mapping, unobserved errors, callbacks that throw.</summary>
    [TestFixture]
    public class ErrorTests
    {
        [Test]
        public void AnExceptionComesBackAsTheSameObjectThroughANativeRoundTrip()
        {
            var error = new InvalidOperationException("identity");
            // Into a native error, onto a native task that C code holds, and out again.
            IntPtr handle;
            using (var managed = TapirTask.FromException<int>(error)) handle = managed.RetainNativeHandle();
            var fromC = TapirTask<int>.FromNativeHandle(handle, false);
            Assert.AreSame(error, Assert.Throws<InvalidOperationException>(() => fromC.GetAwaiter().GetResult()));
            // Through a native combinator, a continuation that forwards it, and Task.
            var viaWhenAll = TapirTask.WhenAll(fromC, TapirTask.FromResult(1));
            Assert.AreSame(error, Assert.Throws<InvalidOperationException>(() => viaWhenAll.GetAwaiter().GetResult()));
            var viaRun = TapirTask.Run(() => fromC);
            Assert.AreSame(error, Assert.Throws<InvalidOperationException>(() => viaRun.GetAwaiter().GetResult()));
            Assert.AreSame(error, fromC.AsTask().Exception.InnerException);
        }

        [Test]
        public void TheExceptionOfATaskBridgedFromTaskKeepsItsIdentity()
        {
            var error = new ArgumentException("from a Task");
            var faulted = Task.FromException<int>(error);
            var native = TapirTask.FromTask(faulted);
            Assert.AreSame(error, Assert.Throws<ArgumentException>(() => native.GetAwaiter().GetResult()));
        }

        [Test]
        public void ANativeErrorBecomesATapirExceptionWithCodeAndMessage()
        {
            IntPtr error = Util.NativeError((TapirStatus)404, "not found: ü");
            Check.Status(NativeMethods.tapir_task_from_error(new ErrorHandle(error, false), out IntPtr task));
            NativeMethods.tapir_error_release(error);
            var t = TapirTask.FromNativeHandle(task, false);
            var e = Assert.Throws<TapirException>(() => t.GetAwaiter().GetResult());
            Assert.AreEqual((TapirStatus)404, e.Code);
            Assert.AreEqual("not found: ü", e.Message);
            Assert.AreEqual(0, e.InnerErrors.Count);
        }

        [Test]
        public void ANativeAggregateKeepsItsInnerErrorsInOrderIncludingManagedOnes()
        {
            var managed = new FormatException("managed inner");
            IntPtr first = Util.NativeError(TapirStatus.Timeout, "native inner");
            IntPtr second;
            using (var h = Errors.FromException(managed)) second = NativeMethods.tapir_error_retain(h.Value);
            var msg = System.Text.Encoding.UTF8.GetBytes("outer");
            Check.Status(NativeMethods.tapir_error_new_aggregate((int)TapirStatus.Faulted, msg, (UIntPtr)msg.Length,
                new[] { first, second }, (UIntPtr)2, out IntPtr aggregate));
            NativeMethods.tapir_error_release(first);
            NativeMethods.tapir_error_release(second);
            var source = new TapirCompletionSource<int>();
            using (var h = new ErrorHandle(aggregate)) NativeMethods.tapir_source_set_error(source.Handle.Value, h);
            var e = Assert.Throws<TapirException>(() => source.Task.GetAwaiter().GetResult());
            Assert.AreEqual("outer", e.Message);
            Assert.AreEqual(2, e.InnerErrors.Count);
            Assert.AreEqual(TapirStatus.Timeout, ((TapirException)e.InnerErrors[0]).Code);
            Assert.AreSame(e.InnerErrors[0], e.InnerException);
            Assert.AreSame(managed, e.InnerErrors[1]);
        }

        [Test]
        public void AManagedTapirExceptionTravelsWithItsCodeForCCode()
        {
            var error = new TapirException((TapirStatus)77, "coded");
            var task = TapirTask.FromException(error);
            Check.Status(NativeMethods.tapir_task_error(task.Handle, out IntPtr native));
            try
            {
                Assert.AreEqual(77, NativeMethods.tapir_error_code(native));
            }
            finally
            {
                NativeMethods.tapir_error_release(native);
            }
            Assert.AreSame(error, Assert.Throws<TapirException>(() => task.GetAwaiter().GetResult()));
        }

        [Test]
        public void APanicInsideTapirBecomesTapirInternalException()
        {
            var source = new TapirCompletionSource<int>();
            Assert.AreEqual((int)TapirStatus.Panic, NativeMethods.tapir_debug_panic(source.Handle));
            var e = Assert.Throws<TapirInternalException>(() => source.Task.GetAwaiter().GetResult());
            Assert.AreEqual(TapirStatus.Panic, e.Code);
        }

        [Test]
        public void CallStatusesMapToTheExceptionsDotNetCallersExpect()
        {
            Assert.IsInstanceOf<ArgumentNullException>(Check.Exception((int)TapirStatus.NullArgument));
            Assert.IsInstanceOf<ArgumentException>(Check.Exception((int)TapirStatus.InvalidArgument));
            Assert.IsInstanceOf<InvalidOperationException>(Check.Exception((int)TapirStatus.InvalidState));
            Assert.IsInstanceOf<InvalidOperationException>(Check.Exception((int)TapirStatus.AlreadyCompleted));
            Assert.IsInstanceOf<TaskCanceledException>(Check.Exception((int)TapirStatus.Canceled));
            Assert.IsInstanceOf<TimeoutException>(Check.Exception((int)TapirStatus.Timeout));
            Assert.IsInstanceOf<ObjectDisposedException>(Check.Exception((int)TapirStatus.InvalidHandle));
            Assert.IsInstanceOf<TapirInternalException>(Check.Exception((int)TapirStatus.Panic));
            var other = (TapirException)Check.Exception((int)TapirStatus.SchedulerError);
            Assert.AreEqual(TapirStatus.SchedulerError, other.Code);
            Assert.AreEqual("unknown status", Check.Describe(12345));
        }

        [Test]
        public void AnUnobservedFaultRaisesTheEventWithItsException()
        {
            var error = new ApplicationException("nobody looked");
            Exception seen = null;
            EventHandler<UnobservedTaskExceptionEventArgs> handler = (s, e) => { if (e.Exception.InnerException == error) seen = e.Exception.InnerException; };
            TapirTask.UnobservedTaskException += handler;
            try
            {
                TapirTask.FromException(error).Dispose();
                Assert.AreSame(error, seen, "raised at release, deterministically");
            }
            finally
            {
                TapirTask.UnobservedTaskException -= handler;
            }
        }

        [Test]
        public void AnObservedFaultDoesNotRaiseTheEvent()
        {
            var error = new ApplicationException("read");
            bool raised = false;
            EventHandler<UnobservedTaskExceptionEventArgs> handler = (s, e) => { if (e.Exception.InnerException == error) raised = true; };
            TapirTask.UnobservedTaskException += handler;
            try
            {
                var task = TapirTask.FromException(error);
                Assert.Throws<ApplicationException>(() => task.GetAwaiter().GetResult());
                task.Dispose();
                Assert.IsFalse(raised);
            }
            finally
            {
                TapirTask.UnobservedTaskException -= handler;
            }
        }

        [Test]
        public void ExceptionPayloadsAreFreedWithTheirErrors()
        {
            Util.Settle();
            int before = Errors.LivePayloads;
            for (int i = 0; i < 100; i++)
            {
                var t = TapirTask.FromException(new Exception("x" + i));
                Assert.IsNotNull(t.Exception);
                t.Dispose();
            }
            Assert.AreEqual(before, Errors.LivePayloads);
        }

        [Test]
        public void APostedCallbackThatThrowsIsReportedNotPropagatedIntoNativeCode()
        {
            var error = new DivideByZeroException();
            Exception seen = null;
            EventHandler<TapirCallbackExceptionEventArgs> handler = (s, e) => seen = e.Exception;
            TapirRuntime.UnhandledCallbackException += handler;
            try
            {
                using (var main = new ManualScheduler())
                {
                    main.Post(() => throw error);
                    bool after = false;
                    main.Post(() => after = true);
                    Assert.AreEqual(2, main.RunPending());
                    Assert.AreSame(error, seen);
                    Assert.IsTrue(after, "the pump went on after the throwing item");
                }
            }
            finally
            {
                TapirRuntime.UnhandledCallbackException -= handler;
            }
        }

        [Test]
        public void ARunBodyThatThrowsFaultsItsTask()
        {
            var error = new ArithmeticException();
            var task = TapirTask.Run(new Action(() => throw error));
            Assert.AreSame(error, Assert.Throws<AggregateException>(() => task.Wait()).InnerException);
            var typed = TapirTask.Run(new Func<int>(() => throw error));
            Assert.AreSame(error, Assert.Throws<ArithmeticException>(() => typed.GetAwaiter().GetResult()));
        }
    }
}
