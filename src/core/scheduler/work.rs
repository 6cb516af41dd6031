//! A unit of work handed to a scheduler. Dropping a work item without running it
//! discards it: user data is destroyed, a continuation's task breaks its promise.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::core::callback::{UserData, WorkFn};
use crate::core::continuation::Action;
use crate::core::task::TaskRef;

/// A queued item: a continuation, a posted C function, or library code.
pub(crate) enum Work {
    /// A continuation whose antecedent completed.
    Continuation {
        action: Action,
        flags: u32,
        antecedent: TaskRef,
    },
    /// `tapir_scheduler_post`.
    Call { f: WorkFn, data: UserData },
    /// `tapir_run`.
    Run(crate::core::combinators::RunItem),
    /// Library-internal work.
    Boxed(Box<dyn FnOnce() + Send>),
}

impl Work {
    pub(crate) fn continuation(action: Action, flags: u32, antecedent: TaskRef) -> Work {
        Work::Continuation {
            action,
            flags,
            antecedent,
        }
    }

    /// Runs the item on this thread. A panic inside library code is contained here so
    /// it never kills a worker thread; the work's own task (if any) breaks its promise
    /// as the unwinding drops its source.
    pub(crate) fn run(self) {
        let _ = catch_unwind(AssertUnwindSafe(move || match self {
            Work::Continuation {
                action,
                flags,
                antecedent,
            } => {
                action.run(antecedent.handle(), flags);
                drop(antecedent);
            }
            Work::Call { f, data } => {
                // SAFETY: the poster's function, called once with its user_data from a
                // scheduler thread, as the C contract of tapir_scheduler_post allows.
                unsafe { f(data.ptr()) };
                drop(data);
            }
            Work::Run(item) => item.run(),
            Work::Boxed(f) => f(),
        }));
    }
}
