//! Hot reload of `cepheus daemon` against the real broker: a bad edit keeps every old rule
//! running and shows the error with its line and column; fixing it applies the new set;
//! an edit of one rule leaves another rule's window exactly as in an uninterrupted run.
mod daemon_support;
mod kafka_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use daemon_support::*;

const SCHEMA: &str = "create schema TemperatureEvent (sensor string, temperature double, ts long) \
                      starttimestamp ts;\n";
const WINDOW: &str = "@Name('per_sensor') select sensor, count(*) as n, avg(temperature) as avg_t \
                      from TemperatureEvent#time(5 min) group by sensor;\n";
const HOT: &str =
    "@Name('hot') select sensor, temperature from TemperatureEvent(temperature > 30);\n";
const HOT_EDITED: &str =
    "@Name('hot') select sensor, temperature as t from TemperatureEvent(temperature > 34);\n";

/// `n` readings from `from` on, one per second, sensors s0..s4, every third one hot.
fn readings(from: i64, n: i64) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let sensor = format!("s{}", i % 5);
            let t = if i % 3 == 0 {
                35.0
            } else {
                20.0 + (i % 7) as f64
            };
            let line = format!(
                "{{\"sensor\":\"{sensor}\",\"temperature\":{t},\"ts\":{}}}",
                1_767_225_600_000 + i * 1000
            );
            (sensor, line)
        })
        .collect()
}

/// Saves `text` as an editor does: a new file renamed over the old one.
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("epl.swp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn args(rules: &Path, topic: &str, dir: &Path) -> Vec<String> {
    let sink = format!("file:{}", dir.join("alerts.jsonl").display());
    daemon_args(rules, topic, &unique("g"), &["--sink", &sink])
}

/// How many reloads ended with `outcome`. One save can wake the watcher more
/// than once (an editor's temporary file, then the rename), and a later wake
/// finds nothing changed: count outcomes rather than read the last one.
fn reloads(d: &Daemon, outcome: &str) -> f64 {
    d.metric("cepheus_reload_total", &format!("outcome=\"{outcome}\""))
}

fn rule_names(d: &Daemon) -> Vec<String> {
    d.rules()["rules"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_bad_edit_keeps_every_old_rule_and_the_fix_applies_the_new_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("temps");
    create_topic(&topic, 1);
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(rules.join("a_schema.epl"), SCHEMA).expect("write");
    std::fs::write(rules.join("b_window.epl"), WINDOW).expect("write");
    std::fs::write(rules.join("c_hot.epl"), HOT).expect("write");
    let d = Daemon::start(&args(&rules, &topic, dir.path()), &dir.path().join("d.log"));
    assert_eq!(rule_names(&d), ["per_sensor", "hot"]);
    produce(&topic, &readings(0, 30));
    d.wait_until("30 events are processed", Duration::from_secs(60), |d| {
        d.metric("cepheus_events_processed_total", "") >= 30.0
    });

    // A syntax error on line 2 of one file (saved by rename).
    save_by_rename(
        &rules.join("c_hot.epl"),
        "-- hot readings\n@Name('hot') select sensor, from TemperatureEvent;\n",
    );
    d.wait_until("the reload is rejected", Duration::from_secs(30), |d| {
        reloads(d, "rejected") >= 1.0
    });
    let view = d.rules();
    let error = &view["last_reload"]["errors"][0];
    assert!(
        error["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("c_hot.epl")),
        "{view}"
    );
    assert_eq!(error["line"], 2, "{view}");
    assert!(error["column"].as_u64().is_some_and(|c| c > 1), "{view}");
    assert_eq!(
        rule_names(&d),
        ["per_sensor", "hot"],
        "old rules keep running"
    );
    assert!(
        view["rules"][1]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("c_hot.epl:2:")),
        "{view}"
    );
    assert!(d.metric("cepheus_reload_total", "outcome=\"rejected\"") >= 1.0);
    // The old `hot` keeps alerting.
    let hot_before = d.metric("cepheus_events_out_total", "rule=\"hot\"");
    produce(&topic, &readings(30, 30));
    d.wait_until(
        "the old hot rule still alerts",
        Duration::from_secs(60),
        |d| d.metric("cepheus_events_out_total", "rule=\"hot\"") >= hot_before + 10.0,
    );

    // The fix applies the whole new set: `hot` changed, a new rule added.
    save_by_rename(
        &rules.join("c_hot.epl"),
        &format!(
            "{HOT_EDITED}@Name('cold') select sensor from TemperatureEvent(temperature < 21);\n"
        ),
    );
    d.wait_until("the fixed set is applied", Duration::from_secs(30), |d| {
        reloads(d, "applied") >= 1.0
    });
    assert_eq!(rule_names(&d), ["per_sensor", "hot", "cold"]);
    let view = d.rules();
    assert_eq!(view["rules"][1]["status"], "running", "{view}");
    assert!(view["rules"][1]["last_error"].is_null(), "{view}");
    assert!(d.metric("cepheus_reload_total", "outcome=\"applied\"") >= 1.0);

    // POST /reload and SIGHUP reload too (nothing changed now).
    let (status, body) = d.post("/reload");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"outcome\":\"unchanged\""), "{body}");
    let unchanged = d.metric("cepheus_reload_total", "outcome=\"unchanged\"");
    d.signal("HUP");
    d.wait_until("SIGHUP reloads", Duration::from_secs(30), |d| {
        d.metric("cepheus_reload_total", "outcome=\"unchanged\"") > unchanged
    });
    // A bad set through the API answers 422 with the diagnostics.
    std::fs::write(rules.join("d_bad.epl"), "select nope from Nowhere;\n").expect("write");
    let (status, body) = d.post("/reload");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("d_bad.epl"), "{body}");
    assert_eq!(rule_names(&d), ["per_sensor", "hot", "cold"]);
}

