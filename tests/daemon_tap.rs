//! `/tap` never slows the pipeline: a watcher that stops reading misses rows (counted in
//! `cepheus_tap_dropped_total`) while the daemon goes on at full speed, and other watchers
//! still get rows.
mod daemon_support;
mod kafka_support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use daemon_support::*;
use socket2::{Domain, Socket, Type};

const RULES: &str = "create schema TemperatureEvent (sensor string, temperature double, ts long) \
                     starttimestamp ts;\n\
                     @Name('per_sensor') select sensor, avg(temperature) as avg_t, count(*) as n \
                     from TemperatureEvent#time(1 min) group by sensor;\n";

fn readings(from: i64, n: i64) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let sensor = format!("s{}", i % 7);
            let line = format!(
                "{{\"sensor\":\"{sensor}\",\"temperature\":{},\"ts\":{}}}",
                20 + i % 13,
                1_767_225_600_000 + i * 100
            );
            (sensor, line)
        })
        .collect()
}

/// Opens `/tap/{rule}` with a tiny receive buffer and never reads from it.
fn stalled_watcher(admin: &str, rule: &str) -> TcpStream {
    let addr: SocketAddr = admin.parse().expect("admin address");
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    socket.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    let req =
        format!("GET /tap/{rule} HTTP/1.1\r\nHost: {admin}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(req.as_bytes()).expect("request");
    stream
}

#[test]
fn a_watcher_that_stops_reading_loses_rows_and_never_holds_the_pipeline_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (topic, group) = (unique("temps"), unique("g"));
    create_topic(&topic, 1);
    let rules = rules_dir(dir.path(), RULES);
    let sink = format!("file:{}", dir.path().join("alerts.jsonl").display());
    let args = daemon_args(&rules, &topic, &group, &["--sink", &sink]);
    let d = Daemon::start(&args, &dir.path().join("daemon.log"));

    let stalled = stalled_watcher(&d.admin, "per_sensor");
    // Give the admin API a moment to register the watcher before the rows flow.
    std::thread::sleep(Duration::from_millis(500));
    // Every event makes one row (its sensor's new average): 30,000 rows, about 5 MB of
    // server-sent events, far more than the watcher's buffer and the socket buffers hold.
    const EVENTS: i64 = 30_000;
    produce(&topic, &readings(0, EVENTS));
    d.wait_until(
        "every event is processed although a watcher reads nothing",
        Duration::from_secs(120),
        |d| d.metric("cepheus_events_processed_total", "") >= EVENTS as f64,
    );
    assert!(
        d.metric("cepheus_alerts_delivered_total", "sink=\"file:") >= EVENTS as f64,
        "{}",
        d.log_text()
    );
    assert!(
        d.metric("cepheus_tap_dropped_total", "") > 0.0,
        "the stalled watcher should have missed rows; log:\n{}",
        d.log_text()
    );

    // Another watcher still gets the rows of new events.
    let admin = d.admin.clone();
    let watcher = std::thread::spawn(move || tap(&admin, "per_sensor", 3, Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(500));
    produce(&topic, &readings(EVENTS, 20));
    let rows = watcher.join().expect("tap thread");
    assert_eq!(rows.len(), 3, "{}", d.log_text());
    for row in &rows {
        let v: serde_json::Value = serde_json::from_str(row).expect("tap rows are alerts");
        assert_eq!(v["rule"], "per_sensor");
    }
    drop(stalled);
}
