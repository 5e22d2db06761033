//! Sources: where raw records come from. Each source runs on its own thread and
//! hands batches of [`Record`]s to the pipeline over a bounded channel.
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

pub mod file;
pub mod generator;
pub mod kafka;

/// Batches in flight between a source thread and the pipeline.
pub const CHANNEL_BATCHES: usize = 16;
/// Most records in one batch.
pub const BATCH_RECORDS: usize = 1024;

/// A Kafka topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Where a record came from; dead letters carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Line `line` (1-based) of a file (`-` for stdin).
    Line {
        file: Arc<str>,
        line: u64,
    },
    Kafka {
        tp: TopicPartition,
        offset: i64,
    },
    /// The `index`-th (0-based) event of a generator.
    Generated {
        index: u64,
    },
}

impl Position {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Position::Line { file, line } => serde_json::json!({"file": &**file, "line": line}),
            Position::Kafka { tp, offset } => serde_json::json!({
                "topic": &*tp.topic, "partition": tp.partition, "offset": offset
            }),
            Position::Generated { index } => serde_json::json!({"generated": index}),
        }
    }

    /// The stream of records this position belongs to (watermarks are kept per stream).
    pub fn stream(&self) -> StreamKey {
        match self {
            Position::Kafka { tp, .. } => StreamKey::Partition(tp.clone()),
            _ => StreamKey::Single,
        }
    }

    /// A short, stable text for the alert id (same record, same text, on every replay).
    pub fn identity(&self) -> String {
        match self {
            Position::Line { line, .. } => format!("line:{line}"),
            Position::Kafka { tp, offset } => format!("kafka:{tp}:{offset}"),
            Position::Generated { index } => format!("gen:{index}"),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { file, line } => write!(f, "{file}:{line}"),
            Position::Kafka { tp, offset } => write!(f, "{tp}@{offset}"),
            Position::Generated { index } => write!(f, "generated #{index}"),
        }
    }
}

/// The unit a watermark is kept for: a Kafka partition, or the one stream of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKey {
    Single,
    Partition(TopicPartition),
}

/// One raw record, not decoded yet.
#[derive(Debug, Clone)]
pub struct Record {
    pub position: Position,
    pub payload: Vec<u8>,
    /// The event type bound to the record's topic, if any (else the decoder decides).
    pub event_type: Option<Arc<str>>,
    /// The Kafka record timestamp (ms), the event time when the schema declares none.
    pub timestamp: Option<i64>,
}

/// What a source thread sends to the pipeline.
#[derive(Debug)]
pub enum SourceMessage {
    Records(Vec<Record>),
    /// The partitions now assigned to this consumer: each holds the watermark back until
    /// it has records or has been idle for the idle timeout.
    Assigned(Vec<TopicPartition>),
    /// The source cannot go on (the run ends after what was sent before).
    Failed(String),
    /// The source has no more records.
    End,
}

/// Flags shared by a source thread and the pipeline.
#[derive(Debug, Default)]
pub struct SourceFlags {
    /// Set by the pipeline: finish (a Kafka source commits its offsets first).
    pub stop: AtomicBool,
    /// Set by the source while it has paused its partitions because the channel is full:
    /// its streams are silent because the pipeline is busy, not because they are idle.
    pub paused: AtomicBool,
}

/// A running source: its channel and thread. Dropping it without [`RunningSource::stop`]
/// detaches the thread.
pub struct RunningSource {
    pub receiver: Receiver<SourceMessage>,
    flags: Arc<SourceFlags>,
    thread: Option<JoinHandle<()>>,
}

impl RunningSource {
    /// Starts `body` on a thread named `name` with a bounded channel to the pipeline.
    pub fn spawn(
        name: &str,
        body: impl FnOnce(SyncSender<SourceMessage>, Arc<SourceFlags>) + Send + 'static,
    ) -> std::io::Result<RunningSource> {
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        let flags = Arc::new(SourceFlags::default());
        let shared = flags.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || body(tx, shared))?;
        Ok(RunningSource {
            receiver: rx,
            flags,
            thread: Some(thread),
        })
    }

    /// True while the source holds back because the pipeline is busy.
    pub fn paused(&self) -> bool {
        self.flags.paused.load(Ordering::Relaxed)
    }

    /// Asks the source to stop (a Kafka source commits its offsets first) and waits for it.
    pub fn stop(mut self) {
        self.flags.stop.store(true, Ordering::SeqCst);
        // Unblock a sender waiting on a full channel.
        while self.receiver.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            while !t.is_finished() {
                while self.receiver.try_recv().is_ok() {}
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = t.join();
        }
    }
}
