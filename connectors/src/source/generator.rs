//! The reference workloads as a source (`cepheus run --generate KIND:N`).
use std::sync::atomic::Ordering;

use super::{BATCH_RECORDS, Position, Record, RunningSource, SourceMessage};
use crate::generate::{GenOptions, Generator, Kind};

/// Generates `count` events of `kind`.
pub fn spawn(kind: Kind, count: u64, opts: GenOptions) -> std::io::Result<RunningSource> {
    RunningSource::spawn("source-generator", move |tx, flags| {
        let mut g = Generator::new(kind, opts);
        let event_type: std::sync::Arc<str> = kind.event_type().into();
        let mut index = 0u64;
        while index < count && !flags.stop.load(Ordering::Relaxed) {
            let n = (count - index).min(BATCH_RECORDS as u64);
            let mut batch = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let mut payload = Vec::with_capacity(96);
                if g.write_next(&mut payload).is_err() {
                    break;
                }
                payload.pop(); // the newline
                batch.push(Record {
                    position: Position::Generated { index },
                    payload,
                    event_type: Some(event_type.clone()),
                    timestamp: None,
                });
                index += 1;
            }
            if tx.send(SourceMessage::Records(batch)).is_err() {
                return;
            }
        }
        let _ = tx.send(SourceMessage::End);
    })
}
