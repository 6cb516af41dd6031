//! `.await` of a completed `Task<u64>` and a W1 lifecycle through the Rust API, beside
//! `futures_channel::oneshot` and `tokio::sync::oneshot`, in one run.
//!
//! Workloads (each polled by hand with a no-op waker, so no executor is measured):
//! - **await-ready**: a value that is already there is awaited: tapir
//!   `Task::from_result(i)` then poll; oneshot: `channel()`, `send(i)`, then poll the
//!   receiver. Each iteration makes a fresh one (a oneshot can be awaited once).
//! - **await-ready-again**: tapir only: the same completed task polled again (a cached
//!   task awaited by many; a oneshot cannot do this).
//! - **W1**: the full lifecycle with one waiting consumer: make the pair, poll (pending:
//!   registers the waker), complete, poll (ready), drop both.
//!   `tapir-pair` is the same lifecycle in a oneshot's shape: `CompletionSource::with_task()`
//!   makes both halves at once and `resolve(i)` consumes the source (as `send` consumes a
//!   oneshot sender), so the source's release rides on the completion's store.
//! - **W1-callback**: tapir only: the C benchmark's W1 through the Rust API (a
//!   synchronous `on_complete` closure instead of an awaiting future).
//!
//! Usage: `tapir-rust-bench [N]` (default 2,000,000 iterations per run; 5 runs per
//! workload and library, interleaved; the best run is reported).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tapir::{CompletionSource, ContinuationOptions, Task};

fn poll<F: Future + Unpin>(f: &mut F, cx: &mut Context<'_>) -> Poll<F::Output> {
    Pin::new(f).poll(cx)
}

fn ns_per_op(n: u64, f: impl FnOnce(u64)) -> f64 {
    let start = Instant::now();
    f(n);
    start.elapsed().as_nanos() as f64 / n as f64
}

fn tapir_await_ready(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0;
    for i in 0..n {
        let mut t = Task::from_result(i);
        if let Poll::Ready(Ok(v)) = poll(&mut t, &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
}

fn tapir_await_ready_again(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut t = Task::from_result(7u64);
    let mut sum = 0;
    for _ in 0..n {
        if let Poll::Ready(Ok(v)) = poll(black_box(&mut t), &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, 7 * n);
}

fn futures_await_ready(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0;
    for i in 0..n {
        let (tx, mut rx) = futures_channel::oneshot::channel::<u64>();
        tx.send(i).unwrap();
        if let Poll::Ready(Ok(v)) = poll(&mut rx, &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
}

fn tokio_await_ready(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0;
    for i in 0..n {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<u64>();
        tx.send(i).unwrap();
        if let Poll::Ready(Ok(v)) = poll(&mut rx, &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
}

fn tapir_w1(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0;
    for i in 0..n {
        let s = CompletionSource::<u64>::new();
        let mut t = s.task();
        assert!(poll(&mut t, &mut cx).is_pending());
        s.set_result(i).unwrap();
        if let Poll::Ready(Ok(v)) = poll(&mut t, &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
}

/// W1 in a oneshot's shape: the pair made together, the source consumed by its result.
fn tapir_w1_pair(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0;
    for i in 0..n {
        let (s, mut t) = CompletionSource::<u64>::with_task();
        assert!(poll(&mut t, &mut cx).is_pending());
        s.resolve(i).unwrap();
        if let Poll::Ready(Ok(v)) = poll(&mut t, &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
}

fn futures_w1(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0;
    for i in 0..n {
        let (tx, mut rx) = futures_channel::oneshot::channel::<u64>();
        assert!(poll(&mut rx, &mut cx).is_pending());
        tx.send(i).unwrap();
        if let Poll::Ready(Ok(v)) = poll(&mut rx, &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
}

fn tokio_w1(n: u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0;
    for i in 0..n {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<u64>();
        assert!(poll(&mut rx, &mut cx).is_pending());
        tx.send(i).unwrap();
        if let Poll::Ready(Ok(v)) = poll(&mut rx, &mut cx) {
            sum += v;
        }
    }
    assert_eq!(sum, n * (n - 1) / 2);
}

fn tapir_w1_callback(n: u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let sync = ContinuationOptions::new().execute_synchronously();
    for i in 0..n {
        let s = CompletionSource::<u64>::new();
        let t = s.task();
        let c = counter.clone();
        t.on_complete_with(&sync, move |_| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        s.set_result(i).unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), n);
}

type Bench = (&'static str, &'static str, fn(u64));

fn benches_list() -> [Bench; 9] {
    [
        ("await-ready", "tapir", tapir_await_ready),
        ("await-ready", "futures-oneshot", futures_await_ready),
        ("await-ready", "tokio-oneshot", tokio_await_ready),
        ("await-ready-again", "tapir", tapir_await_ready_again),
        ("W1", "tapir", tapir_w1),
        ("W1", "tapir-pair", tapir_w1_pair),
        ("W1", "futures-oneshot", futures_w1),
        ("W1", "tokio-oneshot", tokio_w1),
        ("W1-callback", "tapir", tapir_w1_callback),
    ]
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(2_000_000);
    // An optional second argument runs one workload of one library only (profiling).
    if let (Some(w), Some(lib)) = (std::env::args().nth(2), std::env::args().nth(3)) {
        let f = benches_list()
            .into_iter()
            .find(|(bw, bl, _)| *bw == w && *bl == lib)
            .expect("no such workload and library");
        println!("{w} {lib}: {:.2} ns/op", ns_per_op(n, f.2));
        return;
    }
    let benches = benches_list();
    // Warm up every path (pools, thread-local free lists) once.
    for (_, _, f) in &benches {
        f(n / 20 + 1);
    }
    let mut best = [f64::MAX; 9];
    for _round in 0..5 {
        for (i, (_, _, f)) in benches.iter().enumerate() {
            best[i] = best[i].min(ns_per_op(n, f));
        }
    }
    println!("n={n} per run, best of 5 runs, ns per operation (lower is better)");
    println!(
        "{:<18} {:<16} {:>8} {:>12}   (tapir / X below 1: tapir is faster)",
        "workload", "library", "ns/op", "tapir / X"
    );
    for (i, (w, lib, _)) in benches.iter().enumerate() {
        let tapir = benches
            .iter()
            .position(|(w2, l2, _)| w2 == w && *l2 == "tapir")
            .map(|j| best[j]);
        let ratio = tapir.map_or(String::new(), |t| format!("{:.2}", t / best[i]));
        println!("{w:<18} {lib:<16} {:>8.2} {:>12}", best[i], ratio);
        println!("lib={lib} workload={w} n={n} ns_per_op={:.2} ok=1", best[i]);
    }
}
