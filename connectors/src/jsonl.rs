//! JSON-lines events: one JSON object per line, typed by a `type` key or by a
//! fixed type for single-type input.
use std::sync::Arc;

use cepheus_engine::{DecodeError, EventFields, EventTime, EventType, TypeRegistry};

use crate::json_fields::{
    Interner, ObjectError, decode_flat_object, decode_object, decode_object_serde,
};

/// [`decode_object`] or [`decode_object_serde`].
type ObjectDecoder = fn(
    &str,
    &TypeRegistry,
    Option<&Arc<EventType>>,
    &mut Interner,
) -> Result<DecodedEvent, ObjectError>;

/// One decoded event, ready for the engine.
#[derive(Debug)]
pub struct DecodedEvent {
    pub ty: Arc<EventType>,
    pub fields: EventFields,
    /// The event's time when its type declares a timestamp field (or the line has `ts`).
    pub time: Option<EventTime>,
}

/// Why a line did not become an event. Each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadLetterReason {
    MalformedJson,
    UnknownType,
    WrongType,
    MissingField,
    Late,
}

impl DeadLetterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::MalformedJson => "malformed_json",
            DeadLetterReason::UnknownType => "unknown_type",
            DeadLetterReason::WrongType => "wrong_type",
            DeadLetterReason::MissingField => "missing_field",
            DeadLetterReason::Late => "late",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LineError {
    pub reason: DeadLetterReason,
    pub message: String,
}

/// Decodes lines against the event types of a rule set.
pub struct JsonLinesDecoder {
    registry: TypeRegistry,
    fixed_type: Option<Arc<EventType>>,
    /// Shared short strings (see [`Interner`]).
    strings: Interner,
}

impl JsonLinesDecoder {
    /// `fixed_type`: the type of every line (`--type`); otherwise each line's `type` key names it.
    pub fn new(registry: TypeRegistry, fixed_type: Option<&str>) -> Result<Self, String> {
        let fixed_type = match fixed_type {
            Some(name) => Some(registry.get(name).cloned().ok_or_else(|| {
                let names: Vec<&str> = registry.iter().map(|t| t.name.as_str()).collect();
                format!(
                    "unknown event type `{name}`; the rules declare: {}",
                    names.join(", ")
                )
            })?),
            None => None,
        };
        Ok(JsonLinesDecoder {
            registry,
            fixed_type,
            strings: Interner::default(),
        })
    }

    /// [`Self::decode`] for raw bytes (a Kafka record's value, a file line): a
    /// flat object is decoded straight from the bytes (checking only its
    /// strings for UTF-8); any other line is checked for UTF-8 once, here.
    pub fn decode_bytes(&mut self, line: &[u8]) -> Result<Option<DecodedEvent>, LineError> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if let Some(event) = decode_flat_object(
            trimmed,
            &self.registry,
            self.fixed_type.as_ref(),
            &mut self.strings,
        ) {
            return Ok(Some(event));
        }
        match std::str::from_utf8(line) {
            Ok(text) => self.decode_text(text, decode_object_serde),
            Err(e) => Err(LineError {
                reason: DeadLetterReason::MalformedJson,
                message: e.to_string(),
            }),
        }
    }

    /// One line, decoded straight into the type's field slots; `Ok(None)` for a
    /// blank line.
    pub fn decode(&mut self, line: &str) -> Result<Option<DecodedEvent>, LineError> {
        self.decode_text(line, decode_object)
    }

    /// [`Self::decode`] with `decode` as the object decoder (the serde path alone
    /// when the fast path already passed on the line).
    fn decode_text(
        &mut self,
        line: &str,
        decode: ObjectDecoder,
    ) -> Result<Option<DecodedEvent>, LineError> {
        let line = line.trim_ascii();
        if line.is_empty() {
            return Ok(None);
        }
        decode(
            line,
            &self.registry,
            self.fixed_type.as_ref(),
            &mut self.strings,
        )
        .map_err(|e| match e {
            ObjectError::Malformed(message) => LineError {
                reason: DeadLetterReason::MalformedJson,
                message,
            },
            ObjectError::NoType => LineError {
                reason: DeadLetterReason::UnknownType,
                message: "the event has no `type` key; add one or pass --type NAME".into(),
            },
            ObjectError::UnknownType(name) => LineError {
                reason: DeadLetterReason::UnknownType,
                message: format!("no rule declares the event type `{name}`"),
            },
            ObjectError::Field(e) => decode_error(e),
        })
        .map(Some)
    }
}

fn decode_error(e: DecodeError) -> LineError {
    let reason = match e {
        DecodeError::MissingTimestamp { .. } => DeadLetterReason::MissingField,
        _ => DeadLetterReason::WrongType,
    };
    LineError {
        reason,
        message: e.to_string(),
    }
}
