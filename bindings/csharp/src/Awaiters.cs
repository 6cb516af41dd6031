using System;
using System.Runtime.CompilerServices;

namespace Tapir
{
    /// <summary>The awaiter of a <see cref="TapirTask"/> (what <c>await</c> uses).</summary>
    public readonly struct TapirTaskAwaiter : ICriticalNotifyCompletion
    {
        private readonly TapirTask _task;
        private readonly bool _continueOnCapturedContext;

        internal TapirTaskAwaiter(TapirTask task, bool continueOnCapturedContext)
        {
            _task = task;
            _continueOnCapturedContext = continueOnCapturedContext;
        }

        public bool IsCompleted => _task.IsCompleted;

        public void OnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, true);

        public void UnsafeOnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, false);

        /// <summary>Returns when the task succeeded; throws its first error, or TaskCanceledException. Blocks if it is still pending.</summary>
        public void GetResult() => _task.ThrowForAwait();
    }

    /// <summary>The awaiter of a <see cref="TapirTask{T}"/>.</summary>
    public readonly struct TapirTaskAwaiter<T> : ICriticalNotifyCompletion
    {
        private readonly TapirTask<T> _task;
        private readonly bool _continueOnCapturedContext;

        internal TapirTaskAwaiter(TapirTask<T> task, bool continueOnCapturedContext)
        {
            _task = task;
            _continueOnCapturedContext = continueOnCapturedContext;
        }

        public bool IsCompleted => _task.IsCompleted;

        public void OnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, true);

        public void UnsafeOnCompleted(Action continuation) => _task.RegisterAwait(continuation, _continueOnCapturedContext, false);

        /// <summary>The task's value; throws its first error, or TaskCanceledException. Blocks if it is still pending.</summary>
        public T GetResult() => _task.GetResultForAwait();
    }

    /// <summary>What <see cref="TapirTask.ConfigureAwait"/> returns.</summary>
    public readonly struct ConfiguredTapirTaskAwaitable
    {
        private readonly TapirTask _task;
        private readonly bool _continueOnCapturedContext;

        internal ConfiguredTapirTaskAwaitable(TapirTask task, bool continueOnCapturedContext)
        {
            _task = task;
            _continueOnCapturedContext = continueOnCapturedContext;
        }

        public TapirTaskAwaiter GetAwaiter() => new TapirTaskAwaiter(_task, _continueOnCapturedContext);
    }

    /// <summary>What <see cref="TapirTask{T}.ConfigureAwait"/> returns.</summary>
    public readonly struct ConfiguredTapirTaskAwaitable<T>
    {
        private readonly TapirTask<T> _task;
        private readonly bool _continueOnCapturedContext;

        internal ConfiguredTapirTaskAwaitable(TapirTask<T> task, bool continueOnCapturedContext)
        {
            _task = task;
            _continueOnCapturedContext = continueOnCapturedContext;
        }

        public TapirTaskAwaiter<T> GetAwaiter() => new TapirTaskAwaiter<T>(_task, _continueOnCapturedContext);
    }
}
