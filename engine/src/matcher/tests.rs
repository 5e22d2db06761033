//! Operator by operator, on short event sequences; expected results follow
//! the Esper reference manual's rules (and the conformance cases).
use std::sync::Arc;

use super::PatternMatcher;
use crate::event::Event;
use crate::plan::InputPlan;
use crate::schema::EventType;
use crate::time::EventTime;
use crate::value::Value;

const SCHEMAS: &str = "create schema A(id string, k long);
create schema B(id string, k long);
create schema C(id string, k long);
create schema D(id string, k long);";

struct Harness {
    m: PatternMatcher,
    types: Vec<Arc<EventType>>,
    tags: Vec<String>,
    seq: u64,
    out: Vec<(i64, String)>,
}

impl Harness {
    fn new(pattern: &str) -> Harness {
        Harness::with_hint(pattern, "")
    }

    fn with_hint(pattern: &str, hint: &str) -> Harness {
        let src = format!("{SCHEMAS}\n{hint} @name('p') select * from pattern [{pattern}];");
        let script = cepheus_parser::parse_script(&src).expect("parses");
        let bound = crate::bind_script(&src, &script, &Default::default()).expect("binds");
        let types = ["A", "B", "C", "D"]
            .iter()
            .map(|n| bound.registry.get(n).cloned().expect("type"))
            .collect();
        let plan = bound.statements.last().expect("statement");
        let InputPlan::Pattern(p) = &plan.input else {
            panic!("not a pattern")
        };
        Harness {
            tags: p.tags.iter().map(|(n, _)| n.clone()).collect(),
            m: PatternMatcher::new(p.clone(), EventTime(0)),
            types,
            seq: 0,
            out: Vec::new(),
        }
    }

    /// Moves time to `t`, firing due timers one due time at a time.
    fn advance(&mut self, t: i64) {
        while let Some(next) = self.m.next_timer().filter(|n| n.0 <= t) {
            let mut v = Vec::new();
            self.m.on_time(next, &mut v);
            self.record(next.0, v);
        }
    }

    /// Sends `id` (its type is its first letter, upper-cased) at `t`.
    fn send_k(&mut self, t: i64, id: &str, k: i64) {
        self.advance(t);
        let ty = match id.as_bytes()[0].to_ascii_uppercase() {
            b'A' => 0,
            b'B' => 1,
            b'C' => 2,
            _ => 3,
        };
        self.seq += 1;
        let e = Arc::new(Event {
            ty: self.types[ty].clone(),
            time: EventTime(t),
            seq: self.seq,
            fields: vec![Value::str(id), Value::Int(k)].into(),
        });
        let mut v = Vec::new();
        self.m.on_event(&e, &mut v);
        self.record(t, v);
    }

    fn send(&mut self, t: i64, id: &str) {
        self.send_k(t, id, 0);
    }

    fn record(&mut self, t: i64, matches: Vec<Box<[Value]>>) {
        for m in matches {
            let parts: Vec<String> = self
                .tags
                .iter()
                .zip(m.iter())
                .filter(|(_, v)| !v.is_null())
                .map(|(n, v)| format!("{n}={}", show(v)))
                .collect();
            self.out.push((t, parts.join(" ")));
        }
    }

    /// The matches so far as `t:tags`, and forgets them.
    fn take(&mut self) -> Vec<String> {
        self.out
            .drain(..)
            .map(|(t, s)| format!("{t}:{s}"))
            .collect()
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Event(e) => e.get(0).to_string(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(","))
        }
        v => v.to_string(),
    }
}

/// The every table of the Esper manual: A1 B1 C1 B2 A2 D1 A3 B3 E1 A4 F1 B4
/// (D stands in for D, E and F).
fn every_table(pattern: &str) -> Vec<String> {
    let mut h = Harness::new(pattern);
    for (i, id) in [
        "A1", "B1", "C1", "B2", "A2", "D1", "A3", "B3", "D2", "A4", "D3", "B4",
    ]
    .iter()
    .enumerate()
    {
        h.send((i as i64 + 1) * 1000, id);
    }
    h.take()
}

