//! FilterIr → optimized classic BPF.
//!
//! Shape of the output:
//!
//! 1. Architecture dispatch: `ld [arch]`, one `jeq` per requested token, a
//!    foreign token gets the bad-arch action.
//! 2. Per token, `ld [nr]` and a search tree over the whole `u32` number space,
//!    cut into segments of identical decisions (rule table entries, gaps with the
//!    default action, numbers above the table's maximum with the unknown action).
//!    The tree is chosen by dynamic programming over (segment range, depth budget)
//!    to minimise the worst-case executed path first, then the attach cost: size,
//!    and the steps of the kernel's action-cache emulation (see [`INSN_COST`]), using
//!    `jge` splits, `jeq` for single numbers at the edge of a range, and `jeq`
//!    chains for single numbers islanded in one background decision. Only
//!    `ld [nr]`, `ld [arch]`, `jeq/jge/jset #k`, `ja` and `ret #k` sit on the path
//!    to a number-only decision, so every unconditional ALLOW stays
//!    constant-ALLOW for the kernel's action cache.
//!    A compat ABI's tree (x86 beside x86_64, arm beside aarch64) starts with
//!    a compat gate, `ja 0` before its `ld [nr]` (see `bpf::gate`), which the
//!    enforcer closes for a 64-bit app.
//! 3. On x86_64, the segments that contain x32 numbers (bit 30) end in
//!    `jset #0x40000000`: x32 numbers go to the x32 tree when x32 is requested and
//!    to the bad-arch action otherwise; they never reach an x86_64 decision.
//! 4. Argument rules are lowered per syscall to 32-bit halves with exact 64-bit
//!    semantics, first match wins. Facts learned on each edge (an equality that
//!    held or failed) let later rules skip comparisons they already know, and a
//!    dataflow pass drops loads of a half that `A` already holds. Comparisons of
//!    one argument with constants that share a high word, joined by `||` or `&&`,
//!    test that word once (`common_halves`, `gen_high_word_split`).
//! 5. Layout: one shared `ret` per distinct value at the end; a conditional jump
//!    that cannot reach its target within 255 gets a `ret` copy or a `ja`
//!    trampoline right behind it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rampart_enforce::bpf::{self, SeccompProgram, SockFilter, data, op};
use rampart_enforce::policy::CompatGate;

use super::ir::{Action, ArchIr, Cmp, CmpOp, Cond, FilterIr, OriginId, Width};
use crate::arch::{Arch, X32_SYSCALL_BIT};

/// A filter and, per instruction, the rule it implements.
#[derive(Clone, Debug)]
pub struct Emitted {
    pub program: SeccompProgram,
    /// Same length as the program: the origin of each instruction, if any.
    pub origins: Vec<Option<OriginId>>,
    /// The compat gates (see [`bpf::gate`]), in program order.
    pub gates: Vec<CompatGate>,
}

/// One origin's share of an oversized filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contributor {
    pub origin: Option<OriginId>,
    /// `file:line: summary`, or a description for compiler-made code.
    pub description: String,
    pub instructions: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error(
        "the filter needs {len} instructions but the kernel accepts at most {max} per filter; largest contributors: {}",
        describe(.top)
    )]
    TooLarge {
        len: usize,
        max: usize,
        top: Vec<Contributor>,
    },
    #[error("internal compiler error: layout: {0}")]
    Layout(String),
    #[error("invalid seccomp IR: {0}")]
    InvalidIr(String),
    #[error("internal compiler error: emitted program refused by the kernel checks: {0}")]
    Internal(#[from] bpf::ProgramError),
}

