//! One test per lint rule: a profile that fires it (at the right line) and one
//! that does not. A final test checks every documented code is covered here.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use rampart::arch::Arch;
use rampart::diagnostic::Diagnostic;
use rampart::lint::{self, Pss};
use rampart::resolve::Options;
use rampart::source::SourceFile;

const HEAD: &str = "apiVersion: rampart.dev/v1\nkind: SecurityProfile\n";

static COVERED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

fn opts() -> Options {
    Options {
        arches: Some(vec![Arch::X86_64, Arch::X86, Arch::X32]),
        kernel: (6, 18),
        cap_last_cap: Some(40),
        ..Options::host()
    }
}

fn lint_in(dir: &Path, name: &str, body: &str, pss: Option<Pss>, head: bool) -> Vec<Diagnostic> {
    let text = if head {
        format!("{HEAD}{body}")
    } else {
        body.to_string()
    };
    let path = dir.join(name);
    std::fs::write(&path, &text).unwrap();
    lint::lint_file(
        &SourceFile::new(path.display().to_string(), text),
        &opts(),
        pss,
    )
}

fn lint_str(body: &str) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().unwrap();
    lint_in(dir.path(), "p.yaml", body, None, true)
}

/// `body` must produce `code` on `line` (1-based, counting the two header
/// lines); `clean` must not produce it.
fn case(code: &'static str, body: &str, line: usize, clean: &str) {
    check(code, lint_str(body), line, lint_str(clean));
}

fn check(code: &'static str, fired: Vec<Diagnostic>, line: usize, quiet: Vec<Diagnostic>) {
    COVERED.lock().unwrap().insert(code);
    let hit = fired.iter().find(|d| d.code == code);
    let Some(hit) = hit else {
        panic!("{code} did not fire; got {fired:#?}")
    };
    assert_eq!(hit.position().1, line, "{code} at the wrong line: {hit:#?}");
    assert!(
        !quiet.iter().any(|d| d.code == code),
        "{code} fired on the clean profile: {quiet:#?}"
    );
}

#[test]
fn structural_rules() {
    case(
        "unknown-key",
        "seccomp:\n  defaultActon: allow\n",
        4,
        "seccomp:\n  defaultAction: allow\n",
    );
    case(
        "duplicate-key",
        "noNewPrivileges: true\nnoNewPrivileges: true\n",
        4,
        "noNewPrivileges: true\n",
    );
    case(
        "type-mismatch",
        "noNewPrivileges: yes\n",
        3,
        "noNewPrivileges: true\n",
    );
    case(
        "missing-key",
        "seccomp:\n  syscalls:\n    - names: [read]\n",
        5,
        "seccomp:\n  syscalls:\n    - {names: [read], action: allow}\n",
    );
    case("yaml-syntax", "seccomp: [\n", 4, "seccomp: {}\n");
    case(
        "multiple-documents",
        "seccomp: {}\n---\nseccomp: {}\n",
        4,
        "seccomp: {}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let fired = lint_in(
        dir.path(),
        "v.yaml",
        "apiVersion: rampart.dev/v2\nkind: SecurityProfile\n",
        None,
        false,
    );
    check("unsupported-version", fired, 1, lint_str(""));
    case(
        "unknown-capability",
        "capabilities: {add: [NET_BIND]}\n",
        3,
        "capabilities: {add: [NET_BIND_SERVICE]}\n",
    );
    case(
        "unknown-errno",
        "seccomp: {defaultAction: errno(EPREM)}\n",
        3,
        "seccomp: {defaultAction: errno(EPERM)}\n",
    );
    case(
        "unknown-action",
        "seccomp: {defaultAction: alow}\n",
        3,
        "seccomp: {defaultAction: allow}\n",
    );
    case(
        "unknown-arch",
        "seccomp: {architectures: [amd46]}\n",
        3,
        "seccomp: {architectures: [amd64]}\n",
    );
    case(
        "capabilities-mixed-forms",
        "capabilities:\n  drop: [ALL]\n  bounding: [CHOWN]\n",
        5,
        "capabilities:\n  drop: [ALL]\n",
    );
    case(
        "unknown-access-right",
        "landlock: {paths: [{path: /usr, access: [raed]}]}\n",
        3,
        "landlock: {paths: [{path: /usr, access: [read]}]}\n",
    );
}

