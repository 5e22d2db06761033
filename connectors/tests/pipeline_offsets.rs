//! The pipeline's offset bookkeeping: a Kafka offset becomes committable only once its event
//! has left the reorder buffer and every alert it produced was acknowledged (or, when a sink
//! gave up, written to the dead-letter file).
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cepheus_connectors::alert::Alert;
use cepheus_connectors::dead_letter::{DeadLetterTarget, DeadLetters};
use cepheus_connectors::pipeline::{Pipeline, PipelineOptions};
use cepheus_connectors::sink::{AlertSink, Rejected, SinkClosed};
use cepheus_connectors::source::{Position, Record, TopicPartition};
use cepheus_engine::{BoundScript, TypeRegistry, bind_script};

/// A sink that keeps what it accepted and refuses alerts whose `v` is in `refuse`.
struct Collecting {
    accepted: Arc<Mutex<Vec<Alert>>>,
    refuse: Vec<i64>,
}

impl AlertSink for Collecting {
    fn name(&self) -> &str {
        "collecting"
    }
    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed> {
        let mut rejected = Vec::new();
        for (index, a) in alerts.iter().enumerate() {
            if self.refuse.contains(&a.row["v"].as_i64().unwrap_or(-1)) {
                rejected.push(Rejected {
                    index,
                    error: "refused".into(),
                });
            } else {
                self.accepted.lock().expect("lock").push(a.clone());
            }
        }
        Ok(rejected)
    }
}

fn bound() -> BoundScript {
    let src = "create schema S(v long, ts long) starttimestamp ts;\n\
               @Name('positive') select v from S(v > 0);";
    let script = cepheus_parser::parse_script(src).expect("parses");
    bind_script(src, &script, &TypeRegistry::default()).expect("binds")
}

fn tp() -> TopicPartition {
    TopicPartition {
        topic: "t".into(),
        partition: 0,
    }
}

fn record(offset: i64, ts: i64, v: i64) -> Record {
    Record {
        position: Position::Kafka { tp: tp(), offset },
        payload: format!("{{\"v\":{v},\"ts\":{ts}}}").into_bytes(),
        event_type: Some("S".into()),
        timestamp: None,
    }
}

fn pipeline(refuse: Vec<i64>, dlq: &std::path::Path) -> (Pipeline, Arc<Mutex<Vec<Alert>>>) {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let sink = Collecting {
        accepted: accepted.clone(),
        refuse,
    };
    let dead = DeadLetters::open(&DeadLetterTarget::File(dlq.to_path_buf()), None, &[])
        .expect("dead-letter file");
    let opts = PipelineOptions {
        allowed_lateness: Duration::from_secs(1),
        ..PipelineOptions::default()
    };
    let p = Pipeline::new(bound(), None, vec![Box::new(sink)], dead, None, opts).expect("pipeline");
    (p, accepted)
}

fn committable(p: &Pipeline) -> i64 {
    p.offsets().committable().get(&tp()).copied().unwrap_or(-1)
}

#[test]
fn an_offset_is_committable_once_its_event_left_the_buffer_and_its_alerts_were_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut p, accepted) = pipeline(Vec::new(), &dir.path().join("dlq.jsonl"));
    let now = Instant::now();
    // Watermark 4000 after offset 11: offset 10 (ts 1000) runs, offset 11 (ts 5000) waits.
    p.process(vec![record(10, 1000, 1), record(11, 5000, 2)], now);
    assert_eq!(committable(&p), 10, "nothing is delivered before deliver()");
    p.deliver().expect("delivered");
    assert_eq!(committable(&p), 11);
    assert_eq!(accepted.lock().expect("lock").len(), 1);
    // Offset 12 (ts 7000, no alert) moves the watermark to 6000: offset 11 runs.
    p.process(vec![record(12, 7000, 0)], now);
    p.deliver().expect("delivered");
    assert_eq!(committable(&p), 12);
    p.finish().expect("delivered");
    assert_eq!(committable(&p), 13);
    let vs: Vec<i64> = accepted
        .lock()
        .expect("lock")
        .iter()
        .map(|a| a.row["v"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(vs, vec![1, 2]);
}

#[test]
fn an_alert_a_sink_refused_is_a_durable_dead_letter_before_its_offset_moves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dlq = dir.path().join("dlq.jsonl");
    let (mut p, accepted) = pipeline(vec![2], &dlq);
    let now = Instant::now();
    p.process(
        vec![record(0, 1000, 1), record(1, 1000, 2), record(2, 1000, 3)],
        now,
    );
    p.finish().expect("delivered");
    assert_eq!(committable(&p), 3);
    assert_eq!(accepted.lock().expect("lock").len(), 2);
    let letters = std::fs::read_to_string(&dlq).expect("dead letters");
    let letter: serde_json::Value =
        serde_json::from_str(letters.lines().next().unwrap_or("")).expect("JSON");
    assert_eq!(letter["dead_letter"], "sink_gave_up");
    assert_eq!(letter["position"]["sink"], "collecting");
    assert!(
        letter["raw"]
            .as_str()
            .is_some_and(|r| r.contains("\"v\":2"))
    );
    assert_eq!(p.dead_letters().counts().get("sink_gave_up"), Some(&1));
}
