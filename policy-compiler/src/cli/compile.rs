//! `rampart compile PROFILE [--arch A,B | --all-arches] [--format bpf|disasm|json|blob] [-o FILE]`

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;
use rampart::arch::Arch;
use rampart::diagnostic;
use rampart::pipeline::{self, CompiledProfile, Failure};
use rampart::resolve::Options;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// The raw `struct sock_filter` array, host byte order (as `seccomp_export_bpf` writes it).
    Bpf,
    /// Annotated disassembly.
    Disasm,
    /// Statistics and verification figures.
    Json,
    /// The compiled policy for `rampart-enforce --policy`.
    Blob,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A profile reference (default, restricted, privileged, localhost/<path>) or a file
    /// (rampart YAML, or OCI/Docker/SPO/appc/seccompiler: detected).
    #[arg(value_name = "PROFILE")]
    profile: String,
    /// Architectures to filter (comma-separated); default: the profile's.
    #[arg(long, value_name = "ARCH[,ARCH…]", value_parser = super::parse_arches, conflicts_with = "all_arches")]
    arch: Option<super::ArchList>,
    /// Every architecture rampart knows.
    #[arg(long)]
    all_arches: bool,
    #[arg(long, value_enum, default_value = "disasm")]
    format: Format,
    /// Output file (default: stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Where `localhost/` references resolve.
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// For files holding several seccompiler filters: which one.
    #[arg(long, value_name = "NAME")]
    filter: Option<String>,
}

/// Compiles a reference or a file (rampart YAML or a detected foreign format).
pub fn compile_any(
    profile: &str,
    filter: Option<String>,
    opts: &Options,
) -> Result<CompiledProfile, Failure> {
    let path = std::path::Path::new(profile);
    if path.is_file()
        && let Ok(text) = std::fs::read_to_string(path)
        && let Some(fmt) = rampart::import::detect(&text)
    {
        let iopts = rampart::import::ImportOptions {
            source_name: profile.to_string(),
            filter,
            base_dir: path.parent().map(|p| p.to_path_buf()),
            ..Default::default()
        };
        let imported = rampart::import::load(fmt, &text, &iopts).map_err(Failure::Diagnostics)?;
        let mut compiled =
            pipeline::compile_file(imported.source_file(format!("{profile}.yaml")), opts)?;
        compiled.warnings.extend(imported.warnings);
        return Ok(compiled);
    }
    pipeline::compile_reference(profile, opts)
}

/// Prints a failure the way `rampart lint` does and returns exit code 1 or 2.
pub fn report(e: Failure) -> u8 {
    match e {
        Failure::Diagnostics(diags) => {
            for d in &diags {
                eprint!("{}", diagnostic::render_text(d));
            }
            1
        }
        Failure::Reference(e) => {
            eprintln!("rampart: {e}");
            2
        }
        Failure::Seccomp(e) => {
            eprintln!("rampart: {e}");
            1
        }
    }
}

pub fn run(args: Args) -> u8 {
    let mut opts = Options::host();
    opts.profiles_dir = args.profiles_dir.clone();
    opts.arches = if args.all_arches {
        Some(Arch::ALL.to_vec())
    } else {
        args.arch.clone().map(|a| a.0)
    };
    let compiled = match compile_any(&args.profile, args.filter.clone(), &opts) {
        Ok(c) => c,
        Err(e) => return report(e),
    };
    for w in &compiled.warnings {
        eprint!("{}", diagnostic::render_text(w));
    }
    let bytes: Vec<u8> = match args.format {
        Format::Blob => match compiled.policy(None) {
            Ok(p) => rampart_enforce::blob::encode(&p),
            Err(e) => return report(e),
        },
        _ => {
            let (Some(filter), Some(ir)) = (&compiled.filter, &compiled.ir) else {
                eprintln!(
                    "rampart compile: the profile is unconfined (seccomp mode: unconfined): there is no filter to emit"
                );
                return 1;
            };
            match args.format {
                Format::Bpf => filter.program.to_bytes(),
                Format::Disasm => filter.disasm(ir).into_bytes(),
                _ => {
                    let arches: Vec<&str> = ir.arches.iter().map(|a| a.arch.name()).collect();
                    let v = serde_json::json!({
                        "profile": compiled.resolved.name,
                        "architectures": arches,
                        "summary": filter.summary(),
                    });
                    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
                    s.push('\n');
                    s.into_bytes()
                }
            }
        }
    };
    let written = match &args.output {
        Some(p) => {
            std::fs::write(p, &bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .map_err(|e| format!("cannot write to stdout: {e}")),
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rampart compile: {e}");
            2
        }
    }
}
