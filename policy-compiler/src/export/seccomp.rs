//! The seccomp IR as OCI `linux.seccomp` rules, exactly or not at all.
//!
//! rampart's rules are first-match; OCI rules (libseccomp's) are an unordered
//! set whose overlaps libseccomp resolves by its own precedence. So the export
//! never relies on order: per syscall, each rampart rule's *region* (its
//! condition and the negation of every earlier rule's) is written in
//! disjunctive normal form, every conjunction becoming one OCI rule. Regions of
//! different rules are disjoint by construction, and regions whose action is
//! the default are left out (runc skips such rules anyway), so any reading of
//! the OCI rules makes the IR's decision.
//!
//! An OCI rule is an AND of comparisons on *distinct* argument indices (runc
//! turns a repeated index into ORed rules), 64-bit, with `MASKED_EQ` meaning
//! `(arg & value) == valueTwo`. Negations flip operators (`==`/`!=`, `<`/`>=`,
//! `<=`/`>`); a negated masked equality becomes one bit test per mask bit.
//! Several comparisons on one argument are intersected into one interval (or a
//! few points). Anything else (a masked `<`, `u32(arg) < k`, a range that is
//! neither one-sided nor small, a rule whose expansion is too large) is an
//! error naming the rule: exporting something looser would be silent
//! weakening.
//!
//! OCI seccomp names syscalls, so a name must make the same decisions on every
//! architecture of the profile that knows it. Numbers above the syscall table
//! get ENOSYS (or the default when it allows) from the importer and runc's
//! stub, and foreign architectures rampart's default `killProcess`: a profile
//! that says otherwise cannot be exported.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
    LinuxSyscallBuilder,
};

use crate::arch::Arch;
use crate::import::unknown_action_for;
use crate::resolve::action_text;
use crate::seccomp::ir::{Action, ArchIr, Cmp, CmpOp, Cond, FilterIr, Rule, Width};

use super::ExportError;

/// A region expanding to more OCI rules than this (per syscall) is refused:
/// it would be correct but useless to read and slow for libseccomp.
const MAX_CONJUNCTIONS: usize = 1024;
/// A bounded range `lo <= arg <= hi` becomes this many `==` at most.
const MAX_POINTS: u64 = 64;

/// One OCI comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lit {
    /// `arg op value`, all 64 bits.
    Cmp { arg: u8, op: CmpOp, value: u64 },
    /// `(arg & mask) == value`, `value ⊆ mask` (libseccomp compares the masked datum).
    Masked { arg: u8, mask: u64, value: u64 },
}

/// The values one argument may take in a conjunction: inside `ranges`
/// (sorted, disjoint, inclusive) and `(x & mask) == value`. Closed under
/// intersection, so conjunctions stay exact however they were negated;
/// whether OCI can write a set down is decided only for the regions exported.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ArgSet {
    ranges: Vec<(u64, u64)>,
    mask: u64,
    value: u64,
}

impl ArgSet {
    fn full() -> ArgSet {
        ArgSet {
            ranges: vec![(0, u64::MAX)],
            mask: 0,
            value: 0,
        }
    }

    fn cmp(op: CmpOp, v: u64) -> ArgSet {
        ArgSet {
            ranges: interval(op, v),
            ..ArgSet::full()
        }
    }

    /// `(x & mask) == value`; `None` when no value satisfies it.
    fn masked(mask: u64, value: u64) -> Option<ArgSet> {
        if value & !mask != 0 {
            return None;
        }
        if mask == u64::MAX {
            return Some(ArgSet::cmp(CmpOp::Eq, value));
        }
        Some(ArgSet {
            mask,
            value,
            ..ArgSet::full()
        })
    }

    /// `None`: empty.
    fn intersect(&self, o: &ArgSet) -> Option<ArgSet> {
        if (self.value & o.mask) != (o.value & self.mask) {
            return None;
        }
        let ranges = intersect(&self.ranges, &o.ranges);
        if ranges.is_empty() {
            return None;
        }
        Some(ArgSet {
            ranges,
            mask: self.mask | o.mask,
            value: self.value | o.value,
        })
    }

