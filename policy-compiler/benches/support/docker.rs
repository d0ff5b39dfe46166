//! A small loader for Docker's `default.json` seccomp profile, for benchmarks and
//! tests only (the real importer lives elsewhere). Semantics follow Docker + runc:
//! `includes`/`excludes` filter on the host arch (GOARCH), capabilities and the
//! kernel version; MASKED_EQ is `(arg & value) == valueTwo`; conditions on
//! distinct arguments are ANDed, conditions sharing an index become separate
//! rules; names an arch does not know are skipped; numbers above the highest
//! number the profile mentions get ENOSYS (runc's stub).
//!
//! The includer must have `ir` (rampart's `seccomp::ir`) and `Arch` in scope.

#![allow(dead_code)]

use std::collections::BTreeMap;

use super::{Arch, ir};
use ir::{Action, ArchIr, Cmp, CmpOp, Cond, FilterIr, Origin, OriginId, Rule, Width};

/// Docker's default capability set (14).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Docker's default profile, in `shared/testdata` beside the repository.
pub const PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/docker-default.json"
);

/// [`PROFILE`] as moby and runc load it on an amd64 host with Docker's default
/// capabilities and kernel 6.18.
pub fn load_default(arches: &[Arch], unconditional_allow_only: bool) -> Profile {
    let json = std::fs::read_to_string(PROFILE).expect("docker-default.json");
    load(
        &json,
        "amd64",
        arches,
        &DEFAULT_CAPS,
        (6, 18),
        unconditional_allow_only,
    )
}

/// One argument condition as the profile writes it.
#[derive(Clone, Debug)]
pub struct Arg {
    pub index: u8,
    pub op: String,
    pub value: u64,
    pub value_two: u64,
}

/// One resolved rule: number, action, ANDed conditions.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub nr: u32,
    pub action: Action,
    pub args: Vec<Arg>,
    pub origin: u32,
}

/// A profile resolved for a set of arches.
#[derive(Clone, Debug)]
pub struct Profile {
    pub default: Action,
    pub per_arch: Vec<(Arch, Vec<Resolved>, u32)>,
    pub origins: Vec<Origin>,
    /// By name, after filtering and grouping: `(name, action, ANDed args)`.
    pub named: Vec<(String, Action, Vec<Arg>)>,
}

/// Conditions on one index twice: one rule per condition (runc), else one rule.
fn groups(args: &[Arg]) -> Vec<Vec<Arg>> {
    let mut counts = [0; 6];
    for a in args {
        counts[usize::from(a.index).min(5)] += 1;
    }
    if counts.iter().any(|&c| c > 1) {
        args.iter().map(|a| vec![a.clone()]).collect()
    } else {
        vec![args.to_vec()]
    }
}

