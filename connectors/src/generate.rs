//! The reference workloads of `shared/bench/README.md` as JSON lines:
//! deterministic for a seed, event time 1 ms apart.
use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// 2026-01-01T00:00:00Z, the reference generator's default start.
pub const START_MS: i64 = 1_767_225_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Temperature,
    Transfer,
    Trade,
}

impl Kind {
    /// The event type the shipped rules declare for this workload.
    pub fn event_type(self) -> &'static str {
        match self {
            Kind::Temperature => "TemperatureEvent",
            Kind::Transfer => "Transfer",
            Kind::Trade => "Trade",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub seed: u64,
    pub start_ms: i64,
    /// Add `"type":"<EventType>"` to each line (for mixed-type input).
    pub with_type: bool,
    /// Add a counterparty `to` wallet to transfers (the fan-out rule reads it).
    pub counterparty: bool,
    /// Event time between two events (the reference workloads use 1 ms).
    pub step_ms: i64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 7,
            start_ms: START_MS,
            with_type: false,
            counterparty: false,
            step_ms: 1,
        }
    }
}

/// A deterministic stream of one workload's events.
pub struct Generator {
    kind: Kind,
    opts: GenOptions,
    rng: ChaCha8Rng,
    hot: Vec<bool>,
    i: i64,
}

const SENSORS: usize = 1000;
const WALLETS_TRANSFER: u64 = 100_000;
const WALLETS_TRADE: u64 = 50_000;
const TOKENS: u64 = 500;

impl Generator {
    pub fn new(kind: Kind, opts: GenOptions) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut hot = vec![false; SENSORS];
        // 2 % of the sensors run hot.
        for idx in rand::seq::index::sample(&mut rng, SENSORS, SENSORS / 50) {
            hot[idx] = true;
        }
        Generator {
            kind,
            opts,
            rng,
            hot,
            i: 0,
        }
    }

    fn zipf(&mut self, n: u64) -> u64 {
        // Inverse-CDF approximation of a Zipf-like draw over [0, n), as the reference script.
        let u: f64 = self.rng.random();
        ((n as f64).powf(u.powf(1.1)) as u64)
            .saturating_sub(1)
            .min(n - 1)
    }

    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        Normal::new(mean, sd).map_or(mean, |d| d.sample(&mut self.rng))
    }

    /// Writes the next event as one JSON line (with the newline).
    pub fn write_next(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let ts = self.opts.start_ms + self.i * self.opts.step_ms;
        self.i += 1;
        let ty = if self.opts.with_type {
            format!("\"type\":\"{}\",", self.kind.event_type())
        } else {
            String::new()
        };
        match self.kind {
            Kind::Temperature => {
                let s = self.rng.random_range(0..SENSORS);
                let mean = if self.hot[s] { 33.0 } else { 22.0 };
                let t = round(self.normal(mean, 4.0), 2);
                writeln!(
                    out,
                    "{{{ty}\"sensor\":\"s-{s:04}\",\"temperature\":{t:?},\"ts\":{ts}}}"
                )
            }
            Kind::Transfer => {
                let w = wallet(self.zipf(WALLETS_TRANSFER));
                let amount = round(self.normal(4.5, 1.6).exp(), 2);
                if self.opts.counterparty {
                    let to = wallet(self.zipf(WALLETS_TRANSFER));
                    writeln!(
                        out,
                        "{{{ty}\"wallet\":\"{w}\",\"to\":\"{to}\",\"amount\":{amount:?},\"ts\":{ts}}}"
                    )
                } else {
                    writeln!(
                        out,
                        "{{{ty}\"wallet\":\"{w}\",\"amount\":{amount:?},\"ts\":{ts}}}"
                    )
                }
            }
            Kind::Trade => {
                let w = wallet(self.zipf(WALLETS_TRADE));
                let tok = self.zipf(TOKENS);
                let side = if self.rng.random::<f64>() < 0.5 {
                    "buy"
                } else {
                    "sell"
                };
                let usd = round(self.normal(6.0, 2.0).exp(), 2);
                let price = round(1.0 + tok as f64 * 0.37 + self.rng.random::<f64>(), 4);
                writeln!(
                    out,
                    "{{{ty}\"wallet\":\"{w}\",\"token\":\"TKN{tok:03}\",\"side\":\"{side}\",\"amount_usd\":{usd:?},\"price\":{price:?},\"ts\":{ts}}}"
                )
            }
        }
    }
}

fn wallet(index: u64) -> String {
    format!("0x{:08x}", index.wrapping_mul(2_654_435_761) % (1 << 32))
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(kind: Kind, n: usize, seed: u64) -> Vec<String> {
        let mut g = Generator::new(
            kind,
            GenOptions {
                seed,
                ..Default::default()
            },
        );
        let mut buf = Vec::new();
        for _ in 0..n {
            g.write_next(&mut buf).unwrap_or_default();
        }
        String::from_utf8_lossy(&buf)
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn same_seed_same_events_and_time_advances_one_ms() {
        assert_eq!(lines(Kind::Trade, 50, 1), lines(Kind::Trade, 50, 1));
        assert_ne!(lines(Kind::Trade, 50, 1), lines(Kind::Trade, 50, 2));
        let t: Vec<serde_json::Value> = lines(Kind::Temperature, 3, 7)
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[1]["ts"].as_i64().unwrap_or(0) - t[0]["ts"].as_i64().unwrap_or(0),
            1
        );
        assert!(t[0]["sensor"].as_str().is_some_and(|s| s.starts_with("s-")));
    }

    #[test]
    fn hot_sensors_run_hotter() {
        let evs: Vec<serde_json::Value> = lines(Kind::Temperature, 20_000, 7)
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let above_30 = evs
            .iter()
            .filter(|e| e["temperature"].as_f64().unwrap_or(0.0) > 30.0)
            .count();
        // ~2% hot sensors at mean 33 plus the tail of the 22-degree ones: a few percent.
        assert!(above_30 > 100 && above_30 < 2_000, "{above_30}");
    }
}
