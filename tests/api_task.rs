//! The Rust API's tasks and sources: values, outcomes, the Future contract (one waker
//! registration per poll at most, no allocation when complete, spurious polls
//! harmless, registrations removed on drop), continuations, broken promises. Every
//! case ends with the live-object count back at its start.

mod api_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};

use api_support::{Counted, case, continuations, counting_waker, wait_until};
use tapir::{
    CompletionSource, ContinuationOptions, Error, Scheduler, Status, Task, TaskStatus, block_on,
};

// ---------------------------------------------------------------------------
// A counting allocator: allocations made by this thread only.

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a plain thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn poll_once<F: Future + Unpin>(f: &mut F, waker: &std::task::Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

// ---------------------------------------------------------------------------

#[test]
fn values_round_trip_in_the_bits_and_boxed() {
    let c = case();
    {
        assert_eq!(Task::from_result(u64::MAX).wait(), Ok(u64::MAX));
        assert_eq!(Task::from_result(-5i32).wait(), Ok(-5));
        assert_eq!(Task::from_result('λ').wait(), Ok('λ'));
        assert_eq!(Task::from_result(2.5f32).wait(), Ok(2.5));
        assert_eq!(Task::from_result(true).wait(), Ok(true));
        assert_eq!(Task::from_result(()).wait(), Ok(()));
        assert_eq!(
            Task::from_result(String::from("boxed")).wait(),
            Ok("boxed".into())
        );
        assert_eq!(
            Task::from_result(vec![1u16, 2, 3]).wait(),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(
            Task::from_result(Some((1u8, 2u64))).wait(),
            Ok(Some((1, 2)))
        );
    }
    c.end();
}

#[test]
fn a_boxed_value_is_dropped_once_with_the_last_reference() {
    let c = case();
    {
        let (v, drops) = Counted::new(7);
        let s = CompletionSource::<Counted>::new();
        let t = s.task();
        let t2 = t.clone();
        s.set_result(v).unwrap();
        assert_eq!(t.wait().unwrap().id, 7); // a clone, dropped at once
        assert_eq!(drops.load(SeqCst), 1);
        drop((s, t));
        assert_eq!(drops.load(SeqCst), 1, "a reference remains");
        drop(t2);
        assert_eq!(drops.load(SeqCst), 2, "the task's own value, once");
    }
    c.end();
}

#[test]
fn a_refused_value_goes_back_and_is_dropped_by_the_caller() {
    let c = case();
    {
        let s = CompletionSource::<Counted>::new();
        s.set_result(Counted::new(1).0).unwrap();
        let (late, drops) = Counted::new(2);
        let e = s.set_result(late).unwrap_err();
        assert_eq!(e.status(), Some(Status::AlreadyCompleted));
        assert_eq!(drops.load(SeqCst), 1, "the refused value was dropped, once");
        assert!(!s.try_set_result(Counted::new(3).0));
        assert!(!s.try_set_canceled());
        assert_eq!(s.task().wait().unwrap().id, 1);
    }
    c.end();
}

#[test]
fn outcomes_and_errors_keep_their_identity() {
    let c = case();
    {
        let e = Error::with_payload(17, "payload here", vec![1u8, 2]);
        let s = CompletionSource::<u8>::new();
        s.set_error(e.clone()).unwrap();
        let t = s.task();
        assert_eq!(t.status(), TaskStatus::Faulted);
        let got = t.wait().unwrap_err();
        assert_eq!(got, e);
        assert_eq!(got.payload::<Vec<u8>>(), Some(&vec![1, 2]));
        assert_eq!(t.errors(), vec![e.clone()]);
        assert_eq!(t.error(), Some(e));

        let many = CompletionSource::<u8>::new();
        many.set_errors([Error::new(1, "a"), Error::new(2, "b")])
            .unwrap();
        let agg = many.task().wait().unwrap_err();
        assert_eq!(agg.status(), Some(Status::Faulted));
        assert_eq!(
            agg.inner().iter().map(Error::code).collect::<Vec<_>>(),
            [1, 2]
        );

        let cts = tapir::CancellationSource::new();
        let canceled = CompletionSource::<u8>::new();
        canceled.set_canceled_by(&cts.token()).unwrap();
        let ce = canceled.task().wait().unwrap_err();
        assert!(ce.is_canceled());
        assert_eq!(ce.cancellation_token(), Some(cts.token()));
    }
    c.end();
}

#[test]
fn releasing_the_last_source_breaks_the_promise() {
    let c = case();
    {
        let s = CompletionSource::<String>::new();
        let s2 = s.clone();
        let t = s.task();
        drop(s);
        assert_eq!(t.status(), TaskStatus::Pending, "a clone still lives");
        drop(s2);
        let e = t.wait().unwrap_err();
        assert_eq!(e.status(), Some(Status::BrokenPromise));
    }
    c.end();
}

#[test]
fn awaiting_a_completed_task_allocates_nothing() {
    let c = case();
    {
        let t = Task::from_result(5u64);
        let (waker, wakes) = counting_waker();
        let mut f = t.clone();
        let n = allocations_in(|| {
            for _ in 0..100 {
                assert!(matches!(poll_once(&mut f, &waker), Poll::Ready(Ok(5))));
            }
        });
        assert_eq!(n, 0, "a completed task is read without allocating");
        assert_eq!(wakes.0.load(SeqCst), 0);
        drop((f, t));
    }
    c.end();
}

#[test]
fn one_registration_per_waker_and_spurious_polls_are_harmless() {
    let c = case();
    {
        let s = CompletionSource::<u64>::new();
        let mut f = s.task();
        let (w1, wakes1) = counting_waker();
        let (w2, wakes2) = counting_waker();
        for _ in 0..10 {
            assert!(poll_once(&mut f, &w1).is_pending());
        }
        assert_eq!(
            continuations(&f),
            1,
            "ten polls with one waker: one registration"
        );
        assert!(poll_once(&mut f, &w2).is_pending());
        assert!(poll_once(&mut f, &w2).is_pending());
        assert_eq!(
            continuations(&f),
            1,
            "another waker replaces the registration"
        );
        assert_eq!(wakes1.0.load(SeqCst), 0);
        s.set_result(9).unwrap();
        assert_eq!(wakes2.0.load(SeqCst), 1, "only the latest waker is woken");
        assert_eq!(wakes1.0.load(SeqCst), 0);
        assert!(matches!(poll_once(&mut f, &w2), Poll::Ready(Ok(9))));
        assert!(
            matches!(poll_once(&mut f, &w1), Poll::Ready(Ok(9))),
            "a poll after completion reads again"
        );
    }
    c.end();
}

#[test]
fn dropping_a_pending_future_removes_its_registration() {
    let c = case();
    {
        let s = CompletionSource::<u8>::new();
        let watcher = s.task();
        // A second continuation first, so the future's lands in a list node.
        watcher.on_complete(|_| {});
        let (w, wakes) = counting_waker();
        let mut inline_f = s.task();
        let mut node_f = s.task();
        assert!(poll_once(&mut node_f, &w).is_pending());
        assert_eq!(continuations(&watcher), 2);
        drop(node_f);
        assert_eq!(
            continuations(&watcher),
            1,
            "the node registration was removed"
        );
        let other = CompletionSource::<u8>::new();
        let mut inline2 = other.task();
        assert!(poll_once(&mut inline2, &w).is_pending());
        assert_eq!(continuations(&inline2), 1);
        drop(inline2);
        assert_eq!(
            continuations(&other.task()),
            0,
            "the inline registration was removed"
        );
        assert!(poll_once(&mut inline_f, &w).is_pending());
        s.set_result(1).unwrap();
        assert_eq!(wakes.0.load(SeqCst), 1);
        assert!(matches!(poll_once(&mut inline_f, &w), Poll::Ready(Ok(1))));
        drop((inline_f, watcher, s, other));
    }
    c.end();
}

#[test]
fn a_task_handed_to_c_while_pending_takes_no_registration_along() {
    let c = case();
    {
        let s = CompletionSource::<u8>::new();
        let mut f = s.task();
        let (w, _) = counting_waker();
        assert!(poll_once(&mut f, &w).is_pending());
        let p = f.into_raw();
        assert_eq!(tapir::ffi::debug::tapir_debug_task_continuations(p), 0);
        // SAFETY: `p` is the +1 reference into_raw gave; a u8 travels in the bits.
        let back = unsafe { Task::<u8>::from_raw(p) }.unwrap();
        s.set_result(3).unwrap();
        assert_eq!(block_on(back), Ok(3));
    }
    c.end();
}

#[test]
fn block_on_waits_for_a_task_completed_from_another_thread() {
    let c = case();
    {
        let s = CompletionSource::<String>::new();
        let t = s.task();
        let h = std::thread::spawn(move || {
            wait_until("the waiter to register", || {
                tapir::ffi::debug::tapir_debug_task_continuations(s.task().as_raw()) == 1
            });
            s.set_result("from a thread".into()).unwrap();
        });
        assert_eq!(block_on(t), Ok("from a thread".to_string()));
        h.join().unwrap();
    }
    c.end();
}

#[test]
fn an_await_racing_its_completion_wakes_once_and_reads_the_value() {
    // The first poll registers the waker while another thread resolves the task: the
    // registration lands before the completion (the completer wakes the lone waker) or
    // finds the task completed (the poll is ready); either way the value arrives once,
    // a woken future is woken exactly once, and the boxed values all go.
    let c = case();
    let drops = Arc::new(AtomicUsize::new(0));
    let rounds = 500;
    for i in 0..rounds {
        let (s, mut t) = CompletionSource::<Arc<Counted>>::with_task();
        let value = Arc::new(Counted {
            id: i,
            drops: drops.clone(),
        });
        let producer = std::thread::spawn(move || s.resolve(value).unwrap());
        let (waker, woken) = counting_waker();
        let got = match poll_once(&mut t, &waker) {
            Poll::Ready(r) => r,
            Poll::Pending => {
                wait_until("the completion's wake", || woken.0.load(SeqCst) == 1);
                match poll_once(&mut t, &waker) {
                    Poll::Ready(r) => r,
                    Poll::Pending => panic!("woken but still pending"),
                }
            }
        };
        assert_eq!(got.unwrap().id, i);
        producer.join().unwrap();
        assert!(woken.0.load(SeqCst) <= 1, "woken at most once");
        drop(t);
    }
    assert_eq!(
        drops.load(SeqCst),
        rounds as usize,
        "every value went with its task"
    );
    c.end();
}

#[test]
fn many_concurrent_awaiters_of_one_task_all_wake() {
    let c = case();
    {
        let s = CompletionSource::<u32>::new();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let t = s.task();
                std::thread::spawn(move || block_on(t))
            })
            .collect();
        let probe = s.task();
        wait_until("eight registrations", || continuations(&probe) == 8);
        s.set_result(77).unwrap();
        for h in threads {
            assert_eq!(h.join().unwrap(), Ok(77));
        }
        drop(probe);
    }
    c.end();
}

