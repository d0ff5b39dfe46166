//! Compile time of Docker's default profile (x86_64 + x86 + x32) per phase,
//! without libseccomp in the process, so it runs under
//! `valgrind --tool=callgrind` (which cannot run libseccomp's API probe).
//!
//! Run: `cargo run --profile bench -p rampart
//! --example seccomp_compile_time -- [ITERATIONS]`. Prints the median time of
//! each phase and a digest of the program, so two builds can be checked to emit
//! the same instructions.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rampart::arch::Arch;
use rampart::seccomp::{self, ir};

#[path = "../benches/support/docker.rs"]
mod docker;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let profile = docker::load_default(&[Arch::X86_64, Arch::X86, Arch::X32], false);
    let ir = profile.to_ir();
    let (mut emit, mut verify, mut stats, mut total) = (vec![], vec![], vec![], vec![]);
    let mut digest = 0u64;
    for _ in 0..iterations.max(1) {
        let t0 = Instant::now();
        let e = seccomp::emit::emit(black_box(&ir)).expect("emit");
        let t1 = Instant::now();
        let v = seccomp::verify::verify(&ir, &e.program).expect("verify");
        let t2 = Instant::now();
        let s = seccomp::stats::measure(&ir, &e.program);
        let t3 = Instant::now();
        black_box((&v, &s));
        emit.push(t1 - t0);
        verify.push(t2 - t1);
        stats.push(t3 - t2);
        total.push(t3 - t0);
        // FNV-1a over the instructions: equal digests, equal programs.
        digest = 0xcbf2_9ce4_8422_2325;
        for i in e.program.instructions() {
            for b in [
                u64::from(i.code),
                u64::from(i.jt),
                u64::from(i.jf),
                u64::from(i.k),
            ] {
                digest = (digest ^ b).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        if total.len() == 1 {
            eprintln!(
                "{} instructions, worst case {}, {} vectors verified",
                e.program.instructions().len(),
                s.worst_case,
                v.vectors
            );
        }
    }
    println!(
        "median of {iterations}: emit {:?}, verify {:?}, stats {:?}, total {:?}; program digest {digest:016x}",
        median(emit),
        median(verify),
        median(stats),
        median(total)
    );
}
