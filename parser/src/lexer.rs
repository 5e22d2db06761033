//! Token-level parsers: whitespace and comments, keywords, identifiers,
//! punctuation, numbers and strings. Every token parser skips the whitespace
//! *before* it, so after a node is parsed the remaining input starts right after
//! its last token and spans never include trailing blanks.

use std::cell::Cell;

use nom::{
    IResult, Parser as _,
    bytes::complete::{tag, take_until, take_while},
    character::complete::{char, digit1, one_of, satisfy},
    combinator::{opt, recognize},
    sequence::{pair, preceded},
};

use crate::ast::{Ident, Span, TimeUnit};
use crate::error::{PErr, ParseErrorKind};

pub(crate) type PResult<'a, T> = IResult<&'a str, T, PErr>;

/// Maximum nesting of parentheses, operators and pattern operators.
pub const MAX_DEPTH: usize = 128;

/// Words that are never identifiers unless backquoted.
pub const RESERVED: &[&str] = &[
    "select", "from", "where", "group", "by", "having", "output", "order", "limit", "offset",
    "insert", "into", "as", "and", "or", "not", "in", "between", "like", "regexp", "is", "null",
    "true", "false", "case", "when", "then", "else", "end", "distinct", "istream", "rstream",
    "irstream", "every", "pattern", "create", "schema", "asc", "desc", "escape",
];

pub fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// True when `name` can be printed without backquotes and read back as the same name.
pub fn is_plain_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if is_ident_start(c))
        && chars.all(is_ident_char)
        && !is_reserved(name)
}

/// A time unit word (`sec`, `minutes`, `msec`...).
pub fn time_unit(word: &str) -> Option<TimeUnit> {
    let w = word.to_ascii_lowercase();
    Some(match w.as_str() {
        "msec" | "ms" | "millisecond" | "milliseconds" => TimeUnit::Millisecond,
        "sec" | "second" | "seconds" => TimeUnit::Second,
        "min" | "minute" | "minutes" => TimeUnit::Minute,
        "hour" | "hours" => TimeUnit::Hour,
        "day" | "days" => TimeUnit::Day,
        _ => return None,
    })
}

/// A numeric literal before its sign is applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RawNumber {
    /// An integer literal's magnitude; `u64` so that `-9223372036854775808` fits.
    Integer(u64),
    Decimal(f64),
}

