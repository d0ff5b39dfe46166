//! The compiled policy: what `rampart-enforce` applies, as types that cannot hold a
//! contradiction.
//!
//! The policy compiler builds a [`CompiledPolicy`] with [`PolicyBuilder`] and
//! serialises it with [`crate::blob::encode`]; the enforcer decodes it and applies
//! it. Every constructor that has something to check returns `Result`, so a value of
//! these types is always one the enforcer can apply in the documented order. Fields
//! with an invariant are private and read through accessors.

use landlock::{Access, AccessFs, AccessNet, BitFlags, Scope};

use crate::bpf::SeccompProgram;

/// `CAP_LAST_CAP` on the kernels we support (`CAP_CHECKPOINT_RESTORE`, Linux 5.9).
pub const CAP_LAST_CAP: u8 = 40;
/// Every capability bit the policy may name.
pub const CAP_ALL: u64 = (1u64 << (CAP_LAST_CAP + 1)) - 1;
/// capabilities(7) names in number order, for messages: see [`cap_name`]. One
/// string, not an array of `&str`: each of those is a pointer that the static
/// enforcer relocates at every start, and their 656 bytes alone took its relocated
/// read-only data from two pages to three: one page fault more per launch.
const CAP_NAMES: &str = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID \
                         CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE \
                         CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW \
                         CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT \
                         CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE \
                         CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE \
                         CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE \
                         CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND \
                         CAP_AUDIT_READ CAP_PERFMON CAP_BPF CAP_CHECKPOINT_RESTORE";

/// The capabilities(7) name of capability `index`, if it is one of ours.
pub fn cap_name(index: usize) -> Option<&'static str> {
    CAP_NAMES.split(' ').nth(index)
}

/// `CAP_A, CAP_B` for the bits of `mask` (unknown bits by number).
pub fn cap_list(mask: u64) -> String {
    (0..64)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| match cap_name(i) {
            Some(n) => n.to_string(),
            None => format!("capability {i}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
/// `NGROUPS_MAX` (include/uapi/linux/limits.h).
pub const MAX_GROUPS: usize = 65536;
/// Longest SELinux context we accept (the kernel takes one page).
pub const MAX_LABEL_LEN: usize = 4095;
/// Most Landlock path rules in one policy (one `O_PATH` fd each while applying).
pub const MAX_LANDLOCK_PATHS: usize = 1024;
/// Most kept fds (0-2 are always kept and are not listed).
pub const MAX_KEEP_FDS: usize = 1024;

/// Why a policy value was refused. Each message says which field and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error(
        "capabilities: {set} contains bit(s) {bits:#x} that are not capabilities (the last one is {CAP_LAST_CAP}); remove them"
    )]
    UnknownCapability { set: &'static str, bits: u64 },
    #[error(
        "capabilities: {inner} must be a subset of {outer}, but {bits:#x} is only in {inner}; add it to {outer} or drop it from {inner}"
    )]
    CapNotSubset {
        inner: &'static str,
        outer: &'static str,
        bits: u64,
    },
    #[error("user: {count} supplementary groups; the kernel accepts at most {MAX_GROUPS}")]
    TooManyGroups { count: usize },
    #[error("user: uid/gid {id} is the kernel's \"no id\" value (u32::MAX) and cannot be set")]
    InvalidId { id: u32 },
    #[error(
        "selinux: {which} label is {problem}; give a context such as `system_u:system_r:container_t:s0`"
    )]
    BadLabel {
        which: &'static str,
        problem: &'static str,
    },
    #[error(
        "landlock: filesystem access bits {bits:#x} are not Landlock rights known to this build"
    )]
    UnknownLandlockAccess { bits: u64 },
    #[error(
        "landlock: rule for `{path}` grants {bits:#x}, which the ruleset does not handle; add the bits to handled_fs"
    )]
    AccessNotHandled { path: String, bits: u64 },
    #[error("landlock: rule for `{path}` grants no access at all; remove the rule")]
    EmptyAccess { path: String },
    #[error("landlock: rule path `{path}` must be absolute and contain no NUL byte")]
    BadRulePath { path: String },
    #[error("landlock: {count} path rules; at most {MAX_LANDLOCK_PATHS} are supported")]
    TooManyRules { count: usize },
    #[error(
        "landlock: {kind} TCP port rules are listed but {kind} is not handled; set handle_{kind}_tcp or remove the ports"
    )]
    PortsNotHandled { kind: &'static str },
    #[error(
        "landlock: the ruleset handles nothing (no filesystem rights, no network rights, no scopes); drop the landlock section instead"
    )]
    EmptyRuleset,
    #[error("keep_fds: fd {fd} cannot be kept: {reason}")]
    BadKeepFd { fd: i32, reason: &'static str },
    #[error("keep_fds: {count} fds; at most {MAX_KEEP_FDS} are supported")]
    TooManyKeepFds { count: usize },
    #[error(
        "seccomp: compat gate {index} (arch 0x{arch:08x}) at instruction {at}: {reason}; recompile the policy"
    )]
    BadCompatGate {
        index: usize,
        arch: u32,
        at: u16,
        reason: &'static str,
    },
}

