//! The seccomp IR: per architecture, an ordered rule list per syscall number.
//!
//! This is the contract between the profile front end (which resolves names,
//! groups, conditions on capabilities/arches/kernels and `when` expressions) and
//! the BPF back end (which emits, optimizes and verifies). Everything here is
//! already resolved: numbers, not names; constants, not expressions.

use std::collections::BTreeMap;

use crate::arch::Arch;

/// What the filter returns for a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Allow,
    /// `SECCOMP_RET_ERRNO` with this errno (0..=4095).
    Errno(u16),
    KillProcess,
    KillThread,
    Trap,
    Log,
    /// `SECCOMP_RET_TRACE` with this message for the tracer.
    Trace(u16),
    /// `SECCOMP_RET_USER_NOTIF`.
    Notify,
}

/// Comparison operators, with full 64-bit (or explicit 32-bit) unsigned semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// How much of the argument register a comparison looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Width {
    /// All 64 bits (the default).
    U64,
    /// Only the low 32 bits, for arguments the kernel truncates to `int`/`unsigned
    /// int` (ioctl commands: CVE-2019-10063).
    U32,
}

/// One comparison: `(arg[index] & mask) op value`, at `width`.
///
/// `mask == u64::MAX` means no mask. With `Width::U32` only the low 32 bits of
/// `mask` and `value` are meaningful (front ends reject larger constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cmp {
    /// 0..=5.
    pub arg: u8,
    pub mask: u64,
    pub op: CmpOp,
    pub value: u64,
    pub width: Width,
}

/// A boolean condition over a syscall's arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cond {
    True,
    Cmp(Cmp),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// Where a rule came from, for `disasm` and `explain` (`file:line: summary`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Origin {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: u32,
    pub summary: String,
}

/// An index into [`FilterIr::origins`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OriginId(pub u32);

/// One rule for one syscall: if `cond` holds, return `action`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub cond: Cond,
    pub action: Action,
    pub origin: Option<OriginId>,
}

/// One architecture's decision function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchIr {
    pub arch: Arch,
    /// Rules per syscall number (as seen in `seccomp_data.nr`, x32 bit included),
    /// evaluated in order; the first whose condition holds decides.
    pub syscalls: BTreeMap<u32, Vec<Rule>>,
    /// For numbers with no rule that holds, up to `max_known_nr`.
    pub default_action: Action,
    pub default_origin: Option<OriginId>,
    /// The highest number the profile's syscall table knows for this arch.
    pub max_known_nr: u32,
    /// For numbers above `max_known_nr` that have no rules (syscalls newer than
    /// the profile): normally `Errno(ENOSYS)` so libc falls back.
    pub unknown_action: Action,
}

/// A whole filter: one program covering several architectures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterIr {
    pub arches: Vec<ArchIr>,
    /// For an `AUDIT_ARCH` token not in `arches`, and for x32 numbers on x86_64
    /// when x32 is not in `arches`.
    pub bad_arch_action: Action,
    pub origins: Vec<Origin>,
}
