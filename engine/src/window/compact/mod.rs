//! Windows that keep aggregate inputs instead of events
//! ([`crate::plan::WindowStorage::AggregateInputs`]). Same timing and order
//! as the event windows of the same name (`#length`, `#length_batch`,
//! `#time`, `#time_batch` in `window.rs`); what they post is [`Retained`]
//! entries, which the result set applies by slot.
mod snapshot;

use std::collections::VecDeque;

use smallvec::SmallVec;

use super::{TimeBatchWindow, WindowSpec};
use crate::time::EventTime;
use crate::value::Value;

pub(crate) use snapshot::CompactState;

/// What a compact window keeps of one event: 32 bytes, and nothing to free
/// for the usual entry (one numeric input), so a window of them is read once
/// when it leaves and never again to be dropped.
#[derive(Debug, Clone)]
pub struct Retained {
    /// Engine time at arrival.
    pub time: i64,
    /// The event's arrival sequence (`first`/`last` order by it).
    pub seq: u64,
    kept: Kept,
}

// Entries are many: a window of a busy stream holds hundreds of thousands.
const _: () = assert!(std::mem::size_of::<Retained>() == 32);

/// Whether the entry counts, in which group, with which inputs. The slot
/// sits beside the variant's tag: one numeric input makes 16 bytes.
#[derive(Debug, Clone)]
enum Kept {
    /// `where` rejected the event: it takes its place in a length window
    /// but never counts.
    NotCounted,
    /// One aggregate, with a null input (or `count(*)`, which reads none).
    Null {
        slot: u32,
    },
    Float {
        slot: u32,
        value: f64,
    },
    Int {
        slot: u32,
        value: i64,
    },
    /// Any other inputs, one per aggregate.
    Values {
        slot: u32,
        values: Box<AggInputs>,
    },
}

/// One input per aggregate of the plan, in plan order (null for `count(*)`),
/// as a result set reads them from an event.
pub type AggInputs = SmallVec<[Value; 1]>;

/// An entry's inputs, to apply to its group's aggregates.
pub enum Inputs<'a> {
    None,
    One(Value),
    Many(&'a [Value]),
}

impl Inputs<'_> {
    pub fn as_slice(&self) -> &[Value] {
        match self {
            Inputs::None => &[],
            Inputs::One(v) => std::slice::from_ref(v),
            Inputs::Many(values) => values,
        }
    }
}

/// An entry's inputs as they are read, one aggregate after the other,
/// without a vector for the usual single input.
#[derive(Debug, Default)]
pub enum Collected {
    #[default]
    None,
    One(Value),
    Many(AggInputs),
}

impl Collected {
    pub fn push(&mut self, value: Value) {
        *self = match std::mem::take(self) {
            Collected::None => Collected::One(value),
            Collected::One(first) => Collected::Many(smallvec::smallvec![first, value]),
            Collected::Many(mut values) => {
                values.push(value);
                Collected::Many(values)
            }
        };
    }
}

impl From<AggInputs> for Collected {
    fn from(mut inputs: AggInputs) -> Collected {
        match inputs.len() {
            1 => inputs.pop().map_or(Collected::None, Collected::One),
            _ => Collected::Many(inputs),
        }
    }
}

impl Retained {
    /// The entry of an event that arrived at `time` as number `seq`, in
    /// group `slot` (or not counted, with no inputs) with `inputs`.
    pub fn new(time: i64, seq: u64, slot: GroupSlot, inputs: AggInputs) -> Retained {
        Retained::collected(time, seq, slot, inputs.into())
    }

    /// [`Retained::new`] of inputs collected as they were applied.
    pub fn collected(time: i64, seq: u64, slot: GroupSlot, inputs: Collected) -> Retained {
        let kept = match (slot.get(), inputs) {
            (None, _) => Kept::NotCounted,
            (Some(slot), Collected::One(Value::Null)) => Kept::Null { slot },
            (Some(slot), Collected::One(Value::Float(value))) => Kept::Float { slot, value },
            (Some(slot), Collected::One(Value::Int(value))) => Kept::Int { slot, value },
            (Some(slot), Collected::One(value)) => Kept::Values {
                slot,
                values: Box::new(smallvec::smallvec![value]),
            },
            (Some(slot), Collected::Many(values)) => Kept::Values {
                slot,
                values: Box::new(values),
            },
            (Some(slot), Collected::None) => Kept::Values {
                slot,
                values: Box::default(),
            },
        };
        Retained { time, seq, kept }
    }

    /// The slot of the entry's group; none when the entry does not count.
    pub fn slot(&self) -> Option<u32> {
        match &self.kept {
            Kept::NotCounted => None,
            Kept::Null { slot }
            | Kept::Float { slot, .. }
            | Kept::Int { slot, .. }
            | Kept::Values { slot, .. } => Some(*slot),
        }
    }

