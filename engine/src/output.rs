//! Output rate limiting: `output [all|first|last|snapshot] every N events | every T`.
//!
//! Time-based output is scheduled from the first step that reaches the limiter
//! and then fires every T, with or without events (Esper's behaviour).
mod snapshot;

use cepheus_parser::OutputMode;

use crate::plan::{OutputRate, OutputSpec, Shape};
use crate::result_set::{ResultSet, Row, StepRows};
use crate::time::EventTime;
use crate::window::{EventRef, GroupKey, KeyMap};

pub(crate) use snapshot::LimiterState;

/// Rows released by the limiter in one delivery.
#[derive(Debug, Default)]
pub struct Released {
    pub insert: Vec<Row>,
    pub remove: Vec<Row>,
}

impl Released {
    pub fn is_empty(&self) -> bool {
        self.insert.is_empty() && self.remove.is_empty()
    }
}

#[derive(Debug)]
pub struct OutputLimiter {
    spec: Option<OutputSpec>,
    shape: Shape,
    steps: Vec<StepRows>,
    new_count: u64,
    old_count: u64,
    next_fire: Option<EventTime>,
    /// `output first`, ungrouped: a row was posted in the current interval.
    first_done: bool,
    /// `output first`, grouped: per group, last post time and events counted.
    group_first: KeyMap<(EventTime, u64)>,
    /// `output all`, grouped: every group seen, with an event to read its
    /// columns from and (fully aggregated) the row it last posted.
    all_groups: KeyMap<(EventRef, Option<Row>)>,
    /// `output all`, aggregated grouped: the groups an event entered or left
    /// since the last output.
    seen: KeyMap<()>,
}

impl OutputLimiter {
    /// No output clause: every step's rows go out as they are.
    pub fn is_passthrough(&self) -> bool {
        self.spec.is_none()
    }

    pub fn new(spec: Option<OutputSpec>, shape: Shape) -> OutputLimiter {
        OutputLimiter {
            spec,
            shape,
            steps: Vec::new(),
            new_count: 0,
            old_count: 0,
            next_fire: None,
            first_done: false,
            group_first: KeyMap::default(),
            all_groups: KeyMap::default(),
            seen: KeyMap::default(),
        }
    }

    pub fn next_timer(&self) -> Option<EventTime> {
        self.next_fire
    }

    /// A step produced `rows` from `inserted`/`removed` view events at `now`.
    /// Returns what is released immediately.
    pub fn on_step(
        &mut self,
        now: EventTime,
        mut rows: StepRows,
        inserted: &[EventRef],
        removed: &[EventRef],
        rs: &ResultSet,
        contents: &dyn Fn() -> Vec<EventRef>,
    ) -> Option<Released> {
        let Some(spec) = self.spec else {
            let r = Released {
                insert: rows.insert,
                remove: rows.remove,
            };
            return (!r.is_empty()).then_some(r);
        };
        if let OutputRate::Millis(ms) = spec.rate
            && self.next_fire.is_none()
        {
            self.next_fire = Some(now.plus(ms));
        }
        if spec.mode == OutputMode::First {
            return self.first(now, spec, rows, inserted.len() as u64);
        }
        if spec.mode == OutputMode::All && self.shape == Shape::FullyAggregatedGrouped {
            self.remember_groups(&rows, inserted, rs);
        }
        if spec.mode == OutputMode::All && self.shape == Shape::AggregatedGrouped {
            self.track_event_groups(&mut rows, inserted, removed, rs);
        }
        self.steps.push(rows);
        self.new_count += inserted.len() as u64;
        self.old_count += removed.len() as u64;
        match spec.rate {
            OutputRate::Events(n) if self.new_count >= n || self.old_count >= n => {
                self.new_count = 0;
                self.old_count = 0;
                let r = self.release(spec.mode, rs, contents);
                (!r.is_empty()).then_some(r)
            }
            _ => None,
        }
    }

    /// Time reached `now`: fire if due.
    pub fn on_time(
        &mut self,
        now: EventTime,
        rs: &ResultSet,
        contents: &dyn Fn() -> Vec<EventRef>,
    ) -> Option<Released> {
        let spec = self.spec?;
        let OutputRate::Millis(ms) = spec.rate else {
            return None;
        };
        let due = self.next_fire.filter(|t| *t <= now)?;
        self.next_fire = Some(due.plus(ms));
        if spec.mode == OutputMode::First {
            self.first_done = false;
            return None;
        }
        let r = self.release(spec.mode, rs, contents);
        (!r.is_empty()).then_some(r)
    }

