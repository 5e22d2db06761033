//! A session whose statements come and go while the engine runs (the REPL):
//! `Engine::add_statements` and `Engine::remove_statement`.
use cepheus_engine::{BoundScript, Delivery, Engine, EventTime, Value, bind_script};

fn bind(engine: &Engine, src: &str) -> BoundScript {
    let script = cepheus_parser::parse_script(src).expect("the statement parses");
    bind_script(src, &script, engine.registry()).expect("and binds")
}

fn send(engine: &mut Engine, t: i64, ty: &str, fields: Vec<Value>) -> Vec<Delivery> {
    let mut out = Vec::new();
    engine.advance_to(EventTime(t), &mut out);
    let ty = engine
        .registry()
        .get(ty)
        .cloned()
        .expect("the type is declared");
    engine.send(&ty, fields.into_boxed_slice(), &mut out);
    out
}

fn names(engine: &Engine, out: &[Delivery]) -> Vec<String> {
    out.iter()
        .map(|d| engine.plan(d.statement).name.clone())
        .collect()
}

#[test]
fn added_statements_see_only_later_events_and_start_at_engine_time() {
    let mut engine = Engine::new(
        bind(
            &Engine::new(BoundScript::default(), EventTime(0)).expect("empty"),
            "create schema E(k string, v long);",
        ),
        EventTime(0),
    )
    .expect("engine");
    assert!(engine.statements().is_empty());
    send(
        &mut engine,
        1_000,
        "E",
        vec![Value::str("a"), Value::Int(1)],
    );

    let bound = bind(
        &engine,
        "@name('sum') select k, sum(v) as s from E#time(1 sec) group by k;",
    );
    let ids = engine.add_statements(bound).expect("added");
    assert_eq!(ids, vec![0]);

    // The event before the statement existed is not counted.
    let out = send(
        &mut engine,
        1_500,
        "E",
        vec![Value::str("a"), Value::Int(2)],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].output.insert,
        vec![vec![Value::str("a"), Value::Int(2)]]
    );

    // The event at 1500 leaves the 1-second window at 2500.
    let mut out = Vec::new();
    engine.advance_to(EventTime(2_499), &mut out);
    assert!(out.is_empty(), "{out:?}");
    engine.advance_to(EventTime(2_500), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].output.insert,
        vec![vec![Value::str("a"), Value::Null]]
    );
}

#[test]
fn schemas_declared_later_extend_the_registry_and_keep_type_ids() {
    let mut engine = Engine::new(
        bind(
            &Engine::new(BoundScript::default(), EventTime(0)).expect("empty"),
            "create schema A(x long); @name('a') select x from A;",
        ),
        EventTime(0),
    )
    .expect("engine");
    let a_id = engine.registry().get("A").map(|t| t.id);
    let bound = bind(
        &engine,
        "create schema B(y long); @name('b') insert into C select y * 2 as z from B; \
         @name('c') select z from C;",
    );
    assert_eq!(engine.add_statements(bound).expect("added"), vec![1, 2]);
    assert_eq!(engine.registry().get("A").map(|t| t.id), a_id);
    let out = send(&mut engine, 1, "B", vec![Value::Int(21)]);
    assert_eq!(names(&engine, &out), ["b", "c"]);
    assert_eq!(out[1].output.insert, vec![vec![Value::Int(42)]]);
    let out = send(&mut engine, 2, "A", vec![Value::Int(7)]);
    assert_eq!(names(&engine, &out), ["a"]);
}

#[test]
fn removed_statements_stop_and_the_others_keep_their_ids() {
    let src = "create schema E(v long); @name('first') select v from E; \
               @name('second') select v + 1 as w from E; @name('third') select count(*) as n from E;";
    let base = Engine::new(BoundScript::default(), EventTime(0)).expect("empty");
    let mut engine = Engine::new(bind(&base, src), EventTime(0)).expect("engine");
    assert!(engine.remove_statement("second"));
    assert!(!engine.remove_statement("second"), "already removed");
    assert_eq!(engine.statement_ids(), [0, 2]);

    let out = send(&mut engine, 1, "E", vec![Value::Int(5)]);
    let ids: Vec<usize> = out.iter().map(|d| d.statement).collect();
    assert_eq!(ids, [0, 2], "ids stay stable after a removal");
    assert_eq!(names(&engine, &out), ["first", "third"]);

    // A new statement gets a fresh id, never a removed one's.
    let bound = bind(&engine, "@name('second') select v * 10 as w from E;");
    assert_eq!(
        engine.add_statements(bound).expect("name is free again"),
        vec![3]
    );
    let out = send(&mut engine, 2, "E", vec![Value::Int(5)]);
    assert_eq!(names(&engine, &out), ["first", "third", "second"]);
    assert_eq!(out[2].output.insert, vec![vec![Value::Int(50)]]);
}

#[test]
fn duplicate_names_and_foreign_registries_are_rejected_without_changes() {
    let base = Engine::new(BoundScript::default(), EventTime(0)).expect("empty");
    let mut engine = Engine::new(
        bind(
            &base,
            "create schema E(v long); @name('q') select v from E;",
        ),
        EventTime(0),
    )
    .expect("engine");
    let dup = bind(
        &engine,
        "@name('ok') select v from E; @name('q') select v from E;",
    );
    let err = engine.add_statements(dup).expect_err("q is running");
    assert_eq!(err.statement, "q");
    assert_eq!(engine.statement_ids(), [0], "nothing was added");

    let other = bind(&base, "create schema Other(s string);");
    assert!(
        engine.add_statements(other).is_err(),
        "E is missing from that registry"
    );
    assert!(engine.registry().get("Other").is_none());
}
