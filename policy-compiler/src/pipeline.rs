//! The whole front-to-back pipeline in one place: reference → profile chain →
//! resolved profile → seccomp IR → verified BPF → the enforcer's policy.

use std::path::Path;
use std::sync::Arc;

use rampart_enforce::policy::{CompiledPolicy, SeccompSpec};

use crate::diagnostic::Diagnostic;
use crate::lower;
use crate::reference::{ProfileRef, RefError};
use crate::resolve::{self, Options, Resolved};
use crate::seccomp::{self, ir::FilterIr};
use crate::selinux::Label;
use crate::source::SourceFile;

/// A compiled profile: every artifact, plus the warnings met on the way.
#[derive(Debug)]
pub struct CompiledProfile {
    pub resolved: Resolved,
    /// `None` when the profile is unconfined.
    pub ir: Option<FilterIr>,
    pub filter: Option<seccomp::Compiled>,
    pub warnings: Vec<Diagnostic>,
}

/// Why compilation stopped.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Reference(#[from] RefError),
    #[error("the profile has errors")]
    Diagnostics(Vec<Diagnostic>),
    #[error("{0}")]
    Seccomp(String),
}

/// Compiles a profile reference (`default`, `localhost/x.yaml`, a path).
pub fn compile_reference(reference: &str, opts: &Options) -> Result<CompiledProfile, Failure> {
    let file = ProfileRef::parse(reference)?.load(Path::new(""), opts.profiles_dir.as_deref())?;
    compile_file(file, opts)
}

/// Compiles an already loaded profile file.
pub fn compile_file(file: Arc<SourceFile>, opts: &Options) -> Result<CompiledProfile, Failure> {
    let (chain, mut diags) = resolve::load_chain_from(file, opts);
    if chain.is_empty() {
        return Err(Failure::Diagnostics(diags));
    }
    // Resolution runs after decode errors too (the broken nodes were left out),
    // as in `rampart lint`: one run reports every error, not the first stage's.
    let (resolved, d) = resolve::resolve_chain(chain, opts);
    diags.extend(d);
    let (ir, d) = resolve::lower_seccomp(&resolved, opts);
    diags.extend(d);
    if diags.iter().any(Diagnostic::is_error) {
        // In file order, as `rampart lint` prints them.
        crate::diagnostic::sort(&mut diags);
        return Err(Failure::Diagnostics(diags));
    }
    let filter = match &ir {
        Some(ir) => Some(seccomp::compile(ir).map_err(|e| Failure::Seccomp(e.to_string()))?),
        None => None,
    };
    Ok(CompiledProfile {
        resolved,
        ir,
        filter,
        warnings: diags,
    })
}

impl CompiledProfile {
    /// The enforcer's policy. `allocated_label` is the SELinux label chosen for
    /// this pod when the profile says `level: auto`.
    pub fn policy(&self, allocated_label: Option<&Label>) -> Result<CompiledPolicy, Failure> {
        let seccomp = self.filter.as_ref().map(|f| SeccompSpec {
            program: f.program.clone(),
            tsync: self.resolved.seccomp.tsync,
            log: self.resolved.seccomp.log,
            required: true,
            compat_gates: f.gates.clone(),
        });
        lower::build_policy(&self.resolved, seccomp, allocated_label).map_err(Failure::Diagnostics)
    }
}
