using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>Which native primitive a <see cref="PrimitiveHandle"/> holds (and so which release it calls).</summary>
    internal enum PrimitiveKind
    {
        Semaphore,
        AutoResetEvent,
        ManualResetEvent,
        Countdown,
        Barrier,
        Lock,
        ReaderWriterLock,
        LockGuard,
        Channel,
        Cache,
    }

    /// <summary>
    /// A reference to a native coordination primitive or lock guard (<c>tapir_semaphore</c>,
    /// <c>tapir_lock_guard</c>, ...), released with its kind's <c>_release</c>.
    /// </summary>
    public sealed class PrimitiveHandle : TapirSafeHandle
    {
        internal readonly PrimitiveKind Kind;

        private PrimitiveHandle() : base(IntPtr.Zero, true) { }

        internal PrimitiveHandle(PrimitiveKind kind, IntPtr handle) : base(handle, true) { Kind = kind; }

        internal override void ReleaseNative(IntPtr value)
        {
            switch (Kind)
            {
                case PrimitiveKind.Semaphore: NativeMethods.tapir_semaphore_release(value); break;
                case PrimitiveKind.AutoResetEvent: NativeMethods.tapir_auto_reset_event_release(value); break;
                case PrimitiveKind.ManualResetEvent: NativeMethods.tapir_manual_reset_event_release(value); break;
                case PrimitiveKind.Countdown: NativeMethods.tapir_countdown_release(value); break;
                case PrimitiveKind.Barrier: NativeMethods.tapir_barrier_release(value); break;
                case PrimitiveKind.Lock: NativeMethods.tapir_lock_release(value); break;
                case PrimitiveKind.ReaderWriterLock: NativeMethods.tapir_rwlock_release(value); break;
                case PrimitiveKind.LockGuard: NativeMethods.tapir_lock_guard_release(value); break;
                case PrimitiveKind.Channel: NativeMethods.tapir_channel_release(value); break;
                case PrimitiveKind.Cache: NativeMethods.tapir_cache_release(value); break;
            }
        }
    }
}
