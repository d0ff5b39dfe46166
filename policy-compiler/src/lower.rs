//! Lowering of the non-seccomp mechanisms: the effective profile's
//! capabilities, credentials, no_new_privs, SELinux label and Landlock rules
//! become the enforcer's typed, validated [`CompiledPolicy`] parts.

use rampart_enforce::policy::{
    self as ep, CapSets as EnfCaps, CompiledPolicy, LandlockSpec, LandlockSpecParts, PathRule,
    Scopes, SeccompSpec, SelinuxSpec, UserSpec, fs_access,
};

use crate::diagnostic::Diagnostic;
use crate::profile::{Compatibility, Landlock, Selinux};
use crate::resolve::Resolved;
use crate::selinux::{Label, LabelSpec, LevelSpec};

/// Every filesystem right this build knows (Landlock ABI 1-5).
pub const FS_ALL: u64 =
    fs_access::ABI1_ALL | fs_access::REFER | fs_access::TRUNCATE | fs_access::IOCTL_DEV;

/// The Landlock rights an access name in a profile stands for.
pub fn access_bits(name: &str) -> Option<u64> {
    use fs_access::*;
    Some(match name {
        "read" => READ_FILE | READ_DIR,
        "write" => WRITE_FILE | TRUNCATE,
        "execute" => EXECUTE,
        "readFile" => READ_FILE,
        "writeFile" => WRITE_FILE,
        "readDir" => READ_DIR,
        "removeDir" => REMOVE_DIR,
        "removeFile" => REMOVE_FILE,
        "remove" => REMOVE_DIR | REMOVE_FILE,
        "makeChar" => MAKE_CHAR,
        "makeDir" => MAKE_DIR,
        "makeReg" => MAKE_REG,
        "makeSock" => MAKE_SOCK,
        "makeFifo" => MAKE_FIFO,
        "makeBlock" => MAKE_BLOCK,
        "makeSym" => MAKE_SYM,
        "make" => MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM,
        "refer" => REFER,
        "truncate" => TRUNCATE,
        "ioctlDev" => IOCTL_DEV,
        "all" => FS_ALL,
        _ => return None,
    })
}

/// The Landlock ruleset spec: paths are opened by the enforcer when it
/// applies the ruleset (after mounts), never here.
pub fn landlock_spec(l: &Landlock) -> Result<LandlockSpec, Box<Diagnostic>> {
    let mut paths = Vec::new();
    for p in &l.paths {
        let bits = p
            .access
            .iter()
            .filter_map(|a| access_bits(&a.value))
            .fold(0, |m, b| m | b);
        let rule = PathRule::new(p.path.value.clone(), bits).map_err(|e| {
            Box::new(Diagnostic::error(
                "landlock-invalid",
                e.to_string(),
                p.path.loc.clone(),
            ))
        })?;
        paths.push(rule);
    }
    let scopes = Scopes {
        abstract_unix: l.scopes.iter().any(|s| s.value == "abstractUnixSocket"),
        signal: l.scopes.iter().any(|s| s.value == "signal"),
    };
    let compatibility = match l.compatibility.as_ref().map(|c| c.value) {
        Some(Compatibility::BestEffort) => ep::Compatibility::BestEffort,
        _ => ep::Compatibility::Required,
    };
    let ports = |v: &Option<Vec<crate::source::Spanned<u16>>>| {
        v.as_ref()
            .map(|p| p.iter().map(|s| s.value).collect())
            .unwrap_or_default()
    };
    LandlockSpec::new(LandlockSpecParts {
        compatibility,
        handled_fs: if l.restrict_fs { FS_ALL } else { 0 },
        handle_bind_tcp: l.bind_tcp.is_some(),
        handle_connect_tcp: l.connect_tcp.is_some(),
        paths,
        bind_tcp: ports(&l.bind_tcp),
        connect_tcp: ports(&l.connect_tcp),
        scopes,
    })
    .map_err(|e| {
        Box::new(Diagnostic::error(
            "landlock-invalid",
            e.to_string(),
            l.loc.clone(),
        ))
    })
}

/// The label spec of a `selinux` section: a full label, or components with
/// container defaults (`system_u:system_r:container_t:s0`).
pub fn label_spec(s: &Selinux) -> Result<LabelSpec, Box<Diagnostic>> {
    let err = |e: crate::selinux::LabelError| {
        Box::new(Diagnostic::error(
            "selinux-label-syntax",
            format!("invalid SELinux label: {}", e.message),
            s.loc.clone(),
        ))
    };
    if let Some(l) = &s.label {
        let label = Label::parse(&l.value).map_err(err)?;
        let level = label.level().map(|x| x.to_string());
        return LabelSpec::from_components(
            label.user().as_str(),
            label.role().as_str(),
            label.type_().as_str(),
            level.as_deref(),
        )
        .map_err(err);
    }
    let v = |x: &Option<crate::source::Spanned<String>>, d: &'static str| {
        x.as_ref().map_or(d.to_string(), |s| s.value.clone())
    };
    LabelSpec::from_components(
        &v(&s.user, "system_u"),
        &v(&s.role, "system_r"),
        &v(&s.type_, "container_t"),
        Some(&v(&s.level, "s0")),
    )
    .map_err(err)
}

/// Whether the profile's SELinux level is allocated per pod (`level: auto`).
pub fn wants_mcs(r: &Resolved) -> bool {
    r.selinux
        .as_ref()
        .and_then(|s| label_spec(s).ok())
        .is_some_and(|l| matches!(l.level(), Some(LevelSpec::Auto)))
}

