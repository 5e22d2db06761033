//! Events: typed rows of values with an event time, and their JSON decoding.
use std::sync::Arc;

use crate::schema::EventType;
use crate::time::EventTime;
use crate::value::{Type, Value};

/// One event: the values of its type's fields, in declaration order.
#[derive(Debug, Clone)]
pub struct Event {
    pub ty: Arc<EventType>,
    pub time: EventTime,
    /// Arrival order within the engine: unique, increasing.
    pub seq: u64,
    pub fields: EventFields,
}

/// An event's field values, stored inline with the event for the usual
/// handful of fields: an event read back from a large window (on expiry)
/// costs one cache miss instead of two.
pub type EventFields = smallvec::SmallVec<[Value; 6]>;

/// Field values handed to the engine as events' fields.
pub fn event_fields(fields: Box<[Value]>) -> EventFields {
    EventFields::from_vec(fields.into_vec())
}

/// What [`crate::Engine::send`] takes as an event's fields: decoders build
/// [`EventFields`] directly (no heap allocation for a handful of fields);
/// boxed slices are moved over.
pub trait IntoEventFields {
    fn into_event_fields(self) -> EventFields;

    /// Puts the fields in `slot` (a reused event's), whose old fields are dropped.
    fn move_into(self, slot: &mut EventFields)
    where
        Self: Sized,
    {
        *slot = self.into_event_fields();
    }
}

impl IntoEventFields for EventFields {
    fn into_event_fields(self) -> EventFields {
        self
    }
}

/// Fields a decoder wrote in place, in a buffer its caller keeps from event
/// to event: taken, leaving the buffer empty for the next.
impl IntoEventFields for &mut EventFields {
    fn into_event_fields(self) -> EventFields {
        std::mem::take(self)
    }

    /// The reused event's old fields go back to the buffer, which the
    /// decoder empties before writing the next event's.
    fn move_into(self, slot: &mut EventFields) {
        std::mem::swap(self, slot);
    }
}

impl IntoEventFields for Box<[Value]> {
    fn into_event_fields(self) -> EventFields {
        event_fields(self)
    }
}

/// An event handed to a statement: shared when some statement of its type
/// keeps events (a window of events, a pattern), otherwise borrowed from the
/// stack of [`crate::Engine::send`], so that statements which keep nothing of
/// it (or only a group's first event) cost no allocation per event.
#[derive(Debug, Clone, Copy)]
pub enum EventArg<'a> {
    Shared(&'a Arc<Event>),
    Borrowed(&'a Event),
}

impl EventArg<'_> {
    /// The event as a shared reference, to keep: a reference count for a
    /// shared event, a copy of a borrowed one.
    pub fn shared(self) -> Arc<Event> {
        match self {
            EventArg::Shared(e) => e.clone(),
            EventArg::Borrowed(e) => Arc::new(e.clone()),
        }
    }
}

impl std::ops::Deref for EventArg<'_> {
    type Target = Event;
    fn deref(&self) -> &Event {
        match self {
            EventArg::Shared(e) => e,
            EventArg::Borrowed(e) => e,
        }
    }
}

impl Event {
    pub fn get(&self, field: usize) -> &Value {
        self.fields.get(field).unwrap_or(&Value::Null)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let map = self
            .ty
            .fields
            .iter()
            .zip(self.fields.iter())
            .map(|(f, v)| (f.name.clone(), v.to_json()))
            .collect();
        serde_json::Value::Object(map)
    }
}

/// Why a JSON object could not become an event of a type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("field `{field}` of {event_type} must be {expected}, got {got}")]
    WrongType {
        event_type: String,
        field: String,
        expected: &'static str,
        got: String,
    },
    #[error("{event_type} requires its timestamp field `{field}`")]
    MissingTimestamp { event_type: String, field: String },
    #[error(
        "timestamp `{value}` of {event_type} is neither epoch milliseconds nor an RFC 3339 time"
    )]
    BadTimestamp { event_type: String, value: String },
}

/// Decodes the fields of `ty` from a JSON object. Unknown keys are ignored,
/// absent fields are null; a value of the wrong type is an error.
pub fn decode_fields(
    ty: &EventType,
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<Box<[Value]>, DecodeError> {
    ty.fields
        .iter()
        .map(|f| match obj.get(&f.name) {
            None | Some(serde_json::Value::Null) => Ok(Value::Null),
            Some(v) => json_to_value(v, f.ty).ok_or_else(|| DecodeError::WrongType {
                event_type: ty.name.clone(),
                field: f.name.clone(),
                expected: f.ty.name(),
                got: truncate_for_message(v.to_string()),
            }),
        })
        .collect()
}

/// The event time carried by a decoded event of `ty`, when the type declares one.
pub fn timestamp_of(ty: &EventType, fields: &[Value]) -> Result<Option<EventTime>, DecodeError> {
    let Some(idx) = ty.timestamp else {
        return Ok(None);
    };
    match fields.get(idx) {
        Some(Value::Int(ms)) => Ok(Some(EventTime(*ms))),
        Some(Value::Float(ms)) => Ok(Some(EventTime(*ms as i64))),
        Some(Value::Str(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(EventTime(t.timestamp_millis())))
            .map_err(|_| DecodeError::BadTimestamp {
                event_type: ty.name.clone(),
                value: s.to_string(),
            }),
        _ => Err(DecodeError::MissingTimestamp {
            event_type: ty.name.clone(),
            field: ty.fields[idx].name.clone(),
        }),
    }
}

fn json_to_value(v: &serde_json::Value, ty: Type) -> Option<Value> {
    use serde_json::Value as J;
    match (ty, v) {
        (Type::Int, J::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Value::Int),
        (Type::Float, J::Number(n)) => n.as_f64().map(Value::Float),
        (Type::String, J::String(s)) => Some(Value::str(s)),
        (Type::Bool, J::Bool(b)) => Some(Value::Bool(*b)),
        _ => None,
    }
}

/// The offending value as shown in a [`DecodeError`]: at most 40 bytes, then `…`.
pub fn truncate_for_message(mut s: String) -> String {
    if s.len() > 40 {
        let mut cut = 40;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
