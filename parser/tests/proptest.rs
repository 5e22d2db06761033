//! Property tests: no input panics; generated trees and token soups survive
//! printing and parsing back.

use cepheus_parser::*;
use proptest::prelude::*;

const S: Span = Span { start: 0, end: 0 };

fn ident_strategy() -> impl Strategy<Value = Ident> {
    (
        prop::sample::select(vec![
            "a",
            "b",
            "price",
            "ts",
            "value",
            "timestamp",
            "id",
            "side",
            "name",
            "type",
            "to",
            "time",
            "count",
            "min",
            "sec",
            "timer",
            "win",
            "first",
            "events",
            "$x",
            "_y",
            "é",
            "select",
            "from",
            "every",
            "null",
            "end",
            "a b",
            "2x",
        ]),
        any::<bool>(),
    )
        .prop_map(|(v, q)| {
            let plain = {
                let mut cs = v.chars();
                cs.next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
                    && cs.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                    && !is_reserved(v)
            };
            Ident {
                value: v.to_string(),
                quoted: q || !plain,
                span: S,
            }
        })
}

fn plain_word() -> impl Strategy<Value = Ident> {
    prop::sample::select(vec!["Name", "Tag", "Audit", "Hint", "name", "value", "x"]).prop_map(|v| {
        Ident {
            value: v.to_string(),
            quoted: false,
            span: S,
        }
    })
}

fn literal_strategy() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<i64>().prop_map(Literal::Integer),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Literal::Decimal),
        "[a-z'\"\\\\\\n\\t%_ é]{0,8}".prop_map(Literal::String),
        any::<bool>().prop_map(Literal::Boolean),
        Just(Literal::Null),
    ]
}

fn number_strategy() -> impl Strategy<Value = Number> {
    prop_oneof![
        (0i64..1_000_000).prop_map(Number::Integer),
        (0.0f64..1000.0).prop_map(Number::Decimal),
    ]
}

fn time_period_strategy() -> impl Strategy<Value = TimePeriod> {
    let unit = prop::sample::select(vec![
        TimeUnit::Millisecond,
        TimeUnit::Second,
        TimeUnit::Minute,
        TimeUnit::Hour,
        TimeUnit::Day,
    ]);
    prop::collection::vec((number_strategy(), unit), 1..4).prop_map(|parts| TimePeriod {
        parts: parts
            .into_iter()
            .map(|(amount, unit)| TimePart { amount, unit })
            .collect(),
        span: S,
    })
}

fn ex(kind: ExprKind) -> Expr {
    Expr { kind, span: S }
}

fn leaf_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        literal_strategy().prop_map(|l| ex(ExprKind::Literal(l))),
        prop::collection::vec(ident_strategy(), 1..3).prop_map(|p| ex(ExprKind::Property(p))),
        (
            ident_strategy(),
            0u32..5,
            prop::collection::vec(ident_strategy(), 0..2)
        )
            .prop_map(|(tag, index, path)| ex(ExprKind::IndexedProperty {
                tag,
                index,
                path
            })),
        time_period_strategy().prop_map(|t| ex(ExprKind::TimePeriod(t))),
        ident_strategy().prop_map(|name| ex(ExprKind::Function {
            name,
            distinct: false,
            args: FunctionArgs::Star
        })),
    ]
}

