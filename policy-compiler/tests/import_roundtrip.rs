//! Every imported file and its converted YAML make the same decisions.
//!
//! For each input, an independent reference evaluator written here from the
//! foreign format's documented semantics builds a `FilterIr` straight from the
//! file; the converted YAML is compiled through `resolve` + `lower_seccomp`.
//! Both are evaluated with `FilterIr::evaluate` on every syscall number of
//! each architecture (plus 64 numbers above the table) and, for syscalls with
//! argument rules, on vectors built from every constant in the source file
//! (k-1, k, k+1, high-word variants, 0, u64::MAX), alone and combined in each
//! rule's own argument positions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rampart::arch::Arch;
use rampart::capability::{self, CapSet, CapSets};
use rampart::groups::GroupSet;
use rampart::import::{self, Format, ImportOptions, Imported};
use rampart::lint;
use rampart::resolve::{self, Options};
use rampart::seccomp::ir::{Action, ArchIr, Cmp, CmpOp, Cond, FilterIr, Rule, Width};
use rampart::source::SourceFile;
use serde_json::{Value, json};

mod support;
use support::{constants, same_decisions, testdata};

fn import_text(format: Format, name: &str, text: &str, filter: Option<&str>) -> Imported {
    let opts = ImportOptions {
        source_name: name.to_string(),
        filter: filter.map(str::to_string),
        ..ImportOptions::default()
    };
    match import::load(format, text, &opts) {
        Ok(i) => i,
        Err(d) => panic!(
            "{name}: {}",
            d.iter()
                .map(rampart::diagnostic::render_text)
                .collect::<String>()
        ),
    }
}

/// The converted YAML, compiled through the front end.
fn compile(yaml: &str, arches: &[Arch], kernel: (u32, u32), all_caps: bool) -> FilterIr {
    let mut text = yaml.to_string();
    if all_caps {
        assert!(!text.contains("\ncapabilities:"));
        text.push_str("capabilities:\n  bounding: [ALL]\n  permitted: [ALL]\n  effective: [ALL]\n");
    }
    let file = SourceFile::new("converted.yaml", text);
    let opts = Options {
        arches: Some(arches.to_vec()),
        kernel,
        ..Options::host()
    };
    let (chain, mut diags) = resolve::load_chain_from(file, &opts);
    let (res, d) = resolve::resolve_chain(chain, &opts);
    diags.extend(d);
    let (ir, d) = resolve::lower_seccomp(&res, &opts);
    diags.extend(d);
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "{}\n{yaml}",
        diags
            .iter()
            .map(rampart::diagnostic::render_text)
            .collect::<String>()
    );
    ir.expect("a filter")
}

fn lints_clean(name: &str, yaml: &str) {
    let file = SourceFile::new(format!("{name}.yaml"), yaml.to_string());
    let diags = lint::lint_file(&file, &Options::host(), None);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(rampart::diagnostic::render_text)
        .collect();
    assert!(errors.is_empty(), "{name}: {}", errors.concat());
}

// ---------------------------------------------------------------------------
// Reference IR construction.
// ---------------------------------------------------------------------------

fn cmp(arg: u32, mask: u64, op: CmpOp, value: u64, width: Width) -> Cond {
    Cond::Cmp(Cmp {
        arg: arg as u8,
        mask,
        op,
        value,
        width,
    })
}

/// One arch's IR from (nr → rules) with libseccomp's precedence applied:
/// the first argument-less rule of a syscall decides it outright.
fn arch_ir(
    arch: Arch,
    rules: BTreeMap<u32, Vec<Rule>>,
    default: Action,
    unknown: Action,
) -> ArchIr {
    let mut syscalls: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for (_, nr) in arch.table().iter() {
        syscalls.insert(nr, Vec::new());
    }
    for (nr, list) in rules {
        let decided = match list.iter().find(|r| r.cond == Cond::True) {
            Some(u) => vec![u.clone()],
            None => list,
        };
        syscalls.insert(nr, decided);
    }
    ArchIr {
        arch,
        syscalls,
        default_action: default,
        default_origin: None,
        max_known_nr: arch.table().max_nr(),
        unknown_action: unknown,
    }
}

