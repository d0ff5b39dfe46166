//! `rampart groups [NAME]`: what the `@group` names stand for.

use rampart::groups::GroupSet;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A group (`@system-service` or `system-service`); without it, list all groups.
    name: Option<String>,
}

pub fn run(args: Args) -> u8 {
    let set = GroupSet::builtin();
    match args.name {
        None => {
            for g in set.groups() {
                let aliases: Vec<String> =
                    g.aliases.iter().map(|a| format!("@{}", a.value)).collect();
                let n = set.expand(&g.name.value).map(|v| v.len()).unwrap_or(0);
                super::out(format!(
                    "@{:<24} {:>4} syscalls  {}{}",
                    g.name.value,
                    n,
                    g.description,
                    if aliases.is_empty() {
                        String::new()
                    } else {
                        format!(" (aliases: {})", aliases.join(", "))
                    }
                ));
            }
            0
        }
        Some(name) => match set.expand(&name) {
            Ok(list) => {
                for s in list {
                    super::out(&s.value);
                }
                0
            }
            Err(e) => {
                let at = rampart::source::Location::new(
                    &rampart::source::SourceFile::new("<command line>", name.clone()),
                    0..name.len(),
                );
                eprint!(
                    "{}",
                    rampart::diagnostic::render_text(&rampart::groups::expand_error(&e, at))
                );
                2
            }
        },
    }
}
