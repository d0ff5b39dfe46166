//! The built-in `default` profile makes the same decisions as Docker's default
//! profile (moby/profiles default.json, in shared/testdata) for every syscall
//! number and boundary argument on x86_64, x86, x32 and aarch64, with Docker's
//! 14 default capabilities.
//!
//! Docker's semantics are implemented here independently of rampart's
//! front end, straight from the JSON: `includes`/`excludes` on caps, the host
//! architecture (Go's GOARCH) and minKernel; args ANDed; MASKED_EQ is
//! `(arg & value) == valueTwo`. Numbers above an architecture's table get
//! ENOSYS (runc's stub for syscalls newer than the profile). One intended
//! difference: the io_uring calls get ENOSYS, not Docker's EPERM (pitfall 17).

use rampart::arch::{Arch, X32_SYSCALL_BIT};
use rampart::capability::{self, CapSets};
use rampart::pipeline;
use rampart::resolve::Options;
use rampart::seccomp::ir::Action;
use serde_json::Value;

mod support;
use support::testdata;

const KERNEL: (u32, u32) = (6, 18);

struct Docker {
    rules: Vec<Value>,
    default_errno: u16,
}

impl Docker {
    fn load() -> Docker {
        let v: Value = serde_json::from_str(&testdata("docker-default.json")).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        Docker {
            rules: v["syscalls"].as_array().unwrap().clone(),
            default_errno: v["defaultErrnoRet"].as_u64().unwrap() as u16,
        }
    }

    fn included(rule: &Value, host: &str, caps: &CapSets) -> bool {
        let has = |c: &Value| {
            caps.bounding
                .contains(capability::parse(c.as_str().unwrap()).unwrap())
        };
        let inc = &rule["includes"];
        let exc = &rule["excludes"];
        let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
        if !list(&inc["caps"]).iter().all(has) || list(&exc["caps"]).iter().any(has) {
            return false;
        }
        let arches = list(&inc["arches"]);
        if !arches.is_empty() && !arches.iter().any(|a| a == host) {
            return false;
        }
        if list(&exc["arches"]).iter().any(|a| a == host) {
            return false;
        }
        if let Some(k) = inc["minKernel"].as_str() {
            let mut it = k.split('.').map(|x| x.parse::<u32>().unwrap());
            if KERNEL < (it.next().unwrap(), it.next().unwrap_or(0)) {
                return false;
            }
        }
        true
    }

