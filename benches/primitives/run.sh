#!/bin/sh
# benches/primitives/run.sh BUILD_DIR — runs tapir's primitives benchmark and its peers
# (.NET SemaphoreSlim / BlockingCollection / ConcurrentDictionary+Lazy on Mono, and
# tokio::sync), then prints one table: each workload, each result, and the ratio
# "tapir is N x the peer" (for times: peer / tapir; for throughputs: tapir / peer).
# A peer that could not be built is reported as missing, never silently skipped.
set -u
build=${1:-build}
out=$(mktemp -d)
"$build/prim_bench" > "$out/tapir" || { echo "prim_bench failed"; exit 1; }
if [ -x "$build/prims_bench.exe" ] || [ -f "$build/prims_bench.exe" ]; then
  mono "$build/prims_bench.exe" > "$out/dotnet" || echo "mono peer failed" > "$out/dotnet.err"
fi
if [ -x "$build/tokio_sync_bench" ]; then
  "$build/tokio_sync_bench" > "$out/tokio" || echo "tokio peer failed" > "$out/tokio.err"
fi
val() { [ -f "$out/$1" ] && awk -v k="$2" '$1 == k { print $2 }' "$out/$1"; }
# The _async rows are tapir's channel with an async call per item; the peers have one
# form each (Mono: blocking Add/Take, tokio: send().await / recv().await), so those
# rows are compared with the same peer figures as chan_spsc / chan_mpmc.
peer_key() { echo "${1%_async}"; }
unit() { awk -v k="$1" '$1 == k { print $3 }' "$out/tapir"; }
ratio() { # tapir peer unit
  [ -z "$2" ] && { echo "missing"; return; }
  case "$3" in
    ns) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", b / a }' ;;
    *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }' ;;
  esac
}
printf "%-16s %-22s %-22s %-8s %-22s %-8s\n" workload tapir "mono (.NET)" ratio "tokio::sync" ratio
for k in sem_uncontended sem_async chan_spsc chan_mpmc chan_spsc_async chan_mpmc_async cache_hit; do
  pk=$(peer_key "$k")
  u=$(unit "$k"); t=$(val tapir "$k"); d=$(val dotnet "$pk"); o=$(val tokio "$pk")
  printf "%-16s %-22s %-22s %-8s %-22s %-8s\n" "$k" "$t $u" "${d:-missing} $u" "$(ratio "$t" "$d" "$u")" \
    "${o:-missing} $u" "$(ratio "$t" "$o" "$u")"
done
echo "(ratio: how many times better tapir is; for ns lower is better, for Mitems/s higher)"
rm -rf "$out"
