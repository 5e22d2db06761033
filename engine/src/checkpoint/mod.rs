//! Checkpoints: the engine's whole state (time, sequence counters, and every
//! statement's windows, aggregates, pattern instances and output limiters)
//! as a value that serialises with serde, and restoring it into an engine
//! running a possibly edited rule set.
//!
//! Statements are matched by name and [fingerprint](crate::fingerprint): a
//! statement whose fingerprint changed starts fresh, and the
//! [`RestoreReport`] says so. Events shared between windows and statements
//! are stored once and linked back on restore.
//!
//! [`EngineCheckpoint::to_bytes`] frames the postcard encoding with a magic
//! string, a format version and a blake3 checksum, so a truncated or damaged
//! file is an error ([`RestoreError::Corrupt`]), never a panic.
pub(crate) mod events;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::binder::BoundScript;
use crate::engine::{Engine, UnsupportedError};
use crate::fingerprint::{Fingerprint, type_fingerprint};
use crate::schema::{EventType, TypeRegistry};
use crate::statement::{Statement, StatementState};
use crate::time::EventTime;
use events::{EventLinker, EventRecord, EventWriter, StateError, TypeRef};

/// The version of the checkpoint format this build writes and reads.
pub const CHECKPOINT_FORMAT_VERSION: u32 = 4;

const MAGIC: &[u8; 12] = b"CEPHEUS-CKPT";
const HEADER: usize = MAGIC.len() + 4 + 32;

/// The engine's state at one point between steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineCheckpoint {
    now: i64,
    seq: u64,
    routing_overflows: u64,
    /// The declared types the saved events have, with their definition hashes.
    types: Vec<(String, Fingerprint)>,
    events: Vec<EventRecord>,
    statements: Vec<SavedStatement>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedStatement {
    name: String,
    fingerprint: Fingerprint,
    state: StatementState,
}

/// Why a checkpoint cannot be restored at all.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RestoreError {
    #[error("not a Cepheus checkpoint (it does not start with the checkpoint header)")]
    NotACheckpoint,
    #[error(
        "the checkpoint has format version {found}, this build reads version {expected}; \
         restore it with a matching build or start without it"
    )]
    Version { found: u32, expected: u32 },
    #[error("the checkpoint is damaged ({0}); restore an earlier one")]
    Corrupt(String),
    #[error(transparent)]
    Unsupported(#[from] UnsupportedError),
}

/// What restoring did to each statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Statements that continue from their saved state.
    pub restored: Vec<String>,
    /// Statements the checkpoint does not know: they start fresh.
    pub added: Vec<String>,
    /// Statements whose saved state does not fit (their text or the types
    /// they use changed): they start fresh.
    pub reset: Vec<StateReset>,
    /// Saved statements the rule set no longer has: their state is dropped.
    pub dropped: Vec<String>,
}

/// A statement that lost its saved state, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateReset {
    pub statement: String,
    pub reason: String,
}

impl EngineCheckpoint {
    /// Engine time when the checkpoint was taken.
    pub fn time(&self) -> EventTime {
        EventTime(self.now)
    }

    /// The saved statements: name and fingerprint.
    pub fn statements(&self) -> impl Iterator<Item = (&str, Fingerprint)> {
        self.statements
            .iter()
            .map(|s| (s.name.as_str(), s.fingerprint))
    }

