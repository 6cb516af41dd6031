using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace Tapir
{
    /// <summary>
    /// An error that came from native code (or from tapir itself): its <see cref="Code"/>, its
    /// message, and its inner errors in order (<see cref="InnerErrors"/>; the first one is also
    /// <see cref="Exception.InnerException"/>). Managed exceptions set on a tapir task come back
    /// as themselves, never wrapped in this type.
    /// </summary>
    public class TapirException : Exception
    {
        private static readonly ReadOnlyCollection<Exception> s_none = new ReadOnlyCollection<Exception>(new Exception[0]);

        public TapirException(TapirStatus code, string message) : this(code, message, null) { }

        public TapirException(TapirStatus code, string message, IEnumerable<Exception> innerErrors)
            : this(code, message, innerErrors == null ? null : new List<Exception>(innerErrors).ToArray())
        {
        }

        private TapirException(TapirStatus code, string message, Exception[] inner)
            : base(message, inner != null && inner.Length > 0 ? inner[0] : null)
        {
            Code = code;
            InnerErrors = inner == null || inner.Length == 0 ? s_none : new ReadOnlyCollection<Exception>(inner);
        }

        /// <summary>The error's code: a <see cref="TapirStatus"/> value, or any code the producer chose.</summary>
        public TapirStatus Code { get; }

        /// <summary>The inner errors of an aggregate error, in order (empty for a plain error).</summary>
        public ReadOnlyCollection<Exception> InnerErrors { get; }
    }

    /// <summary>A panic inside tapir, caught at the C boundary (code <see cref="TapirStatus.Panic"/>).</summary>
    public sealed class TapirInternalException : TapirException
    {
        public TapirInternalException(string message) : base(TapirStatus.Panic, message) { }

        public TapirInternalException(string message, IEnumerable<Exception> innerErrors) : base(TapirStatus.Panic, message, innerErrors) { }
    }
}
