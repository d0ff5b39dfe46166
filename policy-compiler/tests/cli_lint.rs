//! `rampart lint` as a user runs it: rendered text (snapshots), JSON, SARIF
//! (checked against the SARIF 2.1.0 object model), GitHub commands, exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn lint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("lint")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Compares with tests/snapshots/NAME; `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

#[test]
fn text_output_matches_snapshot_and_exit_is_1() {
    let o = lint(&["tests/fixtures/broken.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    snapshot("broken.txt", &stdout(&o));
    let first = stdout(&o).lines().next().unwrap().to_string();
    assert_eq!(
        first,
        "tests/fixtures/broken.yaml:7:3: error[unknown-key]: unknown key `defaultActon` in seccomp"
    );
}

#[test]
fn warnings_pass_unless_strict() {
    let o = lint(&["tests/fixtures/warn.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    snapshot("warn.txt", &stdout(&o));
    assert_eq!(
        lint(&["--strict", "tests/fixtures/warn.yaml"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn usage_errors_and_unreadable_input_exit_2() {
    assert_eq!(lint(&["does/not/exist.yaml"]).status.code(), Some(2));
    assert_eq!(
        lint(&["--format", "xml", "tests/fixtures/warn.yaml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(lint(&[]).status.code(), Some(2));
}

#[test]
fn sarif_is_valid_and_has_real_positions() {
    let o = lint(&["--format", "sarif", "tests/fixtures/broken.yaml"]);
    let text = stdout(&o);
    let log: serde_sarif::sarif::Sarif =
        serde_json::from_str(&text).expect("stdout is exactly one SARIF document");
    assert_eq!(log.version.to_string().trim_matches('"'), "2.1.0");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let first = &results[0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (first["startLine"].as_u64(), first["startColumn"].as_u64()),
        (Some(7), Some(3))
    );
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
    }
    // A clean file still has a results array, and nothing else on stdout.
    let clean = lint(&["--format", "sarif", "../profiles/default.yaml"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&clean)).unwrap();
    assert_eq!(v["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(clean.status.code(), Some(0));
}

#[test]
fn json_and_github_formats() {
    let o = lint(&["--format", "json", "tests/fixtures/broken.yaml"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let codes: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"unknown-syscall") && codes.contains(&"unknown-constant"),
        "{codes:?}"
    );
    let o = lint(&["--format", "github", "tests/fixtures/broken.yaml"]);
    let first = stdout(&o).lines().next().unwrap().to_string();
    assert_eq!(
        first,
        "::error file=tests/fixtures/broken.yaml,line=7,col=3,endLine=7,endColumn=15,title=unknown-key::unknown key `defaultActon` in seccomp"
    );
}

#[test]
fn builtin_profiles_are_clean() {
    let o = lint(&["../profiles"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&lint(&["--format", "json", "../profiles"]))).unwrap();
    for d in v.as_array().unwrap() {
        // Only `privileged` is flagged, and only with warnings.
        assert_eq!(d["severity"], "warning");
        assert!(
            d["location"]["file"]
                .as_str()
                .unwrap()
                .ends_with("privileged.yaml"),
            "{d}"
        );
    }
}

#[test]
fn foreign_profiles_are_linted_directly_detected_or_named() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata");
    let file = |n: &str| shared.join(n).display().to_string();
    // Docker's default, detected: it converts cleanly, and the lint of the
    // converted profile reports at `FILE.yaml` (what `rampart convert` writes).
    let o = lint(&["--format", "json", &file("docker-default.json")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let docker = file("docker-default.json");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|d| d["location"]["file"].as_str() == Some(&format!("{docker}.yaml"))),
        "{v:#}"
    );
    // A seccompiler file with three filters needs --filter; named explicitly.
    let fc = file("firecracker-x86_64.json");
    let o = lint(&["--input-format", "seccompiler", &fc]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("--filter NAME"), "{}", stdout(&o));
    let o = lint(&["--input-format", "seccompiler", "--filter", "vmm", &fc]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A wrong --input-format is the import's error, with its location.
    let o = lint(&["--input-format", "spo", &docker]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

/// `rampart compile` stops at a broken profile with the errors `rampart lint`
/// lists, all of them (the fixture has a key error, found while decoding, and
/// name errors found while resolving), in the same order, each at the path
/// as the user wrote it.
#[test]
fn compile_reports_every_error_lint_reports() {
    let errors = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(": error["))
            .map(str::to_owned)
            .collect()
    };
    let file = "tests/fixtures/broken.yaml";
    let linted = lint(&[file]);
    let compiled = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compile", file])
        .output()
        .unwrap();
    assert_eq!(compiled.status.code(), Some(1));
    let from_lint = errors(&stdout(&linted));
    let from_compile = errors(&String::from_utf8_lossy(&compiled.stderr));
    assert_eq!(from_lint.len(), 4, "{from_lint:#?}");
    assert_eq!(from_compile, from_lint);
    assert!(
        from_compile.iter().all(|l| l.starts_with(file)),
        "{from_compile:#?}"
    );
}
