// Reverse P/Invoke marker for IL2CPP and Mono full AOT. Those toolchains find the
// attribute by its full name, so a local definition works outside Unity; inside Unity
// (UNITY_5_3_OR_NEWER) the engine's own AOT.MonoPInvokeCallbackAttribute is used.
#if !UNITY_5_3_OR_NEWER
using System;

namespace AOT
{
    /// <summary>
    /// Marks a static method that native code calls through a function pointer, so
    /// ahead-of-time compilers (IL2CPP, Mono full AOT) generate a reverse P/Invoke
    /// wrapper for it.
    /// </summary>
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType) { DelegateType = delegateType; }

        public Type DelegateType { get; }
    }
}
#endif
