//! Live tests of `rampart-enforce`: real kernel, real child processes.
//!
//! Each test builds a `CompiledPolicy` (with small hand-written BPF programs),
//! encodes it, runs the real enforcer binary on it, and lets the `probe` fixture
//! report what the kernel shows the program. Where a test's pass could be an
//! accident of the environment, it first runs a control without the enforcer
//! (or without the relevant policy part) and checks that it differs.
#![cfg(target_arch = "x86_64")]

use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use rampart_enforce::blob;
use rampart_enforce::bpf::{SeccompProgram, SockFilter, data, op::*, ret};
use rampart_enforce::policy::*;
use rampart_tests::{enforcer_bin, require_root};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

// x86_64 syscall numbers.
const SYS_GETPID: u32 = 39;
const SYS_MKDIR: u32 = 83;
const SYS_GETPPID: u32 = 110;
const SYS_PERSONALITY: u32 = 135;
const SYS_MKDIRAT: u32 = 258;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
/// Docker's / OCI's default 14 capabilities.
const DEFAULT_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 13)
    | (1 << 18)
    | (1 << 27)
    | (1 << 29)
    | (1 << 31);

/// A filter: wrong arch → kill; each `(nr, action)` → action; else `default`.
fn filter(rules: &[(u32, u32)], default: u32) -> SeccompProgram {
    let mut v = vec![
        SockFilter::stmt(LD | W | ABS, data::ARCH),
        SockFilter::jump(JMP | JEQ | K, AUDIT_ARCH_X86_64, 1, 0),
        SockFilter::stmt(RET | K, ret::KILL_PROCESS),
        SockFilter::stmt(LD | W | ABS, data::NR),
    ];
    for &(nr, action) in rules {
        v.push(SockFilter::jump(JMP | JEQ | K, nr, 0, 1));
        v.push(SockFilter::stmt(RET | K, action));
    }
    v.push(SockFilter::stmt(RET | K, default));
    SeccompProgram::new(v).unwrap()
}

fn seccomp(program: SeccompProgram) -> SeccompSpec {
    SeccompSpec {
        program,
        tsync: false,
        log: false,
        required: true,
        compat_gates: Vec::new(),
    }
}

fn deny_mkdir() -> SeccompSpec {
    let eperm = ret::ERRNO | libc::EPERM as u32;
    seccomp(filter(
        &[(SYS_MKDIR, eperm), (SYS_MKDIRAT, eperm)],
        ret::ALLOW,
    ))
}

struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    report: Vec<serde_json::Value>,
}

impl Outcome {
    fn line(&self, prefix: &str) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no `{prefix}` line in stdout:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            })
            .split_once(':')
            .map(|(_, v)| v.trim().to_owned())
            .unwrap()
    }
    fn event(&self, step: &str) -> &serde_json::Value {
        self.report
            .iter()
            .rev()
            .find(|e| e["step"] == step)
            .unwrap_or_else(|| panic!("no `{step}` event in report {:#?}", self.report))
    }
    fn assert_ran(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}\nreport: {:#?}",
            self.stdout,
            self.stderr,
            self.report
        );
    }
    fn assert_refused(&self, code: i32, step: &str) {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        let last = self.report.last().expect("a failure is always reported");
        assert_eq!(last["status"], "failed");
        assert_eq!(last["step"], step, "{:#?}", self.report);
        assert!(
            self.stderr.contains(&format!("step `{step}`")),
            "stderr: {}",
            self.stderr
        );
    }
}

/// Runs `probe <launch…> -- rampart-enforce --policy P --report-fd 5 <extra…> -- <program…>`,
/// with fd 5 (the report) opened by a `probe leak-fd` launcher.
fn run_blob(blob: &[u8], extra: &[&str], launch: &[&str], program: &[&str]) -> Outcome {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.bin");
    std::fs::write(&policy, blob).unwrap();
    let report = dir.path().join("report.jsonl");
    let enforcer = enforcer_bin();
    let mut cmd = Command::new(PROBE);
    cmd.args(["leak-fd", "5"]).arg(&report).arg("--");
    if !launch.is_empty() {
        cmd.arg(PROBE).args(launch).arg("--");
    }
    cmd.arg(&enforcer)
        .arg("--policy")
        .arg(&policy)
        .args(["--report-fd", "5"])
        .args(extra)
        .arg("--");
    cmd.args(program);
    let out = cmd.output().unwrap();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    Outcome {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report: text
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad report line {l:?}: {e}"))
            })
            .collect(),
    }
}

fn run(policy: &CompiledPolicy, extra: &[&str], launch: &[&str], args: &[&str]) -> Outcome {
    let mut program = vec![PROBE];
    program.extend_from_slice(args);
    run_blob(&blob::encode(policy), extra, launch, &program)
}

