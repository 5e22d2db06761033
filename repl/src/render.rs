//! What the shell prints: rows as an aligned table or JSON lines, and errors
//! with a caret under the offending part of the text just typed.
use cepheus_engine::plan::StatementPlan;
use cepheus_engine::{Delivery, Output, Value};
use cepheus_parser::{Span, line_col};

/// How live query rows are printed (`.format table|json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    Table,
    Json,
}

/// One value as a table cell: strings without quotes, floats with at most 4 decimals.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Str(s) => s.to_string(),
        Value::Float(f) if f.is_finite() => {
            let s = format!("{f:.4}");
            let s = s.trim_end_matches('0');
            s.strip_suffix('.').unwrap_or(s).to_string()
        }
        other => other.to_json().to_string(),
    }
}

/// One JSON object per row: `{"query", "stream": "insert"|"remove", "time", "row"}`.
pub fn json_lines(plan: &StatementPlan, d: &Delivery) -> Vec<String> {
    let mut lines = Vec::new();
    for (stream, rows) in [("insert", &d.output.insert), ("remove", &d.output.remove)] {
        for values in rows {
            let row = plan.row_json(values);
            let line = serde_json::json!({"query": plan.name, "stream": stream, "time": d.time.0, "row": row});
            lines.push(line.to_string());
        }
    }
    lines
}

/// The cells of a delivery's rows, led by `+`/`-` when the statement shows both streams.
pub fn table_cells(output: &Output, with_stream_column: bool) -> Vec<Vec<String>> {
    let mut cells = Vec::new();
    for (stream, rows) in [("+", &output.insert), ("-", &output.remove)] {
        for values in rows {
            let mut row: Vec<String> = Vec::new();
            if with_stream_column {
                row.push(stream.into());
            }
            row.extend(values.iter().map(cell));
            cells.push(row);
        }
    }
    cells
}

/// An aligned table printed piece by piece as rows arrive: the header is printed
/// with the first rows, and again whenever a wider value forces wider columns.
#[derive(Debug, Clone)]
pub struct StreamingTable {
    columns: Vec<String>,
    widths: Vec<usize>,
    header_shown: bool,
}

impl StreamingTable {
    pub fn new(columns: Vec<String>) -> StreamingTable {
        let widths = columns.iter().map(|c| c.chars().count()).collect();
        StreamingTable {
            columns,
            widths,
            header_shown: false,
        }
    }

    /// Forces the header before the next rows (another query printed in between).
    pub fn reset_header(&mut self) {
        self.header_shown = false;
    }

    /// The lines for `rows` (each a list of cells), header first when needed.
    pub fn lines(&mut self, rows: &[Vec<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for row in rows {
            for (w, c) in self.widths.iter_mut().zip(row) {
                let n = c.chars().count();
                if n > *w {
                    *w = n;
                    self.header_shown = false;
                }
            }
        }
        if !self.header_shown {
            out.push(self.row_line(&self.columns));
            let rule: Vec<String> = self.widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push(rule.join("-+-"));
            self.header_shown = true;
        }
        for row in rows {
            out.push(self.row_line(row));
        }
        out
    }

    fn row_line(&self, cells: &[String]) -> String {
        let parts: Vec<String> = self
            .widths
            .iter()
            .zip(cells)
            .map(|(w, c)| format!("{c:<w$}"))
            .collect();
        parts.join(" | ").trim_end().to_string()
    }
}

/// `error: message`, the offending line of `src`, a caret under `span`, and help.
pub fn caret_error(src: &str, span: Span, message: &str, help: Option<&str>) -> String {
    let start = span.start.min(src.len());
    let (line_no, col) = line_col(src, start);
    let line = src.lines().nth(line_no - 1).unwrap_or("");
    let end = span.end.max(start);
    let (end_line, end_col) = line_col(src, end);
    let width = if end_line == line_no {
        end_col.saturating_sub(col).max(1)
    } else {
        line.chars().count().saturating_sub(col - 1).max(1)
    };
    let mut out = format!(
        "error: {message}\n  {line}\n  {}{}",
        " ".repeat(col - 1),
        "^".repeat(width)
    );
    if let Some(h) = help {
        out.push_str(&format!("\n  help: {h}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_repeats_the_header_when_it_widens() {
        let mut t = StreamingTable::new(vec!["wallet".into(), "n".into()]);
        let first = t.lines(&[vec!["0xab".into(), "1".into()]]);
        assert_eq!(first, ["wallet | n", "-------+--", "0xab   | 1"]);
        let same = t.lines(&[vec!["0xcd".into(), "2".into()]]);
        assert_eq!(same, ["0xcd   | 2"]);
        let wider = t.lines(&[vec!["0x12345678".into(), "3".into()]]);
        assert_eq!(wider[0], "wallet     | n");
        assert_eq!(wider[2], "0x12345678 | 3");
    }

    #[test]
    fn cells_print_floats_short_and_strings_bare() {
        assert_eq!(cell(&Value::Float(2.5)), "2.5");
        assert_eq!(cell(&Value::Float(1.0 / 3.0)), "0.3333");
        assert_eq!(cell(&Value::Float(4.0)), "4");
        assert_eq!(cell(&Value::str("a b")), "a b");
        assert_eq!(cell(&Value::Int(-3)), "-3");
        assert_eq!(cell(&Value::Null), "null");
    }

    #[test]
    fn caret_points_at_the_span_on_its_own_line() {
        let src = "select a\nfrm T;";
        let out = caret_error(
            src,
            Span::new(9, 12),
            "expected `from`",
            Some("did you mean `from`?"),
        );
        assert_eq!(
            out,
            "error: expected `from`\n  frm T;\n  ^^^\n  help: did you mean `from`?"
        );
        let eof = caret_error("select", Span::new(6, 6), "unexpected end", None);
        assert!(eof.ends_with("  select\n        ^"), "{eof}");
    }
}
