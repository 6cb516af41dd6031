// .NET (Mono) peer of benches/primitives/prim_bench.c: the same workloads, printed as
// "name value unit" lines. C# 7.2.
//   sem_uncontended  SemaphoreSlim.Wait(0) + Release() on one thread
//   sem_async        SemaphoreSlim.WaitAsync() of an available permit + Release()
//   chan_spsc        BlockingCollection<object> bounded to 1024, 1 producer, 1 consumer
//   chan_mpmc        the same, 4 producers x 4 consumers
//   cache_hit        the AsyncCache pattern: ConcurrentDictionary<string, Lazy<Task<int>>>
//                    GetOrAdd of a cached key
// Each workload runs once untimed first, so the JIT has compiled it.
using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;

static class PrimsBench
{
    const long Ops = 5000000;

    static double BestOf(int runs, Func<double> f)
    {
        f();
        double best = double.MaxValue;
        for (int i = 0; i < runs; i++) best = Math.Min(best, f());
        return best;
    }

    static double SemUncontended()
    {
        var s = new SemaphoreSlim(1, 1);
        var sw = Stopwatch.StartNew();
        for (long i = 0; i < Ops; i++)
        {
            if (!s.Wait(0)) throw new InvalidOperationException();
            s.Release();
        }
        return sw.Elapsed.TotalMilliseconds * 1e6 / Ops;
    }

    static double SemAsync()
    {
        var s = new SemaphoreSlim(1, 1);
        var sw = Stopwatch.StartNew();
        for (long i = 0; i < Ops; i++)
        {
            var t = s.WaitAsync();
            if (!t.IsCompleted) throw new InvalidOperationException();
            s.Release();
        }
        return sw.Elapsed.TotalMilliseconds * 1e6 / Ops;
    }

    static double Chan(int producers, int consumers, long total)
    {
        var q = new BlockingCollection<object>(1024);
        var boxed = new object();
        long perP = total / producers;
        var ps = new Thread[producers];
        var cs = new Thread[consumers];
        long got = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < consumers; i++)
        {
            cs[i] = new Thread(() =>
            {
                long n = 0;
                foreach (var _ in q.GetConsumingEnumerable()) n++;
                Interlocked.Add(ref got, n);
            });
            cs[i].Start();
        }
        for (int i = 0; i < producers; i++)
        {
            ps[i] = new Thread(() => { for (long k = 0; k < perP; k++) q.Add(boxed); });
            ps[i].Start();
        }
        foreach (var p in ps) p.Join();
        q.CompleteAdding();
        foreach (var c in cs) c.Join();
        if (got != perP * producers) throw new InvalidOperationException();
        return got / sw.Elapsed.TotalSeconds;
    }

    static double CacheHit()
    {
        var map = new ConcurrentDictionary<string, Lazy<Task<int>>>();
        Func<string, Lazy<Task<int>>> factory = k => new Lazy<Task<int>>(() => Task.FromResult(k.Length));
        map.GetOrAdd("user:42", factory).Value.Wait();
        var sw = Stopwatch.StartNew();
        Task<int> last = null;
        for (long i = 0; i < Ops; i++) last = map.GetOrAdd("user:42", factory).Value;
        GC.KeepAlive(last);
        return sw.Elapsed.TotalMilliseconds * 1e6 / Ops;
    }

    static void Main()
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Format(c, "sem_uncontended {0:F1} ns", BestOf(5, SemUncontended)));
        Console.WriteLine(string.Format(c, "sem_async {0:F1} ns", BestOf(5, SemAsync)));
        Console.WriteLine(string.Format(c, "chan_spsc {0:F2} Mitems/s", BestOf(3, () => -Chan(1, 1, 4000000)) / -1e6));
        Console.WriteLine(string.Format(c, "chan_mpmc {0:F2} Mitems/s", BestOf(3, () => -Chan(4, 4, 4000000)) / -1e6));
        Console.WriteLine(string.Format(c, "cache_hit {0:F1} ns", BestOf(5, CacheHit)));
    }
}
