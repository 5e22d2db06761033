//! Events and values in checkpoint form. An event shared by several windows
//! and statements is stored once, by its arrival sequence number, and every
//! reference to it is that number; restoring links the references back to
//! one shared event, so identity (`Value::Event` equality) survives.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::schema::{EventType, TypeId};
use crate::time::EventTime;
use crate::value::Value;
use crate::window::{EventRef, GroupKey};

/// A value, with events replaced by their sequence numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ValueRecord {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Event(u64),
    Array(Vec<ValueRecord>),
}

/// Which type an event has: a declared (or `insert into`) type by name, or
/// the match type of the pattern statement of that name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum TypeRef {
    Named(String),
    Match(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    seq: u64,
    ty: TypeRef,
    time: i64,
    fields: Vec<ValueRecord>,
}

impl EventRecord {
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// Why one statement's saved state cannot be used; the statement then
/// starts fresh and the reason is reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct StateError(pub String);

impl StateError {
    pub fn new(message: impl Into<String>) -> StateError {
        StateError(message.into())
    }
}

/// Collects the events a checkpoint refers to, each once.
#[derive(Debug, Default)]
pub(crate) struct EventWriter {
    seen: HashSet<u64>,
    events: Vec<EventRecord>,
    /// The registry types the events have.
    pub types: HashSet<String>,
}

impl EventWriter {
    /// Records `e` (and the events its fields hold) and returns its number.
    pub fn event(&mut self, e: &EventRef) -> u64 {
        if self.seen.insert(e.seq) {
            let fields = self.values(&e.fields);
            let ty = if e.ty.id == TypeId(u32::MAX) {
                TypeRef::Match(e.ty.name.clone())
            } else {
                self.types.insert(e.ty.name.clone());
                TypeRef::Named(e.ty.name.clone())
            };
            self.events.push(EventRecord {
                seq: e.seq,
                ty,
                time: e.time.0,
                fields,
            });
        }
        e.seq
    }

    pub fn events(&mut self, events: &[EventRef]) -> Vec<u64> {
        events.iter().map(|e| self.event(e)).collect()
    }

    pub fn value(&mut self, v: &Value) -> ValueRecord {
        match v {
            Value::Null => ValueRecord::Null,
            Value::Bool(b) => ValueRecord::Bool(*b),
            Value::Int(i) => ValueRecord::Int(*i),
            Value::Float(f) => ValueRecord::Float(*f),
            Value::Str(s) => ValueRecord::Str(s.to_string()),
            Value::Event(e) => ValueRecord::Event(self.event(e)),
            Value::Array(items) => ValueRecord::Array(self.values(items)),
        }
    }

    pub fn values(&mut self, vs: &[Value]) -> Vec<ValueRecord> {
        vs.iter().map(|v| self.value(v)).collect()
    }

    pub fn key(&mut self, k: &GroupKey) -> Vec<ValueRecord> {
        self.values(&k.0)
    }

    /// The recorded events, oldest first.
    pub fn finish(mut self) -> Vec<EventRecord> {
        self.events.sort_unstable_by_key(|e| e.seq);
        self.events
    }
}

/// Rebuilds the events of a checkpoint against the types of a new rule set.
/// An event whose type is gone or changed cannot be rebuilt; only the
/// statements holding it lose their state.
#[derive(Debug, Default)]
pub(crate) struct EventLinker {
    events: HashMap<u64, Result<EventRef, StateError>>,
}

impl EventLinker {
    /// `resolve` maps a type reference to the new rule set's type.
    pub fn new(
        mut records: Vec<EventRecord>,
        resolve: impl Fn(&TypeRef) -> Result<Arc<EventType>, StateError>,
    ) -> Result<EventLinker, String> {
        records.sort_unstable_by_key(|e| e.seq);
        let mut linker = EventLinker::default();
        for r in records {
            // Fields only refer to older events, so those are linked already.
            let built = resolve(&r.ty).and_then(|ty| {
                if ty.fields.len() != r.fields.len() {
                    return Err(StateError::new(format!(
                        "event #{} has {} fields but `{}` declares {}",
                        r.seq,
                        r.fields.len(),
                        ty.name,
                        ty.fields.len()
                    )));
                }
                let fields = linker.values(&r.fields)?;
                Ok(Arc::new(Event {
                    ty,
                    time: EventTime(r.time),
                    seq: r.seq,
                    fields: fields.into(),
                }))
            });
            if linker.events.insert(r.seq, built).is_some() {
                return Err(format!("event #{} is stored twice", r.seq));
            }
        }
        Ok(linker)
    }

    pub fn event(&self, seq: u64) -> Result<EventRef, StateError> {
        match self.events.get(&seq) {
            Some(Ok(e)) => Ok(e.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(StateError::new(format!(
                "the state refers to event #{seq}, which the checkpoint does not hold"
            ))),
        }
    }

    pub fn events(&self, seqs: &[u64]) -> Result<Vec<EventRef>, StateError> {
        seqs.iter().map(|s| self.event(*s)).collect()
    }

    pub fn value(&self, r: &ValueRecord) -> Result<Value, StateError> {
        Ok(match r {
            ValueRecord::Null => Value::Null,
            ValueRecord::Bool(b) => Value::Bool(*b),
            ValueRecord::Int(i) => Value::Int(*i),
            ValueRecord::Float(f) => Value::Float(*f),
            ValueRecord::Str(s) => Value::str(s),
            ValueRecord::Event(seq) => Value::Event(self.event(*seq)?),
            ValueRecord::Array(items) => Value::Array(self.values(items)?.into()),
        })
    }

    pub fn values(&self, rs: &[ValueRecord]) -> Result<Vec<Value>, StateError> {
        rs.iter().map(|r| self.value(r)).collect()
    }

    pub fn key(&self, rs: &[ValueRecord]) -> Result<GroupKey, StateError> {
        Ok(GroupKey(self.values(rs)?.into()))
    }
}
