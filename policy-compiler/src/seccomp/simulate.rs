//! A classic-BPF interpreter for the seccomp subset, and an emulation of the
//! kernel's constant-ALLOW analysis (the action cache).
//!
//! The interpreter accepts every program [`bpf::check`] accepts and follows the
//! kernel's run-time rules where cBPF leaves room: `A` and `X` start at 0, a
//! division by `X == 0` ends the program returning 0, shifts by `X` use the low
//! five bits of `X`, `ld len` / `ldx len` read `sizeof(struct seccomp_data)`.

use rampart_enforce::bpf::{self, ProgramError, SockFilter, op};
use serde::Serialize;

/// `struct seccomp_data` as a filter sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// `__AUDIT_ARCH_LE`: set in the token of every little-endian architecture.
const AUDIT_ARCH_LE: u32 = 0x4000_0000;

impl SeccompData {
    pub fn new(arch: u32, nr: u32, args: [u64; 6]) -> Self {
        SeccompData {
            nr,
            arch,
            instruction_pointer: 0,
            args,
        }
    }

    /// Whether the architecture token names a big-endian ABI (s390x): the byte
    /// order decides which half of a 64-bit field sits at the lower offset.
    pub fn big_endian(&self) -> bool {
        self.arch & AUDIT_ARCH_LE == 0
    }

    /// The 32-bit word at byte offset `off` (4-aligned, < 64), as `ld [off]` reads it.
    pub fn word(&self, off: u32) -> Option<u32> {
        if off >= bpf::SECCOMP_DATA_LEN || !off.is_multiple_of(4) {
            return None;
        }
        let split = |v: u64, second: bool| -> u32 {
            // `second`: the word at the higher address.
            let high = second != self.big_endian();
            if high { (v >> 32) as u32 } else { v as u32 }
        };
        Some(match off {
            0 => self.nr,
            4 => self.arch,
            8 => split(self.instruction_pointer, false),
            12 => split(self.instruction_pointer, true),
            _ => {
                let i = ((off - 16) / 8) as usize;
                split(self.args[i], (off - 16) % 8 == 4)
            }
        })
    }
}

/// What one run of a filter did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimResult {
    /// The value of the `ret` reached.
    pub ret: u32,
    /// Instructions executed, the final `ret` included.
    pub executed: usize,
    /// The program counters visited, in order.
    pub pcs: Vec<usize>,
}

/// Why a program could not be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("the kernel would refuse this program: {0}")]
    Rejected(#[from] ProgramError),
}

/// A program that passed [`bpf::check`], ready to run many times.
#[derive(Clone, Debug)]
pub struct Simulator<'a> {
    insns: &'a [SockFilter],
}

impl<'a> Simulator<'a> {
    /// Checks the program like the kernel does at attach time.
    pub fn new(insns: &'a [SockFilter]) -> Result<Self, SimError> {
        bpf::check(insns)?;
        Ok(Simulator { insns })
    }

    /// Runs the program; `trace` collects the pcs visited.
    fn exec(&self, d: &SeccompData, mut trace: Option<&mut Vec<usize>>) -> (u32, usize) {
        use op::*;
        let p = self.insns;
        let (mut a, mut x): (u32, u32) = (0, 0);
        let mut mem = [0u32; bpf::MEM_WORDS as usize];
        let mut pc = 0usize;
        let mut executed = 0usize;
        // `check` guarantees every jump lands inside the program and that the last
        // instruction returns; the `get`s below keep this total even so.
        while let Some(ins) = p.get(pc) {
            executed += 1;
            if let Some(t) = trace.as_deref_mut() {
                t.push(pc);
            }
            let k = ins.k;
            // The compiler's own instructions first (verification runs
            // thousands of vectors), each exactly as the general case runs it.
            let fast_taken = match ins.code {
                c if c == JMP | JEQ | K => Some(a == k),
                c if c == JMP | JGE | K => Some(a >= k),
                c if c == JMP | JSET | K => Some(a & k != 0),
                c if c == LD | W | ABS => {
                    a = d.word(k).unwrap_or(0);
                    pc += 1;
                    continue;
                }
                c if c == RET | K => return (k, executed),
                _ => None,
            };
            if let Some(taken) = fast_taken {
                let off = usize::from(if taken { ins.jt } else { ins.jf });
                pc = pc.saturating_add(1).saturating_add(off);
                continue;
            }
            let src = if ins.code & X != 0 { x } else { k };
            let mut next = pc + 1;
            match ins.code & 0x07 {
                LD | LDX => {
                    let v = match ins.code & 0xe0 {
                        ABS => d.word(k).unwrap_or(0),
                        IMM => k,
                        MEM => mem.get(k as usize).copied().unwrap_or(0),
                        LEN => bpf::SECCOMP_DATA_LEN,
                        _ => 0,
                    };
                    if ins.code & 0x07 == LD {
                        a = v;
                    } else {
                        x = v;
                    }
                }
                ST => {
                    if let Some(m) = mem.get_mut(k as usize) {
                        *m = a;
                    }
                }
                STX => {
                    if let Some(m) = mem.get_mut(k as usize) {
                        *m = x;
                    }
                }
                ALU => {
                    a = match ins.code & 0xf0 {
                        ADD => a.wrapping_add(src),
                        SUB => a.wrapping_sub(src),
                        MUL => a.wrapping_mul(src),
                        DIV => match a.checked_div(src) {
                            Some(v) => v,
                            // The kernel's cBPF→eBPF conversion returns 0.
                            None => return (0, executed),
                        },
                        MOD => match a.checked_rem(src) {
                            Some(v) => v,
                            None => return (0, executed),
                        },
                        OR => a | src,
                        AND => a & src,
                        XOR => a ^ src,
                        LSH => a.wrapping_shl(src & 31),
                        RSH => a.wrapping_shr(src & 31),
                        NEG => a.wrapping_neg(),
                        _ => a,
                    };
                }
                JMP => {
                    let off = match ins.code & 0xf0 {
                        JA => k as usize,
                        op => {
                            let taken = match op {
                                JEQ => a == src,
                                JGT => a > src,
                                JGE => a >= src,
                                JSET => a & src != 0,
                                _ => false,
                            };
                            usize::from(if taken { ins.jt } else { ins.jf })
                        }
                    };
                    next = pc.saturating_add(1).saturating_add(off);
                }
                RET => {
                    let v = if ins.code & 0x18 == A { a } else { k };
                    return (v, executed);
                }
                _ => {
                    // MISC
                    if ins.code & 0xf8 == TXA {
                        a = x;
                    } else {
                        x = a;
                    }
                }
            }
            pc = next;
        }
        // Unreachable for checked programs; the kernel would have refused it.
        (bpf::ret::KILL_PROCESS, executed)
    }

