//! Steps over a window that keeps aggregate inputs
//! ([`WindowStorage::AggregateInputs`]): entries name their group by a slot
//! that stays put while the group lives, so an entry leaving is applied
//! without evaluating or hashing anything.
use smallvec::SmallVec;

use std::borrow::Cow;

use super::{GroupAt, ResultSet, Row, StepRows, Wanted, apply_event};
use crate::aggregate::{AggRow, AggSpec};
use crate::event::EventArg;
use crate::expr::Scope;
use crate::plan::{Shape, WindowStorage};
use crate::time::EventTime;
use crate::value::Value;
use crate::window::compact::{AggInputs, Collected, GroupSlot, Retained, RetainedStep};

impl ResultSet {
    /// What a compact window keeps of `event`, which arrived at `now`: its
    /// group (created when new) and its aggregate inputs; only its place in
    /// the window when `counted` is false (`where` rejected it).
    pub(crate) fn retain(
        &mut self,
        event: EventArg<'_>,
        now: EventTime,
        counted: bool,
    ) -> Retained {
        let (slot, args) = if counted {
            let slot = if self.plan.shape.grouped() {
                self.group_of(&event, || event.shared()).slot
            } else {
                0
            };
            let scope = Scope::event(&event);
            let input = |spec: &AggSpec| spec.arg.as_ref().map_or(Value::Null, |a| a.eval(&scope));
            let args: AggInputs = match self.plan.aggregates.as_slice() {
                [only] => smallvec::smallvec![input(only)],
                specs => specs.iter().map(input).collect(),
            };
            (GroupSlot::of(slot), args)
        } else {
            (GroupSlot::NOT_COUNTED, AggInputs::new())
        };
        Retained::new(now.0, event.seq, slot, args)
    }

    /// The step of a counted event arriving without a data window (nothing
    /// is retained, nothing ever leaves): its group's rows, the aggregate
    /// inputs applied as they are read from the event.
    pub(crate) fn process_arrival(&mut self, event: EventArg<'_>, want: Wanted) -> StepRows {
        self.arrival::<false>(event, want).rows
    }

    /// [`ResultSet::process_arrival`] at a window whose arrivals insert and
    /// never remove (`#time`), with the entry the window keeps (what
    /// [`ResultSet::retain`] gives): the inputs are read once.
    pub(crate) fn process_arrival_kept(
        &mut self,
        event: EventArg<'_>,
        now: EventTime,
        want: Wanted,
    ) -> (StepRows, Retained) {
        self.arrival::<true>(event, want).kept_at(now, event.seq)
    }

    #[inline(always)]
    fn arrival<const KEEP: bool>(&mut self, event: EventArg<'_>, want: Wanted) -> Arrived {
        let mut out = StepRows::default();
        let mut aggs = std::mem::take(&mut self.scratch);
        let scope = Scope::event(&event);
        let mut kept = Collected::None;
        let (group, slot) = if self.plan.shape.grouped() {
            let at = self.group_of(&event, || event.shared());
            if want.remove {
                out.remove.extend(self.row_at(at, &mut aggs));
            }
            if let Some(group) = self.groups.at_mut(at) {
                let specs = &self.plan.aggregates;
                apply_event(&mut group.aggs, specs, &scope, event.seq, true, |v| {
                    keep::<KEEP>(&mut kept, v)
                });
            }
            if want.insert {
                out.insert.extend(self.row_at(at, &mut aggs));
            }
            (Some(at), at.slot)
        } else {
            if want.remove {
                self.ungrouped.values_into(&mut aggs);
                out.remove.extend(self.row(None, None, &aggs));
            }
            let specs = &self.plan.aggregates;
            apply_event(&mut self.ungrouped, specs, &scope, event.seq, true, |v| {
                keep::<KEEP>(&mut kept, v)
            });
            if want.insert {
                self.ungrouped.values_into(&mut aggs);
                out.insert.extend(self.row(None, None, &aggs));
            }
            (None, 0)
        };
        self.scratch = aggs;
        Arrived {
            rows: out,
            group,
            slot,
            kept,
        }
    }

    /// A counted event arriving at a batch window whose entries count as
    /// they arrive ([`crate::window::compact::CompactWindow::counts_on_arrival`]):
    /// its inputs enter its group now, and the group joins the batch's groups.
    /// The aggregate states then go through the same updates, in the same
    /// order, as when the flush applies the batch (per group: the batch's
    /// entries in arrival order, then the previous batch's leaving), and no
    /// row reads them before the flush. Returns the entry the window keeps.
    pub(crate) fn arrive_in_batch(
        &mut self,
        event: EventArg<'_>,
        now: EventTime,
        counted: bool,
    ) -> Retained {
        if !counted {
            return self.retain(event, now, false);
        }
        let none = Wanted {
            insert: false,
            remove: false,
        };
        let arrived = self.arrival::<true>(event, none);
        if let Some(at) = arrived.group {
            self.join_batch(at);
        }
        arrived.kept_at(now, event.seq).1
    }

