//! The engine thread: drives the pipeline one step at a time (a batch from the source,
//! then delivery), and between steps applies reloads, writes checkpoints and refreshes
//! the metrics. Nothing else touches the engine, so a reload or a checkpoint always sees
//! a state where every processed event's alerts are delivered.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cepheus_connectors::pipeline::Pipeline;
use cepheus_connectors::source::kafka::{ConsumerLag, OffsetsToCommit};
use cepheus_connectors::source::{Position, Record, RunningSource, SourceMessage, TopicPartition};

use super::checkpoint_store::{CheckpointData, CheckpointStore, PartitionOffset};
use super::metrics::{Metrics, StateSize};
use super::reload::ApplyRules;
use super::status::{RuleStatus, SharedStatus};

/// How long the engine thread waits for a batch before it looks at the clock.
const TICK: Duration = Duration::from_millis(100);
/// How often `/metrics` and `/rules` see fresh state sizes.
const REFRESH: Duration = Duration::from_millis(500);

/// Periodic checkpoints and the offsets they make committable.
pub struct Checkpointing {
    pub store: CheckpointStore,
    pub interval: Duration,
    /// Filled after each durable checkpoint; the Kafka source commits from it.
    pub commit: Arc<OffsetsToCommit>,
    pub last: Instant,
}

pub struct EngineThread {
    pub pipeline: Pipeline,
    pub source: RunningSource,
    pub apply: Receiver<ApplyRules>,
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<SharedStatus>,
    pub checkpoints: Option<Checkpointing>,
    /// The running rules: name and text hash, and the set's hash.
    pub rules: Vec<(String, String)>,
    pub rule_set_hash: String,
    /// After a restore: per partition, the checkpoint's next offset. The source seeks each
    /// partition there; any record before it (already in the restored state) is skipped.
    pub resume_at: HashMap<TopicPartition, i64>,
    /// Partitions whose first record after a restore was checked.
    pub warned_gap: HashSet<TopicPartition>,
    /// Measured by the Kafka source (empty for other sources).
    pub lag: Arc<ConsumerLag>,
}

impl EngineThread {
    /// Runs until a stop is asked for (or the source fails or a sink closes); then writes
    /// the final checkpoint and stops the source (which commits the checkpointed offsets).
    pub fn run(mut self) -> Result<(), String> {
        let mut refreshed = Instant::now();
        self.refresh();
        let mut ended = false;
        let result = loop {
            if self.stop.load(Ordering::SeqCst) {
                break Ok(());
            }
            let msg = self.source.receiver.recv_timeout(TICK);
            // The step starts once there is something to do: waiting counts towards idleness.
            let now = Instant::now();
            match msg {
                Ok(SourceMessage::Records(mut records)) => {
                    if !self.resume_at.is_empty() {
                        records.retain(|r| self.not_yet_in_state(r));
                    }
                    self.count_in(&records);
                    self.pipeline.process(records, now);
                }
                Ok(SourceMessage::Assigned(partitions)) => self.pipeline.assign(partitions, now),
                Ok(SourceMessage::Failed(why)) => break Err(format!("the source failed: {why}")),
                Ok(SourceMessage::End) | Err(RecvTimeoutError::Disconnected) => {
                    if !ended {
                        // A file without --follow: release what waits, then idle until stopped.
                        tracing::info!("The source has ended; waiting for a stop signal.");
                        ended = true;
                        if let Err(closed) = self.pipeline.finish() {
                            break Err(closed.to_string());
                        }
                    }
                    std::thread::sleep(TICK);
                }
                Err(RecvTimeoutError::Timeout) => self.pipeline.release(now),
            }
            if let Err(closed) = self.pipeline.deliver() {
                break Err(closed.to_string());
            }
            // A busy pipeline (or a source paused because of it) does not make partitions idle.
            self.pipeline.account_busy(self.source.paused(), now);
            while let Ok(apply) = self.apply.try_recv() {
                self.reload(apply);
            }
            if self
                .checkpoints
                .as_ref()
                .is_some_and(|c| c.last.elapsed() >= c.interval)
            {
                self.checkpoint();
            }
            if refreshed.elapsed() >= REFRESH {
                refreshed = Instant::now();
                self.refresh();
            }
        };
        // Stop consuming; every alert of what was processed is delivered (deliver ran after
        // the last step). Events still waiting for the watermark stay uncommitted and are
        // read again after a restart.
        if self.checkpoints.is_some() {
            self.checkpoint();
        }
        self.refresh();
        self.source.stop();
        tracing::info!("Engine stopped.");
        result
    }

    fn not_yet_in_state(&mut self, r: &Record) -> bool {
        let Position::Kafka { tp, offset } = &r.position else {
            return true;
        };
        let Some(start) = self.resume_at.get(tp).copied() else {
            return true;
        };
        if *offset > start && !self.warned_gap.contains(tp) {
            tracing::warn!(partition = %tp, checkpoint = start, first = offset,
                "The first record read after the restore is past the checkpoint's offset \
                 (the records in between were deleted by retention, or the broker skipped \
                 them); they are not replayed.");
            self.warned_gap.insert(tp.clone());
        }
        self.warned_gap.insert(tp.clone());
        *offset >= start
    }