/// `seccomp(SECCOMP_SET_MODE_FILTER)` with the program and its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompSpec {
    /// The validated filter.
    pub program: SeccompProgram,
    /// `SECCOMP_FILTER_FLAG_TSYNC`: install on every thread (the enforcer is single-threaded).
    pub tsync: bool,
    /// `SECCOMP_FILTER_FLAG_LOG`: log every non-allow action.
    pub log: bool,
    /// When the kernel has no seccomp at all: `true` fails closed, `false` reports
    /// "not applied" and runs the program anyway. Any other failure is always fatal.
    pub required: bool,
    /// The program's compat gates (see [`crate::bpf::gate`]), by instruction
    /// index; [`PolicyBuilder::build`] checks each one.
    pub compat_gates: Vec<CompatGate>,
}

impl SeccompSpec {
    /// Whether one of the program's compat gates is closed.
    pub fn compat_gate_closed(&self) -> bool {
        self.compat_gates.iter().any(|g| {
            self.program.instructions().get(usize::from(g.at)) == Some(&crate::bpf::gate::CLOSED)
        })
    }
}

/// Where the search tree of a compat ABI starts: the gate that
/// [`CompiledPolicy::close_compat_gate`] closes for a 64-bit app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompatGate {
    /// The ABI's `AUDIT_ARCH_*` token.
    pub arch: u32,
    /// The gate's instruction index.
    pub at: u16,
}

/// The `AUDIT_ARCH_*` token of the running kernel's compat ABI
/// (`SECCOMP_ARCH_COMPAT`): the second ABI whose numbers the kernel's action
/// cache emulates when a filter is attached.
pub const KERNEL_COMPAT_ARCH: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(0x4000_0003) // AUDIT_ARCH_I386
} else if cfg!(target_arch = "aarch64") {
    Some(0x4000_0028) // AUDIT_ARCH_ARM
} else {
    None
};

/// The five capability sets as bitmasks (`1 << CAP_*`).
///
/// Invariants (checked by [`CapSets::new`]): every bit is a capability;
/// effective ⊆ permitted ⊆ bounding; inheritable ⊆ bounding;
/// ambient ⊆ permitted ∩ inheritable (the kernel refuses anything else in `capset`
/// or `PR_CAP_AMBIENT_RAISE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CapSets {
    bounding: u64,
    permitted: u64,
    effective: u64,
    inheritable: u64,
    ambient: u64,
}

