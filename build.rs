//! Generates `$OUT_DIR/include/tapir.h` from `src/ffi` with cbindgen.
//!
//! The checked-in `include/tapir.h` is compared with this output by `tests/header.rs`;
//! build.rs never writes into the source tree.

fn main() {
    // The header names core types too (the status and object-kind tables).
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml"))
        .expect("cbindgen.toml parses");
    let include_dir = std::path::Path::new(&out_dir).join("include");
    std::fs::create_dir_all(&include_dir).expect("create $OUT_DIR/include");
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(include_dir.join("tapir.h"));
        }
        // A syntax error in src/ffi is reported by rustc with a better message;
        // do not fail the build here and hide it.
        Err(e) => println!("cargo:warning=cbindgen failed: {e}"),
    }
}
