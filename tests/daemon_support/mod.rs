//! Running `cepheus daemon` against the real broker (tests/kafka_support: a test binary
//! declares both modules), talking to its admin API over plain HTTP, and reading what it
//! produced.
#![allow(dead_code)]

pub use crate::kafka_support::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The golden run: `cepheus run RULES` over the whole topic (TemperatureEvent), uninterrupted,
/// alerts to `out`; stops once the topic is idle for 3 s.
pub fn golden_run(rules: &Path, topic: &str, out: &Path) {
    let run = Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(["run", &rules.display().to_string()])
        .args([
            "--kafka",
            broker(),
            "--topic",
            &format!("{topic}:TemperatureEvent"),
        ])
        .args(["--group", &unique("golden"), "--from-beginning"])
        .args(["--stop-after-idle", "3s"])
        .args(["--sink", &format!("file:{}", out.display())])
        .output()
        .expect("cepheus run");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// A `rules` directory under `dir` holding one file, `t.epl`, with `text`.
pub fn rules_dir(dir: &Path, text: &str) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(rules.join("t.epl"), text).expect("write");
    rules
}

/// A free loopback port for the admin API.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `--rules RULES --kafka BROKER --topic TOPIC:TemperatureEvent --group GROUP
/// --from-beginning` followed by `more`.
pub fn daemon_args(rules: &Path, topic: &str, group: &str, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--rules",
        &rules.display().to_string(),
        "--kafka",
        broker(),
        "--topic",
        &format!("{topic}:TemperatureEvent"),
        "--group",
        group,
        "--from-beginning",
    ]
    .map(String::from)
    .to_vec();
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// A running daemon; its log goes to a file shown when a check fails.
pub struct Daemon {
    pub child: Child,
    pub admin: String,
    pub log: PathBuf,
}

impl Daemon {
    /// `cepheus daemon ARGS --admin 127.0.0.1:PORT`, logging to `log`.
    pub fn start(args: &[String], log: &Path) -> Daemon {
        let port = free_port();
        let admin = format!("127.0.0.1:{port}");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cepheus"))
            .arg("daemon")
            .args(args)
            .args(["--admin", &admin])
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("the cepheus binary starts");
        let d = Daemon {
            child,
            admin,
            log: log.to_path_buf(),
        };
        d.wait_until("the admin API answers", Duration::from_secs(60), |d| {
            d.get("/healthz").0 == 200
        });
        d
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `check` until it holds; panics with the log after `timeout`.
    pub fn wait_until(&self, what: &str, timeout: Duration, check: impl Fn(&Daemon) -> bool) {
        let started = Instant::now();
        while !check(self) {
            assert!(
                started.elapsed() < timeout,
                "timed out waiting until {what}; daemon log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(&self.admin, "GET", path, None)
    }

    pub fn post(&self, path: &str) -> (u16, String) {
        http(&self.admin, "POST", path, None)
    }

    pub fn rules(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/rules").1).unwrap_or_default()
    }

    /// One sample of `/metrics`, e.g. `cepheus_events_processed_total`, summed over labels
    /// that contain `labels`.
    pub fn metric(&self, name: &str, labels: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        parse_prometheus(&text)
            .into_iter()
            .filter(|(n, l, _)| n == name && l.contains(labels))
            .map(|(_, _, v)| v)
            .sum()
    }

    /// Sends a signal (`TERM`, `HUP`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} failed");
    }

    /// Waits for the process to exit (panics with the log after `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                started.elapsed() < timeout,
                "the daemon did not exit; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A minimal HTTP/1.1 request (connection closed after it): status and body.
pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(150)));
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// Opens `/tap/{rule}` and returns the first `n` `data:` lines (server-sent events).
pub fn tap(addr: &str, rule: &str, n: usize, timeout: Duration) -> Vec<String> {
    let mut s = TcpStream::connect(addr).expect("connect");
    let _ = s.set_read_timeout(Some(timeout));
    let req =
        format!("GET /tap/{rule} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    s.write_all(req.as_bytes()).expect("request");
    let mut rows = Vec::new();
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        if let Some(data) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
            rows.push(data.to_string());
            if rows.len() >= n {
                break;
            }
        }
    }
    rows
}

/// Prometheus text format: `(name, labels, value)` per sample; panics on a malformed line.
pub fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP") | Some(&"TYPE")) && words.len() >= 3,
                "bad comment line: {line}"
            );
            if words[0] == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&words[2]),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                assert!(l.ends_with('}'), "unclosed labels: {line}");
                (n, l.trim_end_matches('}'))
            }
            None => (series, ""),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        for pair in split_labels(labels) {
            let (k, v) = pair.split_once('=').expect("label=value");
            assert!(
                !k.is_empty() && v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                "bad label: {line}"
            );
        }
        out.push((name.to_string(), labels.to_string(), value));
    }
    out
}

/// Splits `a="x",b="y,z"` at commas outside quotes.
fn split_labels(labels: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in labels.chars() {
        match c {
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => {
                if c == '"' && !escaped {
                    quoted = !quoted;
                }
                escaped = c == '\\' && !escaped;
                cur.push(c);
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Alert lines of a file sink, by alert id (every duplicate must be identical).
pub fn alerts_by_id(path: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut by_id = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("alert JSON");
        let id = v["alert_id"].as_str().unwrap_or("").to_string();
        if let Some(prev) = by_id.insert(id.clone(), v.clone()) {
            assert_eq!(prev, v, "a duplicate of {id} differs");
        }
    }
    by_id
}