#[test]
fn editing_one_rule_leaves_the_window_of_another_as_in_an_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("temps");
    create_topic(&topic, 1);
    produce(&topic, &readings(0, 150));
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(rules.join("a_window.epl"), format!("{SCHEMA}{WINDOW}")).expect("write");
    std::fs::write(rules.join("b_hot.epl"), HOT).expect("write");

    let d = Daemon::start(&args(&rules, &topic, dir.path()), &dir.path().join("d.log"));
    d.wait_until("150 events are processed", Duration::from_secs(60), |d| {
        d.metric("cepheus_events_processed_total", "") >= 150.0
    });
    // The 5-minute window holds all 150 readings when the other rule is edited.
    assert_eq!(
        d.metric(
            "cepheus_rule_state",
            "rule=\"per_sensor\",kind=\"window_events\""
        ),
        150.0
    );
    save_by_rename(&rules.join("b_hot.epl"), HOT_EDITED);
    d.wait_until("the edit is applied", Duration::from_secs(30), |d| {
        reloads(d, "applied") >= 1.0
    });
    let summary = d.rules()["last_reload"]["summary"].to_string();
    assert!(summary.contains("kept [\\\"per_sensor\\\"]"), "{summary}");
    assert_eq!(
        d.metric(
            "cepheus_rule_state",
            "rule=\"per_sensor\",kind=\"window_events\""
        ),
        150.0,
        "the untouched rule kept its window"
    );
    produce(&topic, &readings(150, 150));
    d.wait_until("300 events are processed", Duration::from_secs(60), |d| {
        d.metric("cepheus_events_processed_total", "") >= 300.0
    });
    let alerts = alerts_by_id(&dir.path().join("alerts.jsonl"));

    // The golden run: the original rules over the same 300 readings, uninterrupted.
    let golden_file = dir.path().join("golden.jsonl");
    golden_run(&rules.join("a_window.epl"), &topic, &golden_file);
    let golden = alerts_by_id(&golden_file);
    assert_eq!(golden.len(), 300);
    let window_ids = |m: &std::collections::BTreeMap<String, serde_json::Value>| {
        m.iter()
            .filter(|(_, v)| v["rule"] == "per_sensor")
            .map(|(k, _)| k.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        window_ids(&alerts),
        window_ids(&golden),
        "the window rule's alerts differ from the uninterrupted run"
    );
    // The last reading of s4 counts every s4 reading of the last 5 minutes, across the edit.
    let last = alerts
        .values()
        .filter(|v| v["rule"] == "per_sensor")
        .max_by_key(|v| v["time"].as_i64())
        .expect("window alerts");
    assert_eq!(last["row"]["n"], 60, "{last}");

    // The edited rule started fresh: its alerts after the edit use the new text.
    let hot: Vec<&serde_json::Value> = alerts.values().filter(|v| v["rule"] == "hot").collect();
    let old = hot
        .iter()
        .filter(|v| v["row"].get("temperature").is_some())
        .count();
    let new = hot.iter().filter(|v| v["row"].get("t").is_some()).count();
    assert_eq!((old, new), (50, 50), "hot alerts before and after the edit");
}