/// The parser state shared by all grammar functions: the whole source (to turn
/// remaining input into offsets) and the current nesting depth.
pub(crate) struct Parser<'a> {
    pub src: &'a str,
    pub depth: Cell<usize>,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            depth: Cell::new(0),
        }
    }

    /// Byte offset of the remaining input `rest`.
    pub fn pos(&self, rest: &str) -> usize {
        self.src.len().saturating_sub(rest.len())
    }

    /// The span from the start of `from` (already past whitespace) to the start of `to`.
    pub fn span(&self, from: &str, to: &str) -> Span {
        Span::new(self.pos(from), self.pos(to))
    }

    /// Enter one nesting level; fails with a depth-limit error past [`MAX_DEPTH`].
    pub fn enter(&self, i: &'a str) -> Result<(), nom::Err<PErr>> {
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH {
            return Err(self.depth_error(i));
        }
        self.depth.set(d);
        Ok(())
    }

    pub fn depth_error(&self, i: &'a str) -> nom::Err<PErr> {
        nom::Err::Failure(PErr::custom(
            i,
            1,
            ParseErrorKind::DepthLimit,
            format!("nested too deeply (the limit is {MAX_DEPTH} levels)"),
            Some("split the expression or remove redundant parentheses".to_string()),
        ))
    }

    /// Skip whitespace and comments (`-- ...`, `// ...`, `/* ... */`).
    pub fn ws(&self, mut i: &'a str) -> PResult<'a, ()> {
        loop {
            i = i.trim_start();
            if i.starts_with("--") || i.starts_with("//") {
                let (rest, _) = take_while(|c| c != '\n').parse(i)?;
                i = rest;
            } else if let Some(body) = i.strip_prefix("/*") {
                let found: PResult<'a, &'a str> = take_until("*/").parse(body);
                match found {
                    Ok((rest, _)) => i = rest.get(2..).unwrap_or(""),
                    Err(_) => {
                        return Err(nom::Err::Failure(PErr::custom(
                            i,
                            2,
                            ParseErrorKind::UnterminatedComment,
                            "unterminated comment",
                            Some("close the comment with `*/`".to_string()),
                        )));
                    }
                }
            } else {
                return Ok((i, ()));
            }
        }
    }

    /// Remaining input after whitespace; whitespace errors become `i` unchanged
    /// (the next real token parser reports them).
    pub fn skip(&self, i: &'a str) -> &'a str {
        self.ws(i).map_or(i, |(r, _)| r)
    }

    /// The next bare word (letters, digits, `_`, `$`), without consuming it.
    pub fn peek_word(&self, i: &'a str) -> Option<&'a str> {
        let i = self.skip(i);
        let first = i.chars().next()?;
        if !is_ident_start(first) {
            return None;
        }
        let end = i.find(|c: char| !is_ident_char(c)).unwrap_or(i.len());
        i.get(..end)
    }

    /// A bare word and the input after it.
    pub fn word(&self, i: &'a str) -> PResult<'a, (&'a str, Span)> {
        let (i, ()) = self.ws(i)?;
        let start = i;
        let res: PResult<'a, &'a str> =
            recognize(pair(satisfy(is_ident_start), take_while(is_ident_char))).parse(i);
        match res {
            Ok((rest, w)) => Ok((rest, (w, self.span(start, rest)))),
            Err(_) => Err(nom::Err::Error(PErr::expected(i, "identifier"))),
        }
    }

    /// Is the next token the keyword `kw` (case-insensitive, whole word)?
    pub fn peek_kw(&self, i: &'a str, kw: &str) -> bool {
        self.peek_word(i)
            .is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }

    /// Consume keyword `kw` if it is next; never records an expectation.
    pub fn eat_kw(&self, i: &'a str, kw: &str) -> Option<(&'a str, Span)> {
        let start = self.skip(i);
        let w = self.peek_word(start)?;
        if w.eq_ignore_ascii_case(kw) {
            let rest = start.get(w.len()..)?;
            Some((rest, self.span(start, rest)))
        } else {
            None
        }
    }

    /// Require keyword `kw`.
    pub fn kw(&self, i: &'a str, kw: &str) -> PResult<'a, Span> {
        let (i, ()) = self.ws(i)?;
        match self.eat_kw(i, kw) {
            Some((rest, span)) => Ok((rest, span)),
            None => Err(nom::Err::Error(PErr::expected(i, format!("`{kw}`")))),
        }
    }

    pub fn peek_punct(&self, i: &'a str, p: &str) -> bool {
        self.skip(i).starts_with(p)
    }

    /// Consume punctuation `p` if it is next; never records an expectation.
    pub fn eat_punct(&self, i: &'a str, p: &str) -> Option<(&'a str, Span)> {
        let start = self.skip(i);
        let rest = start.strip_prefix(p)?;
        Some((rest, self.span(start, rest)))
    }

    /// Require punctuation `p`.
    pub fn punct(&self, i: &'a str, p: &'static str) -> PResult<'a, Span> {
        let (i, ()) = self.ws(i)?;
        let res: PResult<'a, &'a str> = tag(p).parse(i);
        match res {
            Ok((rest, _)) => Ok((rest, self.span(i, rest))),
            Err(_) => Err(nom::Err::Error(PErr::expected(i, format!("`{p}`")))),
        }
    }

    /// Require the closing bracket `close` of the `open` bracket that starts at
    /// `open_at`; the error says which bracket is unclosed.
    pub fn close(
        &self,
        i: &'a str,
        close: &'static str,
        open: &str,
        open_at: Span,
    ) -> PResult<'a, Span> {
        match self.punct(i, close) {
            Ok(ok) => Ok(ok),
            Err(nom::Err::Error(mut e)) | Err(nom::Err::Failure(mut e)) if e.custom.is_none() => {
                let at = self.skip(i);
                let (line, col) = crate::error::line_col(self.src, open_at.start);
                let next = self.peek_word(at).unwrap_or("");
                let runaway = at.is_empty()
                    || at.starts_with(';')
                    || (close != "]" && at.starts_with(']'))
                    || (close != ")" && at.starts_with(')'))
                    || [
                        "from", "where", "group", "having", "output", "order", "limit", "select",
                        "insert", "create",
                    ]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(next));
                if runaway {
                    e.custom = Some(crate::error::Custom {
                        kind: if at.is_empty() {
                            ParseErrorKind::UnexpectedEof
                        } else {
                            ParseErrorKind::UnexpectedToken
                        },
                        message: String::new(),
                        help: Some(format!(
                            "this `{open}` (line {line}, column {col}) is not closed"
                        )),
                        len: 0,
                    });
                }
                Err(nom::Err::Failure(e))
            }
            Err(e) => Err(e),
        }
    }

    /// An identifier: a bare word that is not reserved, or a backquoted name.
    pub fn ident(&self, i: &'a str) -> PResult<'a, Ident> {
        let (i, ()) = self.ws(i)?;
        if let Some(body) = i.strip_prefix('`') {
            let Some(end) = body.find('`') else {
                return Err(nom::Err::Failure(PErr::custom(
                    i,
                    i.len(),
                    ParseErrorKind::UnexpectedEof,
                    "unterminated quoted identifier",
                    Some("close the name with a backquote (`)".to_string()),
                )));
            };
            let name = body.get(..end).unwrap_or("");
            let rest = body.get(end + 1..).unwrap_or("");
            if name.is_empty() || name.contains('\n') {
                return Err(nom::Err::Failure(PErr::custom(
                    i,
                    end + 2,
                    ParseErrorKind::UnexpectedToken,
                    "a quoted identifier must be non-empty and on one line",
                    None,
                )));
            }
            return Ok((
                rest,
                Ident {
                    value: name.to_string(),
                    quoted: true,
                    span: self.span(i, rest),
                },
            ));
        }
        match self.word(i) {
            Ok((rest, (w, span))) if !is_reserved(w) => Ok((
                rest,
                Ident {
                    value: w.to_string(),
                    quoted: false,
                    span,
                },
            )),
            Ok((_, (w, _))) => Err(nom::Err::Error(PErr::new(
                i.len(),
                vec!["identifier".to_string()],
                Some(crate::error::Custom {
                    kind: ParseErrorKind::UnexpectedToken,
                    message: format!("expected identifier, found keyword `{w}`"),
                    help: Some(format!(
                        "`{w}` is a keyword; write `` `{w}` `` to use it as a name"
                    )),
                    len: w.len(),
                }),
            ))),
            Err(_) => Err(nom::Err::Error(PErr::expected(i, "identifier"))),
        }
    }

    /// True when the next token is a number.
    pub fn peek_number(&self, i: &'a str) -> bool {
        self.skip(i).starts_with(|c: char| c.is_ascii_digit())
    }

    /// An unsigned numeric literal: `10`, `10.5`, `1e3`, `1.5E-2`, `10L`.
    pub fn number(&self, i: &'a str) -> PResult<'a, (RawNumber, Span)> {
        let (i, ()) = self.ws(i)?;
        let digits: PResult<'a, &'a str> = recognize((
            digit1,
            opt(preceded(char('.'), digit1)),
            opt((one_of("eE"), opt(one_of("+-")), digit1)),
        ))
        .parse(i);
        let Ok((mut rest, text)) = digits else {
            return Err(nom::Err::Error(PErr::expected(i, "number")));
        };
        let is_decimal = text.contains(['.', 'e', 'E']);
        if !is_decimal
            && let Some(r) = rest.strip_prefix(['l', 'L'])
            && !r.starts_with(is_ident_char)
        {
            rest = r;
        }
        let span = self.span(i, rest);
        let bad = |msg: &str| {
            nom::Err::Failure(PErr::custom(
                i,
                text.len(),
                ParseErrorKind::InvalidNumber,
                msg.to_string(),
                None,
            ))
        };
        if is_decimal {
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok((rest, (RawNumber::Decimal(v), span))),
                _ => Err(bad("decimal literal out of range")),
            }
        } else {
            match text.parse::<u64>() {
                Ok(v) => Ok((rest, (RawNumber::Integer(v), span))),
                Err(_) => Err(bad("integer literal out of range")),
            }
        }
    }

    /// A string literal in `'...'` or `"..."`: backslash escapes and doubled quotes.
    pub fn string(&self, i: &'a str) -> PResult<'a, (String, Span)> {
        let (i, ()) = self.ws(i)?;
        let Some(quote) = i.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            return Err(nom::Err::Error(PErr::expected(i, "string")));
        };
        let mut out = String::new();
        let mut chars = i.char_indices().skip(1).peekable();
        while let Some((at, c)) = chars.next() {
            if c == quote {
                if chars.peek().is_some_and(|(_, n)| *n == quote) {
                    chars.next();
                    out.push(quote);
                    continue;
                }
                let rest = i.get(at + 1..).unwrap_or("");
                return Ok((rest, (out, self.span(i, rest))));
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, e)) => out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        other => other,
                    }),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err(nom::Err::Failure(PErr::custom(
            i,
            i.len(),
            ParseErrorKind::UnterminatedString,
            "unterminated string literal",
            Some(format!("close the string with {quote}")),
        )))
    }

    /// A short description of the next token for "found ..." messages, and its length.
    pub fn describe(&self, i: &'a str) -> (String, usize) {
        let i = self.skip(i);
        let Some(c) = i.chars().next() else {
            return ("end of input".to_string(), 0);
        };
        if let Some(w) = self.peek_word(i) {
            return (format!("`{}`", truncate(w)), w.len());
        }
        if c.is_ascii_digit() {
            let len = i
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .unwrap_or(i.len());
            return (format!("`{}`", truncate(i.get(..len).unwrap_or(""))), len);
        }
        if c == '\'' || c == '"' {
            return ("a string".to_string(), c.len_utf8());
        }
        for p in ["->", "<=", ">=", "<>", "!=", "||"] {
            if i.starts_with(p) {
                return (format!("`{p}`"), p.len());
            }
        }
        (format!("`{c}`"), c.len_utf8())
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 24 {
        let mut t: String = s.chars().take(24).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let p = Parser::new("");
        assert_eq!(
            p.number("42 x").map(|(_, (n, _))| n),
            Ok(RawNumber::Integer(42))
        );
        assert_eq!(
            p.number("1.5E-2").map(|(_, (n, _))| n),
            Ok(RawNumber::Decimal(0.015))
        );
        assert_eq!(
            p.number("10L;").map(|(r, (n, _))| (r, n)),
            Ok((";", RawNumber::Integer(10)))
        );
        assert!(matches!(
            p.number("99999999999999999999"),
            Err(nom::Err::Failure(_))
        ));
        assert!(matches!(p.number("1e999"), Err(nom::Err::Failure(_))));
    }

    #[test]
    fn strings() {
        let p = Parser::new("");
        let s = |t| p.string(t).map(|(_, (s, _))| s);
        assert_eq!(s(r"'a\'b'"), Ok("a'b".to_string()));
        assert_eq!(s("'it''s'"), Ok("it's".to_string()));
        assert_eq!(s(r#""say \"hi\"\n""#), Ok("say \"hi\"\n".to_string()));
        assert!(matches!(p.string("'abc"), Err(nom::Err::Failure(_))));
        assert!(matches!(p.string("'abc\\"), Err(nom::Err::Failure(_))));
    }

    #[test]
    fn comments() {
        let p = Parser::new("");
        assert_eq!(p.ws("  -- c\n // d\n /* e */ x").map(|(r, _)| r), Ok("x"));
        assert!(matches!(p.ws("/* open"), Err(nom::Err::Failure(_))));
    }
}
