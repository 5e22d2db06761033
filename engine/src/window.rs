//! Data windows. Each turns arriving events and the passage of time into an
//! insert stream (events entering) and a remove stream (events leaving).
pub mod compact;
mod snapshot;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::event::Event;
use crate::expr::{BoundExpr, Scope};
use crate::time::EventTime;
use crate::value::Value;

pub(crate) use snapshot::WindowState;

pub type EventRef = Arc<Event>;
pub type KeyMap<V> = IndexMap<GroupKey, V, foldhash::fast::RandomState>;

/// The key of a group: the values of the grouping expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey(pub KeyVec);

/// A key's values, inline for one value (`group by sensor`): a look-up
/// compares without following a pointer.
pub type KeyVec = smallvec::SmallVec<[Value; 1]>;

/// The values one after the other, without a length prefix: all keys of one
/// map have the same number of values, and [`KeyRef`] and [`KeyOne`] must
/// hash alike.
impl std::hash::Hash for GroupKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.iter().for_each(|v| v.hash(state));
    }
}

impl GroupKey {
    pub fn of(exprs: &[BoundExpr], scope: &Scope<'_>) -> GroupKey {
        GroupKey(exprs.iter().map(|e| e.eval(scope)).collect())
    }

    /// The key's values without allocating: borrowed from the event where the
    /// key is a field, on the stack (most keys are one or two values).
    pub fn values<'a>(exprs: &'a [BoundExpr], scope: &Scope<'a>) -> KeyValues<'a> {
        exprs.iter().map(|e| e.eval_cow(scope)).collect()
    }
}

/// A group key's values, for look-ups.
pub type KeyValues<'a> = smallvec::SmallVec<[Cow<'a, Value>; 2]>;

/// A borrowed group key: hashes and compares as the [`GroupKey`] of the same
/// values, so a [`KeyMap`] can be searched without building one.
pub struct KeyRef<'a, 'v>(pub &'a [Cow<'v, Value>]);

impl std::hash::Hash for KeyRef<'_, '_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.iter().for_each(|v| v.hash(state));
    }
}

impl indexmap::Equivalent<GroupKey> for KeyRef<'_, '_> {
    fn equivalent(&self, key: &GroupKey) -> bool {
        self.0.len() == key.0.len() && self.0.iter().zip(&key.0).all(|(a, b)| **a == *b)
    }
}

/// A borrowed one-value group key (`group by sensor`, the usual case).
#[derive(Hash)]
pub struct KeyOne<'a>(pub &'a Value);

impl indexmap::Equivalent<GroupKey> for KeyOne<'_> {
    fn equivalent(&self, key: &GroupKey) -> bool {
        matches!(&*key.0, [only] if only == self.0)
    }
}

/// The events of one side of a step: usually one, kept inline.
pub type StepEvents = smallvec::SmallVec<[EventRef; 1]>;

/// What one step did to a window.
#[derive(Debug, Default)]
pub struct Delta {
    pub inserted: StepEvents,
    pub removed: StepEvents,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.removed.is_empty()
    }
}

/// A window's definition, as planned from `#name(params)`.
#[derive(Debug, Clone)]
pub enum WindowSpec {
    Length(usize),
    LengthBatch(usize),
    Time(i64),
    TimeBatch(i64),
    ExtTimed {
        field: usize,
        millis: i64,
    },
    KeepAll,
    Unique(Vec<BoundExpr>),
    FirstEvent,
    LastEvent,
    GroupWin {
        keys: Vec<BoundExpr>,
        inner: Box<WindowSpec>,
    },
    /// Several windows on one stream (`#unique(k)#time(T)`): Esper's intersection.
    Intersect(Vec<WindowSpec>),
}

impl WindowSpec {
    fn is_batch(&self) -> bool {
        matches!(self, WindowSpec::LengthBatch(_) | WindowSpec::TimeBatch(_))
    }