fn filter(arches: Vec<ArchIr>) -> FilterIr {
    FilterIr {
        arches,
        bad_arch_action: Action::KillProcess,
        origins: Vec::new(),
    }
}

fn unknown_for(default: Action) -> Action {
    match default {
        Action::Allow | Action::Log | Action::Notify | Action::Trace(_) => default,
        _ => Action::Errno(38),
    }
}

/// runc's action for an OCI/Docker action name.
fn oci_action(name: &str, errno: Option<u64>) -> Action {
    let e = errno.unwrap_or(1) as u16;
    match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(e),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(e),
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        a => panic!("action {a}"),
    }
}

struct Env<'a> {
    host: &'a str,
    arches: &'a [Arch],
    caps: CapSet,
    kernel: (u32, u32),
}

/// Docker/OCI semantics straight from the JSON (runc + Docker's includes/excludes).
fn oci_ir(seccomp: &Value, env: &Env) -> FilterIr {
    let default = oci_action(
        seccomp["defaultAction"].as_str().unwrap(),
        seccomp["defaultErrnoRet"].as_u64(),
    );
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let has = |c: &Value| {
        env.caps
            .contains(capability::parse(c.as_str().unwrap()).unwrap())
    };
    let mut per_arch: BTreeMap<Arch, BTreeMap<u32, Vec<Rule>>> = BTreeMap::new();
    for rule in list(&seccomp["syscalls"]) {
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        if !list(&inc["caps"]).iter().all(has) || list(&exc["caps"]).iter().any(has) {
            continue;
        }
        let arches = list(&inc["arches"]);
        if !arches.is_empty() && !arches.iter().any(|a| a == env.host) {
            continue;
        }
        if list(&exc["arches"]).iter().any(|a| a == env.host) {
            continue;
        }
        if let Some(k) = inc["minKernel"].as_str() {
            let mut it = k.split('.').map(|x| x.parse::<u32>().unwrap());
            if env.kernel < (it.next().unwrap(), it.next().unwrap_or(0)) {
                continue;
            }
        }
        let action = oci_action(rule["action"].as_str().unwrap(), rule["errnoRet"].as_u64());
        if action == default {
            continue; // runc skips rules that repeat the default action
        }
        let args = list(&rule["args"]);
        let conds: Vec<(u64, Cond)> = args
            .iter()
            .map(|a| {
                let i = a["index"].as_u64().unwrap();
                let v = a["value"].as_u64().unwrap_or(0);
                let v2 = a["valueTwo"].as_u64().unwrap_or(0);
                let c = match a["op"].as_str().unwrap() {
                    "SCMP_CMP_EQ" => cmp(i as u32, u64::MAX, CmpOp::Eq, v, Width::U64),
                    "SCMP_CMP_NE" => cmp(i as u32, u64::MAX, CmpOp::Ne, v, Width::U64),
                    "SCMP_CMP_LT" => cmp(i as u32, u64::MAX, CmpOp::Lt, v, Width::U64),
                    "SCMP_CMP_LE" => cmp(i as u32, u64::MAX, CmpOp::Le, v, Width::U64),
                    "SCMP_CMP_GT" => cmp(i as u32, u64::MAX, CmpOp::Gt, v, Width::U64),
                    "SCMP_CMP_GE" => cmp(i as u32, u64::MAX, CmpOp::Ge, v, Width::U64),
                    "SCMP_CMP_MASKED_EQ" => cmp(i as u32, v, CmpOp::Eq, v2, Width::U64),
                    op => panic!("op {op}"),
                };
                (i, c)
            })
            .collect();
        let indices: BTreeSet<u64> = conds.iter().map(|c| c.0).collect();
        let cond = if conds.is_empty() {
            Cond::True
        } else if indices.len() < conds.len() {
            Cond::Or(conds.into_iter().map(|c| c.1).collect())
        } else {
            Cond::And(conds.into_iter().map(|c| c.1).collect())
        };
        let mut names = list(&rule["names"]);
        if let Some(n) = rule.get("name") {
            names.push(n.clone());
        }
        for &arch in env.arches {
            let mut seen = BTreeSet::new();
            for n in &names {
                if let Some(nr) = arch.table().nr(n.as_str().unwrap())
                    && seen.insert(nr)
                {
                    per_arch
                        .entry(arch)
                        .or_default()
                        .entry(nr)
                        .or_default()
                        .push(Rule {
                            cond: cond.clone(),
                            action,
                            origin: None,
                        });
                }
            }
        }
    }
    filter(
        env.arches
            .iter()
            .map(|&a| {
                arch_ir(
                    a,
                    per_arch.remove(&a).unwrap_or_default(),
                    default,
                    unknown_for(default),
                )
            })
            .collect(),
    )
}