    fn holds(&self, x: u64) -> bool {
        x & self.mask == self.value && self.ranges.iter().any(|&(l, h)| l <= x && x <= h)
    }

    /// Alternatives of at most one OCI comparison each whose OR is this set.
    fn to_lits(&self, arg: u8) -> Result<Vec<Option<Lit>>, String> {
        let full = self.ranges == [(0, u64::MAX)];
        if self.mask != 0 {
            let m = Lit::Masked {
                arg,
                mask: self.mask,
                value: self.value,
            };
            if full {
                return Ok(vec![Some(m)]);
            }
            // A range together with a mask: only a few points are expressible.
            let mut out = Vec::new();
            for &(lo, hi) in &self.ranges {
                if hi - lo >= MAX_POINTS {
                    return Err(format!(
                        "arg{arg} must satisfy `arg{arg} & {:#x} == {:#x}` and lie in {lo:#x}..={hi:#x}; OCI rules take one comparison per argument",
                        self.mask, self.value
                    ));
                }
                out.extend((lo..=hi).filter(|&x| self.holds(x)).map(|x| {
                    Some(Lit::Cmp {
                        arg,
                        op: CmpOp::Eq,
                        value: x,
                    })
                }));
            }
            return Ok(out);
        }
        if full {
            return Ok(vec![None]);
        }
        // `!= v` is two ranges; keep it one comparison.
        if let [(0, a), (b, u64::MAX)] = self.ranges[..]
            && a.checked_add(2) == Some(b)
        {
            return Ok(vec![Some(Lit::Cmp {
                arg,
                op: CmpOp::Ne,
                value: a + 1,
            })]);
        }
        let mut out = Vec::new();
        for &(lo, hi) in &self.ranges {
            let lit = |op, value| Some(Lit::Cmp { arg, op, value });
            if lo == hi {
                out.push(lit(CmpOp::Eq, lo));
            } else if lo == 0 {
                out.push(lit(CmpOp::Le, hi));
            } else if hi == u64::MAX {
                out.push(lit(CmpOp::Ge, lo));
            } else if hi - lo < MAX_POINTS {
                out.extend((lo..=hi).map(|x| lit(CmpOp::Eq, x)));
            } else {
                return Err(format!(
                    "arg{arg} must lie in {lo:#x}..={hi:#x}; OCI rules take one comparison per argument (comparisons on one index are ORed)"
                ));
            }
        }
        Ok(out)
    }
}

/// One syscall's exported decisions: non-default actions and their OCI args.
type Decisions = Vec<(Action, Vec<Lit>)>;

/// An AND over arguments (absent: any value).
type Conj = BTreeMap<u8, ArgSet>;
/// An OR of conjunctions (empty: false; `[{}]`: true).
type Dnf = Vec<Conj>;

/// One conjunction as OCI rules (an AND of comparisons on distinct indices each).
fn to_rules(c: &Conj) -> Result<Vec<Vec<Lit>>, String> {
    let mut acc: Vec<Vec<Lit>> = vec![Vec::new()];
    for (&arg, set) in c {
        let alts = set.to_lits(arg)?;
        let mut next = Vec::with_capacity(acc.len() * alts.len());
        for x in &acc {
            for y in &alts {
                let mut z = x.clone();
                z.extend(*y);
                next.push(z);
            }
        }
        if next.len() > MAX_CONJUNCTIONS {
            return Err(format!(
                "it expands to more than {MAX_CONJUNCTIONS} OCI rules"
            ));
        }
        acc = next;
    }
    Ok(acc)
}

/// One exported rule: `names` get `action` when every comparison holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciRule {
    pub names: Vec<String>,
    pub action: Action,
    pub args: Vec<Lit>,
}