    fn count_in(&self, records: &[Record]) {
        let mut m = self.metrics.lock();
        let mut last: Option<(&str, i32, u64)> = None;
        let flush = |m: &mut super::metrics::Values, key: String, n: u64| {
            *m.events_in.entry(key).or_default() += n;
        };
        for r in records {
            match &r.position {
                Position::Kafka { tp, .. } => match &mut last {
                    Some((t, p, n)) if *t == &*tp.topic && *p == tp.partition => *n += 1,
                    _ => {
                        if let Some((t, p, n)) = last.take() {
                            flush(&mut m, format!("{t}/{p}"), n);
                        }
                        last = Some((&tp.topic, tp.partition, 1));
                    }
                },
                Position::Line { file, .. } => flush(&mut m, file.to_string(), 1),
                Position::Generated { .. } => flush(&mut m, "generated".into(), 1),
            }
        }
        if let Some((t, p, n)) = last {
            flush(&mut m, format!("{t}/{p}"), n);
        }
    }

    fn reload(&mut self, apply: ApplyRules) {
        let ApplyRules { set, reply } = apply;
        let answer = match self.pipeline.reload(set.bound) {
            Ok(report) => {
                self.rules = set.rules;
                self.rule_set_hash = set.hash;
                let summary = match report {
                    Some(r) => format!(
                        "kept {:?}, added {:?}, changed (state dropped) {:?}, removed {:?}",
                        r.kept, r.added, r.changed, r.removed
                    ),
                    None => "replaced the rules before the first event".into(),
                };
                self.refresh();
                Ok(summary)
            }
            Err(why) => Err(why),
        };
        let _ = reply.send(answer);
    }

    /// Writes a checkpoint (engine state and the offsets whose effects it holds or
    /// delivered), and only once it is durable lets the source commit those offsets.
    fn checkpoint(&mut self) {
        let Some(c) = &mut self.checkpoints else {
            return;
        };
        c.last = Instant::now();
        let Some(engine) = self.pipeline.engine() else {
            return; // Nothing processed yet: nothing to save or commit.
        };
        let started = Instant::now();
        // Partitions not read since the restore keep the restored offsets.
        let mut committable: BTreeMap<TopicPartition, i64> = self
            .resume_at
            .iter()
            .map(|(tp, o)| (tp.clone(), *o))
            .collect();
        committable.extend(self.pipeline.offsets().committable());
        let data = CheckpointData {
            rule_set_hash: self.rule_set_hash.clone(),
            rules: self.rules.clone(),
            engine: engine.checkpoint().to_bytes(),
            offsets: committable
                .iter()
                .map(|(tp, o)| PartitionOffset {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    next_offset: *o,
                })
                .collect(),
            watermark: engine.now().0,
            written_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        match c.store.write(&data) {
            Ok(bytes) => {
                c.commit.publish(&committable);
                self.metrics.checkpoint_written(started.elapsed(), bytes);
                tracing::debug!(
                    bytes,
                    partitions = data.offsets.len(),
                    "Checkpoint written."
                );
            }
            Err(e) => {
                self.metrics.checkpoint_failed();
                tracing::error!(error = %e, "Cannot write the checkpoint; offsets are not committed until one is written.");
            }
        }
    }

    /// State sizes, counters and the rule list for `/metrics` and `/rules`.
    fn refresh(&self) {
        let mut state = BTreeMap::new();
        if let Some(engine) = self.pipeline.engine() {
            for s in engine.statements() {
                state.insert(
                    s.plan.name.clone(),
                    StateSize {
                        window_events: s.window_len(),
                        group_keys: s.group_count(),
                        pattern_instances: s.pattern_instances(),
                    },
                );
            }
        }
        {
            let mut m = self.metrics.lock();
            m.events_processed = self.pipeline.stats().events;
            m.dead_letters = self
                .pipeline
                .dead_letters()
                .counts()
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect();
            m.records_in_flight = self.pipeline.offsets().in_flight() as u64;
            m.engine_time_ms = self.pipeline.engine().map_or(0, |e| e.now().0);
            if let Some(c) = &self.checkpoints {
                let committed = c.commit.snapshot();
                m.uncommitted = self
                    .pipeline
                    .offsets()
                    .committable()
                    .into_iter()
                    .map(|(tp, next)| {
                        let done = committed.get(&tp).copied().unwrap_or(0);
                        (tp.to_string(), (next - done).max(0))
                    })
                    .collect();
            }
            m.consumer_lag = self
                .lag
                .snapshot()
                .into_iter()
                .map(|(tp, n)| (tp.to_string(), n))
                .collect();
            m.state = state.clone();
        }
        let mut view = self.status.lock();
        view.rule_set_hash = self.rule_set_hash.clone();
        view.rules = self
            .rules
            .iter()
            .map(|(name, hash)| RuleStatus {
                name: name.clone(),
                text_hash: hash.clone(),
                status: String::new(),
                last_error: None,
                state: state.get(name).copied().unwrap_or_default(),
            })
            .collect();
        view.mark_errors();
    }
}
