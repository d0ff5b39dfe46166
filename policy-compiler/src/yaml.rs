//! A YAML 1.2 document as a tree of nodes that keep their byte spans.
//!
//! Built on `saphyr-parser`'s event stream (the maintained successor of
//! yaml-rust) rather than a serde deserializer, so that the decoder can report
//! every problem in one pass, each at the exact node, instead of stopping at the
//! first. Duplicate keys are found here; aliases are expanded with a budget so a
//! "billion laughs" document cannot exhaust memory.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::diagnostic::Diagnostic;
use crate::source::{Location, SourceFile};

/// Node budget for one document, aliases expanded (profiles are small).
const MAX_NODES: usize = 200_000;
/// Nesting depth limit (keeps recursion in the decoder bounded).
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar and whether it was quoted (quoted scalars are always strings).
    Scalar {
        value: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// Byte range in the source.
    pub span: Range<usize>,
}

impl Node {
    /// The scalar's text if this is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// True for `~`, `null`, or an empty plain scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, quoted: false }
            if value.is_empty() || value == "~" || value == "null" || value == "Null" || value == "NULL")
    }

    /// What kind of YAML value this is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Scalar { .. } if self.is_null() => "null",
            NodeKind::Scalar { quoted: true, .. } => "a string",
            NodeKind::Scalar { value, .. } => {
                if value == "true" || value == "false" {
                    "a boolean"
                } else if parse_int(value).is_some() {
                    "a number"
                } else {
                    "a string"
                }
            }
        }
    }
}

