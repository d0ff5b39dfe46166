//! Golden behaviour tests of the back end (by simulation), the measured targets,
//! mutation tests of the verifier and property tests emit → simulate == evaluate.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rampart_enforce::bpf::{SeccompProgram, SockFilter, op, ret};

use super::emit::{EmitError, emit};
use super::ir::{self, Action, ArchIr, Cmp, CmpOp, Cond, FilterIr, Origin, OriginId, Rule, Width};
use super::simulate::{SeccompData, Simulator, action_cache_allows, simulate};
use super::stats::{Stats, measure_insns};
use super::verify::verify_insns;
use super::{CompileError, compile};
use crate::arch::{Arch, X32_SYSCALL_BIT};

#[path = "../../benches/support/docker.rs"]
mod docker;

#[path = "../../benches/support/baselines.rs"]
mod baselines;

const EPERM: Action = Action::Errno(libc::EPERM as u16);
const ENOSYS: Action = Action::Errno(libc::ENOSYS as u16);
const X86_64: u32 = 0xC000_003E;
const I386: u32 = 0x4000_0003;

fn nr(arch: Arch, name: &str) -> u32 {
    arch.table()
        .nr(name)
        .unwrap_or_else(|| panic!("{name} on {arch}"))
}

fn eq(arg: u8, value: u64) -> Cond {
    Cond::Cmp(Cmp {
        arg,
        mask: u64::MAX,
        op: CmpOp::Eq,
        value,
        width: Width::U64,
    })
}

fn rule(cond: Cond, action: Action) -> Rule {
    Rule {
        cond,
        action,
        origin: None,
    }
}

fn arch_ir(arch: Arch, syscalls: Vec<(u32, Vec<Rule>)>) -> ArchIr {
    ArchIr {
        arch,
        syscalls: syscalls.into_iter().collect(),
        default_action: EPERM,
        default_origin: None,
        max_known_nr: arch.table().max_nr(),
        unknown_action: ENOSYS,
    }
}

fn filter(arches: Vec<ArchIr>) -> FilterIr {
    FilterIr {
        arches,
        bad_arch_action: Action::KillProcess,
        origins: vec![],
    }
}

/// How many instructions of `p` load the `seccomp_data` word at `off`.
fn loads_of(p: &SeccompProgram, off: u32) -> usize {
    p.instructions()
        .iter()
        .filter(|i| i.code == op::LD | op::W | op::ABS && i.k == off)
        .count()
}

fn run(p: &SeccompProgram, arch: u32, nr: u32, args: [u64; 6]) -> Action {
    let r = simulate(p.instructions(), &SeccompData::new(arch, nr, args)).expect("runs");
    Action::from_ret(r.ret)
}

#[test]
fn actions_round_trip_through_ret_values() {
    for a in [
        Action::Allow,
        Action::Errno(0),
        Action::Errno(4095),
        Action::KillProcess,
        Action::KillThread,
        Action::Trap,
        Action::Log,
        Action::Trace(7),
        Action::Notify,
    ] {
        assert_eq!(Action::from_ret(a.to_ret()), a);
    }
    assert_eq!(Action::KillThread.to_ret(), ret::KILL_THREAD);
    assert_eq!(Action::from_ret(ret::ERRNO | 0xffff), Action::Errno(4095));
    assert_eq!(Action::from_ret(0x1234_0000), Action::KillProcess);
}

#[test]
fn evaluate_routes_x32_and_unknown_tokens() {
    let x64 = arch_ir(
        Arch::X86_64,
        vec![(59, vec![rule(Cond::True, Action::Allow)])],
    );
    let ir = filter(vec![x64.clone()]);
    assert_eq!(ir.evaluate(X86_64, 59, [0; 6]).0, Action::Allow);
    assert_eq!(
        ir.evaluate(X86_64, 59 | X32_SYSCALL_BIT, [0; 6]).0,
        Action::KillProcess
    );
    assert_eq!(ir.evaluate(I386, 59, [0; 6]).0, Action::KillProcess);
    assert_eq!(ir.evaluate(X86_64, 1, [0; 6]).0, EPERM);
    assert_eq!(ir.evaluate(X86_64, 100_000, [0; 6]).0, ENOSYS);
    let x32 = arch_ir(Arch::X32, vec![]);
    let only_x32 = filter(vec![x32.clone()]);
    assert_eq!(only_x32.evaluate(X86_64, 59, [0; 6]).0, Action::KillProcess);
    assert_eq!(
        only_x32.evaluate(X86_64, X32_SYSCALL_BIT | 1, [0; 6]).0,
        EPERM
    );
    assert_eq!(
        only_x32.evaluate(X86_64, X32_SYSCALL_BIT | 600, [0; 6]).0,
        ENOSYS
    );
    let both = filter(vec![x64, x32]);
    assert_eq!(both.evaluate(X86_64, 59, [0; 6]).0, Action::Allow);
    assert_eq!(both.evaluate(X86_64, X32_SYSCALL_BIT | 59, [0; 6]).0, EPERM);
}

#[test]
fn u32_width_and_masks_evaluate_exactly() {
    let c = Cmp {
        arg: 1,
        mask: u64::MAX,
        op: CmpOp::Eq,
        value: 0x5412,
        width: Width::U32,
    };
    assert!(c.holds(0x5412));
    assert!(c.holds(0x5412 | 1 << 32));
    assert!(!c.holds(0x5413));
    let m = Cmp {
        arg: 0,
        mask: 0x7E02_0000,
        op: CmpOp::Eq,
        value: 0,
        width: Width::U64,
    };
    assert!(m.holds(libc::SIGCHLD as u64));
    assert!(!m.holds((libc::CLONE_NEWUSER | libc::SIGCHLD) as u64));
}

