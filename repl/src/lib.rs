//! `cepheus repl`: an interactive EPL shell over a live stream.
//!
//! Two threads and a bounded channel: the shell thread reads lines (rustyline)
//! and sends requests; the engine thread ([`session`]) owns the synchronous
//! engine, takes events from the sources on the same channel, and prints rows
//! through rustyline's external printer so typing is never garbled.
//!
//! Code map: `editor` (validator, hints, highlighting), `complete` (tab
//! completion), `commands` (dot commands), `session` (the engine thread),
//! `render` (tables, carets), `infer` (types learnt from samples), `source`
//! (generators, files), `kafka` (the ephemeral consumer), `catalog` (names
//! shared with the completer).
pub mod catalog;
pub mod commands;
pub mod complete;
pub mod editor;
pub mod infer;
pub mod kafka;
pub mod render;
pub mod session;
pub mod source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{
    Cmd, CompletionType, ConditionalEventHandler, Config, Editor, Event, EventContext,
    EventHandler, ExternalPrinter, KeyCode, KeyEvent, Modifiers, Movement, RepeatCount,
};

use crate::catalog::Catalog;
use crate::commands::{DotCommand, help_text, parse_command};
use crate::editor::EplHelper;
use crate::kafka::TopicSpec;
use crate::session::{CHANNEL_CAPACITY, Origin, Request, Session, ToEngine};

#[derive(Debug, clap::Args)]
pub struct ReplArgs {
    /// Generate a reference workload, paced to real time.
    #[arg(long, value_enum, conflicts_with_all = ["input", "kafka"])]
    pub generate: Option<cepheus_connectors::generate::Kind>,
    /// Events per second for --generate.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// A JSON-lines file of events.
    #[arg(long, conflicts_with = "kafka")]
    pub input: Option<PathBuf>,
    /// Keep reading lines appended to --input.
    #[arg(long, requires = "input")]
    pub follow: bool,
    /// The event type of --input lines without a `type` key (default: the file name).
    #[arg(long = "type", requires = "input")]
    pub event_type: Option<String>,
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, requires = "topic")]
    pub kafka: Option<String>,
    /// A topic to watch, as TOPIC or TOPIC:EventType (repeatable).
    #[arg(long, requires = "kafka")]
    pub topic: Vec<TopicSpec>,
    /// Start at the beginning of the topics instead of the latest offset.
    #[arg(long, requires = "kafka")]
    pub from_beginning: bool,
    /// .epl files or directories to load as rules at start.
    #[arg(long)]
    pub rules: Vec<PathBuf>,
    /// History file (default: $CEPHEUS_HISTORY, else ~/.cepheus_history).
    #[arg(long)]
    pub history: Option<PathBuf>,
}

fn history_path(args: &ReplArgs) -> Option<PathBuf> {
    args.history
        .clone()
        .or_else(|| std::env::var_os("CEPHEUS_HISTORY").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cepheus_history")))
}

/// Sends a request to the engine thread and waits for its answer.
fn ask(tx: &SyncSender<ToEngine>, request: Request) -> String {
    let (reply_tx, reply_rx) = sync_channel(1);
    if tx.send(ToEngine::Request(request, reply_tx)).is_err() {
        return "error: the engine thread stopped".into();
    }
    reply_rx
        .recv()
        .unwrap_or_else(|_| "error: the engine thread stopped".into())
}

fn say(text: &str) {
    if !text.is_empty() {
        println!("{text}");
    }
}

/// Every `.epl` file under `paths` (directories recursively), in name order.
fn epl_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort();
            let (dirs, files): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.is_dir());
            out.extend(
                files
                    .into_iter()
                    .filter(|f| f.extension().is_some_and(|e| e == "epl")),
            );
            out.extend(epl_files(&dirs)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn load(tx: &SyncSender<ToEngine>, path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let reply = ask(
                tx,
                Request::Execute {
                    text,
                    origin: Origin::File,
                },
            );
            format!("{}:\n{reply}", path.display())
        }
        Err(e) => format!("error: cannot read {}: {e}", path.display()),
    }
}

