//! Aggregate state in checkpoint form, and back.
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{Acc, AggRow, AggSpec, AggState, Moments, SortKey};
use crate::checkpoint::events::{EventLinker, EventWriter, StateError, ValueRecord};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AggRowState {
    states: Vec<AggStateRecord>,
    events: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AggStateRecord {
    distinct: Option<Vec<(ValueRecord, u32)>>,
    acc: AccRecord,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum AccRecord {
    Count(i64),
    SumInt { sum: i64, n: i64 },
    SumFloat { sum: f64, n: i64 },
    Avg { sum: f64, n: i64 },
    Extreme { values: Vec<(ValueRecord, u32)> },
    Stddev { sum: f64, sum_sq: f64, n: i64 },
    Positional { values: Vec<(u64, ValueRecord)> },
}

impl AggRow {
    pub(crate) fn save(&self, w: &mut EventWriter) -> AggRowState {
        AggRowState {
            states: self.states.iter().map(|s| s.save(w)).collect(),
            events: self.events,
        }
    }

    pub(crate) fn restore(
        specs: &[AggSpec],
        saved: &AggRowState,
        links: &EventLinker,
    ) -> Result<AggRow, StateError> {
        if specs.len() != saved.states.len() {
            return Err(StateError::new(format!(
                "the saved row has {} aggregates, the statement {}",
                saved.states.len(),
                specs.len()
            )));
        }
        let states = specs
            .iter()
            .zip(&saved.states)
            .map(|(spec, s)| AggState::restore(spec, s, links))
            .collect::<Result<_, _>>()?;
        Ok(AggRow {
            states,
            events: saved.events,
        })
    }
}

impl AggState {
    fn save(&self, w: &mut EventWriter) -> AggStateRecord {
        let acc = match &self.acc {
            Acc::Count(n) => AccRecord::Count(*n),
            Acc::SumInt { sum, n } => AccRecord::SumInt { sum: *sum, n: *n },
            Acc::SumFloat { sum, n } => AccRecord::SumFloat { sum: *sum, n: *n },
            Acc::Avg { sum, n } => AccRecord::Avg { sum: *sum, n: *n },
            Acc::Extreme { values, .. } => AccRecord::Extreme {
                values: values.iter().map(|(k, n)| (w.value(&k.0), *n)).collect(),
            },
            Acc::Stddev(m) => AccRecord::Stddev {
                sum: m.sum,
                sum_sq: m.sum_sq,
                n: m.n,
            },
            Acc::Positional { values, .. } => AccRecord::Positional {
                values: values.iter().map(|(s, v)| (*s, w.value(v))).collect(),
            },
        };
        AggStateRecord {
            distinct: self
                .distinct
                .as_ref()
                .map(|d| d.iter().map(|(v, n)| (w.value(v), *n)).collect()),
            acc,
        }
    }

    fn restore(
        spec: &AggSpec,
        saved: &AggStateRecord,
        links: &EventLinker,
    ) -> Result<AggState, StateError> {
        let mut state = AggState::new(spec);
        let mismatch = || {
            StateError::new(format!(
                "the saved state of `{}` is of another aggregate",
                spec.text
            ))
        };
        state.acc = match (&state.acc, &saved.acc) {
            (Acc::Count(_), AccRecord::Count(n)) => Acc::Count(*n),
            (Acc::SumInt { .. }, AccRecord::SumInt { sum, n }) => Acc::SumInt { sum: *sum, n: *n },
            (Acc::SumFloat { .. }, AccRecord::SumFloat { sum, n }) => {
                Acc::SumFloat { sum: *sum, n: *n }
            }
            (Acc::Avg { .. }, AccRecord::Avg { sum, n }) => Acc::Avg { sum: *sum, n: *n },
            (Acc::Extreme { max, .. }, AccRecord::Extreme { values }) => {
                let mut map = BTreeMap::new();
                for (v, n) in values {
                    map.insert(SortKey(links.value(v)?), *n);
                }
                Acc::Extreme {
                    max: *max,
                    values: Box::new(map),
                }
            }
            (Acc::Stddev(_), AccRecord::Stddev { sum, sum_sq, n }) => {
                Acc::Stddev(Box::new(Moments {
                    sum: *sum,
                    sum_sq: *sum_sq,
                    n: *n,
                }))
            }
            (Acc::Positional { last, .. }, AccRecord::Positional { values }) => {
                let mut map = BTreeMap::new();
                for (s, v) in values {
                    map.insert(*s, links.value(v)?);
                }
                Acc::Positional {
                    last: *last,
                    values: Box::new(map),
                }
            }
            _ => return Err(mismatch()),
        };
        state.distinct = match (&state.distinct, &saved.distinct) {
            (None, None) => None,
            (Some(_), Some(seen)) => {
                let mut map = HashMap::default();
                for (v, n) in seen {
                    map.insert(links.value(v)?, *n);
                }
                Some(Box::new(map))
            }
            _ => return Err(mismatch()),
        };
        Ok(state)
    }
}
