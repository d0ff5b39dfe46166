//! Syscall groups (`@name`): named sets of syscalls defined in YAML files
//! (`profiles/groups/*.yaml`), never in Rust code.
//!
//! ```yaml
//! apiVersion: rampart.dev/v1
//! kind: SyscallGroups
//! groups:
//!   - name: file-system
//!     aliases: ["systemd/file-system"]
//!     description: File system operations
//!     syscalls: [open, openat, "@basic-io"]
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::profile::{API_VERSION, Decoder};
use crate::source::{Location, SourceFile, Spanned};
use crate::suggest;
use crate::yaml;

pub const KIND: &str = "SyscallGroups";

#[derive(Clone, Debug)]
pub struct Group {
    pub name: Spanned<String>,
    pub aliases: Vec<Spanned<String>>,
    pub description: String,
    /// Syscall names and `@group` references.
    pub syscalls: Vec<Spanned<String>>,
}

/// Every group that can be referenced, by name and alias (without `@`).
#[derive(Clone, Debug, Default)]
pub struct GroupSet {
    groups: Vec<Group>,
    index: HashMap<String, usize>,
}

/// Why a group reference could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    Cycle(Vec<String>),
}

/// The groups resolution expands `@names` with. The built-in set is parsed on
/// first use and then shared by the whole process, so work that expands no group
/// (`rampart run` on a warm cache) never parses the group files.
#[derive(Clone, Debug, Default)]
pub enum Groups {
    #[default]
    Builtin,
    Custom(Arc<GroupSet>),
}

impl std::ops::Deref for Groups {
    type Target = GroupSet;

    fn deref(&self) -> &GroupSet {
        static BUILTIN: std::sync::OnceLock<GroupSet> = std::sync::OnceLock::new();
        match self {
            Groups::Builtin => BUILTIN.get_or_init(GroupSet::builtin),
            Groups::Custom(g) => g,
        }
    }
}

impl GroupSet {
    /// The built-in groups. They are tested to load cleanly.
    pub fn builtin() -> GroupSet {
        let (set, diags) = GroupSet::load(&crate::builtin::group_files());
        debug_assert!(diags.is_empty(), "built-in groups: {diags:?}");
        set
    }

    /// Loads group files; later files may not redefine a name.
    pub fn load(files: &[Arc<SourceFile>]) -> (GroupSet, Vec<Diagnostic>) {
        let mut set = GroupSet::default();
        let mut diags = Vec::new();
        for f in files {
            diags.extend(set.add_file(f));
        }
        (set, diags)
    }

    /// Adds one group file, returning its diagnostics.
    pub fn add_file(&mut self, file: &Arc<SourceFile>) -> Vec<Diagnostic> {
        let (doc, diags) = yaml::parse(file);
        let mut d = Decoder { file, diags };
        let Some(root) = &doc.root else {
            return d.diags;
        };
        let Some(entries) = d.fields(
            root,
            "a syscall group file",
            &["apiVersion", "kind", "groups"],
        ) else {
            return d.diags;
        };
        for (key, _, v) in entries {
            match key {
                "apiVersion" => {
                    if let Some(s) = d.string(v).filter(|s| s.value != API_VERSION) {
                        let e = d.error(
                            "unsupported-version",
                            format!("unsupported apiVersion `{}`", s.value),
                            v,
                        );
                        d.push(e);
                    }
                }
                "kind" => {
                    if let Some(s) = d.string(v).filter(|s| s.value != KIND) {
                        let e = d.error(
                            "type-mismatch",
                            format!("expected kind `{KIND}`, found `{}`", s.value),
                            v,
                        );
                        d.push(e);
                    }
                }
                _ => {
                    let Some(items) = d.list(v, "groups") else {
                        continue;
                    };
                    for item in items {
                        let Some(fields) = d.fields(
                            item,
                            "a group",
                            &["name", "aliases", "description", "syscalls"],
                        ) else {
                            continue;
                        };
                        let (mut name, mut aliases, mut description, mut syscalls) =
                            (None, Vec::new(), String::new(), None);
                        for (k, _, fv) in fields {
                            match k {
                                "name" => name = d.string(fv),
                                "aliases" => aliases = d.strings(fv, "aliases"),
                                "description" => {
                                    description = d.string(fv).map(|s| s.value).unwrap_or_default()
                                }
                                _ => syscalls = Some(d.strings(fv, "syscalls")),
                            }
                        }
                        let (Some(name), Some(syscalls)) = (name, syscalls) else {
                            let e =
                                d.error("missing-key", "a group needs `name` and `syscalls`", item);
                            d.push(e);
                            continue;
                        };
                        let group = Group {
                            name,
                            aliases,
                            description,
                            syscalls,
                        };
                        let idx = self.groups.len();
                        for n in std::iter::once(&group.name).chain(&group.aliases) {
                            let key = n.value.trim_start_matches('@').to_string();
                            if let Some(&prev) = self.index.get(&key) {
                                let e = Diagnostic::error(
                                    "duplicate-group",
                                    format!("group `@{key}` is defined twice"),
                                    n.loc.clone(),
                                )
                                .with_secondary(
                                    self.groups[prev].name.loc.clone(),
                                    "first defined here",
                                );
                                d.push(e);
                            } else {
                                self.index.insert(key, idx);
                            }
                        }
                        self.groups.push(group);
                    }
                }
            }
        }
        d.diags
    }

