//! One statement's whole state (window, pattern instances, aggregation,
//! output limiter) in checkpoint form, and back.
use serde::{Deserialize, Serialize};

use super::{Held, Statement};
use crate::checkpoint::events::{EventLinker, EventWriter, StateError};
use crate::matcher::{MatcherState, PatternMatcher};
use crate::output::LimiterState;
use crate::plan::InputPlan;
use crate::result_set::ResultSetState;
use crate::window::compact::CompactState;
use crate::window::{Window, WindowState};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatementState {
    window: Option<WindowState>,
    /// A window that keeps aggregate inputs (then `window` is `None`).
    compact: Option<CompactState>,
    matcher: Option<MatcherState>,
    result: ResultSetState,
    limiter: LimiterState,
}

impl Statement {
    /// The statement's state, between steps.
    pub(crate) fn save(&self, w: &mut EventWriter) -> StatementState {
        StatementState {
            window: self.held.window().map(|x| x.save(w)),
            compact: match &self.held {
                Held::AggregateInputs(c) => {
                    Some(c.save(w, &|slot| self.result.slot_position(slot)))
                }
                Held::Events(_) => None,
            },
            matcher: self.matcher.as_ref().map(|m| m.save(w)),
            result: self.result.save(w),
            limiter: self.limiter.save(w),
        }
    }

    /// Replaces this fresh statement's state with the saved one. The plan
    /// must have the fingerprint of the plan the state was saved from. On
    /// error the statement may hold part of the state: discard it.
    pub(crate) fn load(
        &mut self,
        saved: &StatementState,
        links: &EventLinker,
    ) -> Result<(), StateError> {
        if let Held::AggregateInputs(c) = &mut self.held {
            let (Some(state), None, None) = (&saved.compact, &saved.window, &saved.matcher) else {
                return Err(StateError::new(
                    "the saved state is of another kind of statement",
                ));
            };
            self.result.load(&saved.result, links)?;
            let result = &self.result;
            let aggregates = self.plan.aggregates.len();
            c.load(state, links, &|p| result.restored_slot(p), aggregates)?;
            if c.counts_on_arrival() {
                self.result.restore_batch(c.collecting());
            }
            return self.limiter.load(&saved.limiter, links);
        }
        if saved.compact.is_some() {
            return Err(StateError::new(
                "the saved state is of another kind of statement",
            ));
        }
        match (&self.plan.input, &saved.window, &saved.matcher) {
            (InputPlan::Stream { window: None, .. }, None, None) => {}
            (
                InputPlan::Stream {
                    window: Some(spec), ..
                },
                Some(w),
                None,
            ) => {
                self.held = Held::Events(Some(Window::restore(spec, w, links)?));
            }
            (InputPlan::Pattern(p), None, Some(m)) => {
                self.matcher = Some(PatternMatcher::restore(p.clone(), m, links)?);
            }
            _ => {
                return Err(StateError::new(
                    "the saved state is of another kind of statement",
                ));
            }
        }
        self.result.load(&saved.result, links)?;
        self.limiter.load(&saved.limiter, links)
    }

    /// The type of this statement's pattern matches, if it has a pattern.
    pub(crate) fn match_type(&self) -> Option<&std::sync::Arc<crate::schema::EventType>> {
        self.match_type.as_ref()
    }
}
