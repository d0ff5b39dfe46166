//! `rampart lint`: every finding about a profile, each with a stable code.
//!
//! Parsing, decoding and resolution already report the structural problems
//! (their codes are listed in [`RULES`] too); this module adds the semantic
//! rules that look at the effective profile and its lowered filter, so they
//! judge what the kernel will actually enforce rather than the text.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::arch::Arch;
use crate::capability::{CapSet, Capability};
use crate::diagnostic::{Diagnostic, Severity};
use crate::groups::{self, GroupSet};
use crate::profile::{CapName, Profile, SeccompMode, SyscallRule, UsernsMode};
use crate::resolve::{self, Options, Resolved};
use crate::seccomp::ir::{Action, Cond, FilterIr, Width};
use crate::source::{Location, SourceFile};

/// Every diagnostic code rampart emits, with the reason it exists.
pub const RULES: &[(&str, &str)] = &[
    ("yaml-syntax", "the file is not valid YAML"),
    (
        "multiple-documents",
        "a profile file holds one document; a second one would be silently ignored by other tools",
    ),
    (
        "yaml-too-large",
        "alias expansion beyond a fixed budget (\"billion laughs\") is refused",
    ),
    ("yaml-too-deep", "nesting beyond 64 levels is refused"),
    (
        "duplicate-key",
        "YAML parsers disagree on which duplicate wins; a security setting must not depend on that",
    ),
    (
        "unknown-key",
        "a misspelled key would otherwise be ignored and its protection silently lost",
    ),
    ("missing-key", "a required key is absent"),
    (
        "type-mismatch",
        "a value of the wrong type cannot mean what the author intended",
    ),
    (
        "unsupported-version",
        "a profile for another language version could mean something else",
    ),
    (
        "unknown-syscall",
        "rkt silently ignored unknown names; a typo must not open or close a hole unnoticed",
    ),
    (
        "syscall-not-on-arch",
        "a syscall missing on some architectures leaves those architectures uncovered by the rule",
    ),
    (
        "unknown-group",
        "an unknown group would otherwise expand to nothing",
    ),
    (
        "duplicate-group",
        "two definitions of one group make its meaning depend on load order",
    ),
    (
        "group-cycle",
        "groups that include each other have no meaning",
    ),
    (
        "unknown-capability",
        "a misspelled capability would otherwise be ignored",
    ),
    (
        "unknown-errno",
        "the errno an app sees decides whether it falls back or fails",
    ),
    (
        "unknown-action",
        "the action must be one the kernel implements",
    ),
    (
        "unknown-arch",
        "an architecture rampart has no table for cannot be filtered",
    ),
    (
        "unknown-constant",
        "a misspelled constant would make a condition compare against nothing",
    ),
    (
        "unknown-access-right",
        "a misspelled Landlock right would otherwise be dropped",
    ),
    (
        "invalid-expression",
        "a condition seccomp cannot evaluate must be rejected, not approximated",
    ),
    (
        "arg-index-out-of-range",
        "syscalls have six arguments, arg0 to arg5",
    ),
    (
        "constant-out-of-range",
        "a constant wider than the comparison can never match",
    ),
    (
        "capabilities-mixed-forms",
        "mixing add/drop with explicit sets makes the result depend on evaluation order",
    ),
    (
        "capability-set-invariant",
        "the kernel requires effective ⊆ permitted ⊆ bounding",
    ),
    (
        "capability-not-in-kernel",
        "the running kernel does not know the capability",
    ),
    (
        "ambient-not-in-bounding",
        "the kernel never raises an ambient capability the bounding set lacks",
    ),
    (
        "ambient-not-inheritable",
        "ambient capabilities must be permitted and inheritable, or the kernel refuses them",
    ),
    (
        "redundant-capability",
        "`ALL` already covers the other names",
    ),
    (
        "extends-cycle",
        "profiles that extend each other have no effective value",
    ),
    ("extends-not-found", "the parent profile cannot be loaded"),
    (
        "shadowed-rule",
        "an earlier rule always decides first, so this rule never takes effect",
    ),
    (
        "conflicting-rules",
        "two rules decide the same calls differently; only the first one counts",
    ),
    (
        "dangerous-syscall",
        "the syscall is a known container-escape or kernel-attack surface",
    ),
    (
        "dangerous-capability",
        "the capability grants near-root power or a known escape path",
    ),
    (
        "missing-exec-essentials",
        "without execve, exit_group and rt_sigreturn the app cannot start, exit or return from signals",
    ),
    (
        "kill-thread",
        "killing one thread leaves the process running in an inconsistent state; kill the process",
    ),
    (
        "legacy-pair-incomplete",
        "glibc uses the legacy call (mkdir) on x86_64 and the *at call (mkdirat) elsewhere; handle both",
    ),
    (
        "ioctl-64bit-compare",
        "the kernel truncates ioctl's command to 32 bits, so 64-bit comparisons can be bypassed (CVE-2019-10063)",
    ),
    (
        "no-new-privileges-off",
        "without no_new_privs, setuid binaries can regain privileges",
    ),
    (
        "seccomp-unconfined",
        "the app runs without any syscall filter",
    ),
    (
        "selinux-label-syntax",
        "the label must parse as user:role:type:level",
    ),
    (
        "landlock-relative-path",
        "Landlock rules need absolute paths; a relative one depends on the working directory",
    ),
    (
        "userns-map-overlap",
        "overlapping or invalid ID ranges are refused by the kernel",
    ),
    (
        "pss-baseline",
        "the Pod Security Standards baseline policy forbids this",
    ),
    (
        "pss-restricted",
        "the Pod Security Standards restricted policy forbids this",
    ),
];

