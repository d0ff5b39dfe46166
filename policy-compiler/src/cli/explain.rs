//! `rampart explain PROFILE --arch ARCH SYSCALL [ARG0 … ARG5]`: run the
//! compiled program in the simulator and say what it decides and why.

use std::path::PathBuf;

use rampart::arch::Arch;
use rampart::resolve::Options;
use rampart::seccomp::{disasm, simulate};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(value_name = "PROFILE")]
    profile: String,
    /// The calling ABI (its AUDIT_ARCH token goes in seccomp_data.arch).
    #[arg(long, value_name = "ARCH", value_parser = super::parse_arches)]
    arch: super::ArchList,
    /// A syscall name or number.
    #[arg(value_name = "SYSCALL")]
    syscall: String,
    /// Up to six arguments (decimal, 0x hex, or named constants such as CLONE_NEWUSER|SIGCHLD).
    #[arg(value_name = "ARG", num_args = 0..=6)]
    args: Vec<String>,
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
}

fn parse_arg(s: &str) -> Result<u64, String> {
    s.split('|').try_fold(0u64, |acc, part| {
        let p = part.trim();
        rampart::yaml::parse_int(p)
            .or_else(|| rampart::consts::lookup(p))
            .map(|v| acc | v)
            .ok_or_else(|| format!("`{p}` is not a number or a known constant"))
    })
}

pub fn run(a: Args) -> u8 {
    let Some(&arch) = a.arch.0.first() else {
        eprintln!("rampart explain: --arch needs one architecture");
        return 2;
    };
    let nr = match rampart::yaml::parse_int(&a.syscall)
        .map(|n| n as u32)
        .or_else(|| arch.table().nr(&a.syscall))
    {
        Some(n) => n,
        None => {
            let hint = rampart::resolve::syscall_suggestion(&a.syscall)
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            eprintln!(
                "rampart explain: `{}` is not a syscall on {arch}{hint}",
                a.syscall
            );
            return 2;
        }
    };
    let mut args = [0u64; 6];
    for (i, s) in a.args.iter().enumerate() {
        match parse_arg(s) {
            Ok(v) => args[i] = v,
            Err(e) => {
                eprintln!("rampart explain: argument {i}: {e}");
                return 2;
            }
        }
    }
    let mut opts = Options::host();
    opts.profiles_dir = a.profiles_dir.clone();
    let mut compiled = match super::compile::compile_any(&a.profile, None, None, &opts) {
        Ok(c) => c,
        Err(e) => return super::compile::report(e),
    };
    // Explaining a call from an ABI the profile does not filter: compile it in,
    // unless it is genuinely foreign (then the bad-arch path is the answer).
    let covered = compiled
        .ir
        .as_ref()
        .is_none_or(|ir| ir.arches.iter().any(|x| x.arch == arch));
    if !covered && arch != Arch::X32 {
        let mut arches: Vec<Arch> = compiled
            .ir
            .as_ref()
            .map(|ir| ir.arches.iter().map(|x| x.arch).collect())
            .unwrap_or_default();
        arches.push(arch);
        opts.arches = Some(arches);
        compiled = match super::compile::compile_any(&a.profile, None, None, &opts) {
            Ok(c) => c,
            Err(e) => return super::compile::report(e),
        };
    }
    let (Some(filter), Some(ir)) = (&compiled.filter, &compiled.ir) else {
        println!("no filter: the profile is unconfined, every syscall is allowed");
        return 0;
    };
    let data = simulate::SeccompData::new(arch.audit_arch(), nr, args);
    let result = match simulate::simulate(filter.program.instructions(), &data) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rampart explain: internal error: {e}");
            return 1;
        }
    };
    let name = arch.table().name(nr).unwrap_or("(not in the table)");
    println!("{arch} syscall {nr} ({name}) args {:x?}", args);
    println!("decision: {}", disasm::ret_name(result.ret));
    let (_, origin) = ir.evaluate(arch.audit_arch(), nr, args);
    match origin.and_then(|o| ir.origin(o)) {
        Some(o) => println!("decided by: {}:{}: {}", o.file, o.line, o.summary),
        None if nr
            > ir.arches
                .iter()
                .find(|x| x.arch == arch)
                .map_or(0, |x| x.max_known_nr) =>
        {
            println!(
                "decided by: unknownSyscallAction (a number newer than the profile's syscall table)"
            )
        }
        None => println!("decided by: badArchAction or the built-in default"),
    }
    println!("instructions executed: {}", result.executed);
    let listing = disasm::disasm(
        filter.program.instructions(),
        Some(ir),
        Some(&filter.origins),
    );
    let lines: Vec<&str> = listing
        .lines()
        .filter(|l| !l.trim_start().starts_with(';'))
        .collect();
    for pc in &result.pcs {
        if let Some(l) = lines.get(*pc) {
            println!("  {l}");
        }
    }
    0
}
