//! Importers: foreign security-profile formats become rampart profile YAML.
//!
//! Every importer decodes its format into one small model ([`Gen`]) that
//! [`to_yaml`] renders as an ordinary rampart profile. Compiling an import is
//! compiling that YAML through the normal pipeline: there is one semantics and
//! one compiler, and `rampart convert` shows exactly what will be enforced.
//!
//! | format | input | module |
//! |---|---|---|
//! | `oci` | OCI runtime-spec `config.json`, or just its `linux.seccomp` object | [`oci`] |
//! | `docker` | Docker / containers-common profile (`archMap`, `includes`/`excludes`) | [`oci`] |
//! | `spo` | Security Profiles Operator `SeccompProfile` resources (YAML) | [`spo`] |
//! | `appc` | rkt/appc image or pod manifest isolators | [`appc`] |
//! | `seccompiler` | Firecracker's seccompiler JSON (one named filter) | [`seccompiler`] |
//!
//! Semantics shared by the OCI, Docker and SPO importers (runc's, which
//! libseccomp enforces):
//! - a rule whose action equals the default action is dropped (runc skips it);
//! - libseccomp lets an argument-less rule for a syscall override its rules
//!   with arguments regardless of order, and rampart's rules are first-match:
//!   such a rule moves in front of the first rule with arguments (and another
//!   action) for the same syscall; all other rules keep the source order;
//! - syscall numbers above the kernel table (newer syscalls) get
//!   `errno(ENOSYS)` when the default action denies, else the default action.

pub mod appc;
pub mod oci;
pub mod seccompiler;
pub mod spo;
pub mod to_yaml;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::arch::Arch;
use crate::diagnostic::Diagnostic;
use crate::seccomp::ir::Action;
use crate::source::{Location, SourceFile};

/// A foreign profile format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// OCI runtime spec: a whole `config.json` or its `linux.seccomp` object.
    Oci,
    /// Docker's seccomp profile format (also containers-common's).
    Docker,
    /// Security Profiles Operator `SeccompProfile` (YAML).
    Spo,
    /// rkt/appc image or pod manifest (JSON) isolators.
    Appc,
    /// seccompiler's JSON filters (Firecracker).
    Seccompiler,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::Docker => "docker",
            Format::Spo => "spo",
            Format::Appc => "appc",
            Format::Seccompiler => "seccompiler",
        }
    }

    pub fn from_name(s: &str) -> Option<Format> {
        Some(match s {
            "oci" => Format::Oci,
            "docker" => Format::Docker,
            "spo" => Format::Spo,
            "appc" | "rkt" => Format::Appc,
            "seccompiler" | "firecracker" => Format::Seccompiler,
            _ => return None,
        })
    }
}

/// What an import needs besides the text.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The input's name for diagnostics and provenance comments (a path).
    pub source_name: String,
    /// Which filter (seccompiler), resource (`metadata.name`, SPO) or app
    /// (appc pod manifest) to import when the file holds several.
    pub filter: Option<String>,
    /// Where SPO `baseProfileName` resources are looked up
    /// (`<dir>/<name>.yaml`); the input's directory when `None`.
    pub base_dir: Option<PathBuf>,
    /// The architecture a seccompiler filter is for; guessed from the file name
    /// (`x86_64`, `aarch64`) when `None`.
    pub arch: Option<Arch>,
}

/// An imported profile: rampart YAML plus the warnings met on the way.
#[derive(Clone, Debug)]
pub struct Imported {
    pub format: Format,
    /// The generated rampart profile.
    pub yaml: String,
    /// Warnings (skipped names, approximations); never errors.
    pub warnings: Vec<Diagnostic>,
}

impl Imported {
    /// The generated profile as a source file, ready for
    /// `pipeline::compile_file` or `lint::lint_file`. `name` should end in
    /// `.yaml` (e.g. `docker-default.json.yaml`) so diagnostics read well.
    pub fn source_file(&self, name: impl Into<String>) -> Arc<SourceFile> {
        SourceFile::new(name, self.yaml.clone())
    }
}

/// Guesses the format of a file's text (None: a rampart profile or unknown).
pub fn detect(text: &str) -> Option<Format> {
    let t = text.trim_start();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).ok()?;
        return detect_json(&v);
    }
    // YAML: only SPO resources are foreign YAML.
    let has = |needle: &str| text.lines().any(|l| l.trim_start().starts_with(needle));
    if has("apiVersion: security-profiles-operator.x-k8s.io/") && has("kind: SeccompProfile") {
        return Some(Format::Spo);
    }
    None
}