fn describe(top: &[Contributor]) -> String {
    top.iter()
        .map(|c| format!("{} ({} instructions)", c.description, c.instructions))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Above this many segments in one tree, the DP is replaced by a balanced tree.
const DP_MAX_SEGMENTS: usize = 192;

// ---------------------------------------------------------------------------
// Pseudo code with symbolic labels.
// ---------------------------------------------------------------------------

/// A jump target: a label, or "a `ret` with this value" (any copy will do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Tgt {
    L(usize),
    R(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum P {
    Label(usize),
    /// `ld [off]`, then `and #mask` when a mask is given.
    Load {
        off: u32,
        mask: Option<u32>,
    },
    And(u32),
    Jmp {
        op: u16,
        k: u32,
        jt: Tgt,
        jf: Tgt,
    },
    Ja(Tgt),
    /// A compat gate for this `AUDIT_ARCH_*` token, open (`ja 0`, see
    /// [`bpf::gate`]): the enforcer closes it for a 64-bit app.
    Gate(u32),
}

impl P {
    fn falls_through(&self) -> bool {
        matches!(self, P::Label(_) | P::Load { .. } | P::And(_) | P::Gate(_))
    }
    fn targets(&self) -> Vec<Tgt> {
        match *self {
            P::Jmp { jt, jf, .. } => vec![jt, jf],
            P::Ja(t) => vec![t],
            _ => vec![],
        }
    }
    fn map_targets(&mut self, mut f: impl FnMut(Tgt) -> Tgt) {
        match self {
            P::Jmp { jt, jf, .. } => {
                *jt = f(*jt);
                *jf = f(*jf);
            }
            P::Ja(t) => *t = f(*t),
            _ => {}
        }
    }
    fn real_len(&self) -> usize {
        match self {
            P::Label(_) => 0,
            P::Load { mask: Some(_), .. } => 2,
            _ => 1,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Code {
    items: Vec<(P, Option<OriginId>)>,
    next_label: usize,
}

impl Code {
    fn label(&mut self) -> usize {
        self.next_label += 1;
        self.next_label - 1
    }
    fn push(&mut self, p: P, o: Option<OriginId>) -> usize {
        self.items.push((p, o));
        self.items.len() - 1
    }
    fn place(&mut self, l: usize) {
        self.push(P::Label(l), None);
    }
    fn new_placed(&mut self) -> usize {
        let l = self.label();
        self.place(l);
        l
    }
    fn patch(&mut self, idx: usize, p: P) {
        self.items[idx].0 = p;
    }
}

/// What the accumulator holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AState {
    Unknown,
    Word(u32),
    Masked(u32, u32),
}

fn meet(a: Option<AState>, b: Option<AState>) -> Option<AState> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) if x == y => Some(x),
        _ => Some(AState::Unknown),
    }
}

/// Jump threading, dead code removal and redundant-load elimination.
#[allow(clippy::needless_range_loop)] // several parallel arrays per item
fn optimize(code: &mut Code, entry_state: AState) {
    // 1. Threading: a label whose first instruction is `ja t` or `ret v` is
    //    replaced by `t` / `R(v)` wherever it is targeted.
    let n = code.items.len();
    // Maps keyed by label are vectors indexed by it: labels count up from 0.
    let mut first_insn: Vec<Option<usize>> = vec![None; code.next_label];
    let mut pending: Vec<usize> = Vec::new();
    for i in 0..n {
        match code.items[i].0 {
            P::Label(l) => pending.push(l),
            _ => {
                for l in pending.drain(..) {
                    first_insn[l] = Some(i);
                }
            }
        }
    }
    let resolve = |mut t: Tgt| -> Tgt {
        for _ in 0..64 {
            let Tgt::L(l) = t else { return t };
            match first_insn
                .get(l)
                .copied()
                .flatten()
                .map(|i| code.items[i].0)
            {
                Some(P::Ja(next)) => t = next,
                _ => return t,
            }
        }
        t
    };
    let resolved: Vec<Option<P>> = code
        .items
        .iter()
        .map(|(p, _)| {
            let mut q = *p;
            q.map_targets(resolve);
            if let P::Jmp { jt, jf, .. } = q
                && jt == jf
            {
                q = P::Ja(jt);
            }
            Some(q)
        })
        .collect();
    for (i, q) in resolved.into_iter().enumerate() {
        if let Some(q) = q {
            code.items[i].0 = q;
        }
    }
    // 2. `ja` to a label right behind it.
    let mut keep = vec![true; n];
    for i in 0..n {
        if let P::Ja(Tgt::L(l)) = code.items[i].0 {
            let mut j = i + 1;
            while j < n {
                match code.items[j].0 {
                    P::Label(x) if x == l => {
                        keep[i] = false;
                        break;
                    }
                    P::Label(_) => j += 1,
                    _ => break,
                }
            }
        }
    }
    retain(code, &keep);
    // 3. Dead code: forward reachability (all jumps go forward).
    let n = code.items.len();
    let mut keep = vec![false; n];
    let mut referenced = vec![false; code.next_label];
    let mut live = true; // falls into this item
    for i in 0..n {
        let p = code.items[i].0;
        if let P::Label(l) = p {
            live = live || referenced[l];
        }
        keep[i] = live;
        if live {
            for t in p.targets() {
                if let Tgt::L(l) = t {
                    referenced[l] = true;
                }
            }
            live = p.falls_through();
        }
    }
    // Drop labels nobody references (they would block fall-through merges).
    for i in 0..n {
        if let P::Label(l) = code.items[i].0
            && !referenced[l]
        {
            keep[i] = false;
        }
    }
    retain(code, &keep);
    // 4. Loads of what A already holds.
    let n = code.items.len();
    let mut incoming: Vec<Option<AState>> = vec![None; code.next_label];
    let mut state: Option<AState> = Some(entry_state);
    let mut keep = vec![true; n];
    for i in 0..n {
        let p = code.items[i].0;
        let cur = state.unwrap_or(AState::Unknown);
        match p {
            P::Label(l) => {
                state = meet(state, incoming[l]);
                if state.is_none() {
                    state = Some(AState::Unknown);
                }
            }
            // Closed, a gate loads another word: the `ld [nr]` behind it stays.
            P::Gate(_) => state = Some(AState::Unknown),
            P::Load { off, mask } => {
                let target = match mask {
                    Some(m) => AState::Masked(off, m),
                    None => AState::Word(off),
                };
                if cur == target {
                    keep[i] = false;
                } else if let (Some(m), AState::Word(o)) = (mask, cur)
                    && o == off
                {
                    code.items[i].0 = P::And(m);
                }
                state = Some(target);
            }
            P::And(m) => {
                state = Some(match cur {
                    AState::Word(o) => AState::Masked(o, m),
                    AState::Masked(o, m2) => AState::Masked(o, m & m2),
                    AState::Unknown => AState::Unknown,
                });
            }
            P::Jmp { .. } | P::Ja(_) => {
                for t in p.targets() {
                    if let Tgt::L(l) = t {
                        let v = meet(incoming[l], Some(cur));
                        incoming[l] = Some(v.unwrap_or(AState::Unknown));
                    }
                }
                state = None;
            }
        }
    }
    retain(code, &keep);
}

fn retain(code: &mut Code, keep: &[bool]) {
    let mut i = 0;
    code.items.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// Worst-case instructions executed from the first item (final `ret` included)
/// and the number of real instructions.
fn measure(code: &Code) -> (u32, u32) {
    let n = code.items.len();
    let mut dist = vec![0u32; n + 1];
    let mut label_dist: Vec<Option<u32>> = vec![None; code.next_label];
    let cost = |t: Tgt, ld: &[Option<u32>]| match t {
        Tgt::R(_) => 1,
        Tgt::L(l) => ld.get(l).copied().flatten().unwrap_or(1),
    };
    for i in (0..n).rev() {
        let p = code.items[i].0;
        dist[i] = match p {
            P::Label(l) => {
                label_dist[l] = Some(dist[i + 1]);
                dist[i + 1]
            }
            P::Load { .. } | P::And(_) | P::Gate(_) => p.real_len() as u32 + dist[i + 1],
            P::Jmp { jt, jf, .. } => 1 + cost(jt, &label_dist).max(cost(jf, &label_dist)),
            P::Ja(t) => 1 + cost(t, &label_dist),
        };
    }
    let size = code.items.iter().map(|(p, _)| p.real_len() as u32).sum();
    (dist[0], size)
}

// ---------------------------------------------------------------------------
// Argument conditions.
// ---------------------------------------------------------------------------

/// `(word & mask) op value` on one 32-bit half of `seccomp_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Half {
    off: u32,
    mask: u32,
    op: CmpOp,
    value: u32,
}

fn cmp_u<T: PartialOrd>(a: T, op: CmpOp, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

/// Whether `(x & m) op v` is the same for every `x` (the masked value ranges
/// over the sub-masks of `m`: from 0 to `m`).
fn constant_cmp(m: u64, op: CmpOp, v: u64) -> Option<bool> {
    match op {
        CmpOp::Eq => {
            if v & !m != 0 {
                Some(false)
            } else if m == 0 {
                Some(v == 0)
            } else {
                None
            }
        }
        CmpOp::Ne => constant_cmp(m, CmpOp::Eq, v).map(|b| !b),
        CmpOp::Gt => (v >= m).then_some(false),
        CmpOp::Ge => {
            if v == 0 {
                Some(true)
            } else {
                (v > m).then_some(false)
            }
        }
        CmpOp::Lt => {
            if v == 0 {
                Some(false)
            } else {
                (v > m).then_some(true)
            }
        }
        CmpOp::Le => (v >= m).then_some(true),
    }
}

impl Half {
    fn constant(&self) -> Option<bool> {
        constant_cmp(u64::from(self.mask), self.op, u64::from(self.value))
    }
    fn eval_on(&self, word: u32) -> bool {
        cmp_u(word & self.mask, self.op, self.value)
    }
}

fn cmp_constant(c: &Cmp) -> Option<bool> {
    match c.width {
        Width::U64 => constant_cmp(c.mask, c.op, c.value),
        Width::U32 => constant_cmp(c.mask & 0xffff_ffff, c.op, c.value & 0xffff_ffff),
    }
}

/// A condition with constants folded away; `None` inside means constant.
enum Simple {
    Const(bool),
    Cond(Cond),
}

fn simplify(c: &Cond) -> Simple {
    match c {
        Cond::True => Simple::Const(true),
        Cond::Cmp(cmp) => match cmp_constant(cmp) {
            Some(b) => Simple::Const(b),
            None => Simple::Cond(Cond::Cmp(*cmp)),
        },
        Cond::Not(x) => match simplify(x) {
            Simple::Const(b) => Simple::Const(!b),
            Simple::Cond(Cond::Not(y)) => Simple::Cond(*y),
            Simple::Cond(y) => Simple::Cond(Cond::Not(Box::new(y))),
        },
        Cond::And(xs) | Cond::Or(xs) => {
            let is_and = matches!(c, Cond::And(_));
            let mut out = Vec::new();
            for x in xs {
                match simplify(x) {
                    Simple::Const(b) if b == is_and => {}
                    Simple::Const(b) => return Simple::Const(b),
                    Simple::Cond(Cond::And(ys)) if is_and => out.extend(ys),
                    Simple::Cond(Cond::Or(ys)) if !is_and => out.extend(ys),
                    Simple::Cond(y) => out.push(y),
                }
            }
            match out.len() {
                0 => Simple::Const(is_and),
                1 => Simple::Cond(out.pop().unwrap_or(Cond::True)),
                _ if is_and => Simple::Cond(Cond::And(out)),
                _ => Simple::Cond(Cond::Or(out)),
            }
        }
    }
}

/// The offsets of an argument's (low, high) halves.
fn halves(arg: u8, big_endian: bool) -> (u32, u32) {
    let i = u32::from(arg);
    (
        data::arg_half(i, false, big_endian),
        data::arg_half(i, true, big_endian),
    )
}

/// A comparison as a conjunction of half comparisons, when it is one.
fn cmp_halves(c: &Cmp, be: bool) -> Option<Vec<Half>> {
    let (lo, hi) = halves(c.arg, be);
    let (mh, ml) = ((c.mask >> 32) as u32, c.mask as u32);
    let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
    let h = |off, mask, op, value| Half {
        off,
        mask,
        op,
        value,
    };
    use CmpOp::*;
    if c.width == Width::U32 {
        return Some(vec![h(lo, ml, c.op, vl)]);
    }
    let hi_zero = mh == 0 && vh == 0;
    Some(match c.op {
        Eq => vec![h(hi, mh, Eq, vh), h(lo, ml, Eq, vl)],
        Ne if hi_zero => vec![h(lo, ml, Ne, vl)],
        Ne if ml == 0 && vl == 0 => vec![h(hi, mh, Ne, vh)],
        Gt | Ge | Lt | Le if hi_zero => vec![h(lo, ml, c.op, vl)],
        Gt if vh == mh => vec![h(hi, mh, Eq, vh), h(lo, ml, Gt, vl)],
        Gt if vl >= ml => vec![h(hi, mh, Gt, vh)],
        Ge if vh == mh => vec![h(hi, mh, Eq, vh), h(lo, ml, Ge, vl)],
        Ge if vl == 0 => vec![h(hi, mh, Ge, vh)],
        Ge if vl > ml => vec![h(hi, mh, Gt, vh)],
        Lt if vh == 0 => vec![h(hi, mh, Eq, 0), h(lo, ml, Lt, vl)],
        Lt if vl == 0 => vec![h(hi, mh, Lt, vh)],
        Lt if vl > ml => vec![h(hi, mh, Le, vh)],
        Le if vh == 0 => vec![h(hi, mh, Eq, 0), h(lo, ml, Le, vl)],
        Le if vl >= ml => vec![h(hi, mh, Le, vh)],
        _ => return None,
    })
}

/// One conjunct of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Test {
    Half(Half),
    Other(Cond),
}

/// A rule's condition as a conjunction; `None` if it never holds.
fn conjuncts(c: &Cond, be: bool) -> Option<Vec<Test>> {
    match simplify(c) {
        Simple::Const(false) => None,
        Simple::Const(true) => Some(vec![]),
        Simple::Cond(c) => {
            let mut out = Vec::new();
            flatten(&c, be, &mut out).then_some(out)
        }
    }
}

/// Appends the conjuncts of `c`; false if one of them is constant false.
fn flatten(c: &Cond, be: bool, out: &mut Vec<Test>) -> bool {
    match c {
        // One test, lowered by `gen_high_word_split`: the high word once for all.
        Cond::And(xs) if same_high_word(xs).is_some() => {
            out.push(Test::Other(c.clone()));
            true
        }
        Cond::And(xs) => xs.iter().all(|x| flatten(x, be, out)),
        Cond::Cmp(cmp) => match cmp_halves(cmp, be) {
            Some(hs) => {
                for h in hs {
                    match h.constant() {
                        Some(true) => {}
                        Some(false) => return false,
                        None => out.push(Test::Half(h)),
                    }
                }
                true
            }
            None => {
                out.push(Test::Other(c.clone()));
                true
            }
        },
        other => {
            out.push(Test::Other(other.clone()));
            true
        }
    }
}

/// What an edge knows: conjuncts that held or failed.
fn implied(facts: &[(Test, bool)], t: &Test) -> Option<bool> {
    for (ft, held) in facts.iter().rev() {
        if ft == t {
            return Some(*held);
        }
        let (Test::Half(a), Test::Half(b)) = (ft, t) else {
            continue;
        };
        if a.off != b.off {
            continue;
        }
        // The masked word is known exactly.
        let exact = match (a.op, held) {
            (CmpOp::Eq, true) | (CmpOp::Ne, false) => Some(a.value),
            (CmpOp::Gt, false) | (CmpOp::Le, true) if a.value == 0 => Some(0),
            _ => None,
        };
        if let Some(v) = exact {
            // b's masked bits are a subset of the known ones.
            if b.mask & !a.mask == 0 {
                return Some(b.eval_on(v));
            }
            continue;
        }
        let differs = matches!((a.op, held), (CmpOp::Eq, false) | (CmpOp::Ne, true));
        if differs && a.mask == b.mask && a.value == b.value {
            match b.op {
                CmpOp::Eq => return Some(false),
                CmpOp::Ne => return Some(true),
                _ => {}
            }
        }
    }
    None
}

/// The code for one half comparison.
fn gen_half(code: &mut Code, h: Half, t: Tgt, f: Tgt, o: Option<OriginId>) {
    if let Some(b) = h.constant() {
        code.push(P::Ja(if b { t } else { f }), o);
        return;
    }
    let full = h.mask == u32::MAX;
    let raw = P::Load {
        off: h.off,
        mask: None,
    };
    use CmpOp::*;
    let jset = |code: &mut Code, k, jt, jf| {
        code.push(raw, o);
        code.push(
            P::Jmp {
                op: op::JMP | op::JSET | op::K,
                k,
                jt,
                jf,
            },
            o,
        );
    };
    match h.op {
        // (x & m) == 0  <=>  !(x & m)
        Eq | Ne if h.value == 0 => {
            let (jt, jf) = if h.op == Eq { (f, t) } else { (t, f) };
            jset(code, h.mask, jt, jf);
        }
        Eq | Ne if !full && h.value == h.mask && h.mask.is_power_of_two() => {
            let (jt, jf) = if h.op == Eq { (t, f) } else { (f, t) };
            jset(code, h.mask, jt, jf);
        }
        Gt if h.value == 0 => jset(code, h.mask, t, f),
        Le if h.value == 0 => jset(code, h.mask, f, t),
        _ => {
            code.push(
                P::Load {
                    off: h.off,
                    mask: (!full).then_some(h.mask),
                },
                o,
            );
            let (jop, jt, jf) = match h.op {
                Eq => (op::JEQ, t, f),
                Ne => (op::JEQ, f, t),
                Gt => (op::JGT, t, f),
                Ge => (op::JGE, t, f),
                Lt => (op::JGE, f, t),
                Le => (op::JGT, f, t),
            };
            code.push(
                P::Jmp {
                    op: op::JMP | jop | op::K,
                    k: h.value,
                    jt,
                    jf,
                },
                o,
            );
        }
    }
}

fn gen_halves(code: &mut Code, hs: &[Half], t: Tgt, f: Tgt, o: Option<OriginId>) {
    match hs.split_last() {
        None => {
            code.push(P::Ja(t), o);
        }
        Some((last, init)) => {
            for h in init {
                let next = code.label();
                gen_half(code, *h, Tgt::L(next), f, o);
                code.place(next);
            }
            gen_half(code, *last, t, f, o);
        }
    }
}

/// For a disjunction whose terms are all conjunctions of halves, the halves
/// every term shares and what is left of each term: `(C ∧ R1) ∨ (C ∧ R2) ∨ …`
/// is `C ∧ (R1 ∨ R2 ∨ …)`, so `C` is tested once. `arg0 in [v1, …, v5]` with
/// 32-bit values shares `hi(arg0) == 0`: 20 instructions become 8.
fn common_halves(xs: &[Cond], be: bool) -> Option<(Vec<Half>, Vec<Vec<Half>>)> {
    if xs.len() < 2 {
        return None;
    }
    let terms: Vec<Vec<Half>> = xs
        .iter()
        .map(|x| match x {
            Cond::Cmp(c) if cmp_constant(c).is_none() => cmp_halves(c, be),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let common: Vec<Half> = terms[0]
        .iter()
        .filter(|h| terms[1..].iter().all(|t| t.contains(h)))
        .copied()
        .collect();
    if common.is_empty() {
        return None;
    }
    let rests = terms
        .into_iter()
        .map(|t| t.into_iter().filter(|h| !common.contains(h)).collect())
        .collect();
    Some((common, rests))
}

/// Comparisons of argument `arg` with constants whose high word is `vh`: each
/// term's operator and the constant's low word.
struct HighWordSplit {
    arg: u8,
    vh: u32,
    terms: Vec<(CmpOp, u32)>,
}

/// For a disjunction or conjunction of whole 64-bit comparisons of one argument
/// with constants that share their high word: its high word is then tested once
/// for all terms (see [`gen_high_word_split`]).
fn same_high_word(xs: &[Cond]) -> Option<HighWordSplit> {
    let mut arg_vh = None;
    let mut terms = Vec::with_capacity(xs.len());
    for x in xs {
        // A negated comparison is the comparison with the opposite operator.
        let (c, negated) = match x {
            Cond::Cmp(c) => (c, false),
            Cond::Not(n) => match &**n {
                Cond::Cmp(c) => (c, true),
                _ => return None,
            },
            _ => return None,
        };
        if c.width != Width::U64 || c.mask != u64::MAX || cmp_constant(c).is_some() {
            return None;
        }
        let key = (c.arg, (c.value >> 32) as u32);
        if *arg_vh.get_or_insert(key) != key {
            return None;
        }
        let op = if negated { c.op.negated() } else { c.op };
        terms.push((op, c.value as u32));
    }
    let (arg, vh) = arg_vh?;
    (terms.len() >= 2).then_some(HighWordSplit { arg, vh, terms })
}

/// `x op1 v1 ∨ x op2 v2 ∨ …` (or `∧`) where every `vi` has the high word `vh`:
/// above or below `vh` in the high word, every term is decided by that alone;
/// equal to it, every term is its low-word comparison. `arg0 < AF_ALG || arg0 ==
/// AF_NFC || arg0 > AF_VSOCK` is 6 instructions, not 12.
fn gen_high_word_split(
    code: &mut Code,
    HighWordSplit { arg, vh, terms }: HighWordSplit,
    is_and: bool,
    (t, f): (Tgt, Tgt),
    be: bool,
    o: Option<OriginId>,
) {
    use CmpOp::*;
    let (lo, hi) = halves(arg, be);
    let half = |off, op, value| Half {
        off,
        mask: u32::MAX,
        op,
        value,
    };
    let decided = |above: bool| {
        // High words that differ decide every term as they compare.
        let holds = |op: CmpOp| cmp_u(u8::from(above), op, u8::from(!above));
        let r = if is_and {
            terms.iter().all(|&(op, _)| holds(op))
        } else {
            terms.iter().any(|&(op, _)| holds(op))
        };
        if r { t } else { f }
    };
    let equal = code.label();
    if vh == 0 {
        // Nothing is below 0: one test (a `jset`).
        gen_half(code, half(hi, Gt, 0), decided(true), Tgt::L(equal), o);
    } else {
        let not_above = code.label();
        gen_half(code, half(hi, Gt, vh), decided(true), Tgt::L(not_above), o);
        code.place(not_above);
        gen_half(code, half(hi, Eq, vh), Tgt::L(equal), decided(false), o);
    }
    code.place(equal);
    let (&(last_op, last_v), init) = terms.split_last().expect("at least two terms");
    for &(op, v) in init {
        let next = code.label();
        if is_and {
            gen_half(code, half(lo, op, v), Tgt::L(next), f, o);
        } else {
            gen_half(code, half(lo, op, v), t, Tgt::L(next), o);
        }
        code.place(next);
    }
    gen_half(code, half(lo, last_op, last_v), t, f, o);
}

/// Generic lowering of a (simplified) condition: jumps to `t` if it holds.
fn gen_cond(code: &mut Code, c: &Cond, t: Tgt, f: Tgt, be: bool, o: Option<OriginId>) {
    if let Cond::Or(xs) = c
        && let Some((common, rests)) = common_halves(xs, be)
    {
        let any = code.label();
        gen_halves(code, &common, Tgt::L(any), f, o);
        code.place(any);
        let (last, init) = rests.split_last().expect("at least two terms");
        for r in init {
            let next = code.label();
            gen_halves(code, r, t, Tgt::L(next), o);
            code.place(next);
        }
        gen_halves(code, last, t, f, o);
        return;
    }
    if let Cond::Or(xs) | Cond::And(xs) = c
        && let Some(split) = same_high_word(xs)
    {
        gen_high_word_split(code, split, matches!(c, Cond::And(_)), (t, f), be, o);
        return;
    }
    match c {
        Cond::True => {
            code.push(P::Ja(t), o);
        }
        Cond::Cmp(cmp) => {
            if let Some(b) = cmp_constant(cmp) {
                code.push(P::Ja(if b { t } else { f }), o);
            } else if let Some(hs) = cmp_halves(cmp, be) {
                gen_halves(code, &hs, t, f, o);
            } else {
                // Not a conjunction: x op v over (hi, lo) lexicographically.
                let (lo, hi) = halves(cmp.arg, be);
                let (mh, ml) = ((cmp.mask >> 32) as u32, cmp.mask as u32);
                let (vh, vl) = ((cmp.value >> 32) as u32, cmp.value as u32);
                let half = |off, mask, op, value| Half {
                    off,
                    mask,
                    op,
                    value,
                };
                let (t, f, strict) = match cmp.op {
                    CmpOp::Ne => {
                        let hs = [half(hi, mh, CmpOp::Eq, vh), half(lo, ml, CmpOp::Eq, vl)];
                        gen_halves(code, &hs, f, t, o);
                        return;
                    }
                    CmpOp::Eq => {
                        let hs = [half(hi, mh, CmpOp::Eq, vh), half(lo, ml, CmpOp::Eq, vl)];
                        gen_halves(code, &hs, t, f, o);
                        return;
                    }
                    CmpOp::Gt => (t, f, true),
                    CmpOp::Ge => (t, f, false),
                    CmpOp::Le => (f, t, true),
                    CmpOp::Lt => (f, t, false),
                };
                // hi > vh -> t; hi != vh -> f; lo (>|>=) vl.
                let eq = code.label();
                gen_half(code, half(hi, mh, CmpOp::Gt, vh), t, Tgt::L(eq), o);
                code.place(eq);
                let lo_l = code.label();
                if vh != 0 {
                    gen_half(code, half(hi, mh, CmpOp::Eq, vh), Tgt::L(lo_l), f, o);
                }
                code.place(lo_l);
                let op = if strict { CmpOp::Gt } else { CmpOp::Ge };
                gen_half(code, half(lo, ml, op, vl), t, f, o);
            }
        }
        Cond::Not(x) => gen_cond(code, x, f, t, be, o),
        Cond::And(xs) | Cond::Or(xs) => {
            let is_and = matches!(c, Cond::And(_));
            match xs.split_last() {
                None => {
                    code.push(P::Ja(if is_and { t } else { f }), o);
                }
                Some((last, init)) => {
                    for x in init {
                        let next = code.label();
                        if is_and {
                            gen_cond(code, x, Tgt::L(next), f, be, o);
                        } else {
                            gen_cond(code, x, t, Tgt::L(next), be, o);
                        }
                        code.place(next);
                    }
                    gen_cond(code, last, t, f, be, o);
                }
            }
        }
    }
}

fn gen_test(code: &mut Code, test: &Test, t: Tgt, f: Tgt, be: bool, o: Option<OriginId>) {
    match test {
        Test::Half(h) => gen_half(code, *h, t, f, o),
        Test::Other(c) => gen_cond(code, c, t, f, be, o),
    }
}

/// A syscall's rules, simplified: conjunctions, return values, origins.
#[derive(Clone, Debug)]
struct Body {
    rules: Vec<(Vec<Test>, u32, Option<OriginId>)>,
    default: u32,
    big_endian: bool,
}

type BodyKey = (Vec<(Vec<Test>, u32)>, u32, bool);

impl Body {
    fn key(&self) -> BodyKey {
        (
            self.rules.iter().map(|(t, r, _)| (t.clone(), *r)).collect(),
            self.default,
            self.big_endian,
        )
    }

    /// Emits the rule chain; returns its entry.
    fn emit_into(&self, code: &mut Code) -> Tgt {
        let rules = &self.rules;
        let labels: Vec<Vec<usize>> = rules
            .iter()
            .map(|(ts, _, _)| ts.iter().map(|_| code.label()).collect())
            .collect();
        let resolve = |mut j: usize, mut c: usize, facts: &[(Test, bool)]| -> Tgt {
            'rules: while j < rules.len() {
                let (tests, ret, _) = &rules[j];
                for (k, test) in tests.iter().enumerate().skip(c) {
                    match implied(facts, test) {
                        Some(true) => {}
                        Some(false) => {
                            j += 1;
                            c = 0;
                            continue 'rules;
                        }
                        None => return Tgt::L(labels[j][k]),
                    }
                }
                return Tgt::R(*ret);
            }
            Tgt::R(self.default)
        };
        let entry = resolve(0, 0, &[]);
        for (j, (tests, _, origin)) in rules.iter().enumerate() {
            for (c, test) in tests.iter().enumerate() {
                code.place(labels[j][c]);
                let mut facts: Vec<(Test, bool)> =
                    tests[..c].iter().map(|t| (t.clone(), true)).collect();
                facts.push((test.clone(), true));
                let t = resolve(j, c + 1, &facts);
                if let Some(last) = facts.last_mut() {
                    last.1 = false;
                }
                let f = resolve(j + 1, 0, &facts);
                gen_test(code, test, t, f, self.big_endian, *origin);
            }
        }
        entry
    }
}

// ---------------------------------------------------------------------------
// Number-space segments and the search tree.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Leaf {
    Ret(u32),
    Body(usize),
    /// `jset #X32_SYSCALL_BIT`: x32 numbers to `x32`, the rest to `base`.
    Guard {
        base: usize,
        x32: X32Target,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum X32Target {
    Ret(u32),
    Tree,
}

#[derive(Clone, Copy, Debug)]
struct LeafInfo {
    depth: u32,
    size: u32,
}

#[derive(Clone, Copy, Debug)]
struct Seg {
    lo: u32,
    hi: u32,
    leaf: usize,
    origin: Option<OriginId>,
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(usize),
    /// `jge #at`: right if nr >= at.
    Split {
        at: u32,
        left: Box<Node>,
        right: Box<Node>,
    },
    /// `jeq #nr`: the single-number segment `hit`, else `rest`.
    Jeq {
        hit: usize,
        rest: Box<Node>,
    },
}

const INF: u32 = u32::MAX / 4;

/// What one more instruction costs a filter's attach, in steps of the kernel's
/// action-cache emulation (measured on Linux 6.18, x86_64: converting and
/// JIT-compiling an instruction ≈ 0.2 µs, one emulated step ≈ 4 ns). When a
/// filter is attached the kernel runs it once for every number of the native
/// and compat tables to fill the cache, so each node costs a step per number
/// routed through it: for Docker's profile that emulation was half the attach.
const INSN_COST: u32 = 48;

/// Bound on the emulated span, so costs stay far below [`INF`] (at most
/// `64 * 8192` steps plus the instructions): every kernel table, MIPS n32's
/// 6000-6470 included, ends below it.
const CACHE_SPAN_MAX: u32 = 8192;

/// The plan's options, as stored per state for [`rebuild`]; `SPLIT + (k - i)`
/// splits after segment `k`.
const LEAF: u32 = 1;
const CHAIN: u32 = 2;
const JEQ_LO: u32 = 3;
const JEQ_HI: u32 = 4;
const SPLIT: u32 = 5;

/// What the planner needs to know about `segs` besides the layers.
struct PlanInput<'a> {
    segs: &'a [Seg],
    li: &'a [LeafInfo],
    n: usize,
    /// `wsum[s]`: how many numbers of segments `0..s` the kernel's action cache
    /// emulates (those below the token's `span`, see [`plan`]).
    wsum: Vec<u32>,
    /// `chain[i * n + j]`: segments i, i+2, .., j share one leaf and i+1, i+3, ..
    /// are single numbers (islands), so a `jeq` chain decides the whole range.
    chain: Vec<bool>,
}

impl PlanInput<'_> {
    fn new<'a>(segs: &'a [Seg], li: &'a [LeafInfo], span: u32) -> PlanInput<'a> {
        let n = segs.len();
        let span = span.min(CACHE_SPAN_MAX);
        let mut wsum = Vec::with_capacity(n + 1);
        wsum.push(0u32);
        for s in segs {
            let w = if s.lo < span {
                s.hi.min(span - 1) - s.lo + 1
            } else {
                0
            };
            wsum.push(wsum[wsum.len() - 1] + w);
        }
        let mut p = PlanInput {
            segs,
            li,
            n,
            wsum,
            chain: vec![false; n * n],
        };
        for i in 0..n {
            let mut j = i + 2;
            while j < n {
                let ok = (j == i + 2 || p.chain[p.idx(i, j - 2)])
                    && p.single(j - 1)
                    && segs[j].leaf == segs[i].leaf;
                if !ok {
                    break;
                }
                let at = p.idx(i, j);
                p.chain[at] = true;
                j += 2;
            }
        }
        p
    }

    fn idx(&self, i: usize, j: usize) -> usize {
        i * self.n + j
    }

    fn info(&self, s: usize) -> LeafInfo {
        self.li[self.segs[s].leaf]
    }

    fn single(&self, s: usize) -> bool {
        self.segs[s].lo == self.segs[s].hi
    }

    /// Emulated numbers in segments `i..=j`: each passes a node above them once.
    fn weight(&self, i: usize, j: usize) -> u32 {
        self.wsum[j + 1] - self.wsum[i]
    }

    /// The cost of leaf `s` itself (its `ret` or rule body).
    fn leaf_cost(&self, s: usize) -> u32 {
        INSN_COST * self.info(s).size
    }

    /// The islands of the chain `i..=j`, deepest first.
    fn chain_islands(&self, i: usize, j: usize) -> Vec<usize> {
        let mut isl: Vec<usize> = (i + 1..j).step_by(2).collect();
        isl.sort_by_key(|&s| std::cmp::Reverse(self.info(s).depth));
        isl
    }

    /// Worst case and cost of the chain `i..=j`: the background segments pass
    /// all `m` `jeq`s, the island at chain position `k` (from the top) `k + 1`.
    fn chain_cost(&self, i: usize, j: usize) -> (u32, u32) {
        let isl = self.chain_islands(i, j);
        let m = isl.len() as u32;
        let mut depth = m + self.info(i).depth;
        let mut cost = INSN_COST * m + self.leaf_cost(i) + self.weight(i, j) * m;
        for (k, &s) in isl.iter().enumerate() {
            depth = depth.max(k as u32 + 1 + self.info(s).depth);
            cost += self.leaf_cost(s);
            cost -= self.weight(s, s) * (m - 1 - k as u32);
        }
        (depth, cost)
    }
}

/// The search tree over `segs` minimising worst-case executed instructions,
/// then cost: [`INSN_COST`] per instruction plus one per step of the kernel's
/// action-cache emulation, which runs the filter for every number below `span`
/// (0 for a token the cache never sees, such as x32's: size alone). Returns the
/// tree and its worst-case depth (final `ret` included).
///
/// `S(i, j, d)`, the least cost of a tree for segments `i..=j` with worst case
/// at most `d`, is computed layer by layer (`d` = 1, 2, ..) until the root is
/// feasible; the options, in tie-breaking order: a leaf, a `jeq` chain, `jeq`
/// on the first or the last segment, a `jge` split after segment `k` (ascending
/// `k`, the first minimum wins). The plain recurrence costs O(n³) per layer;
/// three reductions skip most of it while giving every state the plan reads
/// exactly the value and the choice of the plain recurrence (the tests compare
/// both tree for tree):
/// 1. `md(i, j)`, the least `d` with a finite `S(i, j, d)`, comes first from
///    the same options with depth in place of size (feasibility is monotone in
///    `d`: an option that fits in `d` fits in `d + 1`). A state with `d < md`
///    is `INF` without looking at it, and the root's depth is `md(0, n - 1)`.
/// 2. Only states the rebuild can read are visited: at the root's depth the
///    root, one layer below the prefixes and suffixes (the only children a
///    root option has), below that every feasible interval. No computed state
///    reads an uncomputed one.
/// 3. The split minimum reads a row of layer `d - 1` and a row of its
///    transpose, so both operands are contiguous; it runs over whole blocks
///    with lane-wise accumulators, so it vectorises (also in `md`), and the
///    entries past the interval it reads can never be the minimum. The first
///    `k` reaching the minimum is then looked up, as the scan would pick.
/// 4. A state's value and choice at `d` are a function of the layer-`d - 1`
///    values it reads (the intervals `(i, k)` and `(k, j)` inside it) and of
///    `d` only through the leaf, chain and `jeq` thresholds. When none of
///    those inputs changed from `d - 1`, the state is copied, not recomputed:
///    intervals of short decisions saturate a few layers above their `md`
///    while the layers grow to fit deep argument-rule bodies.
fn plan(segs: &[Seg], li: &[LeafInfo], span: u32) -> (Node, u32) {
    let n = segs.len();
    if n == 1 {
        return (Node::Leaf(0), li[segs[0].leaf].depth);
    }
    if n > DP_MAX_SEGMENTS {
        return balanced(segs, li, 0, n - 1);
    }
    let p = PlanInput::new(segs, li, span);
    // Every n × n table below has rows of `w` entries: the vector scans run
    // over whole blocks past the end of an interval, and what they read there
    // can never win a minimum (see the scans).
    let w = n + BYTE_LANES;
    let mut chain_cost: Vec<Option<(u32, u32)>> = vec![None; n * w];
    for i in 0..n {
        for j in (i + 2..n).step_by(2) {
            if !p.chain[p.idx(i, j)] {
                break;
            }
            chain_cost[i * w + j] = Some(p.chain_cost(i, j));
        }
    }
    // Per segment, read in every inner loop below: one lookup, not two.
    let seg_depth: Vec<u32> = (0..n).map(|s| p.info(s).depth).collect();
    let seg_cost: Vec<u32> = (0..n).map(|s| p.leaf_cost(s)).collect();
    let single: Vec<bool> = (0..n).map(|s| p.single(s)).collect();
    // 1. Least feasible depth, saturated at u8::MAX (anything above 64 falls
    // back to the balanced tree, as the plain recurrence does).
    let sat = |d: u32| u8::try_from(d).unwrap_or(u8::MAX);
    let mut md = vec![u8::MAX; n * w];
    // mdt[j * w + i] = md[i * w + j]: the split's second operand as a row.
    let mut mdt = vec![u8::MAX; n * w];
    for len in 0..n {
        for i in 0..n - len {
            let j = i + len;
            let m = if i == j {
                sat(seg_depth[i])
            } else {
                let mut m = u8::MAX;
                if let Some((cd, _)) = chain_cost[i * w + j] {
                    m = m.min(sat(cd));
                }
                if single[i] {
                    m = m.min(sat(seg_depth[i]).max(md[(i + 1) * w + j]).saturating_add(1));
                }
                if single[j] {
                    m = m.min(sat(seg_depth[j]).max(md[i * w + j - 1]).saturating_add(1));
                }
                // Splits after k = i..j, rounded up to whole blocks. The extra
                // k read md(i, k >= j), not computed yet (longer intervals come
                // later), and md(k + 1 > j, j), no interval: both u8::MAX.
                let span = len.next_multiple_of(BYTE_LANES);
                let left = &md[i * w + i..i * w + i + span];
                let right = &mdt[j * w + i + 1..j * w + i + 1 + span];
                m.min(min_of_max(left, right).saturating_add(1))
            };
            md[i * w + j] = m;
            mdt[j * w + i] = m;
        }
    }
    let depth = u32::from(md[n - 1]);
    if depth > 64 {
        return balanced(segs, li, 0, n - 1);
    }
    // 2.-4. The size layers. Feasible states, shallowest first: layer d visits
    // the prefix with md <= d. Sorted by md with a counting sort (at most 65
    // values), O(n²); kept as (md, i, j), so no division recovers i and j.
    // Afterwards `counts[d]` is the number of states with md <= d.
    let mut counts = [0usize; 66];
    for i in 0..n {
        for &m in &md[i * w + i..i * w + n] {
            if u32::from(m) <= depth {
                counts[usize::from(m) + 1] += 1;
            }
        }
    }
    for m in 1..counts.len() {
        counts[m] += counts[m - 1];
    }
    let mut order: Vec<(u32, usize, usize)> = vec![(0, 0, 0); counts[counts.len() - 1]];
    for i in 0..n {
        for j in i..n {
            let m = md[i * w + j];
            if u32::from(m) <= depth {
                let slot = &mut counts[usize::from(m)];
                order[*slot] = (u32::from(m), i, j);
                *slot += 1;
            }
        }
    }
    // `val` holds layer d - 1 while layer d is computed (its transpose in
    // `val_t`); layer d's new values are applied after the layer, so nothing is
    // copied per layer. Choices are kept sparsely, in `log` entries
    // `(d, choice, previous entry of the state)` with `head[s]` the state's
    // latest: a state's choice at d is its latest entry at or below d (stable
    // states keep theirs).
    const NONE: u32 = u32::MAX;
    let mut val = vec![INF; n * w];
    let mut val_t = vec![INF; n * w];
    let mut log: Vec<(u32, u32, u32)> = Vec::with_capacity(2 * order.len());
    let mut head = vec![NONE; n * w];
    let mut updates: Vec<(usize, usize, u32)> = Vec::with_capacity(order.len());
    // Which states' values at d - 1 differ from d - 2, summarised per row and
    // column: `row_first[i]`, the least k with (i, k) changed (n if none), and
    // `col_last[j]`, the greatest m with (m, j) changed (0 if none, which is
    // never read as "changed": a column's reader asks about m > i >= 0). So
    // "some (i, k) with i <= k < j changed" is `row_first[i] < j`, and "some
    // (m, j) with i < m <= j changed" is `col_last[j] > i`. At d = 1 everything
    // counts as changed.
    let mut row_first: Vec<usize> = (0..n).collect();
    let mut col_last: Vec<usize> = (0..n).collect();
    let mut next_row_first = vec![n; n];
    let mut next_col_last = vec![0; n];
    let mut tail: Vec<(u32, usize, usize)> = Vec::new();
    for d in 1..=depth {
        // 4. A state whose inputs are all unchanged keeps its value and choice.
        let prev = &val;
        let prev_t = &val_t;
        updates.clear();
        next_row_first.fill(n);
        next_col_last.fill(0);
        let mut mark_changed = |i: usize, j: usize| {
            next_row_first[i] = next_row_first[i].min(j);
            next_col_last[j] = next_col_last[j].max(i);
        };
        // 2. The feasible states (md <= d; infeasible ones stay INF, unchanged)
        // the rebuild can read: all of them, then one layer below the root only
        // the prefixes and suffixes, then the root. Those skipped are never
        // read, and their changes could only concern rows other than 0 and
        // columns other than n - 1, which the root's stability test ignores.
        let visit: &[(u32, usize, usize)] = if d + 1 < depth {
            &order[..counts[d as usize]]
        } else {
            tail.clear();
            if d == depth {
                tail.push((depth, 0, n - 1));
            } else {
                let prefixes = (0..n).map(|j| (0, j));
                let suffixes = (1..n).map(|i| (i, n - 1));
                for (i, j) in prefixes.chain(suffixes) {
                    let m = u32::from(md[i * w + j]);
                    if m <= d {
                        tail.push((m, i, j));
                    }
                }
            }
            &tail
        };
        for &(m, i, j) in visit {
            let s = i * w + j;
            // 4. The state at d reads layer d - 1 at (i, k) for i <= k < j and
            // (k, j) for i < k <= j, and depends on d only through the
            // thresholds below. If none of those moved since d - 1, its value
            // and choice at d are those at d - 1 (already copied).
            let stable = m < d
                && (i == j
                    || (row_first[i] >= j
                        && col_last[j] <= i
                        && seg_depth[i] + 1 != d
                        && seg_depth[j] + 1 != d
                        && chain_cost[s].is_none_or(|(cd, _)| cd != d)));
            if stable {
                continue;
            }
            let mut best = INF;
            let mut choice = 0;
            if i == j {
                if seg_depth[i] <= d {
                    (best, choice) = (seg_cost[i], LEAF);
                }
            } else {
                // The node at the top of any option but a chain: one instruction,
                // and one emulated step for every number of the interval.
                let node = INSN_COST + p.weight(i, j);
                if let Some((cd, cs)) = chain_cost[s]
                    && cd <= d
                    && cs < best
                {
                    (best, choice) = (cs, CHAIN);
                }
                if single[i] && seg_depth[i] < d {
                    let c = node + seg_cost[i] + prev[s + w];
                    if c < best {
                        (best, choice) = (c, JEQ_LO);
                    }
                }
                if single[j] && seg_depth[j] < d {
                    let c = node + seg_cost[j] + prev[s - 1];
                    if c < best {
                        (best, choice) = (c, JEQ_HI);
                    }
                }
                // 3. Splits after k = i..j, in whole blocks: the extra k pair
                // S(i, k >= j) with S(k + 1 > j, j), no interval, so INF: a sum
                // of at least INF, which never beats `best` (at most INF).
                let span = (j - i).next_multiple_of(WORD_LANES);
                let left = &prev[i * w + i..i * w + i + span];
                let right = &prev_t[j * w + i + 1..j * w + i + 1 + span];
                let min = min_of_sum(left, right);
                if node + min < best {
                    // The first k reaching the minimum, as the scan would pick
                    // (it lies before j: the padding sums are at least INF).
                    let k = left
                        .iter()
                        .zip(right)
                        .position(|(a, b)| a + b == min)
                        .unwrap_or(0);
                    (best, choice) = (node + min, SPLIT + k as u32);
                }
            }
            let v = best.min(INF);
            if v != prev[s] {
                mark_changed(i, j);
                updates.push((i, j, v));
            }
            log.push((d, choice, head[s]));
            head[s] = (log.len() - 1) as u32;
        }
        for &(i, j, v) in &updates {
            val[i * w + j] = v;
            val_t[j * w + i] = v;
        }
        std::mem::swap(&mut row_first, &mut next_row_first);
        std::mem::swap(&mut col_last, &mut next_col_last);
    }
    // `rebuild` numbers states `i * n + j`.
    let choice_at = |s: usize, d: usize| {
        let mut e = head[(s / n) * w + s % n];
        while e != NONE {
            let (at, choice, prev) = log[e as usize];
            if at as usize <= d {
                return choice;
            }
            e = prev;
        }
        0
    };
    let node = rebuild(&choice_at, &p, 0, n - 1, depth as usize);
    (fill_split_points(node, segs), depth)
}

/// Block widths of the plan's vector scans (one or two SSE2 registers).
const BYTE_LANES: usize = 16;
const WORD_LANES: usize = 8;

/// `min(max(a[k], b[k]))` over equal lengths, a multiple of [`BYTE_LANES`]
/// (`u8::MAX` if empty). Lane-wise accumulators, so the loop vectorises.
fn min_of_max(a: &[u8], b: &[u8]) -> u8 {
    let mut acc = [u8::MAX; BYTE_LANES];
    for (x, y) in a.chunks_exact(BYTE_LANES).zip(b.chunks_exact(BYTE_LANES)) {
        for l in 0..BYTE_LANES {
            acc[l] = acc[l].min(x[l].max(y[l]));
        }
    }
    acc.into_iter().fold(u8::MAX, u8::min)
}

/// `min(a[k] + b[k])` over equal lengths, a multiple of [`WORD_LANES`], all
/// values at most `INF` (so sums stay below `i32::MAX`; signed lanes compare
/// without SSE4.1's unsigned minimum). `2 * INF` if empty.
fn min_of_sum(a: &[u32], b: &[u32]) -> u32 {
    let mut acc = [2 * INF as i32; WORD_LANES];
    for (x, y) in a.chunks_exact(WORD_LANES).zip(b.chunks_exact(WORD_LANES)) {
        for l in 0..WORD_LANES {
            acc[l] = acc[l].min((x[l] + y[l]) as i32);
        }
    }
    acc.into_iter().fold(2 * INF as i32, i32::min) as u32
}

/// The tree the choices describe for segments `i..=j` at depth `d`;
/// `choice_at(state, d)` is the option state `i * n + j` took at depth `d`.
fn rebuild(
    choice_at: &dyn Fn(usize, usize) -> u32,
    p: &PlanInput<'_>,
    i: usize,
    j: usize,
    d: usize,
) -> Node {
    let choice = choice_at(p.idx(i, j), d);
    match choice {
        CHAIN => {
            let mut node = Node::Leaf(i);
            for s in p.chain_islands(i, j).into_iter().rev() {
                node = Node::Jeq {
                    hit: s,
                    rest: Box::new(node),
                };
            }
            node
        }
        JEQ_LO => Node::Jeq {
            hit: i,
            rest: Box::new(rebuild(choice_at, p, i + 1, j, d.saturating_sub(1))),
        },
        JEQ_HI => Node::Jeq {
            hit: j,
            rest: Box::new(rebuild(choice_at, p, i, j - 1, d.saturating_sub(1))),
        },
        c if c >= SPLIT => {
            let k = i + (c - SPLIT) as usize;
            Node::Split {
                at: 0, // filled by the caller from the segments
                left: Box::new(rebuild(choice_at, p, i, k, d.saturating_sub(1))),
                right: Box::new(rebuild(choice_at, p, k + 1, j, d.saturating_sub(1))),
            }
        }
        _ => Node::Leaf(i),
    }
}

/// Sets each split's constant to the first number of its right subtree.
fn fill_split_points(node: Node, segs: &[Seg]) -> Node {
    fn first(node: &Node) -> usize {
        match node {
            Node::Leaf(s) => *s,
            Node::Split { left, .. } => first(left),
            Node::Jeq { hit, rest } => (*hit).min(first(rest)),
        }
    }
    match node {
        Node::Leaf(s) => Node::Leaf(s),
        Node::Split { left, right, .. } => {
            let at = segs[first(&right)].lo;
            Node::Split {
                at,
                left: Box::new(fill_split_points(*left, segs)),
                right: Box::new(fill_split_points(*right, segs)),
            }
        }
        Node::Jeq { hit, rest } => Node::Jeq {
            hit,
            rest: Box::new(fill_split_points(*rest, segs)),
        },
    }
}

fn balanced(segs: &[Seg], li: &[LeafInfo], i: usize, j: usize) -> (Node, u32) {
    if i == j {
        return (Node::Leaf(i), li[segs[i].leaf].depth);
    }
    let k = (i + j) / 2;
    let (l, dl) = balanced(segs, li, i, k);
    let (r, dr) = balanced(segs, li, k + 1, j);
    (
        Node::Split {
            at: segs[k + 1].lo,
            left: Box::new(l),
            right: Box::new(r),
        },
        1 + dl.max(dr),
    )
}

fn coalesce(segs: Vec<Seg>) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    for s in segs {
        match out.last_mut() {
            Some(last) if last.leaf == s.leaf && u64::from(last.hi) + 1 == u64::from(s.lo) => {
                last.hi = s.hi;
                last.origin = last.origin.or(s.origin);
            }
            _ => out.push(s),
        }
    }
    out
}

