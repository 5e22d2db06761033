//! The pattern state tree in checkpoint form, and back. Node references keep
//! their arena slot and creation number, so every parent, child, timer and
//! filter-index entry points where it pointed before. Restoring checks that
//! every node fits the operator it claims to run, so a damaged checkpoint is
//! an error and never a panic later.
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::PatternMatcher;
use super::compile::{Compiled, Op};
use super::index::FilterIndex;
use super::state::{Arena, Node, NodeRef, Parent, SeenKeys, St, Tags};
use crate::checkpoint::events::{EventLinker, EventWriter, StateError, ValueRecord};
use crate::pattern::PatternPlan;
use crate::time::EventTime;

type RefRecord = (u32, u64);
/// One filter slot of the index: unkeyed instances, and keyed buckets.
type IndexSlotRecord = (Vec<RefRecord>, Vec<(ValueRecord, Vec<RefRecord>)>);
/// The keys an `every-distinct` child has seen, with their expiry if any.
type SeenRecord = Vec<(Vec<ValueRecord>, Option<i64>)>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MatcherState {
    slots: Vec<Option<(u64, NodeRecord)>>,
    free: Vec<u32>,
    next_seq: u64,
    index: Vec<IndexSlotRecord>,
    timers: Vec<(i64, u64, RefRecord)>,
    timer_seq: u64,
    top: Option<RefRecord>,
    now: i64,
    dropped: u64,
    filter_checks: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeRecord {
    op: u64,
    parent: ParentRecord,
    counted: bool,
    st: StRecord,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum ParentRecord {
    Root,
    Node(RefRecord),
}

type TagsRecord = Vec<ValueRecord>;

#[derive(Debug, Clone, Serialize, Deserialize)]
enum StRecord {
    Unstarted,
    Filter {
        begin: TagsRecord,
        key: Option<ValueRecord>,
    },
    Interval {
        begin: TagsRecord,
        timer: Option<(i64, u64)>,
    },
    Every {
        begin: TagsRecord,
        children: Vec<RefRecord>,
    },
    EveryDistinct {
        begin: TagsRecord,
        children: Vec<(RefRecord, SeenRecord)>,
    },
    Not {
        child: Option<RefRecord>,
    },
    Repeat {
        begin: TagsRecord,
        matcher: Option<RefRecord>,
        matches: u32,
        arrays: Vec<Vec<ValueRecord>>,
    },
    Guard {
        child: Option<RefRecord>,
        timer: Option<(i64, u64)>,
    },
    And {
        children: Vec<Option<RefRecord>>,
        events: Option<Vec<Vec<TagsRecord>>>,
        retained: u64,
    },
    Or {
        children: Vec<Option<RefRecord>>,
        quitted: bool,
    },
    FollowedBy {
        nodes: Vec<(RefRecord, u64)>,
    },
}

fn rec(r: NodeRef) -> RefRecord {
    (r.idx, r.seq)
}
fn node(r: &RefRecord) -> NodeRef {
    NodeRef { idx: r.0, seq: r.1 }
}
fn timer(t: &(i64, u64)) -> (EventTime, u64) {
    (EventTime(t.0), t.1)
}

impl PatternMatcher {
    /// The matcher's state; only valid between steps (no probe in progress).
    pub(crate) fn save(&self, w: &mut EventWriter) -> MatcherState {
        let slots = self
            .arena
            .slots
            .iter()
            .map(|s| s.as_ref().map(|(seq, n)| (*seq, save_node(n, w))))
            .collect();
        let index = self
            .index
            .slots
            .iter()
            .map(|s| {
                let all = s.all.values().map(|r| rec(*r)).collect();
                let keyed = s
                    .keyed
                    .iter()
                    .map(|(k, b)| (w.value(k), b.values().map(|r| rec(*r)).collect()))
                    .collect();
                (all, keyed)
            })
            .collect();
        MatcherState {
            slots,
            free: self.arena.free.clone(),
            next_seq: self.arena.next_seq,
            index,
            timers: self
                .timers
                .iter()
                .map(|((t, s), r)| (t.0, *s, rec(*r)))
                .collect(),
            timer_seq: self.timer_seq,
            top: self.top.map(rec),
            now: self.now.0,
            dropped: self.dropped,
            filter_checks: self.filter_checks,
        }
    }

    /// A matcher for `plan` in the saved state.
    pub(crate) fn restore(
        plan: Arc<PatternPlan>,
        saved: &MatcherState,
        links: &EventLinker,
    ) -> Result<PatternMatcher, StateError> {
        let compiled = Compiled::new(&plan);
        let mut index = FilterIndex::new(&compiled.filters());
        let ops = compiled.ops;
        let restorer = NodeRestorer {
            ops: &ops,
            tags: plan.tags.len(),
            links,
        };
        let mut arena = Arena::default();
        let mut instances = 0usize;
        for slot in &saved.slots {
            let restored = match slot {
                None => None,
                Some((seq, n)) => {
                    let n = restorer.node(n)?;
                    instances += usize::from(n.counted);
                    if let St::And { retained, .. } = &n.st {
                        instances += retained;
                    }
                    arena.live += 1;
                    Some((*seq, n))
                }
            };
            arena.slots.push(restored);
        }
        let empty: HashSet<u32> = arena
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| i as u32)
            .collect();
        let listed: HashSet<u32> = saved.free.iter().copied().collect();
        if listed != empty || listed.len() != saved.free.len() {
            return Err(StateError::new(
                "the saved pattern state's free list does not match its slots",
            ));
        }
        arena.free = saved.free.clone();
        arena.next_seq = saved.next_seq;
        if index.slots.len() != saved.index.len() {
            return Err(StateError::new(
                "the saved pattern state has another number of filters",
            ));
        }
        for (slot, (all, keyed)) in index.slots.iter_mut().zip(&saved.index) {
            slot.all = all.iter().map(|r| (r.1, node(r))).collect();
            for (k, bucket) in keyed {
                let b: BTreeMap<u64, NodeRef> = bucket.iter().map(|r| (r.1, node(r))).collect();
                slot.keyed.insert(links.value(k)?, b);
            }
        }
        let timers = saved
            .timers
            .iter()
            .map(|(t, s, r)| ((EventTime(*t), *s), node(r)))
            .collect();
        Ok(PatternMatcher {
            plan,
            ops: Arc::new(ops),
            arena,
            index,
            timers,
            timer_seq: saved.timer_seq,
            top: saved.top.as_ref().map(node),
            probes: Vec::new(),
            now: EventTime(saved.now),
            matches: Vec::new(),
            instances,
            dropped: saved.dropped,
            filter_checks: saved.filter_checks,
            candidates: Vec::new(),
        })
    }
}

fn save_tags(t: &Tags, w: &mut EventWriter) -> TagsRecord {
    w.values(t)
}

fn save_node(n: &Node, w: &mut EventWriter) -> NodeRecord {
    let st = match &n.st {
        St::Unstarted => StRecord::Unstarted,
        St::Filter { begin, key } => StRecord::Filter {
            begin: save_tags(begin, w),
            key: key.as_ref().map(|k| w.value(k)),
        },
        St::Interval { begin, timer } => StRecord::Interval {
            begin: save_tags(begin, w),
            timer: timer.map(|(t, s)| (t.0, s)),
        },
        St::Every { begin, children } => StRecord::Every {
            begin: save_tags(begin, w),
            children: children.keys().map(|r| rec(*r)).collect(),
        },
        St::EveryDistinct { begin, children } => StRecord::EveryDistinct {
            begin: save_tags(begin, w),
            children: children
                .iter()
                .map(|(r, seen)| (rec(*r), save_seen(seen, w)))
                .collect(),
        },
        St::Not { child } => StRecord::Not {
            child: child.map(rec),
        },
        St::Repeat {
            begin,
            matcher,
            matches,
            arrays,
        } => StRecord::Repeat {
            begin: save_tags(begin, w),
            matcher: matcher.map(rec),
            matches: *matches,
            arrays: arrays.iter().map(|a| w.values(a)).collect(),
        },
        St::Guard { child, timer } => StRecord::Guard {
            child: child.map(rec),
            timer: timer.map(|(t, s)| (t.0, s)),
        },
        St::And {
            children,
            events,
            retained,
        } => StRecord::And {
            children: children.iter().map(|c| c.map(rec)).collect(),
            events: events.as_ref().map(|ev| {
                ev.iter()
                    .map(|list| list.iter().map(|t| save_tags(t, w)).collect())
                    .collect()
            }),
            retained: *retained as u64,
        },
        St::Or { children, quitted } => StRecord::Or {
            children: children.iter().map(|c| c.map(rec)).collect(),
            quitted: *quitted,
        },
        St::FollowedBy { nodes } => StRecord::FollowedBy {
            nodes: nodes.iter().map(|(r, s)| (rec(*r), *s as u64)).collect(),
        },
    };
    NodeRecord {
        op: n.op as u64,
        parent: match n.parent {
            // Probes only exist while an `every` starts a child, inside a step.
            Parent::Root | Parent::Probe(_) => ParentRecord::Root,
            Parent::Node(p) => ParentRecord::Node(rec(p)),
        },
        counted: n.counted,
        st,
    }
}

/// Keys seen, in insertion order: those with an expiry in `order`, then the
/// rest (kept forever).
fn save_seen(seen: &SeenKeys, w: &mut EventWriter) -> SeenRecord {
    let mut out: SeenRecord = seen
        .order
        .iter()
        .map(|(k, t)| (w.values(k), Some(t.0)))
        .collect();
    let expiring: HashSet<&[crate::value::Value]> = seen.order.iter().map(|(k, _)| &**k).collect();
    for k in &seen.set {
        if !expiring.contains(&**k) {
            out.push((w.values(k), None));
        }
    }
    out
}

struct NodeRestorer<'a> {
    ops: &'a [Op],
    tags: usize,
    links: &'a EventLinker,
}

