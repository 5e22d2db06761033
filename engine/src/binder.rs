//! The binder: resolves names and types in a parsed script and plans each
//! statement. Every user mistake becomes a [`BindError`] anchored at a span.
use std::sync::Arc;

use cepheus_parser as ast;
use cepheus_parser::{ExprKind, Span};

use crate::aggregate::{AggFunc, AggSpec};
use crate::expr::{ArithOp, BoundExpr, CompareOp, LikePattern, ScalarFunc};
use crate::fingerprint::statement_fingerprint;
use crate::pattern::{DEFAULT_MAX_INSTANCES, PatternNode, PatternPlan};
use crate::plan::*;
use crate::schema::{EventType, FieldInfo, TypeRegistry, closest};
use crate::value::{Type, Value};
use crate::window::WindowSpec;

/// A mistake in a rule: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct BindError {
    pub message: String,
    pub span: Span,
    pub help: Option<String>,
}

impl BindError {
    fn new(span: Span, message: impl Into<String>) -> BindError {
        BindError {
            message: message.into(),
            span,
            help: None,
        }
    }
    fn help(mut self, help: impl Into<String>) -> BindError {
        self.help = Some(help.into());
        self
    }
}

type Result<T> = std::result::Result<T, BindError>;

/// What names an expression can see.
enum NameScope<'a> {
    Stream {
        ty: &'a Arc<EventType>,
        alias: Option<&'a str>,
    },
    Pattern {
        tags: &'a [(String, Arc<EventType>)],
        /// Tags bound under a repeat (`[3] a=A`): only these can be indexed.
        repeated: &'a [String],
        current: Option<&'a Arc<EventType>>,
    },
}

/// Where aggregates go while binding, or why they are not allowed.
enum AggSink<'a> {
    Collect(&'a mut Vec<AggSpec>),
    Forbidden(&'static str),
}

struct ExprBinder<'a> {
    src: &'a str,
    scope: NameScope<'a>,
    aggs: AggSink<'a>,
    in_aggregate: bool,
}

fn text(src: &str, span: Span) -> String {
    src.get(span.start..span.end)
        .unwrap_or("")
        .trim()
        .to_string()
}

