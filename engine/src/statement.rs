//! One running statement: filter -> window -> where -> result set -> output
//! limiter -> order by / limit -> selected stream.
mod snapshot;

use std::sync::Arc;

use cepheus_parser::{OutputMode, StreamSelector};

use crate::event::EventArg;
use crate::expr::Scope;
use crate::matcher::PatternMatcher;
use crate::output::{OutputLimiter, Released};
use crate::plan::{InputPlan, Shape, StatementPlan, WindowStorage};
use crate::result_set::{ResultSet, Row, StepRows, Wanted};
use crate::schema::{EventType, FieldInfo, TypeId};
use crate::time::EventTime;
use crate::value::{Type, Value};
use crate::window::compact::{CompactWindow, RetainedStep};
use crate::window::{Delta, EventRef, StepEvents, Window};

pub(crate) use snapshot::StatementState;

/// What a statement hands to its listeners in one delivery, after the stream
/// selector: `insert` are the listener's new rows, `remove` its old rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub insert: Vec<Vec<Value>>,
    pub remove: Vec<Vec<Value>>,
}

/// The state one statement holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    /// Events held by the data window (a batch being collected included).
    pub window_events: usize,
    /// Live group keys of the aggregation.
    pub groups: usize,
    /// Live pattern instances (see [`PatternMatcher::live_instances`]).
    pub pattern_instances: usize,
}

#[derive(Debug)]
pub struct Statement {
    pub plan: Arc<StatementPlan>,
    held: Held,
    matcher: Option<PatternMatcher>,
    result: ResultSet,
    limiter: OutputLimiter,
    want: Wanted,
    /// The type of a pattern match: one field per tag.
    match_type: Option<Arc<EventType>>,
}

/// What a statement's data window holds (see [`WindowStorage`]).
#[derive(Debug)]
enum Held {
    /// Events, in a data window; none: events pass straight through (and
    /// pattern statements, which hold their events in the matcher).
    Events(Option<Window>),
    /// Each counted event's group slot and aggregate inputs.
    AggregateInputs(CompactWindow),
}

impl Held {
    fn window(&self) -> Option<&Window> {
        match self {
            Held::Events(w) => w.as_ref(),
            Held::AggregateInputs(_) => None,
        }
    }
}

impl Statement {
    pub fn new(plan: StatementPlan, start: EventTime) -> Statement {
        let plan = Arc::new(plan);
        // Aggregated grouped `output first` posts the rows of leaving events
        // as new rows (see `OutputLimiter::first`), so it needs them always.
        let first_grouped = plan.shape == Shape::AggregatedGrouped
            && plan.output.is_some_and(|o| o.mode == OutputMode::First);
        let want = Wanted {
            insert: plan.selector != StreamSelector::RStream,
            remove: plan.selector != StreamSelector::IStream || first_grouped,
        };
        let (held, matcher, match_type) = match &plan.input {
            InputPlan::Stream { window, .. } => {
                let compact = match plan.storage {
                    WindowStorage::AggregateInputs => CompactWindow::new(window.as_ref()),
                    WindowStorage::Events => None,
                };
                let compact = compact.map(|mut c| {
                    if !want.remove {
                        c.count_on_arrival();
                    }
                    c
                });
                let held = match compact {
                    Some(c) => Held::AggregateInputs(c),
                    None => Held::Events(window.as_ref().map(Window::new)),
                };
                (held, None, None)
            }
            InputPlan::Pattern(p) => {
                let fields = p
                    .tags
                    .iter()
                    .map(|(n, t)| FieldInfo {
                        name: n.clone(),
                        ty: Type::Event(t.id),
                    })
                    .collect();
                let ty = Arc::new(EventType::new(
                    TypeId(u32::MAX),
                    format!("{}-match", plan.name),
                    fields,
                    None,
                ));
                (
                    Held::Events(None),
                    Some(PatternMatcher::new(p.clone(), start)),
                    Some(ty),
                )
            }
        };
        Statement {
            result: ResultSet::new(plan.clone()),
            limiter: OutputLimiter::new(plan.output, plan.shape),
            plan,
            held,
            matcher,
            want,
            match_type,
        }
    }

    /// The event types this statement reads.
    pub fn input_types(&self) -> Vec<TypeId> {
        match &self.plan.input {
            InputPlan::Stream { event_type, .. } => vec![event_type.id],
            InputPlan::Pattern(p) => p.filter_types(),
        }
    }

    /// Whether the statement keeps the events it is given (the engine then
    /// shares each event instead of lending it; see [`EventArg`]).
    pub fn keeps_events(&self) -> bool {
        !matches!(self.held, Held::AggregateInputs(_))
    }