#[test]
fn continuations_run_with_options_and_filters() {
    let c = case();
    {
        let manual = Scheduler::manual();
        let on_manual = ContinuationOptions::new().scheduler(&manual);
        let m2 = manual.clone();
        let t = Task::from_result(4u32)
            .try_continue_with_options(&on_manual, move |t| {
                assert_eq!(Scheduler::current(), Some(m2));
                Ok(t.wait()? * 10)
            })
            .unwrap();
        assert!(!t.is_completed(), "waits for the host to pump");
        assert_eq!(manual.run_pending(0, None).unwrap(), 1);
        assert_eq!(t.wait(), Ok(40));

        let faulted_only = ContinuationOptions::new().only_on_faulted();
        let skipped = Task::from_result(1u8)
            .try_continue_with_options(&faulted_only, |_| Ok(2u8))
            .unwrap();
        assert!(skipped.wait().unwrap_err().is_canceled());

        let bad = ContinuationOptions::new()
            .long_running()
            .execute_synchronously();
        let refused = Task::from_result(1u8).on_complete_with(&bad, |_| {});
        assert_eq!(refused.unwrap_err().status(), Some(Status::InvalidArgument));

        let cts = tapir::CancellationSource::new();
        let pending = CompletionSource::<u8>::new();
        let guarded = pending
            .task()
            .try_continue_with_options(&ContinuationOptions::new().token(&cts.token()), |_| Ok(1u8))
            .unwrap();
        cts.cancel().unwrap();
        assert!(
            guarded.wait().unwrap_err().is_canceled(),
            "canceled eagerly"
        );
        drop(pending);
    }
    c.end();
}