    fn decide(&self, host: &str, arch: Arch, nr: u32, args: [u64; 6], caps: &CapSets) -> Action {
        let table = arch.table();
        let Some(name) = table.name(nr) else {
            return if nr > table.max_nr() {
                Action::Errno(libc::ENOSYS as u16)
            } else {
                Action::Errno(self.default_errno)
            };
        };
        for rule in self.rules.iter().filter(|r| Self::included(r, host, caps)) {
            if !rule["names"].as_array().unwrap().iter().any(|n| n == name) {
                continue;
            }
            let holds = rule["args"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .all(|a| {
                    let arg = args[a["index"].as_u64().unwrap() as usize];
                    let v = a["value"].as_u64().unwrap();
                    match a["op"].as_str().unwrap() {
                        "SCMP_CMP_EQ" => arg == v,
                        "SCMP_CMP_NE" => arg != v,
                        "SCMP_CMP_LT" => arg < v,
                        "SCMP_CMP_LE" => arg <= v,
                        "SCMP_CMP_GT" => arg > v,
                        "SCMP_CMP_GE" => arg >= v,
                        "SCMP_CMP_MASKED_EQ" => arg & v == a["valueTwo"].as_u64().unwrap_or(0),
                        op => panic!("unexpected op {op}"),
                    }
                });
            if holds {
                return match rule["action"].as_str().unwrap() {
                    "SCMP_ACT_ALLOW" => Action::Allow,
                    "SCMP_ACT_ERRNO" => {
                        Action::Errno(rule["errnoRet"].as_u64().unwrap_or(1) as u16)
                    }
                    a => panic!("unexpected action {a}"),
                };
            }
        }
        Action::Errno(self.default_errno)
    }
}

/// Argument vectors that sit on every boundary Docker's argument rules draw.
fn arg_vectors() -> Vec<[u64; 6]> {
    let mut firsts: Vec<u64> = (0..64).collect();
    firsts.extend([
        0x7,
        0x8,
        0x9,
        0x20000,
        0x20007,
        0x20008,
        0x20009,
        0xffff_fffe,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0008,
        u64::MAX,
    ]);
    for bit in 0..64 {
        firsts.push(1 << bit);
        firsts.push((1u64 << bit) | 17); // SIGCHLD plus one flag
    }
    firsts.push(0x1000_0000 | 17); // CLONE_NEWUSER | SIGCHLD
    firsts.push(0x7E02_0000);
    let mut out: Vec<[u64; 6]> = firsts.iter().map(|&a| [a, 0, 0, 0, 0, 0]).collect();
    out.extend(firsts.iter().map(|&a| [0, a, 0, 0, 0, 0]));
    out
}

fn compare(host: &str, arches: &[Arch], caps: CapSets, profile: &str) -> usize {
    let docker = Docker::load();
    let opts = Options {
        arches: Some(arches.to_vec()),
        kernel: KERNEL,
        ..Options::host()
    };
    let c = pipeline::compile_reference(profile, &opts).unwrap();
    assert!(c.warnings.iter().all(|d| !d.is_error()), "{:?}", c.warnings);
    assert_eq!(c.resolved.caps, caps, "capability sets");
    let ir = c.ir.expect("a filter");
    // The emitted program is checked too: simulated on the same vectors.
    let compiled = c.filter.expect("the profile compiles and verifies");
    let sim = rampart::seccomp::simulate::Simulator::new(compiled.program.instructions()).unwrap();
    let vectors = arg_vectors();
    let mut checked = 0;
    for &arch in arches {
        let table = arch.table();
        let base = if arch == Arch::X32 {
            X32_SYSCALL_BIT
        } else {
            0
        };
        let top = table.max_nr() + 64;
        let mut nrs: Vec<u32> = (base..=top).collect();
        nrs.extend(table.iter().map(|e| e.1)); // ARM's private numbers
        for nr in nrs {
            let argful = table
                .name(nr)
                .is_some_and(|n| ["socket", "personality", "clone"].contains(&n));
            let args: &[[u64; 6]] = if argful { &vectors } else { &[[0; 6]] };
            for a in args {
                let want = match table.name(nr) {
                    // The one intended difference (enforcer-order.md, pitfall 17): io_uring
                    // runs operations seccomp never sees, and Docker's EPERM makes
                    // liburing fail where ENOSYS makes it fall back to plain syscalls.
                    Some(n) if n.starts_with("io_uring_") && profile != "privileged" => {
                        Action::Errno(libc::ENOSYS as u16)
                    }
                    _ => docker.decide(host, arch, nr, *a, &caps),
                };
                let (got, _) = ir.evaluate(arch.audit_arch(), nr, *a);
                assert_eq!(
                    got,
                    want,
                    "{profile} {arch} nr {nr} ({:?}) args {a:x?}",
                    table.name(nr)
                );
                let data = rampart::seccomp::simulate::SeccompData::new(arch.audit_arch(), nr, *a);
                let (ret, _) = sim.run(&data);
                assert_eq!(
                    Action::from_ret(ret),
                    want,
                    "emitted BPF: {profile} {arch} nr {nr} args {a:x?}"
                );
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn default_matches_docker_on_amd64_hosts() {
    let n = compare(
        "amd64",
        &[Arch::X86_64, Arch::X86, Arch::X32],
        CapSets::runtime_default(),
        "default",
    );
    assert!(n > 3000, "{n}");
}

#[test]
fn default_matches_docker_on_arm64_hosts() {
    compare(
        "arm64",
        &[Arch::Aarch64, Arch::Arm],
        CapSets::runtime_default(),
        "default",
    );
}

#[test]
fn restricted_keeps_the_filter_and_drops_every_capability() {
    compare(
        "amd64",
        &[Arch::X86_64, Arch::X86, Arch::X32],
        CapSets::default(),
        "restricted",
    );
}

#[test]
fn privileged_has_no_filter_and_every_capability() {
    let c = pipeline::compile_reference("privileged", &Options::host()).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.ir.is_none() && c.filter.is_none());
    let res = c.resolved;
    assert_eq!(res.caps.bounding, capability::CapSet::all());
    assert_eq!(res.caps.inheritable, capability::CapSet::EMPTY);
    assert!(!res.no_new_privs.value);
}
