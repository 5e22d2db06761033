//! The line editor's helper: a validator that reads on until a statement ends
//! with `;`, keyword highlighting, hints and completion.
use std::borrow::Cow;

use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::catalog::{Catalog, SharedCatalog};
use crate::commands::COMMANDS;

/// Whether the text typed so far is ready to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputState {
    /// Run it (a dot command, a statement ending with `;`, or a syntax error to show).
    Complete,
    /// Read another line: the parser hit the end of input, or the `;` is missing.
    Incomplete,
}

pub fn input_state(input: &str) -> InputState {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.starts_with('.') {
        return InputState::Complete;
    }
    match cepheus_parser::parse_script(input) {
        Err(e) if e.is_incomplete() => InputState::Incomplete,
        // A real error: submit the text so the error is shown where it is.
        Err(_) => InputState::Complete,
        Ok(script) if script.statements.is_empty() => InputState::Complete,
        Ok(_) if last_significant_char(input) == Some(';') => InputState::Complete,
        Ok(_) => InputState::Incomplete,
    }
}

/// The last character that is not whitespace or inside a comment (the text parsed,
/// so strings and comments are closed).
fn last_significant_char(src: &str) -> Option<char> {
    let mut last = None;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                last = Some(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for d in chars.by_ref() {
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
            }
            c if c.is_whitespace() => {}
            c => last = Some(c),
        }
    }
    last
}

pub struct EplHelper {
    catalog: SharedCatalog,
    history: HistoryHinter,
    color: bool,
}

impl EplHelper {
    pub fn new(catalog: SharedCatalog, color: bool) -> EplHelper {
        EplHelper {
            catalog,
            history: HistoryHinter::new(),
            color,
        }
    }
}

impl Helper for EplHelper {}

impl Validator for EplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(match input_state(ctx.input()) {
            InputState::Complete => ValidationResult::Valid(None),
            InputState::Incomplete => ValidationResult::Incomplete,
        })
    }
}

impl Completer for EplHelper {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let catalog: Catalog = Catalog::snapshot(&self.catalog);
        Ok(crate::complete::complete(line, pos, &catalog))
    }
}

impl Hinter for EplHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        command_hint(line, pos).or_else(|| self.history.hint(line, pos, ctx))
    }
}

/// The rest of a dot command and its usage, once the prefix names one command.
fn command_hint(line: &str, pos: usize) -> Option<String> {
    let word = line.strip_prefix('.')?;
    if pos != line.len() || word.is_empty() || word.contains(' ') {
        return None;
    }
    let mut found = COMMANDS.iter().filter(|c| c.name.starts_with(word));
    let only = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let rest = &only.name[word.len()..];
    Some(if only.usage.is_empty() {
        rest.to_string()
    } else {
        format!("{rest} {}", only.usage)
    })
}

impl Highlighter for EplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color || line.starts_with('.') {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight_keywords(line))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

/// Keywords in bold blue, string literals in green.
pub fn highlight_keywords(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' || c == '"' {
            let mut end = line.len();
            for (j, d) in chars.by_ref() {
                if d == c {
                    end = j + d.len_utf8();
                    break;
                }
            }
            out.push_str(&format!("\x1b[32m{}\x1b[0m", &line[i..end]));
        } else if c.is_alphabetic() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &line[i..end];
            if cepheus_parser::is_reserved(word) {
                out.push_str(&format!("\x1b[1;34m{word}\x1b[0m"));
            } else {
                out.push_str(word);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_on_until_the_statement_ends_with_a_semicolon() {
        use InputState::*;
        assert_eq!(
            input_state("select count(*)"),
            Incomplete,
            "parser: end of input"
        );
        assert_eq!(
            input_state("select count(*) from T"),
            Incomplete,
            "complete but no `;`"
        );
        assert_eq!(
            input_state("select count(*) from T\n group by k;"),
            Complete
        );
        assert_eq!(
            input_state("select * from T where s = 'a;"),
            Incomplete,
            "open string"
        );
        assert_eq!(input_state("select * from T; -- done"), Complete);
        assert_eq!(input_state("select * from T /* ; */"), Incomplete);
        assert_eq!(input_state("create schema T(a long);"), Complete);
    }

    #[test]
    fn errors_commands_and_blank_lines_are_submitted_at_once() {
        use InputState::*;
        assert_eq!(
            input_state("select from where"),
            Complete,
            "shown with a caret"
        );
        assert_eq!(input_state(".schemas"), Complete);
        assert_eq!(input_state("   "), Complete);
        assert_eq!(input_state("-- only a comment"), Complete);
    }

    #[test]
    fn command_hints_finish_a_unique_prefix() {
        assert_eq!(command_hint(".exp", 4), Some("lain <statement>".into()));
        assert_eq!(command_hint(".s", 2), None, "schemas, sample, stop");
        assert_eq!(command_hint(".schem", 6), Some("as".into()));
        assert_eq!(command_hint("select", 6), None);
    }

    #[test]
    fn highlighting_keeps_the_text() {
        let h = highlight_keywords("select a from T where s = 'from'");
        assert!(h.starts_with("\x1b[1;34mselect\x1b[0m a "), "{h}");
        assert!(h.contains("\x1b[32m'from'\x1b[0m"), "{h}");
        let plain: String = h
            .replace("\x1b[1;34m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[0m", "");
        assert_eq!(plain, "select a from T where s = 'from'");
    }
}
