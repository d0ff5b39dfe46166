//! Classic BPF as seccomp accepts it: the instruction type, the opcodes, and
//! [`SeccompProgram`], a program that has passed the kernel's own checks.
//!
//! The checks mirror `bpf_check_classic()` (net/core/filter.c) followed by
//! `seccomp_check_filter()` (kernel/seccomp.c), so a `SeccompProgram` is one the
//! kernel will accept: the enforcer never learns about a bad program from an
//! `EINVAL` after the earlier, irreversible steps already ran.

use std::fmt;

/// `struct sock_filter`: one classic BPF instruction, laid out as the kernel reads it.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl SockFilter {
    /// A non-jump statement (`BPF_STMT`).
    pub const fn stmt(code: u16, k: u32) -> Self {
        SockFilter {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }
    /// A jump (`BPF_JUMP`).
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Self {
        SockFilter { code, jt, jf, k }
    }

    /// Instructions from the raw `struct sock_filter` array in host byte order
    /// (8 bytes each, as `seccomp_export_bpf()` writes it), unchecked; a partial
    /// last instruction is dropped. [`SeccompProgram::from_bytes`] checks them.
    pub fn parse_raw(bytes: &[u8]) -> Vec<SockFilter> {
        bytes
            .chunks_exact(8)
            .map(|c| SockFilter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect()
    }

    /// The raw `struct sock_filter` array in host byte order: the inverse of
    /// [`Self::parse_raw`], for checked and unchecked instructions alike.
    pub fn to_raw(insns: &[SockFilter]) -> Vec<u8> {
        let mut out = Vec::with_capacity(insns.len() * 8);
        for i in insns {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }
}

impl fmt::Debug for SockFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ 0x{:02x}, {}, {}, 0x{:08x} }}",
            self.code, self.jt, self.jf, self.k
        )
    }
}

/// Opcode fields (linux/bpf_common.h, linux/filter.h).
pub mod op {
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;

    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;

    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MEM: u16 = 0x60;
    pub const LEN: u16 = 0x80;
    pub const MSH: u16 = 0xa0;

    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;

    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;

    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;
    pub const A: u16 = 0x10;

    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;
}

/// `BPF_MAXINSNS`: the most instructions one seccomp filter may have.
pub const MAX_INSNS: usize = 4096;
/// `BPF_MEMWORDS`: scratch memory slots.
pub const MEM_WORDS: u32 = 16;
/// `sizeof(struct seccomp_data)`.
pub const SECCOMP_DATA_LEN: u32 = 64;

/// Offsets into `struct seccomp_data`.
pub mod data {
    pub const NR: u32 = 0;
    pub const ARCH: u32 = 4;
    pub const IP_LO: u32 = 8;
    pub const IP_HI: u32 = 12;
    /// Offset of the low 32 bits of argument `i` on a little-endian machine.
    pub const fn arg_lo(i: u32) -> u32 {
        16 + 8 * i
    }
    /// Offset of the high 32 bits of argument `i` on a little-endian machine.
    pub const fn arg_hi(i: u32) -> u32 {
        16 + 8 * i + 4
    }
    /// Offset of the low (`high == false`) or high half of argument `i` for a
    /// machine of the given byte order: on big-endian machines (s390x) the high
    /// half comes first in memory.
    pub const fn arg_half(i: u32, high: bool, big_endian: bool) -> u32 {
        if high != big_endian {
            arg_hi(i)
        } else {
            arg_lo(i)
        }
    }
}

/// Seccomp return values (linux/seccomp.h).
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
    pub const ACTION_FULL: u32 = 0xffff_0000;
    pub const DATA: u32 = 0x0000_ffff;
}

