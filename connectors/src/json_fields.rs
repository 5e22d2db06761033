//! Streaming decode of one JSON object straight into an event's field slots.
//!
//! The hot path of every source: no intermediate `serde_json::Value` map, keys
//! the schema does not name are skipped without being built, and strings
//! without escapes are copied once, into the event. The rules are the same as
//! [`cepheus_engine::decode_fields`]: absent or null fields are null, an
//! integral number fits a `double`, a float with no fraction fits a `long`,
//! anything else of the wrong JSON type is an error naming the field.
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use cepheus_engine::{
    DecodeError, EventFields, EventTime, EventType, Type, TypeRegistry, Value, timestamp_of,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use smallvec::SmallVec;
use smol_str::SmolStr;

mod flat;
mod intern;
mod layout;
use flat::{decode_flat, decode_flat_into};
pub use intern::Interner;

/// What went wrong with one line, before it becomes a dead letter.
#[derive(Debug)]
pub enum ObjectError {
    /// Not JSON, or not an object.
    Malformed(String),
    /// No `type` key and no fixed type.
    NoType,
    /// A `type` naming no declared schema.
    UnknownType(String),
    Field(DecodeError),
}

pub use crate::jsonl::DecodedEvent as Decoded;

/// The event of a decoded object: its time is the type's timestamp field,
/// or else the object's `ts` key.
#[inline(always)]
fn event_of(
    ty: Arc<EventType>,
    fields: EventFields,
    ts: Option<i64>,
) -> Result<Decoded, DecodeError> {
    let time = match timestamp_of(&ty, &fields)? {
        Some(t) => Some(t),
        None => ts.map(EventTime),
    };
    Ok(Decoded { ty, fields, time })
}

/// Decodes `text` (one JSON object) as an event of `fixed`, or of the type its
/// `type` key names in `registry`; string fields go through `strings`. Reading
/// from a `str` (already valid UTF-8) skips the check of every key and string.
pub fn decode_object(
    text: &str,
    registry: &TypeRegistry,
    fixed: Option<&Arc<EventType>>,
    strings: &mut Interner,
) -> Result<Decoded, ObjectError> {
    if let Some(d) = decode_flat(text.as_bytes(), Some(text), registry, fixed, strings) {
        return Ok(d);
    }
    decode_object_serde(text, registry, fixed, strings)
}

/// [`decode_object`] for bytes not yet checked for UTF-8, when the line is a
/// flat object that decodes without error (the fast path; it checks the
/// strings it reads), into `fields`, which the caller keeps from line to
/// line: the event's type and time. `None` (and `fields` in any state):
/// check the line and call [`decode_object`].
pub fn decode_flat_object_into<'r>(
    bytes: &[u8],
    registry: &'r TypeRegistry,
    fixed: Option<&'r Arc<EventType>>,
    strings: &mut Interner,
    fields: &mut EventFields,
) -> Option<(&'r Arc<EventType>, Option<EventTime>)> {
    decode_flat_into(bytes, None, registry, fixed, strings, fields)
}

/// [`decode_object`] through serde_json, for every line: the reference the
/// fast path agrees with (and the path of the lines it does not take).
pub fn decode_object_serde(
    text: &str,
    registry: &TypeRegistry,
    fixed: Option<&Arc<EventType>>,
    strings: &mut Interner,
) -> Result<Decoded, ObjectError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = ObjectSeed {
        registry,
        fixed,
        strings,
    };
    let out = de::Deserializer::deserialize_any(&mut de, seed)
        .map_err(|e| ObjectError::Malformed(e.to_string()))?;
    de.end()
        .map_err(|e| ObjectError::Malformed(e.to_string()))?;
    out
}

struct ObjectSeed<'r> {
    registry: &'r TypeRegistry,
    fixed: Option<&'r Arc<EventType>>,
    strings: &'r mut Interner,
}

