#!/bin/sh
# scripts/test-run.sh SUITE... — what `make test` runs: each SUITE is a target of the
# top-level Makefile, run as `make SUITE` with its whole output in
# target/test-logs/SUITE.log. Prints one line per suite as it ends and, at the end, a
# table of suites with their pass and fail counts, the names of the failing tests
# with the log that has their details, and a last line "total: N passed, N failed".
# Exits non-zero if any suite failed. Every suite runs, whatever the earlier ones did.
#
# Counts are read from the log, in the first of these forms it has:
#   cargo test          "test result: ... N passed; M failed" lines, summed
#   prefixed summaries  "mode: N passed, M failed[...]" lines, summed (C++ modes, C#)
#   a plain summary     the last "N passed, M failed" line (the C suites, tests/install)
#   none                the suite is one check: passed when `make SUITE` exits 0
# A suite whose make exits non-zero fails even if its counts say otherwise.
set -u
MAKE=${MAKE:-make}
root=$(cd "$(dirname "$0")/.." && pwd)
logs=$root/target/test-logs
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs/results.txt"
results=$logs/results.txt
: > "$results"

# counts LOG -> "PASSED FAILED" (empty when the log has no counts)
counts() {
  awk '
    /^test result: / {
      for (i = 1; i <= NF; i++) {
        if ($(i) ~ /^passed;?$/) cp += $(i - 1)
        if ($(i) ~ /^failed;?$/) cf += $(i - 1)
      }
      cargo = 1
    }
    /^[A-Za-z0-9_+-]+: [0-9]+ passed, [0-9]+ failed/ {
      sub(/^[^:]*: /, ""); split($0, a, /[ ,]+/); pp += a[1]; pf += a[3]; prefixed = 1
    }
    /^[0-9]+ passed, [0-9]+ failed$/ { split($0, a, /[ ,]+/); lp = a[1]; lf = a[3]; plain = 1 }
    END {
      if (cargo) print cp + 0, cf + 0
      else if (prefixed) print pp + 0, pf + 0
      else if (plain) print lp + 0, lf + 0
    }' "$1"
}

# failing LOG -> the names of the failing tests it reports, one per line
failing() {
  awk '
    /^test .* \.\.\. FAILED$/ { n = $0; sub(/^test /, "", n); sub(/ \.\.\. FAILED$/, "", n); print n }
    /^FAIL [^ ]+/ { print $2 }
    /^\[  FAILED  \] [A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_\/]+/ { n = $4; sub(/,$/, "", n); print n }
    /^[0-9]+\) / && / : / {  # NUnit: "1) Test Failure : Name" (2.6) or "1) Name : message"
      n = $0; sub(/^[0-9]+\) /, "", n); sub(/^(Test Failure|Test Error|SetUp Error|TearDown Error) : /, "", n)
      sub(/ .*/, "", n); if (n ~ /^[A-Za-z_][A-Za-z0-9_.]*$/) print n
    }
    /^== .*: no summary line/ { n = $0; sub(/^== /, "", n); print n }
    /: OVER$/ { n = $1; sub(/:$/, "", n); print n " over budget" }
  ' "$1" | awk '!seen[$0]++' | head -n 25
}

total_p=0; total_f=0; bad=0
for suite in "$@"; do
  log=$logs/$suite.log
  t0=$(date +%s)
  $MAKE --no-print-directory -C "$root" "$suite" > "$log" 2>&1 < /dev/null
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  c=$(counts "$log"); p=${c% *}; f=${c#* }
  if [ -z "$p" ]; then
    if [ $rc -eq 0 ]; then p=1; f=0; else p=0; f=1; fi
  elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1   # it failed in a way its counts do not show (a build error, a crash)
  fi
  if [ $rc -eq 0 ] && [ "$f" -eq 0 ]; then verdict=ok; else verdict=FAIL; bad=1; fi
  total_p=$((total_p + p)); total_f=$((total_f + f))
  printf '%-16s %-4s %6s passed %4s failed %5ss%s\n' "$suite" "$verdict" "$p" "$f" "$secs" \
    "$([ $verdict = FAIL ] && echo "   $log (exit $rc)")"
  printf '%s %s %s %s %s %s\n' "$suite" "$verdict" "$p" "$f" "$secs" "$rc" >> "$results"
done

echo
echo "make test: $(wc -l < "$results") suites, logs in ${logs#"$root"/}/"
printf '  %-16s %-6s %8s %8s %7s\n' suite result passed failed seconds
while read -r suite verdict p f secs rc; do
  printf '  %-16s %-6s %8s %8s %7s\n' "$suite" "$verdict" "$p" "$f" "$secs"
done < "$results"
if [ $bad -ne 0 ]; then
  echo
  echo "failed:"
  while read -r suite verdict p f secs rc; do
    [ "$verdict" = FAIL ] || continue
    log=${logs#"$root"/}/$suite.log
    names=$(failing "$logs/$suite.log")
    if [ -n "$names" ]; then
      echo "  $suite ($log):"
      printf '%s\n' "$names" | sed 's/^/    /'
    else
      echo "  $suite: make $suite exited $rc; see $log (last lines below)"
      tail -n 15 "$logs/$suite.log" | sed 's/^/    | /'
    fi
  done < "$results"
fi
echo "total: $total_p passed, $total_f failed"
exit $bad
