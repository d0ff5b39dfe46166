//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rampart_userns::procfs::Credentials;

/// Env var telling a re-executed test binary which worker to be.
pub const WORKER_ENV: &str = "RAMPART_USERNS_WORKER";

pub fn is_root() -> bool {
    Credentials::current().unwrap().euid == 0
}

/// The child script: signals that it runs (so `unshare` is done), waits for
/// the parent's line, prints its maps, setgroups and uid, then becomes uid 0
/// inside (possible only if the maps were written) and waits again.
pub const CHILD_SCRIPT: &str = "echo ready; read x; \
    cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; \
    exec setpriv --reuid=0 --regid=0 --keep-groups sh -c 'id -u; id -g; echo mapped; read y'";

/// A `unshare --user sh -c CHILD_SCRIPT` child waiting for its maps.
pub struct NsChild {
    pub child: Child,
    pub pid: u32,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl NsChild {
    /// Spawns the child (as `uid`/`gid` when given) and waits until it has
    /// unshared its user namespace (it printed `ready`).
    pub fn spawn(as_user: Option<(u32, u32)>) -> NsChild {
        let mut cmd = Command::new("unshare");
        cmd.args(["--user", "--keep-caps", "sh", "-c", CHILD_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((u, g)) = as_user {
            cmd.uid(u).gid(g).current_dir("/");
        }
        let mut child = cmd.spawn().expect("spawn unshare");
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut c = NsChild {
            child,
            pid,
            stdin,
            stdout,
        };
        assert_eq!(c.line(), "ready");
        c
    }

    pub fn line(&mut self) -> String {
        let mut s = String::new();
        self.stdout.read_line(&mut s).expect("read child stdout");
        s.trim_end_matches('\n').to_owned()
    }

    pub fn send(&mut self) {
        let i = self.stdin.as_mut().unwrap();
        i.write_all(b"go\n").unwrap();
        i.flush().unwrap();
    }

    /// Sends the go line, then reads: uid_map, gid_map, setgroups, the uid
    /// before switching, and (if the switch worked) uid and gid after.
    pub fn run_to_mapped(&mut self) -> ChildReport {
        self.send();
        let uid_map = self.line();
        let gid_map = self.line();
        let setgroups = self.line();
        let uid_before = self.line();
        let uid_after = self.line();
        let gid_after = self.line();
        let mapped = self.line();
        ChildReport {
            uid_map,
            gid_map,
            setgroups,
            uid_before,
            uid_after,
            gid_after,
            mapped: mapped == "mapped",
        }
    }

    /// Lets the child finish and returns whether it exited 0.
    pub fn finish(mut self) -> bool {
        if let Some(mut i) = self.stdin.take() {
            let _ = i.write_all(b"done\n");
        }
        self.child.wait().unwrap().success()
    }

    pub fn proc_file(&self, f: &str) -> std::path::PathBuf {
        Path::new("/proc").join(self.pid.to_string()).join(f)
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct ChildReport {
    pub uid_map: String,
    pub gid_map: String,
    pub setgroups: String,
    pub uid_before: String,
    pub uid_after: String,
    pub gid_after: String,
    pub mapped: bool,
}

/// A command that re-runs this test binary as worker `kind`, executing only
/// the test `entry`.
pub fn worker_command(kind: &str, entry: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([entry, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(WORKER_ENV, kind);
    cmd
}

/// Reads lines until one starts with `prefix` (or EOF / timeout).
pub fn read_until(r: &mut impl BufRead, prefix: &str, timeout: Duration) -> Option<String> {
    let t0 = Instant::now();
    let mut s = String::new();
    while t0.elapsed() < timeout {
        s.clear();
        if r.read_line(&mut s).ok()? == 0 {
            return None;
        }
        if s.starts_with(prefix) {
            return Some(s.trim_end().to_owned());
        }
    }
    None
}

/// A tiny xorshift PRNG seeded from the clock and pid (no rand dependency).
pub struct Rng(u64);
impl Rng {
    pub fn new() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t ^ (u64::from(std::process::id()) << 32) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
