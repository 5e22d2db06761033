//! Expressions: a Pratt loop over Esper's precedence levels.
//!
//! | level | operators |
//! |---|---|
//! | 1 | `or` |
//! | 2 | `and` |
//! | 3 | prefix `not` |
//! | 4 | `=` `!=` `<>` `is [not] null` |
//! | 5 | `<` `<=` `>` `>=` `[not] in` `[not] between` `[not] like` `[not] regexp` |
//! | 6 | `\|\|` |
//! | 7 | `+` `-` |
//! | 8 | `*` `/` `%` |
//! | 9 | prefix `-` |
//!
//! Binary operators are left-associative. The operands of `between`, `like`,
//! `regexp` and `escape` are parsed at level 6, so `x between 1 and 2 and y`
//! means `(x between 1 and 2) and y`.

use crate::ast::*;
use crate::error::{PErr, ParseErrorKind};
use crate::lexer::{MAX_DEPTH, PResult, Parser, RawNumber, time_unit};

pub(crate) const LVL_OR: u8 = 1;
pub(crate) const LVL_AND: u8 = 2;
pub(crate) const LVL_NOT: u8 = 3;
pub(crate) const LVL_EQ: u8 = 4;
pub(crate) const LVL_REL: u8 = 5;
pub(crate) const LVL_CONCAT: u8 = 6;
pub(crate) const LVL_ADD: u8 = 7;
pub(crate) const LVL_MUL: u8 = 8;
pub(crate) const LVL_NEG: u8 = 9;
pub(crate) const LVL_ATOM: u8 = 10;

/// The precedence level of a binary operator.
pub(crate) fn binary_level(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => LVL_OR,
        BinaryOp::And => LVL_AND,
        BinaryOp::Eq | BinaryOp::NotEq => LVL_EQ,
        BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => LVL_REL,
        BinaryOp::Concat => LVL_CONCAT,
        BinaryOp::Add | BinaryOp::Sub => LVL_ADD,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => LVL_MUL,
    }
}

/// The precedence level of an expression node: how tightly it holds together
/// when printed without parentheses.
pub(crate) fn expr_level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => binary_level(*op),
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => LVL_NOT,
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => LVL_NEG,
        ExprKind::IsNull { .. } => LVL_EQ,
        ExprKind::InList { .. }
        | ExprKind::Between { .. }
        | ExprKind::Like { .. }
        | ExprKind::Regexp { .. } => LVL_REL,
        ExprKind::Literal(_)
        | ExprKind::Property(_)
        | ExprKind::IndexedProperty { .. }
        | ExprKind::Case { .. }
        | ExprKind::Function { .. }
        | ExprKind::TimePeriod(_) => LVL_ATOM,
    }
}

/// An operator found after an operand.
enum Infix {
    Binary(BinaryOp),
    In { negated: bool },
    Between { negated: bool },
    Like { negated: bool },
    Regexp { negated: bool },
    IsNull,
}