/// Runs the probe directly (no enforcer), through optional launchers: the control.
fn control(launch: &[&str], args: &[&str]) -> String {
    let mut cmd = Command::new(PROBE);
    if !launch.is_empty() {
        cmd.args(launch).arg("--").arg(PROBE);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn status_line(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .to_owned()
}

fn hex(v: u64) -> String {
    format!("{v:016x}")
}

#[test]
fn exact_cap_sets_ambient_for_uid_1000_and_bind_80() {
    // Pitfall 10: uid 1000 + ambient NET_BIND_SERVICE.
    let c = CAP_NET_BIND_SERVICE;
    let policy = CompiledPolicy::builder()
        .user(UserSpec::new(1000, 1000, vec![]).unwrap())
        .caps(CapSets::new(c, c, c, c, c).unwrap())
        .seccomp(deny_mkdir())
        .build()
        .unwrap();
    let o = run(&policy, &[], &[], &["status"]);
    o.assert_ran();
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(o.line(key), hex(c), "{key}\n{}", o.stdout);
    }
    assert_eq!(o.line("NoNewPrivs"), "1");
    assert_eq!(o.line("Seccomp:"), "2");
    assert_eq!(o.line("Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(o.line("Groups"), "");
    // The report says every step that ran.
    for step in [
        "no-new-privs",
        "cap-bounding",
        "setresuid",
        "capset",
        "ambient",
    ] {
        assert_eq!(o.event(step)["status"], "applied", "{step}");
    }
    assert_eq!(o.event("seccomp")["status"], "pending");

    let o = run(&policy, &[], &[], &["bind-tcp", "80"]);
    o.assert_ran();
    assert_eq!(o.stdout.trim(), "ok");
    // Control: the same uid without the capability cannot bind :80.
    let none = CompiledPolicy::builder()
        .user(UserSpec::new(1000, 1000, vec![]).unwrap())
        .caps(CapSets::none())
        .build()
        .unwrap();
    let o = run(&none, &[], &[], &["bind-tcp", "80"]);
    o.assert_ran();
    assert_eq!(o.stdout.trim(), format!("errno={}", libc::EACCES));
}

#[test]
fn capset_names_the_capabilities_the_launcher_lacks() {
    // A launcher without CAP_SYS_TIME (dropped from its bounding set, so root's
    // exec of the enforcer does not get it back) and a policy that asks for it.
    const CAP_SYS_TIME: u64 = 1 << 25;
    let wanted = DEFAULT_CAPS | CAP_SYS_TIME;
    let policy = CompiledPolicy::builder()
        .caps(CapSets::new(wanted, wanted, wanted, 0, 0).unwrap())
        .build()
        .unwrap();
    let o = run(&policy, &[], &["drop-bound", "25"], &["status"]);
    o.assert_refused(125, "capset");
    assert!(
        o.stderr.contains(
            "asks for CAP_SYS_TIME in the permitted set, and this process does not hold it"
        ),
        "{}",
        o.stderr
    );
    // Control: the same launcher and the default sets run.
    let policy = CompiledPolicy::builder()
        .caps(CapSets::new(DEFAULT_CAPS, DEFAULT_CAPS, DEFAULT_CAPS, 0, 0).unwrap())
        .build()
        .unwrap();
    run(&policy, &[], &["drop-bound", "25"], &["status"]).assert_ran();
}

#[test]
fn default_caps_clear_an_inherited_inheritable_set() {
    // Pitfall 11 / CVE-2022-29162. The control shows the launcher really hands
    // the enforcer a non-empty inheritable set.
    let launch = ["raise-inh", "0x2000"];
    assert_eq!(
        status_line(&control(&launch, &["status"]), "CapInh"),
        hex(0x2000)
    );
    let policy = CompiledPolicy::builder()
        .caps(CapSets::effective_only(DEFAULT_CAPS).unwrap())
        .build()
        .unwrap();
    let o = run(&policy, &[], &launch, &["status"]);
    o.assert_ran();
    assert_eq!(o.line("CapInh"), hex(0));
    assert_eq!(o.line("CapAmb"), hex(0));
    assert_eq!(o.line("CapPrm"), hex(DEFAULT_CAPS));
    assert_eq!(o.line("CapEff"), hex(DEFAULT_CAPS));
    assert_eq!(o.line("CapBnd"), hex(DEFAULT_CAPS));
}

#[test]
fn denied_syscall_gets_the_errno_and_others_work() {
    let policy = CompiledPolicy::builder()
        .seccomp(deny_mkdir())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("made");
    let t = target.to_str().unwrap();
    let o = run(&policy, &[], &[], &["mkdir", t]);
    o.assert_ran();
    assert_eq!(o.stdout.trim(), format!("errno={}", libc::EPERM));
    assert!(!target.exists());
    let o = run(
        &policy,
        &[],
        &[],
        &[
            "syscall",
            &SYS_MKDIRAT.to_string(),
            "0xffffffffffffff9c",
            "0",
        ],
    );
    assert_eq!(o.stdout.trim(), format!("ret=-1 errno={}", libc::EPERM));
    let o = run(&policy, &[], &[], &["syscall", &SYS_GETPID.to_string()]);
    assert!(o.stdout.trim().ends_with("errno=0"), "{}", o.stdout);
    // Control: without the policy the same mkdir succeeds.
    assert_eq!(control(&[], &["mkdir", t]).trim(), "ok");
}

#[test]
fn kill_process_on_a_worker_thread_kills_the_whole_process() {
    // Pitfall 7. Control: without the filter the thread returns and main survives.
    assert!(control(&[], &["thread-syscall", &SYS_GETPPID.to_string()]).contains("survived"));
    let policy = CompiledPolicy::builder()
        .seccomp(seccomp(filter(
            &[(SYS_GETPPID, ret::KILL_PROCESS)],
            ret::ALLOW,
        )))
        .build()
        .unwrap();
    let o = run(
        &policy,
        &[],
        &[],
        &["thread-syscall", &SYS_GETPPID.to_string()],
    );
    assert_eq!(
        o.signal,
        Some(libc::SIGSYS),
        "stdout {} stderr {}",
        o.stdout,
        o.stderr
    );
    assert!(!o.stdout.contains("survived"));
}

#[test]
fn nobody_without_nnp_and_with_seccomp_starts() {
    // Pitfall 2: with no_new_privs off the filter must go in before the cap drop.
    let policy = CompiledPolicy::builder()
        .no_new_privs(false)
        .user(UserSpec::new(65534, 65534, vec![]).unwrap())
        .caps(CapSets::none())
        .seccomp(deny_mkdir())
        .build()
        .unwrap();
    let o = run(&policy, &[], &[], &["status"]);
    o.assert_ran();
    assert_eq!(o.line("Uid"), "65534\t65534\t65534\t65534");
    assert_eq!(o.line("NoNewPrivs"), "0");
    assert_eq!(o.line("Seccomp:"), "2");
    assert_eq!(o.line("CapEff"), hex(0));
    assert_eq!(o.line("CapBnd"), hex(0));
    assert_eq!(o.event("no-new-privs")["status"], "skipped");
    assert_eq!(o.event("credentials")["status"], "pending");
}

#[test]
fn allow_list_with_default_kill_still_reaches_exec() {
    // Pitfall 3: only what `probe exit` needs, plus execve. Notably absent: write,
    // prctl, close_range, fcntl, capset: anything the enforcer ran after the filter
    // would kill it before the program could exit with 42.
    let needed = [
        "read",
        "close",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "pread64",
        "access",
        "execve",
        "exit_group",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "getrandom",
        "openat",
        "newfstatat",
        "poll",
        "sigaltstack",
        "sched_getaffinity",
        "gettid",
        "fstat",
    ];
    let nr = |name: &str| -> u32 {
        match name {
            "read" => 0,
            "close" => 3,
            "fstat" => 5,
            "poll" => 7,
            "mmap" => 9,
            "mprotect" => 10,
            "munmap" => 11,
            "brk" => 12,
            "rt_sigaction" => 13,
            "pread64" => 17,
            "access" => 21,
            "execve" => 59,
            "sigaltstack" => 131,
            "arch_prctl" => 158,
            "gettid" => 186,
            "sched_getaffinity" => 204,
            "set_tid_address" => 218,
            "exit_group" => 231,
            "openat" => 257,
            "newfstatat" => 262,
            "set_robust_list" => 273,
            "prlimit64" => 302,
            "getrandom" => 318,
            "rseq" => 334,
            _ => unreachable!("{name}"),
        }
    };
    let rules: Vec<(u32, u32)> = needed.iter().map(|n| (nr(n), ret::ALLOW)).collect();
    let policy = CompiledPolicy::builder()
        .seccomp(seccomp(filter(&rules, ret::KILL_PROCESS)))
        .caps(CapSets::none())
        .user(UserSpec::new(1000, 1000, vec![]).unwrap())
        .build()
        .unwrap();
    let o = run(&policy, &[], &[], &["exit", "42"]);
    assert_eq!((o.code, o.signal), (Some(42), None), "stderr: {}", o.stderr);
    // The same filter kills the probe when it writes: the filter really is strict.
    let o = run(&policy, &[], &[], &["status"]);
    assert_eq!(o.signal, Some(libc::SIGSYS));
}

#[test]
fn a_filter_that_denies_exit_still_ends_the_enforcer() {
    // A profile with no rules at all compiles to "errno(EPERM) for everything":
    // execve fails after the filter is in place, and so do write and exit_group.
    // libc's _exit would then retry `exit` forever; the enforcer must end anyway.
    require_root();
    let eperm = ret::ERRNO | libc::EPERM as u32;
    let policy = CompiledPolicy::builder()
        .seccomp(seccomp(filter(&[], eperm)))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.bin");
    std::fs::write(&path, blob::encode(&policy)).unwrap();
    let marker = dir.path().join("ran");
    let mut child = Command::new(enforcer_bin())
        .arg("--policy")
        .arg(&path)
        .args(["--", PROBE, "write"])
        .arg(&marker)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("rampart-enforce still running 20 s after a failed exec");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Ended by abort's trap, not an exit code (exit_group is denied).
    assert_eq!(status.code(), None, "{status:?}");
    assert!(status.signal().is_some(), "{status:?}");
    assert!(!marker.exists(), "the program ran");
}

#[test]
fn personality_is_set_before_a_filter_that_denies_it() {
    // Pitfall 9. Control: the probe sees x86_64 without the persona.
    assert_eq!(control(&[], &["uname-machine"]).trim(), "x86_64");
    let policy = CompiledPolicy::builder()
        .personality(0x0008) // PER_LINUX32
        .seccomp(seccomp(filter(
            &[(SYS_PERSONALITY, ret::ERRNO | libc::EPERM as u32)],
            ret::ALLOW,
        )))
        .build()
        .unwrap();
    let o = run(&policy, &[], &[], &["uname-machine"]);
    o.assert_ran();
    assert_eq!(o.stdout.trim(), "i686");
}

fn landlock_policy(allowed: &Path, compatibility: Compatibility) -> CompiledPolicy {
    let spec = LandlockSpec::new(LandlockSpecParts {
        compatibility,
        handled_fs: fs_access::ABI1_ALL,
        handle_bind_tcp: false,
        handle_connect_tcp: false,
        paths: vec![
            PathRule::new("/", fs_access::READ_EXEC).unwrap(),
            PathRule::new("/dev/null", fs_access::WRITE_FILE).unwrap(),
            PathRule::new(allowed.to_str().unwrap(), fs_access::ABI1_ALL).unwrap(),
        ],
        bind_tcp: vec![],
        connect_tcp: vec![],
        scopes: Scopes::default(),
    })
    .unwrap();
    CompiledPolicy::builder().landlock(spec).build().unwrap()
}

#[test]
fn landlock_denies_writes_outside_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, no) = (dir.path().join("ok"), dir.path().join("no"));
    std::fs::create_dir(&ok).unwrap();
    std::fs::create_dir(&no).unwrap();
    let policy = landlock_policy(&ok, Compatibility::Required);
    let o = run(
        &policy,
        &[],
        &[],
        &["write", ok.join("f").to_str().unwrap()],
    );
    o.assert_ran();
    assert_eq!(o.stdout.trim(), "ok");
    assert_eq!(o.event("landlock")["status"], "applied");
    let o = run(
        &policy,
        &[],
        &[],
        &["write", no.join("f").to_str().unwrap()],
    );
    o.assert_ran();
    assert_eq!(o.stdout.trim(), format!("errno={}", libc::EACCES));
    assert!(!no.join("f").exists());
}

#[test]
fn required_landlock_fails_closed_on_a_kernel_without_it() {
    // The launcher makes the landlock syscalls return ENOSYS: a kernel without Landlock.
    let launch = ["deny-enosys", "444,445,446"];
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let m = marker.to_str().unwrap();
    let o = run(
        &landlock_policy(dir.path(), Compatibility::Required),
        &[],
        &launch,
        &["write", m],
    );
    o.assert_refused(124, "preflight");
    assert!(o.stderr.contains("Landlock ABI 0"), "{}", o.stderr);
    assert!(!marker.exists(), "the program ran");
    // Best-effort: runs, reported as not applied with what was dropped.
    let o = run(
        &landlock_policy(dir.path(), Compatibility::BestEffort),
        &[],
        &launch,
        &["write", m],
    );
    o.assert_ran();
    assert!(marker.exists());
    let ev = o.event("landlock");
    assert_eq!(ev["status"], "not-applied");
    assert!(
        ev["dropped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "fs:WriteFile"),
        "{ev}"
    );
}

fn selinux_policy(required: bool) -> CompiledPolicy {
    let label =
        SelinuxSpec::new("system_u:system_r:container_t:s0".into(), None, required).unwrap();
    CompiledPolicy::builder().selinux(label).build().unwrap()
}

#[test]
fn selinux_required_fails_closed_and_best_effort_reports() {
    // This host has no SELinux (see enforcer-order.md); if it ever does, this test
    // must be revisited rather than silently pass.
    assert!(
        !Path::new("/sys/fs/selinux/enforce").exists(),
        "SELinux is enabled on this host"
    );
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let m = marker.to_str().unwrap();
    let o = run(&selinux_policy(true), &[], &[], &["write", m]);
    o.assert_refused(124, "preflight");
    assert!(o.stderr.contains("SELinux is not enabled"), "{}", o.stderr);
    assert!(!marker.exists());
    let o = run(&selinux_policy(false), &[], &[], &["write", m]);
    o.assert_ran();
    assert!(marker.exists());
    assert_eq!(o.event("selinux-label")["status"], "not-applied");
}

#[test]
fn a_bind_mount_over_attr_exec_is_an_error_not_an_unlabeled_run() {
    // Pitfall 14. Even best-effort: a tampered /proc must never be ignored.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-attr-exec");
    std::fs::write(&fake, "").unwrap();
    let marker = dir.path().join("ran");
    let launch = [
        "bind-over",
        fake.to_str().unwrap(),
        "/proc/thread-self/attr/exec",
    ];
    let o = run(
        &selinux_policy(false),
        &[],
        &launch,
        &["write", marker.to_str().unwrap()],
    );
    o.assert_refused(125, "selinux-label");
    assert!(o.stderr.contains("mounted over it"), "{}", o.stderr);
    assert!(!marker.exists());
    // Control: the same launcher without a label in the policy runs fine.
    let o = run(
        &CompiledPolicy::builder().build().unwrap(),
        &[],
        &launch,
        &["write", marker.to_str().unwrap()],
    );
    o.assert_ran();
}

#[test]
fn a_proc_root_that_is_not_procfs_is_refused() {
    // A temp dir laid out like procfs is not procfs: the production binary refuses it.
    let fake = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fake.path().join("1/task/1/attr")).unwrap();
    std::fs::write(fake.path().join("1/task/1/attr/exec"), "").unwrap();
    std::os::unix::fs::symlink("1/task/1", fake.path().join("thread-self")).unwrap();
    let marker = fake.path().join("ran");
    let o = run(
        &selinux_policy(false),
        &["--proc-root", fake.path().to_str().unwrap()],
        &[],
        &["write", marker.to_str().unwrap()],
    );
    o.assert_refused(125, "procfs");
    assert!(
        o.stderr.contains("not the root of a procfs mount"),
        "{}",
        o.stderr
    );
    assert!(!marker.exists());
    assert_eq!(
        std::fs::read_to_string(fake.path().join("1/task/1/attr/exec")).unwrap(),
        ""
    );
}

#[test]
fn leaked_fds_do_not_reach_the_program_and_proc_fd_cwd_is_refused() {
    // Pitfall 16 / CVE-2024-21626.
    let host = tempfile::tempdir().unwrap();
    let kept = host.path().join("kept");
    let leak = [
        "leak-fd",
        "7",
        host.path().to_str().unwrap(),
        "--",
        PROBE,
        "leak-fd",
        "9",
        kept.to_str().unwrap(),
    ];
    // Control: without the enforcer the program sees fd 7 and fd 9 (and whatever
    // else the test runner leaks, e.g. cargo's jobserver pipe).
    let seen = control(&leak, &["fds"]);
    let seen: Vec<&str> = seen.split_whitespace().collect();
    assert!(seen.contains(&"7") && seen.contains(&"9"), "{seen:?}");
    let policy = CompiledPolicy::builder().keep_fds([9]).build().unwrap();
    let o = run(&policy, &[], &leak, &["fds"]);
    o.assert_ran();
    assert_eq!(
        o.stdout.trim(),
        "0 1 2 9",
        "the report fd 5 and the leaked fd 7 must be gone"
    );

    let marker = host.path().join("ran");
    let o = run(
        &policy,
        &["--cwd", "/proc/self/fd/7"],
        &leak,
        &["write", marker.to_str().unwrap()],
    );
    o.assert_refused(125, "exec-paths");
    assert!(o.stderr.contains("CVE-2024-21626"), "{}", o.stderr);
    assert!(!marker.exists());
    // A real directory as --cwd is entered.
    let o = run(
        &policy,
        &["--cwd", host.path().to_str().unwrap()],
        &leak,
        &["cwd"],
    );
    o.assert_ran();
    assert_eq!(o.stdout.trim(), host.path().to_str().unwrap());
}

#[test]
fn an_inherited_working_directory_outside_the_root_is_refused() {
    // runc's CVE-2024-21626 class: the launcher hands over a working directory
    // that the program's root cannot reach. getcwd has no path for it.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let root = root.to_str().unwrap();
    let policy = CompiledPolicy::builder().build().unwrap();
    let o = run(&policy, &[], &["chroot-away", root], &["cwd"]);
    o.assert_refused(125, "exec-paths");
    assert!(
        o.stderr.contains("not reachable from the root"),
        "{}",
        o.stderr
    );
    // Control: the same launcher, with a working directory given inside the root.
    let o = run(&policy, &["--cwd", "/"], &["chroot-away", root], &["cwd"]);
    o.assert_ran();
    assert_eq!(o.stdout.trim(), "/");
}

/// The reachability check reads the working directory into a short buffer first
/// and retries at PATH_MAX: a longer path must still be accepted.
#[test]
fn a_working_directory_longer_than_the_short_buffer_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut long = dir.path().to_path_buf();
    while long.as_os_str().len() <= 600 {
        long.push("a-directory-name-of-forty-characters-xyz");
    }
    std::fs::create_dir_all(&long).unwrap();
    let long = long.to_str().unwrap();
    let policy = CompiledPolicy::builder().build().unwrap();
    let o = run(&policy, &["--cwd", long], &[], &["cwd"]);
    o.assert_ran();
    assert_eq!(o.stdout.trim(), long);
}

