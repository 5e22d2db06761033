//! The engine: routes events to statements, fires timers in time order and
//! feeds `insert into` streams, all on event time.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::binder::BoundScript;
use crate::event::{Event, EventArg, EventFields, IntoEventFields};
use crate::plan::{InputPlan, StatementPlan};
use crate::schema::{EventType, TypeRegistry};
use crate::statement::{Output, Statement};
use crate::time::EventTime;
use crate::value::Value;

/// One listener call: a statement's rows at one engine time.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub time: EventTime,
    /// The statement's stable id (see [`Engine::plan`]): its index in
    /// [`Engine::statements`] until a statement is removed; ids are never reused.
    pub statement: usize,
    pub output: Output,
}

/// A rule the engine cannot run, found when it is loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("statement `{statement}`: {message}")]
pub struct UnsupportedError {
    pub statement: String,
    pub message: String,
}

/// How the events of one type reach the statements that read it.
#[derive(Debug)]
enum Handover {
    /// Some statement keeps events: each event is allocated and shared.
    Shared,
    /// No statement keeps events: they are lent from one box, reused from
    /// event to event (no allocation, no reference counting on the type);
    /// it holds the last event's values until the next one arrives.
    Lent(Option<Box<Event>>),
}

/// Most `insert into` events one step may route before the engine stops the
/// cascade (a statement inserting into its own input would loop forever).
const MAX_ROUTED_PER_STEP: usize = 100_000;

#[derive(Debug)]
pub struct Engine {
    pub(crate) registry: TypeRegistry,
    pub(crate) statements: Vec<Statement>,
    /// The stable id of each statement in `statements` (same order).
    pub(crate) ids: Vec<usize>,
    pub(crate) next_id: usize,
    /// For each event type (by id), the positions in `statements` that read it, in order.
    routes: Vec<Vec<usize>>,
    /// For each event type (by id), how its events reach the statements.
    handover: Vec<Handover>,
    /// The position in `statements` of each stable id.
    positions: HashMap<usize, usize>,
    /// Each statement's earliest pending timer (same order as `statements`),
    /// refreshed after every call that may change it: finding the next
    /// timer scans these, not every statement's windows, matcher and limiter.
    timers: Vec<Option<EventTime>>,
    pub(crate) now: EventTime,
    pub(crate) seq: u64,
    /// `insert into` events of the current step waiting for their readers,
    /// in the order they were produced; empty between calls.
    routed: VecDeque<Arc<Event>>,
    /// `insert into` events dropped because a step routed too many.
    pub routing_overflows: u64,
}

impl Engine {
    /// Creates the statements of `bound`, starting engine time at `start`.
    pub fn new(bound: BoundScript, start: EventTime) -> Result<Engine, UnsupportedError> {
        let mut engine = Engine {
            registry: TypeRegistry::default(),
            statements: Vec::new(),
            ids: Vec::new(),
            next_id: 0,
            routes: Vec::new(),
            handover: Vec::new(),
            positions: HashMap::new(),
            timers: Vec::new(),
            now: start,
            seq: 0,
            routed: VecDeque::new(),
            routing_overflows: 0,
        };
        engine.add_statements(bound)?;
        Ok(engine)
    }

