//! The Rust API's combinators, cancellation and schedulers.

mod api_support;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use api_support::{Counted, case};
use tapir::{
    CancellationSource, CancellationToken, CompletionSource, CustomScheduler, Error, Scheduler,
    Status, Task, TaskStatus, Work, block_on, delay, delay_with, for_each_throttled, interleaved,
    need_only_one, retry_on_fault, run, run_on, timeout, try_run_on, when_all, when_all_settled,
    when_any, when_any_with, yield_now,
};

#[test]
fn when_all_collects_values_in_input_order_and_errors_in_input_order() {
    let c = case();
    {
        let (a, b, x) = (
            CompletionSource::<String>::new(),
            CompletionSource::<String>::new(),
            CompletionSource::<String>::new(),
        );
        let all = when_all(&[a.task(), b.task(), x.task()]);
        x.set_result("third".into()).unwrap();
        a.set_result("first".into()).unwrap();
        assert_eq!(all.status(), TaskStatus::Pending);
        b.set_result("second".into()).unwrap();
        assert_eq!(
            all.wait(),
            Ok(vec!["first".into(), "second".into(), "third".into()])
        );
        assert_eq!(when_all::<u8>(&[]).wait(), Ok(vec![]));

        let (e1, e2) = (CompletionSource::<u8>::new(), CompletionSource::<u8>::new());
        let failed = when_all(&[e1.task(), Task::from_result(1), e2.task()]);
        e2.set_error(Error::new(2, "second input")).unwrap();
        e1.set_error(Error::new(1, "first input")).unwrap();
        let codes: Vec<i32> = failed.errors().iter().map(Error::code).collect();
        assert_eq!(codes, [1, 2], "input order, not completion order");

        let canceled = when_all(&[Task::from_result(1u8), Task::canceled()]);
        assert!(canceled.wait().unwrap_err().is_canceled());
    }
    c.end();
}

#[test]
fn when_all_keeps_boxed_input_values_alive_and_drops_them_once() {
    let c = case();
    {
        let (v, drops) = Counted::new(5);
        let input = Task::from_result(v);
        let all = when_all(&[input.clone(), input]);
        let got = all.wait().unwrap();
        assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), [5, 5]);
        drop(got);
        let before = drops.load(SeqCst);
        drop(all);
        assert_eq!(drops.load(SeqCst), before + 2, "the vector's two clones");
    }
    c.end();
}

#[test]
fn when_all_settled_gives_back_every_input() {
    let c = case();
    {
        let s = CompletionSource::<u8>::new();
        let settled = when_all_settled(&[Task::from_error(Error::new(1, "x")), s.task()]);
        s.set_canceled().unwrap();
        let inputs = settled.wait().unwrap();
        assert_eq!(inputs[0].status(), TaskStatus::Faulted);
        assert_eq!(inputs[1], s.task());
        assert_eq!(inputs[1].status(), TaskStatus::Canceled);
    }
    c.end();
}

#[test]
fn when_any_picks_the_first_and_cancels_the_losers() {
    let c = case();
    {
        let (a, b) = (CompletionSource::<u8>::new(), CompletionSource::<u8>::new());
        let losers = CancellationSource::new();
        let any = when_any_with(&[a.task(), b.task()], &losers);
        assert_eq!(any.status(), TaskStatus::Pending);
        b.set_error(Error::new(3, "fails first")).unwrap();
        assert_eq!(any.wait(), Ok(1), "any outcome wins");
        assert!(losers.is_canceled());
        let empty = when_any::<u8>(&[]);
        assert_eq!(
            empty.wait().unwrap_err().status(),
            Some(Status::InvalidArgument)
        );
        drop(a);
    }
    c.end();
}

#[test]
fn interleaved_outputs_follow_completion_order() {
    let c = case();
    {
        let sources: Vec<_> = (0..4).map(|_| CompletionSource::<u32>::new()).collect();
        let tasks: Vec<_> = sources.iter().map(CompletionSource::task).collect();
        let out = interleaved(&tasks);
        for i in [2usize, 0, 3, 1] {
            sources[i].set_result(i as u32).unwrap();
        }
        let order: Vec<u32> = out.iter().map(|t| t.wait().unwrap()).collect();
        assert_eq!(order, [2, 0, 3, 1]);
    }
    c.end();
}

