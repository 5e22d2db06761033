//! The operators: how each state node starts, hears from its children, and
//! quits. Each rule mirrors the corresponding Esper state node
//! (`EvalFilterStateNode`, `EvalEveryStateNode`, `EvalFollowedByStateNode`,
//! ...), including when a node quits and whether a parent restarts a child.
use indexmap::IndexMap;

use super::PatternMatcher;
use super::compile::Op;
use super::state::{Node, NodeRef, Parent, SeenKeys, St, Tags};
use crate::event::Event;
use crate::expr::Scope;
use crate::value::Value;
use crate::window::EventRef;

impl PatternMatcher {
    // ---- arena helpers ------------------------------------------------

    pub(super) fn alloc(&mut self, op: usize, parent: Parent, counted: bool) -> NodeRef {
        if counted {
            self.instances += 1;
        }
        self.arena.alloc(Node {
            op,
            parent,
            counted,
            st: St::Unstarted,
        })
    }

    /// Whether a run-time instance may start; counts a drop when it may not.
    fn admit(&mut self) -> bool {
        if self.instances >= self.plan.max_instances {
            self.dropped += 1;
            false
        } else {
            true
        }
    }

    fn set_st(&mut self, r: NodeRef, st: St) {
        if let Some(n) = self.arena.get_mut(r) {
            n.st = st;
        }
    }

    fn add_timer(&mut self, millis: i64, r: NodeRef) -> (crate::time::EventTime, u64) {
        self.timer_seq += 1;
        let key = (self.now.plus(millis), self.timer_seq);
        self.timers.insert(key, r);
        key
    }

    /// Removes a node and what it owns directly (its index entry, its timer,
    /// its instance count); its children are left alone.
    fn free(&mut self, r: NodeRef) -> Option<Node> {
        let n = self.arena.remove(r)?;
        if n.counted {
            self.instances -= 1;
        }
        match &n.st {
            St::Filter { key, .. } => {
                if let Op::Filter(f) = &self.ops[n.op] {
                    self.index.remove(f.slot, key.as_ref(), r);
                }
            }
            St::Interval { timer: Some(k), .. } | St::Guard { timer: Some(k), .. } => {
                self.timers.remove(k);
            }
            St::And { retained, .. } => self.instances -= retained,
            _ => {}
        }
        Some(n)
    }

    /// Stops a node and everything under it, silently.
    pub(super) fn quit(&mut self, r: NodeRef) {
        let Some(node) = self.arena.get(r) else {
            return;
        };
        // A guard whose child already turned false keeps its timer (Esper's
        // guard quit does nothing then); the timer ends it.
        if let St::Guard { child: None, .. } = node.st {
            return;
        }
        let Some(node) = self.free(r) else {
            return;
        };
        match node.st {
            St::Unstarted | St::Filter { .. } | St::Interval { .. } => {}
            St::Every { children, .. } => children.keys().for_each(|c| self.quit(*c)),
            St::EveryDistinct { children, .. } => children.keys().for_each(|c| self.quit(*c)),
            St::Not { child } | St::Guard { child, .. } => {
                child.into_iter().for_each(|c| self.quit(c))
            }
            St::Repeat { matcher, .. } => matcher.into_iter().for_each(|c| self.quit(c)),
            St::And { children, .. } | St::Or { children, .. } => {
                children.into_iter().flatten().for_each(|c| self.quit(c))
            }
            St::FollowedBy { nodes } => nodes.keys().for_each(|c| self.quit(*c)),
        }
    }

    // ---- start ---------------------------------------------------------