    /// Adds statements to a running engine (a REPL session). `bound` must have been
    /// bound against [`Engine::registry`], so its registry extends this one and is
    /// adopted. The new statements start at the current engine time. Returns their
    /// stable ids; on error nothing is added.
    pub fn add_statements(&mut self, bound: BoundScript) -> Result<Vec<usize>, UnsupportedError> {
        let extends = bound.registry.len() >= self.registry.len()
            && self
                .registry
                .iter()
                .all(|t| bound.registry.get(&t.name).is_some_and(|b| b.id == t.id));
        if !extends {
            return Err(UnsupportedError {
                statement: String::new(),
                message: "the statements were bound against another engine's event types; \
                          bind them against `Engine::registry()`"
                    .into(),
            });
        }
        for (i, plan) in bound.statements.iter().enumerate() {
            check_supported(plan)?;
            let earlier = bound.statements[..i].iter().map(|p| &p.name);
            if self
                .statements
                .iter()
                .map(|s| &s.plan.name)
                .chain(earlier)
                .any(|n| *n == plan.name)
            {
                return Err(UnsupportedError {
                    statement: plan.name.clone(),
                    message: "a statement with this name is already running; remove it first or \
                              choose another @name"
                        .into(),
                });
            }
        }
        self.registry = bound.registry;
        let mut ids = Vec::with_capacity(bound.statements.len());
        for plan in bound.statements {
            self.statements.push(Statement::new(plan, self.now));
            self.ids.push(self.next_id);
            ids.push(self.next_id);
            self.next_id += 1;
        }
        self.recompute_routes();
        Ok(ids)
    }

    /// Stops the statement named `name` and drops its state (windows, groups,
    /// pattern instances). Other statements keep their ids. False if no such statement.
    pub fn remove_statement(&mut self, name: &str) -> bool {
        let Some(pos) = self.statements.iter().position(|s| s.plan.name == name) else {
            return false;
        };
        self.statements.remove(pos);
        self.ids.remove(pos);
        self.recompute_routes();
        true
    }

    pub(crate) fn recompute_routes(&mut self) {
        let mut routes = vec![Vec::new(); self.registry.len()];
        for (i, s) in self.statements.iter().enumerate() {
            for t in s.input_types() {
                if let Some(r) = routes.get_mut(t.0 as usize) {
                    r.push(i);
                }
            }
        }
        self.handover = routes
            .iter()
            .map(|r| {
                if r.iter().any(|i| self.statements[*i].keeps_events()) {
                    Handover::Shared
                } else {
                    Handover::Lent(None)
                }
            })
            .collect();
        self.routes = routes;
        self.positions = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        self.recompute_timers();
    }

    /// Reads every statement's next timer again (after statements were
    /// added, removed or restored).
    pub(crate) fn recompute_timers(&mut self) {
        self.timers = self.statements.iter().map(Statement::next_timer).collect();
    }

    /// The stable id of each running statement, in the order of [`Engine::statements`].
    pub fn statement_ids(&self) -> &[usize] {
        &self.ids
    }

    /// The running statement with stable id `id`.
    pub fn statement(&self, id: usize) -> Option<&Statement> {
        self.statements.get(*self.positions.get(&id)?)
    }

    pub fn registry(&self) -> &TypeRegistry {
        &self.registry
    }
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
    /// The plan of the statement with stable id `statement` (a [`Delivery::statement`]).
    ///
    /// # Panics
    /// If no running statement has this id (it was removed).
    pub fn plan(&self, statement: usize) -> &StatementPlan {
        match self.statement(statement) {
            Some(s) => &s.plan,
            None => panic!("no running statement has id {statement}"),
        }
    }
    pub fn now(&self) -> EventTime {
        self.now
    }

    /// The earliest pending timer of any statement.
    pub fn next_timer(&self) -> Option<EventTime> {
        self.timers.iter().flatten().min().copied()
    }

    /// Moves engine time forward to `t`, firing every timer due on the way in
    /// time order. Time never goes backwards: an earlier `t` is ignored.
    pub fn advance_to(&mut self, t: EventTime, out: &mut Vec<Delivery>) {
        while let Some(next) = self.next_timer().filter(|n| *n <= t) {
            self.now = self.now.max(next);
            for i in 0..self.statements.len() {
                // A statement with nothing due has nothing to do; `on_time`
                // checks each of the statement's timers itself.
                if self.timers[i].is_none_or(|due| due > self.now) {
                    continue;
                }
                let mut outputs = Vec::new();
                self.statements[i].on_time(self.now, &mut self.seq, &mut outputs);
                self.timers[i] = self.statements[i].next_timer();
                if !outputs.is_empty() {
                    self.deliver(i, outputs, out);
                }
            }
            self.route(out);
        }
        self.now = self.now.max(t);
    }

