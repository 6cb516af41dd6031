//! The checked-in `include/tapir.h` must equal the header build.rs generates from
//! src/ffi. Run `TAPIR_BLESS=1 cargo test --test header` to update it, and review the
//! diff: the header is the ABI contract.

use std::path::Path;

#[test]
fn checked_in_header_is_fresh() {
    let generated_path = Path::new(env!("OUT_DIR")).join("include/tapir.h");
    let generated = std::fs::read_to_string(&generated_path).unwrap_or_else(|e| {
        panic!(
            "cbindgen output missing at {}: {e}",
            generated_path.display()
        )
    });
    let checked_in_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tapir.h");
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
         Run `TAPIR_BLESS=1 cargo test --test header` and commit the header with the change."
    );
}

#[test]
fn header_version_matches_the_crate() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tapir.h"))
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
