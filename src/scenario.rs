//! `cepheus test`: runs scenario folders (`case.epl`, `input.jsonl`,
//! `expected.jsonl`; format in tests/conformance/README.md) and compares the
//! deliveries per statement.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use cepheus_engine::{Engine, EventTime, TypeRegistry, decode_fields};

use crate::diagnostic::RuleDiagnostic;
use crate::rules::load_text;

/// One delivery as compared: time and the two row multisets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedDelivery {
    pub t: i64,
    pub istream: Vec<Json>,
    pub rstream: Vec<Json>,
}

pub enum Outcome {
    Passed,
    Failed(String),
}

/// Every folder under `paths` holding a `case.epl`, sorted.
pub fn find_cases(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.join("case.epl").is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    if p.is_dir() {
        for e in std::fs::read_dir(p)? {
            let e = e?.path();
            if e.is_dir() {
                collect(&e, out)?;
            }
        }
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{}: not a scenario folder", p.display()),
        ))
    }
}

pub fn run_case(dir: &Path) -> Outcome {
    match run_case_inner(dir) {
        Ok(o) => o,
        Err(msg) => Outcome::Failed(msg),
    }
}

fn read(dir: &Path, name: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(name))
        .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
}

fn run_case_inner(dir: &Path) -> Result<Outcome, String> {
    let epl_path = dir.join("case.epl");
    let epl = read(dir, "case.epl")?;
    let input = read(dir, "input.jsonl")?;
    let expected_text = read(dir, "expected.jsonl")?;
    let file = epl_path.display().to_string();
    let bound = load_text(&file, &epl, &TypeRegistry::default()).map_err(render_all)?;

    let steps = parse_lines(&input, "input.jsonl")?;
    let start = steps.first().map_or(0, |(_, s)| step_time(s).unwrap_or(0));
    let mut engine =
        Engine::new(bound, EventTime(start)).map_err(|e| format!("unsupported: {e}"))?;
    let names: Vec<String> = engine
        .statements()
        .iter()
        .map(|s| s.plan.name.clone())
        .collect();

    let mut actual: BTreeMap<String, Vec<ObservedDelivery>> = BTreeMap::new();
    let mut deliveries = Vec::new();
    for (line, step) in &steps {
        let Some(t) = step_time(step) else {
            return Err(format!(
                "input.jsonl:{line}: a step needs `ts` (with `type`) or `time`"
            ));
        };
        engine.advance_to(EventTime(t), &mut deliveries);
        if let Some(type_name) = step.get("type").and_then(Json::as_str) {
            let ty =
                engine.registry().get(type_name).cloned().ok_or_else(|| {
                    format!("input.jsonl:{line}: unknown event type `{type_name}`")
                })?;
            let fields =
                decode_fields(&ty, step).map_err(|e| format!("input.jsonl:{line}: {e}"))?;
            engine.send(&ty, fields, &mut deliveries);
        }
        for d in deliveries.drain(..) {
            let plan = engine.plan(d.statement);
            let row = |values: &Vec<cepheus_engine::Value>| -> Json {
                Json::Object(
                    plan.columns
                        .iter()
                        .zip(values)
                        .map(|(c, v)| (c.name.clone(), v.to_json()))
                        .collect(),
                )
            };
            actual
                .entry(names[d.statement].clone())
                .or_default()
                .push(ObservedDelivery {
                    t: d.time.0,
                    istream: d.output.insert.iter().map(row).collect(),
                    rstream: d.output.remove.iter().map(row).collect(),
                });
        }
    }

    let expected = expected_deliveries(&expected_text)?;
    let mut report = String::new();
    let mut stmts: Vec<&String> = expected.keys().chain(actual.keys()).collect();
    stmts.sort();
    stmts.dedup();
    let empty = Vec::new();
    for s in stmts {
        let exp = expected.get(s).unwrap_or(&empty);
        let act = actual.get(s).unwrap_or(&empty);
        if let Some(diff) = compare_statement(exp, act) {
            report.push_str(&format!("  statement `{s}`: {diff}\n"));
        }
    }
    Ok(if report.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(report)
    })
}

fn render_all(d: Vec<RuleDiagnostic>) -> String {
    d.iter()
        .map(RuleDiagnostic::render)
        .collect::<Vec<_>>()
        .join("\n")
}

fn step_time(step: &Map<String, Json>) -> Option<i64> {
    step.get("ts")
        .or_else(|| step.get("time"))
        .and_then(Json::as_i64)
}

