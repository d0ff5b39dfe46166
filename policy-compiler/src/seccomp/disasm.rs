//! Annotated disassembly: labels, decoded constants (syscall names per
//! architecture, errno names, `AUDIT_ARCH_*` names, return actions) and, per
//! block, the `file:line: summary` of the rule the code implements.
//!
//! Constants are decoded by a forward dataflow over the program that tracks what
//! the accumulator holds (`nr`, `arch`, an argument half) and which architecture
//! token is known on each path, so any seccomp program can be disassembled, not
//! only ours.

use std::collections::BTreeSet;
use std::fmt::Write;

use rampart_enforce::bpf::{self, SockFilter, op, ret};

use super::ir::{FilterIr, OriginId};
use crate::arch::{Arch, X32_SYSCALL_BIT};

/// The symbolic name of an errno value (`EPERM`), if this platform has one.
pub fn errno_name(e: u32) -> Option<&'static str> {
    u16::try_from(e).ok().and_then(crate::consts::errno_name)
}

/// A return value as text: `ALLOW`, `ERRNO(EPERM)`, `KILL_PROCESS`, …
pub fn ret_name(v: u32) -> String {
    let data = v & ret::DATA;
    match v & ret::ACTION_FULL {
        ret::ALLOW => "ALLOW".into(),
        ret::KILL_PROCESS => "KILL_PROCESS".into(),
        ret::KILL_THREAD => "KILL_THREAD".into(),
        ret::TRAP => "TRAP".into(),
        ret::LOG => "LOG".into(),
        ret::USER_NOTIF => "USER_NOTIF".into(),
        ret::TRACE => format!("TRACE({data})"),
        ret::ERRNO => match errno_name(data) {
            Some(n) => format!("ERRNO({n})"),
            None => format!("ERRNO({data})"),
        },
        other => format!("unknown action 0x{other:08x} (kills the process)"),
    }
}

/// What the accumulator holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Acc {
    Unknown,
    Nr,
    Arch,
    Word(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct St {
    acc: Acc,
    token: Option<u32>,
}

fn meet(a: Option<St>, b: St) -> St {
    match a {
        None => b,
        Some(a) => St {
            acc: if a.acc == b.acc { a.acc } else { Acc::Unknown },
            token: if a.token == b.token { a.token } else { None },
        },
    }
}

fn field_name(off: u32, token: Option<u32>) -> String {
    // __AUDIT_ARCH_LE: on a big-endian ABI the high half comes first.
    let be = token.is_some_and(|t| t & 0x4000_0000 == 0);
    match off {
        0 => "nr".into(),
        4 => "arch".into(),
        8 | 12 => format!("ip.{}", if (off == 12) != be { "hi" } else { "lo" }),
        16..=63 => {
            let i = (off - 16) / 8;
            let second = (off - 16) % 8 == 4;
            format!("args[{i}].{}", if second != be { "hi" } else { "lo" })
        }
        _ => format!("{off}"),
    }
}

fn syscall_name(token: Option<u32>, nr: u32) -> Option<&'static str> {
    let token = token?;
    let arch = if token == Arch::X86_64.audit_arch() && nr & X32_SYSCALL_BIT != 0 {
        Arch::X32
    } else {
        *Arch::ALL
            .iter()
            .find(|a| a.audit_arch() == token && **a != Arch::X32)?
    };
    arch.table().name(nr)
}

fn decode_k(st: St, k: u32) -> Option<String> {
    match st.acc {
        Acc::Arch => Arch::audit_arch_name(k).map(str::to_string),
        Acc::Nr => syscall_name(st.token, k).map(|n| {
            let arch = match st.token {
                Some(t) if t == Arch::X86_64.audit_arch() && k & X32_SYSCALL_BIT != 0 => "x32 ",
                _ => "",
            };
            format!("{arch}{n}")
        }),
        _ => None,
    }
}

