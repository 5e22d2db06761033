//! One test per statement-level construct: annotations, schemas, select
//! clauses, windows in both spellings, output rate limiting, limit.

use cepheus_parser::*;

fn one(src: &str) -> Statement {
    let mut script = parse_script(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert_eq!(script.statements.len(), 1, "{src}");
    let st = script.statements.remove(0);
    // Every statement also survives printing.
    let printed = st.to_string();
    assert_eq!(parse_statement(&printed).as_ref(), Ok(&st), "{printed}");
    st
}

fn select(src: &str) -> SelectStatement {
    match one(src).kind {
        StatementKind::Select(s) => *s,
        other => panic!("not a select: {other:?}"),
    }
}

fn stream(src: &str) -> StreamSource {
    match select(src).from {
        FromClause::Stream(s) => s,
        other => panic!("not a stream: {other:?}"),
    }
}

fn views(src: &str) -> Vec<View> {
    stream(src).views
}

fn prop(name: &str) -> Expr {
    parse_expression(name).expect("property")
}

#[test]
fn empty_script_and_comments_only() {
    assert_eq!(parse_script(""), Ok(Script::default()));
    assert_eq!(
        parse_script("  -- nothing\n /* here */ // at all\n"),
        Ok(Script::default())
    );
    assert_eq!(parse_script(";;"), Ok(Script::default()));
}

#[test]
fn statements_separated_by_semicolons_last_optional() {
    let s = parse_script("create schema A(x int); select * from A").expect("parses");
    assert_eq!(s.statements.len(), 2);
    let s = parse_script("select * from A;\nselect * from B;\n").expect("parses");
    assert_eq!(s.statements.len(), 2);
    assert_eq!(s.to_string(), "select * from A;\n\nselect * from B;");
}

#[test]
fn statement_span_excludes_semicolon_and_includes_annotations() {
    let src = "  @name('a') select * from A ;";
    let st = one(src);
    assert_eq!(
        &src[st.span.start..st.span.end],
        "@name('a') select * from A"
    );
    let StatementKind::Select(s) = &st.kind else {
        panic!()
    };
    assert_eq!(&src[s.span.start..s.span.end], "select * from A");
}

#[test]
fn keywords_are_case_insensitive() {
    let a = one("SELECT Price FROM Trade#TIME(5 MIN) WHERE X > 1 GROUP BY Price");
    let b = one("select Price from Trade#time(5 min) where X > 1 group by Price");
    assert_eq!(a, b);
}

#[test]
fn annotations() {
    let st = one(
        "@Name('x') @Description('a \\'quoted\\' text') @Tag(name='k', value='v') \
         @Hint('max_instances=10') @Audit @Priority(5) select * from A",
    );
    let names: Vec<_> = st
        .annotations
        .iter()
        .map(|a| a.name.value.as_str())
        .collect();
    assert_eq!(
        names,
        ["Name", "Description", "Tag", "Hint", "Audit", "Priority"]
    );
    assert_eq!(
        st.annotations[0].args,
        vec![AnnotationArg::Positional(
            Literal::String("x".into()),
            Span::default()
        )]
    );
    let AnnotationArg::Named { name, value, .. } = &st.annotations[2].args[1] else {
        panic!("named arg")
    };
    assert_eq!(name.value, "value");
    assert_eq!(value, &Literal::String("v".into()));
    assert!(st.annotations[4].args.is_empty());
    assert_eq!(
        st.annotations[5].args,
        vec![AnnotationArg::Positional(
            Literal::Integer(5),
            Span::default()
        )]
    );
    // `@Audit()` with empty parentheses is the same as `@Audit`.
    assert_eq!(
        one("@Audit() select * from A"),
        one("@Audit select * from A")
    );
    let src = "@Name('x') select * from A";
    let a = &one(src).annotations[0];
    assert_eq!((a.span.start, a.span.end), (0, 10));
}

#[test]
fn create_schema() {
    let StatementKind::CreateSchema(c) = one(
        "create schema Trade(symbol string, price double, volume long, n int, m integer, \
         f float, ok boolean, S String, I Integer)",
    )
    .kind
    else {
        panic!()
    };
    assert_eq!(c.name.value, "Trade");
    assert_eq!(c.representation, SchemaRepresentation::Default);
    let types: Vec<_> = c.fields.iter().map(|f| f.ty).collect();
    use FieldType::*;
    assert_eq!(
        types,
        [String, Double, Long, Int, Int, Float, Boolean, String, Int]
    );
    assert!(c.start_timestamp.is_none());
}

#[test]
fn create_schema_variants() {
    let StatementKind::CreateSchema(c) = one(
        "create map schema Ev as (`from` string, ts long, te long) starttimestamp ts endtimestamp te",
    )
    .kind
    else {
        panic!()
    };
    assert_eq!(c.representation, SchemaRepresentation::Map);
    assert_eq!(c.fields[0].name.value, "from");
    assert!(c.fields[0].name.quoted);
    assert_eq!(c.start_timestamp.map(|i| i.value).as_deref(), Some("ts"));
    assert_eq!(c.end_timestamp.map(|i| i.value).as_deref(), Some("te"));
    let StatementKind::CreateSchema(c) = one("create json schema J(a string)").kind else {
        panic!()
    };
    assert_eq!(c.representation, SchemaRepresentation::Json);
    let src = "create schema A(x  int)";
    let StatementKind::CreateSchema(c) = one(src).kind else {
        panic!()
    };
    let f = &c.fields[0];
    assert_eq!(&src[f.ty_span.start..f.ty_span.end], "int");
    assert_eq!((c.span.start, c.span.end), (0, src.len()));
}

#[test]
fn select_list_wildcard_and_aliases() {
    let s = select("select *, price * 2 as double_price, `select` as `from` from T");
    assert!(matches!(s.items[0], SelectItem::Wildcard(_)));
    let SelectItem::Expr { alias, .. } = &s.items[1] else {
        panic!()
    };
    assert_eq!(
        alias.as_ref().map(|a| a.value.as_str()),
        Some("double_price")
    );
    let SelectItem::Expr { expr, alias, .. } = &s.items[2] else {
        panic!()
    };
    assert_eq!(
        expr,
        &Expr {
            kind: ExprKind::Property(vec![Ident {
                value: "select".into(),
                quoted: true,
                span: Span::default()
            }]),
            span: Span::default()
        }
    );
    assert_eq!(alias.as_ref().map(|a| a.value.as_str()), Some("from"));
}

#[test]
fn common_field_names_are_identifiers() {
    let s = select(
        "select ts, value, timestamp, id, side, name, type, to, time, count, sum, min, max, \
         first, last, events, window, map, json from T",
    );
    assert_eq!(s.items.len(), 19);
}

#[test]
fn stream_selectors_and_distinct() {
    assert_eq!(select("select * from T").stream_selector, None);
    assert_eq!(
        select("select istream * from T").stream_selector,
        Some(StreamSelector::IStream)
    );
    assert_eq!(
        select("select rstream * from T").stream_selector,
        Some(StreamSelector::RStream)
    );
    let s = select("select irstream distinct a from T");
    assert_eq!(s.stream_selector, Some(StreamSelector::IRStream));
    assert!(s.distinct);
}

#[test]
fn insert_into() {
    let s = select("insert into Big select a from T");
    let ins = s.insert_into.expect("insert");
    assert_eq!(ins.stream.value, "Big");
    assert_eq!(ins.stream_selector, None);
    let s = select("insert rstream into Old select a from T");
    assert_eq!(
        s.insert_into.and_then(|i| i.stream_selector),
        Some(StreamSelector::RStream)
    );
    let s = select("insert irstream into Both select a from T");
    assert_eq!(
        s.insert_into.and_then(|i| i.stream_selector),
        Some(StreamSelector::IRStream)
    );
}

#[test]
fn all_clauses() {
    let s = select(
        "select k, sum(x) as total from T#length(10) as t where x > 0 group by k, j \
         having sum(x) > 10 output last every 5 events order by total desc, k asc, j \
         limit 10 offset 20",
    );
    assert!(s.where_clause.is_some());
    assert_eq!(s.group_by.len(), 2);
    assert!(s.having.is_some());
    let out = s.output.expect("output");
    assert_eq!(
        (out.mode, out.rate),
        (OutputMode::Last, OutputRate::Events(5))
    );
    let desc: Vec<_> = s.order_by.iter().map(|o| o.descending).collect();
    assert_eq!(desc, [true, false, false]);
    let limit = s.limit.expect("limit");
    assert_eq!((limit.count, limit.offset), (10, Some(20)));
    assert_eq!(
        select("select a from T limit 3").limit.map(|l| l.offset),
        Some(None)
    );
}

#[test]
fn stream_filter_alias_with_and_without_as() {
    let s = stream("select * from Trade(price > 10) t");
    assert_eq!(s.alias.map(|a| a.value).as_deref(), Some("t"));
    assert!(s.filter.is_some());
    let s = stream("select * from Trade as t");
    assert_eq!(s.alias.map(|a| a.value).as_deref(), Some("t"));
    let s = stream("select * from Trade#length(5) t where t.price > 1");
    assert_eq!(s.alias.map(|a| a.value).as_deref(), Some("t"));
    // Comma-separated filter terms mean `and`.
    assert_eq!(
        stream("select * from T(a = 1, b = 2)").filter,
        Some(parse_expression("a = 1 and b = 2").expect("expr"))
    );
    assert_eq!(stream("select * from T()").filter, None);
}

#[test]
fn windows_hash_spelling() {
    let v = views("select * from T#time(5 min)");
    assert_eq!(v[0].kind, ViewKind::Time);
    assert!(matches!(&v[0].params[0].kind, ExprKind::TimePeriod(tp) if tp.millis() == 300_000));
    assert_eq!(
        views("select * from T#length(10)")[0].kind,
        ViewKind::Length
    );
    assert_eq!(
        views("select * from T#time_batch(1 min)")[0].kind,
        ViewKind::TimeBatch
    );
    assert_eq!(
        views("select * from T#length_batch(5)")[0].kind,
        ViewKind::LengthBatch
    );
    let v = views("select * from T#ext_timed(ts, 10 sec)");
    assert_eq!(v[0].kind, ViewKind::ExtTimed);
    assert_eq!(v[0].params[0], prop("ts"));
    assert_eq!(
        views("select * from T#keepall"),
        views("select * from T#keepall()")
    );
    assert!(views("select * from T#keepall")[0].params.is_empty());
    assert_eq!(views("select * from T#unique(a, b)")[0].params.len(), 2);
    assert_eq!(
        views("select * from T#firstevent")[0].kind,
        ViewKind::FirstEvent
    );
    assert_eq!(
        views("select * from T#lastevent")[0].kind,
        ViewKind::LastEvent
    );
    let v = views("select * from T#groupwin(k)#length(5)");
    assert_eq!(
        v.iter().map(|v| v.kind).collect::<Vec<_>>(),
        [ViewKind::GroupWin, ViewKind::Length]
    );
}

#[test]
fn windows_both_spellings_are_equal() {
    for (new, old) in [
        ("T#time(5 min)", "T.win:time(5 min)"),
        ("T#length(10)", "T.win:length(10)"),
        ("T#time_batch(1 min)", "T.win:time_batch(1 min)"),
        ("T#length_batch(5)", "T.win:length_batch(5)"),
        ("T#ext_timed(ts, 10 sec)", "T.win:ext_timed(ts, 10 sec)"),
        ("T#keepall", "T.win:keepall()"),
        ("T#unique(a, b)", "T.std:unique(a, b)"),
        ("T#lastevent", "T.std:lastevent()"),
        ("T#firstevent", "T.std:firstevent()"),
        ("T#groupwin(k)#length(5)", "T.std:groupwin(k).win:length(5)"),
        // Any namespace is accepted for any known view.
        ("T#unique(a)", "T.win:unique(a)"),
        ("T#time(1 sec)", "T.ext:time(1 sec)"),
    ] {
        let a = stream(&format!("select * from {new}"));
        let b = stream(&format!("select * from {old}"));
        assert_eq!(a, b, "{new} vs {old}");
        assert_eq!(b.to_string(), new);
    }
}

#[test]
fn view_spans() {
    let src = "select * from T#time(5 min).win:length(3)";
    let v = views(src);
    assert_eq!(&src[v[0].span.start..v[0].span.end], "#time(5 min)");
    assert_eq!(&src[v[1].span.start..v[1].span.end], ".win:length(3)");
    let ExprKind::TimePeriod(tp) = &v[0].params[0].kind else {
        panic!()
    };
    assert_eq!(&src[tp.span.start..tp.span.end], "5 min");
}

#[test]
fn bare_number_view_parameter_stays_a_literal() {
    let v = views("select * from T#time(30)");
    assert_eq!(v[0].params[0].kind, ExprKind::Literal(Literal::Integer(30)));
}

#[test]
fn time_periods() {
    let ms = |text: &str| match parse_expression(text).map(|e| e.kind) {
        Ok(ExprKind::TimePeriod(tp)) => tp.millis(),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(ms("5 min"), 300_000);
    assert_eq!(ms("1 hour 30 minutes"), 5_400_000);
    assert_eq!(ms("500 msec"), 500);
    assert_eq!(ms("500 milliseconds"), 500);
    assert_eq!(ms("1 millisecond"), 1);
    assert_eq!(ms("20 ms"), 20);
    assert_eq!(ms("30 sec"), 30_000);
    assert_eq!(ms("1 second"), 1_000);
    assert_eq!(ms("2 seconds"), 2_000);
    assert_eq!(ms("1 minute"), 60_000);
    assert_eq!(ms("2 hours"), 7_200_000);
    assert_eq!(ms("1 day"), 86_400_000);
    assert_eq!(ms("2 days 1 msec"), 172_800_001);
    assert_eq!(ms("5.5 sec"), 5_500);
    assert_eq!(ms("1 MIN"), 60_000);
}

#[test]
fn output_rate_limiting() {
    let out = |src: &str| select(src).output.expect("output");
    let o = out("select a from T output every 5 events");
    assert_eq!(
        (o.mode, o.rate),
        (OutputMode::Default, OutputRate::Events(5))
    );
    assert_eq!(
        out("select a from T output first every 1 event").rate,
        OutputRate::Events(1)
    );
    assert_eq!(
        out("select a from T output all every 2 events").mode,
        OutputMode::All
    );
    let o = out("select a from T output snapshot every 10 seconds");
    assert_eq!(o.mode, OutputMode::Snapshot);
    assert!(matches!(&o.rate, OutputRate::Time(tp) if tp.millis() == 10_000));
    let o = out("select a from T output last every 1 min 30 sec");
    assert!(matches!(&o.rate, OutputRate::Time(tp) if tp.millis() == 90_000));
    let src = "select a from T output first every 5 min";
    let o = out(src);
    assert_eq!(&src[o.span.start..o.span.end], "output first every 5 min");
}

#[test]
fn pattern_source_with_alias() {
    let s = select("select * from pattern [every a=A -> b=B] as p");
    let FromClause::Pattern(p) = s.from else {
        panic!()
    };
    assert_eq!(p.alias.map(|a| a.value).as_deref(), Some("p"));
    let s = select("select * from pattern [A] p");
    let FromClause::Pattern(p) = s.from else {
        panic!()
    };
    assert_eq!(p.alias.map(|a| a.value).as_deref(), Some("p"));
}

#[test]
fn display_prints_hash_spelling_and_canonical_text() {
    let st = one(
        "@name('x')\nINSERT INTO Out SELECT IRSTREAM a AS b FROM T.win:time(5 minutes) AS t \
         WHERE a>1 OUTPUT FIRST EVERY 2 EVENTS ORDER BY a ASC LIMIT 3",
    );
    assert_eq!(
        st.to_string(),
        "@name('x')\ninsert into Out select irstream a as b from T#time(5 min) as t where a > 1 \
         output first every 2 events order by a limit 3"
    );
}
