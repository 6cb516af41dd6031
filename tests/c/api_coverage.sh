#!/bin/sh
# api_coverage.sh HEADER SOURCE... — every function the header declares is
# called in at least one of the C test sources that are built (STYLE B15 step 5:
# each new API function gets a C test).
# Prints the uncovered names and, last, "1 passed, 0 failed" (one test) or
# "0 passed, 1 failed".
hdr=${1:-../../include/tapir.h}
[ $# -gt 0 ] && shift
srcs=${*:-"test_*.c stress.c harness.h"}
# declarations only: drop comment lines, keep names directly followed by "("
names=$(grep -v '^ *\*\|^ */\*' "$hdr" | grep -oE '\btapir_[a-z0-9_]+\(' | tr -d '(' | sort -u)
passed=0; failed=0
for n in $names; do
  # shellcheck disable=SC2086
  if grep -qw "$n" $srcs; then
    passed=$((passed + 1))
  else
    echo "    FAIL $n: declared in $(basename "$hdr") but no C test calls it"
    failed=$((failed + 1))
  fi
done
echo "api coverage: $passed of $((passed + failed)) functions called by the C tests"
if [ "$failed" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "FAIL api_coverage"; echo "0 passed, 1 failed"; exit 1; fi