fn expr_strategy() -> impl Strategy<Value = Expr> {
    let binop = prop::sample::select(vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
        BinaryOp::Concat,
        BinaryOp::Eq,
        BinaryOp::NotEq,
        BinaryOp::Lt,
        BinaryOp::LtEq,
        BinaryOp::Gt,
        BinaryOp::GtEq,
        BinaryOp::And,
        BinaryOp::Or,
    ]);
    leaf_expr().prop_recursive(4, 48, 4, move |inner| {
        let b = || inner.clone().prop_map(Box::new);
        prop_oneof![
            (prop::sample::select(vec![UnaryOp::Neg, UnaryOp::Not]), b())
                .prop_map(|(op, expr)| ex(ExprKind::Unary { op, expr })),
            (binop.clone(), b(), b()).prop_map(|(op, left, right)| ex(ExprKind::Binary {
                op,
                left,
                right
            })),
            (
                b(),
                prop::collection::vec(inner.clone(), 1..3),
                any::<bool>()
            )
                .prop_map(|(expr, list, negated)| ex(ExprKind::InList {
                    expr,
                    list,
                    negated
                })),
            (b(), b(), b(), any::<bool>()).prop_map(|(expr, low, high, negated)| ex(
                ExprKind::Between {
                    expr,
                    low,
                    high,
                    negated
                }
            )),
            (b(), b(), prop::option::of(b()), any::<bool>()).prop_map(
                |(expr, pattern, escape, negated)| ex(ExprKind::Like {
                    expr,
                    pattern,
                    escape,
                    negated
                })
            ),
            (b(), b(), any::<bool>()).prop_map(|(expr, pattern, negated)| ex(ExprKind::Regexp {
                expr,
                pattern,
                negated
            })),
            (b(), any::<bool>()).prop_map(|(expr, negated)| ex(ExprKind::IsNull { expr, negated })),
            (
                prop::option::of(b()),
                prop::collection::vec((inner.clone(), inner.clone()), 1..3),
                prop::option::of(b())
            )
                .prop_map(|(operand, whens, else_result)| ex(ExprKind::Case {
                    operand,
                    whens,
                    else_result
                })),
            (
                ident_strategy(),
                any::<bool>(),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(name, distinct, list)| ex(ExprKind::Function {
                    name,
                    distinct: distinct && !list.is_empty(),
                    args: FunctionArgs::List(list)
                })),
        ]
    })
}

fn pat(kind: PatternKind) -> PatternExpr {
    PatternExpr { kind, span: S }
}

fn pattern_strategy() -> impl Strategy<Value = PatternExpr> {
    let leaf = prop_oneof![
        (
            prop::option::of(ident_strategy()),
            ident_strategy(),
            prop::option::of(expr_strategy())
        )
            .prop_map(|(tag, event_type, filter)| pat(PatternKind::Filter {
                tag,
                event_type,
                filter
            })),
        time_period_strategy().prop_map(|t| pat(PatternKind::TimerInterval(t))),
    ];
    leaf.prop_recursive(4, 32, 2, |inner| {
        let b = || inner.clone().prop_map(Box::new);
        let key =
            prop::collection::vec(ident_strategy(), 1..3).prop_map(|p| ex(ExprKind::Property(p)));
        prop_oneof![
            b().prop_map(|p| pat(PatternKind::Every(p))),
            b().prop_map(|p| pat(PatternKind::Not(p))),
            (0u32..10, b()).prop_map(|(count, inner)| pat(PatternKind::Repeat { count, inner })),
            (
                prop::collection::vec(key, 1..3),
                prop::option::of(time_period_strategy()),
                b()
            )
                .prop_map(|(keys, expiry, inner)| pat(PatternKind::EveryDistinct {
                    keys,
                    expiry,
                    inner
                })),
            (b(), time_period_strategy()).prop_map(|(inner, t)| pat(PatternKind::Guard {
                inner,
                guard: PatternGuard::Within(t)
            })),
            (b(), b()).prop_map(|(l, r)| pat(PatternKind::And(l, r))),
            (b(), b()).prop_map(|(l, r)| pat(PatternKind::Or(l, r))),
            (b(), b()).prop_map(|(l, r)| pat(PatternKind::FollowedBy(l, r))),
        ]
    })
}

fn view_strategy() -> impl Strategy<Value = View> {
    (
        prop::sample::select(ViewKind::ALL.to_vec()),
        prop::collection::vec(expr_strategy(), 0..3),
    )
        .prop_map(|(kind, params)| View {
            kind,
            params,
            span: S,
        })
}

fn selector() -> impl Strategy<Value = Option<StreamSelector>> {
    prop::option::of(prop::sample::select(vec![
        StreamSelector::IStream,
        StreamSelector::RStream,
        StreamSelector::IRStream,
    ]))
}