/// The whole seccomp section, before it becomes `oci_spec` types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciSeccomp {
    pub default_action: Action,
    pub arches: Vec<Arch>,
    pub tsync: bool,
    pub log: bool,
    pub rules: Vec<OciRule>,
}

fn where_(ir: &FilterIr, rule: &Rule) -> String {
    match rule.origin.and_then(|o| ir.origin(o)) {
        Some(o) if o.line > 0 => format!("{}:{}", o.file, o.line),
        Some(o) => o.file.clone(),
        None => "<generated rule>".into(),
    }
}

/// Translates a whole filter. `tsync`/`log` are the profile's filter flags.
pub fn translate(ir: &FilterIr, tsync: bool, log: bool) -> Result<OciSeccomp, ExportError> {
    let first = ir
        .arches
        .first()
        .ok_or_else(|| ExportError("the filter has no architecture".into()))?;
    let default = first.default_action;
    for a in &ir.arches {
        if a.default_action != default {
            return Err(ExportError(format!(
                "the default action differs between {} and {}; OCI seccomp has one defaultAction",
                first.arch, a.arch
            )));
        }
        if a.unknown_action != unknown_action_for(default) {
            return Err(ExportError(format!(
                "unknownSyscallAction {} cannot be exported: OCI runtimes (runc's stub, rampart's importer) give syscalls newer than the table {} with defaultAction {}; set `unknownSyscallAction: {}` or leave it out",
                action_text(a.unknown_action),
                action_text(unknown_action_for(default)),
                action_text(default),
                action_text(unknown_action_for(default)),
            )));
        }
    }
    if ir.bad_arch_action != Action::KillProcess {
        return Err(ExportError(format!(
            "badArchAction {} cannot be exported: OCI seccomp has no field for it (runtimes kill the process); leave `badArchAction` out",
            action_text(ir.bad_arch_action)
        )));
    }
    // name → (decision rules, the arch that decided them first).
    let mut by_name: BTreeMap<&'static str, (Decisions, Arch)> = BTreeMap::new();
    for a in &ir.arches {
        let table = a.arch.table();
        for nr in a.syscalls.keys() {
            if table.name(*nr).is_none() {
                return Err(ExportError(format!(
                    "syscall number {nr} on {} has no name; OCI seccomp names syscalls",
                    a.arch
                )));
            }
        }
        for (name, nr) in table.iter() {
            let decision = decide(ir, a, nr, name)?;
            match by_name.get(name) {
                None => {
                    by_name.insert(name, (decision, a.arch));
                }
                Some((d, other)) if *d != decision => {
                    return Err(ExportError(format!(
                        "`{name}` is decided differently on {other} and {}: OCI seccomp rules name syscalls, so they apply on every architecture alike; restrict the profile to one architecture (`--arch`) or make the rules for `{name}` the same everywhere",
                        a.arch
                    )));
                }
                Some(_) => {}
            }
        }
    }
    // Group names by identical rule.
    let mut grouped: BTreeMap<(bool, Action, Vec<Lit>), BTreeSet<&'static str>> = BTreeMap::new();
    for (name, (rules, _)) in &by_name {
        for (action, conj) in rules {
            grouped
                .entry((!conj.is_empty(), *action, conj.clone()))
                .or_default()
                .insert(name);
        }
    }
    let rules = grouped
        .into_iter()
        .map(|((_, action, args), names)| OciRule {
            names: names.into_iter().map(str::to_string).collect(),
            action,
            args,
        })
        .collect();
    Ok(OciSeccomp {
        default_action: default,
        arches: ir.arches.iter().map(|a| a.arch).collect(),
        tsync,
        log,
        rules,
    })
}

