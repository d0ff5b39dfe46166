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
/// Each set sorted and deduplicated: the same values in the same order as a
/// `BTreeSet`, without a node per value.
fn arg_candidates(conds: &[&Cond]) -> [Vec<u64>; 6] {
    let mut out: [Vec<u64>; 6] = Default::default();
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
    for set in &mut out {
        set.sort_unstable();
        set.dedup();
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
        .into_iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
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

pub(super) fn arch_range(a: &ArchIr) -> Vec<u32> {
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

/// Below this distance from 0 and from the x32 bit, numbers are kept in bitmaps.
const WINDOW: u32 = 4096;

/// A set of syscall numbers, read out in ascending order: bitmaps for the two
/// dense windows (the tables start at 0 and at the x32 bit), a vector sorted
/// once for the few numbers elsewhere. The same numbers in the same order as
/// a sort and dedup of everything, without sorting thousands of range entries.
struct NumberSet {
    low: Vec<u64>,
    x32: Vec<u64>,
    rest: Vec<u32>,
}

impl NumberSet {
    fn new() -> Self {
        let words = WINDOW.div_ceil(64) as usize;
        NumberSet {
            low: vec![0; words],
            x32: vec![0; words],
            rest: Vec::new(),
        }
    }

    fn extend(&mut self, nrs: impl IntoIterator<Item = u32>) {
        for nr in nrs {
            let (map, off) = if nr < WINDOW {
                (&mut self.low, nr)
            } else if nr.wrapping_sub(X32_SYSCALL_BIT) < WINDOW {
                (&mut self.x32, nr - X32_SYSCALL_BIT)
            } else {
                self.rest.push(nr);
                continue;
            };
            map[(off / 64) as usize] |= 1 << (off % 64);
        }
    }

    fn into_sorted(mut self) -> Vec<u32> {
        fn bits(out: &mut Vec<u32>, map: &[u64], base: u32) {
            for (w, &word) in map.iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    out.push(base + w as u32 * 64 + word.trailing_zeros());
                    word &= word - 1;
                }
            }
        }
        self.rest.sort_unstable();
        self.rest.dedup();
        // `rest` holds numbers between the windows and above the x32 one.
        let between = self.rest.partition_point(|&nr| nr < X32_SYSCALL_BIT);
        let set: u32 = self
            .low
            .iter()
            .chain(&self.x32)
            .map(|w| w.count_ones())
            .sum();
        let mut out = Vec::with_capacity(self.rest.len() + set as usize);
        bits(&mut out, &self.low, 0);
        out.extend_from_slice(&self.rest[..between]);
        bits(&mut out, &self.x32, X32_SYSCALL_BIT);
        out.extend_from_slice(&self.rest[between..]);
        out
    }
}

/// Every vector verification (and the statistics) run, with its kind.
pub fn vectors(ir: &FilterIr, program: Option<&[SockFilter]>) -> Vec<(SeccompData, VectorKind)> {
    let mut out = Vec::new();
    let mut tokens: Vec<u32> = ir.arches.iter().map(|a| a.arch.audit_arch()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    // Constants the program compares, as candidate numbers.
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
        let mut nrs = NumberSet::new();
        nrs.extend(program_ks.iter().copied());
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
        // The numbers whose rules compare arguments, with those rules, for the
        // tree each number reaches (sorted by number: one tree per number).
        let mut arg_rules: Vec<(u32, Vec<&Cond>)> = Vec::new();
        for a in &mine {
            nrs.extend(arch_range(a));
            for (&nr, rules) in &a.syscalls {
                nrs.extend([
                    nr.wrapping_sub(1),
                    nr,
                    nr.wrapping_add(1),
                    nr ^ X32_SYSCALL_BIT,
                ]);
                let conds: Vec<&Cond> = rules.iter().map(|r| &r.cond).collect();
                if compares_args(&conds) && ir.route(tok, nr).is_some_and(|r| std::ptr::eq(r, *a)) {
                    arg_rules.push((nr, conds));
                }
            }
            nrs.extend([a.max_known_nr, a.max_known_nr.wrapping_add(1)]);
        }
        arg_rules.sort_unstable_by_key(|e| e.0);
        if tok == x86_token {
            // Both ABIs' ranges, whichever are requested.
            nrs.extend(0..=600u32);
            nrs.extend(X32_SYSCALL_BIT..=X32_SYSCALL_BIT + 600);
        }
        let nrs = nrs.into_sorted();
        out.reserve(nrs.len());
        for nr in nrs {
            out.push((SeccompData::new(tok, nr, [0; 6]), VectorKind::Number));
            if let Ok(at) = arg_rules.binary_search_by_key(&nr, |e| e.0) {
                for args in arg_vectors(&arg_rules[at].1) {
                    if args != [0; 6] {
                        out.push((SeccompData::new(tok, nr, args), VectorKind::Argument));
                    }
                }
            }
        }
    }
    push_foreign_vectors(&tokens, &mut out);
    out
}

/// Tokens of no listed architecture (every other known one, 0, all ones and
/// near misses of x86_64), each with a few numbers: all must get the bad-arch action.
pub(super) fn push_foreign_vectors(tokens: &[u32], out: &mut Vec<(SeccompData, VectorKind)>) {
    let mut foreign: Vec<u32> = Arch::ALL.iter().map(|a| a.audit_arch()).collect();
    foreign.extend([0, u32::MAX, Arch::X86_64.audit_arch() ^ 1, 0x4000_003e]);
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The bitmaps and the sorted rest read out exactly what a sort and
        /// dedup of every inserted number gives.
        #[test]
        fn number_set_reads_out_sorted_and_deduplicated(
            near in prop::collection::vec((0u32..3, 0u32..WINDOW + 70), 0..400),
            far in prop::collection::vec(any::<u32>(), 0..40),
        ) {
            let bases = [0, X32_SYSCALL_BIT - 64, X32_SYSCALL_BIT];
            let nrs: Vec<u32> = near
                .iter()
                .map(|&(b, off)| bases[b as usize].wrapping_add(off))
                .chain(far)
                .collect();
            let mut set = NumberSet::new();
            set.extend(nrs.iter().copied());
            let mut plain = nrs;
            plain.sort_unstable();
            plain.dedup();
            prop_assert_eq!(set.into_sorted(), plain);
        }
    }
}