fn rule(names: &str, action: &str, when: Option<&str>) -> String {
    let mut s = format!("    - names: [{names}]\n      action: {action}\n");
    if let Some(w) = when {
        s.push_str(&format!("      when: \"{w}\"\n"));
    }
    s
}

fn filter(rules: &[String]) -> String {
    format!(
        "extends: default\nseccomp:\n  syscalls:\n{}",
        rules.concat()
    )
}

#[test]
fn name_and_expression_rules() {
    case(
        "unknown-syscall",
        &filter(&[rule("opne", "allow", None)]),
        6,
        &filter(&[rule("open", "allow", None)]),
    );
    let d = lint_str(&filter(&[rule("opne", "allow", None)]));
    assert_eq!(d[0].help.as_deref(), Some("did you mean `open`?"));
    case(
        "unknown-group",
        &filter(&[rule("\"@defualt-allow\"", "allow", None)]),
        6,
        &filter(&[rule("\"@default-allow\"", "allow", None)]),
    );
    case(
        "invalid-expression",
        &filter(&[rule("read", "allow", Some("arg0 =="))]),
        8,
        &filter(&[rule("read", "allow", Some("arg0 == 1"))]),
    );
    case(
        "unknown-constant",
        &filter(&[rule("read", "allow", Some("arg0 == AF_INTE"))]),
        8,
        &filter(&[rule("read", "allow", Some("arg0 == AF_INET"))]),
    );
    case(
        "arg-index-out-of-range",
        &filter(&[rule("read", "allow", Some("arg6 == 1"))]),
        8,
        &filter(&[rule("read", "allow", Some("arg5 == 1"))]),
    );
    case(
        "constant-out-of-range",
        &filter(&[rule("ioctl", "allow", Some("u32(arg1) == 0x100000000"))]),
        8,
        &filter(&[rule("ioctl", "allow", Some("u32(arg1) == 0xffffffff"))]),
    );
    // Only some requested arches have `umount` (x86 does; x86_64 and x32 do not).
    case(
        "syscall-not-on-arch",
        &filter(&[rule("umount", "errno(EPERM)", None)]),
        6,
        &filter(&[rule("umount2", "errno(EPERM)", None)]),
    );
}

#[test]
fn decision_rules() {
    case(
        "shadowed-rule",
        &filter(&[
            rule("read", "allow", None),
            rule("read", "allow", Some("arg0 == 1")),
        ]),
        8,
        &filter(&[
            rule("read", "allow", Some("arg0 == 1")),
            rule("read", "allow", None),
        ]),
    );
    case(
        "conflicting-rules",
        &filter(&[
            rule("getpid", "allow", None),
            rule("getpid", "errno(EPERM)", None),
        ]),
        8,
        &filter(&[
            rule("getpid", "allow", None),
            rule("getppid", "errno(EPERM)", None),
        ]),
    );
    case(
        "dangerous-syscall",
        &filter(&[rule("bpf", "allow", None)]),
        6,
        &filter(&[rule("bpf", "errno(EPERM)", None)]),
    );
    case(
        "dangerous-syscall",
        &filter(&[rule("personality", "allow", None)]),
        6,
        &filter(&[rule("personality", "allow", Some("arg0 == 0"))]),
    );
    case(
        "dangerous-syscall",
        &filter(&[rule("socket", "allow", None)]),
        6,
        &filter(&[rule("socket", "allow", Some("arg0 == AF_INET"))]),
    );
    let acked = format!(
        "{}      acknowledge: [dangerous-syscall]\n",
        filter(&[rule("bpf", "allow", None)])
    );
    assert!(
        !lint_str(&acked)
            .iter()
            .any(|d| d.code == "dangerous-syscall")
    );
    case(
        "kill-thread",
        &filter(&[rule("getpid", "kill-thread", None)]),
        7,
        &filter(&[rule("getpid", "kill-process", None)]),
    );
    case(
        "missing-exec-essentials",
        "seccomp:\n  defaultAction: errno(EPERM)\n  syscalls:\n    - {names: [read, write], action: allow}\n",
        4,
        "seccomp:\n  defaultAction: errno(EPERM)\n  syscalls:\n    - {names: [read, write, execve, exit_group, rt_sigreturn], action: allow}\n",
    );
    // No `seccomp` section and no parent: the default filter has no rules. The
    // finding points at the document (line 1); a parent's filter silences it.
    check(
        "missing-exec-essentials",
        lint_str("metadata: {name: bare}\n"),
        1,
        lint_str("extends: default\nmetadata: {name: child}\n"),
    );
    case(
        "legacy-pair-incomplete",
        &filter(&[rule("mkdirat", "errno(EACCES)", None)]),
        6,
        &filter(&[rule("mkdir, mkdirat", "errno(EACCES)", None)]),
    );
    case(
        "ioctl-64bit-compare",
        &filter(&[rule("ioctl", "errno(EPERM)", Some("arg1 == TIOCSTI"))]),
        8,
        &filter(&[rule("ioctl", "errno(EPERM)", Some("u32(arg1) == TIOCSTI"))]),
    );
    case(
        "seccomp-unconfined",
        "seccomp: {mode: unconfined}\n",
        3,
        "seccomp: {mode: filter}\n",
    );
}

