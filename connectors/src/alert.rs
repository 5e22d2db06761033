//! Alerts: one JSON object per output row, `{alert_id, rule, stream, time, row}`.
//!
//! `alert_id` is deterministic: blake3 over the rule's name, a hash of its text, the engine
//! time, the position of the record whose processing produced the row (none for a timer),
//! the row's index within its delivery and the row itself. Replaying the same input gives
//! the same ids, so sinks and their consumers can drop duplicates.
use std::collections::HashMap;
use std::sync::Arc;

use cepheus_engine::expr::BoundExpr;
use cepheus_engine::plan::StatementPlan;
use cepheus_engine::{Delivery, Engine};

use crate::source::Position;

/// One output row of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub alert_id: String,
    pub rule: Arc<str>,
    /// `insert` or `remove` (the remove stream of `irstream`/`rstream` rules).
    pub stream: &'static str,
    pub time: i64,
    pub row: serde_json::Map<String, serde_json::Value>,
    /// The group key (values of the `group by` columns) or the rule name: the Kafka key.
    pub key: String,
}

impl Alert {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "alert_id": self.alert_id,
            "rule": &*self.rule,
            "stream": self.stream,
            "time": self.time,
            "row": self.row,
        })
    }
}

/// What alert building needs to know about a statement, computed once.
#[derive(Debug, Clone)]
pub struct RuleIdentity {
    name: Arc<str>,
    text_hash: blake3::Hash,
    /// Output columns that are `group by` keys.
    key_columns: Vec<usize>,
}

impl RuleIdentity {
    pub fn of(plan: &StatementPlan) -> Self {
        let grouped: Vec<usize> = plan
            .group_by
            .iter()
            .filter_map(|g| match g {
                BoundExpr::Field(i) => Some(*i),
                _ => None,
            })
            .collect();
        let key_columns = plan
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.expr, BoundExpr::Field(i) if grouped.contains(&i)))
            .map(|(i, _)| i)
            .collect();
        RuleIdentity {
            name: plan.name.as_str().into(),
            text_hash: blake3::hash(plan.text.as_bytes()),
            key_columns,
        }
    }
}

/// Turns engine deliveries into alerts.
#[derive(Debug, Default)]
pub struct AlertBuilder {
    /// By statement id (stable while statements are added and removed).
    rules: HashMap<usize, RuleIdentity>,
}

impl AlertBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets a statement's identity (after it was removed or replaced).
    pub fn forget(&mut self, statement: usize) {
        self.rules.remove(&statement);
    }

    /// Appends the alerts of `deliveries` (produced while processing the record at
    /// `trigger`, or by timers when `None`). Rows of `insert into` statements feed other
    /// statements and are not alerts, unless the statement is marked `@Output`.
    pub fn build(
        &mut self,
        engine: &Engine,
        deliveries: &mut Vec<Delivery>,
        trigger: Option<&Position>,
        out: &mut Vec<Alert>,
    ) {
        let trigger = trigger.map_or_else(|| "timer".to_string(), Position::identity);
        for d in deliveries.drain(..) {
            let plan = engine.plan(d.statement);
            if !plan.alerts {
                continue;
            }
            let rule = self
                .rules
                .entry(d.statement)
                .or_insert_with(|| RuleIdentity::of(plan));
            let mut index = 0u32;
            for (stream, rows) in [("insert", &d.output.insert), ("remove", &d.output.remove)] {
                for values in rows {
                    let row = plan.row_json(values);
                    let row_text = serde_json::Value::Object(row.clone()).to_string();
                    let mut h = blake3::Hasher::new();
                    for part in [
                        rule.name.as_bytes(),
                        rule.text_hash.as_bytes(),
                        &d.time.0.to_le_bytes(),
                        trigger.as_bytes(),
                        stream.as_bytes(),
                        &index.to_le_bytes(),
                        row_text.as_bytes(),
                    ] {
                        h.update(&(part.len() as u64).to_le_bytes());
                        h.update(part);
                    }
                    let id = h.finalize().to_hex();
                    let key = if rule.key_columns.is_empty() {
                        rule.name.to_string()
                    } else {
                        rule.key_columns
                            .iter()
                            .filter_map(|c| values.get(*c).map(key_text))
                            .collect::<Vec<_>>()
                            .join("|")
                    };
                    out.push(Alert {
                        alert_id: id[..32].to_string(),
                        rule: rule.name.clone(),
                        stream,
                        time: d.time.0,
                        row,
                        key,
                    });
                    index += 1;
                }
            }
        }
    }
}

/// A group-key value as Kafka key text: strings as they are, other values as JSON.
fn key_text(v: &cepheus_engine::Value) -> String {
    match v.to_json() {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}