    /// Runs the filter: return value and instructions executed.
    pub fn run(&self, d: &SeccompData) -> (u32, usize) {
        self.exec(d, None)
    }

    /// Runs the filter and records the path.
    pub fn trace(&self, d: &SeccompData) -> SimResult {
        let mut pcs = Vec::new();
        let (ret, executed) = self.exec(d, Some(&mut pcs));
        SimResult { ret, executed, pcs }
    }
}

/// Checks and runs `program` on `data` once.
pub fn simulate(program: &[SockFilter], data: &SeccompData) -> Result<SimResult, SimError> {
    Ok(Simulator::new(program)?.trace(data))
}

/// The kernel's `seccomp_is_const_allow()` (kernel/seccomp.c, Linux ≥ 5.11): can
/// the filter be proven to return exactly `SECCOMP_RET_ALLOW` for `(arch, nr)`
/// knowing nothing else? Only `ld [nr]`, `ld [arch]`, `ja`, `jeq/jge/jgt/jset #k`,
/// `and #k` and `ret #k` may be on the path; anything else gives up. The kernel
/// does this for the native (and compat) arch and every number below its
/// `NR_syscalls`; such syscalls then skip the filter altogether.
pub fn action_cache_allows(program: &[SockFilter], arch_token: u32, nr: u32) -> bool {
    action_cache_emulation(program, arch_token, nr).0
}

