//! Aggregation state (the ungrouped row and every group) in checkpoint form.
use serde::{Deserialize, Serialize};

use super::{Group, ResultSet, Row, SlotTable};
use crate::aggregate::{AggRow, AggRowState};
use crate::checkpoint::events::{EventLinker, EventWriter, StateError, ValueRecord};
use crate::window::KeyMap;

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
        let mut groups = KeyMap::default();
        let slotted = self.slots.is_some();
        for (k, aggs, rep) in &saved.groups {
            let group = Group {
                aggs: AggRow::restore(specs, aggs, links)?,
                representative: links.event(*rep)?,
                touched: (0, 0),
                slot: u32::MAX,
            };
            let (idx, _) = groups.insert_full(links.key(k)?, group);
            if slotted {
                groups[idx].slot = idx as u32;
            }
        }
        if slotted {
            self.slots = Some(SlotTable::identity(groups.len()));
        }
        self.ungrouped = ungrouped;
        self.groups = groups;
        Ok(())
    }
}
