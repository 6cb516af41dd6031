#!/usr/bin/env python3
"""Runs the tapir benchmark suite and writes docs/benchmarks.md and docs/bench/*.svg.

Called by `make -C benches` after the programs are built into benches/build/.
Each workload is run BENCH_ROUNDS times (default 5) with the libraries interleaved
(A B C A B C ...); every run is a fresh child process that prints one line such as
    lib=tapir workload=W1 n=1000000 ns_per_op=41.20 total_ms=41.200 ok=1
Environment knobs (for development only; the report says which were used):
    BENCH_ROUNDS=N   repetitions per case (default 5)
    BENCH_SCALE=F    multiply every N by F (default 1)
    BENCH_ONLY=W1,W4 run only these workload keys
`python3 benches/run.py --report-only` rewrites the page and the figures from the
stored docs/bench/results.json without running anything (to change the report's
layout without spending the minutes a run takes).
Standard library only.
"""

import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(HERE, "build")
DOCS = os.path.join(ROOT, "docs")
FIGS = os.path.join(DOCS, "bench")
REPORT = os.path.join(DOCS, "benchmarks.md")
TAPIR_LIB_DIR = os.path.join(ROOT, "target", "release")

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ONLY = [w for w in os.environ.get("BENCH_ONLY", "").split(",") if w]

# ---------------------------------------------------------------------------
# Libraries: display name and how to start the program for a workload and N.

LIBS = {
    "tapir": ("tapir", lambda w, n: [f"{BUILD}/tapir_bench", w, n]),
    "tapir-256k": ("tapir, 256 KiB-stack thread", lambda w, n: [f"{BUILD}/tapir_bench", "W3s", n]),
    "tapir-whenany": ("tapir, repeated when_any", lambda w, n: [f"{BUILD}/tapir_bench", "W5qa", n]),
    "tapir-post": ("tapir, scheduler_post (no task)", lambda w, n: [f"{BUILD}/tapir_bench", "W7p", n]),
    "tapir-pump": ("tapir, manual scheduler pump", lambda w, n: [f"{BUILD}/pump_bench", "P1", n]),
    "floor-malloc": ("floor (malloc)", lambda w, n: [f"{BUILD}/floor", w, n, "malloc"]),
    "floor-tls": ("floor (thread-local free list)", lambda w, n: [f"{BUILD}/floor", w, n, "tls"]),
    "pplx": ("pplx, default scheduler", lambda w, n: [f"{BUILD}/pplx_bench", w, n, "default"]),
    "pplx-inline": ("pplx, inline scheduler", lambda w, n: [f"{BUILD}/pplx_bench", w, n, "inline"]),
    "boost": ("Boost.Thread futures", lambda w, n: [f"{BUILD}/boost_bench", w, n]),
    "std": ("std::promise/future", lambda w, n: [f"{BUILD}/std_bench", w, n]),
    "tpl-mono": (".NET TPL (Mono)", lambda w, n: ["mono", f"{BUILD}/tpl_bench.exe", w, n]),
}

# ---------------------------------------------------------------------------
# Workloads. unit: what the table shows. per: the per-op metric's meaning.
# cases: (lib, N) in run order; na: libs shown as not applicable, with the reason.

