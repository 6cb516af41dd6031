using System;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// Shared plumbing of the coordination primitives: every wait takes a timeout in
    /// milliseconds (-1: infinite) and a CancellationToken, and returns a native task.
    /// Continuations of woken waiters never run under a tapir lock (docs/primitives.md).
    /// </summary>
    internal static class Prim
    {
        internal delegate int NativeWait(CancelTokenHandle token, out IntPtr task);

        internal static PrimitiveHandle New(PrimitiveKind kind, int rc, IntPtr handle)
        {
            Check.Status(rc);
            return new PrimitiveHandle(kind, handle);
        }

        internal static long Timeout(int millisecondsTimeout)
        {
            if (millisecondsTimeout < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsTimeout));
            return millisecondsTimeout;
        }

        internal static long Timeout(TimeSpan timeout) => Timeout(checked((int)timeout.TotalMilliseconds));

        /// <summary>Runs a native wait with a bridged token; the bridge lives as long as the task.</summary>
        internal static TaskHandle Wait(CancellationToken cancellationToken, NativeWait call)
        {
            var token = NativeToken.From(cancellationToken);
            TaskHandle result;
            try
            {
                Check.Status(call(token.Handle, out IntPtr t));
                result = new TaskHandle(t);
            }
            catch
            {
                token.Dispose();
                throw;
            }
            token.ReleaseWith(new TapirTask(result));
            return result;
        }

        /// <summary>A try call's false: nothing available (TIMEOUT, or what <paramref name="benign"/> names) or misuse (throws).</summary>
        internal static bool Refused(TapirStatus benign = TapirStatus.Timeout)
        {
            int st = NativeMethods.tapir_last_status();
            if (st == (int)TapirStatus.Timeout || st == (int)benign) return false;
            throw Check.Exception(st);
        }
    }

    /// <summary>An asynchronous counting semaphore (SemaphoreSlim): waiters are served strictly in arrival order.</summary>
    public sealed class TapirSemaphore : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirSemaphore(int initialCount, int maxCount = int.MaxValue)
        {
            if (initialCount < 0) throw new ArgumentOutOfRangeException(nameof(initialCount));
            if (maxCount <= 0 || initialCount > maxCount) throw new ArgumentOutOfRangeException(nameof(maxCount));
            Handle = Prim.New(PrimitiveKind.Semaphore, NativeMethods.tapir_semaphore_new((uint)initialCount, (uint)maxCount, out IntPtr s), s);
        }

        /// <summary>true once <paramref name="count"/> permits are taken, false when the timeout passes first; canceled by the token.</summary>
        public TapirTask<bool> WaitAsync(int count = 1, int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return new TapirTask<bool>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_semaphore_wait_async(Handle, (uint)count, ms, tok, out t)));
        }

        public TapirTask<bool> WaitAsync(CancellationToken cancellationToken) => WaitAsync(1, -1, cancellationToken);

        /// <summary>Wait(0): takes the permits if nobody waits and they are there.</summary>
        public bool TryWait(int count = 1) => NativeMethods.tapir_semaphore_try_wait(Handle, (uint)count) || Prim.Refused();

        /// <summary>Release(count): returns the count before; throws <see cref="SemaphoreFullException"/> past the maximum.</summary>
        public int Release(int count = 1)
        {
            if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count));
            int rc = NativeMethods.tapir_semaphore_signal(Handle, (uint)count, out uint before);
            if (rc == (int)TapirStatus.Full) throw new SemaphoreFullException();
            Check.Status(rc);
            return (int)before;
        }

        public int CurrentCount => (int)NativeMethods.tapir_semaphore_current_count(Handle);

        public IntPtr NativeHandle => Handle.Value;

        /// <summary>Releases the native semaphore; waits still pending fail with TapirStatus.Disposed.</summary>
        public void Dispose() => Handle.Dispose();
    }

    /// <summary>An auto-reset event: each Set completes one waiter; a Set with nobody waiting is remembered once.</summary>
    public sealed class TapirAutoResetEvent : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirAutoResetEvent(bool initiallySet = false)
        {
            Handle = Prim.New(PrimitiveKind.AutoResetEvent, NativeMethods.tapir_auto_reset_event_new(initiallySet ? 1u : 0u, out IntPtr e), e);
        }

        public void Set() => Check.Status(NativeMethods.tapir_auto_reset_event_set(Handle));

        public bool TryWait() => NativeMethods.tapir_auto_reset_event_try_wait(Handle) || Prim.Refused();

        public TapirTask<bool> WaitAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return new TapirTask<bool>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_auto_reset_event_wait_async(Handle, ms, tok, out t)));
        }

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>A manual-reset event: Set completes every waiter and stays set until Reset.</summary>
    public sealed class TapirManualResetEvent : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirManualResetEvent(bool initiallySet = false)
        {
            Handle = Prim.New(PrimitiveKind.ManualResetEvent, NativeMethods.tapir_manual_reset_event_new(initiallySet ? 1u : 0u, out IntPtr e), e);
        }

        public void Set() => Check.Status(NativeMethods.tapir_manual_reset_event_set(Handle));

        public void Reset() => Check.Status(NativeMethods.tapir_manual_reset_event_reset(Handle));

        public bool IsSet => NativeMethods.tapir_manual_reset_event_is_set(Handle);

        public TapirTask<bool> WaitAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return new TapirTask<bool>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_manual_reset_event_wait_async(Handle, ms, tok, out t)));
        }

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>A countdown event (CountdownEvent): set once its count reaches zero.</summary>
    public sealed class TapirCountdownEvent : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirCountdownEvent(int initialCount)
        {
            if (initialCount < 0) throw new ArgumentOutOfRangeException(nameof(initialCount));
            Handle = Prim.New(PrimitiveKind.Countdown, NativeMethods.tapir_countdown_new((uint)initialCount, out IntPtr c), c);
        }

        /// <summary>Counts down; true when that set the event. InvalidOperationException when <paramref name="count"/> is more than what is left.</summary>
        public bool Signal(int count = 1)
        {
            if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count));
            Check.Status(NativeMethods.tapir_countdown_signal(Handle, (uint)count, out bool zero));
            return zero;
        }

        public void AddCount(int count = 1)
        {
            if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count));
            Check.Status(NativeMethods.tapir_countdown_add_count(Handle, (uint)count));
        }

        public bool TryAddCount(int count = 1) =>
            count > 0 ? NativeMethods.tapir_countdown_try_add_count(Handle, (uint)count) || Prim.Refused(TapirStatus.InvalidState)
                      : throw new ArgumentOutOfRangeException(nameof(count));

        public void Reset() => Check.Status(NativeMethods.tapir_countdown_reset(Handle, -1));

        public void Reset(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
            Check.Status(NativeMethods.tapir_countdown_reset(Handle, count));
        }

        public int CurrentCount => (int)NativeMethods.tapir_countdown_current_count(Handle);
        public int InitialCount => (int)NativeMethods.tapir_countdown_initial_count(Handle);
        public bool IsSet => CurrentCount == 0;

        public TapirTask<bool> WaitAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return new TapirTask<bool>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_countdown_wait_async(Handle, ms, tok, out t)));
        }

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>
    /// A barrier of phases (Barrier). The post-phase action runs once per phase on the thread
    /// of the arrival that completed it, before the participants are released; an exception
    /// it throws fails every participant of that phase with it.
    /// </summary>
    public sealed class TapirBarrier : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirBarrier(int participantCount, Action<long> postPhaseAction = null)
        {
            if (participantCount < 0) throw new ArgumentOutOfRangeException(nameof(participantCount));
            if (postPhaseAction == null)
            {
                Handle = Prim.New(PrimitiveKind.Barrier,
                    NativeMethods.tapir_barrier_new((uint)participantCount, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, out IntPtr b0), b0);
                return;
            }
            IntPtr ud = Callbacks.Alloc(new PhaseAction(postPhaseAction));
            int rc;
            IntPtr b;
            try { rc = NativeMethods.tapir_barrier_new((uint)participantCount, Callbacks.OnPhasePtr, ud, Callbacks.FreeHandlePtr, out b); }
            catch
            {
                Callbacks.Free(ud);
                throw;
            }
            if (rc != 0)
            {
                Callbacks.Free(ud);
                throw Check.Exception(rc);
            }
            Handle = new PrimitiveHandle(PrimitiveKind.Barrier, b);
        }

        /// <summary>true when the phase completes, false on timeout (the arrival is taken back); canceled by the token.</summary>
        public TapirTask<bool> SignalAndWaitAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return new TapirTask<bool>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_barrier_signal_and_wait_async(Handle, ms, tok, out t)));
        }

        /// <summary>Returns the current phase number.</summary>
        public long AddParticipants(int count = 1)
        {
            if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count));
            Check.Status(NativeMethods.tapir_barrier_add_participants(Handle, (uint)count, out ulong phase));
            return (long)phase;
        }

        public void RemoveParticipants(int count = 1)
        {
            if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count));
            Check.Status(NativeMethods.tapir_barrier_remove_participants(Handle, (uint)count));
        }

        public long CurrentPhaseNumber => (long)NativeMethods.tapir_barrier_current_phase(Handle);
        public int ParticipantCount => (int)NativeMethods.tapir_barrier_participant_count(Handle);
        public int ParticipantsRemaining => (int)NativeMethods.tapir_barrier_participants_remaining(Handle);

        public void Dispose() => Handle.Dispose();

        private sealed class PhaseAction : CallbackState
        {
            private readonly Action<long> _action;
            internal PhaseAction(Action<long> action) { _action = action; }

            internal override IntPtr OnPhase(ulong phase)
            {
                _action((long)phase);
                return IntPtr.Zero;
            }
        }
    }

    /// <summary>A held lock (of a <see cref="TapirAsyncLock"/> or <see cref="TapirReaderWriterLock"/>): Dispose releases it.</summary>
    public sealed class TapirLockGuard : IDisposable
    {
        private readonly PrimitiveHandle _handle;

        internal TapirLockGuard(IntPtr owned) { _handle = new PrimitiveHandle(PrimitiveKind.LockGuard, owned); }

        /// <summary>A guard of our own for the guard a granted task holds (null for a timed-out one).</summary>
        internal static TapirLockGuard Retain(IntPtr lent)
        {
            if (lent == IntPtr.Zero) return null;
            IntPtr again = NativeMethods.tapir_lock_guard_retain(lent);
            if (again == IntPtr.Zero) throw Check.LastStatus();
            return new TapirLockGuard(again);
        }

        /// <summary>Awaits an acquisition task, keeps its guard, and releases the task.</summary>
        internal static async Task<TapirLockGuard> FromTask(TapirTask<IntPtr> acquisition)
        {
            using (acquisition)
            {
                IntPtr lent = await acquisition;
                return Retain(lent);
            }
        }

        /// <summary>Releases the lock (if this is its last reference).</summary>
        public void Dispose() => _handle.Dispose();
    }

    /// <summary>An asynchronous lock: one holder, waiters granted in arrival order, not reentrant.</summary>
    public sealed class TapirAsyncLock : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirAsyncLock() { Handle = Prim.New(PrimitiveKind.Lock, NativeMethods.tapir_lock_new(out IntPtr l), l); }

        /// <summary>The guard once granted (dispose it to release the lock); null when the timeout passes first; canceled by the token.</summary>
        public Task<TapirLockGuard> LockAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return TapirLockGuard.FromTask(new TapirTask<IntPtr>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_lock_acquire_async(Handle, ms, tok, out t))));
        }

        public bool TryLock(out TapirLockGuard guard)
        {
            guard = null;
            if (!NativeMethods.tapir_lock_try_acquire(Handle, out IntPtr g)) return Prim.Refused();
            guard = new TapirLockGuard(g);
            return true;
        }

        public bool IsHeld => NativeMethods.tapir_lock_is_held(Handle);

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>An asynchronous reader-writer lock: many readers or one writer, writer preference, no upgrade.</summary>
    public sealed class TapirReaderWriterLock : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirReaderWriterLock() { Handle = Prim.New(PrimitiveKind.ReaderWriterLock, NativeMethods.tapir_rwlock_new(out IntPtr l), l); }

        public Task<TapirLockGuard> ReaderLockAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return TapirLockGuard.FromTask(new TapirTask<IntPtr>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_rwlock_read_async(Handle, ms, tok, out t))));
        }

        public Task<TapirLockGuard> WriterLockAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return TapirLockGuard.FromTask(new TapirTask<IntPtr>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_rwlock_write_async(Handle, ms, tok, out t))));
        }

        public bool TryEnterRead(out TapirLockGuard guard)
        {
            guard = null;
            if (!NativeMethods.tapir_rwlock_try_read(Handle, out IntPtr g)) return Prim.Refused();
            guard = new TapirLockGuard(g);
            return true;
        }

        public bool TryEnterWrite(out TapirLockGuard guard)
        {
            guard = null;
            if (!NativeMethods.tapir_rwlock_try_write(Handle, out IntPtr g)) return Prim.Refused();
            guard = new TapirLockGuard(g);
            return true;
        }

        public int CurrentReadCount => (int)NativeMethods.tapir_rwlock_reader_count(Handle);
        public bool IsWriteLockHeld => NativeMethods.tapir_rwlock_is_write_held(Handle);

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>What a bounded channel does with a write when it is full (BoundedChannelFullMode).</summary>
    public enum TapirChannelFullMode
    {
        Wait = 0,
        DropOldest = 1,
        DropNewest = 2,
        DropWrite = 3,
    }

    /// <summary>
    /// A channel of <typeparamref name="T"/> (System.Threading.Channels): bounded when
    /// <c>capacity</c> &gt; 0. After <see cref="Complete"/> readers drain what is left, then
    /// reads fail (a TapirException of code QueueCompleted, or the completion's exception).
    /// Items dropped or left inside are released exactly once.
    /// </summary>
    public sealed class TapirChannel<T> : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirChannel(int capacity = 0, TapirChannelFullMode fullMode = TapirChannelFullMode.Wait)
        {
            if (capacity < 0) throw new ArgumentOutOfRangeException(nameof(capacity));
            var o = new NativeMethods.ChannelOptions
            {
                struct_size = NativeMethods.ChannelOptions.Size,
                full_mode = (uint)fullMode,
                capacity = (UIntPtr)(uint)capacity,
            };
            Handle = Prim.New(PrimitiveKind.Channel, NativeMethods.tapir_channel_new(ref o, out IntPtr c), c);
        }

        /// <summary>TryWrite: false when a Wait-mode channel is full or the channel was completed.</summary>
        public bool TryWrite(T item)
        {
            IntPtr bits = ValueCodec<T>.Encode(item, out IntPtr destroy);
            bool ok;
            try { ok = NativeMethods.tapir_channel_try_write(Handle, bits, destroy); }
            catch
            {
                ValueCodec<T>.Discard(bits, destroy);
                throw;
            }
            if (ok) return true;
            ValueCodec<T>.Discard(bits, destroy);
            return Prim.Refused(NativeMethods.tapir_last_status() == (int)TapirStatus.QueueCompleted ? TapirStatus.QueueCompleted : TapirStatus.Full);
        }

        /// <summary>WriteAsync: true once written, false when the timeout passes first; canceled by the token.</summary>
        public TapirTask<bool> WriteAsync(T item, int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            IntPtr bits = ValueCodec<T>.Encode(item, out IntPtr destroy);
            try
            {
                return new TapirTask<bool>(Prim.Wait(cancellationToken,
                    (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_channel_write_async(Handle, bits, destroy, ms, tok, out t)));
            }
            catch
            {
                ValueCodec<T>.Discard(bits, destroy);   // a failed call did nothing: the item is still ours
                throw;
            }
        }

        public bool TryRead(out T item)
        {
            item = default(T);
            if (!NativeMethods.tapir_channel_try_read(Handle, out IntPtr bits, out IntPtr destroy))
                return Prim.Refused(TapirStatus.QueueCompleted);
            item = ValueCodec<T>.Decode(bits);
            ValueCodec<T>.Discard(bits, destroy);
            return true;
        }

        /// <summary>ReadAsync: the oldest item; faults once the channel is completed and drained, or on timeout.</summary>
        public TapirTask<T> ReadAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return new TapirTask<T>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_channel_read_async(Handle, ms, tok, out t)));
        }

        /// <summary>WaitToReadAsync: true when an item is there, false once completed and drained.</summary>
        public TapirTask<bool> WaitToReadAsync(int millisecondsTimeout = -1, CancellationToken cancellationToken = default(CancellationToken))
        {
            long ms = Prim.Timeout(millisecondsTimeout);
            return new TapirTask<bool>(Prim.Wait(cancellationToken,
                (CancelTokenHandle tok, out IntPtr t) => NativeMethods.tapir_channel_wait_to_read_async(Handle, ms, tok, out t)));
        }

        /// <summary>Writer.Complete(error): no more writes; readers drain, then fail.</summary>
        public void Complete(Exception error = null)
        {
            if (error == null)
            {
                Check.Status(NativeMethods.tapir_channel_complete(Handle, ErrorHandle.Null));
                return;
            }
            using (var e = Errors.FromException(error)) Check.Status(NativeMethods.tapir_channel_complete(Handle, e));
        }

        public int Count => (int)NativeMethods.tapir_channel_count(Handle).ToUInt64();
        public bool IsCompleted => NativeMethods.tapir_channel_is_completed(Handle);

        /// <summary>Releases the channel: the items left are released, pending reads and writes fail with TapirStatus.Disposed.</summary>
        public void Dispose() => Handle.Dispose();
    }

    /// <summary>
    /// A single-flight cache (AsyncCache): <see cref="GetAsync"/> runs the factory once per key
    /// and hands every caller the same task; a faulted or canceled entry is evicted so the next
    /// call retries (unless <c>keepFailures</c>); with a capacity the least recently used goes.
    /// </summary>
    public sealed class TapirCache<T> : IDisposable
    {
        internal readonly PrimitiveHandle Handle;

        public TapirCache(Func<string, TapirTask<T>> factory, int capacity = 0, bool keepFailures = false)
        {
            if (factory == null) throw new ArgumentNullException(nameof(factory));
            if (capacity < 0) throw new ArgumentOutOfRangeException(nameof(capacity));
            var o = new NativeMethods.CacheOptions
            {
                struct_size = NativeMethods.CacheOptions.Size,
                flags = keepFailures ? 1u : 0u,
                capacity = (UIntPtr)(uint)capacity,
            };
            IntPtr ud = Callbacks.Alloc(new Factory(factory));
            int rc;
            IntPtr c;
            try { rc = NativeMethods.tapir_cache_new(Callbacks.OnCacheFactoryPtr, ud, Callbacks.FreeHandlePtr, ref o, out c); }
            catch
            {
                Callbacks.Free(ud);
                throw;
            }
            if (rc != 0)
            {
                Callbacks.Free(ud);
                throw Check.Exception(rc);
            }
            Handle = new PrimitiveHandle(PrimitiveKind.Cache, c);
        }

        public TapirTask<T> GetAsync(string key)
        {
            byte[] k = Encoding.UTF8.GetBytes(key ?? throw new ArgumentNullException(nameof(key)));
            Check.Status(NativeMethods.tapir_cache_get_async(Handle, k, (UIntPtr)(uint)k.Length, out IntPtr t));
            return new TapirTask<T>(new TaskHandle(t));
        }

        /// <summary>Evicts the key's entry; true if there was one.</summary>
        public bool Remove(string key)
        {
            byte[] k = Encoding.UTF8.GetBytes(key ?? throw new ArgumentNullException(nameof(key)));
            return NativeMethods.tapir_cache_remove(Handle, k, (UIntPtr)(uint)k.Length);
        }

        public void Clear() => Check.Status(NativeMethods.tapir_cache_clear(Handle));

        public int Count => (int)NativeMethods.tapir_cache_count(Handle).ToUInt64();

        public void Dispose() => Handle.Dispose();

        private sealed class Factory : CallbackState
        {
            private readonly Func<string, TapirTask<T>> _factory;
            internal Factory(Func<string, TapirTask<T>> factory) { _factory = factory; }

            internal override IntPtr OnCacheFactory(IntPtr key, UIntPtr len)
            {
                int n = (int)len.ToUInt64();
                var bytes = new byte[n];
                if (n > 0) System.Runtime.InteropServices.Marshal.Copy(key, bytes, 0, n);
                using (TapirTask<T> task = _factory(Encoding.UTF8.GetString(bytes)))
                {
                    if (task == null) return IntPtr.Zero;
                    return task.RetainNativeHandle();
                }
            }
        }
    }
}
