//! `rampart convert --from FORMAT FILE`: a foreign profile as rampart YAML.
//!
//! Exit codes: 0 converted (warnings on stderr), 1 the input has errors,
//! 2 usage or unreadable input.

use std::path::PathBuf;

use rampart::arch::Arch;
use rampart::diagnostic::{self, render_text};
use rampart::import::{self, Format, ImportOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The input's format; guessed from its content when omitted.
    #[arg(long, value_enum)]
    from: Option<Format>,
    /// The file to convert (`-` for standard input).
    file: PathBuf,
    /// Which filter (seccompiler), SeccompProfile (`metadata.name`, SPO) or
    /// app (appc pod manifest) to convert when the file holds several.
    #[arg(long, value_name = "NAME")]
    filter: Option<String>,
    /// Where SPO `baseProfileName` resources are found (`DIR/NAME.yaml`);
    /// default: the input's directory.
    #[arg(long, value_name = "DIR")]
    base_dir: Option<PathBuf>,
    /// The architecture of a seccompiler filter (default: from the file name).
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// Write the profile here instead of standard output.
    #[arg(short, long, value_name = "OUT.yaml")]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> u8 {
    let (name, text) = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            eprintln!("error: cannot read standard input: {e}");
            return 2;
        }
        ("<stdin>".to_string(), s)
    } else {
        match std::fs::read_to_string(&args.file) {
            Ok(t) => (args.file.display().to_string(), t),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", args.file.display());
                return 2;
            }
        }
    };
    let Some(format) = args.from.or_else(|| import::detect(&text)) else {
        eprintln!(
            "error: cannot tell the format of {name}; pass --from oci|docker|spo|appc|seccompiler"
        );
        return 2;
    };
    let arch = match args.arch.as_deref().map(|a| (a, Arch::from_name(a))) {
        None => None,
        Some((_, Some(a))) => Some(a),
        Some((a, None)) => {
            eprintln!("error: unknown architecture `{a}`");
            return 2;
        }
    };
    let opts = ImportOptions {
        source_name: name,
        filter: args.filter,
        base_dir: args.base_dir,
        arch,
    };
    match import::load(format, &text, &opts) {
        Ok(imported) => {
            let mut w = imported.warnings.clone();
            diagnostic::sort(&mut w);
            for d in &w {
                eprint!("{}", render_text(d));
            }
            match &args.output {
                Some(p) => {
                    if let Err(e) = std::fs::write(p, &imported.yaml) {
                        eprintln!("error: cannot write {}: {e}", p.display());
                        return 2;
                    }
                }
                None => print!("{}", imported.yaml),
            }
            0
        }
        Err(mut diags) => {
            diagnostic::sort(&mut diags);
            for d in &diags {
                eprint!("{}", render_text(d));
            }
            1
        }
    }
}
