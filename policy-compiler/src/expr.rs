//! The `when` expression language: conditions on syscall arguments.
//!
//! ```text
//! arg0 & (CLONE_NEWNS | CLONE_NEWUSER) == 0
//! arg0 in [0, 0x8, 0x20000, PER_LINUX32]
//! u32(arg1) == TIOCSTI && !(arg2 > 10 || arg3 != 0)
//! ```
//!
//! Precedence follows Rust, not C: `&` and `|` bind tighter than comparisons, so
//! `arg0 & X == 0` means `(arg0 & X) == 0`. Comparisons are unsigned and 64-bit;
//! `u32(argN)` compares only the low 32 bits, for arguments the kernel truncates
//! (ioctl commands, CVE-2019-10063). Errors carry byte ranges inside the string.

use std::ops::Range;

use crate::consts;
use crate::seccomp::ir::{Cmp, CmpOp, Cond, Width};
use crate::suggest;

/// A problem in an expression, at a byte range of the expression text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub code: &'static str,
    pub message: String,
    pub range: Range<usize>,
    pub help: Option<String>,
}

fn err<T>(
    code: &'static str,
    message: impl Into<String>,
    range: Range<usize>,
) -> Result<T, ExprError> {
    Err(ExprError {
        code,
        message: message.into(),
        range,
        help: None,
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(u64),
    Ident(String),
    Op(&'static str),
}

fn lex(src: &str) -> Result<Vec<(Tok, Range<usize>)>, ExprError> {
    const OPS: [&str; 17] = [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "&", "|", "!", "~", "(", ")", "[", "]", ",",
    ];
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let text = &src[start..i];
            match crate::yaml::parse_int(text) {
                Some(n) => out.push((Tok::Num(n), start..i)),
                None => {
                    let looks_numeric = text
                        .trim_start_matches("0x")
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || c == '_');
                    return if looks_numeric {
                        err(
                            "constant-out-of-range",
                            format!("`{text}` does not fit in 64 bits"),
                            start..i,
                        )
                    } else {
                        err(
                            "invalid-expression",
                            format!("`{text}` is not a number"),
                            start..i,
                        )
                    };
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_string()), start..i));
        } else if let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
            out.push((Tok::Op(op), i..i + op.len()));
            i += op.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return err(
                "invalid-expression",
                format!("unexpected character `{ch}`"),
                i..i + ch.len_utf8(),
            );
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
enum Ast {
    Num(u64),
    Name(String),
    U32(Box<Node>),
    BitAnd(Box<Node>, Box<Node>),
    BitOr(Box<Node>, Box<Node>),
    BitNot(Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    In(Box<Node>, Vec<Node>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

#[derive(Clone, Debug)]
struct Node {
    ast: Ast,
    range: Range<usize>,
}

struct Parser {
    toks: Vec<(Tok, Range<usize>)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn here(&self) -> Range<usize> {
        self.toks
            .get(self.pos)
            .map_or(self.end..self.end, |t| t.1.clone())
    }
    fn eat(&mut self, op: &str) -> bool {
        if self.peek() == Some(&Tok::Op(match_op(op))) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, op: &'static str) -> Result<(), ExprError> {
        if self.eat(op) {
            Ok(())
        } else {
            let found = match self.peek() {
                None => "the end of the expression".to_string(),
                Some(Tok::Num(n)) => format!("`{n}`"),
                Some(Tok::Ident(s)) => format!("`{s}`"),
                Some(Tok::Op(o)) => format!("`{o}`"),
            };
            err(
                "invalid-expression",
                format!("expected `{op}`, found {found}"),
                self.here(),
            )
        }
    }
    fn bin(l: Node, r: Node, f: fn(Box<Node>, Box<Node>) -> Ast) -> Node {
        let range = l.range.start..r.range.end;
        Node {
            ast: f(Box::new(l), Box::new(r)),
            range,
        }
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        self.depth += 1;
        if self.depth > 64 {
            return err(
                "invalid-expression",
                "expression nested too deeply",
                self.here(),
            );
        }
        let mut l = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            l = Self::bin(l, r, Ast::Or);
        }
        self.depth -= 1;
        Ok(l)
    }
    fn and(&mut self) -> Result<Node, ExprError> {
        let mut l = self.cmp()?;
        while self.eat("&&") {
            let r = self.cmp()?;
            l = Self::bin(l, r, Ast::And);
        }
        Ok(l)
    }
    fn cmp(&mut self) -> Result<Node, ExprError> {
        let l = self.bitor()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => CmpOp::Eq,
            Some(Tok::Op("!=")) => CmpOp::Ne,
            Some(Tok::Op("<")) => CmpOp::Lt,
            Some(Tok::Op("<=")) => CmpOp::Le,
            Some(Tok::Op(">")) => CmpOp::Gt,
            Some(Tok::Op(">=")) => CmpOp::Ge,
            Some(Tok::Ident(k)) if k == "in" => {
                self.pos += 1;
                self.expect("[")?;
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.bitor()?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("]") {
                            break;
                        }
                    }
                }
                let end = self.toks[self.pos - 1].1.end;
                let range = l.range.start..end;
                if items.is_empty() {
                    return err("invalid-expression", "`in []` can never hold", range);
                }
                return Ok(Node {
                    ast: Ast::In(Box::new(l), items),
                    range,
                });
            }
            _ => return Ok(l),
        };
        self.pos += 1;
        let r = self.bitor()?;
        let range = l.range.start..r.range.end;
        Ok(Node {
            ast: Ast::Cmp(op, Box::new(l), Box::new(r)),
            range,
        })
    }
    fn bitor(&mut self) -> Result<Node, ExprError> {
        let mut l = self.bitand()?;
        while self.eat("|") {
            let r = self.bitand()?;
            l = Self::bin(l, r, Ast::BitOr);
        }
        Ok(l)
    }
    fn bitand(&mut self) -> Result<Node, ExprError> {
        let mut l = self.unary()?;
        while self.eat("&") {
            let r = self.unary()?;
            l = Self::bin(l, r, Ast::BitAnd);
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Node, ExprError> {
        let start = self.here().start;
        if self.eat("!") {
            let inner = self.unary()?;
            let range = start..inner.range.end;
            return Ok(Node {
                ast: Ast::Not(Box::new(inner)),
                range,
            });
        }
        if self.eat("~") {
            let inner = self.unary()?;
            let range = start..inner.range.end;
            return Ok(Node {
                ast: Ast::BitNot(Box::new(inner)),
                range,
            });
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Node, ExprError> {
        let range = self.here();
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Node {
                    ast: Ast::Num(n),
                    range,
                })
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                if name == "u32" && self.eat("(") {
                    let inner = self.or()?;
                    self.expect(")")?;
                    let end = self.toks[self.pos - 1].1.end;
                    return Ok(Node {
                        ast: Ast::U32(Box::new(inner)),
                        range: range.start..end,
                    });
                }
                Ok(Node {
                    ast: Ast::Name(name),
                    range,
                })
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let inner = self.or()?;
                self.expect(")")?;
                let end = self.toks[self.pos - 1].1.end;
                Ok(Node {
                    ast: inner.ast,
                    range: range.start..end,
                })
            }
            None => err("invalid-expression", "the expression ends too early", range),
            Some(Tok::Op(o)) => err(
                "invalid-expression",
                format!("expected a value, found `{o}`"),
                range,
            ),
        }
    }
}

fn match_op(op: &str) -> &'static str {
    [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "&", "|", "!", "~", "(", ")", "[", "]", ",",
    ]
    .into_iter()
    .find(|o| *o == op)
    .unwrap_or("")
}

