//! Live oracle for the capability steps, which the enforcer makes with bare
//! `prctl`/`capset` calls: in a child process, apply a policy's capability sets
//! with the real kernel, then read every set back with the `caps` crate and from
//! `/proc/self/status` (which also shows numbers newer than any table) and
//! compare them with the bitmasks the policy asked for.
//!
//! Each case starts from a hostile inherited state: CAP_NET_RAW inheritable and
//! ambient (checked before applying), which no case asks to keep ambient.
//!
//! `harness = false`: the apply sequence refuses a multi-threaded process, and
//! libtest runs every test on a thread of its own. So this binary runs each case
//! in a child process of its own (it re-executes itself, a fresh single-threaded
//! process): the irreversible credential changes never touch the process that
//! checks the results. Needs root (as the live tests in `tests/` do), and fails,
//! never skips, without it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::process::{Command, ExitCode};

use caps::{CapSet, Capability};
use rampart_enforce::apply::{ApplyOptions, apply};
use rampart_enforce::policy::{CAP_ALL, CapSets, CompiledPolicy, UserSpec};
use rampart_enforce::report::Report;
use rampart_enforce::sys::{
    Features, Kernel, LinuxKernel, PrctlFlag, PreparedExec, Probe, exit_now,
};

const CASE_VAR: &str = "RAMPART_CAPS_LIVE_CASE";

const NET_BIND_SERVICE: u64 = 1 << 10;
const NET_RAW: u64 = 1 << 13;
/// Docker's / OCI's default 14 capabilities: CHOWN, DAC_OVERRIDE, FOWNER, FSETID,
/// KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD,
/// AUDIT_WRITE, SETFCAP.
const DEFAULT_CAPS: u64 = 0xa804_25fb;

struct Case {
    name: &'static str,
    caps: CapSets,
    uid: Option<u32>,
    no_new_privs: bool,
}

/// `held`: the permitted set the test starts with (a container or VM may lack some).
fn cases(held: u64) -> Vec<Case> {
    let both = NET_BIND_SERVICE | NET_RAW;
    let case = |name, caps: Result<CapSets, _>, uid, no_new_privs| Case {
        name,
        caps: caps.unwrap(),
        uid,
        no_new_privs,
    };
    vec![
        // The default shape: nothing inheritable, so capset alone empties ambient.
        case("default", CapSets::effective_only(DEFAULT_CAPS), None, true),
        case(
            "default-without-nnp",
            CapSets::effective_only(DEFAULT_CAPS),
            None,
            false,
        ),
        case("none", Ok(CapSets::none()), None, true),
        // Pitfall 10: a non-root user keeps one capability, ambient.
        case(
            "ambient-uid-1000",
            CapSets::new(
                NET_BIND_SERVICE,
                NET_BIND_SERVICE,
                NET_BIND_SERVICE,
                NET_BIND_SERVICE,
                NET_BIND_SERVICE,
            ),
            Some(1000),
            true,
        ),
        // NET_RAW stays permitted and inheritable but not ambient: capset leaves
        // the inherited ambient NET_RAW in place, so it must be cleared.
        case(
            "inheritable-not-ambient",
            CapSets::new(both, both, both, both, NET_BIND_SERVICE),
            None,
            true,
        ),
        // Every capability this process holds, in every set.
        case(
            "everything-held",
            CapSets::new(held, held, held, held, held),
            None,
            true,
        ),
    ]
}

/// [`LinuxKernel`] up to `execve`, which it skips: the child then reads its own
/// capabilities as the program would have received them.
struct UpToExec(LinuxKernel);

impl Kernel for UpToExec {
    fn thread_count(&mut self) -> io::Result<usize> {
        self.0.thread_count()
    }
    fn prctl_flag(&mut self, flag: PrctlFlag, on: bool) -> io::Result<()> {
        self.0.prctl_flag(flag, on)
    }
    fn sanitize_inherited(&mut self, keep: &[i32]) -> io::Result<()> {
        self.0.sanitize_inherited(keep)
    }
    fn open_procfs(&mut self) -> io::Result<()> {
        self.0.open_procfs()
    }
    fn features(&mut self, probe: Probe) -> io::Result<Features> {
        self.0.features(probe)
    }
    fn unshare_userns(&mut self) -> io::Result<()> {
        self.0.unshare_userns()
    }
    fn sync_exchange(&mut self, fd: i32) -> io::Result<()> {
        self.0.sync_exchange(fd)
    }
    fn set_personality(&mut self, persona: u32) -> io::Result<()> {
        self.0.set_personality(persona)
    }
    fn exec_label(&mut self, label: Option<&str>) -> io::Result<()> {
        self.0.exec_label(label)
    }
    fn drop_bounding(&mut self, keep: u64) -> io::Result<()> {
        self.0.drop_bounding(keep)
    }
    fn setgroups(&mut self, groups: &[u32]) -> io::Result<()> {
        self.0.setgroups(groups)
    }
    fn setresgid(&mut self, gid: u32) -> io::Result<()> {
        self.0.setresgid(gid)
    }
    fn setresuid(&mut self, uid: u32) -> io::Result<()> {
        self.0.setresuid(uid)
    }
    fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
        self.0.capset(effective, permitted, inheritable)
    }
    fn set_ambient(&mut self, ambient: u64, clear: bool) -> io::Result<()> {
        self.0.set_ambient(ambient, clear)
    }
    fn landlock_prepare(&mut self, spec: &rampart_enforce::policy::LandlockSpec) -> io::Result<()> {
        self.0.landlock_prepare(spec)
    }
    fn landlock_restrict(&mut self) -> io::Result<landlock::RulesetStatus> {
        self.0.landlock_restrict()
    }
    fn check_exec_paths(
        &mut self,
        cwd: Option<&std::ffi::CStr>,
        program: &std::ffi::CStr,
    ) -> io::Result<()> {
        self.0.check_exec_paths(cwd, program)
    }
    fn install_seccomp(&mut self, spec: &rampart_enforce::policy::SeccompSpec) -> io::Result<()> {
        self.0.install_seccomp(spec)
    }
    fn execve(&mut self, _exec: &PreparedExec) -> io::Result<()> {
        Ok(())
    }
}

