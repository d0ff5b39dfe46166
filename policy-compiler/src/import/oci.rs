//! OCI runtime-spec `linux.seccomp` (alone, or in a whole `config.json`, whose
//! other security settings come along: see `config_parts`) and Docker's
//! seccomp profile format, with runc's semantics (libcontainer/seccomp):
//!
//! - `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` return `errnoRet`, else EPERM; the
//!   default action returns `defaultErrnoRet`, else EPERM (the OCI spec scopes
//!   `defaultErrnoRet` to the default action);
//! - `SCMP_ACT_KILL` is libseccomp's alias of `SCMP_ACT_KILL_THREAD`;
//! - `MASKED_EQ` is `(arg & value) == valueTwo`;
//! - args with distinct indices are ANDed; when any index repeats, runc adds
//!   *every* arg as a rule of its own, so all of them are ORed (rendered as one
//!   `when` with `||`);
//! - names no architecture knows are skipped with a warning;
//! - a rule whose action equals the default action is skipped (runc does, to
//!   avoid libseccomp's EEXIST); see [`super::order_rules`] for rule order.
//!
//! Docker's additions: `archMap` (the host's entry decides the filter's
//! architectures: rendered as `native`, which is the same set on x86_64 and
//! aarch64 hosts), and per-rule `includes`/`excludes` on `caps` (the bounding
//! set: `ifCapability`/`unlessCapability`), `arches` (the *host's* Go
//! architecture) and `minKernel`.
//!
//! Host architectures become filter architectures by the archMap: every filter
//! architecture belongs to the host whose archMap entry lists it (as the key
//! first, else as a sub-architecture; Docker's default map when the file has
//! none). `includes.arches: [amd64]` therefore becomes `arches: [x86_64, x86,
//! x32]`: an amd64 host compiles the rule into all three. This is exact on
//! 64-bit hosts (whose filters are the archMap entries); on a 32-bit host
//! (a `386` or `arm` kernel) rules written for that host's own name are not
//! applied.

use serde::Deserialize;
use serde_json::Value;

use crate::arch::Arch;
use crate::capability::{self, CapSet, CapSets};
use crate::diagnostic::Diagnostic;
use crate::seccomp::ir::Action;