pub fn run(args: ReplArgs) -> ExitCode {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<EplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return ExitCode::from(2);
        }
    };
    let catalog = Arc::new(Mutex::new(Catalog::default()));
    let color = std::env::var_os("NO_COLOR").is_none();
    editor.set_helper(Some(EplHelper::new(catalog.clone(), color)));
    // Ctrl-C with something typed clears the input (as in psql); on an empty
    // prompt it stops the running queries.
    editor.bind_sequence(
        KeyEvent(KeyCode::Char('C'), Modifiers::CTRL),
        EventHandler::Conditional(Box::new(ClearTypedInput)),
    );
    let history = history_path(&args);
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let print: Box<dyn FnMut(String) + Send> = match editor.create_external_printer() {
        Ok(mut p) => Box::new(move |s: String| {
            let _ = p.print(s);
        }),
        Err(_) => Box::new(|s: String| print!("{s}")),
    };
    let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
    let session = Session::new(print, catalog.clone());
    let engine_thread = std::thread::spawn(move || session.run(rx));
    let stop = Arc::new(AtomicBool::new(false));

    // Rules first: their `create schema` declares types before samples could infer them.
    match epl_files(&args.rules) {
        Ok(files) => {
            for f in files {
                say(&load(&tx, &f));
            }
        }
        Err(e) => eprintln!("error: cannot list --rules: {e}"),
    }
    let started = start_source(&args, &tx, &stop);
    let source_thread = match started {
        Ok(Some((about, handle))) => {
            say(&about);
            Some(handle)
        }
        Ok(None) => {
            say(
                "no source: declare types with create schema; events come from --generate, --input or --kafka",
            );
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            let _ = tx.send(ToEngine::Shutdown);
            let _ = engine_thread.join();
            return ExitCode::from(2);
        }
    };
    ask(&tx, Request::Ready);
    let types = Catalog::snapshot(&catalog)
        .types
        .iter()
        .map(|t| t.name.clone())
        .collect::<Vec<_>>();
    say(&format!(
        "cepheus repl: event types: {}. Statements end with `;`. .help for commands.",
        if types.is_empty() {
            "none yet".into()
        } else {
            types.join(", ")
        }
    ));

    loop {
        match editor.readline("cepheus> ") {
            Ok(line) => {
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(text);
                if text.starts_with('.') {
                    match parse_command(text) {
                        Ok(DotCommand::Quit) => break,
                        Ok(command) => say(&dot_command(&tx, command)),
                        Err(e) => say(&format!("error: {e}")),
                    }
                } else {
                    say(&ask(
                        &tx,
                        Request::Execute {
                            text: line,
                            origin: Origin::Typed,
                        },
                    ));
                }
            }
            Err(ReadlineError::Interrupted) => say(&ask(&tx, Request::StopQueries)),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: reading the terminal: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history
        && let Err(e) = editor.save_history(h)
    {
        eprintln!("warning: cannot save the history to {}: {e}", h.display());
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tx.send(ToEngine::Shutdown);
    let _ = engine_thread.join();
    drop(tx);
    if let Some(h) = source_thread {
        let _ = h.join();
    }
    ExitCode::SUCCESS
}

type Started = Option<(String, std::thread::JoinHandle<()>)>;

fn start_source(
    args: &ReplArgs,
    tx: &SyncSender<ToEngine>,
    stop: &Arc<AtomicBool>,
) -> Result<Started, String> {
    if let Some(kind) = args.generate {
        let started = source::start_generator(kind, args.rate, tx.clone(), stop.clone());
        return Ok(Some(started));
    }
    if let Some(path) = &args.input {
        return source::start_file(
            path.clone(),
            args.follow,
            args.event_type.clone(),
            tx.clone(),
            stop.clone(),
        )
        .map(Some)
        .map_err(|e| e.to_string());
    }
    if let Some(brokers) = &args.kafka {
        return kafka::start_kafka(
            brokers,
            &args.topic,
            args.from_beginning,
            tx.clone(),
            stop.clone(),
        )
        .map(Some)
        .map_err(|e| e.to_string());
    }
    Ok(None)
}

fn dot_command(tx: &SyncSender<ToEngine>, command: DotCommand) -> String {
    match command {
        DotCommand::Help => help_text(),
        DotCommand::Schemas => ask(tx, Request::Schemas),
        DotCommand::Statements => ask(tx, Request::Statements),
        DotCommand::Time => ask(tx, Request::Time),
        DotCommand::Stop(name) => ask(tx, Request::Stop(name)),
        DotCommand::Explain(text) => ask(tx, Request::Explain(text)),
        DotCommand::Sample { count, event_type } => ask(tx, Request::Sample { count, event_type }),
        DotCommand::Format(f) => ask(tx, Request::Format(f)),
        DotCommand::Load(path) => load(tx, &path),
        DotCommand::Quit => String::new(),
    }
}

/// The Ctrl-C binding: clear what is typed, or interrupt on an empty prompt.
struct ClearTypedInput;

impl ConditionalEventHandler for ClearTypedInput {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        (!ctx.line().is_empty()).then_some(Cmd::Kill(Movement::WholeBuffer))
    }
}