    /// The framed encoding: magic, format version, blake3 checksum, postcard body.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail; an empty body would
        // be rejected on restore rather than panic here.
        let body = postcard::to_stdvec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads what [`EngineCheckpoint::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<EngineCheckpoint, RestoreError> {
        let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return Err(RestoreError::NotACheckpoint);
        };
        let Some((version, rest)) = rest.split_first_chunk::<4>() else {
            return Err(RestoreError::Corrupt("it ends inside its header".into()));
        };
        let found = u32::from_le_bytes(*version);
        if found != CHECKPOINT_FORMAT_VERSION {
            return Err(RestoreError::Version {
                found,
                expected: CHECKPOINT_FORMAT_VERSION,
            });
        }
        let Some((checksum, body)) = rest.split_first_chunk::<32>() else {
            return Err(RestoreError::Corrupt("it ends inside its header".into()));
        };
        if blake3::hash(body).as_bytes() != checksum {
            return Err(RestoreError::Corrupt(
                "its checksum does not match: it is truncated or was modified".into(),
            ));
        }
        postcard::from_bytes(body).map_err(|e| RestoreError::Corrupt(e.to_string()))
    }
}

impl Engine {
    /// The whole state of the engine, between steps.
    pub fn checkpoint(&self) -> EngineCheckpoint {
        let mut w = EventWriter::default();
        let statements = self
            .statements
            .iter()
            .map(|s| SavedStatement {
                name: s.plan.name.clone(),
                fingerprint: s.plan.fingerprint,
                state: s.save(&mut w),
            })
            .collect();
        let mut types: Vec<(String, Fingerprint)> = w
            .types
            .iter()
            .filter_map(|name| {
                let ty = self.registry.get(name)?;
                Some((name.clone(), type_fingerprint(ty, &self.registry)))
            })
            .collect();
        types.sort();
        EngineCheckpoint {
            now: self.now.0,
            seq: self.seq,
            routing_overflows: self.routing_overflows,
            types,
            events: w.finish(),
            statements,
        }
    }

    /// An engine running `bound`, continuing from `cp`: statements with the
    /// same name and fingerprint get their saved state, the others start
    /// fresh at the checkpoint's time. A checkpoint that contradicts itself
    /// is [`RestoreError::Corrupt`].
    pub fn restore(
        bound: BoundScript,
        cp: EngineCheckpoint,
    ) -> Result<(Engine, RestoreReport), RestoreError> {
        let mut engine = Engine::new(bound, EventTime(cp.now))?;
        let max_seq = cp.events.iter().map(|e| e.seq()).max().unwrap_or(0);
        engine.seq = cp.seq.max(max_seq);
        engine.routing_overflows = cp.routing_overflows;
        let saved = SavedState::new(cp.types, cp.events, cp.statements, &engine)?;
        let mut report = RestoreReport::default();
        let now = engine.now;
        for s in &mut engine.statements {
            let name = s.plan.name.clone();
            match saved.load_into(s, now) {
                Loaded::Restored => report.restored.push(name),
                Loaded::NotSaved => report.added.push(name),
                Loaded::Reset(reason) => report.reset.push(StateReset {
                    statement: name,
                    reason,
                }),
            }
        }
        report.dropped = saved.unused(&engine.statements);
        engine.recompute_timers();
        Ok((engine, report))
    }
}

/// Saved statement states, with their events linked to a new rule set.
pub(crate) struct SavedState {
    statements: HashMap<String, SavedStatement>,
    links: EventLinker,
}

/// What happened to one statement's saved state.
pub(crate) enum Loaded {
    Restored,
    NotSaved,
    Reset(String),
}

impl SavedState {
    /// The saved states of `engine`'s statements (taken just now, for a reload).
    pub(crate) fn of(engine: &Engine, new: &TypeRegistry, statements: &[Statement]) -> SavedState {
        let cp = engine.checkpoint();
        // The events come from a running engine, so they link; were one
        // stored twice, the statements holding events would start fresh.
        let links = link(cp.types, cp.events, new, statements).unwrap_or_default();
        SavedState {
            statements: cp
                .statements
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect(),
            links,
        }
    }

    fn new(
        types: Vec<(String, Fingerprint)>,
        events: Vec<EventRecord>,
        statements: Vec<SavedStatement>,
        engine: &Engine,
    ) -> Result<SavedState, RestoreError> {
        let mut by_name = HashMap::new();
        for s in statements {
            if let Some(dup) = by_name.insert(s.name.clone(), s) {
                return Err(RestoreError::Corrupt(format!(
                    "statement `{}` is saved twice",
                    dup.name
                )));
            }
        }
        let links = link(types, events, &engine.registry, &engine.statements)
            .map_err(RestoreError::Corrupt)?;
        Ok(SavedState {
            statements: by_name,
            links,
        })
    }

    /// Loads the saved state of `s` (a fresh statement) when it fits; a
    /// statement whose state does not load is left fresh, started at `now`.
    pub(crate) fn load_into(&self, s: &mut Statement, now: EventTime) -> Loaded {
        let Some(saved) = self.statements.get(&s.plan.name) else {
            return Loaded::NotSaved;
        };
        if saved.fingerprint != s.plan.fingerprint {
            return Loaded::Reset(
                "its text, or an event type it uses, changed since the checkpoint".into(),
            );
        }
        match s.load(&saved.state, &self.links) {
            Ok(()) => Loaded::Restored,
            Err(e) => {
                *s = Statement::new((*s.plan).clone(), now);
                Loaded::Reset(format!("its saved state does not fit: {e}"))
            }
        }
    }

    /// Saved statements `statements` do not include, by name.
    pub(crate) fn unused(&self, statements: &[Statement]) -> Vec<String> {
        let mut names: Vec<String> = self
            .statements
            .keys()
            .filter(|n| !statements.iter().any(|s| s.plan.name == **n))
            .cloned()
            .collect();
        names.sort();
        names
    }
}

/// Links saved events to the types of `registry` and of `statements`' pattern
/// matches. An event whose type is gone or whose definition changed stays
/// unlinked; a statement holding it starts fresh.
fn link(
    types: Vec<(String, Fingerprint)>,
    events: Vec<EventRecord>,
    registry: &TypeRegistry,
    statements: &[Statement],
) -> Result<EventLinker, String> {
    let saved_types: HashMap<String, Fingerprint> = types.into_iter().collect();
    let match_types: HashMap<&str, &Arc<EventType>> = statements
        .iter()
        .filter_map(Statement::match_type)
        .map(|t| (t.name.as_str(), t))
        .collect();
    EventLinker::new(events, |r| match r {
        TypeRef::Named(name) => {
            let ty = registry.get(name).ok_or_else(|| {
                StateError::new(format!("event type `{name}` is no longer declared"))
            })?;
            if saved_types.get(name) != Some(&type_fingerprint(ty, registry)) {
                return Err(StateError::new(format!(
                    "event type `{name}` changed since the checkpoint"
                )));
            }
            Ok(ty.clone())
        }
        TypeRef::Match(name) => match_types
            .get(name.as_str())
            .map(|t| (*t).clone())
            .ok_or_else(|| StateError::new(format!("no pattern statement makes `{name}` events"))),
    })
}
