//! The state of running pattern instances: an arena of state nodes, one per
//! started sub-expression, each pointing at its parent (Esper's evaluation
//! state tree). A [`NodeRef`] carries the node's creation number, so a
//! reference to a node that has ended never reaches a node reusing its slot.
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use indexmap::IndexMap;

use super::compile::OpId;
use crate::time::EventTime;
use crate::value::Value;

/// The tags of a partial match (Esper's `MatchedEventMap`): one slot per tag.
pub(super) type Tags = Arc<[Value]>;

/// A pending timer: its due time and creation number.
pub(super) type TimerKey = (EventTime, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct NodeRef {
    pub idx: u32,
    /// Creation number: unique, increasing; orders instances.
    pub seq: u64,
}

/// Who hears when a node turns true or false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Parent {
    /// The pattern itself: a true is a match.
    Root,
    /// A child `every` is starting: a true (or false) during its start is
    /// noted in `probes[i]` and the child is discarded (Esper's spawn evaluator).
    Probe(usize),
    Node(NodeRef),
}

#[derive(Debug)]
pub(super) struct Node {
    pub op: OpId,
    pub parent: Parent,
    /// Started at run time (a followed-by step, an every restart, a repeat
    /// restart): counts against the instance cap while it lives.
    pub counted: bool,
    pub st: St,
}

/// Keys an `every-distinct` child has let through, oldest first.
#[derive(Debug, Clone, Default)]
pub(super) struct SeenKeys {
    /// Keys with their expiry time (only with an expiry).
    pub order: VecDeque<(Box<[Value]>, EventTime)>,
    pub set: HashSet<Box<[Value]>>,
}

impl SeenKeys {
    /// Forgets keys whose expiry is at or before `now`.
    pub fn expire(&mut self, now: EventTime) {
        while let Some((k, t)) = self.order.front() {
            if *t > now {
                break;
            }
            self.set.remove(k);
            self.order.pop_front();
        }
    }
    /// Whether `key` was seen; remembers it (until `expiry`) when it was not.
    pub fn check_and_add(&mut self, key: Box<[Value]>, expiry: Option<EventTime>) -> bool {
        if self.set.contains(&key) {
            return true;
        }
        if let Some(t) = expiry {
            self.order.push_back((key.clone(), t));
        }
        self.set.insert(key);
        false
    }
}

/// Per operator state, following Esper's state nodes.
#[derive(Debug)]
pub(super) enum St {
    /// Created, `start` not run yet.
    Unstarted,
    Filter {
        begin: Tags,
        /// The equality key the instance is indexed under.
        key: Option<Value>,
    },
    Interval {
        begin: Tags,
        timer: Option<TimerKey>,
    },
    Every {
        begin: Tags,
        children: IndexMap<NodeRef, ()>,
    },
    EveryDistinct {
        begin: Tags,
        children: IndexMap<NodeRef, SeenKeys>,
    },
    Not {
        child: Option<NodeRef>,
    },
    Repeat {
        begin: Tags,
        matcher: Option<NodeRef>,
        matches: u32,
        /// Per arrayed tag, the events bound so far.
        arrays: Vec<Vec<Value>>,
    },
    Guard {
        child: Option<NodeRef>,
        timer: Option<TimerKey>,
    },
    And {
        children: Vec<Option<NodeRef>>,
        /// Per child, the partial matches it reported; `None` once quit.
        events: Option<Vec<Vec<Tags>>>,
        /// Partial matches held (they count against the instance cap).
        retained: usize,
    },
    Or {
        children: Vec<Option<NodeRef>>,
        quitted: bool,
    },
    FollowedBy {
        /// Live children and the step each one is at.
        nodes: IndexMap<NodeRef, usize>,
    },
}

#[derive(Debug, Default)]
pub(super) struct Arena {
    pub slots: Vec<Option<(u64, Node)>>,
    pub free: Vec<u32>,
    pub next_seq: u64,
    pub live: usize,
}

impl Arena {
    pub fn alloc(&mut self, node: Node) -> NodeRef {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.live += 1;
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some((seq, node));
                i
            }
            None => {
                self.slots.push(Some((seq, node)));
                (self.slots.len() - 1) as u32
            }
        };
        NodeRef { idx, seq }
    }

    pub fn get(&self, r: NodeRef) -> Option<&Node> {
        match self.slots.get(r.idx as usize) {
            Some(Some((seq, n))) if *seq == r.seq => Some(n),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, r: NodeRef) -> Option<&mut Node> {
        match self.slots.get_mut(r.idx as usize) {
            Some(Some((seq, n))) if *seq == r.seq => Some(n),
            _ => None,
        }
    }

    pub fn alive(&self, r: NodeRef) -> bool {
        self.get(r).is_some()
    }

    pub fn remove(&mut self, r: NodeRef) -> Option<Node> {
        let slot = self.slots.get_mut(r.idx as usize)?;
        match slot {
            Some((seq, _)) if *seq == r.seq => {
                let (_, n) = slot.take()?;
                self.free.push(r.idx);
                self.live -= 1;
                Some(n)
            }
            _ => None,
        }
    }

    /// Live state nodes.
    pub fn live(&self) -> usize {
        self.live
    }
}
