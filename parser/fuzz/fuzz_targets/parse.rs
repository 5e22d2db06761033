//! `cargo +nightly fuzz run parse` from `parser/`: any UTF-8 text either parses
//! or yields an error; a parsed script prints EPL that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match cepheus_parser::parse_script(src) {
        Ok(script) => {
            let printed = script.to_string();
            let reparsed = cepheus_parser::parse_script(&printed);
            assert_eq!(reparsed.as_ref(), Ok(&script), "printed:\n{printed}");
        }
        Err(e) => {
            assert!(e.span.start <= e.span.end && e.span.end <= src.len());
            let _ = cepheus_parser::line_col(src, e.span.start);
        }
    }
    let _ = cepheus_parser::parse_expression(src);
});