M = 1_000_000
WORKLOADS = [
    dict(key="W1", arg="W1", unit="ns/op", title="W1 lifecycle",
         what="on one thread: new completion source, take its task, attach one synchronous "
              "continuation that increments a counter, set an integer result, release everything",
         cases=[("tapir", M), ("floor-malloc", M), ("floor-tls", M), ("pplx", 50_000),
                ("pplx-inline", M), ("boost", M), ("std", M), ("tpl-mono", M)],
         na={}),
    dict(key="W2", arg="W2", unit="ns/op", title="W2 completed",
         what="an already-completed task plus one synchronous continuation, released",
         cases=[("tapir", M), ("floor-malloc", M), ("floor-tls", M), ("pplx", 50_000),
                ("pplx-inline", M), ("boost", M), ("tpl-mono", M)],
         na={"std": "no continuations, and no ready-future factory"}),
    dict(key="W3-100k", arg="W3", unit="ns/link", title="W3 chain, D = 100,000",
         what="a chain of D continuations, each on the previous continuation's task, built on "
              "the main thread (8 MiB stack); complete the root, wait for the last",
         cases=[("tapir", 100_000), ("tapir-256k", 100_000), ("pplx", 100_000),
                ("pplx-inline", 100_000), ("boost", 100_000), ("tpl-mono", 100_000)],
         na={"std": "no continuations"}, timeout=15),
    dict(key="W3-1M", arg="W3", unit="ns/link", title="W3 chain, D = 1,000,000",
         what="as above with D = 1,000,000",
         cases=[("tapir", M), ("tapir-256k", M), ("pplx", M), ("pplx-inline", M),
                ("boost", M), ("tpl-mono", M)],
         na={"std": "no continuations"}, timeout=15),
    dict(key="W4", arg="W4", unit="ms", title="W4 when_all",
         what="create 1,000,000 pending sources, when_all over their tasks, one synchronous "
              "continuation on it, complete the sources in order, wait for the continuation",
         cases=[("tapir", M), ("pplx", M), ("pplx-inline", M), ("boost", M), ("tpl-mono", M)],
         na={"std": "no when_all"}),
    dict(key="W5", arg="W5", unit="ms", title="W5 when_any",
         what="create 100,000 pending sources, when_any over all, complete the middle one, "
              "wait for the when_any result",
         cases=[("tapir", 100_000), ("pplx", 100_000), ("pplx-inline", 100_000),
                ("boost", 100_000), ("tpl-mono", 100_000)],
         na={"std": "no when_any"}),
    dict(key="W5q", arg="W5q", unit="ms", title="W5q completion order",
         what="N pending tasks completed one at a time in a fixed shuffled order and consumed in "
              "completion order: tapir with its interleaved combinator, everyone else (and "
              "'tapir, repeated when_any') by a when_any over the remaining set before each "
              "completion, which is quadratic",
         cases=[("tapir", 2000), ("tapir-whenany", 2000), ("pplx", 2000), ("pplx-inline", 2000),
                ("boost", 2000), ("tpl-mono", 2000)],
         na={"std": "no when_any"}),
    dict(key="W5q-5000", arg="W5q", unit="ms", title="W5q completion order, N = 5,000 (tapir only)",
         what="W5q at N = 5,000, for tapir's interleaved combinator only (the quadratic peers "
              "would take minutes at five repetitions)",
         cases=[("tapir", 5000)], na={}),
    dict(key="W6b", arg="W6b", unit="ns/round trip", title="W6 ping-pong, blocking waits",
         what="two threads hand completion back and forth through pre-created sources 20,000 "
              "times (W6c runs 200,000, but a futex round trip costs tens of microseconds on a "
              "VM, so 200,000 blocking round trips would take a large part of the suite's "
              "15-minute budget; the ratio is per round trip); each side blocks in wait on its "
              "incoming task, then completes the other's",
         cases=[("tapir", 20_000), ("pplx", 20_000), ("boost", 20_000), ("std", 20_000),
                ("tpl-mono", 20_000)],
         na={"pplx-inline": "same as pplx: blocking waits do not use the scheduler"}),
    dict(key="W6c", arg="W6c", unit="ns/round trip", title="W6 ping-pong, continuations",
         what="the same 200,000 round trips with no blocked thread: each task's asynchronous "
              "(default-scheduled) continuation completes the next source; the main thread "
              "completes the first and waits for the last",
         cases=[("tapir", 200_000), ("pplx", 200_000), ("boost", 200_000), ("tpl-mono", 200_000)],
         na={"std": "no continuations", "pplx-inline": "an inline scheduler has no second thread"}),
    dict(key="W7", arg="W7", unit="ns/job", title="W7 spawn",
         what="N tiny jobs (one atomic increment each) started as tasks on the default pool "
              "(tapir: `tapir_run`; also `tapir_scheduler_post` work items, which make no task); "
              "the last job completes a source the main thread waits for",
         cases=[("tapir", M), ("tapir-post", M), ("pplx", 250_000), ("boost", 250_000), ("std", 2000),
                ("tpl-mono", M)],
         na={"pplx-inline": "an inline scheduler has no pool"}),
    dict(key="P1", arg="P1", unit="ns/item", title="P1 pump budget (tapir only)",
         what="10,000 work items of about 3 us each queued on a manual scheduler, pumped as a "
              "game loop does with `tapir_scheduler_run_pending(sched, 0, 1 /* ms */, &ran)` "
              "until all ran; the budget is checked between items, so a pump may finish at "
              "most one item past it (`benches/pump_bench.c`; alone: `make -C benches pump`)",
         cases=[("tapir-pump", 10_000)], na={}),
]

# Heap-allocation counting (LD_PRELOAD=build/malloc_count.so): one run each at this N.
ALLOC_CASES = [("W1", lib, n) for lib, n in [("tapir", 100_000), ("floor-malloc", 100_000),
                                              ("floor-tls", 100_000), ("pplx", 20_000),
                                              ("pplx-inline", 100_000), ("boost", 100_000),
                                              ("std", 100_000), ("tpl-mono", 100_000)]] + \
              [("W2", lib, n) for lib, n in [("tapir", 100_000), ("floor-malloc", 100_000),
                                              ("floor-tls", 100_000), ("pplx", 20_000),
                                              ("pplx-inline", 100_000), ("boost", 100_000),
                                              ("tpl-mono", 100_000)]]

STATUS_TEXT = {
    "not-yet-in-tapir": "not yet in tapir",
    "n/a-inline-scheduler": "n/a (inline scheduler)",
    "n/a-no-continuations": "n/a (no continuations)",
    "n/a-no-combinators": "n/a (no combinators)",
    "n/a": "n/a",
}

# ---------------------------------------------------------------------------
# Running


def scaled(n):
    return max(1, int(n * SCALE))


def program_available(lib):
    cmd = LIBS[lib][1]("W1", 1)
    path = cmd[1] if cmd[0] == "mono" else cmd[0]
    return os.path.exists(path) and (cmd[0] != "mono" or shutil.which("mono"))


def parse_line(text):
    """The last `lib=... workload=...` line of a program's output, as a dict."""
    found = None
    for line in text.splitlines():
        if line.startswith("lib="):
            found = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    return found


def unlimited_stack():
    resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def run_once(cmd, timeout, env=None, preexec=None):
    """Runs one benchmark process. Returns (kind, record, detail):
    kind is 'ok', 'skip', 'fail' (ok=0), 'crash', 'timeout' or 'error'."""
    full_env = dict(os.environ)
    full_env["LD_LIBRARY_PATH"] = TAPIR_LIB_DIR + (":" + full_env["LD_LIBRARY_PATH"]
                                                   if full_env.get("LD_LIBRARY_PATH") else "")
    if env:
        full_env.update(env)
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                           env=full_env, preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        return "timeout", None, f"no result after {timeout} s"
    rec = parse_line(p.stdout)
    if p.returncode < 0:
        sig = -p.returncode
        return "crash", rec, signal.Signals(sig).name if sig in signal.Signals._value2member_map_ \
            else f"signal {sig}"
    if p.returncode != 0 or rec is None:
        return "error", rec, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    if "status" in rec:
        return "skip", rec, rec["status"]
    if rec.get("ok") != "1":
        return "fail", rec, "result check failed"
    return "ok", rec, ""


def diagnose(cmd, kind, detail):
    """A crash or hang: run once more with an unlimited stack to see whether the
    stack size was the cause. Returns the text shown in the table."""
    k2, rec2, _ = run_once(cmd, 180, preexec=unlimited_stack)
    stack = k2 == "ok"
    if kind == "crash":
        if stack:
            return f"crashed (stack overflow: {detail}; completes with `ulimit -s unlimited`)"
        return f"crashed ({detail})"
    if kind == "timeout":
        if stack:
            return f"hung ({detail}; completes with `ulimit -s unlimited`)"
        return f"hung ({detail})"
    return f"error: {detail}"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