/// The non-default regions of one syscall as OCI rules, canonical (sorted,
/// deduplicated).
fn decide(ir: &FilterIr, a: &ArchIr, nr: u32, name: &str) -> Result<Decisions, ExportError> {
    let Some(rules) = a.syscalls.get(&nr) else {
        return Ok(Vec::new());
    };
    let fail = |i: usize, e: String| {
        let rule = &rules[i];
        let earlier: Vec<String> = rules[..i]
            .iter()
            .filter(|r| r.cond != Cond::True)
            .map(|r| where_(ir, r))
            .collect();
        let earlier = if earlier.is_empty() {
            String::new()
        } else {
            format!(
                " (it applies where no earlier rule for `{name}` does: {})",
                earlier.join(", ")
            )
        };
        ExportError(format!(
            "{}: the rule for `{name}` ({} on {}){earlier} cannot be written as OCI seccomp rules: {e}; OCI cannot express it exactly, so nothing was exported",
            where_(ir, rule),
            action_text(rule.action),
            a.arch,
        ))
    };
    let mut out: BTreeSet<(Action, Vec<Lit>)> = BTreeSet::new();
    // Where no earlier rule holds.
    let mut rest: Dnf = vec![Conj::new()];
    for (i, rule) in rules.iter().enumerate() {
        if rule.action != a.default_action {
            let region = product(&rest, &dnf(&rule.cond, true).map_err(|e| fail(i, e))?)
                .map_err(|e| fail(i, e))?;
            for c in &region {
                for lits in to_rules(c).map_err(|e| fail(i, e))? {
                    out.insert((rule.action, lits));
                }
            }
        }
        // Later rules with the default action are left out, so only a later
        // rule with another action needs this one's negation.
        if rules[i + 1..].iter().all(|r| r.action == a.default_action) {
            break;
        }
        rest = product(&rest, &dnf(&rule.cond, false).map_err(|e| fail(i, e))?)
            .map_err(|e| fail(i, e))?;
        if rest.is_empty() {
            break;
        }
    }
    Ok(out.into_iter().collect())
}

/// `cond` (or its negation when `!positive`) in DNF over argument sets.
fn dnf(cond: &Cond, positive: bool) -> Result<Dnf, String> {
    match (cond, positive) {
        (Cond::True, true) => Ok(vec![Conj::new()]),
        (Cond::True, false) => Ok(Vec::new()),
        (Cond::Cmp(c), p) => cmp_dnf(c, p),
        (Cond::Not(c), p) => dnf(c, !p),
        (Cond::And(cs), true) | (Cond::Or(cs), false) => {
            let mut acc: Dnf = vec![Conj::new()];
            for c in cs {
                acc = product(&acc, &dnf(c, positive)?)?;
                if acc.is_empty() {
                    break;
                }
            }
            Ok(acc)
        }
        (Cond::Or(cs), true) | (Cond::And(cs), false) => {
            let mut acc: BTreeSet<Conj> = BTreeSet::new();
            for c in cs {
                acc.extend(dnf(c, positive)?);
                if acc.len() > MAX_CONJUNCTIONS {
                    return Err(too_many());
                }
            }
            Ok(acc.into_iter().collect())
        }
    }
}

