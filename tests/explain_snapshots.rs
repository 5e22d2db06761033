//! `cepheus explain` output for the shipped rules, snapshot-tested: a change to
//! planning shows up as a reviewed diff (`cargo insta review`).
use std::process::Command;

fn explain(file: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(["explain", file])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the cepheus binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn plans_of_the_temperature_rules() {
    insta::assert_snapshot!(explain("rules/temperature.epl"));
}

#[test]
fn plans_of_the_wallet_rules() {
    insta::assert_snapshot!(explain("rules/wallets.epl"));
}

#[test]
fn plans_of_the_trade_rules() {
    insta::assert_snapshot!(explain("rules/trades.epl"));
}
