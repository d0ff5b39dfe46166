//! rampart's exports fed to real engines on this kernel: crun runs an OCI
//! bundle whose `config.json` carries `rampart compile --format oci` (and,
//! separately, the `--format crun-annotation` program), bwrap loads
//! `--format bpf` from `--seccomp FD`. Inside, `/proc/self/status` and the
//! probe's raw syscalls must show what `rampart run` shows with the same
//! profile (capability sets, no_new_privs, seccomp mode, every errno).
//!
//! One intended difference, asserted explicitly: a number above rampart's
//! syscall table gets `unknownSyscallAction` (ENOSYS) from rampart's own
//! program (`rampart run`, the crun annotation, bwrap), but crun compiles the
//! OCI rules with libseccomp and has no ENOSYS stub (crun 1.8.1; runc has
//! one), so there it gets `defaultAction`.
//!
//! crun refuses this machine's hybrid cgroup layout ("cgroups in hybrid mode
//! not supported, drop all controllers from cgroupv2"): it runs inside
//! `unshare -m` after unmounting `/sys/fs/cgroup/unified` there, with
//! `--cgroup-manager=disabled` and its own `--root`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rampart_tests::{Scratch, rampart_bin, text};
use serde_json::{Value, json};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// The default profile plus one rule with an errno nothing else returns, so
/// a match proves the profile's filter decided.
const PROFILE: &str = "apiVersion: rampart.dev/v1\nkind: SecurityProfile\nmetadata: {name: live}\nextends: default\nseccomp:\n  syscalls:\n    - {names: [getppid], action: errno(ENOTCONN)}\n";

/// x86_64 calls and the errno the profile gives each: unshare(CLONE_NEWUSER),
/// mount, keyctl, clone(CLONE_NEWUSER|SIGCHLD), socket(AF_ALG),
/// socket(AF_UNIX), personality(0xffffffff), personality(ADDR_NO_RANDOMIZE),
/// x32 mount, clone3 (ENOSYS by rule), getppid (the profile's ENOTCONN),
/// getpid, then a number above the table (last: see the module comment).
const CALLS: &[(&str, i64)] = &[
    ("272,0x10000000", 1),
    ("165,0,0,0,0,0", 1),
    ("250,0", 1),
    ("56,0x10000011", 1),
    ("41,38,5,0", 1),
    ("41,1,1,0", 0),
    ("135,0xffffffff", 0),
    ("135,0x40000", 1),
    ("0x400000a5,0,0,0,0,0", 1),
    ("435,0,0", 38),
    ("110", 107),
    ("39", 0),
    ("500", 38),
];

const STATUS_KEYS: &[&str] = &[
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
];

struct Env {
    scratch: Scratch,
    profile: PathBuf,
}

impl std::ops::Deref for Env {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        &self.scratch
    }
}

impl Env {
    fn new() -> Env {
        let scratch = Scratch::new(None);
        let profile = scratch.path("live.yaml");
        std::fs::write(&profile, PROFILE).unwrap();
        Env { scratch, profile }
    }

    fn compile(&self, format: &str) -> Vec<u8> {
        let o = Command::new(rampart_bin())
            .args(["compile", "--format", format])
            .arg(&self.profile)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "compile --format {format}: {}",
            text(&o)
        );
        o.stdout
    }

    /// `rampart run` with the same profile: the reference.
    fn rampart_run(&self, args: &[&str]) -> Output {
        self.scratch
            .rampart_run()
            .arg("--security-profile")
            .arg(&self.profile)
            .arg("--")
            .arg(PROBE)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// An OCI bundle: a busybox-static rootfs, the host's libraries and the
    /// probe bind-mounted read-only, `crun spec` defaults with `overlay`
    /// merged in, running `PROBE args`.
    fn bundle(&self, name: &str, overlay: &Value, args: &[&str]) -> PathBuf {
        let b = self.path(name);
        let rootfs = b.join("rootfs");
        for d in ["bin", "usr/lib", "usr/lib64", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("busybox-static is installed (scripts/test installs it)");
        std::os::unix::fs::symlink("usr/lib", rootfs.join("lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib64", rootfs.join("lib64")).unwrap();
        std::fs::write(rootfs.join("probe"), b"").unwrap();
        let o = Command::new("crun")
            .arg("spec")
            .current_dir(&b)
            .output()
            .expect("crun is installed (scripts/test installs it)");
        assert!(o.status.success(), "crun spec: {}", text(&o));
        let path = b.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        let mut argv = vec!["/probe"];
        argv.extend(args);
        config["process"]["args"] = json!(argv);
        let mounts = config["mounts"].as_array_mut().unwrap();
        for d in ["/usr/lib", "/usr/lib64"] {
            mounts.push(
                json!({"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro"]}),
            );
        }
        mounts.push(json!({"destination": "/probe", "type": "bind", "source": PROBE, "options": ["bind", "ro"]}));
        rampart::export::merge_fragment(&mut config, overlay);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        b
    }

    fn crun(&self, bundle: &Path, id: &str) -> Output {
        let script = "if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 90; fi; exec crun --cgroup-manager=disabled --root \"$1\" run --bundle \"$2\" \"$3\"";
        Command::new("unshare")
            .args(["-m", "sh", "-c", script, "sh"])
            .arg(self.path("crun-state"))
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .expect("unshare (util-linux)")
    }
}

fn status(o: &Output) -> Vec<(String, String)> {
    let out = text(o);
    assert!(o.status.success(), "{out}");
    STATUS_KEYS
        .iter()
        .map(|k| {
            let v = out
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}:")))
                .unwrap_or_else(|| panic!("no {k} in {out}"));
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

fn errnos(o: &Output) -> Vec<i64> {
    let out = text(o);
    assert!(o.status.success(), "{out}");
    out.lines()
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("errno=")))
        .map(|e| e.parse().unwrap())
        .collect()
}

fn syscall_args() -> Vec<&'static str> {
    let mut v = vec!["syscalls"];
    v.extend(CALLS.iter().map(|c| c.0));
    v
}

