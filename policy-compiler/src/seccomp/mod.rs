//! The seccomp back end: IR → BPF, optimized, then proven equal to the IR.
//!
//! One module per stage: [`emit`] (IR → program), [`simulate`] (a cBPF
//! interpreter and the kernel's action-cache analysis), [`verify`] (translation
//! validation against [`ir::FilterIr::evaluate`]), [`stats`] (size and executed
//! path lengths) and [`disasm`] (annotated text). [`compile`] runs them in order.

pub mod disasm;
pub mod emit;
pub mod ir;
pub mod simulate;
pub mod stats;
pub mod verify;

#[cfg(test)]
mod tests;

use rampart_enforce::bpf::SeccompProgram;
use rampart_enforce::policy::CompatGate;
use serde::Serialize;

pub use emit::{EmitError, Emitted};
pub use stats::Stats;
pub use verify::{VerifyError, VerifyReport};

use ir::{FilterIr, OriginId};

/// A compiled, verified filter.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub program: SeccompProgram,
    /// Per instruction: the rule it implements, if any.
    pub origins: Vec<Option<OriginId>>,
    /// The compat gates, in program order (see `rampart_enforce::bpf::gate`).
    pub gates: Vec<CompatGate>,
    pub stats: Stats,
    pub verification: VerifyReport,
}

impl Compiled {
    /// Annotated disassembly (labels, syscall/errno/arch names, rule origins).
    pub fn disasm(&self, ir: &FilterIr) -> String {
        disasm::disasm(self.program.instructions(), Some(ir), Some(&self.origins))
    }

    /// The machine-readable summary for `--format json`.
    pub fn summary(&self) -> CompileSummary<'_> {
        CompileSummary {
            stats: &self.stats,
            verification: &self.verification,
            compat_gates: self
                .gates
                .iter()
                .map(|g| GateSummary {
                    arch: crate::arch::Arch::ALL
                        .into_iter()
                        .find(|a| a.audit_arch() == g.arch)
                        .map_or("?", |a| a.name()),
                    at: g.at,
                })
                .collect(),
        }
    }
}

/// Serializable summary of a compilation.
#[derive(Clone, Debug, Serialize)]
pub struct CompileSummary<'a> {
    pub stats: &'a Stats,
    pub verification: &'a VerifyReport,
    /// Where the program's compat gates are (`rampart-enforce` closes them for
    /// a 64-bit app).
    pub compat_gates: Vec<GateSummary>,
}

/// A compat gate: the ABI whose tree it opens, and its instruction index.
#[derive(Clone, Debug, Serialize)]
pub struct GateSummary {
    pub arch: &'static str,
    pub at: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Emit(#[from] EmitError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// Emits the filter, proves it equal to the IR by simulation, and measures it.
/// On a verification mismatch nothing is returned but the error.
pub fn compile(ir: &FilterIr) -> Result<Compiled, CompileError> {
    let Emitted {
        program,
        origins,
        gates,
    } = emit::emit(ir)?;
    // One vector set and one run per vector serve both the proof and the
    // statistics (the same vectors `verify` and `stats::measure` would build).
    let insns = program.instructions();
    let vectors = verify::vectors(ir, Some(insns));
    let (verification, worst_case) = verify::verify_vectors(ir, insns, &vectors)?;
    let sim =
        simulate::Simulator::new(insns).map_err(|e| VerifyError::Unrunnable(e.to_string()))?;
    let stats = stats::measure_parts(ir, insns, &sim, worst_case);
    Ok(Compiled {
        program,
        origins,
        gates,
        stats,
        verification,
    })
}