#[test]
fn a_report_reader_that_went_away_does_not_stop_the_launch() {
    // The report's pipe has no reader (fd 5 replaced after `leak-fd` opened it):
    // its write fails with EPIPE, and SIGPIPE (default action: terminate) must not
    // kill the enforcer before the program.
    let policy = CompiledPolicy::builder()
        .seccomp(deny_mkdir())
        .build()
        .unwrap();
    let o = run(&policy, &[], &["broken-pipe-fd", "5"], &["exit", "7"]);
    assert_eq!((o.code, o.signal), (Some(7), None), "stderr: {}", o.stderr);
}

#[test]
fn the_program_gets_the_enforcers_environment_unchanged() {
    // The enforcer passes its own environ to execve instead of a copy; the program
    // must see exactly what the enforcer was given, byte for byte.
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.bin");
    std::fs::write(
        &policy,
        blob::encode(&CompiledPolicy::builder().build().unwrap()),
    )
    .unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9 = \x01two=signs");
    let out = Command::new(enforcer_bin())
        .env_clear()
        .env("RAMPART_TEST_A", "1")
        .env("RAMPART_TEST_B", odd)
        .arg("--policy")
        .arg(&policy)
        .args(["--", "/usr/bin/env", "-0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut got: Vec<&[u8]> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .collect();
    got.sort();
    let want: [&[u8]; 2] = [
        b"RAMPART_TEST_A=1",
        b"RAMPART_TEST_B=caf\xe9 = \x01two=signs",
    ];
    assert_eq!(got, want);
}

/// The instructions of the filter attached to `pid`, once it has one.
fn attached_filter(pid: u32) -> Vec<SockFilter> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .any(|l| l == "Seccomp:\t2")
    {
        assert!(std::time::Instant::now() < deadline, "no filter on {pid}");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let out = Command::new(PROBE)
        .args(["seccomp-filter", &pid.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<u32> = l
                .split(' ')
                .map(|x| u32::from_str_radix(x, 16).unwrap())
                .collect();
            SockFilter::jump(f[0] as u16, f[3], f[1] as u8, f[2] as u8)
        })
        .collect()
}

/// A 64-bit app gets the filter with its compat gate closed (the kernel then
/// skips emulating it for the i386 numbers); a script, which may start
/// anything, keeps it open. The filter read back from the kernel is the
/// policy's, with only the gate's instruction changed.
#[test]
fn a_64_bit_app_gets_the_compat_gate_closed_and_a_script_keeps_it_open() {
    require_root();
    use rampart_enforce::bpf::gate;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    // arch x86_64 → 4 (`ld [nr]`), i386 → 3 (the gate), else kill.
    let program = SeccompProgram::new(vec![
        SockFilter::stmt(LD | W | ABS, data::ARCH),
        SockFilter::jump(JMP | JEQ | K, AUDIT_ARCH_X86_64, 2, 0),
        SockFilter::jump(JMP | JEQ | K, AUDIT_ARCH_I386, 0, 3),
        gate::OPEN,
        gate::LOAD_NR,
        SockFilter::stmt(RET | K, ret::ALLOW),
        SockFilter::stmt(RET | K, ret::KILL_PROCESS),
    ])
    .unwrap();
    let policy = CompiledPolicy::builder()
        .seccomp(SeccompSpec {
            compat_gates: vec![CompatGate {
                arch: AUDIT_ARCH_I386,
                at: 3,
            }],
            ..seccomp(program.clone())
        })
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blob_path = dir.path().join("policy.bin");
    std::fs::write(&blob_path, blob::encode(&policy)).unwrap();
    let script = dir.path().join("app.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let attached = |app: &[&std::ffi::OsStr]| {
        let mut child = Command::new(enforcer_bin())
            .arg("--policy")
            .arg(&blob_path)
            .arg("--")
            .args(app)
            .spawn()
            .unwrap();
        let f = attached_filter(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        f
    };
    let mut closed = program.instructions().to_vec();
    closed[3] = gate::CLOSED;
    assert_eq!(attached(&["sleep".as_ref(), "30".as_ref()]), closed);
    assert_eq!(attached(&[script.as_os_str()]), program.instructions());
}

#[test]
fn sigpipe_is_reset_for_the_program() {
    // The enforcer is a Rust program (SIGPIPE ignored by its runtime); a C program
    // exec'd from it must start with SIGPIPE at SIG_DFL.
    let o = run_blob(
        &blob::encode(&CompiledPolicy::builder().build().unwrap()),
        &[],
        &[],
        &["/bin/grep", "SigIgn", "/proc/self/status"],
    );
    o.assert_ran();
    let ign = u64::from_str_radix(o.line("SigIgn").as_str(), 16).unwrap();
    assert_eq!(
        ign & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE ignored: {ign:#x}"
    );
}

#[test]
fn bad_blobs_never_run_the_program() {
    let good = blob::encode(&CompiledPolicy::builder().build().unwrap());
    let mut corrupt = good.clone();
    *corrupt.last_mut().unwrap() ^= 0x40;
    let truncated = good[..good.len() - 3].to_vec();
    let mut version = good.clone();
    version[8] = 9;
    let mut trailing = good.clone();
    trailing.push(0);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let m = marker.to_str().unwrap();
    for (name, b, needle) in [
        ("corrupt", corrupt, "XXH64 checksum"),
        ("truncated", truncated, "truncated"),
        ("wrong version", version, "format version 9"),
        ("trailing", trailing, "trailing"),
        ("empty", Vec::new(), "bad magic"),
    ] {
        let o = run_blob(&b, &[], &[], &[PROBE, "write", m]);
        o.assert_refused(123, "policy");
        assert!(o.stderr.contains(needle), "{name}: {}", o.stderr);
        assert!(!marker.exists(), "{name}: the program ran");
    }
    // Control: the good blob runs it.
    run_blob(&good, &[], &[], &[PROBE, "write", m]).assert_ran();
    assert!(marker.exists());
}

#[test]
fn program_not_found_and_usage_errors() {
    let good = blob::encode(&CompiledPolicy::builder().build().unwrap());
    let o = run_blob(&good, &[], &[], &["no-such-program-rampart"]);
    o.assert_refused(127, "resolve-program");
    let o = run_blob(&good, &["--bogus"], &[], &[PROBE, "status"]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("usage:"));
}

#[test]
fn userns_child_side_handshake() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.bin");
    let p = CompiledPolicy::builder()
        .user(UserSpec::new(0, 0, vec![]).unwrap())
        .build()
        .unwrap();
    std::fs::write(&policy, blob::encode(&p)).unwrap();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let child = Command::new(enforcer_bin())
        .arg("--policy")
        .arg(&policy)
        .args(["--userns-sync-fd", "0", "--", PROBE, "status"])
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            theirs,
        )))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut b = [0u8];
    ours.read_exact(&mut b).unwrap();
    assert_eq!(b[0], 1, "the child announces it has unshared");
    let pid = child.id();
    std::fs::write(format!("/proc/{pid}/uid_map"), "0 100000 65536\n").unwrap();
    std::fs::write(format!("/proc/{pid}/gid_map"), "0 100000 65536\n").unwrap();
    ours.write_all(&[1]).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status_line(&stdout, "Uid"), "0\t0\t0\t0");
    assert_eq!(status_line(&stdout, "UidMap"), "0 100000 65536");

    // A parent that closes the fd instead of acknowledging: the run fails.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let child = Command::new(enforcer_bin())
        .arg("--policy")
        .arg(&policy)
        .args(["--userns-sync-fd", "0", "--", PROBE, "status"])
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            theirs,
        )))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = &ours;
    r.read_exact(&mut b).unwrap();
    drop(ours);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`userns-sync`"));
    assert!(out.stdout.is_empty());
}

