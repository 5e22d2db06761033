//! Aggregate functions with retraction: every aggregate accepts values
//! entering and leaving, in O(1) or O(log n), never rescanning the window.
mod snapshot;

use std::collections::{BTreeMap, HashMap};

use crate::expr::BoundExpr;
use crate::value::{Number, Type, Value};

pub(crate) use snapshot::AggRowState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Stddev,
    First,
    Last,
}

impl AggFunc {
    pub fn from_name(name: &str) -> Option<AggFunc> {
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "stddev" => AggFunc::Stddev,
            "first" => AggFunc::First,
            "last" => AggFunc::Last,
            _ => return None,
        })
    }
}

/// One aggregate of a statement, as planned.
#[derive(Debug, Clone)]
pub struct AggSpec {
    pub func: AggFunc,
    pub distinct: bool,
    /// `None` only for `count(*)`.
    pub arg: Option<BoundExpr>,
    pub ty: Type,
    /// Printed call text, to share one slot between identical calls.
    pub text: String,
}

/// The running state of one aggregate. A group's states are inline in its
/// bucket of the group table, so what is rare (distinct values, ordered
/// values, stddev's moments) is boxed: 32 bytes instead of 72.
#[derive(Debug, Clone)]
pub struct AggState {
    #[allow(clippy::box_collection)]
    distinct: Option<Box<HashMap<Value, u32, foldhash::fast::RandomState>>>,
    acc: Acc,
}

const _: () = assert!(std::mem::size_of::<AggState>() == 32);

#[derive(Debug, Clone)]
enum Acc {
    Count(i64),
    SumInt {
        sum: i64,
        n: i64,
    },
    SumFloat {
        sum: f64,
        n: i64,
    },
    Avg {
        sum: f64,
        n: i64,
    },
    Extreme {
        max: bool,
        #[allow(clippy::box_collection)]
        values: Box<BTreeMap<SortKey, u32>>,
    },
    Stddev(Box<Moments>),
    /// Values by arrival sequence: first is the oldest entry, last the newest.
    Positional {
        last: bool,
        #[allow(clippy::box_collection)]
        values: Box<BTreeMap<u64, Value>>,
    },
}

/// What `stddev` keeps: the count, sum and sum of squares of its inputs.
#[derive(Debug, Clone, Default)]
struct Moments {
    sum: f64,
    sum_sq: f64,
    n: i64,
}

/// A value ordered for min/max.
#[derive(Debug, Clone, PartialEq)]
struct SortKey(Value);
impl Eq for SortKey {}
impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.sort_cmp(&other.0)
    }
}

impl AggState {
    pub fn new(spec: &AggSpec) -> AggState {
        let acc = match spec.func {
            AggFunc::CountStar | AggFunc::Count => Acc::Count(0),
            AggFunc::Sum if spec.ty == Type::Int => Acc::SumInt { sum: 0, n: 0 },
            AggFunc::Sum => Acc::SumFloat { sum: 0.0, n: 0 },
            AggFunc::Avg => Acc::Avg { sum: 0.0, n: 0 },
            AggFunc::Min => Acc::Extreme {
                max: false,
                values: Box::default(),
            },
            AggFunc::Max => Acc::Extreme {
                max: true,
                values: Box::default(),
            },
            AggFunc::Stddev => Acc::Stddev(Box::default()),
            AggFunc::First => Acc::Positional {
                last: false,
                values: Box::default(),
            },
            AggFunc::Last => Acc::Positional {
                last: true,
                values: Box::default(),
            },
        };
        let distinct = spec.distinct.then(Box::default);
        AggState { distinct, acc }
    }