/// Codes emitted outside `rampart lint` (importers, Kubernetes resolution,
/// policy building), with their reasons; tested where they are emitted.
pub const OTHER_CODES: &[(&str, &str)] = &[
    (
        "import-unsupported",
        "the foreign profile uses a feature rampart cannot express exactly, so it is refused rather than approximated",
    ),
    (
        "import-semantics",
        "the foreign format's own semantics differ from what the text suggests (e.g. runc ORs repeated argument indices)",
    ),
    (
        "import-conflicting-isolators",
        "appc's retain and remove sets are mutually exclusive",
    ),
    (
        "deprecated-annotation",
        "the seccomp alpha annotations are deprecated in Kubernetes; use securityContext.seccompProfile",
    ),
    (
        "localhost-path",
        "a Localhost profile path must stay inside the profiles directory",
    ),
    (
        "run-as-root",
        "runAsNonRoot is set but the effective user is root",
    ),
    (
        "policy-invalid",
        "the effective profile breaks an invariant of the enforcer's policy",
    ),
    (
        "selinux-level-auto",
        "`level: auto` is allocated per pod by `rampart run`, so a static compile cannot contain it",
    ),
    (
        "selinux-label-not-in-policy",
        "the host's loaded SELinux policy does not define the label's user, role, type or categories (checked with the `selinux` cargo feature)",
    ),
];

/// Every code: lint rules first, then the others (for SARIF's rule table).
pub fn all_codes() -> Vec<(&'static str, &'static str)> {
    RULES.iter().chain(OTHER_CODES).copied().collect()
}

/// Pod Security Standards level for `--pss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pss {
    Baseline,
    Restricted,
}

/// Syscalls that are dangerous to allow, with the reason.
const DANGEROUS: &[(&str, &str)] = &[
    (
        "io_uring_setup",
        "io_uring submissions run kernel operations that seccomp never sees",
    ),
    (
        "io_uring_enter",
        "io_uring submissions run kernel operations that seccomp never sees",
    ),
    (
        "io_uring_register",
        "io_uring submissions run kernel operations that seccomp never sees",
    ),
    (
        "bpf",
        "loads programs into the kernel: a large attack surface",
    ),
    (
        "userfaultfd",
        "lets exploits stall the kernel at will to win races",
    ),
    ("keyctl", "the kernel keyring is not namespaced"),
    ("add_key", "the kernel keyring is not namespaced"),
    ("request_key", "the kernel keyring is not namespaced"),
    (
        "ptrace",
        "reads and writes other processes and bypassed seccomp before Linux 4.8",
    ),
    ("process_vm_readv", "reads other processes' memory"),
    ("process_vm_writev", "writes other processes' memory"),
    (
        "perf_event_open",
        "exposes kernel side channels and has a long exploit history",
    ),
    ("mount", "changes the mount table"),
    ("umount", "changes the mount table"),
    ("umount2", "changes the mount table"),
    ("pivot_root", "changes the root of the mount namespace"),
    ("fsopen", "changes the mount table"),
    ("fsmount", "changes the mount table"),
    ("move_mount", "changes the mount table"),
    ("open_tree", "changes the mount table"),
    (
        "unshare",
        "creates namespaces, exposing kernel code paths meant for root",
    ),
    ("setns", "enters other namespaces"),
    ("kexec_load", "replaces the running kernel"),
    ("kexec_file_load", "replaces the running kernel"),
    ("init_module", "loads kernel code"),
    ("finit_module", "loads kernel code"),
    ("delete_module", "unloads kernel code"),
    (
        "open_by_handle_at",
        "opens host files by handle outside the container's mounts (the \"shocker\" escape)",
    ),
    ("reboot", "reboots the host"),
    ("swapon", "changes host swap"),
    ("swapoff", "changes host swap"),
    ("acct", "switches host process accounting"),
    ("iopl", "grants raw I/O port access"),
    ("ioperm", "grants raw I/O port access"),
    ("lookup_dcookie", "exposes kernel pointers"),
    ("uselib", "obsolete, with a history of exploits"),
    ("nfsservctl", "obsolete"),
];