use super::{
    Cx, Format, Gen, GenCaps, GenRule, GenSeccomp, IdExtent, ImportOptions, cmp_text,
    unknown_action_for,
};

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Seccomp {
    #[serde(default)]
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    pub architectures: Option<Vec<String>>,
    pub arch_map: Option<Vec<ArchMapEntry>>,
    pub flags: Option<Vec<String>>,
    pub listener_path: Option<String>,
    pub syscalls: Option<Vec<Syscall>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArchMapEntry {
    pub architecture: String,
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Syscall {
    pub names: Option<Vec<String>>,
    /// Docker's old single-name form.
    pub name: Option<String>,
    #[serde(default)]
    pub action: String,
    pub errno_ret: Option<u32>,
    pub args: Option<Vec<Arg>>,
    pub comment: Option<String>,
    pub includes: Option<Selector>,
    pub excludes: Option<Selector>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Selector {
    pub caps: Option<Vec<String>>,
    pub arches: Option<Vec<String>>,
    pub min_kernel: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Arg {
    pub index: u32,
    #[serde(default)]
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

pub(crate) fn import(cx: &mut Cx, format: Format, _opts: &ImportOptions) -> Option<Gen> {
    let whole = cx.json()?;
    // A whole config.json (or the `--format oci` fragment): its linux.seccomp,
    // and the parts `config_parts` reads. Anything else is a seccomp object.
    let is_config = whole.get("defaultAction").is_none()
        && ["ociVersion", "process", "linux"]
            .iter()
            .any(|k| whole.get(k).is_some());
    let (seccomp_object, path) = if is_config {
        let s = whole.pointer("/linux/seccomp").filter(|s| !s.is_null());
        (s.cloned(), "linux.seccomp.")
    } else {
        (Some(whole.clone()), "")
    };
    let source = cx.short_name();
    let mut g = Gen {
        header: vec![format!(
            "Imported from {source} ({}) by `rampart convert`.",
            if format == Format::Docker {
                "Docker seccomp profile"
            } else if is_config {
                "OCI runtime spec config: process and linux"
            } else {
                "OCI runtime spec linux.seccomp"
            }
        )],
        ..Gen::default()
    };
    match seccomp_object {
        Some(v) => {
            let what = if format == Format::Docker {
                "Docker seccomp profile"
            } else {
                "OCI linux.seccomp object"
            };
            let s: Seccomp = cx.decode(v, what)?;
            g.seccomp = Some(seccomp(cx, &s, path)?);
        }
        None => {
            // What a runtime does with such a config; said out loud, and the
            // lint's `seccomp-unconfined` says it again on the profile.
            let at = cx.find("\"linux\"");
            cx.warn(
                "seccomp-unconfined",
                "this config has no linux.seccomp: runtimes run it without a syscall filter, and so does the imported profile (`seccomp: {mode: unconfined}`)",
                at,
            );
            g.seccomp_unconfined = true;
        }
    }
    if is_config {
        config_parts(cx, &whole, &mut g);
        if cx.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
    }
    Some(g)
}

/// The rest of a whole `config.json` that a profile expresses, which is what
/// `rampart compile --format oci` writes: `process.{noNewPrivileges,
/// capabilities, user, selinuxLabel}` and `linux.{mountLabel, uidMappings,
/// gidMappings}`. Each value is checked here, where the user wrote it. The
/// config's other fields (mounts, hooks, namespaces, AppArmor) are the
/// runtime's business and are not read.
fn config_parts(cx: &mut Cx, config: &Value, g: &mut Gen) {
    let process = config.get("process").unwrap_or(&Value::Null);
    let linux = config.get("linux").unwrap_or(&Value::Null);
    if let Some(v) = process.get("noNewPrivileges") {
        match v.as_bool() {
            Some(b) => g.no_new_privileges = Some(b),
            None => mismatch(cx, "noNewPrivileges", "true or false"),
        }
    }
    if let Some(c) = process.get("capabilities") {
        let mut sets: [Vec<String>; 5] = Default::default();
        // The profile's order; a set the config leaves out is empty, as in runc.
        for (set, key) in sets.iter_mut().zip(super::CAP_SET_KEYS) {
            match c.get(key) {
                None | Some(Value::Null) => {}
                Some(v) => match string_list(v) {
                    Some(names) => *set = cx.capabilities(&names),
                    None => mismatch(cx, key, "a list of capability names"),
                },
            }
        }
        cap_set_invariants(cx, &sets);
        g.capabilities = Some(GenCaps::Sets(sets));
    }
    if let Some(u) = process.get("user") {
        let id = |cx: &mut Cx, key: &str| -> Option<u32> {
            match u.get(key) {
                None | Some(Value::Null) => Some(0),
                Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).or_else(|| {
                    mismatch(cx, key, "an id from 0 to 4294967295");
                    None
                }),
            }
        };
        let (uid, gid) = (id(cx, "uid"), id(cx, "gid"));
        let groups = match u.get("additionalGids") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(v) => v
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
                        .collect::<Option<Vec<u32>>>()
                })
                .or_else(|| {
                    mismatch(cx, "additionalGids", "a list of ids from 0 to 4294967295");
                    None
                }),
        };
        if let (Some(uid), Some(gid), Some(groups)) = (uid, gid, groups) {
            g.user = Some((uid, gid, groups));
        }
    }
    for (v, key, slot) in [
        (
            process.get("selinuxLabel"),
            "selinuxLabel",
            &mut g.selinux_label,
        ),
        (linux.get("mountLabel"), "mountLabel", &mut g.mount_label),
    ] {
        match v {
            None | Some(Value::Null) => {}
            Some(Value::String(l)) if l.is_empty() => {}
            Some(Value::String(l)) => match crate::selinux::Label::parse(l) {
                Ok(_) => *slot = Some(l.clone()),
                Err(e) => {
                    let at = cx.find_name(l);
                    cx.error(
                        "selinux-label-syntax",
                        format!("invalid SELinux label `{l}` in `{key}`: {}", e.message),
                        at,
                    );
                }
            },
            Some(_) => mismatch(cx, key, "a label string"),
        }
    }
    let maps = |cx: &mut Cx, key: &str| -> Option<Vec<IdExtent>> {
        let v = linux.get(key)?;
        let parsed = v.as_array().and_then(|a| {
            a.iter()
                .map(|m| {
                    let f = |k: &str| m.get(k)?.as_u64().and_then(|n| u32::try_from(n).ok());
                    Some([f("containerID")?, f("hostID")?, f("size")?])
                })
                .collect::<Option<Vec<_>>>()
        });
        if parsed.is_none() {
            mismatch(cx, key, "a list of {containerID, hostID, size} ids");
        }
        parsed
    };
    match (maps(cx, "uidMappings"), maps(cx, "gidMappings")) {
        (Some(u), gid) if !u.is_empty() => g.id_maps = Some((u, gid.unwrap_or_default())),
        (_, Some(gid)) if !gid.is_empty() => {
            let at = cx.find("\"gidMappings\"");
            cx.error(
                "userns-map-overlap",
                "`linux.gidMappings` without `linux.uidMappings`: a user namespace needs both",
                at,
            );
        }
        _ => {}
    }
}

/// The profile's rules for explicit capability sets
/// ([`CapSets::broken_invariants`]), checked here so that the error points into
/// the config. runc does not check them.
fn cap_set_invariants(cx: &mut Cx, sets: &[Vec<String>; 5]) {
    let set = |i: usize| CapSet::of(sets[i].iter().filter_map(|n| capability::parse(n)));
    let [bounding, permitted, effective, inheritable, ambient] = [0, 1, 2, 3, 4].map(set);
    let sets = CapSets {
        bounding,
        permitted,
        effective,
        inheritable,
        ambient,
    };
    for (a, b, extra) in sets.broken_invariants() {
        let at = cx.find(&format!("\"{a}\""));
        cx.error(
            "capability-set-invariant",
            format!(
                "process.capabilities.{a} has {} which {b} lacks: rampart requires effective ⊆ permitted ⊆ bounding, inheritable ⊆ bounding and ambient ⊆ permitted ∩ inheritable",
                extra.names().join(", ")
            ),
            at,
        );
    }
}

/// An error at `"key"` in the input: its value is not `want`.
fn mismatch(cx: &mut Cx, key: &str, want: &str) {
    let at = cx.find(&format!("\"{key}\""));
    cx.error("type-mismatch", format!("`{key}` must be {want}"), at);
}

/// A JSON list of strings.
fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// An `SCMP_ACT_*` action with its errno.
pub(crate) fn action(cx: &mut Cx, name: &str, errno: Option<u32>) -> Option<Action> {
    let code = |cx: &mut Cx, e: Option<u32>| -> Option<u16> {
        match e {
            None => Some(libc::EPERM as u16),
            Some(v) if v <= 4095 => Some(v as u16),
            Some(v) => {
                let at = cx.find(&v.to_string());
                cx.error(
                    "unknown-errno",
                    format!("errno {v} is out of range (0 to 4095)"),
                    at,
                );
                None
            }
        }
    };
    Some(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(code(cx, errno)?),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(code(cx, errno)?),
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        other => {
            let at = cx.find_name(other);
            cx.error(
                "unknown-action",
                format!("unknown seccomp action `{other}`"),
                at,
            );
            return None;
        }
    })
}