#[test]
fn every_operator_table() {
    assert_eq!(
        every_table("every (a=A -> b=B)"),
        ["2000:a=A1 b=B1", "8000:a=A2 b=B3", "12000:a=A4 b=B4"]
    );
    assert_eq!(
        every_table("every a=A -> b=B"),
        [
            "2000:a=A1 b=B1",
            "8000:a=A2 b=B3",
            "8000:a=A3 b=B3",
            "12000:a=A4 b=B4"
        ]
    );
    assert_eq!(
        every_table("a=A -> every b=B"),
        [
            "2000:a=A1 b=B1",
            "4000:a=A1 b=B2",
            "8000:a=A1 b=B3",
            "12000:a=A1 b=B4"
        ]
    );
    assert_eq!(every_table("every a=A -> every b=B").len(), 1 + 1 + 3 + 4);
}

#[test]
fn followed_by_without_every_matches_once_then_ends() {
    let mut h = Harness::new("a=A -> b=B -> c=C");
    h.send(1000, "A1");
    h.send(2000, "C1");
    h.send(3000, "B1");
    h.send(4000, "A2");
    h.send(5000, "C2");
    h.send(6000, "B2");
    h.send(7000, "C3");
    assert_eq!(h.take(), ["5000:a=A1 b=B1 c=C2"]);
    assert!(!h.m.is_active());
    assert_eq!(h.m.live_nodes(), 0);
    assert_eq!(h.m.live_instances(), 0);
}

#[test]
fn an_event_does_not_complete_the_instance_it_starts() {
    // The A2 completes the instance of A1 and starts its own, which waits for
    // the next A (Esper's filter snapshot).
    let mut h = Harness::new("every a=A -> b=A");
    h.send(1000, "A1");
    h.send(2000, "A2");
    h.send(3000, "A3");
    assert_eq!(h.take(), ["2000:a=A1 b=A2", "3000:a=A2 b=A3"]);
}

#[test]
fn and_waits_for_both_in_any_order_and_keeps_the_first() {
    let mut h = Harness::new("every (a=A and b=B)");
    h.send(1000, "B1");
    h.send(2000, "A1");
    h.send(3000, "A2");
    h.send(4000, "B2");
    h.send(5000, "B3");
    assert_eq!(h.take(), ["2000:a=A1 b=B1", "4000:a=A2 b=B2"]);
}

#[test]
fn and_with_every_side_combines_each_event() {
    // `a=A and every b=B`: each B after the A pairs with it; the Bs before
    // the A are kept and pair when the A comes.
    let mut h = Harness::new("a=A and every b=B");
    h.send(1000, "B1");
    h.send(2000, "B2");
    h.send(3000, "A1");
    h.send(4000, "B3");
    assert_eq!(
        h.take(),
        ["3000:a=A1 b=B1", "3000:a=A1 b=B2", "4000:a=A1 b=B3"]
    );
}

#[test]
fn or_binds_one_side_and_leaves_the_other_null() {
    let mut h = Harness::new("every (a=A or b=B)");
    h.send(1000, "A1");
    h.send(2000, "B1");
    assert_eq!(h.take(), ["1000:a=A1", "2000:b=B1"]);
    let mut h = Harness::new("a=A or b=B");
    h.send(1000, "B1");
    h.send(2000, "A1");
    assert_eq!(h.take(), ["1000:b=B1"]);
    assert!(!h.m.is_active());
}

#[test]
fn not_ends_the_and_when_its_event_comes_first() {
    let mut h = Harness::new("every a=A -> (b=B(k = a.k) and not C(k = a.k))");
    h.send_k(1000, "A1", 1);
    h.send_k(2000, "A2", 2);
    h.send_k(3000, "C1", 2);
    h.send_k(4000, "B1", 1);
    h.send_k(5000, "B2", 2);
    assert_eq!(h.take(), ["4000:a=A1 b=B1"]);
    assert_eq!(h.m.live_instances(), 0);
}

