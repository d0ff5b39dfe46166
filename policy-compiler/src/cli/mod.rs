//! The `rampart` subcommands. Each returns the process exit code.

pub mod compile;
pub mod compile_dir;
pub mod convert;
pub mod explain;
pub mod groups;
pub mod lint;
pub mod resolve_pod;
pub mod run;

use rampart::arch::Arch;

/// A comma-separated list of architectures (`--arch x86_64,aarch64`).
#[derive(Clone, Debug)]
pub struct ArchList(pub Vec<Arch>);

/// Parses `--arch x86_64,aarch64`.
pub fn parse_arches(s: &str) -> Result<ArchList, String> {
    s.split(',')
        .map(|a| {
            Arch::from_name(a.trim()).ok_or_else(|| {
                let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
                format!("unknown architecture `{a}` (known: {})", names.join(", "))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(ArchList)
}

/// Prints a line to stdout; a closed pipe (`rampart … | head`) ends output
/// quietly instead of panicking.
pub fn out(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if writeln!(o, "{line}").is_err() {
        std::process::exit(0);
    }
}
