using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("Tapir")]
[assembly: AssemblyDescription("The .NET binding of tapir: native TPL-style tasks that .NET, Mono and Unity code awaits.")]
[assembly: AssemblyVersion("0.1.0.0")]
[assembly: InternalsVisibleTo("Tapir.Tests")]
