//! Size and speed of a filter, measured by simulation.

use rampart_enforce::bpf::SeccompProgram;
use rampart_enforce::bpf::SockFilter;
use serde::Serialize;

use super::ir::{Action, Cond, FilterIr};
use super::simulate::{SeccompData, Simulator, action_cache_emulation};
use super::verify::{arg_vectors, compares_args, vectors};
use crate::arch::Arch;

/// Figures for one requested architecture.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArchStats {
    pub arch: String,
    /// Numbers in the architecture's syscall table.
    pub table_syscalls: usize,
    /// Most instructions executed for one decision: every table number, plus the
    /// boundary argument vectors of every syscall with rules.
    pub worst_case: usize,
    /// Mean instructions executed over the table numbers (arguments zero).
    pub average: f64,
    /// Table numbers the IR allows whatever the arguments.
    pub unconditional_allow: usize,
    /// Table numbers the kernel's action cache proves constant-ALLOW.
    pub cacheable: usize,
    /// Unconditionally allowed numbers the cache cannot prove (should be empty).
    pub allow_not_cacheable: Vec<u32>,
    /// Instructions the kernel's action-cache emulation visits when the filter
    /// is attached, over every number up to the table's highest, if this is the
    /// running kernel's native or compat ABI (x32 never is: 0). About half of
    /// the attach cost of a large filter (see `emit.rs`, `INSN_COST`).
    pub cache_emulation_steps: usize,
}

/// Figures for a whole filter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub instructions: usize,
    /// Most instructions executed for one decision over every verification
    /// vector (all architectures, foreign tokens included).
    pub worst_case: usize,
    pub arches: Vec<ArchStats>,
}

/// Whether `nr` is allowed whatever its arguments.
fn unconditional_allow(ir: &FilterIr, token: u32, nr: u32) -> bool {
    let Some(a) = ir.route(token, nr) else {
        return false;
    };
    match a.syscalls.get(&nr) {
        None => {
            let act = if nr > a.max_known_nr {
                a.unknown_action
            } else {
                a.default_action
            };
            act == Action::Allow
        }
        Some(rules) => {
            // Allow if the first rule that can hold unconditionally allows, and no
            // earlier rule returns anything else.
            for r in rules {
                if r.action != Action::Allow {
                    return false;
                }
                if r.cond == Cond::True {
                    return true;
                }
            }
            a.default_action == Action::Allow
        }
    }
}

/// Measures `program` (compiled from `ir`).
pub fn measure(ir: &FilterIr, program: &SeccompProgram) -> Stats {
    measure_insns(ir, program.instructions())
}

/// [`measure`] on raw instructions, e.g. another compiler's output for the same
/// IR. A program the kernel would refuse measures as zero everywhere.
pub fn measure_insns(ir: &FilterIr, insns: &[SockFilter]) -> Stats {
    let Ok(sim) = Simulator::new(insns) else {
        return Stats {
            instructions: insns.len(),
            worst_case: 0,
            arches: vec![],
        };
    };
    let worst_case = vectors(ir, Some(insns))
        .iter()
        .map(|(d, _)| sim.run(d).1)
        .max()
        .unwrap_or(0);
    measure_parts(ir, insns, &sim, worst_case)
}

/// The rest of [`measure_insns`], given the worst case over every verification
/// vector (which [`super::verify::verify_vectors`] already found).
pub(crate) fn measure_parts(
    ir: &FilterIr,
    insns: &[SockFilter],
    sim: &Simulator<'_>,
    worst_case: usize,
) -> Stats {
    let mut arches = Vec::new();
    for a in &ir.arches {
        let token = a.arch.audit_arch();
        let table: Vec<u32> = a.arch.table().iter().map(|(_, nr)| nr).collect();
        let mut worst = 0;
        let mut total = 0usize;
        let mut unconditional = 0;
        let mut cacheable = 0;
        let mut missed = Vec::new();
        // The kernel emulates every number below its table's end for its native
        // and compat ABIs; x32 numbers (bit 30) never.
        let mut emulation_steps = 0;
        let mut cached_below = Vec::new();
        let end = table.iter().copied().max().map_or(0, |m| m + 1);
        if a.arch != Arch::X32 && end <= 1 << 16 {
            for nr in 0..end {
                let (cached, steps) = action_cache_emulation(insns, token, nr);
                cached_below.push(cached);
                emulation_steps += steps;
            }
        }
        for &nr in &table {
            let (_, n) = sim.run(&SeccompData::new(token, nr, [0; 6]));
            worst = worst.max(n);
            total += n;
            let cached = match cached_below.get(nr as usize) {
                Some(&c) => c,
                None => action_cache_emulation(insns, token, nr).0,
            };
            cacheable += usize::from(cached);
            if unconditional_allow(ir, token, nr) {
                unconditional += 1;
                if !cached {
                    missed.push(nr);
                }
            }
        }
        for (&nr, rules) in &a.syscalls {
            if !a.reaches(nr) {
                continue;
            }
            let conds: Vec<&Cond> = rules.iter().map(|r| &r.cond).collect();
            if !compares_args(&conds) {
                // arg_vectors would be the all-zero vector alone.
                worst = worst.max(sim.run(&SeccompData::new(token, nr, [0; 6])).1);
                continue;
            }
            for args in arg_vectors(&conds) {
                worst = worst.max(sim.run(&SeccompData::new(token, nr, args)).1);
            }
        }
        arches.push(ArchStats {
            arch: a.arch.name().to_string(),
            table_syscalls: table.len(),
            worst_case: worst,
            average: if table.is_empty() {
                0.0
            } else {
                total as f64 / table.len() as f64
            },
            unconditional_allow: unconditional,
            cacheable,
            allow_not_cacheable: missed,
            cache_emulation_steps: emulation_steps,
        });
    }
    Stats {
        instructions: insns.len(),
        worst_case,
        arches,
    }
}
