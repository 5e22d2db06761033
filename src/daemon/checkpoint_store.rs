//! Checkpoint files: `checkpoint-<seq>.ckpt` in the checkpoint directory, the newest two
//! kept. Each is written to a temporary file, fsynced, renamed into place and the directory
//! fsynced, so a crash leaves either the old files or the new one, never half of one.
//!
//! Layout: magic `CEPHCKPT`, format version (u32 LE), body length (u64 LE), blake3 of the
//! body (32 bytes), body (postcard of [`CheckpointData`]). A file whose magic, version,
//! length or checksum does not match is skipped (logged) and the previous one is used.
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"CEPHCKPT";
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 32;
/// Checkpoint files kept: the newest and the one before it.
const KEEP: usize = 2;

/// The next offset to consume of one partition: every record before it has its effects
/// in the engine state of the same checkpoint or delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointData {
    /// blake3 over the rules' names and texts (hex).
    pub rule_set_hash: String,
    /// Each rule's name and text hash, to say which rules changed while stopped.
    pub rules: Vec<(String, String)>,
    /// The engine's state (postcard of `EngineCheckpoint`).
    pub engine: Vec<u8>,
    pub offsets: Vec<PartitionOffset>,
    /// The watermark the engine had reached (engine time, ms).
    pub watermark: i64,
    /// Milliseconds since the Unix epoch.
    pub written_at_ms: u64,
}

pub struct CheckpointStore {
    dir: PathBuf,
    next_seq: u64,
}

impl CheckpointStore {
    /// Opens (creates) `dir`; new checkpoints are numbered after the ones there.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let next_seq = list(dir)?.last().map_or(1, |(seq, _)| seq + 1);
        Ok(CheckpointStore {
            dir: dir.to_path_buf(),
            next_seq,
        })
    }

    /// Writes `data` durably; returns the file's size. Older files beyond the newest two
    /// are removed.
    pub fn write(&mut self, data: &CheckpointData) -> io::Result<u64> {
        let body = postcard::to_allocvec(data).map_err(io::Error::other)?;
        let mut bytes = Vec::with_capacity(HEADER + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(blake3::hash(&body).as_bytes());
        bytes.extend_from_slice(&body);
        let seq = self.next_seq;
        let path = self.dir.join(file_name(seq));
        let tmp = self.dir.join(format!("{}.tmp", file_name(seq)));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        self.next_seq += 1;
        let files = list(&self.dir)?;
        for (_, old) in files.iter().rev().skip(KEEP) {
            if let Err(e) = fs::remove_file(old) {
                tracing::warn!(file = %old.display(), error = %e, "Cannot remove an old checkpoint.");
            }
        }
        Ok(bytes.len() as u64)
    }

    /// The newest checkpoint that reads back intact; a damaged newer one is logged and
    /// skipped. `None` when there is none.
    pub fn load_latest(&self) -> io::Result<Option<(PathBuf, CheckpointData)>> {
        for (_, path) in list(&self.dir)?.into_iter().rev() {
            match read(&path) {
                Ok(data) => return Ok(Some((path, data))),
                Err(why) => tracing::warn!(
                    file = %path.display(),
                    %why,
                    "Checkpoint is damaged; trying the previous one."
                ),
            }
        }
        Ok(None)
    }
}

fn file_name(seq: u64) -> String {
    format!("checkpoint-{seq:020}.ckpt")
}

/// Checkpoint files in `dir`, oldest first.
fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let path = e?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("checkpoint-")?.strip_suffix(".ckpt"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<CheckpointData, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err("not a checkpoint file (bad magic or too short)".into());
    }
    let word = |at: usize, n: usize| bytes.get(at..at + n).unwrap_or_default();
    let version = u32::from_le_bytes(word(8, 4).try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let len = u64::from_le_bytes(word(12, 8).try_into().unwrap_or_default());
    let body = &bytes[HEADER..];
    if body.len() as u64 != len {
        return Err(format!(
            "truncated: {} body bytes, the header says {len}",
            body.len()
        ));
    }
    if blake3::hash(body).as_bytes() != word(20, 32) {
        return Err("checksum mismatch".into());
    }
    postcard::from_bytes(body).map_err(|e| format!("cannot decode it: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: i64) -> CheckpointData {
        CheckpointData {
            rule_set_hash: "h".into(),
            rules: vec![("r".into(), "t".into())],
            engine: vec![1, 2, 3],
            offsets: vec![PartitionOffset {
                topic: "t".into(),
                partition: 0,
                next_offset: n,
            }],
            watermark: n,
            written_at_ms: 0,
        }
    }

    #[test]
    fn the_newest_intact_checkpoint_is_loaded_and_two_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = CheckpointStore::open(dir.path()).expect("open");
        assert!(store.load_latest().expect("list").is_none());
        for n in 1..=4 {
            store.write(&data(n)).expect("write");
        }
        assert_eq!(list(dir.path()).expect("list").len(), 2);
        let (newest, got) = store.load_latest().expect("list").expect("some");
        assert_eq!(got, data(4));
        // A torn write of the newest file: the previous one is used.
        let bytes = fs::read(&newest).expect("read");
        fs::write(&newest, &bytes[..bytes.len() - 2]).expect("truncate");
        assert_eq!(
            store.load_latest().expect("list").map(|(_, d)| d),
            Some(data(3))
        );
        // A flipped bit: same.
        let mut bytes = bytes;
        if let Some(b) = bytes.last_mut() {
            *b ^= 1;
        }
        fs::write(&newest, &bytes).expect("corrupt");
        assert_eq!(
            store.load_latest().expect("list").map(|(_, d)| d),
            Some(data(3))
        );
        // A reopened store numbers after the existing files.
        let mut again = CheckpointStore::open(dir.path()).expect("reopen");
        again.write(&data(5)).expect("write");
        assert_eq!(
            again.load_latest().expect("list").map(|(_, d)| d),
            Some(data(5))
        );
    }
}
