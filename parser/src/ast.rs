//! The EPL syntax tree.
//!
//! Every node carries a [`Span`] of byte offsets into the parsed text. Spans are
//! *ignored by equality* (see [`Span`]), so `parse(print(ast)) == ast` compares
//! structure only. Both window spellings (`#time(5 min)` and `.win:time(5 min)`)
//! produce the same [`View`]; [`std::fmt::Display`] prints the `#` spelling.
//! Parentheses are not nodes: the tree's shape records grouping, and `Display`
//! adds the parentheses that precedence requires.

/// Byte range `start..end` into the source text of one node.
///
/// Two spans always compare equal: the tree's equality is structural, so a
/// statement printed and parsed back equals the original even though every
/// offset moved. Compare `start`/`end` directly where positions matter.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

/// Hashes nothing, to agree with equality (all spans are equal), so trees can
/// be hashed structurally too.
impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A name: an event type, a field, a tag, an alias. `quoted` records backquotes
/// (`` `select` ``) so a keyword used as a name prints back quoted.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub value: String,
    pub quoted: bool,
    pub span: Span,
}

/// A whole `.epl` file: statements separated by `;`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub annotations: Vec<Annotation>,
    pub kind: StatementKind,
    /// From the first annotation (or keyword) to the end of the statement, without the `;`.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    CreateSchema(CreateSchema),
    Select(Box<SelectStatement>),
}

/// `@Name('x')`, `@Tag(name='k', value='v')`, `@Audit`, any `@Ident(args)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub name: Ident,
    pub args: Vec<AnnotationArg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationArg {
    Positional(Literal, Span),
    Named {
        name: Ident,
        value: Literal,
        span: Span,
    },
}

/// `create [map|json] schema Name [as] (field type, ...) [starttimestamp f] [endtimestamp f]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSchema {
    pub representation: SchemaRepresentation,
    pub name: Ident,
    pub fields: Vec<FieldDef>,
    pub start_timestamp: Option<Ident>,
    pub end_timestamp: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaRepresentation {
    /// `create schema`: the engine's default representation.
    #[default]
    Default,
    /// `create map schema`
    Map,
    /// `create json schema`
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub name: Ident,
    pub ty: FieldType,
    pub ty_span: Span,
}

/// Field types of `create schema`. `integer` parses as [`FieldType::Int`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    String,
    Int,
    Long,
    Double,
    Float,
    Boolean,
}