LOAD = {}


def run_all():
    LOAD["start"] = loadavg()
    results = {}  # (wkey, lib) -> dict(records=[...], state=..., text=...)
    started = time.time()
    for wl in WORKLOADS:
        if ONLY and wl["key"] not in ONLY:
            continue
        timeout = wl.get("timeout", 120)
        for rnd in range(ROUNDS):
            for lib, n in wl["cases"]:
                slot = results.setdefault((wl["key"], lib), dict(records=[], state="ok", text=""))
                if slot["state"] != "ok":
                    continue  # skipped, failed or crashed: deterministic, not repeated
                if not program_available(lib):
                    slot.update(state="missing", text="not built" if lib.startswith("tapir")
                                else "program missing")
                    continue
                cmd = LIBS[lib][1](wl["arg"], scaled(n))
                kind, rec, detail = run_once(cmd, timeout)
                slot["cmd"] = " ".join(str(c) for c in cmd)
                if kind == "ok":
                    slot["records"].append(rec)
                elif kind == "skip":
                    slot.update(state="skip", text=STATUS_TEXT.get(detail, detail))
                elif kind == "fail":
                    slot["records"].append(rec)
                    slot.update(state="fail", text="result check failed")
                else:
                    slot.update(state=kind, text=diagnose(cmd, kind, detail) if
                                wl["arg"] == "W3" and kind in ("crash", "timeout")
                                else ("crashed (%s)" % detail if kind == "crash" else
                                      "hung (%s)" % detail if kind == "timeout" else
                                      "error: %s" % detail))
                status = "" if slot["state"] == "ok" else " -> " + slot["text"]
                line = rec and rec.get("ns_per_op")
                print(f"[{time.time() - started:6.1f}s] {wl['key']:8} round {rnd + 1} "
                      f"{lib:14} n={scaled(n):<8} {line or ''}{status}", flush=True)
    allocs = {}
    if not ONLY or "alloc" in ONLY:
        preload = os.path.join(BUILD, "malloc_count.so")
        for w, lib, n in ALLOC_CASES:
            if not program_available(lib) or not os.path.exists(preload):
                continue
            cmd = LIBS[lib][1](w, scaled(n))
            env = {} if lib == "tpl-mono" else {"LD_PRELOAD": preload}
            kind, rec, detail = run_once(cmd, 120, env=env)
            allocs[(w, lib)] = (kind, rec, detail)
            print(f"[{time.time() - started:6.1f}s] alloc {w} {lib:14} "
                  f"{rec and (rec.get('allocs_per_op') or rec.get('gc_bytes_per_op'))} {detail}",
                  flush=True)
    LOAD["end"] = loadavg()
    return results, allocs, time.time() - started


# ---------------------------------------------------------------------------
# Statistics and formatting


def per_op(slot):
    return [float(r["ns_per_op"]) for r in slot["records"]]


def shown(wl, slot):
    """The values in the table's unit: ms totals for W4/W5/W5q, ns per op otherwise."""
    if wl["unit"] == "ms":
        return [float(r["total_ms"]) for r in slot["records"]]
    return per_op(slot)


