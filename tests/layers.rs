//! The core's folders are layers: a module of `src/core` names (`crate::core::x`) only
//! modules of a lower layer, never its own layer's neighbours or one above. This test
//! reads every file of `src/core` and checks each such path against the table below, so
//! an upward import fails `cargo test` instead of waiting for a reader to notice.

use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. Modules of one layer do not name each other (except in
/// the ground layer, whose small utilities may share one another's types).
const LAYERS: &[(&str, &[&str])] = &[
    ("ground", &["sync", "status", "callback", "thread", "wake"]),
    ("memory", &["memory"]),
    ("values", &["error", "hooks"]),
    ("cancellation", &["cancel"]),
    ("engine", &["task"]),
    ("time", &["time"]),
    ("above time", &["sched", "wait", "primitives"]),
    ("combinators", &["combinators"]),
    ("registry", &["registry"]),
];

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, members))| members.contains(&module))
        .map(|(rank, (name, _))| (rank, *name))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/core is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/core` belongs to (`task/cell.rs` -> `task`);
/// None for `mod.rs` itself and the loom models in `tests/`, which see every layer.
fn module_of(core: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(core).expect("a file under src/core");
    let first = rel.components().next()?.as_os_str().to_str()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (module != "mod" && module != "tests").then(|| module.to_owned())
}

/// Every `crate::core::<name>` a source text mentions.
fn named_modules(text: &str) -> Vec<String> {
    const PREFIX: &str = "crate::core::";
    text.match_indices(PREFIX)
        .map(|(at, _)| {
            text[at + PREFIX.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn no_module_of_the_core_names_its_own_layer_or_one_above() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&core, file) else {
            continue;
        };
        let (rank, layer) = layer_of(&module)
            .unwrap_or_else(|| panic!("src/core/{module} is in no layer of this test's table"));
        let text = fs::read_to_string(file).expect("a readable source file");
        for named in named_modules(&text) {
            if named == module {
                continue;
            }
            let (named_rank, named_layer) = layer_of(&named).unwrap_or_else(|| {
                panic!("{} names crate::core::{named}, in no layer", file.display())
            });
            if named_rank > rank || (named_rank == rank && rank != 0) {
                wrong.push(format!(
                    "{} ({layer}) names crate::core::{named} ({named_layer})",
                    file.strip_prefix(&core).unwrap().display()
                ));
            }
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_module_of_the_core_is_in_a_layer() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    for entry in fs::read_dir(&core).expect("src/core is readable") {
        let name = entry.expect("a directory entry").file_name();
        let name = name.to_str().expect("a UTF-8 file name");
        let module = name.strip_suffix(".rs").unwrap_or(name);
        if module != "mod" && module != "tests" {
            assert!(
                layer_of(module).is_some(),
                "src/core/{module} is in no layer"
            );
        }
    }
}