#[test]
fn a_panicking_continuation_fails_its_task() {
    let c = case();
    {
        let t: Task<u8> =
            Task::from_result(1u8).continue_with(|_| panic!("boom in a continuation"));
        let e = t.wait().unwrap_err();
        assert_eq!(e.status(), Some(Status::Panic));
        assert!(e.message().contains("boom in a continuation"), "{e}");
        // on_complete: the panic is contained, the task and the process are fine.
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let sync = ContinuationOptions::new().execute_synchronously();
        Task::from_result(1u8)
            .on_complete_with(&sync, move |_| {
                r.store(true, SeqCst);
                panic!("contained");
            })
            .unwrap();
        assert!(ran.load(SeqCst));
    }
    c.end();
}

#[test]
fn unwrap_and_set_from_task_forward_every_outcome() {
    let c = case();
    {
        let inner = CompletionSource::<String>::new();
        let inner_task = inner.task();
        let outer = Task::from_result(0u8).continue_with(move |_| inner_task);
        let proxy = outer.unwrap();
        assert_eq!(proxy.status(), TaskStatus::Pending);
        inner.set_result("inner value".into()).unwrap();
        assert_eq!(proxy.wait(), Ok("inner value".into()));

        let failed: Task<Task<u8>> = Task::from_error(Error::new(5, "outer failed"));
        assert_eq!(failed.unwrap().wait().unwrap_err().code(), 5);
        let canceled: Task<Task<u8>> = Task::canceled();
        assert!(canceled.unwrap().wait().unwrap_err().is_canceled());

        let target = CompletionSource::<u8>::new();
        let from = CompletionSource::<u8>::new();
        target.set_from_task(&from.task()).unwrap();
        drop(target.clone());
        from.set_canceled().unwrap();
        assert!(target.task().wait().unwrap_err().is_canceled());
        assert_eq!(
            target.set_from_task(&from.task()).unwrap_err().status(),
            Some(Status::AlreadyCompleted)
        );
    }
    c.end();
}

