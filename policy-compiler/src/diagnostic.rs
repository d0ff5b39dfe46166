//! One diagnostic model for every finding, syntactic or semantic, and the
//! renderers over it: text (annotate-snippets), JSON, SARIF 2.1.0, GitHub.

use std::fmt::Write as _;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use serde_json::{Value, json};

use crate::source::Location;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A finding with a stable kebab-case code and the exact location of the node
/// it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub primary: Location,
    /// Shown under the caret.
    pub label: Option<String>,
    /// Other places that explain this one ("previous definition here").
    pub secondary: Vec<(Location, String)>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(
        code: &'static str,
        severity: Severity,
        message: impl Into<String>,
        at: Location,
    ) -> Self {
        Diagnostic {
            code,
            severity,
            message: message.into(),
            primary: at,
            label: None,
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn error(code: &'static str, message: impl Into<String>, at: Location) -> Self {
        Self::new(code, Severity::Error, message, at)
    }

    pub fn warning(code: &'static str, message: impl Into<String>, at: Location) -> Self {
        Self::new(code, Severity::Warning, message, at)
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_secondary(mut self, at: Location, label: impl Into<String>) -> Self {
        self.secondary.push((at, label.into()));
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` of the primary span (1-based).
    pub fn position(&self) -> (String, usize, usize) {
        let (l, c) = self.primary.file.line_col(self.primary.range.start);
        (self.primary.file.name.clone(), l, c)
    }

    fn end_position(&self) -> (usize, usize) {
        self.primary.file.line_col(self.primary.range.end)
    }
}

/// Sorts by file, position, then code, so output is deterministic.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (&a.primary.file.name, a.primary.range.start, a.code).cmp(&(
            &b.primary.file.name,
            b.primary.range.start,
            b.code,
        ))
    });
}

fn level(s: Severity) -> Level<'static> {
    match s {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Note => Level::NOTE,
    }
}

/// `file:line:col: severity[code]: message`, then the source line with a caret.
pub fn render_text(d: &Diagnostic) -> String {
    let (file, line, col) = d.position();
    let mut out = format!(
        "{file}:{line}:{col}: {}[{}]: {}\n",
        d.severity.as_str(),
        d.code,
        d.message
    );
    let text = &d.primary.file.text;
    let mut range = d.primary.range.clone();
    if range.is_empty() && range.end < text.len() {
        // Point at one character so the caret is visible.
        let next = text[range.start..]
            .chars()
            .next()
            .map_or(1, |c| c.len_utf8());
        range.end = range.start + next;
    }
    let mut snippet = Snippet::source(text.as_str())
        .path(file.as_str())
        .line_start(1)
        .fold(true)
        .annotation(
            AnnotationKind::Primary
                .span(range)
                .label(d.label.as_deref().unwrap_or("")),
        );
    for (loc, label) in &d.secondary {
        if loc.file.name == d.primary.file.name {
            snippet = snippet.annotation(
                AnnotationKind::Context
                    .span(loc.range.clone())
                    .label(label.as_str()),
            );
        }
    }
    let mut group = vec![
        level(d.severity)
            .primary_title(d.message.as_str())
            .id(d.code)
            .element(snippet),
    ];
    let _ = &mut group;
    let rendered = Renderer::plain().render(&group);
    // annotate-snippets repeats the title; our own first line carries it.
    for l in rendered.lines().skip(1) {
        out.push_str(l);
        out.push('\n');
    }
    for (loc, label) in &d.secondary {
        if loc.file.name != d.primary.file.name {
            let (l, c) = loc.file.line_col(loc.range.start);
            let _ = writeln!(out, "  = note: {label}: {}:{l}:{c}", loc.file.name);
        }
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "  = help: {help}");
    }
    out
}

fn location_json(loc: &Location) -> Value {
    let (l, c) = loc.file.line_col(loc.range.start);
    let (el, ec) = loc.file.line_col(loc.range.end);
    json!({"file": loc.file.name, "line": l, "column": c, "endLine": el, "endColumn": ec,
           "byteStart": loc.range.start, "byteEnd": loc.range.end})
}

/// One JSON object per diagnostic.
pub fn to_json(d: &Diagnostic) -> Value {
    json!({
        "code": d.code,
        "severity": d.severity.as_str(),
        "message": d.message,
        "location": location_json(&d.primary),
        "label": d.label,
        "related": d.secondary.iter().map(|(l, m)| json!({"message": m, "location": location_json(l)})).collect::<Vec<_>>(),
        "help": d.help,
    })
}

/// A SARIF 2.1.0 log with one run. `rules` lists every code rampart can emit
/// with its one-line reason, so viewers can show it.
pub fn to_sarif(diags: &[Diagnostic], rules: &[(&str, &str)]) -> Value {
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let (sl, sc) = d.primary.file.line_col(d.primary.range.start);
            let (el, ec) = d.end_position();
            let mut message = d.message.clone();
            if let Some(h) = &d.help {
                message.push_str(" (help: ");
                message.push_str(h);
                message.push(')');
            }
            json!({
                "ruleId": d.code,
                "ruleIndex": rules.iter().position(|r| r.0 == d.code),
                "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning", Severity::Note => "note" },
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": d.primary.file.name},
                        "region": {"startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec.max(if el == sl { sc + 1 } else { 1 })}
                    }
                }],
                "relatedLocations": d.secondary.iter().enumerate().map(|(i, (loc, m))| {
                    let (l, c) = loc.file.line_col(loc.range.start);
                    json!({"id": i, "message": {"text": m}, "physicalLocation": {
                        "artifactLocation": {"uri": loc.file.name},
                        "region": {"startLine": l, "startColumn": c}}})
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rampart",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|(id, why)| json!({"id": id, "shortDescription": {"text": why}})).collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}

fn gh_escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// A GitHub Actions workflow command.
pub fn render_github(d: &Diagnostic) -> String {
    let (file, line, col) = d.position();
    let (el, ec) = d.end_position();
    let cmd = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "notice",
    };
    format!(
        "::{cmd} file={},line={line},col={col},endLine={el},endColumn={ec},title={}::{}",
        gh_escape(&file, true),
        gh_escape(d.code, true),
        gh_escape(&d.message, false)
    )
}
