//! The apply sequence: what `rampart-enforce` does to its own process between
//! decoding the policy and `execve`, in the order of `docs/enforcer-order.md`.
//!
//! [`apply`] is one linear function. Its two variants differ in one place only:
//!
//! * **no_new_privs on** (default): … → label → NNP → credentials → Landlock →
//!   path checks → seccomp → execve. seccomp is last, so nothing but `execve` runs
//!   under the filter.
//! * **no_new_privs off** (setuid binaries keep working): … → label → Landlock →
//!   path checks → seccomp → credentials → execve. Without NNP the kernel accepts a
//!   filter (and a Landlock domain) only while `CAP_SYS_ADMIN` is held, so both go
//!   in *before* the credential change (pitfall 2); the filter must then allow
//!   `setgroups`, `setres[ug]id`, `capset`, `prctl` and `execve`.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use landlock::RulesetStatus;

use crate::error::{
    ApplyError, CredError, ExecError, LabelError, LandlockError, ProcessError, SeccompError,
    UnavailableError, UsernsError,
};
use crate::policy::{Compatibility, CompiledPolicy};
use crate::report::{Report, Status, Step};
use crate::sys::{Features, Kernel, PrctlFlag, PreparedExec, Probe};

/// Per-run inputs that are not part of the policy.
#[derive(Debug)]
pub struct ApplyOptions<'a> {
    /// `--userns-sync-fd`: become root in a new user namespace the launcher maps.
    pub userns_sync_fd: Option<RawFd>,
    /// `--cwd`: the program's working directory (entered safely), if not inherited.
    pub cwd: Option<&'a CStr>,
    /// The program, resolved through PATH, with argv and envp.
    pub exec: &'a PreparedExec,
}

fn process(step: Step) -> impl FnOnce(io::Error) -> ProcessError {
    move |source| ProcessError::Sys { step, source }
}
fn userns(step: Step) -> impl FnOnce(io::Error) -> UsernsError {
    move |source| UsernsError::Sys { step, source }
}
fn label(step: Step) -> impl FnOnce(io::Error) -> LabelError {
    move |source| LabelError::Sys { step, source }
}
fn cred(step: Step) -> impl FnOnce(io::Error) -> CredError {
    move |source| CredError::Sys { step, source }
}
fn exec(step: Step) -> impl FnOnce(io::Error) -> ExecError {
    move |source| ExecError::Sys { step, source }
}