fn from_strategy() -> impl Strategy<Value = FromClause> {
    prop_oneof![
        (
            ident_strategy(),
            prop::option::of(expr_strategy()),
            prop::collection::vec(view_strategy(), 0..3),
            prop::option::of(ident_strategy())
        )
            .prop_map(|(event_type, filter, views, alias)| FromClause::Stream(
                StreamSource {
                    event_type,
                    filter,
                    views,
                    alias,
                    span: S
                }
            )),
        (pattern_strategy(), prop::option::of(ident_strategy())).prop_map(|(pattern, alias)| {
            FromClause::Pattern(PatternSource {
                pattern,
                alias,
                span: S,
            })
        }),
    ]
}

fn output_strategy() -> impl Strategy<Value = OutputLimit> {
    (
        prop::sample::select(vec![
            OutputMode::Default,
            OutputMode::All,
            OutputMode::First,
            OutputMode::Last,
            OutputMode::Snapshot,
        ]),
        prop_oneof![
            any::<u64>().prop_map(OutputRate::Events),
            time_period_strategy().prop_map(OutputRate::Time)
        ],
    )
        .prop_map(|(mode, rate)| OutputLimit {
            mode,
            rate,
            span: S,
        })
}

fn select_strategy() -> impl Strategy<Value = StatementKind> {
    let item = prop_oneof![
        Just(SelectItem::Wildcard(S)),
        (expr_strategy(), prop::option::of(ident_strategy())).prop_map(|(expr, alias)| {
            SelectItem::Expr {
                expr,
                alias,
                span: S,
            }
        }),
    ];
    (
        (
            prop::option::of((selector(), ident_strategy()).prop_map(
                |(stream_selector, stream)| InsertInto {
                    stream_selector,
                    stream,
                    span: S,
                },
            )),
            selector(),
            any::<bool>(),
            prop::collection::vec(item, 1..4),
            from_strategy(),
        ),
        (
            prop::option::of(expr_strategy()),
            prop::collection::vec(expr_strategy(), 0..3),
            prop::option::of(expr_strategy()),
            prop::option::of(output_strategy()),
            prop::collection::vec(
                (expr_strategy(), any::<bool>()).prop_map(|(expr, descending)| OrderItem {
                    expr,
                    descending,
                    span: S,
                }),
                0..3,
            ),
            prop::option::of((any::<u64>(), prop::option::of(any::<u64>())).prop_map(
                |(count, offset)| Limit {
                    count,
                    offset,
                    span: S,
                },
            )),
        ),
    )
        .prop_map(
            |(
                (insert_into, stream_selector, distinct, items, from),
                (where_clause, group_by, having, output, order_by, limit),
            )| {
                StatementKind::Select(Box::new(SelectStatement {
                    insert_into,
                    stream_selector,
                    distinct,
                    items,
                    from,
                    where_clause,
                    group_by,
                    having,
                    output,
                    order_by,
                    limit,
                    span: S,
                }))
            },
        )
}

fn schema_strategy() -> impl Strategy<Value = StatementKind> {
    let ty = prop::sample::select(vec![
        FieldType::String,
        FieldType::Int,
        FieldType::Long,
        FieldType::Double,
        FieldType::Float,
        FieldType::Boolean,
    ]);
    (
        prop::sample::select(vec![
            SchemaRepresentation::Default,
            SchemaRepresentation::Map,
            SchemaRepresentation::Json,
        ]),
        ident_strategy(),
        prop::collection::vec(
            (ident_strategy(), ty).prop_map(|(name, ty)| FieldDef {
                name,
                ty,
                ty_span: S,
            }),
            0..4,
        ),
        prop::option::of(ident_strategy()),
        prop::option::of(ident_strategy()),
    )
        .prop_map(
            |(representation, name, fields, start_timestamp, end_timestamp)| {
                StatementKind::CreateSchema(CreateSchema {
                    representation,
                    name,
                    fields,
                    start_timestamp,
                    end_timestamp,
                    span: S,
                })
            },
        )
}

