#!/bin/sh
# coverage.sh [HEADER] [SOURCE...] — every function the header declares is called in the
# fuzzer's sources (fuzz.c and the files it includes, e.g. host_ops.inc). Comments are
# stripped first (by the C preprocessor, without expanding includes), so a name
# mentioned only in a comment does not count.
# Prints the uncalled names and a last line "coverage: N of M header functions called";
# exits 1 when any is missing.
hdr=${1:-../../include/tapir.h}
[ $# -gt 0 ] && shift
srcs=${*:-fuzz.c}
CC=${CC:-cc}
# declarations only: drop comment lines, keep names directly followed by "("
names=$(grep -v '^ *\*\|^ */\*' "$hdr" | grep -oE '\btapir_[a-z0-9_]+\(' | tr -d '(' | sort -u)
code=""
for src in $srcs; do
  c=$($CC -fpreprocessed -dD -E -P -x c "$src" 2>/dev/null) || { echo "coverage: cannot preprocess $src"; exit 1; }
  code="$code
$c"
done
src=$(echo $srcs | tr ' ' '+')
called=0
missing=0
for n in $names; do
  if printf '%s\n' "$code" | grep -qE "\\b$n[[:space:]]*\\("; then
    called=$((called + 1))
  else
    echo "    MISSING $n: declared in $(basename "$hdr"), never called by $(basename "$src")"
    missing=$((missing + 1))
  fi
done
echo "coverage: $called of $((called + missing)) header functions called"
[ "$missing" -eq 0 ]
