//! Exports make exactly the decisions of the profile they come from.
//!
//! Proof by round trip: each profile is compiled, exported (`oci`, `kubelet`,
//! `spo`), parsed back with the `oci-spec` types (valid by construction),
//! imported through rampart's own OCI and SPO importers (runc's semantics),
//! compiled again, and both filters are compared on every syscall number of
//! every architecture and on boundary vectors built from every constant and
//! mask either side compares (`support::same_decisions_and`); the emitted
//! BPF programs of both sides are simulated on the same vectors.
//!
//! Differential against libseccomp: the exported OCI rules are fed to
//! libseccomp the way runc feeds them (one `seccomp_rule_add` per rule, args
//! ANDed), its `seccomp_export_bpf` program is simulated against rampart's, for
//! Docker's default profile (imported) and rampart's `default`. Intended
//! differences are mapped in [`libseccomp_expected`].

use std::collections::BTreeSet;
use std::io::{Read, Seek};

use base64::Engine;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, Spec,
};
use rampart::arch::{Arch, X32_SYSCALL_BIT};
use rampart::export;
use rampart::import::{self, Format, ImportOptions};
use rampart::pipeline::{self, CompiledProfile};
use rampart::resolve::Options;
use rampart::seccomp::ir::{Action, FilterIr};
use rampart::seccomp::simulate::{SeccompData, Simulator};
use rampart::source::SourceFile;
use serde_json::Value;

mod support;
use support::{constants, ir_constants, same_decisions_and, testdata};

const AMD64: &[Arch] = &[Arch::X86_64, Arch::X86, Arch::X32];
const ARM64: &[Arch] = &[Arch::Aarch64, Arch::Arm];

fn opts(arches: Option<&[Arch]>) -> Options {
    Options {
        arches: arches.map(<[Arch]>::to_vec),
        kernel: (6, 18),
        ..Options::host()
    }
}

fn compile_yaml(name: &str, yaml: &str, o: &Options) -> CompiledProfile {
    match pipeline::compile_file(SourceFile::new(name, yaml.to_string()), o) {
        Ok(c) => c,
        Err(pipeline::Failure::Diagnostics(d)) => panic!(
            "{name}: {}\n{yaml}",
            d.iter()
                .map(rampart::diagnostic::render_text)
                .collect::<String>()
        ),
        Err(e) => panic!("{name}: {e}"),
    }
}

/// Imports `text` and compiles it for the original's architectures.
fn reimport(format: Format, what: &str, text: &str, arches: &[Arch]) -> CompiledProfile {
    let io = ImportOptions {
        source_name: what.to_string(),
        ..ImportOptions::default()
    };
    let imported = import::load(format, text, &io).unwrap_or_else(|d| {
        panic!(
            "{what}: the export does not import: {}\n{text}",
            d.iter()
                .map(rampart::diagnostic::render_text)
                .collect::<String>()
        )
    });
    compile_yaml(&format!("{what}.yaml"), &imported.yaml, &opts(Some(arches)))
}

/// Both profiles decide alike (IR and emitted BPF); returns the vectors checked.
fn same(what: &str, original: &CompiledProfile, back: &CompiledProfile) -> usize {
    let (a, b) = (original.ir.as_ref().unwrap(), back.ir.as_ref().unwrap());
    let mut cands = BTreeSet::new();
    ir_constants(a, &mut cands);
    ir_constants(b, &mut cands);
    fn sim(c: &CompiledProfile) -> Simulator<'_> {
        Simulator::new(c.filter.as_ref().unwrap().program.instructions()).unwrap()
    }
    let (sa, sb) = (sim(original), sim(back));
    let n = same_decisions_and(what, a, b, &cands, &mut |token, nr, args, want| {
        let d = SeccompData::new(token, nr, args);
        assert_eq!(
            Action::from_ret(sa.run(&d).0),
            want,
            "{what}: original BPF nr {nr}"
        );
        assert_eq!(
            Action::from_ret(sb.run(&d).0),
            want,
            "{what}: re-imported BPF nr {nr}"
        );
    });
    // Foreign architectures: both kill.
    for foreign in [Arch::S390x, Arch::Riscv64] {
        let t = foreign.audit_arch();
        assert_eq!(
            a.evaluate(t, 0, [0; 6]).0,
            b.evaluate(t, 0, [0; 6]).0,
            "{what}: bad arch"
        );
    }
    n
}

