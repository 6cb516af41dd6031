//! tokio::sync peer of benches/primitives/prim_bench.c: the same workloads, printed as
//! "name value unit" lines.
//!
//! - sem_uncontended: Semaphore::try_acquire + drop of the permit (one thread)
//! - sem_async: acquire().await of an available permit + drop, inside a current-thread runtime
//! - chan_spsc / chan_mpmc: a bounded mpsc channel of 1024 (tokio has no multi-consumer
//!   channel: the 4x4 case shares the receiver behind a tokio Mutex, the usual workaround)
//! - cache_hit: a HashMap<Vec<u8>, Shared future> behind a std Mutex, the single-flight
//!   pattern (tokio has no cache): lookup + clone of the shared task handle

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, Semaphore};

const OPS: u64 = 5_000_000;

fn best_of(runs: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn sem_uncontended() -> f64 {
    let s = Semaphore::new(1);
    let t0 = Instant::now();
    for _ in 0..OPS {
        let p = s.try_acquire().expect("a permit");
        drop(p);
    }
    t0.elapsed().as_nanos() as f64 / OPS as f64
}

fn sem_async(rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        let s = Semaphore::new(1);
        let t0 = Instant::now();
        for _ in 0..OPS {
            let p = s.acquire().await.expect("open");
            drop(p);
        }
        t0.elapsed().as_nanos() as f64 / OPS as f64
    })
}

fn chan(rt: &tokio::runtime::Runtime, producers: usize, consumers: usize, total: u64) -> f64 {
    rt.block_on(async move {
        let (tx, rx) = mpsc::channel::<u64>(1024);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let t0 = Instant::now();
        let per_p = total / producers as u64;
        let mut hs = Vec::new();
        for _ in 0..producers {
            let tx = tx.clone();
            hs.push(tokio::spawn(async move {
                for i in 0..per_p {
                    tx.send(i).await.expect("open");
                }
            }));
        }
        drop(tx);
        let mut cs = Vec::new();
        for _ in 0..consumers {
            let rx = rx.clone();
            cs.push(tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    let v = rx.lock().await.recv().await;
                    if v.is_none() {
                        return n;
                    }
                    n += 1;
                }
            }));
        }
        for h in hs {
            h.await.expect("producer");
        }
        let mut got = 0;
        for c in cs {
            got += c.await.expect("consumer");
        }
        assert_eq!(got, per_p * producers as u64);
        got as f64 / t0.elapsed().as_secs_f64()
    })
}

fn cache_hit() -> f64 {
    type Shared = Arc<tokio::sync::OnceCell<u64>>;
    let map: Mutex<HashMap<Vec<u8>, Shared>> = Mutex::new(HashMap::new());
    let key = b"user:42".to_vec();
    map.lock().unwrap().insert(key.clone(), Arc::new(tokio::sync::OnceCell::new()));
    let t0 = Instant::now();
    for _ in 0..OPS {
        let hit = map.lock().unwrap().get(key.as_slice()).cloned();
        drop(std::hint::black_box(hit));
    }
    t0.elapsed().as_nanos() as f64 / OPS as f64
}

fn main() {
    let rt1 = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    println!("sem_uncontended {:.1} ns", best_of(5, sem_uncontended));
    println!("sem_async {:.1} ns", best_of(5, || sem_async(&rt1)));
    println!("chan_spsc {:.2} Mitems/s", best_of(3, || -chan(&rt, 1, 1, 4_000_000)) / -1e6);
    println!("chan_mpmc {:.2} Mitems/s", best_of(3, || -chan(&rt, 4, 4, 4_000_000)) / -1e6);
    println!("cache_hit {:.1} ns", best_of(5, cache_hit));
}
