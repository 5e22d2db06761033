//! Printing the tree back as EPL: the `#` window spelling, canonical keyword
//! case, and only the parentheses that precedence requires.
//! `parse_script(&script.to_string()) == Ok(script)` for every parsed script.

use std::fmt::{self, Display, Formatter, Write as _};

use crate::ast::*;
use crate::expr::{LVL_CONCAT, LVL_EQ, LVL_NEG, LVL_REL, binary_level, expr_level};
use crate::lexer::is_plain_ident;
use crate::pattern::{PLVL_AND, PLVL_FOLLOWED_BY, PLVL_GUARD, PLVL_OR, PLVL_UNARY, pattern_level};

fn comma_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Script {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (n, st) in self.statements.iter().enumerate() {
            if n > 0 {
                f.write_str(";\n\n")?;
            }
            write!(f, "{st}")?;
        }
        if !self.statements.is_empty() {
            f.write_char(';')?;
        }
        Ok(())
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for a in &self.annotations {
            writeln!(f, "{a}")?;
        }
        match &self.kind {
            StatementKind::CreateSchema(c) => write!(f, "{c}"),
            StatementKind::Select(s) => write!(f, "{s}"),
        }
    }
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.quoted || !is_plain_ident(&self.value) {
            write!(f, "`{}`", self.value)
        } else {
            f.write_str(&self.value)
        }
    }
}

impl Display for Annotation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.name.value)?;
        if !self.args.is_empty() {
            f.write_char('(')?;
            comma_list(f, &self.args)?;
            f.write_char(')')?;
        }
        Ok(())
    }
}

impl Display for AnnotationArg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            AnnotationArg::Positional(l, _) => write!(f, "{l}"),
            AnnotationArg::Named { name, value, .. } => write!(f, "{}={value}", name.value),
        }
    }
}

impl Display for CreateSchema {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("create ")?;
        match self.representation {
            SchemaRepresentation::Default => {}
            SchemaRepresentation::Map => f.write_str("map ")?,
            SchemaRepresentation::Json => f.write_str("json ")?,
        }
        write!(f, "schema {}(", self.name)?;
        comma_list(f, &self.fields)?;
        f.write_char(')')?;
        if let Some(s) = &self.start_timestamp {
            write!(f, " starttimestamp {s}")?;
        }
        if let Some(e) = &self.end_timestamp {
            write!(f, " endtimestamp {e}")?;
        }
        Ok(())
    }
}

impl Display for FieldDef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.ty)
    }
}

impl Display for FieldType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
        })
    }
}

impl Display for StreamSelector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamSelector::IStream => "istream",
            StreamSelector::RStream => "rstream",
            StreamSelector::IRStream => "irstream",
        })
    }
}

impl Display for InsertInto {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("insert ")?;
        if let Some(s) = self.stream_selector {
            write!(f, "{s} ")?;
        }
        write!(f, "into {}", self.stream)
    }
}

impl Display for SelectStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(ins) = &self.insert_into {
            write!(f, "{ins} ")?;
        }
        f.write_str("select ")?;
        if let Some(s) = self.stream_selector {
            write!(f, "{s} ")?;
        }
        if self.distinct {
            f.write_str("distinct ")?;
        }
        comma_list(f, &self.items)?;
        write!(f, " from {}", self.from)?;
        if let Some(w) = &self.where_clause {
            write!(f, " where {w}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" group by ")?;
            comma_list(f, &self.group_by)?;
        }
        if let Some(h) = &self.having {
            write!(f, " having {h}")?;
        }
        if let Some(o) = &self.output {
            write!(f, " {o}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" order by ")?;
            comma_list(f, &self.order_by)?;
        }
        if let Some(l) = &self.limit {
            write!(f, " {l}")?;
        }
        Ok(())
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Wildcard(_) => f.write_char('*'),
            SelectItem::Expr { expr, alias, .. } => {
                write!(f, "{expr}")?;
                if let Some(a) = alias {
                    write!(f, " as {a}")?;
                }
                Ok(())
            }
        }
    }
}

impl Display for FromClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FromClause::Stream(s) => write!(f, "{s}"),
            FromClause::Pattern(p) => write!(f, "{p}"),
        }
    }
}

