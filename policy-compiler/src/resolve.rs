//! Resolution: a profile reference becomes one effective profile. `extends`
//! chains are loaded (cycles shown hop by hop), sections are inherited from the
//! parent where absent, capabilities become five explicit sets, and the seccomp
//! rules are lowered per architecture into the IR.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arch::Arch;
use crate::capability::{CapSet, CapSets};
use crate::diagnostic::Diagnostic;
use crate::groups::{self, Groups};
use crate::profile::{
    self, ArchSel, CapName, Capabilities, Compatibility, Landlock, Profile, Seccomp, SeccompMode,
    Selinux, SyscallRule, UserNamespace,
};
use crate::reference::{ProfileRef, RefError};
use crate::seccomp::ir::{self, Action, ArchIr, FilterIr, Origin, OriginId};
use crate::source::{Location, SourceFile, Spanned};
use crate::suggest;

/// Everything resolution depends on besides the profile itself.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where `localhost/` references resolve.
    pub profiles_dir: Option<PathBuf>,
    /// Overrides the profile's `architectures`.
    pub arches: Option<Vec<Arch>>,
    /// For `minKernel` selectors.
    pub kernel: (u32, u32),
    /// `/proc/sys/kernel/cap_last_cap` of the machine the policy is for, when known.
    pub cap_last_cap: Option<u32>,
    pub groups: Groups,
}

impl Options {
    /// Options for this machine: its kernel version and capabilities.
    pub fn host() -> Options {
        Options {
            profiles_dir: None,
            arches: None,
            kernel: host_kernel().unwrap_or((6, 0)),
            cap_last_cap: std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            groups: Groups::Builtin,
        }
    }
}

