//! `rampart`: lint, compile, explain and run security profiles.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// Most runs of `rampart` are short (`run` with a warm cache execs within a
/// millisecond): see `LaunchArena` for why a bump arena goes first.
#[global_allocator]
static ALLOC: rampart_enforce::sys::LaunchArena = rampart_enforce::sys::LaunchArena::new();

#[derive(Parser, Debug)]
#[command(
    name = "rampart",
    version,
    about = "Security profiles for Linux containers: lint, compile to seccomp BPF and more, and run apps locked down."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check profiles and syscall-group files; exit 0 clean, 1 findings, 2 usage or unreadable input.
    Lint(cli::lint::Args),
    /// Compile a profile (or a directory, --out-dir): seccomp BPF, disassembly, statistics, a
    /// policy blob for the enforcer, or OCI, kubelet, SPO and crun exports.
    Compile(cli::compile::Args),
    /// Simulate one syscall against a profile's filter: decision, rule, instructions.
    Explain(cli::explain::Args),
    /// Run a program under a profile or a pod's container (compile, user namespace, enforce, exec).
    Run(cli::run::Args),
    /// List the syscall groups, or the syscalls of one group.
    Groups(cli::groups::Args),
    /// Convert an OCI, Docker, SPO, appc or seccompiler profile to rampart YAML.
    Convert(cli::convert::Args),
    /// Each container's effective profile in a Kubernetes pod, and why.
    Resolve(cli::resolve_pod::Args),
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let fast = match argv.get(1) {
        Some(a) if a == "run" => cli::run::fast_args(&argv[2..]),
        _ => None,
    };
    let command = match fast {
        Some(args) => Command::Run(args),
        None => Cli::parse_from(argv).command,
    };
    let code = match command {
        Command::Lint(a) => cli::lint::run(a),
        Command::Compile(a) => cli::compile::run(a),
        Command::Explain(a) => cli::explain::run(a),
        Command::Run(a) => cli::run::run(a),
        Command::Groups(a) => cli::groups::run(a),
        Command::Convert(a) => cli::convert::run(a),
        Command::Resolve(a) => cli::resolve_pod::run(a),
    };
    ExitCode::from(code)
}
