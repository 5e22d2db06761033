//! Event sources without Kafka: the reference generators paced to real time,
//! and JSON-lines files (optionally followed as they grow).
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cepheus_connectors::generate::{GenOptions, Generator, Kind};
use serde_json::{Map, Value as Json};

use crate::infer::type_name_for;
use crate::session::{RawEvent, ToEngine};

/// Events read ahead (and only used to learn field names) before the prompt shows.
const SAMPLES: usize = 20;
/// How often a followed file is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// A JSON object, or `None` for a line that is not one.
pub fn json_object(text: &str) -> Option<Map<String, Json>> {
    match serde_json::from_str(text.trim()) {
        Ok(Json::Object(m)) => Some(m),
        _ => None,
    }
}

/// Generates `kind` events at `rate` per second, stamped with the wall clock.
pub fn start_generator(
    kind: Kind,
    rate: u32,
    tx: SyncSender<ToEngine>,
    stop: Arc<AtomicBool>,
) -> (String, JoinHandle<()>) {
    let step_ms = i64::from((1000 / rate.max(1)).max(1));
    let start_ms = chrono::Utc::now().timestamp_millis();
    let opts = GenOptions {
        seed: start_ms as u64,
        start_ms,
        step_ms,
        ..Default::default()
    };
    let type_name = kind.event_type().to_string();
    let mut preview = Generator::new(kind, opts.clone());
    for _ in 0..SAMPLES {
        if let Some(fields) = next_object(&mut preview) {
            let sample = RawEvent {
                type_name: type_name.clone(),
                fields,
                time: None,
            };
            if tx.send(ToEngine::Sample(sample)).is_err() {
                break;
            }
        }
    }
    let about = format!(
        "generating {type_name} events, {} per second, stamped with the wall clock",
        1000 / step_ms
    );
    let handle = std::thread::spawn(move || {
        let mut generator = Generator::new(kind, opts);
        let started = Instant::now();
        let mut i: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let due = started + Duration::from_millis(i * step_ms as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            i += 1;
            let Some(fields) = next_object(&mut generator) else {
                continue;
            };
            let event = RawEvent {
                type_name: type_name.clone(),
                fields,
                time: None,
            };
            if tx.send(ToEngine::Event(event)).is_err() {
                return;
            }
        }
    });
    (about, handle)
}

fn next_object(generator: &mut Generator) -> Option<Map<String, Json>> {
    let mut buf = Vec::new();
    generator.write_next(&mut buf).ok()?;
    json_object(&String::from_utf8_lossy(&buf))
}

/// Why a file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}; check the path given to --input")]
pub struct FileSourceError {
    path: String,
    source: std::io::Error,
}

/// Reads JSON lines from `path`; each line's `type` key names its event type,
/// else `event_type`, else the file name. With `follow`, waits for appended lines.
pub fn start_file(
    path: PathBuf,
    follow: bool,
    event_type: Option<String>,
    tx: SyncSender<ToEngine>,
    stop: Arc<AtomicBool>,
) -> Result<(String, JoinHandle<()>), FileSourceError> {
    let open = |p: &Path| {
        std::fs::File::open(p).map_err(|source| FileSourceError {
            path: p.display().to_string(),
            source,
        })
    };
    let default_type = event_type.unwrap_or_else(|| {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        type_name_for(&stem.unwrap_or_default())
    });
    let typed = move |fields: Map<String, Json>| {
        let type_name = fields
            .get("type")
            .and_then(Json::as_str)
            .map_or_else(|| default_type.clone(), str::to_string);
        RawEvent {
            type_name,
            fields,
            time: None,
        }
    };
    for line in BufReader::new(open(&path)?).lines().take(SAMPLES) {
        let Ok(line) = line else { break };
        if let Some(fields) = json_object(&line)
            && tx.send(ToEngine::Sample(typed(fields))).is_err()
        {
            break;
        }
    }
    let file = open(&path)?;
    let about = format!(
        "reading {}{}",
        path.display(),
        if follow {
            ", following appended lines"
        } else {
            ""
        }
    );
    let handle = std::thread::spawn(move || {
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        while !stop.load(Ordering::Relaxed) {
            match reader.by_ref().read_line(&mut line) {
                Ok(0) if follow => std::thread::sleep(FOLLOW_POLL),
                Ok(0) | Err(_) => return,
                // A followed file may end in the middle of a line being written.
                Ok(_) if follow && !line.ends_with('\n') => {}
                Ok(_) => {
                    if !line.trim().is_empty() {
                        let message = match json_object(&line) {
                            Some(fields) => ToEngine::Event(typed(fields)),
                            None => ToEngine::Unreadable("a line is not a JSON object".into()),
                        };
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                    line.clear();
                }
            }
        }
    });
    Ok((about, handle))
}