#[test]
fn privilege_rules() {
    case(
        "no-new-privileges-off",
        "noNewPrivileges: false\n",
        3,
        "noNewPrivileges: true\n",
    );
    case(
        "dangerous-capability",
        "capabilities: {add: [SYS_ADMIN]}\n",
        3,
        "capabilities: {add: [NET_BIND_SERVICE]}\n",
    );
    case(
        "ambient-not-inheritable",
        "capabilities:\n  bounding: [NET_BIND_SERVICE]\n  permitted: [NET_BIND_SERVICE]\n  effective: []\n  inheritable: []\n  ambient: [NET_BIND_SERVICE]\n",
        8,
        "capabilities:\n  drop: [ALL]\n  add: [NET_BIND_SERVICE]\n  ambient: [NET_BIND_SERVICE]\n",
    );
    case(
        "ambient-not-in-bounding",
        "capabilities:\n  drop: [ALL]\n  ambient: [NET_BIND_SERVICE]\n",
        5,
        "capabilities:\n  ambient: [NET_BIND_SERVICE]\n",
    );
    case(
        "capability-set-invariant",
        "capabilities:\n  bounding: [CHOWN]\n  permitted: [CHOWN]\n  effective: [KILL]\n",
        6,
        "capabilities:\n  bounding: [CHOWN]\n  permitted: [CHOWN]\n  effective: [CHOWN]\n",
    );
    case(
        "redundant-capability",
        "capabilities: {drop: [ALL, CHOWN]}\n",
        3,
        "capabilities: {drop: [ALL]}\n",
    );
    case(
        "selinux-label-syntax",
        "selinux: {label: \"system_u:system_r\"}\n",
        3,
        "selinux: {label: \"system_u:system_r:container_t:s0\"}\n",
    );
    case(
        "landlock-relative-path",
        "landlock: {paths: [{path: usr, access: [read]}]}\n",
        3,
        "landlock: {paths: [{path: /usr, access: [read]}]}\n",
    );
    case(
        "userns-map-overlap",
        "userNamespace:\n  mode: explicit\n  uidMappings:\n    - {containerID: 0, hostID: 100000, size: 65536}\n    - {containerID: 1000, hostID: 300000, size: 10}\n",
        7,
        "userNamespace:\n  mode: explicit\n  uidMappings:\n    - {containerID: 0, hostID: 100000, size: 1000}\n    - {containerID: 1000, hostID: 300000, size: 10}\n",
    );
}

#[test]
fn capability_not_in_kernel() {
    let mut o = opts();
    o.cap_last_cap = Some(37);
    let f = |body: &str| {
        lint::lint_file(
            &SourceFile::new("p.yaml", format!("{HEAD}{body}")),
            &o,
            None,
        )
    };
    check(
        "capability-not-in-kernel",
        f("capabilities: {add: [BPF]}\n"),
        3,
        f("capabilities: {add: [CHOWN]}\n"),
    );
    let warned = f("capabilities: {add: [BPF], compatibility: best-effort}\n");
    assert!(warned.iter().all(|d| !d.is_error()), "{warned:#?}");
}

