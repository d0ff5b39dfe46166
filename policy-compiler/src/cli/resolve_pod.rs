//! `rampart resolve --pod POD.yaml`: each container's effective profile and why.
//!
//! Exit codes: 0 resolved (and no Pod Security Standards violation when
//! `--pss` is given), 1 errors in the pod or PSS violations, 2 usage or
//! unreadable input.

use std::path::PathBuf;

use rampart::diagnostic::{self, render_text};
use rampart::kube::{self, KubeOptions};
use rampart::lint::Pss;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PssLevel {
    Baseline,
    Restricted,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod manifest (YAML or JSON; a Deployment, Job, … uses its pod template).
    #[arg(long, value_name = "POD.yaml")]
    pod: PathBuf,
    /// Only this container.
    #[arg(long, value_name = "NAME")]
    container: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// The node default, for containers nothing else decides.
    #[arg(long, value_name = "REF", default_value = "default")]
    default_profile: String,
    /// The kubelet's seccomp directory, where Localhost profiles live.
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// Report Pod Security Standards violations at this level.
    #[arg(long, value_enum)]
    pss: Option<PssLevel>,
}

pub fn run(args: Args) -> u8 {
    let text = match std::fs::read_to_string(&args.pod) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.pod.display());
            return 2;
        }
    };
    let name = args.pod.display().to_string();
    let opts = KubeOptions {
        source_name: name.clone(),
        default_profile: args.default_profile,
        profiles_dir: args.profiles_dir,
    };
    let resolved = match kube::resolve(&text, args.container.as_deref(), &opts) {
        Ok(r) => r,
        Err(mut d) => {
            diagnostic::sort(&mut d);
            for x in &d {
                eprint!("{}", render_text(x));
            }
            return 1;
        }
    };
    let pss = args.pss.map(|l| match l {
        PssLevel::Baseline => Pss::Baseline,
        PssLevel::Restricted => Pss::Restricted,
    });
    let violations = match pss {
        Some(level) => match kube::parse_pod(&text, &name) {
            Ok(pod) => kube::pss_violations(&pod, level),
            Err(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    for r in &resolved {
        for w in &r.warnings {
            eprint!("{}", render_text(w));
        }
    }
    match args.format {
        OutputFormat::Json => {
            let containers: Vec<_> = resolved
                .iter()
                .map(|r| {
                    json!({
                        "container": r.container,
                        "init": r.init,
                        "reference": r.reference,
                        "why": r.why,
                        "profileYaml": r.profile_yaml,
                    })
                })
                .collect();
            let mut doc = json!({ "pod": name, "containers": containers });
            if let Some(level) = pss {
                doc["pss"] = json!({
                    "level": if level == Pss::Baseline { "baseline" } else { "restricted" },
                    "violations": violations,
                    "message": (!violations.is_empty()).then(|| kube::pss_message(level, &violations)),
                });
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        OutputFormat::Text => {
            for r in &resolved {
                println!(
                    "{}container {}: {}",
                    if r.init { "init " } else { "" },
                    r.container,
                    r.reference
                );
                for w in &r.why {
                    println!("  {:<16} {:<40} ← {}", w.part, w.value, w.source);
                }
            }
            if let Some(level) = pss {
                if violations.is_empty() {
                    println!("PodSecurity {level:?}: no violations");
                } else {
                    println!("{}", kube::pss_message(level, &violations));
                }
            }
        }
    }
    if violations.is_empty() { 0 } else { 1 }
}
