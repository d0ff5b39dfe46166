//! A recording [`Kernel`] for unit tests (compiled only with `cfg(test)`): it
//! records every call and can fail the Nth one with an errno. Also holds the
//! apply-sequence tests.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use landlock::RulesetStatus;

use crate::policy::{LandlockSpec, SeccompSpec};
use crate::report::Step;
use crate::sys::{Features, Kernel, PrctlFlag, PreparedExec, Probe};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    ThreadCount,
    Prctl(PrctlFlag, bool),
    Sanitize(Vec<i32>),
    OpenProcfs,
    Features,
    UnshareUserns,
    SyncExchange(RawFd),
    Personality(u32),
    ExecLabel(Option<String>),
    DropBounding(u64),
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    Capset(u64, u64, u64),
    /// The ambient capabilities raised, and whether the inherited set is cleared first.
    Ambient(u64, bool),
    LandlockPrepare,
    LandlockRestrict,
    CheckExecPaths,
    InstallSeccomp,
    Execve,
}

impl Call {
    /// The step a failure of this call must be reported as (the test oracle).
    pub fn step(&self, index_in_userns: bool) -> Step {
        match self {
            Call::ThreadCount => Step::SingleThread,
            Call::Prctl(PrctlFlag::Dumpable, _) if index_in_userns => Step::UsernsSync,
            Call::Prctl(PrctlFlag::Dumpable, _) => Step::Dumpable,
            Call::Prctl(PrctlFlag::NoNewPrivs, _) => Step::NoNewPrivs,
            Call::Prctl(PrctlFlag::KeepCaps, _) => Step::Keepcaps,
            Call::Sanitize(_) => Step::SanitizeInherited,
            Call::OpenProcfs => Step::Procfs,
            Call::Features => Step::Preflight,
            Call::UnshareUserns => Step::UsernsUnshare,
            Call::SyncExchange(_) => Step::UsernsSync,
            Call::Personality(_) => Step::Personality,
            Call::ExecLabel(_) => Step::SelinuxLabel,
            Call::DropBounding(_) => Step::CapBounding,
            Call::Setgroups(_) => Step::Setgroups,
            Call::Setresgid(_) if index_in_userns => Step::UsernsRoot,
            Call::Setresuid(_) if index_in_userns => Step::UsernsRoot,
            Call::Setresgid(_) => Step::Setresgid,
            Call::Setresuid(_) => Step::Setresuid,
            Call::Capset(..) => Step::Capset,
            Call::Ambient(..) => Step::Ambient,
            Call::LandlockPrepare => Step::LandlockPrepare,
            Call::LandlockRestrict => Step::Landlock,
            Call::CheckExecPaths => Step::ExecPaths,
            Call::InstallSeccomp => Step::Seccomp,
            Call::Execve => Step::Execve,
        }
    }
}

#[derive(Debug)]
pub struct RecordingKernel {
    pub calls: Vec<Call>,
    /// Fail the call with this index (0-based) with this errno.
    pub fail_at: Option<(usize, i32)>,
    pub threads: usize,
    pub features: Features,
    /// What each `features` call asked to probe.
    pub probes: Vec<Probe>,
    pub landlock_status: RulesetStatus,
}

impl Default for RecordingKernel {
    fn default() -> Self {
        RecordingKernel {
            calls: Vec::new(),
            fail_at: None,
            threads: 1,
            features: Features {
                selinux: true,
                landlock_abi: 7,
                seccomp: true,
            },
            probes: Vec::new(),
            landlock_status: RulesetStatus::FullyEnforced,
        }
    }
}

impl RecordingKernel {
    fn enter(&mut self, call: Call) -> io::Result<()> {
        self.calls.push(call);
        match self.fail_at {
            Some((n, errno)) if n == self.calls.len() - 1 => {
                Err(io::Error::from_raw_os_error(errno))
            }
            _ => Ok(()),
        }
    }
}