impl<'a> Parser<'a> {
    /// A whole expression.
    pub fn expr(&self, i: &'a str) -> PResult<'a, Expr> {
        self.expr_bp(i, 0)
    }

    /// An expression whose operators all bind at `min` or tighter.
    pub fn expr_bp(&self, i: &'a str, min: u8) -> PResult<'a, Expr> {
        let base = self.depth.get();
        self.enter(self.skip(i))?;
        let res = self.expr_loop(i, min);
        self.depth.set(base);
        res
    }

    fn expr_loop(&self, i: &'a str, min: u8) -> PResult<'a, Expr> {
        let base = self.depth.get();
        let (mut i, mut lhs) = self.prefix(i)?;
        let mut ops = 0;
        while let Some((level, op, rest)) = self.peek_infix(i) {
            if level < min {
                break;
            }
            // Each operator makes the left-leaning tree one level deeper.
            ops += 1;
            if base + ops > MAX_DEPTH {
                return Err(self.depth_error(self.skip(i)));
            }
            self.depth.set(base + ops);
            (i, lhs) = self.infix(rest, lhs, level, op)?;
        }
        Ok((i, lhs))
    }

    /// The operand(s) after an infix or postfix operator, combined with `lhs`.
    /// Kept out of [`Parser::expr_loop`] so that the recursion's frames stay small.
    #[inline(never)]
    fn infix(&self, rest: &'a str, lhs: Expr, level: u8, op: Infix) -> PResult<'a, Expr> {
        let start = lhs.span;
        let (rest, kind) = match op {
            Infix::Binary(op) => {
                let (rest, rhs) = self.expr_bp(rest, level + 1)?;
                (
                    rest,
                    ExprKind::Binary {
                        op,
                        left: Box::new(lhs),
                        right: Box::new(rhs),
                    },
                )
            }
            Infix::IsNull => {
                let (r, negated) = self.is_null_tail(rest)?;
                (
                    r,
                    ExprKind::IsNull {
                        expr: Box::new(lhs),
                        negated,
                    },
                )
            }
            Infix::In { negated } => {
                let (r, open) = self.punct(rest, "(").map_err(cut)?;
                let (r, list) = self.expr_list(r)?;
                let (r, _) = self.close(r, ")", "(", open)?;
                (
                    r,
                    ExprKind::InList {
                        expr: Box::new(lhs),
                        list,
                        negated,
                    },
                )
            }
            Infix::Between { negated } => {
                let (r, low) = self.cut_expr(rest, LVL_CONCAT)?;
                let (r, _) = self.kw(r, "and").map_err(cut)?;
                let (r, high) = self.cut_expr(r, LVL_CONCAT)?;
                let (expr, low, high) = (Box::new(lhs), Box::new(low), Box::new(high));
                (
                    r,
                    ExprKind::Between {
                        expr,
                        low,
                        high,
                        negated,
                    },
                )
            }
            Infix::Like { negated } => {
                let (mut r, pattern) = self.cut_expr(rest, LVL_CONCAT)?;
                let mut escape = None;
                if let Some((r2, _)) = self.eat_kw(r, "escape") {
                    let (r3, e) = self.cut_expr(r2, LVL_CONCAT)?;
                    escape = Some(Box::new(e));
                    r = r3;
                }
                let (expr, pattern) = (Box::new(lhs), Box::new(pattern));
                (
                    r,
                    ExprKind::Like {
                        expr,
                        pattern,
                        escape,
                        negated,
                    },
                )
            }
            Infix::Regexp { negated } => {
                let (r, pattern) = self.cut_expr(rest, LVL_CONCAT)?;
                (
                    r,
                    ExprKind::Regexp {
                        expr: Box::new(lhs),
                        pattern: Box::new(pattern),
                        negated,
                    },
                )
            }
        };
        Ok((
            rest,
            Expr {
                kind,
                span: Span::new(start.start, self.pos(rest)),
            },
        ))
    }

    /// After `is`: `[not] null`.
    fn is_null_tail(&self, i: &'a str) -> PResult<'a, bool> {
        let (i, negated) = match self.eat_kw(i, "not") {
            Some((r, _)) => (r, true),
            None => (i, false),
        };
        let (i, _) = self.kw(i, "null").map_err(cut)?;
        Ok((i, negated))
    }

    /// An operand that must be there (the operator already committed).
    fn cut_expr(&self, i: &'a str, min: u8) -> PResult<'a, Expr> {
        self.expr_bp(i, min).map_err(cut)
    }

    /// `a, b, c` (at least one).
    pub fn expr_list(&self, i: &'a str) -> PResult<'a, Vec<Expr>> {
        let (mut i, first) = self.expr(i).map_err(cut)?;
        let mut list = vec![first];
        while let Some((r, _)) = self.eat_punct(i, ",") {
            let (r, e) = self.expr(r).map_err(cut)?;
            list.push(e);
            i = r;
        }
        Ok((i, list))
    }

    fn peek_infix(&self, i: &'a str) -> Option<(u8, Infix, &'a str)> {
        let s = self.skip(i);
        const PUNCT: &[(&str, BinaryOp)] = &[
            ("||", BinaryOp::Concat),
            ("<>", BinaryOp::NotEq),
            ("!=", BinaryOp::NotEq),
            ("<=", BinaryOp::LtEq),
            (">=", BinaryOp::GtEq),
            ("=", BinaryOp::Eq),
            ("<", BinaryOp::Lt),
            (">", BinaryOp::Gt),
            ("+", BinaryOp::Add),
            ("*", BinaryOp::Mul),
            ("/", BinaryOp::Div),
            ("%", BinaryOp::Mod),
        ];
        for (p, op) in PUNCT {
            if let Some(rest) = s.strip_prefix(p) {
                return Some((binary_level(*op), Infix::Binary(*op), rest));
            }
        }
        if let Some(rest) = s.strip_prefix('-')
            && !rest.starts_with('>')
        {
            return Some((LVL_ADD, Infix::Binary(BinaryOp::Sub), rest));
        }
        let word = self.peek_word(s)?;
        let after = s.get(word.len()..)?;
        let w = word.to_ascii_lowercase();
        match w.as_str() {
            "or" => Some((LVL_OR, Infix::Binary(BinaryOp::Or), after)),
            "and" => Some((LVL_AND, Infix::Binary(BinaryOp::And), after)),
            "is" => Some((LVL_EQ, Infix::IsNull, after)),
            "not" => {
                let next = self.peek_word(after)?.to_ascii_lowercase();
                let (rest, _) = self.eat_kw(after, &next)?;
                let op = postfix_word(&next, true)?;
                Some((LVL_REL, op, rest))
            }
            _ => postfix_word(&w, false).map(|op| (LVL_REL, op, after)),
        }
    }

    /// Prefix operators and primaries.
    fn prefix(&self, i: &'a str) -> PResult<'a, Expr> {
        let (i, ()) = self.ws(i)?;
        if let Some(rest) = i.strip_prefix('-')
            && !rest.starts_with('>')
        {
            return self.negative(i, rest);
        }
        if let Some(rest) = i.strip_prefix('+') {
            return self.cut_expr(rest, LVL_NEG);
        }
        if let Some((rest, op_span)) = self.eat_kw(i, "not") {
            return self.prefix_op(rest, op_span, UnaryOp::Not, LVL_EQ);
        }
        self.primary(i)
    }

    #[inline(never)]
    fn prefix_op(&self, rest: &'a str, op_span: Span, op: UnaryOp, level: u8) -> PResult<'a, Expr> {
        let (rest, e) = self.cut_expr(rest, level)?;
        let span = Span::new(op_span.start, e.span.end);
        Ok((rest, unary(op, e, span)))
    }

    /// After `-`: a minus directly before a number is part of the literal (so
    /// that `-9223372036854775808` fits), unless the number starts a time period.
    #[inline(never)]
    fn negative(&self, i: &'a str, rest: &'a str) -> PResult<'a, Expr> {
        let op_span = self.span(i, rest);
        if self.peek_number(rest) {
            let (after, (n, _)) = self.number(rest)?;
            if !self.peek_unit(after) {
                let lit = negate(n).ok_or_else(|| out_of_range(self.skip(rest)))?;
                let span = Span::new(op_span.start, self.pos(after));
                return Ok((
                    after,
                    Expr {
                        kind: ExprKind::Literal(lit),
                        span,
                    },
                ));
            }
        }
        self.prefix_op(rest, op_span, UnaryOp::Neg, LVL_NEG)
    }

    fn peek_unit(&self, i: &'a str) -> bool {
        self.peek_word(i).and_then(time_unit).is_some()
    }

    fn primary(&self, i: &'a str) -> PResult<'a, Expr> {
        let (i, ()) = self.ws(i)?;
        if let Some(rest) = i.strip_prefix('(') {
            return self.parenthesised(i, rest);
        }
        if self.peek_number(i) {
            return self.number_expr(i);
        }
        if i.starts_with(['\'', '"']) {
            let (rest, (s, span)) = self.string(i)?;
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::Literal(Literal::String(s)),
                    span,
                },
            ));
        }
        self.word_expr(i)
    }

    #[inline(never)]
    fn parenthesised(&self, i: &'a str, rest: &'a str) -> PResult<'a, Expr> {
        let open = self.span(i, rest);
        let (rest, mut e) = self.expr(rest).map_err(cut)?;
        let (rest, close) = self.close(rest, ")", "(", open)?;
        e.span = open.to(close);
        Ok((rest, e))
    }

    #[inline(never)]
    fn keyword_literal(&self, i: &'a str) -> Option<(&'a str, Expr)> {
        for (kw, lit) in [
            ("true", Literal::Boolean(true)),
            ("false", Literal::Boolean(false)),
            ("null", Literal::Null),
        ] {
            if let Some((rest, span)) = self.eat_kw(i, kw) {
                return Some((
                    rest,
                    Expr {
                        kind: ExprKind::Literal(lit),
                        span,
                    },
                ));
            }
        }
        None
    }

    /// A numeric literal or a time period (`5 min`).
    #[inline(never)]
    fn number_expr(&self, i: &'a str) -> PResult<'a, Expr> {
        let (rest, (n, span)) = self.number(i)?;
        if self.peek_unit(rest) {
            let (rest, tp) = self.time_period_tail(i, rest, n, span)?;
            let span = tp.span;
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::TimePeriod(tp),
                    span,
                },
            ));
        }
        let lit = match n {
            RawNumber::Integer(v) => {
                Literal::Integer(i64::try_from(v).map_err(|_| out_of_range(i))?)
            }
            RawNumber::Decimal(d) => Literal::Decimal(d),
        };
        Ok((
            rest,
            Expr {
                kind: ExprKind::Literal(lit),
                span,
            },
        ))
    }

    /// `true`, `false`, `null`, `case ...`, or a name (property, call, index).
    #[inline(never)]
    fn word_expr(&self, i: &'a str) -> PResult<'a, Expr> {
        if let Some(lit) = self.keyword_literal(i) {
            return Ok(lit);
        }
        if let Some((rest, span)) = self.eat_kw(i, "case") {
            return self.case(rest, span);
        }
        match self.ident(i) {
            Ok((rest, name)) => self.name_expr(rest, name),
            Err(e) => Err(self.operand_error(i, e)),
        }
    }

    /// The error for a missing operand.
    #[inline(never)]
    fn operand_error(&self, i: &'a str, e: nom::Err<PErr>) -> nom::Err<PErr> {
        match e {
            nom::Err::Error(mut e) if e.custom.is_some() => {
                // A keyword where an operand belongs: only suggest backquotes for
                // keywords that could plausibly be field names.
                let w = self.peek_word(i).unwrap_or("").to_ascii_lowercase();
                const STRUCTURAL: &[&str] = &[
                    "and", "or", "not", "from", "where", "group", "having", "output", "order",
                    "limit", "select", "insert", "then", "else", "end", "when", "as", "by", "in",
                    "between", "like", "regexp", "is", "escape", "into",
                ];
                e.expected = vec!["expression".into()];
                if let Some(c) = e.custom.as_mut() {
                    c.message = format!("expected expression, found keyword `{w}`");
                    if STRUCTURAL.contains(&w.as_str()) {
                        c.help = None;
                    }
                }
                nom::Err::Error(e)
            }
            nom::Err::Error(_) => nom::Err::Error(PErr::expected(i, "expression")),
            e => e,
        }
    }

    /// After a number that is followed by a unit: the rest of a time period
    /// (`1 hour 30 minutes`). `start` is where the first number began.
    pub fn time_period_tail(
        &self,
        start: &'a str,
        mut i: &'a str,
        first: RawNumber,
        first_span: Span,
    ) -> PResult<'a, TimePeriod> {
        let mut parts = Vec::new();
        let mut amount = first;
        let mut amount_at = first_span;
        loop {
            let (rest, (word, _)) = self.word(i)?;
            let unit =
                time_unit(word).ok_or_else(|| nom::Err::Error(PErr::expected(i, "time unit")))?;
            let value = match amount {
                RawNumber::Integer(v) => Number::Integer(
                    i64::try_from(v).map_err(|_| out_of_range(self.at(amount_at.start)))?,
                ),
                RawNumber::Decimal(d) => Number::Decimal(d),
            };
            parts.push(TimePart {
                amount: value,
                unit,
            });
            i = rest;
            // Another `number unit` pair continues the period.
            if !self.peek_number(i) {
                break;
            }
            let (after, (n, span)) = self.number(i)?;
            if !self.peek_unit(after) {
                break;
            }
            amount_at = span;
            i = after;
            amount = n;
        }
        let span = Span::new(self.pos(self.skip(start)), self.pos(i));
        Ok((i, TimePeriod { parts, span }))
    }

    /// The input at byte offset `at` of the source.
    pub fn at(&self, at: usize) -> &'a str {
        self.src.get(at..).unwrap_or("")
    }

    /// What follows a name: a call `f(...)`, an index `a[0].v`, or a property path `a.b`.
    #[inline(never)]
    fn name_expr(&self, i: &'a str, name: Ident) -> PResult<'a, Expr> {
        let start = name.span.start;
        if let Some((rest, open)) = self.eat_punct(i, "(") {
            return self.call(rest, name, open);
        }
        if let Some((rest, open)) = self.eat_punct(i, "[") {
            return self.indexed(rest, name, open);
        }
        let mut path = vec![name];
        let mut i = i;
        while let Some((r, _)) = self.eat_punct(i, ".") {
            let (r, id) = self.ident(r).map_err(cut)?;
            path.push(id);
            i = r;
        }
        let span = Span::new(start, self.pos(i));
        Ok((
            i,
            Expr {
                kind: ExprKind::Property(path),
                span,
            },
        ))
    }

    /// After `tag[`: `n]` and an optional `.path`.
    #[inline(never)]
    fn indexed(&self, rest: &'a str, name: Ident, open: Span) -> PResult<'a, Expr> {
        let start = name.span.start;
        {
            let (rest, (n, nspan)) = self.number(rest).map_err(cut)?;
            let index = match n {
                RawNumber::Integer(v) => {
                    u32::try_from(v).map_err(|_| out_of_range(self.at(nspan.start)))?
                }
                RawNumber::Decimal(_) => {
                    return Err(nom::Err::Failure(PErr::custom(
                        self.at(nspan.start),
                        nspan.len(),
                        ParseErrorKind::InvalidNumber,
                        "an index must be a whole number",
                        None,
                    )));
                }
            };
            let (mut rest, _) = self.close(rest, "]", "[", open)?;
            let mut path = Vec::new();
            while let Some((r, _)) = self.eat_punct(rest, ".") {
                let (r, id) = self.ident(r).map_err(cut)?;
                path.push(id);
                rest = r;
            }
            let span = Span::new(start, self.pos(rest));
            Ok((
                rest,
                Expr {
                    kind: ExprKind::IndexedProperty {
                        tag: name,
                        index,
                        path,
                    },
                    span,
                },
            ))
        }
    }

    /// After `name(`: `*`, `distinct x`, or an argument list.
    #[inline(never)]
    fn call(&self, i: &'a str, name: Ident, open: Span) -> PResult<'a, Expr> {
        let start = name.span.start;
        let (i, distinct, args) = if let Some((r, _)) = self.eat_punct(i, "*") {
            (r, false, FunctionArgs::Star)
        } else if self.peek_punct(i, ")") {
            (i, false, FunctionArgs::List(Vec::new()))
        } else {
            let (i, distinct) = match self.eat_kw(i, "distinct") {
                Some((r, _)) => (r, true),
                None => (i, false),
            };
            let (i, list) = self.expr_list(i)?;
            (i, distinct, FunctionArgs::List(list))
        };
        let (i, close) = self.close(i, ")", "(", open)?;
        let span = Span::new(start, close.end);
        Ok((
            i,
            Expr {
                kind: ExprKind::Function {
                    name,
                    distinct,
                    args,
                },
                span,
            },
        ))
    }

    /// After `case`: `[operand] when c then r ... [else e] end`.
    fn case(&self, i: &'a str, case_span: Span) -> PResult<'a, Expr> {
        let (mut i, operand) = if self.peek_kw(i, "when") {
            (i, None)
        } else {
            let (r, e) = self.expr(i).map_err(cut)?;
            (r, Some(Box::new(e)))
        };
        let mut whens = Vec::new();
        while let Some((r, _)) = self.eat_kw(i, "when") {
            let (r, cond) = self.expr(r).map_err(cut)?;
            let (r, _) = self.kw(r, "then").map_err(cut)?;
            let (r, result) = self.expr(r).map_err(cut)?;
            whens.push((cond, result));
            i = r;
        }
        if whens.is_empty() {
            return Err(nom::Err::Failure(PErr::expected(self.skip(i), "`when`")));
        }
        let (i, else_result) = match self.eat_kw(i, "else") {
            Some((r, _)) => {
                let (r, e) = self.expr(r).map_err(cut)?;
                (r, Some(Box::new(e)))
            }
            None => (i, None),
        };
        let (i, end) = match self.kw(i, "end") {
            Ok(ok) => ok,
            Err(nom::Err::Error(mut e)) => {
                if self.eat_kw(i, "else").is_none() {
                    e.expected.insert(0, "`when`".into());
                    if else_result.is_none() {
                        e.expected.insert(1, "`else`".into());
                    }
                }
                return Err(nom::Err::Failure(e));
            }
            Err(e) => return Err(e),
        };
        let span = case_span.to(end);
        Ok((
            i,
            Expr {
                kind: ExprKind::Case {
                    operand,
                    whens,
                    else_result,
                },
                span,
            },
        ))
    }
}

fn postfix_word(w: &str, negated: bool) -> Option<Infix> {
    Some(match w {
        "in" => Infix::In { negated },
        "between" => Infix::Between { negated },
        "like" => Infix::Like { negated },
        "regexp" => Infix::Regexp { negated },
        _ => return None,
    })
}

fn unary(op: UnaryOp, e: Expr, span: Span) -> Expr {
    Expr {
        kind: ExprKind::Unary {
            op,
            expr: Box::new(e),
        },
        span,
    }
}

fn negate(n: RawNumber) -> Option<Literal> {
    match n {
        RawNumber::Integer(v) => {
            let v = i128::from(v);
            i64::try_from(-v).ok().map(Literal::Integer)
        }
        RawNumber::Decimal(d) => Some(Literal::Decimal(-d)),
    }
}

pub(crate) fn out_of_range(at: &str) -> nom::Err<PErr> {
    let len = at
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(at.len());
    nom::Err::Failure(PErr::custom(
        at,
        len,
        ParseErrorKind::InvalidNumber,
        "integer literal out of range",
        Some(format!(
            "integers must lie between {} and {}",
            i64::MIN,
            i64::MAX
        )),
    ))
}

/// Turn a recoverable error into a failure: the construct is committed.
pub(crate) fn cut(e: nom::Err<PErr>) -> nom::Err<PErr> {
    match e {
        nom::Err::Error(e) => nom::Err::Failure(e),
        other => other,
    }
}

/// A time period where the grammar requires one (`timer:within`, `timer:interval`,
/// the expiry of `every-distinct`): a bare number means seconds.
pub(crate) fn expr_to_time_period(e: Expr) -> Result<TimePeriod, Expr> {
    match e.kind {
        ExprKind::TimePeriod(tp) => Ok(tp),
        ExprKind::Literal(Literal::Integer(v)) if v >= 0 => Ok(TimePeriod {
            parts: vec![TimePart {
                amount: Number::Integer(v),
                unit: TimeUnit::Second,
            }],
            span: e.span,
        }),
        ExprKind::Literal(Literal::Decimal(v)) if v >= 0.0 => Ok(TimePeriod {
            parts: vec![TimePart {
                amount: Number::Decimal(v),
                unit: TimeUnit::Second,
            }],
            span: e.span,
        }),
        kind => Err(Expr { kind, span: e.span }),
    }
}
