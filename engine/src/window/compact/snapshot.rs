//! A compact window's state in checkpoint form, and back. An entry's group
//! is saved as the group's position in the saved result set, which the
//! result set maps to and from its slots.
use serde::{Deserialize, Serialize};

use super::{CompactKind, CompactWindow, GroupSlot, Retained};
use crate::checkpoint::events::{EventLinker, EventWriter, StateError, ValueRecord};
use crate::time::EventTime;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum CompactState {
    NoWindow,
    Length(Vec<RetainedRecord>),
    LengthBatch {
        current: Vec<RetainedRecord>,
        previous: Vec<RetainedRecord>,
    },
    Time(Vec<RetainedRecord>),
    TimeBatch {
        reference: Option<i64>,
        next_flush: Option<i64>,
        current: Vec<RetainedRecord>,
        previous: Vec<RetainedRecord>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RetainedRecord {
    time: i64,
    seq: u64,
    /// The group's position among the saved groups; none if not counted.
    group: Option<u32>,
    args: Vec<ValueRecord>,
}

impl CompactWindow {
    /// `position` maps a slot to its group's position in the saved groups.
    pub(crate) fn save(&self, w: &mut EventWriter, position: &dyn Fn(u32) -> u32) -> CompactState {
        let mut records = |entries: &mut dyn Iterator<Item = &Retained>| -> Vec<RetainedRecord> {
            entries
                .map(|e| RetainedRecord {
                    time: e.time,
                    seq: e.seq,
                    group: e.slot().map(position),
                    args: w.values(e.inputs().as_slice()),
                })
                .collect()
        };
        match &self.kind {
            CompactKind::NoWindow { .. } => CompactState::NoWindow,
            CompactKind::Length { entries, .. } => {
                CompactState::Length(records(&mut entries.iter()))
            }
            CompactKind::Time { entries, .. } => CompactState::Time(records(&mut entries.iter())),
            CompactKind::LengthBatch {
                current, previous, ..
            } => CompactState::LengthBatch {
                current: records(&mut current.iter()),
                previous: records(&mut previous.iter()),
            },
            CompactKind::TimeBatch(w) => CompactState::TimeBatch {
                reference: w.reference,
                next_flush: w.next_flush.map(|t| t.0),
                current: records(&mut w.current.iter()),
                previous: records(&mut w.previous.iter()),
            },
        }
    }

    /// Replaces this fresh window's entries with the saved ones; `slot` maps
    /// a saved group position to the restored group's slot (none if there is
    /// no such group: the state is damaged).
    pub(crate) fn load(
        &mut self,
        saved: &CompactState,
        links: &EventLinker,
        slot: &dyn Fn(u32) -> Option<u32>,
        aggregates: usize,
    ) -> Result<(), StateError> {
        let restore = |records: &[RetainedRecord]| -> Result<Vec<Retained>, StateError> {
            records
                .iter()
                .map(|r| {
                    let group = match r.group {
                        Some(g) => GroupSlot::of(slot(g).ok_or_else(|| {
                            StateError::new("a window entry names a group that was not saved")
                        })?),
                        None => GroupSlot::NOT_COUNTED,
                    };
                    let args = links.values(&r.args)?;
                    if group.get().is_some() && args.len() != aggregates {
                        return Err(StateError::new(
                            "a window entry holds another number of aggregate inputs",
                        ));
                    }
                    Ok(Retained::new(r.time, r.seq, group, args.into()))
                })
                .collect()
        };
        match (&mut self.kind, saved) {
            (CompactKind::NoWindow { last }, CompactState::NoWindow) => last.clear(),
            (CompactKind::Length { entries, .. }, CompactState::Length(s))
            | (CompactKind::Time { entries, .. }, CompactState::Time(s)) => {
                *entries = restore(s)?.into();
            }
            (
                CompactKind::LengthBatch {
                    current, previous, ..
                },
                CompactState::LengthBatch {
                    current: c,
                    previous: p,
                },
            ) => {
                *current = restore(c)?;
                *previous = restore(p)?;
            }
            (
                CompactKind::TimeBatch(w),
                CompactState::TimeBatch {
                    reference,
                    next_flush,
                    current,
                    previous,
                },
            ) => {
                w.reference = *reference;
                w.next_flush = next_flush.map(EventTime);
                w.current = restore(current)?;
                w.previous = restore(previous)?;
            }
            _ => return Err(StateError::new("the saved window is of another kind")),
        }
        Ok(())
    }
}