#[test]
fn not_alone_is_true_at_start_and_ends_the_pattern_when_false() {
    // `not C and b=B`: the B completes it as long as no C came before.
    let mut h = Harness::new("b=B and not C");
    h.send(1000, "C1");
    h.send(2000, "B1");
    assert!(h.take().is_empty());
    assert!(!h.m.is_active());
}

#[test]
fn interval_and_not_detects_absence() {
    let mut h = Harness::new("every a=A -> (timer:interval(10 sec) and not B(k = a.k))");
    h.send_k(1000, "A1", 1);
    h.send_k(2000, "A2", 2);
    h.send_k(5000, "B1", 1);
    // A B exactly at the deadline comes after the timer.
    h.send_k(12000, "B2", 2);
    h.advance(60_000);
    assert_eq!(h.take(), ["12000:a=A2"]);
    assert_eq!(h.m.next_timer(), None);
}

#[test]
fn interval_at_pattern_start_counts_from_the_start() {
    let mut h = Harness::new("timer:interval(5 sec) -> a=A");
    // The timer fires before the A at 5000 is processed, so that A matches.
    h.send(4999, "A1");
    h.send(5000, "A2");
    h.send(6000, "A3");
    assert_eq!(h.take(), ["5000:a=A2"]);
}

#[test]
fn within_expires_at_its_deadline_exactly() {
    let mut h = Harness::new("every a=A -> b=B(k = a.k) where timer:within(10 sec)");
    h.send_k(1000, "A1", 1);
    h.send_k(2000, "A2", 2);
    h.send_k(11000, "B1", 1);
    h.send_k(11999, "B2", 2);
    assert_eq!(h.take(), ["11999:a=A2 b=B2"]);
    assert_eq!(h.m.live_instances(), 0);
    assert_eq!(h.m.next_timer(), None);
}

#[test]
fn within_around_every_stops_it_for_good() {
    let mut h = Harness::new("(every a=A) where timer:within(10 sec)");
    h.send(1000, "A1");
    h.send(9999, "A2");
    h.send(10000, "A3");
    h.send(30000, "A4");
    assert_eq!(h.take(), ["1000:a=A1", "9999:a=A2"]);
    assert!(!h.m.is_active());
}

#[test]
fn every_restarts_a_guarded_child_when_its_guard_expires() {
    // `every (a=A where timer:within(5 sec))`: the guard's expiry turns the
    // child false, and every starts a new one (with a new 5 sec guard).
    let mut h = Harness::new("every (a=A where timer:within(5 sec))");
    h.send(7000, "A1");
    h.send(7500, "A2");
    assert_eq!(h.take(), ["7000:a=A1", "7500:a=A2"]);
}

#[test]
fn every_distinct_suppresses_seen_keys_until_they_expire() {
    let mut h = Harness::new("every-distinct(a.k) a=A");
    for (t, k) in [(1000, 1), (2000, 2), (3000, 1), (4000, 3)] {
        h.send_k(t, &format!("A{t}"), k);
    }
    assert_eq!(h.take(), ["1000:a=A1000", "2000:a=A2000", "4000:a=A4000"]);

    let mut h = Harness::new("every-distinct(a.k, 2 sec) a=A");
    for (t, k) in [(1000, 1), (2999, 1), (3000, 1), (4000, 1), (5000, 1)] {
        h.send_k(t, &format!("A{t}"), k);
    }
    assert_eq!(h.take(), ["1000:a=A1000", "3000:a=A3000", "5000:a=A5000"]);
}

#[test]
fn every_distinct_over_followed_by_keeps_keys_across_restarts() {
    let mut h = Harness::new("every-distinct(a.k) (a=A -> b=B)");
    h.send_k(1000, "A1", 1);
    h.send_k(2000, "B1", 0);
    h.send_k(3000, "A2", 1);
    h.send_k(4000, "B2", 0);
    h.send_k(5000, "A3", 2);
    h.send_k(6000, "B3", 0);
    assert_eq!(h.take(), ["2000:a=A1 b=B1", "6000:a=A3 b=B3"]);
}