    /// The entry's aggregate inputs (none when not counted).
    pub fn inputs(&self) -> Inputs<'_> {
        match &self.kept {
            Kept::NotCounted => Inputs::None,
            Kept::Null { .. } => Inputs::One(Value::Null),
            Kept::Float { value, .. } => Inputs::One(Value::Float(*value)),
            Kept::Int { value, .. } => Inputs::One(Value::Int(*value)),
            Kept::Values { values, .. } => Inputs::Many(values),
        }
    }
}

/// The slot of an entry's group (0 when ungrouped), or none when `where`
/// rejected the event: it still takes its place in a length window but is
/// never counted. Four bytes: entries are many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSlot(u32);

impl GroupSlot {
    pub const NOT_COUNTED: GroupSlot = GroupSlot(u32::MAX);

    /// The slot `slot` (`u32::MAX` is reserved for [`GroupSlot::NOT_COUNTED`]).
    pub fn of(slot: u32) -> GroupSlot {
        debug_assert!(slot != u32::MAX);
        GroupSlot(slot)
    }

    pub fn get(self) -> Option<u32> {
        (self != Self::NOT_COUNTED).then_some(self.0)
    }
}

/// What one step did: `inserted` are held by the window, `removed` left it.
#[derive(Debug, Clone, Copy)]
pub struct RetainedStep<'w> {
    pub inserted: &'w [Retained],
    pub removed: &'w [Retained],
    /// The inserted entries already count in their groups: they were
    /// applied as they arrived (see [`CompactWindow::count_on_arrival`]).
    pub inserted_counted: bool,
}

impl RetainedStep<'_> {
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug)]
pub struct CompactWindow {
    pub(crate) kind: CompactKind,
    /// The entries the current step removed (reused from step to step).
    removed: Vec<Retained>,
    /// A batch window whose entries count in their groups as they arrive
    /// (see [`CompactWindow::count_on_arrival`]).
    counts_on_arrival: bool,
}

#[derive(Debug)]
pub(crate) enum CompactKind {
    /// No data window: every event enters and none leaves; only the entry
    /// of the current step is held.
    NoWindow {
        last: Vec<Retained>,
    },
    Length {
        size: usize,
        entries: VecDeque<Retained>,
    },
    LengthBatch {
        size: usize,
        current: Vec<Retained>,
        previous: Vec<Retained>,
    },
    Time {
        millis: i64,
        entries: VecDeque<Retained>,
    },
    TimeBatch(TimeBatchWindow<Retained>),
}

impl CompactWindow {
    /// The compact form of `spec` (`None`: no data window); `None` for a
    /// window kind that needs its events (the binder plans compact storage
    /// for these only).
    pub fn new(spec: Option<&WindowSpec>) -> Option<CompactWindow> {
        let kind = match spec {
            None => CompactKind::NoWindow { last: Vec::new() },
            Some(WindowSpec::Length(size)) => CompactKind::Length {
                size: *size,
                entries: VecDeque::new(),
            },
            Some(WindowSpec::LengthBatch(size)) => CompactKind::LengthBatch {
                size: *size,
                current: Vec::new(),
                previous: Vec::new(),
            },
            Some(WindowSpec::Time(millis)) => CompactKind::Time {
                millis: *millis,
                entries: VecDeque::new(),
            },
            Some(WindowSpec::TimeBatch(millis)) => {
                CompactKind::TimeBatch(TimeBatchWindow::new(*millis))
            }
            _ => return None,
        };
        Some(CompactWindow {
            kind,
            removed: Vec::new(),
            counts_on_arrival: false,
        })
    }

    /// A batch window (`#length_batch`, `#time_batch`) of a statement that
    /// reads no values from before a flush (no remove stream): the result
    /// set applies each entry when it arrives
    /// ([`crate::result_set::ResultSet::arrive_in_batch`]) and only the
    /// previous batch at the flush, which touches each group once per
    /// leaving entry instead of twice per entry of both batches. Other
    /// kinds are left as they are.
    pub fn count_on_arrival(&mut self) {
        self.counts_on_arrival = matches!(
            self.kind,
            CompactKind::LengthBatch { .. } | CompactKind::TimeBatch(_)
        );
    }

    /// Whether the entries of the batch being collected already count.
    pub fn counts_on_arrival(&self) -> bool {
        self.counts_on_arrival
    }

    /// The batch being collected (empty for a window that is no batch).
    pub fn collecting(&self) -> &[Retained] {
        match &self.kind {
            CompactKind::LengthBatch { current, .. } => current,
            CompactKind::TimeBatch(w) => &w.current,
            _ => &[],
        }
    }

