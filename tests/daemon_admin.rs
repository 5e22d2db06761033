//! `cepheus daemon` against the real broker: the admin API (health, Prometheus metrics,
//! rules, tap), a graceful stop with a final checkpoint, a restart that resumes after it,
//! and the token a non-loopback admin address requires.
mod daemon_support;
mod kafka_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use daemon_support::*;

const RULES: &str = "create schema TemperatureEvent (sensor string, temperature double, ts long) \
                     starttimestamp ts;\n\
                     @Name('hot') select sensor, temperature from TemperatureEvent(temperature > 30);\n\
                     @Name('per_sensor') select sensor, count(*) as n \
                     from TemperatureEvent#time(1 min) group by sensor;\n";

/// `n` readings from `from` on, one per second, sensors s0..s4, every third one hot.
fn readings(from: i64, n: i64) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let sensor = format!("s{}", i % 5);
            let t = if i % 3 == 0 { 35.0 } else { 20.0 };
            let line = format!(
                "{{\"sensor\":\"{sensor}\",\"temperature\":{t},\"ts\":{}}}",
                1_767_225_600_000 + i * 1000
            );
            (sensor, line)
        })
        .collect()
}

fn admin_test_args(rules: &Path, topic: &str, group: &str, dir: &Path) -> Vec<String> {
    let checkpoints = dir.join("checkpoints").display().to_string();
    let sink = format!("file:{}", dir.join("alerts.jsonl").display());
    let dead = format!("file:{}", dir.join("dead.jsonl").display());
    daemon_args(
        rules,
        topic,
        group,
        &[
            "--idle-timeout",
            "1s",
            "--checkpoint-dir",
            &checkpoints,
            "--checkpoint-interval",
            "1s",
            "--sink",
            &sink,
            "--dead-letter",
            &dead,
        ],
    )
}