    /// A value enters (`enter == true`) or leaves. `seq` identifies the event
    /// (for first/last). Nulls are skipped except by first/last and count(*).
    pub fn update(&mut self, value: &Value, seq: u64, enter: bool, count_star: bool) {
        if let Acc::Positional { values, .. } = &mut self.acc {
            if enter {
                values.insert(seq, value.clone());
            } else {
                values.remove(&seq);
            }
            return;
        }
        if !count_star && value.is_null() {
            return;
        }
        if let Some(seen) = &mut self.distinct {
            if enter {
                let n = seen.entry(value.clone()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    return;
                }
            } else {
                match seen.get_mut(value) {
                    Some(n) if *n > 1 => {
                        *n -= 1;
                        return;
                    }
                    Some(_) => {
                        seen.remove(value);
                    }
                    None => return,
                }
            }
        }
        let sign = if enter { 1 } else { -1 };
        match &mut self.acc {
            Acc::Count(n) => *n += sign,
            Acc::SumInt { sum, n } => {
                if let Value::Int(i) = value {
                    *sum = sum.wrapping_add(i.wrapping_mul(sign));
                    *n += sign;
                }
            }
            Acc::SumFloat { sum, n } | Acc::Avg { sum, n } => {
                if let Some(f) = value.as_f64() {
                    *sum += f * sign as f64;
                    *n += sign;
                }
            }
            Acc::Extreme { values, .. } => {
                let key = SortKey(value.clone());
                if enter {
                    *values.entry(key).or_insert(0) += 1;
                } else if let Some(n) = values.get_mut(&key) {
                    // A restored (possibly damaged) count may be 0: never underflow.
                    if *n <= 1 {
                        values.remove(&key);
                    } else {
                        *n -= 1;
                    }
                }
            }
            Acc::Stddev(m) => {
                let Moments { sum, sum_sq, n } = &mut **m;
                if let Some(f) = value.as_f64() {
                    *sum += f * sign as f64;
                    *sum_sq += f * f * sign as f64;
                    *n += sign;
                }
            }
            Acc::Positional { .. } => {}
        }
    }

    /// [`AggState::value`] when it is a number or null (`Some(None)`), without
    /// building a value: counts, sums and averages; `None` for the others.
    pub fn number(&self) -> Option<Option<Number>> {
        Some(match &self.acc {
            Acc::Count(n) => Some(Number::Int(*n)),
            Acc::SumInt { sum, n } => (*n != 0).then_some(Number::Int(*sum)),
            Acc::SumFloat { sum, n } => (*n != 0).then_some(Number::Float(*sum)),
            Acc::Avg { sum, n } => (*n != 0).then(|| Number::Float(*sum / *n as f64)),
            _ => return None,
        })
    }

    pub fn value(&self) -> Value {
        match &self.acc {
            Acc::Count(n) => Value::Int(*n),
            Acc::SumInt { sum, n } => {
                if *n == 0 {
                    Value::Null
                } else {
                    Value::Int(*sum)
                }
            }
            Acc::SumFloat { sum, n } => {
                if *n == 0 {
                    Value::Null
                } else {
                    Value::Float(*sum)
                }
            }
            Acc::Avg { sum, n } => {
                if *n == 0 {
                    Value::Null
                } else {
                    Value::Float(*sum / *n as f64)
                }
            }
            Acc::Extreme { max, values } => {
                let entry = if *max {
                    values.last_key_value()
                } else {
                    values.first_key_value()
                };
                entry.map_or(Value::Null, |(k, _)| k.0.clone())
            }
            Acc::Stddev(m) => {
                let Moments { sum, sum_sq, n } = &**m;
                if *n < 2 {
                    return Value::Null;
                }
                let n = *n as f64;
                let mean = sum / n;
                let var = ((sum_sq - mean * sum) / (n - 1.0)).max(0.0);
                Value::Float(var.sqrt())
            }
            Acc::Positional { last, values } => {
                let entry = if *last {
                    values.last_key_value()
                } else {
                    values.first_key_value()
                };
                entry.map_or(Value::Null, |(_, v)| v.clone())
            }
        }
    }
}

/// The aggregates of one group (or of the whole statement when ungrouped).
#[derive(Debug, Clone)]
pub struct AggRow {
    /// Inline for the usual one or two aggregates: a group's update reads
    /// no second allocation.
    pub states: smallvec::SmallVec<[AggState; 2]>,
    /// Events currently counted in this row; a grouped row at zero is dropped.
    pub events: i64,
}

impl AggRow {
    pub fn new(specs: &[AggSpec]) -> AggRow {
        AggRow {
            states: specs.iter().map(AggState::new).collect(),
            events: 0,
        }
    }

    pub fn values(&self) -> Vec<Value> {
        self.states.iter().map(AggState::value).collect()
    }

    /// [`AggRow::values`] into a reused buffer, overwritten in place (one
    /// value per aggregate).
    pub fn values_into(&self, out: &mut Vec<Value>) {
        if out.len() != self.states.len() {
            out.resize(self.states.len(), Value::Null);
        }
        for (slot, state) in out.iter_mut().zip(&self.states) {
            *slot = state.value();
        }
    }
}