impl CapSets {
    pub fn new(
        bounding: u64,
        permitted: u64,
        effective: u64,
        inheritable: u64,
        ambient: u64,
    ) -> Result<Self, PolicyError> {
        for (set, v) in [
            ("bounding", bounding),
            ("permitted", permitted),
            ("effective", effective),
            ("inheritable", inheritable),
            ("ambient", ambient),
        ] {
            if v & !CAP_ALL != 0 {
                return Err(PolicyError::UnknownCapability {
                    set,
                    bits: v & !CAP_ALL,
                });
            }
        }
        let subset = |inner: &'static str, a: u64, outer: &'static str, b: u64| {
            if a & !b != 0 {
                Err(PolicyError::CapNotSubset {
                    inner,
                    outer,
                    bits: a & !b,
                })
            } else {
                Ok(())
            }
        };
        subset("effective", effective, "permitted", permitted)?;
        subset("permitted", permitted, "bounding", bounding)?;
        subset("inheritable", inheritable, "bounding", bounding)?;
        subset("ambient", ambient, "permitted", permitted)?;
        subset("ambient", ambient, "inheritable", inheritable)?;
        Ok(CapSets {
            bounding,
            permitted,
            effective,
            inheritable,
            ambient,
        })
    }

    /// No capability in any set.
    pub fn none() -> Self {
        CapSets {
            bounding: 0,
            permitted: 0,
            effective: 0,
            inheritable: 0,
            ambient: 0,
        }
    }

    /// `caps` in bounding, permitted and effective; nothing inheritable or ambient.
    /// This is the shape of Docker's and the OCI default (CVE-2022-29162: no inheritable).
    pub fn effective_only(caps: u64) -> Result<Self, PolicyError> {
        CapSets::new(caps, caps, caps, 0, 0)
    }

    pub fn bounding(&self) -> u64 {
        self.bounding
    }
    pub fn permitted(&self) -> u64 {
        self.permitted
    }
    pub fn effective(&self) -> u64 {
        self.effective
    }
    pub fn inheritable(&self) -> u64 {
        self.inheritable
    }
    pub fn ambient(&self) -> u64 {
        self.ambient
    }
}

/// The identity the program runs as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserSpec {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl UserSpec {
    /// `groups` are the supplementary groups in the order given (may be empty).
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>) -> Result<Self, PolicyError> {
        for id in std::iter::once(uid)
            .chain(std::iter::once(gid))
            .chain(groups.iter().copied())
        {
            if id == u32::MAX {
                return Err(PolicyError::InvalidId { id });
            }
        }
        if groups.len() > MAX_GROUPS {
            return Err(PolicyError::TooManyGroups {
                count: groups.len(),
            });
        }
        Ok(UserSpec { uid, gid, groups })
    }
    pub fn uid(&self) -> u32 {
        self.uid
    }
    pub fn gid(&self) -> u32 {
        self.gid
    }
    pub fn groups(&self) -> &[u32] {
        &self.groups
    }
}

/// The SELinux exec label (written to `/proc/thread-self/attr/exec`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SelinuxSpec {
    process_label: String,
    mount_label: Option<String>,
    required: bool,
}

impl SelinuxSpec {
    /// `required`: on a host without SELinux, `true` fails closed and `false` reports
    /// the label as "not applied". A tampered `/proc` is fatal either way.
    pub fn new(
        process_label: String,
        mount_label: Option<String>,
        required: bool,
    ) -> Result<Self, PolicyError> {
        check_label("process", &process_label)?;
        if let Some(m) = &mount_label {
            check_label("mount", m)?;
        }
        Ok(SelinuxSpec {
            process_label,
            mount_label,
            required,
        })
    }
    pub fn process_label(&self) -> &str {
        &self.process_label
    }
    /// Carried for the launcher (mount options); the enforcer does not mount.
    pub fn mount_label(&self) -> Option<&str> {
        self.mount_label.as_deref()
    }
    pub fn required(&self) -> bool {
        self.required
    }
}

fn check_label(which: &'static str, label: &str) -> Result<(), PolicyError> {
    let problem = if label.is_empty() {
        "empty"
    } else if label.len() > MAX_LABEL_LEN {
        "longer than 4095 bytes"
    } else if label
        .bytes()
        .any(|b| b == 0 || b.is_ascii_whitespace() || !b.is_ascii_graphic())
    {
        "not printable ASCII without spaces"
    } else if label.split(':').count() < 3 {
        "not of the form user:role:type[:level]"
    } else {
        return Ok(());
    };
    Err(PolicyError::BadLabel { which, problem })
}