fn expected() -> Vec<i64> {
    CALLS.iter().map(|c| c.1).collect()
}

/// The reference: `rampart run` shows the profile's errnos and a filter.
fn reference(env: &Env) -> (Vec<(String, String)>, Vec<i64>) {
    let st = status(&env.rampart_run(&["status"]));
    assert!(st.contains(&("Seccomp".into(), "2".into())), "{st:?}");
    assert!(st.contains(&("NoNewPrivs".into(), "1".into())), "{st:?}");
    let e = errnos(&env.rampart_run(&syscall_args()));
    assert_eq!(e, expected(), "rampart run");
    (st, e)
}

#[test]
fn crun_runs_the_oci_export_like_rampart_run() {
    let env = Env::new();
    let (st, want) = reference(&env);
    let fragment: Value = serde_json::from_slice(&env.compile("oci")).unwrap();
    let b = env.bundle("oci-status", &fragment, &["status"]);
    assert_eq!(
        status(&env.crun(&b, "rampart-oci-status")),
        st,
        "crun status"
    );
    let b = env.bundle("oci-calls", &fragment, &syscall_args());
    let got = errnos(&env.crun(&b, "rampart-oci-calls"));
    let n = want.len();
    assert_eq!(got[..n - 1], want[..n - 1], "crun with the OCI export");
    // Above the table: crun has no ENOSYS stub, libseccomp gives the default.
    assert_eq!(got[n - 1], 1, "crun above the table: defaultAction (EPERM)");
}

#[test]
fn crun_runs_the_annotation_program_like_rampart_run() {
    let env = Env::new();
    let (st, want) = reference(&env);
    let mut overlay: Value = serde_json::from_slice(&env.compile("oci")).unwrap();
    // The annotation alone carries the filter.
    overlay["linux"].as_object_mut().unwrap().remove("seccomp");
    overlay["annotations"] = serde_json::from_slice(&env.compile("crun-annotation")).unwrap();
    let b = env.bundle("ann-status", &overlay, &["status"]);
    assert_eq!(
        status(&env.crun(&b, "rampart-ann-status")),
        st,
        "crun status"
    );
    let b = env.bundle("ann-calls", &overlay, &syscall_args());
    assert_eq!(
        errnos(&env.crun(&b, "rampart-ann-calls")),
        want,
        "crun with rampart's program: every errno, ENOSYS above the table included"
    );
}

#[test]
fn bwrap_loads_the_bpf_export_like_rampart_run() {
    let env = Env::new();
    let (_, want) = reference(&env);
    let bpf = env.path("live.bpf");
    std::fs::write(&bpf, env.compile("bpf")).unwrap();
    let run = |args: &[&str]| {
        // bwrap reads the program from fd 3; the shell opens it there.
        Command::new("sh")
            .args([
                "-c",
                "f=$1; shift; exec bwrap --ro-bind / / --dev /dev --proc /proc --seccomp 3 \"$@\" 3<\"$f\"",
                "sh",
            ])
            .arg(&bpf)
            .arg(PROBE)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("bwrap (bubblewrap)")
    };
    let o = run(&["status"]);
    let st = status(&o);
    assert!(st.contains(&("Seccomp".into(), "2".into())), "{st:?}");
    assert_eq!(errnos(&run(&syscall_args())), want, "bwrap --seccomp");
}