#[test]
fn admin_api_and_a_graceful_stop_that_a_restart_resumes_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (topic, group) = (unique("temps"), unique("g"));
    create_topic(&topic, 1);
    produce(&topic, &readings(0, 200));
    let rules = rules_dir(dir.path(), RULES);
    let args = admin_test_args(&rules, &topic, &group, dir.path());
    let mut d = Daemon::start(&args, &dir.path().join("daemon.log"));

    d.wait_until("200 events are processed", Duration::from_secs(60), |d| {
        d.metric("cepheus_events_processed_total", "") >= 200.0
    });
    assert_eq!(d.get("/healthz"), (200, "ok\n".to_string()));
    let (status, text) = d.get("/metrics");
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    let value = |name: &str, labels: &str| {
        samples
            .iter()
            .filter(|(n, l, _)| n == name && l.contains(labels))
            .map(|(_, _, v)| *v)
            .sum::<f64>()
    };
    assert_eq!(
        value("cepheus_events_in_total", &format!("{topic}/0")),
        200.0
    );
    // 67 of 200 readings (i % 3 == 0) are hot.
    assert_eq!(value("cepheus_events_out_total", "rule=\"hot\""), 67.0);
    assert!(value("cepheus_events_out_total", "rule=\"per_sensor\"") >= 200.0);
    assert!(value("cepheus_alerts_delivered_total", "sink=\"file:") >= 267.0);
    // A 1-minute window over one reading per second: 60 events, 5 sensors.
    assert_eq!(
        value(
            "cepheus_rule_state",
            "rule=\"per_sensor\",kind=\"group_keys\""
        ),
        5.0
    );
    assert!(
        value(
            "cepheus_rule_state",
            "rule=\"per_sensor\",kind=\"window_events\""
        ) >= 59.0
    );
    assert_eq!(value("cepheus_late_events_total", ""), 0.0);
    d.wait_until("a checkpoint is written", Duration::from_secs(30), |d| {
        d.metric("cepheus_checkpoints_total", "outcome=\"ok\"") >= 1.0
    });
    // The consumer has caught up: the broker holds nothing past its position.
    let caught_up = format!("cepheus_consumer_lag{{partition=\"{topic}/0\"}} 0\n");
    d.wait_until(
        "the consumer lag is measured",
        Duration::from_secs(30),
        |d| d.get("/metrics").1.contains(&caught_up),
    );

    let rules_view = d.rules();
    let names: Vec<&str> = rules_view["rules"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["hot", "per_sensor"], "{rules_view}");
    assert_eq!(rules_view["rules"][0]["status"], "running");
    assert_eq!(
        rules_view["rules"][0]["text_hash"].as_str().map(str::len),
        Some(32)
    );
    assert_eq!(rules_view["rules"][1]["state"]["group_keys"], 5);
    assert_eq!(d.get("/tap/nope").0, 404);

    // /tap streams the rows of one rule while events keep flowing.
    let admin = d.admin.clone();
    let watcher = std::thread::spawn(move || tap(&admin, "hot", 3, Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(500));
    let topic2 = topic.clone();
    let producer = std::thread::spawn(move || {
        for chunk in 0..10 {
            produce(&topic2, &readings(200 + chunk * 10, 10));
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let rows = watcher.join().expect("tap thread");
    producer.join().expect("producer thread");
    assert_eq!(rows.len(), 3, "{}", d.log_text());
    for row in &rows {
        let v: serde_json::Value = serde_json::from_str(row).expect("tap rows are alerts");
        assert_eq!(v["rule"], "hot");
        assert_eq!(v["row"]["temperature"], 35.0);
    }
    d.wait_until("300 events are processed", Duration::from_secs(60), |d| {
        d.metric("cepheus_events_processed_total", "") >= 300.0
    });

    // SIGTERM: final checkpoint, exit 0.
    let before = d.metric("cepheus_checkpoints_total", "outcome=\"ok\"");
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status:?}; log:\n{}", d.log_text());
    assert!(d.log_text().contains("Engine stopped"), "{}", d.log_text());
    let files: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
        .expect("checkpoint dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ckpt"))
        .collect();
    assert!(!files.is_empty() && files.len() <= 2, "{files:?}");
    assert!(before >= 1.0);

    // A restart resumes after the checkpoint: only the new records are read.
    let mut again = Daemon::start(&args, &dir.path().join("daemon2.log"));
    assert!(
        again.log_text().contains("Restored from the checkpoint"),
        "{}",
        again.log_text()
    );
    produce(&topic, &readings(300, 10));
    again.wait_until(
        "the 10 new events are processed",
        Duration::from_secs(60),
        |d| d.metric("cepheus_events_processed_total", "") >= 10.0,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        again.metric("cepheus_events_in_total", ""),
        10.0,
        "records before the checkpoint were read again; log:\n{}",
        again.log_text()
    );
    // The window kept its state across the restart: the group count covers the last minute.
    assert!(again.metric("cepheus_rule_state", "kind=\"window_events\"") >= 59.0);
    again.signal("INT");
    assert!(again.wait_exit(Duration::from_secs(60)).success());
}

#[test]
fn a_non_loopback_admin_address_needs_a_token_checked_on_every_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (topic, group) = (unique("temps"), unique("g"));
    create_topic(&topic, 1);
    let rules = rules_dir(dir.path(), RULES);
    let mut base = vec!["daemon".to_string()];
    base.extend(daemon_args(&rules, &topic, &group, &[]));
    let port = free_port();
    let open = format!("0.0.0.0:{port}");
    let refused = Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(&base)
        .args(["--admin", &open])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--admin-token"), "{stderr}");

    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(&base)
        .args(["--admin", &open, "--admin-token", "s3cret"])
        .stderr(log)
        .spawn()
        .expect("starts");
    let addr = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    while http(&addr, "GET", "/healthz", Some("s3cret")).0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the admin API did not come up: {}",
            std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for path in ["/healthz", "/metrics", "/rules", "/tap/hot"] {
        assert_eq!(
            http(&addr, "GET", path, None).0,
            401,
            "{path} without a token"
        );
        assert_eq!(
            http(&addr, "GET", path, Some("wrong")).0,
            401,
            "{path} with a wrong token"
        );
    }
    assert_eq!(http(&addr, "POST", "/reload", None).0, 401);
    assert_eq!(http(&addr, "GET", "/metrics", Some("s3cret")).0, 200);
    let _ = child.kill();
    let _ = child.wait();
}
