//! Alerts appended to a JSON-lines file, flushed after each batch; with a size limit the
//! file is rotated (`PATH` becomes `PATH.1`, `PATH.1` becomes `PATH.2`, ... up to
//! [`KEEP_ROTATED`]) before the write that would cross it.
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{AlertSink, Rejected, SinkClosed};
use crate::alert::Alert;

/// Rotated files kept besides the current one.
pub const KEEP_ROTATED: u32 = 5;

pub struct FileSink {
    path: PathBuf,
    name: String,
    out: BufWriter<File>,
    size: u64,
    rotate_bytes: Option<u64>,
}

impl FileSink {
    pub fn open(path: PathBuf, rotate_bytes: Option<u64>) -> std::io::Result<Self> {
        let (out, size) = open_append(&path)?;
        Ok(FileSink {
            name: format!("file:{}", path.display()),
            path,
            out,
            size,
            rotate_bytes,
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        for i in (1..KEEP_ROTATED).rev() {
            let from = numbered(&self.path, i);
            if from.exists() {
                std::fs::rename(&from, numbered(&self.path, i + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        let (out, size) = open_append(&self.path)?;
        self.out = out;
        self.size = size;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<(BufWriter<File>, u64)> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let size = f.metadata()?.len();
    Ok((BufWriter::new(f), size))
}

fn numbered(path: &Path, i: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

impl AlertSink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed> {
        let mut rejected = Vec::new();
        let mut written = Vec::new();
        for (index, a) in alerts.iter().enumerate() {
            let line = format!("{}\n", a.to_json());
            let len = line.len() as u64;
            if let Some(limit) = self.rotate_bytes
                && self.size > 0
                && self.size + len > limit
                && let Err(e) = self.rotate()
            {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot rotate the alert file; still appending");
            }
            match self.out.write_all(line.as_bytes()) {
                Ok(()) => {
                    self.size += len;
                    written.push(index);
                }
                Err(e) => rejected.push(Rejected {
                    index,
                    error: e.to_string(),
                }),
            }
        }
        if let Err(e) = self.out.flush() {
            // Nothing buffered is known to be on disk: give up on every written alert.
            rejected.extend(written.into_iter().map(|index| Rejected {
                index,
                error: e.to_string(),
            }));
            rejected.sort_by_key(|r| r.index);
        }
        Ok(rejected)
    }
}