/// What the OCI fragment carries besides the filter came back unchanged from the
/// importer: capabilities, no_new_privs, user, SELinux labels, ID maps.
fn same_process_parts(what: &str, c: &CompiledProfile, back: &CompiledProfile) {
    let (a, b) = (&c.resolved, &back.resolved);
    assert_eq!(a.caps, b.caps, "{what}: capabilities");
    assert_eq!(
        a.no_new_privs.value, b.no_new_privs.value,
        "{what}: no_new_privs"
    );
    assert_eq!(a.user, b.user, "{what}: user");
    let labels = |c: &CompiledProfile| {
        let p = c.policy(None).unwrap();
        p.selinux().map(|s| {
            (
                s.process_label().to_string(),
                s.mount_label().map(str::to_string),
            )
        })
    };
    assert_eq!(labels(c), labels(back), "{what}: SELinux labels");
    let maps = |r: &rampart::resolve::Resolved| {
        let explicit = |u: &&rampart::profile::UserNamespace| {
            u.mode.value == rampart::profile::UsernsMode::Explicit
        };
        r.user_namespace.as_ref().filter(explicit).map(|u| {
            let m = |v: &[rampart::profile::IdMapping]| -> Vec<[u32; 3]> {
                v.iter()
                    .map(|x| [x.container_id, x.host_id, x.size])
                    .collect()
            };
            let gid = if u.gid_mappings.is_empty() {
                &u.uid_mappings
            } else {
                &u.gid_mappings
            };
            (m(&u.uid_mappings), m(gid))
        })
    };
    assert_eq!(maps(a), maps(b), "{what}: ID maps");
}

