//! An ephemeral Kafka consumer for the shell: partitions are assigned directly
//! (no group membership), offsets are never committed, reading starts at the
//! end of each partition unless `--from-beginning`. Unlike the daemon's source,
//! watching a topic from the shell leaves no trace on the cluster.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cepheus_engine::EventTime;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::infer::type_name_for;
use crate::session::{RawEvent, ToEngine};
use crate::source::json_object;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages read back from the end of each partition to learn field names.
const SAMPLES_PER_PARTITION: i64 = 20;
const SAMPLE_DEADLINE: Duration = Duration::from_secs(5);
/// At most this many sampled records go to the engine thread.
const SAMPLE_LIMIT: usize = 200;
const POLL: Duration = Duration::from_millis(100);

/// `--topic NAME[:EventType]`: the event type defaults to the topic name.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSpec {
    pub topic: String,
    pub event_type: String,
}

impl std::str::FromStr for TopicSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<TopicSpec, String> {
        let (topic, ty) = match s.split_once(':') {
            Some((t, ty)) => (t, Some(ty)),
            None => (s, None),
        };
        if topic.is_empty() || ty.is_some_and(str::is_empty) {
            return Err("expected TOPIC or TOPIC:EventType".into());
        }
        Ok(TopicSpec {
            topic: topic.to_string(),
            event_type: ty.map_or_else(|| type_name_for(topic), str::to_string),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error("cannot create a Kafka consumer for {brokers}: {source}")]
    Client {
        brokers: String,
        source: Box<KafkaError>,
    },
    #[error(
        "cannot read the partitions of topic `{topic}` from {brokers}: {source}; is the broker up?"
    )]
    Metadata {
        topic: String,
        brokers: String,
        source: Box<KafkaError>,
    },
    #[error("topic `{topic}` does not exist on {brokers}; create it first")]
    NoTopic { topic: String, brokers: String },
    #[error("cannot assign the partitions of `{topic}`: {source}")]
    Assign {
        topic: String,
        source: Box<KafkaError>,
    },
}

/// A unique consumer group id for this shell; nothing is ever committed under it.
pub fn ephemeral_group_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("cepheus-repl-{}-{nanos}", std::process::id())
}

fn consumer(
    brokers: &str,
    group_id: &str,
    from_beginning: bool,
) -> Result<BaseConsumer, KafkaSourceError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            if from_beginning { "earliest" } else { "latest" },
        )
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|source| KafkaSourceError::Client {
            brokers: brokers.to_string(),
            source: Box::new(source),
        })
}

/// One partition: its low watermark and where its records end.
struct Partition {
    topic: String,
    partition: i32,
    low: i64,
    /// The high watermark, moved past the last record the sampler saw: some brokers
    /// (Tansu 0.6) report the last batch's base offset + 1 as the high watermark.
    end: i64,
}

fn partitions_of(
    consumer: &BaseConsumer,
    brokers: &str,
    topic: &str,
) -> Result<Vec<Partition>, KafkaSourceError> {
    let metadata_error = |source| KafkaSourceError::Metadata {
        topic: topic.to_string(),
        brokers: brokers.to_string(),
        source: Box::new(source),
    };
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(metadata_error)?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        return Err(KafkaSourceError::NoTopic {
            topic: topic.to_string(),
            brokers: brokers.to_string(),
        });
    }
    let mut parts = Vec::new();
    for partition in ids {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
            .map_err(metadata_error)?;
        parts.push(Partition {
            topic: topic.to_string(),
            partition,
            low,
            end: high,
        });
    }
    Ok(parts)
}

