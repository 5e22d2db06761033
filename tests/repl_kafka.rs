//! `cepheus repl --kafka` in a pseudo-terminal against the real broker (Tansu on
//! 127.0.0.1:19092, started by scripts/test.sh or here; the test fails, never skips,
//! when it cannot run): a multi-line grouped query over live records, Ctrl-C,
//! `.schemas`, `.explain`, and no trace left in any consumer group's offsets.
mod repl_support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use repl_support::spawn_repl;

const PORT: u16 = 19092;
const BROKER: &str = "127.0.0.1:19092";
const PARTITIONS: i32 = 2;

fn broker_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka/broker.sh")
}

/// Starts the broker when it is not running; panics with what to do otherwise.
fn ensure_broker() {
    let up = || {
        TcpStream::connect_timeout(&([127, 0, 0, 1], PORT).into(), Duration::from_secs(1)).is_ok()
    };
    if !up() {
        let status = Command::new("bash")
            .arg(broker_script())
            .args(["start", &PORT.to_string()])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && up(),
            "the Kafka broker on {BROKER} is not running and could not be started: \
             run `scripts/kafka/broker.sh start {PORT}` (it installs Tansu the first time)"
        );
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

fn create_topic(name: &str) {
    let out = Command::new("bash")
        .arg(broker_script())
        .args(["topic", name, &PARTITIONS.to_string(), &PORT.to_string()])
        .output()
        .expect("broker.sh runs");
    assert!(
        out.status.success(),
        "creating topic {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn produce(topic: &str, records: &[(&str, &str)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", BROKER)
        .create()
        .expect("producer");
    for (key, value) in records {
        producer
            .send(BaseRecord::to(topic).key(*key).payload(*value))
            .unwrap_or_else(|(e, _)| panic!("producing to {topic}: {e}"));
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("all records acknowledged");
}

fn partitions(topic: &str) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    tpl
}

/// The committed offset of each partition of `topic` for `group` (`Invalid`: none).
fn committed(group: &str, topic: &str) -> Vec<Offset> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", BROKER)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let tpl = consumer
        .committed_offsets(partitions(topic), Duration::from_secs(10))
        .expect("committed offsets");
    tpl.elements().iter().map(|e| e.offset()).collect()
}

/// A consumer group that read `count` records and committed, as a running service would.
fn group_with_committed_offsets(topic: &str, count: usize) -> String {
    let group = unique("other");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", BROKER)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut seen = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen < count && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            assert!(m.payload().is_some());
            seen += 1;
        }
    }
    assert_eq!(seen, count, "the other group read the seed records");
    consumer
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
    group
}

#[test]
fn live_grouped_query_over_a_topic_leaves_no_offsets_behind() {
    ensure_broker();
    let topic = unique("repl-trades");
    create_topic(&topic);
    // Records already on the topic: the shell samples them to learn the fields.
    produce(
        &topic,
        &[
            ("a", r#"{"wallet":"seed","usd":1}"#),
            ("b", r#"{"wallet":"seed","usd":2}"#),
            ("c", r#"{"wallet":"seed","usd":3}"#),
        ],
    );
    let other = group_with_committed_offsets(&topic, 3);
    let other_before = committed(&other, &topic);
    assert!(
        other_before
            .iter()
            .any(|o| matches!(o, Offset::Offset(n) if *n > 0)),
        "{other_before:?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let spec = format!("{topic}:Trade");
    let mut repl = spawn_repl(
        &["--kafka", BROKER, "--topic", &spec],
        &dir.path().join("h"),
    );
    let banner = repl.expect_regex(r"group (cepheus-repl-[0-9-]+);");
    let repl_group = banner.get(1).cloned().unwrap_or_default();
    repl.expect("event types: Trade");
    repl.expect("cepheus> ");

    // A grouped query typed over three lines.
    repl.paste("select wallet, count(*) as n, sum(usd) as total");
    repl.press("\r");
    repl.expect("as total\r\n");
    repl.paste("from Trade#time(1 min)");
    repl.press("\r");
    repl.expect("1 min)\r\n");
    repl.enter("group by wallet;", "query q1 started");

    produce(
        &topic,
        &[
            ("w1", r#"{"wallet":"w1","usd":10}"#),
            ("w2", r#"{"wallet":"w2","usd":5}"#),
            ("w1", r#"{"wallet":"w1","usd":20}"#),
            ("w1", r#"{"wallet":"w1","usd":30}"#),
            ("w2", r#"{"wallet":"w2","usd":7}"#),
        ],
    );
    // Each wallet's last row; the two partitions may deliver them in either order.
    let mut last_rows = Vec::new();
    while last_rows.len() < 2 {
        // Every match in what was read so far comes back at once.
        for row in repl.expect_regex(r"w1\s+\|\s+3\s+\|\s+60|w2\s+\|\s+2\s+\|\s+12") {
            let wallet = row.get(..2).unwrap_or_default().to_string();
            if !last_rows.contains(&wallet) {
                last_rows.push(wallet);
            }
        }
    }

    repl.press("\x03");
    repl.expect("stopped q1 after 5 rows");

    repl.enter(".schemas", "Trade (inferred from 3 sampled events)");
    repl.expect("wallet  string");
    repl.expect("usd     long");

    repl.enter(
        ".explain select wallet, count(*) from Trade#time(1 min) group by wallet;",
        "shape=\"fully aggregated, grouped\"",
    );
    repl.expect("Source type=Trade");
    repl.quit();

    assert_eq!(
        committed(&other, &topic),
        other_before,
        "the shell moved another group's offsets"
    );
    let mine = committed(&repl_group, &topic);
    assert!(
        mine.iter().all(|o| *o == Offset::Invalid),
        "the shell's group {repl_group} committed offsets: {mine:?}"
    );
}
