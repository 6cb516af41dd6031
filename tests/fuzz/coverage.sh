#!/bin/sh
# coverage.sh [HEADER] [SOURCE] — every function the header declares is called in the
# fuzzer's source. Comments are stripped first (by the C preprocessor, without
# expanding includes), so a name mentioned only in a comment does not count.
# Prints the uncalled names and a last line "coverage: N of M header functions called";
# exits 1 when any is missing.
hdr=${1:-../../include/tapir.h}
src=${2:-fuzz.c}
CC=${CC:-cc}
# declarations only: drop comment lines, keep names directly followed by "("
names=$(grep -v '^ *\*\|^ */\*' "$hdr" | grep -oE '\btapir_[a-z0-9_]+\(' | tr -d '(' | sort -u)
code=$($CC -fpreprocessed -dD -E -P "$src" 2>/dev/null) || { echo "coverage: cannot preprocess $src"; exit 1; }
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
