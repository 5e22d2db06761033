//! Runtime values and their static types.
use smol_str::SmolStr;
use std::cmp::Ordering;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use crate::event::Event;

/// A value flowing through the engine. `Int` covers EPL `int` and `long`,
/// `Float` covers `double` and `float`; the distinction that matters for
/// output (an integer prints without a fraction) is kept.
#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Inline up to 23 bytes (ids, tokens, sides: no allocation, no pointer
    /// to follow when compared or hashed), shared beyond.
    Str(SmolStr),
    /// A whole event: a pattern tag (`select a from pattern [...]`).
    Event(Arc<Event>),
    /// The events of a repeated pattern tag (`[3] a=A` binds `a` to three events).
    Array(Arc<[Value]>),
}

/// The static type of an expression, inferred by the binder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    /// An event of the given type (a pattern tag used as a value).
    Event(crate::schema::TypeId),
    /// Only `null` (the literal): compatible with everything.
    Null,
}

impl Type {
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Null)
    }
    pub fn name(self) -> &'static str {
        match self {
            Type::Bool => "boolean",
            Type::Int => "long",
            Type::Float => "double",
            Type::String => "string",
            Type::Event(_) => "event",
            Type::Null => "null",
        }
    }
    /// The wider numeric type of two operands (`int + double` is `double`).
    pub fn numeric_join(self, other: Type) -> Type {
        if self == Type::Float || other == Type::Float {
            Type::Float
        } else {
            Type::Int
        }
    }
}

impl From<cepheus_parser::FieldType> for Type {
    fn from(t: cepheus_parser::FieldType) -> Type {
        use cepheus_parser::FieldType as F;
        match t {
            F::String => Type::String,
            F::Int | F::Long => Type::Int,
            F::Double | F::Float => Type::Float,
            F::Boolean => Type::Bool,
        }
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn str(s: &str) -> Value {
        Value::Str(SmolStr::new(s))
    }

    /// SQL comparison: `None` when either side is null or the types do not compare.
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (a, b) if let (Some(a), Some(b)) = (Number::of(a), Number::of(b)) => a.sql_cmp(b),
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// A total order for sorting (`order by`): null sorts lowest.
    pub fn sort_cmp(&self, other: &Value) -> Ordering {
        match (self.is_null(), other.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => self.sql_cmp(other).unwrap_or(Ordering::Equal),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Event(e) => e.to_json(),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
        }
    }
}

/// Group keys and `count(distinct)` compare values by identity of content:
/// `1` and `1.0` are the same key, as in Esper's boxed-number equality for
/// same-typed columns.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits() || a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => {
                (*a as f64) == *b
            }
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Event(a), Value::Event(b)) => Arc::ptr_eq(a, b),
            (Value::Array(a), Value::Array(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => 0u8.hash(state),
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => hash_number(*i as f64, state),
            Value::Float(f) => hash_number(*f, state),
            Value::Str(s) => s.hash(state),
            Value::Event(e) => (Arc::as_ptr(e) as usize).hash(state),
            Value::Array(items) => items.hash(state),
        }
    }
}

fn hash_number<H: std::hash::Hasher>(f: f64, state: &mut H) {
    // Integers and equal floats must hash alike; normalise -0.0.
    let f = if f == 0.0 { 0.0 } else { f };
    f.to_bits().hash(state)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => f.write_str(s),
            Value::Event(e) => write!(f, "{}", e.to_json()),
            Value::Array(_) => write!(f, "{}", self.to_json()),
        }
    }
}

/// A number, as comparisons and numeric aggregates see it
/// (see [`crate::aggregate::AggState::number`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    /// SQL order of numbers (what [`Value::sql_cmp`] uses): integers
    /// exactly, otherwise as doubles.
    pub fn sql_cmp(self, other: Number) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    pub fn of(value: &Value) -> Option<Number> {
        match value {
            Value::Int(i) => Some(Number::Int(*i)),
            Value::Float(f) => Some(Number::Float(*f)),
            _ => None,
        }
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        match n {
            Number::Int(i) => Value::Int(i),
            Number::Float(f) => Value::Float(f),
        }
    }
}