def fmt(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio_text(other, tapir):
    """The other library's time divided by tapir's, per op: how many times longer the
    other takes, so higher is better for tapir (below 1: the other is faster)."""
    if not tapir or not other:
        return "-"
    r = other / tapir
    if r >= 100:
        return f"{r:,.0f}"
    return f"{r:.2g}" if r < 0.1 else f"{r:.2f}"


def median_per_op(results, wkey, lib):
    slot = results.get((wkey, lib))
    if slot and slot["records"] and slot["state"] in ("ok",):
        return statistics.median(per_op(slot))
    return None


def median_field(results, wkey, lib, field):
    """The median of one numeric field of a case's records (None when not measured)."""
    slot = results.get((wkey, lib))
    if not slot or not slot["records"] or slot["state"] != "ok":
        return None
    values = [float(r[field]) for r in slot["records"] if field in r]
    return statistics.median(values) if values else None


BUDGET_LINE = re.compile(r"^(W\w+): (\d+) instructions \(budget \d+\), ([\d.]+) RMW "
                         r"\(budget \d+\), ([\d.]+) __tls_get_addr")


def budget_figures():
    """Instructions, lock-prefixed RMWs and __tls_get_addr calls per lifecycle, counted by
    callgrind on the release library (tests/budget/check.sh): {workload: (ir, rmw, tls)}.
    Deterministic, so counted when the page is written; empty when valgrind is missing."""
    lib = os.path.join(ROOT, "target", "release")
    try:
        out = subprocess.run([os.path.join(ROOT, "tests", "budget", "check.sh"), lib],
                             capture_output=True, text=True, timeout=600).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    figures = {}
    for line in out.splitlines():
        m = BUDGET_LINE.match(line)
        if m:
            figures[m.group(1)] = (int(m.group(2)), float(m.group(3)), float(m.group(4)))
    return figures


def targets_section(results, budget):
    """The fast path's targets, each with this run's figure (or the budget check's count)
    and whether it is met."""
    rows = []

    def row(what, target, value, shown, met):
        verdict = "not measured" if value is None else ("met" if met(value) else "not met")
        rows.append(f"| {what} | {target} | {shown if value is not None else '-'} | {verdict} |")

    for w, ir_max, rmw_max in (("W1", 500, 5), ("W1f", 500, 5), ("W2", 300, 1)):
        ir, rmw, tls = budget.get(w, (None, None, None))
        name = "W1 with the fused calls" if w == "W1f" else w
        row(f"{name}: instructions per lifecycle", f"≤ {ir_max}", ir, f"{ir}", lambda v: v <= ir_max)
        row(f"{name}: atomic RMWs per lifecycle", f"≤ {rmw_max}", rmw, f"{rmw}",
            lambda v: v <= rmw_max)
        row(f"{name}: `__tls_get_addr` calls", "0", tls, f"{tls}", lambda v: v == 0)
    for w, factor in (("W1", 3), ("W2", 2)):
        t, floor = median_per_op(results, w, "tapir"), median_per_op(results, w, "floor-tls")
        x = t / floor if t and floor else None
        row(f"{w}: time against the free-list floor", f"≤ {factor}x", x,
            f"{x:.1f}x" if x else "", lambda v: v <= factor)
    v = median_per_op(results, "W3-1M", "tapir")
    row("W3: 1M-deep synchronous chain", "≤ 60 ns/link", v, f"{v:.0f} ns/link" if v else "",
        lambda v: v <= 60)
    v = median_field(results, "W4", "tapir", "total_ms")
    row("W4: when_all over 1M", "≤ 70 ms", v, f"{v:.0f} ms" if v else "", lambda v: v <= 70)
    v = median_field(results, "W4", "tapir", "rss_bytes_per_input")
    row("W4: peak RSS per input", "≤ 96 B", v, f"{v:.0f} B" if v else "", lambda v: v <= 96)
    # The target times the combinator alone (combine_ms: from the when_any call to its
    # completion); the workload's own figure also counts making the inputs.
    v = median_field(results, "W5", "tapir", "combine_ms")
    row("W5: when_any over 100k (the inputs made before the timed part)", "≤ 2 ms", v,
        f"{v:.1f} ms" if v else "", lambda v: v <= 2)
    t, tpl = median_per_op(results, "W5q", "tapir"), median_per_op(results, "W5q", "tpl-mono")
    x = tpl / t if t and tpl else None
    row("W5q: interleaved against the TPL's repeated WhenAny", "≥ 100x", x,
        f"{x:,.0f}x" if x else "", lambda v: v >= 100)
    v = median_per_op(results, "W6c", "tapir")
    row("W6: ping-pong via continuations", "≤ 300 ns", v, f"{v:.0f} ns" if v else "",
        lambda v: v <= 300)
    v = median_per_op(results, "W7", "tapir")
    row("W7: spawn (`tapir_run`)", "≤ 160 ns/job", v, f"{v:.0f} ns/job" if v else "",
        lambda v: v <= 160)
    L = ["## The fast path's targets\n",
         "Instruction, RMW and TLS-call counts come from the instruction budget "
         "(`tests/budget/check.sh`, callgrind on the release library when this page was "
         "written: deterministic, whatever the machine's load); times from this run's "
         "medians. W1f is W1 through `tapir_source_new_with_task` and "
         "`tapir_source_release_with_task`.\n",
         "| target | wanted | now | |", "|---|---|---:|---|"] + rows + [""]
    return L


def n_of(slot):
    return int(slot["records"][0]["n"]) if slot and slot["records"] else None


def machine_facts():
    def cmd(args):
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not available"

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    stack = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1024} KiB"

    def pkg(name):
        return cmd(["dpkg-query", "-W", "-f=${Version}", name])

    os_name = "unknown"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", cpu),
        ("memory", mem),
        ("OS", os_name),
        ("kernel", platform.release()),
        ("main-thread stack limit (ulimit -s)", stack),
        ("load average (1, 5, 15 min) before / after the runs",
         f"{LOAD.get('start', '?')} / {LOAD.get('end', '?')}"),
        ("gcc", cmd(["gcc", "--version"])),
        ("g++", cmd(["g++", "--version"])),
        ("rustc", cmd(["rustc", "--version"])),
        ("mono", cmd(["mono", "--version"])),
        ("mcs", cmd(["mcs", "--version"])),
        ("libcpprest-dev", pkg("libcpprest-dev")),
        ("libboost-thread-dev", pkg("libboost-thread-dev")),
        ("gnuplot", cmd(["gnuplot", "--version"])),
        ("python3", platform.python_version()),
    ]


def build_commands():
    try:
        out = subprocess.run(["make", "-s", "-n", "-B", "-C", HERE, "programs"],
                             capture_output=True, text=True, timeout=60)
        return [line.replace(ROOT, "..") for line in out.stdout.splitlines()
                if line.strip() and not line.startswith("make")]
    except (OSError, subprocess.TimeoutExpired):
        return []


# ---------------------------------------------------------------------------
# Figures (gnuplot)


def gnuplot_bars(path, title, ylabel, rows, logscale):
    """rows: [(label, value, note)] -> bar chart as SVG. A row whose value is None (the
    library crashed, hung or failed its check) is drawn as a grey bar reaching the top of
    the chart, labelled with `note`, so a missing library is seen, not silently absent."""
    measured = [v for _, v, _ in rows if v is not None]
    if not measured or not shutil.which("gnuplot"):
        return False
    top = max(measured) * (3 if logscale else 1.12)
    bottom = min(measured) / 3 if logscale else 0
    lines = []
    for label, value, note in rows:
        if value is None:
            color, shown_v, text = 0xb0b0b0, top / (1.6 if logscale else 1.06), note
        else:
            color = 0xd9822b if label.startswith("tapir") else 0x3b6ea5
            shown_v = value
            text = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
        text = text.replace('"', "'")
        lines.append(f'"{label}" {shown_v:.6g} {color} "{text}"')
    data = "\n".join(lines)
    width = max(640, 130 * len(rows) + 160)
    script = f"""
set terminal svg size {width},420 dynamic font "sans,11" background rgb "white"
set output "{path}"
set title "{title}"
set ylabel "{ylabel}"
set style fill solid 0.85 border -1
set boxwidth 0.7
set xrange [-0.6:{len(rows) - 0.4}]
set key off
set grid ytics
set xtics noenhanced
set title noenhanced
set label noenhanced
{f"set logscale y; set yrange [{bottom:.6g}:{top:.6g}]" if logscale else f"set yrange [0:{top:.6g}]"}
$data << EOD
{data}
EOD
plot $data using 0:2:3:xtic(1) with boxes lc rgb variable, \\
     '' using 0:2:4 with labels offset 0,0.7 noenhanced notitle
"""
    p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        print("gnuplot failed:", p.stderr, file=sys.stderr)
        return False
    return True


