//! Validating every input of a combinator before anything is registered: a temporary
//! task handle reference per input, taken in one validating step each and released
//! once the combinator's registrations are in place. If one input is invalid, the
//! references already taken are released and nothing else has happened.

use crate::core::memory::Handle;
use crate::core::status::Result;
use crate::core::task::ops;

/// Temporary references on every input; released on drop.
pub(crate) struct Pins<'a>(&'a [Handle]);

impl<'a> Pins<'a> {
    pub(crate) fn take(inputs: &'a [Handle]) -> Result<Pins<'a>> {
        for (i, &h) in inputs.iter().enumerate() {
            if let Err(s) = ops::task_retain(h) {
                for &taken in &inputs[..i] {
                    let _ = ops::task_release(taken);
                }
                return Err(s);
            }
        }
        Ok(Pins(inputs))
    }
}

impl Drop for Pins<'_> {
    fn drop(&mut self) {
        for &h in self.0 {
            let _ = ops::task_release(h);
        }
    }
}