impl Kernel for RecordingKernel {
    fn thread_count(&mut self) -> io::Result<usize> {
        self.enter(Call::ThreadCount).map(|_| self.threads)
    }
    fn prctl_flag(&mut self, flag: PrctlFlag, on: bool) -> io::Result<()> {
        self.enter(Call::Prctl(flag, on))
    }
    fn sanitize_inherited(&mut self, keep: &[i32]) -> io::Result<()> {
        self.enter(Call::Sanitize(keep.to_vec()))
    }
    fn open_procfs(&mut self) -> io::Result<()> {
        self.enter(Call::OpenProcfs)
    }
    fn features(&mut self, probe: Probe) -> io::Result<Features> {
        self.probes.push(probe);
        // Unprobed mechanisms read as absent, as on Linux.
        self.enter(Call::Features).map(|_| Features {
            selinux: probe.selinux && self.features.selinux,
            landlock_abi: if probe.landlock {
                self.features.landlock_abi
            } else {
                0
            },
            seccomp: probe.seccomp && self.features.seccomp,
        })
    }
    fn unshare_userns(&mut self) -> io::Result<()> {
        self.enter(Call::UnshareUserns)
    }
    fn sync_exchange(&mut self, fd: RawFd) -> io::Result<()> {
        self.enter(Call::SyncExchange(fd))
    }
    fn set_personality(&mut self, persona: u32) -> io::Result<()> {
        self.enter(Call::Personality(persona))
    }
    fn exec_label(&mut self, label: Option<&str>) -> io::Result<()> {
        self.enter(Call::ExecLabel(label.map(str::to_owned)))
    }
    fn drop_bounding(&mut self, keep: u64) -> io::Result<()> {
        self.enter(Call::DropBounding(keep))
    }
    fn setgroups(&mut self, groups: &[u32]) -> io::Result<()> {
        self.enter(Call::Setgroups(groups.to_vec()))
    }
    fn setresgid(&mut self, gid: u32) -> io::Result<()> {
        self.enter(Call::Setresgid(gid))
    }
    fn setresuid(&mut self, uid: u32) -> io::Result<()> {
        self.enter(Call::Setresuid(uid))
    }
    fn capset(&mut self, e: u64, p: u64, i: u64) -> io::Result<()> {
        self.enter(Call::Capset(e, p, i))
    }
    fn set_ambient(&mut self, ambient: u64, clear: bool) -> io::Result<()> {
        self.enter(Call::Ambient(ambient, clear))
    }
    fn landlock_prepare(&mut self, _spec: &LandlockSpec) -> io::Result<()> {
        self.enter(Call::LandlockPrepare)
    }
    fn landlock_restrict(&mut self) -> io::Result<RulesetStatus> {
        self.enter(Call::LandlockRestrict)
            .map(|_| match self.landlock_status {
                RulesetStatus::FullyEnforced => RulesetStatus::FullyEnforced,
                RulesetStatus::PartiallyEnforced => RulesetStatus::PartiallyEnforced,
                RulesetStatus::NotEnforced => RulesetStatus::NotEnforced,
            })
    }
    fn check_exec_paths(&mut self, _cwd: Option<&CStr>, _program: &CStr) -> io::Result<()> {
        self.enter(Call::CheckExecPaths)
    }
    fn install_seccomp(&mut self, _spec: &SeccompSpec) -> io::Result<()> {
        self.enter(Call::InstallSeccomp)
    }
    fn execve(&mut self, _exec: &PreparedExec) -> io::Result<()> {
        self.enter(Call::Execve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{ApplyOptions, apply};
    use crate::bpf::{SeccompProgram, SockFilter, op, ret};
    use crate::error::{ApplyError, exit};
    use crate::policy::*;
    use crate::report::{Report, Status};
    use std::path::Path;

    fn full_policy(nnp: bool) -> CompiledPolicy {
        CompiledPolicy::builder()
            .seccomp(seccomp_spec(true))
            .caps(CapSets::new(0x4ff, 0x400, 0x400, 0x400, 0x400).unwrap())
            .no_new_privs(nnp)
            .user(UserSpec::new(1000, 1001, vec![7]).unwrap())
            .selinux(
                SelinuxSpec::new("system_u:system_r:container_t:s0".into(), None, false).unwrap(),
            )
            .landlock(landlock_spec(
                Compatibility::Required,
                fs_access::ABI1_ALL,
                vec![PathRule::new("/", fs_access::READ_EXEC).unwrap()],
            ))
            .personality(8)
            .keep_fds([9])
            .build()
            .unwrap()
    }

    fn exec() -> PreparedExec {
        PreparedExec::new(Path::new("/bin/true"), &["true".into()], &[]).unwrap()
    }

    fn run(
        k: &mut RecordingKernel,
        p: &CompiledPolicy,
        sync: Option<RawFd>,
    ) -> (Result<(), ApplyError>, Report) {
        let e = exec();
        let opts = ApplyOptions {
            userns_sync_fd: sync,
            cwd: None,
            exec: &e,
        };
        let mut report = Report::recording();
        let r = apply(k, p, &opts, &mut report);
        (r, report)
    }

    use Call::*;

    fn prefix(userns: bool) -> Vec<Call> {
        let mut v = vec![
            ThreadCount,
            Prctl(PrctlFlag::Dumpable, false),
            Sanitize(vec![9]),
            OpenProcfs,
            Features,
        ];
        if userns {
            v.extend([
                UnshareUserns,
                Prctl(PrctlFlag::Dumpable, true),
                SyncExchange(5),
                Prctl(PrctlFlag::Dumpable, false),
                Setresgid(0),
                Setresuid(0),
            ]);
        }
        v.extend([
            Personality(8),
            LandlockPrepare,
            ExecLabel(None),
            ExecLabel(Some("system_u:system_r:container_t:s0".into())),
        ]);
        v
    }

    fn creds() -> Vec<Call> {
        vec![
            DropBounding(0x4ff),
            Prctl(PrctlFlag::KeepCaps, true),
            Setgroups(vec![7]),
            Setresgid(1001),
            Setresuid(1000),
            Prctl(PrctlFlag::KeepCaps, false),
            Capset(0x400, 0x400, 0x400),
            // permitted ∩ inheritable is all raised: nothing left to clear.
            Ambient(0x400, false),
        ]
    }

    fn expected(nnp: bool, userns: bool) -> Vec<Call> {
        let mut v = prefix(userns);
        if nnp {
            v.push(Prctl(PrctlFlag::NoNewPrivs, true));
            v.extend(creds());
            v.extend([LandlockRestrict, CheckExecPaths, InstallSeccomp]);
        } else {
            v.extend([LandlockRestrict, CheckExecPaths, InstallSeccomp]);
            v.extend(creds());
        }
        v.push(Execve);
        v
    }

    #[test]
    fn exact_order_with_no_new_privs() {
        for userns in [false, true] {
            let mut k = RecordingKernel::default();
            let (r, _) = run(&mut k, &full_policy(true), userns.then_some(5));
            r.unwrap();
            assert_eq!(k.calls, expected(true, userns));
        }
    }

    #[test]
    fn exact_order_without_no_new_privs() {
        // Pitfall 2: seccomp and Landlock go in before the credential change.
        for userns in [false, true] {
            let mut k = RecordingKernel::default();
            let (r, report) = run(&mut k, &full_policy(false), userns.then_some(5));
            r.unwrap();
            assert_eq!(k.calls, expected(false, userns));
            let nnp = report
                .events()
                .iter()
                .find(|e| e.step == Step::NoNewPrivs)
                .unwrap();
            assert_eq!(nnp.status, Status::Skipped);
        }
    }

    #[test]
    fn a_failure_at_every_call_stops_before_execve_and_names_the_step() {
        for nnp in [true, false] {
            for userns in [false, true] {
                let calls = expected(nnp, userns);
                let userns_range = if userns { 5..11 } else { 0..0 };
                for (i, call) in calls.iter().enumerate() {
                    let mut k = RecordingKernel {
                        fail_at: Some((i, libc::EPERM)),
                        ..Default::default()
                    };
                    let (r, _) = run(&mut k, &full_policy(nnp), userns.then_some(5));
                    let err = r.expect_err(&format!("failure at call {i} ({call:?}) was ignored"));
                    assert_eq!(
                        k.calls.len(),
                        i + 1,
                        "calls continued after failing {call:?}"
                    );
                    assert_eq!(k.calls[i], *call);
                    if *call != Execve {
                        assert!(!k.calls.contains(&Execve), "execve after failing {call:?}");
                    }
                    let want = call.step(userns_range.contains(&i));
                    assert_eq!(
                        err.step(),
                        want,
                        "nnp={nnp} userns={userns} call {i} {call:?}"
                    );
                    assert_eq!(err.errno(), Some(libc::EPERM));
                    let msg = err.to_string();
                    assert!(msg.contains(&format!("`{}`", want.name())), "{msg}");
                    assert!(msg.contains("os error 1"), "{msg}");
                    if *call == Execve {
                        assert_eq!(err.exit_code(), exit::CANNOT_EXEC);
                    } else {
                        assert_eq!(err.exit_code(), exit::STEP);
                    }
                }
            }
        }
    }

    #[test]
    fn threads_are_refused() {
        let mut k = RecordingKernel {
            threads: 2,
            ..Default::default()
        };
        let (r, _) = run(&mut k, &full_policy(true), None);
        let e = r.unwrap_err();
        assert_eq!(e.step(), Step::SingleThread);
        assert_eq!(k.calls, vec![ThreadCount]);
    }

    fn seccomp_spec(required: bool) -> SeccompSpec {
        SeccompSpec {
            program: SeccompProgram::new(vec![SockFilter::stmt(op::RET | op::K, ret::ALLOW)])
                .unwrap(),
            tsync: false,
            log: false,
            required,
            compat_gates: Vec::new(),
        }
    }

    fn landlock_spec(
        compatibility: Compatibility,
        handled_fs: u64,
        paths: Vec<PathRule>,
    ) -> LandlockSpec {
        LandlockSpec::new(LandlockSpecParts {
            compatibility,
            handled_fs,
            handle_bind_tcp: false,
            handle_connect_tcp: false,
            paths,
            bind_tcp: vec![],
            connect_tcp: vec![],
            scopes: Scopes::default(),
        })
        .unwrap()
    }

    /// A policy with exactly the optional mechanisms asked for.
    fn policy_with(label: bool, ruleset: bool, filter: bool) -> CompiledPolicy {
        let mut b = CompiledPolicy::builder().no_new_privs(true);
        if label {
            b = b.selinux(SelinuxSpec::new("a:b:c".into(), None, false).unwrap());
        }
        if ruleset {
            b = b.landlock(landlock_spec(
                Compatibility::BestEffort,
                fs_access::ABI1_ALL,
                vec![],
            ));
        }
        if filter {
            b = b.seccomp(seccomp_spec(false));
        }
        b.build().unwrap()
    }

    /// The outcome of `step`: its last event (seccomp is first reported pending).
    fn outcome(report: &Report, step: Step) -> crate::report::Event {
        let last = report.events().iter().rev().find(|e| e.step == step);
        last.unwrap().clone()
    }

    /// The probes themselves: see the next test.
    #[test]
    fn a_policy_without_label_ruleset_or_filter_makes_only_the_calls_it_needs() {
        let mut k = RecordingKernel::default();
        let (r, report) = run(&mut k, &policy_with(false, false, false), None);
        r.unwrap();
        // No procfs handle, no label path check, no ruleset, no filter: the calls of
        // the full sequence minus those, in the same order.
        assert_eq!(
            k.calls,
            vec![
                ThreadCount,
                Prctl(PrctlFlag::Dumpable, false),
                Sanitize(vec![]),
                Features,
                Prctl(PrctlFlag::NoNewPrivs, true),
                CheckExecPaths,
                Execve,
            ]
        );
        for (step, why) in [
            (
                Step::Procfs,
                "nothing to write to /proc: the policy sets no SELinux label",
            ),
            (Step::SelinuxLabel, "the policy sets no SELinux label"),
            (Step::Landlock, "the policy has no Landlock ruleset"),
            (Step::Seccomp, "the policy has no seccomp filter"),
        ] {
            let ev = outcome(&report, step);
            assert_eq!(ev.status, Status::Skipped, "{step:?}");
            assert_eq!(ev.detail.as_deref(), Some(why), "{step:?}");
        }
    }

    #[test]
    fn each_mechanism_the_policy_uses_is_probed_and_only_those() {
        for bits in 0..8 {
            let (label, ruleset, filter) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
            let mut k = RecordingKernel::default();
            let (r, report) = run(&mut k, &policy_with(label, ruleset, filter), None);
            r.unwrap();
            let want = Probe {
                selinux: label,
                landlock: ruleset,
                seccomp: filter,
            };
            assert_eq!(k.probes, vec![want], "label={label} ruleset={ruleset}");
            assert_eq!(k.calls.contains(&OpenProcfs), label);
            // A probed mechanism that the host has is used: the label written, the
            // ruleset enforced, the filter installed.
            assert_eq!(k.calls.contains(&ExecLabel(Some("a:b:c".into()))), label);
            assert_eq!(k.calls.contains(&LandlockRestrict), ruleset);
            assert_eq!(k.calls.contains(&InstallSeccomp), filter);
            let applied = |on| if on { Status::Applied } else { Status::Skipped };
            for (step, on) in [
                (Step::SelinuxLabel, label),
                (Step::Landlock, ruleset),
                (Step::Seccomp, filter),
            ] {
                assert_eq!(outcome(&report, step).status, applied(on), "{step:?}");
            }
        }
    }

    /// The report says when the filter goes in with its compat gate closed.
    #[test]
    fn a_closed_compat_gate_is_reported_with_the_filter() {
        use crate::bpf::gate;
        use crate::policy::CompatGate;
        let gated = |close: bool| {
            let program = SeccompProgram::new(vec![
                gate::OPEN,
                gate::LOAD_NR,
                SockFilter::stmt(op::RET | op::K, ret::ALLOW),
            ])
            .unwrap();
            let mut p = CompiledPolicy::builder()
                .seccomp(SeccompSpec {
                    program,
                    compat_gates: vec![CompatGate { arch: 7, at: 0 }],
                    ..seccomp_spec(true)
                })
                .build()
                .unwrap();
            if close {
                assert!(p.close_compat_gate(7));
            }
            let (r, report) = run(&mut RecordingKernel::default(), &p, None);
            r.unwrap();
            let ev = report
                .events()
                .iter()
                .find(|e| e.step == Step::Seccomp && e.status == Status::Pending)
                .cloned()
                .unwrap();
            ev.detail
        };
        assert!(gated(true).unwrap().contains("compat gate closed"));
        assert_eq!(gated(false), None);
    }

    /// Best-effort mechanisms the host lacks are still reported as not applied,
    /// with the same messages, when they were probed.
    #[test]
    fn probed_mechanisms_the_host_lacks_are_reported_as_before() {
        let mut k = RecordingKernel {
            features: crate::sys::Features {
                selinux: false,
                landlock_abi: 0,
                seccomp: false,
            },
            landlock_status: RulesetStatus::NotEnforced,
            ..Default::default()
        };
        let (r, report) = run(&mut k, &policy_with(true, true, true), None);
        r.unwrap();
        for (step, detail) in [
            (
                Step::SelinuxLabel,
                "SELinux is not enabled on this host; the policy marks the label best-effort",
            ),
            (
                Step::Landlock,
                "the kernel does not support Landlock; the policy marks it best-effort",
            ),
            (
                Step::Seccomp,
                "the kernel has no seccomp; the policy marks the filter best-effort",
            ),
        ] {
            let ev = outcome(&report, step);
            assert_eq!(ev.status, Status::NotApplied, "{step:?}");
            assert_eq!(ev.detail.as_deref(), Some(detail), "{step:?}");
        }
        assert!(!k.calls.contains(&InstallSeccomp));
        // The label path is still verified on a host without SELinux.
        assert!(k.calls.contains(&ExecLabel(None)));
    }

    /// The inherited ambient set is cleared exactly when capset can leave in it a
    /// capability the policy does not raise (one in permitted ∩ inheritable).
    #[test]
    fn ambient_is_cleared_only_when_capset_can_leave_an_unwanted_one() {
        const NET_BIND: u64 = 1 << 10;
        const NET_RAW: u64 = 1 << 13;
        let both = NET_BIND | NET_RAW;
        for (caps, want) in [
            // The default shape: nothing inheritable, so capset empties ambient.
            (CapSets::effective_only(both).unwrap(), Ambient(0, false)),
            // Everything in permitted ∩ inheritable is raised.
            (
                CapSets::new(both, both, both, NET_BIND, NET_BIND).unwrap(),
                Ambient(NET_BIND, false),
            ),
            // NET_RAW is permitted and inheritable but not ambient: an inherited
            // ambient NET_RAW would survive capset.
            (
                CapSets::new(both, both, both, both, NET_BIND).unwrap(),
                Ambient(NET_BIND, true),
            ),
            (
                CapSets::new(both, both, 0, both, 0).unwrap(),
                Ambient(0, true),
            ),
        ] {
            let p = CompiledPolicy::builder()
                .no_new_privs(true)
                .caps(caps)
                .build()
                .unwrap();
            let mut k = RecordingKernel::default();
            let (r, _) = run(&mut k, &p, None);
            r.unwrap();
            let i = k
                .calls
                .iter()
                .position(|c| matches!(c, Capset(..)))
                .unwrap();
            assert_eq!(k.calls[i + 1], want, "{caps:?}");
        }
    }

    #[test]
    fn required_mechanisms_fail_closed_in_preflight() {
        // Required SELinux on a host without SELinux.
        let p = CompiledPolicy::builder()
            .selinux(SelinuxSpec::new("a:b:c".into(), None, true).unwrap())
            .build()
            .unwrap();
        let mut k = RecordingKernel::default();
        k.features.selinux = false;
        let (r, _) = run(&mut k, &p, None);
        let e = r.unwrap_err();
        assert_eq!(
            (e.step(), e.exit_code()),
            (Step::Preflight, exit::UNAVAILABLE)
        );
        assert!(e.to_string().contains("SELinux is not enabled"), "{e}");
        assert_eq!(k.calls.last(), Some(&Features));

        // Required Landlock on a kernel without it.
        let mut k = RecordingKernel::default();
        k.features.landlock_abi = 0;
        let (r, _) = run(&mut k, &full_policy(true), None);
        let e = r.unwrap_err();
        assert_eq!(
            (e.step(), e.exit_code()),
            (Step::Preflight, exit::UNAVAILABLE)
        );
        assert!(e.to_string().contains("Landlock ABI 0"), "{e}");

        // Required Landlock that the kernel only partially enforced.
        let mut k = RecordingKernel {
            landlock_status: RulesetStatus::PartiallyEnforced,
            ..Default::default()
        };
        let (r, _) = run(&mut k, &full_policy(true), None);
        assert_eq!(r.unwrap_err().step(), Step::Landlock);
        assert!(!k.calls.contains(&Execve));
    }

    #[test]
    fn best_effort_is_reported_not_applied() {
        let p = CompiledPolicy::builder()
            .selinux(SelinuxSpec::new("a:b:c".into(), None, false).unwrap())
            .landlock(landlock_spec(
                Compatibility::BestEffort,
                fs_access::ABI1_ALL | fs_access::IOCTL_DEV,
                vec![],
            ))
            .build()
            .unwrap();
        let mut k = RecordingKernel {
            landlock_status: RulesetStatus::PartiallyEnforced,
            ..Default::default()
        };
        k.features.selinux = false;
        k.features.landlock_abi = 4;
        let (r, report) = run(&mut k, &p, None);
        r.unwrap();
        // The label path is still verified, but nothing is written.
        assert!(k.calls.contains(&ExecLabel(None)));
        assert!(!k.calls.iter().any(|c| matches!(c, ExecLabel(Some(_)))));
        let ev = |s| {
            report
                .events()
                .iter()
                .find(|e| e.step == s)
                .unwrap()
                .clone()
        };
        assert_eq!(ev(Step::SelinuxLabel).status, Status::NotApplied);
        let ll = ev(Step::Landlock);
        assert_eq!(ll.status, Status::PartiallyApplied);
        assert_eq!(ll.dropped, vec!["fs:IoctlDev".to_string()]);
        // No caps section, no user: nothing credential-related is touched.
        assert!(
            !k.calls
                .iter()
                .any(|c| matches!(c, Capset(..) | Setresuid(_) | DropBounding(_)))
        );
    }
}
