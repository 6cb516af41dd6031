using System;
using System.Runtime.CompilerServices;

namespace Tapir
{
    // The default awaiters hold only the task (one field, as the TPL's TaskAwaiter does): a
    // one-reference struct comes back in a register, which keeps `await` of a completed task
    // cheap. ConfigureAwait has awaiters of their own that also carry the flag; the awaitable
    // holds its awaiter and returns a copy of it (the TPL's layout), which Mono's JIT makes
    // cheaper than building a new awaiter from the awaitable's two fields (completed, CA(false):
    // ~1.5x -> ~1.0x of the TPL).

    /// <summary>The awaiter of a <see cref="TapirTask"/> (what <c>await</c> uses); resumes on the captured context.</summary>
    public readonly struct TapirTaskAwaiter : ICriticalNotifyCompletion
    {
        private readonly TapirTask _task;

        internal TapirTaskAwaiter(TapirTask task) { _task = task; }

        public bool IsCompleted => _task.IsCompleted;

        public void OnCompleted(Action continuation) => _task.RegisterAwait(continuation, true, true);

        public void UnsafeOnCompleted(Action continuation) => _task.RegisterAwait(continuation, true, false);

        /// <summary>Returns when the task succeeded; throws its first error, or TaskCanceledException. Blocks if it is still pending.</summary>
        public void GetResult() => _task.ThrowForAwait();
    }

    /// <summary>The awaiter of a <see cref="TapirTask{T}"/>; resumes on the captured context.</summary>
    public readonly struct TapirTaskAwaiter<T> : ICriticalNotifyCompletion
    {
        private readonly TapirTask<T> _task;

        internal TapirTaskAwaiter(TapirTask<T> task) { _task = task; }

        public bool IsCompleted => _task.IsCompleted;

        public void OnCompleted(Action continuation) => _task.RegisterAwait(continuation, true, true);

        public void UnsafeOnCompleted(Action continuation) => _task.RegisterAwait(continuation, true, false);

        /// <summary>The task's value; throws its first error, or TaskCanceledException. Blocks if it is still pending.</summary>
        public T GetResult() => _task.GetResultForAwait();
    }

    /// <summary>What <see cref="TapirTask.ConfigureAwait"/> returns.</summary>
    public readonly struct ConfiguredTapirTaskAwaitable
    {
        private readonly Awaiter _awaiter;   // returned as a copy, as in ConfiguredTapirTaskAwaitable<T>

        internal ConfiguredTapirTaskAwaitable(TapirTask task, bool continueOnCapturedContext)
        {
            _awaiter = new Awaiter(task, continueOnCapturedContext);
        }

        public Awaiter GetAwaiter() => _awaiter;

        /// <summary>Resumes on the captured context only if ConfigureAwait was given true.</summary>
        public readonly struct Awaiter : ICriticalNotifyCompletion
        {
            private readonly TapirTask _task;
            private readonly bool _continueOnCapturedContext;

            internal Awaiter(TapirTask task, bool continueOnCapturedContext)
            {
                _task = task;
                _continueOnCapturedContext = continueOnCapturedContext;
            }

            public bool IsCompleted => _task.IsCompleted;

            public void OnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, true);

            public void UnsafeOnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, false);

            public void GetResult() => _task.ThrowForAwait();
        }
    }

    /// <summary>What <see cref="TapirTask{T}.ConfigureAwait"/> returns.</summary>
    public readonly struct ConfiguredTapirTaskAwaitable<T>
    {
        // The awaiter itself, returned as a copy (the TPL's layout): cheaper on Mono than
        // building a new one from two fields.
        private readonly Awaiter _awaiter;

        internal ConfiguredTapirTaskAwaitable(TapirTask<T> task, bool continueOnCapturedContext)
        {
            _awaiter = new Awaiter(task, continueOnCapturedContext);
        }

        public Awaiter GetAwaiter() => _awaiter;

        /// <summary>Resumes on the captured context only if ConfigureAwait was given true.</summary>
        public readonly struct Awaiter : ICriticalNotifyCompletion
        {
            private readonly TapirTask<T> _task;
            private readonly bool _continueOnCapturedContext;

            internal Awaiter(TapirTask<T> task, bool continueOnCapturedContext)
            {
                _task = task;
                _continueOnCapturedContext = continueOnCapturedContext;
            }

            public bool IsCompleted => _task.IsCompleted;

            public void OnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, true);

            public void UnsafeOnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, false);

            public T GetResult() => _task.GetResultForAwait();
        }
    }
}
