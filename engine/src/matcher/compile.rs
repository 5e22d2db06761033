//! Turns a bound [`PatternPlan`] into a flat list of operators: chains of the
//! same binary operator become one n-ary operator (`a -> b -> c`, `a and b
//! and c`), as Esper builds them, and filters get an equality key for the
//! filter index when they have one.
use crate::expr::{BoundExpr, CompareOp};
use crate::pattern::{PatternNode, PatternPlan};
use crate::schema::TypeId;

/// Index of an operator in [`Compiled::ops`].
pub(super) type OpId = usize;

#[derive(Debug)]
pub(super) enum Op {
    Filter(FilterOp),
    Interval(i64),
    Every(OpId),
    EveryDistinct {
        keys: Vec<BoundExpr>,
        expiry: Option<i64>,
        inner: OpId,
    },
    Not(OpId),
    Repeat {
        count: u32,
        inner: OpId,
        /// The tags bound inside the repeated expression: they become arrays.
        arrayed: Vec<usize>,
    },
    Within {
        millis: i64,
        inner: OpId,
    },
    And(Vec<OpId>),
    Or(Vec<OpId>),
    FollowedBy(Vec<OpId>),
}

#[derive(Debug)]
pub(super) struct FilterOp {
    pub tag: Option<usize>,
    pub event_type: TypeId,
    pub filter: Option<BoundExpr>,
    /// This filter's slot in the filter index.
    pub slot: usize,
    pub key: Option<EqualityKey>,
}

/// A conjunct `field = tag.field` of a filter: instances waiting on the
/// filter are indexed by the tag's value, events look up their field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EqualityKey {
    pub event_field: usize,
    pub tag: usize,
    pub tag_field: usize,
}

#[derive(Debug)]
pub(super) struct Compiled {
    pub ops: Vec<Op>,
    pub root: OpId,
}

impl Compiled {
    pub fn new(plan: &PatternPlan) -> Compiled {
        let mut c = Compiled {
            ops: Vec::new(),
            root: 0,
        };
        let mut slots = 0;
        c.root = c.compile(&plan.root, &mut slots);
        c
    }

    /// The filters, by slot.
    pub fn filters(&self) -> Vec<&FilterOp> {
        let mut out: Vec<&FilterOp> = self
            .ops
            .iter()
            .filter_map(|o| match o {
                Op::Filter(f) => Some(f),
                _ => None,
            })
            .collect();
        out.sort_by_key(|f| f.slot);
        out
    }

    fn push(&mut self, op: Op) -> OpId {
        self.ops.push(op);
        self.ops.len() - 1
    }

    fn compile(&mut self, n: &PatternNode, slots: &mut usize) -> OpId {
        match n {
            PatternNode::Filter {
                tag,
                event_type,
                filter,
            } => {
                let slot = *slots;
                *slots += 1;
                let key = filter.as_ref().and_then(equality_key);
                self.push(Op::Filter(FilterOp {
                    tag: *tag,
                    event_type: event_type.id,
                    filter: filter.clone(),
                    slot,
                    key,
                }))
            }
            PatternNode::TimerInterval(ms) => self.push(Op::Interval(*ms)),
            PatternNode::Every(i) => {
                let inner = self.compile(i, slots);
                self.push(Op::Every(inner))
            }
            PatternNode::EveryDistinct {
                keys,
                expiry,
                inner,
            } => {
                let inner = self.compile(inner, slots);
                self.push(Op::EveryDistinct {
                    keys: keys.clone(),
                    expiry: *expiry,
                    inner,
                })
            }
            PatternNode::Not(i) => {
                let inner = self.compile(i, slots);
                self.push(Op::Not(inner))
            }
            PatternNode::Repeat { count, inner } => {
                let mut arrayed = Vec::new();
                tags_of(inner, &mut arrayed);
                let inner = self.compile(inner, slots);
                self.push(Op::Repeat {
                    count: *count,
                    inner,
                    arrayed,
                })
            }
            PatternNode::Within { millis, inner } => {
                let inner = self.compile(inner, slots);
                self.push(Op::Within {
                    millis: *millis,
                    inner,
                })
            }
            PatternNode::And(..) | PatternNode::Or(..) | PatternNode::FollowedBy(..) => {
                let mut operands = Vec::new();
                flatten(n, n, &mut operands);
                let ids = operands
                    .into_iter()
                    .map(|o| self.compile(o, slots))
                    .collect();
                self.push(match n {
                    PatternNode::And(..) => Op::And(ids),
                    PatternNode::Or(..) => Op::Or(ids),
                    _ => Op::FollowedBy(ids),
                })
            }
        }
    }
}

/// The operands of a chain of the same operator as `top`, left to right.
fn flatten<'a>(top: &PatternNode, n: &'a PatternNode, out: &mut Vec<&'a PatternNode>) {
    let same = matches!(
        (top, n),
        (PatternNode::And(..), PatternNode::And(..))
            | (PatternNode::Or(..), PatternNode::Or(..))
            | (PatternNode::FollowedBy(..), PatternNode::FollowedBy(..))
    );
    match n {
        PatternNode::And(a, b) | PatternNode::Or(a, b) | PatternNode::FollowedBy(a, b) if same => {
            flatten(top, a, out);
            flatten(top, b, out);
        }
        _ => out.push(n),
    }
}

/// The tags bound by filters under `n`.
fn tags_of(n: &PatternNode, out: &mut Vec<usize>) {
    match n {
        PatternNode::Filter { tag: Some(t), .. } => {
            if !out.contains(t) {
                out.push(*t);
            }
        }
        PatternNode::Filter { tag: None, .. } | PatternNode::TimerInterval(_) => {}
        PatternNode::Every(i)
        | PatternNode::Not(i)
        | PatternNode::EveryDistinct { inner: i, .. }
        | PatternNode::Repeat { inner: i, .. }
        | PatternNode::Within { inner: i, .. } => tags_of(i, out),
        PatternNode::And(a, b) | PatternNode::Or(a, b) | PatternNode::FollowedBy(a, b) => {
            tags_of(a, out);
            tags_of(b, out);
        }
    }
}

/// The first top-level conjunct of `filter` that is `field = tag.field`.
fn equality_key(filter: &BoundExpr) -> Option<EqualityKey> {
    match filter {
        BoundExpr::And(l, r) => equality_key(l).or_else(|| equality_key(r)),
        BoundExpr::Compare {
            op: CompareOp::Eq,
            left,
            right,
        } => match (left.as_ref(), right.as_ref()) {
            (BoundExpr::Field(f), BoundExpr::TagField { tag, field })
            | (BoundExpr::TagField { tag, field }, BoundExpr::Field(f)) => Some(EqualityKey {
                event_field: *f,
                tag: *tag,
                tag_field: *field,
            }),
            _ => None,
        },
        _ => None,
    }
}
