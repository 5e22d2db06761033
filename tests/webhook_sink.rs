//! The webhook sink against a real HTTP server (axum on 127.0.0.1): retries on 503 until
//! success, no retry on 400 (the alert becomes a dead letter), a hanging server cut by the
//! timeout, and the `Idempotency-Key` header on every request.
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod webhook_server;

use webhook_server::{hook, serve};

const RULE: &str = "create schema S(v long, ts long) starttimestamp ts;\n\
                    @Name('big') select v from S(v >= 6);";

/// Writes the rule and 10 events (v = 0..9, 6 to 9 match); runs `cepheus run` with `extra`.
fn run(dir: &Path, extra: &[&str]) -> Output {
    std::fs::write(dir.join("r.epl"), RULE).expect("write");
    let lines: Vec<String> = (0..10)
        .map(|v| format!("{{\"v\":{v},\"ts\":{}}}", 1000 + v))
        .collect();
    std::fs::write(dir.join("in.jsonl"), lines.join("\n")).expect("write");
    let mut args = vec![
        "run".to_string(),
        dir.join("r.epl").display().to_string(),
        "--input".into(),
        dir.join("in.jsonl").display().to_string(),
        "--type".into(),
        "S".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(&args)
        .output()
        .expect("the cepheus binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn retries_503_until_accepted_and_delivers_each_alert_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = hook(&[503, 503, 503], 200, Duration::ZERO);
    let url = serve(h.clone());
    let out = run(dir.path(), &["--sink", &format!("webhook:{url}")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = h.seen.lock().expect("lock");
    // Three refusals, then one accepted request per alert.
    assert_eq!(seen.len(), 4 + 3, "{seen:?}");
    let mut accepted: HashMap<String, u32> = HashMap::new();
    let mut values = Vec::new();
    for (key, body, status) in seen.iter() {
        let key = key.clone().expect("every request has an Idempotency-Key");
        assert_eq!(body["alert_id"].as_str(), Some(key.as_str()));
        assert_eq!(body["rule"], "big");
        if *status == 200 {
            *accepted.entry(key).or_default() += 1;
            values.push(body["row"]["v"].as_i64().unwrap_or(-1));
        }
    }
    assert_eq!(values, vec![6, 7, 8, 9]);
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
    // The retried request carried the same key as the one that finally succeeded.
    assert_eq!(seen[0].0, seen[3].0);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("0 dead-lettered"), "{stderr}");
}

#[test]
fn a_400_is_not_retried_and_the_alert_becomes_a_dead_letter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = hook(&[], 400, Duration::ZERO);
    let url = serve(h.clone());
    let dlq = dir.path().join("dlq.jsonl");
    let out = run(
        dir.path(),
        &[
            "--sink",
            &format!("webhook:{url}"),
            "--dead-letter",
            &format!("file:{}", dlq.display()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        h.seen.lock().expect("lock").len(),
        4,
        "one request per alert"
    );
    let letters: Vec<serde_json::Value> = std::fs::read_to_string(&dlq)
        .expect("dead letters written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(letters.len(), 4);
    for l in &letters {
        assert_eq!(l["dead_letter"], "sink_gave_up");
        assert!(
            l["position"]["sink"]
                .as_str()
                .is_some_and(|s| s.starts_with("webhook:"))
        );
        assert!(
            l["error"].as_str().is_some_and(|e| e.contains("400")),
            "{l}"
        );
        let raw: serde_json::Value =
            serde_json::from_str(l["raw"].as_str().unwrap_or("")).expect("the alert as raw");
        assert_eq!(raw["alert_id"], l["position"]["alert_id"]);
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("4 dead-lettered (sink_gave_up=4)"),
        "{stderr}"
    );
}

#[test]
fn a_hanging_webhook_is_cut_by_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = hook(&[], 200, Duration::from_secs(30));
    let url = serve(h);
    let dlq = dir.path().join("dlq.jsonl");
    let started = Instant::now();
    let out = run(
        dir.path(),
        &[
            "--sink",
            &format!("webhook:{url}"),
            "--webhook-timeout",
            "200ms",
            "--webhook-attempts",
            "2",
            "--dead-letter",
            &format!("file:{}", dlq.display()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // 4 alerts x 2 attempts x 200 ms plus backoff: far below the server's 30 s.
    assert!(started.elapsed() < Duration::from_secs(20));
    let dead = std::fs::read_to_string(&dlq).expect("dead letters");
    assert_eq!(dead.lines().count(), 4, "{dead}");
    assert!(dead.contains("gave up after 2 attempts"), "{dead}");
}
