//! Operator plans: what the binder produces and the runtime executes.
use std::fmt::Write;
use std::sync::Arc;

use cepheus_parser::{OutputMode, StreamSelector};

use crate::aggregate::AggSpec;
use crate::expr::BoundExpr;
use crate::pattern::PatternPlan;
use crate::schema::EventType;
use crate::value::Type;
use crate::window::WindowSpec;

/// One bound and planned `select` statement.
#[derive(Debug, Clone)]
pub struct StatementPlan {
    pub name: String,
    /// The statement's text as written (for hashing and `explain`).
    pub text: String,
    /// The statement's identity across reloads and restarts (see
    /// [`crate::fingerprint`]): same name and fingerprint, same state layout.
    pub fingerprint: crate::fingerprint::Fingerprint,
    pub input: InputPlan,
    pub where_clause: Option<BoundExpr>,
    pub columns: Vec<Column>,
    pub aggregates: Vec<AggSpec>,
    pub group_by: Vec<BoundExpr>,
    pub having: Option<BoundExpr>,
    pub shape: Shape,
    /// What the statement's data window holds (see [`WindowStorage`]).
    pub storage: WindowStorage,
    pub selector: StreamSelector,
    pub output: Option<OutputSpec>,
    pub order_by: Vec<OrderKey>,
    pub limit: Option<RowLimit>,
    /// The stream this statement's rows are inserted into, if any.
    pub insert_into: Option<InsertTarget>,
    /// Whether sinks receive this statement's rows as alerts: every statement
    /// without `insert into`, and `insert into` statements marked `@Output`.
    pub alerts: bool,
    /// The type of the rows this statement produces.
    pub output_type: Arc<EventType>,
}

#[derive(Debug, Clone)]
pub enum InputPlan {
    Stream {
        event_type: Arc<EventType>,
        filter: Option<BoundExpr>,
        window: Option<WindowSpec>,
    },
    Pattern(Arc<PatternPlan>),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub expr: BoundExpr,
    pub ty: Type,
}

/// Esper's classification of a select statement, which decides what rows are
/// produced per step ("Output for aggregation and group-by").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// No aggregates, no group by: one row per event.
    Unaggregated,
    /// Only aggregates, no group by: one row per step.
    FullyAggregatedUngrouped,
    /// Aggregates and plain properties, no group by: one row per event.
    AggregatedUngrouped,
    /// Group by, every plain property is a group key: one row per changed group.
    FullyAggregatedGrouped,
    /// Group by, some plain property is not a key: one row per event.
    AggregatedGrouped,
}

impl Shape {
    pub fn grouped(self) -> bool {
        matches!(
            self,
            Shape::FullyAggregatedGrouped | Shape::AggregatedGrouped
        )
    }
    pub fn describe(self) -> &'static str {
        match self {
            Shape::Unaggregated => "un-aggregated, ungrouped",
            Shape::FullyAggregatedUngrouped => "fully aggregated, ungrouped",
            Shape::AggregatedUngrouped => "aggregated, ungrouped",
            Shape::FullyAggregatedGrouped => "fully aggregated, grouped",
            Shape::AggregatedGrouped => "aggregated, grouped",
        }
    }
}

/// What a statement's data window keeps of each event.
///
/// A statement whose rows depend on its groups' aggregates alone (fully
/// aggregated, rows read from group keys and aggregates only, no output
/// limiting) never reads an event again once it is counted: its window keeps,
/// per event, the event's group and the inputs of its aggregates, so an event
/// leaving is a subtraction at a known slot, not a second evaluation and
/// group look-up over an event read back from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStorage {
    /// The events themselves (every window kind, every statement shape).
    Events,
    /// Each event's group slot and aggregate inputs (`#length`,
    /// `#length_batch`, `#time`, `#time_batch` only: windows whose events
    /// leave in arrival order and never for another window's sake), or
    /// nothing at all without a data window.
    AggregateInputs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    pub mode: OutputMode,
    pub rate: OutputRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputRate {
    Events(u64),
    Millis(i64),
}

