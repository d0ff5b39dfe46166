//! Translation validation: the emitted program, run in the simulator, must
//! return exactly what [`FilterIr::evaluate`] says on a vector set built to hit
//! every boundary the IR (and the program) contains.
//!
//! Numbers: every number from the bottom of each architecture's range to 64 past
//! its maximum, the x32 range on x86_64 whether or not x32 is requested, every
//! rule number ±1, every constant the program compares ±1 (with and without the
//! x32 bit), the bit-30/bit-31 edges, and a few foreign architecture tokens.
//! Arguments: for syscalls with rules, per argument the constants compared
//! (k−1, k, k+1, masked, high-word variants, 0, `u64::MAX`, mask bits flipped),
//! then their combinations across arguments (full product when small, else
//! pairwise products plus a deterministic pseudo-random sample).

use std::collections::BTreeSet;

use rampart_enforce::bpf::{SeccompProgram, SockFilter, op};
use serde::Serialize;

use super::ir::{Action, ArchIr, Cond, FilterIr, Width};
use super::simulate::{SeccompData, Simulator};
use crate::arch::{Arch, X32_SYSCALL_BIT};

/// How much checking a successful verification did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// All vectors simulated and compared.
    pub vectors: usize,
    /// Of which: syscall-number vectors with all arguments zero.
    pub number_vectors: usize,
    /// Of which: argument vectors for syscalls with rules.
    pub argument_vectors: usize,
    /// Of which: vectors with an architecture token the filter does not request.
    pub foreign_arch_vectors: usize,
}

/// The emitted program disagrees with the IR: a compiler bug.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "internal compiler error: the filter disagrees with the IR for arch 0x{arch:08x}, nr {nr:#x}, args {args:#x?}: expected 0x{expected:08x} ({expected_action:?}), got 0x{got:08x} ({got_action:?})"
    )]
    Mismatch {
        arch: u32,
        nr: u32,
        args: [u64; 6],
        expected: u32,
        expected_action: Action,
        got: u32,
        got_action: Action,
    },
    #[error("internal compiler error: the emitted filter cannot run: {0}")]
    Unrunnable(String),
}

/// The per-argument boundary values for a set of conditions.
fn arg_candidates(conds: &[&Cond]) -> [BTreeSet<u64>; 6] {
    let mut out: [BTreeSet<u64>; 6] = Default::default();
    for c in conds {
        for cmp in c.cmps() {
            let Some(set) = out.get_mut(usize::from(cmp.arg)) else {
                continue;
            };
            let (m, v) = (cmp.mask, cmp.value);
            let base = [v, v & m, m, v | !m, v & 0xffff_ffff];
            for b in base {
                let (bh, bl) = (b >> 32, b & 0xffff_ffff);
                set.extend([
                    b,
                    b.wrapping_sub(1),
                    b.wrapping_add(1),
                    b ^ (1 << 32),
                    b ^ (1 << 63),
                    b | 0xffff_ffff_0000_0000,
                    bl | (1 << 32),
                    (bh.wrapping_add(1) << 32) | bl,
                    (bh.wrapping_sub(1) << 32) | bl,
                    (bh << 32) | (bl.wrapping_add(1) & 0xffff_ffff),
                    (bh << 32) | (bl.wrapping_sub(1) & 0xffff_ffff),
                    b ^ (m & m.wrapping_neg()),
                ]);
            }
            if cmp.width == Width::U32 {
                set.extend([v & 0xffff_ffff, (v & 0xffff_ffff) | 0xdead_beef_0000_0000]);
            }
            set.extend([0, u64::MAX, 1, 0xffff_ffff, 1 << 32]);
        }
    }
    out
}

