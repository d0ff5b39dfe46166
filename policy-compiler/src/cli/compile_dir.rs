//! `rampart compile --out-dir DIR PROFILES_DIR`: every rampart profile of a
//! directory, for distribution to nodes.
//!
//! Files are taken in byte order of their names and nothing time- or
//! order-dependent reaches the outputs, so two runs write identical bytes. A
//! profile that fails leaves no file behind (outputs are written to a
//! temporary name and renamed; a stale output from an earlier run is
//! removed, so a node never receives an outdated artifact under that name).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rampart::diagnostic;
use rampart::pipeline;
use rampart::resolve::Options;
use serde_json::Value;

use super::compile::{Format, render, report};

/// Why a file in the directory is not compiled.
fn not_a_profile(path: &Path, text: &str) -> Option<String> {
    let docs = rampart::import::yaml_documents(text).ok()?; // syntax errors: compile reports them
    let doc = docs.first()?;
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if api.starts_with("rampart.dev/") && kind == "SecurityProfile" {
        return None;
    }
    let hint = if rampart::import::detect(text).is_some() {
        format!(
            "; convert it first: rampart convert {} -o NAME.yaml",
            path.display()
        )
    } else {
        String::new()
    };
    Some(format!(
        "a `{}` `{}` document, not a rampart SecurityProfile (apiVersion: rampart.dev/v1){hint}",
        if api.is_empty() { "?" } else { api },
        if kind.is_empty() { "?" } else { kind },
    ))
}

pub fn run(src: &Path, out: &Path, format: Format, opts: &Options) -> u8 {
    let entries = match std::fs::read_dir(src) {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "rampart compile: cannot read the profile directory {}: {e} (with --out-dir, PROFILE is a directory)",
                src.display()
            );
            return 2;
        }
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("rampart compile: cannot create {}: {e}", out.display());
        return 2;
    }
    let (mut ok, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut io_error = false;
    // Output name → the input that produced it.
    let mut taken: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let shown = path.display();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_dir() || !matches!(ext, "yaml" | "yml") {
            eprintln!(
                "rampart compile: skipping {shown}: not a profile file (*.yaml, *.yml; subdirectories are not searched)"
            );
            skipped += 1;
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("rampart compile: cannot read {shown}: {e}");
                failed += 1;
                continue;
            }
        };
        if let Some(why) = not_a_profile(&path, &text) {
            eprintln!("rampart compile: skipping {shown}: {why}");
            skipped += 1;
            continue;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("{stem}.{}", format.extension());
        let target = out.join(&name);
        if let Some(first) = taken.get(&name) {
            eprintln!(
                "rampart compile: {shown}: its output {name} is already written for {}; rename one of them",
                first.display()
            );
            failed += 1;
            continue;
        }
        taken.insert(name.clone(), path.clone());
        let bytes = match pipeline::compile_reference(&path.to_string_lossy(), opts) {
            Ok(c) => {
                for w in &c.warnings {
                    eprint!("{}", diagnostic::render_text(w));
                }
                render(&c, format).ok()
            }
            Err(e) => {
                report(e);
                None
            }
        };
        let Some(bytes) = bytes else {
            failed += 1;
            match std::fs::remove_file(&target) {
                Ok(()) => eprintln!(
                    "rampart compile: {shown} failed; removed its stale output {}",
                    target.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!("rampart compile: {shown} failed; no output written")
                }
                Err(e) => {
                    eprintln!(
                        "rampart compile: {shown} failed, and its stale output {} cannot be removed: {e}",
                        target.display()
                    );
                    io_error = true;
                }
            }
            continue;
        };
        let tmp = out.join(format!(".{name}.tmp.{}", std::process::id()));
        let written = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &target));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("rampart compile: cannot write {}: {e}", target.display());
            io_error = true;
            continue;
        }
        ok += 1;
    }
    eprintln!(
        "rampart compile: {ok} profile(s) compiled into {}, {failed} failed, {skipped} skipped",
        out.display()
    );
    if io_error {
        2
    } else if failed > 0 {
        1
    } else {
        0
    }
}