/// Exports `c` in every seccomp format, checks the shapes, and proves each
/// export decides like `c`.
fn proves(what: &str, c: &CompiledProfile) {
    let arches: Vec<Arch> =
        c.ir.as_ref()
            .unwrap()
            .arches
            .iter()
            .map(|a| a.arch)
            .collect();

    // oci: a fragment whose parts parse as oci-spec types, and merge into a full Spec.
    let frag_text = export::oci(c).unwrap_or_else(|e| panic!("{what}: {e}"));
    let frag: Value = serde_json::from_str(&frag_text).unwrap();
    let sec: LinuxSeccomp = serde_json::from_value(frag["linux"]["seccomp"].clone()).unwrap();
    let caps: LinuxCapabilities =
        serde_json::from_value(frag["process"]["capabilities"].clone()).unwrap();
    let names = |s: &Option<oci_spec::runtime::Capabilities>| -> BTreeSet<String> {
        s.iter()
            .flatten()
            .map(|c| {
                serde_json::to_value(c)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let want = |s: rampart::capability::CapSet| -> BTreeSet<String> {
        s.iter().map(|c| c.to_string()).collect()
    };
    let rc = c.resolved.caps;
    assert_eq!(names(caps.bounding()), want(rc.bounding), "{what}");
    assert_eq!(names(caps.effective()), want(rc.effective), "{what}");
    assert_eq!(names(caps.permitted()), want(rc.permitted), "{what}");
    assert_eq!(names(caps.inheritable()), want(rc.inheritable), "{what}");
    assert_eq!(names(caps.ambient()), want(rc.ambient), "{what}");
    assert_eq!(
        frag["process"]["noNewPrivileges"],
        c.resolved.no_new_privs.value
    );
    let spec = merged_spec(&frag);
    assert_eq!(
        spec.linux().as_ref().unwrap().seccomp().as_ref(),
        Some(&sec)
    );
    let back = reimport(
        Format::Oci,
        &format!("{what}.oci.json"),
        &frag_text,
        &arches,
    );
    let n = same(&format!("{what} via oci"), c, &back);
    assert!(n > 1000, "{what}: only {n} vectors");
    same_process_parts(what, c, &back);

    // kubelet: the same seccomp object alone.
    let k = export::kubelet(c).unwrap();
    let kv: Value = serde_json::from_str(&k).unwrap();
    assert_eq!(
        kv, frag["linux"]["seccomp"],
        "{what}: kubelet == linux.seccomp"
    );
    assert_eq!(import::detect(&k), Some(Format::Oci));
    same(
        &format!("{what} via kubelet"),
        c,
        &reimport(Format::Oci, &format!("{what}.json"), &k, &arches),
    );

    // spo: a SeccompProfile resource with the same spec.
    let s = export::spo(c).unwrap();
    assert_eq!(import::detect(&s), Some(Format::Spo), "{s}");
    let doc = &import::yaml_documents(&s).unwrap()[0];
    assert_eq!(doc["kind"], "SeccompProfile");
    assert_eq!(doc["metadata"]["name"], c.resolved.name.as_str());
    assert_eq!(doc["spec"], frag["linux"]["seccomp"], "{what}: spo spec");
    same(
        &format!("{what} via spo"),
        c,
        &reimport(Format::Spo, &format!("{what}.spo.yaml"), &s, &arches),
    );

    // crun annotation: the verified program itself.
    let a: Value = serde_json::from_str(&export::crun_annotation(c).unwrap()).unwrap();
    let b64 = a[export::CRUN_BPF_ANNOTATION].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(bytes, c.filter.as_ref().unwrap().program.to_bytes());
}

/// `crun spec`-like defaults with the fragment merged key by key.
fn merged_spec(frag: &Value) -> Spec {
    let mut base = serde_json::to_value(Spec::default()).unwrap();
    rampart::export::merge_fragment(&mut base, frag);
    serde_json::from_value(base).unwrap()
}

#[test]
fn builtin_profiles_export_exactly() {
    for name in ["default", "restricted"] {
        for arches in [AMD64, ARM64, &[Arch::X86_64][..]] {
            let c = pipeline::compile_reference(name, &opts(Some(arches))).unwrap();
            proves(&format!("{name} {arches:?}"), &c);
        }
    }
}

#[test]
fn docker_default_imported_exports_exactly() {
    let io = ImportOptions {
        source_name: "docker-default.json".into(),
        ..ImportOptions::default()
    };
    let imported = import::load(Format::Docker, &testdata("docker-default.json"), &io).unwrap();
    for arches in [AMD64, ARM64] {
        let c = compile_yaml(
            "docker-default.json.yaml",
            &imported.yaml,
            &opts(Some(arches)),
        );
        proves(&format!("docker-default {arches:?}"), &c);
    }
}

fn import_testdata(format: Format, file: &str, filter: Option<&str>) -> CompiledProfile {
    let io = ImportOptions {
        source_name: file.to_string(),
        filter: filter.map(str::to_string),
        base_dir: Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
        ),
        ..ImportOptions::default()
    };
    let imported =
        import::load(format, &testdata(file), &io).unwrap_or_else(|d| panic!("{file}: {d:?}"));
    compile_yaml(&format!("{file}.yaml"), &imported.yaml, &opts(None))
}

/// Every profile in shared/testdata that rampart imports, and the lint
/// fixture that compiles, exports exactly; those OCI cannot express fail
/// with the reason.
#[test]
fn testdata_profiles_export_exactly_or_say_why() {
    for (format, file) in [
        (Format::Docker, "containers-common-seccomp.json"),
        (Format::Oci, "spo-bpf-recorder.json"),
        (Format::Oci, "spo-security-profiles-operator.json"),
    ] {
        proves(file, &import_testdata(format, file, None));
    }
    let mut spo = 0;
    for file in support::SPO_EXAMPLES {
        for doc in import::yaml_documents(&testdata(file)).unwrap() {
            let name = doc["metadata"]["name"].as_str().unwrap().to_string();
            proves(
                &format!("{file} {name}"),
                &import_testdata(Format::Spo, file, Some(&name)),
            );
            spo += 1;
        }
    }
    assert_eq!(spo, 11, "SPO resources in the examples");
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warn.yaml"),
    )
    .unwrap();
    proves(
        "warn.yaml",
        &compile_yaml("warn.yaml", &fixture, &opts(None)),
    );
    // Firecracker's filters trap syscalls newer than the table; OCI cannot say so.
    for filter in ["vmm", "api", "vcpu"] {
        let c = import_testdata(Format::Seccompiler, "firecracker-x86_64.json", Some(filter));
        let e = export::oci(&c).unwrap_err().to_string();
        assert!(e.contains("unknownSyscallAction trap"), "{filter}: {e}");
    }
}

#[test]
fn privileged_exports_capabilities_and_no_filter() {
    let c = pipeline::compile_reference("privileged", &opts(None)).unwrap();
    let frag_text = export::oci(&c).unwrap();
    let frag: Value = serde_json::from_str(&frag_text).unwrap();
    assert!(frag["linux"].get("seccomp").is_none());
    // Imported again: still no filter (with a warning that says so), and the
    // same capabilities and no_new_privs.
    let io = ImportOptions {
        source_name: "privileged.oci.json".into(),
        ..ImportOptions::default()
    };
    let imported = import::load(Format::Oci, &frag_text, &io).unwrap();
    assert!(
        imported
            .warnings
            .iter()
            .any(|w| w.code == "seccomp-unconfined"),
        "{:?}",
        imported.warnings
    );
    let back = compile_yaml("privileged.oci.json.yaml", &imported.yaml, &opts(None));
    assert!(back.filter.is_none(), "{}", imported.yaml);
    same_process_parts("privileged", &c, &back);
    assert_eq!(frag["process"]["noNewPrivileges"], false);
    let n = frag["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, rampart::capability::CapSet::all().iter().count());
    merged_spec(&frag);
    for e in [
        export::kubelet(&c),
        export::spo(&c),
        export::crun_annotation(&c),
    ] {
        let e = e.unwrap_err().to_string();
        assert!(e.contains("unconfined"), "{e}");
    }
}

const HEAD: &str = "apiVersion: rampart.dev/v1\nkind: SecurityProfile\nmetadata: {name: tricky}\n";

/// First-match rules whose regions need negations, ranges and masks; the
/// export must turn them into disjoint OCI rules.
const TRICKY: &str = r#"noNewPrivileges: true
user: {uid: 1000, gid: 1000, groups: [10, 20]}
selinux: {type: container_t, level: "s0:c1,c2", required: false, mountLabel: "system_u:object_r:container_file_t:s0:c1,c2"}
userNamespace:
  mode: explicit
  uidMappings: [{containerID: 0, hostID: 100000, size: 65536}]
seccomp:
  defaultAction: errno(EPERM)
  architectures: [x86_64, x86, x32]
  tsync: true
  syscalls:
    - names: [ioctl]
      action: errno(EPERM)
      when: u32(arg1) == TIOCSTI
    - names: [ioctl]
      action: allow
    - names: [clone]
      action: errno(EACCES)
      when: arg0 & CLONE_NEWUSER != 0
    - names: [clone]
      action: allow
    - names: [mmap, mprotect]
      action: errno(EACCES)
      when: arg2 & 0x6 == 0x6 && arg3 > 7
    - names: [mmap, mprotect]
      action: allow
      when: arg1 < 0x100000
    - names: [kill]
      action: allow
      when: arg1 >= 1 && arg1 <= 15
    - names: [prctl]
      action: trap
      when: arg0 == 22 || arg0 in [40, 41]
    - names: [prctl]
      action: allow
      when: arg0 != 4 && arg0 != 5
    - names: [getpid, gettid]
      action: log
    - names: [read, write, exit_group, execve, rt_sigreturn]
      action: allow
"#;

#[test]
fn first_match_regions_export_exactly() {
    let c = compile_yaml("tricky.yaml", &format!("{HEAD}{TRICKY}"), &opts(None));
    proves("tricky", &c);
    let frag: Value = serde_json::from_str(&export::oci(&c).unwrap()).unwrap();
    assert_eq!(
        frag["process"]["user"]["additionalGids"],
        serde_json::json!([10, 20])
    );
    assert_eq!(
        frag["process"]["selinuxLabel"],
        "system_u:system_r:container_t:s0:c1,c2"
    );
    assert_eq!(
        frag["linux"]["mountLabel"],
        "system_u:object_r:container_file_t:s0:c1,c2"
    );
    assert_eq!(frag["linux"]["uidMappings"][0]["hostID"], 100000);
    assert_eq!(frag["linux"]["gidMappings"], frag["linux"]["uidMappings"]);
    assert_eq!(
        frag["linux"]["seccomp"]["flags"][0],
        "SECCOMP_FILTER_FLAG_TSYNC"
    );
    // The negated masked equality became one bit test per mask bit.
    let sec: LinuxSeccomp = serde_json::from_value(frag["linux"]["seccomp"].clone()).unwrap();
    let ioctl_allow = sec
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|s| s.names().contains(&"ioctl".to_string()))
        .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow)
        .count();
    assert_eq!(ioctl_allow, 32);
    assert!(
        sec.syscalls().as_ref().unwrap().iter().all(|s| {
            let idx: BTreeSet<usize> = s.args().iter().flatten().map(|a| a.index()).collect();
            idx.len() == s.args().as_ref().map_or(0, Vec::len)
        }),
        "one comparison per argument index in every rule"
    );
    assert!(
        sec.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .flat_map(|s| s.args().iter().flatten())
            .any(|a| a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq)
    );
}