impl Display for StreamSource {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.event_type)?;
        if let Some(filter) = &self.filter {
            write!(f, "({filter})")?;
        }
        for v in &self.views {
            write!(f, "{v}")?;
        }
        if let Some(a) = &self.alias {
            write!(f, " as {a}")?;
        }
        Ok(())
    }
}

impl Display for PatternSource {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "pattern [{}]", self.pattern)?;
        if let Some(a) = &self.alias {
            write!(f, " as {a}")?;
        }
        Ok(())
    }
}

impl Display for View {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.kind.name())?;
        if !self.params.is_empty() {
            f.write_char('(')?;
            comma_list(f, &self.params)?;
            f.write_char(')')?;
        }
        Ok(())
    }
}

impl Display for ViewKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Display for OutputLimit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("output ")?;
        match self.mode {
            OutputMode::Default => {}
            OutputMode::All => f.write_str("all ")?,
            OutputMode::First => f.write_str("first ")?,
            OutputMode::Last => f.write_str("last ")?,
            OutputMode::Snapshot => f.write_str("snapshot ")?,
        }
        match &self.rate {
            OutputRate::Events(n) => write!(f, "every {n} events"),
            OutputRate::Time(t) => write!(f, "every {t}"),
        }
    }
}

impl Display for OrderItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if self.descending {
            f.write_str(" desc")?;
        }
        Ok(())
    }
}

impl Display for Limit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "limit {}", self.count)?;
        if let Some(o) = self.offset {
            write!(f, " offset {o}")?;
        }
        Ok(())
    }
}

impl Display for TimePeriod {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.parts.is_empty() {
            return f.write_str("0 sec");
        }
        for (n, part) in self.parts.iter().enumerate() {
            if n > 0 {
                f.write_char(' ')?;
            }
            write!(f, "{} {}", part.amount, part.unit)?;
        }
        Ok(())
    }
}

impl Display for Number {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Number::Integer(i) => write!(f, "{i}"),
            Number::Decimal(d) => write_f64(f, *d),
        }
    }
}

impl Display for TimeUnit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeUnit::Millisecond => "msec",
            TimeUnit::Second => "sec",
            TimeUnit::Minute => "min",
            TimeUnit::Hour => "hour",
            TimeUnit::Day => "day",
        })
    }
}

/// `{:?}` keeps a decimal point (`2.0`) and round-trips every finite f64.
fn write_f64(f: &mut Formatter<'_>, d: f64) -> fmt::Result {
    write!(f, "{d:?}")
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Integer(i) => write!(f, "{i}"),
            Literal::Decimal(d) => write_f64(f, *d),
            Literal::String(s) => {
                f.write_char('\'')?;
                for c in s.chars() {
                    match c {
                        '\'' => f.write_str("\\'")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        '\0' => f.write_str("\\0")?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('\'')
            }
            Literal::Boolean(true) => f.write_str("true"),
            Literal::Boolean(false) => f.write_str("false"),
            Literal::Null => f.write_str("null"),
        }
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Concat => "||",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        })
    }
}

/// `e`, parenthesised when it binds looser than `min`.
struct Operand<'e>(&'e Expr, u8);

