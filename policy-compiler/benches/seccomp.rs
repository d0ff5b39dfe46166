//! Compile time of the seccomp back end on Docker's default profile, side by
//! side with libseccomp (optimisation levels 1 and 2, including BPF export) and
//! seccompiler 0.5 (x86_64 only, where it can express the rules).
//!
//! Run: `cargo bench -p rampart --bench seccomp`.
//! Instruction counts and worst-case paths are printed once before the timings.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart::arch::Arch;
use rampart::seccomp::{self, ir, stats::measure_insns};
use rampart_enforce::bpf::SockFilter;

#[path = "support/docker.rs"]
mod docker;

#[path = "support/baselines.rs"]
mod baselines;

fn print_table(label: &str, p: &docker::Profile) {
    let ir = p.to_ir();
    let c = seccomp::compile(&ir).expect("compiles");
    let mut rows: Vec<(&str, Vec<SockFilter>)> = vec![
        ("rampart", c.program.instructions().to_vec()),
        ("libseccomp level 1", baselines::libseccomp_program(p, 1)),
        ("libseccomp level 2", baselines::libseccomp_program(p, 2)),
    ];
    if p.per_arch.len() == 1
        && let Some(s) = baselines::seccompiler_program(p)
    {
        rows.push(("seccompiler 0.5", s));
    }
    for (name, insns) in rows {
        let m = measure_insns(&ir, &insns);
        eprintln!(
            "{label}: {name}: {} instructions, worst-case executed {}, cacheable {}",
            m.instructions,
            m.worst_case,
            m.arches.iter().map(|a| a.cacheable).sum::<usize>()
        );
    }
}

fn bench(c: &mut Criterion) {
    let allow = docker::load_default(&[Arch::X86_64], true);
    let whole = docker::load_default(&[Arch::X86_64, Arch::X86, Arch::X32], false);
    print_table("allow-list x86_64", &allow);
    print_table("whole profile x86_64+x86+x32", &whole);

    for (label, p) in [
        ("allow_list_x86_64", &allow),
        ("whole_profile_3_arches", &whole),
    ] {
        let ir = p.to_ir();
        let mut g = c.benchmark_group(label);
        g.bench_function("rampart_emit", |b| {
            b.iter(|| seccomp::emit::emit(black_box(&ir)).expect("emit"))
        });
        g.bench_function("rampart_compile_emit_verify_stats", |b| {
            b.iter(|| seccomp::compile(black_box(&ir)).expect("compile"))
        });
        g.bench_function("libseccomp_level1", |b| {
            b.iter(|| baselines::libseccomp_program(black_box(p), 1))
        });
        g.bench_function("libseccomp_level2", |b| {
            b.iter(|| baselines::libseccomp_program(black_box(p), 2))
        });
        if p.per_arch.len() == 1 {
            g.bench_function("seccompiler", |b| {
                b.iter(|| baselines::seccompiler_program(black_box(p)))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
