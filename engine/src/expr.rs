//! Bound expressions and their evaluation (SQL three-valued logic).
use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use crate::event::Event;
use crate::value::Value;

/// An expression after binding: names resolved to field slots, aggregates to
/// aggregate slots.
#[derive(Debug, Clone)]
pub enum BoundExpr {
    Const(Value),
    /// A field of the current event.
    Field(usize),
    /// A field of a pattern tag's event.
    TagField {
        tag: usize,
        field: usize,
    },
    /// A pattern tag's whole event.
    Tag(usize),
    /// `a[index]` or `a[index].field`: one event of a repeated pattern tag
    /// (`[3] a=A`), or one of its fields; null when the index is out of range.
    TagElement {
        tag: usize,
        index: usize,
        field: Option<usize>,
    },
    /// The current value of an aggregate.
    Aggregate(usize),
    Neg(Box<BoundExpr>),
    Not(Box<BoundExpr>),
    Arith {
        op: ArithOp,
        float: bool,
        left: Box<BoundExpr>,
        right: Box<BoundExpr>,
    },
    Concat(Box<BoundExpr>, Box<BoundExpr>),
    Compare {
        op: CompareOp,
        left: Box<BoundExpr>,
        right: Box<BoundExpr>,
    },
    And(Box<BoundExpr>, Box<BoundExpr>),
    Or(Box<BoundExpr>, Box<BoundExpr>),
    InList {
        expr: Box<BoundExpr>,
        list: Vec<BoundExpr>,
        negated: bool,
    },
    Between {
        expr: Box<BoundExpr>,
        low: Box<BoundExpr>,
        high: Box<BoundExpr>,
        negated: bool,
    },
    Like {
        expr: Box<BoundExpr>,
        pattern: Arc<LikePattern>,
        negated: bool,
    },
    Regexp {
        expr: Box<BoundExpr>,
        pattern: Arc<regex::Regex>,
        negated: bool,
    },
    IsNull {
        expr: Box<BoundExpr>,
        negated: bool,
    },
    Case {
        operand: Option<Box<BoundExpr>>,
        whens: Vec<(BoundExpr, BoundExpr)>,
        else_result: Box<BoundExpr>,
    },
    Call {
        func: ScalarFunc,
        args: Vec<BoundExpr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

/// Built-in single-row functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarFunc {
    Abs,
    Coalesce,
    Lower,
    Upper,
    Max,
    Min,
}

/// What an expression can see while it is evaluated.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub event: Option<&'a Event>,
    /// Pattern tags: `Value::Event` for a bound tag, null otherwise.
    pub tags: &'a [Value],
    pub aggregates: &'a [Value],
}