    /// Starts an allocated node with the tags matched so far.
    pub(super) fn init(&mut self, r: NodeRef, begin: Tags) {
        let Some(node) = self.arena.get(r) else {
            return;
        };
        let (parent, op) = (node.parent, node.op);
        let ops = self.ops.clone();
        match &ops[op] {
            Op::Filter(f) => {
                let key = f.key.map(|k| match begin.get(k.tag) {
                    Some(Value::Event(e)) => e.get(k.tag_field).clone(),
                    _ => Value::Null,
                });
                self.index.insert(f.slot, key.as_ref(), r);
                self.set_st(r, St::Filter { begin, key });
            }
            Op::Interval(ms) => {
                if *ms <= 0 {
                    self.free(r);
                    self.child_true(parent, r, begin, true);
                } else {
                    let timer = Some(self.add_timer(*ms, r));
                    self.set_st(r, St::Interval { begin, timer });
                }
            }
            Op::Every(inner) => {
                self.set_st(
                    r,
                    St::Every {
                        begin: begin.clone(),
                        children: IndexMap::new(),
                    },
                );
                self.spawn(r, *inner, begin, None, false);
            }
            Op::EveryDistinct { inner, .. } => {
                self.set_st(
                    r,
                    St::EveryDistinct {
                        begin: begin.clone(),
                        children: IndexMap::new(),
                    },
                );
                self.spawn(r, *inner, begin, Some(SeenKeys::default()), false);
            }
            Op::Not(inner) => {
                let c = self.alloc(*inner, Parent::Node(r), false);
                self.set_st(r, St::Not { child: Some(c) });
                self.init(c, begin.clone());
                // Not is true until its child turns true: tell the parent now.
                if self.arena.alive(r) {
                    self.child_true(parent, r, begin, false);
                }
            }
            Op::Repeat { inner, arrayed, .. } => {
                let c = self.alloc(*inner, Parent::Node(r), false);
                self.set_st(
                    r,
                    St::Repeat {
                        begin: begin.clone(),
                        matcher: Some(c),
                        matches: 0,
                        arrays: vec![Vec::new(); arrayed.len()],
                    },
                );
                self.init(c, begin);
            }
            Op::Within { millis, inner } => {
                let c = self.alloc(*inner, Parent::Node(r), false);
                self.set_st(
                    r,
                    St::Guard {
                        child: Some(c),
                        timer: None,
                    },
                );
                // Esper starts the child, then the guard's timer.
                self.init(c, begin);
                if self.arena.alive(r) {
                    let key = self.add_timer(*millis, r);
                    if let Some(Node {
                        st: St::Guard { timer, .. },
                        ..
                    }) = self.arena.get_mut(r)
                    {
                        *timer = Some(key);
                    }
                }
            }
            Op::And(kids) | Op::Or(kids) => {
                let children: Vec<Option<NodeRef>> = kids
                    .iter()
                    .map(|k| Some(self.alloc(*k, Parent::Node(r), false)))
                    .collect();
                let is_and = matches!(ops[op], Op::And(_));
                self.set_st(
                    r,
                    if is_and {
                        St::And {
                            events: Some(vec![Vec::new(); children.len()]),
                            children: children.clone(),
                            retained: 0,
                        }
                    } else {
                        St::Or {
                            children: children.clone(),
                            quitted: false,
                        }
                    },
                );
                for i in 0..children.len() {
                    // Start the children still present: an earlier child may
                    // already have ended the whole and/or.
                    let current = match self.arena.get(r).map(|n| &n.st) {
                        Some(St::And { children, .. }) => children[i],
                        Some(St::Or {
                            quitted: false,
                            children,
                        }) => children[i],
                        // An or that quit stops starting children; its
                        // unstarted ones were freed with it.
                        _ => break,
                    };
                    if let Some(c) = current {
                        self.init(c, begin.clone());
                    }
                }
            }
            Op::FollowedBy(kids) => {
                let c = self.alloc(kids[0], Parent::Node(r), false);
                let mut nodes = IndexMap::new();
                nodes.insert(c, 0);
                self.set_st(r, St::FollowedBy { nodes });
                self.init(c, begin);
            }
        }
    }

    /// Starts a child of the `every` (or `every-distinct`) node `r` under a
    /// probe: a child that turns true or false while it starts is quit again
    /// (Esper's guard against `every not X` looping). `counted` for a
    /// restart at run time.
    fn spawn(
        &mut self,
        r: NodeRef,
        inner: usize,
        begin: Tags,
        keys: Option<SeenKeys>,
        counted: bool,
    ) {
        if counted && !self.admit() {
            return;
        }
        let probe = self.probes.len();
        self.probes.push(false);
        let c = self.alloc(inner, Parent::Probe(probe), counted);
        // Esper keeps the first child in its list even when the probe fires.
        if !counted {
            self.add_every_child(r, c, keys.clone());
        }
        self.init(c, begin);
        let hit = self.probes.pop().unwrap_or(false);
        if hit {
            self.quit(c);
            return;
        }
        if let Some(n) = self.arena.get_mut(c) {
            n.parent = Parent::Node(r);
        }
        if counted {
            self.add_every_child(r, c, keys);
        }
    }

    fn add_every_child(&mut self, r: NodeRef, c: NodeRef, keys: Option<SeenKeys>) {
        match self.arena.get_mut(r).map(|n| &mut n.st) {
            Some(St::Every { children, .. }) => {
                children.insert(c, ());
            }
            Some(St::EveryDistinct { children, .. }) => {
                children.insert(c, keys.unwrap_or_default());
            }
            _ => {}
        }
    }

