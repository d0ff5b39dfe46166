//! The `rampart` subcommands. Each returns the process exit code.

pub mod groups;
pub mod lint;

use rampart::arch::Arch;

/// Parses `--arch x86_64,aarch64`.
pub fn parse_arches(s: &str) -> Result<Vec<Arch>, String> {
    s.split(',')
        .map(|a| {
            Arch::from_name(a.trim()).ok_or_else(|| {
                let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
                format!("unknown architecture `{a}` (known: {})", names.join(", "))
            })
        })
        .collect()
}
