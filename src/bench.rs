//! `cepheus bench`: the reference queries of shared/bench/README.md through
//! the engine, next to hand-written single-purpose loops, in the same run.
use std::collections::{HashMap, VecDeque};
use std::process::ExitCode;
use std::time::Instant;

use cepheus_connectors::generate::{GenOptions, Generator, Kind};
use cepheus_connectors::jsonl::JsonLinesDecoder;
use cepheus_engine::{BoundScript, Delivery, Engine, EventFields, EventTime, TypeRegistry, Value};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Events per query.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Run only the queries whose name starts with this (`Q1`, `Q3`, `grouped`), for profiling.
    #[arg(long)]
    only: Option<String>,
}

const Q1: &str = "create schema TemperatureEvent(sensor string, temperature double, ts long) starttimestamp ts;\n\
    select sensor, avg(temperature) as avgTemp from TemperatureEvent#time(5 min) group by sensor having avg(temperature) > 30;";
const Q2: &str = "create schema Transfer(wallet string, amount double, ts long) starttimestamp ts;\n\
    select wallet, sum(amount) as total from Transfer#time_batch(5 min) group by wallet having sum(amount) > 10000;";
const Q3: &str = "create schema Trade(wallet string, token string, side string, amount_usd double, price double, ts long) starttimestamp ts;\n\
    select a.wallet as wallet_a, a.token as token, b.wallet as wallet_b from pattern [every a=Trade(amount_usd > 50000) -> b=Trade(token = a.token and side != a.side and amount_usd > 50000) where timer:within(60 sec)];";
/// The pre-decoded query over `events` events: 1,000 groups (`p0`), values
/// `p1` of 0..7 (3 per event on average). The threshold is reached in each
/// group's last ~1 % of events, so the query emits rows (about 1 % of events,
/// as an alerting rule would) and the hand loop can check their number.
fn q_pre(events: u64) -> (String, i64) {
    let threshold = (events as i64 * 3 / 1000) * 99 / 100;
    let epl = format!(
        "create schema E(p0 long, p1 long);\nselect p0, sum(p1) as s from E group by p0 having sum(p1) > {threshold};"
    );
    (epl, threshold)
}

/// The pre-decoded event `i`: its group and value.
fn predecoded(i: i64) -> (i64, i64) {
    (i % 1000, i % 7)
}

/// What one run of a query produced: its rows, and a digest of their values
/// that does not depend on their order (a wrapping sum of one hash per row),
/// so that the engine and a hand-written loop must agree on every value, to
/// the bit, and not only on how many rows there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Outcome {
    rows: u64,
    digest: u64,
}

/// One column of an output row, as both sides hash it: numbers as doubles
/// (every bench column is a double or a string).
enum Cell<'a> {
    Str(&'a str),
    Num(f64),
    Other,
}

impl Outcome {
    fn add_row<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same digest in every run.
        let mut h = std::hash::DefaultHasher::new();
        for cell in cells {
            match cell {
                Cell::Str(s) => (0u8, s).hash(&mut h),
                Cell::Num(f) => (1u8, f.to_bits()).hash(&mut h),
                Cell::Other => 2u8.hash(&mut h),
            }
        }
        self.rows += 1;
        self.digest = self.digest.wrapping_add(h.finish());
    }

    /// An engine row.
    fn add_values(&mut self, row: &[Value]) {
        self.add_row(row.iter().map(|v| match v {
            Value::Str(s) => Cell::Str(s),
            Value::Float(f) => Cell::Num(*f),
            Value::Int(i) => Cell::Num(*i as f64),
            _ => Cell::Other,
        }));
    }
}