    /// The group `at` counts an entry of the batch being collected: it is
    /// marked with the step of the coming flush and listed once.
    fn join_batch(&mut self, at: GroupAt) {
        let listed = &mut self.batch_groups;
        if let Some(group) = self.groups.at_mut(at)
            && group.touch(self.steps + 1, listed.len())
        {
            listed.push(at.slot);
        }
    }

    /// After a restore: the groups of the batch being collected (`current`,
    /// whose entries already count) are listed again in first-seen order.
    pub(crate) fn restore_batch(&mut self, current: &[Retained]) {
        self.batch_groups.clear();
        if !self.plan.shape.grouped() {
            return;
        }
        for slot in current.iter().filter_map(|e| e.slot()) {
            if let Some(at) = self.groups.locate(slot) {
                self.join_batch(at);
            }
        }
    }

    /// The flush of a batch window whose entries counted on arrival
    /// ([`ResultSet::arrive_in_batch`]): `step.inserted` already count, the
    /// previous batch (`step.removed`) leaves now; each group is touched
    /// once per leaving entry instead of twice per entry of both batches.
    /// Only a statement without a remove stream counts on arrival (the
    /// remove stream shows the values before the flush).
    fn flush_batch(&mut self, step: RetainedStep<'_>, want: Wanted) -> StepRows {
        debug_assert!(
            !want.remove,
            "a remove stream needs the values before the flush"
        );
        let mut out = StepRows::default();
        self.steps += 1;
        if !self.plan.shape.grouped() {
            for e in step.removed.iter().filter(|e| e.slot().is_some()) {
                apply_inputs(&mut self.ungrouped, &self.plan.aggregates, e, false);
            }
            if want.insert {
                out.insert
                    .extend(self.row(None, None, &self.ungrouped.values()));
            }
            return out;
        }
        // Changed groups in first-seen order: the batch's, then the previous batch's others.
        let mut batch = std::mem::take(&mut self.batch_groups);
        let mut changed: Changed = batch.iter().copied().collect();
        for e in step.removed {
            let Some(slot) = e.slot() else {
                continue;
            };
            let Some(group) = self.groups.group_mut(slot) else {
                continue;
            };
            apply_inputs(&mut group.aggs, &self.plan.aggregates, e, false);
            if group.touch(self.steps, changed.len()) {
                changed.push(slot);
            }
        }
        if want.insert {
            self.rows_of(&changed, &mut out.insert);
        }
        self.drop_empty_groups(changed.into_iter());
        batch.clear();
        self.batch_groups = batch;
        out
    }

    /// One step of a compact window: the rows of Esper's fully aggregated
    /// shapes, as [`ResultSet::process`] produces them from events.
    pub(crate) fn process_retained(&mut self, step: RetainedStep<'_>, want: Wanted) -> StepRows {
        debug_assert_eq!(self.plan.storage, WindowStorage::AggregateInputs);
        if step.inserted_counted {
            return self.flush_batch(step, want);
        }
        let mut out = StepRows::default();
        let both = [(step.inserted, true), (step.removed, false)];
        match self.plan.shape {
            Shape::FullyAggregatedUngrouped => {
                if want.remove {
                    out.remove
                        .extend(self.row(None, None, &self.ungrouped.values()));
                }
                for (entries, enter) in both {
                    for e in entries.iter().filter(|e| e.slot().is_some()) {
                        apply_inputs(&mut self.ungrouped, &self.plan.aggregates, e, enter);
                    }
                }
                if want.insert {
                    out.insert
                        .extend(self.row(None, None, &self.ungrouped.values()));
                }
            }
            Shape::FullyAggregatedGrouped => {
                if let ([e], []) | ([], [e]) = (step.inserted, step.removed) {
                    // The usual step (one arrival, one expiry): one group.
                    self.process_one(e, !step.inserted.is_empty(), want, &mut out);
                    return out;
                }
                // Changed groups in first-seen order (inserted, then removed).
                self.steps += 1;
                let mut changed = Changed::new();
                for (entries, _) in both {
                    for slot in entries.iter().filter_map(|e| e.slot()) {
                        self.touch(slot, &mut changed);
                    }
                }
                if want.remove {
                    self.rows_of(&changed, &mut out.remove);
                }
                for (entries, enter) in both {
                    for e in entries {
                        let Some(group) = e.slot().and_then(|s| self.groups.group_mut(s)) else {
                            continue;
                        };
                        apply_inputs(&mut group.aggs, &self.plan.aggregates, e, enter);
                    }
                }
                if want.insert {
                    self.rows_of(&changed, &mut out.insert);
                }
                self.drop_empty_groups(changed.into_iter());
            }
            // The binder plans compact storage for the fully aggregated shapes only.
            _ => debug_assert!(false, "compact storage for {:?}", self.plan.shape),
        }
        out
    }

