//! `cepheus run` end to end with real files: the file sink's rotation, `--follow` on a
//! growing file, allowed lateness, the generator source and poison input.
mod cli_support;

use cli_support::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

const RULE: &str = "create schema S(v long, ts long) starttimestamp ts;\n\
                    @Name('odd') select v from S(v % 2 = 1);";

fn rule(dir: &Path) -> String {
    let p = dir.join("r.epl");
    std::fs::write(&p, RULE).expect("write");
    p.display().to_string()
}

fn events(range: std::ops::Range<i64>) -> String {
    range
        .map(|v| format!("{{\"v\":{v},\"ts\":{}}}\n", 1000 + v))
        .collect()
}

/// Runs the `odd` rule over `data` written to `in.jsonl`, all lines of type S, plus `extra`.
fn run_odd(dir: &Path, data: &[u8], extra: &[&str]) -> Output {
    let input = dir.join("in.jsonl");
    std::fs::write(&input, data).expect("write");
    let mut list = args(&["run", &rule(dir), "--input", &input.display().to_string()]);
    list.extend(args(&["--type", "S"]));
    list.extend(args(extra));
    cepheus(&list)
}

#[test]
fn file_sink_rotates_by_size_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("alerts.jsonl");
    let out = run_odd(
        dir.path(),
        events(0..400).as_bytes(),
        &[
            "--sink",
            &format!("file:{}", out_path.display()),
            "--rotate-bytes",
            "4000",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut all = Vec::new();
    let mut files = 0;
    for name in [
        "alerts.jsonl",
        "alerts.jsonl.1",
        "alerts.jsonl.2",
        "alerts.jsonl.3",
    ] {
        let p = dir.path().join(name);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(size <= 4000, "{name} has {size} bytes");
        if size > 0 {
            files += 1;
        }
        all.extend(json_lines(&p));
    }
    // 200 alerts of ~110 bytes: 22 KB over files of 4 KB; the 5 newest files are kept.
    assert_eq!(files, 4);
    assert!(dir.path().join("alerts.jsonl.5").exists());
    assert!(!dir.path().join("alerts.jsonl.6").exists());
    let mut kept: Vec<i64> = (1..=5)
        .flat_map(|i| json_lines(&dir.path().join(format!("alerts.jsonl.{i}"))))
        .chain(json_lines(&out_path))
        .map(|a| a["row"]["v"].as_i64().unwrap_or(-1))
        .collect();
    kept.sort();
    let newest: Vec<i64> = (0..400)
        .filter(|v| v % 2 == 1)
        .rev()
        .take(kept.len())
        .collect();
    assert_eq!(kept.iter().rev().copied().collect::<Vec<_>>(), newest);
    assert!(all.iter().all(|a| a["rule"] == "odd"));
}

#[test]
fn follow_reads_lines_appended_while_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, events(0..4)).expect("write");
    let out_path = dir.path().join("alerts.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(args(&[
            "run",
            &rule(dir.path()),
            "--input",
            &input.display().to_string(),
            "--follow",
            "--type",
            "S",
            "--sink",
            &format!("file:{}", out_path.display()),
            "--stop-after-idle",
            "2s",
        ]))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .expect("open");
    f.write_all(events(4..8).as_bytes()).expect("append");
    // A line written in two parts is read once, whole.
    f.write_all(b"{\"v\":9,").expect("append");
    f.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    f.write_all(b"\"ts\":1009}\n").expect("append");
    drop(f);
    std::thread::sleep(Duration::from_millis(500));
    // Truncation: the file starts over and is read from its start.
    std::fs::write(&input, events(11..12)).expect("truncate");
    std::thread::sleep(Duration::from_millis(500));
    // Rotation: the file is renamed away and a new one takes its path.
    std::fs::rename(&input, dir.path().join("in.jsonl.1")).expect("rotate");
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&input, events(13..14)).expect("new file");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let vs: Vec<i64> = json_lines(&out_path)
        .iter()
        .map(|a| a["row"]["v"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(vs, vec![1, 3, 5, 7, 9, 11, 13], "{}", text(&out.stderr));
}

#[test]
fn allowed_lateness_reorders_and_dead_letters_what_is_later_still() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let rule_path = dir.path().join("r.epl");
    std::fs::write(
        &rule_path,
        "create schema S(v long, ts long) starttimestamp ts;\n\
         @Name('all') select v from S;",
    )
    .expect("write");
    // ts: 1000, 3000, 2000 (1 s late: within 1.5 s), 5000, 3100 (1.9 s late: dead letter).
    let lines = [(1, 1000), (3, 3000), (2, 2000), (5, 5000), (4, 3100)]
        .iter()
        .map(|(v, t)| format!("{{\"v\":{v},\"ts\":{t}}}\n"))
        .collect::<String>();
    std::fs::write(&input, lines).expect("write");
    let out = cepheus(&args(&[
        "run",
        &rule_path.display().to_string(),
        "--input",
        &input.display().to_string(),
        "--type",
        "S",
        "--allowed-lateness",
        "1500ms",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<(i64, i64)> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (
                v["time"].as_i64().unwrap_or(-1),
                v["row"]["v"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(rows, vec![(1000, 1), (2000, 2), (3000, 3), (5000, 5)]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\"line\":5") && stderr.contains("\"late\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("4 events processed, 1 dead-lettered (late=1)"),
        "{stderr}"
    );
}

#[test]
fn poison_records_become_dead_letters_with_positions_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut data = Vec::new();
    data.extend_from_slice(b"{\"v\":1,\"ts\":1000}\n");
    data.extend_from_slice(b"{\"v\":3,\"ts\":10\n"); // truncated JSON
    data.extend_from_slice(b"{\"v\":\"three\",\"ts\":1002}\n"); // wrong type
    data.extend_from_slice(b"{\"v\":5,\"ts\":1003,\"note\":\"\xff\xfe\"}\n"); // invalid UTF-8
    data.extend_from_slice(
        format!(
            "{{\"v\":7,\"pad\":\"{}\",\"ts\":1004}}\n",
            "x".repeat(10 << 20)
        )
        .as_bytes(),
    );
    data.extend_from_slice(b"{\"v\":9,\"ts\":1005}\n");
    let dlq = dir.path().join("dlq.jsonl");
    let out = run_odd(
        dir.path(),
        &data,
        &["--dead-letter", &format!("file:{}", dlq.display())],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let vs: Vec<i64> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["row"]["v"]
                .as_i64()
                .unwrap_or(-1)
        })
        .collect();
    assert_eq!(vs, vec![1, 9]);
    let letters = json_lines(&dlq);
    let got: Vec<(String, i64)> = letters
        .iter()
        .map(|l| {
            (
                l["dead_letter"].as_str().unwrap_or("").to_string(),
                l["position"]["line"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("malformed_json".to_string(), 2),
            ("wrong_type".to_string(), 3),
            ("invalid_utf8".to_string(), 4),
            ("too_large".to_string(), 5),
        ]
    );
    assert_eq!(letters[3]["raw_truncated"], true);
    assert!(
        letters[0]["raw"]
            .as_str()
            .is_some_and(|r| r.contains("\"v\":3"))
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "2 events processed, 4 dead-lettered (invalid_utf8=1, malformed_json=1, too_large=1, wrong_type=1)"
        ),
        "{stderr}"
    );
}

#[test]
fn the_generator_source_matches_cepheus_gen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = "rules/temperature.epl";
    let generated = cepheus(&args(&["run", rules, "--generate", "temperature:3000"]));
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let gen_out = cepheus(&args(&["gen", "temperature", "3000"]));
    let input = dir.path().join("t.jsonl");
    std::fs::write(&input, &gen_out.stdout).expect("write");
    let from_file = cepheus(&args(&[
        "run",
        rules,
        "--input",
        &input.display().to_string(),
        "--type",
        "TemperatureEvent",
    ]));
    let rows = |o: &Output| -> Vec<String> {
        text(&o.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
                format!("{} {} {}", v["rule"], v["time"], v["row"])
            })
            .collect()
    };
    assert!(!rows(&generated).is_empty());
    assert_eq!(rows(&generated), rows(&from_file));
}

#[test]
fn stdout_table_format_is_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_odd(dir.path(), events(0..4).as_bytes(), &["--format", "table"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Vec<String>> = text(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            args(&["time", "rule", "stream", "row"]),
            args(&["1001", "odd", "insert", "v=1"]),
            args(&["1003", "odd", "insert", "v=3"]),
        ]
    );
}
