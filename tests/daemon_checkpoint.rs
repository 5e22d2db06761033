//! Checkpoints of `cepheus daemon` against the real broker: killed with SIGKILL at random
//! points while events flow and restarted each time, it still delivers every alert of an
//! uninterrupted run of a windowed rule and a pattern rule (duplicates identical, nothing
//! else).
mod daemon_support;
mod kafka_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use daemon_support::*;

const RULES: &str = "create schema TemperatureEvent (sensor string, temperature double, ts long) \
                     starttimestamp ts;\n\
                     @Name('per_sensor') select sensor, count(*) as n, max(temperature) as hi \
                     from TemperatureEvent#time(30 sec) group by sensor;\n\
                     @Name('twice_hot') select a.sensor as sensor, a.ts as first, b.ts as second \
                     from pattern [every a=TemperatureEvent(temperature > 30) -> \
                     b=TemperatureEvent(sensor = a.sensor and temperature > 30) \
                     where timer:within(8 sec)];\n";

const CHUNKS: i64 = 30;
const PER_CHUNK: i64 = 100;
const KILLS: usize = 20;

/// Reading `i`: a unique time (100 ms apart), 10 sensors, about one in four hot.
fn reading(i: i64) -> (String, String) {
    let sensor = format!("s{}", i % 10);
    let t = if (i * 7919) % 4 == 0 { 31.5 } else { 18.0 };
    let line = format!(
        "{{\"sensor\":\"{sensor}\",\"temperature\":{t},\"ts\":{}}}",
        1_767_225_600_000 + i * 100
    );
    (sensor, line)
}

/// A small deterministic generator for the kill points (the seed is printed).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn killed_twenty_times_while_events_flow_it_delivers_exactly_the_alerts_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (topic, group) = (unique("temps"), unique("g"));
    create_topic(&topic, 3);
    let rules = rules_dir(dir.path(), RULES);
    let alerts_file = dir.path().join("alerts.jsonl");
    let checkpoints = dir.path().join("checkpoints").display().to_string();
    let sink = format!("file:{}", alerts_file.display());
    let dead = format!("file:{}", dir.path().join("dead.jsonl").display());
    let args = daemon_args(
        &rules,
        &topic,
        &group,
        &[
            "--idle-timeout",
            "10s",
            "--checkpoint-dir",
            &checkpoints,
            "--checkpoint-interval",
            "300ms",
            "--sink",
            &sink,
            "--dead-letter",
            &dead,
        ],
    );

    let producer_topic = topic.clone();
    let producer = std::thread::spawn(move || {
        for c in 0..CHUNKS {
            let chunk: Vec<(String, String)> =
                (c * PER_CHUNK..(c + 1) * PER_CHUNK).map(reading).collect();
            produce(&producer_topic, &chunk);
            std::thread::sleep(Duration::from_millis(400));
        }
    });
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    eprintln!("kill points seed: {seed}");
    let mut rng = Lcg(seed);
    for k in 0..KILLS {
        let mut d = Daemon::start(&args, &dir.path().join(format!("d{k}.log")));
        // Once it consumes (a killed consumer's partitions come back after its session
        // timeout), at a random point.
        d.wait_until("it consumes", Duration::from_secs(60), |d| {
            d.metric("cepheus_events_in_total", "") > 0.0
        });
        std::thread::sleep(Duration::from_millis(rng.below(1500)));
        d.kill9();
    }
    producer.join().expect("producer");

    // The golden run: the same rules over the whole topic, uninterrupted.
    let golden_file = dir.path().join("golden.jsonl");
    golden_run(&rules, &topic, &golden_file);
    let golden: BTreeSet<String> = alerts_by_id(&golden_file).into_keys().collect();
    let rules_seen: BTreeSet<String> = alerts_by_id(&golden_file)
        .values()
        .filter_map(|v| v["rule"].as_str().map(String::from))
        .collect();
    assert_eq!(rules_seen.len(), 2, "both rules alert in the golden run");
    assert!(golden.len() >= (CHUNKS * PER_CHUNK) as usize);

    // The last restart runs to the end.
    let mut d = Daemon::start(&args, &dir.path().join("final.log"));
    let started = Instant::now();
    let mut delivered = alerts_by_id(&alerts_file);
    while golden.iter().any(|id| !delivered.contains_key(id))
        && started.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(500));
        delivered = alerts_by_id(&alerts_file);
    }
    // It resumed from a checkpoint, not from the beginning of the topic.
    let read = d.metric("cepheus_events_in_total", "");
    assert!(
        d.log_text().contains("Restored from the checkpoint") && read < (CHUNKS * PER_CHUNK) as f64,
        "the last restart read {read} records; log:\n{}",
        d.log_text()
    );
    d.signal("TERM");
    assert!(d.wait_exit(Duration::from_secs(60)).success());
    let delivered: BTreeSet<String> = alerts_by_id(&alerts_file).into_keys().collect();
    let missing: Vec<&String> = golden.difference(&delivered).collect();
    let extra: Vec<&String> = delivered.difference(&golden).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} alerts missing, {} not in the golden run (seed {seed}); e.g. missing {:?}, extra {:?}; \
         final log:\n{}",
        missing.len(),
        extra.len(),
        missing.first(),
        extra.first(),
        d.log_text()
    );
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap_or_default();
    assert!(dead.is_empty(), "no event was late or lost: {dead}");
}
