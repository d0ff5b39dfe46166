//! rampart's enforcer: the compiled-policy format, the seam over the kernel, and
//! the apply sequence that `rampart-enforce` runs right before `execve`.
//!
//! This crate is deliberately small (no YAML, no profile language) because it
//! runs inside every sandboxed app's process before the app starts.
//!
//! * [`policy`]: [`policy::CompiledPolicy`] and its parts, built with checked
//!   constructors.
//! * [`blob`]: the versioned, checksummed file format ([`blob::encode`],
//!   [`blob::decode`]).
//! * [`sys`]: the [`sys::Kernel`] trait and [`sys::LinuxKernel`], the only place
//!   with `unsafe`.
//! * [`apply`]: the ordered apply sequence; [`report`]: the JSON-lines report;
//!   [`error`]: errors and exit codes.
//! * [`launch`]: from a decoded policy to `execve`, shared by `rampart-enforce`
//!   and `rampart run`.

pub mod apply;
pub mod blob;
pub mod bpf;
pub mod error;
#[cfg(test)]
mod fake;
pub mod launch;
pub mod policy;
pub mod report;
pub mod sys;