/// What the layout tests read of an ELF64 (little-endian) file.
struct Elf {
    entry: u64,
    /// (name, address, size)
    sections: Vec<(String, u64, u64)>,
    /// (type, address, size in memory)
    segments: Vec<(u32, u64, u64)>,
}

impl Elf {
    fn parse(bytes: &[u8]) -> Elf {
        let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap()) as usize;
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        assert_eq!(&bytes[..5], b"\x7fELF\x02", "not a 64-bit ELF file");
        let (entry, phoff, shoff) = (u64_at(0x18), u64_at(0x20) as usize, u64_at(0x28) as usize);
        let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
        let (shentsize, shnum, shstrndx) = (u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
        let header = |i: usize| shoff + i * shentsize;
        let names = u64_at(header(shstrndx) + 0x18) as usize;
        let sections = (0..shnum)
            .map(|i| {
                let h = header(i);
                let name = &bytes[names + u32_at(h) as usize..];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap()];
                let name = String::from_utf8_lossy(name).into_owned();
                (name, u64_at(h + 0x10), u64_at(h + 0x20))
            })
            .collect();
        let segments = (0..phnum)
            .map(|i| {
                let h = phoff + i * phentsize;
                (u32_at(h), u64_at(h + 0x10), u64_at(h + 0x28))
            })
            .collect();
        Elf {
            entry,
            sections,
            segments,
        }
    }

    fn section(&self, name: &str) -> Option<&(String, u64, u64)> {
        self.sections.iter().find(|s| s.0 == name)
    }

    /// glibc marks its binaries with the ABI note; musl does not.
    fn is_glibc(&self) -> bool {
        self.section(".note.ABI-tag").is_some()
    }
}

