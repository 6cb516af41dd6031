//! Task.Unwrap and completing a source from a task (how a continuation returns a task).

use crate::core::memory::Handle;
use crate::core::status::Result;
use crate::core::task::Final;
use crate::core::task::continuation::{Action, Continuation, Internal};
use crate::core::task::list::{self, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::{SourceRef, task_view};

/// A proxy for a task whose value is another task: it completes as the inner task does;
/// as the outer does if the outer does not succeed; canceled if the outer's value is
/// NULL or not a live task. The inner task is named by the outer's value (not owned).
pub fn unwrap(outer: Handle) -> Result<Handle> {
    task_view(outer)?;
    let (proxy, out) = SourceRef::new_task(false, 0);
    let holder = proxy.clone();
    let internal = Internal::from_fn(move |ant| {
        if ant.status != Final::Succeeded {
            holder.try_complete(ant.shared_outcome(), ant.inline_ok);
            return;
        }
        let inline_ok = ant.inline_ok;
        let Some(inner) = Handle::from_bits(ant.value() as u64) else {
            holder.try_complete(Outcome::Canceled(None), inline_ok);
            return;
        };
        let forward = Continuation::internal(Action::Forward {
            target: holder.clone(),
        });
        if let Err((_, cont)) =
            list::register_in(Target::User(inner), forward, Want::Nothing, inline_ok)
        {
            cont.refuse();
            holder.try_complete(Outcome::Canceled(None), inline_ok);
        }
    });
    drop(proxy);
    let cont = Continuation::internal(Action::Internal(internal));
    match list::register(Target::User(outer), cont, Want::Nothing) {
        Ok(_) => Ok(out),
        Err((s, cont)) => {
            cont.refuse();
            let _ = ops::task_release(out);
            Err(s)
        }
    }
}

/// Completes `source`'s task the way `task` completes, now or later: the value (shared,
/// not copied when it has a destroy: it stays owned by `task`), the errors, or the
/// cancellation. Needs only the source handle. `AlreadyCompleted` when the source's
/// task had completed (nothing registered).
pub fn set_from_task(source: Handle, task: Handle) -> Result<()> {
    task_view(task)?;
    let target = SourceRef::producer_for(source)?;
    let cont = Continuation::internal(Action::Forward { target });
    match list::register(Target::User(task), cont, Want::Nothing) {
        Ok(_) => Ok(()),
        Err((s, cont)) => {
            cont.refuse();
            Err(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::memory::pool::Slot;
    use crate::core::status::Status;
    use crate::core::task::cell::TASKS;
    use crate::core::task::word::HELD;

    /// The interleaving a racing caller can produce, made deterministic: set_from_task
    /// has taken its producer reference, the source's last user handle goes (leaving the
    /// promise to that producer), then registering on the task fails. The refused
    /// forward must break the promise, or the task waits with nobody able to complete it.
    #[test]
    fn a_refused_forward_breaks_the_promise_its_producer_was_left() {
        let source = ops::source_new(0, 0);
        let task = ops::source_task(source).unwrap();
        let target = SourceRef::producer_for(source).unwrap();
        ops::source_release(source).unwrap();
        assert_eq!(
            ops::status(task).unwrap(),
            None,
            "the producer keeps it pending"
        );
        Continuation::internal(Action::Forward { target }).refuse();
        // The producer is gone with the promise it broke: nothing but the user's task
        // handle holds the task now (read before any call pins it, which would mend a
        // stale flag), so its release frees it.
        let cell = TASKS.get(task.index()).unwrap();
        assert!(!cell.word.load().has(HELD), "{:?}", cell.word.load());
        assert_eq!(ops::status(task).unwrap(), Some(Final::Faulted));
        let errors = ops::errors(task).unwrap();
        assert_eq!(errors[0].data().code, Status::BrokenPromise.code());
        ops::task_release(task).unwrap();
        assert!(
            !cell.counts_as_live(),
            "the task outlived its last reference"
        );
    }

    /// While the user still holds the source, a refused forward changes nothing.
    #[test]
    fn a_refused_forward_leaves_a_held_source_pending() {
        let source = ops::source_new(0, 0);
        let task = ops::source_task(source).unwrap();
        let target = SourceRef::producer_for(source).unwrap();
        Continuation::internal(Action::Forward { target }).refuse();
        assert_eq!(ops::status(task).unwrap(), None);
        ops::source_release(source).unwrap();
        assert_eq!(ops::status(task).unwrap(), Some(Final::Faulted));
        ops::task_release(task).unwrap();
    }
}
