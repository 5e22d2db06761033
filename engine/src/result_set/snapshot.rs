//! Aggregation state (the ungrouped row and every group) in checkpoint form.
use serde::{Deserialize, Serialize};

use super::{Group, GroupTable, ResultSet, Row};
use crate::aggregate::{AggRow, AggRowState};
use crate::checkpoint::events::{EventLinker, EventWriter, StateError, ValueRecord};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResultSetState {
    ungrouped: AggRowState,
    /// Groups in first-seen order: key, aggregates, representative event.
    groups: Vec<(Vec<ValueRecord>, AggRowState, u64)>,
}

/// An output row held by an output limiter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RowRecord {
    key: Option<Vec<ValueRecord>>,
    values: Vec<ValueRecord>,
    sort: Vec<ValueRecord>,
}

impl Row {
    pub(crate) fn save(&self, w: &mut EventWriter) -> RowRecord {
        RowRecord {
            key: self.key.as_ref().map(|k| w.key(k)),
            values: w.values(&self.values),
            sort: w.values(&self.sort),
        }
    }

    pub(crate) fn restore(saved: &RowRecord, links: &EventLinker) -> Result<Row, StateError> {
        Ok(Row {
            key: saved.key.as_ref().map(|k| links.key(k)).transpose()?,
            values: links.values(&saved.values)?,
            sort: links.values(&saved.sort)?,
        })
    }
}

impl ResultSet {
    pub(crate) fn save(&self, w: &mut EventWriter) -> ResultSetState {
        ResultSetState {
            ungrouped: self.ungrouped.save(w),
            groups: self
                .groups
                .iter()
                .map(|(k, g)| (w.key(k), g.aggs.save(w), w.event(&g.representative)))
                .collect(),
        }
    }

    /// Replaces this (fresh) result set's state with the saved one.
    pub(crate) fn load(
        &mut self,
        saved: &ResultSetState,
        links: &EventLinker,
    ) -> Result<(), StateError> {
        let specs = &self.plan.aggregates;
        let ungrouped = AggRow::restore(specs, &saved.ungrouped, links)?;
        // Restored in saved order into a fresh table: the group saved at
        // position n is listed at place n.
        let mut groups = GroupTable::default();
        for (k, aggs, rep) in &saved.groups {
            let key = links.key(k)?;
            if groups.find_key(&key).is_some() {
                return Err(StateError::new(format!("group {key:?} is saved twice")));
            }
            let group = Group {
                aggs: AggRow::restore(specs, aggs, links)?,
                representative: links.event(*rep)?,
                touched: (0, 0),
            };
            groups.insert(key, group);
        }
        self.ungrouped = ungrouped;
        self.groups = groups;
        Ok(())
    }
}
