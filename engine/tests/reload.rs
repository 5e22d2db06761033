//! `Engine::reload`: unchanged statements continue as if nothing happened,
//! changed and new ones start at the reload, removed ones stop.
use cepheus_engine::{BoundScript, Engine, EventTime, ReloadReport, Value, bind_script};

fn bind(src: &str) -> BoundScript {
    let script = cepheus_parser::parse_script(src).expect("the script parses");
    bind_script(src, &script, &Default::default()).expect("and binds")
}

/// One delivery as (statement name, time, rows in, rows out).
type Seen = (String, i64, Vec<Vec<Value>>, Vec<Vec<Value>>);

/// Sends `(time, key, value)` events of type `E` and records deliveries.
fn drive(engine: &mut Engine, events: &[(i64, &str, i64)], out: &mut Vec<Seen>) {
    for (t, k, v) in events {
        let mut d = Vec::new();
        engine.advance_to(EventTime(*t), &mut d);
        let ty = engine.registry().get("E").cloned().expect("E is declared");
        engine.send(
            &ty,
            vec![Value::str(k), Value::Int(*v)].into_boxed_slice(),
            &mut d,
        );
        for d in d {
            let name = engine.plan(d.statement).name.clone();
            out.push((name, d.time.0, d.output.insert, d.output.remove));
        }
    }
}

fn of(seen: &[Seen], name: &str) -> Vec<Seen> {
    seen.iter().filter(|s| s.0 == name).cloned().collect()
}

const BEFORE: &str = "
create schema E(k string, v long);
@name('win') select k, sum(v) as s from E#time(10 sec) group by k;
@name('pat') select a.k as k, b.v as v from pattern [every a=E(v > 5) -> b=E(k = a.k) where timer:within(5 sec)];
@name('last3') select count(*) as n, sum(v) as s from E#length(3);
@name('gone') select k from E;
";

/// The same rules with a schema declared first (every type id shifts), a
/// comment and new line breaks in `win`, `last3` edited, `gone` removed and
/// `fresh` added.
const AFTER: &str = "
create schema F(x long);
create schema E(k string, v long);
// the same statement, spelled differently
@name('win')
SELECT k,   sum(v) AS s
  FROM E#time(10 sec)
  GROUP BY k;
@name('pat') select a.k as k, b.v as v from pattern [every a=E(v > 5) -> b=E(k = a.k) where timer:within(5 sec)];
@name('last3') select count(*) as n, sum(v) as s from E#length(4);
@name('fresh') select count(*) as n from E;
";

fn events() -> Vec<(i64, &'static str, i64)> {
    let keys = ["a", "b", "c"];
    (0..60)
        .map(|i| (1_000 + i * 700, keys[(i as usize * 7) % 3], (i * 13) % 11))
        .collect()
}

/// Time after the last event at which every window has emptied.
const END: i64 = 200_000;

fn finish(engine: &mut Engine, out: &mut Vec<Seen>) {
    let mut d = Vec::new();
    engine.advance_to(EventTime(END), &mut d);
    for d in d {
        let name = engine.plan(d.statement).name.clone();
        out.push((name, d.time.0, d.output.insert, d.output.remove));
    }
}

/// The deliveries of `src` over all of `events` (and the timers after them).
fn uninterrupted(src: &str, events: &[(i64, &str, i64)], to_end: bool) -> Vec<Seen> {
    let mut engine = Engine::new(bind(src), EventTime(0)).expect("engine");
    let mut out = Vec::new();
    drive(&mut engine, events, &mut out);
    if to_end {
        finish(&mut engine, &mut out);
    }
    out
}

#[test]
fn unchanged_statements_continue_exactly_as_an_uninterrupted_run() {
    let events = events();
    let expected = uninterrupted(BEFORE, &events, true);
    assert!(
        of(&expected, "pat").len() > 3,
        "the pattern matches a few times"
    );

    for split in [1, 10, 25, 40, 59] {
        let mut engine = Engine::new(bind(BEFORE), EventTime(0)).expect("engine");
        let mut seen = Vec::new();
        drive(&mut engine, &events[..split], &mut seen);
        let win_id = engine.statement_ids()[0];
        let report = engine.reload(bind(AFTER)).expect("reloaded");
        assert_eq!(
            report,
            ReloadReport {
                kept: vec!["win".into(), "pat".into()],
                added: vec!["fresh".into()],
                changed: vec!["last3".into()],
                removed: vec!["gone".into()],
            }
        );
        assert_eq!(
            engine.statement_ids()[0],
            win_id,
            "a kept statement keeps its id"
        );
        drive(&mut engine, &events[split..], &mut seen);
        finish(&mut engine, &mut seen);
        for name in ["win", "pat"] {
            assert_eq!(
                of(&seen, name),
                of(&expected, name),
                "`{name}` across a reload after {split} events"
            );
        }
        assert_eq!(of(&seen, "gone").len(), split, "`gone` stops at the reload");
    }
}

