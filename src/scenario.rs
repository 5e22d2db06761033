//! `cepheus test`: runs scenario folders (`case.epl`, `input.jsonl`,
//! `expected.jsonl`; format in tests/conformance/README.md) and compares the
//! deliveries per statement.
//!
//! Instead of `case.epl`, a folder may hold a `scenario.toml` naming rule
//! files elsewhere (the shipped rules, not copies of them) and the statements
//! whose outputs are compared:
//!
//! ```toml
//! rules = ["../../../temperature.epl"]   # relative to the case folder
//! check = ["temp_spike"]                 # optional; every statement when absent
//! ```
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use cepheus_engine::{BoundScript, Engine, EventTime, TypeRegistry, decode_fields};

use crate::diagnostic::RuleDiagnostic;
use crate::rules::{find_epl_files, load_files, load_text};

const CASE_EPL: &str = "case.epl";
const SCENARIO_TOML: &str = "scenario.toml";

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

/// Every folder under `paths` holding a `case.epl` or a `scenario.toml`, sorted.
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
    if p.join(CASE_EPL).is_file() || p.join(SCENARIO_TOML).is_file() {
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

/// The statements a case runs, and which of them are compared.
struct CaseRules {
    bound: BoundScript,
    /// `None`: every statement's output is compared.
    checked: Option<BTreeSet<String>>,
}

/// The contents of `scenario.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// Rule files or directories, relative to the case folder, loaded in order.
    rules: Vec<PathBuf>,
    /// The statements whose outputs are compared; the others run but are ignored.
    check: Option<Vec<String>>,
}

fn load_case(dir: &Path) -> Result<CaseRules, String> {
    let toml_path = dir.join(SCENARIO_TOML);
    if !toml_path.is_file() {
        let file = dir.join(CASE_EPL).display().to_string();
        let epl = read(dir, CASE_EPL)?;
        let bound = load_text(&file, &epl, &TypeRegistry::default()).map_err(render_all)?;
        return Ok(CaseRules {
            bound,
            checked: None,
        });
    }
    let at = toml_path.display();
    if dir.join(CASE_EPL).is_file() {
        return Err(format!(
            "{at}: the folder also has a {CASE_EPL}; keep one of the two"
        ));
    }
    let spec: ScenarioFile = toml::from_str(&read(dir, SCENARIO_TOML)?)
        .map_err(|e| format!("{at}: {}", e.to_string().trim_end()))?;
    if spec.rules.is_empty() {
        return Err(format!(
            "{at}: `rules` is empty; list the .epl files to run, relative to the case folder"
        ));
    }
    let paths: Vec<PathBuf> = spec.rules.iter().map(|r| normalize(&dir.join(r))).collect();
    let files = find_epl_files(&paths).map_err(|e| format!("{at}: `rules`: {e}"))?;
    if files.is_empty() {
        return Err(format!("{at}: `rules` names no .epl file"));
    }
    let bound = load_files(&files).map_err(render_all)?.bound;
    let checked = match spec.check {
        None => None,
        Some(names) if names.is_empty() => {
            return Err(format!(
                "{at}: `check` is empty; name the statements to compare, or drop it to compare all"
            ));
        }
        Some(names) => {
            let known: BTreeSet<&str> = bound.statements.iter().map(|s| s.name.as_str()).collect();
            if let Some(bad) = names.iter().find(|n| !known.contains(n.as_str())) {
                let list: Vec<&str> = known.into_iter().collect();
                return Err(format!(
                    "{at}: `check` names statement `{bad}`, which the rules do not define \
                     (they define: {})",
                    list.join(", ")
                ));
            }
            Some(names.into_iter().collect())
        }
    };
    Ok(CaseRules { bound, checked })
}

/// `a/b/../c` as `a/c`, so messages name rule files the way a reader would.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn run_case_inner(dir: &Path) -> Result<Outcome, String> {
    let CaseRules { bound, checked } = load_case(dir)?;
    let input = read(dir, "input.jsonl")?;
    let expected_text = read(dir, "expected.jsonl")?;

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
            let row = |values: &Vec<cepheus_engine::Value>| Json::Object(plan.row_json(values));
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
    if let Some(checked) = &checked {
        if let Some(stray) = expected.keys().find(|s| !checked.contains(*s)) {
            return Err(format!(
                "{}: lists rows of `{stray}`, which {SCENARIO_TOML} does not `check`",
                dir.join("expected.jsonl").display()
            ));
        }
        actual.retain(|s, _| checked.contains(s));
    }
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
    fn normalize_folds_parent_components_lexically() {
        let p = normalize(Path::new("rules/tests/a/b/../../../x.epl"));
        assert_eq!(p, PathBuf::from("rules/x.epl"));
        assert_eq!(normalize(Path::new("../x/./y")), PathBuf::from("../x/y"));
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