/// How a Landlock ruleset copes with a kernel that lacks some of what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compatibility {
    /// Anything the running kernel cannot enforce fails the run before any change.
    Required,
    /// Enforce what the kernel supports; report what was dropped.
    BestEffort,
}

/// One `PathBeneath` rule: `access` (Landlock `LANDLOCK_ACCESS_FS_*` bits) beneath `path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathRule {
    path: String,
    access: u64,
}

impl PathRule {
    pub fn new(path: impl Into<String>, access: u64) -> Result<Self, PolicyError> {
        let path = path.into();
        if !path.starts_with('/') || path.contains('\0') {
            return Err(PolicyError::BadRulePath { path });
        }
        if access == 0 {
            return Err(PolicyError::EmptyAccess { path });
        }
        known_fs_access(access)?;
        Ok(PathRule { path, access })
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn access(&self) -> u64 {
        self.access
    }
}

/// Landlock scopes (ABI 6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes {
    /// `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`.
    pub abstract_unix: bool,
    /// `LANDLOCK_SCOPE_SIGNAL`.
    pub signal: bool,
}

/// A Landlock ruleset. Handled rights are denied except where a rule grants them.
///
/// Invariants: every access bit is a known Landlock right; every rule grants only
/// handled rights; ports are listed only for a handled network right; ports are
/// sorted and unique; the ruleset handles something.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LandlockSpec {
    compatibility: Compatibility,
    handled_fs: u64,
    handle_bind_tcp: bool,
    handle_connect_tcp: bool,
    paths: Vec<PathRule>,
    bind_tcp: Vec<u16>,
    connect_tcp: Vec<u16>,
    scopes: Scopes,
}

/// Input for [`LandlockSpec::new`]: plain data, checked there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandlockSpecParts {
    pub compatibility: Compatibility,
    /// Filesystem rights the ruleset handles (denies unless a rule allows).
    pub handled_fs: u64,
    /// Deny `bind` on TCP ports not in `bind_tcp` (ABI 4).
    pub handle_bind_tcp: bool,
    /// Deny `connect` to TCP ports not in `connect_tcp` (ABI 4).
    pub handle_connect_tcp: bool,
    pub paths: Vec<PathRule>,
    pub bind_tcp: Vec<u16>,
    pub connect_tcp: Vec<u16>,
    pub scopes: Scopes,
}

impl LandlockSpec {
    /// Checks the invariants; sorts and de-duplicates the port lists.
    pub fn new(p: LandlockSpecParts) -> Result<Self, PolicyError> {
        known_fs_access(p.handled_fs)?;
        if p.paths.len() > MAX_LANDLOCK_PATHS {
            return Err(PolicyError::TooManyRules {
                count: p.paths.len(),
            });
        }
        for r in &p.paths {
            if r.access & !p.handled_fs != 0 {
                return Err(PolicyError::AccessNotHandled {
                    path: r.path.clone(),
                    bits: r.access & !p.handled_fs,
                });
            }
        }
        if !p.handle_bind_tcp && !p.bind_tcp.is_empty() {
            return Err(PolicyError::PortsNotHandled { kind: "bind" });
        }
        if !p.handle_connect_tcp && !p.connect_tcp.is_empty() {
            return Err(PolicyError::PortsNotHandled { kind: "connect" });
        }
        if p.handled_fs == 0
            && !p.handle_bind_tcp
            && !p.handle_connect_tcp
            && !p.scopes.abstract_unix
            && !p.scopes.signal
        {
            return Err(PolicyError::EmptyRuleset);
        }
        let norm = |mut v: Vec<u16>| {
            v.sort_unstable();
            v.dedup();
            v
        };
        Ok(LandlockSpec {
            compatibility: p.compatibility,
            handled_fs: p.handled_fs,
            handle_bind_tcp: p.handle_bind_tcp,
            handle_connect_tcp: p.handle_connect_tcp,
            paths: p.paths,
            bind_tcp: norm(p.bind_tcp),
            connect_tcp: norm(p.connect_tcp),
            scopes: p.scopes,
        })
    }

