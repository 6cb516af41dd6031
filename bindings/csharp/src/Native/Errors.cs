using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using Tapir.Handles;

namespace Tapir.Native
{
    /// <summary>
    /// Exceptions to tapir errors and back. A managed exception travels as the payload of a
    /// tapir_error: the payload is a unique native address (one byte from the native heap,
    /// so it can never equal a payload C code created) that maps to the exception object
    /// itself; the payload's destroy function removes the entry. Reading the error back
    /// returns that same object (identity, not a copy). An error without such a payload
    /// becomes a <see cref="TapirException"/> with its code, message and inner errors.
    /// </summary>
    internal static class Errors
    {
        private static readonly ConcurrentDictionary<IntPtr, Exception> s_payloads = new ConcurrentDictionary<IntPtr, Exception>();

        /// <summary>The number of exceptions currently carried by native errors (for tests).</summary>
        internal static int LivePayloads => s_payloads.Count;

        /// <summary>Creates a native error carrying <paramref name="e"/>; the caller owns the handle.</summary>
        internal static ErrorHandle FromException(Exception e)
        {
            if (e == null) throw new ArgumentNullException(nameof(e));
            int code = e is TapirException te ? (int)te.Code : (int)TapirStatus.Faulted;
            if (code == 0) code = (int)TapirStatus.Faulted;
            byte[] message = Encoding.UTF8.GetBytes(e.Message ?? string.Empty);
            IntPtr payload = Marshal.AllocHGlobal(1);
            s_payloads[payload] = e;
            int rc = NativeMethods.tapir_error_new(code, message, (UIntPtr)message.Length, payload, Callbacks.ReleasePayloadPtr, out IntPtr error);
            if (rc != 0)
            {
                ReleasePayload(payload);   // a failed call never calls the destroy
                throw Check.Exception(rc);
            }
            return new ErrorHandle(error);
        }

        internal static void ReleasePayload(IntPtr payload)
        {
            if (s_payloads.TryRemove(payload, out _)) Marshal.FreeHGlobal(payload);
        }

        /// <summary>The exception a native error (borrowed) stands for.</summary>
        internal static Exception ToException(IntPtr error)
        {
            IntPtr payload = NativeMethods.tapir_error_payload(error);
            if (payload != IntPtr.Zero && s_payloads.TryGetValue(payload, out Exception original)) return original;

            var code = (TapirStatus)NativeMethods.tapir_error_code(error);
            string message = Message(error);
            int count = (int)NativeMethods.tapir_error_inner_count(error).ToUInt64();
            var inner = new Exception[count];
            for (int i = 0; i < count; i++)
            {
                Check.Status(NativeMethods.tapir_error_inner(error, (UIntPtr)i, out IntPtr e));
                try { inner[i] = ToException(e); }
                finally { NativeMethods.tapir_error_release(e); }
            }
            return code == TapirStatus.Panic ? new TapirInternalException(message, inner) : new TapirException(code, message, inner);
        }

        /// <summary>Converts and releases an owned error reference.</summary>
        internal static Exception TakeException(IntPtr error)
        {
            try { return ToException(error); }
            finally { NativeMethods.tapir_error_release(error); }
        }

        private static string Message(IntPtr error)
        {
            IntPtr bytes = NativeMethods.tapir_error_message(error, out UIntPtr len);
            int n = (int)len.ToUInt64();
            if (bytes == IntPtr.Zero || n == 0) return string.Empty;
            var buffer = new byte[n];
            Marshal.Copy(bytes, buffer, 0, n);
            return Encoding.UTF8.GetString(buffer);
        }

        /// <summary>All errors of a faulted task, in order (input order for when_all); marks them observed.</summary>
        internal static Exception[] TaskExceptions(TaskHandle task)
        {
            bool added = false;
            try
            {
                task.DangerousAddRef(ref added);
                return TaskExceptions(task.DangerousGetHandle());
            }
            finally
            {
                if (added) task.DangerousRelease();
            }
        }

        /// <summary>As <see cref="TaskExceptions(TaskHandle)"/>, for a task handle lent to a callback.</summary>
        internal static Exception[] TaskExceptions(IntPtr task)
        {
            int count = (int)NativeMethods.tapir_task_error_count(task).ToUInt64();
            var result = new Exception[count];
            for (int i = 0; i < count; i++)
            {
                Check.Status(NativeMethods.tapir_task_error_at(task, (UIntPtr)i, out IntPtr e));
                result[i] = TakeException(e);
            }
            return result;
        }

        /// <summary>Native errors for a list of exceptions, each carrying its exception; the caller disposes them.</summary>
        internal static ErrorHandle[] FromExceptions(IEnumerable<Exception> exceptions)
        {
            if (exceptions == null) throw new ArgumentNullException(nameof(exceptions));
            var list = new List<ErrorHandle>();
            try
            {
                foreach (var e in exceptions)
                {
                    if (e == null) throw new ArgumentException("The exception list contains null.", nameof(exceptions));
                    list.Add(FromException(e));
                }
            }
            catch
            {
                foreach (var h in list) h.Dispose();
                throw;
            }
            if (list.Count == 0) throw new ArgumentException("The exception list is empty.", nameof(exceptions));
            return list.ToArray();
        }

        internal static IntPtr[] Raw(ErrorHandle[] errors)
        {
            var raw = new IntPtr[errors.Length];
            for (int i = 0; i < errors.Length; i++) raw[i] = errors[i].Value;
            return raw;
        }

        internal static void DisposeAll(ErrorHandle[] errors)
        {
            foreach (var e in errors) e.Dispose();
        }
    }
}
