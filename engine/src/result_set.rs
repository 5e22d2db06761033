//! Turns what a window inserted and removed into output rows, following
//! Esper's five output shapes (see [`Shape`]).
mod groups;
mod having;
mod retained;
mod snapshot;

use std::borrow::Cow;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::aggregate::{AggRow, AggSpec};
use crate::event::Event;
use crate::expr::Scope;
use crate::plan::{InputPlan, Shape, StatementPlan};
use crate::value::Value;
use crate::window::{EventRef, GroupKey};

use groups::{GroupAt, GroupTable};
use having::AggCondition;
pub(crate) use snapshot::{ResultSetState, RowRecord};

/// One output row: its column values, sort keys for `order by`, and the
/// group it belongs to (grouped shapes).
#[derive(Debug, Clone)]
pub struct Row {
    pub key: Option<GroupKey>,
    pub values: Vec<Value>,
    pub sort: Vec<Value>,
}

/// The rows one step produced.
#[derive(Debug, Default)]
pub struct StepRows {
    pub insert: Vec<Row>,
    pub remove: Vec<Row>,
}

/// Aggregation state and row production for one statement.
#[derive(Debug)]
pub struct ResultSet {
    plan: Arc<StatementPlan>,
    is_pattern: bool,
    ungrouped: AggRow,
    groups: GroupTable,
    /// Steps processed: marks the groups a step changed (see [`Group::touched`]).
    steps: u64,
    /// Aggregate values of the row being built, reused from row to row.
    scratch: Vec<Value>,
    /// The slots of the groups the batch being collected counts in, in
    /// first-seen order, when a batch window's arrivals are applied as they
    /// come (see [`ResultSet::arrive_in_batch`]).
    batch_groups: Vec<u32>,
    /// `having`, when it can be decided from a group's aggregate states
    /// alone: a group it rejects has no row to build.
    having_on_aggs: Option<AggCondition>,
}

#[derive(Debug, Clone)]
struct Group {
    aggs: AggRow,
    /// The latest event of the group: plain columns of a row are read from it.
    /// Kept up to date only for statements with output limiting (the only
    /// reader); otherwise the group's first event.
    representative: EventRef,
    /// The last step that changed the group, and the group's place in that
    /// step's list of changed groups.
    touched: (u64, usize),
}

impl Group {
    fn new(plan: &StatementPlan, representative: EventRef) -> Group {
        Group {
            aggs: AggRow::new(&plan.aggregates),
            representative,
            touched: (0, 0),
        }
    }

    /// Marks the group changed by `step`, as the `place`-th group of that
    /// step's list; false (and the mark kept) when `step` already changed it.
    fn touch(&mut self, step: u64, place: usize) -> bool {
        if self.touched.0 == step {
            return false;
        }
        self.touched = (step, place);
        true
    }
}

/// Each event of a step with its group's slot, and whether it entered
/// (`true`) or left.
type Keyed<'e> = SmallVec<[(u32, &'e EventRef, bool); 2]>;

/// Which streams of rows a step must produce.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub insert: bool,
    pub remove: bool,
}

impl ResultSet {
    pub fn new(plan: Arc<StatementPlan>) -> ResultSet {
        let is_pattern = matches!(plan.input, InputPlan::Pattern(_));
        let ungrouped = AggRow::new(&plan.aggregates);
        ResultSet {
            is_pattern,
            ungrouped,
            groups: GroupTable::default(),
            steps: 0,
            scratch: Vec::new(),
            batch_groups: Vec::new(),
            having_on_aggs: plan.having.as_ref().and_then(AggCondition::of),
            plan,
        }
    }

    pub fn plan(&self) -> &StatementPlan {
        &self.plan
    }

    fn scope<'a>(&self, event: Option<&'a Event>, aggs: &'a [Value]) -> Scope<'a> {
        scope(self.is_pattern, event, aggs)
    }

    pub fn group_key(&self, event: &EventRef) -> GroupKey {
        GroupKey::of(&self.plan.group_by, &self.scope(Some(event), &[]))
    }

    /// A row for `event` (or none) with aggregate values `aggs`, if `having` passes.
    fn row(&self, key: Option<&GroupKey>, event: Option<&EventRef>, aggs: &[Value]) -> Option<Row> {
        let scope = self.scope(event.map(|e| &**e), aggs);
        if let Some(h) = &self.plan.having
            && !h.is_true(&scope)
        {
            return None;
        }
        Some(Row {
            key: key.cloned(),
            values: self
                .plan
                .columns
                .iter()
                .map(|c| c.expr.eval(&scope))
                .collect(),
            sort: self
                .plan
                .order_by
                .iter()
                .map(|o| o.expr.eval(&scope))
                .collect(),
        })
    }

    fn apply(aggs: &mut AggRow, plan: &StatementPlan, scope: &Scope<'_>, seq: u64, enter: bool) {
        apply_event(aggs, &plan.aggregates, scope, seq, enter, |_| {});
    }