/// Whether `[lo, hi]` contains a number with the x32 bit.
fn has_x32(lo: u32, hi: u32) -> bool {
    if lo & X32_SYSCALL_BIT != 0 || hi & X32_SYSCALL_BIT != 0 {
        return true;
    }
    let next = (lo & 0x8000_0000) | X32_SYSCALL_BIT;
    next > lo && next <= hi
}

/// Whether `seccomp_data` stores the high half of an argument first.
pub fn big_endian(arch: Arch) -> bool {
    arch == Arch::S390x
}

// ---------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------

struct Gen<'a> {
    ir: &'a FilterIr,
    code: Code,
    leaves: Vec<Leaf>,
    leaf_ids: HashMap<Leaf, usize>,
    info: Vec<LeafInfo>,
    bodies: Vec<Body>,
    body_ids: HashMap<BodyKey, usize>,
    /// The label of each non-`ret` leaf's code. That code is emitted once,
    /// after every tree (guards, then the x32 tree, then rule bodies), so that
    /// every reference to it jumps forward.
    leaf_label: HashMap<usize, usize>,
    pending: Vec<usize>,
    x32_tree: Option<(Vec<Seg>, Node)>,
    x32_label: Option<usize>,
}

impl<'a> Gen<'a> {
    fn new(ir: &'a FilterIr) -> Self {
        Gen {
            ir,
            code: Code::default(),
            leaves: Vec::new(),
            leaf_ids: HashMap::new(),
            info: Vec::new(),
            bodies: Vec::new(),
            body_ids: HashMap::new(),
            leaf_label: HashMap::new(),
            pending: Vec::new(),
            x32_tree: None,
            x32_label: None,
        }
    }

