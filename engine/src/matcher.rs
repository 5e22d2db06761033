//! The pattern matcher (issue 4): not implemented yet. The engine refuses
//! pattern statements (see `Engine::new`) so none reaches this type.
use std::sync::Arc;

use crate::pattern::PatternPlan;
use crate::time::EventTime;
use crate::value::Value;
use crate::window::EventRef;

#[derive(Debug)]
pub struct PatternMatcher {
    plan: Arc<PatternPlan>,
}

impl PatternMatcher {
    pub fn new(plan: Arc<PatternPlan>, _start: EventTime) -> PatternMatcher {
        PatternMatcher { plan }
    }
    /// Feeds an event; completed matches (one value per tag) go to `out`.
    pub fn on_event(&mut self, _event: &EventRef, _out: &mut Vec<Box<[Value]>>) {
        let _ = &self.plan;
    }
    pub fn next_timer(&self) -> Option<EventTime> {
        None
    }
    pub fn on_time(&mut self, _now: EventTime, _out: &mut Vec<Box<[Value]>>) {}
    pub fn live_instances(&self) -> usize {
        0
    }
}

/// Whether pattern statements can run.
pub const SUPPORTED: bool = false;
