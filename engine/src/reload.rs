//! Hot reload: replace the running rule set with a new one while keeping the
//! state of every statement that did not change.
use std::collections::HashMap;

use crate::binder::BoundScript;
use crate::checkpoint::{Loaded, SavedState};
use crate::engine::{Engine, UnsupportedError, check_supported};
use crate::statement::Statement;

/// What a reload did, by statement name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Same name and fingerprint: they keep their state and their id.
    pub kept: Vec<String>,
    /// New names: they start at the engine's current time.
    pub added: Vec<String>,
    /// Same name, new fingerprint (their text or an event type they use
    /// changed): their state is dropped and they start at the current time.
    pub changed: Vec<String>,
    /// Names no longer in the rule set: their state is dropped.
    pub removed: Vec<String>,
}

impl Engine {
    /// Replaces the running statements with those of `bound` (bound on its
    /// own, from an empty or base registry: type ids may differ from the
    /// running ones). Statements are matched by name and fingerprint; kept
    /// ones continue exactly where they were and emit nothing extra.
    ///
    /// All or nothing: on error the engine runs the old rule set untouched.
    /// Kept statements keep their stable ids; added and changed ones get new ids.
    pub fn reload(&mut self, bound: BoundScript) -> Result<ReloadReport, UnsupportedError> {
        for plan in &bound.statements {
            check_supported(plan)?;
        }
        let old: HashMap<&str, (u64, usize)> = self
            .statements
            .iter()
            .zip(&self.ids)
            .map(|(s, id)| (s.plan.name.as_str(), (s.plan.fingerprint, *id)))
            .collect();
        let mut statements: Vec<Statement> = bound
            .statements
            .into_iter()
            .map(|p| Statement::new(p, self.now))
            .collect();
        let saved = SavedState::of(self, &bound.registry, &statements);
        let mut report = ReloadReport::default();
        let mut ids = Vec::with_capacity(statements.len());
        let mut next_id = self.next_id;
        for s in &mut statements {
            let name = s.plan.name.clone();
            let kept_id = match old.get(name.as_str()) {
                None => {
                    report.added.push(name);
                    None
                }
                Some((fingerprint, id)) => {
                    if *fingerprint == s.plan.fingerprint
                        && matches!(saved.load_into(s, self.now), Loaded::Restored)
                    {
                        report.kept.push(name);
                        Some(*id)
                    } else {
                        report.changed.push(name);
                        None
                    }
                }
            };
            ids.push(kept_id.unwrap_or_else(|| {
                next_id += 1;
                next_id - 1
            }));
        }
        report.removed = saved.unused(&statements);
        self.registry = bound.registry;
        self.statements = statements;
        self.ids = ids;
        self.next_id = next_id;
        self.recompute_routes();
        Ok(report)
    }
}