fn detect_json(v: &Value) -> Option<Format> {
    let o = v.as_object()?;
    if o.contains_key("acKind") || o.contains_key("acVersion") {
        return Some(Format::Appc);
    }
    if o.get("kind").and_then(Value::as_str) == Some("SeccompProfile") {
        return Some(Format::Spo);
    }
    if o.contains_key("ociVersion") || o.get("linux").is_some_and(Value::is_object) {
        return Some(Format::Oci);
    }
    if o.contains_key("defaultAction") {
        let docker = o.contains_key("archMap")
            || o.contains_key("defaultErrno")
            || o.get("syscalls")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter().any(|r| {
                        r.get("includes").is_some()
                            || r.get("excludes").is_some()
                            || r.get("name").is_some()
                    })
                });
        return Some(if docker { Format::Docker } else { Format::Oci });
    }
    if !o.is_empty()
        && o.values().all(|f| {
            f.get("default_action").is_some()
                && f.get("filter_action").is_some()
                && f.get("filter").is_some_and(Value::is_array)
        })
    {
        return Some(Format::Seccompiler);
    }
    None
}

/// Imports `text` (in `format`) as rampart profile YAML.
pub fn load(format: Format, text: &str, opts: &ImportOptions) -> Result<Imported, Vec<Diagnostic>> {
    let name = if opts.source_name.is_empty() {
        "<input>".to_string()
    } else {
        opts.source_name.clone()
    };
    let file = SourceFile::new(name, text.to_string());
    let mut cx = Cx {
        file,
        diags: Vec::new(),
    };
    let generated = match format {
        Format::Oci | Format::Docker => oci::import(&mut cx, format, opts),
        Format::Spo => spo::import(&mut cx, opts),
        Format::Appc => appc::import(&mut cx, opts),
        Format::Seccompiler => seccompiler::import(&mut cx, opts),
    };
    if cx.diags.iter().any(Diagnostic::is_error) {
        return Err(cx.diags);
    }
    let Some(g) = generated else {
        return Err(cx.diags);
    };
    Ok(Imported {
        format,
        yaml: to_yaml::render(&g, &crate::groups::GroupSet::builtin()),
        warnings: cx.diags,
    })
}

/// Import context: the input file and the diagnostics so far.
pub(crate) struct Cx {
    pub file: Arc<SourceFile>,
    pub diags: Vec<Diagnostic>,
}

impl Cx {
    /// The base name of the input, for provenance comments.
    pub fn short_name(&self) -> String {
        std::path::Path::new(&self.file.name)
            .file_name()
            .map_or_else(
                || self.file.name.clone(),
                |n| n.to_string_lossy().into_owned(),
            )
    }

    /// The first place `needle` occurs in the input (the whole file's start if nowhere).
    pub fn find(&self, needle: &str) -> Location {
        self.find_after(needle, 0)
    }

    pub fn find_after(&self, needle: &str, from: usize) -> Location {
        let text = &self.file.text;
        match text.get(from..).and_then(|t| t.find(needle)) {
            Some(i) => Location::new(&self.file, from + i..from + i + needle.len()),
            None => match text.find(needle) {
                Some(i) => Location::new(&self.file, i..i + needle.len()),
                None => Location::new(&self.file, 0..0),
            },
        }
    }

    /// A quoted JSON string's location, or a YAML scalar's.
    pub fn find_name(&self, name: &str) -> Location {
        self.find_name_after(name, 0)
    }

    /// Where `name` is written, preferably as a JSON string (`"name"`, the
    /// location without its quotes), else bare (YAML), first looking at or after
    /// byte `from`; the file's start when it is not there at all (an escaped
    /// spelling).
    pub fn find_name_after(&self, name: &str, from: usize) -> Location {
        let quoted = format!("\"{name}\"");
        if self.file.text.contains(&quoted) {
            let l = self.find_after(&quoted, from);
            Location::new(&self.file, l.range.start + 1..l.range.end - 1)
        } else {
            self.find_after(name, from)
        }
    }

    pub fn error(&mut self, code: &'static str, msg: impl Into<String>, at: Location) {
        self.diags.push(Diagnostic::error(code, msg, at));
    }

