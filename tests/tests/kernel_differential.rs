//! Differential test of rampart's filters against the real kernel.
//!
//! Random small policies (fixed seed) over a set of harmless syscalls are
//! compiled by rampart's seccomp back end, encoded as an enforcer policy and
//! installed for real by `rampart-enforce` in a child process, which then runs
//! the `probe` fixture with a random sequence of those syscalls
//! (`probe syscalls NR,ARG… …`). What the kernel does to each call (its errno,
//! or the SIGSYS that ended the process) must equal what rampart's simulator
//! predicts from the same program, and what the IR says.
//!
//! The syscalls are chosen so that, when allowed, they do nothing outside the
//! child and their errno does not depend on anything else on the machine
//! (a control run of the same sequence without the enforcer gives the allowed
//! results): `sched_yield`, `flock`, `fsync`, `fdatasync`, `fchdir`
//! (file descriptors from the arguments: mostly invalid, at worst 0..2; no
//! call creates or closes one, so earlier calls cannot change later results),
//! and the identity getters. The default action is ALLOW, so the enforcer can
//! still `execve` the probe.
#![cfg(target_arch = "x86_64")]

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use rampart::arch::Arch;
use rampart::fuzzing;
use rampart::seccomp::ir::{Action, ArchIr, Cmp, CmpOp, Cond, FilterIr, Rule, Width};
use rampart::seccomp::simulate::{SeccompData, Simulator};
use rampart_enforce::blob;
use rampart_enforce::bpf::{SeccompProgram, SockFilter};
use rampart_enforce::policy::{CompiledPolicy, SeccompSpec};
use rampart_tests::{enforcer_bin, require_root};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// x86_64 numbers of the harmless syscalls.
const SYSCALLS: &[(&str, u32)] = &[
    ("sched_yield", 24),
    ("flock", 73),
    ("fsync", 74),
    ("fdatasync", 75),
    ("fchdir", 81),
    ("getuid", 102),
    ("getgid", 104),
    ("geteuid", 107),
    ("getegid", 108),
    ("getppid", 110),
    ("getpgrp", 111),
];

const POLICIES: usize = 64;
const CALLS: usize = 24;

/// xorshift64*: a fixed-seed generator, enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn value(&mut self) -> u64 {
        [
            0,
            1,
            2,
            3,
            7,
            u64::MAX,
            0xffff_ffff,
            1 << 32,
            0xffff_ffff_0000_0001,
        ][self.below(9)]
    }
    fn action(&mut self) -> Action {
        // Kills end the sequence, so they are rarer than the rest.
        match self.below(12) {
            0 | 1 => Action::Allow,
            2 => Action::Log,
            3 => Action::KillProcess,
            4 => Action::KillThread,
            5 => Action::Trap,
            6 => Action::Trace(self.below(100) as u16),
            _ => Action::Errno(1 + self.below(4095) as u16),
        }
    }
}

