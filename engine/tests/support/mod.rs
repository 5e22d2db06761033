//! Drives the scenario folders of the repository (`case.epl` or
//! `scenario.toml`, and `input.jsonl`) through an engine the way
//! `cepheus test` does (src/scenario.rs): advance to each step's time, then
//! send its event if it names a type.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use cepheus_engine::{BoundScript, Engine, EventTime, bind_script, decode_fields};
use serde_json::{Map, Value as Json};

/// A delivery as compared: statement name, time, rows in and rows out (JSON).
pub type Observed = (String, i64, Vec<Json>, Vec<Json>);

pub struct Case {
    pub dir: PathBuf,
    /// The rule files' texts, in load order.
    rules: Vec<String>,
    pub steps: Vec<Map<String, Json>>,
}

/// Every scenario folder of the repository, sorted.
pub fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for sub in ["tests/conformance/cases", "tests/scenarios", "rules/tests"] {
        collect(&root.join(sub), &mut out);
    }
    out.sort();
    out
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.join("case.epl").is_file() || p.join("scenario.toml").is_file() {
        out.push(p.to_path_buf());
    } else if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                collect(&e.path(), out);
            }
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[derive(serde::Deserialize)]
struct ScenarioFile {
    rules: Vec<PathBuf>,
}

pub fn load(dir: &Path) -> Case {
    let rules = if dir.join("case.epl").is_file() {
        vec![read(&dir.join("case.epl"))]
    } else {
        let spec: ScenarioFile =
            toml::from_str(&read(&dir.join("scenario.toml"))).expect("scenario.toml parses");
        spec.rules.iter().map(|r| read(&dir.join(r))).collect()
    };
    let steps = read(&dir.join("input.jsonl"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match serde_json::from_str(l) {
            Ok(Json::Object(m)) => m,
            other => panic!("{}: bad input line {l}: {other:?}", dir.display()),
        })
        .collect();
    Case {
        dir: dir.to_path_buf(),
        rules,
        steps,
    }
}

impl Case {
    /// The case's rules, bound afresh (each file sees the types before it).
    pub fn bind(&self) -> BoundScript {
        let mut all = BoundScript::default();
        for text in &self.rules {
            let script = cepheus_parser::parse_script(text).expect("the rules parse");
            let bound = bind_script(text, &script, &all.registry).expect("the rules bind");
            all.registry = bound.registry;
            all.statements.extend(bound.statements);
        }
        all
    }

    pub fn start(&self) -> EventTime {
        EventTime(self.steps.first().and_then(step_time).unwrap_or(0))
    }

    /// Runs `steps` on `engine`, appending what it delivers.
    pub fn run(&self, engine: &mut Engine, steps: &[Map<String, Json>], out: &mut Vec<Observed>) {
        let mut deliveries = Vec::new();
        for step in steps {
            let t = step_time(step).expect("a step has `ts` or `time`");
            engine.advance_to(EventTime(t), &mut deliveries);
            if let Some(name) = step.get("type").and_then(Json::as_str) {
                let ty = engine
                    .registry()
                    .get(name)
                    .cloned()
                    .expect("a declared type");
                let fields = decode_fields(&ty, step).expect("the event decodes");
                engine.send(&ty, fields, &mut deliveries);
            }
            observe(engine, deliveries.drain(..), out);
        }
    }
}

/// Records deliveries of `engine` as [`Observed`] rows.
pub fn observe(
    engine: &Engine,
    deliveries: impl IntoIterator<Item = cepheus_engine::Delivery>,
    out: &mut Vec<Observed>,
) {
    let rows = |rows: &[Vec<cepheus_engine::Value>]| -> Vec<Json> {
        rows.iter()
            .map(|r| Json::Array(r.iter().map(|v| v.to_json()).collect()))
            .collect()
    };
    for d in deliveries {
        out.push((
            engine.plan(d.statement).name.clone(),
            d.time.0,
            rows(&d.output.insert),
            rows(&d.output.remove),
        ));
    }
}

fn step_time(step: &Map<String, Json>) -> Option<i64> {
    step.get("ts")
        .or_else(|| step.get("time"))
        .and_then(Json::as_i64)
}
