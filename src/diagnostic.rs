//! Rule diagnostics as the user sees them: `file:line:col`, the source line
//! with a caret, and help; or one JSON object per diagnostic for editors.
use miette::{Diagnostic, NamedSource, SourceSpan};

use cepheus_parser::{ParseError, Span, line_col};

/// One problem in one rule file.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct RuleDiagnostic {
    pub message: String,
    #[label("{label}")]
    pub span: SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
    #[source_code]
    pub src: NamedSource<String>,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub kind: &'static str,
}

impl RuleDiagnostic {
    fn new(
        file: &str,
        src: &str,
        span: Span,
        message: String,
        label: String,
        help: Option<String>,
        kind: &'static str,
    ) -> Self {
        let (line, column) = line_col(src, span.start);
        RuleDiagnostic {
            message,
            span: SourceSpan::from(span.start..span.end.max(span.start)),
            label,
            help,
            src: NamedSource::new(file, src.to_string()),
            file: file.to_string(),
            line,
            column,
            kind,
        }
    }

    pub fn parse(file: &str, src: &str, e: ParseError) -> Self {
        let label = if e.expected.is_empty() {
            "here".to_string()
        } else {
            format!("expected {}", e.expected.join(" or "))
        };
        let kind = e.kind.code();
        RuleDiagnostic::new(file, src, e.span, e.message, label, e.help, kind)
    }

    pub fn bind(file: &str, src: &str, e: cepheus_engine::BindError) -> Self {
        RuleDiagnostic::new(
            file,
            src,
            e.span,
            e.message,
            "here".into(),
            e.help,
            "epl::semantic",
        )
    }

    /// `file:line:col: message` followed by the caret report.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}:{}:{}: error: {}\n",
            self.file, self.line, self.column, self.message
        );
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
        let mut report = String::new();
        if handler.render_report(&mut report, self).is_ok() {
            out.push_str(&report);
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.kind,
            "message": self.message,
            "help": self.help,
        })
    }
}