/// Profiles OCI cannot express: the error names the rule's file:line and why.
#[test]
fn inexpressible_profiles_fail_naming_the_rule() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "masked-order",
            "seccomp:\n  syscalls:\n    - names: [socket]\n      action: allow\n      when: arg0 & 0xff < 3\n",
            &["masked-order.yaml:6", "`socket`", "part of the argument"],
        ),
        (
            "range",
            "seccomp:\n  syscalls:\n    - names: [read]\n      action: allow\n      when: arg2 > 3 && arg2 < 100000\n",
            &["range.yaml:6", "`read`", "0x4..=0x1869f"],
        ),
        (
            "negation",
            "seccomp:\n  syscalls:\n    - names: [write]\n      action: errno(EPERM)\n      when: arg0 < 3 || arg0 > 100000\n    - names: [write]\n      action: allow\n",
            &[
                "negation.yaml:9",
                "no earlier rule for `write` does: negation.yaml:6",
                "0x3..=0x186a0",
            ],
        ),
        (
            "per-arch",
            "seccomp:\n  architectures: [x86_64, x86]\n  syscalls:\n    - names: [getpid]\n      action: allow\n      arches: [x86_64]\n",
            &["`getpid`", "x86_64", "x86"],
        ),
        (
            "unknown-action",
            "seccomp:\n  unknownSyscallAction: errno(EPERM)\n  syscalls:\n    - names: [read]\n      action: allow\n",
            &["unknownSyscallAction", "errno(ENOSYS)"],
        ),
        (
            "bad-arch",
            "seccomp:\n  badArchAction: errno(EPERM)\n  syscalls:\n    - names: [read]\n      action: allow\n",
            &["badArchAction"],
        ),
        (
            "landlock",
            "landlock: {paths: [{path: /usr, access: [read]}]}\nseccomp:\n  syscalls:\n    - names: [read]\n      action: allow\n",
            &["landlock.yaml:4", "Landlock"],
        ),
    ];
    for (name, body, needles) in cases {
        let c = compile_yaml(
            &format!("{name}.yaml"),
            &format!("{HEAD}{body}"),
            &opts(Some(AMD64)),
        );
        let e = export::oci(&c).expect_err(name).to_string();
        for n in *needles {
            assert!(e.contains(n), "{name}: `{n}` not in: {e}");
        }
    }
}