pub fn run(args: BenchArgs) -> ExitCode {
    println!(
        "cepheus bench: {} events per query, median of {} runs (engine and hand loop fed by turns, {CHUNK_EVENTS} events at a time, each going first in turn; ratio = median of per-run ratios), one core, per second of CPU time\n",
        args.events, args.runs
    );
    println!(
        "{:<34} {:>14} {:>14} {:>8} {:>9}",
        "query", "engine ev/s", "hand ev/s", "ratio", "rows"
    );
    for (name, kind, epl, hand) in [
        (
            "Q1 temperature #time(5 min)",
            Kind::Temperature,
            Q1,
            (|| Hand::Q1(HandQ1::default())) as fn() -> Hand,
        ),
        (
            "Q2 transfers #time_batch(5 min)",
            Kind::Transfer,
            Q2,
            || Hand::Q2(HandQ2::default()),
        ),
        ("Q3 large-trade pattern", Kind::Trade, Q3, || {
            Hand::Q3(HandQ3::default())
        }),
    ] {
        if !selected(&args, name) {
            continue;
        }
        let data = generate(kind, args.events);
        let pair = paired(
            args.runs,
            || EngineRun::new(epl, kind.event_type()),
            hand,
            &chunks(&data),
            args.events,
        );
        let Paired {
            engine: (e_rate, e_rows),
            hand: (h_rate, h_rows),
            ratio,
        } = pair;
        if e_rows != h_rows {
            eprintln!(
                "bench: {name}: engine produced {} rows (digest {:016x}), the hand-written loop {} (digest {:016x}): they disagree",
                e_rows.rows, e_rows.digest, h_rows.rows, h_rows.digest
            );
            return ExitCode::from(1);
        }
        println!(
            "{name:<34} {e_rate:>14.0} {h_rate:>14.0} {:>7.0}% {:>9}",
            100.0 * ratio,
            e_rows.rows
        );
    }
    let name = "decode only (Q1 lines)";
    if args
        .only
        .as_deref()
        .is_some_and(|o| name.starts_with(&o.to_lowercase()))
    {
        let data = generate(Kind::Temperature, args.events);
        let Paired {
            engine: (e_rate, e_rows),
            hand: (h_rate, h_rows),
            ratio,
        } = paired(
            args.runs,
            || Counted::new(q1_decoder(), decode_only),
            || Counted::new((), hand_decode_only),
            &chunks(&data),
            args.events,
        );
        println!(
            "{name:<34} {e_rate:>14.0} {h_rate:>14.0} {:>7.0}% {:>9}",
            100.0 * ratio,
            e_rows.min(h_rows)
        );
    }
    let name = "grouped having, pre-decoded";
    if selected(&args, name) {
        // The target is absolute (events/s); the hand loop, with nothing to
        // decode, only checks the rows.
        let (rate, rows) = median(args.runs, || engine_predecoded(args.events), args.events);
        let expected = hand_predecoded(args.events);
        if rows != expected {
            eprintln!(
                "bench: {name}: engine produced {rows} rows, the hand-written loop {expected}: they disagree"
            );
            return ExitCode::from(1);
        }
        println!("{name:<34} {rate:>14.0} {:>14} {:>8} {rows:>9}", "-", "-");
    }
    println!("\npeak RSS of this process: {} MiB", peak_rss_kib() / 1024);
    ExitCode::SUCCESS
}

fn selected(args: &BenchArgs, name: &str) -> bool {
    args.only
        .as_deref()
        .is_none_or(|o| name.to_lowercase().starts_with(&o.to_lowercase()))
}

fn generate(kind: Kind, n: u64) -> Vec<u8> {
    let mut g = Generator::new(kind, GenOptions::default());
    let mut buf = Vec::with_capacity(n as usize * 80);
    for _ in 0..n {
        let _ = g.write_next(&mut buf);
    }
    buf
}

/// The engine and the hand-written loop, fed the same data a chunk at a
/// time and taking turns chunk by chunk (each going first in turn), each
/// keeping its state from chunk to chunk: both see the same machine, also
/// when a shared machine's speed changes from one second to the next (two
/// whole runs one after the other saw it change by up to ten points). Each
/// side's rate is its events over the CPU time it spent on its chunks; the
/// ratio is the median of the runs' ratios.
struct Paired<R> {
    engine: (f64, R),
    hand: (f64, R),
    ratio: f64,
}

/// Events per chunk: long enough that a turn's cache misses (each side
/// finding its data evicted by the other's) cost well under 1 %.
const CHUNK_EVENTS: usize = 100_000;

/// One side of a pair: fed whole lines, a chunk at a time.
trait Fed {
    type Out;
    fn feed(&mut self, lines: &[u8]);
    fn finish(self) -> Self::Out;
}

