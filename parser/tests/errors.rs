//! Error messages, positions and help for common mistakes; the depth limit.

use cepheus_parser::*;

fn err(src: &str) -> ParseError {
    match parse_script(src) {
        Ok(s) => panic!("{src}: parsed as {s}"),
        Err(e) => e,
    }
}

fn help(e: &ParseError) -> &str {
    e.help.as_deref().unwrap_or("")
}

#[test]
fn expected_and_found_with_unclosed_paren() {
    let src = "select f(a, b from T";
    let e = err(src);
    assert_eq!(e.message, "expected `)`, found `from`");
    assert_eq!(e.kind, ParseErrorKind::UnexpectedToken);
    assert_eq!(&src[e.span.start..e.span.end], "from");
    assert_eq!(e.expected, ["`)`"]);
    assert!(
        help(&e).contains("this `(` (line 1, column 9) is not closed"),
        "{e:?}"
    );
}

#[test]
fn unclosed_bracket_at_end_is_incomplete() {
    for src in [
        "select a from T where (x = 1",
        "select * from pattern [every A",
        "select f(1",
    ] {
        let e = err(src);
        assert_eq!(e.kind, ParseErrorKind::UnexpectedEof, "{src}");
        assert!(e.is_incomplete());
        assert!(help(&e).contains("is not closed"), "{src}: {e:?}");
    }
}

#[test]
fn statement_not_finished_is_unexpected_eof() {
    for src in [
        "select",
        "select a from",
        "select a from T where",
        "create schema A(",
        "@name('x')",
    ] {
        let e = err(src);
        assert_eq!(e.kind, ParseErrorKind::UnexpectedEof, "{src}: {e:?}");
        assert!(
            e.message.ends_with("found end of input"),
            "{src}: {}",
            e.message
        );
    }
}

#[test]
fn missing_semicolon_between_statements() {
    for (src, found) in [
        ("select a from T\nselect b from U", "select"),
        (
            "select a from T where x = 1 @name('b') select b from U",
            "@",
        ),
        ("create schema A(x int) create schema B(y int)", "create"),
        ("select a from T insert into X select b from U", "insert"),
    ] {
        let e = err(src);
        assert_eq!(e.message, format!("expected `;`, found `{found}`"), "{src}");
        assert_eq!(
            help(&e),
            "missing `;` after the previous statement?",
            "{src}"
        );
    }
}

#[test]
fn win_time_without_dot() {
    let src = "select * from Reading win:time(30 sec)";
    let e = err(src);
    assert!(help(&e).contains("`.win:time(...)`"), "{e:?}");
    assert!(help(&e).contains("`#time(...)`"), "{e:?}");
    assert_eq!(&src[e.span.start..e.span.end], "win");
}

#[test]
fn namespace_after_hash() {
    let e = err("select * from T#win:time(1 min)");
    assert_eq!(
        help(&e),
        "write `#time(...)`, or `.win:time(...)` without the `#`"
    );
}

#[test]
fn unknown_window_suggests_the_closest() {
    let e = err("select * from T#time_bach(1 min)");
    assert_eq!(e.kind, ParseErrorKind::UnknownView);
    assert_eq!(e.message, "unknown window `time_bach`");
    assert_eq!(help(&e), "did you mean `time_batch`?");
    let e = err("select * from T.win:lenght(5)");
    assert_eq!(help(&e), "did you mean `length`?");
    let e = err("select * from T.std:uniq(a)");
    assert_eq!(help(&e), "did you mean `unique`?");
    let e = err("select * from T#sliding_window_thing(1)");
    assert!(help(&e).starts_with("the windows are"), "{e:?}");
    let e = err("select * from T.foo:time(1)");
    assert_eq!(e.kind, ParseErrorKind::UnknownView);
}

#[test]
fn unterminated_string_and_comment() {
    let src = "select 'abc from T";
    let e = err(src);
    assert_eq!(e.kind, ParseErrorKind::UnterminatedString);
    assert_eq!(e.span.start, 7);
    assert!(e.is_incomplete());
    let e = err("select a /* comment from T");
    assert_eq!(e.kind, ParseErrorKind::UnterminatedComment);
    assert_eq!(e.span.start, 9);
    assert!(help(&e).contains("*/"));
}

#[test]
fn error_on_line_three_has_line_and_column() {
    let src = "select a,\n       b\nfrom T where x = )";
    let e = err(src);
    assert_eq!(e.line_col(src), (3, 18));
    assert_eq!(line_col(src, e.span.start), (3, 18));
    assert_eq!(e.message, "expected expression, found `)`");
    let report = format!("{:?}", e.clone().with_source("rules/r.epl", src));
    assert!(report.contains("rules/r.epl:3:18"), "{report}");
    assert!(
        report.contains("expected expression, found `)`"),
        "{report}"
    );
}

