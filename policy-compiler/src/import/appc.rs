//! rkt/appc isolators, from an image manifest (`acKind: ImageManifest`,
//! `app.isolators`) or a pod manifest (`acKind: PodManifest`: pod-level
//! `isolators` plus the chosen app's, the app's winning by name; `--filter`
//! picks the app when there are several).
//!
//! | isolator | rampart |
//! |---|---|
//! | `os/linux/seccomp-retain-set {set, errno}` | allow the set; everything else `errno(ERRNO)`, or `kill-process` without `errno` |
//! | `os/linux/seccomp-remove-set {set, errno}` | the set gets `errno(ERRNO)` or `kill-process`; everything else is allowed |
//! | `os/linux/capabilities-retain-set {set}` | exactly the set in bounding, permitted and effective |
//! | `os/linux/capabilities-remove-set {set}` | the runtime default set minus the set (`drop`) |
//! | `os/linux/no-new-privileges` | `noNewPrivileges` |
//! | `os/linux/selinux-context {user, role, type, level}` | `selinux` |
//!
//! Without `errno`, rkt let systemd's seccomp filter end the process with
//! SIGSYS; that is `kill-process` (the process dies of SIGSYS and cannot catch
//! it), not `trap` (a SIGSYS the process could handle and survive).
//!
//! Set entries are syscall names or groups: `@docker/default-whitelist`,
//! `@rkt/default-whitelist`, `@systemd/<name>` and every other rampart group
//! (`rampart groups`); `@appc.io/all` is every syscall. Unknown names and
//! groups are errors (rkt silently ignored unknown groups). A retain-set and a
//! remove-set of the same kind cannot both be given.

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::groups::GroupSet;
use crate::seccomp::ir::Action;

use super::{Cx, Gen, GenCaps, GenRule, GenSeccomp, ImportOptions, unknown_action_for};

const SECCOMP_RETAIN: &str = "os/linux/seccomp-retain-set";
const SECCOMP_REMOVE: &str = "os/linux/seccomp-remove-set";
const CAPS_RETAIN: &str = "os/linux/capabilities-retain-set";
const CAPS_REMOVE: &str = "os/linux/capabilities-remove-set";
const NNP: &str = "os/linux/no-new-privileges";
const SELINUX: &str = "os/linux/selinux-context";
const ALL: &str = "@appc.io/all";

fn isolators(v: Option<&Value>) -> Vec<(String, Value)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i.get("name")?.as_str()?.to_string(),
                i.get("value").cloned().unwrap_or(Value::Null),
            ))
        })
        .collect()
}

pub(crate) fn import(cx: &mut Cx, opts: &ImportOptions) -> Option<Gen> {
    let v = cx.json()?;
    let kind = v.get("acKind").and_then(Value::as_str).unwrap_or("");
    let source = cx.short_name();
    let (list, what) = match kind {
        "ImageManifest" => {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("image");
            (
                isolators(v.pointer("/app/isolators")),
                format!("image `{name}`"),
            )
        }
        "PodManifest" => {
            let apps: Vec<&Value> = v
                .get("apps")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let names: Vec<String> = apps
                .iter()
                .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_string))
                .collect();
            let app = match &opts.filter {
                Some(f) => apps
                    .iter()
                    .find(|a| a.get("name").and_then(Value::as_str) == Some(f.as_str())),
                None if apps.len() == 1 => apps.first(),
                None => None,
            };
            let Some(app) = app else {
                let at = cx.find("\"apps\"");
                cx.push(
                    Diagnostic::error(
                        "missing-key",
                        match &opts.filter {
                            Some(f) => format!("no app named `{f}` in this pod manifest"),
                            None => format!("this pod manifest has {} apps; pick one", apps.len()),
                        },
                        at,
                    )
                    .with_help(format!("pass --filter NAME, one of: {}", names.join(", "))),
                );
                return None;
            };
            let mut list = isolators(v.get("isolators"));
            for (n, val) in isolators(app.pointer("/app/isolators")) {
                list.retain(|(m, _)| *m != n);
                list.push((n, val));
            }
            let name = app.get("name").and_then(Value::as_str).unwrap_or("app");
            (list, format!("pod app `{name}`"))
        }
        other => {
            let at = cx.find("\"acKind\"");
            cx.error(
                "type-mismatch",
                format!("expected acKind ImageManifest or PodManifest, found `{other}`"),
                at,
            );
            return None;
        }
    };
    let mut g = Gen {
        header: vec![format!(
            "Imported from {source} (appc {what} isolators) by `rampart convert`."
        )],
        ..Gen::default()
    };
    let has = |n: &str| list.iter().any(|(m, _)| m == n);
    for (a, b) in [(SECCOMP_RETAIN, SECCOMP_REMOVE), (CAPS_RETAIN, CAPS_REMOVE)] {
        if has(a) && has(b) {
            let at = cx.find(b);
            cx.push(
                Diagnostic::error(
                    "import-conflicting-isolators",
                    format!("`{a}` and `{b}` are mutually exclusive"),
                    at,
                )
                .with_secondary(cx.find(a), "the other one"),
            );
        }
    }
    if cx.diags.iter().any(Diagnostic::is_error) {
        return None;
    }
    let groups = GroupSet::builtin();
    for (name, val) in &list {
        match name.as_str() {
            SECCOMP_RETAIN | SECCOMP_REMOVE => {
                g.seccomp = seccomp(cx, name, val, &groups);
            }
            CAPS_RETAIN | CAPS_REMOVE => {
                let set = caps(cx, name, val)?;
                g.capabilities = Some(if name == CAPS_RETAIN {
                    GenCaps::Only(set)
                } else {
                    GenCaps::Drop(set)
                });
            }
            NNP => match val.as_bool() {
                Some(b) => g.no_new_privileges = Some(b),
                None => {
                    let at = cx.find(NNP);
                    cx.error("type-mismatch", format!("`{NNP}` takes true or false"), at);
                }
            },
            SELINUX => {
                let mut given = false;
                for key in ["user", "role", "type", "level"] {
                    let Some(s) = val.get(key).and_then(Value::as_str) else {
                        continue;
                    };
                    given = true;
                    match crate::selinux::check_part(key, s) {
                        Ok(()) => g.selinux.push((key, s.to_string())),
                        Err(e) => {
                            let at = cx.find_name(s);
                            cx.error(
                                "selinux-label-syntax",
                                format!(
                                    "invalid SELinux {key} `{s}` in `{SELINUX}`: {}",
                                    e.message
                                ),
                                at,
                            );
                        }
                    }
                }
                if !given {
                    let at = cx.find(SELINUX);
                    cx.error(
                        "type-mismatch",
                        format!("`{SELINUX}` needs user, role, type and/or level"),
                        at,
                    );
                }
            }
            other => {
                let at = cx.find_name(other);
                cx.warn(
                    "import-unsupported",
                    format!("isolator `{other}` has no rampart equivalent; it is left out"),
                    at,
                );
            }
        }
    }
    if cx.diags.iter().any(Diagnostic::is_error) {
        return None;
    }
    Some(g)
}

