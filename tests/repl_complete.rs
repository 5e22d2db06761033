//! `cepheus repl` in a pseudo-terminal: tab completion of a field learnt from
//! sampled events, a multi-line query over a followed file, Ctrl-C, a caret error.
mod repl_support;

use std::io::Write;

use repl_support::spawn_repl;

#[test]
fn tab_completes_a_field_learnt_from_the_input_and_the_query_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("readings.jsonl");
    std::fs::write(
        &input,
        "{\"type\":\"Reading\",\"sensor\":\"s1\",\"celsius\":21.5,\"ts\":1000}\n",
    )
    .expect("write input");
    let history = dir.path().join("history");
    let mut repl = spawn_repl(
        &["--input", input.to_str().expect("utf-8 path"), "--follow"],
        &history,
    );
    repl.expect("event types: Reading");
    repl.expect("cepheus> ");

    // `cel` + Tab becomes `celsius`: the only field, type or keyword starting so.
    repl.paste("select sensor, cel");
    repl.press("\t");
    repl.expect("select sensor, celsius");
    repl.paste(" from Reading");
    // No `;` yet: Enter starts a second line of the same statement.
    repl.press("\r");
    repl.expect("from Reading\r\n");
    repl.enter("where celsius > 25;", "query q1 started");

    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .expect("append to input");
    writeln!(
        file,
        "{{\"type\":\"Reading\",\"sensor\":\"s2\",\"celsius\":30.25,\"ts\":2000}}"
    )
    .and_then(|()| {
        writeln!(
            file,
            "{{\"type\":\"Reading\",\"sensor\":\"s3\",\"celsius\":26,\"ts\":3000}}"
        )
    })
    .expect("append events");
    repl.expect("sensor | celsius");
    repl.expect("s2     | 30.25");
    repl.expect("s3     | 26");

    // Ctrl-C with text typed only clears it: the query keeps running.
    repl.paste("select half typed");
    repl.press("\x03");
    writeln!(
        file,
        "{{\"type\":\"Reading\",\"sensor\":\"s4\",\"celsius\":27,\"ts\":4000}}"
    )
    .expect("append an event");
    repl.expect("s4     | 27");

    // Ctrl-C on an empty prompt stops the query and keeps the session.
    repl.press("\x03");
    repl.expect("stopped q1 after 3 rows");

    // A mistake shows a caret under it; the session goes on.
    repl.enter("select sensr from Reading;", "^^^^^");
    repl.enter(".rules", "nothing is running");
    repl.quit();

    let saved = std::fs::read_to_string(&history).expect("history saved");
    assert!(saved.contains("celsius from Reading"), "{saved}");
}
