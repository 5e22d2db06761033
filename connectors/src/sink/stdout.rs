//! Alerts on stdout: JSON lines, or a table for people.
use std::io::Write;

use super::{AlertSink, Rejected, SinkClosed};
use crate::alert::Alert;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StdoutFormat {
    Json,
    Table,
}

pub struct StdoutSink {
    format: StdoutFormat,
    header_done: bool,
}

impl StdoutSink {
    pub fn new(format: StdoutFormat) -> Self {
        StdoutSink {
            format,
            header_done: false,
        }
    }
}

impl AlertSink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }

    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let closed = |e: std::io::Error| SinkClosed {
            sink: "stdout".into(),
            reason: e.to_string(),
        };
        for a in alerts {
            match self.format {
                StdoutFormat::Json => writeln!(out, "{}", a.to_json()).map_err(closed)?,
                StdoutFormat::Table => {
                    if !self.header_done {
                        writeln!(out, "{:<15} {:<24} {:<6} row", "time", "rule", "stream")
                            .map_err(closed)?;
                        self.header_done = true;
                    }
                    let row: Vec<String> = a.row.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    writeln!(
                        out,
                        "{:<15} {:<24} {:<6} {}",
                        a.time,
                        a.rule,
                        a.stream,
                        row.join(" ")
                    )
                    .map_err(closed)?;
                }
            }
        }
        out.flush().map_err(closed)?;
        Ok(Vec::new())
    }
}