/// Parses a YAML integer: decimal, `0x` hex, `0o` octal, `0b` binary, `_` separators.
pub fn parse_int(s: &str) -> Option<u64> {
    let t = s.trim().replace('_', "");
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = t.strip_prefix("0o") {
        (o, 8)
    } else if let Some(b) = t.strip_prefix("0b") {
        (b, 2)
    } else {
        (t.as_str(), 10)
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// A parsed document: its root node (None for an empty document) and the file.
#[derive(Debug)]
pub struct Document {
    pub file: Arc<SourceFile>,
    pub root: Option<Node>,
}

impl Document {
    pub fn loc(&self, span: &Range<usize>) -> Location {
        Location::new(&self.file, span.clone())
    }
}

struct Builder<'a> {
    file: &'a Arc<SourceFile>,
    /// Byte offset of every character index (saphyr markers count characters).
    char_to_byte: Vec<usize>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    diags: Vec<Diagnostic>,
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

impl Builder<'_> {
    fn byte(&self, char_index: usize) -> usize {
        self.char_to_byte
            .get(char_index)
            .copied()
            .unwrap_or(self.file.text.len())
    }

    fn range(&self, span: &Span) -> Range<usize> {
        self.byte(span.start.index())..self.byte(span.end.index())
    }

    fn err(&mut self, code: &'static str, msg: impl Into<String>, range: Range<usize>) {
        self.diags.push(Diagnostic::error(
            code,
            msg,
            Location::new(self.file, range),
        ));
    }
}

/// Parses `file` into a node tree. Syntax errors, duplicate keys, multiple
/// documents and oversized documents become diagnostics; no input panics.
pub fn parse(file: &Arc<SourceFile>) -> (Document, Vec<Diagnostic>) {
    let mut char_to_byte: Vec<usize> = file.text.char_indices().map(|(i, _)| i).collect();
    char_to_byte.push(file.text.len());
    let mut b = Builder {
        file,
        char_to_byte,
        anchors: HashMap::new(),
        nodes: 0,
        diags: Vec::new(),
    };
    let mut parser = Parser::new_from_str(&file.text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let mut failed = false;

    while let Some(ev) = parser.next_event() {
        let (event, span) = match ev {
            Ok(e) => e,
            Err(e) => {
                let at = b.byte(e.marker().index());
                b.err("yaml-syntax", format!("invalid YAML: {}", e.info()), at..at);
                failed = true;
                break;
            }
        };
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {
                continue;
            }
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    let r = b.range(&span);
                    b.err(
                        "multiple-documents",
                        "a profile file holds exactly one YAML document",
                        r,
                    );
                    failed = true;
                    break;
                }
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    let r = b.range(&span);
                    b.err(
                        "yaml-too-deep",
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        r,
                    );
                    failed = true;
                    break;
                }
                let start = b.byte(span.start.index());
                stack.push(Frame::Seq {
                    start,
                    anchor,
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    let r = b.range(&span);
                    b.err(
                        "yaml-too-deep",
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        r,
                    );
                    failed = true;
                    break;
                }
                let start = b.byte(span.start.index());
                stack.push(Frame::Map {
                    start,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    start,
                    anchor,
                    items,
                }) => {
                    let end = b
                        .byte(span.end.index())
                        .max(items.last().map_or(start, |n| n.span.end));
                    let n = Node {
                        kind: NodeKind::Seq(items),
                        span: start..end,
                    };
                    if anchor != 0 {
                        b.anchors.insert(anchor, n.clone());
                    }
                    n
                }
                _ => {
                    failed = true;
                    break;
                }
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    start,
                    anchor,
                    entries,
                    ..
                }) => {
                    let end = b
                        .byte(span.end.index())
                        .max(entries.last().map_or(start, |(_, v)| v.span.end));
                    let n = Node {
                        kind: NodeKind::Map(entries),
                        span: start..end,
                    };
                    if anchor != 0 {
                        b.anchors.insert(anchor, n.clone());
                    }
                    n
                }
                _ => {
                    failed = true;
                    break;
                }
            },
            Event::Scalar(value, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let n = Node {
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        quoted,
                    },
                    span: b.range(&span),
                };
                if anchor != 0 {
                    b.anchors.insert(anchor, n.clone());
                }
                n
            }
            Event::Alias(id) => {
                let r = b.range(&span);
                match b.anchors.get(&id) {
                    Some(target) => {
                        let size = count_nodes(target);
                        b.nodes += size;
                        if b.nodes > MAX_NODES {
                            b.err(
                                "yaml-too-large",
                                format!("the document expands to more than {MAX_NODES} nodes (alias expansion)"),
                                r,
                            );
                            failed = true;
                            break;
                        }
                        // The copy points at the alias so errors inside it are found.
                        let mut n = target.clone();
                        n.span = r;
                        n
                    }
                    None => {
                        b.err("yaml-syntax", "alias to an unknown anchor", r);
                        failed = true;
                        break;
                    }
                }
            }
        };
        b.nodes += 1;
        if b.nodes > MAX_NODES {
            let r = node.span.clone();
            b.err(
                "yaml-too-large",
                format!("the document has more than {MAX_NODES} nodes"),
                r,
            );
            failed = true;
            break;
        }
        // Attach the finished node to its parent.
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => {
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => {
                        if let Some(prev) = entries.iter().find(|(pk, _)| same_key(pk, &k)) {
                            let what = k.as_scalar().unwrap_or("key").to_string();
                            let d = Diagnostic::error(
                            "duplicate-key",
                            format!("duplicate key `{what}`"),
                            Location::new(file, k.span.clone()),
                        )
                        .with_label("defined again here")
                        .with_secondary(Location::new(file, prev.0.span.clone()), "first defined here")
                        .with_help("remove one of the two definitions; YAML mappings cannot repeat a key");
                            b.diags.push(d);
                        } else {
                            entries.push((k, node));
                        }
                    }
                }
            }
        }
    }
    if failed {
        root = None;
    }
    (
        Document {
            file: Arc::clone(file),
            root,
        },
        b.diags,
    )
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar { value: x, .. }, NodeKind::Scalar { value: y, .. }) => x == y,
        _ => false,
    }
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (Document, Vec<Diagnostic>) {
        parse(&SourceFile::new("t.yaml", text))
    }

    #[test]
    fn spans_point_at_nodes() {
        let (doc, diags) = p("a: 1\nbé: [x, \"y\"]\n");
        assert!(diags.is_empty());
        let NodeKind::Map(entries) = &doc.root.unwrap().kind else {
            panic!()
        };
        let (k, v) = &entries[1];
        assert_eq!(&doc.file.text[k.span.clone()], "bé");
        let NodeKind::Seq(items) = &v.kind else {
            panic!()
        };
        assert_eq!(&doc.file.text[items[0].span.clone()], "x");
        assert!(matches!(
            items[1].kind,
            NodeKind::Scalar { quoted: true, .. }
        ));
    }

    #[test]
    fn duplicate_keys_are_errors_with_both_places() {
        let (_, diags) = p("a: 1\nb: 2\na: 3\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "duplicate-key");
        assert_eq!(diags[0].position().1, 3);
        assert_eq!(diags[0].secondary[0].0.line(), 1);
    }

    #[test]
    fn syntax_errors_and_multiple_documents() {
        let (doc, diags) = p("a: [1, 2\n");
        assert!(doc.root.is_none());
        assert_eq!(diags[0].code, "yaml-syntax");
        let (_, diags) = p("a: 1\n---\nb: 2\n");
        assert_eq!(diags[0].code, "multiple-documents");
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            s.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let (doc, diags) = p(&s);
        assert!(doc.root.is_none());
        assert_eq!(diags[0].code, "yaml-too-large");
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("0x20008"), Some(0x20008));
        assert_eq!(parse_int("1_000"), Some(1000));
        assert_eq!(parse_int("-1"), None);
        assert_eq!(parse_int("18446744073709551616"), None);
    }
}
