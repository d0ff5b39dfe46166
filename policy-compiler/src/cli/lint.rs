//! `rampart lint [--format text|json|sarif|github] [--strict] [--pss LEVEL] PATH...`

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use rampart::diagnostic::{self, Diagnostic, Severity};
use rampart::lint::{self, Pss};
use rampart::resolve::Options;
use rampart::source::SourceFile;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Github,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PssLevel {
    Baseline,
    Restricted,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    strict: bool,
    /// Also check a Pod Security Standards level.
    #[arg(long, value_enum)]
    pss: Option<PssLevel>,
    /// Where `localhost/` references resolve.
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// Check the filter for these architectures instead of the profile's.
    #[arg(long, value_name = "ARCH[,ARCH…]", value_parser = super::parse_arches)]
    arch: Option<super::ArchList>,
    /// Profile files or directories (searched for *.yaml and *.yml).
    /// The files' format when they are not rampart YAML (default: detected per file;
    /// OCI, Docker, SPO, appc and seccompiler files are converted, then linted).
    #[arg(long, value_enum, value_name = "FORMAT")]
    input_format: Option<rampart::import::Format>,
    /// For files holding several seccompiler filters: which one.
    #[arg(long, value_name = "NAME")]
    filter: Option<String>,
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            if e.is_dir() {
                collect(&e, out)?;
            } else if e.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(e);
            }
        }
        Ok(())
    } else {
        std::fs::metadata(path)?;
        out.push(path.to_path_buf());
        Ok(())
    }
}

/// A foreign file: the import's own findings (at the original file), then the
/// lint of the profile it converts to (`FILE.yaml`, as `rampart convert` writes it).
fn lint_foreign(
    fmt: rampart::import::Format,
    path: &Path,
    name: String,
    text: &str,
    filter: Option<String>,
    opts: &Options,
    pss: Option<Pss>,
) -> Vec<Diagnostic> {
    let iopts = rampart::import::ImportOptions {
        source_name: name.clone(),
        filter,
        base_dir: path.parent().map(Path::to_path_buf),
        ..Default::default()
    };
    match rampart::import::load(fmt, text, &iopts) {
        Err(diags) => diags,
        Ok(imported) => {
            let converted = imported.source_file(format!("{name}.yaml"));
            let mut diags = imported.warnings;
            diags.extend(lint::lint_file(&converted, opts, pss));
            diags
        }
    }
}

pub fn run(args: Args) -> u8 {
    let mut files = Vec::new();
    for p in &args.paths {
        if let Err(e) = collect(p, &mut files) {
            eprintln!("rampart lint: cannot read {}: {e}", p.display());
            return 2;
        }
    }
    let mut opts = Options::host();
    opts.profiles_dir = args.profiles_dir.clone();
    opts.arches = args.arch.clone().map(|a| a.0);
    let pss = args.pss.map(|p| match p {
        PssLevel::Baseline => Pss::Baseline,
        PssLevel::Restricted => Pss::Restricted,
    });
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut seen = HashSet::new();
    for f in &files {
        let text = match std::fs::read(f) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    eprintln!("rampart lint: {} is not UTF-8 text", f.display());
                    return 2;
                }
            },
            Err(e) => {
                eprintln!("rampart lint: cannot read {}: {e}", f.display());
                return 2;
            }
        };
        let name = f.display().to_string();
        let found = match args.input_format.or_else(|| rampart::import::detect(&text)) {
            None => lint::lint_file(&SourceFile::new(name, text), &opts, pss),
            Some(fmt) => lint_foreign(fmt, f, name, &text, args.filter.clone(), &opts, pss),
        };
        for d in found {
            // A parent profile linted through several children reports once.
            if seen.insert((
                d.primary.file.name.clone(),
                d.primary.range.clone(),
                d.code,
                d.message.clone(),
            )) {
                diags.push(d);
            }
        }
    }
    diagnostic::sort(&mut diags);
    match args.format {
        Format::Text => {
            for d in &diags {
                super::out(diagnostic::render_text(d));
            }
        }
        Format::Json => {
            let v: Vec<_> = diags.iter().map(diagnostic::to_json).collect();
            super::out(serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Format::Sarif => {
            super::out(
                serde_json::to_string_pretty(&diagnostic::to_sarif(&diags, &lint::all_codes()))
                    .unwrap_or_default(),
            );
        }
        Format::Github => {
            for d in &diags {
                super::out(diagnostic::render_github(d));
            }
        }
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    if matches!(args.format, Format::Text) {
        eprintln!(
            "{} file(s) checked: {errors} error(s), {warnings} warning(s)",
            files.len()
        );
    }
    if errors > 0 || (args.strict && warnings > 0) {
        1
    } else {
        0
    }
}
