//! The built-in profiles and syscall groups, embedded at build time from
//! `profiles/`.

use std::sync::Arc;

use crate::source::SourceFile;

include!(concat!(env!("OUT_DIR"), "/builtin_files.rs"));

/// Built-in profile names and the references that name them.
pub const PROFILES: &[(&str, &[&str])] = &[
    ("default", &["default", "runtime/default", "docker/default"]),
    ("restricted", &["restricted"]),
    ("privileged", &["privileged", "unconfined"]),
];

/// The built-in profile a reference names, if any (`runtime/default` → `default`).
pub fn profile_name(reference: &str) -> Option<&'static str> {
    PROFILES
        .iter()
        .find(|(_, refs)| refs.contains(&reference))
        .map(|(name, _)| *name)
}

/// A built-in profile's source, named `<builtin>/NAME.yaml` in diagnostics.
pub fn profile(name: &str) -> Option<Arc<SourceFile>> {
    let path = format!("{name}.yaml");
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(p, text)| SourceFile::new(format!("<builtin>/{p}"), *text))
}

/// The built-in syscall group files.
pub fn group_files() -> Vec<Arc<SourceFile>> {
    FILES
        .iter()
        .filter(|(p, _)| p.starts_with("groups/"))
        .map(|(p, text)| SourceFile::new(format!("<builtin>/{p}"), *text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_embedded() {
        for (name, _) in PROFILES {
            assert!(profile(name).is_some(), "{name}");
        }
        assert_eq!(profile_name("runtime/default"), Some("default"));
        assert_eq!(profile_name("unconfined"), Some("privileged"));
        assert!(group_files().len() >= 2);
    }
}