    pub fn warn(&mut self, code: &'static str, msg: impl Into<String>, at: Location) {
        self.diags.push(Diagnostic::warning(code, msg, at));
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Capability names (`CAP_CHOWN`, `chown`, …) as rampart's short names;
    /// each unknown one is an error at its place in the input.
    pub fn capabilities(&mut self, names: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for c in names {
            match crate::capability::parse(c) {
                Some(x) => out.push(crate::capability::short(x)),
                None => {
                    let at = self.find_name(c);
                    let bare = c.trim_start_matches("CAP_").to_string();
                    let mut d = Diagnostic::error(
                        "unknown-capability",
                        format!("unknown capability `{c}`"),
                        at,
                    );
                    d.help = crate::suggest::did_you_mean(
                        &bare,
                        crate::capability::names().iter().map(String::as_str),
                    );
                    self.push(d);
                }
            }
        }
        out
    }

    /// Parses JSON, reporting a syntax error at its line and column.
    pub fn json(&mut self) -> Option<Value> {
        match serde_json::from_str::<Value>(&self.file.text) {
            Ok(v) => Some(v),
            Err(e) => {
                // serde_json counts columns in bytes: an error found inside a
                // multi-byte character points into its middle, so back up to
                // where the character starts.
                let text = &self.file.text;
                let mut off =
                    (self.file.line_start(e.line()) + e.column().saturating_sub(1)).min(text.len());
                while !text.is_char_boundary(off) {
                    off -= 1;
                }
                let at = Location::new(&self.file, off..off);
                self.error("yaml-syntax", format!("invalid JSON: {e}"), at);
                None
            }
        }
    }

    /// Deserializes `v` into `T`, reporting a schema mismatch.
    pub fn decode<T: serde::de::DeserializeOwned>(&mut self, v: Value, what: &str) -> Option<T> {
        match serde_path_to_error(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let at = Location::new(&self.file, 0..0);
                self.error("type-mismatch", format!("not a valid {what}: {e}"), at);
                None
            }
        }
    }
}

fn serde_path_to_error<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(v)
}

/// True for every syscall name some architecture's table knows.
pub(crate) fn known_syscall(name: &str) -> bool {
    Arch::ALL.iter().any(|a| a.table().nr(name).is_some())
}

/// The action a syscall number above the kernel table gets: ENOSYS when the
/// default denies (libc falls back), else the default itself.
pub(crate) fn unknown_action_for(default: Action) -> Action {
    match default {
        Action::Allow | Action::Log | Action::Notify | Action::Trace(_) => default,
        _ => Action::Errno(libc::ENOSYS as u16),
    }
}

// ---------------------------------------------------------------------------
// The model importers produce and `to_yaml` renders.
// ---------------------------------------------------------------------------

/// A generated profile.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gen {
    /// Comment lines at the top of the file (without `# `).
    pub header: Vec<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub no_new_privileges: Option<bool>,
    pub capabilities: Option<GenCaps>,
    /// `selinux:` keys in order (`user`, `role`, `type`, `level`).
    pub selinux: Vec<(&'static str, String)>,
    /// `selinux.label`: a whole process label (checked).
    pub selinux_label: Option<String>,
    /// `selinux.mountLabel` (checked).
    pub mount_label: Option<String>,
    /// `user:` uid, gid and supplementary groups.
    pub user: Option<(u32, u32, Vec<u32>)>,
    /// `userNamespace: {mode: explicit}` with these uid and gid extents.
    pub id_maps: Option<(Vec<IdExtent>, Vec<IdExtent>)>,
    pub seccomp: Option<GenSeccomp>,
    /// No `seccomp` rules: `seccomp: {mode: unconfined}` (an OCI config
    /// without `linux.seccomp`).
    pub seccomp_unconfined: bool,
}

/// One line of an ID map: `containerID`, `hostID`, `size`.
pub(crate) type IdExtent = [u32; 3];

#[derive(Clone, Debug)]
pub(crate) enum GenCaps {
    /// Relative to the runtime default.
    Drop(Vec<String>),
    /// Exactly these in bounding, permitted and effective.
    Only(Vec<String>),
    /// All five sets as given, in [`CAP_SET_KEYS`] order.
    Sets([Vec<String>; 5]),
}

/// The profile's capability-set keys, in its order (the OCI config's keys are
/// the same words).
pub(crate) const CAP_SET_KEYS: [&str; 5] = [
    "bounding",
    "permitted",
    "effective",
    "inheritable",
    "ambient",
];