/// The static (musl) enforcer relocates itself at every start, and every page
/// that start writes is a copy-on-write fault (about 3 µs each on this kind of
/// VM): its relocations must be packed (DT_RELR, enforcer/build.rs) and the data
/// they write (RELRO) must span at most two pages. Pointer tables are what grow
/// it: an array of `&str` costs 16 relocated bytes per entry (policy::CAP_NAMES
/// is one string for this reason).
#[test]
fn the_static_enforcer_relocates_few_pages() {
    let bin = enforcer_bin();
    let elf = Elf::parse(&std::fs::read(&bin).unwrap());
    if elf.is_glibc() {
        return; // linked without the musl-only flags (enforcer/build.rs)
    }
    let size_of = |name: &str| elf.section(name).map(|s| s.2);
    assert!(
        size_of(".relr.dyn").is_some_and(|n| n > 0),
        "{}: no packed relocations (.relr.dyn)",
        bin.display()
    );
    assert_eq!(
        size_of(".rela.dyn").unwrap_or(0),
        0,
        "unpacked relocations left"
    );
    const PT_GNU_RELRO: u32 = 0x6474_e552;
    let (_, start, size) = *elf
        .segments
        .iter()
        .find(|s| s.0 == PT_GNU_RELRO)
        .expect("a RELRO segment");
    let pages = (start + size).div_ceil(4096) - start / 4096;
    assert!(
        pages <= 2,
        "RELRO ({start:#x}+{size:#x}) spans {pages} pages: one more page fault per launch; \
         look for new tables of pointers"
    );
}