impl Display for Operand<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if expr_level(self.0) < self.1 {
            write!(f, "({})", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn not_kw(negated: bool) -> &'static str {
    if negated { "not " } else { "" }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::Property(path) => {
                for (n, id) in path.iter().enumerate() {
                    if n > 0 {
                        f.write_char('.')?;
                    }
                    write!(f, "{id}")?;
                }
                Ok(())
            }
            ExprKind::IndexedProperty { tag, index, path } => {
                write!(f, "{tag}[{index}]")?;
                for id in path {
                    write!(f, ".{id}")?;
                }
                Ok(())
            }
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => {
                write!(f, "not {}", Operand(expr, LVL_EQ))
            }
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => {
                // `-(5)` keeps a negated literal apart from the literal `-5`;
                // `-(-a)` avoids `--`, which starts a comment.
                let needs_parens = matches!(
                    expr.kind,
                    ExprKind::Literal(Literal::Integer(_) | Literal::Decimal(_))
                        | ExprKind::Unary {
                            op: UnaryOp::Neg,
                            ..
                        }
                ) || expr_level(expr) < LVL_NEG;
                if needs_parens {
                    write!(f, "-({expr})")
                } else {
                    write!(f, "-{expr}")
                }
            }
            ExprKind::Binary { op, left, right } => {
                let level = binary_level(*op);
                write!(
                    f,
                    "{} {op} {}",
                    Operand(left, level),
                    Operand(right, level + 1)
                )
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                write!(f, "{} {}in (", Operand(expr, LVL_REL), not_kw(*negated))?;
                comma_list(f, list)?;
                f.write_char(')')
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => write!(
                f,
                "{} {}between {} and {}",
                Operand(expr, LVL_REL),
                not_kw(*negated),
                Operand(low, LVL_CONCAT),
                Operand(high, LVL_CONCAT)
            ),
            ExprKind::Like {
                expr,
                pattern,
                escape,
                negated,
            } => {
                write!(
                    f,
                    "{} {}like {}",
                    Operand(expr, LVL_REL),
                    not_kw(*negated),
                    Operand(pattern, LVL_CONCAT)
                )?;
                if let Some(e) = escape {
                    write!(f, " escape {}", Operand(e, LVL_CONCAT))?;
                }
                Ok(())
            }
            ExprKind::Regexp {
                expr,
                pattern,
                negated,
            } => write!(
                f,
                "{} {}regexp {}",
                Operand(expr, LVL_REL),
                not_kw(*negated),
                Operand(pattern, LVL_CONCAT)
            ),
            ExprKind::IsNull { expr, negated } => {
                write!(f, "{} is {}null", Operand(expr, LVL_EQ), not_kw(*negated))
            }
            ExprKind::Case {
                operand,
                whens,
                else_result,
            } => {
                f.write_str("case")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (cond, result) in whens {
                    write!(f, " when {cond} then {result}")?;
                }
                if let Some(e) = else_result {
                    write!(f, " else {e}")?;
                }
                f.write_str(" end")
            }
            ExprKind::Function {
                name,
                distinct,
                args,
            } => {
                write!(f, "{name}(")?;
                if *distinct {
                    f.write_str("distinct ")?;
                }
                match args {
                    FunctionArgs::Star => f.write_char('*')?,
                    FunctionArgs::List(list) => comma_list(f, list)?,
                }
                f.write_char(')')
            }
            ExprKind::TimePeriod(tp) => write!(f, "{tp}"),
        }
    }
}

/// A pattern, parenthesised when it binds looser than `min`.
struct POperand<'p>(&'p PatternExpr, u8);

impl Display for POperand<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if pattern_level(self.0) < self.1 {
            write!(f, "({})", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Display for PatternExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PatternKind::Filter {
                tag,
                event_type,
                filter,
            } => {
                if let Some(t) = tag {
                    write!(f, "{t}=")?;
                }
                write!(f, "{event_type}")?;
                if let Some(e) = filter {
                    write!(f, "({e})")?;
                }
                Ok(())
            }
            PatternKind::TimerInterval(tp) => write!(f, "timer:interval({tp})"),
            PatternKind::Every(p) => write!(f, "every {}", POperand(p, PLVL_UNARY)),
            PatternKind::EveryDistinct {
                keys,
                expiry,
                inner,
            } => {
                f.write_str("every-distinct(")?;
                comma_list(f, keys)?;
                if let Some(t) = expiry {
                    if !keys.is_empty() {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, ") {}", POperand(inner, PLVL_UNARY))
            }
            PatternKind::Not(p) => write!(f, "not {}", POperand(p, PLVL_UNARY)),
            PatternKind::Repeat { count, inner } => {
                write!(f, "[{count}] {}", POperand(inner, PLVL_UNARY))
            }
            PatternKind::Guard { inner, guard } => {
                write!(f, "{} where {guard}", POperand(inner, PLVL_GUARD))
            }
            PatternKind::And(l, r) => {
                write!(
                    f,
                    "{} and {}",
                    POperand(l, PLVL_AND),
                    POperand(r, PLVL_UNARY)
                )
            }
            PatternKind::Or(l, r) => {
                write!(f, "{} or {}", POperand(l, PLVL_OR), POperand(r, PLVL_AND))
            }
            PatternKind::FollowedBy(l, r) => {
                write!(
                    f,
                    "{} -> {}",
                    POperand(l, PLVL_FOLLOWED_BY),
                    POperand(r, PLVL_OR)
                )
            }
        }
    }
}

impl Display for PatternGuard {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            PatternGuard::Within(tp) => write!(f, "timer:within({tp})"),
        }
    }
}