/// A JSON object with the 1-based line it came from.
type NumberedObject = (usize, Map<String, Json>);

fn parse_lines(text: &str, file: &str) -> Result<Vec<NumberedObject>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_t = line.trim();
        if line_t.is_empty() || line_t.starts_with('#') {
            continue;
        }
        match serde_json::from_str::<Json>(line_t) {
            Ok(Json::Object(m)) => out.push((i + 1, m)),
            Ok(_) => return Err(format!("{file}:{}: expected a JSON object", i + 1)),
            Err(e) => return Err(format!("{file}:{}: {e}", i + 1)),
        }
    }
    Ok(out)
}

fn expected_deliveries(text: &str) -> Result<BTreeMap<String, Vec<ObservedDelivery>>, String> {
    let mut out: BTreeMap<String, Vec<(i64, ObservedDelivery)>> = BTreeMap::new();
    for (line, m) in parse_lines(text, "expected.jsonl")? {
        let field = |k: &str| {
            m.get(k)
                .ok_or_else(|| format!("expected.jsonl:{line}: missing `{k}`"))
        };
        let stmt = field("stmt")?.as_str().unwrap_or_default().to_string();
        let t = field("t")?.as_i64().unwrap_or_default();
        let delivery = field("delivery")?.as_i64().unwrap_or_default();
        let row = field("row")?.clone();
        let list = out.entry(stmt).or_default();
        if list.last().is_none_or(|(d, _)| *d != delivery) {
            list.push((
                delivery,
                ObservedDelivery {
                    t,
                    ..Default::default()
                },
            ));
        }
        let Some((_, d)) = list.last_mut() else {
            continue;
        };
        match field("stream")?.as_str() {
            Some("rstream") => d.rstream.push(row),
            _ => d.istream.push(row),
        }
    }
    Ok(out
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|(_, d)| d).collect()))
        .collect())
}

/// `None` when equal; otherwise where the first difference is.
pub fn compare_statement(
    expected: &[ObservedDelivery],
    actual: &[ObservedDelivery],
) -> Option<String> {
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) => {
                if e.t != a.t
                    || !same_multiset(&e.istream, &a.istream)
                    || !same_multiset(&e.rstream, &a.rstream)
                {
                    return Some(format!(
                        "delivery {} differs\n    expected: {}\n    actual:   {}",
                        i + 1,
                        show(e),
                        show(a)
                    ));
                }
            }
            (Some(e), None) => {
                return Some(format!("missing delivery {}: expected {}", i + 1, show(e)));
            }
            (None, Some(a)) => return Some(format!("unexpected delivery {}: {}", i + 1, show(a))),
            (None, None) => {}
        }
    }
    None
}

fn show(d: &ObservedDelivery) -> String {
    let rows = |r: &[Json]| r.iter().map(Json::to_string).collect::<Vec<_>>().join(", ");
    format!(
        "t={} istream=[{}] rstream=[{}]",
        d.t,
        rows(&d.istream),
        rows(&d.rstream)
    )
}

fn same_multiset(a: &[Json], b: &[Json]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let hit = b
            .iter()
            .enumerate()
            .find(|(i, y)| !used[*i] && json_eq(x, y));
        match hit {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

/// Equality with numeric tolerance (1e-9 relative or absolute); `2` equals `2.0`.
pub fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-9 || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_eq(v, w))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_with_tolerance_and_across_int_and_float() {
        assert!(json_eq(&json!(2), &json!(2.0)));
        assert!(json_eq(&json!(0.1 + 0.2), &json!(0.3)));
        assert!(!json_eq(&json!(1), &json!(1.001)));
        assert!(!json_eq(&json!(null), &json!(0)));
    }

    #[test]
    fn deliveries_compare_rows_as_multisets_but_times_exactly() {
        let d = |t, rows: Vec<Json>| ObservedDelivery {
            t,
            istream: rows,
            rstream: vec![],
        };
        let e = vec![d(1, vec![json!({"a":1}), json!({"a":2})])];
        assert!(compare_statement(&e, &[d(1, vec![json!({"a":2}), json!({"a":1})])]).is_none());
        assert!(compare_statement(&e, &[d(2, vec![json!({"a":2}), json!({"a":1})])]).is_some());
        assert!(compare_statement(&e, &[d(1, vec![json!({"a":1})])]).is_some());
        assert!(compare_statement(&e, &[]).is_some());
    }
}