#[derive(Clone, Debug)]
pub(crate) struct GenSeccomp {
    pub default_action: Action,
    /// `native` or canonical arch names.
    pub architectures: Vec<String>,
    /// Explains `architectures` (one comment line).
    pub arch_comment: Option<String>,
    pub unknown_action: Action,
    pub tsync: bool,
    pub log: bool,
    pub rules: Vec<GenRule>,
    /// Comment lines after the rules (dropped source rules and why).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct GenRule {
    /// Provenance, e.g. `syscalls[3]`.
    pub from: String,
    /// Syscall names, and `@group` references.
    pub names: Vec<String>,
    pub action: Option<Action>,
    pub when: Option<String>,
    pub if_caps: Vec<String>,
    pub unless_caps: Vec<String>,
    /// Empty: every architecture.
    pub arches: Vec<Arch>,
    pub min_kernel: Option<String>,
    pub comment: Option<String>,
}

/// Orders rules for rampart's first-match semantics the way libseccomp decides:
/// an argument-less rule for a syscall beats rules with arguments for it, so
/// it moves in front of the first such rule with a different action. Every
/// other rule keeps its source position.
pub(crate) fn order_rules(rules: Vec<GenRule>) -> Vec<GenRule> {
    let mut out: Vec<GenRule> = Vec::with_capacity(rules.len());
    for r in rules {
        let pos = if r.when.is_none() {
            out.iter().position(|c| {
                c.when.is_some()
                    && c.action != r.action
                    && c.names.iter().any(|n| r.names.contains(n))
            })
        } else {
            None
        };
        match pos {
            Some(p) => out.insert(p, r),
            None => out.push(r),
        }
    }
    out
}

/// A comparison in the profile's `when` language.
pub(crate) fn cmp_text(arg: u32, op: &str, value: u64, mask: Option<u64>, u32w: bool) -> String {
    let a = if u32w {
        format!("u32(arg{arg})")
    } else {
        format!("arg{arg}")
    };
    match mask {
        Some(m) => format!("{a} & {} {op} {}", num(m), num(value)),
        None => format!("{a} {op} {}", num(value)),
    }
}

/// Decimal for small numbers, hex for masks and large values.
pub(crate) fn num(v: u64) -> String {
    if v < 4096 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

// ---------------------------------------------------------------------------
// YAML (any number of documents) as serde_json values, for SPO and Kubernetes.
// ---------------------------------------------------------------------------

/// A YAML syntax problem: message and byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub message: String,
    pub offset: usize,
}

const MAX_YAML_NODES: usize = 200_000;
const MAX_YAML_DEPTH: usize = 64;

/// Parses every document of a YAML stream into JSON values (core schema:
/// plain `true`/`false`, `null`/`~`/empty, integers and floats are typed;
/// everything quoted is a string). Aliases are expanded with a budget.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    use saphyr_parser::{Event, Parser, ScalarStyle};
    enum Frame {
        Seq(usize, Vec<Value>),
        Map(usize, serde_json::Map<String, Value>, Option<String>),
    }
    let char_to_byte: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let byte = |c: usize| char_to_byte.get(c).copied().unwrap_or(text.len());
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Value> = Default::default();
    let mut nodes = 0usize;
    let err = |m: String, off: usize| YamlError {
        message: m,
        offset: off,
    };
    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| {
            err(
                format!("invalid YAML: {}", e.info()),
                byte(e.marker().index()),
            )
        })?;
        let at = byte(span.start.index());
        let value = match event {
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_YAML_DEPTH {
                    return Err(err("nesting too deep".into(), at));
                }
                stack.push(Frame::Seq(anchor, Vec::new()));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_YAML_DEPTH {
                    return Err(err("nesting too deep".into(), at));
                }
                stack.push(Frame::Map(anchor, serde_json::Map::new(), None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, v) = match stack.pop() {
                    Some(Frame::Seq(a, items)) => (a, Value::Array(items)),
                    Some(Frame::Map(a, m, _)) => (a, Value::Object(m)),
                    None => return Err(err("unbalanced YAML events".into(), at)),
                };
                if anchor != 0 {
                    anchors.insert(anchor, v.clone());
                }
                v
            }
            Event::Scalar(s, style, anchor, _tag) => {
                let v = if matches!(style, ScalarStyle::Plain) {
                    plain_scalar(&s)
                } else {
                    Value::String(s.into_owned())
                };
                if anchor != 0 {
                    anchors.insert(anchor, v.clone());
                }
                v
            }
            Event::Alias(id) => {
                let v = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| err("alias to an unknown anchor".into(), at))?;
                nodes += count(&v);
                v
            }
            _ => continue,
        };
        nodes += 1;
        if nodes > MAX_YAML_NODES {
            return Err(err("the document is too large".into(), at));
        }
        match stack.last_mut() {
            None => docs.push(value),
            Some(Frame::Seq(_, items)) => items.push(value),
            Some(Frame::Map(_, m, key)) => match key.take() {
                None => {
                    let k = match value {
                        Value::String(s) => s,
                        Value::Null => "null".into(),
                        other @ (Value::Bool(_) | Value::Number(_)) => other.to_string(),
                        _ => return Err(err("a mapping key must be a scalar".into(), at)),
                    };
                    if m.contains_key(&k) {
                        return Err(err(format!("duplicate key `{k}`"), at));
                    }
                    *key = Some(k);
                }
                Some(k) => {
                    m.insert(k, value);
                }
            },
        }
    }
    Ok(docs)
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count).sum::<usize>(),
        _ => 1,
    }
}

fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if let Some(u) = crate::yaml::parse_int(digits).filter(|_| !digits.contains('_')) {
        if !neg {
            return Value::from(u);
        }
        if let Ok(i) = i64::try_from(u) {
            return Value::from(-i);
        }
    }
    if s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name the tables lack is warned about where it is written, in YAML
    /// (unquoted) as in JSON (found by the `import` fuzz target: the SPO
    /// importer looked only for `"name"` and pointed at byte 1, here inside a
    /// multi-byte first character).
    #[test]
    fn an_unknown_syscall_is_warned_about_where_it_is_written() {
        let yaml = "\u{e9}: 1\napiVersion: security-profiles-operator.x-k8s.io/v1beta1\n\
                    kind: SeccompProfile\nmetadata: {name: x}\nspec:\n  \
                    defaultAction: SCMP_ACT_ERRNO\n  syscalls:\n  - action: SCMP_ACT_ALLOW\n    \
                    names: [read, no_such_call]\n";
        let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW", "names": ["read", "no_such_call"]}]}"#;
        for (format, text) in [(Format::Spo, yaml), (Format::Oci, json)] {
            let i = load(format, text, &ImportOptions::default()).unwrap();
            let w = i
                .warnings
                .iter()
                .find(|w| w.code == "unknown-syscall")
                .unwrap();
            assert_eq!(&text[w.primary.range.clone()], "no_such_call", "{format:?}");
        }
    }

    /// serde_json's column is in bytes; the error's location starts where the
    /// character does (found by the `import` fuzz target: a bad `\u` escape
    /// followed by U+FFFD).
    #[test]
    fn a_json_error_inside_a_character_points_at_its_start() {
        let text = "{\"defaultAction\": \"\\ue\u{fffd}\u{fffd}\"}";
        let e = load(Format::Oci, text, &ImportOptions::default()).unwrap_err();
        let at = &e[0].primary.range;
        assert!(text.is_char_boundary(at.start), "{at:?} in {text:?}");
        assert_eq!(e[0].code, "yaml-syntax");
        assert!(e[0].message.starts_with("invalid JSON"), "{}", e[0].message);
    }

    #[test]
    fn yaml_documents_types_and_streams() {
        let docs = yaml_documents("---\na: 1\nb: \"1\"\nc: [x, true, ~, 0x10]\n---\nd: {e: -2}\n")
            .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["a"], 1);
        assert_eq!(docs[0]["b"], "1");
        assert_eq!(docs[0]["c"], serde_json::json!(["x", true, null, 16]));
        assert_eq!(docs[1]["d"]["e"], -2);
        assert!(yaml_documents("a: 1\na: 2\n").is_err());
        let docs = yaml_documents("x: &a [1, 2]\ny: *a\n").unwrap();
        assert_eq!(docs[0]["y"], serde_json::json!([1, 2]));
    }

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect("{\"defaultAction\": \"SCMP_ACT_ERRNO\"}"),
            Some(Format::Oci)
        );
        assert_eq!(
            detect("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"archMap\": []}"),
            Some(Format::Docker)
        );
        assert_eq!(
            detect("{\"ociVersion\": \"1.0.2\", \"linux\": {}}"),
            Some(Format::Oci)
        );
        assert_eq!(
            detect("{\"acKind\": \"ImageManifest\", \"acVersion\": \"0.8.11\"}"),
            Some(Format::Appc)
        );
        assert_eq!(
            detect(
                "{\"main\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": []}}"
            ),
            Some(Format::Seccompiler)
        );
        assert_eq!(
            detect("apiVersion: security-profiles-operator.x-k8s.io/v1\nkind: SeccompProfile\n"),
            Some(Format::Spo)
        );
        assert_eq!(
            detect("apiVersion: rampart.dev/v1\nkind: SecurityProfile\n"),
            None
        );
    }
}