/// Why the kernel would refuse a program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    #[error("a seccomp program needs at least one instruction")]
    Empty,
    #[error(
        "the program has {len} instructions; the kernel accepts at most {MAX_INSNS} per filter"
    )]
    TooLong { len: usize },
    #[error("instruction {pc}: opcode 0x{code:02x} is not allowed in seccomp filters")]
    BadOpcode { pc: usize, code: u16 },
    #[error(
        "instruction {pc}: load from offset {k} is outside struct seccomp_data or not 4-byte aligned"
    )]
    BadLoad { pc: usize, k: u32 },
    #[error("instruction {pc}: scratch memory slot {k} does not exist (16 slots)")]
    BadMemSlot { pc: usize, k: u32 },
    #[error("instruction {pc}: scratch memory slot {k} may be read before it is written")]
    UninitializedMem { pc: usize, k: u32 },
    #[error("instruction {pc}: division by the constant zero")]
    DivByZero { pc: usize },
    #[error("instruction {pc}: shift by the constant {k} (at most 31)")]
    BadShift { pc: usize, k: u32 },
    #[error("instruction {pc}: jump target is past the end of the program")]
    JumpOutOfRange { pc: usize },
    #[error("the last instruction must be a return")]
    NoFinalReturn,
    #[error("program bytes are not a whole number of 8-byte instructions ({len} bytes)")]
    BadByteLength { len: usize },
}

/// What [`check`] verifies of an instruction, by opcode.
#[derive(Clone, Copy)]
enum Class {
    /// Not allowed in a seccomp filter (`seccomp_check_filter`).
    Invalid,
    /// Nothing beyond the opcode.
    Plain,
    /// `ja`: the offset stays inside the program.
    JumpAlways,
    /// `jeq`/`jgt`/`jge`/`jset`: both targets stay inside the program.
    JumpCond,
    /// `ld [k]`: an aligned word of `struct seccomp_data`.
    LoadData,
    /// `div #k`: not by zero.
    DivK,
    /// `lsh #k`, `rsh #k`: by less than 32.
    ShiftK,
    /// `ld M[k]`, `ldx M[k]`: an existing slot, written first on every path.
    MemRead,
    /// `st M[k]`, `stx M[k]`: an existing slot.
    MemWrite,
}

/// Every opcode's [`Class`]. A table, because the enforcer checks the filter at
/// every launch: the chain of comparisons it replaced (with the scratch-memory
/// pass, now skipped when nothing reads memory) took 8,000 of a launch's 38,000
/// instructions for the default filter (callgrind).
const CLASSES: [Class; 256] = {
    use op::*;
    let mut t = [Class::Invalid; 256];
    t[(JMP | JA) as usize] = Class::JumpAlways;
    t[(LD | W | ABS) as usize] = Class::LoadData;
    // These take their operand from k or from X.
    let k_or_x = [
        (JMP | JEQ, Class::JumpCond),
        (JMP | JGE, Class::JumpCond),
        (JMP | JGT, Class::JumpCond),
        (JMP | JSET, Class::JumpCond),
        (ALU | ADD, Class::Plain),
        (ALU | SUB, Class::Plain),
        (ALU | MUL, Class::Plain),
        (ALU | DIV, Class::Plain),
        (ALU | AND, Class::Plain),
        (ALU | OR, Class::Plain),
        (ALU | XOR, Class::Plain),
        (ALU | LSH, Class::Plain),
        (ALU | RSH, Class::Plain),
    ];
    let mut i = 0;
    while i < k_or_x.len() {
        let (code, class) = k_or_x[i];
        t[(code | K) as usize] = class;
        t[(code | X) as usize] = class;
        i += 1;
    }
    // By a constant, some are checked at attach.
    t[(ALU | DIV | K) as usize] = Class::DivK;
    t[(ALU | LSH | K) as usize] = Class::ShiftK;
    t[(ALU | RSH | K) as usize] = Class::ShiftK;
    let plain = [
        LD | W | LEN,
        LDX | W | LEN,
        RET | K,
        RET | A,
        ALU | NEG,
        LD | IMM,
        LDX | IMM,
        MISC | TAX,
        MISC | TXA,
    ];
    let mut i = 0;
    while i < plain.len() {
        t[plain[i] as usize] = Class::Plain;
        i += 1;
    }
    t[(LD | MEM) as usize] = Class::MemRead;
    t[(LDX | MEM) as usize] = Class::MemRead;
    t[ST as usize] = Class::MemWrite;
    t[STX as usize] = Class::MemWrite;
    t
};