const DANGEROUS_CAPS: &[(Capability, &str)] = &[
    (
        Capability::CAP_SYS_ADMIN,
        "is close to full root: mounts, namespaces, many escapes",
    ),
    (
        Capability::CAP_SYS_PTRACE,
        "can inspect and modify other processes",
    ),
    (Capability::CAP_SYS_MODULE, "can load kernel modules"),
    (
        Capability::CAP_DAC_READ_SEARCH,
        "enables open_by_handle_at, the \"shocker\" escape",
    ),
    (
        Capability::CAP_NET_ADMIN,
        "reconfigures the network stack and exposes a large kernel surface",
    ),
    (Capability::CAP_BPF, "loads BPF programs into the kernel"),
    (Capability::CAP_PERFMON, "exposes kernel side channels"),
    (
        Capability::CAP_SYS_RAWIO,
        "grants raw device and I/O port access",
    ),
    (Capability::CAP_SYS_BOOT, "can reboot the host"),
    (Capability::CAP_SYS_TIME, "changes the host clock"),
    (Capability::CAP_MAC_ADMIN, "reconfigures the LSM"),
    (Capability::CAP_MAC_OVERRIDE, "bypasses the LSM"),
    (
        Capability::CAP_SYSLOG,
        "reads kernel logs with kernel pointers",
    ),
];

/// Legacy calls and their `*at`/newer forms.
const LEGACY_PAIRS: &[(&str, &str)] = &[
    ("mkdir", "mkdirat"),
    ("open", "openat"),
    ("creat", "openat"),
    ("rename", "renameat2"),
    ("unlink", "unlinkat"),
    ("rmdir", "unlinkat"),
    ("chmod", "fchmodat"),
    ("chown", "fchownat"),
    ("lchown", "fchownat"),
    ("link", "linkat"),
    ("symlink", "symlinkat"),
    ("mknod", "mknodat"),
    ("readlink", "readlinkat"),
    ("access", "faccessat"),
    ("stat", "newfstatat"),
    ("lstat", "newfstatat"),
    ("utimes", "utimensat"),
    ("dup2", "dup3"),
    ("pipe", "pipe2"),
    ("poll", "ppoll"),
    ("select", "pselect6"),
    ("epoll_wait", "epoll_pwait"),
    ("epoll_create", "epoll_create1"),
    ("eventfd", "eventfd2"),
    ("signalfd", "signalfd4"),
    ("inotify_init", "inotify_init1"),
    ("getdents", "getdents64"),
    ("fork", "clone"),
];

/// SELinux types Pod Security Standards allow.
pub const PSS_SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Capabilities Pod Security Standards *baseline* allows adding.
pub const PSS_BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Lints one file: a profile, or a syscall group file (`kind: SyscallGroups`).
pub fn lint_file(file: &Arc<SourceFile>, opts: &Options, pss: Option<Pss>) -> Vec<Diagnostic> {
    if is_group_file(file) {
        let (own, diags) = GroupSet::load(std::slice::from_ref(file));
        if diags.iter().any(Diagnostic::is_error) {
            return diags;
        }
        // References resolve through this file first, then the known groups.
        let mut resolver = own.clone();
        for f in crate::builtin::group_files() {
            let _ = resolver.add_file(&f);
        }
        return groups::check(&own, &resolver);
    }
    let (chain, mut diags) = resolve::load_chain_from(Arc::clone(file), opts);
    if chain.is_empty() {
        return diags;
    }
    // Resolution still runs after decode errors (the broken nodes were left
    // out), so names and groups are checked in the same pass; the semantic
    // rules below only judge a profile without errors.
    let (resolved, d) = resolve::resolve_chain(chain, opts);
    diags.extend(d);
    let (ir, d) = resolve::lower_seccomp(&resolved, opts);
    diags.extend(d);
    if diags.iter().any(Diagnostic::is_error) {
        return diags;
    }
    let own = &resolved.chain[0];
    diags.extend(semantic(own, &resolved, ir.as_ref(), opts));
    if let Some(level) = pss {
        diags.extend(pss_checks(own, &resolved, level));
    }
    suppress_acknowledged(&resolved, &mut diags);
    diags
}