/// Builds the enforcer's policy. `allocated_label` is the label `rampart run`
/// resolved for this pod when the profile says `level: auto`.
pub fn build_policy(
    r: &Resolved,
    seccomp: Option<SeccompSpec>,
    allocated_label: Option<&Label>,
) -> Result<CompiledPolicy, Vec<Diagnostic>> {
    let at = r.chain.first().map(|p| p.loc.clone());
    let internal = |what: &str, e: ep::PolicyError| {
        let loc = at.clone().expect("a resolved profile has a file");
        vec![Diagnostic::error(
            "policy-invalid",
            format!("{what}: {e}"),
            loc,
        )]
    };
    let c = r.caps;
    let caps = EnfCaps::new(
        c.bounding.0,
        c.permitted.0,
        c.effective.0,
        c.inheritable.0,
        c.ambient.0,
    )
    .map_err(|e| internal("capabilities", e))?;
    let mut b = CompiledPolicy::builder()
        .caps(caps)
        .no_new_privs(r.no_new_privs.value);
    if let Some(s) = seccomp {
        b = b.seccomp(s);
    }
    if let Some(u) = &r.user {
        b = b.user(UserSpec::new(u.uid, u.gid, u.groups.clone()).map_err(|e| internal("user", e))?);
    }
    if let Some(s) = &r.selinux {
        let spec = label_spec(s).map_err(|d| vec![*d])?;
        let label = match (spec.fixed(), allocated_label) {
            (Some(l), _) => l.to_string(),
            (None, Some(l)) => l.to_string(),
            (None, None) => {
                let loc = s.level.as_ref().map_or(s.loc.clone(), |l| l.loc.clone());
                return Err(vec![Diagnostic::error(
                    "selinux-level-auto",
                    "`level: auto` is allocated per pod when the app starts",
                    loc,
                )
                .with_help("use `rampart run`, which allocates a unique MCS pair, or give a fixed level such as `s0:c1,c2`")]);
            }
        };
        // With `level: auto` the pod's files must carry the pod's MCS pair too:
        // a mount label without a level gets it, and without a mount label the
        // container-selinux convention (`container_file_t`) applies.
        let mount = match (
            s.mount_label.as_ref(),
            allocated_label.and_then(|l| l.level()),
        ) {
            (Some(m), Some(level)) if m.value.split(':').count() == 3 => {
                Some(format!("{}:{level}", m.value))
            }
            (Some(m), _) => Some(m.value.clone()),
            (None, Some(level)) => Some(format!("system_u:object_r:container_file_t:{level}")),
            (None, None) => None,
        };
        #[cfg(feature = "selinux")]
        crate::selinux_host::check_labels(&label, mount.as_deref(), s)?;
        let required = s.required.as_ref().is_none_or(|r| r.value);
        b = b
            .selinux(SelinuxSpec::new(label, mount, required).map_err(|e| internal("selinux", e))?);
    }
    if let Some(l) = &r.landlock {
        b = b.landlock(landlock_spec(l).map_err(|d| vec![*d])?);
    }
    b.build().map_err(|e| internal("policy", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::{self, Options};
    use crate::source::SourceFile;

    fn resolved(body: &str) -> Resolved {
        let f = SourceFile::new(
            "p.yaml",
            format!("apiVersion: rampart.dev/v1\nkind: SecurityProfile\n{body}"),
        );
        let (chain, d) = resolve::load_chain_from(f, &Options::host());
        assert!(d.is_empty(), "{d:?}");
        resolve::resolve_chain(chain, &Options::host()).0
    }

    #[test]
    fn auto_levels_reach_the_process_and_the_mount_label() {
        let r = resolved("selinux: {type: container_t, level: auto, required: false}\n");
        assert!(wants_mcs(&r));
        assert!(
            build_policy(&r, None, None).is_err(),
            "auto needs an allocation"
        );
        let l = Label::parse("system_u:system_r:container_t:s0:c1,c2").unwrap();
        let p = build_policy(&r, None, Some(&l)).unwrap();
        let s = p.selinux().unwrap();
        assert_eq!(s.process_label(), "system_u:system_r:container_t:s0:c1,c2");
        assert_eq!(
            s.mount_label(),
            Some("system_u:object_r:container_file_t:s0:c1,c2")
        );
        let r = resolved(
            "selinux: {type: container_t, level: auto, mountLabel: \"system_u:object_r:my_file_t\"}\n",
        );
        let p = build_policy(&r, None, Some(&l)).unwrap();
        assert_eq!(
            p.selinux().unwrap().mount_label(),
            Some("system_u:object_r:my_file_t:s0:c1,c2")
        );
        assert!(p.selinux().unwrap().required(), "required by default");
    }

    #[test]
    fn landlock_names_map_to_rights() {
        let r = resolved(
            "landlock: {paths: [{path: /usr, access: [read, execute]}], net: {connectTcp: [443]}}\n",
        );
        let p = build_policy(&r, None, None).unwrap();
        let l = p.landlock().unwrap();
        assert_eq!(l.handled_fs(), FS_ALL);
        assert_eq!(
            l.paths()[0].access(),
            fs_access::READ_FILE | fs_access::READ_DIR | fs_access::EXECUTE
        );
        assert!(l.handle_connect_tcp() && !l.handle_bind_tcp());
        assert_eq!(l.connect_tcp(), [443]);
    }
}