fn paired<E: Fed, H: Fed<Out = E::Out>>(
    runs: usize,
    mut engine: impl FnMut() -> E,
    mut hand: impl FnMut() -> H,
    chunks: &[&[u8]],
    events: u64,
) -> Paired<E::Out>
where
    E::Out: Copy + Default,
{
    let (mut e_rates, mut h_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut e_rows, mut h_rows) = (E::Out::default(), E::Out::default());
    for run in 0..runs.max(1) {
        let (mut e, mut h) = (engine(), hand());
        let (mut e_secs, mut h_secs) = (0.0, 0.0);
        for (i, chunk) in chunks.iter().enumerate() {
            if (i + run) % 2 == 0 {
                e_secs += cpu_seconds(|| e.feed(chunk));
                h_secs += cpu_seconds(|| h.feed(chunk));
            } else {
                h_secs += cpu_seconds(|| h.feed(chunk));
                e_secs += cpu_seconds(|| e.feed(chunk));
            }
        }
        (e_rows, h_rows) = (e.finish(), h.finish());
        let (e, h) = (events as f64 / e_secs, events as f64 / h_secs);
        e_rates.push(e);
        h_rates.push(h);
        ratios.push(e / h);
    }
    Paired {
        engine: (middle(e_rates), e_rows),
        hand: (middle(h_rates), h_rows),
        ratio: middle(ratios),
    }
}

/// `data` cut into chunks of [`CHUNK_EVENTS`] whole lines.
fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(CHUNK_EVENTS - 1)
            .map_or(rest.len(), |(i, _)| i + 1);
        let (chunk, tail) = rest.split_at(end);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Seconds of this thread's CPU time `f` took (so that time the shared
/// machine gives to other processes is not counted), or of wall time where
/// the kernel does not report it.
fn cpu_seconds(f: impl FnOnce()) -> f64 {
    let (start, cpu_start) = (Instant::now(), thread_cpu_nanos());
    f();
    match (cpu_start, thread_cpu_nanos()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => start.elapsed().as_secs_f64(),
    }
}

