//! Replays the fuzz corpora through the fuzz target bodies, so `cargo test` (and
//! CI) exercises every seed and every past crash without a fuzzer.
//!
//! For each target in [`rampart::fuzzing::TARGETS`]: every file in
//! `fuzz/corpus/TARGET/` (the committed seeds; must exist and be non-empty) and
//! in `fuzz/regressions/TARGET/` (inputs that once crashed; must exist, kept by
//! a `.gitkeep` when empty) runs through `rampart::fuzzing::TARGET`. Files whose
//! name starts with `.` are not inputs. All failures are collected and reported
//! together, each with its path.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rampart::fuzzing;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The input files of a directory, sorted; panics if it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let rd = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the corpus directory must exist)", dir.display()));
    let mut files: Vec<PathBuf> = rd
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs every input of `target`; returns the number run.
fn replay(target: &str) -> usize {
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: the replay would test nothing"
    );
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    let mut failures = Vec::new();
    let total = corpus.len() + regressions.len();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            assert!(fuzzing::run(target, &data), "unknown target {target}");
        }));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} {target} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{target}: replayed {} corpus + {} regression inputs",
        corpus.len(),
        regressions.len()
    );
    total
}

#[test]
fn every_target_has_a_corpus_a_regression_dir_and_a_fuzz_target() {
    for t in fuzzing::TARGETS {
        let src = fuzz_dir().join("fuzz_targets").join(format!("{t}.rs"));
        let text =
            std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(
            text.contains(&format!("rampart::fuzzing::{t}(")),
            "{} must call rampart::fuzzing::{t}",
            src.display()
        );
        assert!(
            !inputs(&fuzz_dir().join("corpus").join(t)).is_empty(),
            "fuzz/corpus/{t}/ is empty"
        );
        assert!(
            fuzz_dir().join("regressions").join(t).is_dir(),
            "fuzz/regressions/{t}/ is missing"
        );
        assert!(
            include_str!("fuzz_corpus.rs").contains(&format!("replay(\"{t}\")")),
            "no test in fuzz_corpus.rs replays {t}"
        );
    }
    // And nothing in fuzz/fuzz_targets/ that the replay does not know.
    for f in inputs(&fuzz_dir().join("fuzz_targets")) {
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            fuzzing::TARGETS.contains(&stem.as_str()),
            "{stem} is not in rampart::fuzzing::TARGETS"
        );
    }
}

#[test]
fn replay_profile() {
    replay("profile");
}

#[test]
fn replay_expr() {
    replay("expr");
}

#[test]
fn replay_blob() {
    replay("blob");
}

#[test]
fn replay_bpf_check_simulate() {
    replay("bpf_check_simulate");
}

#[test]
fn replay_seccomp_emit() {
    replay("seccomp_emit");
}

#[test]
fn replay_import() {
    replay("import");
}

#[test]
fn replay_userns() {
    replay("userns");
}

/// The committed `seed-*.blob` files (what the encoder made of
/// [`fuzzing::seed_blobs`]'s policies) still decode, so the blob seeds keep
/// reaching past the header checks. (They are not compared byte for byte: a
/// change to a built-in profile would make them stale without making them
/// worse seeds.) After a change of the
/// blob format, regenerate them with
/// `RAMPART_FUZZ_BLESS=1 cargo test -p rampart --test fuzz_corpus blob_seeds`.
#[test]
fn blob_seeds_are_current() {
    let dir = fuzz_dir().join("corpus/blob");
    let bless = std::env::var_os("RAMPART_FUZZ_BLESS").is_some_and(|v| v == "1");
    for (name, bytes) in fuzzing::seed_blobs() {
        assert!(
            rampart_enforce::blob::decode(&bytes).is_ok(),
            "seed {name} does not decode"
        );
        let path = dir.join(format!("seed-{name}.blob"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            // The bare body too: mutations of a whole blob rarely get past its
            // checksum, mutations of a body reach the body parser directly.
            let body = &bytes[rampart_enforce::blob::HEADER_LEN..];
            std::fs::write(dir.join(format!("body-{name}.blob")), body).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with RAMPART_FUZZ_BLESS=1 to create it",
                path.display()
            )
        });
        assert!(
            rampart_enforce::blob::decode(&committed).is_ok(),
            "{} no longer decodes (blob format changed?); regenerate with RAMPART_FUZZ_BLESS=1",
            path.display()
        );
    }
}
