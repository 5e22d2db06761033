//! The fast path of [`super::decode_object`]: a byte scanner for
//! the common line, a flat object of plain strings, short numbers and
//! literals, decoded straight into the event's field slots.
//!
//! It only ever answers for lines it fully understands and that decode
//! without error; anything else (escapes, nested values, exponents, long
//! numbers, `-0`, duplicate keys, a late `type` key, a wrong type, malformed
//! JSON, invalid UTF-8) returns `None` and the caller takes the serde path,
//! which produces the same fields or the right error. So it must agree with
//! that path on every line it accepts: same numbers (to the bit), same
//! strings, same `ts`.
use std::sync::Arc;

use cepheus_engine::{EventFields, EventTime, EventType, Type, TypeRegistry, Value, timestamp_of};
use smol_str::SmolStr;

use smallvec::SmallVec;

use super::Decoded;
use super::intern::{FieldCache, Interner, TypeStrings, bytes_eq};
use super::layout::{Layout, Span};

/// `1e0..=1e22`: every one exact in an `f64`, so `significand / 10^k` with a
/// significand below 2^53 is correctly rounded, which is also what serde_json
/// computes (the same division).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Bytes that end a plain string's scan: `"`, `\` and control characters.
const STOP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t
};

/// A number as the slow path's `Scalar` sees it, for the shapes the fast
/// path takes.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    /// The same bytes as a `str`, when they are known to be UTF-8.
    text: Option<&'a str>,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// The contents of a string without escapes; the opening quote is already
    /// eaten. `None` for escapes or control characters.
    #[inline(always)]
    fn plain_bytes(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while STOP[usize::from(*self.b.get(self.i)?)] == 0 {
            self.i += 1;
        }
        if self.b[self.i] != b'"' {
            return None;
        }
        self.i += 1;
        Some(&self.b[start..self.i - 1])
    }

    /// [`Self::plain_bytes`] as a `str`: `None` for invalid UTF-8 too.
    #[inline(always)]
    fn plain_str(&mut self) -> Option<&'a str> {
        let start = self.i;
        let s = self.plain_bytes()?;
        as_str(self.text, s, start)
    }

    /// A number of at most 18 digits without exponent (and not `-0`),
    /// valid per the JSON grammar.
    #[inline(always)]
    fn number(&mut self) -> Option<Num> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut sig: u64 = 0;
        self.digits(&mut sig, start, 18)?;
        let int_digits = self.i - start;
        if int_digits == 0 || (int_digits > 1 && self.b[start] == b'0') {
            return None;
        }
        let num = if self.peek() == Some(b'.') {
            self.i += 1;
            let frac_start = self.i;
            // The limit counts the `.` too.
            self.digits(&mut sig, start, 19)?;
            let frac_digits = self.i - frac_start;
            if frac_digits == 0 || frac_digits >= POW10.len() || sig >= 1 << 53 {
                return None;
            }
            let f = sig as f64 / POW10[frac_digits];
            Num::Float(if neg { -f } else { f })
        } else if neg {
            if sig == 0 {
                return None; // `-0` is a float to serde_json
            }
            Num::Int(-(sig as i64))
        } else {
            Num::Int(sig as i64)
        };
        if let Some(b'e' | b'E') = self.peek() {
            return None;
        }
        Some(num)
    }

    /// After an object member: `,` (another member follows: `true`) or the
    /// closing `}` (`false`); anything else is not a flat object.
    #[inline(always)]
    fn more_members(&mut self) -> Option<bool> {
        self.ws();
        if self.eat(b',').is_some() {
            self.ws();
            return Some(true);
        }
        self.eat(b'}')?;
        Some(false)
    }

    /// Reads decimal digits into `sig`; `None` once the number, counted from
    /// `start`, is longer than `limit` bytes (`sig` could overflow).
    #[inline(always)]
    fn digits(&mut self, sig: &mut u64, start: usize, limit: usize) -> Option<()> {
        // Eight digits at a time while they fit the limit (timestamps,
        // long ids); the rest one by one.
        while self.i + 8 - start <= limit
            && let Some(eight) = self.b.get(self.i..self.i + 8).and_then(eight_digits)
        {
            *sig = *sig * 100_000_000 + eight;
            self.i += 8;
        }
        while let Some(c @ b'0'..=b'9') = self.peek() {
            *sig = *sig * 10 + u64::from(c - b'0');
            self.i += 1;
            if self.i - start > limit {
                return None;
            }
        }
        Some(())
    }

    /// Whether `name` and a closing quote come next (then eaten).
    #[inline(always)]
    fn follows(&mut self, name: &[u8]) -> bool {
        let n = name.len();
        match self.b.get(self.i..self.i + n + 1) {
            Some(s) if s[n] == b'"' && bytes_eq(&s[..n], name) => {
                self.i += n + 1;
                true
            }
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }
}