// ---------------------------------------------------------------------------
// libseccomp, fed the exported rules like runc.
// ---------------------------------------------------------------------------

fn scmp_action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    let e = errno.unwrap_or(1);
    match a {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(e as i32),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(e as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    }
}

/// runc's `libcontainer/seccomp` (patchbpf aside): the filter with the
/// default action, the architectures, then each rule: without args one
/// `seccomp_rule_add`, with args on distinct indices one conditional rule.
/// Names unknown to libseccomp for an architecture are skipped per arch by
/// libseccomp itself.
fn libseccomp_program(sec: &LinuxSeccomp) -> Vec<rampart_enforce::bpf::SockFilter> {
    let mut f =
        ScmpFilterContext::new(scmp_action(sec.default_action(), sec.default_errno_ret())).unwrap();
    let arches: Vec<ScmpArch> = sec
        .architectures()
        .iter()
        .flatten()
        .map(|a| match a {
            oci_spec::runtime::Arch::ScmpArchX86_64 => ScmpArch::X8664,
            oci_spec::runtime::Arch::ScmpArchX86 => ScmpArch::X86,
            oci_spec::runtime::Arch::ScmpArchX32 => ScmpArch::X32,
            other => panic!("{other:?} is not in this differential"),
        })
        .collect();
    if !arches.contains(&ScmpArch::X8664) {
        f.remove_arch(ScmpArch::Native).unwrap();
    }
    for a in &arches {
        f.add_arch(*a).unwrap();
    }
    for rule in sec.syscalls().iter().flatten() {
        let act = scmp_action(rule.action(), rule.errno_ret());
        let cmps: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                let op = match a.op() {
                    LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                    LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                    LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                    LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                    LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                    LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                    LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(a.value()),
                };
                let datum = if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                    a.value_two().unwrap_or(0)
                } else {
                    a.value()
                };
                ScmpArgCompare::new(a.index() as u32, op, datum)
            })
            .collect();
        for name in rule.names() {
            // runc resolves names on the native arch and skips unknown ones;
            // libseccomp translates a native name to each filter arch.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let r = if cmps.is_empty() {
                f.add_rule(act, sc)
            } else {
                f.add_rule_conditional(act, sc, &cmps)
            };
            r.unwrap_or_else(|e| panic!("seccomp_rule_add {name} {act:?} {cmps:?}: {e}"));
        }
    }
    let mut file = tempfile::tempfile().unwrap();
    f.export_bpf(&file).unwrap();
    file.rewind().unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    rampart_enforce::bpf::SockFilter::parse_raw(&bytes)
}

