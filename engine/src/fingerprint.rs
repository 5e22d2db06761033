//! Statement identity across reloads and restarts: a hash of the statement's
//! normalised text (the parser's printout, which ignores whitespace, comments
//! and keyword case) and of the definition of every event type it reads or
//! inserts into. Two plans with the same name and fingerprint run the same
//! operators over the same field layout, so one's state fits the other.
use std::fmt::Write;

use crate::pattern::PatternNode;
use crate::plan::{InputPlan, StatementPlan};
use crate::schema::{EventType, TypeRegistry};
use crate::value::Type;

/// A statement's identity: see the module documentation.
pub type Fingerprint = u64;

/// The fingerprint of `plan`, whose statement prints as `normalised`.
pub(crate) fn statement_fingerprint(
    normalised: &str,
    plan: &StatementPlan,
    registry: &TypeRegistry,
) -> Fingerprint {
    let mut h = blake3::Hasher::new();
    h.update(b"statement\0");
    h.update(normalised.as_bytes());
    for ty in types_used(plan) {
        h.update(b"\0type\0");
        h.update(type_definition(ty, registry).as_bytes());
    }
    first_u64(h.finalize())
}

/// A hash of one event type's definition (name, fields and their types, the
/// timestamp field): events of a type whose definition hash is unchanged can
/// be carried over to a new rule set.
pub fn type_fingerprint(ty: &EventType, registry: &TypeRegistry) -> Fingerprint {
    first_u64(blake3::hash(type_definition(ty, registry).as_bytes()))
}

fn first_u64(hash: blake3::Hash) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

/// `Name(field type, ...)@timestamp`, naming (not numbering) referenced types.
fn type_definition(ty: &EventType, registry: &TypeRegistry) -> String {
    let mut s = format!("{}(", ty.name);
    for (i, f) in ty.fields.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = match f.ty {
            Type::Event(id) => {
                let name = registry
                    .iter()
                    .find(|t| t.id == id)
                    .map_or("?", |t| t.name.as_str());
                write!(s, "{} event<{name}>", f.name)
            }
            other => write!(s, "{} {}", f.name, other.name()),
        };
    }
    s.push(')');
    if let Some(ts) = ty.timestamp {
        let _ = write!(s, "@{ts}");
    }
    s
}

/// The event types `plan` reads or inserts into, in a fixed order.
fn types_used(plan: &StatementPlan) -> Vec<&EventType> {
    fn push<'a>(t: &'a EventType, out: &mut Vec<&'a EventType>) {
        if !out.iter().any(|o| o.name == t.name) {
            out.push(t);
        }
    }
    let mut out: Vec<&EventType> = Vec::new();
    match &plan.input {
        InputPlan::Stream { event_type, .. } => push(event_type, &mut out),
        InputPlan::Pattern(p) => {
            for (_, t) in &p.tags {
                push(t, &mut out);
            }
            let mut stack = vec![&p.root];
            while let Some(n) = stack.pop() {
                match n {
                    PatternNode::Filter { event_type, .. } => push(event_type, &mut out),
                    PatternNode::TimerInterval(_) => {}
                    PatternNode::Every(i)
                    | PatternNode::Not(i)
                    | PatternNode::EveryDistinct { inner: i, .. }
                    | PatternNode::Repeat { inner: i, .. }
                    | PatternNode::Within { inner: i, .. } => stack.push(i),
                    PatternNode::And(a, b)
                    | PatternNode::Or(a, b)
                    | PatternNode::FollowedBy(a, b) => {
                        stack.push(b);
                        stack.push(a);
                    }
                }
            }
        }
    }
    if let Some(t) = &plan.insert_into {
        push(&t.event_type, &mut out);
    }
    out
}