fn parse_kernel(s: &str) -> (u32, u32) {
    let mut it = s.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn strs(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn action(s: &str, errno: Option<u64>, default_errno: u16) -> Action {
    match s {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.map(|e| e as u16).unwrap_or(default_errno)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        _ => Action::Trace(errno.unwrap_or(0) as u16),
    }
}

/// Loads `json` for `arches` on a host of GOARCH `host` with `caps`, kernel `kernel`.
/// `unconditional_allow_only` keeps only the rules without arguments whose action
/// is ALLOW (the "allow-list" benchmark).
pub fn load(
    json: &str,
    host: &str,
    arches: &[Arch],
    caps: &[&str],
    kernel: (u32, u32),
    unconditional_allow_only: bool,
) -> Profile {
    let v: serde_json::Value = serde_json::from_str(json).expect("profile JSON");
    let default_errno = v["defaultErrnoRet"].as_u64().unwrap_or(1) as u16;
    let default = action(
        v["defaultAction"].as_str().unwrap_or(""),
        Some(u64::from(default_errno)),
        1,
    );
    // Line of each entry: the k-th `"names"` key.
    let lines: Vec<u32> = json
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("\"names\""))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let mut origins = Vec::new();
    let mut entries = Vec::new();
    for (k, e) in v["syscalls"]
        .as_array()
        .expect("syscalls")
        .iter()
        .enumerate()
    {
        let inc = &e["includes"];
        let exc = &e["excludes"];
        let has = |c: &String| caps.contains(&c.as_str());
        if strs(exc.get("arches")).iter().any(|a| a == host)
            || strs(exc.get("caps")).iter().any(has)
            || exc
                .get("minKernel")
                .and_then(|m| m.as_str())
                .is_some_and(|m| kernel >= parse_kernel(m))
        {
            continue;
        }
        let inc_arches = strs(inc.get("arches"));
        if (!inc_arches.is_empty() && !inc_arches.iter().any(|a| a == host))
            || !strs(inc.get("caps")).iter().all(has)
            || inc
                .get("minKernel")
                .and_then(|m| m.as_str())
                .is_some_and(|m| kernel < parse_kernel(m))
        {
            continue;
        }
        let names = strs(e.get("names"));
        let act = action(
            e["action"].as_str().unwrap_or(""),
            e["errnoRet"].as_u64(),
            default_errno,
        );
        let args: Vec<Arg> = e["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| Arg {
                        index: x["index"].as_u64().unwrap_or(0) as u8,
                        op: x["op"].as_str().unwrap_or("").to_string(),
                        value: x["value"].as_u64().unwrap_or(0),
                        value_two: x["valueTwo"].as_u64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if unconditional_allow_only && (act != Action::Allow || !args.is_empty()) {
            continue;
        }
        let summary = format!(
            "{:?} {}{}{}",
            act,
            names.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if names.len() > 3 {
                format!(", … ({} names)", names.len())
            } else {
                String::new()
            },
            if args.is_empty() {
                String::new()
            } else {
                format!(
                    " if {}",
                    args.iter()
                        .map(|a| format!(
                            "arg{} {} {:#x} {:#x}",
                            a.index, a.op, a.value, a.value_two
                        ))
                        .collect::<Vec<_>>()
                        .join(" && ")
                )
            }
        );
        origins.push(Origin {
            file: "docker-default.json".into(),
            line: lines.get(k).copied().unwrap_or(0),
            summary,
        });
        entries.push((names, act, args, origins.len() as u32 - 1));
    }
    let per_arch = arches
        .iter()
        .map(|&arch| {
            let t = arch.table();
            let mut rules = Vec::new();
            for (names, act, args, o) in &entries {
                for n in names {
                    let Some(nr) = t.nr(n) else { continue };
                    for g in &groups(args) {
                        rules.push(Resolved {
                            nr,
                            action: *act,
                            args: g.clone(),
                            origin: *o,
                        });
                    }
                }
            }
            let max = rules.iter().map(|r| r.nr).max().unwrap_or(0);
            (arch, rules, max)
        })
        .collect();
    let named = entries
        .iter()
        .flat_map(|(names, act, args, _)| {
            names
                .iter()
                .flat_map(move |n| groups(args).into_iter().map(move |g| (n.clone(), *act, g)))
        })
        .collect();
    Profile {
        default,
        per_arch,
        origins,
        named,
    }
}

fn cmp(a: &Arg) -> Cmp {
    let (mask, op, value) = match a.op.as_str() {
        "SCMP_CMP_NE" => (u64::MAX, CmpOp::Ne, a.value),
        "SCMP_CMP_LT" => (u64::MAX, CmpOp::Lt, a.value),
        "SCMP_CMP_LE" => (u64::MAX, CmpOp::Le, a.value),
        "SCMP_CMP_GE" => (u64::MAX, CmpOp::Ge, a.value),
        "SCMP_CMP_GT" => (u64::MAX, CmpOp::Gt, a.value),
        "SCMP_CMP_MASKED_EQ" => (a.value, CmpOp::Eq, a.value_two),
        _ => (u64::MAX, CmpOp::Eq, a.value),
    };
    Cmp {
        arg: a.index,
        mask,
        op,
        value,
        width: Width::U64,
    }
}

impl Profile {
    /// The IR: first match wins in profile order; bad arch kills the process.
    pub fn to_ir(&self) -> FilterIr {
        let arches = self
            .per_arch
            .iter()
            .map(|(arch, rules, max)| {
                let mut syscalls: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
                for r in rules {
                    let cond = match r.args.len() {
                        0 => Cond::True,
                        1 => Cond::Cmp(cmp(&r.args[0])),
                        _ => Cond::And(r.args.iter().map(|a| Cond::Cmp(cmp(a))).collect()),
                    };
                    syscalls.entry(r.nr).or_default().push(Rule {
                        cond,
                        action: r.action,
                        origin: Some(OriginId(r.origin)),
                    });
                }
                ArchIr {
                    arch: *arch,
                    syscalls,
                    default_action: self.default,
                    default_origin: None,
                    max_known_nr: *max,
                    unknown_action: Action::Errno(libc::ENOSYS as u16),
                }
            })
            .collect();
        FilterIr {
            arches,
            bad_arch_action: Action::KillProcess,
            origins: self.origins.clone(),
        }
    }
}
