//! Gives the shared library its SONAME on ELF targets, and nothing else: the build
//! needs only the runtime dependencies. (The header is not generated here:
//! `tests/header.rs` regenerates it with cbindgen, a dev-dependency, and compares it
//! with the checked-in `include/tapir.h`; `make header` refreshes that copy.)
//!
//! The SONAME names the ABI a program was linked against, by Cargo's compatibility
//! rule: `libtapir.so.MAJOR` from 1.0 on, `libtapir.so.0.MINOR` before (a 0.x minor
//! release may break the ABI). The Makefile's install step uses the same rule.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "illumos"
            | "solaris"
    );
    if elf {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
        let minor = std::env::var("CARGO_PKG_VERSION_MINOR").expect("cargo sets the version");
        let soversion = if major == "0" {
            format!("0.{minor}")
        } else {
            major
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtapir.so.{soversion}");
    }
}
