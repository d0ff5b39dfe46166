//! rampart's enforcer: the compiled-policy format, the seam over the kernel, and
//! the apply sequence that `rampart-enforce` runs right before `execve`.
//!
//! This crate is deliberately small (no YAML, no profile language) because it
//! runs inside every sandboxed app's process before the app starts.

pub mod bpf;