    pub fn compatibility(&self) -> Compatibility {
        self.compatibility
    }
    pub fn handled_fs(&self) -> u64 {
        self.handled_fs
    }
    pub fn handle_bind_tcp(&self) -> bool {
        self.handle_bind_tcp
    }
    pub fn handle_connect_tcp(&self) -> bool {
        self.handle_connect_tcp
    }
    pub fn paths(&self) -> &[PathRule] {
        &self.paths
    }
    pub fn bind_tcp(&self) -> &[u16] {
        &self.bind_tcp
    }
    pub fn connect_tcp(&self) -> &[u16] {
        &self.connect_tcp
    }
    pub fn scopes(&self) -> Scopes {
        self.scopes
    }

    /// The lowest Landlock ABI that can enforce everything this ruleset asks for.
    pub fn min_abi(&self) -> i32 {
        let mut need = 1;
        let fs = BitFlags::<AccessFs>::from_bits_truncate(self.handled_fs);
        for abi in 1..=64 {
            if AccessFs::from_all(landlock::ABI::from(abi)).contains(fs) {
                need = need.max(abi);
                break;
            }
        }
        if self.handle_bind_tcp || self.handle_connect_tcp {
            need = need.max(4);
        }
        if self.scopes.abstract_unix || self.scopes.signal {
            need = need.max(6);
        }
        need
    }

    /// The parts of this ruleset a kernel with Landlock `abi` cannot enforce, as
    /// human-readable names (empty when it can enforce everything).
    pub fn unsupported_on(&self, abi: i32) -> Vec<String> {
        let mut out = Vec::new();
        let have = if abi <= 0 {
            BitFlags::<AccessFs>::empty()
        } else {
            AccessFs::from_all(landlock::ABI::from(abi))
        };
        let fs = BitFlags::<AccessFs>::from_bits_truncate(self.handled_fs);
        for f in (fs & !have).iter() {
            out.push(format!("fs:{f:?}"));
        }
        let net = if abi <= 0 {
            BitFlags::<AccessNet>::empty()
        } else {
            AccessNet::from_all(landlock::ABI::from(abi))
        };
        if self.handle_bind_tcp && !net.contains(AccessNet::BindTcp) {
            out.push("net:BindTcp".into());
        }
        if self.handle_connect_tcp && !net.contains(AccessNet::ConnectTcp) {
            out.push("net:ConnectTcp".into());
        }
        let sc = if abi <= 0 {
            BitFlags::<Scope>::empty()
        } else {
            Scope::from_all(landlock::ABI::from(abi))
        };
        if self.scopes.abstract_unix && !sc.contains(Scope::AbstractUnixSocket) {
            out.push("scope:AbstractUnixSocket".into());
        }
        if self.scopes.signal && !sc.contains(Scope::Signal) {
            out.push("scope:Signal".into());
        }
        out
    }
}

fn known_fs_access(bits: u64) -> Result<(), PolicyError> {
    match BitFlags::<AccessFs>::from_bits(bits) {
        Ok(_) => Ok(()),
        Err(e) => Err(PolicyError::UnknownLandlockAccess {
            bits: e.invalid_bits(),
        }),
    }
}

/// Landlock filesystem rights (`LANDLOCK_ACCESS_FS_*`), for building rules.
pub mod fs_access {
    pub const EXECUTE: u64 = 1 << 0;
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const READ_FILE: u64 = 1 << 2;
    pub const READ_DIR: u64 = 1 << 3;
    pub const REMOVE_DIR: u64 = 1 << 4;
    pub const REMOVE_FILE: u64 = 1 << 5;
    pub const MAKE_CHAR: u64 = 1 << 6;
    pub const MAKE_DIR: u64 = 1 << 7;
    pub const MAKE_REG: u64 = 1 << 8;
    pub const MAKE_SOCK: u64 = 1 << 9;
    pub const MAKE_FIFO: u64 = 1 << 10;
    pub const MAKE_BLOCK: u64 = 1 << 11;
    pub const MAKE_SYM: u64 = 1 << 12;
    pub const REFER: u64 = 1 << 13;
    pub const TRUNCATE: u64 = 1 << 14;
    pub const IOCTL_DEV: u64 = 1 << 15;
    /// Every right of Landlock ABI 1.
    pub const ABI1_ALL: u64 = (1 << 13) - 1;
    /// Read and execute: what a program needs to be started and load its libraries.
    pub const READ_EXEC: u64 = EXECUTE | READ_FILE | READ_DIR;
}

