//! JSON-lines events: one JSON object per line, typed by a `type` key or by a
//! fixed type for single-type input.
use std::sync::Arc;

use cepheus_engine::{DecodeError, EventFields, EventTime, EventType, TypeRegistry};

use crate::json_fields::{
    Interner, ObjectError, decode_flat_object_into, decode_object, decode_object_serde,
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

/// The type and time of an event whose fields were decoded in place
/// ([`JsonLinesDecoder::decode_bytes_into`]).
#[derive(Debug, Clone)]
pub struct DecodedHead {
    pub ty: Arc<EventType>,
    /// As [`DecodedEvent::time`].
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
        let mut fields = EventFields::new();
        let head = self.decode_bytes_into(line, &mut fields)?;
        Ok(head.map(|h| DecodedEvent {
            ty: h.ty,
            fields,
            time: h.time,
        }))
    }

    /// [`Self::decode_bytes`] into `fields`, which the caller keeps from line
    /// to line and hands to the engine (see [`cepheus_engine::Engine::send`]
    /// with `&mut EventFields`): a flat object's values are written there,
    /// not moved out through return values. Gives the event's type and time;
    /// `Ok(None)` for a blank line. `fields` is unspecified after an error or
    /// a blank line.
    pub fn decode_bytes_into(
        &mut self,
        line: &[u8],
        fields: &mut EventFields,
    ) -> Result<Option<DecodedHead>, LineError> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if let Some((ty, time)) = decode_flat_object_into(
            trimmed,
            &self.registry,
            self.fixed_type.as_ref(),
            &mut self.strings,
            fields,
        ) {
            let ty = ty.clone();
            return Ok(Some(DecodedHead { ty, time }));
        }
        let decoded = match std::str::from_utf8(line) {
            Ok(text) => self.decode_text(text, decode_object_serde)?,
            Err(e) => {
                return Err(LineError {
                    reason: DeadLetterReason::MalformedJson,
                    message: e.to_string(),
                });
            }
        };
        Ok(decoded.map(|d| {
            *fields = d.fields;
            DecodedHead {
                ty: d.ty,
                time: d.time,
            }
        }))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Type, fields (floats to the bit, through `Debug`) and time, or the
    /// error's reason.
    fn outcome(r: &Result<Option<DecodedEvent>, LineError>) -> String {
        match r {
            Ok(Some(d)) => format!("{} {:?} {:?}", d.ty.name, d.fields, d.time),
            Ok(None) => "blank".into(),
            Err(e) => format!("error {:?}", e.reason),
        }
    }

    /// One buffer reused over lines of several types and shapes, blank and
    /// bad lines among them: each line decodes into it exactly as
    /// `decode_bytes` decodes it alone, whatever the line before left there.
    #[test]
    fn decoding_into_a_reused_buffer_agrees_with_decoding_each_line() {
        let src = "create schema T(s string, i long, d double, ts long) starttimestamp ts;\
                   create schema U(x long, name string);";
        let script = cepheus_parser::parse_script(src).expect("parses");
        let registry = cepheus_engine::bind_script(src, &script, &TypeRegistry::default())
            .expect("binds")
            .registry;
        let lines: &[&[u8]] = &[
            br#"{"type":"T","s":"a","i":1,"d":2.5,"ts":10}"#,
            br#"{"type":"T","s":"b","i":2,"d":3.5,"ts":11}"#,
            br#"{"type":"U","x":7,"name":"n"}"#,
            b"",
            br#"{"type":"T","s":"c","ts":12}"#,
            br#"{"type":"T","s":"esc\"aped","i":3,"d":1e2,"ts":13}"#,
            br#"{"type":"T","s":"d","i":"not a number","ts":14}"#,
            br#"{"type":"T","s":"e","i":4,"d":0.5,"ts":15,"extra":{"nested":[1,2]}}"#,
            b"{not json",
            b"\xff\xfe",
            br#"{"type":"V","x":1}"#,
            br#"{"type":"U","name":"m","x":8}"#,
            br#"{"type":"T","s":"f","i":5,"d":6.5,"ts":16}"#,
        ];
        let mut into = JsonLinesDecoder::new(registry.clone(), None).expect("decoder");
        let mut each = JsonLinesDecoder::new(registry, None).expect("decoder");
        let mut buffer = EventFields::new();
        for round in 0..3 {
            for line in lines {
                let got = into.decode_bytes_into(line, &mut buffer).map(|head| {
                    head.map(|h| DecodedEvent {
                        ty: h.ty,
                        fields: buffer.clone(),
                        time: h.time,
                    })
                });
                let (got, expected) = (outcome(&got), outcome(&each.decode_bytes(line)));
                assert_eq!(
                    got,
                    expected,
                    "round {round}: {}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }
}
