//! EPL (Esper's Event Processing Language) text to a syntax tree with spans.
//!
//! No I/O, never panics: every input yields a [`Script`] or a [`ParseError`].
//!
//! ```
//! let script = cepheus_parser::parse_script(
//!     "@name('big') select symbol, sum(price) as total from Trade#time(5 min) group by symbol;",
//! )
//! .unwrap();
//! assert_eq!(script.statements.len(), 1);
//! // Display prints EPL that parses back to the same tree.
//! assert_eq!(cepheus_parser::parse_script(&script.to_string()).unwrap(), script);
//! ```
//!
//! Code map: `lexer` (whitespace, comments, tokens), `expr` (Pratt loop),
//! `pattern` (pattern operators), `statement` (scripts, clauses, windows),
//! `display` (printing EPL back), `error` (diagnostics).
pub mod ast;
mod display;
mod error;
mod expr;
mod lexer;
mod pattern;
mod statement;

pub use ast::*;
pub use error::{ParseError, ParseErrorKind, SourceDiagnostic, line_col};
pub use lexer::{MAX_DEPTH, RESERVED, is_reserved};

use error::{PErr, join_expected};
use lexer::Parser;

/// Parse a whole `.epl` file: statements separated by `;` (the last one optional).
/// Empty input (or only comments) is an empty script.
pub fn parse_script(src: &str) -> Result<Script, ParseError> {
    let p = Parser::new(src);
    match p.script(src) {
        Ok((_, script)) => Ok(script),
        Err(e) => Err(p.finish(e)),
    }
}

/// Parse a single statement; a trailing `;` is allowed.
pub fn parse_statement(src: &str) -> Result<Statement, ParseError> {
    let mut script = parse_script(src)?;
    match script.statements.len() {
        1 => Ok(script.statements.remove(0)),
        n => {
            let p = Parser::new(src);
            let at = if n == 0 { p.skip(src).len() } else { 0 };
            let start = src.len().saturating_sub(at);
            Err(ParseError {
                span: Span::new(start, src.len()),
                kind: if n == 0 {
                    ParseErrorKind::UnexpectedEof
                } else {
                    ParseErrorKind::UnexpectedToken
                },
                message: format!("expected one statement, found {n}"),
                expected: vec!["`select`".into(), "`insert`".into(), "`create`".into()],
                help: None,
            })
        }
    }
}

/// Parse a single expression (the whole input).
pub fn parse_expression(src: &str) -> Result<Expr, ParseError> {
    let p = Parser::new(src);
    let res = p.expr(src).and_then(|(rest, e)| {
        let (rest, ()) = p.ws(rest)?;
        if rest.is_empty() {
            Ok(e)
        } else {
            Err(nom::Err::Error(PErr::expected(rest, "end of expression")))
        }
    });
    res.map_err(|e| p.finish(e))
}

/// Parse a pattern expression, the text between `pattern [` and `]`.
pub fn parse_pattern(src: &str) -> Result<PatternExpr, ParseError> {
    let p = Parser::new(src);
    let res = p.pattern(src).and_then(|(rest, e)| {
        let (rest, ()) = p.ws(rest)?;
        if rest.is_empty() {
            Ok(e)
        } else {
            Err(nom::Err::Error(PErr::expected(rest, "end of pattern")))
        }
    });
    res.map_err(|e| p.finish(e))
}

impl Parser<'_> {
    /// Turn the internal error into the public one: offsets, "found ...", help.
    fn finish(&self, e: nom::Err<PErr>) -> ParseError {
        let e = match e {
            nom::Err::Error(e) | nom::Err::Failure(e) => e,
            nom::Err::Incomplete(_) => PErr::new(0, Vec::new(), None),
        };
        let offset = self.src.len().saturating_sub(e.rem);
        let rest = self.src.get(offset..).unwrap_or("");
        let at = self.skip(rest);
        let start = self.pos(at);
        let (found, found_len) = self.describe(at);
        let at_end = at.is_empty();
        let generic = || match e.expected.as_slice() {
            [] if at_end => "unexpected end of input".to_string(),
            [] => format!("unexpected {found}"),
            list => format!("expected {}, found {found}", join_expected(list)),
        };
        let (kind, message, help, len) = match &e.custom {
            Some(c) => {
                let message = if c.message.is_empty() {
                    generic()
                } else {
                    c.message.clone()
                };
                let kind = if at_end && c.kind == ParseErrorKind::UnexpectedToken {
                    ParseErrorKind::UnexpectedEof
                } else {
                    c.kind
                };
                let len = if c.len == 0 { found_len } else { c.len };
                (kind, message, c.help.clone(), len)
            }
            None => {
                let kind = if at_end {
                    ParseErrorKind::UnexpectedEof
                } else {
                    ParseErrorKind::UnexpectedToken
                };
                (kind, generic(), None, found_len)
            }
        };
        // Custom errors point at their own position (a string's opening quote), not past blanks.
        let start = if e.custom.is_some() && !rest.starts_with(char::is_whitespace) {
            offset
        } else {
            start
        };
        let mut end = (start + len).min(self.src.len());
        while !self.src.is_char_boundary(end) {
            end += 1;
        }
        ParseError {
            span: Span::new(start, end),
            kind,
            message,
            expected: e.expected.clone(),
            help,
        }
    }
}