/// Applies `policy` to the calling process and executes the program.
///
/// On Linux this returns only on failure (the error names the step); the caller
/// reports it and exits without running the program. A fake [`Kernel`] returns
/// `Ok(())` when it reaches `execve`.
pub fn apply(
    k: &mut dyn Kernel,
    policy: &CompiledPolicy,
    opts: &ApplyOptions<'_>,
    report: &mut Report,
) -> Result<(), ApplyError> {
    // 0. One thread only: setresuid (raw), capset, the attr/exec write, Landlock and
    //    seccomp without TSYNC affect the calling thread alone; a second thread would
    //    keep the old privileges.
    let threads = k.thread_count().map_err(process(Step::SingleThread))?;
    if threads != 1 {
        return Err(ProcessError::MultiThreaded {
            step: Step::SingleThread,
            count: threads,
        }
        .into());
    }
    report.applied(Step::SingleThread);

    // 1. Sanitize. Not dumpable: the launcher's user cannot ptrace us or open our
    //    /proc/<pid>/* while we still hold privileges (CVE-2016-9962).
    k.prctl_flag(PrctlFlag::Dumpable, false)
        .map_err(process(Step::Dumpable))?;
    report.applied(Step::Dumpable);
    //    Every inherited fd ≥ 3 not on the keep list becomes close-on-exec, so no host
    //    fd reaches the program (runc ee73091a8, CVE-2024-21626); SIGPIPE back to
    //    SIG_DFL and no blocked signals, as a freshly started program expects.
    k.sanitize_inherited(policy.keep_fds())
        .map_err(process(Step::SanitizeInherited))?;
    report.applied(Step::SanitizeInherited);
    //    A private procfs handle, checked to be procfs, for every later /proc write:
    //    a /proc that is really a tmpfs or a bind mount must never receive the label
    //    (CVE-2019-16884, CVE-2025-52881). The label is the only such write.
    if policy.selinux().is_some() {
        k.open_procfs().map_err(process(Step::Procfs))?;
        report.applied(Step::Procfs);
    } else {
        report.skipped(
            Step::Procfs,
            "nothing to write to /proc: the policy sets no SELinux label",
        );
    }
    //    Preflight: refuse now, before anything irreversible, if a mechanism the
    //    policy marks required does not exist on this host.
    //    Only the mechanisms the policy uses are looked for (each probe is a syscall
    //    or two); the others read as absent, and nothing below asks about them.
    let probe = Probe {
        selinux: policy.selinux().is_some(),
        landlock: policy.landlock().is_some(),
        seccomp: policy.seccomp().is_some(),
    };
    let features = k.features(probe).map_err(process(Step::Preflight))?;
    let missing = |mechanism, reason: String| UnavailableError::Missing {
        step: Step::Preflight,
        mechanism,
        reason,
    };
    if let Some(s) = policy
        .selinux()
        .filter(|s| s.required() && !features.selinux)
    {
        let r = format!(
            "SELinux is not enabled on this host (label {})",
            s.process_label()
        );
        return Err(missing("an SELinux label", r).into());
    }
    if let Some(l) = policy.landlock().filter(|l| {
        l.compatibility() == Compatibility::Required && features.landlock_abi < l.min_abi()
    }) {
        let r = format!(
            "the kernel offers Landlock ABI {} and the ruleset needs ABI {} (missing: {})",
            features.landlock_abi,
            l.min_abi(),
            l.unsupported_on(features.landlock_abi).join(", ")
        );
        return Err(missing("Landlock", r).into());
    }
    if policy.seccomp().is_some_and(|s| s.required) && !features.seccomp {
        return Err(missing("seccomp", "the kernel has no seccomp filtering".into()).into());
    }
    report.applied(Step::Preflight);

    // 2. User namespace, child side: unshare alone, tell the launcher, wait while it
    //    writes our uid/gid maps, then become root inside. Before NNP, which would
    //    strip the launcher's setuid newuidmap/newgidmap helpers of their power.
    if let Some(fd) = opts.userns_sync_fd {
        k.unshare_userns().map_err(userns(Step::UsernsUnshare))?;
        report.applied(Step::UsernsUnshare);
        //    The launcher writes our maps through /proc/<pid>/, whose files belong
        //    to root while we are not dumpable: an unprivileged launcher could not
        //    write them. Until the maps exist we hold nothing the launcher's user
        //    did not already have, so dumpable is on only for the handshake.
        k.prctl_flag(PrctlFlag::Dumpable, true)
            .map_err(userns(Step::UsernsSync))?;
        k.sync_exchange(fd).map_err(userns(Step::UsernsSync))?;
        k.prctl_flag(PrctlFlag::Dumpable, false)
            .map_err(userns(Step::UsernsSync))?;
        report.applied(Step::UsernsSync);
        k.setresgid(0).map_err(userns(Step::UsernsRoot))?;
        k.setresuid(0).map_err(userns(Step::UsernsRoot))?;
        report.applied(Step::UsernsRoot);
    }

    // 3. Work later layers would block: personality before seccomp, whose profile
    //    usually denies personality(2) (runc PR #4900, pitfall 9); Landlock rule
    //    paths opened while we can still reach every one of them.
    match policy.personality() {
        Some(p) => {
            k.set_personality(p).map_err(label(Step::Personality))?;
            report.applied(Step::Personality);
        }
        None => report.skipped(Step::Personality, "the policy sets no personality"),
    }
    if let Some(l) = policy.landlock() {
        k.landlock_prepare(l).map_err(|source| LandlockError::Sys {
            step: Step::LandlockPrepare,
            source,
        })?;
        report.applied(Step::LandlockPrepare);
    }

    // 4. SELinux exec label, through the private procfs, per thread
    //    (thread-self; runc PR #1814). The path is verified even when SELinux is
    //    off, so a bind mount over attr/exec is an error, never a silent unlabeled
    //    run. Required-but-absent already failed in preflight.
    match policy.selinux() {
        Some(s) => {
            k.exec_label(None).map_err(label(Step::SelinuxLabel))?;
            if features.selinux {
                k.exec_label(Some(s.process_label()))
                    .map_err(label(Step::SelinuxLabel))?;
                report.applied(Step::SelinuxLabel);
            } else {
                report.push(
                    Step::SelinuxLabel,
                    Status::NotApplied,
                    Some("SELinux is not enabled on this host; the policy marks the label best-effort".into()),
                    vec![format!("label:{}", s.process_label())],
                );
            }
        }
        None => report.skipped(Step::SelinuxLabel, "the policy sets no SELinux label"),
    }

    if policy.no_new_privs() {
        // 5. NNP: from here no exec can gain privilege; Landlock and seccomp need it
        //    once CAP_SYS_ADMIN is gone. It does not affect setuid or capset below.
        k.prctl_flag(PrctlFlag::NoNewPrivs, true)
            .map_err(cred(Step::NoNewPrivs))?;
        report.applied(Step::NoNewPrivs);
        // 6. Credentials, while we still hold CAP_SETPCAP/SETUID/SETGID.
        credentials(k, policy, report)?;
        // 7-9. Landlock, path checks, then seccomp last.
        confine(k, policy, opts, features, report, &[Step::Execve])?;
    } else {
        report.skipped(
            Step::NoNewPrivs,
            "the policy keeps setuid binaries working (no_new_privs off)",
        );
        // 7-9 first: without NNP, Landlock and seccomp need CAP_SYS_ADMIN, which the
        // credential change would drop (pitfall 2).
        confine(
            k,
            policy,
            opts,
            features,
            report,
            &[Step::Credentials, Step::Execve],
        )?;
        // 6. Credentials, now under the filter (which must allow these calls).
        credentials(k, policy, report)?;
    }

    // 10. execve. After seccomp nothing else ran; on failure the caller reports.
    k.execve(opts.exec).map_err(exec(Step::Execve))?;
    Ok(())
}

