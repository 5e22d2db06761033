//! Scripts and statements: annotations, `create schema`, `insert into ... select`,
//! the `from` clause with its windows, and the clauses after it.

use crate::ast::*;
use crate::error::{Custom, PErr, ParseErrorKind};
use crate::expr::cut;
use crate::lexer::{PResult, Parser, RawNumber, is_reserved, time_unit};

/// Words that begin a statement: seeing one where a statement should end means
/// a `;` is probably missing.
pub(crate) const STATEMENT_STARTS: &[&str] = &["select", "insert", "create", "@"];

/// The Esper 5 view namespaces accepted before any known view name.
const NAMESPACES: &[&str] = &["win", "std", "ext"];

impl<'a> Parser<'a> {
    /// Statements separated by `;`; the last `;` is optional and empty statements are skipped.
    pub fn script(&self, mut i: &'a str) -> PResult<'a, Script> {
        let mut statements = Vec::new();
        loop {
            let (rest, ()) = self.ws(i)?;
            if rest.is_empty() {
                return Ok((rest, Script { statements }));
            }
            if let Some((rest, _)) = self.eat_punct(rest, ";") {
                i = rest;
                continue;
            }
            let (rest, st) = self.statement(rest)?;
            statements.push(st);
            let (rest, ()) = self.ws(rest)?;
            if rest.is_empty() {
                return Ok((rest, Script { statements }));
            }
            match self.eat_punct(rest, ";") {
                Some((rest, _)) => i = rest,
                None => {
                    let mut e = PErr::expected(rest, "`;`");
                    if self.starts_statement(rest) {
                        e.custom = Some(Custom {
                            kind: ParseErrorKind::UnexpectedToken,
                            message: String::new(),
                            help: Some("missing `;` after the previous statement?".into()),
                            len: 0,
                        });
                    }
                    return Err(nom::Err::Failure(e));
                }
            }
        }
    }

    fn starts_statement(&self, i: &'a str) -> bool {
        let i = self.skip(i);
        i.starts_with('@')
            || self
                .peek_word(i)
                .is_some_and(|w| STATEMENT_STARTS.iter().any(|s| s.eq_ignore_ascii_case(w)))
    }

    /// `[annotations] (create schema ... | [insert into ...] select ...)`.
    pub fn statement(&self, i: &'a str) -> PResult<'a, Statement> {
        let (mut i, ()) = self.ws(i)?;
        let start = self.pos(i);
        let mut annotations = Vec::new();
        while self.peek_punct(i, "@") {
            let (rest, a) = self.annotation(i)?;
            annotations.push(a);
            i = rest;
        }
        let (i, kind) = if self.peek_kw(i, "create") {
            let (r, c) = self.create_schema(i)?;
            (r, StatementKind::CreateSchema(c))
        } else if self.peek_kw(i, "select") || self.peek_kw(i, "insert") {
            let (r, s) = self.select(i)?;
            (r, StatementKind::Select(Box::new(s)))
        } else {
            let at = self.skip(i);
            let mut e = PErr::expected(at, "`select`");
            e.expected.push("`insert`".into());
            e.expected.push("`create`".into());
            if annotations.is_empty() {
                e.expected.push("`@`".into());
            }
            return Err(nom::Err::Failure(e));
        };
        let span = Span::new(start, self.pos(i));
        Ok((
            i,
            Statement {
                annotations,
                kind,
                span,
            },
        ))
    }

    /// `@Name`, `@Name('x')`, `@Tag(name='k', value='v')`.
    fn annotation(&self, i: &'a str) -> PResult<'a, Annotation> {
        let (i, at) = self.punct(i, "@")?;
        let (i, (w, wspan)) = self.word(i).map_err(cut)?;
        let name = Ident {
            value: w.to_string(),
            quoted: false,
            span: wspan,
        };
        let mut args = Vec::new();
        let mut i = i;
        // The `(` must follow the name directly, or it would swallow `(` of nothing.
        if let Some((mut r, open)) = self.eat_punct(i, "(") {
            if !self.peek_punct(r, ")") {
                loop {
                    let (r2, arg) = self.annotation_arg(r)?;
                    args.push(arg);
                    r = r2;
                    match self.eat_punct(r, ",") {
                        Some((r3, _)) => r = r3,
                        None => break,
                    }
                }
            }
            let (r, _) = self.close(r, ")", "(", open)?;
            i = r;
        }
        let span = Span::new(at.start, self.pos(i));
        Ok((i, Annotation { name, args, span }))
    }

    fn annotation_arg(&self, i: &'a str) -> PResult<'a, AnnotationArg> {
        let i = self.skip(i);
        if let Some(w) = self.peek_word(i)
            && !matches!(w.to_ascii_lowercase().as_str(), "true" | "false" | "null")
        {
            let (r, (w, wspan)) = self.word(i)?;
            let (r, _) = self.punct(r, "=").map_err(cut)?;
            let (r, (value, _)) = self.literal(r).map_err(cut)?;
            let name = Ident {
                value: w.to_string(),
                quoted: false,
                span: wspan,
            };
            let span = Span::new(wspan.start, self.pos(r));
            return Ok((r, AnnotationArg::Named { name, value, span }));
        }
        let (r, (value, span)) = self.literal(i).map_err(cut)?;
        Ok((r, AnnotationArg::Positional(value, span)))
    }

    /// A constant: string, optionally signed number, `true`, `false`, `null`.
    fn literal(&self, i: &'a str) -> PResult<'a, (Literal, Span)> {
        let (i, ()) = self.ws(i)?;
        let e = self.expr_bp(i, crate::expr::LVL_NEG);
        match e {
            Ok((
                r,
                Expr {
                    kind: ExprKind::Literal(l),
                    span,
                },
            )) => Ok((r, (l, span))),
            _ => Err(nom::Err::Error(PErr::expected(i, "literal"))),
        }
    }

    /// `create [map|json] schema Name [as] (field type, ...) [starttimestamp f] [endtimestamp f]`.
    fn create_schema(&self, i: &'a str) -> PResult<'a, CreateSchema> {
        let (i, create) = self.kw(i, "create")?;
        let (i, representation) = if let Some((r, _)) = self.eat_kw(i, "map") {
            (r, SchemaRepresentation::Map)
        } else if let Some((r, _)) = self.eat_kw(i, "json") {
            (r, SchemaRepresentation::Json)
        } else {
            (i, SchemaRepresentation::Default)
        };
        let (i, _) = self.kw(i, "schema").map_err(|e| {
            cut(e).map(|mut e| {
                if representation == SchemaRepresentation::Default {
                    e.expected.push("`map`".into());
                    e.expected.push("`json`".into());
                }
                e
            })
        })?;
        let (i, name) = self.ident(i).map_err(cut)?;
        let i = self.eat_kw(i, "as").map_or(i, |(r, _)| r);
        let (mut i, open) = self.punct(i, "(").map_err(cut)?;
        let mut fields = Vec::new();
        if !self.peek_punct(i, ")") {
            loop {
                let (r, f) = self.field_def(i)?;
                fields.push(f);
                i = r;
                match self.eat_punct(i, ",") {
                    Some((r, _)) => i = r,
                    None => break,
                }
            }
        }
        let (mut i, _) = self.close(i, ")", "(", open)?;
        let mut start_timestamp = None;
        let mut end_timestamp = None;
        if let Some((r, _)) = self.eat_kw(i, "starttimestamp") {
            let (r, f) = self.ident(r).map_err(cut)?;
            start_timestamp = Some(f);
            i = r;
        }
        if let Some((r, _)) = self.eat_kw(i, "endtimestamp") {
            let (r, f) = self.ident(r).map_err(cut)?;
            end_timestamp = Some(f);
            i = r;
        }
        let span = Span::new(create.start, self.pos(i));
        Ok((
            i,
            CreateSchema {
                representation,
                name,
                fields,
                start_timestamp,
                end_timestamp,
                span,
            },
        ))
    }

    fn field_def(&self, i: &'a str) -> PResult<'a, FieldDef> {
        let (i, name) = self.ident(i).map_err(cut)?;
        let (r, (w, ty_span)) = self.word(i).map_err(|e| {
            cut(e).map(|mut e| {
                e.expected = vec!["field type".into()];
                e
            })
        })?;
        let ty = match w.to_ascii_lowercase().as_str() {
            "string" => FieldType::String,
            "int" | "integer" => FieldType::Int,
            "long" => FieldType::Long,
            "double" => FieldType::Double,
            "float" => FieldType::Float,
            "boolean" | "bool" => FieldType::Boolean,
            _ => {
                return Err(nom::Err::Failure(PErr::custom(
                    self.skip(i),
                    w.len(),
                    ParseErrorKind::UnknownType,
                    format!("unknown field type `{w}`"),
                    Some(
                        "the types are `string`, `int`, `long`, `double`, `float` and `boolean`"
                            .into(),
                    ),
                )));
            }
        };
        Ok((r, FieldDef { name, ty, ty_span }))
    }

    fn stream_selector(&self, i: &'a str) -> (&'a str, Option<StreamSelector>) {
        for (kw, s) in [
            ("istream", StreamSelector::IStream),
            ("rstream", StreamSelector::RStream),
            ("irstream", StreamSelector::IRStream),
        ] {
            if let Some((r, _)) = self.eat_kw(i, kw) {
                return (r, Some(s));
            }
        }
        (i, None)
    }

    /// `[insert [selector] into S] select [selector] [distinct] items from ... [clauses]`.
    fn select(&self, i: &'a str) -> PResult<'a, SelectStatement> {
        let i = self.skip(i);
        let start = self.pos(i);
        let (i, insert_into) = match self.eat_kw(i, "insert") {
            Some((r, ins)) => {
                let (r, stream_selector) = self.stream_selector(r);
                let (r, _) = self.kw(r, "into").map_err(cut)?;
                let (r, stream) = self.ident(r).map_err(cut)?;
                let span = Span::new(ins.start, stream.span.end);
                (
                    r,
                    Some(InsertInto {
                        stream_selector,
                        stream,
                        span,
                    }),
                )
            }
            None => (i, None),
        };
        let (i, _) = self.kw(i, "select").map_err(cut)?;
        let (i, stream_selector) = self.stream_selector(i);
        let (i, distinct) = match self.eat_kw(i, "distinct") {
            Some((r, _)) => (r, true),
            None => (i, false),
        };
        let (mut i, first) = self.select_item(i)?;
        let mut items = vec![first];
        while let Some((r, _)) = self.eat_punct(i, ",") {
            let (r, item) = self.select_item(r)?;
            items.push(item);
            i = r;
        }
        let (i, _) = self.kw(i, "from").map_err(|e| {
            cut(e).map(|mut e| {
                if e.custom.is_none() {
                    e.expected = vec!["`,`".into(), "`from`".into()];
                }
                e
            })
        })?;
        let (mut i, from) = self.source_clause(i)?;
        let mut where_clause = None;
        if let Some((r, _)) = self.eat_kw(i, "where") {
            let (r, e) = self.expr(r).map_err(cut)?;
            where_clause = Some(e);
            i = r;
        }
        let mut group_by = Vec::new();
        if let Some((r, _)) = self.eat_kw(i, "group") {
            let (r, _) = self.kw(r, "by").map_err(cut)?;
            let (r, list) = self.expr_list(r)?;
            group_by = list;
            i = r;
        }
        let mut having = None;
        if let Some((r, _)) = self.eat_kw(i, "having") {
            let (r, e) = self.expr(r).map_err(cut)?;
            having = Some(e);
            i = r;
        }
        let mut output = None;
        if let Some((r, span)) = self.eat_kw(i, "output") {
            let (r, o) = self.output(r, span)?;
            output = Some(o);
            i = r;
        }
        let mut order_by = Vec::new();
        if let Some((r, _)) = self.eat_kw(i, "order") {
            let (mut r, _) = self.kw(r, "by").map_err(cut)?;
            loop {
                let (r2, item) = self.order_item(r)?;
                order_by.push(item);
                r = r2;
                match self.eat_punct(r, ",") {
                    Some((r3, _)) => r = r3,
                    None => break,
                }
            }
            i = r;
        }
        let mut limit = None;
        if let Some((r, span)) = self.eat_kw(i, "limit") {
            let (r, count) = self.unsigned(r)?;
            let (r, offset) = match self.eat_kw(r, "offset") {
                Some((r, _)) => {
                    let (r, m) = self.unsigned(r)?;
                    (r, Some(m))
                }
                None => (r, None),
            };
            limit = Some(Limit {
                count,
                offset,
                span: Span::new(span.start, self.pos(r)),
            });
            i = r;
        }
        let span = Span::new(start, self.pos(i));
        Ok((
            i,
            SelectStatement {
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
                span,
            },
        ))
    }

    /// A non-negative integer (limit, offset, event counts).
    fn unsigned(&self, i: &'a str) -> PResult<'a, u64> {
        let (r, (n, span)) = self.number(i).map_err(cut)?;
        match n {
            RawNumber::Integer(v) => Ok((r, v)),
            RawNumber::Decimal(_) => Err(nom::Err::Failure(PErr::custom(
                self.at(span.start),
                span.len(),
                ParseErrorKind::InvalidNumber,
                "expected a whole number",
                None,
            ))),
        }
    }

    fn select_item(&self, i: &'a str) -> PResult<'a, SelectItem> {
        if let Some((r, span)) = self.eat_punct(i, "*") {
            return Ok((r, SelectItem::Wildcard(span)));
        }
        let (r, expr) = self.expr(i).map_err(cut)?;
        let (r, alias) = match self.eat_kw(r, "as") {
            Some((r, _)) => {
                let (r, a) = self.ident(r).map_err(cut)?;
                (r, Some(a))
            }
            None => (r, None),
        };
        let span = Span::new(expr.span.start, self.pos(r));
        Ok((r, SelectItem::Expr { expr, alias, span }))
    }

    fn order_item(&self, i: &'a str) -> PResult<'a, OrderItem> {
        let (r, expr) = self.expr(i).map_err(cut)?;
        let (r, descending) = if let Some((r, _)) = self.eat_kw(r, "desc") {
            (r, true)
        } else if let Some((r, _)) = self.eat_kw(r, "asc") {
            (r, false)
        } else {
            (r, false)
        };
        let span = Span::new(expr.span.start, self.pos(r));
        Ok((
            r,
            OrderItem {
                expr,
                descending,
                span,
            },
        ))
    }

    /// After `output`: `[all|first|last|snapshot] every (N events | T)`.
    fn output(&self, i: &'a str, output_span: Span) -> PResult<'a, OutputLimit> {
        let mut mode = OutputMode::Default;
        let mut i = i;
        for (kw, m) in [
            ("all", OutputMode::All),
            ("first", OutputMode::First),
            ("last", OutputMode::Last),
            ("snapshot", OutputMode::Snapshot),
        ] {
            if let Some((r, _)) = self.eat_kw(i, kw) {
                mode = m;
                i = r;
                break;
            }
        }
        let (i, _) = self.kw(i, "every").map_err(|e| {
            cut(e).map(|mut e| {
                if mode == OutputMode::Default {
                    for m in ["`all`", "`first`", "`last`", "`snapshot`"] {
                        e.expected.push(m.into());
                    }
                }
                e
            })
        })?;
        let i = self.skip(i);
        let (r, (n, nspan)) = self.number(i).map_err(|e| {
            cut(e).map(|mut e| {
                e.expected = vec!["number of events or time period".into()];
                e
            })
        })?;
        let (r, rate) =
            if let Some((r, _)) = self.eat_kw(r, "events").or_else(|| self.eat_kw(r, "event")) {
                match n {
                    RawNumber::Integer(v) => (r, OutputRate::Events(v)),
                    RawNumber::Decimal(_) => {
                        return Err(nom::Err::Failure(PErr::custom(
                            i,
                            nspan.len(),
                            ParseErrorKind::InvalidNumber,
                            "a number of events must be a whole number",
                            None,
                        )));
                    }
                }
            } else if self.peek_word(r).and_then(time_unit).is_some() {
                let (r, tp) = self.time_period_tail(i, r, n, nspan)?;
                (r, OutputRate::Time(tp))
            } else {
                // A bare number means seconds.
                let amount = match n {
                    RawNumber::Integer(v) => {
                        Number::Integer(i64::try_from(v).map_err(|_| crate::expr::out_of_range(i))?)
                    }
                    RawNumber::Decimal(d) => Number::Decimal(d),
                };
                let tp = TimePeriod {
                    parts: vec![TimePart {
                        amount,
                        unit: TimeUnit::Second,
                    }],
                    span: nspan,
                };
                (r, OutputRate::Time(tp))
            };
        let span = Span::new(output_span.start, self.pos(r));
        Ok((r, OutputLimit { mode, rate, span }))
    }

    /// `Type[(filter)][views] [[as] alias]` or `pattern [ ... ] [[as] alias]`.
    fn source_clause(&self, i: &'a str) -> PResult<'a, FromClause> {
        let i = self.skip(i);
        if let Some((r, kw)) = self.eat_kw(i, "pattern") {
            let (r, open) = self.punct(r, "[").map_err(cut)?;
            let (r, pattern) = self.pattern(r).map_err(cut)?;
            let (r, _) = self.close(r, "]", "[", open)?;
            let (r, alias) = self.alias(r)?;
            let span = Span::new(kw.start, self.pos(r));
            return Ok((
                r,
                FromClause::Pattern(PatternSource {
                    pattern,
                    alias,
                    span,
                }),
            ));
        }
        let (r, event_type) = self.ident(i).map_err(|e| {
            cut(e).map(|mut e| {
                if e.custom.is_none() {
                    e.expected = vec!["event type".into(), "`pattern`".into()];
                }
                e
            })
        })?;
        let (mut r, filter) = self.filter(r)?;
        let mut views = Vec::new();
        loop {
            if let Some((r2, hash)) = self.eat_punct(r, "#") {
                let (r2, v) = self.view(r2, hash, false)?;
                views.push(v);
                r = r2;
            } else if let Some((r2, dot)) = self.eat_punct(r, ".") {
                let (r2, v) = self.view(r2, dot, true)?;
                views.push(v);
                r = r2;
            } else {
                break;
            }
        }
        let (r, alias) = self.alias(r)?;
        let span = Span::new(event_type.span.start, self.pos(r));
        Ok((
            r,
            FromClause::Stream(StreamSource {
                event_type,
                filter,
                views,
                alias,
                span,
            }),
        ))
    }

    /// `[as] alias`, where a bare word is an alias unless it is reserved.
    fn alias(&self, i: &'a str) -> PResult<'a, Option<Ident>> {
        if let Some((r, _)) = self.eat_kw(i, "as") {
            let (r, a) = self.ident(r).map_err(cut)?;
            return Ok((r, Some(a)));
        }
        let at = self.skip(i);
        match self.peek_word(at) {
            Some(w) if !is_reserved(w) => {
                let after = at.get(w.len()..).unwrap_or("");
                if after.starts_with(':') && NAMESPACES.iter().any(|n| n.eq_ignore_ascii_case(w)) {
                    let view = self
                        .peek_word(after.get(1..).unwrap_or(""))
                        .unwrap_or("time");
                    return Err(nom::Err::Failure(PErr::custom(
                        at,
                        w.len(),
                        ParseErrorKind::UnexpectedToken,
                        format!("unexpected `{w}:` after the event type"),
                        Some(format!(
                            "an Esper 5 view needs a dot: write `.{w}:{view}(...)`, or `#{view}(...)`"
                        )),
                    )));
                }
                let (r, a) = self.ident(at)?;
                Ok((r, Some(a)))
            }
            _ => {
                if at.starts_with('`') {
                    let (r, a) = self.ident(at)?;
                    return Ok((r, Some(a)));
                }
                Ok((i, None))
            }
        }
    }

    /// After `#` (or `.` when `dotted`): `name[(params)]` or `ns:name[(params)]`.
    fn view(&self, i: &'a str, intro: Span, dotted: bool) -> PResult<'a, View> {
        let i = if dotted {
            let (r, (ns, _)) = self.word(i).map_err(|e| {
                cut(e).map(|mut e| {
                    e.expected = vec!["view namespace (`win:`, `std:`)".into()];
                    e
                })
            })?;
            if !NAMESPACES.iter().any(|n| n.eq_ignore_ascii_case(ns)) {
                return Err(nom::Err::Failure(PErr::custom(
                    self.skip(i),
                    ns.len(),
                    ParseErrorKind::UnknownView,
                    format!("unknown view namespace `{ns}`"),
                    Some("write `.win:time(...)`, `.std:unique(...)`, or `#time(...)`".into()),
                )));
            }
            let (r, _) = self.punct(r, ":").map_err(cut)?;
            r
        } else {
            i
        };
        let (r, (name, name_span)) = self.word(i).map_err(|e| {
            cut(e).map(|mut e| {
                e.expected = vec!["window name".into()];
                e
            })
        })?;
        if !dotted && r.starts_with(':') && NAMESPACES.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            let view = self.peek_word(r.get(1..).unwrap_or("")).unwrap_or("time");
            return Err(nom::Err::Failure(PErr::custom(
                self.at(name_span.start),
                name.len() + 1,
                ParseErrorKind::UnexpectedToken,
                format!("unexpected `{name}:` after `#`"),
                Some(format!(
                    "write `#{view}(...)`, or `.{name}:{view}(...)` without the `#`"
                )),
            )));
        }
        let Some(kind) = ViewKind::from_name(name) else {
            let help = match closest_view(name) {
                Some(k) => format!("did you mean `{}`?", k.name()),
                None => format!(
                    "the windows are {}",
                    ViewKind::ALL
                        .iter()
                        .map(|k| format!("`{}`", k.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(nom::Err::Failure(PErr::custom(
                self.at(name_span.start),
                name.len(),
                ParseErrorKind::UnknownView,
                format!("unknown window `{name}`"),
                Some(help),
            )));
        };
        let (r, params) = match self.eat_punct(r, "(") {
            Some((r, open)) => {
                if let Some((r, _)) = self.eat_punct(r, ")") {
                    (r, Vec::new())
                } else {
                    let (r, list) = self.expr_list(r)?;
                    let (r, _) = self.close(r, ")", "(", open)?;
                    (r, list)
                }
            }
            None => (r, Vec::new()),
        };
        let span = Span::new(intro.start, self.pos(r));
        Ok((r, View { kind, params, span }))
    }
}

/// The known view whose name is closest to `name`, if it is close enough.
fn closest_view(name: &str) -> Option<ViewKind> {
    let name = name.to_ascii_lowercase();
    ViewKind::ALL
        .into_iter()
        .map(|k| (edit_distance(&name, k.name()), k))
        .filter(|(d, k)| *d <= 3.max(k.name().len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("time_bach", "time_batch"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest_view("lenght"), Some(ViewKind::Length));
        assert_eq!(closest_view("zzzzzzzzzzzz"), None);
    }
}