fn middle(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median rate of `runs` runs of `f`, in events per second of CPU time
/// (see [`cpu_seconds`]).
fn median<R: Copy + Default>(runs: usize, mut f: impl FnMut() -> R, events: u64) -> (f64, R) {
    let mut rates = Vec::new();
    let mut rows = R::default();
    for _ in 0..runs.max(1) {
        rates.push(events as f64 / cpu_seconds(|| rows = f()));
    }
    (middle(rates), rows)
}

/// The engine's side: the rules loaded, the decoder, and the engine once
/// the first event gave it a start time.
struct EngineRun {
    /// None when the rules did not load or the engine did not start: then
    /// there are no rows (and the bench reports a disagreement).
    decoder: Option<JsonLinesDecoder>,
    bound: Option<BoundScript>,
    engine: Option<Engine>,
    /// Where the decoder writes each event's fields, handed to the engine.
    fields: EventFields,
    out: Vec<Delivery>,
    outcome: Outcome,
}

impl EngineRun {
    fn new(epl: &str, type_name: &str) -> EngineRun {
        let bound = crate::rules::load_text("bench.epl", epl, &TypeRegistry::default()).ok();
        let decoder = bound
            .as_ref()
            .and_then(|b| JsonLinesDecoder::new(b.registry.clone(), Some(type_name)).ok());
        EngineRun {
            decoder,
            bound,
            engine: None,
            fields: EventFields::new(),
            out: Vec::new(),
            outcome: Outcome::default(),
        }
    }
}

impl Fed for EngineRun {
    type Out = Outcome;
    fn feed(&mut self, lines: &[u8]) {
        engine_json(self, lines);
    }
    fn finish(self) -> Outcome {
        match self.decoder {
            Some(_) => self.outcome,
            None => Outcome::default(),
        }
    }
}

// Not inlined, so profilers (`valgrind --toggle-collect`) can pick it out.
#[inline(never)]
fn engine_json(run: &mut EngineRun, data: &[u8]) {
    let EngineRun {
        decoder: Some(decoder),
        bound,
        engine,
        fields,
        out,
        outcome,
    } = run
    else {
        return;
    };
    for line in data.split(|b| *b == b'\n') {
        let Ok(Some(head)) = decoder.decode_bytes_into(line, fields) else {
            continue;
        };
        let t = head.time.unwrap_or_default();
        let engine = match engine {
            Some(e) => e,
            None => match bound.take().map(|b| Engine::new(b, t)) {
                Some(Ok(e)) => engine.insert(e),
                _ => {
                    run.decoder = None;
                    return;
                }
            },
        };
        engine.advance_to(t, out);
        engine.send(&head.ty, &mut *fields, out);
        if out.is_empty() {
            continue;
        }
        for delivery in out.drain(..) {
            for row in &delivery.output.insert {
                outcome.add_values(row);
            }
        }
    }
}

/// A side that counts what a function gives for each chunk, from state
/// kept across chunks.
struct Counted<S> {
    state: S,
    count: fn(&mut S, &[u8]) -> u64,
    total: u64,
}

impl<S> Counted<S> {
    fn new(state: S, count: fn(&mut S, &[u8]) -> u64) -> Counted<S> {
        Counted {
            state,
            count,
            total: 0,
        }
    }
}

impl<S> Fed for Counted<S> {
    type Out = u64;
    fn feed(&mut self, lines: &[u8]) {
        self.total += (self.count)(&mut self.state, lines);
    }
    fn finish(self) -> u64 {
        self.total
    }
}

/// The engine's decoder of Q1's lines (none if Q1 did not load).
fn q1_decoder() -> Option<JsonLinesDecoder> {
    let bound = crate::rules::load_text("bench.epl", Q1, &TypeRegistry::default()).ok()?;
    JsonLinesDecoder::new(bound.registry, Some("TemperatureEvent")).ok()
}

/// The engine's decoding alone (`--only decode`, not part of the default run).
#[inline(never)]
fn decode_only(decoder: &mut Option<JsonLinesDecoder>, data: &[u8]) -> u64 {
    let Some(decoder) = decoder else {
        return 0;
    };
    data.split(|b| *b == b'\n')
        .filter_map(|l| decoder.decode_bytes(l).ok().flatten())
        .map(|e| u64::from(e.time.is_some()))
        .sum()
}

#[inline(never)]
fn hand_decode_only(_: &mut (), data: &[u8]) -> u64 {
    data.split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Reading>(l).ok())
        .map(|r| u64::from(r.ts >= 0))
        .sum()
}

/// Pre-decoded events: each event's two integer values are made in the loop,
/// as a source hands them over one at a time (a few instructions per event);
/// not read back from a 300 MB array built beforehand, which measured the
/// memory bus more than the engine.
#[inline(never)]
fn engine_predecoded(events: u64) -> u64 {
    let (epl, _) = q_pre(events);
    let Ok(bound) = crate::rules::load_text("bench.epl", &epl, &TypeRegistry::default()) else {
        return 0;
    };
    let Some(ty) = bound.registry.get("E").cloned() else {
        return 0;
    };
    let Ok(mut engine) = Engine::new(bound, EventTime(0)) else {
        return 0;
    };
    let mut out = Vec::new();
    let mut rows = 0u64;
    for i in 0..events as i64 {
        let (p0, p1) = predecoded(i);
        let mut fields = EventFields::new();
        fields.push(Value::Int(p0));
        fields.push(Value::Int(p1));
        engine.send(&ty, fields, &mut out);
        rows += out
            .drain(..)
            .map(|d| d.output.insert.len() as u64)
            .sum::<u64>();
    }
    rows
}

/// The pre-decoded query by hand: a running sum per group, a row whenever
/// the arriving event's group is above the threshold.
#[inline(never)]
fn hand_predecoded(events: u64) -> u64 {
    let (_, threshold) = q_pre(events);
    let mut sums = vec![0i64; 1000];
    let mut rows = 0u64;
    for i in 0..events as i64 {
        let (p0, p1) = predecoded(i);
        let sum = &mut sums[p0 as usize];
        *sum += p1;
        if *sum > threshold {
            rows += 1;
        }
    }
    rows
}

#[derive(serde::Deserialize)]
struct Reading<'a> {
    #[serde(borrow)]
    sensor: std::borrow::Cow<'a, str>,
    temperature: f64,
    ts: i64,
}