/// The capability masks of this process: `caps` crate sets, keyed by set name.
fn caps_crate_masks() -> BTreeMap<&'static str, u64> {
    [
        ("bounding", CapSet::Bounding),
        ("permitted", CapSet::Permitted),
        ("effective", CapSet::Effective),
        ("inheritable", CapSet::Inheritable),
        ("ambient", CapSet::Ambient),
    ]
    .into_iter()
    .map(|(name, set)| {
        let caps = caps::read(None, set).unwrap_or_else(|e| panic!("caps::read {name}: {e}"));
        (name, caps.iter().fold(0, |m, c| m | c.bitmask()))
    })
    .collect()
}

/// The same five masks from `/proc/self/status`, whole (no table involved).
fn status_masks() -> BTreeMap<&'static str, u64> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = |key: &str| {
        let v = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} line"));
        u64::from_str_radix(v.trim(), 16).unwrap()
    };
    BTreeMap::from([
        ("bounding", line("CapBnd:")),
        ("permitted", line("CapPrm:")),
        ("effective", line("CapEff:")),
        ("inheritable", line("CapInh:")),
        ("ambient", line("CapAmb:")),
    ])
}

fn status_uid() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The child: set up the hostile inherited state, apply, compare. Exits 0 when
/// every set matches, 1 with the differences on stderr otherwise.
fn child(case: &Case) -> ! {
    caps::raise(None, CapSet::Inheritable, Capability::CAP_NET_RAW).unwrap();
    caps::raise(None, CapSet::Ambient, Capability::CAP_NET_RAW).unwrap();
    assert_eq!(
        caps_crate_masks()["ambient"],
        NET_RAW,
        "control: the child starts with an inherited ambient capability"
    );

    let mut policy = CompiledPolicy::builder()
        .caps(case.caps)
        .no_new_privs(case.no_new_privs);
    if let Some(uid) = case.uid {
        policy = policy.user(UserSpec::new(uid, uid, vec![]).unwrap());
    }
    let policy = policy.build().unwrap();
    let me = std::env::current_exe().unwrap();
    let exec = PreparedExec::inheriting_env(&me, &[OsString::from("program")]).unwrap();
    let opts = ApplyOptions {
        userns_sync_fd: None,
        cwd: None,
        exec: &exec,
    };
    let mut kernel = UpToExec(LinuxKernel::new("/proc"));
    if let Err(e) = apply(&mut kernel, &policy, &opts, &mut Report::new(None)) {
        eprintln!("{}: apply failed: {e}", case.name);
        exit_now(1);
    }

    let c = case.caps;
    let want = BTreeMap::from([
        ("bounding", c.bounding()),
        ("permitted", c.permitted()),
        ("effective", c.effective()),
        ("inheritable", c.inheritable()),
        ("ambient", c.ambient()),
    ]);
    let mut ok = true;
    for (oracle, got) in [
        ("caps::read", caps_crate_masks()),
        ("/proc/self/status", status_masks()),
    ] {
        for (set, w) in &want {
            if got[set] != *w {
                eprintln!(
                    "{}: {oracle} {set} = {:#x}, the policy asked for {w:#x}",
                    case.name, got[set]
                );
                ok = false;
            }
        }
    }
    if let Some(uid) = case.uid {
        let want = format!("{uid} {uid} {uid} {uid}");
        if status_uid() != want {
            eprintln!("{}: Uid {} instead of {want}", case.name, status_uid());
            ok = false;
        }
    }
    exit_now(if ok { 0 } else { 1 })
}

fn main() -> ExitCode {
    let cases = cases(status_masks()["permitted"] & CAP_ALL);
    if let Ok(name) = std::env::var(CASE_VAR) {
        let case = cases.iter().find(|c| c.name == name).expect("known case");
        child(case);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1));
    if euid != Some("0") {
        eprintln!("caps_live: needs root (effective uid 0) to set capabilities and uids");
        return ExitCode::FAILURE;
    }
    let me = std::env::current_exe().unwrap();
    let mut failed = 0;
    for case in &cases {
        let out = Command::new(&me).env(CASE_VAR, case.name).output().unwrap();
        let verdict = if out.status.success() { "ok" } else { "FAILED" };
        println!("caps_live {} ... {verdict}", case.name);
        if !out.status.success() {
            failed += 1;
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            eprintln!("({}: {})", case.name, out.status);
        }
    }
    println!(
        "caps_live: {} passed, {failed} failed",
        cases.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
