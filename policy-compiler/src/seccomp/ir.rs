//! The seccomp IR: per architecture, an ordered rule list per syscall number.
//!
//! This is the contract between the profile front end (which resolves names,
//! groups, conditions on capabilities/arches/kernels and `when` expressions) and
//! the BPF back end (which emits, optimizes and verifies). Everything here is
//! already resolved: numbers, not names; constants, not expressions.

use std::collections::BTreeMap;

use rampart_enforce::bpf::ret;

use crate::arch::{Arch, X32_SYSCALL_BIT};

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

impl CmpOp {
    /// The operator of the negated comparison: `!(x < v)` is `x >= v`.
    pub fn negated(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Ge => CmpOp::Lt,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
        }
    }
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

// ---------------------------------------------------------------------------
// Semantics: the reference evaluator the back end is proven against.
// ---------------------------------------------------------------------------

/// `MAX_ERRNO`: the kernel clamps `SECCOMP_RET_ERRNO` data to this.
pub const MAX_ERRNO: u16 = 4095;

impl Action {
    /// The `SECCOMP_RET_*` value a filter returns for this action.
    pub fn to_ret(self) -> u32 {
        match self {
            Action::Allow => ret::ALLOW,
            Action::Errno(e) => ret::ERRNO | u32::from(e),
            Action::KillProcess => ret::KILL_PROCESS,
            Action::KillThread => ret::KILL_THREAD,
            Action::Trap => ret::TRAP,
            Action::Log => ret::LOG,
            Action::Trace(m) => ret::TRACE | u32::from(m),
            Action::Notify => ret::USER_NOTIF,
        }
    }

    /// What the kernel does with a filter's return value: the action bits select
    /// the action (an unknown action kills the process), errno data is clamped to
    /// `MAX_ERRNO`, data of actions that take none is ignored.
    pub fn from_ret(value: u32) -> Action {
        let data = (value & ret::DATA) as u16;
        match value & ret::ACTION_FULL {
            ret::ALLOW => Action::Allow,
            ret::ERRNO => Action::Errno(data.min(MAX_ERRNO)),
            ret::KILL_PROCESS => Action::KillProcess,
            ret::KILL_THREAD => Action::KillThread,
            ret::TRAP => Action::Trap,
            ret::LOG => Action::Log,
            ret::TRACE => Action::Trace(data),
            ret::USER_NOTIF => Action::Notify,
            _ => Action::KillProcess,
        }
    }
}

impl Cmp {
    /// Whether `(arg & mask) op value` holds for this argument value.
    pub fn holds(&self, arg: u64) -> bool {
        let (a, v) = match self.width {
            Width::U64 => (arg & self.mask, self.value),
            Width::U32 => ((arg & self.mask) & 0xffff_ffff, self.value & 0xffff_ffff),
        };
        match self.op {
            CmpOp::Eq => a == v,
            CmpOp::Ne => a != v,
            CmpOp::Lt => a < v,
            CmpOp::Le => a <= v,
            CmpOp::Gt => a > v,
            CmpOp::Ge => a >= v,
        }
    }
}

impl Cond {
    /// Evaluates the condition on the six syscall arguments. An argument index
    /// above 5 reads as 0 (front ends reject such conditions; the emitter refuses them).
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        match self {
            Cond::True => true,
            Cond::Cmp(c) => c.holds(args.get(usize::from(c.arg)).copied().unwrap_or(0)),
            Cond::Not(c) => !c.holds(args),
            Cond::And(cs) => cs.iter().all(|c| c.holds(args)),
            Cond::Or(cs) => cs.iter().any(|c| c.holds(args)),
        }
    }

    /// Every comparison in the condition, in order.
    pub fn cmps(&self) -> Vec<Cmp> {
        let mut out = Vec::new();
        self.collect_cmps(&mut out);
        out
    }

    fn collect_cmps(&self, out: &mut Vec<Cmp>) {
        match self {
            Cond::True => {}
            Cond::Cmp(c) => out.push(*c),
            Cond::Not(c) => c.collect_cmps(out),
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.collect_cmps(out)),
        }
    }
}

impl ArchIr {
    /// The decision for a number that reached this architecture's tree.
    pub fn evaluate(&self, nr: u32, args: &[u64; 6]) -> (Action, Option<OriginId>) {
        match self.syscalls.get(&nr) {
            Some(rules) => rules
                .iter()
                .find(|r| r.cond.holds(args))
                .map(|r| (r.action, r.origin))
                .unwrap_or((self.default_action, self.default_origin)),
            None if nr > self.max_known_nr => (self.unknown_action, None),
            None => (self.default_action, self.default_origin),
        }
    }

    /// Whether `nr` can reach this architecture's tree at all: on the x86_64
    /// token, x32 numbers (bit 30 set) go to the x32 tree and the others to the
    /// x86_64 tree; every other arch sees every number.
    pub fn reaches(&self, nr: u32) -> bool {
        match self.arch {
            Arch::X86_64 => nr & X32_SYSCALL_BIT == 0,
            Arch::X32 => nr & X32_SYSCALL_BIT != 0,
            _ => true,
        }
    }
}

impl FilterIr {
    /// The architecture tree a `(token, nr)` pair is routed to, if any.
    pub fn route(&self, arch_token: u32, nr: u32) -> Option<&ArchIr> {
        self.arches
            .iter()
            .filter(|a| a.arch.audit_arch() == arch_token)
            .find(|a| a.reaches(nr))
    }

    /// The reference semantics of the filter: what it returns for one syscall.
    pub fn evaluate(&self, arch_token: u32, nr: u32, args: [u64; 6]) -> (Action, Option<OriginId>) {
        match self.route(arch_token, nr) {
            Some(a) => a.evaluate(nr, &args),
            None => (self.bad_arch_action, None),
        }
    }

    /// The origin record of an id, if it exists.
    pub fn origin(&self, id: OriginId) -> Option<&Origin> {
        self.origins.get(id.0 as usize)
    }
}