/// Disassembles `insns`. With `ir` and `origins` (as `emit` returns them), each
/// block carries the origin of the rule it implements.
pub fn disasm(
    insns: &[SockFilter],
    ir: Option<&FilterIr>,
    origins: Option<&[Option<OriginId>]>,
) -> String {
    use op::*;
    let n = insns.len();
    let target = |pc: usize, off: usize| pc + 1 + off;
    let mut labels: BTreeSet<usize> = BTreeSet::new();
    for (pc, i) in insns.iter().enumerate() {
        if i.code & 0x07 == JMP {
            if i.code == JMP | JA {
                labels.insert(target(pc, i.k as usize));
            } else {
                labels.insert(target(pc, usize::from(i.jt)));
                labels.insert(target(pc, usize::from(i.jf)));
            }
        }
    }
    // Dataflow.
    let mut incoming: Vec<Option<St>> = vec![None; n + 1];
    incoming[0] = Some(St {
        acc: Acc::Unknown,
        token: None,
    });
    let mut out = String::new();
    let _ = writeln!(out, "; {n} instructions");
    let mut last_origin: Option<OriginId> = None;
    for (pc, i) in insns.iter().enumerate() {
        let st = incoming[pc].unwrap_or(St {
            acc: Acc::Unknown,
            token: None,
        });
        let origin = origins.and_then(|o| o.get(pc).copied().flatten());
        if origin != last_origin {
            if let (Some(o), Some(ir)) = (origin, ir)
                && let Some(rec) = ir.origin(o)
            {
                let _ = writeln!(out, "        ; {}:{}: {}", rec.file, rec.line, rec.summary);
            }
            last_origin = origin;
        }
        if labels.contains(&pc) {
            let _ = write!(out, "L{pc:04}:");
        } else {
            out.push_str("      ");
        }
        let lbl = |t: usize| format!("L{t:04}");
        let k = i.k;
        let mut next = st;
        let mut flow: Vec<(usize, St)> = Vec::new();
        let text = match i.code {
            c if c == LD | W | ABS => {
                next.acc = match k {
                    0 => Acc::Nr,
                    4 => Acc::Arch,
                    _ => Acc::Word(k),
                };
                format!("ld   [{}]", field_name(k, st.token))
            }
            c if c == LD | W | LEN => {
                next.acc = Acc::Unknown;
                "ld   #len".into()
            }
            c if c == LDX | W | LEN => "ldx  #len".into(),
            c if c == LD | IMM => {
                next.acc = Acc::Unknown;
                format!("ld   #{k:#x}")
            }
            c if c == LDX | IMM => format!("ldx  #{k:#x}"),
            c if c == LD | MEM => {
                next.acc = Acc::Unknown;
                format!("ld   M[{k}]")
            }
            c if c == LDX | MEM => format!("ldx  M[{k}]"),
            c if c == ST => format!("st   M[{k}]"),
            c if c == STX => format!("stx  M[{k}]"),
            c if c == MISC | TAX => "tax".into(),
            c if c == MISC | TXA => {
                next.acc = Acc::Unknown;
                "txa".into()
            }
            c if c & 0x07 == ALU => {
                next.acc = Acc::Unknown;
                let name = match c & 0xf0 {
                    ADD => "add",
                    SUB => "sub",
                    MUL => "mul",
                    DIV => "div",
                    MOD => "mod",
                    OR => "or",
                    AND => "and",
                    XOR => "xor",
                    LSH => "lsh",
                    RSH => "rsh",
                    NEG => "neg",
                    _ => "alu?",
                };
                if c & 0xf0 == NEG {
                    name.into()
                } else if c & X != 0 {
                    format!("{name:<4} x")
                } else {
                    format!("{name:<4} #{k:#x}")
                }
            }
            c if c == JMP | JA => {
                flow.push((target(pc, k as usize), st));
                let gate = k == 0 && insns.get(pc + 1) == Some(&bpf::gate::LOAD_NR);
                format!(
                    "ja   {}{}",
                    lbl(target(pc, k as usize)),
                    if gate {
                        "  ; compat gate: closed for a 64-bit app by rampart-enforce"
                    } else {
                        ""
                    }
                )
            }
            c if c & 0x07 == JMP => {
                let name = match c & 0xf0 {
                    JEQ => "jeq",
                    JGT => "jgt",
                    JGE => "jge",
                    JSET => "jset",
                    _ => "j?",
                };
                let (t, f) = (target(pc, usize::from(i.jt)), target(pc, usize::from(i.jf)));
                let mut on_true = st;
                if c & 0xf0 == JEQ && c & X == 0 && st.acc == Acc::Arch {
                    on_true.token = Some(k);
                }
                flow.push((t, on_true));
                flow.push((f, st));
                let operand = if c & X != 0 {
                    "x".to_string()
                } else {
                    let mut s = format!("#{k:#x}");
                    if let Some(d) = decode_k(st, k) {
                        let _ = write!(s, " ({d})");
                    }
                    s
                };
                format!("{name:<4} {operand}, {}, {}", lbl(t), lbl(f))
            }
            c if c == RET | K => format!("ret  {}", ret_name(k)),
            c if c == RET | A => "ret  a".into(),
            c => format!(".word 0x{c:04x}, {}, {}, {k:#x}", i.jt, i.jf),
        };
        let _ = writeln!(out, " {text}");
        if i.code & 0x07 != JMP && i.code & 0x07 != RET {
            flow.push((pc + 1, next));
        }
        for (t, s) in flow {
            if let Some(slot) = incoming.get_mut(t) {
                *slot = Some(meet(*slot, s));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(errno_name(1), Some("EPERM"));
        assert_eq!(errno_name(38), Some("ENOSYS"));
        assert_eq!(ret_name(ret::ERRNO | 38), "ERRNO(ENOSYS)");
        assert_eq!(ret_name(ret::ALLOW), "ALLOW");
        assert_eq!(field_name(20, Some(0xC000_003E)), "args[0].hi");
        assert_eq!(field_name(20, Some(0x8000_0016)), "args[0].lo");
        assert_eq!(syscall_name(Some(0xC000_003E), 59), Some("execve"));
        assert_eq!(
            syscall_name(Some(0xC000_003E), X32_SYSCALL_BIT | 520),
            Some("execve")
        );
    }
}
