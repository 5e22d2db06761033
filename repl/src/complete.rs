//! Tab completion: keywords, window names, event type names, field names,
//! statement names and the shell's dot commands.
use cepheus_parser::{RESERVED, ViewKind};

use crate::catalog::Catalog;
use crate::commands::COMMANDS;

/// Aggregate and scalar functions the binder knows.
const FUNCTIONS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stddev", "first", "last", "abs", "coalesce", "lower",
    "upper",
];

/// Words used by the grammar that are not reserved.
const CONTEXT_WORDS: &[&str] = &["events", "every", "snapshot", "all", "starttimestamp"];

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Where the word being completed starts in `line` (cursor at `pos`), and its candidates.
pub fn complete(line: &str, pos: usize, catalog: &Catalog) -> (usize, Vec<String>) {
    let pos = pos.min(line.len());
    let before = line.get(..pos).unwrap_or("");
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word_char(*c))
        .last()
        .map_or(pos, |(i, _)| i);
    let prefix = &before[start..];
    let prev = before[..start].chars().next_back();
    let trimmed = before.trim_start();

    // A dot command: `.exp<TAB>`, then its arguments.
    if let Some(rest) = trimmed.strip_prefix('.') {
        if !rest.contains(char::is_whitespace) {
            let names = COMMANDS.iter().map(|c| c.name);
            return (start, matching(prefix, names));
        }
        let command = rest.split_whitespace().next().unwrap_or("");
        match command {
            "sample" | "schemas" => {
                let names = catalog.types.iter().map(|t| t.name.as_str());
                return (start, matching(prefix, names));
            }
            "stop" => {
                let names = catalog.statements.iter().map(String::as_str).chain(["all"]);
                return (start, matching(prefix, names));
            }
            "explain" => {}
            _ => return (start, Vec::new()),
        }
    }

    match prev {
        Some('#') => {
            let names = ViewKind::ALL.iter().map(|k| k.name());
            (start, matching(prefix, names))
        }
        // `alias.field` or `Type.field`: only fields.
        Some('.') => (start, matching(prefix, fields(line, catalog).into_iter())),
        _ if prefix.is_empty() => (start, Vec::new()),
        _ => {
            let upper = prefix.chars().all(|c| !c.is_lowercase());
            let words = RESERVED.iter().chain(FUNCTIONS).chain(CONTEXT_WORDS);
            let all: Vec<String> = fields(line, catalog)
                .into_iter()
                .chain(catalog.types.iter().map(|t| t.name.as_str()))
                .map(str::to_string)
                .chain(words.map(|w| {
                    if upper {
                        w.to_uppercase()
                    } else {
                        w.to_string()
                    }
                }))
                .collect();
            (start, matching(prefix, all.iter().map(String::as_str)))
        }
    }
}

/// Fields of the types the line mentions, or of every type when it mentions none.
fn fields<'a>(line: &str, catalog: &'a Catalog) -> Vec<&'a str> {
    let words: Vec<&str> = line.split(|c: char| !is_word_char(c)).collect();
    let mentioned = catalog
        .types
        .iter()
        .any(|t| words.contains(&t.name.as_str()));
    let words: Vec<String> = words.into_iter().map(str::to_string).collect();
    catalog
        .types
        .iter()
        .filter(move |t| !mentioned || words.contains(&t.name))
        .flat_map(|t| t.fields.iter().map(|(f, _)| f.as_str()))
        .collect()
}

/// Candidates starting with `prefix` (case-sensitive first, else ignoring case), deduplicated.
fn matching<'a>(prefix: &str, names: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
    let mut out = Vec::new();
    for n in names.clone().filter(|n| n.starts_with(prefix)) {
        push_unique(&mut out, n.to_string());
    }
    if out.is_empty() {
        let lower = prefix.to_lowercase();
        for n in names.filter(|n| n.to_lowercase().starts_with(&lower)) {
            push_unique(&mut out, n.to_string());
        }
    }
    out
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TypeInfo;

    fn catalog() -> Catalog {
        Catalog {
            types: vec![
                TypeInfo {
                    name: "TemperatureEvent".into(),
                    fields: vec![
                        ("sensor".into(), "string"),
                        ("temperature".into(), "double"),
                    ],
                },
                TypeInfo {
                    name: "Trade".into(),
                    fields: vec![("token".into(), "string"), ("side".into(), "string")],
                },
            ],
            statements: vec!["q1".into(), "hot".into()],
        }
    }

    fn words(line: &str) -> (usize, Vec<String>) {
        complete(line, line.len(), &catalog())
    }

    #[test]
    fn fields_of_the_mentioned_type_come_first() {
        let (start, got) = words("select te");
        assert_eq!(start, 7);
        assert_eq!(got, ["temperature"]);
        assert_eq!(
            words("select t").1,
            ["temperature", "token", "true", "then"]
        );
        let (_, got) = words("select t from Trade where t");
        assert_eq!(got, ["token", "true", "then"]);
        let (_, got) = words("select avg(TemperatureEvent.te");
        assert_eq!(got, ["temperature"]);
    }

    #[test]
    fn keywords_types_and_windows() {
        assert_eq!(words("sel").1, ["select"]);
        assert_eq!(words("SEL").1, ["SELECT"]);
        assert_eq!(words("select * from Tra").1, ["Trade"]);
        assert_eq!(
            words("select * from Trade#le").1,
            ["length", "length_batch"]
        );
        assert!(
            words("select ").1.is_empty(),
            "no flood of candidates on an empty word"
        );
    }

    #[test]
    fn dot_commands_and_their_arguments() {
        assert_eq!(words(".ex").1, ["explain"]);
        assert_eq!(words(".s").1, ["schemas", "sample", "stop"]);
        assert_eq!(words(".stop h").1, ["hot"]);
        assert_eq!(words(".sample 5 Tr").1, ["Trade"]);
        assert_eq!(words(".explain select * from Trade where si").1, ["side"]);
        let (start, _) = words(".stop h");
        assert_eq!(start, 6);
    }
}
