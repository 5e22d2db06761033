//! Kafka source: a `BaseConsumer` polled on its own thread. Records go to the pipeline
//! over the bounded channel of [`RunningSource`]; when it is full the consumer pauses its
//! partitions (keeps polling for group membership) instead of buffering. Offsets are never
//! auto-committed: the thread commits what [`OffsetsToCommit`] holds, which the pipeline
//! (or the daemon, after a checkpoint) fills from an [`crate::offsets::OffsetTracker`].
//!
//! Two ways to own partitions: [`spawn`] joins the consumer group (`subscribe`: the group
//! shares the partitions among its members, as `cepheus run` does), and [`spawn_assigned`]
//! assigns every partition of the topics itself and seeks each to a given offset, using the
//! group only to commit (as Flink's Kafka source does; the daemon, whose checkpointed state
//! needs every partition from its first step).
use std::collections::{BTreeMap, BTreeSet};
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
    /// Filled by the source thread; read by whoever reports metrics.
    pub lag: Arc<ConsumerLag>,
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

/// Consumer lag per partition: records the broker holds past this consumer's position
/// (high watermark minus position), refreshed by the source thread every [`LAG_INTERVAL`].
#[derive(Debug, Default)]
pub struct ConsumerLag {
    lag: Mutex<BTreeMap<TopicPartition, i64>>,
}

impl ConsumerLag {
    pub fn snapshot(&self) -> BTreeMap<TopicPartition, i64> {
        self.lag.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, lag: BTreeMap<TopicPartition, i64>) {
        *self.lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }
}

/// How often the consumer lag is measured (one watermark query per partition).
pub const LAG_INTERVAL: Duration = Duration::from_secs(5);

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
    #[error(
        "cannot read the partitions of {what}: {source}; check that the broker is reachable \
         (--kafka) and the security settings (--kafka-option)"
    )]
    Metadata {
        /// `topic T from BROKERS`.
        what: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot assign the partitions {partitions}: {source}")]
    Assign {
        partitions: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot start the source thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Starts consuming as a member of the consumer group (`subscribe`): the group decides which
/// partitions this consumer reads. Offsets are committed from `commit` only.
pub fn spawn(
    config: KafkaSourceConfig,
    commit: Arc<OffsetsToCommit>,
) -> Result<RunningSource, KafkaSourceError> {
    let consumer = create(&config)?;
    let names: Vec<&str> = config.topics.iter().map(|t| t.topic.as_str()).collect();
    consumer
        .subscribe(&names)
        .map_err(|source| KafkaSourceError::Subscribe {
            topics: names.join(","),
            source,
        })?;
    Ok(RunningSource::spawn("source-kafka", move |tx, flags| {
        Poller::new(consumer, &config, commit, None).run(&tx, &flags);
    })?)
}

/// Starts consuming every partition of the configured topics, assigned by this consumer
/// itself (no group membership, no rebalances): a partition listed in `start_at` starts at
/// that offset (the next one to consume, e.g. from a checkpoint); any other at the group's
/// committed offset, or, without one, the earliest (`from_beginning`) or latest offset.
/// The group (`group.id`) is used only to commit the offsets `commit` holds. Partitions
/// added to a topic later are found within [`DISCOVERY_INTERVAL`] and read from their start.
pub fn spawn_assigned(
    config: KafkaSourceConfig,
    commit: Arc<OffsetsToCommit>,
    start_at: BTreeMap<TopicPartition, i64>,
) -> Result<RunningSource, KafkaSourceError> {
    let consumer = create(&config)?;
    let mut discovery = Discovery {
        topics: config.topics.iter().map(|t| t.topic.clone()).collect(),
        known: BTreeSet::new(),
        start_at,
        last: Instant::now(),
    };
    let partitions = discovery.lookup(&consumer, METADATA_TIMEOUT, &config.brokers)?;
    // Partitions without a start offset: the group's committed offset, else the reset policy.
    let tpl = discovery.positions(&partitions, Offset::Stored);
    consumer
        .assign(&tpl)
        .map_err(|source| KafkaSourceError::Assign {
            partitions: describe(&partitions),
            source,
        })?;
    tracing::info!(partitions = %describe(&partitions), "Kafka partitions assigned");
    discovery.known.extend(partitions);
    Ok(RunningSource::spawn("source-kafka", move |tx, flags| {
        Poller::new(consumer, &config, commit, Some(discovery)).run(&tx, &flags);
    })?)
}

/// How long a metadata request (the partitions of a topic) may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an assigning source looks for partitions added to its topics.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

fn create(config: &KafkaSourceConfig) -> Result<BaseConsumer, KafkaSourceError> {
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
    cc.create().map_err(|source| KafkaSourceError::Create {
        brokers: config.brokers.clone(),
        source,
    })
}

fn describe(partitions: &[(String, i32)]) -> String {
    let list: Vec<String> = partitions.iter().map(|(t, p)| format!("{t}/{p}")).collect();
    list.join(",")
}

/// The partitions an assigning source owns, and where partitions it has not assigned yet
/// start.
struct Discovery {
    topics: Vec<String>,
    known: BTreeSet<(String, i32)>,
    start_at: BTreeMap<TopicPartition, i64>,
    last: Instant,
}

impl Discovery {
    /// Every partition of the topics, from the broker's metadata. A topic that does not
    /// exist (yet) has none.
    fn lookup(
        &self,
        consumer: &BaseConsumer,
        timeout: Duration,
        brokers: &str,
    ) -> Result<Vec<(String, i32)>, KafkaSourceError> {
        let mut out = Vec::new();
        for topic in &self.topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), timeout)
                .map_err(|source| KafkaSourceError::Metadata {
                    what: format!("topic {topic} from {brokers}"),
                    source,
                })?;
            for t in metadata.topics() {
                if let Some(e) = t.error() {
                    tracing::warn!(topic = t.name(), error = ?e,
                        "The topic has no partitions yet (does it exist?); looking again every {:?}.",
                        DISCOVERY_INTERVAL);
                    continue;
                }
                out.extend(
                    t.partitions()
                        .iter()
                        .map(|p| (t.name().to_string(), p.id())),
                );
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Start positions: the given offset where there is one, else `otherwise`.
    fn positions(&self, partitions: &[(String, i32)], otherwise: Offset) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in partitions {
            let tp = TopicPartition {
                topic: topic.as_str().into(),
                partition: *partition,
            };
            let offset = self
                .start_at
                .get(&tp)
                .map_or(otherwise, |o| Offset::Offset(*o));
            let _ = tpl.add_partition_offset(topic, *partition, offset);
        }
        tpl
    }

    /// Assigns partitions that appeared since the last look (from their first record: all
    /// of them were written after this source started). Failures are retried later.
    fn discover(&mut self, consumer: &BaseConsumer, brokers: &str) {
        if self.last.elapsed() < DISCOVERY_INTERVAL {
            return;
        }
        self.last = Instant::now();
        let found = match self.lookup(consumer, Duration::from_secs(2), brokers) {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "Looking for new partitions failed; trying again later.");
                return;
            }
        };
        let new: Vec<(String, i32)> = found
            .into_iter()
            .filter(|p| !self.known.contains(p))
            .collect();
        if new.is_empty() {
            return;
        }
        let tpl = self.positions(&new, Offset::Beginning);
        match consumer.incremental_assign(&tpl) {
            Ok(()) => {
                tracing::info!(partitions = %describe(&new), "New Kafka partitions assigned");
                self.known.extend(new);
            }
            Err(e) => {
                tracing::warn!(partitions = %describe(&new), error = %e,
                    "Cannot assign new partitions; trying again later.");
            }
        }
    }
}