/// seccompiler semantics: entries ORed per syscall, args ANDed, dword = low 32 bits.
fn seccompiler_ir(f: &Value, arch: Arch) -> FilterIr {
    let act = |v: &Value| -> Action {
        match v {
            Value::String(s) => match s.as_str() {
                "allow" => Action::Allow,
                "trap" => Action::Trap,
                "kill_thread" => Action::KillThread,
                "kill_process" => Action::KillProcess,
                "log" => Action::Log,
                a => panic!("{a}"),
            },
            Value::Object(o) if o.contains_key("errno") => {
                Action::Errno(o["errno"].as_u64().unwrap() as u16)
            }
            Value::Object(o) if o.contains_key("trace") => {
                Action::Trace(o["trace"].as_u64().unwrap() as u16)
            }
            a => panic!("{a}"),
        }
    };
    let default = act(&f["default_action"]);
    let matched = act(&f["filter_action"]);
    let mut rules: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for e in f["filter"].as_array().unwrap() {
        let name = e["syscall"].as_str().unwrap();
        let nr = arch.table().nr(name).unwrap();
        let conds: Vec<Cond> = e["args"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let idx = a["index"].as_u64().unwrap() as u32;
                let val = a["val"].as_u64().unwrap();
                let (mask, width) = if a["type"] == "dword" {
                    (0xffff_ffffu64, Width::U32)
                } else {
                    (u64::MAX, Width::U64)
                };
                match &a["op"] {
                    Value::String(op) => {
                        let op = match op.as_str() {
                            "eq" => CmpOp::Eq,
                            "ne" => CmpOp::Ne,
                            "lt" => CmpOp::Lt,
                            "le" => CmpOp::Le,
                            "gt" => CmpOp::Gt,
                            "ge" => CmpOp::Ge,
                            o => panic!("{o}"),
                        };
                        cmp(idx, mask, op, val, width)
                    }
                    o => cmp(
                        idx,
                        mask & o["masked_eq"].as_u64().unwrap(),
                        CmpOp::Eq,
                        val,
                        width,
                    ),
                }
            })
            .collect();
        let cond = if conds.is_empty() {
            Cond::True
        } else {
            Cond::And(conds)
        };
        rules.entry(nr).or_default().push(Rule {
            cond,
            action: matched,
            origin: None,
        });
    }
    filter(vec![arch_ir(arch, rules, default, default)])
}

// ---------------------------------------------------------------------------
// Vectors and comparison.
// ---------------------------------------------------------------------------

const KERNELS: [(u32, u32); 2] = [(6, 18), (4, 4)];

/// Imports an OCI/Docker-shaped file and compares on the given hosts, with
/// the runtime default capabilities and with every capability, on two kernels.
fn check_oci(format: Format, name: &str, text: &str, hosts: &[(&str, &[Arch])]) -> Imported {
    let imported = import_text(format, name, text, None);
    lints_clean(name, &imported.yaml);
    let v: Value = serde_json::from_str(text).unwrap();
    let seccomp = v.pointer("/linux/seccomp").cloned().unwrap_or(v.clone());
    let mut cands = BTreeSet::new();
    constants(&seccomp, &mut cands);
    for &(host, arches) in hosts {
        for kernel in KERNELS {
            for all in [false, true] {
                let caps = if all {
                    CapSets::all().bounding
                } else {
                    CapSets::runtime_default().bounding
                };
                let env = Env {
                    host,
                    arches,
                    caps,
                    kernel,
                };
                let reference = oci_ir(&seccomp, &env);
                let converted = compile(&imported.yaml, arches, kernel, all);
                let n = same_decisions(
                    &format!("{name} on {host} kernel {kernel:?} all caps {all}"),
                    &reference,
                    &converted,
                    &cands,
                );
                assert!(n > 400, "{n}");
            }
        }
    }
    imported
}