/// The hand-written loops' state, carried from chunk to chunk.
enum Hand {
    Q1(HandQ1),
    Q2(HandQ2),
    Q3(HandQ3),
}

impl Fed for Hand {
    type Out = Outcome;
    fn feed(&mut self, lines: &[u8]) {
        match self {
            Hand::Q1(s) => hand_q1(s, lines),
            Hand::Q2(s) => hand_q2(s, lines),
            Hand::Q3(s) => hand_q3(s, lines),
        }
    }
    fn finish(self) -> Outcome {
        match self {
            Hand::Q1(s) => s.out,
            Hand::Q2(s) => s.out,
            Hand::Q3(s) => s.out,
        }
    }
}

#[derive(Default)]
struct HandQ1 {
    window: VecDeque<(i64, u32, f64)>,
    ids: HashMap<String, u32>,
    names: Vec<String>,
    agg: Vec<(f64, u64)>,
    out: Outcome,
}

/// Q1 by hand: per-sensor sliding 5-minute sum and count, expiring in time order.
#[inline(never)]
fn hand_q1(state: &mut HandQ1, data: &[u8]) {
    const T: i64 = 300_000;
    let HandQ1 {
        window,
        ids,
        names,
        agg,
        out,
    } = state;
    let post = |out: &mut Outcome, name: &str, (sum, n): (f64, u64)| {
        if n > 0 && sum / n as f64 > 30.0 {
            out.add_row([Cell::Str(name), Cell::Num(sum / n as f64)]);
        }
    };
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(r) = serde_json::from_slice::<Reading>(line) else {
            continue;
        };
        while let Some(&(t0, _, _)) = window.front() {
            if t0 + T > r.ts {
                break;
            }
            // All events expiring at t0 leave together; each touched sensor posts once.
            let mut touched: Vec<u32> = Vec::new();
            while let Some(&(t, s, v)) = window.front() {
                if t != t0 {
                    break;
                }
                window.pop_front();
                agg[s as usize].0 -= v;
                agg[s as usize].1 -= 1;
                if agg[s as usize].1 == 0 {
                    // An emptied group is gone: it starts again from zero.
                    agg[s as usize].0 = 0.0;
                }
                if !touched.contains(&s) {
                    touched.push(s);
                }
            }
            for s in touched {
                post(out, &names[s as usize], agg[s as usize]);
            }
        }
        let next = ids.len() as u32;
        let id = *ids.entry(r.sensor.into_owned()).or_insert_with_key(|name| {
            names.push(name.clone());
            next
        });
        if id as usize == agg.len() {
            agg.push((0.0, 0));
        }
        agg[id as usize].0 += r.temperature;
        agg[id as usize].1 += 1;
        window.push_back((r.ts, id, r.temperature));
        post(out, &names[id as usize], agg[id as usize]);
    }
}

#[derive(serde::Deserialize)]
struct TransferRow<'a> {
    #[serde(borrow)]
    wallet: std::borrow::Cow<'a, str>,
    amount: f64,
    ts: i64,
}

#[derive(Default)]
struct HandQ2 {
    next_flush: Option<i64>,
    ids: HashMap<String, u32>,
    names: Vec<String>,
    /// Per wallet: sum, count, and the last flush that listed it.
    sums: Vec<(f64, u64, u64)>,
    /// The batch being collected and the previous one: (wallet id, amount).
    current: Vec<(u32, f64)>,
    previous: Vec<(u32, f64)>,
    flushes: u64,
    changed: Vec<u32>,
    out: Outcome,
}

