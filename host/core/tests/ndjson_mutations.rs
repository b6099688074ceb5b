//! Mutation tests of the NDJSON input (a small, deterministic fuzzer, as
//! `plugins/rki/tests/mutations.rs`): valid records cut, flipped, duplicated and spliced
//! with hostile pieces, as bytes through [`decode`] and as text through
//! [`parse_ndjson_all`]. Whatever comes in: no panic, every non-blank line is either a
//! record or an error naming that line (nothing is dropped silently), every error is short
//! and free of control characters, and a record's id and kind are plain.
//! `HUB_MUTATIONS=<n>` runs more cases (the default takes about a second).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use hub_core::input::{decode, parse_ndjson_all};
use hub_plugin_sdk::mutate::{Rng, cases, mutate};

const VALID: &str = concat!(
    "{\"id\":\"a1\",\"kind\":\"posting\",\"amount\":12.5,\"text\":\"Kita Sonnenschein\"}\n",
    "{\"kind\":\"child\",\"id\":\"k-2\",\"child\":{\"name\":\"Anna\",\"born\":\"2021-03-04\"}}\n",
    "\r\n",
    "{\"id\":\"x\",\"kind\":\"case\",\"fields\":[{\"N\":\"V\"},{\"N\":\"W\"}],\"n\":1e3}\r\n",
    "{\"id\":\"\u{00e6}\u{00f8}\u{00e5}\",\"kind\":\"posting\",\"nested\":{\"a\":{\"b\":[1,2,3]}}}\n",
);

/// Pieces a careless or hostile sender might produce.
fn pieces() -> Vec<Vec<u8>> {
    vec![
        b"\x00".to_vec(),
        b"\x1b[31m".to_vec(),
        b"\xff\xfe".to_vec(),
        b"\xef\xbb\xbf".to_vec(),
        b"\xc3".to_vec(),
        b"\r".to_vec(),
        b"\n".to_vec(),
        b"\"id\":\"\"".to_vec(),
        b"\"id\":7".to_vec(),
        b"\"kind\":null".to_vec(),
        b"\"id\":\"a1\"".to_vec(),
        b"1e999999".to_vec(),
        b"-0.0".to_vec(),
        b"\\ud800".to_vec(),
        b"\\u0000".to_vec(),
        b"\\u001b".to_vec(),
        "[".repeat(10_000).into_bytes(),
        "{\"a\":".repeat(5_000).into_bytes(),
        format!("\"id\":\"{}\"", "i".repeat(300)).into_bytes(),
        format!("\"text\":\"{}\"", "\u{202e}x".repeat(50)).into_bytes(),
        b"}{".to_vec(),
        b",,".to_vec(),
    ]
}

fn plain(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

#[test]
fn mutated_ndjson_never_panics_and_every_line_is_a_record_or_a_named_error() {
    let cases = cases(3_000);
    let pieces = pieces();
    for case in 0..cases {
        let mut rng = Rng::case(0x9E37_79B9_7F4A_7C15, case);
        let mut bytes = VALID.as_bytes().to_vec();
        mutate(&mut rng, &mut bytes, &pieces, 64, false);
        let text = match decode(&bytes, None) {
            Ok(text) => text,
            Err(e) => {
                let m = e.to_string();
                assert!(m.len() <= 300 && plain(&m), "case {case}: {m:?}");
                continue;
            }
        };
        let (records, errors) = parse_ndjson_all(&text);
        let lines: Vec<&str> = text.split('\n').collect();
        for e in &errors {
            assert!(
                (1..=lines.len()).contains(&e.line),
                "case {case}: error on line {} of {}",
                e.line,
                lines.len()
            );
            assert!(
                e.message.len() <= 400 && plain(&e.message),
                "case {case}: line {}: {:?}",
                e.line,
                e.message
            );
        }
        for r in &records {
            assert!(
                !r.id.trim().is_empty() && r.id.len() <= 200 && plain(&r.id),
                "case {case}: id {:?}",
                r.id
            );
            assert!(!r.kind.trim().is_empty() && plain(&r.kind), "case {case}");
            assert_eq!(r.content_sha256.len(), 64, "case {case}");
        }
        // Nothing dropped: each non-blank line is a record or an error, never both.
        for (i, raw) in lines.iter().enumerate() {
            let line = i + 1;
            let blank = raw.strip_suffix('\r').unwrap_or(raw).trim().is_empty();
            let as_record = records.iter().filter(|r| r.line == line).count();
            let as_error = errors.iter().filter(|e| e.line == line).count();
            if blank {
                assert_eq!((as_record, as_error), (0, 0), "case {case}: line {line}");
            } else {
                assert_eq!(as_record + as_error, 1, "case {case}: line {line}: {raw:?}");
            }
        }
    }
}