    /// One step: `inserted` entered and `removed` left the statement's view.
    pub fn process(
        &mut self,
        inserted: &[EventRef],
        removed: &[EventRef],
        want: Wanted,
    ) -> StepRows {
        let mut out = StepRows::default();
        match self.plan.shape {
            Shape::Unaggregated => {
                if want.insert {
                    out.insert = inserted
                        .iter()
                        .filter_map(|e| self.row(None, Some(e), &[]))
                        .collect();
                }
                if want.remove {
                    out.remove = removed
                        .iter()
                        .filter_map(|e| self.row(None, Some(e), &[]))
                        .collect();
                }
            }
            Shape::FullyAggregatedUngrouped => {
                if want.remove {
                    out.remove
                        .extend(self.row(None, None, &self.ungrouped.values()));
                }
                self.apply_ungrouped(inserted, removed);
                if want.insert {
                    out.insert
                        .extend(self.row(None, None, &self.ungrouped.values()));
                }
            }
            Shape::AggregatedUngrouped => {
                self.apply_ungrouped(inserted, removed);
                let aggs = self.ungrouped.values();
                if want.insert {
                    out.insert = inserted
                        .iter()
                        .filter_map(|e| self.row(None, Some(e), &aggs))
                        .collect();
                }
                if want.remove {
                    out.remove = removed
                        .iter()
                        .filter_map(|e| self.row(None, Some(e), &aggs))
                        .collect();
                }
            }
            Shape::FullyAggregatedGrouped => {
                let keyed = self.keyed(inserted, removed);
                // One entry per changed group, in first-seen order, the step's
                // last event of the group as its representative.
                self.steps += 1;
                let mut changed: SmallVec<[(u32, &EventRef); 2]> = SmallVec::new();
                for &(slot, e, _) in &keyed {
                    let Some(group) = self.groups.group_mut(slot) else {
                        continue;
                    };
                    if group.touch(self.steps, changed.len()) {
                        changed.push((slot, e));
                    } else {
                        changed[group.touched.1].1 = e;
                    }
                }
                let mut aggs = std::mem::take(&mut self.scratch);
                if want.remove {
                    for &(slot, e) in &changed {
                        out.remove.extend(self.group_row_at(slot, e, &mut aggs));
                    }
                }
                self.apply_grouped(&keyed);
                if want.insert {
                    for &(slot, e) in &changed {
                        out.insert.extend(self.group_row_at(slot, e, &mut aggs));
                    }
                }
                self.scratch = aggs;
                self.drop_empty_groups(changed.iter().map(|(slot, _)| *slot));
            }
            Shape::AggregatedGrouped => {
                let keyed = self.keyed(inserted, removed);
                self.apply_grouped(&keyed);
                let mut aggs = std::mem::take(&mut self.scratch);
                for &(slot, e, enter) in &keyed {
                    let (wanted, rows) = if enter {
                        (want.insert, &mut out.insert)
                    } else {
                        (want.remove, &mut out.remove)
                    };
                    if wanted {
                        rows.extend(self.group_row_at(slot, e, &mut aggs));
                    }
                }
                self.scratch = aggs;
                self.drop_empty_groups(keyed.iter().map(|(slot, _, _)| *slot));
            }
        }
        out
    }

    /// Each event of the step with the slot of its group (created empty when
    /// new: its values are those of no rows), inserted first. The key is
    /// evaluated and looked up once per event, without allocating unless the
    /// group is new.
    fn keyed<'e>(&mut self, inserted: &'e [EventRef], removed: &'e [EventRef]) -> Keyed<'e> {
        let mut keyed = Keyed::with_capacity(inserted.len() + removed.len());
        for (events, enter) in [(inserted, true), (removed, false)] {
            for e in events {
                keyed.push((self.group_of(e, || e.clone()).slot, e, enter));
            }
        }
        keyed
    }

    /// The group of `event`, added (empty, with the event `share` gives as
    /// its representative) when its key is new. The key is evaluated and
    /// looked up once, without allocating unless the group is new.
    fn group_of(&mut self, event: &Event, share: impl FnOnce() -> EventRef) -> GroupAt {
        let plan = &self.plan;
        let scope = self.scope(Some(event), &[]);
        let key = if let [only] = plan.group_by.as_slice() {
            let value = only.eval_cow(&scope);
            if let Some(at) = self.groups.find_one(&value) {
                return at;
            }
            GroupKey(smallvec::smallvec![value.into_owned()])
        } else {
            let values = GroupKey::values(&plan.group_by, &scope);
            if let Some(at) = self.groups.find_values(&values) {
                return at;
            }
            GroupKey(values.into_iter().map(Cow::into_owned).collect())
        };
        let group = Group::new(plan, share());
        self.groups.insert(key, group)
    }

    /// The row of the group in `slot` for `event`, if `having` passes; `aggs`
    /// is scratch space for the group's aggregate values.
    fn group_row_at(&self, slot: u32, event: &EventRef, aggs: &mut Vec<Value>) -> Option<Row> {
        let (key, group) = self.groups.get(slot)?;
        self.row_of_group(key, group, event, aggs)
    }

