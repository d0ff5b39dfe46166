//! seccompiler's JSON filters (rust-vmm; Firecracker's `resources/seccomp/*.json`).
//!
//! A file maps filter names (one per thread kind: `vmm`, `api`, `vcpu`) to
//! `{default_action, filter_action, filter: [{syscall, args, comment}]}`
//! (seccompiler ≥ 0.4 also spells them `mismatch_action`/`match_action`);
//! `--filter NAME` picks one. Semantics, as seccompiler compiles them:
//! - a syscall matches when any of its entries matches (entries for the same
//!   syscall are ORed); an entry without `args` always matches; the `args` of
//!   one entry are ANDed; a match returns `filter_action`, anything else —
//!   including syscall numbers above the table — returns `default_action`;
//! - `type: dword` compares the low 32 bits (`u32(argN)`), `qword` all 64;
//! - `op` is `eq`, `ne`, `lt`, `le`, `gt`, `ge` or `{masked_eq: MASK}`, which
//!   means `(arg & MASK) == val`;
//! - names are for one architecture (the file's target): `--arch`, else
//!   guessed from the file name (`x86_64`, `aarch64`); unknown names are
//!   errors, as in seccompiler.

use serde::Deserialize;
use serde_json::Value;

use crate::arch::Arch;
use crate::diagnostic::Diagnostic;
use crate::seccomp::ir::Action;

use super::{Cx, Gen, GenRule, GenSeccomp, ImportOptions, cmp_text};

#[derive(Deserialize, Debug)]
struct Filter {
    #[serde(alias = "mismatch_action")]
    default_action: Value,
    #[serde(alias = "match_action")]
    filter_action: Value,
    #[serde(default)]
    filter: Vec<Entry>,
}

#[derive(Deserialize, Debug)]
struct Entry {
    syscall: String,
    args: Option<Vec<Cond>>,
    comment: Option<String>,
}

#[derive(Deserialize, Debug)]
struct Cond {
    index: u32,
    #[serde(rename = "type")]
    kind: String,
    op: Value,
    val: u64,
    #[allow(dead_code)]
    comment: Option<String>,
}

fn action(cx: &mut Cx, v: &Value, what: &str) -> Option<Action> {
    let small = |cx: &mut Cx, n: Option<u64>, max: u64| -> Option<u16> {
        match n {
            Some(n) if n <= max => Some(n as u16),
            _ => {
                let at = cx.find(what);
                cx.error(
                    "type-mismatch",
                    format!("`{what}`: the number must be from 0 to {max}"),
                    at,
                );
                None
            }
        }
    };
    Some(match v {
        Value::String(s) => match s.as_str() {
            "allow" => Action::Allow,
            "trap" => Action::Trap,
            "kill_thread" => Action::KillThread,
            "kill_process" | "kill" => Action::KillProcess,
            "log" => Action::Log,
            other => {
                let at = cx.find_name(other);
                cx.error(
                    "unknown-action",
                    format!("unknown seccompiler action `{other}`"),
                    at,
                );
                return None;
            }
        },
        Value::Object(o) if o.len() == 1 => {
            let (k, n) = o.iter().next()?;
            match k.as_str() {
                "errno" => Action::Errno(small(cx, n.as_u64(), 4095)?),
                "trace" => Action::Trace(small(cx, n.as_u64(), 0xffff)?),
                other => {
                    let at = cx.find_name(other);
                    cx.error(
                        "unknown-action",
                        format!("unknown seccompiler action `{other}`"),
                        at,
                    );
                    return None;
                }
            }
        }
        _ => {
            let at = cx.find(what);
            cx.error(
                "unknown-action",
                format!("`{what}` must be an action such as \"allow\" or {{\"errno\": 1}}"),
                at,
            );
            return None;
        }
    })
}

fn guess_arch(name: &str) -> Option<Arch> {
    let lower = name.to_ascii_lowercase();
    if lower.contains("x86_64") || lower.contains("amd64") {
        Some(Arch::X86_64)
    } else if lower.contains("aarch64") || lower.contains("arm64") {
        Some(Arch::Aarch64)
    } else if lower.contains("riscv64") {
        Some(Arch::Riscv64)
    } else {
        None
    }
}

