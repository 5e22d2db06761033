//! Dead letters: inputs that did not become events and alerts a sink gave up on. Each
//! record names its reason, its source position and carries the raw input; each reason
//! has a counter. A dead letter that cannot be written is printed on stderr and counted.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::jsonl::DeadLetterReason;
use crate::sink::kafka::KafkaWriter;

/// Raw input kept in a dead letter, at most (the length of the rest is recorded).
pub const MAX_RAW_BYTES: usize = 64 * 1024;

/// Why something became a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The decoder's reasons, and `late`.
    Input(DeadLetterReason),
    InvalidUtf8,
    TooLarge,
    /// A sink gave up on an alert (after its retries).
    SinkGaveUp,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Input(r) => r.as_str(),
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::TooLarge => "too_large",
            Reason::SinkGaveUp => "sink_gave_up",
        }
    }
}

/// One dead letter.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    pub reason: Reason,
    /// Where it came from: a source position, or `{"sink": ..., "alert_id": ...}`.
    pub position: serde_json::Value,
    pub error: &'a str,
    pub raw: &'a [u8],
}

impl DeadLetter<'_> {
    pub fn to_json(&self) -> serde_json::Value {
        let kept = &self.raw[..self.raw.len().min(MAX_RAW_BYTES)];
        let mut v = serde_json::json!({
            "dead_letter": self.reason.as_str(),
            "position": self.position,
            "error": self.error,
            "raw": String::from_utf8_lossy(kept),
        });
        if kept.len() < self.raw.len() {
            v["raw_bytes"] = self.raw.len().into();
            v["raw_truncated"] = true.into();
        }
        v
    }
}

/// Where dead letters go: `--dead-letter stderr|file:PATH|kafka:TOPIC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterTarget {
    Stderr,
    File(PathBuf),
    Kafka(String),
}

impl std::str::FromStr for DeadLetterTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "stderr" {
            Ok(DeadLetterTarget::Stderr)
        } else if let Some(p) = s.strip_prefix("file:") {
            Ok(DeadLetterTarget::File(p.into()))
        } else if let Some(t) = s.strip_prefix("kafka:") {
            Ok(DeadLetterTarget::Kafka(t.into()))
        } else {
            Err(format!(
                "`{s}` is not a dead-letter target; use stderr, file:PATH or kafka:TOPIC"
            ))
        }
    }
}

enum Writer {
    Stderr,
    File(BufWriter<File>),
    /// The producer and the lines queued for it (printed on stderr if refused).
    Kafka(KafkaWriter, Vec<String>),
}

/// The dead-letter sink with its counters.
pub struct DeadLetters {
    writer: Writer,
    counts: BTreeMap<&'static str, u64>,
    /// Dead letters the sink could not take (printed on stderr instead).
    pub write_failures: u64,
}

impl DeadLetters {
    /// `kafka_brokers` is needed for a Kafka target.
    pub fn open(
        target: &DeadLetterTarget,
        kafka_brokers: Option<&str>,
        options: &[(String, String)],
    ) -> Result<Self, String> {
        let writer = match target {
            DeadLetterTarget::Stderr => Writer::Stderr,
            DeadLetterTarget::File(p) => Writer::File(BufWriter::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        format!("cannot open the dead-letter file {}: {e}", p.display())
                    })?,
            )),
            DeadLetterTarget::Kafka(topic) => {
                let brokers = kafka_brokers
                    .ok_or_else(|| format!("--dead-letter kafka:{topic} needs --kafka BROKERS"))?;
                let w = KafkaWriter::new(brokers, topic, options).map_err(|e| {
                    format!("cannot create the dead-letter producer for {brokers}: {e}")
                })?;
                Writer::Kafka(w, Vec::new())
            }
        };
        Ok(DeadLetters {
            writer,
            counts: BTreeMap::new(),
            write_failures: 0,
        })
    }

    /// Writes (buffered until [`DeadLetters::flush`]) and counts one dead letter.
    pub fn write(&mut self, letter: &DeadLetter<'_>) {
        *self.counts.entry(letter.reason.as_str()).or_default() += 1;
        let line = letter.to_json().to_string();
        let ok = match &mut self.writer {
            Writer::Stderr => {
                eprintln!("{line}");
                true
            }
            Writer::File(f) => writeln!(f, "{line}").is_ok(),
            Writer::Kafka(k, lines) => {
                k.enqueue(None, line.as_bytes());
                lines.push(line);
                return;
            }
        };
        if !ok {
            self.write_failures += 1;
            eprintln!("{line}");
        }
    }

    /// Makes every dead letter written so far durable (file flushed, Kafka acknowledged).
    pub fn flush(&mut self) {
        match &mut self.writer {
            Writer::Stderr => {}
            Writer::File(f) => {
                if let Err(e) = f.flush() {
                    self.write_failures += 1;
                    eprintln!("error: dead letters may be lost writing the file: {e}");
                }
            }
            Writer::Kafka(k, lines) => {
                for (i, why) in k.flush() {
                    self.write_failures += 1;
                    let line = lines.get(i).map_or("", String::as_str);
                    eprintln!("error: dead letter not accepted by Kafka ({why}): {line}");
                }
                lines.clear();
            }
        }
    }

    pub fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}