    fn first(
        &mut self,
        now: EventTime,
        spec: OutputSpec,
        mut rows: StepRows,
        events: u64,
    ) -> Option<Released> {
        if self.shape == Shape::AggregatedGrouped {
            // Esper posts the row of an event leaving the window as a new row
            // here, with or without irstream (statement.rs asks for those rows).
            rows.insert.append(&mut rows.remove);
        }
        let out = if self.shape.grouped() {
            let mut pass = |row: &Row| -> bool {
                let key = row.key.clone().unwrap_or(GroupKey(Default::default()));
                let entry = self.group_first.entry(key).or_insert((EventTime::MIN, 0));
                match spec.rate {
                    OutputRate::Millis(ms) => {
                        let ok = entry.0 == EventTime::MIN || now.0 - entry.0.0 >= ms;
                        if ok {
                            entry.0 = now;
                        }
                        ok
                    }
                    OutputRate::Events(n) => {
                        let ok = entry.1 == 0;
                        entry.1 += 1;
                        if entry.1 >= n {
                            entry.1 = 0;
                        }
                        ok
                    }
                }
            };
            // Decide per group once, from its insert row (or its remove row).
            let mut decided: KeyMap<bool> = KeyMap::default();
            for row in rows.insert.iter().chain(&rows.remove) {
                let key = row.key.clone().unwrap_or(GroupKey(Default::default()));
                if !decided.contains_key(&key) {
                    let ok = pass(row);
                    decided.insert(key, ok);
                }
            }
            let keep = |r: &Row| {
                decided
                    .get(r.key.as_ref().unwrap_or(&GroupKey(Default::default())))
                    .copied()
                    .unwrap_or(false)
            };
            Released {
                insert: rows.insert.into_iter().filter(|r| keep(r)).collect(),
                remove: rows.remove.into_iter().filter(|r| keep(r)).collect(),
            }
        } else {
            let mut out = Released::default();
            if !self.first_done {
                out = Released {
                    insert: rows.insert,
                    remove: rows.remove,
                };
                if !out.is_empty() {
                    self.first_done = true;
                    self.new_count = 0;
                }
            }
            if let OutputRate::Events(n) = spec.rate {
                self.new_count += events;
                if self.new_count >= n {
                    self.new_count = 0;
                    self.first_done = false;
                }
            }
            out
        };
        (!out.is_empty()).then_some(out)
    }

    fn remember_groups(&mut self, rows: &StepRows, inserted: &[EventRef], rs: &ResultSet) {
        for row in &rows.insert {
            let Some(key) = &row.key else { continue };
            if !self.all_groups.contains_key(key) {
                let rep = rs
                    .representative(key)
                    .cloned()
                    .or_else(|| inserted.first().cloned());
                let Some(rep) = rep else { continue };
                let prev = rows
                    .remove
                    .iter()
                    .find(|r| r.key.as_ref() == Some(key))
                    .cloned();
                self.all_groups.insert(key.clone(), (rep, prev));
            }
        }
    }

    /// `output all`, aggregated grouped: each group keeps its latest event;
    /// a group that lost an event in this step also posts a row read from that
    /// latest event with the aggregates after the step.
    fn track_event_groups(
        &mut self,
        rows: &mut StepRows,
        inserted: &[EventRef],
        removed: &[EventRef],
        rs: &ResultSet,
    ) {
        for e in inserted {
            let key = rs.group_key(e);
            self.seen.insert(key.clone(), ());
            self.all_groups.insert(key, (e.clone(), None));
        }
        let mut left: KeyMap<()> = KeyMap::default();
        for e in removed {
            let key = rs.group_key(e);
            self.seen.insert(key.clone(), ());
            left.insert(key, ());
        }
        for key in left.keys() {
            if let Some((rep, _)) = self.all_groups.get(key) {
                rows.insert.extend(rs.group_row(key, rep));
            }
        }
    }

    fn release(
        &mut self,
        mode: OutputMode,
        rs: &ResultSet,
        contents: &dyn Fn() -> Vec<EventRef>,
    ) -> Released {
        let steps = std::mem::take(&mut self.steps);
        let mut out = Released::default();
        match (mode, self.shape) {
            (OutputMode::Snapshot, _) => out.insert = rs.snapshot(&contents()),
            (OutputMode::All, Shape::FullyAggregatedGrouped) => {
                for (key, (rep, prev)) in self.all_groups.iter_mut() {
                    if let Some(rep_now) = rs.representative(key) {
                        *rep = rep_now.clone();
                    }
                    let cur = rs.group_row(key, rep);
                    out.remove.extend(prev.take());
                    if let Some(c) = &cur {
                        out.insert.push(c.clone());
                    }
                    *prev = cur;
                }
            }
            (OutputMode::All, Shape::AggregatedGrouped) => {
                for s in steps {
                    out.insert.extend(s.insert);
                    out.remove.extend(s.remove);
                }
                // Groups without events in the interval repeat their row.
                for (key, (rep, _)) in &self.all_groups {
                    if !self.seen.contains_key(key) {
                        out.insert.extend(rs.group_row(key, rep));
                    }
                }
                self.seen.clear();
            }
            (OutputMode::Last, Shape::FullyAggregatedUngrouped) => {
                let current = rs.current_row();
                let first_old = steps.iter().find_map(|s| s.remove.first().cloned());
                let had_steps = !steps.is_empty();
                out.insert.extend(current.clone());
                out.remove
                    .extend(if had_steps { first_old } else { current });
            }
            (OutputMode::Default | OutputMode::All, Shape::FullyAggregatedUngrouped)
                if steps.is_empty() =>
            {
                let current = rs.current_row();
                out.insert.extend(current.clone());
                out.remove.extend(current);
            }
            (OutputMode::Last, shape) if shape.grouped() => {
                let mut last_insert: KeyMap<Row> = KeyMap::default();
                let mut remove: KeyMap<Row> = KeyMap::default();
                let first_remove = shape == Shape::FullyAggregatedGrouped;
                for s in steps {
                    for r in s.insert {
                        last_insert
                            .insert(r.key.clone().unwrap_or(GroupKey(Default::default())), r);
                    }
                    for r in s.remove {
                        let key = r.key.clone().unwrap_or(GroupKey(Default::default()));
                        if !(first_remove && remove.contains_key(&key)) {
                            remove.insert(key, r);
                        }
                    }
                }
                out.insert = last_insert.into_values().collect();
                out.remove = remove.into_values().collect();
            }
            (OutputMode::Last, _) => {
                out.insert
                    .extend(steps.iter().rev().find_map(|s| s.insert.last().cloned()));
                out.remove
                    .extend(steps.iter().rev().find_map(|s| s.remove.last().cloned()));
            }
            _ => {
                for s in steps {
                    out.insert.extend(s.insert);
                    out.remove.extend(s.remove);
                }
            }
        }
        out
    }
}