/// Syscall numbers (per arch token) whose names this libseccomp does not
/// resolve to rampart's number on that arch: names newer than its tables
/// (runc skips unknown names, so they get the default), and pseudo-numbers
/// it rewrites itself (x86 socket calls).
fn unknown_to_libseccomp<'a>(
    names: impl IntoIterator<Item = &'a String>,
    ir: &FilterIr,
) -> BTreeSet<(u32, u32)> {
    let mut out = BTreeSet::new();
    for name in names {
        for a in &ir.arches {
            let Some(nr) = a.arch.table().nr(name) else {
                continue;
            };
            let theirs = ScmpSyscall::from_name_by_arch(name, baselines::scmp_arch(a.arch))
                .map(|s| s.as_raw_syscall());
            if theirs.map_or(true, |t| t as u32 != nr) {
                out.insert((a.arch.audit_arch(), nr));
            }
        }
    }
    out
}

/// What rampart must return given libseccomp's decision (the intended
/// differences, docs/ASSURANCE.md): numbers above the table without rules get
/// rampart's unknownSyscallAction (runc's ENOSYS stub; libseccomp alone
/// returns the default); a foreign arch token gets rampart's badArchAction
/// (kill-process) where libseccomp's default is kill-thread; syscalls newer
/// than this libseccomp (its name table) get libseccomp's default and
/// rampart's rule (counted and printed).
fn libseccomp_expected(
    ir: &FilterIr,
    unknown: &BTreeSet<(u32, u32)>,
    token: u32,
    nr: u32,
    args: [u64; 6],
    lib: Action,
) -> Action {
    match ir.route(token, nr) {
        Some(a) if !a.syscalls.contains_key(&nr) && nr > a.max_known_nr => {
            assert_eq!(lib, a.default_action, "libseccomp above the table");
            a.unknown_action
        }
        Some(a) if unknown.contains(&(token, nr)) => {
            // Either skipped (the default) or reached through libseccomp's own
            // rewriting (x86 socket calls resolve to pseudo-numbers).
            let ours = a.evaluate(nr, &args).0;
            assert!(
                lib == a.default_action || lib == ours,
                "{}: {:?} ({nr:#x}): libseccomp {lib:?}, rampart {ours:?}",
                a.arch,
                a.arch.table().name(nr)
            );
            ours
        }
        None => {
            // libseccomp's own default is kill-thread; runc's callers may set it.
            assert!(
                matches!(lib, Action::KillThread | Action::KillProcess),
                "libseccomp's bad-arch action: {lib:?}"
            );
            ir.bad_arch_action
        }
        _ => lib,
    }
}

fn libseccomp_differential(what: &str, c: &CompiledProfile) -> usize {
    let frag: Value = serde_json::from_str(&export::oci(c).unwrap()).unwrap();
    let sec: LinuxSeccomp = serde_json::from_value(frag["linux"]["seccomp"].clone()).unwrap();
    let program = libseccomp_program(&sec);
    let names = sec.syscalls().iter().flatten().flat_map(|r| r.names());
    let unknown = unknown_to_libseccomp(names, c.ir.as_ref().unwrap());
    compare_with_libseccomp(what, c, &program, &unknown, &frag["linux"]["seccomp"])
}