    /// Sends an event of `ty` at the current engine time.
    pub fn send(
        &mut self,
        ty: &Arc<EventType>,
        fields: impl IntoEventFields,
        out: &mut Vec<Delivery>,
    ) {
        self.seq += 1;
        let id = ty.id.0 as usize;
        let new_event = |fields: EventFields| Event {
            ty: ty.clone(),
            time: self.now,
            seq: self.seq,
            fields,
        };
        match self.handover.get_mut(id) {
            Some(Handover::Lent(lent)) => {
                let event = match lent.take() {
                    Some(mut event) if Arc::ptr_eq(&event.ty, ty) => {
                        event.time = self.now;
                        event.seq = self.seq;
                        fields.move_into(&mut event.fields);
                        event
                    }
                    _ => Box::new(new_event(fields.into_event_fields())),
                };
                self.dispatch(EventArg::Borrowed(&event), out);
                if let Some(Handover::Lent(lent)) = self.handover.get_mut(id) {
                    *lent = Some(event);
                }
            }
            Some(Handover::Shared) | None => {
                let event = Arc::new(new_event(fields.into_event_fields()));
                self.dispatch(EventArg::Shared(&event), out);
            }
        }
        self.route(out);
    }

    fn dispatch(&mut self, event: EventArg<'_>, out: &mut Vec<Delivery>) {
        let ty = event.ty.id.0 as usize;
        let targets = self.routes.get(ty).map_or(0, Vec::len);
        for k in 0..targets {
            let i = self.routes[ty][k];
            let mut outputs = Vec::new();
            self.statements[i].on_event(event, self.now, &mut self.seq, &mut outputs);
            self.timers[i] = self.statements[i].next_timer();
            if !outputs.is_empty() {
                self.deliver(i, outputs, out);
            }
        }
    }

    /// Hands the step's `insert into` events to their readers, first
    /// produced first; those they produce in turn join the back of the queue.
    fn route(&mut self, out: &mut Vec<Delivery>) {
        let mut count = 0;
        while let Some(e) = self.routed.pop_front() {
            count += 1;
            if count > MAX_ROUTED_PER_STEP {
                self.routing_overflows += 1 + self.routed.len() as u64;
                self.routed.clear();
                return;
            }
            self.dispatch(EventArg::Shared(&e), out);
        }
    }

    fn deliver(&mut self, i: usize, outputs: Vec<Output>, out: &mut Vec<Delivery>) {
        for o in outputs {
            if let Some(target) = &self.statements[i].plan.insert_into {
                let ty = target.event_type.clone();
                let rows = match target.selector {
                    cepheus_parser::StreamSelector::IStream => o.insert.iter().collect::<Vec<_>>(),
                    cepheus_parser::StreamSelector::RStream => o.remove.iter().collect(),
                    cepheus_parser::StreamSelector::IRStream => {
                        o.insert.iter().chain(&o.remove).collect()
                    }
                };
                for row in rows {
                    self.seq += 1;
                    let fields = target
                        .column_of_field
                        .iter()
                        .map(|m| m.and_then(|c| row.get(c).cloned()).unwrap_or(Value::Null))
                        .collect();
                    self.routed.push_back(Arc::new(Event {
                        ty: ty.clone(),
                        time: self.now,
                        seq: self.seq,
                        fields,
                    }));
                }
            }
            out.push(Delivery {
                time: self.now,
                statement: self.ids[i],
                output: o,
            });
        }
    }
}

pub(crate) fn check_supported(plan: &StatementPlan) -> Result<(), UnsupportedError> {
    if let InputPlan::Pattern(_) = plan.input
        && !crate::matcher::SUPPORTED
    {
        return Err(UnsupportedError {
            statement: plan.name.clone(),
            message: "pattern statements are not supported yet".into(),
        });
    }
    Ok(())
}