/// A value after folding: a constant, or (part of) an argument.
#[derive(Clone, Copy, Debug)]
enum Value {
    Const(u64),
    Arg { arg: u8, mask: u64, width: Width },
}

fn value(n: &Node) -> Result<Value, ExprError> {
    match &n.ast {
        Ast::Num(v) => Ok(Value::Const(*v)),
        Ast::Name(name) => {
            if let Some(idx) = name
                .strip_prefix("arg")
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            {
                let i: u32 = idx.parse().unwrap_or(u32::MAX);
                if i > 5 {
                    return Err(ExprError {
                        code: "arg-index-out-of-range",
                        message: format!(
                            "`{name}` does not exist: syscalls have six arguments, arg0 to arg5"
                        ),
                        range: n.range.clone(),
                        help: None,
                    });
                }
                return Ok(Value::Arg {
                    arg: i as u8,
                    mask: u64::MAX,
                    width: Width::U64,
                });
            }
            match consts::lookup(name) {
                Some(v) => Ok(Value::Const(v)),
                None => Err(ExprError {
                    code: "unknown-constant",
                    message: format!("unknown constant `{name}`"),
                    range: n.range.clone(),
                    help: suggest::did_you_mean(
                        name,
                        consts::names()
                            .chain(["arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "u32"]),
                    ),
                }),
            }
        }
        Ast::U32(inner) => match value(inner)? {
            Value::Arg { arg, mask, .. } => Ok(Value::Arg {
                arg,
                mask: mask & 0xffff_ffff,
                width: Width::U32,
            }),
            Value::Const(c) => Ok(Value::Const(c & 0xffff_ffff)),
        },
        Ast::BitAnd(a, b) => match (value(a)?, value(b)?) {
            (Value::Const(x), Value::Const(y)) => Ok(Value::Const(x & y)),
            (Value::Arg { arg, mask, width }, Value::Const(c))
            | (Value::Const(c), Value::Arg { arg, mask, width }) => Ok(Value::Arg {
                arg,
                mask: mask & c,
                width,
            }),
            _ => err(
                "invalid-expression",
                "`&` between two arguments cannot be checked by seccomp",
                n.range.clone(),
            ),
        },
        Ast::BitOr(a, b) => match (value(a)?, value(b)?) {
            (Value::Const(x), Value::Const(y)) => Ok(Value::Const(x | y)),
            _ => err(
                "invalid-expression",
                "`|` can only combine constants (seccomp can mask an argument with `&`, not set bits in it)",
                n.range.clone(),
            ),
        },
        Ast::BitNot(a) => match value(a)? {
            Value::Const(x) => Ok(Value::Const(!x)),
            _ => err(
                "invalid-expression",
                "`~` can only apply to constants",
                n.range.clone(),
            ),
        },
        _ => err(
            "invalid-expression",
            "expected a value, found a condition",
            n.range.clone(),
        ),
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

fn comparison(op: CmpOp, l: &Node, r: &Node, range: &Range<usize>) -> Result<Cond, ExprError> {
    let (arg, c, op, const_node) = match (value(l)?, value(r)?) {
        (a @ Value::Arg { .. }, Value::Const(c)) => (a, c, op, r),
        (Value::Const(c), a @ Value::Arg { .. }) => (a, c, flip(op), l),
        (Value::Const(_), Value::Const(_)) => {
            return err(
                "invalid-expression",
                "this compares two constants; a condition must look at an argument (arg0..arg5)",
                range.clone(),
            );
        }
        _ => {
            return err(
                "invalid-expression",
                "seccomp can compare an argument only with a constant",
                range.clone(),
            );
        }
    };
    let Value::Arg { arg, mask, width } = arg else {
        unreachable!("matched above")
    };
    let value = match width {
        Width::U64 => c,
        Width::U32 => {
            // A sign-extended negative int (e.g. AT_FDCWD as a 64-bit value) is
            // meant as its low 32 bits.
            if c <= u64::from(u32::MAX) || (c >> 31) == (u64::MAX >> 31) {
                c & 0xffff_ffff
            } else {
                return Err(ExprError {
                    code: "constant-out-of-range",
                    message: format!(
                        "0x{c:x} does not fit in 32 bits, but the argument is compared as u32"
                    ),
                    range: const_node.range.clone(),
                    help: Some(
                        "use a constant below 2^32, or drop `u32(..)` to compare all 64 bits"
                            .into(),
                    ),
                });
            }
        }
    };
    Ok(Cond::Cmp(Cmp {
        arg,
        mask,
        op,
        value,
        width,
    }))
}

fn condition(n: &Node) -> Result<Cond, ExprError> {
    match &n.ast {
        Ast::Cmp(op, l, r) => comparison(*op, l, r, &n.range),
        Ast::In(l, items) => {
            let mut alts = Vec::new();
            for item in items {
                alts.push(comparison(CmpOp::Eq, l, item, &item.range)?);
            }
            Ok(if alts.len() == 1 {
                alts.remove(0)
            } else {
                Cond::Or(alts)
            })
        }
        Ast::Not(inner) => Ok(Cond::Not(Box::new(condition(inner)?))),
        Ast::And(a, b) => Ok(Cond::And(vec![condition(a)?, condition(b)?])),
        Ast::Or(a, b) => Ok(Cond::Or(vec![condition(a)?, condition(b)?])),
        Ast::Name(name) if name == "true" => Ok(Cond::True),
        Ast::Name(name) if name == "false" => Ok(Cond::Not(Box::new(Cond::True))),
        _ => Err(ExprError {
            code: "invalid-expression",
            message: "expected a condition, found a value".into(),
            range: n.range.clone(),
            help: Some(
                "compare it with a constant, e.g. `arg0 != 0` or `arg0 & FLAG == FLAG`".into(),
            ),
        }),
    }
}

/// Parses a `when` expression into a condition.
pub fn parse(src: &str) -> Result<Cond, ExprError> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return err("invalid-expression", "empty condition", 0..src.len());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: src.len(),
        depth: 0,
    };
    let ast = p.or()?;
    if p.pos < p.toks.len() {
        return err(
            "invalid-expression",
            "unexpected text after the condition",
            p.here().start..src.len(),
        );
    }
    condition(&ast)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(arg: u8, mask: u64, op: CmpOp, value: u64, width: Width) -> Cond {
        Cond::Cmp(Cmp {
            arg,
            mask,
            op,
            value,
            width,
        })
    }

    #[test]
    fn docker_clone_mask() {
        let c = parse("arg0 & (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP) == 0").unwrap();
        assert_eq!(c, cmp(0, 0x7E02_0000, CmpOp::Eq, 0, Width::U64));
    }

    #[test]
    fn in_lists_flipped_comparisons_and_u32() {
        assert_eq!(
            parse("arg0 in [0, 0x8]").unwrap(),
            Cond::Or(vec![
                cmp(0, u64::MAX, CmpOp::Eq, 0, Width::U64),
                cmp(0, u64::MAX, CmpOp::Eq, 8, Width::U64)
            ])
        );
        assert_eq!(
            parse("38 > arg0").unwrap(),
            cmp(0, u64::MAX, CmpOp::Lt, 38, Width::U64)
        );
        assert_eq!(
            parse("u32(arg1) == TIOCSTI").unwrap(),
            cmp(1, 0xffff_ffff, CmpOp::Eq, 0x5412, Width::U32)
        );
        assert_eq!(
            parse("!(arg2 > 1) && arg3 != 0 || true").unwrap(),
            Cond::Or(vec![
                Cond::And(vec![
                    Cond::Not(Box::new(cmp(2, u64::MAX, CmpOp::Gt, 1, Width::U64))),
                    cmp(3, u64::MAX, CmpOp::Ne, 0, Width::U64)
                ]),
                Cond::True
            ])
        );
    }

    #[test]
    fn errors_point_inside_the_string() {
        let e = parse("arg0 == CLONE_NEWUSR").unwrap_err();
        assert_eq!((e.code, e.range.clone()), ("unknown-constant", 8..20));
        assert_eq!(e.help.as_deref(), Some("did you mean `CLONE_NEWUSER`?"));
        let e = parse("arg6 == 1").unwrap_err();
        assert_eq!((e.code, e.range), ("arg-index-out-of-range", 0..4));
        let e = parse("u32(arg1) == 0x100000000").unwrap_err();
        assert_eq!((e.code, e.range), ("constant-out-of-range", 13..24));
        let e = parse("arg0 == 0x1_0000_0000_0000_0000").unwrap_err();
        assert_eq!(e.code, "constant-out-of-range");
        let e = parse("arg0 == (1").unwrap_err();
        assert_eq!((e.code, e.range), ("invalid-expression", 10..10));
        let e = parse("arg0 | 1 == 1").unwrap_err();
        assert_eq!(e.code, "invalid-expression");
        let e = parse("arg0").unwrap_err();
        assert_eq!(e.message, "expected a condition, found a value");
        assert!(parse("1 == 1").is_err());
        assert!(parse("arg0 == 1 )").is_err());
        assert!(parse("arg0 in []").is_err());
        assert!(parse("arg0 == 1 $").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let s = format!("{}arg0 == 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&s).is_err());
    }
}