#[test]
fn extends_rules() {
    let dir = tempfile::tempdir().unwrap();
    lint_in(dir.path(), "b.yaml", "extends: a.yaml\n", None, true);
    let fired = lint_in(dir.path(), "a.yaml", "extends: b.yaml\n", None, true);
    let quiet = lint_in(dir.path(), "c.yaml", "extends: default\n", None, true);
    check("extends-cycle", fired.clone(), 3, quiet);
    assert!(
        fired[0].message.contains("a.yaml → ") && fired[0].message.contains("b.yaml"),
        "{}",
        fired[0].message
    );
    let fired = lint_in(dir.path(), "d.yaml", "extends: missing.yaml\n", None, true);
    check(
        "extends-not-found",
        fired,
        3,
        lint_in(dir.path(), "e.yaml", "extends: c.yaml\n", None, true),
    );
}

#[test]
fn group_file_rules() {
    let dir = tempfile::tempdir().unwrap();
    let g = |name: &str, body: &str| {
        lint_in(
            dir.path(),
            name,
            &format!("apiVersion: rampart.dev/v1\nkind: SyscallGroups\ngroups:\n{body}"),
            None,
            false,
        )
    };
    check(
        "group-cycle",
        g(
            "a.yaml",
            "  - {name: x, syscalls: [\"@y\"]}\n  - {name: y, syscalls: [\"@x\"]}\n",
        ),
        4,
        g(
            "b.yaml",
            "  - {name: x, syscalls: [read]}\n  - {name: y, syscalls: [\"@x\"]}\n",
        ),
    );
    check(
        "duplicate-group",
        g(
            "c.yaml",
            "  - {name: x, syscalls: [read]}\n  - {name: x, syscalls: [write]}\n",
        ),
        5,
        g("d.yaml", "  - {name: x, syscalls: [read]}\n"),
    );
    check(
        "unknown-syscall",
        g("e.yaml", "  - {name: x, syscalls: [raed]}\n"),
        4,
        g("f.yaml", "  - {name: x, syscalls: [read]}\n"),
    );
}

#[test]
fn pod_security_standards() {
    let dir = tempfile::tempdir().unwrap();
    let fired = lint_in(
        dir.path(),
        "a.yaml",
        "extends: default\n",
        Some(Pss::Restricted),
        true,
    );
    let quiet = lint_in(
        dir.path(),
        "b.yaml",
        "extends: restricted\nuser: {uid: 1000, gid: 1000}\n",
        Some(Pss::Restricted),
        true,
    );
    check("pss-restricted", fired, 3, quiet);
    let fired = lint_in(
        dir.path(),
        "c.yaml",
        "capabilities: {add: [NET_ADMIN]}\n",
        Some(Pss::Baseline),
        true,
    );
    let quiet = lint_in(
        dir.path(),
        "d.yaml",
        "extends: default\n",
        Some(Pss::Baseline),
        true,
    );
    check("pss-baseline", fired, 3, quiet);
    let fired = lint_in(
        dir.path(),
        "e.yaml",
        "selinux: {label: \"system_u:system_r:spc_t:s0\"}\n",
        Some(Pss::Baseline),
        true,
    );
    let quiet = lint_in(
        dir.path(),
        "f.yaml",
        "selinux: {type: container_t, level: \"s0:c1,c2\"}\n",
        Some(Pss::Baseline),
        true,
    );
    check("pss-baseline", fired, 3, quiet);
}

#[test]
fn yaml_limits() {
    let mut bomb = String::from("x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
    for i in 0..10 {
        let p = if i == 0 {
            "a".into()
        } else {
            format!("l{}", i - 1)
        };
        bomb.push_str(&format!(
            "y{i}: &l{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        ));
    }
    check("yaml-too-large", lint_str(&bomb), 8, lint_str(""));
    let deep = format!("seccomp: {}{}\n", "[".repeat(100), "]".repeat(100));
    check("yaml-too-deep", lint_str(&deep), 3, lint_str(""));
}

/// Runs last by name order within this binary is not guaranteed, so it runs
/// every other test body itself before comparing.
#[test]
fn every_rule_has_a_test() {
    structural_rules();
    name_and_expression_rules();
    decision_rules();
    privilege_rules();
    capability_not_in_kernel();
    extends_rules();
    group_file_rules();
    pod_security_standards();
    yaml_limits();
    let covered = COVERED.lock().unwrap().clone();
    let missing: Vec<&str> = lint::RULES
        .iter()
        .map(|r| r.0)
        .filter(|c| !covered.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a firing/non-firing test: {missing:?}"
    );
}