def not_measured(slot):
    """The short reason a case has no time (crashed, hung, ...), or None if it has one."""
    if slot is None:
        return None
    if slot["state"] == "ok" and slot["records"]:
        return None
    if slot["state"] in ("skip", "missing"):
        return None  # not applicable or not built: not drawn
    text = slot.get("text") or slot["state"]
    for word in ("crashed", "hung", "result check failed", "error"):
        if text.startswith(word):
            return word
    return slot["state"]


def short(lib):
    return {"tapir-256k": "tapir 256K stack", "tapir-whenany": "tapir when_any",
            "tapir-post": "tapir post", "tapir-pump": "tapir pump",
            "floor-malloc": "floor malloc", "floor-tls": "floor TLS",
            "pplx-inline": "pplx inline", "tpl-mono": "TPL Mono"}.get(lib, lib)


def draw_figures(results):
    os.makedirs(FIGS, exist_ok=True)
    for old in os.listdir(FIGS):  # figures of an earlier run
        if old.endswith(".svg"):
            os.remove(os.path.join(FIGS, old))
    made = {}
    for wl in WORKLOADS:
        rows = []
        for lib, _ in wl["cases"]:
            m = median_per_op(results, wl["key"], lib)
            if m is not None:
                rows.append((short(lib), m, ""))
            else:
                why = not_measured(results.get((wl["key"], lib)))
                if why:
                    rows.append((short(lib), None, why))
        if not any(v is not None for _, v, _ in rows):
            continue
        name = f"{wl['key']}.svg"
        values = [v for _, v, _ in rows if v is not None]
        log = max(values) / max(min(values), 1e-9) > 30
        unit = "ns per op" if wl["unit"] == "ms" else wl["unit"].replace("/", " per ")
        if gnuplot_bars(os.path.join(FIGS, name), f"{wl['title']} (median, lower is better)",
                        unit + (" (log scale)" if log else ""), rows, log):
            made[wl["key"]] = name
    rows = []
    for lib, _ in WORKLOADS_BY_KEY["W4"]["cases"]:
        slot = results.get(("W4", lib))
        if slot and slot["state"] == "ok" and slot["records"]:
            rows.append((short(lib), statistics.median(
                float(r["rss_bytes_per_input"]) for r in slot["records"]), ""))
        elif not_measured(slot):
            rows.append((short(lib), None, not_measured(slot)))
    if rows and gnuplot_bars(os.path.join(FIGS, "W4-memory.svg"),
                             "W4 when_all: peak-RSS growth per input (median, lower is better)",
                             "bytes per input", rows, False):
        made["W4-memory"] = "W4-memory.svg"
    return made


WORKLOADS_BY_KEY = {wl["key"]: wl for wl in WORKLOADS}

# ---------------------------------------------------------------------------
# Report

CAVEATS = """\
- **What a "synchronous continuation" is in each library.** tapir: `tapir_task_on_complete` /
  `tapir_task_continue_with` with `TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY`; the callback runs
  inside `tapir_source_set_result` (or at once when the task is already complete); tapir bounds
  the inline depth and trampolines past it. `tapir_task_on_complete` creates no task;
  W3 and W4 use `tapir_task_continue_with`, which does. .NET TPL:
  `ContinueWith(..., TaskContinuationOptions.ExecuteSynchronously)`, which always allocates a
  continuation `Task` (TPL's cheaper `await` path, `GetAwaiter().OnCompleted`, is not measured).
  Boost: `.then(boost::launch::sync, f)`, which always creates a new shared state and future.
  pplx has no "execute synchronously" option on Linux: with the **default scheduler** every
  continuation is posted to cpprest's thread pool, so W1/W2 measure a cross-thread hand-off
  per operation (the loop waits at the end until the counter reaches N). The **inline
  scheduler** variant gives pplx a `scheduler_interface` whose `schedule()` calls the work
  item at once; continuations inherit their antecedent's scheduler, so they run inside
  `task_completion_event::set`, the closest pplx gets to a synchronous continuation.
- **std::promise/std::future** has no continuations, combinators or pool. Its W1 row is
  promise + future + `set_value` + `get()` with the counter incremented after `get()` (a
  lower bound on what a continuation would cost); its W7 uses `std::async(std::launch::async)`,
  which starts one thread per job, so it runs at a much smaller N.
- **Counters.** tapir, the floor, Boost, std and TPL increment a plain counter in their
  synchronous callbacks; pplx increments a relaxed atomic because its default-scheduler
  continuations run on pool threads (a few ns per op at most).
- **Combinators.** Boost's `when_all`/`when_any` start one `boost::thread` per call that blocks in
  `wait_for_all`/`wait_for_any`; they also move the futures in and hand them all back, so W5
  scans for the ready one. pplx's `when_all` collects values into a `std::vector`; TPL's
  `WhenAll` returns an `int[]`; tapir's `when_all` succeeds with the values in input order
  (the W4 continuation only checks that it succeeded). tapir's `when_any` removes its
  registrations from the losers when it completes.
- **W5q** is quadratic for everyone without an interleave combinator: each of the N steps
  registers on all remaining tasks, and in pplx and Mono those registrations stay attached
  to the tasks that have not completed yet. It runs at N = 2,000 instead of 5,000 to keep the
  whole suite within 15 minutes; at 5,000 the quadratic variants would cost about 6x more.
- **W3 timings include building the chain** (`build_ns_per_op` and `fire_ns_per_op` in the raw
  data split it). Failed cases are run once more with `ulimit -s unlimited` to tell a stack
  overflow from another crash; they are not repeated five times. The Mono hang at D = 100,000
  happens with the default 8 MiB main-thread stack: the run stops using CPU and the last task
  never completes; with an unlimited stack it completes.
- **W4/W5 times include creating the sources**; `combine_ms` in the raw data is the time from
  the when_all/when_any call to the end. The W4 memory figure is the growth of peak RSS
  (`getrusage` `ru_maxrss`) from before the sources are created to after the continuation ran,
  divided by N; for Mono it includes whatever the garbage collector had not yet reclaimed.
- **W6** pre-creates all 2 x 200,000 sources before the clock starts. W6c's continuations are
  default-scheduled (asynchronous): each hop is queued to the library's pool (tapir: the
  default pool; pplx: cpprest's pool; Boost: a `basic_thread_pool` with one thread per CPU,
  because `launch::async` would start a thread per continuation; TPL: the ThreadPool), so
  consecutive hops may run on the same worker thread.
- **W7**: tapir's main row uses `tapir_run` (a task per job, released at once), like pplx's
  `create_task`, Boost's `boost::async(pool, f)` on a `basic_thread_pool` and TPL's `Task.Run`;
  the `tapir_scheduler_post` row queues bare work items. Pool sizes differ: cpprest's pool
  has 40 threads by default, Boost's `basic_thread_pool` and tapir's default pool one per CPU,
  the Mono ThreadPool grows on demand.
- **N differs for a few slow peers** (shown in the N column): ratios are per operation, so they
  still compare, but fixed costs (pool start-up, first-touch page faults) weigh more at small N.
- **Warm-up.** Every program runs the workload once at a small size before the timed run
  (W1/W2 at N/10), so the Mono JIT has compiled it and the allocators are warm.
- **Allocation counts** come from `benches/malloc_count.c`, an `LD_PRELOAD` library counting
  malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign (allocations) and free in all
  threads between two marker calls around the timed loop. C++ `operator new` goes through
  malloc, so it is counted. Mono allocates managed objects from its own GC heap, so its row
  gives the GC-allocated bytes per operation (`GC.GetAllocatedBytesForCurrentThread`) instead.
"""