impl ExprBinder<'_> {
    fn bind(&mut self, e: &ast::Expr) -> Result<(BoundExpr, Type)> {
        match &e.kind {
            ExprKind::Literal(l) => Ok(match l {
                ast::Literal::Integer(i) => (BoundExpr::Const(Value::Int(*i)), Type::Int),
                ast::Literal::Decimal(f) => (BoundExpr::Const(Value::Float(*f)), Type::Float),
                ast::Literal::String(s) => (BoundExpr::Const(Value::str(s)), Type::String),
                ast::Literal::Boolean(b) => (BoundExpr::Const(Value::Bool(*b)), Type::Bool),
                ast::Literal::Null => (BoundExpr::Const(Value::Null), Type::Null),
            }),
            ExprKind::Property(path) => self.property(path, e.span),
            ExprKind::IndexedProperty { tag, index, path } => {
                self.indexed_property(tag, *index, path, e.span)
            }
            ExprKind::Unary { op, expr } => {
                let (b, t) = self.bind(expr)?;
                match op {
                    ast::UnaryOp::Neg => {
                        expect_numeric(t, expr.span, "unary `-`")?;
                        Ok((BoundExpr::Neg(Box::new(b)), t))
                    }
                    ast::UnaryOp::Not => {
                        expect_bool(t, expr.span, "`not`")?;
                        Ok((BoundExpr::Not(Box::new(b)), Type::Bool))
                    }
                }
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right),
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let (b, t) = self.bind(expr)?;
                let mut items = Vec::new();
                for item in list {
                    let (ib, it) = self.bind(item)?;
                    expect_comparable(t, it, item.span)?;
                    items.push(ib);
                }
                Ok((
                    BoundExpr::InList {
                        expr: Box::new(b),
                        list: items,
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let (b, t) = self.bind(expr)?;
                let (lb, lt) = self.bind(low)?;
                let (hb, ht) = self.bind(high)?;
                expect_comparable(t, lt, low.span)?;
                expect_comparable(t, ht, high.span)?;
                Ok((
                    BoundExpr::Between {
                        expr: Box::new(b),
                        low: Box::new(lb),
                        high: Box::new(hb),
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Like {
                expr,
                pattern,
                escape,
                negated,
            } => {
                let (b, t) = self.bind(expr)?;
                expect_string(t, expr.span, "`like`")?;
                let pat = string_literal(pattern, "a `like` pattern")?;
                let esc = match escape {
                    Some(e) => string_literal(e, "a `like` escape")?.chars().next(),
                    None => None,
                };
                let pattern = Arc::new(LikePattern::new(&pat, esc));
                Ok((
                    BoundExpr::Like {
                        expr: Box::new(b),
                        pattern,
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Regexp {
                expr,
                pattern,
                negated,
            } => {
                let (b, t) = self.bind(expr)?;
                expect_string(t, expr.span, "`regexp`")?;
                let pat = string_literal(pattern, "a `regexp` pattern")?;
                // Esper's regexp matches the whole string, like Java's String.matches.
                let re = regex::Regex::new(&format!("^(?:{pat})$")).map_err(|err| {
                    BindError::new(pattern.span, format!("invalid regular expression: {err}"))
                })?;
                Ok((
                    BoundExpr::Regexp {
                        expr: Box::new(b),
                        pattern: Arc::new(re),
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::IsNull { expr, negated } => {
                let (b, _) = self.bind(expr)?;
                Ok((
                    BoundExpr::IsNull {
                        expr: Box::new(b),
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Case {
                operand,
                whens,
                else_result,
            } => {
                let operand = match operand {
                    Some(o) => Some(self.bind(o)?),
                    None => None,
                };
                let mut result_ty = Type::Null;
                let mut bound_whens = Vec::new();
                for (cond, result) in whens {
                    let (cb, ct) = self.bind(cond)?;
                    match &operand {
                        Some((_, ot)) => expect_comparable(*ot, ct, cond.span)?,
                        None => expect_bool(ct, cond.span, "a `when` condition")?,
                    }
                    let (rb, rt) = self.bind(result)?;
                    result_ty = join_types(result_ty, rt, result.span)?;
                    bound_whens.push((cb, rb));
                }
                let else_b = match else_result {
                    Some(e) => {
                        let (eb, et) = self.bind(e)?;
                        result_ty = join_types(result_ty, et, e.span)?;
                        eb
                    }
                    None => BoundExpr::Const(Value::Null),
                };
                Ok((
                    BoundExpr::Case {
                        operand: operand.map(|(b, _)| Box::new(b)),
                        whens: bound_whens,
                        else_result: Box::new(else_b),
                    },
                    result_ty,
                ))
            }
            ExprKind::Function {
                name,
                distinct,
                args,
            } => self.function(name, *distinct, args, e.span),
            ExprKind::TimePeriod(_) => Err(BindError::new(
                e.span,
                "a time period is only allowed as a window, output or timer parameter",
            )),
        }
    }

    fn binary(
        &mut self,
        op: ast::BinaryOp,
        l: &ast::Expr,
        r: &ast::Expr,
    ) -> Result<(BoundExpr, Type)> {
        use ast::BinaryOp as B;
        let (lb, lt) = self.bind(l)?;
        let (rb, rt) = self.bind(r)?;
        let (left, right) = (Box::new(lb), Box::new(rb));
        let arith = |op: ArithOp| -> Result<(BoundExpr, Type)> {
            expect_numeric(lt, l.span, "arithmetic")?;
            expect_numeric(rt, r.span, "arithmetic")?;
            // Esper divides integers into a double: 3 / 2 = 1.5.
            let ty = if op == ArithOp::Div {
                Type::Float
            } else {
                lt.numeric_join(rt)
            };
            Ok((
                BoundExpr::Arith {
                    op,
                    float: ty == Type::Float,
                    left: left.clone(),
                    right: right.clone(),
                },
                ty,
            ))
        };
        let compare = |op: CompareOp| -> Result<(BoundExpr, Type)> {
            expect_comparable(lt, rt, r.span)?;
            Ok((
                BoundExpr::Compare {
                    op,
                    left: left.clone(),
                    right: right.clone(),
                },
                Type::Bool,
            ))
        };
        match op {
            B::Add => arith(ArithOp::Add),
            B::Sub => arith(ArithOp::Sub),
            B::Mul => arith(ArithOp::Mul),
            B::Div => arith(ArithOp::Div),
            B::Mod => arith(ArithOp::Mod),
            B::Concat => Ok((BoundExpr::Concat(left, right), Type::String)),
            B::Eq => compare(CompareOp::Eq),
            B::NotEq => compare(CompareOp::NotEq),
            B::Lt => compare(CompareOp::Lt),
            B::LtEq => compare(CompareOp::LtEq),
            B::Gt => compare(CompareOp::Gt),
            B::GtEq => compare(CompareOp::GtEq),
            B::And | B::Or => {
                expect_bool(lt, l.span, "`and`/`or`")?;
                expect_bool(rt, r.span, "`and`/`or`")?;
                let b = if op == B::And {
                    BoundExpr::And(left, right)
                } else {
                    BoundExpr::Or(left, right)
                };
                Ok((b, Type::Bool))
            }
        }
    }

    fn property(&self, path: &[ast::Ident], span: Span) -> Result<(BoundExpr, Type)> {
        let names: Vec<&str> = path.iter().map(|i| i.value.as_str()).collect();
        match &self.scope {
            NameScope::Stream { ty, alias } => {
                let field = match names.as_slice() {
                    [f] => *f,
                    [q, f] if Some(*q) == *alias || *q == ty.name => *f,
                    [q, _] => {
                        return Err(BindError::new(span, format!("unknown stream `{q}`")).help(
                            format!(
                                "this statement reads `{}`{}",
                                ty.name,
                                alias.map(|a| format!(" as `{a}`")).unwrap_or_default()
                            ),
                        ));
                    }
                    _ => return Err(BindError::new(span, "nested properties are not supported")),
                };
                field_of(ty, field, span).map(|(i, t)| (BoundExpr::Field(i), t))
            }
            NameScope::Pattern { tags, current, .. } => {
                let tag_index = |name: &str| tags.iter().position(|(t, _)| t == name);
                match names.as_slice() {
                    [f] => {
                        if let Some((cur, i)) = current.and_then(|c| Some((c, c.field(f)?))) {
                            return Ok((BoundExpr::Field(i), cur.fields[i].ty));
                        }
                        if let Some(t) = tag_index(f) {
                            return Ok((BoundExpr::Tag(t), Type::Event(tags[t].1.id)));
                        }
                        match current {
                            Some(cur) => {
                                field_of(cur, f, span).map(|(i, t)| (BoundExpr::Field(i), t))
                            }
                            None => Err(unknown_tag(f, tags, span)),
                        }
                    }
                    [t, f] => match tag_index(t) {
                        Some(ti) => {
                            let (fi, ty) = field_of(&tags[ti].1, f, span)?;
                            Ok((BoundExpr::TagField { tag: ti, field: fi }, ty))
                        }
                        None => Err(unknown_tag(t, tags, span)),
                    },
                    _ => Err(BindError::new(span, "nested properties are not supported")),
                }
            }
        }
    }

    /// `a[0]` / `a[0].v`: an event of a repeated pattern tag (`[2] a=A`).
    fn indexed_property(
        &self,
        tag: &ast::Ident,
        index: u32,
        path: &[ast::Ident],
        span: Span,
    ) -> Result<(BoundExpr, Type)> {
        let NameScope::Pattern { tags, repeated, .. } = &self.scope else {
            return Err(BindError::new(
                span,
                format!("`{}[{index}]`: only pattern tags can be indexed", tag.value),
            ));
        };
        let Some(ti) = tags.iter().position(|(t, _)| *t == tag.value) else {
            return Err(unknown_tag(&tag.value, tags, span));
        };
        if !repeated.contains(&tag.value) {
            return Err(BindError::new(
                span,
                format!(
                    "`{}[{index}]`: tag `{}` matches a single event, it is not repeated",
                    tag.value, tag.value
                ),
            )
            .help(format!(
                "write `{}.field`; indexing applies to tags under a repeat such as `[3] {}=...`",
                tag.value, tag.value
            )));
        }
        let ty = &tags[ti].1;
        let index = index as usize;
        match path {
            [] => Ok((
                BoundExpr::TagElement {
                    tag: ti,
                    index,
                    field: None,
                },
                Type::Event(ty.id),
            )),
            [f] => {
                let (fi, fty) = field_of(ty, &f.value, span)?;
                Ok((
                    BoundExpr::TagElement {
                        tag: ti,
                        index,
                        field: Some(fi),
                    },
                    fty,
                ))
            }
            _ => Err(BindError::new(span, "nested properties are not supported")),
        }
    }

    fn function(
        &mut self,
        name: &ast::Ident,
        distinct: bool,
        args: &ast::FunctionArgs,
        span: Span,
    ) -> Result<(BoundExpr, Type)> {
        let lname = name.value.to_ascii_lowercase();
        let arg_list: &[ast::Expr] = match args {
            ast::FunctionArgs::Star => &[],
            ast::FunctionArgs::List(l) => l,
        };
        let is_star = matches!(args, ast::FunctionArgs::Star);
        let aggregate = AggFunc::from_name(&lname)
            .filter(|_| !(matches!(lname.as_str(), "min" | "max") && arg_list.len() > 1));
        if let Some(func) = aggregate {
            return self.aggregate(func, &lname, distinct, is_star, arg_list, span);
        }
        if is_star || distinct {
            return Err(BindError::new(
                span,
                format!("`{}` is not an aggregate function", name.value),
            ));
        }
        let func = match lname.as_str() {
            "abs" => ScalarFunc::Abs,
            "coalesce" => ScalarFunc::Coalesce,
            "lower" => ScalarFunc::Lower,
            "upper" => ScalarFunc::Upper,
            "max" => ScalarFunc::Max,
            "min" => ScalarFunc::Min,
            _ => {
                let known = [
                    "count", "sum", "avg", "min", "max", "stddev", "first", "last", "abs",
                    "coalesce", "lower", "upper",
                ];
                let mut err =
                    BindError::new(name.span, format!("unknown function `{}`", name.value));
                if let Some(c) = closest(&name.value, known.into_iter()) {
                    err = err.help(format!("did you mean `{c}`?"));
                }
                return Err(err);
            }
        };
        let mut bound = Vec::new();
        let mut ty = Type::Null;
        for a in arg_list {
            let (b, t) = self.bind(a)?;
            ty = join_types(ty, t, a.span)?;
            bound.push(b);
        }
        let ty = match func {
            ScalarFunc::Lower | ScalarFunc::Upper => Type::String,
            _ => ty,
        };
        Ok((BoundExpr::Call { func, args: bound }, ty))
    }

    fn aggregate(
        &mut self,
        func: AggFunc,
        lname: &str,
        distinct: bool,
        is_star: bool,
        args: &[ast::Expr],
        span: Span,
    ) -> Result<(BoundExpr, Type)> {
        if self.in_aggregate {
            return Err(BindError::new(span, "aggregate functions cannot be nested"));
        }
        if let AggSink::Forbidden(clause) = self.aggs {
            return Err(BindError::new(
                span,
                format!("aggregate functions are not allowed in {clause}"),
            )
            .help("filter groups after aggregation with `having`"));
        }
        let (func, arg, arg_ty) = if is_star {
            if func != AggFunc::Count {
                return Err(BindError::new(
                    span,
                    format!("`{lname}(*)` is not allowed; only `count(*)`"),
                ));
            }
            (AggFunc::CountStar, None, Type::Int)
        } else {
            let [a] = args else {
                return Err(BindError::new(
                    span,
                    format!("`{lname}` takes exactly one argument"),
                ));
            };
            self.in_aggregate = true;
            let bound = self.bind(a);
            self.in_aggregate = false;
            let (b, t) = bound?;
            if matches!(func, AggFunc::Sum | AggFunc::Avg | AggFunc::Stddev) && !t.is_numeric() {
                return Err(BindError::new(
                    a.span,
                    format!(
                        "`{lname}` needs a numeric argument, but this is {}",
                        t.name()
                    ),
                ));
            }
            (func, Some(b), t)
        };
        let ty = match func {
            AggFunc::CountStar | AggFunc::Count => Type::Int,
            AggFunc::Avg | AggFunc::Stddev => Type::Float,
            AggFunc::Sum => {
                if arg_ty == Type::Int {
                    Type::Int
                } else {
                    Type::Float
                }
            }
            _ => arg_ty,
        };
        let text = text(self.src, span);
        let AggSink::Collect(aggs) = &mut self.aggs else {
            return Err(BindError::new(
                span,
                "internal error: aggregate sink changed while binding",
            ));
        };
        let slot = match aggs.iter().position(|a| a.text == text) {
            Some(i) => i,
            None => {
                aggs.push(AggSpec {
                    func,
                    distinct,
                    arg,
                    ty,
                    text,
                });
                aggs.len() - 1
            }
        };
        Ok((BoundExpr::Aggregate(slot), ty))
    }
}

fn unknown_tag(name: &str, tags: &[(String, Arc<EventType>)], span: Span) -> BindError {
    let mut err = BindError::new(span, format!("unknown tag or property `{name}`"));
    if let Some(c) = closest(name, tags.iter().map(|(t, _)| t.as_str())) {
        err = err.help(format!("did you mean the tag `{c}`?"));
    } else if !tags.is_empty() {
        let names: Vec<&str> = tags.iter().map(|(t, _)| t.as_str()).collect();
        err = err.help(format!("the pattern binds the tags {}", names.join(", ")));
    }
    err
}

fn field_of(ty: &EventType, name: &str, span: Span) -> Result<(usize, Type)> {
    match ty.field(name) {
        Some(i) => Ok((i, ty.fields[i].ty)),
        None => {
            let mut err = BindError::new(span, format!("`{}` has no field `{name}`", ty.name));
            err = match ty.closest_field(name) {
                Some(c) => err.help(format!("did you mean `{c}`?")),
                None => {
                    let names: Vec<&str> = ty.fields.iter().map(|f| f.name.as_str()).collect();
                    err.help(format!("its fields are: {}", names.join(", ")))
                }
            };
            Err(err)
        }
    }
}

fn expect_numeric(t: Type, span: Span, what: &str) -> Result<()> {
    if t.is_numeric() {
        Ok(())
    } else {
        Err(BindError::new(
            span,
            format!("{what} needs a number, but this is {}", t.name()),
        ))
    }
}
fn expect_bool(t: Type, span: Span, what: &str) -> Result<()> {
    if matches!(t, Type::Bool | Type::Null) {
        Ok(())
    } else {
        Err(BindError::new(
            span,
            format!("{what} needs a boolean, but this is {}", t.name()),
        ))
    }
}
fn expect_string(t: Type, span: Span, what: &str) -> Result<()> {
    if matches!(t, Type::String | Type::Null) {
        Ok(())
    } else {
        Err(BindError::new(
            span,
            format!("{what} needs a string, but this is {}", t.name()),
        ))
    }
}
fn expect_comparable(a: Type, b: Type, span: Span) -> Result<()> {
    let ok = a == Type::Null || b == Type::Null || a == b || (a.is_numeric() && b.is_numeric());
    if ok {
        Ok(())
    } else {
        Err(BindError::new(
            span,
            format!("cannot compare {} with {}", a.name(), b.name()),
        ))
    }
}
fn join_types(a: Type, b: Type, span: Span) -> Result<Type> {
    Ok(match (a, b) {
        (Type::Null, t) | (t, Type::Null) => t,
        (a, b) if a == b => a,
        (a, b) if a.is_numeric() && b.is_numeric() => a.numeric_join(b),
        (a, b) => {
            return Err(BindError::new(
                span,
                format!("mixes {} and {} in one result", a.name(), b.name()),
            ));
        }
    })
}
fn string_literal(e: &ast::Expr, what: &str) -> Result<String> {
    match &e.kind {
        ExprKind::Literal(ast::Literal::String(s)) => Ok(s.clone()),
        _ => Err(BindError::new(
            e.span,
            format!("{what} must be a string literal"),
        )),
    }
}

/// The bound statements of a script, with the types they declared.
#[derive(Debug, Clone, Default)]
pub struct BoundScript {
    pub registry: TypeRegistry,
    pub statements: Vec<StatementPlan>,
}

/// Binds and plans a whole script on top of `registry` (types already known).
/// Collects every error rather than stopping at the first.
pub fn bind_script(
    src: &str,
    script: &ast::Script,
    registry: &TypeRegistry,
) -> std::result::Result<BoundScript, Vec<BindError>> {
    let mut registry = registry.clone();
    let mut statements = Vec::new();
    let mut errors = Vec::new();
    let mut unnamed = 0usize;
    for stmt in &script.statements {
        match &stmt.kind {
            ast::StatementKind::CreateSchema(cs) => {
                if let Err(e) = create_schema(cs, &mut registry) {
                    errors.push(e);
                }
            }
            ast::StatementKind::Select(sel) => {
                unnamed += 1;
                let name = annotation_string(&stmt.annotations, "name")
                    .unwrap_or_else(|| format!("statement-{unnamed}"));
                if let Some(dup) = statements.iter().find(|s: &&StatementPlan| s.name == name) {
                    errors.push(
                        BindError::new(
                            stmt.span,
                            format!("a statement named `{}` already exists", dup.name),
                        )
                        .help("give each statement a unique @Name"),
                    );
                    continue;
                }
                match bind_select(src, stmt, sel, name, &mut registry) {
                    Ok(plan) => statements.push(plan),
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(BoundScript {
            registry,
            statements,
        })
    } else {
        Err(errors)
    }
}

/// The string argument of `@name('x')` (case-insensitive annotation name).
pub fn annotation_string(annotations: &[ast::Annotation], name: &str) -> Option<String> {
    annotations
        .iter()
        .find(|a| a.name.value.eq_ignore_ascii_case(name))
        .and_then(|a| {
            a.args.iter().find_map(|arg| match arg {
                ast::AnnotationArg::Positional(ast::Literal::String(s), _) => Some(s.clone()),
                ast::AnnotationArg::Named {
                    name,
                    value: ast::Literal::String(s),
                    ..
                } if name.value.eq_ignore_ascii_case("value") => Some(s.clone()),
                _ => None,
            })
        })
}

fn create_schema(cs: &ast::CreateSchema, registry: &mut TypeRegistry) -> Result<()> {
    if registry.get(&cs.name.value).is_some() {
        return Err(BindError::new(
            cs.name.span,
            format!("event type `{}` is already declared", cs.name.value),
        ));
    }
    let mut fields: Vec<FieldInfo> = Vec::new();
    for f in &cs.fields {
        if fields.iter().any(|x| x.name == f.name.value) {
            return Err(BindError::new(
                f.name.span,
                format!("field `{}` is declared twice", f.name.value),
            ));
        }
        fields.push(FieldInfo {
            name: f.name.value.clone(),
            ty: f.ty.into(),
        });
    }
    let timestamp = match &cs.start_timestamp {
        Some(ts) => {
            let Some(i) = fields.iter().position(|f| f.name == ts.value) else {
                return Err(BindError::new(
                    ts.span,
                    format!(
                        "starttimestamp `{}` is not a field of `{}`",
                        ts.value, cs.name.value
                    ),
                ));
            };
            if !matches!(fields[i].ty, Type::Int | Type::String) {
                return Err(BindError::new(
                    ts.span,
                    "the timestamp field must be a long (epoch milliseconds) or a string (RFC 3339)",
                ));
            }
            Some(i)
        }
        None => None,
    };
    registry.add(&cs.name.value, fields, timestamp);
    Ok(())
}

fn bind_select(
    src: &str,
    stmt: &ast::Statement,
    sel: &ast::SelectStatement,
    name: String,
    registry: &mut TypeRegistry,
) -> Result<StatementPlan> {
    let mut aggregates = Vec::new();
    // Input.
    let (input, stream_ty, alias, pattern_tags, pattern_repeated) = match &sel.from {
        ast::FromClause::Stream(s) => {
            let ty = lookup_type(registry, &s.event_type)?;
            let alias = s.alias.as_ref().map(|a| a.value.clone());
            let filter = match &s.filter {
                Some(f) => Some(bind_condition(
                    src,
                    NameScope::Stream {
                        ty: &ty,
                        alias: alias.as_deref(),
                    },
                    f,
                    "a filter",
                )?),
                None => None,
            };
            let window = bind_views(src, &ty, &s.views, &stmt.annotations)?;
            (
                InputPlan::Stream {
                    event_type: ty.clone(),
                    filter,
                    window,
                },
                Some(ty),
                alias,
                Vec::new(),
                Vec::new(),
            )
        }
        ast::FromClause::Pattern(p) => {
            let mut tags = Vec::new();
            let mut repeated = Vec::new();
            repeated_tags(&p.pattern, false, &mut repeated);
            let root = bind_pattern(src, registry, &p.pattern, &repeated, &mut tags)?;
            let max_instances =
                hint_usize(&stmt.annotations, "max_instances").unwrap_or(DEFAULT_MAX_INSTANCES);
            let plan = PatternPlan {
                root,
                tags: tags.clone(),
                max_instances,
            };
            (
                InputPlan::Pattern(Arc::new(plan)),
                None,
                None,
                tags,
                repeated,
            )
        }
    };
    let scope = || match &stream_ty {
        Some(ty) => NameScope::Stream {
            ty,
            alias: alias.as_deref(),
        },
        None => NameScope::Pattern {
            tags: &pattern_tags,
            repeated: &pattern_repeated,
            current: None,
        },
    };

    // Select list.
    let mut columns: Vec<Column> = Vec::new();
    for item in &sel.items {
        match item {
            ast::SelectItem::Wildcard(_) => match &stream_ty {
                Some(ty) => columns.extend(ty.fields.iter().enumerate().map(|(i, f)| Column {
                    name: f.name.clone(),
                    expr: BoundExpr::Field(i),
                    ty: f.ty,
                })),
                None => {
                    columns.extend(pattern_tags.iter().enumerate().map(|(i, (t, ty))| Column {
                        name: t.clone(),
                        expr: BoundExpr::Tag(i),
                        ty: Type::Event(ty.id),
                    }))
                }
            },
            ast::SelectItem::Expr { expr, alias, .. } => {
                let mut b = ExprBinder {
                    src,
                    scope: scope(),
                    aggs: AggSink::Collect(&mut aggregates),
                    in_aggregate: false,
                };
                let (bound, ty) = b.bind(expr)?;
                let name = alias
                    .as_ref()
                    .map_or_else(|| text(src, expr.span), |a| a.value.clone());
                if columns.iter().any(|c| c.name == name) {
                    return Err(BindError::new(
                        expr.span,
                        format!("two columns are named `{name}`"),
                    )
                    .help("give one of them an alias with `as`"));
                }
                columns.push(Column {
                    name,
                    expr: bound,
                    ty,
                });
            }
        }
    }
    let where_clause = match &sel.where_clause {
        Some(w) => Some(bind_condition(src, scope(), w, "the where clause")?),
        None => None,
    };
    let mut group_by = Vec::new();
    for g in &sel.group_by {
        let mut b = ExprBinder {
            src,
            scope: scope(),
            aggs: AggSink::Forbidden("group by"),
            in_aggregate: false,
        };
        group_by.push(b.bind(g)?.0);
    }
    let having = match &sel.having {
        Some(h) => {
            let mut b = ExprBinder {
                src,
                scope: scope(),
                aggs: AggSink::Collect(&mut aggregates),
                in_aggregate: false,
            };
            let (bound, ty) = b.bind(h)?;
            expect_bool(ty, h.span, "the having clause")?;
            Some(bound)
        }
        None => None,
    };
    let mut order_by = Vec::new();
    for o in &sel.order_by {
        let by_alias = match &o.expr.kind {
            ExprKind::Property(p) if p.len() == 1 => columns
                .iter()
                .find(|c| c.name == p[0].value)
                .map(|c| c.expr.clone()),
            _ => None,
        };
        let expr = match by_alias {
            Some(e) => e,
            None => {
                let mut b = ExprBinder {
                    src,
                    scope: scope(),
                    aggs: AggSink::Collect(&mut aggregates),
                    in_aggregate: false,
                };
                b.bind(&o.expr)?.0
            }
        };
        order_by.push(OrderKey {
            expr,
            descending: o.descending,
        });
    }

    let shape = classify(&columns, &group_by, &aggregates);
    let output = match &sel.output {
        Some(o) => Some(OutputSpec {
            mode: o.mode,
            rate: match &o.rate {
                ast::OutputRate::Events(0) => {
                    return Err(
                        BindError::new(o.span, "output every 0 events never outputs")
                            .help("use a count of at least 1"),
                    );
                }
                ast::OutputRate::Events(n) => OutputRate::Events(*n),
                ast::OutputRate::Time(t) => {
                    let ms = t.millis();
                    if ms <= 0 {
                        return Err(BindError::new(
                            t.span,
                            "the output interval must be positive",
                        ));
                    }
                    OutputRate::Millis(ms)
                }
            },
        }),
        None => None,
    };
    let limit = sel.limit.as_ref().map(|l| RowLimit {
        count: usize::try_from(l.count).unwrap_or(usize::MAX),
        offset: l
            .offset
            .map_or(0, |o| usize::try_from(o).unwrap_or(usize::MAX)),
    });

    let fields: Vec<FieldInfo> = columns
        .iter()
        .map(|c| FieldInfo {
            name: c.name.clone(),
            ty: if c.ty == Type::Null {
                Type::String
            } else {
                c.ty
            },
        })
        .collect();
    let insert_into = match &sel.insert_into {
        Some(ins) => {
            let target = match registry.get(&ins.stream.value) {
                Some(existing) => {
                    for f in &fields {
                        if existing.field(&f.name).is_none() {
                            return Err(BindError::new(
                                ins.stream.span,
                                format!(
                                    "`{}` has no field `{}` for this select list",
                                    existing.name, f.name
                                ),
                            ));
                        }
                    }
                    existing.clone()
                }
                None => registry.add(&ins.stream.value, fields.clone(), None),
            };
            let column_of_field = target
                .fields
                .iter()
                .map(|f| columns.iter().position(|c| c.name == f.name))
                .collect();
            Some(InsertTarget {
                event_type: target,
                column_of_field,
                selector: ins.stream_selector.unwrap_or(ast::StreamSelector::IStream),
            })
        }
        None => None,
    };
    let output_type = match &insert_into {
        Some(t) => t.event_type.clone(),
        None => Arc::new(EventType::new(
            crate::schema::TypeId(u32::MAX),
            name.clone(),
            fields,
            None,
        )),
    };
    // `insert into` rows feed other statements; `@Output` also makes them alerts.
    let alerts = insert_into.is_none()
        || stmt
            .annotations
            .iter()
            .any(|a| a.name.value.eq_ignore_ascii_case("output"));
    let storage = window_storage(
        &input,
        shape,
        &columns,
        &group_by,
        having.as_ref(),
        &order_by,
        output,
    );
    let mut plan = StatementPlan {
        name,
        storage,
        alerts,
        text: text(src, stmt.span),
        fingerprint: 0,
        input,
        where_clause,
        columns,
        aggregates,
        group_by,
        having,
        shape,
        selector: sel.stream_selector.unwrap_or(ast::StreamSelector::IStream),
        output,
        order_by,
        limit,
        insert_into,
        output_type,
    };
    plan.fingerprint = statement_fingerprint(&stmt.to_string(), &plan, registry);
    Ok(plan)
}

fn lookup_type(registry: &TypeRegistry, name: &ast::Ident) -> Result<Arc<EventType>> {
    registry.get(&name.value).cloned().ok_or_else(|| {
        let err = BindError::new(name.span, format!("unknown event type `{}`", name.value));
        match registry.closest_type(&name.value) {
            Some(c) => err.help(format!("did you mean `{c}`?")),
            None => err.help("declare it first with `create schema`"),
        }
    })
}

fn bind_condition(
    src: &str,
    scope: NameScope<'_>,
    e: &ast::Expr,
    clause: &'static str,
) -> Result<BoundExpr> {
    let mut b = ExprBinder {
        src,
        scope,
        aggs: AggSink::Forbidden(clause),
        in_aggregate: false,
    };
    let (bound, ty) = b.bind(e)?;
    expect_bool(ty, e.span, clause)?;
    Ok(bound)
}

fn hint_usize(annotations: &[ast::Annotation], key: &str) -> Option<usize> {
    let hint = annotation_string(annotations, "hint")?;
    hint.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key))
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

/// Esper's output shape from the select list, group by and aggregates.
fn classify(columns: &[Column], group_by: &[BoundExpr], aggregates: &[AggSpec]) -> Shape {
    let mut plain = Vec::new();
    for c in columns {
        collect_plain_refs(&c.expr, &mut plain);
    }
    if group_by.is_empty() {
        if aggregates.is_empty() {
            Shape::Unaggregated
        } else if plain.is_empty() {
            Shape::FullyAggregatedUngrouped
        } else {
            Shape::AggregatedUngrouped
        }
    } else {
        let mut keys = Vec::new();
        for g in group_by {
            collect_plain_refs(g, &mut keys);
        }
        if plain.iter().all(|p| keys.contains(p)) {
            Shape::FullyAggregatedGrouped
        } else {
            Shape::AggregatedGrouped
        }
    }
}

/// Whether the statement's window can keep aggregate inputs instead of
/// events (see [`WindowStorage`]): its rows must be the same whichever event
/// of a group they are computed from, so every group key is a plain field and
/// the select list, `having` and `order by` read no other field outside an
/// aggregate; output limiting and snapshots read events, so there is none.
fn window_storage(
    input: &InputPlan,
    shape: Shape,
    columns: &[Column],
    group_by: &[BoundExpr],
    having: Option<&BoundExpr>,
    order_by: &[OrderKey],
    output: Option<OutputSpec>,
) -> WindowStorage {
    let fifo_window = matches!(
        input,
        InputPlan::Stream {
            window: None
                | Some(
                    WindowSpec::Length(_)
                        | WindowSpec::LengthBatch(_)
                        | WindowSpec::Time(_)
                        | WindowSpec::TimeBatch(_)
                ),
            ..
        }
    );
    if !fifo_window || output.is_some() {
        return WindowStorage::Events;
    }
    let mut read = Vec::new();
    let exprs = columns
        .iter()
        .map(|c| &c.expr)
        .chain(having)
        .chain(order_by.iter().map(|o| &o.expr));
    for e in exprs {
        collect_plain_refs(e, &mut read);
    }
    let keys: Option<Vec<(usize, usize)>> = group_by
        .iter()
        .map(|g| match g {
            BoundExpr::Field(f) => Some((usize::MAX, *f)),
            _ => None,
        })
        .collect();
    let rows_from_aggregates = match shape {
        Shape::FullyAggregatedUngrouped => read.is_empty(),
        Shape::FullyAggregatedGrouped => keys.is_some_and(|k| read.iter().all(|r| k.contains(r))),
        _ => false,
    };
    if rows_from_aggregates {
        WindowStorage::AggregateInputs
    } else {
        WindowStorage::Events
    }
}

/// Field and tag references outside aggregates, as (tag or usize::MAX, field).
fn collect_plain_refs(e: &BoundExpr, out: &mut Vec<(usize, usize)>) {
    use BoundExpr as B;
    match e {
        B::Const(_) | B::Aggregate(_) => {}
        B::Field(f) => out.push((usize::MAX, *f)),
        B::TagField { tag, field } => out.push((*tag, *field)),
        B::Tag(t) => out.push((*t, usize::MAX)),
        B::TagElement { tag, field, .. } => out.push((*tag, field.unwrap_or(usize::MAX))),
        B::Neg(x) | B::Not(x) => collect_plain_refs(x, out),
        B::IsNull { expr, .. } | B::Like { expr, .. } | B::Regexp { expr, .. } => {
            collect_plain_refs(expr, out)
        }
        B::Arith { left, right, .. } | B::Compare { left, right, .. } => {
            collect_plain_refs(left, out);
            collect_plain_refs(right, out);
        }
        B::Concat(l, r) | B::And(l, r) | B::Or(l, r) => {
            collect_plain_refs(l, out);
            collect_plain_refs(r, out);
        }
        B::InList { expr, list, .. } => {
            collect_plain_refs(expr, out);
            list.iter().for_each(|x| collect_plain_refs(x, out));
        }
        B::Between {
            expr, low, high, ..
        } => {
            for x in [expr, low, high] {
                collect_plain_refs(x, out);
            }
        }
        B::Case {
            operand,
            whens,
            else_result,
        } => {
            if let Some(o) = operand {
                collect_plain_refs(o, out);
            }
            for (c, r) in whens {
                collect_plain_refs(c, out);
                collect_plain_refs(r, out);
            }
            collect_plain_refs(else_result, out);
        }
        B::Call { args, .. } => args.iter().for_each(|x| collect_plain_refs(x, out)),
    }
}

fn bind_views(
    src: &str,
    ty: &Arc<EventType>,
    views: &[ast::View],
    annotations: &[ast::Annotation],
) -> Result<Option<WindowSpec>> {
    let Some(first) = views.first() else {
        return Ok(None);
    };
    if let Some(v) = views
        .iter()
        .skip(1)
        .find(|v| v.kind == ast::ViewKind::GroupWin)
    {
        return Err(BindError::new(
            v.span,
            "#groupwin must come first, followed by the windows it partitions",
        ));
    }
    let (group_keys, windows) = if first.kind == ast::ViewKind::GroupWin {
        if views.len() == 1 {
            return Err(BindError::new(
                first.span,
                "#groupwin must be followed by the window it partitions",
            )
            .help("for example `#groupwin(sensor)#length(5)`"));
        }
        (Some(view_keys(src, ty, first)?), &views[1..])
    } else {
        (None, views)
    };
    let mut specs = windows
        .iter()
        .map(|v| bind_view(src, ty, v))
        .collect::<Result<Vec<_>>>()?;
    let window = if specs.len() == 1 {
        specs.remove(0)
    } else {
        if let Some(hint) = annotation_string(annotations, "hint")
            && hint
                .split(',')
                .any(|h| h.trim().eq_ignore_ascii_case("retain-union"))
        {
            return Err(BindError::new(
                windows[1].span,
                "@Hint('retain-union') (a union of data windows) is not supported",
            )
            .help("without the hint, several windows form their intersection"));
        }
        let batches: Vec<_> = windows
            .iter()
            .filter(|v| {
                matches!(
                    v.kind,
                    ast::ViewKind::LengthBatch | ast::ViewKind::TimeBatch
                )
            })
            .collect();
        if let [_, second, ..] = batches.as_slice() {
            return Err(BindError::new(
                second.span,
                "an intersection of data windows can hold only one batch window",
            ));
        }
        WindowSpec::Intersect(specs)
    };
    Ok(Some(match group_keys {
        Some(keys) => WindowSpec::GroupWin {
            keys,
            inner: Box::new(window),
        },
        None => window,
    }))
}

fn view_keys(src: &str, ty: &Arc<EventType>, v: &ast::View) -> Result<Vec<BoundExpr>> {
    if v.params.is_empty() {
        return Err(BindError::new(
            v.span,
            format!("#{} needs at least one key expression", v.kind.name()),
        ));
    }
    v.params
        .iter()
        .map(|p| {
            let mut b = ExprBinder {
                src,
                scope: NameScope::Stream { ty, alias: None },
                aggs: AggSink::Forbidden("window parameters"),
                in_aggregate: false,
            };
            b.bind(p).map(|(e, _)| e)
        })
        .collect()
}

fn bind_view(src: &str, ty: &Arc<EventType>, v: &ast::View) -> Result<WindowSpec> {
    use ast::ViewKind as K;
    let name = v.kind.name();
    let arity = |n: usize| -> Result<()> {
        if v.params.len() == n {
            Ok(())
        } else {
            Err(BindError::new(
                v.span,
                format!(
                    "#{name} takes {n} parameter{}, got {}",
                    if n == 1 { "" } else { "s" },
                    v.params.len()
                ),
            ))
        }
    };
    Ok(match v.kind {
        K::Length | K::LengthBatch => {
            arity(1)?;
            let n = positive_count(&v.params[0], name)?;
            if v.kind == K::Length {
                WindowSpec::Length(n)
            } else {
                WindowSpec::LengthBatch(n)
            }
        }
        K::Time | K::TimeBatch => {
            arity(1)?;
            let ms = time_param(&v.params[0], name)?;
            if v.kind == K::Time {
                WindowSpec::Time(ms)
            } else {
                WindowSpec::TimeBatch(ms)
            }
        }
        K::ExtTimed => {
            arity(2)?;
            let field = match &v.params[0].kind {
                ExprKind::Property(p) if p.len() == 1 => {
                    let (i, t) = field_of(ty, &p[0].value, v.params[0].span)?;
                    if t != Type::Int {
                        return Err(BindError::new(
                            v.params[0].span,
                            "#ext_timed needs a long timestamp field (epoch milliseconds)",
                        ));
                    }
                    i
                }
                _ => {
                    return Err(BindError::new(
                        v.params[0].span,
                        "#ext_timed's first parameter is the timestamp field",
                    ));
                }
            };
            WindowSpec::ExtTimed {
                field,
                millis: time_param(&v.params[1], name)?,
            }
        }
        K::KeepAll | K::FirstEvent | K::LastEvent => {
            arity(0)?;
            match v.kind {
                K::KeepAll => WindowSpec::KeepAll,
                K::FirstEvent => WindowSpec::FirstEvent,
                _ => WindowSpec::LastEvent,
            }
        }
        K::Unique => WindowSpec::Unique(view_keys(src, ty, v)?),
        K::GroupWin => {
            return Err(BindError::new(
                v.span,
                "#groupwin must come first, followed by the window it partitions",
            ));
        }
    })
}

fn positive_count(e: &ast::Expr, view: &str) -> Result<usize> {
    match &e.kind {
        ExprKind::Literal(ast::Literal::Integer(n)) if *n > 0 => {
            Ok(usize::try_from(*n).unwrap_or(usize::MAX))
        }
        _ => Err(BindError::new(
            e.span,
            format!("#{view} needs a positive whole number of events"),
        )),
    }
}

fn time_param(e: &ast::Expr, view: &str) -> Result<i64> {
    let ms = match &e.kind {
        ExprKind::TimePeriod(t) => t.millis(),
        // A bare number is seconds, as in Esper.
        ExprKind::Literal(ast::Literal::Integer(n)) => n.saturating_mul(1000),
        ExprKind::Literal(ast::Literal::Decimal(f)) => (f * 1000.0).round() as i64,
        _ => {
            return Err(BindError::new(
                e.span,
                format!("#{view} needs a time period such as `5 min` or `30 sec`"),
            ));
        }
    };
    if ms <= 0 {
        return Err(BindError::new(
            e.span,
            format!("#{view} needs a positive time period"),
        ));
    }
    Ok(ms)
}

fn bind_pattern(
    src: &str,
    registry: &TypeRegistry,
    p: &ast::PatternExpr,
    repeated: &[String],
    tags: &mut Vec<(String, Arc<EventType>)>,
) -> Result<PatternNode> {
    use ast::PatternKind as P;
    let rec = |x: &ast::PatternExpr, tags: &mut Vec<(String, Arc<EventType>)>| {
        bind_pattern(src, registry, x, repeated, tags).map(Box::new)
    };
    Ok(match &p.kind {
        P::Filter {
            tag,
            event_type,
            filter,
        } => {
            let ty = lookup_type(registry, event_type)?;
            let filter = match filter {
                Some(f) => Some(bind_condition(
                    src,
                    NameScope::Pattern {
                        tags,
                        repeated,
                        current: Some(&ty),
                    },
                    f,
                    "a pattern filter",
                )?),
                None => None,
            };
            let tag = match tag {
                Some(t) => Some(match tags.iter().position(|(n, _)| *n == t.value) {
                    Some(i) if tags[i].1.id == ty.id => i,
                    Some(_) => {
                        return Err(BindError::new(
                            t.span,
                            format!("tag `{}` is already bound to another event type", t.value),
                        ));
                    }
                    None => {
                        tags.push((t.value.clone(), ty.clone()));
                        tags.len() - 1
                    }
                }),
                None => None,
            };
            PatternNode::Filter {
                tag,
                event_type: ty,
                filter,
            }
        }
        P::TimerInterval(t) => PatternNode::TimerInterval(t.millis().max(0)),
        P::Every(i) => PatternNode::Every(rec(i, tags)?),
        P::EveryDistinct {
            keys,
            expiry,
            inner,
        } => {
            let inner = rec(inner, tags)?;
            let mut bound = Vec::new();
            for k in keys {
                let mut b = ExprBinder {
                    src,
                    scope: NameScope::Pattern {
                        tags,
                        repeated,
                        current: None,
                    },
                    aggs: AggSink::Forbidden("every-distinct"),
                    in_aggregate: false,
                };
                bound.push(b.bind(k)?.0);
            }
            PatternNode::EveryDistinct {
                keys: bound,
                expiry: expiry.as_ref().map(|t| t.millis()),
                inner,
            }
        }
        P::Not(i) => PatternNode::Not(rec(i, tags)?),
        P::Repeat { count, inner } => {
            if *count == 0 {
                return Err(BindError::new(p.span, "a repeat count must be at least 1"));
            }
            PatternNode::Repeat {
                count: *count,
                inner: rec(inner, tags)?,
            }
        }
        P::Guard { inner, guard } => match guard {
            ast::PatternGuard::Within(t) => PatternNode::Within {
                millis: t.millis(),
                inner: rec(inner, tags)?,
            },
        },
        P::And(a, b) => PatternNode::And(rec(a, tags)?, rec(b, tags)?),
        P::Or(a, b) => PatternNode::Or(rec(a, tags)?, rec(b, tags)?),
        P::FollowedBy(a, b) => PatternNode::FollowedBy(rec(a, tags)?, rec(b, tags)?),
    })
}

/// The tags bound anywhere under a repeat (`[n] ...`).
fn repeated_tags(p: &ast::PatternExpr, under_repeat: bool, out: &mut Vec<String>) {
    use ast::PatternKind as P;
    match &p.kind {
        P::Filter { tag: Some(t), .. } if under_repeat => {
            if !out.contains(&t.value) {
                out.push(t.value.clone());
            }
        }
        P::Filter { .. } | P::TimerInterval(_) => {}
        P::Every(i) | P::Not(i) | P::EveryDistinct { inner: i, .. } | P::Guard { inner: i, .. } => {
            repeated_tags(i, under_repeat, out)
        }
        P::Repeat { inner, .. } => repeated_tags(inner, true, out),
        P::And(a, b) | P::Or(a, b) | P::FollowedBy(a, b) => {
            repeated_tags(a, under_repeat, out);
            repeated_tags(b, under_repeat, out);
        }
    }
}