fn annotation_strategy() -> impl Strategy<Value = Annotation> {
    let arg = prop_oneof![
        literal_strategy().prop_map(|l| AnnotationArg::Positional(l, S)),
        (plain_word(), literal_strategy()).prop_map(|(name, value)| AnnotationArg::Named {
            name,
            value,
            span: S
        }),
    ];
    (plain_word(), prop::collection::vec(arg, 0..3)).prop_map(|(name, args)| Annotation {
        name,
        args,
        span: S,
    })
}

fn script_strategy() -> impl Strategy<Value = Script> {
    let statement = (
        prop::collection::vec(annotation_strategy(), 0..3),
        prop_oneof![select_strategy(), schema_strategy()],
    )
        .prop_map(|(annotations, kind)| Statement {
            annotations,
            kind,
            span: S,
        });
    prop::collection::vec(statement, 0..3).prop_map(|statements| Script { statements })
}

/// Fragments of EPL, glued at random: mostly invalid, sometimes valid.
fn token_soup() -> impl Strategy<Value = String> {
    let tok = prop::sample::select(vec![
        "select",
        "from",
        "where",
        "*",
        "a",
        "b.c",
        "x[0].v",
        "T",
        "#time(5 min)",
        "#length(3)",
        ".win:time(1 sec)",
        ".std:unique(a)",
        "(",
        ")",
        "[",
        "]",
        ",",
        ";",
        "=",
        "<>",
        "<",
        ">=",
        "+",
        "-",
        "/",
        "%",
        "||",
        "and",
        "or",
        "not",
        "in",
        "between",
        "like",
        "regexp",
        "is",
        "null",
        "true",
        "1",
        "2.5",
        "1e3",
        "'s'",
        "\"q\"",
        "case",
        "when",
        "then",
        "else",
        "end",
        "pattern",
        "every",
        "every-distinct(a)",
        "->",
        "timer:interval(1)",
        "timer:within(2 sec)",
        "@name('x')",
        "group by",
        "having",
        "output every 2 events",
        "order by",
        "desc",
        "limit",
        "insert into S",
        "create schema",
        "A(x int)",
        "as",
        "`from`",
        "sec",
        "min",
        "count(*)",
        "f(",
        "--",
        "/*",
        "*/",
        "\n",
        " ",
    ]);
    prop::collection::vec(tok, 0..24).prop_map(|ts| ts.join(" "))
}

fn check_round_trip(script: &Script) -> Result<(), TestCaseError> {
    let printed = script.to_string();
    let reparsed = parse_script(&printed);
    prop_assert_eq!(reparsed.as_ref(), Ok(script), "printed:\n{}", printed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = parse_script(&s);
        let _ = parse_expression(&s);
        let _ = parse_pattern(&s);
    }

    #[test]
    fn errors_point_inside_the_input(s in any::<String>()) {
        if let Err(e) = parse_script(&s) {
            prop_assert!(e.span.start <= e.span.end && e.span.end <= s.len());
            prop_assert!(s.is_char_boundary(e.span.start) && s.is_char_boundary(e.span.end));
            let _ = line_col(&s, e.span.start);
        }
    }

    #[test]
    fn token_soup_never_panics_and_round_trips(s in token_soup()) {
        match parse_script(&s) {
            Ok(script) => check_round_trip(&script)?,
            Err(e) => {
                prop_assert!(e.span.end <= s.len());
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn generated_expressions_round_trip(e in expr_strategy()) {
        let printed = e.to_string();
        prop_assert_eq!(parse_expression(&printed), Ok(e), "printed: {}", printed);
    }

    #[test]
    fn generated_patterns_round_trip(p in pattern_strategy()) {
        let printed = p.to_string();
        prop_assert_eq!(parse_pattern(&printed), Ok(p), "printed: {}", printed);
    }

    #[test]
    fn generated_scripts_round_trip(script in script_strategy()) {
        check_round_trip(&script)?;
    }
}
