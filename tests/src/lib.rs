//! Shared helpers for rampart's end-to-end tests.

use std::path::PathBuf;

/// The `rampart-enforce` binary built in the same target directory as the running
/// test (`<target>/<profile>/rampart-enforce`). `cargo test -p rampart-enforce -p
/// rampart-tests` builds it; `RAMPART_ENFORCE_BIN` overrides the location.
pub fn enforcer_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMPART_ENFORCE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test-binary>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary lives in <target>/<profile>/deps");
    let bin = profile_dir.join("rampart-enforce");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test -p rampart-enforce -p rampart-tests` (or `cargo build -p rampart-enforce` first)",
        bin.display()
    );
    bin
}

/// The live tests change uids, capabilities and mounts of child processes: they
/// need root. Fails (never skips) otherwise, so a green run means they ran.
pub fn require_root() {
    // Reading our own status file is enough; no libc call needed.
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uid_line.split_whitespace().nth(2) == Some("0"),
        "the live enforcer tests need to run as root (effective uid 0), got `{uid_line}`"
    );
}

/// The `rampart` binary from the same target directory (built by
/// `cargo test --workspace`, whose `rampart` tests need it); `RAMPART_BIN` overrides.
pub fn rampart_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMPART_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary lives in <target>/<profile>/deps")
        .join("rampart");
    assert!(
        bin.exists(),
        "{} is missing: run the workspace's tests (`cargo test --workspace`) or `cargo build -p rampart` first",
        bin.display()
    );
    bin
}

/// A live test's scratch directory (removed on drop), with the profile writer and
/// the `rampart run` invocation the end-to-end tests share.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Needs root ([`require_root`]). `mode` is given to `chmod` on the directory
    /// (e.g. `a+rwx`), for tests whose apps run as another user.
    pub fn new(mode: Option<&str>) -> Scratch {
        require_root();
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(mode) = mode {
            let ok = std::process::Command::new("chmod")
                .arg(mode)
                .arg(dir.path())
                .status()
                .expect("chmod");
            assert!(ok.success(), "chmod {mode}");
        }
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a rampart profile (the header is added) and returns its path.
    pub fn profile(&self, name: &str, body: &str) -> String {
        let p = self.path(name);
        std::fs::write(
            &p,
            format!("apiVersion: rampart.dev/v1\nkind: SecurityProfile\n{body}"),
        )
        .expect("write profile");
        p.display().to_string()
    }

    /// `rampart run --cache-dir … --state-dir …` in this directory; the caller adds
    /// the profile options, `--` and the program.
    pub fn rampart_run(&self) -> std::process::Command {
        let mut c = std::process::Command::new(rampart_bin());
        c.arg("run")
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .arg("--state-dir")
            .arg(self.path("state"));
        c
    }
}

/// A command's stdout and stderr, for assertion messages and matching.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The value of a `Key: value` line (as in `/proc/self/status`).
pub fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix(':'))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}