/// Argument vectors exercising every boundary of the rules for one syscall.
pub fn arg_vectors(conds: &[&Cond]) -> Vec<[u64; 6]> {
    const FULL_PRODUCT: usize = 4096;
    const PAIR_PRODUCT: usize = 2048;
    const RANDOM: usize = 1024;
    let cand = arg_candidates(conds);
    let used: Vec<(usize, Vec<u64>)> = cand
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, s)| (i, s.iter().copied().collect()))
        .collect();
    // Collected in a Vec, then sorted and deduplicated: the same set, in the
    // same order, as a BTreeSet would give, without a node per vector.
    let mut out: Vec<[u64; 6]> = vec![[0; 6]];
    if used.is_empty() {
        return out;
    }
    let product: usize = used
        .iter()
        .map(|(_, c)| c.len())
        .try_fold(1usize, |a, n| a.checked_mul(n))
        .unwrap_or(usize::MAX);
    if product <= FULL_PRODUCT {
        let mut idx = vec![0usize; used.len()];
        loop {
            let mut v = [0u64; 6];
            for (k, (i, c)) in used.iter().enumerate() {
                v[*i] = c[idx[k]];
            }
            out.push(v);
            let mut k = 0;
            while k < idx.len() {
                idx[k] += 1;
                if idx[k] < used[k].1.len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
            if k == idx.len() {
                break;
            }
        }
        out.sort_unstable();
        out.dedup();
        return out;
    }
    // Each argument alone, over a few bases for the others.
    for base in 0..4usize {
        let mut b = [0u64; 6];
        for (i, c) in &used {
            b[*i] = c[base * 7 % c.len()];
        }
        for (i, c) in &used {
            for &x in c {
                let mut v = b;
                v[*i] = x;
                out.push(v);
            }
        }
    }
    // Pairs.
    for (a, (i, ci)) in used.iter().enumerate() {
        for (j, cj) in used.iter().skip(a + 1) {
            let step = (ci.len() * cj.len()).div_ceil(PAIR_PRODUCT).max(1);
            for (n, &x) in ci.iter().enumerate() {
                for (m, &y) in cj.iter().enumerate() {
                    if (n * cj.len() + m) % step == 0 {
                        let mut v = [0u64; 6];
                        v[*i] = x;
                        v[*j] = y;
                        out.push(v);
                    }
                }
            }
        }
    }
    // Deterministic pseudo-random combinations.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..RANDOM {
        let mut v = [0u64; 6];
        for (i, c) in &used {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            v[*i] = c[(s >> 33) as usize % c.len()];
        }
        out.push(v);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether any rule compares an argument: without comparisons
/// [`arg_vectors`] is just the all-zero vector, which the number vectors
/// already cover.
pub(crate) fn compares_args(conds: &[&Cond]) -> bool {
    conds.iter().any(|c| !c.cmps().is_empty())
}

/// What kind of vector, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorKind {
    Number,
    Argument,
    ForeignArch,
}

fn arch_range(a: &ArchIr) -> Vec<u32> {
    let base = if a.arch == Arch::X32 {
        X32_SYSCALL_BIT
    } else {
        0
    };
    let max = a.max_known_nr.max(base);
    let top = max.saturating_add(64);
    if top - base <= 4096 {
        (base..=top).collect()
    } else {
        (base..=base + 1024)
            .chain(max.saturating_sub(64)..=top)
            .collect()
    }
}

