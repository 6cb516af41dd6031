//! `include/tapir.h` is generated from `src/ffi` by cbindgen (a dev-dependency, so
//! building tapir never compiles it). This test regenerates the header and fails when
//! the checked-in copy differs; `make header` (`TAPIR_BLESS=1 cargo test --release
//! --test header`) rewrites it. Review the diff: the header is the ABI contract.
//!
//! The header's opening comment, the definitions every function doc relies on, is the
//! module documentation of `src/ffi/mod.rs`, so the Rust docs and the header cannot
//! drift apart.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `//!` lines of `src/ffi/mod.rs`, as a C block comment.
fn preamble() -> String {
    let source =
        std::fs::read_to_string(root().join("src/ffi/mod.rs")).expect("read src/ffi/mod.rs");
    let mut out = String::from("/*\n");
    for line in source.lines().take_while(|l| l.starts_with("//!")) {
        let text = line.trim_start_matches("//!");
        let text = text.strip_prefix(' ').unwrap_or(text);
        assert!(
            !text.contains("*/") && !text.contains("/*"),
            "src/ffi/mod.rs docs must not contain comment delimiters: {text}"
        );
        if text.is_empty() {
            out.push_str(" *\n");
        } else {
            out.push_str(" * ");
            out.push_str(text);
            out.push('\n');
        }
    }
    out.push_str(" */");
    out
}

fn generate() -> String {
    let mut config =
        cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml parses");
    config.header = Some(preamble());
    let bindings = cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut bytes = Vec::new();
    bindings.write(&mut bytes);
    String::from_utf8(bytes).expect("the header is UTF-8")
}

#[test]
fn checked_in_header_is_fresh() {
    let generated = generate();
    let checked_in_path = root().join("include/tapir.h");
    let checked_in = std::fs::read_to_string(&checked_in_path).unwrap_or_default();
    if generated == checked_in {
        return;
    }
    if std::env::var_os("TAPIR_BLESS").is_some() {
        std::fs::write(&checked_in_path, &generated).expect("write include/tapir.h");
        return;
    }
    let first_difference = generated
        .lines()
        .zip(checked_in.lines())
        .enumerate()
        .find(|(_, (g, c))| g != c)
        .map(|(i, (g, c))| format!("line {}:\n  generated:  {g}\n  checked in: {c}", i + 1))
        .unwrap_or_else(|| "one file is a prefix of the other".into());
    panic!(
        "include/tapir.h is stale ({first_difference}).\n\
         Run `make header` and commit the header with the change."
    );
}

#[test]
fn header_version_matches_the_crate() {
    let header = std::fs::read_to_string(Path::new(&root()).join("include/tapir.h"))
        .expect("read include/tapir.h");
    let field = |name: &str| -> String {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define TAPIR_VERSION_{name} ")))
            .unwrap_or_else(|| panic!("TAPIR_VERSION_{name} missing"))
            .trim()
            .to_string()
    };
    let version = format!("{}.{}.{}", field("MAJOR"), field("MINOR"), field("PATCH"));
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "bump cbindgen.toml's TAPIR_VERSION_* with Cargo.toml"
    );
}
