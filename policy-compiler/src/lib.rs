//! The rampart policy compiler.
//!
//! Pipeline, one module per stage: `yaml` (spanned document tree) → `profile`
//! (typed profile with spans) → `resolve` (extends, groups, names per arch) →
//! `lint` (diagnostics) → lowering per mechanism (`seccomp`, capabilities, …) →
//! emit → verify.

pub mod arch;
pub mod seccomp;