fn random_ir(rng: &mut Rng) -> FilterIr {
    let mut syscalls = BTreeMap::new();
    for _ in 0..1 + rng.below(6) {
        let nr = SYSCALLS[rng.below(SYSCALLS.len())].1;
        let rules = (0..1 + rng.below(3))
            .map(|_| {
                let cond = match rng.below(4) {
                    0 => Cond::True,
                    _ => {
                        let cmps: Vec<Cond> = (0..1 + rng.below(2))
                            .map(|_| {
                                let op = [
                                    CmpOp::Eq,
                                    CmpOp::Ne,
                                    CmpOp::Lt,
                                    CmpOp::Le,
                                    CmpOp::Gt,
                                    CmpOp::Ge,
                                ][rng.below(6)];
                                let mask = if rng.below(3) == 0 {
                                    rng.value()
                                } else {
                                    u64::MAX
                                };
                                let width = if rng.below(4) == 0 {
                                    Width::U32
                                } else {
                                    Width::U64
                                };
                                Cond::Cmp(Cmp {
                                    arg: rng.below(3) as u8,
                                    mask,
                                    op,
                                    value: rng.value(),
                                    width,
                                })
                            })
                            .collect();
                        if rng.below(2) == 0 {
                            Cond::And(cmps)
                        } else {
                            Cond::Or(cmps)
                        }
                    }
                };
                Rule {
                    cond,
                    action: rng.action(),
                    origin: None,
                }
            })
            .collect();
        syscalls.insert(nr, rules);
    }
    let x86_64 = ArchIr {
        arch: Arch::X86_64,
        syscalls,
        default_action: Action::Allow,
        default_origin: None,
        max_known_nr: Arch::X86_64.table().max_nr(),
        unknown_action: Action::Errno(38),
    };
    // Sometimes with the compat arches too, so dispatch is part of the test.
    let mut arches = vec![x86_64];
    if rng.below(2) == 0 {
        for arch in [Arch::X86, Arch::X32] {
            arches.push(ArchIr {
                arch,
                syscalls: BTreeMap::new(),
                default_action: Action::Errno(1),
                default_origin: None,
                max_known_nr: arch.table().max_nr(),
                unknown_action: Action::Errno(38),
            });
        }
    }
    FilterIr {
        arches,
        bad_arch_action: Action::KillProcess,
        origins: Vec::new(),
    }
}

