//! Source files and byte spans. Spans are byte ranges; lines and columns are
//! computed only when a diagnostic is rendered.

use std::ops::Range;
use std::sync::Arc;

/// One input file, shared by every span that points into it.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The name shown to users (a path, or `<builtin>/default.yaml`).
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(SourceFile {
            name: name.into(),
            text,
            line_starts,
        })
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        (line + 1, col + 1)
    }

    /// The byte offset where 1-based `line` starts.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len())
    }
}

/// A place in a source file: the file and a byte range inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<SourceFile>,
    pub range: Range<usize>,
}

impl Location {
    pub fn new(file: &Arc<SourceFile>, range: Range<usize>) -> Self {
        let len = file.text.len();
        let start = range.start.min(len);
        let end = range.end.clamp(start, len);
        Location {
            file: Arc::clone(file),
            range: start..end,
        }
    }

    /// `file:line` for humans (disassembly comments, `explain`).
    pub fn file_line(&self) -> String {
        format!("{}:{}", self.file.name, self.line())
    }

    pub fn line(&self) -> usize {
        self.file.line_col(self.range.start).0
    }

    /// The location of `range` inside the scalar `value` this location spans,
    /// when the source maps to the value one to one (plain or simply quoted
    /// scalars); the whole scalar otherwise.
    pub fn inner(&self, value: &str, range: Range<usize>) -> Location {
        let src = &self.file.text[self.range.clone()];
        let base = if src == value {
            Some(self.range.start)
        } else if src.len() == value.len() + 2 && &src[1..src.len() - 1] == value {
            Some(self.range.start + 1)
        } else {
            None
        };
        match base {
            Some(b) if range.end <= value.len() => {
                Location::new(&self.file, b + range.start..b + range.end)
            }
            _ => self.clone(),
        }
    }
}

/// A value and where it was written.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub value: T,
    pub loc: Location,
}

impl<T> Spanned<T> {
    pub fn new(value: T, loc: Location) -> Self {
        Spanned { value, loc }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_and_counts_chars() {
        let f = SourceFile::new("f", "ab\ncé d\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(6), (2, 3)); // after the two-byte 'é'
        assert_eq!(f.line_col(100), (3, 1));
    }
}