    /// An entry arrives at time `now`.
    pub fn insert(&mut self, entry: Retained, now: EventTime) -> RetainedStep<'_> {
        self.clear_removed();
        let removed = &mut self.removed;
        let inserted: &[Retained] = match &mut self.kind {
            CompactKind::NoWindow { last } => {
                last.clear();
                last.push(entry);
                last
            }
            CompactKind::Length { size, entries } => {
                entries.push_back(entry);
                while entries.len() > *size {
                    removed.extend(entries.pop_front());
                }
                entries.back().map_or(&[], std::slice::from_ref)
            }
            CompactKind::LengthBatch {
                size,
                current,
                previous,
            } => {
                current.push(entry);
                if current.len() >= *size {
                    // `removed` is empty: it changes places with the previous batch.
                    std::mem::swap(removed, previous);
                    std::mem::swap(current, previous);
                    previous
                } else {
                    &[]
                }
            }
            CompactKind::Time { entries, .. } => {
                entries.push_back(entry);
                entries.back().map_or(&[], std::slice::from_ref)
            }
            CompactKind::TimeBatch(w) => {
                w.insert(entry, now);
                &[]
            }
        };
        RetainedStep {
            inserted,
            removed: &self.removed,
            inserted_counted: self.counts_on_arrival,
        }
    }

    /// Empties the last step's removed entries; usually there are none
    /// (a `#time` window's arrival), and then nothing is called to drop them.
    #[inline(always)]
    fn clear_removed(&mut self) {
        if !self.removed.is_empty() {
            self.removed.clear();
        }
    }

    /// An arrival's entry joins a window whose arrivals only insert
    /// ([`CompactWindow::arrivals_only_insert`]): the step is that entry
    /// alone, which the caller has already applied, so none is built.
    pub fn keep(&mut self, entry: Retained, now: EventTime) {
        if let CompactKind::Time { entries, .. } = &mut self.kind {
            entries.push_back(entry);
            self.clear_removed();
        } else {
            self.insert(entry, now);
        }
    }

    /// Without a data window nothing is held: the caller may step an entry
    /// without [`CompactWindow::insert`] moving it in and out.
    pub fn keeps_nothing(&self) -> bool {
        matches!(self.kind, CompactKind::NoWindow { .. })
    }

    /// Whether an arrival only ever inserts its entry, so that its step is
    /// that entry alone (no data window, `#time`).
    pub fn arrivals_only_insert(&self) -> bool {
        matches!(
            self.kind,
            CompactKind::NoWindow { .. } | CompactKind::Time { .. }
        )
    }

    /// The earliest time at which this window has something to do.
    pub fn next_timer(&self) -> Option<EventTime> {
        match &self.kind {
            CompactKind::Time { millis, entries } => {
                entries.front().map(|e| EventTime(e.time + millis))
            }
            CompactKind::TimeBatch(w) => w.next_flush,
            CompactKind::NoWindow { .. }
            | CompactKind::Length { .. }
            | CompactKind::LengthBatch { .. } => None,
        }
    }

    /// Time has reached `now`: expire or flush what is due.
    pub fn on_time(&mut self, now: EventTime) -> RetainedStep<'_> {
        self.clear_removed();
        let removed = &mut self.removed;
        let inserted: &[Retained] = match &mut self.kind {
            CompactKind::Time { millis, entries } => {
                while entries.front().is_some_and(|e| e.time + *millis <= now.0) {
                    removed.extend(entries.pop_front());
                }
                &[]
            }
            CompactKind::TimeBatch(w) => w.flush_swap(now, removed).unwrap_or(&[]),
            CompactKind::NoWindow { .. }
            | CompactKind::Length { .. }
            | CompactKind::LengthBatch { .. } => &[],
        };
        RetainedStep {
            inserted,
            removed: &self.removed,
            inserted_counted: self.counts_on_arrival,
        }
    }

    /// Entries in the window's view (a batch being collected excluded), as
    /// [`super::Window::len`] counts events.
    pub fn len(&self) -> usize {
        match &self.kind {
            CompactKind::NoWindow { .. } => 0,
            CompactKind::Length { entries, .. } | CompactKind::Time { entries, .. } => {
                entries.len()
            }
            CompactKind::LengthBatch { previous, .. } => previous.len(),
            CompactKind::TimeBatch(w) => w.previous.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries held, a batch being collected included (state size).
    pub fn held(&self) -> usize {
        match &self.kind {
            CompactKind::LengthBatch {
                current, previous, ..
            } => current.len() + previous.len(),
            CompactKind::TimeBatch(w) => w.current.len() + w.previous.len(),
            _ => self.len(),
        }
    }
}