#[derive(Debug, Clone)]
pub struct OrderKey {
    pub expr: BoundExpr,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct RowLimit {
    pub count: usize,
    pub offset: usize,
}

#[derive(Debug, Clone)]
pub struct InsertTarget {
    pub event_type: Arc<EventType>,
    pub selector: StreamSelector,
    /// For each field of `event_type`, the select column that fills it (by name).
    pub column_of_field: Vec<Option<usize>>,
}

impl StatementPlan {
    /// One output row as a JSON object: column name to value, in select order.
    pub fn row_json(
        &self,
        values: &[crate::value::Value],
    ) -> serde_json::Map<String, serde_json::Value> {
        self.columns
            .iter()
            .zip(values)
            .map(|(c, v)| (c.name.clone(), v.to_json()))
            .collect()
    }

    /// The operator tree, one operator per line, source at the bottom.
    pub fn explain(&self) -> String {
        let mut ops: Vec<String> = Vec::new();
        match &self.insert_into {
            Some(t) => ops.push(format!("InsertInto stream={}", t.event_type.name)),
            None => ops.push(format!("Deliver statement={}", self.name)),
        }
        if let Some(l) = self.limit {
            ops.push(format!("Limit count={} offset={}", l.count, l.offset));
        }
        if !self.order_by.is_empty() {
            ops.push(format!("OrderBy keys={}", self.order_by.len()));
        }
        let cols: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        ops.push(format!(
            "Select stream={:?} columns=[{}]",
            self.selector,
            cols.join(", ")
        ));
        if let Some(o) = &self.output {
            let rate = match o.rate {
                OutputRate::Events(n) => format!("{n} events"),
                OutputRate::Millis(ms) => format!("{ms} ms"),
            };
            ops.push(format!("OutputLimit mode={:?} every={rate}", o.mode));
        }
        if self.having.is_some() {
            ops.push("Having".into());
        }
        if !self.aggregates.is_empty() || self.shape.grouped() {
            let aggs: Vec<&str> = self.aggregates.iter().map(|a| a.text.as_str()).collect();
            ops.push(format!(
                "Aggregate shape=\"{}\" group_keys={} aggregates=[{}]",
                self.shape.describe(),
                self.group_by.len(),
                aggs.join(", ")
            ));
        }
        if self.where_clause.is_some() {
            ops.push("Where".into());
        }
        match &self.input {
            InputPlan::Stream {
                event_type,
                filter,
                window,
            } => {
                if let Some(w) = window {
                    let stores = match self.storage {
                        WindowStorage::Events => "",
                        WindowStorage::AggregateInputs => " stores=aggregate-inputs",
                    };
                    ops.push(format!("Window {}{stores}", describe_window(w)));
                }
                if filter.is_some() {
                    ops.push("Filter".into());
                }
                ops.push(format!("Source type={}", event_type.name));
            }
            InputPlan::Pattern(p) => ops.push(format!("Pattern {}", p.describe())),
        }
        let mut out = format!("statement {}\n", self.name);
        for (depth, op) in ops.iter().enumerate() {
            let _ = writeln!(out, "{}{}", "  ".repeat(depth + 1), op);
        }
        out
    }
}

fn describe_window(w: &WindowSpec) -> String {
    match w {
        WindowSpec::Length(n) => format!("length({n})"),
        WindowSpec::LengthBatch(n) => format!("length_batch({n})"),
        WindowSpec::Time(ms) => format!("time({ms} ms)"),
        WindowSpec::TimeBatch(ms) => format!("time_batch({ms} ms)"),
        WindowSpec::ExtTimed { field, millis } => format!("ext_timed(field #{field}, {millis} ms)"),
        WindowSpec::KeepAll => "keepall".into(),
        WindowSpec::Unique(k) => format!("unique({} keys)", k.len()),
        WindowSpec::FirstEvent => "firstevent".into(),
        WindowSpec::LastEvent => "lastevent".into(),
        WindowSpec::GroupWin { keys, inner } => {
            format!(
                "groupwin({} keys) -> {}",
                keys.len(),
                describe_window(inner)
            )
        }
        WindowSpec::Intersect(parts) => format!(
            "intersection({})",
            parts
                .iter()
                .map(describe_window)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
