//! The `convert` and `resolve --pod` subcommands (compiled here from their
//! source files until the lead wires them into `main.rs`).

#[path = "../src/cli/convert.rs"]
mod convert;
#[path = "../src/cli/resolve_pod.rs"]
mod resolve_pod;

use clap::Parser;

#[derive(Parser, Debug)]
enum Cmd {
    Convert(convert::Args),
    Resolve(resolve_pod::Args),
}

fn run(args: &[&str]) -> u8 {
    match Cmd::try_parse_from(std::iter::once("rampart").chain(args.iter().copied())).unwrap() {
        Cmd::Convert(a) => convert::run(a),
        Cmd::Resolve(a) => resolve_pod::run(a),
    }
}

fn testdata(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn convert_writes_the_profile_and_detects_formats() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.yaml");
    let o = out.to_str().unwrap();
    assert_eq!(
        run(&["convert", &testdata("docker-default.json"), "-o", o]),
        0
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("@default-allow"));
    assert_eq!(
        run(&[
            "convert",
            "--from",
            "seccompiler",
            &testdata("firecracker-x86_64.json"),
            "--filter",
            "vcpu",
            "-o",
            o
        ]),
        0
    );
    assert_eq!(
        run(&[
            "convert",
            "--from",
            "seccompiler",
            &testdata("firecracker-x86_64.json"),
            "-o",
            o
        ]),
        1
    );
    assert_eq!(
        run(&[
            "convert",
            "--from",
            "spo",
            &testdata("spo-seccompprofile.yaml"),
            "--filter",
            "profile-block-all",
            "-o",
            o
        ]),
        0
    );
    assert_eq!(run(&["convert", &testdata("nope.json")]), 2);
    assert_eq!(run(&["convert", &testdata("k8s-default-pod.yaml")]), 2);
}

#[test]
fn resolve_reports_and_pss_fails() {
    assert_eq!(
        run(&["resolve", "--pod", &testdata("k8s-default-pod.yaml")]),
        0
    );
    assert_eq!(
        run(&[
            "resolve",
            "--pod",
            &testdata("k8s-default-pod.yaml"),
            "--format",
            "json",
            "--pss",
            "baseline"
        ]),
        0
    );
    assert_eq!(
        run(&[
            "resolve",
            "--pod",
            &testdata("k8s-security-context-4.yaml"),
            "--pss",
            "restricted"
        ]),
        1
    );
    assert_eq!(
        run(&["resolve", "--pod", &testdata("k8s-audit-pod.yaml")]),
        1
    );
}