#[test]
fn source_diagnostic_wrapper() {
    let src = "select * from T#time_bach(1)";
    let d = err(src).into_source_diagnostic("x.epl", src);
    let text = format!("{:?}", miette::Report::new(d));
    assert!(text.contains("x.epl:1:17"), "{text}");
    assert!(text.contains("did you mean `time_batch`?"), "{text}");
}

#[test]
fn keyword_as_identifier() {
    let e = err("select a as from from T");
    assert_eq!(e.message, "expected identifier, found keyword `from`");
    let e = err("create schema A(desc string)");
    assert!(help(&e).contains("`desc`"), "{e:?}");
    assert!(parse_script("create schema A(`desc` string)").is_ok());
}

#[test]
fn other_messages() {
    assert_eq!(
        err("select a b from T").message,
        "expected one of `,` or `from`, found `b`"
    );
    assert_eq!(
        err("select a from T group x").message,
        "expected `by`, found `x`"
    );
    assert_eq!(
        err("create schema A(x strin)").kind,
        ParseErrorKind::UnknownType
    );
    assert_eq!(
        err("select * from pattern [A where timer:within(x)]").kind,
        ParseErrorKind::InvalidTimePeriod
    );
    assert_eq!(
        err("select a from T limit 1.5").kind,
        ParseErrorKind::InvalidNumber
    );
    assert_eq!(
        err("select a from T output every 1.5 events").kind,
        ParseErrorKind::InvalidNumber
    );
    assert_eq!(
        err("selec a from T").message,
        "expected one of `select`, `insert`, `create` or `@`, found `selec`"
    );
    assert_eq!(
        parse_expression("a +").map_err(|e| e.kind),
        Err(ParseErrorKind::UnexpectedEof)
    );
    assert_eq!(
        parse_expression("a b").map_err(|e| e.message),
        Err("expected end of expression, found `b`".to_string())
    );
}

#[test]
fn kind_codes_are_stable() {
    assert_eq!(ParseErrorKind::UnexpectedEof.code(), "epl::unexpected_eof");
}

fn assert_depth_error(src: &str) {
    let e = err(src);
    assert_eq!(e.kind, ParseErrorKind::DepthLimit, "{}", e.message);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let n = 10_000;
    assert_depth_error(&format!(
        "select {}1{} from T",
        "(".repeat(n),
        ")".repeat(n)
    ));
    assert_depth_error(&format!("select {}1 from T", "(".repeat(n)));
    assert_depth_error(&format!("select {}a from T", "not ".repeat(n)));
    assert_depth_error(&format!("select {}1 from T", "1 + ".repeat(n)));
    assert_depth_error(&format!(
        "select f({}1{}) from T",
        "f(".repeat(n),
        ")".repeat(n)
    ));
    assert_depth_error(&format!(
        "select * from pattern [{}A{}]",
        "(".repeat(n),
        ")".repeat(n)
    ));
    assert_depth_error(&format!("select * from pattern [{}A]", "every ".repeat(n)));
    assert_depth_error(&format!("select * from pattern [{}A]", "A -> ".repeat(n)));
    assert_depth_error(&format!("select * from pattern [{}A]", "[2] ".repeat(n)));
    assert_depth_error(&format!("select * from pattern [{}A]", "not ".repeat(n)));
    assert_depth_error(&format!(
        "select * from pattern [A{}]",
        " where timer:within(1)".repeat(n)
    ));
    assert_depth_error(&format!(
        "select * from pattern [{}A]",
        "every-distinct(a) ".repeat(n)
    ));
    assert_depth_error(&format!("select * from pattern [{}A]", "(A and ".repeat(n)));
    assert_depth_error(&format!("select * from pattern [{}A]", "A or ".repeat(n)));
    assert_depth_error(&format!("select {}1 from T", "x in (".repeat(n)));
    assert_depth_error(&format!("select {}1 from T", "case when ".repeat(n)));
    assert_depth_error(&format!("select {}1 from T", "a || -(".repeat(n)));
    assert_depth_error(&format!("select {}1 from T", "- ".repeat(n)));
    assert_depth_error(&format!("select * from T(a = {}1)", "(".repeat(n)));
    assert_depth_error(&format!("select * from T#length({}1)", "(".repeat(n)));
}

#[test]
fn nesting_below_the_limit_parses() {
    let n = MAX_DEPTH - 10;
    let src = format!("select {}1{} from T", "(".repeat(n), ")".repeat(n));
    assert!(parse_script(&src).is_ok());
    let src = format!(
        "select * from pattern [{}A{}]",
        "(".repeat(n / 2),
        ")".repeat(n / 2)
    );
    assert!(parse_script(&src).is_ok());
}