/// Checks `insns` exactly as the kernel does when a seccomp filter is attached.
pub fn check(insns: &[SockFilter]) -> Result<(), ProgramError> {
    use op::*;
    let len = insns.len();
    if len == 0 {
        return Err(ProgramError::Empty);
    }
    if len > MAX_INSNS {
        return Err(ProgramError::TooLong { len });
    }
    let mut reads_mem = false;
    for (pc, ins) in insns.iter().enumerate() {
        let k = ins.k;
        let class = CLASSES.get(usize::from(ins.code)).copied();
        match class.unwrap_or(Class::Invalid) {
            Class::Plain => {}
            Class::JumpAlways => {
                // The kernel compares k against the remaining length as unsigned.
                if u64::from(k) >= (len - pc - 1) as u64 {
                    return Err(ProgramError::JumpOutOfRange { pc });
                }
            }
            Class::JumpCond => {
                if pc + 1 + ins.jt as usize >= len || pc + 1 + ins.jf as usize >= len {
                    return Err(ProgramError::JumpOutOfRange { pc });
                }
            }
            Class::LoadData => {
                if k >= SECCOMP_DATA_LEN || k & 3 != 0 {
                    return Err(ProgramError::BadLoad { pc, k });
                }
            }
            Class::DivK if k == 0 => return Err(ProgramError::DivByZero { pc }),
            Class::ShiftK if k >= 32 => return Err(ProgramError::BadShift { pc, k }),
            Class::DivK | Class::ShiftK => {}
            Class::MemRead | Class::MemWrite if k >= MEM_WORDS => {
                return Err(ProgramError::BadMemSlot { pc, k });
            }
            Class::MemRead => reads_mem = true,
            Class::MemWrite => {}
            Class::Invalid => return Err(ProgramError::BadOpcode { pc, code: ins.code }),
        }
    }
    let last = insns[len - 1].code;
    if last != RET | K && last != RET | A {
        return Err(ProgramError::NoFinalReturn);
    }
    // Only a read can fail that check, and filters rarely use scratch memory: a
    // program without reads is spared its pass and its vector.
    if reads_mem {
        check_mem_init(insns)
    } else {
        Ok(())
    }
}

/// `check_load_and_stores()`: every scratch slot read must be written on every
/// path that reaches the read. Jumps only go forward, so one pass suffices.
///
/// Like the kernel, a `ret` does not end the flow of the "written" set: the
/// instruction after a `ret` inherits it (the kernel only resets it after a jump),
/// so code after a `ret` that is reachable only by a jump is judged by the slots
/// written before the `ret` as well. Modelling this exactly matters: a more
/// generous check would accept programs the kernel refuses.
fn check_mem_init(insns: &[SockFilter]) -> Result<(), ProgramError> {
    use op::*;
    // Bit i set: slot i is written on every path reaching this pc.
    let mut valid: Vec<u16> = vec![0xffff; insns.len()];
    valid[0] = 0;
    for (pc, ins) in insns.iter().enumerate() {
        let mut mem = valid[pc];
        match ins.code {
            c if c == ST || c == STX => mem |= 1 << ins.k,
            c if (c == LD | MEM || c == LDX | MEM) && mem & (1 << ins.k) == 0 => {
                return Err(ProgramError::UninitializedMem { pc, k: ins.k });
            }
            _ => {}
        }
        let mut flow = |target: usize| {
            if target < valid.len() {
                valid[target] &= mem;
            }
        };
        if ins.code & 0x07 == JMP {
            if ins.code == JMP | JA {
                flow(pc + 1 + ins.k as usize);
            } else {
                flow(pc + 1 + ins.jt as usize);
                flow(pc + 1 + ins.jf as usize);
            }
        } else {
            // Includes `ret`: see the function comment.
            flow(pc + 1);
        }
    }
    Ok(())
}

/// A seccomp program the kernel will accept: 1 to 4096 instructions that pass
/// [`check`]. The only way to build one is through that check.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SeccompProgram {
    insns: Vec<SockFilter>,
}

impl SeccompProgram {
    /// Validates `insns` with the kernel's rules.
    pub fn new(insns: Vec<SockFilter>) -> Result<Self, ProgramError> {
        check(&insns)?;
        Ok(SeccompProgram { insns })
    }

    pub fn instructions(&self) -> &[SockFilter] {
        &self.insns
    }

    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Never true: a program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The raw `struct sock_filter` array in host byte order, as
    /// `seccomp_export_bpf()` writes it and `bwrap --seccomp` reads it.
    pub fn to_bytes(&self) -> Vec<u8> {
        SockFilter::to_raw(&self.insns)
    }