/// Q2 by hand: 5-minute batches anchored at the first event. Sums as Esper
/// keeps them: a batch's amounts are added as they arrive and subtracted,
/// in the same order, when the batch leaves at the next flush (the engine
/// must give Esper's sums to the bit, which a sum restarted from zero at
/// each batch does not). At a flush, the wallets of this and the previous
/// batch post their sums.
#[inline(never)]
fn hand_q2(state: &mut HandQ2, data: &[u8]) {
    const T: i64 = 300_000;
    let HandQ2 {
        next_flush,
        ids,
        names,
        sums,
        current,
        previous,
        flushes,
        changed,
        out,
    } = state;
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(r) = serde_json::from_slice::<TransferRow>(line) else {
            continue;
        };
        while let Some(f) = next_flush.filter(|f| *f <= r.ts) {
            *flushes += 1;
            changed.clear();
            for &(id, _) in current.iter().chain(previous.iter()) {
                let listed = &mut sums[id as usize].2;
                if *listed != *flushes {
                    *listed = *flushes;
                    changed.push(id);
                }
            }
            for &(id, amount) in previous.iter() {
                let (sum, n, _) = &mut sums[id as usize];
                *sum -= amount;
                *n -= 1;
                if *n == 0 {
                    // An emptied group is gone: it starts again from zero.
                    *sum = 0.0;
                }
            }
            for &id in changed.iter() {
                let (sum, n, _) = sums[id as usize];
                if n > 0 && sum > 10_000.0 {
                    out.add_row([Cell::Str(&names[id as usize]), Cell::Num(sum)]);
                }
            }
            std::mem::swap(current, previous);
            current.clear();
            *next_flush = (!previous.is_empty()).then_some(f + T);
        }
        next_flush.get_or_insert(r.ts + T);
        let next = ids.len() as u32;
        let id = *ids.entry(r.wallet.into_owned()).or_insert_with_key(|name| {
            names.push(name.clone());
            next
        });
        if id as usize == sums.len() {
            sums.push((0.0, 0, 0));
        }
        sums[id as usize].0 += r.amount;
        sums[id as usize].1 += 1;
        current.push((id, r.amount));
    }
}

#[derive(serde::Deserialize)]
struct TradeRow<'a> {
    #[serde(borrow)]
    wallet: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    token: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    side: std::borrow::Cow<'a, str>,
    amount_usd: f64,
    ts: i64,
}

#[derive(Default)]
struct HandQ3 {
    /// Per token: waiting (start time, side is buy, wallet), oldest first.
    waiting: HashMap<String, Vec<(i64, bool, String)>>,
    out: Outcome,
}

/// Q3 by hand: large trades wait per token for 60 s; a later large trade of
/// the same token on the other side completes (and ends) every waiting one,
/// then starts its own wait.
#[inline(never)]
fn hand_q3(state: &mut HandQ3, data: &[u8]) {
    const WITHIN: i64 = 60_000;
    let HandQ3 { waiting, out } = state;
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(r) = serde_json::from_slice::<TradeRow>(line) else {
            continue;
        };
        if r.amount_usd <= 50_000.0 {
            continue;
        }
        let buy = r.side == "buy";
        let list = waiting.entry(r.token.to_string()).or_default();
        // An instance started at s is over once time reaches s + 60 s.
        list.retain(|(start, side, wallet)| {
            if start + WITHIN <= r.ts {
                return false;
            }
            if *side != buy {
                out.add_row([Cell::Str(wallet), Cell::Str(&r.token), Cell::Str(&r.wallet)]);
                return false;
            }
            true
        });
        list.push((r.ts, buy, r.wallet.into_owned()));
    }
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`).
fn thread_cpu_nanos() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of a pair are fed the same chunks, so a chunk that lost or
    /// split a line would not show as a disagreement: the chunks are the
    /// data, in order, cut only after a newline, at most CHUNK_EVENTS lines each.
    #[test]
    fn chunks_are_the_data_cut_between_lines() {
        for lines in [0, 1, CHUNK_EVENTS - 1, CHUNK_EVENTS, 2 * CHUNK_EVENTS + 7] {
            let mut data: Vec<u8> = (0..lines)
                .flat_map(|i| format!("{{\"i\":{i}}}\n").into_bytes())
                .collect();
            for unterminated_tail in [false, true] {
                if unterminated_tail {
                    data.extend_from_slice(b"{\"last\":1}");
                }
                let chunks = chunks(&data);
                assert_eq!(chunks.concat(), data, "{lines} lines");
                for (k, chunk) in chunks.iter().enumerate() {
                    let newlines = chunk.iter().filter(|b| **b == b'\n').count();
                    assert!(newlines <= CHUNK_EVENTS, "chunk {k} has {newlines} lines");
                    let last = k + 1 == chunks.len();
                    assert!(last || chunk.ends_with(b"\n"), "chunk {k} splits a line");
                    assert!(last || newlines == CHUNK_EVENTS, "chunk {k} is short");
                }
            }
        }
    }
}