/// `[insert [istream|irstream|rstream] into S] select [istream|irstream|rstream] [distinct] ...`
#[derive(Debug, Clone, PartialEq)]
pub struct SelectStatement {
    pub insert_into: Option<InsertInto>,
    /// The stream keyword after `select`; `None` means the default (istream).
    pub stream_selector: Option<StreamSelector>,
    pub distinct: bool,
    pub items: Vec<SelectItem>,
    pub from: FromClause,
    pub where_clause: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub output: Option<OutputLimit>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<Limit>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InsertInto {
    pub stream_selector: Option<StreamSelector>,
    pub stream: Ident,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamSelector {
    IStream,
    RStream,
    IRStream,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`
    Wildcard(Span),
    /// `expr [as alias]`
    Expr {
        expr: Expr,
        alias: Option<Ident>,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum FromClause {
    Stream(StreamSource),
    Pattern(PatternSource),
}

/// `Type[(filter)] [#view(...)...] [as alias]`
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSource {
    pub event_type: Ident,
    pub filter: Option<Expr>,
    /// Data windows in the order written; `#groupwin(k)#length(5)` is two views.
    pub views: Vec<View>,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// `pattern [ ... ] [as alias]`
#[derive(Debug, Clone, PartialEq)]
pub struct PatternSource {
    pub pattern: PatternExpr,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// A data window (Esper calls them views). Parameters stay expressions (a time
/// period is [`ExprKind::TimePeriod`]); the binder checks their number and type.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub kind: ViewKind,
    pub params: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewKind {
    /// `#length(n)`, `.win:length(n)`
    Length,
    /// `#length_batch(n)`, `.win:length_batch(n)`
    LengthBatch,
    /// `#time(T)`, `.win:time(T)`
    Time,
    /// `#time_batch(T)`, `.win:time_batch(T)`
    TimeBatch,
    /// `#ext_timed(field, T)`, `.win:ext_timed(field, T)`
    ExtTimed,
    /// `#keepall`, `.win:keepall()`
    KeepAll,
    /// `#unique(k, ...)`, `.std:unique(k, ...)`
    Unique,
    /// `#firstevent`, `.std:firstevent()`
    FirstEvent,
    /// `#lastevent`, `.std:lastevent()`
    LastEvent,
    /// `#groupwin(k, ...)`, `.std:groupwin(k, ...)`
    GroupWin,
}

impl ViewKind {
    pub const ALL: [ViewKind; 10] = [
        ViewKind::Length,
        ViewKind::LengthBatch,
        ViewKind::Time,
        ViewKind::TimeBatch,
        ViewKind::ExtTimed,
        ViewKind::KeepAll,
        ViewKind::Unique,
        ViewKind::FirstEvent,
        ViewKind::LastEvent,
        ViewKind::GroupWin,
    ];

    /// The name after `#` (and after `win:`/`std:` in the Esper 5 spelling).
    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Length => "length",
            ViewKind::LengthBatch => "length_batch",
            ViewKind::Time => "time",
            ViewKind::TimeBatch => "time_batch",
            ViewKind::ExtTimed => "ext_timed",
            ViewKind::KeepAll => "keepall",
            ViewKind::Unique => "unique",
            ViewKind::FirstEvent => "firstevent",
            ViewKind::LastEvent => "lastevent",
            ViewKind::GroupWin => "groupwin",
        }
    }

    /// The Esper 5 namespace: `win` or `std`.
    pub fn namespace(self) -> &'static str {
        match self {
            ViewKind::Unique | ViewKind::FirstEvent | ViewKind::LastEvent | ViewKind::GroupWin => {
                "std"
            }
            _ => "win",
        }
    }

    pub fn from_name(name: &str) -> Option<ViewKind> {
        ViewKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// `output [all|first|last|snapshot] every N events | every T`
#[derive(Debug, Clone, PartialEq)]
pub struct OutputLimit {
    pub mode: OutputMode,
    pub rate: OutputRate,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputMode {
    /// No keyword: `output every ...`.
    #[default]
    Default,
    All,
    First,
    Last,
    Snapshot,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputRate {
    /// `every N events`
    Events(u64),
    /// `every T`
    Time(TimePeriod),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub expr: Expr,
    pub descending: bool,
    pub span: Span,
}

/// `limit n [offset m]`
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub count: u64,
    pub offset: Option<u64>,
    pub span: Span,
}

/// `1 hour 30 minutes`, `500 msec`, `5.5 sec`. A bare number in a time
/// parameter means seconds and parses as one part with [`TimeUnit::Second`].
#[derive(Debug, Clone, PartialEq)]
pub struct TimePeriod {
    pub parts: Vec<TimePart>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimePart {
    pub amount: Number,
    pub unit: TimeUnit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Integer(i64),
    Decimal(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Integer(i) => i as f64,
            Number::Decimal(d) => d,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
}

impl TimeUnit {
    pub fn millis(self) -> i64 {
        match self {
            TimeUnit::Millisecond => 1,
            TimeUnit::Second => 1_000,
            TimeUnit::Minute => 60_000,
            TimeUnit::Hour => 3_600_000,
            TimeUnit::Day => 86_400_000,
        }
    }
}

impl TimePeriod {
    /// The period in milliseconds, rounded to the nearest millisecond.
    pub fn millis(&self) -> i64 {
        let total: f64 = self
            .parts
            .iter()
            .map(|p| p.amount.as_f64() * p.unit.millis() as f64)
            .sum();
        total.round() as i64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// `price`, `a.token`: one or more dot-separated names.
    Property(Vec<Ident>),
    /// `a[0].v`: the `index`-th event bound to the repeat tag `tag` (`[2] a=A`),
    /// then the property `path` of it (`a[0]` alone has an empty path).
    IndexedProperty {
        tag: Ident,
        index: u32,
        path: Vec<Ident>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `x [not] in (a, b)`
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `x [not] between lo and hi`
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `x [not] like 'a%' [escape '!']`
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<Box<Expr>>,
        negated: bool,
    },
    /// `x [not] regexp 'a.*'`
    Regexp {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
    },
    /// `x is [not] null`
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `case [operand] when c then r ... [else e] end`
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        else_result: Option<Box<Expr>>,
    },
    /// `f(args)`, `count(*)`, `count(distinct x)`.
    Function {
        name: Ident,
        distinct: bool,
        args: FunctionArgs,
    },
    /// A time period, legal where Esper takes one (window parameters).
    TimePeriod(TimePeriod),
}

#[derive(Debug, Clone, PartialEq)]
pub enum FunctionArgs {
    /// `count(*)`
    Star,
    List(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Integer(i64),
    Decimal(f64),
    String(String),
    Boolean(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// `||` string concatenation
    Concat,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

/// A pattern expression inside `pattern [ ... ]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternExpr {
    pub kind: PatternKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PatternKind {
    /// `[tag=]Type[(filter)]`
    Filter {
        tag: Option<Ident>,
        event_type: Ident,
        filter: Option<Expr>,
    },
    /// `timer:interval(T)`
    TimerInterval(TimePeriod),
    /// `every p`
    Every(Box<PatternExpr>),
    /// `every-distinct(k, ... [, T]) p`
    EveryDistinct {
        keys: Vec<Expr>,
        expiry: Option<TimePeriod>,
        inner: Box<PatternExpr>,
    },
    /// `not p`
    Not(Box<PatternExpr>),
    /// `[n] p`
    Repeat { count: u32, inner: Box<PatternExpr> },
    /// `p where timer:within(T)`
    Guard {
        inner: Box<PatternExpr>,
        guard: PatternGuard,
    },
    /// `p and q`
    And(Box<PatternExpr>, Box<PatternExpr>),
    /// `p or q`
    Or(Box<PatternExpr>, Box<PatternExpr>),
    /// `p -> q`
    FollowedBy(Box<PatternExpr>, Box<PatternExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PatternGuard {
    /// `timer:within(T)`
    Within(TimePeriod),
}
