//! The engine thread: owns the (synchronous) engine, takes events and the
//! shell's requests from one bounded channel, prints rows as they arrive, and
//! moves event time forward while the stream is idle.
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use cepheus_engine::binder::annotation_string;
use cepheus_engine::schema::FieldInfo;
use cepheus_engine::{
    BoundScript, Delivery, Engine, EventTime, bind_script, decode_fields, timestamp_of,
};
use cepheus_parser::{StatementKind, StreamSelector};
use serde_json::{Map, Value as Json};

use crate::catalog::{Catalog, SharedCatalog};
use crate::infer::infer_fields;
use crate::render::{RowFormat, StreamingTable, caret_error, json_lines, table_cells};

/// Capacity of the channel into the engine thread (events and requests).
pub const CHANNEL_CAPACITY: usize = 1024;
/// How often idle event time moves forward.
const TICK: Duration = Duration::from_millis(100);
/// Raw events kept for `.sample`.
const RECENT_EVENTS: usize = 200;

/// One event from a source, not decoded yet (its type may not be known yet).
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub type_name: String,
    pub fields: Map<String, Json>,
    /// The source's own time for it (e.g. the Kafka message timestamp).
    pub time: Option<EventTime>,
}

pub enum ToEngine {
    /// An event to process.
    Event(RawEvent),
    /// An event seen before the session started: only used to learn its type's fields.
    Sample(RawEvent),
    /// A record a source could not read as a JSON object (counted as dropped).
    Unreadable(String),
    /// A request from the shell; the answer (text to print) goes back on the sender.
    Request(Request, SyncSender<String>),
    Shutdown,
}

/// Where statements come from: typed `select`s are queries (Ctrl-C stops them);
/// statements of files are rules and keep running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Typed,
    File,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Execute {
        text: String,
        origin: Origin,
    },
    Explain(String),
    Stop(String),
    StopQueries,
    Schemas,
    Statements,
    Time,
    Sample {
        count: usize,
        event_type: Option<String>,
    },
    Format(RowFormat),
    /// Answers once every message sent before it was handled.
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Query,
    Rule,
}

struct Running {
    name: String,
    kind: Kind,
    rows: u64,
    /// Rows go to an `insert into` stream, not to the terminal.
    silent: bool,
    table: StreamingTable,
    with_stream_column: bool,
}

#[derive(Default)]
struct Stats {
    events: u64,
    late: u64,
    dropped: u64,
    last_drop: Option<String>,
    /// The last event's time and when it arrived.
    last_event: Option<(EventTime, Instant)>,
}

pub struct Session {
    engine: Engine,
    running: Vec<Running>,
    print: Box<dyn FnMut(String) + Send>,
    catalog: SharedCatalog,
    format: RowFormat,
    recent: VecDeque<(String, String)>,
    /// Samples of types not declared yet, inferred from at the next occasion.
    pending: Vec<(String, Vec<Map<String, Json>>)>,
    /// Types learnt from samples, with the number of samples.
    inferred: Vec<(String, usize)>,
    stats: Stats,
    last_printed: Option<String>,
    next_query: usize,
}

fn wall_now() -> EventTime {
    EventTime(chrono::Utc::now().timestamp_millis())
}

impl Session {
    pub fn new(print: Box<dyn FnMut(String) + Send>, catalog: SharedCatalog) -> Session {
        let engine = match Engine::new(BoundScript::default(), wall_now()) {
            Ok(e) => e,
            Err(e) => unreachable!("an engine without statements always starts: {e}"),
        };
        Session {
            engine,
            running: Vec::new(),
            print,
            catalog,
            format: RowFormat::Table,
            recent: VecDeque::new(),
            pending: Vec::new(),
            inferred: Vec::new(),
            stats: Stats::default(),
            last_printed: None,
            next_query: 0,
        }
    }