/// Reads the last records of each partition (to learn field names) and moves each
/// partition's `end` past the last record seen. Stops once every partition reached its
/// high watermark and the broker is quiet for a poll, or at the deadline.
fn sample_tails(
    brokers: &str,
    group_id: &str,
    topics: &[TopicSpec],
    parts: &mut [Partition],
    tx: &SyncSender<ToEngine>,
) -> Result<(), KafkaSourceError> {
    let mut tail = TopicPartitionList::new();
    for part in parts.iter().filter(|p| p.end > p.low) {
        let from = (part.end - SAMPLES_PER_PARTITION).max(part.low);
        tail.add_partition_offset(&part.topic, part.partition, Offset::Offset(from))
            .map_err(|source| KafkaSourceError::Assign {
                topic: part.topic.clone(),
                source: Box::new(source),
            })?;
    }
    if tail.count() == 0 {
        return Ok(());
    }
    let sampler = consumer(brokers, group_id, false)?;
    sampler
        .assign(&tail)
        .map_err(|source| KafkaSourceError::Assign {
            topic: String::new(),
            source: Box::new(source),
        })?;
    let mut behind: Vec<(String, i32, i64)> = parts
        .iter()
        .filter(|p| p.end > p.low)
        .map(|p| (p.topic.clone(), p.partition, p.end))
        .collect();
    let deadline = Instant::now() + SAMPLE_DEADLINE;
    let mut sent = 0;
    while Instant::now() < deadline {
        let m = match sampler.poll(POLL) {
            Some(Ok(m)) => m,
            Some(Err(_)) => continue,
            None if behind.is_empty() => break,
            None => continue,
        };
        let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
        behind.retain(|(t, p, end)| !(t == topic && *p == partition && offset + 1 >= *end));
        if let Some(part) = parts
            .iter_mut()
            .find(|p| p.topic == topic && p.partition == partition)
        {
            part.end = part.end.max(offset + 1);
        }
        let fields = m
            .payload()
            .and_then(|p| json_object(&String::from_utf8_lossy(p)));
        if let Some(fields) = fields
            && sent < SAMPLE_LIMIT
        {
            sent += 1;
            let type_name = topics
                .iter()
                .find(|s| s.topic == topic)
                .map_or_else(|| type_name_for(topic), |s| s.event_type.clone());
            let event = RawEvent {
                type_name,
                fields,
                time: None,
            };
            if tx.send(ToEngine::Sample(event)).is_err() {
                break;
            }
        }
    }
    Ok(())
}

/// Starts reading `topics`; returns a description (with the group id) and the reader thread.
/// The tail of each partition is sampled first (to learn field names) before it returns.
pub fn start_kafka(
    brokers: &str,
    topics: &[TopicSpec],
    from_beginning: bool,
    tx: SyncSender<ToEngine>,
    stop: Arc<AtomicBool>,
) -> Result<(String, JoinHandle<()>), KafkaSourceError> {
    let group_id = ephemeral_group_id();
    let main = consumer(brokers, &group_id, from_beginning)?;
    let mut parts = Vec::new();
    for spec in topics {
        parts.extend(partitions_of(&main, brokers, &spec.topic)?);
    }
    sample_tails(brokers, &group_id, topics, &mut parts, &tx)?;
    let mut start = TopicPartitionList::new();
    for part in &parts {
        let offset = if from_beginning { part.low } else { part.end };
        start
            .add_partition_offset(&part.topic, part.partition, Offset::Offset(offset))
            .map_err(|source| KafkaSourceError::Assign {
                topic: part.topic.clone(),
                source: Box::new(source),
            })?;
    }
    main.assign(&start)
        .map_err(|source| KafkaSourceError::Assign {
            topic: String::new(),
            source: Box::new(source),
        })?;
    let names: Vec<String> = topics
        .iter()
        .map(|s| format!("{} as {}", s.topic, s.event_type))
        .collect();
    let about = format!(
        "kafka: reading {} from the {} (group {group_id}; offsets are never committed)",
        names.join(", "),
        if from_beginning {
            "beginning"
        } else {
            "latest offset"
        }
    );
    let topics = topics.to_vec();
    let handle = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Some(Ok(m)) = main.poll(POLL) else {
                continue;
            };
            let Some(fields) = m
                .payload()
                .and_then(|p| json_object(&String::from_utf8_lossy(p)))
            else {
                let why = format!("a record of {} is not a JSON object", m.topic());
                if tx.send(ToEngine::Unreadable(why)).is_err() {
                    return;
                }
                continue;
            };
            let type_name = topics
                .iter()
                .find(|s| s.topic == m.topic())
                .map_or_else(|| type_name_for(m.topic()), |s| s.event_type.clone());
            let time = m.timestamp().to_millis().map(EventTime);
            if tx
                .send(ToEngine::Event(RawEvent {
                    type_name,
                    fields,
                    time,
                }))
                .is_err()
            {
                return;
            }
        }
    });
    Ok((about, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_specs_name_their_event_type() {
        let t: TopicSpec = "trades".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.event_type, "trades");
        let t: TopicSpec = "repl-x:Trade".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.topic.as_str(), t.event_type.as_str()),
            ("repl-x", "Trade")
        );
        let t: TopicSpec = "repl-x".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.event_type, "repl_x");
        assert!("x:".parse::<TopicSpec>().is_err());
    }

    #[test]
    fn group_ids_are_unique() {
        assert_ne!(ephemeral_group_id(), ephemeral_group_id());
    }
}