    // ---- events and timers ---------------------------------------------

    /// Offers `event` to the filter instance `r` (from the snapshot).
    pub(super) fn filter_event(&mut self, r: NodeRef, event: &EventRef) {
        let Some(node) = self.arena.get(r) else {
            return;
        };
        let St::Filter { begin, .. } = &node.st else {
            return;
        };
        let Op::Filter(f) = &self.ops[node.op] else {
            return;
        };
        self.filter_checks += 1;
        if let Some(expr) = &f.filter {
            let scope = Scope {
                event: Some(event as &Event),
                tags: begin,
                aggregates: &[],
            };
            if !expr.is_true(&scope) {
                return;
            }
        }
        let mut tags = begin.to_vec();
        if let Some(t) = f.tag {
            tags[t] = Value::Event(event.clone());
        }
        let parent = node.parent;
        // Under every, every-distinct and repeat a filter keeps listening
        // (Esper's isFilterChildNonQuitting); elsewhere it quits on its match.
        let keeps = match parent {
            Parent::Node(p) => self.arena.get(p).is_some_and(|n| {
                matches!(
                    n.st,
                    St::Every { .. } | St::EveryDistinct { .. } | St::Repeat { .. }
                )
            }),
            Parent::Probe(_) => true,
            Parent::Root => false,
        };
        if !keeps {
            self.free(r);
        }
        self.child_true(parent, r, tags.into(), !keeps);
    }

    /// A timer of node `r` is due (its entry is already removed).
    pub(super) fn fire(&mut self, r: NodeRef) {
        let Some(node) = self.arena.get_mut(r) else {
            return;
        };
        let parent = node.parent;
        match &mut node.st {
            St::Interval { timer, begin } => {
                *timer = None;
                let begin = begin.clone();
                self.free(r);
                self.child_true(parent, r, begin, true);
            }
            St::Guard { timer, child } => {
                *timer = None;
                let child = child.take();
                if let Some(c) = child {
                    self.quit(c);
                }
                self.free(r);
                self.child_false(parent, r, true);
            }
            _ => {}
        }
    }

    // ---- a child turned true -------------------------------------------

    /// The live node `parent` is, with its own parent and operator; a probe
    /// notes that its child turned true or false.
    fn listener(&mut self, parent: Parent) -> Option<(NodeRef, Parent, usize)> {
        match parent {
            Parent::Root => None,
            Parent::Probe(i) => {
                if let Some(hit) = self.probes.get_mut(i) {
                    *hit = true;
                }
                None
            }
            Parent::Node(p) => self.arena.get(p).map(|n| (p, n.parent, n.op)),
        }
    }