/// Step 6: bounding set → KEEPCAPS 1 → setgroups → setresgid → setresuid →
/// KEEPCAPS 0 → one capset → ambient. The bounding drop needs CAP_SETPCAP, so it
/// comes before the uid change; KEEPCAPS keeps permitted across a root→non-root
/// change; ambient is raised last because it needs the cap in permitted AND
/// inheritable, and a root→non-root change clears it even with KEEPCAPS.
fn credentials(
    k: &mut dyn Kernel,
    policy: &CompiledPolicy,
    report: &mut Report,
) -> Result<(), CredError> {
    let caps = policy.caps();
    if let Some(c) = caps {
        k.drop_bounding(c.bounding())
            .map_err(cred(Step::CapBounding))?;
        report.applied(Step::CapBounding);
    }
    match policy.user() {
        Some(u) => {
            if caps.is_some() {
                k.prctl_flag(PrctlFlag::KeepCaps, true)
                    .map_err(cred(Step::Keepcaps))?;
            }
            k.setgroups(u.groups()).map_err(cred(Step::Setgroups))?;
            report.applied(Step::Setgroups);
            k.setresgid(u.gid()).map_err(cred(Step::Setresgid))?;
            report.applied(Step::Setresgid);
            k.setresuid(u.uid()).map_err(cred(Step::Setresuid))?;
            report.applied(Step::Setresuid);
            if caps.is_some() {
                k.prctl_flag(PrctlFlag::KeepCaps, false)
                    .map_err(cred(Step::Keepcaps))?;
            }
        }
        None => report.skipped(Step::Setresuid, "the policy keeps the launcher's user"),
    }
    match caps {
        Some(c) => {
            k.capset(c.effective(), c.permitted(), c.inheritable())
                .map_err(cred(Step::Capset))?;
            report.applied(Step::Capset);
            // capset has just removed from the inherited ambient set every capability
            // outside permitted ∩ inheritable (capabilities(7): ambient ⊆ both, kept
            // by the kernel), so CLEAR_ALL is needed only if that intersection holds
            // one the policy does not raise. Not for the default sets (inheritable
            // empty): one `prctl`, with its credential copy, less per launch.
            let clear = c.permitted() & c.inheritable() & !c.ambient() != 0;
            k.set_ambient(c.ambient(), clear)
                .map_err(cred(Step::Ambient))?;
            report.applied(Step::Ambient);
        }
        None => report.skipped(Step::Capset, "the policy has no capability section"),
    }
    Ok(())
}

