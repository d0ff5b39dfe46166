//! The profile language (v1): the typed model of one profile file, decoded from
//! the spanned YAML tree. Every value keeps its location; every problem becomes
//! a diagnostic at the offending node, and decoding goes on so that one run
//! reports all of them.

use std::sync::Arc;

use crate::arch::Arch;
use crate::capability::{self, Capability};
use crate::consts;
use crate::diagnostic::Diagnostic;
use crate::expr;
use crate::seccomp::ir::{Action, Cond};
use crate::source::{Location, SourceFile, Spanned};
use crate::suggest;
use crate::yaml::{self, Node, NodeKind};

pub const API_VERSION: &str = "rampart.dev/v1";
pub const KIND: &str = "SecurityProfile";

/// One profile file, decoded. Absent sections are `None`: they inherit.
#[derive(Clone, Debug)]
pub struct Profile {
    pub file: Arc<SourceFile>,
    /// The whole document (for diagnostics about the profile as a whole).
    pub loc: Location,
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub extends: Option<Spanned<String>>,
    pub user: Option<User>,
    pub no_new_privileges: Option<Spanned<bool>>,
    pub capabilities: Option<Capabilities>,
    pub seccomp: Option<Seccomp>,
    pub selinux: Option<Selinux>,
    pub landlock: Option<Landlock>,
    pub user_namespace: Option<UserNamespace>,
}

#[derive(Clone, Debug)]
pub struct User {
    pub loc: Location,
    pub uid: Option<Spanned<u32>>,
    pub gid: Option<Spanned<u32>>,
    pub groups: Option<Vec<Spanned<u32>>>,
}

/// A capability name in `add`/`drop`, where `ALL` is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapName {
    All,
    One(Capability),
}

