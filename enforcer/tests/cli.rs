//! Command-line behaviour of the real `rampart-enforce` binary that needs no
//! privileges. (Its presence also makes `cargo test -p rampart-enforce` build the
//! binary that the live tests in `tests/` run.)

use std::process::Command;

use rampart_enforce::blob;
use rampart_enforce::policy::CompiledPolicy;

const BIN: &str = env!("CARGO_BIN_EXE_rampart-enforce");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn help_prints_usage_and_exit_codes() {
    for flag in ["--help", "-h"] {
        let o = run(&[flag]);
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with("usage: rampart-enforce"), "{out}");
        assert!(out.contains("127 PROGRAM"), "{out}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["--policy", "x"],
        &["--", "true"],
        &["--policy", "x", "--frob", "--", "true"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("usage: rampart-enforce"),
            "{args:?}"
        );
    }
    let o = run(&["--policy", "x", "--report-fd", "77", "--", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("fd 77 is not open"));
}

#[test]
fn unreadable_or_invalid_policy_exits_123_and_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let o = run(&["--policy", "/nonexistent/policy", "--", "sh", "-c", &touch]);
    assert_eq!(o.status.code(), Some(123));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("step `policy`") && stderr.contains("/nonexistent/policy"),
        "{stderr}"
    );
    let bad = dir.path().join("bad");
    let mut b = blob::encode(&CompiledPolicy::builder().build().unwrap());
    b[8] = 7;
    std::fs::write(&bad, &b).unwrap();
    let o = run(&["--policy", bad.to_str().unwrap(), "--", "sh", "-c", &touch]);
    assert_eq!(o.status.code(), Some(123));
    assert!(String::from_utf8_lossy(&o.stderr).contains("byte 8: policy format version 7"));
    assert!(!marker.exists());
}

#[test]
fn program_not_found_exits_127() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    std::fs::write(
        &p,
        blob::encode(&CompiledPolicy::builder().build().unwrap()),
    )
    .unwrap();
    let o = run(&[
        "--policy",
        p.to_str().unwrap(),
        "--",
        "no-such-program-rampart",
    ]);
    assert_eq!(o.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&o.stderr).contains("step `resolve-program`"));
}