impl<'a> Scope<'a> {
    pub fn event(event: &'a Event) -> Scope<'a> {
        Scope {
            event: Some(event),
            tags: &[],
            aggregates: &[],
        }
    }
}

impl BoundExpr {
    pub fn eval(&self, s: &Scope<'_>) -> Value {
        match self {
            BoundExpr::Const(v) => v.clone(),
            BoundExpr::Field(i) => s.event.map_or(Value::Null, |e| e.get(*i).clone()),
            BoundExpr::TagField { tag, field } => match s.tags.get(*tag) {
                Some(Value::Event(e)) => e.get(*field).clone(),
                _ => Value::Null,
            },
            BoundExpr::Tag(tag) => s.tags.get(*tag).cloned().unwrap_or(Value::Null),
            BoundExpr::TagElement { tag, index, field } => match s.tags.get(*tag) {
                Some(Value::Array(items)) => match (items.get(*index), field) {
                    (Some(Value::Event(e)), Some(f)) => e.get(*f).clone(),
                    (Some(v), None) => v.clone(),
                    _ => Value::Null,
                },
                _ => Value::Null,
            },
            BoundExpr::Aggregate(i) => s.aggregates.get(*i).cloned().unwrap_or(Value::Null),
            BoundExpr::Neg(e) => match e.eval(s) {
                Value::Int(i) => Value::Int(i.wrapping_neg()),
                Value::Float(f) => Value::Float(-f),
                _ => Value::Null,
            },
            BoundExpr::Not(e) => match e.eval(s) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            BoundExpr::Arith {
                op,
                float,
                left,
                right,
            } => arith(*op, *float, &left.eval(s), &right.eval(s)),
            BoundExpr::Concat(l, r) => match (l.eval(s), r.eval(s)) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (a, b) => Value::str(&format!("{a}{b}")),
            },
            BoundExpr::Compare { op, left, right } => {
                compare(*op, &left.eval_cow(s), &right.eval_cow(s))
            }
            BoundExpr::And(l, r) => match l.eval(s) {
                Value::Bool(false) => Value::Bool(false),
                lv => match (lv, r.eval(s)) {
                    (_, Value::Bool(false)) => Value::Bool(false),
                    (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
                    _ => Value::Null,
                },
            },
            BoundExpr::Or(l, r) => match l.eval(s) {
                Value::Bool(true) => Value::Bool(true),
                lv => match (lv, r.eval(s)) {
                    (_, Value::Bool(true)) => Value::Bool(true),
                    (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
                    _ => Value::Null,
                },
            },
            BoundExpr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval(s);
                if v.is_null() {
                    return Value::Null;
                }
                let mut saw_null = false;
                for item in list {
                    let iv = item.eval(s);
                    match v.sql_cmp(&iv) {
                        Some(Ordering::Equal) => return Value::Bool(!negated),
                        None if iv.is_null() => saw_null = true,
                        _ => {}
                    }
                }
                if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                }
            }
            BoundExpr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = expr.eval(s);
                let (lo, hi) = (low.eval(s), high.eval(s));
                match (v.sql_cmp(&lo), v.sql_cmp(&hi)) {
                    (Some(a), Some(b)) => {
                        let inside = a != Ordering::Less && b != Ordering::Greater;
                        Value::Bool(inside != *negated)
                    }
                    _ => Value::Null,
                }
            }
            BoundExpr::Like {
                expr,
                pattern,
                negated,
            } => match expr.eval(s) {
                Value::Str(text) => Value::Bool(pattern.matches(&text) != *negated),
                _ => Value::Null,
            },
            BoundExpr::Regexp {
                expr,
                pattern,
                negated,
            } => match expr.eval(s) {
                Value::Str(text) => Value::Bool(pattern.is_match(&text) != *negated),
                _ => Value::Null,
            },
            BoundExpr::IsNull { expr, negated } => Value::Bool(expr.eval(s).is_null() != *negated),
            BoundExpr::Case {
                operand,
                whens,
                else_result,
            } => {
                let subject = operand.as_ref().map(|o| o.eval(s));
                for (cond, result) in whens {
                    let hit = match &subject {
                        Some(v) => v.sql_cmp(&cond.eval(s)) == Some(Ordering::Equal),
                        None => cond.eval(s).as_bool() == Some(true),
                    };
                    if hit {
                        return result.eval(s);
                    }
                }
                else_result.eval(s)
            }
            BoundExpr::Call { func, args } => call(*func, args, s),
        }
    }

    /// [`BoundExpr::eval`], borrowing a field or constant instead of cloning it.
    pub fn eval_cow<'a>(&'a self, s: &Scope<'a>) -> Cow<'a, Value> {
        match self {
            BoundExpr::Const(v) => Cow::Borrowed(v),
            BoundExpr::Field(i) => s
                .event
                .map_or(Cow::Owned(Value::Null), |e| Cow::Borrowed(e.get(*i))),
            BoundExpr::TagField { tag, field } => match s.tags.get(*tag) {
                Some(Value::Event(e)) => Cow::Borrowed(e.get(*field)),
                _ => Cow::Owned(Value::Null),
            },
            BoundExpr::Aggregate(i) => s
                .aggregates
                .get(*i)
                .map_or(Cow::Owned(Value::Null), Cow::Borrowed),
            other => Cow::Owned(other.eval(s)),
        }
    }

    /// Evaluates a condition: only `true` passes; `false` and null do not.
    /// Comparisons and their conjunctions (nearly every filter, `where` and
    /// `having`) are decided without building intermediate values.
    pub fn is_true(&self, s: &Scope<'_>) -> bool {
        match self {
            BoundExpr::Compare { op, left, right } => {
                compare_is_true(*op, &left.eval_cow(s), &right.eval_cow(s))
            }
            // `null and x` is never true, so `and` passes only when both sides do.
            BoundExpr::And(l, r) => l.is_true(s) && r.is_true(s),
            other => matches!(other.eval(s), Value::Bool(true)),
        }
    }
}

fn arith(op: ArithOp, float: bool, l: &Value, r: &Value) -> Value {
    if float {
        let (Some(a), Some(b)) = (l.as_f64(), r.as_f64()) else {
            return Value::Null;
        };
        return match op {
            ArithOp::Add => Value::Float(a + b),
            ArithOp::Sub => Value::Float(a - b),
            ArithOp::Mul => Value::Float(a * b),
            ArithOp::Div => {
                if b == 0.0 {
                    Value::Null
                } else {
                    Value::Float(a / b)
                }
            }
            ArithOp::Mod => {
                if b == 0.0 {
                    Value::Null
                } else {
                    Value::Float(a % b)
                }
            }
        };
    }
    let (Value::Int(a), Value::Int(b)) = (l, r) else {
        return Value::Null;
    };
    match op {
        ArithOp::Add => Value::Int(a.wrapping_add(*b)),
        ArithOp::Sub => Value::Int(a.wrapping_sub(*b)),
        ArithOp::Mul => Value::Int(a.wrapping_mul(*b)),
        // The binder makes `/` a float operation; integer division never reaches here.
        ArithOp::Div => a.checked_div(*b).map_or(Value::Null, Value::Int),
        ArithOp::Mod => a.checked_rem(*b).map_or(Value::Null, Value::Int),
    }
}