    /// Parses and validates the raw format written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProgramError> {
        if !bytes.len().is_multiple_of(8) {
            return Err(ProgramError::BadByteLength { len: bytes.len() });
        }
        if bytes.len() / 8 > MAX_INSNS {
            return Err(ProgramError::TooLong {
                len: bytes.len() / 8,
            });
        }
        Self::new(SockFilter::parse_raw(bytes))
    }
}

/// A *compat gate*: the instruction the compiler puts at the entry of a compat
/// ABI's search tree (x86 on an x86_64 kernel, arm on arm64), right before its
/// `ld [nr]`. When a filter is attached, the kernel runs it once per syscall
/// number of its native and its compat ABI, knowing only `nr` and `arch`, to
/// find the numbers it may allow without running the filter (the action
/// cache). Open, the gate is `ja 0` and the emulation walks the compat tree as
/// before. Closed, it is `ld [instruction_pointer]`: the emulation stops there
/// (it cannot know that value), so the compat numbers are not cached, and the
/// attach skips about a sixth of its work for the default filter. Both forms
/// decide every syscall alike: the `ld [nr]` behind the gate overwrites `A`,
/// the only thing either form changes.
pub mod gate {
    use super::{SockFilter, data, op};

    pub const OPEN: SockFilter = SockFilter::jump(op::JMP | op::JA, 0, 0, 0);
    pub const CLOSED: SockFilter = SockFilter::stmt(op::LD | op::W | op::ABS, data::IP_LO);
    /// What must follow a gate.
    pub const LOAD_NR: SockFilter = SockFilter::stmt(op::LD | op::W | op::ABS, data::NR);
}

impl SeccompProgram {
    /// Whether instruction `at` is a compat gate, open or closed, followed by
    /// `ld [nr]` (see [`gate`]).
    pub fn is_gate(&self, at: usize) -> bool {
        matches!(self.insns.get(at), Some(&i) if i == gate::OPEN || i == gate::CLOSED)
            && self.insns.get(at + 1) == Some(&gate::LOAD_NR)
    }

    /// Closes the compat gate at `at`; returns false, changing nothing, when
    /// there is no gate there. The program decides every syscall as before.
    pub fn close_gate(&mut self, at: usize) -> bool {
        if !self.is_gate(at) {
            return false;
        }
        self.insns[at] = gate::CLOSED;
        true
    }
}

