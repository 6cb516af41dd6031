// A child process for the exit tests: uses tapir so that the pool threads run managed
// callbacks, then returns from Main without calling TapirRuntime.Shutdown.
using System;
using System.Threading;
using System.Threading.Tasks;
using Tapir;

internal static class ExitChild
{
    private static int Main(string[] args)
    {
        string mode = args.Length > 0 ? args[0] : "await";
        switch (mode)
        {
            case "await":
            case "no-guard":
                if (mode == "no-guard") TapirRuntime.ShutdownOnExit = false;
                Work().Wait();
                break;
            case "busy":
                // Main returns while a pool thread is inside a managed callback.
                var started = new ManualResetEventSlim();
                TapirTask.Run(() =>
                {
                    started.Set();
                    Thread.Sleep(300);
                    Console.WriteLine("child: callback finished");
                });
                started.Wait();
                break;
            case "pending":
                Work().Wait();
                var never = new TapirCompletionSource<int>();
                never.Task.ContinueWith(t => Console.WriteLine("never"));
                TapirTask.Delay(600000).ContinueWith(t => Console.WriteLine("never"));
                GC.KeepAlive(never);
                break;
            case "exit-in-callback":
                TapirTask.Run(() => Environment.Exit(3)).Wait();   // no limit: the exit must not wait for this thread
                Thread.Sleep(10000);
                return 1;
        }
        Console.WriteLine("child: main returns");
        Console.Out.Flush();
        return 0;
    }

    private static async Task Work()
    {
        for (int i = 0; i < 20; i++)
        {
            int v = await TapirTask.Run(() => i).ConfigureAwait(false);    // on a pool thread
            await TapirTask.Delay(1).ConfigureAwait(false);
            await TapirTask.FromResult(v).ContinueWith(t => t.Result + 1);  // a pool continuation
        }
    }
}
