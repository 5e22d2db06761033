//! Property: on random event sequences, the pattern matcher (driven through
//! the engine) delivers exactly what a brute-force enumeration of the
//! pattern's meaning gives, delivery by delivery:
//! - `every a=A -> b=B(k = a.k) where timer:within(T)`: each A is completed by
//!   the first later B with its key arriving before A's time + T (a B exactly
//!   at + T is too late: the timer fires first);
//! - `every a=A -> (timer:interval(T) and not B(k = a.k))`: each A alerts at
//!   its time + T unless a later B with its key arrived before then.
use cepheus_engine::{Engine, EventTime, TypeRegistry, Value, bind_script};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Ev {
    gap: i64,
    is_b: bool,
    k: i64,
}

/// Deliveries as (time, sorted rows of (a id, b id or null)).
type Deliveries = Vec<(i64, Vec<(i64, Option<i64>)>)>;

fn engine_output(pattern: &str, select: &str, events: &[Ev], end: i64) -> Deliveries {
    let src = format!(
        "create schema A(id long, k long);\ncreate schema B(id long, k long);\n\
         @name('p') select {select} from pattern [{pattern}];"
    );
    let script = cepheus_parser::parse_script(&src).expect("the statement parses");
    let bound = bind_script(&src, &script, &TypeRegistry::default()).expect("and binds");
    let a = bound.registry.get("A").cloned().expect("A");
    let b = bound.registry.get("B").cloned().expect("B");
    let mut engine = Engine::new(bound, EventTime(0)).expect("patterns are supported");
    let mut out = Vec::new();
    let mut t = 0;
    for (i, e) in events.iter().enumerate() {
        t += e.gap;
        engine.advance_to(EventTime(t), &mut out);
        let fields = vec![Value::Int(i as i64), Value::Int(e.k)].into_boxed_slice();
        engine.send(if e.is_b { &b } else { &a }, fields, &mut out);
    }
    engine.advance_to(EventTime(end), &mut out);
    out.into_iter()
        .map(|d| {
            let mut rows: Vec<(i64, Option<i64>)> = d
                .output
                .insert
                .iter()
                .map(|r| {
                    let id = |v: &Value| match v {
                        Value::Int(i) => Some(*i),
                        _ => None,
                    };
                    (id(&r[0]).unwrap_or(-1), r.get(1).and_then(id))
                })
                .collect();
            rows.sort();
            (d.time.0, rows)
        })
        .collect()
}

fn times(events: &[Ev]) -> Vec<i64> {
    events
        .iter()
        .scan(0, |t, e| {
            *t += e.gap;
            Some(*t)
        })
        .collect()
}

fn brute_within(events: &[Ev], within: i64) -> Deliveries {
    let ts = times(events);
    let mut out = Vec::new();
    for (j, b) in events.iter().enumerate() {
        if !b.is_b {
            continue;
        }
        // The As that B completes: same key, before B, B before the deadline,
        // and no earlier B already completed them.
        let mut rows: Vec<(i64, Option<i64>)> = (0..j)
            .filter(|&i| {
                let a = &events[i];
                !a.is_b
                    && a.k == b.k
                    && ts[j] < ts[i] + within
                    && !(i + 1..j).any(|m| events[m].is_b && events[m].k == a.k)
            })
            .map(|i| (i as i64, Some(j as i64)))
            .collect();
        if !rows.is_empty() {
            rows.sort();
            out.push((ts[j], rows));
        }
    }
    out
}

fn brute_absence(events: &[Ev], interval: i64) -> Deliveries {
    let ts = times(events);
    let mut alerts: std::collections::BTreeMap<i64, Vec<(i64, Option<i64>)>> = Default::default();
    for (i, a) in events.iter().enumerate() {
        if a.is_b {
            continue;
        }
        let deadline = ts[i] + interval;
        let answered =
            (i + 1..events.len()).any(|m| events[m].is_b && events[m].k == a.k && ts[m] < deadline);
        if !answered {
            alerts.entry(deadline).or_default().push((i as i64, None));
        }
    }
    alerts
        .into_iter()
        .map(|(t, mut rows)| {
            rows.sort();
            (t, rows)
        })
        .collect()
}

fn arb_events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (0i64..15, any::<bool>(), 0i64..3).prop_map(|(gap, is_b, k)| Ev { gap, is_b, k }),
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn followed_by_within_matches_brute_force(events in arb_events(), within in 1i64..40) {
        let end = times(&events).last().copied().unwrap_or(0) + within + 1;
        let got = engine_output(
            &format!("every a=A -> b=B(k = a.k) where timer:within({within} msec)"),
            "a.id as aid, b.id as bid",
            &events,
            end,
        );
        prop_assert_eq!(got, brute_within(&events, within));
    }

    #[test]
    fn interval_and_not_matches_brute_force(events in arb_events(), interval in 1i64..40) {
        let end = times(&events).last().copied().unwrap_or(0) + interval + 1;
        let got = engine_output(
            &format!("every a=A -> (timer:interval({interval} msec) and not B(k = a.k))"),
            "a.id as aid",
            &events,
            end,
        );
        prop_assert_eq!(got, brute_absence(&events, interval));
    }
}
