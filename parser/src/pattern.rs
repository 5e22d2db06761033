//! Pattern expressions inside `pattern [ ... ]`, with Esper's precedence:
//!
//! | level | operators |
//! |---|---|
//! | 1 (loosest) | `->` |
//! | 2 | `or` |
//! | 3 | `and` |
//! | 4 | prefix `every`, `every-distinct(...)`, `not`, `[n]` |
//! | 5 (tightest) | postfix `where timer:within(T)` on an atom or a parenthesised pattern |
//!
//! Binary operators are left-associative.

use crate::ast::*;
use crate::error::{PErr, ParseErrorKind};
use crate::expr::{cut, expr_to_time_period};
use crate::lexer::{MAX_DEPTH, PResult, Parser, RawNumber};

pub(crate) const PLVL_FOLLOWED_BY: u8 = 1;
pub(crate) const PLVL_OR: u8 = 2;
pub(crate) const PLVL_AND: u8 = 3;
pub(crate) const PLVL_UNARY: u8 = 4;
pub(crate) const PLVL_GUARD: u8 = 5;
pub(crate) const PLVL_ATOM: u8 = 6;

pub(crate) fn pattern_level(p: &PatternExpr) -> u8 {
    match &p.kind {
        PatternKind::FollowedBy(..) => PLVL_FOLLOWED_BY,
        PatternKind::Or(..) => PLVL_OR,
        PatternKind::And(..) => PLVL_AND,
        PatternKind::Every(_)
        | PatternKind::EveryDistinct { .. }
        | PatternKind::Not(_)
        | PatternKind::Repeat { .. } => PLVL_UNARY,
        PatternKind::Guard { .. } => PLVL_GUARD,
        PatternKind::Filter { .. } | PatternKind::TimerInterval(_) => PLVL_ATOM,
    }
}

