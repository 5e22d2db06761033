//! Event-time order from out-of-order input. Each stream (a Kafka partition, or a file)
//! has a watermark: the highest event time seen minus the allowed lateness. The source's
//! watermark is the minimum over active streams; a stream with no record for the idle
//! timeout (wall clock, used only to detect idleness) stops holding it back. Events wait
//! in a [`ReorderBuffer`] and are released in time order up to the watermark.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use cepheus_engine::EventTime;

use crate::source::StreamKey;

#[derive(Debug, Clone, Copy)]
struct StreamClock {
    /// `None` for a stream announced (an assigned partition) that has no record yet.
    max_time: Option<i64>,
    last_seen: Instant,
}

/// Per-stream highest event times and the combined watermark.
#[derive(Debug)]
pub struct Watermarks {
    lateness_ms: i64,
    idle_timeout: Duration,
    streams: HashMap<StreamKey, StreamClock>,
}

impl Watermarks {
    pub fn new(allowed_lateness: Duration, idle_timeout: Duration) -> Self {
        Watermarks {
            lateness_ms: i64::try_from(allowed_lateness.as_millis()).unwrap_or(i64::MAX),
            idle_timeout,
            streams: HashMap::new(),
        }
    }

    /// A record of `stream` at event time `t` arrived at wall-clock `now`.
    pub fn observe(&mut self, stream: &StreamKey, t: EventTime, now: Instant) {
        match self.streams.get_mut(stream) {
            Some(c) => {
                c.max_time = Some(c.max_time.map_or(t.0, |m| m.max(t.0)));
                c.last_seen = now;
            }
            None => {
                self.streams.insert(
                    stream.clone(),
                    StreamClock {
                        max_time: Some(t.0),
                        last_seen: now,
                    },
                );
            }
        }
    }

    /// The pipeline was busy for `busy` (processing, waiting for sinks) up to `now`: that
    /// time does not count towards any stream's idle timeout.
    pub fn credit_busy(&mut self, busy: Duration, now: Instant) {
        for c in self.streams.values_mut() {
            c.last_seen = (c.last_seen + busy).min(now);
        }
    }

    /// Every stream counts as active at `now` (its source is paused: silent because the
    /// pipeline is busy, not idle).
    pub fn hold_idleness(&mut self, now: Instant) {
        for c in self.streams.values_mut() {
            c.last_seen = now;
        }
    }

    /// The streams that exist now (a consumer's assigned partitions): a new one holds the
    /// watermark back until it has records or goes idle; one no longer listed is dropped.
    pub fn assign(&mut self, streams: &[StreamKey], now: Instant) {
        self.streams
            .retain(|k, _| *k == StreamKey::Single || streams.contains(k));
        for s in streams {
            self.streams.entry(s.clone()).or_insert(StreamClock {
                max_time: None,
                last_seen: now,
            });
        }
    }

    /// The watermark at wall-clock `now`: every event at or before it may be processed.
    /// `None` before any record.
    pub fn watermark(&self, now: Instant) -> Option<EventTime> {
        let mut active = self
            .streams
            .values()
            .filter(|c| now.duration_since(c.last_seen) < self.idle_timeout)
            .peekable();
        let t = if active.peek().is_some() {
            // An active stream without records yet holds everything back.
            active.map(|c| c.max_time).min().flatten()?
        } else {
            // When every stream is idle, none holds the others back.
            self.streams.values().filter_map(|c| c.max_time).max()?
        };
        Some(EventTime(t.saturating_sub(self.lateness_ms)))
    }
}