/// Runs the probe's `syscalls` subcommand, with or without the enforcer.
fn run(policy: Option<&[u8]>, calls: &[String]) -> (Vec<(i64, i32)>, Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd;
    if let Some(blob) = policy {
        let path = dir.path().join("policy.bin");
        std::fs::write(&path, blob).unwrap();
        cmd = Command::new(enforcer_bin());
        cmd.arg("--policy").arg(&path).arg("--").arg(PROBE);
    } else {
        cmd = Command::new(PROBE);
    }
    let out = cmd.arg("syscalls").args(calls).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = stdout
        .lines()
        .map(|l| {
            let (r, e) = l
                .strip_prefix("ret=")
                .and_then(|x| x.split_once(" errno="))
                .unwrap_or_else(|| panic!("bad probe line {l:?}"));
            (r.parse().unwrap(), e.parse().unwrap())
        })
        .collect();
    (
        lines,
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a filter's decision does to one call, given the call's result when allowed.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Errno(i32),
    Sigsys,
}

fn predict(action: Action, allowed_errno: i32) -> Outcome {
    match action {
        Action::Allow | Action::Log => Outcome::Errno(allowed_errno),
        Action::Errno(e) => Outcome::Errno(i32::from(e)),
        // No tracer attached: the kernel fails the call with ENOSYS.
        Action::Trace(_) => Outcome::Errno(libc::ENOSYS),
        Action::KillProcess | Action::KillThread | Action::Trap => Outcome::Sigsys,
        Action::Notify => unreachable!("not generated"),
    }
}

#[test]
fn the_kernel_does_what_the_simulator_predicts() {
    require_root();
    let mut rng = Rng(0x5eed_2026_0000_0001);
    let mut compared = 0usize;
    let mut killed = 0usize;
    for i in 0..POLICIES {
        let ir = random_ir(&mut rng);
        let program = fuzzing::compile_valid_ir(&ir).expect("small policies fit");
        let sim = Simulator::new(&program).unwrap();
        let policy = CompiledPolicy::builder()
            .seccomp(SeccompSpec {
                program: SeccompProgram::new(program.clone()).unwrap(),
                tsync: false,
                log: false,
                required: true,
                compat_gates: Vec::new(),
            })
            .build()
            .unwrap();
        let blob = blob::encode(&policy);
        // Calls: the policy's syscalls mostly, with arguments at the edges of
        // its comparisons; fd-like arguments that are invalid or 0..2.
        let constants: Vec<u64> = ir.arches[0]
            .syscalls
            .values()
            .flatten()
            .flat_map(|r| r.cond.cmps())
            .flat_map(|c| [c.value, c.value.wrapping_add(1), c.value.wrapping_sub(1)])
            .collect();
        let arg = |rng: &mut Rng| -> u64 {
            if !constants.is_empty() && rng.below(2) == 0 {
                constants[rng.below(constants.len())]
            } else {
                rng.value()
            }
        };
        let calls: Vec<(u32, [u64; 6])> = (0..CALLS)
            .map(|_| {
                let nr = SYSCALLS[rng.below(SYSCALLS.len())].1;
                let mut args = [0u64; 6];
                for a in args.iter_mut().take(3) {
                    *a = arg(&mut rng);
                }
                (nr, args)
            })
            .collect();
        let text: Vec<String> = calls
            .iter()
            .map(|(nr, a)| format!("{nr},{},{},{}", a[0], a[1], a[2]))
            .collect();
        let (control, csig, cerr) = run(None, &text);
        assert_eq!(csig, None, "control run died: {cerr}");
        assert_eq!(control.len(), calls.len(), "control: {cerr}");
        let (got, signal, stderr) = run(Some(&blob), &text);
        let mut expect_death = false;
        for (j, (nr, args)) in calls.iter().enumerate() {
            let d = SeccompData::new(Arch::X86_64.audit_arch(), *nr, *args);
            let action = Action::from_ret(sim.run(&d).0);
            assert_eq!(
                action,
                Action::from_ret(ir.evaluate(d.arch, *nr, *args).0.to_ret()),
                "the simulator and the IR disagree on {nr} {args:x?}"
            );
            let want = predict(action, control[j].1);
            compared += 1;
            if want == Outcome::Sigsys {
                assert_eq!(
                    got.len(),
                    j,
                    "policy {i}: calls after a kill ran: {got:?}\n{stderr}"
                );
                assert_eq!(
                    signal,
                    Some(libc::SIGSYS),
                    "policy {i}: call {j} ({nr} {args:x?}) should end the process with SIGSYS\n{stderr}"
                );
                expect_death = true;
                killed += 1;
                break;
            }
            let line = got.get(j).unwrap_or_else(|| {
                panic!("policy {i}: call {j} ({nr} {args:x?}) did not return (signal {signal:?}); predicted {want:?}\n{stderr}")
            });
            assert_eq!(
                Outcome::Errno(line.1),
                want,
                "policy {i}: call {j} ({nr} {args:x?}) under {action:?}"
            );
        }
        if !expect_death {
            assert_eq!(signal, None, "policy {i}: unexpected signal\n{stderr}");
        }
    }
    println!(
        "kernel differential: {POLICIES} policies, {compared} syscalls compared, {killed} runs ended by SIGSYS as predicted"
    );
}

/// A random classic BPF program for the attach check: opcodes from every class
/// (most valid in seccomp, some not), operands near each limit the kernel checks
/// (load offsets and alignment, scratch slots, shift counts, division by zero,
/// jump targets), and usually a final return.
fn random_program(rng: &mut Rng) -> Vec<SockFilter> {
    use rampart_enforce::bpf::op::*;
    const CODES: &[u16] = &[
        LD | W | ABS,
        LD | W | ABS,
        LD | W | ABS,
        LD | H | ABS,
        LD | W | IND,
        LD | W | LEN,
        LDX | W | LEN,
        LD | IMM,
        LDX | IMM,
        LD | MEM,
        LDX | MEM,
        ST,
        STX,
        LDX | B | MSH,
        ALU | ADD | K,
        ALU | SUB | X,
        ALU | MUL | K,
        ALU | DIV | K,
        ALU | DIV | X,
        ALU | MOD | K,
        ALU | AND | K,
        ALU | OR | X,
        ALU | XOR | K,
        ALU | LSH | K,
        ALU | RSH | K,
        ALU | RSH | X,
        ALU | NEG,
        JMP | JA,
        JMP | JEQ | K,
        JMP | JEQ | K,
        JMP | JGT | X,
        JMP | JGE | K,
        JMP | JSET | K,
        RET | K,
        RET | K,
        RET | A,
        RET | X,
        MISC | TAX,
        MISC | TXA,
        0xffff,
    ];
    let len = 1 + rng.below(10);
    (0..len)
        .map(|pc| {
            let code = if pc + 1 == len && rng.below(6) != 0 {
                RET | K
            } else {
                CODES[rng.below(CODES.len())]
            };
            let k = match rng.below(8) {
                0 => rng.below(70) as u32,     // load offsets, aligned or not
                1 => 4 * rng.below(17) as u32, // in and just past seccomp_data
                2 => rng.below(18) as u32,     // scratch slots and shifts
                3 => 30 + rng.below(4) as u32, // shift counts near 32
                4 => (len - pc) as u32 - rng.below(2) as u32, // jumps to the end and one past it
                5 => 0x7fff_0000,              // SECCOMP_RET_ALLOW
                6 => rng.next() as u32,
                _ => 0,
            };
            let off = |rng: &mut Rng| {
                (len - pc - 1 + rng.below(3)).saturating_sub(1 + rng.below(4)) as u8
            };
            SockFilter::jump(code, k, off(rng), off(rng))
        })
        .collect()
}

/// The enforcer's own check of a seccomp program (`bpf::check`, which the policy
/// decoder runs so that a bad program is refused with a message before any step)
/// accepts exactly the programs the kernel attaches: 3000 random programs with
/// operands at the kernel's limits, each attached for real in a child.
#[test]
fn the_program_check_accepts_what_the_kernel_attaches() {
    require_root();
    let mut rng = Rng(0x5eed_b9f0_c4ec_0001);
    let programs: Vec<Vec<SockFilter>> = (0..3000).map(|_| random_program(&mut rng)).collect();
    let (accepted, refused) = check_agrees_with_the_kernel(&programs);
    // Both sides of the boundary were exercised.
    assert!(
        accepted > 300 && refused > 300,
        "accepted {accepted}, refused {refused}"
    );
}

/// Every opcode, not only those the random programs draw: each of the 256 (and
/// one past them) as the first of two instructions, before `ret ALLOW`, with
/// operands on both sides of the kernel's limits. `bpf::check` classifies
/// opcodes through a table; this is what keeps the table honest.
#[test]
fn every_opcode_is_judged_as_the_kernel_judges_it() {
    require_root();
    let allow = SockFilter::stmt(0x06, 0x7fff_0000);
    let programs: Vec<Vec<SockFilter>> = (0..=0x100u16)
        .flat_map(|code| {
            [0, 1, 4, 15, 16, 31, 32, 64].map(|k| vec![SockFilter::jump(code, k, 0, 0), allow])
        })
        .collect();
    let (accepted, refused) = check_agrees_with_the_kernel(&programs);
    assert!(
        accepted > 100 && refused > 1000,
        "accepted {accepted}, refused {refused}"
    );
}

/// Attaches each program in a child (the probe) and asserts that `bpf::check`
/// gives the kernel's verdict on every one. Returns (accepted, refused).
fn check_agrees_with_the_kernel(programs: &[Vec<SockFilter>]) -> (usize, usize) {
    let mut file = Vec::new();
    for p in programs {
        file.extend_from_slice(&(p.len() as u16).to_ne_bytes());
        file.extend_from_slice(&SockFilter::to_raw(p));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("programs");
    std::fs::write(&path, file).unwrap();
    let out = Command::new(PROBE)
        .arg("seccomp-attach")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<&str> = verdicts.lines().collect();
    assert_eq!(verdicts.len(), programs.len());
    let (mut accepted, mut refused) = (0, 0);
    for (i, (program, kernel)) in programs.iter().zip(verdicts).enumerate() {
        let ours = rampart_enforce::bpf::check(program);
        assert_eq!(
            ours.is_ok(),
            kernel == "ok",
            "program {i}: bpf::check says {ours:?}, the kernel {kernel}: {program:?}"
        );
        if kernel == "ok" {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    (accepted, refused)
}