/// The running kernel's `major.minor`.
pub fn host_kernel() -> Option<(u32, u32)> {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut it = s.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// A value with the place that decided it (None: a built-in default).
#[derive(Clone, Debug, PartialEq)]
pub struct Decided<T> {
    pub value: T,
    pub at: Option<Location>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// The effective seccomp section.
#[derive(Clone, Debug)]
pub struct SeccompPlan {
    pub mode: SeccompMode,
    pub default_action: Decided<Action>,
    pub unknown_action: Decided<Action>,
    pub bad_arch_action: Decided<Action>,
    pub arches: Vec<Arch>,
    pub tsync: bool,
    pub log: bool,
    /// Child rules first, then the parent's.
    pub rules: Vec<SyscallRule>,
}

/// One effective profile.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The profile and its ancestors, child first.
    pub chain: Vec<Profile>,
    pub name: String,
    pub no_new_privs: Decided<bool>,
    pub user: Option<UserIds>,
    pub caps: CapSets,
    pub caps_at: Option<Location>,
    pub seccomp: SeccompPlan,
    pub selinux: Option<Selinux>,
    pub landlock: Option<Landlock>,
    pub user_namespace: Option<UserNamespace>,
}

/// Loads a profile reference and its `extends` chain, child first. A failure
/// to load the root is an `Err`; everything else is a diagnostic.
pub fn load_chain(
    root: &ProfileRef,
    base: &Path,
    opts: &Options,
) -> Result<(Vec<Profile>, Vec<Diagnostic>), RefError> {
    let file = root.load(base, opts.profiles_dir.as_deref())?;
    Ok(load_chain_from(file, opts))
}

/// Like [`load_chain`], starting from an already loaded file.
pub fn load_chain_from(file: Arc<SourceFile>, opts: &Options) -> (Vec<Profile>, Vec<Diagnostic>) {
    let mut chain: Vec<Profile> = Vec::new();
    let mut diags = Vec::new();
    let mut next = Some(file);
    while let Some(file) = next.take() {
        let (p, d) = profile::parse(&file);
        diags.extend(d);
        let Some(p) = p else { break };
        if let Some(ext) = &p.extends {
            let dir = Path::new(&file.name)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let loaded = ProfileRef::parse(&ext.value).and_then(|r| {
                // Built-ins extend built-ins only by name; relative paths start at the referring file.
                r.load(&dir, opts.profiles_dir.as_deref())
            });
            match loaded {
                Ok(parent) => {
                    let seen = chain.iter().chain(std::iter::once(&p)).position(|c| c.file.name == parent.name);
                    if let Some(first) = seen {
                        let mut hops: Vec<&Profile> = chain.iter().collect();
                        hops.push(&p);
                        let names: Vec<String> = hops[first..]
                            .iter()
                            .map(|h| h.file.name.clone())
                            .chain(std::iter::once(parent.name.clone()))
                            .collect();
                        let mut d = Diagnostic::error(
                            "extends-cycle",
                            format!("profiles extend each other in a cycle: {}", names.join(" → ")),
                            ext.loc.clone(),
                        )
                        .with_label("this closes the cycle")
                        .with_help("remove one `extends` so the chain ends at a profile without a parent");
                        for h in &hops[first..hops.len() - 1] {
                            if let Some(e) = &h.extends {
                                d = d.with_secondary(e.loc.clone(), format!("{} extends {}", h.file.name, e.value));
                            }
                        }
                        diags.push(d);
                    } else {
                        next = Some(parent);
                    }
                }
                Err(e) => diags.push(
                    Diagnostic::error("extends-not-found", format!("cannot load the parent profile: {e}"), ext.loc.clone())
                        .with_help("name a built-in profile (default, restricted, privileged) or a .yaml path relative to this file"),
                ),
            }
        }
        chain.push(p);
    }
    (chain, diags)
}

fn first<'a, T>(chain: &'a [Profile], f: impl Fn(&'a Profile) -> Option<T>) -> Option<T> {
    chain.iter().find_map(f)
}

fn set_of(names: &[Spanned<CapName>]) -> CapSet {
    names.iter().fold(CapSet::EMPTY, |s, n| match n.value {
        CapName::All => CapSet::all(),
        CapName::One(c) => s.union(CapSet::of([c])),
    })
}

/// Applies one profile's capability section to its parent's sets.
fn apply_caps(
    parent: CapSets,
    c: &Capabilities,
    opts: &Options,
    diags: &mut Vec<Diagnostic>,
) -> CapSets {
    let mut s = parent;
    let explicit = c.bounding.is_some()
        || c.effective.is_some()
        || c.permitted.is_some()
        || c.inheritable.is_some();
    if explicit {
        s.bounding = c.bounding.as_deref().map(set_of).unwrap_or(CapSet::EMPTY);
        s.permitted = c.permitted.as_deref().map(set_of).unwrap_or(CapSet::EMPTY);
        s.effective = c.effective.as_deref().map(set_of).unwrap_or(CapSet::EMPTY);
        s.inheritable = c
            .inheritable
            .as_deref()
            .map(set_of)
            .unwrap_or(CapSet::EMPTY);
        s.ambient = CapSet::EMPTY;
    } else {
        for d in &c.drop {
            let gone = match d.value {
                CapName::All => CapSet::all(),
                CapName::One(cap) => CapSet::of([cap]),
            };
            s.bounding = s.bounding.minus(gone);
            s.permitted = s.permitted.minus(gone);
            s.effective = s.effective.minus(gone);
            s.inheritable = s.inheritable.minus(gone);
            s.ambient = s.ambient.minus(gone);
        }
        for a in &c.add {
            if let CapName::One(cap) = a.value {
                let one = CapSet::of([cap]);
                s.bounding = s.bounding.union(one);
                s.permitted = s.permitted.union(one);
                s.effective = s.effective.union(one);
            }
        }
    }
    if let Some(amb) = &c.ambient {
        s.ambient = CapSet::EMPTY;
        for a in amb {
            let one = CapSet::of([a.value]);
            if !s.bounding.contains(a.value) {
                diags.push(
                    Diagnostic::error(
                        "ambient-not-in-bounding",
                        format!("ambient capability {} is not in the bounding set", crate::capability::short(a.value)),
                        a.loc.clone(),
                    )
                    .with_help("the kernel only raises ambient capabilities the bounding set allows; add it to the bounding set or remove it here"),
                );
                continue;
            }
            // Ambient needs the capability in permitted and inheritable: it is
            // implied unless the author listed those sets explicitly without it.
            for (set, listed, name) in [
                (&mut s.inheritable, c.inheritable.is_some(), "inheritable"),
                (&mut s.permitted, c.permitted.is_some(), "permitted"),
            ] {
                if listed && !set.contains(a.value) {
                    diags.push(
                        Diagnostic::error(
                            "ambient-not-inheritable",
                            format!("ambient capability {} is missing from the {name} set", crate::capability::short(a.value)),
                            a.loc.clone(),
                        )
                        .with_help(format!("the kernel refuses an ambient capability that is not both permitted and inheritable; add it to `{name}`")),
                    );
                } else {
                    *set = set.union(one);
                }
            }
            s.effective = s.effective.union(one);
            s.ambient = s.ambient.union(one);
        }
    }
    if explicit {
        // Ambient is checked capability by capability above, with its own codes.
        for (a, b, extra) in s.broken_invariants() {
            let node = match a {
                "effective" => &c.effective,
                "permitted" => &c.permitted,
                "inheritable" => &c.inheritable,
                _ => continue,
            };
            let at = node
                .as_ref()
                .and_then(|v| v.first())
                .map_or(c.loc.clone(), |n| n.loc.clone());
            diags.push(
                Diagnostic::error(
                    "capability-set-invariant",
                    format!(
                        "the {a} set has {} which the {b} set lacks",
                        extra.names().join(", ")
                    ),
                    at,
                )
                .with_help(format!("every {a} capability must also be {b}")),
            );
        }
    }
    if let Some(last) = opts.cap_last_cap {
        let known = CapSet(if last >= 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        });
        let unknown = s.bounding.union(s.permitted).union(s.ambient).minus(known);
        if unknown != CapSet::EMPTY {
            let best_effort = c
                .compatibility
                .as_ref()
                .is_some_and(|x| x.value == Compatibility::BestEffort);
            let msg = format!(
                "this kernel does not know {} (cap_last_cap is {last})",
                unknown.names().join(", ")
            );
            let at = c
                .compatibility
                .as_ref()
                .map_or(c.loc.clone(), |x| x.loc.clone());
            if best_effort {
                diags.push(Diagnostic::warning(
                    "capability-not-in-kernel",
                    msg + "; they are left out",
                    at,
                ));
                s.bounding = s.bounding.intersect(known);
                s.permitted = s.permitted.intersect(known);
                s.effective = s.effective.intersect(known);
                s.inheritable = s.inheritable.intersect(known);
                s.ambient = s.ambient.intersect(known);
            } else {
                diags.push(
                    Diagnostic::error("capability-not-in-kernel", msg, at)
                        .with_help("remove them, or set `compatibility: best-effort` to leave them out on older kernels"),
                );
            }
        }
    }
    s
}

