//! The rampart policy compiler.
//!
//! Pipeline, one module per stage: `yaml` (spanned document tree) → `profile`
//! (typed profile with spans) → `resolve` (extends, groups, names per arch) →
//! `lint` (diagnostics) → lowering per mechanism (`seccomp`, capabilities, …) →
//! emit → verify.

pub mod arch;
pub mod builtin;
pub mod capability;
pub mod consts;
pub mod diagnostic;
pub mod export;
pub mod expr;
pub mod fuzzing;
pub mod groups;
pub mod import;
pub mod kube;
pub mod lint;
pub mod lower;
pub mod pipeline;
pub mod profile;
pub mod reference;
pub mod resolve;
pub mod seccomp;
pub mod selinux;
#[cfg(feature = "selinux")]
pub mod selinux_host;
pub mod source;
pub mod suggest;
pub mod yaml;
