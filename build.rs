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
        let soname = format!("libtapir.so.{soversion}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
        link_soname_in_build_tree(&soname);
    }
}

/// A program linked with `-L target/release -ltapir` records the SONAME, and the loader
/// looks for a file of that name: put `libtapir.so.SOVERSION -> libtapir.so` beside the
/// library cargo produces (`$OUT_DIR` is `<profile dir>/build/tapir-<hash>/out`), so
/// the tests, the examples and a user's program built against the build tree run from
/// it. Only the build directory is touched, never the source tree; `make install`
/// writes its own links.
fn link_soname_in_build_tree(soname: &str) {
    let Ok(out_dir) = std::env::var("OUT_DIR") else {
        return;
    };
    let Some(profile_dir) = std::path::Path::new(&out_dir).ancestors().nth(3) else {
        return;
    };
    let link = profile_dir.join(soname);
    if std::fs::read_link(&link).is_ok_and(|target| target == std::path::Path::new("libtapir.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("libtapir.so", &link) {
        println!("cargo:warning=could not link {}: {e}", link.display());
    }
}
