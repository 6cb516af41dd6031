//! What runs when the library is unloaded (`dlclose`) or the process exits.
//!
//! The entry sits in `.fini_array`, which the dynamic loader runs for this library
//! before unmapping it, and at exit. Nothing here may fail or unwind into the loader.

#[used]
#[unsafe(link_section = ".fini_array")]
static ON_UNLOAD: extern "C" fn() = on_unload;

extern "C" fn on_unload() {
    let _ = std::panic::catch_unwind(crate::core::unload);
}