fn compare(op: CompareOp, l: &Value, r: &Value) -> Value {
    l.sql_cmp(r)
        .map_or(Value::Null, |ord| Value::Bool(op_holds(op, ord)))
}

/// [`compare`] as a condition: null (an incomparable pair) does not pass.
pub(crate) fn compare_is_true(op: CompareOp, l: &Value, r: &Value) -> bool {
    l.sql_cmp(r).is_some_and(|ord| op_holds(op, ord))
}

pub(crate) fn op_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::NotEq => ord != Ordering::Equal,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::LtEq => ord != Ordering::Greater,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::GtEq => ord != Ordering::Less,
    }
}

fn call(func: ScalarFunc, args: &[BoundExpr], s: &Scope<'_>) -> Value {
    let mut values = args.iter().map(|a| a.eval(s));
    match func {
        ScalarFunc::Abs => match values.next() {
            Some(Value::Int(i)) => Value::Int(i.wrapping_abs()),
            Some(Value::Float(f)) => Value::Float(f.abs()),
            _ => Value::Null,
        },
        ScalarFunc::Coalesce => values.find(|v| !v.is_null()).unwrap_or(Value::Null),
        ScalarFunc::Lower => match values.next() {
            Some(Value::Str(t)) => Value::str(&t.to_lowercase()),
            _ => Value::Null,
        },
        ScalarFunc::Upper => match values.next() {
            Some(Value::Str(t)) => Value::str(&t.to_uppercase()),
            _ => Value::Null,
        },
        ScalarFunc::Max | ScalarFunc::Min => {
            let want = if func == ScalarFunc::Max {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            let mut best: Option<Value> = None;
            for v in values {
                if v.is_null() {
                    return Value::Null;
                }
                best = match best {
                    Some(b)
                        if b.sql_cmp(&v) == Some(want)
                            || b.sql_cmp(&v) == Some(Ordering::Equal) =>
                    {
                        Some(b)
                    }
                    _ => Some(v),
                };
            }
            best.unwrap_or(Value::Null)
        }
    }
}

/// A SQL `like` pattern: `%` any run, `_` one character, an optional escape character.
#[derive(Debug)]
pub struct LikePattern {
    parts: Vec<LikeToken>,
}

#[derive(Debug, PartialEq)]
enum LikeToken {
    Char(char),
    One,
    Any,
}

impl LikePattern {
    pub fn new(pattern: &str, escape: Option<char>) -> LikePattern {
        let mut parts = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                if let Some(n) = chars.next() {
                    parts.push(LikeToken::Char(n));
                }
                continue;
            }
            parts.push(match c {
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                c => LikeToken::Char(c),
            });
        }
        LikePattern { parts }
    }

    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        // Iterative wildcard matching with backtracking to the last `%`.
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.parts.get(p) {
                Some(LikeToken::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(LikeToken::One) => {
                    t += 1;
                    p += 1;
                }
                Some(LikeToken::Char(c)) if *c == text[t] => {
                    t += 1;
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.parts[p..].iter().all(|x| *x == LikeToken::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(LikePattern::new("b%", None).matches("bolt"));
        assert!(!LikePattern::new("b%", None).matches("nut"));
        assert!(LikePattern::new("_ut", None).matches("nut"));
        assert!(!LikePattern::new("_ut", None).matches("nuts"));
        assert!(LikePattern::new("%o%", None).matches("bolt"));
        assert!(LikePattern::new("a!%b", Some('!')).matches("a%b"));
        assert!(!LikePattern::new("a!%b", Some('!')).matches("axb"));
        assert!(LikePattern::new("%a%b%", None).matches("xxaxxbxx"));
    }

    #[test]
    fn three_valued_logic() {
        let null = || Box::new(BoundExpr::Const(Value::Null));
        let t = || Box::new(BoundExpr::Const(Value::Bool(true)));
        let f = || Box::new(BoundExpr::Const(Value::Bool(false)));
        let s = Scope {
            event: None,
            tags: &[],
            aggregates: &[],
        };
        assert_eq!(BoundExpr::Or(null(), t()).eval(&s), Value::Bool(true));
        assert_eq!(BoundExpr::And(null(), f()).eval(&s), Value::Bool(false));
        assert_eq!(BoundExpr::And(null(), t()).eval(&s), Value::Null);
        assert_eq!(BoundExpr::Not(null()).eval(&s), Value::Null);
    }
}
