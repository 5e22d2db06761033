//! The pipeline: records from a source are decoded, put in event-time order up to the
//! watermark, run through the engine, and the resulting alerts handed to every sink.
//! Bad input and alerts a sink gave up on go to the dead-letter sink. Kafka offsets become
//! committable only once everything their records produced has been acknowledged.
//!
//! One step ([`Pipeline::process`] then [`Pipeline::deliver`]) per batch from the source;
//! [`Pipeline::run`] loops over a [`RunningSource`]'s channel. The daemon drives the same
//! steps and reads [`Pipeline::offsets`] for its checkpoints.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use cepheus_engine::{
    BoundScript, Delivery, Engine, EventFields, EventTime, EventType, ReloadReport, TypeRegistry,
};

use crate::alert::{Alert, AlertBuilder};
use crate::dead_letter::{DeadLetter, DeadLetters, Reason};
use crate::jsonl::{DeadLetterReason, JsonLinesDecoder};
use crate::offsets::OffsetTracker;
use crate::sink::{AlertSink, SinkClosed};
use crate::source::kafka::OffsetsToCommit;
use crate::source::{Position, Record, RunningSource, SourceMessage, StreamKey, TopicPartition};
use crate::watermark::{ReorderBuffer, Watermarks};

/// How often the pipeline wakes when the source is quiet (idle partitions, idle stop).
const TICK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The watermark trails the highest event time by this much; older events are late.
    pub allowed_lateness: Duration,
    /// A stream (partition) with no record for this long stops holding the watermark back.
    pub idle_timeout: Duration,
    /// End the run once no record has arrived for this long.
    pub stop_after_idle: Option<Duration>,
    /// At the end, fire every pending timer (windows expire, batches flush).
    pub flush_timers_at_end: bool,
    /// Records larger than this are dead letters (`too_large`).
    pub max_record_bytes: usize,
    /// Most events waiting for the watermark; past it the oldest is released early.
    pub reorder_capacity: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            allowed_lateness: Duration::ZERO,
            idle_timeout: Duration::from_secs(5),
            stop_after_idle: None,
            flush_timers_at_end: false,
            max_record_bytes: 1 << 20,
            reorder_capacity: 1_000_000,
        }
    }
}

/// Errors found while setting up a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Decoder(String),
    #[error("{0}")]
    Engine(#[from] cepheus_engine::UnsupportedError),
}

/// Counters of a run.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub events: u64,
    pub alerts: u64,
    /// Alerts refused by at least one sink (they are in the dead letters too).
    pub alerts_rejected: u64,
}

/// How a run ended.
#[derive(Debug)]
pub enum RunEnd {
    /// The source ended, or stayed idle for `stop_after_idle`.
    Finished,
    /// The source failed; what came before it was processed.
    SourceFailed(String),
    /// A sink is gone for good (stdout closed).
    SinkClosed(SinkClosed),
}

struct Pending {
    ty: Arc<EventType>,
    fields: EventFields,
    position: Position,
}

pub struct Pipeline {
    bound: Option<BoundScript>,
    engine: Option<Engine>,
    alerts: AlertBuilder,
    decoder: JsonLinesDecoder,
    typed: HashMap<Arc<str>, JsonLinesDecoder>,
    watermarks: Watermarks,
    buffer: ReorderBuffer<Pending>,
    sinks: Vec<Box<dyn AlertSink>>,
    dead: DeadLetters,
    offsets: OffsetTracker,
    publish: Option<Arc<OffsetsToCommit>>,
    opts: PipelineOptions,
    stats: Stats,
    deliveries: Vec<Delivery>,
    outbox: Vec<Alert>,
    /// Kafka records processed (or dead-lettered) whose effects are in `outbox`.
    completed: Vec<Position>,
    latest_time: EventTime,
    /// `--type`: the type of records that name none (kept to rebuild decoders on reload).
    event_type: Option<String>,
}