/// `s`, the plain string at `at` of a line, as a `str`; `text`: the line,
/// when it is known to be UTF-8. `None` for invalid UTF-8.
#[inline(always)]
fn as_str<'a>(text: Option<&'a str>, s: &'a [u8], at: usize) -> Option<&'a str> {
    match text {
        // A slice between two ASCII quotes of a `str`: on char boundaries.
        Some(text) => text.get(at..at + s.len()),
        None => std::str::from_utf8(s).ok(),
    }
}

/// The value of `b` (eight bytes) when all are ASCII digits, read as one
/// word (simdjson's check and conversion): pairs, quads and the two halves
/// are combined by three multiplies.
#[inline(always)]
fn eight_digits(b: &[u8]) -> Option<u64> {
    let mut w = [0; 8];
    w.copy_from_slice(b);
    let w = u64::from_le_bytes(w);
    // Every byte 0x30..=0x3f, and still so with 6 added: 0x30..=0x39.
    let high = |v: u64| v & 0xf0f0_f0f0_f0f0_f0f0;
    if high(w) | high(w.wrapping_add(0x0606_0606_0606_0606)) >> 4 != 0x3333_3333_3333_3333 {
        return None;
    }
    // The first digit is the lowest byte.
    let x = w - 0x3030_3030_3030_3030;
    let x = ((x & 0x0f00_0f00_0f00_0f00) >> 8) + (x & 0x000f_000f_000f_000f) * 10;
    let x = ((x & 0x00ff_0000_00ff_0000) >> 16) + (x & 0x0000_00ff_0000_00ff) * 100;
    Some(((x & 0x0000_ffff_0000_0000) >> 32) + (x & 0x0000_0000_0000_ffff) * 10_000)
}

/// A value the fast path read.
enum Flat<'a> {
    Null,
    Bool(bool),
    Num(Num),
    /// A plain string's bytes, at `at` in the line: not yet checked for UTF-8
    /// (a string the field's cache holds needs no check).
    Str {
        bytes: &'a [u8],
        at: usize,
    },
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn value(&mut self) -> Option<Flat<'a>> {
        Some(match self.peek()? {
            b'"' => {
                self.i += 1;
                let at = self.i;
                Flat::Str {
                    bytes: self.plain_bytes()?,
                    at,
                }
            }
            b'-' | b'0'..=b'9' => Flat::Num(self.number()?),
            b't' => {
                self.literal(b"true")?;
                Flat::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Flat::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                Flat::Null
            }
            _ => return None,
        })
    }
}

/// The slot value of `v` for a field of type `ty`, when it converts without
/// error (the same rules as the slow path's `Scalar::into_value`); `intern`
/// makes a string's value from its bytes and place in the line (`None` for
/// invalid UTF-8).
#[inline(always)]
fn convert(
    v: Flat<'_>,
    ty: Type,
    intern: impl FnOnce(&[u8], usize) -> Option<SmolStr>,
) -> Option<Value> {
    Some(match (ty, v) {
        (_, Flat::Null) => Value::Null,
        (Type::Int, Flat::Num(Num::Int(i))) => Value::Int(i),
        (Type::Int, Flat::Num(Num::Float(f))) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Value::Int(f as i64)
        }
        (Type::Float, Flat::Num(Num::Int(i))) => Value::Float(i as f64),
        (Type::Float, Flat::Num(Num::Float(f))) => Value::Float(f),
        (Type::String, Flat::Str { bytes, at }) => Value::Str(intern(bytes, at)?),
        (Type::Bool, Flat::Bool(b)) => Value::Bool(b),
        _ => return None,
    })
}

