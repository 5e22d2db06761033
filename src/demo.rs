//! `cepheus demo`: the shipped rules over generated events of the three
//! domains, with a few scripted incidents mixed in so every rule has
//! something to say. Needs nothing but the binary.
use std::collections::BTreeMap;
use std::process::ExitCode;

use cepheus_connectors::generate::{GenOptions, Generator, Kind, START_MS};
use cepheus_connectors::jsonl::JsonLinesDecoder;
use cepheus_engine::{Engine, EventTime, TypeRegistry};

/// The shipped rule files, embedded so the demo runs from any directory.
const RULES: [(&str, &str); 3] = [
    (
        "rules/temperature.epl",
        include_str!("../rules/temperature.epl"),
    ),
    ("rules/wallets.epl", include_str!("../rules/wallets.epl")),
    ("rules/trades.epl", include_str!("../rules/trades.epl")),
];

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Events generated per domain.
    #[arg(long, default_value_t = 12_000)]
    events: usize,
    /// Alerts printed per rule before the rest are only counted.
    #[arg(long, default_value_t = 3)]
    show: usize,
}

/// Event time between two generated events of one domain: 12,000 events
/// span 20 minutes, enough for the 10-minute rules.
const STEP_MS: i64 = 100;

pub fn run(args: DemoArgs) -> ExitCode {
    let mut registry = TypeRegistry::default();
    let mut bound_all = cepheus_engine::BoundScript::default();
    for (file, text) in RULES {
        match crate::rules::load_text(file, text, &registry) {
            Ok(b) => {
                registry = b.registry.clone();
                bound_all.registry = b.registry;
                bound_all.statements.extend(b.statements);
            }
            Err(diags) => {
                for d in diags {
                    eprintln!("{}", d.render());
                }
                return ExitCode::from(1);
            }
        }
    }
    let mut decoder = match JsonLinesDecoder::new(registry, None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut engine = match Engine::new(bound_all, EventTime(START_MS)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let lines = event_lines(args.events);
    println!(
        "cepheus demo: {} events (temperature, transfers, trades) through rules/*.epl\n",
        lines.len()
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut deliveries = Vec::new();
    let mut print = |engine: &Engine, deliveries: &mut Vec<cepheus_engine::Delivery>| {
        for d in deliveries.drain(..) {
            let plan = engine.plan(d.statement);
            if !plan.alerts {
                continue; // an intermediate stream, not an alert
            }
            for row in &d.output.insert {
                let n = counts.entry(plan.name.clone()).or_default();
                *n += 1;
                if *n <= args.show {
                    let cols: Vec<String> = plan
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| format!("{}={}", c.name, v))
                        .collect();
                    println!(
                        "{}  {:<28} {}",
                        format_time(d.time),
                        plan.name,
                        cols.join(" ")
                    );
                }
            }
        }
    };
    for line in &lines {
        match decoder.decode(line) {
            Ok(Some(ev)) => {
                let t = ev.time.unwrap_or(engine.now());
                engine.advance_to(t, &mut deliveries);
                engine.send(&ev.ty, ev.fields, &mut deliveries);
                print(&engine, &mut deliveries);
            }
            Ok(None) => {}
            Err(e) => eprintln!("demo: generated a bad event ({e}): {line}"),
        }
    }
    println!("\nalerts per rule:");
    for s in engine.statements() {
        if s.plan.alerts {
            println!(
                "  {:<28} {:>6}",
                s.plan.name,
                counts.get(&s.plan.name).copied().unwrap_or(0)
            );
        }
    }
    ExitCode::SUCCESS
}

fn format_time(t: EventTime) -> String {
    chrono::DateTime::from_timestamp_millis(t.0)
        .map_or_else(|| t.0.to_string(), |d| d.format("%H:%M:%S%.3f").to_string())
}

/// Generated events of the three domains interleaved by time, plus scripted incidents.
fn event_lines(per_domain: usize) -> Vec<String> {
    let mut out: Vec<(i64, String)> = Vec::new();
    for (i, kind) in [Kind::Temperature, Kind::Transfer, Kind::Trade]
        .into_iter()
        .enumerate()
    {
        let opts = GenOptions {
            with_type: true,
            counterparty: true,
            step_ms: STEP_MS,
            seed: 7 + i as u64,
            ..Default::default()
        };
        let mut g = Generator::new(kind, opts);
        let mut buf = Vec::new();
        for _ in 0..per_domain {
            if g.write_next(&mut buf).is_err() {
                break;
            }
        }
        for line in String::from_utf8_lossy(&buf).lines() {
            let ts = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["ts"].as_i64())
                .unwrap_or(0);
            out.push((ts, line.to_string()));
        }
    }
    let at = |sec: f64| START_MS + (sec * 1000.0) as i64;
    let mut script = |ts: i64, line: String| out.push((ts, line));
    // A broken probe, a spike and a sensor that goes quiet.
    script(at(60.0), temp("s-lab-1", 212.0, at(60.0)));
    script(at(90.0), temp("s-lab-2", 21.0, at(90.0)));
    script(at(120.0), temp("s-lab-3", 20.0, at(120.0)));
    script(at(150.0), temp("s-lab-3", 35.5, at(150.0)));
    // A whale accumulating and a quick flip.
    for (k, sec) in [200.0, 320.0, 440.0].into_iter().enumerate() {
        script(
            at(sec),
            trade(
                "0xwhale01",
                "TKN042",
                "buy",
                150_000.0 + k as f64 * 1000.0,
                at(sec),
            ),
        );
    }
    script(
        at(500.0),
        trade("0xflipper", "TKN007", "buy", 250_000.0, at(500.0)),
    );
    script(
        at(530.0),
        trade("0xflipper", "TKN007", "sell", 240_000.0, at(530.0)),
    );
    // A quiet token: one small trade a minute, then a burst.
    for m in 0..15 {
        script(
            at(30.0 + 60.0 * m as f64),
            trade(
                "0xsteady",
                "TKNQUIET",
                "buy",
                1_000.0,
                at(30.0 + 60.0 * m as f64),
            ),
        );
    }
    for k in 0..5 {
        script(
            at(930.0 + k as f64),
            trade("0xburst", "TKNQUIET", "buy", 20_000.0, at(930.0 + k as f64)),
        );
    }
    // Structuring: 25 small transfers in 50 seconds.
    for k in 0..25 {
        let t = at(700.0 + 2.0 * k as f64);
        script(
            t,
            format!(
                "{{\"type\":\"Transfer\",\"wallet\":\"0xsmurf01\",\"to\":\"0xmule{k:02}\",\"amount\":95.0,\"ts\":{t}}}"
            ),
        );
    }
    out.sort_by_key(|(ts, _)| *ts);
    out.into_iter().map(|(_, l)| l).collect()
}

fn temp(sensor: &str, t: f64, ts: i64) -> String {
    format!(
        "{{\"type\":\"TemperatureEvent\",\"sensor\":\"{sensor}\",\"temperature\":{t:?},\"ts\":{ts}}}"
    )
}

fn trade(wallet: &str, token: &str, side: &str, usd: f64, ts: i64) -> String {
    format!(
        "{{\"type\":\"Trade\",\"wallet\":\"{wallet}\",\"token\":\"{token}\",\"side\":\"{side}\",\"amount_usd\":{usd:?},\"price\":1.0,\"ts\":{ts}}}"
    )
}
