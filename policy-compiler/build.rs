//! Embeds the built-in profiles and syscall groups (`../profiles/**/*.yaml`) so
//! an installed `rampart` works from any directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            let rel = p
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, p.canonicalize().unwrap()));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let profiles = manifest.join("../profiles");
    println!("cargo:rerun-if-changed={}", profiles.display());
    let mut files = Vec::new();
    collect(&profiles, &profiles, &mut files);
    let mut code = String::from(
        "/// Built-in files: (path relative to profiles/, contents).\npub static FILES: &[(&str, &str)] = &[\n",
    );
    for (rel, abs) in &files {
        println!("cargo:rerun-if-changed={}", abs.display());
        writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    // Identifies this build's embedded files in cache keys (`rampart run`), so a
    // cached policy is never reused by a build whose built-in profiles or groups
    // differ. SipHash with fixed keys: stable within one toolchain.
    let mut h = std::hash::DefaultHasher::new();
    for (rel, abs) in &files {
        std::hash::Hash::hash(rel, &mut h);
        std::hash::Hash::hash(&std::fs::read(abs).unwrap(), &mut h);
    }
    writeln!(
        code,
        "/// A hash of every built-in file.\npub const FINGERPRINT: u64 = {:#018x};",
        std::hash::Hasher::finish(&h)
    )
    .unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("builtin_files.rs");
    std::fs::write(out, code).unwrap();
}