/// Decodes `bytes` (one JSON object, trimmed) when it is a flat object the
/// fast path takes and it decodes without error; `None` otherwise (the caller
/// then takes the serde path). `text`: the same bytes as a `str`, when they
/// are known to be UTF-8 (otherwise each string used is checked).
///
/// A line with the learned shape of its type's lines (see [`Layout`]) is
/// read value by value; any other is read key by key, and its shape is
/// learned when the line before it did not fit either.
pub(crate) fn decode_flat(
    bytes: &[u8],
    text: Option<&str>,
    registry: &TypeRegistry,
    fixed: Option<&Arc<EventType>>,
    strings: &mut Interner,
) -> Option<Decoded> {
    let mut fields = EventFields::new();
    let (ty, time) = decode_flat_into(bytes, text, registry, fixed, strings, &mut fields)?;
    Some(Decoded {
        ty: ty.clone(),
        fields,
        time,
    })
}

/// [`decode_flat`] into `fields` (emptied first; left in any state when the
/// line is not taken): the event's type and time. The fields are written
/// where the caller keeps them, not moved out through return values.
pub(crate) fn decode_flat_into<'r>(
    bytes: &[u8],
    text: Option<&str>,
    registry: &'r TypeRegistry,
    fixed: Option<&'r Arc<EventType>>,
    strings: &mut Interner,
    fields: &mut EventFields,
) -> Option<(&'r Arc<EventType>, Option<EventTime>)> {
    fields.clear();
    let mut c = Cursor {
        b: bytes,
        i: 0,
        text,
    };
    c.ws();
    c.eat(b'{')?;
    c.ws();
    let ty = match fixed {
        Some(t) => t,
        None => {
            // Not fixed: the first key names the type.
            c.eat(b'"')?;
            if c.plain_bytes()? != b"type" {
                return None;
            }
            c.ws();
            c.eat(b':')?;
            c.ws();
            c.eat(b'"')?;
            registry.get(c.plain_str()?)?
        }
    };
    if ty.fields.len() > 64 {
        return None;
    }
    let typed = fixed.is_none();
    let origin = c.i;
    let TypeStrings {
        fields: caches,
        plain_names,
        layout,
        ..
    } = strings.of_type(ty);
    let ts = match read_in_layout(bytes, text, ty, typed, origin, layout, caches, fields) {
        Some(ts) => {
            layout.fitted();
            ts
        }
        None => {
            fields.clear();
            let mut spans = SmallVec::<[Span; 8]>::new();
            let read = read_by_key(c, ty, typed, *plain_names, caches, fields, &mut spans)?;
            if read.learnable && layout.missed_again() {
                layout.learn(bytes, typed, origin, &spans);
            }
            read.ts
        }
    };
    if fields.len() < ty.fields.len() {
        fields.resize(ty.fields.len(), Value::Null);
    }
    let time = match timestamp_of(ty, fields) {
        Ok(Some(t)) => Some(t),
        Ok(None) => ts.map(EventTime),
        // A missing or bad timestamp: the serde path reports it.
        Err(_) => return None,
    };
    Some((ty, time))
}

/// Reads a line with the learned shape, from `origin` on, into `fields`
/// (empty); gives its `ts`. `None` when the line differs from the shape
/// between values, or a value does not decode (the caller reads the line
/// key by key).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn read_in_layout(
    bytes: &[u8],
    text: Option<&str>,
    ty: &EventType,
    typed: bool,
    origin: usize,
    layout: &Layout,
    caches: &mut [FieldCache],
    fields: &mut EventFields,
) -> Option<Option<i64>> {
    if !layout.learned || layout.typed != typed {
        return None;
    }
    let mut ts = None;
    let mut at = origin;
    for m in &layout.members {
        let before = layout.bytes_of(&m.before);
        if !bytes
            .get(at..at + before.len())
            .is_some_and(|b| bytes_eq(b, before))
        {
            return None;
        }
        let mut c = Cursor {
            b: bytes,
            i: at + before.len(),
            text,
        };
        let v = c.value()?;
        at = c.i;
        if m.is_ts {
            ts = int_of(&v);
        }
        place(fields, m.slot, field_value(v, ty, m.slot, caches, text)?);
    }
    let tail = layout.bytes_of(&layout.tail);
    if bytes.len() - at != tail.len() || !bytes_eq(&bytes[at..], tail) {
        return None;
    }
    Some(ts)
}

