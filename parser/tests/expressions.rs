//! Expressions: literals, operators, precedence, spans, printing.

use cepheus_parser::*;

fn e(src: &str) -> Expr {
    let expr = parse_expression(src).unwrap_or_else(|err| panic!("{src}: {err}"));
    let printed = expr.to_string();
    assert_eq!(
        parse_expression(&printed).as_ref(),
        Ok(&expr),
        "{src} printed as {printed}"
    );
    expr
}

/// The expression printed with every operator fully parenthesised.
fn tree(x: &Expr) -> String {
    match &x.kind {
        ExprKind::Binary { op, left, right } => format!("({} {op} {})", tree(left), tree(right)),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr,
        } => format!("(-{})", tree(expr)),
        ExprKind::Unary {
            op: UnaryOp::Not,
            expr,
        } => format!("(not {})", tree(expr)),
        ExprKind::IsNull { expr, negated } => {
            format!(
                "({} is{} null)",
                tree(expr),
                if *negated { " not" } else { "" }
            )
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => format!(
            "({}{} in [{}])",
            tree(expr),
            if *negated { " not" } else { "" },
            list.iter().map(tree).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => format!(
            "({}{} between {} and {})",
            tree(expr),
            if *negated { " not" } else { "" },
            tree(low),
            tree(high)
        ),
        ExprKind::Like {
            expr,
            pattern,
            escape,
            negated,
        } => format!(
            "({}{} like {}{})",
            tree(expr),
            if *negated { " not" } else { "" },
            tree(pattern),
            escape
                .as_ref()
                .map(|e| format!(" escape {}", tree(e)))
                .unwrap_or_default()
        ),
        ExprKind::Regexp {
            expr,
            pattern,
            negated,
        } => format!(
            "({}{} regexp {})",
            tree(expr),
            if *negated { " not" } else { "" },
            tree(pattern)
        ),
        _ => x.to_string(),
    }
}

fn shape(src: &str) -> String {
    tree(&e(src))
}

#[test]
fn literals() {
    use Literal::*;
    let lit = |s: &str| match e(s).kind {
        ExprKind::Literal(l) => l,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(lit("42"), Integer(42));
    assert_eq!(lit("10.5"), Decimal(10.5));
    assert_eq!(lit("1e3"), Decimal(1000.0));
    assert_eq!(lit("1.5E-2"), Decimal(0.015));
    assert_eq!(lit("'it''s'"), String("it's".into()));
    assert_eq!(lit(r#""say \"hi\"""#), String("say \"hi\"".into()));
    assert_eq!(lit(r"'a\\b\n'"), String("a\\b\n".into()));
    assert_eq!(lit("true"), Boolean(true));
    assert_eq!(lit("FALSE"), Boolean(false));
    assert_eq!(lit("null"), Null);
    assert_eq!(lit("-5"), Integer(-5));
    assert_eq!(lit("-9223372036854775808"), Integer(i64::MIN));
    assert_eq!(lit("9223372036854775807"), Integer(i64::MAX));
    assert_eq!(lit("100L"), Integer(100));
}

#[test]
fn integer_overflow_is_an_error() {
    for src in [
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999999",
    ] {
        let err = parse_expression(src).expect_err(src);
        assert_eq!(err.kind, ParseErrorKind::InvalidNumber, "{src}");
    }
    assert_eq!(
        parse_expression("1e999").map_err(|e| e.kind),
        Err(ParseErrorKind::InvalidNumber)
    );
}

#[test]
fn decimals_print_so_they_reparse() {
    for src in ["2.0", "0.1", "1e300", "1.5e-7", "123456789.125", "-0.5"] {
        let x = e(src);
        let ExprKind::Literal(Literal::Decimal(_)) = x.kind else {
            panic!("{src}")
        };
    }
    assert_eq!(e("2.0").to_string(), "2.0");
}

#[test]
fn properties_and_functions() {
    let ExprKind::Property(path) = e("a.token").kind else {
        panic!()
    };
    assert_eq!(
        path.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(),
        ["a", "token"]
    );
    let ExprKind::Function {
        name,
        distinct,
        args,
    } = e("f(a, b)").kind
    else {
        panic!()
    };
    assert_eq!((name.value.as_str(), distinct), ("f", false));
    assert!(matches!(args, FunctionArgs::List(l) if l.len() == 2));
    assert!(matches!(
        e("count(*)").kind,
        ExprKind::Function {
            args: FunctionArgs::Star,
            ..
        }
    ));
    assert!(matches!(
        e("count(distinct x)").kind,
        ExprKind::Function { distinct: true, .. }
    ));
    assert!(matches!(
        e("sum(distinct x)").kind,
        ExprKind::Function { distinct: true, .. }
    ));
    assert!(
        matches!(e("now()").kind, ExprKind::Function { args: FunctionArgs::List(l), .. } if l.is_empty())
    );
    let ExprKind::IndexedProperty { tag, index, path } = e("a[1].v").kind else {
        panic!()
    };
    assert_eq!((tag.value.as_str(), index, path.len()), ("a", 1, 1));
    assert!(
        matches!(e("a[0]").kind, ExprKind::IndexedProperty { ref path, .. } if path.is_empty())
    );
}

#[test]
fn arithmetic_precedence_and_associativity() {
    assert_eq!(shape("1 + 2 * 3"), "(1 + (2 * 3))");
    assert_eq!(shape("(1 + 2) * 3"), "((1 + 2) * 3)");
    assert_eq!(shape("a - b - c"), "((a - b) - c)");
    assert_eq!(shape("a / b % c"), "((a / b) % c)");
    assert_eq!(shape("-a * b"), "((-a) * b)");
    assert_eq!(shape("a * -b"), "(a * (-b))");
    assert_eq!(shape("a || b + c"), "(a || (b + c))");
    assert_eq!(shape("a + b || c"), "((a + b) || c)");
    assert_eq!(shape("a - -5"), "(a - -5)");
    assert_eq!(shape("- - a"), "(-(-a))");
}

#[test]
fn logical_and_comparison_precedence() {
    assert_eq!(shape("a or b and c"), "(a or (b and c))");
    assert_eq!(shape("a and b or c"), "((a and b) or c)");
    assert_eq!(shape("not a and b"), "((not a) and b)");
    assert_eq!(shape("not a = b"), "(not (a = b))");
    assert_eq!(
        shape("a = 1 and b <> 2 or c != 3"),
        "(((a = 1) and (b != 2)) or (c != 3))"
    );
    assert_eq!(shape("a < b = c > d"), "((a < b) = (c > d))");
    assert_eq!(shape("a + 1 >= b * 2"), "((a + 1) >= (b * 2))");
    assert_eq!(shape("x <= 1 and y > 2"), "((x <= 1) and (y > 2))");
}

#[test]
fn predicates() {
    assert_eq!(shape("x in (1, 2) and y"), "((x in [1, 2]) and y)");
    assert_eq!(shape("x not in ('a')"), "(x not in ['a'])");
    assert_eq!(
        shape("x between 1 and 2 and y"),
        "((x between 1 and 2) and y)"
    );
    assert_eq!(
        shape("x not between a + 1 and b * 2"),
        "(x not between (a + 1) and (b * 2))"
    );
    assert_eq!(shape("name like 'b%'"), "(name like 'b%')");
    assert_eq!(
        shape("name not like 'a!%' escape '!'"),
        "(name not like 'a!%' escape '!')"
    );
    assert_eq!(
        shape("name regexp 'a.*' or b"),
        "((name regexp 'a.*') or b)"
    );
    assert_eq!(shape("name not regexp 'a'"), "(name not regexp 'a')");
    assert_eq!(shape("x is null"), "(x is null)");
    assert_eq!(
        shape("x is not null and y is null"),
        "((x is not null) and (y is null))"
    );
    assert_eq!(shape("a + b is null"), "((a + b) is null)");
    assert_eq!(shape("not x is null"), "(not (x is null))");
}

#[test]
fn case_expressions() {
    let ExprKind::Case {
        operand,
        whens,
        else_result,
    } = e("case when qty > 5 then 'bulk' when qty > 1 then 'few' else 'one' end").kind
    else {
        panic!()
    };
    assert!(operand.is_none());
    assert_eq!(whens.len(), 2);
    assert!(else_result.is_some());
    let ExprKind::Case {
        operand,
        whens,
        else_result,
    } = e("case name when 'bolt' then 1 end").kind
    else {
        panic!()
    };
    assert!(operand.is_some());
    assert_eq!(whens.len(), 1);
    assert!(else_result.is_none());
}

#[test]
fn minimal_parentheses_in_display() {
    for (src, printed) in [
        ("(a + b) * c", "(a + b) * c"),
        ("a + (b * c)", "a + b * c"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("not (a and b)", "not (a and b)"),
        ("(not a) = b", "(not a) = b"),
        ("-(5)", "-(5)"),
        ("-(-a)", "-(-a)"),
        ("-(a + b)", "-(a + b)"),
        ("(x between 1 and 2) = true", "x between 1 and 2 = true"),
        ("x between (1 or 2) and 3", "x between (1 or 2) and 3"),
        ("((((a))))", "a"),
        ("'it''s' || \"q\"", "'it\\'s' || 'q'"),
        ("`select`.`from` + x", "`select`.`from` + x"),
    ] {
        assert_eq!(e(src).to_string(), printed, "{src}");
    }
}

#[test]
fn spans() {
    let src = "a.b + f(x, 2) * 3";
    let x = e(src);
    assert_eq!((x.span.start, x.span.end), (0, src.len()));
    let ExprKind::Binary { left, right, .. } = &x.kind else {
        panic!()
    };
    assert_eq!((left.span.start, left.span.end), (0, 3));
    assert_eq!(&src[right.span.start..right.span.end], "f(x, 2) * 3");
    let src = "  (a + b) is not null";
    let x = e(src);
    assert_eq!(&src[x.span.start..x.span.end], "(a + b) is not null");
    let src = "case when a then b end";
    assert_eq!(e(src).span.end, src.len());
    let src = "x not in (1, 2)";
    assert_eq!(e(src).span.end, src.len());
    let src = "-5";
    assert_eq!((e(src).span.start, e(src).span.end), (0, 2));
}

#[test]
fn comments_inside_expressions() {
    assert_eq!(e("a /* c */ + -- line\n b // end"), e("a + b"));
}
