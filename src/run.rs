//! `cepheus run`: rules over JSON-lines events from a file or stdin.
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cepheus_connectors::jsonl::{DeadLetterReason, JsonLinesDecoder};
use cepheus_engine::{Delivery, Engine};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Rule files or directories.
    #[arg(required = true)]
    rules: Vec<PathBuf>,
    /// JSON-lines events; `-` reads stdin.
    #[arg(long, short)]
    input: PathBuf,
    /// The event type of every line (otherwise each line's `type` key names it).
    #[arg(long = "type")]
    event_type: Option<String>,
    /// At end of input, fire every pending timer (windows expire, batches flush).
    #[arg(long)]
    flush: bool,
}

pub fn run(args: RunArgs) -> ExitCode {
    let loaded = match crate::load_or_report(&args.rules, crate::Format::Human) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let registry = loaded.bound.registry.clone();
    let decoder = match JsonLinesDecoder::new(registry, args.event_type.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let reader: Box<dyn BufRead> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&args.input) {
            Ok(f) => Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
            Err(e) => {
                eprintln!("error: cannot open {}: {e}", args.input.display());
                return ExitCode::from(2);
            }
        }
    };
    let mut engine: Option<Engine> = None;
    let mut bound = Some(loaded.bound);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut deliveries = Vec::new();
    let mut dead: BTreeMap<DeadLetterReason, u64> = BTreeMap::new();
    let mut events = 0u64;
    for (i, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: reading input: {e}");
                return ExitCode::from(2);
            }
        };
        let decoded = match decoder.decode(&line) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                *dead.entry(e.reason).or_default() += 1;
                dead_letter(i + 1, e.reason, &e.message);
                continue;
            }
        };
        let engine = match &mut engine {
            Some(e) => e,
            None => {
                let start = decoded.time.unwrap_or_default();
                let Some(b) = bound.take() else { break };
                match Engine::new(b, start) {
                    Ok(e) => engine.insert(e),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
        };
        let t = decoded.time.unwrap_or(engine.now());
        if t < engine.now() {
            *dead.entry(DeadLetterReason::Late).or_default() += 1;
            dead_letter(
                i + 1,
                DeadLetterReason::Late,
                &format!("event time {t} is before the watermark {}", engine.now()),
            );
            continue;
        }
        engine.advance_to(t, &mut deliveries);
        engine.send(&decoded.ty, decoded.fields, &mut deliveries);
        events += 1;
        if print(engine, &mut deliveries, &mut out).is_err() {
            return ExitCode::SUCCESS; // stdout closed (e.g. piped into head)
        }
    }
    if let Some(engine) = &mut engine
        && args.flush
    {
        {
            while let Some(t) = engine.next_timer() {
                engine.advance_to(t, &mut deliveries);
                if print(engine, &mut deliveries, &mut out).is_err() {
                    return ExitCode::SUCCESS;
                }
            }
        }
    }
    let _ = out.flush();
    let dropped: u64 = dead.values().sum();
    eprintln!(
        "{events} events processed, {dropped} dead-lettered{}",
        summary(&dead)
    );
    ExitCode::SUCCESS
}

fn summary(dead: &BTreeMap<DeadLetterReason, u64>) -> String {
    if dead.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = dead
        .iter()
        .map(|(r, n)| format!("{}={n}", r.as_str()))
        .collect();
    format!(" ({})", parts.join(", "))
}

fn dead_letter(line: usize, reason: DeadLetterReason, message: &str) {
    eprintln!(
        "{}",
        serde_json::json!({"dead_letter": reason.as_str(), "line": line, "error": message})
    );
}

fn print(
    engine: &Engine,
    deliveries: &mut Vec<Delivery>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for d in deliveries.drain(..) {
        let plan = engine.plan(d.statement);
        for (stream, rows) in [("insert", &d.output.insert), ("remove", &d.output.remove)] {
            for values in rows {
                let row: serde_json::Map<String, serde_json::Value> = plan
                    .columns
                    .iter()
                    .zip(values)
                    .map(|(c, v)| (c.name.clone(), v.to_json()))
                    .collect();
                let line = serde_json::json!({"rule": plan.name, "stream": stream, "time": d.time.0, "row": row});
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}
