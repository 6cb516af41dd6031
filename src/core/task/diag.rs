//! The task reports: which tasks are still pending, for finding the task a program
//! forgot to complete, and which are live at all and what holds them, for finding the
//! one it forgot to release; each with the names users gave them and their creation
//! order and age (while tracking is on).
//!
//! What is known about a task beyond its word lives in a side table keyed by task id,
//! so tasks pay nothing for it: a name (`tapir_task_set_name`) or, with tracking on, a
//! creation number and time. An entry goes when its task does: a task with an entry
//! always has an extra record, so its teardown takes the slow path, which calls
//! `task_gone` while [`DIAGNOSTICS`] is set (it stays set, once used, until unload).
//! Tasks without an entry are still listed, by id.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::core::memory::handle::{Handle, Kind};
use crate::core::status::Result;
use crate::core::sync::Mutex;

use super::cell::{TASKS, live_tasks};
use super::refs::TaskRef;
use super::trace::{ACTIVE, DIAGNOSTICS};
use super::word::{Final, HELD, LENT, QUIET, Snapshot};

/// What the side table knows about one task.
#[derive(Default)]
struct Info {
    name: Option<Box<str>>,
    /// Creation number and time, when tracking was on at its creation.
    created: Option<(u64, Instant)>,
}

static INFOS: Mutex<Option<HashMap<u64, Info>>> = Mutex::new(None);
static TRACKING: AtomicBool = AtomicBool::new(false);
static SEQ: AtomicU64 = AtomicU64::new(0);

fn with_infos<R>(f: impl FnOnce(&mut HashMap<u64, Info>) -> R) -> R {
    let mut infos = INFOS.lock();
    f(infos.get_or_insert_with(HashMap::new))
}

/// Turns tracking of creation order and time on or off (tasks made meanwhile keep
/// theirs).
pub fn set_tracking(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
    if on {
        ACTIVE.fetch_or(DIAGNOSTICS, Ordering::Release);
    }
}

/// Names the task of handle `h` (`None`: removes its name). The task is pinned while
/// its entry is written, and the flag that makes teardown remove entries is set
/// before, so an entry never outlives its task.
pub fn set_name(h: Handle, name: Option<&str>) -> Result<()> {
    ACTIVE.fetch_or(DIAGNOSTICS, Ordering::SeqCst);
    let pin = TaskRef::pin(h)?;
    with_infos(|infos| match name {
        Some(name) => infos.entry(h.bits()).or_default().name = Some(name.into()),
        None => {
            if let Some(info) = infos.get_mut(&h.bits()) {
                info.name = None;
            }
        }
    });
    drop(pin);
    Ok(())
}

/// The name of the task of handle `h`, if it has one.
pub fn name(h: Handle) -> Result<Option<String>> {
    let _pin = TaskRef::pin(h)?;
    Ok(with_infos(|infos| {
        infos
            .get(&h.bits())
            .and_then(|i| i.name.as_deref().map(str::to_owned))
    }))
}

/// A task was made (called while [`ACTIVE`] is set). True when it got an entry: the
/// caller then makes sure its teardown removes it (see `complete::created`).
pub(crate) fn task_created(task_id: u64) -> bool {
    if !TRACKING.load(Ordering::Relaxed) {
        return false;
    }
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) + 1;
    with_infos(|infos| infos.entry(task_id).or_default().created = Some((seq, Instant::now())));
    true
}

/// A task's slot is being freed on the slow path (called while [`ACTIVE`] is set);
/// every task with an entry takes that path.
pub(crate) fn task_gone(task_id: u64) {
    if ACTIVE.load(Ordering::Relaxed) & DIAGNOSTICS != 0 {
        with_infos(|infos| infos.remove(&task_id));
    }
}

/// One task in a report.
struct Listed {
    id: u64,
    word: Snapshot,
    /// The extra record's internal references and extra producers, when HELD.
    held: Option<(u32, u32)>,
    seq: Option<u64>,
    age_s: Option<f64>,
    name: Option<String>,
}