def summary_cell(results, wl, lib, t):
    """One cell of the summary: the ratio, or why there is none."""
    if lib in wl["na"]:
        return "n/a"
    if lib not in [l for l, _ in wl["cases"]]:
        return "not run"
    o = median_per_op(results, wl["key"], lib)
    if o is not None:
        return ratio_text(o, t) if t else "-"
    slot = results.get((wl["key"], lib))
    return not_measured(slot) or ("n/a" if slot and slot["state"] == "skip" else "not run")


def w6b_note(results):
    """Why tapir's blocking ping-pong trails Mono's, from the numbers of this run."""
    t = results.get(("W6b", "tapir"))
    m = median_per_op(results, "W6b", "tpl-mono")
    if not t or not t["records"] or m is None:
        return None
    runs = per_op(t)
    others = ", ".join(f"{LIBS[lib][0]} {fmt(v)} ns" for lib, v in
                       ((lib, median_per_op(results, "W6b", lib)) for lib in ("pplx", "boost", "std"))
                       if v is not None)
    return (
        "**What the blocking ping-pong measures.** Each round trip is two blocking waits, each "
        "answered within a microsecond by the other thread. A wait that sees its task complete "
        "while it spins costs a few hundred ns; a wait that has to sleep pays a futex sleep and "
        "wake-up, tens of microseconds on this VM, which is what dominates the libraries that "
        "sleep in most of their waits (medians: " + others + "). Mono's `Task.Wait` spins before "
        "it blocks (SpinThenBlockingWait, then a ManualResetEventSlim that spins again), so most "
        f"of its waits are answered while spinning (median {fmt(m)} ns). tapir spins briefly "
        "(about 770 pause instructions, then 10 yields) and then parks, so that a blocked "
        "waiter soon gives its core back: whenever the other thread is descheduled for longer "
        f"than that, the wait sleeps. tapir's fastest run took {fmt(min(runs))} ns per round "
        f"trip; its median, {fmt(statistics.median(runs))} ns, averages in the waits that slept, "
        "which is also why its runs spread widely. Continuations avoid the question: W6c hands "
        "the same completions over without blocking a thread.\n")


