//! `cepheus run` against a real Kafka-compatible broker (Tansu on 127.0.0.1:19092, started
//! by scripts/test.sh; these tests start it themselves if it is installed, and fail, never
//! skip, when it cannot run).
mod cli_support;

use cli_support::*;
mod kafka_support;
mod webhook_server;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_support::*;
use rdkafka::producer::{BaseRecord, Producer};

fn spawn_cepheus(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the cepheus binary starts")
}

/// `cepheus run RULES --kafka .. --topic TOPIC --group G --from-beginning
/// --stop-after-idle IDLE` followed by `extra`. A consumer killed by a test leaves the group
/// after 6 s (session timeout), so a restart gets the partitions soon.
fn run_args(rules: &Path, topic: &str, group: &str, idle: &str, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        &rules.display().to_string(),
        "--kafka",
        broker(),
        "--topic",
        topic,
        "--group",
        group,
        "--from-beginning",
        "--stop-after-idle",
        idle,
        "--kafka-option",
        "session.timeout.ms=6000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    args
}

const RULE: &str = "create schema TemperatureEvent (sensor string, temperature double, ts long) \
                    starttimestamp ts;\n\
                    @Name('hot') select sensor, temperature from TemperatureEvent(temperature > 33);";

/// Generated temperature events: (sensor, temperature, ts, line).
fn temperatures(n: u64) -> Vec<(String, f64, i64, String)> {
    let out = cepheus(&["gen".into(), "temperature".into(), n.to_string()]);
    assert!(out.status.success());
    text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (
                v["sensor"].as_str().unwrap_or("").to_string(),
                v["temperature"].as_f64().unwrap_or(f64::NAN),
                v["ts"].as_i64().unwrap_or(-1),
                l.to_string(),
            )
        })
        .collect()
}

/// The events as Kafka records keyed by sensor.
fn keyed_records(events: &[(String, f64, i64, String)]) -> Vec<(String, Vec<u8>)> {
    events
        .iter()
        .map(|(s, _, _, line)| (s.clone(), line.clone().into_bytes()))
        .collect()
}

