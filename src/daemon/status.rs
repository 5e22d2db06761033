//! What `/rules` shows: the running rules with their text hash and state, and the outcome
//! of the last reload with its diagnostics. Written by the engine thread and the reloader.
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use super::metrics::StateSize;

#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub name: String,
    /// blake3 of the rule's text (hex, first 16 bytes).
    pub text_hash: String,
    /// `running`, or `running (old version)` while a rejected edit is pending.
    pub status: String,
    /// The error of the last rejected reload that concerns this rule's file, if any.
    pub last_error: Option<String>,
    pub state: StateSize,
}

/// One problem found while loading the rules.
#[derive(Debug, Clone, Serialize)]
pub struct LoadError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    /// `applied`, `unchanged` or `rejected`.
    pub outcome: &'static str,
    /// What triggered it: `watch`, `sighup`, `api`.
    pub trigger: &'static str,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub summary: String,
    pub errors: Vec<LoadError>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RulesView {
    /// blake3 over every rule's name and text: the rule-set hash of checkpoints.
    pub rule_set_hash: String,
    pub rules: Vec<RuleStatus>,
    pub last_reload: Option<ReloadStatus>,
}

impl RulesView {
    /// Marks every rule with the errors of the last reload when it was rejected (the set is
    /// replaced all or nothing, so a rejected edit anywhere holds every rule at its old text).
    pub fn mark_errors(&mut self) {
        let errors = self
            .last_reload
            .as_ref()
            .filter(|r| r.outcome == "rejected")
            .map(|r| {
                r.errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            });
        for rule in &mut self.rules {
            rule.status = if errors.is_some() {
                "running (a newer edit was rejected)".into()
            } else {
                "running".into()
            };
            rule.last_error.clone_from(&errors);
        }
    }
}

#[derive(Debug, Default)]
pub struct SharedStatus {
    view: Mutex<RulesView>,
}

impl SharedStatus {
    pub fn lock(&self) -> MutexGuard<'_, RulesView> {
        self.view.lock().unwrap_or_else(|e| e.into_inner())
    }
}
