//! `having` conditions decided from a group's aggregate states, before its
//! row is built: most steps change a group whose row `having` rejects
//! (alerting rules pass a few percent), and those then cost one state read
//! and one comparison instead of every aggregate's value and an expression walk.
use std::borrow::Cow;

use smallvec::SmallVec;

use crate::aggregate::AggRow;
use crate::expr::{BoundExpr, CompareOp, compare_is_true, op_holds};
use crate::value::{Number, Value};

/// A `having` that is a conjunction of comparisons between aggregates and
/// constants (`having sum(x) > 1000 and count(*) >= 3`), checked exactly as
/// [`BoundExpr::is_true`] checks it.
#[derive(Debug, Clone)]
pub(super) struct AggCondition {
    tests: SmallVec<[AggTest; 1]>,
}

/// One comparison of the conjunction.
#[derive(Debug, Clone)]
enum AggTest {
    /// An aggregate against a number, the aggregate on the left (a constant
    /// on the left is moved right with the operator mirrored): a count, sum
    /// or average is compared without building a value.
    Number {
        aggregate: usize,
        op: CompareOp,
        number: Number,
    },
    /// Any other comparison of aggregates and constants, by value.
    Values {
        op: CompareOp,
        left: Operand,
        right: Operand,
    },
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
    fn new(op: CompareOp, left: Operand, right: Operand) -> AggTest {
        match (&left, &right) {
            (Operand::Aggregate(i), Operand::Const(c)) if let Some(n) = Number::of(c) => {
                AggTest::Number {
                    aggregate: *i,
                    op,
                    number: n,
                }
            }
            (Operand::Const(c), Operand::Aggregate(i)) if let Some(n) = Number::of(c) => {
                AggTest::Number {
                    aggregate: *i,
                    op: mirrored(op),
                    number: n,
                }
            }
            _ => AggTest::Values { op, left, right },
        }
    }

    fn holds(&self, aggs: &AggRow) -> bool {
        match self {
            AggTest::Number {
                aggregate,
                op,
                number,
            } => match aggs.states.get(*aggregate).map(|s| s.number()) {
                Some(Some(value)) => value
                    .and_then(|v| v.sql_cmp(*number))
                    .is_some_and(|o| op_holds(*op, o)),
                // Not a count, sum or average: compared by value.
                _ => compare_is_true(
                    *op,
                    &Operand::Aggregate(*aggregate).value(aggs),
                    &Value::from(*number),
                ),
            },
            AggTest::Values { op, left, right } => {
                compare_is_true(*op, &left.value(aggs), &right.value(aggs))
            }
        }
    }
}

/// `b op' a` exactly when `a op b`.
fn mirrored(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::LtEq => CompareOp::GtEq,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::GtEq => CompareOp::LtEq,
        CompareOp::Eq | CompareOp::NotEq => op,
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
            tests.push(AggTest::new(*op, operand(left)?, operand(right)?));
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
        let agg_vs = |op, n| {
            Box::new(cmp(
                op,
                BoundExpr::Aggregate(0),
                BoundExpr::Const(Value::Int(n)),
            ))
        };
        let field = cmp(
            CompareOp::Gt,
            BoundExpr::Field(0),
            BoundExpr::Const(Value::Int(1)),
        );
        let or = BoundExpr::Or(agg_vs(CompareOp::Gt, 1), agg_vs(CompareOp::Lt, 0));
        let and_field = BoundExpr::And(agg_vs(CompareOp::Gt, 1), Box::new(field.clone()));
        let negated = BoundExpr::Not(agg());
        for having in [field, or, and_field, negated] {
            assert!(AggCondition::of(&having).is_none(), "{having:?}");
        }
    }
}
