//! Pattern expressions: atoms, operators and Esper's precedence.

use cepheus_parser::*;

fn p(src: &str) -> PatternExpr {
    let pat = parse_pattern(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let printed = pat.to_string();
    assert_eq!(
        parse_pattern(&printed).as_ref(),
        Ok(&pat),
        "{src} printed as {printed}"
    );
    // The same pattern inside a statement.
    let st = parse_script(&format!("select * from pattern [{src}]")).expect("statement");
    let StatementKind::Select(s) = &st.statements[0].kind else {
        panic!()
    };
    let FromClause::Pattern(ps) = &s.from else {
        panic!()
    };
    assert_eq!(ps.pattern, pat);
    pat
}

/// Fully parenthesised shape with tags only.
fn tree(x: &PatternExpr) -> String {
    match &x.kind {
        PatternKind::Filter {
            tag,
            event_type,
            filter,
        } => format!(
            "{}{}{}",
            tag.as_ref()
                .map(|t| format!("{}=", t.value))
                .unwrap_or_default(),
            event_type.value,
            filter
                .as_ref()
                .map(|f| format!("({f})"))
                .unwrap_or_default()
        ),
        PatternKind::TimerInterval(tp) => format!("interval({}ms)", tp.millis()),
        PatternKind::Every(i) => format!("every({})", tree(i)),
        PatternKind::EveryDistinct {
            keys,
            expiry,
            inner,
        } => format!(
            "every-distinct[{}; {:?}]({})",
            keys.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            expiry.as_ref().map(TimePeriod::millis),
            tree(inner)
        ),
        PatternKind::Not(i) => format!("not({})", tree(i)),
        PatternKind::Repeat { count, inner } => format!("[{count}]({})", tree(inner)),
        PatternKind::Guard {
            inner,
            guard: PatternGuard::Within(tp),
        } => {
            format!("within({}, {}ms)", tree(inner), tp.millis())
        }
        PatternKind::And(l, r) => format!("and({}, {})", tree(l), tree(r)),
        PatternKind::Or(l, r) => format!("or({}, {})", tree(l), tree(r)),
        PatternKind::FollowedBy(l, r) => format!("seq({}, {})", tree(l), tree(r)),
    }
}

fn shape(src: &str) -> String {
    tree(&p(src))
}

#[test]
fn atoms() {
    assert_eq!(shape("a=A(x > 1)"), "a=A(x > 1)");
    assert_eq!(shape("A(x > 1)"), "A(x > 1)");
    assert_eq!(shape("A"), "A");
    assert_eq!(shape("A()"), "A");
    assert_eq!(
        shape("b=B(id = a.id, v > a.v)"),
        "b=B(id = a.id and v > a.v)"
    );
    assert_eq!(shape("timer:interval(10 sec)"), "interval(10000ms)");
    assert_eq!(shape("timer:interval(10)"), "interval(10000ms)");
    assert_eq!(shape("(A)"), "A");
}

#[test]
fn guard_binds_tightest() {
    assert_eq!(
        shape("every a=A -> b=B where timer:within(5 sec)"),
        "seq(every(a=A), within(b=B, 5000ms))"
    );
    assert_eq!(shape("every (a=A -> b=B)"), "every(seq(a=A, b=B))");
    assert_eq!(
        shape("(a=A -> b=B) where timer:within(1 min)"),
        "within(seq(a=A, b=B), 60000ms)"
    );
    assert_eq!(
        shape("every A where timer:within(1)"),
        "every(within(A, 1000ms))"
    );
    assert_eq!(
        shape("A where timer:within(1) where timer:within(2)"),
        "within(within(A, 1000ms), 2000ms)"
    );
}

#[test]
fn operator_precedence() {
    assert_eq!(shape("A and B or C"), "or(and(A, B), C)");
    assert_eq!(shape("A or B and C"), "or(A, and(B, C))");
    assert_eq!(shape("A -> B or C"), "seq(A, or(B, C))");
    assert_eq!(shape("A or B -> C"), "seq(or(A, B), C)");
    assert_eq!(shape("every A and not B"), "and(every(A), not(B))");
    assert_eq!(
        shape("every a=A -> (b=B and not C)"),
        "seq(every(a=A), and(b=B, not(C)))"
    );
    assert_eq!(shape("A -> B -> C"), "seq(seq(A, B), C)");
    assert_eq!(shape("A and B and C"), "and(and(A, B), C)");
    assert_eq!(shape("A or B or C"), "or(or(A, B), C)");
    assert_eq!(shape("A -> (B -> C)"), "seq(A, seq(B, C))");
}

#[test]
fn unary_operators_and_repeat() {
    assert_eq!(shape("every [3] a=A"), "every([3](a=A))");
    assert_eq!(shape("[2] a=A"), "[2](a=A)");
    assert_eq!(shape("every ([2] a=A -> b=B)"), "every(seq([2](a=A), b=B))");
    assert_eq!(shape("not every A"), "not(every(A))");
    assert_eq!(shape("every every A"), "every(every(A))");
}

#[test]
fn every_distinct() {
    assert_eq!(
        shape("every-distinct(a.id) a=A"),
        "every-distinct[a.id; None](a=A)"
    );
    assert_eq!(
        shape("every-distinct(a.id, a.v, 10 sec) a=A"),
        "every-distinct[a.id, a.v; Some(10000)](a=A)"
    );
    // A bare number is a key, not an expiry.
    assert_eq!(
        shape("every-distinct(a.id, 10) a=A"),
        "every-distinct[a.id, 10; None](a=A)"
    );
    assert_eq!(
        shape("every-distinct(a.id) a=A -> B"),
        "seq(every-distinct[a.id; None](a=A), B)"
    );
}

#[test]
fn display_minimal_parentheses() {
    for (src, printed) in [
        ("every (a=A -> b=B)", "every (a=A -> b=B)"),
        ("(every a=A) -> b=B", "every a=A -> b=B"),
        ("A -> (B -> C)", "A -> (B -> C)"),
        ("(A -> B) -> C", "A -> B -> C"),
        ("(A or B) and C", "(A or B) and C"),
        (
            "(every A) where timer:within(1 sec)",
            "(every A) where timer:within(1 sec)",
        ),
        (
            "every-distinct(a.id, 1 hour 2 min) a=A",
            "every-distinct(a.id, 1 hour 2 min) a=A",
        ),
        ("timer:interval(10)", "timer:interval(10 sec)"),
    ] {
        assert_eq!(p(src).to_string(), printed, "{src}");
    }
}

#[test]
fn spans() {
    let src = "every a=A(x = 1) -> b=B where timer:within(5 sec)";
    let pat = p(src);
    assert_eq!((pat.span.start, pat.span.end), (0, src.len()));
    let PatternKind::FollowedBy(l, r) = &pat.kind else {
        panic!()
    };
    assert_eq!(&src[l.span.start..l.span.end], "every a=A(x = 1)");
    assert_eq!(
        &src[r.span.start..r.span.end],
        "b=B where timer:within(5 sec)"
    );
    let PatternKind::Every(atom) = &l.kind else {
        panic!()
    };
    assert_eq!(&src[atom.span.start..atom.span.end], "a=A(x = 1)");
    let src = "( A or B )";
    let pat = p(src);
    assert_eq!((pat.span.start, pat.span.end), (0, src.len()));
}