const AMD64: (&str, &[Arch]) = ("amd64", &[Arch::X86_64, Arch::X86, Arch::X32]);
const ARM64: (&str, &[Arch]) = ("arm64", &[Arch::Aarch64, Arch::Arm]);

#[test]
fn docker_default_round_trips() {
    let i = check_oci(
        Format::Docker,
        "docker-default.json",
        &testdata("docker-default.json"),
        &[AMD64, ARM64],
    );
    assert!(i.yaml.contains("names: [\"@default-allow\"]"), "{}", i.yaml);
    assert!(i.yaml.contains("# from docker-default.json syscalls[3]"));
    assert!(i.yaml.contains("arches: [x86_64, x86, x32]"));
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
}

#[test]
fn containers_common_round_trips() {
    let i = check_oci(
        Format::Docker,
        "containers-common-seccomp.json",
        &testdata("containers-common-seccomp.json"),
        &[AMD64, ARM64],
    );
    // `syscall` exists only on architectures rampart does not filter.
    assert!(
        i.warnings
            .iter()
            .any(|w| w.code == "unknown-syscall" && w.message.contains("`syscall`"))
    );
    for bad in [" syscall,", " syscall]", "[syscall,", "[syscall]"] {
        assert!(!i.yaml.contains(bad), "{bad}");
    }
}

#[test]
fn spo_deployed_json_profiles_round_trip() {
    for f in [
        "spo-bpf-recorder.json",
        "spo-security-profiles-operator.json",
    ] {
        let text = testdata(f);
        assert_eq!(import::detect(&text), Some(Format::Docker), "{f}");
        check_oci(Format::Docker, f, &text, &[AMD64, ARM64]);
    }
}