// ---------------------------------------------------------------------------
// Golden behaviour.
// ---------------------------------------------------------------------------

#[test]
fn a_value_list_tests_the_shared_high_word_once() {
    // `arg0 in [5 values below 2^32]`: every term is hi == 0 && lo == v, so the
    // high word is tested once and each value costs one `jeq` (20 → 8).
    let pers = nr(Arch::X86_64, "personality");
    let values = [0u64, 8, 0x20000, 0x20008, 0xffff_ffff];
    let list = Cond::Or(values.iter().map(|&v| eq(0, v)).collect());
    let ir = filter(vec![arch_ir(
        Arch::X86_64,
        vec![(pers, vec![rule(list, Action::Allow)])],
    )]);
    let c = compile(&ir).expect("compiles and verifies");
    let (lo, hi) = (
        rampart_enforce::bpf::data::arg_lo(0),
        rampart_enforce::bpf::data::arg_hi(0),
    );
    let loads = (loads_of(&c.program, hi), loads_of(&c.program, lo));
    assert_eq!(loads, (1, 1), "{}", c.disasm(&ir));
    for v in values {
        assert_eq!(
            run(&c.program, X86_64, pers, [v, 0, 0, 0, 0, 0]),
            Action::Allow
        );
        assert_eq!(
            run(&c.program, X86_64, pers, [v | 1 << 32, 0, 0, 0, 0, 0]),
            EPERM
        );
    }
    assert_eq!(run(&c.program, X86_64, pers, [9, 0, 0, 0, 0, 0]), EPERM);
}

#[test]
fn comparisons_sharing_a_high_word_test_it_once() {
    // `x < a || x == b || x > c` (socket's address-family rule) and the same shapes
    // with `&&`, with constants whose high word is 0 or 5: one load of each half,
    // and the decisions of the IR at every boundary of both words.
    let sock = nr(Arch::X86_64, "socket");
    let cmp = |op, value| {
        Cond::Cmp(Cmp {
            arg: 0,
            mask: u64::MAX,
            op,
            value,
            width: Width::U64,
        })
    };
    let (lo, hi) = (
        rampart_enforce::bpf::data::arg_lo(0),
        rampart_enforce::bpf::data::arg_hi(0),
    );
    for vh in [0u64, 5] {
        let base = vh << 32;
        let [a, b, c] = [38, 39, 40].map(|v| base | v);
        let shapes = [
            Cond::Or(vec![
                cmp(CmpOp::Lt, a),
                cmp(CmpOp::Eq, b),
                cmp(CmpOp::Gt, c),
            ]),
            Cond::And(vec![
                cmp(CmpOp::Ge, a),
                cmp(CmpOp::Ne, b),
                cmp(CmpOp::Le, c),
            ]),
            Cond::Or(vec![cmp(CmpOp::Le, a), cmp(CmpOp::Ge, c)]),
            Cond::And(vec![cmp(CmpOp::Gt, a), cmp(CmpOp::Lt, c)]),
        ];
        for cond in shapes {
            let ir = filter(vec![arch_ir(
                Arch::X86_64,
                vec![(sock, vec![rule(cond.clone(), Action::Allow)])],
            )]);
            let c = compile(&ir).expect("compiles and verifies");
            let loads = (loads_of(&c.program, hi), loads_of(&c.program, lo));
            assert_eq!(loads, (1, 1), "{}", c.disasm(&ir));
            let highs = [vh.saturating_sub(1), vh, vh + 1, 0xffff_ffff];
            let lows = [0, 37, 38, 39, 40, 41, 0xffff_ffff];
            for h in highs {
                for l in lows {
                    let x = h << 32 | l;
                    let args = [x, 0, 0, 0, 0, 0];
                    assert_eq!(
                        run(&c.program, X86_64, sock, args),
                        ir.evaluate(X86_64, sock, args).0,
                        "{cond:?} at {x:#x}"
                    );
                }
            }
        }
    }
}

