using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;

namespace Tapir.Tests
{
    /// <summary>
    /// A program that never calls TapirRuntime.Shutdown still exits: each case runs a child
    /// mono process (tests/csharp/child/ExitChild.cs) with a time limit.
    /// </summary>
    [TestFixture]
    public class ExitTests
    {
        private static string ChildPath()
        {
            string path = Environment.GetEnvironmentVariable("TAPIR_EXIT_CHILD");
            if (string.IsNullOrEmpty(path))
                path = Path.Combine(Path.GetDirectoryName(typeof(ExitTests).Assembly.Location), "ExitChild.exe");
            Assert.IsTrue(File.Exists(path), "the child program is built next to the tests: " + path);
            return path;
        }

        /// <summary>Runs the child; returns its exit code, or null if it was still running after <paramref name="limitMs"/> (then it is killed).</summary>
        private static int? RunChild(string mode, int limitMs, out string output)
        {
            var info = new ProcessStartInfo("mono", "\"" + ChildPath() + "\" " + mode)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using (var p = Process.Start(info))
            {
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(limitMs))
                {
                    p.Kill();
                    p.WaitForExit();
                    output = stdout.Result + stderr.Result;
                    return null;
                }
                p.WaitForExit();
                output = stdout.Result + stderr.Result;
                return p.ExitCode;
            }
        }

        [Test, Timeout(60000)]
        public void AProgramWhosePoolThreadsRanManagedCallbacksExitsWithoutShutdown()
        {
            int? code = RunChild("await", 20000, out string output);
            Assert.IsNotNull(code, "the child hung at exit:\n" + output);
            Assert.AreEqual(0, code, output);
            StringAssert.Contains("child: main returns", output);
        }

        [Test, Timeout(60000)]
        public void AProgramExitsWhileAPoolThreadIsStillInACallback()
        {
            int? code = RunChild("busy", 20000, out string output);
            Assert.IsNotNull(code, "the child hung at exit:\n" + output);
            Assert.AreEqual(0, code, output);
            StringAssert.Contains("child: callback finished", output, "the exit waited for the running callback");
        }

        [Test, Timeout(60000)]
        public void AProgramWithPendingTimersAndContinuationsExits()
        {
            int? code = RunChild("pending", 20000, out string output);
            Assert.IsNotNull(code, "the child hung at exit:\n" + output);
            Assert.AreEqual(0, code, output);
        }

        [Test, Timeout(60000)]
        public void EnvironmentExitFromInsideAPoolCallbackExits()
        {
            int? code = RunChild("exit-in-callback", 20000, out string output);
            Assert.IsNotNull(code, "the child hung at exit:\n" + output);
            Assert.AreEqual(3, code, output);
        }

        /// <summary>The control: with the exit guard off, Mono waits for the attached pool threads forever.</summary>
        [Test, Timeout(60000)]
        public void WithoutTheExitGuardMonoWaitsForThePoolThreads()
        {
            int? code = RunChild("no-guard", 3000, out string output);
            Assert.IsNull(code, "expected the hang the guard prevents; the child exited with " + code + ":\n" + output);
            StringAssert.Contains("child: main returns", output, "it hung after Main returned, not before");
        }
    }
}