    fn leaf(&mut self, leaf: Leaf, info: LeafInfo) -> usize {
        if let Some(&id) = self.leaf_ids.get(&leaf) {
            return id;
        }
        self.leaves.push(leaf);
        self.info.push(info);
        self.leaf_ids.insert(leaf, self.leaves.len() - 1);
        self.leaves.len() - 1
    }

    fn ret_leaf(&mut self, a: Action) -> usize {
        self.leaf(Leaf::Ret(a.to_ret()), LeafInfo { depth: 1, size: 0 })
    }

    /// The leaf for a syscall's rule list.
    fn rules_leaf(&mut self, a: &ArchIr, nr: u32) -> (usize, Option<OriginId>) {
        let be = big_endian(a.arch);
        let default = a.default_action.to_ret();
        let mut rules = Vec::new();
        for r in a.syscalls.get(&nr).map(Vec::as_slice).unwrap_or(&[]) {
            let Some(tests) = conjuncts(&r.cond, be) else {
                continue;
            };
            let always = tests.is_empty();
            rules.push((tests, r.action.to_ret(), r.origin));
            if always {
                break;
            }
        }
        while rules.last().is_some_and(|r| r.1 == default) {
            rules.pop();
        }
        let origin = rules.first().and_then(|r| r.2).or(a.default_origin);
        match rules.first() {
            None => return (self.ret_leaf(a.default_action), a.default_origin),
            Some((t, ret, o)) if t.is_empty() => {
                let (ret, o) = (*ret, *o);
                return (self.leaf(Leaf::Ret(ret), LeafInfo { depth: 1, size: 0 }), o);
            }
            _ => {}
        }
        let body = Body {
            rules,
            default,
            big_endian: be,
        };
        let key = body.key();
        let id = match self.body_ids.get(&key) {
            Some(&id) => id,
            None => {
                self.bodies.push(body);
                self.body_ids.insert(key, self.bodies.len() - 1);
                self.bodies.len() - 1
            }
        };
        // Measure the body alone: A holds nr on entry.
        let mut scratch = Code::default();
        let entry = self.bodies[id].emit_into(&mut scratch);
        let mut c = Code {
            items: vec![(P::Ja(entry), None)],
            next_label: scratch.next_label,
        };
        c.items.extend(scratch.items);
        optimize(&mut c, AState::Word(data::NR));
        let (depth, size) = measure(&c);
        (self.leaf(Leaf::Body(id), LeafInfo { depth, size }), origin)
    }

