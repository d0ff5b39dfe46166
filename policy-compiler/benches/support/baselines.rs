//! The same profile through libseccomp (levels 1 and 2) and seccompiler 0.5, for
//! side-by-side numbers. The includer must have `docker` and `SockFilter`
//! (rampart_enforce::bpf) in scope.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use super::Arch;
use super::SockFilter;
use super::docker::{Arg, Profile};
use super::ir::Action;

pub fn scmp_action(a: Action) -> ScmpAction {
    match a {
        Action::Allow => ScmpAction::Allow,
        Action::Errno(e) => ScmpAction::Errno(i32::from(e)),
        Action::KillProcess => ScmpAction::KillProcess,
        Action::KillThread => ScmpAction::KillThread,
        Action::Trap => ScmpAction::Trap,
        Action::Log => ScmpAction::Log,
        Action::Trace(m) => ScmpAction::Trace(m),
        Action::Notify => ScmpAction::Notify,
    }
}

pub fn scmp_arch(a: Arch) -> ScmpArch {
    match a {
        Arch::X86_64 => ScmpArch::X8664,
        Arch::X86 => ScmpArch::X86,
        Arch::X32 => ScmpArch::X32,
        Arch::Aarch64 => ScmpArch::Aarch64,
        Arch::Arm => ScmpArch::Arm,
        Arch::Riscv64 => ScmpArch::Riscv64,
        Arch::S390x => ScmpArch::S390X,
        Arch::Ppc64le => ScmpArch::Ppc64Le,
        Arch::Loongarch64 => ScmpArch::Native,
    }
}

fn scmp_cmp(a: &Arg) -> ScmpArgCompare {
    let (op, datum) = match a.op.as_str() {
        "SCMP_CMP_NE" => (ScmpCompareOp::NotEqual, a.value),
        "SCMP_CMP_LT" => (ScmpCompareOp::Less, a.value),
        "SCMP_CMP_LE" => (ScmpCompareOp::LessOrEqual, a.value),
        "SCMP_CMP_GE" => (ScmpCompareOp::GreaterEqual, a.value),
        "SCMP_CMP_GT" => (ScmpCompareOp::Greater, a.value),
        "SCMP_CMP_MASKED_EQ" => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
        _ => (ScmpCompareOp::Equal, a.value),
    };
    ScmpArgCompare::new(u32::from(a.index), op, datum)
}

/// Builds the libseccomp context (rules by name, as runc does; names this
/// libseccomp does not know are skipped, as runc does).
pub fn libseccomp_ctx(p: &Profile, level: u32) -> ScmpFilterContext {
    let mut ctx = ScmpFilterContext::new(scmp_action(p.default)).expect("libseccomp ctx");
    let arches: Vec<Arch> = p.per_arch.iter().map(|x| x.0).collect();
    for &a in &arches {
        ctx.add_arch(scmp_arch(a)).expect("add arch");
    }
    if !arches.contains(&Arch::native()) {
        ctx.remove_arch(ScmpArch::native()).expect("remove native");
    }
    ctx.set_act_badarch(ScmpAction::KillProcess)
        .expect("bad arch");
    ctx.set_ctl_optimize(level).expect("optimize level");
    for (name, act, args) in &p.named {
        if *act == p.default {
            continue;
        }
        let Ok(sc) = ScmpSyscall::from_name(name) else {
            continue;
        };
        let conds: Vec<ScmpArgCompare> = args.iter().map(scmp_cmp).collect();
        let _ = ctx.add_rule_conditional(scmp_action(*act), sc, &conds);
    }
    ctx
}

/// libseccomp's BPF for the profile at optimisation `level` (1 or 2).
pub fn libseccomp_program(p: &Profile, level: u32) -> Vec<SockFilter> {
    let ctx = libseccomp_ctx(p, level);
    let mut f = tempfile::tempfile().expect("tempfile");
    ctx.export_bpf(&f).expect("export bpf");
    f.rewind().expect("rewind");
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).expect("read bpf");
    SockFilter::parse_raw(&bytes)
}

/// seccompiler's filter for the x86_64 part of the profile: one match action
/// (ALLOW) only, so rules with another action (clone3 → ENOSYS) cannot be
/// expressed and fall to the mismatch action. `None` if it refuses the input.
pub fn seccompiler_program(p: &Profile) -> Option<Vec<SockFilter>> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    let (_, rules, _) = p.per_arch.iter().find(|x| x.0 == Arch::X86_64)?;
    let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut unconditional: std::collections::BTreeSet<i64> = Default::default();
    for r in rules {
        if r.action != Action::Allow {
            continue;
        }
        let nr = i64::from(r.nr);
        if r.args.is_empty() {
            unconditional.insert(nr);
            map.insert(nr, vec![]);
            continue;
        }
        if unconditional.contains(&nr) {
            continue;
        }
        let conds = r
            .args
            .iter()
            .map(|a| {
                let (op, v) = match a.op.as_str() {
                    "SCMP_CMP_NE" => (SeccompCmpOp::Ne, a.value),
                    "SCMP_CMP_LT" => (SeccompCmpOp::Lt, a.value),
                    "SCMP_CMP_LE" => (SeccompCmpOp::Le, a.value),
                    "SCMP_CMP_GE" => (SeccompCmpOp::Ge, a.value),
                    "SCMP_CMP_GT" => (SeccompCmpOp::Gt, a.value),
                    "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(a.value), a.value_two),
                    _ => (SeccompCmpOp::Eq, a.value),
                };
                SeccompCondition::new(a.index, SeccompCmpArgLen::Qword, op, v).ok()
            })
            .collect::<Option<Vec<_>>>()?;
        map.entry(nr)
            .or_default()
            .push(SeccompRule::new(conds).ok()?);
    }
    let mismatch = match p.default {
        Action::Errno(e) => SeccompAction::Errno(u32::from(e)),
        _ => SeccompAction::KillProcess,
    };
    let filter =
        SeccompFilter::new(map, mismatch, SeccompAction::Allow, TargetArch::x86_64).ok()?;
    let prog: BpfProgram = filter.try_into().ok()?;
    Some(
        prog.iter()
            .map(|i| SockFilter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect(),
    )
}