#[test]
fn docker_clone_rule_denies_namespace_flags_and_allows_fork() {
    let p = docker::load_default(&[Arch::X86_64, Arch::X86, Arch::X32], false);
    let ir = p.to_ir();
    let c = compile(&ir).expect("compiles and verifies");
    for (token, clone) in [
        (X86_64, nr(Arch::X86_64, "clone")),
        (I386, nr(Arch::X86, "clone")),
    ] {
        let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
        assert_eq!(
            run(&c.program, token, clone, [newuser, 0, 0, 0, 0, 0]),
            EPERM
        );
        let fork = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        assert_eq!(
            run(&c.program, token, clone, [fork, 0, 0, 0, 0, 0]),
            Action::Allow
        );
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM) as u64;
        assert_eq!(
            run(&c.program, token, clone, [thread, 0, 0, 0, 0, 0]),
            Action::Allow
        );
        // The high word is outside the mask: it does not matter.
        assert_eq!(
            run(&c.program, token, clone, [fork | 1 << 40, 0, 0, 0, 0, 0]),
            Action::Allow
        );
    }
    // clone3 → ENOSYS so glibc falls back to clone.
    let clone3 = nr(Arch::X86_64, "clone3");
    assert_eq!(run(&c.program, X86_64, clone3, [0; 6]), ENOSYS);
    assert_eq!(
        run(&c.program, I386, nr(Arch::X86, "clone3"), [0; 6]),
        ENOSYS
    );
    // Personality: exactly the listed values.
    let pers = nr(Arch::X86_64, "personality");
    for v in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(
            run(&c.program, X86_64, pers, [v, 0, 0, 0, 0, 0]),
            Action::Allow,
            "{v:#x}"
        );
    }
    for v in [1u64, 9, 0x20001, 0x1_0000_0000, 0x1_0000_0008, u64::MAX] {
        assert_eq!(
            run(&c.program, X86_64, pers, [v, 0, 0, 0, 0, 0]),
            EPERM,
            "{v:#x}"
        );
    }
    // socket: AF_VSOCK (40) and AF_ALG (38) denied, others allowed, 64-bit exact.
    let socket = nr(Arch::X86_64, "socket");
    for (af, want) in [
        (libc::AF_INET as u64, Action::Allow),
        (37, Action::Allow),
        (38, EPERM),
        (39, Action::Allow),
        (40, EPERM),
        (41, Action::Allow),
        (1 << 32, Action::Allow),
        (38 | 1 << 32, Action::Allow),
    ] {
        assert_eq!(
            run(&c.program, X86_64, socket, [af, 0, 0, 0, 0, 0]),
            want,
            "af {af:#x}"
        );
    }
    // Unknown newer syscall: ENOSYS; a known denied one: EPERM.
    let max = ir.arches[0].max_known_nr;
    assert_eq!(run(&c.program, X86_64, max + 1, [0; 6]), ENOSYS);
    assert_eq!(
        run(&c.program, X86_64, nr(Arch::X86_64, "kexec_load"), [0; 6]),
        EPERM
    );
    assert_eq!(
        run(
            &c.program,
            X86_64,
            nr(Arch::X86_64, "io_uring_setup"),
            [0; 6]
        ),
        EPERM
    );
    // x32 numbers go to the x32 tree.
    let x32_ptrace = nr(Arch::X32, "ptrace");
    assert_eq!(run(&c.program, X86_64, x32_ptrace, [0; 6]), Action::Allow);
    assert_eq!(
        run(&c.program, X86_64, nr(Arch::X32, "kexec_load"), [0; 6]),
        EPERM
    );
    // Foreign arch: killed.
    assert_eq!(run(&c.program, 0xC000_00B7, 0, [0; 6]), Action::KillProcess);
}

#[test]
#[allow(clippy::unnecessary_cast)] // the ioctl request type differs per target
fn ioctl_tiocsti_is_blocked_whatever_the_high_word() {
    let tiocsti = libc::TIOCSTI as u64;
    let ioctl = nr(Arch::X86_64, "ioctl");
    let cmd = Cond::Cmp(Cmp {
        arg: 1,
        mask: u64::MAX,
        op: CmpOp::Eq,
        value: tiocsti,
        width: Width::U32,
    });
    let ir = filter(vec![arch_ir(
        Arch::X86_64,
        vec![(
            ioctl,
            vec![rule(cmd, EPERM), rule(Cond::True, Action::Allow)],
        )],
    )]);
    let c = compile(&ir).expect("compiles");
    for hi in [0u64, 1 << 32, 0xffff_ffff << 32] {
        assert_eq!(
            run(&c.program, X86_64, ioctl, [0, tiocsti | hi, 0, 0, 0, 0]),
            EPERM
        );
    }
    assert_eq!(
        run(
            &c.program,
            X86_64,
            ioctl,
            [0, libc::TCGETS as u64, 0, 0, 0, 0]
        ),
        Action::Allow
    );
    // The 64-bit comparison would have let it through: the width matters.
    let wide = Cmp {
        arg: 1,
        mask: u64::MAX,
        op: CmpOp::Eq,
        value: tiocsti,
        width: Width::U64,
    };
    assert!(!wide.holds(tiocsti | 1 << 32));
}

#[test]
fn x32_numbers_never_reach_the_x86_64_tree() {
    // Deny-list on x86_64 only: ptrace denied, everything else allowed.
    let ptrace = nr(Arch::X86_64, "ptrace");
    let mut a = arch_ir(Arch::X86_64, vec![(ptrace, vec![rule(Cond::True, EPERM)])]);
    a.default_action = Action::Allow;
    a.unknown_action = Action::Allow;
    let ir = filter(vec![a.clone()]);
    let c = compile(&ir).expect("compiles");
    assert_eq!(run(&c.program, X86_64, ptrace, [0; 6]), EPERM);
    assert_eq!(
        run(&c.program, X86_64, ptrace | X32_SYSCALL_BIT, [0; 6]),
        Action::KillProcess
    );
    assert_eq!(
        run(&c.program, X86_64, nr(Arch::X32, "ptrace"), [0; 6]),
        Action::KillProcess
    );
    assert_eq!(
        run(&c.program, X86_64, 0xC000_0000, [0; 6]),
        Action::KillProcess
    );
    assert_eq!(run(&c.program, X86_64, 0x8000_0000, [0; 6]), Action::Allow);
    // With x32 requested, x32 numbers get the x32 tree's decisions.
    let mut x = arch_ir(
        Arch::X32,
        vec![(nr(Arch::X32, "ptrace"), vec![rule(Cond::True, EPERM)])],
    );
    x.default_action = Action::Log;
    let ir = filter(vec![a, x]);
    let c = compile(&ir).expect("compiles");
    assert_eq!(
        run(&c.program, X86_64, nr(Arch::X32, "ptrace"), [0; 6]),
        EPERM
    );
    assert_eq!(
        run(&c.program, X86_64, X32_SYSCALL_BIT | 1, [0; 6]),
        Action::Log
    );
    assert_eq!(
        run(&c.program, X86_64, ptrace | X32_SYSCALL_BIT, [0; 6]),
        Action::Log
    );
    assert_eq!(
        run(&c.program, X86_64, X32_SYSCALL_BIT | 100_000, [0; 6]),
        ENOSYS
    );
    assert_eq!(run(&c.program, X86_64, ptrace, [0; 6]), EPERM);
    assert_eq!(run(&c.program, X86_64, 1, [0; 6]), Action::Allow);
}