    /// Esper's asymmetric windows keep only some of the events they are given.
    fn is_asymmetric(&self) -> bool {
        matches!(self, WindowSpec::FirstEvent)
    }
}

/// A window's state.
#[derive(Debug)]
pub enum Window {
    Length {
        size: usize,
        events: VecDeque<EventRef>,
    },
    LengthBatch {
        size: usize,
        current: Vec<EventRef>,
        previous: Vec<EventRef>,
    },
    Time(TimeWindow),
    TimeBatch(TimeBatchWindow),
    ExtTimed(ExtTimedWindow),
    KeepAll(Vec<EventRef>),
    Unique {
        keys: Vec<BoundExpr>,
        events: KeyMap<EventRef>,
    },
    FirstEvent(Option<EventRef>),
    LastEvent(Option<EventRef>),
    GroupWin(GroupWindow),
    Intersect(IntersectWindow),
}

impl Window {
    pub fn new(spec: &WindowSpec) -> Window {
        match spec {
            WindowSpec::Length(n) => Window::Length {
                size: *n,
                events: VecDeque::new(),
            },
            WindowSpec::LengthBatch(n) => Window::LengthBatch {
                size: *n,
                current: Vec::new(),
                previous: Vec::new(),
            },
            WindowSpec::Time(ms) => Window::Time(TimeWindow {
                millis: *ms,
                events: VecDeque::new(),
                gone: HashSet::default(),
            }),
            WindowSpec::TimeBatch(ms) => Window::TimeBatch(TimeBatchWindow::new(*ms)),
            WindowSpec::ExtTimed { field, millis } => Window::ExtTimed(ExtTimedWindow {
                field: *field,
                millis: *millis,
                events: VecDeque::new(),
                stamps: BTreeMap::new(),
            }),
            WindowSpec::KeepAll => Window::KeepAll(Vec::new()),
            WindowSpec::Unique(keys) => Window::Unique {
                keys: keys.clone(),
                events: KeyMap::default(),
            },
            WindowSpec::FirstEvent => Window::FirstEvent(None),
            WindowSpec::LastEvent => Window::LastEvent(None),
            WindowSpec::GroupWin { keys, inner } => Window::GroupWin(GroupWindow::new(
                keys.clone(),
                (**inner).clone(),
                KeyMap::default(),
            )),
            WindowSpec::Intersect(specs) => Window::Intersect(IntersectWindow {
                batch: specs.iter().position(WindowSpec::is_batch),
                asymmetric: specs.iter().any(WindowSpec::is_asymmetric),
                parts: specs.iter().map(Window::new).collect(),
            }),
        }
    }

    /// An event arrives at time `now`.
    pub fn insert(&mut self, event: EventRef, now: EventTime, out: &mut Delta) {
        match self {
            Window::Length { size, events } => {
                events.push_back(event.clone());
                out.inserted.push(event);
                while events.len() > *size {
                    out.removed.extend(events.pop_front());
                }
            }
            Window::LengthBatch {
                size,
                current,
                previous,
            } => {
                current.push(event);
                if current.len() >= *size {
                    out.inserted.extend(current.iter().cloned());
                    out.removed.extend(previous.drain(..));
                    std::mem::swap(current, previous);
                }
            }
            Window::Time(w) => {
                // `TimeWindow::remove` finds events by binary search on seq.
                debug_assert!(w.events.back().is_none_or(|(_, b)| b.seq < event.seq));
                w.events.push_back((now.0, event.clone()));
                out.inserted.push(event);
            }
            Window::TimeBatch(w) => w.insert(event, now),
            Window::ExtTimed(w) => w.insert(event, now, out),
            Window::KeepAll(events) => {
                events.push(event.clone());
                out.inserted.push(event);
            }
            Window::Unique { keys, events } => {
                let key = GroupKey::of(keys, &Scope::event(&event));
                if let Some(old) = events.swap_remove(&key) {
                    out.removed.push(old);
                }
                events.insert(key, event.clone());
                out.inserted.push(event);
            }
            Window::FirstEvent(first) => {
                if first.is_none() {
                    *first = Some(event.clone());
                    out.inserted.push(event);
                }
            }
            Window::LastEvent(last) => {
                out.removed.extend(last.replace(event.clone()));
                out.inserted.push(event);
            }
            Window::GroupWin(g) => g.insert(event, now, out),
            Window::Intersect(w) => w.insert(event, now, out),
        }
    }