/// Simulates libseccomp's `program` against rampart's for `c` on every number
/// and boundary vector (constants from `rules_json` and the IR), up to the
/// intended differences of [`libseccomp_expected`].
fn compare_with_libseccomp(
    what: &str,
    c: &CompiledProfile,
    program: &[rampart_enforce::bpf::SockFilter],
    unknown: &BTreeSet<(u32, u32)>,
    rules_json: &Value,
) -> usize {
    let theirs = Simulator::new(program).unwrap();
    let ours = Simulator::new(c.filter.as_ref().unwrap().program.instructions()).unwrap();
    let ir = c.ir.as_ref().unwrap();
    let mut cands = BTreeSet::new();
    constants(rules_json, &mut cands);
    ir_constants(ir, &mut cands);
    let mut n = 0;
    let mut tokens: Vec<(u32, Vec<u32>)> = ir
        .arches
        .iter()
        .map(|a| {
            let base = if a.arch == Arch::X32 {
                X32_SYSCALL_BIT
            } else {
                0
            };
            let max = a.arch.table().max_nr() & !X32_SYSCALL_BIT;
            (
                a.arch.audit_arch(),
                (0..=max + 64).map(|x| x | base).collect(),
            )
        })
        .collect();
    tokens.push((Arch::Aarch64.audit_arch(), vec![0, 1, 59, 400]));
    for (token, nrs) in tokens {
        for nr in nrs {
            // libseccomp compares only the low word on x86 and x32 (the
            // kernel zero-extends on x86): vectors there have zero high words.
            let narrow = token == Arch::X86.audit_arch() || nr & X32_SYSCALL_BIT != 0;
            let rules = ir.route(token, nr).and_then(|a| a.syscalls.get(&nr));
            let mut vs = match rules {
                Some(r) if !r.is_empty() => support::vectors(r, &cands),
                _ => vec![[0; 6], [u64::MAX; 6]],
            };
            if narrow {
                for a in &mut vs {
                    a.iter_mut().for_each(|x| *x &= 0xffff_ffff);
                }
            }
            for args in vs {
                let d = SeccompData::new(token, nr, args);
                let lib = Action::from_ret(theirs.run(&d).0);
                let got = Action::from_ret(ours.run(&d).0);
                let want = libseccomp_expected(ir, unknown, token, nr, args, lib);
                assert_eq!(
                    got, want,
                    "{what}: token {token:#x} nr {nr:#x} args {args:x?}: rampart {got:?}, libseccomp {lib:?}"
                );
                n += 1;
            }
        }
    }
    let names: BTreeSet<String> = unknown
        .iter()
        .filter_map(|&(token, nr)| {
            let a = ir
                .arches
                .iter()
                .find(|a| a.arch.audit_arch() == token && a.reaches(nr))?;
            Some(format!("{}/{}", a.arch, a.arch.table().name(nr)?))
        })
        .collect();
    println!(
        "{what}: {n} vectors; names libseccomp {} does not resolve to rampart's number ({}): {}",
        libseccomp::ScmpVersion::current().map_or("?".into(), |v| format!(
            "{}.{}.{}",
            v.major, v.minor, v.micro
        )),
        names.len(),
        names.into_iter().collect::<Vec<_>>().join(" ")
    );
    n
}

#[test]
fn libseccomp_fed_the_export_decides_like_rampart() {
    let io = ImportOptions {
        source_name: "docker-default.json".into(),
        ..ImportOptions::default()
    };
    let imported = import::load(Format::Docker, &testdata("docker-default.json"), &io).unwrap();
    let docker = compile_yaml(
        "docker-default.json.yaml",
        &imported.yaml,
        &opts(Some(AMD64)),
    );
    let n = libseccomp_differential("docker-default.json", &docker);
    assert!(n > 5000, "{n}");
    let default = pipeline::compile_reference("default", &opts(Some(AMD64))).unwrap();
    libseccomp_differential("default", &default);
    let tricky = compile_yaml(
        "tricky.yaml",
        &format!("{HEAD}{TRICKY}"),
        &opts(Some(AMD64)),
    );
    libseccomp_differential("tricky", &tricky);
}

// Docker's loader and the libseccomp baseline of the benchmarks: Docker's
// `includes`/`excludes` and runc's rule-by-rule `seccomp_rule_add`, written
// independently of rampart's importer.
use rampart::seccomp::ir;
use rampart_enforce::bpf::SockFilter;
#[path = "../benches/support/baselines.rs"]
mod baselines;
#[path = "../benches/support/docker.rs"]
mod docker;

#[test]
fn docker_default_through_libseccomp_like_runc_decides_like_rampart() {
    // libseccomp fed Docker's default.json the way moby and runc feed it (host
    // amd64, the 14 default capabilities, kernel 6.18): no rampart code between
    // the JSON and libseccomp. rampart compiles the same file through its importer.
    let json = testdata("docker-default.json");
    let profile = docker::load_default(AMD64, false);
    let program = baselines::libseccomp_program(&profile, 1);
    let io = ImportOptions {
        source_name: "docker-default.json".into(),
        ..ImportOptions::default()
    };
    let imported = import::load(Format::Docker, &json, &io).unwrap();
    let c = compile_yaml(
        "docker-default.json.yaml",
        &imported.yaml,
        &opts(Some(AMD64)),
    );
    let names = profile.named.iter().map(|(n, _, _)| n);
    let unknown = unknown_to_libseccomp(names, c.ir.as_ref().unwrap());
    let rules: Value = serde_json::from_str(&json).unwrap();
    let n = compare_with_libseccomp(
        "docker-default.json via runc",
        &c,
        &program,
        &unknown,
        &rules,
    );
    assert!(n > 5000, "{n}");
}