impl<'a> Parser<'a> {
    /// A whole pattern expression.
    pub fn pattern(&self, i: &'a str) -> PResult<'a, PatternExpr> {
        self.pattern_bp(i, PLVL_FOLLOWED_BY)
    }

    /// A pattern whose binary operators all bind at `min` or tighter.
    fn pattern_bp(&self, i: &'a str, min: u8) -> PResult<'a, PatternExpr> {
        let base = self.depth.get();
        self.enter(self.skip(i))?;
        let res = self.pattern_loop(i, min);
        self.depth.set(base);
        res
    }

    fn pattern_loop(&self, i: &'a str, min: u8) -> PResult<'a, PatternExpr> {
        let base = self.depth.get();
        let (mut i, mut lhs) = self.pattern_unary(i)?;
        let mut ops = 0;
        loop {
            let next = if let Some((r, _)) = self.eat_punct(i, "->") {
                Some((r, PLVL_FOLLOWED_BY))
            } else if let Some((r, _)) = self.eat_kw(i, "or") {
                Some((r, PLVL_OR))
            } else {
                self.eat_kw(i, "and").map(|(r, _)| (r, PLVL_AND))
            };
            let Some((rest, level)) = next.filter(|(_, l)| *l >= min) else {
                break;
            };
            ops += 1;
            if base + ops > MAX_DEPTH {
                return Err(self.depth_error(self.skip(i)));
            }
            self.depth.set(base + ops);
            (i, lhs) = self.pattern_infix(rest, lhs, level)?;
        }
        Ok((i, lhs))
    }

    #[inline(never)]
    fn pattern_infix(
        &self,
        rest: &'a str,
        lhs: PatternExpr,
        level: u8,
    ) -> PResult<'a, PatternExpr> {
        let (rest, rhs) = if level == PLVL_AND {
            self.pattern_unary(rest)
        } else {
            self.pattern_bp(rest, level + 1)
        }
        .map_err(cut)?;
        let span = lhs.span.to(rhs.span);
        let (l, r) = (Box::new(lhs), Box::new(rhs));
        let kind = match level {
            PLVL_FOLLOWED_BY => PatternKind::FollowedBy(l, r),
            PLVL_OR => PatternKind::Or(l, r),
            _ => PatternKind::And(l, r),
        };
        Ok((rest, PatternExpr { kind, span }))
    }

    /// `every p`, `every-distinct(...) p`, `not p`, `[n] p`, or a guarded atom.
    fn pattern_unary(&self, i: &'a str) -> PResult<'a, PatternExpr> {
        let base = self.depth.get();
        let i = self.skip(i);
        self.enter(i)?;
        let res = self.pattern_unary_inner(i);
        self.depth.set(base);
        res
    }

    fn pattern_unary_inner(&self, i: &'a str) -> PResult<'a, PatternExpr> {
        if let Some((rest, kw)) = self.eat_kw(i, "every") {
            if let Some(after_dash) = rest.strip_prefix('-') {
                return self.every_distinct(after_dash, kw);
            }
            return self.pattern_prefix(rest, kw, PatternKind::Every);
        }
        if let Some((rest, kw)) = self.eat_kw(i, "not") {
            return self.pattern_prefix(rest, kw, PatternKind::Not);
        }
        if let Some((rest, open)) = self.eat_punct(i, "[") {
            return self.repeat(rest, open);
        }
        self.pattern_guarded(i)
    }

    #[inline(never)]
    fn pattern_prefix(
        &self,
        rest: &'a str,
        kw: Span,
        make: fn(Box<PatternExpr>) -> PatternKind,
    ) -> PResult<'a, PatternExpr> {
        let (r, inner) = self.pattern_unary(rest).map_err(cut)?;
        let span = Span::new(kw.start, inner.span.end);
        Ok((
            r,
            PatternExpr {
                kind: make(Box::new(inner)),
                span,
            },
        ))
    }

    /// After `every-`: `distinct(k, ... [, T]) p`.
    #[inline(never)]
    fn every_distinct(&self, after_dash: &'a str, kw: Span) -> PResult<'a, PatternExpr> {
        let (r, _) = self.kw(after_dash, "distinct").map_err(cut)?;
        let (r, open) = self.punct(r, "(").map_err(cut)?;
        let (r, mut keys) = self.expr_list(r)?;
        let (r, _) = self.close(r, ")", "(", open)?;
        // A last argument that is a time period is the expiry, not a key.
        let mut expiry = None;
        if keys.len() > 1
            && let Some(Expr {
                kind: ExprKind::TimePeriod(_),
                ..
            }) = keys.last()
            && let Some(Expr {
                kind: ExprKind::TimePeriod(tp),
                ..
            }) = keys.pop()
        {
            expiry = Some(tp);
        }
        let (r, inner) = self.pattern_unary(r).map_err(cut)?;
        let span = Span::new(kw.start, inner.span.end);
        let kind = PatternKind::EveryDistinct {
            keys,
            expiry,
            inner: Box::new(inner),
        };
        Ok((r, PatternExpr { kind, span }))
    }

    /// After `[`: `n] p`.
    #[inline(never)]
    fn repeat(&self, rest: &'a str, open: Span) -> PResult<'a, PatternExpr> {
        let (r, (n, nspan)) = self.number(rest).map_err(cut)?;
        let count = match n {
            RawNumber::Integer(v) => u32::try_from(v).ok(),
            RawNumber::Decimal(_) => None,
        };
        let Some(count) = count else {
            return Err(nom::Err::Failure(PErr::custom(
                self.at(nspan.start),
                nspan.len(),
                ParseErrorKind::InvalidNumber,
                "a repeat count must be a whole number",
                None,
            )));
        };
        let (r, _) = self.close(r, "]", "[", open)?;
        let (r, inner) = self.pattern_unary(r).map_err(cut)?;
        let span = Span::new(open.start, inner.span.end);
        let kind = PatternKind::Repeat {
            count,
            inner: Box::new(inner),
        };
        Ok((r, PatternExpr { kind, span }))
    }

    /// An atom followed by any number of `where timer:within(T)` guards.
    fn pattern_guarded(&self, i: &'a str) -> PResult<'a, PatternExpr> {
        let (mut i, mut p) = self.pattern_atom(i)?;
        let mut guards = 0;
        while let Some((rest, _)) = self.eat_kw(i, "where") {
            // Each guard nests the tree one level deeper.
            guards += 1;
            if self.depth.get() + guards > MAX_DEPTH {
                return Err(self.depth_error(self.skip(i)));
            }
            (i, p) = self.guard(rest, p)?;
        }
        Ok((i, p))
    }

    /// After `where`: `timer:within(T)`.
    #[inline(never)]
    fn guard(&self, rest: &'a str, p: PatternExpr) -> PResult<'a, PatternExpr> {
        let (rest, _) = self.kw(rest, "timer").map_err(cut)?;
        let (rest, _) = self.punct(rest, ":").map_err(cut)?;
        let (rest, _) = self.kw(rest, "within").map_err(cut)?;
        let (rest, tp) = self.time_arg(rest)?;
        let span = Span::new(p.span.start, self.pos(rest));
        let kind = PatternKind::Guard {
            inner: Box::new(p),
            guard: PatternGuard::Within(tp),
        };
        Ok((rest, PatternExpr { kind, span }))
    }

    /// `(T)` where T is a time period or a bare number of seconds.
    fn time_arg(&self, i: &'a str) -> PResult<'a, TimePeriod> {
        let (i, open) = self.punct(i, "(").map_err(cut)?;
        let (i, e) = self.expr(i).map_err(cut)?;
        let tp = expr_to_time_period(e).map_err(|e| {
            nom::Err::Failure(PErr::custom(
                self.at(e.span.start),
                e.span.len(),
                ParseErrorKind::InvalidTimePeriod,
                "expected a time period",
                Some("write a time period such as `10 sec`, `5 min` or `1 hour 30 minutes`".into()),
            ))
        })?;
        let (i, _) = self.close(i, ")", "(", open)?;
        Ok((i, tp))
    }

    /// `( p )`, `timer:interval(T)`, or `[tag=]Type[(filter)]`.
    fn pattern_atom(&self, i: &'a str) -> PResult<'a, PatternExpr> {
        let (i, ()) = self.ws(i)?;
        if let Some((rest, open)) = self.eat_punct(i, "(") {
            return self.pattern_parenthesised(rest, open);
        }
        self.pattern_filter_or_timer(i)
    }

    #[inline(never)]
    fn pattern_parenthesised(&self, rest: &'a str, open: Span) -> PResult<'a, PatternExpr> {
        let (rest, mut p) = self.pattern(rest).map_err(cut)?;
        let (rest, close) = self.close(rest, ")", "(", open)?;
        p.span = open.to(close);
        Ok((rest, p))
    }

    #[inline(never)]
    fn pattern_filter_or_timer(&self, i: &'a str) -> PResult<'a, PatternExpr> {
        if self.peek_kw(i, "timer") {
            let (after, t) = self.word(i)?;
            if self.peek_punct(after, ":") {
                let (r, _) = self.punct(after, ":")?;
                let (r, _) = self.kw(r, "interval").map_err(cut)?;
                let (r, tp) = self.time_arg(r)?;
                let span = Span::new(t.1.start, self.pos(r));
                return Ok((
                    r,
                    PatternExpr {
                        kind: PatternKind::TimerInterval(tp),
                        span,
                    },
                ));
            }
        }
        let (rest, first) = match self.ident(i) {
            Ok(ok) => ok,
            Err(nom::Err::Error(e)) if e.custom.is_none() => {
                let mut e = PErr::expected(i, "event type");
                e.expected.push("`(`".into());
                e.expected.push("`every`".into());
                e.expected.push("`not`".into());
                e.expected.push("`timer:interval`".into());
                return Err(nom::Err::Error(e));
            }
            Err(e) => return Err(e),
        };
        let (rest, tag, event_type) = match self.eat_punct(rest, "=") {
            Some((r, _)) => {
                let (r, ty) = self.ident(r).map_err(cut)?;
                (r, Some(first), ty)
            }
            None => (rest, None, first),
        };
        let (rest, filter) = self.filter(rest)?;
        let start = tag.as_ref().map_or(event_type.span.start, |t| t.span.start);
        let span = Span::new(start, self.pos(rest));
        Ok((
            rest,
            PatternExpr {
                kind: PatternKind::Filter {
                    tag,
                    event_type,
                    filter,
                },
                span,
            },
        ))
    }

    /// An optional `(e1, e2, ...)` filter after an event type; commas mean `and`.
    pub fn filter(&self, i: &'a str) -> PResult<'a, Option<Expr>> {
        let Some((rest, open)) = self.eat_punct(i, "(") else {
            return Ok((i, None));
        };
        if let Some((rest, _)) = self.eat_punct(rest, ")") {
            return Ok((rest, None));
        }
        let (rest, list) = self.expr_list(rest)?;
        let (rest, _) = self.close(rest, ")", "(", open)?;
        let mut it = list.into_iter();
        let Some(mut acc) = it.next() else {
            return Ok((rest, None));
        };
        for e in it {
            let span = acc.span.to(e.span);
            acc = Expr {
                kind: ExprKind::Binary {
                    op: BinaryOp::And,
                    left: Box::new(acc),
                    right: Box::new(e),
                },
                span,
            };
        }
        Ok((rest, Some(acc)))
    }
}