    pub fn on_event(
        &mut self,
        event: EventArg<'_>,
        now: EventTime,
        seq: &mut u64,
        out: &mut Vec<Output>,
    ) {
        match &self.plan.input {
            InputPlan::Stream { filter, .. } => {
                if let Some(f) = filter
                    && !f.is_true(&Scope::event(&event))
                {
                    return;
                }
                let window = match &mut self.held {
                    Held::Events(window) => window,
                    Held::AggregateInputs(c) => {
                        let counted = self
                            .plan
                            .where_clause
                            .as_ref()
                            .is_none_or(|w| w.is_true(&Scope::event(&event)));
                        let want = self.want;
                        arrive_compact(
                            c,
                            &mut self.result,
                            &self.plan,
                            want,
                            event,
                            now,
                            counted,
                            out,
                        );
                        return;
                    }
                };
                let mut delta = Delta::default();
                match window {
                    Some(w) => w.insert(event.shared(), now, &mut delta),
                    None => delta.inserted.push(event.shared()),
                }
                self.step(delta, now, out);
            }
            InputPlan::Pattern(_) => {
                let (Some(m), Some(ty)) = (&mut self.matcher, &self.match_type) else {
                    return;
                };
                let mut matches = Vec::new();
                m.on_event(&event.shared(), &mut matches);
                let matches = match_events(ty, matches, now, seq);
                self.step_matches(matches, now, out);
            }
        }
    }

    /// Esper hands each pattern match to the statement on its own (so an
    /// aggregate sees one match at a time and emits a row per match) and
    /// dispatches everything one step produced in a single listener call.
    fn step_matches(&mut self, matches: Vec<EventRef>, now: EventTime, out: &mut Vec<Output>) {
        let mut merged: Option<Output> = None;
        for m in matches {
            let mut produced = Vec::new();
            self.step(
                Delta {
                    inserted: smallvec::smallvec![m],
                    removed: StepEvents::new(),
                },
                now,
                &mut produced,
            );
            for o in produced {
                match &mut merged {
                    Some(acc) => {
                        acc.insert.extend(o.insert);
                        acc.remove.extend(o.remove);
                    }
                    None => merged = Some(o),
                }
            }
        }
        out.extend(merged);
    }

    pub fn next_timer(&self) -> Option<EventTime> {
        let earliest = |a: Option<EventTime>, b: Option<EventTime>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let w = match &self.held {
            Held::Events(w) => w.as_ref().and_then(Window::next_timer),
            Held::AggregateInputs(c) => c.next_timer(),
        };
        let m = self.matcher.as_ref().and_then(PatternMatcher::next_timer);
        earliest(earliest(w, m), self.limiter.next_timer())
    }

    /// Time is `now`: expire windows, fire pattern timers, then output timers.
    pub fn on_time(&mut self, now: EventTime, seq: &mut u64, out: &mut Vec<Output>) {
        match &mut self.held {
            Held::AggregateInputs(c) if c.next_timer().is_some_and(|t| t <= now) => {
                let step = c.on_time(now);
                step_retained(&mut self.result, &self.plan, self.want, step, out);
            }
            Held::Events(Some(w)) if w.next_timer().is_some_and(|t| t <= now) => {
                let mut delta = Delta::default();
                w.on_time(now, &mut delta);
                self.step(delta, now, out);
            }
            _ => {}
        }
        if let (Some(m), Some(ty)) = (&mut self.matcher, &self.match_type)
            && m.next_timer().is_some_and(|t| t <= now)
        {
            let mut matches = Vec::new();
            m.on_time(now, &mut matches);
            let matches = match_events(ty, matches, now, seq);
            self.step_matches(matches, now, out);
        }
        if self.limiter.next_timer().is_some_and(|t| t <= now) {
            let window = self.held.window();
            let contents = || window_contents(window);
            if let Some(r) = self.limiter.on_time(now, &self.result, &contents) {
                out.extend(finish(&self.plan, r));
            }
        }
    }

    fn step(&mut self, mut delta: Delta, now: EventTime, out: &mut Vec<Output>) {
        if let Some(w) = &self.plan.where_clause {
            let is_pattern = self.matcher.is_some();
            let pass = |e: &EventRef| {
                let scope = if is_pattern {
                    Scope {
                        event: None,
                        tags: &e.fields,
                        aggregates: &[],
                    }
                } else {
                    Scope::event(e)
                };
                w.is_true(&scope)
            };
            delta.inserted.retain(|e| pass(e));
            delta.removed.retain(|e| pass(e));
        }
        if delta.is_empty() {
            return;
        }
        let rows = self
            .result
            .process(&delta.inserted, &delta.removed, self.want);
        if self.limiter.is_passthrough() && rows.insert.is_empty() && rows.remove.is_empty() {
            return;
        }
        let window = self.held.window();
        let contents = || window_contents(window);
        if let Some(r) = self.limiter.on_step(
            now,
            rows,
            &delta.inserted,
            &delta.removed,
            &self.result,
            &contents,
        ) {
            out.extend(finish(&self.plan, r));
        }
    }
    /// Events in the window, as `output snapshot` sees them.
    pub fn window_len(&self) -> usize {
        match &self.held {
            Held::Events(w) => w.as_ref().map_or(0, Window::len),
            Held::AggregateInputs(c) => c.len(),
        }
    }

