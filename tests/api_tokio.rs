//! tapir tasks awaited inside tokio runtimes (multi-thread and current-thread), in
//! `select!` (the losing branch's registration is removed), and tokio futures turned
//! into tapir tasks. tokio is a dev-dependency of these tests only.

mod api_support;

use std::time::Duration;

use api_support::{case, continuations, wait_until};
use tapir::{CompletionSource, Scheduler, Task, when_all};

#[test]
fn a_tapir_task_is_awaited_on_a_multi_thread_runtime() {
    let c = case();
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let s = CompletionSource::<u64>::new();
        let t = s.task();
        let probe = s.task();
        let join = rt.spawn(async move { t.await.unwrap() * 2 });
        wait_until("the tokio task to register", || continuations(&probe) == 1);
        // Completed from a thread tokio knows nothing about.
        std::thread::spawn(move || s.set_result(21).unwrap())
            .join()
            .unwrap();
        assert_eq!(rt.block_on(join).unwrap(), 42);
        drop(probe);
    }
    c.end();
}

#[test]
fn tapir_combinators_compose_with_tokio_tasks() {
    let c = case();
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let a = tapir::run(|| 1u32);
            let b = tapir::delay(Duration::from_millis(1)).continue_with(|_| 2u32);
            // A tokio future and tapir tasks in one join.
            let (sum, slept) = tokio::join!(async { when_all(&[a, b]).await }, async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                "slept"
            });
            (sum.unwrap(), slept)
        });
        assert_eq!(out, (vec![1, 2], "slept"));
    }
    c.end();
}

#[test]
fn select_drops_the_losing_tapir_task_and_its_registration() {
    let c = case();
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let never = CompletionSource::<u8>::new();
        let probe = never.task();
        let lost = rt.block_on(async {
            let t = never.task();
            tokio::select! {
                v = t => Some(v),
                _ = tokio::time::sleep(Duration::from_millis(1)) => None,
            }
        });
        assert_eq!(lost, None);
        assert_eq!(
            continuations(&probe),
            0,
            "the dropped await left nothing behind"
        );
        drop((probe, never));
    }
    c.end();
}

#[test]
fn a_future_run_by_tapir_awaits_tapir_tasks_and_tokio_awaits_its_task() {
    let c = case();
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let gate = CompletionSource::<String>::new();
        let g = gate.task();
        let t = Task::from_future(
            async move {
                let s = g.await.unwrap();
                format!("{s}, polled by tapir")
            },
            &Scheduler::pool(),
        );
        let waiter = rt.spawn(t);
        gate.set_result("completed by a source".into()).unwrap();
        assert_eq!(
            rt.block_on(waiter).unwrap(),
            Ok("completed by a source, polled by tapir".to_string())
        );
    }
    c.end();
}

#[test]
fn a_tokio_oneshot_bridged_into_a_tapir_task() {
    let c = case();
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        // tokio's receiver needs no reactor, so a tapir scheduler can poll it.
        let t = Task::from_future(async move { rx.await.unwrap_or(0) + 1 }, &Scheduler::pool());
        rt.spawn(async move { tx.send(9).unwrap() });
        assert_eq!(t.wait(), Ok(10));
    }
    c.end();
}
