#!/bin/sh
# run.sh "prog args" ... — runs each command, shows its output, and prints the
# sum of their final "N passed, N failed" lines as the last line. Exits non-zero
# if any command failed or did not print a summary.
passed=0; failed=0; status=0
log=$(mktemp)
for cmd in "$@"; do
  echo "== $cmd"
  # sh has no pipefail: keep the exit code in a file
  { sh -c "$cmd" 2>&1; echo $? > "$log.rc"; } | tee "$log"
  rc=$(cat "$log.rc")
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "== $cmd: no summary line (exit $rc)"
    failed=$((failed + 1)); status=1
    continue
  fi
  p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" -ne 0 ] && status=1
done
rm -f "$log" "$log.rc"
[ "$failed" -ne 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