    /// The row of the group `key` for `event`, if `having` passes.
    fn row_of_group(
        &self,
        key: &GroupKey,
        group: &Group,
        event: &EventRef,
        aggs: &mut Vec<Value>,
    ) -> Option<Row> {
        if self
            .having_on_aggs
            .as_ref()
            .is_some_and(|h| !h.holds(&group.aggs))
        {
            return None;
        }
        group.aggs.values_into(aggs);
        self.row(Some(key), Some(event), aggs)
    }

    fn apply_ungrouped(&mut self, inserted: &[EventRef], removed: &[EventRef]) {
        let plan = &self.plan;
        for (events, enter) in [(inserted, true), (removed, false)] {
            for e in events {
                let scope = scope(self.is_pattern, Some(e), &[]);
                Self::apply(&mut self.ungrouped, plan, &scope, e.seq, enter);
            }
        }
    }

    fn apply_grouped(&mut self, keyed: &Keyed<'_>) {
        let plan = &self.plan;
        let keep_representative = plan.output.is_some();
        for &(slot, e, enter) in keyed {
            let scope = scope(self.is_pattern, Some(e), &[]);
            let Some(group) = self.groups.group_mut(slot) else {
                continue;
            };
            // Only output limiting reads a group's latest event; replacing it
            // otherwise would cost a cache miss on the previous one per event.
            if enter && keep_representative {
                group.representative = e.clone();
            }
            Self::apply(&mut group.aggs, plan, &scope, e.seq, enter);
        }
    }

    /// Removes the groups left without events, in the order given.
    fn drop_empty_groups(&mut self, slots: impl Iterator<Item = u32>) {
        for slot in slots {
            if self.groups.group(slot).is_some_and(|g| g.aggs.events <= 0) {
                self.groups.remove(slot);
            }
        }
    }

    /// Current aggregate values of a group; a group without events has the
    /// values of no rows (count 0, sum null).
    fn group_values(&self, key: &GroupKey) -> Vec<Value> {
        match self.groups.get_by_key(key) {
            Some(g) => g.aggs.values(),
            None => AggRow::new(&self.plan.aggregates).values(),
        }
    }

    /// The current row of a fully aggregated ungrouped statement.
    pub fn current_row(&self) -> Option<Row> {
        self.row(None, None, &self.ungrouped.values())
    }

    /// The current row of one group, read through `representative` when the
    /// group no longer holds events.
    pub fn group_row(&self, key: &GroupKey, representative: &EventRef) -> Option<Row> {
        let rep = self
            .groups
            .get_by_key(key)
            .map_or(representative, |g| &g.representative);
        self.row(Some(key), Some(rep), &self.group_values(key))
    }

    /// The latest event of a live group.
    pub fn representative(&self, key: &GroupKey) -> Option<&EventRef> {
        self.groups.get_by_key(key).map(|g| &g.representative)
    }

    /// `output snapshot`: the rows of the current state.
    pub fn snapshot(&self, contents: &[EventRef]) -> Vec<Row> {
        match self.plan.shape {
            Shape::Unaggregated => contents
                .iter()
                .filter_map(|e| self.row(None, Some(e), &[]))
                .collect(),
            Shape::FullyAggregatedUngrouped => self.current_row().into_iter().collect(),
            Shape::AggregatedUngrouped => {
                let aggs = self.ungrouped.values();
                contents
                    .iter()
                    .filter_map(|e| self.row(None, Some(e), &aggs))
                    .collect()
            }
            Shape::FullyAggregatedGrouped => self
                .groups
                .iter()
                .filter_map(|(k, g)| self.row(Some(k), Some(&g.representative), &g.aggs.values()))
                .collect(),
            Shape::AggregatedGrouped => contents
                .iter()
                .filter_map(|e| {
                    let key = self.group_key(e);
                    self.row(Some(&key), Some(e), &self.group_values(&key))
                })
                .collect(),
        }
    }

    /// Number of live groups (state size).
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }
}

/// An event entering (`enter`) or leaving `aggs`: each aggregate's input is
/// read from `scope`, applied, then handed to `keep` (a compact window keeps
/// the inputs of the events it holds).
fn apply_event(
    aggs: &mut AggRow,
    specs: &[AggSpec],
    scope: &Scope<'_>,
    seq: u64,
    enter: bool,
    mut keep: impl FnMut(Cow<'_, Value>),
) {
    for (state, spec) in aggs.states.iter_mut().zip(specs) {
        let v = spec
            .arg
            .as_ref()
            .map_or(Cow::Owned(Value::Null), |a| a.eval_cow(scope));
        state.update(&v, seq, enter, spec.arg.is_none());
        keep(v);
    }
    aggs.events += if enter { 1 } else { -1 };
}

/// What an expression sees for `event`: its fields, or a pattern match's tags.
fn scope<'a>(is_pattern: bool, event: Option<&'a Event>, aggs: &'a [Value]) -> Scope<'a> {
    match event {
        Some(e) if is_pattern => Scope {
            event: None,
            tags: &e.fields,
            aggregates: aggs,
        },
        Some(e) => Scope {
            event: Some(e),
            tags: &[],
            aggregates: aggs,
        },
        None => Scope {
            event: None,
            tags: &[],
            aggregates: aggs,
        },
    }
}
