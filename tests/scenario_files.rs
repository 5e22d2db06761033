//! `cepheus test` over scenario folders that use `scenario.toml` to run rule
//! files kept elsewhere (the shipped rules), and the shipped rules' own cases.
mod cli_support;

use cli_support::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

const RULES: &str = "create schema S(k string, v long);
@Name('big') select k, v from S(v > 10);
@Name('all') select k, v from S;
";

/// A folder `root/case` running `root/rules.epl` through a scenario.toml.
fn toml_case(root: &Path, toml: &str, expected: &str) -> String {
    write(&root.join("rules.epl"), RULES);
    let case = root.join("case");
    write(&case.join("scenario.toml"), toml);
    write(
        &case.join("input.jsonl"),
        "# why: only 11 is above 10\n{\"type\":\"S\",\"ts\":1000,\"k\":\"a\",\"v\":10}\n\
         {\"type\":\"S\",\"ts\":2000,\"k\":\"b\",\"v\":11}\n",
    );
    write(&case.join("expected.jsonl"), expected);
    root.to_str().expect("utf-8 path").to_string()
}

const BIG_ROW: &str = "{\"t\":2000,\"stmt\":\"big\",\"stream\":\"istream\",\"delivery\":1,\"row\":{\"k\":\"b\",\"v\":11}}\n";

#[test]
fn a_scenario_toml_case_compares_only_the_checked_statements() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = toml_case(
        dir.path(),
        "rules = [\"../rules.epl\"]\ncheck = [\"big\"]\n",
        BIG_ROW,
    );
    let out = cepheus(&["test", &root]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("1 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_wrong_expectation_in_a_scenario_toml_case_fails_with_a_diff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = toml_case(
        dir.path(),
        "rules = [\"../rules.epl\"]\ncheck = [\"big\"]\n",
        &BIG_ROW.replace("\"v\":11", "\"v\":12"),
    );
    let out = cepheus(&["test", &root]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("statement `big`: delivery 1 differs"),
        "{text}"
    );
    assert!(
        text.contains("\"v\":12") && text.contains("\"v\":11"),
        "{text}"
    );
    assert!(text.contains("0 passed, 1 failed"), "{text}");
}

#[test]
fn without_check_every_statement_is_compared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = toml_case(dir.path(), "rules = [\"../rules.epl\"]\n", BIG_ROW);
    let out = cepheus(&["test", &root]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("statement `all`: unexpected delivery 1"),
        "{text}"
    );
}

#[test]
fn a_bad_scenario_toml_is_reported_with_its_path() {
    let cases = [
        (
            "rules = [\"../rules.epl\"]\ncheck = [\"bigg\"]\n",
            "`check` names statement `bigg`",
        ),
        (
            "rules = [\"../missing.epl\"]\n",
            "missing.epl: no such file or directory",
        ),
        ("rule = [\"../rules.epl\"]\n", "unknown field `rule`"),
        ("rules = \"../rules.epl\"\n", "TOML parse error"),
        ("rules = []\n", "`rules` is empty"),
    ];
    for (toml, message) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = toml_case(dir.path(), toml, BIG_ROW);
        let out = cepheus(&["test", &root]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{toml}: {text}");
        assert!(text.contains("case/scenario.toml: "), "{toml}: {text}");
        assert!(text.contains(message), "{toml}: {text}");
    }
}

#[test]
fn expected_rows_of_an_unchecked_statement_are_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = toml_case(
        dir.path(),
        "rules = [\"../rules.epl\"]\ncheck = [\"all\"]\n",
        BIG_ROW,
    );
    let text = stdout(&cepheus(&["test", &root]));
    assert!(
        text.contains("lists rows of `big`, which scenario.toml does not `check`"),
        "{text}"
    );
}

#[test]
fn a_folder_with_both_case_epl_and_scenario_toml_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = toml_case(dir.path(), "rules = [\"../rules.epl\"]\n", BIG_ROW);
    write(&dir.path().join("case/case.epl"), RULES);
    let text = stdout(&cepheus(&["test", &root]));
    assert!(text.contains("also has a case.epl"), "{text}");
}

/// The `@Name`s of the statements in a rule file.
fn statement_names(epl: &str) -> Vec<String> {
    epl.split("@Name('")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_shipped_rules_pass_their_scenarios() {
    let out = cepheus(&["test", "rules/"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn every_shipped_statement_has_a_firing_and_a_near_miss_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut names = BTreeSet::new();
    for file in ["temperature.epl", "wallets.epl", "trades.epl"] {
        let epl = std::fs::read_to_string(root.join(file)).expect("read rule file");
        names.extend(statement_names(&epl));
    }
    assert!(names.len() >= 14, "{names:?}");
    for name in &names {
        let dir = root.join("tests").join(name);
        let cases: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("scenario.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            cases.iter().any(|c| c.starts_with("fires")),
            "{name}: no `fires*` case in {cases:?}"
        );
        assert!(
            cases.iter().any(|c| c.starts_with("near_miss")),
            "{name}: no `near_miss*` case in {cases:?}"
        );
        for case in &cases {
            let toml = std::fs::read_to_string(dir.join(case).join("scenario.toml"))
                .expect("read scenario.toml");
            assert!(
                toml.contains(&format!("check = [\"{name}\"]")),
                "{name}/{case} must check {name}: {toml}"
            );
        }
    }
}