#[test]
fn async_continuations_sources_never_run_awaiters_inline() {
    let c = case();
    {
        let s = CompletionSource::<u8>::with_async_continuations();
        let me = std::thread::current().id();
        let ran_on = Arc::new(std::sync::Mutex::new(None));
        let r = ran_on.clone();
        let sync = ContinuationOptions::new().execute_synchronously();
        s.task()
            .on_complete_with(&sync, move |_| {
                *r.lock().unwrap() = Some(std::thread::current().id())
            })
            .unwrap();
        s.set_result(1).unwrap();
        wait_until("the continuation", || ran_on.lock().unwrap().is_some());
        assert_ne!(ran_on.lock().unwrap().unwrap(), me);
    }
    c.end();
}

#[test]
fn from_future_runs_on_the_chosen_scheduler() {
    let c = case();
    {
        let manual = Scheduler::manual();
        let gate = CompletionSource::<u32>::new();
        let g = gate.task();
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let m2 = manual.clone();
        let t = Task::from_future(
            async move {
                p.fetch_add(1, SeqCst);
                assert_eq!(Scheduler::current(), Some(m2));
                g.await.unwrap() + 1
            },
            &manual,
        );
        assert_eq!(polls.load(SeqCst), 0, "not polled before the host pumps");
        assert_eq!(manual.run_pending(0, None).unwrap(), 1);
        assert_eq!(t.status(), TaskStatus::Pending);
        gate.set_result(41).unwrap();
        assert_eq!(
            manual.run_pending(0, None).unwrap(),
            1,
            "the wake posted one poll"
        );
        assert_eq!(t.wait(), Ok(42));
        assert_eq!(polls.load(SeqCst), 1);

        // A panicking future fails its task; a closed scheduler fails a queued poll.
        let p = Task::<u8>::from_future(async { panic!("future panicked") }, &Scheduler::pool());
        assert_eq!(p.wait().unwrap_err().status(), Some(Status::Panic));
        let closed = Scheduler::manual();
        let q = Task::from_future(async { 1u8 }, &closed);
        drop(closed);
        assert_eq!(q.wait().unwrap_err().status(), Some(Status::SchedulerError));
    }
    c.end();
}

#[test]
fn from_future_on_the_inline_scheduler_completes_before_returning() {
    let c = case();
    {
        let t = Task::from_future(
            async { Task::from_result(3u8).await.unwrap() * 2 },
            &Scheduler::inline(),
        );
        assert_eq!(t.try_result(), Some(Ok(6)));
    }
    c.end();
}
