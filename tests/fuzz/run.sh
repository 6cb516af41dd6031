#!/bin/sh
# run.sh check BIN LOGDIR          fixed seeds at 1 fuzzer thread; one summary line
# run.sh check-mt BIN LOGDIR       fixed seeds at 2 and 4 fuzzer threads; one summary line
# run.sh run BIN LOGDIR SECONDS    random seeds and thread counts until SECONDS pass
#
# Every run's full output goes to LOGDIR/seed-<seed>-t<threads>.log. Extra fuzzer
# flags come from FUZZ_FLAGS (e.g. FUZZ_FLAGS="-x race,racerel"). Exits 1 when any run
# failed; the failing seeds are printed with the command that reproduces each.
mode=$1 bin=$2 logs=$3
mkdir -p "$logs"
export RUST_BACKTRACE=0 # tapir_debug_panic's deliberate panics: no backtrace noise
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0 fail=0 failed="" calls=0

one() { # seed threads seconds
  log="$logs/seed-$1-t$2.log"
  timeout $(( $3 + 120 )) "$bin" -S "$1" -t "$2" -s "$3" $FUZZ_FLAGS > "$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1))
    c=$(sed -n 's/.* OK — [0-9]* ops, \([0-9]*\) calls.*/\1/p' "$log" | tail -n 1)
    calls=$((calls + ${c:-0}))
    [ "$mode" = run ] && echo "  seed $1, $2 thread(s), ${3}s: OK (${c:-?} calls)"
  else
    fail=$((fail + 1))
    why=$(grep -m1 -h '^===== FUZZ FAILURE:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:\|WARNING: ThreadSanitizer' "$log" | sed 's/^===== FUZZ FAILURE: //' | cut -c1-200)
    [ -n "$why" ] || why="exit status $rc$([ $rc -eq 124 ] && echo ', killed by timeout') (see the log)"
    failed="$failed $1/t$2"
    # "FAIL name" is how scripts/test-run.sh lists failing tests
    echo "FAIL seed-$1-t$2 ($why)"
    echo "  FAILED seed $1, $2 thread(s): $why"
    echo "         reproduce: $bin -S $1 -t $2 -s $3 $FUZZ_FLAGS    (log: $log)"
  fi
}

case $mode in
check)
  # about 60 s of fuzzing, three seeds at one fuzzer thread (tapir's own threads still
  # run the callbacks concurrently) and one at two: the gate of `make test`
  for s in 101 102 103; do one $s 1 15; done
  one 201 2 15
  # "name: N passed, M failed" is the summary form scripts/test-run.sh counts
  echo "fuzz-check: $pass passed, $fail failed (runs of 15 s: seeds 101-103 at 1 thread, 201 at 2; $calls calls${failed:+; failed:$failed})"
  ;;
check-mt)
  # 2 and 4 fuzzer threads over fixed seeds (their interleaving is not fixed)
  for t in 2 4; do
    for s in 1 2; do one $((t * 100 + s)) $t 10; done
  done
  echo "fuzz-check-mt: $pass passed, $fail failed (runs of 10 s: seeds 201 202 at 2 threads, 401 402 at 4; $calls calls${failed:+; failed:$failed})"
  ;;
run)
  secs=${4:-60}
  end=$(( $(date +%s) + secs ))
  echo "fuzz run: random seeds for ${secs}s (logs in $logs)"
  while [ "$(date +%s)" -lt "$end" ]; do
    left=$(( end - $(date +%s) ))
    len=$(( left < 20 ? left : 20 ))
    [ "$len" -ge 2 ] || break
    seed=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')
    t=$(( $(od -An -N1 -tu1 /dev/urandom | tr -d ' ') % 4 + 1 ))
    [ "$t" -eq 3 ] && t=2
    one "$seed" "$t" "$len"
  done
  echo "fuzz run: $((pass + fail)) runs, $pass passed, $fail failed${failed:+ (failed seeds:$failed)}, $calls calls"
  ;;
*) echo "usage: run.sh check|check-mt|run BIN LOGDIR [SECONDS]" >&2; exit 2 ;;
esac
[ "$fail" -eq 0 ]