pub(crate) fn import(cx: &mut Cx, opts: &ImportOptions) -> Option<Gen> {
    let v = cx.json()?;
    let Value::Object(map) = v else {
        let at = crate::source::Location::new(&cx.file, 0..0);
        cx.error(
            "type-mismatch",
            "a seccompiler file is an object of named filters",
            at,
        );
        return None;
    };
    let names: Vec<String> = map.keys().cloned().collect();
    let fname = match (&opts.filter, names.len()) {
        (Some(f), _) if map.contains_key(f) => f.clone(),
        (None, 1) => names[0].clone(),
        (f, _) => {
            let at = crate::source::Location::new(&cx.file, 0..0);
            cx.push(
                Diagnostic::error(
                    "missing-key",
                    match f {
                        Some(f) => format!("no filter named `{f}` in this file"),
                        None => format!("this file holds {} filters; pick one", names.len()),
                    },
                    at,
                )
                .with_help(format!("pass --filter NAME, one of: {}", names.join(", "))),
            );
            return None;
        }
    };
    let filter: Filter = cx.decode(map[&fname].clone(), "seccompiler filter")?;
    let default_action = action(cx, &filter.default_action, "default_action")?;
    let filter_action = action(cx, &filter.filter_action, "filter_action")?;
    let arch = opts.arch.or_else(|| guess_arch(&cx.file.name));
    let source = cx.short_name();
    let mut rules = Vec::new();
    let mut from_pos = cx.find(&format!("\"{fname}\"")).range.end;
    for (i, e) in filter.filter.iter().enumerate() {
        let from = format!("{fname}.filter[{i}]");
        let at = cx.find_after(&format!("\"{}\"", e.syscall), from_pos);
        from_pos = at.range.end;
        let syscall = e.syscall.clone();
        let known = match arch {
            Some(a) => a.table().nr(&syscall).is_some(),
            None => super::known_syscall(&syscall),
        };
        if !known {
            let mut d = Diagnostic::error(
                "unknown-syscall",
                format!(
                    "{from}: `{}` is not a syscall{}",
                    e.syscall,
                    arch.map(|a| format!(" on {a}")).unwrap_or_default()
                ),
                at,
            );
            d.help = crate::resolve::syscall_suggestion(&e.syscall)
                .or_else(|| Some("pass --arch for the filter's target architecture".into()));
            cx.push(d);
            continue;
        }
        let mut parts = Vec::new();
        for c in e.args.iter().flatten() {
            let dword = match c.kind.as_str() {
                "dword" => true,
                "qword" => false,
                other => {
                    let at = cx.find_name(other);
                    cx.error(
                        "type-mismatch",
                        format!("{from}: argument type `{other}` (dword or qword)"),
                        at,
                    );
                    continue;
                }
            };
            if c.index > 5 {
                cx.error(
                    "arg-index-out-of-range",
                    format!("{from}: argument index {} does not exist (0 to 5)", c.index),
                    at.clone(),
                );
                continue;
            }
            let (op, mask) = match &c.op {
                Value::String(s) => match s.as_str() {
                    "eq" => ("==", None),
                    "ne" => ("!=", None),
                    "lt" => ("<", None),
                    "le" => ("<=", None),
                    "gt" => (">", None),
                    "ge" => (">=", None),
                    other => {
                        cx.error(
                            "invalid-expression",
                            format!("{from}: unknown comparison `{other}`"),
                            at.clone(),
                        );
                        continue;
                    }
                },
                Value::Object(o)
                    if o.len() == 1 && o.get("masked_eq").is_some_and(Value::is_u64) =>
                {
                    ("==", o["masked_eq"].as_u64())
                }
                other => {
                    cx.error(
                        "invalid-expression",
                        format!("{from}: unknown comparison `{other}`"),
                        at.clone(),
                    );
                    continue;
                }
            };
            if dword
                && (c.val > u64::from(u32::MAX) || mask.is_some_and(|m| m > u64::from(u32::MAX)))
            {
                cx.error(
                    "constant-out-of-range",
                    format!("{from}: a dword comparison takes values up to 0xffffffff"),
                    at.clone(),
                );
                continue;
            }
            parts.push(cmp_text(c.index, op, c.val, mask, dword));
        }
        rules.push(GenRule {
            from,
            names: vec![syscall],
            action: Some(filter_action),
            when: (!parts.is_empty()).then(|| parts.join(" && ")),
            comment: e.comment.clone().filter(|c| !c.trim().is_empty()),
            ..GenRule::default()
        });
    }
    if cx.diags.iter().any(Diagnostic::is_error) {
        return None;
    }
    let mut notes = Vec::new();
    if filter_action == default_action {
        notes.push("filter_action equals default_action: the rules change nothing.".into());
    }
    Some(Gen {
        header: vec![
            format!("Imported from {source} (seccompiler filter `{fname}`) by `rampart convert`."),
            "Entries for one syscall are alternatives (any match returns the filter action)."
                .into(),
        ],
        name: Some(fname.clone()),
        seccomp: Some(GenSeccomp {
            default_action,
            architectures: vec![
                arch.map_or_else(|| "native".to_string(), |a| a.name().to_string()),
            ],
            arch_comment: None,
            // seccompiler returns the default action for every other number.
            unknown_action: default_action,
            tsync: false,
            log: false,
            rules,
            notes,
        }),
        ..Gen::default()
    })
}