fn op_text(op: &str) -> Option<&'static str> {
    Some(match op {
        "SCMP_CMP_EQ" => "==",
        "SCMP_CMP_NE" => "!=",
        "SCMP_CMP_LT" => "<",
        "SCMP_CMP_LE" => "<=",
        "SCMP_CMP_GT" => ">",
        "SCMP_CMP_GE" => ">=",
        "SCMP_CMP_MASKED_EQ" => "==",
        _ => return None,
    })
}

/// The `when` text of a rule's args (None: no args), per runc.
pub(crate) fn when(cx: &mut Cx, args: &[Arg], at: &str) -> Option<Option<String>> {
    if args.is_empty() {
        return Some(None);
    }
    let mut parts = Vec::new();
    for a in args {
        if a.index > 5 {
            let l = cx.find(&format!("\"index\": {}", a.index));
            cx.error(
                "arg-index-out-of-range",
                format!("{at}: argument index {} does not exist (0 to 5)", a.index),
                l,
            );
            return None;
        }
        let Some(op) = op_text(&a.op) else {
            let l = cx.find_name(&a.op);
            cx.error(
                "invalid-expression",
                format!(
                    "{at}: unknown comparison `{}` (SCMP_CMP_EQ, NE, LT, LE, GT, GE, MASKED_EQ)",
                    a.op
                ),
                l,
            );
            return None;
        };
        parts.push(if a.op == "SCMP_CMP_MASKED_EQ" {
            cmp_text(a.index, op, a.value_two, Some(a.value), false)
        } else {
            cmp_text(a.index, op, a.value, None, false)
        });
    }
    let mut seen = std::collections::HashSet::new();
    let repeats = args.iter().any(|a| !seen.insert(a.index));
    let distinct: std::collections::HashSet<u32> = args.iter().map(|a| a.index).collect();
    if repeats && distinct.len() > 1 {
        let l = cx.find("\"args\"");
        cx.warn(
            "import-semantics",
            format!(
                "{at}: args share an index, so runc adds every arg as a separate rule: all {} conditions are ORed, including those on other indices",
                args.len()
            ),
            l,
        );
    }
    let sep = if repeats { " || " } else { " && " };
    Some(Some(parts.join(sep)))
}