struct Waiting<T> {
    time: EventTime,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<T> Eq for Waiting<T> {}
impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Waiting<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// Events waiting for the watermark, released by time and then arrival order.
pub struct ReorderBuffer<T> {
    heap: BinaryHeap<Reverse<Waiting<T>>>,
    seq: u64,
    capacity: usize,
}

impl<T> ReorderBuffer<T> {
    /// At most `capacity` events wait; past that the oldest is released early.
    pub fn new(capacity: usize) -> Self {
        ReorderBuffer {
            heap: BinaryHeap::new(),
            seq: 0,
            capacity: capacity.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
    pub fn is_full(&self) -> bool {
        self.heap.len() >= self.capacity
    }

    pub fn push(&mut self, time: EventTime, item: T) {
        self.seq += 1;
        self.heap.push(Reverse(Waiting {
            time,
            seq: self.seq,
            item,
        }));
    }

    /// The oldest event if it is at or before `watermark` (or the buffer is over capacity).
    pub fn pop_ready(&mut self, watermark: Option<EventTime>) -> Option<(EventTime, T)> {
        let head = self.heap.peek()?;
        let ready = watermark.is_some_and(|w| head.0.time <= w) || self.heap.len() > self.capacity;
        if !ready {
            return None;
        }
        self.heap.pop().map(|Reverse(w)| (w.time, w.item))
    }

    /// The oldest event, whatever the watermark (end of input).
    pub fn pop(&mut self) -> Option<(EventTime, T)> {
        self.heap.pop().map(|Reverse(w)| (w.time, w.item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::TopicPartition;

    fn part(p: i32) -> StreamKey {
        StreamKey::Partition(TopicPartition {
            topic: "t".into(),
            partition: p,
        })
    }

    #[test]
    fn watermark_is_the_minimum_over_active_partitions_minus_lateness() {
        let mut w = Watermarks::new(Duration::from_millis(100), Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(w.watermark(t0), None);
        w.observe(&part(0), EventTime(1_000), t0);
        w.observe(&part(1), EventTime(5_000), t0);
        assert_eq!(w.watermark(t0), Some(EventTime(900)));
        // Partition 0 goes quiet: after the idle timeout it no longer holds partition 1 back.
        let later = t0 + Duration::from_secs(6);
        w.observe(&part(1), EventTime(6_000), later);
        assert_eq!(w.watermark(later), Some(EventTime(5_900)));
        // Everything idle: the highest partition decides.
        assert_eq!(
            w.watermark(later + Duration::from_secs(10)),
            Some(EventTime(5_900))
        );
    }

    #[test]
    fn time_the_pipeline_is_busy_does_not_make_a_stream_idle() {
        let mut w = Watermarks::new(Duration::ZERO, Duration::from_secs(5));
        let t0 = Instant::now();
        w.observe(&part(0), EventTime(1_000), t0);
        w.observe(&part(1), EventTime(2_000), t0);
        let later = t0 + Duration::from_secs(6);
        w.credit_busy(Duration::from_secs(4), later);
        assert_eq!(w.watermark(later), Some(EventTime(1_000)));
        assert_eq!(
            w.watermark(later + Duration::from_secs(4)),
            Some(EventTime(2_000))
        );
    }

    #[test]
    fn an_assigned_partition_without_records_holds_the_watermark_until_idle() {
        let mut w = Watermarks::new(Duration::ZERO, Duration::from_secs(5));
        let t0 = Instant::now();
        w.assign(&[part(0), part(1)], t0);
        w.observe(&part(0), EventTime(1_000), t0);
        assert_eq!(w.watermark(t0), None);
        let later = t0 + Duration::from_secs(6);
        w.observe(&part(0), EventTime(2_000), later);
        assert_eq!(w.watermark(later), Some(EventTime(2_000)));
        // A revoked partition no longer counts.
        w.assign(&[part(0)], later);
        w.observe(&part(0), EventTime(3_000), later);
        assert_eq!(w.watermark(later), Some(EventTime(3_000)));
    }

    #[test]
    fn buffer_releases_in_time_order_up_to_the_watermark() {
        let mut b = ReorderBuffer::new(100);
        for (t, x) in [(30, 'c'), (10, 'a'), (20, 'b'), (10, 'A')] {
            b.push(EventTime(t), x);
        }
        let mut out = Vec::new();
        while let Some((_, x)) = b.pop_ready(Some(EventTime(20))) {
            out.push(x);
        }
        assert_eq!(out, vec!['a', 'A', 'b']);
        assert_eq!(b.len(), 1);
        assert_eq!(b.pop(), Some((EventTime(30), 'c')));
    }

    #[test]
    fn a_full_buffer_releases_its_oldest_event() {
        let mut b = ReorderBuffer::new(2);
        for t in [5, 3, 4] {
            b.push(EventTime(t), t);
        }
        assert_eq!(b.pop_ready(None), Some((EventTime(3), 3)));
        assert_eq!(b.pop_ready(None), None);
    }
}
