//! Live tests for the pitfalls of `enforcer-order.md` that `enforce_live.rs` and
//! `run_live.rs` do not cover: 4 (the allowed half of Docker's `clone` rule), 5 (the `int $0x80` gate and x32 numbers on a
//! filter without those ABIs), 11 (file capabilities), 12 (no capability
//! section) and 15 (mounts after Landlock). Each runs the real `rampart run` →
//! `rampart-enforce` → app chain, and each pairs the protected run with a
//! control that differs only in the protection, so the test fails if the
//! protection goes missing rather than passing by accident of the machine.
#![cfg(target_arch = "x86_64")]

use std::process::{Command, Output};

use rampart_tests::{Scratch, enforcer_bin, field, rampart_bin, text};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl).
const I386_GETPID: &str = "20";
const I386_GETPPID: &str = "64";
/// Killed by the filter's SIGSYS, as `rampart run` reports it (128 + N).
const KILLED_BY_SECCOMP: i32 = 128 + libc::SIGSYS;
/// Docker's / OCI's default 14 capabilities.
const DEFAULT_CAPS: &str = "00000000a80425fb";
const CAP_NET_RAW: &str = "0000000000002000";
const NO_CAPS: &str = "0000000000000000";

struct Env(Scratch);

impl std::ops::Deref for Env {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        // The unprivileged apps of the capability tests exec copies kept here.
        Env(Scratch::new(Some("a+rx")))
    }

    /// `rampart run --security-profile PROFILE -- PROGRAM…` (optionally behind a launcher).
    fn run_program(&self, launch: &[&str], profile: &str, program: &[&str]) -> Output {
        let mut c = Command::new(if launch.is_empty() {
            rampart_bin().into_os_string()
        } else {
            PROBE.into()
        });
        if !launch.is_empty() {
            c.args(launch).arg("--").arg(rampart_bin());
        }
        c.arg("run")
            .arg("--security-profile")
            .arg(profile)
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--enforcer")
            .arg(enforcer_bin())
            .arg("--")
            .args(program);
        c.output().unwrap()
    }

    fn run(&self, profile: &str, args: &[&str]) -> Output {
        let mut program = vec![PROBE];
        program.extend_from_slice(args);
        self.run_program(&[], profile, &program)
    }
}

/// The `ret=R errno=E` line of a probe call that ran to completion.
fn result(o: &Output) -> (i64, i32) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("ret="))
        .unwrap_or_else(|| panic!("no result in {}", text(o)));
    let mut it = line.split_whitespace();
    let ret = it.next().and_then(|w| w.strip_prefix("ret=")).unwrap();
    let err = it.next().and_then(|w| w.strip_prefix("errno=")).unwrap();
    (ret.parse().unwrap(), err.parse().unwrap())
}

