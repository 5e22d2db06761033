//! Property: a window that keeps aggregate inputs (`WindowStorage::AggregateInputs`)
//! delivers exactly what the same statement over a window of events delivers,
//! for random statements the binder plans that way (every eligible window
//! kind, grouped and not, `where`, `having`, every aggregate, every stream
//! selector, `order by`/`limit`) and random inputs; and it continues
//! identically after a checkpoint taken at a random step.
use cepheus_engine::plan::WindowStorage;
use cepheus_engine::{
    BoundScript, Delivery, Engine, EngineCheckpoint, EventTime, TypeRegistry, Value, bind_script,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Query {
    window: String,
    grouped: bool,
    filter: Option<i64>,
    having: Option<i64>,
    selector: &'static str,
    aggregates: Vec<&'static str>,
    order: bool,
}

impl Query {
    fn epl(&self) -> String {
        let key = if self.grouped { "k, " } else { "" };
        let aggs: Vec<String> = self
            .aggregates
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{a} as a{i}"))
            .collect();
        let filter = self
            .filter
            .map(|x| format!(" where v is null or v > {x}"))
            .unwrap_or_default();
        let group = if self.grouped { " group by k" } else { "" };
        let having = self
            .having
            .map(|x| format!(" having count(*) > 1 or sum(v) > {x}"))
            .unwrap_or_default();
        let order = match (self.order, self.grouped) {
            (true, true) => " order by k desc limit 2",
            (true, false) => " order by count(*) limit 1",
            _ => "",
        };
        format!(
            "create schema E(k long, v long, f double, s string);\n@name('q') select {}{key}{} from E{}{filter}{group}{having}{order};",
            self.selector,
            aggs.join(", "),
            self.window
        )
    }
}

fn bind(src: &str, storage: Option<WindowStorage>) -> BoundScript {
    let script = cepheus_parser::parse_script(src).expect("the generated statement parses");
    let mut bound = bind_script(src, &script, &TypeRegistry::default()).expect("and binds");
    for plan in &mut bound.statements {
        assert_eq!(
            plan.storage,
            WindowStorage::AggregateInputs,
            "the binder keeps aggregate inputs for {src}"
        );
        if let Some(s) = storage {
            plan.storage = s;
        }
    }
    bound
}

type Ev = (i64, i64, Option<i64>);

/// Deliveries of `src` over `events`, restored from a checkpoint before
/// event `checkpoint_at` when given.
fn run(
    src: &str,
    storage: WindowStorage,
    events: &[Ev],
    checkpoint_at: Option<usize>,
) -> Vec<Delivery> {
    let mut engine = Engine::new(bind(src, Some(storage)), EventTime(0)).expect("engine");
    let mut out = Vec::new();
    let mut t = 0;
    for (i, &(gap, k, v)) in events.iter().enumerate() {
        if checkpoint_at == Some(i) {
            let bytes = engine.checkpoint().to_bytes();
            let cp = EngineCheckpoint::from_bytes(&bytes).expect("the checkpoint reads back");
            let (restored, report) =
                Engine::restore(bind(src, Some(storage)), cp).expect("and restores");
            assert_eq!(report.restored.len(), 1, "{report:?}");
            engine = restored;
        }
        t += gap;
        engine.advance_to(EventTime(t), &mut out);
        let ty = engine.registry().get("E").cloned().expect("type E");
        let fields = vec![
            Value::Int(k),
            v.map_or(Value::Null, Value::Int),
            v.map_or(Value::Null, |v| Value::Float(v as f64 / 3.0)),
            // Strings compare otherwise than the numbers they name ("s10" < "s9").
            v.map_or(Value::Null, |v| Value::str(&format!("s{v}"))),
        ]
        .into_boxed_slice();
        engine.send(&ty, fields, &mut out);
    }
    engine.advance_to(EventTime(t + 1_000_000), &mut out);
    out
}

fn query() -> impl Strategy<Value = Query> {
    let window = prop_oneof![
        Just(String::new()),
        (1usize..6).prop_map(|n| format!("#length({n})")),
        (1usize..5).prop_map(|n| format!("#length_batch({n})")),
        (1i64..5000).prop_map(|ms| format!("#time({ms} msec)")),
        (1i64..5000).prop_map(|ms| format!(".win:time_batch({ms} msec)")),
    ];
    let aggregate = prop_oneof![
        Just("count(*)"),
        Just("count(v)"),
        Just("count(distinct v)"),
        Just("sum(v)"),
        Just("sum(f)"),
        Just("avg(f)"),
        Just("min(v)"),
        Just("max(f)"),
        Just("stddev(f)"),
        Just("first(v)"),
        Just("last(f)"),
        Just("sum(v * 2 + 1)"),
        Just("min(s)"),
        Just("max(s)"),
        Just("count(distinct s)"),
        Just("last(s)"),
    ];
    (
        window,
        any::<bool>(),
        proptest::option::of(-3i64..15),
        proptest::option::of(-5i64..40),
        prop_oneof![Just(""), Just("irstream "), Just("rstream ")],
        proptest::collection::vec(aggregate, 1..4),
        any::<bool>(),
    )
        .prop_map(
            |(window, grouped, filter, having, selector, aggregates, order)| Query {
                window,
                grouped,
                filter,
                having,
                selector,
                aggregates,
                order,
            },
        )
}

/// Events with gaps below `max_gap` ms over keys `0..keys`, `len` of them.
fn events_of(
    max_gap: i64,
    keys: i64,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Ev>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(0i64), 1i64..max_gap],
            0i64..keys,
            proptest::option::weighted(0.85, -5i64..20),
        ),
        len,
    )
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    events_of(2000, 4, 0..60)
}