#[test]
fn oci_config_with_every_op_and_action_round_trips() {
    let config = json!({
        "ociVersion": "1.2.0",
        "linux": {"seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_MIPS"],
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["openat"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 2, "value": 3, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"},
                          {"index": 0, "value": 100, "op": "SCMP_CMP_LE"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                 "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 40, "op": "SCMP_CMP_GE"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["kill"], "action": "SCMP_ACT_KILL"},
                {"names": ["tkill"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["tgkill"], "action": "SCMP_ACT_KILL_THREAD"},
                {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                {"names": ["mount"], "action": "SCMP_ACT_TRAP"},
                {"names": ["umount2"], "action": "SCMP_ACT_LOG"},
                {"names": ["bpf"], "action": "SCMP_ACT_NOTIFY"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["fcntl"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_GT"},
                          {"index": 1, "value": 4096, "op": "SCMP_CMP_LT"},
                          {"index": 2, "value": 0, "op": "SCMP_CMP_NE"}]}
            ]
        }}
    });
    let text = serde_json::to_string_pretty(&config).unwrap();
    assert_eq!(import::detect(&text), Some(Format::Oci));
    let i = check_oci(
        Format::Oci,
        "config.json",
        &text,
        &[("amd64", &[Arch::X86_64, Arch::X86])],
    );
    let codes: Vec<&str> = i.warnings.iter().map(|w| w.code).collect();
    for c in [
        "unknown-syscall",
        "unknown-arch",
        "import-unsupported",
        "import-semantics",
    ] {
        assert!(codes.contains(&c), "{c}: {codes:?}");
    }
    assert!(
        i.yaml.contains("architectures: [x86_64, x86]"),
        "{}",
        i.yaml
    );
    assert!(i.yaml.contains("tsync: true"));
    assert!(
        i.yaml.contains("arg2 & 3 == 1 && arg0 <= 100"),
        "{}",
        i.yaml
    );
    assert!(
        i.yaml.contains("arg1 > 1 || arg1 < 0x1000 || arg2 != 0"),
        "{}",
        i.yaml
    );
    assert!(i.yaml.contains("kill-thread"));
    assert!(i.yaml.contains("trace(7)"));
    assert!(!i.yaml.contains("no_such_call"));
    // The unconditional socket rule wins (libseccomp), so it comes first.
    let alone = i.yaml.find("syscalls[3]").unwrap();
    let with_args = i.yaml.find("syscalls[2]").unwrap();
    assert!(alone < with_args, "{}", i.yaml);
    // rmdir repeats the default action: runc skips the rule.
    assert!(
        i.yaml
            .contains("syscalls[12] (rmdir): same action as defaultAction")
    );
}

#[test]
fn every_firecracker_filter_round_trips() {
    for (file, arch) in [
        ("firecracker-x86_64.json", Arch::X86_64),
        ("firecracker-aarch64.json", Arch::Aarch64),
    ] {
        let text = testdata(file);
        assert_eq!(import::detect(&text), Some(Format::Seccompiler));
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut cands = BTreeSet::new();
        constants(&v, &mut cands);
        let names: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        assert!(names.len() >= 3);
        for name in names {
            let i = import_text(Format::Seccompiler, file, &text, Some(&name));
            lints_clean(&format!("{file}-{name}"), &i.yaml);
            assert!(i.yaml.contains(&format!("architectures: [{arch}]")));
            let reference = seccompiler_ir(&v[&name], arch);
            let converted = compile(&i.yaml, &[arch], (6, 18), false);
            let n = same_decisions(&format!("{file} {name}"), &reference, &converted, &cands);
            assert!(n > 1000, "{n}");
        }
    }
}

#[test]
fn seccompiler_needs_a_filter_name_when_there_are_several() {
    let opts = ImportOptions {
        source_name: "firecracker-x86_64.json".into(),
        ..ImportOptions::default()
    };
    let e = import::load(
        Format::Seccompiler,
        &testdata("firecracker-x86_64.json"),
        &opts,
    )
    .unwrap_err();
    assert!(e[0].help.as_deref().unwrap().contains("vmm"), "{e:?}");
}

// ---------------------------------------------------------------------------
// Security Profiles Operator.
// ---------------------------------------------------------------------------

/// The SPO resources of a file, by name, as OCI seccomp objects.
fn spo_specs(text: &str) -> Vec<(String, Value)> {
    import::yaml_documents(text)
        .unwrap()
        .into_iter()
        .filter(|d| d["kind"] == "SeccompProfile")
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap().to_string(),
                d["spec"].clone(),
            )
        })
        .collect()
}

fn check_spo_spec(what: &str, spec: &Value, yaml: &str) {
    lints_clean(what, yaml);
    let mut cands = BTreeSet::new();
    constants(spec, &mut cands);
    let env = Env {
        host: "amd64",
        arches: &[Arch::X86_64],
        caps: CapSets::runtime_default().bounding,
        kernel: (6, 18),
    };
    let reference = oci_ir(spec, &env);
    let converted = compile(yaml, &[Arch::X86_64], (6, 18), false);
    same_decisions(what, &reference, &converted, &cands);
}

#[test]
fn every_spo_example_round_trips() {
    for file in support::SPO_EXAMPLES {
        let text = testdata(file);
        assert_eq!(import::detect(&text), Some(Format::Spo), "{file}");
        let specs = spo_specs(&text);
        assert!(!specs.is_empty());
        for (name, spec) in specs {
            let filter = (file.contains("seccompprofile")).then_some(name.as_str());
            let i = import_text(Format::Spo, file, &text, filter);
            assert!(i.yaml.contains(&format!("name: \"{name}\"")));
            check_spo_spec(&format!("{file} {name}"), &spec, &i.yaml);
        }
    }
}

