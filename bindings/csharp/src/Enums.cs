namespace Tapir
{
    /// <summary>The result codes of the C API (<c>tapir_status</c>); the values are ABI.</summary>
    public enum TapirStatus
    {
        Ok = 0,
        NullArgument = 1,
        InvalidArgument = 2,
        InvalidState = 3,
        AlreadyCompleted = 4,
        Canceled = 5,
        Faulted = 6,
        Timeout = 7,
        Panic = 8,
        InvalidHandle = 9,
        NotCompleted = 10,
        BrokenPromise = 11,
        Full = 12,
        Disposed = 13,
        QueueCompleted = 14,
        SchedulerError = 15,
    }

    /// <summary>The state of a native task (<c>tapir_task_status</c>).</summary>
    public enum TapirTaskStatus
    {
        /// <summary>Not completed yet (TaskStatus.WaitingForActivation and friends).</summary>
        Pending = 0,
        /// <summary>Completed with a value (TaskStatus.RanToCompletion).</summary>
        Succeeded = 1,
        /// <summary>Completed with one or more errors (TaskStatus.Faulted).</summary>
        Faulted = 2,
        /// <summary>Completed by cancellation (TaskStatus.Canceled).</summary>
        Canceled = 3,
    }

    /// <summary>Object kinds counted by <see cref="TapirRuntime.LiveObjects"/> (<c>tapir_object_kind</c>).</summary>
    public enum TapirObjectKind
    {
        All = 0,
        Task = 1,
        Error = 2,
        Registration = 3,
        Scheduler = 4,
        Cancel = 5,
        Progress = 6,
        Semaphore = 7,
        Event = 8,
        Countdown = 9,
        Barrier = 10,
        Lock = 11,
        LockGuard = 12,
        Channel = 13,
        Cache = 14,
        Clock = 15,
    }

    /// <summary>Which tapir thread a <see cref="TapirThreadHook"/> runs on (<c>TAPIR_THREAD_*</c>).</summary>
    public enum TapirThreadKind
    {
        /// <summary>A worker of the default pool; the index runs from 0 to the thread count - 1.</summary>
        Pool = 0,
        /// <summary>The timer thread (index 0).</summary>
        Timer = 1,
    }

    /// <summary>Who drives time (<c>TAPIR_TIMER_DRIVER_*</c>).</summary>
    public enum TapirTimerDriver
    {
        /// <summary>tapir's own timer thread measures real time (the default).</summary>
        Thread = 0,
        /// <summary>
        /// No timer thread: time is what the host last set with <see cref="TapirRuntime.TimeAdvance"/>,
        /// and the host runs due timers with <see cref="TapirRuntime.TimersRunDue"/>.
        /// </summary>
        Host = 1,
    }
}