    /// Takes `event` out of the window without posting anything (an
    /// intersection partner dropped it). Batch windows only give up an event
    /// of the batch being collected, as in Esper.
    pub fn remove(&mut self, event: &EventRef) {
        let same = |e: &EventRef| Arc::ptr_eq(e, event);
        match self {
            Window::Length { events, .. } => events.retain(|e| !same(e)),
            Window::LengthBatch { current, .. } => current.retain(|e| !same(e)),
            Window::Time(w) => w.remove(event),
            Window::TimeBatch(w) => w.current.retain(|e| !same(e)),
            Window::ExtTimed(w) => w.retain(|e| !same(e)),
            Window::KeepAll(events) => events.retain(|e| !same(e)),
            Window::Unique { keys, events } => {
                let key = GroupKey::values(keys, &Scope::event(event));
                if events.get(&KeyRef(&key)).is_some_and(same) {
                    events.swap_remove(&KeyRef(&key));
                }
            }
            Window::FirstEvent(e) | Window::LastEvent(e) => {
                if e.as_ref().is_some_and(same) {
                    *e = None;
                }
            }
            Window::GroupWin(g) => g.remove(event),
            Window::Intersect(w) => w.parts.iter_mut().for_each(|p| p.remove(event)),
        }
    }

    /// The earliest time at which this window has something to do.
    pub fn next_timer(&self) -> Option<EventTime> {
        match self {
            Window::Time(w) => w.events.front().map(|(t, _)| EventTime(*t + w.millis)),
            Window::TimeBatch(w) => w.next_flush,
            Window::GroupWin(g) => g.next_timer(),
            Window::Intersect(w) => w.parts.iter().filter_map(Window::next_timer).min(),
            _ => None,
        }
    }

    /// Time has reached `now`: expire or flush what is due.
    pub fn on_time(&mut self, now: EventTime, out: &mut Delta) {
        match self {
            Window::Time(w) => {
                while let Some((t, _)) = w.events.front() {
                    if t + w.millis > now.0 {
                        break;
                    }
                    out.removed.extend(w.pop_front());
                }
            }
            Window::TimeBatch(w) => w.on_time(now, out),
            Window::GroupWin(g) => g.on_time(now, out),
            Window::Intersect(w) => w.on_time(now, out),
            _ => {}
        }
    }

    /// The events currently in the window, oldest first (for `output snapshot`).
    pub fn contents(&self, out: &mut Vec<EventRef>) {
        match self {
            Window::Length { events, .. } => out.extend(events.iter().cloned()),
            Window::LengthBatch { previous, .. } => out.extend(previous.iter().cloned()),
            Window::Time(w) => out.extend(w.live().cloned()),
            Window::TimeBatch(w) => out.extend(w.previous.iter().cloned()),
            Window::ExtTimed(w) => out.extend(w.events.iter().map(|(_, e)| e.clone())),
            Window::KeepAll(events) => out.extend(events.iter().cloned()),
            Window::Unique { events, .. } => out.extend(events.values().cloned()),
            Window::FirstEvent(e) | Window::LastEvent(e) => out.extend(e.iter().cloned()),
            Window::GroupWin(g) => g.groups.values().for_each(|w| w.contents(out)),
            Window::Intersect(w) => w.view().contents(out),
        }
    }