/// The value of field `slot` of `ty` read as `v` (strings through the
/// field's cache); `None` when it does not convert.
#[inline(always)]
fn field_value(
    v: Flat<'_>,
    ty: &EventType,
    slot: usize,
    caches: &mut [FieldCache],
    text: Option<&str>,
) -> Option<Value> {
    let f = ty.fields.get(slot)?;
    let cache = caches.get_mut(slot)?;
    convert(v, f.ty, |s, at| cache.intern(s, || as_str(text, s, at)))
}

/// `value` into slot `i` of `fields`; slots skipped on the way are null.
#[inline(always)]
fn place(fields: &mut EventFields, i: usize, value: Value) {
    if i == fields.len() {
        fields.push(value);
    } else if i > fields.len() {
        fields.resize(i, Value::Null);
        fields.push(value);
    } else {
        fields[i] = value;
    }
}

/// An integer read, as an event's `ts` (other values give no time).
#[inline(always)]
fn int_of(v: &Flat<'_>) -> Option<i64> {
    match v {
        Flat::Num(Num::Int(t)) => Some(*t),
        _ => None,
    }
}

/// What [`read_by_key`] read besides the fields.
struct ByKey {
    ts: Option<i64>,
    /// Every key named a field of the type: the line's shape can be learned.
    learnable: bool,
}

