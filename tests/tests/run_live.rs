//! `rampart run` end to end on this kernel: real profiles compiled by rampart,
//! applied by the real enforcer in a real child, observed from inside the app.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rampart_tests::{Scratch, enforcer_bin, field, rampart_bin, text};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

struct Env(Scratch);

impl std::ops::Deref for Env {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        // Let an unprivileged test user reach the work dir.
        Env(Scratch::new(Some("a+rwX")))
    }

    fn command(&self, profile: &str, args: &[&str]) -> Command {
        let mut c = self.rampart_run();
        c.arg("--security-profile")
            .arg(profile)
            .arg("--")
            .arg(PROBE)
            .args(args);
        c
    }

    fn run(&self, profile: &str, args: &[&str]) -> Output {
        self.command(profile, args).output().unwrap()
    }
}

/// `ret=R errno=E` lines of the probe's `syscalls` subcommand.
fn errnos(out: &str) -> Vec<i64> {
    out.lines()
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("errno=")))
        .map(|e| e.parse().unwrap())
        .collect()
}

const DEFAULT_CAPS: &str = "00000000a80425fb";

#[test]
fn default_profile_sets_every_mechanism() {
    let env = Env::new();
    let o = env.run("default", &["status"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for (k, v) in [
        ("CapBnd", DEFAULT_CAPS),
        ("CapEff", DEFAULT_CAPS),
        ("CapPrm", DEFAULT_CAPS),
        ("CapInh", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
        ("NoNewPrivs", "1"),
        ("Seccomp", "2"),
    ] {
        assert_eq!(field(&out, k), v, "{k} in {out}");
    }
}

#[test]
fn default_profile_denies_escapes_with_the_profiles_errno() {
    let env = Env::new();
    // unshare(CLONE_NEWUSER), mount, keyctl, bpf, open_by_handle_at,
    // clone(CLONE_NEWUSER|SIGCHLD), x32 mount → EPERM; io_uring_setup, clone3 and a
    // number newer than the table → ENOSYS; getpid still works.
    let calls = [
        "272,0x10000000",
        "165,0,0,0,0,0",
        "250,0",
        "321,0,0,0",
        "425,1,0",
        "304,0xffffffffffffffff,0,0",
        "56,0x10000011",
        "0x400000a5,0,0,0,0,0",
        "435,0,0",
        "500",
        "39",
    ];
    let mut args = vec!["syscalls"];
    args.extend(calls);
    let o = env.run("default", &args);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // io_uring_setup (5th) is ENOSYS: pitfall 17, so liburing falls back.
    assert_eq!(errnos(&out), [1, 1, 1, 1, 38, 1, 1, 1, 38, 38, 0], "{out}");
}

#[test]
fn default_profile_argument_rules_hold_in_the_kernel() {
    let env = Env::new();
    // socket(AF_ALG) and socket(AF_VSOCK) denied, socket(AF_UNIX) allowed (the fd is
    // leaked, harmlessly); personality: the query 0xffffffff allowed, ADDR_NO_RANDOMIZE denied;
    // clone(CLONE_NEWUSER|SIGCHLD) denied.
    let o = env.run(
        "default",
        &[
            "syscalls",
            "41,38,5,0",
            "41,40,1,0",
            "41,1,1,0",
            "135,0xffffffff",
            "135,0x40000",
            "56,0x10000011",
        ],
    );
    assert_eq!(errnos(&text(&o)), [1, 1, 0, 0, 1, 1], "{}", text(&o));
}

#[test]
fn threads_start_and_the_exit_status_is_the_apps() {
    let env = Env::new();
    let o = env.run("default", &["thread-syscall", "39"]);
    assert!(text(&o).contains("survived"), "{}", text(&o));
    let o = env.run("default", &["exit", "7"]);
    assert_eq!(o.status.code(), Some(7));
}

#[test]
fn a_kill_rule_on_a_worker_thread_kills_the_process() {
    let env = Env::new();
    let p = env.profile(
        "kill.yaml",
        "extends: default\nseccomp:\n  syscalls:\n    - {names: [getppid], action: kill-process}\n",
    );
    let o = env.run(&p, &["thread-syscall", "110"]);
    assert!(!text(&o).contains("survived"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(128 + libc::SIGSYS), "{}", text(&o));
}

#[test]
fn ioctl_u32_rules_see_through_high_bits() {
    let env = Env::new();
    let p = env.profile(
        "tiocsti.yaml",
        "extends: default\nseccomp:\n  syscalls:\n    - {names: [ioctl], action: errno(EPERM), when: \"u32(arg1) == TIOCSTI\"}\n",
    );
    let o = env.run(
        &p,
        &[
            "syscalls",
            "16,0,0x5412",
            "16,0,0x100005412",
            "16,0xffffffffffffffff,0x5413",
        ],
    );
    assert_eq!(errnos(&text(&o)), [1, 1, 9], "{}", text(&o));
}

#[test]
fn restricted_empties_every_capability_set() {
    let env = Env::new();
    let o = env.run("restricted", &["status"]);
    let out = text(&o);
    for k in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(field(&out, k), "0000000000000000", "{k} in {out}");
    }
    assert_eq!(field(&out, "NoNewPrivs"), "1");
}

fn test_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    if !passwd.lines().any(|l| l.starts_with("rampart-test:")) {
        let ok = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/bin/sh",
                "rampart-test",
            ])
            .status()
            .unwrap();
        assert!(ok.success(), "useradd rampart-test");
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let l = passwd
        .lines()
        .find(|l| l.starts_with("rampart-test:"))
        .unwrap();
    let f: Vec<&str> = l.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

fn as_user(mut c: Command) -> Output {
    use std::os::unix::process::CommandExt;
    let (uid, gid) = test_user();
    c.uid(uid)
        .gid(gid)
        .env("HOME", "/tmp")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CACHE_HOME");
    c.output().unwrap()
}

#[test]
fn rootless_runs_in_a_user_namespace_with_the_profiles_sets() {
    let env = Env::new();
    let (uid, _) = test_user();
    let o = as_user(env.command("default", &["status"]));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(field(&out, "UidMap"), format!("0 {uid} 1"), "{out}");
    assert_eq!(field(&out, "CapEff"), DEFAULT_CAPS, "{out}");
    assert_eq!(field(&out, "Seccomp"), "2");
    let o = as_user(env.command("restricted", &["status"]));
    let out = text(&o);
    for k in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(field(&out, k), "0000000000000000", "{k} in {out}");
    }
}

#[test]
fn auto_user_namespaces_get_an_aligned_leased_range() {
    let env = Env::new();
    let p = env.profile(
        "userns.yaml",
        "extends: default\nuserNamespace: {mode: auto, size: 65536}\n",
    );
    let o = env.run(&p, &["status"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let map: Vec<u64> = field(&out, "UidMap")
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!((map[0], map[2]), (0, 65536), "{out}");
    assert_eq!(map[1] % 65536, 0, "{out}");
    assert!(map[1] >= 65536, "{out}");
}

#[test]
fn landlock_allows_listed_paths_and_denies_the_rest() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("allowed")).unwrap();
    std::fs::create_dir_all(env.path("denied")).unwrap();
    let p = env.profile(
        "landlock.yaml",
        &format!(
            "extends: default\nlandlock:\n  compatibility: required\n  paths:\n    - {{path: /, access: [read, execute]}}\n    - {{path: {}, access: [read, write, make, remove]}}\n",
            env.path("allowed").display()
        ),
    );
    let ok = env.run(&p, &["write", &env.path("allowed/f").display().to_string()]);
    assert_eq!(text(&ok).trim(), "ok", "{}", text(&ok));
    let denied = env.run(&p, &["write", &env.path("denied/f").display().to_string()]);
    assert_eq!(text(&denied).trim(), "errno=13", "{}", text(&denied));
}

#[test]
fn a_required_selinux_label_fails_closed_without_selinux() {
    let env = Env::new();
    let p = env.profile(
        "se.yaml",
        "extends: default\nselinux: {type: container_t, level: \"s0:c1,c2\", required: true}\n",
    );
    let o = env.run(&p, &["exit", "0"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("SELinux"), "{}", text(&o));
    let p = env.profile(
        "se2.yaml",
        "extends: default\nselinux: {type: container_t, level: auto, required: false}\n",
    );
    let o = env.run(&p, &["exit", "0"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_failed_step_is_reported_as_rampart_runs_with_its_step() {
    // The child runs the enforcer's code in process, but the user ran `rampart
    // run`: its messages must not name a binary the user never called.
    let env = Env::new();
    let o = env
        .rampart_run()
        .args(["--", "/nonexistent/app"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("rampart run: step `resolve-program`: cannot run /nonexistent/app"),
        "{err}"
    );
}

#[test]
fn a_warm_cache_skips_compilation() {
    let env = Env::new();
    assert!(env.run("default", &["exit", "0"]).status.success());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(env.path("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    // KEY.blob (the policy) and KEY.run (what the run needs from the profile).
    let [blob, facts] = entries.as_slice() else {
        panic!("{entries:?}")
    };
    assert_eq!(blob.extension().unwrap(), "blob");
    assert_eq!(facts.with_extension("blob"), *blob);
    let stamp = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = (stamp(blob), stamp(facts));
    assert!(env.run("default", &["exit", "0"]).status.success());
    assert_eq!((stamp(blob), stamp(facts)), before);
    // A corrupt cache entry (either file) is recompiled, never used.
    std::fs::write(blob, b"garbage").unwrap();
    assert!(env.run("default", &["exit", "0"]).status.success());
    assert!(rampart_enforce::blob::decode(&std::fs::read(blob).unwrap()).is_ok());
    std::fs::write(facts, b"{").unwrap();
    assert!(env.run("default", &["exit", "0"]).status.success());
    assert!(std::fs::read_to_string(facts).unwrap().contains("app_uid"));
}

#[test]
fn an_unwritable_cache_warns_and_the_app_still_runs() {
    // A cache directory that cannot exist (a file stands where it should be), as
    // on a read-only home: the policy compiled for this run is used directly.
    let env = Env::new();
    let blocker = env.path("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let cache = blocker.join("cache").display().to_string();
    let state = env.path("state").display().to_string();
    let enforcer = enforcer_bin().display().to_string();
    for extra in [&[][..], &["--enforcer", &enforcer][..]] {
        let o = Command::new(rampart_bin())
            .args(["run", "--cache-dir", &cache, "--state-dir", &state])
            .args(extra)
            .args(["--", PROBE, "status"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{extra:?}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(field(&out, "Seccomp"), "2", "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot write the policy cache"), "{err}");
        assert!(err.contains("running without it"), "{err}");
    }
    // The per-run policy file of `--enforcer` is gone once the app has exited.
    let left: Vec<_> = std::fs::read_dir(env.path("state"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        !left.iter().any(|n| n.to_string_lossy().ends_with(".blob")),
        "{left:?}"
    );
}

#[test]
fn the_enforcer_binary_and_the_in_process_launch_apply_the_same() {
    // `rampart run` applies the policy in its forked child; `--enforcer` execs
    // rampart-enforce instead. Both must leave the app in the same state.
    let env = Env::new();
    let status = |extra: &[&str]| {
        let mut c = Command::new(rampart_bin());
        c.arg("run")
            .args(["--cache-dir", &env.path("cache").display().to_string()])
            .args(["--state-dir", &env.path("state").display().to_string()])
            .args(extra)
            .args(["--", "/bin/sh", "-c"])
            .arg("grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status");
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let enforcer = enforcer_bin().display().to_string();
    let in_process = status(&[]);
    assert!(in_process.contains("Seccomp:\t2"), "{in_process}");
    assert_eq!(in_process, status(&["--enforcer", &enforcer]));
}

#[test]
fn a_profile_with_errors_never_runs_the_app() {
    let env = Env::new();
    // A key error, found while decoding, and a name error, found while resolving:
    // both are reported, as `rampart lint` would.
    let p = env.profile(
        "bad.yaml",
        "extends: default\nseccomp:\n  defaultActon: allow\n  syscalls: [{names: [opne], action: allow}]\n",
    );
    let marker = env.path("ran");
    let o = env.run(&p, &["write", &marker.display().to_string()]);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(text(&o).contains("error[unknown-key]"), "{}", text(&o));
    assert!(text(&o).contains("error[unknown-syscall]"), "{}", text(&o));
    assert!(text(&o).contains("has errors"), "{}", text(&o));
    assert!(!Path::new(&marker).exists());
}

#[test]
fn signals_are_forwarded_and_a_killed_app_reports_128_plus_the_signal() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let mut c = Command::new(rampart_bin());
    c.arg("run")
        .args(["--cache-dir", &env.path("cache").display().to_string()])
        .args(["--state-dir", &env.path("state").display().to_string()])
        .args(["--", "/bin/sh", "-c"])
        .arg("trap 'exit 42' TERM; echo ready; while :; do sleep 0.02; done")
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    // To rampart only: the app sees it because rampart forwards it.
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(child.wait().unwrap().code(), Some(42));

    let o = Command::new(rampart_bin())
        .arg("run")
        .args(["--cache-dir", &env.path("cache").display().to_string()])
        .args(["--", "/bin/sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128 + 9), "{}", text(&o));
}
