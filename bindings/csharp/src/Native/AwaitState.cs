using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tapir.Native
{
    /// <summary>
    /// The state of one pending <c>await</c> on a <see cref="TapirTask"/>: the task, the
    /// continuation, and where it resumes (nothing: inline; a SynchronizationContext; a
    /// TaskScheduler). States are pooled and reused, so a pending await allocates nothing of
    /// its own and pins nothing with a GCHandle: native code receives the state's index in a
    /// static table as <c>user_data</c>, and the table keeps every state (and so the
    /// continuation it holds) reachable while native code may call it. The registration uses
    /// TAPIR_CONTINUATION_CALLBACK_FREES: when the callback (<see cref="Callbacks"/>' OnAwait)
    /// runs, it owns the state, puts it back in the pool and runs the continuation, and tapir
    /// makes no destroy call after it (one call into managed code saved per await); the
    /// destroy (OnAwaitDestroy) runs instead of the callback when the callback never runs (a
    /// resume discarded by a disposed ManualScheduler, say). Tapir calls exactly one of the
    /// two, once, so a state goes back to the pool exactly once.
    /// The table only grows: its size is the most awaits ever pending at once (plus one spare
    /// state per thread); a state holds nothing once it is back in the pool.
    /// </summary>
    internal sealed class AwaitState
    {
        private static readonly SendOrPostCallback s_post = s => ((Action)s)();
        private static readonly object s_lock = new object();
        private static AwaitState[] s_table = new AwaitState[64];
        private static int s_count;              // states made (under s_lock)
        private static AwaitState s_free;        // the pool, linked through _nextFree (under s_lock)
        [ThreadStatic] private static AwaitState t_spare;   // one state per thread, outside the lock

        private readonly int _index;
        private TapirTask _task;
        private Action _continuation;
        private object _resumeOn;               // null, a SynchronizationContext or a TaskScheduler
        private AwaitState _nextFree;
        private bool _rented;

        private AwaitState(int index) { _index = index; }

        /// <summary>What native code receives as user_data.</summary>
        internal IntPtr UserData => new IntPtr(_index);

        /// <summary>How many states exist (for tests: the pool's high-water mark).</summary>
        internal static int Count
        {
            get { lock (s_lock) return s_count; }
        }

        /// <summary>A state holding an await of <paramref name="task"/>, from the pool when it has one.</summary>
        internal static AwaitState Rent(TapirTask task, Action continuation, object resumeOn)
        {
            var state = t_spare;
            if (state != null) t_spare = null;
            else state = RentShared();
            state._task = task;
            state._continuation = continuation;
            state._resumeOn = resumeOn;
            state._rented = true;
            return state;
        }

        private static AwaitState RentShared()
        {
            lock (s_lock)
            {
                var state = s_free;
                if (state != null)
                {
                    s_free = state._nextFree;
                    state._nextFree = null;
                    return state;
                }
                int index = s_count;
                var table = s_table;
                if (index == table.Length)
                {
                    // A bigger copy: a reader holding the old table still finds every state it
                    // can be asked for there (those were made before the copy).
                    var bigger = new AwaitState[index * 2];
                    Array.Copy(table, bigger, index);
                    table = bigger;
                    Volatile.Write(ref s_table, bigger);
                }
                state = new AwaitState(index);
                table[index] = state;
                s_count = index + 1;
                return state;
            }
        }

        /// <summary>The state native code named (user_data of OnAwait / OnAwaitDestroy).</summary>
        internal static AwaitState From(IntPtr userData) => Volatile.Read(ref s_table)[userData.ToInt32()];

        /// <summary>
        /// The callback: the task has completed. The state goes back to the pool first (the
        /// callback owns it), so an await inside the continuation can reuse it; then the
        /// continuation resumes where it asked.
        /// </summary>
        internal void Resume()
        {
            var task = _task;
            var continuation = _continuation;
            var resumeOn = _resumeOn;
            Return();
            if (continuation == null) return;   // not armed: never happens under the callback contract
            task.NoteCompleted();
            if (resumeOn == null) continuation();
            else if (resumeOn is SynchronizationContext context) context.Post(s_post, continuation);
            else Task.Factory.StartNew(continuation, CancellationToken.None, TaskCreationOptions.None, (TaskScheduler)resumeOn);
        }

        /// <summary>The destroy (or a failed registration): back to the pool, holding nothing.</summary>
        internal void Return()
        {
            if (!_rented) return;   // a second destroy: never happens under the callback contract
            _rented = false;
            _task = null;
            _continuation = null;
            _resumeOn = null;
            if (t_spare == null)
            {
                t_spare = this;
                return;
            }
            lock (s_lock)
            {
                _nextFree = s_free;
                s_free = this;
            }
        }
    }
}