impl NodeRestorer<'_> {
    fn tags(&self, t: &TagsRecord) -> Result<Tags, StateError> {
        if t.len() != self.tags {
            return Err(StateError::new(format!(
                "a saved partial match has {} tags, the pattern {}",
                t.len(),
                self.tags
            )));
        }
        Ok(self.links.values(t)?.into())
    }

    fn node(&self, n: &NodeRecord) -> Result<Node, StateError> {
        let mismatch =
            || StateError::new("a saved pattern node does not fit the pattern's operators");
        let op = usize::try_from(n.op)
            .ok()
            .and_then(|i| self.ops.get(i).map(|o| (i, o)));
        let Some((op_id, op)) = op else {
            return Err(mismatch());
        };
        let refs = |c: &[Option<RefRecord>]| -> Vec<Option<NodeRef>> {
            c.iter().map(|r| r.as_ref().map(node)).collect()
        };
        let st = match (&n.st, op) {
            (StRecord::Unstarted, _) => St::Unstarted,
            (StRecord::Filter { begin, key }, Op::Filter(_)) => St::Filter {
                begin: self.tags(begin)?,
                key: key.as_ref().map(|k| self.links.value(k)).transpose()?,
            },
            (StRecord::Interval { begin, timer: t }, Op::Interval(_)) => St::Interval {
                begin: self.tags(begin)?,
                timer: t.as_ref().map(timer),
            },
            (StRecord::Every { begin, children }, Op::Every(_)) => St::Every {
                begin: self.tags(begin)?,
                children: children.iter().map(|r| (node(r), ())).collect(),
            },
            (StRecord::EveryDistinct { begin, children }, Op::EveryDistinct { .. }) => {
                let mut map = IndexMap::new();
                for (r, keys) in children {
                    map.insert(node(r), self.seen(keys)?);
                }
                St::EveryDistinct {
                    begin: self.tags(begin)?,
                    children: map,
                }
            }
            (StRecord::Not { child }, Op::Not(_)) => St::Not {
                child: child.as_ref().map(node),
            },
            (
                StRecord::Repeat {
                    begin,
                    matcher,
                    matches,
                    arrays,
                },
                Op::Repeat { arrayed, .. },
            ) if arrays.len() == arrayed.len() => St::Repeat {
                begin: self.tags(begin)?,
                matcher: matcher.as_ref().map(node),
                matches: *matches,
                arrays: arrays
                    .iter()
                    .map(|a| self.links.values(a))
                    .collect::<Result<_, _>>()?,
            },
            (StRecord::Guard { child, timer: t }, Op::Within { .. }) => St::Guard {
                child: child.as_ref().map(node),
                timer: t.as_ref().map(timer),
            },
            (
                StRecord::And {
                    children,
                    events,
                    retained,
                },
                Op::And(kids),
            ) if children.len() == kids.len()
                && events.as_ref().is_none_or(|e| e.len() == kids.len()) =>
            {
                let events = match events {
                    None => None,
                    Some(ev) => Some(
                        ev.iter()
                            .map(|list| list.iter().map(|t| self.tags(t)).collect())
                            .collect::<Result<Vec<Vec<Tags>>, _>>()?,
                    ),
                };
                let held = events
                    .as_ref()
                    .map_or(0, |ev| ev.iter().map(Vec::len).sum());
                if usize::try_from(*retained).ok() != Some(held) {
                    return Err(mismatch());
                }
                St::And {
                    children: refs(children),
                    events,
                    retained: held,
                }
            }
            (StRecord::Or { children, quitted }, Op::Or(kids)) if children.len() == kids.len() => {
                St::Or {
                    children: refs(children),
                    quitted: *quitted,
                }
            }
            (StRecord::FollowedBy { nodes }, Op::FollowedBy(kids)) => {
                let mut map = IndexMap::new();
                for (r, step) in nodes {
                    let step = usize::try_from(*step)
                        .ok()
                        .filter(|s| *s < kids.len())
                        .ok_or_else(mismatch)?;
                    map.insert(node(r), step);
                }
                St::FollowedBy { nodes: map }
            }
            _ => return Err(mismatch()),
        };
        Ok(Node {
            op: op_id,
            parent: match &n.parent {
                ParentRecord::Root => Parent::Root,
                ParentRecord::Node(p) => Parent::Node(node(p)),
            },
            counted: n.counted,
            st,
        })
    }

    fn seen(&self, keys: &SeenRecord) -> Result<SeenKeys, StateError> {
        let mut seen = SeenKeys::default();
        let mut order = VecDeque::new();
        for (k, expiry) in keys {
            let key: Box<[crate::value::Value]> = self.links.values(k)?.into();
            if let Some(t) = expiry {
                order.push_back((key.clone(), EventTime(*t)));
            }
            seen.set.insert(key);
        }
        seen.order = order;
        Ok(seen)
    }
}