    /// One architecture's decision over the whole u32 number space.
    fn arch_segments(&mut self, a: &ArchIr) -> Vec<Seg> {
        let default = self.ret_leaf(a.default_action);
        let unknown = self.ret_leaf(a.unknown_action);
        let max = a.max_known_nr;
        let mut segs = Vec::new();
        let mut cursor: u64 = 0;
        let gap = |segs: &mut Vec<Seg>, from: u64, to: u64| {
            // [from, to] inclusive, to may be < from (empty).
            if from > to {
                return;
            }
            let m = u64::from(max);
            if from <= m {
                segs.push(Seg {
                    lo: from as u32,
                    hi: to.min(m) as u32,
                    leaf: default,
                    origin: a.default_origin,
                });
            }
            if to > m {
                segs.push(Seg {
                    lo: from.max(m + 1) as u32,
                    hi: to as u32,
                    leaf: unknown,
                    origin: None,
                });
            }
        };
        let nrs: Vec<u32> = a
            .syscalls
            .keys()
            .copied()
            .filter(|&nr| a.reaches(nr))
            .collect();
        for nr in nrs {
            if u64::from(nr) > cursor {
                gap(&mut segs, cursor, u64::from(nr) - 1);
            }
            let (leaf, origin) = self.rules_leaf(a, nr);
            segs.push(Seg {
                lo: nr,
                hi: nr,
                leaf,
                origin,
            });
            cursor = u64::from(nr) + 1;
        }
        gap(&mut segs, cursor, u64::from(u32::MAX));
        coalesce(segs)
    }

