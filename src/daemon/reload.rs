//! Reloading the rules, all or nothing. The reloader thread reads, parses, type-checks and
//! plans the whole rule directory off the hot path; only a set without any error is handed
//! to the engine thread, which swaps it in between two steps. Any error keeps every old
//! rule running and is reported (log, `/rules`, `cepheus_reload_total{outcome}`).
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cepheus_engine::BoundScript;
use cepheus_engine::plan::InputPlan;

use super::config::RuleLimits;
use super::metrics::{Metrics, ReloadOutcome};
use super::status::{LoadError, ReloadStatus, SharedStatus};

/// A loaded, checked and planned rule set.
pub struct RuleSet {
    pub bound: BoundScript,
    /// blake3 over every rule's name and text (hex).
    pub hash: String,
    /// Each rule's name and the hash of its text.
    pub rules: Vec<(String, String)>,
}

/// Loads every `.epl` file under `paths` and applies the per-rule `limits`.
pub fn load(
    paths: &[PathBuf],
    limits: &BTreeMap<String, RuleLimits>,
) -> Result<RuleSet, Vec<LoadError>> {
    let files = crate::rules::find_epl_files(paths).map_err(|e| {
        vec![LoadError {
            file: paths
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            line: 0,
            column: 0,
            message: e.to_string(),
        }]
    })?;
    let loaded = crate::rules::load_files(&files).map_err(|diags| {
        diags
            .into_iter()
            .map(|d| LoadError {
                file: d.file,
                line: d.line,
                column: d.column,
                message: d.message,
            })
            .collect::<Vec<_>>()
    })?;
    let mut bound = loaded.bound;
    for plan in &mut bound.statements {
        let Some(max) = limits.get(&plan.name).and_then(|l| l.max_instances) else {
            continue;
        };
        if let InputPlan::Pattern(p) = &mut plan.input {
            Arc::make_mut(p).max_instances = max;
        } else {
            tracing::warn!(rule = %plan.name, "max_instances is set for a rule without a pattern; ignored.");
        }
    }
    for name in limits.keys() {
        if !bound.statements.iter().any(|p| &p.name == name) {
            tracing::warn!(rule = %name, "Limits are configured for a rule that does not exist.");
        }
    }
    let mut all = blake3::Hasher::new();
    let rules = bound
        .statements
        .iter()
        .map(|p| {
            for part in [p.name.as_bytes(), p.text.as_bytes()] {
                all.update(&(part.len() as u64).to_le_bytes());
                all.update(part);
            }
            (p.name.clone(), text_hash(&p.text))
        })
        .collect();
    Ok(RuleSet {
        bound,
        hash: all.finalize().to_hex().to_string(),
        rules,
    })
}

/// The hash `/rules` shows for a rule's text.
pub fn text_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

/// What asked for a reload, and who waits for the outcome.
pub struct ReloadRequest {
    pub trigger: &'static str,
    pub reply: Option<tokio::sync::oneshot::Sender<ReloadStatus>>,
}

/// A checked rule set for the engine thread, and where it answers.
pub struct ApplyRules {
    pub set: RuleSet,
    /// A summary of what changed, or why the engine refused the set.
    pub reply: SyncSender<Result<String, String>>,
}

/// Requests waiting at most; a full queue already holds a reload that will read the files.
const QUEUED_REQUESTS: usize = 8;

/// Asks for a reload without waiting; false if one is already queued.
pub fn request(tx: &SyncSender<ReloadRequest>, trigger: &'static str) -> bool {
    match tx.try_send(ReloadRequest {
        trigger,
        reply: None,
    }) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => false,
        Err(TrySendError::Disconnected(_)) => false,
    }
}

pub fn channel() -> (SyncSender<ReloadRequest>, Receiver<ReloadRequest>) {
    sync_channel(QUEUED_REQUESTS)
}

/// The reloader: loads the rules on each request and hands a good set to the engine thread.
pub struct Reloader {
    pub paths: Vec<PathBuf>,
    pub limits: BTreeMap<String, RuleLimits>,
    pub current_hash: String,
    pub engine: SyncSender<ApplyRules>,
    pub status: Arc<SharedStatus>,
    pub metrics: Arc<Metrics>,
}

impl Reloader {
    pub fn spawn(mut self, requests: Receiver<ReloadRequest>) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("reloader".into())
            .spawn(move || {
                while let Ok(first) = requests.recv() {
                    // Requests that piled up meanwhile are answered by the same reload.
                    let mut waiting = vec![first];
                    while let Ok(more) = requests.try_recv() {
                        waiting.push(more);
                    }
                    let trigger = waiting.first().map_or("api", |r| r.trigger);
                    let status = self.reload(trigger);
                    for r in waiting {
                        if let Some(reply) = r.reply {
                            let _ = reply.send(status.clone());
                        }
                    }
                }
            })
            .map(|_| ())
    }

    fn reload(&mut self, trigger: &'static str) -> ReloadStatus {
        let (outcome, summary, errors) = match load(&self.paths, &self.limits) {
            Err(errors) => {
                for e in &errors {
                    tracing::error!(%trigger, error = %e, "Reload rejected; the old rules keep running.");
                }
                let n = errors.len();
                (
                    ReloadOutcome::Rejected,
                    format!(
                        "{n} error{} in the rules; the old rules keep running",
                        plural(n)
                    ),
                    errors,
                )
            }
            Ok(set) if set.hash == self.current_hash => (
                ReloadOutcome::Unchanged,
                "the rules are unchanged".to_string(),
                Vec::new(),
            ),
            Ok(set) => self.apply(set, trigger),
        };
        self.metrics.reload(outcome);
        let status = ReloadStatus {
            outcome: outcome.as_str(),
            trigger,
            at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            summary,
            errors,
        };
        let mut view = self.status.lock();
        view.rule_set_hash = self.current_hash.clone();
        // One save can wake the watcher several times; a wake that finds
        // nothing new must not hide the reload the save caused.
        if !(outcome == ReloadOutcome::Unchanged && trigger == "watch") {
            view.last_reload = Some(status.clone());
        }
        view.mark_errors();
        status
    }

    fn apply(
        &mut self,
        set: RuleSet,
        trigger: &'static str,
    ) -> (ReloadOutcome, String, Vec<LoadError>) {
        let hash = set.hash.clone();
        let (tx, rx) = sync_channel(1);
        let refused = |why: String| {
            tracing::error!(%trigger, %why, "Reload rejected; the old rules keep running.");
            let error = LoadError {
                file: String::new(),
                line: 0,
                column: 0,
                message: why.clone(),
            };
            (ReloadOutcome::Rejected, why, vec![error])
        };
        if self.engine.send(ApplyRules { set, reply: tx }).is_err() {
            return refused("the engine has stopped".into());
        }
        // The engine thread applies it at the end of its current step.
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(summary)) => {
                tracing::info!(%trigger, %summary, "Rules reloaded.");
                self.current_hash = hash;
                (ReloadOutcome::Applied, summary, Vec::new())
            }
            Ok(Err(why)) => refused(why),
            Err(_) => refused("the engine did not answer".into()),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
