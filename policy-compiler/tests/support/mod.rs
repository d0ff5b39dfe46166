//! Helpers shared by the integration tests that compare two filters'
//! decisions (imports, exports): test data, boundary vectors, and the
//! comparison over every syscall number.
#![allow(dead_code)] // each test crate uses a subset

use std::collections::BTreeSet;

use rampart::arch::{Arch, X32_SYSCALL_BIT};
use rampart::seccomp::ir::{Action, CmpOp, Cond, FilterIr, Rule};
use serde_json::Value;

/// The Security Profiles Operator's example profiles in `../shared/testdata`
/// (SeccompProfile documents; a file may hold several).
pub const SPO_EXAMPLES: [&str; 5] = [
    "spo-seccompprofile.yaml",
    "spo-seccompprofile-allowed-syscalls-validation.yaml",
    "spo-seccompprofile-allowed-syscalls-change.yaml",
    "spo-baseprofile-runc.yaml",
    "spo-baseprofile-crun.yaml",
];

/// A file of `../shared/testdata` (beside the repository).
pub fn testdata(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (shared/testdata must sit beside the repository)",
            p.display()
        )
    })
}

fn variants(k: u64, out: &mut BTreeSet<u64>) {
    for x in [
        k.wrapping_sub(1),
        k,
        k.wrapping_add(1),
        k | (1 << 32),
        k | 0xffff_ffff_0000_0000,
        k & 0xffff_ffff,
        !k,
    ] {
        out.insert(x);
    }
}

fn basics(out: &mut BTreeSet<u64>) {
    out.extend([0, 1, u64::MAX, 1 << 32, 0xffff_ffff]);
}

/// Every number in the JSON, as boundary candidates.
pub fn constants(v: &Value, out: &mut BTreeSet<u64>) {
    match v {
        Value::Number(n) => {
            if let Some(k) = n.as_u64() {
                variants(k, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| constants(x, out)),
        Value::Object(o) => o.values().for_each(|x| constants(x, out)),
        _ => {}
    }
    basics(out);
}

/// Every constant and mask an IR compares with (and single mask bits, which
/// negated masked comparisons test one by one), as boundary candidates.
pub fn ir_constants(ir: &FilterIr, out: &mut BTreeSet<u64>) {
    for a in &ir.arches {
        for rules in a.syscalls.values() {
            for r in rules {
                for c in r.cond.cmps() {
                    variants(c.value, out);
                    if c.mask != u64::MAX {
                        variants(c.mask, out);
                        out.insert(c.value | !c.mask);
                        for b in (0..64).filter(|b| c.mask & (1 << b) != 0) {
                            out.insert(c.value ^ (1 << b));
                        }
                    }
                }
            }
        }
    }
    basics(out);
}

/// Vectors for a syscall whose rules look at arguments: every candidate in
/// every position alone, and each rule's satisfying vector with one position
/// replaced by every candidate.
pub fn vectors(rules: &[Rule], cands: &BTreeSet<u64>) -> Vec<[u64; 6]> {
    let mut out = vec![[0u64; 6]];
    for i in 0..6 {
        for &c in cands {
            let mut a = [0u64; 6];
            a[i] = c;
            out.push(a);
        }
    }
    for r in rules {
        let cmps = r.cond.cmps();
        if cmps.is_empty() {
            continue;
        }
        let mut base = [0u64; 6];
        for c in &cmps {
            base[c.arg as usize] = match c.op {
                CmpOp::Eq | CmpOp::Le | CmpOp::Ge => c.value,
                CmpOp::Ne | CmpOp::Gt => c.value.wrapping_add(1),
                CmpOp::Lt => c.value.wrapping_sub(1),
            };
        }
        out.push(base);
        for c in &cmps {
            for &k in cands {
                let mut a = base;
                a[c.arg as usize] = k;
                out.push(a);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `reference` and `converted` decide alike on every number `0..=max+64` of
/// each of the reference's architectures (and the table's private numbers),
/// with boundary vectors where either has argument rules. `also` is called
/// with every (token, nr, args) and the reference decision, for extra checks
/// (e.g. simulating emitted programs). Returns the number of vectors.
pub fn same_decisions_and(
    what: &str,
    reference: &FilterIr,
    converted: &FilterIr,
    cands: &BTreeSet<u64>,
    also: &mut dyn FnMut(u32, u32, [u64; 6], Action),
) -> usize {
    let mut checked = 0;
    for ra in &reference.arches {
        let arch = ra.arch;
        let table = arch.table();
        let base = if arch == Arch::X32 {
            X32_SYSCALL_BIT
        } else {
            0
        };
        let mut nrs: Vec<u32> = (base..=table.max_nr() + 64).collect();
        nrs.extend(table.iter().map(|e| e.1));
        for nr in nrs {
            let argful = ra
                .syscalls
                .get(&nr)
                .is_some_and(|r| r.iter().any(|r| r.cond != Cond::True));
            let conv_argful = converted
                .route(arch.audit_arch(), nr)
                .and_then(|a| a.syscalls.get(&nr))
                .is_some_and(|r| r.iter().any(|r| r.cond != Cond::True));
            let mut rules: Vec<Rule> = ra.syscalls.get(&nr).cloned().unwrap_or_default();
            if let Some(c) = converted
                .route(arch.audit_arch(), nr)
                .and_then(|a| a.syscalls.get(&nr))
            {
                rules.extend(c.iter().cloned());
            }
            let vs = if argful || conv_argful {
                vectors(&rules, cands)
            } else {
                vec![[0; 6], [u64::MAX; 6]]
            };
            for a in vs {
                let want = reference.evaluate(arch.audit_arch(), nr, a).0;
                let got = converted.evaluate(arch.audit_arch(), nr, a).0;
                assert_eq!(
                    got,
                    want,
                    "{what}: {arch} nr {nr} ({:?}) args {a:x?}",
                    table.name(nr)
                );
                also(arch.audit_arch(), nr, a, want);
                checked += 1;
            }
        }
    }
    checked
}

/// [`same_decisions_and`] without extra checks.
pub fn same_decisions(
    what: &str,
    reference: &FilterIr,
    converted: &FilterIr,
    cands: &BTreeSet<u64>,
) -> usize {
    same_decisions_and(what, reference, converted, cands, &mut |_, _, _, _| {})
}
