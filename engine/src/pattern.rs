//! Pattern plans: `pattern [ ... ]` bound to event types and tags.
use std::sync::Arc;

use crate::expr::BoundExpr;
use crate::schema::EventType;

/// A bound pattern: the expression tree and the tags it binds.
#[derive(Debug, Clone)]
pub struct PatternPlan {
    pub root: PatternNode,
    /// Tag names and their event types; a tag's index is its slot in a match.
    pub tags: Vec<(String, Arc<EventType>)>,
    /// `@Hint('max_instances=N')`: the most live instances kept at once.
    pub max_instances: usize,
}

#[derive(Debug, Clone)]
pub enum PatternNode {
    /// `[tag=]Type(filter)`: the filter may read earlier tags.
    Filter {
        tag: Option<usize>,
        event_type: Arc<EventType>,
        filter: Option<BoundExpr>,
    },
    TimerInterval(i64),
    Every(Box<PatternNode>),
    EveryDistinct {
        keys: Vec<BoundExpr>,
        expiry: Option<i64>,
        inner: Box<PatternNode>,
    },
    Not(Box<PatternNode>),
    Repeat {
        count: u32,
        inner: Box<PatternNode>,
    },
    Within {
        millis: i64,
        inner: Box<PatternNode>,
    },
    And(Box<PatternNode>, Box<PatternNode>),
    Or(Box<PatternNode>, Box<PatternNode>),
    FollowedBy(Box<PatternNode>, Box<PatternNode>),
}

pub const DEFAULT_MAX_INSTANCES: usize = 100_000;

impl PatternPlan {
    pub fn describe(&self) -> String {
        let tags: Vec<String> = self
            .tags
            .iter()
            .map(|(n, t)| format!("{n}:{}", t.name))
            .collect();
        format!(
            "tags=[{}] max_instances={} {}",
            tags.join(", "),
            self.max_instances,
            self.root.describe()
        )
    }
}

impl PatternNode {
    pub fn describe(&self) -> String {
        match self {
            PatternNode::Filter {
                tag,
                event_type,
                filter,
            } => format!(
                "{}{}{}",
                tag.map(|t| format!("#{t}=")).unwrap_or_default(),
                event_type.name,
                if filter.is_some() { "(filter)" } else { "" }
            ),
            PatternNode::TimerInterval(ms) => format!("interval({ms} ms)"),
            PatternNode::Every(i) => format!("every({})", i.describe()),
            PatternNode::EveryDistinct { inner, .. } => {
                format!("every-distinct({})", inner.describe())
            }
            PatternNode::Not(i) => format!("not({})", i.describe()),
            PatternNode::Repeat { count, inner } => format!("[{count}]({})", inner.describe()),
            PatternNode::Within { millis, inner } => {
                format!("within({millis} ms, {})", inner.describe())
            }
            PatternNode::And(a, b) => format!("and({}, {})", a.describe(), b.describe()),
            PatternNode::Or(a, b) => format!("or({}, {})", a.describe(), b.describe()),
            PatternNode::FollowedBy(a, b) => {
                format!("followed-by({}, {})", a.describe(), b.describe())
            }
        }
    }
}

impl PatternPlan {
    /// Every event type a filter of this pattern reads.
    pub fn filter_types(&self) -> Vec<crate::schema::TypeId> {
        fn walk(n: &PatternNode, out: &mut Vec<crate::schema::TypeId>) {
            match n {
                PatternNode::Filter { event_type, .. } => {
                    if !out.contains(&event_type.id) {
                        out.push(event_type.id);
                    }
                }
                PatternNode::TimerInterval(_) => {}
                PatternNode::Every(i)
                | PatternNode::Not(i)
                | PatternNode::EveryDistinct { inner: i, .. }
                | PatternNode::Repeat { inner: i, .. }
                | PatternNode::Within { inner: i, .. } => walk(i, out),
                PatternNode::And(a, b) | PatternNode::Or(a, b) | PatternNode::FollowedBy(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}
