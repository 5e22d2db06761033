//! JSON-lines files and stdin; `follow` tails a growing file like `tail -F`: a truncated
//! file is read again from its start, a rotated one (a new file at the path) from the
//! new file's start, a partial last line waits for its newline.
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::{BATCH_RECORDS, Position, Record, RunningSource, SourceMessage};

/// How often a followed file is checked for new lines when it has none.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// Reads `path` (`-` for stdin) line by line.
pub fn spawn(path: PathBuf, follow: bool) -> std::io::Result<RunningSource> {
    if path.as_os_str() == "-" {
        return RunningSource::spawn("source-stdin", move |tx, flags| {
            let stdin = std::io::stdin();
            let reader = stdin.lock();
            read_lines(reader, "-".into(), &tx, &flags.stop, 0);
            let _ = tx.send(SourceMessage::End);
        });
    }
    // Open now so a missing file is reported before the run starts.
    let file = File::open(&path)?;
    RunningSource::spawn("source-file", move |tx, flags| {
        let stop = &flags.stop;
        let name: Arc<str> = path.display().to_string().into();
        if follow {
            tail(file, &path, name, &tx, stop);
        } else {
            read_lines(BufReader::with_capacity(1 << 20, file), name, &tx, stop, 0);
        }
        let _ = tx.send(SourceMessage::End);
    })
}

/// Reads complete lines until end of input; returns the last line number.
fn read_lines(
    mut reader: impl BufRead,
    name: Arc<str>,
    tx: &SyncSender<SourceMessage>,
    stop: &AtomicBool,
    mut line: u64,
) -> u64 {
    let mut batch = Vec::with_capacity(BATCH_RECORDS);
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                line += 1;
                batch.push(record(&name, line, buf));
                if batch.len() == BATCH_RECORDS
                    && tx
                        .send(SourceMessage::Records(std::mem::take(&mut batch)))
                        .is_err()
                {
                    return line;
                }
            }
            Err(e) => {
                let _ = tx.send(SourceMessage::Records(std::mem::take(&mut batch)));
                let _ = tx.send(SourceMessage::Failed(format!("reading {name}: {e}")));
                return line;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(SourceMessage::Records(batch));
    }
    line
}

fn record(name: &Arc<str>, line: u64, mut payload: Vec<u8>) -> Record {
    if payload.last() == Some(&b'\n') {
        payload.pop();
    }
    Record {
        position: Position::Line {
            file: name.clone(),
            line,
        },
        payload,
        event_type: None,
        timestamp: None,
    }
}

/// Identity of the file at a path: a different one after rotation.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

fn tail(
    file: File,
    path: &Path,
    name: Arc<str>,
    tx: &SyncSender<SourceMessage>,
    stop: &AtomicBool,
) {
    let mut current = file;
    let mut id = current.metadata().map(|m| identity(&m)).unwrap_or_default();
    let mut offset: u64 = 0;
    let mut line: u64 = 0;
    let mut partial: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        let mut lines = Vec::new();
        match current.read(&mut chunk) {
            Ok(0) => {}
            Ok(n) => {
                offset += n as u64;
                for piece in chunk[..n].split_inclusive(|b| *b == b'\n') {
                    partial.extend_from_slice(piece);
                    if partial.last() == Some(&b'\n') {
                        line += 1;
                        lines.push(record(&name, line, std::mem::take(&mut partial)));
                    }
                }
                for batch in lines.chunks(BATCH_RECORDS) {
                    if tx.send(SourceMessage::Records(batch.to_vec())).is_err() {
                        return;
                    }
                }
                continue;
            }
            Err(e) => {
                let _ = tx.send(SourceMessage::Failed(format!("reading {name}: {e}")));
                return;
            }
        }
        // At the end of the file: wait, then look for truncation or rotation.
        std::thread::sleep(FOLLOW_POLL);
        let Ok(meta) = std::fs::metadata(path) else {
            continue; // between a rename and the new file's creation
        };
        if identity(&meta) != id {
            match File::open(path) {
                Ok(f) => {
                    tracing::info!(file = %name, "file rotated; reading the new file from its start");
                    current = f;
                    id = identity(&meta);
                    offset = 0;
                    partial.clear();
                }
                Err(_) => continue,
            }
        } else if meta.len() < offset {
            tracing::info!(file = %name, "file truncated; reading again from its start");
            if current.seek(SeekFrom::Start(0)).is_err() {
                continue;
            }
            offset = 0;
            partial.clear();
        }
    }
}