    fn build(&mut self) -> Result<(), EmitError> {
        let ir = self.ir;
        let bad = ir.bad_arch_action.to_ret();
        // Tokens in order: x86_64's first (the usual native one), then the rest.
        let mut tokens: Vec<u32> = Vec::new();
        let x86_token = Arch::X86_64.audit_arch();
        if ir.arches.iter().any(|a| a.arch.audit_arch() == x86_token) {
            tokens.push(x86_token);
        }
        for a in &ir.arches {
            if !tokens.contains(&a.arch.audit_arch()) {
                tokens.push(a.arch.audit_arch());
            }
        }
        // Plan every tree before emitting: the x32 tree's depth feeds the guards.
        let mut trees: Vec<(u32, Vec<Seg>, Node)> = Vec::new();
        for &tok in &tokens {
            let segs = if tok == x86_token {
                let x32_target = match ir.arches.iter().find(|a| a.arch == Arch::X32) {
                    Some(a) => {
                        let segs = self.arch_segments(a);
                        // x32 numbers (bit 30) are above every cached table.
                        let (node, _) = plan(&segs, &self.info, 0);
                        let depth = tree_depth(&node, &segs, &self.info);
                        self.x32_tree = Some((segs, node));
                        (X32Target::Tree, depth)
                    }
                    None => (X32Target::Ret(bad), 1),
                };
                let base = match ir.arches.iter().find(|a| a.arch == Arch::X86_64) {
                    Some(a) => self.arch_segments(a),
                    None => vec![Seg {
                        lo: 0,
                        hi: u32::MAX,
                        leaf: self.leaf(Leaf::Ret(bad), LeafInfo { depth: 1, size: 0 }),
                        origin: None,
                    }],
                };
                let guarded: Vec<Seg> = base
                    .into_iter()
                    .map(|s| {
                        let plain = matches!(
                            (x32_target.0, self.leaves[s.leaf]),
                            (X32Target::Ret(v), Leaf::Ret(w)) if v == w
                        );
                        if !has_x32(s.lo, s.hi) || plain {
                            return s;
                        }
                        let b = self.info[s.leaf];
                        let info = LeafInfo {
                            depth: 1 + b.depth.max(x32_target.1),
                            size: 1 + b.size,
                        };
                        let leaf = self.leaf(
                            Leaf::Guard {
                                base: s.leaf,
                                x32: x32_target.0,
                            },
                            info,
                        );
                        Seg { leaf, ..s }
                    })
                    .collect();
                coalesce(guarded)
            } else {
                let Some(a) = ir.arches.iter().find(|a| a.arch.audit_arch() == tok) else {
                    continue;
                };
                self.arch_segments(a)
            };
            // The numbers the kernel's action cache emulates on attach, if this
            // token is the running kernel's native or compat ABI.
            let span = ir
                .arches
                .iter()
                .find(|a| a.arch.audit_arch() == tok && a.arch != Arch::X32)
                .map_or(0, |a| a.max_known_nr.saturating_add(1));
            let (node, _) = plan(&segs, &self.info, span);
            trees.push((tok, segs, node));
        }
        // Dispatch.
        self.code.push(
            P::Load {
                off: data::ARCH,
                mask: None,
            },
            None,
        );
        let entries: Vec<usize> = trees.iter().map(|_| self.code.label()).collect();
        for (i, (tok, _, _)) in trees.iter().enumerate() {
            let next = if i + 1 < trees.len() {
                Tgt::L(self.code.label())
            } else {
                Tgt::R(bad)
            };
            self.code.push(
                P::Jmp {
                    op: op::JMP | op::JEQ | op::K,
                    k: *tok,
                    jt: Tgt::L(entries[i]),
                    jf: next,
                },
                None,
            );
            if let Tgt::L(l) = next {
                self.code.place(l);
            }
        }
        if trees.is_empty() {
            self.code.push(P::Ja(Tgt::R(bad)), None);
        }
        // A compat ABI's tree gets a gate when its 64-bit kernel's own ABI is
        // in the filter too: the kernel that emulates both is that one.
        let gated: Vec<u32> = ir
            .arches
            .iter()
            .filter(|a| {
                a.arch
                    .compat_of()
                    .is_some_and(|k| ir.arches.iter().any(|b| b.arch == k))
            })
            .map(|a| a.arch.audit_arch())
            .collect();
        for (i, (tok, segs, node)) in trees.iter().enumerate() {
            self.code.place(entries[i]);
            let needs_nr = match node {
                Node::Leaf(s) => matches!(self.leaves[segs[*s].leaf], Leaf::Guard { .. }),
                _ => true,
            };
            if needs_nr {
                if gated.contains(tok) {
                    self.code.push(P::Gate(*tok), None);
                }
                self.code.push(
                    P::Load {
                        off: data::NR,
                        mask: None,
                    },
                    None,
                );
            }
            let ja = self.code.push(P::Ja(Tgt::R(bad)), None);
            let t = self.emit_node(node, segs);
            self.code.patch(ja, P::Ja(t));
        }
        // Shared leaf code: guards first (they jump to the x32 tree and to
        // bodies), then the x32 tree, then the bodies.
        let mut done = 0;
        while done < self.pending.len() {
            let leaf = self.pending[done];
            done += 1;
            if let Leaf::Guard { base, x32 } = self.leaves[leaf] {
                self.code.place(self.leaf_label[&leaf]);
                let jt = match x32 {
                    X32Target::Ret(v) => Tgt::R(v),
                    X32Target::Tree => {
                        Tgt::L(*self.x32_label.get_or_insert_with(|| self.code.label()))
                    }
                };
                let jf = self.leaf_target(base);
                self.code.push(
                    P::Jmp {
                        op: op::JMP | op::JSET | op::K,
                        k: X32_SYSCALL_BIT,
                        jt,
                        jf,
                    },
                    None,
                );
            }
        }
        if let (Some(l), Some((xsegs, xnode))) = (self.x32_label.take(), self.x32_tree.take()) {
            self.code.place(l);
            let ja = self.code.push(P::Ja(Tgt::R(bad)), None);
            let t = self.emit_node(&xnode, &xsegs);
            self.code.patch(ja, P::Ja(t));
        }
        let mut done = 0;
        while done < self.pending.len() {
            let leaf = self.pending[done];
            done += 1;
            if let Leaf::Body(b) = self.leaves[leaf] {
                self.code.place(self.leaf_label[&leaf]);
                let ja = self.code.push(P::Ja(Tgt::R(bad)), None);
                let body = self.bodies[b].clone();
                let entry = body.emit_into(&mut self.code);
                self.code.patch(ja, P::Ja(entry));
            }
        }
        Ok(())
    }

