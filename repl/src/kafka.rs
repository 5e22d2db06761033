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
    let mut start = TopicPartitionList::new();
    let mut sample = TopicPartitionList::new();
    let mut sample_end: Vec<(String, i32, i64)> = Vec::new();
    for spec in topics {
        let metadata = main
            .fetch_metadata(Some(&spec.topic), METADATA_TIMEOUT)
            .map_err(|source| KafkaSourceError::Metadata {
                topic: spec.topic.clone(),
                brokers: brokers.to_string(),
                source: Box::new(source),
            })?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == spec.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(KafkaSourceError::NoTopic {
                topic: spec.topic.clone(),
                brokers: brokers.to_string(),
            });
        }
        for p in partitions {
            let (low, high) = main
                .fetch_watermarks(&spec.topic, p, METADATA_TIMEOUT)
                .map_err(|source| KafkaSourceError::Metadata {
                    topic: spec.topic.clone(),
                    brokers: brokers.to_string(),
                    source: Box::new(source),
                })?;
            let offset = if from_beginning {
                Offset::Offset(low)
            } else {
                Offset::Offset(high)
            };
            let assign_err = |source| KafkaSourceError::Assign {
                topic: spec.topic.clone(),
                source: Box::new(source),
            };
            start
                .add_partition_offset(&spec.topic, p, offset)
                .map_err(assign_err)?;
            if high > low {
                let from = (high - SAMPLES_PER_PARTITION).max(low);
                sample
                    .add_partition_offset(&spec.topic, p, Offset::Offset(from))
                    .map_err(assign_err)?;
                sample_end.push((spec.topic.clone(), p, high));
            }
        }
    }
    let type_of = |topic: &str| {
        topics
            .iter()
            .find(|s| s.topic == topic)
            .map(|s| s.event_type.clone())
            .unwrap_or_else(|| type_name_for(topic))
    };
    if !sample_end.is_empty() {
        let sampler = consumer(brokers, &group_id, from_beginning)?;
        sampler
            .assign(&sample)
            .map_err(|source| KafkaSourceError::Assign {
                topic: String::new(),
                source: Box::new(source),
            })?;
        let deadline = Instant::now() + SAMPLE_DEADLINE;
        while !sample_end.is_empty() && Instant::now() < deadline {
            let Some(Ok(m)) = sampler.poll(POLL) else {
                continue;
            };
            let fields = m
                .payload()
                .and_then(|p| json_object(&String::from_utf8_lossy(p)));
            if let Some(fields) = fields {
                let event = RawEvent {
                    type_name: type_of(m.topic()),
                    fields,
                    time: None,
                };
                let _ = tx.send(ToEngine::Sample(event));
            }
            sample_end.retain(|(t, p, high)| {
                !(t == m.topic() && *p == m.partition() && m.offset() + 1 >= *high)
            });
        }
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
