//! Mutation tests of the receiving side's archive reader (a small, deterministic fuzzer,
//! as `plugins/rki/tests/mutations.rs`): a valid transport zip (stored and deflated
//! entries, a folder, a document) cut, flipped, duplicated and spliced with hostile
//! pieces, opened and read entry by entry as an import does. Whatever arrives: no panic,
//! every error short and free of control characters, and never more unpacked than the
//! limit. `HUB_MUTATIONS=<n>` runs more cases (the default takes a few seconds).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use hub_plugin_sdk::mutate::{Rng, cases, mutate};
use std::io::Write;

use hub_core::config::InboundLimits;
use hub_engine::inbound::archive::Archive;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fn valid_zip() -> Vec<u8> {
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let xml = "<Transport>".to_string()
        + &"<SAL><Field Name=\"N\" Value=\"V\"/></SAL>".repeat(200)
        + "</Transport>";
    for (name, method, body) in [
        (
            "RKI_1.01.0.02._1.01._00000001.xml",
            CompressionMethod::Deflated,
            xml.as_bytes().to_vec(),
        ),
        ("docs/", CompressionMethod::Stored, Vec::new()),
        (
            "docs/befund.pdf",
            CompressionMethod::Stored,
            vec![0x25; 3_000],
        ),
        ("zeros.bin", CompressionMethod::Deflated, vec![0; 3 << 20]),
    ] {
        let opts = SimpleFileOptions::default().compression_method(method);
        if name.ends_with('/') {
            w.add_directory(name.trim_end_matches('/'), opts).unwrap();
        } else {
            w.start_file(name, opts).unwrap();
            w.write_all(&body).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn pieces() -> Vec<Vec<u8>> {
    vec![
        b"PK\x03\x04".to_vec(),
        b"PK\x01\x02".to_vec(),
        b"PK\x05\x06".to_vec(),
        b"../../etc/passwd".to_vec(),
        b"\x1b[31m".to_vec(),
        b"\x00\x00\x00\x00".to_vec(),
        b"\xff\xff\xff\xff".to_vec(),
        b"/abs".to_vec(),
        b"\\..\\x".to_vec(),
    ]
}

fn short_and_plain(s: &str) -> bool {
    s.chars().count() <= 600 && !s.chars().any(char::is_control)
}

#[test]
fn mutated_archives_never_panic_and_never_unpack_past_the_limit() {
    let cases = cases(2_000);
    let valid = valid_zip();
    let pieces = pieces();
    // A small unpacked limit, so the zeros entry can cross it.
    let limits = InboundLimits {
        max_unpacked_mb: 1,
        ..InboundLimits::default()
    };
    let mut opened = 0;
    for case in 0..cases {
        let mut rng = Rng::case(0xA076_1D64_78BD_642F, case);
        let mut bytes = valid.clone();
        mutate(&mut rng, &mut bytes, &pieces, 128, true);
        let mut archive = match Archive::open("t.zip", std::io::Cursor::new(&bytes), &limits) {
            Ok(a) => a,
            Err(e) => {
                assert!(short_and_plain(&e), "case {case}: {e:?}");
                continue;
            }
        };
        opened += 1;
        let names: Vec<String> = archive.names().map(str::to_string).collect();
        let mut total = 0u64;
        for (i, name) in names.iter().enumerate() {
            assert!(
                !name.starts_with('/') && !name.split('/').any(|s| s == ".."),
                "case {case}: {name:?}"
            );
            let read = archive.read::<u64, String>(i, |r| {
                let mut n = 0u64;
                let mut buf = [0u8; 8192];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => return Ok(n),
                        Ok(k) => n += k as u64,
                        Err(e) => return Err(e.to_string()),
                    }
                }
            });
            match read {
                Ok(n) => total += n,
                Err(e) => assert!(short_and_plain(&e), "case {case}: {e:?}"),
            }
        }
        assert!(
            total <= 1 << 20,
            "case {case}: {total} bytes unpacked past 1 MiB"
        );
    }
    // The mutations leave many archives readable: the reading paths were exercised too.
    assert!(opened > cases / 10, "only {opened} of {cases} opened");
}