    fn emit_node(&mut self, node: &Node, segs: &[Seg]) -> Tgt {
        match node {
            Node::Leaf(s) => self.leaf_target(segs[*s].leaf),
            Node::Split { at, left, right } => {
                let l = self.code.new_placed();
                let origin = segs[first_seg(right)].origin;
                let idx = self.code.push(P::Ja(Tgt::R(0)), origin);
                let jf = self.emit_node(left, segs);
                let jt = self.emit_node(right, segs);
                self.code.patch(
                    idx,
                    P::Jmp {
                        op: op::JMP | op::JGE | op::K,
                        k: *at,
                        jt,
                        jf,
                    },
                );
                Tgt::L(l)
            }
            Node::Jeq { hit, rest } => {
                let l = self.code.new_placed();
                let seg = segs[*hit];
                let idx = self.code.push(P::Ja(Tgt::R(0)), seg.origin);
                let jt = self.leaf_target(seg.leaf);
                let jf = self.emit_node(rest, segs);
                self.code.patch(
                    idx,
                    P::Jmp {
                        op: op::JMP | op::JEQ | op::K,
                        k: seg.lo,
                        jt,
                        jf,
                    },
                );
                Tgt::L(l)
            }
        }
    }

    /// The target for a leaf: a shared `ret`, or the label of its code (queued).
    fn leaf_target(&mut self, leaf: usize) -> Tgt {
        if let Leaf::Ret(v) = self.leaves[leaf] {
            return Tgt::R(v);
        }
        if let Some(&l) = self.leaf_label.get(&leaf) {
            return Tgt::L(l);
        }
        let l = self.code.label();
        self.leaf_label.insert(leaf, l);
        self.pending.push(leaf);
        Tgt::L(l)
    }
}

fn first_seg(node: &Node) -> usize {
    match node {
        Node::Leaf(s) => *s,
        Node::Split { left, .. } => first_seg(left),
        Node::Jeq { hit, rest } => (*hit).min(first_seg(rest)),
    }
}

fn tree_depth(node: &Node, segs: &[Seg], li: &[LeafInfo]) -> u32 {
    match node {
        Node::Leaf(s) => li[segs[*s].leaf].depth,
        Node::Split { left, right, .. } => {
            1 + tree_depth(left, segs, li).max(tree_depth(right, segs, li))
        }
        Node::Jeq { hit, rest } => 1 + li[segs[*hit].leaf].depth.max(tree_depth(rest, segs, li)),
    }
}

// ---------------------------------------------------------------------------
// Layout: real instructions, shared returns, long jumps.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Real {
    code: u16,
    k: u32,
    jt: Tgt,
    jf: Tgt,
    origin: Option<OriginId>,
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    Label(usize),
    I(Real),
}

fn is_cond_jump(code: u16) -> bool {
    code & 0x07 == op::JMP && code & 0xf0 != op::JA
}

/// The offset a gate carries through layout: no real load uses it (offsets are
/// below 64), and layout moves no instruction past another.
const GATE_MARK: u32 = u32::MAX;

fn lower(code: &Code) -> (Vec<Entry>, usize) {
    let mut out = Vec::new();
    let mut rets: BTreeSet<u32> = BTreeSet::new();
    let r = |c, k, o| {
        Entry::I(Real {
            code: c,
            k,
            jt: Tgt::R(0),
            jf: Tgt::R(0),
            origin: o,
        })
    };
    for &(p, o) in &code.items {
        for t in p.targets() {
            if let Tgt::R(v) = t {
                rets.insert(v);
            }
        }
        match p {
            P::Label(l) => out.push(Entry::Label(l)),
            P::Load { off, mask } => {
                out.push(r(op::LD | op::W | op::ABS, off, o));
                if let Some(m) = mask {
                    out.push(r(op::ALU | op::AND | op::K, m, o));
                }
            }
            P::And(m) => out.push(r(op::ALU | op::AND | op::K, m, o)),
            // Laid out as a plain load, then opened by `emit` (see `GATE_MARK`).
            P::Gate(_) => out.push(r(op::LD | op::W | op::ABS, GATE_MARK, o)),
            P::Jmp { op: c, k, jt, jf } => out.push(Entry::I(Real {
                code: c,
                k,
                jt,
                jf,
                origin: o,
            })),
            P::Ja(t) => out.push(Entry::I(Real {
                code: op::JMP | op::JA,
                k: 0,
                jt: t,
                jf: t,
                origin: o,
            })),
        }
    }
    // Shared returns, most used first would not matter: all are leaves.
    for v in rets {
        out.push(r(op::RET | op::K, v, None));
    }
    (out, code.next_label)
}

type Laid = (Vec<SockFilter>, Vec<Option<OriginId>>);

