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
    /// The conjuncts that read tags: checked per waiting instance.
    pub filter: Option<BoundExpr>,
    /// The conjuncts that read only the event: the same for every instance,
    /// so the filter index checks them once per event (as Esper's filter
    /// service does), before it visits any instance.
    pub pre: Option<BoundExpr>,
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
                let (pre, filter) = filter.as_ref().map_or((None, None), split_event_only);
                self.push(Op::Filter(FilterOp {
                    tag: *tag,
                    event_type: event_type.id,
                    filter,
                    pre,
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

/// `filter` as (the conjunction of its top-level conjuncts that read only the
/// event, the conjunction of the others). A filter holds when both do: `and`
/// is true exactly when every conjunct is true, in any grouping.
fn split_event_only(filter: &BoundExpr) -> (Option<BoundExpr>, Option<BoundExpr>) {
    fn conjuncts<'e>(e: &'e BoundExpr, out: &mut Vec<&'e BoundExpr>) {
        match e {
            BoundExpr::And(l, r) => {
                conjuncts(l, out);
                conjuncts(r, out);
            }
            _ => out.push(e),
        }
    }
    fn and_all(v: Vec<&BoundExpr>) -> Option<BoundExpr> {
        v.into_iter()
            .cloned()
            .reduce(|l, r| BoundExpr::And(Box::new(l), Box::new(r)))
    }
    let mut all = Vec::new();
    conjuncts(filter, &mut all);
    let (pre, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| reads_event_only(c));
    (and_all(pre), and_all(rest))
}

/// Whether `e` reads nothing but the current event's fields and constants
/// (function calls are left out: some read the time).
fn reads_event_only(e: &BoundExpr) -> bool {
    match e {
        BoundExpr::Const(_) | BoundExpr::Field(_) => true,
        BoundExpr::TagField { .. }
        | BoundExpr::Tag(_)
        | BoundExpr::TagElement { .. }
        | BoundExpr::Aggregate(_)
        | BoundExpr::Call { .. } => false,
        BoundExpr::Neg(x) | BoundExpr::Not(x) => reads_event_only(x),
        BoundExpr::Arith { left, right, .. } | BoundExpr::Compare { left, right, .. } => {
            reads_event_only(left) && reads_event_only(right)
        }
        BoundExpr::Concat(l, r) | BoundExpr::And(l, r) | BoundExpr::Or(l, r) => {
            reads_event_only(l) && reads_event_only(r)
        }
        BoundExpr::InList { expr, list, .. } => {
            reads_event_only(expr) && list.iter().all(reads_event_only)
        }
        BoundExpr::Between {
            expr, low, high, ..
        } => reads_event_only(expr) && reads_event_only(low) && reads_event_only(high),
        BoundExpr::Like { expr, .. }
        | BoundExpr::Regexp { expr, .. }
        | BoundExpr::IsNull { expr, .. } => reads_event_only(expr),
        BoundExpr::Case {
            operand,
            whens,
            else_result,
        } => {
            operand.as_deref().is_none_or(reads_event_only)
                && whens
                    .iter()
                    .all(|(w, t)| reads_event_only(w) && reads_event_only(t))
                && reads_event_only(else_result)
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