/// Steps 7-9: Landlock (after every /proc write, before seccomp whose policy may
/// deny the landlock syscalls), cwd/program path checks (CVE-2024-21626), seccomp.
/// The report is written right before the filter goes in: afterwards only the
/// `later` steps run, and nothing is written unless they fail.
fn confine(
    k: &mut dyn Kernel,
    policy: &CompiledPolicy,
    opts: &ApplyOptions<'_>,
    features: Features,
    report: &mut Report,
    later: &[Step],
) -> Result<(), ApplyError> {
    if let Some(l) = policy.landlock() {
        let status = k.landlock_restrict().map_err(|source| LandlockError::Sys {
            step: Step::Landlock,
            source,
        })?;
        let dropped = l.unsupported_on(features.landlock_abi);
        match (status, l.compatibility()) {
            (RulesetStatus::FullyEnforced, _) => report.applied(Step::Landlock),
            (s, Compatibility::Required) => {
                let status = if s == RulesetStatus::NotEnforced {
                    "not enforced"
                } else {
                    "partially enforced"
                };
                return Err(LandlockError::NotFullyEnforced {
                    step: Step::Landlock,
                    status,
                }
                .into());
            }
            (RulesetStatus::PartiallyEnforced, _) => {
                report.push(Step::Landlock, Status::PartiallyApplied, None, dropped)
            }
            (RulesetStatus::NotEnforced, _) => report.push(
                Step::Landlock,
                Status::NotApplied,
                Some(
                    "the kernel does not support Landlock; the policy marks it best-effort".into(),
                ),
                dropped,
            ),
        }
    } else {
        report.skipped(Step::Landlock, "the policy has no Landlock ruleset");
    }

    k.check_exec_paths(opts.cwd, opts.exec.path())
        .map_err(exec(Step::ExecPaths))?;
    report.applied(Step::ExecPaths);

    match policy.seccomp() {
        Some(s) if s.required || features.seccomp => {
            let detail = s.compat_gate_closed().then(|| {
                "compat gate closed for a 64-bit program: the i386 numbers are decided \
                 without the kernel's action cache"
                    .to_owned()
            });
            report.push(Step::Seccomp, Status::Pending, detail, Vec::new());
            for &st in later {
                report.pending(st);
            }
            report.flush();
            k.install_seccomp(s).map_err(|source| SeccompError::Sys {
                step: Step::Seccomp,
                source,
            })?;
            report.applied(Step::Seccomp);
        }
        Some(_) => {
            report.push(
                Step::Seccomp,
                Status::NotApplied,
                Some("the kernel has no seccomp; the policy marks the filter best-effort".into()),
                Vec::new(),
            );
            finish_report(report, later);
        }
        None => {
            report.skipped(Step::Seccomp, "the policy has no seccomp filter");
            finish_report(report, later);
        }
    }
    Ok(())
}

fn finish_report(report: &mut Report, later: &[Step]) {
    for &st in later {
        report.pending(st);
    }
    report.flush();
}
