using System;
using System.Threading;

namespace Tapir.Native
{
    /// <summary>
    /// The one finalizable object behind the native source and task of a materialized
    /// <see cref="TapirCompletionSource{T}"/> (see <see cref="TapirTask.Materialize"/>): it owns
    /// the native source reference and releases the task's raw reference (which the
    /// <see cref="TapirTask"/> owns, see <see cref="TapirTask.ReleaseRaw"/>), so a source and its
    /// task register one object for finalization instead of two SafeHandles.
    ///
    /// Lifetimes: the task holds the pair (the source reaches it through the task), so the
    /// pair is finalized once the task wrapper is unreachable, and the source wrapper with it:
    /// both references go in one native call. A source wrapper collected while its task lives
    /// on is <see cref="SourceGuard"/>'s business: its finalizer releases the source reference
    /// (a pending task then breaks its promise).
    ///
    /// Each reference is released exactly once: its owner field is exchanged to zero first.
    /// Whichever of the two Disposes releases the second reference suppresses finalization.
    /// </summary>
    internal sealed class SourcePair
    {
        private readonly IntPtr _source;     // the native pointer (never changes)
        private int _sourceOwned = 1;        // 1 until the source reference is released
        private readonly TapirTask _task;    // whose raw reference this pair releases

        internal SourcePair(IntPtr source, TapirTask task)
        {
            _source = source;
            _task = task;
        }

        /// <summary>The native source, borrowed, for calls made after a disposal check (a racing release makes tapir refuse it as stale).</summary>
        internal IntPtr Source => _source;

        internal bool OwnsSource => Volatile.Read(ref _sourceOwned) == 1;

        /// <summary>Releases the source reference, once. The last one of a pending task breaks its promise.</summary>
        internal void ReleaseSource()
        {
            // After the exit guard shut tapir down the reference is kept (see TapirSafeHandle).
            if (Interlocked.Exchange(ref _sourceOwned, 0) == 1 && !TapirRuntime.Exiting) NativeMethods.tapir_source_release(_source);
        }

        /// <summary>After a release: when neither reference is left, the finalizer has nothing to do.</summary>
        internal void Released()
        {
            if (!OwnsSource && !_task.OwnsRaw) GC.SuppressFinalize(this);
        }

        ~SourcePair()
        {
            // At exit (see TapirRuntime.ShutdownOnExit) the references are kept, as every
            // wrapper's are: a release could break a promise and start tapir's threads again.
            if (TapirRuntime.Exiting) return;
            try
            {
                // The task wrapper is unreachable, and so is the source wrapper: both references
                // in one call when both are left (the common case: neither wrapper was disposed).
                bool source = Interlocked.Exchange(ref _sourceOwned, 0) == 1;
                bool task = _task.TakeRaw();
                if (source || task)
                    NativeMethods.tapir_source_release_with_task(source ? _source : IntPtr.Zero, task ? _task.RawHandle : IntPtr.Zero);
            }
            catch (Exception e)
            {
                TapirRuntime.ReportUnhandled(e);
            }
        }
    }

    /// <summary>
    /// The finalizable object that stands for a <see cref="TapirCompletionSource{T}"/>'s own
    /// lifetime (only the source wrapper references it): collected while the source's task is
    /// pending, it breaks the task's promise (<see cref="TapirTask.SourceCollected"/>), so nobody
    /// waits forever on a vanished producer. A source that completes its task or is disposed
    /// has no more use for it and gives it back: the next source made on the thread reuses it,
    /// so the common source registers nothing for finalization (Mono's most expensive cost of
    /// an object). One spare guard per thread; a guard given back where a spare already waits
    /// is dropped, and finalized with nothing to do.
    /// </summary>
    internal sealed class SourceGuard
    {
        [ThreadStatic] private static SourceGuard t_spare;
        private TapirTask _task;

        private SourceGuard() { }

        internal static SourceGuard Rent(TapirTask task)
        {
            var guard = t_spare;
            if (guard != null) t_spare = null;
            else guard = new SourceGuard();
            guard._task = task;
            return guard;
        }

        /// <summary>Called once per rent, by the source that no longer needs it.</summary>
        internal static void Return(SourceGuard guard)
        {
            guard._task = null;
            if (t_spare == null) t_spare = guard;
        }

        ~SourceGuard()
        {
            var task = _task;
            if (task == null || TapirRuntime.Exiting) return;
            try
            {
                task.SourceCollected();
            }
            catch (Exception e)
            {
                TapirRuntime.ReportUnhandled(e);
            }
        }
    }
}