fn alert_rows(values: impl Iterator<Item = serde_json::Value>) -> Vec<(String, i64, String)> {
    let mut rows: Vec<(String, i64, String)> = values
        .map(|a| {
            (
                a["row"]["sensor"].as_str().unwrap_or("").to_string(),
                a["time"].as_i64().unwrap_or(-1),
                a["row"]["temperature"].to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn kafka_to_kafka_file_and_webhook_with_poison_in_the_dead_letter_topic() {
    broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, alerts, dlq, group) = (
        unique("temps"),
        unique("alerts"),
        unique("dlq"),
        unique("g"),
    );
    create_topic(&input, 3);
    create_topic(&alerts, 1);
    create_topic(&dlq, 1);
    let events = temperatures(3000);
    let mut records = keyed_records(&events);
    // Poison, each keyed to a sensor so it lands among that sensor's readings.
    let poison: Vec<(&str, Vec<u8>)> = vec![
        ("malformed_json", b"{\"sensor\":\"s-0001\",\"temp".to_vec()),
        (
            "wrong_type",
            b"{\"sensor\":\"s-0002\",\"temperature\":\"hot\",\"ts\":1}".to_vec(),
        ),
        (
            "invalid_utf8",
            b"{\"sensor\":\"\xff\xfe\",\"temperature\":1.0,\"ts\":1}".to_vec(),
        ),
        (
            "too_large",
            format!("{{\"pad\":\"{}\"}}", "x".repeat(10 << 20)).into_bytes(),
        ),
    ];
    for (i, (_, p)) in poison.iter().enumerate() {
        records.insert(500 * (i + 1), (format!("s-000{i}"), p.clone()));
    }
    produce(&input, &records);

    let hook = webhook_server::hook(&[503, 503], 200, Duration::ZERO);
    let url = webhook_server::serve(hook.clone());
    let rules = dir.path().join("hot.epl");
    std::fs::write(&rules, RULE).expect("write");
    let file = dir.path().join("alerts.jsonl");
    let args = run_args(
        &rules,
        &format!("{input}:TemperatureEvent"),
        &group,
        "3s",
        &[
            "--sink".into(),
            format!("kafka:{alerts}"),
            "--sink".into(),
            format!("file:{}", file.display()),
            "--sink".into(),
            format!("webhook:{url}"),
            "--dead-letter".into(),
            format!("kafka:{dlq}"),
        ],
    );
    let out = cepheus(&args);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // Brute force: every reading above 33 degrees, at its own time.
    let mut expected: Vec<(String, i64, String)> = events
        .iter()
        .filter(|e| e.1 > 33.0)
        .map(|e| (e.0.clone(), e.2, serde_json::json!(e.1).to_string()))
        .collect();
    expected.sort();
    assert!(expected.len() > 30, "the data must exercise the rule");

    let on_topic = consume(&alerts, expected.len(), Duration::from_secs(60));
    assert!(on_topic.iter().all(|c| c.key.as_deref() == Some("hot")));
    let topic_alerts: Vec<serde_json::Value> = on_topic
        .iter()
        .map(|c| serde_json::from_slice(&c.value).expect("alert JSON"))
        .collect();
    assert_eq!(
        alert_rows(topic_alerts.iter().cloned()),
        expected,
        "{stderr}"
    );
    let file_alerts: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .expect("alert file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(alert_rows(file_alerts.iter().cloned()), expected);
    let ids = |v: &[serde_json::Value]| -> BTreeSet<String> {
        v.iter()
            .map(|a| a["alert_id"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(ids(&topic_alerts), ids(&file_alerts));
    assert_eq!(
        ids(&topic_alerts).len(),
        expected.len(),
        "alert ids are unique"
    );
    let seen = hook.seen.lock().expect("lock");
    let accepted: Vec<serde_json::Value> = seen
        .iter()
        .filter(|s| s.2 == 200)
        .map(|s| s.1.clone())
        .collect();
    assert_eq!(alert_rows(accepted.iter().cloned()), expected);
    assert_eq!(seen.len(), expected.len() + 2, "two 503s retried");
    drop(seen);

    // Each poison record is in the dead-letter topic with its reason and position.
    let letters: Vec<serde_json::Value> = consume(&dlq, poison.len(), Duration::from_secs(30))
        .iter()
        .map(|c| serde_json::from_slice(&c.value).expect("dead letter JSON"))
        .collect();
    let produced: HashMap<(i64, i64), Vec<u8>> =
        consume(&input, records.len(), Duration::from_secs(60))
            .into_iter()
            .map(|c| ((c.partition as i64, c.offset), c.value))
            .collect();
    let mut reasons: Vec<&str> = letters
        .iter()
        .map(|l| l["dead_letter"].as_str().unwrap_or(""))
        .collect();
    reasons.sort();
    let mut want: Vec<&str> = poison.iter().map(|p| p.0).collect();
    want.sort();
    assert_eq!(reasons, want, "{letters:?}");
    for l in &letters {
        let pos = &l["position"];
        assert_eq!(pos["topic"], input.as_str());
        let key = (
            pos["partition"].as_i64().unwrap_or(-1),
            pos["offset"].as_i64().unwrap_or(-1),
        );
        let raw = produced
            .get(&key)
            .expect("the position names a produced record");
        let shown = l["raw"].as_str().unwrap_or("");
        assert!(String::from_utf8_lossy(raw).starts_with(shown), "{l}");
    }
    assert!(
        stderr.contains("3000 events processed, 4 dead-lettered"),
        "{stderr}"
    );

    // Everything was delivered, so the group committed the end of every partition.
    let mut end = [0i64; 3];
    for (p, o) in produced.keys() {
        end[*p as usize] = end[*p as usize].max(o + 1);
    }
    assert_eq!(committed(&input, &group, 3), end);
}

#[test]
fn a_run_killed_with_sigkill_and_restarted_loses_no_alert() {
    broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, alerts, group) = (unique("temps"), unique("alerts"), unique("g"));
    create_topic(&input, 3);
    create_topic(&alerts, 1);
    let events = temperatures(40_000);
    let records = keyed_records(&events);
    produce(&input, &records);
    let rules = dir.path().join("hot.epl");
    std::fs::write(&rules, RULE).expect("write");
    let run_args = |group: &str, sink: &str| {
        run_args(
            &rules,
            &format!("{input}:TemperatureEvent"),
            group,
            "10s",
            &["--sink".into(), sink.into()],
        )
    };
    // The golden run: uninterrupted, to a file.
    let golden_file = dir.path().join("golden.jsonl");
    let golden = cepheus(&run_args(
        &unique("golden"),
        &format!("file:{}", golden_file.display()),
    ));
    assert!(golden.status.success(), "{}", text(&golden.stderr));
    let golden: BTreeMap<String, String> = std::fs::read_to_string(&golden_file)
        .expect("golden alerts")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (
                v["alert_id"].as_str().unwrap_or("").to_string(),
                l.to_string(),
            )
        })
        .collect();
    assert!(golden.len() > 300, "{}", golden.len());

    // Killed once some alerts are out, then restarted with the same group.
    let mut first = spawn_cepheus(&run_args(&group, &format!("kafka:{alerts}")));
    let started = Instant::now();
    while consume(&alerts, 1, Duration::from_secs(2)).is_empty()
        && started.elapsed() < Duration::from_secs(60)
    {}
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let before_restart = committed(&input, &group, 3);
    let second = cepheus(&run_args(&group, &format!("kafka:{alerts}")));
    let second_log = text(&second.stderr);
    assert!(second.status.success(), "{second_log}");
    // The restart consumed to the end of every partition.
    let mut end = [0i64; 3];
    for c in consume(&input, records.len(), Duration::from_secs(60)) {
        end[c.partition as usize] = end[c.partition as usize].max(c.offset + 1);
    }
    assert_eq!(committed(&input, &group, 3), end, "{second_log}");

    let delivered = consume(&alerts, golden.len(), Duration::from_secs(90));
    let mut by_id: BTreeMap<String, String> = BTreeMap::new();
    for c in &delivered {
        let v: serde_json::Value = serde_json::from_slice(&c.value).expect("alert JSON");
        let id = v["alert_id"].as_str().unwrap_or("").to_string();
        let line = v.to_string();
        if let Some(prev) = by_id.insert(id.clone(), line.clone()) {
            assert_eq!(prev, line, "a duplicate of {id} differs");
        }
    }
    let missing: Vec<&String> = golden
        .keys()
        .filter(|id| !by_id.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} alerts lost, e.g. {:?}; committed before the restart: {before_restart:?}; \
         restart: {second_log}",
        missing.len(),
        missing.first()
    );
    assert_eq!(by_id.len(), golden.len(), "no alert outside the golden run");
    // The restart resumed from committed offsets (not from the beginning) when the first
    // run had committed any; either way nothing is lost.
    eprintln!(
        "committed before the restart: {before_restart:?}; {} deliveries for {} alerts",
        delivered.len(),
        golden.len()
    );
}

#[test]
fn a_slow_sink_pauses_the_consumer_without_losing_or_repeating_records() {
    broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, group) = (unique("temps"), unique("g"));
    // One partition: the watermark follows every record, so alerts (and the stall) start
    // while the consumer is still feeding the channel.
    create_topic(&input, 1);
    let events = temperatures(40_000);
    let records = keyed_records(&events);
    produce(&input, &records);
    let rules = dir.path().join("hot.epl");
    std::fs::write(&rules, RULE).expect("write");
    // The first alerts take 4 s each: the channel fills and the consumer pauses.
    let hook = webhook_server::slow_start(&[], 200, 3, Duration::from_secs(4));
    let url = webhook_server::serve(hook.clone());
    let out = Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(run_args(
            &rules,
            &format!("{input}:TemperatureEvent"),
            &group,
            "5s",
            &["--sink".into(), format!("webhook:{url}")],
        ))
        .env("RUST_LOG", "cepheus_connectors::source::kafka=debug")
        .output()
        .expect("the cepheus binary runs");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("partitions paused"),
        "the consumer never paused: {}",
        &stderr[..stderr.len().min(6000)]
    );
    assert!(
        stderr.contains("40000 events processed, 0 dead-lettered"),
        "{stderr}"
    );
    let mut expected: Vec<(String, i64, String)> = events
        .iter()
        .filter(|e| e.1 > 33.0)
        .map(|e| (e.0.clone(), e.2, serde_json::json!(e.1).to_string()))
        .collect();
    expected.sort();
    let seen = hook.seen.lock().expect("lock");
    assert_eq!(alert_rows(seen.iter().map(|s| s.1.clone())), expected);
    let ids: BTreeSet<&str> = seen.iter().filter_map(|s| s.0.as_deref()).collect();
    assert_eq!(ids.len(), seen.len(), "no alert delivered twice");
}

#[test]
fn without_a_timestamp_field_the_record_timestamp_is_event_time_and_group_keys_are_kafka_keys() {
    broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, alerts) = (unique("readings"), unique("alerts"));
    create_topic(&input, 1);
    create_topic(&alerts, 1);
    let producer = producer();
    let base = 1_767_225_600_000i64;
    for (i, sensor) in ["a", "b", "a", "a"].iter().enumerate() {
        let payload = format!("{{\"sensor\":\"{sensor}\",\"temperature\":{}}}", 20 + i);
        let record = BaseRecord::to(&input)
            .key(*sensor)
            .payload(payload.as_str())
            .timestamp(base + 1000 * i as i64);
        producer.send(record).map_err(|(e, _)| e).expect("queued");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("acknowledged");
    let rules = dir.path().join("count.epl");
    std::fs::write(
        &rules,
        "create schema Reading (sensor string, temperature double);\n\
         @Name('per_sensor') select sensor, count(*) as n from Reading group by sensor;",
    )
    .expect("write");
    // `--topic NAME` without a type needs a schema named like the topic.
    let out = cepheus(&[
        "run".into(),
        rules.display().to_string(),
        "--kafka".into(),
        broker().into(),
        "--topic".into(),
        input.clone(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no schema is named") && err.contains("Reading"),
        "{err}"
    );

    let args = run_args(
        &rules,
        &format!("{input}:Reading"),
        &unique("g"),
        "3s",
        &["--sink".into(), format!("kafka:{alerts}")],
    );
    let out = cepheus(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Vec<(Option<String>, i64, i64)> = consume(&alerts, 4, Duration::from_secs(30))
        .iter()
        .map(|c| {
            let v: serde_json::Value = serde_json::from_slice(&c.value).expect("JSON");
            (
                c.key.clone(),
                v["time"].as_i64().unwrap_or(-1),
                v["row"]["n"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let key = |s: &str| Some(s.to_string());
    assert_eq!(
        got,
        vec![
            (key("a"), base, 1),
            (key("b"), base + 1000, 1),
            (key("a"), base + 2000, 2),
            (key("a"), base + 3000, 3),
        ]
    );
}
