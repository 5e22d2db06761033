//! Checkpoint, serialise, restore, continue: the deliveries must equal an
//! uninterrupted run, for every scenario of the repository at every split
//! point and for random inputs. Damaged checkpoints are errors, not panics.
mod support;

use cepheus_engine::{
    BoundScript, Engine, EngineCheckpoint, EventTime, RestoreError, Value, bind_script,
};
use proptest::prelude::*;
use serde_json::{Map, Value as Json};
use support::{Case, Observed};

/// `engine` through bytes and back, restored against `bound`.
fn round_trip(engine: &Engine, bound: BoundScript) -> Engine {
    let bytes = engine.checkpoint().to_bytes();
    let cp = EngineCheckpoint::from_bytes(&bytes).expect("the checkpoint reads back");
    let statements = bound.statements.len();
    let (restored, report) = Engine::restore(bound, cp).expect("the checkpoint restores");
    assert_eq!(report.restored.len(), statements, "{report:?}");
    assert!(report.reset.is_empty() && report.added.is_empty() && report.dropped.is_empty());
    restored
}

/// The case's steps, then a last step well after them so pending timers fire.
fn steps_with_tail(case: &Case) -> Vec<Map<String, Json>> {
    let mut steps = case.steps.clone();
    let last = steps
        .iter()
        .filter_map(|s| s.get("ts").or_else(|| s.get("time")).and_then(Json::as_i64))
        .max()
        .unwrap_or(0);
    let mut tail = Map::new();
    tail.insert("time".into(), Json::from(last + 600_000));
    steps.push(tail);
    steps
}

#[test]
fn every_scenario_continues_identically_after_a_checkpoint_at_every_step() {
    let dirs = support::case_dirs();
    assert!(
        dirs.len() > 50,
        "found only {} scenario folders",
        dirs.len()
    );
    for dir in dirs {
        let case = support::load(&dir);
        let steps = steps_with_tail(&case);
        let mut golden = Engine::new(case.bind(), case.start()).expect("engine");
        let mut expected = Vec::new();
        case.run(&mut golden, &steps, &mut expected);

        for split in 0..=steps.len() {
            let mut engine = Engine::new(case.bind(), case.start()).expect("engine");
            let mut seen: Vec<Observed> = Vec::new();
            case.run(&mut engine, &steps[..split], &mut seen);
            let mut engine = round_trip(&engine, case.bind());
            case.run(&mut engine, &steps[split..], &mut seen);
            assert_eq!(
                seen,
                expected,
                "{}: checkpoint after step {split} of {}",
                dir.display(),
                steps.len()
            );
        }
    }
}

const RULES: &str = "
create schema E(k long, v long);
@name('grouped') select k, sum(v) as s, count(*) as n, avg(v) as a from E#time(5 sec) group by k;
@name('pattern') select a.k as k, a.v as av, b.v as bv from pattern [every a=E(v > 10) -> b=E(k = a.k and v < a.v) where timer:within(3 sec)];
@name('pairs') select a.v as av, b.v as bv from pattern [every (a=E(k = 1) and b=E(k = 2)) where timer:within(4 sec)];
@name('batched') select k, max(v) as m from E#length_batch(4) group by k output last every 2 sec;
@name('distinct') select count(distinct k) as d, min(v) as lo, stddev(v) as sd from E#time_batch(2 sec);
@name('unique') select irstream k, v from E#unique(k) output snapshot every 3 events;
@name('intersect') select irstream k, v from E#unique(k)#time(3 sec);
@name('intersectbatch') select irstream k, v from E#groupwin(k)#length(2)#length_batch(3);
insert into Big select k, v from E(v > 15);
@name('big') select k, first(v) as f, last(v) as l from Big#groupwin(k)#length(2) group by k;
";

fn bind(src: &str) -> BoundScript {
    let script = cepheus_parser::parse_script(src).expect("parses");
    bind_script(src, &script, &Default::default()).expect("binds")
}

/// Events as (gap since the previous one in ms, key, value).
type Input = Vec<(i64, i64, i64)>;

fn drive(engine: &mut Engine, input: &[(i64, i64, i64)], t: &mut i64, out: &mut Vec<Observed>) {
    let mut d = Vec::new();
    for (gap, k, v) in input {
        *t += gap;
        engine.advance_to(EventTime(*t), &mut d);
        let ty = engine.registry().get("E").cloned().expect("E");
        engine.send(
            &ty,
            vec![Value::Int(*k), Value::Int(*v)].into_boxed_slice(),
            &mut d,
        );
    }
    support::observe(engine, d, out);
}