    /// Number of events the window holds (what [`Window::contents`] lists).
    pub fn len(&self) -> usize {
        match self {
            Window::Length { events, .. } => events.len(),
            Window::LengthBatch { previous, .. } => previous.len(),
            Window::Time(w) => w.events.len() - w.gone.len(),
            Window::TimeBatch(w) => w.previous.len(),
            Window::ExtTimed(w) => w.events.len(),
            Window::KeepAll(events) => events.len(),
            Window::Unique { events, .. } => events.len(),
            Window::FirstEvent(e) | Window::LastEvent(e) => usize::from(e.is_some()),
            Window::GroupWin(g) => g.groups.values().map(Window::len).sum(),
            Window::Intersect(w) => w.view().len(),
        }
    }

    /// Events the window holds, including a batch still being collected
    /// (state size, for metrics).
    pub fn held(&self) -> usize {
        match self {
            Window::LengthBatch {
                current, previous, ..
            } => current.len() + previous.len(),
            Window::TimeBatch(w) => w.current.len() + w.previous.len(),
            Window::GroupWin(g) => g.groups.values().map(Window::held).sum(),
            Window::Intersect(w) => w.parts.iter().map(Window::held).max().unwrap_or(0),
            other => other.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
pub struct TimeWindow {
    millis: i64,
    /// (arrival time, event), oldest first; arrival times never decrease.
    events: VecDeque<(i64, EventRef)>,
    /// Sequence numbers of events in `events` that another window of an
    /// intersection took out (`#unique(k)#time(T)`): skipped when they reach
    /// the front, so taking one out is O(1), not a pass over the window.
    gone: HashSet<u64, foldhash::fast::RandomState>,
}

impl TimeWindow {
    fn remove(&mut self, event: &EventRef) {
        let held = self
            .events
            .binary_search_by_key(&event.seq, |(_, e)| e.seq)
            .is_ok_and(|i| Arc::ptr_eq(&self.events[i].1, event));
        if held {
            self.gone.insert(event.seq);
            self.drop_gone_front();
        }
    }

    /// The oldest live event, taken out.
    fn pop_front(&mut self) -> Option<EventRef> {
        let e = self.events.pop_front().map(|(_, e)| e);
        self.drop_gone_front();
        e
    }

    fn drop_gone_front(&mut self) {
        while let Some((_, e)) = self.events.front()
            && self.gone.remove(&e.seq)
        {
            self.events.pop_front();
        }
    }

    fn live(&self) -> impl Iterator<Item = &EventRef> {
        self.events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| !self.gone.contains(&e.seq))
    }
}

/// `#time_batch(T)`: the first event sets the reference point; batches close at
/// reference + k*T. A flush posts the new batch as inserted and the previous one
/// as removed; when both are empty the window stops scheduling until an event
/// arrives (and then stays aligned to the reference point). Holds events, or
/// the entries of a compact window (`compact::Retained`).
#[derive(Debug)]
pub struct TimeBatchWindow<T = EventRef> {
    pub(crate) millis: i64,
    pub(crate) reference: Option<i64>,
    pub(crate) next_flush: Option<EventTime>,
    pub(crate) current: Vec<T>,
    pub(crate) previous: Vec<T>,
}

impl<T> TimeBatchWindow<T> {
    pub(crate) fn new(millis: i64) -> TimeBatchWindow<T> {
        TimeBatchWindow {
            millis,
            reference: None,
            next_flush: None,
            current: Vec::new(),
            previous: Vec::new(),
        }
    }

    pub(crate) fn insert(&mut self, item: T, now: EventTime) {
        let reference = *self.reference.get_or_insert(now.0);
        if self.next_flush.is_none() {
            let elapsed = (now.0 - reference).rem_euclid(self.millis);
            self.next_flush = Some(EventTime(now.0 + self.millis - elapsed));
        }
        self.current.push(item);
    }

    /// If a batch closes at `now`: moves the previous batch into `removed`
    /// and returns the batch just closed (held until the next flush).
    pub(crate) fn flush(&mut self, now: EventTime, removed: &mut impl Extend<T>) -> Option<&[T]> {
        if !self.due(now) {
            return None;
        }
        removed.extend(self.previous.drain(..));
        Some(self.close_batch())
    }

    /// [`TimeBatchWindow::flush`] into an empty vector, which changes places
    /// with the previous batch instead of taking its items one by one (a
    /// batch of a busy stream is hundreds of thousands of them).
    pub(crate) fn flush_swap(&mut self, now: EventTime, removed: &mut Vec<T>) -> Option<&[T]> {
        if !self.due(now) {
            return None;
        }
        debug_assert!(removed.is_empty());
        std::mem::swap(removed, &mut self.previous);
        Some(self.close_batch())
    }

    /// Whether a batch closes at `now`.
    fn due(&self, now: EventTime) -> bool {
        self.next_flush.is_some_and(|t| t <= now)
    }

    /// The batch being collected closes (`previous` is empty): it becomes
    /// the previous batch, and the next flush is scheduled while it holds
    /// anything.
    fn close_batch(&mut self) -> &[T] {
        std::mem::swap(&mut self.current, &mut self.previous);
        // The next batch is likely about as large: grow once, not by
        // doubling. `current` is empty: a new vector, not `reserve`, whose
        // reallocation would copy the old contents' bytes for nothing.
        if self.current.capacity() < self.previous.len() {
            self.current = Vec::with_capacity(self.previous.len());
        }
        self.next_flush = if self.previous.is_empty() {
            None
        } else {
            self.next_flush.map(|t| t.plus(self.millis))
        };
        &self.previous
    }
}

impl TimeBatchWindow {
    fn on_time(&mut self, now: EventTime, out: &mut Delta) {
        if let Some(batch) = self.flush(now, &mut out.removed) {
            out.inserted.extend(batch.iter().cloned());
        }
    }
}

/// `#ext_timed(field, T)`: events leave once the newest timestamp in the
/// window is T past theirs. `stamps` counts the timestamps held, so an
/// arrival that expires nothing costs a map look-up, not a pass over the
/// window; expired events are posted in arrival order, as before.
#[derive(Debug)]
pub struct ExtTimedWindow {
    field: usize,
    millis: i64,
    /// Arrival order.
    events: VecDeque<(i64, EventRef)>,
    /// How many held events carry each timestamp.
    stamps: BTreeMap<i64, usize>,
}

impl ExtTimedWindow {
    fn insert(&mut self, event: EventRef, now: EventTime, out: &mut Delta) {
        let ts = match event.get(self.field) {
            Value::Int(t) => *t,
            Value::Float(t) => *t as i64,
            _ => now.0,
        };
        self.events.push_back((ts, event.clone()));
        *self.stamps.entry(ts).or_default() += 1;
        out.inserted.push(event);
        let newest = self.stamps.last_key_value().map_or(ts, |(t, _)| *t);
        // Esper keeps events with ts > newest - T.
        let cutoff = newest - self.millis;
        // Only the expiring timestamps are visited (a `retain` would walk
        // every held timestamp on each arrival that expires anything).
        let mut due = 0;
        while let Some(oldest) = self.stamps.first_entry()
            && *oldest.key() <= cutoff
        {
            due += oldest.remove();
        }
        if due == 0 {
            return;
        }
        // In-order streams expire from the front; late arrivals behind it
        // need the pass over the rest.
        while let Some((t, _)) = self.events.front()
            && *t <= cutoff
        {
            out.removed.extend(self.events.pop_front().map(|(_, e)| e));
            due -= 1;
        }
        if due > 0 {
            let mut kept = VecDeque::with_capacity(self.events.len());
            for (t, e) in self.events.drain(..) {
                if t <= cutoff {
                    out.removed.push(e);
                } else {
                    kept.push_back((t, e));
                }
            }
            self.events = kept;
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&EventRef) -> bool) {
        let stamps = &mut self.stamps;
        self.events.retain(|(t, e)| {
            let k = keep(e);
            if !k && let Some(n) = stamps.get_mut(t) {
                *n -= 1;
                if *n == 0 {
                    stamps.remove(t);
                }
            }
            k
        });
    }

    /// A window holding `events` (a restored checkpoint), in arrival order.
    pub(crate) fn set_events(&mut self, events: VecDeque<(i64, EventRef)>) {
        self.stamps.clear();
        for (t, _) in &events {
            *self.stamps.entry(*t).or_default() += 1;
        }
        self.events = events;
    }
}

/// `#groupwin(k)#<window>`: one sub-window per key.
#[derive(Debug)]
pub struct GroupWindow {
    keys: Vec<BoundExpr>,
    inner: WindowSpec,
    groups: KeyMap<Window>,
    /// Each sub-window's pending timer, by (time, group index): the next
    /// timer and the groups due are found without visiting every group
    /// (100,000 wallets would otherwise be scanned per event).
    timers: BTreeSet<(EventTime, usize)>,
    /// The timer registered in `timers` for each group index.
    registered: Vec<Option<EventTime>>,
}

impl GroupWindow {
    fn new(keys: Vec<BoundExpr>, inner: WindowSpec, groups: KeyMap<Window>) -> GroupWindow {
        let mut g = GroupWindow {
            keys,
            inner,
            groups,
            timers: BTreeSet::new(),
            registered: Vec::new(),
        };
        (0..g.groups.len()).for_each(|idx| g.reschedule(idx));
        g
    }

    fn insert(&mut self, event: EventRef, now: EventTime, out: &mut Delta) {
        let key = GroupKey::of(&self.keys, &Scope::event(&event));
        let inner = &self.inner;
        let entry = self.groups.entry(key);
        let idx = entry.index();
        entry
            .or_insert_with(|| Window::new(inner))
            .insert(event, now, out);
        self.reschedule(idx);
    }

    fn remove(&mut self, event: &EventRef) {
        let key = GroupKey::values(&self.keys, &Scope::event(event));
        let Some((idx, _, w)) = self.groups.get_full_mut(&KeyRef(&key)) else {
            return;
        };
        w.remove(event);
        drop(key);
        self.reschedule(idx);
    }

    fn next_timer(&self) -> Option<EventTime> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// The sub-windows due at `now` fire in the order their groups were
    /// created.
    fn on_time(&mut self, now: EventTime, out: &mut Delta) {
        let mut due: Vec<usize> = self
            .timers
            .range(..=(now, usize::MAX))
            .map(|(_, idx)| *idx)
            .collect();
        due.sort_unstable();
        for idx in due {
            if let Some(w) = self.groups.get_index_mut(idx).map(|(_, w)| w) {
                w.on_time(now, out);
            }
            self.reschedule(idx);
        }
    }

    /// Brings group `idx`'s entry in `timers` up to date.
    fn reschedule(&mut self, idx: usize) {
        let next = self.groups.get_index(idx).and_then(|(_, w)| w.next_timer());
        if self.registered.len() <= idx {
            self.registered.resize(idx + 1, None);
        }
        if self.registered[idx] != next {
            if let Some(old) = self.registered[idx] {
                self.timers.remove(&(old, idx));
            }
            if let Some(new) = next {
                self.timers.insert((new, idx));
            }
            self.registered[idx] = next;
        }
    }
}

/// Several windows on one stream, combined as Esper's intersection: every
/// arriving event enters each window, and an event any window lets go leaves
/// all of them and is posted once. With a batch window, the batch decides what
/// is posted: the other windows only take events out of the batch being
/// collected, and a released batch leaves them.
#[derive(Debug)]
pub struct IntersectWindow {
    parts: Vec<Window>,
    /// The position of the one batch window, if any.
    batch: Option<usize>,
    /// Some part (#firstevent) keeps only some of the events it is given.
    asymmetric: bool,
}

fn push_once(set: &mut StepEvents, event: &EventRef) {
    if !set.iter().any(|e| Arc::ptr_eq(e, event)) {
        set.push(event.clone());
    }
}

fn holds(events: &[EventRef], event: &EventRef) -> bool {
    events.iter().any(|e| Arc::ptr_eq(e, event))
}

impl IntersectWindow {
    /// The window whose contents the intersection shows (Esper iterates the
    /// batch window, or else the first one).
    fn view(&self) -> &Window {
        &self.parts[self.batch.unwrap_or(0)]
    }

    fn remove_from_others(&mut self, from: usize, events: &[EventRef]) {
        for (j, part) in self.parts.iter_mut().enumerate() {
            if j != from {
                events.iter().for_each(|e| part.remove(e));
            }
        }
    }

    fn insert(&mut self, event: EventRef, now: EventTime, out: &mut Delta) {
        let mut pushed_out: Vec<(usize, StepEvents)> = Vec::new();
        // Arriving events some part did not keep (only asymmetric parts do that).
        let mut dropped = StepEvents::new();
        for (i, part) in self.parts.iter_mut().enumerate() {
            if Some(i) == self.batch {
                continue;
            }
            let mut d = Delta::default();
            part.insert(event.clone(), now, &mut d);
            if (self.asymmetric || self.batch.is_some()) && !holds(&d.inserted, &event) {
                push_once(&mut dropped, &event);
            }
            if !d.removed.is_empty() {
                pushed_out.push((i, d.removed));
            }
        }
        let Some(b) = self.batch else {
            self.settle_insert(event, dropped, pushed_out, out);
            return;
        };
        let mut removed = StepEvents::new();
        for (i, events) in &pushed_out {
            self.remove_from_others(*i, events);
            events.iter().for_each(|e| push_once(&mut removed, e));
        }
        let kept = !holds(&removed, &event) && (!self.asymmetric || dropped.is_empty());
        if kept {
            let mut d = Delta::default();
            self.parts[b].insert(event, now, &mut d);
            self.release(b, d, out);
        }
    }

    /// The insert of a non-batch intersection, after every part took the event.
    fn settle_insert(
        &mut self,
        event: EventRef,
        dropped: StepEvents,
        pushed_out: Vec<(usize, StepEvents)>,
        out: &mut Delta,
    ) {
        let mut removed = dropped;
        for e in &removed {
            self.parts.iter_mut().for_each(|p| p.remove(e));
        }
        let any_pushed_out = !pushed_out.is_empty();
        for (i, events) in &pushed_out {
            self.remove_from_others(*i, events);
            events.iter().for_each(|e| push_once(&mut removed, e));
        }
        // Only asymmetric intersections hold back an arrival some window let go.
        if !self.asymmetric || !holds(&removed, &event) {
            out.inserted.push(event);
        }
        // Esper posts a dropped arrival as removed only when some window also
        // pushed an event out.
        if any_pushed_out {
            out.removed.extend(removed);
        }
    }

    /// The batch window posted `d`: it is the intersection's output, and the
    /// released events leave the other windows.
    fn release(&mut self, b: usize, d: Delta, out: &mut Delta) {
        if d.inserted.is_empty() && d.removed.is_empty() {
            return;
        }
        self.remove_from_others(b, &d.inserted);
        out.inserted.extend(d.inserted);
        out.removed.extend(d.removed);
    }

    fn on_time(&mut self, now: EventTime, out: &mut Delta) {
        for i in 0..self.parts.len() {
            if self.parts[i].next_timer().is_none_or(|t| t > now) {
                continue;
            }
            let mut d = Delta::default();
            self.parts[i].on_time(now, &mut d);
            if Some(i) == self.batch {
                self.release(i, d, out);
            } else if !d.removed.is_empty() {
                self.remove_from_others(i, &d.removed);
                if self.batch.is_none() {
                    out.removed.extend(d.removed);
                }
            }
        }
    }
}