/// Field slots of one object; schemas rarely have more fields than this.
type Slots<'de> = SmallVec<[Option<Scalar<'de>>; 8]>;

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = Result<Decoded, ObjectError>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = Result<Decoded, ObjectError>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ty = self.fixed.cloned();
        let mut slots: Slots<'de> = ty.as_ref().map_or(Slots::new(), |t| {
            (0..t.fields.len()).map(|_| None).collect()
        });
        // Keys seen before `type` when the type is not fixed: kept until it is known.
        let mut pending: Vec<(Cow<'de, str>, Scalar<'de>)> = Vec::new();
        let mut ts = None;
        let mut unknown_type = None;
        let mut next_field = 0;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if self.fixed.is_none() && key == "type" {
                let Key(name) = map.next_value()?;
                match self.registry.get(&name) {
                    Some(t) => {
                        slots = (0..t.fields.len()).map(|_| None).collect();
                        for (k, v) in pending.drain(..) {
                            if let Some(i) = t.field(&k) {
                                slots[i] = Some(v);
                            }
                        }
                        ty = Some(t.clone());
                    }
                    None => unknown_type = Some(name.into_owned()),
                }
                continue;
            }
            let slot = ty.as_ref().and_then(|t| {
                // Keys usually come in declaration order: try the next field first.
                let guess = t.fields.get(next_field).filter(|f| f.name == key);
                guess.map(|_| next_field).or_else(|| t.field(&key))
            });
            next_field = slot.map_or(next_field, |i| i + 1);
            match (&ty, slot) {
                (Some(_), Some(i)) => {
                    let v = map.next_value::<Scalar<'de>>()?;
                    if key == "ts"
                        && let Scalar::Int(t) = v
                    {
                        ts = Some(t);
                    }
                    slots[i] = Some(v);
                }
                (None, _) => {
                    let v = map.next_value::<Scalar<'de>>()?;
                    if key == "ts"
                        && let Scalar::Int(t) = v
                    {
                        ts = Some(t);
                    }
                    pending.push((key, v));
                }
                (Some(_), None) if key == "ts" => {
                    if let Scalar::Int(t) = map.next_value::<Scalar<'de>>()? {
                        ts = Some(t);
                    }
                }
                (Some(_), None) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let Some(ty) = ty else {
            return Ok(Err(match unknown_type {
                Some(name) => ObjectError::UnknownType(name),
                None => ObjectError::NoType,
            }));
        };
        let mut fields = EventFields::with_capacity(ty.fields.len());
        for (i, (f, s)) in ty.fields.iter().zip(slots).enumerate() {
            let strings = &mut *self.strings;
            match s.map_or(Ok(Value::Null), |s| {
                s.into_value(f.ty, |s| strings.intern_field(&ty, i, s))
            }) {
                Ok(v) => fields.push(v),
                Err(got) => {
                    return Ok(Err(ObjectError::Field(DecodeError::WrongType {
                        event_type: ty.name.clone(),
                        field: f.name.clone(),
                        expected: f.ty.name(),
                        got,
                    })));
                }
            }
        }
        Ok(event_of(ty, fields, ts).map_err(ObjectError::Field))
    }
}

/// An object key (or the `type` name), borrowed from the line unless it has
/// escapes: serde's own `Cow<str>` always allocates.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// A JSON value as far as a field slot cares: scalars kept, anything nested
/// reduced to its text for the error message.
enum Scalar<'de> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`: only a `double` takes it.
    BigInt(u64),
    Float(f64),
    Str(Cow<'de, str>),
    Nested(Box<serde_json::Value>),
}

