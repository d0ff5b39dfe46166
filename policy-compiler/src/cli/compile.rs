//! `rampart compile PROFILE [--arch A,B | --all-arches] [--format F] [-o FILE]`
//! `rampart compile --out-dir DIR PROFILES_DIR [--format F]`
//!
//! F: bpf|disasm|json|blob, or an export format (oci|kubelet|spo|crun-annotation,
//! see `rampart::export`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use rampart::arch::Arch;
use rampart::diagnostic;
use rampart::export;
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
    /// An OCI runtime-spec fragment: linux.seccomp, process.capabilities, noNewPrivileges, SELinux labels, ID maps.
    Oci,
    /// A Localhost seccomp profile for the kubelet's seccomp directory (JSON).
    Kubelet,
    /// A Security Profiles Operator `SeccompProfile` resource (YAML).
    Spo,
    /// `{"run.oci.seccomp_bpf_data": "<base64 BPF>"}` for crun's annotations.
    CrunAnnotation,
}

impl Format {
    /// The file name suffix `--out-dir` gives this format's outputs.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Bpf => "bpf",
            Format::Disasm => "disasm.txt",
            Format::Json => "stats.json",
            Format::Blob => "blob",
            Format::Oci => "oci.json",
            Format::Kubelet => "json",
            Format::Spo => "spo.yaml",
            Format::CrunAnnotation => "crun.json",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A profile reference (default, restricted, privileged, localhost/<path>) or a file
    /// (rampart YAML, or OCI/Docker/SPO/appc/seccompiler: detected). With --out-dir: a
    /// directory of rampart profiles.
    #[arg(value_name = "PROFILE")]
    profile: String,
    /// Architectures to filter (comma-separated); default: the profile's.
    #[arg(long, value_name = "ARCH[,ARCH…]", value_parser = super::parse_arches, conflicts_with = "all_arches")]
    arch: Option<super::ArchList>,
    /// Every architecture rampart knows.
    #[arg(long)]
    all_arches: bool,
    /// Output format (default: disasm; blob with --out-dir).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Output file (default: stdout).
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Compile every rampart profile (*.yaml, *.yml) in the directory PROFILE into DIR,
    /// one `<file stem>.<ext>` each, byte-identical across runs.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Where `localhost/` references resolve.
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// The PROFILE file's format when it is not rampart YAML (default: detected).
    #[arg(long, value_enum, value_name = "FORMAT")]
    input_format: Option<rampart::import::Format>,
    /// For files holding several seccompiler filters: which one.
    #[arg(long, value_name = "NAME", conflicts_with = "out_dir")]
    filter: Option<String>,
}

/// Compiles a reference or a file: rampart YAML, or a foreign format named by
/// `input_format` or detected from the text.
pub fn compile_any(
    profile: &str,
    input_format: Option<rampart::import::Format>,
    filter: Option<String>,
    opts: &Options,
) -> Result<CompiledProfile, Failure> {
    let path = std::path::Path::new(profile);
    if path.is_file()
        && let Ok(text) = std::fs::read_to_string(path)
        && let Some(fmt) = input_format.or_else(|| rampart::import::detect(&text))
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
    if let Some(dir) = &args.out_dir {
        let format = args.format.unwrap_or(Format::Blob);
        return super::compile_dir::run(Path::new(&args.profile), dir, format, &opts);
    }
    let compiled = match compile_any(&args.profile, args.input_format, args.filter.clone(), &opts) {
        Ok(c) => c,
        Err(e) => return report(e),
    };
    for w in &compiled.warnings {
        eprint!("{}", diagnostic::render_text(w));
    }
    let bytes = match render(&compiled, args.format.unwrap_or(Format::Disasm)) {
        Ok(b) => b,
        Err(code) => return code,
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

/// One compiled profile in `format`; errors are printed, the exit code returned.
pub fn render(compiled: &CompiledProfile, format: Format) -> Result<Vec<u8>, u8> {
    let exported = match format {
        Format::Oci => Some(export::oci(compiled)),
        Format::Kubelet => Some(export::kubelet(compiled)),
        Format::Spo => Some(export::spo(compiled)),
        Format::CrunAnnotation => Some(export::crun_annotation(compiled)),
        _ => None,
    };
    if let Some(e) = exported {
        return e.map(String::into_bytes).map_err(|e| {
            eprintln!(
                "rampart compile: cannot export profile `{}`: {e}",
                compiled.resolved.name
            );
            1
        });
    }
    Ok(match format {
        Format::Blob => match compiled.policy(None) {
            Ok(p) => rampart_enforce::blob::encode(&p),
            Err(e) => return Err(report(e)),
        },
        _ => {
            let (Some(filter), Some(ir)) = (&compiled.filter, &compiled.ir) else {
                eprintln!(
                    "rampart compile: the profile is unconfined (seccomp mode: unconfined): there is no filter to emit"
                );
                return Err(1);
            };
            match format {
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
    })
}
