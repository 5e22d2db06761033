//! Observing the alerts without slowing the pipeline: every sink is wrapped to count what
//! it acknowledged, and a last pseudo-sink counts alerts per rule and copies them to `/tap`
//! watchers through small bounded buffers that drop the newest row when full.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cepheus_connectors::alert::Alert;
use cepheus_connectors::sink::{AlertSink, Rejected, SinkClosed};
use tokio::sync::mpsc;

use super::metrics::Metrics;

/// Rows buffered per watcher; past it new rows are dropped for that watcher.
pub const TAP_BUFFER: usize = 256;

struct Watcher {
    rule: String,
    tx: mpsc::Sender<String>,
}

/// The `/tap` watchers.
#[derive(Default)]
pub struct Tap {
    watchers: Mutex<Vec<Watcher>>,
    count: AtomicUsize,
}

impl Tap {
    /// A stream of `rule`'s alerts (JSON) from now on.
    pub fn watch(&self, rule: &str) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(TAP_BUFFER);
        let mut w = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        w.push(Watcher {
            rule: rule.to_string(),
            tx,
        });
        self.count.store(w.len(), Ordering::Relaxed);
        rx
    }

    /// Copies `alerts` to their rule's watchers; returns how many copies were dropped.
    fn publish(&self, alerts: &[Alert]) -> u64 {
        if self.count.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let mut dropped = 0;
        let mut w = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        w.retain(|w| !w.tx.is_closed());
        for a in alerts {
            for watcher in w.iter().filter(|w| *w.rule == *a.rule) {
                if watcher.tx.try_send(a.to_json().to_string()).is_err() {
                    dropped += 1;
                }
            }
        }
        self.count.store(w.len(), Ordering::Relaxed);
        dropped
    }
}

/// A real sink, counting what it acknowledged.
pub struct CountingSink {
    inner: Box<dyn AlertSink>,
    metrics: Arc<Metrics>,
}

impl CountingSink {
    pub fn wrap(inner: Box<dyn AlertSink>, metrics: Arc<Metrics>) -> Box<dyn AlertSink> {
        Box::new(CountingSink { inner, metrics })
    }
}

impl AlertSink for CountingSink {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed> {
        let rejected = self.inner.deliver(alerts)?;
        let ok = alerts.len().saturating_sub(rejected.len()) as u64;
        let mut m = self.metrics.lock();
        *m.alerts_by_sink
            .entry(self.inner.name().to_string())
            .or_default() += ok;
        Ok(rejected)
    }
}

/// The last sink: counts alerts per rule and feeds the tap. Never rejects.
pub struct TapSink {
    tap: Arc<Tap>,
    metrics: Arc<Metrics>,
}

impl TapSink {
    pub fn boxed(tap: Arc<Tap>, metrics: Arc<Metrics>) -> Box<dyn AlertSink> {
        Box::new(TapSink { tap, metrics })
    }
}

impl AlertSink for TapSink {
    fn name(&self) -> &str {
        "tap"
    }
    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed> {
        let dropped = self.tap.publish(alerts);
        let mut m = self.metrics.lock();
        for a in alerts {
            *m.events_out.entry(a.rule.to_string()).or_default() += 1;
        }
        m.tap_dropped += dropped;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str, n: i64) -> Alert {
        Alert {
            alert_id: format!("{n}"),
            rule: rule.into(),
            stream: "insert",
            time: n,
            row: serde_json::Map::new(),
            key: String::new(),
        }
    }

    #[test]
    fn a_slow_watcher_loses_the_newest_rows_and_the_sink_never_waits() {
        let tap = Arc::new(Tap::default());
        let metrics = Arc::new(Metrics::default());
        let mut rx = tap.watch("hot");
        let mut sink = TapSink::boxed(tap.clone(), metrics.clone());
        let batch: Vec<Alert> = (0..TAP_BUFFER as i64 + 10)
            .map(|n| alert("hot", n))
            .collect();
        let other = [alert("cold", 0)];
        assert_eq!(sink.deliver(&batch).map(|r| r.len()).ok(), Some(0));
        assert_eq!(sink.deliver(&other).map(|r| r.len()).ok(), Some(0));
        assert_eq!(metrics.lock().tap_dropped, 10);
        assert_eq!(metrics.lock().events_out["hot"], TAP_BUFFER as u64 + 10);
        // The oldest rows are kept, in order.
        let first = rx.try_recv().expect("a row");
        assert!(first.contains("\"alert_id\":\"0\""), "{first}");
        drop(rx);
        assert_eq!(sink.deliver(&batch).map(|r| r.len()).ok(), Some(0));
        assert_eq!(
            tap.count.load(Ordering::Relaxed),
            0,
            "closed watchers are dropped"
        );
    }
}