#[test]
fn changed_and_added_statements_start_at_the_reload_with_only_later_events() {
    let events = events();
    let split = 30;
    let mut engine = Engine::new(bind(BEFORE), EventTime(0)).expect("engine");
    let mut seen = Vec::new();
    drive(&mut engine, &events[..split], &mut seen);
    engine.reload(bind(AFTER)).expect("reloaded");
    let mut after = Vec::new();
    drive(&mut engine, &events[split..], &mut after);

    // A fresh engine running the new rules that only sees the later events.
    let mut fresh = Engine::new(bind(AFTER), EventTime(events[split - 1].0)).expect("engine");
    let mut expected = Vec::new();
    drive(&mut fresh, &events[split..], &mut expected);
    for name in ["last3", "fresh"] {
        assert_eq!(of(&after, name), of(&expected, name), "`{name}` restarts");
    }
    let first = &of(&after, "fresh")[0];
    assert_eq!(
        first.2,
        vec![vec![Value::Int(1)]],
        "`fresh` counts from zero"
    );
}

#[test]
fn a_reload_that_only_adds_a_schema_keeps_every_statement() {
    let src = "create schema E(k string, v long);
        @name('win') select k, sum(v) as s from E#time(10 sec) group by k;";
    let with_schema = "create schema A(x long); create schema E(k string, v long);
        @name('win') select k, sum(v) as s from E#time(10 sec) group by k;";
    let events = events();
    let expected = uninterrupted(src, &events, false);

    let mut engine = Engine::new(bind(src), EventTime(0)).expect("engine");
    let mut seen = Vec::new();
    drive(&mut engine, &events[..20], &mut seen);
    let before = engine.statements()[0].group_count();
    assert!(before > 0);
    let report = engine.reload(bind(with_schema)).expect("reloaded");
    assert_eq!(report.kept, vec!["win".to_string()]);
    assert_eq!(
        engine.registry().get("E").map(|t| t.id.0),
        Some(1),
        "E moved"
    );
    assert_eq!(engine.statements()[0].group_count(), before);
    drive(&mut engine, &events[20..], &mut seen);
    assert_eq!(seen, expected);
}

#[test]
fn a_changed_schema_changes_the_statements_that_read_it() {
    let src = "create schema E(k string, v long); create schema G(y long);
        @name('e') select count(*) as n from E#keepall;
        @name('g') select count(*) as n from G#keepall;";
    let edited = "create schema E(k string, v long, w double); create schema G(y long);
        @name('e') select count(*) as n from E#keepall;
        @name('g') select count(*) as n from G#keepall;";
    let mut engine = Engine::new(bind(src), EventTime(0)).expect("engine");
    drive(&mut engine, &[(1, "a", 1), (2, "b", 2)], &mut Vec::new());
    let report = engine.reload(bind(edited)).expect("reloaded");
    assert_eq!(report.changed, vec!["e".to_string()]);
    assert_eq!(report.kept, vec!["g".to_string()]);
    assert_eq!(engine.statements()[0].window_len(), 0, "`e` starts empty");
}

#[test]
fn reloading_the_same_rules_changes_nothing() {
    let events = events();
    let expected = uninterrupted(BEFORE, &events, false);

    let mut engine = Engine::new(bind(BEFORE), EventTime(0)).expect("engine");
    let mut seen = Vec::new();
    for chunk in events.chunks(7) {
        drive(&mut engine, chunk, &mut seen);
        let report = engine.reload(bind(BEFORE)).expect("reloaded");
        assert_eq!(report.kept.len(), 4);
        assert!(report.added.is_empty() && report.changed.is_empty() && report.removed.is_empty());
    }
    assert_eq!(seen, expected);
}

#[test]
fn state_size_counts_window_events_groups_and_pattern_instances() {
    let src = "create schema E(k string, v long);
        @name('batch') select k, count(*) as n from E#length_batch(10) group by k;
        @name('pat') select a.k as k from pattern [every a=E -> b=E(k = a.k)];";
    let mut engine = Engine::new(bind(src), EventTime(0)).expect("engine");
    drive(
        &mut engine,
        &[(1, "a", 1), (2, "b", 2), (3, "a", 3)],
        &mut Vec::new(),
    );
    let batch = engine.statements()[0].state_size();
    assert_eq!(batch.window_events, 3, "the batch being collected counts");
    assert_eq!(
        batch.groups, 2,
        "a window keeping aggregate inputs holds a slot for each group of the batch being collected"
    );
    assert_eq!(engine.statements()[0].window_len(), 0);
    let pat = engine.statements()[1].state_size();
    assert_eq!(pat.window_events, 0);
    assert!(pat.pattern_instances >= 2, "{pat:?}");
}
