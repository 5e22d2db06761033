//! The binder rejects what Esper rejects, with a span on the offending text
//! and a message that says what to write instead.
use cepheus_engine::{BindError, TypeRegistry, bind_script};

const SCHEMAS: &str = "create schema A(id string, v int);\ncreate schema B(id string);\n";

fn bind_errors(statement: &str) -> (String, Vec<BindError>) {
    let src = format!("{SCHEMAS}{statement}");
    let script = cepheus_parser::parse_script(&src).expect("the statement parses");
    let errors = match bind_script(&src, &script, &TypeRegistry::default()) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    };
    (src, errors)
}

#[test]
fn indexing_a_tag_that_is_not_repeated_is_an_error() {
    let (src, errors) = bind_errors("select a[0].v as v from pattern [every a=A -> b=B];");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert!(e.message.contains("not repeated"), "{}", e.message);
    assert!(
        e.help.as_deref().is_some_and(|h| h.contains("a.field")),
        "{e:?}"
    );
    assert_eq!(&src[e.span.start..e.span.end], "a[0].v");
}

#[test]
fn indexing_a_repeated_tag_binds() {
    for ok in [
        "select a[0].v as v0, a[1].v as v1 from pattern [[2] a=A];",
        "select a[0].id as a0, b.id as b from pattern [every ([2] a=A -> b=B)];",
        "select a[1].v as v from pattern [every [3] (a=A where timer:within(10 sec))];",
    ] {
        let (_, errors) = bind_errors(ok);
        assert!(errors.is_empty(), "{ok}: {errors:?}");
    }
}

#[test]
fn indexing_a_stream_property_is_an_error() {
    let (_, errors) = bind_errors("select v[0] from A;");
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn several_windows_bind_as_an_intersection() {
    for ok in [
        "select * from A#unique(id)#time(30 sec);",
        "select * from A.std:unique(id).win:time(30 sec);",
        "select * from A#unique(id)#length_batch(3);",
        "select * from A#groupwin(id)#length(2)#time(5 sec);",
    ] {
        let (_, errors) = bind_errors(ok);
        assert!(errors.is_empty(), "{ok}: {errors:?}");
    }
}

#[test]
fn unsupported_window_combinations_are_errors() {
    for (bad, text, message) in [
        (
            "select * from A#length_batch(2)#time_batch(5 sec);",
            "#time_batch(5 sec)",
            "only one batch window",
        ),
        (
            "@Hint('retain-union') select * from A#unique(id)#time(5 sec);",
            "#time(5 sec)",
            "retain-union",
        ),
        (
            "select * from A#length(2)#groupwin(id)#time(5 sec);",
            "#groupwin(id)",
            "must come first",
        ),
    ] {
        let (src, errors) = bind_errors(bad);
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        let e = &errors[0];
        assert!(e.message.contains(message), "{bad}: {}", e.message);
        assert_eq!(&src[e.span.start..e.span.end], text, "{bad}");
    }
}
