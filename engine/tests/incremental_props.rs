//! Property: for random event sequences and random statements from a small
//! grammar, the incremental engine delivers, step by step, exactly what a
//! brute-force recomputation over the retained events gives.
use cepheus_engine::{Engine, EventTime, TypeRegistry, Value, bind_script};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Win {
    Length(usize),
    Time(i64),
    KeepAll,
    /// `#length(n)#time(ms)`: retained while both windows hold the event.
    LengthTime(usize, i64),
    /// `#groupwin(k)#time(ms)`: retains what `#time(ms)` does, one sub-window per key.
    GroupTime(i64),
    /// `#groupwin(k)#length(n)`: the last n events of each key.
    GroupLength(usize),
    /// `#ext_timed(v, ms)`: the timestamps are the values (null: engine
    /// time), arriving out of order.
    ExtTimed(i64),
    /// `#unique(k)#time(ms)`: the latest event of each key, while under ms old.
    UniqueTime(i64),
}

#[derive(Debug, Clone)]
struct Query {
    window: Win,
    grouped: bool,
    having: Option<i64>,
}

#[derive(Debug, Clone)]
struct Ev {
    gap: i64,
    key: i64,
    v: Option<i64>,
}

impl Query {
    fn epl(&self) -> String {
        let win = match self.window {
            Win::Length(n) => format!("#length({n})"),
            Win::Time(ms) => format!("#time({ms} msec)"),
            Win::KeepAll => "#keepall".into(),
            Win::LengthTime(n, ms) => format!("#length({n})#time({ms} msec)"),
            Win::GroupTime(ms) => format!("#groupwin(k)#time({ms} msec)"),
            Win::GroupLength(n) => format!("#groupwin(k)#length({n})"),
            Win::ExtTimed(ms) => format!("#ext_timed(v, {ms} msec)"),
            Win::UniqueTime(ms) => format!("#unique(k)#time({ms} msec)"),
        };
        let key = if self.grouped { "k, " } else { "" };
        let group = if self.grouped { " group by k" } else { "" };
        let having = self
            .having
            .map(|x| format!(" having sum(v) > {x}"))
            .unwrap_or_default();
        format!(
            "create schema E(k long, v long);\n@name('q') select {key}count(*) as c, count(v) as cv, sum(v) as s, \
             min(v) as mn, max(v) as mx, avg(v) as a from E{win}{group}{having};"
        )
    }
}

type Row = Vec<Value>;

fn engine_output(q: &Query, events: &[Ev]) -> Vec<(i64, Vec<Row>)> {
    let src = q.epl();
    let script = cepheus_parser::parse_script(&src).expect("the generated statement parses");
    let bound = bind_script(&src, &script, &TypeRegistry::default()).expect("and binds");
    let ty = bound.registry.get("E").cloned().expect("type E");
    let mut engine = Engine::new(bound, EventTime(0)).expect("engine");
    let mut out = Vec::new();
    let mut t = 0;
    for e in events {
        t += e.gap;
        engine.advance_to(EventTime(t), &mut out);
        let fields =
            vec![Value::Int(e.key), e.v.map_or(Value::Null, Value::Int)].into_boxed_slice();
        engine.send(&ty, fields, &mut out);
    }
    let mut steps: Vec<(i64, Vec<Row>)> = out
        .into_iter()
        .map(|d| (d.time.0, d.output.insert))
        .collect();
    steps
        .iter_mut()
        .for_each(|(_, rows)| rows.sort_by_key(|r| format!("{r:?}")));
    steps
}