    /// Lists the group in `slot` in `changed` the first time this step
    /// (`self.steps`) touches it.
    fn touch(&mut self, slot: u32, changed: &mut Changed) {
        if let Some(group) = self.groups.group_mut(slot)
            && group.touch(self.steps, changed.len())
        {
            changed.push(slot);
        }
    }

    /// The current rows of the groups in `changed` (those `having` passes).
    fn rows_of(&mut self, changed: &[u32], rows: &mut Vec<Row>) {
        let mut aggs = std::mem::take(&mut self.scratch);
        for &slot in changed {
            rows.extend(self.current_group_row(slot, &mut aggs));
        }
        self.scratch = aggs;
    }

    /// The current row of the group in `slot`.
    fn current_group_row(&self, slot: u32, aggs: &mut Vec<Value>) -> Option<Row> {
        self.row_at(self.groups.locate(slot)?, aggs)
    }

    /// The current row of the group `at`, read through its representative.
    fn row_at(&self, at: GroupAt, aggs: &mut Vec<Value>) -> Option<Row> {
        let (key, group) = self.groups.at(at)?;
        self.row_of_group(key, group, &group.representative, aggs)
    }

    /// [`ResultSet::process_retained`] of a grouped step of one entry.
    fn process_one(&mut self, e: &Retained, enter: bool, want: Wanted, out: &mut StepRows) {
        let Some(at) = e.slot().and_then(|slot| self.groups.locate(slot)) else {
            return;
        };
        let mut aggs = std::mem::take(&mut self.scratch);
        if want.remove {
            out.remove.extend(self.row_at(at, &mut aggs));
        }
        let emptied = self.groups.at_mut(at).is_some_and(|group| {
            apply_inputs(&mut group.aggs, &self.plan.aggregates, e, enter);
            group.aggs.events <= 0
        });
        if want.insert {
            out.insert.extend(self.row_at(at, &mut aggs));
        }
        self.scratch = aggs;
        if emptied {
            self.groups.remove(at.slot);
        }
    }

    /// The saved position of the group in `slot` (its place in the listing).
    pub(crate) fn slot_position(&self, slot: u32) -> u32 {
        if !self.plan.shape.grouped() {
            return slot;
        }
        self.groups.place(slot).unwrap_or(u32::MAX)
    }

    /// The slot of the group restored at `position`, if there is one.
    pub(crate) fn restored_slot(&self, position: u32) -> Option<u32> {
        if self.plan.shape.grouped() {
            self.groups.slot_at(position)
        } else {
            (position == 0).then_some(0)
        }
    }
}

/// The groups one step changed, by slot, in first-seen order.
type Changed = SmallVec<[u32; 2]>;

/// What an arrival did: its rows, its group (grouped), the slot its entry
/// names (0 ungrouped), and the inputs it kept.
struct Arrived {
    rows: StepRows,
    group: Option<GroupAt>,
    slot: u32,
    kept: Collected,
}

impl Arrived {
    /// The rows, and the entry a window keeps of the event (`seq`), which
    /// arrived at `now`.
    fn kept_at(self, now: EventTime, seq: u64) -> (StepRows, Retained) {
        let entry = Retained::collected(now.0, seq, GroupSlot::of(self.slot), self.kept);
        (self.rows, entry)
    }
}

/// With `KEEP`, an input applied at arrival joins the entry the window keeps.
#[inline(always)]
fn keep<const KEEP: bool>(kept: &mut Collected, value: Cow<'_, Value>) {
    if KEEP {
        kept.push(value.into_owned());
    }
}

fn apply_inputs(aggs: &mut AggRow, specs: &[AggSpec], entry: &Retained, enter: bool) {
    let inputs = entry.inputs();
    for ((state, spec), v) in aggs.states.iter_mut().zip(specs).zip(inputs.as_slice()) {
        state.update(v, entry.seq, enter, spec.arg.is_none());
    }
    aggs.events += if enter { 1 } else { -1 };
}