/// Resolves a loaded chain (child first) into one effective profile.
pub fn resolve_chain(chain: Vec<Profile>, opts: &Options) -> (Resolved, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    // Capabilities: from the root ancestor down; a root without a section
    // gets the runtime default, never "keep everything".
    let mut caps = CapSets::runtime_default();
    let mut caps_at = None;
    for p in chain.iter().rev() {
        if let Some(c) = &p.capabilities {
            caps = apply_caps(caps, c, opts, &mut diags);
            caps_at = Some(c.loc.clone());
        }
    }
    let nnp = first(&chain, |p| p.no_new_privileges.clone()).map_or(
        Decided {
            value: true,
            at: None,
        },
        |s| Decided {
            value: s.value,
            at: Some(s.loc),
        },
    );
    let user = chain.iter().find_map(|p| p.user.as_ref()).map(|u| {
        let uid =
            first(&chain, |p| p.user.as_ref().and_then(|u| u.uid.clone())).map_or(0, |s| s.value);
        let gid =
            first(&chain, |p| p.user.as_ref().and_then(|u| u.gid.clone())).map_or(uid, |s| s.value);
        let groups = first(&chain, |p| p.user.as_ref().and_then(|u| u.groups.clone()))
            .map(|g| g.into_iter().map(|s| s.value).collect())
            .unwrap_or_default();
        let _ = u;
        UserIds { uid, gid, groups }
    });
    let sec = |f: fn(&Seccomp) -> Option<Spanned<Action>>| {
        first(&chain, |p| p.seccomp.as_ref().and_then(f)).map(|s| Decided {
            value: s.value,
            at: Some(s.loc),
        })
    };
    let default_action = sec(|s| s.default_action.clone()).unwrap_or(Decided {
        value: Action::Errno(libc::EPERM as u16),
        at: None,
    });
    let unknown_action = sec(|s| s.unknown_syscall_action.clone()).unwrap_or(Decided {
        value: Action::Errno(libc::ENOSYS as u16),
        at: None,
    });
    let bad_arch_action = sec(|s| s.bad_arch_action.clone()).unwrap_or(Decided {
        value: Action::KillProcess,
        at: None,
    });
    let mode = first(&chain, |p| p.seccomp.as_ref().and_then(|s| s.mode.clone()))
        .map_or(SeccompMode::Filter, |m| m.value);
    let arches = match &opts.arches {
        Some(a) => a.clone(),
        None => {
            let sel = first(&chain, |p| {
                p.seccomp.as_ref().and_then(|s| s.architectures.clone())
            })
            .unwrap_or_else(|| vec![Spanned::new(ArchSel::Native, chain[0].loc.clone())]);
            let mut out = Vec::new();
            for s in sel {
                let add = match s.value {
                    ArchSel::Native => Arch::native().with_compat(),
                    ArchSel::Arch(a) => vec![a],
                };
                for a in add {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
            out
        }
    };
    let tsync = first(&chain, |p| p.seccomp.as_ref().and_then(|s| s.tsync.clone()))
        .is_some_and(|s| s.value);
    let log =
        first(&chain, |p| p.seccomp.as_ref().and_then(|s| s.log.clone())).is_some_and(|s| s.value);
    let rules = chain
        .iter()
        .flat_map(|p| p.seccomp.iter().flat_map(|s| s.syscalls.iter().cloned()))
        .collect();
    let name = chain
        .first()
        .and_then(|p| p.name.as_ref().map(|n| n.value.clone()))
        .unwrap_or_else(|| {
            chain
                .first()
                .map(|p| p.file.name.clone())
                .unwrap_or_default()
        });
    let resolved = Resolved {
        name,
        no_new_privs: nnp,
        user,
        caps,
        caps_at,
        seccomp: SeccompPlan {
            mode,
            default_action,
            unknown_action,
            bad_arch_action,
            arches,
            tsync,
            log,
            rules,
        },
        selinux: first(&chain, |p| p.selinux.clone()),
        landlock: first(&chain, |p| p.landlock.clone()),
        user_namespace: first(&chain, |p| p.user_namespace.clone()),
        chain,
    };
    (resolved, diags)
}

/// "did you mean" over every syscall name of every architecture.
pub fn syscall_suggestion(name: &str) -> Option<String> {
    let all: Vec<&str> = Arch::ALL
        .iter()
        .flat_map(|a| a.table().iter().map(|e| e.0))
        .collect();
    suggest::did_you_mean(name, all)
}

/// Whether a rule's compile-time selectors hold for `arch`.
pub fn rule_applies(rule: &SyscallRule, arch: Arch, caps: &CapSets, kernel: (u32, u32)) -> bool {
    (rule.arches.is_empty() || rule.arches.iter().any(|a| a.value == arch))
        && rule
            .if_capability
            .iter()
            .all(|c| caps.bounding.contains(c.value))
        && !rule
            .unless_capability
            .iter()
            .any(|c| caps.bounding.contains(c.value))
        && rule.min_kernel.as_ref().is_none_or(|m| kernel >= m.value)
}

fn summary(rule: &SyscallRule) -> String {
    let names: Vec<&str> = rule.names.iter().map(|n| n.value.as_str()).collect();
    let list = if names.len() > 4 {
        format!("{}, … ({} names)", names[..3].join(", "), names.len())
    } else {
        names.join(", ")
    };
    let action = action_text(rule.action.value);
    match &rule.when {
        Some(w) => format!("{action} {list} when {}", w.text),
        None => format!("{action} {list}"),
    }
}

/// The profile-language spelling of an action.
pub fn action_text(a: Action) -> String {
    match a {
        Action::Allow => "allow".into(),
        Action::Errno(e) => match crate::consts::errno_name(e) {
            Some(n) => format!("errno({n})"),
            None => format!("errno({e})"),
        },
        Action::KillProcess => "kill-process".into(),
        Action::KillThread => "kill-thread".into(),
        Action::Trap => "trap".into(),
        Action::Log => "log".into(),
        Action::Trace(n) => format!("trace({n})"),
        Action::Notify => "notify".into(),
    }
}

fn origin(loc: &Location, summary: String) -> Origin {
    Origin {
        file: loc.file.name.clone(),
        line: loc.line() as u32,
        summary,
    }
}

/// Lowers the effective seccomp rules into the IR, one `ArchIr` per arch.
/// Returns `None` for an unconfined profile or when there are errors.
pub fn lower_seccomp(r: &Resolved, opts: &Options) -> (Option<FilterIr>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let plan = &r.seccomp;
    if plan.mode == SeccompMode::Unconfined {
        return (None, diags);
    }
    let mut origins = Vec::new();
    let mut per_arch: BTreeMap<Arch, BTreeMap<u32, Vec<ir::Rule>>> =
        plan.arches.iter().map(|&a| (a, BTreeMap::new())).collect();
    for rule in &plan.rules {
        let oid = OriginId(origins.len() as u32);
        origins.push(origin(&rule.loc, summary(rule)));
        // Names, groups expanded; direct names are checked here once.
        let mut names: Vec<(String, bool, Location)> = Vec::new();
        for n in &rule.names {
            if n.value.starts_with('@') {
                match opts.groups.expand(&n.value) {
                    Ok(list) => {
                        names.extend(list.into_iter().map(|s| (s.value, false, n.loc.clone())))
                    }
                    Err(e) => diags.push(groups::expand_error(&e, n.loc.clone())),
                }
            } else {
                names.push((n.value.clone(), true, n.loc.clone()));
            }
        }
        let applies: Vec<Arch> = plan
            .arches
            .iter()
            .copied()
            .filter(|&a| rule_applies(rule, a, &r.caps, opts.kernel))
            .collect();
        for (name, direct, loc) in &names {
            if !direct {
                continue;
            }
            if !Arch::ALL.iter().any(|a| a.table().nr(name).is_some()) {
                let mut d = Diagnostic::error(
                    "unknown-syscall",
                    format!("unknown syscall `{name}`"),
                    loc.clone(),
                );
                d.help = syscall_suggestion(name).or_else(|| {
                    Some(
                        "syscall names are those of the kernel's syscall tables, e.g. `openat`"
                            .into(),
                    )
                });
                diags.push(d);
                continue;
            }
            let missing: Vec<&str> = applies
                .iter()
                .filter(|a| a.table().nr(name).is_none())
                .map(|a| a.name())
                .collect();
            if !missing.is_empty()
                && !rule
                    .acknowledge
                    .iter()
                    .any(|a| a.value == "syscall-not-on-arch")
            {
                let mut d = Diagnostic::warning(
                    "syscall-not-on-arch",
                    format!(
                        "`{name}` does not exist on {}; the rule does not cover it there",
                        missing.join(", ")
                    ),
                    loc.clone(),
                );
                d.help = Some("add the architecture's equivalent (e.g. `mkdirat` for `mkdir` on aarch64), or list the rule's `arches`".into());
                diags.push(d);
            }
        }
        let cond = rule
            .when
            .as_ref()
            .map_or(ir::Cond::True, |w| w.cond.clone());
        for &arch in &applies {
            let table = per_arch
                .get_mut(&arch)
                .expect("every requested arch has a table");
            let mut seen = std::collections::HashSet::new();
            for (name, _, _) in &names {
                if let Some(nr) = arch.table().nr(name)
                    && seen.insert(nr)
                {
                    table.entry(nr).or_default().push(ir::Rule {
                        cond: cond.clone(),
                        action: rule.action.value,
                        origin: Some(oid),
                    });
                }
            }
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    let default_origin = plan.default_action.at.as_ref().map(|loc| {
        let id = OriginId(origins.len() as u32);
        origins.push(origin(
            loc,
            format!("defaultAction: {}", action_text(plan.default_action.value)),
        ));
        id
    });
    let arches = per_arch
        .into_iter()
        .map(|(arch, mut syscalls)| {
            // Numbers the table knows above its regular range (ARM's private
            // calls) are known syscalls: the default action, not "unknown".
            for (_, nr) in arch.table().iter().filter(|e| e.1 > arch.table().max_nr()) {
                syscalls.entry(nr).or_default();
            }
            (arch, syscalls)
        })
        .map(|(arch, syscalls)| ArchIr {
            arch,
            syscalls,
            default_action: plan.default_action.value,
            default_origin,
            max_known_nr: arch.table().max_nr(),
            unknown_action: plan.unknown_action.value,
        })
        .collect::<Vec<_>>();
    // Keep the requested order (dispatch checks the first arch first).
    let mut ordered = Vec::new();
    for a in &plan.arches {
        if let Some(x) = arches.iter().find(|x| x.arch == *a) {
            ordered.push(x.clone());
        }
    }
    (
        Some(FilterIr {
            arches: ordered,
            bad_arch_action: plan.bad_arch_action.value,
            origins,
        }),
        diags,
    )
}
