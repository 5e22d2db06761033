//! `insert into` routing: a cascade that never ends (a statement feeding
//! its own input) is cut off and counted, and leaves nothing behind for the
//! next step.
use cepheus_engine::{Delivery, Engine, EventTime, TypeRegistry, Value, bind_script};

fn send(engine: &mut Engine, t: i64, v: i64) -> Vec<Delivery> {
    let mut out = Vec::new();
    engine.advance_to(EventTime(t), &mut out);
    let ty = engine.registry().get("S").cloned().expect("S is declared");
    engine.send(&ty, vec![Value::Int(v)].into_boxed_slice(), &mut out);
    out
}

/// The values of the rows delivered, in order.
fn values(out: &[Delivery]) -> Vec<i64> {
    out.iter()
        .flat_map(|d| &d.output.insert)
        .map(|row| match row.as_slice() {
            [Value::Int(v)] => *v,
            other => panic!("unexpected row {other:?}"),
        })
        .collect()
}

#[test]
fn a_statement_feeding_its_own_input_is_cut_off_and_leaves_nothing_behind() {
    // Two statements feed S from S: every event routes two more, so the
    // queue is long when the cascade is cut off.
    let src = "create schema S(v long);\n\
               @name('a') insert into S select v + 1 as v from S;\n\
               @name('b') insert into S select v + 1 as v from S;";
    let script = cepheus_parser::parse_script(src).expect("parses");
    let bound = bind_script(src, &script, &TypeRegistry::default()).expect("binds");
    let mut engine = Engine::new(bound, EventTime(0)).expect("engine");

    let first = values(&send(&mut engine, 1, 0));
    let cut = engine.routing_overflows;
    assert!(
        cut > 1000,
        "the cascade was not cut off with a queue: {cut}"
    );
    // First produced, first routed: each generation before the next.
    assert!(first.len() > 1000, "only {} rows", first.len());
    assert!(first.windows(2).all(|w| w[0] <= w[1]), "out of order");
    assert_eq!(&first[..6], &[1, 1, 2, 2, 2, 2]);

    // The next step starts from its own event only: same rows, same cut.
    let second = values(&send(&mut engine, 2, 0));
    assert_eq!(second, first);
    assert_eq!(engine.routing_overflows, 2 * cut);
}