    /// How much state the statement holds (for metrics and `/rules`).
    pub fn state_size(&self) -> StateSize {
        StateSize {
            window_events: match &self.held {
                Held::Events(w) => w.as_ref().map_or(0, Window::held),
                Held::AggregateInputs(c) => c.held(),
            },
            groups: self.result.group_count(),
            pattern_instances: self.pattern_instances(),
        }
    }
    pub fn group_count(&self) -> usize {
        self.result.group_count()
    }
    pub fn pattern_instances(&self) -> usize {
        self.matcher
            .as_ref()
            .map_or(0, PatternMatcher::live_instances)
    }
}

/// Pattern matches (one value per tag) as events of the match type, numbered
/// in the engine's arrival sequence.
fn match_events(
    ty: &Arc<EventType>,
    matches: Vec<Box<[Value]>>,
    now: EventTime,
    seq: &mut u64,
) -> Vec<EventRef> {
    matches
        .into_iter()
        .map(|fields| {
            *seq += 1;
            Arc::new(crate::event::Event {
                ty: ty.clone(),
                time: now,
                seq: *seq,
                fields: crate::event::event_fields(fields),
            })
        })
        .collect()
}

/// The events a window holds, oldest first (none without a window).
fn window_contents(window: Option<&Window>) -> Vec<EventRef> {
    let mut v = Vec::new();
    if let Some(w) = window {
        w.contents(&mut v);
    }
    v
}

/// An event arriving at a window that keeps aggregate inputs; `counted`:
/// whether `where` accepted it.
#[allow(clippy::too_many_arguments)]
fn arrive_compact(
    window: &mut CompactWindow,
    result: &mut ResultSet,
    plan: &StatementPlan,
    want: Wanted,
    event: EventArg<'_>,
    now: EventTime,
    counted: bool,
    out: &mut Vec<Output>,
) {
    if counted && window.arrivals_only_insert() {
        let rows = if window.keeps_nothing() {
            result.process_arrival(event, want)
        } else {
            let (rows, entry) = result.process_arrival_kept(event, now, want);
            window.keep(entry, now);
            rows
        };
        deliver_rows(plan, rows, out);
    } else if !window.keeps_nothing() {
        // Without a window, an event `where` rejects is no step at all.
        let entry = if window.counts_on_arrival() {
            result.arrive_in_batch(event, now, counted)
        } else {
            result.retain(event, now, counted)
        };
        let step = window.insert(entry, now);
        step_retained(result, plan, want, step, out);
    }
}

/// A compact window's step through the result set to the listener's streams.
/// Entries `where` rejected count for nothing: a step of only those
/// produces nothing, as an event step emptied by `where` does.
fn step_retained(
    result: &mut ResultSet,
    plan: &StatementPlan,
    want: Wanted,
    step: RetainedStep<'_>,
    out: &mut Vec<Output>,
) {
    let counted = |e: &crate::window::compact::Retained| e.slot().is_some();
    if !step.inserted.iter().chain(step.removed).any(counted) {
        return;
    }
    let rows = result.process_retained(step, want);
    deliver_rows(plan, rows, out);
}

/// A compact step's rows to the listener's streams (nothing when there are none).
fn deliver_rows(plan: &StatementPlan, rows: StepRows, out: &mut Vec<Output>) {
    if rows.insert.is_empty() && rows.remove.is_empty() {
        return;
    }
    out.extend(finish(
        plan,
        Released {
            insert: rows.insert,
            remove: rows.remove,
        },
    ));
}

/// Order, limit and map released rows to the listener's streams; nothing
/// when the selected streams carry no rows.
fn finish(plan: &StatementPlan, r: Released) -> Option<Output> {
    let insert = order_and_limit(plan, r.insert);
    let remove = order_and_limit(plan, r.remove);
    let out = match plan.selector {
        StreamSelector::IStream => Output {
            insert,
            remove: Vec::new(),
        },
        StreamSelector::RStream => Output {
            insert: remove,
            remove: Vec::new(),
        },
        StreamSelector::IRStream => Output { insert, remove },
    };
    (!out.insert.is_empty() || !out.remove.is_empty()).then_some(out)
}

fn order_and_limit(plan: &StatementPlan, mut rows: Vec<Row>) -> Vec<Vec<Value>> {
    if !plan.order_by.is_empty() {
        let keys = &plan.order_by;
        rows.sort_by(|a, b| {
            for (i, k) in keys.iter().enumerate() {
                let ord = a.sort[i].sort_cmp(&b.sort[i]);
                let ord = if k.descending { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let iter = rows.into_iter().map(|r| r.values);
    match plan.limit {
        Some(l) => iter.skip(l.offset).take(l.count).collect(),
        None => iter.collect(),
    }
}
