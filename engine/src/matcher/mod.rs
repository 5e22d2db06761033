//! The pattern matcher: runs `pattern [...]` with Esper's semantics.
//!
//! The design follows Esper's evaluation state tree. Every started
//! sub-expression is a state node ([`state::St`]) with a parent; a node tells
//! its parent when it turns true (with the tags of the partial match, and
//! whether it quit) or permanently false, and a parent quits its children.
//! The operator rules live in `ops.rs`; `compile.rs` flattens the plan;
//! `index.rs` narrows the filter instances an event visits.
//!
//! Event processing takes a snapshot of the filter instances the event can
//! match before any of them runs, as Esper's filter service does: an instance
//! started while the event is processed (the `b=B` started by the `a=A` the
//! same event completed) does not see that event, and an instance quit in
//! the meantime ignores it.
//!
//! State is bounded: sub-expressions started at run time (each step of a
//! followed-by, each restart of `every`, each repeat round) and partial
//! matches held by `and` count as instances; at `max_instances` new ones are
//! dropped and counted in [`PatternMatcher::dropped_instances`].
mod compile;
mod index;
mod ops;
mod snapshot;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use compile::{Compiled, Op};
use index::FilterIndex;
use state::{Arena, NodeRef, Parent, Tags, TimerKey};

use crate::pattern::PatternPlan;

use crate::time::EventTime;
use crate::value::Value;
use crate::window::EventRef;
pub(crate) use snapshot::MatcherState;

#[derive(Debug)]
pub struct PatternMatcher {
    plan: Arc<PatternPlan>,
    ops: Arc<Vec<Op>>,
    arena: Arena,
    index: FilterIndex,
    timers: BTreeMap<TimerKey, NodeRef>,
    timer_seq: u64,
    /// The root's child while the pattern is alive.
    top: Option<NodeRef>,
    /// Spawn probes of `every` restarts in progress (innermost last).
    probes: Vec<bool>,
    now: EventTime,
    /// Matches completed by the current event or timer.
    matches: Vec<Box<[Value]>>,
    instances: usize,
    dropped: u64,
    /// Filter instances an event was offered to (for tests of the index).
    filter_checks: u64,
    /// The candidates of the current event (kept to reuse its allocation).
    candidates: Vec<NodeRef>,
}

impl PatternMatcher {
    /// Starts the pattern at engine time `start`.
    pub fn new(plan: Arc<PatternPlan>, start: EventTime) -> PatternMatcher {
        let compiled = Compiled::new(&plan);
        let index = FilterIndex::new(&compiled.filters());
        let root = compiled.root;
        let mut m = PatternMatcher {
            ops: Arc::new(compiled.ops),
            index,
            arena: Arena::default(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            top: None,
            probes: Vec::new(),
            now: start,
            matches: Vec::new(),
            instances: 0,
            dropped: 0,
            filter_checks: 0,
            candidates: Vec::new(),
            plan,
        };
        let begin: Tags = vec![Value::Null; m.plan.tags.len()].into();
        let top = m.alloc(root, Parent::Root, false);
        m.top = Some(top);
        m.init(top, begin);
        // A match while the statement starts reaches no listener (Esper adds
        // listeners after the statement started).
        m.matches.clear();
        m
    }

    /// Feeds an event; completed matches (one value per tag) go to `out`,
    /// in the order they completed.
    pub fn on_event(&mut self, event: &EventRef, out: &mut Vec<Box<[Value]>>) {
        self.now = self.now.max(event.time);
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        self.index.candidates(event, &mut candidates);
        if candidates.len() > 1 {
            candidates.sort_unstable_by_key(|r| r.seq);
        }
        for &r in &candidates {
            self.filter_event(r, event);
        }
        candidates.clear();
        self.candidates = candidates;
        out.append(&mut self.matches);
    }

    /// The earliest pending pattern timer.
    pub fn next_timer(&self) -> Option<EventTime> {
        self.timers.keys().next().map(|(t, _)| *t)
    }

    /// Fires every timer due at or before `now`, in time order.
    pub fn on_time(&mut self, now: EventTime, out: &mut Vec<Box<[Value]>>) {
        while let Some((&key, &r)) = self.timers.iter().next() {
            if key.0 > now {
                break;
            }
            self.timers.remove(&key);
            self.now = self.now.max(key.0);
            self.fire(r);
        }
        self.now = self.now.max(now);
        out.append(&mut self.matches);
    }

    /// Live instances: sub-expressions started at run time and partial
    /// matches held by `and`.
    pub fn live_instances(&self) -> usize {
        self.instances
    }

    /// Instances not started (or partial matches not kept) because the
    /// pattern was at `max_instances`.
    pub fn dropped_instances(&self) -> u64 {
        self.dropped
    }

    /// Live state nodes of every kind (operators, filters, timers).
    pub fn live_nodes(&self) -> usize {
        self.arena.live()
    }

    /// Whether the pattern can still match (it ends after its one match
    /// without `every`, or when it turns permanently false).
    pub fn is_active(&self) -> bool {
        self.top.is_some_and(|t| self.arena.alive(t))
    }
}

/// Whether pattern statements can run.
pub const SUPPORTED: bool = true;