fn is_group_file(file: &SourceFile) -> bool {
    let (doc, _) = crate::yaml::parse(&SourceFile::new(file.name.clone(), file.text.clone()));
    let Some(crate::yaml::Node {
        kind: crate::yaml::NodeKind::Map(entries),
        ..
    }) = &doc.root
    else {
        return false;
    };
    entries
        .iter()
        .any(|(k, v)| k.as_scalar() == Some("kind") && v.as_scalar() == Some(groups::KIND))
}

/// Drops diagnostics inside a rule that acknowledges their code.
fn suppress_acknowledged(r: &Resolved, diags: &mut Vec<Diagnostic>) {
    let acks: Vec<(&SyscallRule, BTreeSet<&str>)> = r
        .chain
        .iter()
        .flat_map(|p| p.seccomp.iter().flat_map(|s| s.syscalls.iter()))
        .filter(|rule| !rule.acknowledge.is_empty())
        .map(|rule| {
            (
                rule,
                rule.acknowledge.iter().map(|a| a.value.as_str()).collect(),
            )
        })
        .collect();
    diags.retain(|d| {
        d.severity == Severity::Error
            || !acks.iter().any(|(rule, codes)| {
                codes.contains(d.code)
                    && rule.loc.file.name == d.primary.file.name
                    && rule.loc.range.start <= d.primary.range.start
                    && d.primary.range.end <= rule.loc.range.end
            })
    });
}

fn in_file(loc: &Location, p: &Profile) -> bool {
    Arc::ptr_eq(&loc.file, &p.file) || loc.file.name == p.file.name
}

fn semantic(own: &Profile, r: &Resolved, ir: Option<&FilterIr>, opts: &Options) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // no_new_privs.
    if let Some(n) = &own.no_new_privileges
        && !n.value
    {
        out.push(
            Diagnostic::warning(
                "no-new-privileges-off",
                "no_new_privs is off: setuid and file-capability binaries can gain privileges",
                n.loc.clone(),
            )
            .with_help("keep `noNewPrivileges: true` unless the app must run setuid binaries"),
        );
    }
    // Capabilities added by this file.
    if let Some(c) = &own.capabilities {
        let mut places: Vec<(Capability, Location)> = Vec::new();
        let mut all_at = None;
        for list in [
            Some(&c.add),
            c.bounding.as_ref(),
            c.permitted.as_ref(),
            c.effective.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            for n in list {
                match n.value {
                    CapName::One(cap) => places.push((cap, n.loc.clone())),
                    CapName::All => {
                        all_at.get_or_insert(n.loc.clone());
                    }
                }
            }
        }
        if let Some(at) = all_at {
            out.push(
                Diagnostic::warning("dangerous-capability", "ALL grants every capability, SYS_ADMIN, SYS_MODULE and SYS_PTRACE included: the app is as powerful as root on the host", at)
                    .with_help("list only the capabilities the app needs"),
            );
        } else {
            let mut seen = BTreeSet::new();
            for (cap, loc) in places {
                if let Some((_, why)) = DANGEROUS_CAPS.iter().find(|(c, _)| *c == cap)
                    && r.caps.bounding.contains(cap)
                    && seen.insert(cap.index())
                {
                    out.push(
                        Diagnostic::warning(
                            "dangerous-capability",
                            format!("{} {why}", crate::capability::short(cap)),
                            loc,
                        )
                        .with_help(
                            "grant it only to workloads that need it, with a profile that says why",
                        ),
                    );
                }
            }
        }
    }
    // seccomp.
    if r.seccomp.mode == SeccompMode::Unconfined
        && let Some(m) = own.seccomp.as_ref().and_then(|s| s.mode.as_ref())
    {
        out.push(
            Diagnostic::warning(
                "seccomp-unconfined",
                "seccomp is off: the app can call every syscall",
                m.loc.clone(),
            )
            .with_help("extend `default` and allow what the app needs instead"),
        );
    }
    if let Some(s) = &own.seccomp {
        if let Some(d) = &s.default_action
            && d.value == Action::KillThread
        {
            out.push(kill_thread(d.loc.clone()));
        }
        for rule in &s.syscalls {
            if rule.action.value == Action::KillThread {
                out.push(kill_thread(rule.action.loc.clone()));
            }
            ioctl_rule(rule, &mut out);
        }
    }
    if let Some(ir) = ir {
        rule_checks(own, r, ir, opts, &mut out);
    }
    // SELinux, Landlock, user namespaces.
    if let Some(s) = own.selinux.as_ref() {
        selinux_checks(s, &mut out);
    }
    if let Some(l) = &own.landlock {
        if !l.restrict_fs && l.bind_tcp.is_none() && l.connect_tcp.is_none() && l.scopes.is_empty()
        {
            out.push(
                Diagnostic::error("landlock-invalid", "this landlock section restricts nothing", l.loc.clone())
                    .with_help("add `paths` (filesystem), `net` (TCP ports) or `scopes`, or remove the section"),
            );
        }
        for p in &l.paths {
            if p.access.is_empty() {
                out.push(
                    Diagnostic::error("landlock-invalid", format!("the rule for `{}` grants no access", p.path.value), p.loc.clone())
                        .with_help("list rights such as `access: [read, execute]`; paths not listed are denied anyway"),
                );
            }
            if !p.path.value.starts_with('/') {
                out.push(
                    Diagnostic::error(
                        "landlock-relative-path",
                        format!("Landlock path `{}` is relative", p.path.value),
                        p.path.loc.clone(),
                    )
                    .with_help("write the absolute path the app will see, e.g. `/usr`"),
                );
            }
        }
    }
    if let Some(u) = &own.user_namespace {
        userns_checks(u, &mut out);
    }
    out
}

