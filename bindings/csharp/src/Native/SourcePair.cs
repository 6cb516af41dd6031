using System;
using System.Threading;

namespace Tapir.Native
{
    /// <summary>
    /// The one finalizable object behind a <see cref="TapirCompletionSource{T}"/> and its task:
    /// it owns the native source reference and releases the task's raw reference (which the
    /// <see cref="TapirTask"/> owns, see <see cref="TapirTask.ReleaseRaw"/>), so a source and its
    /// task register one object for finalization instead of two SafeHandles.
    ///
    /// Lifetimes: the source wrapper holds the pair and the task; the task holds the pair only
    /// once it is attached (<see cref="TapirTask.Attach"/>). While the task may still be pending
    /// and the source wrapper can complete it, the pair is not attached, so the pair becomes
    /// unreachable exactly when the source wrapper does: its finalizer then releases the source
    /// (breaking the promise of a pending task, as a collected TaskCompletionSource's producer
    /// vanishing should) and, since the task may still be in use, attaches itself to the task
    /// and registers for finalization again; the next time, the task is gone too. The source
    /// attaches the pair as soon as releasing the source no longer matters (it completed the
    /// task, or was disposed), so the common case is finalized once, releasing both references.
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
                if (_task.Pair == null)
                {
                    // The source wrapper is gone, the task wrapper may not be.
                    _task.ForgetPending();   // the release below may complete it
                    ReleaseSource();
                    if (_task.OwnsRaw)
                    {
                        _task.Attach(this);
                        GC.ReRegisterForFinalize(this);
                    }
                    return;
                }
                // Attached: the task wrapper is unreachable too. Both references in one call
                // when both are left (the common case: neither wrapper was disposed).
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
}