/// Many keys, each in the window for a short while: groups keep leaving
/// (their slots freed, the last group moving into their place) and coming
/// back (slots reused).
fn churning_events() -> impl Strategy<Value = Vec<Ev>> {
    events_of(300, 300, 200..700)
}

fn same_delivery(q: &Query, evs: &[Ev], at: usize) -> Result<(), TestCaseError> {
    let src = q.epl();
    let events = run(&src, WindowStorage::Events, evs, None);
    let inputs = run(&src, WindowStorage::AggregateInputs, evs, None);
    prop_assert_eq!(&inputs, &events, "{}", src);
    let resumed = run(&src, WindowStorage::AggregateInputs, evs, Some(at));
    prop_assert_eq!(
        &resumed,
        &events,
        "{} (checkpoint before event {})",
        src,
        at
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn aggregate_inputs_deliver_what_events_deliver(q in query(), evs in events(), at in 0usize..60) {
        same_delivery(&q, &evs, at)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn groups_of_many_keys_come_and_go(
        q in query().prop_map(|q| Query { grouped: true, ..q }),
        evs in churning_events(),
        at in 0usize..700,
    ) {
        same_delivery(&q, &evs, at)?;
    }
}

#[test]
fn the_binder_keeps_events_where_rows_read_them() {
    let cases = [
        // A plain column that is not a key: one row per event.
        "select k, v, count(*) as n from E#time(1 sec) group by k",
        // A group key that is an expression: rows read the event's `v`.
        "select v, count(*) as n from E#time(1 sec) group by abs(v)",
        // `having` reads a field that is not a key.
        "select k, count(*) as n from E#length(3) group by k having v > 1",
        // Output limiting reads events.
        "select k, count(*) as n from E#length(3) group by k output last every 2 events",
        // Windows whose events leave for other reasons.
        "select k, count(*) as n from E#unique(k) group by k",
        "select count(*) as n from E#length(2)#time(1 sec)",
        "select k, count(*) as n from E#groupwin(k)#length(2) group by k",
        // No aggregation.
        "select k, v from E#time(1 sec)",
    ];
    for stmt in cases {
        let src = format!("create schema E(k long, v long, f double);\n{stmt};");
        let script = cepheus_parser::parse_script(&src).expect("parses");
        let bound = bind_script(&src, &script, &TypeRegistry::default()).expect("binds");
        assert_eq!(bound.statements[0].storage, WindowStorage::Events, "{stmt}");
    }
}