#[test]
fn s390x_reads_the_high_half_first() {
    let ir = filter(vec![arch_ir(
        Arch::S390x,
        vec![(1, vec![rule(eq(0, 0x1_0000_0002), Action::Allow)])],
    )]);
    let c = compile(&ir).expect("compiles");
    let s390x = Arch::S390x.audit_arch();
    assert_eq!(
        run(&c.program, s390x, 1, [0x1_0000_0002, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    assert_eq!(
        run(&c.program, s390x, 1, [0x2_0000_0001, 0, 0, 0, 0, 0]),
        EPERM
    );
    assert!(c.disasm(&ir).contains("args[0].hi"));
}

fn gt(arg: u8, value: u64) -> Cond {
    Cond::Cmp(Cmp {
        arg,
        mask: u64::MAX,
        op: CmpOp::Gt,
        value,
        width: Width::U64,
    })
}

/// Many syscalls with distinct argument rules: the shared returns end up far
/// away, so jumps need `ret` copies or `ja` trampolines.
fn big_ir(syscalls: u32, origins: bool) -> FilterIr {
    let mut ir = filter(vec![arch_ir(
        Arch::X86_64,
        (0..syscalls)
            .map(|n| {
                let c = Cond::Or(vec![
                    gt(0, u64::from(n) << 32 | 7),
                    Cond::And(vec![eq(1, u64::from(n) * 3), Cond::Not(Box::new(eq(2, 5)))]),
                ]);
                let mut r = rule(
                    c,
                    if n % 3 == 0 {
                        Action::Trap
                    } else {
                        Action::Allow
                    },
                );
                if origins {
                    r.origin = Some(OriginId(n));
                }
                (n, vec![r])
            })
            .collect(),
    )]);
    if origins {
        ir.origins = (0..syscalls)
            .map(|n| Origin {
                file: "big.yaml".into(),
                line: n + 1,
                summary: format!("rule {n}"),
            })
            .collect();
    }
    ir.arches[0].max_known_nr = syscalls;
    ir
}

#[test]
fn long_jumps_are_bridged() {
    let ir = big_ir(120, false);
    let c = compile(&ir).expect("compiles and verifies");
    let insns = c.program.instructions();
    assert!(insns.len() > 600, "{} instructions", insns.len());
    // Some conditional jump must reach further than 255 without help: the
    // shared returns are at the end; copies or trampolines make them reachable.
    let rets = insns.iter().filter(|i| i.code == op::RET | op::K).count();
    let jas = insns.iter().filter(|i| i.code == op::JMP | op::JA).count();
    assert!(rets + jas > 4, "{rets} rets, {jas} ja");
    assert!(c.verification.argument_vectors > 1000);
}

#[test]
fn oversized_filters_name_their_biggest_rules() {
    let ir = big_ir(1200, true);
    match emit(&ir) {
        Err(EmitError::TooLarge { len, max, top }) => {
            assert!(len > max);
            assert_eq!(max, 4096);
            assert!(top.iter().any(|c| c.description.starts_with("big.yaml:")));
            let msg = EmitError::TooLarge { len, max, top }.to_string();
            assert!(msg.contains("big.yaml:"), "{msg}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        compile(&ir),
        Err(CompileError::Emit(EmitError::TooLarge { .. }))
    ));
}

#[test]
fn invalid_argument_index_is_refused() {
    let ir = filter(vec![arch_ir(
        Arch::X86_64,
        vec![(1, vec![rule(eq(6, 1), Action::Allow)])],
    )]);
    assert!(matches!(emit(&ir), Err(EmitError::InvalidIr(_))));
}

// ---------------------------------------------------------------------------
// Targets and comparison with other compilers.
// ---------------------------------------------------------------------------

fn worst_allowed(insns: &[SockFilter], token: u32, nrs: impl Iterator<Item = u32>) -> usize {
    let sim = Simulator::new(insns).expect("runs");
    nrs.map(|n| sim.run(&SeccompData::new(token, n, [0; 6])).1)
        .max()
        .unwrap_or(0)
}

#[test]
fn docker_allow_list_meets_the_targets() {
    let p = docker::load_default(&[Arch::X86_64], true);
    let ir = p.to_ir();
    let allowed = ir.arches[0].syscalls.len();
    // 297 names libseccomp 2.5 knows, plus newer ones our table knows.
    assert!(
        allowed >= 297,
        "Docker's unconditional x86_64 allow-list: {allowed}"
    );
    let c = compile(&ir).expect("compiles");
    let s = &c.stats;
    // Every decision over 0..1023 plus the x32 range.
    let worst = worst_allowed(
        c.program.instructions(),
        X86_64,
        (0..1024).chain(X32_SYSCALL_BIT..X32_SYSCALL_BIT + 1024),
    );
    eprintln!(
        "rampart allow-list: {} instructions, worst-case {} (all vectors {}), avg {:.2}, cacheable {}/{}",
        s.instructions,
        worst,
        s.worst_case,
        s.arches[0].average,
        s.arches[0].cacheable,
        s.arches[0].unconditional_allow
    );
    assert!(
        s.instructions <= 62,
        "{} instructions\n{}",
        s.instructions,
        c.disasm(&ir)
    );
    assert!(
        s.worst_case <= 10,
        "worst case {}\n{}",
        s.worst_case,
        c.disasm(&ir)
    );
    assert_eq!(s.arches[0].unconditional_allow, allowed);
    assert!(s.arches[0].allow_not_cacheable.is_empty());
    assert_eq!(s.arches[0].cacheable, allowed);
    assert_eq!(
        run(&c.program, X86_64, X32_SYSCALL_BIT | 59, [0; 6]),
        Action::KillProcess
    );
}

#[test]
fn docker_whole_profile_beats_libseccomp() {
    let arches = [Arch::X86_64, Arch::X86, Arch::X32];
    let p = docker::load_default(&arches, false);
    let ir = p.to_ir();
    let c = compile(&ir).expect("compiles");
    let l1 = baselines::libseccomp_program(&p, 1);
    let l2 = baselines::libseccomp_program(&p, 2);
    let m1 = measure_insns(&ir, &l1);
    let m2 = measure_insns(&ir, &l2);
    eprintln!(
        "whole profile x86_64+x86+x32: rampart {} insns / worst {}; libseccomp L1 {} / {}; L2 {} / {}",
        c.stats.instructions,
        c.stats.worst_case,
        m1.instructions,
        m1.worst_case,
        m2.instructions,
        m2.worst_case
    );
    assert!(
        c.stats.instructions * 3 <= m2.instructions,
        "{} vs {}",
        c.stats.instructions,
        m2.instructions
    );
    assert!(
        c.stats.worst_case <= m2.worst_case,
        "{} vs {}",
        c.stats.worst_case,
        m2.worst_case
    );
    // What attaching costs the kernel's action-cache emulation (x86_64 and x86;
    // x32 is never emulated). Planning for it took rampart's from 16,293 steps
    // (worst case, then size) to about 10,500: below libseccomp's level-2 trees
    // (14,750) at a fifth of their size, and 1/24 of level 1's linear list
    // (254,910), the level runc uses.
    let steps = |s: &Stats| {
        s.arches
            .iter()
            .map(|a| a.cache_emulation_steps)
            .sum::<usize>()
    };
    eprintln!(
        "action-cache emulation steps: rampart {}; libseccomp L1 {}, L2 {}",
        steps(&c.stats),
        steps(&m1),
        steps(&m2)
    );
    assert!(steps(&c.stats) <= 11_000, "{}", steps(&c.stats));
    assert!(steps(&c.stats) < steps(&m2));
    // libseccomp agrees with our IR on x86_64 and x32 for every table number it
    // knows (a check of the loader, not of rampart).
    let sim = Simulator::new(&l2).expect("libseccomp output runs");
    for (a, sa) in [
        (Arch::X86_64, libseccomp::ScmpArch::X8664),
        (Arch::X32, libseccomp::ScmpArch::X32),
    ] {
        for (name, n) in a.table().iter() {
            // Only names this libseccomp resolves to the same number on this arch.
            let theirs = libseccomp::ScmpSyscall::from_name_by_arch(name, sa)
                .map(|x| i32::from(x) as u32)
                .ok();
            if theirs != Some(n) || libseccomp::ScmpSyscall::from_name(name).is_err() {
                continue;
            }
            let d = SeccompData::new(X86_64, n, [0; 6]);
            let want = ir.evaluate(X86_64, n, [0; 6]).0;
            if ir
                .route(X86_64, n)
                .is_some_and(|r| r.syscalls.contains_key(&n) || n <= r.max_known_nr)
            {
                assert_eq!(Action::from_ret(sim.run(&d).0), want, "{a} {name}");
            }
        }
    }
}

#[test]
fn benchmark_table() {
    // The numbers recorded in docs/BENCHMARKS.md (run with --nocapture).
    for (label, arches, allow_only) in [
        ("allow-list x86_64", &[Arch::X86_64][..], true),
        ("profile x86_64", &[Arch::X86_64][..], false),
        (
            "profile x86_64+x86+x32",
            &[Arch::X86_64, Arch::X86, Arch::X32][..],
            false,
        ),
    ] {
        let p = docker::load_default(arches, allow_only);
        let ir = p.to_ir();
        let c = compile(&ir).expect("compiles");
        let mut rows = vec![("rampart".to_string(), c.program.instructions().to_vec())];
        rows.push(("libseccomp L1".into(), baselines::libseccomp_program(&p, 1)));
        rows.push(("libseccomp L2".into(), baselines::libseccomp_program(&p, 2)));
        if arches == [Arch::X86_64]
            && let Some(s) = baselines::seccompiler_program(&p)
        {
            rows.push(("seccompiler".into(), s));
        }
        for (name, insns) in rows {
            let m = measure_insns(&ir, &insns);
            let table_worst = m.arches.iter().map(|a| a.worst_case).max().unwrap_or(0);
            let cache: usize = m.arches.iter().map(|a| a.cacheable).sum();
            let emulated: usize = m.arches.iter().map(|a| a.cache_emulation_steps).sum();
            let avg: Vec<String> = m
                .arches
                .iter()
                .map(|a| format!("{}={:.1}", a.arch, a.average))
                .collect();
            eprintln!(
                "| {label} | {name} | {} | {} | {} | {} | {cache} | {emulated} |",
                m.instructions,
                m.worst_case,
                table_worst,
                avg.join(" ")
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The verifier catches miscompilations.
// ---------------------------------------------------------------------------

#[test]
fn verify_catches_mutated_jumps_and_constants() {
    let p = docker::load_default(&[Arch::X86_64, Arch::X86, Arch::X32], false);
    let ir = p.to_ir();
    let c = compile(&ir).expect("compiles");
    let insns = c.program.instructions();
    // Swapping a jump's targets or changing a return value must always be caught.
    // Moving a comparison constant by one can be a genuinely equivalent program
    // (a split point between two numbers with the same decision, or a `jset
    // #0xffffffff` on a high word whose both branches reach ALLOW for Docker's
    // socket rules), so for those at least 95% must be caught.
    let (mut tried, mut caught) = (0, 0);
    let (mut k_tried, mut k_caught) = (0, 0);
    let mut missed = Vec::new();
    for pc in 0..insns.len() {
        let i = insns[pc];
        let mut variants = Vec::new();
        if i.code & 0x07 == op::JMP && i.code != op::JMP | op::JA && i.jt != i.jf {
            variants.push(SockFilter {
                jt: i.jf,
                jf: i.jt,
                ..i
            });
        }
        if i.code & 0x07 == op::JMP && i.code != op::JMP | op::JA {
            let mut m = insns.to_vec();
            m[pc] = SockFilter {
                k: i.k.wrapping_add(1),
                ..i
            };
            k_tried += 1;
            k_caught += usize::from(verify_insns(&ir, &m).is_err());
        }
        if i.code == op::RET | op::K {
            variants.push(SockFilter { k: i.k ^ 1, ..i });
        }
        for v in variants {
            let mut m = insns.to_vec();
            m[pc] = v;
            tried += 1;
            if verify_insns(&ir, &m).is_err() {
                caught += 1;
            } else {
                missed.push((pc, v));
            }
        }
    }
    assert!(tried > 100, "{tried}");
    assert_eq!(
        caught,
        tried,
        "mutations not caught: {missed:?}\n{}",
        c.disasm(&ir)
    );
    assert!(
        k_caught * 100 >= k_tried * 95,
        "{k_caught}/{k_tried} constant mutations caught"
    );
    eprintln!("mutations caught: {caught}/{tried} target/return, {k_caught}/{k_tried} constants");
}

/// `compile` builds the vector set once and runs each vector once for both the
/// proof and the statistics: it must give the same report and the same figures
/// as `verify` and `stats::measure` run separately.
#[test]
fn compile_shares_vectors_without_changing_proof_or_stats() {
    for arches in [&[Arch::X86_64][..], &[Arch::X86_64, Arch::X86, Arch::X32]] {
        let ir = docker::load_default(arches, false).to_ir();
        let c = compile(&ir).expect("compiles");
        let alone = super::verify::verify(&ir, &c.program).expect("verifies");
        assert_eq!(c.verification, alone);
        assert_eq!(c.stats, super::stats::measure(&ir, &c.program));
    }
}

/// The vector set as first written: every number set sorted and deduplicated,
/// each number's rules looked up through `route`. `verify::vectors` must build
/// exactly this, in this order.
fn plain_vectors(
    ir: &FilterIr,
    program: &[SockFilter],
) -> Vec<(SeccompData, super::verify::VectorKind)> {
    use super::verify::{VectorKind, arch_range, arg_vectors, compares_args};
    let mut out = Vec::new();
    let mut tokens: Vec<u32> = ir.arches.iter().map(|a| a.arch.audit_arch()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    let mut program_ks: Vec<u32> = Vec::new();
    for ins in program {
        if ins.code & 0x07 == op::JMP && ins.code & 0xf0 != op::JA {
            for k in [ins.k.wrapping_sub(1), ins.k, ins.k.wrapping_add(1)] {
                program_ks.extend([k, k ^ X32_SYSCALL_BIT]);
            }
        }
    }
    for &tok in &tokens {
        let mut nrs = program_ks.clone();
        nrs.extend([0, 1, 0x3fff_ffff, X32_SYSCALL_BIT, 0x7fff_ffff]);
        nrs.extend([0x8000_0000, 0xbfff_ffff, 0xc000_0000, 0xffff_ffff]);
        for a in ir.arches.iter().filter(|a| a.arch.audit_arch() == tok) {
            nrs.extend(arch_range(a));
            for &nr in a.syscalls.keys() {
                nrs.extend([nr.wrapping_sub(1), nr, nr.wrapping_add(1)]);
                nrs.push(nr ^ X32_SYSCALL_BIT);
            }
            nrs.extend([a.max_known_nr, a.max_known_nr.wrapping_add(1)]);
        }
        if tok == X86_64 {
            nrs.extend(0..=600u32);
            nrs.extend(X32_SYSCALL_BIT..=X32_SYSCALL_BIT + 600);
        }
        nrs.sort_unstable();
        nrs.dedup();
        for nr in nrs {
            out.push((SeccompData::new(tok, nr, [0; 6]), VectorKind::Number));
            if let Some(a) = ir.route(tok, nr)
                && let Some(rules) = a.syscalls.get(&nr)
            {
                let conds: Vec<&Cond> = rules.iter().map(|r| &r.cond).collect();
                if !compares_args(&conds) {
                    continue;
                }
                for args in arg_vectors(&conds) {
                    if args != [0; 6] {
                        out.push((SeccompData::new(tok, nr, args), VectorKind::Argument));
                    }
                }
            }
        }
    }
    super::verify::push_foreign_vectors(&tokens, &mut out);
    out
}

/// Verification checks the same vectors, in the same order, as the plain
/// construction: faster set building must not drop or reorder any.
#[test]
fn vectors_equal_the_plain_construction() {
    for arches in [
        &[Arch::X86_64][..],
        &[Arch::X86_64, Arch::X32],
        &[Arch::X86_64, Arch::X86, Arch::X32],
        &[Arch::X86, Arch::Aarch64, Arch::S390x],
    ] {
        let ir = docker::load_default(arches, false).to_ir();
        let insns = emit(&ir).expect("emits").program.instructions().to_vec();
        let fast = super::verify::vectors(&ir, Some(&insns));
        assert!(fast == plain_vectors(&ir, &insns), "{arches:?}");
        assert!(super::verify::vectors(&ir, None) == plain_vectors(&ir, &[]));
    }
}

#[test]
fn action_cache_sees_every_unconditional_allow_of_the_whole_profile() {
    let p = docker::load_default(&[Arch::X86_64, Arch::X86, Arch::X32], false);
    let ir = p.to_ir();
    let c = compile(&ir).expect("compiles");
    for a in &c.stats.arches {
        assert!(
            a.allow_not_cacheable.is_empty(),
            "{}: {:?}",
            a.arch,
            a.allow_not_cacheable
        );
        assert!(a.cacheable > 250, "{}: {}", a.arch, a.cacheable);
    }
    // Argument-dependent syscalls are not cacheable, as the kernel would find.
    let clone = nr(Arch::X86_64, "clone");
    assert!(!action_cache_allows(
        c.program.instructions(),
        X86_64,
        clone
    ));
    assert!(action_cache_allows(
        c.program.instructions(),
        X86_64,
        nr(Arch::X86_64, "read")
    ));
}

/// The compat gate of the 3-arch profile: one, for x86, where the dispatch
/// enters the x86 tree; closed, it decides everything as before, and the
/// kernel's action cache then skips x86 (and only x86).
#[test]
fn the_x86_tree_has_a_compat_gate_that_only_turns_its_cache_off() {
    use rampart_enforce::bpf::gate;
    let p = docker::load_default(&[Arch::X86_64, Arch::X86, Arch::X32], false);
    let ir = p.to_ir();
    let c = compile(&ir).expect("compiles");
    assert_eq!(c.gates.len(), 1, "{:?}", c.gates);
    let g = c.gates[0];
    let insns = c.program.instructions();
    assert_eq!(g.arch, I386);
    // The dispatch: `ld [arch]`, `jeq` per token; the I386 one jumps to the gate.
    let entry = (1..insns.len())
        .take_while(|&i| insns[i].code == op::JMP | op::JEQ | op::K)
        .find(|&i| insns[i].k == I386)
        .map(|i| i + 1 + usize::from(insns[i].jt));
    assert_eq!(entry, Some(usize::from(g.at)));
    assert_eq!(insns[usize::from(g.at)], gate::OPEN);

    let mut closed = c.program.clone();
    assert!(closed.close_gate(usize::from(g.at)));
    verify_insns(&ir, closed.instructions()).expect("the closed program is proven too");
    let open = measure_insns(&ir, insns);
    let shut = measure_insns(&ir, closed.instructions());
    for (a, b) in open.arches.iter().zip(&shut.arches) {
        if a.arch == "x86" {
            assert!(
                a.cacheable > 250 && b.cacheable == 0,
                "{} → {}",
                a.cacheable,
                b.cacheable
            );
            // Stopped at the gate: `ld [arch]`, two `jeq`, the gate.
            assert_eq!(
                b.cache_emulation_steps,
                4 * (Arch::X86.table().max_nr() as usize + 1)
            );
            assert!(a.cache_emulation_steps > 2 * b.cache_emulation_steps);
        } else {
            assert_eq!(
                (a.cacheable, a.cache_emulation_steps),
                (b.cacheable, b.cache_emulation_steps)
            );
        }
        assert_eq!(a.worst_case, b.worst_case);
    }
}

#[test]
fn compat_gates_go_where_the_kernel_emulates_a_compat_abi() {
    let gated = |arches: &[Arch]| -> Vec<u32> {
        let ir = filter(arches.iter().map(|&a| arch_ir(a, vec![])).collect());
        compile(&ir).unwrap().gates.iter().map(|g| g.arch).collect()
    };
    assert_eq!(gated(&[Arch::X86_64, Arch::X86]), vec![I386]);
    assert_eq!(
        gated(&[Arch::Aarch64, Arch::Arm]),
        vec![Arch::Arm.audit_arch()]
    );
    // x86 alone may be an i386 kernel's native ABI; x32 is never emulated.
    assert!(gated(&[Arch::X86]).is_empty());
    assert!(gated(&[Arch::X86_64, Arch::X32]).is_empty());
    assert!(gated(&[Arch::Arm, Arch::X86_64]).is_empty());
}

#[test]
fn disassembly_names_things() {
    let p = docker::load_default(&[Arch::X86_64, Arch::X86], false);
    let ir = p.to_ir();
    let c = compile(&ir).expect("compiles");
    let text = c.disasm(&ir);
    for needle in [
        "AUDIT_ARCH_X86_64",
        "AUDIT_ARCH_I386",
        "ERRNO(EPERM)",
        "ERRNO(ENOSYS)",
        "KILL_PROCESS",
        "args[0].lo",
        "docker-default.json:",
        "personality",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    let json = serde_json::to_string(&c.summary()).expect("serializes");
    assert!(json.contains("\"worst_case\""));
}

// ---------------------------------------------------------------------------
// Properties: emit → simulate == evaluate.
// ---------------------------------------------------------------------------

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Allow),
        (0u16..=4095).prop_map(Action::Errno),
        Just(Action::KillProcess),
        Just(Action::KillThread),
        Just(Action::Trap),
        Just(Action::Log),
        any::<u16>().prop_map(Action::Trace),
        Just(Action::Notify),
    ]
}

fn u64_interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(0xffff_ffff),
        Just(1 << 32),
        0u64..64,
        (0u64..4, 0u64..64).prop_map(|(h, l)| h << 32 | l),
        any::<u64>(),
        (0u32..64).prop_map(|b| 1u64 << b),
    ]
}

fn cmp() -> impl Strategy<Value = Cmp> {
    let op = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge)
    ];
    let width = prop_oneof![3 => Just(Width::U64), 1 => Just(Width::U32)];
    (0u8..6, u64_interesting(), op, u64_interesting(), width).prop_map(
        |(arg, mask, op, value, width)| {
            let (mask, value) = match width {
                Width::U64 => (mask, value),
                Width::U32 => (mask & 0xffff_ffff, value & 0xffff_ffff),
            };
            Cmp {
                arg: arg % 3,
                mask,
                op,
                value,
                width,
            }
        },
    )
}

fn cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![1 => Just(Cond::True), 8 => cmp().prop_map(Cond::Cmp)];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Cond::And),
            prop::collection::vec(inner, 0..3).prop_map(Cond::Or),
        ]
    })
}