/// Everything the enforcer applies. Build it with [`CompiledPolicy::builder`].
///
/// `caps: None` means "do not touch the capability sets" (the uid change alone then
/// decides them). The compiler must always emit `Some` for a profile: an omitted
/// capability section means the profile's default, never "keep everything".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    seccomp: Option<SeccompSpec>,
    caps: Option<CapSets>,
    no_new_privs: bool,
    user: Option<UserSpec>,
    selinux: Option<SelinuxSpec>,
    landlock: Option<LandlockSpec>,
    personality: Option<u32>,
    keep_fds: Vec<i32>,
}

impl CompiledPolicy {
    /// A builder starting from "nothing applied, no_new_privs on".
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder {
            policy: CompiledPolicy {
                seccomp: None,
                caps: None,
                no_new_privs: true,
                user: None,
                selinux: None,
                landlock: None,
                personality: None,
                keep_fds: Vec::new(),
            },
        }
    }

    pub fn seccomp(&self) -> Option<&SeccompSpec> {
        self.seccomp.as_ref()
    }
    pub fn caps(&self) -> Option<&CapSets> {
        self.caps.as_ref()
    }
    pub fn no_new_privs(&self) -> bool {
        self.no_new_privs
    }
    pub fn user(&self) -> Option<&UserSpec> {
        self.user.as_ref()
    }
    pub fn selinux(&self) -> Option<&SelinuxSpec> {
        self.selinux.as_ref()
    }
    pub fn landlock(&self) -> Option<&LandlockSpec> {
        self.landlock.as_ref()
    }
    /// `personality(2)` persona, e.g. `0x0008` (`PER_LINUX32`).
    pub fn personality(&self) -> Option<u32> {
        self.personality
    }
    /// Fds ≥ 3 the program inherits, sorted and unique.
    pub fn keep_fds(&self) -> &[i32] {
        &self.keep_fds
    }

    /// Whether the filter has a compat gate for `arch`.
    pub fn has_compat_gate(&self, arch: u32) -> bool {
        self.seccomp
            .as_ref()
            .is_some_and(|s| s.compat_gates.iter().any(|g| g.arch == arch))
    }

    /// Closes the filter's gate for `arch` (see [`crate::bpf::gate`]): when
    /// attached, the filter costs the kernel less, and the action cache does
    /// not cover that ABI's numbers. Every syscall is decided as before.
    /// Returns whether a gate was closed.
    pub fn close_compat_gate(&mut self, arch: u32) -> bool {
        let Some(s) = self.seccomp.as_mut() else {
            return false;
        };
        let mut closed = false;
        for g in s.compat_gates.iter().filter(|g| g.arch == arch) {
            closed |= s.program.close_gate(usize::from(g.at));
        }
        closed
    }
}

/// Builds a [`CompiledPolicy`]; [`PolicyBuilder::build`] checks what spans fields.
#[derive(Debug, Clone)]
pub struct PolicyBuilder {
    policy: CompiledPolicy,
}

impl PolicyBuilder {
    pub fn seccomp(mut self, spec: SeccompSpec) -> Self {
        self.policy.seccomp = Some(spec);
        self
    }
    pub fn caps(mut self, caps: CapSets) -> Self {
        self.policy.caps = Some(caps);
        self
    }
    pub fn no_new_privs(mut self, on: bool) -> Self {
        self.policy.no_new_privs = on;
        self
    }
    pub fn user(mut self, user: UserSpec) -> Self {
        self.policy.user = Some(user);
        self
    }
    pub fn selinux(mut self, selinux: SelinuxSpec) -> Self {
        self.policy.selinux = Some(selinux);
        self
    }
    pub fn landlock(mut self, landlock: LandlockSpec) -> Self {
        self.policy.landlock = Some(landlock);
        self
    }
    pub fn personality(mut self, persona: u32) -> Self {
        self.policy.personality = Some(persona);
        self
    }
    /// Fds (≥ 3) the program inherits; 0, 1 and 2 are always inherited.
    pub fn keep_fds(mut self, fds: impl IntoIterator<Item = i32>) -> Self {
        self.policy.keep_fds = fds.into_iter().collect();
        self
    }

