//! Parse errors: the public [`ParseError`] (plain message, span, expected set,
//! help) and the internal nom error type that keeps the furthest failure.

use miette::{Diagnostic, NamedSource, SourceSpan};

use crate::ast::Span;

/// What went wrong, so callers can react without matching on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// The input ended where more was required: a REPL should read another line.
    UnexpectedEof,
    /// A token that cannot appear here.
    UnexpectedToken,
    /// A string literal without its closing quote (also "not finished yet").
    UnterminatedString,
    /// A `/* ...` comment without `*/` (also "not finished yet").
    UnterminatedComment,
    /// A number that does not fit (`99999999999999999999`) or is malformed.
    InvalidNumber,
    /// A window name that is not one of [`crate::ViewKind::ALL`].
    UnknownView,
    /// A `create schema` field type that is not supported.
    UnknownType,
    /// Something that must be a time period (`timer:within(...)`) is not one.
    InvalidTimePeriod,
    /// Parentheses, operators or pattern operators nested deeper than [`crate::MAX_DEPTH`].
    DepthLimit,
}

impl ParseErrorKind {
    /// A stable identifier, e.g. `epl::unexpected_eof`, for JSON diagnostics.
    pub fn code(self) -> &'static str {
        match self {
            ParseErrorKind::UnexpectedEof => "epl::unexpected_eof",
            ParseErrorKind::UnexpectedToken => "epl::unexpected_token",
            ParseErrorKind::UnterminatedString => "epl::unterminated_string",
            ParseErrorKind::UnterminatedComment => "epl::unterminated_comment",
            ParseErrorKind::InvalidNumber => "epl::invalid_number",
            ParseErrorKind::UnknownView => "epl::unknown_view",
            ParseErrorKind::UnknownType => "epl::unknown_type",
            ParseErrorKind::InvalidTimePeriod => "epl::invalid_time_period",
            ParseErrorKind::DepthLimit => "epl::depth_limit",
        }
    }
}

/// A syntax error anchored at a byte span of the parsed text.
///
/// `message` is plain (`` expected `)`, found `from` ``); render it with a file
/// name, line, column and caret through [`ParseError::with_source`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct ParseError {
    #[label("{}", self.label())]
    pub span: Span,
    pub kind: ParseErrorKind,
    pub message: String,
    /// What the parser would have accepted at `span`, e.g. `` ["`)`", "`,`"] ``.
    pub expected: Vec<String>,
    #[help]
    pub help: Option<String>,
}

impl From<Span> for SourceSpan {
    fn from(span: Span) -> SourceSpan {
        SourceSpan::from(span.start..span.end.max(span.start))
    }
}

impl ParseError {
    fn label(&self) -> String {
        match self.expected.as_slice() {
            [] => "here".to_string(),
            list => format!("expected {}", join_expected(list)),
        }
    }

    /// True when the text is a prefix of something valid: the input ended inside
    /// a statement, a string or a comment. A REPL keeps reading lines then.
    pub fn is_incomplete(&self) -> bool {
        matches!(
            self.kind,
            ParseErrorKind::UnexpectedEof
                | ParseErrorKind::UnterminatedString
                | ParseErrorKind::UnterminatedComment
        )
    }

    /// 1-based line and column of the error's start in `src`.
    pub fn line_col(&self, src: &str) -> (usize, usize) {
        line_col(src, self.span.start)
    }

    /// A report that prints `file:line:col`, the source line, a caret and the help.
    pub fn with_source(self, file_name: &str, src: &str) -> miette::Report {
        miette::Report::new(self).with_source_code(NamedSource::new(file_name, src.to_string()))
    }

    /// The same as [`ParseError::with_source`] as a concrete type.
    pub fn into_source_diagnostic(self, file_name: &str, src: &str) -> SourceDiagnostic {
        SourceDiagnostic {
            error: self,
            src: NamedSource::new(file_name, src.to_string()),
        }
    }
}

/// A [`ParseError`] together with the named source text it points into.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{error}")]
pub struct SourceDiagnostic {
    #[diagnostic_source]
    #[source]
    pub error: ParseError,
    #[source_code]
    pub src: NamedSource<String>,
}

/// 1-based `(line, column)` of byte `offset` in `src`; the column counts
/// characters. An offset past the end or inside a character is clamped.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while offset > 0 && !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = src.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

pub(crate) fn join_expected(list: &[String]) -> String {
    match list {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("one of {} or {}", init.join(", "), last),
    }
}

/// The nom error type. Positions are kept as the *remaining* input length, so
/// the furthest failure is the one with the smallest `rem`; the parser turns
/// it into a byte offset at the end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PErr(Box<PErrData>);

impl std::ops::Deref for PErr {
    type Target = PErrData;
    fn deref(&self) -> &PErrData {
        &self.0
    }
}

impl std::ops::DerefMut for PErr {
    fn deref_mut(&mut self) -> &mut PErrData {
        &mut self.0
    }
}

/// Boxed inside [`PErr`] so that results stay small: the recursive descent keeps
/// many of them on the stack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PErrData {
    pub rem: usize,
    pub expected: Vec<String>,
    /// `Some` for errors with their own wording (unterminated string, unknown view...).
    pub custom: Option<Custom>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Custom {
    pub kind: ParseErrorKind,
    pub message: String,
    pub help: Option<String>,
    /// Length of the offending text from the error position.
    pub len: usize,
}

impl PErr {
    pub fn new(rem: usize, expected: Vec<String>, custom: Option<Custom>) -> PErr {
        PErr(Box::new(PErrData {
            rem,
            expected,
            custom,
        }))
    }

    pub fn expected(rem: &str, what: impl Into<String>) -> PErr {
        PErr::new(rem.len(), vec![what.into()], None)
    }

    pub fn custom(
        rem: &str,
        len: usize,
        kind: ParseErrorKind,
        message: impl Into<String>,
        help: Option<String>,
    ) -> PErr {
        PErr::new(
            rem.len(),
            Vec::new(),
            Some(Custom {
                kind,
                message: message.into(),
                help,
                len,
            }),
        )
    }

    /// Keep the furthest failure; at the same position merge what was expected.
    pub fn merge(self, other: PErr) -> PErr {
        use std::cmp::Ordering;
        match self.rem.cmp(&other.rem) {
            Ordering::Less => self,
            Ordering::Greater => other,
            Ordering::Equal => {
                if self.custom.is_some() {
                    return self;
                }
                if other.custom.is_some() {
                    return other;
                }
                let mut merged = self;
                for e in other.0.expected {
                    if !merged.expected.contains(&e) {
                        merged.expected.push(e);
                    }
                }
                merged
            }
        }
    }
}

impl<'a> nom::error::ParseError<&'a str> for PErr {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        PErr::new(input.len(), Vec::new(), None)
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        self.merge(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        let src = "ab\ncdé\nfg";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, 7), (2, 4));
        // Inside the two-byte `é`: clamped to its start.
        assert_eq!(line_col(src, 6), (2, 3));
        assert_eq!(line_col(src, 999), (3, 3));
    }
}
