//! End-to-end tests of the `cepheus` binary: real files, real processes.
mod cli_support;

use cli_support::*;
use std::path::Path;

/// `cepheus run` of the rules `epl` over the JSON lines `input`, every line of type `ty`.
fn run_rule(epl: &str, input: &str, ty: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rule, events) = (dir.path().join("rule.epl"), dir.path().join("in.jsonl"));
    std::fs::write(&rule, epl).expect("write the rule");
    std::fs::write(&events, input).expect("write the events");
    cepheus(&[
        "run".as_ref(),
        rule.as_os_str(),
        "--input".as_ref(),
        events.as_os_str(),
        "--type".as_ref(),
        ty.as_ref(),
    ])
}

#[test]
fn conformance_scenarios_pass() {
    let out = cepheus(&["test", "tests/conformance/cases"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn a_failing_scenario_is_reported_with_a_diff_and_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let case = dir.path().join("case");
    std::fs::create_dir(&case).expect("mkdir");
    std::fs::write(
        case.join("case.epl"),
        "create schema S(v long);\n@name('q') select sum(v) as s from S;",
    )
    .expect("write");
    std::fs::write(
        case.join("input.jsonl"),
        "{\"type\":\"S\",\"ts\":1000,\"v\":2}\n",
    )
    .expect("write");
    std::fs::write(
        case.join("expected.jsonl"),
        "{\"t\":1000,\"stmt\":\"q\",\"stream\":\"istream\",\"delivery\":1,\"row\":{\"s\":3}}\n",
    )
    .expect("write");
    let out = cepheus(&["test", dir.path().to_str().expect("utf-8 path")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("\"s\":3") && stdout.contains("\"s\":2"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn check_reports_file_line_column_caret_and_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("bad.epl");
    std::fs::write(
        &f,
        "create schema A(temperature double);\n\nselect avg(temprature) from A#time(5 min);\n",
    )
    .expect("write");
    let out = cepheus(&["check", f.to_str().expect("utf-8")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("bad.epl:3:12"), "{stderr}");
    assert!(stderr.contains("did you mean `temperature`?"), "{stderr}");
    assert!(
        stderr.contains('┬') || stderr.contains('^'),
        "a caret under the error: {stderr}"
    );

    let json = cepheus(&["check", "--format", "json", f.to_str().expect("utf-8")]);
    let line = text(&json.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap_or(""))
        .expect("one JSON diagnostic per line");
    assert_eq!(v["line"], 3);
    assert_eq!(v["column"], 12);
    assert_eq!(v["help"], "did you mean `temperature`?");
}

#[test]
fn check_accepts_the_shipped_rules() {
    let out = cepheus(&["check", "rules"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The seed rule of the engine issue over generated readings, against a
/// brute-force recomputation of Esper's semantics for a fully aggregated,
/// grouped query with HAVING on a sliding time window.
#[test]
fn run_seed_rule_matches_brute_force() {
    let rule = "create schema TemperatureEvent(sensor string, temperature double, ts long) starttimestamp ts;\n\
         select sensor, avg(temperature) as avgTemp from TemperatureEvent.win:time(5 min) \
         group by sensor having avg(temperature) > 30;";
    // Deterministic pseudo-random readings: 8 sensors, gaps of 1..40 s, so windows expire often.
    let mut state: u64 = 42;
    let mut next = move |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    let mut events: Vec<(i64, String, f64)> = Vec::new();
    let mut t = 1_000_000i64;
    for _ in 0..1500 {
        t += 1 + next(40_000) as i64;
        let sensor = format!("s{}", next(8));
        let temp = 20.0 + next(2000) as f64 / 100.0;
        events.push((t, sensor, temp));
    }
    let lines: Vec<String> = events
        .iter()
        .map(|(t, s, v)| format!("{{\"sensor\":\"{s}\",\"temperature\":{v:?},\"ts\":{t}}}"))
        .collect();
    let out = run_rule(rule, &lines.join("\n"), "TemperatureEvent");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut actual: Vec<(i64, String, f64)> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            assert_eq!(v["stream"], "insert");
            (
                v["time"].as_i64().unwrap_or(-1),
                v["row"]["sensor"].as_str().unwrap_or("").to_string(),
                v["row"]["avgTemp"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();

    // Brute force: steps are arrivals and expiries (an event at t leaves at t + 5 min,
    // before any arrival at that time); every group changed by a step posts a row if
    // its average over the events then in the window is above 30.
    const T: i64 = 300_000;
    let last = events.last().map_or(0, |e| e.0);
    let mut expected = Vec::new();
    let avg = |now: i64, sensor: &str, upto: usize| -> Option<f64> {
        let v: Vec<f64> = events[..upto]
            .iter()
            .filter(|(t, s, _)| s == sensor && t + T > now)
            .map(|e| e.2)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let mut expiries: Vec<i64> = events
        .iter()
        .map(|e| e.0 + T)
        .filter(|t| *t <= last)
        .collect();
    expiries.dedup();
    let mut steps: Vec<(i64, u8, usize)> = expiries.iter().map(|t| (*t, 0u8, 0usize)).collect();
    steps.extend(events.iter().enumerate().map(|(i, e)| (e.0, 1u8, i)));
    steps.sort();
    for (now, kind, i) in steps {
        let arrived = events
            .iter()
            .take_while(|e| e.0 < now || (kind == 1 && e.0 == now))
            .count()
            .max(if kind == 1 { i + 1 } else { 0 });
        let changed: Vec<&String> = if kind == 1 {
            vec![&events[i].1]
        } else {
            let mut c: Vec<&String> = events
                .iter()
                .filter(|e| e.0 + T == now)
                .map(|e| &e.1)
                .collect();
            c.sort();
            c.dedup();
            c
        };
        for s in changed {
            if let Some(a) = avg(now, s, arrived)
                && a > 30.0
            {
                expected.push((now, s.clone(), a));
            }
        }
    }
    let key = |x: &(i64, String, f64)| (x.0, x.1.clone(), (x.2 * 1e6).round() as i64);
    actual.sort_by_key(key);
    expected.sort_by_key(key);
    assert!(
        expected.len() > 50,
        "the data must exercise the rule: {} alerts",
        expected.len()
    );
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(&expected) {
        assert_eq!((a.0, &a.1), (e.0, &e.1));
        assert!((a.2 - e.2).abs() < 1e-9, "{a:?} vs {e:?}");
    }
}

#[test]
fn run_reports_bad_lines_and_goes_on() {
    let out = run_rule(
        "create schema S(v long, ts long) starttimestamp ts;\nselect v from S;",
        "{\"v\":1,\"ts\":10}\nnot json\n{\"v\":\"x\",\"ts\":11}\n{\"v\":2,\"ts\":5}\n{\"v\":3,\"ts\":12}\n",
        "S",
    );
    assert!(out.status.success());
    let rows: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\"line\":2") && stderr.contains("malformed_json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"line\":3") && stderr.contains("wrong_type"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"line\":4") && stderr.contains("late"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 events processed, 3 dead-lettered"),
        "{stderr}"
    );
}

#[test]
fn explain_prints_the_operator_tree() {
    let out = cepheus(&["explain", "rules/wallets.epl"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("Window time_batch(300000 ms)"), "{stdout}");
    assert!(Path::new("rules/wallets.epl").exists());
}

/// `insert into` rows feed other statements; only those marked `@Output`
/// also reach the sinks as alerts.
#[test]
fn run_sends_insert_into_rows_as_alerts_only_when_marked_output() {
    let out = run_rule(
        "create schema S(k string, v long, ts long) starttimestamp ts;\n\
         @Name('hidden') insert into Doubled select k, v * 2 as v2 from S;\n\
         @Output @Name('shown') insert into Big select k, v2 from Doubled(v2 > 10);\n\
         @Name('reader') select k from Big;",
        "{\"k\":\"a\",\"v\":1,\"ts\":10}\n{\"k\":\"b\",\"v\":6,\"ts\":11}\n",
        "S",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rules: Vec<(String, serde_json::Value)> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("alerts are JSON");
            (
                v["rule"].as_str().unwrap_or_default().to_string(),
                v["row"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("shown".to_string(), serde_json::json!({"k": "b", "v2": 12})),
            ("reader".to_string(), serde_json::json!({"k": "b"})),
        ]
    );
}

/// `cepheus bench` fails when the engine and a hand-written loop disagree on
/// the rows (their number, and a digest of their values to the bit); over enough events that Q1's windows expire and Q2's
/// batches flush, every query must agree and emit rows.
#[test]
fn bench_queries_agree_with_their_hand_written_loops() {
    let out = cepheus(&["bench", "--events", "350000", "--runs", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for query in ["Q1", "Q2", "Q3", "grouped having"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(query))
            .unwrap_or_else(|| panic!("no {query} line in\n{stdout}"));
        let rows: u64 = line
            .split_whitespace()
            .last()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("no row count in {line}"));
        assert!(rows > 0, "{query} emitted no rows: {line}");
    }
}
