// Tour.cs — tapir from C#, the same stops as the C tour, written as C# code would be.
//
// 1. RunAsync: a computation on its own thread, exposed as a task through a completion source.
// 2. Continuations: ContinueWith on the tapir pool, a synchronous one, and await.
// 3. Waiting with a timeout.
// 4. Failed and canceled outcomes, and an only-on-faulted logger.
// 5. A broken promise: a producer that vanished does not leave waiters hanging.
// 6. A game loop: a worker posts to a manual scheduler, the main thread runs a few items per
//    frame, and an await in game code resumes on the main thread.
//
// Build and run: make -C bindings/csharp tour   (or make demo-csharp at the top level)
using System;
using System.Threading;
using System.Threading.Tasks;
using Tapir;

internal sealed class ComputationException : Exception
{
    public ComputationException(int code) : base("the computation failed with code " + code) { Code = code; }

    public int Code { get; }
}

internal static class Tour
{
    // ---- 1. RunAsync: the source is the producer, its task the consumer. ----

    private static TapirTask<long> RunAsync(Func<long> compute)
    {
        var source = new TapirCompletionSource<long>();
        var thread = new Thread(() =>
        {
            try { source.SetResult(compute()); }
            catch (Exception e) { source.SetException(e); }   // awaiting rethrows this same object
        }) { IsBackground = true };
        thread.Start();
        return source.Task;
    }

    private static long SlowSquare(long x)
    {
        Thread.Sleep(200);
        return x * x;
    }

    private static long AlwaysFails() => throw new ComputationException(404);

    private static void Main()
    {
        // The tour runs on a thread of its own: the locals of an async method live in its state
        // machine, and Mono scans stacks conservatively, so once that thread has exited every
        // wrapper the tour dropped is garbage and the finalizer releases its native reference.
        var tour = new Thread(() => MainAsync().Wait());
        tour.Start();
        tour.Join();
        TapirRuntime.Shutdown();
        Console.WriteLine("live objects left: {0}", LiveObjectsAfterCollection());
    }

    private static async Task MainAsync()
    {
        Console.WriteLine("tapir {0} — a tour in C#\n", TapirRuntime.Version);

        Console.WriteLine("1. RunAsync: square 12 on a thread of our own; the task is its completion source's.");
        TapirTask<long> square = RunAsync(() => SlowSquare(12));
        Console.WriteLine("   right after starting, completed? {0}", square.IsCompleted ? "yes" : "no");
        TapirTask announce = square.ContinueWith(t => Console.WriteLine("   [sync continuation] square: task {0} finished, result {1}", t.Id, t.Result),
            TaskContinuationOptions.ExecuteSynchronously);

        Console.WriteLine("\n2. ContinueWith on the pool adds one; it runs only once the square exists.");
        TapirTask<long> plusOne = square.ContinueWith(t => t.Result + 1);
        Console.WriteLine("   12*12 + 1 = {0} (awaited)", await plusOne);

        Console.WriteLine("\n3. Waiting with a timeout: a 50 ms wait on a 200 ms job times out; the job goes on.");
        TapirTask<long> slow = RunAsync(() => SlowSquare(3));
        Console.WriteLine("   Wait(50) -> {0}; still pending: {1}", slow.Wait(50) ? "completed" : "timed out",
            slow.Status == TapirTaskStatus.Pending ? "yes" : "no");
        Console.WriteLine("   WaitAsync(5 s) -> {0}", await slow.WaitAsync(TimeSpan.FromSeconds(5)));

        Console.WriteLine("\n4. Failed and canceled outcomes.");
        TapirTask<long> failing = RunAsync(AlwaysFails);
        TapirTask logger = failing.ContinueWith(t => Console.WriteLine("   [only-on-faulted logger] {0}", t.Exception.InnerException.Message),
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
        try
        {
            await failing;
        }
        catch (ComputationException e)
        {
            Console.WriteLine("   await rethrew the producer's exception itself: code {0}", e.Code);
        }
        var canceledSource = new TapirCompletionSource<int>();
        var quiet = canceledSource.Task.ContinueWith(t => Console.WriteLine("   (never printed)"), TaskContinuationOptions.OnlyOnFaulted);
        canceledSource.SetCanceled();
        Console.WriteLine("   a canceled source: status {0} (canceled is not a failure; the logger stayed quiet: {1})",
            canceledSource.Task.Status, quiet.IsCanceled ? "yes" : "no");
        Console.WriteLine("   completing it again -> {0} (a task completes exactly once)",
            canceledSource.TrySetResult(1) ? "accepted" : "refused");
        using (var cancel = new TapirCancellationSource())
        {
            var delay = TapirTask.Delay(-1, cancel.Token.ToCancellationToken());
            cancel.Cancel();
            Console.WriteLine("   a delay canceled through its token: {0}", delay.Status);
        }

        Console.WriteLine("\n5. A broken promise: the producer disposes its source without completing it.");
        var vanishing = new TapirCompletionSource<int>();
        TapirTask<int> orphan = vanishing.Task;
        vanishing.Dispose();
        try
        {
            await orphan;
        }
        catch (TapirException e) when (e.Code == TapirStatus.BrokenPromise)
        {
            Console.WriteLine("   await -> TapirException ({0}) instead of hanging forever", e.Code);
        }

        Console.WriteLine("\n6. A game loop: a loader thread posts to a manual scheduler; each frame runs at most 2 items.");
        GameLoop();

        Console.WriteLine("\nReleasing: Dispose releases a wrapper's native reference now, the finalizer later;");
        Console.WriteLine("Shutdown joins the library's threads (a program that skips it still exits).");
        foreach (var t in new TapirTask[] { square, announce, plusOne, slow, failing, logger, canceledSource.Task, quiet, orphan }) t.Dispose();
        canceledSource.Dispose();
    }

    private static void GameLoop()
    {
        using (var main = new ManualScheduler())
        {
            int frame = 0;
            var loader = new Thread(() =>
            {
                foreach (var asset in new[] { "load mesh", "load texture", "load sound", "load level", "spawn player" })
                {
                    Thread.Sleep(5);
                    main.Post(() => Console.WriteLine("   frame {0}: main thread runs \"{1}\"", frame, asset));   // thread-safe
                }
            });
            loader.Start();

            // Game code on the main thread: await a pool computation, resume on the main thread.
            int mainThread = Thread.CurrentThread.ManagedThreadId;
            main.Post(async () =>
            {
                long score = await TapirTask.Run(() => SlowSquare(7));
                Console.WriteLine("   frame {0}: score {1} arrived back on the main thread: {2}", frame, score,
                    Thread.CurrentThread.ManagedThreadId == mainThread ? "yes" : "no");
            });

            int total = 0;
            for (frame = 1; frame <= 30 && total < 7; frame++)
            {
                int ran = main.RunPending(2, 4);   // the frame's budget: 2 items or 4 ms
                total += ran;
                if (ran > 0) Console.WriteLine("   frame {0} done: {1} item(s) this frame", frame, ran);
                Thread.Sleep(16);                  // ~60 frames per second
            }
            loader.Join();
        }
    }

    private static long LiveObjectsAfterCollection()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return TapirRuntime.LiveObjects();
    }
}