fn layout(mut es: Vec<Entry>, mut next_label: usize) -> Result<Laid, EmitError> {
    loop {
        let mut label_pc: Vec<Option<usize>> = vec![None; next_label];
        let mut rets: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        let mut pc = 0;
        for e in &es {
            match e {
                Entry::Label(l) => {
                    label_pc[*l] = Some(pc);
                }
                Entry::I(r) => {
                    if r.code == op::RET | op::K {
                        rets.entry(r.k).or_default().push(pc);
                    }
                    pc += 1;
                }
            }
        }
        let dist = |t: Tgt, pc: usize| -> Option<usize> {
            let to = match t {
                Tgt::L(l) => label_pc.get(l).copied().flatten()?,
                Tgt::R(v) => {
                    let ps = rets.get(&v)?;
                    *ps.get(ps.partition_point(|&p| p <= pc))?
                }
            };
            to.checked_sub(pc + 1)
        };
        // Every jump that cannot reach its target, last first, so that one
        // `ret` copy can serve several earlier jumps.
        let mut pcs = Vec::with_capacity(es.len());
        let mut pc = 0;
        for e in &es {
            pcs.push(pc);
            if matches!(e, Entry::I(_)) {
                pc += 1;
            }
        }
        let mut fixes: Vec<(usize, bool)> = Vec::new();
        let mut planned_rets: Vec<(u32, usize)> = Vec::new();
        for ei in (0..es.len()).rev() {
            let Entry::I(r) = es[ei] else { continue };
            let pc = pcs[ei];
            if r.code == op::JMP | op::JA {
                if dist(r.jt, pc).is_none() {
                    return Err(EmitError::Layout(format!(
                        "ja at {pc} cannot reach {:?}",
                        r.jt
                    )));
                }
                continue;
            }
            if !is_cond_jump(r.code) {
                continue;
            }
            for (is_t, t) in [(true, r.jt), (false, r.jf)] {
                if dist(t, pc).is_some_and(|d| d <= 255) {
                    continue;
                }
                match t {
                    Tgt::L(l) if label_pc.get(l).copied().flatten().is_none_or(|to| to <= pc) => {
                        return Err(EmitError::Layout(format!("jump at {pc} goes backwards")));
                    }
                    Tgt::R(v) => {
                        if planned_rets
                            .iter()
                            .any(|&(w, at)| w == v && at > pc && at - pc < 200)
                        {
                            continue;
                        }
                        planned_rets.push((v, pc + 1));
                    }
                    Tgt::L(_) => {}
                }
                fixes.push((ei, is_t));
            }
        }
        if fixes.is_empty() {
            // Encode.
            let mut insns = Vec::with_capacity(pc);
            let mut origins = Vec::with_capacity(pc);
            for (ei, e) in es.iter().enumerate() {
                let Entry::I(r) = e else { continue };
                let pc = pcs[ei];
                // Every target was checked reachable above; a miss here is a
                // compiler bug and must fail loudly, never become `ja 0`.
                let d = |t| {
                    dist(t, pc).ok_or_else(|| {
                        EmitError::Layout(format!("jump at {pc} cannot reach {t:?}"))
                    })
                };
                let ins = if r.code == op::JMP | op::JA {
                    SockFilter::stmt(r.code, d(r.jt)? as u32)
                } else if is_cond_jump(r.code) {
                    SockFilter::jump(r.code, r.k, d(r.jt)? as u8, d(r.jf)? as u8)
                } else {
                    SockFilter::stmt(r.code, r.k)
                };
                insns.push(ins);
                origins.push(r.origin);
            }
            return Ok((insns, origins));
        }
        // `fixes` is in descending entry order: inserting keeps earlier indices.
        for (ei, is_t) in fixes {
            let Entry::I(mut r) = es[ei] else { continue };
            let t = if is_t { r.jt } else { r.jf };
            let tramp = match t {
                Tgt::R(v) => vec![Entry::I(Real {
                    code: op::RET | op::K,
                    k: v,
                    jt: t,
                    jf: t,
                    origin: r.origin,
                })],
                Tgt::L(_) => {
                    let l = next_label;
                    next_label += 1;
                    if is_t {
                        r.jt = Tgt::L(l);
                    } else {
                        r.jf = Tgt::L(l);
                    }
                    es[ei] = Entry::I(r);
                    vec![
                        Entry::Label(l),
                        Entry::I(Real {
                            code: op::JMP | op::JA,
                            k: 0,
                            jt: t,
                            jf: t,
                            origin: r.origin,
                        }),
                    ]
                }
            };
            es.splice(ei + 1..ei + 1, tramp);
        }
    }
}

// ---------------------------------------------------------------------------
// Entry point.
// ---------------------------------------------------------------------------

fn validate(ir: &FilterIr) -> Result<(), EmitError> {
    fn check_cond(c: &Cond) -> Result<(), EmitError> {
        match c {
            Cond::True => Ok(()),
            Cond::Cmp(cmp) if cmp.arg > 5 => Err(EmitError::InvalidIr(format!(
                "argument index {} (syscalls have arguments 0..=5)",
                cmp.arg
            ))),
            Cond::Cmp(_) => Ok(()),
            Cond::Not(x) => check_cond(x),
            Cond::And(xs) | Cond::Or(xs) => xs.iter().try_for_each(check_cond),
        }
    }
    for a in &ir.arches {
        for rules in a.syscalls.values() {
            for r in rules {
                check_cond(&r.cond)?;
            }
        }
    }
    Ok(())
}

/// Compiles the IR to a seccomp program (not yet verified: see `verify`).
pub fn emit(ir: &FilterIr) -> Result<Emitted, EmitError> {
    validate(ir)?;
    let mut g = Gen::new(ir);
    g.build()?;
    let mut code = g.code;
    optimize(&mut code, AState::Unknown);
    let (entries, next_label) = lower(&code);
    // Layout only adds instructions: give up early on hopeless sizes.
    let estimate: usize = code.items.iter().map(|(p, _)| p.real_len()).sum();
    if estimate > bpf::MAX_INSNS {
        let origins: Vec<Option<OriginId>> = code
            .items
            .iter()
            .flat_map(|(p, o)| std::iter::repeat_n(*o, p.real_len()))
            .collect();
        return Err(too_large(ir, &origins));
    }
    let (mut insns, origins) = layout(entries, next_label)?;
    if insns.len() > bpf::MAX_INSNS {
        return Err(too_large(ir, &origins));
    }
    // The gates, in program order as emitted.
    let tokens = code.items.iter().filter_map(|(p, _)| match p {
        P::Gate(t) => Some(*t),
        _ => None,
    });
    let marks: Vec<usize> = (0..insns.len())
        .filter(|&i| insns[i].code == op::LD | op::W | op::ABS && insns[i].k == GATE_MARK)
        .collect();
    let mut gates = Vec::with_capacity(marks.len());
    for (at, arch) in marks.into_iter().zip(tokens) {
        insns[at] = bpf::gate::OPEN;
        gates.push(CompatGate {
            arch,
            // Below MAX_INSNS (checked above), so it fits.
            at: at as u16,
        });
    }
    let program = SeccompProgram::new(insns)?;
    Ok(Emitted {
        program,
        origins,
        gates,
    })
}

fn too_large(ir: &FilterIr, origins: &[Option<OriginId>]) -> EmitError {
    let mut count: HashMap<Option<OriginId>, usize> = HashMap::new();
    for o in origins {
        *count.entry(*o).or_default() += 1;
    }
    let mut top: Vec<Contributor> = count
        .into_iter()
        .map(|(origin, instructions)| Contributor {
            origin,
            description: match origin.and_then(|o| ir.origin(o)) {
                Some(o) => format!("{}:{}: {}", o.file, o.line, o.summary),
                None => "dispatch and shared returns".to_string(),
            },
            instructions,
        })
        .collect();
    top.sort_by(|a, b| {
        b.instructions
            .cmp(&a.instructions)
            .then(a.origin.cmp(&b.origin))
    });
    top.truncate(8);
    EmitError::TooLarge {
        len: origins.len(),
        max: bpf::MAX_INSNS,
        top,
    }
}

#[cfg(test)]
mod plan_tests {
    use proptest::prelude::*;

    use super::*;

    /// The plain layered recurrence `plan` reduces (every state of every layer,
    /// scalar split scan), kept to check the reductions tree for tree.
    fn plan_reference(segs: &[Seg], li: &[LeafInfo], span: u32) -> (Node, u32) {
        let n = segs.len();
        if n == 1 {
            return (Node::Leaf(0), li[segs[0].leaf].depth);
        }
        let p = PlanInput::new(segs, li, span);
        // Per depth layer `d`: the least cost of a tree for segments `i..=j`
        // whose worst case is at most `d` (`INF` if none) and the option that
        // achieves it, both at `i * n + j`.
        let mut layers: Vec<(Vec<u32>, Vec<u32>)> = vec![(vec![INF; n * n], vec![0; n * n])];
        let mut found = None;
        for d in 1..=64u32 {
            let prev = &layers[d as usize - 1].0;
            let mut cur = vec![INF; n * n];
            let mut ch = vec![0u32; n * n];
            for len in 0..n {
                for i in 0..n - len {
                    let j = i + len;
                    let mut best = INF;
                    let mut choice = 0;
                    let mut consider = |c: u32, what: u32| {
                        if c < best {
                            best = c;
                            choice = what;
                        }
                    };
                    if i == j {
                        if p.info(i).depth <= d {
                            consider(p.leaf_cost(i), LEAF);
                        }
                    } else {
                        let node = INSN_COST + p.weight(i, j);
                        if p.chain[p.idx(i, j)] {
                            let (cd, cs) = p.chain_cost(i, j);
                            if cd <= d {
                                consider(cs, CHAIN);
                            }
                        }
                        if p.single(i) && p.info(i).depth < d {
                            consider(node + p.leaf_cost(i) + prev[p.idx(i + 1, j)], JEQ_LO);
                        }
                        if p.single(j) && p.info(j).depth < d {
                            consider(node + p.leaf_cost(j) + prev[p.idx(i, j - 1)], JEQ_HI);
                        }
                        for k in i..j {
                            consider(
                                node + prev[p.idx(i, k)] + prev[p.idx(k + 1, j)],
                                SPLIT + (k - i) as u32,
                            );
                        }
                    }
                    cur[p.idx(i, j)] = best.min(INF);
                    ch[p.idx(i, j)] = choice;
                }
            }
            let done = cur[p.idx(0, n - 1)] < INF;
            layers.push((cur, ch));
            if done {
                found = Some(d);
                break;
            }
        }
        let Some(depth) = found else {
            return balanced(segs, li, 0, n - 1);
        };
        let choice_at = |s: usize, d: usize| {
            layers
                .get(d)
                .and_then(|l| l.1.get(s))
                .copied()
                .unwrap_or(LEAF)
        };
        let node = rebuild(&choice_at, &p, 0, n - 1, depth as usize);
        (fill_split_points(node, segs), depth)
    }

    /// Segments from (leaf, single?) pairs, numbered upwards from 0.
    fn segments(spec: &[(usize, bool)]) -> Vec<Seg> {
        let mut lo = 0u32;
        spec.iter()
            .map(|&(leaf, single)| {
                let hi = if single { lo } else { lo + 3 };
                let s = Seg {
                    lo,
                    hi,
                    leaf,
                    origin: None,
                };
                lo = hi + 1;
                s
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Same worst case, same cost, same tree as the plain recurrence, on
        /// inputs rich in single numbers and repeated leaves (so chains, `jeq`
        /// ends and uneven leaf depths all compete), with the emulated span
        /// covering none, part or all of the numbers.
        #[test]
        fn plan_equals_the_plain_recurrence(
            infos in prop::collection::vec((1u32..9, 0u32..7), 1..5),
            spec in prop::collection::vec((0usize..4, any::<bool>()), 1..48),
            span in prop_oneof![Just(0u32), 0u32..200],
        ) {
            let li: Vec<LeafInfo> = infos.iter().map(|&(depth, size)| LeafInfo { depth, size }).collect();
            let spec: Vec<(usize, bool)> = spec.into_iter().map(|(l, s)| (l % li.len(), s)).collect();
            let segs = segments(&spec);
            let (fast, fd) = plan(&segs, &li, span);
            let (slow, sd) = plan_reference(&segs, &li, span);
            prop_assert_eq!(fd, sd);
            prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }
    }
}