    /// Checks the cross-field rules and normalises the fd list (sorted, unique).
    pub fn build(mut self) -> Result<CompiledPolicy, PolicyError> {
        let fds = &mut self.policy.keep_fds;
        if fds.len() > MAX_KEEP_FDS {
            return Err(PolicyError::TooManyKeepFds { count: fds.len() });
        }
        for &fd in fds.iter() {
            if fd < 3 {
                return Err(PolicyError::BadKeepFd {
                    fd,
                    reason: "0, 1 and 2 are always kept and negative fds do not exist; list only fds >= 3",
                });
            }
        }
        fds.sort_unstable();
        fds.dedup();
        if let Some(s) = &self.policy.seccomp {
            let mut last = None;
            for (index, g) in s.compat_gates.iter().enumerate() {
                let reason = if !s.program.is_gate(usize::from(g.at)) {
                    "not a gate (`ja 0` or `ld [instruction_pointer]`) followed by `ld [nr]`"
                } else if last.is_some_and(|l| l >= g.at) {
                    "not after the previous gate"
                } else {
                    last = Some(g.at);
                    continue;
                };
                return Err(PolicyError::BadCompatGate {
                    index,
                    arch: g.arch,
                    at: g.at,
                    reason,
                });
            }
        }
        Ok(self.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_gates_are_checked_and_closed_by_arch() {
        use crate::bpf::{SockFilter, gate, op, ret};
        let program = SeccompProgram::new(vec![
            gate::OPEN,
            gate::LOAD_NR,
            gate::OPEN,
            gate::LOAD_NR,
            SockFilter::stmt(op::RET | op::K, ret::ALLOW),
        ])
        .unwrap();
        let with = |gates: &[(u32, u16)]| {
            CompiledPolicy::builder()
                .seccomp(SeccompSpec {
                    program: program.clone(),
                    tsync: false,
                    log: false,
                    required: true,
                    compat_gates: gates
                        .iter()
                        .map(|&(arch, at)| CompatGate { arch, at })
                        .collect(),
                })
                .build()
        };
        // Not a gate, out of range, or out of order: refused.
        for bad in [
            &[(1, 1)][..],
            &[(1, 5)],
            &[(1, 2), (2, 0)],
            &[(1, 0), (2, 0)],
        ] {
            assert!(
                matches!(with(bad), Err(PolicyError::BadCompatGate { .. })),
                "{bad:?}"
            );
        }
        let reason = |gates: &[(u32, u16)]| match with(gates) {
            Err(PolicyError::BadCompatGate { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(&[(1, 1)]).starts_with("not a gate"));
        assert_eq!(reason(&[(1, 2), (2, 0)]), "not after the previous gate");
        let mut p = with(&[(1, 0), (2, 2)]).unwrap();
        assert!(p.has_compat_gate(2) && !p.has_compat_gate(3));
        assert!(p.close_compat_gate(2));
        let insns = p.seccomp().unwrap().program.instructions();
        assert_eq!((insns[0], insns[2]), (gate::OPEN, gate::CLOSED));
        assert!(!p.close_compat_gate(3));
        assert!(
            !CompiledPolicy::builder()
                .build()
                .unwrap()
                .close_compat_gate(2)
        );
    }

    /// The enforcer's own name table (it does not link the `caps` crate) says
    /// what `caps`, and so the compiler, says.
    #[test]
    fn cap_names_match_the_caps_crate() {
        for c in caps::all() {
            assert_eq!(
                cap_name(c.index() as usize).unwrap(),
                c.to_string(),
                "{c:?}"
            );
        }
        assert_eq!(caps::all().len(), CAP_NAMES.split(' ').count());
        assert_eq!(cap_name(CAP_LAST_CAP as usize + 1), None);
        assert_eq!(cap_list(1 << 21 | 1), "CAP_CHOWN, CAP_SYS_ADMIN");
        assert_eq!(cap_list(1 << 50), "capability 50");
    }

    #[test]
    fn cap_invariants() {
        assert!(CapSets::new(0x400, 0x400, 0x400, 0x400, 0x400).is_ok());
        assert!(matches!(
            CapSets::new(0x400, 0x400, 0x401, 0, 0),
            Err(PolicyError::CapNotSubset {
                inner: "effective",
                outer: "permitted",
                bits: 1
            })
        ));
        assert!(matches!(
            CapSets::new(0x1, 0x3, 0, 0, 0),
            Err(PolicyError::CapNotSubset {
                inner: "permitted",
                outer: "bounding",
                ..
            })
        ));
        // Pitfall 10: ambient without inheritable is refused at compile time.
        let e = CapSets::new(0x400, 0x400, 0x400, 0, 0x400).unwrap_err();
        assert_eq!(
            e,
            PolicyError::CapNotSubset {
                inner: "ambient",
                outer: "inheritable",
                bits: 0x400
            }
        );
        assert!(
            e.to_string()
                .contains("ambient must be a subset of inheritable")
        );
        assert!(matches!(
            CapSets::new(1 << 41, 0, 0, 0, 0),
            Err(PolicyError::UnknownCapability { .. })
        ));
    }

    #[test]
    fn landlock_invariants() {
        let rule = PathRule::new("/tmp", fs_access::WRITE_FILE).unwrap();
        let parts = LandlockSpecParts {
            compatibility: Compatibility::Required,
            handled_fs: fs_access::READ_FILE,
            handle_bind_tcp: false,
            handle_connect_tcp: false,
            paths: vec![rule],
            bind_tcp: vec![],
            connect_tcp: vec![],
            scopes: Scopes::default(),
        };
        assert!(matches!(
            LandlockSpec::new(parts.clone()),
            Err(PolicyError::AccessNotHandled { .. })
        ));
        let ok = LandlockSpec::new(LandlockSpecParts {
            handled_fs: fs_access::ABI1_ALL,
            ..parts.clone()
        })
        .unwrap();
        assert_eq!(ok.min_abi(), 1);
        assert!(ok.unsupported_on(1).is_empty());
        assert_eq!(ok.unsupported_on(0).len(), 13);
        let net = LandlockSpec::new(LandlockSpecParts {
            handle_bind_tcp: true,
            bind_tcp: vec![80, 22, 80],
            ..parts.clone()
        });
        assert!(matches!(net, Err(PolicyError::AccessNotHandled { .. })));
        let net = LandlockSpec::new(LandlockSpecParts {
            handled_fs: 0,
            paths: vec![],
            handle_bind_tcp: true,
            bind_tcp: vec![80, 22, 80],
            ..parts.clone()
        })
        .unwrap();
        assert_eq!(net.bind_tcp(), &[22, 80]);
        assert_eq!(net.min_abi(), 4);
        assert!(matches!(
            LandlockSpec::new(LandlockSpecParts {
                connect_tcp: vec![1],
                paths: vec![],
                ..parts.clone()
            }),
            Err(PolicyError::PortsNotHandled { kind: "connect" })
        ));
        assert!(PathRule::new("relative", 1).is_err());
        assert!(PathRule::new("/x", 1 << 60).is_err());
    }

    #[test]
    fn keep_fds_and_labels() {
        assert!(CompiledPolicy::builder().keep_fds([2]).build().is_err());
        let p = CompiledPolicy::builder()
            .keep_fds([9, 4, 9])
            .build()
            .unwrap();
        assert_eq!(p.keep_fds(), &[4, 9]);
        assert!(p.no_new_privs());
        assert!(SelinuxSpec::new("system_u:system_r:container_t:s0".into(), None, true).is_ok());
        assert!(SelinuxSpec::new("bad label".into(), None, true).is_err());
        assert!(SelinuxSpec::new("".into(), None, true).is_err());
        assert!(UserSpec::new(u32::MAX, 0, vec![]).is_err());
    }
}