fn strings(cx: &mut Cx, name: &str, val: &Value) -> Option<Vec<String>> {
    let set = val.get("set").and_then(Value::as_array);
    let out: Option<Vec<String>> = set.map(|s| {
        s.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    });
    match out {
        Some(o) if !o.is_empty() && o.len() == set.map_or(0, Vec::len) => Some(o),
        _ => {
            let at = cx.find(name);
            cx.error(
                "type-mismatch",
                format!("`{name}` needs a non-empty `set` of strings"),
                at,
            );
            None
        }
    }
}

fn caps(cx: &mut Cx, name: &str, val: &Value) -> Option<Vec<String>> {
    let names = strings(cx, name, val)?;
    Some(cx.capabilities(&names))
}

fn seccomp(cx: &mut Cx, name: &str, val: &Value, groups: &GroupSet) -> Option<GenSeccomp> {
    let retain = name == SECCOMP_RETAIN;
    let set = strings(cx, name, val)?;
    let deny = match val.get("errno") {
        None | Some(Value::Null) => Action::KillProcess,
        Some(Value::String(e)) => match crate::consts::errno(e) {
            Some(n) => Action::Errno(n),
            None => {
                let at = cx.find_name(e);
                let mut d = Diagnostic::error("unknown-errno", format!("unknown errno `{e}`"), at);
                d.help = crate::suggest::did_you_mean(e, crate::consts::errno_names());
                cx.push(d);
                return None;
            }
        },
        Some(_) => {
            let at = cx.find("\"errno\"");
            cx.error(
                "type-mismatch",
                "`errno` is an errno name such as \"ENOSYS\"",
                at,
            );
            return None;
        }
    };
    let mut names = Vec::new();
    let mut all = false;
    for s in set {
        if s == ALL {
            all = true;
        } else if let Some(gname) = s.strip_prefix('@') {
            if groups.get(gname).is_some() {
                names.push(s.clone());
            } else {
                let at = cx.find_name(&s);
                let mut d =
                    Diagnostic::error("unknown-group", format!("unknown syscall group `{s}`"), at);
                let keys: Vec<String> = groups
                    .groups()
                    .iter()
                    .flat_map(|g| std::iter::once(&g.name).chain(&g.aliases))
                    .map(|n| n.value.clone())
                    .collect();
                d.help = Some(match crate::suggest::closest(gname, keys.iter().map(String::as_str)) {
                    Some(x) => format!("did you mean `@{x}`? `rampart groups` lists the groups"),
                    None => "`rampart groups` lists the groups (rkt ignored unknown groups; rampart does not)".into(),
                });
                cx.push(d);
            }
        } else if super::known_syscall(&s) {
            names.push(s);
        } else {
            let at = cx.find_name(&s);
            let mut d = Diagnostic::error("unknown-syscall", format!("unknown syscall `{s}`"), at);
            d.help = crate::resolve::syscall_suggestion(&s);
            cx.push(d);
        }
    }
    if cx.diags.iter().any(Diagnostic::is_error) {
        return None;
    }
    let (default, rule_action) = if retain {
        (if all { Action::Allow } else { deny }, Action::Allow)
    } else {
        (if all { deny } else { Action::Allow }, deny)
    };
    let mut rules = Vec::new();
    if !all && !names.is_empty() {
        rules.push(GenRule {
            from: format!("isolator {name}"),
            names,
            action: Some(rule_action),
            ..GenRule::default()
        });
    }
    let mut notes = Vec::new();
    if all {
        notes.push(format!(
            "{name} lists {ALL}: every syscall, so only the default action remains."
        ));
    }
    Some(GenSeccomp {
        default_action: default,
        architectures: vec!["native".into()],
        arch_comment: None,
        unknown_action: unknown_action_for(default),
        tsync: false,
        log: false,
        rules,
        notes,
    })
}
