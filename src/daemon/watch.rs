//! Watches the rule directories and asks for a reload when a `.epl` file changes. The
//! directory (not each file) is watched, so editors that save by writing a new file and
//! renaming it over the old one are seen; the debouncer folds an editor's burst of events
//! into one reload.
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::reload::{self, ReloadRequest};

/// How long the files must be quiet before a reload.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Keeps watching while it lives.
pub struct RulesWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

pub fn watch(
    paths: &[PathBuf],
    requests: SyncSender<ReloadRequest>,
) -> notify::Result<RulesWatcher> {
    let mut debouncer =
        new_debouncer(
            DEBOUNCE,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    let touches_rules = events.iter().any(|e| {
                        e.paths
                            .iter()
                            .any(|p| p.extension().is_some_and(|x| x == "epl") || p.is_dir())
                    });
                    if touches_rules && !reload::request(&requests, "watch") {
                        tracing::debug!("A reload is already queued.");
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "Watching the rules failed.");
                    }
                }
            },
        )?;
    for p in paths {
        debouncer.watch(p, RecursiveMode::Recursive)?;
    }
    Ok(RulesWatcher {
        _debouncer: debouncer,
    })
}
