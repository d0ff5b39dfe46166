//! The seccomp back end: IR → BPF, optimized, then proven equal to the IR.

pub mod ir;