    pub(super) fn child_true(&mut self, parent: Parent, from: NodeRef, tags: Tags, quitted: bool) {
        if parent == Parent::Root {
            if quitted {
                self.top = None;
            }
            self.matches.push(tags.to_vec().into_boxed_slice());
            return;
        }
        let Some((p, grand, op)) = self.listener(parent) else {
            return;
        };
        let ops = self.ops.clone();
        match &ops[op] {
            Op::Every(inner) => {
                let begin = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::Every { begin, children }) => {
                        if quitted {
                            children.shift_remove(&from);
                        }
                        begin.clone()
                    }
                    _ => return,
                };
                // A filter child kept listening; anything else is restarted.
                if !matches!(ops[*inner], Op::Filter(_)) {
                    self.spawn(p, *inner, begin, None, true);
                }
                self.child_true(grand, p, tags, false);
            }
            Op::EveryDistinct {
                keys,
                expiry,
                inner,
            } => {
                let scope = Scope {
                    event: None,
                    tags: &tags,
                    aggregates: &[],
                };
                let key: Box<[Value]> = keys.iter().map(|k| k.eval(&scope)).collect();
                let now = self.now;
                let (begin, seen, inherited) = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::EveryDistinct { begin, children }) => {
                        let mut seen = false;
                        let mut inherited = None;
                        if let Some(k) = children.get_mut(&from) {
                            k.expire(now);
                            seen = k.check_and_add(key, expiry.map(|e| now.plus(e)));
                            inherited = Some(k.clone());
                        }
                        if quitted {
                            children.shift_remove(&from);
                        }
                        (begin.clone(), seen, inherited)
                    }
                    _ => return,
                };
                if !matches!(ops[*inner], Op::Filter(_)) {
                    self.spawn(p, *inner, begin, Some(inherited.unwrap_or_default()), true);
                }
                if !seen {
                    self.child_true(grand, p, tags, false);
                }
            }
            Op::Not(_) => {
                if quitted {
                    self.free(p);
                    self.child_false(grand, p, true);
                }
            }
            Op::Repeat {
                count,
                inner,
                arrayed,
            } => {
                let Some(St::Repeat {
                    begin,
                    matcher,
                    matches,
                    arrays,
                }) = self.arena.get_mut(p).map(|n| &mut n.st)
                else {
                    return;
                };
                if *matcher != Some(from) {
                    return;
                }
                *matches += 1;
                for (i, t) in arrayed.iter().enumerate() {
                    match &tags[*t] {
                        Value::Null => {}
                        Value::Array(items) => arrays[i].extend(items.iter().cloned()),
                        v => arrays[i].push(v.clone()),
                    }
                }
                if quitted {
                    *matcher = None;
                }
                if *matches == *count {
                    let mut done = tags.to_vec();
                    for (i, t) in arrayed.iter().enumerate() {
                        if !arrays[i].is_empty() {
                            done[*t] = Value::Array(arrays[i].clone().into());
                        }
                    }
                    let m = matcher.take();
                    if let Some(m) = m {
                        self.quit(m);
                    }
                    self.free(p);
                    self.child_true(grand, p, done.into(), true);
                } else if matcher.is_none() {
                    let begin = begin.clone();
                    if self.admit() {
                        let c = self.alloc(*inner, Parent::Node(p), true);
                        if let Some(St::Repeat { matcher, .. }) =
                            self.arena.get_mut(p).map(|n| &mut n.st)
                        {
                            *matcher = Some(c);
                        }
                        self.init(c, begin);
                    }
                }
            }
            Op::Within { .. } => {
                let Some(St::Guard { child, .. }) = self.arena.get_mut(p).map(|n| &mut n.st) else {
                    return;
                };
                let had_child = child.is_some();
                if quitted {
                    *child = None;
                    // The subexpression is gone: so is the guard and its timer.
                    self.free(p);
                }
                if had_child {
                    self.child_true(grand, p, tags, quitted);
                }
            }
            Op::And(kids) => self.and_true(p, grand, kids, from, tags, quitted),
            Op::Or(_) => {
                if quitted {
                    let others = match self.arena.get_mut(p).map(|n| &mut n.st) {
                        Some(St::Or { children, quitted }) => {
                            *quitted = true;
                            std::mem::take(children)
                        }
                        _ => return,
                    };
                    self.free(p);
                    for c in others.into_iter().flatten() {
                        if c != from {
                            self.quit(c);
                        }
                    }
                }
                self.child_true(grand, p, tags, quitted);
            }
            Op::FollowedBy(kids) => {
                let Some(St::FollowedBy { nodes }) = self.arena.get_mut(p).map(|n| &mut n.st)
                else {
                    return;
                };
                let step = nodes.get(&from).copied();
                if quitted {
                    nodes.swap_remove(&from);
                }
                let Some(step) = step else {
                    return;
                };
                if step + 1 == kids.len() {
                    let done = nodes.is_empty();
                    if done {
                        self.free(p);
                    }
                    self.child_true(grand, p, tags, done);
                } else if self.admit() {
                    let c = self.alloc(kids[step + 1], Parent::Node(p), true);
                    if let Some(St::FollowedBy { nodes }) = self.arena.get_mut(p).map(|n| &mut n.st)
                    {
                        nodes.insert(c, step + 1);
                    }
                    self.init(c, tags);
                }
            }
            Op::Filter(_) | Op::Interval(_) => {}
        }
    }

    /// Esper's `and`: each child's partial matches are kept; when every child
    /// has one, each combination with the new one goes up. It quits when all
    /// children but `not`s have quit.
    fn and_true(
        &mut self,
        p: NodeRef,
        grand: Parent,
        kids: &[usize],
        from: NodeRef,
        tags: Tags,
        quitted: bool,
    ) {
        let Some(St::And {
            children, events, ..
        }) = self.arena.get_mut(p).map(|n| &mut n.st)
        else {
            return;
        };
        let from_idx = children.iter().position(|c| *c == Some(from));
        if let (true, Some(i)) = (quitted, from_idx) {
            children[i] = None;
        }
        let (Some(ev), Some(i)) = (events.as_ref(), from_idx) else {
            return;
        };
        let others_ready = ev.iter().enumerate().all(|(j, e)| j == i || !e.is_empty());
        if !others_ready {
            self.retain(p, i, tags);
            return;
        }
        let mut others_quit = true;
        let mut has_active = false;
        for (j, c) in children.iter().enumerate() {
            if c.is_some() {
                has_active = true;
                if j != i {
                    others_quit = false;
                }
            }
        }
        let and_quits = children
            .iter()
            .zip(kids)
            .all(|(c, k)| c.is_none() || matches!(self.ops[*k], Op::Not(_)));
        let and_quits = !has_active || and_quits;
        // Combinations of the other children's partial matches, in child order.
        let mut results = vec![tags.to_vec()];
        for (j, list) in ev.iter().enumerate() {
            if j == i || list.is_empty() {
                continue;
            }
            let mut next = Vec::with_capacity(results.len() * list.len());
            for acc in &results {
                for e in list {
                    let mut cur = acc.clone();
                    for (slot, v) in cur.iter_mut().zip(e.iter()) {
                        if !v.is_null() {
                            *slot = v.clone();
                        }
                    }
                    next.push(cur);
                }
            }
            results = next;
        }
        if !others_quit {
            self.retain(p, i, tags);
        }
        if and_quits {
            self.quit(p);
        }
        for r in results {
            self.child_true(grand, p, r.into(), and_quits);
        }
    }

    /// Keeps a partial match of child `i` of the `and` node `p`.
    fn retain(&mut self, p: NodeRef, i: usize, tags: Tags) {
        if !self.admit() {
            return;
        }
        if let Some(St::And {
            events: Some(ev),
            retained,
            ..
        }) = self.arena.get_mut(p).map(|n| &mut n.st)
        {
            ev[i].push(tags);
            *retained += 1;
            self.instances += 1;
        }
    }

    // ---- a child turned permanently false --------------------------------

    pub(super) fn child_false(&mut self, parent: Parent, from: NodeRef, restartable: bool) {
        if parent == Parent::Root {
            if let Some(t) = self.top.take() {
                self.quit(t);
            }
            return;
        }
        let Some((p, grand, op)) = self.listener(parent) else {
            return;
        };
        let ops = self.ops.clone();
        match &ops[op] {
            Op::Every(inner) => {
                self.quit(from);
                let begin = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::Every { begin, children }) => {
                        children.shift_remove(&from);
                        begin.clone()
                    }
                    _ => return,
                };
                if !restartable {
                    self.child_false(grand, p, false);
                    return;
                }
                self.spawn(p, *inner, begin, None, true);
            }
            Op::EveryDistinct { inner, .. } => {
                self.quit(from);
                let begin = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::EveryDistinct { begin, children }) => {
                        children.shift_remove(&from);
                        begin.clone()
                    }
                    _ => return,
                };
                // Esper restarts with an empty key set here.
                self.spawn(p, *inner, begin, Some(SeenKeys::default()), true);
            }
            // A not whose child can never turn true stays true.
            Op::Not(_) => {}
            Op::Repeat { .. } => {
                let m = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::Repeat { matcher, .. }) if *matcher == Some(from) => matcher.take(),
                    _ => return,
                };
                if let Some(m) = m {
                    self.quit(m);
                }
                self.free(p);
                self.child_false(grand, p, true);
            }
            Op::Within { .. } => {
                // The guard's timer keeps running (Esper does not stop it
                // here); when it fires, the guard reports false once more.
                if let Some(St::Guard { child, .. }) = self.arena.get_mut(p).map(|n| &mut n.st) {
                    *child = None;
                }
                self.child_false(grand, p, true);
            }
            Op::And(_) => {
                let children = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::And { children, .. }) => {
                        for c in children.iter_mut() {
                            if *c == Some(from) {
                                *c = None;
                            }
                        }
                        std::mem::take(children)
                    }
                    _ => return,
                };
                self.free(p);
                for c in children.into_iter().flatten() {
                    self.quit(c);
                }
                self.child_false(grand, p, restartable);
            }
            Op::Or(_) => {
                let all_gone = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::Or { children, .. }) => {
                        for c in children.iter_mut() {
                            if *c == Some(from) {
                                *c = None;
                            }
                        }
                        children.iter().all(Option::is_none)
                    }
                    _ => return,
                };
                if all_gone {
                    self.free(p);
                    self.child_false(grand, p, true);
                }
            }
            Op::FollowedBy(_) => {
                self.quit(from);
                let empty = match self.arena.get_mut(p).map(|n| &mut n.st) {
                    Some(St::FollowedBy { nodes }) => {
                        nodes.swap_remove(&from);
                        nodes.is_empty()
                    }
                    _ => return,
                };
                if empty {
                    self.free(p);
                    self.child_false(grand, p, true);
                }
            }
            Op::Filter(_) | Op::Interval(_) => {}
        }
    }
}
