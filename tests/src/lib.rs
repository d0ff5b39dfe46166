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