/// The report of the tasks still pending, and how many there are. O(slots ever
/// allocated): diagnostics only. Tasks that complete or go while it runs may or may
/// not be listed.
pub fn report_pending() -> (usize, String) {
    report("pending", false, |w| !w.is_completed())
}

/// The report of every live task, pending or completed, with what holds it: its
/// status, its task handles, its sources (source handles, and the library's own
/// producers such as a continuation's), and whether the library holds it otherwise
/// (a registration, a combinator, a forward). A completed task that stays listed
/// with no handle a program knows of is a leak. Same cost and snapshot caveat as
/// [`report_pending`].
pub fn report_live() -> (usize, String) {
    report("live", true, |_| true)
}

fn report(what: &str, holders: bool, listed: impl Fn(Snapshot) -> bool) -> (usize, String) {
    let now = Instant::now();
    let mut tasks: Vec<Listed> = live_tasks()
        .into_iter()
        .filter(|&(_, word)| listed(word))
        .map(|(index, word)| Listed {
            id: Handle::new(Kind::Task, index, word.generation()).bits(),
            word,
            held: if holders && word.has(HELD) {
                held_counts(index, word.generation())
            } else {
                None
            },
            seq: None,
            age_s: None,
            name: None,
        })
        .collect();
    with_infos(|infos| {
        for t in &mut tasks {
            if let Some(info) = infos.get(&t.id) {
                t.name = info.name.as_deref().map(str::to_owned);
                if let Some((seq, at)) = info.created {
                    t.seq = Some(seq);
                    t.age_s = Some(now.saturating_duration_since(at).as_secs_f64());
                }
            }
        }
    });
    // Creation order where known, then the rest by id.
    tasks.sort_by_key(|t| (t.seq.is_none(), t.seq, t.id));
    let mut out = String::new();
    let n = tasks.len();
    let _ = writeln!(
        out,
        "tapir: {n} {what} task{}",
        if n == 1 { "" } else { "s" }
    );
    for t in &tasks {
        let _ = write!(out, "  task {:#x}", t.id);
        if holders {
            let status = match t.word.final_status() {
                None => "pending",
                Some(Final::Succeeded) => "succeeded",
                Some(Final::Faulted) => "faulted",
                Some(Final::Canceled) => "canceled",
            };
            let _ = write!(
                out,
                "  {status}, {} task handle(s), {} source(s)",
                t.word.user(),
                t.word.sources(),
            );
            if t.word.has(LENT) {
                // Completed, its continuations still running: the handle stays valid
                // for them meanwhile (unless only library continuations run).
                out.push_str(if t.word.has(QUIET) {
                    ", running library continuations"
                } else {
                    ", running continuations (its handle is lent to them)"
                });
            }
            if let Some((internal, producers)) = t.held {
                let _ = write!(
                    out,
                    ", held by the library ({internal} internal reference(s), {producers} extra producer(s))"
                );
            }
        }
        match (t.seq, t.age_s) {
            (Some(seq), Some(age)) => {
                let _ = write!(out, "  created #{seq}, {age:.3} s ago");
            }
            _ => out.push_str("  (creation not tracked)"),
        }
        if let Some(name) = &t.name {
            let _ = write!(out, "  \"{}\"", name.escape_debug());
        }
        out.push('\n');
    }
    (n, out)
}

/// The library's references counted in a task's extra record, read under its lock;
/// None when the slot no longer holds that task.
fn held_counts(index: u32, generation: u32) -> Option<(u32, u32)> {
    let cell = TASKS.get(index)?;
    let w = cell.word.lock_if(|w| w.is_generation(generation))?;
    let counts = cell
        .extra()
        .map_or((0, 0), |x| (x.internal.get_copy(), x.producers.get_copy()));
    cell.word.store_held(w);
    Some(counts)
}

/// Frees the side table (the library is unloading).
pub(crate) fn release_memory() {
    *INFOS.lock() = None;
}