struct Poller {
    consumer: BaseConsumer,
    brokers: String,
    /// Set for a source that assigns its partitions itself.
    discovery: Option<Discovery>,
    /// topic -> (topic, event type), shared strings for the records.
    types: BTreeMap<String, (Arc<str>, Arc<str>)>,
    commit: Arc<OffsetsToCommit>,
    committed: BTreeMap<TopicPartition, i64>,
    last_commit: Instant,
    lag: Arc<ConsumerLag>,
    last_lag: Option<Instant>,
}

impl Poller {
    fn new(
        consumer: BaseConsumer,
        config: &KafkaSourceConfig,
        commit: Arc<OffsetsToCommit>,
        discovery: Option<Discovery>,
    ) -> Poller {
        let types = config
            .topics
            .iter()
            .map(|t| {
                (
                    t.topic.clone(),
                    (t.topic.as_str().into(), t.event_type.as_str().into()),
                )
            })
            .collect();
        Poller {
            consumer,
            brokers: config.brokers.clone(),
            discovery,
            types,
            commit,
            committed: BTreeMap::new(),
            last_commit: Instant::now(),
            lag: config.lag.clone(),
            last_lag: None,
        }
    }

    fn run(&mut self, tx: &SyncSender<SourceMessage>, flags: &SourceFlags) {
        let stop = &flags.stop;
        let mut assigned = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Some(d) = &mut self.discovery {
                d.discover(&self.consumer, &self.brokers);
            }
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
            self.measure_lag_if_due();
        }
        self.commit_now();
    }

    fn measure_lag_if_due(&mut self) {
        if self.last_lag.is_some_and(|t| t.elapsed() < LAG_INTERVAL) {
            return;
        }
        self.last_lag = Some(Instant::now());
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        let mut lag = BTreeMap::new();
        for e in positions.elements() {
            let Some((topic, _)) = self.types.get(e.topic()) else {
                continue;
            };
            let Ok((low, high)) = self.consumer.fetch_watermarks(
                e.topic(),
                e.partition(),
                Duration::from_millis(500),
            ) else {
                continue;
            };
            // Before the first record the position is not known yet: all the broker holds.
            let position = match e.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            let tp = TopicPartition {
                topic: topic.clone(),
                partition: e.partition(),
            };
            lag.insert(tp, (high - position).max(0));
        }
        self.lag.set(lag);
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
