// AwaitBench.cs — the cost of `await` on a TapirTask<int> against `await` on a
// TaskCompletionSource<int>'s task, on the same runtime, in the same run.
//
// Cases (each measured for tapir and for the TPL, interleaved repetition by repetition,
// reported as the median over the repetitions):
//   completed      await of a task that has already completed, the same task N times
//   completed, CA(false)  the same with ConfigureAwait(false) on both sides
//   set + await    a new source per await: complete it, then await its task
//   pending        a new source per await: an async method awaits its task while it is
//                  pending, then SetResult resumes that method inline
//   pending+dispose  as pending, disposing the tapir source and task after each await
//                  (the TPL has nothing to dispose: its row repeats the pending case)
//   no await       as pending+dispose without the await: a new source, its task, SetResult,
//                  Dispose. What pending+dispose costs above this row is the await itself
//                  (the async method, the registration, the resume)
// Managed allocations per await of a completed task are measured with
// GC.GetAllocatedBytesForCurrentThread when the runtime has it, otherwise with
// GC.GetTotalMemory deltas (less precise); the output says which.
//
// Build and run: make -C bindings/csharp bench   (mono -O=all)
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Reflection;
using System.Threading.Tasks;
using Tapir;

internal static class AwaitBench
{
    private const int Repetitions = 9;
    private const int CompletedN = 1000000;
    private const int FreshN = 100000;
    private const int PendingN = 100000;

    private static Func<long> s_allocated;
    private static string s_allocatedHow;

    private static void Main(string[] args)
    {
        SetUpAllocationCounter();
        int reps = args.Length > 0 ? int.Parse(args[0]) : Repetitions;
        var cases = new List<Case>
        {
            new Case("completed", CompletedN, TapirCompleted, TplCompleted),
            new Case("completed, CA(false)", CompletedN, TapirCompletedConfigured, TplCompletedConfigured),
            new Case("set + await", FreshN, TapirSetThenAwait, TplSetThenAwait),
            new Case("pending", PendingN, TapirPending, TplPending),
            new Case("pending+dispose", PendingN, TapirPendingDisposed, TplPending),
            new Case("no await", PendingN, TapirNoAwait, TplNoAwait),
        };
        foreach (var c in cases)   // warm-up: JIT, pools, the native library's first allocations
        {
            c.Tapir(c.N / 10);
            c.Tpl(c.N / 10);
        }
        for (int r = 0; r < reps; r++)
        {
            foreach (var c in cases)
            {
                c.TapirNs.Add(Time(c.Tapir, c.N));
                c.TplNs.Add(Time(c.Tpl, c.N));
            }
        }

        Console.WriteLine("await on Mono {0}: {1} repetitions, interleaved; median ns per await", MonoVersion(), reps);
        Console.WriteLine();
        Console.WriteLine("{0,-21} {1,8} {2,12} {3,12} {4,8}", "case", "N", "TapirTask", "TCS task", "ratio");
        foreach (var c in cases)
        {
            double tapir = Median(c.TapirNs), tpl = Median(c.TplNs);
            Console.WriteLine("{0,-21} {1,8} {2,12:F1} {3,12:F1} {4,7:F2}x", c.Name, c.N, tapir, tpl, tapir / tpl);
        }
        Console.WriteLine();
        double tapirBytes = AllocatedPerAwait(TapirCompleted), tplBytes = AllocatedPerAwait(TplCompleted);
        Console.WriteLine("managed bytes allocated per await of a completed task ({0}): TapirTask {1:F3}, TCS task {2:F3}",
            s_allocatedHow, tapirBytes, tplBytes);
        TapirRuntime.Shutdown();
    }

    private sealed class Case
    {
        internal readonly string Name;
        internal readonly int N;
        internal readonly Func<int, long> Tapir, Tpl;
        internal readonly List<double> TapirNs = new List<double>(), TplNs = new List<double>();

        internal Case(string name, int n, Func<int, long> tapir, Func<int, long> tpl)
        {
            Name = name;
            N = n;
            Tapir = tapir;
            Tpl = tpl;
        }
    }