impl fmt::Debug for SeccompProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeccompProgram({} instructions)", self.insns.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use op::*;

    fn ret_allow() -> SockFilter {
        SockFilter::stmt(RET | K, ret::ALLOW)
    }

    #[test]
    fn a_gate_is_a_ja_0_or_its_closed_form_before_ld_nr() {
        let ld_nr = gate::LOAD_NR;
        let mut p = SeccompProgram::new(vec![
            gate::OPEN,
            ld_nr,
            SockFilter::stmt(JMP | JA, 0),
            ret_allow(),
        ])
        .unwrap();
        assert!(p.is_gate(0));
        // `ja 0` before a `ret`, and `ld [nr]` itself, are not gates.
        assert!(!p.is_gate(2) && !p.is_gate(1) && !p.is_gate(9));
        assert!(!p.close_gate(2));
        assert_eq!(p.instructions()[2], SockFilter::stmt(JMP | JA, 0));
        assert!(p.close_gate(0));
        assert_eq!(p.instructions()[0], gate::CLOSED);
        // Closed, it is still a gate (closing again changes nothing), and the
        // program still passes the kernel's checks.
        assert!(p.is_gate(0) && p.close_gate(0));
        check(p.instructions()).unwrap();
    }

    #[test]
    fn accepts_minimal_program() {
        assert!(SeccompProgram::new(vec![ret_allow()]).is_ok());
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        assert_eq!(
            SeccompProgram::new(vec![]).unwrap_err(),
            ProgramError::Empty
        );
        let long = vec![ret_allow(); MAX_INSNS + 1];
        assert!(matches!(
            SeccompProgram::new(long),
            Err(ProgramError::TooLong { .. })
        ));
        let bad_load = vec![SockFilter::stmt(LD | W | ABS, 2), ret_allow()];
        assert!(matches!(
            check(&bad_load),
            Err(ProgramError::BadLoad { .. })
        ));
        let byte_load = vec![SockFilter::stmt(LD | B | ABS, 0), ret_allow()];
        assert!(matches!(
            check(&byte_load),
            Err(ProgramError::BadOpcode { .. })
        ));
        let jump_out = vec![SockFilter::jump(JMP | JEQ | K, 0, 1, 0), ret_allow()];
        assert!(matches!(
            check(&jump_out),
            Err(ProgramError::JumpOutOfRange { .. })
        ));
        let ja_out = vec![SockFilter::stmt(JMP | JA, 1), ret_allow()];
        assert!(matches!(
            check(&ja_out),
            Err(ProgramError::JumpOutOfRange { .. })
        ));
        let no_ret = vec![ret_allow(), SockFilter::stmt(LD | W | ABS, 0)];
        assert_eq!(check(&no_ret), Err(ProgramError::NoFinalReturn));
        let uninit = vec![SockFilter::stmt(LD | MEM, 3), ret_allow()];
        assert!(matches!(
            check(&uninit),
            Err(ProgramError::UninitializedMem { .. })
        ));
        let div0 = vec![SockFilter::stmt(ALU | DIV | K, 0), ret_allow()];
        assert_eq!(check(&div0), Err(ProgramError::DivByZero { pc: 0 }));
        let shift = vec![SockFilter::stmt(ALU | LSH | K, 32), ret_allow()];
        assert_eq!(check(&shift), Err(ProgramError::BadShift { pc: 0, k: 32 }));
        let shift = vec![SockFilter::stmt(ALU | RSH | K, 31), ret_allow()];
        assert_eq!(check(&shift), Ok(()));
    }

    #[test]
    fn memory_validity_flows_through_ret_like_the_kernel() {
        // pc 1 is reachable only by the jump from pc 0 (which wrote nothing); the
        // kernel still carries pc 0's state across the `ret`, so both programs
        // below are refused exactly as check_load_and_stores() refuses them.
        let after_ret = vec![
            ret_allow(),
            SockFilter::stmt(LD | MEM, 0),
            SockFilter::stmt(RET | A, 0),
        ];
        assert!(matches!(
            check(&after_ret),
            Err(ProgramError::UninitializedMem { pc: 1, .. })
        ));
        // Written before the ret, read after it: the kernel accepts this.
        let written = vec![
            SockFilter::stmt(ST, 2),
            SockFilter::jump(JMP | JEQ | K, 0, 1, 0),
            ret_allow(),
            SockFilter::stmt(LD | MEM, 2),
            SockFilter::stmt(RET | A, 0),
        ];
        assert_eq!(check(&written), Ok(()));
        // A path that skips the store makes the read invalid.
        let skipped = vec![
            SockFilter::jump(JMP | JEQ | K, 0, 1, 0),
            SockFilter::stmt(ST, 2),
            SockFilter::stmt(LD | MEM, 2),
            SockFilter::stmt(RET | A, 0),
        ];
        assert!(matches!(
            check(&skipped),
            Err(ProgramError::UninitializedMem { pc: 2, .. })
        ));
    }

    #[test]
    fn arg_halves_per_byte_order() {
        assert_eq!(data::arg_half(0, false, false), 16);
        assert_eq!(data::arg_half(0, true, false), 20);
        assert_eq!(data::arg_half(5, false, true), 60);
        assert_eq!(data::arg_half(5, true, true), 56);
    }

    #[test]
    fn bytes_round_trip() {
        let p = SeccompProgram::new(vec![
            SockFilter::stmt(LD | W | ABS, data::NR),
            SockFilter::jump(JMP | JEQ | K, 39, 0, 1),
            SockFilter::stmt(RET | K, ret::ERRNO | 1),
            ret_allow(),
        ])
        .unwrap();
        assert_eq!(SeccompProgram::from_bytes(&p.to_bytes()).unwrap(), p);
        assert!(matches!(
            SeccompProgram::from_bytes(&[0; 7]),
            Err(ProgramError::BadByteLength { len: 7 })
        ));
    }
}