// ---------------------------------------------------------------------------
// `rampart compile --out-dir`.
// ---------------------------------------------------------------------------

fn rampart(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .output()
        .unwrap()
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn out_dir_compiles_a_directory_deterministically() {
    let src = tempfile::tempdir().unwrap();
    let p = |n: &str| src.path().join(n);
    std::fs::write(p("web.yaml"), "apiVersion: rampart.dev/v1\nkind: SecurityProfile\nmetadata: {name: web}\nextends: default\ncapabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}\n").unwrap();
    std::fs::write(p("base.yml"), format!("{HEAD}{TRICKY}")).unwrap();
    std::fs::write(p("broken.yaml"), "apiVersion: rampart.dev/v1\nkind: SecurityProfile\nmetadata: {name: broken}\nseccomp:\n  syscalls:\n    - names: [nosuchcall]\n      action: allow\n").unwrap();
    std::fs::write(p("spo.yaml"), testdata("spo-seccompprofile.yaml")).unwrap();
    std::fs::write(p("notes.txt"), "not a profile").unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A stale output of the failing profile must not survive.
    std::fs::write(a.path().join("broken.oci.json"), "stale").unwrap();
    for format in ["oci", "blob", "spo", "kubelet", "crun-annotation", "bpf"] {
        for out in [a.path(), b.path()] {
            let o = rampart(&[
                "compile",
                "--format",
                format,
                "--out-dir",
                out.to_str().unwrap(),
                src.path().to_str().unwrap(),
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{format}: {err}");
            assert!(err.contains("nosuchcall"), "{err}");
            assert!(
                err.contains("skipping") && err.contains("spo.yaml") && err.contains("notes.txt"),
                "{err}"
            );
            assert!(err.contains("2 profile(s) compiled"), "{err}");
        }
    }
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa, fb, "two runs, identical bytes");
    let names: Vec<&str> = fa.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "base.blob",
            "base.bpf",
            "base.crun.json",
            "base.json",
            "base.oci.json",
            "base.spo.yaml",
            "web.blob",
            "web.bpf",
            "web.crun.json",
            "web.json",
            "web.oci.json",
            "web.spo.yaml",
        ]
    );
    // The outputs are what single compiles write.
    let one = rampart(&[
        "compile",
        "--format",
        "oci",
        p("web.yaml").to_str().unwrap(),
    ]);
    assert_eq!(one.status.code(), Some(0));
    assert_eq!(
        fa.iter().find(|f| f.0 == "web.oci.json").unwrap().1,
        one.stdout
    );
}

/// Every output of `rampart compile` shows the same compat gate: the JSON
/// summary's index is where the raw program has its `ja 0` before `ld [nr]`,
/// where `disasm` marks it and what the blob tells the enforcer (`default`
/// compiles for the host: x86 is the compat ABI of x86_64).
#[cfg(target_arch = "x86_64")]
#[test]
fn every_format_places_the_compat_gate_alike() {
    use rampart_enforce::bpf::{SockFilter, gate};
    let compile = |format: &str| -> Vec<u8> {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["compile", "default", "--format", format])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let json: Value = serde_json::from_slice(&compile("json")).unwrap();
    let gates = json["summary"]["compat_gates"].as_array().unwrap();
    assert_eq!(gates.len(), 1, "{gates:?}");
    assert_eq!(gates[0]["arch"], "x86");
    let at = gates[0]["at"].as_u64().unwrap() as usize;

    let raw = SockFilter::parse_raw(&compile("bpf"));
    assert_eq!((raw[at], raw[at + 1]), (gate::OPEN, gate::LOAD_NR));
    let disasm = String::from_utf8(compile("disasm")).unwrap();
    let line = disasm
        .lines()
        .find(|l| l.starts_with(&format!("L{at:04}:")))
        .unwrap();
    assert!(line.contains("compat gate"), "{line}");

    let policy = rampart_enforce::blob::decode(&compile("blob")).unwrap();
    let spec = policy.seccomp().unwrap();
    assert_eq!(spec.program.instructions(), &raw[..]);
    assert_eq!(
        spec.compat_gates,
        [rampart_enforce::policy::CompatGate {
            arch: Arch::X86.audit_arch(),
            at: at as u16,
        }]
    );
}