#[test]
fn spo_base_profiles_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let runc = testdata("spo-baseprofile-runc.yaml");
    std::fs::write(dir.path().join("runc-v1.4.2.yaml"), &runc).unwrap();
    let derived = "apiVersion: security-profiles-operator.x-k8s.io/v1\nkind: SeccompProfile\nmetadata:\n  name: nginx\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  baseProfileName: runc-v1.4.2\n  architectures: [SCMP_ARCH_X86_64]\n  syscalls:\n  - action: SCMP_ACT_ALLOW\n    names: [accept4, epoll_wait]\n  - action: SCMP_ACT_ERRNO\n    errnoRet: 13\n    names: [socket]\n    args:\n    - {index: 0, value: 16, op: SCMP_CMP_EQ}\n  - action: SCMP_ACT_ALLOW\n    names: [socket]\n";
    let opts = ImportOptions {
        source_name: "nginx.yaml".into(),
        base_dir: Some(dir.path().to_path_buf()),
        ..ImportOptions::default()
    };
    let i = import::load(Format::Spo, derived, &opts).unwrap();
    assert!(i.yaml.contains("Base profiles"), "{}", i.yaml);
    assert!(
        i.yaml
            .contains("base `runc-v1.4.2` (runc-v1.4.2.yaml) spec.syscalls[0]")
    );
    // Reference: the derived rules, then the base's, under the derived default.
    let mut spec = spo_specs(derived)[0].1.clone();
    let base = spo_specs(&runc)[0].1.clone();
    let mut all = spec["syscalls"].as_array().unwrap().clone();
    all.extend(base["syscalls"].as_array().unwrap().iter().cloned());
    spec["syscalls"] = Value::Array(all);
    check_spo_spec("nginx + runc base", &spec, &i.yaml);
    // A missing base is an error that says where it looked.
    let opts = ImportOptions {
        source_name: "nginx.yaml".into(),
        base_dir: Some(dir.path().join("nowhere")),
        ..ImportOptions::default()
    };
    let e = import::load(Format::Spo, derived, &opts).unwrap_err();
    assert_eq!(e[0].code, "extends-not-found");
}

// ---------------------------------------------------------------------------
// appc.
// ---------------------------------------------------------------------------

/// appc semantics: the retained set is allowed and everything else denied
/// (errno, or SIGSYS = kill-process without one), or the removed set denied.
fn appc_ir(set: &[&str], retain: bool, errno: Option<u16>, arches: &[Arch]) -> FilterIr {
    let groups = GroupSet::builtin();
    let deny = errno.map_or(Action::KillProcess, Action::Errno);
    let names: Vec<String> = set
        .iter()
        .flat_map(|s| match s.strip_prefix('@') {
            Some(g) => groups
                .expand(g)
                .unwrap()
                .into_iter()
                .map(|x| x.value)
                .collect(),
            None => vec![s.to_string()],
        })
        .collect();
    let (default, hit) = if retain {
        (deny, Action::Allow)
    } else {
        (Action::Allow, deny)
    };
    filter(
        arches
            .iter()
            .map(|&a| {
                let mut rules: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
                for n in &names {
                    if let Some(nr) = a.table().nr(n) {
                        rules.insert(
                            nr,
                            vec![Rule {
                                cond: Cond::True,
                                action: hit,
                                origin: None,
                            }],
                        );
                    }
                }
                arch_ir(a, rules, default, unknown_for(default))
            })
            .collect(),
    )
}

fn image_manifest(isolators: Value) -> String {
    serde_json::to_string_pretty(&json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "example.com/web",
        "app": {"exec": ["/bin/web"], "user": "0", "group": "0", "isolators": isolators}
    }))
    .unwrap()
}