fn assert_killed(o: &Output) {
    assert_eq!(o.status.code(), Some(KILLED_BY_SECCOMP), "{}", text(o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("ret="),
        "the call returned: {}",
        text(o)
    );
}

#[test]
fn p4_fork_passes_the_masked_clone_rule_that_denies_namespaces() {
    // Docker's rule allows clone when `flags & namespace_mask == 0`. The deny
    // half (CLONE_NEWUSER) is asserted in run_live.rs; this is the allow half:
    // glibc's fork() is clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD),
    // which an over-eager lowering of the masked comparison would deny. The
    // filter only allows clone through that rule, so "ok" means it matched.
    let env = Env::new();
    let o = env.run("default", &["fork"]);
    assert_eq!(text(&o).trim(), "ok", "{}", text(&o));
    let o = env.run("default", &["syscall", "56", "0x10000011"]);
    assert_eq!(result(&o), (-1, libc::EPERM));
    // Control: a child rule denying clone outright (a child's rules come
    // first) makes the same fork fail: the probe's fork really is a clone, and
    // under `default` the masked rule is what let it through.
    let no_clone = env.profile(
        "no-clone.yaml",
        "extends: default\nseccomp:\n  syscalls:\n    - {names: [clone], action: errno(EPERM)}\n",
    );
    let o = env.run(&no_clone, &["fork"]);
    assert_eq!(
        text(&o).trim(),
        format!("errno={}", libc::EPERM),
        "{}",
        text(&o)
    );
}

#[test]
fn p5_int80_from_x86_64_is_a_foreign_arch_unless_x86_is_listed() {
    let env = Env::new();
    // Control: this kernel runs `int $0x80` from a 64-bit process (IA32
    // emulation on), so a kill below is the filter's doing.
    let direct = Command::new(PROBE)
        .args(["int80", I386_GETPID])
        .output()
        .unwrap();
    let (pid, errno) = result(&direct);
    assert!(pid > 0 && errno == 0, "{}", text(&direct));

    // Without x86 in `architectures` the call carries AUDIT_ARCH_I386: the
    // bad-arch action (kill-process by default). A filter that skipped the
    // arch check would look up i386 number 20 in the x86_64 tree, where 20 is
    // writev, which the default profile allows: the call would return a pid.
    let only64 = env.profile(
        "only64.yaml",
        "extends: default\nseccomp: {architectures: [x86_64]}\n",
    );
    assert_killed(&env.run(&only64, &["int80", I386_GETPID]));
    // The same filter lets the native getpid through: only the ABI differs.
    assert_eq!(result(&env.run(&only64, &["syscall", "39"])).1, 0);
    // A configured bad-arch action is the one used.
    let errno_arch = env.profile(
        "only64-eperm.yaml",
        "extends: default\nseccomp: {architectures: [x86_64], badArchAction: errno(EPERM)}\n",
    );
    assert_eq!(
        result(&env.run(&errno_arch, &["int80", I386_GETPID])),
        (-1, libc::EPERM)
    );

    // With x86 listed, the i386 tree decides: getpid allowed, and a rule that
    // exists only on x86 (`arches: [x86]`) denies i386 getppid while x86_64
    // getppid stays allowed.
    let with32 = env.profile(
        "with32.yaml",
        "extends: default\nseccomp:\n  architectures: [x86_64, x86]\n  syscalls:\n    - {names: [getppid], action: errno(EACCES), arches: [x86]}\n",
    );
    let (pid, errno) = result(&env.run(&with32, &["int80", I386_GETPID]));
    assert!(pid > 0 && errno == 0, "pid {pid} errno {errno}");
    assert_eq!(
        result(&env.run(&with32, &["int80", I386_GETPPID])),
        (-1, libc::EACCES)
    );
    let (ppid, errno) = result(&env.run(&with32, &["syscall", "110"]));
    assert!(ppid > 0 && errno == 0, "ppid {ppid} errno {errno}");
}

#[test]
fn p5_x32_numbers_without_x32_get_the_bad_arch_action() {
    let env = Env::new();
    // x32 getpid: x86_64's AUDIT_ARCH token with bit 30 set.
    let x32_getpid = "0x40000027";
    // Control: under `native` (x32 listed) the x32 tree allows it and this
    // kernel, built without the x32 ABI, answers ENOSYS: the process lives.
    assert_eq!(
        result(&env.run("default", &["syscall", x32_getpid])),
        (-1, libc::ENOSYS)
    );
    // Without x32 it is killed. Had the number fallen through to the x86_64
    // tree it would be above the table and get unknownSyscallAction (ENOSYS),
    // the same answer as the control: the kill is what proves the guard.
    let no_x32 = env.profile(
        "no-x32.yaml",
        "extends: default\nseccomp: {architectures: [x86_64, x86]}\n",
    );
    assert_killed(&env.run(&no_x32, &["syscall", x32_getpid]));
}

#[test]
fn p11_file_capabilities_never_raise_the_apps_permitted_set() {
    let env = Env::new();
    // Copies of the probe with file capabilities: NET_RAW permitted (+p, a
    // capability-aware program), NET_RAW permitted and effective (+ep, a
    // "capability-dumb" one) and NET_RAW inheritable (+ei, which only counts
    // when the process has NET_RAW inheritable too).
    let mut copies = Vec::new();
    for (name, caps) in [
        ("probe-p", "cap_net_raw+p"),
        ("probe-ep", "cap_net_raw+ep"),
        ("probe-ei", "cap_net_raw+ei"),
    ] {
        let copy = env.path(name);
        std::fs::copy(PROBE, &copy).unwrap();
        let o = Command::new("setcap")
            .arg(caps)
            .arg(&copy)
            .output()
            .unwrap_or_else(|e| panic!("setcap (Debian package libcap2-bin): {e}"));
        assert!(o.status.success(), "setcap {caps}: {}", text(&o));
        copies.push(copy.display().to_string());
    }
    let (p, ep, ei) = (copies[0].as_str(), copies[1].as_str(), copies[2].as_str());
    // `extends: default` for its filter; the sets below replace its capabilities.
    let user = "extends: default\nuser: {uid: 1000, gid: 1000}\n";

    // Control: uid 1000, no_new_privs off, NET_RAW left in the bounding set:
    // both binaries gain it (the file capability really is honoured).
    let open = env.profile(
        "open.yaml",
        &format!("{user}noNewPrivileges: false\ncapabilities: {{bounding: [NET_RAW]}}\n"),
    );
    for bin in [p, ep] {
        let o = env.run_program(&[], &open, &[bin, "status"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            field(&text(&o), "CapPrm"),
            CAP_NET_RAW,
            "{bin}: {}",
            text(&o)
        );
    }

    // The bounding set, dropped before the uid change: F(permitted) ∩ bounding
    // is empty at exec. Without that step the app would hold NET_RAW.
    let no_bounding = env.profile(
        "no-bounding.yaml",
        &format!("{user}noNewPrivileges: false\ncapabilities: {{drop: [ALL]}}\n"),
    );
    let o = env.run_program(&[], &no_bounding, &[p, "status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(field(&text(&o), "CapPrm"), NO_CAPS, "{}", text(&o));
    // The +ep program cannot get every capability it is marked with, so the
    // kernel refuses to exec it at all (capabilities(7), "safety checking for
    // capability-dumb binaries"): it never runs with or without NET_RAW.
    let o = env.run_program(&[], &no_bounding, &[ep, "status"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("CapPrm"), "{}", text(&o));
    assert!(text(&o).contains("step `execve`"), "{}", text(&o));

    // no_new_privs: the same sets as the control, NNP on; the kernel then
    // refuses every capability gain at exec.
    let nnp = env.profile(
        "nnp.yaml",
        &format!("{user}noNewPrivileges: true\ncapabilities: {{bounding: [NET_RAW]}}\n"),
    );
    for bin in [p, ep] {
        let o = env.run_program(&[], &nnp, &[bin, "status"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(field(&text(&o), "CapPrm"), NO_CAPS, "{bin}: {}", text(&o));
        assert_eq!(field(&text(&o), "NoNewPrivs"), "1");
    }

    // CVE-2022-29162: a launcher hands rampart an inheritable NET_RAW. The
    // bounding set does not limit pI ∩ fI, so only clearing inheritable keeps
    // the +ei binary from gaining NET_RAW (NNP off, bounding empty).
    let leak = ["raise-inh", "0x2000"];
    let o = env.run_program(&leak, &no_bounding, &[ei, "status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(field(&text(&o), "CapInh"), NO_CAPS, "{}", text(&o));
    assert_eq!(field(&text(&o), "CapPrm"), NO_CAPS, "{}", text(&o));
    // Control: a profile that keeps NET_RAW inheritable lets the +ei binary gain it.
    let inheritable = env.profile(
        "inheritable.yaml",
        &format!(
            "{user}noNewPrivileges: false\ncapabilities: {{bounding: [NET_RAW], inheritable: [NET_RAW]}}\n"
        ),
    );
    let o = env.run_program(&leak, &inheritable, &[ei, "status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(field(&text(&o), "CapPrm"), CAP_NET_RAW, "{}", text(&o));
}

#[test]
fn p12_a_profile_without_capabilities_gets_the_runtime_default() {
    let env = Env::new();
    // Control: the launcher (this test, root) holds far more than the default,
    // so "keep what the launcher has" would show up below.
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_ne!(field(&own, "CapEff"), DEFAULT_CAPS);
    // No `extends`, no `capabilities` anywhere in the chain.
    let p = env.profile(
        "bare.yaml",
        "metadata: {name: bare}\nseccomp: {mode: unconfined}\n",
    );
    let o = env.run(&p, &["status"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for k in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(field(&out, k), DEFAULT_CAPS, "{k} in {out}");
    }
    for k in ["CapInh", "CapAmb"] {
        assert_eq!(field(&out, k), NO_CAPS, "{k} in {out}");
    }
}

#[test]
fn p15_mount_after_landlock_restrict_self_is_eperm() {
    let env = Env::new();
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    // SYS_ADMIN and no filter, so neither capabilities nor seccomp can be what
    // denies the mount; the probe mounts only inside its own mount namespace.
    let base = "capabilities: {add: [SYS_ADMIN]}\nseccomp: {mode: unconfined}\n";
    // Control: without Landlock every step works.
    let open = env.profile("open.yaml", base);
    let o = env.run(&open, &["mount-tmpfs", m]);
    assert_eq!(
        text(&o).trim(),
        "unshare=ok private=ok tmpfs=ok",
        "{}",
        text(&o)
    );
    // After restrict_self the kernel refuses any mount change, so whatever
    // mounts (a runtime's rootfs setup, the /proc handle) must come before
    // Landlock, step 7: an order with Landlock first breaks exactly here.
    let sandboxed = env.profile(
        "landlock.yaml",
        &format!(
            "{base}landlock:\n  compatibility: required\n  paths: [{{path: /, access: [read, execute]}}]\n"
        ),
    );
    let o = env.run(&sandboxed, &["mount-tmpfs", m]);
    assert_eq!(
        text(&o).trim(),
        format!("unshare=ok private=errno={}", libc::EPERM),
        "{}",
        text(&o)
    );
}
