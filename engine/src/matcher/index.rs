//! The filter index: which live filter instances an event can complete.
//!
//! A filter with an equality conjunct on an earlier tag (`b=B(id = a.id)`)
//! keeps its instances in buckets by the tag's value, so an event only visits
//! the instances whose key equals its own field; other filters keep one list.
//! The index only narrows the candidates: the whole filter is still checked.
use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use super::compile::FilterOp;
use super::state::NodeRef;
use crate::event::Event;
use crate::expr::{BoundExpr, Scope};
use crate::value::Value;

/// Instances in creation order.
type Bucket = BTreeMap<u64, NodeRef>;

#[derive(Debug)]
pub(super) struct Slot {
    key_field: Option<usize>,
    /// The filter's conjuncts on the event alone: an event failing them
    /// visits none of the slot's instances.
    pre: Option<BoundExpr>,
    pub all: Bucket,
    pub keyed: HashMap<Value, Bucket, RandomState>,
}

#[derive(Debug)]
pub(super) struct FilterIndex {
    pub slots: Vec<Slot>,
    /// Per event type id, the slots of filters on that type.
    by_type: Vec<Vec<usize>>,
}

impl FilterIndex {
    pub fn new(filters: &[&FilterOp]) -> FilterIndex {
        let mut by_type: Vec<Vec<usize>> = Vec::new();
        let slots = filters
            .iter()
            .map(|f| {
                let ty = f.event_type.0 as usize;
                if by_type.len() <= ty {
                    by_type.resize_with(ty + 1, Vec::new);
                }
                by_type[ty].push(f.slot);
                Slot {
                    key_field: f.key.map(|k| k.event_field),
                    pre: f.pre.clone(),
                    all: Bucket::new(),
                    keyed: HashMap::default(),
                }
            })
            .collect();
        FilterIndex { slots, by_type }
    }

    /// Registers a started filter instance; `key` is its equality value when
    /// the filter has an equality key. A null key never matches (`x = null`
    /// is not true), so such an instance is not registered at all.
    pub fn insert(&mut self, slot: usize, key: Option<&Value>, r: NodeRef) {
        let s = &mut self.slots[slot];
        match (s.key_field, key) {
            (Some(_), Some(k)) if !k.is_null() => {
                s.keyed.entry(k.clone()).or_default().insert(r.seq, r);
            }
            (Some(_), _) => {}
            (None, _) => {
                s.all.insert(r.seq, r);
            }
        }
    }

    pub fn remove(&mut self, slot: usize, key: Option<&Value>, r: NodeRef) {
        let s = &mut self.slots[slot];
        match (s.key_field, key) {
            (Some(_), Some(k)) => {
                if let Some(b) = s.keyed.get_mut(k) {
                    b.remove(&r.seq);
                    if b.is_empty() {
                        s.keyed.remove(k);
                    }
                }
            }
            (Some(_), None) => {}
            (None, _) => {
                s.all.remove(&r.seq);
            }
        }
    }

    /// The instances `event` may complete, appended to `out` (unordered
    /// across filters).
    pub fn candidates(&self, event: &Event, out: &mut Vec<NodeRef>) {
        let Some(slots) = self.by_type.get(event.ty.id.0 as usize) else {
            return;
        };
        let passes = |s: &Slot| {
            s.pre
                .as_ref()
                .is_none_or(|p| p.is_true(&Scope::event(event)))
        };
        for &slot in slots {
            let s = &self.slots[slot];
            let bucket = match s.key_field {
                // The event-only conjuncts (`amount_usd > 50000`) are a field
                // compare; the bucket look-up hashes the key (often a
                // string): most events are rejected before it.
                Some(_) if s.keyed.is_empty() || !passes(s) => continue,
                Some(f) => {
                    let v = event.get(f);
                    if v.is_null() {
                        continue;
                    }
                    match s.keyed.get(v) {
                        Some(b) => b,
                        None => continue,
                    }
                }
                None if s.all.is_empty() || !passes(s) => continue,
                None => &s.all,
            };
            out.extend(bucket.values().copied());
        }
    }

    /// Registered instances (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.all.len() + s.keyed.values().map(BTreeMap::len).sum::<usize>())
            .sum()
    }
}
