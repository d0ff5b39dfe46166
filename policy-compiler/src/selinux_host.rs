//! Checking SELinux labels against the policy loaded on this host, through
//! libselinux (`security_check_context`). Behind the `selinux` cargo feature,
//! because building it needs libselinux's headers (Debian: libselinux1-dev and,
//! for the bindings, libclang-dev).
//!
//! A label can be well-formed (checked everywhere by [`crate::selinux`]) and
//! still name a type, role or category the host's policy does not have: the
//! kernel would then refuse the `execve` with `EACCES`, after every other step.
//! Where SELinux is running, such a label is a compile error instead. Where it is
//! not, nothing can be checked and the enforcer's `required` setting decides.

use crate::diagnostic::Diagnostic;
use crate::source::Location;

/// What the loaded policy says of a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// SELinux is not running here: there is no policy to check against.
    NotRunning,
    Valid,
    Invalid,
}

/// Asks the host's loaded policy about `context` (`user:role:type[:level]`).
pub fn check(context: &str) -> Verdict {
    let Ok(c) = std::ffi::CString::new(context) else {
        // A NUL cannot be in a label that parsed; treat it as unknown to the policy.
        return Verdict::Invalid;
    };
    match selinux::SecurityContext::from_c_str(&c, false).check() {
        None => Verdict::NotRunning,
        Some(true) => Verdict::Valid,
        Some(false) => Verdict::Invalid,
    }
}

/// The diagnostic for `context` (the process or mount label, `what`), if the
/// verdict refuses it.
pub fn diagnose(verdict: Verdict, what: &str, context: &str, at: Location) -> Option<Diagnostic> {
    (verdict == Verdict::Invalid).then(|| {
        Diagnostic::error(
            "selinux-label-not-in-policy",
            format!("the {what} `{context}` is not valid in this host's loaded SELinux policy"),
            at,
        )
        .with_help(
            "use a user, role, type and categories the policy defines (`seinfo -t`, `seinfo -r`), or load the policy module that defines them",
        )
    })
}

/// Checks the process label and the mount label of a profile's `selinux`
/// section against the host's policy.
pub fn check_labels(
    process: &str,
    mount: Option<&str>,
    s: &crate::profile::Selinux,
) -> Result<(), Vec<Diagnostic>> {
    let process_at = s.label.as_ref().map_or(s.loc.clone(), |l| l.loc.clone());
    let mount_at = s
        .mount_label
        .as_ref()
        .map_or(s.loc.clone(), |l| l.loc.clone());
    let diags: Vec<Diagnostic> = [("process label", Some(process), process_at)]
        .into_iter()
        .chain([("mount label", mount, mount_at)])
        .filter_map(|(what, ctx, at)| {
            let ctx = ctx?;
            diagnose(check(ctx), what, ctx, at)
        })
        .collect();
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn at() -> Location {
        let f = SourceFile::new("p.yaml", "selinux: {type: nope_t}\n");
        Location::new(&f, 10..16)
    }

    #[test]
    fn only_an_invalid_verdict_is_an_error() {
        let ctx = "system_u:system_r:nope_t:s0";
        assert!(diagnose(Verdict::NotRunning, "process label", ctx, at()).is_none());
        assert!(diagnose(Verdict::Valid, "process label", ctx, at()).is_none());
        let d = diagnose(Verdict::Invalid, "process label", ctx, at()).unwrap();
        assert!(d.is_error());
        assert_eq!(d.code, "selinux-label-not-in-policy");
        assert!(d.message.contains(ctx), "{}", d.message);
    }

    #[test]
    fn this_host_runs_no_selinux_so_nothing_is_refused() {
        // The machines rampart's CI runs on have no SELinux (no selinuxfs): the
        // library must say so rather than call every label invalid.
        let running = std::path::Path::new("/sys/fs/selinux/enforce").exists();
        let v = check("system_u:system_r:surely_not_a_type_t:s0");
        if running {
            assert_eq!(v, Verdict::Invalid);
        } else {
            assert_eq!(v, Verdict::NotRunning);
        }
    }
}
