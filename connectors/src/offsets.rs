//! Which Kafka offsets are safe to commit. An offset is *in flight* from the moment its
//! record reaches the pipeline until every alert produced by processing it (and any dead
//! letter written for it) has been acknowledged by all sinks. Per partition, the committable
//! offset is the smallest offset still in flight, or one past the highest offset seen.
use std::collections::{BTreeMap, BTreeSet};

use crate::source::TopicPartition;

#[derive(Debug, Default, Clone)]
struct PartitionOffsets {
    in_flight: BTreeSet<i64>,
    /// One past the highest offset seen.
    next: i64,
}

/// Per topic-partition in-flight offsets.
#[derive(Debug, Default, Clone)]
pub struct OffsetTracker {
    partitions: BTreeMap<TopicPartition, PartitionOffsets>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A record at `offset` entered the pipeline.
    pub fn received(&mut self, tp: &TopicPartition, offset: i64) {
        let p = self.partitions.entry(tp.clone()).or_default();
        p.in_flight.insert(offset);
        p.next = p.next.max(offset + 1);
    }

    /// Every effect of the record at `offset` has been acknowledged.
    pub fn done(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.in_flight.remove(&offset);
        }
    }

    /// Records received and not done yet, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.in_flight.len()).sum()
    }

    /// Per partition, the next offset to consume after a restart: every record before it
    /// has had its effects delivered.
    pub fn committable(&self) -> BTreeMap<TopicPartition, i64> {
        self.partitions
            .iter()
            .map(|(tp, p)| (tp.clone(), p.in_flight.first().copied().unwrap_or(p.next)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition {
            topic: "t".into(),
            partition: p,
        }
    }

    #[test]
    fn committable_stops_at_the_oldest_record_in_flight() {
        let mut o = OffsetTracker::new();
        for off in 10..15 {
            o.received(&tp(0), off);
        }
        o.received(&tp(1), 3);
        assert_eq!(o.committable()[&tp(0)], 10);
        // Out-of-order completion (events are processed in event-time order).
        o.done(&tp(0), 12);
        o.done(&tp(0), 11);
        assert_eq!(o.committable()[&tp(0)], 10);
        o.done(&tp(0), 10);
        assert_eq!(o.committable()[&tp(0)], 13);
        o.done(&tp(0), 13);
        o.done(&tp(0), 14);
        assert_eq!(o.committable()[&tp(0)], 15);
        assert_eq!(o.committable()[&tp(1)], 3);
        assert_eq!(o.in_flight(), 1);
    }
}