#[derive(Clone, Debug)]
pub struct Capabilities {
    pub loc: Location,
    /// Relative form: applied to the parent's sets.
    pub add: Vec<Spanned<CapName>>,
    pub drop: Vec<Spanned<CapName>>,
    pub ambient: Option<Vec<Spanned<Capability>>>,
    /// Explicit form: the whole set, replacing the parent's.
    pub bounding: Option<Vec<Spanned<CapName>>>,
    pub effective: Option<Vec<Spanned<CapName>>>,
    pub permitted: Option<Vec<Spanned<CapName>>>,
    pub inheritable: Option<Vec<Spanned<CapName>>>,
    /// Capabilities the running kernel does not know: error (`required`) or
    /// skipped with a warning (`best-effort`).
    pub compatibility: Option<Spanned<Compatibility>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compatibility {
    Required,
    BestEffort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchSel {
    /// The host's architecture and its compat ABIs.
    Native,
    Arch(Arch),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeccompMode {
    Filter,
    /// No filter at all (the `privileged` profile).
    Unconfined,
}

#[derive(Clone, Debug)]
pub struct Seccomp {
    pub loc: Location,
    pub mode: Option<Spanned<SeccompMode>>,
    pub default_action: Option<Spanned<Action>>,
    pub architectures: Option<Vec<Spanned<ArchSel>>>,
    pub unknown_syscall_action: Option<Spanned<Action>>,
    pub bad_arch_action: Option<Spanned<Action>>,
    /// Apply the filter to every thread (`SECCOMP_FILTER_FLAG_TSYNC`).
    pub tsync: Option<Spanned<bool>>,
    /// Log every non-allow decision (`SECCOMP_FILTER_FLAG_LOG`).
    pub log: Option<Spanned<bool>>,
    pub syscalls: Vec<SyscallRule>,
}

/// A `when` condition and its source text.
#[derive(Clone, Debug)]
pub struct When {
    pub cond: Cond,
    pub text: String,
    pub loc: Location,
}

#[derive(Clone, Debug)]
pub struct SyscallRule {
    pub loc: Location,
    /// Syscall names and `@group` references, as written.
    pub names: Vec<Spanned<String>>,
    pub action: Spanned<Action>,
    pub when: Option<When>,
    /// Compile-time selectors: the rule exists only if all hold.
    pub if_capability: Vec<Spanned<Capability>>,
    pub unless_capability: Vec<Spanned<Capability>>,
    pub arches: Vec<Spanned<Arch>>,
    pub min_kernel: Option<Spanned<(u32, u32)>>,
    /// Lint codes the author has reviewed and accepted for this rule.
    pub acknowledge: Vec<Spanned<String>>,
    pub comment: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Selinux {
    pub loc: Location,
    /// A full `user:role:type:level` label.
    pub label: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub role: Option<Spanned<String>>,
    pub type_: Option<Spanned<String>>,
    /// A level, a range, or `auto` (a unique MCS pair per pod).
    pub level: Option<Spanned<String>>,
    pub mount_label: Option<Spanned<String>>,
    pub required: Option<Spanned<bool>>,
}

#[derive(Clone, Debug)]
pub struct LandlockPath {
    pub loc: Location,
    pub path: Spanned<String>,
    pub access: Vec<Spanned<String>>,
}

#[derive(Clone, Debug)]
pub struct Landlock {
    pub loc: Location,
    pub compatibility: Option<Spanned<Compatibility>>,
    pub paths: Vec<LandlockPath>,
    /// Present: TCP `bind` is restricted to these ports; absent: unrestricted.
    pub bind_tcp: Option<Vec<Spanned<u16>>>,
    /// Present: TCP `connect` is restricted to these ports; absent: unrestricted.
    pub connect_tcp: Option<Vec<Spanned<u16>>>,
    /// Whether `paths` was given: then filesystem access is restricted to the rules.
    pub restrict_fs: bool,
    pub scopes: Vec<Spanned<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsernsMode {
    Host,
    Auto,
    Explicit,
}

#[derive(Clone, Debug)]
pub struct IdMapping {
    pub loc: Location,
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

#[derive(Clone, Debug)]
pub struct UserNamespace {
    pub loc: Location,
    pub mode: Spanned<UsernsMode>,
    pub size: Option<Spanned<u32>>,
    pub uid_mappings: Vec<IdMapping>,
    pub gid_mappings: Vec<IdMapping>,
}

/// Landlock access-right names accepted in `access:`.
pub const LANDLOCK_ACCESS: &[&str] = &[
    "read",
    "write",
    "execute",
    "readFile",
    "writeFile",
    "readDir",
    "removeDir",
    "removeFile",
    "remove",
    "makeChar",
    "makeDir",
    "makeReg",
    "makeSock",
    "makeFifo",
    "makeBlock",
    "makeSym",
    "make",
    "refer",
    "truncate",
    "ioctlDev",
    "all",
];
pub const LANDLOCK_SCOPES: &[&str] = &["abstractUnixSocket", "signal"];

pub(crate) struct Decoder<'a> {
    pub(crate) file: &'a Arc<SourceFile>,
    pub(crate) diags: Vec<Diagnostic>,
}

pub(crate) type Entries<'n> = Vec<(&'n str, &'n Node, &'n Node)>;

impl<'a> Decoder<'a> {
    pub(crate) fn loc(&self, n: &Node) -> Location {
        Location::new(self.file, n.span.clone())
    }

    pub(crate) fn error(
        &mut self,
        code: &'static str,
        msg: impl Into<String>,
        n: &Node,
    ) -> Diagnostic {
        Diagnostic::error(code, msg, self.loc(n))
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(crate) fn mismatch(&mut self, n: &Node, expected: &str) {
        let d = self
            .error(
                "type-mismatch",
                format!("expected {expected}, found {}", n.describe()),
                n,
            )
            .with_label(format!("expected {expected}"));
        self.push(d);
    }

    /// The entries of a mapping, with unknown keys reported (and skipped).
    pub(crate) fn fields<'n>(
        &mut self,
        n: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Entries<'n>> {
        let NodeKind::Map(entries) = &n.kind else {
            self.mismatch(n, &format!("a mapping ({what})"));
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.as_scalar() else {
                self.mismatch(k, "a string key");
                continue;
            };
            if allowed.contains(&key) {
                out.push((key, k, v));
            } else {
                let mut d = self
                    .error("unknown-key", format!("unknown key `{key}` in {what}"), k)
                    .with_label("not a key of this section");
                d.help = Some(match suggest::closest(key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? valid keys: {}", allowed.join(", ")),
                    None => format!("valid keys: {}", allowed.join(", ")),
                });
                self.push(d);
            }
        }
        Some(out)
    }

    pub(crate) fn string(&mut self, n: &Node) -> Option<Spanned<String>> {
        match &n.kind {
            NodeKind::Scalar { value, .. } if !n.is_null() => {
                Some(Spanned::new(value.clone(), self.loc(n)))
            }
            _ => {
                self.mismatch(n, "a string");
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, n: &Node) -> Option<Spanned<bool>> {
        match &n.kind {
            NodeKind::Scalar {
                value,
                quoted: false,
            } if value == "true" => Some(Spanned::new(true, self.loc(n))),
            NodeKind::Scalar {
                value,
                quoted: false,
            } if value == "false" => Some(Spanned::new(false, self.loc(n))),
            _ => {
                self.mismatch(n, "`true` or `false`");
                None
            }
        }
    }

    fn uint(&mut self, n: &Node, max: u64, what: &str) -> Option<Spanned<u64>> {
        match &n.kind {
            NodeKind::Scalar {
                value,
                quoted: false,
            } => match yaml::parse_int(value) {
                Some(v) if v <= max => Some(Spanned::new(v, self.loc(n))),
                Some(v) => {
                    let d = self.error(
                        "constant-out-of-range",
                        format!("{v} is too large for {what} (at most {max})"),
                        n,
                    );
                    self.push(d);
                    None
                }
                None => {
                    self.mismatch(n, &format!("a non-negative integer ({what})"));
                    None
                }
            },
            _ => {
                self.mismatch(n, &format!("a non-negative integer ({what})"));
                None
            }
        }
    }

    fn u32(&mut self, n: &Node, what: &str) -> Option<Spanned<u32>> {
        self.uint(n, u64::from(u32::MAX), what)
            .map(|s| Spanned::new(s.value as u32, s.loc))
    }

    /// A list; a single scalar is accepted where a list of one is meant only if
    /// `lenient` (never for security-relevant lists).
    pub(crate) fn list<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &n.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                self.mismatch(n, &format!("a list ({what})"));
                None
            }
        }
    }

    pub(crate) fn strings(&mut self, n: &Node, what: &str) -> Vec<Spanned<String>> {
        let Some(items) = self.list(n, what) else {
            return Vec::new();
        };
        items.iter().filter_map(|i| self.string(i)).collect()
    }

    fn capability(&mut self, n: &Node) -> Option<Spanned<Capability>> {
        let s = self.string(n)?;
        match capability::parse(&s.value) {
            Some(c) => Some(Spanned::new(c, s.loc)),
            None => {
                let names = capability::names();
                let bare = s.value.trim().to_ascii_uppercase();
                let bare = bare.trim_start_matches("CAP_");
                let mut d = self.error(
                    "unknown-capability",
                    format!("unknown capability `{}`", s.value),
                    n,
                );
                d.help =
                    suggest::did_you_mean(bare, names.iter().map(String::as_str)).or_else(|| {
                        Some(
                            "capability names are listed in capabilities(7), e.g. NET_BIND_SERVICE"
                                .into(),
                        )
                    });
                self.push(d);
                None
            }
        }
    }

    fn capabilities_list(&mut self, n: &Node, what: &str) -> Vec<Spanned<Capability>> {
        let Some(items) = self.list(n, what) else {
            return Vec::new();
        };
        items.iter().filter_map(|i| self.capability(i)).collect()
    }

    fn cap_names(&mut self, n: &Node, what: &str) -> Vec<Spanned<CapName>> {
        let Some(items) = self.list(n, what) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for i in items {
            if i.as_scalar().is_some_and(|s| s.eq_ignore_ascii_case("all")) {
                out.push(Spanned::new(CapName::All, self.loc(i)));
            } else if let Some(c) = self.capability(i) {
                out.push(Spanned::new(CapName::One(c.value), c.loc));
            }
        }
        out
    }

    fn compatibility(&mut self, n: &Node) -> Option<Spanned<Compatibility>> {
        let s = self.string(n)?;
        match s.value.as_str() {
            "required" => Some(Spanned::new(Compatibility::Required, s.loc)),
            "best-effort" => Some(Spanned::new(Compatibility::BestEffort, s.loc)),
            other => {
                let d = self
                    .error("type-mismatch", format!("unknown compatibility `{other}`"), n)
                    .with_help("use `required` (fail closed) or `best-effort` (apply what the kernel supports)");
                self.push(d);
                None
            }
        }
    }

    fn action(&mut self, n: &Node) -> Option<Spanned<Action>> {
        let s = self.string(n)?;
        let text = s.value.trim();
        let (head, arg) = match text.find('(') {
            Some(i) if text.ends_with(')') => {
                (&text[..i], Some(text[i + 1..text.len() - 1].trim()))
            }
            _ => (text, None),
        };
        let loc = s.loc.clone();
        let action = match (head, arg) {
            ("allow", None) => Action::Allow,
            ("kill" | "kill-process", None) => Action::KillProcess,
            ("kill-thread", None) => Action::KillThread,
            ("trap", None) => Action::Trap,
            ("log", None) => Action::Log,
            ("notify", None) => Action::Notify,
            ("errno", Some(a)) => {
                let num = yaml::parse_int(a).filter(|&v| v <= 4095).map(|v| v as u16);
                match num.or_else(|| consts::errno(a)) {
                    Some(e) => Action::Errno(e),
                    None => {
                        let mut d = self.error("unknown-errno", format!("unknown errno `{a}`"), n);
                        d.help = suggest::did_you_mean(a, consts::errno_names()).or_else(|| {
                            Some(
                                "use a name such as EPERM or ENOSYS, or a number from 0 to 4095"
                                    .into(),
                            )
                        });
                        self.push(d);
                        return None;
                    }
                }
            }
            ("trace", Some(a)) => match yaml::parse_int(a).filter(|&v| v <= 0xffff) {
                Some(v) => Action::Trace(v as u16),
                None => {
                    let d = self.error(
                        "type-mismatch",
                        format!("`trace({a})` needs a number from 0 to 65535"),
                        n,
                    );
                    self.push(d);
                    return None;
                }
            },
            _ => {
                let names = [
                    "allow",
                    "errno(EPERM)",
                    "kill-process",
                    "kill-thread",
                    "trap",
                    "log",
                    "trace(0)",
                    "notify",
                ];
                let mut d = self.error(
                    "unknown-action",
                    format!("unknown seccomp action `{text}`"),
                    n,
                );
                d.help = Some(match suggest::closest(head, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? actions: {}", names.join(", ")),
                    None => format!("actions: {}", names.join(", ")),
                });
                self.push(d);
                return None;
            }
        };
        Some(Spanned::new(action, loc))
    }

    fn arch(&mut self, n: &Node) -> Option<Spanned<Arch>> {
        let s = self.string(n)?;
        match Arch::from_name(&s.value) {
            Some(a) => Some(Spanned::new(a, s.loc)),
            None => {
                let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
                let mut d = self.error(
                    "unknown-arch",
                    format!("unknown architecture `{}`", s.value),
                    n,
                );
                d.help = Some(match suggest::closest(&s.value, names.iter().copied()) {
                    Some(x) => format!(
                        "did you mean `{x}`? architectures: native, {}",
                        names.join(", ")
                    ),
                    None => format!("architectures: native, {}", names.join(", ")),
                });
                self.push(d);
                None
            }
        }
    }

    /// The location of `len` bytes at `offset` inside a scalar's value, when
    /// the source text maps one to one (plain or simply quoted scalars).
    fn inner_loc(&self, n: &Node, value: &str, range: std::ops::Range<usize>) -> Location {
        self.loc(n).inner(value, range)
    }

    fn when(&mut self, n: &Node) -> Option<When> {
        let s = self.string(n)?;
        match expr::parse(&s.value) {
            Ok(cond) => Some(When {
                cond,
                text: s.value,
                loc: s.loc,
            }),
            Err(e) => {
                let loc = self.inner_loc(n, &s.value, e.range.clone());
                let mut d = Diagnostic::error(e.code, e.message, loc)
                    .with_secondary(s.loc, "in this condition");
                d.help = e.help;
                self.push(d);
                None
            }
        }
    }

    fn min_kernel(&mut self, n: &Node) -> Option<Spanned<(u32, u32)>> {
        let s = self.string(n)?;
        let mut parts = s.value.split('.');
        let major = parts.next().and_then(|p| p.parse::<u32>().ok());
        let minor = parts.next().map_or(Some(0), |p| p.parse::<u32>().ok());
        match (major, minor, parts.next()) {
            (Some(a), Some(b), None) => Some(Spanned::new((a, b), s.loc)),
            _ => {
                let d = self.error(
                    "type-mismatch",
                    format!("`{}` is not a kernel version like `5.8`", s.value),
                    n,
                );
                self.push(d);
                None
            }
        }
    }

    fn rule(&mut self, n: &Node) -> Option<SyscallRule> {
        const KEYS: &[&str] = &[
            "names",
            "action",
            "when",
            "ifCapability",
            "unlessCapability",
            "arches",
            "minKernel",
            "acknowledge",
            "comment",
        ];
        let entries = self.fields(n, "a syscall rule", KEYS)?;
        let mut names = None;
        let mut action = None;
        let mut rule = SyscallRule {
            loc: self.loc(n),
            names: Vec::new(),
            action: Spanned::new(Action::Allow, self.loc(n)),
            when: None,
            if_capability: Vec::new(),
            unless_capability: Vec::new(),
            arches: Vec::new(),
            min_kernel: None,
            acknowledge: Vec::new(),
            comment: None,
        };
        let mut ok = true;
        for (key, _, v) in entries {
            match key {
                "names" => {
                    names = Some(self.strings(v, "syscall names and @groups"));
                    if matches!(&v.kind, NodeKind::Seq(items) if items.is_empty()) {
                        let d = self.error(
                            "type-mismatch",
                            "a rule needs at least one syscall name",
                            v,
                        );
                        self.push(d);
                    }
                }
                "action" => {
                    action = self.action(v);
                    ok &= action.is_some();
                }
                "when" => {
                    rule.when = self.when(v);
                    ok &= rule.when.is_some();
                }
                "ifCapability" => rule.if_capability = self.capabilities_list(v, "capabilities"),
                "unlessCapability" => {
                    rule.unless_capability = self.capabilities_list(v, "capabilities")
                }
                "arches" => {
                    let items = self.list(v, "architectures").unwrap_or(&[]);
                    rule.arches = items.iter().filter_map(|i| self.arch(i)).collect();
                }
                "minKernel" => rule.min_kernel = self.min_kernel(v),
                "acknowledge" => rule.acknowledge = self.strings(v, "lint codes"),
                "comment" => rule.comment = self.string(v).map(|s| s.value),
                _ => {}
            }
        }
        match names {
            Some(n) => rule.names = n,
            None => {
                let d = self
                    .error("missing-key", "a syscall rule needs `names`", n)
                    .with_help("add `names: [read, write]`");
                self.push(d);
                return None;
            }
        }
        match action {
            Some(a) => rule.action = a,
            None if ok => {
                let d = self
                    .error("missing-key", "a syscall rule needs `action`", n)
                    .with_help("add `action: allow` or `action: errno(EPERM)`");
                self.push(d);
                return None;
            }
            None => return None,
        }
        ok.then_some(rule)
    }

    fn seccomp(&mut self, n: &Node) -> Option<Seccomp> {
        const KEYS: &[&str] = &[
            "mode",
            "defaultAction",
            "architectures",
            "unknownSyscallAction",
            "badArchAction",
            "tsync",
            "log",
            "syscalls",
        ];
        let entries = self.fields(n, "seccomp", KEYS)?;
        let mut s = Seccomp {
            loc: self.loc(n),
            mode: None,
            default_action: None,
            architectures: None,
            unknown_syscall_action: None,
            bad_arch_action: None,
            tsync: None,
            log: None,
            syscalls: Vec::new(),
        };
        for (key, _, v) in entries {
            match key {
                "mode" => {
                    s.mode = self.string(v).and_then(|m| match m.value.as_str() {
                        "filter" => Some(Spanned::new(SeccompMode::Filter, m.loc)),
                        "unconfined" => Some(Spanned::new(SeccompMode::Unconfined, m.loc)),
                        other => {
                            let d = self
                                .error(
                                    "type-mismatch",
                                    format!("unknown seccomp mode `{other}`"),
                                    v,
                                )
                                .with_help("use `filter` (the default) or `unconfined`");
                            self.push(d);
                            None
                        }
                    })
                }
                "defaultAction" => s.default_action = self.action(v),
                "unknownSyscallAction" => s.unknown_syscall_action = self.action(v),
                "badArchAction" => s.bad_arch_action = self.action(v),
                "tsync" => s.tsync = self.boolean(v),
                "log" => s.log = self.boolean(v),
                "architectures" => {
                    let items = self.list(v, "architectures").unwrap_or(&[]);
                    let mut out = Vec::new();
                    for i in items {
                        if i.as_scalar() == Some("native") {
                            out.push(Spanned::new(ArchSel::Native, self.loc(i)));
                        } else if let Some(a) = self.arch(i) {
                            out.push(Spanned::new(ArchSel::Arch(a.value), a.loc));
                        }
                    }
                    s.architectures = Some(out);
                }
                "syscalls" => {
                    let items = self.list(v, "syscall rules").unwrap_or(&[]);
                    s.syscalls = items.iter().filter_map(|i| self.rule(i)).collect();
                }
                _ => {}
            }
        }
        Some(s)
    }

    fn capabilities(&mut self, n: &Node) -> Option<Capabilities> {
        const KEYS: &[&str] = &[
            "add",
            "drop",
            "ambient",
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "compatibility",
        ];
        let entries = self.fields(n, "capabilities", KEYS)?;
        let mut c = Capabilities {
            loc: self.loc(n),
            add: Vec::new(),
            drop: Vec::new(),
            ambient: None,
            bounding: None,
            effective: None,
            permitted: None,
            inheritable: None,
            compatibility: None,
        };
        let mut relative = None;
        let mut explicit = None;
        for (key, k, v) in entries {
            match key {
                "add" => {
                    c.add = self.cap_names(v, "capabilities to add");
                    relative.get_or_insert(k);
                }
                "drop" => {
                    c.drop = self.cap_names(v, "capabilities to drop");
                    relative.get_or_insert(k);
                }
                "ambient" => c.ambient = Some(self.capabilities_list(v, "ambient capabilities")),
                "bounding" => {
                    c.bounding = Some(self.cap_names(v, "the bounding set"));
                    explicit.get_or_insert(k);
                }
                "effective" => {
                    c.effective = Some(self.cap_names(v, "the effective set"));
                    explicit.get_or_insert(k);
                }
                "permitted" => {
                    c.permitted = Some(self.cap_names(v, "the permitted set"));
                    explicit.get_or_insert(k);
                }
                "inheritable" => {
                    c.inheritable = Some(self.cap_names(v, "the inheritable set"));
                    explicit.get_or_insert(k);
                }
                "compatibility" => c.compatibility = self.compatibility(v),
                _ => {}
            }
        }
        if let (Some(r), Some(e)) = (relative, explicit) {
            let d = self
                .error("capabilities-mixed-forms", "capabilities mix `add`/`drop` with explicit sets", e)
                .with_secondary(self.loc(r), "relative form used here")
                .with_help("use either `add`/`drop` (relative to the parent profile) or the explicit sets `bounding`, `effective`, `permitted`, `inheritable`");
            self.push(d);
            return None;
        }
        for d in &c.drop {
            if d.value == CapName::All && c.drop.len() > 1 {
                let diag = Diagnostic::warning(
                    "redundant-capability",
                    "`ALL` already drops every capability",
                    d.loc.clone(),
                );
                self.push(diag);
                break;
            }
        }
        if c.add.iter().any(|a| a.value == CapName::All) {
            let at = c
                .add
                .iter()
                .find(|a| a.value == CapName::All)
                .map(|a| a.loc.clone())
                .unwrap_or(c.loc.clone());
            self.push(
                Diagnostic::error("unknown-capability", "`ALL` cannot be added", at)
                    .with_help("list the capabilities to add, or extend the `privileged` profile"),
            );
            return None;
        }
        Some(c)
    }

    fn user(&mut self, n: &Node) -> Option<User> {
        let entries = self.fields(n, "user", &["uid", "gid", "groups"])?;
        let mut u = User {
            loc: self.loc(n),
            uid: None,
            gid: None,
            groups: None,
        };
        for (key, _, v) in entries {
            match key {
                "uid" => u.uid = self.u32(v, "a uid"),
                "gid" => u.gid = self.u32(v, "a gid"),
                "groups" => {
                    let items = self.list(v, "supplementary groups").unwrap_or(&[]);
                    u.groups = Some(items.iter().filter_map(|i| self.u32(i, "a gid")).collect());
                }
                _ => {}
            }
        }
        Some(u)
    }

    fn selinux(&mut self, n: &Node) -> Option<Selinux> {
        const KEYS: &[&str] = &[
            "label",
            "user",
            "role",
            "type",
            "level",
            "mountLabel",
            "required",
        ];
        let entries = self.fields(n, "selinux", KEYS)?;
        let mut s = Selinux {
            loc: self.loc(n),
            label: None,
            user: None,
            role: None,
            type_: None,
            level: None,
            mount_label: None,
            required: None,
        };
        for (key, _, v) in entries {
            match key {
                "label" => s.label = self.string(v),
                "user" => s.user = self.string(v),
                "role" => s.role = self.string(v),
                "type" => s.type_ = self.string(v),
                "level" => s.level = self.string(v),
                "mountLabel" => s.mount_label = self.string(v),
                "required" => s.required = self.boolean(v),
                _ => {}
            }
        }
        if let Some(l) = &s.label
            && let Some(c) = [&s.user, &s.role, &s.type_, &s.level]
                .into_iter()
                .flatten()
                .next()
        {
            let d = Diagnostic::error(
                "selinux-label-syntax",
                "`label` and the component keys are exclusive",
                c.loc.clone(),
            )
            .with_secondary(l.loc.clone(), "full label given here")
            .with_help("give either `label: user:role:type:level` or `user`/`role`/`type`/`level`");
            self.push(d);
            return None;
        }
        Some(s)
    }

    fn landlock(&mut self, n: &Node) -> Option<Landlock> {
        let entries = self.fields(n, "landlock", &["compatibility", "paths", "net", "scopes"])?;
        let mut l = Landlock {
            loc: self.loc(n),
            compatibility: None,
            paths: Vec::new(),
            bind_tcp: None,
            connect_tcp: None,
            restrict_fs: false,
            scopes: Vec::new(),
        };
        for (key, _, v) in entries {
            match key {
                "compatibility" => l.compatibility = self.compatibility(v),
                "paths" => {
                    l.restrict_fs = true;
                    for p in self.list(v, "path rules").unwrap_or(&[]) {
                        let Some(fields) =
                            self.fields(p, "a Landlock path rule", &["path", "access"])
                        else {
                            continue;
                        };
                        let mut path = None;
                        let mut access = Vec::new();
                        for (k, _, fv) in fields {
                            match k {
                                "path" => path = self.string(fv),
                                "access" => {
                                    for a in self.list(fv, "access rights").unwrap_or(&[]) {
                                        if let Some(s) = self.string(a) {
                                            if LANDLOCK_ACCESS.contains(&s.value.as_str()) {
                                                access.push(s);
                                            } else {
                                                let mut d = self.error(
                                                    "unknown-access-right",
                                                    format!(
                                                        "unknown Landlock access right `{}`",
                                                        s.value
                                                    ),
                                                    a,
                                                );
                                                d.help = Some(
                                                    match suggest::closest(
                                                        &s.value,
                                                        LANDLOCK_ACCESS.iter().copied(),
                                                    ) {
                                                        Some(x) => format!("did you mean `{x}`?"),
                                                        None => format!(
                                                            "rights: {}",
                                                            LANDLOCK_ACCESS.join(", ")
                                                        ),
                                                    },
                                                );
                                                self.push(d);
                                            }
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                        match path {
                            Some(path) => l.paths.push(LandlockPath {
                                loc: self.loc(p),
                                path,
                                access,
                            }),
                            None => {
                                let d = self.error(
                                    "missing-key",
                                    "a Landlock path rule needs `path`",
                                    p,
                                );
                                self.push(d);
                            }
                        }
                    }
                }
                "net" => {
                    let Some(fields) = self.fields(v, "landlock.net", &["bindTcp", "connectTcp"])
                    else {
                        continue;
                    };
                    for (k, _, fv) in fields {
                        let ports: Vec<Spanned<u16>> = self
                            .list(fv, "TCP ports")
                            .unwrap_or(&[])
                            .iter()
                            .filter_map(|p| self.uint(p, 65535, "a TCP port"))
                            .map(|s| Spanned::new(s.value as u16, s.loc))
                            .collect();
                        if k == "bindTcp" {
                            l.bind_tcp = Some(ports);
                        } else {
                            l.connect_tcp = Some(ports);
                        }
                    }
                }
                "scopes" => {
                    for s in self.strings(v, "scopes") {
                        if LANDLOCK_SCOPES.contains(&s.value.as_str()) {
                            l.scopes.push(s);
                        } else {
                            self.push(
                                Diagnostic::error(
                                    "unknown-access-right",
                                    format!("unknown Landlock scope `{}`", s.value),
                                    s.loc,
                                )
                                .with_help(format!("scopes: {}", LANDLOCK_SCOPES.join(", "))),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        Some(l)
    }

    fn mappings(&mut self, n: &Node) -> Vec<IdMapping> {
        let mut out = Vec::new();
        for m in self.list(n, "ID mappings").unwrap_or(&[]) {
            let Some(fields) = self.fields(m, "an ID mapping", &["containerID", "hostID", "size"])
            else {
                continue;
            };
            let (mut c, mut h, mut s) = (None, None, None);
            for (k, _, v) in fields {
                match k {
                    "containerID" => c = self.u32(v, "an ID"),
                    "hostID" => h = self.u32(v, "an ID"),
                    "size" => s = self.u32(v, "a range size"),
                    _ => {}
                }
            }
            match (c, h, s) {
                (Some(c), Some(h), Some(s)) => out.push(IdMapping {
                    loc: self.loc(m),
                    container_id: c.value,
                    host_id: h.value,
                    size: s.value,
                }),
                _ => {
                    let d = self.error(
                        "missing-key",
                        "an ID mapping needs `containerID`, `hostID` and `size`",
                        m,
                    );
                    self.push(d);
                }
            }
        }
        out
    }

    fn user_namespace(&mut self, n: &Node) -> Option<UserNamespace> {
        let entries = self.fields(
            n,
            "userNamespace",
            &["mode", "size", "uidMappings", "gidMappings"],
        )?;
        let mut mode = None;
        let mut u = UserNamespace {
            loc: self.loc(n),
            mode: Spanned::new(UsernsMode::Host, self.loc(n)),
            size: None,
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        };
        for (key, _, v) in entries {
            match key {
                "mode" => {
                    mode = self.string(v).and_then(|m| {
                        let mode = match m.value.as_str() {
                            "host" => UsernsMode::Host,
                            "auto" => UsernsMode::Auto,
                            "explicit" => UsernsMode::Explicit,
                            other => {
                                let d = self
                                    .error(
                                        "type-mismatch",
                                        format!("unknown user-namespace mode `{other}`"),
                                        v,
                                    )
                                    .with_help("use `host`, `auto` or `explicit`");
                                self.push(d);
                                return None;
                            }
                        };
                        Some(Spanned::new(mode, m.loc))
                    })
                }
                "size" => u.size = self.u32(v, "a range size"),
                "uidMappings" => u.uid_mappings = self.mappings(v),
                "gidMappings" => u.gid_mappings = self.mappings(v),
                _ => {}
            }
        }
        match mode {
            Some(m) => u.mode = m,
            None => {
                let d = self
                    .error("missing-key", "userNamespace needs `mode`", n)
                    .with_help("add `mode: auto` (a unique range per pod), `mode: explicit` (with uidMappings) or `mode: host`");
                self.push(d);
                return None;
            }
        }
        Some(u)
    }

    fn profile(&mut self, root: &Node) -> Option<Profile> {
        const KEYS: &[&str] = &[
            "apiVersion",
            "kind",
            "metadata",
            "extends",
            "user",
            "noNewPrivileges",
            "capabilities",
            "seccomp",
            "selinux",
            "landlock",
            "userNamespace",
        ];
        let entries = self.fields(root, "a profile", KEYS)?;
        let mut p = Profile {
            file: Arc::clone(self.file),
            loc: self.loc(root),
            name: None,
            description: None,
            extends: None,
            user: None,
            no_new_privileges: None,
            capabilities: None,
            seccomp: None,
            selinux: None,
            landlock: None,
            user_namespace: None,
        };
        let mut api = false;
        let mut kind = false;
        for (key, _, v) in entries {
            match key {
                "apiVersion" => {
                    api = true;
                    if let Some(s) = self.string(v)
                        && s.value != API_VERSION
                    {
                        let d = self
                            .error(
                                "unsupported-version",
                                format!("unsupported apiVersion `{}`", s.value),
                                v,
                            )
                            .with_help(format!("this rampart reads `{API_VERSION}`"));
                        self.push(d);
                    }
                }
                "kind" => {
                    kind = true;
                    if let Some(s) = self.string(v)
                        && s.value != KIND
                    {
                        let d = self
                                .error("type-mismatch", format!("expected kind `{KIND}`, found `{}`", s.value), v)
                                .with_help("syscall group files (kind: SyscallGroups) belong in profiles/groups/");
                        self.push(d);
                    }
                }
                "metadata" => {
                    if let Some(fields) = self.fields(v, "metadata", &["name", "description"]) {
                        for (k, _, mv) in fields {
                            match k {
                                "name" => p.name = self.string(mv),
                                _ => p.description = self.string(mv).map(|s| s.value),
                            }
                        }
                    }
                }
                "extends" => p.extends = self.string(v),
                "user" => p.user = self.user(v),
                "noNewPrivileges" => p.no_new_privileges = self.boolean(v),
                "capabilities" => p.capabilities = self.capabilities(v),
                "seccomp" => p.seccomp = self.seccomp(v),
                "selinux" => p.selinux = self.selinux(v),
                "landlock" => p.landlock = self.landlock(v),
                "userNamespace" => p.user_namespace = self.user_namespace(v),
                _ => {}
            }
        }
        let head = Location::new(self.file, root.span.start..root.span.start);
        if !api {
            self.push(
                Diagnostic::error("missing-key", "a profile needs `apiVersion`", head.clone())
                    .with_help(format!("start the file with `apiVersion: {API_VERSION}`")),
            );
        }
        if !kind {
            self.push(
                Diagnostic::error("missing-key", "a profile needs `kind`", head)
                    .with_help(format!("add `kind: {KIND}`")),
            );
        }
        Some(p)
    }
}

/// Parses and decodes one profile file. The profile is returned whenever the
/// document could be read at all, together with every diagnostic; callers
/// must not use a profile whose diagnostics contain errors.
pub fn parse(file: &Arc<SourceFile>) -> (Option<Profile>, Vec<Diagnostic>) {
    let (doc, mut diags) = yaml::parse(file);
    let Some(root) = &doc.root else {
        if diags.is_empty() {
            diags.push(
                Diagnostic::error(
                    "missing-key",
                    "the file is empty",
                    Location::new(file, 0..0),
                )
                .with_help(format!(
                    "a profile starts with `apiVersion: {API_VERSION}` and `kind: {KIND}`"
                )),
            );
        }
        return (None, diags);
    };
    let mut d = Decoder { file, diags };
    let p = d.profile(root);
    (p, d.diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Option<Profile>, Vec<Diagnostic>) {
        parse(&SourceFile::new("p.yaml", text))
    }

    const HEAD: &str = "apiVersion: rampart.dev/v1\nkind: SecurityProfile\n";

    #[test]
    fn decodes_the_example_shape() {
        let text = format!(
            "{HEAD}{}",
            r#"metadata: {name: web}
extends: default
user: {uid: 101, gid: 101, groups: []}
capabilities: {drop: [ALL], add: [NET_BIND_SERVICE], ambient: [cap_net_bind_service]}
seccomp:
  defaultAction: errno(EPERM)
  architectures: [native, aarch64]
  syscalls:
    - names: [read, write]
      action: allow
    - names: [clone]
      action: allow
      when: arg0 & (CLONE_NEWNS | CLONE_NEWUSER) == 0
      unlessCapability: [SYS_ADMIN]
    - names: [clone3]
      action: errno(ENOSYS)
selinux: {type: container_t, level: auto, required: false}
landlock: {compatibility: best-effort, paths: [{path: /usr, access: [read, execute]}], net: {bindTcp: [80]}}
userNamespace: {mode: auto, size: 65536}
"#
        );
        let (p, diags) = parse_str(&text);
        assert!(diags.is_empty(), "{diags:?}");
        let p = p.unwrap();
        let s = p.seccomp.unwrap();
        assert_eq!(s.syscalls.len(), 3);
        assert_eq!(s.syscalls[2].action.value, Action::Errno(38));
        assert_eq!(s.architectures.unwrap()[0].value, ArchSel::Native);
        assert_eq!(p.capabilities.unwrap().drop[0].value, CapName::All);
        assert_eq!(p.landlock.unwrap().bind_tcp.unwrap()[0].value, 80);
        assert_eq!(p.user_namespace.unwrap().mode.value, UsernsMode::Auto);
    }

    #[test]
    fn unknown_keys_suggest_and_point_at_the_key() {
        let (_, diags) = parse_str(&format!("{HEAD}seccomp:\n  defaultActon: allow\n"));
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "unknown-key");
        assert_eq!(diags[0].position(), ("p.yaml".into(), 4, 3));
        assert!(
            diags[0]
                .help
                .as_deref()
                .unwrap()
                .starts_with("did you mean `defaultAction`?")
        );
    }

    #[test]
    fn expression_errors_point_inside_the_string() {
        let (_, diags) = parse_str(&format!(
            "{HEAD}seccomp:\n  syscalls:\n    - names: [clone]\n      action: allow\n      when: \"arg0 & CLONE_NEWUSR == 0\"\n"
        ));
        assert_eq!(diags[0].code, "unknown-constant");
        // line 7: `      when: "arg0 & CLONE_NEWUSR == 0"`; the constant starts at column 21.
        assert_eq!(diags[0].position(), ("p.yaml".into(), 7, 21));
    }

    #[test]
    fn many_errors_in_one_pass() {
        let (_, diags) = parse_str(&format!(
            "{HEAD}noNewPrivileges: yes\ncapabilities: {{add: [NET_BIND]}}\nseccomp:\n  defaultAction: errno(EPREM)\n  syscalls: [{{names: [read], action: alow}}]\n"
        ));
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                "type-mismatch",
                "unknown-capability",
                "unknown-errno",
                "unknown-action"
            ]
        );
    }

    #[test]
    fn mixed_capability_forms_are_rejected() {
        let (_, diags) = parse_str(&format!(
            "{HEAD}capabilities: {{drop: [ALL], bounding: [CHOWN]}}\n"
        ));
        assert_eq!(diags[0].code, "capabilities-mixed-forms");
    }

    #[test]
    fn missing_header_and_empty_files() {
        let (_, diags) = parse_str("seccomp: {}\n");
        assert_eq!(diags.iter().filter(|d| d.code == "missing-key").count(), 2);
        let (p, diags) = parse_str("");
        assert!(p.is_none());
        assert_eq!(diags[0].code, "missing-key");
    }
}