    pub fn get(&self, name: &str) -> Option<&Group> {
        self.index
            .get(name.trim_start_matches('@'))
            .map(|&i| &self.groups[i])
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Every syscall name a group stands for, nested groups expanded, in
    /// first-seen order without repeats.
    pub fn expand(&self, name: &str) -> Result<Vec<Spanned<String>>, ExpandError> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        self.expand_into(name, &mut Vec::new(), &mut out, &mut seen)?;
        Ok(out)
    }

    fn expand_into(
        &self,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<Spanned<String>>,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<(), ExpandError> {
        let key = name.trim_start_matches('@');
        let Some(group) = self.get(key) else {
            return Err(ExpandError::Unknown {
                name: key.to_string(),
                suggestion: suggest::closest(key, self.index.keys().map(String::as_str))
                    .map(str::to_string),
            });
        };
        if stack.iter().any(|s| s == key) {
            let mut cycle = stack.clone();
            cycle.push(key.to_string());
            return Err(ExpandError::Cycle(cycle));
        }
        stack.push(key.to_string());
        for s in &group.syscalls {
            if s.value.starts_with('@') {
                self.expand_into(&s.value, stack, out, seen)?;
            } else if seen.insert(s.value.clone()) {
                out.push(s.clone());
            }
        }
        stack.pop();
        Ok(())
    }
}

/// Lint for group files: unknown syscalls and dangling or cyclic references
/// in `own`'s groups, resolving references through `resolver`.
pub fn check(own: &GroupSet, resolver: &GroupSet) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for g in &own.groups {
        for s in &g.syscalls {
            if let Some(r) = s.value.strip_prefix('@') {
                if let Err(e) = resolver.expand(r) {
                    diags.push(expand_error(&e, s.loc.clone()));
                }
            } else if !crate::arch::Arch::ALL
                .iter()
                .any(|a| a.table().nr(&s.value).is_some())
            {
                let mut d = Diagnostic::error(
                    "unknown-syscall",
                    format!("unknown syscall `{}`", s.value),
                    s.loc.clone(),
                );
                d.help = crate::resolve::syscall_suggestion(&s.value);
                diags.push(d);
            }
        }
    }
    diags
}

/// A diagnostic for a failed group expansion at `at`.
pub fn expand_error(e: &ExpandError, at: Location) -> Diagnostic {
    match e {
        ExpandError::Unknown { name, suggestion } => {
            let mut d = Diagnostic::error(
                "unknown-group",
                format!("unknown syscall group `@{name}`"),
                at,
            );
            d.help = Some(match suggestion {
                Some(s) => format!("did you mean `@{s}`?"),
                None => "groups are defined in profiles/groups/*.yaml; `rampart groups` lists them"
                    .into(),
            });
            d
        }
        ExpandError::Cycle(c) => Diagnostic::error(
            "group-cycle",
            format!(
                "syscall groups include each other: {}",
                c.iter()
                    .map(|g| format!("@{g}"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            at,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_groups_load_and_expand() {
        let set = GroupSet::builtin();
        let (_, diags) = GroupSet::load(&crate::builtin::group_files());
        assert!(diags.is_empty(), "{diags:?}");
        let d = set.expand("@default-allow").unwrap();
        assert_eq!(d.len(), 361);
        assert_eq!(set.expand("docker/default-whitelist").unwrap().len(), 361);
        let svc = set.expand("system-service").unwrap();
        assert!(svc.iter().any(|s| s.value == "read"));
        assert!(set.get("systemd/mount").is_some());
        assert!(matches!(
            set.expand("@defualt-allow"),
            Err(ExpandError::Unknown {
                suggestion: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn cycles_are_reported_with_the_path() {
        let f = SourceFile::new(
            "g.yaml",
            "apiVersion: rampart.dev/v1\nkind: SyscallGroups\ngroups:\n  - {name: a, syscalls: [read, \"@b\"]}\n  - {name: b, syscalls: [\"@a\"]}\n",
        );
        let (set, diags) = GroupSet::load(&[f]);
        assert!(diags.is_empty());
        assert_eq!(
            set.expand("a"),
            Err(ExpandError::Cycle(vec!["a".into(), "b".into(), "a".into()]))
        );
        assert_eq!(check(&set, &set)[0].code, "group-cycle");
    }
}