/// Every vector verification (and the statistics) run, with its kind.
pub fn vectors(ir: &FilterIr, program: Option<&[SockFilter]>) -> Vec<(SeccompData, VectorKind)> {
    let mut out = Vec::new();
    let mut tokens: Vec<u32> = ir.arches.iter().map(|a| a.arch.audit_arch()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    // Constants the program compares, as candidate numbers.
    // Number sets are collected in Vecs and sorted and deduplicated once: the
    // same numbers in the same order as a BTreeSet, at a fraction of the cost.
    let mut program_ks: Vec<u32> = Vec::new();
    for ins in program.unwrap_or(&[]) {
        if ins.code & 0x07 == op::JMP && ins.code & 0xf0 != op::JA {
            for k in [ins.k.wrapping_sub(1), ins.k, ins.k.wrapping_add(1)] {
                program_ks.extend([k, k ^ X32_SYSCALL_BIT]);
            }
        }
    }
    let x86_token = Arch::X86_64.audit_arch();
    for &tok in &tokens {
        let mine: Vec<&ArchIr> = ir
            .arches
            .iter()
            .filter(|a| a.arch.audit_arch() == tok)
            .collect();
        let mut nrs: Vec<u32> = program_ks.clone();
        nrs.extend([
            0,
            1,
            0x3fff_ffff,
            X32_SYSCALL_BIT,
            0x7fff_ffff,
            0x8000_0000,
            0xbfff_ffff,
            0xc000_0000,
            0xffff_ffff,
        ]);
        for a in &mine {
            nrs.extend(arch_range(a));
            for &nr in a.syscalls.keys() {
                nrs.extend([
                    nr.wrapping_sub(1),
                    nr,
                    nr.wrapping_add(1),
                    nr ^ X32_SYSCALL_BIT,
                ]);
            }
            nrs.extend([a.max_known_nr, a.max_known_nr.wrapping_add(1)]);
        }
        if tok == x86_token {
            // Both ABIs' ranges, whichever are requested.
            nrs.extend(0..=600u32);
            nrs.extend(X32_SYSCALL_BIT..=X32_SYSCALL_BIT + 600);
        }
        nrs.sort_unstable();
        nrs.dedup();
        for &nr in &nrs {
            out.push((SeccompData::new(tok, nr, [0; 6]), VectorKind::Number));
            // Rules of the tree this number reaches.
            if let Some(a) = ir.route(tok, nr)
                && let Some(rules) = a.syscalls.get(&nr)
            {
                let conds: Vec<&Cond> = rules.iter().map(|r| &r.cond).collect();
                if !compares_args(&conds) {
                    continue;
                }
                for args in arg_vectors(&conds) {
                    if args != [0; 6] {
                        out.push((SeccompData::new(tok, nr, args), VectorKind::Argument));
                    }
                }
            }
        }
    }
    // Foreign tokens.
    let mut foreign: Vec<u32> = Arch::ALL.iter().map(|a| a.audit_arch()).collect();
    foreign.extend([0, u32::MAX, x86_token ^ 1, 0x4000_003e]);
    foreign.sort_unstable();
    foreign.dedup();
    for tok in foreign.into_iter().filter(|t| !tokens.contains(t)) {
        for nr in [
            0,
            1,
            59,
            102,
            X32_SYSCALL_BIT,
            X32_SYSCALL_BIT | 59,
            u32::MAX,
        ] {
            out.push((SeccompData::new(tok, nr, [0; 6]), VectorKind::ForeignArch));
        }
    }
    out
}

/// Proves `program` equal to `ir` on the vector set.
pub fn verify(ir: &FilterIr, program: &SeccompProgram) -> Result<VerifyReport, VerifyError> {
    verify_insns(ir, program.instructions())
}

/// [`verify`] on raw instructions (they must pass the kernel's checks).
pub fn verify_insns(ir: &FilterIr, insns: &[SockFilter]) -> Result<VerifyReport, VerifyError> {
    verify_vectors(ir, insns, &vectors(ir, Some(insns))).map(|(report, _)| report)
}

/// [`verify_insns`] on a vector set already built by [`vectors`] for this IR
/// and program. Also returns the most instructions one vector executed, which
/// is the statistics' overall worst case, so [`super::compile`] runs every
/// vector once.
pub fn verify_vectors(
    ir: &FilterIr,
    insns: &[SockFilter],
    vectors: &[(SeccompData, VectorKind)],
) -> Result<(VerifyReport, usize), VerifyError> {
    let sim = Simulator::new(insns).map_err(|e| VerifyError::Unrunnable(e.to_string()))?;
    let mut report = VerifyReport::default();
    let mut worst = 0;
    for (d, kind) in vectors {
        let expected = ir.evaluate(d.arch, d.nr, d.args).0.to_ret();
        let (got, executed) = sim.run(d);
        if got != expected {
            return Err(VerifyError::Mismatch {
                arch: d.arch,
                nr: d.nr,
                args: d.args,
                expected,
                expected_action: Action::from_ret(expected),
                got,
                got_action: Action::from_ret(got),
            });
        }
        worst = worst.max(executed);
        report.vectors += 1;
        match kind {
            VectorKind::Number => report.number_vectors += 1,
            VectorKind::Argument => report.argument_vectors += 1,
            VectorKind::ForeignArch => report.foreign_arch_vectors += 1,
        }
    }
    Ok((report, worst))
}
