#!/usr/bin/env bash
# ABI drift check for the C# binding: every function NativeMethods.cs imports must be
# declared by include/tapir.h (same name: the imports use the C names). Header functions the
# wrapper does not import are listed as a note, not an error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
header="${1:-$here/../../include/tapir.h}"
native="${2:-$here/src/Native/NativeMethods.cs}"

# Only real declarations: a name followed by '(' at the start of a prototype, not inside comments.
declared=$(grep -E '^[a-z].*\btapir_[a-z0-9_]+\(' "$header" | grep -v '^typedef' \
  | grep -oE '\btapir_[a-z0-9_]+\(' | tr -d '(' | sort -u)
imported=$(grep -E 'static extern' "$native" | grep -oE '\btapir_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u)
entry_points=$(grep -oE 'EntryPoint *= *"tapir_[a-z0-9_]+"' "$native" | grep -oE 'tapir_[a-z0-9_]+' | sort -u || true)
imported=$(printf '%s\n%s\n' "$imported" "$entry_points" | grep -v '^$' | sort -u)

unknown=$(comm -13 <(echo "$declared") <(echo "$imported"))
unused=$(comm -23 <(echo "$declared") <(echo "$imported"))

n_declared=$(echo "$declared" | grep -c . || true)
n_imported=$(echo "$imported" | grep -c . || true)
if [ -n "$unused" ]; then
  echo "check_abi: note: $(echo "$unused" | grep -c .) header function(s) the C# wrapper does not import:"
  echo "$unused" | sed 's/^/  /'
fi
if [ -n "$unknown" ]; then
  echo "check_abi: FAIL: NativeMethods.cs imports function(s) include/tapir.h does not declare:"
  echo "$unknown" | sed 's/^/  /'
  exit 1
fi
echo "check_abi: ok: $n_imported imported function(s), all declared by the header ($n_declared declared)"