/// The static (musl) enforcer that scripts/build ships has the code every launch
/// runs gathered at the start of its text (enforcer/launch-text.ld): 1-3 text
/// page faults per launch instead of 4-7 (docs/BENCHMARKS.md). The
/// section must exist, come first, hold the entry point (the C runtime's start),
/// and stay within two of the kernel's 64 KiB fault-around windows. glibc builds
/// (the debug build the other tests use) are linked without the script.
#[test]
fn the_static_enforcer_gathers_its_launch_code() {
    let bin = enforcer_bin();
    let elf = Elf::parse(&std::fs::read(&bin).unwrap());
    let launch = elf.section(".text.launch");
    if elf.is_glibc() {
        assert!(
            launch.is_none(),
            "{}: a glibc build got the script",
            bin.display()
        );
        return;
    }
    let (_, start, size) = launch
        .unwrap_or_else(|| panic!("{}: no .text.launch section", bin.display()))
        .clone();
    let text = elf.section(".text").expect(".text");
    assert!(start < text.1, ".text.launch must come before .text");
    let entry = elf.entry;
    assert!(
        (start..start + size).contains(&entry),
        "the entry point {entry:#x} is outside .text.launch ({start:#x}+{size:#x})"
    );
    assert!(
        size <= 128 * 1024,
        ".text.launch grew to {size} bytes: more than two 64 KiB windows; narrow its patterns"
    );
}
