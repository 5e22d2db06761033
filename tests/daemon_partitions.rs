//! `cepheus daemon` owns every partition of its topics (it assigns them itself, no group
//! membership) and looks for new ones while it runs: partitions that appear later (here a
//! topic created after the start; the test broker cannot add partitions to a topic) are
//! read from their start.
mod daemon_support;
mod kafka_support;

use std::time::Duration;

use daemon_support::*;
use rdkafka::producer::{BaseRecord, Producer};

const RULES: &str = "create schema TemperatureEvent (sensor string, temperature double, ts long) \
                     starttimestamp ts;\n\
                     @Name('hot') select sensor, temperature from TemperatureEvent(temperature > 30);\n";

#[test]
fn partitions_that_appear_while_the_daemon_runs_are_read_from_their_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("grow");
    let rules = rules_dir(dir.path(), RULES);
    let checkpoints = dir.path().join("checkpoints").display().to_string();
    let sink = format!("file:{}", dir.path().join("alerts.jsonl").display());
    let args = daemon_args(
        &rules,
        &topic,
        &unique("g"),
        &[
            "--idle-timeout",
            "1s",
            "--checkpoint-dir",
            &checkpoints,
            "--sink",
            &sink,
        ],
    );
    let d = Daemon::start(&args, &dir.path().join("d.log"));

    // Created only now: the daemon started with no partition to read.
    create_topic(&topic, 2);
    let producer = producer();
    for (i, t) in [(0, 35.0), (1, 36.0)] {
        let value = format!(
            "{{\"sensor\":\"s{i}\",\"temperature\":{t},\"ts\":{}}}",
            1_767_225_600_000i64 + i * 1000
        );
        producer
            .send(BaseRecord::to(&topic).partition(1).key("k").payload(&value))
            .map_err(|(e, _)| e)
            .expect("queued");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("acknowledged");
    d.wait_until(
        "the new partition's records are read",
        Duration::from_secs(40),
        |d| d.metric("cepheus_events_in_total", &format!("{topic}/1")) >= 2.0,
    );
}