fn arch_ir_strategy(arch: Arch) -> impl Strategy<Value = ArchIr> {
    let base = if arch == Arch::X32 {
        X32_SYSCALL_BIT
    } else {
        0
    };
    let nr = prop_oneof![
        8 => (0u32..48).prop_map(move |n| base | n),
        1 => (0u32..48).prop_map(move |n| (base ^ X32_SYSCALL_BIT) | n),
        1 => any::<u32>(),
    ];
    let rules = prop::collection::vec(
        (cond(), action()).prop_map(|(cond, action)| Rule {
            cond,
            action,
            origin: None,
        }),
        0..4,
    );
    (
        prop::collection::btree_map(nr, rules, 0..10),
        action(),
        action(),
        prop_oneof![(0u32..64).prop_map(move |m| base | m), any::<u32>()],
    )
        .prop_map(
            move |(syscalls, default_action, unknown_action, max_known_nr)| ArchIr {
                arch,
                syscalls: syscalls.into_iter().collect::<BTreeMap<_, _>>(),
                default_action,
                default_origin: None,
                max_known_nr,
                unknown_action,
            },
        )
}

fn filter_strategy() -> impl Strategy<Value = FilterIr> {
    let arches = prop::sample::subsequence(
        vec![
            Arch::X86_64,
            Arch::X32,
            Arch::X86,
            Arch::S390x,
            Arch::Aarch64,
        ],
        1..4,
    );
    (arches, action())
        .prop_flat_map(|(arches, bad)| {
            let irs: Vec<_> = arches.into_iter().map(arch_ir_strategy).collect();
            (irs, Just(bad))
        })
        .prop_map(|(arches, bad_arch_action)| FilterIr {
            arches,
            bad_arch_action,
            origins: vec![],
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn emitted_programs_agree_with_the_ir(ir in filter_strategy(), seed in any::<u64>()) {
        let c = match compile(&ir) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let insns = c.program.instructions();
        prop_assert!(super::verify::vectors(&ir, Some(insns)) == plain_vectors(&ir, insns));
        // With its compat gates closed (as the enforcer does for a 64-bit app),
        // the program is proven equal to the IR too.
        if !c.gates.is_empty() {
            let mut closed = c.program.clone();
            for g in &c.gates {
                prop_assert!(closed.close_gate(usize::from(g.at)));
            }
            if let Err(e) = verify_insns(&ir, closed.instructions()) {
                panic!("closed gates: {e}");
            }
        }
        // Random vectors on top of the verifier's boundary set.
        let sim = Simulator::new(c.program.instructions()).expect("runs");
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
        for _ in 0..512 {
            let a = &ir.arches[(next() % ir.arches.len() as u64) as usize];
            let keys: Vec<u32> = a.syscalls.keys().copied().collect();
            let n = if !keys.is_empty() && next() % 4 != 0 {
                keys[(next() % keys.len() as u64) as usize]
            } else {
                next() as u32
            };
            let mut args = [0u64; 6];
            for x in args.iter_mut() {
                *x = match next() % 4 { 0 => next(), 1 => next() & 0xff, 2 => next() & 0xffff_ffff, _ => next() << 32 };
            }
            let d = SeccompData::new(a.arch.audit_arch(), n, args);
            prop_assert_eq!(sim.run(&d).0, ir.evaluate(d.arch, d.nr, d.args).0.to_ret());
        }
    }
}

#[test]
fn ir_module_is_reexported() {
    // The lead's front end builds these types; keep the path stable.
    let _ = ir::MAX_ERRNO;
}