/// [`action_cache_allows`] and the instructions the kernel's emulation visits to
/// decide it: what this number costs the filter's attach.
pub fn action_cache_emulation(program: &[SockFilter], arch_token: u32, nr: u32) -> (bool, usize) {
    use op::*;
    let mut reg: u32 = 0;
    let mut pc = 0usize;
    let mut steps = 0;
    while let Some(ins) = program.get(pc) {
        steps += 1;
        let k = ins.k;
        match ins.code {
            c if c == LD | W | ABS => match k {
                0 => reg = nr,
                4 => reg = arch_token,
                _ => return (false, steps),
            },
            c if c == RET | K => return (k == bpf::ret::ALLOW, steps),
            c if c == JMP | JA => pc = pc.saturating_add(k as usize),
            c if c == JMP | JEQ | K
                || c == JMP | JGE | K
                || c == JMP | JGT | K
                || c == JMP | JSET | K =>
            {
                let taken = match c & 0xf0 {
                    JEQ => reg == k,
                    JGE => reg >= k,
                    JGT => reg > k,
                    _ => reg & k != 0,
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
            c if c == ALU | AND | K => reg &= k,
            _ => return (false, steps),
        }
        pc = pc.saturating_add(1);
    }
    (false, steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use op::*;
    use rampart_enforce::bpf::{data, ret};

    const X86_64: u32 = 0xC000_003E;
    const S390X: u32 = 0x8000_0016;

    #[test]
    fn loads_follow_byte_order() {
        let d = SeccompData::new(X86_64, 1, [0x1111_2222_3333_4444, 0, 0, 0, 0, 0]);
        assert_eq!(d.word(data::arg_lo(0)), Some(0x3333_4444));
        assert_eq!(d.word(data::arg_hi(0)), Some(0x1111_2222));
        let d = SeccompData { arch: S390X, ..d };
        assert_eq!(d.word(16), Some(0x1111_2222));
        assert_eq!(d.word(20), Some(0x3333_4444));
        assert_eq!(d.word(64), None);
        assert_eq!(d.word(2), None);
    }

    #[test]
    fn runs_alu_memory_and_x() {
        // A = nr; X = A; A = args[0].lo; A = A*X + 7; mem[3] = A; A = 0; A = mem[3];
        // A /= X; ret A.
        let p = vec![
            SockFilter::stmt(LD | W | ABS, 0),
            SockFilter::stmt(MISC | TAX, 0),
            SockFilter::stmt(LD | W | ABS, data::arg_lo(0)),
            SockFilter::stmt(ALU | MUL | X, 0),
            SockFilter::stmt(ALU | ADD | K, 7),
            SockFilter::stmt(ST, 3),
            SockFilter::stmt(LD | IMM, 0),
            SockFilter::stmt(LD | MEM, 3),
            SockFilter::stmt(ALU | DIV | X, 0),
            SockFilter::stmt(RET | A, 0),
        ];
        let r = simulate(&p, &SeccompData::new(X86_64, 5, [6, 0, 0, 0, 0, 0])).unwrap();
        assert_eq!(r.ret, 37 / 5);
        assert_eq!(r.executed, 10);
        assert_eq!(r.pcs, (0..10).collect::<Vec<_>>());
        // Division by X == 0 returns 0, as the kernel does.
        let r = simulate(&p, &SeccompData::new(X86_64, 0, [6, 0, 0, 0, 0, 0])).unwrap();
        assert_eq!((r.ret, r.executed), (0, 9));
    }

    /// The fast path runs `jeq/jge/jset #k`; the general case runs the same
    /// comparisons against `X`: both must agree on every edge.
    #[test]
    fn fast_path_jumps_match_the_general_case() {
        let values = [
            0,
            1,
            2,
            0x3fff_ffff,
            0x4000_0000,
            0x4000_0001,
            u32::MAX - 1,
            u32::MAX,
        ];
        for jmp in [JEQ, JGE, JSET] {
            for &k in &values {
                let with_k = vec![
                    SockFilter::stmt(LD | W | ABS, data::NR),
                    SockFilter::jump(JMP | jmp | K, k, 1, 0),
                    SockFilter::stmt(RET | K, 7),
                    SockFilter::stmt(RET | K, 9),
                ];
                let with_x = vec![
                    SockFilter::stmt(LDX | W | IMM, k),
                    SockFilter::stmt(LD | W | ABS, data::NR),
                    SockFilter::jump(JMP | jmp | X, 0, 1, 0),
                    SockFilter::stmt(RET | K, 7),
                    SockFilter::stmt(RET | K, 9),
                ];
                for &nr in &values {
                    let d = SeccompData::new(X86_64, nr, [0; 6]);
                    let fast = simulate(&with_k, &d).unwrap();
                    let general = simulate(&with_x, &d).unwrap();
                    assert_eq!(fast.ret, general.ret, "op {jmp:#x} k {k:#x} nr {nr:#x}");
                    assert_eq!(fast.executed + 1, general.executed);
                    assert_eq!(Simulator::new(&with_k).unwrap().run(&d).0, fast.ret);
                }
            }
        }
    }

    #[test]
    fn refuses_unchecked_programs_without_panicking() {
        let bad = vec![
            SockFilter::jump(JMP | JEQ | K, 0, 200, 0),
            SockFilter::stmt(RET | K, 0),
        ];
        assert!(simulate(&bad, &SeccompData::default()).is_err());
        assert!(simulate(&[], &SeccompData::default()).is_err());
        // The cache emulation never panics either, even on garbage.
        assert!(!action_cache_allows(&bad, X86_64, 0));
        let ja = vec![SockFilter::stmt(JMP | JA, u32::MAX)];
        assert!(!action_cache_allows(&ja, X86_64, 0));
    }

    #[test]
    fn action_cache_rules() {
        let allow = SockFilter::stmt(RET | K, ret::ALLOW);
        let p = vec![
            SockFilter::stmt(LD | W | ABS, 0),
            SockFilter::stmt(ALU | AND | K, !3),
            SockFilter::jump(JMP | JEQ | K, 4, 0, 1),
            allow,
            SockFilter::stmt(LD | W | ABS, data::arg_lo(0)),
            SockFilter::jump(JMP | JEQ | K, 0, 0, 1),
            allow,
            SockFilter::stmt(RET | K, ret::ERRNO | 1),
        ];
        assert!(action_cache_allows(&p, X86_64, 5));
        assert!(
            !action_cache_allows(&p, X86_64, 9),
            "argument load on the path"
        );
        let log = vec![SockFilter::stmt(RET | K, ret::LOG)];
        assert!(!action_cache_allows(&log, X86_64, 0));
        let ret_a = vec![
            SockFilter::stmt(LD | IMM, ret::ALLOW),
            SockFilter::stmt(RET | A, 0),
        ];
        assert!(!action_cache_allows(&ret_a, X86_64, 0));
    }
}
