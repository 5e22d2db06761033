//! The shell's dot commands (`.help`, `.schemas`, `.stop q1` ...).
use std::path::PathBuf;

use crate::render::RowFormat;

pub struct CommandInfo {
    pub name: &'static str,
    pub usage: &'static str,
    pub help: &'static str,
}

pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "help",
        usage: "",
        help: "this list",
    },
    CommandInfo {
        name: "schemas",
        usage: "",
        help: "event types and their fields",
    },
    CommandInfo {
        name: "sample",
        usage: "N [Type]",
        help: "the last N raw events (of Type)",
    },
    CommandInfo {
        name: "stop",
        usage: "NAME|all",
        help: "stop a running query or rule",
    },
    CommandInfo {
        name: "rules",
        usage: "",
        help: "running statements with row counts",
    },
    CommandInfo {
        name: "queries",
        usage: "",
        help: "same as .rules",
    },
    CommandInfo {
        name: "explain",
        usage: "<statement>",
        help: "the operator plan, not started",
    },
    CommandInfo {
        name: "load",
        usage: "FILE.epl",
        help: "run the statements of a file as rules",
    },
    CommandInfo {
        name: "format",
        usage: "table|json",
        help: "how query rows print",
    },
    CommandInfo {
        name: "time",
        usage: "",
        help: "the watermark (engine time) and its lag",
    },
    CommandInfo {
        name: "quit",
        usage: "",
        help: "leave (Ctrl-D too)",
    },
];

#[derive(Debug, Clone, PartialEq)]
pub enum DotCommand {
    Help,
    Schemas,
    Sample {
        count: usize,
        event_type: Option<String>,
    },
    Stop(String),
    Statements,
    Explain(String),
    Load(PathBuf),
    Format(RowFormat),
    Time,
    Quit,
}

/// Parses a line starting with `.`; the error says what to type instead.
pub fn parse_command(line: &str) -> Result<DotCommand, String> {
    let line = line.trim().trim_start_matches('.');
    let (name, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(n, r)| (n, r.trim()));
    let usage = |c: &str| {
        let info = COMMANDS.iter().find(|i| i.name == c);
        format!("usage: .{c} {}", info.map_or("", |i| i.usage))
    };
    Ok(match name {
        "help" | "h" | "?" => DotCommand::Help,
        "schemas" => DotCommand::Schemas,
        "rules" | "queries" => DotCommand::Statements,
        "time" => DotCommand::Time,
        "quit" | "exit" | "q" => DotCommand::Quit,
        "stop" if !rest.is_empty() => DotCommand::Stop(rest.to_string()),
        "explain" if !rest.is_empty() => DotCommand::Explain(rest.to_string()),
        "load" if !rest.is_empty() => DotCommand::Load(PathBuf::from(rest)),
        "format" => match rest {
            "table" => DotCommand::Format(RowFormat::Table),
            "json" => DotCommand::Format(RowFormat::Json),
            _ => return Err(usage("format")),
        },
        "sample" => {
            let mut args = rest.split_whitespace();
            let count = match args.next().map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => n,
                _ => return Err(usage("sample")),
            };
            let event_type = args.next().map(str::to_string);
            DotCommand::Sample { count, event_type }
        }
        "stop" | "explain" | "load" => return Err(usage(name)),
        other => {
            return Err(format!(
                "unknown command `.{other}`; .help lists the commands"
            ));
        }
    })
}

/// The `.help` text.
pub fn help_text() -> String {
    let mut out = String::from(
        "Type EPL statements ending with `;` (they may span lines):\n  \
         create schema T(a string, b long);   declares an event type\n  \
         select ... from T ...;               a live query: rows print as they arrive\n  \
         insert into S select ...;            a rule feeding stream S; keeps running\n\
         Ctrl-C stops the running queries, Ctrl-D or .quit leaves. Tab completes names.\n\n",
    );
    for c in COMMANDS {
        let head = format!(".{} {}", c.name, c.usage);
        out.push_str(&format!("  {head:<22} {}\n", c.help));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(
            parse_command(".stop all"),
            Ok(DotCommand::Stop("all".into()))
        );
        assert_eq!(
            parse_command(".sample 3 Trade"),
            Ok(DotCommand::Sample {
                count: 3,
                event_type: Some("Trade".into())
            })
        );
        assert_eq!(
            parse_command(".explain select * from T;"),
            Ok(DotCommand::Explain("select * from T;".into()))
        );
        assert_eq!(
            parse_command(".format json"),
            Ok(DotCommand::Format(RowFormat::Json))
        );
        assert_eq!(parse_command(".queries"), Ok(DotCommand::Statements));
    }

    #[test]
    fn mistakes_say_what_to_type() {
        assert_eq!(
            parse_command(".sample x"),
            Err("usage: .sample N [Type]".into())
        );
        assert_eq!(parse_command(".stop"), Err("usage: .stop NAME|all".into()));
        assert!(parse_command(".frobnicate").is_err_and(|e| e.contains(".help")));
    }
}