impl Scalar<'_> {
    /// The value for a slot of type `ty`, or the offending value's text.
    fn into_value(self, ty: Type, intern: impl FnOnce(&str) -> SmolStr) -> Result<Value, String> {
        match (ty, self) {
            (_, Scalar::Null) => Ok(Value::Null),
            (Type::Int, Scalar::Int(i)) => Ok(Value::Int(i)),
            (Type::Int, Scalar::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Ok(Value::Int(f as i64))
            }
            (Type::Float, Scalar::Int(i)) => Ok(Value::Float(i as f64)),
            (Type::Float, Scalar::BigInt(u)) => Ok(Value::Float(u as f64)),
            (Type::Float, Scalar::Float(f)) => Ok(Value::Float(f)),
            (Type::String, Scalar::Str(s)) => Ok(Value::Str(intern(&s))),
            (Type::Bool, Scalar::Bool(b)) => Ok(Value::Bool(b)),
            (_, s) => Err(s.describe()),
        }
    }

    fn describe(&self) -> String {
        let s = match self {
            Scalar::Null => "null".to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::BigInt(u) => u.to_string(),
            Scalar::Float(f) => {
                serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string())
            }
            Scalar::Str(s) => serde_json::Value::String(s.to_string()).to_string(),
            Scalar::Nested(v) => v.to_string(),
        };
        cepheus_engine::event::truncate_for_message(s)
    }
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::BigInt(v), Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    // Nested values only reach here for a schema field (unused keys are
    // skipped unbuilt); they are kept whole for the error message.
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let d = de::value::SeqAccessDeserializer::new(seq);
        Ok(Scalar::Nested(Box::new(de::Deserialize::deserialize(d)?)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let d = de::value::MapAccessDeserializer::new(map);
        Ok(Scalar::Nested(Box::new(de::Deserialize::deserialize(d)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cepheus_engine::decode_fields;

    fn registry() -> TypeRegistry {
        let src = "create schema T(s string, i long, d double, b boolean, ts long);\
                   create schema U(x long);\
                   create schema W(x long, at long) starttimestamp at;";
        let script = cepheus_parser::parse_script(src).expect("parses");
        cepheus_engine::bind_script(src, &script, &TypeRegistry::default())
            .expect("binds")
            .registry
    }

    /// The streaming decoder and the `serde_json::Value` path agree on every
    /// line: same fields, or the same error.
    #[test]
    fn agrees_with_the_value_decoder() {
        let reg = registry();
        let t = reg.get("T").cloned().expect("T");
        for line in [
            r#"{"s":"a","i":1,"d":2,"b":true,"ts":5}"#,
            r#"{"i":1.0,"d":2.5,"extra":{"deep":[1,2,{"x":null}]},"ts":5}"#,
            r#"{"s":"esc\"aped\u00e9","i":null}"#,
            r#"{"\u0073":"escaped key","i":2}"#,
            r#"{"s":1}"#,
            r#"{"i":1.5}"#,
            r#"{"i":"7"}"#,
            r#"{"b":[1,2]}"#,
            r#"{"d":18446744073709551615}"#,
            r#"{"i":18446744073709551615}"#,
            r#"{"s":{"nested":[1,2,3]}}"#,
            r#"{"s":"this is a rather long string value that will be truncated"}"#,
        ] {
            let obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).expect("test line is an object");
            let expected = decode_fields(&t, &obj);
            let got = match decode_object(line, &reg, Some(&t), &mut Interner::default()) {
                Ok(d) => Ok(d.fields.into_vec().into_boxed_slice()),
                Err(ObjectError::Field(e)) => Err(e),
                Err(other) => panic!("{line}: unexpected {other:?}"),
            };
            assert_eq!(got, expected, "{line}");
        }
    }

    #[test]
    fn the_type_key_may_come_anywhere() {
        let reg = registry();
        for line in [
            r#"{"type":"U","x":3}"#,
            r#"{"x":3,"type":"U"}"#,
            r#"{"y":"ignored","x":3,"type":"U","z":[1]}"#,
        ] {
            let d = decode_object(line, &reg, None, &mut Interner::default()).expect(line);
            assert_eq!(d.ty.name, "U");
            assert_eq!(&*d.fields, &[Value::Int(3)], "{line}");
        }
    }

    #[test]
    fn short_strings_are_inline_and_longer_ones_shared() {
        let reg = registry();
        let t = reg.get("T").cloned().expect("T");
        let mut strings = Interner::default();
        let mut decode = |line: &str, serde: bool| {
            let d = if serde {
                decode_object_serde(line, &reg, Some(&t), &mut strings)
            } else {
                decode_object(line, &reg, Some(&t), &mut strings)
            };
            match d.map(|d| d.fields[0].clone()) {
                Ok(Value::Str(s)) => s,
                _ => panic!("{line}: a string"),
            }
        };
        for serde in [false, true] {
            let short = decode(r#"{"s":"s-1"}"#, serde);
            assert_eq!((short.as_str(), short.is_heap_allocated()), ("s-1", false));
            let most = "y".repeat(intern::INLINE_MAX_LEN);
            let inline = decode(&format!(r#"{{"s":"{most}"}}"#), serde);
            assert_eq!(
                (inline.as_str(), inline.is_heap_allocated()),
                (&*most, false)
            );
        }
        // Past the inline length, the fast path and the serde path share one cache.
        let mid = format!(r#"{{"s":"{}"}}"#, "m".repeat(intern::INLINE_MAX_LEN + 1));
        let shared = |s: SmolStr| Arc::<str>::from(s);
        let a = shared(decode(&mid, false));
        let b = shared(decode(&mid, false));
        let c = shared(decode(&mid.replace('}', r#","extra":[1]}"#), true));
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &c));
        let long = format!(r#"{{"s":"{}"}}"#, "x".repeat(intern::INTERN_MAX_LEN + 1));
        for serde in [false, true] {
            assert_eq!(
                Arc::strong_count(&shared(decode(&long, serde))),
                1,
                "long strings are not kept"
            );
        }
    }

    /// An event's time is its type's timestamp field, or else the `ts` key;
    /// a type's missing timestamp is an error.
    #[test]
    fn the_time_of_an_event() {
        let reg = registry();
        let time =
            |line: &str| decode_object(line, &reg, None, &mut Interner::default()).map(|d| d.time);
        assert_eq!(
            time(r#"{"type":"W","at":5,"ts":7}"#).ok(),
            Some(Some(EventTime(5)))
        );
        assert_eq!(
            time(r#"{"type":"U","at":5,"ts":7}"#).ok(),
            Some(Some(EventTime(7)))
        );
        assert_eq!(time(r#"{"type":"U","x":5}"#).ok(), Some(None));
        for line in [r#"{"type":"W","ts":7}"#, r#"{"type":"W","at":null}"#] {
            assert!(
                matches!(
                    time(line),
                    Err(ObjectError::Field(DecodeError::MissingTimestamp { .. }))
                ),
                "{line}"
            );
        }
    }

    #[test]
    fn bad_objects_are_errors_not_panics() {
        let reg = registry();
        let t = reg.get("T").cloned();
        for line in ["", "[1]", "{", r#"{"s":"a"} trailing"#, "nul", "42"] {
            assert!(
                matches!(
                    decode_object(line, &reg, t.as_ref(), &mut Interner::default()),
                    Err(ObjectError::Malformed(_))
                ),
                "{line:?}"
            );
        }
        assert!(matches!(
            decode_object(r#"{"type":"Nope"}"#, &reg, None, &mut Interner::default()),
            Err(ObjectError::UnknownType(n)) if n == "Nope"
        ));
        assert!(matches!(
            decode_object(r#"{"x":1}"#, &reg, None, &mut Interner::default()),
            Err(ObjectError::NoType)
        ));
    }
}
