//! Event types learnt from sampled events when no `create schema` declares
//! them, so `select * from T` works against a topic straight away.
use cepheus_engine::Type;
use serde_json::{Map, Value as Json};

/// A field learnt from samples: its name and the type all its values agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferredField {
    pub name: String,
    pub ty: Type,
}

/// The fields of `samples`, in first-seen order. Numbers are `long` unless some
/// sample has a fraction (`double`); keys whose values disagree, or hold objects or
/// arrays, are left out; keys only ever null are strings. The `type` key (the
/// event type discriminator of mixed JSON lines) is not a field.
pub fn infer_fields<'a>(
    samples: impl IntoIterator<Item = &'a Map<String, Json>>,
) -> Vec<InferredField> {
    // (name, type so far; None = conflicting, Some(Null) = only nulls so far)
    let mut seen: Vec<(String, Option<Type>)> = Vec::new();
    for obj in samples {
        for (key, value) in obj {
            if key == "type" {
                continue;
            }
            let ty = json_type(value);
            match seen.iter_mut().find(|(n, _)| n == key) {
                None => seen.push((key.clone(), ty)),
                Some((_, slot)) => *slot = join(*slot, ty),
            }
        }
    }
    seen.into_iter()
        .filter_map(|(name, ty)| match ty? {
            Type::Null => Some(InferredField {
                name,
                ty: Type::String,
            }),
            ty => Some(InferredField { name, ty }),
        })
        .collect()
}

fn json_type(v: &Json) -> Option<Type> {
    match v {
        Json::Null => Some(Type::Null),
        Json::Bool(_) => Some(Type::Bool),
        Json::Number(n) if n.is_f64() => Some(Type::Float),
        Json::Number(_) => Some(Type::Int),
        Json::String(_) => Some(Type::String),
        Json::Array(_) | Json::Object(_) => None,
    }
}

fn join(a: Option<Type>, b: Option<Type>) -> Option<Type> {
    match (a?, b?) {
        (Type::Null, t) | (t, Type::Null) => Some(t),
        (x, y) if x == y => Some(x),
        (Type::Int, Type::Float) | (Type::Float, Type::Int) => Some(Type::Float),
        _ => None,
    }
}

/// An event type name usable in EPL for a topic or file name: letters, digits
/// and `_` (other characters become `_`), not starting with a digit.
pub fn type_name_for(source: &str) -> String {
    let mut name: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Map<String, Json> {
        match serde_json::from_str(s) {
            Ok(Json::Object(m)) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn fields_types_follow_the_samples() {
        let a = obj(r#"{"type":"T","wallet":"0x1","amount":5,"price":1.5,"ok":true,"note":null}"#);
        let b = obj(r#"{"wallet":"0x2","amount":7.25,"price":2,"extra":[1],"late":"x"}"#);
        let fields = infer_fields([&a, &b]);
        let got: Vec<(&str, Type)> = fields.iter().map(|f| (f.name.as_str(), f.ty)).collect();
        assert_eq!(
            got,
            [
                ("wallet", Type::String),
                ("amount", Type::Float),
                ("price", Type::Float),
                ("ok", Type::Bool),
                ("note", Type::String),
                ("late", Type::String),
            ]
        );
    }

    #[test]
    fn conflicting_values_drop_the_field() {
        let a = obj(r#"{"k":"x","v":1}"#);
        let b = obj(r#"{"k":3,"v":2}"#);
        let got: Vec<String> = infer_fields([&a, &b]).into_iter().map(|f| f.name).collect();
        assert_eq!(got, ["v"]);
    }

    #[test]
    fn type_names_are_identifiers() {
        assert_eq!(type_name_for("trades"), "trades");
        assert_eq!(type_name_for("repl-test.v1"), "repl_test_v1");
        assert_eq!(type_name_for("9lives"), "_9lives");
    }
}
