//! Kafka source: a `BaseConsumer` polled on its own thread. Records go to the pipeline
//! over the bounded channel of [`RunningSource`]; when it is full the consumer pauses its
//! partitions (keeps polling for group membership) instead of buffering. Offsets are never
//! auto-committed: the thread commits what [`OffsetsToCommit`] holds, which the pipeline
//! (or the daemon, after a checkpoint) fills from an [`crate::offsets::OffsetTracker`].
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{
    BATCH_RECORDS, Position, Record, RunningSource, SourceFlags, SourceMessage, TopicPartition,
};

/// How long a full channel is waited out before the partitions are paused.
const PAUSE_AFTER: Duration = Duration::from_millis(500);

/// How often committable offsets are sent to the broker.
const COMMIT_INTERVAL: Duration = Duration::from_millis(500);

/// A topic and the event type its values are decoded as.
#[derive(Debug, Clone)]
pub struct TopicBinding {
    pub topic: String,
    pub event_type: String,
}

#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    pub brokers: String,
    pub group: String,
    pub topics: Vec<TopicBinding>,
    /// Start from the earliest offset when the group has no committed offset.
    pub from_beginning: bool,
    /// Extra librdkafka settings (`security.protocol`, `sasl.*`, `ssl.*`, ...).
    pub options: Vec<(String, String)>,
}

/// Offsets (next offset to consume, per partition) that may be committed. Shared by whoever
/// decides they are safe (the pipeline after delivery, or a checkpoint) and the consumer.
#[derive(Debug, Default)]
pub struct OffsetsToCommit {
    offsets: Mutex<BTreeMap<TopicPartition, i64>>,
}