/// A whole `config.json` brings its process settings along, and a bad one is an
/// error where it is written (before, only `linux.seccomp` was read: a config
/// with no capabilities imported as a profile with the runtime's default set).
#[test]
fn oci_config_parts_import_and_are_checked_where_written() {
    let config = |process: Value, linux: Value| -> String {
        let mut linux = linux;
        linux["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW"});
        serde_json::to_string_pretty(
            &json!({"ociVersion": "1.2.0", "process": process, "linux": linux}),
        )
        .unwrap()
    };
    let opts = ImportOptions {
        source_name: "config.json".into(),
        ..ImportOptions::default()
    };
    let good = config(
        json!({"noNewPrivileges": false, "user": {"uid": 7, "gid": 8},
               "capabilities": {"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"]}}),
        json!({"uidMappings": [{"containerID": 0, "hostID": 200000, "size": 10}]}),
    );
    let i = import::load(Format::Oci, &good, &opts).unwrap();
    lints_clean("config.json", &i.yaml);
    for want in [
        "noNewPrivileges: false",
        "  bounding: [KILL]\n  permitted: [KILL]\n  effective: []\n  inheritable: []\n  ambient: []",
        "user: {uid: 7, gid: 8, groups: []}",
        "  uidMappings:\n    - {containerID: 0, hostID: 200000, size: 10}",
    ] {
        assert!(i.yaml.contains(want), "{want:?} missing from\n{}", i.yaml);
    }
    for (process, linux, code, at) in [
        (
            json!({"capabilities": {"effective": ["CAP_FLY"]}}),
            json!({}),
            "unknown-capability",
            "CAP_FLY",
        ),
        (
            json!({"selinuxLabel": "system_u:system_r"}),
            json!({}),
            "selinux-label-syntax",
            "system_u:system_r",
        ),
        (
            json!({}),
            json!({"mountLabel": "a:b:c:s0:c2,c1"}),
            "selinux-label-syntax",
            "a:b:c:s0:c2,c1",
        ),
        (
            json!({"user": {"uid": -1}}),
            json!({}),
            "type-mismatch",
            "\"uid\"",
        ),
        (
            json!({"noNewPrivileges": "yes"}),
            json!({}),
            "type-mismatch",
            "\"noNewPrivileges\"",
        ),
        (
            json!({"capabilities": {"bounding": ["CAP_CHOWN"], "inheritable": ["CAP_NET_RAW"]}}),
            json!({}),
            "capability-set-invariant",
            "\"inheritable\"",
        ),
        (
            json!({"capabilities": {"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]}}),
            json!({}),
            "capability-set-invariant",
            "\"ambient\"",
        ),
        (
            json!({}),
            json!({"gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}),
            "userns-map-overlap",
            "\"gidMappings\"",
        ),
    ] {
        let text = config(process, linux);
        let e = import::load(Format::Oci, &text, &opts).unwrap_err();
        assert_eq!(e.len(), 1, "{text}: {e:?}");
        assert_eq!(e[0].code, code, "{text}");
        assert_eq!(&text[e[0].primary.range.clone()], at, "{text}");
    }
}

/// A context part the kernel would refuse is an error at the manifest's value,
/// not a profile that fails `rampart lint` in its generated text (found by the
/// `import` fuzz target: the user `syst\u{fffd}`).
#[test]
fn appc_selinux_parts_are_checked_where_written() {
    for (key, bad) in [
        ("user", "system\u{e9}"),
        ("role", "9role"),
        ("type", "container..t"),
        ("level", "s0:c5.c1"),
    ] {
        let mut value =
            json!({"user": "system_u", "role": "system_r", "type": "container_t", "level": "s0"});
        value[key] = json!(bad);
        let text = image_manifest(json!([{"name": "os/linux/selinux-context", "value": value}]));
        let opts = ImportOptions {
            source_name: "web.json".into(),
            ..ImportOptions::default()
        };
        let e = import::load(Format::Appc, &text, &opts).unwrap_err();
        assert_eq!(e.len(), 1, "{key}: {e:?}");
        assert_eq!(e[0].code, "selinux-label-syntax", "{key}");
        assert!(
            e[0].message
                .contains(&format!("invalid SELinux {key} `{bad}`")),
            "{}",
            e[0].message
        );
        assert_eq!(
            &text[e[0].primary.range.clone()],
            bad,
            "{key}: points at the value"
        );
    }
}

#[test]
fn appc_manifests_round_trip() {
    let arches = [Arch::X86_64, Arch::X86, Arch::X32];
    let retain = image_manifest(json!([
        {"name": "os/linux/seccomp-retain-set",
         "value": {"set": ["@docker/default-whitelist", "@systemd/mount", "reboot"], "errno": "ENOSYS"}},
        {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]}},
        {"name": "os/linux/no-new-privileges", "value": true},
        {"name": "os/linux/selinux-context",
         "value": {"user": "system_u", "role": "system_r", "type": "container_t", "level": "s0:c1,c2"}},
        {"name": "resource/memory", "value": {"limit": "1G"}}
    ]));
    assert_eq!(import::detect(&retain), Some(Format::Appc));
    let i = import_text(Format::Appc, "web.json", &retain, None);
    lints_clean("web.json", &i.yaml);
    assert!(i.warnings.iter().any(|w| w.code == "import-unsupported"));
    assert!(
        i.yaml.contains("bounding: [NET_BIND_SERVICE, CHOWN]"),
        "{}",
        i.yaml
    );
    assert!(i.yaml.contains("noNewPrivileges: true"));
    assert!(i.yaml.contains("type: \"container_t\""));
    let reference = appc_ir(
        &["@docker/default-whitelist", "@systemd/mount", "reboot"],
        true,
        Some(38),
        &arches,
    );
    let converted = compile(&i.yaml, &arches, (6, 18), false);
    same_decisions("appc retain", &reference, &converted, &BTreeSet::new());

    let pod = serde_json::to_string_pretty(&json!({
        "acKind": "PodManifest",
        "acVersion": "0.8.11",
        "apps": [
            {"name": "web", "app": {"isolators": [
                {"name": "os/linux/seccomp-remove-set", "value": {"set": ["@rkt/default-whitelist"]}}]}},
            {"name": "sidecar", "app": {"isolators": [
                {"name": "os/linux/seccomp-remove-set", "value": {"set": ["ptrace", "@systemd/module"]}},
                {"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_NET_RAW"]}}]}}
        ],
        "isolators": [{"name": "os/linux/no-new-privileges", "value": false}]
    }))
    .unwrap();
    let opts = ImportOptions {
        source_name: "pod.json".into(),
        filter: Some("sidecar".into()),
        ..ImportOptions::default()
    };
    let i = import::load(Format::Appc, &pod, &opts).unwrap();
    lints_clean("pod.json", &i.yaml);
    assert!(i.yaml.contains("drop: [NET_RAW]"), "{}", i.yaml);
    assert!(i.yaml.contains("noNewPrivileges: false"));
    assert!(i.yaml.contains("action: kill-process"));
    let reference = appc_ir(&["ptrace", "@systemd/module"], false, None, &arches);
    let converted = compile(&i.yaml, &arches, (6, 18), false);
    same_decisions("appc remove", &reference, &converted, &BTreeSet::new());
    // Two apps and no --filter: an error naming them.
    let e = import::load(Format::Appc, &pod, &ImportOptions::default()).unwrap_err();
    assert!(e[0].help.as_deref().unwrap().contains("web, sidecar"));
}

