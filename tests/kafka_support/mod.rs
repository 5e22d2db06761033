//! The real broker for the tests (Tansu on 127.0.0.1:19092, started by scripts/test.sh;
//! started here when it is installed; a test fails, never skips, when it cannot run):
//! topics, producing and consuming records, a group's committed offsets.
#![allow(dead_code)] // not every test binary uses every helper

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub const PORT: u16 = 19092;
pub const BROKER: &str = "127.0.0.1:19092";

/// The broker's address; starts it when it is not running; panics with what to do otherwise.
pub fn broker() -> &'static str {
    let up = || {
        TcpStream::connect_timeout(&([127, 0, 0, 1], PORT).into(), Duration::from_secs(1)).is_ok()
    };
    if !up() {
        let status = Command::new("bash")
            .arg(script())
            .args(["start", &PORT.to_string()])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && up(),
            "the Kafka broker on {BROKER} is not running and could not be started: \
             run `scripts/kafka/broker.sh start {PORT}` (it installs Tansu the first time)"
        );
    }
    BROKER
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka/broker.sh")
}

/// A name no other test (or earlier run) uses: topics and groups live on in the broker.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

pub fn create_topic(name: &str, partitions: u32) {
    broker();
    let out = Command::new("bash")
        .arg(script())
        .args(["topic", name, &partitions.to_string(), &PORT.to_string()])
        .output()
        .expect("broker.sh runs");
    assert!(
        out.status.success(),
        "creating topic {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A producer that writes one record per batch.
///
/// A limitation of the test broker, not of Cepheus: Tansu 0.6 answers a fetch that starts
/// in the middle of a stored record batch with the *next* batch, so a consumer that seeks,
/// resumes or restarts inside a multi-record batch silently skips the rest of it. Apache
/// Kafka returns the containing batch (the client drops the records before the offset).
/// With one record per batch every offset starts a batch.
pub fn producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker())
        // Many one-record batches in flight (an idempotent producer allows 5); on loopback
        // nothing is retried, so per-partition order holds.
        .set("max.in.flight.requests.per.connection", "100")
        .set("message.max.bytes", "16000000")
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

/// Produces `(key, value)` records, one per batch (see [`producer`]), and waits until the
/// broker has them all.
pub fn produce<K: AsRef<str>, V: AsRef<[u8]>>(topic: &str, records: &[(K, V)]) {
    let producer = producer();
    for (k, v) in records {
        let mut r = BaseRecord::to(topic).key(k.as_ref()).payload(v.as_ref());
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    r = back;
                    producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => panic!("producing to {topic}: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(180))
        .expect("all records acknowledged");
}

/// One consumed record.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Vec<u8>,
}

impl Consumed {
    /// The value as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.value).expect("the record is JSON")
    }
}

/// Reads `topic` from the beginning until `want` records arrived (or `timeout`), then
/// keeps reading for a quiet second to catch extras.
pub fn consume(topic: &str, want: usize, timeout: Duration) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", unique("check"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let started = Instant::now();
    let mut got = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    while started.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                got.push(Consumed {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: m.payload().unwrap_or_default().to_vec(),
                });
                quiet_since = None;
            }
            _ => {
                if got.len() >= want {
                    let q = *quiet_since.get_or_insert_with(Instant::now);
                    if q.elapsed() > Duration::from_secs(1) {
                        break;
                    }
                }
            }
        }
    }
    got
}

/// The group's committed offset of each partition `0..partitions` of `topic` (-1 for none).
/// (Tansu's answers to ListOffsets are not reliable, so end offsets come from consuming.)
pub fn committed(topic: &str, group: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            },
        )
        .collect()
}