fn input() -> impl Strategy<Value = Input> {
    prop::collection::vec((0i64..2_500, 0i64..4, -5i64..25), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_inputs_continue_identically_after_a_checkpoint(input in input(), at in 0usize..60) {
        let split = at.min(input.len());
        let tail = [(60_000, 0, 0)];
        let mut t = 0;
        let mut golden = Engine::new(bind(RULES), EventTime(0)).expect("engine");
        let mut expected = Vec::new();
        drive(&mut golden, &input, &mut t, &mut expected);
        drive(&mut golden, &tail, &mut t, &mut expected);

        let mut t = 0;
        let mut engine = Engine::new(bind(RULES), EventTime(0)).expect("engine");
        let mut seen = Vec::new();
        drive(&mut engine, &input[..split], &mut t, &mut seen);
        let mut engine = round_trip(&engine, bind(RULES));
        drive(&mut engine, &input[split..], &mut t, &mut seen);
        drive(&mut engine, &tail, &mut t, &mut seen);
        prop_assert_eq!(seen, expected);
    }
}

/// An engine in the middle of the random workload, with state everywhere.
fn busy_engine() -> Engine {
    let mut engine = Engine::new(bind(RULES), EventTime(0)).expect("engine");
    let input: Input = (0..40)
        .map(|i| (300 + (i * 37) % 500, i % 4, (i * 7) % 25))
        .collect();
    drive(&mut engine, &input, &mut 0, &mut Vec::new());
    engine
}

#[test]
fn truncated_or_modified_checkpoints_are_errors() {
    let bytes = busy_engine().checkpoint().to_bytes();
    assert!(bytes.len() > 500, "the checkpoint holds state");
    for len in 0..bytes.len() {
        assert!(
            EngineCheckpoint::from_bytes(&bytes[..len]).is_err(),
            "truncated to {len} bytes"
        );
    }
    for i in 0..bytes.len() {
        let mut garbled = bytes.clone();
        garbled[i] ^= 0x5a;
        let err = EngineCheckpoint::from_bytes(&garbled).expect_err("a modified byte");
        if i >= 16 {
            assert!(matches!(err, RestoreError::Corrupt(_)), "byte {i}: {err}");
        }
    }
    assert!(matches!(
        EngineCheckpoint::from_bytes(b"not a checkpoint at all"),
        Err(RestoreError::NotACheckpoint)
    ));
}

#[test]
fn a_checkpoint_of_another_version_is_refused() {
    let mut bytes = busy_engine().checkpoint().to_bytes();
    bytes[12] = bytes[12].wrapping_add(1);
    assert!(matches!(
        EngineCheckpoint::from_bytes(&bytes),
        Err(RestoreError::Version { .. })
    ));
}

/// Damage the body but fix the checksum, as a buggy writer would: restoring
/// and running on must report an error or carry on, never panic.
#[test]
fn damaged_state_with_a_valid_checksum_never_panics() {
    let bytes = busy_engine().checkpoint().to_bytes();
    let (header, body) = bytes.split_at(16 + 32);
    let later: Input = (0..30).map(|i| (250, i % 4, (i * 11) % 25)).collect();
    let mut restored = 0;
    for i in (0..body.len()).step_by(3) {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut body = body.to_vec();
            body[i] ^= flip;
            let mut framed = header[..16].to_vec();
            framed.extend_from_slice(blake3::hash(&body).as_bytes());
            framed.extend_from_slice(&body);
            let Ok(cp) = EngineCheckpoint::from_bytes(&framed) else {
                continue;
            };
            let Ok((mut engine, _)) = Engine::restore(bind(RULES), cp) else {
                continue;
            };
            restored += 1;
            drive(&mut engine, &later, &mut 100_000, &mut Vec::new());
        }
    }
    assert!(
        restored > 0,
        "some damage still decodes (and must not panic)"
    );
}

#[test]
fn restoring_into_edited_rules_reports_what_lost_its_state() {
    let cp = busy_engine().checkpoint();
    let edited = RULES
        .replace("#time(5 sec) group by k", "#time(6 sec) group by k")
        .replace("@name('pairs')", "@name('renamed')");
    let (engine, report) = Engine::restore(bind(&edited), cp).expect("restores");
    assert_eq!(report.reset.len(), 1, "{report:?}");
    assert_eq!(report.reset[0].statement, "grouped");
    assert_eq!(report.added, vec!["renamed".to_string()]);
    assert_eq!(report.dropped, vec!["pairs".to_string()]);
    assert_eq!(report.restored.len(), 8);
    let named = |n: &str| {
        engine
            .statements()
            .iter()
            .find(|s| s.plan.name == n)
            .expect("a running statement")
    };
    assert_eq!(named("grouped").group_count(), 0, "`grouped` starts fresh");
    assert!(named("big").window_len() > 0, "`big` kept its window");
    assert!(
        named("pattern").pattern_instances() > 0,
        "`pattern` kept its instances"
    );
}
