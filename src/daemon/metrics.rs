//! The daemon's counters and gauges, written by the engine thread and read by the admin
//! API. One mutex around plain maps: the engine thread updates them once per step (a batch),
//! so contention is negligible. Rendered as Prometheus text.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// State held by one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StateSize {
    pub window_events: usize,
    pub group_keys: usize,
    pub pattern_instances: usize,
}

/// How a reload ended (the `outcome` label of `cepheus_reload_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReloadOutcome {
    Applied,
    Unchanged,
    Rejected,
}

impl ReloadOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadOutcome::Applied => "applied",
            ReloadOutcome::Unchanged => "unchanged",
            ReloadOutcome::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Default)]
pub struct Values {
    /// Records read, per source (`topic/partition` or the file).
    pub events_in: BTreeMap<String, u64>,
    /// Events run through the engine.
    pub events_processed: u64,
    /// Alerts per rule.
    pub events_out: BTreeMap<String, u64>,
    /// Alerts acknowledged, per sink.
    pub alerts_by_sink: BTreeMap<String, u64>,
    /// Dead letters per reason (`late` among them).
    pub dead_letters: BTreeMap<String, u64>,
    /// Per partition: records whose effects are delivered but not yet in a durable
    /// checkpoint, so not committed (the consumer group's lag behind the pipeline).
    pub uncommitted: BTreeMap<String, i64>,
    /// Per partition: records on the broker past the consumer's position.
    pub consumer_lag: BTreeMap<String, i64>,
    pub records_in_flight: u64,
    pub state: BTreeMap<String, StateSize>,
    pub engine_time_ms: i64,
    pub checkpoints: BTreeMap<&'static str, u64>,
    pub checkpoint_last_seconds: f64,
    pub checkpoint_last_bytes: u64,
    pub reloads: BTreeMap<ReloadOutcome, u64>,
    /// Tap rows dropped because a watcher was slow.
    pub tap_dropped: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    values: Mutex<Values>,
}

impl Metrics {
    pub fn lock(&self) -> MutexGuard<'_, Values> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reload(&self, outcome: ReloadOutcome) {
        *self.lock().reloads.entry(outcome).or_default() += 1;
    }

    pub fn checkpoint_written(&self, took: Duration, bytes: u64) {
        let mut v = self.lock();
        *v.checkpoints.entry("ok").or_default() += 1;
        v.checkpoint_last_seconds = took.as_secs_f64();
        v.checkpoint_last_bytes = bytes;
    }

    pub fn checkpoint_failed(&self) {
        *self.lock().checkpoints.entry("failed").or_default() += 1;
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let v = self.lock();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let by = |label: &str, m: &BTreeMap<String, u64>| -> Vec<(String, String)> {
            m.iter()
                .map(|(k, n)| (format!("{{{label}=\"{}\"}}", escape(k)), n.to_string()))
                .collect()
        };
        let one = |x: String| vec![(String::new(), x)];
        family(
            "cepheus_events_in_total",
            "counter",
            "Records read, per source.",
            by("source", &v.events_in),
        );
        family(
            "cepheus_events_processed_total",
            "counter",
            "Events run through the engine.",
            one(v.events_processed.to_string()),
        );
        family(
            "cepheus_events_out_total",
            "counter",
            "Alerts produced, per rule.",
            by("rule", &v.events_out),
        );
        family(
            "cepheus_alerts_delivered_total",
            "counter",
            "Alerts acknowledged, per sink.",
            by("sink", &v.alerts_by_sink),
        );
        let late = v.dead_letters.get("late").copied().unwrap_or(0);
        family(
            "cepheus_late_events_total",
            "counter",
            "Events older than the watermark (dead-lettered as late).",
            one(late.to_string()),
        );
        family(
            "cepheus_dead_letters_total",
            "counter",
            "Dead letters, per reason.",
            by("reason", &v.dead_letters),
        );
        let lag = v
            .uncommitted
            .iter()
            .map(|(p, n)| (format!("{{partition=\"{}\"}}", escape(p)), n.to_string()))
            .collect();
        family(
            "cepheus_uncommitted_records",
            "gauge",
            "Records processed but not committed yet (not in a durable checkpoint), per partition.",
            lag,
        );
        let consumer_lag = v
            .consumer_lag
            .iter()
            .map(|(p, n)| (format!("{{partition=\"{}\"}}", escape(p)), n.to_string()))
            .collect();
        family(
            "cepheus_consumer_lag",
            "gauge",
            "Records on the broker past the consumer's position, per partition.",
            consumer_lag,
        );
        family(
            "cepheus_records_in_flight",
            "gauge",
            "Records received whose effects are not delivered yet.",
            one(v.records_in_flight.to_string()),
        );
        let mut state = Vec::new();
        for (rule, s) in &v.state {
            for (kind, n) in [
                ("window_events", s.window_events),
                ("group_keys", s.group_keys),
                ("pattern_instances", s.pattern_instances),
            ] {
                state.push((
                    format!("{{rule=\"{}\",kind=\"{kind}\"}}", escape(rule)),
                    n.to_string(),
                ));
            }
        }
        family(
            "cepheus_rule_state",
            "gauge",
            "State held per rule: window events, group keys, pattern instances.",
            state,
        );
        family(
            "cepheus_engine_time_milliseconds",
            "gauge",
            "Engine (event) time.",
            one(v.engine_time_ms.to_string()),
        );
        family(
            "cepheus_checkpoints_total",
            "counter",
            "Checkpoints written, by outcome.",
            v.checkpoints
                .iter()
                .map(|(k, n)| (format!("{{outcome=\"{k}\"}}"), n.to_string()))
                .collect(),
        );
        family(
            "cepheus_checkpoint_duration_seconds",
            "gauge",
            "How long the last checkpoint took to write.",
            one(format!("{:.6}", v.checkpoint_last_seconds)),
        );
        family(
            "cepheus_checkpoint_size_bytes",
            "gauge",
            "Size of the last checkpoint.",
            one(v.checkpoint_last_bytes.to_string()),
        );
        family(
            "cepheus_reload_total",
            "counter",
            "Rule reloads, by outcome.",
            v.reloads
                .iter()
                .map(|(k, n)| (format!("{{outcome=\"{}\"}}", k.as_str()), n.to_string()))
                .collect(),
        );
        family(
            "cepheus_tap_dropped_total",
            "counter",
            "Rows a slow /tap watcher did not get.",
            one(v.tap_dropped.to_string()),
        );
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_and_type_and_labels_are_escaped() {
        let m = Metrics::default();
        m.lock().events_out.insert("a\"b".into(), 3);
        m.reload(ReloadOutcome::Rejected);
        let text = m.render();
        assert!(text.contains("# TYPE cepheus_events_out_total counter"));
        assert!(text.contains("cepheus_events_out_total{rule=\"a\\\"b\"} 3"));
        assert!(text.contains("cepheus_reload_total{outcome=\"rejected\"} 1"));
    }
}