fn brute_force(q: &Query, events: &[Ev]) -> Vec<(i64, Vec<Row>)> {
    let mut times = Vec::new();
    let mut t = 0;
    for e in events {
        t += e.gap;
        times.push(t);
    }
    let last = times.last().copied().unwrap_or(0);
    let mut window: Vec<usize> = Vec::new(); // indices of retained events
    let mut out = Vec::new();
    let row_for = |window: &[usize], key: Option<i64>| -> Option<Row> {
        let members: Vec<&Ev> = window
            .iter()
            .map(|i| &events[*i])
            .filter(|e| key.is_none_or(|k| e.key == k))
            .collect();
        let vals: Vec<i64> = members.iter().filter_map(|e| e.v).collect();
        let sum = (!vals.is_empty()).then(|| vals.iter().sum::<i64>());
        if let Some(x) = q.having
            && sum.is_none_or(|s| s <= x)
        {
            return None;
        }
        let mut row = Vec::new();
        if let Some(k) = key {
            row.push(Value::Int(k));
        }
        row.push(Value::Int(members.len() as i64));
        row.push(Value::Int(vals.len() as i64));
        row.push(sum.map_or(Value::Null, Value::Int));
        row.push(vals.iter().min().map_or(Value::Null, |m| Value::Int(*m)));
        row.push(vals.iter().max().map_or(Value::Null, |m| Value::Int(*m)));
        row.push(sum.map_or(Value::Null, |s| Value::Float(s as f64 / vals.len() as f64)));
        Some(row)
    };
    let post = |now: i64, window: &[usize], changed: Vec<i64>, out: &mut Vec<(i64, Vec<Row>)>| {
        let mut rows = Vec::new();
        if q.grouped {
            let mut keys = changed;
            keys.sort();
            keys.dedup();
            rows.extend(keys.into_iter().filter_map(|k| row_for(window, Some(k))));
        } else {
            rows.extend(row_for(window, None));
        }
        if !rows.is_empty() {
            rows.sort_by_key(|r| format!("{r:?}"));
            out.push((now, rows));
        }
    };
    for (i, e) in events.iter().enumerate() {
        let now = times[i];
        if let Win::Time(ms) | Win::LengthTime(_, ms) | Win::GroupTime(ms) | Win::UniqueTime(ms) =
            q.window
        {
            // Expiries due up to now, one step per distinct expiry time.
            loop {
                let due = window
                    .iter()
                    .map(|j| times[*j] + ms)
                    .filter(|x| *x <= now.min(last))
                    .min();
                let Some(at) = due else { break };
                let (gone, kept): (Vec<usize>, Vec<usize>) =
                    window.iter().partition(|j| times[**j] + ms <= at);
                window = kept;
                post(
                    at,
                    &window,
                    gone.iter().map(|j| events[*j].key).collect(),
                    &mut out,
                );
            }
        }
        window.push(i);
        let mut changed = vec![e.key];
        if let Win::Length(n) | Win::LengthTime(n, _) = q.window
            && window.len() > n
        {
            let gone = window.remove(0);
            changed.push(events[gone].key);
        }
        if let Win::UniqueTime(_) = q.window
            && let Some(pos) = window
                .iter()
                .position(|j| *j != i && events[*j].key == e.key)
        {
            let gone = window.remove(pos);
            changed.push(events[gone].key);
        }
        if let Win::ExtTimed(ms) = q.window {
            let ts = |j: usize| events[j].v.unwrap_or(times[j]);
            let newest = window.iter().map(|j| ts(*j)).max().unwrap_or(0);
            let (gone, kept): (Vec<usize>, Vec<usize>) =
                window.iter().partition(|j| ts(**j) <= newest - ms);
            window = kept;
            changed.extend(gone.iter().map(|j| events[*j].key));
        }
        if let Win::GroupLength(n) = q.window
            && window.iter().filter(|j| events[**j].key == e.key).count() > n
            && let Some(pos) = window.iter().position(|j| events[*j].key == e.key)
        {
            window.remove(pos);
        }
        post(now, &window, changed, &mut out);
    }
    out
}

fn query() -> impl Strategy<Value = Query> {
    let window = prop_oneof![
        (1usize..6).prop_map(Win::Length),
        (1i64..5000).prop_map(Win::Time),
        Just(Win::KeepAll),
        ((1usize..6), (1i64..5000)).prop_map(|(n, ms)| Win::LengthTime(n, ms)),
        (1i64..5000).prop_map(Win::GroupTime),
        (1usize..4).prop_map(Win::GroupLength),
        (1i64..15).prop_map(Win::ExtTimed),
        (1i64..5000).prop_map(Win::UniqueTime),
    ];
    (window, any::<bool>(), proptest::option::of(-5i64..40)).prop_map(
        |(window, grouped, having)| Query {
            window,
            grouped,
            having,
        },
    )
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(0i64), 1i64..2000],
            0i64..3,
            proptest::option::weighted(0.85, -5i64..20),
        )
            .prop_map(|(gap, key, v)| Ev { gap, key, v }),
        0..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn incremental_equals_brute_force(q in query(), evs in events()) {
        prop_assert_eq!(engine_output(&q, &evs), brute_force(&q, &evs), "{}", q.epl());
    }
}