    private static double Time(Func<int, long> body, int n)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var sw = Stopwatch.StartNew();
        long check = body(n);
        sw.Stop();
        if (check != (long)n * (n - 1) / 2) throw new InvalidOperationException("wrong sum " + check);
        return sw.Elapsed.TotalMilliseconds * 1e6 / n;
    }

    private static double Median(List<double> values)
    {
        var v = new List<double>(values);
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }

    // ---- completed: await the same completed task n times (the loop sums i, the task gives 0) ----

    private static long TapirCompleted(int n)
    {
        var task = TapirTask.FromResult(0);
        return AwaitCompletedTapir(task, n).Result;
    }

    private static async Task<long> AwaitCompletedTapir(TapirTask<int> task, int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++) sum += i + await task;
        return sum;
    }

    private static long TplCompleted(int n)
    {
        var task = Task.FromResult(0);
        return AwaitCompletedTpl(task, n).Result;
    }

    private static async Task<long> AwaitCompletedTpl(Task<int> task, int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++) sum += i + await task;
        return sum;
    }

    private static long TapirCompletedConfigured(int n) => AwaitCompletedTapirConfigured(TapirTask.FromResult(0), n).Result;

    private static async Task<long> AwaitCompletedTapirConfigured(TapirTask<int> task, int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++) sum += i + await task.ConfigureAwait(false);
        return sum;
    }

    private static long TplCompletedConfigured(int n) => AwaitCompletedTplConfigured(Task.FromResult(0), n).Result;

    private static async Task<long> AwaitCompletedTplConfigured(Task<int> task, int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++) sum += i + await task.ConfigureAwait(false);
        return sum;
    }

    // ---- set + await: a new source per await, completed before the await ----

    private static long TapirSetThenAwait(int n) => TapirSetThenAwaitAsync(n).Result;

    private static async Task<long> TapirSetThenAwaitAsync(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            source.SetResult(i);
            sum += await task;
        }
        return sum;
    }

    private static long TplSetThenAwait(int n) => TplSetThenAwaitAsync(n).Result;

    private static async Task<long> TplSetThenAwaitAsync(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var source = new TaskCompletionSource<int>();
            var task = source.Task;
            source.SetResult(i);
            sum += await task;
        }
        return sum;
    }

    // ---- pending: the await registers first, SetResult resumes it inline ----

    private static long TapirPending(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var source = new TapirCompletionSource<int>();
            var waiting = AwaitOne(source.Task);
            source.SetResult(i);
            sum += waiting.Result;
        }
        return sum;
    }

    private static long TapirPendingDisposed(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            var waiting = AwaitOne(task);
            source.SetResult(i);
            sum += waiting.Result;
            source.Dispose();
            task.Dispose();
        }
        return sum;
    }

    private static async Task<int> AwaitOne(TapirTask<int> task) => await task;

    // ---- no await: the source, its task and the set alone (what pending+dispose adds the await to) ----

    private static long TapirNoAwait(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            source.SetResult(i);
            sum += task.Result;
            source.Dispose();
            task.Dispose();
        }
        return sum;
    }

    private static long TplNoAwait(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var source = new TaskCompletionSource<int>();
            var task = source.Task;
            source.SetResult(i);
            sum += task.Result;
        }
        return sum;
    }

    private static long TplPending(int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            var source = new TaskCompletionSource<int>();
            var waiting = AwaitOne(source.Task);
            source.SetResult(i);
            sum += waiting.Result;
        }
        return sum;
    }

    private static async Task<int> AwaitOne(Task<int> task) => await task;

    // ---- allocations ----

    private static void SetUpAllocationCounter()
    {
        var method = typeof(GC).GetMethod("GetAllocatedBytesForCurrentThread", BindingFlags.Public | BindingFlags.Static);
        if (method != null)
        {
            s_allocated = (Func<long>)Delegate.CreateDelegate(typeof(Func<long>), method);
            s_allocatedHow = "GC.GetAllocatedBytesForCurrentThread";
        }
        else
        {
            s_allocated = () => GC.GetTotalMemory(false);
            s_allocatedHow = "GC.GetTotalMemory deltas";
        }
    }

    /// <summary>Bytes allocated by n awaits of a completed task, per await (one call's fixed cost included).</summary>
    private static double AllocatedPerAwait(Func<int, long> body)
    {
        const int n = 1000000;
        body(1000);
        long before = s_allocated();
        body(n);
        long after = s_allocated();
        return (after - before) / (double)n;
    }

    private static string MonoVersion()
    {
        var type = Type.GetType("Mono.Runtime");
        var display = type?.GetMethod("GetDisplayName", BindingFlags.NonPublic | BindingFlags.Static);
        return display != null ? (string)display.Invoke(null, null) : Environment.Version.ToString();
    }
}