/// Go architecture names (Docker's `includes.arches`) → rampart arches.
fn go_arch(name: &str) -> Option<Option<Arch>> {
    Some(match name {
        "amd64" | "x86_64" => Some(Arch::X86_64),
        "386" | "x86" | "i386" => Some(Arch::X86),
        "x32" => Some(Arch::X32),
        "arm64" | "aarch64" => Some(Arch::Aarch64),
        "arm" => Some(Arch::Arm),
        "s390x" => Some(Arch::S390x),
        "ppc64le" => Some(Arch::Ppc64le),
        "riscv64" => Some(Arch::Riscv64),
        "loong64" | "loongarch64" => Some(Arch::Loongarch64),
        // Architectures rampart has no filter for: the selector is valid but
        // selects nothing here.
        "s390" | "ppc64" | "ppc" | "mips" | "mipsle" | "mips64" | "mips64le" | "mips64n32"
        | "mips64len32" | "mipsel" | "mipsel64" | "mipsel64n32" | "riscv32" | "sparc64" => None,
        _ => return None,
    })
}

/// For each filter arch, the host arch whose filter contains it.
fn host_of(arch_map: Option<&[ArchMapEntry]>) -> Vec<(Arch, Arch)> {
    let mut out: Vec<(Arch, Arch)> = Vec::new();
    match arch_map {
        Some(map) => {
            // Keys first, then sub-architectures.
            for e in map {
                if let Some(k) = Arch::from_name(&e.architecture)
                    && !out.iter().any(|x| x.0 == k)
                {
                    out.push((k, k));
                }
            }
            for e in map {
                let Some(k) = Arch::from_name(&e.architecture) else {
                    continue;
                };
                for s in e.sub_architectures.iter().flatten() {
                    if let Some(a) = Arch::from_name(s)
                        && !out.iter().any(|x| x.0 == a)
                    {
                        out.push((a, k));
                    }
                }
            }
        }
        None => {
            for host in [Arch::X86_64, Arch::Aarch64] {
                for a in host.with_compat() {
                    out.push((a, host));
                }
            }
        }
    }
    for a in Arch::ALL {
        if !out.iter().any(|x| x.0 == a) {
            out.push((a, a));
        }
    }
    out
}