fn too_many() -> String {
    format!("it expands to more than {MAX_CONJUNCTIONS} OCI rules")
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

fn single(arg: u8, set: Option<ArgSet>) -> Dnf {
    set.map(|s| vec![Conj::from([(arg, s)])])
        .unwrap_or_default()
}

/// One IR comparison (or its negation).
fn cmp_dnf(c: &Cmp, positive: bool) -> Result<Dnf, String> {
    let (mask, value) = match c.width {
        Width::U64 => (c.mask, c.value),
        Width::U32 => (c.mask & 0xffff_ffff, c.value & 0xffff_ffff),
    };
    if mask == u64::MAX {
        let op = if positive { c.op } else { c.op.negated() };
        return Ok(single(c.arg, Some(ArgSet::cmp(op, value))));
    }
    let eq = match c.op {
        CmpOp::Eq => positive,
        CmpOp::Ne => !positive,
        op => {
            let a = if c.width == Width::U32 {
                format!("u32(arg{})", c.arg)
            } else {
                format!("arg{} & {mask:#x}", c.arg)
            };
            return Err(format!(
                "`{a} {} {value:#x}` compares part of the argument with `{}`; OCI has 64-bit comparisons and masked equality only",
                op_text(op),
                op_text(op)
            ));
        }
    };
    if eq {
        return Ok(single(c.arg, ArgSet::masked(mask, value)));
    }
    // (arg & mask) != value: some bit of the mask differs from value's.
    if value & !mask != 0 {
        return Ok(vec![Conj::new()]); // never equal: always true
    }
    Ok((0..64)
        .map(|b| 1u64 << b)
        .filter(|bit| mask & bit != 0)
        .flat_map(|bit| single(c.arg, ArgSet::masked(bit, !value & bit)))
        .collect())
}

/// `a AND b`.
fn product(a: &Dnf, b: &Dnf) -> Result<Dnf, String> {
    let mut out: BTreeSet<Conj> = BTreeSet::new();
    'pairs: for x in a {
        for y in b {
            let mut c = x.clone();
            for (arg, s) in y {
                let merged = match c.get(arg) {
                    Some(t) => t.intersect(s),
                    None => Some(s.clone()),
                };
                match merged {
                    Some(m) => {
                        c.insert(*arg, m);
                    }
                    None => continue 'pairs,
                }
            }
            out.insert(c);
            if out.len() > MAX_CONJUNCTIONS {
                return Err(too_many());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The values satisfying `x op v`, as sorted disjoint inclusive ranges.
fn interval(op: CmpOp, v: u64) -> Vec<(u64, u64)> {
    match op {
        CmpOp::Eq => vec![(v, v)],
        CmpOp::Ne => {
            let mut r = Vec::new();
            if v > 0 {
                r.push((0, v - 1));
            }
            if v < u64::MAX {
                r.push((v + 1, u64::MAX));
            }
            r
        }
        CmpOp::Lt => v.checked_sub(1).map(|h| vec![(0, h)]).unwrap_or_default(),
        CmpOp::Le => vec![(0, v)],
        CmpOp::Gt => v
            .checked_add(1)
            .map(|l| vec![(l, u64::MAX)])
            .unwrap_or_default(),
        CmpOp::Ge => vec![(v, u64::MAX)],
    }
}

fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(al, ah) in a {
        for &(bl, bh) in b {
            let (l, h) = (al.max(bl), ah.min(bh));
            if l <= h {
                out.push((l, h));
            }
        }
    }
    out.sort_unstable();
    out
}

/// `SCMP_ACT_*` and the errno/trace data it carries.
pub fn oci_action(a: Action) -> (LinuxSeccompAction, Option<u32>) {
    match a {
        Action::Allow => (LinuxSeccompAction::ScmpActAllow, None),
        Action::Errno(e) => (LinuxSeccompAction::ScmpActErrno, Some(u32::from(e))),
        Action::KillProcess => (LinuxSeccompAction::ScmpActKillProcess, None),
        Action::KillThread => (LinuxSeccompAction::ScmpActKillThread, None),
        Action::Trap => (LinuxSeccompAction::ScmpActTrap, None),
        Action::Log => (LinuxSeccompAction::ScmpActLog, None),
        Action::Trace(m) => (LinuxSeccompAction::ScmpActTrace, Some(u32::from(m))),
        Action::Notify => (LinuxSeccompAction::ScmpActNotify, None),
    }
}

fn oci_arch(a: Arch) -> OciArch {
    match a {
        Arch::X86_64 => OciArch::ScmpArchX86_64,
        Arch::X86 => OciArch::ScmpArchX86,
        Arch::X32 => OciArch::ScmpArchX32,
        Arch::Aarch64 => OciArch::ScmpArchAarch64,
        Arch::Arm => OciArch::ScmpArchArm,
        Arch::Riscv64 => OciArch::ScmpArchRiscv64,
        Arch::S390x => OciArch::ScmpArchS390x,
        Arch::Ppc64le => OciArch::ScmpArchPpc64le,
        Arch::Loongarch64 => OciArch::ScmpArchLoongarch64,
    }
}

fn oci_arg(l: Lit) -> Result<LinuxSeccompArg, ExportError> {
    let (index, op, value, two) = match l {
        Lit::Cmp { arg, op, value } => {
            let op = match op {
                CmpOp::Eq => LinuxSeccompOperator::ScmpCmpEq,
                CmpOp::Ne => LinuxSeccompOperator::ScmpCmpNe,
                CmpOp::Lt => LinuxSeccompOperator::ScmpCmpLt,
                CmpOp::Le => LinuxSeccompOperator::ScmpCmpLe,
                CmpOp::Gt => LinuxSeccompOperator::ScmpCmpGt,
                CmpOp::Ge => LinuxSeccompOperator::ScmpCmpGe,
            };
            (arg, op, value, None)
        }
        Lit::Masked { arg, mask, value } => (
            arg,
            LinuxSeccompOperator::ScmpCmpMaskedEq,
            mask,
            Some(value),
        ),
    };
    let mut b = LinuxSeccompArgBuilder::default()
        .index(usize::from(index))
        .value(value)
        .op(op);
    if let Some(t) = two {
        b = b.value_two(t);
    }
    b.build().map_err(|e| ExportError(format!("internal: {e}")))
}

impl OciSeccomp {
    /// As the `oci_spec` type (serializes to `linux.seccomp`).
    pub fn to_spec(&self) -> Result<LinuxSeccomp, ExportError> {
        let internal = |e: oci_spec::OciSpecError| ExportError(format!("internal: {e}"));
        let mut syscalls: Vec<LinuxSyscall> = Vec::with_capacity(self.rules.len());
        for r in &self.rules {
            let (action, errno) = oci_action(r.action);
            let mut b = LinuxSyscallBuilder::default()
                .names(r.names.clone())
                .action(action);
            if let Some(e) = errno {
                b = b.errno_ret(e);
            }
            if !r.args.is_empty() {
                b = b.args(
                    r.args
                        .iter()
                        .map(|l| oci_arg(*l))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            syscalls.push(b.build().map_err(internal)?);
        }
        let (action, errno) = oci_action(self.default_action);
        let mut b = LinuxSeccompBuilder::default()
            .default_action(action)
            .architectures(self.arches.iter().map(|a| oci_arch(*a)).collect::<Vec<_>>())
            .syscalls(syscalls);
        if let Some(e) = errno {
            b = b.default_errno_ret(e);
        }
        let mut flags = Vec::new();
        if self.tsync {
            flags.push(LinuxSeccompFilterFlag::SeccompFilterFlagTsync);
        }
        if self.log {
            flags.push(LinuxSeccompFilterFlag::SeccompFilterFlagLog);
        }
        if !flags.is_empty() {
            b = b.flags(flags);
        }
        b.build().map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(arg: u8, mask: u64, op: CmpOp, value: u64) -> Cond {
        Cond::Cmp(Cmp {
            arg,
            mask,
            op,
            value,
            width: Width::U64,
        })
    }

    fn lit_holds(l: Lit, args: &[u64; 6]) -> bool {
        match l {
            Lit::Cmp { arg, op, value } => Cmp {
                arg,
                mask: u64::MAX,
                op,
                value,
                width: Width::U64,
            }
            .holds(args[usize::from(arg)]),
            Lit::Masked { arg, mask, value } => args[usize::from(arg)] & mask == value,
        }
    }

    /// The DNF and its OCI rules decide like the condition on boundary values.
    fn check(cond: &Cond, positive: bool) {
        let d = dnf(cond, positive).unwrap_or_else(|e| panic!("{cond:?}: {e}"));
        let rules: Vec<Vec<Lit>> = d
            .iter()
            .flat_map(|c| to_rules(c).unwrap_or_else(|e| panic!("{cond:?}: {e}")))
            .collect();
        let mut vals: Vec<u64> = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff, 0x100, u64::MAX];
        for cmp in cond.cmps() {
            vals.extend([
                cmp.value,
                cmp.value.wrapping_sub(1),
                cmp.value.wrapping_add(1),
                cmp.mask,
                !cmp.mask,
            ]);
        }
        for &x in &vals {
            for &y in &vals {
                let args = [x, y, 0, 0, 0, 0];
                let want = cond.holds(&args) == positive;
                let by_sets = d
                    .iter()
                    .any(|c| c.iter().all(|(a, s)| s.holds(args[usize::from(*a)])));
                assert_eq!(
                    by_sets, want,
                    "{cond:?} positive={positive} args {x:#x} {y:#x}"
                );
                let by_rules = rules.iter().any(|r| {
                    let idx: BTreeSet<u8> = r
                        .iter()
                        .map(|l| match l {
                            Lit::Cmp { arg, .. } | Lit::Masked { arg, .. } => *arg,
                        })
                        .collect();
                    assert_eq!(idx.len(), r.len(), "one comparison per argument: {r:?}");
                    r.iter().all(|l| lit_holds(*l, &args))
                });
                assert_eq!(
                    by_rules, want,
                    "{cond:?} positive={positive} args {x:#x} {y:#x}: {rules:?}"
                );
            }
        }
    }

    #[test]
    fn negations_and_ranges_are_exact() {
        let conds = [
            c(0, u64::MAX, CmpOp::Eq, 5),
            c(0, 0x7e02_0000, CmpOp::Eq, 0),
            c(0, 0xff, CmpOp::Ne, 0x10),
            Cond::And(vec![
                c(0, u64::MAX, CmpOp::Ge, 3),
                c(0, u64::MAX, CmpOp::Le, 9),
            ]),
            Cond::Or(vec![c(0, u64::MAX, CmpOp::Lt, 2), c(1, 0xf, CmpOp::Eq, 3)]),
            Cond::And(vec![
                c(0, 0xf0, CmpOp::Eq, 0x10),
                c(0, u64::MAX, CmpOp::Lt, 0x20),
            ]),
            Cond::Not(Box::new(Cond::And(vec![
                c(0, 0x3, CmpOp::Eq, 1),
                c(1, u64::MAX, CmpOp::Gt, 7),
            ]))),
            Cond::Cmp(Cmp {
                arg: 1,
                mask: u64::MAX,
                op: CmpOp::Eq,
                value: 0x5412,
                width: Width::U32,
            }),
        ];
        for cond in &conds {
            check(cond, true);
            check(cond, false);
        }
        // `!= 3 && != 4` on one argument: two OCI rules (`<= 2`, `>= 5`).
        let two_ne = Cond::And(vec![
            c(0, u64::MAX, CmpOp::Ne, 3),
            c(0, u64::MAX, CmpOp::Ne, 4),
        ]);
        check(&two_ne, false);
        assert!(to_rules(&dnf(&two_ne, true).unwrap()[0]).is_ok_and(|r| r.len() == 2));
    }

    #[test]
    fn inexpressible_conditions_are_refused() {
        assert!(dnf(&c(0, 0xff, CmpOp::Lt, 3), true).is_err());
        let wide = Cond::And(vec![
            c(0, u64::MAX, CmpOp::Gt, 3),
            c(0, u64::MAX, CmpOp::Lt, 1000),
        ]);
        assert!(to_rules(&dnf(&wide, true).unwrap()[0]).is_err());
        let u32lt = Cond::Cmp(Cmp {
            arg: 0,
            mask: u64::MAX,
            op: CmpOp::Lt,
            value: 9,
            width: Width::U32,
        });
        assert!(dnf(&u32lt, true).is_err());
    }
}