fn kill_thread(loc: Location) -> Diagnostic {
    Diagnostic::warning(
        "kill-thread",
        "kill-thread kills only the calling thread; the rest of the process keeps running",
        loc,
    )
    .with_help("use `kill-process`")
}

fn ioctl_rule(rule: &SyscallRule, out: &mut Vec<Diagnostic>) {
    let Some(w) = &rule.when else { return };
    if !rule.names.iter().any(|n| n.value == "ioctl") {
        return;
    }
    if w.cond
        .cmps()
        .iter()
        .any(|c| c.arg == 1 && c.width == Width::U64)
    {
        out.push(
            Diagnostic::warning(
                "ioctl-64bit-compare",
                "ioctl's request is an unsigned int: the kernel ignores its high 32 bits, so a 64-bit comparison can be bypassed (CVE-2019-10063)",
                w.loc.clone(),
            )
            .with_help("compare `u32(arg1)` instead of `arg1`"),
        );
    }
}

fn holds_for_some(cond: &Cond, arg: u8, values: &[u64]) -> bool {
    values.iter().any(|&v| {
        let mut args = [0u64; 6];
        args[usize::from(arg)] = v;
        cond.holds(&args)
    })
}

fn rule_checks(
    own: &Profile,
    r: &Resolved,
    ir: &FilterIr,
    opts: &Options,
    out: &mut Vec<Diagnostic>,
) {
    let own_rules: Vec<&SyscallRule> = own.seccomp.iter().flat_map(|s| s.syscalls.iter()).collect();
    let rule_of = |oid: u32| -> Option<&SyscallRule> { r.seccomp.rules.get(oid as usize) };
    // shadowed-rule / conflicting-rules: per rule, is it dead everywhere it appears?
    let mut appears: BTreeMap<u32, bool> = BTreeMap::new(); // origin → dead everywhere so far
    let mut shadow_by: BTreeMap<u32, u32> = BTreeMap::new();
    for a in &ir.arches {
        for rules in a.syscalls.values() {
            let mut unconditional: Option<u32> = None;
            for rule in rules {
                let Some(o) = rule.origin else { continue };
                let dead = unconditional.is_some();
                let e = appears.entry(o.0).or_insert(true);
                *e &= dead;
                if let Some(u) = unconditional {
                    shadow_by.entry(o.0).or_insert(u);
                }
                if rule.cond == Cond::True && unconditional.is_none() {
                    unconditional = Some(o.0);
                }
            }
        }
    }
    for (o, dead) in appears {
        let (Some(rule), Some(by)) = (rule_of(o), shadow_by.get(&o).and_then(|b| rule_of(*b)))
        else {
            continue;
        };
        if !dead || !in_file(&rule.loc, own) || !in_file(&by.loc, own) {
            continue;
        }
        let d = if rule.action.value == by.action.value {
            Diagnostic::warning(
                "shadowed-rule",
                "this rule never decides: an earlier rule matches all of its calls first",
                rule.loc.clone(),
            )
            .with_secondary(by.loc.clone(), "this earlier rule decides first")
            .with_help("remove this rule, or move it above the earlier one if it should win")
        } else {
            Diagnostic::warning(
                "conflicting-rules",
                format!(
                    "this rule says {} but an earlier rule already says {} for the same calls",
                    resolve::action_text(rule.action.value),
                    resolve::action_text(by.action.value)
                ),
                rule.loc.clone(),
            )
            .with_secondary(by.loc.clone(), "this earlier rule decides")
            .with_help(
                "rules are evaluated in order and the first match decides; reorder or remove one",
            )
        };
        out.push(d);
    }
    // dangerous-syscall: allowed (or logged) calls from rules of this file.
    let permissive = |a: Action| matches!(a, Action::Allow | Action::Log);
    for rule in &own_rules {
        if !permissive(rule.action.value) || !rule.if_capability.is_empty() {
            continue;
        }
        let applies = r
            .seccomp
            .arches
            .iter()
            .any(|&a| resolve::rule_applies(rule, a, &r.caps, opts.kernel));
        if !applies {
            continue;
        }
        let cond = rule.when.as_ref().map_or(Cond::True, |w| w.cond.clone());
        for n in &rule.names {
            let expanded: Vec<String> = if n.value.starts_with('@') {
                opts.groups
                    .expand(&n.value)
                    .map(|v| v.into_iter().map(|s| s.value).collect())
                    .unwrap_or_default()
            } else {
                vec![n.value.clone()]
            };
            for name in expanded {
                let reason = if let Some((_, why)) = DANGEROUS.iter().find(|(d, _)| *d == name) {
                    Some(why.to_string())
                } else if name == "personality"
                    && holds_for_some(&cond, 0, &[0x0040_0000, 0x0004_0000])
                {
                    Some("an unrestricted personality can disable ASLR (ADDR_NO_RANDOMIZE) and make data executable (READ_IMPLIES_EXEC)".into())
                } else if name == "socket"
                    && holds_for_some(&cond, 0, &[libc::AF_ALG as u64, libc::AF_VSOCK as u64])
                {
                    Some("it allows AF_ALG (the kernel crypto API, a frequent exploit target) or AF_VSOCK (sockets to the host)".into())
                } else {
                    None
                };
                if let Some(why) = reason {
                    out.push(
                        Diagnostic::warning("dangerous-syscall", format!("allowing `{name}` is dangerous: {why}"), n.loc.clone())
                            .with_help("deny it, restrict it with `when`, gate it with `ifCapability`, or add `acknowledge: [dangerous-syscall]` to the rule with a comment saying why"),
                    );
                }
            }
        }
    }
    // missing-exec-essentials: checked on the first (native) architecture. A
    // profile with no `seccomp` section and no parent gets the default filter,
    // which has no rules: the finding then points at the whole document.
    let essentials = match (&own.seccomp, &own.extends) {
        (Some(s), _) => Some((
            s.default_action
                .as_ref()
                .map_or(s.loc.clone(), |d| d.loc.clone()),
            "the filter",
            "allow them, e.g. extend `default` or add `- {names: [execve, exit_group, rt_sigreturn], action: allow}`",
        )),
        (None, None) => Some((
            own.loc.clone(),
            "with no `seccomp` section, the default filter (no rules)",
            "add `extends: default`, a `seccomp` section that allows them, or `seccomp: {mode: unconfined}`",
        )),
        (None, Some(_)) => None,
    };
    if let (Some((at, which, help)), Some(a)) = (essentials, ir.arches.first())
        && r.seccomp.default_action.value != Action::Allow
    {
        let mut missing = Vec::new();
        for name in ["execve", "exit_group", "rt_sigreturn"] {
            let Some(nr) = a.arch.table().nr(name) else {
                continue;
            };
            if a.evaluate(nr, &[0; 6]).0 != Action::Allow {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            out.push(
                Diagnostic::warning(
                    "missing-exec-essentials",
                    format!("{which} denies {} on {}: the app cannot start, exit or return from a signal handler", missing.join(", "), a.arch),
                    at,
                )
                .with_help(help),
            );
        }
    }
    // legacy-pair-incomplete, judged on x86_64 where glibc uses the legacy calls.
    if let Some(x) = ir.arches.iter().find(|a| a.arch == Arch::X86_64) {
        for rule in &own_rules {
            for n in &rule.names {
                for (legacy, modern) in LEGACY_PAIRS {
                    let other = if n.value == *modern {
                        legacy
                    } else if n.value == *legacy {
                        modern
                    } else {
                        continue;
                    };
                    if rule.names.iter().any(|m| m.value == *other) {
                        continue;
                    }
                    let (Some(a), Some(b)) = (
                        Arch::X86_64.table().nr(&n.value),
                        Arch::X86_64.table().nr(other),
                    ) else {
                        continue;
                    };
                    let (da, db) = (x.evaluate(a, &[0; 6]).0, x.evaluate(b, &[0; 6]).0);
                    if da != db && da == rule.action.value {
                        out.push(
                            Diagnostic::warning(
                                "legacy-pair-incomplete",
                                format!("`{}` is {} but `{other}` is {}: libc picks either form depending on architecture and version", n.value, resolve::action_text(da), resolve::action_text(db)),
                                n.loc.clone(),
                            )
                            .with_help(format!("add `{other}` to this rule (glibc calls `{legacy}` on x86_64 and `{modern}` on aarch64)")),
                        );
                    }
                }
            }
        }
    }
}

fn selinux_checks(s: &crate::profile::Selinux, out: &mut Vec<Diagnostic>) {
    use crate::selinux::Label;
    let bad = |v: &crate::source::Spanned<String>, e: crate::selinux::LabelError, what: &str| {
        let at = v.loc.inner(
            &v.value,
            e.offset
                ..v.value
                    .get(e.offset..)
                    .and_then(|r| r.chars().next())
                    .map_or(e.offset, |c| e.offset + c.len_utf8()),
        );
        Diagnostic::error(
            "selinux-label-syntax",
            format!("invalid SELinux {what} `{}`: {}", v.value, e.message),
            at,
        )
        .with_secondary(v.loc.clone(), "in this value")
        .with_help(
            "labels are `user:role:type:level`, e.g. `system_u:system_r:container_t:s0:c1,c2`",
        )
    };
    if let Some(l) = &s.label
        && let Err(e) = Label::parse(&l.value)
    {
        out.push(bad(l, e, "label"));
    }
    for (v, what) in [
        (&s.user, "user"),
        (&s.role, "role"),
        (&s.type_, "type"),
        (&s.level, "level"),
    ] {
        if let Some(v) = v
            && let Err(e) = crate::selinux::check_part(what, &v.value)
        {
            out.push(bad(v, e, what));
        }
    }
    if let Some(v) = &s.mount_label
        && let Err(e) = Label::parse(&v.value)
    {
        out.push(bad(v, e, "mount label"));
    }
}

fn userns_checks(u: &crate::profile::UserNamespace, out: &mut Vec<Diagnostic>) {
    if u.mode.value == UsernsMode::Explicit && u.uid_mappings.is_empty() {
        out.push(
            Diagnostic::error("userns-map-overlap", "`mode: explicit` needs `uidMappings`", u.mode.loc.clone())
                .with_help("add `uidMappings: [{containerID: 0, hostID: 100000, size: 65536}]` (and gidMappings)"),
        );
    }
    for (maps, what) in [(&u.uid_mappings, "uid"), (&u.gid_mappings, "gid")] {
        for (i, m) in maps.iter().enumerate() {
            let end = |start: u32| u64::from(start) + u64::from(m.size);
            // The kernel never maps id 2^32-1 (it means "no id"): an extent ends below it.
            if m.size == 0
                || end(m.container_id) > u64::from(u32::MAX)
                || end(m.host_id) > u64::from(u32::MAX)
            {
                out.push(Diagnostic::error(
                    "userns-map-overlap",
                    format!("this {what} mapping is empty or reaches id 4294967295, which the kernel never maps"),
                    m.loc.clone(),
                ));
                continue;
            }
            for prev in &maps[..i] {
                let overlap = |a: u32, b: u32| {
                    u64::from(a) < u64::from(b) + u64::from(prev.size) && u64::from(b) < end(a)
                };
                if overlap(m.container_id, prev.container_id) || overlap(m.host_id, prev.host_id) {
                    out.push(
                        Diagnostic::error(
                            "userns-map-overlap",
                            format!("this {what} mapping overlaps an earlier one"),
                            m.loc.clone(),
                        )
                        .with_secondary(prev.loc.clone(), "overlaps this mapping")
                        .with_help(
                            "the kernel refuses overlapping ranges inside or outside the namespace",
                        ),
                    );
                }
            }
        }
        if maps.len() > 340 {
            out.push(Diagnostic::error(
                "userns-map-overlap",
                format!(
                    "{} {what} mappings; the kernel accepts at most 340",
                    maps.len()
                ),
                u.loc.clone(),
            ));
        }
    }
}

fn pss_checks(own: &Profile, r: &Resolved, level: Pss) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Point into the linted file: at the section, else at `extends`.
    let fallback = own
        .extends
        .as_ref()
        .map_or(own.loc.clone(), |e| e.loc.clone());
    let at = |o: Option<&Location>| {
        o.filter(|l| in_file(l, own))
            .cloned()
            .unwrap_or_else(|| fallback.clone())
    };
    let caps_at = at(own
        .capabilities
        .as_ref()
        .map(|c| &c.loc)
        .or(r.caps_at.as_ref()));
    let baseline_ok = CapSet::of(
        PSS_BASELINE_CAPS
            .iter()
            .filter_map(|n| crate::capability::parse(n)),
    );
    // Baseline forbids *adding* capabilities beyond its list; the runtime
    // default set (which has NET_RAW) is what "not adding" means.
    let extra = r
        .caps
        .bounding
        .minus(baseline_ok.union(crate::capability::runtime_default()));
    if extra != CapSet::EMPTY && level == Pss::Baseline {
        out.push(Diagnostic::error("pss-baseline", format!("capabilities beyond the baseline set: {}", extra.names().join(", ")), caps_at.clone())
            .with_help("baseline allows adding only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT"));
    }
    if r.seccomp.mode == SeccompMode::Unconfined {
        let code = if level == Pss::Baseline {
            "pss-baseline"
        } else {
            "pss-restricted"
        };
        out.push(Diagnostic::error(
            code,
            "seccomp must not be Unconfined",
            at(own.seccomp.as_ref().map(|s| &s.loc)),
        ));
    }
    // PSS: the type must be a container type and user/role must not be set
    // (in the component form or inside a full label).
    if let Some(s) = &r.selinux {
        let code = if level == Pss::Baseline {
            "pss-baseline"
        } else {
            "pss-restricted"
        };
        let parts: Vec<&str> = s
            .label
            .as_ref()
            .map(|l| l.value.splitn(4, ':').collect())
            .unwrap_or_default();
        let label_part = |i: usize| {
            parts.get(i).map(|p| {
                (
                    p.to_string(),
                    s.label
                        .as_ref()
                        .map(|l| l.loc.clone())
                        .unwrap_or(s.loc.clone()),
                )
            })
        };
        let ty = s
            .type_
            .as_ref()
            .map(|t| (t.value.clone(), t.loc.clone()))
            .or_else(|| label_part(2));
        if let Some((t, loc)) = ty
            && !PSS_SELINUX_TYPES.contains(&t.as_str())
        {
            out.push(
                Diagnostic::error(code, format!("SELinux type `{t}` is not allowed"), loc)
                    .with_help("allowed: container_t, container_init_t, container_kvm_t, container_engine_t"),
            );
        }
        let user = s
            .user
            .as_ref()
            .map(|u| (u.value.clone(), u.loc.clone()))
            .or_else(|| label_part(0));
        let role = s
            .role
            .as_ref()
            .map(|u| (u.value.clone(), u.loc.clone()))
            .or_else(|| label_part(1));
        for (what, v) in [("user", user), ("role", role)] {
            if let Some((v, loc)) = v {
                out.push(
                    Diagnostic::error(code, format!("setting the SELinux {what} (`{v}`) is not allowed"), loc)
                        .with_help("Pod Security Standards forbid custom SELinux users and roles; set only `type` and `level`"),
                );
            }
        }
    }
    if level == Pss::Restricted {
        let extra = r
            .caps
            .bounding
            .minus(CapSet::of([Capability::CAP_NET_BIND_SERVICE]));
        if extra != CapSet::EMPTY {
            out.push(
                Diagnostic::error(
                    "pss-restricted",
                    format!(
                        "restricted requires dropping ALL capabilities; still present: {}",
                        extra.names().join(", ")
                    ),
                    caps_at,
                )
                .with_help("`capabilities: {drop: [ALL]}` (adding back only NET_BIND_SERVICE)"),
            );
        }
        if !r.no_new_privs.value {
            out.push(Diagnostic::error(
                "pss-restricted",
                "restricted requires allowPrivilegeEscalation: false (no_new_privs)",
                at(r.no_new_privs.at.as_ref()),
            ));
        }
        if r.user.as_ref().is_none_or(|u| u.uid == 0) {
            out.push(
                Diagnostic::error(
                    "pss-restricted",
                    "restricted requires running as a non-root user",
                    at(own.user.as_ref().map(|u| &u.loc)),
                )
                .with_help("set `user: {uid: 1000, gid: 1000}`"),
            );
        }
    }
    out
}