pub(crate) fn seccomp(cx: &mut Cx, s: &Seccomp, path: &str) -> Option<GenSeccomp> {
    let default_action = action(cx, &s.default_action, s.default_errno_ret)?;
    let mut notes = Vec::new();
    if s.default_action.is_empty() {
        let at = cx.find("{");
        cx.error("missing-key", "the profile needs `defaultAction`", at);
        return None;
    }
    // Architectures.
    let (architectures, arch_comment) = match (&s.architectures, &s.arch_map) {
        (Some(a), Some(m)) if !a.is_empty() && !m.is_empty() => {
            let at = cx.find("\"archMap\"");
            cx.error(
                "type-mismatch",
                "`architectures` and `archMap` cannot both be set (Docker refuses such a profile)",
                at,
            );
            return None;
        }
        (_, Some(m)) if !m.is_empty() => {
            let entries: Vec<String> = m
                .iter()
                .filter(|e| Arch::from_name(&e.architecture).is_some())
                .map(|e| {
                    let subs: Vec<String> = e
                        .sub_architectures
                        .iter()
                        .flatten()
                        .map(|x| short_arch(x))
                        .collect();
                    if subs.is_empty() {
                        short_arch(&e.architecture)
                    } else {
                        format!("{} (+{})", short_arch(&e.architecture), subs.join(", "))
                    }
                })
                .collect();
            (
                vec!["native".to_string()],
                Some(format!(
                    "archMap: the host's entry decides: {}. `native` is the host and its compat ABIs.",
                    entries.join("; ")
                )),
            )
        }
        (Some(a), _) if !a.is_empty() => {
            let mut out = Vec::new();
            for name in a {
                match Arch::from_name(name) {
                    Some(x) => {
                        if !out.contains(&x.name().to_string()) {
                            out.push(x.name().to_string());
                        }
                    }
                    None => {
                        let at = cx.find_name(name);
                        cx.warn(
                            "unknown-arch",
                            format!("rampart has no filter for `{name}`; it is left out"),
                            at,
                        );
                    }
                }
            }
            if out.is_empty() {
                out.push("native".into());
            }
            (out, None)
        }
        _ => (
            vec!["native".to_string()],
            Some("no architectures listed: the host's own (native) ABIs.".to_string()),
        ),
    };
    let (mut tsync, mut log) = (false, false);
    for f in s.flags.iter().flatten() {
        match f.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => tsync = true,
            "SECCOMP_FILTER_FLAG_LOG" => log = true,
            other => {
                let at = cx.find_name(other);
                cx.warn(
                    "import-unsupported",
                    format!("seccomp flag `{other}` has no rampart equivalent; it is left out"),
                    at,
                );
            }
        }
    }
    if let Some(p) = &s.listener_path {
        notes.push(format!(
            "listenerPath {p}: rampart's supervisor receives SCMP_ACT_NOTIFY events itself."
        ));
    }
    let hosts = host_of(s.arch_map.as_deref());
    let mut rules = Vec::new();
    let mut search_from = 0usize;
    for (i, call) in s.syscalls.iter().flatten().enumerate() {
        let from = format!("{path}syscalls[{i}]");
        let mut names: Vec<String> = call.names.clone().unwrap_or_default();
        if let Some(n) = &call.name {
            names.push(n.clone());
        }
        let act = action(cx, &call.action, call.errno_ret)?;
        if act == default_action {
            notes.push(format!(
                "{from} ({}): same action as defaultAction; runc skips such rules.",
                short_names(&names)
            ));
            continue;
        }
        let mut kept = Vec::new();
        for n in names {
            if super::known_syscall(&n) {
                if !kept.contains(&n) {
                    kept.push(n);
                }
            } else {
                let at = cx.find_name_after(&n, search_from);
                search_from = at.range.end;
                cx.warn(
                    "unknown-syscall",
                    format!("{from}: `{n}` is not a syscall on any architecture rampart knows; it is skipped"),
                    at,
                );
            }
        }
        if kept.is_empty() {
            notes.push(format!("{from}: no syscall rampart knows; skipped."));
            continue;
        }
        let when = when(cx, call.args.as_deref().unwrap_or(&[]), &from)?;
        let mut rule = GenRule {
            from,
            names: kept,
            action: Some(act),
            when,
            comment: call.comment.clone().filter(|c| !c.trim().is_empty()),
            ..GenRule::default()
        };
        if !selectors(
            cx,
            &mut rule,
            call.includes.as_ref(),
            call.excludes.as_ref(),
            &hosts,
            &mut notes,
        ) {
            continue;
        }
        rules.push(rule);
    }
    if cx.diags.iter().any(|d| d.is_error()) {
        return None;
    }
    Some(GenSeccomp {
        default_action,
        architectures,
        arch_comment,
        unknown_action: unknown_action_for(default_action),
        tsync,
        log,
        rules: super::order_rules(rules),
        notes,
    })
}