/// Reads the members of a line key by key into `fields` (empty), from the
/// cursor on (just after the opening brace, or after the type's name when
/// `typed`); the values' places go to `spans`.
fn read_by_key(
    mut c: Cursor<'_>,
    t: &EventType,
    typed: bool,
    plain_names: bool,
    caches: &mut [FieldCache],
    fields: &mut EventFields,
    spans: &mut SmallVec<[Span; 8]>,
) -> Option<ByKey> {
    // Which slots have been written (keys may repeat only on the slow path).
    let mut seen: u64 = 0;
    let mut ts = None;
    let mut ts_seen = false;
    let mut next_field = 0;
    let mut learnable = true;
    let has_members = if typed {
        c.more_members()?
    } else if c.peek() == Some(b'}') {
        c.i += 1;
        false
    } else {
        true
    };
    if has_members {
        loop {
            c.eat(b'"')?;
            // Keys usually come in declaration order: the next field's name,
            // when it follows, is taken without a scan.
            let (key, known) = match t.fields.get(next_field) {
                Some(f) if plain_names && c.follows(f.name.as_bytes()) => (f.name.as_bytes(), true),
                _ => (c.plain_bytes()?, false),
            };
            c.ws();
            c.eat(b':')?;
            c.ws();
            if typed && key == b"type" {
                return None;
            }
            let slot = match t.fields.get(next_field) {
                _ if known => Some(next_field),
                Some(f) if bytes_eq(f.name.as_bytes(), key) => Some(next_field),
                _ => t.field(std::str::from_utf8(key).ok()?),
            };
            let start = c.i;
            let v = c.value()?;
            let is_ts = key == b"ts";
            if is_ts {
                if ts_seen {
                    return None;
                }
                ts_seen = true;
                ts = int_of(&v);
            }
            match slot {
                None => {
                    learnable = false;
                    if let Flat::Str { bytes, at } = v {
                        // An unused string is still checked: the serde path
                        // rejects a line that is not UTF-8.
                        as_str(c.text, bytes, at)?;
                    }
                }
                Some(i) => {
                    next_field = i + 1;
                    let bit = 1u64 << i;
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                    place(fields, i, field_value(v, t, i, caches, c.text)?);
                    spans.push(Span {
                        start,
                        end: c.i,
                        slot: i,
                        is_ts,
                    });
                }
            }
            if !c.more_members()? {
                break;
            }
        }
    }
    c.ws();
    if c.i != c.b.len() {
        return None;
    }
    Some(ByKey { ts, learnable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_fields::decode_object_serde;
    use proptest::prelude::*;

    fn registry() -> TypeRegistry {
        let src = "create schema T(s string, i long, d double, b boolean, ts long);\
                   create schema U(x long, type string);\
                   create schema V(ts double, n long);\
                   create schema W(s string, ts long) starttimestamp ts;";
        let script = cepheus_parser::parse_script(src).expect("parses");
        cepheus_engine::bind_script(src, &script, &TypeRegistry::default())
            .expect("binds")
            .registry
    }

    /// Type, fields (floats to the bit, through `Debug`) and time, or the error.
    fn outcome(r: Result<Decoded, crate::json_fields::ObjectError>) -> String {
        match r {
            Ok(d) => format!("{} {:?} {:?}", d.ty.name, d.fields, d.time),
            Err(e) => format!("error {e:?}"),
        }
    }

    /// Whenever the fast path takes a line (as `str` or as bytes), it gives
    /// what the serde path gives; it never takes a line the serde path rejects.
    fn check(line: &[u8], reg: &TypeRegistry) {
        check_in_turn(&[line.to_vec()], reg);
    }

    #[test]
    fn takes_the_usual_lines() {
        let reg = registry();
        let t = reg.get("T");
        for line in [
            r#"{"s":"a","i":1,"d":2.5,"b":true,"ts":5}"#,
            r#"{"ts":5,"b":false,"d":-0.125,"i":-3,"s":"é"}"#,
            r#" { "s" : "a" , "i" : null , "zz" : 1.5 , "q" : "x" , "ts" : 0 } "#,
            r#"{"ts":0}"#,
            r#"{"i":7.0,"ts":0}"#,
        ] {
            assert!(
                decode_flat(line.as_bytes(), None, &reg, t, &mut Interner::default()).is_some(),
                "{line}"
            );
            check(line.as_bytes(), &reg);
        }
        for line in [
            r#"{"type":"U","x":3}"#,
            r#"{"type":"U"}"#,
            r#"{"type":"T","s":"a","ts":1}"#,
        ] {
            assert!(
                decode_flat(line.as_bytes(), None, &reg, None, &mut Interner::default()).is_some(),
                "{line}"
            );
        }
    }

    #[test]
    fn agrees_with_the_serde_path_on_edge_cases() {
        let reg = registry();
        for line in [
            r#"{"s":"a","i":1,"d":2,"b":true,"ts":5}"#,
            r#"{"d":0.1}"#,
            r#"{"d":1.7976931348623157}"#,
            r#"{"d":123456789012345.678}"#,
            r#"{"d":9007199254740993.5}"#,
            r#"{"d":0.30000000000000004}"#,
            r#"{"d":1.00000000000000000000001}"#,
            r#"{"d":0.0000000000000000000001}"#,
            r#"{"d":0.00000000000000000000001}"#,
            r#"{"d":-0}"#,
            r#"{"d":-0.0}"#,
            r#"{"i":-0}"#,
            r#"{"i":-0.0}"#,
            r#"{"d":1e5}"#,
            r#"{"d":1E-5}"#,
            r#"{"i":01}"#,
            r#"{"i":00}"#,
            r#"{"i":1.}"#,
            r#"{"i":.5}"#,
            r#"{"i":-}"#,
            r#"{"i":+1}"#,
            r#"{"i":999999999999999999}"#,
            r#"{"i":9999999999999999999}"#,
            r#"{"i":-999999999999999999}"#,
            r#"{"i":9223372036854775807}"#,
            r#"{"i":-9223372036854775808}"#,
            r#"{"i":18446744073709551616}"#,
            r#"{"i":8999999999999999.0}"#,
            r#"{"i":9000000000000000.0}"#,
            r#"{"i":1.5}"#,
            r#"{"i":"7"}"#,
            r#"{"s":1}"#,
            r#"{"s":true}"#,
            r#"{"b":1}"#,
            r#"{"b":nul}"#,
            r#"{"b":truex}"#,
            r#"{"b":tru}"#,
            r#"{"s":"a\"b"}"#,
            r#"{"s":"a\u0041"}"#,
            "{\"s\":\"tab\there\"}",
            r#"{"\u0073":"escaped key"}"#,
            r#"{"s":"a","s":"b"}"#,
            r#"{"s":"a","s":1}"#,
            r#"{"ts":1,"ts":2}"#,
            r#"{"ts":1,"ts":"x"}"#,
            r#"{"ts":1.5}"#,
            r#"{"ts":-7}"#,
            r#"{"ts":"2026-01-01T00:00:00Z"}"#,
            r#"{"ts":[1]}"#,
            r#"{"x":1,"type":"U"}"#,
            r#"{"type":"U","x":1,"type":"U"}"#,
            r#"{"type":"Nope","x":1}"#,
            r#"{"type":1}"#,
            r#"{"type":"U"}"#,
            r#"{"type":"V","ts":5,"n":1}"#,
            r#"{"type":"V","ts":5.5}"#,
            r#"{"type":"W","ts":5,"s":"a"}"#,
            r#"{"type":"W","s":"a"}"#,
            r#"{"type":"W","ts":null}"#,
            r#"{"type":"W","ts":2.0}"#,
            r#"{"type":"W","ts":2.5}"#,
            r#"{"type":"W","ts":"2026-01-01T00:00:00Z"}"#,
            r#"{"extra":{"deep":[1,2]},"i":1}"#,
            r#"{"extra":[],"i":1}"#,
            r#"{"s":"a",}"#,
            r#"{"s":"a""i":1}"#,
            r#"{"s":"a"} x"#,
            r#"{"s":"a"}}"#,
            r#"{"s":"a""#,
            r#"{"s""#,
            r#"{"s":"#,
            r#"{"s"1}"#,
            r#"{,}"#,
            r#"{"#,
            r#"}"#,
            r#"[1]"#,
            r#"42"#,
            r#""s""#,
            "",
            "{\"s\":\"a\"}\u{c}",
            "{\"s\":\"a\"\u{c}}",
            "{\n\"s\"\r:\t\"a\"}",
            "{\"s\":\"\u{7f}\"}",
            "{\"s\":\"\u{1f}\"}",
        ] {
            check(line.as_bytes(), &reg);
        }
        for bytes in [
            &b"{\"s\":\"\xff\"}"[..],
            b"{\"s\":\"a\xc3\"}",
            b"{\"\xff\":1}",
            b"{\"zz\":\"\xe2\x82\"}",
            b"{\"s\":\"a\"}\xff",
        ] {
            check(bytes, &reg);
        }
    }

    /// Field names are matched verbatim in the line only when no byte of
    /// theirs would end a plain string there.
    #[test]
    fn odd_field_names_are_not_matched_verbatim() {
        use cepheus_engine::TypeId;
        use cepheus_engine::schema::FieldInfo;
        let field = |name: &str| FieldInfo {
            name: name.into(),
            ty: Type::Int,
        };
        for name in ["a\"b", "a\\b", "a\nb"] {
            let t = Arc::new(EventType::new(
                TypeId(0),
                "W".into(),
                vec![field(name), field("z")],
                None,
            ));
            let reg = TypeRegistry::default();
            let escaped = serde_json::to_string(name).expect("a string");
            for line in [
                format!("{{{escaped}:1,\"z\":2}}"),
                format!("{{\"{name}\":1,\"z\":2}}"),
                format!("{{\"z\":2,\"{name}\":1}}"),
            ] {
                let mut strings = Interner::default();
                let fast = decode_flat(line.as_bytes(), None, &reg, Some(&t), &mut strings);
                let reference = decode_object_serde(&line, &reg, Some(&t), &mut strings);
                if let Some(fast) = fast {
                    assert_eq!(outcome(Ok(fast)), outcome(reference), "{line}");
                }
            }
        }
    }

    /// One decoder's caches follow the type a type id names: another
    /// registry's type 0 starts over.
    #[test]
    fn caches_follow_the_type() {
        let mut strings = Interner::default();
        let (a, b) = (registry(), registry());
        for reg in [&a, &b, &a] {
            for name in ["T", "U", "W"] {
                let line = r#"{"s":"x","x":1,"type":"y","ts":1}"#;
                let t = reg.get(name).expect("declared");
                let d = decode_flat(line.as_bytes(), None, reg, Some(t), &mut strings);
                assert_eq!(d.expect("flat").fields.len(), t.fields.len());
            }
        }
    }

    #[test]
    fn eight_digits_reads_only_digits() {
        assert_eq!(eight_digits(b"01234567"), Some(1_234_567));
        assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
        assert_eq!(eight_digits(b"17672256"), Some(17_672_256));
        for bad in [
            b"0123456/",
            b"0123456:",
            b"1234 678",
            b"-1234567",
            b"1.345678",
        ] {
            assert_eq!(
                eight_digits(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Every byte value at every place: only digits pass, and their value is right.
        for place in 0..8 {
            for byte in 0..=255u8 {
                let mut b = *b"31415926";
                b[place] = byte;
                let expected = std::str::from_utf8(&b)
                    .ok()
                    .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|s| s.parse().ok());
                assert_eq!(eight_digits(&b), expected, "{b:?}");
            }
        }
    }

    /// One decoder reads `lines` in turn, as bytes and as text: each line
    /// either has the shape the decoder learned from an earlier one (read
    /// value by value) or is read key by key; both ways it decodes as the
    /// serde path decodes it alone.
    fn check_in_turn(lines: &[Vec<u8>], reg: &TypeRegistry) {
        for fixed in [None, reg.get("T"), reg.get("U"), reg.get("V"), reg.get("W")] {
            let (mut as_bytes, mut as_text) = (Interner::default(), Interner::default());
            for line in lines {
                let line = line.trim_ascii();
                let text = std::str::from_utf8(line).ok();
                let reference = text
                    .map(|t| outcome(decode_object_serde(t, reg, fixed, &mut Interner::default())));
                let fast = [
                    decode_flat(line, None, reg, fixed, &mut as_bytes),
                    text.and_then(|t| decode_flat(t.as_bytes(), Some(t), reg, fixed, &mut as_text)),
                ];
                for fast in fast.into_iter().flatten() {
                    assert_eq!(
                        Some(outcome(Ok(fast))),
                        reference,
                        "{:?} as {:?}",
                        String::from_utf8_lossy(line),
                        fixed.map(|t| &t.name)
                    );
                }
            }
        }
    }

    #[test]
    fn a_learned_shape_reads_the_next_lines() {
        let reg = registry();
        let t = reg.get("T").expect("declared");
        let mut strings = Interner::default();
        let lines = [
            r#"{"s":"a","i":1,"d":2.5,"b":true,"ts":5}"#,
            r#"{"s":"bb","i":-20,"d":3,"b":false,"ts":1767225600001}"#,
            r#"{"s":null,"i":null,"d":null,"b":null,"ts":7}"#,
        ];
        for line in lines {
            let d = decode_flat(line.as_bytes(), None, &reg, Some(t), &mut strings);
            assert!(d.is_some(), "{line}");
            assert!(strings.of_type(t).layout.learned, "{line}");
        }
        check_in_turn(&lines.map(|l| l.as_bytes().to_vec()), &reg);
        // Lines that differ from the learned shape between values are read key by key.
        check_in_turn(
            &[
                r#"{"s":"a","i":1,"ts":5}"#,
                r#"{"s":"a","i":1,"ts":5,"ts":6}"#,
                r#"{"s":"a","i":1,"ts":5}x"#,
                r#"{"s":"a","i":1 ,"ts":5}"#,
                r#"{"s":"a","i":1e3,"ts":5}"#,
                r#"{"s":"a\"b","i":1,"ts":5}"#,
                r#"{"s":"a","i":1,"ts":"5"}"#,
                r#"{"s":"a","i":1,"ts":5.5}"#,
                r#"{"s":"a","i":true,"ts":5}"#,
                r#"{"s":"a","i":1,"ts":5}"#,
                r#"{"type":"T","s":"a","i":1,"ts":5}"#,
                r#"{"type":"T","s":"a","i":1,"ts":5}"#,
                r#"{"type":"U","s":"a","i":1,"ts":5}"#,
                r#"{"type":"T","s":"a","i":1,"ts":5,"type":"T"}"#,
                r#"{"type":"T"}"#,
                r#"{"type":"T"}"#,
                r#"{}"#,
                r#"{}"#,
                r#"{"i":1,"s":"a"}"#,
                r#"{"i":2,"s":"b"}"#,
                r#"{"i":2,"zz":"b"}"#,
                r#"{"i":2,"zz":"b"}"#,
                // Two shapes taking turns, then the second one alone.
                r#"{"s":"a","ts":1}"#,
                r#"{"ts":2,"s":"b"}"#,
                r#"{"s":"c","ts":3}"#,
                r#"{"ts":4,"s":"d"}"#,
                r#"{"ts":5,"s":"e"}"#,
                r#"{"ts":6,"s":"f"}"#,
                r#"{"s":"g","ts":7}"#,
            ]
            .map(|l| l.as_bytes().to_vec()),
            &reg,
        );
    }

    /// Pieces of JSON lines, some valid and some not.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "{",
                "}",
                ",",
                ":",
                " ",
                "\"",
                "\"s\"",
                "\"i\"",
                "\"d\"",
                "\"b\"",
                "\"ts\"",
                "\"type\"",
                "\"x\"",
                "\"n\"",
                "\"zz\"",
                "\"\\u0073\"",
                "\"T\"",
                "\"U\"",
                "\"V\"",
                "\"W\"",
                "\"é\"",
                "\"a\\nb\"",
                "true",
                "false",
                "null",
                "[1,{}]",
                "{\"a\":1}",
                "-0",
                "-",
                "1e3",
                "01",
                "0",
            ])
            .prop_map(str::to_string),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|i| i.to_string()),
            (any::<i32>(), 0u32..30).prop_map(|(i, k)| format!("{i}.{}", "7".repeat(k as usize))),
            (any::<u64>(), 0u64..1_000_000).prop_map(|(a, b)| format!("{a}.{b:06}")),
            any::<f64>().prop_map(|f| f.to_string()),
            "[a-z0-9 \\\\\"\\.\\-]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    /// A value of a flat object's member.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "\"a\"", "\"T\"", "\"U\"", "\"V\"", "\"W\"", "null", "true"
            ])
            .prop_map(str::to_string),
            any::<i64>().prop_map(|i| i.to_string()),
            (-1_000_000i64..1_000_000, 0u32..8)
                .prop_map(|(i, k)| format!("{i}.{}", "3".repeat(k as usize))),
            any::<f64>().prop_map(|f| f.to_string()),
            any::<u64>().prop_map(|i| i.to_string()),
            (0u64..100_000_000_000_000, 0u64..1_000_000).prop_map(|(a, b)| format!("{a}.{b}")),
        ]
    }

    /// A field and its value, as a key-value pair of a flat object.
    fn pair() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["s", "i", "d", "b", "ts", "type", "x", "n", "zz"]),
            value(),
        )
            .prop_map(|(k, v)| format!("\"{k}\":{v}"))
    }

    proptest! {
        #[test]
        fn random_pieces_agree(pieces in prop::collection::vec(piece(), 0..14)) {
            check(pieces.concat().as_bytes(), &registry());
        }

        #[test]
        fn random_flat_objects_agree(pairs in prop::collection::vec(pair(), 0..7)) {
            let line = format!("{{{}}}", pairs.join(","));
            check(line.as_bytes(), &registry());
        }

        #[test]
        fn lines_of_one_shape_agree(
            keys in prop::collection::vec(
                prop::sample::select(vec!["s", "i", "d", "b", "ts", "type", "x", "zz"]),
                0..6,
            ),
            ty in prop::option::of(prop::sample::select(vec!["T", "U", "W"])),
            lines in prop::collection::vec(
                (
                    prop::collection::vec(value(), 6),
                    prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
                ),
                1..8,
            ),
        ) {
            let lines: Vec<Vec<u8>> = lines
                .into_iter()
                .map(|(values, change)| {
                    let mut members: Vec<String> = ty
                        .map(|t| format!("\"type\":\"{t}\""))
                        .into_iter()
                        .collect();
                    members.extend(keys.iter().zip(&values).map(|(k, v)| format!("\"{k}\":{v}")));
                    let mut line = format!("{{{}}}", members.join(",")).into_bytes();
                    if let Some((at, byte)) = change {
                        let i = at.index(line.len());
                        line[i] = byte;
                    }
                    line
                })
                .collect();
            check_in_turn(&lines, &registry());
        }

        #[test]
        fn random_bytes_agree(
            pairs in prop::collection::vec(pair(), 1..5),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut line = format!("{{{}}}", pairs.join(",")).into_bytes();
            let i = at.index(line.len());
            line[i] = byte;
            check(&line, &registry());
        }
    }
}