#[test]
fn appc_errors() {
    let both = image_manifest(json!([
        {"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}},
        {"name": "os/linux/seccomp-remove-set", "value": {"set": ["ptrace"]}}
    ]));
    let e = import::load(Format::Appc, &both, &ImportOptions::default()).unwrap_err();
    assert_eq!(e[0].code, "import-conflicting-isolators");
    let unknown = image_manifest(json!([
        {"name": "os/linux/seccomp-retain-set", "value": {"set": ["@rkt/default-blacklist", "@systemd/mnt", "reed"]}}
    ]));
    let e = import::load(Format::Appc, &unknown, &ImportOptions::default()).unwrap_err();
    let codes: Vec<&str> = e.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["unknown-group", "unknown-group", "unknown-syscall"]);
    assert!(
        e[1].help.as_deref().unwrap().contains("@systemd/mount"),
        "{:?}",
        e[1].help
    );
    let caps = image_manifest(json!([
        {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_NET_BIND"]}}
    ]));
    let e = import::load(Format::Appc, &caps, &ImportOptions::default()).unwrap_err();
    assert_eq!(e[0].code, "unknown-capability");
}

#[test]
fn generated_yaml_compiles_through_the_pipeline_source_file() {
    let i = import_text(
        Format::Docker,
        "docker-default.json",
        &testdata("docker-default.json"),
        None,
    );
    let f: Arc<SourceFile> = i.source_file("docker-default.json.yaml");
    let (chain, diags) = resolve::load_chain_from(f, &Options::host());
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(chain.len(), 1);
}