    /// Handles messages until `Shutdown` or until every sender is gone.
    pub fn run(mut self, rx: Receiver<ToEngine>) {
        loop {
            match rx.recv_timeout(TICK) {
                Ok(ToEngine::Event(e)) => self.on_event(e),
                Ok(ToEngine::Sample(e)) => self.on_sample(e),
                Ok(ToEngine::Unreadable(why)) => self.drop_event(why),
                Ok(ToEngine::Request(r, reply)) => {
                    let text = self.handle(r);
                    let _ = reply.send(text);
                }
                Ok(ToEngine::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.tick();
        }
    }

    pub fn handle(&mut self, request: Request) -> String {
        self.flush_inference();
        match request {
            Request::Execute { text, origin } => self.execute(&text, origin),
            Request::Explain(text) => self.explain(&text),
            Request::Stop(name) => self.stop(&name),
            Request::StopQueries => self.stop_queries(),
            Request::Schemas => self.schemas(),
            Request::Statements => self.statements(),
            Request::Time => self.time(),
            Request::Sample { count, event_type } => self.sample(count, event_type.as_deref()),
            Request::Format(f) => {
                self.format = f;
                format!(
                    "rows print as {}",
                    if f == RowFormat::Json {
                        "JSON lines"
                    } else {
                        "a table"
                    }
                )
            }
            Request::Ready => String::new(),
        }
    }

    fn remember(&mut self, e: &RawEvent) {
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        let json = Json::Object(e.fields.clone()).to_string();
        self.recent.push_back((e.type_name.clone(), json));
    }

    fn on_sample(&mut self, e: RawEvent) {
        self.remember(&e);
        if self.engine.registry().get(&e.type_name).is_some() {
            return;
        }
        match self.pending.iter_mut().find(|(n, _)| *n == e.type_name) {
            Some((_, samples)) => samples.push(e.fields),
            None => self.pending.push((e.type_name, vec![e.fields])),
        }
    }

    /// Declares the types of pending samples.
    fn flush_inference(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut registry = self.engine.registry().clone();
        for (name, samples) in self.pending.drain(..) {
            if registry.get(&name).is_some() {
                continue;
            }
            let fields = infer_fields(&samples)
                .into_iter()
                .map(|f| FieldInfo {
                    name: f.name,
                    ty: f.ty,
                })
                .collect();
            registry.add(&name, fields, None);
            self.inferred.push((name, samples.len()));
        }
        let bound = BoundScript {
            registry,
            statements: Vec::new(),
        };
        if let Err(e) = self.engine.add_statements(bound) {
            self.emit(format!("error: {e}"));
        }
        self.publish_catalog();
    }

    fn on_event(&mut self, e: RawEvent) {
        self.remember(&e);
        if self.engine.registry().get(&e.type_name).is_none() {
            self.on_sample(e.clone());
            self.flush_inference();
        }
        let Some(ty) = self.engine.registry().get(&e.type_name).cloned() else {
            return self.drop_event(format!("unknown event type `{}`", e.type_name));
        };
        let fields = match decode_fields(&ty, &e.fields) {
            Ok(f) => f,
            Err(err) => return self.drop_event(err.to_string()),
        };
        let time = match timestamp_of(&ty, &fields) {
            Ok(Some(t)) => t,
            Ok(None) => e
                .fields
                .get("ts")
                .and_then(Json::as_i64)
                .map(EventTime)
                .or(e.time)
                .unwrap_or_else(wall_now),
            Err(err) => return self.drop_event(err.to_string()),
        };
        if self.stats.last_event.is_none() && time < self.engine.now() {
            self.rebase(time);
        }
        let t = if time < self.engine.now() {
            self.stats.late += 1;
            self.engine.now()
        } else {
            time
        };
        let mut out = Vec::new();
        self.engine.advance_to(t, &mut out);
        self.engine.send(&ty, fields, &mut out);
        self.stats.events += 1;
        self.stats.last_event = Some((t, Instant::now()));
        self.deliver(out);
    }

    fn drop_event(&mut self, why: String) {
        self.stats.dropped += 1;
        self.stats.last_drop = Some(why);
    }

    /// Before the first event, restarts engine time at `t` (a file replaying the past).
    fn rebase(&mut self, t: EventTime) {
        let statements = self
            .engine
            .statements()
            .iter()
            .map(|s| (*s.plan).clone())
            .collect();
        let bound = BoundScript {
            registry: self.engine.registry().clone(),
            statements,
        };
        if let Ok(engine) = Engine::new(bound, t) {
            self.engine = engine;
        }
    }

    /// Idle streams still move time: the last event's time plus the wall time since.
    fn tick(&mut self) {
        let target = match self.stats.last_event {
            Some((t, at)) => t.plus(at.elapsed().as_millis() as i64),
            None => wall_now(),
        };
        if target > self.engine.now() {
            let mut out = Vec::new();
            self.engine.advance_to(target, &mut out);
            self.deliver(out);
        }
    }

    fn emit(&mut self, text: String) {
        (self.print)(text + "\n");
    }

    fn deliver(&mut self, out: Vec<Delivery>) {
        let several_print = self.running.iter().filter(|r| !r.silent).count() > 1;
        for d in out {
            let Some(statement) = self.engine.statement(d.statement) else {
                continue;
            };
            let plan = &statement.plan;
            let Some(r) = self.running.iter_mut().find(|r| r.name == plan.name) else {
                continue;
            };
            r.rows += (d.output.insert.len() + d.output.remove.len()) as u64;
            if r.silent || (d.output.insert.is_empty() && d.output.remove.is_empty()) {
                continue;
            }
            let lines = match self.format {
                RowFormat::Json => json_lines(plan, &d),
                RowFormat::Table => {
                    let mut lines = Vec::new();
                    if self.last_printed.as_deref() != Some(&r.name) {
                        if self.last_printed.is_some() || several_print {
                            lines.push(format!("[{}]", r.name));
                        }
                        r.table.reset_header();
                    }
                    let cells = table_cells(&d.output, r.with_stream_column);
                    lines.extend(r.table.lines(&cells));
                    lines
                }
            };
            self.last_printed = Some(r.name.clone());
            (self.print)(lines.join("\n") + "\n");
        }
    }

    fn publish_catalog(&self) {
        let names = self.running.iter().map(|r| r.name.clone()).collect();
        let catalog = Catalog::from_registry(self.engine.registry(), names);
        if let Ok(mut shared) = self.catalog.lock() {
            *shared = catalog;
        }
    }

    fn fresh_name(&mut self) -> String {
        loop {
            self.next_query += 1;
            let name = format!("q{}", self.next_query);
            if !self.running.iter().any(|r| r.name == name) {
                return name;
            }
        }
    }

    fn execute(&mut self, text: &str, origin: Origin) -> String {
        let script = match cepheus_parser::parse_script(text) {
            Ok(s) => s,
            Err(e) => return caret_error(text, e.span, &e.message, e.help.as_deref()),
        };
        let mut bound = match bind_script(text, &script, self.engine.registry()) {
            Ok(b) => b,
            Err(errors) => {
                let shown: Vec<String> = errors
                    .iter()
                    .map(|e| caret_error(text, e.span, &e.message, e.help.as_deref()))
                    .collect();
                return shown.join("\n");
            }
        };
        let selects = script
            .statements
            .iter()
            .filter(|s| matches!(s.kind, StatementKind::Select(_)));
        for (stmt, plan) in selects.zip(bound.statements.iter_mut()) {
            if annotation_string(&stmt.annotations, "name").is_none() {
                plan.name = self.fresh_name();
            }
        }
        let known_types = self.engine.registry().len();
        let ids = match self.engine.add_statements(bound) {
            Ok(ids) => ids,
            Err(e) => return format!("error: {e}"),
        };
        let mut replies = Vec::new();
        for ty in self.engine.registry().iter().skip(known_types) {
            let fields: Vec<String> = ty
                .fields
                .iter()
                .map(|f| format!("{} {}", f.name, f.ty.name()))
                .collect();
            replies.push(format!("event type {} ({})", ty.name, fields.join(", ")));
        }
        for id in ids {
            let Some(s) = self.engine.statement(id) else {
                continue;
            };
            let plan = &s.plan;
            let kind = if origin == Origin::Typed && plan.insert_into.is_none() {
                Kind::Query
            } else {
                Kind::Rule
            };
            let with_stream_column = plan.selector != StreamSelector::IStream;
            let mut columns: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
            if with_stream_column {
                columns.insert(0, "stream".into());
            }
            replies.push(match (&plan.insert_into, kind) {
                (Some(t), _) => format!(
                    "rule {} started: inserts into {}",
                    plan.name, t.event_type.name
                ),
                (None, Kind::Rule) => format!("rule {} started", plan.name),
                (None, Kind::Query) => {
                    format!(
                        "query {} started; rows print as they arrive, Ctrl-C stops it",
                        plan.name
                    )
                }
            });
            self.running.push(Running {
                name: plan.name.clone(),
                kind,
                rows: 0,
                silent: plan.insert_into.is_some(),
                table: StreamingTable::new(columns),
                with_stream_column,
            });
        }
        self.publish_catalog();
        replies.join("\n")
    }

    fn explain(&mut self, text: &str) -> String {
        let script = match cepheus_parser::parse_script(text) {
            Ok(s) => s,
            Err(e) => return caret_error(text, e.span, &e.message, e.help.as_deref()),
        };
        match bind_script(text, &script, self.engine.registry()) {
            Ok(bound) if bound.statements.is_empty() => {
                "nothing to explain: no select statement".into()
            }
            Ok(bound) => {
                let plans: Vec<String> = bound.statements.iter().map(|p| p.explain()).collect();
                plans.join("\n").trim_end().to_string()
            }
            Err(errors) => {
                let shown: Vec<String> = errors
                    .iter()
                    .map(|e| caret_error(text, e.span, &e.message, e.help.as_deref()))
                    .collect();
                shown.join("\n")
            }
        }
    }

    fn remove(&mut self, name: &str) -> Option<String> {
        let pos = self.running.iter().position(|r| r.name == name)?;
        let r = self.running.remove(pos);
        self.engine.remove_statement(name);
        Some(format!("stopped {} after {} rows", r.name, r.rows))
    }

    fn stop(&mut self, name: &str) -> String {
        let names: Vec<String> = if name == "all" {
            self.running.iter().map(|r| r.name.clone()).collect()
        } else {
            vec![name.to_string()]
        };
        let lines: Vec<String> = names.iter().filter_map(|n| self.remove(n)).collect();
        self.publish_catalog();
        if lines.is_empty() {
            if name == "all" {
                "nothing is running".into()
            } else {
                format!("no running statement `{name}`; .rules lists them")
            }
        } else {
            lines.join("\n")
        }
    }

    fn stop_queries(&mut self) -> String {
        let names: Vec<String> = self
            .running
            .iter()
            .filter(|r| r.kind == Kind::Query)
            .map(|r| r.name.clone())
            .collect();
        let lines: Vec<String> = names.iter().filter_map(|n| self.remove(n)).collect();
        self.publish_catalog();
        if lines.is_empty() {
            "no query is running (.quit or Ctrl-D leaves)".into()
        } else {
            lines.join("\n")
        }
    }

    fn schemas(&self) -> String {
        let registry = self.engine.registry();
        if registry.is_empty() {
            return "no event types yet: declare one with create schema, or wait for events".into();
        }
        let mut out = Vec::new();
        for ty in registry.iter() {
            let origin = match self.inferred.iter().find(|(n, _)| *n == ty.name) {
                Some((_, n)) => format!(
                    " (inferred from {n} sampled event{})",
                    if *n == 1 { "" } else { "s" }
                ),
                None => String::new(),
            };
            out.push(format!("{}{origin}", ty.name));
            let width = ty.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
            for f in &ty.fields {
                out.push(format!("  {:<width$}  {}", f.name, f.ty.name()));
            }
        }
        out.join("\n")
    }

    fn statements(&self) -> String {
        if self.running.is_empty() {
            return "nothing is running".into();
        }
        let mut table = StreamingTable::new(
            ["name", "kind", "rows", "statement"]
                .map(String::from)
                .to_vec(),
        );
        let rows: Vec<Vec<String>> = self
            .running
            .iter()
            .map(|r| {
                let text = self
                    .engine
                    .statements()
                    .iter()
                    .find(|s| s.plan.name == r.name)
                    .map(|s| s.plan.text.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default();
                let kind = if r.kind == Kind::Query {
                    "query"
                } else {
                    "rule"
                };
                vec![r.name.clone(), kind.into(), r.rows.to_string(), text]
            })
            .collect();
        table.lines(&rows).join("\n")
    }

    fn time(&self) -> String {
        let now = self.engine.now();
        let at = chrono::DateTime::from_timestamp_millis(now.0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| now.to_string());
        let lag = (wall_now().0 - now.0) as f64 / 1000.0;
        let mut out = format!(
            "watermark {at} ({} ms), lag {lag:.1} s behind the wall clock\n{} events, {} late (processed at the watermark), {} dropped",
            now.0, self.stats.events, self.stats.late, self.stats.dropped
        );
        if let Some(why) = &self.stats.last_drop {
            out.push_str(&format!(" (last: {why})"));
        }
        out
    }

    fn sample(&self, count: usize, event_type: Option<&str>) -> String {
        let matching: Vec<&(String, String)> = self
            .recent
            .iter()
            .filter(|(t, _)| event_type.is_none_or(|w| w == t))
            .collect();
        if matching.is_empty() {
            return match event_type {
                Some(t) => format!("no {t} events seen yet"),
                None => "no events seen yet".into(),
            };
        }
        let skip = matching.len().saturating_sub(count);
        let lines: Vec<String> = matching[skip..]
            .iter()
            .map(|(t, json)| {
                if event_type.is_some() {
                    json.clone()
                } else {
                    format!("{t} {json}")
                }
            })
            .collect();
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn session() -> (Session, Arc<Mutex<Vec<String>>>) {
        let printed = Arc::new(Mutex::new(Vec::new()));
        let sink = printed.clone();
        let print = Box::new(move |s: String| {
            if let Ok(mut p) = sink.lock() {
                p.push(s);
            }
        });
        (Session::new(print, SharedCatalog::default()), printed)
    }

    fn event(ty: &str, json: &str, ts: i64) -> RawEvent {
        let mut fields = crate::source::json_object(json).unwrap_or_default();
        fields.insert("ts".into(), Json::from(ts));
        RawEvent {
            type_name: ty.into(),
            fields,
            time: None,
        }
    }

    fn typed(s: &mut Session, text: &str) -> String {
        s.handle(Request::Execute {
            text: text.into(),
            origin: Origin::Typed,
        })
    }

    #[test]
    fn sampled_types_are_declared_and_queries_print_a_table() {
        let (mut s, printed) = session();
        s.on_sample(event("Trade", r#"{"token":"A","usd":1.5}"#, 1_000));
        let reply = typed(
            &mut s,
            "select token, count(*) as n from Trade group by token;",
        );
        assert!(reply.contains("query q1 started"), "{reply}");
        assert!(
            s.handle(Request::Schemas)
                .contains("Trade (inferred from 1 sampled event)")
        );
        s.on_event(event("Trade", r#"{"token":"A","usd":1.5}"#, 2_000));
        s.on_event(event("Trade", r#"{"token":"BB","usd":2}"#, 2_001));
        let out = printed.lock().map(|p| p.concat()).unwrap_or_default();
        assert_eq!(out, "token | n\n------+--\nA     | 1\nBB    | 1\n");
        let list = s.handle(Request::Statements);
        assert!(list.contains("q1   | query | 2"), "{list}");
        assert_eq!(s.handle(Request::StopQueries), "stopped q1 after 2 rows");
        s.on_event(event("Trade", r#"{"token":"A","usd":1.5}"#, 2_002));
        assert_eq!(
            printed.lock().map(|p| p.len()).unwrap_or(0),
            2,
            "nothing after the stop"
        );
    }

    #[test]
    fn rules_persist_through_ctrl_c_and_feed_queries() {
        let (mut s, printed) = session();
        let reply = typed(
            &mut s,
            "create schema T(k string, v long); insert into Big select k, v from T where v > 10;",
        );
        assert!(reply.contains("event type T (k string, v long)"), "{reply}");
        assert!(reply.contains("inserts into Big"), "{reply}");
        typed(&mut s, "select k from Big;");
        assert_eq!(s.handle(Request::StopQueries), "stopped q2 after 0 rows");
        typed(&mut s, "@name('big') select k from Big;");
        s.on_event(event("T", r#"{"k":"x","v":11}"#, 5));
        s.on_event(event("T", r#"{"k":"y","v":1}"#, 6));
        let out = printed.lock().map(|p| p.concat()).unwrap_or_default();
        assert_eq!(out, "k\n-\nx\n");
        assert!(
            s.handle(Request::Stop("all".into()))
                .contains("stopped big after 1 rows")
        );
    }

    #[test]
    fn bad_statements_answer_with_a_caret_and_change_nothing() {
        let (mut s, _) = session();
        typed(&mut s, "create schema T(k string);");
        let reply = typed(&mut s, "select nope from T;");
        assert!(reply.starts_with("error: "), "{reply}");
        assert!(
            reply.contains("\n  select nope from T;\n         ^^^^"),
            "{reply}"
        );
        let reply = typed(&mut s, "select k frm T;");
        assert!(reply.contains("^"), "{reply}");
        assert_eq!(s.handle(Request::Statements), "nothing is running");
        let plan = s.handle(Request::Explain("select k from T#length(3);".into()));
        assert!(
            plan.contains("Window") && plan.contains("Source type=T"),
            "{plan}"
        );
        assert_eq!(
            s.handle(Request::Statements),
            "nothing is running",
            "explain starts nothing"
        );
    }

    #[test]
    fn several_printing_statements_title_their_blocks() {
        let (mut s, printed) = session();
        typed(&mut s, "create schema T(k string, v long);");
        typed(&mut s, "select k from T; select v from T;");
        s.on_event(event("T", r#"{"k":"x","v":1}"#, 5));
        let out = printed.lock().map(|p| p.concat()).unwrap_or_default();
        assert_eq!(out, "[q1]\nk\n-\nx\n[q2]\nv\n-\n1\n");
    }

    #[test]
    fn json_format_and_samples() {
        let (mut s, printed) = session();
        typed(&mut s, "create schema T(k string);");
        s.handle(Request::Format(RowFormat::Json));
        typed(&mut s, "select k from T;");
        s.on_event(event("T", r#"{"k":"x"}"#, 7));
        let out = printed.lock().map(|p| p.concat()).unwrap_or_default();
        assert_eq!(
            out,
            "{\"query\":\"q1\",\"stream\":\"insert\",\"time\":7,\"row\":{\"k\":\"x\"}}\n"
        );
        let sample = s.handle(Request::Sample {
            count: 5,
            event_type: Some("T".into()),
        });
        assert_eq!(sample, r#"{"k":"x","ts":7}"#);
        assert!(s.handle(Request::Time).contains("(7 ms)"));
    }
}