impl OffsetsToCommit {
    /// Raises the committable offset of each partition (never lowers it).
    pub fn publish(&self, offsets: &BTreeMap<TopicPartition, i64>) {
        let mut m = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        for (tp, o) in offsets {
            let e = m.entry(tp.clone()).or_insert(*o);
            *e = (*e).max(*o);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<TopicPartition, i64> {
        self.offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Errors that stop a Kafka source from starting.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error(
        "cannot create the Kafka consumer for {brokers}: {source}; check --kafka and --kafka-option"
    )]
    Create {
        brokers: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot subscribe to {topics}: {source}")]
    Subscribe {
        topics: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot start the source thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Starts consuming. Offsets are committed from `commit` only.
pub fn spawn(
    config: KafkaSourceConfig,
    commit: Arc<OffsetsToCommit>,
) -> Result<RunningSource, KafkaSourceError> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            if config.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        )
        .set("enable.partition.eof", "false");
    for (k, v) in &config.options {
        cc.set(k, v);
    }
    let consumer: BaseConsumer = cc.create().map_err(|source| KafkaSourceError::Create {
        brokers: config.brokers.clone(),
        source,
    })?;
    let names: Vec<&str> = config.topics.iter().map(|t| t.topic.as_str()).collect();
    consumer
        .subscribe(&names)
        .map_err(|source| KafkaSourceError::Subscribe {
            topics: names.join(","),
            source,
        })?;
    let types: BTreeMap<String, (Arc<str>, Arc<str>)> = config
        .topics
        .iter()
        .map(|t| {
            (
                t.topic.clone(),
                (t.topic.as_str().into(), t.event_type.as_str().into()),
            )
        })
        .collect();
    Ok(RunningSource::spawn("source-kafka", move |tx, flags| {
        let mut poller = Poller {
            consumer,
            types,
            commit,
            committed: BTreeMap::new(),
            last_commit: Instant::now(),
        };
        poller.run(&tx, &flags);
    })?)
}

struct Poller {
    consumer: BaseConsumer,
    /// topic -> (topic, event type), shared strings for the records.
    types: BTreeMap<String, (Arc<str>, Arc<str>)>,
    commit: Arc<OffsetsToCommit>,
    committed: BTreeMap<TopicPartition, i64>,
    last_commit: Instant,
}

impl Poller {
    fn run(&mut self, tx: &SyncSender<SourceMessage>, flags: &SourceFlags) {
        let stop = &flags.stop;
        let mut assigned = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let batch = self.poll_batch();
            // Assignments change inside poll, before the records of new partitions arrive.
            let now = self.assigned();
            if now != assigned {
                assigned = now;
                if !self.send(tx, flags, SourceMessage::Assigned(assigned.clone())) {
                    break;
                }
            }
            if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
                tracing::trace!(records = batch.len(), first = %first.position, last = %last.position, "batch polled");
            }
            if !batch.is_empty() && !self.send(tx, flags, SourceMessage::Records(batch)) {
                break;
            }
            self.commit_if_due();
        }
        self.commit_now();
    }

    fn assigned(&self) -> Vec<TopicPartition> {
        let Ok(tpl) = self.consumer.assignment() else {
            return Vec::new();
        };
        tpl.elements()
            .iter()
            .filter_map(|e| {
                let (topic, _) = self.types.get(e.topic())?;
                Some(TopicPartition {
                    topic: topic.clone(),
                    partition: e.partition(),
                })
            })
            .collect()
    }

    fn poll_batch(&mut self) -> Vec<Record> {
        let mut batch = Vec::new();
        let mut timeout = Duration::from_millis(100);
        while batch.len() < BATCH_RECORDS {
            match self.consumer.poll(timeout) {
                None => break,
                Some(Ok(m)) => {
                    if let Some(r) = self.record(&m) {
                        batch.push(r);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Kafka consumer error; still polling.");
                    break;
                }
            }
            timeout = Duration::ZERO;
        }
        batch
    }

    fn record(&self, m: &rdkafka::message::BorrowedMessage<'_>) -> Option<Record> {
        let (topic, event_type) = self.types.get(m.topic())?;
        Some(Record {
            position: Position::Kafka {
                tp: TopicPartition {
                    topic: topic.clone(),
                    partition: m.partition(),
                },
                offset: m.offset(),
            },
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            event_type: Some(event_type.clone()),
            timestamp: m.timestamp().to_millis(),
        })
    }

    /// Sends `msg`. A short stall (the pipeline drains a batch in milliseconds) is waited
    /// out; past [`PAUSE_AFTER`] the assigned partitions are paused and the consumer keeps
    /// polling (nothing is fetched for paused partitions) until there is room. Returns false
    /// when the pipeline is gone or a stop was asked for.
    fn send(
        &mut self,
        tx: &SyncSender<SourceMessage>,
        flags: &SourceFlags,
        msg: SourceMessage,
    ) -> bool {
        let stop = &flags.stop;
        let mut msg = msg;
        let deadline = Instant::now() + PAUSE_AFTER;
        loop {
            match tx.try_send(msg) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) => msg = m,
            }
            if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        flags.paused.store(true, Ordering::Relaxed);
        // Where each partition resumes: one past the last record handed over (or held in
        // `msg`). Pausing drops what librdkafka had prefetched, and records polled during
        // the pause are dropped too: seeking back here before the resume fetches them again.
        let resume_at = self.consumer.position().ok();
        tracing::debug!(positions = ?resume_at, "positions at the pause");
        let paused = self.consumer.assignment().ok();
        if let Some(p) = &paused {
            if let Err(e) = self.consumer.pause(p) {
                tracing::warn!(error = %e, "cannot pause partitions");
            }
            tracing::debug!(partitions = p.count(), "pipeline busy; partitions paused");
        }
        let sent = loop {
            if stop.load(Ordering::Relaxed) {
                break false;
            }
            // Serves rebalances; anything returned is fetched again after the seek below.
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(20)) {
                tracing::debug!(
                    partition = m.partition(),
                    offset = m.offset(),
                    "record polled while paused; fetched again after the resume"
                );
            }
            self.commit_if_due();
            match tx.try_send(msg) {
                Ok(()) => break true,
                Err(TrySendError::Disconnected(_)) => break false,
                Err(TrySendError::Full(m)) => msg = m,
            }
        };
        if let Some(p) = &paused
            && let Err(e) = self.consumer.resume(p)
        {
            tracing::warn!(error = %e, "cannot resume partitions");
        }
        if let Some(positions) = resume_at {
            let mut tpl = TopicPartitionList::new();
            for e in positions.elements() {
                if let Offset::Offset(o) = e.offset() {
                    let _ = tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o));
                }
            }
            match self.consumer.seek_partitions(tpl, Duration::from_secs(5)) {
                Ok(result) => {
                    for e in result.elements() {
                        if let Err(err) = e.error() {
                            tracing::warn!(partition = e.partition(), error = %err, "cannot seek a resumed partition back");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot seek resumed partitions back"),
            }
        }
        flags.paused.store(false, Ordering::Relaxed);
        sent
    }

    fn commit_if_due(&mut self) {
        if self.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.commit_now();
        }
    }

    /// Commits (synchronously, so a failure is known and retried) the offsets that changed,
    /// for partitions still assigned: a revoked partition belongs to another consumer now.
    fn commit_now(&mut self) {
        self.last_commit = Instant::now();
        let assigned = self.assigned();
        let offsets: BTreeMap<TopicPartition, i64> = self
            .commit
            .snapshot()
            .into_iter()
            .filter(|(tp, o)| assigned.contains(tp) && self.committed.get(tp) != Some(o))
            .collect();
        if offsets.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (tp, o) in &offsets {
            let _ = tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*o));
        }
        match self.consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                tracing::debug!(partitions = tpl.count(), "offsets committed");
                self.committed.extend(offsets);
            }
            Err(e) => tracing::warn!(error = %e, "offset commit failed; will retry"),
        }
    }
}
