using System;
using System.Runtime.InteropServices;

namespace Tapir.Native
{
    /// <summary>
    /// How a value of type <typeparamref name="T"/> travels in a task's native <c>void*</c>.
    /// Integral primitives (bool, char, the 8/16/32-bit integers, IntPtr, UIntPtr, and on
    /// 64-bit processes long, ulong, double and float) travel in the pointer bits, as C code
    /// stores integers: no allocation, no destroy, and a task produced by C code reads
    /// directly as, say, a <c>TapirTask&lt;long&gt;</c>. Every other value travels as a GCHandle
    /// to the object (a boxed copy for structs), freed by the task's value destroy exactly once;
    /// null travels as NULL. The choice depends only on <typeparamref name="T"/>.
    /// </summary>
    internal static class ValueCodec<T>
    {
        /// <summary>True when values travel in the pointer bits.</summary>
        internal static readonly bool InPointer;
        private static readonly Func<T, IntPtr> s_toBits;
        private static readonly Func<IntPtr, T> s_fromBits;

        static ValueCodec()
        {
            object enc = null, dec = null;
            Type t = typeof(T);
            bool wide = IntPtr.Size == 8;
            if (t == typeof(IntPtr)) { enc = (Func<IntPtr, IntPtr>)(v => v); dec = (Func<IntPtr, IntPtr>)(p => p); }
            else if (t == typeof(UIntPtr)) { enc = (Func<UIntPtr, IntPtr>)(v => unchecked((IntPtr)(long)v.ToUInt64())); dec = (Func<IntPtr, UIntPtr>)(p => unchecked((UIntPtr)(ulong)p.ToInt64())); }
            else if (t == typeof(int)) { enc = (Func<int, IntPtr>)(v => new IntPtr(v)); dec = (Func<IntPtr, int>)(p => unchecked((int)p.ToInt64())); }
            else if (t == typeof(uint)) { enc = (Func<uint, IntPtr>)(v => new IntPtr((long)v)); dec = (Func<IntPtr, uint>)(p => unchecked((uint)p.ToInt64())); }
            else if (t == typeof(short)) { enc = (Func<short, IntPtr>)(v => new IntPtr(v)); dec = (Func<IntPtr, short>)(p => unchecked((short)p.ToInt64())); }
            else if (t == typeof(ushort)) { enc = (Func<ushort, IntPtr>)(v => new IntPtr(v)); dec = (Func<IntPtr, ushort>)(p => unchecked((ushort)p.ToInt64())); }
            else if (t == typeof(byte)) { enc = (Func<byte, IntPtr>)(v => new IntPtr(v)); dec = (Func<IntPtr, byte>)(p => unchecked((byte)p.ToInt64())); }
            else if (t == typeof(sbyte)) { enc = (Func<sbyte, IntPtr>)(v => new IntPtr(v)); dec = (Func<IntPtr, sbyte>)(p => unchecked((sbyte)p.ToInt64())); }
            else if (t == typeof(char)) { enc = (Func<char, IntPtr>)(v => new IntPtr(v)); dec = (Func<IntPtr, char>)(p => unchecked((char)p.ToInt64())); }
            else if (t == typeof(bool)) { enc = (Func<bool, IntPtr>)(v => new IntPtr(v ? 1 : 0)); dec = (Func<IntPtr, bool>)(p => p != IntPtr.Zero); }
            else if (wide && t == typeof(long)) { enc = (Func<long, IntPtr>)(v => new IntPtr(v)); dec = (Func<IntPtr, long>)(p => p.ToInt64()); }
            else if (wide && t == typeof(ulong)) { enc = (Func<ulong, IntPtr>)(v => new IntPtr(unchecked((long)v))); dec = (Func<IntPtr, ulong>)(p => unchecked((ulong)p.ToInt64())); }
            else if (wide && t == typeof(double)) { enc = (Func<double, IntPtr>)(v => new IntPtr(BitConverter.DoubleToInt64Bits(v))); dec = (Func<IntPtr, double>)(p => BitConverter.Int64BitsToDouble(p.ToInt64())); }
            else if (wide && t == typeof(float)) { enc = (Func<float, IntPtr>)(v => new IntPtr(BitConverter.DoubleToInt64Bits(v))); dec = (Func<IntPtr, float>)(p => (float)BitConverter.Int64BitsToDouble(p.ToInt64())); }
            if (enc != null)
            {
                InPointer = true;
                s_toBits = (Func<T, IntPtr>)enc;
                s_fromBits = (Func<IntPtr, T>)dec;
            }
        }

        /// <summary>
        /// The native form of <paramref name="value"/> and the destroy function native code must
        /// call for it (NULL when none). If the native call that takes it fails, call
        /// <see cref="Discard"/>.
        /// </summary>
        internal static IntPtr Encode(T value, out IntPtr destroy)
        {
            if (InPointer)
            {
                destroy = IntPtr.Zero;
                return s_toBits(value);
            }
            if (value == null)
            {
                destroy = IntPtr.Zero;
                return IntPtr.Zero;
            }
            destroy = Callbacks.FreeHandlePtr;
            return GCHandle.ToIntPtr(GCHandle.Alloc(value));
        }

        /// <summary>Undoes <see cref="Encode"/> when native code refused the value.</summary>
        internal static void Discard(IntPtr bits, IntPtr destroy)
        {
            if (destroy != IntPtr.Zero) GCHandle.FromIntPtr(bits).Free();
        }

        /// <summary>Reads a value (borrowed: the task keeps owning it).</summary>
        internal static T Decode(IntPtr bits)
        {
            if (InPointer) return s_fromBits(bits);
            if (bits == IntPtr.Zero) return default(T);
            return (T)GCHandle.FromIntPtr(bits).Target;
        }
    }
}