impl Pipeline {
    /// `event_type`: the type of records that name none (`--type`); otherwise a record's
    /// type comes from its topic binding or its `type` key. Offsets are published to
    /// `publish` after each delivery (`cepheus run`); the daemon passes `None` and reads
    /// [`Pipeline::offsets`] when it checkpoints.
    pub fn new(
        bound: BoundScript,
        event_type: Option<&str>,
        sinks: Vec<Box<dyn AlertSink>>,
        dead: DeadLetters,
        publish: Option<Arc<OffsetsToCommit>>,
        opts: PipelineOptions,
    ) -> Result<Self, SetupError> {
        let (decoder, typed) =
            decoders(&bound.registry, event_type).map_err(SetupError::Decoder)?;
        Ok(Pipeline {
            bound: Some(bound),
            engine: None,
            alerts: AlertBuilder::new(),
            decoder,
            typed,
            watermarks: Watermarks::new(opts.allowed_lateness, opts.idle_timeout),
            buffer: ReorderBuffer::new(opts.reorder_capacity),
            sinks,
            dead,
            offsets: OffsetTracker::new(),
            publish,
            opts,
            stats: Stats::default(),
            deliveries: Vec::new(),
            outbox: Vec::new(),
            completed: Vec::new(),
            latest_time: EventTime(0),
            event_type: event_type.map(str::to_string),
        })
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead
    }
    /// Per partition, the next offset whose effects are all delivered.
    pub fn offsets(&self) -> &OffsetTracker {
        &self.offsets
    }
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }
    /// For the daemon: add or remove statements (call [`Pipeline::forget_rule`] for a
    /// removed statement id), restore state.
    pub fn engine_mut(&mut self) -> Option<&mut Engine> {
        self.engine.as_mut()
    }
    pub fn forget_rule(&mut self, statement: usize) {
        self.alerts.forget(statement);
    }
    /// For the daemon: start from a restored engine instead of a new one at the first event.
    pub fn restore_engine(&mut self, engine: Engine) {
        self.bound = None;
        self.engine = Some(engine);
    }
    /// For the daemon: replaces the rule set between two steps ([`Engine::reload`]: rules
    /// with the same name and text keep their state). Before the first event there is no
    /// engine yet and the new set simply replaces the old (`None`). On error nothing changes.
    /// Events already decoded and waiting for the watermark keep their event type.
    pub fn reload(&mut self, bound: BoundScript) -> Result<Option<ReloadReport>, String> {
        let (decoder, typed) = decoders(&bound.registry, self.event_type.as_deref())?;
        let report = match &mut self.engine {
            Some(engine) => {
                let before = engine.statement_ids().to_vec();
                let report = engine.reload(bound).map_err(|e| e.to_string())?;
                for id in before {
                    if engine.statement(id).is_none() {
                        self.alerts.forget(id);
                    }
                }
                Some(report)
            }
            None => {
                self.bound = Some(bound);
                None
            }
        };
        self.decoder = decoder;
        self.typed = typed;
        Ok(report)
    }
    /// For the daemon (which drives the steps itself): the source's assigned partitions
    /// changed ([`SourceMessage::Assigned`]).
    pub fn assign(&mut self, partitions: Vec<TopicPartition>, now: Instant) {
        let streams: Vec<StreamKey> = partitions.into_iter().map(StreamKey::Partition).collect();
        self.watermarks.assign(&streams, now);
    }

    /// For the daemon: what [`Pipeline::run`] does around each step for idleness. A paused
    /// source's partitions are silent because the pipeline is busy, not idle; time the step
    /// that started at `started` spent busy does not count towards the idle timeout either.
    pub fn account_busy(&mut self, source_paused: bool, started: Instant) {
        let done = Instant::now();
        if source_paused {
            self.watermarks.hold_idleness(done);
        }
        self.watermarks
            .credit_busy(done.duration_since(started), done);
    }

    /// Runs until the source ends, stays idle for `stop_after_idle`, or a sink closes.
    pub fn run(&mut self, source: &RunningSource) -> RunEnd {
        let mut last_record = Instant::now();
        let end = loop {
            let msg = source.receiver.recv_timeout(TICK);
            let now = Instant::now();
            if source.paused() {
                self.watermarks.hold_idleness(now);
            }
            match msg {
                Ok(SourceMessage::Records(records)) => {
                    last_record = now;
                    self.process(records, now);
                }
                Ok(SourceMessage::Assigned(partitions)) => {
                    // Joining a group can take longer than the idle stop: count from here.
                    last_record = now;
                    let streams: Vec<StreamKey> =
                        partitions.into_iter().map(StreamKey::Partition).collect();
                    self.watermarks.assign(&streams, now);
                }
                Ok(SourceMessage::Failed(why)) => break RunEnd::SourceFailed(why),
                Ok(SourceMessage::End) | Err(RecvTimeoutError::Disconnected) => {
                    break RunEnd::Finished;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.release(now);
                    if self
                        .opts
                        .stop_after_idle
                        .is_some_and(|idle| now.duration_since(last_record) >= idle)
                    {
                        break RunEnd::Finished;
                    }
                }
            }
            if let Err(closed) = self.deliver() {
                return RunEnd::SinkClosed(closed);
            }
            // Streams are not idle while the pipeline is busy: only time spent waiting for
            // input counts towards the idle timeout.
            let done = Instant::now();
            self.watermarks.credit_busy(done.duration_since(now), done);
        };
        match self.finish() {
            Ok(()) => end,
            Err(closed) => RunEnd::SinkClosed(closed),
        }
    }

    /// Decodes `records`, dead-letters the bad and the late, and runs every event up to
    /// the watermark through the engine. Alerts wait in the outbox for [`Pipeline::deliver`].
    pub fn process(&mut self, records: Vec<Record>, now: Instant) {
        for r in records {
            if let Position::Kafka { tp, offset } = &r.position {
                self.offsets.received(tp, *offset);
            }
            self.accept(r, now);
        }
        self.release(now);
    }

    fn accept(&mut self, r: Record, now: Instant) {
        if r.payload.len() > self.opts.max_record_bytes {
            let why = format!(
                "the record has {} bytes, more than the limit of {}",
                r.payload.len(),
                self.opts.max_record_bytes
            );
            return self.reject(&r, Reason::TooLarge, &why);
        }
        let Ok(text) = std::str::from_utf8(&r.payload) else {
            return self.reject(&r, Reason::InvalidUtf8, "the record is not valid UTF-8");
        };
        let decoder = match &r.event_type {
            Some(t) => match self.typed.get_mut(t) {
                Some(d) => d,
                None => &mut self.decoder,
            },
            None => &mut self.decoder,
        };
        let event = match decoder.decode(text) {
            Ok(Some(e)) => e,
            Ok(None) => return self.completed.push(r.position),
            Err(e) => return self.reject(&r, Reason::Input(e.reason), &e.message),
        };
        let t = event
            .time
            .or(r.timestamp.map(EventTime))
            .unwrap_or(self.latest_time);
        let watermark = self
            .watermarks
            .watermark(now)
            .max(self.engine.as_ref().map(Engine::now));
        if let Some(w) = watermark
            && t < w
        {
            let why = format!("event time {t} is before the watermark {w}");
            return self.reject(&r, Reason::Input(DeadLetterReason::Late), &why);
        }
        self.latest_time = self.latest_time.max(t);
        self.watermarks.observe(&r.position.stream(), t, now);
        self.buffer.push(
            t,
            Pending {
                ty: event.ty,
                fields: event.fields,
                position: r.position,
            },
        );
    }

    fn reject(&mut self, r: &Record, reason: Reason, error: &str) {
        self.dead.write(&DeadLetter {
            reason,
            position: r.position.to_json(),
            error,
            raw: &r.payload,
        });
        self.completed.push(r.position.clone());
    }

    /// Runs every buffered event at or before the watermark, then moves engine time to it.
    pub fn release(&mut self, now: Instant) {
        let watermark = self.watermarks.watermark(now);
        while let Some((t, p)) = self.buffer.pop_ready(watermark) {
            self.run_event(t, p);
        }
        if let (Some(w), Some(engine)) = (watermark, &mut self.engine)
            && w > engine.now()
        {
            engine.advance_to(w, &mut self.deliveries);
            let alerts = &mut self.alerts;
            alerts.build(engine, &mut self.deliveries, None, &mut self.outbox);
        }
    }

    fn run_event(&mut self, t: EventTime, p: Pending) {
        if self.engine.is_none() {
            let Some(bound) = self.bound.take() else {
                return;
            };
            match Engine::new(bound, t) {
                Ok(e) => self.engine = Some(e),
                Err(e) => {
                    tracing::error!(error = %e, "the rules cannot run");
                    return;
                }
            }
        }
        let Some(engine) = &mut self.engine else {
            return;
        };
        let alerts = &mut self.alerts;
        // Released early (full buffer) behind engine time: still in order from here on.
        let t = t.max(engine.now());
        engine.advance_to(t, &mut self.deliveries);
        alerts.build(engine, &mut self.deliveries, None, &mut self.outbox);
        engine.send(&p.ty, p.fields, &mut self.deliveries);
        alerts.build(
            engine,
            &mut self.deliveries,
            Some(&p.position),
            &mut self.outbox,
        );
        self.stats.events += 1;
        self.completed.push(p.position);
    }

    /// Hands the outbox to every sink, dead-letters what a sink gave up on, makes the dead
    /// letters durable, then marks the records behind them done and publishes offsets.
    pub fn deliver(&mut self) -> Result<(), SinkClosed> {
        let alerts = std::mem::take(&mut self.outbox);
        if !alerts.is_empty() {
            self.stats.alerts += alerts.len() as u64;
            let mut rejected_any = vec![false; alerts.len()];
            for sink in &mut self.sinks {
                for r in sink.deliver(&alerts)? {
                    let Some(a) = alerts.get(r.index) else {
                        continue;
                    };
                    if let Some(flag) = rejected_any.get_mut(r.index) {
                        *flag = true;
                    }
                    let raw = a.to_json().to_string();
                    self.dead.write(&DeadLetter {
                        reason: Reason::SinkGaveUp,
                        position: serde_json::json!({"sink": sink.name(), "alert_id": a.alert_id}),
                        error: &r.error,
                        raw: raw.as_bytes(),
                    });
                }
            }
            self.stats.alerts_rejected += rejected_any.iter().filter(|r| **r).count() as u64;
        }
        if self.completed.is_empty() && alerts.is_empty() {
            return Ok(());
        }
        self.dead.flush();
        for p in self.completed.drain(..) {
            if let Position::Kafka { tp, offset } = p {
                self.offsets.done(&tp, offset);
            }
        }
        if let Some(publish) = &self.publish {
            publish.publish(&self.offsets.committable());
        }
        Ok(())
    }

    /// End of input: every buffered event is released in order, then (with
    /// `flush_timers_at_end`) every pending timer fires; the last alerts are delivered.
    pub fn finish(&mut self) -> Result<(), SinkClosed> {
        while let Some((t, p)) = self.buffer.pop() {
            self.run_event(t, p);
        }
        if self.opts.flush_timers_at_end
            && let Some(engine) = &mut self.engine
        {
            while let Some(t) = engine.next_timer() {
                engine.advance_to(t, &mut self.deliveries);
                let alerts = &mut self.alerts;
                alerts.build(engine, &mut self.deliveries, None, &mut self.outbox);
            }
        }
        self.deliver()
    }

    /// `late=1, malformed_json=2`, or empty.
    pub fn dead_letter_summary(&self) -> String {
        self.dead
            .counts()
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

type Decoders = (JsonLinesDecoder, HashMap<Arc<str>, JsonLinesDecoder>);

/// The decoder of records that name their type (or of `event_type`), and one per type.
fn decoders(registry: &TypeRegistry, event_type: Option<&str>) -> Result<Decoders, String> {
    let decoder = JsonLinesDecoder::new(registry.clone(), event_type)?;
    let mut typed = HashMap::new();
    for ty in registry.iter() {
        let d = JsonLinesDecoder::new(registry.clone(), Some(&ty.name))?;
        typed.insert(Arc::<str>::from(ty.name.as_str()), d);
    }
    Ok((decoder, typed))
}