#[test]
fn delay_timeout_and_yield() {
    let c = case();
    {
        let start = Instant::now();
        delay(Duration::from_millis(20)).wait().unwrap();
        assert!(start.elapsed() >= Duration::from_millis(20), "never early");

        let cts = CancellationSource::new();
        let long = delay_with(Duration::from_secs(3600), &cts.token());
        cts.cancel().unwrap();
        assert!(long.wait().unwrap_err().is_canceled());
        assert_eq!(
            tapir::ffi::debug::tapir_debug_pending_timers(),
            0,
            "its timer is gone"
        );

        let never = CompletionSource::<u8>::new();
        let t = timeout(&never.task(), Duration::from_millis(1));
        assert_eq!(t.wait().unwrap_err().status(), Some(Status::Timeout));
        assert_eq!(
            never.task().status(),
            TaskStatus::Pending,
            "the original is untouched"
        );

        assert_eq!(block_on(yield_now()), Ok(()));
    }
    c.end();
}

#[test]
fn run_variants_complete_fault_and_cancel() {
    let c = case();
    {
        assert_eq!(run(|| String::from("ran")).wait(), Ok("ran".into()));
        let p = run::<u8>(|| panic!("body panicked"));
        assert_eq!(p.wait().unwrap_err().status(), Some(Status::Panic));
        let e = try_run_on::<u8>(&Scheduler::pool(), None, || Err(Error::new(6, "nope")));
        assert_eq!(e.wait().unwrap_err().code(), 6);

        // The run's own token acknowledges cancellation; another token's fault does not.
        let cts = CancellationSource::new();
        let token = cts.token();
        let started = Arc::new(std::sync::Barrier::new(2));
        let (st, tk, cts2) = (started.clone(), token.clone(), cts.clone());
        let own = try_run_on::<u8>(&Scheduler::pool(), Some(&token), move || {
            st.wait();
            cts2.cancel().unwrap();
            Err(tapir::Task::<u8>::canceled_by(&tk).wait().unwrap_err())
        });
        started.wait();
        assert!(own.wait().unwrap_err().is_canceled());
        let other = CancellationSource::new();
        other.cancel().unwrap();
        let ot = other.token();
        let foreign = try_run_on::<u8>(&Scheduler::pool(), None, move || {
            Err(Task::<u8>::canceled_by(&ot).wait().unwrap_err())
        });
        let fe = foreign.wait().unwrap_err();
        assert!(!fe.is_canceled());
        assert_eq!(fe.status(), Some(Status::Canceled));
    }
    c.end();
}

#[test]
fn retry_need_only_one_and_throttle() {
    let c = case();
    {
        let calls = Arc::new(AtomicU32::new(0));
        let k = calls.clone();
        let t = retry_on_fault(
            4,
            move |i| {
                k.fetch_add(1, SeqCst);
                Task::<u32>::from_error(Error::new(i as i32, "always"))
            },
            Some(|_| delay(Duration::from_millis(1))),
        );
        assert_eq!(t.wait().unwrap_err().code(), 3, "the last attempt's error");
        assert_eq!(calls.load(SeqCst), 4);
        assert_eq!(
            retry_on_fault(0, |_| Task::from_result(1u8), None::<fn(u32) -> Task<()>>)
                .wait()
                .unwrap_err()
                .status(),
            Some(Status::InvalidArgument)
        );
        let panicky = retry_on_fault(
            2,
            |_| -> Task<u8> { panic!("factory") },
            None::<fn(u32) -> Task<()>>,
        );
        assert_eq!(panicky.wait().unwrap_err().status(), Some(Status::Panic));

        let tokens = Arc::new(Mutex::new(Vec::<CancellationToken>::new()));
        let pending = Arc::new(Mutex::new(Vec::<CompletionSource<u32>>::new()));
        let (tk, pd) = (tokens.clone(), pending.clone());
        let first = need_only_one(3, move |i, token| {
            tk.lock().unwrap().push(token.clone());
            if i == 1 {
                Task::from_result(i)
            } else {
                let s = CompletionSource::<u32>::new();
                let t = s.task();
                pd.lock().unwrap().push(s);
                t
            }
        });
        assert_eq!(first.wait(), Ok(1));
        assert!(
            tokens
                .lock()
                .unwrap()
                .iter()
                .all(CancellationToken::is_canceled)
        );
        drop(pending); // the losers break their promises: observed, never reported

        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (f, pk) = (in_flight.clone(), peak.clone());
        let throttled = for_each_throttled(20, 3, move |_| {
            let now = f.fetch_add(1, SeqCst) + 1;
            pk.fetch_max(now, SeqCst);
            let f2 = f.clone();
            run(move || {
                std::thread::sleep(Duration::from_millis(1));
                f2.fetch_sub(1, SeqCst);
            })
        });
        assert_eq!(throttled.wait(), Ok(()));
        assert!(peak.load(SeqCst) <= 3, "peak {}", peak.load(SeqCst));
    }
    c.end();
}

