//! `rampart lint` on a 1000-rule profile: parse, decode, resolve, lower to the
//! IR for x86_64 + x86 + x32, and run every lint rule. Goal: well under 50 ms.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart::arch::Arch;
use rampart::lint;
use rampart::resolve::Options;
use rampart::source::SourceFile;

/// A profile with `n` rules over real syscalls, with conditions, so every stage works.
pub fn big_profile(n: usize) -> String {
    let names: Vec<&str> = Arch::X86_64.table().iter().map(|e| e.0).collect();
    let mut s = String::from(
        "apiVersion: rampart.dev/v1\nkind: SecurityProfile\nextends: default\nseccomp:\n  syscalls:\n",
    );
    for i in 0..n {
        let name = names[i % names.len()];
        s.push_str(&format!(
            "    - names: [{name}]\n      action: errno({})\n      when: \"arg{} & 0x{:x} == {} || arg1 in [1, 2, {i}]\"\n",
            1 + i % 100,
            i % 6,
            0xff00 + i,
            i % 7
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = big_profile(1000);
    let opts = Options {
        arches: Some(vec![Arch::X86_64, Arch::X86, Arch::X32]),
        ..Options::host()
    };
    c.bench_function("lint 1000-rule profile (x86_64+x86+x32)", |b| {
        b.iter(|| {
            let file = SourceFile::new("big.yaml", text.clone());
            black_box(lint::lint_file(&file, &opts, None))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
