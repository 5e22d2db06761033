//! `having` conditions decided from a group's aggregate states, before its
//! row is built: most steps change a group whose row `having` rejects
//! (alerting rules pass a few percent), and those then cost one state read
//! and one comparison instead of every aggregate's value and an expression walk.
use std::borrow::Cow;

use smallvec::SmallVec;

use crate::aggregate::{AggRow, Number};
use crate::expr::{BoundExpr, CompareOp, compare_is_true, op_holds};
use crate::value::Value;

/// A `having` that is a conjunction of comparisons between aggregates and
/// constants (`having sum(x) > 1000 and count(*) >= 3`), checked exactly as
/// [`BoundExpr::is_true`] checks it.
#[derive(Debug, Clone)]
pub(super) struct AggCondition {
    tests: SmallVec<[AggTest; 1]>,
}

#[derive(Debug, Clone)]
struct AggTest {
    op: CompareOp,
    left: Operand,
    right: Operand,
}

#[derive(Debug, Clone)]
enum Operand {
    Aggregate(usize),
    Const(Value),
}

impl AggCondition {
    /// The condition `having` states, if it reads nothing but aggregates and constants.
    pub(super) fn of(having: &BoundExpr) -> Option<AggCondition> {
        let mut tests = SmallVec::new();
        collect(having, &mut tests)?;
        Some(AggCondition { tests })
    }

    /// Whether `having` passes for a group whose aggregates are `aggs`.
    pub(super) fn holds(&self, aggs: &AggRow) -> bool {
        self.tests.iter().all(|t| t.holds(aggs))
    }
}

impl AggTest {
    fn holds(&self, aggs: &AggRow) -> bool {
        // An aggregate against a number: compared without building values
        // when the aggregate is a count, sum or average (`sql_cmp`'s order).
        let numeric = match (&self.left, &self.right) {
            (Operand::Aggregate(i), Operand::Const(c)) => Some((*i, c, false)),
            (Operand::Const(c), Operand::Aggregate(i)) => Some((*i, c, true)),
            _ => None,
        };
        if let Some((i, c, flipped)) = numeric
            && let (Some(state), Some(c)) = (aggs.states.get(i), Number::of(c))
            && let Some(value) = state.number()
        {
            let ord = value.and_then(|v| if flipped { c.sql_cmp(v) } else { v.sql_cmp(c) });
            return ord.is_some_and(|o| op_holds(self.op, o));
        }
        compare_is_true(self.op, &self.left.value(aggs), &self.right.value(aggs))
    }
}

impl Operand {
    fn value<'a>(&'a self, aggs: &AggRow) -> Cow<'a, Value> {
        match self {
            Operand::Aggregate(i) => {
                Cow::Owned(aggs.states.get(*i).map_or(Value::Null, |s| s.value()))
            }
            Operand::Const(v) => Cow::Borrowed(v),
        }
    }
}

fn collect(e: &BoundExpr, tests: &mut SmallVec<[AggTest; 1]>) -> Option<()> {
    match e {
        // `is_true` passes a conjunction only when both sides pass.
        BoundExpr::And(l, r) => {
            collect(l, tests)?;
            collect(r, tests)
        }
        BoundExpr::Compare { op, left, right } => {
            tests.push(AggTest {
                op: *op,
                left: operand(left)?,
                right: operand(right)?,
            });
            Some(())
        }
        _ => None,
    }
}

fn operand(e: &BoundExpr) -> Option<Operand> {
    match e {
        BoundExpr::Aggregate(i) => Some(Operand::Aggregate(*i)),
        BoundExpr::Const(v) => Some(Operand::Const(v.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{AggFunc, AggSpec};
    use crate::expr::Scope;
    use crate::value::Type;

    fn spec(func: AggFunc, ty: Type) -> AggSpec {
        AggSpec {
            func,
            distinct: false,
            arg: (func != AggFunc::CountStar).then_some(BoundExpr::Field(0)),
            ty,
            text: format!("{func:?}"),
        }
    }

    fn cmp(op: CompareOp, left: BoundExpr, right: BoundExpr) -> BoundExpr {
        BoundExpr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// `holds` agrees with `is_true` over the aggregate values, for every
    /// operator, with an empty group (null aggregates), integer and float
    /// constants on either side, and conjunctions.
    #[test]
    fn holds_decides_as_is_true_does() {
        let specs = [
            spec(AggFunc::Sum, Type::Float),
            spec(AggFunc::CountStar, Type::Int),
            spec(AggFunc::Max, Type::Float),
            spec(AggFunc::Avg, Type::Float),
            spec(AggFunc::Sum, Type::Int),
            spec(AggFunc::Count, Type::Int),
        ];
        let ops = [
            CompareOp::Eq,
            CompareOp::NotEq,
            CompareOp::Lt,
            CompareOp::LtEq,
            CompareOp::Gt,
            CompareOp::GtEq,
        ];
        let consts = [
            Value::Int(2),
            Value::Int(3),
            Value::Float(2.5),
            Value::Float(7.0),
            Value::Float(f64::NAN),
            Value::Null,
        ];
        let mut row = AggRow::new(&specs);
        let mut checked = 0;
        for step in 0..4 {
            if step > 0 {
                for (state, spec) in row.states.iter_mut().zip(&specs) {
                    let input = match spec.ty {
                        Type::Int => Value::Int(step as i64),
                        _ => Value::Float(2.5 * step as f64),
                    };
                    state.update(&input, step, true, spec.arg.is_none());
                }
            }
            let values = row.values();
            let scope = Scope {
                event: None,
                tags: &[],
                aggregates: &values,
            };
            for agg in 0..specs.len() {
                for op in ops {
                    for c in &consts {
                        let a = || BoundExpr::Aggregate(agg);
                        let k = || BoundExpr::Const(c.clone());
                        for having in [
                            cmp(op, a(), k()),
                            cmp(op, k(), a()),
                            BoundExpr::And(
                                Box::new(cmp(op, a(), k())),
                                Box::new(cmp(CompareOp::Gt, BoundExpr::Aggregate(1), k())),
                            ),
                        ] {
                            let condition = AggCondition::of(&having).expect("aggregates only");
                            assert_eq!(
                                condition.holds(&row),
                                having.is_true(&scope),
                                "{having:?} over {values:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 6 * 6 * 6 * 3);
    }

    /// A `having` that reads anything but aggregates and constants is left
    /// to the row's full evaluation.
    #[test]
    fn other_conditions_are_not_taken() {
        let agg = || Box::new(BoundExpr::Aggregate(0));
        let field = cmp(
            CompareOp::Gt,
            BoundExpr::Field(0),
            BoundExpr::Const(Value::Int(1)),
        );
        let or = BoundExpr::Or(
            Box::new(cmp(
                CompareOp::Gt,
                BoundExpr::Aggregate(0),
                BoundExpr::Const(Value::Int(1)),
            )),
            Box::new(cmp(
                CompareOp::Lt,
                BoundExpr::Aggregate(0),
                BoundExpr::Const(Value::Int(0)),
            )),
        );
        let and_field = BoundExpr::And(
            Box::new(cmp(
                CompareOp::Gt,
                BoundExpr::Aggregate(0),
                BoundExpr::Const(Value::Int(1)),
            )),
            Box::new(field.clone()),
        );
        let negated = BoundExpr::Not(agg());
        for having in [field, or, and_field, negated] {
            assert!(AggCondition::of(&having).is_none(), "{having:?}");
        }
    }
}
