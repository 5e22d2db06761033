//! `cepheus repl --kafka` in a pseudo-terminal against the real broker (Tansu on
//! 127.0.0.1:19092, started by scripts/test.sh or here; the test fails, never skips,
//! when it cannot run): a multi-line grouped query over live records, Ctrl-C,
//! `.schemas`, `.explain`, and no trace left in any consumer group's offsets.
mod kafka_support;
mod repl_support;

use std::time::Duration;

use kafka_support::{BROKER, broker, committed, create_topic, produce, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use repl_support::spawn_repl;

const PARTITIONS: i32 = 2;

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
    broker();
    let topic = unique("repl-trades");
    create_topic(&topic, PARTITIONS as u32);
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
    let other_before = committed(&topic, &other, PARTITIONS);
    assert!(other_before.iter().any(|o| *o > 0), "{other_before:?}");

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
        committed(&topic, &other, PARTITIONS),
        other_before,
        "the shell moved another group's offsets"
    );
    let mine = committed(&topic, &repl_group, PARTITIONS);
    assert!(
        mine.iter().all(|o| *o == -1),
        "the shell's group {repl_group} committed offsets: {mine:?}"
    );
}