fn short_arch(scmp: &str) -> String {
    match Arch::from_name(scmp) {
        Some(a) => a.name().to_string(),
        None => scmp
            .trim_start_matches("SCMP_ARCH_")
            .to_ascii_lowercase()
            .to_string(),
    }
}

fn short_names(names: &[String]) -> String {
    if names.len() > 3 {
        format!("{}, … ({} names)", names[..3].join(", "), names.len())
    } else {
        names.join(", ")
    }
}

/// Applies Docker's includes/excludes to `rule`; false when the rule can
/// never apply on an architecture rampart filters (it is then left out).
fn selectors(
    cx: &mut Cx,
    rule: &mut GenRule,
    inc: Option<&Selector>,
    exc: Option<&Selector>,
    hosts: &[(Arch, Arch)],
    notes: &mut Vec<String>,
) -> bool {
    let cap = |cx: &mut Cx, c: &String| -> Option<String> {
        match capability::parse(c) {
            Some(x) => Some(capability::short(x)),
            None => {
                let at = cx.find_name(c);
                cx.error(
                    "unknown-capability",
                    format!("unknown capability `{c}`"),
                    at,
                );
                None
            }
        }
    };
    let empty = Selector::default();
    let inc = inc.unwrap_or(&empty);
    let exc = exc.unwrap_or(&empty);
    rule.if_caps = inc
        .caps
        .iter()
        .flatten()
        .filter_map(|c| cap(cx, c))
        .collect();
    rule.unless_caps = exc
        .caps
        .iter()
        .flatten()
        .filter_map(|c| cap(cx, c))
        .collect();
    let host_arches = |cx: &mut Cx, list: &[String]| -> Vec<Arch> {
        let mut out = Vec::new();
        for n in list {
            match go_arch(n) {
                Some(Some(h)) => out.push(h),
                Some(None) => {}
                None => {
                    let at = cx.find_name(n);
                    cx.warn(
                        "unknown-arch",
                        format!("`{n}` is not a Go architecture name; it selects nothing"),
                        at,
                    );
                }
            }
        }
        out
    };
    let inc_hosts = host_arches(cx, inc.arches.as_deref().unwrap_or(&[]));
    let exc_hosts = host_arches(cx, exc.arches.as_deref().unwrap_or(&[]));
    let restricted = inc.arches.as_ref().is_some_and(|a| !a.is_empty())
        || exc.arches.as_ref().is_some_and(|a| !a.is_empty());
    if restricted {
        let arches: Vec<Arch> = Arch::ALL
            .into_iter()
            .filter(|a| {
                let host = hosts.iter().find(|x| x.0 == *a).map_or(*a, |x| x.1);
                (inc.arches.as_ref().is_none_or(|l| l.is_empty()) || inc_hosts.contains(&host))
                    && !exc_hosts.contains(&host)
            })
            .collect();
        if arches.is_empty() {
            notes.push(format!(
                "{}: only for architectures rampart does not filter; skipped.",
                rule.from
            ));
            return false;
        }
        if arches.len() < Arch::ALL.len() {
            rule.arches = arches;
        }
    }
    if let Some(k) = &inc.min_kernel {
        let ok = k
            .split('.')
            .take(2)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            let mut it = k.split('.');
            rule.min_kernel = Some(format!(
                "{}.{}",
                it.next().unwrap_or("0"),
                it.next().unwrap_or("0")
            ));
        } else {
            let at = cx.find_name(k);
            cx.error(
                "type-mismatch",
                format!("`{k}` is not a kernel version like `5.8`"),
                at,
            );
        }
    }
    if let Some(k) = &exc.min_kernel {
        let at = cx.find_name(k);
        cx.error(
            "import-unsupported",
            format!("{}: `excludes.minKernel` ({k}) has no rampart equivalent (rampart has `minKernel` only)", rule.from),
            at,
        );
    }
    true
}
