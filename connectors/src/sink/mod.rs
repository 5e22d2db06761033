//! Alert sinks. A sink takes a batch of alerts and returns only when each has been
//! acknowledged or given up on; given-up alerts go to the dead-letter sink.
use std::path::PathBuf;
use std::time::Duration;

use crate::alert::Alert;

pub mod file;
pub mod kafka;
pub mod stdout;
pub mod webhook;

/// An alert a sink gave up on: its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub error: String,
}

/// The sink's output is gone for good (stdout closed): the run ends.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sink {sink} is closed: {reason}")]
pub struct SinkClosed {
    pub sink: String,
    pub reason: String,
}

pub trait AlertSink: Send {
    /// A name for logs and dead letters: `stdout`, `file:PATH`, `webhook:URL`, `kafka:TOPIC`.
    fn name(&self) -> &str;
    /// Delivers `alerts`; on return every alert not listed as rejected is acknowledged.
    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed>;
}

/// `--sink stdout|file:PATH|webhook:URL|kafka:TOPIC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    Stdout,
    File(PathBuf),
    Webhook(String),
    Kafka(String),
}

impl std::str::FromStr for SinkTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "stdout" {
            Ok(SinkTarget::Stdout)
        } else if let Some(p) = s.strip_prefix("file:") {
            Ok(SinkTarget::File(p.into()))
        } else if let Some(url) = s.strip_prefix("webhook:") {
            Ok(SinkTarget::Webhook(url.to_string()))
        } else if let Some(t) = s.strip_prefix("kafka:") {
            Ok(SinkTarget::Kafka(t.into()))
        } else {
            Err(format!(
                "`{s}` is not a sink; use stdout, file:PATH, webhook:URL or kafka:TOPIC"
            ))
        }
    }
}

/// Settings shared by the sinks, from the command line or the daemon's config.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub stdout_format: stdout::StdoutFormat,
    /// Rotate a file sink once it reaches this many bytes.
    pub file_rotate_bytes: Option<u64>,
    pub webhook: webhook::WebhookOptions,
    pub kafka_brokers: Option<String>,
    pub kafka_options: Vec<(String, String)>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            stdout_format: stdout::StdoutFormat::Json,
            file_rotate_bytes: None,
            webhook: webhook::WebhookOptions::default(),
            kafka_brokers: None,
            kafka_options: Vec::new(),
        }
    }
}

/// Opens the sink `target` names.
pub fn open(target: &SinkTarget, opts: &SinkOptions) -> Result<Box<dyn AlertSink>, String> {
    Ok(match target {
        SinkTarget::Stdout => Box::new(stdout::StdoutSink::new(opts.stdout_format)),
        SinkTarget::File(p) => Box::new(
            file::FileSink::open(p.clone(), opts.file_rotate_bytes)
                .map_err(|e| format!("cannot open the sink file {}: {e}", p.display()))?,
        ),
        SinkTarget::Webhook(url) => Box::new(webhook::WebhookSink::new(url, &opts.webhook)?),
        SinkTarget::Kafka(topic) => {
            let brokers = opts
                .kafka_brokers
                .as_deref()
                .ok_or_else(|| format!("--sink kafka:{topic} needs --kafka BROKERS"))?;
            Box::new(kafka::KafkaSink::new(brokers, topic, &opts.kafka_options)?)
        }
    })
}

/// Full-jitter exponential backoff: a random wait in [0, min(max, base * 2^attempt)].
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let cap = base
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(max);
    let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::random_range(ms / 2..=ms.max(1)))
}
