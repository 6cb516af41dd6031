// .NET Task Parallel Library (on Mono) side of the benchmark suite. C# 7.2.
// usage: mono tpl_bench.exe WORKLOAD N
// Synchronous continuations are ContinueWith(..., TaskContinuationOptions.ExecuteSynchronously)
// (each ContinueWith also creates a continuation Task); asynchronous ones (W6c) use the
// default options, which queue to the thread pool; W7 uses Task.Run. Every workload is run
// once at a small size first so that the JIT has compiled it before the timed run.
using System;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

static class TplBench
{
    const string Lib = "tpl-mono";
    const TaskContinuationOptions Sync = TaskContinuationOptions.ExecuteSynchronously;

    static long counter;
    static readonly Action<Task<int>> Increment = t => counter++;

    [DllImport("libc")]
    static extern int getrusage(int who, long[] usage);

    // Peak RSS in bytes: ru_maxrss (KiB) follows the two struct timevals.
    static long MaxRssBytes()
    {
        var usage = new long[18];
        getrusage(0, usage);
        return usage[4] * 1024;
    }

    static double NowNs()
    {
        return Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency);
    }

    static void Report(string w, long n, double ns, bool ok, string extra = null)
    {
        var ci = CultureInfo.InvariantCulture;
        var line = string.Format(ci, "lib={0} workload={1} n={2} ns_per_op={3:F2} total_ms={4:F3} ok={5}",
            Lib, w, n, ns / n, ns / 1e6, ok ? 1 : 0);
        if (extra != null)
            line += " " + extra;
        Console.WriteLine(line);
    }

    static string F(double v)
    {
        return v.ToString("F3", CultureInfo.InvariantCulture);
    }

    // ---- W1 / W2 ----
    static void W1Loop(int n)
    {
        for (int i = 0; i < n; i++)
        {
            var tcs = new TaskCompletionSource<int>();
            tcs.Task.ContinueWith(Increment, Sync);
            tcs.SetResult(i);
        }
    }

    static void W2Loop(int n)
    {
        for (int i = 0; i < n; i++)
            Task.FromResult(i).ContinueWith(Increment, Sync);
    }

    static void RunLoop(string w, int n, Action<int> loop)
    {
        loop(n / 10 + 1);
        counter = 0;
        long bytes0 = GC.GetAllocatedBytesForCurrentThread();
        double t0 = NowNs();
        loop(n);
        double t1 = NowNs();
        long bytes1 = GC.GetAllocatedBytesForCurrentThread();
        Report(w, n, t1 - t0, counter == n, "gc_bytes_per_op=" + F((double)(bytes1 - bytes0) / n));
    }

    // ---- W3: chain of D synchronous continuations ----
    static bool Chain(int depth, out double buildNs, out double fireNs)
    {
        double t0 = NowNs();
        var root = new TaskCompletionSource<long>();
        Task<long> last = root.Task;
        for (int k = 0; k < depth; k++)
            last = last.ContinueWith(t => t.Result + 1, Sync);
        double t1 = NowNs();
        root.SetResult(0);
        long result = last.Result;
        double t2 = NowNs();
        buildNs = t1 - t0;
        fireNs = t2 - t1;
        return result == depth;
    }

    static void W3(int depth)
    {
        double b, f;
        bool ok = Chain(1000, out b, out f);
        ok = Chain(depth, out b, out f) && ok;
        Report("W3", depth, b + f, ok, "build_ns_per_op=" + F(b / depth) + " fire_ns_per_op=" + F(f / depth));
    }

    static void MakeSources(int n, out TaskCompletionSource<int>[] src, out Task<int>[] tasks)
    {
        src = new TaskCompletionSource<int>[n];
        tasks = new Task<int>[n];
        for (int i = 0; i < n; i++)
        {
            src[i] = new TaskCompletionSource<int>(i); // AsyncState = index
            tasks[i] = src[i].Task;
        }
    }

    // ---- W4: WhenAll ----
    static void W4(int n, bool report)
    {
        int ran = 0;
        long rss0 = MaxRssBytes();
        double t0 = NowNs();
        TaskCompletionSource<int>[] src;
        Task<int>[] tasks;
        MakeSources(n, out src, out tasks);
        double t1 = NowNs();
        var cont = Task.WhenAll(tasks).ContinueWith(all => { ran++; return all.Result.Length; }, Sync);
        for (int i = 0; i < n; i++)
            src[i].SetResult(i);
        int count = cont.Result;
        double t2 = NowNs();
        long rss1 = MaxRssBytes();
        if (report)
            Report("W4", n, t2 - t0, ran == 1 && count == n,
                "combine_ms=" + F((t2 - t1) / 1e6) + " rss_bytes_per_input=" + F((double)(rss1 - rss0) / n));
    }

    // ---- W5: WhenAny, complete the middle one ----
    static void W5(int n, bool report)
    {
        double t0 = NowNs();
        TaskCompletionSource<int>[] src;
        Task<int>[] tasks;
        MakeSources(n, out src, out tasks);
        double t1 = NowNs();
        var any = Task.WhenAny(tasks);
        src[n / 2].SetResult(7);
        var won = any.Result;
        double t2 = NowNs();
        if (report)
            Report("W5", n, t2 - t0, (int)won.AsyncState == n / 2, "combine_ms=" + F((t2 - t1) / 1e6));
    }

    // Same permutation as bench_completion_order() in bench_util.h.
    static long[] CompletionOrder(int n)
    {
        var order = new long[n];
        for (int i = 0; i < n; i++)
            order[i] = i;
        ulong x = 88172645463325252UL;
        for (long i = n - 1; i > 0; i--)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            long j = (long)(x % (ulong)(i + 1));
            long tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        return order;
    }

    // ---- W5q: completion order by repeated WhenAny over the remaining tasks ----
    static void W5q(int n, bool report)
    {
        var order = CompletionOrder(n);
        TaskCompletionSource<int>[] src;
        Task<int>[] tasks;
        MakeSources(n, out src, out tasks);
        var rest = (Task<int>[])tasks.Clone();
        var pos = new int[n]; // task id -> index in rest
        for (int i = 0; i < n; i++)
            pos[i] = i;
        int left = n;
        bool ok = true;
        double t0 = NowNs();
        for (int k = 0; k < n; k++)
        {
            var view = new Task<int>[left];
            Array.Copy(rest, view, left);
            var any = Task.WhenAny(view);
            int id = (int)order[k];
            src[id].SetResult(id);
            var won = any.Result;
            int wonId = (int)won.AsyncState;
            ok &= wonId == id;
            int at = pos[wonId];
            left--; // swap-remove the winner
            rest[at] = rest[left];
            pos[(int)rest[at].AsyncState] = at;
        }
        double t1 = NowNs();
        if (report)
            Report("W5q", n, t1 - t0, ok);
    }

    // ---- W6b / W6c: ping-pong between two threads ----
    static double W6bOnce(int n, out bool ok)
    {
        TaskCompletionSource<int>[] ping, pong;
        Task<int>[] pingT, pongT;
        MakeSources(n, out ping, out pingT);
        MakeSources(n, out pong, out pongT);
        double t0 = NowNs();
        var other = new Thread(() =>
        {
            for (int i = 0; i < n; i++)
                pong[i].SetResult(pingT[i].Result);
        });
        other.Start();
        for (int i = 0; i < n; i++)
        {
            ping[i].SetResult(i);
            pongT[i].Wait();
        }
        double t1 = NowNs();
        other.Join();
        ok = pongT[n - 1].Result == n - 1;
        return t1 - t0;
    }

    static double W6cOnce(int n, out bool ok)
    {
        TaskCompletionSource<int>[] ping, pong;
        Task<int>[] pingT, pongT;
        MakeSources(n, out ping, out pingT);
        MakeSources(n, out pong, out pongT);
        for (int i = 0; i < n; i++)
        {
            var nextPong = pong[i];
            pingT[i].ContinueWith(t => nextPong.SetResult(t.Result + 1));
            if (i + 1 < n)
            {
                var nextPing = ping[i + 1];
                pongT[i].ContinueWith(t => nextPing.SetResult(t.Result + 1));
            }
        }
        double t0 = NowNs();
        ping[0].SetResult(0);
        int last = pongT[n - 1].Result;
        double t1 = NowNs();
        ok = last == 2 * n - 1;
        return t1 - t0;
    }

    delegate double Once(int n, out bool ok);

    static void W6(string w, int n, Once once)
    {
        bool okWarm, ok;
        once(1000, out okWarm);
        double ns = once(n, out ok);
        Report(w, n, ns, ok && okWarm);
    }

    // ---- W7: N tiny Task.Run jobs ----
    static double W7Once(int n, out bool ok)
    {
        long done = 0;
        var all = new TaskCompletionSource<bool>();
        Action job = () =>
        {
            if (Interlocked.Increment(ref done) == n)
                all.SetResult(true);
        };
        double t0 = NowNs();
        for (int i = 0; i < n; i++)
            Task.Run(job);
        all.Task.Wait();
        double t1 = NowNs();
        ok = Interlocked.Read(ref done) == n;
        return t1 - t0;
    }

    static void W7(int n)
    {
        bool okWarm, ok;
        W7Once(10000, out okWarm);
        double ns = W7Once(n, out ok);
        Report("W7", n, ns, ok && okWarm);
    }

    static int Main(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: tpl_bench.exe WORKLOAD N");
            return 2;
        }
        string w = args[0];
        int n = int.Parse(args[1], CultureInfo.InvariantCulture);
        switch (w)
        {
            case "W1": RunLoop(w, n, W1Loop); break;
            case "W2": RunLoop(w, n, W2Loop); break;
            case "W3": W3(n); break;
            case "W4": W4(1000, false); W4(n, true); break;
            case "W5": W5(1000, false); W5(n, true); break;
            case "W5q": W5q(100, false); W5q(n, true); break;
            case "W6b": W6(w, n, W6bOnce); break;
            case "W6c": W6(w, n, W6cOnce); break;
            case "W7": W7(n); break;
            default:
                Console.WriteLine("lib={0} workload={1} n={2} status=n/a", Lib, w, n);
                break;
        }
        return 0;
    }
}