def write_report(results, allocs, elapsed, meta=None):
    os.makedirs(DOCS, exist_ok=True)
    figures = draw_figures(results)
    meta = meta or {}
    when = meta.get("date") or time.strftime('%Y-%m-%d %H:%M %Z')
    L = []
    L.append("# tapir benchmarks\n")
    L.append("Generated by `make -C benches` (also `make bench` at the top level) on "
             f"{when}; do not edit by hand. The suite is in "
             "`benches/`: one program per library, all written for this suite, doing the same "
             "work. Times are medians over "
             f"{meta.get('rounds', ROUNDS)} runs per case, with the programs interleaved "
             "(A B C A B C ...), each run a fresh process. Every ratio on this page reads the "
             "same way: **X / tapir**, the other library's median time per operation divided "
             "by tapir's — how many times longer X takes. **Higher is better for tapir**; below "
             "1 the other library is faster.")
    scale, only = meta.get("scale", SCALE), meta.get("only", ONLY)
    if scale != 1 or only:
        L.append(f"\n**Development run:** BENCH_SCALE={scale} BENCH_ONLY={','.join(only)}; "
                 "the numbers are not the full suite.")
    L.append(f"\nThe measuring part took {elapsed:.0f} s.\n")

    # Summary
    peers = ["pplx", "pplx-inline", "boost", "std", "tpl-mono"]
    L.append("## Summary: X / tapir, per operation (higher is better for tapir)\n")
    L.append("| workload | " + " | ".join(LIBS[l][0] for l in peers) + " |")
    L.append("|---|" + "---:|" * len(peers))
    for wl in WORKLOADS:
        if not any(lib in peers for lib, _ in wl["cases"]):
            continue  # a tapir-only workload: its table below has the numbers
        t = median_per_op(results, wl["key"], "tapir")
        cells = [summary_cell(results, wl, lib, t) for lib in peers]
        L.append(f"| {wl['title']} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("\"n/a\": the library has no such operation (the workload's table says why); "
             "\"not run\": the suite does not run that combination; \"crashed\" and \"hung\" "
             "are described in the workload's table. The floor, the cheapest completion object "
             "we could write, is compared in its own section below.\n")

    # Per workload tables
    L.append("## Results\n")
    for wl in WORKLOADS:
        L.append(f"### {wl['title']}\n")
        L.append(wl["what"][0].upper() + wl["what"][1:] + ".\n")
        unit = wl["unit"]
        # ns/op is a column of its own only where the table's unit is a total (ms)
        per_op_col = unit == "ms"
        blanks = " | |" if per_op_col else " |"
        L.append(f"| library | N | median ({unit}) | min ({unit}) | "
                 + ("median ns/op | " if per_op_col else "") + "runs | X / tapir |")
        L.append("|---|---:|---:|---:|" + ("---:|" if per_op_col else "") + "---:|---:|")
        t = median_per_op(results, wl["key"], "tapir")
        for lib, n in wl["cases"]:
            slot = results.get((wl["key"], lib))
            name = LIBS[lib][0]
            if not slot:
                L.append(f"| {name} | {scaled(n):,} | not run |{blanks} | |")
                continue
            if slot["state"] not in ("ok",) or not slot["records"]:
                L.append(f"| {name} | {scaled(n):,} | {slot['text']} |{blanks} "
                         f"{len(slot['records'])} | |")
                continue
            vals = shown(wl, slot)
            po = statistics.median(per_op(slot))
            extra = ""
            if wl["arg"] == "W3":
                b = statistics.median(float(r["build_ns_per_op"]) for r in slot["records"])
                f = statistics.median(float(r["fire_ns_per_op"]) for r in slot["records"])
                extra = f" (build {fmt(b)} + run {fmt(f)})"
            L.append(f"| {name} | {n_of(slot):,} | {fmt(statistics.median(vals))}{extra} | "
                     f"{fmt(min(vals))} | " + (f"{fmt(po)} | " if per_op_col else "")
                     + f"{len(vals)} | {'' if lib == 'tapir' else ratio_text(po, t)} |")
        for lib, why in wl["na"].items():
            L.append(f"| {LIBS[lib][0]} | | n/a: {why} |{blanks} | |")
        L.append("")
        if wl["key"] == "W6b":
            note = w6b_note(results)
            if note:
                L.append(note)
        stale = [int(r.get("stale_antecedents", "0")) for lib, _ in wl["cases"]
                 for r in results.get((wl["key"], lib), {}).get("records", [])]
        if any(stale):
            L.append(f"**tapir bug seen here:** in {max(stale):,} of the D callbacks the "
                     "`antecedent` handle that `tapir_task_continue_with` passed to the callback "
                     "was refused by `tapir_task_result` (INVALID_HANDLE), because the chain "
                     "releases its own task reference right after registering the continuation "
                     "(the `t = t.ContinueWith(...)` pattern). The documentation says the handle "
                     "is borrowed for the call, so it should stay valid. The benchmark passes the "
                     "link value through a counter instead, so the timing is unaffected.\n")
        if wl["key"] in figures:
            L.append(f"![{wl['title']}](bench/{figures[wl['key']]})\n")
        if wl["key"] == "P1":
            recs = [r for lib, _ in wl["cases"]
                    for r in results.get(("P1", lib), {}).get("records", [])]
            if recs:
                L.append("Per run: the pumps it took, the longest and the mean pump (ms, with a "
                         "1 ms budget; a pump the machine preempted takes longer), and the most "
                         "items any pump finished past its budget (at most 1 by construction):\n")
                L.append("| run | pumps | worst pump (ms) | mean pump (ms) | max overshoot (items) |")
                L.append("|---:|---:|---:|---:|---:|")
                for i, r in enumerate(recs, 1):
                    L.append(f"| {i} | {r.get('pumps', '')} | {r.get('worst_pump_ms', '')} | "
                             f"{r.get('mean_pump_ms', '')} | {r.get('max_overshoot', '')} |")
                L.append("")
        if wl["key"] == "W4":
            L.append("Peak-RSS growth per input (bytes):\n")
            L.append("| library | median | min |")
            L.append("|---|---:|---:|")
            for lib, _ in wl["cases"]:
                slot = results.get(("W4", lib))
                if slot and slot["state"] == "ok" and slot["records"]:
                    v = [float(r["rss_bytes_per_input"]) for r in slot["records"]]
                    L.append(f"| {LIBS[lib][0]} | {statistics.median(v):.0f} | {min(v):.0f} |")
            L.append("")
            if "W4-memory" in figures:
                L.append(f"![W4 memory per input](bench/{figures['W4-memory']})\n")

    # Floor ratios
    L.append("## tapir against the floor\n")
    L.append("The floor (`benches/floor.c` + `benches/floor_ops.c`) is the cheapest completion "
             "object we could write: a 64-byte object from malloc (or from a thread-local free "
             "list), registration by one compare-exchange, completion by one atomic exchange and "
             "one indirect call, release by one atomic decrement and free. Its operations live "
             "in a separate translation unit, so each is a real call.\n")
    L.append("Read as everywhere on this page: floor / tapir, so a value below 1 is the share "
             "of tapir's time the bare minimum needs (0.15: tapir takes about 6.7 times the "
             "floor's time).\n")
    L.append("| workload | tapir ns/op | floor (malloc) ns/op | floor (malloc) / tapir | "
             "floor (TLS) ns/op | floor (TLS) / tapir |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for key in ("W1", "W2"):
        t = median_per_op(results, key, "tapir")
        fm = median_per_op(results, key, "floor-malloc")
        ft = median_per_op(results, key, "floor-tls")
        L.append(f"| {key} | {fmt(t)} | {fmt(fm)} | {ratio_text(fm, t)} | {fmt(ft)} | "
                 f"{ratio_text(ft, t)} |")
    L.append("")

    L += targets_section(results, budget_figures())

    # The bindings' await benchmarks run on their own (make -C bindings/csharp bench,
    # make -C benches rust); their sections are kept by hand in docs/bench/ and copied
    # in as they are.
    for kept in ("csharp-await.md", "rust-api.md"):
        path = os.path.join(DOCS, "bench", kept)
        if os.path.exists(path):
            with open(path) as f:
                L.append(f.read().rstrip("\n") + "\n")

    # Allocations
    L.append("## Heap allocations per operation (W1, W2)\n")
    L.append("Counted by `LD_PRELOAD=benches/build/malloc_count.so` around the timed loop, "
             "one run at the N shown (allocations include realloc; frees count non-NULL "
             "pointers). A 0 means the objects come back from a pool (tapir's handle table, "
             "the floor's thread-local free list) without a heap call, not that no memory is "
             "used.\n")
    L.append("| library | W1 N | W1 allocs/op | W1 frees/op | W2 N | W2 allocs/op | "
             "W2 frees/op |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for lib in ["tapir", "floor-malloc", "floor-tls"] + peers:
        cells = []
        for w in ("W1", "W2"):
            kind, rec, detail = allocs.get((w, lib), (None, None, None))
            if rec is None or kind != "ok":
                cells += ["", "n/a" if lib == "std" and w == "W2" else (detail or "not run"), ""]
            elif "allocs_per_op" in rec:
                cells += [f"{int(rec['n']):,}", rec["allocs_per_op"], rec["frees_per_op"]]
            elif "gc_bytes_per_op" in rec:
                cells += [f"{int(rec['n']):,}", f"GC heap: {rec['gc_bytes_per_op']} bytes/op", ""]
            else:
                cells += [rec.get("n", ""), "counter not loaded", ""]
        L.append(f"| {LIBS[lib][0]} | " + " | ".join(cells) + " |")
    L.append("")

    # Fairness
    L.append("## Fairness caveats\n")
    L.append(CAVEATS)

    # Machine
    L.append("## Machine\n")
    L.append("| fact | value |")
    L.append("|---|---|")
    for k, v in meta.get("machine") or machine_facts():
        L.append(f"| {k} | {v} |")
    L.append("")

    # Commands
    L.append("## Commands\n")
    L.append("Everything (install missing Debian packages, build, run, write this page):\n")
    L.append("```\nmake bench            # = cargo build --release && make -C benches\n"
             "make -C benches       # deps + programs + python3 benches/run.py\n```\n")
    L.append("Build commands (`make -n -B -C benches programs`):\n")
    L.append("```")
    L.extend(build_commands() or ["(not available)"])
    L.append("```\n")
    L.append("Run commands (each run is one process; `LD_LIBRARY_PATH` includes "
             "`target/release`):\n")
    L.append("```")
    for wl in WORKLOADS:
        for lib, _ in wl["cases"]:
            slot = results.get((wl["key"], lib))
            if slot and slot.get("cmd"):
                L.append(slot["cmd"].replace(HERE + "/", "benches/"))
    L.append("```\n")
    L.append("Allocation counts: the W1/W2 commands above with "
             "`LD_PRELOAD=benches/build/malloc_count.so` and the N of the allocation table.\n")

    # Raw data
    raw_path = os.path.join(FIGS, "results.json")
    raw = {f"{w}|{lib}": dict(state=s["state"], text=s["text"], runs=s["records"])
           for (w, lib), s in results.items()}
    raw["allocations"] = {f"{w}|{lib}": dict(kind=k, record=r, detail=d)
                          for (w, lib), (k, r, d) in allocs.items()}
    raw["meta"] = dict(date=when, elapsed=elapsed, rounds=meta.get("rounds", ROUNDS),
                       scale=scale, only=only,
                       machine=[list(kv) for kv in (meta.get("machine") or machine_facts())])
    with open(raw_path, "w") as f:
        json.dump(raw, f, indent=1, sort_keys=True)
    L.append("Raw per-run records: [`docs/bench/results.json`](bench/results.json).\n")

    with open(REPORT, "w") as f:
        f.write("\n".join(L))
    print(f"wrote {REPORT}")


def load_results():
    """The stored run (docs/bench/results.json) as run_all returns it, with its meta data.
    A file written before the meta data was stored takes it from the current page."""
    raw_path = os.path.join(FIGS, "results.json")
    with open(raw_path) as f:
        raw = json.load(f)
    meta = raw.pop("meta", None)
    allocs = {tuple(k.split("|", 1)): (v["kind"], v["record"], v["detail"])
              for k, v in raw.pop("allocations", {}).items()}
    results = {tuple(k.split("|", 1)): dict(records=v["runs"], state=v["state"], text=v["text"])
               for k, v in raw.items()}
    if meta is None:
        meta = dict(rounds=ROUNDS, scale=1, only=[])
        elapsed = 0.0
        try:
            with open(REPORT) as f:
                page = f.read()
            m = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d \w+); do not edit", page)
            if m:
                meta["date"] = m.group(1)
            m = re.search(r"The measuring part took (\d+) s", page)
            if m:
                elapsed = float(m.group(1))
            machine = re.search(r"## Machine\n\n\| fact \| value \|\n\|---\|---\|\n((?:\|.*\n)+)", page)
            if machine:
                meta["machine"] = [[c.strip() for c in row.strip().strip("|").split(" | ", 1)]
                                   for row in machine.group(1).splitlines()]
        except OSError:
            pass
        meta["elapsed"] = elapsed
    return results, allocs, meta.get("elapsed", 0.0), meta


def main():
    if "--report-only" in sys.argv[1:]:
        results, allocs, elapsed, meta = load_results()
        write_report(results, allocs, elapsed, meta)
        return
    if not os.path.isdir(BUILD):
        sys.exit("benches/build is missing: run `make -C benches`")
    results, allocs, elapsed = run_all()
    write_report(results, allocs, elapsed)


if __name__ == "__main__":
    main()