#[test]
fn repeat_collects_an_array_per_tag() {
    let mut h = Harness::new("every [2] a=A");
    for (i, id) in ["A1", "A2", "A3", "A4", "A5"].iter().enumerate() {
        h.send(1000 * (i as i64 + 1), id);
    }
    assert_eq!(h.take(), ["2000:a=[A1,A2]", "4000:a=[A3,A4]"]);

    let mut h = Harness::new("[2] (a=A -> b=B)");
    for (i, id) in ["A1", "A2", "B1", "A3", "B2", "B3"].iter().enumerate() {
        h.send(1000 * (i as i64 + 1), id);
    }
    assert_eq!(h.take(), ["5000:a=[A1,A3] b=[B1,B2]"]);
    assert!(!h.m.is_active());
}

#[test]
fn timers_fire_in_time_order_and_once() {
    let mut h = Harness::new("every a=A -> timer:interval(3 sec)");
    h.send(1000, "A1");
    h.send(1500, "A2");
    h.send(2000, "A3");
    h.advance(3500);
    assert!(h.take().is_empty());
    h.advance(4500);
    assert_eq!(h.take(), ["4000:a=A1", "4500:a=A2"]);
    h.advance(10_000);
    assert_eq!(h.take(), ["5000:a=A3"]);
}

#[test]
fn a_guard_whose_child_turned_false_keeps_its_timer() {
    // Follows Esper's EvalGuardStateNode: when the guarded `and` turns false
    // (C1), every restarts it at once, and the first guard's timer, still
    // running, restarts it a second time at 10000: B1 then completes both.
    let mut h = Harness::new("every ((b=B and not C) where timer:within(10 sec))");
    h.send(1000, "C1");
    h.send(10500, "B1");
    assert_eq!(h.take(), ["10500:b=B1", "10500:b=B1"]);
}

#[test]
fn flood_without_guard_is_capped_and_counted() {
    let cap = 1000;
    let mut h = Harness::with_hint(
        "every a=A -> b=B(k = a.k)",
        &format!("@Hint('max_instances={cap}')"),
    );
    for i in 0..5000 {
        h.send_k(i, &format!("A{i}"), i);
        assert!(h.m.live_instances() <= cap);
    }
    assert_eq!(h.m.live_instances(), cap);
    assert_eq!(h.m.dropped_instances(), 4000);
    // A kept instance still completes, and frees its place.
    h.send_k(6000, "B1", 7);
    h.send_k(6001, "B2", 4000);
    assert_eq!(h.take(), ["6000:a=A7 b=B1"]);
    assert_eq!(h.m.live_instances(), cap - 1);
    h.send_k(7000, "A9", 9999);
    assert_eq!(h.m.live_instances(), cap);
}

#[test]
fn equality_filters_are_indexed() {
    let mut h = Harness::new("every a=A -> b=B(k = a.k and id != 'x')");
    for i in 0..1000 {
        h.send_k(i, &format!("A{i}"), i);
    }
    assert_eq!(h.m.index.len(), 1001);
    let before = h.m.filter_checks;
    h.send_k(2000, "B1", 500);
    assert_eq!(h.m.filter_checks - before, 1);
    assert_eq!(h.take(), ["2000:a=A500 b=B1"]);
    // An instance whose key is null can never match and is not indexed.
    let mut h = Harness::new("every a=A -> b=B(k = a.k)");
    h.send(1, "A1");
    assert_eq!(h.m.index.len(), 2);
}

#[test]
fn conjuncts_on_the_event_alone_are_checked_once_per_event() {
    let mut h = Harness::new("every a=A -> b=B(id != a.id and k > 5)");
    h.send(1, "A1");
    h.send(2, "A2");
    let before = h.m.filter_checks;
    // `k > 5` fails: none of the two waiting instances is visited.
    h.send_k(3, "B1", 3);
    assert_eq!(h.m.filter_checks, before);
    assert!(h.take().is_empty());
    h.send_k(4, "B2", 7);
    assert_eq!(h.m.filter_checks - before, 2);
    let mut rows = h.take();
    rows.sort();
    assert_eq!(rows, ["4:a=A1 b=B2", "4:a=A2 b=B2"]);
}