#[test]
fn cancellation_registrations_links_and_errors() {
    let c = case();
    {
        let cts = CancellationSource::new();
        let token = cts.token();
        assert!(token.can_be_canceled());
        let order = Arc::new(Mutex::new(Vec::new()));
        let (o1, o2) = (order.clone(), order.clone());
        let r1 = token.register(move || o1.lock().unwrap().push(1));
        let r2 = token.register(move || o2.lock().unwrap().push(2));
        let removed = token.register(|| unreachable!());
        drop(removed); // Dispose removes it
        let child = CancellationSource::linked(&[&token]);
        cts.cancel().unwrap();
        assert_eq!(*order.lock().unwrap(), [2, 1], "newest first");
        assert!(child.is_canceled());
        assert!(!r1.unregister(), "already ran");
        drop((r1, r2));

        // Registering on a canceled token runs at once, on this thread.
        let (tx, rx) = mpsc::channel();
        token
            .register(move || tx.send(std::thread::current().id()).unwrap())
            .detach();
        assert_eq!(rx.try_recv().unwrap(), std::thread::current().id());

        // A callback's panic is reported by cancel, after the others ran.
        let bad = CancellationSource::new();
        let ran = Arc::new(AtomicU32::new(0));
        let r = ran.clone();
        bad.token()
            .register(move || {
                r.fetch_add(1, SeqCst);
            })
            .detach();
        bad.token().register(|| panic!("callback failed")).detach();
        let err = bad.cancel().unwrap_err();
        assert_eq!(err.inner().len(), 1);
        assert_eq!(ran.load(SeqCst), 1);
        assert!(bad.cancel().is_ok(), "a second cancel does nothing");

        let none = CancellationToken::none();
        assert!(!none.can_be_canceled());
        none.register(|| unreachable!("the none token never cancels"))
            .detach();
    }
    c.end();
}

struct Host(Mutex<mpsc::Sender<Work>>);

impl CustomScheduler for Host {
    fn post(&self, work: Work) {
        self.0.lock().unwrap().send(work).unwrap();
    }
}

#[test]
fn schedulers_inline_manual_custom_and_current() {
    let c = case();
    {
        let me = std::thread::current().id();
        let inline = run_on(&Scheduler::inline(), None, move || {
            std::thread::current().id() == me
        });
        assert_eq!(inline.try_result(), Some(Ok(true)));

        let manual = Scheduler::manual();
        let ran = Arc::new(AtomicU32::new(0));
        for _ in 0..5 {
            let r = ran.clone();
            manual.post(move || {
                r.fetch_add(1, SeqCst);
            });
        }
        assert_eq!(manual.run_pending(2, None).unwrap(), 2, "a budget in items");
        assert_eq!(
            manual
                .run_pending(0, Some(Duration::from_secs(60)))
                .unwrap(),
            3
        );
        assert_eq!(ran.load(SeqCst), 5);
        assert_eq!(
            Scheduler::pool().run_pending(0, None).unwrap_err().status(),
            Some(Status::InvalidArgument)
        );
        let queued = run_on(&manual, None, || 1u8);
        drop(manual);
        assert_eq!(
            queued.wait().unwrap_err().status(),
            Some(Status::SchedulerError)
        );

        let (tx, rx) = mpsc::channel();
        let host = Scheduler::custom(Host(Mutex::new(tx)));
        let h2 = host.clone();
        let t = run_on(&host, None, move || Scheduler::current() == Some(h2));
        let worker = std::thread::spawn(move || {
            while let Ok(work) = rx.recv() {
                work.run();
            }
        });
        assert_eq!(t.wait(), Ok(true));
        drop(host);
        worker.join().unwrap();
    }
    c.end();
}

#[test]
fn a_token_stops_a_pending_wait() {
    let c = case();
    {
        let cts = CancellationSource::new();
        cts.cancel_after(Duration::from_millis(5));
        let never = CompletionSource::<u8>::new();
        let t = never.task().with_cancellation(&cts.token());
        assert!(t.wait().unwrap_err().is_canceled());
        assert!(cts.is_canceled());
    }
    c.end();
}
