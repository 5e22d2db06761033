//! An output limiter's pending rows and counters in checkpoint form.
use serde::{Deserialize, Serialize};

use super::OutputLimiter;
use crate::checkpoint::events::{EventLinker, EventWriter, StateError, ValueRecord};
use crate::result_set::{Row, RowRecord, StepRows};
use crate::time::EventTime;
use crate::window::KeyMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LimiterState {
    steps: Vec<(Vec<RowRecord>, Vec<RowRecord>)>,
    new_count: u64,
    old_count: u64,
    next_fire: Option<i64>,
    first_done: bool,
    group_first: Vec<(Vec<ValueRecord>, i64, u64)>,
    all_groups: Vec<(Vec<ValueRecord>, u64, Option<RowRecord>)>,
    seen: Vec<Vec<ValueRecord>>,
}

impl OutputLimiter {
    pub(crate) fn save(&self, w: &mut EventWriter) -> LimiterState {
        let rows = |rows: &[Row], w: &mut EventWriter| -> Vec<RowRecord> {
            rows.iter().map(|r| r.save(w)).collect()
        };
        LimiterState {
            steps: self
                .steps
                .iter()
                .map(|s| (rows(&s.insert, w), rows(&s.remove, w)))
                .collect(),
            new_count: self.new_count,
            old_count: self.old_count,
            next_fire: self.next_fire.map(|t| t.0),
            first_done: self.first_done,
            group_first: self
                .group_first
                .iter()
                .map(|(k, (t, n))| (w.key(k), t.0, *n))
                .collect(),
            all_groups: self
                .all_groups
                .iter()
                .map(|(k, (rep, row))| (w.key(k), w.event(rep), row.as_ref().map(|r| r.save(w))))
                .collect(),
            seen: self.seen.keys().map(|k| w.key(k)).collect(),
        }
    }

    /// Replaces this (fresh) limiter's state with the saved one.
    pub(crate) fn load(
        &mut self,
        saved: &LimiterState,
        links: &EventLinker,
    ) -> Result<(), StateError> {
        let rows = |rows: &[RowRecord]| -> Result<Vec<Row>, StateError> {
            rows.iter().map(|r| Row::restore(r, links)).collect()
        };
        let mut steps = Vec::with_capacity(saved.steps.len());
        for (insert, remove) in &saved.steps {
            steps.push(StepRows {
                insert: rows(insert)?,
                remove: rows(remove)?,
            });
        }
        let mut group_first = KeyMap::default();
        for (k, t, n) in &saved.group_first {
            group_first.insert(links.key(k)?, (EventTime(*t), *n));
        }
        let mut all_groups = KeyMap::default();
        for (k, rep, row) in &saved.all_groups {
            let row = row.as_ref().map(|r| Row::restore(r, links)).transpose()?;
            all_groups.insert(links.key(k)?, (links.event(*rep)?, row));
        }
        let mut seen = KeyMap::default();
        for k in &saved.seen {
            seen.insert(links.key(k)?, ());
        }
        self.steps = steps;
        self.new_count = saved.new_count;
        self.old_count = saved.old_count;
        self.next_fire = saved.next_fire.map(EventTime);
        self.first_done = saved.first_done;
        self.group_first = group_first;
        self.all_groups = all_groups;
        self.seen = seen;
        Ok(())
    }
}
